"""D2L's convolution chapters (6.2-6.6: cross-correlation, padding and stride,
channels, pooling, LeNet) run as the book writes them, once with
`import ember as torch` and once with PyTorch, and compared value by value."""

import numpy as np
import pytest

import ember

real_torch = pytest.importorskip("torch")


def corr2d(torch, X, K):
    """D2L 6.2's cross-correlation, written with tensor indexing."""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


@pytest.fixture(params=["ember", "torch"])
def both(request):
    return ember if request.param == "ember" else real_torch


def _run_both(program):
    e, t = program(ember), program(real_torch)
    return e, t


def _assert_same(e, t, **tol):
    if isinstance(e, (list, tuple)):
        assert len(e) == len(t)
        for a, b in zip(e, t):
            _assert_same(a, b, **tol)
        return
    if hasattr(e, "detach"):
        e, t = e.detach().numpy(), t.detach().numpy()
    np.testing.assert_allclose(np.asarray(e), np.asarray(t), **(tol or dict(rtol=1e-5, atol=1e-6)))


def test_corr2d_and_edge_detection():
    def program(torch):
        X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
        K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
        first = corr2d(torch, X, K)
        X = torch.ones((6, 8))
        X[:, 2:6] = 0
        K = torch.tensor([[1.0, -1.0]])
        Y = corr2d(torch, X, K)
        return [first, Y, corr2d(torch, X.t(), K)]
    e, t = _run_both(program)
    _assert_same(e, t)
    assert e[0].tolist() == [[19.0, 25.0], [37.0, 43.0]]


def test_learning_the_edge_kernel():
    """6.2.4: learn K = [1, -1] with nn.Conv2d(1, 1, (1, 2), bias=False) and weight.data updates."""
    start = np.array([[[[0.3, -0.2]]]], np.float32)

    def program(torch):
        nn = torch.nn
        conv2d = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)
        with torch.no_grad():
            conv2d.weight.copy_(torch.tensor(start))
        X = torch.ones((6, 8))
        X[:, 2:6] = 0
        K = torch.tensor([[1.0, -1.0]])
        Y = corr2d(torch, X, K)
        X = X.reshape((1, 1, 6, 8))
        Y = Y.reshape((1, 1, 6, 7))
        lr = 3e-2
        losses = []
        for i in range(10):
            Y_hat = conv2d(X)
            l = (Y_hat - Y) ** 2
            conv2d.zero_grad()
            l.sum().backward()
            conv2d.weight.data[:] -= lr * conv2d.weight.grad
            losses.append(float(l.sum()))
        return [torch.tensor(losses), conv2d.weight.data.reshape((1, 2))]
    e, t = _run_both(program)
    _assert_same(e, t, rtol=1e-5, atol=1e-5)
    assert abs(float(e[1][0, 0]) - 1.0) < 0.1 and abs(float(e[1][0, 1]) + 1.0) < 0.1


def test_padding_and_stride_shapes(both):
    torch, nn = both, both.nn

    def comp_conv2d(conv2d, X):
        X = X.reshape((1, 1) + X.shape)
        Y = conv2d(X)
        return Y.reshape(Y.shape[2:])

    X = torch.rand(size=(8, 8))
    assert tuple(comp_conv2d(nn.Conv2d(1, 1, kernel_size=3, padding=1), X).shape) == (8, 8)
    assert tuple(comp_conv2d(nn.Conv2d(1, 1, kernel_size=(5, 3), padding=(2, 1)), X).shape) == (8, 8)
    assert tuple(comp_conv2d(nn.Conv2d(1, 1, kernel_size=3, padding=1, stride=2), X).shape) == (4, 4)
    conv2d = nn.Conv2d(1, 1, kernel_size=(3, 5), padding=(0, 1), stride=(3, 4))
    assert tuple(comp_conv2d(conv2d, X).shape) == (2, 2)


