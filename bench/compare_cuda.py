"""ember's CUDA backend beside PyTorch CUDA, in one process, quoted as ratios.

Run on a machine with a GPU: python bench/compare_cuda.py [--quick] [--json out.json]

Rows (issue 6.6): elementwise add and relu over 64M float32 in GB/s against
PyTorch and against the measured device-to-device copy; sum (whole tensor and
along each axis) in GB/s; float32 GEMM at 1024/4096/8192 against PyTorch with
TF32 off; bfloat16 GEMM; one D2L MLP training step (784-256-10, batch 256);
a 64->64 3x3 convolution forward+backward on 8x64x56x56 (GFLOP/s, against
cuDNN with TF32 off); D2L's LeNet training step (batch 256) and each of its
layers forward+backward; max-pool 2x2 forward+backward.

Every figure is checked against PyTorch on the same inputs before it is timed:
a fast wrong kernel prints FAILED instead of a figure. Timing: a warm-up, then
the median over repeats of `inner` calls followed by a device synchronize, on
the host clock (both libraries are timed the same way).
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np

import ember

try:
    import torch
except ImportError:
    sys.exit("compare_cuda.py needs PyTorch with CUDA as the reference")


def median_seconds(fn, sync, repeats=15, inner=10, warmup=3):
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def ember_sync():
    ember.cuda.synchronize()


def torch_sync():
    torch.cuda.synchronize()


def to_ember(t):
    """A torch CUDA tensor's values as an ember CUDA tensor (through the host)."""
    host = t.detach().cpu()
    if host.dtype == torch.bfloat16:
        return ember.from_numpy(host.float().numpy()).to(ember.bfloat16).cuda()
    return ember.from_numpy(host.numpy().copy()).cuda()


def to_numpy64(t):
    if isinstance(t, torch.Tensor):
        return t.detach().float().cpu().double().numpy()
    return t.float().cpu().numpy().astype(np.float64)


def relative_error(out, ref):
    out, ref = to_numpy64(out), to_numpy64(ref)
    if not np.all(np.isfinite(out)):
        return float("inf")
    return float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30))


def row(name, unit, ember_value, torch_value, better, target, error, tolerance, extra=None):
    ratio = ember_value / torch_value
    met = ratio >= target if better == "higher" else ratio <= target
    ok = error <= tolerance
    return {"workload": name, "unit": unit, "ember": ember_value, "torch": torch_value,
            "ratio": ratio, "target": target, "better": better, "met": met and ok,
            "rel_error": error, "correct": ok, **(extra or {})}


def bench_copy(n):
    x = torch.randn(n, device="cuda")
    y = torch.empty_like(x)
    t = median_seconds(lambda: y.copy_(x), torch_sync)
    return 2 * x.numel() * 4 / t / 1e9


def bench_elementwise(n, copy_gbps):
    rows = []
    a_t, b_t = torch.randn(n, device="cuda"), torch.randn(n, device="cuda")
    a_e, b_e = to_ember(a_t), to_ember(b_t)
    cases = [("add 64M f32", lambda: a_e + b_e, lambda: a_t + b_t, 3),
             ("relu 64M f32", lambda: a_e.relu(), lambda: a_t.relu(), 2)]
    for name, fe, ft, passes in cases:
        error = relative_error(fe(), ft())
        te = median_seconds(fe, ember_sync)
        tt = median_seconds(ft, torch_sync)
        gb = passes * n * 4 / 1e9
        rows.append(row(name, "GB/s", gb / te, gb / tt, "higher", 0.9, error, 1e-6,
                        {"of_copy": gb / te / copy_gbps}))
    return rows


