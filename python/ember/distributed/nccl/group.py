"""Process groups on NCCL for CUDA tensors (ctypes on libnccl.so.2).

The communicator is non-blocking (ncclConfig_t.blocking = 0): every NCCL
call returns at once and its state is polled with sleeps until the
group's deadline, after which the communicator is aborted (ncclCommAbort)
and the call raises, so a dead peer cannot hang the job. The unique id is
made by rank 0 and shared over MPI; a one-rank group needs no exchange, so
it starts without MPI.

Streams: each collective runs on the group's communication stream after an
event recorded on the default stream (so it reads finished data); wait()
makes the default stream wait for the collective's completion event, as
PyTorch's Work.wait() does. Cross-stream safety with ember's caching
allocator: the allocator has no record_stream yet (a block freed on the
default stream could be reused while the communication stream still reads
it). Instead every in-flight collective keeps its tensors alive until its
completion event has fired (PyTorch's TORCH_NCCL_AVOID_RECORD_STREAMS
scheme); see ARCHITECTURE.md for the allocator change that would replace it.
"""
import ctypes
import glob
import os
import sys
import time

from ..._C import dtype as _dt
from .._group import DistributedTimeoutError, EngineWork, Group, ReduceOp
from . import loader

_IN_PROGRESS = 7  # ncclInProgress
_SUCCESS = 0
_INT_MIN = -2147483648  # NCCL_CONFIG_UNDEF_INT
_DTYPES = {"int8": 0, "uint8": 1, "bool": 1, "int32": 2, "int64": 4, "float16": 6, "float32": 7, "float64": 8,
           "bfloat16": 9}
_OPS = {ReduceOp.SUM: 0, ReduceOp.AVG: 0, ReduceOp.PRODUCT: 1, ReduceOp.MAX: 2, ReduceOp.MIN: 3}
_BOOL_OPS = {ReduceOp.SUM: 2, ReduceOp.MAX: 2, ReduceOp.PRODUCT: 3, ReduceOp.MIN: 3}  # any / all


class _UniqueId(ctypes.Structure):
    _fields_ = [("internal", ctypes.c_char * 128)]


class _Config(ctypes.Structure):
    """The leading fields of ncclConfig_t (NCCL reads `size` to know which follow)."""
    _fields_ = [("size", ctypes.c_size_t), ("magic", ctypes.c_uint), ("version", ctypes.c_uint),
                ("blocking", ctypes.c_int), ("cgaClusterSize", ctypes.c_int), ("minCTAs", ctypes.c_int),
                ("maxCTAs", ctypes.c_int), ("netName", ctypes.c_char_p), ("splitShare", ctypes.c_int)]


_cudart = None


def _cuda_runtime():
    """libcudart for streams and events (ember's own runtime is linked
    statically into its module and not reachable from Python)."""
    global _cudart
    if _cudart is None:
        override = os.environ.get("EMBER_CUDART_LIBRARY")
        names = [override] if override else []
        for entry in sys.path:
            for sub in ("cuda_runtime", "cu13", "cu12"):
                names += sorted(glob.glob(os.path.join(entry or ".", "nvidia", sub, "lib", "libcudart.so*")))
        names += ["libcudart.so.13", "libcudart.so.12", "libcudart.so"]
        for name in names:
            try:
                _cudart = ctypes.CDLL(name)
                break
            except OSError:
                continue
        else:
            raise loader.NcclUnavailableError("the NCCL backend needs the CUDA runtime library (libcudart.so): "
                                              "pip install nvidia-cuda-runtime, or set EMBER_CUDART_LIBRARY")
    return _cudart


def _check_cuda(code, what):
    if code != 0:
        raise RuntimeError(f"CUDA error {code} in {what}")


class _Event:
    def __init__(self):
        self.handle = ctypes.c_void_p()
        _check_cuda(_cuda_runtime().cudaEventCreateWithFlags(ctypes.byref(self.handle), 2), "cudaEventCreate")

    def record(self, stream):
        _check_cuda(_cuda_runtime().cudaEventRecord(self.handle, stream), "cudaEventRecord")

    def done(self):
        return _cuda_runtime().cudaEventQuery(self.handle) == 0

    def __del__(self):
        if _cudart is not None and self.handle:
            _cudart.cudaEventDestroy(self.handle)


