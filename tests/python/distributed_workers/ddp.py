"""DistributedDataParallel against one process on the whole batch, as a
PyTorch user writes it. Run by test_distributed.py with 2 and 4 ranks."""
import numpy as np

import ember as torch
import ember.distributed as dist
from ember import nn
from ember.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group(backend="gloo")
rank, world = dist.get_rank(), dist.get_world_size()
K, PER_RANK = 4, 6


def mlp(dtype):
    """D2L's MLP (Flatten, 784-256-10)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).to(dtype)


def batches(dtype, seed=1):
    g = np.random.default_rng(seed)
    X = g.standard_normal((K, world * PER_RANK, 1, 28, 28))
    y = g.integers(0, 10, (K, world * PER_RANK))
    return torch.tensor(X, dtype=dtype), torch.tensor(y)


def params(net):
    return [p.detach().numpy().copy() for p in net.parameters()]


def same_on_every_rank(net, what):
    for p in net.parameters():
        gathered = [torch.zeros_like(p) for _ in range(world)]
        dist.all_gather(gathered, p.detach())
        for g in gathered[1:]:
            assert np.array_equal(g.numpy(), gathered[0].numpy()), f"{what}: replicas differ"


def train(net, X, y, lo, hi, steps, accumulate=1):
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for k in range(steps):
        opt.zero_grad()
        loss_fn(net(X[k, lo:hi]), y[k, lo:hi]).backward()
        opt.step()


for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
    for as_view in (False, True):
        torch.manual_seed(100)
        reference = mlp(dtype)  # rank 0's initial parameters
        torch.manual_seed(100 + rank)  # different on every rank: DDP must broadcast rank 0's
        net = mlp(dtype)
        ddp = DDP(net, bucket_cap_mb=0.001, gradient_as_bucket_view=as_view)  # tiny cap: many buckets
        assert len(ddp.reducer.buckets) >= 4
        for a, b in zip(params(net), params(reference)):
            np.testing.assert_array_equal(a, b)
        X, y = batches(dtype)
        train(reference, X, y, 0, world * PER_RANK, K)
        train(ddp, X, y, rank * PER_RANK, (rank + 1) * PER_RANK, K)
        for a, b in zip(params(net), params(reference)):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
        same_on_every_rank(net, f"{dtype} as_view={as_view}")

# a forward without backward (evaluation with grad mode on) does not
# count as an unfinished iteration, as in PyTorch
ddp.eval()
ddp(X[0, :2])
ddp.train()
loss_fn = nn.CrossEntropyLoss()
loss_fn(ddp(X[0, :2]), y[0, :2]).backward()

# no_sync: two local micro-batches accumulate, the third backward averages all three
torch.manual_seed(0)
reference = mlp(torch.float64)
torch.manual_seed(0)
net = mlp(torch.float64)
ddp = DDP(net, bucket_cap_mb=0.01)
X, y = batches(torch.float64, seed=2)
loss_fn = nn.CrossEntropyLoss()
for k in range(3):
    loss_fn(reference(X[k]), y[k]).backward()
lo, hi = rank * PER_RANK, (rank + 1) * PER_RANK
with ddp.no_sync():
    for k in range(2):
        loss_fn(ddp(X[k, lo:hi]), y[k, lo:hi]).backward()
local = [p.grad.numpy().copy() for p in net.parameters()]
loss_fn(ddp(X[2, lo:hi]), y[2, lo:hi]).backward()
for p, q, loc in zip(net.parameters(), reference.parameters(), local):
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-12)
if world > 1:
    assert not np.allclose(local[0], next(iter(net.parameters())).grad.numpy()), "no_sync communicated"


# unused parameters: found when asked; otherwise an error naming them
class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(4, 2)
        self.spare = nn.Linear(4, 2)

    def forward(self, x):
        return self.used(x)


torch.manual_seed(0)
model = Branchy().double()
ddp = DDP(model, find_unused_parameters=True, bucket_cap_mb=0.0001)
x = torch.ones(3, 4, dtype=torch.float64) * (rank + 1)
for _ in range(2):
    model.zero_grad()
    ddp(x).sum().backward()
    assert model.spare.weight.grad is None
    mean_scale = sum(r + 1 for r in range(world)) / world
    np.testing.assert_allclose(model.used.weight.grad.numpy(), np.full((2, 4), 3 * mean_scale), rtol=1e-12)
strict = DDP(Branchy().double(), bucket_cap_mb=0.0001)
strict(x).sum().backward()
try:
    strict(x)
except RuntimeError as e:
    assert "spare.weight" in str(e) and "spare.bias" in str(e) and "find_unused_parameters" in str(e), e
else:
    raise AssertionError("a parameter without gradient went unnoticed")


# tied parameters: one parameter used twice is reduced once
class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = self.a

    def forward(self, x):
        return self.b(self.a(x))


torch.manual_seed(0)
ref = Tied().double()
torch.manual_seed(0)
model = Tied().double()
ddp = DDP(model)
assert len(list(ddp.parameters())) == 2
xs = torch.arange(world * 6, dtype=torch.float64).reshape(world * 2, 3) / 10
ref(xs).pow(2).mean().backward()
ddp(xs[rank * 2:(rank + 1) * 2]).pow(2).mean().backward()
for p, q in zip(model.parameters(), ref.parameters()):
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-14)

# state_dict: "module." prefix, as PyTorch's DDP
keys = ["a.weight", "a.bias", "b.weight", "b.bias"]  # a tied module appears under both names, as in PyTorch
assert list(ddp.state_dict()) == ["module." + k for k in keys], list(ddp.state_dict())
assert ddp.module is model and list(model.state_dict()) == keys

# buffers: rank 0's are broadcast at construction and before each forward
class WithBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.register_buffer("scale", torch.full((2,), float(rank + 1)))

    def forward(self, x):
        return self.lin(x) * self.scale


buffered = WithBuffer()
ddp = DDP(buffered)
assert buffered.scale.tolist() == [1.0, 1.0], buffered.scale
buffered.scale.fill_(5.0 + rank)  # drifts on every rank ...
ddp(torch.ones(1, 2)).sum().backward()
assert buffered.scale.tolist() == [5.0, 5.0], buffered.scale  # ... and forward re-syncs it from rank 0
quiet = WithBuffer()
ddp = DDP(quiet, broadcast_buffers=False)
quiet.scale.fill_(7.0 + rank)
ddp(torch.ones(1, 2)).sum().backward()
assert quiet.scale.tolist() == [7.0 + rank] * 2

# DistributedSampler through a DataLoader: the ranks split the dataset
data = torch.utils.data.TensorDataset(torch.arange(23.))
sampler = torch.utils.data.DistributedSampler(data, shuffle=True, seed=3)
sampler.set_epoch(1)
seen = torch.cat([b[0] for b in torch.utils.data.DataLoader(data, batch_size=4, sampler=sampler)])
everyone = [torch.zeros(len(sampler)) for _ in range(world)]
dist.all_gather(everyone, seen)
assert sorted(set(torch.cat(everyone).tolist())) == list(range(23))
dist.destroy_process_group()
print(f"rank {rank}: DDP OK", flush=True)
