"""Layers, Parameter, nn.functional and nn.init against PyTorch."""

import math

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _t(a):
    return torch.tensor(np.asarray(a))


def _close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(_np(a), b.detach().numpy(), rtol=rtol, atol=atol)


# ---------------------------------------------------------------- Parameter
def test_parameter_basics():
    data = ember.tensor([0.0887])
    p = nn.Parameter(data)
    assert isinstance(p, ember.Tensor) and type(p) is nn.Parameter
    assert p.requires_grad and p.is_leaf
    data[0] = 2.0  # shares storage
    assert float(p.detach()[0]) == 2.0
    tp = torch.nn.Parameter(torch.tensor([2.0]))
    assert repr(p) == repr(tp)
    assert repr(p).startswith("Parameter containing:\ntensor([2.], requires_grad=True)")
    assert type(p * 2) is ember.Tensor and type(p.data) is ember.Tensor
    assert type(p.detach()) is ember.Tensor
    q = nn.Parameter(ember.ones(2), requires_grad=False)
    assert not q.requires_grad
    assert ember.nn.parameter.Parameter is nn.Parameter
    assert nn.Parameter().shape == (0,)


def test_parameter_of_requires_grad_tensor_is_leaf():
    x = ember.ones(3, requires_grad=True)
    p = nn.Parameter(x * 2)
    assert p.is_leaf and p.grad_fn is None


# ---------------------------------------------------------------- Linear
def test_linear_shapes_init_bounds_and_repr():
    lin = nn.Linear(20, 256)
    assert lin.weight.shape == (256, 20) and lin.bias.shape == (256,)
    assert repr(lin) == "Linear(in_features=20, out_features=256, bias=True)"
    bound = 1 / math.sqrt(20)
    w, b = _np(lin.weight), _np(lin.bias)
    assert w.min() >= -bound and w.max() <= bound and w.std() > bound / 3
    assert b.min() >= -bound and b.max() <= bound
    nob = nn.Linear(3, 2, bias=False)
    assert nob.bias is None and [n for n, _ in nob.named_parameters()] == ["weight"]
    assert repr(nob) == "Linear(in_features=3, out_features=2, bias=False)"
    assert nn.Linear(2, 3, dtype=ember.float64).weight.dtype == ember.float64


def test_linear_forward_backward_matches_pytorch():
    lin = nn.Linear(5, 3)
    tlin = torch.nn.Linear(5, 3)
    tlin.load_state_dict({k: _t(_np(v)) for k, v in lin.state_dict().items()})
    x = np.random.RandomState(1).randn(4, 5).astype(np.float32)
    out = lin(ember.tensor(x))
    tout = tlin(_t(x))
    _close(out, tout)
    assert out.grad_fn is not None
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    _close(lin.weight.grad, tlin.weight.grad, rtol=1e-4)
    _close(lin.bias.grad, tlin.bias.grad, rtol=1e-4)
    # 1-D input and extra leading dims
    _close(lin(ember.tensor(x[0])), tlin(_t(x[0])))
    x3 = np.random.RandomState(2).randn(2, 4, 5).astype(np.float32)
    _close(lin(ember.tensor(x3)), tlin(_t(x3)))


def test_lazy_linear_infers_in_features():
    lazy = nn.LazyLinear(10)
    tlazy = torch.nn.LazyLinear(10)
    assert repr(lazy) == repr(tlazy) == "LazyLinear(in_features=0, out_features=10, bias=True)"
    assert isinstance(lazy.weight, nn.UninitializedParameter)
    assert repr(lazy.weight) == "<UninitializedParameter>"
    net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
    assert len(list(net.parameters())) == 4
    out = net(ember.rand(2, 20))
    assert out.shape == (2, 10)
    assert type(net[0]) is nn.Linear and type(net[0].weight) is nn.Parameter
    assert net[0].weight.shape == (256, 20) and net[2].weight.shape == (10, 256)
    assert repr(net[0]) == "Linear(in_features=20, out_features=256, bias=True)"
    bound = 1 / math.sqrt(20)
    assert np.abs(_np(net[0].weight)).max() <= bound
    out.sum().backward()
    assert net[0].weight.grad.shape == (256, 20)


def test_lazy_linear_materialized_by_load_state_dict():
    src = nn.Linear(4, 3)
    lazy = nn.LazyLinear(3)
    lazy.load_state_dict(src.state_dict())
    assert lazy.weight.shape == (3, 4)
    x = ember.rand(2, 4)
    np.testing.assert_array_equal(_np(lazy(x)), _np(src(x)))
    assert type(lazy) is nn.Linear and lazy.in_features == 4


def test_lazy_linear_without_bias():
    lazy = nn.LazyLinear(2, bias=False)
    lazy(ember.ones(1, 3))
    assert lazy.bias is None and lazy.weight.shape == (2, 3)


# ---------------------------------------------------------------- simple layers
def test_activation_layers_match_pytorch():
    x = np.random.RandomState(3).randn(3, 4).astype(np.float32) * 3
    pairs = [
        (nn.ReLU(), torch.nn.ReLU()), (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.Tanh(), torch.nn.Tanh()), (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (nn.Softmax(dim=0), torch.nn.Softmax(dim=0)),
        (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)),
        (nn.Identity(), torch.nn.Identity()), (nn.Flatten(), torch.nn.Flatten()),
    ]
    for em, tm in pairs:
        xe = ember.tensor(x, requires_grad=True)
        xt = _t(x).requires_grad_()
        out, tout = em(xe), tm(xt)
        _close(out, tout)
        w = np.arange(out.numel(), dtype=np.float32).reshape(tuple(out.shape))
        (out * ember.tensor(w)).sum().backward()
        (tout * _t(w)).sum().backward()
        _close(xe.grad, xt.grad, rtol=1e-4, atol=1e-5)


