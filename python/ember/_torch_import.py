"""Reading checkpoints written by ``torch.save`` without PyTorch and without
running any code from the file.

A ``torch.save`` file is a zip archive: ``<name>/data.pkl`` is a pickle of the
object in which every tensor is a call to ``torch._utils._rebuild_tensor_v2``
on a *persistent id* naming a storage, and ``<name>/data/<key>`` holds each
storage's raw little-endian bytes. Unpickling normally imports and calls
whatever the pickle names, which is how a malicious checkpoint runs code. Here
``find_class`` resolves only the handful of names a tensor checkpoint needs,
each to a harmless stand-in defined in this module; anything else raises
``ember.CheckpointError`` naming what was refused. The stand-ins are then
turned into ember tensors by the core (which validates every view against its
storage), once per storage so that tensors sharing memory keep sharing it.
"""

import collections
import io
import pickle
import zipfile

from ember._C import CheckpointError
from ember import _C

ZIP_MAGIC = b"PK\x03\x04"

# torch.<Name>Storage -> safetensors dtype name used by the core.
_STORAGE_DTYPES = {
    "FloatStorage": "F32",
    "DoubleStorage": "F64",
    "HalfStorage": "F16",
    "BFloat16Storage": "BF16",
    "LongStorage": "I64",
    "IntStorage": "I32",
    "ShortStorage": "I16",
    "CharStorage": "I8",
    "ByteStorage": "U8",
    "BoolStorage": "BOOL",
}
_ITEMSIZE = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

# Deepest container nesting accepted (matches ember's own format).
MAX_DEPTH = 100
# A data.pkl larger than this is not a state dict.
MAX_PICKLE_BYTES = 256 * 1024 * 1024


class _StorageType:
    """Stands in for torch.FloatStorage & co.: only its dtype matters."""

    __slots__ = ("dtype", "name")

    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _StorageRef:
    __slots__ = ("key", "dtype", "location", "numel")

    def __init__(self, key, dtype, location, numel):
        self.key, self.dtype, self.location, self.numel = key, dtype, location, numel


class _TensorRef:
    __slots__ = ("storage", "offset", "shape", "strides")

    def __init__(self, storage, offset, shape, strides):
        self.storage, self.offset, self.shape, self.strides = storage, offset, shape, strides


def _int_tuple(value, what):
    if not isinstance(value, (tuple, list)) or len(value) > 64:
        raise CheckpointError(f"PyTorch checkpoint: tensor {what} must be a tuple of integers")
    out = []
    for v in value:
        if type(v) is not int:
            raise CheckpointError(f"PyTorch checkpoint: tensor {what} must be a tuple of integers")
        out.append(v)
    return out


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, _StorageRef):
        raise CheckpointError("PyTorch checkpoint: _rebuild_tensor_v2 called without a storage")
    if type(storage_offset) is not int:
        raise CheckpointError("PyTorch checkpoint: tensor storage offset must be an integer")
    return _TensorRef(storage, storage_offset, _int_tuple(size, "size"), _int_tuple(stride, "stride"))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    if not isinstance(data, _TensorRef):
        raise CheckpointError("PyTorch checkpoint: _rebuild_parameter called without a tensor")
    return data


def _size(*args):
    return tuple(*args)


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch", "Size"): _size,
}
for _name in _STORAGE_DTYPES:
    _ALLOWED[("torch", _name)] = _StorageType(_name)


class _RestrictedUnpickler(pickle._Unpickler):
    """Resolves only the names in _ALLOWED; everything else is refused.

    Built on the pure-Python unpickler on purpose: the C one stores its memo
    in an array sized by the largest index a PUT names, so a 400-byte file
    with ``LONG_BINPUT 1208641635`` made it allocate and clear ~10 GB (found
    by tests/fuzz/fuzz_torch_import.py). The Python one keeps the memo in a
    dict; a state dict's data.pkl is small, so its speed does not matter.
    """

    # The pure-Python unpickler allocates BYTEARRAY8's declared length
    # before reading it: a 100-byte pickle declaring 18 GB took 3 GB before
    # failing (found by tests/fuzz/fuzz_torch_import.py). torch.save never
    # writes that opcode (protocol 2) and a bytearray is no state-dict value,
    # so it is refused outright; the other length-prefixed opcodes only read
    # what the pickle holds.
    dispatch = dict(pickle._Unpickler.dispatch)

    def _refuse_bytearray8(self):
        raise CheckpointError("PyTorch checkpoint: the pickle holds a bytearray (opcode BYTEARRAY8), "
                              "which torch.save never writes")

    dispatch[pickle.BYTEARRAY8[0]] = _refuse_bytearray8

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise CheckpointError(
                f"refusing to load '{module}.{name}' from a PyTorch checkpoint: ember only loads tensors, "
                "lists, tuples, dicts and plain values, and never runs code from a file") from None

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[2], str)
                or not isinstance(pid[3], str) or type(pid[4]) is not int or pid[4] < 0):
            raise CheckpointError(f"PyTorch checkpoint: unsupported persistent id {pid!r:.100}")
        return _StorageRef(pid[2], pid[1].dtype, pid[3], pid[4])


