"""BatchNorm1d/2d/3d and their lazy forms, with PyTorch's buffers and behaviour.

The normalization itself is one core op (``F.batch_norm``); the module owns
the parameters and buffers, the ``num_batches_tracked`` count, the choice
between batch and running statistics, and ``momentum=None``'s cumulative
moving average (momentum 1/num_batches_tracked), as PyTorch's module does.
"""

import ember

from . import functional as F
from . import init
from .module import Module
from .lazy import LazyModuleMixin
from .parameter import Parameter, UninitializedBuffer, UninitializedParameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d"]


def _factory_kwargs(device, dtype):
    kwargs = {}
    if device is not None:
        kwargs["device"] = device
    if dtype is not None:
        kwargs["dtype"] = dtype
    return kwargs


class _NormBase(Module):
    """Parameters (weight, bias) and buffers (running_mean, running_var,
    num_batches_tracked) of a per-channel normalization."""

    _version = 2

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        kw = _factory_kwargs(device, dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(ember.empty((num_features,), **kw))
            if bias:
                self.bias = Parameter(ember.empty((num_features,), **kw))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", ember.zeros((num_features,), **kw))
            self.register_buffer("running_var", ember.ones((num_features,), **kw))
            count_kw = {"device": device} if device is not None else {}
            self.register_buffer("num_batches_tracked", ember.tensor(0, dtype=ember.int64, **count_kw))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input):
        raise NotImplementedError

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")

    def _load_from_state_dict(self, state_dict, prefix, missing_keys, unexpected_keys, error_msgs):
        # Checkpoints from before num_batches_tracked existed (PyTorch's
        # version 1) lack the key: count from 0, as PyTorch does.
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and key not in state_dict:
            has_stats = (prefix + "running_mean") in state_dict
            if has_stats:
                state_dict = dict(state_dict)
                state_dict[key] = (self.num_batches_tracked if self.num_batches_tracked is not None
                                   else ember.tensor(0, dtype=ember.int64))
        super()._load_from_state_dict(state_dict, prefix, missing_keys, unexpected_keys, error_msgs)


class _BatchNorm(_NormBase):
    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        # Batch statistics in training, and in eval when there are no buffers.
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        # Buffers are passed only where they are read or updated.
        track = not self.training or self.track_running_stats
        return F.batch_norm(input,
                            self.running_mean if track else None,
                            self.running_var if track else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalization over [N, C] or [N, C, L] inputs."""

    def _check_input_dim(self, input):
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch normalization over [N, C, H, W] inputs."""

    def _check_input_dim(self, input):
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class BatchNorm3d(_BatchNorm):
    """Batch normalization over [N, C, D, H, W] inputs."""

    def _check_input_dim(self, input):
        if input.dim() != 5:
            raise ValueError(f"expected 5D input (got {input.dim()}D input)")


class _LazyNormBase(LazyModuleMixin, _NormBase):
    """num_features inferred from the first input's dim 1 (or from a state dict).

    Until then weight/bias are UninitializedParameters and the running
    statistics UninitializedBuffers; the first forward materializes them
    and turns the module into its plain class (``cls_to_become``).
    """

    cls_to_become = None

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        kw = _factory_kwargs(device, dtype)
        # affine and track_running_stats off: no tensors that would be replaced at once.
        super().__init__(0, eps, momentum, False, False, device, dtype, bias=False)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(**kw)
            if bias:
                self.bias = UninitializedParameter(**kw)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(**kw)
            self.running_var = UninitializedBuffer(**kw)
            count_kw = {"device": device} if device is not None else {}
            self.num_batches_tracked = ember.tensor(0, dtype=ember.int64, **count_kw)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if not self.has_uninitialized_params():
            return
        with ember.no_grad():
            self.num_features = input.shape[1]
            shape = (self.num_features,)
            if self.affine:
                self.weight.materialize(shape)
                if self.bias is not None:
                    self.bias.materialize(shape)
            if self.track_running_stats:
                # Fresh plain tensors (same device and dtype) rather than
                # materializing in place: nothing holds the lazy buffers yet.
                like = self.running_mean.data
                self.running_mean = ember.zeros(shape, device=like.device, dtype=like.dtype)
                self.running_var = ember.ones(shape, device=like.device, dtype=like.dtype)
            self.reset_parameters()

    def _load_from_state_dict(self, state_dict, prefix, missing_keys, unexpected_keys, error_msgs):
        super()._load_from_state_dict(state_dict, prefix, missing_keys, unexpected_keys, error_msgs)
        if self.num_features == 0 and not self.has_uninitialized_params():
            source = self.weight if self.weight is not None else self.running_mean
            if source is not None:
                self.num_features = source.shape[0]

    def forward(self, input):
        self._check_input_dim(input)
        self.initialize_parameters(input)
        if self.num_features == 0:  # materialized by load_state_dict
            source = self.weight if self.weight is not None else self.running_mean
            if source is not None:
                self.num_features = source.shape[0]
        self.__class__ = self.cls_to_become
        return self.forward(input)


class LazyBatchNorm1d(_LazyNormBase, BatchNorm1d):
    """BatchNorm1d whose num_features comes from the first input."""

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormBase, BatchNorm2d):
    """BatchNorm2d whose num_features comes from the first input."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormBase, BatchNorm3d):
    """BatchNorm3d whose num_features comes from the first input."""

    cls_to_become = BatchNorm3d
