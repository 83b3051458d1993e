"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

import ember

from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """PyTorch's SGD update, for each parameter p with gradient g:

        g = g + weight_decay * p
        buf = g (first step)  |  buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov)  |  g = buf
        p = p - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._run_closure(closure)
        with ember.no_grad():
            for group in self.param_groups:
                lr = group["lr"]
                momentum = group["momentum"]
                dampening = group["dampening"]
                weight_decay = group["weight_decay"]
                nesterov = group["nesterov"]
                maximize = group["maximize"]
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    d_p = -grad if maximize else grad
                    if weight_decay != 0:
                        d_p = d_p + weight_decay * p
                    if momentum != 0:
                        state = self.state[p]
                        buf = state.get("momentum_buffer")
                        if buf is None:
                            buf = d_p.clone().detach()
                            state["momentum_buffer"] = buf
                        else:
                            buf.mul_(momentum)
                            buf.add_((1 - dampening) * d_p if dampening != 0 else d_p)
                        d_p = d_p + momentum * buf if nesterov else buf
                    p.sub_(lr * d_p)
        return loss
