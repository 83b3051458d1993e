"""Layer normalization (F.layer_norm, nn.LayerNorm) against PyTorch on the
same inputs: values, gradients of input/weight/bias, double backward,
gradcheck, reprs, state dicts and errors."""
import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(ember.Tensor.numpy(t.detach()))


# (input shape, normalized_shape): rows of every length class the kernels
# split differently (short, long, wider than a block), several trailing dims.
CASES = [
    ((4, 5), (5,)), ((3, 7, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((2, 3, 4), (2, 3, 4)),
    ((5, 300), (300,)), ((2, 20000), (20000,)), ((6, 1), (1,)), ((1, 3, 33), (3, 33)),
]


@pytest.mark.parametrize("shape,normalized", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_forward_backward_matches_pytorch(shape, normalized, dtype, affine):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w = rng.uniform(0.5, 1.5, normalized).astype(dtype)
    b = rng.standard_normal(normalized).astype(dtype)
    ins = {}
    for lib in (ember, torch):
        tx = lib.tensor(x).requires_grad_(True)
        tw = lib.tensor(w).requires_grad_(True) if affine in ("both", "weight") else None
        tb = lib.tensor(b).requires_grad_(True) if affine in ("both", "bias") else None
        fn = F.layer_norm if lib is ember else torch.nn.functional.layer_norm
        y = fn(tx, normalized, tw, tb, 1e-5)
        g = np.random.default_rng(0).standard_normal(shape).astype(dtype)
        y.backward(lib.tensor(g))
        ins[lib.__name__] = (y, tx, tw, tb)
    k = dict(rtol=1e-4, atol=3e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)
    gk = dict(rtol=2e-3, atol=3e-4) if dtype == np.float32 else k
    (ey, ex, ew, eb), (ty, tx, tw, tb) = ins["ember"], ins["torch"]
    np.testing.assert_allclose(_np(ey), _np(ty), **k)
    np.testing.assert_allclose(_np(ex.grad), _np(tx.grad), err_msg="input", **gk)
    if ew is not None:
        np.testing.assert_allclose(_np(ew.grad), _np(tw.grad), err_msg="weight", **gk)
    if eb is not None:
        np.testing.assert_allclose(_np(eb.grad), _np(tb.grad), err_msg="bias", **gk)
    assert type(ey.grad_fn).__name__ == "NativeLayerNormBackward0"


def test_noncontiguous_input():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4, 5)).astype(np.float32)
    ex, tx = ember.tensor(x).requires_grad_(True), torch.tensor(x, requires_grad=True)
    em, tm = nn.LayerNorm(6), torch.nn.LayerNorm(6)
    ey, ty = em(ex.transpose(0, 2)), tm(tx.transpose(0, 2))
    np.testing.assert_allclose(_np(ey), _np(ty), rtol=1e-4, atol=1e-5)
    (ey * ey).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(_np(ex.grad), _np(tx.grad), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(_np(em.weight.grad), _np(tm.weight.grad), rtol=1e-3, atol=1e-4)


def test_gradcheck_float64():
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.standard_normal((3, 2, 4))).requires_grad_(True)
    w = ember.tensor(rng.uniform(0.5, 1.5, (2, 4))).requires_grad_(True)
    b = ember.tensor(rng.standard_normal((2, 4))).requires_grad_(True)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (2, 4), w, b), (x, w, b))


