"""utils.data: Dataset, TensorDataset, DataLoader batching, collation and shuffling."""

import numpy as np
import pytest

import ember
from ember.utils import data

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _features(n=10):
    X = ember.tensor(np.arange(n * 2, dtype=np.float32).reshape(n, 2))
    y = ember.tensor(np.arange(n, dtype=np.int64))
    return X, y


def test_tensor_dataset():
    X, y = _features()
    ds = data.TensorDataset(X, y)
    assert len(ds) == 10
    a, b = ds[3]
    assert _np(a).tolist() == [6.0, 7.0] and int(b) == 3
    with pytest.raises(ValueError):
        data.TensorDataset(X, ember.zeros(3))


@pytest.mark.parametrize("batch_size,drop_last", [(3, False), (3, True), (5, False), (1, False),
                                                  (10, True), (20, False), (20, True)])
def test_batching_matches_pytorch(batch_size, drop_last):
    X, y = _features()
    loader = data.DataLoader(data.TensorDataset(X, y), batch_size, drop_last=drop_last)
    tX, ty = torch.tensor(_np(X)), torch.tensor(_np(y))
    tloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(tX, ty), batch_size,
                                          drop_last=drop_last)
    assert len(loader) == len(tloader)
    batches, tbatches = list(loader), list(tloader)
    assert len(batches) == len(tbatches)
    for b, tb in zip(batches, tbatches):
        assert isinstance(b, list) and len(b) == 2
        assert b[0].dtype == ember.float32 and b[1].dtype == ember.int64
        np.testing.assert_array_equal(_np(b[0]), tb[0].numpy())
        np.testing.assert_array_equal(_np(b[1]), tb[1].numpy())


def test_shuffle_is_a_seeded_permutation():
    X, y = _features(50)
    loader = data.DataLoader(data.TensorDataset(X, y), batch_size=8, shuffle=True)
    ember.manual_seed(0)
    first = np.concatenate([_np(b[1]) for b in loader])
    assert sorted(first.tolist()) == list(range(50))
    second = np.concatenate([_np(b[1]) for b in loader])
    assert not np.array_equal(first, second)  # a new order each epoch
    ember.manual_seed(0)
    again = np.concatenate([_np(b[1]) for b in loader])
    np.testing.assert_array_equal(first, again)
    for xb, yb in loader:  # rows stay paired with their labels
        np.testing.assert_array_equal(_np(xb)[:, 0], _np(yb) * 2)


class Squares(data.Dataset):
    """A map-style dataset returning mixed Python and tensor fields."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return (ember.full((2,), float(i)), i, float(i) / 2,
                {"sq": i * i, "t": ember.tensor([i, -i])}, f"s{i}")


class TSquares(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return (torch.full((2,), float(i)), i, float(i) / 2,
                {"sq": i * i, "t": torch.tensor([i, -i])}, f"s{i}")


def test_default_collate_like_pytorch():
    batch = next(iter(data.DataLoader(Squares(7), batch_size=4)))
    tbatch = next(iter(torch.utils.data.DataLoader(TSquares(7), batch_size=4)))
    assert type(batch) is list and len(batch) == 5
    np.testing.assert_array_equal(_np(batch[0]), tbatch[0].numpy())
    assert batch[1].dtype == ember.int64 and _np(batch[1]).tolist() == tbatch[1].tolist()
    assert batch[2].dtype == ember.float64 and _np(batch[2]).tolist() == tbatch[2].tolist()
    assert set(batch[3]) == {"sq", "t"}
    assert _np(batch[3]["sq"]).tolist() == tbatch[3]["sq"].tolist()
    np.testing.assert_array_equal(_np(batch[3]["t"]), tbatch[3]["t"].numpy())
    assert batch[4] == tbatch[4] == ("s0", "s1", "s2", "s3")
    assert len(data.DataLoader(Squares(7), batch_size=4)) == 2
    assert len(data.DataLoader(Squares(7), batch_size=4, drop_last=True)) == 1


def test_collate_fn_and_no_batching():
    loader = data.DataLoader(Squares(5), batch_size=2, collate_fn=lambda b: len(b))
    assert list(loader) == [2, 2, 1]
    single = list(data.DataLoader(Squares(3), batch_size=None))
    assert len(single) == 3 and single[2][1] == 2
    assert len(data.DataLoader(Squares(3), batch_size=None)) == 3


def test_num_workers_loads_every_sample():
    X, y = _features()
    loader = data.DataLoader(data.TensorDataset(X, y), 4, shuffle=True, num_workers=2)
    assert sum(int(b[1].numel()) for b in loader) == 10


def test_d2l_load_array():
    def load_array(data_arrays, batch_size, is_train=True):
        dataset = data.TensorDataset(*data_arrays)
        return data.DataLoader(dataset, batch_size, shuffle=is_train)

    features = ember.normal(0, 1, (1000, 2))
    labels = ember.normal(0, 1, (1000, 1))
    data_iter = load_array((features, labels), 10)
    X, y = next(iter(data_iter))
    assert tuple(X.shape) == (10, 2) and tuple(y.shape) == (10, 1)
    assert len(data_iter) == 100


def test_subset_concat_random_split():
    X, y = _features(10)
    ds = data.TensorDataset(X, y)
    sub = data.Subset(ds, [2, 5])
    assert len(sub) == 2 and int(sub[1][1]) == 5
    both = ds + sub
    assert len(both) == 12 and int(both[11][1]) == 5 and int(both[-1][1]) == 5
    a, b = data.random_split(ds, [7, 3])
    idx = sorted(int(a[i][1]) for i in range(7)) + sorted(int(b[i][1]) for i in range(3))
    assert sorted(idx) == list(range(10))


@pytest.mark.parametrize("shuffle", [False, True])
def test_tensor_batches_are_copies_matching_their_samples(shuffle):
    X, y = _features(23)
    X = X.reshape(23, 1, 2)  # images-like: rows with a size-1 dim
    loader = data.DataLoader(data.TensorDataset(X, y), batch_size=5, shuffle=shuffle)
    before = _np(X).copy()
    seen = []
    for xb, yb in loader:
        assert tuple(xb.shape[1:]) == (1, 2) and xb.dtype == ember.float32 and yb.dtype == ember.int64
        for row, label in zip(_np(xb), _np(yb)):
            np.testing.assert_array_equal(row, before[label])  # row i of X has label i
        seen.extend(_np(yb).tolist())
        xb.mul_(0)  # must not reach the dataset
    assert sorted(seen) == list(range(23))
    np.testing.assert_array_equal(_np(X), before)
