"""EMBER_DISTRIBUTED_DEBUG=1: before each collective, the ranks compare what
they are about to call (kind, dtype, shape, op, root), so that mismatched
calls raise on every rank with each rank's call named, instead of
corrupting memory or hanging."""
import numpy as np

from ._group import ReduceOp
from ._job_status import COLLECTIVES

_MAX_DIMS = 8
_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
_OPS = [None] + list(ReduceOp)
_HEADER = 6  # seq, kind, dtype, op, root, ndim


def fingerprint(seq, name, tensor, op, root):
    rec = np.full(_HEADER + _MAX_DIMS, -1, dtype=np.int64)
    rec[0] = seq
    rec[1] = COLLECTIVES.index(name)
    if tensor is not None:
        rec[2] = _DTYPES.index(str(tensor.dtype)[len("ember."):])
        shape = list(tensor.shape)
        rec[5] = len(shape)
        for i, s in enumerate(shape[:_MAX_DIMS]):
            rec[_HEADER + i] = s
        if len(shape) > _MAX_DIMS:  # fold the rest into the last slot
            rec[_HEADER + _MAX_DIMS - 1] = int(np.prod(shape[_MAX_DIMS - 1:]))
    rec[3] = _OPS.index(op)
    rec[4] = -1 if root is None else root
    return rec


def describe(rec):
    name = COLLECTIVES[int(rec[1])]
    parts = []
    if rec[2] >= 0:
        ndim = int(rec[5])
        shape = [int(s) for s in rec[_HEADER:_HEADER + min(ndim, _MAX_DIMS)]]
        parts.append(f"{_DTYPES[int(rec[2])]} {shape}")
    if rec[3] > 0:
        parts.append(f"op={_OPS[int(rec[3])].name}")
    if rec[4] >= 0:
        parts.append(f"root={int(rec[4])}")
    return f"{name} #{int(rec[0])}({', '.join(parts)})"


def check(group, record, deadline, on_timeout=None):
    """Raises RuntimeError on every rank when the ranks' records differ."""
    table = group.exchange_fingerprint(record, deadline, on_timeout)
    if (table == table[0]).all():
        return
    calls = "; ".join(f"rank {r}: {describe(row)}" for r, row in enumerate(table))
    raise RuntimeError(f"EMBER_DISTRIBUTED_DEBUG: the ranks called different collectives (nothing was "
                       f"communicated): {calls}")
