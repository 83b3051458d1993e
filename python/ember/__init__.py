"""ember: a compact PyTorch-style tensor engine with a C++ core.

`import ember as torch` runs the tensor, autograd, nn, optim and data code of
Dive into Deep Learning; checkpoints are safetensors files that never run code.
"""
import os as _os

# OpenMP workers spin after each parallel region before they sleep. The
# default spin (300k iterations) steals the core the Python thread needs
# between kernels on a busy machine; sleeping at once (a passive policy)
# makes every barrier inside one GEMM a futex wake-up and halves 256x256
# matmul speed. A short spin keeps both fast; when every core is busy the
# kernels drop to one thread anyway (csrc/cpu/parallel.cpp). ember's runtime
# reads this once, when _C loads it, and only if the user set no policy; the
# variable is removed again so other libraries' runtimes keep their defaults.
_set_spin = not any(v in _os.environ for v in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))
if _set_spin:
    _os.environ["GOMP_SPINCOUNT"] = "30000"
try:
    from . import _C
finally:
    if _set_spin:
        del _os.environ["GOMP_SPINCOUNT"]
del _set_spin
from ._C import CheckpointError, Tensor, device, dtype
from ._size import Size

_C._set_size_class(Size)

from . import _tensor  # noqa: E402

_tensor.install()

from . import _ops_extra  # noqa: E402

_ops_extra.install()

from . import _dlpack  # noqa: E402

_dlpack.install()

from ._functions import *  # noqa: E402,F401,F403
from ._ops_extra import *  # noqa: E402,F401,F403
from ._functions import (  # noqa: E402,F401
    BoolTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor, abs, absolute, all, any, arange, argmax, argmin,
    as_tensor, cat, clamp, clip, concat, cumsum, empty, empty_like, eye, from_numpy, full, full_like, is_tensor,
    linspace, manual_seed, max, mean, meshgrid, min, negative, normal, numel, ones, ones_like, pow, prod, rand, rand_like,
    randint, randn, randn_like, randperm, round, stack, std, sum, tensor, var, where, zeros, zeros_like)
from ._functions import get_default_device, get_default_dtype, set_default_device, set_default_dtype  # noqa: E402,F401,I001
from ._tensor_str import set_printoptions  # noqa: E402,F401
from ._math_mode import get_float32_matmul_precision, set_float32_matmul_precision  # noqa: E402,F401
from . import autograd  # noqa: E402
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402,F401
from . import distributions, return_types  # noqa: E402,F401
from . import accelerator, cuda, backends  # noqa: E402,F401
from .serialization import load, save  # noqa: E402,F401
from ._dlpack import from_dlpack  # noqa: E402,F401
from . import distributed, nn, optim, utils  # noqa: E402,F401

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


def is_floating_point(input):  # noqa: A002
    return input.is_floating_point()


__version__ = "0.1.0"
