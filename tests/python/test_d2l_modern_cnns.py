"""D2L chapter 7's networks and blocks (AlexNet, VGG, NiN, GoogLeNet's
Inception, batch normalization, ResNet's Residual, DenseNet) written as the
book writes them, built once on ember and once on PyTorch with the same
parameters, and compared: layer shapes, outputs, gradients, buffers and
train/eval behaviour, at small sizes."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def build_blocks(lib):
    """The book's block definitions, with `lib` standing in for torch."""
    nn, F = lib.nn, lib.nn.functional

    def vgg_block(num_convs, in_channels, out_channels):
        layers = []
        for _ in range(num_convs):
            layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
            layers.append(nn.ReLU())
            in_channels = out_channels
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        return nn.Sequential(*layers)

    def nin_block(in_channels, out_channels, kernel_size, strides, padding):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())

    class Inception(nn.Module):
        def __init__(self, in_channels, c1, c2, c3, c4, **kwargs):
            super(Inception, self).__init__(**kwargs)
            self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
            self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
            self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
            self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
            self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
            self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
            self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

        def forward(self, x):
            p1 = F.relu(self.p1_1(x))
            p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
            p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
            p4 = F.relu(self.p4_2(self.p4_1(x)))
            return lib.cat((p1, p2, p3, p4), dim=1)

    class Residual(nn.Module):
        def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
            super().__init__()
            self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
            self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
            if use_1x1conv:
                self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
            else:
                self.conv3 = None
            self.bn1 = nn.BatchNorm2d(num_channels)
            self.bn2 = nn.BatchNorm2d(num_channels)

        def forward(self, X):
            Y = F.relu(self.bn1(self.conv1(X)))
            Y = self.bn2(self.conv2(Y))
            if self.conv3:
                X = self.conv3(X)
            Y += X
            return F.relu(Y)

    def conv_block(input_channels, num_channels):
        return nn.Sequential(
            nn.BatchNorm2d(input_channels), nn.ReLU(),
            nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1))

    class DenseBlock(nn.Module):
        def __init__(self, num_convs, input_channels, num_channels):
            super(DenseBlock, self).__init__()
            layer = []
            for i in range(num_convs):
                layer.append(conv_block(num_channels * i + input_channels, num_channels))
            self.net = nn.Sequential(*layer)

        def forward(self, X):
            for blk in self.net:
                Y = blk(X)
                X = lib.cat((X, Y), dim=1)
            return X

    def transition_block(input_channels, num_channels):
        return nn.Sequential(
            nn.BatchNorm2d(input_channels), nn.ReLU(),
            nn.Conv2d(input_channels, num_channels, kernel_size=1),
            nn.AvgPool2d(kernel_size=2, stride=2))

    return dict(vgg_block=vgg_block, nin_block=nin_block, Inception=Inception, Residual=Residual,
                DenseBlock=DenseBlock, transition_block=transition_block)


