"""D2L's first steps, run on ember: `import ember as torch` and go.

Run with `python examples/quickstart.py` after `pip install .`.
"""
import ember as torch
from ember import nn

# 2.1 Data manipulation
x = torch.arange(12)
print("x =", x, "shape", x.shape)
X = x.reshape(3, 4)
Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
print("X + Y =\n", X + Y)
print("cat:\n", torch.cat((X.float(), Y), dim=0))
print("broadcast:\n", torch.arange(3).reshape((3, 1)) + torch.arange(2).reshape((1, 2)))

# 2.5 Automatic differentiation
x = torch.arange(4.0, requires_grad=True)
y = 2 * torch.dot(x, x)
y.backward()
print("d(2 x.x)/dx =", x.grad)

# 3-5 A small MLP trained for a few steps on synthetic data
torch.manual_seed(0)
features = torch.randn(256, 20)
labels = (features[:, :10].sum(1) > 0).long()
net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 2))
loss_fn = nn.CrossEntropyLoss()
trainer = torch.optim.SGD(net.parameters(), lr=0.1)
for epoch in range(5):
    trainer.zero_grad()
    loss = loss_fn(net(features), labels)
    loss.backward()
    trainer.step()
    print(f"epoch {epoch + 1}, loss {loss.item():.4f}")

# Checkpoints are safetensors files: loading them never runs code.
torch.save(net.state_dict(), "mlp.params")
clone = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 2))
clone.load_state_dict(torch.load("mlp.params"))
print("clone agrees:", bool((clone(features) == net(features)).all()))
