"""Tensor methods with PyTorch's flexible signatures, added to the native
ember._C.Tensor class. Arithmetic, indexing and attributes are bound in C++
(src/bind_tensor.cpp); everything here only parses arguments and calls _C."""
import builtins
import copy as _copy

import numpy as np

from . import _C, _return_types
from ._args import dims as _dims
from ._args import sizes as _sizes
from ._tensor_str import format_tensor

Tensor = _C.Tensor

_DEVICE_CPU = _C.device("cpu")


# ---------------------------------------------------------------- printing

def _repr(self, *, tensor_contents=None):
    values = self.detach()
    if values.device.type != "cpu":
        values = _C.to_device(values, "cpu")
    if values.dtype == _C.dtype.bfloat16:
        values = _C.to_dtype(values, _C.dtype.float32)
    suffixes = []
    if self.grad_fn is not None:
        suffixes.append(f"grad_fn=<{self.grad_fn.name()}>")
    elif self.requires_grad:
        suffixes.append("requires_grad=True")
    device = None if self.device.type == "cpu" else str(self.device)
    return format_tensor(values.numpy(), dtype_name=str(self.dtype)[len("ember."):], suffixes=suffixes,
                         device_str=device)


def _format(self, spec):
    if self.dim() == 0:
        return self.item().__format__(spec)
    return object.__format__(self, spec)


def _array(self, dtype=None, copy=None):
    a = _C.to_device(self.detach(), "cpu")
    if a.dtype == _C.dtype.bfloat16:
        a = _C.to_dtype(a, _C.dtype.float32)
    arr = a.numpy()
    return arr.astype(dtype) if dtype is not None else arr


def _iter(self):
    if self.dim() == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(self.shape[0]))


def _tolist(self):
    return _array(self).tolist()


def _deepcopy(self, memo):
    if id(self) in memo:
        return memo[id(self)]
    with _no_grad():
        data = _C.clone(self.detach())
    if type(self) is Tensor:
        out = data
    else:
        out = type(self).__new__(type(self))
        Tensor.__init__(out, data)
    out.requires_grad = self.requires_grad
    if self.grad is not None:
        out.grad = _deepcopy(self.grad, memo)
    for k, v in self.__dict__.items():
        setattr(out, k, _copy.deepcopy(v, memo))
    memo[id(self)] = out
    return out


class _no_grad:
    def __enter__(self):
        self.prev = _C.is_grad_enabled()
        _C.set_grad_enabled(False)

    def __exit__(self, *exc):
        _C.set_grad_enabled(self.prev)


# ---------------------------------------------------------------- shape

def _size(self, dim=None):
    if dim is None:
        return self.shape
    return self.shape[_wrap(dim, self.dim())]


def _wrap(dim, ndim):
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def _stride(self, dim=None):
    strides = tuple(self._strides())
    return strides if dim is None else strides[_wrap(dim, self.dim())]


def _view(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (_C.dtype, type)):
        raise TypeError("ember does not support reinterpreting a tensor's bytes with view(dtype)")
    return _C.view(self, _sizes(shape, "shape"))


def _reshape(self, *shape):
    return _C.reshape(self, _sizes(shape, "shape"))


def _expand(self, *sizes):
    return _C.expand(self, _sizes(sizes))


def _permute(self, *dims):
    return _C.permute(self, _sizes(dims, "dims"))


def _transpose(self, dim0, dim1):
    return _C.transpose(self, dim0, dim1)


def _squeeze(self, dim=None):
    return _C.squeeze(self, dim)


def _flatten(self, start_dim=0, end_dim=-1):
    return _C.flatten(self, start_dim, end_dim)


def _unflatten(self, dim, sizes):
    dim = _wrap(dim, self.dim())
    shape = list(self.shape)
    return _C.reshape(self, shape[:dim] + list(sizes) + shape[dim + 1:])


def _split(self, split_size_or_sections, dim=0):
    return tuple(_C.split(self, split_size_or_sections, dim))


def _chunk(self, chunks, dim=0):
    return tuple(_C.chunk(self, chunks, dim))


def _unbind(self, dim=0):
    return tuple(_C.select(self, dim, i) for i in range(self.shape[_wrap(dim, self.dim())]))


