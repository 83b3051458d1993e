"""Reductions (sum mean prod max min argmax argmin cumsum norm all any) with
dim/axis as int, tuple or list and keepdim/keepdims, compared with PyTorch."""
import numpy as np
import pytest

import ember
from _tensor_oracle import LAYOUTS, agree, both, make, needs_torch, sample, torch

DTYPES = ["float32", "float64", "int64", "int32", "bool"]

_DIM_FORMS = [
    {}, {"dim": 0}, {"dim": 1}, {"dim": -1}, {"dim": (0, 2)}, {"dim": [1, 2]}, {"axis": 0}, {"axis": [0, 1]},
    {"dim": 1, "keepdim": True}, {"axis": 1, "keepdims": True}, {"dim": (0, 1, 2), "keepdim": True},
    {"dim": (-1, 0)},
]


@pytest.mark.parametrize("name", ["sum", "mean", "prod"])
@pytest.mark.parametrize("kw", _DIM_FORMS, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES)
@needs_torch
def test_sum_mean_prod(name, kw, dtype):
    a = sample((2, 3, 4), dtype, 1, low=-2, high=3)
    d = kw.get("dim", kw.get("axis"))
    if name == "prod" and isinstance(d, (tuple, list)):
        # PyTorch's prod takes one dim only; ember accepts several, as sum does.
        keep = kw.get("keepdim", kw.get("keepdims", False))
        r = ember.tensor(a).prod(**kw)
        expected = np.prod(a.astype(np.float64 if dtype.startswith("float") else np.int64), axis=tuple(d),
                           keepdims=keep)
        np.testing.assert_allclose(r.numpy(), expected, rtol=1e-5)
        assert str(r.dtype) == ("ember." + dtype if dtype.startswith("float") else "ember.int64")
        return
    agree(lambda m, x: getattr(x, name)(**kw), a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kw", [{}, {"dim": 0}, {"dim": 1}, {"dim": (0, 1)}, {"dim": -1, "keepdim": True}], ids=repr)
@needs_torch
def test_reduce_layouts(name, layout, kw):
    a = sample((5, 6), "float32", 2, low=-1, high=1.5)
    if name == "prod" and isinstance(kw.get("dim"), tuple):  # PyTorch's prod takes one dim; ember several
        r = make(ember, a, layout).prod(**kw)
        np.testing.assert_allclose(r.numpy(), a.prod(axis=kw["dim"]), rtol=1e-5)
        return
    both(lambda m, x: getattr(x, name)(**kw), a, layout=layout, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["sum", "mean", "prod"])
@needs_torch
def test_module_functions(name):
    a = sample((3, 4), "float32", 3)
    both(lambda m, x: getattr(m, name)(x), a, atol=1e-5)
    both(lambda m, x: getattr(m, name)(x, 1), a, atol=1e-5)
    both(lambda m, x: getattr(m, name)(x, dim=0, keepdim=True), a, atol=1e-5)


@needs_torch
def test_sum_dtype_argument_and_large():
    both(lambda m, x: x.sum(dtype=m.float64), sample((3, 4), "float32", 4))
    both(lambda m, x: x.sum(dtype=m.int32), sample((3, 4), "int64", 4))
    big = sample((1000, 1001), "float32", 5, low=0, high=1)
    both(lambda m, x: x.sum(), big, rtol=1e-4)
    both(lambda m, x: x.sum(0), big, rtol=1e-4)
    both(lambda m, x: x.t().sum(1), big, rtol=1e-4)
    both(lambda m, x: x.mean(), big, rtol=1e-4)


@pytest.mark.parametrize("shape,kw", [((0,), {}), ((0, 3), {"dim": 0}), ((0, 3), {"dim": 1}), ((2, 0), {})])
@pytest.mark.parametrize("name", ["sum", "mean", "prod"])
@needs_torch
def test_empty_reductions(shape, kw, name):
    agree(lambda m, x: getattr(x, name)(**kw), np.zeros(shape, np.float32))


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "max", "min", "argmax", "argmin", "amax"])
@needs_torch
def test_0d_reductions(name):
    agree(lambda m, x: getattr(x, name)(), np.float32(2.5))
    agree(lambda m, x: getattr(x, name)(0), np.float32(2.5))
    agree(lambda m, x: getattr(x, name)(-1, keepdim=True), np.float32(2.5))


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool"])
@pytest.mark.parametrize("layout", LAYOUTS)
@needs_torch
def test_max_min(name, dtype, layout):
    a = sample((3, 4, 5), dtype, 6, low=-50, high=50)
    both(lambda m, x: getattr(x, name)(), a, layout=layout)
    both(lambda m, x: getattr(m, name)(x), a, layout=layout)
    for d in (0, 1, -1):
        r = both(lambda m, x: tuple(getattr(x, name)(d)), a, layout=layout)[0]
        both(lambda m, x: tuple(getattr(x, name)(dim=d, keepdim=True)), a, layout=layout)
        both(lambda m, x: getattr(x, name)(axis=d).values, a, layout=layout)
        both(lambda m, x: getattr(m, name)(x, d).indices, a, layout=layout)
        assert len(r) == 2


