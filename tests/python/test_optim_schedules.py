"""RMSprop, Adagrad, AdamW and the learning-rate schedulers against PyTorch:
parameter and learning-rate trajectories over several steps."""

import math
import warnings

import numpy as np
import pytest

import ember
from ember import nn

torch = pytest.importorskip("torch")

from test_optim import _pair, _run  # noqa: E402


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.01),
    dict(lr=0.01, alpha=0.9, eps=1e-6),
    dict(lr=0.01, momentum=0.9),
    dict(lr=0.01, centered=True),
    dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1),
    dict(lr=0.01, maximize=True),
])
def test_rmsprop_matches_pytorch(kwargs):
    net, tnet, X, y = _pair()
    _run(net, tnet, X, y, ember.optim.RMSprop(net.parameters(), **kwargs),
         torch.optim.RMSprop(tnet.parameters(), **kwargs), steps=8)


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1),
    dict(lr=0.1, lr_decay=0.05),
    dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5),
    dict(lr=0.1, eps=1e-6, maximize=True),
])
def test_adagrad_matches_pytorch(kwargs):
    net, tnet, X, y = _pair()
    _run(net, tnet, X, y, ember.optim.Adagrad(net.parameters(), **kwargs),
         torch.optim.Adagrad(tnet.parameters(), **kwargs), steps=8)


@pytest.mark.parametrize("kwargs", [dict(), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, amsgrad=True)])
def test_adamw_matches_pytorch(kwargs):
    net, tnet, X, y = _pair()
    _run(net, tnet, X, y, ember.optim.AdamW(net.parameters(), **kwargs),
         torch.optim.AdamW(tnet.parameters(), **kwargs), steps=8)
    assert ember.optim.AdamW(net.parameters()).param_groups[0]["weight_decay"] == 1e-2


@pytest.mark.parametrize("cls, kwargs, message", [
    ("RMSprop", dict(lr=-1), "Invalid learning rate: -1"),
    ("RMSprop", dict(alpha=-0.5), "Invalid alpha value: -0.5"),
    ("RMSprop", dict(momentum=-1), "Invalid momentum value: -1"),
    ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    ("Adagrad", dict(eps=-1), "Invalid epsilon value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    ("AdamW", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
])
def test_optimizer_bad_options_raise_like_pytorch(cls, kwargs, message):
    p = nn.Parameter(ember.zeros(2))
    with pytest.raises(ValueError, match=message):
        getattr(ember.optim, cls)([p], **kwargs)
    with pytest.raises(ValueError, match=message):
        getattr(torch.optim, cls)([torch.nn.Parameter(torch.zeros(2))], **kwargs)


def test_rmsprop_state_dict_round_trip():
    net, _, X, _ = _pair()
    opt = ember.optim.RMSprop(net.parameters(), lr=0.01, momentum=0.9, centered=True)
    net(ember.tensor(X)).sum().backward()
    opt.step()
    other = ember.optim.RMSprop(net.parameters(), lr=0.01, momentum=0.9, centered=True)
    other.load_state_dict(opt.state_dict())
    state = other.state[next(iter(net.parameters()))]
    assert state["step"] == 1 and set(state) == {"step", "square_avg", "momentum_buffer", "grad_avg"}


# ------------------------------------------------------------ schedulers

def _schedulers(name, kwargs, groups=1):
    def make(lib):
        params = [lib.nn.Parameter(lib.zeros(2)) for _ in range(groups)]
        opt = lib.optim.SGD([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(params)], lr=0.1)
        return opt, getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
    return make(ember), make(torch)


_LAMBDA = lambda epoch: 0.95 ** epoch  # noqa: E731

SCHEDULES = [
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=2, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=4)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01)),
    ("LambdaLR", dict(lr_lambda=_LAMBDA)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (e + 1))),
]


