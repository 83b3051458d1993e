"""Shared helpers for the tensor tests: run the same program on ember and on
PyTorch (the oracle) with tensors made from the same numpy arrays, and compare
values, shapes, dtypes and exception types."""
import math

import numpy as np
import pytest

import ember

try:
    import torch
except ImportError:  # numpy-only checks still run; oracle tests skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the oracle) is not installed")

FLOAT_TOL = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-12)}

# numpy dtypes of the ember/torch dtypes these tests cover
NP_DTYPES = {
    "float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32, "bool": np.bool_,
}


def dtype_name(dt):
    """'ember.float32' for ember.float32 and torch.float32 alike."""
    return str(dt).replace("torch.", "ember.")


def sample(shape, dtype="float32", seed=0, low=-5, high=5):
    """A deterministic numpy array of the given numpy dtype name."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype.startswith("int"):
        return rng.integers(low, high, size=shape).astype(NP_DTYPES[dtype])
    return (rng.random(shape) * (high - low) + low).astype(NP_DTYPES[dtype])


def make(m, arr, layout="contig"):
    """A tensor of module `m` (ember or torch) holding `arr`, laid out as asked:
    'contig', 'T' (a permuted view of the reversed array) or 'step' (every
    other element along the last dim of a larger tensor)."""
    arr = np.asarray(arr)
    if layout == "contig" or arr.ndim == 0:
        return m.tensor(arr)
    if layout == "T":
        base = m.tensor(np.ascontiguousarray(np.transpose(arr)))
        return base.permute(*reversed(range(arr.ndim)))
    if layout == "step":
        big = np.zeros(arr.shape[:-1] + (arr.shape[-1] * 2 + 1,), dtype=arr.dtype)
        big[..., 1::2] = arr
        return m.tensor(big)[..., 1::2]
    raise ValueError(layout)


LAYOUTS = ["contig", "T", "step"]


def to_numpy(x):
    return x.detach().numpy()


def assert_same(e, t, rtol=None, atol=None, check_dtype=True, path="result"):
    """ember result `e` matches torch result `t`: same structure, shapes,
    dtypes and values (nan where nan)."""
    if torch is not None and isinstance(t, torch.Tensor):
        assert isinstance(e, ember.Tensor), f"{path}: expected a Tensor, got {type(e).__name__}"
        assert tuple(e.shape) == tuple(t.shape), f"{path}: shape {tuple(e.shape)} != {tuple(t.shape)}"
        if check_dtype:
            assert dtype_name(e.dtype) == dtype_name(t.dtype), f"{path}: dtype {e.dtype} != {t.dtype}"
        ev, tv = to_numpy(e), to_numpy(t)
        if tv.dtype.kind == "f" or ev.dtype.kind == "f":
            r, a = FLOAT_TOL.get(str(tv.dtype), (1e-5, 1e-6))
            np.testing.assert_allclose(ev, tv, rtol=rtol if rtol is not None else r,
                                       atol=atol if atol is not None else a, equal_nan=True, err_msg=path)
        else:
            np.testing.assert_array_equal(ev, tv, err_msg=path)
    elif isinstance(t, (tuple, list)):
        assert isinstance(e, (tuple, list)), f"{path}: expected a sequence, got {type(e).__name__}"
        assert len(e) == len(t), f"{path}: length {len(e)} != {len(t)}"
        for i, (a, b) in enumerate(zip(e, t)):
            assert_same(a, b, rtol, atol, check_dtype, f"{path}[{i}]")
    elif isinstance(t, float):
        assert type(e) is float, f"{path}: expected float, got {type(e).__name__}"
        assert (math.isnan(e) and math.isnan(t)) or e == pytest.approx(t, rel=rtol or 1e-6, abs=atol or 1e-6), path
    elif isinstance(t, (bool, int, str)) or t is None:
        assert type(e) is type(t), f"{path}: expected {type(t).__name__}, got {type(e).__name__}"
        if isinstance(t, str):
            assert e == t.replace("torch.", "ember."), path
        else:
            assert e == t, f"{path}: {e!r} != {t!r}"
    elif torch is not None and isinstance(t, torch.Size):
        assert tuple(e) == tuple(t), f"{path}: {e} != {t}"
    elif torch is not None and isinstance(t, torch.dtype):
        assert dtype_name(e) == dtype_name(t), f"{path}: {e} != {t}"
    else:
        raise AssertionError(f"{path}: cannot compare {type(t).__name__}")


def both(fn, *arrays, layout="contig", **tol):
    """fn(module, *tensors) on ember and on torch with the same inputs; the
    results must match. Returns (ember_result, torch_result)."""
    if torch is None:
        pytest.skip("PyTorch (the oracle) is not installed")
    e = fn(ember, *[make(ember, a, layout) for a in arrays])
    t = fn(torch, *[make(torch, a, layout) for a in arrays])
    assert_same(e, t, **tol)
    return e, t


_EXC_KINDS = (IndexError, TypeError, ValueError, NotImplementedError, ZeroDivisionError, RuntimeError)


def _kind(exc):
    for k in _EXC_KINDS:
        if isinstance(exc, k):
            return k
    return type(exc)


def raises_same(fn, *arrays, layout="contig", match=()):
    """fn raises on torch; ember must raise the same kind of exception (and
    its message must contain every string in `match`). Returns the message."""
    if torch is None:
        pytest.skip("PyTorch (the oracle) is not installed")
    with pytest.raises(Exception) as t_info:
        fn(torch, *[make(torch, a, layout) for a in arrays])
    kind = _kind(t_info.value)
    with pytest.raises(Exception) as e_info:
        fn(ember, *[make(ember, a, layout) for a in arrays])
    assert isinstance(e_info.value, kind), (
        f"torch raised {type(t_info.value).__name__}({t_info.value}), "
        f"ember raised {type(e_info.value).__name__}({e_info.value})")
    msg = str(e_info.value)
    for s in ([match] if isinstance(match, str) else match):
        assert s in msg, f"{s!r} not in ember's message {msg!r}"
    return msg


def agree(fn, *arrays, layout="contig", **tol):
    """Like `both`, but where torch raises, ember must raise the same kind of
    exception (for sweeping ops over dtype combinations)."""
    if torch is None:
        pytest.skip("PyTorch (the oracle) is not installed")
    try:
        t = fn(torch, *[make(torch, a, layout) for a in arrays])
    except Exception as t_exc:  # noqa: BLE001 - any torch error is the expected outcome
        kind = _kind(t_exc)
        with pytest.raises(Exception) as e_info:
            fn(ember, *[make(ember, a, layout) for a in arrays])
        assert isinstance(e_info.value, kind), (
            f"torch raised {type(t_exc).__name__}({t_exc}), ember raised {type(e_info.value).__name__}({e_info.value})")
        return None
    e = fn(ember, *[make(ember, a, layout) for a in arrays])
    assert_same(e, t, **tol)
    return e, t
