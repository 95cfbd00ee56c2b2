"""Wave-2 additions fuzzed against torch 2.13 itself: minigrad.linalg, the index/scatter methods of
ops/index_more.py, and the autograd API (autograd.grad, backward(inputs=), functional.jacobian/vjp/jvp).

Hypothesis draws valid and invalid calls (float32/float64 and wrong dtypes, batched and empty shapes,
singular and non-square matrices, duplicate / negative / out-of-range indices, broadcasting index
tensors). For each call: whatever torch computes we compute identically (shape, dtype, values, and in
float64 the gradient wherever torch's is defined and finite); where we refuse, the error is a
ValueError/TypeError/IndexError/RuntimeError raised by minigrad that names the op (never a bare NumPy
error). Linear-algebra values are compared with a tolerance of the dtype's eps times the input's
condition number (the accuracy any backward-stable algorithm promises; NumPy's LAPACK and torch's are
different builds); factors defined only up to sign (eigenvectors, singular vectors, Q of QR) through
sign-independent quantities. We refuse only what torch refuses, except these documented policies and
torch quirks:

* float32 meeting float64 is a TypeError where torch upcasts (index_put/put/scatter_reduce values, solve's B);
* linalg.*: a matrix singular only to working precision may or may not hit an exact zero pivot,
  depending on the LAPACK build's rounding (torch: its own; NumPy: OpenBLAS): refusals of such inputs are
  not compared (exactly singular ones, a repeated row or a zero row, must be refused by both);
* inv_ex / cholesky_ex of a failing matrix: torch leaves the factor's value unspecified (we give NaN):
  only info is compared there;
* eigh / eigvalsh / svd / pinv / lstsq / matrix_rank / cond of an empty batch or an empty matrix: compared as torch,
  and lstsq's `solution` for a rank-deficient A is the minimum-norm one (gelsy's too);
* linalg.svd(full_matrices=True) backward: torch refuses when m != n, we differentiate through the
  first min(m, n) columns (the others are not determined by A): gradients not compared there;
* unfold / as_strided return copies (torch: views) - values and gradients are the same;
* put / index_put(accumulate=False) with a position written twice: torch leaves the kept value
  unspecified; such calls compare only the positions written once;
* scatter_reduce's src entries outside index's block get gradient 0 where torch refuses backward.
Accepting more than torch (int32 indices, Python numbers) is fine.
"""
from __future__ import annotations

import math
import traceback
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
ALLOWED = (ValueError, TypeError, IndexError, RuntimeError)
NUMPY_DIR = np.__file__.rsplit("/", 1)[0]
FLOATS = [np.dtype(np.float32), np.dtype(np.float64)]


# ================================================================ the harness
def _to_torch(x):
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.copy())
    if isinstance(x, (tuple, list)) and any(isinstance(e, np.ndarray) for e in x):
        return type(x)(_to_torch(e) for e in x)
    return x


def _to_mg(x):
    if isinstance(x, np.ndarray):
        return mg.tensor(x)
    if isinstance(x, (tuple, list)) and any(isinstance(e, np.ndarray) for e in x):
        return type(x)(_to_mg(e) for e in x)
    return x


def _host(r):
    if isinstance(r, (torch.Tensor, mg.Tensor)):
        return r.detach().numpy()
    if isinstance(r, (tuple, list)):
        return [_host(x) for x in r]
    return r


class Refused(Exception):
    """torch refused the call (its exception in .args[0])."""


