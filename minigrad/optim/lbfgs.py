"""L-BFGS: a quasi-Newton method with a limited memory, and its strong-Wolfe line search (torch.optim.LBFGS).

The algorithm works on all parameters as one flat vector x (their values concatenated in
order) and its gradient g. It remembers the last `history_size` pairs
s = x_{k+1} - x_k and y = g_{k+1} - g_k and turns them into a search direction with the
two-loop recursion (Nocedal & Wright, "Numerical Optimization", algorithm 7.4), which
applies an approximation of the inverse Hessian to -g without ever forming a matrix.

The control flow (when to stop, the first step length, the line search) is torch's, line for
line, so a run follows torch's iterates. Scalars (dot products, step lengths, losses) are
Python floats: L-BFGS decides what to do next from them, so it reads them on the host at
every iteration, as torch does.
"""
from __future__ import annotations

import math
import numbers

from .. import backend as _B
from ..autograd import enable_grad, no_grad
from ..sparse import RowSparseGrad
from ..tensor import Tensor
from .optimizer import Optimizer, check_hyper

__all__ = ["LBFGS"]


def _dot(a, b) -> float:
    """The dot product of two flat arrays, as a Python float."""
    return float(_B.get_array_module(a).dot(a, b))


def _abs_max(a) -> float:
    """max |a_i| of a flat array as a Python float (0 for an empty one)."""
    return float(_B.get_array_module(a).abs(a).max()) if a.size else 0.0


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped to `bounds`.

    With d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2) and d2 = sqrt(d1^2 - g1 g2), the minimiser is
    x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2); if d1^2 < g1 g2 the cubic has no minimum
    and the middle of the bounds is used (torch's port of minFunc's polyinterp).
    """
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step length t along d that satisfies the strong Wolfe conditions (torch's port of minFunc's lswolfe).

    Sufficient decrease f(x + t d) <= f + c1 t gtd and curvature |g(x + t d) . d| <= c2 |gtd|.
    First brackets an interval that contains such a t (growing t by cubic extrapolation),
    then zooms into it by cubic interpolation. `obj_func(x, t, d)` returns (loss, flat gradient)
    at x + t d. Returns (f_new, g_new, t, number of evaluations).
    """
    d_norm = _abs_max(d)
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = _dot(g_new, d)

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate: the next trial step lies between 1.01 t and 10 t
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1

    if ls_iter == max_ls:  # no bracket found within the budget
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point satisfies the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:  # the bracket is too small to matter
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # A trial point too close to an end of the bracket makes little progress: after two
        # such tries (or at an end), move it to 0.1 * (bracket length) from the nearer end.
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # no sufficient decrease, or not below the best point: t becomes the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # the Wolfe conditions hold
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high end becomes the new low end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            # t becomes the new low end
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class LBFGS(Optimizer):
    r"""L-BFGS (Liu & Nocedal, 1989), torch.optim.LBFGS's algorithm (after minFunc).

    One `step(closure)` runs up to `max_iter` iterations; each one:

        d = -H g            (two-loop recursion over the stored (s, y) pairs; H = (s.y / y.y) I
                             scaled from the newest pair; d = -g on the very first iteration)
        t = min(1, 1 / sum|g|) * lr on the very first iteration, lr afterwards
        x <- x + t d        (t refined by a strong-Wolfe line search if line_search_fn="strong_wolfe")
        store s = t d, y = g_new - g   when s.y > 1e-10 (keeps H positive definite)

    It stops early when max |g| <= tolerance_grad, when g.d > -tolerance_change (not a descent
    direction), when max |t d| or the change in loss falls below tolerance_change, or after
    `max_eval` closure calls. The state carries over between `step` calls.

    Args:
        params: iterable of Tensors (one group only: L-BFGS has no per-parameter options).
        lr: learning rate, the step length tried first (default 1).
        max_iter: iterations per `step` (default 20).
        max_eval: closure calls per `step` (default max_iter * 5 // 4).
        tolerance_grad: stop when max |g| is at most this (default 1e-7).
        tolerance_change: stop when the loss or the step changes less than this (default 1e-9).
        history_size: (s, y) pairs remembered (default 100).
        line_search_fn: None (fixed step length lr) or "strong_wolfe".

    `step(closure)` needs the closure (it evaluates the loss several times): a function that
    zeroes the gradients, computes the loss, calls `backward()` and returns the loss. It
    returns the loss of the first evaluation, as torch. All parameters must be on one device.
    A row-sparse gradient is used as its dense equivalent, as torch does. The state (torch's
    keys: "func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag", "al",
    "prev_flat_grad", "prev_loss") is kept under the first parameter, so `state_dict()` and
    `load_state_dict()` work as for the other optimizers.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if isinstance(max_iter, numbers.Integral) and not isinstance(max_iter, bool) and max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): "
                             f"got {len(self.param_groups)} groups; pass one list of parameters")
        self._params = self.param_groups[0]["params"]
        devices = {p.device for p in self._params}
        if len(devices) > 1:
            raise RuntimeError(f"LBFGS: all parameters must be on one device (it works on one flat vector), "
                               f"got parameters on {sorted(devices)}")

    def _check_group(self, g):
        check_hyper("LBFGS", g, "lr", label="learning rate")
        for key in ("max_iter", "max_eval", "history_size"):
            v = g[key]
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"LBFGS: {key} must be a positive int, got {v!r}")
        check_hyper("LBFGS", g, "tolerance_grad")
        check_hyper("LBFGS", g, "tolerance_change")
        if g["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {g['line_search_fn']!r}")

    def add_param_group(self, param_group: dict) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): it has one group")
        super().add_param_group(param_group)

    # ------------------------------------------------------------ the flat vector
    def _gather_flat_grad(self):
        """All gradients as one new flat array (zeros for a parameter without one)."""
        xp = _B.get_array_module(self._params[0].data)
        views = []
        for p in self._params:
            if p.grad is None:
                views.append(xp.zeros(p.data.size, dtype=p.data.dtype))
                continue
            g = self._gradient_of(p, False)
            views.append((g.to_dense_array() if isinstance(g, RowSparseGrad) else g).reshape(-1))
        return xp.concatenate(views)

    def _add_grad(self, step_size: float, update) -> None:
        """x <- x + step_size * update, parameter by parameter (each write bumps its version)."""
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += step_size * update[offset:offset + n].reshape(p.data.shape)
            p._bump()
            offset += n

    def _clone_param(self):
        return [p.data.copy() for p in self._params]

    def _set_param(self, params_data) -> None:
        for p, saved in zip(self._params, params_data):
            p.data[...] = saved
            p._bump()

    def _directional_evaluate(self, closure, x, t, d):
        """(loss, flat gradient) at x + t d; the parameters are put back to x afterwards."""
        self._add_grad(t, d)
        loss = _loss_value(closure)
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ------------------------------------------------------------ the step
    def step(self, closure):  # noqa: C901 - torch's control flow, kept in one piece to compare
        """Run up to max_iter L-BFGS iterations.

        Args:
            closure: a function that re-evaluates the model (zero_grad, loss, backward) and returns
                the loss; it is called with gradients enabled.

        Returns:
            The loss the closure returned on its first call.
        """
        if closure is None or not callable(closure):
            raise TypeError("LBFGS.step needs a closure: a function that zeroes the gradients, computes the loss, "
                            f"calls backward() and returns the loss; got {type(closure).__name__}")
        if len(self.param_groups) != 1:
            raise ValueError(f"LBFGS: expected exactly one param group, got {len(self.param_groups)}")
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = float(group["tolerance_grad"]), float(group["tolerance_change"])
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        # L-BFGS's state is global; it is kept under the first parameter (as torch)
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = _to_float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        with no_grad():
            flat_grad = self._gather_flat_grad()
            if _abs_max(flat_grad) <= tolerance_grad:  # already optimal
                return orig_loss

            d, t = state.get("d"), state.get("t")
            old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
            H_diag = state.get("H_diag")  # noqa: N806 (torch's name)
            prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

            n_iter = 0
            while n_iter < max_iter:
                n_iter += 1
                state["n_iter"] += 1

                # ---- the descent direction
                if state["n_iter"] == 1:
                    d = -flat_grad
                    old_dirs, old_stps, ro = [], [], []
                    H_diag = 1  # noqa: N806
                else:
                    y = flat_grad - prev_flat_grad
                    s = d * t
                    ys = _dot(y, s)
                    if ys > 1e-10:  # keep the pair only if the curvature condition holds
                        if len(old_dirs) == history_size:
                            old_dirs.pop(0)
                            old_stps.pop(0)
                            ro.pop(0)
                        old_dirs.append(y)
                        old_stps.append(s)
                        ro.append(1.0 / ys)
                        H_diag = ys / _dot(y, y)  # noqa: N806  (scale of the initial inverse Hessian)
                    num_old = len(old_dirs)
                    if "al" not in state:
                        state["al"] = [None] * history_size
                    al = state["al"]
                    # two-loop recursion: q <- -g, newest pair first ...
                    q = -flat_grad
                    for i in range(num_old - 1, -1, -1):
                        al[i] = _dot(old_stps[i], q) * ro[i]
                        q -= al[i] * old_dirs[i]
                    # ... times the initial inverse Hessian, then oldest pair first
                    d = r = q * H_diag
                    for i in range(num_old):
                        be_i = _dot(old_dirs[i], r) * ro[i]
                        r += (al[i] - be_i) * old_stps[i]

                if prev_flat_grad is None:
                    prev_flat_grad = flat_grad.copy()
                else:
                    prev_flat_grad[...] = flat_grad
                prev_loss = loss

                # ---- the step length
                if state["n_iter"] == 1:
                    t = min(1.0, 1.0 / float(_B.get_array_module(flat_grad).abs(flat_grad).sum())) * lr
                else:
                    t = lr
                gtd = _dot(flat_grad, d)  # the directional derivative
                if gtd > -tolerance_change:  # not (enough of) a descent direction
                    break

                ls_func_evals = 0
                if line_search_fn is not None:
                    x_init = self._clone_param()

                    def obj_func(x, t, d):
                        return self._directional_evaluate(closure, x, t, d)

                    loss, flat_grad, t, ls_func_evals = _strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd,
                                                                      max_ls=max_eval - current_evals)
                    self._add_grad(t, d)
                    opt_cond = _abs_max(flat_grad) <= tolerance_grad
                else:
                    self._add_grad(t, d)  # a fixed step
                    if n_iter != max_iter:
                        # re-evaluate only if another iteration follows (in a stochastic setting
                        # the last evaluation would be wasted)
                        loss = _loss_value(closure)
                        flat_grad = self._gather_flat_grad()
                        opt_cond = _abs_max(flat_grad) <= tolerance_grad
                        ls_func_evals = 1

                current_evals += ls_func_evals
                state["func_evals"] += ls_func_evals

                # ---- stopping conditions
                if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                    break
                if _abs_max(d * t) <= tolerance_change:  # the step no longer moves x
                    break
                if abs(loss - prev_loss) < tolerance_change:  # the loss no longer changes
                    break

            state["d"], state["t"] = d, t
            state["old_dirs"], state["old_stps"], state["ro"] = old_dirs, old_stps, ro
            state["H_diag"] = H_diag
            state["prev_flat_grad"], state["prev_loss"] = prev_flat_grad, prev_loss
        return orig_loss

    # ------------------------------------------------------------ checkpoints
    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a `state_dict()` (ours, or torch's with its tensors turned into arrays).

        Flat vectors and the lists of them ("old_dirs", "old_stps") are copied onto the
        parameters' device in their dtype; one-element arrays among the scalars ("t", "ro",
        "H_diag", "al", ...: torch keeps 0-d tensors) become Python numbers.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("LBFGS.load_state_dict: expected a dict with 'state' and 'param_groups' "
                             "(from optimizer.state_dict())")
        super().load_state_dict({"state": {}, "param_groups": state_dict["param_groups"]})
        self._params = self.param_groups[0]["params"]
        p0 = self._params[0]
        new_state = {}
        for key, s in state_dict["state"].items():
            if int(key) != 0:
                raise ValueError(f"LBFGS.load_state_dict: L-BFGS keeps its state under parameter 0, got state for "
                                 f"parameter {key}")
            new_state[p0] = {k: _load_entry(v, p0, k) for k, v in s.items()}
        self.state = new_state


_VECTORS = ("d", "prev_flat_grad", "old_dirs", "old_stps")


def _load_entry(v, p: Tensor, key: str):
    """A saved L-BFGS state entry ready to use: vectors on p's device in its dtype, scalars as Python numbers."""
    if isinstance(v, (list, tuple)):
        return [_load_entry(e, p, key) for e in v]
    if isinstance(v, Tensor):
        v = v.data
    if _B.is_array(v):
        if key in _VECTORS:
            arr = _B.to_device(v, p.device)
            return arr.astype(p.data.dtype) if arr.dtype != p.data.dtype else (arr.copy() if arr is v else arr)
        if v.size != 1:
            raise ValueError(f"LBFGS.load_state_dict: state {key!r} should be a number, got an array of shape "
                             f"{tuple(v.shape)}")
        return _B.to_device(v, "cpu").reshape(()).item()
    if isinstance(v, numbers.Number) or v is None:
        return v
    raise TypeError(f"LBFGS.load_state_dict: unsupported state entry {key!r} of type {type(v).__name__}")


def _to_float(loss) -> float:
    """The closure's loss as a Python float (a 0-d / one-element Tensor, or a number)."""
    try:
        return float(loss.item() if isinstance(loss, Tensor) else loss)
    except (TypeError, ValueError):
        raise TypeError(f"LBFGS: the closure must return the loss (a one-element Tensor or a number), got "
                        f"{type(loss).__name__}") from None


def _loss_value(closure) -> float:
    with enable_grad():
        return _to_float(closure())
