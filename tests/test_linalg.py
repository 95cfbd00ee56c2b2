"""minigrad.linalg (ops/linalg_ext.py): torch.linalg's functions with hand-written backward rules.

Hypothesis properties over well-conditioned generated batches (diagonally dominant matrices,
Q diag(w) Q^T with spread-out w, U diag(s) V^T with spread-out s): values against NumPy float64,
gradients against float64 finite differences, float32 kept (check_op, on the `device` fixture).
Decompositions are checked through sign-invariant functions of their factors (eigenvectors and
singular vectors are unique only up to sign). Then torch parity (values and gradients, float64,
batched), torch's refusals, and the top-level aliases / Tensor methods.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.linalg_ext import (
    QR, SVD, Cholesky, Det, Eigh, Eigvalsh, Inv, MatrixExp, Pinv, Slogdet, Solve, SolveTriangular, Svdvals,
    VectorNorm,
)
from minigrad.testing import gradcheck

from opcheck import check_op, draw_array

GRADIENT_TESTED = [Inv, Det, Slogdet, Solve, SolveTriangular, Cholesky, QR, Eigh, Eigvalsh, SVD, Svdvals, Pinv,
                   MatrixExp, VectorNorm]

BATCH_SHAPES = [(), (2,), (2, 1), (1, 3)]
BATCH = st.sampled_from(BATCH_SHAPES)
SIDE = st.integers(1, 4)


# ================================================================ generated matrices
def dominant(data, batch, n, device="cpu"):
    """(n+1) I + M with |M_ij| <= 1: strictly diagonally dominant by 1 in rows and columns, so
    ||inv(A)|| <= 1 and cond(A) <= 2n + 1."""
    m = draw_array(data, batch + (n, n), device, min_value=-1.0, max_value=1.0)
    return m + (n + 1) * np.eye(n)


def orthogonal(data, batch, m, k, device="cpu"):
    """m x k with orthonormal columns (QR of a drawn dominant matrix)."""
    a = dominant(data, batch, max(m, k), device)[..., :m, :k]
    return np.linalg.qr(a)[0]


def spread(data, k, lo, step=(0.4, 0.9)):
    """k increasing values from lo with gaps in [step]: no repeated eigen/singular values."""
    gaps = [data.draw(st.floats(*step)) for _ in range(k)]
    return lo + np.cumsum(gaps) - gaps[0]


def symmetric_distinct(data, batch, n, device="cpu"):
    """Q diag(w) Q^T with eigenvalues w from [-1.5, ...] at least 0.4 apart."""
    q = orthogonal(data, batch, n, n, device)
    w = spread(data, n, -1.5)
    return (q * w) @ np.swapaxes(q, -1, -2)


def distinct_singular(data, batch, m, n, device="cpu"):
    """U diag(s) V^T with singular values s from 0.6 up, at least 0.4 apart (full rank, distinct)."""
    k = min(m, n)
    u = orthogonal(data, batch, m, k, device)
    v = orthogonal(data, batch, n, k, device)
    s = spread(data, k, 0.6)[::-1]
    return (u * s) @ np.swapaxes(v, -1, -2)


def symmetric_invertible(data, batch, n, device="cpu"):
    """Q diag(w) Q^T with |w| from 0.6 up, at least 0.4 apart, random signs: symmetric indefinite and
    invertible, so pinv (= inv here) is differentiable (pinv jumps where an eigenvalue reaches 0)."""
    q = orthogonal(data, batch, n, n, device)
    signs = np.where(draw_array(data, (n,), device) < 0, -1.0, 1.0)
    w = spread(data, n, 0.6) * signs
    return (q * w) @ np.swapaxes(q, -1, -2)


def separated_abs_sums(data, batch, m, n, device="cpu"):
    """m x n with |a_ij| >= 0.5 and row and column sums of |a_ij| at least 2 apart (random signs and
    orders): the 1/-1/inf/-inf matrix norms (a max/min of such sums) are differentiable there, at a
    distance from every kink (|x| at 0, ties in the max/min) far beyond the finite-difference step.
    |a_ij| = 0.5 + 0.5 |x_ij| + 2 (r_i + c_j) for permutations r, c: a row's sum is 2 n r_i plus
    a part varying by <= 0.5 n (columns alike)."""
    x = draw_array(data, batch + (m, n), device, min_value=-1.0, max_value=1.0)
    r = np.array(data.draw(st.permutations(range(m))), dtype=np.float64)
    c = np.array(data.draw(st.permutations(range(n))), dtype=np.float64)
    return np.where(x < 0, -1.0, 1.0) * (0.5 + 0.5 * np.abs(x) + 2 * (r[:, None] + c[None, :]))


def diagonal_heavy(data, batch, n, device="cpu"):
    """D + E, |d_j| = 2^{r_j} (1 + 0.2 t_j) (r a permutation, t in [0, 1], random signs) and off-diagonal
    |e_ij| in [0.01, 0.02]: A and inv(A) = (I - D^-1 E + ...) D^-1 have no entry near 0 (the first-order
    off-diagonal term -e_ij / (d_i d_j) outweighs the rest 10:1) and their row and column sums of |.|
    are separated (by the factor >= 2 / 1.2 between the |d_j|), so cond's 1/inf norms of both are
    differentiable well beyond the finite-difference step."""
    x = draw_array(data, batch + (n, n), device, min_value=-1.0, max_value=1.0)
    t = draw_array(data, batch + (n,), device, min_value=-1.0, max_value=1.0)
    r = np.array(data.draw(st.permutations(range(n))), dtype=np.float64)
    d = np.where(t < 0, -1.0, 1.0) * 2.0 ** r * (1 + 0.2 * np.abs(t))
    e = np.where(x < 0, -1.0, 1.0) * (0.01 + 0.01 * np.abs(x)) * (1 - np.eye(n))
    return e + d[..., None] * np.eye(n)


def spd(data, batch, n, device="cpu"):
    m = draw_array(data, batch + (n, n), device, min_value=-1.0, max_value=1.0)
    return m @ np.swapaxes(m, -1, -2) + np.eye(n)


def sym(a):
    """The symmetric matrix a stands for: (a + a^T) / 2, so finite differences move both triangles."""
    return (a + a.mT) * 0.5


def np_sym(a):
    return (a + np.swapaxes(a, -1, -2)) / 2


def _broadcastable(*shapes):
    try:
        np.broadcast_shapes(*shapes)
        return True
    except ValueError:
        return False


# ================================================================ inv / det / slogdet / solve
@given(data=st.data(), batch=BATCH, n=SIDE)
def test_inv_det_slogdet(device, data, batch, n):
    a = dominant(data, batch, n, device)
    check_op(mg.linalg.inv, np.linalg.inv, [a], device)
    check_op(mg.linalg.det, np.linalg.det, [a], device)
    check_op(lambda x: tuple(mg.linalg.slogdet(x)), lambda x: tuple(np.linalg.slogdet(x)), [a], device)
    check_op(lambda x: mg.linalg.inv_ex(x).inverse, np.linalg.inv, [a], device)
    check_op(mg.inverse, np.linalg.inv, [a], device)
    # logdet needs det > 0: A^T A is positive-definite
    check_op(lambda x: mg.logdet(x.mT @ x), lambda x: np.linalg.slogdet(np.swapaxes(x, -1, -2) @ x)[1], [a], device)


@given(data=st.data(), batch_a=BATCH, n=SIDE, k=st.integers(1, 3), vector=st.booleans(), left=st.booleans())
def test_solve_broadcasts(device, data, batch_a, n, k, vector, left):
    # only batch shapes that broadcast with A's: (2,) and (1, 3) do not (2 vs 3), and solve refuses
    # them as torch does (test_errors_name_the_op checks that refusal)
    batch_b = data.draw(st.sampled_from([b for b in BATCH_SHAPES if _broadcastable(batch_a, b)]))
    a = dominant(data, batch_a, n, device)
    if vector:
        b = draw_array(data, (n,), device)  # a 1-D B is always a vector
        if not left:  # torch refuses a vector B with left=False, and so do we (test_review7)
            with pytest.raises(RuntimeError, match=r"linalg\.solve: a vector B"):
                mg.linalg.solve(mg.tensor(a, device=device), mg.tensor(b, device=device), left=False)
            return
        ref = np.linalg.solve
    else:
        b = draw_array(data, batch_b + ((n, k) if left else (k, n)), device)
        # torch reads a B with A's batch shape and n as a batch of vectors (test_fuzz_torch_wave2_ops
        # checks that corner against torch); here B is a matrix
        assume(b.shape != a.shape[:-1])
        if left:
            ref = np.linalg.solve
        else:
            ref = (lambda x, y: np.swapaxes(np.linalg.solve(np.swapaxes(x, -1, -2), np.swapaxes(y, -1, -2)), -1, -2))
    check_op(lambda x, y: mg.linalg.solve(x, y, left=left), ref, [a, b], device)


@given(data=st.data(), batch=BATCH, n=SIDE, k=st.integers(1, 3), upper=st.booleans(), left=st.booleans(),
       unit=st.booleans())
def test_solve_triangular(device, data, batch, n, k, upper, left, unit):
    a = dominant(data, batch, n, device)
    b = draw_array(data, (k, n) if not left else (n, k), device)

    def ref(x, y):
        t = np.triu(x) if upper else np.tril(x)
        if unit:
            t = t - t * np.eye(n) + np.eye(n)
        if left:
            return np.linalg.solve(t, np.broadcast_to(y, t.shape[:-2] + y.shape))
        return np.swapaxes(np.linalg.solve(np.swapaxes(t, -1, -2), np.swapaxes(y, -1, -2)), -1, -2)

    check_op(lambda x, y: mg.linalg.solve_triangular(x, y, upper=upper, left=left, unitriangular=unit),
             ref, [a, b], device)


@given(data=st.data(), batch=BATCH, n=SIDE, power=st.sampled_from([-3, -2, -1]))
def test_matrix_power_negative(device, data, batch, n, power):
    a = dominant(data, batch, n, device) / (n + 1)  # entries O(1), so A^-3 stays O(1)
    check_op(lambda x: mg.linalg.matrix_power(x, power), lambda x: np.linalg.matrix_power(x, power), [a], device)


# ================================================================ decompositions
@given(data=st.data(), batch=BATCH, n=SIDE, upper=st.booleans())
def test_cholesky(device, data, batch, n, upper):
    a = spd(data, batch, n, device)

    def ref(x):
        L = np.linalg.cholesky(np_sym(x))
        return np.swapaxes(L, -1, -2) if upper else L

    check_op(lambda x: mg.linalg.cholesky(sym(x), upper=upper), ref, [a], device)
    check_op(lambda x: mg.linalg.cholesky_ex(sym(x), upper=upper).L, ref, [a], device)


def _qr_unique(q, r, xp_sign):
    """Q and R with R's diagonal made positive (the unique QR of a full-rank matrix)."""
    d = xp_sign(r)
    return q * d[..., None, :], r * d[..., :, None]


