"""The public process-group API (PyTorch's `torch.distributed`), on one
engine chosen at init_process_group: MPI for CPU tensors, NCCL for CUDA.

Each call: checks its arguments (PyTorch's exception types), numbers
itself, stages tensors the engine cannot use as they are (non-contiguous:
a contiguous copy, copied back after; float16/bfloat16 on MPI: a float32
copy, since Open MPI 4.1 has no 16-bit floating types), starts the
engine's operation and waits with the group's deadline, or returns a Work
(async_op=True). A contiguous CPU tensor of a type MPI has is handed to MPI
as its own memory (zero-copy).
"""
import time

from .. import _C
from . import _debug, _env, _job_status
from ._group import DistributedError, DistributedTimeoutError, ReduceOp

_default = None  # the world ProcessGroup once initialized

_FLOAT32 = _C.dtype.float32
_FLOATING = {"float16", "bfloat16", "float32", "float64"}


class ProcessGroup:
    """A set of ranks (global rank numbers) on one engine, with its deadline
    and the count of collectives called on it."""

    def __init__(self, engine, backend, timeout, ranks):
        self.engine = engine
        self.backend = backend
        self.timeout = timeout
        self.ranks = list(ranks)
        self.seq = 0
        self.broken = None
        self.debug = _env.debug_enabled()  # read once: it is checked on every call

    def rank(self):
        return self.engine.rank

    def size(self):
        return self.engine.size

    def __repr__(self):
        return f"<ember.distributed.ProcessGroup backend={self.backend} ranks={self.ranks}>"


class group:  # noqa: N801 - PyTorch's name (dist.group.WORLD)
    WORLD = None


class Backend(str):
    """Backend names, as PyTorch spells them."""
    GLOO = "gloo"
    MPI = "mpi"
    NCCL = "nccl"


class Work:
    """What an async_op=True collective returns."""

    def __init__(self, pg, engine_work, what, seq, deadline, finish, result):
        self._pg = pg
        self._seq = seq
        self._engine_work = engine_work
        self._what = what
        self._deadline = deadline
        self._finish = finish
        self._result = result
        self._done = False
        self._exception = None
        self._source = None

    def wait(self, timeout=None):
        """Blocks until done (or the process group's deadline; `timeout`, a
        timedelta or seconds, may shorten it) and returns True."""
        if self._exception is not None:
            raise self._exception
        if self._done:
            return True
        deadline = self._deadline
        if timeout is not None:
            deadline = min(deadline, time.monotonic() + _env.seconds_of(timeout))
        try:
            self._engine_work.wait(deadline, lambda: str(_timeout_error(self._pg, self._what, self._seq)))
        except DistributedTimeoutError:
            self._exception = _timeout_error(self._pg, self._what, self._seq)
            self._pg.broken = self._exception
            raise self._exception from None
        except DistributedError as e:
            self._exception = DistributedError(f"{self._what} failed: {e}")
            self._pg.broken = self._exception
            raise self._exception from None
        self._source = self._engine_work.source
        if self._finish is not None:
            self._finish()
        self._done = True
        return True

    def is_completed(self):
        return self._done or self._engine_work.is_completed()

    def is_success(self):
        return self._done and self._exception is None

    def exception(self):
        return self._exception

    def source_rank(self):
        if not self._done:
            raise RuntimeError("source_rank() is only known once the receive has completed (call wait() first)")
        return self._pg.ranks[self._source] if self._source is not None else None

    def result(self):
        return self._result

    def __repr__(self):
        return f"<ember.distributed.Work {self._what}{' done' if self._done else ''}>"


# ------------------------------------------------------------ helpers

def _timeout_error(pg, what, seq):
    lines = [f"{what} did not complete within the process group's deadline of {pg.timeout:g} s on rank "
             f"{_global_rank()}"]
    if pg is _default:
        behind = _job_status.peers_behind(seq)
        exited = set(_job_status.exited_ranks())
        for r, s, name in behind:
            if r in exited:
                lines.append(f"rank {r} had already exited")
            elif name is None:
                lines.append(f"rank {r} never entered a collective")
            else:
                lines.append(f"rank {r} is still at {name} #{s}")
    lines.append("a peer failed, stopped calling collectives or called a different one (EMBER_DISTRIBUTED_DEBUG=1 "
                 "compares the calls); the process group is unusable")
    return DistributedTimeoutError("; ".join(lines))


