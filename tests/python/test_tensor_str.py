"""Checks ember's tensor printing against PyTorch's repr (the oracle)."""

import importlib.util
import math
import pathlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

_PATH = pathlib.Path(__file__).resolve().parents[2] / "python" / "ember" / "_tensor_str.py"
_spec = importlib.util.spec_from_file_location("_ember_tensor_str_under_test", _PATH)
ts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ts)

_DTYPE_NAMES = {
    torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
    torch.bfloat16: "bfloat16", torch.int64: "int64", torch.int32: "int32",
    torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool",
}

_DEFAULTS = dict(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)


@pytest.fixture(autouse=True)
def _reset_printoptions():
    torch.set_printoptions(profile="default")
    ts.set_printoptions(profile="default")
    yield
    torch.set_printoptions(profile="default")
    ts.set_printoptions(profile="default")


def _numpy_of(t):
    t = t.detach()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t.numpy()


def ember_repr(t, suffixes=(), prefix="tensor("):
    return ts.format_tensor(_numpy_of(t), dtype_name=_DTYPE_NAMES[t.dtype],
                            prefix=prefix, suffixes=list(suffixes))


def expected(t):
    return repr(t).replace("torch.", "ember.")


def check(t, suffixes=()):
    got = ember_repr(t, suffixes)
    want = expected(t)
    assert got == want, f"\n--- ember ---\n{got}\n--- torch ---\n{want}"


# ---------------------------------------------------------------- fixed cases

SCALARS = [
    torch.tensor(3), torch.tensor(-7), torch.tensor(0), torch.tensor(3.5), torch.tensor(-0.0),
    torch.tensor(0.0), torch.tensor(2.0), torch.tensor(1e-5), torch.tensor(1e10),
    torch.tensor(123456789.0), torch.tensor(float("inf")), torch.tensor(float("-inf")),
    torch.tensor(float("nan")), torch.tensor(True), torch.tensor(False),
    torch.tensor(5, dtype=torch.int32), torch.tensor(200, dtype=torch.uint8),
    torch.tensor(1.25, dtype=torch.float64), torch.tensor(1.3, dtype=torch.float16),
    torch.tensor(1.3, dtype=torch.bfloat16), torch.tensor(0.1234567),
]


@pytest.mark.parametrize("t", SCALARS, ids=range(len(SCALARS)))
def test_scalars(t):
    check(t)


