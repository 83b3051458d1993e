"""Argument conventions shared by the Tensor methods and module functions:
PyTorch's dim/axis and keepdim/keepdims aliases and `*size` forms."""
from . import _C


def sizes(args, name="size"):
    """`f(2, 3)`, `f((2, 3))` or `f([2, 3])` -> [2, 3]."""
    if len(args) == 1 and not isinstance(args[0], int):
        args = args[0]
    out = []
    for s in args:
        if isinstance(s, _C.Tensor):
            s = int(s)
        if not isinstance(s, int) or isinstance(s, bool):
            raise TypeError(f"{name} must be a tuple of ints, but got an element of type {type(s).__name__}")
        out.append(s)
    return out


def dims(dim, axis, kwargs, op):
    """Reads dim (or numpy's axis) and keepdim (or keepdims)."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}() received both 'dim' and 'axis'")
        dim = axis
    keepdim = kwargs.pop("keepdim", False)
    keepdim = kwargs.pop("keepdims", False) or keepdim  # numpy's spelling, as D2L writes it
    if kwargs:
        raise TypeError(f"{op}() got an unexpected keyword argument '{next(iter(kwargs))}'")
    return dim, bool(keepdim)
