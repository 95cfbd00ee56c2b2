"""Adam, AdamW and SparseAdam (torch.optim's updates)."""
from __future__ import annotations

import math

from .. import backend as _B
from ..sparse import RowSparseGrad
from .optimizer import Optimizer, check_hyper, check_torch_flags

__all__ = ["Adam", "AdamW", "SparseAdam"]


def _check_betas(opt, g):
    betas = g["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{opt}: betas must be a pair (beta1, beta2), got {betas!r}")
    for i, b in enumerate(betas):
        check_hyper(opt, {"beta": b}, "beta", 0.0, 1.0, label=f"beta parameter at index {i}")


def _check_adam_group(opt, g):
    """The checks of Adam and its variants: lr, eps and weight_decay >= 0, betas in [0, 1) (torch's messages)."""
    check_hyper(opt, g, "lr", label="learning rate")
    check_hyper(opt, g, "eps", label="epsilon value")
    _check_betas(opt, g)
    check_hyper(opt, g, "weight_decay")


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), torch.optim.Adam's update step for step.

    At step t (counting from 1), with lambda the weight decay:

        g <- g + lambda * p                  (L2 weight decay; AdamW instead does p <- p * (1 - lr * lambda))
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        v_max <- max(v_max, v)               (amsgrad only; then v_max replaces v below)
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-3).
        betas: (beta1, beta2), the decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: lambda (default 0).
        amsgrad: use the running maximum of v (Reddi et al., 2018).
        maximize: ascend the objective instead.
        decoupled_weight_decay: AdamW's decay (what `AdamW` sets).

    Sparse gradients (`Embedding(sparse=True)`): a lazy update, the semantics of
    torch.optim.SparseAdam. Only the touched rows' m, v and p change; rows a batch did
    not use keep their moments (they are not decayed) and do not move, so the cost is
    O(rows * dim). The step count t is per parameter. The formula for a touched row is
    Adam's above (so when every row is touched each step, the result equals dense Adam);
    `SparseAdam` uses torch's SparseAdam formula instead. Weight decay and amsgrad with
    sparse gradients raise (they would touch every row).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        check_torch_flags(type(self).__name__, foreach, fused, capturable, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check_adam_group(type(self).__name__, g)

    @staticmethod
    def _moments(p, state, amsgrad):
        if not state:
            xp = _B.get_array_module(p.data)
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = _B.get_array_module(p.data).zeros_like(p.data)
        return state["exp_avg"], state["exp_avg_sq"]

    def _update(self, p, grad, state, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        b1, b2 = float(group["betas"][0]), float(group["betas"][1])
        amsgrad = bool(group["amsgrad"])
        m, v = self._moments(p, state, amsgrad)
        state["step"] = t = state["step"] + 1
        x = p.data
        xp = _B.get_array_module(x)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        step_size, bc2_sqrt = lr / bc1, bc2 ** 0.5
        if isinstance(grad, RowSparseGrad):
            if wd != 0 or amsgrad:
                raise self._sparse_unsupported(
                    p, "its lazy (SparseAdam-style) update has no weight_decay or amsgrad; set weight_decay=0 and "
                    "amsgrad=False for this parameter (AdamW's default weight_decay is 1e-2)")
            rows, g = grad.indices, grad.values  # unique rows: the update is non-linear
            m_rows, v_rows = m[rows], v[rows]  # copies (fancy indexing)
            m_rows += (1 - b1) * (g - m_rows)
            v_rows *= b2
            v_rows += (1 - b2) * (g * g)
            m[rows], v[rows] = m_rows, v_rows
            x[rows] -= step_size * (m_rows / (xp.sqrt(v_rows) / bc2_sqrt + eps))
            return
        if wd != 0:
            if group["decoupled_weight_decay"]:
                x *= 1 - lr * wd  # AdamW: decay the weights directly, not through the moments
            else:
                grad = grad + wd * x
        m += (1 - b1) * (grad - m)  # = beta1 * m + (1 - beta1) * g (torch's lerp)
        v *= b2
        v += (1 - b2) * (grad * grad)
        if amsgrad:
            vmax = state["max_exp_avg_sq"]
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        x -= step_size * (m / (xp.sqrt(v) / bc2_sqrt + eps))


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), torch.optim.AdamW's update.

    Each step first shrinks the weights, p <- p * (1 - lr * weight_decay), then applies
    the Adam update with the plain gradient (the decay never enters m or v).

    Args: as `Adam`, except weight_decay defaults to 1e-2.

    Sparse gradients raise unless weight_decay is 0 for that parameter (the decay
    shrinks every row each step); with weight_decay 0 the lazy update of `Adam` applies.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True, foreach=foreach, capturable=capturable,
                         differentiable=differentiable, fused=fused)


class SparseAdam(Optimizer):
    r"""torch.optim.SparseAdam: a lazy Adam for parameters with row-sparse gradients only.

    For the touched rows (with t the parameter's step count):

        m_rows <- m_rows + (1 - beta1) * (g - m_rows)
        v_rows <- v_rows + (1 - beta2) * (g^2 - v_rows)
        p_rows <- p_rows - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m_rows / (sqrt(v_rows) + eps)

    Note eps is added before the bias correction here (torch's SparseAdam formula), unlike
    in `Adam`. Untouched rows keep their moments and values. Dense gradients raise, as in torch.

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-3).
        betas: (beta1, beta2) (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        maximize: ascend the objective instead.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        check_hyper("SparseAdam", g, "lr", low_open=True, label="learning rate")
        check_hyper("SparseAdam", g, "eps", low_open=True, label="epsilon value")
        _check_betas("SparseAdam", g)

    def _update(self, p, grad, state, group):
        if not isinstance(grad, RowSparseGrad):
            raise RuntimeError(f"SparseAdam does not support dense gradients (parameter of shape {tuple(p.shape)}), "
                               "please consider Adam instead")
        lr, eps = float(group["lr"]), float(group["eps"])
        b1, b2 = float(group["betas"][0]), float(group["betas"][1])
        m, v = Adam._moments(p, state, False)
        state["step"] = t = state["step"] + 1
        rows, g = grad.indices, grad.values
        if rows.shape[0] == 0:
            return
        xp = _B.get_array_module(g)
        m_old, v_old = m[rows], v[rows]
        m_new = m_old + (1 - b1) * (g - m_old)
        v_new = v_old + (1 - b2) * (g * g - v_old)
        m[rows], v[rows] = m_new, v_new
        step_size = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        p.data[rows] -= step_size * (m_new / (xp.sqrt(v_new) + eps))
