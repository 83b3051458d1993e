"""Ops beyond the basics that D2L's library and PyTorch's tutorials use:
hyperbolic functions, scatter, repeat, multinomial and sorting. PyTorch's
argument conventions over the native functions in ember._C (bound in
src/bind_ops_extra.cpp); `install()` adds the Tensor methods."""
from . import _C, _return_types
from ._args import sizes as _sizes

Tensor = _C.Tensor

__all__ = ["sinh", "cosh", "scatter", "scatter_add", "tile", "repeat_interleave", "multinomial", "sort", "argsort",
           "msort", "topk", "searchsorted", "bucketize"]

_UNSET = object()  # tells "argument not given" from any value a caller may pass


def _check_tensor(fn_name, value, arg="input", position=1):
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn_name}(): argument '{arg}' (position {position}) must be Tensor, not "
                        f"{type(value).__name__}")


def _unary(name):
    native = getattr(_C, name)

    def fn(input):  # noqa: A002 - PyTorch's argument name
        _check_tensor(name, input)
        return native(input)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name}, as torch.{name} (float32 for integer inputs)."
    return fn


sinh = _unary("sinh")
cosh = _unary("cosh")


# ---------------------------------------------------------------- scatter

def _src_or_value(fn_name, src, value):
    if src is None and value is None:
        raise TypeError(f"{fn_name}() missing 1 required argument: 'src' (a Tensor) or 'value' (a number)")
    if src is not None and value is not None:
        raise TypeError(f"{fn_name}() received both 'src' and 'value'")
    return value if src is None else src


def scatter(input, dim, index, src=None, *, value=None, reduce=None):  # noqa: A002
    """torch.scatter: a copy of input with src's values (or `value`) written
    along `dim` at `index`. `reduce="add"`/`"multiply"` combines instead.

    Unlike PyTorch, the gradient of a src larger than index has src's shape
    (zero where index does not reach); PyTorch's backward fails there."""
    _check_tensor("scatter", input)
    return _C.scatter(input, dim, index, _src_or_value("scatter", src, value), reduce)


def scatter_add(input, dim, index, src):  # noqa: A002
    """torch.scatter_add. Repeated indices add up in index order on every
    device, so the result is deterministic (PyTorch's CUDA kernel uses atomics)."""
    _check_tensor("scatter_add", input)
    _check_tensor("scatter_add", src, "src", 4)
    return _C.scatter_add(input, dim, index, src)


def _scatter_method(self, dim, index, src=None, *, value=None, reduce=None):
    return _C.scatter(self, dim, index, _src_or_value("scatter", src, value), reduce)


def _scatter_method_(self, dim, index, src=None, *, value=None, reduce=None):
    return _C.scatter_(self, dim, index, _src_or_value("scatter_", src, value), reduce)


def _scatter_add_method(self, dim, index, src):
    _check_tensor("scatter_add", src, "src", 3)
    return _C.scatter_add(self, dim, index, src)


def _scatter_add_method_(self, dim, index, src):
    _check_tensor("scatter_add_", src, "src", 3)
    return _C.scatter_add_(self, dim, index, src)


# ---------------------------------------------------------------- repeat

def _repeat(self, *repeats):
    if not repeats:
        raise TypeError('repeat() missing 1 required positional arguments: "repeats"')
    return _C.repeat(self, _sizes(repeats, "repeats"))


def _tile(self, *dims):
    if not dims:
        raise TypeError('tile() missing 1 required positional arguments: "dims"')
    return _C.tile(self, _sizes(dims, "dims"))


def tile(input, dims):  # noqa: A002
    """torch.tile: repeat with `dims` padded by leading 1s to input's rank."""
    _check_tensor("tile", input)
    return _C.tile(input, _sizes((dims,), "dims"))


def _repeats_arg(repeats):
    if isinstance(repeats, Tensor):
        return repeats
    if isinstance(repeats, bool) or not isinstance(repeats, int):
        raise TypeError(f"repeat_interleave(): argument 'repeats' must be int or Tensor, not "
                        f"{type(repeats).__name__}")
    return repeats


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):  # noqa: A002
    """torch.repeat_interleave. With only a tensor of counts,
    `repeat_interleave(counts)` gives each i repeated counts[i] times."""
    _check_tensor("repeat_interleave", input)
    if repeats is None:
        if dim is not None:
            raise TypeError("repeat_interleave(repeats) takes no dim")
        return _C.repeat_interleave_index(input, output_size)
    return _C.repeat_interleave(input, _repeats_arg(repeats), dim, output_size)


