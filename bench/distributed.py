"""ember.distributed figures: all-reduce bus bandwidth against message size
beside raw mpi4py on numpy buffers, and DDP samples/s for D2L's MLP with
the fraction of communication hidden behind backward.

    python -m ember.distributed.run --nproc-per-node 2 bench/distributed.py

Bus bandwidth is NCCL-tests' definition: bytes * 2 (n - 1) / n / time.
Four ranks on two cores is a correctness run, not a speed figure.
"""
import time

import numpy as np
from mpi4py import MPI

import ember as torch
import ember.distributed as dist
from ember import nn
from ember.nn.parallel import DistributedDataParallel as DDP


def timed(fn, reps):
    """Mean over `reps` calls (the same count on every rank, so the
    collectives match), the slowest rank's figure."""
    fn()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    t = np.array([(time.perf_counter() - start) / reps])
    MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, t, op=MPI.MAX)
    return float(t[0])


def best_of(fns, reps, rounds=5):
    """The best round of each function, rounds interleaved so that a busy
    moment of a shared machine hits both alike."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], timed(fn, reps))
    return best


def allreduce_table(rank, n):
    comm = MPI.COMM_WORLD
    if rank == 0:
        print(f"all_reduce float32, {n} rank(s), bus GB/s: bytes, ember, mpi4py on the same ember tensor, "
              f"ember/that, mpi4py on a numpy array")
    for nbytes in [1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24, 1 << 26]:
        t = torch.ones(nbytes // 4)
        same = t.numpy()  # the tensor's own memory: isolates ember.distributed's overhead
        a = np.ones(nbytes // 4, np.float32)
        reps = max(3, min(200, (16 << 20) // nbytes))
        tn, ts, te = best_of([lambda: comm.Allreduce(MPI.IN_PLACE, a), lambda: comm.Allreduce(MPI.IN_PLACE, same),
                              lambda: dist.all_reduce(t)], reps)
        factor = 2 * (n - 1) / n if n > 1 else 1
        if rank == 0:
            gbs = [nbytes * factor / x / 1e9 for x in (te, ts, tn)]
            print(f"{nbytes:>10} {gbs[0]:8.3f} {gbs[1]:8.3f} {ts / te:6.2f} {gbs[2]:8.3f}   "
                  f"(per call: ember {te * 1e6:.0f} us, mpi4py {ts * 1e6:.0f} us)", flush=True)


def ddp_figures(rank, n, bucket_cap_mb, per_rank=128, steps=20):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    ddp = DDP(net, bucket_cap_mb=bucket_cap_mb)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    X, y = torch.randn(per_rank, 1, 28, 28), torch.randint(0, 10, (per_rank,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(ddp(X), y).backward()
        opt.step()


    def backward(model):
        net.zero_grad()
        loss_fn(model(X), y).backward()

    flats = [b.flat for b in ddp.reducer.buckets]
    # local: the bare module (no hooks, no communication); with DDP: the
    # same work plus bucketing and the overlapped all-reduces; alone: the
    # all-reduces of the same buckets, one after another.
    t_step, t_sync, t_local, t_comm = best_of(
        [step, lambda: backward(ddp), lambda: backward(net), lambda: [dist.all_reduce(f) for f in flats]], steps)
    hidden = (t_local + t_comm - t_sync) / t_comm if n > 1 and t_comm > 0 else float("nan")
    if rank == 0:
        print(f"DDP MLP, {n} rank(s), {len(flats)} bucket(s), {per_rank} samples per rank: "
              f"{n * per_rank / t_step:9.0f} samples/s; "
              f"forward+backward {t_local * 1e3:.2f} ms local, {t_sync * 1e3:.2f} ms with DDP; "
              f"all-reduce alone {t_comm * 1e3:.2f} ms; hidden {max(0.0, min(1.0, hidden)) * 100:.0f}%",
              flush=True)


if __name__ == "__main__":
    dist.init_process_group("gloo")
    r, n = dist.get_rank(), dist.get_world_size()
    allreduce_table(r, n)
    ddp_figures(r, n, 25)    # PyTorch's default: the whole MLP fits the 1 MiB first bucket
    ddp_figures(r, n, 0.25)  # layer 2 and layer 1 in separate buckets: the first overlaps layer 1's backward
    dist.destroy_process_group()
