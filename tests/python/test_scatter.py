"""scatter, scatter_, scatter_add and scatter_add_ against PyTorch: values
and gradients for tensor and scalar sources, reduce=, layouts, negative
dims, 0-d and empty indices, dtypes, determinism with repeated indices, and
argument errors (a bad index is an error naming it, never a wild write)."""
import numpy as np
import pytest

import ember
from _autograd_util import compare, torch  # noqa: F401  (torch: importorskip)

rng = np.random.default_rng(13)


def same(e, t, exact=True):
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    if exact:
        np.testing.assert_array_equal(e.detach().numpy(), t.detach().numpy())
    else:
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-6, atol=1e-6)


def distinct_index(shape_self, dim, shape_index):
    """An index along `dim` whose values are distinct within each line
    (scatter with repeated indices leaves the winner unspecified)."""
    idx = np.empty(shape_index, dtype=np.int64)
    moved = np.moveaxis(idx, dim, -1)
    for pos in np.ndindex(moved.shape[:-1]):
        moved[pos] = rng.permutation(shape_self[dim])[:shape_index[dim]]
    return idx


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_scatter_tensor_src(dim):
    x = rng.standard_normal((4, 5))
    idx = distinct_index((4, 5), dim, (3, 4))
    src = rng.standard_normal((5, 6))
    e, t = ember.tensor(x), torch.tensor(x)
    ie, it = ember.tensor(idx), torch.tensor(idx)
    se, st = ember.tensor(src), torch.tensor(src)
    same(e.scatter(dim, ie, se), t.scatter(dim, it, st))
    same(ember.scatter(e, dim, ie, se), torch.scatter(t, dim, it, st))
    same(e.scatter(dim, ie, 2.5), t.scatter(dim, it, 2.5))
    same(ember.scatter(e, dim, ie, value=-1.0), torch.scatter(t, dim, it, value=-1.0))
    same(e.scatter(dim=dim, index=ie, src=se), t.scatter(dim=dim, index=it, src=st))
    assert e.scatter(dim, ie, se) is not e
    np.testing.assert_array_equal(e.numpy(), x)  # out of place leaves self alone


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_in_place(dim):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    idx = distinct_index((4, 5), dim, (2, 3))
    src = rng.standard_normal((2, 3)).astype(np.float32)
    e, t = ember.tensor(x), torch.tensor(x)
    out = e.scatter_(dim, ember.tensor(idx), ember.tensor(src))
    t.scatter_(dim, torch.tensor(idx), torch.tensor(src))
    assert out is e
    same(e, t)
    e.scatter_(dim, ember.tensor(idx), 7)
    t.scatter_(dim, torch.tensor(idx), 7)
    same(e, t)


def test_scatter_reduce_argument():
    x = rng.standard_normal((3, 4))
    idx = np.array([[0, 1, 0, 2], [3, 3, 3, 0]])
    src = rng.standard_normal((2, 4))
    for reduce in ("add", "multiply"):
        e, t = ember.tensor(x), torch.tensor(x)
        e.scatter_(1, ember.tensor(idx), ember.tensor(src), reduce=reduce)
        t.scatter_(1, torch.tensor(idx), torch.tensor(src), reduce=reduce)
        same(e, t, exact=False)
        e2, t2 = ember.tensor(x), torch.tensor(x)
        e2.scatter_(1, ember.tensor(idx), 1.5, reduce=reduce)
        t2.scatter_(1, torch.tensor(idx), 1.5, reduce=reduce)
        same(e2, t2, exact=False)
        expected = torch.tensor(x).scatter(1, torch.tensor(idx), torch.tensor(src), reduce=reduce)
        same(ember.tensor(x).scatter(1, ember.tensor(idx), ember.tensor(src), reduce=reduce), expected, exact=False)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "int16", "uint8", "float16", "bfloat16"])
def test_scatter_add_dtypes_and_repeats(dtype):
    x = rng.integers(0, 5, (3, 6))
    idx = rng.integers(0, 6, (3, 10))  # many repeats along dim 1
    src = rng.integers(0, 4, (3, 10))
    e = ember.tensor(x).to(getattr(ember, dtype))
    t = torch.tensor(x).to(getattr(torch, dtype))
    se, st = ember.tensor(src).to(e.dtype), torch.tensor(src).to(t.dtype)
    a = e.scatter_add(1, ember.tensor(idx), se)
    b = t.scatter_add(1, torch.tensor(idx), st)
    assert a.dtype == e.dtype
    np.testing.assert_array_equal(a.float().numpy(), b.float().numpy())
    e.scatter_add_(1, ember.tensor(idx), se)
    t.scatter_add_(1, torch.tensor(idx), st)
    np.testing.assert_array_equal(e.float().numpy(), t.float().numpy())
    if dtype not in ("float16", "bfloat16"):
        same(ember.scatter(e, 0, ember.tensor(idx[:1, :3] % 3), se[:1, :3]),
             torch.scatter(t, 0, torch.tensor(idx[:1, :3] % 3), st[:1, :3]))