def test_double_backward_matches_pytorch():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((4, 5)), rng.uniform(0.5, 1.5, 5)
    results = []
    for lib in (ember, torch):
        tx, tw = lib.tensor(x).requires_grad_(True), lib.tensor(w).requires_grad_(True)
        fn = F.layer_norm if lib is ember else torch.nn.functional.layer_norm
        y = fn(tx, (5,), tw, None)
        gx, gw = lib.autograd.grad((y ** 3).sum(), (tx, tw), create_graph=True)
        ((gx * gx).sum() + (gw * gw).sum()).backward()
        results.append((_np(gx), _np(tx.grad), _np(tw.grad)))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def test_large_offset_is_stable():
    rng = np.random.default_rng(4)
    x = (1e4 + rng.standard_normal((3, 500))).astype(np.float32)
    y = F.layer_norm(ember.tensor(x), (500,))
    ref = (x.astype(np.float64) - x.mean(1, keepdims=True, dtype=np.float64)) / np.sqrt(
        x.astype(np.float64).var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(_np(y), ref, rtol=1e-3, atol=2e-3)


def test_half_precision_input():
    x = np.random.default_rng(5).standard_normal((4, 8)).astype(np.float32)
    ey = nn.LayerNorm(8)(ember.tensor(x).to(ember.bfloat16))
    ty = torch.nn.LayerNorm(8)(torch.tensor(x).to(torch.bfloat16))
    assert ey.dtype == ember.bfloat16
    np.testing.assert_allclose(_np(ey.float()), _np(ty.float()), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("args,kwargs", [((4,), {}), (((3, 4),), dict(elementwise_affine=False)),
                                         ((4,), dict(bias=False)), ([5], dict(eps=1e-3))])
def test_module_init_repr_and_state_dict(args, kwargs):
    em, tm = nn.LayerNorm(*args, **kwargs), torch.nn.LayerNorm(*args, **kwargs)
    assert repr(em) == repr(tm)
    assert em.normalized_shape == tm.normalized_shape
    es, ts = em.state_dict(), tm.state_dict()
    assert list(es) == list(ts)
    for k in es:
        np.testing.assert_array_equal(_np(es[k]), _np(ts[k]))
    other = nn.LayerNorm(*args, **kwargs)
    other.load_state_dict(es)
    # Statistics come from the input in both modes.
    x = np.random.default_rng(6).standard_normal((2,) + tuple(tm.normalized_shape)).astype(np.float32)
    a = _np(em(ember.tensor(x)))
    em.eval()
    np.testing.assert_array_equal(_np(em(ember.tensor(x))), a)
    np.testing.assert_allclose(a, _np(tm(torch.tensor(x))), rtol=1e-4, atol=1e-5)


def test_module_to_double():
    m = nn.LayerNorm(3).double()
    assert m.weight.dtype == ember.float64
    assert m(ember.randn(2, 3, dtype=ember.float64)).dtype == ember.float64


def test_errors_match_pytorch():
    x = ember.randn(2, 3)
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], "
                                           r"but got input of size\[2, 3\]"):
        F.layer_norm(x, (4,))
    with pytest.raises(RuntimeError, match=r"expected input with shape \[\*, 2, 3, 3\]"):
        F.layer_norm(x, (2, 3, 3))
    with pytest.raises(RuntimeError, match=r"Expected weight to be of same shape as normalized_shape, but got "
                                           r"weight of shape \[4\] and normalized_shape = \[3\]"):
        F.layer_norm(x, (3,), weight=ember.ones(4))
    with pytest.raises(RuntimeError, match=r"Expected bias to be of same shape as normalized_shape"):
        F.layer_norm(x, (3,), bias=ember.ones(4))
    with pytest.raises(RuntimeError, match="at least 1-dimensional"):
        F.layer_norm(x, ())
    with pytest.raises(TypeError, match="normalized_shape"):
        F.layer_norm(x, 3)
    with pytest.raises(NotImplementedError, match="not implemented for"):
        F.layer_norm(ember.ones(2, 3, dtype=ember.int64), (3,))
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[3\]"):
        nn.LayerNorm(3)(ember.randn(2, 4))


def test_empty_rows():
    for lib, fn in ((ember, F.layer_norm), (torch, torch.nn.functional.layer_norm)):
        x = lib.zeros(0, 4).requires_grad_(True)
        w = lib.ones(4).requires_grad_(True)
        y = fn(x, (4,), w)
        assert tuple(y.shape) == (0, 4)
        y.sum().backward()
        assert tuple(x.grad.shape) == (0, 4) and float(w.grad.abs().sum()) == 0


def test_layernorm_on_device(device):
    x = np.random.default_rng(7).standard_normal((3, 4, 8)).astype(np.float32)
    em, tm = nn.LayerNorm(8).to(device), torch.nn.LayerNorm(8)
    ex = ember.tensor(x, device=device).requires_grad_(True)
    tx = torch.tensor(x, requires_grad=True)
    ey, ty = em(ex), tm(tx)
    np.testing.assert_allclose(_np(ey.cpu()), _np(ty), rtol=1e-4, atol=1e-5)
    (ey * ey).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(_np(ex.grad.cpu()), _np(tx.grad), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(_np(em.weight.grad.cpu()), _np(tm.weight.grad), rtol=1e-3, atol=1e-4)