def small_alexnet(nn):
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(8, 16, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(16, 24, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(24, 24, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(24, 16, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 2 * 2, 64), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(64, 10))


def small_nin(lib, nin_block):
    nn = lib.nn
    return nn.Sequential(
        nin_block(1, 8, kernel_size=11, strides=4, padding=0), nn.MaxPool2d(3, stride=2),
        nin_block(8, 16, kernel_size=5, strides=1, padding=2), nn.MaxPool2d(3, stride=2),
        nin_block(16, 10, kernel_size=3, strides=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())


def small_resnet(lib, Residual):
    nn = lib.nn
    b1 = nn.Sequential(nn.Conv2d(1, 8, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(8), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(Residual(8, 8), Residual(8, 8))
    b3 = nn.Sequential(Residual(8, 16, use_1x1conv=True, strides=2), Residual(16, 16))
    return nn.Sequential(b1, b2, b3, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(16, 10))


def small_densenet(lib, DenseBlock, transition_block):
    nn = lib.nn
    b1 = nn.Sequential(nn.Conv2d(1, 8, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(8), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    return nn.Sequential(b1, DenseBlock(2, 8, 4), transition_block(16, 8), DenseBlock(2, 8, 4),
                         nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                         nn.Linear(16, 10))


def _same_parameters(e_net, t_net):
    e_state, t_state = e_net.state_dict(), t_net.state_dict()
    assert list(e_state) == list(t_state)
    with torch.no_grad():
        for name, value in e_state.items():
            assert tuple(value.shape) == tuple(t_state[name].shape), name
            t_state[name].copy_(torch.tensor(value.numpy()))


def _compare(e_net, t_net, shape, seed=0, train=True, rtol=1e-4, atol=1e-5):
    _same_parameters(e_net, t_net)
    e_net.train(train)
    t_net.train(train)
    x = np.random.default_rng(seed).random(shape, dtype=np.float32)
    ex, tx = ember.tensor(x).requires_grad_(), torch.tensor(x, requires_grad=True)
    ey, ty = e_net(ex), t_net(tx)
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    ey.square().sum().backward()
    ty.square().sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=rtol * 10, atol=atol * 10)
    for (name, p), tp in zip(e_net.named_parameters(), t_net.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol * 10, atol=atol * 10, err_msg=name)
    for (name, b), tb in zip(e_net.named_buffers(), t_net.buffers()):
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_alexnet_small():
    _compare(small_alexnet(ember.nn), small_alexnet(torch.nn), (2, 1, 128, 128), train=False)


def test_vgg_blocks():
    e, t = build_blocks(ember), build_blocks(torch)
    arch = ((1, 8), (2, 16))

    def vgg(blocks, nn):
        conv_blks, in_channels = [], 1
        for num_convs, out_channels in arch:
            conv_blks.append(blocks["vgg_block"](num_convs, in_channels, out_channels))
            in_channels = out_channels
        return nn.Sequential(*conv_blks, nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    _compare(vgg(e, ember.nn), vgg(t, torch.nn), (2, 1, 32, 32))


def test_nin():
    _compare(small_nin(ember, build_blocks(ember)["nin_block"]), small_nin(torch, build_blocks(torch)["nin_block"]),
             (2, 1, 96, 96))


def test_inception_block():
    e, t = build_blocks(ember)["Inception"](8, 4, (4, 8), (2, 4), 4), build_blocks(torch)["Inception"](8, 4, (4, 8),
                                                                                                     (2, 4), 4)
    _compare(e, t, (2, 8, 12, 12))


@pytest.mark.parametrize("train", [True, False])
def test_resnet(train):
    e = small_resnet(ember, build_blocks(ember)["Residual"])
    t = small_resnet(torch, build_blocks(torch)["Residual"])
    _compare(e, t, (3, 1, 32, 32), train=train)
    assert repr(e) == repr(t)


def test_residual_shapes():
    Residual = build_blocks(ember)["Residual"]
    X = ember.rand(4, 3, 6, 6)
    assert tuple(Residual(3, 3)(X).shape) == (4, 3, 6, 6)
    assert tuple(Residual(3, 6, use_1x1conv=True, strides=2)(X).shape) == (4, 6, 3, 3)


@pytest.mark.parametrize("train", [True, False])
def test_densenet(train):
    e = small_densenet(ember, build_blocks(ember)["DenseBlock"], build_blocks(ember)["transition_block"])
    t = small_densenet(torch, build_blocks(torch)["DenseBlock"], build_blocks(torch)["transition_block"])
    _compare(e, t, (3, 1, 32, 32), train=train)


def test_dense_block_shapes():
    blocks = build_blocks(ember)
    Y = blocks["DenseBlock"](2, 3, 10)(ember.randn(4, 3, 8, 8))
    assert tuple(Y.shape) == (4, 23, 8, 8)
    assert tuple(blocks["transition_block"](23, 10)(Y).shape) == (4, 10, 4, 4)


def test_training_steps_update_running_statistics_like_torch():
    e = small_resnet(ember, build_blocks(ember)["Residual"])
    t = small_resnet(torch, build_blocks(torch)["Residual"])
    _same_parameters(e, t)
    rng = np.random.default_rng(5)
    e_opt = ember.optim.SGD(e.parameters(), lr=0.05, momentum=0.9)
    t_opt = torch.optim.SGD(t.parameters(), lr=0.05, momentum=0.9)
    for _ in range(3):
        x, y = rng.random((4, 1, 32, 32), dtype=np.float32), rng.integers(0, 10, 4)
        for lib, net, opt in ((ember, e, e_opt), (torch, t, t_opt)):
            opt.zero_grad()
            lib.nn.functional.cross_entropy(net(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()
    for (name, v), tv in zip(e.state_dict().items(), t.state_dict().values()):
        np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-3, atol=1e-4, err_msg=name)
