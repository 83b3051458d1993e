"""MSELoss and CrossEntropyLoss (modules and functional) against PyTorch."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(_np(a), b.detach().numpy(), rtol=rtol, atol=atol)


REDUCTIONS = ["none", "mean", "sum"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_forward_backward(reduction):
    rs = np.random.RandomState(0)
    x = rs.randn(5, 3).astype(np.float32)
    y = rs.randn(5, 3).astype(np.float32)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out = nn.MSELoss(reduction=reduction)(xe, ember.tensor(y))
    tout = torch.nn.MSELoss(reduction=reduction)(xt, torch.tensor(y))
    _close(out, tout)
    assert tuple(out.shape) == tuple(tout.shape)
    g = np.arange(out.numel(), dtype=np.float32).reshape(tuple(out.shape)) + 1
    (out * ember.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _close(xe.grad, xt.grad, rtol=1e-5)


def test_mse_loss_shape_mismatch_warns_and_broadcasts():
    x = ember.ones(4, 1)
    y = ember.zeros(4)
    with pytest.warns(UserWarning, match="target size"):
        out = F.mse_loss(x, y)
    assert float(out) == 1.0


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_forward_backward(reduction):
    rs = np.random.RandomState(1)
    x = rs.randn(6, 10).astype(np.float32) * 3
    y = rs.randint(0, 10, size=6).astype(np.int64)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out = nn.CrossEntropyLoss(reduction=reduction)(xe, ember.tensor(y))
    tout = torch.nn.CrossEntropyLoss(reduction=reduction)(xt, torch.tensor(y))
    _close(out, tout)
    g = np.arange(out.numel(), dtype=np.float32).reshape(tuple(out.shape)) + 1
    (out * ember.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _close(xe.grad, xt.grad, rtol=1e-5)


def test_cross_entropy_extreme_logits_stable():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0],
                  [0.0, 0.0, -1000.0]], dtype=np.float32)
    y = np.array([1, 2, 2], dtype=np.int64)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out = F.cross_entropy(xe, ember.tensor(y), reduction="none")
    tout = torch.nn.functional.cross_entropy(xt, torch.tensor(y), reduction="none")
    assert np.isfinite(_np(out)).all()
    _close(out, tout)
    out.sum().backward()
    tout.sum().backward()
    assert np.isfinite(_np(xe.grad)).all()
    _close(xe.grad, xt.grad)


def test_cross_entropy_unbatched_and_spatial():
    rs = np.random.RandomState(2)
    x1 = rs.randn(5).astype(np.float32)
    _close(F.cross_entropy(ember.tensor(x1), ember.tensor(3)),
           torch.nn.functional.cross_entropy(torch.tensor(x1), torch.tensor(3)))
    x = rs.randn(2, 4, 3).astype(np.float32)
    y = rs.randint(0, 4, size=(2, 3)).astype(np.int64)
    for reduction in REDUCTIONS:
        _close(F.cross_entropy(ember.tensor(x), ember.tensor(y), reduction=reduction),
               torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(y),
                                                 reduction=reduction))


def test_cross_entropy_probability_targets():
    rs = np.random.RandomState(3)
    x = rs.randn(4, 5).astype(np.float32)
    p = rs.rand(4, 5).astype(np.float32)
    p /= p.sum(1, keepdims=True)
    for reduction in REDUCTIONS:
        _close(F.cross_entropy(ember.tensor(x), ember.tensor(p), reduction=reduction),
               torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(p),
                                                 reduction=reduction))


def test_invalid_reduction_and_repr():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(ember.ones(2), ember.ones(2), reduction="avg")
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.CrossEntropyLoss(reduction="bad")(ember.ones(2, 3), ember.tensor([0, 1]))
    assert repr(nn.MSELoss()) == "MSELoss()" and repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert nn.CrossEntropyLoss(reduction="none").reduction == "none"
    assert list(nn.CrossEntropyLoss().state_dict()) == []


def _ce_pair(shape_x, y, **kw):
    """ember and PyTorch cross_entropy on the same logits, forward and backward."""
    x = np.random.RandomState(3).randn(*shape_x).astype(np.float32)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ekw, tkw = dict(kw), dict(kw)
    if "weight" in kw:
        ekw["weight"], tkw["weight"] = ember.tensor(kw["weight"]), torch.tensor(kw["weight"])
    ye = ember.tensor(y)
    yt = torch.tensor(y)
    out, tout = F.cross_entropy(xe, ye, **ekw), torch.nn.functional.cross_entropy(xt, yt, **tkw)
    _close(out, tout, rtol=1e-5, atol=1e-6)
    assert tuple(out.shape) == tuple(tout.shape)
    g = np.arange(out.numel(), dtype=np.float32).reshape(tuple(out.shape)) + 1
    (out * ember.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _close(xe.grad, xt.grad, rtol=1e-5, atol=1e-6)


W4 = np.array([0.5, 2.0, 1.0, 3.0], dtype=np.float32)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [
    dict(weight=W4), dict(ignore_index=2), dict(label_smoothing=0.1),
    dict(weight=W4, ignore_index=1, label_smoothing=0.2), dict(ignore_index=-1),
])
def test_cross_entropy_weight_ignore_index_label_smoothing(reduction, options):
    _ce_pair((6, 4), np.array([0, 1, 2, 3, 1, 2]), reduction=reduction, **options)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_default_ignore_index_is_minus_100(reduction):
    # PyTorch skips targets of -100 by default (padding in sequence batches).
    _ce_pair((5, 3), np.array([0, -100, 2, -100, 1]), reduction=reduction)


def test_cross_entropy_all_ignored_mean_is_nan_like_pytorch():
    out = F.cross_entropy(ember.ones(2, 3), ember.tensor([-100, -100]))
    tout = torch.nn.functional.cross_entropy(torch.ones(2, 3), torch.tensor([-100, -100]))
    assert np.isnan(out.item()) and np.isnan(tout.item())


@pytest.mark.parametrize("options", [dict(weight=W4[:3]), dict(ignore_index=0, label_smoothing=0.3)])
def test_cross_entropy_options_unbatched_spatial_and_probabilities(options):
    _ce_pair((3,), np.array(1), **options)
    _ce_pair((2, 3, 4), np.array([[0, 1, 2, 0], [2, 2, 1, 0]]), reduction="none", **options)
    _ce_pair((2, 3, 4), np.array([[0, 1, 2, 0], [2, 2, 1, 0]]), **options)
    if "weight" in options or options.get("label_smoothing"):
        probs = np.random.RandomState(4).dirichlet(np.ones(3), size=5).astype(np.float32)
        kw = {k: v for k, v in options.items() if k != "ignore_index"}
        for reduction in REDUCTIONS:
            _ce_pair((5, 3), probs, reduction=reduction, **kw)


def test_cross_entropy_option_errors():
    x, y = ember.ones(2, 3), ember.tensor([0, 1])
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, y, label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 3 classes"):
        F.cross_entropy(x, y, weight=ember.ones(2))
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        F.cross_entropy(x, ember.tensor([5, -100]))
    with pytest.raises(IndexError, match="Target -3 is out of bounds"):
        F.cross_entropy(x, ember.tensor([-3, 1]), ignore_index=1)


def test_cross_entropy_loss_module_weight_is_a_buffer():
    loss = nn.CrossEntropyLoss(weight=ember.tensor(W4), label_smoothing=0.1, ignore_index=3)
    assert list(loss.state_dict()) == ["weight"]
    tloss = torch.nn.CrossEntropyLoss(weight=torch.tensor(W4), label_smoothing=0.1, ignore_index=3)
    assert list(tloss.state_dict()) == ["weight"]
    x = np.random.RandomState(5).randn(4, 4).astype(np.float32)
    y = np.array([3, 0, 1, 3])
    _close(loss(ember.tensor(x), ember.tensor(y)), tloss(torch.tensor(x), torch.tensor(y)))