def _walk(obj, depth, visit):
    """Rebuilds obj with every _TensorRef replaced by visit(ref)."""
    if depth > MAX_DEPTH:
        raise CheckpointError(
            f"PyTorch checkpoint: containers nest deeper than {MAX_DEPTH} levels (or contain themselves)")
    if isinstance(obj, _TensorRef):
        return visit(obj)
    if obj is None or type(obj) in (bool, int, float, str, bytes, complex):
        return obj
    if type(obj) is list:
        return [_walk(v, depth + 1, visit) for v in obj]
    if type(obj) is tuple:
        return tuple(_walk(v, depth + 1, visit) for v in obj)
    if type(obj) in (dict, collections.OrderedDict):
        out = type(obj)()
        for k, v in obj.items():
            out[_walk(k, depth + 1, visit)] = _walk(v, depth + 1, visit)
        if type(obj) is collections.OrderedDict and isinstance(getattr(obj, "_metadata", None), dict):
            out._metadata = obj._metadata  # what nn.Module.state_dict() attaches
        return out
    raise CheckpointError(f"PyTorch checkpoint: unsupported object of type {type(obj).__name__}")


def is_torch_zip(head):
    return head[:4] == ZIP_MAGIC


def load(source, map_all=None, remap=()):
    """Loads a torch.save zip checkpoint from a path or a binary file object.

    Any failure while reading the archive or the pickle becomes a
    CheckpointError: a hostile file must not surface as an arbitrary exception.
    """
    try:
        zf = zipfile.ZipFile(source)
    except Exception as e:
        raise CheckpointError(f"not a valid PyTorch checkpoint (bad zip archive): {type(e).__name__}: {e}") from None
    with zf:
        try:
            return _load_zip(zf, map_all, list(remap))
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"malformed PyTorch checkpoint: {type(e).__name__}: {e}") from None


def _load_zip(zf, map_all, remap):
    pickles = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise CheckpointError("not a PyTorch checkpoint: the zip archive has no single '<name>/data.pkl'")
    prefix = pickles[0][: -len("data.pkl")]
    info = zf.getinfo(pickles[0])
    if info.file_size > MAX_PICKLE_BYTES:
        raise CheckpointError(f"PyTorch checkpoint: data.pkl is {info.file_size} bytes, more than ember accepts")
    names = set(zf.namelist())
    if prefix + "byteorder" in names:
        order = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if order != "little":
            raise CheckpointError(f"PyTorch checkpoint stored in {order!r} byte order; ember reads little-endian only")
    obj = _RestrictedUnpickler(io.BytesIO(zf.read(pickles[0]))).load()

    # Replace each distinct tensor by a numbered placeholder, collecting the
    # storages it views (read once each, in order of appearance).
    placeholders, storage_index, storages, views = {}, {}, [], []

    def visit(ref):
        if id(ref) in placeholders:
            return placeholders[id(ref)]
        st = ref.storage
        if st.key not in storage_index:
            record = prefix + "data/" + st.key
            if record not in names:
                raise CheckpointError(f"PyTorch checkpoint: storage record '{record}' is missing")
            rinfo = zf.getinfo(record)
            expected = st.numel * _ITEMSIZE[st.dtype]
            if rinfo.compress_type != zipfile.ZIP_STORED:
                raise CheckpointError(f"PyTorch checkpoint: storage record '{record}' is compressed")
            if rinfo.file_size != expected:
                raise CheckpointError(
                    f"PyTorch checkpoint: storage record '{record}' holds {rinfo.file_size} bytes, "
                    f"its header says {expected}")
            location = "cuda:0" if st.location == "cuda" else st.location
            storage_index[st.key] = len(storages)
            storages.append((zf.read(record), location))
        views.append((storage_index[st.key], st.dtype, ref.shape, ref.strides, ref.offset))
        placeholders[id(ref)] = _Placeholder(len(views) - 1)
        return placeholders[id(ref)]

    marked = _walk(obj, 0, visit)
    tensors = _C._io_tensors_from_raw(storages, views, map_all, remap) if views else []
    return _fill(marked, tensors)


class _Placeholder:
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def _fill(obj, tensors):
    """Puts the built tensors where _walk left placeholders (depth already checked)."""
    if isinstance(obj, _Placeholder):
        return tensors[obj.index]
    if type(obj) is list:
        return [_fill(v, tensors) for v in obj]
    if type(obj) is tuple:
        return tuple(_fill(v, tensors) for v in obj)
    if type(obj) in (dict, collections.OrderedDict):
        out = type(obj)()
        for k, v in obj.items():
            out[k] = _fill(v, tensors)
        if hasattr(obj, "_metadata"):
            out._metadata = obj._metadata
        return out
    return obj
