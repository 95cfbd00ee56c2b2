"""Shared gradient-test helpers: `check_op` (the op property of tests/test_ops_*.py) and
`call_with` (gradcheck of a module with respect to its own parameters).

Not a test module (no `test_` prefix); the op test files import it as
`from opcheck import check_op, draw_array`, which works because pytest's default
import mode puts tests/ (it has a conftest.py and no __init__.py) on sys.path.
"""
import functools
import operator

import numpy as np

import minigrad as mg
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst


def draw_array(data, shape, device="cpu", **kw):
    """float64 NumPy values drawn as float32 (so the float32 run sees exactly the same numbers).

    Extra keywords (min_value, avoid, unique, ...) go to `minigrad.testing.strategies.tensors`.
    """
    return data.draw(mst.tensors(shape=shape, dtype="float32", device=device, **kw)).numpy().astype(np.float64)


def _close(actual, expected, tol):
    """|actual - expected| <= tol * |expected| + tol * (1 + max|expected|)."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = 1.0 + (np.abs(expected).max() if expected.size else 0.0)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _backward(outs, vs, device, dtype):
    """Backpropagate the cotangents `vs`: out.backward(v), or sum_i <out_i, v_i> for several outputs."""
    seeds = [mg.tensor(v.astype(dtype), device=device) for v in vs]
    if len(outs) == 1:
        outs[0].backward(seeds[0])
    else:
        functools.reduce(operator.add, [(o * s).sum() for o, s in zip(outs, seeds)]).backward()


def check_op(fn, ref, arrays, device, f32_tol=2e-5, exact=False):
    """Values vs NumPy (float64, float32), gradients vs finite differences, float32 dtypes, no mutation.

    Args:
        fn: the minigrad call, taking one Tensor per array; it may return a tuple of Tensors
            (split, chunk), and then `ref` returns a sequence of as many arrays.
        ref: the NumPy reference on float64 arrays.
        arrays: the inputs (converted to float64; the float32 run casts them down).
        device: the backend to run on (the `device` fixture).
        f32_tol: tolerance (see `_close`) of float32 values and gradients against float64.
        exact: the op only moves values (shape ops): outputs must equal the reference bit for bit,
            in float64 and float32, and float32 gradients match the float64 ones to 1e-5
            (relative and absolute); `f32_tol` is then unused.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    xs = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    out = fn(*xs)
    outs = _as_tuple(out)
    wants = [np.asarray(w, dtype=np.float64) for w in (ref(*arrays) if isinstance(out, (tuple, list))
                                                       else (ref(*arrays),))]
    assert len(outs) == len(wants), f"{len(outs)} outputs, the reference has {len(wants)}"
    for o, w in zip(outs, wants):
        assert o.dtype == np.float64 and o.shape == w.shape and o.device == xs[0].device
        if exact:
            np.testing.assert_array_equal(o.numpy(), w)  # values are moved, never computed
        else:
            _close(o.numpy(), w, 1e-12)
    gradcheck(fn, *xs)

    # One backward with fixed cotangents: float64 reference gradients; inputs must be untouched.
    rng = np.random.default_rng(1)
    vs = [rng.standard_normal(w.shape) for w in wants]
    _backward(outs, vs, device, np.float64)
    g64 = [x.grad.numpy().copy() for x in xs]
    for x, a in zip(xs, arrays):
        assert x.grad.shape == x.shape and x.grad.dtype == np.float64
        np.testing.assert_array_equal(x.numpy(), a)

    # float32 in -> float32 out and float32 gradients, equal to the float64 ones to float32 precision.
    xs32 = [mg.tensor(a.astype(np.float32), device=device, requires_grad=True) for a in arrays]
    outs32 = _as_tuple(fn(*xs32))
    assert len(outs32) == len(wants)
    for o, w in zip(outs32, wants):
        assert o.dtype == np.float32, f"float32 inputs gave a {o.dtype} output"
        if exact:
            np.testing.assert_array_equal(o.numpy(), w.astype(np.float32))
        else:
            _close(o.numpy(), w, f32_tol)
    _backward(outs32, vs, device, np.float32)
    for x, a, g in zip(xs32, arrays, g64):
        assert x.grad.dtype == np.float32 and x.grad.shape == x.shape
        if exact:
            np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-5, atol=1e-5)
        else:
            _close(x.grad.numpy(), g, f32_tol)
        np.testing.assert_array_equal(x.numpy(), a.astype(np.float32))


def call_with(module, params, fn):
    """Run fn() with module's parameters temporarily replaced by `params` (same order as named_parameters).

    gradcheck hands us fresh leaf tensors; swapping them in (without registering them)
    lets it differentiate the module's output with respect to its own parameters.
    """
    saved = []
    for (name, _), new in zip(list(module.named_parameters()), params):
        *path, attr = name.split(".")
        owner = module
        for p in path:
            owner = getattr(owner, p)
        saved.append((owner, attr, getattr(owner, attr)))
        object.__setattr__(owner, attr, new)
    try:
        return fn()
    finally:
        for owner, attr, old in saved:
            object.__setattr__(owner, attr, old)
