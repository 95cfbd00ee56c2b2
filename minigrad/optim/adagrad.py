"""Adagrad: per-coordinate learning rates from the running sum of squared gradients (torch.optim.Adagrad)."""
from __future__ import annotations

from .. import backend as _B
from ..sparse import RowSparseGrad
from .optimizer import Optimizer, check_hyper, check_torch_flags

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), torch.optim.Adagrad's update step for step.

    At step t (counting from 1), with lambda the weight decay and eta the lr decay:

        g   <- g + lambda * p                      (weight decay enters the gradient)
        lr_t = lr / (1 + (t - 1) * eta)
        s   <- s + g * g                           (s starts at initial_accumulator_value)
        p   <- p - lr_t * g / (sqrt(s) + eps)

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-2).
        lr_decay: eta (default 0).
        weight_decay: lambda (default 0).
        initial_accumulator_value: the starting value of s (default 0).
        eps: added to the denominator (default 1e-10).
        maximize: ascend the objective instead.

    Sparse gradients: supported as in torch. Only the touched rows of s and p change;
    since an untouched row has g = 0 (s unchanged, update 0) this is exactly the dense
    update, at O(rows * dim) cost. weight_decay != 0 with a sparse gradient raises, as
    in torch (the decay would touch every row).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        check_torch_flags("Adagrad", foreach=foreach, fused=fused, differentiable=differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)
        # As torch, the state exists from construction (so state_dict() lists every parameter).
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, self.state.setdefault(p, {}), group)

    def _check_group(self, g):
        check_hyper("Adagrad", g, "lr", label="learning rate")
        check_hyper("Adagrad", g, "lr_decay")
        check_hyper("Adagrad", g, "weight_decay")
        check_hyper("Adagrad", g, "initial_accumulator_value")
        check_hyper("Adagrad", g, "eps", label="epsilon value")

    @staticmethod
    def _init_state(p, state, group):
        if "sum" not in state:
            xp = _B.get_array_module(p.data)
            state["step"] = 0
            state["sum"] = xp.full(p.data.shape, float(group["initial_accumulator_value"]), dtype=p.data.dtype)

    def _update(self, p, grad, state, group):
        self._init_state(p, state, group)  # parameters added later by add_param_group
        lr, eta = float(group["lr"]), float(group["lr_decay"])
        wd, eps = float(group["weight_decay"]), float(group["eps"])
        state["step"] = t = state["step"] + 1
        clr = lr / (1 + (t - 1) * eta)
        x, s = p.data, state["sum"]
        xp = _B.get_array_module(x)
        if isinstance(grad, RowSparseGrad):
            if wd != 0:
                raise RuntimeError(
                    f"Adagrad: weight_decay option is not compatible with sparse gradients (the parameter of shape "
                    f"{tuple(p.shape)} has a row-sparse gradient from Embedding(sparse=True)); use weight_decay=0 "
                    "for it (e.g. its own param group) or Embedding(sparse=False)")
            rows, g = grad.indices, grad.values  # unique rows (coalesced): the update is non-linear
            s_rows = s[rows] + g * g
            s[rows] = s_rows
            x[rows] -= clr * (g / (xp.sqrt(s_rows) + eps))
            return
        if wd != 0:
            grad = grad + wd * x
        s += grad * grad
        x -= clr * (grad / (xp.sqrt(s) + eps))
