"""Categorical: one class index per draw, with probabilities over the last dim."""
import ember

from ._shape import sample_shape as _shape


class Categorical:
    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        probs = ember.softmax(logits, -1) if probs is None else probs
        if probs.dim() < 1:
            raise ValueError("`probs` parameter must be at least one-dimensional.")
        if bool((probs < 0).any()):
            raise ValueError("`probs` must be non-negative")
        self.probs = probs / probs.sum(-1, keepdim=True)

    @property
    def batch_shape(self):
        return ember.Size(self.probs.shape[:-1])

    def sample(self, sample_shape=()):
        """Class indices of shape sample_shape + batch_shape (inverse CDF)."""
        with ember.no_grad():
            shape = _shape(sample_shape) + list(self.batch_shape)
            cdf = self.probs.cumsum(-1)
            u = ember.rand(*shape, 1, dtype=cdf.dtype, device=cdf.device)
            # The class is the number of cumulative bins the uniform passed.
            index = (u >= cdf).sum(-1)
            return index.clamp(max=self.probs.shape[-1] - 1)

