"""The one interface every communication engine implements (MPI for CPU
tensors, NCCL for CUDA tensors), chosen once at init_process_group.

The front end (`_collectives.py`) checks arguments, stages tensors into
buffers the engine can use (contiguous, a dtype the engine has) and numbers
each call; an engine only moves contiguous tensors. Each method starts the
operation and returns an `EngineWork`; nothing above this file touches MPI
or NCCL, so DistributedDataParallel works on either.
"""
import abc
import enum


class ReduceOp(enum.Enum):
    """Reduction operators of all_reduce, reduce and reduce_scatter_tensor."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"

    def __repr__(self):
        return f"<ReduceOp.{self.name}>"


class DistributedError(RuntimeError):
    """A collective failed (a peer left, the engine reported an error)."""


class DistributedTimeoutError(DistributedError, TimeoutError):
    """A collective did not complete within the process group's deadline."""


class EngineWork(abc.ABC):
    """One started operation of an engine."""

    @abc.abstractmethod
    def wait(self, deadline, describe=None):
        """Blocks (never spins) until done; `deadline` is a time.monotonic()
        value. Raises DistributedTimeoutError past it (with no description:
        the front end adds what the call was) or DistributedError. An engine
        that cannot interrupt a call ends the job past the deadline instead,
        with `describe()` as its last word."""

    @abc.abstractmethod
    def is_completed(self):
        """True once the operation finished (successfully or not)."""

    def start_background(self, deadline):
        """For async_op: lets the engine progress the work while the caller
        computes (the MPI engine's progress thread; NCCL needs nothing)."""

    @property
    def source(self):
        """The sender of a completed recv."""
        return None


class Group(abc.ABC):
    """A set of ranks on one engine. Buffers are contiguous ember tensors of
    a dtype the engine supports (see `supports`) on the engine's device."""

    name = "abstract"
    rank = 0
    size = 1

    @abc.abstractmethod
    def supports(self, dtype):
        """Whether the engine moves this dtype natively."""

    @abc.abstractmethod
    def all_reduce(self, buf, op): ...

    @abc.abstractmethod
    def broadcast(self, buf, src): ...

    @abc.abstractmethod
    def reduce(self, buf, dst, op): ...

    @abc.abstractmethod
    def all_gather(self, out, buf):
        """`out` holds `size` copies of buf's shape, rank order."""

    @abc.abstractmethod
    def reduce_scatter(self, out, buf, op):
        """`buf` holds `size` blocks of out's shape; rank r gets block r."""

    @abc.abstractmethod
    def gather(self, out, buf, dst):
        """`out` (on dst only; None elsewhere) as in all_gather."""

    @abc.abstractmethod
    def scatter(self, out, buf, src):
        """`buf` (on src only; None elsewhere) as in reduce_scatter."""

    @abc.abstractmethod
    def send(self, buf, dst, tag): ...

    @abc.abstractmethod
    def recv(self, buf, src, tag):
        """src may be None (any source); the work's `source` names the sender."""

    @abc.abstractmethod
    def barrier(self): ...

    @abc.abstractmethod
    def exchange_fingerprint(self, record, deadline, describe=None):
        """All-gathers a small int64 numpy record (debug mode); returns the
        (size, len) array. Synchronous, with the collective's deadline."""

    @abc.abstractmethod
    def abort(self, reason):
        """Ends the whole job at once (used after an unrecoverable error)."""

    def shutdown(self):
        """Releases the engine's resources (destroy_process_group)."""
