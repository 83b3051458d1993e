"""The same programs on every device present, compared with the CPU: ops,
gradients, a module, an optimizer step and a checkpoint round trip. On a
machine without a GPU these run on the CPU only."""
import io

import numpy as np
import pytest

import ember
from ember import nn


def on(device, array, requires_grad=False):
    t = ember.tensor(array, device=device)
    return t.requires_grad_(True) if requires_grad else t


def host(t):
    return t.detach().cpu().numpy()


RNG = np.random.default_rng(7)
A = RNG.standard_normal((5, 7)).astype(np.float32)
B = RNG.standard_normal((7, 3)).astype(np.float32)
V = RNG.standard_normal((7,)).astype(np.float32)


@pytest.mark.parametrize("op", [
    lambda a, b, v: a @ b,
    lambda a, b, v: (a * 2 + 1).relu().sum(1),
    lambda a, b, v: a.t()[1:6:2] - v[1:6:2, None],
    lambda a, b, v: a.softmax(1).log(),
    lambda a, b, v: a.max(0).values + a.argmax(0).float(),
    lambda a, b, v: ember.cat([a, a.exp()], 0).sum(0),
    lambda a, b, v: a[a > 0].sum() + a.norm(),
    lambda a, b, v: ember.where(a > 0, a, a * 0.5).cumsum(1),
])
def test_ops_agree_with_cpu(device, op):
    expected = host(op(on("cpu", A), on("cpu", B), on("cpu", V)))
    got = host(op(on(device, A), on(device, B), on(device, V)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_gradients_agree_with_cpu(device):
    grads = {}
    for dev in ("cpu", device):
        a, b = on(dev, A, True), on(dev, B, True)
        loss = ((a @ b).tanh() * 3).sum() + (a ** 2).mean()
        loss.backward()
        grads[dev] = (host(a.grad), host(b.grad))
    for x, y in zip(grads["cpu"], grads[device]):
        np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-6)


def test_module_step_and_checkpoint(device):
    ember.manual_seed(0)
    net = nn.Sequential(nn.Linear(7, 16), nn.ReLU(), nn.Linear(16, 2))
    ref = nn.Sequential(nn.Linear(7, 16), nn.ReLU(), nn.Linear(16, 2))
    ref.load_state_dict(net.state_dict())
    net.to(device)
    assert all(p.device == ember.device(device) for p in net.parameters())
    for model, dev in ((ref, "cpu"), (net, device)):
        opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, y = on(dev, A), ember.tensor([0, 1, 1, 0, 1], device=dev)
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for (name, p), q in zip(net.state_dict().items(), ref.state_dict().values()):
        np.testing.assert_allclose(host(p), host(q), rtol=1e-5, atol=1e-6, err_msg=name)
    buf = io.BytesIO()
    ember.save(net.state_dict(), buf)
    buf.seek(0)
    loaded = ember.load(buf, map_location="cpu")
    for name, p in net.state_dict().items():
        assert loaded[name].device == ember.device("cpu")
        np.testing.assert_array_equal(host(loaded[name]), host(p))


def test_mixing_devices_names_both(device):
    if device == "cpu":
        pytest.skip("needs a second device")
    with pytest.raises(RuntimeError, match="cpu") as err:
        on(device, A) @ on("cpu", B)
    assert "cuda" in str(err.value)
