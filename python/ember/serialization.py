"""ember.save / ember.load: safe, atomic, safetensors-compatible checkpoints.

Every file ember writes is a valid safetensors file; a flat dict of
str -> tensor (a state dict) has one entry per key, so
``safetensors.numpy.load_file`` reads it with the same names. Everything
else (nesting, containers, scalars, storage sharing) is described in the
safetensors ``__metadata__``; the format is documented in csrc/io/checkpoint.h.
Encoding, decoding and all validation happen in the C++ core; writes to a path
are atomic (temporary file, fsync, rename, fsync of the folder).

``ember.load`` also reads files written by the ``safetensors`` package and, without
PyTorch and without running code, zip files written by ``torch.save``.
"""

import io
import os

from ember import _C
from ember._C import CheckpointError
from ember import _background_save, _torch_import

__all__ = ["save", "load", "CheckpointError"]


def _is_path(f):
    return isinstance(f, (str, bytes, os.PathLike))


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False, *, background=False):
    """Saves ``obj`` (tensors, lists, tuples, dicts, OrderedDicts and None/bool/
    int/float/str, nested) to a path or a writable binary file object.

    Writes to a path replace the file atomically and durably: the data and
    the folder entry are fsync'ed before ``save`` returns, so a process
    killed (or a power cut) at any moment leaves the old file or the new one.

    ``background=True`` (paths only) returns as soon as a snapshot of every
    tensor has been taken (host tensors copied, CUDA tensors copied to host
    memory) and hands back a ``concurrent.futures.Future``; the write, the
    fsyncs and the rename run on a background thread, and the future
    completes (``result()`` returns None, or raises the save's error) only
    after them. Changing the tensors after the call never reaches the file.
    The snapshot costs one extra copy of the state being saved in host
    memory until the write finishes. A save or load of the same path waits
    for the pending background save first, and the interpreter finishes
    every pending save before it exits.

    The PyTorch-only arguments are accepted and ignored.
    """
    if background:
        if not _is_path(f):
            raise TypeError("ember.save: background=True needs a path to write to, got "
                            f"{type(f).__name__}")
        return _background_save.save(obj, os.fsdecode(os.fspath(f)))
    if _is_path(f):
        path = os.fsdecode(os.fspath(f))
        _background_save.wait_for_pending(path)
        _C._io_save_file(obj, path)
    elif hasattr(f, "write"):
        f.write(_C._io_save_bytes(obj))
    else:
        raise TypeError(f"ember.save: expected a path or a writable binary file object, got {type(f).__name__}")


def _device_str(d, what):
    if isinstance(d, str):
        s = d
    elif hasattr(d, "type") and hasattr(d, "index"):  # ember.device, torch.device
        s = str(d)
    else:
        raise TypeError(f"ember.load: {what} must be a device or a device string, got {type(d).__name__}")
    return "cuda:0" if s == "cuda" else s


def _resolve_map_location(map_location):
    """-> (device for every tensor or None, [(saved device, device), ...])."""
    if map_location is None:
        return None, []
    if isinstance(map_location, dict):
        return None, [(_device_str(k, "map_location keys"), _device_str(v, "map_location values"))
                      for k, v in map_location.items()]
    if callable(map_location) and not isinstance(map_location, str) and not hasattr(map_location, "type"):
        raise TypeError("ember.load: a callable map_location is not supported; pass a device such as 'cpu' "
                        "or a dict such as {'cuda:1': 'cuda:0'}")
    return _device_str(map_location, "map_location"), []


def load(f, map_location=None, mmap=False, weights_only=True, pickle_module=None, **pickle_load_args):
    """Loads what ``save`` wrote, a safetensors file, or a ``torch.save`` zip file.

    ``map_location``: None (tensors go back to the device they were saved
    from), a device ('cpu', 'cuda', 'cuda:1', ember.device) or a dict mapping
    saved device strings to devices. ``mmap=True`` maps a file instead of
    reading it (tensors borrow the pages; writing to them does not change the
    file). No code from the file is ever run, whatever ``weights_only`` says.
    Malformed or hostile files raise ``ember.CheckpointError``.
    """
    map_all, remap = _resolve_map_location(map_location)
    if _is_path(f):
        path = os.fsdecode(os.fspath(f))
        _background_save.wait_for_pending(path)
        with open(path, "rb") as fh:
            head = fh.read(8)
        if _torch_import.is_torch_zip(head):
            return _torch_import.load(path, map_all, remap)
        _refuse_legacy_torch(head)
        return _C._io_load_file(path, bool(mmap), map_all, remap)
    if not hasattr(f, "read"):
        raise TypeError(f"ember.load: expected a path or a readable binary file object, got {type(f).__name__}")
    data = f.read()
    if isinstance(data, str):
        raise TypeError("ember.load: the file object must be opened in binary mode")
    if _torch_import.is_torch_zip(data[:8]):
        return _torch_import.load(io.BytesIO(data), map_all, remap)
    _refuse_legacy_torch(data[:8])
    return _C._io_load_bytes(memoryview(data).cast("B") if not isinstance(data, bytes) else data, map_all, remap)


def _refuse_legacy_torch(head):
    # torch.save(..., _use_new_zipfile_serialization=False) starts with a pickle
    # (protocol 2) whose first object is a 10-byte magic number: LONG1 of 10
    # bytes. As a safetensors length prefix this would exceed the header cap.
    if head[:4] == b"\x80\x02\x8a\x0a":
        raise CheckpointError("this is a legacy (pre-zip) PyTorch checkpoint, which ember does not read; "
                              "re-save it with a current torch.save")