def bench_reductions():
    rows = []
    n = 64 * 1024 * 1024
    x_t = torch.randn(n, device="cuda")
    x_e = to_ember(x_t)
    side = 8192
    m_t = x_t.view(side, side)
    m_e = x_e.reshape(side, side)
    cases = [("sum 64M", lambda: x_e.sum(), lambda: x_t.sum()),
             ("sum(dim=0) 8192²", lambda: m_e.sum(0), lambda: m_t.sum(0)),
             ("sum(dim=1) 8192²", lambda: m_e.sum(1), lambda: m_t.sum(1))]
    for name, fe, ft in cases:
        error = relative_error(fe(), ft())
        te = median_seconds(fe, ember_sync)
        tt = median_seconds(ft, torch_sync)
        gb = n * 4 / 1e9
        rows.append(row(name, "GB/s", gb / te, gb / tt, "higher", 0.9, error, 1e-5))
    return rows


def bench_gemm(sizes, dtype_name, target, tolerance):
    rows = []
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    tdtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    for s in sizes:
        a_t = torch.randn(s, s, device="cuda").to(tdtype)
        b_t = torch.randn(s, s, device="cuda").to(tdtype)
        a_e, b_e = to_ember(a_t), to_ember(b_t)
        # The reference is float64 products of the same (rounded) operands.
        ref = (a_t.double() @ b_t.double()) if s <= 4096 else (a_t.float() @ b_t.float())
        error = relative_error(a_e @ b_e, ref)
        torch_error = relative_error(a_t @ b_t, ref)
        inner = 10 if s <= 4096 else 3
        te = median_seconds(lambda: a_e @ b_e, ember_sync, repeats=7, inner=inner)
        tt = median_seconds(lambda: a_t @ b_t, torch_sync, repeats=7, inner=inner)
        tflop = 2 * s ** 3 / 1e12
        rows.append(row(f"{dtype_name} GEMM {s}²", "TFLOP/s", tflop / te, tflop / tt, "higher",
                        target, error, tolerance, {"torch_rel_error": torch_error}))
    return rows


def bench_mlp_step():
    torch.manual_seed(0)
    x_t = torch.randn(256, 1, 28, 28, device="cuda")
    y_t = torch.randint(0, 10, (256,), device="cuda")
    x_e, y_e = to_ember(x_t), to_ember(y_t)

    def build(lib):
        net = lib.nn.Sequential(lib.nn.Flatten(), lib.nn.Linear(784, 256), lib.nn.ReLU(),
                                lib.nn.Linear(256, 10))
        return net

    net_t = build(torch).cuda()
    net_e = build(ember)
    with ember.no_grad():
        for p_e, p_t in zip(net_e.parameters(), net_t.parameters()):
            p_e.copy_(ember.from_numpy(p_t.detach().cpu().numpy().copy()))
    net_e = net_e.to("cuda")
    loss_t, loss_e = torch.nn.CrossEntropyLoss(), ember.nn.CrossEntropyLoss()
    opt_t = torch.optim.SGD(net_t.parameters(), lr=0.1)
    opt_e = ember.optim.SGD(net_e.parameters(), lr=0.1)

    def step(net, loss, opt, x, y):
        opt.zero_grad()
        value = loss(net(x), y)
        value.backward()
        opt.step()
        return value

    first_e = step(net_e, loss_e, opt_e, x_e, y_e).item()
    first_t = step(net_t, loss_t, opt_t, x_t, y_t).item()
    error = abs(first_e - first_t) / abs(first_t)
    te = median_seconds(lambda: step(net_e, loss_e, opt_e, x_e, y_e), ember_sync, inner=20)
    tt = median_seconds(lambda: step(net_t, loss_t, opt_t, x_t, y_t), torch_sync, inner=20)
    return [row("MLP train step 784-256-10, batch 256", "µs", te * 1e6, tt * 1e6, "lower",
                1.0, error, 1e-4)]


def copy_params(net_e, net_t):
    with ember.no_grad():
        for p_e, p_t in zip(net_e.parameters(), net_t.parameters()):
            p_e.copy_(ember.from_numpy(p_t.detach().cpu().numpy().copy()))