def _global_rank():
    return _default.ranks[_default.rank()] if _default is not None else -1


def _require_init():
    if _default is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    return _default


def _resolve(grp):
    pg = _require_init()
    if grp is None or grp is group.WORLD:
        pg = _default
    elif isinstance(grp, ProcessGroup):
        pg = grp
    elif grp is GroupMember.NON_GROUP_MEMBER:
        raise ValueError("this rank is not a member of the group passed to the collective")
    else:
        raise TypeError(f"group must be a ProcessGroup returned by new_group, or None; got {type(grp).__name__}")
    if pg.broken is not None:
        raise DistributedError(f"the process group is unusable after an earlier failure: {pg.broken}")
    return pg


class GroupMember:
    NON_GROUP_MEMBER = object()


def _check_tensor(t, what="tensor"):
    if not isinstance(t, _C.Tensor):
        raise TypeError(f"{what} must be an ember.Tensor, got {type(t).__name__}")
    return t


_DTYPE_NAMES = {}


def _dtype_name(t):
    dt = t.dtype
    name = _DTYPE_NAMES.get(dt)
    if name is None:
        name = _DTYPE_NAMES[dt] = str(dt)[len("ember."):]
    return name


def _describe(name, seq, t, op=None, extra=""):
    parts = []
    if t is not None:
        parts.append(f"{_dtype_name(t)} tensor of shape {list(t.shape)} ({t.numel() * t.element_size()} bytes)")
    if op is not None:
        parts.append(f"op={op.name}")
    if extra:
        parts.append(extra)
    return f"{name} #{seq}({', '.join(parts)})"


class _Description:
    __slots__ = ("args",)

    def __init__(self, *args):
        self.args = args

    def __str__(self):
        return _describe(*self.args)

    __repr__ = __str__


def _check_device(pg, t):
    # is_cuda is the cheap attribute (t.device builds an object): this runs on every call.
    if t.is_cuda != (pg.backend == "nccl"):  # 'gloo' and 'mpi' are the CPU engine
        dev = "cuda" if t.is_cuda else "cpu"
        hint = "use backend='nccl' for CUDA tensors" if dev == "cuda" else "the nccl backend moves CUDA tensors only"
        raise ValueError(f"the {pg.backend} backend cannot move a tensor on {t.device} ({hint})")


def _check_op(op, t):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"op must be an ember.distributed.ReduceOp, got {op!r}")
    if op is ReduceOp.AVG:
        name = _dtype_name(t)
        if name == "bool":
            raise TypeError("ReduceOp.AVG is not defined for bool tensors")
        if name not in _FLOATING:
            raise TypeError(f"ReduceOp.AVG needs a floating-point tensor, got {name}")


def _check_rank(pg, r, what):
    if not isinstance(r, int) or isinstance(r, bool):
        raise TypeError(f"{what} must be an int rank, got {type(r).__name__}")
    if r not in pg.ranks:
        raise ValueError(f"{what}={r} is not a rank of the group (ranks {pg.ranks})")
    return pg.ranks.index(r)


class _Staged:
    """The buffer the engine moves for `t`, and how to bring results back."""

    def __init__(self, pg, t, copy_in=True):
        self.tensor = t
        base = t.detach()
        self.cast = not pg.engine.supports(t.dtype)
        if not self.cast and base.is_contiguous():
            self.buf = base
            self.copy_back = False
        else:
            staged = base.to(_FLOAT32) if self.cast else base.contiguous()
            if staged is base or staged.data_ptr() == base.data_ptr():
                staged = staged.clone()
            self.buf = staged if copy_in else _C.empty(list(base.shape), staged.dtype, base.device)
            self.copy_back = True

    def finish(self):
        if self.copy_back:
            self.tensor.detach().copy_(self.buf)

    @property
    def finisher(self):
        """finish, or None when nothing is to be copied back (the common,
        zero-copy case pays for no call)."""
        return self.finish if self.copy_back else None


