"""Process groups on Open MPI, through mpi4py, for CPU tensors.

Every collective is MPI's blocking call, made in the order the program
calls them, on the calling thread or on the group's communication thread,
always with a deadline (`progress.py` says which and why). Buffers are the
tensors' own memory: a contiguous CPU tensor's numpy view goes to MPI
as is (zero-copy); the front end stages anything else.
"""
import numpy as np

from .._group import EngineWork, Group, ReduceOp
from .progress import CommThread, Watchdog, wait_request

# dtypes MPI moves natively (Open MPI 4.1 has no 16-bit floating types).
_NATIVE = {"bool", "uint8", "int8", "int16", "int32", "int64", "float32", "float64"}


def mpi_available():
    """Whether mpi4py imports (it finds the MPI library at import)."""
    try:
        from mpi4py import MPI  # noqa: F401
    except Exception:  # ImportError, or the MPI shared library is missing
        return False
    return True


_MPI = None


def _mpi():
    global _MPI
    if _MPI is None:
        from mpi4py import MPI
        _MPI = MPI
    return _MPI


def _array(t):
    """The numpy view of a contiguous CPU tensor (shares its memory). The
    front end only passes tensors without autograd history (detached views
    or its own buffers), so no detach() is needed here."""
    return t.numpy()


_OPS = {}
_IN_PLACE = None


def _mpi_op(op, dtype_name):
    if not _OPS:
        global _IN_PLACE
        MPI = _mpi()
        _IN_PLACE = MPI.IN_PLACE
        # AVG is SUM here; the front end divides afterwards.
        _OPS.update({(ReduceOp.SUM, False): MPI.SUM, (ReduceOp.AVG, False): MPI.SUM,
                     (ReduceOp.PRODUCT, False): MPI.PROD, (ReduceOp.MIN, False): MPI.MIN,
                     (ReduceOp.MAX, False): MPI.MAX,
                     # MPI reduces C_BOOL with logical ops only; PyTorch's SUM/MAX
                     # on bool are "any", PRODUCT/MIN are "all".
                     (ReduceOp.SUM, True): MPI.LOR, (ReduceOp.MAX, True): MPI.LOR,
                     (ReduceOp.PRODUCT, True): MPI.LAND, (ReduceOp.MIN, True): MPI.LAND})
    return _OPS[(op, dtype_name == "bool")]


class MpiWork(EngineWork):
    """One blocking MPI call, made when the front end either hands it to
    the communication thread (async_op) or waits for it (see progress.py)."""

    def __init__(self, group, call, status):
        self._group = group
        self._call = call
        self._status = status
        self._queued = None
        self._done = False

    def start_background(self, deadline):
        self._queued = self._group._thread.submit(self._call)

    def wait(self, deadline, describe=None):
        if self._done:
            return
        if self._queued is None:
            if self._group._thread.idle():
                self._group._watchdog_for(describe).watch(deadline, describe)
                try:
                    self._call()
                finally:
                    self._group._watchdog.clear()
                self._done = True
                return
            self._queued = self._group._thread.submit(self._call)  # keeps the order of what is queued
        self._queued.wait(deadline)
        self._done = True

    def is_completed(self):
        return self._done or (self._queued is not None and self._queued.is_completed())

    @property
    def source(self):
        return self._status.Get_source() if self._status is not None else None


class MpiRequestWork(EngineWork):
    """A point-to-point request, started when made."""

    def __init__(self, request, status):
        self._request = request
        self._status = status
        self._done = False

    def wait(self, deadline, describe=None):
        if not self._done:
            wait_request(self._request, self._status, deadline)
            self._done = True

    def is_completed(self):
        if not self._done:
            self._done = bool(self._request.Test(self._status))
        return self._done

    @property
    def source(self):
        return self._status.Get_source()


