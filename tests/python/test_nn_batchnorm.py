"""Batch normalization (F.batch_norm, BatchNorm1d/2d/3d, the lazy forms)
against PyTorch on the same inputs: values, gradients, running statistics,
modes, buffers, state dicts, errors, and D2L's BatchNorm from scratch."""
import copy

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(ember.Tensor.numpy(t.detach()))


def _pair(arr, requires_grad=False):
    e, t = ember.tensor(arr), torch.tensor(arr)
    if requires_grad:
        e.requires_grad_(True)
        t.requires_grad_(True)
    return e, t


def _tol(dtype):
    return dict(rtol=1e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)


def _copy_state(e_module, t_module):
    """Give the torch module the ember module's parameters and buffers."""
    state = {k: torch.tensor(_np(v)) for k, v in e_module.state_dict().items()}
    t_module.load_state_dict(state)


# Shapes that exercise each path of the kernels' block geometry: [N, C]
# (S = 1, row blocks), short runs, long runs, a row wider than a block
# (channel blocks), a plane larger than a block, odd sizes, batch 2.
SHAPES = [
    (7, 3), (300, 5), (2, 4), (5, 3, 7), (6, 4, 40), (8, 3, 5, 5), (2, 3, 9, 11),
    (3, 700, 30), (2, 2, 130, 130), (4, 2, 3, 5, 2),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_functional_forward_backward_matches_pytorch(shape, dtype, training):
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    w = rng.uniform(0.5, 1.5, c).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    ex, tx = _pair(x, True)
    ew, tw = _pair(w, True)
    eb, tb = _pair(b, True)
    erm, trm = _pair(rm)
    erv, trv = _pair(rv)
    ey = F.batch_norm(ex, erm, erv, ew, eb, training, 0.3, 1e-5)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training, 0.3, 1e-5)
    k = _tol(dtype)
    np.testing.assert_allclose(_np(ey), _np(ty), **k)
    np.testing.assert_allclose(_np(erm), _np(trm), **k)
    np.testing.assert_allclose(_np(erv), _np(trv), **k)
    g = rng.standard_normal(shape).astype(dtype)
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    grad_tol = dict(rtol=2e-3, atol=2e-4) if dtype == np.float32 else k
    for e, t, name in ((ex, tx, "input"), (ew, tw, "weight"), (eb, tb, "bias")):
        assert e.grad.dtype == e.dtype
        np.testing.assert_allclose(_np(e.grad), _np(t.grad), err_msg=name, **grad_tol)
    assert type(ey.grad_fn).__name__ == "NativeBatchNormBackward0"


@pytest.mark.parametrize("with_weight,with_bias", [(False, False), (True, False), (False, True)])
def test_functional_optional_affine_and_stats(with_weight, with_bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4, 3)).astype(np.float64)
    ex, tx = _pair(x, True)
    ew, tw = _pair(rng.uniform(0.5, 2, 4), True) if with_weight else (None, None)
    eb, tb = _pair(rng.standard_normal(4), True) if with_bias else (None, None)
    ey = F.batch_norm(ex, None, None, ew, eb, training=True)
    ty = torch.nn.functional.batch_norm(tx, None, None, tw, tb, training=True)
    np.testing.assert_allclose(_np(ey), _np(ty), rtol=1e-10, atol=1e-12)
    (ey * ey).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(_np(ex.grad), _np(tx.grad), rtol=1e-8, atol=1e-10)
    if with_weight:
        np.testing.assert_allclose(_np(ew.grad), _np(tw.grad), rtol=1e-8, atol=1e-10)
    if with_bias:
        np.testing.assert_allclose(_np(eb.grad), _np(tb.grad), rtol=1e-8, atol=1e-10)


