"""Elementwise arithmetic, comparisons, unary math, in-place ops and PyTorch's
type promotion, compared with PyTorch on the same inputs (contiguous and
strided, broadcasting, 0-d and empty tensors)."""
import operator

import numpy as np
import pytest

import ember
from _tensor_oracle import LAYOUTS, agree, both, needs_torch, sample, torch

DTYPES = ["float32", "float64", "int64", "int32", "bool"]

_BINARY_OPS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
    "ge": operator.ge,
    "maximum": lambda a, b: _mod(a).maximum(a, b), "minimum": lambda a, b: _mod(a).minimum(a, b),
    "torch.add": lambda a, b: _mod(a).add(a, b), "torch.mul": lambda a, b: _mod(a).mul(a, b),
    "torch.sub": lambda a, b: _mod(a).sub(a, b), "torch.div": lambda a, b: _mod(a).div(a, b),
    "torch.pow": lambda a, b: _mod(a).pow(a, b),
}


def _mod(t):
    return ember if isinstance(t, ember.Tensor) else torch


def _positive(shape, dtype, seed):
    """Values safe as divisors and exponents (1..4), for every dtype."""
    if dtype == "bool":
        return np.ones(shape, dtype=bool)
    return sample(shape, dtype, seed, low=1, high=4)


# ---------------------------------------------------------------- binary ops over dtype pairs

@pytest.mark.parametrize("op", list(_BINARY_OPS))
@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
@needs_torch
def test_binary_dtype_pairs(op, da, db):
    a = sample((3, 4), da, 1, low=-3, high=4)
    b = _positive((3, 4), db, 2)
    agree(lambda m, x, y: _BINARY_OPS[op](x, y), a, b)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "lt", "maximum"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@needs_torch
def test_binary_layouts(op, layout, dtype):
    a = sample((4, 5), dtype, 3, low=-3, high=4)
    b = _positive((4, 5), dtype, 4)
    agree(lambda m, x, y: _BINARY_OPS[op](x, y), a, b, layout=layout)


@pytest.mark.parametrize("sa,sb", [
    ((3, 1), (1, 2)), ((3, 4), (4,)), ((2, 3, 4), (3, 1)), ((1,), (5,)), ((), (2, 3)), ((2, 1, 3), (4, 1)),
    ((0, 3), (3,)), ((0,), (1,)), ((2, 0), (2, 1)), ((5, 1, 1), (1, 6, 1)), ((1, 1), ()),
])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "eq", "maximum"])
@needs_torch
def test_broadcasting(sa, sb, op):
    a = sample(sa, "float32", 5)
    b = _positive(sb, "float32", 6)
    both(lambda m, x, y: _BINARY_OPS[op](x, y), a, b)
    both(lambda m, x, y: _BINARY_OPS[op](y, x), a, b)


@needs_torch
def test_broadcast_strided_operands():
    a = sample((4, 6), "float32", 7)
    b = sample((6, 4), "float32", 8)
    both(lambda m, x, y: x[:, ::2] + y.t()[1:2, ::2], a, b)
    both(lambda m, x, y: x.t()[::2] * y[:3, :1], a, b)
    both(lambda m, x, y: x.unsqueeze(0).expand(3, 4, 6) - y.t(), a, b)


# ---------------------------------------------------------------- Python scalars on either side

_SCALARS = [2, -3, 2.5, 0.5, True, False]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", _SCALARS, ids=repr)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "eq", "lt", "ge"])
@needs_torch
def test_scalar_operands(dtype, scalar, op):
    a = _positive((2, 3), dtype, 9)
    f = _BINARY_OPS[op]
    if op in ("floordiv", "mod") and scalar is False:
        pytest.skip("PyTorch raises ZeroDivisionError for `float_tensor // False` but gives inf for `// 0`")
    if op == "pow" and dtype == "bool" and isinstance(scalar, bool):
        pytest.skip("PyTorch special-cases bool_tensor ** bool_scalar; ember raises as for bool ** bool tensors")
    agree(lambda m, x: f(x, scalar), a)
    if scalar not in (0, False) or op not in ("truediv", "floordiv", "mod"):
        agree(lambda m, x: f(scalar, x), a)