@given(data=st.data(), batch=BATCH, m=SIDE, n=SIDE, complete=st.booleans())
def test_qr(device, data, batch, m, n, complete):
    a = distinct_singular(data, batch, m, n, device)
    mode = "complete" if complete and m <= n else "reduced"  # complete with m > n has no gradient (torch)
    k = min(m, n)

    def fn(x):
        q, r = mg.linalg.qr(x, mode=mode)
        sign = mg.tensor(np.sign(np.diagonal(r.numpy(), axis1=-2, axis2=-1)[..., :k]), device=x.device).to(x.dtype)
        return q * sign.unsqueeze(-2), r * sign.unsqueeze(-1)

    def ref(x):
        q, r = np.linalg.qr(x, mode=mode)
        sign = np.sign(np.diagonal(r, axis1=-2, axis2=-1)[..., :k])
        return q * sign[..., None, :], r * sign[..., :, None]

    check_op(fn, ref, [a], device, f32_tol=5e-5)


@given(data=st.data(), batch=BATCH, n=SIDE, uplo=st.sampled_from(["L", "U"]))
def test_eigh_eigvalsh(device, data, batch, n, uplo):
    a = symmetric_distinct(data, batch, n, device)
    c = np.arange(1.0, n + 1)  # sign-invariant view of the eigenvectors: V diag(c) V^T

    def fn(x):
        w, v = mg.linalg.eigh(sym(x), UPLO=uplo)
        return w, (v * mg.tensor(c, device=x.device).to(x.dtype)) @ v.mT

    def ref(x):
        w, v = np.linalg.eigh(np_sym(x))
        return w, (v * c) @ np.swapaxes(v, -1, -2)

    check_op(fn, ref, [a], device, f32_tol=5e-5)
    check_op(lambda x: mg.linalg.eigvalsh(sym(x), UPLO=uplo), lambda x: np.linalg.eigvalsh(np_sym(x)), [a], device)


