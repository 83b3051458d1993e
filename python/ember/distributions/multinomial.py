"""Multinomial: counts of total_count categorical draws per sample."""
import ember

from ._shape import sample_shape as _shape
from .categorical import Categorical


class Multinomial:
    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, int) or total_count < 0:
            raise ValueError(f"total_count must be a non-negative int, got {total_count!r}")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self.probs = self._categorical.probs

    @property
    def mean(self):
        return self.probs * self.total_count

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        """Counts (float, like PyTorch) of shape sample_shape + batch_shape + [k]."""
        with ember.no_grad():
            k = self.probs.shape[-1]
            draws = self._categorical.sample([self.total_count] + _shape(sample_shape))
            one_hot = (draws.unsqueeze(-1) == ember.arange(k, device=draws.device)).to(self.probs.dtype)
            return one_hot.sum(0)