@pytest.mark.parametrize("dtype", DTYPES)
@needs_torch
def test_scalar_operands_0d(dtype):
    a = _positive((), dtype, 10)
    for s in (2, 1.5, True):
        agree(lambda m, x: x + s, a)
        agree(lambda m, x: s * x, a)
        agree(lambda m, x: x / s, a)
        agree(lambda m, x: s - x, a)


# ---------------------------------------------------------------- type promotion

@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((), (3,)), ((3,), ()), ((), ())])
@needs_torch
def test_promotion_dims(da, db, sa, sb):
    """The 0-d vs dim tensor rules: a 0-d operand only raises the category."""
    a = _positive(sa, da, 11)
    b = _positive(sb, db, 12)
    agree(lambda m, x, y: x * y, a, b)
    agree(lambda m, x, y: x / y, a, b)
    agree(lambda m, x, y: m.where(x > 1, x, y), a, b)


def test_promotion_rules_without_torch():
    i64 = ember.tensor([1, 2])
    i32 = ember.tensor([1, 2], dtype=ember.int32)
    f32 = ember.tensor([1.0, 2.0])
    f64 = ember.tensor([1.0, 2.0], dtype=ember.float64)
    b = ember.tensor([True, False])
    assert (i64 + 1.5).dtype == ember.float32
    assert (i64 / i64).dtype == ember.float32
    assert (i32 + i64).dtype == ember.int64
    assert (b + i32).dtype == ember.int32
    assert (b + True).dtype == ember.bool
    assert (f32 + f64).dtype == ember.float64
    assert (f32 + np.float64(2.0)).dtype == ember.float32
    assert (f32 + 2.0).dtype == ember.float32
    assert (i32 + 5).dtype == ember.int32
    assert (i32 + ember.tensor(5)).dtype == ember.int32
    assert (i32 + ember.tensor(5.0)).dtype == ember.float32
    assert (f32 + ember.tensor(5.0, dtype=ember.float64)).dtype == ember.float32
    assert (ember.tensor(5.0, dtype=ember.float64) + ember.tensor(1, dtype=ember.int32)).dtype == ember.float64
    assert (b * 2.5).dtype == ember.float32
    assert ember.promote_types(ember.int32, ember.float32) == ember.float32


@needs_torch
@pytest.mark.parametrize("da", DTYPES + ["float16", "bfloat16"])
@pytest.mark.parametrize("db", DTYPES + ["float16", "bfloat16"])
def test_promote_types_table(da, db):
    assert str(ember.promote_types(getattr(ember, da), getattr(ember, db))) == \
        str(torch.promote_types(getattr(torch, da), getattr(torch, db))).replace("torch.", "ember.")


# ---------------------------------------------------------------- unary math

_UNARY = ["exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "neg", "floor", "ceil", "round",
          "sign", "square", "reciprocal", "rsqrt", "log1p", "expm1", "trunc"]


@pytest.mark.parametrize("name", _UNARY)
@pytest.mark.parametrize("dtype", DTYPES)
@needs_torch
def test_unary_dtypes(name, dtype):
    a = sample((3, 4), dtype, 13, low=-3, high=4)
    agree(lambda m, x: getattr(m, name)(x), a, rtol=2e-5)
    agree(lambda m, x: getattr(x, name)(), a, rtol=2e-5)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "sin", "tanh", "sigmoid", "relu", "neg"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5), (2, 3, 4)])
@needs_torch
def test_unary_shapes_layouts(name, layout, shape):
    a = sample(shape, "float32", 14, low=0.1, high=4)
    agree(lambda m, x: getattr(m, name)(x), a, layout=layout, rtol=2e-5)