@given(data=st.data(), batch=BATCH, m=SIDE, n=SIDE, full=st.booleans())
def test_svd_svdvals(device, data, batch, m, n, full):
    a = distinct_singular(data, batch, m, n, device)
    k = min(m, n)
    c = np.arange(1.0, k + 1)

    def fn(x):
        u, s, vh = mg.linalg.svd(x, full_matrices=full)
        u, vh = u[..., :, :k], vh[..., :k, :]
        cc = mg.tensor(c, device=x.device).to(x.dtype)
        return s, (u * cc) @ vh, (u * cc) @ u.mT, (vh.mT * cc) @ vh

    def ref(x):
        u, s, vh = np.linalg.svd(x, full_matrices=False)
        return s, (u * c) @ vh, (u * c) @ np.swapaxes(u, -1, -2), (np.swapaxes(vh, -1, -2) * c) @ vh

    check_op(fn, ref, [a], device, f32_tol=5e-5)
    check_op(mg.linalg.svdvals, lambda x: np.linalg.svd(x, compute_uv=False), [a], device)


@given(data=st.data(), batch=BATCH, m=SIDE, n=SIDE)
def test_svdvals_any_matrix(device, data, batch, m, n):
    """svdvals on plain random matrices (skipping draws with nearly repeated or zero singular values,
    where finite differences of the sorted values are unreliable)."""
    a = draw_array(data, batch + (m, n), device, min_value=-2, max_value=2)
    s = np.linalg.svd(a, compute_uv=False)
    assume(s.size and s.min() > 1e-2 and (s.shape[-1] == 1 or np.diff(s, axis=-1).max() < -1e-2))
    check_op(mg.linalg.svdvals, lambda x: np.linalg.svd(x, compute_uv=False), [a], device, f32_tol=1e-4)


@given(data=st.data(), batch=BATCH, m=SIDE, n=SIDE, hermitian=st.booleans())
def test_pinv_lstsq(device, data, batch, m, n, hermitian):
    if hermitian:
        a = symmetric_invertible(data, batch, n, device)  # (no eigenvalue near 0: no rank change)
        check_op(lambda x: mg.linalg.pinv(sym(x), hermitian=True), lambda x: np.linalg.pinv(np_sym(x)), [a], device,
                 f32_tol=1e-4)
        return
    a = distinct_singular(data, batch, m, n, device)
    check_op(mg.linalg.pinv, np.linalg.pinv, [a], device, f32_tol=1e-4)
    check_op(mg.pinverse, np.linalg.pinv, [a], device, f32_tol=1e-4)
    b = draw_array(data, (m, 2), device)
    if b.shape == a.shape[:-1]:  # torch reads this B as a batch of vectors (A (2, 2, n), B (2, 2))
        check_op(lambda x, y: mg.linalg.lstsq(x, y).solution,
                 lambda x, y: (np.linalg.pinv(x) @ y[..., None])[..., 0], [a, b], device, f32_tol=1e-4)
        return
    check_op(lambda x, y: mg.linalg.lstsq(x, y).solution, lambda x, y: np.linalg.pinv(x) @ y, [a, b], device,
             f32_tol=1e-4)


@given(data=st.data(), batch=BATCH, n=SIDE, scale=st.sampled_from([0.3, 1.0, 4.0]))
def test_matrix_exp(device, data, batch, n, scale):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    a = draw_array(data, batch + (n, n), device, min_value=-1, max_value=1) * scale
    check_op(mg.linalg.matrix_exp, scipy_linalg.expm, [a], device, f32_tol=1e-4)


# ================================================================ norms
def _np_vector_norm(x, p, dims, keepdim):
    a = np.abs(x)
    if p == math.inf:
        return a.max(axis=dims, keepdims=keepdim)
    if p == -math.inf:
        return a.min(axis=dims, keepdims=keepdim)
    if p == 0:
        return (x != 0).sum(axis=dims, keepdims=keepdim).astype(x.dtype)
    return (a ** p).sum(axis=dims, keepdims=keepdim) ** (1 / p)


@given(data=st.data(), shape=st.sampled_from([(4,), (2, 3), (3, 1, 2)]),
       p=st.sampled_from([2, 1, math.inf, -math.inf, 0, 3, 0.5, -1, 1.5]), keepdim=st.booleans(),
       which=st.integers(0, 2))
def test_vector_norm(device, data, shape, p, keepdim, which):
    dims = [None, -1, (0, -1)][which] if len(shape) > 1 else [None, 0, (0,)][which]
    x = draw_array(data, shape, device, min_value=0.2, max_value=3.0, unique=True)
    x = x * np.where(np.arange(x.size).reshape(shape) % 2 == 0, 1, -1)  # both signs, no zeros, no ties in |x|
    check_op(lambda t: mg.linalg.vector_norm(t, p, dim=dims, keepdim=keepdim),
             lambda t: _np_vector_norm(t, p, None if dims is None else dims, keepdim), [x], device)


def test_vector_norm_zero_gradients():
    """Where the norm is 0 (or x_i = 0 with ord < 1) the gradient is 0, as in torch."""
    for p in (2, 3, 0.5, 1.5, -1):
        x = mg.zeros(3, dtype="float64", requires_grad=True)
        mg.linalg.vector_norm(x, p).backward()
        assert np.array_equal(x.grad.numpy(), np.zeros(3)), p
    x = mg.tensor([0.0, 2.0, -1.0], requires_grad=True)
    mg.linalg.vector_norm(x, 0.5).backward()
    assert x.grad.numpy()[0] == 0 and np.isfinite(x.grad.numpy()).all()


