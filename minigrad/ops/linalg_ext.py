"""torch.linalg: inverses, determinants, solves, decompositions and matrix functions, each with
its backward rule derived by matrix calculus (the public names live in `minigrad/linalg.py`).

How the rules are found. For a scalar loss L and an op Y = f(A), backward turns the
cotangent G = dL/dY into dL/dA. Write the differential dY in terms of dA, then move dA out
of the trace: dL = <G, dY> = tr(G^T dY) = <gA, dA>. Three identities do most of the work:

    d inv(A)      = -inv(A) dA inv(A)                 (differentiate A inv(A) = I)
    d det(A)      = det(A) tr(inv(A) dA)              (Jacobi's formula)
    d log|det A|  = tr(inv(A) dA)

and <X, B dA C> = <B^T X C^T, dA> turns each one into a gradient, e.g. gA = -Y^T G Y^T for
Y = inv(A). The decompositions (Cholesky, QR, eigh, SVD) follow the same recipe with one
extra step: the factors are constrained (triangular, orthogonal), and that constraint
decides which part of the differential is free.

Every op works on batches: the last two dims are the matrix, leading dims are a batch
(NumPy/CuPy `linalg` broadcasts over them). float32 stays float32. All array calls go
through `xp.linalg` of the arrays, so CuPy runs the same code; what CuPy's linalg lacks
(triangular solves, the `upper=` keyword of cholesky, raising on singular input without
`cupyx.errstate`) is written here from what both have. Numerical failure (a singular
matrix, a matrix that is not positive-definite) raises `LinAlgError`, a RuntimeError as
torch's `torch.linalg.LinAlgError`.
"""
from __future__ import annotations

import collections
import math
import numbers

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import check_float, describe
from .. import amp as _amp

get_xp = _B.get_array_module
np = _B.np  # dtypes, errstate and shape bookkeeping only

__all__ = [
    "LinAlgError", "Inv", "Det", "Slogdet", "Solve", "SolveTriangular", "Cholesky", "QR", "Eigh", "Eigvalsh",
    "SVD", "Svdvals", "Pinv", "MatrixExp", "VectorNorm",
    "inv", "inv_ex", "det", "slogdet", "logdet", "solve", "solve_triangular", "cholesky", "cholesky_ex", "qr",
    "eigh", "eigvalsh", "svd", "svdvals", "pinv", "lstsq", "matrix_exp", "vector_norm", "matrix_norm", "norm",
    "cond", "matrix_rank", "multi_dot", "vander", "vecdot",
    "inverse", "pinverse", "svd_legacy", "qr_legacy", "cholesky_legacy",
]


class LinAlgError(RuntimeError):
    """A matrix that the op cannot handle numerically: singular (inv, solve) or not positive-definite
    (cholesky). A RuntimeError subclass, as torch.linalg.LinAlgError."""


# namedtuples with torch's field names (torch.return_types.linalg_*)
SlogdetResult = collections.namedtuple("SlogdetResult", ["sign", "logabsdet"])
InvExResult = collections.namedtuple("InvExResult", ["inverse", "info"])
CholeskyExResult = collections.namedtuple("CholeskyExResult", ["L", "info"])
QRResult = collections.namedtuple("QRResult", ["Q", "R"])
EighResult = collections.namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = collections.namedtuple("SVDResult", ["U", "S", "Vh"])
LegacySVDResult = collections.namedtuple("LegacySVDResult", ["U", "S", "V"])  # torch.svd: V, not Vh
LstsqResult = collections.namedtuple("LstsqResult", ["solution", "residuals", "rank", "singular_values"])


# ================================================================ array helpers
def _mT(a):
    """The transpose of every matrix in a batch (last two axes)."""
    return a.swapaxes(-1, -2)


def _eye_like(a, n=None):
    xp = get_xp(a)
    return xp.eye(a.shape[-1] if n is None else n, dtype=a.dtype)


def _finite(xp, a):
    return bool(xp.isfinite(a).all())


def _first_failure(a, fn):
    """The flat batch index of the first matrix in `a` for which `fn` raises or returns non-finite
    values from finite input (only called after a batched call failed, to name the culprit)."""
    xp = get_xp(a)
    flat = a.reshape((-1,) + a.shape[-2:])
    for k in range(flat.shape[0]):
        try:
            r = fn(flat[k])
        except np.linalg.LinAlgError:
            return k
        if not _finite(xp, r) and _finite(xp, flat[k]):
            return k
    return None


def _batch_note(a, k):
    """torch's '(Batch element k): ' prefix when the input is a batch."""
    return f"(Batch element {k}): " if a.ndim > 2 and k is not None else ""


def _checked(op, a, fn, what):
    """fn(a) (a batched xp.linalg call returning one array); LinAlgError naming the op and the failing
    batch element when it fails: NumPy raises, CuPy (outside cupyx.errstate) returns NaN/Inf, so both
    are checked."""
    xp = get_xp(a)
    try:
        out = fn(a)
    except np.linalg.LinAlgError:
        out = None
    if out is None or (not _finite(xp, out) and _finite(xp, a)):
        raise LinAlgError(f"{op}: {_batch_note(a, _first_failure(a, fn))}{what}")
    return out


def _safe_inv(op, a):
    """inv(a), or LinAlgError naming `op` for an exactly singular matrix."""
    return _checked(op, a, get_xp(a).linalg.inv,
                    "the inversion could not be completed because the input matrix is singular.")


def _solve(a, b):
    """a^{-1} b for well-posed internal solves (backward passes)."""
    return get_xp(a).linalg.solve(a, b)


def _copyltu(m):
    """The symmetric matrix whose lower triangle is m's: tril(m, -1) + tril(m, -1)^T + diag(m)."""
    xp = get_xp(m)
    low = xp.tril(m, -1)
    return low + _mT(low) + m * _eye_like(m)


