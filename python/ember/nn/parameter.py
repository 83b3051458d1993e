"""Parameter: a tensor that a Module registers as one of its learnable weights.

A Parameter is an ember Tensor (a Python subclass of the C++ class) that shares
storage with the tensor it wraps. Operations on it return plain tensors,
because the core builds its results as the base class.
"""

import ember

__all__ = ["Parameter", "UninitializedParameter", "UninitializedBuffer", "is_lazy"]


class Parameter(ember.Tensor):
    """A leaf tensor that ``Module.__setattr__`` records in ``_parameters``.

    ``Parameter(data, requires_grad=True)`` aliases ``data`` (detached), so
    writing through either one is seen by the other.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = ember.empty(0)
        # Tensor.__init__(other) makes self an alias of other's storage.
        super().__init__(data.detach())
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.data.clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        # Pickle as (data, requires_grad); the data tensor pickles itself.
        return (_rebuild_parameter, (self.data, self.requires_grad))


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (used by lazy modules).

    It holds an empty tensor until :meth:`materialize` gives it a shape; it
    then becomes a plain :class:`Parameter` (the same object).
    """

    cls_to_become = Parameter

    def __init__(self, requires_grad=True, device=None, dtype=None):
        kwargs = {}
        if device is not None:
            kwargs["device"] = device
        if dtype is not None:
            kwargs["dtype"] = dtype
        super().__init__(ember.empty(0, **kwargs), requires_grad)

    def materialize(self, shape, device=None, dtype=None):
        """Allocate storage of ``shape`` (uninitialized values) in place."""
        if device is None:
            device = self.data.device
        if dtype is None:
            dtype = self.data.dtype
        self.data = ember.empty(tuple(shape), device=device, dtype=dtype)
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise ValueError(_uninit_message("shape"))

    def size(self, *args, **kwargs):
        raise ValueError(_uninit_message("size"))

    def numel(self):
        raise ValueError(_uninit_message("numel"))

    def __repr__(self):
        return "<UninitializedParameter>"

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.requires_grad, self.data.device, self.data.dtype)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        return (UninitializedParameter, (self.requires_grad,))


class _MaterializedBuffer(ember.Tensor):
    """What an UninitializedBuffer becomes in place: a plain tensor (the native
    class itself cannot be assigned to ``__class__`` of a Python subclass)."""


class UninitializedBuffer(ember.Tensor):
    """A buffer whose shape is not known yet (a lazy module's running statistics).

    :meth:`materialize` gives it a shape and turns it into a plain tensor
    (the same object). Moving it (``to``, ``cuda``, ``double``, ...) keeps it
    uninitialized, on the new device or dtype.
    """

    def __init__(self, requires_grad=False, device=None, dtype=None):
        kwargs = {}
        if device is not None:
            kwargs["device"] = device
        if dtype is not None:
            kwargs["dtype"] = dtype
        super().__init__(ember.empty(0, **kwargs))
        if requires_grad:
            self.requires_grad_(True)

    def materialize(self, shape, device=None, dtype=None):
        """Allocate storage of ``shape`` (uninitialized values) in place."""
        if device is None:
            device = self.data.device
        if dtype is None:
            dtype = self.data.dtype
        self.data = ember.empty(tuple(shape), device=device, dtype=dtype)
        self.__class__ = _MaterializedBuffer

    def to(self, *args, **kwargs):
        moved = ember.Tensor.to(self.data, *args, **kwargs)
        return UninitializedBuffer(self.requires_grad, moved.device, moved.dtype)

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    def cpu(self):
        return self.to("cpu")

    @property
    def shape(self):
        raise ValueError(_uninit_message("shape").replace("parameter", "buffer"))

    def size(self, *args, **kwargs):
        raise ValueError(_uninit_message("size").replace("parameter", "buffer"))

    def numel(self):
        raise ValueError(_uninit_message("numel").replace("parameter", "buffer"))

    def __repr__(self):
        return "<UninitializedBuffer>"

    __deepcopy__ = UninitializedParameter.__deepcopy__

    def __reduce_ex__(self, protocol):
        return (UninitializedBuffer, (self.requires_grad,))


def _uninit_message(what):
    return (
        f"Attempted to use an uninitialized parameter in {what}. "
        "This error happens when you are using a `LazyModule` or explicitly "
        "manipulating `nn.parameter.UninitializedParameter` objects. When "
        "using LazyModules call `forward` with a dummy batch to initialize "
        "the parameters before calling ember functions"
    )


def is_lazy(param):
    """True for parameters and buffers that have not been given a shape yet."""
    return isinstance(param, (UninitializedParameter, UninitializedBuffer))
