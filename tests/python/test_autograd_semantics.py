"""Autograd semantics users rely on, each checked against PyTorch: graph
structure and grad_fn names, leaves, accumulation, backward/grad arguments
and their errors, detach, grad mode (context managers, decorators, threads),
control flow, shared subgraphs, broadcasting, version counters."""
import threading

import numpy as np
import pytest

import ember
from _autograd_util import d2l_control_flow, torch

LIBS = [ember, torch]
ids = ["ember", "torch"]


def np_of(t):
    return np.asarray(t.detach().numpy())


def both(fn):
    """Runs fn(lib) for ember and torch and returns both results."""
    return fn(ember), fn(torch)


def assert_same(a, b, **kw):
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y, **kw)
    elif a is None or b is None:
        assert a is None and b is None
    elif isinstance(a, (bool, int, float, str)):
        assert a == b
    else:
        np.testing.assert_allclose(np_of(a), np_of(b), rtol=1e-5, atol=1e-6, **kw)


# ------------------------------------------------------------------ graph structure

NAMED = {
    "mul": lambda L, x, y: x * y,
    "add": lambda L, x, y: x + y,
    "sub": lambda L, x, y: x - y,
    "div": lambda L, x, y: x / y,
    "neg": lambda L, x, y: -x,
    "pow_scalar": lambda L, x, y: x ** 2,
    "pow_tensor": lambda L, x, y: x.abs() ** y,
    "sum": lambda L, x, y: x.sum(),
    "sum_dim": lambda L, x, y: x.sum(0),
    "mean": lambda L, x, y: x.mean(),
    "mm": lambda L, x, y: L.mm(x, y.t()),
    "matmul_2d": lambda L, x, y: x @ y.T,
    "addmm": lambda L, x, y: L.nn.functional.linear(x, y, y[:, 0]),
    "dot": lambda L, x, y: L.dot(x[0], y[0]),
    "mv": lambda L, x, y: L.mv(x, y[0]),
    "bmm": lambda L, x, y: L.bmm(x.unsqueeze(0), y.t().unsqueeze(0)),
    "exp": lambda L, x, y: x.exp(),
    "log": lambda L, x, y: x.abs().log(),
    "relu": lambda L, x, y: L.relu(x),
    "sigmoid": lambda L, x, y: L.sigmoid(x),
    "tanh": lambda L, x, y: L.tanh(x),
    "abs": lambda L, x, y: x.abs(),
    "sqrt": lambda L, x, y: x.abs().sqrt(),
    "view": lambda L, x, y: x.view(-1),
    "transpose": lambda L, x, y: x.transpose(0, 1),
    "t": lambda L, x, y: x.t(),
    "permute": lambda L, x, y: x.permute(1, 0),
    "expand": lambda L, x, y: x[:1].expand(3, 4),
    "unsqueeze": lambda L, x, y: x.unsqueeze(0),
    "select": lambda L, x, y: x[0],
    "slice": lambda L, x, y: x[1:],
    "index": lambda L, x, y: x[x > 0],
    "cat": lambda L, x, y: L.cat([x, y]),
    "stack": lambda L, x, y: L.stack([x, y]),
    "clone": lambda L, x, y: x.clone(),
    "max": lambda L, x, y: x.max(),
    "max_dim": lambda L, x, y: x.max(1)[0],
    "maximum": lambda L, x, y: L.maximum(x, y),
    "where": lambda L, x, y: L.where(x > 0, x, y),
    "clamp": lambda L, x, y: x.clamp(-0.1, 0.1),
    "prod": lambda L, x, y: x.prod(),
    "cumsum": lambda L, x, y: x.cumsum(0),
    "softmax": lambda L, x, y: L.softmax(x, 1),
    "log_softmax": lambda L, x, y: L.log_softmax(x, 1),
    "to_double": lambda L, x, y: x.to(L.float64),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_grad_fn_names_match_torch(name):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)

    def run(L):
        x, y = L.tensor(a, requires_grad=True), L.tensor(b, requires_grad=True)
        return NAMED[name](L, x, y).grad_fn

    e, t = both(run)
    assert e.name() == t.name()
    assert type(e).__name__ == type(t).__name__
    assert repr(e).startswith("<" + t.name() + " object at ")


def _structure(fn, depth=4):
    if fn is None:
        return None
    name = type(fn).__name__  # torch's name() of AccumulateGrad carries a C++ namespace
    if depth == 0:
        return name
    return (name, tuple((_structure(f, depth - 1), nr) for f, nr in fn.next_functions))


