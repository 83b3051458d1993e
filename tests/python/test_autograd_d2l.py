"""D2L section 2.5 (automatic differentiation) and the activation-function
derivatives of section 5.1, run as written with `torch` bound to ember and to
PyTorch; values, gradients and exception types must match."""
import numpy as np
import pytest

import ember
from _autograd_util import d2l_control_flow, torch


def results_match(program):
    e, t = program(ember), program(torch)
    assert len(e) == len(t)
    for a, b in zip(e, t):
        if isinstance(b, (bool, int, float, str, type(None))):
            assert a == b
        else:
            assert tuple(a.shape) == tuple(b.shape)
            np.testing.assert_allclose(np.asarray(a.detach().numpy()), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    return e, t


def test_gradient_of_2_x_dot_x():
    def program(torch):
        x = torch.arange(4.0)
        x.requires_grad_(True)
        out = [x.grad is None]
        y = 2 * torch.dot(x, x)
        out.append(y)
        y.backward()
        out += [x.grad, bool((x.grad == 4 * x).all())]
        return out

    results_match(program)


def test_gradient_of_sum_after_zero():
    def program(torch):
        x = torch.arange(4.0, requires_grad=True)
        y = 2 * torch.dot(x, x)
        y.backward()
        x.grad.zero_()
        y = x.sum()
        y.backward()
        return [x.grad]

    results_match(program)


def test_non_scalar_backward_with_gradient_argument():
    def program(torch):
        x = torch.arange(4.0, requires_grad=True)
        y = x * x
        y.backward(gradient=torch.ones(len(y)))
        g1 = x.grad.clone()
        x.grad.zero_()
        y = x * x
        y.sum().backward()
        return [g1, x.grad]

    results_match(program)


def test_detach_computation():
    def program(torch):
        x = torch.arange(4.0, requires_grad=True)
        y = x * x
        u = y.detach()
        z = u * x
        z.sum().backward()
        out = [x.grad, bool((x.grad == u).all())]
        x.grad.zero_()
        y.sum().backward()
        out += [x.grad, bool((x.grad == 2 * x).all())]
        return out

    results_match(program)


@pytest.mark.parametrize("value", [0.1234, -0.577, 3.0, -1e-3])
def test_python_control_flow(value):
    def program(torch):
        a = torch.tensor(value, requires_grad=True)  # D2L draws torch.randn(size=())
        d = d2l_control_flow(a)
        d.backward()
        return [d, a.grad, bool(a.grad == d / a)]

    results_match(program)


def test_python_control_flow_random_start():
    ember.manual_seed(0)
    a = ember.randn(size=(), requires_grad=True)
    d = d2l_control_flow(a)
    d.backward()
    assert bool(a.grad == d / a)


def test_retain_graph_twice_then_error():
    def program(torch):
        x = torch.arange(4.0, requires_grad=True)
        y = (x * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        out = [x.grad]
        try:
            y.backward()
        except Exception as err:  # noqa: BLE001
            out.append(type(err).__name__)
        return out

    e, t = results_match(program)
    assert e[-1] == "RuntimeError"


def test_activation_derivatives():
    def program(torch):
        x = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
        y = torch.relu(x)
        y.backward(torch.ones_like(x), retain_graph=True)
        out = [y, x.grad.clone()]
        y = torch.sigmoid(x)
        x.grad.data.zero_()
        y.backward(torch.ones_like(x), retain_graph=True)
        out += [y, x.grad.clone()]
        y = torch.tanh(x)
        x.grad.data.zero_()
        y.backward(torch.ones_like(x), retain_graph=True)
        out += [y, x.grad.clone()]
        return out

    results_match(program)


def test_relu_derivative_at_zero_is_zero():
    def program(torch):
        x = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
        torch.relu(x).sum().backward()
        return [x.grad]

    results_match(program)


def test_broadcast_gradient():
    def program(torch):
        a = torch.arange(3.0).reshape((3, 1)).requires_grad_()
        b = torch.arange(2.0).reshape((1, 2)).requires_grad_()
        (a + b).sum().backward()
        c = torch.ones(4, 1, requires_grad=True)
        (c * torch.ones(4, 5) * 3).mean().backward()
        return [a.grad, b.grad, c.grad]

    results_match(program)


def test_wide_composite_expression():
    def program(torch):
        x = torch.tensor([[0.3, -1.2, 0.8], [1.5, 0.1, -0.4]], requires_grad=True)
        w = torch.tensor([[0.2, -0.5], [0.7, 0.1], [-0.3, 0.9]], requires_grad=True)
        b = torch.tensor([0.05, -0.1], requires_grad=True)
        h = torch.relu(x @ w + b)
        z = torch.tanh(h) * torch.sigmoid(x[:, :2]) + (x ** 2).sum(1, keepdim=True) / (1 + h.exp())
        y = torch.log_softmax(z, dim=1).mean() + z.norm() - torch.cat([z, h], 1).max() + x.abs().sqrt().sum()
        y.backward()
        return [y, x.grad, w.grad, b.grad]

    results_match(program)


def test_linear_regression_sgd_steps():
    """The hand-written SGD loop of D2L 3.2."""
    def program(torch):
        X = torch.tensor(np.linspace(-1, 1, 20, dtype=np.float32).reshape(10, 2))
        y = (X @ torch.tensor([2.0, -3.4]) + 4.2).reshape(-1, 1)
        w = torch.tensor([[0.01], [-0.02]], requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        out = []
        for _ in range(5):
            loss = ((X @ w + b - y) ** 2 / 2).sum()
            loss.backward()
            with torch.no_grad():
                for param in [w, b]:
                    param -= 0.03 * param.grad / 10
                    param.grad.zero_()
            out.append(loss)
        return out + [w, b]

    results_match(program)


@pytest.mark.parametrize("bad", ["int_requires_grad", "non_scalar", "second_backward", "inplace_leaf", "modified_saved"])
def test_error_types_match(bad):
    def program(torch):
        try:
            if bad == "int_requires_grad":
                torch.arange(4).requires_grad_()
            elif bad == "non_scalar":
                x = torch.ones(3, requires_grad=True)
                (x * 2).backward()
            elif bad == "second_backward":
                x = torch.ones(3, requires_grad=True)
                y = (x * x).sum()
                y.backward()
                y.backward()
            elif bad == "inplace_leaf":
                x = torch.ones(3, requires_grad=True)
                x += 1
            else:
                x = torch.ones(3, requires_grad=True)
                y = x.exp()
                y += 1
                y.sum().backward()
        except Exception as err:  # noqa: BLE001
            return [type(err).__name__]
        return ["no error"]

    e, t = results_match(program)
    assert e[0] == "RuntimeError"
