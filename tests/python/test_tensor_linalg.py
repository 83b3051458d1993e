"""Linear algebra: dot mv mm matmul bmm (with batch broadcasting), @, mul, on
contiguous and transposed inputs of several sizes, compared with PyTorch."""
import numpy as np
import pytest

import ember
from _tensor_oracle import agree, both, needs_torch, sample, torch

_MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((1, 3), (3, 1)), ((4,), (2, 4, 3)), ((2, 4, 3), (3,)),
    ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((3, 0), (0,)), ((1, 1), (1, 1)),
    ((17, 33), (33, 65)), ((67, 129), (129, 33)), ((3, 40, 70), (70, 9)),
]


@pytest.mark.parametrize("sa,sb", _MATMUL_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@needs_torch
def test_matmul(sa, sb, dtype):
    a = sample(sa, dtype, 1, low=-3, high=3)
    b = sample(sb, dtype, 2, low=-3, high=3)
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == "float32" else {}
    both(lambda m, x, y: m.matmul(x, y), a, b, **tol)
    both(lambda m, x, y: x @ y, a, b, **tol)
    both(lambda m, x, y: x.matmul(y), a, b, **tol)


@pytest.mark.parametrize("sa,sb", [((2, 3), (3, 4)), ((40, 70), (70, 9)), ((5, 2, 3), (5, 3, 4))], ids=str)
@pytest.mark.parametrize("layout", ["T", "step"])
@needs_torch
def test_matmul_strided(sa, sb, layout):
    a = sample(sa, "float32", 3)
    b = sample(sb, "float32", 4)
    both(lambda m, x, y: x @ y, a, b, layout=layout, rtol=1e-4, atol=1e-4)


@needs_torch
def test_matmul_transposed_views():
    a = sample((6, 5), "float32", 5)
    b = sample((4, 6), "float32", 6)
    both(lambda m, x, y: x.t() @ y.t(), a, b, rtol=1e-5, atol=1e-5)
    both(lambda m, x, y: x[::2].t() @ y[:, ::2].t(), a, b, rtol=1e-5, atol=1e-5)
    both(lambda m, x, y: m.mm(x.T, y.T), a, b, rtol=1e-5, atol=1e-5)
    both(lambda m, x, y: x.unsqueeze(0).expand(3, 6, 5).transpose(1, 2) @ y.t(), a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32"])
@needs_torch
def test_dot_mv_mm_bmm(dtype):
    tol = {"rtol": 1e-5, "atol": 1e-5}
    both(lambda m, x, y: m.dot(x, y), sample((7,), dtype, 7), sample((7,), dtype, 8), **tol)
    both(lambda m, x, y: x.dot(y), sample((0,), dtype, 7), sample((0,), dtype, 8), **tol)
    both(lambda m, x, y: m.mv(x, y), sample((3, 7), dtype, 9), sample((7,), dtype, 10), **tol)
    both(lambda m, x, y: x.t().mv(y), sample((7, 3), dtype, 9), sample((7,), dtype, 10), **tol)
    both(lambda m, x, y: m.mm(x, y), sample((3, 7), dtype, 11), sample((7, 2), dtype, 12), **tol)
    both(lambda m, x, y: m.bmm(x, y), sample((4, 3, 7), dtype, 13), sample((4, 7, 2), dtype, 14), **tol)
    both(lambda m, x, y: x.bmm(y.transpose(1, 2)), sample((2, 3, 5), dtype, 15), sample((2, 4, 5), dtype, 16), **tol)


@needs_torch
def test_mul_and_elementwise_products():
    a = np.ones((3, 4), np.float32)
    b = np.array([1.0, 2.0, 3.0], np.float32).reshape(3, 1)
    both(lambda m, x, y: m.mul(x, y), a, b)
    both(lambda m, x, y: x * y, a, b)
    both(lambda m, x, y: m.sum(x * x), a, b)


@pytest.mark.parametrize("call", [
    lambda m, x, y: m.dot(x, y[:3]),
    lambda m, x, y: m.mv(x.reshape(2, 2), y),
    lambda m, x, y: m.mm(x.reshape(2, 2), y.reshape(1, 5)),
    lambda m, x, y: m.bmm(x.reshape(1, 2, 2), y.reshape(1, 5, 1)),
    lambda m, x, y: m.bmm(x.reshape(2, 2), y.reshape(5, 1)),
    lambda m, x, y: m.matmul(x, y),
    lambda m, x, y: m.matmul(x.reshape(2, 1, 2), y[:4].reshape(2, 2, 1).expand(2, 2, 1).reshape(2, 2, 1)[:, :1]),
    lambda m, x, y: m.matmul(x.reshape(2, 2, 1), y[:3].reshape(3, 1, 1)),
    lambda m, x, y: m.dot(x, y[:4].long()),
    lambda m, x, y: m.mm(x.reshape(2, 2), y[:4].reshape(2, 2).double()),
    lambda m, x, y: x.reshape(2, 2) @ y[:4].reshape(2, 2).long(),
    lambda m, x, y: m.dot(x.reshape(2, 2), y[:4]),
    lambda m, x, y: m.mv(x, y[:4]),
    lambda m, x, y: m.matmul(x[0], y),
])
@needs_torch
def test_linalg_errors(call):
    agree(call, np.arange(4, dtype=np.float32), np.arange(5, dtype=np.float32))


def test_linalg_without_torch():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 4)).astype(np.float32)
    x = rng.standard_normal(4).astype(np.float32)
    b = rng.standard_normal((4, 3)).astype(np.float32)
    A = ember.tensor(a)
    np.testing.assert_allclose(ember.mv(A, ember.tensor(x)).numpy(), a @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ember.mm(A, ember.tensor(b)).numpy(), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose((A @ ember.tensor(b)).numpy(), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ember.dot(ember.tensor(x), ember.tensor(x)).item(), x @ x, rtol=1e-5)
    batch = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(ember.matmul(ember.tensor(batch), ember.tensor(b)).numpy(), batch @ b,
                               rtol=1e-5, atol=1e-5)
