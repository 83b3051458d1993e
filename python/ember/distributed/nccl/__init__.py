"""The NCCL engine for CUDA tensors (loaded at run time)."""
from .loader import nccl_available

__all__ = ["nccl_available", "NcclGroup"]


def __getattr__(name):
    if name == "NcclGroup":
        from .group import NcclGroup
        return NcclGroup
    raise AttributeError(name)
