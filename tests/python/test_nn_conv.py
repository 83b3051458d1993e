"""nn.Conv1d/Conv2d/LazyConv2d and the pooling layers against PyTorch:
defaults, initialization statistics, reprs, state_dict keys, padding modes,
and their errors."""

import numpy as np
import pytest

import ember
from ember import nn

torch = pytest.importorskip("torch")


def _copy_params(e_mod, t_mod):
    with torch.no_grad():
        for (name, p), (tname, tp) in zip(e_mod.named_parameters(), t_mod.named_parameters()):
            assert name == tname
            tp.copy_(torch.tensor(p.detach().numpy()))


REPR_CASES = [
    ("Conv2d", (1, 6), dict(kernel_size=5, padding=2)),
    ("Conv2d", (6, 16), dict(kernel_size=5)),
    ("Conv2d", (3, 8), dict(kernel_size=(3, 1), stride=(2, 1), padding=(1, 0), dilation=2, groups=1, bias=False)),
    ("Conv2d", (4, 8), dict(kernel_size=3, groups=4, padding="same")),
    ("Conv2d", (4, 8), dict(kernel_size=3, padding="valid")),
    ("Conv2d", (4, 8), dict(kernel_size=3, padding=1, padding_mode="reflect")),
    ("Conv1d", (4, 8), dict(kernel_size=3, stride=2)),
    ("MaxPool2d", (), dict(kernel_size=2, stride=2)),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("AvgPool2d", (2,), dict()),
    ("AvgPool2d", (), dict(kernel_size=3, stride=1, padding=1)),
    ("AdaptiveAvgPool2d", ((1, 1),), dict()),
    ("AdaptiveMaxPool2d", (7,), dict()),
    ("MaxPool1d", (3,), dict()),
    ("AvgPool1d", (3,), dict(stride=2)),
]


@pytest.mark.parametrize("name,args,kwargs", REPR_CASES)
def test_repr_matches_torch(name, args, kwargs):
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


def test_lenet_repr_and_state_dict_keys():
    def lenet(m):
        return m.Sequential(
            m.Conv2d(1, 6, kernel_size=5, padding=2), m.Sigmoid(), m.AvgPool2d(kernel_size=2, stride=2),
            m.Conv2d(6, 16, kernel_size=5), m.Sigmoid(), m.AvgPool2d(kernel_size=2, stride=2), m.Flatten(),
            m.Linear(16 * 5 * 5, 120), m.Sigmoid(), m.Linear(120, 84), m.Sigmoid(), m.Linear(84, 10))
    e, t = lenet(nn), lenet(torch.nn)
    assert repr(e) == repr(t)
    assert list(e.state_dict()) == list(t.state_dict())
    assert [tuple(v.shape) for v in e.state_dict().values()] == [tuple(v.shape) for v in t.state_dict().values()]


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (2, 1), "same"])
def test_conv2d_module_forward_backward(padding_mode, padding):
    e = nn.Conv2d(3, 4, kernel_size=3, padding=padding, padding_mode=padding_mode)
    t = torch.nn.Conv2d(3, 4, kernel_size=3, padding=padding, padding_mode=padding_mode)
    _copy_params(e, t)
    a = np.random.default_rng(0).standard_normal((2, 3, 7, 6)).astype(np.float32)
    ey, ty = e(ember.tensor(a)), t(torch.tensor(a))
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    ey.square().sum().backward()
    ty.square().sum().backward()
    np.testing.assert_allclose(e.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(e.bias.grad.numpy(), t.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_conv_default_init_statistics():
    # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, as for the bias.
    ember.manual_seed(0)
    conv = nn.Conv2d(16, 32, kernel_size=3)
    bound = 1 / np.sqrt(16 * 9)
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    assert w.shape == (32, 16, 3, 3) and b.shape == (32,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert np.abs(b).max() <= bound
    assert conv.weight.requires_grad and conv.weight.dtype == ember.float32
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(conv.weight)
    assert (fan_in, fan_out) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(32, 16, 3, 3))


def test_conv_module_dtype_and_device_arguments():
    conv = nn.Conv2d(2, 3, 3, dtype=ember.float64, bias=False)
    assert conv.weight.dtype == ember.float64 and conv.bias is None
    y = conv(ember.randn(1, 2, 5, 5, dtype=ember.float64))
    assert y.dtype == ember.float64 and tuple(y.shape) == (1, 3, 3, 3)


def test_lazy_conv2d_infers_in_channels_and_becomes_conv2d():
    ember.manual_seed(1)
    net = nn.Sequential(nn.LazyConv2d(6, kernel_size=5, padding=2), nn.ReLU(), nn.LazyConv2d(4, 3, groups=2))
    assert "UninitializedParameter" in repr(net[0].weight) or net[0].has_uninitialized_params()
    y = net(ember.randn(2, 3, 8, 8))
    assert tuple(y.shape) == (2, 4, 6, 6)
    assert type(net[0]) is nn.Conv2d and net[0].in_channels == 3
    assert tuple(net[2].weight.shape) == (4, 3, 3, 3)
    assert repr(net[0]) == "Conv2d(3, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"
    # from a state_dict, without a forward
    fresh = nn.Sequential(nn.LazyConv2d(6, kernel_size=5, padding=2), nn.ReLU(), nn.LazyConv2d(4, 3, groups=2))
    fresh.load_state_dict(net.state_dict())
    x = ember.randn(1, 3, 8, 8)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), net(x).detach().numpy())


def test_pool_modules_forward():
    a = np.random.default_rng(1).standard_normal((2, 3, 9, 9)).astype(np.float32)
    for name, args, kwargs in REPR_CASES:
        if "Pool2d" not in name:
            continue
        e, t = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        np.testing.assert_allclose(e(ember.tensor(a)).numpy(), t(torch.tensor(a)).numpy(), rtol=1e-6, atol=1e-6)
    e, t = nn.MaxPool2d(3, 2, return_indices=True), torch.nn.MaxPool2d(3, 2, return_indices=True)
    (ev, ei), (tv, ti) = e(ember.tensor(a)), t(torch.tensor(a))
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())


@pytest.mark.parametrize("kwargs,message", [
    (dict(in_channels=3, out_channels=6, kernel_size=3, groups=2), "in_channels must be divisible by groups"),
    (dict(in_channels=4, out_channels=6, kernel_size=3, groups=4), "out_channels must be divisible by groups"),
    (dict(in_channels=4, out_channels=8, kernel_size=3, padding="full"), "Invalid padding string"),
    (dict(in_channels=4, out_channels=8, kernel_size=3, padding="same", stride=2), "strided convolutions"),
    (dict(in_channels=4, out_channels=8, kernel_size=3, padding_mode="mirror"), "padding_mode must be one of"),
])
def test_conv_module_bad_arguments_raise_like_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        torch.nn.Conv2d(**kwargs)
    with pytest.raises(ValueError, match=message):
        nn.Conv2d(**kwargs)


def test_conv_module_wrong_input_raises():
    conv = nn.Conv2d(1, 6, kernel_size=5, padding=2)
    with pytest.raises(RuntimeError, match="expected input\\[2, 3, 28, 28\\] to have 1 channels, but got 3"):
        conv(ember.zeros(2, 3, 28, 28))
    with pytest.raises(RuntimeError, match="Expected 3D \\(unbatched\\) or 4D \\(batched\\)"):
        conv(ember.zeros(28, 28))
