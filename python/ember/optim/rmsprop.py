"""RMSprop with PyTorch's update order (optional momentum and centering)."""

import ember

from .optimizer import Optimizer, check_non_negative

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """For each parameter p with gradient g:

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        centered:  m = m + (1 - alpha) * (g - m);  avg = sqrt(v - m * m) + eps
        else:      avg = sqrt(v) + eps
        momentum:  buf = momentum * buf + g / avg;  p = p - lr * buf
        else:      p = p - lr * g / avg
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        check_non_negative(lr=("learning rate", lr), eps=("epsilon value", eps), momentum=("momentum value", momentum),
                           weight_decay=("weight_decay value", weight_decay), alpha=("alpha value", alpha))
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, capturable=capturable, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._run_closure(closure)
        with ember.no_grad():
            for group in self.param_groups:
                alpha, eps, lr = group["alpha"], group["eps"], group["lr"]
                weight_decay, momentum, centered = group["weight_decay"], group["momentum"], group["centered"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = -p.grad if group["maximize"] else p.grad
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = 0
                        state["square_avg"] = ember.zeros_like(p)
                        if momentum > 0:
                            state["momentum_buffer"] = ember.zeros_like(p)
                        if centered:
                            state["grad_avg"] = ember.zeros_like(p)
                    state["step"] += 1
                    if weight_decay != 0:
                        grad = grad + weight_decay * p
                    square_avg = state["square_avg"]
                    square_avg.mul_(alpha)
                    square_avg.add_(grad * grad * (1 - alpha))
                    if centered:
                        grad_avg = state["grad_avg"]
                        grad_avg.add_((grad - grad_avg) * (1 - alpha))
                        avg = (square_avg - grad_avg * grad_avg).sqrt() + eps
                    else:
                        avg = square_avg.sqrt() + eps
                    if momentum > 0:
                        buf = state["momentum_buffer"]
                        buf.mul_(momentum)
                        buf.add_(grad / avg)
                        p.sub_(buf * lr)
                    else:
                        p.sub_(grad / avg * lr)
        return loss
