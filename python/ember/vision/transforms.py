"""Image transforms with torchvision's names, arguments, results and reprs:
ToTensor, Resize, Normalize, Compose, Lambda.

They accept what ember's datasets give: PIL images when Pillow is
installed, otherwise uint8 tensors (H x W), so D2L's ``Resize`` before
``ToTensor`` works either way. Resizing a PIL image is Pillow's own resize
(exactly what torchvision does); resizing a tensor follows PyTorch's
``interpolate`` (``align_corners=False``, antialiased by default like
torchvision), computed with numpy as one weight matrix per axis.
"""

from collections.abc import Sequence
from enum import Enum
import warnings

import numpy as np

import ember

from ._pil import is_pil_image, pil_image_module

__all__ = ["Compose", "Lambda", "ToTensor", "Normalize", "Resize", "InterpolationMode"]


class Compose:
    """Applies ``transforms`` one after the other."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        lines = [f"{type(self).__name__}("] + [f"    {t}" for t in self.transforms]
        return "\n".join(lines) + "\n)"


class Lambda:
    """Applies a user function as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {repr(type(lambd).__name__)}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{type(self).__name__}()"


class ToTensor:
    """A PIL image or a numpy array (H x W x C, or H x W) as a C x H x W
    tensor. uint8 values (and PIL images of 8-bit modes) are scaled to
    float32 in [0, 1]; other numpy dtypes keep their values and dtype, as
    in torchvision. A uint8 ember tensor (a dataset sample without
    Pillow: H x W, or C x H x W) is scaled to float32 the same way.
    """

    def __call__(self, pic):
        if is_pil_image(pic):
            return _tensor_from_pil(pic)
        if isinstance(pic, np.ndarray):
            if pic.ndim not in (2, 3):
                raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
            hwc = pic[:, :, None] if pic.ndim == 2 else pic
            chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
            if chw.dtype == np.uint8:
                return ember.from_numpy(chw.astype(np.float32) / np.float32(255))
            return ember.from_numpy(chw)
        if isinstance(pic, ember.Tensor):
            if pic.dtype != ember.uint8 or pic.dim() not in (2, 3):
                raise TypeError("ToTensor: a tensor input must be a uint8 image of shape H x W or C x H x W "
                                f"(a dataset sample without Pillow); got {pic.dtype} of shape {tuple(pic.shape)}")
            image = pic.unsqueeze(0) if pic.dim() == 2 else pic
            return image.to(ember.float32) / 255
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")

    def __repr__(self):
        return f"{type(self).__name__}()"


# numpy dtype of the PIL modes whose pixels are not 8-bit (torchvision's table).
_PIL_MODE_DTYPES = {"I": np.int32, "I;16": np.int16, "F": np.float32}


def _tensor_from_pil(pic):
    array = np.array(pic, _PIL_MODE_DTYPES.get(pic.mode, np.uint8), copy=True)
    if pic.mode == "1":
        array = array * np.uint8(255)
    width, height = pic.size
    array = array.reshape(height, width, -1)
    chw = np.ascontiguousarray(array.transpose(2, 0, 1))
    if chw.dtype == np.uint8:
        return ember.from_numpy(chw.astype(np.float32) / np.float32(255))
    return ember.from_numpy(chw)


class Normalize:
    """``(tensor - mean) / std`` per channel of a (..., C, H, W) float tensor.
    Built from ember ops, so gradients flow through it."""

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor):
        if not isinstance(tensor, ember.Tensor):
            raise TypeError(f"Input tensor should be a torch tensor. Got {type(tensor)}.")
        if not tensor.is_floating_point():
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        if tensor.dim() < 3:
            raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W). Got "
                             f"tensor.size() = {tensor.size()}")
        mean = ember.as_tensor(self.mean, dtype=tensor.dtype, device=tensor.device)
        std = ember.as_tensor(self.std, dtype=tensor.dtype, device=tensor.device)
        if bool((std == 0).any()):
            raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, "
                             "leading to division by zero.")
        if mean.dim() == 1:
            mean = mean.view(-1, 1, 1)
        if std.dim() == 1:
            std = std.view(-1, 1, 1)
        if self.inplace:
            return tensor.sub_(mean).div_(std)
        return (tensor - mean) / std

    def __repr__(self):
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


