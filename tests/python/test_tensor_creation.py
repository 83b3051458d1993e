"""Creation functions and tensor attributes, compared with PyTorch (values,
shapes, dtypes) and with numpy where PyTorch is absent."""
import numpy as np
import pytest

import ember
from _tensor_oracle import assert_same, both, dtype_name, needs_torch, torch


def _cmp(fn, **tol):
    return both(lambda m: fn(m), **tol)


# ---------------------------------------------------------------- arange / linspace / eye

@pytest.mark.parametrize("call", [
    lambda m: m.arange(12),
    lambda m: m.arange(0),
    lambda m: m.arange(1, 10, 2),
    lambda m: m.arange(-3, 3),
    lambda m: m.arange(10, 0, -3),
    lambda m: m.arange(4.0),
    lambda m: m.arange(0, 1, 0.1),
    lambda m: m.arange(0, 5, 0.5, dtype=m.float64),
    lambda m: m.arange(12, dtype=m.float32),
    lambda m: m.arange(5, dtype=m.int32),
    lambda m: m.arange(1, 2.5, 0.5),
    lambda m: m.arange(m.tensor(5)),
    lambda m: m.arange(24).reshape(2, 3, 4),
])
@needs_torch
def test_arange(call):
    _cmp(call)


@pytest.mark.parametrize("call", [
    lambda m: m.linspace(0, 1, 5),
    lambda m: m.linspace(-1, 1, steps=1),
    lambda m: m.linspace(0, 10, steps=4),
    lambda m: m.linspace(3, -3, 7, dtype=m.float64),
    lambda m: m.linspace(0, 1, 0),
    lambda m: m.eye(3),
    lambda m: m.eye(2, 3),
    lambda m: m.eye(3, 1, dtype=m.int64),
    lambda m: m.eye(0),
])
@needs_torch
def test_linspace_eye(call):
    _cmp(call)


def test_arange_without_torch():
    x = ember.arange(12)
    assert str(x.dtype) == "ember.int64"
    np.testing.assert_array_equal(x.numpy(), np.arange(12))
    y = ember.arange(0, 1, 0.25)
    assert str(y.dtype) == "ember.float32"
    np.testing.assert_allclose(y.numpy(), np.arange(0, 1, 0.25, dtype=np.float32))
    np.testing.assert_allclose(ember.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5, dtype=np.float32))
    np.testing.assert_array_equal(ember.eye(2, 3).numpy(), np.eye(2, 3, dtype=np.float32))


# ---------------------------------------------------------------- zeros / ones / full / empty

_FACTORY_ARGS = [
    ((2, 3), {}),
    (((2, 3),), {}),
    (([2, 3],), {}),
    ((), {"size": (2, 3)}),
    ((4,), {}),
    (((),), {}),
    ((0, 3), {}),
    ((2, 3, 4), {"dtype": "float64"}),
    ((2, 3), {"dtype": "int64"}),
    ((3,), {"dtype": "int32"}),
    ((3,), {"dtype": "bool"}),
]


def _kw(m, kw):
    kw = dict(kw)
    if "dtype" in kw:
        kw["dtype"] = getattr(m, kw["dtype"])
    return kw


@pytest.mark.parametrize("name", ["zeros", "ones"])
@pytest.mark.parametrize("args,kw", _FACTORY_ARGS)
@needs_torch
def test_zeros_ones(name, args, kw):
    _cmp(lambda m: getattr(m, name)(*args, **_kw(m, kw)))


@pytest.mark.parametrize("args,kw", _FACTORY_ARGS)
@needs_torch
def test_empty_shape_dtype(args, kw):
    e = ember.empty(*args, **_kw(ember, kw))
    t = torch.empty(*args, **_kw(torch, kw))
    assert tuple(e.shape) == tuple(t.shape) and dtype_name(e.dtype) == dtype_name(t.dtype)