def test_noncontiguous_input_channels_last():
    rng = np.random.default_rng(2)
    nhwc = rng.standard_normal((4, 6, 5, 3)).astype(np.float32)
    ebase, tbase = _pair(nhwc, True)
    ex, tx = ebase.permute(0, 3, 1, 2), tbase.permute(0, 3, 1, 2)
    assert not ex.is_contiguous()
    em, tm = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    ey, ty = em(ex), tm(tx)
    np.testing.assert_allclose(_np(ey), _np(ty), rtol=1e-4, atol=1e-5)
    g = rng.standard_normal(ty.shape).astype(np.float32)
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(_np(ebase.grad), _np(tbase.grad), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(_np(em.weight.grad), _np(tm.weight.grad), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(_np(em.running_var), _np(tm.running_var), rtol=1e-5, atol=1e-6)


def test_statistics_are_stable_for_a_large_mean():
    # A naive E[x^2] - E[x]^2 in float32 loses everything at mean 1e4, std 1.
    rng = np.random.default_rng(3)
    x = (1e4 + rng.standard_normal((64, 2, 50))).astype(np.float32)
    rm, rv = ember.zeros(2), ember.ones(2)
    F.batch_norm(ember.tensor(x), rm, rv, training=True, momentum=1.0)
    ref = x.astype(np.float64).transpose(1, 0, 2).reshape(2, -1)
    np.testing.assert_allclose(_np(rm), ref.mean(1), rtol=1e-6)
    np.testing.assert_allclose(_np(rv), ref.var(1, ddof=1), rtol=1e-3)


def test_results_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 8, 48, 48)).astype(np.float32)
    before = ember.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            ember.set_num_threads(threads)
            ex = ember.tensor(x).requires_grad_(True)
            w = ember.ones(8).requires_grad_(True)
            rm, rv = ember.zeros(8), ember.ones(8)
            y = F.batch_norm(ex, rm, rv, w, None, training=True)
            (y * y).sum().backward()
            results.append([_np(y), _np(rm), _np(rv), _np(ex.grad), _np(w.grad)])
    finally:
        ember.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_half_precision_inputs_compute_in_float32():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 3, 4)).astype(np.float32)
    for e_dt, t_dt in ((ember.float16, torch.float16), (ember.bfloat16, torch.bfloat16)):
        ex = ember.tensor(x).to(e_dt)
        tx = torch.tensor(x).to(t_dt)
        erm, trm = ember.zeros(3), torch.zeros(3)
        erv, trv = ember.ones(3), torch.ones(3)
        ey = F.batch_norm(ex, erm, erv, training=True)
        ty = torch.nn.functional.batch_norm(tx, trm, trv, training=True)
        assert ey.dtype == e_dt
        np.testing.assert_allclose(_np(ey.float()), _np(ty.float()), rtol=2e-2, atol=2e-2)
        np.testing.assert_allclose(_np(erv), _np(trv), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_float64(training):
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.standard_normal((4, 3, 5))).requires_grad_(True)
    w = ember.tensor(rng.uniform(0.5, 1.5, 3)).requires_grad_(True)
    b = ember.tensor(rng.standard_normal(3)).requires_grad_(True)
    rm = ember.tensor(rng.standard_normal(3))
    rv = ember.tensor(rng.uniform(0.5, 2, 3))
    # Running statistics copied per call: training updates them in place.
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm.clone(), rv.clone(), w, b, training), (x, w, b))


