"""Issue 18's one-call picture of the Hopper GEMM: every tile configuration
of the wgmma + TMA kernel (cuda/matmul_hopper.cu) over 2048²-8192² in
bfloat16 and float16, beside the sm_80 mma.sync kernel it replaces and
cuBLAS (through PyTorch), plus TF32 float32 matmul against cuBLAS's TF32.

    python bench/hopper_gemm.py [--sizes 2048 4096 8192] [--json out.json]

The layout is a @ b.T (both operands K-contiguous: what the kernel takes,
and Linear's x @ W.T). Each configuration is checked against PyTorch on the
same inputs before it is timed, at a small ragged size and at the timed
size; a wrong result prints FAILED and no figure. Timing: median of
repeats of `inner` calls, each repeat closed by a device synchronize.
"""
import argparse
import json
import os
import sys
import time

import ember

try:
    import torch
except ImportError:
    sys.exit("hopper_gemm.py needs PyTorch with CUDA as the reference")

from compare_cuda import median_seconds, relative_error, to_ember

TILES = ["128x128s4", "128x128s6", "128x256s3", "128x256s4"]


def kernel_env(tile):
    """Selects the Hopper kernel and tile (None: the sm_80 kernel)."""
    if tile is None:
        os.environ.pop("EMBER_CUDA_WGMMA", None)
    else:
        os.environ["EMBER_CUDA_WGMMA"] = "1"
        os.environ["EMBER_CUDA_WGMMA_TILE"] = tile


def gemm_rows(n, name, tdtype, tolerance):
    rows = []
    gen = torch.Generator(device="cuda").manual_seed(n)
    a = torch.randn(n, n, device="cuda", dtype=tdtype, generator=gen)
    b = torch.randn(n, n, device="cuda", dtype=tdtype, generator=gen)
    small_a = torch.randn(333, 264, device="cuda", dtype=tdtype, generator=gen)
    small_b = torch.randn(200, 264, device="cuda", dtype=tdtype, generator=gen)
    flops = 2.0 * n ** 3
    ref = a @ b.T
    torch_s = median_seconds(lambda: a @ b.T, torch.cuda.synchronize, repeats=9, inner=5)
    ea, eb = to_ember(a), to_ember(b)
    esa, esb = to_ember(small_a), to_ember(small_b)
    for tile in [None] + TILES:
        kernel_env(tile)
        label = tile or "mma.sync (sm_80)"
        err = max(relative_error(esa @ esb.T, small_a @ small_b.T), relative_error(ea @ eb.T, ref))
        if err > tolerance:
            print(f"{name} {n}^2 {label:18s} FAILED: relative error {err:.2e} > {tolerance:.0e}", flush=True)
            rows.append({"dtype": name, "n": n, "kernel": label, "error": err, "failed": True})
            continue
        s = median_seconds(lambda: ea @ eb.T, ember.cuda.synchronize, repeats=9, inner=5)
        tf_e, tf_t = flops / s / 1e12, flops / torch_s / 1e12
        print(f"{name} {n}^2 {label:18s} {tf_e:7.1f} TFLOP/s  cuBLAS {tf_t:7.1f}  ratio {tf_e / tf_t:.2f}  "
              f"(error {err:.1e})", flush=True)
        rows.append({"dtype": name, "n": n, "kernel": label, "tflops": tf_e, "cublas_tflops": tf_t,
                     "ratio": tf_e / tf_t, "error": err})
    kernel_env(None)
    return rows


def tf32_rows(n):
    gen = torch.Generator(device="cuda").manual_seed(n + 1)
    a = torch.randn(n, n, device="cuda", generator=gen)
    b = torch.randn(n, n, device="cuda", generator=gen)
    ea, eb = to_ember(a), to_ember(b)
    exact = (a.double() @ b.double()).float()
    torch.backends.cuda.matmul.allow_tf32 = True
    ember.set_float32_matmul_precision("high")
    try:
        err = relative_error(ea @ eb, exact)
        if err > 5e-3:
            print(f"tf32 {n}^2 FAILED: relative error {err:.2e}", flush=True)
            return [{"dtype": "tf32", "n": n, "error": err, "failed": True}]
        flops = 2.0 * n ** 3
        te = median_seconds(lambda: ea @ eb, ember.cuda.synchronize, repeats=9, inner=5)
        tt = median_seconds(lambda: a @ b, torch.cuda.synchronize, repeats=9, inner=5)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
        ember.set_float32_matmul_precision("highest")
    print(f"tf32 {n}^2 {flops / te / 1e12:7.1f} TFLOP/s  cuBLAS {flops / tt / 1e12:7.1f}  ratio {tt / te:.2f}  "
          f"(error {err:.1e})", flush=True)
    return [{"dtype": "tf32", "n": n, "tflops": flops / te / 1e12, "cublas_tflops": flops / tt / 1e12,
             "ratio": tt / te, "error": err}]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    if not ember.cuda.is_available():
        sys.exit("hopper_gemm.py needs a CUDA device")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {ember.cuda.get_device_name(0)}, torch {torch.__version__}",
          flush=True)
    rows = []
    for n in args.sizes:
        rows += gemm_rows(n, "bf16", torch.bfloat16, 1e-2)
        rows += gemm_rows(n, "fp16", torch.float16, 5e-3)
        rows += tf32_rows(n)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
