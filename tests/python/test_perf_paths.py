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
