"""Collectives on picklable Python objects (PyTorch's all_gather_object,
broadcast_object_list, gather_object, scatter_object_list): each object is
pickled into a uint8 tensor; sizes are exchanged first so that every rank
can allocate the padded buffers."""
import pickle

import numpy as np

from .. import _C
from . import _collectives as C

_UINT8 = _C.dtype.uint8
_INT64 = _C.dtype.int64


def _device(pg):
    return _C.device(f"cuda:{pg.engine.device}") if pg.backend == "nccl" else _C.device("cpu")


def _encode(obj, device):
    data = pickle.dumps(obj)
    t = _C.from_numpy(np.frombuffer(bytearray(data), dtype=np.uint8))
    return t if device.type == "cpu" else _C.to_device(t, str(device)), len(data)


def _decode(t, size):
    cpu = t if t.device.type == "cpu" else _C.to_device(t, "cpu")
    return pickle.loads(cpu[:size].numpy().tobytes())


def _sizes(pg, n, device):
    mine = _C.full([1], n, _INT64, device)
    everyone = [_C.full([1], 0, _INT64, device) for _ in range(pg.size())]
    C.all_gather(everyone, mine, group=pg)
    return [int(s.item()) for s in everyone]


def all_gather_object(object_list, obj, group=None):
    """object_list[r] receives rank r's `obj`."""
    pg = C._resolve(group)
    if not isinstance(object_list, list) or len(object_list) != pg.size():
        raise ValueError(f"object_list must be a list of world size ({pg.size()}) entries")
    device = _device(pg)
    data, n = _encode(obj, device)
    sizes = _sizes(pg, n, device)
    width = max(sizes)
    padded = _C.full([width], 0, _UINT8, device)
    padded[:n].copy_(data)
    out = [_C.full([width], 0, _UINT8, device) for _ in range(pg.size())]
    C.all_gather(out, padded, group=pg)
    for r in range(pg.size()):
        object_list[r] = _decode(out[r], sizes[r])


def broadcast_object_list(object_list, src=0, group=None, device=None):
    """Every rank's object_list becomes rank `src`'s (same length on all ranks)."""
    pg = C._resolve(group)
    if not isinstance(object_list, list):
        raise TypeError(f"object_list must be a list, got {type(object_list).__name__}")
    dev = _device(pg)
    root = C._check_rank(pg, src, "src")
    if pg.rank() == root:
        data, n = _encode(object_list, dev)
    else:
        data, n = None, 0
    size = _C.full([1], n, _INT64, dev)
    C.broadcast(size, src, group=pg)
    n = int(size.item())
    buf = data if data is not None else _C.full([n], 0, _UINT8, dev)
    C.broadcast(buf, src, group=pg)
    if pg.rank() != root:
        received = _decode(buf, n)
        if len(received) != len(object_list):
            raise ValueError(f"broadcast_object_list: rank {src} sent {len(received)} objects, this rank's list "
                             f"has {len(object_list)}")
        object_list[:] = received
