"""Forward values and gradients of every differentiable op, compared with
PyTorch on the same inputs, in float32 and float64, with contiguous,
non-contiguous and broadcast inputs."""
import numpy as np
import pytest

import ember
from _autograd_util import compare, torch  # noqa: F401  (torch: importorskip)

rng = np.random.default_rng(1234)


def R(*shape):
    return rng.standard_normal(shape)


def P(*shape):  # strictly positive
    return rng.uniform(0.5, 2.0, shape)


# name -> (fn(lib, *tensors), list of input arrays)
CASES = {
    "add": (lambda L, a, b: a + b, [R(3, 4), R(3, 4)]),
    "add_broadcast": (lambda L, a, b: a + b, [R(3, 4), R(4)]),
    "add_broadcast_both": (lambda L, a, b: a + b, [R(3, 1), R(1, 4)]),
    "add_scalar": (lambda L, a: a + 2.5, [R(3, 4)]),
    "radd_scalar": (lambda L, a: 2.5 + a, [R(3, 4)]),
    "add_alpha": (lambda L, a, b: L.add(a, b, alpha=3), [R(3, 4), R(3, 4)]),
    "sub": (lambda L, a, b: a - b, [R(3, 4), R(2, 3, 4)]),
    "rsub_scalar": (lambda L, a: 1.5 - a, [R(3, 4)]),
    "mul": (lambda L, a, b: a * b, [R(3, 4), R(3, 4)]),
    "mul_broadcast": (lambda L, a, b: a * b, [R(2, 3, 4), R(3, 1)]),
    "mul_self": (lambda L, a: a * a, [R(5)]),
    "mul_scalar": (lambda L, a: 3 * a, [R(5)]),
    "div": (lambda L, a, b: a / b, [R(3, 4), P(3, 4)]),
    "div_broadcast": (lambda L, a, b: a / b, [R(3, 4), P(4)]),
    "rdiv_scalar": (lambda L, a: 2.0 / a, [P(3, 4)]),
    "div_scalar": (lambda L, a: a / 4, [R(3, 4)]),
    "pow_tensor": (lambda L, a, b: a ** b, [P(3, 4), R(3, 4)]),
    "pow_tensor_broadcast": (lambda L, a, b: a ** b, [P(3, 4), R(4)]),
    "pow_scalar2": (lambda L, a: a ** 2, [R(3, 4)]),
    "pow_scalar3": (lambda L, a: a ** 3, [R(3, 4)]),
    "pow_scalar_half": (lambda L, a: a ** 0.5, [P(3, 4)]),
    "pow_scalar_neg": (lambda L, a: a ** -1.5, [P(3, 4)]),
    "pow_scalar_zero": (lambda L, a: a ** 0, [R(3, 4)]),
    "pow_zero_base_scalar_exp": (lambda L, a: a ** 2, [np.array([0.0, 1.0, -2.0])]),
    "pow_zero_base_tensor_exp": (lambda L, a, b: a ** b, [np.array([0.0, 0.0, 2.0, 0.0]), np.array([2.0, 0.0, 0.0, 3.0])]),
    "rpow_scalar_base": (lambda L, a: 2.0 ** a, [R(3, 4)]),
    "torch_pow": (lambda L, a: L.pow(a, 3), [R(4)]),
    "neg": (lambda L, a: -a, [R(3, 4)]),
    "abs": (lambda L, a: a.abs(), [R(3, 4)]),
    "exp": (lambda L, a: L.exp(a), [R(3, 4)]),
    "log": (lambda L, a: L.log(a), [P(3, 4)]),
    "sqrt": (lambda L, a: L.sqrt(a), [P(3, 4)]),
    "rsqrt": (lambda L, a: L.rsqrt(a), [P(3, 4)]),
    "sin": (lambda L, a: L.sin(a), [R(3, 4)]),
    "cos": (lambda L, a: L.cos(a), [R(3, 4)]),
    "tan": (lambda L, a: L.tan(a), [rng.uniform(-1, 1, (3, 4))]),
    "tanh": (lambda L, a: L.tanh(a), [R(3, 4)]),
    "sigmoid": (lambda L, a: L.sigmoid(a), [R(3, 4)]),
    "relu": (lambda L, a: L.relu(a), [R(3, 4)]),
    "relu_method": (lambda L, a: a.relu(), [R(3, 4)]),
    "clamp_both": (lambda L, a: L.clamp(a, -0.5, 0.5), [R(3, 4)]),
    "clamp_min": (lambda L, a: a.clamp(min=0.1), [R(3, 4)]),
    "clamp_max": (lambda L, a: a.clamp(max=0.1), [R(3, 4)]),
    "maximum": (lambda L, a, b: L.maximum(a, b), [R(3, 4), R(3, 4)]),
    "maximum_broadcast": (lambda L, a, b: L.maximum(a, b), [R(3, 4), R(4)]),
    "maximum_ties": (lambda L, a, b: L.maximum(a, b), [np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])]),
    "minimum": (lambda L, a, b: L.minimum(a, b), [R(3, 4), R(3, 4)]),
    "minimum_ties": (lambda L, a, b: L.minimum(a, b), [np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 3.0])]),
    "where": (lambda L, a, b: L.where(a > 0, a, b), [R(3, 4), R(3, 4)]),
    "where_broadcast": (lambda L, a, b: L.where(a > 0, a, b), [R(3, 4), R(4)]),
    "where_scalar": (lambda L, a: L.where(a > 0, a, 0.0), [R(3, 4)]),
    "remainder": (lambda L, a, b: L.remainder(a, b), [R(3, 4) * 3, P(3, 4)]),
    "remainder_op": (lambda L, a: a % 0.7, [R(3, 4) * 3]),
    "square": (lambda L, a: L.square(a), [R(3, 4)]),
    "composite_wide": (lambda L, a, b, c: ((a * b).exp() + L.sigmoid(c) * a - b / (1 + c ** 2)).tanh().sum(0),
                       [R(3, 4), R(3, 4), R(4)]),
    # reductions
    "sum": (lambda L, a: a.sum(), [R(3, 4)]),
    "sum_dim": (lambda L, a: a.sum(1), [R(3, 4)]),
    "sum_dim_keepdim": (lambda L, a: a.sum(0, keepdim=True), [R(3, 4)]),
    "sum_dims": (lambda L, a: a.sum((0, 2)), [R(2, 3, 4)]),
    "sum_axis_kw": (lambda L, a: L.sum(a, axis=1), [R(2, 3)]),
    "mean": (lambda L, a: a.mean(), [R(3, 4)]),
    "mean_dim": (lambda L, a: a.mean(dim=0), [R(3, 4)]),
    "mean_dim_keepdim": (lambda L, a: a.mean(-1, keepdim=True), [R(2, 3, 4)]),
    "prod": (lambda L, a: a.prod(), [R(3, 4)]),
    "prod_dim": (lambda L, a: a.prod(1), [R(3, 4)]),
    "prod_one_zero": (lambda L, a: a.prod(), [np.array([1.5, 0.0, 2.0, -3.0])]),
    "prod_two_zeros": (lambda L, a: a.prod(), [np.array([1.5, 0.0, 2.0, 0.0])]),
    "prod_dim_zeros": (lambda L, a: a.prod(1), [np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 1.0], [1.0, 2.0, 3.0]])]),
    "norm2": (lambda L, a: a.norm(), [R(3, 4)]),
    "norm1": (lambda L, a: a.norm(p=1), [R(3, 4)]),
    "norm_inf": (lambda L, a: a.norm(p=float("inf")), [R(3, 4)]),
    "norm_dim": (lambda L, a: a.norm(dim=1), [R(3, 4)]),
    "norm3": (lambda L, a: a.norm(p=3), [R(3, 4)]),
    "cumsum": (lambda L, a: a.cumsum(0), [R(3, 4)]),
    "cumsum_dim1": (lambda L, a: L.cumsum(a, dim=1), [R(3, 4)]),
    "max": (lambda L, a: a.max(), [R(3, 4)]),
    "min": (lambda L, a: a.min(), [R(3, 4)]),
    "max_ties": (lambda L, a: a.max(), [np.array([1.0, 3.0, 3.0, 2.0])]),
    "min_ties": (lambda L, a: a.min(), [np.array([1.0, 3.0, 1.0, 2.0])]),
    "max_dim_values": (lambda L, a: a.max(dim=1).values, [R(3, 4)]),
    "max_dim_keepdim": (lambda L, a: a.max(0, keepdim=True)[0], [R(3, 4)]),
    "min_dim_values": (lambda L, a: L.min(a, 1).values, [R(3, 4)]),
    "amax": (lambda L, a: a.amax(1), [R(3, 4)]),
    "amax_ties": (lambda L, a: L.amax(a, 0), [np.array([[1.0, 2.0], [1.0, 0.0]])]),
    "amin": (lambda L, a: L.amin(a, (0, 1)), [R(3, 4)]),
    "var": (lambda L, a: a.var(), [R(3, 4)]),
    "std_dim": (lambda L, a: a.std(0), [R(3, 4)]),
    # matmul family
    "dot": (lambda L, a, b: L.dot(a, b), [R(5), R(5)]),
    "mv": (lambda L, a, b: L.mv(a, b), [R(3, 4), R(4)]),
    "mm": (lambda L, a, b: L.mm(a, b), [R(3, 4), R(4, 2)]),
    "matmul_2d": (lambda L, a, b: a @ b, [R(3, 4), R(4, 2)]),
    "matmul_1d_1d": (lambda L, a, b: L.matmul(a, b), [R(4), R(4)]),
    "matmul_1d_2d": (lambda L, a, b: L.matmul(a, b), [R(4), R(4, 3)]),
    "matmul_2d_1d": (lambda L, a, b: L.matmul(a, b), [R(3, 4), R(4)]),
    "matmul_batched": (lambda L, a, b: a @ b, [R(2, 3, 4), R(2, 4, 5)]),
    "matmul_batch_broadcast": (lambda L, a, b: a @ b, [R(2, 1, 3, 4), R(3, 4, 5)]),
    "matmul_batch_by_2d": (lambda L, a, b: a @ b, [R(2, 3, 4), R(4, 5)]),
    "matmul_2d_by_batch": (lambda L, a, b: a @ b, [R(3, 4), R(2, 4, 5)]),
    "matmul_batched_by_1d": (lambda L, a, b: a @ b, [R(2, 3, 4), R(4)]),
    "bmm": (lambda L, a, b: L.bmm(a, b), [R(2, 3, 4), R(2, 4, 5)]),
    "linear": (lambda L, x, w, b: L.nn.functional.linear(x, w, b), [R(2, 4), R(3, 4), R(3)]),
    "linear_nobias": (lambda L, x, w: L.nn.functional.linear(x, w), [R(2, 4), R(3, 4)]),
    "linear_3d": (lambda L, x, w, b: L.nn.functional.linear(x, w, b), [R(2, 5, 4), R(3, 4), R(3)]),
    "linear_1d": (lambda L, x, w, b: L.nn.functional.linear(x, w, b), [R(4), R(3, 4), R(3)]),
    # shape ops
    "reshape": (lambda L, a: a.reshape(4, 3) * L.arange(3.0, dtype=a.dtype), [R(3, 4)]),
    "reshape_infer": (lambda L, a: a.reshape(-1, 2), [R(3, 4)]),
    "view": (lambda L, a: a.view(2, 6), [R(3, 4)]),
    "transpose": (lambda L, a: a.transpose(0, 1), [R(3, 4)]),
    "transpose_3d": (lambda L, a: a.transpose(0, 2) @ L.ones(2, 1, dtype=a.dtype), [R(2, 3, 4)]),
    "permute": (lambda L, a: a.permute(2, 0, 1), [R(2, 3, 4)]),
    "T": (lambda L, a: a.T, [R(3, 4)]),
    "t": (lambda L, a: a.t(), [R(3, 4)]),
    "expand": (lambda L, a: a.expand(3, 4), [R(1, 4)]),
    "expand_new_dim": (lambda L, a: a.expand(2, 3, 4), [R(3, 1)]),
    "squeeze": (lambda L, a: a.squeeze(), [R(3, 1, 4, 1)]),
    "squeeze_dim": (lambda L, a: a.squeeze(1), [R(3, 1, 4)]),
    "unsqueeze": (lambda L, a: a.unsqueeze(1), [R(3, 4)]),
    "flatten": (lambda L, a: a.flatten(), [R(2, 3, 4)]),
    "flatten_start": (lambda L, a: L.flatten(a, 1), [R(2, 3, 4)]),
    # indexing
    "index_int": (lambda L, a: a[1], [R(3, 4)]),
    "index_neg_int": (lambda L, a: a[-1, 2], [R(3, 4)]),
    "index_slice": (lambda L, a: a[1:3], [R(4, 4)]),
    "index_slice_step": (lambda L, a: a[:, ::2], [R(3, 5)]),
    "index_ellipsis": (lambda L, a: a[..., 1], [R(2, 3, 4)]),
    "index_none": (lambda L, a: a[None, 1:], [R(3, 4)]),
    "index_bool_mask": (lambda L, a: a[a > 0], [R(3, 4)]),
    "index_int_tensor": (lambda L, a: a[L.tensor([0, 2, 0])], [R(3, 4)]),
    "index_int_tensor_2": (lambda L, a: a[L.tensor([0, 2]), L.tensor([1, 3])], [R(3, 4)]),
    "index_list": (lambda L, a: a[[2, 2, 1]], [R(3, 4)]),
    "index_mixed": (lambda L, a: a[1:, L.tensor([0, 0, 3])], [R(3, 4)]),
    "gather": (lambda L, a: a.gather(1, L.tensor([[0, 0], [1, 3], [2, 2]])), [R(3, 4)]),
    "index_select": (lambda L, a: a.index_select(0, L.tensor([2, 0, 2])), [R(3, 4)]),
    "cat": (lambda L, a, b: L.cat([a, b], 0), [R(2, 3), R(4, 3)]),
    "cat_dim1": (lambda L, a, b: L.cat((a, b, a), dim=1), [R(2, 3), R(2, 1)]),
    "stack": (lambda L, a, b: L.stack([a, b]), [R(2, 3), R(2, 3)]),
    "stack_dim1": (lambda L, a, b: L.stack([a, b], dim=1), [R(2, 3), R(2, 3)]),
    "split": (lambda L, a: a.split(2), [R(5, 3)]),
    "split_sizes": (lambda L, a: L.split(a, [1, 2], dim=1), [R(2, 3)]),
    "split_partial_use": (lambda L, a: a.split(2)[1] * 2, [R(5, 3)]),
    "chunk": (lambda L, a: a.chunk(3, dim=1), [R(2, 6)]),
    "unbind": (lambda L, a: a.unbind(0), [R(3, 2)]),
    # nn functional
    "softmax": (lambda L, a: L.softmax(a, dim=1), [R(3, 4)]),
    "softmax_dim0": (lambda L, a: L.nn.functional.softmax(a, dim=0), [R(3, 4)]),
    "log_softmax": (lambda L, a: L.log_softmax(a, dim=-1), [R(3, 4)]),
    "log_softmax_F": (lambda L, a: L.nn.functional.log_softmax(a, dim=1), [R(3, 4) * 10]),
    "cross_entropy": (lambda L, a, y: L.nn.functional.cross_entropy(a, y), [R(4, 5), np.array([0, 4, 2, 2])]),
    "cross_entropy_sum": (lambda L, a, y: L.nn.functional.cross_entropy(a, y, reduction="sum"),
                          [R(4, 5), np.array([1, 0, 3, 2])]),
    "cross_entropy_none": (lambda L, a, y: L.nn.functional.cross_entropy(a, y, reduction="none"),
                           [R(4, 5), np.array([1, 0, 3, 2])]),
    "mse_loss": (lambda L, a, b: L.nn.functional.mse_loss(a, b), [R(3, 4), R(3, 4)]),
    "mse_loss_sum": (lambda L, a, b: L.nn.functional.mse_loss(a, b, reduction="sum"), [R(3, 4), R(3, 4)]),
    "mse_loss_none": (lambda L, a, b: L.nn.functional.mse_loss(a, b, reduction="none"), [R(3, 4), R(3, 4)]),
    "F_relu": (lambda L, a: L.nn.functional.relu(a), [R(3, 4)]),
    "F_sigmoid_tanh": (lambda L, a: L.nn.functional.sigmoid(a) + L.nn.functional.tanh(a), [R(3, 4)]),
    # dtype conversions
    "to_float64": (lambda L, a: a.to(L.float64) * 2, [R(3, 4)]),
    "to_float32": (lambda L, a: a.to(L.float32) * 2, [R(3, 4)]),
    "double_float": (lambda L, a: a.double().float() + a, [R(3, 4)]),
    "clone": (lambda L, a: a.clone() * a, [R(3, 4)]),
    "contiguous": (lambda L, a: a.t().contiguous() * 2, [R(3, 4)]),
}

