"""Adamax, NAdam and RAdam: three variations on Adam's two moment averages (torch.optim's updates).

Each keeps Adam's first moment m <- beta1 * m + (1 - beta1) * g and changes what the
step divides by or how it corrects the start-up bias. Sparse gradients raise, as in torch:
every row's moments decay on every step.
"""
from __future__ import annotations

import math

from .. import backend as _B
from ..sparse import RowSparseGrad
from .adam import _check_adam_group
from .optimizer import Optimizer, check_hyper, check_torch_flags

__all__ = ["Adamax", "NAdam", "RAdam"]


class _AdamFamily(Optimizer):
    """What the three share: hyperparameter checks, the m and v buffers, L2 or decoupled weight decay."""

    _second = "exp_avg_sq"  # the name of the second buffer in `state` (torch's)

    def _check_group(self, g):
        _check_adam_group(type(self).__name__, g)

    def _start(self, p, grad, state, group):
        """Refuse sparse gradients, create the buffers, count the step, apply weight decay; returns (grad, t)."""
        if isinstance(grad, RowSparseGrad):
            raise self._sparse_unsupported(p, "its moment averages decay every row on every step")
        x = p.data
        if not state:
            xp = _B.get_array_module(x)
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(x)
            state[self._second] = xp.zeros_like(x)
        state["step"] = t = state["step"] + 1
        wd = float(group["weight_decay"])
        if wd != 0:
            if group.get("decoupled_weight_decay", False):
                x *= 1 - float(group["lr"]) * wd  # AdamW-style: shrink the weights, not the gradient
            else:
                grad = grad + wd * x
        m = state["exp_avg"]
        m += (1 - float(group["betas"][0])) * (grad - m)  # m <- beta1 m + (1 - beta1) g
        return grad, t

    @staticmethod
    def _second_moment(state, grad, b2):
        """v <- beta2 * v + (1 - beta2) * g^2, in place (NAdam's and RAdam's v); returns v."""
        v = state["exp_avg_sq"]
        v *= b2
        v += (1 - b2) * (grad * grad)
        return v


class Adamax(_AdamFamily):
    r"""Adamax (Kingma & Ba, 2015, section 7): Adam with the infinity norm in place of the second moment.

    At step t (counting from 1):

        m <- beta1 * m + (1 - beta1) * g
        u <- max(beta2 * u, |g| + eps)
        p <- p - lr / (1 - beta1^t) * m / u

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 2e-3).
        betas: (beta1, beta2) (default (0.9, 0.999)).
        eps: added to |g| (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: ascend the objective instead.
    """

    _second = "exp_inf"

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        check_torch_flags("Adamax", foreach, None, capturable, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        grad, t = self._start(p, grad, state, group)
        xp = _B.get_array_module(p.data)
        u = state["exp_inf"]
        u *= float(group["betas"][1])
        xp.maximum(u, xp.abs(grad) + float(group["eps"]), out=u)
        x = p.data
        x -= float(group["lr"]) / (1 - float(group["betas"][0]) ** t) * (state["exp_avg"] / u)


class NAdam(_AdamFamily):
    r"""NAdam (Dozat, 2016): Adam with Nesterov momentum, torch.optim.NAdam's update.

    The momentum factor warms up as mu_t = beta1 * (1 - 0.5 * 0.96^(t * psi)) (psi the
    momentum decay), with M_t = mu_1 * ... * mu_t. At step t:

        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        d  = sqrt(v / (1 - beta2^t)) + eps
        p <- p - lr * (1 - mu_t) / (1 - M_t) * g / d - lr * mu_{t+1} / (1 - M_t * mu_{t+1}) * m / d

    i.e. the step looks one momentum update ahead (the Nesterov trick).

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 2e-3).
        betas: (beta1, beta2) (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: the decay (default 0): added to the gradient, or with
            decoupled_weight_decay=True applied to the weights as in AdamW.
        momentum_decay: psi (default 4e-3).
        decoupled_weight_decay: see weight_decay.
        maximize: ascend the objective instead.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        check_torch_flags("NAdam", foreach, None, capturable, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        super()._check_group(g)
        check_hyper("NAdam", g, "momentum_decay")

    def load_state_dict(self, state_dict: dict) -> None:
        """As `Optimizer.load_state_dict`; a "mu_product" saved as a 0-d array (torch's tensor) becomes a float."""
        from .asgd import _scalar
        if isinstance(state_dict, dict) and isinstance(state_dict.get("state"), dict):
            state_dict = dict(state_dict, state={k: {n: (_scalar(v) if n == "mu_product" else v) for n, v in s.items()}
                                                 for k, s in state_dict["state"].items()})
        super().load_state_dict(state_dict)

    def _update(self, p, grad, state, group):
        grad, t = self._start(p, grad, state, group)
        xp = _B.get_array_module(p.data)
        lr, eps, psi = float(group["lr"]), float(group["eps"]), float(group["momentum_decay"])
        b1, b2 = float(group["betas"][0]), float(group["betas"][1])
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] = product = state.get("mu_product", 1.0) * mu  # a Python float (torch keeps a tensor)
        v = self._second_moment(state, grad, b2)
        d = xp.sqrt(v / (1 - b2 ** t))
        d += eps
        x = p.data
        x -= (lr * (1.0 - mu) / (1.0 - product)) * (grad / d)
        x -= (lr * mu_next / (1.0 - product * mu_next)) * (state["exp_avg"] / d)


class RAdam(_AdamFamily):
    r"""RAdam (Liu et al., 2020): Adam whose adaptive step is switched on only once v is reliable.

    With rho_inf = 2 / (1 - beta2) - 1 and rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    (the length of the approximated simple moving average), at step t:

        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        if rho_t > 5:  p <- p - lr * m / (1 - beta1^t) * r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps)
                       with r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        else:          p <- p - lr * m / (1 - beta1^t)          (plain momentum SGD while v is noisy)

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-3).
        betas: (beta1, beta2) (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: the decay (default 0): added to the gradient, or with
            decoupled_weight_decay=True applied to the weights as in AdamW.
        decoupled_weight_decay: see weight_decay.
        maximize: ascend the objective instead.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        check_torch_flags("RAdam", foreach, None, capturable, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        grad, t = self._start(p, grad, state, group)
        xp = _B.get_array_module(p.data)
        lr, eps = float(group["lr"]), float(group["eps"])
        b1, b2 = float(group["betas"][0]), float(group["betas"][1])
        v = self._second_moment(state, grad, b2)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / bc2
        m_hat = state["exp_avg"] / bc1
        x = p.data
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            d = xp.sqrt(v)
            d += eps
            x -= (lr * rect * bc2 ** 0.5) * (m_hat / d)
        else:
            x -= lr * m_hat
