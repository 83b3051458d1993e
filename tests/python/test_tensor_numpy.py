"""numpy interop (memory shared both ways) and conversions: item, float, int,
bool, tolist, type(dtype), float()/long()/to(dtype)."""
import numpy as np
import pytest

import ember
from _tensor_oracle import agree, both, dtype_name, needs_torch, sample, torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.bool_, np.int16, np.uint8])
def test_from_numpy_shares_memory(dtype):
    a = np.zeros((2, 3), dtype=dtype)
    t = ember.from_numpy(a)
    assert t.dtype == getattr(ember, np.dtype(dtype).name)
    assert tuple(t.shape) == (2, 3)
    a[1, 2] = 1
    assert t[1, 2].item() == 1
    t[0, 0] = 1
    assert a[0, 0] == 1


def test_from_numpy_strided_and_0d():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = ember.from_numpy(a[:, ::2])
    np.testing.assert_array_equal(t.numpy(), a[:, ::2])
    t[0, 1] = -1
    assert a[0, 2] == -1
    tt = ember.from_numpy(a.T)
    assert tt.stride() == (1, 4)
    s = ember.from_numpy(np.array(3.5))
    assert s.dim() == 0 and s.item() == 3.5
    e = ember.from_numpy(np.zeros((0, 3), np.float32))
    assert tuple(e.shape) == (0, 3)


def test_from_numpy_outlives_array_reference():
    t = ember.from_numpy(np.arange(5.0))
    import gc
    gc.collect()
    np.testing.assert_array_equal(t.numpy(), np.arange(5.0))


def test_numpy_shares_memory():
    t = ember.arange(6, dtype=ember.float32).reshape(2, 3)
    a = t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == (2, 3)
    a[0, 0] = 100
    assert t[0, 0].item() == 100
    t += 1
    assert a[0, 0] == 101
    v = t.t().numpy()
    assert v.shape == (3, 2) and v[0, 1] == t[1, 0].item()
    del t
    assert a[1, 2] == 6  # the array keeps the storage alive


def test_tensor_of_numpy_copies():
    a = np.ones(3, np.float32)
    t = ember.tensor(a)
    a[0] = 5
    assert t[0].item() == 1
    assert ember.as_tensor(t) is t


def test_d2l_numpy_round_trip():
    X = ember.arange(12, dtype=ember.float32).reshape((3, 4))
    A = X.numpy()
    B = ember.tensor(A)
    assert type(A) is np.ndarray and type(B) is ember.Tensor
    assert np.asarray(X).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(X), A)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool"])
def test_numpy_dtypes(dtype):
    t = ember.zeros(3, dtype=getattr(ember, dtype))
    assert t.numpy().dtype == np.dtype(dtype if dtype != "bool" else np.bool_)


def test_numpy_requires_grad_error():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- scalars

def test_item_float_int_bool():
    a = ember.tensor([3.5])
    assert (a.item(), float(a), int(a)) == (3.5, 3.5, 3)
    assert type(a.item()) is float
    assert type(ember.tensor(3).item()) is int
    assert type(ember.tensor(True).item()) is bool
    assert bool(ember.tensor([0.0])) is False and bool(ember.tensor(2))
    assert int(ember.tensor(-2.7)) == -2
    assert ember.tensor([[7]]).item() == 7
    assert float(ember.tensor(2, dtype=ember.int32)) == 2.0
    assert f"{ember.tensor(0.5):.2f}" == "0.50"
    assert [10, 20, 30][ember.tensor(1)] == 20
    assert range(5)[ember.tensor(2)] == 2


@needs_torch
@pytest.mark.parametrize("call", [
    lambda m: m.tensor([1.0, 2.0]).item(),
    lambda m: float(m.tensor([1.0, 2.0])),
    lambda m: int(m.arange(3)),
    lambda m: bool(m.tensor([True, False])),
    lambda m: m.zeros(0).item(),
    lambda m: [1, 2][m.tensor(0.5)],
    lambda m: [1, 2][m.tensor([0, 1])],
    lambda m: len(m.tensor(1.0)),
    lambda m: iter(m.tensor(1.0)),
])
def test_scalar_conversion_errors(call):
    agree(lambda m: call(m))


