"""d2l 1.0's object-oriented training loop (Module, DataModule, Trainer,
the scratch and concise linear and softmax regressions, Classifier), run
unchanged under PyTorch or, through `python -m ember.compat`, under ember.
Data and initial weights come from numpy with a fixed seed and loaders do
not shuffle, so every value is the same under both; the results go to the
JSON file named by the first argument."""
import json
import sys

import numpy as np
import torch
from d2l import torch as d2l

results = {}
rng = np.random.default_rng(1)


class FixedData(d2l.DataModule):
    """A DataModule over given arrays whose loaders keep their order."""

    def __init__(self, X, y, num_train, batch_size):
        super().__init__()
        self.save_hyperparameters()

    def get_dataloader(self, train):
        i = slice(0, self.num_train) if train else slice(self.num_train, None)
        return self.get_tensorloader((self.X, self.y), False, i)


# 3.4 linear regression from scratch, with d2l's own SGD class.
X = torch.tensor(rng.normal(size=(300, 2)), dtype=torch.float32)
y = X @ torch.tensor([[2.0], [-3.4]]) + 4.2 + 0.01 * torch.tensor(rng.normal(size=(300, 1)), dtype=torch.float32)
data = FixedData(X, y, 200, 20)
model = d2l.LinearRegressionScratch(2, lr=0.03)
with torch.no_grad():
    model.w.copy_(torch.tensor([[0.01], [-0.02]]))
trainer = d2l.Trainer(max_epochs=3)
trainer.fit(model, data)
results["scratch_w_b"] = [model.w.detach().reshape(-1).tolist(), model.b.item()]
results["scratch_board"] = {k: [[p.x, float(p.y)] for p in v] for k, v in model.board.data.items()}

# 3.5 concise linear regression: LazyLinear, MSELoss, optim.SGD, gradient clipping.
model = d2l.LinearRegression(lr=0.03)
model(X[:1])  # materializes the lazy layer
with torch.no_grad():
    model.net.weight.copy_(torch.tensor([[0.02, 0.01]]))
    model.net.bias.zero_()
trainer = d2l.Trainer(max_epochs=2, gradient_clip_val=1.0)
trainer.fit(model, data)
w, b = model.get_w_b()
results["concise_w_b"] = [w.reshape(-1).tolist(), b.tolist()]

# Random synthetic data: only shapes and convergence can be compared.
synthetic = d2l.SyntheticRegressionData(w=torch.tensor([2.0, -3.4]), b=4.2)
Xs, ys = next(iter(synthetic.train_dataloader()))
results["synthetic_batch_shapes"] = [list(Xs.shape), list(ys.shape), len(synthetic.train_dataloader())]
model = d2l.LinearRegressionScratch(2, lr=0.1)
d2l.Trainer(max_epochs=3).fit(model, synthetic)
results["synthetic_converged"] = bool((model.w.detach().reshape(-1) - torch.tensor([2.0, -3.4])).abs().max() < 0.05)

# 4.5 concise softmax regression (Flatten + LazyLinear) as a Classifier.
centers = rng.normal(scale=3.0, size=(4, 2, 3, 3))
labels = rng.integers(0, 4, size=240)
images = torch.tensor(centers[labels] + rng.normal(size=(240, 2, 3, 3)), dtype=torch.float32)
data = FixedData(images, torch.tensor(labels), 200, 40)
model = d2l.SoftmaxRegression(num_outputs=4, lr=0.1)
model(images[:1])
with torch.no_grad():
    model.net[1].weight.copy_(torch.tensor(rng.normal(scale=0.01, size=(4, 18)), dtype=torch.float32))
    model.net[1].bias.zero_()
d2l.Trainer(max_epochs=3).fit(model, data)
Y_hat = model(images[200:])
results["softmax_accuracy"] = model.accuracy(Y_hat, torch.tensor(labels[200:])).item()
results["softmax_loss"] = model.loss(Y_hat, torch.tensor(labels[200:])).item()
results["softmax_unaveraged"] = model.accuracy(Y_hat, torch.tensor(labels[200:]), averaged=False).shape[0]
results["softmax_board_keys"] = sorted(model.board.data)

# Devices and hyper-parameters.
results["devices"] = [str(d2l.cpu()), d2l.num_gpus(), str(d2l.try_gpu()), [str(d) for d in d2l.try_all_gpus()]]
results["hparams"] = sorted(trainer.hparams)

with open(sys.argv[1], "w") as f:
    json.dump(results, f)