@given(data=st.data(), batch=BATCH, m=st.integers(2, 4), n=st.integers(2, 4),
       ord=st.sampled_from(["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf]), keepdim=st.booleans())
def test_matrix_norm(device, data, batch, m, n, ord, keepdim):
    if ord in (1, -1, math.inf, -math.inf):  # max/min of sums of |a_ij|: kinks at a_ij = 0 and at ties
        a = separated_abs_sums(data, batch, m, n, device)
    else:  # functions of the singular values: 2/-2 need the extreme ones distinct, nuc all nonzero
        a = distinct_singular(data, batch, m, n, device)
    check_op(lambda x: mg.linalg.matrix_norm(x, ord, keepdim=keepdim),
             lambda x: np.linalg.norm(x, ord, axis=(-2, -1), keepdims=keepdim), [a], device, f32_tol=5e-5)


def test_matrix_norm_other_dims_and_norm(device):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 2, 4))
    for ord in ("fro", "nuc", 2, 1, math.inf):
        check_op(lambda x: mg.linalg.matrix_norm(x, ord, dim=(2, 0)),
                 lambda x: np.linalg.norm(np.moveaxis(x, (2, 0), (-2, -1)), ord, axis=(-2, -1)), [a], device)
    check_op(lambda x: mg.linalg.norm(x), lambda x: np.sqrt((x * x).sum()), [a], device)
    check_op(lambda x: mg.linalg.norm(x, dim=1), lambda x: np.linalg.norm(x, axis=1), [a], device)
    check_op(lambda x: mg.linalg.norm(x, 1, dim=(0, 1)), lambda x: np.linalg.norm(x, 1, axis=(0, 1)), [a], device)
    check_op(lambda x: mg.linalg.norm(x[0], "nuc"), lambda x: np.linalg.norm(x[0], "nuc"), [a], device)
    check_op(lambda x: mg.linalg.norm(x[0, 0], 3), lambda x: np.linalg.norm(x[0, 0], 3), [a], device)


@given(data=st.data(), batch=BATCH, n=st.integers(2, 4), p=st.sampled_from([None, 2, -2, "fro", "nuc", 1, math.inf]))
def test_cond(device, data, batch, n, p):
    if p in (1, math.inf):  # ||A|| ||inv(A)||, both max sums of |.|: kinks at zero entries and ties
        a = diagonal_heavy(data, batch, n, device)
    else:
        a = distinct_singular(data, batch, n, n, device)
    check_op(lambda x: mg.linalg.cond(x, p), lambda x: np.linalg.cond(x, p), [a], device, f32_tol=1e-4)


def test_cond_singular_is_inf():
    a = mg.tensor([[1.0, 2.0], [2.0, 4.0]])
    assert math.isinf(mg.linalg.cond(a, 1).item())
    assert mg.linalg.cond(a).item() > 1e6


@given(data=st.data(), batch=BATCH, m=SIDE, n=SIDE, r=st.integers(0, 4), hermitian=st.booleans())
def test_matrix_rank(device, data, batch, m, n, r, hermitian):
    r = min(r, m, n)
    u = orthogonal(data, batch, m, max(r, 1), device)[..., :r]
    v = orthogonal(data, batch, n, max(r, 1), device)[..., :r]
    a = (u * spread(data, r, 0.6)) @ np.swapaxes(v, -1, -2) if r else np.zeros(batch + (m, n))
    if hermitian:
        if m != n:
            return
        a = (u * spread(data, r, 0.6)) @ np.swapaxes(u, -1, -2) if r else np.zeros(batch + (m, n))
    got = mg.linalg.matrix_rank(mg.tensor(a, device=device), hermitian=hermitian)
    assert got.dtype == np.int64
    assert np.array_equal(got.numpy(), np.broadcast_to(r, batch))
    assert np.array_equal(got.numpy(), np.linalg.matrix_rank(a, hermitian=hermitian))
    assert mg.linalg.matrix_rank(mg.tensor(a, device=device), atol=1e6).numpy().max(initial=0) == 0


# ================================================================ products and builders
@given(data=st.data(), sizes=st.lists(st.integers(1, 4), min_size=3, max_size=6), first_vec=st.booleans(),
       last_vec=st.booleans())
def test_multi_dot(device, data, sizes, first_vec, last_vec):
    shapes = [(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]
    if first_vec and len(shapes) > 1:
        shapes[0] = shapes[0][1:]
    if last_vec and len(shapes) > 1:
        shapes[-1] = shapes[-1][:1]
    arrays = [draw_array(data, s, device) for s in shapes]
    if len(arrays) < 2:
        return
    check_op(lambda *xs: mg.linalg.multi_dot(list(xs)), lambda *xs: np.linalg.multi_dot(list(xs)), arrays, device)


@given(data=st.data(), shape=st.sampled_from([(3,), (2, 4), (1, 2, 2)]), extra=st.integers(-1, 2))
def test_vander(device, data, shape, extra):
    n = max(shape[-1] + extra, 2)
    x = draw_array(data, shape, device, min_value=-2, max_value=2)
    check_op(lambda t: mg.linalg.vander(t, N=n), lambda t: t[..., None] ** np.arange(n), [x], device)
    got = mg.linalg.vander(mg.tensor([1, 2, 3], device=device))
    assert got.dtype == np.int64 and got.numpy().tolist() == [[1, 1, 1], [1, 2, 4], [1, 3, 9]]


@given(data=st.data(), shapes=st.sampled_from([((2, 3), (3,)), ((4, 1, 3), (2, 3)), ((3,), (3,))]))
def test_vecdot_cross_diagonal(device, data, shapes):
    a, b = (draw_array(data, s, device) for s in shapes)
    check_op(mg.linalg.vecdot, lambda x, y: (x * y).sum(-1), [a, b], device)
    check_op(lambda x, y: mg.linalg.vecdot(x, y, dim=-1), lambda x, y: (x * y).sum(-1), [a, b], device)
    check_op(mg.linalg.cross, lambda x, y: np.cross(x, y), [a, b], device)
    m = draw_array(data, (2, 3, 4), device)
    check_op(lambda t: mg.linalg.diagonal(t, offset=1), lambda t: np.diagonal(t, 1, -2, -1), [m], device, exact=True)


# ================================================================ det of singular matrices
def test_det_singular_gradient_is_the_cofactor_matrix():
    """rank n-1: the gradient is the (nonzero) transposed adjugate; rank <= n-2: zero."""
    a1 = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])  # rank 2
    x = mg.tensor(a1, requires_grad=True)
    mg.linalg.det(x).backward()
    cof = np.array([[np.linalg.det(np.delete(np.delete(a1, i, 0), j, 1)) * (-1) ** (i + j) for j in range(3)]
                    for i in range(3)])
    np.testing.assert_allclose(x.grad.numpy(), cof, atol=1e-12)
    assert np.abs(cof).max() > 1
    a2 = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]])  # rank 1
    x = mg.tensor(a2, requires_grad=True)
    mg.linalg.det(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), 0, atol=1e-12)
    gradcheck(mg.linalg.det, mg.tensor(a1, requires_grad=True))