def test_bool_reductions():
    idx = np.array([[0, 0, 2], [1, 1, 1]])
    src = np.array([[True, False, True], [False, False, True]])
    for base in (np.zeros((2, 3), bool), np.ones((2, 3), bool)):
        same(ember.tensor(base).scatter_add(1, ember.tensor(idx), ember.tensor(src)),
             torch.tensor(base).scatter_add(1, torch.tensor(idx), torch.tensor(src)))
        for reduce in ("add", "multiply"):
            same(ember.tensor(base).scatter(1, ember.tensor(idx), ember.tensor(src), reduce=reduce),
                 torch.tensor(base).scatter(1, torch.tensor(idx), torch.tensor(src), reduce=reduce))


def test_scatter_add_is_deterministic_and_ordered():
    # Floats whose sum depends on the order: ember adds in index order, as PyTorch's CPU kernel.
    n = 20000
    src = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n)).astype(np.float32)
    idx = rng.integers(0, 3, n)
    base = np.zeros(3, np.float32)
    first = ember.tensor(base).scatter_add(0, ember.tensor(idx), ember.tensor(src))
    for _ in range(3):
        np.testing.assert_array_equal(ember.tensor(base).scatter_add(0, ember.tensor(idx), ember.tensor(src)).numpy(),
                                      first.numpy())
    ref = torch.tensor(base).scatter_add(0, torch.tensor(idx), torch.tensor(src))
    np.testing.assert_array_equal(first.numpy(), ref.numpy())


def test_layouts_0d_and_empty():
    x = rng.standard_normal((5, 4))
    e, t = ember.tensor(x), torch.tensor(x)
    idx = distinct_index((4, 5), 1, (4, 3))
    src = rng.standard_normal((4, 3))
    # non-contiguous self, index and src
    ve, vt = e.t(), t.t()
    ie, it = ember.tensor(idx.T.copy()).t(), torch.tensor(idx.T.copy()).t()
    se, st = ember.tensor(src.T.copy()).t(), torch.tensor(src.T.copy()).t()
    assert not ve.is_contiguous() and not ie.is_contiguous() and not se.is_contiguous()
    same(ve.scatter(1, ie, se), vt.scatter(1, it, st))
    same(ve.scatter_add(1, ie, se), vt.scatter_add(1, it, st))
    ve.scatter_(1, ie, se)
    vt.scatter_(1, it, st)
    same(e, t)  # the in-place write went through the view into the base
    # 0-d
    z, zt = ember.tensor(1.0), torch.tensor(1.0)
    same(z.scatter(0, ember.tensor(0), ember.tensor(5.0)), zt.scatter(0, torch.tensor(0), torch.tensor(5.0)))
    same(z.scatter(0, ember.tensor([0]), ember.tensor([5.0])), zt.scatter(0, torch.tensor([0]), torch.tensor([5.0])))
    same(z.scatter_add(0, ember.tensor(0), ember.tensor(2.0)), zt.scatter_add(0, torch.tensor(0), torch.tensor(2.0)))
    # empty index: a copy of self
    empty_e = ember.zeros(2, 0, dtype=ember.int64)
    empty_t = torch.zeros(2, 0, dtype=torch.int64)
    same(e.scatter(1, empty_e, 3.0), t.scatter(1, empty_t, 3.0))
    same(e.scatter_add(0, empty_e, ember.ones(2, 0, dtype=ember.float64)),
         t.scatter_add(0, empty_t, torch.ones(2, 0, dtype=torch.float64)))
    # int32 index, as PyTorch 2.13 accepts
    i32 = ember.tensor([[0, 2]], dtype=ember.int32)
    same(e.scatter(0, i32, 9.0), t.scatter(0, torch.tensor([[0, 2]], dtype=torch.int32), 9.0))


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("noncontig", [False, True])
def test_gradients(np_dtype, noncontig):
    idx = distinct_index((4, 5), 1, (3, 4))
    x, src = rng.standard_normal((4, 5)), rng.standard_normal((3, 4))
    compare(lambda L, a, s: a.scatter(1, L.tensor(idx), s), [x, src], np_dtype=np_dtype, noncontig=noncontig,
            check_grad_fn=True)
    compare(lambda L, a: a.scatter(1, L.tensor(idx), 0.5), [x], np_dtype=np_dtype, noncontig=noncontig,
            check_grad_fn=True)
    rep = rng.integers(0, 5, (3, 7))
    compare(lambda L, a, s: L.scatter_add(a, 1, L.tensor(rep), s), [x, rng.standard_normal((3, 7))],
            np_dtype=np_dtype, noncontig=noncontig, check_grad_fn=True)
    narrow = np.array([[0, 1, 2, 3]])  # PyTorch's backward needs src no larger than index (see below)
    compare(lambda L, a, s: a.scatter(0, L.tensor(narrow), s), [x, rng.standard_normal((1, 4))], np_dtype=np_dtype)


