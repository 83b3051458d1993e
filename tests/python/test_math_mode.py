"""ember.set_float32_matmul_precision / get_float32_matmul_precision and
ember.backends.cuda.matmul.allow_tf32: one setting seen two ways, as in
PyTorch; TF32 reaches CUDA float32 matmul only, and CPU results never
change."""
import numpy as np
import pytest

import ember


@pytest.fixture(autouse=True)
def _restore_precision():
    before = ember.get_float32_matmul_precision()
    yield
    ember.set_float32_matmul_precision(before)


def test_default_is_highest_without_tf32():
    assert ember.get_float32_matmul_precision() == "highest"
    assert ember.backends.cuda.matmul.allow_tf32 is False


@pytest.mark.parametrize("precision,tf32", [("high", True), ("medium", True), ("highest", False)])
def test_precision_and_allow_tf32_follow_each_other(precision, tf32):
    ember.set_float32_matmul_precision(precision)
    assert ember.get_float32_matmul_precision() == precision
    assert ember.backends.cuda.matmul.allow_tf32 is tf32


def test_allow_tf32_sets_the_precision():
    ember.backends.cuda.matmul.allow_tf32 = True
    assert ember.get_float32_matmul_precision() == "high"
    ember.backends.cuda.matmul.allow_tf32 = False
    assert ember.get_float32_matmul_precision() == "highest"


def test_bad_values_raise_and_change_nothing():
    ember.set_float32_matmul_precision("high")
    with pytest.raises(ValueError, match="'highest', 'high' or 'medium'"):
        ember.set_float32_matmul_precision("fast")
    with pytest.raises(RuntimeError, match="expects a str, but got int"):
        ember.set_float32_matmul_precision(3)
    with pytest.raises(RuntimeError, match="allow_tf32 expects a bool, but got str"):
        ember.backends.cuda.matmul.allow_tf32 = "yes"
    with pytest.raises(ValueError, match="'x' is not one of"):
        ember._C._set_float32_matmul_precision("x")  # the core checks too
    assert ember.get_float32_matmul_precision() == "high"
    with pytest.raises(AttributeError, match="Unknown attribute allow_tf23"):
        ember.backends.cuda.matmul.allow_tf23 = True


def test_reduced_precision_reduction_flags_are_settable_bools():
    flags = ember.backends.cuda.matmul
    assert flags.allow_fp16_reduced_precision_reduction is True
    flags.allow_fp16_reduced_precision_reduction = False
    try:
        assert flags.allow_fp16_reduced_precision_reduction is False
        with pytest.raises(RuntimeError, match="expects a bool"):
            flags.allow_bf16_reduced_precision_reduction = 1
    finally:
        flags.allow_fp16_reduced_precision_reduction = True


def test_cpu_matmul_is_float32_at_every_precision():
    rng = np.random.default_rng(0)
    a = ember.tensor(rng.standard_normal((37, 53)).astype(np.float32))
    b = ember.tensor(rng.standard_normal((53, 29)).astype(np.float32))
    ember.set_float32_matmul_precision("highest")
    exact = (a @ b).numpy()
    for p in ("high", "medium"):
        ember.set_float32_matmul_precision(p)
        np.testing.assert_array_equal((a @ b).numpy(), exact)


needs_gpu = pytest.mark.skipif(not ember.cuda.is_available(), reason="needs a CUDA device")


@needs_gpu
def test_cuda_tf32_rounds_inputs_and_stays_close():
    # 1 + 2^-12 is not a TF32 number (10-bit mantissa): under 'high' it
    # enters the tensor core as 1, under 'highest' it stays.
    a = ember.full((1, 8), 1 + 2.0 ** -12).cuda()
    b = ember.ones(8, 1).cuda()
    ember.set_float32_matmul_precision("highest")
    assert (a @ b).item() == pytest.approx(8 * (1 + 2.0 ** -12), rel=1e-7)
    ember.set_float32_matmul_precision("high")
    assert (a @ b).item() == 8.0
    # Random operands, odd sizes, transposed, batched and accumulated views:
    # within TF32's rounding of the float64 product.
    rng = np.random.default_rng(1)
    for (bs, m, k, n) in [(1, 129, 77, 65), (3, 64, 300, 31)]:
        x = rng.standard_normal((bs, m, k)).astype(np.float32)
        w = rng.standard_normal((bs, n, k)).astype(np.float32)
        ref = x.astype(np.float64) @ w.astype(np.float64).transpose(0, 2, 1)
        got = (ember.tensor(x).cuda() @ ember.tensor(w).cuda().transpose(1, 2)).cpu().numpy()
        scale = np.sqrt(k) * 2.0 ** -10
        assert np.max(np.abs(got - ref)) <= 4 * scale
    ember.set_float32_matmul_precision("highest")
