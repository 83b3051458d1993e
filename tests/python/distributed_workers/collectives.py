"""Every collective on every dtype, checked against numpy on each rank.
Run by test_distributed.py under the launcher with 2 and 4 ranks."""
import numpy as np

import ember as torch
import ember.distributed as dist

dist.init_process_group(backend="gloo")
rank, world = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == "gloo"
ALL = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16, torch.bfloat16,
       torch.float32, torch.float64]
NP = {torch.float16: np.float32, torch.bfloat16: np.float32}


def value(r, shape, dtype):
    """Rank r's tensor: small integers, exact in every dtype."""
    base = (np.arange(int(np.prod(shape))).reshape(shape) + 3 * r + 1) % 5
    if dtype == torch.bool:
        base = base % 2
    return torch.tensor(base.tolist(), dtype=dtype)


def as_np(t):
    return t.float().numpy() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy()


def expect(got, want, what):
    got = as_np(got)
    np.testing.assert_array_equal(got, np.asarray(want).astype(got.dtype), err_msg=what)


ops = {dist.ReduceOp.SUM: np.sum, dist.ReduceOp.PRODUCT: np.prod, dist.ReduceOp.MIN: np.min,
       dist.ReduceOp.MAX: np.max}
for dtype in ALL:
    shape = (2, 3)
    everyone = np.stack([as_np(value(r, shape, dtype)) for r in range(world)])
    for op, fn in ops.items():
        if dtype == torch.bool:
            want = everyone.any(0) if op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX) else everyone.all(0)
        else:
            want = fn(everyone.astype(np.float64), axis=0)
            if dtype == torch.uint8 or dtype == torch.int8:
                want = want.astype(np.int64).astype(np.dtype(str(dtype)[6:]))
        for layout in ("contiguous", "transposed"):
            t = value(rank, shape, dtype)
            if layout == "transposed":  # non-contiguous: the collective must still write the tensor itself
                t = value(rank, shape[::-1], dtype).t()
                w_ = np.stack([as_np(value(r, shape[::-1], dtype)).T for r in range(world)])
                w = (w_.any(0) if op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX) else w_.all(0)) \
                    if dtype == torch.bool else fn(w_.astype(np.float64), axis=0)
                if dtype in (torch.uint8, torch.int8):
                    w = w.astype(np.int64).astype(np.dtype(str(dtype)[6:]))
            else:
                w = want
            ident = t.data_ptr()
            work = dist.all_reduce(t, op=op, async_op=(layout == "contiguous"))
            if work is not None:
                assert work.wait() is True and work.is_completed()
            assert t.data_ptr() == ident
            expect(t, w, f"all_reduce {op} {dtype} {layout}")
    if dtype.is_floating_point:
        t = value(rank, shape, dtype)
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
        expect(t, everyone.astype(np.float64).mean(0), f"AVG {dtype}")

    # broadcast from the last rank, reduce to rank 1 % world
    t = value(rank, shape, dtype)
    dist.broadcast(t, src=world - 1)
    expect(t, everyone[world - 1], f"broadcast {dtype}")
    t = value(rank, shape, dtype)
    dst = 1 % world
    dist.reduce(t, dst=dst, op=dist.ReduceOp.MAX)
    expect(t, everyone.max(0) if rank == dst else everyone[rank], f"reduce {dtype}")

    # all_gather (list and into one tensor), gather, scatter, reduce_scatter
    outs = [torch.zeros(*shape, dtype=dtype) for _ in range(world)]
    w = dist.all_gather(outs, value(rank, shape, dtype), async_op=True)
    w.wait()
    for r in range(world):
        expect(outs[r], everyone[r], f"all_gather {dtype}")
    big = torch.zeros(world * 2, 3, dtype=dtype)
    dist.all_gather_into_tensor(big, value(rank, shape, dtype))
    expect(big, everyone.reshape(world * 2, 3), f"all_gather_into_tensor {dtype}")
    gl = [torch.zeros(*shape, dtype=dtype) for _ in range(world)] if rank == 0 else None
    dist.gather(value(rank, shape, dtype), gl, dst=0)
    if rank == 0:
        for r in range(world):
            expect(gl[r], everyone[r], f"gather {dtype}")
    out = torch.zeros(*shape, dtype=dtype)
    sl = [value(r, shape, dtype) for r in range(world)] if rank == world - 1 else None
    dist.scatter(out, sl, src=world - 1)
    expect(out, everyone[rank], f"scatter {dtype}")
    if dtype != torch.bool:
        inp = torch.cat([value(rank + k, shape, dtype) for k in range(world)])
        out = torch.zeros(*shape, dtype=dtype)
        dist.reduce_scatter_tensor(out, inp, op=dist.ReduceOp.MAX)
        want = np.max([as_np(value(r + rank, shape, dtype)) for r in range(world)], axis=0)
        expect(out, want, f"reduce_scatter_tensor {dtype}")

# send / recv around a ring (sender named), isend/irecv
nxt, prv = (rank + 1) % world, (rank - 1) % world
buf = torch.zeros(4, dtype=torch.float64)
if rank % 2 == 0:
    dist.send(torch.full((4,), float(rank), dtype=torch.float64), nxt)
    src = dist.recv(buf, src=None)
else:
    src = dist.recv(buf, src=prv)
    dist.send(torch.full((4,), float(rank), dtype=torch.float64), nxt)
assert src == prv, (src, prv)
expect(buf, np.full(4, prv), "recv")
recv_work = dist.irecv(buf, src=prv, tag=7)
send_work = dist.isend(torch.full((4,), 10.0 + rank, dtype=torch.float64), nxt, tag=7)
send_work.wait()
recv_work.wait()
assert recv_work.source_rank() == prv
expect(buf, np.full(4, 10.0 + prv), "irecv")

# a group of the whole world, and (with 4 ranks) of a subset
everyone_group = dist.new_group()
t = torch.ones(3)
dist.all_reduce(t, group=everyone_group)
expect(t, np.full(3, world), "new_group world")
if world >= 4:
    evens = dist.new_group([0, 2])
    t = torch.full((2,), float(rank))
    if rank in (0, 2):
        dist.all_reduce(t, group=evens)
        expect(t, np.full(2, 2.0), "subgroup")
        assert dist.get_rank(evens) == rank // 2 and dist.get_world_size(evens) == 2
    else:
        assert dist.get_rank(evens) == -1

# picklable objects
objs = [None] * world
dist.all_gather_object(objs, {"rank": rank, "name": "r" * (rank + 1)})
assert objs == [{"rank": r, "name": "r" * (r + 1)} for r in range(world)], objs
lst = [("from", 0), [1, 2, 3]] if rank == 0 else [None, None]
dist.broadcast_object_list(lst, src=0)
assert lst == [("from", 0), [1, 2, 3]], lst

dist.barrier()
dist.destroy_process_group()
assert not dist.is_initialized()
print(f"rank {rank}: collectives OK", flush=True)
