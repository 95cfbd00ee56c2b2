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

Policies (minigrad's choice):
* float32 meeting float64 is a TypeError where torch upcasts (index_put/put/index_add_/index_reduce/
  scatter_reduce values, solve's and solve_triangular's B, multi_dot's chain);
* checks torch skips on an empty tensor are kept (the dtype of eigvalsh / eigh / matrix_rank / cond of an
  empty int64 batch, pinv(hermitian=True)'s square check, index bounds of index_put / put / index_add_,
  cumsum_ / cumprod_ of a 0-d or empty bool tensor);
* vector_norm / matrix_norm / norm of an integer tensor with a float dtype=: we cast first (what torch's
  docs describe); torch 2.13 refuses the integer input anyway;
* linalg.vecdot of two 1-D tensors broadcasts (torch sends them to dot, which does not) and of integer
  tensors gives the exact integer dot product (torch refuses integers but for 1-D); linalg.cross
  broadcasts tensors of different ndim and promotes an integer tensor meeting a float one (as mul);
* linalg.vander of a 0-d tensor is refused (torch treats it as a 1-element vector);
* linalg.inv_ex's info is n for a singular matrix (torch: LAPACK getrf's first zero pivot, which depends on
  the pivoting): compared as failed / not failed; the factor of a failed inv_ex / cholesky_ex is NaN
  (torch's is unspecified): not compared;
* linalg.svd(full_matrices=True) backward: torch refuses when m != n, we differentiate through the
  first min(m, n) columns (the others are not determined by A): gradients not compared there;
* scatter_reduce refuses reduce='max'/'min' (torch accepts these undocumented spellings of 'amax'/'amin');
* index_reduce of a bool tensor computes (torch: "not implemented for 'Bool'");
* index_add_ / index_add refuse a float alpha with integer tensors (torch truncates it silently);
* as_strided reading past x's own elements is refused (torch reads whatever its storage holds there);
  unfold / as_strided return copies (torch: views): values and gradients are the same;
* scatter_reduce's src entries outside index's block get gradient 0 where torch refuses backward
  (src's gradient not compared there).
Ill-posed calls (not compared value by value, only refusals, shapes and dtypes):
* a matrix singular only to working precision may or may not hit an exact zero pivot, depending on the
  LAPACK build's rounding (torch: its own; NumPy: OpenBLAS); exactly singular ones (a repeated row or a
  zero row) must be refused by both; a singular value at the cut-off of matrix_rank / pinv;
* eigenvectors of (nearly) repeated eigenvalues, singular vectors of (nearly) repeated or zero singular
  values, Q of a rank-deficient QR; put / index_put(accumulate=False) writing a position twice (torch:
  the value kept is unspecified).
Torch 2.13 quirks (torch, not minigrad, is off):
* linalg.lstsq with a B of zero columns and driver gelss / gelsd crashes (a segmentation fault / an
  internal assert): not sent to torch; only our shape is checked there; with such a B gelsy reports
  rank 0 (LAPACK's quick return), ours is A's rank: not compared;
* linalg.lstsq(driver='gels') of an A with no columns: torch's residuals are 0 (LAPACK is not called),
  ours are ||B||^2 (the residual of the empty solution): not compared there;
* linalg.lstsq with the default driver gelsy, an underdetermined A (m < n) whose first column is 0 and a
  matrix B: torch returns a zero solution (e.g. A = [[0, 1, 2], [0, 3, 1]]), we the minimum-norm one
  (pinv(A) B, as gelsd / gelss / gels and a vector B give in torch): compared with that;
* index_reduce's backward with an int32 index fails in torch ("index_fill_(): Expected dtype int64"):
  gradients not compared there.
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
            assert name.rstrip("_").split(".")[-1] in str(e), f"{name}: the error does not name the op: {e!r}"
            return e


def _same(name, got, want, tol=None):
    if isinstance(want, list):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), \
            f"{name}: {len(got)} results, torch {len(want)}"
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


def check_shapes(name, tfn, mfn, args, kw=None, allow=False, policy=None):
    """For ill-posed calls (values are rounding noise): the same refusals, and the same shapes and dtypes."""
    kw = kw or {}
    want, got = _run_torch(tfn, args, kw), _run_mg(name, mfn, args, kw)
    if isinstance(want, Refused) or isinstance(got, Exception):
        assert isinstance(want, Refused) == isinstance(got, Exception) or allow or \
            (isinstance(got, Exception) and policy is not None and policy(got)), \
            f"{name}: torch {want!r}, minigrad {got!r}"
        return
    want, got = _outputs(want), _outputs(got)
    assert len(got) == len(want), f"{name}: {len(got)} results, torch {len(want)}"
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w) and np.asarray(g).dtype == np.asarray(w).dtype, \
            f"{name}: {np.asarray(g).dtype}{np.shape(g)}, torch {np.asarray(w).dtype}{np.shape(w)}"


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
    except (RuntimeError, IndexError):  # torch has no derivative here (svd full_matrices with m != n; index_reduce
        return                          # with an int32 index: "index_fill_(): Expected dtype int64 for index")
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
    return factor * eps * min(max(1.0, cond64(a)), 1e100) ** power


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
    check(op, tfn, mfn, [a], kw, grad=grad, seed=seed, tol=tol, allow=a.size == 0 and a.dtype.kind != "f",
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
        # a product of |n| matrices: eps * |n| relative to the result; an inverse adds cond(A)
        tol = None if a.dtype.kind != "f" else 100 * float(np.finfo(a.dtype).eps) * max(abs(n), 1) * \
            (lin_tol(a, a.dtype, 1, 1.0) / float(np.finfo(a.dtype).eps) if n < 0 else 1.0)
        if n < 0 and a.dtype.kind == "f" and ill(a) and kind != "singular":
            return
        check("matrix_power", torch.linalg.matrix_power, mg.linalg.matrix_power, [a, n],
              grad=(0,) if kind in ("dominant", "spd") else (), seed=seed, tol=tol)
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
    # (inv_ex: torch's info is getrf's first zero pivot, ours n: documented; compared as failed or not)
    _same(which + ".info", got[1] if which == "cholesky_ex" else np.asarray(got[1]) > 0,
          want[1] if which == "cholesky_ex" else np.asarray(want[1]) > 0)
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
    want, got = check("linalg.solve", torch.linalg.solve, mg.linalg.solve, [a, b], {"left": left},
                      grad=(0, 1) if kind == "dominant" else (), seed=seed,
                      tol=lin_tol(a, a.dtype, 1) if a.dtype.kind == "f" else None, allow=near,
                      policy=policy)


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
        mixed = isinstance(got, TypeError) and a.dtype != b.dtype  # (the float32/float64 policy)
        assert isinstance(want, Refused) == isinstance(got, Exception) or mixed, f"torch {want!r}, minigrad {got!r}"
        if not isinstance(got, Exception) and not isinstance(want, Refused):
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
        if not vector and k == 0 and kw["driver"] in ("gelsd", "gelss") and a.ndim >= 2 and a.size:
            # torch 2.13 crashes here (gelss: a segmentation fault; gelsd: an internal assert): ours only
            got = mg.linalg.lstsq(mg.tensor(a), mg.tensor(b), **kw)
            assert got.solution.shape == a.shape[:-2] + (a.shape[-1], 0)
            return
        # (gels with n = 0 columns: torch's residuals are 0, LAPACK not called; ours ||B||^2: not compared)
        keep = [0, 2, 3] if kw["driver"] == "gels" and a.ndim >= 2 and a.shape[-1] == 0 else [0, 1, 2, 3]
        if not vector and k == 0:  # (gelsy with a B of no columns: LAPACK returns at once, torch's rank is 0)
            keep = [i for i in keep if i != 2]
        if kw["driver"] in (None, "gelsy") and not vector and a.ndim >= 2 and 0 < a.shape[-2] < a.shape[-1] and \
                (a[..., :, 0] == 0).all(axis=-1).any():
            # torch's gelsy returns 0 for an underdetermined A with a zero first column (see the docstring):
            # ours is the minimum-norm solution, pinv(A) B, as the other drivers'
            got = mg.linalg.lstsq(mg.tensor(a), mg.tensor(b), **kw).solution.numpy()
            want = (torch.linalg.pinv(torch.from_numpy(a)) @ torch.from_numpy(b)).numpy()
            _same("linalg.lstsq", got, want, tol)
            return
        check("linalg.lstsq", lambda *x: [tuple(torch.linalg.lstsq(*x, **kw))[i] for i in keep],
              lambda *x: [tuple(mg.linalg.lstsq(*x, **kw))[i] for i in keep], [a, b],
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
              grad=(0,) if kind == "dominant" else (), seed=seed, tol=tol if a.dtype.kind == "f" else None,
              allow=a.size == 0)
    else:
        kw = data.draw(st.fixed_dictionaries({}, optional={"hermitian": st.booleans(),
                                                           "atol": st.sampled_from([0.0, 0.5]),
                                                           "rtol": st.sampled_from([0.0, 0.3])}))
        if kw.get("hermitian") and a.ndim >= 2 and a.shape[-1] == a.shape[-2] and a.dtype.kind == "f":
            a = (a + np.swapaxes(a, -1, -2)) / 2
        if a.dtype.kind == "f" and a.ndim >= 2 and a.size and not (kw.get("hermitian") and a.shape[-1] != a.shape[-2]):
            x = a.astype(np.float64)
            sv = np.abs(np.linalg.eigvalsh(x)) if kw.get("hermitian") else np.linalg.svd(x, compute_uv=False)
            eps = float(np.finfo(a.dtype).eps)
            smax = sv.max(axis=-1, keepdims=True)
            atol = kw.get("atol", 0.0)
            rtol = kw.get("rtol", eps * max(a.shape[-2:]) if atol <= 0 else 0.0)
            if (np.abs(sv - np.maximum(atol, rtol * smax)) <= 100 * eps * np.maximum(smax, 1)).any():
                return  # a singular value at the cut-off (0 for a singular matrix): the count is rounding noise
        check("linalg.matrix_rank", torch.linalg.matrix_rank, mg.linalg.matrix_rank, [a], kw, allow=a.size == 0)


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
        u, vh = u[..., :, :k], vh[..., :k, :]  # (full_matrices: the other columns are not determined by A)
        return s, u * u, vh * vh, (u * s.unsqueeze(-2)) @ vh
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
        if not well:  # rank-deficient: Q's columns past the rank are not determined; shapes and refusals
            check_shapes("linalg.qr", lambda x: f(torch.linalg, x), lambda x: f(mg.linalg, x), [a],
                         allow=a.size == 0)
            return
        check("linalg.qr", lambda x: f(torch.linalg, x), lambda x: f(mg.linalg, x), [a],
              grad=(0,) if kind == "dominant" and mode == "reduced" else (), seed=seed, tol=lin_tol(a, a.dtype, 1))
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
        check("linalg.eigh", lambda x: f(torch.linalg, x), lambda x: f(mg.linalg, x), [a], allow=a.size == 0,
              grad=(0,) if gap > 0.1 else (), seed=seed, tol=100 * eps * scale / gap, gtol=1e-7 / gap)
    elif which in ("svd", "svdvals"):
        s = np.linalg.svd(a.astype(np.float64), compute_uv=False) if f64 and a.ndim >= 2 and a.size \
            else np.zeros((1, 0))
        gaps = -np.diff(s, axis=-1)
        gap = float(min(gaps.min() if gaps.size else 1.0, s[..., -1].min() if s.size else 1.0))
        scale = max(1.0, float(s.max()) if s.size else 1.0)
        if which == "svdvals":
            # (the gradient of a zero or repeated singular value depends on the vectors picked: not unique)
            check("linalg.svdvals", torch.linalg.svdvals, mg.linalg.svdvals, [a], grad=(0,) if gap > 0.1 else (),
                  seed=seed, tol=100 * eps)
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
            if (not f64 or kind == "singular") and a.size:
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
    # (repeated zero singular values: undefined; and the float64 gradient run would make dtype= narrowing)
    grad = (0,) if not (spectral and has_zero) and "dtype" not in kw else ()
    out_dtype = np.float64 if kw.get("dtype") == torch.float64 or (a.dtype == np.float64 and "dtype" not in kw) \
        else np.float32
    check(f"linalg.{which}", lambda x: getattr(torch.linalg, which)(x, **kw),
          lambda x: getattr(mg.linalg, which)(x, **mkw), [a], grad=grad, seed=seed,
          allow=a.dtype.kind != "f" and "dtype" in kw,  # (we cast first: see the module docstring)
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
              tol=1e-5 if dtype == np.float32 else 1e-12, allow=x.ndim == 0)
    else:
        n = 3 if which == "cross" else data.draw(st.integers(0, 3))
        shape = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2))) + (n,)
        if which == "cross" and data.draw(st.integers(0, 5)) == 0:
            shape = shape[:-1] + (2,)
        other = tuple(1 if data.draw(st.booleans()) else s for s in shape)[data.draw(st.integers(0, len(shape))):]
        x, y = arr(shape), arr(other, data.draw(st.sampled_from([dtype, dtype, np.dtype(np.float32)])))
        kw = data.draw(st.fixed_dictionaries({}, optional={"dim": st.integers(-len(shape) - 1, len(shape))}))
        # (torch: two 1-D inputs go to dot, which does not broadcast; cross wants equal ndim and dtypes,
        # where we broadcast and promote as mul does: accepting more, see the module docstring)
        check(f"linalg.{which}", getattr(torch.linalg, which), getattr(mg.linalg, which), [x, y], kw, grad=(0, 1),
              seed=seed, tol=1e-5 if dtype == np.float32 else 1e-12, policy=lambda e: isinstance(e, TypeError)
              and x.dtype != y.dtype, allow=x.ndim == y.ndim == 1 or (which == "cross" and (x.ndim != y.ndim or
                                                                                         x.dtype != y.dtype))
              or (which == "vecdot" and x.dtype.kind != "f"))


