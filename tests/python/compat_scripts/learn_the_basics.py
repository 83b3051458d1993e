"""The lines of PyTorch's "Learn the Basics" tutorials (tensors, autograd,
building a model, the optimization loop, saving and loading) that need no
dataset download, run unchanged under PyTorch or under ember through
`python -m ember.compat`. A small Dataset subclass over fixed numpy data
stands in for FashionMNIST; the model's weights are set from numpy, so every
value agrees. Results go to the JSON file in argv[1]."""
import json
import os
import sys
import tempfile

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

results = {}
rng = np.random.default_rng(3)

# Tensors
data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
np_array = np.array(data)
x_np = torch.from_numpy(np_array)
x_ones = torch.ones_like(x_data)
x_rand = torch.rand_like(x_data, dtype=torch.float)
shape = (2, 3,)
results["creation"] = [x_np.tolist(), x_ones.tolist(), list(x_rand.shape), str(x_rand.dtype).split(".")[-1],
                       torch.zeros(shape).tolist(), list(torch.rand(shape).shape)]
tensor = torch.ones(4, 4)
device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
if torch.accelerator.is_available():
    tensor = tensor.to(torch.accelerator.current_accelerator())
legacy_device = ("cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu")
tensor[:, 1] = 0
t1 = torch.cat([tensor, tensor, tensor], dim=1)
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
z1 = tensor * tensor
z2 = tensor.mul(tensor)
z3 = torch.rand_like(tensor)
torch.mul(tensor, tensor, out=z3)
agg = tensor.sum()
agg_item = agg.item()
tensor.add_(5)
t = torch.ones(5)
n = t.numpy()
t.add_(1)
np.add(n, 1, out=n)
results["operations"] = [device, legacy_device, str(tensor.device), tensor[0].tolist(), tensor[:, -1].tolist(),
                         list(t1.shape), y1.tolist(), y2.tolist(), y3.tolist(), z1.tolist(), z3.tolist(),
                         agg_item, type(agg_item).__name__, t.tolist(), n.tolist()]

# Autograd
x = torch.ones(5)
y = torch.zeros(3)
w = torch.tensor(rng.normal(size=(5, 3)), dtype=torch.float32, requires_grad=True)
b = torch.tensor(rng.normal(size=3), dtype=torch.float32, requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
grad_fn_names = [type(z.grad_fn).__name__, type(loss.grad_fn).__name__]
loss.backward()
results["autograd"] = [loss.item(), w.grad.tolist(), b.grad.tolist(), grad_fn_names]
with torch.no_grad():
    z = torch.matmul(x, w) + b
results["no_grad"] = [z.requires_grad, (torch.matmul(x, w) + b).detach().requires_grad]
inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
first = inp.grad.tolist()
out.backward(torch.ones_like(out), retain_graph=True)
second = inp.grad.tolist()
inp.grad.zero_()
out.backward(torch.ones_like(out))
results["jacobian_products"] = [first, second, inp.grad.tolist()]


# Build the model; the optimization loop over a custom Dataset
class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 64),
            nn.ReLU(),
            nn.Linear(64, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


class FixedImages(Dataset):
    def __init__(self, n, seed):
        r = np.random.default_rng(seed)
        self.images = r.uniform(size=(n, 1, 28, 28)).astype(np.float32)
        self.labels = r.integers(0, 10, size=n)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return torch.tensor(self.images[idx]), int(self.labels[idx])


model = NeuralNetwork().to(device)
with torch.no_grad():
    for name, param in model.named_parameters():
        param.copy_(torch.tensor(rng.normal(scale=0.05, size=tuple(param.shape)), dtype=torch.float32))
X = torch.rand(1, 28, 28, device=device)
logits = model(X)
pred_probab = nn.Softmax(dim=1)(logits)
results["model"] = [repr(model), [(name, list(p.shape)) for name, p in model.named_parameters()],
                    list(pred_probab.shape), float(pred_probab.sum())]

learning_rate = 1e-3
batch_size = 16
epochs = 2
train_dataloader = DataLoader(FixedImages(64, 4), batch_size=batch_size)
test_dataloader = DataLoader(FixedImages(32, 5), batch_size=batch_size)
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)


def train_loop(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    losses = []
    for batch, (X, y) in enumerate(dataloader):
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        assert size == 64
    return losses


def test_loop(dataloader, model, loss_fn):
    model.eval()
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    return [test_loss, correct]


history = []
for t in range(epochs):
    history.append([train_loop(train_dataloader, model, loss_fn, optimizer),
                    test_loop(test_dataloader, model, loss_fn)])
results["training"] = history

# Save and load
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "model_weights.pth")
    torch.save(model.state_dict(), path)
    model2 = NeuralNetwork()
    model2.load_state_dict(torch.load(path, weights_only=True))
    model2.eval()
    results["reloaded_equal"] = bool((model2(X) == model(X)).all())

with open(sys.argv[1], "w") as f:
    json.dump(results, f)