def _run_torch(tfn, args, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _host(tfn(*[_to_torch(a) for a in args], **kw))
        except Exception as e:  # noqa: BLE001 - torch refuses
            return Refused(e)


def _run_mg(name, mfn, args, kw):
    """minigrad's result, or the allowed error it raised (checked: not from NumPy, names the op)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _host(mfn(*[_to_mg(a) for a in args], **kw))
        except ALLOWED as e:
            origin = traceback.extract_tb(e.__traceback__)[-1].filename
            assert not origin.startswith(NUMPY_DIR), f"{name}: a raw NumPy error escaped: {e!r}"
            assert name.rstrip("_") in str(e), f"{name}: the error does not name the op: {e!r}"
            return e


def _same(name, got, want, tol=None):
    if isinstance(want, list):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), f"{name}: {len(got)} results, torch {len(want)}"
        for k, (g, w) in enumerate(zip(got, want)):
            _same(f"{name}[{k}]", g, w, tol)
        return
    if isinstance(want, (bool, int)) and not isinstance(want, np.ndarray):
        assert got == want and type(got) is type(want), f"{name}: {got!r}, torch says {want!r}"
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape}, torch says {want.shape}"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, torch says {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=name)
        return
    if tol is None:
        tol = 1e-5 if want.dtype == np.float32 else 1e-10
    finite = want[np.isfinite(want)]
    scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, equal_nan=True, err_msg=name)


def check(name, tfn, mfn, args, kw=None, grad=(), seed=0, allow=False, tol=None, gtol=1e-8, policy=None):
    """Run one call in torch and in minigrad and hold minigrad to the module docstring's rules.

    allow: a refusal of this call by minigrad is a documented exception (or the call is ill-posed);
    policy: a function of minigrad's error that says whether that refusal is a documented policy.
    Returns (torch's result or Refused, minigrad's result or error)."""
    kw = kw or {}
    want = _run_torch(tfn, args, kw)
    got = _run_mg(name, mfn, args, kw)
    if isinstance(got, Exception):
        assert isinstance(want, Refused) or allow or (policy is not None and policy(got)), \
            f"{name} refused what torch computes: {got!r}"
        return want, got
    if isinstance(want, Refused):
        assert allow, f"{name}: torch refuses ({want.args[0]!r}) but minigrad computed {got!r}"
        return want, got
    _same(name, got, want, tol)
    if grad:
        _check_grad(name, tfn, mfn, args, kw, grad, seed, gtol)
    return want, got


def _outputs(r):
    return [o for o in (r if isinstance(r, (tuple, list)) else [r])]


def _check_grad(name, tfn, mfn, args, kw, grad, seed, gtol):
    """The float64 gradient of sum(w * out) for random w, against torch's autograd where it is finite."""
    if not all(isinstance(args[i], np.ndarray) and args[i].dtype.kind == "f" for i in grad):
        return
    args = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]
    ta = [_to_torch(a) for a in args]
    for i in grad:
        ta[i].requires_grad_(True)
    outs = [o for o in _outputs(tfn(*ta, **kw)) if isinstance(o, torch.Tensor) and o.requires_grad]
    if not outs:
        return
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(o.shape) for o in outs]
    try:
        want = torch.autograd.grad(sum((o * torch.from_numpy(w)).sum() for o, w in zip(outs, ws)),
                                   [ta[i] for i in grad], allow_unused=True)
    except RuntimeError:  # torch has no derivative here (e.g. svd full_matrices with m != n)
        return
    want = [np.zeros(args[i].shape) if g is None else g.numpy() for g, i in zip(want, grad)]
    if not all(np.isfinite(g).all() for g in want):
        return  # torch's gradient is not defined here
    ma = [_to_mg(a) for a in args]
    for i in grad:
        ma[i].requires_grad = True
    outs = [o for o in _outputs(mfn(*ma, **kw)) if isinstance(o, mg.Tensor) and o.requires_grad]
    sum((o * mg.tensor(w)).sum() for o, w in zip(outs, ws)).backward()
    for i, w in zip(grad, want):
        g = np.zeros(args[i].shape) if ma[i].grad is None else ma[i].grad.numpy()
        scale = max(1.0, float(np.abs(w).max()) if w.size else 1.0)
        np.testing.assert_allclose(g, w, rtol=gtol, atol=gtol * scale, err_msg=f"{name}: gradient of argument {i}")


# ================================================================ linalg: generated matrices
BATCHES = [(), (), (2,), (3,), (2, 1), (1, 2), (0,)]


