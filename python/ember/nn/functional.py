"""nn.functional: stateless versions of the layers and losses.

The heavy lifting is done by fused core ops (``ember._C.linear``,
``cross_entropy``, ``mse_loss``, ``dropout``); this file validates arguments
the way PyTorch does and adapts the less common call forms.
"""

import warnings

import ember

__all__ = [
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "linear", "dropout",
    "mse_loss", "cross_entropy", "flatten",
    "batch_norm", "layer_norm",
]

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce):
    """Map the deprecated size_average/reduce flags to a reduction string."""
    warnings.warn(
        "size_average and reduce args will be deprecated, please use reduction= instead.",
        stacklevel=3,
    )
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def relu(input, inplace=False):
    if inplace:
        return input.relu_()
    return ember.relu(input)


def sigmoid(input):
    return ember.sigmoid(input)


def tanh(input):
    return ember.tanh(input)


def _implicit_softmax_dim(ndim, name):
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _implicit_softmax_dim(input.dim(), "softmax")
    if dtype is not None:
        input = input.to(dtype)
    return ember.softmax(input, dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _implicit_softmax_dim(input.dim(), "log_softmax")
    if dtype is not None:
        input = input.to(dtype)
    return ember.log_softmax(input, dim)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` in one fused core op."""
    return ember._C.linear(input, weight, bias)


def flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    out = ember._C.dropout(input, float(p), bool(training))
    if inplace:
        return input.copy_(out)
    return out


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            stacklevel=2,
        )
    if weight is not None:
        raise NotImplementedError("mse_loss: weight= is not supported by ember")
    return ember._C.mse_loss(input, target, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from raw logits (log-sum-exp stable in the core).

    ``input`` is [N, C] (or [C], or [N, C, d1, ...]); ``target`` holds class
    indices (int64) of the matching shape, or class probabilities of
    ``input``'s shape. ``weight`` rescales each class; targets equal to
    ``ignore_index`` count for nothing (index targets); ``label_smoothing``
    mixes the target with the uniform distribution, as in PyTorch.
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.dim() == 1 else 1
    if weight is not None and (weight.dim() != 1 or weight.shape[0] != input.shape[class_dim]):
        raise RuntimeError(
            f"weight tensor should be defined either for all {input.shape[class_dim]} classes or no classes "
            f"but got weight tensor of shape: {list(weight.shape)}")

    if _is_floating(target):
        # Class probabilities: -(w * p * log_softmax(x)).sum(class dim).
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(
                f"Expected input and target of the same shape for probability targets, "
                f"got input {tuple(input.shape)} and target {tuple(target.shape)}"
            )
        if label_smoothing > 0.0:
            target = target * (1.0 - label_smoothing) + label_smoothing / input.shape[class_dim]
        terms = target * ember.log_softmax(input, class_dim)
        if weight is not None:
            shape = [1] * input.dim()
            shape[class_dim] = -1
            terms = terms * weight.reshape(shape)
        losses = -terms.sum(class_dim)
        if reduction == "none":
            return losses
        if reduction == "sum":
            return losses.sum()
        n = 1 if input.dim() == 1 else losses.numel()
        return losses.sum() / n

    options = dict(weight=weight, ignore_index=int(ignore_index), label_smoothing=float(label_smoothing))
    if input.dim() == 1:  # unbatched: [C] logits, scalar target
        out = ember._C.cross_entropy(input.unsqueeze(0), target.reshape(1), reduction, **options)
        return out.reshape(()) if reduction == "none" else out
    if input.dim() > 2:  # [N, C, d1, ...] -> [N * d1 * ..., C]
        n, c = input.shape[0], input.shape[1]
        spatial = tuple(input.shape[2:])
        perm = [0] + list(range(2, input.dim())) + [1]
        flat = input.permute(*perm).reshape(-1, c)
        out = ember._C.cross_entropy(flat, target.reshape(-1), reduction, **options)
        return out.reshape((n,) + spatial) if reduction == "none" else out
    return ember._C.cross_entropy(input, target, reduction, **options)


def _is_floating(t):
    names = ("float32", "float64", "float16", "bfloat16")
    return t.dtype in tuple(getattr(ember, n) for n in names if hasattr(ember, n))


# ---- normalization ----------------------------------------------------------
# batch_norm and layer_norm are single core ops (ember._C, ops/norm.cpp) with
# fused kernels and hand-written backward; here only PyTorch's Python-side
# checks and argument order.

def _verify_batch_size(size):
    values_per_channel = size[0]
    for extent in size[2:]:
        values_per_channel *= extent
    if values_per_channel == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {size}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalize each channel of an [N, C, *] input (PyTorch's argument order).

    With ``training`` the batch's statistics normalize and ``running_mean`` /
    ``running_var`` (if given) are updated in place with ``momentum`` and the
    unbiased variance; otherwise the running statistics normalize.
    """
    if input.dim() < 2:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [-{max(input.dim(), 1)}, "
            f"{max(input.dim(), 1) - 1}], but got 1)")
    if training:
        _verify_batch_size(input.size())
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    elif eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if momentum is None:
        raise TypeError("batch_norm(): argument 'momentum' (position 7) must be float, not NoneType")
    return ember._C.batch_norm(input, weight, bias, running_mean, running_var, bool(training),
                               float(momentum), float(eps))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing dims ``normalized_shape``, then scale and shift."""
    if not isinstance(normalized_shape, (tuple, list, ember.Size)):
        raise TypeError(
            "layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, "
            f"not {type(normalized_shape).__name__}")
    return ember._C.layer_norm(input, tuple(normalized_shape), weight, bias, float(eps))
# ---- end of normalization ---------------------------------------------------
