"""The tensor programs of D2L chapter 2 (data manipulation, preprocessing,
linear algebra, the tensor parts of autograd), run with `import ember as
torch`. Expected values are the book's; where PyTorch is installed the same
program also runs on it and values, dtypes and reprs must agree."""
import numpy as np
import pytest

import ember
from _tensor_oracle import assert_same, needs_torch, torch as real_torch

MODULES = [ember] + ([real_torch] if real_torch is not None else [])


def _r(x):
    """repr with the module prefix normalised."""
    return repr(x).replace("torch.", "ember.")


@pytest.fixture(params=MODULES, ids=lambda m: m.__name__)
def torch(request):
    return request.param


def test_creation(torch):
    x = torch.arange(12)
    assert _r(x) == "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11])"
    assert _r(x.shape) == "ember.Size([12])"
    assert x.numel() == 12
    X = x.reshape(3, 4)
    assert _r(X) == ("tensor([[ 0,  1,  2,  3],\n        [ 4,  5,  6,  7],\n        [ 8,  9, 10, 11]])")
    assert X.shape == (3, 4) and x.reshape(-1, 4).shape == (3, 4) and x.reshape(3, -1).shape == (3, 4)
    Z = torch.zeros((2, 3, 4))
    assert _r(Z) == ("tensor([[[0., 0., 0., 0.],\n         [0., 0., 0., 0.],\n         [0., 0., 0., 0.]],\n\n"
                     "        [[0., 0., 0., 0.],\n         [0., 0., 0., 0.],\n         [0., 0., 0., 0.]]])")
    assert torch.ones((2, 3, 4)).sum().item() == 24
    assert torch.randn(3, 4).shape == (3, 4)
    T = torch.tensor([[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    assert _r(T) == "tensor([[2, 1, 4, 3],\n        [1, 2, 3, 4],\n        [4, 3, 2, 1]])"


def test_operators(torch):
    x = torch.tensor([1.0, 2, 4, 8])
    y = torch.tensor([2, 2, 2, 2])
    assert _r(x + y) == "tensor([ 3.,  4.,  6., 10.])"
    assert _r(x - y) == "tensor([-1.,  0.,  2.,  6.])"
    assert _r(x * y) == "tensor([ 2.,  4.,  8., 16.])"
    assert _r(x / y) == "tensor([0.5000, 1.0000, 2.0000, 4.0000])"
    assert _r(x ** y) == "tensor([ 1.,  4., 16., 64.])"
    assert _r(torch.exp(x)) == "tensor([2.7183e+00, 7.3891e+00, 5.4598e+01, 2.9810e+03])"
    X = torch.arange(12, dtype=torch.float32).reshape((3, 4))
    Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    c0, c1 = torch.cat((X, Y), dim=0), torch.cat((X, Y), dim=1)
    assert c0.shape == (6, 4) and c1.shape == (3, 8)
    assert _r((c0, c1)) == (
        "(tensor([[ 0.,  1.,  2.,  3.],\n        [ 4.,  5.,  6.,  7.],\n        [ 8.,  9., 10., 11.],\n"
        "        [ 2.,  1.,  4.,  3.],\n        [ 1.,  2.,  3.,  4.],\n        [ 4.,  3.,  2.,  1.]]), "
        "tensor([[ 0.,  1.,  2.,  3.,  2.,  1.,  4.,  3.],\n        [ 4.,  5.,  6.,  7.,  1.,  2.,  3.,  4.],\n"
        "        [ 8.,  9., 10., 11.,  4.,  3.,  2.,  1.]]))")
    assert _r(X == Y) == ("tensor([[False,  True, False,  True],\n        [False, False, False, False],\n"
                          "        [False, False, False, False]])")
    assert _r(X.sum()) == "tensor(66.)"


def test_broadcasting(torch):
    a = torch.arange(3).reshape((3, 1))
    b = torch.arange(2).reshape((1, 2))
    assert _r(a) == "tensor([[0],\n        [1],\n        [2]])"
    assert _r(b) == "tensor([[0, 1]])"
    assert _r(a + b) == "tensor([[0, 1],\n        [1, 2],\n        [2, 3]])"


def test_indexing_and_slicing(torch):
    X = torch.arange(12, dtype=torch.float32).reshape((3, 4))
    last, middle = X[-1], X[1:3]
    assert _r(last) == "tensor([ 8.,  9., 10., 11.])"
    assert _r(middle) == "tensor([[ 4.,  5.,  6.,  7.],\n        [ 8.,  9., 10., 11.]])"
    X[1, 2] = 9
    assert X[1, 2].item() == 9
    X[0:2, :] = 12
    assert _r(X) == ("tensor([[12., 12., 12., 12.],\n        [12., 12., 12., 12.],\n"
                     "        [ 8.,  9., 10., 11.]])")


def test_saving_memory(torch):
    X = torch.arange(12, dtype=torch.float32).reshape((3, 4))
    Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    before = id(Y)
    Y = Y + X
    assert id(Y) != before
    Z = torch.zeros_like(Y)
    z_id = id(Z)
    Z[:] = X + Y
    assert id(Z) == z_id
    np.testing.assert_array_equal(Z.numpy(), (X + Y).numpy())
    before = id(X)
    X += Y
    assert id(X) == before
    before = id(X)
    X[:] = X + Y
    assert id(X) == before
    X -= 1
    X *= 2
    X /= 2
    assert id(X) == before


def test_numpy_conversion(torch):
    X = torch.arange(12, dtype=torch.float32).reshape((3, 4))
    A = X.numpy()
    B = torch.tensor(A)
    assert type(A).__name__ == "ndarray" and type(B).__name__ == "Tensor"
    a = torch.tensor([3.5])
    assert _r((a, a.item(), float(a), int(a))) == "(tensor([3.5000]), 3.5, 3.5, 3)"
    s = torch.from_numpy(A)
    A[0, 0] = -1
    assert s[0, 0].item() == -1


def test_preprocessing_to_tensor(torch):
    inputs = np.array([[3.0, 1, 0], [2, 0, 1], [4, 0, 1], [3, 0, 1]])
    outputs = np.array([127500.0, 106000, 178100, 140000])
    X, y = torch.tensor(inputs), torch.tensor(outputs)
    assert _r((X, y)) == (
        "(tensor([[3., 1., 0.],\n        [2., 0., 1.],\n        [4., 0., 1.],\n        [3., 0., 1.]], "
        "dtype=ember.float64), tensor([127500., 106000., 178100., 140000.], dtype=ember.float64))")


def test_scalars_vectors(torch):
    x = torch.tensor(3.0)
    y = torch.tensor(2.0)
    assert _r((x + y, x * y, x / y, x ** y)) == "(tensor(5.), tensor(6.), tensor(1.5000), tensor(9.))"
    x = torch.arange(4)
    assert _r(x[3]) == "tensor(3)"
    assert len(x) == 4 and x.shape == (4,)


def test_matrices_tensors(torch):
    A = torch.arange(20).reshape(5, 4)
    assert A.T.shape == (4, 5)
    assert _r(A.T[0]) == "tensor([ 0,  4,  8, 12, 16])"
    B = torch.tensor([[1, 2, 3], [2, 0, 4], [3, 4, 5]])
    assert _r(B == B.T) == ("tensor([[True, True, True],\n        [True, True, True],\n"
                            "        [True, True, True]])")
    X = torch.arange(24).reshape(2, 3, 4)
    assert X.shape == (2, 3, 4) and _r(X[1, 2]) == "tensor([20, 21, 22, 23])"
    A = torch.arange(20, dtype=torch.float32).reshape(5, 4)
    B = A.clone()
    assert _r(A + B).startswith("tensor([[ 0.,  2.,  4.,  6.],\n        [ 8., 10., 12., 14.],")
    assert _r(A * B).startswith("tensor([[  0.,   1.,   4.,   9.],\n        [ 16.,  25.,  36.,  49.],")
    a = 2
    X = torch.arange(24).reshape(2, 3, 4)
    assert (a + X)[0, 0].tolist() == [2, 3, 4, 5] and (a * X).shape == (2, 3, 4)


def test_reductions(torch):
    x = torch.arange(4, dtype=torch.float32)
    assert _r((x, x.sum())) == "(tensor([0., 1., 2., 3.]), tensor(6.))"
    A = torch.arange(20, dtype=torch.float32).reshape(5, 4)
    assert _r(A.shape) == "ember.Size([5, 4])" and _r(A.sum()) == "tensor(190.)"
    A_sum_axis0 = A.sum(axis=0)
    assert _r((A_sum_axis0, A_sum_axis0.shape)) == "(tensor([40., 45., 50., 55.]), ember.Size([4]))"
    A_sum_axis1 = A.sum(axis=1)
    assert _r((A_sum_axis1, A_sum_axis1.shape)) == "(tensor([ 6., 22., 38., 54., 70.]), ember.Size([5]))"
    assert _r(A.sum(axis=[0, 1])) == "tensor(190.)"
    assert _r((A.mean(), A.sum() / A.numel())) == "(tensor(9.5000), tensor(9.5000))"
    assert _r((A.mean(axis=0), A.sum(axis=0) / A.shape[0])) == (
        "(tensor([ 8.,  9., 10., 11.]), tensor([ 8.,  9., 10., 11.]))")
    sum_A = A.sum(axis=1, keepdims=True)
    assert _r(sum_A) == "tensor([[ 6.],\n        [22.],\n        [38.],\n        [54.],\n        [70.]])"
    assert _r(A / sum_A) == (
        "tensor([[0.0000, 0.1667, 0.3333, 0.5000],\n        [0.1818, 0.2273, 0.2727, 0.3182],\n"
        "        [0.2105, 0.2368, 0.2632, 0.2895],\n        [0.2222, 0.2407, 0.2593, 0.2778],\n"
        "        [0.2286, 0.2429, 0.2571, 0.2714]])")
    assert _r(A.cumsum(axis=0)) == (
        "tensor([[ 0.,  1.,  2.,  3.],\n        [ 4.,  6.,  8., 10.],\n        [12., 15., 18., 21.],\n"
        "        [24., 28., 32., 36.],\n        [40., 45., 50., 55.]])")
    X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert _r(X.sum(0)) == "tensor([5., 7., 9.])" and _r(X.sum(0, keepdim=True)) == "tensor([[5., 7., 9.]])"
    assert _r(X.sum(1)) == "tensor([ 6., 15.])" and _r(X.sum(1, keepdim=True)) == "tensor([[ 6.],\n        [15.]])"


def test_products(torch):
    x = torch.arange(4, dtype=torch.float32)
    y = torch.ones(4, dtype=torch.float32)
    assert _r((x, y, torch.dot(x, y))) == "(tensor([0., 1., 2., 3.]), tensor([1., 1., 1., 1.]), tensor(6.))"
    assert _r(torch.sum(x * y)) == "tensor(6.)"
    A = torch.arange(20, dtype=torch.float32).reshape(5, 4)
    assert _r((A.shape, x.shape, torch.mv(A, x))) == (
        "(ember.Size([5, 4]), ember.Size([4]), tensor([ 14.,  38.,  62.,  86., 110.]))")
    B = torch.ones(4, 3)
    assert _r(torch.mm(A, B)) == (
        "tensor([[ 6.,  6.,  6.],\n        [22., 22., 22.],\n        [38., 38., 38.],\n"
        "        [54., 54., 54.],\n        [70., 70., 70.]])")
    a = torch.rand(1, 2)
    b = torch.rand(1, 2)
    assert torch.mul(a, b).shape == (1, 2)
    a = torch.ones(3, 4)
    b = torch.Tensor([1, 2, 3]).reshape((3, 1))
    assert _r(b) == "tensor([[1.],\n        [2.],\n        [3.]])"
    assert _r(torch.mul(a, b)) == ("tensor([[1., 1., 1., 1.],\n        [2., 2., 2., 2.],\n"
                                   "        [3., 3., 3., 3.]])")
    assert _r(torch.mm(torch.ones(3, 4), torch.ones(4, 2))) == (
        "tensor([[4., 4.],\n        [4., 4.],\n        [4., 4.]])")


def test_norms(torch):
    u = torch.tensor([3.0, -4.0])
    assert _r(torch.norm(u)) == "tensor(5.)"
    assert _r(torch.abs(u).sum()) == "tensor(7.)"
    assert _r(torch.norm(torch.ones((4, 9)))) == "tensor(6.)"
    assert _r(u.norm()) == "tensor(5.)"


def test_autograd_tensor_parts(torch):
    x = torch.arange(4.0)
    assert _r(x) == "tensor([0., 1., 2., 3.])"
    x.requires_grad_(True)
    assert x.grad is None
    y = 2 * torch.dot(x, x)
    assert _r(y) == "tensor(28., grad_fn=<MulBackward0>)"
    y.backward()
    assert _r(x.grad) == "tensor([ 0.,  4.,  8., 12.])"
    assert _r(x.grad == 4 * x) == "tensor([True, True, True, True])"
    x.grad.zero_()
    y = x.sum()
    y.backward()
    assert _r(x.grad) == "tensor([1., 1., 1., 1.])"
    x.grad.zero_()
    y = x * x
    u = y.detach()
    z = u * x
    z.sum().backward()
    assert _r(x.grad == u) == "tensor([True, True, True, True])"
    assert _r(torch.arange(4.0, requires_grad=True)) == "tensor([0., 1., 2., 3.], requires_grad=True)"
    a = torch.randn(size=(), requires_grad=True)
    assert a.shape == () and a.requires_grad


def test_linear_regression_data(torch):
    torch.manual_seed(0)
    true_w = torch.tensor([2, -3.4])
    true_b = 4.2
    X = torch.normal(0, 1, (1000, len(true_w)))
    y = torch.matmul(X, true_w) + true_b
    y += torch.normal(0, 0.01, y.shape)
    labels = y.reshape((-1, 1))
    assert X.shape == (1000, 2) and labels.shape == (1000, 1) and labels.dtype == torch.float32
    np.testing.assert_allclose(labels.numpy()[:, 0], X.numpy() @ np.array([2, -3.4], np.float32) + 4.2, atol=0.1)
    w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    out = torch.matmul(X[:10], w) + b
    loss = ((out - labels[:10].reshape(out.shape)) ** 2 / 2).sum()
    loss.backward()
    assert w.grad.shape == (2, 1) and b.grad.shape == (1,)
    with ember.no_grad() if torch is ember else real_torch.no_grad():
        w -= 0.03 * w.grad / 10
        w.grad.zero_()
    assert _r(w.grad) == "tensor([[0.],\n        [0.]])"
    err = true_w - w.reshape(true_w.shape)
    assert err.shape == (2,)


@needs_torch
def test_same_results_as_pytorch():
    """A mixed chapter-2 program returns identical values, dtypes and reprs."""
    def program(torch):
        X = torch.arange(12, dtype=torch.float32).reshape((3, 4))
        Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
        A = torch.arange(20, dtype=torch.float32).reshape(5, 4)
        u = torch.tensor([3.0, -4.0])
        out = [X + Y, X * Y, X / Y, X ** Y, torch.exp(X), X == Y, X < Y, X.sum(), X[-1], X[1:3], X[:, 1:3:2],
               A.T, A.sum(axis=0), A.sum(axis=[0, 1]), A.mean(), A.mean(axis=0), A.sum(axis=1, keepdims=True),
               A / A.sum(axis=1, keepdims=True), A.cumsum(axis=0), torch.dot(A[0], A[1]), torch.mv(A, A[0]),
               torch.mm(A, A.T), torch.norm(u), torch.abs(u).sum(), torch.norm(torch.ones((4, 9))),
               torch.arange(3).reshape((3, 1)) + torch.arange(2).reshape((1, 2)), X.numel(), len(A),
               torch.tensor([1, 2]) / torch.tensor([2, 4]), torch.tensor([1, 2]) + 0.5, X.shape]
        return out
    e, t = program(ember), program(real_torch)
    assert_same(e, t)
    assert [_r(v) for v in e] == [_r(v) for v in t]


def test_vectorization_loop(torch):
    """D2L 3.1: element-by-element assignment in a Python loop vs one `+`."""
    n = 1000
    a = torch.ones([n])
    b = torch.ones([n])
    c = torch.zeros(n)
    for i in range(n):
        c[i] = a[i] + b[i]
    d = a + b
    assert _r(c[:3]) == "tensor([2., 2., 2.])"
    assert bool((c == d).all()) and c.dtype == torch.float32


def test_accuracy_and_cross_entropy_idioms(torch):
    """D2L 3.6 tensor idioms: argmax(axis=1), type(dtype), range indexing."""
    y = torch.tensor([0, 2])
    y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    assert _r(y_hat[[0, 1], y]) == "tensor([0.1000, 0.5000])"
    assert _r(-torch.log(y_hat[range(len(y_hat)), y])) == "tensor([2.3026, 0.6931])"
    cmp = y_hat.argmax(axis=1).type(y.dtype) == y
    assert float(cmp.type(y.dtype).sum()) == 1.0
    X = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    X_exp = torch.exp(X)
    prob = X_exp / X_exp.sum(1, keepdim=True)
    np.testing.assert_allclose(prob.sum(1).numpy(), [1.0, 1.0], rtol=1e-6)
