"""D2L 3.2-3.3: linear regression from scratch and with nn/optim/data."""

import random

import numpy as np
import pytest

import ember
from ember import nn
from ember.utils import data

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def synthetic_data(w, b, num_examples, lib=ember):
    """y = Xw + b + noise (D2L's helper, unchanged)."""
    X = lib.normal(0, 1, (num_examples, len(w)))
    y = lib.matmul(X, w) + b
    y += lib.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))


def load_array(data_arrays, batch_size, is_train=True):
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, batch_size, shuffle=is_train)


def test_concise_linear_regression_recovers_parameters():
    ember.manual_seed(0)
    true_w = ember.tensor([2, -3.4])
    true_b = 4.2
    features, labels = synthetic_data(true_w, true_b, 1000)
    data_iter = load_array((features, labels), 10)
    X0, y0 = next(iter(data_iter))
    assert tuple(X0.shape) == (10, 2) and tuple(y0.shape) == (10, 1)

    net = nn.Sequential(nn.Linear(2, 1))
    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0)
    loss = nn.MSELoss()
    trainer = ember.optim.SGD(net.parameters(), lr=0.03)
    losses = []
    for epoch in range(3):
        for X, y in data_iter:
            l = loss(net(X), y)
            trainer.zero_grad()
            l.backward()
            trainer.step()
        l = loss(net(features), labels)
        losses.append(float(l))
        assert f"epoch {epoch + 1}, loss {l:f}".startswith(f"epoch {epoch + 1}, loss 0.0")
    assert losses[-1] < 1e-3
    w = net[0].weight.data
    b = net[0].bias.data
    err_w = true_w - w.reshape(true_w.shape)
    err_b = true_b - b
    assert float(err_w.abs().max()) < 0.01 and float(err_b.abs().max()) < 0.01


def test_concise_linear_regression_matches_pytorch_step_by_step():
    rs = np.random.RandomState(0)
    Xn = rs.randn(200, 2).astype(np.float32)
    yn = (Xn @ np.array([2, -3.4], np.float32) + 4.2 +
          rs.randn(200).astype(np.float32) * 0.01).reshape(-1, 1).astype(np.float32)
    w0 = (rs.randn(1, 2) * 0.01).astype(np.float32)

    net = nn.Sequential(nn.Linear(2, 1))
    tnet = torch.nn.Sequential(torch.nn.Linear(2, 1))
    net.load_state_dict({"0.weight": ember.tensor(w0), "0.bias": ember.zeros(1)})
    tnet.load_state_dict({"0.weight": torch.tensor(w0), "0.bias": torch.zeros(1)})
    it = load_array((ember.tensor(Xn), ember.tensor(yn)), 10, is_train=False)
    tit = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(Xn), torch.tensor(yn)), 10)
    opt = ember.optim.SGD(net.parameters(), lr=0.03)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.03)
    loss, tloss = nn.MSELoss(), torch.nn.MSELoss()
    for _ in range(2):
        for (X, y), (tX, ty) in zip(it, tit):
            opt.zero_grad()
            loss(net(X), y).backward()
            opt.step()
            topt.zero_grad()
            tloss(tnet(tX), ty).backward()
            topt.step()
    np.testing.assert_allclose(_np(net[0].weight), tnet[0].weight.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(net[0].bias), tnet[0].bias.detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_linear_regression_from_scratch():
    ember.manual_seed(1)
    random.seed(1)
    true_w = ember.tensor([2, -3.4])
    true_b = 4.2
    features, labels = synthetic_data(true_w, true_b, 1000)

    def data_iter(batch_size, features, labels):
        num_examples = len(features)
        indices = list(range(num_examples))
        random.shuffle(indices)
        for i in range(0, num_examples, batch_size):
            batch_indices = ember.tensor(indices[i: min(i + batch_size, num_examples)])
            yield features[batch_indices], labels[batch_indices]

    w = ember.normal(0, 0.01, size=(2, 1), requires_grad=True)
    b = ember.zeros(1, requires_grad=True)

    def linreg(X, w, b):
        return ember.matmul(X, w) + b

    def squared_loss(y_hat, y):
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    def sgd(params, lr, batch_size):
        with ember.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
                param.grad.zero_()

    lr, num_epochs, batch_size = 0.03, 3, 10
    for epoch in range(num_epochs):
        for X, y in data_iter(batch_size, features, labels):
            l = squared_loss(linreg(X, w, b), y)
            l.sum().backward()
            sgd([w, b], lr, batch_size)
        with ember.no_grad():
            train_l = squared_loss(linreg(features, w, b), labels)
    assert float(train_l.mean()) < 1e-3
    assert float((true_w - w.reshape(true_w.shape)).abs().max()) < 0.01
    assert abs(true_b - float(b)) < 0.01
    assert w.is_leaf and w.requires_grad