# ================================================================ index writes and reductions (ops/index_more.py)
DTYPES = [np.dtype(t) for t in (np.bool_, np.int32, np.int64, np.float32, np.float64)]


@st.composite
def arrays(draw, shape=None, dtype=None, min_dims=0):
    """An array of a drawn dtype and shape (0-d and empty included); floats hold ties and zeros now and then."""
    dtype = draw(st.sampled_from(DTYPES)) if dtype is None else np.dtype(dtype)
    if shape is None:
        nd = draw(st.integers(min_dims, 3))
        shape = tuple(draw(st.lists(st.integers(0, 4), min_size=nd, max_size=nd)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    if dtype.kind == "b":
        return np.asarray(rng.random(shape) < 0.5)
    values = rng.integers(-3, 4, shape) if dtype.kind == "i" or draw(st.booleans()) else rng.standard_normal(shape)
    return values.astype(dtype)


def index_array(draw, shape, n, dtypes=(np.int64, np.int64, np.int32)):
    """Integer positions in [-n-1, n] (mostly in [0, n)): duplicates, negatives and out-of-range ones."""
    lo, hi = (0, max(n - 1, 0)) if draw(st.integers(0, 3)) else (-n - 1, n)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    return rng.integers(lo, hi + 1, shape).astype(draw(st.sampled_from(dtypes)))


def dims(nd):
    """A dim, usually valid, sometimes out of range."""
    return st.integers(-nd - 1, nd) if nd else st.integers(-2, 1)


def _in_place(method):
    """x.clone().method(*args), checking it returns x itself; the written x is the result."""
    def call(x, *args, **kw):
        x = x.clone()
        out = getattr(x, method)(*args, **kw)
        assert out is x, f"{method} did not return self"
        return x
    return call


def _mixed_floats(*arrays_):
    return len({a.dtype for a in arrays_ if isinstance(a, np.ndarray) and a.dtype.kind == "f"}) > 1


@given(a=arrays(), data=st.data(), seed=SEEDS)
def test_scatter_reduce_against_torch(a, data, seed):
    nd = a.ndim
    d = data.draw(dims(nd))
    reduce = data.draw(st.sampled_from(["sum", "prod", "mean", "amax", "amin", "max"]))
    include_self = data.draw(st.booleans())
    # index: x's ndim, no larger than src (nor than x off dim); sometimes broken shapes
    size = a.shape[d] if -nd <= d < nd else 1
    ishape = tuple(data.draw(st.integers(0, s)) for s in a.shape) if nd else ()
    if -nd <= d < nd:
        ishape = ishape[:d % nd] + (data.draw(st.integers(0, 4)),) + ishape[d % nd + 1:]
    if data.draw(st.integers(0, 8)) == 0:
        ishape = data.draw(st.sampled_from([(2,), (1, 1, 1, 1), ()]))
    index = index_array(data.draw, ishape, size)
    sshape = tuple(max(s, data.draw(st.integers(0, 3))) for s in ishape) if data.draw(st.booleans()) else ishape
    src = data.draw(arrays(shape=sshape, dtype=data.draw(st.sampled_from([a.dtype, a.dtype, np.float64]))))
    op = data.draw(st.sampled_from(["scatter_reduce", "scatter_reduce", "scatter_reduce_"]))
    policy = lambda e: _mixed_floats(a, src)  # noqa: E731
    if op == "scatter_reduce_":
        check(op, lambda x, i, s: _in_place(op)(x, d, i, s, reduce, include_self=include_self),
              lambda x, i, s: _in_place(op)(x, d, i, s, reduce, include_self=include_self), [a, index, src],
              policy=policy, allow=reduce == "max")
        return
    # (src entries outside index's block: torch refuses backward there, we give them 0: src's grad not compared)
    check(op, lambda x, s, i: torch.scatter_reduce(x, d, i, s, reduce, include_self=include_self),
          lambda x, s, i: mg.scatter_reduce(x, d, i, s, reduce, include_self=include_self), [a, src, index],
          grad=(0, 1) if sshape == ishape else (0,), seed=seed, policy=policy, allow=reduce == "max")


@given(a=arrays(min_dims=0), data=st.data(), seed=SEEDS)
def test_index_reduce_and_index_add_against_torch(a, data, seed):
    nd = a.ndim
    d = data.draw(dims(nd))
    size = a.shape[d] if -nd <= d < nd else 1
    m = data.draw(st.integers(0, 4))
    index = index_array(data.draw, data.draw(st.sampled_from([(m,), (m,), (), (1, m)])), size)
    shape = list(a.shape)
    if -nd <= d < nd:
        shape[d] = index.size
    if data.draw(st.integers(0, 8)) == 0:
        shape = shape + [1]
    source = data.draw(arrays(shape=tuple(shape), dtype=data.draw(st.sampled_from([a.dtype, a.dtype, np.float64]))))
    which = data.draw(st.sampled_from(["index_reduce", "index_reduce_", "index_add_"]))
    policy = lambda e: _mixed_floats(a, source)  # noqa: E731
    if which == "index_add_":
        alpha = data.draw(st.sampled_from([1, 2, -1, 0.5]))
        check(which, _in_place(which), _in_place(which), [a, d, index, source], {"alpha": alpha},
              policy=lambda e: policy(e) or "would be truncated" in str(e), allow=a.size == 0)
        return
    reduce = data.draw(st.sampled_from(["prod", "mean", "amax", "amin", "sum"]))
    include_self = data.draw(st.booleans())
    if which == "index_reduce":
        check(which, lambda x, i, s: torch.index_reduce(x, d, i, s, reduce, include_self=include_self),
              lambda x, i, s: mg.index_reduce(x, d, i, s, reduce, include_self=include_self), [a, index, source],
              grad=(0, 2), seed=seed, policy=policy, allow=a.dtype.kind == "b")
    else:
        check(which, lambda x, i, s: _in_place(which)(x, d, i, s, reduce, include_self=include_self),
              lambda x, i, s: _in_place(which)(x, d, i, s, reduce, include_self=include_self), [a, index, source],
              policy=policy, allow=a.dtype.kind == "b")


@given(a=arrays(min_dims=1), data=st.data(), seed=SEEDS)
def test_index_put_and_put_against_torch(a, data, seed):
    nd = a.ndim
    which = data.draw(st.sampled_from(["index_put", "index_put_", "put", "put_"]))
    accumulate = data.draw(st.booleans())
    vdtype = data.draw(st.sampled_from([a.dtype, a.dtype, a.dtype, np.float64, np.int64]))
    if which.startswith("put"):
        m = data.draw(st.integers(0, 4))
        index = index_array(data.draw, data.draw(st.sampled_from([(m,), (m, 1), ()])), a.size,
                            dtypes=(np.int64, np.int64, np.int32))
        source = data.draw(arrays(shape=data.draw(st.sampled_from([index.shape, (index.size,), (index.size + 1,)])),
                                  dtype=vdtype))
        flat = np.where(index < 0, index + a.size, index).reshape(-1)
        dup = len(set(flat.tolist())) < flat.size
        fns = (torch.Tensor.put, mg.Tensor.put) if which == "put" else (_in_place(which), _in_place(which))
        if dup and not accumulate:  # which value is kept is unspecified: compare shapes and refusals only
            check_shapes(which, fns[0], fns[1], [a, index, source], {"accumulate": accumulate},
                         policy=lambda e: _mixed_floats(a, source))
            return
        check(which, fns[0], fns[1], [a, index, source], {"accumulate": accumulate},
              grad=(0, 2) if which == "put" else (), seed=seed, policy=lambda e: _mixed_floats(a, source))
        return
    # indices: a tuple of 1..nd+1 int / bool tensors that broadcast (or not) together
    count = data.draw(st.integers(1, nd + 1))
    indices, lead = [], data.draw(st.sampled_from([(2,), (1,), (2, 1), (3,), (0,)]))
    pos = 0
    for _ in range(count):
        if data.draw(st.integers(0, 4)) == 0 and pos < nd:
            width = data.draw(st.integers(1, nd - pos))
            mask_shape = a.shape[pos:pos + width] if data.draw(st.integers(0, 5)) else (a.shape[pos] + 1,)
            indices.append(np.random.default_rng(seed).random(mask_shape) < 0.5)
            pos += width
        else:
            n = a.shape[pos] if pos < nd else 1
            shape = lead if data.draw(st.integers(0, 3)) else data.draw(st.sampled_from([(1,), (2, 2), (), (3,)]))
            indices.append(index_array(data.draw, shape, n, dtypes=(np.int64, np.int64, np.int32, np.float32)))
            pos += 1
    t_idx = [torch.from_numpy(i.copy()) for i in indices]
    try:
        vshape = tuple(torch.from_numpy(a.copy())[tuple(t_idx)].shape)
    except Exception:  # noqa: BLE001 - torch refuses the indices; a value of any shape
        vshape = (2,)
    vshape = vshape[data.draw(st.integers(0, len(vshape))):] if data.draw(st.booleans()) else vshape
    values = data.draw(arrays(shape=vshape, dtype=vdtype))
    # positions written twice without accumulate: the kept value is unspecified
    try:
        hit = np.zeros(a.shape, np.int64)
        np.add.at(hit, tuple(indices), 1)
        dup = bool((hit > 1).any())
    except Exception:  # noqa: BLE001
        dup = False
    fns = (torch.Tensor.index_put, mg.Tensor.index_put) if which == "index_put" else \
        (_in_place(which), _in_place(which))
    args = [a, tuple(indices), values]
    policy = lambda e: _mixed_floats(a, values)  # noqa: E731
    if dup and not accumulate:
        check_shapes(which, fns[0], fns[1], args, {"accumulate": accumulate}, policy=policy, allow=a.size == 0)
        return
    check(which, fns[0], fns[1], args, {"accumulate": accumulate}, seed=seed, policy=policy, allow=a.size == 0,
          grad=(0, 2) if which == "index_put" else ())


@given(a=arrays(), data=st.data(), seed=SEEDS)
def test_windows_and_slice_scatters_against_torch(a, data, seed):
    nd = a.ndim
    d = data.draw(dims(nd))
    size = a.shape[d] if -nd <= d < nd else 1
    which = data.draw(st.sampled_from(["unfold", "as_strided", "diagonal_scatter", "select_scatter", "slice_scatter",
                                       "narrow_copy", "split_with_sizes", "sum_to_size"]))
    T = torch.Tensor
    if which == "unfold":
        args = [a, d, data.draw(st.integers(-1, size + 1)), data.draw(st.integers(-1, 3))]
        check(which, T.unfold, mg.Tensor.unfold, args, grad=(0,), seed=seed)
    elif which == "as_strided":
        k = data.draw(st.integers(0, 3))
        size_ = tuple(data.draw(st.lists(st.integers(0, 3), min_size=k, max_size=k)))
        stride = tuple(data.draw(st.lists(st.integers(0, 3), min_size=k, max_size=k)))
        kw = data.draw(st.fixed_dictionaries({}, optional={"storage_offset": st.integers(0, 3)}))
        # (reading past x's own elements is refused by us; torch reads whatever its storage holds there)
        last = kw.get("storage_offset", 0) + sum((s - 1) * st_ for s, st_ in zip(size_, stride))
        inside = not all(size_) or last < a.size
        check(which, T.as_strided, mg.Tensor.as_strided, [a, size_, stride], kw, grad=(0,) if inside else (),
              seed=seed, allow=not inside)
    elif which == "diagonal_scatter":
        kw = {"offset": data.draw(st.integers(-3, 3)), "dim1": d, "dim2": data.draw(dims(nd))}
        try:
            shape = tuple(torch.from_numpy(a).diagonal(**kw).shape)
        except Exception:  # noqa: BLE001
            shape = (2,)
        src = data.draw(arrays(shape=shape if data.draw(st.integers(0, 5)) else shape + (1,),
                               dtype=data.draw(st.sampled_from([a.dtype, a.dtype, np.float64]))))
        check(which, torch.diagonal_scatter, mg.diagonal_scatter, [a, src], kw, grad=(0, 1), seed=seed)
    elif which == "select_scatter":
        index = data.draw(st.integers(-size - 1, size))
        shape = a.shape[:d % nd] + a.shape[d % nd + 1:] if -nd <= d < nd and nd else ()
        src = data.draw(arrays(shape=shape if data.draw(st.integers(0, 5)) else shape + (1,),
                               dtype=data.draw(st.sampled_from([a.dtype, a.dtype, np.float64]))))
        check(which, torch.select_scatter, mg.select_scatter, [a, src, d, index], grad=(0, 1), seed=seed)
    elif which == "slice_scatter":
        bound = st.one_of(st.none(), st.integers(-size - 1, size + 1))
        kw = data.draw(st.fixed_dictionaries({}, optional={"start": bound, "end": bound, "step": st.integers(-1, 3)}))
        kw["dim"] = d
        try:
            shape = tuple(torch.from_numpy(a).narrow(d, 0, size).shape)
            length = len(range(size)[slice(kw.get("start"), kw.get("end"), max(kw.get("step", 1), 1))])
            shape = shape[:d % nd] + (length,) + shape[d % nd + 1:]
        except Exception:  # noqa: BLE001
            shape = (1,)
        src = data.draw(arrays(shape=shape if data.draw(st.integers(0, 5)) else shape + (1,),
                               dtype=data.draw(st.sampled_from([a.dtype, a.dtype, np.float64]))))
        check(which, torch.slice_scatter, mg.slice_scatter, [a, src], kw, grad=(0, 1), seed=seed)
    elif which == "narrow_copy":
        args = [a, d, data.draw(st.integers(-size - 1, size + 1)), data.draw(st.integers(-1, size + 1))]
        check(which, torch.narrow_copy, mg.narrow_copy, args, grad=(0,), seed=seed)
    elif which == "split_with_sizes":
        sizes = data.draw(st.one_of(st.lists(st.integers(0, size), max_size=3),
                                    st.lists(st.integers(-1, size + 1), max_size=3)))
        if data.draw(st.booleans()) and sizes:
            sizes[-1] = size - sum(sizes[:-1])
        check(which, T.split_with_sizes, mg.Tensor.split_with_sizes, [a, sizes, d], grad=(0,), seed=seed)
    else:
        target = tuple(1 if data.draw(st.booleans()) else s for s in a.shape)[data.draw(st.integers(0, nd)):]
        if data.draw(st.integers(0, 5)) == 0:
            target = data.draw(st.sampled_from([(5,), (2, 2, 2, 2, 2), (0,)]))
        check(which, T.sum_to_size, mg.Tensor.sum_to_size, [a, target], grad=(0,), seed=seed)


@given(a=arrays(), data=st.data())
def test_in_place_shape_and_scan_methods_against_torch(a, data):
    nd = a.ndim
    which = data.draw(st.sampled_from(["cumsum_", "cumprod_", "tril_", "triu_", "squeeze_", "unsqueeze_", "t_",
                                       "transpose_"]))
    if which in ("cumsum_", "cumprod_"):
        dtype = data.draw(st.sampled_from([None, None, torch.float64, torch.int64]))
        mg_dtype = None if dtype is None else {torch.float64: mg.float64, torch.int64: mg.int64}[dtype]
        d = data.draw(dims(nd))
        check(which, lambda x: _in_place(which)(x, d, dtype=dtype), lambda x: _in_place(which)(x, d, dtype=mg_dtype),
              [a], allow=a.dtype.kind == "b" and (a.ndim == 0 or a.size == 0))
    elif which in ("tril_", "triu_"):
        check(which, _in_place(which), _in_place(which), [a, data.draw(st.integers(-3, 3))])
    elif which == "squeeze_":
        args = data.draw(st.one_of(st.just([]), st.tuples(dims(nd)).map(list)))
        check(which, _in_place(which), _in_place(which), [a, *args])
    elif which == "unsqueeze_":
        check(which, _in_place(which), _in_place(which), [a, data.draw(st.integers(-nd - 2, nd + 1))])
    elif which == "t_":
        check(which, _in_place(which), _in_place(which), [a])
    else:
        check(which, _in_place(which), _in_place(which), [a, data.draw(dims(nd)), data.draw(dims(nd))])


# ================================================================ the autograd API on random compositions
UNARY_STEPS = ["exp", "tanh", "sin", "sigmoid", "square", "sum_last", "mean_all", "neg", "t"]
BINARY_STEPS = ["add", "mul", "sub", "matmul_t"]


def _step(lib, name, x, y=None):
    """One op of a composition, written once for torch and minigrad (same method names)."""
    if name == "square":
        return x * x
    if name == "sum_last":
        return x.sum(-1, keepdim=True) if x.ndim else x
    if name == "mean_all":
        return x.mean()
    if name == "neg":
        return -x
    if name == "t":
        return x.mT if x.ndim >= 2 else x
    if y is not None and not (name == "matmul_t" and x.ndim >= 2 and y.ndim >= 2 and x.shape[-1] == y.shape[-1]):
        try:
            np.broadcast_shapes(tuple(x.shape), tuple(y.shape))
        except ValueError:
            y = y.sum()  # (shapes that do not broadcast: a scalar of y instead)
    if name == "add":
        return x + y
    if name == "mul":
        return x * y
    if name == "sub":
        return x - y
    if name == "matmul_t":  # x @ y^T where shapes allow, else a product
        return x @ y.mT if x.ndim >= 2 and y.ndim >= 2 and x.shape[-1] == y.shape[-1] else x * y
    return getattr(x, name)()


@st.composite
def programs(draw):
    """(input shapes, steps, outputs): values v_0..v_{k-1} are the inputs, each step appends one value."""
    k = draw(st.integers(1, 3))
    base = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    shapes = [base if draw(st.integers(0, 3)) else base[draw(st.integers(0, len(base))):] for _ in range(k)]
    steps, count = [], k
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(UNARY_STEPS)), draw(st.integers(0, count - 1)), None))
        else:
            steps.append((draw(st.sampled_from(BINARY_STEPS)), draw(st.integers(0, count - 1)),
                          draw(st.integers(0, count - 1))))
        count += 1
    outs = sorted(set(draw(st.lists(st.integers(k, count - 1), min_size=1, max_size=2))))
    return shapes, steps, outs


