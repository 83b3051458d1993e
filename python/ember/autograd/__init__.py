"""ember.autograd: grad mode, the backward engine (in C++) and gradcheck."""
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .functional import backward, grad
from .gradcheck import gradcheck

__all__ = ["backward", "enable_grad", "grad", "gradcheck", "inference_mode", "is_grad_enabled", "no_grad",
           "set_grad_enabled"]
