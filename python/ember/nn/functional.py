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
    "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "one_hot", "embedding",
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


def _reduce(losses, reduction):
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def _reduction_of(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    _check_reduction(reduction)
    return reduction


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of class indices under log-probabilities
    ``input`` ([N, C], [C] or [N, C, d1, ...]): ``-weight[t] * input[t]``;
    targets equal to ``ignore_index`` count for nothing, and the mean divides
    by the total weight of the counted targets (nan when none count), as in
    PyTorch."""
    reduction = _reduction_of(size_average, reduce, reduction)
    if target.dtype not in (ember.int64, ember.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_dtype_name(target.dtype)}")
    if input.dim() == 0:
        raise ValueError(f"Expected 1 or more dimensions (got {input.dim()})")
    if input.dim() == 1:  # unbatched
        out = nll_loss(input.unsqueeze(0), target.reshape(1), weight, None, ignore_index, None, reduction)
        return out.reshape(()) if reduction == "none" else out
    if target.dim() == 0 or input.shape[0] != target.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({target.shape[0] if target.dim() else 0}).")
    num_classes = input.shape[1]
    if weight is not None and (weight.dim() != 1 or weight.shape[0] != num_classes):
        raise RuntimeError(f"weight tensor should be defined either for all {num_classes} classes or no classes "
                           f"but got weight tensor of shape: {list(weight.shape)}")
    if input.dim() > 2:  # [N, C, d1, ...] -> [N * d1 * ..., C]
        spatial = tuple(input.shape[2:])
        if tuple(target.shape) != (input.shape[0],) + spatial:
            raise RuntimeError(f"size mismatch (got input: {list(input.shape)}, target: {list(target.shape)})")
        perm = [0] + list(range(2, input.dim())) + [1]
        out = nll_loss(input.permute(*perm).reshape(-1, num_classes), target.reshape(-1), weight, None,
                       ignore_index, None, reduction)
        return out.reshape((input.shape[0],) + spatial) if reduction == "none" else out
    target = target.long()
    counted = target != ignore_index
    safe = ember.where(counted, target, 0)
    if safe.numel():
        low, high = int(safe.min()), int(safe.max())
        if low < 0 or high >= num_classes:
            raise IndexError(f"Target {low if low < 0 else high} is out of bounds.")
    w = counted.to(input.dtype) if weight is None else weight.to(input.dtype)[safe] * counted.to(input.dtype)
    return _NllLoss.apply(input, safe, w, reduction)


class _NllLoss(ember.autograd.Function):
    """``-w_i * x[i, t_i]``, reduced inside so that the grad_fn is PyTorch's
    NllLossBackward0; the gradient is ``-w_i`` (scaled by the reduction) at
    each target and zero elsewhere."""

    _node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, x, targets, w, reduction):
        losses = -x.gather(1, targets.unsqueeze(1)).squeeze(1) * w
        ctx.save_for_backward(targets, w)
        ctx.reduction, ctx.shape = reduction, tuple(x.shape)
        if reduction == "none":
            return losses
        if reduction == "sum":
            return losses.sum()
        ctx.total = w.sum()
        return losses.sum() / ctx.total

    @staticmethod
    def backward(ctx, grad):
        targets, w = ctx.saved_tensors
        scale = grad / ctx.total if ctx.reduction == "mean" else grad
        gx = ember.zeros(ctx.shape, dtype=w.dtype, device=w.device)
        if targets.numel():
            gx[ember.arange(ctx.shape[0], device=w.device), targets] = -(w * scale)
        return gx, None, None, None


def _dtype_name(dtype):
    names = {ember.float32: "Float", ember.float64: "Double", ember.float16: "Half", ember.bfloat16: "BFloat16",
             ember.int64: "Long", ember.int32: "Int", ember.int16: "Short", ember.int8: "Char", ember.uint8: "Byte",
             ember.bool: "Bool"}
    return names.get(dtype, str(dtype))


def _reduce_scale(grad, reduction, n):
    """The gradient of each element of a reduced loss."""
    return grad / max(n, 1) if reduction == "mean" else grad


class _BinaryCrossEntropy(ember.autograd.Function):
    """BCE on probabilities with PyTorch's exact gradient: the logs are
    clamped at -100 (so 0 and 1 give finite losses) and the input's gradient
    is ``w * (x - t) / max(x * (1 - x), 1e-12)``, which a composition of the
    clamped logs would zero at the clamp. The reduction happens inside, so
    the loss's grad_fn is PyTorch's BinaryCrossEntropyBackward0."""

    _node_name = "BinaryCrossEntropyBackward0"

    @staticmethod
    def forward(ctx, x, t, w, reduction):
        log_x = ember.log(x).clamp(min=-100)
        log_1mx = ember.log(1 - x).clamp(min=-100)
        losses = -(t * log_x + (1 - t) * log_1mx)
        ctx.save_for_backward(x, t, w, log_x, log_1mx, losses)
        ctx.reduction = reduction
        weighted = losses * w if w is not None else losses
        ctx.n = weighted.numel()
        return _reduce(weighted, reduction)

    @staticmethod
    def backward(ctx, grad):
        x, t, w, log_x, log_1mx, losses = ctx.saved_tensors
        scale = _reduce_scale(grad, ctx.reduction, ctx.n)
        weighted_scale = scale * w if w is not None else scale
        gx = gt = gw = None
        if ctx.needs_input_grad[0]:
            gx = _expand_to(weighted_scale * (x - t) / (x * (1 - x)).clamp(min=1e-12), x)
        if ctx.needs_input_grad[1]:
            gt = _expand_to(weighted_scale * (log_1mx - log_x), t)
        if ctx.needs_input_grad[2]:
            gw = _sum_to(scale * losses, w)
        return gx, gt, gw, None


class _BinaryCrossEntropyWithLogits(ember.autograd.Function):
    """BCE on logits in the stable form; analytic gradients, with the
    reduction inside so that the grad_fn is PyTorch's
    BinaryCrossEntropyWithLogitsBackward0 (what the autograd tutorial prints)."""

    _node_name = "BinaryCrossEntropyWithLogitsBackward0"

    @staticmethod
    def forward(ctx, x, t, w, pos_weight, reduction):
        softplus_neg = ember.log1p(ember.exp(-ember.abs(x))) + ember.relu(-x)  # -log(sigmoid(x))
        log_weight = 1 + (pos_weight - 1) * t if pos_weight is not None else None
        losses = (1 - t) * x + (log_weight * softplus_neg if log_weight is not None else softplus_neg)
        ctx.save_for_backward(x, t, w, pos_weight, softplus_neg, losses)
        ctx.reduction = reduction
        weighted = losses * w if w is not None else losses
        ctx.n = weighted.numel()
        return _reduce(weighted, reduction)

    @staticmethod
    def backward(ctx, grad):
        x, t, w, pos_weight, softplus_neg, losses = ctx.saved_tensors
        scale = _reduce_scale(grad, ctx.reduction, ctx.n)
        weighted_scale = scale * w if w is not None else scale
        gx = gt = gw = gpw = None
        if ctx.needs_input_grad[0]:
            log_weight = 1 + (pos_weight - 1) * t if pos_weight is not None else 1
            gx = _expand_to(weighted_scale * ((1 - t) - log_weight * ember.sigmoid(-x)), x)
        if ctx.needs_input_grad[1]:
            dt = -x + (pos_weight - 1) * softplus_neg if pos_weight is not None else -x
            gt = _expand_to(weighted_scale * dt, t)
        if ctx.needs_input_grad[2]:
            gw = _sum_to(scale * losses, w)
        if ctx.needs_input_grad[3]:
            gpw = _sum_to(weighted_scale * t * softplus_neg, pos_weight)
        return gx, gt, gw, gpw, None


def _expand_to(g, like):
    """A gradient of ``like``'s shape (a 0-d scale times a same-shape term
    already is; this covers an all-broadcast term)."""
    return g if tuple(g.shape) == tuple(like.shape) else g.expand(*like.shape).contiguous()


def _sum_to(g, like):
    """Sums a broadcast gradient back to the shape of ``like``."""
    if g is None or like is None or tuple(g.shape) == tuple(like.shape):
        return g
    lead = g.dim() - like.dim()
    if lead:
        g = g.sum(tuple(range(lead)))
    dims = tuple(i for i, n in enumerate(like.shape) if n == 1 and g.shape[i] != 1)
    return g.sum(dims, keepdim=True) if dims else g


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """``-w * (t * log(x) + (1 - t) * log(1 - x))`` on probabilities ``x``
    (each log clamped at -100, as PyTorch does); ``weight`` broadcasts and,
    unlike in PyTorch, may require grad."""
    reduction = _reduction_of(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    if input.numel() and (float(input.min()) < 0 or float(input.max()) > 1):
        raise RuntimeError("all elements of input should be between 0 and 1")
    if weight is not None:
        ember.broadcast_shapes(weight.shape, input.shape)  # raises for a weight that does not fit
    return _BinaryCrossEntropy.apply(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """BCE on logits in the stable form ``(1 - t) * x + lw * (log1p(exp(-|x|))
    + max(-x, 0))`` with ``lw = 1 + (pos_weight - 1) * t``: no overflow for
    large |x|. ``pos_weight`` weighs the positive term per class (it
    broadcasts along the last dim); ``weight`` weighs each element. Unlike
    PyTorch, which refuses it, ember also differentiates with respect to
    ``weight`` and ``pos_weight``."""
    reduction = _reduction_of(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    if pos_weight is not None:
        ember.broadcast_shapes(pos_weight.shape, input.shape)
    if weight is not None:
        ember.broadcast_shapes(weight.shape, input.shape)
    return _BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight, reduction)


def one_hot(tensor, num_classes=-1):
    """int64 ``[..., num_classes]`` with a 1 at each index (``num_classes=-1``:
    the largest index plus one)."""
    if tensor.dtype != ember.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(tensor.max()) + 1
    if tensor.numel():
        if int(tensor.min()) < 0:
            raise RuntimeError("Class values must be non-negative.")
        if int(tensor.max()) >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    classes = ember.arange(num_classes, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).long()


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` at the indices ``input`` (any shape) ->
    ``[*input.shape, embedding_dim]``. Positions equal to ``padding_idx`` pass
    no gradient to their row; with ``max_norm``, the referenced rows are
    renormalized in place first, as in PyTorch."""
    if input.dtype not in (ember.int64, ember.int32):
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.type()} instead (while checking arguments for embedding)")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse gradients are not in ember yet")
    num = weight.shape[0]
    if padding_idx is not None and padding_idx < 0:
        padding_idx += num
    flat = input.reshape(-1).long()
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= num):
        raise IndexError("index out of range in self")
    if max_norm is not None:
        with ember.no_grad():
            rows = weight[flat]
            norms = rows.norm(p=norm_type, dim=1, keepdim=True)
            scale = ember.where(norms > max_norm, max_norm / (norms + 1e-7), ember.ones_like(norms))
            weight[flat] = rows * scale
    out = weight[flat]
    if padding_idx is not None and weight.requires_grad:
        keep = (flat != padding_idx).unsqueeze(1)
        out = ember.where(keep, out, out.detach())
    return out.reshape(tuple(input.shape) + (weight.shape[1],))
