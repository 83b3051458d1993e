"""repr/str of ember tensors equal PyTorch's with `torch.` replaced by
`ember.` (integer and float layouts, 4 decimals, scientific notation,
summarisation of large tensors, dtype suffixes, requires_grad, grad_fn)."""
import numpy as np
import pytest

import ember
from _tensor_oracle import make, needs_torch, sample, torch

_ARRAYS = [
    np.arange(12),
    np.arange(12).reshape(3, 4),
    np.arange(24).reshape(2, 3, 4),
    np.array([1.0, 2.0, 4.0, 8.0], np.float32),
    np.array([0.5, 1.0, 2.0, 4.0], np.float32),
    np.array([2.7183, 7.3891, 54.598, 2980.958], np.float32),
    np.array([1e-5, 1.0, 1e5], np.float32),
    np.array([1e-10, 1e10], np.float32),
    np.array([123456789.0], np.float32),
    np.array([0.1, 0.25, -0.3333], np.float32),
    np.array([-1.0, 0.0, -0.0, 1.0], np.float32),
    np.array([np.nan, np.inf, -np.inf, 1.5], np.float32),
    np.array([np.nan, 1.0], np.float32),
    np.array([3.5], np.float32),
    np.float32(3.0),
    np.float32(1.5),
    np.float32(-0.0),
    np.int64(7),
    np.bool_(True),
    np.zeros((0,), np.float32),
    np.zeros((2, 0), np.float32),
    np.zeros((0, 3), np.int64),
    np.array([True, False, True]),
    np.array([[True], [False]]),
    np.arange(6, dtype=np.float64).reshape(2, 3) / 7,
    np.arange(6, dtype=np.int32),
    np.arange(6, dtype=np.int32).reshape(3, 2) * -1000,
    np.array([1, 2], np.float64),
    np.float64(2.5),
    np.arange(2000, dtype=np.float32),
    np.arange(2000).reshape(40, 50),
    np.arange(1001, dtype=np.float32) / 3,
    np.arange(10000, dtype=np.float32).reshape(10, 10, 100),
    np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5),
    np.array([[0.0, 0.1667, 0.3333, 0.5], [0.1818, 0.2273, 0.2727, 0.3182]], np.float32),
    np.array([-1.3116, -0.3062, 2.4048, 10.0926], np.float32),
    np.array([127500.0, 106000, 178100, 140000], np.float64),
    np.array([[3.0, 1, 0], [2, 0, 1]], np.float64),
    np.array([1e-3, 2e-3], np.float32),
    np.array([1e-4, 1.0], np.float32),
    np.array([1000.0, 0.001], np.float32),
    np.array([12345.678, 1.5], np.float32),
    np.array([2 ** 40, -3], np.int64),
    np.linspace(-1, 1, 30).astype(np.float32).reshape(3, 10),
    sample((5, 7), "float32", 1),
    sample((3, 40), "float32", 2),
    sample((4, 3), "float64", 3, low=-1000, high=1000),
]


@pytest.mark.parametrize("k", range(len(_ARRAYS)))
@needs_torch
def test_repr_matches_pytorch(k):
    a = _ARRAYS[k]
    e, t = ember.tensor(a), torch.tensor(a)
    assert repr(e) == repr(t).replace("torch.", "ember.")
    assert str(e) == str(t).replace("torch.", "ember.")


@pytest.mark.parametrize("k", [1, 3, 24, 33, 44])
@pytest.mark.parametrize("layout", ["T", "step"])
@needs_torch
def test_repr_strided(k, layout):
    a = _ARRAYS[k]
    assert repr(make(ember, a, layout)) == repr(make(torch, a, layout)).replace("torch.", "ember.")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int16", "int8", "uint8"])
@needs_torch
def test_repr_other_dtypes(dtype):
    a = np.array([1.5, 2.0, 3.25, 100.0])
    e = ember.tensor(a).to(getattr(ember, dtype))
    t = torch.tensor(a).to(getattr(torch, dtype))
    assert repr(e) == repr(t).replace("torch.", "ember.")


@needs_torch
def test_repr_autograd_suffixes():
    for m in (ember, torch):
        m.manual_seed(0)
    pairs = []
    for m in (ember, torch):
        x = m.arange(4.0, requires_grad=True)
        y = 2 * m.dot(x, x)
        z = (x * x).sum()
        w = x.reshape(2, 2)
        pairs.append([x, y, z, m.tensor(1.5, requires_grad=True), m.zeros(2, 3, requires_grad=True),
                      m.ones(2, dtype=m.float64, requires_grad=True), x + 1, x.exp(), x.detach(), x[1:], w,
                      x.sum(), x.mean()])
    for e, t in zip(*pairs):
        assert repr(e) == repr(t).replace("torch.", "ember.")


@needs_torch
def test_repr_in_containers_and_printoptions():
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 3
    assert repr((ember.tensor(a), ember.tensor(1.0))) == \
        repr((torch.tensor(a), torch.tensor(1.0))).replace("torch.", "ember.")
    assert repr([ember.arange(3)]) == repr([torch.arange(3)])
    try:
        ember.set_printoptions(precision=2)
        torch.set_printoptions(precision=2)
        assert repr(ember.tensor(a)) == repr(torch.tensor(a))
    finally:
        ember.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")


def test_repr_without_torch():
    assert repr(ember.arange(12)) == "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11])"
    assert repr(ember.tensor([3.5])) == "tensor([3.5000])"
    assert repr(ember.tensor(5.0)) == "tensor(5.)"
    assert repr(ember.tensor([1, 2], dtype=ember.int32)) == "tensor([1, 2], dtype=ember.int32)"
    assert repr(ember.tensor([1.0], dtype=ember.float64)) == "tensor([1.], dtype=ember.float64)"
    assert repr(ember.ones(2, requires_grad=True)) == "tensor([1., 1.], requires_grad=True)"
    assert repr(ember.zeros(0)) == "tensor([])"
    assert repr(ember.zeros(2, 0)) == "tensor([], size=(2, 0))"
    assert "..." in repr(ember.arange(5000))
    assert repr(ember.zeros(2).shape) == "ember.Size([2])"
    assert repr(ember.float32) == "ember.float32"