# ---------------------------------------------------------------- conversion

def _parse_to(args, kwargs):
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)
    copy = kwargs.pop("copy", False)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, _C.dtype):
            dtype = a
        elif isinstance(a, (str, _C.device, int)):
            device = a
        elif a is None:
            continue
        else:
            raise TypeError(f"to() received an invalid argument: {a!r}")
    return dtype, device, copy


def _to(self, *args, **kwargs):
    dtype, device, copy = _parse_to(args, dict(kwargs))
    out = self
    if device is not None:
        out = _C.to_device(out, _resolve_cuda(device))
    if dtype is not None:
        out = _C.to_dtype(out, dtype)
    if copy and out is self:
        out = _C.clone(self)
    return out


def _resolve_cuda(device):
    # 'cuda' without an index means the current device.
    if isinstance(device, str) and device == "cuda" or (isinstance(device, _C.device) and device.type == "cuda"
                                                       and device.index is None):
        return _C.device("cuda", _C._cuda.current_device() if _C._cuda.is_available() else 0)
    return device


def _cuda(self, device=None, non_blocking=False):
    if device is None:
        device = "cuda"
    elif isinstance(device, int):
        device = _C.device("cuda", device)
    return _C.to_device(self, _resolve_cuda(device))


def _cpu(self):
    return _C.to_device(self, _DEVICE_CPU)


_LEGACY_TYPES = {
    "ember.FloatTensor": _C.dtype.float32, "ember.DoubleTensor": _C.dtype.float64,
    "ember.HalfTensor": _C.dtype.float16, "ember.LongTensor": _C.dtype.int64,
    "ember.IntTensor": _C.dtype.int32, "ember.ShortTensor": _C.dtype.int16, "ember.CharTensor": _C.dtype.int8,
    "ember.ByteTensor": _C.dtype.uint8, "ember.BoolTensor": _C.dtype.bool,
}


def _type(self, dtype=None, non_blocking=False):
    if dtype is None:
        return self.type_name()
    if isinstance(dtype, str):
        key = dtype.replace("torch.", "ember.")
        if key not in _LEGACY_TYPES:
            raise ValueError(f"invalid type: '{dtype}'")
        dtype = _LEGACY_TYPES[key]
    return _C.to_dtype(self, _C.as_dtype(dtype))


def _caster(dt):
    def cast(self, memory_format=None):
        return _C.to_dtype(self, dt)
    return cast


def _new(factory):
    def new(self, *size, dtype=None, device=None, requires_grad=False, **kw):
        out = factory(self, list(_sizes(size)) if size else kw.pop("size"), dtype or self.dtype,
                      device or self.device)
        if requires_grad:
            out.requires_grad_(True)
        return out
    return new


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    out = _C.tensor(data, dtype or self.dtype, device or self.device)
    return out.requires_grad_(requires_grad) if requires_grad else out


# ---------------------------------------------------------------- autograd

def _requires_grad_(self, requires_grad=True):
    return _C.requires_grad_(self, requires_grad)


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        from .autograd.functional import backward as _autograd_backward
        _autograd_backward(self, gradient, retain_graph, create_graph, inputs=inputs)
        return
    _C.backward([self], None if gradient is None else [gradient], bool(retain_graph), bool(create_graph))


def _detach_(self):
    return _C.detach_(self)


def _retain_grad(self):
    """A non-leaf keeps its gradient in .grad after backward (no-op on leaves)."""
    _C.retain_grad(self)


class _TensorHookHandle:
    """Returned by ``register_hook`` and ``register_post_accumulate_grad_hook``;
    ``remove()`` unregisters the hook (also usable as a context manager)."""

    _next_id = 0

    def __init__(self, remover):
        self._remover = remover
        self.id = _TensorHookHandle._next_id
        _TensorHookHandle._next_id += 1

    def remove(self):
        if self._remover is not None:
            self._remover()
            self._remover = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _hook_name(hook):
    return getattr(hook, "__name__", type(hook).__name__)