@st.composite
def matrices(draw, square=True, kinds=("random", "dominant", "dominant", "spd", "singular", "integer")):
    """(array, kind): a batch of m x n matrices of a drawn kind, float32/float64 (now and then an integer
    dtype or too few dims, to be refused)."""
    batch = draw(st.sampled_from(BATCHES))
    n = draw(st.integers(0, 4))
    m = n if square else draw(st.integers(0, 4))
    kind = draw(st.sampled_from(kinds))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    shape = batch + (m, n)
    if kind == "random":
        a = rng.standard_normal(shape)
    elif kind == "dominant":  # cond <= 2n + 1
        a = rng.uniform(-1, 1, shape) + (max(m, n) + 1) * np.eye(m, n)
    elif kind == "spd":
        b = rng.uniform(-1, 1, batch + (m, m))
        a = b @ np.swapaxes(b, -1, -2) + np.eye(m)
        a = a[..., :n] if not square else a
    elif kind == "singular":  # exactly singular in any LU: a repeated row, or a zero row
        a = rng.integers(-3, 4, shape).astype(np.float64)
        if m >= 2:
            a[..., -1, :] = a[..., 0, :] if draw(st.booleans()) else 0
        elif m == 1:
            a[..., 0, :] = 0
    else:  # small integers: often singular to working precision only
        a = rng.integers(-2, 3, shape).astype(np.float64)
    dtype = draw(st.sampled_from(FLOATS + FLOATS + FLOATS + [np.dtype(np.int64)]))
    a = a.astype(dtype)
    if draw(st.integers(0, 15)) == 0:
        a = a.reshape(-1)[:n]  # 1-D: refused by the matrix functions
    return a, kind