def test_double_backward_matches_pytorch():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 3, 4))
    w = rng.uniform(0.5, 1.5, 3)
    results = []
    for lib in (ember, torch):
        tx = lib.tensor(x).requires_grad_(True)
        tw = lib.tensor(w).requires_grad_(True)
        fn = F.batch_norm if lib is ember else torch.nn.functional.batch_norm
        y = fn(tx, None, None, tw, None, training=True)
        gx, gw = lib.autograd.grad((y * y * y).sum(), (tx, tw), create_graph=True)
        ((gx * gx).sum() + (gw * gw).sum()).backward()
        results.append((_np(gx), _np(tx.grad), _np(tw.grad)))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def test_module_running_stats_over_training_steps_and_eval():
    rng = np.random.default_rng(8)
    em = nn.BatchNorm2d(4, momentum=0.2)
    tm = torch.nn.BatchNorm2d(4, momentum=0.2)
    with ember.no_grad():
        em.weight.copy_(ember.tensor(rng.uniform(0.5, 1.5, 4).astype(np.float32)))
        em.bias.copy_(ember.tensor(rng.standard_normal(4).astype(np.float32)))
    _copy_state(em, tm)
    for step in range(5):
        x = (rng.standard_normal((6, 4, 5, 5)) * (step + 1) + step).astype(np.float32)
        np.testing.assert_allclose(_np(em(ember.tensor(x))), _np(tm(torch.tensor(x))), rtol=1e-4, atol=1e-5)
    assert int(em.num_batches_tracked) == 5 and em.num_batches_tracked.dtype == ember.int64
    np.testing.assert_allclose(_np(em.running_mean), _np(tm.running_mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(em.running_var), _np(tm.running_var), rtol=1e-5, atol=1e-6)
    em.eval()
    tm.eval()
    assert not em.training
    x = rng.standard_normal((1, 4, 3, 3)).astype(np.float32)  # batch 1 is fine in eval
    mean_before = _np(em.running_mean).copy()
    np.testing.assert_allclose(_np(em(ember.tensor(x))), _np(tm(torch.tensor(x))), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(_np(em.running_mean), mean_before)
    assert int(em.num_batches_tracked) == 5
    # Eval gradient: the running statistics are constants.
    ex, tx = _pair(x, True)
    em(ex).sum().backward()
    tm(tx).sum().backward()
    np.testing.assert_allclose(_np(ex.grad), _np(tx.grad), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(em.weight.grad), _np(tm.weight.grad), rtol=1e-4, atol=1e-4)


def test_momentum_none_is_the_cumulative_average():
    rng = np.random.default_rng(9)
    em, tm = nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None)
    for _ in range(4):
        x = rng.standard_normal((10, 3)).astype(np.float32) * 3
        em(ember.tensor(x))
        tm(torch.tensor(x))
    np.testing.assert_allclose(_np(em.running_mean), _np(tm.running_mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(em.running_var), _np(tm.running_var), rtol=1e-5, atol=1e-6)
    assert "momentum=None" in repr(em)


def test_affine_false_and_no_running_stats():
    rng = np.random.default_rng(10)
    em = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    tm = torch.nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert em.weight is None and em.bias is None and em.running_mean is None
    assert list(em.parameters()) == [] and list(em.buffers()) == []
    assert list(em.state_dict()) == []
    x = rng.standard_normal((5, 3, 4)).astype(np.float32)
    for mode in (True, False):  # no buffers: batch statistics in eval too
        em.train(mode)
        tm.train(mode)
        np.testing.assert_allclose(_np(em(ember.tensor(x))), _np(tm(torch.tensor(x))), rtol=1e-4, atol=1e-5)
    assert repr(em) == repr(tm)


def test_bias_false_keyword():
    em, tm = nn.BatchNorm2d(3, bias=False), torch.nn.BatchNorm2d(3, bias=False)
    assert em.bias is None and em.weight is not None
    assert list(em.state_dict()) == list(tm.state_dict())
    assert repr(em) == repr(tm)


@pytest.mark.parametrize("kwargs", [{}, dict(eps=1e-3, momentum=0.5), dict(affine=False),
                                    dict(track_running_stats=False), dict(momentum=None)])
def test_reprs_match_pytorch(kwargs):
    for name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"):
        assert repr(getattr(nn, name)(6, **kwargs)) == repr(getattr(torch.nn, name)(6, **kwargs))
    assert repr(nn.LazyBatchNorm2d(**kwargs)) == repr(torch.nn.LazyBatchNorm2d(**kwargs))


def test_init_state_dict_keys_dtypes_and_buffers():
    em, tm = nn.BatchNorm2d(5), torch.nn.BatchNorm2d(5)
    es, ts = em.state_dict(), tm.state_dict()
    assert list(es) == list(ts) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    for k in es:
        np.testing.assert_array_equal(_np(es[k]), _np(ts[k]))
        assert str(es[k].dtype).split(".")[-1] == str(ts[k].dtype).split(".")[-1]
    assert [n for n, _ in em.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert [n for n, _ in em.named_parameters()] == ["weight", "bias"]
    net = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5))
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.BatchNorm1d(5))
    assert list(net.state_dict()) == list(tnet.state_dict())