class MpiGroup(Group):
    """A process group on a duplicate of COMM_WORLD (or of a subset of it),
    so that user code's own MPI traffic never matches ember's."""

    name = "mpi"

    def __init__(self, timeout, comm=None):
        MPI = _mpi()
        self._comm = (comm if comm is not None else MPI.COMM_WORLD).Dup()
        self.rank = self._comm.Get_rank()
        self.size = self._comm.Get_size()
        self._timeout = timeout
        self._thread = CommThread(f"ember-mpi-comm-{id(self):x}")
        self._watchdog = None

    def _watchdog_for(self, describe):
        if self._watchdog is None:
            self._watchdog = Watchdog(f"ember-mpi-watchdog-{id(self):x}", self._timeout, _expired)
        return self._watchdog

    @staticmethod
    def world_size_and_rank():
        MPI = _mpi()
        return MPI.COMM_WORLD.Get_size(), MPI.COMM_WORLD.Get_rank()

    def subgroup(self, ranks, timeout):
        """A group of `ranks` (collective over this group's ranks); None on a
        rank outside it."""
        MPI = _mpi()
        color = 0 if self.rank in ranks else MPI.UNDEFINED
        sub = self._comm.Split(color, key=sorted(ranks).index(self.rank) if self.rank in ranks else 0)
        if sub == MPI.COMM_NULL:
            return None
        group = MpiGroup(timeout, sub)
        sub.Free()
        return group

    def supports(self, dtype):
        ok = _SUPPORTED.get(dtype)
        if ok is None:
            ok = _SUPPORTED[dtype] = str(dtype)[len("ember."):] in _NATIVE
        return ok

    def _work(self, call, status=None):
        return MpiWork(self, call, status)

    def all_reduce(self, buf, op):
        MPI = _mpi()
        arr, mop = _array(buf), _mpi_op(op, _name(buf))
        return self._work(lambda: self._comm.Allreduce(MPI.IN_PLACE, arr, mop))

    def inline_ready(self):
        """Whether a synchronous collective may run on the calling thread
        now: nothing is queued on the communication thread ahead of it."""
        return self._thread.idle()

    def inline_reduce_op(self, dtype, op):
        """The MPI op that reduces `dtype` by `op` as it lies, for
        all_reduce_inline (one dtype lookup: these run on every call); None
        for a dtype MPI does not move as it is (the front end stages it)."""
        ops = _OPS_BY_DTYPE.get(dtype)
        if ops is None:
            if not self.supports(dtype):
                return None
            name = str(dtype)[len("ember."):]
            ops = _OPS_BY_DTYPE[dtype] = {o: _mpi_op(o, name) for o in ReduceOp}
        return ops[op]

    def all_reduce_inline(self, buf, mpi_op, deadline, describe):
        """all_reduce of a contiguous tensor run here and now, watched by
        the watchdog: the blocking path without a Work (the front end's lean
        path, where the Work and its hand-offs were most of ember's cost
        over MPI for messages up to a few MB)."""
        watchdog = self._watchdog or self._watchdog_for(describe)
        watchdog.watch(deadline, describe)
        try:
            self._comm.Allreduce(_IN_PLACE, buf.numpy(), mpi_op)
        finally:
            watchdog.clear()

    def broadcast(self, buf, src):
        arr = _array(buf)
        return self._work(lambda: self._comm.Bcast(arr, root=src))

    def reduce(self, buf, dst, op):
        MPI = _mpi()
        arr, mop = _array(buf), _mpi_op(op, _name(buf))
        if self.rank == dst:
            return self._work(lambda: self._comm.Reduce(MPI.IN_PLACE, arr, mop, root=dst))
        return self._work(lambda: self._comm.Reduce(arr, None, mop, root=dst))

    def all_gather(self, out, buf):
        src, dst = _array(buf), _array(out)
        return self._work(lambda: self._comm.Allgather(src, dst))

    def reduce_scatter(self, out, buf, op):
        src, dst, mop = _array(buf), _array(out), _mpi_op(op, _name(buf))
        return self._work(lambda: self._comm.Reduce_scatter_block(src, dst, mop))

    def gather(self, out, buf, dst):
        src, recv = _array(buf), (_array(out) if out is not None else None)
        return self._work(lambda: self._comm.Gather(src, recv, root=dst))

    def scatter(self, out, buf, src):
        send, recv = (_array(buf) if buf is not None else None), _array(out)
        return self._work(lambda: self._comm.Scatter(send, recv, root=src))

    def send(self, buf, dst, tag):
        return MpiRequestWork(self._comm.Isend(_array(buf), dest=dst, tag=tag), _mpi().Status())

    def recv(self, buf, src, tag):
        MPI = _mpi()
        source = MPI.ANY_SOURCE if src is None else src
        return MpiRequestWork(self._comm.Irecv(_array(buf), source=source, tag=tag), MPI.Status())

    def barrier(self):
        return self._work(self._comm.Barrier)

    def exchange_fingerprint(self, record, deadline, describe=None):
        record = np.ascontiguousarray(record, dtype=np.int64)
        out = np.empty((self.size, record.size), dtype=np.int64)
        self._work(lambda: self._comm.Allgather(record, out)).wait(deadline, describe)
        return out

    def abort(self, reason):
        _mpi().COMM_WORLD.Abort(1)

    def shutdown(self):
        if self._thread.idle():
            try:
                self._comm.Free()
            except Exception:  # freeing a broken communicator may fail; the process is ending anyway
                pass


def _expired(describe):
    from .. import _failure
    message = describe() if describe is not None else "a collective passed its deadline"
    _failure.fail("timeout", f"raised DistributedTimeoutError: {message}")


_SUPPORTED = {}
_NAMES = {}
_OPS_BY_DTYPE = {}  # dtype -> {ReduceOp: MPI op}, for dtypes MPI moves natively (inline_reduce_op)


def _name(t):
    name = _NAMES.get(t.dtype)
    if name is None:
        name = _NAMES[t.dtype] = str(t.dtype)[len("ember."):]
    return name
