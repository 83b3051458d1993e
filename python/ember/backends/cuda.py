"""ember.backends.cuda: whether ember was compiled with its CUDA backend."""
from __future__ import annotations

from ember import _C, _math_mode


def is_built() -> bool:
    """True when ember was compiled with nvcc (whether or not a GPU is present)."""
    return bool(_C._cuda.is_built())


class _MatmulFlags:
    """torch.backends.cuda.matmul. allow_tf32 reads and sets the float32
    matmul precision (ember.set_float32_matmul_precision). The two reduced
    precision reduction flags are kept for scripts that set them; they
    change nothing, since ember's float16/bfloat16 GEMMs always accumulate
    in float32 and round once."""

    _FLAGS = ("allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction")

    def __init__(self):
        for name in self._FLAGS:
            object.__setattr__(self, name, True)

    @property
    def allow_tf32(self):
        return _math_mode.allow_tf32()

    @allow_tf32.setter
    def allow_tf32(self, value):
        _math_mode.set_allow_tf32(value)

    def __setattr__(self, name, value):
        if name == "allow_tf32":
            return object.__setattr__(self, name, value)
        if name not in self._FLAGS:
            raise AttributeError(f"Unknown attribute {name}")
        if not isinstance(value, bool):
            raise RuntimeError(f"{name} expects a bool, but got {type(value).__name__}")
        object.__setattr__(self, name, value)


matmul = _MatmulFlags()
