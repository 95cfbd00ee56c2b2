"""Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay (torch.optim.SGD)."""
from __future__ import annotations

from ..sparse import RowSparseGrad
from .optimizer import Optimizer, check_hyper, check_torch_flags

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (torch.optim.SGD's update, step for step).

    With g the gradient, lambda the weight decay, mu the momentum, tau the dampening:

        g <- g + lambda * p                       (weight decay enters the gradient, L2 style)
        b <- g                    on the first step,
        b <- mu * b + (1 - tau) * g   afterwards  (momentum buffer)
        g <- g + mu * b  if nesterov  else  b     (only when mu != 0)
        p <- p - lr * g

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-3, torch's).
        momentum: mu (default 0).
        dampening: tau (default 0).
        weight_decay: lambda, an L2 penalty (default 0).
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: ascend the objective instead.

    Sparse gradients (`Embedding(sparse=True)`): with momentum 0 and weight_decay 0
    only the touched rows change (p[rows] -= lr * values), which costs O(rows * dim)
    and equals the dense update exactly. With momentum or weight decay every row of the
    table moves on every step (the buffer keeps pushing rows the batch did not touch),
    so the gradient is densified and the dense update is applied: the result is exactly
    what dense gradients give, at dense cost (torch's sparse SGD with momentum likewise
    ends up with a buffer that covers every row ever touched).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        check_torch_flags("SGD", foreach=foreach, fused=fused, differentiable=differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        check_hyper("SGD", g, "lr", label="learning rate")
        check_hyper("SGD", g, "momentum")
        check_hyper("SGD", g, "dampening")
        check_hyper("SGD", g, "weight_decay")
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={g['momentum']}, dampening={g['dampening']})")

    def _update(self, p, grad, state, group):
        lr, mu = float(group["lr"]), float(group["momentum"])
        wd, tau = float(group["weight_decay"]), float(group["dampening"])
        x = p.data
        if isinstance(grad, RowSparseGrad):
            if mu == 0 and wd == 0:
                # Only the looked-up rows move (rows are unique: the gradient is coalesced).
                rows = x.take(grad.indices, axis=0)  # = x[indices], faster in NumPy
                rows -= lr * grad.values
                x[grad.indices] = rows
                return
            grad = grad.to_dense_array()  # momentum / weight decay move every row: dense semantics
        if wd != 0:
            grad = grad + wd * x
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()  # grad may be p.grad itself
            else:
                buf *= mu
                buf += (1.0 - tau) * grad
            grad = grad + mu * buf if group["nesterov"] else buf
        x -= lr * grad
