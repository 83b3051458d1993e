"""Normal(loc, scale)."""
import ember

from ._shape import sample_shape as _shape


class Normal:
    def __init__(self, loc, scale, validate_args=None):
        self.loc = loc if isinstance(loc, ember.Tensor) else ember.tensor(float(loc))
        self.scale = scale if isinstance(scale, ember.Tensor) else ember.tensor(float(scale))
        if bool((self.scale <= 0).any()):
            raise ValueError("scale must be positive")

    @property
    def mean(self):
        return self.loc

    @property
    def variance(self):
        return self.scale ** 2

    def sample(self, sample_shape=()):
        with ember.no_grad():
            batch = list(ember.broadcast_shapes(self.loc.shape, self.scale.shape))
            return ember.randn(*(_shape(sample_shape) + batch), dtype=self.loc.dtype) * self.scale + self.loc
