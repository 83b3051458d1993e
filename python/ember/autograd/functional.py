"""backward() and grad(): argument handling over the C++ engine."""
from .. import _C


def _as_list(x):
    if x is None:
        return None
    return [x] if isinstance(x, _C.Tensor) else list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates gradients of `tensors` into the leaves' `.grad`."""
    if inputs is not None:
        raise NotImplementedError("backward(inputs=...) is not supported; use ember.autograd.grad")
    tensors = _as_list(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    _C.backward(tensors, _as_list(grad_tensors), bool(retain_graph), bool(create_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None,
         is_grads_batched=False, materialize_grads=False):
    """Returns the gradients of `outputs` with respect to `inputs` (a tuple), leaving `.grad` untouched."""
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    allow_unused = bool(allow_unused) or materialize_grads
    result = _C.grad(outputs, inputs, _as_list(grad_outputs), bool(retain_graph), bool(create_graph), allow_unused)
    if materialize_grads:
        result = [g if g is not None else _C.full(list(x.shape), 0, x.dtype, x.device) for g, x in zip(result, inputs)]
    return tuple(result)
