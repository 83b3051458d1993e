"""d2l's load_data_fashion_mnist over IDX files in torchvision's layout
(../data/FashionMNIST/raw, written by the test), run unchanged under PyTorch
or under ember through `python -m ember.compat`."""
import json
import sys

import torch  # noqa: F401 - imported first, as a user script does
from d2l import torch as d2l

results = {}
for resize in (None, 32):
    train_iter, test_iter = d2l.load_data_fashion_mnist(8, resize=resize)
    X, y = next(iter(test_iter))  # the test split is not shuffled
    results[str(resize)] = [list(X.shape), str(X.dtype).split(".")[-1], y.tolist(),
                            round(float(X.sum()), 3), len(train_iter)]
with open(sys.argv[1], "w") as f:
    json.dump(results, f)
