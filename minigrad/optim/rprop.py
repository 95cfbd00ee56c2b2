"""Rprop: resilient backpropagation, a per-weight step size driven by the sign of the gradient (torch.optim.Rprop)."""
from __future__ import annotations

import numbers

from .. import backend as _B
from ..sparse import RowSparseGrad
from .optimizer import Optimizer, check_hyper, check_torch_flags

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""Resilient backpropagation (Riedmiller & Braun, 1993), torch.optim.Rprop's update step for step.

    Only the sign of the gradient is used. Each weight keeps its own step size delta
    (starting at lr). With g the gradient and g_prev the one remembered from the last step:

        s = sign(g * g_prev)
        delta <- clamp(delta * eta_plus,  step_min, step_max)   where s > 0   (same direction: speed up)
        delta <- clamp(delta * eta_minus, step_min, step_max)   where s < 0   (overshot: slow down)
        g     <- 0                                              where s < 0   (and skip this step there)
        p     <- p - sign(g) * delta
        g_prev <- g

    Rprop is meant for full-batch training: the sign of a noisy mini-batch gradient flips often.

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: the initial step size delta (default 1e-2).
        etas: (eta_minus, eta_plus), the multiplicative decrease and increase,
            0 < eta_minus < 1 < eta_plus (default (0.5, 1.2)).
        step_sizes: (step_min, step_max), the bounds of delta (default (1e-6, 50)).
        maximize: ascend the objective instead.

    The state of a parameter is torch's: "step" (an int), "prev" (g_prev) and "step_size" (delta).
    Sparse gradients raise, as in torch: every weight's step size depends on its own history.
    """

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        check_torch_flags("Rprop", foreach, None, capturable, differentiable)
        defaults = dict(lr=lr, etas=tuple(etas) if isinstance(etas, list) else etas,
                        step_sizes=tuple(step_sizes) if isinstance(step_sizes, list) else step_sizes,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        check_hyper("Rprop", g, "lr", label="learning rate")
        for key in ("etas", "step_sizes"):
            v = g[key]
            if (not isinstance(v, (tuple, list)) or len(v) != 2
                    or any(isinstance(e, bool) or not isinstance(e, numbers.Real) for e in v)):
                raise TypeError(f"Rprop: {key} must be a pair of numbers, got {v!r}")
        eta_minus, eta_plus = g["etas"]
        if not 0.0 < eta_minus < 1.0 < eta_plus:
            raise ValueError(f"Rprop: Invalid eta values: {eta_minus}, {eta_plus} "
                             "(expected 0 < eta_minus < 1 < eta_plus)")
        low, high = g["step_sizes"]
        if not 0.0 <= low <= high:
            raise ValueError(f"Rprop: Invalid step_sizes: ({low}, {high}) (expected 0 <= step_min <= step_max)")

    def _update(self, p, grad, state, group):
        if isinstance(grad, RowSparseGrad):
            raise self._sparse_unsupported(p, "each weight's step size depends on its own gradient history")
        x = p.data
        xp = _B.get_array_module(x)
        if not state:
            state["step"] = 0
            state["prev"] = xp.zeros_like(x)
            state["step_size"] = xp.full_like(x, float(group["lr"]))
        state["step"] += 1
        eta_minus, eta_plus = (float(e) for e in group["etas"])
        low, high = (float(s) for s in group["step_sizes"])
        prev, delta = state["prev"], state["step_size"]
        sign = xp.sign(grad * prev)
        cast = sign.dtype.type  # the etas in the array's dtype, so float32 rounds as torch's float32 does
        flipped = sign < 0
        # eta_plus where the sign held, eta_minus where it flipped, 1 where a factor was 0 (NaN stays NaN)
        factor = xp.where(sign > 0, cast(eta_plus), xp.where(flipped, cast(eta_minus),
                                                              xp.where(sign == 0, cast(1.0), sign)))
        delta *= factor
        xp.clip(delta, low, high, out=delta)
        grad = xp.where(flipped, cast(0.0), grad)  # after an overshoot: no step now, no sign to compare next time
        x -= xp.sign(grad) * delta
        prev[...] = grad