# ================================================================ torch parity (float64, batched)
def _torch():
    return pytest.importorskip("torch")


def _parity(mg_fn, torch_fn, arrays, atol=1e-8, create_graph=False):
    """Values and gradients of sum(w * out) for each output, minigrad vs torch, float64."""
    t = _torch()
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    ts = [t.tensor(a, requires_grad=True) for a in arrays]
    outs, touts = mg_fn(*xs), torch_fn(*ts)
    outs = outs if isinstance(outs, tuple) else (outs,)
    touts = touts if isinstance(touts, tuple) else (touts,)
    rng = np.random.default_rng(0)
    loss, tloss = 0, 0
    for o, to in zip(outs, touts):
        np.testing.assert_allclose(o.numpy(), to.detach().numpy(), atol=atol, rtol=1e-7)
        w = rng.standard_normal(o.shape)
        loss = loss + (o * mg.tensor(w)).sum()
        tloss = tloss + (to * t.tensor(w)).sum()
    loss.backward()
    tgrads = t.autograd.grad(tloss, ts, create_graph=create_graph, allow_unused=True)
    for x, tx, tg in zip(xs, ts, tgrads):
        tg = t.zeros_like(tx) if tg is None else tg  # (torch leaves ord=0 norms out of the graph: gradient 0)
        ours = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        np.testing.assert_allclose(ours, tg.detach().numpy(), atol=atol, rtol=1e-6)


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _dom(*batch, n=3, seed=0):
    return _rand(*batch, n, n, seed=seed) * 0.3 + 2 * np.eye(n)


def _spd(*batch, n=3, seed=0):
    m = _rand(*batch, n, n, seed=seed)
    return m @ np.swapaxes(m, -1, -2) + np.eye(n)


def test_torch_parity_inverse_family():
    t = _torch()
    a = _dom(2, 1, n=3)
    _parity(mg.linalg.inv, t.linalg.inv, [a])
    _parity(mg.linalg.det, t.linalg.det, [a])
    _parity(lambda x: tuple(mg.linalg.slogdet(x)), lambda x: tuple(t.linalg.slogdet(x)), [a])
    _parity(lambda x: mg.logdet(x @ x.mT), lambda x: t.logdet(x @ x.mT), [a])
    _parity(lambda x: mg.linalg.matrix_power(x, -3), lambda x: t.linalg.matrix_power(x, -3), [a])
    b = _rand(4, 3, 2)
    _parity(mg.linalg.solve, t.linalg.solve, [a, b])
    _parity(lambda x, y: mg.linalg.solve(x, y, left=False), lambda x, y: t.linalg.solve(x, y, left=False),
            [a, _rand(4, 2, 3)])
    _parity(mg.linalg.solve, t.linalg.solve, [_dom(2, n=3), _rand(2, 3)])  # the batched-vector case
    _parity(mg.linalg.solve, t.linalg.solve, [_dom(3, n=3), _rand(3, 3)])  # (3,3,3) with (3,3): vectors too
    for upper in (True, False):
        for left in (True, False):
            for unit in (True, False):
                _parity(lambda x, y: mg.linalg.solve_triangular(x, y, upper=upper, left=left, unitriangular=unit),
                        lambda x, y: t.linalg.solve_triangular(x, y, upper=upper, left=left, unitriangular=unit),
                        [_dom(2, n=3), _rand(3, 2) if left else _rand(2, 3)])


def test_torch_parity_det_singular():
    """torch's exact rule for singular A (the SVD cofactor formula) runs when it records the backward
    (create_graph=True); its first-order shortcut solves with det(A) = 0 on the right-hand side and
    returns 0 for an exactly singular A, which is not the derivative (nearby matrices give the cofactor)."""
    t = _torch()
    for a in ([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]], [[1.0, 2.0], [2.0, 4.0]],
              [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]]):
        _parity(mg.linalg.det, t.linalg.det, [np.array(a)], atol=1e-6, create_graph=True)