def _cases():
    c = {}
    c["1d_float"] = torch.tensor([1.0, 2.0])
    c["1d_frac"] = torch.tensor([1.5, -2.25, 3.0])
    c["1d_int"] = torch.tensor([1, 2, 3])
    c["2d_int"] = torch.tensor([[1, 2], [3, 4]])
    c["2d_neg_int"] = torch.tensor([[1, -200], [3, 4]])
    c["3d"] = torch.arange(24).reshape(2, 3, 4)
    c["3d_float"] = torch.arange(24.0).reshape(2, 3, 4) / 7
    c["4d"] = torch.arange(48.0).reshape(2, 2, 3, 4) - 20
    c["5d"] = torch.arange(32).reshape(2, 2, 2, 2, 2)
    c["neg"] = torch.tensor([-1.5, -0.25, 0.0, 2.0])
    c["sci_small"] = torch.tensor([1e-5, 1e10])
    c["sci_ratio"] = torch.tensor([1.0, 1001.5])
    c["no_sci_ratio"] = torch.tensor([1.5, 999.0])
    c["sci_huge"] = torch.tensor([1e9 + 0.5, 2e9])
    c["tiny"] = torch.tensor([1e-30, -3e-25])
    c["int_sci"] = torch.tensor([1.0, 10000.0])
    c["int_big"] = torch.tensor([2e8, 3e8])
    c["int_neg_zero"] = torch.tensor([-0.0, 1.0])
    c["zeros"] = torch.zeros(3)
    c["zeros2d"] = torch.zeros(2, 3)
    c["ones_int_valued"] = torch.tensor([[1.0, 2.0, 30.0], [-4.0, 5.0, 6.0]])
    c["inf_nan"] = torch.tensor([float("inf"), float("nan"), 1.0])
    c["inf_nan_frac"] = torch.tensor([float("inf"), float("-inf"), float("nan"), 1.5, -2.25])
    c["inf_nan_sci"] = torch.tensor([float("inf"), float("nan"), 1e-6, 3.0])
    c["only_nonfinite"] = torch.tensor([float("inf"), float("nan"), float("-inf")])
    c["nan_zero"] = torch.tensor([float("nan"), 0.0])
    c["float64"] = torch.tensor([1.123456789, 2.0], dtype=torch.float64)
    c["float64_int"] = torch.tensor([1.0, 2.0], dtype=torch.float64)
    c["float16"] = torch.tensor([1.1, 2.2, 65504.0], dtype=torch.float16)
    c["bfloat16"] = torch.tensor([1.1, 2.2, -3.3e5], dtype=torch.bfloat16)
    c["int32"] = torch.tensor([1, 2], dtype=torch.int32)
    c["int16"] = torch.tensor([[1, -2], [300, 4]], dtype=torch.int16)
    c["int8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    c["uint8"] = torch.tensor([0, 255, 7], dtype=torch.uint8)
    c["bool"] = torch.tensor([True, False])
    c["bool_all_true"] = torch.tensor([True, True])
    c["bool2d"] = torch.tensor([[True, False, True], [False, False, True]])
    # long rows that wrap
    c["wrap_float"] = torch.arange(30) * 1.5
    c["wrap_int"] = torch.arange(100)
    c["wrap_2d"] = torch.arange(60.0).reshape(2, 30) * 1.5
    c["wrap_3d"] = torch.arange(120).reshape(2, 2, 30)
    c["wrap_sci"] = torch.logspace(-6, 6, 40)
    c["wrap_bool"] = torch.arange(40) % 3 == 0
    c["wrap_int32"] = torch.arange(50, dtype=torch.int32)
    # summarization
    c["sum_1d"] = torch.arange(2000)
    c["sum_1d_float"] = torch.arange(2000) * 0.5
    c["sum_1001"] = torch.arange(1001.0)
    c["no_sum_1000"] = torch.arange(1000.0)
    g = torch.Generator().manual_seed(0)
    c["sum_randn_100x100"] = torch.randn(100, 100, generator=g)
    c["sum_randn_3x500"] = torch.randn(3, 500, generator=g)
    c["sum_randn_20x20x20"] = torch.randn(20, 20, 20, generator=g)
    c["sum_500x3"] = torch.randn(500, 3, generator=g)
    c["sum_int_4d"] = torch.arange(3000).reshape(10, 3, 10, 10)
    c["sum_bool"] = torch.rand(40, 40, generator=g) > 0.5
    c["sum_int32"] = torch.arange(1500, dtype=torch.int32).reshape(30, 50)
    c["sum_sci"] = torch.randn(50, 50, generator=g) * 1e6
    c["sum_hidden_outlier"] = torch.cat([torch.ones(10), torch.full((1000,), 1e-9), torch.ones(10)])
    return c


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_fixed_cases(name):
    check(CASES[name])


EMPTY = [
    torch.tensor([]), torch.zeros(0, 3), torch.zeros(2, 0, 3), torch.zeros(0, 0),
    torch.zeros(0, dtype=torch.int64), torch.zeros(0, 2, dtype=torch.int32),
    torch.zeros(0, dtype=torch.bool), torch.zeros(3, 0, dtype=torch.float64),
    torch.zeros(0, dtype=torch.float16), torch.zeros(1, 0, 1, dtype=torch.uint8),
]


@pytest.mark.parametrize("t", EMPTY, ids=range(len(EMPTY)))
def test_empty(t):
    check(t)


# ---------------------------------------------------------------- suffixes

def test_requires_grad():
    t = torch.tensor([1.5, 2.0], requires_grad=True)
    check(t, ["requires_grad=True"])


def test_requires_grad_int_valued_2d():
    t = torch.arange(12.0).reshape(3, 4).requires_grad_()
    check(t, ["requires_grad=True"])


def test_grad_fn():
    t = torch.tensor([1.5, 2.0], requires_grad=True) * 2
    check(t, ["grad_fn=<MulBackward0>"])


def test_grad_fn_with_dtype_wraps():
    # dtype and grad_fn together overflow the line -> pushed to next line
    t = torch.tensor([1.5, 2.0, 3.25, 4.5, 5.75, 6.0, 7.0], dtype=torch.float64, requires_grad=True)
    t = t * 2
    check(t, ["grad_fn=<MulBackward0>"])


def test_long_suffix_wrapping():
    t = (torch.arange(30.0) * 1.5).requires_grad_()
    check(t, ["requires_grad=True"])
    t2 = (torch.arange(17.0) * 1.5).requires_grad_().double() * 3
    check(t2, ["grad_fn=<MulBackward0>"])


def test_parameter():
    p = torch.nn.Parameter(torch.tensor([[0.5, -1.25], [2.0, 3.0]]))
    want = repr(p).replace("torch.", "ember.")
    got = "Parameter containing:\n" + ember_repr(p, ["requires_grad=True"])
    assert got == want


def test_device_suffix():
    got = ts.format_tensor(np.array([1.0, 2.0], dtype=np.float32), dtype_name="float32",
                           device_str="cuda:0")
    assert got == "tensor([1., 2.], device='cuda:0')"
    got = ts.format_tensor(np.array([1, 2], dtype=np.int32), dtype_name="int32",
                           device_str="cuda:0", suffixes=["requires_grad=True"])
    assert got == "tensor([1, 2], device='cuda:0', dtype=ember.int32, requires_grad=True)"
    got = ts.format_tensor(np.zeros((0, 3), dtype=np.int64), dtype_name="int64",
                           device_str="cuda:0")
    assert got == "tensor([], device='cuda:0', size=(0, 3), dtype=ember.int64)"
    got = ts.format_tensor(np.array([1.0], dtype=np.float32), dtype_name="float32",
                           device_str="cpu")
    assert got == "tensor([1.])"


def test_default_dtype_float64():
    torch.set_default_dtype(torch.float64)
    try:
        for t in [torch.tensor([1.5, 2.0]), torch.tensor([1.5, 2.0], dtype=torch.float32),
                  torch.zeros(0, 2), torch.zeros(0, dtype=torch.float32)]:
            got = ts.format_tensor(_numpy_of(t), dtype_name=_DTYPE_NAMES[t.dtype],
                                   default_dtype_name="float64")
            assert got == expected(t)
    finally:
        torch.set_default_dtype(torch.float32)


def test_values_as_float64_array_for_float32_dtype():
    t = torch.tensor([0.1, 0.2, 1e-5])
    got = ts.format_tensor(t.numpy().astype(np.float64), dtype_name="float32")
    assert got == expected(t)


def test_list_input():
    assert ts.format_tensor([[1, 2], [3, 4]], dtype_name="int64") == "tensor([[1, 2],\n        [3, 4]])"


# ---------------------------------------------------------------- print options

def _both(**kw):
    torch.set_printoptions(**kw)
    ts.set_printoptions(**kw)


def test_precision_2():
    _both(precision=2)
    for t in [torch.tensor([1.23456, 2.5]), torch.tensor([1e-5, 3.0]), torch.tensor(3.14159),
              torch.randn(3, 4, generator=torch.Generator().manual_seed(1))]:
        check(t)
    _both(profile="default")
    check(torch.tensor([1.23456, 2.5]))
    assert ts.get_printoptions() == _DEFAULTS


@pytest.mark.parametrize("kw", [
    dict(profile="short"), dict(profile="full"), dict(sci_mode=True), dict(sci_mode=False),
    dict(precision=6), dict(precision=0), dict(threshold=10), dict(edgeitems=1, threshold=5),
    dict(edgeitems=0, threshold=5), dict(linewidth=40), dict(linewidth=200),
    dict(profile="short", precision=3),
], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_printoptions(kw):
    _both(**kw)
    g = torch.Generator().manual_seed(2)
    for t in [torch.tensor([1.23456, 2.5]), torch.tensor([1e-5, 3.0, float("nan")]),
              torch.arange(30) * 1.5, torch.arange(2000), torch.randn(40, 40, generator=g),
              torch.randn(3, 4, 5, generator=g), torch.tensor(2.5), torch.tensor([1.0, 1e5]),
              torch.arange(12).reshape(3, 4), torch.tensor([True, False] * 20)]:
        check(t)
        check(t.double().requires_grad_(), ["requires_grad=True"])


def test_printoptions_context_manager():
    with ts.printoptions(precision=2):
        assert ts.format_tensor(np.array([1.23456], dtype=np.float32),
                                dtype_name="float32") == "tensor([1.23])"
    assert ts.get_printoptions() == _DEFAULTS


def test_sci_mode_none_resets():
    ts.set_printoptions(sci_mode=True)
    ts.set_printoptions(precision=4)
    assert ts.get_printoptions()["sci_mode"] is None


# ---------------------------------------------------------------- randomized

def _random_tensor(rng):
    ndim = int(rng.integers(0, 5))
    if rng.random() < 0.15:
        shape = tuple(int(rng.integers(1, 60)) for _ in range(ndim))
    else:
        shape = tuple(int(rng.integers(1, 6)) for _ in range(ndim))
    if ndim == 1 and rng.random() < 0.3:
        shape = (int(rng.integers(1, 1500)),)
    kind = rng.choice(["float32", "float32", "float32", "float64", "float16", "bfloat16",
                       "int64", "int32", "int8", "uint8", "bool"])
    n = int(np.prod(shape)) if shape else 1
    if kind == "bool":
        data = rng.random(n) < 0.5
        return torch.from_numpy(data.reshape(shape))
    if kind in ("int64", "int32", "int8", "uint8"):
        lo, hi = {"int64": (-10**int(rng.integers(1, 12)), 10**int(rng.integers(1, 12))),
                  "int32": (-100000, 100000), "int8": (-128, 128), "uint8": (0, 256)}[kind]
        data = rng.integers(lo, hi, size=n)
        return torch.from_numpy(data.reshape(shape)).to(getattr(torch, kind))
    style = rng.choice(["normal", "scaled", "wide", "intvals", "tiny", "zeros", "mixed"])
    if style == "normal":
        data = rng.standard_normal(n)
    elif style == "scaled":
        data = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 9)
    elif style == "wide":
        data = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 6, size=n)
    elif style == "intvals":
        data = rng.integers(-10 ** int(rng.integers(1, 10)), 10 ** int(rng.integers(1, 10)),
                            size=n).astype(np.float64)
    elif style == "tiny":
        data = rng.uniform(-1, 1, size=n) * 1e-4
    elif style == "zeros":
        data = np.zeros(n)
    else:
        data = rng.standard_normal(n) * rng.choice([1, 100, 1e4])
        data = np.round(data, int(rng.integers(0, 3)))
    if rng.random() < 0.3:
        specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0])
        mask = rng.random(n) < 0.2
        data[mask] = rng.choice(specials, size=int(mask.sum()))
    dt = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16}[kind]
    return torch.from_numpy(data.reshape(shape)).to(dt)


