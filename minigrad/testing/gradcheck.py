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
When an element differs, the report also shows the Jacobian entries d y[j] / d x[i]
of that element (analytic and numeric) where the output is small enough.
"""
from __future__ import annotations

import numpy as np  # testing helpers are host-side by design

from .. import backend as _B
from ..autograd import no_grad
from ..tensor import Tensor

__all__ = ["gradcheck", "GradcheckError"]

_SHOW_VALUES = 24     # inputs with at most this many elements are printed in full in a report
_JACOBIAN_OUTPUTS = 64  # Jacobian entries are reported when the outputs have at most this many elements


class GradcheckError(AssertionError):
    """Raised when analytic and numeric gradients disagree; the message is a readable report."""


def _host(arr):
    return _B.to_device(arr, "cpu").astype(np.float64)


def _scalarize(out, v):
    """L = sum(v * out) as a Python float (host); integer/bool outputs (indices, masks) have no derivative."""
    data = out.data if isinstance(out, Tensor) else out
    if data.dtype.kind not in "fc":
        return 0.0
    return float((_host(data) * v).sum())


def _exact(a) -> str:
    """An array's values with every digit (to paste into a reproduction)."""
    return np.array2string(np.asarray(a), separator=", ", floatmode="unique", max_line_width=100,
                           threshold=_SHOW_VALUES + 1)


def _note(err, text):
    """Add a line to an exception's report without changing its type (shown under the traceback)."""
    if hasattr(err, "add_note"):
        err.add_note(text)


def _pattern(analytic, numeric, bad):
    """A hint when the differing elements share one ratio analytic / numeric (a factor or a sign)."""
    a, n = analytic[bad], numeric[bad]
    keep = np.isfinite(a) & (np.abs(n) > 1e-8)
    if not keep.any() or not np.isfinite(a).all():
        return None
    if (a == 0).all():
        return "    pattern: the analytic gradient is 0 at every differing element (a gradient left out, or None?)"
    r = a[keep] / n[keep]
    if r.size and np.allclose(r, r[0], rtol=1e-3, atol=0):
        what = "a sign error?" if np.isclose(r[0], -1.0, rtol=1e-3) else "a constant factor in backward?"
        where = "at every differing element" if r.size > 1 else "at that element"
        return f"    pattern: analytic = {r[0]:.6g} x numeric {where} ({what})"
    return None