@needs_torch
def test_max_returns_named_tuple():
    x = ember.tensor([[1.0, 5.0, 3.0], [7.0, 2.0, 0.0]])
    r = x.max(1)
    values, indices = r
    assert r.values is values or np.array_equal(r.values.numpy(), values.numpy())
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    assert indices.dtype == ember.int64
    assert "values=" in repr(r) and "indices=" in repr(r)
    m = ember.max(x, ember.zeros(2, 3) + 4)  # binary form
    np.testing.assert_array_equal(m.numpy(), np.maximum(x.numpy(), 4))


@needs_torch
def test_max_ties_and_nan():
    a = np.array([[1.0, 3.0, 3.0], [np.nan, 1.0, 2.0], [2.0, 2.0, 2.0]], np.float32)
    both(lambda m, x: tuple(x.max(1)), a)
    both(lambda m, x: tuple(x.min(1)), a)
    both(lambda m, x: x.argmax(1), a)
    both(lambda m, x: x.argmin(), a)
    both(lambda m, x: x.max(), a)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dtype", ["float32", "int64", "int32", "float64"])
@pytest.mark.parametrize("kw", [{}, {"dim": 0}, {"dim": 1}, {"dim": -1, "keepdim": True}, {"axis": 1}], ids=repr)
@pytest.mark.parametrize("layout", LAYOUTS)
@needs_torch
def test_argmax_argmin(name, dtype, kw, layout):
    a = sample((4, 5), dtype, 7, low=-100, high=100)
    both(lambda m, x: getattr(x, name)(**kw), a, layout=layout)
    both(lambda m, x: getattr(m, name)(x, **kw), a, layout=layout)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("layout", LAYOUTS)
@needs_torch
def test_cumsum(dtype, dim, layout):
    a = sample((4, 5), dtype, 8, low=-3, high=4)
    both(lambda m, x: x.cumsum(dim), a, layout=layout)
    both(lambda m, x: m.cumsum(x, dim=dim), a, layout=layout)
    both(lambda m, x: x.cumsum(axis=dim), a, layout=layout)


@needs_torch
def test_cumsum_0d_empty_dtype():
    both(lambda m, x: x.cumsum(0), np.float32(2.0))
    both(lambda m, x: x.cumsum(0), np.zeros((0, 2), np.float32))
    both(lambda m, x: x.cumsum(1, dtype=m.float64), sample((2, 3), "int64", 9))


_NORMS = [
    {}, {"p": 2}, {"p": 1}, {"p": 3}, {"p": float("inf")}, {"dim": 0}, {"dim": 1, "keepdim": True},
    {"p": 1, "dim": -1}, {"dim": (0, 1)}, {"p": "fro"},
]


@pytest.mark.parametrize("kw", _NORMS, ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", LAYOUTS)
@needs_torch
def test_norm(kw, dtype, layout):
    a = sample((3, 4), dtype, 10)
    both(lambda m, x: x.norm(**kw), a, layout=layout, rtol=1e-5)
    both(lambda m, x: m.norm(x, **kw), a, layout=layout, rtol=1e-5)


@needs_torch
def test_norm_int_raises_like_torch():
    agree(lambda m, x: m.norm(x), np.arange(4))
    both(lambda m, x: m.norm(x), np.zeros((0,), np.float32))


@pytest.mark.parametrize("name", ["all", "any"])
@pytest.mark.parametrize("dtype", ["bool", "float32", "int64"])
@needs_torch
def test_all_any(name, dtype):
    a = sample((3, 4), dtype, 11, low=0, high=2)
    both(lambda m, x: getattr(x, name)(), a)
    both(lambda m, x: getattr(x, name)(1), a)
    both(lambda m, x: getattr(m, name)(x, dim=0, keepdim=True), a)


@pytest.mark.parametrize("kw", [{}, {"dim": 0}, {"dim": 1, "keepdim": True}, {"unbiased": False},
                                {"correction": 0, "dim": 1}], ids=repr)
@pytest.mark.parametrize("name", ["var", "std"])
@needs_torch
def test_var_std(kw, name):
    both(lambda m, x: getattr(x, name)(**kw), sample((4, 5), "float32", 12), rtol=1e-5)


def test_reductions_without_torch():
    a = np.arange(20, dtype=np.float32).reshape(5, 4)
    A = ember.tensor(a)
    np.testing.assert_allclose(A.sum(axis=0).numpy(), a.sum(0))
    np.testing.assert_allclose(A.sum(axis=[0, 1]).numpy(), a.sum())
    np.testing.assert_allclose(A.mean(axis=1, keepdims=True).numpy(), a.mean(1, keepdims=True))
    np.testing.assert_allclose(A.cumsum(axis=0).numpy(), a.cumsum(0))
    np.testing.assert_allclose(A.prod(1).numpy(), a.prod(1))
    np.testing.assert_array_equal(A.argmax(0).numpy(), a.argmax(0))
    np.testing.assert_allclose(A.norm().item(), np.linalg.norm(a), rtol=1e-6)
    v, i = A.min(1)
    np.testing.assert_array_equal(v.numpy(), a.min(1))
    np.testing.assert_array_equal(i.numpy(), a.argmin(1))
    assert A.sum().dtype == ember.float32 and ember.arange(4).sum().dtype == ember.int64
    assert ember.tensor([True, True]).sum().dtype == ember.int64
    assert ember.arange(4, dtype=ember.int32).sum().dtype == ember.int64