def _run_program(lib, program, xs):
    shapes, steps, outs = program
    vals = list(xs)
    for name, i, j in steps:
        vals.append(_step(lib, name, vals[i], None if j is None else vals[j]))
    return [vals[o] for o in outs]


def _same_grads(name, got, want):
    assert len(got) == len(want), f"{name}: {len(got)} gradients, torch {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        if w is None:
            assert g is None, f"{name}: gradient {k} is {g!r}, torch None"
            continue
        assert g is not None, f"{name}: gradient {k} is None, torch {w!r}"
        _same(f"{name}[{k}]", g.numpy(), w.detach().numpy(), 1e-10)


def _both(fn_t, fn_m):
    """(torch's result or exception, minigrad's result or exception)."""
    out = []
    for fn in (fn_t, fn_m):
        try:
            out.append(fn())
        except Exception as e:  # noqa: BLE001 - compared by the caller
            out.append(e)
    return out


@given(program=programs(), data=st.data())
def test_autograd_grad_and_backward_inputs_against_torch(program, data):
    shapes, _, _ = program
    rng = np.random.default_rng(data.draw(SEEDS))
    xs = [rng.standard_normal(s) for s in shapes]
    tx = [torch.tensor(x, requires_grad=True) for x in xs]
    mx = [mg.tensor(x, requires_grad=True) for x in xs]
    t_out, m_out = _run_program(torch, program, tx), _run_program(mg, program, mx)
    for o, p in zip(m_out, t_out):
        _same("composition", o.detach().numpy(), p.detach().numpy(), 1e-12)
    which = data.draw(st.sampled_from(["grad", "grad", "backward_inputs"]))
    seeds = [rng.standard_normal(tuple(o.shape)) for o in t_out]
    give = data.draw(st.sampled_from(["all", "all", "none", "mixed"]))
    gos = [None if give == "none" or (give == "mixed" and k % 2) else w for k, w in enumerate(seeds)]
    wrt = sorted(set(data.draw(st.lists(st.integers(0, len(xs) - 1), min_size=1, max_size=len(xs)))))
    kw = data.draw(st.fixed_dictionaries({}, optional={"allow_unused": st.booleans(),
                                                       "materialize_grads": st.booleans()}))
    if which == "grad":
        want, got = _both(
            lambda: torch.autograd.grad(t_out, [tx[i] for i in wrt],
                                        [None if g is None else torch.from_numpy(g) for g in gos], **kw),
            lambda: mg.autograd.grad(m_out, [mx[i] for i in wrt],
                                     [None if g is None else mg.tensor(g) for g in gos], **kw))
        if isinstance(want, Exception) or isinstance(got, Exception):
            assert isinstance(want, Exception) and isinstance(got, ALLOWED), f"grad: torch {want!r}, minigrad {got!r}"
            assert "grad" in str(got), f"grad: the error does not name the function: {got!r}"
        else:
            _same_grads("grad", got, want)
        assert all(t.grad is None for t in mx), "grad changed a leaf's .grad"
        return
    # backward(inputs=...): only those leaves get .grad, accumulated; the others stay None
    pre = data.draw(st.booleans())
    if pre:  # a .grad already there is added to
        for t, m in zip(tx, mx):
            t.grad, m.grad = torch.ones_like(t), mg.ones(*m.shape, dtype=mg.float64)
    want, got = _both(
        lambda: torch.autograd.backward(t_out, [None if g is None else torch.from_numpy(g) for g in gos],
                                        inputs=[tx[i] for i in wrt]),
        lambda: mg.autograd.backward(m_out, [None if g is None else mg.tensor(g) for g in gos],
                                     inputs=[mx[i] for i in wrt]))
    if isinstance(want, Exception) or isinstance(got, Exception):
        assert isinstance(want, Exception) and isinstance(got, ALLOWED), f"backward: torch {want!r}, minigrad {got!r}"
        assert "backward" in str(got), f"backward: the error does not name the function: {got!r}"
        return
    _same_grads("backward(inputs=)", [m.grad for m in mx], [t.grad for t in tx])


