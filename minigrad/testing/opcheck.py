"""`check_op`: the whole property the project's own op tests check, for your ops too.

    from minigrad.testing import check_op
    check_op(softsign, lambda a: a / (1 + np.abs(a)), [np.random.randn(3, 4)])

One call checks, for the given inputs:
  1. values against your NumPy reference, in float64 (to 1e-12) on the chosen device;
  2. gradients against float64 central finite differences (`gradcheck`);
  3. float32 in -> float32 out and float32 gradients, equal to the float64 ones to float32 precision;
  4. that neither run wrote into its inputs.
Wrap it in a Hypothesis test (`minigrad.testing.strategies`) to check it over generated shapes.
"""
from __future__ import annotations

import functools
import operator

import numpy as np  # testing helpers are host-side by design

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
    """Backpropagate the cotangents `vs`: out.backward(v), or sum_i <out_i, v_i> for several outputs."""
    seeds = [tensor(v.astype(dtype), device=device) for v in vs]
    if len(outs) == 1:
        outs[0].backward(seeds[0])
    else:
        functools.reduce(operator.add, [(o * s).sum() for o, s in zip(outs, seeds)]).backward()


def _require(ok, message):
    if not ok:
        raise AssertionError(message)


def check_op(fn, reference, arrays, device="cpu", f32_tol=2e-5, exact=False):
    """Values vs `reference` (float64, float32), gradients vs finite differences, float32 kept, no mutation.

    Args:
        fn: the minigrad call, taking one Tensor per array; it may return a tuple of Tensors,
            and then `reference` returns a sequence of as many arrays.
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
    out = fn(*xs)
    outs = _as_tuple(out)
    wants = [np.asarray(w, dtype=np.float64) for w in (reference(*arrays) if isinstance(out, (tuple, list))
                                                       else (reference(*arrays),))]
    _require(len(outs) == len(wants), f"check_op: {len(outs)} outputs, the reference has {len(wants)}")
    for k, (o, w) in enumerate(zip(outs, wants)):
        _require(o.dtype == np.float64, f"check_op: float64 inputs gave a {o.dtype} output {k}")
        _require(o.shape == w.shape, f"check_op: output {k} has shape {o.shape}, the reference {w.shape}")
        _require(o.device == xs[0].device, f"check_op: output {k} is on {o.device}, the inputs on {xs[0].device}")
        if exact:
            np.testing.assert_array_equal(o.numpy(), w, err_msg=f"output {k} (float64) moves values inexactly")
        else:
            _close(o.numpy(), w, 1e-12, f"output {k} (float64) against the reference")
    gradcheck(fn, *xs)

    # One backward with fixed cotangents: float64 reference gradients; the inputs must be untouched.
    rng = np.random.default_rng(1)
    vs = [rng.standard_normal(w.shape) for w in wants]
    _backward(outs, vs, device, np.float64)
    g64 = []
    for k, (x, a) in enumerate(zip(xs, arrays)):
        _require(x.grad is not None, f"check_op: input {k} got no gradient")
        _require(x.grad.shape == x.shape and x.grad.dtype == np.float64,
                 f"check_op: the gradient of input {k} is {x.grad.dtype}{list(x.grad.shape)}, "
                 f"expected float64{list(x.shape)}")
        np.testing.assert_array_equal(x.numpy(), a, err_msg=f"input {k} was written to")
        g64.append(x.grad.numpy().copy())

    # float32 in -> float32 out and float32 gradients, equal to the float64 ones to float32 precision.
    xs32 = [tensor(a.astype(np.float32), device=device, requires_grad=True) for a in arrays]
    outs32 = _as_tuple(fn(*xs32))
    _require(len(outs32) == len(wants), f"check_op: {len(outs32)} float32 outputs, expected {len(wants)}")
    for k, (o, w) in enumerate(zip(outs32, wants)):
        _require(o.dtype == np.float32, f"check_op: float32 inputs gave a {o.dtype} output {k}")
        if exact:
            np.testing.assert_array_equal(o.numpy(), w.astype(np.float32), err_msg=f"output {k} (float32)")
        else:
            _close(o.numpy(), w, f32_tol, f"output {k} (float32) against the float64 reference")
    _backward(outs32, vs, device, np.float32)
    for k, (x, a, g) in enumerate(zip(xs32, arrays, g64)):
        _require(x.grad is not None and x.grad.dtype == np.float32 and x.grad.shape == x.shape,
                 f"check_op: the float32 gradient of input {k} is "
                 f"{None if x.grad is None else f'{x.grad.dtype}{list(x.grad.shape)}'}, expected float32{list(x.shape)}")
        if exact:
            np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-5, atol=1e-5, err_msg=f"float32 gradient {k}")
        else:
            _close(x.grad.numpy(), g, f32_tol, f"float32 gradient of input {k} against the float64 one")
        np.testing.assert_array_equal(x.numpy(), a.astype(np.float32), err_msg=f"input {k} (float32) was written to")
