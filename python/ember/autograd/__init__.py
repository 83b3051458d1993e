"""ember.autograd: grad mode, the backward engine (in C++), custom Functions and gradcheck."""
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .functional import backward, grad
from .gradcheck import gradcheck
from .function import Function, FunctionCtx, once_differentiable

__all__ = ["Function", "FunctionCtx", "once_differentiable", "backward", "enable_grad", "grad", "gradcheck", "inference_mode", "is_grad_enabled", "no_grad",
           "set_grad_enabled"]
