"""Process groups on Open MPI, through mpi4py, for CPU tensors.

Every collective is MPI's non-blocking form (Iallreduce, Ibcast, ...),
started on the calling thread, so that all ranks start them in the same
order, and then waited on with a deadline (`progress.py`). Buffers are the
tensors' own memory: a contiguous CPU tensor's numpy view goes to MPI
as is (zero-copy); the front end stages anything else.
"""
import numpy as np

from .._group import EngineWork, Group, ReduceOp
from .progress import BackgroundWork, ProgressThread, wait_request

# dtypes MPI moves natively (Open MPI 4.1 has no 16-bit floating types).
_NATIVE = {"bool", "uint8", "int8", "int16", "int32", "int64", "float32", "float64"}


def mpi_available():
    """Whether mpi4py imports (it finds the MPI library at import)."""
    try:
        from mpi4py import MPI  # noqa: F401
    except Exception:  # ImportError, or the MPI shared library is missing
        return False
    return True


def _mpi():
    from mpi4py import MPI
    return MPI


def _array(t):
    """The numpy view of a contiguous CPU tensor (shares its memory)."""
    return t.detach().numpy()


def _mpi_op(op, dtype_name):
    MPI = _mpi()
    if dtype_name == "bool":
        # MPI reduces C_BOOL with logical ops only; PyTorch's SUM/MAX on bool
        # are "any", PRODUCT/MIN are "all".
        return {ReduceOp.SUM: MPI.LOR, ReduceOp.MAX: MPI.LOR, ReduceOp.PRODUCT: MPI.LAND,
                ReduceOp.MIN: MPI.LAND}[op]
    # AVG is SUM here; the front end divides afterwards.
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD, ReduceOp.MIN: MPI.MIN,
            ReduceOp.MAX: MPI.MAX}[op]


class MpiWork(EngineWork):
    def __init__(self, group, request, status):
        self._group = group
        self._request = request
        self._status = status
        self._background = None
        self._done = False

    def start_background(self, deadline):
        """Hands the request to the progress thread (an async_op)."""
        self._background = BackgroundWork(self._request, self._status, deadline)
        self._group._progress.add(self._background)

    def wait(self, deadline):
        if self._done:
            return
        if self._background is not None:
            self._background.wait(deadline)
        else:
            wait_request(self._request, self._status, deadline)
        self._done = True

    def is_completed(self):
        if self._done:
            return True
        if self._background is not None:
            return self._background.is_completed()
        return False

    @property
    def source(self):
        return self._status.Get_source()


class MpiGroup(Group):
    """A process group on a duplicate of COMM_WORLD (or of a subset of it),
    so that user code's own MPI traffic never matches ember's."""

    name = "mpi"

    def __init__(self, comm=None):
        MPI = _mpi()
        self._comm = (comm if comm is not None else MPI.COMM_WORLD).Dup()
        self.rank = self._comm.Get_rank()
        self.size = self._comm.Get_size()
        self._progress = ProgressThread(f"ember-mpi-progress-{id(self):x}")

    @staticmethod
    def world_size_and_rank():
        MPI = _mpi()
        return MPI.COMM_WORLD.Get_size(), MPI.COMM_WORLD.Get_rank()

    def subgroup(self, ranks):
        """A group of `ranks` (collective over this group's ranks); None on a
        rank outside it."""
        MPI = _mpi()
        color = 0 if self.rank in ranks else MPI.UNDEFINED
        sub = self._comm.Split(color, key=sorted(ranks).index(self.rank) if self.rank in ranks else 0)
        if sub == MPI.COMM_NULL:
            return None
        group = MpiGroup(sub)
        sub.Free()
        return group

    def supports(self, dtype):
        return str(dtype)[len("ember."):] in _NATIVE

    def _work(self, request, status=None):
        return MpiWork(self, request, status if status is not None else _mpi().Status())

    def all_reduce(self, buf, op):
        MPI = _mpi()
        return self._work(self._comm.Iallreduce(MPI.IN_PLACE, _array(buf), _mpi_op(op, _name(buf))))

    def broadcast(self, buf, src):
        return self._work(self._comm.Ibcast(_array(buf), root=src))

    def reduce(self, buf, dst, op):
        MPI = _mpi()
        arr = _array(buf)
        mop = _mpi_op(op, _name(buf))
        if self.rank == dst:
            return self._work(self._comm.Ireduce(MPI.IN_PLACE, arr, mop, root=dst))
        return self._work(self._comm.Ireduce(arr, None, mop, root=dst))

    def all_gather(self, out, buf):
        return self._work(self._comm.Iallgather(_array(buf), _array(out)))

    def reduce_scatter(self, out, buf, op):
        return self._work(self._comm.Ireduce_scatter_block(_array(buf), _array(out), _mpi_op(op, _name(buf))))

    def gather(self, out, buf, dst):
        return self._work(self._comm.Igather(_array(buf), _array(out) if out is not None else None, root=dst))

    def scatter(self, out, buf, src):
        return self._work(self._comm.Iscatter(_array(buf) if buf is not None else None, _array(out), root=src))

    def send(self, buf, dst, tag):
        return self._work(self._comm.Isend(_array(buf), dest=dst, tag=tag))

    def recv(self, buf, src, tag):
        MPI = _mpi()
        source = MPI.ANY_SOURCE if src is None else src
        return self._work(self._comm.Irecv(_array(buf), source=source, tag=tag))

    def barrier(self):
        return self._work(self._comm.Ibarrier())

    def exchange_fingerprint(self, record, deadline):
        record = np.ascontiguousarray(record, dtype=np.int64)
        out = np.empty((self.size, record.size), dtype=np.int64)
        wait_request(self._comm.Iallgather(record, out), _mpi().Status(), deadline)
        return out

    def abort(self, reason):
        _mpi().COMM_WORLD.Abort(1)

    def shutdown(self):
        self._progress.stop()
        if self._progress.pending() == 0:
            try:
                self._comm.Free()
            except Exception:  # freeing a broken communicator may fail; the process is ending anyway
                pass


def _name(t):
    return str(t.dtype)[len("ember."):]