class InterpolationMode(Enum):
    """Interpolation methods, named as torchvision's."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _pil_filter(mode):
    image = pil_image_module()
    filters = {
        InterpolationMode.NEAREST: image.Resampling.NEAREST,
        InterpolationMode.NEAREST_EXACT: image.Resampling.NEAREST,  # as torchvision: Pillow's nearest is exact
        InterpolationMode.BILINEAR: image.Resampling.BILINEAR,
        InterpolationMode.BICUBIC: image.Resampling.BICUBIC,
        InterpolationMode.BOX: image.Resampling.BOX,
        InterpolationMode.HAMMING: image.Resampling.HAMMING,
        InterpolationMode.LANCZOS: image.Resampling.LANCZOS,
    }
    if mode not in filters:
        raise ValueError(f"Interpolation mode {mode.value} is not supported for PIL images")
    return filters[mode]


class Resize:
    """Resize an image to ``size``: an int resizes the smaller edge to it
    (keeping the aspect ratio, the longer edge capped at ``max_size``), an
    (h, w) pair gives the output exactly.

    PIL images go through Pillow's resize (always antialiased, as
    torchvision). Tensors (..., H, W) are interpolated as PyTorch's
    ``interpolate(mode=..., align_corners=False, antialias=antialias)``
    would (bilinear and nearest modes); integer tensors are computed in
    floating point and rounded back, as torchvision does. The tensor path
    does not record gradients.
    """

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
        if isinstance(size, (bool, str)) or not isinstance(size, (int, Sequence)):
            raise TypeError(f"Size should be int or sequence. Got {type(size)}")
        if isinstance(size, Sequence) and len(size) not in (1, 2):
            raise ValueError("If size is a sequence, it should have 1 or 2 values")
        if isinstance(size, Sequence) and not all(isinstance(s, int) and not isinstance(s, bool) for s in size):
            raise TypeError(f"Size should contain ints. Got {size}")
        if any(s <= 0 for s in ([size] if isinstance(size, int) else size)):
            raise ValueError(f"Size should be positive. Got {size}")
        if not isinstance(interpolation, InterpolationMode):
            raise TypeError("Argument interpolation should be of type InterpolationMode, "
                            f"got {type(interpolation).__name__}")
        if max_size is not None and not (isinstance(size, int) or len(size) == 1):
            raise ValueError("max_size should only be passed if size specifies the length of the smaller edge, "
                             f"i.e. size should be an int or a sequence of length 1 in torchscript mode; got {size}")
        self.size = size
        self.interpolation = interpolation
        self.max_size = max_size
        self.antialias = antialias

    def __call__(self, img):
        if is_pil_image(img):
            if not self.antialias and self.interpolation in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC):
                warnings.warn("Anti-alias option is always applied for PIL Image input. Argument antialias is ignored.")
            width, height = img.size
            out_h, out_w = _output_size(height, width, self.size, self.max_size)
            if (out_h, out_w) == (height, width):
                return img
            return img.resize((out_w, out_h), _pil_filter(self.interpolation))
        if isinstance(img, ember.Tensor):
            if img.dim() < 2:
                raise TypeError("Tensor is not a torch image.")
            height, width = img.shape[-2], img.shape[-1]
            out_h, out_w = _output_size(height, width, self.size, self.max_size)
            if (out_h, out_w) == (height, width):
                return img
            return _resize_tensor(img, out_h, out_w, self.interpolation, self.antialias)
        raise TypeError(f"img should be PIL Image or Tensor. Got {type(img)}")

    def __repr__(self):
        return (f"{type(self).__name__}(size={self.size}, interpolation={self.interpolation.value}, "
                f"max_size={self.max_size}, antialias={self.antialias})")


def _output_size(height, width, size, max_size):
    """(h, w) after resizing, torchvision's rule."""
    if isinstance(size, int) or len(size) == 1:
        requested = size if isinstance(size, int) else size[0]
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = requested, int(requested * long / short)
        if max_size is not None:
            if max_size <= requested:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested "
                                 f"size for the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        return (new_long, new_short) if width <= height else (new_short, new_long)
    return size[0], size[1]


