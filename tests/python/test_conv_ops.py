"""conv1d/conv2d, pooling and F.pad against PyTorch: forward and backward over
strides, paddings, dilations, groups, odd sizes, batch 1, non-contiguous
inputs, float32 and float64; gradcheck in float64; bad inputs."""

import numpy as np
import pytest

import ember
from ember.nn import functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")
TF = torch.nn.functional


def _pair(shape, seed, dtype=np.float32, device="cpu"):
    """The same random values as an ember tensor (on device) and a torch tensor, both requiring grad."""
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    e = ember.tensor(a).to(device).requires_grad_()
    t = torch.tensor(a, requires_grad=True)
    return e, t


def _np(t):
    return t.detach().cpu().numpy()


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def _check(e_out, t_out, inputs, dtype, seed=99):
    np.testing.assert_allclose(_np(e_out), t_out.detach().numpy(), **_tol(dtype))
    g = np.random.default_rng(seed).standard_normal(tuple(t_out.shape)).astype(dtype)
    e_out.backward(ember.tensor(g).to(e_out.device))
    t_out.backward(torch.tensor(g))
    for e, t in inputs:
        assert e.grad is not None, "missing gradient"
        np.testing.assert_allclose(_np(e.grad), t.grad.numpy(), **_tol(dtype))