@pytest.mark.parametrize("seed", range(12))
def test_randomized(seed):
    rng = np.random.default_rng(1234 + seed)
    for _ in range(40):
        t = _random_tensor(rng)
        check(t)
        if t.is_floating_point() and rng.random() < 0.3:
            t = t.clone().requires_grad_()
            check(t, ["requires_grad=True"])


@pytest.mark.parametrize("seed", range(4))
def test_randomized_printoptions(seed):
    rng = np.random.default_rng(99 + seed)
    for _ in range(15):
        kw = {}
        if rng.random() < 0.5:
            kw["precision"] = int(rng.integers(0, 8))
        if rng.random() < 0.4:
            kw["threshold"] = int(rng.integers(1, 200))
        if rng.random() < 0.4:
            kw["edgeitems"] = int(rng.integers(0, 5))
        if rng.random() < 0.4:
            kw["linewidth"] = int(rng.integers(20, 160))
        if rng.random() < 0.3:
            kw["sci_mode"] = bool(rng.random() < 0.5)
        _both(**kw)
        for _ in range(8):
            check(_random_tensor(rng))
        _both(profile="default")


@pytest.mark.parametrize("kw", [dict(sci_mode=True), dict(sci_mode=False), dict(edgeitems=0, threshold=3)])
def test_degenerate_with_options(kw):
    _both(**kw)
    for t in [torch.zeros(4), torch.tensor([float("inf"), float("nan")]), torch.tensor(0.0),
              torch.tensor([0.0, -0.0, 5.0]), torch.arange(10.0), torch.arange(20).reshape(4, 5),
              torch.tensor([[1e-9, 1.0], [float("inf"), 2.0]])]:
        check(t)
