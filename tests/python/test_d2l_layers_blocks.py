"""D2L 5.1 "Layers and blocks": every cell, compared with PyTorch on the same weights.

Each model is written once as a function of the library (``lib`` is ember or
torch), exactly as D2L types it with ``import torch``.
"""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _copy_weights(enet, tnet):
    """Load ember's parameters into the PyTorch twin, through load_state_dict."""
    sd = {k: torch.tensor(_np(v)) for k, v in enet.state_dict().items()}
    tnet.load_state_dict(sd)


def _close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(_np(a), b.detach().numpy(), rtol=rtol, atol=atol)


def _models(lib):
    nn = lib.nn
    F = lib.nn.functional

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(20, 256)
            self.out = nn.Linear(256, 10)

        def forward(self, X):
            return self.out(F.relu(self.hidden(X)))

    class MySequential(nn.Module):
        def __init__(self, *args):
            super().__init__()
            for idx, module in enumerate(args):
                self._modules[str(idx)] = module

        def forward(self, X):
            for block in self._modules.values():
                X = block(X)
            return X

    class FixedHiddenMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.rand_weight = lib.rand((20, 20), requires_grad=False)
            self.linear = nn.Linear(20, 20)

        def forward(self, X):
            X = self.linear(X)
            X = F.relu(lib.mm(X, self.rand_weight) + 1)
            X = self.linear(X)
            while X.abs().sum() > 1:
                X /= 2
            return X.sum()

    class NestMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(),
                                     nn.Linear(64, 32), nn.ReLU())
            self.linear = nn.Linear(32, 16)

        def forward(self, X):
            return self.linear(self.net(X))

    class Parallel(nn.Module):
        """Exercise: run two nets on the same input and concatenate."""

        def __init__(self, net1, net2):
            super().__init__()
            self.net1 = net1
            self.net2 = net2

        def forward(self, X):
            return lib.cat((self.net1(X), self.net2(X)), dim=1)

    def block_factory(n):
        """Exercise: n copies of the same block, chained."""
        net = nn.Sequential()
        for i in range(n):
            net.add_module(f"block{i}", nn.Sequential(nn.Linear(20, 20), nn.ReLU()))
        return net

    return dict(MLP=MLP, MySequential=MySequential, FixedHiddenMLP=FixedHiddenMLP,
                NestMLP=NestMLP, Parallel=Parallel, block_factory=block_factory)


E = _models(ember)
T = _models(torch)
X_NP = np.random.RandomState(0).rand(2, 20).astype(np.float32)


def _check(enet, tnet, check_grads=True):
    _copy_weights(enet, tnet)
    X, tX = ember.tensor(X_NP), torch.tensor(X_NP)
    out, tout = enet(X), tnet(tX)
    _close(out, tout)
    assert tuple(out.shape) == tuple(tout.shape)
    assert repr(enet) == repr(tnet)
    if check_grads:
        out.sum().backward()
        tout.sum().backward()
        tparams = dict(tnet.named_parameters())
        for name, p in enet.named_parameters():
            _close(p.grad, tparams[name].grad, rtol=1e-4, atol=1e-5)
    return out


def test_sequential_net():
    enet = ember.nn.Sequential(ember.nn.Linear(20, 256), ember.nn.ReLU(),
                               ember.nn.Linear(256, 10))
    tnet = torch.nn.Sequential(torch.nn.Linear(20, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 10))
    out = _check(enet, tnet)
    assert "grad_fn=<AddmmBackward0>" in repr(out)


def test_custom_mlp_block():
    _check(E["MLP"](), T["MLP"]())


def test_my_sequential():
    nn, tnn = ember.nn, torch.nn
    _check(E["MySequential"](nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10)),
           T["MySequential"](tnn.Linear(20, 256), tnn.ReLU(), tnn.Linear(256, 10)))


def test_fixed_hidden_mlp_control_flow():
    enet, tnet = E["FixedHiddenMLP"](), T["FixedHiddenMLP"]()
    tnet.rand_weight = torch.tensor(_np(enet.rand_weight))  # the constant, not a parameter
    assert [n for n, _ in enet.named_parameters()] == ["linear.weight", "linear.bias"]
    out = _check(enet, tnet)
    assert tuple(out.shape) == ()


def test_nest_mlp_chimera():
    nn, tnn = ember.nn, torch.nn
    enet = nn.Sequential(E["NestMLP"](), nn.Linear(16, 20), E["FixedHiddenMLP"]())
    tnet = tnn.Sequential(T["NestMLP"](), tnn.Linear(16, 20), T["FixedHiddenMLP"]())
    tnet[2].rand_weight = torch.tensor(_np(enet[2].rand_weight))
    _check(enet, tnet)
    assert [n for n, _ in enet.named_parameters()] == [n for n, _ in tnet.named_parameters()]


def test_exercise_parallel_block():
    nn, tnn = ember.nn, torch.nn
    enet = E["Parallel"](nn.Sequential(nn.Linear(20, 8), nn.ReLU()), E["MLP"]())
    tnet = T["Parallel"](tnn.Sequential(tnn.Linear(20, 8), tnn.ReLU()), T["MLP"]())
    out = _check(enet, tnet)
    assert tuple(out.shape) == (2, 18)


def test_exercise_block_factory():
    enet, tnet = E["block_factory"](3), T["block_factory"](3)
    _check(enet, tnet)
    assert len(enet) == 3 and list(enet._modules) == ["block0", "block1", "block2"]


def test_no_grad_inference():
    model = ember.nn.Linear(10, 1)
    with ember.no_grad():
        out = model(ember.randn(1, 10))
    assert not out.requires_grad and out.grad_fn is None