def test_load_state_dict_round_trip_and_to():
    rng = np.random.default_rng(11)
    src = nn.BatchNorm1d(4)
    for _ in range(3):
        src(ember.tensor(rng.standard_normal((8, 4)).astype(np.float32)))
    dst = nn.BatchNorm1d(4)
    dst.load_state_dict(src.state_dict())
    for k, v in src.state_dict().items():
        np.testing.assert_array_equal(_np(dst.state_dict()[k]), _np(v))
    assert int(dst.num_batches_tracked) == 3
    # A state dict from before num_batches_tracked existed still loads.
    old = {k: v for k, v in src.state_dict().items() if k != "num_batches_tracked"}
    nn.BatchNorm1d(4).load_state_dict(old)
    with pytest.raises(RuntimeError, match="size mismatch for running_mean"):
        nn.BatchNorm1d(5).load_state_dict(src.state_dict())
    d = copy.deepcopy(src).double()
    assert d.running_mean.dtype == ember.float64 and d.weight.dtype == ember.float64
    assert d.num_batches_tracked.dtype == ember.int64
    y = d(ember.tensor(rng.standard_normal((8, 4))))
    assert y.dtype == ember.float64
    assert src.to("cpu") is src


def test_train_eval_propagate_through_containers():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Sequential(nn.BatchNorm1d(4)))
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_errors_match_pytorch():
    x = ember.randn(4, 3, 5)
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 4"):
        F.batch_norm(x, ember.zeros(4), ember.ones(3))
    with pytest.raises(RuntimeError, match="running_var should contain 3 elements not 4"):
        F.batch_norm(x, ember.zeros(3), ember.ones(4))
    with pytest.raises(RuntimeError, match="weight should contain 3 elements not 2"):
        F.batch_norm(x, None, None, ember.ones(2), training=True)
    with pytest.raises(RuntimeError, match="bias should contain 3 elements not 5"):
        F.batch_norm(x, None, None, None, ember.ones(5), training=True)
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, "
                                         r"got input size .*\[1, 3\]"):
        F.batch_norm(ember.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        nn.BatchNorm1d(3)(ember.randn(1, 3, 1))
    with pytest.raises(ValueError, match="eps must be positive"):
        F.batch_norm(x, None, None, training=True, eps=0.0)
    with pytest.raises(NotImplementedError, match="batch_norm"):
        F.batch_norm(ember.ones(4, 3, dtype=ember.int64), None, None, training=True)
    with pytest.raises(RuntimeError, match="mixed dtype"):
        F.batch_norm(x, ember.zeros(3, dtype=ember.float64), ember.ones(3, dtype=ember.float64))
    with pytest.raises(IndexError):
        F.batch_norm(ember.randn(3), None, None, training=True)
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(ember.randn(2, 3, 2, 2))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 1D input\)"):
        nn.BatchNorm1d(3)(ember.randn(3))
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(ember.randn(2, 3, 4))
    with pytest.raises(RuntimeError, match="running_mean should contain 4 elements not 3"):
        nn.BatchNorm2d(3)(ember.randn(2, 4, 2, 2))
    # The module's own state was not touched by the failed calls' checks.
    m = nn.BatchNorm1d(3)
    with pytest.raises(ValueError):
        m(ember.randn(1, 3))
    np.testing.assert_array_equal(_np(m.running_mean), np.zeros(3, np.float32))


def test_empty_batch():
    for lib, fn in ((ember, F.batch_norm), (torch, torch.nn.functional.batch_norm)):
        x = lib.zeros(0, 3).requires_grad_(True)
        rm = lib.zeros(3)
        y = fn(x, rm, lib.ones(3), training=True)
        assert tuple(y.shape) == (0, 3)
        y.sum().backward()
        assert tuple(x.grad.shape) == (0, 3)
        assert float(rm.sum()) == 0


