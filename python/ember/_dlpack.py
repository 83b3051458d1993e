"""DLPack: zero-copy exchange of tensors with numpy, PyTorch, CuPy, JAX and
any other library that speaks it (PyTorch's torch.utils.dlpack).

`ember.from_dlpack(x)` views the memory of any object with `__dlpack__`
(or a capsule); `Tensor.__dlpack__` hands ember's memory out, as a DLPack
1.x "dltensor_versioned" capsule when the consumer asks with `max_version`,
else as a legacy "dltensor" capsule. Views and strides travel as they are.

Where ember differs from PyTorch, on purpose: a read-only producer (a numpy
array with writeable=False) is copied, since ember tensors are always
writable and an in-place op must not write into memory its owner declared
read-only; `copy=False` then raises BufferError, as the standard says.
Negative strides (numpy's a[::-1]) are copied too: ember has none.
"""
import enum

from . import _C

Tensor = _C.Tensor


class DLDeviceType(enum.IntEnum):
    """DLPack's device types (the first item of `__dlpack_device__()`)."""
    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLVPI = 9
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14
    kDLWebGPU = 15
    kDLHexagon = 16
    kDLMAIA = 17


def dlpack_device(tensor):
    device_type, index = _C._dlpack_device(tensor)
    return DLDeviceType(device_type), index


def to_dlpack(tensor):
    """A legacy "dltensor" capsule viewing `tensor`'s memory, as
    torch.utils.dlpack.to_dlpack (consumers call from_dlpack on it once)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dlpack(): argument 'tensor' must be Tensor, not {type(tensor).__name__}")
    return export(tensor)


def export(tensor, *, stream=None, max_version=None, dl_device=None, copy=None):
    """Tensor.__dlpack__, following the array API standard's protocol."""
    if tensor.requires_grad:
        raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
    device_type, index = _C._dlpack_device(tensor)
    copied = False
    if dl_device is not None:
        wanted = (int(dl_device[0]), int(dl_device[1]))
        if wanted != (device_type, index):
            if copy is False:
                raise BufferError(f"__dlpack__: the tensor is on {tensor.device} and dl_device={wanted} would need "
                                  f"a copy, but copy=False")
            if wanted[0] == DLDeviceType.kDLCPU:
                tensor = _C.to_device(tensor, "cpu")
            elif wanted[0] == DLDeviceType.kDLCUDA:
                tensor = _C.to_device(tensor, f"cuda:{wanted[1]}")
            else:
                raise BufferError(f"__dlpack__: ember cannot export to DLPack device {wanted}")
            device_type, index = wanted
            copied = True
    if copy and not copied:
        tensor = _C.clone(tensor)
        copied = True
    if device_type == DLDeviceType.kDLCPU:
        if stream is not None:
            raise BufferError(f"__dlpack__: stream must be None for a CPU tensor, got {stream!r}")
    elif stream is not None and stream != -1:
        if isinstance(stream, bool) or not isinstance(stream, int):
            raise TypeError(f"__dlpack__: stream must be an int or None, got {type(stream).__name__}")
        # The consumer will read on `stream`: make it wait for ember's queued work.
        _C._cuda_order_stream_after_ember(index, stream)
    versioned = max_version is not None and int(max_version[0]) >= 1
    return _C._to_dlpack(tensor, versioned, copied)


def from_dlpack(ext_tensor, *, device=None, copy=None):
    """An ember tensor viewing the memory of `ext_tensor` (any object with
    `__dlpack__`, or a DLPack capsule). `copy=True` always copies; `copy=False`
    never does (BufferError where a copy is needed); `device` moves the result."""
    if not hasattr(ext_tensor, "__dlpack__"):
        if device is not None or copy is not None:
            raise ValueError("from_dlpack: device and copy are not supported when given a DLPack capsule")
        return _C._from_dlpack(ext_tensor, True)
    kwargs = {"max_version": _C._dlpack_version()}
    if copy is not None:
        kwargs["copy"] = copy
    ext_device = tuple(ext_tensor.__dlpack_device__())
    if int(ext_device[0]) in (DLDeviceType.kDLCUDA, DLDeviceType.kDLCUDAManaged):
        kwargs["stream"] = 1  # ember queues its kernels on the legacy default stream
    try:
        capsule = ext_tensor.__dlpack__(**kwargs)
        producer_copied = copy is True
    except TypeError:
        # A producer from before DLPack 1.0: no max_version, copy or dl_device.
        kwargs.pop("max_version")
        kwargs.pop("copy", None)
        capsule = ext_tensor.__dlpack__(**kwargs)
        producer_copied = False
    out = _C._from_dlpack(capsule, copy is not False)
    if copy is True and not producer_copied:
        out = _C.clone(out)
    if device is not None:
        target = _C.device(device) if isinstance(device, str) else device
        if out.device != target:
            if copy is False:
                raise BufferError(f"from_dlpack: moving the tensor from {out.device} to {target} needs a copy, but "
                                  f"copy=False")
            out = _C.to_device(out, target)
    return out


def install():
    """Adds the DLPack protocol to ember.Tensor (called once by ember/__init__)."""
    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        return export(self, stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self):
        return dlpack_device(self)
    Tensor.__dlpack__ = __dlpack__
    Tensor.__dlpack_device__ = __dlpack_device__
