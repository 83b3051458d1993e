"""The ops of test_sort_topk / test_scatter / test_repeat / test_multinomial /
test_hyperbolic on every device: each CUDA result (values, indices and
gradients) must equal the CPU's. Skips on machines without a GPU."""
import numpy as np
import pytest

import ember

pytestmark = pytest.mark.skipif(ember.cuda.device_count() == 0, reason="needs a CUDA device")

rng = np.random.default_rng(21)


def run(fn, arrays, device):
    """fn(*tensors) on `device`; returns outputs and input gradients as numpy."""
    ins = [ember.tensor(a, device=device, requires_grad=a.dtype.kind == "f") for a in arrays]
    outs = fn(*ins)
    outs = outs if isinstance(outs, (tuple, list)) else [outs]
    roots = [o for o in outs if o.requires_grad]
    if roots:
        ember.autograd.backward(roots, [ember.ones_like(o) * 0.5 for o in roots])
    grads = [i.grad.cpu().numpy() if i.grad is not None else None for i in ins]
    return [o.detach().cpu().float().numpy() for o in outs], grads


CASES = {
    "sort": (lambda a: a.sort(dim=1, descending=True), [np.round(rng.standard_normal((37, 129)), 1)]),
    "sort_dim0_ties": (lambda a: a.sort(dim=0), [rng.integers(0, 4, (300, 7)).astype(np.float32)]),
    "argsort_int": (lambda a: a.argsort(), [rng.integers(-5, 5, (9, 1000))]),
    "topk": (lambda a: a.topk(5, dim=-1), [np.round(rng.standard_normal((64, 300)), 2)]),
    "topk_smallest": (lambda a: a.topk(3, dim=0, largest=False), [rng.standard_normal((50, 6))]),
    "scatter": (lambda a, s: a.scatter(1, ember.tensor([[2, 0], [1, 3]], device=a.device), s),
                [rng.standard_normal((2, 4)), rng.standard_normal((2, 2))]),
    "scatter_add_repeats": (lambda a, s: a.scatter_add(0, ember.tensor(rng.integers(0, 5, (4000, 3)),
                                                                       device=a.device), s),
                            [rng.standard_normal((5, 3)), rng.standard_normal((4000, 3)) * 1e3]),
    "scatter_multiply": (lambda a: a.scatter(1, ember.tensor([[0, 0, 1]], device=a.device), 1.5, reduce="multiply"),
                         [rng.standard_normal((2, 3))]),
    "repeat": (lambda a: a.repeat(2, 1, 3), [rng.standard_normal((3, 4))]),
    "repeat_interleave": (lambda a: a.repeat_interleave(ember.tensor([2, 0, 3], device=a.device), dim=0),
                          [rng.standard_normal((3, 4))]),
    "repeat_interleave_int": (lambda a: a.repeat_interleave(3, dim=-1), [rng.standard_normal((3, 4))]),
    "sinh_cosh": (lambda a: (a.sinh(), a.cosh()), [rng.standard_normal((5, 6))]),
    "searchsorted": (lambda s, v: ember.searchsorted(s, v, right=True),
                     [np.sort(rng.integers(0, 20, (4, 30)), axis=1).astype(np.float64),
                      rng.integers(0, 20, (4, 9)).astype(np.float64)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cuda_matches_cpu(name):
    fn, arrays = CASES[name]
    cpu_out, cpu_grads = run(fn, arrays, "cpu")
    gpu_out, gpu_grads = run(fn, arrays, "cuda")
    for c, g in zip(cpu_out, gpu_out):
        np.testing.assert_allclose(g, c, rtol=1e-6, atol=1e-6)
    for c, g in zip(cpu_grads, gpu_grads):
        if c is not None:
            np.testing.assert_allclose(g, c, rtol=1e-6, atol=1e-6)


def test_scatter_add_bits_match_cpu():
    src = (rng.standard_normal(100000) * 10.0 ** rng.integers(-5, 5, 100000)).astype(np.float32)
    idx = rng.integers(0, 7, 100000)
    cpu = ember.zeros(7).scatter_add(0, ember.tensor(idx), ember.tensor(src))
    for _ in range(3):
        gpu = ember.zeros(7, device="cuda").scatter_add(0, ember.tensor(idx, device="cuda"),
                                                         ember.tensor(src, device="cuda"))
        np.testing.assert_array_equal(gpu.cpu().numpy(), cpu.numpy())  # same order, same bits


def test_index_errors_on_cuda():
    x = ember.zeros(3, 4, device="cuda")
    with pytest.raises(RuntimeError, match="index 4 is out of bounds for dimension 1 with size 4"):
        x.scatter_(1, ember.tensor([[4]], device="cuda"), 1.0)
    assert x.cpu().sum().item() == 0
