"""DLPack both ways with numpy and PyTorch: zero-copy (writes show through),
views and strides, every dtype (bfloat16 with PyTorch), 0-d and empty,
versioned and legacy capsules, lifetimes (the capsule keeps ember's
storage alive, an imported tensor keeps its producer alive), the
standard's keywords, and bad inputs."""
import gc
import sys
import weakref

import numpy as np
import pytest

import ember
import ember.utils.dlpack as edl

NUMPY_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


# ---------------------------------------------------------------- numpy

@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_numpy_consumes_ember_zero_copy(dtype):
    e = ember.tensor(np.arange(12).reshape(3, 4) % 3).to(getattr(ember, dtype))
    a = np.from_dlpack(e)
    assert a.dtype == np.dtype(dtype) and a.shape == (3, 4)
    np.testing.assert_array_equal(a, e.numpy())
    assert a.__array_interface__["data"][0] == e.data_ptr()
    e[1, 2] = 1
    assert a[1, 2] == 1  # the same memory


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_ember_consumes_numpy_zero_copy(dtype):
    a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    e = ember.from_dlpack(a)
    assert e.dtype == getattr(ember, dtype) and tuple(e.shape) == (3, 4)
    np.testing.assert_array_equal(e.numpy(), a)
    assert e.data_ptr() == a.__array_interface__["data"][0]
    a[0, 0] = 1
    assert e[0, 0].item() == 1


def test_views_and_strides_round_trip():
    base = ember.arange(60, dtype=ember.float32).reshape(3, 4, 5)
    for view in [base[1], base[:, 1:3, ::2], base.transpose(0, 2), base[..., 3], base.permute(2, 0, 1)[1:, :, 2:]]:
        a = np.from_dlpack(view)
        np.testing.assert_array_equal(a, view.numpy())
        assert a.strides == tuple(s * 4 for s in view.stride())
        assert a.__array_interface__["data"][0] == view.data_ptr()
    arr = np.arange(60.0).reshape(3, 4, 5)
    for view in [arr[1], arr[:, 1:3, ::2], arr.transpose(0, 2, 1), arr[..., 3]]:
        e = ember.from_dlpack(view)
        np.testing.assert_array_equal(e.numpy(), view)
        assert e.data_ptr() == view.__array_interface__["data"][0]
        assert tuple(s * 8 for s in e.stride()) == view.strides


def test_zero_dim_and_empty():
    for e in [ember.tensor(3.5), ember.zeros(0), ember.zeros(2, 0, 3)]:
        a = np.from_dlpack(e)
        assert a.shape == tuple(e.shape)
        np.testing.assert_array_equal(a, e.numpy())
    for a in [np.array(2.0), np.zeros((0, 4)), np.zeros(0, dtype=np.int64)]:
        e = ember.from_dlpack(a)
        assert tuple(e.shape) == a.shape and e.dtype == getattr(ember, str(a.dtype))


def test_negative_strides_are_copied():
    a = np.arange(10.0)[::-2]
    e = ember.from_dlpack(a)
    np.testing.assert_array_equal(e.numpy(), a)
    b = np.arange(12).reshape(3, 4)[::-1, ::-1]
    np.testing.assert_array_equal(ember.from_dlpack(b).numpy(), b)
    with pytest.raises(BufferError, match="negative strides"):
        ember.from_dlpack(a, copy=False)


def test_read_only_numpy_is_copied_not_shared():
    a = np.arange(4.0)
    a.flags.writeable = False
    e = ember.from_dlpack(a)
    np.testing.assert_array_equal(e.numpy(), a)
    assert e.data_ptr() != a.__array_interface__["data"][0]
    e.add_(1)  # must not write into the read-only array
    np.testing.assert_array_equal(a, np.arange(4.0))
    with pytest.raises(BufferError, match="read-only"):
        ember.from_dlpack(a, copy=False)


def test_copy_keyword():
    a = np.arange(4.0)
    c = ember.from_dlpack(a, copy=True)
    assert c.data_ptr() != a.__array_interface__["data"][0]
    c[0] = 9
    assert a[0] == 0
    s = ember.from_dlpack(a, copy=False)
    assert s.data_ptr() == a.__array_interface__["data"][0]
    e = ember.arange(3.0)
    copied = np.from_dlpack(e, copy=True)
    copied[0] = 7
    assert e[0].item() == 0
    assert np.from_dlpack(e, copy=False).__array_interface__["data"][0] == e.data_ptr()


# ---------------------------------------------------------------- the protocol