def cond64(a):
    """The largest 2-norm condition number in the batch (1 for empty; inf for a singular matrix)."""
    a = np.asarray(a, np.float64)
    if a.ndim < 2 or a.size == 0 or min(a.shape[-2:]) == 0:
        return 1.0
    s = np.linalg.svd(a, compute_uv=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = s[..., 0] / s[..., -1]
    return float(np.nan_to_num(c, nan=np.inf).max())


def lin_tol(a, dtype, power=1, factor=100.0):
    """factor * eps(dtype) * cond(a)^power: the forward-error bound of a backward-stable algorithm."""
    eps = float(np.finfo(dtype).eps) if np.dtype(dtype).kind == "f" else 1e-15
    return factor * eps * max(1.0, cond64(a)) ** power


def ill(a, dtype=None):
    """True when a is singular to working precision (LU's result is rounding noise there)."""
    dtype = a.dtype if dtype is None else dtype
    eps = float(np.finfo(dtype).eps) if np.dtype(dtype).kind == "f" else 1e-16
    return cond64(a) * eps > 1e-3


SEEDS = st.integers(0, 99)


# ================================================================ linalg: square-matrix functions
SQUARE_OPS = {
    "linalg.inv": (torch.linalg.inv, mg.linalg.inv),
    "linalg.det": (torch.linalg.det, mg.linalg.det),
    "linalg.slogdet": (torch.linalg.slogdet, mg.linalg.slogdet),
    "logdet": (torch.logdet, mg.logdet),
    "inverse": (torch.inverse, mg.inverse),
    "linalg.matrix_exp": (torch.linalg.matrix_exp, mg.linalg.matrix_exp),
    "linalg.cholesky": (torch.linalg.cholesky, mg.linalg.cholesky),
    "linalg.eigvalsh": (torch.linalg.eigvalsh, mg.linalg.eigvalsh),
}


@given(op=st.sampled_from(sorted(SQUARE_OPS)), am=matrices(), seed=SEEDS, data=st.data())
def test_square_matrix_functions_against_torch(op, am, seed, data):
    a, kind = am
    tfn, mfn = SQUARE_OPS[op]
    kw = {}
    if op == "linalg.cholesky":
        kw = {"upper": data.draw(st.booleans())}
    if op == "linalg.eigvalsh":
        kw = {"UPLO": data.draw(st.sampled_from(["L", "U", "L", "X"]))}
    if op == "linalg.matrix_exp" and kind not in ("dominant", "spd"):
        a = (a / 2).astype(a.dtype) if a.dtype.kind == "f" else a
    near = a.dtype.kind == "f" and ill(a) and kind != "singular"
    power = 2 if op in ("linalg.det", "logdet", "linalg.slogdet") else 1
    tol = lin_tol(a, a.dtype if a.dtype.kind == "f" else np.float64, power)
    if op == "linalg.matrix_exp":  # exp's condition number grows with ||A||, not cond(A)
        tol = 200 * float(np.finfo(a.dtype).eps if a.dtype.kind == "f" else 1e-15) * max(1, a.shape[-1]) ** 2
    if op == "linalg.eigvalsh":
        tol = 100 * float(np.finfo(a.dtype).eps if a.dtype.kind == "f" else 1e-15)
    if near or (kind == "singular" and op in ("linalg.det", "logdet", "linalg.slogdet")):
        # a singular matrix: det is rounding noise around 0; only refusals and shapes can agree
        want, got = _run_torch(tfn, [a], kw), _run_mg(op, mfn, [a], kw)
        if not near:
            assert isinstance(want, Refused) == isinstance(got, Exception), f"{op}: torch {want!r}, minigrad {got!r}"
        return
    grad = (0,) if kind in ("dominant", "spd") and op != "linalg.eigvalsh" else ()
    if op == "linalg.eigvalsh" and kind in ("dominant", "spd"):
        grad = (0,)
    check(op, tfn, mfn, [a], kw, grad=grad, seed=seed, tol=tol,
          gtol=1e-7 if op == "linalg.matrix_exp" else 1e-9)


@given(am=matrices(), seed=SEEDS, data=st.data())
def test_inv_ex_cholesky_ex_matrix_power_against_torch(am, seed, data):
    a, kind = am
    if a.dtype.kind == "f" and ill(a) and kind != "singular":
        return
    tol = lin_tol(a, a.dtype if a.dtype.kind == "f" else np.float64)
    which = data.draw(st.sampled_from(["inv_ex", "cholesky_ex", "matrix_power"]))
    if which == "matrix_power":
        n = data.draw(st.integers(-3, 4))
        check("matrix_power", torch.linalg.matrix_power, mg.linalg.matrix_power, [a, n],
              grad=(0,) if kind in ("dominant", "spd") else (), seed=seed, tol=lin_tol(a, a.dtype, abs(n) + 1)
              if a.dtype.kind == "f" else None, allow=kind == "singular" and n < 0)
        return
    kw = {"check_errors": data.draw(st.booleans())}
    if which == "cholesky_ex":
        kw["upper"] = data.draw(st.booleans())
    tfn = getattr(torch.linalg, which)
    mfn = getattr(mg.linalg, which)
    want, got = _run_torch(tfn, [a], kw), _run_mg(f"linalg.{which}", mfn, [a], kw)
    if isinstance(want, Refused) or isinstance(got, Exception):
        assert isinstance(want, Refused) and isinstance(got, Exception), f"{which}: torch {want!r}, minigrad {got!r}"
        return
    _same(which + ".info", got[1], want[1])
    ok = want[1] == 0
    _same(which, np.asarray(got[0])[ok], np.asarray(want[0])[ok], tol)  # torch's failed factors are unspecified


# ================================================================ linalg: solves
@given(am=matrices(kinds=("dominant", "dominant", "random", "singular")), data=st.data(), seed=SEEDS)
def test_solve_against_torch(am, data, seed):
    a, kind = am
    n = a.shape[-1] if a.ndim else 0
    form = data.draw(st.sampled_from(["vector", "matrix", "matrix", "batched-vector", "bad"]))
    k = data.draw(st.integers(0, 3))
    rng = np.random.default_rng(seed)
    batch = a.shape[:-2]
    if form == "vector":
        shape = (n,)
    elif form == "batched-vector":
        shape = batch + (n,)
    elif form == "matrix":
        bb = data.draw(st.sampled_from([batch, (), (1,) + batch, tuple(1 for _ in batch), (2,) + batch]))
        shape = bb + (n, k)
    else:
        shape = data.draw(st.sampled_from([(n + 1,), (n + 1, k), (3, 2, n, k), ()]))
    b_dtype = data.draw(st.sampled_from([a.dtype, a.dtype, a.dtype, np.dtype(np.float64), np.dtype(np.int64)]))
    b = rng.standard_normal(shape).astype(b_dtype)
    left = data.draw(st.booleans())
    if not left and b.ndim >= 2:
        b = np.swapaxes(b, -1, -2).copy()
    near = a.dtype.kind == "f" and ill(a) and kind != "singular"
    policy = (lambda e: isinstance(e, TypeError) and a.dtype != b.dtype)
    check("linalg.solve", torch.linalg.solve, mg.linalg.solve, [a, b], {"left": left},
          grad=(0, 1) if kind == "dominant" else (), seed=seed, tol=lin_tol(a, a.dtype, 1) if a.dtype.kind == "f"
          else None, allow=near, policy=policy)


@given(am=matrices(kinds=("dominant", "random", "singular")), data=st.data(), seed=SEEDS)
def test_solve_triangular_against_torch(am, data, seed):
    a, kind = am
    n = a.shape[-1] if a.ndim else 0
    kw = {"upper": data.draw(st.booleans()), "left": data.draw(st.booleans()),
          "unitriangular": data.draw(st.booleans())}
    k = data.draw(st.integers(0, 3))
    bb = data.draw(st.sampled_from([a.shape[:-2], (), (2,) + a.shape[:-2], (5,)]))
    shape = bb + ((n, k) if kw["left"] else (k, n))
    if data.draw(st.integers(0, 6)) == 0:
        shape = data.draw(st.sampled_from([(n,), (n + 1, k), (k, n + 1)]))
    b = np.random.default_rng(seed).standard_normal(shape).astype(data.draw(st.sampled_from([a.dtype, a.dtype,
                                                                                            np.dtype(np.float32)])))
    t = np.triu(a) if kw["upper"] else np.tril(a)
    if kw["unitriangular"] and t.ndim >= 2 and t.shape[-1] == t.shape[-2]:
        t = t - t * np.eye(t.shape[-1]) + np.eye(t.shape[-1])
    zero_pivot = t.ndim >= 2 and t.shape[-1] == t.shape[-2] and t.size and bool((np.diagonal(t, 0, -2, -1) == 0).any())
    tol = None if a.dtype.kind != "f" or zero_pivot else lin_tol(t, a.dtype, 1)
    if zero_pivot:  # inf/NaN in both; where the infinities land depends on the order of operations
        want, got = _run_torch(torch.linalg.solve_triangular, [a, b], kw), \
            _run_mg("linalg.solve_triangular", mg.linalg.solve_triangular, [a, b], kw)
        assert isinstance(want, Refused) == isinstance(got, Exception), f"torch {want!r}, minigrad {got!r}"
        if not isinstance(got, Exception):
            assert np.shape(got) == np.shape(want) and np.asarray(got).dtype == np.asarray(want).dtype
        return
    check("linalg.solve_triangular", torch.linalg.solve_triangular, mg.linalg.solve_triangular, [a, b], kw,
          grad=(0, 1) if kind == "dominant" else (), seed=seed, tol=tol,
          allow=a.dtype.kind == "f" and ill(t), policy=lambda e: isinstance(e, TypeError) and a.dtype != b.dtype)


@given(am=matrices(square=False, kinds=("dominant", "random", "singular", "integer")), data=st.data(), seed=SEEDS)
def test_lstsq_pinv_against_torch(am, data, seed):
    a, kind = am
    m = a.shape[-2] if a.ndim >= 2 else 0
    which = data.draw(st.sampled_from(["lstsq", "pinv", "matrix_rank"]))
    full_rank = a.dtype.kind == "f" and not ill(a) and kind != "singular"
    if which == "lstsq":
        k = data.draw(st.integers(0, 2))
        vector = data.draw(st.booleans())
        b = np.random.default_rng(seed).standard_normal(a.shape[:-2] + ((m,) if vector else (m, k))).astype(a.dtype)
        kw = {"driver": data.draw(st.sampled_from([None, "gelsy", "gelsd", "gelss", "gels", "bad"]))}
        # gels assumes full rank (QR without pivoting): its answer is only defined there, and on
        # vector B torch (unlike its docs) needs B with A's dims; both shown by comparison below
        if not full_rank and kw["driver"] in ("gels",):
            return
        if not full_rank:  # a rank-deficient LS solution: rank decided by the cut-off, rounding-sensitive
            kw["driver"] = data.draw(st.sampled_from(["gelsd", "gelss", "gelsy", None]))
            if a.dtype.kind != "f" or ill(a) and kind != "singular":
                return
        tol = lin_tol(a, a.dtype, 2) if a.dtype.kind == "f" else None
        check("linalg.lstsq", torch.linalg.lstsq, mg.linalg.lstsq, [a, b], kw,
              grad=(0, 1) if kind == "dominant" else (), seed=seed, tol=tol)
    elif which == "pinv":
        kw = data.draw(st.fixed_dictionaries({}, optional={"hermitian": st.booleans(),
                                                           "atol": st.sampled_from([0.0, 1e-3, 0.5]),
                                                           "rtol": st.sampled_from([0.0, 1e-2, 0.5])}))
        if kw.get("hermitian") and a.ndim >= 2 and a.shape[-1] == a.shape[-2]:
            a = (a + np.swapaxes(a, -1, -2)) / 2 if a.dtype.kind == "f" else a + np.swapaxes(a, -1, -2)
        if not full_rank or "atol" in kw or "rtol" in kw:
            # the cut-off may fall near a singular value; only the rank decides the result there
            s = np.linalg.svd(a.astype(np.float64), compute_uv=False) if a.ndim >= 2 and a.size else np.zeros(0)
            cut = max(kw.get("atol", 0.0), kw.get("rtol", 0.0) * (s.max() if s.size else 0.0))
            if s.size and (np.abs(s - cut) < 1e-3 * max(1.0, s.max())).any() or not full_rank and not kw:
                return
        tol = lin_tol(a, a.dtype, 2) if a.dtype.kind == "f" and full_rank else 1e-4
        check("linalg.pinv", torch.linalg.pinv, mg.linalg.pinv, [a], kw,
              grad=(0,) if kind == "dominant" else (), seed=seed, tol=tol if a.dtype.kind == "f" else None)
    else:
        kw = data.draw(st.fixed_dictionaries({}, optional={"hermitian": st.booleans(),
                                                           "atol": st.sampled_from([0.0, 0.5]),
                                                           "rtol": st.sampled_from([0.0, 0.3])}))
        if kw.get("hermitian") and a.ndim >= 2 and a.shape[-1] == a.shape[-2] and a.dtype.kind == "f":
            a = (a + np.swapaxes(a, -1, -2)) / 2
        if a.dtype.kind == "f" and ill(a) and kind != "singular":
            return  # a singular value at the cut-off: the count is rounding noise
        check("linalg.matrix_rank", torch.linalg.matrix_rank, mg.linalg.matrix_rank, [a], kw)


# ================================================================ linalg: decompositions (sign-independent)
def _qr_signless(mode):
    def f(linalg, a):
        q, r = linalg.qr(a, mode=mode)
        if mode == "r":
            return r.abs()
        k = min(r.shape[-2], r.shape[-1])
        # Householder QR: the signs of R's diagonal (and Q's columns) depend on the LAPACK build: |R|, Q R, |Q|
        return r.abs(), q @ r, q.abs()[..., :, :k]
    return f


def _eigh_signless(uplo):
    def f(linalg, a):
        w, v = linalg.eigh(a, UPLO=uplo)
        return w, v * v  # (each column's square: independent of its sign)
    return f


def _svd_signless(full):
    def f(linalg, a):
        u, s, vh = linalg.svd(a, full_matrices=full)
        k = s.shape[-1]
        return s, u[..., :, :k] * u[..., :, :k], vh[..., :k, :] * vh[..., :k, :], (u[..., :, :k] * s.unsqueeze(-2)) @ vh[..., :k, :]
    return f


@given(am=matrices(square=False, kinds=("dominant", "random", "spd", "singular")), data=st.data(), seed=SEEDS)
def test_decompositions_against_torch(am, data, seed):
    a, kind = am
    which = data.draw(st.sampled_from(["qr", "eigh", "svd", "svdvals", "cond"]))
    f64 = a.dtype.kind == "f"
    eps = float(np.finfo(a.dtype).eps) if f64 else 1e-15
    if which == "qr":
        mode = data.draw(st.sampled_from(["reduced", "complete", "r", "bad"]))
        f = _qr_signless(mode)
        # m > n with complete: Q's last columns are any orthonormal completion: compare |Q| only on k columns
        well = f64 and not ill(a) and kind != "singular"
        check("linalg.qr", lambda x: f(torch.linalg, x), lambda x: f(mg.linalg, x), [a],
              grad=(0,) if kind == "dominant" and mode == "reduced" else (), seed=seed,
              tol=lin_tol(a, a.dtype, 1) if well else None)
        if not well:  # still the shapes/dtypes and refusals
            return
    elif which == "eigh":
        uplo = data.draw(st.sampled_from(["L", "U"]))
        if a.ndim >= 2 and a.shape[-1] == a.shape[-2] and f64:
            a = ((a + np.swapaxes(a, -1, -2)) / 2).astype(a.dtype)
        w = np.linalg.eigvalsh(a.astype(np.float64)) if f64 and a.ndim >= 2 and a.shape[-1] == a.shape[-2] \
            and a.size else np.zeros((1, 0))
        gap = float(np.diff(w, axis=-1).min()) if w.shape[-1] > 1 else 1.0
        scale = max(1.0, float(np.abs(w).max()) if w.size else 1.0)
        if gap < 1e-2 * scale:  # nearly repeated eigenvalues: eigenvectors are not determined
            return
        f = _eigh_signless(uplo)
        check("linalg.eigh", lambda x: f(torch.linalg, x), lambda x: f(mg.linalg, x), [a],
              grad=(0,) if gap > 0.1 else (), seed=seed, tol=100 * eps * scale / gap, gtol=1e-7 / gap)
    elif which in ("svd", "svdvals"):
        s = np.linalg.svd(a.astype(np.float64), compute_uv=False) if f64 and a.ndim >= 2 and a.size \
            else np.zeros((1, 0))
        gaps = -np.diff(s, axis=-1)
        gap = float(min(gaps.min() if gaps.size else 1.0, s[..., -1].min() if s.size else 1.0))
        scale = max(1.0, float(s.max()) if s.size else 1.0)
        if which == "svdvals":
            check("linalg.svdvals", torch.linalg.svdvals, mg.linalg.svdvals, [a], grad=(0,), seed=seed,
                  tol=100 * eps)
            return
        if gap < 1e-2 * scale:
            return
        full = data.draw(st.booleans())
        f = _svd_signless(full)
        check("linalg.svd", lambda x: f(torch.linalg, x), lambda x: f(mg.linalg, x), [a],
              grad=(0,) if gap > 0.1 else (), seed=seed, tol=100 * eps * scale / gap, gtol=1e-7 / gap)
    else:
        p = data.draw(st.sampled_from([None, 2, -2, 1, -1, math.inf, -math.inf, "fro", "nuc", 3]))
        if not f64 or ill(a) or kind == "singular":
            want, got = _run_torch(torch.linalg.cond, [a, p], {}), _run_mg("linalg.cond", mg.linalg.cond, [a, p], {})
            if not f64 or kind == "singular":
                assert isinstance(want, Refused) == isinstance(got, Exception), f"cond: torch {want!r}, mg {got!r}"
            return
        check("linalg.cond", torch.linalg.cond, mg.linalg.cond, [a, p], grad=(0,) if kind == "dominant" else (),
              seed=seed, tol=lin_tol(a, a.dtype, 2))


# ================================================================ linalg: norms
VECTOR_ORDS = [2, 1, 0, 3, 0.5, -1, -0.5, math.inf, -math.inf, 2.5]
MATRIX_ORDS = ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf]


