"""Bernoulli: 1 with probability p, else 0."""
import ember

from ._shape import sample_shape as _shape


class Bernoulli:
    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is None:
            probs = ember.sigmoid(logits)
        self.probs = probs if isinstance(probs, ember.Tensor) else ember.tensor(float(probs))

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        with ember.no_grad():
            shape = _shape(sample_shape) + list(self.probs.shape)
            u = ember.rand(*shape, dtype=self.probs.dtype, device=self.probs.device)
            return (u < self.probs).to(self.probs.dtype)
