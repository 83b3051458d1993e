"""The vectorized float32 exp and sigmoid against PyTorch: accuracy over a wide
range, the edges (overflow, subnormal results, infinities, NaN, -0.0), strided
inputs (the scalar path), and the baseline kernels forced by the environment."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

EDGES = np.array([0.0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 20, -20, 30, -30, 80, 88.5, 88.7, 88.8, 89, 100, -87,
                  -88, -95, -100, -103, -104, -110, np.inf, -np.inf, np.nan], np.float32)


def _ulps(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    a, b = np.where(same, 0, a), np.where(same, 0, b)
    spacing = np.spacing(np.abs(b).astype(np.float32)).astype(np.float64)
    return np.abs(a - b) / np.maximum(spacing, np.finfo(np.float32).smallest_subnormal)


@pytest.mark.parametrize("name", ["exp", "sigmoid"])
def test_accuracy_over_a_wide_range(name):
    x = np.linspace(-100, 90, 200001, dtype=np.float32)
    ours = getattr(ember.tensor(x), name)().numpy()
    ref = getattr(torch.tensor(x), name)().numpy()
    assert np.max(_ulps(ours, ref)) <= 3


@pytest.mark.parametrize("name", ["exp", "sigmoid"])
def test_edges(name):
    ours = getattr(ember.tensor(EDGES), name)().numpy()
    ref = getattr(torch.tensor(EDGES), name)().numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
    finite = np.isfinite(ref)
    assert np.all(_ulps(ours[finite], ref[finite]) <= 3)
    if name == "exp":
        assert ours[-3] == np.inf and ours[-2] == 0.0  # exp(inf), exp(-inf)


def test_strided_input_takes_the_scalar_path_with_the_same_values():
    x = ember.randn(64, 65)
    # (the AVX2 block may contract to FMA where the scalar loop does not: last-bit differences)
    np.testing.assert_allclose(x.t().sigmoid().numpy(), x.sigmoid().t().numpy(), rtol=3e-7)
    np.testing.assert_allclose(x[:, ::2].exp().numpy(), x.exp()[:, ::2].numpy(), rtol=3e-7)


def test_baseline_kernels_forced_by_environment():
    code = ("import numpy as np, ember; x = ember.tensor(np.linspace(-50, 50, 10001, dtype=np.float32));"
            "print(repr(x.exp().numpy().tobytes().hex()[:64]), float(x.sigmoid().sum()))")
    env = dict(os.environ, EMBER_CPU_KERNELS="baseline")
    base = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    auto = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert base.returncode == 0 and auto.returncode == 0, base.stderr + auto.stderr
    # FMA contraction may differ in the last bit, never more: compare the sums.
    assert abs(float(base.stdout.split()[-1]) - float(auto.stdout.split()[-1])) < 1e-2


def test_baseline_override_reaches_every_kernel_and_the_build_report():
    # The sum blocks used to check the processor alone; ember.info reported
    # the processor's set rather than the one in use.
    code = ("import json, numpy as np, ember; from ember import _C;"
            "x = ember.tensor(np.arange(1 << 18, dtype=np.float32) % 7);"
            "print(json.dumps([dict(_C._build_info())['cpu_kernels'], float(x.sum()), float(x.double().sum()),"
            "float((x @ x.reshape(1, -1).T.reshape(-1)))]))")
    env = dict(os.environ, EMBER_CPU_KERNELS="baseline")
    base = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    auto = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert base.returncode == 0 and auto.returncode == 0, base.stderr + auto.stderr
    base_out, auto_out = json.loads(base.stdout), json.loads(auto.stdout)
    assert base_out[0] == "baseline"
    assert base_out[1:] == pytest.approx(auto_out[1:], rel=1e-6)
