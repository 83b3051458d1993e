"""PyTorch's ``out=`` contract for ember's module functions: the result is
computed as usual, then written into ``out`` (the same object is returned).

The rules are PyTorch's: an ``out`` whose shape differs is resized (with
PyTorch's deprecation warning when it held elements); its dtype must be one
the result can be cast to (floating results never go into integer or bool
tensors), and some ops want it exact; ``out=`` cannot record autograd
history, so a tensor requiring grad among the arguments is an error.
"""
import warnings

from . import _C

Tensor = _C.Tensor

_NAMES = {
    "float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16", "int64": "Long",
    "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
}
_C_TYPE_NAMES = {"Float": "float", "Double": "double", "Half": "c10::Half", "BFloat16": "c10::BFloat16",
                 "Long": "long int", "Int": "int", "Short": "short int", "Char": "signed char",
                 "Byte": "unsigned char", "Bool": "bool"}


def dtype_name(dtype):
    """PyTorch's scalar type name: ember.float32 -> "Float"."""
    return _NAMES[str(dtype).rpartition(".")[2]]


def _is_floating(dtype):
    return dtype in (_C.dtype.float32, _C.dtype.float64, _C.dtype.float16, _C.dtype.bfloat16)


def can_cast(src, dst):
    """PyTorch's canCast: no floating -> integral/bool, no non-bool -> bool."""
    if _is_floating(src) and not _is_floating(dst):
        return False
    return not (src != _C.dtype.bool and dst == _C.dtype.bool)


def check_out(out, op):
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")


def check_no_grad(out, inputs, op):
    from .autograd import is_grad_enabled
    if is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in (out, *inputs)):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad.")


def resize_for(out, shape, message=None):
    """Gives ``out`` the shape ``shape`` (new memory, same object) when it
    differs, warning as PyTorch does when ``out`` held elements."""
    shape = list(shape)
    if list(out.shape) == shape:
        return
    if out.numel() != 0:
        warnings.warn(message or (
            f"An output with one or more elements was resized since it had shape {list(out.shape)}, which does "
            f"not match the required output shape {shape}. This behavior is deprecated, and in a future PyTorch "
            "release outputs will not be resized unless they have zero elements. You can explicitly reuse an out "
            "tensor t by resizing it, inplace, to zero elements with t.resize_(0)."), UserWarning, stacklevel=4)
    out.data = _C.empty(shape, out.dtype, out.device)


# Ops whose out= must have the result's dtype exactly, with PyTorch's words
# ({out}/{result}: "Double"/"Float"; {out_c}/{result_c}: "double"/"float").
EXACT_DTYPE = {
    "matmul": "Expected out tensor to have dtype {result_c}, but got {out_c} instead",
    "mm": "Expected out tensor to have dtype {result_c}, but got {out_c} instead",
    "bmm": "Expected out tensor to have dtype {result_c}, but got {out_c} instead",
    "abs": "Found dtype {out} but expected {result}",
    "neg": "Found dtype {out} but expected {result}",
    "negative": "Found dtype {out} but expected {result}",
    "clamp": "Found dtype {out} but expected {result}",
    "where": "Expected out type to be {result} but got {out}",
}


def write(out, result, op, inputs=(), cast_error=None):
    """Writes ``result`` into ``out`` under PyTorch's rules; returns ``out``.

    ``cast_error``: (exception type, message) for an impossible cast where
    the op words it differently from the elementwise ops.
    """
    check_out(out, op)
    check_no_grad(out, inputs, op)
    if out.device != result.device:
        raise RuntimeError(f"Expected out tensor to be on device {result.device}, but got {out.device} instead "
                           f"({op})")
    if op in EXACT_DTYPE and out.dtype != result.dtype:
        names = dict(out=dtype_name(out.dtype), result=dtype_name(result.dtype))
        names.update(out_c=_C_TYPE_NAMES[names["out"]], result_c=_C_TYPE_NAMES[names["result"]])
        raise RuntimeError(EXACT_DTYPE[op].format(**names))
    if not can_cast(result.dtype, out.dtype):
        if cast_error is not None:
            raise cast_error[0](cast_error[1].format(out=dtype_name(out.dtype)))
        raise RuntimeError(f"result type {dtype_name(result.dtype)} can't be cast to the desired output type "
                           f"{dtype_name(out.dtype)}")
    resize_for(out, result.shape)
    out.copy_(result)
    return out


def write_pair(out, values, indices, op, inputs=()):
    """``max(x, dim, out=(values, indices))``: indices must be int64."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"{op}(): argument 'out' must be a tuple of two Tensors (values, indices)")
    out_values, out_indices = out
    check_out(out_values, op)
    check_out(out_indices, op)
    if out_indices.dtype != _C.dtype.int64:
        raise RuntimeError(f"Expected out tensor to have dtype long int, but got "
                           f"{_C_TYPE_NAMES[dtype_name(out_indices.dtype)]} instead")
    write(out_values, values, op, inputs)
    write(out_indices, indices, op, inputs)
    return out_values, out_indices


def factory_dtype(out, dtype, op):
    """The dtype a creation function fills ``out`` with: ``out``'s own, and a
    different explicit ``dtype=`` is an error, as in PyTorch."""
    check_out(out, op)
    if dtype is not None and dtype != out.dtype:
        raise RuntimeError(f"dtype {dtype_name(dtype)} does not match dtype of out parameter "
                           f"({dtype_name(out.dtype)})")
    return out.dtype
