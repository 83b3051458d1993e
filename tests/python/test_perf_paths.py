"""The fast paths added for CPU performance give PyTorch's results.

In-place arithmetic written straight into self (no temporary), large
reductions split into chunks, and kernels that take the multi-thread path.
"""
import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def both(array):
    return ember.tensor(array), torch.tensor(array)


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_"])
@pytest.mark.parametrize("other", ["tensor", "row", "scalar", "int_tensor", "self"])
def test_inplace_direct_matches_torch(op, other):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 5)).astype(np.float32)
    e, t = both(base)
    if other == "tensor":
        eo, to = both(rng.standard_normal((4, 5)).astype(np.float32) + 3)
    elif other == "row":
        eo, to = both(rng.standard_normal(5).astype(np.float32) + 3)
    elif other == "scalar":
        eo = to = 0.25
    elif other == "int_tensor":
        eo, to = both(np.arange(1, 6, dtype=np.int64))
    else:
        eo, to = e, t
    version = e._version
    assert getattr(e, op)(eo) is e
    getattr(t, op)(to)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
    assert e._version > version


def test_inplace_overlapping_views_match_torch():
    e, t = ember.arange(8.0), torch.arange(8.0)
    e[1:].add_(e[:-1])
    t[1:].add_(t[:-1].clone())  # PyTorch refuses the overlap; ember reads the old values
    np.testing.assert_allclose(e.numpy(), t.numpy())


def test_inplace_on_view_writes_base_and_keeps_errors():
    e = ember.zeros(3, 4)
    e[:, 1].add_(ember.ones(3))
    assert e.sum().item() == 3 and e[:, 1].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(Exception, match="bool tensor"):
        ember.ones(3).sub_(ember.tensor([True, False, True]))
    with pytest.raises(Exception):
        ember.ones(3).add_(ember.ones(4))
    with pytest.raises(Exception, match="can't be cast"):
        ember.ones(3, dtype=ember.int64).add_(0.5)


def test_inplace_in_graph_still_records():
    w = ember.ones(3, requires_grad=True)
    y = w * 2
    y.add_(ember.ones(3))
    y.sum().backward()
    assert w.grad.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("n", [1, 31, 32, 65537, 300001, 1 << 22])
def test_large_sums_and_extrema(n):
    x = np.random.default_rng(n).random(n, dtype=np.float32)
    e = ember.from_numpy(x)
    ref = x.astype(np.float64).sum()
    assert abs(e.sum().item() - ref) <= 1e-5 * max(1.0, ref)
    assert e.max().item() == x.max() and e.min().item() == x.min()
    np.testing.assert_array_equal((e + e).numpy(), x + x)
    np.testing.assert_array_equal(e.relu().numpy(), np.maximum(x, 0))


def test_column_and_row_sums():
    m = np.random.default_rng(1).random((2000, 600), dtype=np.float32)
    e = ember.from_numpy(m)
    np.testing.assert_allclose(e.sum(0).numpy(), m.sum(0, dtype=np.float64), rtol=1e-5)
    np.testing.assert_allclose(e.sum(1).numpy(), m.sum(1, dtype=np.float64), rtol=1e-5)


# Outputs of 8 MiB and more are written with streaming stores (csrc/cpu/
# streaming.h): a plain head up to a 64-byte boundary, 256-byte blocks, a
# plain tail. Odd lengths and a view starting one element in exercise all
# three parts, per thread chunk.
STREAMED = (1 << 21) + 37  # float32 elements: just over 8 MiB