def _bilinear_weights(in_size, out_size, antialias):
    """The (out_size x in_size) matrix of PyTorch's bilinear interpolation
    along one axis (align_corners=False). Antialiased, it widens the
    triangle filter by the downscaling factor, as Pillow and PyTorch's
    antialias kernel do; enlarging, both forms are the same."""
    scale = in_size / out_size
    rows = np.arange(out_size)
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    if antialias and scale > 1:
        support = scale  # the triangle's half-width in input pixels
        center = scale * (rows + 0.5)
        first = np.maximum((center - support + 0.5).astype(np.int64), 0)
        count = np.minimum((center + support + 0.5).astype(np.int64), in_size) - first
        taps = np.arange(int(count.max()))
        x = (taps[None, :] + first[:, None] - center[:, None] + 0.5) / scale
        w = np.clip(1.0 - np.abs(x), 0.0, None) * (taps[None, :] < count[:, None])
        w /= w.sum(axis=1, keepdims=True)
        cols = np.minimum(first[:, None] + taps[None, :], in_size - 1)
        np.add.at(weights, (np.broadcast_to(rows[:, None], cols.shape), cols), w)
        return weights
    src = np.maximum(scale * (rows + 0.5) - 0.5, 0.0)
    lo = src.astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    np.add.at(weights, (rows, lo), 1.0 - frac)
    np.add.at(weights, (rows, hi), frac)
    return weights


def _nearest_weights(in_size, out_size, exact):
    """0/1 selection matrix of PyTorch's 'nearest' or 'nearest-exact'."""
    scale = np.float32(in_size) / np.float32(out_size)  # PyTorch computes this scale in float
    rows = np.arange(out_size)
    offset = np.float32(0.5) if exact else np.float32(0.0)
    src = np.minimum(np.floor((rows.astype(np.float32) + offset) * scale).astype(np.int64), in_size - 1)
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    weights[rows, src] = 1.0
    return weights


def _axis_weights(in_size, out_size, mode, antialias):
    if mode is InterpolationMode.BILINEAR:
        return _bilinear_weights(in_size, out_size, antialias)
    if mode in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT):
        return _nearest_weights(in_size, out_size, mode is InterpolationMode.NEAREST_EXACT)
    raise NotImplementedError(f"Resize: interpolation mode {mode.value} is not implemented for tensors "
                              "(bilinear and nearest are); resize a PIL image for the others")


def _resize_tensor(img, out_h, out_w, mode, antialias):
    device = img.device
    if img.dtype == ember.bfloat16:  # numpy has no bfloat16
        return _resize_tensor(img.to(ember.float32), out_h, out_w, mode, antialias).to(ember.bfloat16)
    pixels = (img if device.type == "cpu" else img.to("cpu")).detach().numpy()
    rows = _axis_weights(pixels.shape[-2], out_h, mode, antialias)
    cols = _axis_weights(pixels.shape[-1], out_w, mode, antialias)
    # Both axes in one pass each, over every leading (batch, channel) dim.
    compute = np.float64 if pixels.dtype == np.float64 else np.float32
    out = rows.astype(compute) @ pixels.astype(compute, copy=False) @ cols.T.astype(compute)
    if pixels.dtype.kind in "iub":
        if pixels.dtype.kind == "b":
            out = out != 0
        else:
            info = np.iinfo(pixels.dtype)
            out = np.clip(np.round(out), info.min, info.max)
    result = ember.from_numpy(np.ascontiguousarray(out.astype(pixels.dtype, copy=False)))
    return result if device.type == "cpu" else result.to(device)
