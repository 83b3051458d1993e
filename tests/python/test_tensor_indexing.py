"""Indexing and index assignment (ints, negative ints, slices with steps, None,
..., bool masks, integer tensors, several and non-adjacent index tensors),
compared with PyTorch; views share memory with their base."""
import numpy as np
import pytest

import ember
from _tensor_oracle import LAYOUTS, agree, both, needs_torch, sample, torch


def _idx(m):
    """Index expressions for a (4, 5, 6) tensor, built with module m."""
    i = lambda v, **kw: m.tensor(v, **kw)  # noqa: E731
    return [
        1, -1, -4, (1, 2), (1, 2, 3), (-1, -2, -3), (slice(None), 2), (Ellipsis, 3), (1, Ellipsis),
        slice(1, 3), slice(None, None, 2), slice(None, None, 3), slice(-3, None), slice(1, -1, 2), slice(10, 20),
        slice(3, 1), (slice(None), slice(None), slice(None, None, 4)), (slice(1, None, 2), slice(None, 4, 3)),
        None, (None, 1), (1, None, slice(None), None), (Ellipsis, None), (None, Ellipsis, None),
        (slice(None), None, 2),
        i([0, 2]), i([-1, 0, 0]), i([[0, 1], [2, 3]]), (i([0, 1]), i([1, 2])), (i([0, 1]), slice(None), i([2, 3])),
        (slice(None), i([0, 4])), (1, i([0, 4])), (i([0, 3]), 1), (i([[0], [3]]), i([1, 2])),
        (slice(None), i([1, 2]), i([0, 5])), (i([1, 2]), slice(1, 3), i([0, 1])), (Ellipsis, i([5, 0])),
        (i([0, 1]), None, i([1, 2])), (i(1), slice(None)), i([True, False, True, False]),
        (slice(None), i([True, False, True, False, True])), (i(2), i([1, 2])), i([], dtype=m.int64),
        (1, slice(None), i([0, 0, 1])), i([0, 1], dtype=m.int32), (i([[True] * 5] * 4)),
        (i([1, 2]), Ellipsis), (None, i([1]), None),
    ]


N_IDX = len(_idx(ember))


@pytest.mark.parametrize("k", range(N_IDX))
@pytest.mark.parametrize("layout", LAYOUTS)
@needs_torch
def test_getitem(k, layout):
    a = sample((4, 5, 6), "float32", 1)
    both(lambda m, x: x[_idx(m)[k]], a, layout=layout)


@pytest.mark.parametrize("k", range(N_IDX))
@needs_torch
def test_getitem_int_bool_dtypes(k):
    both(lambda m, x: x[_idx(m)[k]], sample((4, 5, 6), "int64", 2))
    both(lambda m, x: x[_idx(m)[k]], sample((4, 5, 6), "bool", 3))


@pytest.mark.parametrize("k", range(N_IDX))
@pytest.mark.parametrize("value", ["scalar", "int", "tensor", "row"])
@pytest.mark.parametrize("layout", ["contig", "T"])
@needs_torch
def test_setitem(k, value, layout):
    a = sample((4, 5, 6), "float32", 4)

    def run(m, x):
        idx = _idx(m)[k]
        target_shape = x[idx].shape
        if value == "scalar":
            v = 2.5
        elif value == "int":
            v = -7
        elif value == "tensor":
            v = m.arange(int(np.prod(target_shape)), dtype=m.float32).reshape(target_shape)
        else:
            v = m.arange(target_shape[-1] if len(target_shape) else 1, dtype=m.float32) + 100
            if not len(target_shape):
                v = v[0]
        before = id(x)
        x[idx] = v
        assert id(x) == before
        return x
    both(run, a, layout=layout)


@pytest.mark.parametrize("k", range(N_IDX))
@needs_torch
def test_setitem_int_target(k):
    def run(m, x):
        x[_idx(m)[k]] = 9
        return x
    both(run, sample((4, 5, 6), "int64", 5))


