"""RMSprop: divide the gradient by a running RMS of recent gradients (torch.optim.RMSprop)."""
from __future__ import annotations

from .. import backend as _B
from ..sparse import RowSparseGrad
from .optimizer import Optimizer, check_hyper, check_torch_flags

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e), torch.optim.RMSprop's update step for step.

    With lambda the weight decay, alpha the smoothing constant, mu the momentum:

        g <- g + lambda * p                          (weight decay enters the gradient)
        s <- alpha * s + (1 - alpha) * g^2
        centered:  a <- alpha * a + (1 - alpha) * g;  d = sqrt(s - a^2) + eps
        otherwise:                                    d = sqrt(s) + eps
        mu > 0:    b <- mu * b + g / d;  p <- p - lr * b
        otherwise: p <- p - lr * g / d

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: lambda (default 0).
        momentum: mu (default 0).
        centered: normalise by an estimate of the gradient's variance instead of its second moment.
        maximize: ascend the objective instead.

    Sparse gradients raise (as in torch): s decays on every row each step, so a
    row-sparse update would not be RMSprop.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        check_torch_flags("RMSprop", foreach, None, capturable, differentiable)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        check_hyper("RMSprop", g, "lr", label="learning rate")
        check_hyper("RMSprop", g, "eps", label="epsilon value")
        check_hyper("RMSprop", g, "momentum")
        check_hyper("RMSprop", g, "weight_decay")
        check_hyper("RMSprop", g, "alpha")

    def _update(self, p, grad, state, group):
        if isinstance(grad, RowSparseGrad):
            raise self._sparse_unsupported(p, "its running average decays every row on every step")
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        wd, mu = float(group["weight_decay"]), float(group["momentum"])
        x = p.data
        xp = _B.get_array_module(x)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(x)
        if mu > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = xp.zeros_like(x)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = xp.zeros_like(x)
        state["step"] += 1
        if wd != 0:
            grad = grad + wd * x
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * (grad * grad)
        if group["centered"]:
            a = state["grad_avg"]
            a += (1 - alpha) * (grad - a)  # = alpha * a + (1 - alpha) * g (torch's lerp)
            d = xp.sqrt(s - a * a)
        else:
            d = xp.sqrt(s)
        d += eps
        if mu > 0:
            b = state["momentum_buffer"]
            b *= mu
            b += grad / d
            x -= lr * b
        else:
            x -= lr * (grad / d)