def _register_hook(self, hook):
    """Calls ``hook(grad)`` each time the gradient of this tensor is computed;
    a tensor it returns replaces the gradient (PyTorch's checks: same size and
    dtype). On a leaf the hook runs before ``.grad`` is accumulated."""
    if not callable(hook):
        raise TypeError(f"register_hook expects a callable, got {type(hook).__name__}")

    def checked(grad):
        result = hook(grad)
        if result is None:
            return None
        if not isinstance(result, Tensor):
            raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
        if result.shape != grad.shape:
            raise RuntimeError(f"hook '{_hook_name(hook)}' has changed the size of value")
        if result.dtype != grad.dtype or result.device != grad.device:
            raise RuntimeError(f"hook '{_hook_name(hook)}' has changed the type of value (was {grad.type()} "
                               f"got {result.type()})")
        return result

    return _TensorHookHandle(_C.register_hook(self, checked))


def _register_post_accumulate_grad_hook(self, hook):
    """Calls ``hook(tensor)`` on a leaf after its ``.grad`` was accumulated by
    ``backward()`` (not by ``autograd.grad``, which accumulates nothing)."""
    if not callable(hook):
        raise TypeError(f"register_post_accumulate_grad_hook expects a callable, got {type(hook).__name__}")

    def checked(leaf):
        result = hook(leaf)
        if result is not None and not isinstance(result, Tensor):
            raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")

    return _TensorHookHandle(_C.register_post_accumulate_grad_hook(self, checked))


# ---------------------------------------------------------------- math

def _add(self, other, *, alpha=1):
    return _C.add(self, other if alpha == 1 else other * alpha)


def _sub(self, other, *, alpha=1):
    return _C.sub(self, other if alpha == 1 else other * alpha)


def _add_(self, other, *, alpha=1):
    return _C.add_(self, other if alpha == 1 else other * alpha)


def _sub_(self, other, *, alpha=1):
    return _C.sub_(self, other if alpha == 1 else other * alpha)


def _div(self, other, *, rounding_mode=None):
    if rounding_mode is None:
        return _C.div(self, other)
    if rounding_mode == "floor":
        return _C.floor_divide(self, other)
    if rounding_mode == "trunc":
        return _C.trunc(_C.div(self, other)).to(_C.result_type(self, other))
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def _pow(self, exponent):
    return self ** exponent


def _clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's argument names
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = self
        if min is not None:
            out = _C.maximum(out, min)
        if max is not None:
            out = _C.minimum(out, max)
        return out
    lo = builtins.float(min) if min is not None else None
    hi = builtins.float(max) if max is not None else None
    return _C.clamp(self, lo, hi)


def _clamp_(self, min=None, max=None):  # noqa: A002
    return self.copy_(_clamp(self, min, max))


def _where(self, condition, other):
    if isinstance(condition, Tensor) and condition.dtype not in (_C.dtype.bool, _C.dtype.uint8):
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{str(condition.dtype)[len('ember.'):]}")
    return _C.where(condition, self, other)


def _masked_fill(self, mask, value):
    return _C.masked_fill(self, mask, value)


def _masked_fill_(self, mask, value):
    self[mask] = value
    return self


def _nonzero(self, as_tuple=False):
    idx = _C.nonzero(self)
    if as_tuple:
        return tuple(idx[:, d] for d in range(idx.shape[1])) if self.dim() else (idx[:, 0],)
    return idx


def _copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    return _C.copy_(self, src)


def _fill_(self, value):
    return _C.fill_(self, value)


def _normal_(self, mean=0.0, std=1.0):
    return _C.normal_(self, mean, std)


def _uniform_(self, a=0.0, b=1.0):
    return _C.uniform_(self, a, b)


# ---------------------------------------------------------------- reductions

def _reducer(c_fn, name):
    def reduce(self, dim=None, keepdim=False, *, axis=None, dtype=None, **kw):
        if not isinstance(keepdim, bool) and dim is not None and name in ("sum", "mean"):
            pass
        d, keep = _dims(dim, axis, dict(kw, keepdim=keepdim), name)
        if name == "sum":
            return c_fn(self, d, keep, dtype)
        out = c_fn(self, d, keep)
        return out if dtype is None else _C.to_dtype(out, dtype)
    reduce.__name__ = name
    return reduce


