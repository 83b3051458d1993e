"""F.batch_norm forward+backward (training) on [256, 64, 28, 28] float32,
ember beside PyTorch in one process, with the memory-bandwidth floor.

Run: python bench/batch_norm.py [--repeats N] [--shape N C H W]

The floor: a training step must read x for the statistics, read x and write
y for the apply (forward), read dy and x for the backward's reduction, and
read dy and x and write dx for its apply: 7 tensor-sized transfers with
streaming stores (8 when a store first reads its line). Divided by the
measured copy bandwidth, that is the time no implementation of these passes
can beat; a fused implementation that kept a block in cache between the
statistics and the apply could go below it, which neither library does.
Both outputs are checked against each other before anything is timed.
"""
import argparse
import statistics
import time

import numpy as np

import ember
import ember.nn.functional as F

try:
    import torch
except ImportError:
    torch = None


def median_time(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def copy_bandwidth():
    src = np.ones(64 * 1024 * 1024 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    t = median_time(lambda: np.copyto(dst, src), 9)
    return 2 * src.nbytes / t


def step(lib, x, w, b, rm, rv, g):
    fn = F.batch_norm if lib is ember else torch.nn.functional.batch_norm
    y = fn(x, rm, rv, w, b, True, 0.1, 1e-5)
    y.backward(g)
    return y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--shape", type=int, nargs=4, default=[256, 64, 28, 28])
    args = ap.parse_args()
    shape = tuple(args.shape)
    c = shape[1]
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape).astype(np.float32)
    g_np = rng.standard_normal(shape).astype(np.float32)
    nbytes = x_np.nbytes

    bw = copy_bandwidth()
    floor = 7 * nbytes / bw
    print(f"shape {list(shape)} float32: {nbytes / 1e6:.1f} MB per tensor; copy bandwidth {bw / 1e9:.1f} GB/s")
    print(f"floor: 7 transfers = {7 * nbytes / 1e6:.0f} MB -> {floor * 1e3:.2f} ms "
          f"(8 transfers with read-for-ownership stores: {8 * nbytes / bw * 1e3:.2f} ms)")

    libs = [ember] + ([torch] if torch is not None else [])
    state, times = {}, {}
    for lib in libs:
        x = lib.tensor(x_np).requires_grad_(True)
        w = lib.ones(c).requires_grad_(True)
        b = lib.zeros(c).requires_grad_(True)
        rm, rv = lib.zeros(c), lib.ones(c)
        g = lib.tensor(g_np)
        state[lib.__name__] = (x, w, b, rm, rv, g)

    # Check before timing: one step each from the same state.
    outs = {}
    for lib in libs:
        x, w, b, rm, rv, g = state[lib.__name__]
        y = step(lib, x, w, b, rm, rv, g)
        outs[lib.__name__] = [np.asarray(t.detach().numpy()) for t in (y, x.grad, w.grad, rm, rv)]
        x.grad = None
        w.grad = None
        b.grad = None
    if torch is not None:
        for a, r, name in zip(outs["ember"], outs["torch"], ("y", "dx", "dw", "running_mean", "running_var")):
            np.testing.assert_allclose(a, r, rtol=2e-3, atol=2e-3, err_msg=name)
        print("checked: y, dx, dw, running stats agree with PyTorch")

    for lib in libs:
        x, w, b, rm, rv, g = state[lib.__name__]

        def run(lib=lib, x=x, w=w, b=b, rm=rm, rv=rv, g=g):
            x.grad = None
            w.grad = None
            b.grad = None
            step(lib, x, w, b, rm, rv, g)
        times[lib.__name__] = median_time(run, args.repeats)
    for name, t in times.items():
        print(f"{name:6s} forward+backward {t * 1e3:8.2f} ms  ({7 * nbytes / t / 1e9:5.1f} GB/s effective, "
              f"{floor / t:.2f} of the floor)")
    if "torch" in times:
        print(f"ember / PyTorch speed: {times['torch'] / times['ember']:.2f}x")


if __name__ == "__main__":
    main()
