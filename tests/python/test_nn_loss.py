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
