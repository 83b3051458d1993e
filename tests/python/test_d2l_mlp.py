"""D2L 4.2-4.6: multilayer perceptrons, weight decay and dropout."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.utils import data

from _d2l_data import synthetic_images

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _loaders(batch_size=256):
    Xtr, ytr = synthetic_images(2000, 0)
    Xte, yte = synthetic_images(500, 1)
    return (data.DataLoader(data.TensorDataset(ember.tensor(Xtr), ember.tensor(ytr)),
                            batch_size, shuffle=True),
            data.DataLoader(data.TensorDataset(ember.tensor(Xte), ember.tensor(yte)),
                            batch_size))


def _evaluate(net, it):
    net.eval()
    correct = total = 0
    with ember.no_grad():
        for X, y in it:
            correct += float((net(X).argmax(axis=1) == y).sum())
            total += y.numel()
    return correct / total


def _train(net, train_iter, lr, num_epochs):
    loss = nn.CrossEntropyLoss(reduction="none")
    trainer = ember.optim.SGD(net.parameters(), lr=lr)
    for _ in range(num_epochs):
        net.train()
        for X, y in train_iter:
            l = loss(net(X), y)
            trainer.zero_grad()
            l.mean().backward()
            trainer.step()
    return float(l.mean())


def init_weights(m):
    if type(m) == nn.Linear:
        nn.init.normal_(m.weight, std=0.01)


def test_activation_functions_and_derivatives():
    x = ember.arange(-8.0, 8.0, 0.1, requires_grad=True)
    xt = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
    for fn, tfn in [(ember.relu, torch.relu), (ember.sigmoid, torch.sigmoid),
                    (ember.tanh, torch.tanh)]:
        if x.grad is not None:
            x.grad.data.zero_()
            xt.grad.data.zero_()
        y, yt = fn(x), tfn(xt)
        np.testing.assert_allclose(_np(y), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
        y.backward(ember.ones_like(x), retain_graph=True)
        yt.backward(torch.ones_like(xt), retain_graph=True)
        np.testing.assert_allclose(_np(x.grad), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_concise_mlp_matches_pytorch_and_trains():
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    tnet = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 10))
    assert repr(net) == repr(tnet)
    net.apply(init_weights)
    tnet.load_state_dict({k: torch.tensor(_np(v)) for k, v in net.state_dict().items()})
    Xn, yn = synthetic_images(256, 5)
    opt = ember.optim.SGD(net.parameters(), lr=0.1)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1)
    loss = nn.CrossEntropyLoss(reduction="none")
    tloss = torch.nn.CrossEntropyLoss(reduction="none")
    for i in range(0, 256, 64):
        X, y = ember.tensor(Xn[i:i + 64]), ember.tensor(yn[i:i + 64])
        tX, ty = torch.tensor(Xn[i:i + 64]), torch.tensor(yn[i:i + 64])
        opt.zero_grad()
        loss(net(X), y).mean().backward()
        opt.step()
        topt.zero_grad()
        tloss(tnet(tX), ty).mean().backward()
        topt.step()
    for p, tp in zip(net.parameters(), tnet.parameters()):
        np.testing.assert_allclose(_np(p), tp.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_dropout_from_scratch():
    def dropout_layer(X, dropout):
        assert 0 <= dropout <= 1
        if dropout == 1:
            return ember.zeros_like(X)
        if dropout == 0:
            return X
        mask = (ember.rand(X.shape) > dropout).float()
        return mask * X / (1.0 - dropout)

    X = ember.arange(16, dtype=ember.float32).reshape((2, 8))
    assert np.array_equal(_np(dropout_layer(X, 0.)), _np(X))
    out = _np(dropout_layer(X, 0.5))
    assert np.all((out == 0) | (out == 2 * _np(X)))
    assert np.array_equal(_np(dropout_layer(X, 1.)), np.zeros((2, 8), np.float32))


def test_concise_dropout_mlp_reaches_90_percent():
    ember.manual_seed(0)
    dropout1, dropout2 = 0.2, 0.5
    net = nn.Sequential(nn.Flatten(),
                        nn.Linear(784, 256), nn.ReLU(), nn.Dropout(dropout1),
                        nn.Linear(256, 256), nn.ReLU(), nn.Dropout(dropout2),
                        nn.Linear(256, 10))
    net.apply(init_weights)
    train_iter, test_iter = _loaders()
    _train(net, train_iter, lr=0.5, num_epochs=5)
    acc = _evaluate(net, test_iter)
    assert not net[3].training  # evaluation switched dropout off
    assert acc > 0.9, acc
    # in eval mode the network is deterministic
    X = next(iter(test_iter))[0]
    assert np.array_equal(_np(net(X)), _np(net(X)))
    net.train()
    assert not np.array_equal(_np(net(X)), _np(net(X)))


def _high_dim_data():
    n_train, num_inputs = 20, 200
    rs = np.random.RandomState(0)
    true_w = np.ones((num_inputs, 1), np.float32) * 0.01
    X = rs.randn(n_train, num_inputs).astype(np.float32)
    y = (X @ true_w + 0.05 + rs.randn(n_train, 1) * 0.01).astype(np.float32)
    return X, y


def _train_concise(lib, wd, X, y, init):
    """D2L 4.5's train_concise: weight decay on the weight only (param groups)."""
    net = lib.nn.Sequential(lib.nn.Linear(X.shape[1], 1))
    with lib.no_grad():
        net[0].weight.copy_(lib.tensor(init[0]))
        net[0].bias.copy_(lib.tensor(init[1]))
    loss = lib.nn.MSELoss(reduction="none")
    trainer = lib.optim.SGD([
        {"params": net[0].weight, "weight_decay": wd},
        {"params": net[0].bias}], lr=0.003)
    Xt, yt = lib.tensor(X), lib.tensor(y)
    for _ in range(30):
        for i in range(0, len(X), 5):
            trainer.zero_grad()
            l = loss(net(Xt[i:i + 5]), yt[i:i + 5])
            l.mean().backward()
            trainer.step()
    return net


def test_weight_decay_param_groups_match_pytorch():
    X, y = _high_dim_data()
    rs = np.random.RandomState(1)
    init = (rs.randn(1, 200).astype(np.float32), rs.randn(1).astype(np.float32))
    norms = {}
    for wd in (0, 3):
        net = _train_concise(ember, wd, X, y, init)
        tnet = _train_concise(torch, wd, X, y, init)
        np.testing.assert_allclose(_np(net[0].weight), tnet[0].weight.detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(_np(net[0].bias), tnet[0].bias.detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
        norms[wd] = net[0].weight.norm().item()
    assert norms[3] < norms[0]


def test_d2l_init_with_param_data_normal():
    net = nn.Sequential(nn.Linear(200, 1))
    for param in net.parameters():
        param.data.normal_()
    assert abs(float(net[0].weight.data.std()) - 1) < 0.3
    assert type(net[0].weight) is nn.Parameter and net[0].weight.requires_grad
