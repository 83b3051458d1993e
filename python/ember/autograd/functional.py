"""backward() and grad(): argument handling over the C++ engine."""
from .. import _C


def _as_list(x):
    if x is None:
        return None
    return [x] if isinstance(x, _C.Tensor) else list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates gradients of `tensors` into the leaves' `.grad`."""
    tensors = _as_list(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        _backward_into(tensors, _as_list(grad_tensors), bool(retain_graph), bool(create_graph), _as_list(inputs))
        return
    _C.backward(tensors, _as_list(grad_tensors), bool(retain_graph), bool(create_graph))


def _backward_into(tensors, grad_tensors, retain_graph, create_graph, inputs):
    """backward(inputs=...): accumulates into the .grad of `inputs` only
    (leaves or not), as PyTorch does."""
    if not inputs:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    grads = _C.grad(tensors, inputs, grad_tensors, retain_graph, create_graph, True)
    for x, g in zip(inputs, grads):
        if g is None:
            continue
        if x.grad is None:
            x.grad = g if create_graph else _C.clone(g.detach())
        elif create_graph:
            x.grad = x.grad + g
        else:
            prev = _C.is_grad_enabled()
            _C.set_grad_enabled(False)
            try:
                x.grad.add_(g)
            finally:
                _C.set_grad_enabled(prev)


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
