"""Module-level functions of ember (`ember.zeros`, `ember.sum`, ...): PyTorch's
argument conventions over the native functions in ember._C."""
import builtins
from typing import TYPE_CHECKING, Any, Callable

from . import _C
from . import _out
from ._args import sizes as _sizes
from ._tensor import _resolve_cuda

Tensor = _C.Tensor
_float32 = _C.dtype.float32
_int64 = _C.dtype.int64


# set_default_dtype / set_default_device (process-wide, as PyTorch's dtype).
_defaults = {"dtype": _float32, "device": None}


def _device(device):
    if device is None:
        device = _defaults["device"]
    return _C.device("cpu") if device is None else _resolve_cuda(device)


def _default_dtype():
    return _defaults["dtype"]


def set_default_dtype(d):
    """The floating dtype that creation functions, ``tensor()`` of Python
    floats and new layers use when no ``dtype=`` is given (float32 at
    start). Results of integer division stay float32: the core's type
    promotion does not read this setting."""
    if d not in (_C.dtype.float32, _C.dtype.float64, _C.dtype.float16, _C.dtype.bfloat16):
        raise TypeError(f"only floating-point types are supported as the default type (got {d})")
    _defaults["dtype"] = d


def get_default_dtype():
    return _defaults["dtype"]


def set_default_device(device):
    """The device creation functions (and new layers) use when no
    ``device=`` is given; ``None`` restores the CPU."""
    if device is not None and (isinstance(device, builtins.bool) or not isinstance(device, (str, int, _C.device))):
        raise TypeError(f"set_default_device(): expected a device (str, ember.device or int), got "
                        f"{type(device).__name__}")
    if device is not None:
        device = _resolve_cuda(device if isinstance(device, _C.device) else _C.device(device))  # validates
    _defaults["device"] = device


def get_default_device():
    return _device(None)


def _finish(t, requires_grad):
    return _C.requires_grad_(t, True) if requires_grad else t


def _shape_from(size_args, kwargs):
    size = kwargs.pop("size", None)
    if size is not None:
        if size_args:
            raise TypeError("size was given both positionally and as the size= keyword")
        return _sizes((size,))
    return _sizes(size_args)


def _factory(fill: Any, name: str, floating_only: bool = False) -> Callable[..., Tensor]:
    def create(*size: Any, out: Any = None, dtype: Any = None, layout: Any = None, device: Any = None,
               requires_grad: bool = False, pin_memory: bool = False, **kw: Any) -> Tensor:
        shape = _shape_from(size, kw)
        if kw:
            raise TypeError(f"got an unexpected keyword argument '{next(iter(kw))}'")
        if out is None:
            return _finish(fill(shape, dtype or _default_dtype(), _device(device)), requires_grad)
        dtype = _out.factory_dtype(out, dtype, name)
        if floating_only and not out.is_floating_point():
            raise NotImplementedError(f"{name}(): out= of dtype {_out.dtype_name(dtype)} is not supported; {name} "
                                      "fills floating-point tensors only")
        return _out.write(out, fill(shape, dtype, out.device), name)
    create.__name__ = name
    return create


zeros = _factory(lambda s, d, dev: _C.full(s, 0, d, dev), "zeros")
ones = _factory(lambda s, d, dev: _C.full(s, 1, d, dev), "ones")
empty = _factory(lambda s, d, dev: _C.empty(s, d, dev), "empty")
rand = _factory(lambda s, d, dev: _C.rand(s, d, dev), "rand", floating_only=True)
randn = _factory(lambda s, d, dev: _C.randn(s, d, dev), "randn", floating_only=True)


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = (_C.dtype.bool if isinstance(fill_value, bool) else _int64 if isinstance(fill_value, int)
                 else _default_dtype())
    return _finish(_C.full(_sizes((size,)), fill_value, dtype, _device(device)), requires_grad)


def _like(fill: Any) -> Callable[..., Tensor]:  # *_like keep the input's dtype, as in PyTorch
    def create(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,  # noqa: A002
               memory_format: Any = None) -> Tensor:
        return _finish(fill(list(input.shape), dtype or input.dtype, device or input.device), requires_grad)
    return create


