"""`check_op`: the whole property the project's own op tests check, for your ops too.

    from minigrad.testing import check_op
    check_op(softsign, lambda a: a / (1 + np.abs(a)), [np.random.randn(3, 4)])

One call checks, for the given inputs:
  1. values against your NumPy reference, in float64 (to 1e-12) on the chosen device;
  2. gradients against float64 central finite differences (`gradcheck`);
  3. float32 in -> float32 out and float32 gradients, equal to the float64 ones to float32 precision;
  4. that neither run wrote into its inputs, and that no output shares memory with an input
     unless autograd knows it is a view of it.
Wrap it in a Hypothesis test (`minigrad.testing.strategies`) to check it over generated shapes:

    @given(st.data())
    def test_softsign(data):
        a = data.draw(mst.arrays(mst.shapes(max_dims=3), dtype="float32"))
        check_op(softsign, lambda v: v / (1 + np.abs(v)), [a])

Arguments that are not differentiable (integer indices, a dim, a flag) are closed over:
`check_op(lambda x: my_gather(x, idx, dim=1), lambda a: np.take_along_axis(a, idx, 1), [a])`.
"""
from __future__ import annotations

import functools
import operator

import numpy as np  # testing helpers are host-side by design

from ..backend import get_array_module
from ..autograd import no_grad
from ..tensor import tensor
from .gradcheck import gradcheck

__all__ = ["check_op"]


