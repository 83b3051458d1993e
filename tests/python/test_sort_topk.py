"""sort, argsort, topk, msort, searchsorted and bucketize against PyTorch:
values, indices (stable order on ties, NaN last/first), gradients, dims,
layouts, dtypes, 0-d and empty tensors, and argument errors."""
import numpy as np
import pytest

import ember
from _autograd_util import compare, torch  # noqa: F401  (torch: importorskip)

rng = np.random.default_rng(11)


def both(arr, **kw):
    return ember.tensor(arr, **kw), torch.tensor(arr, **kw)


def same(e, t):
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(np.asarray(e.detach().float().numpy() if e.dtype == ember.bfloat16
                                             else e.detach().numpy()),
                                  t.detach().float().numpy() if t.dtype == torch.bfloat16 else t.detach().numpy())


TIES = np.array([[3.0, 1.0, 2.0, np.nan, 1.0, -0.0, 0.0, 2.0],
                 [np.nan, 5.0, -1.0, 5.0, np.nan, 0.0, -0.0, -1.0]])


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_sort_matches_torch_stable_on_ties(descending, dim):
    e, t = both(TIES)
    se, st = ember.sort(e, dim=dim, descending=descending), torch.sort(t, dim=dim, descending=descending, stable=True)
    same(se.values, st.values)
    same(se.indices, st.indices)
    se2 = e.sort(dim, descending)
    same(se2[0], st[0])
    same(se2[1], st[1])
    same(e.argsort(dim=dim, descending=descending), torch.argsort(t, dim=dim, descending=descending, stable=True))


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8", "bool", "float64", "float16",
                                   "bfloat16"])
def test_sort_dtypes(dtype):
    raw = rng.integers(0, 5, size=(4, 9))
    e = ember.tensor(raw).to(getattr(ember, dtype))
    t = torch.tensor(raw).to(getattr(torch, dtype))
    for desc in (False, True):
        se, st = e.sort(descending=desc), t.sort(descending=desc, stable=True)
        same(se.values, st.values)
        same(se.indices, st.indices)
        assert se.values.dtype == e.dtype and se.indices.dtype == ember.int64


def test_sort_layouts_and_shapes():
    x = rng.standard_normal((5, 6, 7))
    e, t = both(x)
    for view_e, view_t in [(e.transpose(0, 2), t.transpose(0, 2)), (e[:, ::2, 1:], t[:, ::2, 1:])]:
        assert not view_e.is_contiguous()
        for dim in (0, 1, -1):
            se, st = view_e.sort(dim=dim), view_t.sort(dim=dim, stable=True)
            same(se.values, st.values)
            same(se.indices, st.indices)
            assert se.values.is_contiguous()
    z, zt = both(np.float32(2.5))
    same(z.sort().values, zt.sort().values)
    same(z.sort().indices, zt.sort().indices)
    same(z.sort(0).indices, zt.sort(0).indices)
    for shape in [(0,), (3, 0), (0, 4)]:
        a, b = both(np.zeros(shape, np.float32))
        same(a.sort(dim=-1).values, b.sort(dim=-1).values)
        same(a.topk(0).indices, b.topk(0).indices)
        same(a.argsort(), b.argsort())
    big = rng.integers(0, 50, 100000).astype(np.float32)
    a, b = both(big)
    same(a.sort().indices, b.sort(stable=True).indices)


def test_sort_returns_named_tuple():
    out = ember.sort(ember.tensor([3.0, 1.0, 2.0]))
    assert type(out).__name__ == "sort"
    values, indices = out
    assert out.values is values and out.indices is indices
    assert "return_types.sort" in repr(out)
    tk = ember.topk(ember.tensor([3.0, 1.0, 2.0]), 2)
    assert type(tk).__name__ == "topk" and "return_types.topk" in repr(tk)
    assert isinstance(tk, tuple) and len(tk) == 2


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("noncontig", [False, True])
def test_sort_gradient(np_dtype, noncontig):
    x = rng.permutation(20).reshape(4, 5) * 0.5
    compare(lambda L, a: L.sort(a, dim=1, descending=True)[0] * 3, [x], np_dtype=np_dtype, noncontig=noncontig)
    compare(lambda L, a: L.sort(a, dim=0)[0], [x], np_dtype=np_dtype, noncontig=noncontig, check_grad_fn=True)
    compare(lambda L, a: a.sort(stable=True)[0], [x], np_dtype=np_dtype, check_grad_fn=True)


def test_sort_grad_fn_names():
    e, t = both(np.array([3.0, 1.0, 2.0]), requires_grad=True)
    assert e.sort()[0].grad_fn.name() == t.sort()[0].grad_fn.name()
    assert e.sort(stable=False)[0].grad_fn.name() == t.sort(stable=False)[0].grad_fn.name()
    assert e.topk(2)[0].grad_fn.name() == t.topk(2)[0].grad_fn.name()
    assert not e.sort()[1].requires_grad and not e.argsort().requires_grad


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [-1, 0])
def test_topk_matches_torch(largest, dim):
    x = rng.permutation(42).reshape(6, 7).astype(np.float64)
    e, t = both(x)
    for k in (0, 1, 3, x.shape[dim]):
        te, tt = e.topk(k, dim=dim, largest=largest), t.topk(k, dim=dim, largest=largest)
        same(te.values, tt.values)
        same(te.indices, tt.indices)
        te2 = ember.topk(e, k, dim, largest, False)
        same(te2.values, tt.values)  # ember returns sorted even when not asked