zeros_like = _like(lambda s, d, dev: _C.full(s, 0, d, dev))
ones_like = _like(lambda s, d, dev: _C.full(s, 1, d, dev))
empty_like = _like(lambda s, d, dev: _C.empty(s, d, dev))
rand_like = _like(lambda s, d, dev: _C.rand(s, d, dev))
randn_like = _like(lambda s, d, dev: _C.randn(s, d, dev))


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):  # noqa: A002
    return _finish(_C.full(list(input.shape), fill_value, dtype or input.dtype, device or input.device),
                   requires_grad)


def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    t = _C.tensor(data, dtype, _device(device))
    if dtype is None and t.dtype == _float32 and _defaults["dtype"] != _float32 and _from_python_floats(data):
        t = _C.tensor(data, _defaults["dtype"], _device(device))  # parsed again: no float32 rounding on the way
    return _finish(t, requires_grad)


def _from_python_floats(data):
    """Whether tensor(data) took float32 from Python floats (which follow the
    default dtype) rather than from float32 arrays or tensors (which keep it)."""
    import numpy as np
    while isinstance(data, (list, tuple)) and data:
        data = data[0]
    return not isinstance(data, (np.ndarray, np.generic, Tensor))


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (dtype or device) else data
    return _C.tensor(data, dtype, _device(device))


def from_numpy(array):
    return _C.from_numpy(array)


def _number(x):
    if isinstance(x, Tensor):
        if x.numel() != 1:
            raise TypeError(f"expected a number or a one-element tensor, not a tensor of shape {list(x.shape)}")
        return x.item()
    return x