def _off_diagonal_ratio(num, den):
    """num / den off the diagonal, 0 on it; 0 wherever num is 0 (a term that did not reach the loss).

    den = 0 off the diagonal (a repeated eigen/singular value) with num != 0 gives inf/NaN, as in
    torch: the gradient of the vectors is genuinely undefined there.
    """
    xp = get_xp(num)
    eye = _eye_like(num).astype(bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num / xp.where(eye, 1, den)
    return xp.where(eye | (num == 0), 0, r)


def _substitute(t, b, upper, unit):
    """t^{-1} b for triangular t by forward (lower) or back (upper) substitution, batched.

    Row i of the solution: x_i = (b_i - sum_{j on the solved side} t_ij x_j) / t_ii. n Python
    steps, each one vectorized over the batch and the columns of b; a zero on the diagonal gives
    inf/NaN, as LAPACK's trsm (torch) does, instead of an error.
    """
    xp = get_xp(t)
    shape = np.broadcast_shapes(t.shape[:-2], b.shape[:-2])
    t = xp.broadcast_to(t, shape + t.shape[-2:])
    b = xp.broadcast_to(b, shape + b.shape[-2:])
    n = t.shape[-1]
    x = xp.zeros(b.shape, dtype=b.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in (range(n - 1, -1, -1) if upper else range(n)):
            done = slice(i + 1, n) if upper else slice(0, i)
            r = b[..., i, :] - (t[..., i:i + 1, done] @ x[..., done, :])[..., 0, :]
            x[..., i, :] = r if unit else r / t[..., i, i][..., None]
    return x


def _triangle(a, upper, unit):
    """The triangle of a that a triangular solve reads (its diagonal set to 1 when unit)."""
    xp = get_xp(a)
    t = xp.triu(a) if upper else xp.tril(a)
    if unit:
        eye = _eye_like(a)
        t = t * (1 - eye) + eye
    return t


def _prod_others(s):
    """p_i = prod_{j != i} s_j along the last axis, without dividing (s_i may be 0)."""
    xp = get_xp(s)
    ones = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
    left = xp.concatenate([ones, xp.cumprod(s[..., :-1], axis=-1)], axis=-1)
    right = xp.flip(xp.cumprod(xp.flip(s, axis=-1), axis=-1), axis=-1)
    right = xp.concatenate([right[..., 1:], ones], axis=-1)
    return left * right


def _cofactor(a, d):
    """cof(A) = d det(A)/dA: det(A) inv(A)^T when A is invertible; for singular A the same matrix
    (the transposed adjugate) from the SVD A = U diag(s) Vh: det(U) det(Vh) U diag(prod_{j != i} s_j) Vh
    (torch's formula): nonzero at rank n-1, zero at rank <= n-2."""
    xp = get_xp(a)
    if a.shape[-1] == 0:
        return xp.zeros_like(a)
    if bool((d != 0).all()) and _finite(xp, d):
        try:
            return d[..., None, None] * _mT(xp.linalg.inv(a))
        except np.linalg.LinAlgError:
            pass
    u, s, vh = xp.linalg.svd(a)
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    return sign[..., None, None] * ((u * _prod_others(s)[..., None, :]) @ vh)


def _default_rtol(a, atol_given):
    """torch's default rtol for pinv/matrix_rank/lstsq: eps * max(m, n) when no positive atol is given, else 0."""
    return 0.0 if atol_given else float(np.finfo(a.dtype).eps) * max(a.shape[-2:])


# ================================================================ Functions
class Inv(Function):
    """Y = inv(A);  d inv(A) = -Y dA Y, so gA = -Y^T G Y^T"""

    saves_output = True

    @staticmethod
    def forward(ctx, a, op="linalg.inv", check=True):
        xp = get_xp(a)
        if check:
            y = _safe_inv(op, a)
        else:  # inv_ex: a singular matrix gives NaN and info > 0 instead of an error
            try:
                y = xp.linalg.inv(a)
            except np.linalg.LinAlgError:
                y = xp.stack([_inv_or_nan(m) for m in a.reshape((-1,) + a.shape[-2:])]).reshape(a.shape)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        yt = _mT(y)
        return -(yt @ g @ yt)


def _inv_or_nan(m):
    xp = get_xp(m)
    try:
        return xp.linalg.inv(m)
    except np.linalg.LinAlgError:
        return xp.full(m.shape, math.nan, dtype=m.dtype)


class Det(Function):
    """y = det(A);  dy = det(A) tr(inv(A) dA) (Jacobi), so gA = g cof(A) = g det(A) inv(A)^T

    At a singular A the cofactor matrix cof(A) (the transposed adjugate) is still the exact
    derivative: it is computed from the SVD there (nonzero where rank(A) = n-1, zero below).
    """

    saves_output = True

    @staticmethod
    def forward(ctx, a):
        d = get_xp(a).linalg.det(a)
        ctx.save_for_backward(a, d)
        return d

    @staticmethod
    def backward(ctx, g):
        a, d = ctx.saved
        return g[..., None, None] * _cofactor(a, d)


class Slogdet(Function):
    """(sign, log|det A|);  d log|det A| = tr(inv(A) dA), so gA = g inv(A)^T (sign: no gradient)

    A singular A has log|det A| = -inf and no gradient: backward raises LinAlgError there.
    """

    @staticmethod
    def forward(ctx, a):
        sign, logabs = get_xp(a).linalg.slogdet(a)
        ctx.save_for_backward(a)
        return sign, logabs

    @staticmethod
    def backward(ctx, g_sign, g_logabs):
        (a,) = ctx.saved
        inv_a = _safe_inv("linalg.slogdet (backward)", a)
        return g_logabs[..., None, None] * _mT(inv_a)


class Solve(Function):
    """X = A^{-1} B (batch dims broadcast);  dX = A^{-1} (dB - dA X), so gB = A^{-T} G, gA = -gB X^T"""

    saves_output = True

    @staticmethod
    def forward(ctx, a, b, op="linalg.solve"):
        xp = get_xp(a)
        shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = xp.broadcast_to(a, shape + a.shape[-2:])
        b = xp.broadcast_to(b, shape + b.shape[-2:])
        try:
            x = xp.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            x = None
        if x is None or (not _finite(xp, x) and _finite(xp, a) and _finite(xp, b)):  # A is singular
            k = _first_failure(a, xp.linalg.inv)
            raise LinAlgError(f"{op}: {_batch_note(a, k)}The solver failed because the input matrix is singular.")
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved
        gb = _solve(_mT(a), g)  # (the engine sums broadcast batch dims back to each input's shape)
        ga = -(gb @ _mT(x)) if ctx.needs_input_grad[0] else None
        return ga, gb


class SolveTriangular(Function):
    """X = T^{-1} B for T = the upper/lower triangle of A (unit diagonal if unitriangular);
    gB = T^{-T} G (a triangular solve with the other triangle), gA = -gB X^T kept on T's triangle"""

    saves_output = True

    @staticmethod
    def forward(ctx, a, b, upper, unit):
        ctx.upper, ctx.unit = upper, unit
        x = _substitute(_triangle(a, upper, unit), b, upper, unit)
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved
        t = _triangle(a, ctx.upper, ctx.unit)
        gb = _substitute(_mT(t), g, not ctx.upper, ctx.unit)
        ga = None
        if ctx.needs_input_grad[0]:
            xp = get_xp(g)
            full = -(gb @ _mT(x))
            ga = xp.triu(full, 1 if ctx.unit else 0) if ctx.upper else xp.tril(full, -1 if ctx.unit else 0)
        return ga, gb


class Cholesky(Function):
    """L = chol(A), A = L L^T;  with P = tril(L^T G): gA = L^{-T} S L^{-1}, S = (P + tril(P, -1)^T) / 2

    From dA = dL L^T + L dL^T: L^{-1} dA L^{-T} = L^{-1} dL + (L^{-1} dL)^T, and L^{-1} dL is lower
    triangular, so it is that symmetric matrix's lower triangle with half its diagonal. Moving the
    masks onto G gives S; gA is symmetric (only A's lower triangle is read, as in torch, but the
    gradient treats A as the symmetric matrix it stands for).
    """

    saves_output = True

    @staticmethod
    def forward(ctx, a, op="linalg.cholesky", check=True):
        xp = get_xp(a)
        if check:
            L = _cholesky_checked(op, a)
        else:
            try:
                L = xp.linalg.cholesky(a)
            except np.linalg.LinAlgError:
                L = xp.stack([_chol_or_nan(m) for m in a.reshape((-1,) + a.shape[-2:])]).reshape(a.shape)
        ctx.save_for_backward(L)
        return L

    @staticmethod
    def backward(ctx, g):
        (L,) = ctx.saved
        xp = get_xp(g)
        p = xp.tril(_mT(L) @ g)
        s = 0.5 * (p + _mT(xp.tril(p, -1)))
        y = _solve(_mT(L), s)  # L^{-T} S
        return _mT(_solve(_mT(L), _mT(y)))  # (L^{-T} S) L^{-1} = (L^{-T} (L^{-T} S)^T)^T


def _chol_or_nan(m):
    xp = get_xp(m)
    try:
        r = xp.linalg.cholesky(m)
        if _finite(xp, r) or not _finite(xp, m):
            return r
    except np.linalg.LinAlgError:
        pass
    return xp.full(m.shape, math.nan, dtype=m.dtype)


def _pd_minor(m):
    """The order of the first leading minor of m that is not positive-definite (LAPACK potrf's info)."""
    xp = get_xp(m)
    for k in range(1, m.shape[-1] + 1):
        r = _chol_or_nan(m[:k, :k])
        if not _finite(xp, r):
            return k
    return 0


def _cholesky_checked(op, a):
    xp = get_xp(a)
    try:
        L = xp.linalg.cholesky(a)
        if _finite(xp, L) or not _finite(xp, a):
            return L
    except np.linalg.LinAlgError:
        pass
    k = _first_failure(a, xp.linalg.cholesky)
    flat = a.reshape((-1,) + a.shape[-2:])
    order = _pd_minor(flat[k if k is not None else 0])
    raise LinAlgError(f"{op}: {_batch_note(a, k)}The factorization could not be completed because the input is "
                      f"not positive-definite (the leading minor of order {order} is not positive-definite).")


def _qr_backward_tall(q, r, gq, gr):
    """gA for A = QR with m >= n (Q: m x n orthonormal columns, R: n x n upper triangular):

    M = R gR^T - gQ^T Q;  gA = (gQ + Q copyltu(M)) R^{-T}
    (from dR R^{-1} upper triangular and Q^T dQ skew-symmetric; copyltu(M) mirrors M's lower
    triangle onto the upper one.)
    """
    m = r @ _mT(gr) - _mT(gq) @ q
    b = gq + q @ _copyltu(m)
    return _mT(_solve(r, _mT(b)))  # b R^{-T}, as R^{-1} b^T transposed


class QR(Function):
    """A = QR;  gA = (gQ + Q copyltu(R gR^T - gQ^T Q)) R^{-T} for m >= n

    For m < n, A = [X | Y] and R = [U | V] with X = QU square, Y = QV: gY = Q gV, and X takes the
    square rule with gQ + Y gV^T in place of gQ. mode='complete' with m > n has no gradient (the
    extra columns of Q are not determined by A), nor has mode='r' (Q is not returned): both raise.
    """

    @staticmethod
    def forward(ctx, a, mode):
        xp = get_xp(a)
        ctx.mode = mode
        if mode == "r":
            r = xp.linalg.qr(a, mode="r")
            return xp.zeros((0,), dtype=a.dtype), r
        q, r = xp.linalg.qr(a, mode=mode)
        ctx.save_for_backward(a, q, r)
        return q, r

    @staticmethod
    def backward(ctx, gq, gr):
        if ctx.mode == "r":
            raise RuntimeError("linalg.qr: the derivative of linalg.qr depends on Q, which is not computed when "
                               "mode='r'. Use linalg.qr(A, mode='reduced') to differentiate through linalg.qr.")
        a, q, r = ctx.saved
        m, n = a.shape[-2:]
        if m >= n:
            if ctx.mode == "complete" and m > n:
                raise RuntimeError("linalg.qr: the QR decomposition is not differentiable when mode='complete' "
                                   "and nrows > ncols.")
            return _qr_backward_tall(q, r, gq, gr)
        xp = get_xp(gq)
        u, y = r[..., :, :m], a[..., :, m:]
        gu, gv = gr[..., :, :m], gr[..., :, m:]
        gx = _qr_backward_tall(q, u, gq + y @ _mT(gv), gu)
        return xp.concatenate([gx, q @ gv], axis=-1)


class Eigh(Function):
    """A = V diag(L) V^T (symmetric A);  gA = V (diag(gL) + skew(V^T gV)/2 / E) V^T, E_ij = L_j - L_i

    From dL_i = v_i^T dA v_i and dv_i = sum_{j != i} v_j (v_j^T dA v_i) / (L_i - L_j). The
    eigenvector part is undefined for repeated eigenvalues (E_ij = 0): inf/NaN there, as in torch.
    Eigenvectors are unique up to sign, so a loss should not depend on their signs.
    """

    @staticmethod
    def forward(ctx, a, uplo):
        w, v = get_xp(a).linalg.eigh(a, UPLO=uplo)
        ctx.save_for_backward(w, v)
        return w, v

    @staticmethod
    def backward(ctx, gw, gv):
        w, v = ctx.saved
        vt_gv = _mT(v) @ gv
        inner = _off_diagonal_ratio(0.5 * (vt_gv - _mT(vt_gv)), w[..., None, :] - w[..., :, None])
        inner = inner + gw[..., :, None] * _eye_like(v)
        return v @ inner @ _mT(v)


class Eigvalsh(Function):
    """L = eigenvalues of symmetric A;  dL_i = v_i^T dA v_i, so gA = V diag(gL) V^T (fine for repeated ones)"""

    @staticmethod
    def forward(ctx, a, uplo):
        w, v = get_xp(a).linalg.eigh(a, UPLO=uplo)
        ctx.save_for_backward(v)
        return w

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved
        return (v * g[..., None, :]) @ _mT(v)


def _svd_backward(u, s, vh, gu, gs, gvh, m, n):
    """gA for the reduced SVD A = U diag(S) Vh (U: m x k, Vh: k x n, k = min(m, n)); torch's formula:

    with skew(X) = X - X^T and E_ij = S_j^2 - S_i^2 (off the diagonal),
        core = (skew(U^T gU) S + S skew(Vh gVh^T)) / E + diag(gS)
        gA = U core Vh  (+ (I - U U^T) gU S^{-1} Vh when m > n,  + U S^{-1} gVh (I - V Vh) when m < n)
    The vector part is undefined for repeated singular values (inf/NaN, as torch).
    """
    xp = get_xp(s)
    k = s.shape[-1]
    if not bool(xp.any(gu)) and not bool(xp.any(gvh)):  # only S reached the loss: always well defined
        return (u * gs[..., None, :]) @ vh
    uhgu = _mT(u) @ gu
    vhgv = vh @ _mT(gvh)
    num = (uhgu - _mT(uhgu)) * s[..., None, :] + s[..., :, None] * (vhgv - _mT(vhgv))
    core = _off_diagonal_ratio(num, (s * s)[..., None, :] - (s * s)[..., :, None])
    core = core + gs[..., :, None] * _eye_like(s[..., None, :], k)
    with np.errstate(divide="ignore", invalid="ignore"):
        if m > n:
            gus = gu / s[..., None, :]
            return (u @ core + gus - u @ (_mT(u) @ gus)) @ vh
        if m < n:
            sgv = gvh / s[..., :, None]
            return u @ (core @ vh + sgv - (sgv @ _mT(vh)) @ vh)
    return u @ core @ vh


class SVD(Function):
    """A = U diag(S) Vh;  gA from `_svd_backward` (with full_matrices, U and Vh are cut to their
    first min(m, n) columns / rows first: the others are not determined by A, as in torch)"""

    @staticmethod
    def forward(ctx, a, full_matrices):
        u, s, vh = get_xp(a).linalg.svd(a, full_matrices=full_matrices)
        ctx.save_for_backward(u, s, vh)
        ctx.mn = a.shape[-2:]
        return u, s, vh

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        u, s, vh = ctx.saved
        m, n = ctx.mn
        k = min(m, n)
        u, gu, vh, gvh = u[..., :, :k], gu[..., :, :k], vh[..., :k, :], gvh[..., :k, :]
        return _svd_backward(u, s, vh, gu, gs, gvh, m, n)


class Svdvals(Function):
    """S = singular values of A;  dS_i = u_i^T dA v_i, so gA = U diag(gS) Vh"""

    @staticmethod
    def forward(ctx, a):
        u, s, vh = get_xp(a).linalg.svd(a, full_matrices=False)
        ctx.save_for_backward(u, vh)
        return s

    @staticmethod
    def backward(ctx, g):
        u, vh = ctx.saved
        return (u * g[..., None, :]) @ vh


class Pinv(Function):
    """X = pinv(A) (singular values <= max(atol, rtol * s_max) treated as 0);  for locally constant rank
    (Golub & Pereyra):  dX = -X dA X + X X^T dA^T (I - A X) + (I - X A) dA^T X^T X, so
        gA = -X^T G X^T + (I - A X) G^T X X^T + X^T X G^T (I - X A)
    """

    saves_output = True

    @staticmethod
    def forward(ctx, a, atol, rtol, hermitian):
        xp = get_xp(a)
        m, n = a.shape[-2:]
        if min(m, n) == 0:
            x = xp.zeros(a.shape[:-2] + (n, m), dtype=a.dtype)
        elif hermitian:  # A = V diag(w) V^T: pinv = V diag(1/w on the kept w) V^T
            w, v = xp.linalg.eigh(a)
            keep = xp.abs(w) > xp.maximum(atol, rtol * xp.abs(w).max(axis=-1))[..., None]  # (tolerances: batch-shaped)
            winv = xp.where(keep, 1 / xp.where(keep, w, 1), 0)
            x = (v * winv[..., None, :]) @ _mT(v)
        else:  # A = U diag(s) Vh: pinv = Vh^T diag(1/s on the kept s) U^T
            u, s, vh = xp.linalg.svd(a, full_matrices=False)
            keep = s > xp.maximum(atol, rtol * s[..., 0])[..., None]
            sinv = xp.where(keep, 1 / xp.where(keep, s, 1), 0)
            x = (_mT(vh) * sinv[..., None, :]) @ _mT(u)
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved
        xt, gt = _mT(x), _mT(g)
        eye_m, eye_n = _eye_like(a, a.shape[-2]), _eye_like(a)
        return -(xt @ g @ xt) + (eye_m - a @ x) @ gt @ (x @ xt) + (xt @ x) @ gt @ (eye_n - x @ a)


# Padé(13, 13) coefficients for exp (Higham 2005, "The scaling and squaring method revisited")
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
           10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152  # the largest 1-norm for which Padé-13 is accurate to double precision


def _expm(a):
    """exp(A) for a batch: scale A by 2^-s (per matrix, s from its 1-norm) so Padé-13 is accurate,
    evaluate r = (V - U)^{-1} (V + U), then square s times (exp(A) = exp(A / 2^s)^(2^s))."""
    xp = get_xp(a)
    if a.size == 0:
        return a.copy()
    norm1 = xp.abs(a).sum(axis=-2).max(axis=-1)  # max column sum
    with np.errstate(divide="ignore", invalid="ignore"):
        s = xp.ceil(xp.log2(norm1 / _THETA13))
    s = xp.where(xp.isfinite(s) & (s > 0), s, 0).astype(a.dtype)
    a = a / (2 ** s)[..., None, None]
    b = _PADE13
    eye = _eye_like(a)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    r = xp.linalg.solve(v - u, v + u)
    for k in range(int(s.max())):
        r = xp.where((k < s)[..., None, None], r @ r, r)
    return r


class MatrixExp(Function):
    """Y = exp(A) = sum_k A^k / k!;  gA = L(A^T, G), the Fréchet derivative of exp at A^T in direction G,
    read off one bigger exponential: exp([[A^T, G], [0, A^T]]) = [[exp(A^T), L(A^T, G)], [0, exp(A^T)]]"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _expm(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        xp = get_xp(g)
        n = a.shape[-1]
        at = _mT(a)
        zero = xp.zeros_like(g)
        block = xp.concatenate([xp.concatenate([at, g], axis=-1), xp.concatenate([zero, at], axis=-1)], axis=-2)
        return _expm(block)[..., :n, n:]


class VectorNorm(Function):
    """y = (sum_i |x_i|^p)^(1/p) over dims (p = 0: the count of nonzeros, gradient 0);
    dy/dx_i = sign(x_i) (|x_i| / y)^(p-1), and 0 where x_i = 0 or y = 0 (torch's choice)"""

    saves_output = True

    @staticmethod
    def forward(ctx, x, p, dims, keepdim):
        xp = get_xp(x)
        if p == 0:
            yk = (x != 0).sum(axis=dims, keepdims=True).astype(x.dtype)
        else:
            with np.errstate(divide="ignore", over="ignore"):  # p < 0 and x_i = 0: |x_i|^p = inf, y = 0
                yk = (xp.abs(x) ** p).sum(axis=dims, keepdims=True) ** (1.0 / p)
        ctx.p = p
        ctx.save_for_backward(x, yk)
        return yk if keepdim else yk.reshape([s for i, s in enumerate(x.shape) if not (dims is None or i in dims)])

    @staticmethod
    def backward(ctx, g):
        x, yk = ctx.saved
        xp = get_xp(g)
        if ctx.p == 0:
            return xp.zeros_like(x)
        a = xp.abs(x)
        keep = (a > 0) & (yk > 0)
        ratio = xp.where(keep, a, 1) / xp.where(yk > 0, yk, 1)
        return xp.where(keep, xp.sign(x) * ratio ** (ctx.p - 1), 0) * g.reshape(yk.shape)


# ================================================================ argument checks
def _float_matrix(op, a, name="A"):
    """TypeError/ValueError naming op unless a is a float32/float64 Tensor with at least 2 dims."""
    if not isinstance(a, Tensor):
        raise TypeError(f"{op}: expected a Tensor for {name}, got {type(a).__name__}")
    check_float(op, a)
    if a.data.dtype.itemsize < 4:
        raise TypeError(f"{op}: low precision dtypes are not supported, got {describe(a)}; use .float()")
    if a.data.ndim < 2:
        raise ValueError(f"{op}: the input tensor {name} must have at least 2 dimensions, got {describe(a)}")


def _square_matrix(op, a, name="A"):
    _float_matrix(op, a, name)
    m, n = a.data.shape[-2:]
    if m != n:
        raise ValueError(f"{op}: {name} must be batches of square matrices, but they are {m} by {n} matrices "
                         f"({describe(a)})")


def _same_kind(op, a, b):
    if a.data.dtype != b.data.dtype:
        raise TypeError(f"{op}: expected A and B to have the same dtype, got {describe(a)} and {describe(b)}")
    if a.device != b.device:
        raise RuntimeError(f"{op}: expected A and B on the same device, got {describe(a)} and {describe(b)}")


def _batch_broadcast(op, a, b):
    try:
        return np.broadcast_shapes(a.data.shape[:-2], b.data.shape[:-2])
    except ValueError:
        raise ValueError(f"{op}: the batch dimensions of {describe(a)} and {describe(b)} do not broadcast") from None


# ================================================================ wrappers (torch.linalg's names)
def inv(A):
    """torch.linalg.inv: the inverse of each square matrix; LinAlgError for a singular one.
    d inv(A) = -inv(A) dA inv(A)"""
    _square_matrix("linalg.inv", A)
    return Inv.apply(A, op="linalg.inv")


def inv_ex(A, *, check_errors=False):
    """torch.linalg.inv_ex: (inverse, info) without raising: info (int32, per matrix) is 0 on success and
    positive for a singular matrix, whose inverse is then NaN (torch's value there is unspecified)."""
    op = "linalg.inv_ex"
    _square_matrix(op, A)
    if check_errors:
        return InvExResult(Inv.apply(A, op=op), _wrap(get_xp(A.data).zeros(A.data.shape[:-2], dtype=np.int32)))
    y = Inv.apply(A, op=op, check=False)
    return InvExResult(y, _info(A.data, y.data))


def _info(a, y):
    """int32 per matrix: n where y came out non-finite from finite a (the op failed), else 0."""
    xp = get_xp(a)
    bad = ~xp.isfinite(y).all(axis=(-2, -1)) & xp.isfinite(a).all(axis=(-2, -1))
    return _wrap((bad * a.shape[-1]).astype(np.int32))


def det(A):
    """torch.linalg.det: the determinant of each square matrix.  d det(A) = det(A) tr(inv(A) dA);
    exact at singular A too (the gradient is the cofactor matrix, see `Det`)."""
    _square_matrix("linalg.det", A)
    return Det.apply(A)


def slogdet(A):
    """torch.linalg.slogdet: namedtuple (sign, logabsdet) with det(A) = sign * exp(logabsdet).
    d log|det A| = tr(inv(A) dA); sign has no gradient."""
    _square_matrix("linalg.slogdet", A)
    return SlogdetResult(*Slogdet.apply(A))


def logdet(A):
    """torch.logdet: log(det(A)): NaN where det(A) < 0, -inf where det(A) = 0.  d logdet = tr(inv(A) dA)"""
    _square_matrix("logdet", A)
    sign, logabs = Slogdet.apply(A)
    xp = get_xp(sign.data)
    log_sign = xp.where(sign.data > 0, 0.0, xp.where(sign.data < 0, math.nan, -math.inf)).astype(sign.data.dtype)
    return logabs + _wrap(log_sign)  # log det = log|det| + log(sign), the second a constant


def _is_vector_rhs(a, b):
    """torch's rule: B is a (batch of) vector(s) when it is 1-D, or has one dim less than A and A's
    batch shape with n."""
    return b.data.ndim == 1 or (b.data.ndim == a.data.ndim - 1 and b.data.shape == a.data.shape[:-1])


def solve(A, B, *, left=True):
    """torch.linalg.solve: X with A X = B (left=True) or X A = B (left=False), for square invertible A.

    B is (.., n) (a vector per matrix, torch's rule in `_is_vector_rhs`; left=True only, as torch) or
    (.., n, k); batch dims broadcast. LinAlgError for a singular A.  gB = A^{-T} G, gA = -gB X^T.
    """
    op = "linalg.solve"
    _square_matrix(op, A)
    if not isinstance(B, Tensor):
        raise TypeError(f"{op}: expected a Tensor for B, got {type(B).__name__}")
    check_float(op, B)
    _same_kind(op, A, B)
    if B.data.ndim == 0:
        raise ValueError(f"{op}: B must have at least 1 dimension, got {describe(B)}")
    n = A.data.shape[-1]
    vector = _is_vector_rhs(A, B)  # (decided on the B given: B^T below must not be looked at again)
    if vector and not left:  # torch refuses it (a vector is a column, and X A = B needs n columns)
        raise RuntimeError(f"{op}: a vector B (1-D, or A's batch shape + (n,)) is not supported with left=False "
                           f"(XA = B needs B of shape (.., m, {n}); use B.unsqueeze(-2) for the row vector x "
                           f"with x A = b); got A {describe(A)}, B {describe(B)}")
    # X A = B  <=>  A^T X^T = B^T
    a = A if left else A.mT
    b = B.unsqueeze(-1) if vector else (B if left else B.mT)
    if b.data.shape[-2] != n:
        shown = f"{n}x{n} and " + (f"{B.data.shape[-1]}" if vector else f"{B.data.shape[-2]}x{B.data.shape[-1]}")
        raise ValueError(f"{op}: incompatible shapes of A and B for the equation {'AX' if left else 'XA'} = B "
                         f"({shown}; A {describe(A)}, B {describe(B)})")
    _batch_broadcast(op, A, b)
    x = Solve.apply(a, b, op=op)
    return x.squeeze(-1) if vector else (x if left else x.mT)


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """torch.linalg.solve_triangular: X with T X = B (left) or X T = B, T = A's upper/lower triangle
    (unit diagonal if unitriangular; the other triangle of A is not read). B is (.., n, k); batch dims
    broadcast. A zero on the diagonal gives inf/NaN (no error), as in torch.
    gB = T^{-T} G, gA = -gB X^T on T's triangle.
    """
    op = "linalg.solve_triangular"
    _square_matrix(op, A)
    _float_matrix(op, B, "B")
    _same_kind(op, A, B)
    if not left:  # X T = B  <=>  T^T X^T = B^T, and T^T is triangular the other way round
        return solve_triangular(A.mT, B.mT, upper=not upper, unitriangular=unitriangular).mT
    n = A.data.shape[-1]
    if B.data.shape[-2] != n:
        raise ValueError(f"{op}: incompatible shapes of A and B for the equation AX = B "
                         f"({n}x{n} and {B.data.shape[-2]}x{B.data.shape[-1]}; A {describe(A)}, B {describe(B)})")
    _batch_broadcast(op, A, B)
    return SolveTriangular.apply(A, B, upper=bool(upper), unit=bool(unitriangular))


def cholesky(A, *, upper=False):
    """torch.linalg.cholesky: L lower triangular with A = L L^T (upper=True: U = L^T, A = U^T U) for
    symmetric positive-definite A (its lower triangle is read; with upper=True its upper one, as torch).
    LinAlgError if it is not positive-definite."""
    op = "linalg.cholesky"
    _square_matrix(op, A)
    if upper:  # torch (LAPACK uplo='U') reads A's upper triangle: U = chol(A^T)^T, not chol(A)^T
        return Cholesky.apply(A.mT, op=op).mT
    return Cholesky.apply(A, op=op)


def cholesky_ex(A, *, upper=False, check_errors=False):
    """torch.linalg.cholesky_ex: (L, info) without raising: info (int32) is 0, or the order of the first
    leading minor that is not positive-definite; L of such a matrix is NaN (torch's is unspecified)."""
    op = "linalg.cholesky_ex"
    _square_matrix(op, A)
    if upper:  # the upper triangle is read (as cholesky): U = L(A^T)^T, info of A^T's leading minors
        L, info = cholesky_ex(A.mT, check_errors=check_errors)
        return CholeskyExResult(L.mT, info)
    xp = get_xp(A.data)
    if check_errors:
        L = Cholesky.apply(A, op=op)
        info = _wrap(xp.zeros(A.data.shape[:-2], dtype=np.int32))
    else:
        L = Cholesky.apply(A, op=op, check=False)
        bad = ~xp.isfinite(L.data).all(axis=(-2, -1)) & xp.isfinite(A.data).all(axis=(-2, -1))
        # (reshape(-1, n, n) is ambiguous for an empty batch or 0 x 0 matrices: count the batch instead)
        flat_a = A.data.reshape((math.prod(A.data.shape[:-2]),) + A.data.shape[-2:])
        orders = [(_pd_minor(flat_a[k]) if b else 0) for k, b in enumerate(bad.reshape(-1).tolist())]
        info = _wrap(xp.asarray(orders, dtype=np.int32).reshape(A.data.shape[:-2]))
    return CholeskyExResult(L, info)


def qr(A, mode="reduced"):
    """torch.linalg.qr: namedtuple (Q, R), A = QR, Q with orthonormal columns, R upper triangular.

    mode: 'reduced' (Q: m x k, R: k x n, k = min(m, n)), 'complete' (Q: m x m, R: m x n) or 'r'
    (R only; Q is an empty tensor). See `QR` for the gradient and where it does not exist.
    """
    op = "linalg.qr"
    _float_matrix(op, A)
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"{op}: qr received unrecognized mode {mode!r} but expected one of 'reduced' "
                         "(default), 'r', or 'complete'")
    return QRResult(*QR.apply(A, mode=mode))


def _uplo(op, UPLO):
    if UPLO not in ("L", "U"):
        raise ValueError(f"{op}: expected UPLO to be 'L' or 'U', but got {UPLO!r}")
    return UPLO


def eigh(A, UPLO="L"):
    """torch.linalg.eigh: namedtuple (eigenvalues ascending, eigenvectors as columns) of symmetric A
    (only the UPLO triangle is read). The eigenvector gradient is ill-defined for repeated eigenvalues."""
    op = "linalg.eigh"
    _square_matrix(op, A)
    return EighResult(*Eigh.apply(A, uplo=_uplo(op, UPLO)))


def eigvalsh(A, UPLO="L"):
    """torch.linalg.eigvalsh: the eigenvalues (ascending) of symmetric A.  gA = V diag(gL) V^T"""
    op = "linalg.eigvalsh"
    _square_matrix(op, A)
    return Eigvalsh.apply(A, uplo=_uplo(op, UPLO))


def svd(A, full_matrices=True):
    """torch.linalg.svd: namedtuple (U, S, Vh), A = U diag(S) Vh, S descending.

    Gradients of U and Vh need distinct singular values (ill-defined otherwise, as in torch); a loss
    should not depend on the signs of the singular vectors. Only-S losses are always fine.
    """
    _float_matrix("linalg.svd", A)
    return SVDResult(*SVD.apply(A, full_matrices=bool(full_matrices)))


def svdvals(A):
    """torch.linalg.svdvals: the singular values, descending.  gA = U diag(gS) Vh"""
    _float_matrix("linalg.svdvals", A)
    return Svdvals.apply(A)


def _tolerance(op, name, value, A):
    """atol/rtol as an array broadcastable against A's batch shape (a number, or a Tensor)."""
    xp = get_xp(A.data)
    if isinstance(value, Tensor):
        if value.data.dtype.kind not in "fiu":
            raise TypeError(f"{op}: {name} must be a real number or tensor, got {describe(value)}")
        return xp.asarray(value.data, dtype=A.data.dtype)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number or a Tensor, got {value!r}")
    return xp.asarray(float(value), dtype=A.data.dtype)


def _tolerances(op, A, atol, rtol):
    """(atol, rtol) arrays with torch's defaults: atol 0; rtol eps * max(m, n) unless a positive atol is given."""
    atol_given = atol is not None and (isinstance(atol, Tensor) or float(atol) > 0)
    a = _tolerance(op, "atol", 0.0 if atol is None else atol, A)
    r = _tolerance(op, "rtol", _default_rtol(A.data, atol_given) if rtol is None else rtol, A)
    return a, r


def pinv(A, rcond=None, hermitian=False, *, atol=None, rtol=None):
    """torch.linalg.pinv: the Moore-Penrose pseudo-inverse (n x m for m x n A), from the SVD (or eigh when
    hermitian) with singular values <= max(atol, rtol * s_max) dropped. The gradient (see `Pinv`) assumes
    the rank does not change near A. `rcond` is torch's older positional name for rtol."""
    op = "linalg.pinv"
    if rcond is not None:
        if rtol is not None:
            raise TypeError(f"{op}: got both rcond= and rtol= (rcond is the old name of rtol)")
        rtol = rcond
    _float_matrix(op, A)
    a, r = _tolerances(op, A, atol, rtol)
    if hermitian:
        _square_matrix(op, A)
    return Pinv.apply(A, atol=a, rtol=r, hermitian=bool(hermitian))


def lstsq(A, B, rcond=None, *, driver=None):
    """torch.linalg.lstsq: namedtuple (solution, residuals, rank, singular_values) of min ||A X - B||.

    The solution is the minimum-norm one, pinv(A) B with singular values <= rcond * s_max dropped
    (rcond default eps * max(m, n)), which is what LAPACK's gelsy/gelsd/gelss return; its gradient is
    torch's (through pinv, for locally constant rank). The other fields follow torch's CPU drivers
    (default 'gelsy'): rank for gelsy/gelsd/gelss, singular_values for gelsd/gelss, residuals (squared
    column norms of A X - B) for gelsd/gelss/gels when m > n and every A has full rank; empty otherwise.
    The same semantics are used on every device (torch's CUDA build has only 'gels').
    """
    op = "linalg.lstsq"
    _float_matrix(op, A)
    if not isinstance(B, Tensor):
        raise TypeError(f"{op}: expected a Tensor for B, got {type(B).__name__}")
    check_float(op, B)
    _same_kind(op, A, B)
    driver = "gelsy" if driver is None else driver
    if driver not in ("gels", "gelsy", "gelsd", "gelss"):
        raise ValueError(f"{op}: parameter `driver` should be one of (gels, gelsy, gelsd, gelss), got {driver!r}")
    if rcond is not None and (isinstance(rcond, bool) or not isinstance(rcond, numbers.Real)):
        raise TypeError(f"{op}: rcond must be a number, got {rcond!r}")
    m, n = A.data.shape[-2:]
    vector = _is_vector_rhs(A, B)  # torch's rule, as solve's: (.., m) with A's batch shape, or 1-D
    b = B.unsqueeze(-1) if vector else B
    if b.data.ndim < 2 or b.data.shape[-2] != m:
        raise ValueError(f"{op}: incompatible shapes of A and B for the equation AX = B: A {describe(A)} has {m} "
                         f"rows, B {describe(B)} must have {m} in dim {-1 if vector else -2}")
    _batch_broadcast(op, A, b)
    rtol = _default_rtol(A.data, False) if rcond is None or rcond < 0 else float(rcond)
    atol_arr, rtol_arr = _tolerances(op, A, None, rtol)
    x = Pinv.apply(A, atol=atol_arr, rtol=rtol_arr, hermitian=False) @ b
    xp = get_xp(A.data)
    empty = _wrap(xp.zeros((0,), dtype=A.data.dtype))
    batch = np.broadcast_shapes(A.data.shape[:-2], b.data.shape[:-2])
    s_arr = xp.linalg.svd(A.data, compute_uv=False) if min(m, n) else xp.zeros(A.data.shape[:-2] + (0,), A.data.dtype)
    s_arr = xp.broadcast_to(s_arr, batch + s_arr.shape[-1:]).copy()
    cut = rtol * (s_arr[..., :1] if min(m, n) else 0)
    rank_arr = (s_arr > cut).sum(axis=-1).astype(np.int64)
    rank = _wrap(rank_arr) if driver != "gels" else _wrap(xp.zeros((0,), dtype=np.int64))
    singular_values = _wrap(s_arr) if driver in ("gelsd", "gelss") else empty
    residuals = empty
    if driver != "gelsy" and m > n and bool((rank_arr == n).all()):
        residuals = ((A @ x - b) ** 2).sum(dim=-2)  # (differentiable, as torch's)
    return LstsqResult(x.squeeze(-1) if vector else x, residuals, rank, singular_values)


def matrix_exp(A):
    """torch.linalg.matrix_exp: exp(A) = sum_k A^k / k! by scaling and squaring with a Padé(13) approximant.
    The gradient is the adjoint Fréchet derivative, read off exp([[A^T, G], [0, A^T]]) (see `MatrixExp`)."""
    _square_matrix("linalg.matrix_exp", A)
    return MatrixExp.apply(A)


# ---------------------------------------------------------------- norms
def _norm_input(op, x, dtype):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if dtype is not None:
        if x.data.dtype.kind == "f" and np.dtype(dtype).itemsize < x.data.dtype.itemsize:  # as torch
            raise TypeError(f"{op}: the dtype of the input {describe(x)} should be convertible without narrowing "
                            f"to the specified dtype {np.dtype(dtype)}")
        x = x.to(dtype)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor as input, got {describe(x)}; convert it with "
                        ".float() (or pass dtype=)")
    return x


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):  # noqa: A002 - torch's name
    """torch.linalg.vector_norm: (sum_i |x_i|^ord)^(1/ord) over dim (None: every element).

    ord: any real number; inf/-inf give max/min |x_i|, 0 the number of nonzeros. The gradient is 0
    where the norm is 0 (and, for ord < 1, where x_i = 0), as in torch.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('vector_norm', vector_norm, x=x, ord=ord, dim=dim, keepdim=keepdim, dtype=dtype)
    from .reduce import Norm, _check_nonempty, _dims, amax, amin
    from .reduce import sum as _sum

    op = "linalg.vector_norm"
    x = _norm_input(op, x, dtype)
    if isinstance(ord, bool) or not isinstance(ord, numbers.Real):
        raise TypeError(f"{op}: ord must be a number (use linalg.matrix_norm for 'fro'/'nuc'), got {ord!r}")
    dims = _dims(op, x, dim)
    p = float(ord)
    if p < 0 or p == math.inf:  # no identity (max, or a sum of infinities): torch refuses an empty reduction
        _check_nonempty(op, x, dims)
    if p == 2:
        return Norm.apply(x, dims=dims, keepdim=keepdim)
    if p == 1:
        return _sum(x.abs(), dim=dims, keepdim=keepdim)
    if p == math.inf:
        return amax(x.abs(), dim=dims, keepdim=keepdim)
    if p == -math.inf:
        return amin(x.abs(), dim=dims, keepdim=keepdim)
    return VectorNorm.apply(x, p=p, dims=dims, keepdim=keepdim)


_MATRIX_ORDS = ("fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):  # noqa: A002
    """torch.linalg.matrix_norm over the two dims `dim`: 'fro' (sqrt of the sum of squares), 'nuc' (sum of
    singular values), 2/-2 (largest/smallest singular value), 1/-1 (max/min column sum of |a_ij|),
    inf/-inf (max/min row sum). Built from vector norms, sums, amax/amin and svdvals."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('matrix_norm', matrix_norm, A=A, ord=ord, dim=dim, keepdim=keepdim, dtype=dtype)
    from .reduce import amax, amin
    from .reduce import sum as _sum
    from .shape import movedim

    op = "linalg.matrix_norm"
    A = _norm_input(op, A, dtype)
    if A.data.ndim < 2:
        raise ValueError(f"{op}: the input tensor A must have at least 2 dimensions, got {describe(A)}")
    if isinstance(ord, bool) or ord not in _MATRIX_ORDS:
        raise ValueError(f"{op}: order {ord!r} not supported; expected one of 'fro', 'nuc', 2, -2, 1, -1, inf, -inf")
    try:
        d0, d1 = dim
    except (TypeError, ValueError):
        raise ValueError(f"{op}: dim must be a 2-tuple of ints, got {dim!r}") from None
    nd = A.data.ndim
    from .common import normalize_axis

    d0, d1 = normalize_axis(op, d0, nd), normalize_axis(op, d1, nd)
    if d0 == d1:
        raise ValueError(f"{op}: dims must be different, got {dim!r}")
    kept = tuple(1 if i in (d0, d1) else s for i, s in enumerate(A.data.shape))

    def extreme(t, dim, keepdim):
        # the max / min of norms over `dim`; over an empty dim (an empty matrix) the max is 0 (torch: the
        # values are >= 0) - the sum over nothing is that 0, with its gradient - and the min is undefined
        if t.data.shape[dim] == 0:
            if ord in ("nuc", 2, 1, math.inf):
                return _sum(t, dim=dim, keepdim=keepdim)
            raise ValueError(f"{op}: the ord={ord} norm (a minimum) of the empty matrices of {describe(A)} is "
                             "undefined, as in torch")
        return (amax if ord in ("nuc", 2, 1, math.inf) else amin)(t, dim=dim, keepdim=keepdim)

    if ord == "fro":
        return vector_norm(A, 2, dim=(d0, d1), keepdim=keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        inner, outer = (d0, d1) if ord in (1, -1) else (d1, d0)  # 1: sum down columns, max over columns
        sums = _sum(A.abs(), dim=inner, keepdim=True)
        out = extreme(sums, outer, True)
    else:
        s = svdvals(movedim(A, (d0, d1), (-2, -1)))
        if ord == "nuc":
            out = _sum(s, dim=-1)
        else:
            out = extreme(s, -1, False)
        out = out.reshape(kept)
    return out if keepdim else out.reshape([s for i, s in enumerate(A.data.shape) if i not in (d0, d1)])


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """torch.linalg.norm: a vector norm (dim an int, or A 1-D, or ord None with dim None: all elements)
    or a matrix norm (dim a 2-tuple, or A 2-D with ord given)."""
    op = "linalg.norm"
    A = _norm_input(op, A, dtype)
    if isinstance(dim, numbers.Integral):
        dim = (dim,)
    if dim is not None:
        dim = tuple(dim)
        if len(dim) == 1:
            return vector_norm(A, 2 if ord is None else ord, dim, keepdim)
        if len(dim) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim)
        raise ValueError(f"{op}: dim must be an int, a 1-tuple or a 2-tuple, got {dim!r}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim)
    if A.data.ndim == 1 and not isinstance(ord, str):
        return vector_norm(A, ord, None, keepdim)
    if A.data.ndim <= 2:  # ('fro'/'nuc' of a vector: matrix_norm's error, as torch)
        return matrix_norm(A, ord, (-2, -1), keepdim)
    raise ValueError(f"{op}: if dim is not specified but ord is, the input must be 1-D or 2-D, got {describe(A)}")


def cond(A, p=None):
    """torch.linalg.cond: the condition number ||A||_p ||inv(A)||_p. p None/2/-2: the ratio of extreme
    singular values (any m x n A); other p ('fro', 'nuc', inf, -inf, 1, -1): square A, inf if singular."""
    from .elementwise import where

    op = "linalg.cond"
    _float_matrix(op, A)
    if p in (None, 2, -2):
        s = svdvals(A)
        if s.data.shape[-1] == 0:
            return s.sum(-1)
        big, small = s[..., 0], s[..., -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return big / small if p != -2 else small / big
    if p not in _MATRIX_ORDS:
        raise ValueError(f"{op}: order {p!r} not supported")
    if p in ("fro", "nuc") or A.data.size:
        _square_matrix(f"{op}(ord={p})", A)
    if A.data.size == 0:  # torch: 0 for empty matrices, any p (a sum over nothing keeps the graph)
        return A.sum(dim=(-2, -1))
    inverse, info = inv_ex(A)
    xp = get_xp(A.data)
    singular = _wrap(info.data > 0)
    safe_inv = where(_wrap(singular.data[..., None, None]), _wrap(xp.zeros((), A.data.dtype)), inverse)
    value = matrix_norm(A, p) * matrix_norm(safe_inv, p)
    return where(singular, _wrap(xp.asarray(math.inf, dtype=A.data.dtype)), value)


def matrix_rank(A, tol=None, hermitian=False, *, atol=None, rtol=None):  # (tol, hermitian: torch's positional form)
    """torch.linalg.matrix_rank: the number (int64) of singular values > max(atol, rtol * s_max)
    (|eigenvalues| when hermitian). Defaults as pinv. No gradient (an integer)."""
    op = "linalg.matrix_rank"
    _float_matrix(op, A)
    if tol is not None:  # torch's deprecated spelling of atol
        atol = tol
    a, r = _tolerances(op, A, atol, rtol)
    xp = get_xp(A.data)
    if min(A.data.shape[-2:]) == 0:
        return _wrap(xp.zeros(A.data.shape[:-2], dtype=np.int64))
    if hermitian:
        _square_matrix(op, A)
        s = xp.abs(xp.linalg.eigvalsh(A.data))
        s_max = s.max(axis=-1, keepdims=True)
    else:
        s = xp.linalg.svd(A.data, compute_uv=False)
        s_max = s[..., :1]
    thr = xp.maximum(a[..., None] if a.ndim else a, (r[..., None] if r.ndim else r) * s_max)
    return _wrap((s > thr).sum(axis=-1).astype(np.int64))


# ---------------------------------------------------------------- products and builders
def multi_dot(tensors):
    """torch.linalg.multi_dot: A1 @ A2 @ ... @ Ak in the cheapest order (dynamic programming over the
    parenthesizations). The first may be 1-D (a row vector), the last 1-D (a column vector), the others 2-D."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('multi_dot', multi_dot, tensors=tensors)
    from .linalg import matmul

    op = "linalg.multi_dot"
    tensors = list(tensors)
    if len(tensors) < 2:
        raise ValueError(f"{op}: expected at least 2 tensors but got {len(tensors)}")
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: tensor {k} must be a Tensor, got {type(t).__name__}")
        allowed = (1, 2) if k in (0, len(tensors) - 1) else (2,)
        if t.data.ndim not in allowed:
            where_ = "first" if k == 0 else "last" if k == len(tensors) - 1 else f"{k}-th"
            raise ValueError(f"{op}: the {where_} tensor must be {' or '.join(f'{d}-D' for d in allowed)}, "
                             f"got {describe(t)}")
    for k, t in enumerate(tensors[1:], 1):  # (as torch: no type promotion inside the chain)
        if t.data.dtype != tensors[0].data.dtype:
            raise TypeError(f"{op}: all tensors must have the same dtype, but tensor 0 is {describe(tensors[0])} "
                            f"and tensor {k} is {describe(t)}")
    first_vec, last_vec = tensors[0].data.ndim == 1, tensors[-1].data.ndim == 1
    mats = list(tensors)
    if first_vec:
        mats[0] = mats[0].unsqueeze(0)
    if last_vec:
        mats[-1] = mats[-1].unsqueeze(-1)
    for k in range(len(mats) - 1):
        if mats[k].data.shape[1] != mats[k + 1].data.shape[0]:
            raise ValueError(f"{op}: tensors {k} and {k + 1} cannot be multiplied: {describe(tensors[k])} and "
                             f"{describe(tensors[k + 1])}")
    dims = [m.data.shape[0] for m in mats] + [mats[-1].data.shape[1]]
    n = len(mats)
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):  # the textbook matrix-chain order
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def chain(i, j):
        return mats[i] if i == j else matmul(chain(i, split[i][j]), chain(split[i][j] + 1, j))

    out = chain(0, n - 1)
    if first_vec:
        out = out.squeeze(0)
    if last_vec:
        out = out.squeeze(-1)
    return out


def vander(x, *, N=None):
    """torch.linalg.vander: (.., n) -> (.., n, N) with columns x^0, x^1, ..., x^(N-1) (increasing powers),
    a cumulative product of x (exact gradients, zeros included); integer x stays integer."""
    from .reduce import cumprod
    from .shape import cat, expand

    op = "linalg.vander"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.data.ndim == 0:
        raise ValueError(f"{op}: x must have at least 1 dimension, got {describe(x)}")
    N = x.data.shape[-1] if N is None else N
    if isinstance(N, bool) or not isinstance(N, numbers.Integral):
        raise TypeError(f"{op}: N must be an int, got {N!r}")
    if N <= 1:
        raise ValueError(f"{op}: N must be greater than 1, got N={N}")
    xp = get_xp(x.data)
    col = x.unsqueeze(-1)
    ones = _wrap(xp.ones(col.data.shape, dtype=x.data.dtype))
    powers = cumprod(cat([ones, expand(col, col.data.shape[:-1] + (N - 1,))], dim=-1), dim=-1)
    return powers if powers.data.dtype == x.data.dtype else powers.to(x.data.dtype)


def vecdot(x, y, *, dim=-1):
    """torch.linalg.vecdot: sum(x * y, dim) with broadcasting (the dot product of vectors along dim)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('vecdot', vecdot, x=x, y=y, dim=dim)
    from .common import normalize_axis
    from .reduce import sum as _sum

    op = "linalg.vecdot"
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a Tensor for {name}, got {type(t).__name__}")
    if x.data.dtype != y.data.dtype:
        raise TypeError(f"{op}: expected x and y to have the same dtype, got {describe(x)} and {describe(y)}")
    try:
        shape = np.broadcast_shapes(x.data.shape, y.data.shape)
    except ValueError:
        raise ValueError(f"{op}: {describe(x)} and {describe(y)} do not broadcast together") from None
    d = normalize_axis(op, dim, max(len(shape), 1))
    return _sum(x * y, dim=d - len(shape))


# ---------------------------------------------------------------- torch's top-level spellings
def inverse(input):  # noqa: A002 - torch's name
    """torch.inverse: linalg.inv."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('inverse', inverse, input=input)
    return _inv_named(input, "inverse")


def _inv_named(A, op):
    """inv(A) with errors naming `op` (torch.inverse, matrix_power with n < 0)."""
    _square_matrix(op, A)
    return Inv.apply(A, op=op)


def pinverse(input, rcond=1e-15):  # noqa: A002
    """torch.pinverse: linalg.pinv with rtol=rcond (default 1e-15)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('pinverse', pinverse, input=input, rcond=rcond)
    return pinv(input, rtol=rcond)


def cholesky_legacy(input, upper=False):  # noqa: A002
    """torch.cholesky / Tensor.cholesky: linalg.cholesky with a positional `upper`."""
    return cholesky(input, upper=upper)


def svd_legacy(input, some=True, compute_uv=True):  # noqa: A002
    """torch.svd / Tensor.svd: namedtuple (U, S, V) with A = U diag(S) V^T (V, not Vh); some=True is the
    reduced SVD. compute_uv=False returns zero-filled U and V (as torch) and S with its gradient."""
    if not compute_uv:
        s = svdvals(input)
        xp = get_xp(input.data)
        m, n = input.data.shape[-2:]
        b = input.data.shape[:-2]
        zero_u = _wrap(xp.zeros(b + (m, m if not some else min(m, n)), dtype=input.data.dtype))
        zero_v = _wrap(xp.zeros(b + (n, n if not some else min(m, n)), dtype=input.data.dtype))
        return LegacySVDResult(zero_u, s, zero_v)
    u, s, vh = svd(input, full_matrices=not some)
    return LegacySVDResult(u, s, vh.mT)


def qr_legacy(input, some=True):  # noqa: A002
    """torch.qr / Tensor.qr: linalg.qr with mode 'reduced' (some=True) or 'complete'."""
    return qr(input, mode="reduced" if some else "complete")
