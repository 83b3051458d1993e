"""D2L 5.2 "Parameter management": access, nested blocks, init, tied parameters."""

from collections import OrderedDict

import numpy as np
import pytest

import ember
from ember import nn

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _copy_weights(enet, tnet):
    tnet.load_state_dict({k: torch.tensor(_np(v)) for k, v in enet.state_dict().items()})


def _norm(text):
    return text.replace("torch.", "ember.")


def _net(lib):
    return lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.ReLU(), lib.nn.Linear(8, 1))


X_NP = np.random.RandomState(0).rand(2, 4).astype(np.float32)


def test_parameter_access():
    net, tnet = _net(ember), _net(torch)
    _copy_weights(net, tnet)
    out = net(ember.tensor(X_NP))
    np.testing.assert_allclose(_np(out), tnet(torch.tensor(X_NP)).detach().numpy(), rtol=1e-5)
    # print(net[2].state_dict())
    assert str(net[2].state_dict()) == str(tnet[2].state_dict())
    assert isinstance(net[2].state_dict(), OrderedDict)
    # type / repr of a parameter and its .data
    assert type(net[2].bias) is nn.Parameter
    assert str(type(net[2].bias)) == "<class 'ember.nn.parameter.Parameter'>"
    assert repr(net[2].bias) == repr(tnet[2].bias)
    assert repr(net[2].bias.data) == repr(tnet[2].bias.data)
    assert net[2].weight.grad is None
    assert net[2].weight.grad == None  # noqa: E711 - D2L's spelling
    # all parameters at once
    first = [(name, param.shape) for name, param in net[0].named_parameters()]
    tfirst = [(name, param.shape) for name, param in tnet[0].named_parameters()]
    assert _norm(str(first)) == _norm(str(tfirst))
    assert _norm(str([(n, p.shape) for n, p in net.named_parameters()])) == _norm(
        str([(n, p.shape) for n, p in tnet.named_parameters()]))
    assert repr(net.state_dict()["2.bias"].data) == repr(tnet.state_dict()["2.bias"].data)


def _rgnet(lib):
    nn_ = lib.nn

    def block1():
        return nn_.Sequential(nn_.Linear(4, 8), nn_.ReLU(), nn_.Linear(8, 4), nn_.ReLU())

    def block2():
        net = nn_.Sequential()
        for i in range(4):
            net.add_module(f"block {i}", block1())
        return net

    return nn_.Sequential(block2(), nn_.Linear(4, 1))


def test_nested_blocks():
    rgnet, trgnet = _rgnet(ember), _rgnet(torch)
    _copy_weights(rgnet, trgnet)
    np.testing.assert_allclose(_np(rgnet(ember.tensor(X_NP))),
                               trgnet(torch.tensor(X_NP)).detach().numpy(), rtol=1e-5)
    assert str(rgnet) == str(trgnet)
    assert str(rgnet).splitlines()[2] == "    (block 0): Sequential("
    assert repr(rgnet[0][1][0].bias.data) == repr(trgnet[0][1][0].bias.data)
    assert list(rgnet.state_dict()) == list(trgnet.state_dict())
    assert list(rgnet.state_dict())[0] == "0.block 0.0.weight"


def test_builtin_initialization():
    net = _net(ember)

    def init_normal(m):
        if type(m) == nn.Linear:
            nn.init.normal_(m.weight, mean=0, std=0.01)
            nn.init.zeros_(m.bias)

    assert net.apply(init_normal) is net
    assert np.abs(_np(net[0].weight)).max() < 0.06 and float(net[0].bias.data[0]) == 0.0

    def init_constant(m):
        if type(m) == nn.Linear:
            nn.init.constant_(m.weight, 1)
            nn.init.zeros_(m.bias)

    net.apply(init_constant)
    assert repr(net[0].weight.data[0]) == "tensor([1., 1., 1., 1.])"
    assert repr(net[0].bias.data[0]) == "tensor(0.)"

    def init_xavier(m):
        if type(m) == nn.Linear:
            nn.init.xavier_uniform_(m.weight)

    def init_42(m):
        if type(m) == nn.Linear:
            nn.init.constant_(m.weight, 42)

    net[0].apply(init_xavier)
    net[2].apply(init_42)
    assert np.abs(_np(net[0].weight)).max() <= np.sqrt(6 / 12)
    assert repr(net[2].weight.data) == "tensor([[42., 42., 42., 42., 42., 42., 42., 42.]])"


def test_custom_initialization(capsys):
    net = _net(ember)

    def my_init(m):
        if type(m) == nn.Linear:
            print("Init", *[(name, param.shape) for name, param in m.named_parameters()][0])
            nn.init.uniform_(m.weight, -10, 10)
            m.weight.data *= m.weight.data.abs() >= 5

    net.apply(my_init)
    lines = capsys.readouterr().out.splitlines()
    assert [_norm(line) for line in lines] == [
        "Init weight ember.Size([8, 4])", "Init weight ember.Size([1, 8])"]
    w = _np(net[0].weight).copy()
    assert np.all((w == 0) | (np.abs(w) >= 5))
    head = net[0].weight[:2]
    assert head.grad_fn is not None and tuple(head.shape) == (2, 4)
    net[0].weight.data[:] += 1
    net[0].weight.data[0, 0] = 42
    assert float(net[0].weight.data[0][0]) == 42.0
    np.testing.assert_allclose(_np(net[0].weight)[0, 1:], w[0, 1:] + 1)
    assert net[0].weight.requires_grad and type(net[0].weight) is nn.Parameter


def _tied(lib):
    shared = lib.nn.Linear(8, 8)
    net = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.ReLU(), shared, lib.nn.ReLU(),
                            shared, lib.nn.ReLU(), lib.nn.Linear(8, 1))
    return net


def test_tied_parameters_and_their_gradients():
    net, tnet = _tied(ember), _tied(torch)
    _copy_weights(net, tnet)
    out = net(ember.tensor(X_NP))
    tout = tnet(torch.tensor(X_NP))
    np.testing.assert_allclose(_np(out), tout.detach().numpy(), rtol=1e-5)
    assert _np(net[2].weight.data[0] == net[4].weight.data[0]).all()
    net[2].weight.data[0, 0] = 100
    assert _np(net[2].weight.data[0] == net[4].weight.data[0]).all()
    assert net[2].weight is net[4].weight
    tnet[2].weight.data[0, 0] = 100
    out = net(ember.tensor(X_NP))
    tout = tnet(torch.tensor(X_NP))
    out.sum().backward()
    tout.sum().backward()
    # the shared layer's gradient is the sum over both of its uses
    np.testing.assert_allclose(_np(net[2].weight.grad), tnet[2].weight.grad.numpy(),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(net[0].weight.grad), tnet[0].weight.grad.numpy(),
                               rtol=1e-4, atol=1e-5)
    assert len(list(net.parameters())) == len(list(tnet.parameters())) == 6
