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
    "conv1d", "conv2d", "pad", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
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


# ---- convolution, padding and pooling (core ops in csrc/ops/conv.cpp, pool.cpp) ----

def _int_list(value, name):
    """An int or a sequence of ints as a list (the core expands a single value)."""
    if isinstance(value, int):
        return [value]
    try:
        return [int(v) for v in value]
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {type(value).__name__}") from None


def _conv(input, weight, bias, stride, padding, dilation, groups, spatial_dims):
    if isinstance(padding, str):
        return ember._C.conv_string_padding(input, weight, bias, _int_list(stride, "stride"), padding,
                                            _int_list(dilation, "dilation"), int(groups), spatial_dims)
    core = ember._C.conv2d if spatial_dims == 2 else ember._C.conv1d
    return core(input, weight, bias, _int_list(stride, "stride"), _int_list(padding, "padding"),
                _int_list(dilation, "dilation"), int(groups))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as PyTorch) over [N, C, H, W] or [C, H, W].

    ``padding`` is an int, a pair, ``'valid'`` (none) or ``'same'`` (output
    as large as the input; stride 1 only; an odd total padding puts the
    extra row/column at the end, as PyTorch does).
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over [N, C, L] or [C, L] (a conv2d of height 1 in the core)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def _padding_index(size, before, after, mode):
    """Source index of each padded position along one dim, for the non-constant modes."""
    positions = ember.arange(-before, size + after)
    if mode == "replicate":
        return positions.clamp(0, size - 1)
    if mode == "circular":
        return positions % size
    # reflect: mirror without repeating the edge
    period = 2 * (size - 1)
    folded = positions.abs() % period if period > 0 else positions * 0
    return ember.where(folded >= size, period - folded, folded)


def pad(input, pad, mode="constant", value=None):
    """Pad the last dims: ``pad`` lists (before, after) pairs from the last dim backwards.

    ``mode`` is ``'constant'`` (with ``value``, default 0; negative pads
    crop), ``'reflect'``, ``'replicate'`` or ``'circular'``; the non-constant
    modes pad the last 1, 2 or 3 dims of a batched or unbatched input, as in
    PyTorch.
    """
    pad = _int_list(pad, "pad")
    if mode == "constant":
        return ember._C.constant_pad(input, pad, 0.0 if value is None else float(value))
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise ValueError(f"Padding mode \"{mode}\" doesn't take in value argument.")
    if len(pad) % 2 != 0:
        raise RuntimeError("Padding length must be divisible by 2")
    dims = len(pad) // 2
    if dims not in (1, 2, 3) or input.dim() not in (dims + 1, dims + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.dim()}D input tensor.")
    out = input
    for i in range(dims):
        d = input.dim() - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        size = input.shape[d]
        if mode == "reflect" and (before >= size or after >= size):
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input dimension, "
                f"but got: padding ({before}, {after}) at dimension {d} of input {list(input.shape)}")
        if mode == "circular" and (before > size or after > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if before < 0 or after < 0:
            raise RuntimeError(f"negative padding is not supported in {mode} mode, got ({before}, {after})")
        out = out.index_select(d, _padding_index(size, before, after, mode).to(input.device))
    return out


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over windows of [N, C, H, W] or [C, H, W]; ``return_indices`` adds
    each maximum's flat position h * W + w within its plane."""
    stride = [] if stride is None or (not isinstance(stride, int) and len(stride) == 0) else stride
    out, indices = ember._C.max_pool2d_with_indices(
        input, _int_list(kernel_size, "kernel_size"), _int_list(stride, "stride"), _int_list(padding, "padding"),
        _int_list(dilation, "dilation"), bool(ceil_mode))
    return (out, indices) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    stride = [] if stride is None or (not isinstance(stride, int) and len(stride) == 0) else stride
    return ember._C.avg_pool2d(input, _int_list(kernel_size, "kernel_size"), _int_list(stride, "stride"),
                               _int_list(padding, "padding"), bool(ceil_mode), bool(count_include_pad),
                               None if divisor_override is None else int(divisor_override))


def _adaptive_size(input, output_size, dims):
    """output_size as `dims` ints; None keeps the input's size there."""
    sizes = [output_size] * dims if output_size is None or isinstance(output_size, int) else list(output_size)
    if len(sizes) != dims:
        raise ValueError(f"output_size must be an int or a tuple of {dims} ints, got {output_size}")
    return [int(input.shape[input.dim() - dims + i]) if s is None else int(s) for i, s in enumerate(sizes)]


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (windows [floor(i*H/h), ceil((i+1)*H/h)))."""
    return ember._C.adaptive_avg_pool2d(input, _adaptive_size(input, output_size, 2))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    out, indices = ember._C.adaptive_max_pool2d(input, _adaptive_size(input, output_size, 2))
    return (out, indices) if return_indices else out


def _pool1d(fn, name, input, *args, **kwargs):
    """A 1-D pooling as the 2-D one over a height-1 input ([N, C, L] or [C, L])."""
    if input.dim() not in (2, 3):
        raise RuntimeError(f"{name}: Expected 2D or 3D (batch mode) tensor, but got {list(input.shape)}")
    result = fn(input.unsqueeze(-2), *args, **kwargs)
    if isinstance(result, tuple):
        return tuple(r.squeeze(-2) for r in result)
    return result.squeeze(-2)


def _first(v):
    return v if v is None or isinstance(v, int) else v[0]


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    stride = _first(stride)
    return _pool1d(max_pool2d, "max_pool1d", input, (1, _first(kernel_size)),
                   None if stride is None else (1, stride), (0, _first(padding)), (1, _first(dilation)),
                   ceil_mode, return_indices)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    stride = _first(stride)
    return _pool1d(avg_pool2d, "avg_pool1d", input, (1, _first(kernel_size)),
                   None if stride is None else (1, stride), (0, _first(padding)), ceil_mode, count_include_pad)


def adaptive_avg_pool1d(input, output_size):
    return _pool1d(adaptive_avg_pool2d, "adaptive_avg_pool1d", input, (1, _first(output_size)))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _pool1d(adaptive_max_pool2d, "adaptive_max_pool1d", input, (1, _first(output_size)), return_indices)


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
