"""Shared helpers for the autograd tests: run one function on ember and on
PyTorch with the same inputs and compare forward values and gradients."""
import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

DTYPES = [(ember.float32, torch.float32, np.float32), (ember.float64, torch.float64, np.float64)]


def tol(np_dtype):
    return dict(rtol=1e-4, atol=1e-5) if np_dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)


def to_np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(ember.Tensor.numpy(t.detach()))


def make_pair(arr, noncontig=False, requires_grad=True):
    """An ember leaf and a torch leaf holding `arr`; with noncontig the leaves
    are strided (every other column of a wider buffer)."""
    if noncontig and arr.ndim >= 1:
        wide = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), dtype=arr.dtype)
        wide[..., ::2] = arr
        e = ember.tensor(wide)[..., ::2].detach()
        t = torch.tensor(wide)[..., ::2].detach()
        assert not e.is_contiguous() and not t.is_contiguous()
    else:
        e, t = ember.tensor(arr), torch.tensor(arr)
    if requires_grad:
        e.requires_grad_(True)
        t.requires_grad_(True)
    return e, t


def compare(fn, arrays, np_dtype=np.float64, noncontig=False, grad_seed=0, check_grad_fn=None, needs_grad=None):
    """fn(lib, *tensors) is run with lib=ember and lib=torch; values and the
    gradients of every input (under a random upstream gradient) must match."""
    arrays = [np.asarray(a, dtype=np_dtype) if not isinstance(a, np.ndarray) or a.dtype.kind == "f" else a
              for a in arrays]
    arrays = [a.astype(np_dtype) if a.dtype.kind == "f" else a for a in arrays]
    needs_grad = needs_grad or [a.dtype.kind == "f" for a in arrays]
    pairs = [make_pair(a, noncontig=noncontig, requires_grad=ng) for a, ng in zip(arrays, needs_grad)]
    e_in = [p[0] for p in pairs]
    t_in = [p[1] for p in pairs]
    e_out = fn(ember, *e_in)
    t_out = fn(torch, *t_in)
    if not isinstance(t_out, (tuple, list)):
        e_out, t_out = [e_out], [t_out]
    k = tol(np_dtype)
    rng = np.random.default_rng(grad_seed)
    e_roots, t_roots, e_grads, t_grads = [], [], [], []
    for eo, to in zip(e_out, t_out):
        assert tuple(eo.shape) == tuple(to.shape)
        np.testing.assert_allclose(to_np(eo), to_np(to), **k)
        if to.requires_grad:
            assert eo.requires_grad
            if check_grad_fn is not None:
                assert eo.grad_fn.name() == to.grad_fn.name()
            g = np.asarray(rng.standard_normal(tuple(to.shape))).astype(to_np(to).dtype)
            e_roots.append(eo)
            t_roots.append(to)
            e_grads.append(ember.tensor(g))
            t_grads.append(torch.tensor(g))
    if not t_roots:
        return e_out, t_out
    torch.autograd.backward(t_roots, t_grads)
    ember.autograd.backward(e_roots, e_grads)
    for i, (e, t) in enumerate(zip(e_in, t_in)):
        if not t.requires_grad:
            continue
        if t.grad is None:
            assert e.grad is None or np.all(to_np(e.grad) == 0), f"input {i}"
            continue
        assert e.grad is not None, f"input {i} got no gradient"
        assert tuple(e.grad.shape) == tuple(t.grad.shape)
        assert e.grad.dtype == e.dtype
        np.testing.assert_allclose(to_np(e.grad), to_np(t.grad), err_msg=f"gradient of input {i}", **k)
    return e_out, t_out


def d2l_control_flow(a):
    """D2L 2.5.4: a gradient through Python control flow; d = k * a for a
    k that depends on a, so a.grad == d / a."""
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c