def _empty_like_staged(pg, shape, dtype, device):
    d = dtype if pg.engine.supports(dtype) else _FLOAT32
    return _C.empty(list(shape), d, device)


def _enter(pg, name):
    """Numbers the next collective of `pg` and, on the world group, stamps it
    in the job's status table (which a peer that times out reads)."""
    pg.seq += 1
    if pg is _default:
        _job_status.mark_entered(pg.seq, name)
    return pg.seq


def _run(pg, name, t, op, root, start, finish, async_op, result=None, extra="", debug=True):
    """Numbers, checks (debug mode), starts and waits one collective."""
    seq = _enter(pg, name)
    what = _Description(name, seq, t, op, extra)  # formatted only if an error needs it
    deadline = time.monotonic() + pg.timeout
    if debug and pg.debug:
        try:
            _debug.check(pg.engine, _debug.fingerprint(seq, name, t, op, root), deadline,
                         lambda: str(_timeout_error(pg, what, seq)))
        except DistributedTimeoutError:
            pg.broken = _timeout_error(pg, what, seq)
            raise pg.broken from None
    work = Work(pg, start(), what, seq, deadline, finish, result)
    if async_op:
        work._engine_work.start_background(deadline)
        return work
    work.wait()
    return None


def _finisher(*steps):
    steps = [s for s in steps if s is not None]
    if not steps:
        return None

    def finish():
        for s in steps:
            s()
    return finish


def _avg_step(pg, staged, op):
    if op is not ReduceOp.AVG:
        return None
    return lambda: staged.buf.div_(pg.size())


def _all_reduce_inline(pg, tensor, op):
    """The lean path of a blocking all_reduce: a zero-copy tensor, no debug
    comparison, an engine that can run it on this thread now (MPI with
    nothing queued). The same numbering, job-status stamp and deadline as
    _run, without the Work, the staging object and the closures: ember's
    cost over MPI's own call 16.7 -> 9.0 us (bench/RESULTS.md), against a
    1 MB all-reduce of 170-500 us on two ranks here. False, having done
    nothing, where the general path must run."""
    engine = pg.engine
    inline_op = getattr(engine, "inline_reduce_op", None)
    if inline_op is None or not engine.inline_ready():
        return False
    buf = tensor.detach()
    engine_op = inline_op(buf.dtype, op) if buf.is_contiguous() else None
    if engine_op is None:
        return False
    seq = _enter(pg, "all_reduce")
    engine.all_reduce_inline(buf, engine_op, time.monotonic() + pg.timeout,
                             lambda: str(_timeout_error(pg, _Description("all_reduce", seq, tensor, op, ""), seq)))
    if op is ReduceOp.AVG:
        buf.div_(engine.size)
    return True


# ------------------------------------------------------------ collectives

def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduces `tensor` across all ranks in place; every rank gets the result."""
    pg = _resolve(group)
    _check_tensor(tensor)
    _check_device(pg, tensor)
    _check_op(op, tensor)
    if not async_op and not pg.debug and _all_reduce_inline(pg, tensor, op):
        return None
    s = _Staged(pg, tensor)
    return _run(pg, "all_reduce", tensor, op, None, lambda: pg.engine.all_reduce(s.buf, op),
                _finisher(_avg_step(pg, s, op), s.finisher), async_op)


def broadcast(tensor, src=0, group=None, async_op=False, group_src=None):
    """Copies `tensor` of rank `src` into `tensor` on every rank."""
    pg = _resolve(group)
    _check_tensor(tensor)
    _check_device(pg, tensor)
    root = group_src if group_src is not None else _check_rank(pg, src, "src")
    s = _Staged(pg, tensor, copy_in=pg.rank() == root)
    finish = s.finisher if pg.rank() != root else None
    return _run(pg, "broadcast", tensor, None, root, lambda: pg.engine.broadcast(s.buf, root), finish, async_op)


def reduce(tensor, dst=0, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduces into `tensor` of rank `dst` (other ranks' tensors are unchanged)."""
    pg = _resolve(group)
    _check_tensor(tensor)
    _check_device(pg, tensor)
    _check_op(op, tensor)
    root = group_dst if group_dst is not None else _check_rank(pg, dst, "dst")
    s = _Staged(pg, tensor)
    finish = _finisher(_avg_step(pg, s, op), s.finisher) if pg.rank() == root else None
    return _run(pg, "reduce", tensor, op, root, lambda: pg.engine.reduce(s.buf, root, op), finish, async_op)


