"""nn.Module: registration, traversal, state dicts, modes, devices and repr."""

from collections import OrderedDict

import numpy as np
import pytest

import ember
from ember import nn

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _to_torch_sd(sd):
    return OrderedDict((k, torch.tensor(_np(v))) for k, v in sd.items())


def _mlp_class(mod):
    class MLP(mod.Module):
        def __init__(self):
            super().__init__()
            self.hidden = mod.Linear(20, 256)
            self.output = mod.Linear(256, 10)

        def forward(self, x):
            return self.output(self.hidden(x).relu())

    return MLP


_MLP = {nn: _mlp_class(nn), torch.nn: _mlp_class(torch.nn)}


def MLP(mod=nn):
    return _MLP[mod]()


class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.register_buffer("running", ember.zeros(2))
        self.register_buffer("scratch", ember.ones(2), persistent=False)
        self.plain = ember.ones(3)  # a plain tensor stays a plain attribute


# ---------------------------------------------------------------- registration
def test_setattr_registers_parameters_modules_buffers():
    m = WithBuffers()
    assert list(m._parameters) == []
    assert list(m._modules) == ["lin"]
    assert list(m._buffers) == ["running", "scratch"]
    assert "plain" in m.__dict__
    assert [n for n, _ in m.named_parameters()] == ["lin.weight", "lin.bias"]
    assert [n for n, _ in m.named_buffers()] == ["running", "scratch"]
    # own parameters and buffers first, then children (PyTorch's order)
    assert list(m.state_dict().keys()) == ["running", "lin.weight", "lin.bias"]
    m.p = nn.Parameter(ember.ones(2))
    assert "p" in m._parameters and "p" not in m.__dict__
    m.p = None
    assert m._parameters["p"] is None
    with pytest.raises(TypeError):
        m.p = ember.ones(2)  # a plain tensor cannot replace a parameter slot
    with pytest.raises(TypeError):
        m.lin = 3
    m.running = ember.full((2,), 5.0)
    assert float(m.running.sum()) == 10.0
    with pytest.raises(TypeError):
        m.running = [1, 2]
    # reassigning a name as a module moves it out of the other slots
    m.plain = nn.ReLU()
    assert "plain" in m._modules and "plain" not in m.__dict__


def test_plain_tensor_attribute_is_not_parameter():
    class FixedHidden(nn.Module):
        def __init__(self):
            super().__init__()
            self.rand_weight = ember.rand((20, 20), requires_grad=False)
            self.linear = nn.Linear(20, 20)

    m = FixedHidden()
    assert [n for n, _ in m.named_parameters()] == ["linear.weight", "linear.bias"]
    assert "rand_weight" not in m.state_dict()


def test_getattr_unknown_name_message():
    m = MLP()
    with pytest.raises(AttributeError) as e:
        m.nonexistent
    tm = MLP(torch.nn)
    with pytest.raises(AttributeError) as te:
        tm.nonexistent
    assert str(e.value) == str(te.value) == "'MLP' object has no attribute 'nonexistent'"
    assert not hasattr(m, "nonexistent")


def test_delattr():
    m = WithBuffers()
    del m.lin
    del m.running
    del m.plain
    assert list(m._modules) == [] and list(m._buffers) == ["scratch"]
    assert not hasattr(m, "plain")


def test_assign_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ember.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_register_errors():
    m = nn.Module()
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(KeyError):
        m.register_buffer("", None)
    with pytest.raises(TypeError):
        m.register_parameter("w", ember.ones(2))
    with pytest.raises(TypeError):
        m.add_module("x", 3)
    with pytest.raises(KeyError):
        m.add_module("a.b", nn.ReLU())
    m.register_module("r", nn.ReLU())
    assert isinstance(m.r, nn.ReLU)
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        m(ember.ones(1))


# ---------------------------------------------------------------- traversal
def test_tied_parameters_once_and_modules():
    shared = nn.Linear(8, 8)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared,
                        nn.ReLU(), nn.Linear(8, 1))
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "6.weight", "6.bias"]
    assert len(list(net.parameters())) == 6
    assert len(list(net.named_parameters(remove_duplicate=False))) == 8
    assert [n for n, _ in net.named_modules()] == ["", "0", "1", "2", "3", "5", "6"]
    assert len(list(net.modules())) == 7
    assert [n for n, _ in net.named_children()] == ["0", "1", "2", "3", "5", "6"]
    assert list(net.state_dict().keys()) == [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias"]
    assert [n for n, _ in net.named_parameters(prefix="net")][0] == "net.0.weight"
    assert list(net.parameters(recurse=False)) == []
    assert net.get_submodule("2") is shared
    assert net.get_parameter("2.weight") is shared.weight


def test_apply_order_and_return():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    tnet = torch.nn.Sequential(torch.nn.Linear(2, 2),
                               torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 1)))
    tseen = []
    tnet.apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen


def test_train_eval_and_requires_grad():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    assert net.training and net[1].training
    assert net.eval() is net
    assert not net.training and not net[1].training
    assert net.train() is net and net[1].training
    with pytest.raises(ValueError):
        net.train("yes")
    assert net.requires_grad_(False) is net
    assert all(not p.requires_grad for p in net.parameters())
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())