def test_torch_parity_decompositions():
    t = _torch()
    a = _spd(2, n=4)
    for upper in (False, True):
        _parity(lambda x: mg.linalg.cholesky(x, upper=upper), lambda x: t.linalg.cholesky(x, upper=upper), [a])
    for shape in ((2, 4, 3), (3, 3), (2, 3, 5)):
        _parity(lambda x: tuple(mg.linalg.qr(x)), lambda x: tuple(t.linalg.qr(x)), [_rand(*shape)])
    _parity(lambda x: tuple(mg.linalg.qr(x, mode="complete")), lambda x: tuple(t.linalg.qr(x, mode="complete")),
            [_rand(2, 3, 5)])
    s = _rand(2, 4, 4)
    s = s + np.swapaxes(s, -1, -2)
    sign_free = lambda v: v * v  # noqa: E731  (each column's sign cancels)
    for uplo in ("L", "U"):
        _parity(lambda x: (mg.linalg.eigh(x, UPLO=uplo)[0], sign_free(mg.linalg.eigh(x, UPLO=uplo)[1])),
                lambda x: (t.linalg.eigh(x, UPLO=uplo)[0], sign_free(t.linalg.eigh(x, UPLO=uplo)[1])), [s])
        _parity(lambda x: mg.linalg.eigvalsh(x, UPLO=uplo), lambda x: t.linalg.eigvalsh(x, UPLO=uplo), [s])
    for shape in ((2, 4, 3), (3, 3), (2, 3, 5)):
        for full in (False, True):
            def ours(x):
                u, sv, vh = mg.linalg.svd(x, full_matrices=full)
                k = sv.shape[-1]
                return sv, u[..., :, :k] * vh[..., :k, :1].mT, sign_free(u[..., :, :k]), sign_free(vh[..., :k, :])

            def theirs(x):
                u, sv, vh = t.linalg.svd(x, full_matrices=full)
                k = sv.shape[-1]
                return sv, u[..., :, :k] * vh[..., :k, :1].mT, sign_free(u[..., :, :k]), sign_free(vh[..., :k, :])

            _parity(ours, theirs, [_rand(*shape)], atol=1e-7)
        _parity(mg.linalg.svdvals, t.linalg.svdvals, [_rand(*shape)])


