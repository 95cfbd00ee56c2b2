"""Adadelta: per-coordinate steps from running averages of squared gradients and squared updates."""
from __future__ import annotations

from .. import backend as _B
from ..sparse import RowSparseGrad
from .optimizer import Optimizer, check_hyper, check_torch_flags

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), torch.optim.Adadelta's update step for step.

    The step's size is the ratio of two running RMS values, so it has the units of p
    (no hand-tuned global lr is needed; lr=1 is the paper's method):

        g <- g + lambda * p                              (weight decay enters the gradient)
        v <- rho * v + (1 - rho) * g^2
        d  = sqrt(u + eps) / sqrt(v + eps) * g
        u <- rho * u + (1 - rho) * d^2
        p <- p - lr * d

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: scales the step (default 1.0).
        rho: the decay of both running averages (default 0.9).
        eps: added inside both square roots (default 1e-6).
        weight_decay: lambda (default 0).
        maximize: ascend the objective instead.

    Sparse gradients raise (as in torch): the averages decay on every row each step.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        check_torch_flags("Adadelta", foreach, None, capturable, differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        check_hyper("Adadelta", g, "lr", label="learning rate")
        check_hyper("Adadelta", g, "rho", high=1.0, high_open=False, label="rho value")
        check_hyper("Adadelta", g, "eps", label="epsilon value")
        check_hyper("Adadelta", g, "weight_decay")

    def _update(self, p, grad, state, group):
        if isinstance(grad, RowSparseGrad):
            raise self._sparse_unsupported(p, "its running averages decay every row on every step")
        lr, rho, eps, wd = float(group["lr"]), float(group["rho"]), float(group["eps"]), float(group["weight_decay"])
        x = p.data
        xp = _B.get_array_module(x)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(x)
            state["acc_delta"] = xp.zeros_like(x)
        state["step"] += 1
        if wd != 0:
            grad = grad + wd * x
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * (grad * grad)
        d = xp.sqrt(u + eps) / xp.sqrt(v + eps) * grad
        u *= rho
        u += (1 - rho) * (d * d)
        x -= lr * d
