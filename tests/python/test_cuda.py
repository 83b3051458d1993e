"""CUDA backend from Python.

Without a GPU (CI, development machines): the build reports itself, nothing
claims a device, and asking for 'cuda' fails with a clear RuntimeError.
With a GPU: ops, gradients, modules and memory statistics on 'cuda' agree
with the CPU (and with PyTorch when it is installed).
"""
import os
import shutil

import numpy as np
import pytest

import ember
import ember.backends.cuda
import ember.cuda

HAS_GPU = ember.cuda.is_available()
gpu = pytest.mark.skipif(not HAS_GPU, reason="no CUDA device visible")
no_gpu = pytest.mark.skipif(HAS_GPU, reason="a CUDA device is visible")


# ---------------------------------------------------------------- any machine


def test_is_built_matches_toolchain():
    built = ember.backends.cuda.is_built()
    assert isinstance(built, bool)
    expect = os.environ.get("EMBER_EXPECT_CUDA_BUILT")
    if expect is not None:
        assert built == (expect == "1")
    elif ember._C._cuda_setting == "OFF":
        assert not built  # a developer build that asked for the stub
    elif shutil.which("nvcc"):
        # The default build (EMBER_CUDA=AUTO) compiles the backend when nvcc is found.
        assert built


def test_api_types():
    assert isinstance(ember.cuda.is_available(), bool)
    assert isinstance(ember.cuda.device_count(), int)
    assert ember.cuda.device_count() >= 0
    ember.cuda.empty_cache()  # never fails


@no_gpu
def test_no_device_reports_unavailable():
    assert ember.cuda.is_available() is False
    assert ember.cuda.device_count() == 0
    assert ember.cuda.memory_allocated() == 0
    assert ember.cuda.max_memory_allocated() == 0


@no_gpu
@pytest.mark.parametrize("make", [
    lambda: ember.zeros(2, 3, device="cuda"),
    lambda: ember.ones(4, device="cuda:0"),
    lambda: ember.tensor([1.0, 2.0]).to("cuda"),
    lambda: ember.tensor([1.0, 2.0]).cuda(),
    lambda: ember.randn(3, device="cuda"),
])
def test_cuda_tensor_raises_clear_error(make):
    with pytest.raises(RuntimeError) as info:
        make()
    msg = str(info.value)
    assert "CUDA" in msg
    if ember.backends.cuda.is_built():
        assert "no CUDA device" in msg
    else:
        assert "built without CUDA" in msg


@no_gpu
def test_device_calls_raise_without_device():
    for call in (ember.cuda.current_device, ember.cuda.synchronize, lambda: ember.cuda.set_device(0)):
        with pytest.raises(RuntimeError):
            call()


# ---------------------------------------------------------------- with a GPU


def _close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().cpu().numpy(), rtol=rtol, atol=atol)


@gpu
def test_device_api():
    n = ember.cuda.device_count()
    assert n >= 1
    assert 0 <= ember.cuda.current_device() < n
    ember.cuda.set_device(0)
    assert ember.cuda.current_device() == 0
    ember.cuda.synchronize()
    assert isinstance(ember.cuda.get_device_name(0), str)
    with pytest.raises(RuntimeError, match="invalid CUDA device index"):
        ember.cuda.set_device(n)
    with pytest.raises(RuntimeError, match="invalid CUDA device index"):
        ember.ones(2, device=f"cuda:{n}")
    ember.cuda.empty_cache()  # the failed allocation left nothing behind for a missing device


@gpu
def test_to_and_identity():
    x = ember.randn(3, 4)
    y = x.to("cuda")
    assert y.device.type == "cuda"
    assert y.cuda() is y
    assert y.cuda(0) is y
    assert y.to("cuda:0") is y
    z = y.cpu()
    assert z.device.type == "cpu"
    assert z.cpu() is z
    np.testing.assert_array_equal(z.numpy(), x.numpy())


@gpu
def test_numpy_on_cuda_advises_cpu():
    y = ember.ones(2, device="cuda")
    with pytest.raises(TypeError, match=r"cpu\(\)"):
        y.numpy()


@gpu
def test_mixed_devices_name_both():
    a = ember.ones(2, device="cuda")
    b = ember.ones(2)
    with pytest.raises(RuntimeError) as info:
        a + b
    assert "cuda:0" in str(info.value) and "cpu" in str(info.value)


@gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ops_match_cpu(dtype):
    dt = getattr(ember, dtype)
    x = ember.randn(37, 53, dtype=dt)
    w = ember.randn(53, 19, dtype=dt)
    b = ember.randn(19, dtype=dt)
    xc, wc, bc = x.cuda(), w.cuda(), b.cuda()
    _close((x @ w + b), (xc @ wc + bc), rtol=1e-4, atol=1e-4)
    _close(ember.relu(x), ember.relu(xc))
    _close(x.sum(), xc.sum(), rtol=1e-5, atol=1e-4)
    _close(x.sum(0), xc.sum(0), rtol=1e-5, atol=1e-5)
    _close(x.sum(1), xc.sum(1), rtol=1e-5, atol=1e-5)
    _close(x.max(), xc.max())
    _close(x.argmax(1), xc.argmax(1))
    _close(x.T.exp(), xc.T.exp(), rtol=1e-5)
    _close(ember.softmax(x, 1), ember.softmax(xc, 1))
    _close(x[x > 0], xc[xc > 0])


