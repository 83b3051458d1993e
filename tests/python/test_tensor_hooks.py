"""Tensor.register_hook and register_post_accumulate_grad_hook, compared
with PyTorch's behaviour on the same graphs."""
import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def both(values, requires_grad=True):
    return (ember.tensor(values, requires_grad=requires_grad),
            torch.tensor(values, requires_grad=requires_grad))


def run(lib, x, hooks_on_x=(), hooks_on_y=(), post=()):
    """y = x * 3; z = (y * y).sum(); backward. Returns what the hooks saw."""
    seen = []
    for h in hooks_on_x:
        x.register_hook(lambda g, h=h: (seen.append(("x", g.detach().numpy().copy())), h(g))[1])
    y = x * 3
    for h in hooks_on_y:
        y.register_hook(lambda g, h=h: (seen.append(("y", g.detach().numpy().copy())), h(g))[1])
    for h in post:
        x.register_post_accumulate_grad_hook(lambda t, h=h: (seen.append(("post", t.grad.numpy().copy())), h(t))[1])
    (y * y).sum().backward()
    return seen


@pytest.mark.parametrize("case", ["none", "leaf_scale", "nonleaf_scale", "chain", "post"])
def test_hooks_match_pytorch(case):
    identity = lambda g: None  # noqa: E731
    double = lambda g: g * 2  # noqa: E731
    plan = {
        "none": dict(hooks_on_x=[identity], hooks_on_y=[identity]),
        "leaf_scale": dict(hooks_on_x=[double]),
        "nonleaf_scale": dict(hooks_on_y=[double]),
        "chain": dict(hooks_on_x=[double, lambda g: g + 1], hooks_on_y=[double, double]),
        "post": dict(hooks_on_x=[double], post=[lambda t: None, lambda t: None]),
    }[case]
    xe, xt = both([1.0, -2.0, 0.5])
    seen_e = run(ember, xe, **plan)
    seen_t = run(torch, xt, **plan)
    assert [k for k, _ in seen_e] == [k for k, _ in seen_t]
    for (_, a), (_, b) in zip(seen_e, seen_t):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


def test_hook_replacement_reaches_retain_grad_and_autograd_grad():
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        y.register_hook(lambda g: g * 10)
        y.sum().backward()
        assert y.grad.tolist() == [10.0, 10.0], lib
        assert x.grad.tolist() == [20.0, 20.0], lib
        x2 = lib.tensor([1.0, 2.0], requires_grad=True)
        x2.register_hook(lambda g: g + 5)
        (g,) = lib.autograd.grad((x2 * 3).sum(), [x2])
        assert g.tolist() == [8.0, 8.0], lib
        assert x2.grad is None


def test_post_accumulate_hook_sees_accumulated_grad_and_not_autograd_grad():
    results = {}
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        calls = []
        x.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.tolist()))
        (x * 2).sum().backward()
        (x * 3).sum().backward()
        lib.autograd.grad((x * 4).sum(), [x])
        results[lib.__name__] = calls
    assert results["ember"] == results["torch"] == [[2.0, 2.0], [5.0, 5.0]]


def test_post_accumulate_hook_receives_the_parameter_itself():
    p = ember.nn.Parameter(ember.ones(3))
    got = []
    p.register_post_accumulate_grad_hook(got.append)
    (p * p).sum().backward()
    assert len(got) == 1 and got[0] is p


def test_hook_fires_once_per_backward_for_a_leaf_used_twice():
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        calls = []
        x.register_hook(lambda g: calls.append(g.tolist()))
        x.register_post_accumulate_grad_hook(lambda t: calls.append("post"))
        (x * x + x).sum().backward()
        assert calls == [[3.0, 5.0], "post"], lib


def test_remove_and_context_manager():
    x = ember.tensor([1.0], requires_grad=True)
    calls = []
    h = x.register_hook(lambda g: calls.append(1))
    p = x.register_post_accumulate_grad_hook(lambda t: calls.append(2))
    (x * 2).sum().backward()
    h.remove()
    h.remove()  # twice is harmless, as in PyTorch
    (x * 2).sum().backward()
    p.remove()
    with x.register_hook(lambda g: calls.append(3)):
        (x * 2).sum().backward()
    (x * 2).sum().backward()
    assert calls == [1, 2, 2, 3]
    assert isinstance(h.id, int) and h.id != p.id


def test_nonleaf_hook_removal_after_graph_is_gone():
    x = ember.tensor([1.0], requires_grad=True)
    y = x * 2
    h = y.register_hook(lambda g: None)
    del y
    h.remove()


def test_hook_may_modify_grad_in_place_and_remove_itself():
    x = ember.tensor([1.0, 1.0], requires_grad=True)
    handles = []

    def once(g):
        handles[0].remove()
        return g * 0

    handles.append(x.register_hook(once))
    (x * 2).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_python_exception_from_hook_propagates_as_itself():
    class Boom(Exception):
        pass

    for register in ("register_hook", "register_post_accumulate_grad_hook"):
        x = ember.tensor([1.0], requires_grad=True)

        def bad(arg):
            raise Boom("from the hook")

        getattr(x, register)(bad)
        with pytest.raises(Boom, match="from the hook"):
            (x * 2).sum().backward()
        y = ember.tensor([1.0], requires_grad=True)
        (y * 2).sum().backward()  # the engine is usable afterwards
        assert y.grad.tolist() == [2.0]


@pytest.mark.parametrize("bad, exc, message", [
    (lambda g: ember.ones(4), RuntimeError, "hook '<lambda>' has changed the size of value"),
    (lambda g: g.double(), RuntimeError, "hook '<lambda>' has changed the type of value"),
    (lambda g: 3, TypeError, "expected Variable, but hook returned 'int'"),
])
def test_bad_hook_results_raise_like_pytorch(bad, exc, message):
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x.register_hook(bad)
    with pytest.raises(exc, match=message.replace("(", r"\(").replace(")", r"\)")):
        (x * 2).sum().backward()
    xt = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    xt.register_hook(lambda g, bad=bad: bad(g) if not isinstance(bad(ember.ones(3)), ember.Tensor) else
                     torch.tensor(bad(ember.ones(3)).numpy()))
    with pytest.raises(exc, match=message.split("'")[0]):
        (xt * 2).sum().backward()


def test_registration_errors_match_pytorch():
    for lib in (ember, torch):
        plain = lib.ones(2)
        with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
            plain.register_hook(lambda g: None)
        with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
            plain.register_post_accumulate_grad_hook(lambda t: None)
        y = lib.ones(2, requires_grad=True) * 2
        with pytest.raises(RuntimeError, match="post accumulate grad hooks cannot be registered on non-leaf"):
            y.register_post_accumulate_grad_hook(lambda t: None)
    x = ember.ones(2, requires_grad=True)
    x.register_post_accumulate_grad_hook(lambda t: 3)
    with pytest.raises(TypeError, match="expected Variable, but hook returned 'int'"):
        x.sum().backward()
    with pytest.raises(TypeError, match="callable"):
        ember.ones(2, requires_grad=True).register_hook(3)
