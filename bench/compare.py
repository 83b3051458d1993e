"""ember beside PyTorch and numpy, in one process, quoted as ratios.

Run: python bench/compare.py [--quick] [--json out.json]
Each row prints the figure for every library that has the workload, the
ratio that issue #7 targets, and whether the target is met. Figures are
medians over repeats after a warm-up; this is a benchmark, not a test.
"""
import argparse
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import ember

try:
    import torch
except ImportError:  # the benchmark still runs, without the PyTorch column
    torch = None


def median_time(fn, repeats, inner=1, warmup=3):
    """Median seconds per call of fn, over `repeats` samples of `inner` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


# ------------------------------------------------------------------ machine limits

def machine_limits():
    """Peak AVX2-FMA float32 FLOP/s (cores x clock x 32) and copy bandwidth."""
    cores = os.cpu_count() or 1
    mhz = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("CPU max MHz") or (line.startswith("CPU MHz") and mhz is None):
                mhz = float(line.split(":")[1])
        model = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), "?")
    except (OSError, ValueError):
        model = platform.processor()
    if mhz is None:
        try:
            with open("/proc/cpuinfo") as f:
                mhz = float(next(l for l in f if l.startswith("cpu MHz")).split(":")[1])
        except (OSError, StopIteration, ValueError):
            mhz = 2000.0
    # Nominal: 2 FMA units x 8 float32 lanes x 2 FLOP. Cores that split a
    # 256-bit FMA in two reach half of it; `bench_kernels "fma peak"`
    # measures the real ceiling (this machine: ~40 GFLOP/s a core, not 64).
    peak = cores * mhz * 1e6 * 32
    src = np.ones(64 * 1024 * 1024 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    t = median_time(lambda: np.copyto(dst, src), 7)
    bandwidth = 2 * src.nbytes / t  # read + write
    return {"cores": cores, "mhz": mhz, "model": model, "peak_gflops": peak / 1e9,
            "copy_gbps": bandwidth / 1e9}


# ------------------------------------------------------------------ workloads

def row(name, unit, figures, ratio, target, better):
    """figures: {lib: value}; ratio: ember vs the reference; better: 'lower'|'higher'."""
    met = None if ratio is None else (ratio <= target if better == "lower" else ratio >= target)
    return {"workload": name, "unit": unit, "figures": figures, "ratio": ratio, "target": target,
            "better": better, "met": met}


def bench_small_add(quick):
    n = 20000 if quick else 100000
    a, b = ember.randn(2, 20), ember.randn(2, 20)
    figs = {"ember": median_time(lambda: a + b, 7, n) * 1e6}
    na, nb = a.numpy(), b.numpy()
    figs["numpy"] = median_time(lambda: na + nb, 7, n) * 1e6
    if torch:
        ta, tb = torch.from_numpy(na.copy()), torch.from_numpy(nb.copy())
        figs["torch"] = median_time(lambda: ta + tb, 7, n) * 1e6
    ratio = figs["ember"] / figs["torch"] if torch else None
    return row("a + b, 2x20 float32", "us/op", figs, ratio, 0.7, "lower")


def make_mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))


def bench_mlp(quick):
    n = 2000 if quick else 10000
    rows = []
    net = make_mlp(ember)
    x = ember.rand(2, 20)
    fwd = {"ember": median_time(lambda: net(x), 7, n) * 1e6}

    def ember_step():
        net.zero_grad()
        net(x).sum().backward()
    step = {"ember": median_time(ember_step, 7, n // 2) * 1e6}
    if torch:
        tnet = make_mlp(torch)
        tx = torch.rand(2, 20)
        fwd["torch"] = median_time(lambda: tnet(tx), 7, n) * 1e6

        def torch_step():
            tnet.zero_grad()
            tnet(tx).sum().backward()
        step["torch"] = median_time(torch_step, 7, n // 2) * 1e6
    rows.append(row("D2L MLP forward, 2x20", "us", fwd, fwd["ember"] / fwd["torch"] if torch else None, 0.5,
                    "lower"))
    rows.append(row("D2L MLP forward+backward+zero_grad", "us", step,
                    step["ember"] / step["torch"] if torch else None, 0.33, "lower"))
    return rows


def bench_matmul(quick):
    rows = []
    for n in (256, 1024) if quick else (256, 1024, 2048):
        flops = 2 * n ** 3
        reps = 5 if n >= 2048 else 9
        a = np.random.rand(n, n).astype(np.float32)
        b = np.random.rand(n, n).astype(np.float32)
        ea, eb = ember.from_numpy(a), ember.from_numpy(b)
        figs = {"ember": flops / median_time(lambda: ember.matmul(ea, eb), reps) / 1e9,
                "numpy": flops / median_time(lambda: a @ b, reps) / 1e9}
        if torch:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            figs["torch"] = flops / median_time(lambda: ta @ tb, reps) / 1e9
        rows.append(row(f"matmul {n}x{n} float32", "GFLOP/s", figs, figs["ember"] / figs["numpy"], 1.0, "higher"))
    return rows


def bench_memory(quick):
    rows = []
    n = 4 * 1024 * 1024
    x = np.random.rand(n).astype(np.float32)
    ex = ember.from_numpy(x)
    tx = torch.from_numpy(x) if torch else None
    cases = [
        ("add", 3 * x.nbytes, lambda: ex + ex, (lambda: tx + tx) if torch else None, lambda: x + x),
        ("relu", 2 * x.nbytes, lambda: ex.relu(), (lambda: tx.relu()) if torch else None, lambda: np.maximum(x, 0)),
        ("sum", x.nbytes, lambda: ex.sum(), (lambda: tx.sum()) if torch else None, lambda: x.sum()),
    ]
    for name, nbytes, e, t, npf in cases:
        figs = {"ember": nbytes / median_time(e, 15) / 1e9, "numpy": nbytes / median_time(npf, 15) / 1e9}
        if t:
            figs["torch"] = nbytes / median_time(t, 15) / 1e9
        rows.append(row(f"{name} over 4M float32", "GB/s", figs,
                        figs["ember"] / figs["torch"] if torch else None, 1.0, "higher"))
    m = np.random.rand(2000, 2000).astype(np.float32)
    em = ember.from_numpy(m)
    figs = {"ember": m.nbytes / median_time(lambda: em.sum(0), 15) / 1e9,
            "numpy": m.nbytes / median_time(lambda: m.sum(0), 15) / 1e9}
    if torch:
        tm = torch.from_numpy(m)
        figs["torch"] = m.nbytes / median_time(lambda: tm.sum(0), 15) / 1e9
    rows.append(row("sum(dim=0) of 2000x2000 float32", "GB/s", figs,
                    figs["ember"] / figs["torch"] if torch else None, 1.0, "higher"))
    return rows


def epoch_samples_per_second(lib, samples, batch=256):
    """One epoch of D2L's MLP (Flatten, 784-256-10, CrossEntropyLoss, SGD) on synthetic images."""
    lib.manual_seed(0)
    nn = lib.nn
    X = lib.randn(samples, 1, 28, 28)
    y = lib.randint(0, 10, (samples,))
    loader = lib.utils.data.DataLoader(lib.utils.data.TensorDataset(X, y), batch_size=batch, shuffle=True)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    loss = nn.CrossEntropyLoss()
    trainer = lib.optim.SGD(net.parameters(), lr=0.1)
    t0 = time.perf_counter()
    for xb, yb in loader:
        trainer.zero_grad()
        loss(net(xb), yb).backward()
        trainer.step()
    return samples / (time.perf_counter() - t0)


