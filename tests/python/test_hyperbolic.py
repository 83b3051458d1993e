"""sinh and cosh (D2L's import-time aliases): values and gradients against
PyTorch, in-place forms, integer promotion, 16-bit storage and large inputs."""
import numpy as np
import pytest

import ember
from _autograd_util import compare, torch  # noqa: F401  (torch: importorskip)

rng = np.random.default_rng(7)


@pytest.mark.parametrize("name", ["sinh", "cosh"])
@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("noncontig", [False, True])
def test_forward_and_backward_match_torch(name, np_dtype, noncontig):
    x = rng.standard_normal((3, 5)) * 3
    compare(lambda L, a: getattr(L, name)(a), [x], np_dtype=np_dtype, noncontig=noncontig, check_grad_fn=True)
    compare(lambda L, a: getattr(a, name)() * 2, [x], np_dtype=np_dtype, noncontig=noncontig)


@pytest.mark.parametrize("name", ["sinh", "cosh"])
def test_second_order_gradient(name):
    x = rng.standard_normal(6)
    e = ember.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    (ge,) = ember.autograd.grad(getattr(ember, name)(e).sum(), e, create_graph=True)
    (gt,) = torch.autograd.grad(getattr(torch, name)(t).sum(), t, create_graph=True)
    ge.sum().backward()
    gt.sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["sinh", "cosh"])
def test_in_place(name):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    e, t = ember.tensor(x), torch.tensor(x)
    view_e, view_t = e[:, 1], t[:, 1]
    assert getattr(view_e, name + "_")() is view_e
    getattr(view_t, name + "_")()
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="can't be cast"):
        getattr(ember.arange(3), name + "_")()


def test_in_place_records_history():
    x = rng.standard_normal(5)
    e = ember.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    ye, yt = e * 1.0, t * 1.0
    ye.sinh_()
    yt.sinh_()
    ye.cosh_().sum().backward()
    yt.cosh_().sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["sinh", "cosh"])
def test_dtypes_edges_and_shapes(name):
    e_fn, t_fn = getattr(ember, name), getattr(torch, name)
    ints = [-3, 0, 2, 5]
    assert e_fn(ember.tensor(ints)).dtype == ember.float32
    np.testing.assert_allclose(e_fn(ember.tensor(ints)).numpy(), t_fn(torch.tensor(ints)).numpy(), rtol=1e-6)
    edge = [0.0, -0.0, 89.0, -89.0, 100.0, float("inf"), float("-inf"), float("nan"), 1e-8]
    np.testing.assert_array_equal(e_fn(ember.tensor(edge)).numpy(), t_fn(torch.tensor(edge)).numpy())
    h = e_fn(ember.tensor([0.5, -1.0], dtype=ember.bfloat16))
    assert h.dtype == ember.bfloat16
    np.testing.assert_allclose(h.float().numpy(), t_fn(torch.tensor([0.5, -1.0], dtype=torch.bfloat16)).float().numpy())
    assert e_fn(ember.tensor(1.5)).shape == ()
    assert e_fn(ember.zeros(0, 3)).shape == (0, 3)


def test_argument_errors():
    with pytest.raises(TypeError, match="must be Tensor"):
        ember.sinh(1.0)
    with pytest.raises(TypeError):
        ember.cosh([1.0, 2.0])