@gpu
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("m,k,n", [(136, 264, 200), (37, 53, 19)])
def test_half_linear_on_tensor_cores(dtype, m, k, n):
    # 16-bit products stay 16-bit on CUDA (tensor cores, float32
    # accumulation, one rounding); multiples of 8 take the cp.async
    # pipeline, odd sizes the synchronous kernel. Linear's x @ W.T has a
    # column-major second operand.
    dt = getattr(ember, dtype)
    x, w, b = ember.randn(m, k).to(dt), ember.randn(n, k).to(dt), ember.randn(n).to(dt)
    exact = x.float() @ w.float().T
    out = ember.nn.functional.linear(x.cuda(), w.cuda(), b.cuda())
    assert out.dtype == dt and out.device.type == "cuda"
    _close(out.float(), exact + b.float(), rtol=1e-2, atol=1e-2)
    _close((x.cuda() @ w.cuda().T).float(), exact, rtol=1e-2, atol=1e-2)
    _close((x.cuda().T.contiguous().T @ w.T.contiguous().cuda()).float(), exact, rtol=1e-2, atol=1e-2)


@gpu
def test_gradients_match_cpu():
    x = ember.randn(16, 8)
    w = ember.randn(8, 4)
    target = ember.tensor([0, 1, 2, 3] * 4)
    grads = []
    for dev in ("cpu", "cuda"):
        xd = x.to(dev).detach().requires_grad_(True)
        wd = w.to(dev).detach().requires_grad_(True)
        loss = ember.nn.functional.cross_entropy(ember.relu(xd @ wd), target.to(dev))
        loss.backward()
        grads.append((loss, xd.grad, wd.grad))
    for a, b in zip(grads[0], grads[1]):
        _close(a, b, rtol=1e-4, atol=1e-5)


@gpu
def test_module_training_step_on_gpu():
    ember.manual_seed(0)
    net = ember.nn.Sequential(ember.nn.Linear(20, 32), ember.nn.ReLU(), ember.nn.Linear(32, 3))
    net.to("cuda")
    for p in net.parameters():
        assert p.device.type == "cuda"
    opt = ember.optim.SGD(net.parameters(), lr=0.1)
    x = ember.randn(64, 20, device="cuda")
    y = ember.randint(0, 3, (64,), device="cuda")
    first = None
    for _ in range(20):
        opt.zero_grad()
        loss = ember.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first
    for p in net.parameters():
        assert p.device.type == "cuda" and p.grad.device.type == "cuda"


@gpu
def test_random_same_stream_on_both_devices():
    ember.manual_seed(123)
    a = ember.rand(1000)
    ember.manual_seed(123)
    b = ember.rand(1000, device="cuda")
    np.testing.assert_array_equal(a.numpy(), b.cpu().numpy())


@gpu
def test_memory_stats_and_cache():
    ember.cuda.synchronize()
    before = ember.cuda.memory_allocated()
    x = ember.empty(1 << 20, device="cuda")
    assert ember.cuda.memory_allocated() >= before + 4 * (1 << 20)
    assert ember.cuda.max_memory_allocated() >= ember.cuda.memory_allocated()
    del x
    assert ember.cuda.memory_allocated() == before
    ember.cuda.empty_cache()


@gpu
def test_out_of_memory_is_runtime_error():
    with pytest.raises(RuntimeError, match="out of memory"):
        # 16 TiB: under the core's size cap, far over any GPU's memory.
        ember.empty(1 << 44, dtype=ember.uint8, device="cuda")
    ember.ones(3, device="cuda")  # still works


@gpu
def test_against_pytorch_when_available():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch without CUDA")
    x = np.random.RandomState(0).randn(64, 96).astype(np.float32)
    w = np.random.RandomState(1).randn(96, 48).astype(np.float32)
    torch.backends.cuda.matmul.allow_tf32 = False
    ref = torch.relu(torch.from_numpy(x).cuda() @ torch.from_numpy(w).cuda()).sum(1).cpu().numpy()
    got = ember.relu(ember.tensor(x).cuda() @ ember.tensor(w).cuda()).sum(1).cpu().numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


def test_cuda_device_objects_need_no_gpu():
    # D2L prints torch.cuda.device('cuda') and ('cuda:1') on any machine.
    assert ember.cuda.device("cuda").idx == 0
    assert ember.cuda.device("cuda:1").idx == 1
    with ember.cuda.device("cpu"):
        pass
