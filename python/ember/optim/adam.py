"""Adam with PyTorch's bias-corrected update (and optional AMSGrad)."""

import math

import ember

from .optimizer import Optimizer

__all__ = ["Adam"]


class Adam(Optimizer):
    """For each parameter p with gradient g, at step t:

        g = g + weight_decay * p
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v) / sqrt(1 - beta2**t) + eps     (sqrt(max v) with amsgrad)
        p = p - lr / (1 - beta1**t) * m / denom
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._run_closure(closure)
        with ember.no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                lr = group["lr"]
                eps = group["eps"]
                weight_decay = group["weight_decay"]
                amsgrad = group["amsgrad"]
                maximize = group["maximize"]
                decoupled = group.get("decoupled_weight_decay", False)
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    if maximize:
                        grad = -grad
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = 0
                        state["exp_avg"] = ember.zeros_like(p)
                        state["exp_avg_sq"] = ember.zeros_like(p)
                        if amsgrad:
                            state["max_exp_avg_sq"] = ember.zeros_like(p)
                    state["step"] += 1
                    step = state["step"]
                    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

                    if weight_decay != 0:
                        if decoupled:  # AdamW-style: shrink the weights directly
                            p.mul_(1 - lr * weight_decay)
                        else:
                            grad = grad + weight_decay * p
                    # m += (1 - beta1) * (g - m)  (PyTorch's lerp)
                    exp_avg.add_((grad - exp_avg) * (1 - beta1))
                    exp_avg_sq.mul_(beta2)
                    exp_avg_sq.add_(((1 - beta2) * grad) * grad)

                    bias_correction1 = 1 - beta1 ** step
                    bias_correction2 = 1 - beta2 ** step
                    step_size = lr / bias_correction1
                    bc2_sqrt = math.sqrt(bias_correction2)
                    if amsgrad:
                        max_sq = state["max_exp_avg_sq"]
                        max_sq.copy_(ember.maximum(max_sq, exp_avg_sq))
                        denom = max_sq.sqrt() / bc2_sqrt + eps
                    else:
                        denom = exp_avg_sq.sqrt() / bc2_sqrt + eps
                    p.sub_((exp_avg / denom) * step_size)
        return loss