def test_torch_parity_pinv_lstsq_exp_norms():
    t = _torch()
    for shape in ((2, 4, 3), (3, 5)):
        a = _rand(*shape)
        _parity(mg.linalg.pinv, t.linalg.pinv, [a], atol=1e-7)
        _parity(lambda x: mg.pinverse(x), lambda x: t.pinverse(x), [a], atol=1e-7)
    s = _spd(2, n=3)
    _parity(lambda x: mg.linalg.pinv(x, hermitian=True), lambda x: t.linalg.pinv(x, hermitian=True), [s], atol=1e-7)
    a, b = _rand(2, 5, 3), _rand(2, 5, 2)
    _parity(lambda x, y: mg.linalg.lstsq(x, y).solution, lambda x, y: t.linalg.lstsq(x, y).solution, [a, b])
    _parity(lambda x, y: mg.linalg.lstsq(x, y).solution, lambda x, y: t.linalg.lstsq(x, y).solution,
            [_rand(5, 3), _rand(5)])
    _parity(lambda x, y: mg.linalg.lstsq(x, y, driver="gelsd").residuals,
            lambda x, y: t.linalg.lstsq(x, y, driver="gelsd").residuals, [a, b])
    for driver in ("gelsy", "gelsd", "gelss", "gels"):
        ours = mg.linalg.lstsq(mg.tensor(a), mg.tensor(b), driver=driver)
        theirs = t.linalg.lstsq(t.tensor(a), t.tensor(b), driver=driver)
        for f in ("solution", "residuals", "rank", "singular_values"):
            o, th = getattr(ours, f), getattr(theirs, f)
            assert o.shape == tuple(th.shape), (driver, f)
            np.testing.assert_allclose(o.numpy(), th.numpy(), atol=1e-10, err_msg=f"{driver} {f}")
    for scale in (0.1, 1.0, 6.0):
        _parity(mg.linalg.matrix_exp, t.linalg.matrix_exp, [_rand(2, 3, 3) * scale], atol=1e-7 * scale ** 2 * 50)
    _parity(mg.matrix_exp, t.matrix_exp, [_rand(3, 3)])
    x = _rand(2, 3, 4)
    for p in (2, 1, math.inf, -math.inf, 0, 3, 0.5, -1.5):
        _parity(lambda v: mg.linalg.vector_norm(v, p, dim=(0, 2)), lambda v: t.linalg.vector_norm(v, p, dim=(0, 2)),
                [x])
    for ord in ("fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf):
        _parity(lambda v: mg.linalg.matrix_norm(v, ord), lambda v: t.linalg.matrix_norm(v, ord), [x])
        _parity(lambda v: mg.linalg.norm(v[0], ord), lambda v: t.linalg.norm(v[0], ord), [x])
    d = _dom(2, n=3)
    for p in (None, 2, -2):
        _parity(lambda v: mg.linalg.cond(v, p), lambda v: t.linalg.cond(v, p), [d], atol=1e-7)
    for p in ("fro", "nuc", 1, -1, math.inf, -math.inf):
        # torch.linalg.cond cannot backpropagate for these p (its backward trips over an in-place write
        # in torch 2.13), so the gradient is checked against the same definition written out in torch
        np.testing.assert_allclose(mg.linalg.cond(mg.tensor(d), p).numpy(), t.linalg.cond(t.tensor(d), p).numpy())
        _parity(lambda v: mg.linalg.cond(v, p),
                lambda v: t.linalg.matrix_norm(v, p) * t.linalg.matrix_norm(t.linalg.inv(v), p), [d], atol=1e-7)


def test_torch_parity_builders():
    t = _torch()
    _parity(lambda *xs: mg.linalg.multi_dot(list(xs)), lambda *xs: t.linalg.multi_dot(list(xs)),
            [_rand(3), _rand(3, 5), _rand(5, 2), _rand(2)])
    _parity(lambda x: mg.linalg.vander(x, N=4), lambda x: t.linalg.vander(x, N=4), [_rand(2, 3)])
    _parity(mg.linalg.vecdot, t.linalg.vecdot, [_rand(4, 1, 3), _rand(2, 3)])
    _parity(mg.linalg.cross, t.linalg.cross, [_rand(4, 3), _rand(1, 3)])
    _parity(lambda x: mg.linalg.diagonal(x, offset=-1), lambda x: t.linalg.diagonal(x, offset=-1), [_rand(2, 3, 4)])
    a = _rand(2, 3, 3)
    assert np.array_equal(mg.linalg.matrix_rank(mg.tensor(a)).numpy(), t.linalg.matrix_rank(t.tensor(a)).numpy())
    r1 = np.outer([1.0, 2, 3], [1.0, 0, 1])
    assert mg.linalg.matrix_rank(mg.tensor(r1)).item() == t.linalg.matrix_rank(t.tensor(r1)).item() == 1


@pytest.mark.filterwarnings("ignore:torch.(qr|cholesky|svd) is deprecated")
def test_torch_parity_ex_and_legacy():
    t = _torch()
    sing = np.array([[1.0, 2.0], [2.0, 4.0]])
    batch = np.stack([np.eye(2), sing])
    assert mg.linalg.inv_ex(mg.tensor(batch)).info.numpy().tolist()[0] == 0
    assert mg.linalg.inv_ex(mg.tensor(batch)).info.numpy()[1] > 0
    assert mg.linalg.inv_ex(mg.tensor(batch)).info.dtype == np.int32
    not_pd = np.array([[1.0, 2, 0], [2, 1, 0], [0, 0, 1]])
    ours, theirs = mg.linalg.cholesky_ex(mg.tensor(not_pd)), t.linalg.cholesky_ex(t.tensor(not_pd))
    assert ours.info.item() == theirs.info.item() == 2 and ours.info.dtype == np.int32
    ok = mg.linalg.cholesky_ex(mg.tensor(_spd(n=3)))
    assert ok.info.item() == 0
    np.testing.assert_allclose(ok.L.numpy(), t.linalg.cholesky(t.tensor(_spd(n=3))).numpy(), atol=1e-12)
    a = _rand(4, 3)
    pair = lambda r: (r.S, r.U * r.V[..., :1, :])  # noqa: E731  (u_i v_i^T's sign cancels)
    _parity(lambda x: pair(x.svd()), lambda x: pair(x.svd()), [a])
    _parity(lambda x: tuple(x.qr()), lambda x: tuple(x.qr()), [a])
    _parity(lambda x: x.svd(compute_uv=False).S, lambda x: x.svd(compute_uv=False).S, [a])
    assert mg.tensor(a).svd(some=False).U.shape == tuple(t.tensor(a).svd(some=False).U.shape)
    assert mg.tensor(a).svd(compute_uv=False).V.shape == tuple(t.tensor(a).svd(compute_uv=False).V.shape)
    s = _spd(n=3)
    _parity(lambda x: x.cholesky(), lambda x: x.cholesky(), [s])
    _parity(lambda x: mg.cholesky(x, upper=True), lambda x: t.cholesky(x, upper=True), [s])
    _parity(lambda x: (x.inverse(), x.det(), x.logdet(), x.slogdet().logabsdet, x.pinverse(), x.matrix_exp()),
            lambda x: (x.inverse(), x.det(), x.logdet(), x.slogdet().logabsdet, x.pinverse(), x.matrix_exp()), [s])
    _parity(lambda x: (mg.inverse(x), mg.det(x), mg.slogdet(x).sign), lambda x: (t.inverse(x), t.det(x),
                                                                                  t.slogdet(x).sign), [s])
    _parity(lambda x: mg.svd(x).S, lambda x: t.svd(x).S, [a])
    _parity(lambda x: mg.qr(x).R, lambda x: t.qr(x).R, [a])


# ================================================================ float32, empty and edge cases
def test_float32_kept_and_empty():
    a = mg.tensor(_dom(2, n=3).astype(np.float32))
    for out in (mg.linalg.inv(a), mg.linalg.det(a), mg.linalg.cholesky(a @ a.mT), mg.linalg.matrix_exp(a),
                mg.linalg.pinv(a), mg.linalg.svdvals(a), mg.linalg.eigvalsh(a), mg.linalg.qr(a).Q,
                mg.linalg.solve(a, a), mg.linalg.solve_triangular(a, a, upper=True), mg.linalg.lstsq(a, a).solution,
                mg.linalg.matrix_norm(a, "nuc"), mg.linalg.vector_norm(a, 3), mg.linalg.cond(a),
                mg.linalg.matrix_power(a, -2), mg.linalg.slogdet(a).logabsdet):
        assert out.dtype == np.float32
    e = mg.zeros(2, 0, 0)
    assert mg.linalg.inv(e).shape == (2, 0, 0)
    assert mg.linalg.det(e).numpy().tolist() == [1.0, 1.0]
    assert mg.linalg.matrix_exp(e).shape == (2, 0, 0)
    assert mg.linalg.pinv(mg.zeros(0, 3)).shape == (3, 0)


def test_pinv_drops_small_singular_values():
    t = _torch()
    rank1 = np.outer([1.0, 2.0, 3.0], [1.0, -1.0])
    q = np.linalg.qr(_rand(3, 2))[0]
    small = (q * [2.0, 1e-4]) @ np.array([[0.6, 0.8], [-0.8, 0.6]])  # singular values 2 and 1e-4
    cases = [(rank1, {}, 1), (small, {}, 2), (small, {"atol": 1e-3}, 1), (small, {"rtol": 1e-3}, 1),
             (small, {"rtol": 1e-6}, 2), (small, {"atol": mg.tensor(1e-3, dtype="float64")}, 1)]
    for a, kw, rank in cases:
        tkw = {k: (t.tensor(v.item()) if isinstance(v, mg.Tensor) else v) for k, v in kw.items()}
        np.testing.assert_allclose(mg.linalg.pinv(mg.tensor(a), **kw).numpy(),
                                   t.linalg.pinv(t.tensor(a), **tkw).numpy(), rtol=1e-6, atol=1e-9, err_msg=str(kw))
        assert mg.linalg.matrix_rank(mg.tensor(a), **kw).item() == t.linalg.matrix_rank(t.tensor(a), **tkw).item() \
            == rank


def test_eigh_repeated_eigenvalues_only_values_are_fine():
    """The eigenvalue gradient is fine for repeated eigenvalues; only the vectors' one is ill-defined."""
    x = mg.eye(3, dtype="float64", requires_grad=True)
    mg.linalg.eigvalsh(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.eye(3), atol=1e-12)
    x = mg.eye(3, dtype="float64", requires_grad=True)
    mg.linalg.eigh(x).eigenvalues.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.eye(3), atol=1e-12)
    x = mg.eye(3, dtype="float64", requires_grad=True)
    mg.linalg.svd(x).S.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.eye(3), atol=1e-12)


