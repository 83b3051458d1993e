"""out= on ember's module functions (PyTorch's resize, dtype and autograd
rules) and set_default_dtype / set_default_device, against PyTorch."""
import warnings

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)
A = RNG.normal(size=(2, 3)).astype(np.float32)
B = RNG.normal(size=(2, 3)).astype(np.float32) + 2
M = RNG.normal(size=(3, 4)).astype(np.float32)
BA = RNG.normal(size=(2, 2, 3)).astype(np.float32)
BB = RNG.normal(size=(2, 3, 4)).astype(np.float32)

# name -> (args as numpy arrays or plain values, kwargs); one call per library
CASES = {
    "add": ((A, B), {}), "sub": ((A, B), {}), "mul": ((A, B), {}), "div": ((A, B), {}),
    "matmul": ((A, M), {}), "mm": ((A, M), {}), "bmm": ((BA, BB), {}),
    "cat": (([A, B],), {"dim": 1}), "stack": (([A, B],), {}),
    "sum": ((A, 1), {}), "mean": ((A, 0), {}), "exp": ((A,), {}), "log": ((B,), {}), "sqrt": ((B,), {}),
    "abs": ((A,), {}), "neg": ((A,), {}), "clamp": ((A, -0.5, 0.5), {}), "where": ((A > 0, A, B), {}),
}


def _convert(lib, v):
    if isinstance(v, np.ndarray):
        return lib.tensor(v)
    if isinstance(v, list):
        return [_convert(lib, x) for x in v]
    return v


def _call(lib, name, out, args, kwargs):
    return getattr(lib, name)(*[_convert(lib, a) for a in args], **kwargs, out=out)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("out_shape", ["right", "wrong", "empty"])
def test_out_matches_pytorch_and_returns_out(name, out_shape):
    args, kwargs = CASES[name]
    expected = getattr(torch, name)(*[_convert(torch, a) for a in args], **kwargs)
    shape = {"right": tuple(expected.shape), "wrong": (7,), "empty": (0,)}[out_shape]
    out_e, out_t = ember.full(shape, 9.0), torch.full(shape, 9.0)
    with warnings.catch_warnings(record=True) as caught_e:
        warnings.simplefilter("always")
        result = _call(ember, name, out_e, args, kwargs)
    with warnings.catch_warnings(record=True) as caught_t:
        warnings.simplefilter("always")
        _call(torch, name, out_t, args, kwargs)
    assert result is out_e and out_e.shape == out_t.shape
    np.testing.assert_allclose(out_e.numpy(), out_t.numpy(), rtol=1e-5, atol=1e-6)
    resized = [str(w.message) for w in caught_e if "resized" in str(w.message)]
    assert len(resized) == (out_shape == "wrong") == any("resized" in str(w.message) for w in caught_t)
    if resized:
        assert resized[0].startswith("An output with one or more elements was resized since it had shape [7]")
    assert [w.filename for w in caught_e if "resized" in str(w.message)] in ([], [__file__])