def _close(actual, expected, tol, what):
    """|actual - expected| <= tol * |expected| + tol * (1 + max|expected|), else an AssertionError naming `what`."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = 1.0 + (np.abs(expected).max() if expected.size else 0.0)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _backward(outs, vs, device, dtype):
    """Backpropagate the cotangents `vs`: out.backward(v), or sum_i <out_i, v_i> for several outputs
    (integer/bool outputs, whose cotangent is None, are left out)."""
    pairs = [(o, tensor(v.astype(dtype), device=device)) for o, v in zip(outs, vs) if v is not None]
    if len(outs) == 1:
        outs[0].backward(pairs[0][1])
    else:
        functools.reduce(operator.add, [(o * s).sum() for o, s in pairs]).backward()


def _is_float(a) -> bool:
    return np.asarray(a).dtype.kind in "fc"


def _require(ok, message):
    if not ok:
        raise AssertionError(message)


def _noted(what, call, *args):
    """call(*args), adding `what` as a note to any exception (its type and message unchanged)."""
    try:
        return call(*args)
    except Exception as e:
        if hasattr(e, "add_note"):
            e.add_note(f"check_op: raised by {what}")
        raise


def _check_aliasing(outs, xs):
    """An output that shares memory with an input must be a view of it to autograd (same version counter):
    otherwise an in-place write to either changes the other unseen, and gradients silently go wrong."""
    for k, o in enumerate(outs):
        for m, x in enumerate(xs):
            xp = get_array_module(x.data)
            if o._vc is not x._vc and xp.may_share_memory(o.data, x.data):
                raise AssertionError(
                    f"check_op: output {k} shares memory with input {m}, but autograd does not know it is a view "
                    f"of it: an in-place write to one would silently change the other and the arrays backward "
                    f"saved (wrong gradients, no error). Return a new array from forward (e.g. `.copy()`), or, "
                    f"for a view of input 0, set `is_view = True` on the Function")


def check_op(fn, reference, arrays, device="cpu", f32_tol=2e-5, exact=False):
    """Values vs `reference` (float64, float32), gradients vs finite differences, float32 kept, no mutation.

    Args:
        fn: the minigrad call, taking one Tensor per array; it may return a tuple of Tensors,
            and then `reference` returns a sequence of as many arrays. Integer or bool
            outputs (argmax indices, a mask) must equal the reference exactly and keep their
            dtype kind in both runs; they get no gradient.
        reference: the NumPy reference on float64 arrays.
        arrays: the inputs (taken as float64; the float32 run casts them down).
        device: the backend to run on ("cpu", "cuda").
        f32_tol: tolerance of float32 values and gradients against float64, relative to each
            value and to 1 + the largest |value|.
        exact: for ops that only move values (reshape, indexing, ...): outputs must equal the
            reference bit for bit, in float64 and float32 (`f32_tol` is then unused; float32
            gradients still match the float64 ones to 1e-5, since repeated reads add up).

    Raises AssertionError (GradcheckError for gradients) describing the first difference.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    xs = [tensor(a, device=device, requires_grad=True) for a in arrays]
    out = _noted("fn on float64 inputs", fn, *xs)
    outs = _as_tuple(out)
    _check_aliasing(outs, xs)
    # Recording a graph, the engine gives an undeclared alias its own copy; without a graph it cannot
    # afford to look, so the alias shows there.
    with no_grad():
        plain = [tensor(a, device=device) for a in arrays]
        _check_aliasing(_as_tuple(_noted("fn on float64 inputs without a graph", fn, *plain)), plain)
    wants = [np.asarray(w, dtype=np.float64) if _is_float(w) else np.asarray(w)
             for w in (reference(*arrays) if isinstance(out, (tuple, list)) else (reference(*arrays),))]
    _require(len(outs) == len(wants), f"check_op: {len(outs)} outputs, the reference has {len(wants)}")
    for k, (o, w) in enumerate(zip(outs, wants)):
        _require(o.shape == w.shape, f"check_op: output {k} has shape {o.shape}, the reference {w.shape}")
        _require(o.device == xs[0].device, f"check_op: output {k} is on {o.device}, the inputs on {xs[0].device}")
        if not _is_float(w):  # indices, masks: exact, and of the reference's kind (int / bool)
            _require(o.dtype.kind == w.dtype.kind, f"check_op: output {k} is {o.dtype}, the reference {w.dtype}")
            np.testing.assert_array_equal(o.numpy(), w, err_msg=f"output {k} ({o.dtype}) against the reference")
            continue
        _require(o.dtype == np.float64, f"check_op: float64 inputs gave a {o.dtype} output {k}")
        if exact:
            np.testing.assert_array_equal(o.numpy(), w, err_msg=f"output {k} (float64) moves values inexactly")
        else:
            _close(o.numpy(), w, 1e-12, f"output {k} (float64) against the reference")
    gradcheck(fn, *xs)

    # One backward with fixed cotangents: float64 reference gradients; the inputs must be untouched.
    rng = np.random.default_rng(1)
    vs = [rng.standard_normal(w.shape) if _is_float(w) else None for w in wants]
    _noted("the float64 backward", _backward, outs, vs, device, np.float64)
    g64 = []
    for k, (x, a) in enumerate(zip(xs, arrays)):
        _require(x.grad is not None, f"check_op: input {k} got no gradient")
        _require(x.grad.shape == x.shape and x.grad.dtype == np.float64,
                 f"check_op: the gradient of input {k} is {x.grad.dtype}{list(x.grad.shape)}, "
                 f"expected float64{list(x.shape)}")
        np.testing.assert_array_equal(x.numpy(), a, err_msg=f"input {k} was written to (an op must not change "
                                      "its input arrays: y = x * 2, not x *= 2)")
        g64.append(x.grad.numpy().copy())

    # float32 in -> float32 out and float32 gradients, equal to the float64 ones to float32 precision.
    xs32 = [tensor(a.astype(np.float32), device=device, requires_grad=True) for a in arrays]
    outs32 = _as_tuple(_noted("fn on float32 inputs", fn, *xs32))
    _require(len(outs32) == len(wants), f"check_op: {len(outs32)} float32 outputs, expected {len(wants)}")
    for k, (o, w) in enumerate(zip(outs32, wants)):
        if not _is_float(w):
            _require(o.dtype == outs[k].dtype, f"check_op: output {k} is {o.dtype} for float32 inputs, "
                                               f"{outs[k].dtype} for float64 ones")
            np.testing.assert_array_equal(o.numpy(), w, err_msg=f"output {k} ({o.dtype}, float32 run)")
            continue
        _require(o.dtype == np.float32, f"check_op: float32 inputs gave a {o.dtype} output {k}")
        if exact:
            np.testing.assert_array_equal(o.numpy(), w.astype(np.float32), err_msg=f"output {k} (float32)")
        else:
            _close(o.numpy(), w, f32_tol, f"output {k} (float32) against the float64 reference")
    _noted("the float32 backward (a gradient must have its input's dtype: float32 here)", _backward, outs32, vs,
           device, np.float32)
    for k, (x, a, g) in enumerate(zip(xs32, arrays, g64)):
        _require(x.grad is not None and x.grad.dtype == np.float32 and x.grad.shape == x.shape,
                 f"check_op: the float32 gradient of input {k} is "
                 f"{None if x.grad is None else f'{x.grad.dtype}{list(x.grad.shape)}'}, expected float32{list(x.shape)}")
        if exact:
            np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-5, atol=1e-5, err_msg=f"float32 gradient {k}")
        else:
            _close(x.grad.numpy(), g, f32_tol, f"float32 gradient of input {k} against the float64 one")
        np.testing.assert_array_equal(x.numpy(), a.astype(np.float32), err_msg=f"input {k} (float32) was written to")