def _extremum(name, all_fn, dim_fn, elementwise, result_type):
    def op(self, dim=None, keepdim=False, *, axis=None, **kw):
        if isinstance(dim, Tensor):
            return elementwise(self, dim)
        d, keep = _dims(dim, axis, dict(kw, keepdim=keepdim), name)
        if d is None:
            return all_fn(self)
        values, indices = dim_fn(self, d, keep)
        return result_type(values, indices)
    op.__name__ = name
    return op


def _arg(c_fn, name):
    def op(self, dim=None, keepdim=False, *, axis=None, **kw):
        d, keep = _dims(dim, axis, dict(kw, keepdim=keepdim), name)
        return c_fn(self, d, keep)
    op.__name__ = name
    return op


def _cumsum(self, dim=None, *, dtype=None, axis=None):
    if axis is not None:
        if dim is not None:
            raise TypeError("cumsum() received both 'dim' and 'axis'")
        dim = axis
    if dim is None:
        raise TypeError("cumsum() missing required argument 'dim'")
    out = _C.cumsum(self, dim)
    return out if dtype is None else _C.to_dtype(out, dtype)


def _norm(self, p="fro", dim=None, keepdim=False, dtype=None):
    if p == "fro" or p is None:
        p = 2.0
    elif p == "nuc":
        raise NotImplementedError("nuclear norm is not supported")
    out = _C.norm(self, builtins.float(p), dim, keepdim)
    return out if dtype is None else _C.to_dtype(out, dtype)


def _var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, **kw):
    d, keep = _dims(dim, axis, dict(kw, keepdim=keepdim), "var")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return _C.var(self, d, int(correction), keep)


def _std(self, *args, **kwargs):
    return _C.sqrt(_var(self, *args, **kwargs))


def _all(self, dim=None, keepdim=False, **kw):
    d, keep = _dims(dim, kw.pop("axis", None), dict(kw, keepdim=keepdim), "all")
    return _C.all(self, d, keep)


def _any(self, dim=None, keepdim=False, **kw):
    d, keep = _dims(dim, kw.pop("axis", None), dict(kw, keepdim=keepdim), "any")
    return _C.any(self, d, keep)


def _softmax(self, dim, dtype=None):
    x = self if dtype is None else _C.to_dtype(self, dtype)
    return _C.softmax(x, dim)


def _log_softmax(self, dim, dtype=None):
    x = self if dtype is None else _C.to_dtype(self, dtype)
    return _C.log_softmax(x, dim)


_UNARY = ["neg", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "sign",
          "floor", "ceil", "trunc", "log1p", "expm1", "log2", "log10", "exp2", "square", "reciprocal", "erf",
          "logical_not", "bitwise_not"]
_BINARY = ["mul", "floor_divide", "remainder", "maximum", "minimum", "atan2", "eq", "ne", "lt", "le", "gt", "ge",
           "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor"]


def _round(self, decimals=0):
    if decimals == 0:
        return _C.round(self)
    scale = 10.0 ** decimals
    return _C.round(self * scale) / scale


def _as_method(fn):
    # Native functions are not descriptors: wrap them so they bind `self`.
    if type(fn).__name__ != "builtin_function_or_method":
        return fn

    def method(self, *args):
        return fn(self, *args)

    method.__name__ = getattr(fn, "__name__", "method")
    method.__doc__ = fn.__doc__
    return method