def test_flatten_dims():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    for args in [(), (0,), (1, 2), (2, -1), (0, -2)]:
        assert tuple(nn.Flatten(*args)(ember.tensor(x)).shape) == tuple(
            torch.nn.Flatten(*args)(_t(x)).shape)
    assert repr(nn.Flatten(0, 2)) == repr(torch.nn.Flatten(0, 2))


def test_dropout_modes():
    ember.manual_seed(0)
    d = nn.Dropout(0.5)
    x = ember.ones(200, 50)
    y = d(x)
    vals = np.unique(_np(y))
    assert set(vals.tolist()) <= {0.0, 2.0}
    frac = float((y == 0).sum()) / y.numel()
    assert 0.45 < frac < 0.55
    d.eval()
    assert np.array_equal(_np(d(x)), _np(x))
    assert np.array_equal(_np(nn.Dropout(0.0)(x)), _np(x))
    assert float(nn.Dropout(1.0)(x).abs().sum()) == 0.0
    with pytest.raises(ValueError) as e:
        nn.Dropout(1.5)
    with pytest.raises(ValueError) as te:
        torch.nn.Dropout(1.5)
    assert str(e.value) == str(te.value)
    with pytest.raises(ValueError):
        F.dropout(x, -0.1)
    assert np.array_equal(_np(F.dropout(x, 0.3, training=False)), _np(x))


def test_dropout_gradient_uses_same_mask():
    ember.manual_seed(1)
    x = ember.ones(10, 10, requires_grad=True)
    y = F.dropout(x, 0.2)
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), _np(y), rtol=1e-6)


# ---------------------------------------------------------------- functional
def test_functional_matches_pytorch():
    rs = np.random.RandomState(4)
    x = rs.randn(4, 6).astype(np.float32)
    w = rs.randn(3, 6).astype(np.float32)
    b = rs.randn(3).astype(np.float32)
    xe, xt = ember.tensor(x), _t(x)
    _close(F.relu(xe), torch.nn.functional.relu(xt))
    _close(F.sigmoid(xe), torch.sigmoid(xt))
    _close(F.tanh(xe), torch.tanh(xt))
    _close(F.softmax(xe, dim=1), torch.softmax(xt, 1))
    _close(F.log_softmax(xe, dim=0), torch.log_softmax(xt, 0))
    _close(F.linear(xe, ember.tensor(w), ember.tensor(b)),
           torch.nn.functional.linear(xt, _t(w), _t(b)))
    _close(F.linear(xe, ember.tensor(w)), torch.nn.functional.linear(xt, _t(w)))
    with pytest.warns(UserWarning):
        _close(F.softmax(xe), torch.nn.functional.softmax(xt, dim=1))
    y = xe.clone()
    assert F.relu(y, inplace=True) is y and float(y.min()) >= 0


# ---------------------------------------------------------------- init
def test_calculate_gain_matches_pytorch():
    for name, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
                        ("conv2d", None)]:
        assert nn.init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)
    with pytest.raises(ValueError):
        nn.init.calculate_gain("foo")


def test_fan_computation_matches_pytorch():
    for shape in [(8, 4), (3, 5, 7), (6, 2, 3, 3)]:
        assert nn.init._calculate_fan_in_and_fan_out(ember.empty(shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    with pytest.raises(ValueError):
        nn.init.xavier_uniform_(ember.empty(3))


def test_init_functions_fill_in_place():
    w = nn.Parameter(ember.empty(400, 300))
    assert nn.init.constant_(w, 42) is w and float(w.min()) == 42 == float(w.max())
    assert nn.init.zeros_(w) is w and float(w.abs().max()) == 0
    assert nn.init.ones_(w) is w and float(w.min()) == 1
    assert w.requires_grad and w.is_leaf and w.grad_fn is None
    ember.manual_seed(0)
    nn.init.normal_(w, mean=1.0, std=0.01)
    a = _np(w)
    assert abs(a.mean() - 1.0) < 1e-3 and abs(a.std() - 0.01) < 1e-3
    nn.init.uniform_(w, -10, 10)
    a = _np(w)
    assert a.min() >= -10 and a.max() <= 10 and abs(a.std() - 20 / math.sqrt(12)) < 0.1
    fan_in, fan_out = 300, 400
    checks = [
        (lambda: nn.init.xavier_uniform_(w), math.sqrt(2 / (fan_in + fan_out))),
        (lambda: nn.init.xavier_normal_(w, gain=2.0), 2 * math.sqrt(2 / (fan_in + fan_out))),
        (lambda: nn.init.kaiming_uniform_(w, a=math.sqrt(5)), math.sqrt(1 / 3) / math.sqrt(fan_in)),
        (lambda: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
         math.sqrt(2) / math.sqrt(fan_out)),
        (lambda: nn.init.kaiming_uniform_(w, nonlinearity="relu"), math.sqrt(2 / fan_in)),
    ]
    for fn, std in checks:
        assert fn() is w
        assert abs(_np(w).std() / std - 1) < 0.02, std
    bound = math.sqrt(6 / (fan_in + fan_out))
    nn.init.xavier_uniform_(w)
    assert np.abs(_np(w)).max() <= bound
    with pytest.raises(ValueError):
        nn.init.kaiming_normal_(w, mode="fan_avg")


def test_init_through_apply_d2l_style():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))

    def init_constant(m):
        if type(m) == nn.Linear:
            nn.init.constant_(m.weight, 1)
            nn.init.zeros_(m.bias)

    net.apply(init_constant)
    assert _np(net[0].weight.data[0]).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert float(net[0].bias.data[0]) == 0.0