def _unpack(inputs):
    """torch's form gradcheck(fn, (x, w)) is also accepted: a lone tuple/list holding Tensors is the inputs."""
    if len(inputs) == 1 and isinstance(inputs[0], (tuple, list)) and \
            any(isinstance(t, Tensor) and t.requires_grad for t in inputs[0]):
        return tuple(inputs[0])
    return inputs


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full", n_directions=3, seed=0,
              raise_exception=True, nondet_tol=None, check_undefined_grad=True):
    """Compare analytic gradients of `fn(*inputs)` with central differences in float64.

    Besides the gradients it checks that neither fn's forward nor its backward writes into
    an input that requires grad. Options that torch's `torch.autograd.gradcheck` has under
    the same name mean the same here (and `mg.autograd.gradcheck` takes torch's exact signature).

    Args:
        fn: function of the inputs returning a Tensor (any shape) or a tuple of Tensors.
        *inputs: Tensors (the ones with requires_grad=True are checked; they must be float64)
            or other arguments passed through unchanged (integer indices, flags, ...).
            torch's form, one tuple of them (`gradcheck(fn, (x, w))`), works too.
        eps: finite-difference step.
        atol, rtol: an element passes when |analytic - numeric| <= atol + rtol * |numeric|.
        mode: "full" (every element) or "directional" (n_directions random directions per
            input; for large inputs: torch's fast_mode).
        seed: seeds the random cotangent and directions, so a failure can be replayed.
        raise_exception: raise GradcheckError on failure (else return False).
        nondet_tol: when a number, backward runs twice and the two gradients may differ by at
            most this much (torch's reentrancy check; torch's default is 0.0). None (the
            default) skips it: CuPy's atomic scatter-adds make GPU backwards of indexing ops
            legitimately differ in the last bits.
        check_undefined_grad: for fn with several outputs, also backpropagate from each
            output alone (the others unused, so their backward gets zeros, or None after
            ctx.set_materialize_grads(False)) and check that these gradients add up to the
            all-outputs one (torch's check of undefined output gradients).

    Returns:
        True when every check passes (False on failure when raise_exception=False).

    Raises:
        GradcheckError (an AssertionError) with a report: which input, which elements, the
        analytic and numeric values, a hint when they differ by one factor or sign, the
        Jacobian entries of the first differing element, and the input values when small.
        Errors raised by fn or its backward (e.g. the engine's "returned a gradient of shape
        ... for an input of shape ...") propagate with a note naming the inputs.
    """
    inputs = _unpack(inputs)
    rng = np.random.default_rng(seed)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True; nothing to check "
                         "(call gradcheck(fn, x, w) or gradcheck(fn, (x, w)) with x = mg.tensor(..., "
                         "dtype='float64', requires_grad=True))")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64 "
                            "(convert with .double(); check_op checks the float32 run of an op)")
    if mode not in ("full", "directional"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'directional', got {mode!r}")
    described = ", ".join(f"{t.dtype}{list(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
                          for t in inputs)

    def outputs(args):
        out = fn(*args)
        return out if isinstance(out, (tuple, list)) else (out,)

    originals = {i: _host(inputs[i].data) for i in checked}
    problems = []

    def written(leaves, phase):
        """Report (once per input) a forward/backward that wrote into a checked input's array."""
        for i in checked:
            now = _host(leaves[i].data)
            changed = ~((now == originals[i]) | (np.isnan(now) & np.isnan(originals[i])))
            if changed.any() and not any(p.startswith(f"input {i} was written") for p in problems):
                pos = tuple(int(p) for p in np.argwhere(changed)[0])
                problems.append(f"input {i} was written to by fn's {phase} (at {pos}: was "
                                f"{originals[i][pos]:.8g}, now {now[pos]:.8g}): an op must not change its "
                                "input arrays; compute into a new array (y = x * 2, not x *= 2)")

    def analytic_grads(only=None, check_writes=False):
        """dL/dx for each checked input: backward of L = sum_k sum(v_k * out_k) through fresh leaves
        (L over output `only` alone when given). None for an input that received no gradient."""
        leaves = [Tensor(t.data.copy(), requires_grad=True) if i in checked else t for i, t in enumerate(inputs)]
        outs = outputs(leaves)
        if not used:
            used.extend(k for k, o in enumerate(outs) if o.requires_grad)
        if check_writes:
            written(leaves, "forward")
        total = None
        for k, (o, v) in enumerate(zip(outs, vs if vs else [rng.standard_normal(o.shape) for o in outs])):
            if only is not None and k != only:
                continue
            if len(vs) < len(outs):
                vs.append(v)
            if not o.requires_grad:
                continue
            term = (o * Tensor(v.astype(o.dtype), device=o.device)).sum()
            total = term if total is None else total + term
        if total is None:
            return None
        try:
            total.backward()
        except Exception as e:
            _note(e, f"gradcheck: raised by the backward of fn on inputs ({described})")
            raise
        if check_writes:
            written(leaves, "backward")
        grads = {}
        for i in checked:
            g = leaves[i].grad
            if getattr(g, "is_sparse", False):  # row-sparse gradients are checked through their dense view
                g = g.to_dense()
            grads[i] = g
        return grads

    vs, used = [], []  # the cotangents; the outputs that require grad
    grads = analytic_grads(check_writes=True)
    if grads is None:
        raise ValueError("gradcheck: fn's output does not depend on any input that requires grad")

    def L(args):
        with no_grad():
            return sum(_scalarize(o, v) for o, v in zip(outputs(args), vs))

    def perturbed(i, delta):
        args = list(inputs)
        args[i] = Tensor(originals[i] + delta, device=inputs[i].device)
        return args

    analytic = {}
    for i in checked:
        x, g = inputs[i], grads[i]
        if g is not None and (g.shape != x.shape or g.dtype != x.dtype):
            problems.append(f"input {i}: gradient has shape {g.shape} / dtype {g.dtype}, "
                            f"expected {x.shape} / {x.dtype}")
            continue
        analytic[i] = np.zeros(x.shape) if g is None else _host(g.data)
        base = originals[i]
        head = f"input {i} (shape {tuple(base.shape)})"
        if mode == "full":
            numeric = np.zeros(base.shape)
            flat = numeric.reshape(-1)
            for k in range(base.size):
                e = np.zeros(base.size)
                e[k] = eps
                e = e.reshape(base.shape)
                flat[k] = (L(perturbed(i, e)) - L(perturbed(i, -e))) / (2 * eps)
            err = np.abs(analytic[i] - numeric)
            bad = ~(err <= atol + rtol * np.abs(numeric))  # written so that NaN counts as a failure
            if bad.any():
                idx = np.argwhere(bad)
                lines = [f"{head}: {int(bad.sum())} of {base.size} elements differ"]
                if g is None:
                    lines.append("    backward returned no gradient (None) for this input, but L depends on it")
                for pos in idx[:5]:
                    pos = tuple(int(p) for p in pos)
                    lines.append(f"    at {pos}: analytic {analytic[i][pos]:.8g}, numeric {numeric[pos]:.8g}, "
                                 f"|diff| {err[pos]:.3g}")
                if len(idx) > 5:
                    lines.append(f"    ... and {len(idx) - 5} more")
                hint = None if g is None else _pattern(analytic[i], numeric, bad)
                if hint:
                    lines.append(hint)
                lines += _jacobian_entries(fn, inputs, checked, i, tuple(int(p) for p in idx[0]), eps, atol, rtol)
                problems.append("\n".join(lines))
        else:
            for _ in range(n_directions):
                d = rng.standard_normal(base.shape)
                d /= max(np.linalg.norm(d), 1e-12)
                numeric = (L(perturbed(i, eps * d)) - L(perturbed(i, -eps * d))) / (2 * eps)
                an = float((analytic[i] * d).sum())
                if not abs(an - numeric) <= atol + rtol * abs(numeric):  # NaN fails too
                    problems.append(f"{head}: directional derivative analytic {an:.8g} vs numeric {numeric:.8g}"
                                    + (" (backward returned no gradient for this input)" if g is None else "")
                                    + "; mode='full' on a small input names the elements")
                    break

    if nondet_tol is not None and not problems:
        again = analytic_grads()
        for i in analytic:
            second = np.zeros(inputs[i].shape) if again[i] is None else _host(again[i].data)
            diff = np.abs(second - analytic[i])
            if not (diff <= nondet_tol).all():
                pos = tuple(int(p) for p in np.unravel_index(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)),
                                                             diff.shape)) if diff.ndim else ()
                problems.append(f"input {i}: backward is not deterministic: two runs with the same inputs and "
                                f"cotangent differ by {diff[pos]:.3g} at {pos} (nondet_tol={nondet_tol})")

    if check_undefined_grad and len(used) > 1 and not problems:
        parts = []
        for k in used:
            try:
                parts.append(analytic_grads(only=k))
            except Exception as e:  # e.g. `None * x` in a backward after ctx.set_materialize_grads(False)
                problems.append(f"backward raised {type(e).__name__} when only output {k} of fn was used (the "
                                f"others' gradients were zeros, or None after ctx.set_materialize_grads(False)): {e}")
        for i in analytic if len(parts) == len(used) else ():
            summed = sum(np.zeros(inputs[i].shape) if p[i] is None else _host(p[i].data) for p in parts)
            err = np.abs(summed - analytic[i])
            bad = ~(err <= atol + rtol * np.abs(analytic[i]))
            if bad.any():
                pos = tuple(int(p) for p in np.argwhere(bad)[0])
                problems.append(f"input {i}: the gradients from each output used alone add up to {summed[pos]:.8g} "
                                f"at {pos}, but all outputs together give {analytic[i][pos]:.8g}: backward "
                                "mishandles the zero (or None) gradient of an unused output")

    if problems:
        msg = f"gradcheck failed (eps={eps}, atol={atol}, rtol={rtol}, seed={seed}):\n" + "\n".join(problems)
        msg += ("\nCompared: dL/dx for L = sum(v * fn(*inputs)), v a fixed random cotangent (seed); analytic = "
                "your backward, numeric = (L(x + eps) - L(x - eps)) / (2 eps).")
        small = [i for i in checked if inputs[i].numel() <= _SHOW_VALUES]
        if small:
            msg += "\nThe values checked (every digit, to reproduce the failure):"
        for i in small:
            msg += f"\n  inputs[{i}] = {_exact(originals[i])}"
        if raise_exception:
            raise GradcheckError(msg)
        return False
    return True


