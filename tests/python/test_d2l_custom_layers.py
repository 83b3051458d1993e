"""D2L 5.3-5.5: deferred initialization, custom layers, reading and writing parameters."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


# ---------------------------------------------------------------- deferred init
def test_deferred_initialization_with_lazy_linear():
    net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
    tnet = torch.nn.Sequential(torch.nn.LazyLinear(256), torch.nn.ReLU(),
                               torch.nn.LazyLinear(10))
    assert repr(net) == repr(tnet)
    assert [type(p).__name__ for p in net.parameters()] == ["UninitializedParameter"] * 4
    assert repr(net[0].weight) == repr(tnet[0].weight)
    X = np.random.RandomState(0).rand(2, 20).astype(np.float32)
    net(ember.tensor(X))
    tnet(torch.tensor(X))
    assert repr(net) == repr(tnet)
    assert [tuple(p.shape) for p in net.parameters()] == [
        tuple(p.shape) for p in tnet.parameters()]
    # after inference it behaves like the eager network, weights and all
    tnet.load_state_dict({k: torch.tensor(_np(v)) for k, v in net.state_dict().items()})
    np.testing.assert_allclose(_np(net(ember.tensor(X))),
                               tnet(torch.tensor(X)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_lazy_parameters_work_with_optimizer_after_inference():
    net = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(1))
    net(ember.ones(3, 5))
    opt = ember.optim.SGD(net.parameters(), lr=0.1)
    before = _np(net[0].weight).copy()
    net(ember.ones(3, 5)).sum().backward()
    opt.step()
    assert not np.array_equal(before, _np(net[0].weight)) or float(
        net[0].weight.grad.abs().sum()) == 0


# ---------------------------------------------------------------- custom layers
class CenteredLayer(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, X):
        return X - X.mean()


class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(ember.randn(in_units, units))
        self.bias = nn.Parameter(ember.randn(units,))

    def forward(self, X):
        linear = ember.matmul(X, self.weight.data) + self.bias.data
        return F.relu(linear)


def test_centered_layer():
    layer = CenteredLayer()
    assert repr(layer(ember.FloatTensor([1, 2, 3, 4, 5]))) == "tensor([-2., -1.,  0.,  1.,  2.])"
    net = nn.Sequential(nn.Linear(8, 128), CenteredLayer())
    Y = net(ember.rand(4, 8))
    assert abs(float(Y.mean())) < 1e-5
    assert "grad_fn=<MeanBackward0>" in repr(Y.mean())


def test_my_linear_layer():
    linear = MyLinear(5, 3)
    assert repr(linear.weight).startswith("Parameter containing:\ntensor([[")
    assert repr(linear.weight).endswith("requires_grad=True)")
    assert [n for n, _ in linear.named_parameters()] == ["weight", "bias"]
    X = np.random.RandomState(0).rand(2, 5).astype(np.float32)
    out = linear(ember.tensor(X))
    ref = np.maximum(X @ _np(linear.weight) + _np(linear.bias), 0)
    np.testing.assert_allclose(_np(out), ref, rtol=1e-5, atol=1e-6)
    assert not out.requires_grad  # D2L's forward goes through .data
    net = nn.Sequential(MyLinear(64, 8), MyLinear(8, 1))
    assert tuple(net(ember.rand(2, 64)).shape) == (2, 1)


# ---------------------------------------------------------------- read / write
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.output = nn.Linear(256, 10)

    def forward(self, x):
        return self.output(F.relu(self.hidden(x)))


def test_state_dict_clone_in_memory():
    net = MLP()
    X = ember.randn(size=(2, 20))
    Y = net(X)
    clone = MLP()
    clone.load_state_dict(net.state_dict())
    assert repr(clone.eval()) == (
        "MLP(\n  (hidden): Linear(in_features=20, out_features=256, bias=True)\n"
        "  (output): Linear(in_features=256, out_features=10, bias=True)\n)")
    assert _np(clone(X) == Y).all()


def test_save_and_load_parameters(tmp_path):
    if not hasattr(ember, "save"):
        pytest.skip("ember.save is not available yet")
    net = MLP()
    X = ember.randn(size=(2, 20))
    Y = net(X)
    path = str(tmp_path / "mlp.params")
    ember.save(net.state_dict(), path)
    clone = MLP()
    res = clone.load_state_dict(ember.load(path))
    assert repr(res) == "<All keys matched successfully>"
    clone.eval()
    assert _np(clone(X) == Y).all()
