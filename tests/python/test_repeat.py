"""repeat, tile and repeat_interleave against PyTorch: values, gradients,
layouts, 0-d and empty inputs, tensor repeats, output_size and errors."""
import numpy as np
import pytest

import ember
from _autograd_util import compare, torch  # noqa: F401  (torch: importorskip)

rng = np.random.default_rng(12)


def same(e, t):
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(e.detach().numpy(), t.detach().numpy())


@pytest.mark.parametrize("reps", [(2,), (2, 3), (1, 1), (3, 1, 2), (2, 0), (0, 2, 1)])
def test_repeat_values(reps):
    x = rng.integers(0, 9, (2, 3))
    same(ember.tensor(x).repeat(*reps) if len(reps) >= 2 else ember.tensor(x[0]).repeat(*reps),
         torch.tensor(x).repeat(*reps) if len(reps) >= 2 else torch.tensor(x[0]).repeat(*reps))
    if len(reps) >= 2:
        same(ember.tensor(x).repeat(reps), torch.tensor(x).repeat(reps))
        same(ember.tensor(x).repeat(list(reps)), torch.tensor(x).repeat(list(reps)))


def test_repeat_layouts_dtypes_and_0d():
    x = rng.standard_normal((3, 4)).astype(np.float32)
    e, t = ember.tensor(x), torch.tensor(x)
    same(e.t().repeat(2, 1, 2), t.t().repeat(2, 1, 2))
    same(e[:, ::2].repeat(1, 3), t[:, ::2].repeat(1, 3))
    for dt in ("bool", "int32", "float16", "bfloat16"):
        a = ember.tensor(x).to(getattr(ember, dt)).repeat(2, 2)
        b = torch.tensor(x).to(getattr(torch, dt)).repeat(2, 2)
        assert a.dtype == getattr(ember, dt)
        np.testing.assert_array_equal(a.float().numpy(), b.float().numpy())
    same(ember.tensor(5.0).repeat(3), torch.tensor(5.0).repeat(3))
    same(ember.tensor(5.0).repeat(2, 2), torch.tensor(5.0).repeat(2, 2))
    r = e.repeat(1, 1)
    assert r.data_ptr() != e.data_ptr()  # always a copy, as PyTorch


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("noncontig", [False, True])
def test_repeat_gradient(np_dtype, noncontig):
    x = rng.standard_normal((2, 3))
    compare(lambda L, a: a.repeat(2, 3), [x], np_dtype=np_dtype, noncontig=noncontig, check_grad_fn=True)
    compare(lambda L, a: a.repeat(2, 1, 2) * 2, [x], np_dtype=np_dtype, noncontig=noncontig)
    compare(lambda L, a: a.repeat(0, 2), [x], np_dtype=np_dtype)


def test_tile():
    x = rng.integers(0, 9, (2, 3))
    e, t = ember.tensor(x), torch.tensor(x)
    for dims in [(2,), (2, 2), (3, 1, 2)]:
        same(e.tile(dims), t.tile(dims))
        same(ember.tile(e, dims), torch.tile(t, dims))
    same(e.tile(2, 2), t.tile(2, 2))
    compare(lambda L, a: L.tile(a, (2,)), [rng.standard_normal((2, 3))])


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_repeat_interleave_int(dim):
    x = rng.integers(0, 9, (2, 3))
    e, t = ember.tensor(x), torch.tensor(x)
    for r in (0, 1, 3):
        same(e.repeat_interleave(r, dim=dim), t.repeat_interleave(r, dim=dim))
        same(ember.repeat_interleave(e, r, dim), torch.repeat_interleave(t, r, dim))


def test_repeat_interleave_tensor():
    x = rng.integers(0, 9, (3, 4))
    e, t = ember.tensor(x), torch.tensor(x)
    for reps, dim in [([1, 0, 2], 0), ([2, 0, 0, 3], 1), ([0, 0, 0], 0), ([4], 1), ([2], None)]:
        re_, rt = ember.tensor(reps), torch.tensor(reps)
        same(e.repeat_interleave(re_, dim=dim), t.repeat_interleave(rt, dim=dim))
    same(e.repeat_interleave(ember.tensor(2), dim=0), t.repeat_interleave(torch.tensor(2), dim=0))
    same(e.repeat_interleave(ember.tensor([1, 2, 1], dtype=ember.int32), dim=0),
         t.repeat_interleave(torch.tensor([1, 2, 1], dtype=torch.int32), dim=0))
    counts = [2, 0, 1, 3, 0]
    same(ember.repeat_interleave(ember.tensor(counts)), torch.repeat_interleave(torch.tensor(counts)))
    same(ember.repeat_interleave(ember.tensor([0, 0, 2])), torch.repeat_interleave(torch.tensor([0, 0, 2])))
    same(ember.repeat_interleave(ember.tensor(counts), output_size=6),
         torch.repeat_interleave(torch.tensor(counts), output_size=6))
    same(e.repeat_interleave(ember.tensor([1, 2, 0]), dim=0, output_size=3),
         t.repeat_interleave(torch.tensor([1, 2, 0]), dim=0, output_size=3))
    same(ember.tensor(5.0).repeat_interleave(3), torch.tensor(5.0).repeat_interleave(3))
    same(ember.tensor(5.0).repeat_interleave(ember.tensor(3)), torch.tensor(5.0).repeat_interleave(torch.tensor(3)))
    same(ember.zeros(0, 2).repeat_interleave(2, dim=0), torch.zeros(0, 2).repeat_interleave(2, dim=0))


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
def test_repeat_interleave_gradient(np_dtype):
    x = rng.standard_normal((3, 4))
    compare(lambda L, a: a.repeat_interleave(2, dim=1), [x], np_dtype=np_dtype, noncontig=True)
    compare(lambda L, a: a.repeat_interleave(3), [x], np_dtype=np_dtype)
    compare(lambda L, a: a.repeat_interleave(L.tensor([2, 0, 1]), dim=0), [x], np_dtype=np_dtype, noncontig=True)


def test_repeat_errors():
    e = ember.ones(2, 3)
    with pytest.raises(RuntimeError, match="can not be smaller than number of dimensions"):
        e.repeat(2)
    with pytest.raises(RuntimeError, match="negative dimension"):
        e.repeat(2, -1)
    with pytest.raises(TypeError, match="missing"):
        e.repeat()
    with pytest.raises(TypeError):
        e.repeat(2.5, 1)
    a = ember.arange(3)
    with pytest.raises(RuntimeError, match="non-negative"):
        a.repeat_interleave(-1)
    with pytest.raises(RuntimeError, match=r"repeats.size\(0\) = 2 and input.size\(0\) = 3"):
        a.repeat_interleave(ember.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="can not be negative"):
        a.repeat_interleave(ember.tensor([1, -2, 1]))
    with pytest.raises(NotImplementedError, match="not implemented"):
        a.repeat_interleave(ember.tensor([1.0, 2.0, 1.0]))
    with pytest.raises(RuntimeError, match="0-dim or 1-dim"):
        a.repeat_interleave(ember.tensor([[1, 2, 1]]))
    with pytest.raises(RuntimeError, match="allocated size does not match"):
        e.repeat_interleave(ember.tensor([1, 2, 0]), dim=1, output_size=4)
    with pytest.raises(IndexError, match="Dimension out of range"):
        e.repeat_interleave(2, dim=5)
    with pytest.raises(TypeError, match="must be int or Tensor"):
        a.repeat_interleave(1.5)