@pytest.mark.parametrize("call", [
    lambda m: m.full((2, 3), 7),
    lambda m: m.full((2,), 1.5),
    lambda m: m.full((2, 2), True),
    lambda m: m.full([3], -2, dtype=m.float64),
    lambda m: m.full((), 4.25),
    lambda m: m.full((2, 0), 1.0),
])
@needs_torch
def test_full(call):
    _cmp(call)


@pytest.mark.parametrize("src", ["float32", "int64", "bool", "float64", "int32"])
@pytest.mark.parametrize("call", [
    lambda m, x: m.zeros_like(x),
    lambda m, x: m.ones_like(x),
    lambda m, x: m.ones_like(x, dtype=m.float64),
    lambda m, x: m.full_like(x, 1),
    lambda m, x: m.full_like(x, 0, dtype=m.int32),
])
@needs_torch
def test_like(src, call):
    arr = np.arange(6).reshape(2, 3).astype(src)
    both(call, arr)


@pytest.mark.parametrize("name", ["empty_like", "rand_like", "randn_like"])
def test_like_random_shapes(name):
    x = ember.zeros(2, 5, dtype=ember.float64)
    y = getattr(ember, name)(x)
    assert tuple(y.shape) == (2, 5) and y.dtype == ember.float64


# ---------------------------------------------------------------- random

@pytest.mark.parametrize("name", ["rand", "randn"])
def test_rand_randn_forms(name):
    f = getattr(ember, name)
    assert tuple(f(3, 4).shape) == (3, 4)
    assert tuple(f((3, 4)).shape) == (3, 4)
    assert tuple(f([2]).shape) == (2,)
    assert tuple(f(size=(2, 5)).shape) == (2, 5)
    assert tuple(f(size=()).shape) == ()
    assert f(size=()).dim() == 0
    assert f(3, dtype=ember.float64).dtype == ember.float64
    assert f(3).dtype == ember.float32
    assert tuple(f(0, 3).shape) == (0, 3)


def test_rand_statistics():
    ember.manual_seed(0)
    u = ember.rand(100000).numpy()
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01
    n = ember.randn(100000).numpy()
    assert abs(n.mean()) < 0.02 and abs(n.std() - 1) < 0.02
    g = ember.normal(3.0, 0.5, (100000,)).numpy()
    assert abs(g.mean() - 3) < 0.02 and abs(g.std() - 0.5) < 0.02


@pytest.mark.parametrize("make", [
    lambda: ember.rand(5, 3),
    lambda: ember.randn(7),
    lambda: ember.randint(0, 100, (4, 4)),
    lambda: ember.normal(0, 1, (3, 2)),
    lambda: ember.empty(6).normal_(0, 0.01),
    lambda: ember.empty(6).uniform_(-1, 1),
])
def test_manual_seed_reproducible(make):
    ember.manual_seed(1234)
    a = make().numpy().copy()
    b = make().numpy().copy()
    ember.manual_seed(1234)
    c = make().numpy()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b), "consecutive draws should differ"
    ember.manual_seed(99)
    assert not np.array_equal(a, make().numpy())


def test_randint():
    ember.manual_seed(0)
    x = ember.randint(0, 10, (3, 4))
    assert x.dtype == ember.int64 and tuple(x.shape) == (3, 4)
    v = ember.randint(-5, 5, (10000,)).numpy()
    assert v.min() == -5 and v.max() == 4
    y = ember.randint(5, (7,))
    assert y.numpy().min() >= 0 and y.numpy().max() < 5
    z = ember.randint(3, 6, size=(2,), dtype=ember.int32)
    assert z.dtype == ember.int32


def test_normal_forms():
    y = ember.zeros(5)
    noise = ember.normal(0, 0.01, y.shape)
    assert tuple(noise.shape) == (5,) and noise.dtype == ember.float32
    m = ember.normal(ember.zeros(3, 2), 1.0)
    assert tuple(m.shape) == (3, 2)
    x = ember.normal(0, 1, (1000, 2))
    assert tuple(x.shape) == (1000, 2)
    w = ember.empty(2, 3).uniform_(2, 3).numpy()
    assert w.min() >= 2 and w.max() <= 3