@needs_torch
def test_getitem_0d_and_empty():
    both(lambda m, x: x[()], np.float32(3.0))
    both(lambda m, x: x[None], np.float32(3.0))
    both(lambda m, x: x[...], np.float32(3.0))
    both(lambda m, x: x[m.tensor(True)], np.float32(3.0))
    both(lambda m, x: x[m.tensor(False)], np.float32(3.0))
    both(lambda m, x: x[1:], np.zeros((0, 3), np.float32))
    both(lambda m, x: x[:, 1], np.zeros((0, 3), np.float32))
    both(lambda m, x: x[x > 0], np.zeros((0, 3), np.float32))
    both(lambda m, x: x[m.tensor([], dtype=m.int64)], np.zeros((0, 3), np.float32))


@needs_torch
def test_bool_mask_indexing():
    a = sample((3, 4), "float32", 6)
    both(lambda m, x: x[x > 0], a)
    both(lambda m, x: x[(x > 0)[:, 0]], a)
    both(lambda m, x: x[:, (x > 0)[0]], a)
    both(lambda m, x: x.t()[(x > 0).t()], a)

    def assign(m, x):
        x[x > 0] = 0
        x[x < -1] = m.tensor(-1.0)
        return x
    both(assign, a)

    def assign_values(m, x):
        mask = x > 0
        x[mask] = m.arange(int(mask.sum()), dtype=m.float32)
        return x
    both(assign_values, a)

    def masked_fill(m, x):
        return x.masked_fill(x > 1, -5.0), x.masked_fill_(x < 0, 0)
    both(masked_fill, a)


@needs_torch
def test_index_with_lists_and_numpy():
    a = sample((4, 5), "float32", 7)
    both(lambda m, x: x[[0, 2]], a)
    both(lambda m, x: x[[0, 2], [1, 3]], a)
    both(lambda m, x: x[[True, False, True, True]], a)
    both(lambda m, x: x[np.array([3, 1])], a)
    both(lambda m, x: x[np.int64(2)], a)
    both(lambda m, x: x[m.tensor(2)], a)
    both(lambda m, x: x[:, m.tensor(-1)], a)


@needs_torch
def test_duplicate_index_assignment_takes_a_value():
    """x[[0, 0]] = v: which write wins is unspecified in PyTorch; any value is fine."""
    x = ember.zeros(3)
    x[ember.tensor([0, 0])] = ember.tensor([1.0, 2.0])
    assert x[0].item() in (1.0, 2.0) and x[1].item() == 0


def test_views_share_memory():
    x = ember.arange(12, dtype=ember.float32).reshape(3, 4)
    row = x[1]
    row[0] = 100
    col = x[:, 2]
    col += 1
    sub = x[::2, 1::2]
    sub.fill_(-1)
    e = x[..., None]
    e[0, 0, 0] = 55
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    expected[1, 0] = 100
    expected[:, 2] += 1
    expected[::2, 1::2] = -1
    expected[0, 0] = 55
    np.testing.assert_array_equal(x.numpy(), expected)
    # advanced indexing copies
    c = x[ember.tensor([0, 1])]
    c.fill_(0)
    np.testing.assert_array_equal(x.numpy(), expected)


def test_slices_and_strides_without_torch():
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    x = ember.tensor(a)
    for idx in [(1,), (slice(None, None, 2),), (Ellipsis, slice(1, None, 3)), (-1, slice(None), 2),
                (None, 0), (slice(None), [0, 2]), ([0, 2], slice(None), [1, 4])]:
        np.testing.assert_array_equal(x[idx].numpy(), a[idx])


@pytest.mark.parametrize("layout", LAYOUTS)
@needs_torch
def test_setitem_broadcast_and_dtype_cast(layout):
    a = sample((3, 4), "float32", 8)

    def run(m, x):
        x[0:2, :] = 12
        x[:, 1] = m.tensor([1, 2, 3])  # int values into a float tensor
        x[2] = m.tensor([[7.0]])[0]
        x[-1, ::2] = m.tensor(5.0, dtype=m.float64)
        x[1:, None, 3] = m.tensor([[-1.0], [-2.0]])
        return x
    both(run, a, layout=layout)

    def to_int(m, x):
        y = x.long()
        y[0] = 2.7  # truncated into the int tensor
        y[1, 1:3] = m.tensor([3.9, -3.9])
        return y
    both(to_int, a, layout=layout)