def _repeat_interleave_method(self, repeats, dim=None, *, output_size=None):
    return _C.repeat_interleave(self, _repeats_arg(repeats), dim, output_size)


# ---------------------------------------------------------------- sampling

def multinomial(input, num_samples, replacement=False, *, generator=None):  # noqa: A002
    """torch.multinomial on ember's Philox generator: a seed gives the same
    draws on the CPU and on CUDA (not PyTorch's draws: its generator differs)."""
    _check_tensor("multinomial", input)
    if isinstance(num_samples, bool) or not isinstance(num_samples, int):
        raise TypeError(f"multinomial(): argument 'num_samples' must be int, not {type(num_samples).__name__}")
    return _C.multinomial(input, num_samples, bool(replacement))


def _multinomial_method(self, num_samples, replacement=False, *, generator=None):
    return multinomial(self, num_samples, replacement)


# ---------------------------------------------------------------- sorting

def sort(input, dim=-1, descending=False, stable=_UNSET):  # noqa: A002
    """torch.sort as a named tuple (values, indices). ember's sort is always
    stable (equal elements keep their order), so `stable` changes nothing."""
    _check_tensor("sort", input)
    values, indices = _C.sort(input, dim, bool(descending), None if stable is _UNSET else bool(stable))
    return _return_types.sort(values, indices)


def argsort(input, dim=-1, descending=False, stable=False):  # noqa: A002
    """torch.argsort; always stable (ties in index order)."""
    _check_tensor("argsort", input)
    return _C.argsort(input, dim, bool(descending))


def msort(input):  # noqa: A002
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    """torch.topk as a named tuple (values, indices). Values always come back
    sorted, and equal values in index order (PyTorch leaves tie order open)."""
    _check_tensor("topk", input)
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"topk(): argument 'k' must be int, not {type(k).__name__}")
    values, indices = _C.topk(input, k, dim, bool(largest), bool(sorted))
    return _return_types.topk(values, indices)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):  # noqa: A002
    """torch.searchsorted over the innermost dim of sorted_sequence."""
    _check_tensor("searchsorted", sorted_sequence, "sorted_sequence")
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    if sorter is not None:
        sorted_sequence = sorted_sequence.gather(-1, sorter)
    return _C.searchsorted(sorted_sequence, input, bool(right), bool(out_int32))


def bucketize(input, boundaries, *, out_int32=False, right=False):  # noqa: A002
    """torch.bucketize: the bucket of each element of input among 1-D boundaries."""
    _check_tensor("bucketize", boundaries, "boundaries", 2)
    if boundaries.dim() != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.dim()})")
    return _C.searchsorted(boundaries, input, bool(right), bool(out_int32))


def _sort_method(self, dim=-1, descending=False, stable=_UNSET):
    return sort(self, dim, descending, stable)


def _argsort_method(self, dim=-1, descending=False, stable=False):
    return _C.argsort(self, dim, bool(descending))


def _topk_method(self, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    return topk(self, k, dim, largest, sorted)


def install():
    """Attaches the methods to ember.Tensor (called once by ember/__init__)."""
    methods = {
        "sinh": _C.sinh, "sinh_": _C.sinh_, "cosh": _C.cosh, "cosh_": _C.cosh_,
        "scatter": _scatter_method, "scatter_": _scatter_method_, "scatter_add": _scatter_add_method,
        "scatter_add_": _scatter_add_method_,
        "repeat": _repeat, "tile": _tile, "repeat_interleave": _repeat_interleave_method,
        "multinomial": _multinomial_method,
        "sort": _sort_method, "argsort": _argsort_method, "msort": lambda self: msort(self), "topk": _topk_method,
    }
    for name, fn in methods.items():
        setattr(Tensor, name, _as_method(fn))


def _as_method(fn):
    # Native functions are not descriptors: wrap them so they bind `self`.
    if type(fn).__name__ != "builtin_function_or_method":
        return fn

    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = getattr(fn, "__name__", "method")
    method.__doc__ = fn.__doc__
    return method
