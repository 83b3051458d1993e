"""Uniform(low, high) on [low, high)."""
import ember

from ._shape import sample_shape as _shape


class Uniform:
    def __init__(self, low, high, validate_args=None):
        self.low = low if isinstance(low, ember.Tensor) else ember.tensor(float(low))
        self.high = high if isinstance(high, ember.Tensor) else ember.tensor(float(high))
        if bool((self.low >= self.high).any()):
            raise ValueError("Uniform requires low < high")

    @property
    def mean(self):
        return (self.low + self.high) / 2

    def sample(self, sample_shape=()):
        with ember.no_grad():
            batch = list(ember.broadcast_shapes(self.low.shape, self.high.shape))
            u = ember.rand(*(_shape(sample_shape) + batch), dtype=self.low.dtype)
            return self.low + u * (self.high - self.low)
