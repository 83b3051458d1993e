"""The chapter 2-7 functions of the d2l 0.17 library (the book edition whose
training loop is functions: train_ch3, evaluate_accuracy, Animator ...), run
unchanged under PyTorch or, through `python -m ember.compat`, under ember.
Data and initial weights come from numpy with a fixed seed, so that every
value printed is the same under both libraries; the results go to the JSON
file named by the first argument."""
import json
import sys

import numpy as np
import torch
from torch import nn
from d2l import torch as d2l

results = {"torch_module": torch.__name__}
rng = np.random.default_rng(0)

# 2.x: the aliases the library binds at import time.
x = d2l.arange(6, dtype=d2l.float32)
results["aliases"] = [d2l.reduce_sum(d2l.exp(x)).item(), d2l.sinh(x).sum().item(), d2l.cosh(x).sum().item(),
                      d2l.reshape(d2l.linspace(0, 1, 6), (2, 3)).tolist(),
                      [t.tolist() for t in d2l.meshgrid(d2l.arange(2), d2l.arange(3), indexing="ij")],
                      d2l.numpy(d2l.matmul(d2l.ones(2, 3), d2l.ones(3, 2))).tolist(),
                      d2l.size(d2l.zeros((2, 5))), d2l.argmax(d2l.tensor([[1.0, 3.0, 2.0]]), axis=1).tolist()]

# 3.2 linear regression from scratch, no shuffling: deterministic.
true_w, true_b = d2l.tensor([2.0, -3.4]), 4.2
features, labels = d2l.synthetic_data(true_w, true_b, 1000)
results["synthetic_data_shapes"] = [list(features.shape), list(labels.shape)]
results["synthetic_data_residual_small"] = bool(
    (labels - (features @ true_w.reshape(-1, 1) + true_b)).abs().max().item() < 0.1)
X = torch.tensor(rng.normal(size=(200, 2)), dtype=torch.float32)
y = d2l.linreg(X, true_w.reshape(2, 1), torch.tensor(true_b)) + 0.01 * torch.tensor(
    rng.normal(size=(200, 1)), dtype=torch.float32)
w = torch.tensor([[0.05], [-0.02]], requires_grad=True)
b = torch.zeros(1, requires_grad=True)
losses = []
for epoch in range(3):
    for Xb, yb in d2l.load_array((X, y), 10, is_train=False):
        loss = d2l.squared_loss(d2l.linreg(Xb, w, b), yb)
        loss.sum().backward()
        d2l.sgd([w, b], 0.03, 10)
    with torch.no_grad():
        losses.append(float(d2l.squared_loss(d2l.linreg(X, w, b), y).mean()))
results["linreg_losses"] = losses
results["linreg_params"] = [w.detach().reshape(-1).tolist(), b.item()]

# load_array with shuffling: every example exactly once per epoch.
seen = torch.cat([Xb for Xb, _ in d2l.load_array((X, y), 32)])
results["shuffled_epoch_sorted"] = sorted(seen[:, 0].tolist()) == sorted(X[:, 0].tolist())

# 3.6 softmax regression from scratch on three separable blobs.
centers = rng.normal(scale=4.0, size=(3, 20))
labels_np = rng.integers(0, 3, size=600)
points = centers[labels_np] + rng.normal(size=(600, 20))
Xc = torch.tensor(points, dtype=torch.float32)
yc = torch.tensor(labels_np)
train_iter = d2l.load_array((Xc[:500], yc[:500]), 50, is_train=False)
test_iter = d2l.load_array((Xc[500:], yc[500:]), 50, is_train=False)
W = torch.tensor(rng.normal(scale=0.01, size=(20, 3)), dtype=torch.float32, requires_grad=True)
b3 = torch.zeros(3, requires_grad=True)


def softmax(X):
    X_exp = torch.exp(X)
    return X_exp / X_exp.sum(1, keepdim=True)


def net(X):
    return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b3)


def cross_entropy(y_hat, y):
    return -torch.log(y_hat[range(len(y_hat)), y])


def updater(batch_size):
    return d2l.sgd([W, b3], 0.1, batch_size)


results["accuracy_before"] = d2l.evaluate_accuracy(net, test_iter)
results["train_epoch_ch3"] = list(d2l.train_epoch_ch3(net, train_iter, cross_entropy, updater))
d2l.train_ch3(net, train_iter, test_iter, cross_entropy, 2, updater)  # asserts accuracy > 0.7 itself
results["accuracy_after"] = d2l.evaluate_accuracy(net, test_iter)
results["accuracy_fn"] = d2l.accuracy(net(Xc[:10]), yc[:10])

# 3.7 concise softmax regression with nn and optim, the same weights.
concise = nn.Sequential(nn.Flatten(), nn.Linear(20, 3))
with torch.no_grad():
    concise[1].weight.copy_(torch.tensor(rng.normal(scale=0.01, size=(3, 20)), dtype=torch.float32))
    concise[1].bias.zero_()
trainer = torch.optim.SGD(concise.parameters(), lr=0.1)
metrics = d2l.train_epoch_ch3(concise, train_iter, nn.CrossEntropyLoss(reduction="none"), trainer)
results["concise_epoch"] = list(metrics)
results["concise_weight_sum"] = concise[1].weight.sum().item()

# predict_ch3 draws Fashion-MNIST-shaped (784-feature) examples with their labels.
images = torch.tensor(rng.normal(size=(12, 784)), dtype=torch.float32)
d2l.predict_ch3(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
                d2l.load_array((images, torch.arange(12) % 10), 6, is_train=False), n=4)
results["fashion_labels"] = d2l.get_fashion_mnist_labels(torch.tensor([0, 9, 3]))

# Helpers: Accumulator, Timer, Animator (headless), devices.
acc = d2l.Accumulator(3)
acc.add(1, 2.5, torch.tensor(3.0))
acc.add(2, 0.5, 1)
results["accumulator"] = [acc[0], acc[1], float(acc[2])]
timer = d2l.Timer()
timer.stop()
results["timer"] = [len(timer.times), timer.sum() >= 0]
animator = d2l.Animator(xlabel="epoch", legend=["a", "b"])
animator.add(1, (0.5, torch.tensor(0.25).item()))
results["animator_points"] = [animator.X, animator.Y]
results["devices"] = [str(d2l.try_gpu()), [str(d) for d in d2l.try_all_gpus()], torch.cuda.is_available()]
d2l.plot(d2l.arange(3), [d2l.arange(3) ** 2], "x", "y")

with open(sys.argv[1], "w") as f:
    json.dump(results, f)