@st.composite
def float_arrays(draw, min_dims=0, max_dims=4):
    nd = draw(st.integers(min_dims, max_dims))
    shape = tuple(draw(st.lists(st.integers(0, 3), min_size=nd, max_size=nd)))
    dtype = draw(st.sampled_from(FLOATS + FLOATS + [np.dtype(np.int64)]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    a = rng.standard_normal(shape)
    if draw(st.booleans()):
        a = np.where(rng.random(shape) < 0.3, 0.0, a)  # zeros: the norms' gradient special cases
    return a.astype(dtype)


def _dims(draw, nd, max_len=3):
    return draw(st.one_of(st.none(), st.integers(-nd - 1, nd),
                          st.lists(st.integers(-nd - 1, nd), max_size=max_len).map(tuple)))


@given(a=float_arrays(), data=st.data(), seed=SEEDS)
def test_norms_against_torch(a, data, seed):
    nd = a.ndim
    which = data.draw(st.sampled_from(["vector_norm", "matrix_norm", "norm"]))
    keepdim = data.draw(st.booleans())
    kw = {"keepdim": keepdim}
    if data.draw(st.integers(0, 5)) == 0:
        kw["dtype"] = data.draw(st.sampled_from([torch.float64, torch.float32]))
    has_zero = a.size and (a == 0).any()
    if which == "vector_norm":
        ord_ = data.draw(st.sampled_from(VECTOR_ORDS))
        kw.update(ord=ord_, dim=_dims(data.draw, nd))
    elif which == "matrix_norm":
        ord_ = data.draw(st.sampled_from(MATRIX_ORDS + ["bad", 3]))
        kw.update(ord=ord_, dim=data.draw(st.one_of(st.just((-2, -1)), st.tuples(st.integers(-nd - 1, nd),
                                                                               st.integers(-nd - 1, nd)))))
    else:
        ord_ = data.draw(st.sampled_from([None] + VECTOR_ORDS + MATRIX_ORDS))
        kw.update(ord=ord_, dim=data.draw(st.one_of(st.none(), st.integers(-nd - 1, nd),
                                                    st.tuples(st.integers(-nd, max(nd - 1, 0))),
                                                    st.tuples(st.integers(-nd, max(nd - 1, 0)),
                                                              st.integers(-nd, max(nd - 1, 0))))))
    mkw = dict(kw)
    if "dtype" in kw:
        mkw["dtype"] = {torch.float64: mg.float64, torch.float32: mg.float32}[kw["dtype"]]
    spectral = ord_ in (2, -2, "nuc") and which != "vector_norm"
    grad = (0,) if not (spectral and has_zero) else ()  # (repeated zero singular values: undefined)
    out_dtype = np.float64 if kw.get("dtype") == torch.float64 or (a.dtype == np.float64 and "dtype" not in kw) \
        else np.float32
    check(f"linalg.{which}", lambda x: getattr(torch.linalg, which)(x, **kw),
          lambda x: getattr(mg.linalg, which)(x, **mkw), [a], grad=grad, seed=seed,
          tol=(2e-5 if out_dtype == np.float32 else 1e-10) * (10 if spectral else 1))


# ================================================================ linalg: products and builders
@given(data=st.data(), seed=SEEDS)
def test_products_and_builders_against_torch(data, seed):
    rng = np.random.default_rng(seed)
    which = data.draw(st.sampled_from(["multi_dot", "vander", "vecdot", "cross"]))
    dtype = data.draw(st.sampled_from(FLOATS + [np.dtype(np.int64)]))

    def arr(shape, dt=dtype):
        a = rng.standard_normal(shape)
        return (a.round() if np.dtype(dt).kind != "f" else a).astype(dt)

    if which == "multi_dot":
        count = data.draw(st.integers(0, 5))
        sizes = data.draw(st.lists(st.integers(0, 4), min_size=count + 1, max_size=count + 1))
        shapes = [(sizes[k], sizes[k + 1]) for k in range(count)]
        if count and data.draw(st.booleans()):
            shapes[0] = shapes[0][1:]
        if count > 1 and data.draw(st.booleans()):
            shapes[-1] = shapes[-1][:1]
        if count and data.draw(st.integers(0, 5)) == 0:  # a broken chain or a 3-D matrix
            k = data.draw(st.integers(0, count - 1))
            shapes[k] = data.draw(st.sampled_from([(2, 2, 2), (sizes[k] + 1, sizes[k + 1]), ()]))
        mats = [arr(s) for s in shapes]
        if mats and data.draw(st.integers(0, 6)) == 0:
            mats[-1] = mats[-1].astype(np.float32 if dtype != np.float32 else np.float64)
        check("linalg.multi_dot", lambda *m: torch.linalg.multi_dot(list(m)),
              lambda *m: mg.linalg.multi_dot(list(m)), mats, grad=tuple(range(len(mats))), seed=seed,
              tol=1e-5 if dtype == np.float32 else 1e-12, policy=lambda e: isinstance(e, TypeError))
    elif which == "vander":
        shape = tuple(data.draw(st.lists(st.integers(0, 3), max_size=3)))
        kw = data.draw(st.fixed_dictionaries({}, optional={"N": st.integers(-1, 5)}))
        x = arr(shape)
        check("linalg.vander", torch.linalg.vander, mg.linalg.vander, [x], kw, grad=(0,), seed=seed,
              tol=1e-5 if dtype == np.float32 else 1e-12)
    else:
        n = 3 if which == "cross" else data.draw(st.integers(0, 3))
        shape = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2))) + (n,)
        if which == "cross" and data.draw(st.integers(0, 5)) == 0:
            shape = shape[:-1] + (2,)
        other = tuple(1 if data.draw(st.booleans()) else s for s in shape)[data.draw(st.integers(0, len(shape))):]
        x, y = arr(shape), arr(other, data.draw(st.sampled_from([dtype, dtype, np.dtype(np.float32)])))
        kw = data.draw(st.fixed_dictionaries({}, optional={"dim": st.integers(-len(shape) - 1, len(shape))}))
        check(f"linalg.{which}", getattr(torch.linalg, which), getattr(mg.linalg, which), [x, y], kw, grad=(0, 1),
              seed=seed, tol=1e-5 if dtype == np.float32 else 1e-12, policy=lambda e: isinstance(e, TypeError)
              and x.dtype != y.dtype)