def test_zero_grad():
    net = nn.Linear(3, 2)
    net(ember.ones(4, 3)).sum().backward()
    assert net.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert float(net.weight.grad.abs().sum()) == 0.0
    net(ember.ones(4, 3)).sum().backward()
    net.zero_grad()
    assert net.weight.grad is None and net.bias.grad is None


# ---------------------------------------------------------------- state dicts
def test_state_dict_shares_storage_and_is_detached():
    net = MLP()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]
    w = sd["hidden.weight"]
    assert not w.requires_grad and type(w) is not nn.Parameter
    w[0, 0] = 42.0
    assert float(net.hidden.weight[0, 0]) == 42.0
    kv = net.state_dict(keep_vars=True)
    assert kv["hidden.weight"] is net.hidden.weight


def test_load_state_dict_roundtrip_in_place():
    net, clone = MLP(), MLP()
    w_before = clone.hidden.weight
    res = clone.load_state_dict(net.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    assert clone.hidden.weight is w_before and clone.hidden.weight.requires_grad
    X = ember.randn(2, 20)
    assert np.array_equal(_np(clone(X)), _np(net(X)))
    assert repr(clone.eval()) == (
        "MLP(\n"
        "  (hidden): Linear(in_features=20, out_features=256, bias=True)\n"
        "  (output): Linear(in_features=256, out_features=10, bias=True)\n"
        ")"
    )


def _torch_error(tmodel, tsd, strict=True):
    with pytest.raises(RuntimeError) as e:
        tmodel.load_state_dict(tsd, strict=strict)
    return str(e.value).replace("torch.", "ember.")


def _ember_error(model, sd, strict=True):
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(sd, strict=strict)
    return str(e.value).replace("torch.", "ember.")


def test_load_state_dict_errors_match_pytorch():
    def small_class(mod):
        class Small(mod.Module):
            def __init__(self):
                super().__init__()
                self.hidden = mod.Linear(20, 255)
                self.output = mod.Linear(255, 10)
                self.extra = mod.Linear(1, 1)

        return Small

    small = {nn: small_class(nn), torch.nn: small_class(torch.nn)}

    def Small(mod=nn):
        return small[mod]()

    sd = MLP().state_dict()
    sd["bogus"] = ember.ones(1)
    tsd = _to_torch_sd(sd)
    msg = _ember_error(Small(), sd)
    tmsg = _torch_error(Small(torch.nn), tsd)
    assert msg == tmsg
    assert 'Missing key(s) in state_dict: "extra.weight", "extra.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "bogus".' in msg
    assert "size mismatch for hidden.weight" in msg and "size mismatch for output.bias" not in msg
    # strict=False still raises on size mismatch, without the key lists
    assert _ember_error(Small(), sd, strict=False) == _torch_error(Small(torch.nn), tsd, False)


def test_load_state_dict_non_strict_reports_keys():
    net = MLP()
    sd = net.state_dict()
    del sd["output.bias"]
    sd["foo.bar"] = ember.zeros(1)
    res = MLP().load_state_dict(sd, strict=False)
    tres = MLP(torch.nn).load_state_dict(_to_torch_sd(sd), strict=False)
    assert res.missing_keys == tres.missing_keys == ["output.bias"]
    assert res.unexpected_keys == tres.unexpected_keys == ["foo.bar"]
    assert res == (["output.bias"], ["foo.bar"])


def test_load_state_dict_prefix_hint():
    sd = OrderedDict(("module." + k, v) for k, v in MLP().state_dict().items())
    msg = _ember_error(MLP(), sd)
    tmsg = _torch_error(MLP(torch.nn), _to_torch_sd(sd))
    assert msg.startswith(tmsg)
    assert "Hint" in msg and '"module."' in msg
    # the other direction: the model is wrapped, the checkpoint is not
    wrapped = nn.Sequential(OrderedDict([("net", MLP())]))
    msg = _ember_error(wrapped, MLP().state_dict())
    assert "Hint" in msg and '"net."' in msg


def test_load_state_dict_buffers_and_type_errors():
    m = WithBuffers()
    sd = m.state_dict()
    sd["running"] = ember.full((2,), 3.0)
    m2 = WithBuffers()
    m2.load_state_dict(sd)
    assert _np(m2.running).tolist() == [3.0, 3.0]
    with pytest.raises(TypeError, match="dict-like"):
        m2.load_state_dict([1, 2])
    sd["running"] = 3.0
    with pytest.raises(RuntimeError, match='While copying the parameter named "running"'):
        m2.load_state_dict(sd)


# ---------------------------------------------------------------- dtype / device
def test_to_dtype_keeps_parameter_identity():
    net = MLP()
    w = net.hidden.weight
    net(ember.ones(1, 20)).sum().backward()
    assert net.double() is net
    assert net.hidden.weight is w and type(w) is nn.Parameter
    assert w.dtype == ember.float64 and w.grad.dtype == ember.float64
    assert w.requires_grad
    net.to(ember.float32)
    assert w.dtype == ember.float32
    net.to(dtype=ember.float64)
    assert w.dtype == ember.float64
    net.float()
    assert net.to("cpu") is net and net.cpu() is net
    assert net.to(ember.device("cpu")).hidden.weight is w
    with pytest.raises(TypeError):
        net.to(ember.int64)


def test_buffer_dtype_conversion_only_for_floats():
    m = WithBuffers()
    m.register_buffer("count", ember.tensor([1, 2]))
    m.double()
    assert m.running.dtype == ember.float64 and m.count.dtype == ember.int64


_devices = ["cpu"]
if hasattr(ember, "cuda") and ember.cuda.is_available():
    _devices.append("cuda")


@pytest.mark.parametrize("device", _devices)
def test_module_to_device_forward_backward(device):
    ember.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    ref = [_np(p).copy() for p in net.parameters()]
    params = list(net.parameters())
    net.to(device)
    assert list(net.parameters())[0] is params[0]
    assert all(p.device.type == device for p in net.parameters())
    X = ember.tensor(np.arange(8, dtype=np.float32).reshape(2, 4) / 8).to(device)
    out = net(X)
    out.sum().backward()
    assert net[0].weight.grad.device.type == device
    net.cpu()
    for p, r in zip(net.parameters(), ref):
        assert np.array_equal(_np(p), r)
    assert net[0].weight.grad.device.type == "cpu"


# ---------------------------------------------------------------- repr
def test_repr_matches_pytorch_for_nested_and_custom():
    def nest_class(mod):
        class NestMLP(mod.Module):
            def __init__(self):
                super().__init__()
                self.net = mod.Sequential(mod.Linear(20, 64), mod.ReLU(),
                                          mod.Linear(64, 32), mod.ReLU())
                self.linear = mod.Linear(32, 16)

        return NestMLP

    nest = {nn: nest_class(nn), torch.nn: nest_class(torch.nn)}

    def NestMLP(mod):
        return nest[mod]()

    class Empty(nn.Module):
        pass

    for build in (
        lambda m: NestMLP(m),
        lambda m: m.Sequential(NestMLP(m), m.Linear(16, 20), m.Linear(20, 1, bias=False)),
        lambda m: m.Sequential(m.Flatten(), m.Linear(784, 256), m.ReLU(), m.Dropout(0.2),
                               m.Linear(256, 10), m.Softmax(dim=1), m.LogSoftmax(dim=0),
                               m.Sigmoid(), m.Tanh(), m.Identity(), m.ReLU(inplace=True)),
        lambda m: m.Sequential(),
        lambda m: m.ModuleList([m.Linear(2, 2), m.Linear(2, 2), m.ReLU(), m.Linear(2, 2)]),
        lambda m: m.ModuleDict({"a": m.ReLU(), "b": m.Sequential(m.Linear(1, 1))}),
        lambda m: m.Sequential(m.MSELoss(), m.CrossEntropyLoss(), m.Dropout()),
    ):
        assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(Empty()) == "Empty()"


def test_extra_repr_multiline_and_single_line():
    class Custom(nn.Module):
        def __init__(self, text, child=False):
            super().__init__()
            self.text = text
            if child:
                self.c = nn.ReLU()

        def extra_repr(self):
            return self.text

    assert repr(Custom("a=1")) == "Custom(a=1)"
    assert repr(Custom("a=1\nb=2")) == "Custom(\n  a=1\n  b=2\n)"
    assert repr(Custom("a=1", True)) == "Custom(\n  a=1\n  (c): ReLU()\n)"


def test_forward_hooks():
    net = nn.Linear(2, 2)
    calls = []
    h1 = net.register_forward_pre_hook(lambda m, args: calls.append("pre"))
    h2 = net.register_forward_hook(lambda m, args, out: out * 0)
    out = net(ember.ones(1, 2))
    assert calls == ["pre"] and float(out.abs().sum()) == 0.0
    h1.remove()
    h2.remove()
    net(ember.ones(1, 2))
    assert calls == ["pre"]


def test_zero_grad_walks_shared_and_missing_children():
    shared = ember.nn.Linear(3, 3)
    net = ember.nn.Sequential(shared, ember.nn.ReLU(), shared)
    net(ember.ones(2, 3)).sum().backward()
    assert shared.weight.grad is not None and shared.bias.grad is not None
    net.add_module("absent", None)  # a registered None child is skipped
    net.zero_grad()
    assert shared.weight.grad is None and shared.bias.grad is None
    net[0](ember.ones(2, 3)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert shared.weight.grad.abs().sum().item() == 0


def test_linear_uses_reassigned_parameters():
    lin = ember.nn.Linear(2, 1)
    lin.weight = ember.nn.Parameter(ember.tensor([[2.0, 3.0]]))
    lin.bias = None
    assert lin(ember.tensor([[1.0, 1.0]])).item() == 5.0
    with pytest.raises(TypeError):
        lin.weight = ember.ones(1, 2)  # a plain tensor cannot replace a parameter