@pytest.mark.parametrize("expr", [
    lambda L, x, y: x * y + x,
    lambda L, x, y: 2 * L.dot(x, x),
    lambda L, x, y: (x * 3).sum(),
    lambda L, x, y: (x - y / 2).exp().mean(),
    lambda L, x, y: L.cat([x, y * 2]).relu(),
    lambda L, x, y: x.sum() * y,
])
def test_next_functions_structure_matches_torch(expr):
    def run(L):
        x = L.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = L.tensor([0.5, 1.5, -1.0], requires_grad=True)
        return _structure(expr(L, x, y).grad_fn)

    e, t = both(run)
    assert e == t


def test_accumulate_grad_variable_is_the_leaf():
    x = ember.ones(2, requires_grad=True)
    y = x * 2
    acc = y.grad_fn.next_functions[0][0]
    assert acc.name() == "AccumulateGrad"
    assert acc.variable is x
    assert y.grad_fn.next_functions[1] == (None, 0)


# ------------------------------------------------------------------ leaves and flags

@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_leaf_flags(L):
    x = L.ones(3)
    assert x.is_leaf and not x.requires_grad and x.grad_fn is None and x.grad is None
    assert x.requires_grad_() is x
    assert x.requires_grad and x.is_leaf
    y = x * 2
    assert not y.is_leaf and y.requires_grad and y.grad_fn is not None
    z = L.ones(3) * 2
    assert z.is_leaf and not z.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    x.requires_grad = True
    assert x.requires_grad


def test_factories_take_requires_grad():
    for make in [lambda L: L.ones(2, 3, requires_grad=True), lambda L: L.zeros(2, requires_grad=True),
                 lambda L: L.randn(2, requires_grad=True), lambda L: L.tensor([1.0, 2.0], requires_grad=True),
                 lambda L: L.arange(4.0, requires_grad=True), lambda L: L.full((2,), 3.0, requires_grad=True),
                 lambda L: L.rand(2, requires_grad=True), lambda L: L.empty(2, requires_grad=True)]:
        e, t = both(make)
        assert e.requires_grad and t.requires_grad and e.is_leaf


@pytest.mark.parametrize("make", [
    lambda L: L.arange(3).requires_grad_(),
    lambda L: L.tensor([1, 2], requires_grad=True),
    lambda L: L.ones(2, dtype=L.int64, requires_grad=True),
    lambda L: L.tensor([True, False]).requires_grad_(True),
    lambda L: setattr(L.zeros(2, dtype=L.int32), "requires_grad", True),
])
def test_integer_and_bool_tensors_cannot_require_grad(make):
    for L in LIBS:
        with pytest.raises(RuntimeError):
            make(L)


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_requires_grad_false_on_non_leaf_raises(L):
    y = L.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError):
        y.requires_grad = False
    y.requires_grad_(True)  # allowed: it already does


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_integer_results_do_not_require_grad(L):
    x = L.tensor([1.5, -2.5], requires_grad=True)
    assert not (x > 0).requires_grad
    assert not x.argmax().requires_grad
    assert x.max(0)[1].requires_grad is False
    assert not x.long().requires_grad


# ------------------------------------------------------------------ accumulation

@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_grad_accumulates_and_zero(L):
    x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert x.grad is None
    (x * x).sum().backward()
    g1 = x.grad
    assert_same(x.grad, L.tensor([2.0, 4.0, 6.0]))
    (x * 3).sum().backward()
    assert_same(x.grad, L.tensor([5.0, 7.0, 9.0]))
    assert x.grad is g1  # accumulated in place
    x.grad.zero_()
    assert_same(x.grad, L.zeros(3))
    x.sum().backward()
    assert_same(x.grad, L.ones(3))
    x.grad = None
    (2 * x).sum().backward()
    assert_same(x.grad, 2 * L.ones(3))


def test_grad_accumulation_matches_torch_across_calls():
    def run(L):
        w = L.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        out = []
        for k in range(3):
            (w @ w * (k + 1)).sum().backward()
            out.append(w.grad.clone())
        return out

    assert_same(*both(run))


def test_grad_setter_checks_like_torch():
    for L in LIBS:
        x = L.ones(3, requires_grad=True)
        x.grad = L.full((3,), 2.0)
        (x * 1).sum().backward()
        assert_same(x.grad, L.full((3,), 3.0))
        with pytest.raises(RuntimeError):
            x.grad = L.ones(4)


# ------------------------------------------------------------------ backward arguments and errors