def _check_list(lst, n, like, what):
    if not isinstance(lst, (list, tuple)):
        raise TypeError(f"{what} must be a list of tensors, got {type(lst).__name__}")
    if len(lst) != n:
        raise ValueError(f"{what} must hold one tensor per rank ({n}), got {len(lst)}")
    for i, t in enumerate(lst):
        _check_tensor(t, f"{what}[{i}]")
        if t.dtype != like.dtype or list(t.shape) != list(like.shape) or t.device != like.device:
            raise ValueError(f"{what}[{i}] is a {_dtype_name(t)} tensor of shape {list(t.shape)} on {t.device}; "
                             f"expected {_dtype_name(like)} {list(like.shape)} on {like.device}, like the input")


def _copy_rows_out(out, tensors):
    def finish():
        for i, t in enumerate(tensors):
            t.detach().copy_(out[i])
    return finish


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] receives rank r's `tensor`."""
    pg = _resolve(group)
    _check_tensor(tensor)
    _check_device(pg, tensor)
    _check_list(tensor_list, pg.size(), tensor, "tensor_list")
    s = _Staged(pg, tensor)
    out = _empty_like_staged(pg, [pg.size()] + list(tensor.shape), tensor.dtype, tensor.device)
    return _run(pg, "all_gather", tensor, None, None, lambda: pg.engine.all_gather(out, s.buf),
                _copy_rows_out(out, tensor_list), async_op, result=tensor_list)


