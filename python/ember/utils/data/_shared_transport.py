"""Messages between a DataLoader and its worker processes.

Each worker has one Unix SOCK_SEQPACKET socket pair with the loader (one
record per message, so no framing). A message's Python structure is
pickled; every ember tensor in it is written into a shared-memory file
(memfd) instead, and the record carries that file's descriptor (SCM_RIGHTS).
The receiver maps the file and its tensors are views of the mapping: a
batch's bytes cross between processes once, through memory both map,
never through the socket. The mapping lives as long as any tensor of the
batch; the file has no name, so nothing is left behind when a process dies.

Layout of the shared file: the tensors' bytes (each at a 64-byte aligned
offset), then the pickle. The record is a fixed header giving the pickle's
offset and length; small messages without tensors (task indices, errors)
carry the pickle in the record itself.
"""

import functools
import io
import mmap
import os
import pickle
import socket
import struct
import tempfile

import numpy as np

import ember

__all__ = ["socket_pair", "send_message", "receive_message"]

_HEADER = struct.Struct("<BQQ")  # inline?, pickle offset, pickle length
_INLINE = 0
_SHARED = 1
_INLINE_MAX = 32 * 1024  # larger pickles go through shared memory too
_ALIGN = 64
_MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # Linux


@functools.lru_cache(maxsize=None)
def _dtype_tables():
    """ember dtype -> name and back (built on first use: ember is still
    importing when this module loads). bfloat16 tensors travel as float32
    (numpy has no bfloat16) and are cast back."""
    dtypes = [ember.float32, ember.float64, ember.float16, ember.bfloat16, ember.int64, ember.int32,
              ember.int16, ember.int8, ember.uint8, ember.bool]
    names = {dtype: str(dtype).split(".")[-1] for dtype in dtypes}
    return names, {name: dtype for dtype, name in names.items()}


def socket_pair():
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def _shared_file(nbytes):
    """A descriptor of an anonymous shared-memory file of ``nbytes``."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("ember-dataloader-batch", os.MFD_CLOEXEC)
    else:  # other POSIX systems: a file in a memory-backed folder, unlinked at once
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, path = tempfile.mkstemp(prefix="ember-dataloader-", dir=folder)
        os.unlink(path)
    try:
        os.ftruncate(fd, nbytes)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _round_up(n):
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


class _TensorPickler(pickle.Pickler):
    """Pickles everything but ember tensors, which it lays out for the
    shared file (their bytes are copied in afterwards)."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.tensors = []  # (numpy array to copy, offset)
        self.nbytes = 0

    def persistent_id(self, obj):
        if not isinstance(obj, ember.Tensor):
            return None
        tensor = obj.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.to("cpu")
        dtype = tensor.dtype
        if dtype == ember.bfloat16:
            tensor = tensor.to(ember.float32)
        array = tensor.numpy()
        offset = _round_up(self.nbytes)
        self.nbytes = offset + array.nbytes
        self.tensors.append((array, offset))
        return ("ember.Tensor", _dtype_tables()[0][dtype], tuple(array.shape), array.dtype.str, offset,
                bool(obj.requires_grad))


class _TensorUnpickler(pickle.Unpickler):
    def __init__(self, file, mapping):
        super().__init__(file)
        self.mapping = mapping

    def persistent_load(self, pid):
        _, dtype_name, shape, numpy_dtype, offset, requires_grad = pid
        count = int(np.prod(shape, dtype=np.int64))
        array = np.frombuffer(self.mapping, dtype=np.dtype(numpy_dtype), count=count, offset=offset)
        tensor = ember.from_numpy(array.reshape(shape))  # a view of the shared mapping
        dtype = _dtype_tables()[1][dtype_name]
        if dtype == ember.bfloat16:
            tensor = tensor.to(ember.bfloat16)
        if requires_grad:
            tensor.requires_grad_(True)
        return tensor


def send_message(sock, obj):
    """Send ``obj`` (any picklable structure; ember tensors anywhere in it go
    through shared memory)."""
    buffer = io.BytesIO()
    pickler = _TensorPickler(buffer)
    pickler.dump(obj)
    payload = buffer.getbuffer()
    if not pickler.tensors and len(payload) <= _INLINE_MAX:
        sock.sendmsg([_HEADER.pack(_INLINE, 0, len(payload)), payload])
        return
    pickle_offset = _round_up(pickler.nbytes)
    total = pickle_offset + len(payload)
    fd = _shared_file(total)
    try:
        # pwrite, not a mapping: the kernel allocates the file's pages in
        # bulk instead of taking a page fault per 4 KiB (3x faster for a
        # 12 MB batch of 224x224 images).
        for array, offset in pickler.tensors:
            _write_all(fd, memoryview(np.ascontiguousarray(array)).cast("B"), offset)
        _write_all(fd, payload, pickle_offset)
        socket.send_fds(sock, [_HEADER.pack(_SHARED, pickle_offset, len(payload))], [fd])
    finally:
        os.close(fd)  # the record carries its own descriptor


def _write_all(fd, view, offset):
    while len(view):
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def receive_message(sock):
    """The next message on ``sock``; raises EOFError when the other side has
    closed it (its process ended)."""
    data, fds, _, _ = socket.recv_fds(sock, _HEADER.size + _INLINE_MAX, 1)
    if not data:
        raise EOFError("the other process closed the connection")
    kind, pickle_offset, length = _HEADER.unpack_from(data)
    if kind == _INLINE:
        return pickle.loads(data[_HEADER.size:_HEADER.size + length])
    fd = fds[0]
    try:
        # Populated at once: one call maps every page instead of a fault per page.
        mapping = mmap.mmap(fd, pickle_offset + length, flags=mmap.MAP_SHARED | _MAP_POPULATE)
    finally:
        os.close(fd)
    view = memoryview(mapping)
    try:
        obj = _TensorUnpickler(io.BytesIO(view[pickle_offset:pickle_offset + length]), mapping).load()
    finally:
        view.release()
    return obj
