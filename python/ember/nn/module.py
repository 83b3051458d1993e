"""nn.Module: the base class of every layer, block and model.

A Module keeps three ordered dictionaries, ``_parameters``, ``_buffers`` and
``_modules``; ``__setattr__`` files Parameters, sub-modules and buffers into
them so that ``parameters()``, ``state_dict()``, ``to()`` and ``repr`` can walk
the tree. Everything here uses only the public ember API.
"""

from collections import OrderedDict, namedtuple
from collections.abc import Mapping
import itertools

import ember

from .parameter import Parameter, is_lazy

__all__ = ["Module"]


def _typename(obj):
    if isinstance(obj, ember.Tensor):
        return type(obj).__module__ + "." + type(obj).__name__
    module = type(obj).__module__
    if module in ("builtins", None):
        return type(obj).__qualname__
    return module + "." + type(obj).__qualname__


def _addindent(text, num_spaces):
    """Indent every line but the first by ``num_spaces`` (nested reprs)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * num_spaces
    return "\n".join([lines[0]] + [pad + line for line in lines[1:]])


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: keys the model lacked or did not expect."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class RemovableHandle:
    """Returned by the hook registration methods; ``remove()`` unregisters."""

    _next_id = itertools.count()

    def __init__(self, hooks_dict):
        self._hooks_dict = hooks_dict
        self.id = next(RemovableHandle._next_id)

    def remove(self):
        self._hooks_dict.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _floating_dtypes():
    names = ("float32", "float64", "float16", "bfloat16")
    return tuple(getattr(ember, n) for n in names if hasattr(ember, n))


def _is_floating(t):
    return t.dtype in _floating_dtypes()


def _parse_to(args, kwargs):
    """Split ``Module.to``'s arguments into (device, dtype)."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("copy", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    dtype_type = type(ember.float32)
    for arg in args:
        if isinstance(arg, ember.Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, dtype_type):
            dtype = arg
        elif isinstance(arg, bool):
            continue  # non_blocking passed positionally
        elif isinstance(arg, (str, int, ember.device)):
            device = arg
        else:
            raise TypeError(f"to() received an invalid combination of arguments: {arg!r}")
    if isinstance(device, (str, int)):
        device = ember.device(device) if isinstance(device, str) else ember.device("cuda", device)
    if dtype is not None and dtype not in _floating_dtypes():
        raise TypeError(
            "nn.Module.to only accepts floating point dtypes, but got desired dtype=" + str(dtype)
        )
    return device, dtype


