"""ember: a compact PyTorch-style tensor engine with a C++ core.

`import ember as torch` runs the tensor, autograd, nn, optim and data code of
Dive into Deep Learning; checkpoints are safetensors files that never run code.
"""
import os as _os

# OpenMP worker threads that spin while idle steal the core the Python
# thread needs between kernels; on a busy machine that turns a 1 ms step into
# 10 ms. ember's OpenMP runtime (read once, when _C loads it) parks idle
# workers instead, unless the user chose a policy. The variable is removed
# again so that other libraries' runtimes loaded later keep their defaults.
_set_wait = "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ
if _set_wait:
    _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
try:
    from . import _C
finally:
    if _set_wait:
        del _os.environ["OMP_WAIT_POLICY"]
del _set_wait
from ._C import CheckpointError, Tensor, device, dtype
from ._size import Size

_C._set_size_class(Size)

from . import _tensor  # noqa: E402

_tensor.install()

from ._functions import *  # noqa: E402,F401,F403
from ._functions import (  # noqa: E402,F401
    BoolTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor, abs, absolute, all, any, arange, argmax, argmin,
    as_tensor, cat, clamp, clip, concat, cumsum, empty, empty_like, eye, from_numpy, full, full_like, is_tensor,
    linspace, manual_seed, max, mean, min, negative, normal, numel, ones, ones_like, pow, prod, rand, rand_like,
    randint, randn, randn_like, randperm, round, stack, std, sum, tensor, var, where, zeros, zeros_like)
from ._tensor_str import set_printoptions  # noqa: E402,F401
from . import autograd  # noqa: E402
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402,F401
from . import return_types  # noqa: E402,F401
from . import cuda, backends  # noqa: E402,F401
from .serialization import load, save  # noqa: E402,F401
from . import nn, optim, utils  # noqa: E402,F401

# dtypes, with PyTorch's aliases
float32 = float = dtype.float32  # noqa: A001
float64 = double = dtype.float64
float16 = half = dtype.float16
bfloat16 = dtype.bfloat16
int64 = long = dtype.int64
int32 = int = dtype.int32  # noqa: A001
int16 = short = dtype.int16
int8 = dtype.int8
uint8 = dtype.uint8
bool = dtype.bool  # noqa: A001

promote_types = _C.promote_types
OutOfMemoryError = _C.OutOfMemoryError


def get_default_dtype():
    """ember's default floating dtype (always float32)."""
    return float32


def is_floating_point(input):  # noqa: A002
    return input.is_floating_point()


__version__ = "0.1.0"