def test_inplace_change_of_saved_input_is_caught():
    x = ember.randn(4, 3).requires_grad_(True)
    h = x * 1
    y = F.batch_norm(h, None, None, training=True)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_lazy_batchnorm_infers_num_features():
    rng = np.random.default_rng(12)
    for e_cls, t_cls, shape in ((nn.LazyBatchNorm1d, torch.nn.LazyBatchNorm1d, (6, 5)),
                                (nn.LazyBatchNorm2d, torch.nn.LazyBatchNorm2d, (4, 5, 3, 3))):
        em, tm = e_cls(), t_cls()
        assert em.num_features == 0
        assert list(em.state_dict()) == list(tm.state_dict())
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(_np(em(ember.tensor(x))), _np(tm(torch.tensor(x))), rtol=1e-4, atol=1e-5)
        assert type(em).__name__ == type(tm).__name__
        assert em.num_features == 5 and tuple(em.weight.shape) == (5,)
        np.testing.assert_allclose(_np(em.running_var), _np(tm.running_var), rtol=1e-5, atol=1e-6)
        assert repr(em) == repr(tm)
        assert list(em.state_dict()) == list(tm.state_dict())


def test_lazy_batchnorm_materialized_by_load_state_dict():
    src = nn.BatchNorm2d(3)
    src(ember.randn(4, 3, 2, 2))
    lazy = nn.LazyBatchNorm2d()
    lazy.load_state_dict(src.state_dict())
    assert tuple(lazy.running_mean.shape) == (3,)
    np.testing.assert_array_equal(_np(lazy.running_var), _np(src.running_var))
    y = lazy(ember.randn(2, 3, 2, 2))
    assert isinstance(lazy, nn.BatchNorm2d) and lazy.num_features == 3
    assert tuple(y.shape) == (2, 3, 2, 2)


def test_lazy_modules_mix_in_a_sequential():
    rng = np.random.default_rng(13)
    net = nn.Sequential(nn.LazyLinear(8), nn.LazyBatchNorm1d(), nn.ReLU(), nn.LazyLinear(2))
    y = net(ember.tensor(rng.standard_normal((4, 6)).astype(np.float32)))
    assert tuple(y.shape) == (4, 2)
    assert [tuple(p.shape) for p in net.parameters()] == [(8, 6), (8,), (8,), (8,), (2, 8), (2,)]
    net.to(ember.float64)
    assert net[1].running_mean.dtype == ember.float64


def test_lazy_batchnorm_to_before_first_forward():
    lazy = nn.LazyBatchNorm1d().double()
    y = lazy(ember.randn(4, 3, dtype=ember.float64))
    assert lazy.running_mean.dtype == ember.float64 and y.dtype == ember.float64


# ---- D2L: batch normalization from scratch, beside nn.BatchNorm2d ---------

def d2l_batch_norm(lib, X, gamma, beta, moving_mean, moving_var, eps, momentum):
    """The book's function (7.5.3 / 8.5.3), written with `lib`'s tensor ops."""
    if not lib.is_grad_enabled():
        X_hat = (X - moving_mean) / lib.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / lib.sqrt(var + eps)
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
        moving_var = (1.0 - momentum) * moving_var + momentum * var
    Y = gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data


def make_d2l_batchnorm_class(lib):
    class BatchNorm(lib.nn.Module):
        def __init__(self, num_features, num_dims):
            super().__init__()
            shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
            self.gamma = lib.nn.Parameter(lib.ones(shape))
            self.beta = lib.nn.Parameter(lib.zeros(shape))
            self.moving_mean = lib.zeros(shape)
            self.moving_var = lib.ones(shape)

        def forward(self, X):
            Y, self.moving_mean, self.moving_var = d2l_batch_norm(
                lib, X, self.gamma, self.beta, self.moving_mean, self.moving_var, eps=1e-5, momentum=0.1)
            return Y
    return BatchNorm