def forward_backward_row(name, fe, ft, inputs_e, inputs_t, gflop, target, tolerance):
    """fe/ft map inputs to an output; the row times forward plus backward
    (the gradients of every input) and checks output and gradients first."""
    grad_t = torch.randn_like(ft(*inputs_t))
    grad_e = to_ember(grad_t)

    def run_e():
        for x in inputs_e:
            x.grad = None
        out = fe(*inputs_e)
        out.backward(grad_e)
        return out

    def run_t():
        for x in inputs_t:
            x.grad = None
        out = ft(*inputs_t)
        out.backward(grad_t)
        return out

    out_e, out_t = run_e(), run_t()
    error = relative_error(out_e, out_t)
    for x_e, x_t in zip(inputs_e, inputs_t):
        error = max(error, relative_error(x_e.grad, x_t.grad))
    te = median_seconds(run_e, ember_sync, repeats=9, inner=5)
    tt = median_seconds(run_t, torch_sync, repeats=9, inner=5)
    if gflop is None:
        return row(name, "µs", te * 1e6, tt * 1e6, "lower", target, error, tolerance)
    return row(name, "GFLOP/s", gflop / te, gflop / tt, "higher", target, error, tolerance)


def leaf_pair(t):
    """The same values as a leaf requiring grad in each library."""
    return to_ember(t).requires_grad_(), t.clone().requires_grad_()