@given(program=programs(), data=st.data())
def test_functional_jacobian_vjp_jvp_against_torch(program, data):
    shapes, _, _ = program
    rng = np.random.default_rng(data.draw(SEEDS))
    xs = [rng.standard_normal(s) for s in shapes]
    as_tuple = len(xs) > 1 or data.draw(st.booleans())
    single_out = data.draw(st.booleans())

    def func(lib):
        def f(*inputs):
            outs = _run_program(lib, program, inputs)
            return outs[0] if single_out else tuple(outs)
        return f

    t_in = tuple(torch.from_numpy(x.copy()) for x in xs)
    m_in = tuple(mg.tensor(x) for x in xs)
    t_arg, m_arg = (t_in, m_in) if as_tuple else (t_in[0], m_in[0])
    which = data.draw(st.sampled_from(["jacobian", "vjp", "jvp"]))
    strict = data.draw(st.booleans())
    F_t, F_m = torch.autograd.functional, mg.autograd.functional
    if which == "jacobian":
        want, got = _both(lambda: F_t.jacobian(func(torch), t_arg, strict=strict),
                          lambda: F_m.jacobian(func(mg), m_arg, strict=strict))
    else:
        t_outs = func(torch)(*t_in)
        like = (t_outs if isinstance(t_outs, tuple) else (t_outs,)) if which == "vjp" else t_in
        vs = [rng.standard_normal(tuple(o.shape)) for o in like]
        if data.draw(st.integers(0, 6)) == 0:
            vs = vs[:-1] if len(vs) > 1 else [rng.standard_normal((7,))]  # the wrong number / shape of vectors
        none = data.draw(st.integers(0, 5)) == 0
        single = not (isinstance(t_outs, tuple) if which == "vjp" else as_tuple)
        tv = None if none else (torch.from_numpy(vs[0]) if single and len(vs) == 1 else
                                tuple(torch.from_numpy(v) for v in vs))
        mv = None if none else (mg.tensor(vs[0]) if single and len(vs) == 1 else tuple(mg.tensor(v) for v in vs))
        want, got = _both(lambda: getattr(F_t, which)(func(torch), t_arg, tv, strict=strict),
                          lambda: getattr(F_m, which)(func(mg), m_arg, mv, strict=strict))
    if isinstance(want, Exception) or isinstance(got, Exception):
        assert isinstance(want, Exception) and isinstance(got, ALLOWED), f"{which}: torch {want!r}, minigrad {got!r}"
        assert which in str(got), f"{which}: the error does not name the function: {got!r}"
        return
    _same(which, _host(got), _host(want), 1e-10)
    assert all(not t.requires_grad and t.grad is None for t in m_in), f"{which} changed its inputs"


