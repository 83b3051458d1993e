"""Bad inputs raise the exception type PyTorch raises, with the shapes/dtypes
in the message; random programs never crash the process."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
from _tensor_oracle import agree, needs_torch, raises_same, torch

F = np.arange(12, dtype=np.float32).reshape(3, 4)
I = np.arange(12).reshape(3, 4)

# (program, input, strings ember's message must contain)
_CASES = {
    "broadcast": (lambda m, x: x + m.ones(2, 4), F, ["[3, 4]", "[2, 4]"]),
    "broadcast_inplace": (lambda m, x: x[0].add_(m.ones(3, 4)), F, ["[4]", "[3, 4]"]),
    "broadcast_where": (lambda m, x: m.where(x > 0, x, m.ones(2)), F, ["4", "2"]),
    "broadcast_cmp": (lambda m, x: x == m.ones(5), F, ["4", "5"]),
    "reshape": (lambda m, x: x.reshape(5, 3), F, ["[5, 3]", "12"]),
    "reshape_two_minus_one": (lambda m, x: x.reshape(-1, -1), F, []),
    "reshape_neg": (lambda m, x: x.reshape(-2, 6), F, []),
    "view_noncontig": (lambda m, x: x.t().view(12), F, ["view"]),
    "expand": (lambda m, x: x.expand(2, 4), F, []),
    "expand_fewer_dims": (lambda m, x: x.expand(4), F, []),
    "index_int": (lambda m, x: x[3], F, ["3"]),
    "index_neg": (lambda m, x: x[-4], F, ["-4"]),
    "index_dim1": (lambda m, x: x[0, 4], F, ["4"]),
    "index_ellipsis": (lambda m, x: x[..., 9], F, ["9"]),
    "index_too_many": (lambda m, x: x[0, 0, 0], F, ["too many indices"]),
    "index_too_many_slices": (lambda m, x: x[:, :, :], F, ["too many indices"]),
    "index_float": (lambda m, x: x[1.5], F, []),
    "index_str": (lambda m, x: x["a"], F, []),
    "index_tensor_oob": (lambda m, x: x[m.tensor([0, 5])], F, ["5"]),
    "index_tensor_neg_oob": (lambda m, x: x[:, m.tensor([-5])], F, ["-5"]),
    "index_tensor_float": (lambda m, x: x[m.tensor([0.0, 1.0])], F, []),
    "index_mask_shape": (lambda m, x: x[m.tensor([True, False])], F, ["[2]", "[3, 4]"]),
    "index_tensors_mismatch": (lambda m, x: x[m.tensor([0, 1]), m.tensor([0, 1, 2])], F, []),
    "setitem_oob": (lambda m, x: x.__setitem__(5, 1.0), F, ["5"]),
    "setitem_tensor_oob": (lambda m, x: x.__setitem__(m.tensor([7]), 1.0), F, ["7"]),
    "setitem_shape": (lambda m, x: x.__setitem__(slice(0, 2), m.ones(3)), F, []),
    "setitem_too_many": (lambda m, x: x.__setitem__((0, 0, 0), 1.0), F, []),
    "matmul_shapes": (lambda m, x: x @ m.ones(3, 2), F, ["3x4", "3x2"]),
    "matmul_dtypes": (lambda m, x: x @ m.ones(4, 2, dtype=m.float64), F, ["float32", "float64"]),
    "matmul_0d": (lambda m, x: x @ m.tensor(1.0), F, []),
    "mm_1d": (lambda m, x: m.mm(x, m.ones(4)), F, []),
    "mv_shapes": (lambda m, x: m.mv(x, m.ones(3)), F, []),
    "dot_2d": (lambda m, x: m.dot(x, x), F, []),
    "dot_dtypes": (lambda m, x: m.dot(x[0], m.ones(4, dtype=m.int64)), F, []),
    "bmm_batch": (lambda m, x: m.bmm(x.reshape(1, 3, 4), m.ones(2, 4, 1)), F, []),
    "matmul_batch": (lambda m, x: x.reshape(3, 1, 4) @ m.ones(2, 4, 1), F, []),
    "cat_shapes": (lambda m, x: m.cat((x, m.ones(3, 3)), dim=0), F, ["4", "3"]),
    "cat_ndim": (lambda m, x: m.cat((x, m.ones(4)), dim=0), F, []),
    "cat_dim": (lambda m, x: m.cat((x, x), dim=2), F, []),
    "cat_empty_list": (lambda m, x: m.cat([]), F, []),
    "stack_shapes": (lambda m, x: m.stack((x, x[:2])), F, []),
    "stack_dim": (lambda m, x: m.stack((x, x), dim=4), F, []),
    "sum_dim": (lambda m, x: x.sum(2), F, ["2"]),
    "sum_dim_neg": (lambda m, x: x.sum(-3), F, ["-3"]),
    "sum_dims_repeat": (lambda m, x: x.sum((0, 0)), F, []),
    "mean_int": (lambda m, x: x.long().mean(), F, ["int64"]),
    "max_dim": (lambda m, x: x.max(2), F, []),
    "argmax_dim": (lambda m, x: x.argmax(5), F, []),
    "max_empty": (lambda m, x: x[:0].max(), F, []),
    "argmax_empty": (lambda m, x: x[:0].argmax(), F, []),
    "cumsum_dim": (lambda m, x: x.cumsum(2), F, []),
    "norm_dim": (lambda m, x: x.norm(dim=3), F, []),
    "transpose_dim": (lambda m, x: x.transpose(0, 2), F, []),
    "permute_repeat": (lambda m, x: x.permute(0, 0), F, []),
    "permute_len": (lambda m, x: x.permute(0), F, []),
    "unsqueeze_dim": (lambda m, x: x.unsqueeze(3), F, []),
    "squeeze_dim": (lambda m, x: x.squeeze(2), F, []),
    "flatten_dims": (lambda m, x: x.flatten(1, 0), F, []),
    "split_sizes": (lambda m, x: x.split([1, 1]), F, []),
    "split_dim": (lambda m, x: x.split(1, dim=2), F, []),
    "chunk_zero": (lambda m, x: x.chunk(0), F, []),
    "size_dim": (lambda m, x: x.size(2), F, []),
    "item_many": (lambda m, x: x.item(), F, []),
    "bool_many": (lambda m, x: bool(x), F, []),
    "len_0d": (lambda m, x: len(x[0, 0]), F, []),
    "int_div_zero": (lambda m, x: x // m.zeros(3, 4, dtype=m.int64), I, []),
    "int_mod_zero": (lambda m, x: x % 0, I, []),
    "int_neg_pow": (lambda m, x: x ** -1, I, []),
    "add_str": (lambda m, x: x + "a", F, []),
    "mul_list": (lambda m, x: x * [1, 2], F, []),
    "requires_grad_int": (lambda m, x: x.requires_grad_(), I, []),
    "bitwise_float": (lambda m, x: x & x, F, []),
    "sub_bool": (lambda m, x: (x > 0) - (x > 1), F, []),
    "neg_bool": (lambda m, x: -(x > 0), F, []),
    "inplace_int_float": (lambda m, x: x.add_(0.5), I, []),
    "inplace_int_div": (lambda m, x: x.div_(2), I, []),
    "copy_shape": (lambda m, x: x.copy_(m.ones(5)), F, []),
    "fill_nonscalar": (lambda m, x: x.fill_(m.ones(2)), F, []),
    "clamp_none": (lambda m, x: x.clamp(), F, []),
    "where_cond_float": (lambda m, x: m.where(x, x, x), F, []),
    "numpy_grad": (lambda m, x: x.requires_grad_().numpy(), F, []),
    "masked_fill_shape": (lambda m, x: x.masked_fill(m.tensor([True, False]), 0.0), F, []),
    "index_select_dim": (lambda m, x: x.index_select(2, m.tensor([0])), F, []),
    "gather_dim": (lambda m, x: x.gather(0, m.tensor([[5]])), F, []),
}


@pytest.mark.parametrize("name", list(_CASES))
@needs_torch
def test_error_like_pytorch(name):
    fn, arr, match = _CASES[name]
    raises_same(fn, arr.copy(), match=match)


@pytest.mark.parametrize("call", [
    lambda m: m.tensor([[1, 2], [3]]),
    lambda m: m.tensor("abc"),
    lambda m: m.tensor([1, "a"]),
    lambda m: m.tensor({"a": 1}),
    lambda m: m.tensor(object()),
    lambda m: m.zeros(-1),
    lambda m: m.zeros(2.5),
    lambda m: m.zeros((2, "a")),
    lambda m: m.ones(2, 3, dtype="float"),
    lambda m: m.arange(0, 10, 0),
    lambda m: m.arange(10, 0, 1),
    lambda m: m.arange(m.tensor([1, 2])),
    lambda m: m.randint(5, 2, (3,)),
    lambda m: m.eye(-1),
    lambda m: m.linspace(0, 1, -1),
    lambda m: m.full((2,), "x"),
    lambda m: m.from_numpy(np.array([1, "a"], dtype=object)),
    lambda m: m.from_numpy(np.arange(4)[::-1]),
    lambda m: m.from_numpy([1, 2]),
    lambda m: m.tensor([1.0]).to("tpu"),
    lambda m: m.device("nope"),
    lambda m: m.ones(2).type("torch.NopeTensor" if m is torch else "ember.NopeTensor"),
    lambda m: m.tensor([2 ** 70]),
    lambda m: m.ones(3).reshape(2, "a"),
    lambda m: m.ones(3).sum(dim="a"),
    lambda m: m.ones(3)[m.tensor([[0]], dtype=m.float32)],
    lambda m: m.ones(3, 4).max(dim=(0, 1)),
])
@needs_torch
def test_construction_errors_like_pytorch(call):
    raises_same(lambda m: call(m))


def test_errors_without_torch():
    x = ember.ones(3, 4)
    with pytest.raises(RuntimeError, match=r"\[3, 4\]"):
        x + ember.ones(2, 4)
    with pytest.raises(RuntimeError, match="12"):
        x.reshape(5, 3)
    with pytest.raises(IndexError):
        x[3]
    with pytest.raises(IndexError):
        x[ember.tensor([0, 9])]
    with pytest.raises(IndexError):
        x[0, 0, 0]
    with pytest.raises(IndexError):
        x.sum(2)
    with pytest.raises(RuntimeError):
        ember.cat((x, ember.ones(3, 3)))
    with pytest.raises(RuntimeError):
        x @ ember.ones(3, 2)
    with pytest.raises(TypeError):
        x + "a"
    with pytest.raises(TypeError, match="complex128"):  # ember has no complex dtypes
        ember.tensor(np.array([1 + 2j]))


def test_error_types_are_builtin_subclasses():
    assert issubclass(ember.OutOfMemoryError, RuntimeError)
    with pytest.raises(IndexError) as info:
        ember.zeros(2)[5]
    assert type(info.value) is IndexError or isinstance(info.value, IndexError)


# ---------------------------------------------------------------- fuzzing in a subprocess

_FUZZ = textwrap.dedent(r"""
    import random, sys
    import numpy as np
    import ember

    rng = random.Random(int(sys.argv[1]))
    ok_types = (RuntimeError, IndexError, TypeError, ValueError, NotImplementedError)
    DT = [ember.float32, ember.float64, ember.int64, ember.int32, ember.bool]

    def rshape():
        return tuple(rng.choice([0, 1, 1, 2, 3, 5]) for _ in range(rng.randint(0, 4)))

    def rtensor(shape=None):
        shape = rshape() if shape is None else shape
        t = ember.tensor(np.random.default_rng(rng.randint(0, 99)).standard_normal(shape) * 5).to(rng.choice(DT))
        r = rng.random()
        if r < 0.2 and t.dim() >= 2:
            t = t.transpose(0, -1)
        elif r < 0.35 and t.dim() >= 1:
            t = t[::rng.choice([1, 2])]
        return t

    def ridx(t):
        items = []
        for _ in range(rng.randint(0, t.dim() + 2)):
            k = rng.random()
            n = rng.randint(-6, 6)
            if k < 0.25:
                items.append(n)
            elif k < 0.45:
                items.append(slice(rng.choice([None, n]), rng.choice([None, n + 3]), rng.choice([None, 1, 2, 3])))
            elif k < 0.55:
                items.append(None)
            elif k < 0.6:
                items.append(Ellipsis)
            elif k < 0.8:
                items.append(ember.tensor([rng.randint(-6, 6) for _ in range(rng.randint(0, 3))], dtype=ember.int64))
            elif k < 0.9:
                items.append(ember.tensor([rng.random() < 0.5 for _ in range(rng.randint(0, 4))]))
            else:
                items.append(rng.choice([1.5, "x", [0, 1], ember.tensor([0.5])]))
        return tuple(items)

    OPS = [
        lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b, lambda a, b: a // b,
        lambda a, b: a % b, lambda a, b: a ** b, lambda a, b: a @ b, lambda a, b: a == b, lambda a, b: a < b,
        lambda a, b: ember.maximum(a, b), lambda a, b: ember.where(a > 0, a, b),
        lambda a, b: ember.cat((a, b), rng.randint(-3, 3)), lambda a, b: ember.stack((a, b), rng.randint(-3, 3)),
        lambda a, b: a.add_(b), lambda a, b: a.copy_(b), lambda a, b: a.__setitem__(ridx(a), b),
        lambda a, b: a[ridx(a)], lambda a, b: a.reshape(*rshape()), lambda a, b: a.view(*rshape()),
        lambda a, b: a.sum(rng.randint(-4, 4)), lambda a, b: a.max(rng.randint(-4, 4)),
        lambda a, b: a.argmax(), lambda a, b: a.cumsum(rng.randint(-4, 4)), lambda a, b: a.norm(),
        lambda a, b: a.mean((0, rng.randint(-3, 3))), lambda a, b: a.prod(),
        lambda a, b: a.permute(*[rng.randint(-3, 3) for _ in range(a.dim())]),
        lambda a, b: a.transpose(rng.randint(-3, 3), rng.randint(-3, 3)), lambda a, b: a.squeeze(rng.randint(-4, 4)),
        lambda a, b: a.unsqueeze(rng.randint(-5, 5)), lambda a, b: a.expand(*rshape()),
        lambda a, b: a.flatten(rng.randint(-3, 3), rng.randint(-3, 3)),
        lambda a, b: a.split(rng.randint(0, 3), rng.randint(-3, 3)),
        lambda a, b: a.chunk(rng.randint(0, 3), rng.randint(-3, 3)), lambda a, b: a.matmul(b.t() if b.dim() <= 2 else b),
        lambda a, b: ember.mm(a, b), lambda a, b: ember.bmm(a, b), lambda a, b: ember.mv(a, b),
        lambda a, b: ember.dot(a, b), lambda a, b: a.clamp(-1, 1), lambda a, b: a.exp().log().sqrt(),
        lambda a, b: a.tolist(), lambda a, b: a.item(), lambda a, b: repr(a), lambda a, b: a.numpy(),
        lambda a, b: a.masked_fill(b > 0, 1), lambda a, b: a.index_select(rng.randint(-2, 2), b.long()),
        lambda a, b: a.to(rng.choice(DT)), lambda a, b: a.__setitem__(ridx(a), rng.choice([1, 2.5, True])),
    ]
    counts = {}
    for i in range(int(sys.argv[2])):
        a = rtensor()
        b = rtensor(a.shape if rng.random() < 0.5 else None)
        op = rng.randrange(len(OPS))
        try:
            OPS[op](a, b)
            counts["ok"] = counts.get("ok", 0) + 1
        except ok_types as e:
            counts[type(e).__name__] = counts.get(type(e).__name__, 0) + 1
    print(counts)
