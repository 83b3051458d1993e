"""Numerical gradient checking: central differences in float64 compared with
the analytical gradients of the engine, with PyTorch's default tolerances."""
from .. import _C
from .functional import grad as _grad
from .grad_mode import no_grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _numerical_jacobian(fn, inputs, index, output, eps):
    x = inputs[index]
    flat = x.detach().reshape(-1)
    n_out = output.numel()
    cols = []
    with no_grad():
        for j in range(flat.numel()):
            orig = flat[j].item()
            flat[j] = orig + eps
            plus = _as_output(fn(*inputs)).detach().reshape(-1).clone()
            flat[j] = orig - eps
            minus = _as_output(fn(*inputs)).detach().reshape(-1).clone()
            flat[j] = orig
            cols.append((plus - minus) / (2 * eps))
    if not cols:
        return _C.full([n_out, 0], 0, _C.dtype.float64, x.device)
    return _C.stack(cols, 1)


def _as_output(out):
    if isinstance(out, (tuple, list)):
        if len(out) != 1:
            raise ValueError("gradcheck in ember supports functions with a single tensor output")
        out = out[0]
    return out


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **unused):
    """True when the gradients of `func` at `inputs` match central differences."""
    inputs = (inputs,) if isinstance(inputs, _C.Tensor) else tuple(inputs)
    diff_inputs = [i for i, t in enumerate(inputs) if isinstance(t, _C.Tensor) and t.requires_grad]
    for i in diff_inputs:
        if inputs[i].dtype != _C.dtype.float64:
            raise ValueError("gradcheck expects double precision (float64) inputs that require grad; "
                             f"input {i} is {inputs[i].dtype}")
    output = _as_output(func(*inputs))
    n_out = output.numel()
    for i in diff_inputs:
        x = inputs[i]
        numerical = _numerical_jacobian(func, inputs, i, output, eps)
        rows = []
        for k in range(n_out):
            out = _as_output(func(*inputs)).reshape(-1)[k]
            (g,) = _grad(out, [x], allow_unused=True)
            rows.append(g.reshape(-1) if g is not None else _C.full([x.numel()], 0, x.dtype, x.device))
        analytical = _C.stack(rows, 0) if rows else numerical
        close = ((analytical - numerical).abs() <= atol + rtol * numerical.abs()).all().item()
        if not close:
            if raise_exception:
                raise GradcheckError(f"Jacobian mismatch for output 0 with respect to input {i},\n"
                                     f"numerical:{numerical}\nanalytical:{analytical}\n")
            return False
    return True