def _check_block(big, small, n, what_big, what_small):
    _check_tensor(big, what_big)
    if big.dtype != small.dtype or big.device != small.device:
        raise ValueError(f"{what_big} ({_dtype_name(big)} on {big.device}) and {what_small} "
                         f"({_dtype_name(small)} on {small.device}) must have the same dtype and device")
    if big.numel() != n * small.numel():
        raise ValueError(f"{what_big} must have world size ({n}) times the elements of {what_small}: "
                         f"got {list(big.shape)} and {list(small.shape)}")


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Rank r's input lands in block r of `output_tensor` (world size times
    the input's elements, e.g. shape [size * n, ...] or [size, n, ...])."""
    pg = _resolve(group)
    _check_tensor(input_tensor, "input_tensor")
    _check_device(pg, input_tensor)
    _check_block(output_tensor, input_tensor, pg.size(), "output_tensor", "input_tensor")
    s_in = _Staged(pg, input_tensor)
    s_out = _Staged(pg, output_tensor, copy_in=False)
    return _run(pg, "all_gather_into_tensor", input_tensor, None, None,
                lambda: pg.engine.all_gather(s_out.buf, s_in.buf), s_out.finish, async_op,
                result=[output_tensor])


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):  # noqa: A002
    """Reduces `input` (world size blocks of output's elements) across ranks;
    rank r gets block r in `output`."""
    pg = _resolve(group)
    _check_tensor(output, "output")
    _check_device(pg, output)
    _check_op(op, output)
    _check_block(input, output, pg.size(), "input", "output")
    s_in = _Staged(pg, input)
    s_out = _Staged(pg, output, copy_in=False)
    return _run(pg, "reduce_scatter_tensor", input, op, None,
                lambda: pg.engine.reduce_scatter(s_out.buf, s_in.buf, op),
                _finisher(_avg_step(pg, s_out, op), s_out.finish), async_op, result=[output])


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """gather_list[r] on rank `dst` receives rank r's `tensor`."""
    pg = _resolve(group)
    _check_tensor(tensor)
    _check_device(pg, tensor)
    root = _check_rank(pg, dst, "dst")
    s = _Staged(pg, tensor)
    if pg.rank() == root:
        if gather_list is None:
            raise ValueError("gather_list is required on the destination rank")
        _check_list(gather_list, pg.size(), tensor, "gather_list")
        out = _empty_like_staged(pg, [pg.size()] + list(tensor.shape), tensor.dtype, tensor.device)
        finish = _copy_rows_out(out, gather_list)
    else:
        if gather_list:
            raise ValueError("gather_list must be None (or empty) on ranks other than dst")
        out, finish = None, None
    return _run(pg, "gather", tensor, None, root, lambda: pg.engine.gather(out, s.buf, root), finish, async_op)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """`tensor` on rank r receives scatter_list[r] of rank `src`."""
    pg = _resolve(group)
    _check_tensor(tensor)
    _check_device(pg, tensor)
    root = _check_rank(pg, src, "src")
    s_out = _Staged(pg, tensor, copy_in=False)
    if pg.rank() == root:
        if scatter_list is None:
            raise ValueError("scatter_list is required on the source rank")
        _check_list(scatter_list, pg.size(), tensor, "scatter_list")
        stacked = _empty_like_staged(pg, [pg.size()] + list(tensor.shape), tensor.dtype, tensor.device)
        for i, t in enumerate(scatter_list):
            stacked[i].copy_(t.detach())
    else:
        if scatter_list:
            raise ValueError("scatter_list must be None (or empty) on ranks other than src")
        stacked = None
    return _run(pg, "scatter", tensor, None, root, lambda: pg.engine.scatter(s_out.buf, stacked, root),
                s_out.finish, async_op)


def _p2p(name, tensor, peer, grp, tag, start):
    pg = _resolve(grp)
    _check_tensor(tensor)
    _check_device(pg, tensor)
    if not isinstance(tag, int):
        raise TypeError(f"tag must be an int, got {type(tag).__name__}")
    if peer is None:
        index = None
    else:
        index = _check_rank(pg, peer, "dst" if name == "send" else "src")
        if index == pg.rank():
            kind = "destination" if name == "send" else "source"
            raise ValueError(f"Invalid {kind} rank: should not be the same as the rank of the current process.")
    s = _Staged(pg, tensor, copy_in=name == "send")
    peer_text = ("to" if name == "send" else "from") + (f" rank {peer}" if peer is not None else " any rank")
    work = _run(pg, name, tensor, None, index, lambda: start(pg.engine, s.buf, index, tag),
                s.finish if name == "recv" else None, True, extra=f"{peer_text}, tag {tag}", debug=False)
    return work


def send(tensor, dst, group=None, tag=0):
    """Sends `tensor` to rank `dst` (blocks until it may be reused)."""
    _p2p("send", tensor, dst, group, tag, lambda e, b, i, t: e.send(b, i, t)).wait()


def recv(tensor, src=None, group=None, tag=0):
    """Receives into `tensor` from `src` (any rank if None); returns the sender's rank."""
    work = _p2p("recv", tensor, src, group, tag, lambda e, b, i, t: e.recv(b, i, t))
    work.wait()
    return work.source_rank()


def isend(tensor, dst, group=None, tag=0):
    return _p2p("send", tensor, dst, group, tag, lambda e, b, i, t: e.send(b, i, t))


def irecv(tensor, src=None, group=None, tag=0):
    return _p2p("recv", tensor, src, group, tag, lambda e, b, i, t: e.recv(b, i, t))


def barrier(group=None, async_op=False, device_ids=None):
    """Returns once every rank of the group has entered it."""
    pg = _resolve(group)
    return _run(pg, "barrier", None, None, None, pg.engine.barrier, None, async_op)
