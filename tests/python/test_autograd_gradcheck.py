"""ember.autograd.gradcheck (float64 central differences) on every
differentiable op, with contiguous, non-contiguous and broadcast inputs."""
import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from _autograd_util import make_pair
from test_autograd_ops import CASES

# Points where the function is not differentiable (ties, zeros of |x| or
# of a product): finite differences disagree with any subgradient.
KINKS = {"maximum_ties", "minimum_ties", "max_ties", "min_ties", "amax_ties", "prod_one_zero", "prod_two_zeros",
         "prod_dim_zeros", "pow_zero_base_scalar_exp", "pow_zero_base_tensor_exp", "max_dim_values_ties",
         # float32 round trips cannot pass a float64 finite-difference check
         "double_float", "to_float32"}


def _inputs(arrays, noncontig=False):
    out = []
    for a in arrays:
        if a.dtype.kind == "f":
            out.append(make_pair(a.astype(np.float64), noncontig=noncontig and a.ndim >= 1)[0])
        else:
            out.append(ember.tensor(a))
    return out


@pytest.mark.parametrize("name", sorted(set(CASES) - KINKS))
def test_gradcheck(name):
    fn, arrays = CASES[name]
    assert gradcheck(lambda *ts: fn(ember, *ts), _inputs(arrays))


@pytest.mark.parametrize("name", sorted(set(CASES) - KINKS - {"view"}))
def test_gradcheck_noncontiguous(name):
    fn, arrays = CASES[name]
    inputs = _inputs(arrays, noncontig=True)
    assert gradcheck(lambda *ts: fn(ember, *ts), inputs)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "where", "atan2"])
def test_gradcheck_broadcast_binary(op):
    rng = np.random.default_rng(3)
    a = ember.tensor(rng.uniform(0.5, 2.0, (3, 1, 4)), requires_grad=True)
    b = ember.tensor(rng.uniform(0.5, 2.0, (2, 1)), requires_grad=True)
    f = {
        "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y, "div": lambda x, y: x / y,
        "pow": lambda x, y: x ** y, "maximum": ember.maximum, "minimum": ember.minimum,
        "where": lambda x, y: ember.where(x > 1, x, y), "atan2": ember.atan2,
    }[op]
    assert gradcheck(f, (a, b))


def test_gradcheck_detects_wrong_gradient():
    x = ember.randn(3, dtype=ember.float64, requires_grad=True)
    # detach() hides part of the function from autograd: the check must fail.
    with pytest.raises(RuntimeError):
        gradcheck(lambda t: t * t.detach(), (x,))
    assert gradcheck(lambda t: t * t.detach(), (x,), raise_exception=False) is False


def test_gradcheck_second_order_composite():
    x = ember.randn(3, dtype=ember.float64, requires_grad=True)

    def first_derivative(t):
        (g,) = ember.autograd.grad((t ** 3).sum(), [t], create_graph=True)
        return g

    assert gradcheck(first_derivative, (x,))