class NcclWork(EngineWork):
    def __init__(self, group, tensors):
        self._group = group
        self._tensors = tensors  # alive until the completion event fires (allocator safety)
        self._event = _Event()
        self._event.record(group.stream)
        group.in_flight.append(self)

    def is_completed(self):
        if self._tensors is not None and self._event.done():
            self._tensors = None
        return self._tensors is None

    def wait(self, deadline, describe=None):
        # The default stream waits for the collective; the host only polls
        # the communicator for errors until then.
        _check_cuda(_cuda_runtime().cudaStreamWaitEvent(None, self._event.handle, 0), "cudaStreamWaitEvent")
        while not self.is_completed():
            self._group.check_async_error(deadline)
            time.sleep(1e-4)


class NcclGroup(Group):
    name = "nccl"

    @classmethod
    def create(cls, size, rank, local_rank, timeout):
        from ... import cuda
        if not cuda.is_available():
            raise loader.NcclUnavailableError("the nccl backend needs a CUDA GPU and ember built with CUDA; none is "
                                              "available (use backend='gloo' for CPU tensors)")
        return cls(size, rank, local_rank, timeout)

    def __init__(self, size, rank, local_rank, timeout):
        from ... import cuda
        self.lib = loader.load()
        self.size, self.rank = size, rank
        self.device = local_rank % max(1, cuda.device_count())
        cuda.set_device(self.device)
        self.in_flight = []
        uid = _UniqueId()
        if rank == 0:
            self._call(self.lib.ncclGetUniqueId(ctypes.byref(uid)), "ncclGetUniqueId")
        if size > 1:  # one rank needs no exchange (and no MPI)
            from mpi4py import MPI
            buf = bytearray(uid.internal.raw if rank == 0 else bytes(128))
            MPI.COMM_WORLD.Bcast(buf, root=0)
            ctypes.memmove(ctypes.addressof(uid), bytes(buf), 128)
        self.stream = ctypes.c_void_p()
        _check_cuda(_cuda_runtime().cudaStreamCreateWithFlags(ctypes.byref(self.stream), 1), "cudaStreamCreate")
        config = _Config(ctypes.sizeof(_Config), 0xCAFEBEEF, loader.version(), 0, _INT_MIN, _INT_MIN, _INT_MIN,
                         None, _INT_MIN)
        self.comm = ctypes.c_void_p()
        code = self.lib.ncclCommInitRankConfig(ctypes.byref(self.comm), size, uid, rank, ctypes.byref(config))
        if code not in (_SUCCESS, _IN_PROGRESS):
            self._call(code, "ncclCommInitRankConfig")
        self.check_async_error(time.monotonic() + timeout, until_ready=True)

    def _call(self, code, what):
        if code not in (_SUCCESS, _IN_PROGRESS):
            self.lib.ncclGetErrorString.restype = ctypes.c_char_p
            raise RuntimeError(f"NCCL error in {what}: {self.lib.ncclGetErrorString(code).decode()}")

    def check_async_error(self, deadline, until_ready=False):
        state = ctypes.c_int(_IN_PROGRESS)
        while True:
            self.lib.ncclCommGetAsyncError(self.comm, ctypes.byref(state))
            if state.value not in (_SUCCESS, _IN_PROGRESS):
                self._call(state.value, "the communicator")
            if state.value == _SUCCESS or not until_ready:
                if time.monotonic() >= deadline:
                    self.lib.ncclCommAbort(self.comm)
                    raise DistributedTimeoutError("")
                return
            if time.monotonic() >= deadline:
                self.lib.ncclCommAbort(self.comm)
                raise DistributedTimeoutError("")
            time.sleep(1e-4)

    def supports(self, dtype):
        return str(dtype)[len("ember."):] in _DTYPES

    def _launch(self, what, tensors, fn):
        self.in_flight = [w for w in self.in_flight if not w.is_completed()]
        ready = _Event()
        ready.record(None)  # the default stream's work on these tensors
        _check_cuda(_cuda_runtime().cudaStreamWaitEvent(self.stream, ready.handle, 0), "cudaStreamWaitEvent")
        self._call(fn(), what)
        return NcclWork(self, tensors)

    @staticmethod
    def _ptr(t):
        return ctypes.c_void_p(t.data_ptr())

    def _dtype(self, t):
        return _DTYPES[str(t.dtype)[len("ember."):]]

    def _op(self, op, t):
        return (_BOOL_OPS if t.dtype == _dt.bool else _OPS)[op]

    def all_reduce(self, buf, op):
        return self._launch("ncclAllReduce", [buf], lambda: self.lib.ncclAllReduce(
            self._ptr(buf), self._ptr(buf), ctypes.c_size_t(buf.numel()), self._dtype(buf), self._op(op, buf),
            self.comm, self.stream))

    def broadcast(self, buf, src):
        return self._launch("ncclBroadcast", [buf], lambda: self.lib.ncclBroadcast(
            self._ptr(buf), self._ptr(buf), ctypes.c_size_t(buf.numel()), self._dtype(buf), src, self.comm,
            self.stream))

    def reduce(self, buf, dst, op):
        return self._launch("ncclReduce", [buf], lambda: self.lib.ncclReduce(
            self._ptr(buf), self._ptr(buf), ctypes.c_size_t(buf.numel()), self._dtype(buf), self._op(op, buf), dst,
            self.comm, self.stream))

    def all_gather(self, out, buf):
        return self._launch("ncclAllGather", [out, buf], lambda: self.lib.ncclAllGather(
            self._ptr(buf), self._ptr(out), ctypes.c_size_t(buf.numel()), self._dtype(buf), self.comm, self.stream))

    def reduce_scatter(self, out, buf, op):
        return self._launch("ncclReduceScatter", [out, buf], lambda: self.lib.ncclReduceScatter(
            self._ptr(buf), self._ptr(out), ctypes.c_size_t(out.numel()), self._dtype(buf), self._op(op, buf),
            self.comm, self.stream))

    def _grouped(self, calls):
        self._call(self.lib.ncclGroupStart(), "ncclGroupStart")
        for c in calls:
            self._call(c(), "a grouped send/recv")
        return self.lib.ncclGroupEnd()

    def gather(self, out, buf, dst):
        n = buf.numel()
        calls = [lambda: self.lib.ncclSend(self._ptr(buf), ctypes.c_size_t(n), self._dtype(buf), dst, self.comm,
                                           self.stream)]
        if self.rank == dst:
            calls += [lambda r=r: self.lib.ncclRecv(self._ptr(out[r]), ctypes.c_size_t(n), self._dtype(buf), r,
                                                    self.comm, self.stream) for r in range(self.size)]
        return self._launch("gather", [t for t in (out, buf) if t is not None], lambda: self._grouped(calls))

    def scatter(self, out, buf, src):
        n = out.numel()
        calls = [lambda: self.lib.ncclRecv(self._ptr(out), ctypes.c_size_t(n), self._dtype(out), src, self.comm,
                                           self.stream)]
        if self.rank == src:
            calls += [lambda r=r: self.lib.ncclSend(self._ptr(buf[r]), ctypes.c_size_t(n), self._dtype(out), r,
                                                    self.comm, self.stream) for r in range(self.size)]
        return self._launch("scatter", [t for t in (out, buf) if t is not None], lambda: self._grouped(calls))

    def send(self, buf, dst, tag):
        return self._launch("ncclSend", [buf], lambda: self.lib.ncclSend(
            self._ptr(buf), ctypes.c_size_t(buf.numel()), self._dtype(buf), dst, self.comm, self.stream))

    def recv(self, buf, src, tag):
        if src is None:
            raise ValueError("the nccl backend cannot receive from any source: name src")
        return self._launch("ncclRecv", [buf], lambda: self.lib.ncclRecv(
            self._ptr(buf), ctypes.c_size_t(buf.numel()), self._dtype(buf), src, self.comm, self.stream))

    def barrier(self):
        from ... import _C
        one = _C.full([1], 1, _dt.float32, _C.device(f"cuda:{self.device}"))
        return self.all_reduce(one, ReduceOp.SUM)

    def exchange_fingerprint(self, record, deadline, describe=None):
        import numpy as np
        if self.size == 1:
            return np.asarray(record, dtype=np.int64).reshape(1, -1)
        from mpi4py import MPI
        out = np.empty((self.size, len(record)), dtype=np.int64)
        MPI.COMM_WORLD.Allgather(np.ascontiguousarray(record, dtype=np.int64), out)
        return out

    def abort(self, reason):
        self.lib.ncclCommAbort(self.comm)

    def shutdown(self):
        for w in self.in_flight:
            w.wait(time.monotonic() + 60)
        self.lib.ncclCommDestroy(self.comm)
