"""ASGD: averaged stochastic gradient descent (torch.optim.ASGD's update and running average)."""
from __future__ import annotations

import math
import numbers

from .. import backend as _B
from ..sparse import RowSparseGrad
from ..tensor import Tensor
from .optimizer import Optimizer, check_hyper, check_torch_flags

__all__ = ["ASGD"]


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak & Juditsky, 1992; Bottou's schedule), torch.optim.ASGD's update step for step.

    Each parameter keeps a step size eta (starting at lr), an averaging rate mu (starting at 1)
    and a running average ax of its iterates. At step t (counting from 1), with g the gradient:

        g   <- g + weight_decay * p
        p   <- p * (1 - lambd * eta) - eta * g
        ax  <- ax + mu * (p - ax)                (ax <- p while mu == 1)
        eta <- lr / (1 + lambd * lr * t) ** alpha
        mu  <- 1 / max(1, t - t0)

    So ax copies p until step t0 and averages the iterates from then on; the average
    (not p itself) is the estimate with the good convergence guarantees: read it from
    `optimizer.state[p]["ax"]`.

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-2).
        lambd: decay term (default 1e-4).
        alpha: power of the eta update (default 0.75).
        t0: the step at which averaging starts (default 1e6).
        weight_decay: an L2 penalty added to the gradient (default 0).
        maximize: ascend the objective instead.

    State per parameter, torch's names: "step" (an int), "eta" and "mu" (Python floats: torch keeps
    0-d tensors of its default dtype) and "ax" (an array like p). Sparse gradients raise, as in torch.
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None, maximize=False,
                 differentiable=False, capturable=False):  # torch's order, all positional
        check_torch_flags("ASGD", foreach, None, capturable, differentiable)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        check_hyper("ASGD", g, "lr", label="learning rate")
        check_hyper("ASGD", g, "weight_decay", label="weight_decay value")
        check_hyper("ASGD", g, "lambd")
        check_hyper("ASGD", g, "alpha")
        t0 = g["t0"]
        if isinstance(t0, bool) or not isinstance(t0, numbers.Real) or math.isnan(t0):
            raise TypeError(f"ASGD: t0 must be a number (math.inf never averages), got {t0!r}")

    def load_state_dict(self, state_dict: dict) -> None:
        """As `Optimizer.load_state_dict`; "eta" and "mu" saved as 0-d arrays (torch's tensors) become floats."""
        if isinstance(state_dict, dict) and isinstance(state_dict.get("state"), dict):
            state_dict = dict(state_dict, state={k: {n: (_scalar(v) if n in ("eta", "mu") else v) for n, v in s.items()}
                                                 for k, s in state_dict["state"].items()})
        super().load_state_dict(state_dict)

    def _update(self, p, grad, state, group):
        if isinstance(grad, RowSparseGrad):
            raise self._sparse_unsupported(p, "the decay term and the average move every row on every step")
        x = p.data
        if not state:
            state["step"] = 0
            state["eta"] = float(group["lr"])
            state["mu"] = 1.0
            state["ax"] = _B.get_array_module(x).zeros_like(x)
        state["step"] = t = state["step"] + 1
        lr, lambd, alpha = float(group["lr"]), float(group["lambd"]), float(group["alpha"])
        wd = float(group["weight_decay"])
        if wd != 0:
            grad = grad + wd * x
        eta, mu = float(state["eta"]), float(state["mu"])
        x *= 1 - lambd * eta  # the decay term
        x -= eta * grad
        ax = state["ax"]
        if mu != 1:
            ax += (x - ax) * mu
        else:
            ax[...] = x
        state["eta"] = lr / ((1 + lambd * lr * t) ** alpha)
        state["mu"] = 1 / max(1, t - float(group["t0"]))


def _scalar(v):
    """A saved one-element array or Tensor as a Python float (other values unchanged)."""
    if isinstance(v, Tensor):
        v = v.data
    if _B.is_array(v) and v.size == 1:
        return float(_B.to_device(v, "cpu").reshape(()).item())
    return v