NONCONTIG_SKIP = {"view"}  # view of a strided tensor is rejected by both libraries


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_torch(name, np_dtype):
    fn, arrays = CASES[name]
    compare(fn, arrays, np_dtype=np_dtype)


@pytest.mark.parametrize("name", sorted(set(CASES) - NONCONTIG_SKIP))
def test_op_matches_torch_noncontiguous(name):
    fn, arrays = CASES[name]
    if any(a.ndim == 0 for a in arrays if a.dtype.kind == "f"):
        pytest.skip("0-d input")
    compare(fn, arrays, np_dtype=np.float64, noncontig=True)


@pytest.mark.parametrize("name", ["add", "mul", "div", "sub", "maximum", "pow_tensor", "where", "mm", "matmul_batched",
                                  "softmax", "sum_dim"])
def test_op_matches_torch_transposed_inputs(name):
    """Inputs that are transposed views of a leaf (the view's gradient goes
    through TransposeBackward to the leaf)."""
    fn, arrays = CASES[name]

    def g(L, *ts):
        ts = [t.transpose(-1, -2).transpose(-1, -2) if t.ndim >= 2 else t for t in ts]
        return fn(L, *ts)

    compare(g, arrays)


def test_linear_via_C_binding_is_addmm():
    w = ember.randn(3, 4, requires_grad=True)
    b = ember.randn(3, requires_grad=True)
    x = ember.randn(2, 4)
    y = ember._C.linear(x, w, b)
    assert y.grad_fn.name() == "AddmmBackward0"
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    tb = torch.tensor(b.detach().numpy(), requires_grad=True)
    ty = torch.nn.functional.linear(torch.tensor(x.numpy()), tw, tb)
    assert ty.grad_fn.name() == "AddmmBackward0"
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_nn_linear_module_gradients():
    torch_lin = torch.nn.Linear(4, 3)
    lin = ember.nn.Linear(4, 3)
    with ember.no_grad():
        lin.weight.copy_(ember.tensor(torch_lin.weight.detach().numpy()))
        lin.bias.copy_(ember.tensor(torch_lin.bias.detach().numpy()))
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    out, tout = lin(ember.tensor(x)), torch_lin(torch.tensor(x))
    assert out.grad_fn.name() == tout.grad_fn.name() == "AddmmBackward0"
    (out ** 2).mean().backward()
    (tout ** 2).mean().backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), torch_lin.weight.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(lin.bias.grad.numpy(), torch_lin.bias.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_index_assignment_in_graph_mask():
    """D2L-style `X[mask] = 0` on a tensor in the graph."""
    a = R(3, 4)

    def f(L, x):
        y = x * 2
        y[y > 0] = 0
        return y * x

    compare(f, [a])


@pytest.mark.parametrize("how", ["int", "slice", "int_tensor", "tensor_value", "broadcast_value"])
def test_index_assignment_in_graph(how):
    def f(L, x, v):
        y = x * 3
        if how == "int":
            y[1] = 3.0
        elif how == "slice":
            y[:, 1:3] = 0.5
        elif how == "int_tensor":
            y[L.tensor([0, 2])] = 1.0
        elif how == "tensor_value":
            y[0] = v
        else:
            y[:, 0] = v[:3] * 2
        return y * x

    compare(f, [R(3, 4), R(4)])


def test_inplace_ops_in_graph():
    def f(L, x, w):
        y = x * w
        y += 1
        y *= w
        y -= x
        y /= 2
        y.relu_() if hasattr(y, "relu_") else None
        return y.sum(1)

    compare(f, [R(3, 4), R(3, 4)])


def test_inplace_on_view_of_non_leaf_updates_base_history():
    def f(L, x, w):
        y = x * 1.0
        y[0].mul_(w[0])
        y[:, 1] += w
        return y * x

    compare(f, [R(3, 3), R(3)])


def test_shared_subexpression_and_tied_inputs():
    def f(L, x, w):
        h = (x @ w).tanh()
        return h @ w.t() + h.sum() * x

    compare(f, [R(3, 4), R(4, 4)])


def test_multiple_outputs_partly_used():
    def f(L, x):
        a, b, c = x.chunk(3)
        return a * 2 + c

    compare(f, [R(6, 2)])


def test_max_dim_indices_match_and_ties():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    e, t = compare(lambda L, a: a.max(1), [x])
    np.testing.assert_array_equal(e[1].numpy(), t[1].numpy())
