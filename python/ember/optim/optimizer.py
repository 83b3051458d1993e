"""Optimizer base class: parameter groups, per-parameter state, zero_grad."""

from collections import defaultdict
from collections.abc import Iterable
from copy import deepcopy
import itertools

import ember
from ember.nn.module import zero_grads

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a default that every parameter group must supply."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Holds ``param_groups`` (dicts with a "params" list and options) and ``state``.

    ``params`` is an iterable of tensors, or of dicts each giving "params" and
    any options that override ``defaults`` for that group.
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, ember.Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors "
                "or dicts, but got " + type(params).__module__ + "." + type(params).__name__
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, ember.Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list "
                "instead."
            )
        else:
            param_group["params"] = list(params)
        for param in param_group["params"]:
            if not isinstance(param, ember.Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    + type(param).__module__ + "." + type(param).__name__
                )
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
        if any(id(p) in seen for p in param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure=None):
        raise NotImplementedError

    def _run_closure(self, closure):
        if closure is None:
            return None
        with ember.enable_grad():
            return closure()

    # ------------------------------------------------------------------
    # state dicts: parameters are referred to by their index across groups
    # ------------------------------------------------------------------
    def state_dict(self):
        index_of = {}
        counter = itertools.count()
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                if id(p) not in index_of:
                    index_of[id(p)] = next(counter)
                ids.append(index_of[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index_of[id(p)]] = dict(self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the "
                    "size of optimizer's group"
                )
        id_map = {}
        for group, saved in zip(self.param_groups, saved_groups):
            for p, idx in zip(group["params"], saved["params"]):
                id_map[idx] = p

        def cast(param, value, key):
            if isinstance(value, ember.Tensor):
                if key == "step":
                    return value.clone()
                out = value.to(param.device)
                if _is_floating(param) and _is_floating(out):
                    out = out.to(param.dtype)
                return out.clone() if out is value else out
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            return deepcopy(value)

        self.state = defaultdict(dict)
        for idx, value in state_dict["state"].items():
            if idx in id_map:
                param = id_map[idx]
                self.state[param] = cast(param, value, None)
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new_group = {k: deepcopy(v) for k, v in saved.items() if k != "params"}
            new_group["params"] = group["params"]
            new_groups.append(new_group)
        self.param_groups = new_groups

    def __repr__(self):
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += "\n"
            text += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        text += ")"
        return text

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)


def _is_floating(t):
    names = ("float32", "float64", "float16", "bfloat16")
    return t.dtype in tuple(getattr(ember, n) for n in names if hasattr(ember, n))


def check_non_negative(**named_values):
    """Raises PyTorch's ValueError ("Invalid learning rate: -1") for the first
    negative option; each keyword maps to (description, value)."""
    for description, value in named_values.values():
        if not 0.0 <= value:
            raise ValueError(f"Invalid {description}: {value}")
