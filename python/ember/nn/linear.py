"""Identity, Linear and LazyLinear."""

import math

import ember

from . import init
from .module import Module
from .lazy import LazyModuleMixin
from .parameter import Parameter, UninitializedParameter

_linear = ember._C.linear

__all__ = ["Identity", "Linear", "LazyLinear"]


class Identity(Module):
    """Returns its input unchanged (accepts and ignores any constructor arguments)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


def _factory_kwargs(device, dtype):
    kwargs = {}
    if device is not None:
        kwargs["device"] = device
    if dtype is not None:
        kwargs["dtype"] = dtype
    return kwargs


class Linear(Module):
    """``y = x @ weight.T + bias`` with weight [out_features, in_features].

    Initialized as PyTorch does: weight by kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(in), 1/sqrt(in)), and bias by U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        kw = _factory_kwargs(device, dtype)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(ember.empty((out_features, in_features), **kw))
        if bias:
            self.bias = Parameter(ember.empty((out_features,), **kw))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        # The parameters straight from their dict and the fused core op:
        # two __getattr__ misses and a wrapper call were a fifth of a small
        # Linear's time (D2L's 2x20 MLP).
        params = self._parameters
        return _linear(input, params["weight"], params["bias"])

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear whose in_features is inferred from the first input.

    Until then its weight and bias are UninitializedParameters; the first
    forward (or a load_state_dict) gives them their shapes, and the first
    forward turns the module into a plain :class:`Linear`.
    """

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        Module.__init__(self)
        kw = _factory_kwargs(device, dtype)
        self.in_features = 0
        self.out_features = out_features
        self.weight = UninitializedParameter(**kw)
        if bias:
            self.bias = UninitializedParameter(**kw)
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            with ember.no_grad():
                self.in_features = input.shape[-1]
                self.weight.materialize((self.out_features, self.in_features))
                if self.bias is not None:
                    self.bias.materialize((self.out_features,))
                self.reset_parameters()

    def forward(self, input):
        self.initialize_parameters(input)
        if self.in_features == 0:  # parameters came from load_state_dict
            self.in_features = self.weight.shape[1]
        self.__class__ = self.cls_to_become
        return Linear.forward(self, input)
