"""Adagrad with PyTorch's learning-rate decay and initial accumulator."""

import ember

from .optimizer import Optimizer, check_non_negative

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """For each parameter p with gradient g, at step t:

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                          (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        check_non_negative(lr=("learning rate", lr), lr_decay=("lr_decay value", lr_decay),
                           weight_decay=("weight_decay value", weight_decay),
                           initial_accumulator_value=("initial_accumulator_value value", initial_accumulator_value),
                           eps=("epsilon value", eps))
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:  # PyTorch creates the state up front
            for p in group["params"]:
                self.state[p]["step"] = 0
                self.state[p]["sum"] = ember.full_like(p, group["initial_accumulator_value"])

    def step(self, closure=None):
        loss = self._run_closure(closure)
        with ember.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = -p.grad if group["maximize"] else p.grad
                    state = self.state[p]
                    state["step"] += 1
                    if group["weight_decay"] != 0:
                        grad = grad + group["weight_decay"] * p
                    clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
                    state["sum"].add_(grad * grad)
                    p.sub_(grad / (state["sum"].sqrt() + group["eps"]) * clr)
        return loss
