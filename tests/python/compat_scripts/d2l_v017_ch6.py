"""Chapter 6 of the d2l 0.17 library on ember: corr2d (plain tensor code,
compared value by value) and train_ch6 with its evaluate_accuracy_gpu, on
an MLP over fixed blobs (train_ch6 re-initializes the weights at random, so
only its outcome is compared). Results go to the JSON file in argv[1]."""
import json
import sys

import numpy as np
import torch
from torch import nn
from d2l import torch as d2l

rng = np.random.default_rng(2)
results = {}
X = torch.tensor(rng.normal(size=(6, 7)), dtype=torch.float32)
K = torch.tensor([[1.0, -1.0], [0.5, 2.0]])
results["corr2d"] = d2l.corr2d(X, K).tolist()

centers = rng.normal(scale=4.0, size=(3, 1, 4, 4))
labels = rng.integers(0, 3, size=300)
images = torch.tensor(centers[labels] + rng.normal(size=(300, 1, 4, 4)), dtype=torch.float32)
y = torch.tensor(labels)
train_iter = d2l.load_array((images[:240], y[:240]), 40)
test_iter = d2l.load_array((images[240:], y[240:]), 40, is_train=False)
net = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))
d2l.train_ch6(net, train_iter, test_iter, 3, 0.3, d2l.try_gpu())
results["test_acc"] = d2l.evaluate_accuracy_gpu(net, test_iter)
results["learned"] = results["test_acc"] > 0.9
with open(sys.argv[1], "w") as f:
    json.dump(results, f)
