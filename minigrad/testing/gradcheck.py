"""Check hand-written gradients against float64 central finite differences.

    from minigrad.testing import gradcheck
    x = mg.randn(3, 4, dtype="float64", requires_grad=True)
    gradcheck(lambda x: x.tanh(), x)

For an output y = f(x) of any shape we check the vector-Jacobian product that
backward computes: with a fixed random cotangent v, the scalar L = sum(v * y)
has dL/dx = v^T J. Each element of dL/dx is compared with
(L(x + eps e_i) - L(x - eps e_i)) / (2 eps). For big inputs the "directional"
mode compares one number per random direction d instead:
sum(dL/dx * d) against (L(x + eps d) - L(x - eps d)) / (2 eps) (Chainer's idea).
"""
from __future__ import annotations

import numpy as np  # testing helpers are host-side by design

from .. import backend as _B
from ..autograd import no_grad
from ..tensor import Tensor

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """Raised when analytic and numeric gradients disagree; the message is a readable report."""


def _scalarize(out, v):
    """L = sum(v * out) as a Python float (host)."""
    data = out.data if isinstance(out, Tensor) else out
    return float((_B.to_device(data, "cpu").astype(np.float64) * v).sum())


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full", n_directions=3, seed=0,
              raise_exception=True):
    """Compare analytic gradients of `fn(*inputs)` with central differences in float64.

    Args:
        fn: function of the inputs returning a Tensor (any shape) or a tuple of Tensors.
        *inputs: Tensors (the ones with requires_grad=True are checked; use float64 for
            meaningful precision) or other arguments passed through unchanged.
        eps: finite-difference step.
        atol, rtol: an element passes when |analytic - numeric| <= atol + rtol * |numeric|.
        mode: "full" (every element) or "directional" (n_directions random directions per
            input; for large inputs).
        seed: seeds the random cotangent and directions, so a failure can be replayed.
        raise_exception: raise GradcheckError on failure (else return False).

    Returns:
        True when every checked gradient agrees.
    """
    rng = np.random.default_rng(seed)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True; nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64 "
                            "(convert with .double())")

    def outputs(args):
        out = fn(*args)
        return out if isinstance(out, (tuple, list)) else (out,)

    # Analytic: backward of L = sum_k sum(v_k * out_k) through fresh leaves.
    leaves = [Tensor(t.data.copy(), requires_grad=True) if i in checked else t for i, t in enumerate(inputs)]
    outs = outputs(leaves)
    vs = [rng.standard_normal(o.shape) for o in outs]
    total = None
    for o, v in zip(outs, vs):
        if not o.requires_grad:
            continue
        vt = Tensor(v.astype(o.dtype), device=o.device)
        term = (o * vt).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("gradcheck: fn's output does not depend on any input that requires grad")
    total.backward()

    def L(args):
        with no_grad():
            return sum(_scalarize(o, v) for o, v in zip(outputs(args), vs))

    problems = []
    for i in checked:
        leaf = leaves[i]
        x = inputs[i]
        if getattr(leaf.grad, "is_sparse", False):  # row-sparse gradients are checked through their dense view
            leaf.grad = leaf.grad.to_dense()
        analytic = np.zeros(x.shape) if leaf.grad is None else _B.to_device(leaf.grad.data, "cpu").astype(np.float64)
        if leaf.grad is not None and (leaf.grad.shape != x.shape or leaf.grad.dtype != x.dtype):
            problems.append(f"input {i}: gradient has shape {leaf.grad.shape} / dtype {leaf.grad.dtype}, "
                            f"expected {x.shape} / {x.dtype}")
            continue
        base = _B.to_device(x.data, "cpu").astype(np.float64)

        def perturbed(delta):
            args = list(inputs)
            args[i] = Tensor(base + delta, device=x.device)
            return args

        if mode == "full":
            numeric = np.zeros(base.shape)
            flat = numeric.reshape(-1)
            for k in range(base.size):
                e = np.zeros(base.size)
                e[k] = eps
                e = e.reshape(base.shape)
                flat[k] = (L(perturbed(e)) - L(perturbed(-e))) / (2 * eps)
            err = np.abs(analytic - numeric)
            bad = ~(err <= atol + rtol * np.abs(numeric))  # written so that NaN counts as a failure
            if bad.any():
                idx = np.argwhere(bad)
                lines = [f"input {i} (shape {tuple(base.shape)}): {int(bad.sum())} of {base.size} elements differ"]
                for pos in idx[:5]:
                    pos = tuple(int(p) for p in pos)
                    lines.append(f"    at {pos}: analytic {analytic[pos]:.8g}, numeric {numeric[pos]:.8g}, "
                                 f"|diff| {err[pos]:.3g}")
                problems.append("\n".join(lines))
        elif mode == "directional":
            for _ in range(n_directions):
                d = rng.standard_normal(base.shape)
                d /= max(np.linalg.norm(d), 1e-12)
                numeric = (L(perturbed(eps * d)) - L(perturbed(-eps * d))) / (2 * eps)
                an = float((analytic * d).sum())
                if not abs(an - numeric) <= atol + rtol * abs(numeric):  # NaN fails too
                    problems.append(f"input {i} (shape {tuple(base.shape)}): directional derivative analytic "
                                    f"{an:.8g} vs numeric {numeric:.8g}")
                    break
        else:
            raise ValueError(f"gradcheck: mode must be 'full' or 'directional', got {mode!r}")

    if problems:
        msg = "gradcheck failed (eps={}, atol={}, rtol={}):\n".format(eps, atol, rtol) + "\n".join(problems)
        if raise_exception:
            raise GradcheckError(msg)
        return False
    return True