def test_streamed_unary_binary_and_scalar_match_numpy():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(STREAMED + 1).astype(np.float32)
    y = rng.standard_normal(STREAMED + 1).astype(np.float32)
    ex, ey = ember.from_numpy(x)[1:], ember.from_numpy(y)[1:]
    xs, ys = x[1:], y[1:]
    np.testing.assert_array_equal(ex.relu().numpy(), np.maximum(xs, 0))
    np.testing.assert_array_equal((ex + ey).numpy(), xs + ys)
    np.testing.assert_array_equal((ex * 3.0).numpy(), xs * np.float32(3.0))
    np.testing.assert_array_equal((2.0 - ex).numpy(), np.float32(2.0) - xs)
    np.testing.assert_array_equal((ex > ey).numpy(), xs > ys)
    np.testing.assert_array_equal(ember.clamp(ex, min=-0.5, max=0.5).numpy(), np.clip(xs, -0.5, 0.5))


def test_streamed_copies_conversions_and_fills():
    x = np.random.default_rng(8).standard_normal(STREAMED + 1).astype(np.float32)
    e = ember.from_numpy(x)[1:]
    np.testing.assert_array_equal(e.clone().numpy(), x[1:])
    np.testing.assert_array_equal(e.double().numpy(), x[1:].astype(np.float64))
    np.testing.assert_array_equal(e.half().float().numpy(), x[1:].astype(np.float16).astype(np.float32))
    assert ember.zeros(STREAMED).sum().item() == 0
    full = ember.full((STREAMED,), 1.5)
    assert full.min().item() == 1.5 and full.max().item() == 1.5
    big_int = ember.ones(STREAMED, dtype=ember.int64)  # 16 MiB of int64
    assert big_int.sum().item() == STREAMED


def test_streamed_inplace_and_result_read_by_next_op():
    x = np.random.default_rng(9).standard_normal(STREAMED).astype(np.float32)
    e = ember.from_numpy(x.copy())
    e.relu_()
    np.testing.assert_array_equal(e.numpy(), np.maximum(x, 0))
    # The fence after streaming stores: the next op reads every element.
    assert (ember.from_numpy(x).relu() - ember.from_numpy(np.maximum(x, 0))).abs().max().item() == 0


@pytest.mark.parametrize("shape", [(2000, 2000), (1025, 513), (3, 700000), (700001, 3), (7, 5)])
@pytest.mark.parametrize("op", ["sum", "amax", "amin", "prod"])
def test_column_reductions_match_torch(shape, op):
    rng = np.random.default_rng(sum(shape))
    m = (rng.random(shape, dtype=np.float32) + 0.5) if op == "prod" else rng.standard_normal(shape).astype(np.float32)
    if op == "prod":
        m = m[:40]  # keep the product finite
    e, t = ember.from_numpy(m), torch.from_numpy(m)
    got, want = getattr(e, op)(0), getattr(t, op)(0)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64])
def test_column_sums_other_dtypes(dtype):
    m = np.random.default_rng(3).integers(-50, 50, (1201, 901)).astype(dtype)
    e = ember.from_numpy(m)
    np.testing.assert_allclose(e.sum(0).numpy(), m.sum(0))
    assert e.sum(0).dtype == (ember.float64 if dtype == np.float64 else ember.int64)
    np.testing.assert_array_equal(e.amax(0).numpy(), m.max(0))


def test_column_any_all_and_nan():
    m = np.zeros((1000, 700), dtype=bool)
    m[999, 3] = True
    e = ember.from_numpy(m)
    assert e.any(0).numpy().tolist() == m.any(0).tolist()
    assert e.all(0).numpy().tolist() == m.all(0).tolist()
    f = np.random.default_rng(4).standard_normal((1000, 700)).astype(np.float32)
    f[500, 10] = np.nan
    got = ember.from_numpy(f).amax(0).numpy()
    assert np.isnan(got[10]) and not np.isnan(np.delete(got, 10)).any()


def test_set_num_threads_checks_its_argument():
    before = ember.get_num_threads()
    for bad in (0, -2, 1025, 2**40):
        with pytest.raises(RuntimeError, match="set_num_threads"):
            ember.set_num_threads(bad)
    for bad in ("2", 2.0, True, None):
        with pytest.raises(RuntimeError, match="expects an int"):
            ember.set_num_threads(bad)
    assert ember.get_num_threads() == before