def test_capsules_versioned_and_legacy():
    e = ember.arange(4.0)
    assert e.__dlpack_device__() == (edl.DLDeviceType.kDLCPU, 0)
    assert "dltensor_versioned" in repr(e.__dlpack__(max_version=(1, 0)))
    assert '"dltensor"' in repr(e.__dlpack__())
    assert '"dltensor"' in repr(e.__dlpack__(max_version=(0, 8)))
    assert '"dltensor"' in repr(edl.to_dlpack(e))
    for cap in [e.__dlpack__(max_version=(1, 3)), e.__dlpack__(), edl.to_dlpack(e)]:
        back = ember.from_dlpack(cap)
        assert back.data_ptr() == e.data_ptr()
        assert "used_dltensor" in repr(cap)  # renamed when consumed
    assert edl.from_dlpack(edl.to_dlpack(e)).tolist() == e.tolist()


def test_capsule_consumed_twice():
    cap = edl.to_dlpack(ember.arange(3))
    ember.from_dlpack(cap)
    with pytest.raises(RuntimeError, match="already consumed"):
        ember.from_dlpack(cap)
    vcap = ember.arange(3).__dlpack__(max_version=(1, 0))
    ember.from_dlpack(vcap)
    with pytest.raises(RuntimeError, match="already consumed"):
        ember.from_dlpack(vcap)


def test_capsule_keeps_ember_storage_alive():
    e = ember.arange(1000, dtype=ember.float64) * 2
    ptr = e.data_ptr()
    cap = e.__dlpack__(max_version=(1, 0))
    del e
    gc.collect()
    _ = ember.zeros(1000, dtype=ember.float64) + 5  # would reuse the buffer if it had been freed
    back = ember.from_dlpack(cap)
    del cap
    gc.collect()
    assert back.data_ptr() == ptr
    np.testing.assert_array_equal(back.numpy(), np.arange(1000) * 2.0)
    # an unconsumed capsule frees its tensor when it dies
    for _ in range(200):
        ember.ones(10000).__dlpack__(max_version=(1, 0))
        edl.to_dlpack(ember.ones(10000))


def test_numpy_array_outlives_ember_tensor():
    e = ember.arange(5.0) + 1
    a = np.from_dlpack(e)
    del e
    gc.collect()
    np.testing.assert_array_equal(a, np.arange(5.0) + 1)


def test_import_keeps_producer_alive():
    class Producer:
        def __init__(self):
            self.array = np.arange(6.0)

        def __dlpack__(self, **kwargs):
            return self.array.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.array.__dlpack_device__()

    p = Producer()
    arr_ref = weakref.ref(p.array)
    refs_before = sys.getrefcount(p.array)
    e = ember.from_dlpack(p)
    assert sys.getrefcount(p.array) > refs_before  # the producer's DLPack record holds it
    del p
    gc.collect()
    assert arr_ref() is not None  # alive through the ember tensor
    np.testing.assert_array_equal(e.numpy(), np.arange(6.0))
    view = e[2:]
    del e
    gc.collect()
    assert arr_ref() is not None  # a view keeps it too
    del view
    gc.collect()
    assert arr_ref() is None  # released with the last view


def test_old_producer_without_keywords():
    class OldProducer:
        def __init__(self):
            self.t = ember.arange(4.0)

        def __dlpack__(self, stream=None):
            return edl.to_dlpack(self.t)

        def __dlpack_device__(self):
            return (1, 0)

    old = OldProducer()
    e = ember.from_dlpack(old)
    assert e.data_ptr() == old.t.data_ptr()
    c = ember.from_dlpack(OldProducer(), copy=True)
    assert c.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_export_keywords_and_errors():
    e = ember.arange(3.0)
    with pytest.raises(BufferError, match="require gradient"):
        ember.ones(2, requires_grad=True).__dlpack__()
    np.testing.assert_array_equal(np.from_dlpack(ember.ones(2, requires_grad=True).detach()), [1.0, 1.0])
    with pytest.raises(BufferError, match="stream must be None"):
        e.__dlpack__(stream=1)
    with pytest.raises(BufferError, match="copy=False"):
        e.__dlpack__(max_version=(1, 0), dl_device=(2, 0), copy=False)
    with pytest.raises(BufferError, match="cannot export"):
        e.__dlpack__(max_version=(1, 0), dl_device=(8, 0))
    assert ember.from_dlpack(e.__dlpack__(max_version=(1, 0), dl_device=(1, 0))).data_ptr() == e.data_ptr()
    with pytest.raises(TypeError, match="__dlpack__"):
        ember.from_dlpack(object())
    with pytest.raises(TypeError, match="capsule named"):
        import ctypes
        ctypes.pythonapi.PyCapsule_New.restype = ctypes.py_object
        ctypes.pythonapi.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        ember.from_dlpack(ctypes.pythonapi.PyCapsule_New(1, b"not_a_tensor", None))


