"""Sequential, ModuleList, ModuleDict and D2L's hand-written MySequential."""

from collections import OrderedDict

import numpy as np
import pytest

import ember
from ember import nn

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _seq(mod):
    return mod.Sequential(mod.Linear(4, 8), mod.ReLU(), mod.Linear(8, 4), mod.ReLU(),
                          mod.Linear(4, 1))


def test_sequential_indexing_like_pytorch():
    net, tnet = _seq(nn), _seq(torch.nn)
    assert len(net) == 5
    assert isinstance(net[0], nn.Linear) and net[-1] is net[4] and net[-5] is net[0]
    for idx in (slice(1, 3), slice(None, None, 2), slice(-2, None), slice(3, 1)):
        assert repr(net[idx]) == repr(tnet[idx])
        assert type(net[idx]) is nn.Sequential
    with pytest.raises(IndexError):
        net[5]
    with pytest.raises(IndexError):
        net[-6]
    assert [type(m).__name__ for m in net] == [type(m).__name__ for m in tnet]
    assert net[1:3][0] is net[1]


def test_sequential_mutation_like_pytorch():
    net, tnet = _seq(nn), _seq(torch.nn)
    for n in (net, tnet):
        mod = nn if n is net else torch.nn
        n.append(mod.Sigmoid())
        n.insert(1, mod.Tanh())
        n.insert(-1, mod.Identity())
        n[0] = mod.Linear(4, 3)
        del n[2]
        n.extend(mod.Sequential(mod.Softmax(dim=1)))
        n.add_module("named", mod.Flatten())
    assert repr(net) == repr(tnet)
    assert [k for k in net._modules] == [k for k in tnet._modules]
    del net[1:3]
    del tnet[1:3]
    assert repr(net) == repr(tnet)


def test_sequential_ordered_dict_and_nesting():
    od = OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())])
    net = nn.Sequential(od)
    assert list(net._modules) == ["fc", "act"] and net.fc is net[0]
    tnet = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(2, 3)),
                                            ("act", torch.nn.ReLU())]))
    assert repr(net) == repr(tnet)
    outer = nn.Sequential(nn.Sequential(nn.Sequential(nn.Linear(1, 2))), nn.ReLU())
    assert isinstance(outer[0][0][0], nn.Linear)


def test_sequential_forward_matches_pytorch():
    net, tnet = _seq(nn), _seq(torch.nn)
    tnet.load_state_dict({k: torch.tensor(_np(v)) for k, v in net.state_dict().items()})
    x = np.random.RandomState(0).rand(3, 4).astype(np.float32)
    np.testing.assert_allclose(_np(net(ember.tensor(x))),
                               tnet(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_my_sequential_over_modules_dict():
    class MySequential(nn.Module):
        def __init__(self, *args):
            super().__init__()
            for idx, module in enumerate(args):
                self._modules[str(idx)] = module

        def forward(self, X):
            for block in self._modules.values():
                X = block(X)
            return X

    net = MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
    assert net(ember.rand(2, 20)).shape == (2, 10)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert repr(net).startswith("MySequential(\n  (0): Linear(in_features=20")
    assert net._modules["0"] is getattr(net, "0")


def test_module_list():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    tml = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
    assert repr(ml) == repr(tml)
    ml.append(nn.ReLU())
    tml.append(torch.nn.ReLU())
    ml.insert(0, nn.Tanh())
    tml.insert(0, torch.nn.Tanh())
    ml.extend([nn.Sigmoid(), nn.Sigmoid()])
    tml.extend([torch.nn.Sigmoid(), torch.nn.Sigmoid()])
    assert repr(ml) == repr(tml)
    assert len(ml) == 7 and ml[-1] is ml[6]
    assert type(ml[1:3]) is nn.ModuleList and len(ml[1:3]) == 2
    del ml[0]
    del tml[0]
    assert repr(ml) == repr(tml)
    assert [n for n, _ in ml.named_parameters()] == [n for n, _ in tml.named_parameters()]
    with pytest.raises(IndexError):
        ml[10]
    with pytest.raises(TypeError):
        ml.extend(3)
    assert repr(nn.ModuleList()) == "ModuleList()"

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 3)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    s = Stack()
    assert len(list(s.parameters())) == 4
    assert s(ember.ones(1, 3)).shape == (1, 3)


def test_module_dict():
    md = nn.ModuleDict({"b": nn.ReLU(), "a": nn.Linear(1, 1)})
    tmd = torch.nn.ModuleDict({"b": torch.nn.ReLU(), "a": torch.nn.Linear(1, 1)})
    assert repr(md) == repr(tmd)
    assert list(md) == ["b", "a"] and list(md.keys()) == ["b", "a"]
    assert "a" in md and len(md) == 2
    md["c"] = nn.Tanh()
    md.update([("d", nn.Sigmoid())])
    assert list(md.keys()) == ["b", "a", "c", "d"]
    assert md.pop("b").__class__ is nn.ReLU and "b" not in md
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    with pytest.raises(ValueError):
        md.update([("x", nn.ReLU(), 3)])
    md.clear()
    assert len(md) == 0
