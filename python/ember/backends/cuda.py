"""ember.backends.cuda: whether ember was compiled with its CUDA backend."""
from __future__ import annotations

from ember import _C


def is_built() -> bool:
    """True when ember was compiled with nvcc (whether or not a GPU is present)."""
    return bool(_C._cuda.is_built())


class _MatmulFlags:
    """Accepted for PyTorch compatibility: ember's float32 GEMM never uses TF32."""

    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()