""")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fuzz_no_crash(seed, tmp_path):
    script = tmp_path / "fuzz.py"
    script.write_text(_FUZZ)
    proc = subprocess.run([sys.executable, str(script), str(seed), "1500"], capture_output=True, text=True,
                          timeout=300, env=_env())
    assert proc.returncode == 0, f"fuzz seed {seed} exited with {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert "ok" in proc.stdout


def _env():
    """The child imports the same ember as this process."""
    import os
    import pathlib
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pathlib.Path(ember.__file__).parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_views_whose_size_overflows_int64_raise():
    import ember

    x = ember.ones(4)
    with pytest.raises(RuntimeError, match="as_strided"):
        ember._C.as_strided(x, [2**40, 2], [2**40, 1], 0)
    with pytest.raises(RuntimeError, match="int64"):
        ember.ones(1).expand(2**40, 2**40)


@pytest.mark.parametrize("op", [
    lambda t: t.neg_(), lambda t: t.relu_(), lambda t: t.add_(1), lambda t: t.mul_(ember.ones(2, 3)),
    lambda t: t.copy_(ember.zeros(2, 3)), lambda t: t.uniform_(), lambda t: t.normal_(), lambda t: t.clamp_(0),
])
def test_inplace_on_expanded_tensor_is_refused(op):
    # Several elements share one memory location: the result would depend on
    # the order of the writes, so PyTorch refuses, and so does ember.
    t = ember.ones(1, 3).expand(2, 3)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        op(t)
    assert t.tolist() == [[1.0] * 3] * 2


def test_fill_and_setitem_on_expanded_tensor_are_allowed():
    # As in PyTorch: every element gets the same value, whatever the order.
    base = ember.ones(1, 3)
    base.expand(2, 3).fill_(2.0)
    assert base.tolist() == [[2.0] * 3]
    base.expand(2, 3).zero_()
    assert base.tolist() == [[0.0] * 3]
