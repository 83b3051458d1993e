"""Ops beyond the basics that D2L's library and PyTorch's tutorials use:
hyperbolic functions, scatter, repeat, multinomial and sorting. PyTorch's
argument conventions over the native functions in ember._C (bound in
src/bind_ops_extra.cpp); `install()` adds the Tensor methods."""
from . import _C

Tensor = _C.Tensor

__all__ = ["sinh", "cosh"]


def _function(name):
    method = getattr(_C, name)

    def fn(input, *args, **kwargs):  # noqa: A002 - PyTorch's argument name
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
        return method(input, *args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    return fn


sinh = _function("sinh")
cosh = _function("cosh")


def install():
    """Attaches the methods to ember.Tensor (called once by ember/__init__)."""
    methods = {"sinh": _C.sinh, "sinh_": _C.sinh_, "cosh": _C.cosh, "cosh_": _C.cosh_}
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
