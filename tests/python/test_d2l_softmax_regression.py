"""D2L 3.6-3.7: softmax regression (from scratch and concise) with D2L's training loop.

Fashion-MNIST is replaced by a synthetic, separable 10-class 1x28x28 dataset
so the tests need no downloads.
"""

import numpy as np
import pytest

import ember
from ember import nn
from ember.utils import data

from _d2l_data import synthetic_images

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def load_synthetic(batch_size, n_train=2000, n_test=500):
    Xtr, ytr = synthetic_images(n_train, 0)
    Xte, yte = synthetic_images(n_test, 1)
    train = data.TensorDataset(ember.tensor(Xtr), ember.tensor(ytr))
    test = data.TensorDataset(ember.tensor(Xte), ember.tensor(yte))
    return (data.DataLoader(train, batch_size, shuffle=True, num_workers=4),
            data.DataLoader(test, batch_size, shuffle=False, num_workers=4))


# ---- D2L's chapter-3 helpers, as the book writes them (torch -> ember) ----
class Accumulator:
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


def accuracy(y_hat, y):
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy(net, data_iter):
    if isinstance(net, ember.nn.Module):
        net.eval()
    metric = Accumulator(2)
    with ember.no_grad():
        for X, y in data_iter:
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def train_epoch_ch3(net, train_iter, loss, updater):
    if isinstance(net, ember.nn.Module):
        net.train()
    metric = Accumulator(3)
    for X, y in train_iter:
        y_hat = net(X)
        l = loss(y_hat, y)
        if isinstance(updater, ember.optim.Optimizer):
            updater.zero_grad()
            l.mean().backward()
            updater.step()
        else:
            l.sum().backward()
            updater(X.shape[0])
        metric.add(float(l.sum()), accuracy(y_hat, y), y.numel())
    return metric[0] / metric[2], metric[1] / metric[2]


def train_ch3(net, train_iter, test_iter, loss, num_epochs, updater):
    for epoch in range(num_epochs):
        train_metrics = train_epoch_ch3(net, train_iter, loss, updater)
        test_acc = evaluate_accuracy(net, test_iter)
    train_loss, train_acc = train_metrics
    assert train_loss < 0.5, train_loss
    assert train_acc <= 1 and train_acc > 0.7, train_acc
    assert test_acc <= 1 and test_acc > 0.7, test_acc
    return train_loss, train_acc, test_acc


# ---- tests ----
def test_concise_softmax_regression_trains():
    ember.manual_seed(0)
    train_iter, test_iter = load_synthetic(256)
    X, y = next(iter(train_iter))
    assert tuple(X.shape) == (256, 1, 28, 28) and X.dtype == ember.float32
    assert tuple(y.shape) == (256,) and y.dtype == ember.int64

    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

    def init_weights(m):
        if type(m) == nn.Linear:
            nn.init.normal_(m.weight, std=0.01)

    net.apply(init_weights)
    loss = nn.CrossEntropyLoss(reduction="none")
    trainer = ember.optim.SGD(net.parameters(), lr=0.1)
    _, _, test_acc = train_ch3(net, train_iter, test_iter, loss, 3, trainer)
    assert test_acc > 0.9


def test_concise_softmax_regression_matches_pytorch():
    Xn, yn = synthetic_images(512, 2)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    tnet = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    tnet.load_state_dict({k: torch.tensor(_np(v)) for k, v in net.state_dict().items()})
    it = data.DataLoader(data.TensorDataset(ember.tensor(Xn), ember.tensor(yn)), 64)
    tit = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(Xn), torch.tensor(yn)), 64)
    loss = nn.CrossEntropyLoss(reduction="none")
    tloss = torch.nn.CrossEntropyLoss(reduction="none")
    opt = ember.optim.SGD(net.parameters(), lr=0.1)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1)
    for (X, y), (tX, ty) in zip(it, tit):
        l, tl = loss(net(X), y), tloss(tnet(tX), ty)
        np.testing.assert_allclose(_np(l), tl.detach().numpy(), rtol=1e-4, atol=1e-5)
        opt.zero_grad()
        l.mean().backward()
        opt.step()
        topt.zero_grad()
        tl.mean().backward()
        topt.step()
    for p, tp in zip(net.parameters(), tnet.parameters()):
        np.testing.assert_allclose(_np(p), tp.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_softmax_regression_from_scratch():
    ember.manual_seed(0)
    train_iter, test_iter = load_synthetic(256)
    num_inputs, num_outputs = 784, 10
    W = ember.normal(0, 0.01, size=(num_inputs, num_outputs), requires_grad=True)
    b = ember.zeros(num_outputs, requires_grad=True)

    def softmax(X):
        X_exp = ember.exp(X)
        partition = X_exp.sum(1, keepdim=True)
        return X_exp / partition

    def net(X):
        return softmax(ember.matmul(X.reshape((-1, W.shape[0])), W) + b)

    def cross_entropy(y_hat, y):
        return -ember.log(y_hat[range(len(y_hat)), y])

    y = ember.tensor([0, 2])
    y_hat = ember.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    np.testing.assert_allclose(_np(y_hat[[0, 1], y]), [0.1, 0.5], rtol=1e-6)
    np.testing.assert_allclose(_np(cross_entropy(y_hat, y)), [2.3026, 0.6931], rtol=1e-4)
    assert accuracy(y_hat, y) / len(y) == 0.5

    def updater(batch_size):
        with ember.no_grad():
            for param in [W, b]:
                param -= 0.1 * param.grad / batch_size
                param.grad.zero_()

    assert 0.0 <= evaluate_accuracy(net, test_iter) <= 1.0
    train_ch3(net, train_iter, test_iter, cross_entropy, 3, updater)
