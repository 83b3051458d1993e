"""ember.cuda: device queries and memory statistics, as in torch.cuda.

Everything here works on machines without a GPU: ``is_available()`` is then
False, ``device_count()`` 0, and calls that need a device raise RuntimeError
with the reason (no driver, no device, or ember built without CUDA).
"""
from __future__ import annotations

from ember import _C

_backend = _C._cuda

__all__ = [
    "is_available",
    "device_count",
    "current_device",
    "set_device",
    "synchronize",
    "memory_allocated",
    "max_memory_allocated",
    "empty_cache",
    "get_device_name",
    "device",
]


def _index(device) -> int:
    """Device index from None (current), an int, 'cuda', 'cuda:1' or an ember.device."""
    if device is None:
        return current_device()
    if isinstance(device, bool):
        raise TypeError(f"expected a CUDA device, got {device!r}")
    if isinstance(device, int):
        return device
    if isinstance(device, str):
        kind, _, idx = device.partition(":")
        if kind != "cuda":
            raise ValueError(f"expected a CUDA device, got {device!r}")
        return int(idx) if idx else current_device()
    kind = getattr(device, "type", None)
    if kind is not None:
        if kind != "cuda":
            raise ValueError(f"expected a CUDA device, got {device!r}")
        idx = getattr(device, "index", None)
        return current_device() if idx is None else int(idx)
    raise TypeError(f"expected a CUDA device, got {device!r}")


def is_available() -> bool:
    """True when ember was built with CUDA and at least one device is visible."""
    return bool(_backend.is_available())


def device_count() -> int:
    return int(_backend.device_count())


def current_device() -> int:
    return int(_backend.current_device())


def set_device(device) -> None:
    _backend.set_device(_index(device))


def synchronize(device=None) -> None:
    """Waits for every kernel queued on the device (the current one by default)."""
    _backend.synchronize(-1 if device is None else _index(device))


def memory_allocated(device=None) -> int:
    """Bytes held by live tensors on the device (rounded to allocator size classes)."""
    if not is_available():
        return 0
    return int(_backend.memory_allocated(_index(device)))


def max_memory_allocated(device=None) -> int:
    """Peak of memory_allocated() since start-up."""
    if not is_available():
        return 0
    return int(_backend.max_memory_allocated(_index(device)))


def empty_cache() -> None:
    """Returns cached, unused device memory to the driver."""
    _backend.empty_cache()


def get_device_name(device=None) -> str:
    return str(_backend.get_device_name(_index(device)))


class device:  # noqa: N801 - PyTorch's name
    """Context manager that makes `device` current inside a `with` block.

    Constructing one needs no GPU (D2L prints `ember.cuda.device('cuda:1')`
    on any machine); entering one makes the device current when it exists.
    """

    def __init__(self, device):
        if device is None or (isinstance(device, int) and device < 0):
            self.idx = -1
        else:
            kind = device if isinstance(device, str) else getattr(device, "type", "cuda")
            self.idx = -1 if str(kind).startswith("cpu") else (device if isinstance(device, int) else _parse(device))
        self.prev_idx = -1

    def __enter__(self):
        if self.idx >= 0:
            self.prev_idx = current_device()
            if self.prev_idx != self.idx:
                set_device(self.idx)
        return self

    def __exit__(self, *exc):
        if self.idx >= 0 and self.prev_idx >= 0 and self.prev_idx != self.idx:
            set_device(self.prev_idx)
        return False


def _parse(spec) -> int:
    """Index of 'cuda', 'cuda:1' or an ember.device, without touching a GPU."""
    if isinstance(spec, str):
        kind, _, idx = spec.partition(":")
        if kind != "cuda":
            raise ValueError(f"expected a CUDA device, got {spec!r}")
        return int(idx) if idx else 0
    idx = getattr(spec, "index", None)
    return 0 if idx is None else int(idx)
