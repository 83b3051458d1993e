"""Forward+backward of D2L's MLP (Linear(20,256), ReLU, Linear(256,10), input
2x20, loss = out.sum(), zero_grad each step) in ember and PyTorch, in one
process, on the CPU. Prints the median of many repeats; the figure is
recorded (not asserted) in bench/RESULTS.md.

    PYTHONPATH=python python bench/autograd_mlp.py [--repeats 2000]
"""
import argparse
import statistics
import time

import numpy as np


def build(lib):
    lib.manual_seed(0)
    net = lib.nn.Sequential(lib.nn.Linear(20, 256), lib.nn.ReLU(), lib.nn.Linear(256, 10))
    X = lib.tensor(np.random.default_rng(0).random((2, 20), dtype=np.float32))
    return net, X


def step(net, X):
    net.zero_grad()
    out = net(X)
    out.sum().backward()


def time_lib(lib, repeats, warmup):
    net, X = build(lib)
    for _ in range(warmup):
        step(net, X)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step(net, X)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6, min(times) * 1e6


def check_same_gradients(ember, torch):
    enet, eX = build(ember)
    tnet, tX = build(torch)
    with torch.no_grad():
        for (_, ep), (_, tp) in zip(enet.named_parameters(), tnet.named_parameters()):
            tp.copy_(torch.tensor(ep.detach().numpy()))
    step(enet, eX)
    step(tnet, tX)
    for ep, tp in zip(enet.parameters(), tnet.parameters()):
        np.testing.assert_allclose(ep.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    args = ap.parse_args()
    import ember
    import torch
    check_same_gradients(ember, torch)
    rows = []
    for name, lib in [("ember", ember), ("PyTorch " + torch.__version__, torch)]:
        med, best = time_lib(lib, args.repeats, args.warmup)
        rows.append((name, med, best))
    print(f"{'library':<22}{'median us':>12}{'min us':>10}")
    for name, med, best in rows:
        print(f"{name:<22}{med:>12.1f}{best:>10.1f}")
    print(f"PyTorch / ember (median): {rows[1][1] / rows[0][1]:.2f}x  (torch threads: {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
