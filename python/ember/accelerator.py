"""ember.accelerator: the device-agnostic queries of ``torch.accelerator``
(what PyTorch's "Learn the Basics" tutorials use to pick a device). ember's
only accelerator is CUDA."""
from __future__ import annotations

from ember import _C, cuda

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index", "set_device_index",
           "synchronize"]


def is_available() -> bool:
    return cuda.is_available()


def current_accelerator(check_available: bool = False):
    """``device(type='cuda')`` when ember was built with CUDA (and, with
    ``check_available``, a device is visible); None otherwise."""
    if not _C._cuda.is_built() or (check_available and not cuda.is_available()):
        return None
    return _C.device("cuda")


def device_count() -> int:
    return cuda.device_count()


def current_device_index() -> int:
    return cuda.current_device()


def set_device_index(device) -> None:
    cuda.set_device(device)


def synchronize(device=None) -> None:
    cuda.synchronize(device)