def test_out_keeps_strides_of_a_right_sized_view():
    base = ember.zeros(4, 3)
    view = base[::2]
    ember.add(ember.tensor(A), 1, out=view)
    np.testing.assert_allclose(base.numpy()[::2], A + 1, rtol=1e-6)
    assert view.stride() == (6, 1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_out_dtype_rules_match_pytorch(name):
    args, kwargs = CASES[name]
    for dtype in ("int64", "float64", "bool", "float16"):
        outcome = []
        for lib in (ember, torch):
            out = lib.zeros(0, dtype=getattr(lib, dtype))
            try:
                _call(lib, name, out, args, kwargs)
                outcome.append(("ok", out.numpy().tolist()))
            except (RuntimeError, TypeError) as e:
                outcome.append((type(e), str(e).replace("torch.", "").replace("ember.", "")))
        assert outcome[0][0] == outcome[1][0], (name, dtype, outcome)
        if outcome[0][0] != "ok":
            assert outcome[0][1] == outcome[1][1]  # PyTorch's message
        if outcome[0][0] == "ok":
            np.testing.assert_allclose(np.array(outcome[0][1], float), np.array(outcome[1][1], float), rtol=1e-5)


def test_out_error_messages():
    a, b = ember.tensor(A), ember.tensor(B)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        ember.add(a, b, out=ember.zeros(2, 3, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="Expected out tensor to have dtype float, but got double instead"):
        ember.mm(a, ember.tensor(M), out=ember.zeros(2, 4, dtype=ember.float64))
    with pytest.raises(TypeError, match="input types can't be cast to the desired output type Long"):
        ember.cat([a, b], out=ember.zeros(0, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="exp\\(\\): functions with out=... arguments don't support automatic "
                                           "differentiation"):
        ember.exp(ember.tensor(A, requires_grad=True), out=ember.zeros(2, 3))
    with ember.no_grad():  # allowed without grad mode, as in PyTorch
        ember.exp(ember.tensor(A, requires_grad=True), out=ember.zeros(2, 3))
    with pytest.raises(TypeError, match="argument 'out' must be Tensor, not list"):
        ember.exp(a, out=[1])


def test_max_min_with_dim_out_pair():
    for name in ("max", "min"):
        values_t, indices_t = torch.zeros(0), torch.zeros(0, dtype=torch.int64)
        getattr(torch, name)(torch.tensor(A), 1, out=(values_t, indices_t))
        values, indices = ember.zeros(5), ember.zeros(0, dtype=ember.int64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = getattr(ember, name)(ember.tensor(A), 1, out=(values, indices))
        assert result.values is values and result.indices is indices
        np.testing.assert_allclose(values.numpy(), values_t.numpy())
        np.testing.assert_array_equal(indices.numpy(), indices_t.numpy())
    with pytest.raises(RuntimeError, match="Expected out tensor to have dtype long int, but got float instead"):
        ember.max(ember.tensor(A), 1, out=(ember.zeros(2), ember.zeros(2)))


@pytest.mark.parametrize("name", ["zeros", "ones", "rand", "randn"])
def test_creation_out(name):
    out = ember.zeros(0, dtype=ember.float64)
    result = getattr(ember, name)(2, 3, out=out)
    assert result is out and out.shape == (2, 3) and out.dtype == ember.float64
    if name in ("zeros", "ones"):
        assert out.tolist() == getattr(torch, name)(2, 3).tolist()
    with pytest.raises(RuntimeError, match="dtype Float does not match dtype of out parameter \\(Double\\)"):
        getattr(ember, name)(2, out=out, dtype=ember.float32)
    ints = ember.zeros(0, dtype=ember.int64)
    if name in ("rand", "randn"):
        with pytest.raises(NotImplementedError, match=f"{name}\\(\\): out= of dtype Long is not supported"):
            getattr(ember, name)(3, out=ints)
    else:
        assert getattr(ember, name)(3, out=ints).dtype == ember.int64


def test_arange_out_warns_like_pytorch():
    out, out_t = ember.zeros(1), torch.zeros(1)
    with pytest.warns(UserWarning, match="The number of elements in the out tensor of shape \\[1\\] is 1 which does "
                                         "not match the computed number of elements 5"):
        assert ember.arange(5, out=out) is out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.arange(5, out=out_t)
    assert out.tolist() == out_t.tolist() and out.dtype == ember.float32


# ------------------------------------------------------------ defaults

@pytest.fixture
def float64_default():
    ember.set_default_dtype(ember.float64)
    torch.set_default_dtype(torch.float64)
    yield
    ember.set_default_dtype(ember.float32)
    torch.set_default_dtype(torch.float32)


def test_default_dtype_is_honoured(float64_default):
    assert ember.get_default_dtype() == ember.float64
    for lib in (ember, torch):
        made = [lib.tensor([0.1, 0.2]), lib.tensor(0.1), lib.zeros(2), lib.ones(2), lib.rand(2), lib.randn(2),
                lib.empty(2), lib.full((2,), 1.5), lib.arange(0.0, 1.0, 0.5), lib.linspace(0, 1, 3), lib.eye(2),
                lib.nn.Linear(2, 2).weight, lib.normal(0.0, 1.0, (2,))]
        assert [str(t.dtype).split(".")[-1] for t in made] == ["float64"] * len(made)
        kept = [lib.tensor([1, 2]), lib.arange(3), lib.tensor(np.zeros(2, np.float32)), lib.tensor([True])]
        assert [str(t.dtype).split(".")[-1] for t in kept] == ["int64", "int64", "float32", "bool"]
    assert ember.tensor([0.1]).item() == 0.1  # no float32 rounding on the way


def test_float64_dtype_keeps_python_floats_exact():
    assert ember.tensor([0.1, 1e-300], dtype=ember.float64).tolist() == [0.1, 1e-300]


def test_set_default_dtype_errors():
    with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
        ember.set_default_dtype(ember.int64)
    with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
        torch.set_default_dtype(torch.int64)
    assert ember.get_default_dtype() == ember.float32


def test_set_default_device():
    try:
        ember.set_default_device("cpu")
        assert ember.get_default_device() == ember.device("cpu") and ember.zeros(2).device == ember.device("cpu")
        if not ember.cuda.is_available():
            ember.set_default_device("cuda:0")
            with pytest.raises(RuntimeError, match="CUDA"):
                ember.zeros(2)
        else:
            ember.set_default_device("cuda")
            assert ember.zeros(2).is_cuda and ember.tensor([1.0]).is_cuda and ember.nn.Linear(2, 2).weight.is_cuda
        with pytest.raises(TypeError, match="expected a device"):
            ember.set_default_device(3.5)
    finally:
        ember.set_default_device(None)
    assert ember.zeros(2).device == ember.device("cpu")