def arange(start: Any, end: Any = None, step: Any = 1, *, out: Any = None, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    start, end, step = _number(start), _number(end), _number(step)
    if end is None:
        start, end = 0, start
    if out is not None:
        dtype = _out.factory_dtype(out, dtype, "arange")
        device = out.device
    if dtype is None:
        integral = builtins.all(isinstance(v, int) for v in (start, end, step))
        dtype = _int64 if integral else _default_dtype()
    result = _C.arange(builtins.float(start), builtins.float(end), builtins.float(step), dtype, _device(device))
    if out is None:
        return _finish(result, requires_grad)
    if out.numel() != 0 and out.numel() != result.numel():
        _out.resize_for(out, result.shape, message=(
            f"The number of elements in the out tensor of shape {list(out.shape)} is {out.numel()} which does not "
            f"match the computed number of elements {result.numel()}. Note that this may occur as a result of "
            f"rounding error. The out tensor will be resized to a tensor of shape ({result.numel()},)."))
    return _out.write(out, result, "arange")


def linspace(start: Any, end: Any, steps: int, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    return _finish(_C.linspace(builtins.float(_number(start)), builtins.float(_number(end)), int(steps),
                               dtype or _default_dtype(), _device(device)), requires_grad)


def eye(n: int, m: Any = None, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _finish(_C.eye(n, n if m is None else m, dtype or _default_dtype(), _device(device)), requires_grad)


def randint(low=0, high=None, size=None, *, dtype=None, device=None, requires_grad=False, generator=None):
    if size is None and isinstance(high, (tuple, list)) or high is None and size is not None:
        low, high, size = 0, low, high if size is None else size  # randint(high, size)
    elif high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    return _C.randint(int(low), int(high), _sizes((size,)), dtype or _int64, _device(device))


def randperm(n: int, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
             generator: Any = None) -> Tensor:
    return _C.randperm(int(n), dtype or _int64, _device(device))


def normal(mean=0.0, std=1.0, size=None, *, dtype=None, device=None, requires_grad=False, generator=None):
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        noise = _C.randn(list(like.shape), like.dtype, like.device)
        return noise * std + mean
    if size is None:
        raise TypeError("normal() needs size= when mean and std are numbers")
    t = _C.empty(_sizes((size,)), dtype or _default_dtype(), _device(device))
    return _finish(_C.normal_(t, builtins.float(mean), builtins.float(std)), requires_grad)


def manual_seed(seed):
    _C.manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)


def seed():
    import time
    s = time.time_ns() & 0xFFFFFFFFFFFF
    _C.manual_seed(s)
    return s


initial_seed = _C.initial_seed


def set_num_threads(n):
    """Threads CPU kernels may use (PyTorch's intra-op count). Results do not
    depend on it; on a busy machine ember may still use fewer."""
    if isinstance(n, builtins.bool) or not isinstance(n, int):
        raise RuntimeError(f"set_num_threads expects an int, but got {type(n).__name__}")
    if n < 1:
        raise RuntimeError("set_num_threads expects a positive integer")
    if n > 1024:  # OpenMP would abort the process if it could not start them
        raise RuntimeError(f"set_num_threads: at most 1024 threads are supported, got {n}")
    _C.set_num_threads(n)


def get_num_threads():
    return _C.get_num_threads()


def FloatTensor(*args):  # noqa: N802 - legacy constructor names
    return _legacy(args, _float32)


def LongTensor(*args):  # noqa: N802
    return _legacy(args, _int64)


def DoubleTensor(*args):  # noqa: N802
    return _legacy(args, _C.dtype.float64)


def IntTensor(*args):  # noqa: N802
    return _legacy(args, _C.dtype.int32)


def BoolTensor(*args):  # noqa: N802
    return _legacy(args, _C.dtype.bool)


def _legacy(args, dtype):
    if len(args) == 1 and not isinstance(args[0], int):
        return _C.tensor(args[0], dtype, _C.device("cpu"))
    return _C.empty(_sizes(args), dtype, _C.device("cpu"))


# ---------------------------------------------------------------- math and joining

def cat(tensors: Any, dim: int = 0, *, axis: Any = None, out: Any = None) -> Tensor:
    if isinstance(tensors, (list, tuple)) and not tensors:
        raise ValueError("ember.cat(): expected a non-empty list of Tensors")
    result = _C.cat(tensors, dim if axis is None else axis)
    if out is None:
        return result
    return _out.write(out, result, "cat", tensors,
                      cast_error=(TypeError, "torch.cat(): input types can't be cast to the desired output type {out}"))


concat = concatenate = cat


def stack(tensors: Any, dim: int = 0, *, out: Any = None) -> Tensor:
    result = _C.stack(tensors, dim)
    if out is None:
        return result
    return _out.write(out, result, "stack", tensors,
                      cast_error=(TypeError, "torch.cat(): input types can't be cast to the desired output type {out}"))


def _check_condition(condition):
    if isinstance(condition, Tensor) and condition.dtype not in (_C.dtype.bool, _C.dtype.uint8):
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{str(condition.dtype)[len('ember.'):]}")


def where(condition, input=None, other=None, *, out=None):  # noqa: A002
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    _check_condition(condition)
    result = _C.where(condition, input, other)
    return result if out is None else _out.write(out, result, "where", (input, other))


def clamp(input, min=None, max=None, *, out=None):  # noqa: A002
    result = input.clamp(min, max)
    return result if out is None else _out.write(out, result, "clamp", (input, min, max))


clip = clamp


_ACCUMULATE_IN_OUT_DTYPE = {"sum", "prod"}


def _method_function(name):
    def fn(input, *args, out=None, **kwargs):  # noqa: A002
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
        to_bool = False
        if name in _ACCUMULATE_IN_OUT_DTYPE and isinstance(out, Tensor) and kwargs.get("dtype") is None:
            if out.dtype == _C.dtype.bool:
                to_bool = True  # a bool sum/product: is it nonzero
            else:
                kwargs["dtype"] = out.dtype  # PyTorch sums in the out tensor's dtype
        result = getattr(input, name)(*args, **kwargs)
        if to_bool:
            result = result != 0
        if out is None:
            return result
        inputs = (input, *args)
        if isinstance(result, tuple):  # max/min along a dim: out=(values, indices)
            values, indices = _out.write_pair(out, result[0], result[1], name, inputs)
            return type(result)(values, indices)
        return _out.write(out, result, name, inputs)
    fn.__name__ = name
    return fn


_METHOD_FUNCTIONS = [
    "sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "cumsum", "norm", "var", "std",
    "all", "any", "softmax", "log_softmax", "reshape", "transpose", "permute", "squeeze", "unsqueeze", "flatten",
    "split", "chunk", "unbind", "t", "numel", "matmul", "mm", "bmm", "mv", "dot", "index_select", "gather",
    "masked_fill", "nonzero", "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "pow",
    "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "sign", "floor", "ceil",
    "round", "trunc", "log1p", "expm1", "log2", "log10", "exp2", "square", "reciprocal", "erf", "neg", "maximum",
    "minimum", "atan2", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
    "logical_not", "bitwise_not", "floor_divide", "remainder", "detach", "clone", "swapaxes", "unflatten",
]
globals().update({name: _method_function(name) for name in _METHOD_FUNCTIONS})
if TYPE_CHECKING:  # what the line above defines, spelled out for type checkers and editors
    def _generated(input: Any, *args: Any, out: Any = None, **kwargs: Any) -> Any: ...  # noqa: A002

    sum = mean = prod = max = min = amax = amin = argmax = argmin = cumsum = norm = var = std = \
        all = any = softmax = log_softmax = reshape = transpose = permute = squeeze = unsqueeze = \
        flatten = split = chunk = unbind = t = matmul = mm = bmm = mv = dot = \
        index_select = gather = masked_fill = nonzero = add = sub = subtract = mul = multiply = \
        div = divide = true_divide = abs = exp = log = sqrt = rsqrt = sin = cos = tan = \
        tanh = sigmoid = relu = sign = floor = ceil = round = trunc = log1p = expm1 = log2 = \
        log10 = exp2 = square = reciprocal = erf = neg = maximum = minimum = atan2 = eq = ne = lt = \
        le = gt = ge = logical_and = logical_or = logical_xor = logical_not = bitwise_not = \
        floor_divide = remainder = detach = clone = swapaxes = unflatten = _generated
negative = globals()["neg"]


def pow(input, exponent):  # noqa: A001,A002 - PyTorch's names; the base may be a Python number
    if not isinstance(input, Tensor) and isinstance(exponent, Tensor):
        return exponent.__rpow__(input)
    return _method_function("pow")(input, exponent)
absolute = globals()["abs"]


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):  # noqa: A002
    return input.numel()


def is_floating_point(input):  # noqa: A002
    return input.is_floating_point()


def result_type(a, b):
    return _C.result_type(a, b)


def broadcast_shapes(*shapes):
    out = []
    for shape in shapes:
        shape = list(shape)
        n = builtins.max(len(out), len(shape))
        out = [1] * (n - len(out)) + out
        shape = [1] * (n - len(shape)) + shape
        for i, (a, b) in enumerate(zip(out, shape)):
            if a != b and a != 1 and b != 1:
                raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape. "
                                   f"Mismatch is at dim {i}: {a} vs {b}")
            out[i] = b if a == 1 else a
    from ._size import Size
    return Size(out)


def meshgrid(*tensors: Any, indexing: Any = None) -> tuple[Tensor, ...]:
    """Coordinate grids from 1-d (or 0-d) tensors, as ``torch.meshgrid``: each
    output is an expanded view of its input. ``indexing='ij'`` (the default,
    with PyTorch's warning when it is not given) puts input *i* along dim *i*;
    ``'xy'`` swaps the first two dims, as numpy's default does."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    if indexing is None:
        import warnings
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"meshgrid(): expected Tensor as element of the tensor list, but got {type(t).__name__}")
        if t.dim() > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got a tensor of "
                               f"shape {list(t.shape)}")
    if builtins.any(t.dtype != tensors[0].dtype for t in tensors):
        raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    if builtins.any(t.device != tensors[0].device for t in tensors):
        raise RuntimeError("meshgrid expects all tensors to have the same device")
    swap = indexing == "xy" and len(tensors) >= 2
    if swap:
        tensors = (tensors[1], tensors[0]) + tuple(tensors[2:])
    sizes = [t.numel() for t in tensors]
    grids = []
    for i, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[i] = -1
        grids.append(t.reshape(view).expand(*sizes))
    if swap:  # back to the caller's order
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)