def test_multiple_channels_and_1x1():
    def program(torch):
        def corr2d_multi_in(X, K):
            return sum(corr2d(torch, x, k) for x, k in zip(X, K))

        def corr2d_multi_in_out(X, K):
            return torch.stack([corr2d_multi_in(X, k) for k in K], 0)

        def corr2d_multi_in_out_1x1(X, K):
            c_i, h, w = X.shape
            c_o = K.shape[0]
            X = X.reshape((c_i, h * w))
            K = K.reshape((c_o, c_i))
            Y = torch.matmul(K, X)
            return Y.reshape((c_o, h, w))

        X = torch.tensor([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                          [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
        K = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
        multi_in = corr2d_multi_in(X, K)
        K = torch.stack((K, K + 1, K + 2), 0)
        multi_out = corr2d_multi_in_out(X, K)
        rng = np.random.default_rng(3)
        X = torch.tensor(rng.standard_normal((3, 3, 3)).astype(np.float32))
        K = torch.tensor(rng.standard_normal((2, 3, 1, 1)).astype(np.float32))
        Y1 = corr2d_multi_in_out_1x1(X, K)
        Y2 = corr2d_multi_in_out(X, K)
        assert float(torch.abs(Y1 - Y2).sum()) < 1e-5
        # the library's convolution gives the same as the book's loops
        Y3 = torch.nn.functional.conv2d(X.unsqueeze(0), K)[0]
        return [multi_in, multi_out, Y1, Y3]
    e, t = _run_both(program)
    _assert_same(e, t)
    assert tuple(e[1].shape) == (3, 2, 2)


def test_pooling_chapter():
    def program(torch):
        nn = torch.nn

        def pool2d(X, pool_size, mode="max"):
            p_h, p_w = pool_size
            Y = torch.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
            for i in range(Y.shape[0]):
                for j in range(Y.shape[1]):
                    if mode == "max":
                        Y[i, j] = X[i: i + p_h, j: j + p_w].max()
                    elif mode == "avg":
                        Y[i, j] = X[i: i + p_h, j: j + p_w].mean()
            return Y

        X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
        out = [pool2d(X, (2, 2)), pool2d(X, (2, 2), "avg")]
        X = torch.arange(16, dtype=torch.float32).reshape((1, 1, 4, 4))
        out.append(nn.MaxPool2d(3)(X))
        out.append(nn.MaxPool2d(3, padding=1, stride=2)(X))
        out.append(nn.MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))(X))
        X = torch.cat((X, X + 1), 1)
        out.append(nn.MaxPool2d(3, padding=1, stride=2)(X))
        out.append(nn.AvgPool2d(2)(X))
        return out
    e, t = _run_both(program)
    _assert_same(e, t)
    assert e[2].tolist() == [[[[10.0]]]]


def _lenet(nn):
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


def test_lenet_layer_shapes(both):
    net = _lenet(both.nn)
    X = both.rand(size=(1, 1, 28, 28), dtype=both.float32)
    shapes = []
    for layer in net:
        X = layer(X)
        shapes.append((layer.__class__.__name__, tuple(X.shape)))
    assert shapes == [
        ("Conv2d", (1, 6, 28, 28)), ("Sigmoid", (1, 6, 28, 28)), ("AvgPool2d", (1, 6, 14, 14)),
        ("Conv2d", (1, 16, 10, 10)), ("Sigmoid", (1, 16, 10, 10)), ("AvgPool2d", (1, 16, 5, 5)),
        ("Flatten", (1, 400)), ("Linear", (1, 120)), ("Sigmoid", (1, 120)), ("Linear", (1, 84)),
        ("Sigmoid", (1, 84)), ("Linear", (1, 10))]


def test_lenet_training_steps_match_torch():
    """train_ch6's inner loop (xavier init, SGD lr 0.9, cross-entropy) for a few batches."""
    rng = np.random.default_rng(0)
    batches = [(rng.random((32, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 32)) for _ in range(4)]
    ember.manual_seed(0)
    e_net = _lenet(ember.nn)

    def init_weights(m):
        if type(m) == ember.nn.Linear or type(m) == ember.nn.Conv2d:
            ember.nn.init.xavier_uniform_(m.weight)
    e_net.apply(init_weights)
    t_net = _lenet(real_torch.nn)
    with real_torch.no_grad():
        for (name, p), (tname, tp) in zip(e_net.named_parameters(), t_net.named_parameters()):
            assert name == tname
            tp.copy_(real_torch.tensor(p.detach().numpy()))

    def train(lib, net):
        optimizer = lib.optim.SGD(net.parameters(), lr=0.9)
        loss = lib.nn.CrossEntropyLoss()
        net.train()
        losses = []
        for X, y in batches:
            optimizer.zero_grad()
            l = loss(net(lib.tensor(X)), lib.tensor(y))
            l.backward()
            optimizer.step()
            losses.append(float(l))
        return losses

    e_losses, t_losses = train(ember, e_net), train(real_torch, t_net)
    np.testing.assert_allclose(e_losses, t_losses, rtol=1e-4)
    for p, tp in zip(e_net.parameters(), t_net.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-4, atol=1e-5)
