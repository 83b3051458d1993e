"""multinomial: shapes, dtype, the distribution it samples (with and without
replacement), zero-probability categories, seeding (the same draws on every
device), and PyTorch's argument errors."""
import numpy as np
import pytest

import ember

P = [0.1, 0.0, 0.6, 0.3]


def test_shapes_and_ranges():
    ember.manual_seed(0)
    p = ember.tensor(P)
    s = ember.multinomial(p, 7, replacement=True)
    assert s.shape == (7,) and s.dtype == ember.int64
    assert set(s.tolist()) <= {0, 2, 3}  # never a zero-probability category
    rows = ember.tensor([P, [1.0, 1.0, 1.0, 1.0]])
    s2 = rows.multinomial(3)
    assert s2.shape == (2, 3)
    for row in s2.tolist():
        assert len(set(row)) == 3  # without replacement: distinct
    assert ember.multinomial(ember.ones(0, 3), 2).shape == (0, 2)
    assert ember.multinomial(ember.tensor(P, dtype=ember.float64), 2).dtype == ember.int64
    assert ember.multinomial(ember.tensor(P, dtype=ember.bfloat16), 2, True).shape == (2,)
    # weights need not sum to 1
    assert set(ember.multinomial(ember.tensor([0.0, 5.0]), 4, True).tolist()) == {1}


def test_without_replacement_draws_zero_mass_last():
    ember.manual_seed(3)
    for _ in range(20):
        s = ember.multinomial(ember.tensor(P), 4).tolist()
        assert sorted(s) == [0, 1, 2, 3] and s[-1] == 1


@pytest.mark.parametrize("replacement", [True, False])
def test_sampled_distribution(replacement):
    ember.manual_seed(1)
    probs = np.array([0.05, 0.2, 0.0, 0.5, 0.25])
    rows = 20000
    draws = ember.multinomial(ember.tensor(np.tile(probs, (rows, 1))), 2, replacement).numpy()
    first = np.bincount(draws[:, 0], minlength=5) / rows
    np.testing.assert_allclose(first, probs, atol=0.015)  # ~4 sigma at this count
    if not replacement:
        assert np.all(draws[:, 0] != draws[:, 1])
        # second draw: P(j second) = sum_i p_i p_j / (1 - p_i)
        second = np.bincount(draws[:, 1], minlength=5) / rows
        expected = np.array([sum(probs[i] * probs[j] / (1 - probs[i]) for i in range(5) if i != j) for j in range(5)])
        np.testing.assert_allclose(second, expected, atol=0.015)
    else:
        second = np.bincount(draws[:, 1], minlength=5) / rows
        np.testing.assert_allclose(second, probs, atol=0.015)


def test_many_categories_with_replacement():
    ember.manual_seed(5)
    probs = np.random.default_rng(0).random(5000)
    probs[::7] = 0
    s = ember.multinomial(ember.tensor(probs), 200000, True).numpy()
    assert not np.isin(s, np.arange(0, 5000, 7)).any()
    freq = np.bincount(s, minlength=5000) / len(s)
    expected = probs / probs.sum()
    assert abs(freq[:200].sum() - expected[:200].sum()) < 0.01


def test_seed_reproducible():
    p = ember.tensor([[0.2, 0.3, 0.5], [0.5, 0.25, 0.25]])
    for replacement in (True, False):
        ember.manual_seed(42)
        a = ember.multinomial(p, 3, replacement)
        ember.manual_seed(42)
        b = ember.multinomial(p, 3, replacement)
        assert a.tolist() == b.tolist()
    ember.manual_seed(1)
    c = ember.multinomial(ember.ones(1000), 50)
    ember.manual_seed(2)
    assert c.tolist() != ember.multinomial(ember.ones(1000), 50).tolist()


@pytest.mark.skipif(ember.cuda.device_count() == 0, reason="needs a CUDA device")
def test_same_draws_on_cuda():
    p = ember.tensor(np.random.default_rng(2).random((8, 300)))
    for replacement in (True, False):
        ember.manual_seed(7)
        a = ember.multinomial(p, 40, replacement)
        ember.manual_seed(7)
        b = ember.multinomial(p.cuda(), 40, replacement)
        assert b.device.type == "cuda"
        assert a.tolist() == b.cpu().tolist()


def test_errors():
    p = ember.tensor(P)
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        ember.multinomial(p, 5)
    with pytest.raises(RuntimeError, match="cannot sample n_sample <= 0 samples"):
        ember.multinomial(p, 0)
    with pytest.raises(RuntimeError, match="cannot sample n_sample <= 0 samples"):
        ember.multinomial(p, -1, True)
    for bad in ([0.1, -1.0], [0.1, float("nan")], [0.1, float("inf")]):
        with pytest.raises(RuntimeError, match="probability tensor contains either `inf`, `nan` or element < 0"):
            ember.multinomial(ember.tensor(bad), 1)
    with pytest.raises(RuntimeError, match=r"invalid multinomial distribution \(sum of probabilities <= 0\)"):
        ember.multinomial(ember.tensor([[0.0, 0.0], [1.0, 1.0]]), 1)
    with pytest.raises(RuntimeError, match="prob_dist must be 1 or 2 dim"):
        ember.multinomial(ember.tensor(1.0), 1)
    with pytest.raises(RuntimeError, match="prob_dist must be 1 or 2 dim"):
        ember.multinomial(ember.ones(2, 2, 2), 1)
    with pytest.raises(RuntimeError, match="only supports floating-point dtypes for input, got: Long"):
        ember.multinomial(ember.ones(2, dtype=ember.int64), 1)
    with pytest.raises(TypeError, match="num_samples"):
        ember.multinomial(p, 1.5)


def test_errors_match_torch_types():
    torch = pytest.importorskip("torch")
    for args in [([0.1, -1.0], 1, False), ([0.0, 0.0], 1, False), ([0.5, 0.5], 3, False)]:
        with pytest.raises(RuntimeError) as te:
            torch.multinomial(torch.tensor(args[0]), args[1], args[2])
        with pytest.raises(RuntimeError) as ee:
            ember.multinomial(ember.tensor(args[0]), args[1], args[2])
        assert str(te.value).split("\n")[0] in str(ee.value)