@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_backward_non_scalar_needs_gradient(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match="scalar outputs"):
        y.backward()
    y.backward(L.tensor([1.0, 10.0]))
    assert_same(x.grad, L.tensor([2.0, 40.0]))
    y2 = x * x
    y2.backward(gradient=L.ones(2))
    assert_same(x.grad, L.tensor([4.0, 44.0]))


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_backward_gradient_shape_mismatch(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(L.ones(3))


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_backward_on_tensor_without_grad(L):
    with pytest.raises(RuntimeError, match="does not require grad"):
        L.ones(2).sum().backward()


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_second_backward_raises_and_retain_graph_allows_it(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_same(x.grad, L.tensor([4.0, 8.0]))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    z = (x.exp() * 2).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_backward_of_leaf_itself(L):
    x = L.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_autograd_backward_function_list(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    L.autograd.backward([(x * 2).sum(), (x * x).sum()])
    assert_same(x.grad, L.tensor([4.0, 6.0]))
    L.autograd.backward([x * 3], [L.ones(2)])
    assert_same(x.grad, L.tensor([7.0, 9.0]))


# ------------------------------------------------------------------ autograd.grad

@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_autograd_grad_basic_and_leaves_dot_grad_untouched(L):
    x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = L.tensor([4.0, 5.0, 6.0], requires_grad=True)
    out = (x * y).sum()
    gx, gy = L.autograd.grad(out, [x, y])
    assert_same(gx, y)
    assert_same(gy, x)
    assert x.grad is None and y.grad is None
    assert not gx.requires_grad


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_autograd_grad_non_leaf_input(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    out = (h * h).sum()
    (gh,) = L.autograd.grad(out, h)
    assert_same(gh, 2 * h)


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_autograd_grad_allow_unused(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    z = L.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        L.autograd.grad((x * 2).sum(), [x, z])
    gx, gz = L.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert_same(gx, L.tensor([2.0, 2.0]))
    assert gz is None
    gx, gz = L.autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)
    assert_same(gz, L.zeros(1))


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_autograd_grad_outputs(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    (g,) = L.autograd.grad(x * x, x, grad_outputs=L.tensor([1.0, 0.5]))
    assert_same(g, L.tensor([2.0, 2.0]))
    (g,) = L.autograd.grad([x * x, x * 3], [x], grad_outputs=[L.ones(2), L.ones(2)])
    assert_same(g, L.tensor([5.0, 7.0]))
    with pytest.raises(RuntimeError, match="scalar outputs"):
        L.autograd.grad(x * x, x)


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_autograd_grad_frees_graph_unless_retained(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp()).sum()
    L.autograd.grad(y, x, retain_graph=True)
    L.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="second time"):
        L.autograd.grad(y, x)


def test_second_derivative_of_cube():
    def run(L):
        x = L.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = (x ** 3).sum()
        (g,) = L.autograd.grad(y, x, create_graph=True)
        assert g.requires_grad
        (g2,) = L.autograd.grad(g.sum(), x)
        x2 = L.tensor(2.0, requires_grad=True)
        y2 = x2 ** 3
        y2.backward(create_graph=True)
        first = x2.grad.clone()
        gg = x2.grad
        x2.grad = None
        gg.backward()
        return [g, g2, first, x2.grad]

    e, t = both(run)
    assert_same(e, t)
    np.testing.assert_allclose(np_of(e[1]), [6.0, -12.0, 18.0])


def test_second_derivative_of_composite():
    def run(L):
        x = L.tensor([0.3, -0.7, 1.1], requires_grad=True)
        y = (L.tanh(x) * x.exp() + L.sigmoid(x) ** 2).sum()
        (g,) = L.autograd.grad(y, x, create_graph=True)
        (g2,) = L.autograd.grad((g * g).sum(), x)
        return [g, g2]

    assert_same(*both(run))


# ------------------------------------------------------------------ detach and .data

@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_detach_shares_storage_without_history(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d[0] = 100.0
    assert y[0].item() == 100.0
    xd = x.detach()
    xd.add_(1)
    assert_same(x, L.tensor([2.0, 3.0]))
    data = x.data
    assert not data.requires_grad
    data.mul_(2)
    assert_same(x, L.tensor([4.0, 6.0]))
    assert x.requires_grad and x.is_leaf


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_data_assignment_keeps_leaf(L):
    w = L.ones(2, requires_grad=True)
    w.data = L.tensor([3.0, 4.0])
    assert w.requires_grad and w.is_leaf
    (w * w).sum().backward()
    assert_same(w.grad, L.tensor([6.0, 8.0]))


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_detach_blocks_gradient(L):
    x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    u = y.detach()
    z = u * x
    z.sum().backward()
    assert_same(x.grad, u)


# ------------------------------------------------------------------ grad mode

@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_no_grad_and_enable_grad_context_managers(L):
    x = L.ones(2, requires_grad=True)
    with L.no_grad():
        assert not L.is_grad_enabled()
        y = x * 2
        with L.enable_grad():
            assert L.is_grad_enabled()
            z = x * 2
        w = x * 2
    assert L.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    assert not w.requires_grad


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_grad_mode_decorators(L):
    x = L.ones(2, requires_grad=True)

    @L.no_grad()
    def f(t):
        return t * 2

    @L.enable_grad()
    def g(t):
        return t * 2

    @L.no_grad
    def f_bare(t):
        return t * 2

    assert not f(x).requires_grad
    assert not f_bare(x).requires_grad
    with L.no_grad():
        assert g(x).requires_grad
    assert f.__name__ == "f"
    assert L.is_grad_enabled()


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_grad_mode_restored_after_exception(L):
    with pytest.raises(ValueError):
        with L.no_grad():
            raise ValueError("x")
    assert L.is_grad_enabled()


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_set_grad_enabled(L):
    x = L.ones(2, requires_grad=True)
    with L.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    L.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        L.set_grad_enabled(True)
    assert L.is_grad_enabled()


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_grad_mode_is_thread_local(L):
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def worker():
        seen["initial"] = L.is_grad_enabled()
        x = L.ones(2, requires_grad=True)
        seen["records"] = (x * 2).requires_grad
        with L.no_grad():
            inside.set()
            release.wait(5)
        seen["after"] = L.is_grad_enabled()

    with L.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        inside.wait(5)
        # The worker is in its own no_grad block; the main thread's mode is its own.
        assert not L.is_grad_enabled()
        release.set()
        t.join()
    assert L.is_grad_enabled()
    assert seen == {"initial": True, "records": True, "after": True}


def test_inference_mode_like_no_grad():
    x = ember.ones(2, requires_grad=True)
    with ember.inference_mode():
        assert not (x * 2).requires_grad


# ------------------------------------------------------------------ control flow, sharing, broadcasting

@pytest.mark.parametrize("value", [0.37, -1.3, 5e-3, [0.2, -0.1, 0.4]])
def test_control_flow_gradient(value):
    def run(L):
        a = L.tensor(value, requires_grad=True)
        d = d2l_control_flow(a)
        d.backward(L.ones_like(d))
        return [d, a.grad]

    e, t = both(run)
    assert_same(e, t)
    if not isinstance(value, list):
        np.testing.assert_allclose(np_of(e[1]), np_of(e[0]) / value, rtol=1e-5)


def test_shared_subexpression_adds_up():
    def run(L):
        x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
        h = x * x
        y = h + h * h + h.exp().sum()
        y.sum().backward()
        return x.grad

    assert_same(*both(run))


def test_tied_parameters_add_up():
    def run(L):
        L.manual_seed(0)
        shared = L.nn.Linear(4, 4)
        w = L.tensor(np.arange(16.0, dtype=np.float32).reshape(4, 4) / 10)
        b = L.tensor(np.linspace(-1, 1, 4, dtype=np.float32))
        with L.no_grad():
            shared.weight.copy_(w)
            shared.bias.copy_(b)
        net = L.nn.Sequential(shared, L.nn.ReLU(), shared, L.nn.ReLU(), L.nn.Linear(4, 1))
        with L.no_grad():
            net[4].weight.fill_(0.5)
            net[4].bias.fill_(0.1)
        x = L.tensor(np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4))
        net(x).sum().backward()
        assert net[0].weight.grad is net[2].weight.grad
        return [shared.weight.grad, shared.bias.grad, net[4].weight.grad]

    assert_same(*both(run))


def test_broadcast_gradients_summed_back():
    def run(L):
        a = L.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
        b = L.tensor([10.0, 20.0], requires_grad=True)
        c = L.tensor(0.5, requires_grad=True)
        y = (a * b + c) ** 2 / (b - a)
        y.sum().backward()
        return [y, a.grad, b.grad, c.grad]

    e, t = both(run)
    assert_same(e, t)
    assert tuple(e[1].shape) == (3, 1) and tuple(e[2].shape) == (2,) and tuple(e[3].shape) == ()


def test_gradient_dtype_follows_input_on_mixed_dtypes():
    def run(L):
        a = L.tensor([1.0, 2.0], dtype=L.float32, requires_grad=True)
        b = L.tensor([3.0, 4.0], dtype=L.float64, requires_grad=True)
        (a * b).sum().backward()
        return [a.grad, b.grad, a.grad.dtype == L.float32, b.grad.dtype == L.float64]

    e, t = both(run)
    assert_same(e, t)
    assert e[2] and e[3]


# ------------------------------------------------------------------ version counters and in-place

@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_modified_saved_input_raises(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    a = x * 2
    b = a * a
    a.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_modified_saved_output_raises(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = x.sigmoid()
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_modified_through_view_raises(L):
    x = L.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    h = x * 1
    y = h.exp()
    y[0].zero_()  # the view shares the version counter
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_version_counter(L):
    x = L.ones(3)
    v = x._version
    x.add_(1)
    x[0] = 2
    assert x._version == v + 2
    assert x[1:]._version == x._version


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_unsaved_input_may_change(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    a = x * 2
    b = a + 1  # add saves nothing
    a.mul_(3)
    b.sum().backward()
    assert_same(x.grad, L.tensor([2.0, 2.0]))


@pytest.mark.parametrize("L", LIBS, ids=ids)
@pytest.mark.parametrize("op", [
    lambda w: w.add_(1), lambda w: w.mul_(2), lambda w: w.zero_(), lambda w: w.fill_(1.0),
    lambda w: w.__isub__(1), lambda w: w.copy_(w.detach() * 0), lambda w: w.__setitem__(0, 5.0),
    lambda w: w.relu_(), lambda w: w.clamp_(0, 1), lambda w: w.uniform_(), lambda w: w.normal_(),
])
def test_inplace_on_leaf_requiring_grad(L, op):
    w = L.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        op(w)
    with L.no_grad():
        op(w)
    assert w.requires_grad and w.is_leaf and w.grad_fn is None


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_inplace_on_view_of_leaf_raises(L):
    w = L.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w[0].add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w[1:].mul_(2)
    with L.no_grad():
        w[1:].mul_(2)
    assert_same(w, L.tensor([1.0, 2.0, 2.0]))


def test_sgd_update_in_no_grad():
    def run(L):
        w = L.tensor([1.0, -2.0], requires_grad=True)
        for _ in range(3):
            loss = ((w * 3 - 1) ** 2).sum()
            loss.backward()
            with L.no_grad():
                w -= 0.1 * w.grad
                w.grad.zero_()
        return w

    assert_same(*both(run))


def test_inplace_in_graph_matches_torch():
    def run(L):
        x = L.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = x * 2
        y.add_(1).mul_(x)
        y.exp_() if hasattr(y, "exp_") else None
        z = y.sum()
        z.backward()
        return [y, x.grad, y.grad_fn.name()]

    assert_same(*both(run))


def test_inplace_on_view_in_graph_matches_torch():
    def run(L):
        x = L.tensor([[0.5, -1.0], [2.0, 3.0]], requires_grad=True)
        y = x * 2
        y[0].mul_(x[1])
        y[:, 1] += 1
        (y * y).sum().backward()
        return [y, x.grad]

    assert_same(*both(run))


def test_index_assignment_mask_in_graph():
    def run(L):
        x = L.tensor([[0.5, -1.0, 0.1], [2.0, -3.0, 0.0]], requires_grad=True)
        X = x * 3
        X[X < 0] = 0
        X[:, 0] = x[:, 2] * 5
        (X * x).sum().backward()
        return [X, x.grad, type(X.grad_fn).__name__]

    assert_same(*both(run))


# ------------------------------------------------------------------ retain_grad

@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_retain_grad_on_non_leaf(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    assert h.retains_grad
    y = (h * h).sum()
    y.backward(retain_graph=True)
    assert_same(h.grad, 2 * h)
    y.backward()
    assert_same(h.grad, 4 * h)
    assert_same(x.grad, 12 * h)
    x.retain_grad()  # no-op on a leaf
    assert not x.retains_grad


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_non_leaf_grad_is_none_without_retain(L):
    import warnings
    x = L.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.sum().backward()
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert h.grad is None
    assert x.grad is not None
    h.retain_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert h.grad is None


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_backward_with_inputs(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    w = L.tensor([3.0, 4.0], requires_grad=True)
    h = x * w
    h.retain_grad()
    y = (h * x).sum()
    y.backward(inputs=[w], retain_graph=True)
    assert x.grad is None
    assert_same(w.grad, x * x)
    L.autograd.backward(y, inputs=[x, w])
    assert_same(x.grad, 2 * x * w)
    assert_same(w.grad, 2 * x * x)


@pytest.mark.parametrize("L", LIBS, ids=ids)
def test_detach_in_place(L):
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert y.detach_() is y
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    z = L.ones(2, requires_grad=True)
    z.detach_()
    assert not z.requires_grad
    v = (x * 1)[0:1]
    with pytest.raises(RuntimeError):
        v.detach_()
