"""Numerical gradient checking: central differences in float64 compared with
the analytical gradients of the engine, with PyTorch's default tolerances.

Inputs are perturbed in place through a detached alias, element by element
(by multi-index, so non-contiguous and expanded inputs work too); functions
may return one tensor or a tuple of tensors (non-floating outputs are
ignored, as in PyTorch)."""
import itertools
import warnings

from .. import _C
from .functional import grad as _grad
from .grad_mode import enable_grad, no_grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _outputs(out):
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, _C.Tensor) and o.is_floating_point()]


def _indices(shape):
    return itertools.product(*[range(int(s)) for s in shape])


def _flat_values(outs):
    return [o.detach().reshape(-1).clone() for o in outs]


def _numerical_columns(func, inputs, x, eps):
    """For each element of x: list over outputs of d out / d x[elem] (flattened)."""
    # Grad mode stays on: func may itself call autograd.grad (double backward).
    alias = x.detach()
    cols = []
    for idx in _indices(x.shape):
        orig = alias[idx].item()
        alias[idx] = orig + eps
        plus = _flat_values(_outputs(func(*inputs)))
        alias[idx] = orig - eps
        minus = _flat_values(_outputs(func(*inputs)))
        alias[idx] = orig
        with no_grad():
            cols.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
    return cols


def _fail(raise_exception, msg):
    if raise_exception:
        raise GradcheckError(msg)
    return False


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **unused):
    """True when the gradients of `func` at `inputs` match central differences."""
    inputs = (inputs,) if isinstance(inputs, _C.Tensor) else tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, _C.Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but none of the them "
                         "have requires_grad=True.")
    for i in diff:
        if inputs[i].dtype != _C.dtype.float64:
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating point. "
                          "This check will likely fail if all the inputs are not of double precision floating point.",
                          stacklevel=2)
    # Finite differences first: perturbing bumps the inputs' versions, so
    # the graph for the analytical part is recorded afterwards.
    numericals = {i: _numerical_columns(func, inputs, inputs[i], eps) for i in diff}  # [elem][output] -> flat
    with enable_grad():
        outs = _outputs(func(*inputs))
    for i in diff:
        x = inputs[i]
        numerical = numericals[i]
        for k, out in enumerate(outs):
            n_out = out.numel()
            flat_out = out.reshape(-1) if out.requires_grad else None
            for j in range(n_out):
                if flat_out is not None:
                    onehot = _C.full([n_out], 0, out.dtype, out.device)
                    onehot[j] = 1
                    (g,) = _grad([flat_out], [x], grad_outputs=[onehot], retain_graph=True, allow_unused=True)
                else:
                    g = None
                if g is not None and tuple(g.shape) != tuple(x.shape):
                    return _fail(raise_exception, f"Gradient has wrong shape for input {i}: {tuple(g.shape)} vs "
                                                  f"{tuple(x.shape)}")
                analytical = (g.detach().reshape(-1) if g is not None
                              else _C.full([x.numel()], 0, x.dtype, x.device))
                num_row = [col[k][j].item() for col in numerical]
                for e, (a, n) in enumerate(zip(analytical.tolist(), num_row)):
                    if not abs(a - n) <= atol + rtol * abs(n):
                        return _fail(raise_exception,
                                     f"Jacobian mismatch for output {k} with respect to input {i},\n"
                                     f"at output element {j}, input element {e}: numerical {n} vs analytical {a}\n")
    return True