def test_topk_ties_and_nan():
    e, t = both(TIES)
    for largest in (True, False):
        te, tt = e.topk(4, largest=largest), t.topk(4, largest=largest)
        same(te.values, tt.values)  # PyTorch leaves the order of tied indices open: compare the values
        np.testing.assert_array_equal(np.take_along_axis(TIES, te.indices.numpy(), 1), te.values.numpy())
        st = t.sort(descending=largest, stable=True)
        same(te.indices, st.indices[:, :4])  # ember: ties in index order


@pytest.mark.parametrize("dtype", ["float32", "int64", "float16"])
def test_topk_many_ties_is_the_stable_sort_prefix(dtype):
    x = rng.integers(0, 4, (50, 200))
    e, t = ember.tensor(x).to(getattr(ember, dtype)), torch.tensor(x).to(getattr(torch, dtype))
    for largest in (True, False):
        for dim, k in ((1, 17), (0, 3), (1, 199)):
            te = e.topk(k, dim=dim, largest=largest)
            st = t.sort(dim=dim, descending=largest, stable=True)
            same(te.values, st.values.narrow(dim, 0, k))
            same(te.indices, st.indices.narrow(dim, 0, k))


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
def test_topk_gradient(np_dtype):
    x = rng.permutation(30).reshape(5, 6)
    compare(lambda L, a: L.topk(a, 3)[0] ** 2, [x], np_dtype=np_dtype, check_grad_fn=True)
    compare(lambda L, a: a.topk(2, dim=0, largest=False).values, [x], np_dtype=np_dtype, noncontig=True)
    compare(lambda L, a: a.topk(1, dim=0).values, [np.array(4.0)], np_dtype=np_dtype)


def test_topk_integer_and_0d():
    x = rng.integers(-20, 20, (3, 8))
    e, t = both(x)
    same(e.topk(3).values, t.topk(3).values)
    z, zt = both(np.float32(1.5))
    same(z.topk(1).values, zt.topk(1).values)
    same(z.topk(1).indices, zt.topk(1).indices)


def test_msort_searchsorted_bucketize():
    x = rng.standard_normal((4, 6))
    e, t = both(x)
    same(ember.msort(e), torch.msort(t))
    seq = np.sort(rng.integers(0, 10, 12)).astype(np.float64)
    vals = rng.integers(-1, 11, (3, 4)).astype(np.float64)
    se, st = both(seq)
    ve, vt = both(vals)
    for right in (False, True):
        same(ember.searchsorted(se, ve, right=right), torch.searchsorted(st, vt, right=right))
        same(ember.bucketize(ve, se, right=right), torch.bucketize(vt, st, right=right))
    same(ember.searchsorted(se, ve, side="right"), torch.searchsorted(st, vt, side="right"))
    same(ember.searchsorted(se, ve, out_int32=True), torch.searchsorted(st, vt, out_int32=True))
    same(ember.searchsorted(se, 4.0), torch.searchsorted(st, 4.0))
    rows = np.sort(rng.standard_normal((3, 5)), axis=1)
    q = rng.standard_normal((3, 2))
    (re, rt), (qe, qt) = both(rows), both(q)
    same(ember.searchsorted(re, qe), torch.searchsorted(rt, qt))
    perm = rng.permutation(12)
    pe, pt = both(seq[np.argsort(perm)].copy()), None
    unsorted_e = ember.tensor(seq[perm])
    unsorted_t = torch.tensor(seq[perm])
    sorter = np.argsort(seq[perm], kind="stable")
    same(ember.searchsorted(unsorted_e, ve, sorter=ember.tensor(sorter)),
         torch.searchsorted(unsorted_t, vt, sorter=torch.tensor(sorter)))
    del pe, pt


def test_errors():
    e = ember.tensor([3.0, 1.0, 2.0])
    with pytest.raises(IndexError, match="Dimension out of range"):
        e.sort(dim=1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        e.topk(1, dim=2)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        e.topk(4)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        e.topk(-1)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        ember.tensor(1.0).topk(2)
    with pytest.raises(TypeError, match="must be int"):
        e.topk(1.5)
    with pytest.raises(TypeError, match="must be Tensor"):
        ember.sort([3, 1, 2])
    with pytest.raises(RuntimeError, match="boundaries tensor"):
        ember.searchsorted(ember.ones(2, 3), ember.ones(3, 3))
    with pytest.raises(RuntimeError, match="side can only be"):
        ember.searchsorted(e, e, side="middle")
    with pytest.raises(RuntimeError, match="1 dimension"):
        ember.bucketize(e, ember.ones(2, 2))