def test_gradient_src_larger_than_index():
    # PyTorch's ScatterBackward0 returns index's shape for src and then
    # fails its own shape check; ember gives src's shape, zero where unused.
    x, src = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    idx = np.array([[1, 0], [0, 2]])
    e, s = ember.tensor(x, requires_grad=True), ember.tensor(src, requires_grad=True)
    e.scatter(1, ember.tensor(idx), s).sum().backward()
    expected = np.zeros((3, 4))
    expected[:2, :2] = 1.0  # only the addressed window of src reaches the output
    np.testing.assert_array_equal(s.grad.numpy(), expected)
    self_grad = np.ones((3, 4))
    self_grad[0, [1, 0]] = 0
    self_grad[1, [0, 2]] = 0
    np.testing.assert_array_equal(e.grad.numpy(), self_grad)


def test_in_place_gradients():
    x, src = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    idx = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])
    for op in ("scatter_", "scatter_add_"):
        e, se = ember.tensor(x, requires_grad=True), ember.tensor(src, requires_grad=True)
        t, st = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
        ye, yt = e * 2, t * 2
        getattr(ye, op)(0, ember.tensor(idx), se)
        getattr(yt, op)(0, torch.tensor(idx), st)
        assert ye.grad_fn.name() == yt.grad_fn.name()
        (ye ** 2).sum().backward()
        (yt ** 2).sum().backward()
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(se.grad.numpy(), st.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        ember.ones(3, requires_grad=True).scatter_(0, ember.tensor([0]), 1.0)


def test_reduce_has_no_gradient():
    a = ember.ones(3, 4, requires_grad=True)
    y = a.scatter(1, ember.tensor([[0, 1]]), ember.ones(1, 2), reduce="multiply")
    with pytest.raises(RuntimeError, match="derivative for aten::scatter"):
        y.sum().backward()


def test_errors_name_the_problem():
    x = ember.zeros(3, 4)
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1 with size 4"):
        x.scatter(1, ember.tensor([[0, 1], [2, 5]]), 1.0)
    with pytest.raises(RuntimeError, match="index -1 is out of bounds for dimension 1 with size 4"):
        x.scatter_(1, ember.tensor([[0, -1]]), ember.ones(1, 2))
    with pytest.raises(RuntimeError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x.scatter_add_(0, ember.tensor([[3]]), ember.ones(1, 1))
    np.testing.assert_array_equal(x.numpy(), np.zeros((3, 4)))  # nothing was written
    with pytest.raises(RuntimeError, match="Expected dtype int32/int64 for index"):
        x.scatter(1, ember.tensor([[0.0, 1.0]]), 1.0)
    with pytest.raises(RuntimeError, match="same number of dimensions as self"):
        x.scatter(1, ember.tensor([0, 1]), 1.0)
    with pytest.raises(RuntimeError, match=r"Expected index \[1, 2\] to be no larger than self \[3, 4\] apart from "
                                           r"dimension 1 and to be no larger size than src \[1, 1\]"):
        x.scatter(1, ember.tensor([[0, 1]]), ember.ones(1, 1))
    with pytest.raises(RuntimeError, match=r"Expected index \[4, 1\] to be no larger than self \[3, 4\]"):
        x.scatter(1, ember.zeros(4, 1, dtype=ember.int64), 0.0)
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter(1, ember.tensor([[0, 1]]), ember.ones(1, 2, dtype=ember.float64))
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter_add(1, ember.tensor([[0, 1]]), ember.ones(1, 2, dtype=ember.float64))
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.scatter(2, ember.tensor([[0, 1]]), 1.0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.scatter(1, ember.tensor([[0, 1]]), ember.ones(2))  # dim 1 does not exist in src
    with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply"):
        x.scatter_(1, ember.tensor([[0, 1]]), 1.0, reduce="max")
    with pytest.raises(TypeError, match="must be Tensor"):
        x.scatter_add(1, ember.tensor([[0, 1]]), 2.0)
    with pytest.raises(TypeError, match="'src'"):
        x.scatter(1, ember.tensor([[0, 1]]))
    with pytest.raises(TypeError, match="must be Tensor or a number"):
        x.scatter(1, ember.tensor([[0, 1]]), "a")
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        ember.zeros(1, 4).expand(3, 4).scatter_(1, ember.tensor([[0]]), 1.0)