CONV2D_CASES = [
    # (N, Ci, H, W), (Co, kh, kw), kwargs
    ((2, 1, 28, 28), (6, 5, 5), dict(padding=2)),                   # LeNet's first layer
    ((2, 6, 14, 14), (16, 5, 5), dict()),                           # LeNet's second
    ((1, 3, 7, 9), (4, 3, 3), dict(stride=2, padding=1)),
    ((2, 4, 9, 8), (6, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    ((3, 4, 10, 10), (4, 3, 3), dict(groups=2, padding=1)),
    ((2, 6, 6, 6), (6, 3, 3), dict(groups=6, padding=1)),           # depthwise
    ((2, 8, 5, 5), (3, 1, 1), dict()),                              # 1x1 (pointwise path)
    ((2, 8, 5, 5), (3, 1, 1), dict(stride=2)),                      # 1x1 strided
    ((1, 2, 5, 5), (3, 5, 5), dict()),                              # kernel = input
    ((2, 3, 6, 7), (5, 3, 3), dict(padding=2, dilation=2, stride=3)),
    ((2, 2, 6, 6), (4, 3, 3), dict(padding="same")),
    ((2, 2, 6, 6), (4, 4, 2), dict(padding="same", dilation=(1, 2))),  # even kernel: asymmetric
    ((2, 2, 6, 6), (4, 3, 3), dict(padding="valid")),
    # The implicit GEMM's K slices (K = 288) and column blocks, one image
    # split across threads, and a padding too large for the input gradient
    # to be a convolution (the col2im path).
    ((2, 32, 20, 20), (24, 3, 3), dict(padding=1)),
    ((1, 16, 33, 17), (20, 3, 3), dict(padding=2, dilation=2)),
    ((2, 3, 5, 5), (4, 3, 3), dict(padding=3)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_shape,w_shape,kwargs", CONV2D_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(in_shape, w_shape, kwargs, bias, dtype, device):
    groups = kwargs.get("groups", 1)
    x, tx = _pair(in_shape, 1, dtype, device)
    w, tw = _pair((w_shape[0], in_shape[1] // groups) + w_shape[1:], 2, dtype, device)
    inputs = [(x, tx), (w, tw)]
    b = tb = None
    if bias:
        b, tb = _pair((w_shape[0],), 3, dtype, device)
        inputs.append((b, tb))
    _check(F.conv2d(x, w, b, **kwargs), TF.conv2d(tx, tw, tb, **kwargs), inputs, dtype)


def test_conv2d_unbatched_and_noncontiguous(device):
    x, tx = _pair((3, 8, 9), 4, device=device)
    w, tw = _pair((5, 3, 3, 3), 5, device=device)
    _check(F.conv2d(x, w, padding=1), TF.conv2d(tx, tw, padding=1), [(x, tx), (w, tw)], np.float32)
    # a transposed (non-contiguous) input and weight
    x, tx = _pair((2, 3, 9, 8), 6, device=device)
    w, tw = _pair((4, 3, 3, 3), 7, device=device)
    e = F.conv2d(x.transpose(2, 3), w.transpose(2, 3), stride=(2, 1))
    t = TF.conv2d(tx.transpose(2, 3), tw.transpose(2, 3), stride=(2, 1))
    _check(e, t, [(x, tx), (w, tw)], np.float32)


def test_conv2d_gradcheck_float64():
    x = ember.randn(2, 4, 5, 6, dtype=ember.float64, requires_grad=True)
    w = ember.randn(6, 2, 3, 2, dtype=ember.float64, requires_grad=True)
    b = ember.randn(6, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(
        lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2), (x, w, b))


@pytest.mark.parametrize("batch", [13, 1])
def test_conv2d_values_do_not_depend_on_the_thread_count(batch):
    # The weight gradient sums the batch in chunks fixed by the batch size,
    # and the forward's and input gradient's GEMMs sum K in slices fixed by
    # the sizes (threads split images, or one image's column blocks): the
    # same values whatever the thread count.
    x = ember.randn(batch, 24, 20, 20, requires_grad=True)
    w = ember.randn(16, 24, 3, 3, requires_grad=True)
    results = []
    configured = ember.get_num_threads()
    try:
        for threads in (1, 2, 3):
            ember.set_num_threads(threads)
            x.grad = w.grad = None
            y = F.conv2d(x, w, padding=1)
            y.square().sum().backward()
            results.append([y.detach().numpy().copy(), x.grad.numpy().copy(), w.grad.numpy().copy()])
    finally:
        ember.set_num_threads(configured)
    for r in results[1:]:
        for a, b in zip(results[0], r):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1), dict(dilation=2, groups=2),
                                    dict(padding="same"), dict(padding="valid")])
def test_conv1d_matches_torch(kwargs, dtype, device):
    x, tx = _pair((2, 4, 11), 8, dtype, device)
    groups = kwargs.get("groups", 1)
    w, tw = _pair((6, 4 // groups, 3), 9, dtype, device)
    b, tb = _pair((6,), 10, dtype, device)
    _check(F.conv1d(x, w, b, **kwargs), TF.conv1d(tx, tw, tb, **kwargs), [(x, tx), (w, tw), (b, tb)], dtype)


def test_conv_16bit_and_empty_batch():
    x = ember.randn(2, 3, 6, 6).to(ember.bfloat16)
    w = ember.randn(4, 3, 3, 3).to(ember.bfloat16)
    y = F.conv2d(x, w)
    assert y.dtype == ember.bfloat16 and tuple(y.shape) == (2, 4, 4, 4)
    ref = TF.conv2d(torch.tensor(x.float().numpy()), torch.tensor(w.float().numpy()))
    np.testing.assert_allclose(y.float().numpy(), ref.numpy(), rtol=2e-2, atol=5e-2)
    x, tx = _pair((0, 3, 6, 6), 1)
    w, tw = _pair((4, 3, 3, 3), 2)
    e, t = F.conv2d(x, w), TF.conv2d(tx, tw)
    assert tuple(e.shape) == tuple(t.shape)
    e.sum().backward()
    t.sum().backward()
    np.testing.assert_array_equal(_np(w.grad), tw.grad.numpy())


# ------------------------------------------------------------------ pooling
MAX_POOL_CASES = [
    (2, dict()), (3, dict(stride=1)), (3, dict(stride=2, padding=1)), ((2, 3), dict(stride=(1, 2))),
    (3, dict(stride=2, ceil_mode=True)), (2, dict(dilation=2)), (3, dict(stride=2, padding=1, ceil_mode=True)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel,kwargs", MAX_POOL_CASES)
def test_max_pool2d_matches_torch(kernel, kwargs, dtype, device):
    x, tx = _pair((2, 3, 9, 8), 11, dtype, device)
    e, ei = F.max_pool2d(x, kernel, return_indices=True, **kwargs)
    t, ti = TF.max_pool2d(tx, kernel, return_indices=True, **kwargs)
    np.testing.assert_array_equal(_np(ei), ti.numpy())
    _check(e, t, [(x, tx)], dtype)


def test_max_pool2d_ties_nan_and_overlap():
    a = np.zeros((1, 1, 4, 4), np.float32)
    a[0, 0, 1, 2] = np.nan
    x, tx = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    e, ei = F.max_pool2d(x, 3, stride=1, return_indices=True)
    t, ti = TF.max_pool2d(tx, 3, stride=1, return_indices=True)
    np.testing.assert_array_equal(_np(ei), ti.numpy())
    np.testing.assert_array_equal(np.isnan(_np(e)), np.isnan(t.detach().numpy()))
    e.sum().backward()
    t.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), tx.grad.numpy())


AVG_POOL_CASES = [
    (2, dict()), (3, dict(stride=1, padding=1)), (3, dict(stride=2, padding=1, count_include_pad=False)),
    (3, dict(stride=2, ceil_mode=True)), (3, dict(stride=2, padding=1, ceil_mode=True)),
    ((2, 3), dict(divisor_override=4)), (3, dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel,kwargs", AVG_POOL_CASES)
def test_avg_pool2d_matches_torch(kernel, kwargs, dtype, device):
    x, tx = _pair((2, 3, 9, 8), 12, dtype, device)
    _check(F.avg_pool2d(x, kernel, **kwargs), TF.avg_pool2d(tx, kernel, **kwargs), [(x, tx)], dtype)


@pytest.mark.parametrize("size", [1, 3, (2, 5), (7, 4), (None, 3), (9, 8)])
def test_adaptive_pools_match_torch(size, device):
    x, tx = _pair((2, 3, 9, 8), 13, np.float64, device)
    _check(F.adaptive_avg_pool2d(x, size), TF.adaptive_avg_pool2d(tx, size), [(x, tx)], np.float64)
    x, tx = _pair((3, 7, 5), 14, np.float64, device)  # unbatched
    e, ei = F.adaptive_max_pool2d(x, size, return_indices=True)
    t, ti = TF.adaptive_max_pool2d(tx, size, return_indices=True)
    np.testing.assert_array_equal(_np(ei), ti.numpy())
    _check(e, t, [(x, tx)], np.float64)


def test_pool1d_matches_torch(device):
    x, tx = _pair((2, 3, 11), 15, np.float64, device)
    _check(F.max_pool1d(x, 3, 2, 1), TF.max_pool1d(tx, 3, 2, 1), [(x, tx)], np.float64)
    x, tx = _pair((2, 3, 11), 16, np.float64, device)
    _check(F.avg_pool1d(x, 3, 2), TF.avg_pool1d(tx, 3, 2), [(x, tx)], np.float64)
    x, tx = _pair((2, 3, 11), 17, np.float64, device)
    _check(F.adaptive_avg_pool1d(x, 4), TF.adaptive_avg_pool1d(tx, 4), [(x, tx)], np.float64)
    x, tx = _pair((2, 3, 11), 18, np.float64, device)
    _check(F.adaptive_max_pool1d(x, 4), TF.adaptive_max_pool1d(tx, 4), [(x, tx)], np.float64)


def test_pool_gradcheck_float64():
    x = ember.randn(2, 2, 7, 6, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), (x,))
    assert ember.autograd.gradcheck(lambda x: F.adaptive_avg_pool2d(x, (3, 4)), (x,))
    assert ember.autograd.gradcheck(lambda x: F.max_pool2d(x, 2, 1), (x,))


# ---------------------------------------------------------------------- pad
@pytest.mark.parametrize("pad,mode", [
    ((1, 2), "constant"), ((1, 2, 0, 3), "constant"), ((-1, 2, 1, -2), "constant"), ((1, 1, 1, 1, 1, 1), "constant"),
    ((2, 1, 0, 1), "reflect"), ((2, 1, 1, 3), "reflect"), ((2, 3, 1, 0), "replicate"), ((1, 3, 2, 2), "circular"),
])
def test_pad_matches_torch(pad, mode, device):
    x, tx = _pair((2, 3, 5, 6), 19, np.float64, device)
    kwargs = dict(value=1.5) if mode == "constant" else {}
    _check(F.pad(x, pad, mode=mode, **kwargs), TF.pad(tx, pad, mode=mode, **kwargs), [(x, tx)], np.float64)


# --------------------------------------------------------------- bad inputs
def _raises_like_torch(e_fn, t_fn, fragment=None):
    with pytest.raises(Exception) as t_info:
        t_fn()
    with pytest.raises(type(t_info.value)) as e_info:
        e_fn()
    if fragment is not None:
        assert fragment in str(e_info.value)
    return str(e_info.value)


BAD_CONV = [
    ("wrong channel count", (2, 3, 8, 8), (6, 2, 3, 3), dict(), "expected input[2, 3, 8, 8] to have 2 channels"),
    ("kernel larger than padded input", (2, 3, 4, 4), (6, 3, 7, 7), dict(padding=1),
     "Calculated padded input size per channel: (6 x 6). Kernel size: (7 x 7)"),
    ("negative padding", (2, 3, 8, 8), (6, 3, 3, 3), dict(padding=-1), "negative padding is not supported"),
    ("stride 0", (2, 3, 8, 8), (6, 3, 3, 3), dict(stride=0), "non-positive stride is not supported"),
    ("dilation 0", (2, 3, 8, 8), (6, 3, 3, 3), dict(dilation=0), "non-positive dilation"),
    ("groups 0", (2, 3, 8, 8), (6, 3, 3, 3), dict(groups=0), "non-positive groups"),
    ("groups not dividing", (2, 4, 8, 8), (5, 2, 3, 3), dict(groups=2), "divisible by 2"),
    ("wrong ndim", (3, 8), (6, 3, 3, 3), dict(), "but got input of size: [3, 8]"),
    ("5-d input", (1, 2, 3, 8, 8), (6, 3, 3, 3), dict(), "Expected 3D (unbatched) or 4D (batched)"),
    ("stride of 3 values", (2, 3, 8, 8), (6, 3, 3, 3), dict(stride=(1, 2, 3)), "list of 2 values"),
    ("same with stride", (2, 3, 8, 8), (6, 3, 3, 3), dict(stride=2, padding="same"), "strided convolutions"),
    ("bad padding string", (2, 3, 8, 8), (6, 3, 3, 3), dict(padding="full"), "Invalid padding string"),
]


@pytest.mark.parametrize("what,x_shape,w_shape,kwargs,fragment", BAD_CONV, ids=[c[0] for c in BAD_CONV])
def test_conv2d_bad_inputs_raise(what, x_shape, w_shape, kwargs, fragment):
    _raises_like_torch(lambda: F.conv2d(ember.zeros(*x_shape), ember.zeros(*w_shape), **kwargs),
                       lambda: TF.conv2d(torch.zeros(*x_shape), torch.zeros(*w_shape), **kwargs), fragment)


def test_conv2d_bad_bias_and_dtypes_raise():
    x, w = ember.zeros(2, 3, 8, 8), ember.zeros(6, 3, 3, 3)
    tx, tw = torch.zeros(2, 3, 8, 8), torch.zeros(6, 3, 3, 3)
    _raises_like_torch(lambda: F.conv2d(x, w, ember.zeros(5)), lambda: TF.conv2d(tx, tw, torch.zeros(5)),
                       "expected bias to be 1-dimensional with 6 elements, but got bias of size [5]")
    _raises_like_torch(lambda: F.conv2d(x, w.double()), lambda: TF.conv2d(tx, tw.double()), "should be the same")
    _raises_like_torch(lambda: F.conv1d(ember.zeros(2, 3, 8, 8), ember.zeros(4, 3, 3)),
                       lambda: TF.conv1d(torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3)), "conv1d")
    with pytest.raises(RuntimeError, match="floating-point"):
        F.conv2d(ember.zeros(2, 3, 8, 8, dtype=ember.int64), ember.zeros(6, 3, 3, 3, dtype=ember.int64))


BAD_POOL = [
    ("kernel 0", lambda F, x: F.max_pool2d(x, 0)),
    ("padding over half the kernel", lambda F, x: F.max_pool2d(x, 3, padding=2)),
    ("stride 0", lambda F, x: F.max_pool2d(x, 2, stride=0)),
    ("kernel larger than input", lambda F, x: F.max_pool2d(x, 9)),
    ("dilation 0", lambda F, x: F.max_pool2d(x, 2, dilation=0)),
    ("avg padding over half", lambda F, x: F.avg_pool2d(x, 3, padding=2)),
    ("avg kernel larger than input", lambda F, x: F.avg_pool2d(x, 9)),
    ("avg divisor 0", lambda F, x: F.avg_pool2d(x, 2, divisor_override=0)),
    ("1-d input", lambda F, x: F.max_pool2d(x[0, 0, 0], 2)),
    ("adaptive 1-d input", lambda F, x: F.adaptive_avg_pool2d(x[0, 0, 0], 2)),
]


@pytest.mark.parametrize("what,fn", BAD_POOL, ids=[c[0] for c in BAD_POOL])
def test_pool_bad_inputs_raise(what, fn):
    _raises_like_torch(lambda: fn(F, ember.zeros(2, 3, 8, 8)), lambda: fn(TF, torch.zeros(2, 3, 8, 8)))


def test_pad_bad_inputs_raise():
    x, tx = ember.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    _raises_like_torch(lambda: F.pad(x, (1, 2, 3)), lambda: TF.pad(tx, (1, 2, 3)), "divisible by 2")
    _raises_like_torch(lambda: F.pad(x, (1,) * 10), lambda: TF.pad(tx, (1,) * 10), "padding length 10")
    _raises_like_torch(lambda: F.pad(x, (4, 0), mode="reflect"), lambda: TF.pad(tx, (4, 0), mode="reflect"))
    _raises_like_torch(lambda: F.pad(x, (1, 1), mode="reflect"), lambda: TF.pad(tx, (1, 1), mode="reflect"),
                       "not supported for 4D input")
