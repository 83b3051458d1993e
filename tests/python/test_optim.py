"""SGD and Adam trajectories against PyTorch's optimizers on the same model."""

import numpy as np
import pytest

import ember
from ember import nn

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _pair(seed=0):
    """The same small MLP in ember and PyTorch, plus fixed data."""
    rs = np.random.RandomState(seed)
    net = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    tnet = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    tnet.load_state_dict({k: torch.tensor(_np(v)) for k, v in net.state_dict().items()})
    X = rs.randn(16, 5).astype(np.float32)
    y = rs.randint(0, 3, size=16).astype(np.int64)
    return net, tnet, X, y


def _run(net, tnet, X, y, opt, topt, steps=6):
    Xe, ye = ember.tensor(X), ember.tensor(y)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    params = list(net.parameters())
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(Xe), ye).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tnet(Xt), yt).backward()
        topt.step()
        for p, tp in zip(net.parameters(), tnet.parameters()):
            np.testing.assert_allclose(_np(p), tp.detach().numpy(), rtol=2e-5, atol=2e-6)
    # step() updates in place: same objects, still leaves that require grad
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert all(p.requires_grad and p.is_leaf for p in net.parameters())


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.8, dampening=0.3),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9, weight_decay=0.05, nesterov=True),
    dict(lr=0.1, momentum=0.5, maximize=True),
])
def test_sgd_matches_pytorch(kwargs):
    net, tnet, X, y = _pair()
    _run(net, tnet, X, y, ember.optim.SGD(net.parameters(), **kwargs),
         torch.optim.SGD(tnet.parameters(), **kwargs))


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99)),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.02, eps=1e-6, weight_decay=0.01, amsgrad=True),
])
def test_adam_matches_pytorch(kwargs):
    net, tnet, X, y = _pair(1)
    _run(net, tnet, X, y, ember.optim.Adam(net.parameters(), **kwargs),
         torch.optim.Adam(tnet.parameters(), **kwargs), steps=8)


def test_param_groups_per_group_options():
    net, tnet, X, y = _pair(2)
    opt = ember.optim.SGD([
        {"params": net[0].weight, "weight_decay": 0.3},
        {"params": [net[0].bias], "lr": 0.02},
        {"params": net[2].parameters(), "momentum": 0.9},
    ], lr=0.1)
    topt = torch.optim.SGD([
        {"params": tnet[0].weight, "weight_decay": 0.3},
        {"params": [tnet[0].bias], "lr": 0.02},
        {"params": tnet[2].parameters(), "momentum": 0.9},
    ], lr=0.1)
    assert [sorted(g) for g in opt.param_groups] == [sorted(g) for g in topt.param_groups]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.02, 0.1]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.3, 0, 0]
    assert repr(opt) == repr(topt)
    _run(net, tnet, X, y, opt, topt)


def test_add_param_group_and_lr_change():
    net, tnet, X, y = _pair(3)
    opt = ember.optim.Adam(net[0].parameters(), lr=0.01)
    topt = torch.optim.Adam(tnet[0].parameters(), lr=0.01)
    opt.add_param_group({"params": net[2].parameters(), "lr": 0.05})
    topt.add_param_group({"params": tnet[2].parameters(), "lr": 0.05})
    _run(net, tnet, X, y, opt, topt, steps=3)
    for g, tg in zip(opt.param_groups, topt.param_groups):
        g["lr"] *= 0.5
        tg["lr"] *= 0.5
    _run(net, tnet, X, y, opt, topt, steps=3)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [net[0].weight]})


def test_optimizer_argument_errors():
    p = nn.Parameter(ember.ones(2))
    with pytest.raises(TypeError):
        ember.optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        ember.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        ember.optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        ember.optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError):
        ember.optim.Adam([p], betas=(1.0, 0.9))
    assert isinstance(ember.optim.SGD([p], lr=0.1), ember.optim.Optimizer)


def test_zero_grad_and_skips_params_without_grad():
    a = nn.Parameter(ember.ones(2))
    b = nn.Parameter(ember.ones(2))
    opt = ember.optim.SGD([a, b], lr=0.5, momentum=0.9)
    (a * 3).sum().backward()
    opt.step()
    assert _np(a).tolist() == [-0.5, -0.5] and _np(b).tolist() == [1.0, 1.0]
    assert b not in opt.state or "momentum_buffer" not in opt.state[b]
    opt.zero_grad(set_to_none=False)
    assert _np(a.grad).tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert a.grad is None


def test_optimizer_state_dict_roundtrip():
    net, tnet, X, y = _pair(4)
    opt = ember.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1, momentum=0.9)
    _run(net, tnet, X, y, opt, topt, steps=2)
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2, 3]
    assert sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    opt2 = ember.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.1
    _run(net, tnet, X, y, opt2, topt, steps=2)
