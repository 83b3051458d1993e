"""``ember.autograd.Function``: custom differentiable operations written in
Python, as ``torch.autograd.Function``::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

    y = Exp.apply(x)

``apply`` runs ``forward`` without recording history, then makes one graph
node (named ``ExpBackward``) the ``grad_fn`` of the outputs; the C++ engine
calls back into ``backward`` with one gradient per output and expects one
gradient (or None) per ``forward`` argument.
"""
import ember
from ember import _C

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


class FunctionCtx:
    """The ``ctx`` that ``forward`` and ``backward`` share."""

    def __init__(self):
        self._saved = None
        self._non_differentiable = set()
        self._dirty = ()
        self.materialize_grads = True
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        """Tensors (or None) that ``backward`` reads through ``saved_tensors``;
        an in-place change to one before backward is an error, as in PyTorch."""
        for t in tensors:
            if t is not None and not isinstance(t, ember.Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument {tensors.index(t)} is "
                                f"of type {type(t).__name__}")
        self._to_save = tensors

    def mark_non_differentiable(self, *tensors):
        """Outputs that get no gradient (indices, masks); their gradients in
        ``backward`` are zeros."""
        self._non_differentiable = {id(t) for t in tensors}

    def mark_dirty(self, *tensors):
        """Inputs that ``forward`` modified in place (accepted for
        compatibility; ember records the outputs' history either way)."""
        self._dirty = tensors

    def set_materialize_grads(self, value):
        """Accepted for compatibility. Unlike PyTorch, where False passes None
        for the gradient of an output nobody used, ember's engine always
        passes zeros (a backward written for None handles zeros correctly)."""
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self):
        if self._saved is None:
            if getattr(self, "_released", False):
                raise RuntimeError("Trying to backward through the graph a second time (or directly access saved "
                                   "tensors after they have already been freed). Saved intermediate values of the "
                                   "graph are freed when you call .backward() or autograd.grad(). Specify "
                                   "retain_graph=True if you need to backward through the graph a second time or "
                                   "if you need to access saved tensors after calling backward.")
            return ()
        out = []
        for i, (tensor, version) in enumerate(self._saved):
            if tensor is not None and tensor._version != version:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [{tensor.type()} {list(tensor.shape)}], which is saved tensor {i} of "
                    f"{self._name}; is at version {tensor._version}; expected version {version} instead.")
            out.append(tensor)
        return tuple(out)

    # PyTorch's older spelling
    @property
    def saved_variables(self):
        return self.saved_tensors


class _FunctionMeta(type):
    def __init__(cls, name, bases, namespace):
        super().__init__(name, bases, namespace)
        # PyTorch names a custom Function's node "<Class>Backward"; ember's own
        # losses built on Function take their PyTorch op's node name instead.
        cls._backward_name = namespace.get("_node_name", name + "Backward")


def _flatten_outputs(result):
    if isinstance(result, tuple):
        return list(result), True
    return [result], False


class Function(metaclass=_FunctionMeta):
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``
    (or ``forward(*args)`` plus ``setup_context(ctx, inputs, output)``), then
    call ``apply``; never instantiate it."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("Legacy autograd function with non-static forward method is deprecated. Please use new-"
                           "style autograd function with static forward method. (Example: "
                           "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx._name = cls._backward_name
        recording = ember.is_grad_enabled()
        ctx.needs_input_grad = tuple(recording and isinstance(a, ember.Tensor) and a.requires_grad for a in args)
        separate_setup = cls.setup_context is not Function.setup_context
        with ember.no_grad():
            if separate_setup:
                result = cls.forward(*args, **kwargs)
            else:
                result = cls.forward(ctx, *args, **kwargs)
        if separate_setup:
            cls.setup_context(ctx, args, result)
        outputs, is_tuple = _flatten_outputs(result)
        inputs = [a if isinstance(a, ember.Tensor) else None for a in args]
        input_ids = {id(a) for a in inputs if a is not None}
        # An input returned unchanged becomes a new tensor object sharing its
        # memory, so that the input itself keeps its own history.
        outputs = [_C.Tensor(o) if isinstance(o, ember.Tensor) and id(o) in input_ids else o for o in outputs]
        _save(ctx, outputs)
        if recording and any(ctx.needs_input_grad):
            tensor_outputs = [o for o in outputs if isinstance(o, ember.Tensor)]
            differentiable = [o for o in tensor_outputs
                              if id(o) not in ctx._non_differentiable and o.is_floating_point()]
            if differentiable:
                _C._function_record(cls._backward_name, inputs, differentiable,
                                    _backward_caller(cls, ctx, len(args), outputs, differentiable))
        for o in outputs:
            if isinstance(o, ember.Tensor) and id(o) in ctx._non_differentiable and o.requires_grad:
                o.requires_grad_(False)
        return tuple(outputs) if is_tuple else outputs[0]


def _save(ctx, outputs):
    """Stores the saved tensors with their versions. A saved output is kept
    as an alias without history: the output's node owns the ctx, and the
    output itself would make a reference cycle through the C++ graph."""
    to_save = getattr(ctx, "_to_save", None)
    if to_save is None:
        return
    output_ids = {id(o) for o in outputs}
    saved = []
    for t in to_save:
        if t is None:
            saved.append((None, 0))
        else:
            saved.append((t.detach() if id(t) in output_ids else t, t._version))
    ctx._saved = saved
    del ctx._to_save


def _backward_caller(cls, ctx, num_args, outputs, differentiable):
    """The callable the graph node runs: the engine's gradients (one per
    differentiable output) -> the user's backward -> one per argument."""
    positions = {id(o): i for i, o in enumerate(differentiable)}
    # Only the outputs' geometry is kept: holding the outputs themselves would
    # make a cycle (output -> node -> this callable -> output).
    layout = [(positions.get(id(o)), (list(o.shape), o.dtype, o.device) if isinstance(o, ember.Tensor) else None)
              for o in outputs]

    def run(grads):
        full = []
        for index, geometry in layout:
            g = grads[index] if index is not None else None
            if g is None and ctx.materialize_grads and geometry is not None:
                g = ember.zeros(geometry[0], dtype=geometry[1], device=geometry[2])
            full.append(g)
        result = cls.backward(ctx, *full)
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) > num_args and all(r is None for r in result[num_args:]):
            result = result[:num_args]  # PyTorch accepts trailing Nones
        if len(result) != num_args:
            raise RuntimeError(f"function {cls._backward_name} returned an incorrect number of gradients "
                               f"(expected {num_args}, got {len(result)})")
        return result

    # After a backward without retain_graph the node drops this callable;
    # the ctx's saved tensors go with it.
    return run


def once_differentiable(fn):
    """Marks a backward as not differentiable again: it runs without
    recording history (ember records none in backward without create_graph
    anyway)."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with ember.no_grad():
            return fn(ctx, *args)
    return wrapper