def _jacobian_entries(fn, inputs, checked, i, pos, eps, atol, rtol):
    """Report lines: the entries d out_k[j] / d x_i[pos] (analytic by one backward per output element,
    numeric by one central difference of the outputs) that differ, when the outputs are small."""
    leaves = [Tensor(t.data.copy(), requires_grad=True) if k in checked else t for k, t in enumerate(inputs)]
    outs = fn(*leaves)
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    if sum(o.numel() for o in outs) > _JACOBIAN_OUTPUTS:
        return []
    base = _host(inputs[i].data)
    e = np.zeros(base.shape)
    e[pos] = eps
    with no_grad():
        cols = []
        for sign in (1, -1):
            args = list(inputs)
            args[i] = Tensor(base + sign * e, device=inputs[i].device)
            res = fn(*args)
            cols.append([_host(o.data) for o in (res if isinstance(res, (tuple, list)) else (res,))])
    lines = []
    for k, o in enumerate(outs):
        numeric = (cols[0][k] - cols[1][k]) / (2 * eps)
        analytic = np.zeros(o.shape)
        if o.requires_grad:
            for j in np.ndindex(*o.shape):
                fresh = [Tensor(t.data.copy(), requires_grad=True) if m in checked else t
                         for m, t in enumerate(inputs)]
                res = fn(*fresh)
                res = res if isinstance(res, (tuple, list)) else (res,)
                seed = np.zeros(o.shape)
                seed[j] = 1.0
                res[k].backward(Tensor(seed.astype(res[k].dtype), device=res[k].device))
                g = fresh[i].grad
                if g is not None and g.shape == base.shape:
                    analytic[j] = float(_host(g.data)[pos])
        name = "out" if len(outs) == 1 else f"out{k}"
        for j in np.ndindex(*o.shape):
            a, n = analytic[j], numeric[j]
            if not abs(a - n) <= atol + rtol * abs(n):
                lines.append(f"    Jacobian d {name}{list(j)} / d x{i}{list(pos)}: analytic {a:.8g}, numeric {n:.8g}")
    if lines:
        lines.insert(0, f"    Jacobian entries of x{i}{list(pos)} that differ (d output / d input element):")
        if len(lines) > 7:
            lines = lines[:7] + [f"    ... and {len(lines) - 7} more"]
    return lines