# ================================================================ errors
def test_errors_name_the_op():
    sq = mg.eye(3)
    with pytest.raises(ValueError, match=r"linalg\.inv: A must be batches of square matrices"):
        mg.linalg.inv(mg.ones(2, 3))
    with pytest.raises(ValueError, match=r"linalg\.det: the input tensor A must have at least 2 dimensions"):
        mg.linalg.det(mg.ones(3))
    with pytest.raises(TypeError, match=r"linalg\.inv: expected a floating-point tensor"):
        mg.linalg.inv(mg.tensor([[1, 0], [0, 1]]))
    with pytest.raises(TypeError, match=r"linalg\.inv: low precision"):
        mg.linalg.inv(sq.half())
    sing = mg.tensor([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(mg.linalg.LinAlgError, match=r"linalg\.inv: .*singular"):
        mg.linalg.inv(sing)
    with pytest.raises(mg.linalg.LinAlgError, match=r"linalg\.inv: \(Batch element 1\)"):
        mg.linalg.inv(mg.stack([mg.eye(2), sing]))
    assert issubclass(mg.linalg.LinAlgError, RuntimeError)
    with pytest.raises(RuntimeError, match=r"linalg\.solve: The solver failed because the input matrix is singular"):
        mg.linalg.solve(sing, mg.ones(2))
    with pytest.raises(mg.linalg.LinAlgError, match=r"singular"):
        mg.linalg.matrix_power(sing, -1)
    with pytest.raises(mg.linalg.LinAlgError, match=r"linalg\.cholesky: .*not positive-definite \(the leading "
                                                    r"minor of order 2"):
        mg.linalg.cholesky(mg.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(mg.linalg.LinAlgError, match=r"\(Batch element 1\)"):
        mg.linalg.cholesky(mg.stack([mg.eye(2), mg.tensor([[1.0, 2.0], [2.0, 1.0]])]))
    with pytest.raises(ValueError, match=r"linalg\.solve: incompatible shapes"):
        mg.linalg.solve(sq, mg.ones(4, 2))
    with pytest.raises(TypeError, match=r"linalg\.solve: expected A and B to have the same dtype"):
        mg.linalg.solve(sq, mg.ones(3, 2, dtype="float64"))
    with pytest.raises(ValueError, match=r"linalg\.solve: the batch dimensions"):
        mg.linalg.solve(mg.ones(2, 3, 3), mg.ones(4, 3, 1))
    with pytest.raises(ValueError, match=r"linalg\.solve_triangular: the input tensor B must have at least 2"):
        mg.linalg.solve_triangular(sq, mg.ones(3), upper=True)
    with pytest.raises(TypeError):
        mg.linalg.solve_triangular(sq, mg.ones(3, 1))  # upper is required, as in torch
    with pytest.raises(ValueError, match=r"linalg\.qr: .*unrecognized mode"):
        mg.linalg.qr(sq, mode="full")
    with pytest.raises(ValueError, match=r"linalg\.eigh: expected UPLO"):
        mg.linalg.eigh(sq, UPLO="X")
    with pytest.raises(TypeError, match=r"linalg\.vector_norm: expected a floating-point"):
        mg.linalg.vector_norm(mg.arange(3))
    with pytest.raises(TypeError, match=r"linalg\.vector_norm: ord must be a number"):
        mg.linalg.vector_norm(sq, "fro")
    with pytest.raises(ValueError, match=r"linalg\.matrix_norm: order 3 not supported"):
        mg.linalg.matrix_norm(sq, 3)
    with pytest.raises(ValueError, match=r"linalg\.matrix_norm: the input tensor A must have at least 2"):
        mg.linalg.norm(mg.ones(3), "fro")
    with pytest.raises(ValueError, match=r"linalg\.norm: if dim is not specified but ord is"):
        mg.linalg.norm(mg.ones(2, 3, 3), 2)
    with pytest.raises(ValueError, match=r"linalg\.cond\(ord=1\): A must be batches of square"):
        mg.linalg.cond(mg.ones(3, 4), 1)
    with pytest.raises(ValueError, match=r"linalg\.lstsq: parameter `driver`"):
        mg.linalg.lstsq(sq, sq, driver="foo")
    with pytest.raises(ValueError, match=r"linalg\.multi_dot: expected at least 2 tensors"):
        mg.linalg.multi_dot([sq])
    with pytest.raises(ValueError, match=r"linalg\.multi_dot: the first tensor must be 1-D or 2-D"):
        mg.linalg.multi_dot([mg.ones(2, 3, 3), sq])
    with pytest.raises(ValueError, match=r"linalg\.vander: N must be greater than 1"):
        mg.linalg.vander(mg.ones(3), N=1)
    with pytest.raises(ValueError, match=r"cross: .*size 3"):
        mg.linalg.cross(mg.ones(3, 2), mg.ones(3, 2))
    with pytest.raises(NotImplementedError, match=r"linalg\.eig: complex"):
        mg.linalg.eig(sq)
    with pytest.raises(NotImplementedError, match=r"linalg\.eigvals"):
        mg.linalg.eigvals(sq)


def test_gradient_refusals_as_torch():
    x = mg.randn(4, 3, dtype="float64", requires_grad=True)
    with pytest.raises(RuntimeError, match=r"linalg\.qr: the derivative of linalg\.qr depends on Q"):
        mg.linalg.qr(x, mode="r").R.sum().backward()
    x = mg.randn(4, 3, dtype="float64", requires_grad=True)
    with pytest.raises(RuntimeError, match=r"not differentiable when mode='complete' and nrows > ncols"):
        mg.linalg.qr(x, mode="complete").Q.sum().backward()
    x = mg.tensor([[1.0, 2.0], [2.0, 4.0]], requires_grad=True)
    with pytest.raises(mg.linalg.LinAlgError, match=r"linalg\.slogdet \(backward\)"):
        mg.linalg.slogdet(x).logabsdet.backward()
    # qr mode='r' returns an empty Q, as torch
    assert mg.linalg.qr(mg.ones(3, 2), mode="r").Q.shape == (0,)