def zero_grads(params, set_to_none=True):
    """Clears the gradients of `params` (Module.zero_grad and Optimizer.zero_grad)."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            g = p.grad
            if g.grad_fn is not None:
                g = g.detach()
                p.grad = g
            g.zero_()


class Module:
    """Base class for all neural network modules.

    Subclasses call ``super().__init__()`` first, assign layers and
    Parameters as attributes, and define ``forward``.
    """

    training: bool
    _version = 1

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments: {args!r} {kwargs!r}"
            )
        # object.__setattr__ avoids our own registration logic during setup.
        set_ = object.__setattr__
        set_(self, "training", True)
        set_(self, "_parameters", OrderedDict())
        set_(self, "_buffers", OrderedDict())
        set_(self, "_non_persistent_buffers_set", set())
        set_(self, "_modules", OrderedDict())
        set_(self, "_forward_hooks", OrderedDict())
        set_(self, "_forward_pre_hooks", OrderedDict())

    # ------------------------------------------------------------------
    # forward and calling
    # ------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        pre_hooks = d.get("_forward_pre_hooks")
        hooks = d.get("_forward_hooks")
        if not pre_hooks and not hooks:
            return self.forward(*args, **kwargs)
        if pre_hooks:
            for hook in list(pre_hooks.values()):
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        if hooks:
            for hook in list(hooks.values()):
                result = hook(self, args, output)
                if result is not None:
                    output = result
        return output

    def register_forward_pre_hook(self, hook):
        """``hook(module, args)`` runs before forward; may return new args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook):
        """``hook(module, args, output)`` runs after forward; may return a new output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------
    # registration
    # ------------------------------------------------------------------
    def _check_member_name(self, kind, name, store):
        """PyTorch's checks (and messages) for a new parameter or buffer name."""
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if hasattr(self, name) and name not in store:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name, param):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_member_name("parameter", name, self._parameters)
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                "(nn.Parameter or None required)"
            )
        if param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters "
                f"must be created explicitly. To express '{name}' as a function of another "
                "Tensor, compute the value in the forward() method."
            )
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_member_name("buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, ember.Tensor):
            raise TypeError(
                f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                "(ember Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {_typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    def register_module(self, name, module):
        self.add_module(name, module)

    def __setattr__(self, name, value):
        d = self.__dict__

        def remove_from(*dicts_or_sets):
            for container in dicts_or_sets:
                if name in container:
                    if isinstance(container, dict):
                        del container[name]
                    else:
                        container.discard(name)

        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(d, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' "
                    "(nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            remove_from(d, self._parameters, self._buffers, self._non_persistent_buffers_set)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as child module '{name}' "
                    "(nn.Module or None expected)"
                )
            modules[name] = value
            return
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, ember.Tensor):
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as buffer '{name}' "
                    "(ember.Tensor or None expected)"
                )
            buffers[name] = value
            return
        # Anything else, plain tensors included (D2L's rand_weight), is an attribute.
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only called when normal lookup fails.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            container = d.get(key)
            if container is not None and name in container:
                return container[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        keys = list(object.__dir__(self))
        keys += list(self._parameters) + list(self._modules) + list(self._buffers)
        return sorted(set(k for k in keys if not k[0:1].isdigit()))

    def __setstate__(self, state):
        self.__dict__.update(state)
        for key in ("_forward_hooks", "_forward_pre_hooks"):
            if key not in self.__dict__:
                self.__dict__[key] = OrderedDict()
        if "_non_persistent_buffers_set" not in self.__dict__:
            self.__dict__["_non_persistent_buffers_set"] = set()

    # ------------------------------------------------------------------
    # walking the tree
    # ------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub_prefix, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        memo = set()
        for name, module in self._modules.items():
            if module is not None and module not in memo:
                memo.add(module)
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        if recurse:
            modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
        else:
            modules = [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in memo:
                        continue
                    memo.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(
            lambda m: m._parameters.items(), prefix, recurse, remove_duplicate
        )

    def parameters(self, recurse=True):
        return iter(self._parameter_list(recurse))

    def _parameter_list(self, recurse=True):
        # named_parameters' order (depth-first, registration order) and
        # de-duplication, without building names or nested generators:
        # optimizers and zero_grad walk this every step.
        params, seen = [], set()
        stack, visited = [self], set()
        while stack:
            module = stack.pop()
            if id(module) in visited:
                continue
            visited.add(id(module))
            for param in module._parameters.values():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    params.append(param)
            if recurse:
                children = [m for m in module._modules.values() if m is not None]
                children.reverse()
                stack.extend(children)
        return params

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def get_submodule(self, target):
        if target == "":
            return self
        module = self
        for item in target.split("."):
            if not hasattr(module, item):
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return module

    def get_parameter(self, target):
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        param = getattr(module, name)
        if not isinstance(param, Parameter):
            raise AttributeError("`" + name + "` is not an nn.Parameter")
        return param

    def apply(self, fn):
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------
    # modes and gradients
    # ------------------------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        if not set_to_none:
            zero_grads(self._parameter_list(), set_to_none)
            return
        # Setting a gradient to None twice is harmless, so the default needs
        # neither the de-duplicated list nor a visited set: one plain walk.
        stack = [self]
        while stack:
            module = stack.pop()
            for param in module._parameters.values():
                if param is not None and param.grad is not None:
                    param.grad = None
            stack.extend(m for m in module._modules.values() if m is not None)

    # ------------------------------------------------------------------
    # moving between devices and dtypes
    # ------------------------------------------------------------------
    def _apply(self, fn):
        """Apply ``fn`` to every parameter, gradient and buffer, recursively.

        Parameters keep their identity (optimizers hold them): only their
        ``.data`` is swapped, as PyTorch does.
        """
        for module in self.children():
            module._apply(fn)
        for key, param in self._parameters.items():
            if param is None:
                continue
            with ember.no_grad():
                new = fn(param)
            if new is not param:
                param.data = new.data if isinstance(new, Parameter) else new
            grad = param.grad
            if grad is not None:
                with ember.no_grad():
                    new_grad = fn(grad)
                if new_grad is not grad:
                    param.grad = new_grad
        for key, buf in self._buffers.items():
            if buf is not None:
                self._buffers[key] = fn(buf)
        return self

    def to(self, *args, **kwargs):
        device, dtype = _parse_to(args, dict(kwargs))

        def convert(t):
            if device is not None:
                t = t.to(device)
            if dtype is not None and _is_floating(t):
                t = t.to(dtype)
            return t

        return self._apply(convert)

    def cuda(self, device=None):
        return self._apply(lambda t: t.cuda() if device is None else t.cuda(device))

    def cpu(self):
        return self._apply(lambda t: t.cpu())

    def type(self, dst_type):
        return self._apply(lambda t: t.to(dst_type))

    def float(self):
        return self._apply(lambda t: t.to(ember.float32) if _is_floating(t) else t)

    def double(self):
        return self._apply(lambda t: t.to(ember.float64) if _is_floating(t) else t)

    def half(self):
        return self._apply(lambda t: t.to(ember.float16) if _is_floating(t) else t)

    def bfloat16(self):
        return self._apply(lambda t: t.to(ember.bfloat16) if _is_floating(t) else t)

    # ------------------------------------------------------------------
    # state dicts
    # ------------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """An OrderedDict of parameters and persistent buffers by dotted name.

        Values are detached tensors sharing storage with the module's own
        (the tensors themselves with ``keep_vars=True``).
        """
        if args:  # deprecated positional form (destination, prefix, keep_vars)
            names = ("destination", "prefix", "keep_vars")
            values = dict(zip(names, args))
            destination = values.get("destination", destination)
            prefix = values.get("prefix", prefix)
            keep_vars = values.get("keep_vars", keep_vars)
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict, prefix, missing_keys, unexpected_keys,
                              error_msgs):
        local_state = OrderedDict(
            (k, v) for k, v in self._parameters.items() if v is not None
        )
        for k, v in self._buffers.items():
            if v is not None and k not in self._non_persistent_buffers_set:
                local_state[k] = v
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, ember.Tensor):
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected ember.Tensor or '
                    f"Tensor-like object from checkpoint but received {type(value)}"
                )
                continue
            if is_lazy(param):
                if is_lazy(value):
                    continue  # both uninitialized: nothing to copy
                param.materialize(value.shape)
            elif is_lazy(value):
                error_msgs.append(
                    f'While copying the parameter named "{key}", the checkpoint holds an '
                    "uninitialized parameter but the model's is initialized"
                )
                continue
            if len(param.shape) == 0 and len(value.shape) == 1 and value.shape[0] == 1:
                value = value[0]  # old checkpoints stored scalars as [1]
            if tuple(value.shape) != tuple(param.shape):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {value.shape} "
                    f"from checkpoint, the shape in current model is {param.shape}."
                )
                continue
            try:
                with ember.no_grad():
                    param.copy_(value)
            except Exception as ex:  # noqa: BLE001 - reported with the key
                error_msgs.append(
                    f'While copying the parameter named "{key}", whose dimensions in the '
                    f"model are {param.shape} and whose dimensions in the checkpoint are "
                    f"{value.shape}, an exception occurred : {ex.args}."
                )
        for key in state_dict.keys():
            if not key.startswith(prefix):
                continue
            input_name = key[len(prefix):].split(".", 1)[0]
            if input_name not in self._modules and input_name not in local_state:
                unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy ``state_dict``'s tensors into this module's parameters and buffers.

        Copies happen in place under no_grad. Size mismatches always raise;
        missing and unexpected keys raise when ``strict``. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing_keys, unexpected_keys, error_msgs = [], [], []

        def load(module, prefix):
            module._load_from_state_dict(state_dict, prefix, missing_keys, unexpected_keys,
                                         error_msgs)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        # Walk each distinct module once per prefix, as PyTorch does: a shared
        # module appears under each of its names.
        load(self, "")
        del load

        if strict:
            if unexpected_keys:
                error_msgs.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected_keys)))
            if missing_keys:
                error_msgs.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing_keys)))
        if error_msgs:
            if strict:
                hint = _prefix_hint(missing_keys, unexpected_keys)
                if hint:
                    error_msgs.append(hint)
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                self.__class__.__name__, "\n\t".join(error_msgs)))
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    # ------------------------------------------------------------------
    # printing
    # ------------------------------------------------------------------
    def _get_name(self):
        return self.__class__.__name__

    def extra_repr(self):
        """Override to print a layer's settings inside its parentheses."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = []
        for key, module in self._modules.items():
            child_lines.append("(" + key + "): " + _addindent(repr(module), 2))
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"


def _prefix_hint(missing_keys, unexpected_keys):
    """Explain missing/unexpected keys that differ only by a leading prefix.

    PyTorch gives no such hint; it is the commonest cause of this error
    (a checkpoint saved from a wrapper such as ``module.`` of DataParallel).
    """
    if not missing_keys or not unexpected_keys:
        return None
    missing, unexpected = set(missing_keys), set(unexpected_keys)
    # checkpoint keys = prefix + model keys
    for u in unexpected_keys:
        for m in missing_keys:
            if u != m and u.endswith("." + m):
                p = u[: len(u) - len(m)]
                stripped = {k[len(p):] for k in unexpected if k.startswith(p)}
                if stripped & missing == missing or stripped == missing:
                    return (
                        f'Hint: the checkpoint\'s keys carry a prefix "{p}" that this '
                        "model's keys lack (e.g. a model saved inside a wrapper); strip it "
                        f"first: {{k.removeprefix({p!r}): v for k, v in state_dict.items()}}"
                    )
            if u != m and m.endswith("." + u):
                p = m[: len(m) - len(u)]
                stripped = {k[len(p):] for k in missing if k.startswith(p)}
                if stripped & unexpected == unexpected or stripped == unexpected:
                    return (
                        f'Hint: this model\'s keys carry a prefix "{p}" that the '
                        "checkpoint's keys lack; load it into the sub-module "
                        f"{p[:-1]!r} instead, or add the prefix to the checkpoint's keys"
                    )
        break  # one unexpected key is enough to find the candidate prefix
    return None
