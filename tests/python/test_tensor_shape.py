"""Views and shape ops (reshape view transpose t permute squeeze unsqueeze
expand flatten contiguous clone detach) and joining (cat stack split chunk),
compared with PyTorch: values, shapes, strides and memory sharing."""
import numpy as np
import pytest

import ember
from _tensor_oracle import LAYOUTS, agree, both, needs_torch, sample, torch

_VIEWS = [
    lambda m, x: x.reshape(4, 6),
    lambda m, x: x.reshape((4, 6)),
    lambda m, x: x.reshape(-1),
    lambda m, x: x.reshape(-1, 4),
    lambda m, x: x.reshape(2, -1, 2),
    lambda m, x: x.reshape([24]),
    lambda m, x: m.reshape(x, (6, 4)),
    lambda m, x: x.contiguous().view(-1),
    lambda m, x: x.contiguous().view(3, 8),
    lambda m, x: x.contiguous().view((2, 12)),
    lambda m, x: x.transpose(0, 2),
    lambda m, x: x.transpose(-1, -2),
    lambda m, x: m.transpose(x, 0, 1),
    lambda m, x: x.permute(2, 0, 1),
    lambda m, x: x.permute((1, 2, 0)),
    lambda m, x: m.permute(x, (0, 2, 1)),
    lambda m, x: x.unsqueeze(0),
    lambda m, x: x.unsqueeze(-1),
    lambda m, x: x.unsqueeze(2),
    lambda m, x: m.unsqueeze(x, 1),
    lambda m, x: x.unsqueeze(1).squeeze(),
    lambda m, x: x.unsqueeze(1).squeeze(1),
    lambda m, x: x.unsqueeze(1).squeeze(0),
    lambda m, x: x[:1].squeeze(),
    lambda m, x: x[:1, :1].squeeze(-2),
    lambda m, x: x.flatten(),
    lambda m, x: x.flatten(1),
    lambda m, x: x.flatten(0, 1),
    lambda m, x: m.flatten(x, start_dim=1, end_dim=-1),
    lambda m, x: x.contiguous(),
    lambda m, x: x.clone(),
    lambda m, x: x.detach(),
    lambda m, x: x[:, :1].expand(2, 3, 4),
    lambda m, x: x[:, :1].expand(-1, -1, 4),
    lambda m, x: x[0, 0].expand(5, 2, 4),
    lambda m, x: x[0, :, :1].expand_as(x[0]),
    lambda m, x: x.view_as(x) if x.is_contiguous() else x.reshape_as(x),
    lambda m, x: x.reshape(3, 8).t(),
    lambda m, x: x[0].T,
    lambda m, x: x.swapaxes(0, 1),
    lambda m, x: x.unflatten(2, (2, 2)),
    lambda m, x: x.unbind(1),
    lambda m, x: x.mT,
]


@pytest.mark.parametrize("k", range(len(_VIEWS)))
@pytest.mark.parametrize("layout", LAYOUTS)
@needs_torch
def test_views(k, layout):
    both(_VIEWS[k], sample((2, 3, 4), "float32", 1), layout=layout)


@pytest.mark.parametrize("k", range(len(_VIEWS)))
@needs_torch
def test_views_strides_and_sharing(k):
    """Where torch returns a view of a contiguous input, ember's result has
    the same strides and shares memory."""
    a = sample((2, 3, 4), "float32", 2)
    e, t = both(lambda m, x: _VIEWS[k](m, x), a)
    if not isinstance(t, torch.Tensor):
        return
    assert e.is_contiguous() == t.is_contiguous()
    shares = t.untyped_storage().data_ptr() == torch.tensor(a).untyped_storage().data_ptr()

    # Re-run on fresh inputs to check sharing by writing through the result.
    xe, xt = ember.tensor(a), torch.tensor(a)
    re, rt = _VIEWS[k](ember, xe), _VIEWS[k](torch, xt)
    rt_shares = rt.data_ptr() >= xt.data_ptr() and rt.data_ptr() < xt.data_ptr() + xt.numel() * 4 and \
        rt.untyped_storage().data_ptr() == xt.untyped_storage().data_ptr()
    del shares
    if rt_shares:
        assert tuple(re.stride()) == tuple(rt.stride())
        if re.numel():
            re.fill_(42.0)
            rt.fill_(42.0)
            np.testing.assert_array_equal(xe.numpy(), xt.numpy())


@pytest.mark.parametrize("dtype", ["int64", "bool", "float64", "int32"])
@needs_torch
def test_views_dtypes(dtype):
    a = sample((2, 3, 4), dtype, 3)
    for k in (0, 10, 13, 16, 25, 32):
        both(_VIEWS[k], a)