def install():
    """Attaches the methods to ember.Tensor (called once by ember/__init__)."""
    methods = {
        "__repr__": _repr, "__str__": _repr, "__format__": _format, "__array__": _array, "__iter__": _iter,
        "__deepcopy__": _deepcopy, "tolist": _tolist,
        "size": _size, "stride": _stride, "view": _view, "reshape": _reshape, "expand": _expand,
        "view_as": lambda self, other: _C.view(self, list(other.shape)),
        "reshape_as": lambda self, other: _C.reshape(self, list(other.shape)),
        "expand_as": lambda self, other: _C.expand(self, list(other.shape)),
        "permute": _permute, "transpose": _transpose, "swapaxes": _transpose, "t": _C.t,
        "squeeze": _squeeze, "unsqueeze": _C.unsqueeze, "flatten": _flatten, "unflatten": _unflatten,
        "contiguous": lambda self, memory_format=None: _C.contiguous(self), "clone": lambda self, memory_format=None:
        _C.clone(self), "detach": _C.detach, "detach_": _detach_, "split": _split, "chunk": _chunk, "unbind": _unbind,
        "to": _to, "cuda": _cuda, "cpu": _cpu, "type": _type,
        "float": _caster(_C.dtype.float32), "double": _caster(_C.dtype.float64), "half": _caster(_C.dtype.float16),
        "bfloat16": _caster(_C.dtype.bfloat16), "long": _caster(_C.dtype.int64), "int": _caster(_C.dtype.int32),
        "short": _caster(_C.dtype.int16), "char": _caster(_C.dtype.int8), "byte": _caster(_C.dtype.uint8),
        "bool": _caster(_C.dtype.bool),
        "new_zeros": _new(lambda s, size, d, dev: _C.full(size, 0, d, dev)),
        "new_ones": _new(lambda s, size, d, dev: _C.full(size, 1, d, dev)),
        "new_empty": _new(lambda s, size, d, dev: _C.empty(size, d, dev)),
        "new_full": lambda self, size, fill_value, dtype=None, device=None: _C.full(
            list(size), fill_value, dtype or self.dtype, device or self.device),
        "new_tensor": _new_tensor,
        "requires_grad_": _requires_grad_, "backward": _backward, "retain_grad": _retain_grad,
        "register_hook": _register_hook, "register_post_accumulate_grad_hook": _register_post_accumulate_grad_hook,
        "add": _add, "sub": _sub, "subtract": _sub, "add_": _add_, "sub_": _sub_, "div": _div, "divide": _div,
        "true_divide": lambda self, other: _C.div(self, other), "multiply": lambda self, other: _C.mul(self, other),
        "pow": _pow, "pow_": lambda self, e: _C.pow_(self, e), "mul_": _C.mul_, "div_": _C.div_,
        "matmul": _C.matmul, "mm": _C.mm, "bmm": _C.bmm, "mv": _C.mv, "dot": _C.dot,
        "clamp": _clamp, "clip": _clamp, "clamp_": _clamp_, "clip_": _clamp_, "where": _where, "round": _round,
        "masked_fill": _masked_fill, "masked_fill_": _masked_fill_, "nonzero": _nonzero,
        "index_select": _C.index_select, "gather": _C.gather,
        "copy_": _copy_, "fill_": _fill_, "zero_": _C.zero_, "normal_": _normal_, "uniform_": _uniform_,
        "sum": _reducer(_C.sum, "sum"), "mean": _reducer(_C.mean, "mean"), "prod": _reducer(_C.prod, "prod"),
        "amax": _reducer(_C.amax, "amax"), "amin": _reducer(_C.amin, "amin"),
        "max": _extremum("max", _C.max_all, _C.max_dim, _C.maximum, _return_types.max),
        "min": _extremum("min", _C.min_all, _C.min_dim, _C.minimum, _return_types.min),
        "argmax": _arg(_C.argmax, "argmax"), "argmin": _arg(_C.argmin, "argmin"),
        "cumsum": _cumsum, "norm": _norm, "var": _var, "std": _std, "all": _all, "any": _any,
        "softmax": _softmax, "log_softmax": _log_softmax,
    }
    for name in _UNARY:
        methods.setdefault(name, getattr(_C, name))
        methods.setdefault(name + "_", getattr(_C, name + "_"))
    for name in _BINARY:
        methods.setdefault(name, getattr(_C, name))
        methods.setdefault(name + "_", getattr(_C, name + "_"))
    methods["round_"] = _C.round_
    for name, fn in methods.items():
        setattr(Tensor, name, _as_method(fn))
    Tensor.T = property(lambda self: _C.permute(self, list(range(self.dim() - 1, -1, -1))))
    Tensor.mT = property(lambda self: _C.transpose(self, -2, -1))
    Tensor.retains_grad = property(lambda self: _C.retains_grad(self))
    Tensor.__module__ = "ember"