def bench_epoch(quick):
    samples = 12000 if quick else 60000
    figs = {"ember": epoch_samples_per_second(ember, samples)}
    if torch:
        figs["torch"] = epoch_samples_per_second(torch, samples)
    return [row(f"D2L MLP epoch, {samples} samples, batch 256", "samples/s", figs,
                figs["ember"] / figs["torch"] if torch else None, 1.4, "higher")]


def make_lenet(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


def lenet_samples_per_second(lib, steps, batch=256):
    """D2L's LeNet training step (SGD lr 0.9, cross-entropy) on synthetic Fashion-MNIST-sized batches."""
    lib.manual_seed(0)
    net = make_lenet(lib)
    loss = lib.nn.CrossEntropyLoss()
    trainer = lib.optim.SGD(net.parameters(), lr=0.9)
    X = lib.rand(batch, 1, 28, 28)
    y = lib.randint(0, 10, (batch,))

    def step():
        trainer.zero_grad()
        loss(net(X), y).backward()
        trainer.step()
    return batch / median_time(step, steps, warmup=2)


def bench_conv(quick):
    rows = []
    steps = 5 if quick else 15
    figs = {"ember": lenet_samples_per_second(ember, steps)}
    if torch:
        figs["torch"] = lenet_samples_per_second(torch, steps)
    rows.append(row("D2L LeNet train step, batch 256", "samples/s", figs,
                    figs["ember"] / figs["torch"] if torch else None, 1.5, "higher"))
    # 64 -> 64 channels, 3x3, padding 1, on 8x64x56x56: forward + both gradients.
    n, c, hw = (2, 64, 56) if quick else (8, 64, 56)
    flops = 3 * 2 * n * c * hw * hw * c * 9
    x = np.random.rand(n, c, hw, hw).astype(np.float32)
    w = (np.random.rand(c, c, 3, 3).astype(np.float32) - 0.5) * 0.1

    def conv_step(lib, F, xt, wt):
        def run():
            xt.grad = None
            wt.grad = None
            F.conv2d(xt, wt, padding=1).sum().backward()
        return run
    ex = ember.tensor(x).requires_grad_()
    ew = ember.tensor(w).requires_grad_()
    reps = 3 if quick else 7
    figs = {"ember": flops / median_time(conv_step(ember, ember.nn.functional, ex, ew), reps, warmup=1) / 1e9}
    if torch:
        tx = torch.tensor(x).requires_grad_()
        tw = torch.tensor(w).requires_grad_()
        figs["torch"] = flops / median_time(conv_step(torch, torch.nn.functional, tx, tw), reps, warmup=1) / 1e9
    rows.append(row(f"conv 3x3 64->64 on {n}x{c}x{hw}x{hw}, fwd+bwd", "GFLOP/s", figs,
                    figs["ember"] / figs["torch"] if torch else None, 1.0, "higher"))
    return rows


def bench_checkpoint(quick):
    mb = 20 if quick else 100
    per = mb * 1024 * 1024 // 4 // 10
    state = {f"layer{i}.weight": np.random.rand(per).astype(np.float32) for i in range(10)}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ckpt")
        es = {k: ember.from_numpy(v) for k, v in state.items()}

        def ember_round():
            ember.save(es, path)
            ember.load(path)
        figs = {"ember": median_time(ember_round, 5, warmup=1) * 1e3}
        if torch:
            ts = {k: torch.from_numpy(v) for k, v in state.items()}

            def torch_round():
                torch.save(ts, path)
                torch.load(path)
            figs["torch"] = median_time(torch_round, 5, warmup=1) * 1e3
    return [row(f"save+load {mb} MB state dict", "ms", figs, figs["ember"] / figs["torch"] if torch else None, 0.5,
                "lower")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--only", help="comma-separated workload groups to run (small_add, mlp, matmul, memory, "
                                       "epoch, conv, checkpoint)")
    args = parser.parse_args()
    limits = machine_limits()
    print(f"# {time.strftime('%Y-%m-%d')} {limits['model']}, {limits['cores']} cores @ {limits['mhz']:.0f} MHz; "
          f"nominal peak {limits['peak_gflops']:.0f} GFLOP/s (AVX2 FMA float32), copy {limits['copy_gbps']:.1f} GB/s; "
          f"ember {ember.__version__}, torch {torch.__version__ if torch else 'absent'}, numpy {np.__version__}")
    rows = []
    benches = (bench_small_add, bench_mlp, bench_matmul, bench_memory, bench_epoch, bench_conv, bench_checkpoint)
    if args.only:
        wanted = {f"bench_{name.strip()}" for name in args.only.split(",")}
        unknown = wanted - {b.__name__ for b in benches}
        if unknown:
            parser.error(f"unknown workload groups: {', '.join(sorted(unknown))}")
        benches = [b for b in benches if b.__name__ in wanted]
    for bench in benches:
        gc.collect()
        out = bench(args.quick)
        rows.extend(out if isinstance(out, list) else [out])
        for r in (out if isinstance(out, list) else [out]):
            figs = "  ".join(f"{k} {v:10.3f}" for k, v in r["figures"].items())
            ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
            mark = {True: "met", False: "MISSED", None: "-"}[r["met"]]
            op = "<=" if r["better"] == "lower" else ">="
            print(f"{r['workload']:<42} {r['unit']:<10} {figs}   ratio {ratio} (target {op} {r['target']}) {mark}",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"limits": limits, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
