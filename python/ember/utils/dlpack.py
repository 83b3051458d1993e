"""DLPack interchange, as torch.utils.dlpack: `to_dlpack(tensor)` gives a
legacy capsule, `from_dlpack(obj_or_capsule)` an ember tensor sharing its
memory (see ember._dlpack for the details)."""
from .._dlpack import DLDeviceType, from_dlpack, to_dlpack

__all__ = ["DLDeviceType", "to_dlpack", "from_dlpack"]