@needs_torch
def test_view_of_non_contiguous_errors_like_torch():
    a = sample((3, 4), "float32", 4)
    agree(lambda m, x: x.t().view(-1), a)
    agree(lambda m, x: x.t().view(4, 3), a)
    agree(lambda m, x: x[:, ::2].view(6), a)
    both(lambda m, x: x[:, :2].reshape(6), a)


@needs_torch
def test_0d_and_empty_shapes():
    both(lambda m, x: x.reshape(1, 1), np.float32(5))
    both(lambda m, x: x.reshape(-1), np.float32(5))
    both(lambda m, x: x.view(()), np.array([5.0], np.float32))
    both(lambda m, x: x.unsqueeze(0), np.float32(5))
    both(lambda m, x: x.squeeze(), np.float32(5))
    both(lambda m, x: x.flatten(), np.float32(5))
    both(lambda m, x: x.t(), np.float32(5))
    both(lambda m, x: x.expand(3, 2), np.float32(5))
    both(lambda m, x: x.reshape(0, 5), np.zeros((5, 0), np.float32))
    agree(lambda m, x: x.reshape(-1, 0), np.zeros((5, 0), np.float32))
    both(lambda m, x: x.transpose(0, 1), np.zeros((5, 0), np.float32))
    both(lambda m, x: x.flatten(), np.zeros((2, 0, 3), np.float32))


def test_clone_detach_contiguous_semantics():
    x = ember.arange(6, dtype=ember.float32).reshape(2, 3)
    c = x.clone()
    c[0, 0] = 100
    assert x[0, 0].item() == 0
    d = x.detach()
    d[0, 0] = 7
    assert x[0, 0].item() == 7
    assert x.contiguous() is x
    t = x.t()
    assert not t.is_contiguous()
    tc = t.contiguous()
    assert tc.is_contiguous() and tc.stride() == (2, 1)
    np.testing.assert_array_equal(tc.numpy(), x.numpy().T)
    y = ember.ones(2, requires_grad=True)
    assert y.detach().requires_grad is False and y.clone().requires_grad


# ---------------------------------------------------------------- joining

@pytest.mark.parametrize("dim", [0, 1, -1, 2])
@pytest.mark.parametrize("layout", LAYOUTS)
@needs_torch
def test_cat(dim, layout):
    a = sample((2, 3, 4), "float32", 5)
    b = sample((2, 3, 4), "float32", 6)
    both(lambda m, x, y: m.cat((x, y), dim=dim), a, b, layout=layout)
    both(lambda m, x, y: m.cat([x, y, x], dim), a, b, layout=layout)
    both(lambda m, x, y: m.stack((x, y), dim=dim), a, b, layout=layout)
    both(lambda m, x, y: m.stack([x, y, y], dim), a, b, layout=layout)


@needs_torch
def test_cat_d2l_and_mixed():
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    Y = np.array([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]], np.float32)
    both(lambda m, x, y: (m.cat((x, y), dim=0), m.cat((x, y), dim=1)), X, Y)
    both(lambda m, x, y: m.cat((x, y[:, :2]), dim=1), X, Y)
    both(lambda m, x, y: m.cat((x, y.long()), dim=0), X, Y)
    both(lambda m, x, y: m.cat((x, m.zeros(0, 4)), dim=0), X, Y)
    both(lambda m, x, y: m.cat((x.t(), y.t()[:2]), dim=0), X, Y)
    both(lambda m, x, y: m.cat([x]), X, Y)
    both(lambda m, x, y: m.concat((x, y), axis=1), X, Y)
    both(lambda m, x, y: m.stack((x[0, 0], y[0, 0])), X, Y)
    both(lambda m, x, y: m.cat((x, y), -2), X, Y)


@pytest.mark.parametrize("call", [
    lambda m, x: x.split(2),
    lambda m, x: x.split(2, dim=1),
    lambda m, x: x.split([1, 3], dim=1),
    lambda m, x: x.split(4),
    lambda m, x: x.split(5, 1),
    lambda m, x: m.split(x, [2, 1], dim=0),
    lambda m, x: x.chunk(2),
    lambda m, x: x.chunk(3, dim=1),
    lambda m, x: x.chunk(4, 1),
    lambda m, x: m.chunk(x, 5, dim=1),
    lambda m, x: x.t().chunk(2, 1),
    lambda m, x: x[:, ::2].split(1, dim=1),
    lambda m, x: x.split([0, 3], dim=0),
])
@needs_torch
def test_split_chunk(call):
    both(call, sample((3, 4), "float32", 7))


def test_split_chunk_are_views():
    x = ember.zeros(4, 3)
    a, b = x.split(2)
    b.fill_(1)
    c, d = x.chunk(2, dim=1)
    c += 5
    assert x.numpy()[2:, 0].tolist() == [6, 6] and x.numpy()[:2, 1].tolist() == [5, 5]