@pytest.mark.parametrize("name, kwargs", SCHEDULES)
def test_scheduler_trajectory_matches_pytorch(name, kwargs):
    (opt, sched), (topt, tsched) = _schedulers(name, kwargs, groups=2)
    for _ in range(14):
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
        assert [g["lr"] for g in opt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups])
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    assert sched.last_epoch == tsched.last_epoch == 14
    assert [g["initial_lr"] for g in opt.param_groups] == [g["initial_lr"] for g in topt.param_groups]


@pytest.mark.parametrize("name, kwargs", [s for s in SCHEDULES if s[0] != "LambdaLR"])
def test_scheduler_step_with_epoch_uses_closed_form(name, kwargs):
    (opt, sched), (topt, tsched) = _schedulers(name, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (3, 7, 2):
            opt.step()
            topt.step()
            sched.step(epoch)
            tsched.step(epoch)
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("name, kwargs", SCHEDULES[:6])
def test_scheduler_state_dict_resumes_the_trajectory(name, kwargs):
    (opt, sched), (topt, tsched) = _schedulers(name, kwargs)
    for _ in range(4):
        opt.step()
        sched.step()
        topt.step()
        tsched.step()
    saved, tsaved = sched.state_dict(), tsched.state_dict()
    assert set(saved) <= set(tsaved)  # PyTorch also keeps private bookkeeping flags
    for key in ("base_lrs", "last_epoch", "_last_lr", "_step_count"):
        assert saved[key] == pytest.approx(tsaved[key]), key
    # PyTorch's resume recipe: a fresh optimizer and scheduler, then both state dicts.
    opt2 = ember.optim.SGD([nn.Parameter(ember.zeros(2))], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    resumed = getattr(ember.optim.lr_scheduler, name)(opt2, **kwargs)
    resumed.load_state_dict(saved)
    for _ in range(4):
        opt2.step()
        resumed.step()
        topt.step()
        tsched.step()
        assert resumed.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)


def test_lambda_lr_state_dict_keeps_callable_objects():
    class Warmup:
        def __init__(self):
            self.factor = 0.5

        def __call__(self, epoch):
            return self.factor * (epoch + 1)

    p = nn.Parameter(ember.zeros(1))
    warm = Warmup()
    sched = ember.optim.lr_scheduler.LambdaLR(ember.optim.SGD([p], lr=1.0), [warm])
    saved = sched.state_dict()
    assert saved["lr_lambdas"] == [{"factor": 0.5}]
    func = ember.optim.lr_scheduler.LambdaLR(ember.optim.SGD([p], lr=1.0), _LAMBDA)
    assert func.state_dict()["lr_lambdas"] == [None]
    warm.factor = 2.0
    sched.load_state_dict(saved)
    assert warm.factor == 0.5


def test_scheduler_errors_and_warnings():
    p = nn.Parameter(ember.zeros(1))
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        ember.optim.lr_scheduler.StepLR([p], 2)
    with pytest.raises(KeyError, match="initial_lr"):
        ember.optim.lr_scheduler.StepLR(ember.optim.SGD([p], lr=1.0), 2, last_epoch=3)
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
        ember.optim.lr_scheduler.LambdaLR(ember.optim.SGD([p], lr=1.0), [_LAMBDA, _LAMBDA])
    sched = ember.optim.lr_scheduler.ExponentialLR(ember.optim.SGD([p], lr=1.0), 0.5)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    assert sched.get_last_lr() == [0.5]


def test_scheduler_drives_training_like_pytorch():
    net, tnet, X, y = _pair()
    opt = ember.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.5, momentum=0.9)
    sched = ember.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=5)
    Xe, ye, Xt, yt = ember.tensor(X), ember.tensor(y), torch.tensor(X), torch.tensor(y)
    for _ in range(6):
        opt.zero_grad()
        nn.functional.cross_entropy(net(Xe), ye).backward()
        opt.step()
        sched.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tnet(Xt), yt).backward()
        topt.step()
        tsched.step()
    for p, tp in zip(net.parameters(), tnet.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert math.isclose(opt.param_groups[0]["lr"], topt.param_groups[0]["lr"])