def test_column_sum_is_independent_of_thread_count():
    m = np.random.default_rng(5).standard_normal((2000, 2000)).astype(np.float32)
    e = ember.from_numpy(m)
    before = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        one = e.sum(0).numpy()
        ember.set_num_threads(2)
        two = e.sum(0).numpy()
    finally:
        ember.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("op", ["relu_", "neg_", "exp_", "abs_", "sigmoid_", "tanh_"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_unary_inplace_direct_matches_torch(op, dtype, layout):
    base = np.random.default_rng(6).standard_normal((6, 8)).astype(dtype)
    e, t = both(base)
    if layout == "transposed":
        e, t = e.t(), t.t()
    elif layout == "strided":
        e, t = e[:, ::3], t[:, ::3]
    version = e._version
    assert getattr(e, op)() is e
    getattr(t, op)()
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
    assert e._version > version


def test_unary_inplace_edge_cases():
    base = ember.zeros(2, 3)
    base[1].relu_()  # a view writes through to its base
    row = ember.tensor([-1.0, 2.0, -3.0])
    base[0].copy_(row).relu_()
    assert base.tolist() == [[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]
    with pytest.raises(RuntimeError):
        ember.ones(1, 3).expand(2, 3).neg_()  # elements alias: refused, as in PyTorch
    with pytest.raises(RuntimeError, match="can't be cast"):
        ember.ones(3, dtype=ember.int64).exp_()
    ints = ember.tensor([-2, 3])
    ints.relu_()
    assert ints.tolist() == [0, 3]
    w = ember.ones(3, requires_grad=True)
    y = w * -1.0
    y.relu_()
    y.sum().backward()  # recorded: the general path still builds the graph
    assert w.grad.tolist() == [0.0, 0.0, 0.0]


def test_linear_weight_grad_arrives_contiguous_and_matches_torch():
    # The gradient of a transposed operand is computed in its layout, so the
    # weight's .grad needs no strided copy; values must not change.
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    w = rng.standard_normal((3, 7)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    ew, eb = ember.tensor(w, requires_grad=True), ember.tensor(b, requires_grad=True)
    tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    (ember.nn.functional.linear(ember.tensor(x), ew, eb) ** 2).sum().backward()
    (torch.nn.functional.linear(torch.tensor(x), tw, tb) ** 2).sum().backward()
    assert ew.grad.is_contiguous()
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(eb.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_mm_with_transposed_second_operand_gradcheck():
    a = ember.randn(4, 5, dtype=ember.float64, requires_grad=True)
    m = ember.randn(6, 5, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a, m: a @ m.t(), (a, m))

    def grad_wrt_m(a, m):  # second derivatives go through the new layout too
        (gm,) = ember.autograd.grad((a @ m.t()).pow(2).sum(), (m,), create_graph=True)
        return gm
    assert ember.autograd.gradcheck(grad_wrt_m, (a, m))
    bias = ember.randn(6, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a, m, bias: ember.nn.functional.linear(a, m, bias), (a, m, bias))


@pytest.mark.parametrize("shape", [(300, 600, 530), (64, 100, 90), (2, 20, 256)])
def test_matmul_is_independent_of_thread_count(shape):
    # The blocking (and so each element's summation order) depends on the
    # sizes only; threads change who computes what, never the result.
    m, k, n = shape
    rng = np.random.default_rng(12)
    a = ember.from_numpy(rng.standard_normal((m, k)).astype(np.float32))
    b = ember.from_numpy(rng.standard_normal((k, n)).astype(np.float32))
    before = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        one = (a @ b).numpy()
        ember.set_num_threads(2)
        two = (a @ b).numpy()
    finally:
        ember.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one, a.numpy().astype(np.float64) @ b.numpy().astype(np.float64), rtol=1e-4,
                               atol=1e-3)