def conv_flops(n, ci, co, ho, wo, k, groups=1):
    return 2 * n * co * ho * wo * (ci // groups) * k * k / 1e9


def bench_conv():
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    rows = []
    # (name, batch, in channels, out channels, size, kernel, padding): the
    # issue's 3x3 layer and LeNet's two convolutions at batch 256.
    layers = [("conv 3x3 64->64 8x64x56x56 fwd+bwd", 8, 64, 64, 56, 3, 1),
              ("LeNet conv1 1->6 5x5 pad 2 fwd+bwd", 256, 1, 6, 28, 5, 2),
              ("LeNet conv2 6->16 5x5 fwd+bwd", 256, 6, 16, 14, 5, 0)]
    for name, n, ci, co, size, k, pad in layers:
        x_e, x_t = leaf_pair(torch.randn(n, ci, size, size, device="cuda"))
        w_e, w_t = leaf_pair(torch.randn(co, ci, k, k, device="cuda") * (ci * k * k) ** -0.5)
        b_e, b_t = leaf_pair(torch.randn(co, device="cuda"))
        out = size + 2 * pad - k + 1
        gflop = 3 * conv_flops(n, ci, co, out, out, k)  # forward, input and weight gradients
        rows.append(forward_backward_row(
            name, lambda x, w, b, pad=pad: ember.nn.functional.conv2d(x, w, b, padding=pad),
            lambda x, w, b, pad=pad: torch.nn.functional.conv2d(x, w, b, padding=pad),
            [x_e, w_e, b_e], [x_t, w_t, b_t], gflop, 1.0, 1e-4))
    x_e, x_t = leaf_pair(torch.randn(32, 64, 112, 112, device="cuda"))
    rows.append(forward_backward_row(
        "max_pool2d 2x2 32x64x112x112 fwd+bwd", lambda x: ember.nn.functional.max_pool2d(x, 2),
        lambda x: torch.nn.functional.max_pool2d(x, 2), [x_e], [x_t], None, 1.0, 1e-6))
    x_e, x_t = leaf_pair(torch.randn(256, 6, 28, 28, device="cuda"))
    rows.append(forward_backward_row(
        "LeNet avg_pool2d 2x2 256x6x28x28 fwd+bwd", lambda x: ember.nn.functional.avg_pool2d(x, 2),
        lambda x: torch.nn.functional.avg_pool2d(x, 2), [x_e], [x_t], None, 1.0, 1e-6))
    return rows


def bench_lenet_step():
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    x_t = torch.randn(256, 1, 28, 28, device="cuda")
    y_t = torch.randint(0, 10, (256,), device="cuda")
    x_e, y_e = to_ember(x_t), to_ember(y_t)

    def build(lib):  # D2L's LeNet (chapter 6.6)
        nn = lib.nn
        return nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, 10))

    net_t = build(torch).cuda()
    net_e = build(ember)
    copy_params(net_e, net_t)
    net_e = net_e.to("cuda")
    loss_t, loss_e = torch.nn.CrossEntropyLoss(), ember.nn.CrossEntropyLoss()
    opt_t = torch.optim.SGD(net_t.parameters(), lr=0.9)
    opt_e = ember.optim.SGD(net_e.parameters(), lr=0.9)

    def step(net, loss, opt, x, y):
        opt.zero_grad()
        value = loss(net(x), y)
        value.backward()
        opt.step()
        return value

    # Two steps: the second loss also checks the first step's gradients.
    errors = []
    for _ in range(2):
        first_e = step(net_e, loss_e, opt_e, x_e, y_e).item()
        first_t = step(net_t, loss_t, opt_t, x_t, y_t).item()
        errors.append(abs(first_e - first_t) / abs(first_t))
    te = median_seconds(lambda: step(net_e, loss_e, opt_e, x_e, y_e), ember_sync, inner=20)
    tt = median_seconds(lambda: step(net_t, loss_t, opt_t, x_t, y_t), torch_sync, inner=20)
    return [row("LeNet train step, batch 256 (samples/s)", "samples/s", 256 / te, 256 / tt, "higher",
                1.0, max(errors), 1e-4)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller GEMMs only")
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--only", nargs="*", default=None,
                        help="sections to run: elementwise reductions f32gemm bf16gemm mlp conv lenet")
    args = parser.parse_args()
    if not ember.cuda.is_available():
        sys.exit("no CUDA device visible to ember")
    n = 64 * 1024 * 1024
    copy_gbps = bench_copy(n)
    info = {"device": torch.cuda.get_device_name(), "date": time.strftime("%Y-%m-%d"),
            "torch": torch.__version__, "copy_gbps": copy_gbps}
    print(f"{info['device']}  torch {info['torch']}  {info['date']}")
    print(f"device-to-device copy: {copy_gbps:.0f} GB/s (read + write)")
    sections = {
        "elementwise": lambda: bench_elementwise(n, copy_gbps),
        "reductions": bench_reductions,
        "f32gemm": lambda: bench_gemm([1024, 4096] if args.quick else [1024, 4096, 8192], "f32", 0.8, 1e-5),
        "bf16gemm": lambda: bench_gemm([4096] if args.quick else [4096, 8192], "bf16", 0.5, 1e-2),
        "mlp": bench_mlp_step,
        "conv": bench_conv,
        "lenet": bench_lenet_step,
    }
    rows = []
    for name, section in sections.items():
        if args.only and name not in args.only:
            continue
        try:
            rows.extend(section())
        except Exception as exc:  # report and go on: one broken kernel must not hide the rest
            print(f"FAILED {name}: {type(exc).__name__}: {exc}")
            rows.append({"workload": name, "error": repr(exc)})
    print(f"\n{'workload':40s} {'unit':8s} {'ember':>10s} {'torch':>10s} {'ratio':>7s} target  rel.err")
    for r in rows:
        if "error" in r:
            print(f"{r['workload']:40s} FAILED: {r['error']}")
            continue
        sign = ">=" if r["better"] == "higher" else "<="
        verdict = "met" if r["met"] else ("WRONG" if not r["correct"] else "missed")
        print(f"{r['workload']:40s} {r['unit']:8s} {r['ember']:10.1f} {r['torch']:10.1f} "
              f"{r['ratio']:7.2f} {sign}{r['target']:<4} {r['rel_error']:.1e} {verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
