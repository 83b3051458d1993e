"""The float32 matmul precision: PyTorch's set_float32_matmul_precision and
torch.backends.cuda.matmul.allow_tf32, two views of one setting kept in
the core (csrc/math_mode.h).

"highest" (the default) keeps float32 matmul in float32; "high" and
"medium" let CUDA float32 matmul run on the tensor cores in TF32 (inputs
rounded to a 10-bit mantissa, float32 accumulation) on GPUs of compute
capability 8.0 and later. CPU matmul is float32 at every setting.
"""
import builtins

from . import _C

_PRECISIONS = ("highest", "high", "medium")


def set_float32_matmul_precision(precision):
    """Sets the internal precision of float32 matrix multiplications:
    'highest', 'high' or 'medium' (see the module docstring)."""
    if not isinstance(precision, str):
        raise RuntimeError(f"set_float32_matmul_precision expects a str, but got {type(precision).__name__}")
    if precision not in _PRECISIONS:
        raise ValueError(f"set_float32_matmul_precision: {precision!r} is not one of 'highest', 'high' or 'medium'")
    _C._set_float32_matmul_precision(precision)


def get_float32_matmul_precision():
    """'highest', 'high' or 'medium'."""
    return _C._get_float32_matmul_precision()


def allow_tf32():
    return get_float32_matmul_precision() != "highest"


def set_allow_tf32(value):
    """torch.backends.cuda.matmul.allow_tf32 = value: True is 'high', False 'highest'."""
    if not isinstance(value, builtins.bool):
        raise RuntimeError(f"allow_tf32 expects a bool, but got {type(value).__name__}")
    _C._set_float32_matmul_precision("high" if value else "highest")