def test_d2l_batchnorm_from_scratch_beside_nn_batchnorm2d():
    rng = np.random.default_rng(14)
    scratch = make_d2l_batchnorm_class(ember)(6, num_dims=4)
    builtin = nn.BatchNorm2d(6)
    torch_scratch = make_d2l_batchnorm_class(torch)(6, num_dims=4)
    for _ in range(3):
        x = (rng.standard_normal((8, 6, 5, 5)) * 2 + 1).astype(np.float32)
        a = scratch(ember.tensor(x))
        b = builtin(ember.tensor(x))
        c = torch_scratch(torch.tensor(x))
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(_np(a), _np(c), rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(_np(scratch.moving_mean).reshape(-1), _np(builtin.running_mean), rtol=1e-5,
                               atol=1e-6)
    # The book's moving variance is the biased one, nn's the unbiased one.
    np.testing.assert_allclose(_np(torch_scratch.moving_var).reshape(-1), _np(scratch.moving_var).reshape(-1),
                               rtol=1e-5, atol=1e-6)
    assert np.all(_np(builtin.running_var) > _np(scratch.moving_var).reshape(-1))
    # Gradients of the two formulations agree as well.
    x = rng.standard_normal((4, 6, 3, 3)).astype(np.float32)
    xa = ember.tensor(x).requires_grad_(True)
    xb = ember.tensor(x).requires_grad_(True)
    (scratch(xa) ** 2).sum().backward()
    (builtin(xb) ** 2).sum().backward()
    torch_scratch(torch.tensor(x))  # the same update of its moving statistics
    np.testing.assert_allclose(_np(xa.grad), _np(xb.grad), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(_np(scratch.gamma.grad).reshape(-1), _np(builtin.weight.grad), rtol=1e-4,
                               atol=1e-4)
    # In eval (no grad, as the book's test) the moving statistics normalize.
    builtin.eval()
    with ember.no_grad():
        y_scratch = scratch(ember.tensor(x))
    y_torch_ref = torch.nn.functional.batch_norm(
        torch.tensor(x), torch.tensor(_np(builtin.running_mean)), torch.tensor(_np(builtin.running_var)),
        training=False)
    np.testing.assert_allclose(_np(builtin(ember.tensor(x))), _np(y_torch_ref), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        y_torch_scratch = torch_scratch(torch.tensor(x))
    np.testing.assert_allclose(_np(y_scratch), _np(y_torch_scratch), rtol=1e-4, atol=1e-5)


def _lenet_bn_mlp(lib):
    nn_ = lib.nn
    return nn_.Sequential(
        nn_.Flatten(),
        nn_.Linear(64, 120), nn_.BatchNorm1d(120), nn_.Sigmoid(),
        nn_.Linear(120, 84), nn_.BatchNorm1d(84), nn_.Sigmoid(),
        nn_.Linear(84, 10))


def test_lenet_style_network_with_batchnorm1d_trains_like_pytorch():
    rng = np.random.default_rng(15)
    enet, tnet = _lenet_bn_mlp(ember), _lenet_bn_mlp(torch)
    _copy_state(enet, tnet)
    assert repr(enet).replace("ember", "torch") == repr(tnet)
    eopt = ember.optim.SGD(enet.parameters(), lr=0.5)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.5)
    for _ in range(3):
        x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 10, 32)
        el = nn.CrossEntropyLoss()(enet(ember.tensor(x)), ember.tensor(y))
        tl = torch.nn.CrossEntropyLoss()(tnet(torch.tensor(x)), torch.tensor(y))
        np.testing.assert_allclose(float(el), float(tl.detach()), rtol=1e-4)
        eopt.zero_grad()
        topt.zero_grad()
        el.backward()
        tl.backward()
        eopt.step()
        topt.step()
    for (k, v), (tk, tv) in zip(enet.state_dict().items(), tnet.state_dict().items()):
        assert k == tk
        np.testing.assert_allclose(_np(v), _np(tv), rtol=1e-3, atol=1e-4, err_msg=k)
    enet.eval()
    tnet.eval()
    x = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_np(enet(ember.tensor(x))), _np(tnet(torch.tensor(x))), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("shape", [(6, 3, 4, 4), (32, 3, 20, 20), (300, 5)])
def test_batchnorm_on_device(device, shape):
    # (32, 3, 20, 20): 12,800 values per channel, more than one CUDA chunk.
    rng = np.random.default_rng(16)
    x = rng.standard_normal(shape).astype(np.float32)
    cls = nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d
    em = cls(shape[1]).to(device)
    tm = getattr(torch.nn, cls.__name__)(shape[1])
    ex = ember.tensor(x, device=device).requires_grad_(True)
    tx = torch.tensor(x, requires_grad=True)
    ey, ty = em(ex), tm(tx)
    assert str(ey.device) == str(ember.device(device))
    np.testing.assert_allclose(_np(ey.cpu()), _np(ty), rtol=1e-4, atol=1e-5)
    ey.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(_np(ex.grad.cpu()), _np(tx.grad), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(_np(em.running_var.cpu()), _np(tm.running_var), rtol=1e-5, atol=1e-6)


def _d2l_bn_lenet_scratch(lib):
    """D2L's LeNet with the from-scratch BatchNorm (7.5.4 / 8.5.4)."""
    BatchNorm = make_d2l_batchnorm_class(lib)
    nn_ = lib.nn
    return nn_.Sequential(
        nn_.Conv2d(1, 6, kernel_size=5), BatchNorm(6, num_dims=4), nn_.Sigmoid(),
        nn_.AvgPool2d(kernel_size=2, stride=2),
        nn_.Conv2d(6, 16, kernel_size=5), BatchNorm(16, num_dims=4), nn_.Sigmoid(),
        nn_.AvgPool2d(kernel_size=2, stride=2), nn_.Flatten(),
        nn_.Linear(16 * 4 * 4, 120), BatchNorm(120, num_dims=2), nn_.Sigmoid(),
        nn_.Linear(120, 84), BatchNorm(84, num_dims=2), nn_.Sigmoid(),
        nn_.Linear(84, 10))


def _d2l_bn_lenet_concise(lib):
    """d2l 1.0's BNLeNet: lazy convolutions, linears and batch norms."""
    nn_ = lib.nn
    return nn_.Sequential(
        nn_.LazyConv2d(6, kernel_size=5), nn_.LazyBatchNorm2d(), nn_.Sigmoid(),
        nn_.AvgPool2d(kernel_size=2, stride=2),
        nn_.LazyConv2d(16, kernel_size=5), nn_.LazyBatchNorm2d(), nn_.Sigmoid(),
        nn_.AvgPool2d(kernel_size=2, stride=2), nn_.Flatten(),
        nn_.LazyLinear(120), nn_.LazyBatchNorm1d(), nn_.Sigmoid(),
        nn_.LazyLinear(84), nn_.LazyBatchNorm1d(), nn_.Sigmoid(),
        nn_.LazyLinear(10))


@pytest.mark.skipif(not hasattr(nn, "Conv2d"), reason="needs nn.Conv2d")
@pytest.mark.parametrize("builder", [_d2l_bn_lenet_scratch, _d2l_bn_lenet_concise])
def test_d2l_lenet_with_batch_norm_trains_like_pytorch(builder):
    rng = np.random.default_rng(17)
    enet, tnet = builder(ember), builder(torch)
    x0 = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
    with ember.no_grad():
        enet(ember.tensor(x0))  # materializes the lazy layers
    with torch.no_grad():
        tnet(torch.tensor(x0))
    for e_mod, t_mod in zip(enet, tnet):  # same parameters, fresh statistics
        for ep, tp in zip(e_mod.parameters(), t_mod.parameters()):
            with torch.no_grad():
                tp.copy_(torch.tensor(_np(ep)))
        if hasattr(e_mod, "moving_mean"):
            e_mod.moving_mean = ember.zeros_like(e_mod.moving_mean)
            e_mod.moving_var = ember.ones_like(e_mod.moving_var)
            t_mod.moving_mean = torch.zeros_like(t_mod.moving_mean)
            t_mod.moving_var = torch.ones_like(t_mod.moving_var)
        elif isinstance(e_mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            e_mod.reset_running_stats()
            t_mod.reset_running_stats()
    eopt = ember.optim.SGD(enet.parameters(), lr=0.9)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.9)
    for _ in range(3):
        x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, 16)
        el = nn.functional.cross_entropy(enet(ember.tensor(x)), ember.tensor(y))
        tl = torch.nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y))
        np.testing.assert_allclose(float(el), float(tl.detach()), rtol=2e-4)
        eopt.zero_grad()
        topt.zero_grad()
        el.backward()
        tl.backward()
        eopt.step()
        topt.step()
    enet.eval()
    tnet.eval()
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    with ember.no_grad():
        ey = enet(ember.tensor(x))
    with torch.no_grad():
        ty = tnet(torch.tensor(x))
    np.testing.assert_allclose(_np(ey), _np(ty), rtol=2e-3, atol=2e-4)
    assert [k for k in enet.state_dict()] == [k for k in tnet.state_dict()]
