"""ember.distributions: shapes, value ranges, reproducibility and sample
statistics of the samplers D2L's probability section uses."""
import numpy as np
import pytest

import ember
from ember.distributions import Bernoulli, Categorical, Multinomial, Normal, Uniform, multinomial


def test_d2l_die_rolls():
    ember.manual_seed(0)
    fair_probs = ember.ones([6]) / 6
    one = multinomial.Multinomial(1, fair_probs).sample()
    assert one.shape == (6,) and one.sum().item() == 1 and one.dtype == ember.float32
    counts = multinomial.Multinomial(1000, fair_probs).sample()
    assert counts.sum().item() == 1000
    np.testing.assert_allclose((counts / 1000).numpy(), np.full(6, 1 / 6), atol=0.05)
    counts = multinomial.Multinomial(10, fair_probs).sample((500,))
    assert counts.shape == (500, 6)
    assert (counts.sum(dim=1) == 10).all()
    cum_counts = counts.cumsum(dim=0)
    estimates = cum_counts / cum_counts.sum(dim=1, keepdims=True)
    np.testing.assert_allclose(estimates[-1].numpy(), np.full(6, 1 / 6), atol=0.03)


def test_samples_repeat_with_the_seed():
    probs = ember.tensor([0.2, 0.5, 0.3])
    ember.manual_seed(3)
    a = Multinomial(7, probs).sample((4,))
    ember.manual_seed(3)
    b = Multinomial(7, probs).sample((4,))
    assert (a == b).all()


def test_categorical_frequencies_follow_probs():
    ember.manual_seed(1)
    draws = Categorical(ember.tensor([0.1, 0.0, 0.9])).sample((20000,)).numpy()
    assert draws.min() >= 0 and draws.max() <= 2
    assert (draws == 1).sum() == 0
    assert abs((draws == 2).mean() - 0.9) < 0.01


def test_continuous_and_bernoulli_moments():
    ember.manual_seed(2)
    n = Normal(1.0, 2.0).sample((20000,))
    assert abs(n.mean().item() - 1.0) < 0.05 and abs(n.std().item() - 2.0) < 0.05
    u = Uniform(-1.0, 3.0).sample((20000,))
    assert u.min().item() >= -1.0 and u.max().item() < 3.0 and abs(u.mean().item() - 1.0) < 0.05
    b = Bernoulli(0.3).sample((20000,))
    assert set(np.unique(b.numpy())) <= {0.0, 1.0} and abs(b.mean().item() - 0.3) < 0.02


@pytest.mark.parametrize("make", [
    lambda: Categorical(ember.tensor([0.5, -0.1])),
    lambda: Categorical(),
    lambda: Multinomial(-1, ember.ones(3)),
    lambda: Normal(0.0, -1.0),
    lambda: Uniform(1.0, 1.0),
])
def test_bad_parameters_raise(make):
    with pytest.raises(ValueError):
        make()