def test_device_keyword():
    a = np.arange(3.0)
    e = ember.from_dlpack(a, device="cpu")
    assert e.data_ptr() == a.__array_interface__["data"][0]


# ---------------------------------------------------------------- PyTorch

torch_dtypes = NUMPY_DTYPES + ["bfloat16"]


@pytest.mark.parametrize("dtype", torch_dtypes)
def test_torch_both_ways(dtype):
    torch = pytest.importorskip("torch")
    e = (ember.arange(12).reshape(3, 4) % 3).to(getattr(ember, dtype))
    t = torch.from_dlpack(e)
    assert t.dtype == getattr(torch, dtype) and tuple(t.shape) == (3, 4)
    assert t.data_ptr() == e.data_ptr()
    np.testing.assert_array_equal(t.float().numpy(), e.float().numpy())
    t[0, 1] = 1
    assert e[0, 1].item() == 1
    t2 = (torch.arange(12).reshape(3, 4) % 3).to(getattr(torch, dtype))
    e2 = ember.from_dlpack(t2)
    assert e2.dtype == getattr(ember, dtype) and e2.data_ptr() == t2.data_ptr()
    np.testing.assert_array_equal(e2.float().numpy(), t2.float().numpy())
    e2[2, 3] = 0
    assert t2[2, 3].item() == 0


def test_torch_views_utils_and_lifetime():
    torch = pytest.importorskip("torch")
    base = ember.arange(24.0).reshape(2, 3, 4)
    for view in [base.transpose(0, 2), base[:, 1:, ::3], base[1, 2]]:
        t = torch.from_dlpack(view)
        assert t.stride() == view.stride() and t.data_ptr() == view.data_ptr()
        np.testing.assert_array_equal(t.numpy(), view.numpy())
    tb = torch.arange(24.0).reshape(2, 3, 4)
    for view in [tb.transpose(0, 2), tb[:, 1:, ::3], tb[1, 2]]:
        e = ember.from_dlpack(view)
        assert e.stride() == view.stride() and e.data_ptr() == view.data_ptr()
    # torch.utils.dlpack <-> ember.utils.dlpack, legacy capsules
    t = torch.utils.dlpack.from_dlpack(edl.to_dlpack(base))
    assert t.data_ptr() == base.data_ptr()
    e = edl.from_dlpack(torch.utils.dlpack.to_dlpack(tb))
    assert e.data_ptr() == tb.data_ptr()
    # the ember tensor keeps the torch storage alive, and the other way round
    src = torch.arange(100.0) * 3
    e = ember.from_dlpack(src)
    del src
    gc.collect()
    np.testing.assert_array_equal(e.numpy(), np.arange(100.0) * 3)
    es = ember.arange(100.0) * 3
    t = torch.from_dlpack(es)
    del es
    gc.collect()
    np.testing.assert_array_equal(t.numpy(), np.arange(100.0) * 3)
    # torch asks for a copy
    c = torch.from_dlpack(base, copy=True)
    assert c.data_ptr() != base.data_ptr()


@pytest.mark.skipif(ember.cuda.device_count() == 0, reason="needs a CUDA device")
def test_cuda_both_ways_with_streams():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch without CUDA")
    e = ember.arange(1 << 20, dtype=ember.float32, device="cuda") * 2
    assert e.__dlpack_device__() == (edl.DLDeviceType.kDLCUDA, 0)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        t = torch.from_dlpack(e)  # torch passes its current (non-default) stream
        total = t.sum()
    s.synchronize()
    assert total.item() == float(np.arange(1 << 20, dtype=np.float64).sum() * 2)
    assert t.data_ptr() == e.data_ptr()
    tt = torch.arange(1000, device="cuda", dtype=torch.float64)
    back = ember.from_dlpack(tt)
    assert back.device.type == "cuda" and back.data_ptr() == tt.data_ptr()
    np.testing.assert_array_equal(back.cpu().numpy(), np.arange(1000.0))
    cap = e.__dlpack__(stream=torch.cuda.current_stream().cuda_stream or 1, max_version=(1, 0))
    assert ember.from_dlpack(cap).data_ptr() == e.data_ptr()
    on_cpu = ember.from_dlpack(e.__dlpack__(max_version=(1, 0), dl_device=(1, 0)))
    assert on_cpu.device.type == "cpu"
    np.testing.assert_array_equal(on_cpu.numpy(), e.cpu().numpy())
    np.testing.assert_array_equal(np.from_dlpack(e, device="cpu"), e.cpu().numpy())