@needs_torch
def test_unary_special_values():
    a = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 1e-30, 80.0, -80.0], dtype=np.float32)
    for name in ["exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "sign", "floor"]:
        with np.errstate(all="ignore"):
            both(lambda m, x: getattr(m, name)(x), a)
    both(lambda m, x: -x, a)


@needs_torch
def test_unary_negation_dtypes():
    for dt in ["float32", "float64", "int64", "int32"]:
        both(lambda m, x: -x, sample((4,), dt, 15))
    agree(lambda m, x: -x, np.array([True, False]))


@pytest.mark.parametrize("call", [
    lambda m, x: m.clamp(x, -1, 1),
    lambda m, x: x.clamp(min=0),
    lambda m, x: x.clamp(max=0.5),
    lambda m, x: m.clamp(x, min=-0.5, max=2),
    lambda m, x: x.clip(-1, 1),
    lambda m, x: x.clamp(m.zeros(4), m.ones(4)),
    lambda m, x: m.pow(x, 2),
    lambda m, x: m.pow(x.abs(), 0.5),
    lambda m, x: m.pow(2, x),
    lambda m, x: x.pow(3),
    lambda m, x: x ** -1,
    lambda m, x: m.maximum(x, m.zeros(1)),
    lambda m, x: m.minimum(x, m.tensor(0.0)),
    lambda m, x: m.where(x > 0, x, m.zeros_like(x)),
    lambda m, x: m.where(x > 0, x, 0.0),
    lambda m, x: m.where(x > 0, 1.0, 0.0),
    lambda m, x: m.where(x > 0, 1, 0),
    lambda m, x: m.where(x > 0, x.double(), 0),
    lambda m, x: m.where(x[:1] > 0, x, -x),
    lambda m, x: x.where(x > 0, m.tensor(-1.0)),
    lambda m, x: m.exp(x).sum(),
])
@needs_torch
def test_misc_math(call):
    a = sample((3, 4), "float32", 16, low=-3, high=3)
    agree(call, a)


@pytest.mark.parametrize("dtype", ["int64", "int32"])
@needs_torch
def test_clamp_and_pow_int(dtype):
    a = sample((3, 4), dtype, 17, low=-5, high=5)
    agree(lambda m, x: x.clamp(-2, 2), a)
    agree(lambda m, x: x.clamp(min=0), a)
    agree(lambda m, x: x.clamp(-1.5, 2.5), a)
    agree(lambda m, x: x ** 2, a)
    agree(lambda m, x: x.abs() ** 0.5, a)
    agree(lambda m, x: 2 ** x.abs(), a)


@needs_torch
def test_integer_division_semantics():
    a = np.array([-7, -6, -1, 0, 1, 6, 7], dtype=np.int64)
    both(lambda m, x: x // 3, a)
    both(lambda m, x: x // -3, a)
    both(lambda m, x: x % 3, a)
    both(lambda m, x: x % -3, a)
    both(lambda m, x: x / 2, a)
    both(lambda m, x: x.div(2, rounding_mode="floor"), a)
    both(lambda m, x: x.div(2, rounding_mode="trunc"), a)
    f = a.astype(np.float32) + 0.5
    both(lambda m, x: x // 2, f)
    both(lambda m, x: x % -2, f)
    both(lambda m, x: x.remainder(-2), f)
    both(lambda m, x: m.remainder(x, 2.5), f)


# ---------------------------------------------------------------- comparisons

@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
@pytest.mark.parametrize("layout", LAYOUTS)
@needs_torch
def test_comparisons(op, layout):
    a = sample((3, 4), "int64", 18, low=0, high=3)
    b = sample((3, 4), "int64", 19, low=0, high=3)
    r = both(lambda m, x, y: _BINARY_OPS[op](x, y), a, b, layout=layout)[0]
    assert r.dtype == ember.bool
    both(lambda m, x, y: getattr(x, op)(y), a, b, layout=layout)
    both(lambda m, x, y: getattr(m, op)(x, 1), a, b, layout=layout)


@needs_torch
def test_eq_with_non_tensor():
    x = ember.tensor([1, 2])
    assert (x == "a") is False and (x != None) is True  # noqa: E711


@needs_torch
def test_logical_ops():
    a = np.array([True, False, True, False])
    b = np.array([True, True, False, False])
    both(lambda m, x, y: x & y, a, b)
    both(lambda m, x, y: x | y, a, b)
    both(lambda m, x, y: x ^ y, a, b)
    both(lambda m, x, y: ~x, a, b)
    both(lambda m, x, y: m.logical_and(x, y), a, b)
    both(lambda m, x, y: m.logical_not(x), a, b)
    both(lambda m, x, y: (x.long() + 2) > y.long(), a, b)


# ---------------------------------------------------------------- in-place ops keep identity

@pytest.mark.parametrize("op", ["iadd", "isub", "imul", "itruediv"])
@pytest.mark.parametrize("other", ["tensor", "row", "scalar", "int"])
@needs_torch
def test_inplace_operators(op, other):
    a = sample((3, 4), "float32", 20)
    b = _positive((3, 4), "float32", 21)

    def run(m, x, y):
        operand = {"tensor": y, "row": y[0], "scalar": 2.5, "int": 3}[other]
        before = id(x)
        x = getattr(operator, op)(x, operand)
        assert id(x) == before
        return x
    both(run, a, b)


@pytest.mark.parametrize("call", [
    lambda m, x, y: x.add_(y),
    lambda m, x, y: x.add_(y, alpha=2),
    lambda m, x, y: x.sub_(1),
    lambda m, x, y: x.mul_(y[:, :1]),
    lambda m, x, y: x.div_(2),
    lambda m, x, y: x.zero_(),
    lambda m, x, y: x.fill_(3.5),
    lambda m, x, y: x.fill_(m.tensor(2.0)),
    lambda m, x, y: x.copy_(y),
    lambda m, x, y: x.copy_(y[0]),
    lambda m, x, y: x.copy_(y.long()),
    lambda m, x, y: x.clamp_(-1, 1),
    lambda m, x, y: x.exp_(),
    lambda m, x, y: x.abs_(),
    lambda m, x, y: x.neg_(),
    lambda m, x, y: x.relu_(),
    lambda m, x, y: x.pow_(2),
    lambda m, x, y: x.t().add_(1),
    lambda m, x, y: x[:, ::2].mul_(10),
    lambda m, x, y: x[1].fill_(-1),
])
@needs_torch
def test_inplace_methods(call):
    a = sample((3, 4), "float32", 22)
    b = _positive((3, 4), "float32", 23)

    def run(m, x, y):
        r = call(m, x, y)
        return r, x
    e, _ = both(run, a, b)


@needs_torch
def test_inplace_methods_return_self():
    x = ember.ones(3)
    assert x.add_(1) is x and x.mul_(2) is x and x.zero_() is x and x.fill_(1) is x
    assert x.copy_(ember.zeros(3)) is x and x.sub_(1) is x and x.div_(2) is x


@pytest.mark.parametrize("da,db", [("float32", "float64"), ("float32", "int64"), ("int64", "int64"),
                                   ("int32", "int64"), ("float64", "float32")])
@needs_torch
def test_inplace_promotion(da, db):
    a = sample((2, 3), da, 24)
    b = _positive((2, 3), db, 25)
    both(lambda m, x, y: x.add_(y), a, b)


@pytest.mark.parametrize("da,db,op", [("int64", "float32", "iadd"), ("int64", "int64", "itruediv"),
                                      ("bool", "int64", "iadd"), ("int32", "float64", "imul")])
@needs_torch
def test_inplace_cannot_cast_result(da, db, op):
    a = _positive((2, 3), da, 26)
    b = _positive((2, 3), db, 27)
    agree(lambda m, x, y: getattr(operator, op)(x, y), a, b)


@needs_torch
def test_inplace_broadcast_target_error():
    agree(lambda m, x, y: x.add_(y), np.ones((1, 3), np.float32), np.ones((2, 3), np.float32))


def test_inplace_on_view_updates_base():
    x = ember.zeros(3, 4)
    x[1].add_(5)
    x[:, 2] += 1
    x.t()[0].fill_(7)
    expected = np.zeros((3, 4), np.float32)
    expected[1] += 5
    expected[:, 2] += 1
    expected[:, 0] = 7
    np.testing.assert_array_equal(x.numpy(), expected)


def test_inplace_bumps_version():
    x = ember.zeros(3)
    v = x._version
    x += 1
    x.add_(1)
    x[0] = 3
    assert x._version >= v + 3