@needs_torch
def test_setitem_value_needs_broadcast_error():
    a = sample((3, 4), "float32", 9)

    def run(m, x):
        x[0:2] = m.ones(3, 4)
    agree(run, a)

    def run2(m, x):
        x[m.tensor([0, 1])] = m.ones(3)
    agree(run2, a)


# x[idx] along dim 0 with contiguous rows copies whole rows (take_rows);
# other layouts build per-element offsets. Both must give numpy's answer.
@pytest.mark.parametrize("make", [
    lambda a: a,                                  # contiguous rows
    lambda a: a[2:9],                             # a slice along dim 0: still whole rows
    lambda a: a[::2],                             # a row stride of two rows
    lambda a: a[:, :, :3],                        # rows no longer contiguous: offsets path
    lambda a: a.swapaxes(0, 1) if isinstance(a, np.ndarray) else a.transpose(0, 1),  # offsets path
    lambda a: a[:, 1],                            # a basic index first, rows of 4
])
@pytest.mark.parametrize("index", [[2, 0, 2, -1], [[1, 2], [0, 0]], []])
def test_row_gather_matches_numpy(make, index):
    base = np.arange(10 * 3 * 4, dtype=np.float32).reshape(10, 3, 4)
    view_np = make(base)
    view_e = make(ember.from_numpy(base))
    idx = np.array(index, dtype=np.int64).reshape(np.shape(index))
    got = view_e[ember.from_numpy(idx)]
    np.testing.assert_array_equal(got.numpy(), view_np[idx])
    assert tuple(got.shape) == view_np[idx].shape


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int8, np.int32, np.int64, np.bool_, np.uint8])
def test_row_gather_every_element_size(dtype):
    base = (np.arange(7 * 5) % 3).astype(dtype).reshape(7, 5)
    idx = np.array([6, 1, 1, 0])
    np.testing.assert_array_equal(ember.from_numpy(base)[ember.from_numpy(idx)].numpy(), base[idx])
    np.testing.assert_array_equal(ember.index_select(ember.from_numpy(base), 0, ember.from_numpy(idx)).numpy(),
                                  base[idx])


def test_row_gather_errors_and_gradient():
    x = ember.arange(12.0).reshape(4, 3)
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size 4"):
        x[ember.tensor([0, 4])]
    with pytest.raises(IndexError, match="out of bounds"):
        x[ember.tensor([-5])]
    assert tuple(ember.zeros(0, 3)[ember.tensor([], dtype=ember.int64)].shape) == (0, 3)
    w = ember.ones(4, 3, requires_grad=True)
    w[ember.tensor([1, 1, 3])].sum().backward()
    assert w.grad.tolist() == [[0.0] * 3, [2.0] * 3, [0.0] * 3, [1.0] * 3]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_index_backward_accumulates_16bit_floats(dtype):
    # Repeated indices add their gradients; for 16-bit floats the sum must be
    # taken on the values (in float32), not on the raw 16-bit words.
    w = ember.ones(4, 3, dtype=getattr(ember, dtype), requires_grad=True)
    (w[ember.tensor([1, 1, 3])] * 1.5).sum().backward()
    assert w.grad.dtype == getattr(ember, dtype)
    assert w.grad.float().tolist() == [[0.0] * 3, [3.0] * 3, [0.0] * 3, [1.5] * 3]
    v = ember.ones(6, dtype=getattr(ember, dtype), requires_grad=True)
    v[ember.tensor([[0, 0], [0, 5]])].sum().backward()  # an index with its own shape
    assert v.grad.float().tolist() == [3.0, 0.0, 0.0, 0.0, 0.0, 1.0]