# ---------------------------------------------------------------- tensor() and legacy constructors

_DATA = [
    [1, 2, 3],
    [1.0, 2, 4, 8],
    [[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]],
    [True, False],
    3.0,
    5,
    True,
    [],
    [[]],
    [[1.5], [2.5]],
    [1, 2.5, True],
    [-1, 2 ** 40],
    np.arange(6, dtype=np.float64).reshape(2, 3),
    np.arange(6, dtype=np.int32),
    np.array([True, False, True]),
    np.float64(2.5),
    np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2],
    np.arange(12).reshape(3, 4).T,
]


@pytest.mark.parametrize("data", _DATA, ids=range(len(_DATA)))
@needs_torch
def test_tensor_from_data(data):
    both(lambda m: m.tensor(data))


@pytest.mark.parametrize("data", [[1, 2], [1.5, -2.5], [True, False], [[1, 2], [3, 4]]])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool"])
@needs_torch
def test_tensor_with_dtype(data, dtype):
    both(lambda m: m.tensor(data, dtype=getattr(m, dtype)))


@needs_torch
def test_tensor_of_tensors_and_scalars():
    both(lambda m: m.tensor([m.tensor(1.5), 2.0]))
    both(lambda m: m.tensor(m.arange(3)))


@pytest.mark.parametrize("call", [
    lambda m: m.FloatTensor([1, 2, 3]),
    lambda m: m.Tensor([1, 2, 3]).reshape((3, 1)),
    lambda m: m.LongTensor([1, 2]),
    lambda m: m.DoubleTensor([[1, 2]]),
    lambda m: m.IntTensor([3]),
    lambda m: m.FloatTensor(2, 3).shape,
])
@needs_torch
def test_legacy_constructors(call):
    _cmp(call)


def test_tensor_requires_grad_and_device():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    assert x.requires_grad and x.is_leaf
    assert repr(x.device) == "device(type='cpu')"
    assert ember.zeros(2, device="cpu").device == ember.device("cpu")
    assert ember.ones(2, requires_grad=True).requires_grad


# ---------------------------------------------------------------- attributes

@needs_torch
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3), (2, 3, 4), (1, 0, 2)])
def test_attributes(shape):
    arr = np.zeros(shape, dtype=np.float32)
    e, t = ember.tensor(arr), torch.tensor(arr)
    assert isinstance(e.shape, tuple)
    assert tuple(e.shape) == tuple(t.shape) and e.shape == t.shape
    assert repr(e.shape) == repr(t.shape).replace("torch.", "ember.")
    assert tuple(e.size()) == tuple(t.size())
    assert e.ndim == t.ndim and e.dim() == t.dim() and e.numel() == t.numel()
    for d in range(-len(shape), len(shape)):
        assert e.size(d) == t.size(d) and e.shape[d] == t.shape[d]
    if shape:
        assert len(e) == len(t)
    assert str(e.dtype) == "ember.float32"
    assert e.requires_grad is False and e.grad is None and e.grad_fn is None and e.is_leaf


def test_size_is_tuple_subclass():
    s = ember.zeros(2, 3).shape
    assert isinstance(s, ember.Size) and isinstance(s, tuple)
    assert s == (2, 3) and s[1] == 3 and list(s) == [2, 3]
    assert repr(s) == "ember.Size([2, 3])"
    assert s.numel() == 6
    assert ember.zeros(s).shape == s


@needs_torch
def test_T_attribute():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    both(lambda m, x: x.T, a)
    both(lambda m, x: x.T, np.arange(3))
    both(lambda m, x: x.T, np.float32(1.0))


def test_dtype_objects():
    assert ember.float32 is ember.float and ember.float64 is ember.double
    assert ember.int64 is ember.long and ember.int32 is ember.int
    assert repr(ember.float32) == "ember.float32" and str(ember.bool) == "ember.bool"
    assert ember.float32.is_floating_point and not ember.int64.is_floating_point
    assert ember.float16.itemsize == 2