@pytest.mark.parametrize("data", [
    [[1, 2], [3, 4]], [1.5, -2.25], [True, False], 3.0, 7, [], [[1.0], [2.0]],
])
@needs_torch
def test_tolist(data):
    e, t = ember.tensor(data).tolist(), torch.tensor(data).tolist()
    assert e == t and type(e) is type(t)
    if isinstance(t, list) and t and not isinstance(t[0], list):
        assert [type(v) for v in e] == [type(v) for v in t]


@needs_torch
def test_tolist_strided():
    both(lambda m, x: x.t().tolist(), sample((2, 3), "int64", 1))
    both(lambda m, x: x[:, ::2].tolist(), sample((2, 3), "float64", 1))


def test_iteration_and_list():
    x = ember.arange(6).reshape(3, 2)
    rows = list(x)
    assert len(rows) == 3 and rows[1].tolist() == [2, 3]
    assert [int(v) for v in ember.arange(3)] == [0, 1, 2]


# ---------------------------------------------------------------- dtype conversions

_CASTS = [
    lambda m, x: x.float(), lambda m, x: x.double(), lambda m, x: x.long(), lambda m, x: x.int(),
    lambda m, x: x.bool(), lambda m, x: x.to(m.float64), lambda m, x: x.to(dtype=m.int32),
    lambda m, x: x.to(m.float32), lambda m, x: x.type(m.float64), lambda m, x: x.type(m.int64),
    lambda m, x: x.type("torch.FloatTensor" if m is torch else "ember.FloatTensor"),
    lambda m, x: x.type(), lambda m, x: x.to("cpu"), lambda m, x: x.to(m.zeros(1, dtype=m.int32)),
    lambda m, x: x.to("cpu", m.float64), lambda m, x: x.half().float(), lambda m, x: x.bfloat16().float(),
    lambda m, x: x.to(m.float16).to(m.float64),
]


@pytest.mark.parametrize("k", range(len(_CASTS)))
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool"])
@needs_torch
def test_casts(k, dtype):
    a = sample((2, 3), dtype, 2, low=-3, high=3)
    if dtype.startswith("float"):
        a = a * 1000.3  # exercises float->int truncation and half rounding
    both(_CASTS[k], a, rtol=1e-3 if k >= 15 else None)
    both(_CASTS[k], a, layout="T", rtol=1e-3 if k >= 15 else None)


@needs_torch
def test_cast_identity_and_copy():
    x = ember.ones(2)
    assert x.float() is x or x.float().data_ptr() == x.data_ptr()
    assert x.to(ember.float32) is x
    assert x.to("cpu") is x and x.cpu() is x
    y = x.to(ember.float32, copy=True)
    assert y is not x and y.data_ptr() != x.data_ptr()
    assert dtype_name(x.long().dtype) == "ember.int64"


@needs_torch
def test_special_float_casts():
    a = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 65519.0, 1e-8, np.inf, -np.inf, np.nan], np.float32)
    both(lambda m, x: x.half().float(), a)
    both(lambda m, x: x.bfloat16().float(), a)
    both(lambda m, x: x.bool(), a)
    both(lambda m, x: x.to(m.float64), a)
    both(lambda m, x: x[:-3].long(), a)


def test_from_numpy_copies_read_only_arrays():
    import warnings

    import ember

    r = np.broadcast_to(np.zeros(3, dtype=np.float32), (4, 3))  # read-only, stride 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = ember.from_numpy(r)
    assert any("not writable" in str(w.message) for w in caught)
    t += 1  # must not write into (or crash on) the read-only memory
    assert r.sum() == 0 and t.sum().item() == 12