def test_found_by_fuzzing():
    """The discrepancies this fuzzing found, pinned as plain examples (each was a minigrad bug)."""
    a = np.array([[4.0, 1.0], [3.0, 5.0]])  # not symmetric: upper=True reads the upper triangle, as torch
    want = torch.linalg.cholesky(torch.from_numpy(a), upper=True).numpy()
    np.testing.assert_allclose(mg.linalg.cholesky(mg.tensor(a), upper=True).numpy(), want)
    np.testing.assert_allclose(mg.linalg.cholesky_ex(mg.tensor(a), upper=True).L.numpy(), want)
    L, info = mg.linalg.cholesky_ex(mg.zeros(0, 0))  # an empty batch: no bare NumPy reshape error
    assert L.shape == (0, 0) and info.shape == () and int(info) == 0
    # solve(left=False) with a matrix B that looks like a batch of vectors once transposed
    A, B = np.random.default_rng(0).random((3, 1, 1)) + 1, np.ones((1, 3))
    with pytest.raises(ValueError, match="linalg.solve: incompatible shapes .* XA = B"):
        mg.linalg.solve(mg.tensor(A), mg.tensor(B), left=False)
    # norms: empty reductions name the op; min-type ones are refused, max-type ones are 0 (as torch)
    assert float(mg.linalg.matrix_norm(mg.zeros(0, 2), 2)) == 0.0
    with pytest.raises(ValueError, match="linalg.matrix_norm"):
        mg.linalg.matrix_norm(mg.zeros(2, 0), -1)
    with pytest.raises(ValueError, match="linalg.vector_norm"):
        mg.linalg.vector_norm(mg.zeros(0), math.inf)
    with pytest.raises(TypeError, match="linalg.vector_norm: .*narrowing"):
        mg.linalg.vector_norm(mg.zeros(2, dtype=mg.float64), dtype=mg.float32)
    assert mg.linalg.cond(mg.zeros(3, 0), -math.inf).tolist() == 0.0  # torch: 0 for empty matrices
    with pytest.raises(TypeError, match="linalg.multi_dot: all tensors must have the same dtype"):
        mg.linalg.multi_dot([mg.ones(2, 2, dtype=mg.int64), mg.ones(2, 2)])
    # index_add: a float alpha with integers is refused (torch truncates it); 0-d x takes a 0-d source only
    x = mg.zeros(3, dtype=mg.int64)
    assert x.index_add(0, mg.tensor([1, 1]), mg.tensor([3, 5]), alpha=2.0).tolist() == [0, 16, 0]
    with pytest.raises(TypeError, match="index_add: a float alpha"):
        x.index_add(0, mg.tensor([1]), mg.tensor([3]), alpha=0.5)
    with pytest.raises(ValueError, match="index_add: into the 0-d"):
        mg.tensor(1.0).index_add(0, mg.tensor([0]), mg.tensor([2.0]))
    # index_reduce checks its index even when source is empty
    with pytest.raises(IndexError, match="index_reduce: index 5 is out of range"):
        mg.index_reduce(mg.zeros(2, 2, 0), 0, mg.tensor([5]), mg.zeros(1, 2, 0), "amax")
    # jvp(strict=True) refuses only an input that reaches no output (torch's rule), not a zero block
    out, jv = mg.autograd.functional.jvp(lambda a, b: (a.exp(), a * b), (mg.tensor([1.0]), mg.tensor([2.0])),
                                         (mg.tensor([1.0]), mg.tensor([1.0])), strict=True)
    np.testing.assert_allclose(jv[1].numpy(), [3.0])
    with pytest.raises(RuntimeError, match="jvp: .*independent of input 1"):
        mg.autograd.functional.jvp(lambda a, b: a.exp(), (mg.tensor([1.0]), mg.tensor([2.0])),
                                   (mg.tensor([1.0]), mg.tensor([1.0])), strict=True)
    assert mg.tensor(np.array(3, np.int32)).sum_to_size(()).dtype == mg.int64  # a 0-d size sums, as torch
    # (a torch quirk, not ours: gelsy's zero solution for A = [[0, 1, 2], [0, 3, 1]]; we give pinv(A) B)
    A, B = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 1.0]]), np.array([[1.0], [2.0]])
    np.testing.assert_allclose(mg.linalg.lstsq(mg.tensor(A), mg.tensor(B)).solution.numpy(), np.linalg.pinv(A) @ B,
                               atol=1e-12)
