"""Products with torch's names: outer, dot, inner, mv, the add*-products (addmm, addmv, addr,
addbmm, baddbmm), tensordot, kron, cross, cdist, dist, block_diag, diag_embed, diagflat,
cartesian_prod and matrix_power.

All but cdist are compositions of ops that already have exact backward rules (matmul, mul,
reshape, index_copy, where, ...), so they need no backward of their own. cdist is a Function:
composed as sqrt(sum(diff**2)) its gradient would be 0/0 = NaN at zero distance, where torch
(and we) give 0.
"""
from __future__ import annotations

import math
import numbers

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import c_order, check_pair, describe, normalize_axis
from .elementwise import _math_operands, _quiet, where
from .linalg import matmul
from .shape import cat, clone, diag, expand, index_copy, movedim, pad, permute, reshape, select, stack
from .. import amp as _amp

get_xp = _B.get_array_module
np = _B.np  # dtypes and shape bookkeeping only

__all__ = ["outer", "ger", "dot", "vdot", "inner", "mv", "addmm", "addmv", "addr", "addbmm", "baddbmm", "tensordot",
           "kron", "cross", "cdist", "dist", "block_diag", "diag_embed", "diagflat", "cartesian_prod", "matrix_power",
           "Cdist"]


# ---------------------------------------------------------------- argument checks
def _tensors(op, **named):
    """TypeError naming `op` unless every argument is a Tensor."""
    for name, t in named.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")


def _ndim(op, name, t, *allowed):
    if t.data.ndim not in allowed:
        want = " or ".join(f"{n}-D" for n in allowed)
        raise ValueError(f"{op}: {name} must be {want}, got {describe(t)}")


def _same_kind(op, *ts):
    """torch's matrix products refuse mixed dtypes (no promotion) and mixed devices."""
    first = ts[0]
    for t in ts[1:]:
        if t.device != first.device:
            raise RuntimeError(f"{op}: expected all tensors on the same device, got {describe(first)} and {describe(t)}")
        if t.data.dtype != first.data.dtype:
            raise TypeError(f"{op}: expected tensors of one dtype (torch's matrix products do not promote), got "
                            f"{describe(first)} and {describe(t)}; convert one with .to(dtype)")


def _no_bool(op, *ts):
    """torch has no bool matrix product (its kernels are not implemented for Bool): refused the same way."""
    for t in ts:
        if t.data.dtype.kind == "b":
            raise TypeError(f"{op}: not implemented for bool tensors ({describe(t)}), as in torch; "
                            "convert with .long() or .float()")


def _scale(op, name, value, dtype):
    """beta/alpha as a Python number; a float one is refused for integer tensors (torch would truncate it)."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__} {value!r}")
    if isinstance(value, bool):  # torch reads True/False as 1/0 (beta=False ignores input, as beta=0)
        return int(value)
    if dtype.kind in "biu" and not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name}={value!r} is not an integer, but the tensors are {dtype}; "
                        f"use float tensors or an integer {name}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _add_scaled(op, inp, prod, beta, alpha):
    """beta * inp + alpha * prod, with inp broadcast to prod's shape; beta = 0 ignores inp (NaN included).

    With beta = 0 torch does not read the input at all, so NaN or inf there do not leak into
    the result (0 * NaN would be NaN); its gradient is 0. `where` gives both.
    """
    beta = _scale(op, "beta", beta, prod.data.dtype)
    alpha = _scale(op, "alpha", alpha, prod.data.dtype)
    if prod.data.dtype.kind == "b" and inp.data.dtype.kind == "b":  # (addr of bools: torch stays in bool, where
        beta, alpha = bool(beta), bool(alpha)  # the scales are truth values: beta=2 is True)
    shape = tuple(prod.data.shape)
    ishape = tuple(inp.data.shape)
    if len(ishape) > len(shape) or any(i not in (1, s) for i, s in zip(ishape[::-1], shape[::-1])):
        raise ValueError(f"{op}: input {describe(inp)} does not broadcast to the product's shape {shape}")
    term = prod if alpha == 1 else prod * alpha
    if beta == 0:
        keep = _wrap(get_xp(prod.data).ones((), dtype=bool))
        return where(keep, term, inp)
    return (inp if beta == 1 else inp * beta) + term


# ---------------------------------------------------------------- vector and matrix products
def outer(input, vec2):  # noqa: A002 - torch's names
    """torch.outer: y[i, j] = a[i] * b[j] (1-D a, b);  dy/da[i] = b[j], dy/db[j] = a[i]."""
    op = "outer"
    _tensors(op, input=input, vec2=vec2)
    _ndim(op, "input", input, 1)
    _ndim(op, "vec2", vec2, 1)
    a, b = check_pair(op, input, vec2)  # elementwise: an int vector meets a float one as in torch
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


ger = outer  # torch's old name


def dot(input, other):  # noqa: A002
    """torch.dot: y = sum_i a[i] b[i] (1-D, equal length, one dtype);  dy/da = b, dy/db = a."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('dot', dot, input=input, other=other)
    op = "dot"
    _tensors(op, input=input, other=other)
    if input.data.ndim != 1 or other.data.ndim != 1:
        raise ValueError(f"{op}: expects two 1-D tensors, got {describe(input)} and {describe(other)}")
    _same_kind(op, input, other)
    _no_bool(op, input)
    if input.data.shape != other.data.shape:
        raise ValueError(f"{op}: the vectors differ in length: {describe(input)} and {describe(other)}")
    return matmul(input, other)


def vdot(input, other):  # noqa: A002
    """torch.vdot: conj(a) . b, which for real tensors (all minigrad has) is dot(a, b)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('vdot', vdot, input=input, other=other)
    _tensors("vdot", input=input, other=other)
    if input.data.ndim != 1 or other.data.ndim != 1:
        raise ValueError(f"vdot: expects two 1-D tensors, got {describe(input)} and {describe(other)}")
    try:
        return dot(input, other)
    except (ValueError, TypeError, RuntimeError) as e:  # dot's errors, named as the op called
        raise type(e)(f"vdot: {e}") from None


def inner(input, other):  # noqa: A002
    """torch.inner: y[i.., j..] = sum_k a[i.., k] b[j.., k] (a 0-d operand multiplies);  as tensordot."""
    op = "inner"
    _tensors(op, input=input, other=other)
    if input.data.ndim == 0 or other.data.ndim == 0:
        a, b = check_pair(op, input, other)
        return a * b
    _same_kind(op, input, other)  # (torch: "both inputs should have same dtype")
    _no_bool(op, input, other)
    if input.data.shape[-1] != other.data.shape[-1]:
        raise ValueError(f"{op}: the last dimensions must match, got {describe(input)} and {describe(other)}")
    return _contract(op, input, other, [input.data.ndim - 1], [other.data.ndim - 1])


def mv(input, vec):  # noqa: A002
    """torch.mv: y = A x for a matrix A (n, m) and a vector x (m,);  dA = dy x^T, dx = A^T dy."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('mv', mv, input=input, vec=vec)
    op = "mv"
    _tensors(op, input=input, vec=vec)
    _ndim(op, "input", input, 2)
    _ndim(op, "vec", vec, 1)
    _same_kind(op, input, vec)
    _no_bool(op, input)
    if input.data.shape[1] != vec.data.shape[0]:
        raise ValueError(f"{op}: size mismatch: matrix {describe(input)} times vector {describe(vec)}")
    return matmul(input, vec)


def _mm_checked(op, a, b, na="mat1", nb="mat2"):
    _ndim(op, na, a, 2)
    _ndim(op, nb, b, 2)
    if a.data.shape[1] != b.data.shape[0]:
        raise ValueError(f"{op}: {na} and {nb} cannot be multiplied: {describe(a)} @ {describe(b)}")
    return matmul(a, b)


def _bmm_checked(op, a, b):
    _ndim(op, "batch1", a, 3)
    _ndim(op, "batch2", b, 3)
    if a.data.shape[0] != b.data.shape[0] or a.data.shape[2] != b.data.shape[1]:
        raise ValueError(f"{op}: batch1 {describe(a)} and batch2 {describe(b)} must be (b, n, m) and (b, m, p)")


def addmm(input, mat1, mat2, *, beta=1, alpha=1):  # noqa: A002
    """torch.addmm: y = beta * input + alpha * (mat1 @ mat2), input broadcast to (n, p)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('addmm', addmm, input=input, mat1=mat1, mat2=mat2, beta=beta, alpha=alpha)
    op = "addmm"
    _tensors(op, input=input, mat1=mat1, mat2=mat2)
    _same_kind(op, input, mat1, mat2)
    _no_bool(op, input)
    return _add_scaled(op, input, _mm_checked(op, mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):  # noqa: A002
    """torch.addmv: y = beta * input + alpha * (mat @ vec), input broadcast to (n,)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('addmv', addmv, input=input, mat=mat, vec=vec, beta=beta, alpha=alpha)
    op = "addmv"
    _tensors(op, input=input, mat=mat, vec=vec)
    _same_kind(op, input, mat, vec)
    _no_bool(op, input)
    _ndim(op, "mat", mat, 2)
    _ndim(op, "vec", vec, 1)
    if mat.data.shape[1] != vec.data.shape[0]:  # (checked here, so that the error names addmv)
        raise ValueError(f"{op}: size mismatch: matrix {describe(mat)} times vector {describe(vec)}")
    return _add_scaled(op, input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):  # noqa: A002
    """torch.addr: y = beta * input + alpha * outer(vec1, vec2), input broadcast to (n, m)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('addr', addr, input=input, vec1=vec1, vec2=vec2, beta=beta, alpha=alpha)
    op = "addr"
    _tensors(op, input=input, vec1=vec1, vec2=vec2)
    _ndim(op, "vec1", vec1, 1)
    _ndim(op, "vec2", vec2, 1)
    # elementwise in torch, so its operands promote as in `input + outer(vec1, vec2)` (bool[] with uint8[] is uint8)
    inp, prod = _math_operands(op, input, outer(vec1, vec2))
    return _add_scaled(op, inp, prod, beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """torch.addbmm: y = beta * input + alpha * sum_b batch1[b] @ batch2[b], input broadcast to (n, p).

    The sum of products is one matrix product: (n, b*m) @ (b*m, p).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('addbmm', addbmm, input=input, batch1=batch1, batch2=batch2, beta=beta, alpha=alpha)
    op = "addbmm"
    _tensors(op, input=input, batch1=batch1, batch2=batch2)
    _same_kind(op, input, batch1, batch2)
    _no_bool(op, input)
    _bmm_checked(op, batch1, batch2)
    nb, n, m = batch1.data.shape
    p = batch2.data.shape[2]
    prod = matmul(reshape(permute(batch1, (1, 0, 2)), (n, nb * m)), reshape(batch2, (nb * m, p)))
    return _add_scaled(op, input, prod, beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """torch.baddbmm: y[b] = beta * input[b] + alpha * batch1[b] @ batch2[b], input broadcast to (b, n, p)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('baddbmm', baddbmm, input=input, batch1=batch1, batch2=batch2, beta=beta, alpha=alpha)
    op = "baddbmm"
    _tensors(op, input=input, batch1=batch1, batch2=batch2)
    _same_kind(op, input, batch1, batch2)
    _no_bool(op, input)
    _bmm_checked(op, batch1, batch2)
    return _add_scaled(op, input, matmul(batch1, batch2), beta, alpha)


def _contract(op, a, b, da, db):
    """sum over a's dims da and b's dims db (paired in order): a permute, a reshape and one mm."""
    free_a = [d for d in range(a.data.ndim) if d not in da]
    free_b = [d for d in range(b.data.ndim) if d not in db]
    sa = [a.data.shape[d] for d in free_a]
    sb = [b.data.shape[d] for d in free_b]
    k = math.prod(a.data.shape[d] for d in da)
    left = reshape(permute(a, free_a + list(da)), (math.prod(sa), k))
    right = reshape(permute(b, list(db) + free_b), (k, math.prod(sb)))
    return reshape(matmul(left, right), tuple(sa + sb))


def tensordot(a, b, dims=2):
    """torch.tensordot: sum over the paired dims of a and b (dims=n: a's last n with b's first n, or
    ([a's dims], [b's dims]));  the gradient of each operand is the contraction of dy with the other."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('tensordot', tensordot, a=a, b=b, dims=dims)
    op = "tensordot"
    _tensors(op, a=a, b=b)
    _same_kind(op, a, b)
    _no_bool(op, a)
    if isinstance(dims, numbers.Integral) and not isinstance(dims, bool):
        if dims < 0:
            raise ValueError(f"{op}: expects dims >= 0, got dims={dims}")
        if dims > min(a.data.ndim, b.data.ndim):
            raise ValueError(f"{op}: dims={dims} is more than the dimensions of {describe(a)} or {describe(b)}")
        da = list(range(a.data.ndim - dims, a.data.ndim))
        db = list(range(dims))
    else:
        try:
            da, db = dims
            da = [da] if isinstance(da, numbers.Integral) else list(da)
            db = [db] if isinstance(db, numbers.Integral) else list(db)
        except (TypeError, ValueError):
            raise TypeError(f"{op}: dims must be an int or a pair of lists of ints, got {dims!r}") from None
        if len(da) != len(db):
            raise ValueError(f"{op}: both lists of dims must have the same length, got {dims!r}")
        da = [normalize_axis(op, d, a.data.ndim) for d in da]
        db = [normalize_axis(op, d, b.data.ndim) for d in db]
        if len(set(da)) != len(da) or len(set(db)) != len(db):
            raise ValueError(f"{op}: a dim appears twice in {dims!r}")
    for i, j in zip(da, db):
        if a.data.shape[i] != b.data.shape[j]:
            raise ValueError(f"{op}: contracted dimensions must match, but {describe(a)} has size {a.data.shape[i]} "
                             f"in dim {i} and {describe(b)} has size {b.data.shape[j]} in dim {j}")
    return _contract(op, a, b, da, db)


def kron(input, other):  # noqa: A002
    """torch.kron: y[i*q + k, ...] = a[i, ...] * b[k, ...] (the Kronecker product, any ranks);  as mul."""
    op = "kron"
    _tensors(op, input=input, other=other)
    a, b = input, other
    nd = max(a.data.ndim, b.data.ndim)
    sa = (1,) * (nd - a.data.ndim) + tuple(a.data.shape)
    sb = (1,) * (nd - b.data.ndim) + tuple(b.data.shape)
    # interleave: a gets shape (a0, 1, a1, 1, ...), b (1, b0, 1, b1, ...); their product merges pairwise
    ya = reshape(a, tuple(v for s in sa for v in (s, 1)))
    yb = reshape(b, tuple(v for s in sb for v in (1, s)))
    # paired after the reshape, as torch: a 0-d operand does not yield its dtype here (uint8[0] with int8[] is int16)
    ya, yb = check_pair(op, ya, yb)
    return reshape(ya * yb, tuple(x * y for x, y in zip(sa, sb)))


def cross(input, other, dim=None):  # noqa: A002
    """torch.cross: the 3-vector cross product along `dim` (default: input's first dim of size 3);
    y = (a1 b2 - a2 b1, a2 b0 - a0 b2, a0 b1 - a1 b0), input and other broadcast together."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('cross', cross, input=input, other=other, dim=dim)
    op = "cross"
    _tensors(op, input=input, other=other)
    a, b = check_pair(op, input, other)
    if a.data.dtype.kind == "b":  # (a1 * b2 - a2 * b1 has no bool meaning; torch refuses too)
        raise TypeError(f"{op}: not implemented for bool tensors ({describe(input)} and {describe(other)}), as in torch")
    try:
        shape = np.broadcast_shapes(a.data.shape, b.data.shape)
    except ValueError:
        raise ValueError(f"{op}: {describe(input)} and {describe(other)} do not broadcast together") from None
    if dim is None:  # torch.cross's legacy default (torch.linalg.cross uses -1)
        dim = next((i for i, s in enumerate(a.data.shape) if s == 3), None)
        if dim is None:
            raise ValueError(f"{op}: no dimension of size 3 in input {describe(input)}; pass dim=")
        dim = dim - a.data.ndim  # counted from the end, so it names the same dim after broadcasting
    d = normalize_axis(op, dim, len(shape))
    for name, t in (("input", a), ("other", b)):
        k = d - (len(shape) - t.data.ndim)
        if k < 0 or t.data.shape[k] != 3:
            raise ValueError(f"{op}: {name} {describe(t)} must have size 3 in dimension {d} of the broadcast shape "
                             f"{tuple(shape)}")
    a, b = expand(a, shape), expand(b, shape)
    a0, a1, a2 = (select(a, d, i) for i in range(3))
    b0, b1, b2 = (select(b, d, i) for i in range(3))
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim=d)


# ---------------------------------------------------------------- distances
def _pairwise_norms(xp, x1, x2, p):
    """(y, u): the differences u[.., i, j, :] = x1[.., i, :] - x2[.., j, :] and their p-norms y[.., i, j]."""
    u = x1[..., :, None, :] - x2[..., None, :, :]
    a = xp.abs(u)
    if p == 0:
        y = (u != 0).sum(axis=-1).astype(x1.dtype)
    elif p == 1:
        y = a.sum(axis=-1)
    elif p == math.inf:
        y = a.max(axis=-1) if u.shape[-1] else xp.zeros(u.shape[:-1], dtype=x1.dtype)
    else:  # scaled by the largest |u_k| so that |u|^p cannot overflow (float32 1e30 apart is 1e30, as torch)
        m = a.max(axis=-1, keepdims=True) if u.shape[-1] else xp.zeros(u.shape[:-1] + (1,), dtype=x1.dtype)
        s = xp.where(xp.isfinite(m) & (m > 0), m, 1).astype(x1.dtype, copy=False)
        y = s[..., 0] * (xp.sqrt(((a / s) ** 2).sum(axis=-1)) if p == 2 else
                         ((a / s) ** p).sum(axis=-1) ** (1.0 / p))
    return y, u


def _pairwise_norms_grad(xp, g, u, y, p):
    """dL/du from dL/dy = g, for the norms y of the differences u (see Cdist)."""
    if p == 0:
        return xp.zeros_like(u)
    if p == 1:
        return xp.sign(u) * g[..., None]
    if p == math.inf:
        return xp.sign(u) * (xp.abs(u) == y[..., None]) * g[..., None]
    pos = y != 0  # (not y > 0: a NaN distance must give a NaN gradient, as torch, not a silent 0)
    safe_y = xp.where(pos, y, 1)[..., None]  # no 0/0 where the distance is 0
    if p == 2:
        gu = u / safe_y
    else:
        a = xp.abs(u)
        nz = a != 0  # |u|^(p-1) is infinite at u = 0 when p < 1; sign(u) = 0 there wins, as in torch (NaN stays)
        gu = xp.where(nz, xp.sign(u) * (xp.where(nz, a, 1) / safe_y) ** (p - 1), 0)
    return gu * (g * pos)[..., None]


class Cdist(Function):
    """y[.., i, j] = ||x1[.., i, :] - x2[.., j, :]||_p;  with u = x1_i - x2_j: dy/du = sign(u) |u|^(p-1) / y^(p-1)

    (p = 2: u / y; p = 1: sign(u); p = inf: sign(u) where |u| reaches the max; p = 0 counts
    nonzeros and has gradient 0.) Where y = 0 the gradient is 0, as in torch. dx1 sums dy/du
    over j, dx2 is minus its sum over i. The differences are formed explicitly, (.., P, R, M).
    """

    @staticmethod
    def forward(ctx, x1, x2, p):
        with _quiet():  # inf - inf = NaN and overflow to inf are the answers there, silently, as torch
            y, u = _pairwise_norms(get_xp(x1), x1, x2, p)
        y = c_order(y)  # (a permuted x1 lays NumPy's result out like it; torch's is C order)
        ctx.p = p
        ctx.save_for_backward(u, y)
        return y

    @staticmethod
    def backward(ctx, g):
        u, y = ctx.saved
        na, nb = ctx.needs_input_grad[:2]
        with _quiet():  # inf / inf, 0 * inf and inf - inf at infinite differences give NaN, silently, as torch
            gu = _pairwise_norms_grad(get_xp(u), g, u, y, ctx.p)
            return (gu.sum(axis=-2) if na else None), (-gu.sum(axis=-3) if nb else None)


def cdist(x1, x2, p=2.0, compute_mode=None):
    """torch.cdist: the p-norm distance between each row of x1 (.., P, M) and each row of x2 (.., R, M) -> (.., P, R).

    Batch dims broadcast. p >= 0 (0, 1, 2, inf and any other positive p). `compute_mode` is
    accepted for torch compatibility; the distances are always formed from the differences
    (torch's matrix-product shortcut for p = 2 trades accuracy for speed).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('cdist', cdist, x1=x1, x2=x2, p=p, compute_mode=compute_mode)
    op = "cdist"
    _tensors(op, x1=x1, x2=x2)
    for name, t in (("x1", x1), ("x2", x2)):
        if t.data.ndim < 2:
            raise ValueError(f"{op}: {name} must have at least 2 dimensions (rows, features), got {describe(t)}")
        if t.data.dtype.kind != "f":
            raise TypeError(f"{op}: only floating-point tensors are supported, {name} is {describe(t)}")
    _same_kind(op, x1, x2)
    if x1.data.shape[-1] != x2.data.shape[-1]:
        raise ValueError(f"{op}: x1 {describe(x1)} and x2 {describe(x2)} must have the same number of columns")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p >= 0:
        raise ValueError(f"{op}: p must be a non-negative number, got {p!r}")
    if compute_mode not in (None, "use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                            "donot_use_mm_for_euclid_dist"):
        raise ValueError(f"{op}: unknown compute_mode {compute_mode!r}")
    try:
        np.broadcast_shapes(x1.data.shape[:-2], x2.data.shape[:-2])
    except ValueError:
        raise ValueError(f"{op}: batch dimensions of {describe(x1)} and {describe(x2)} do not broadcast") from None
    return Cdist.apply(x1, x2, p=float(p))


def dist(input, other, p=2.0):  # noqa: A002
    """torch.dist: ||input - other||_p over all elements (they broadcast);  gradient 0 where the distance is 0."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('dist', dist, input=input, other=other, p=p)
    op = "dist"
    _tensors(op, input=input, other=other)
    a, b = check_pair(op, input, other)  # (an integer tensor meets a float one as float, as torch)
    if a.data.dtype.kind != "f":
        raise TypeError(f"{op}: only floating-point tensors are supported, got {describe(input)} and "
                        f"{describe(other)}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p >= 0:
        raise ValueError(f"{op}: p must be a non-negative number, got {p!r}")
    try:
        u = reshape(a - b, (1, -1))
    except ValueError:
        raise ValueError(f"{op}: {describe(input)} and {describe(other)} do not broadcast together") from None
    zero = _wrap(get_xp(u.data).zeros(u.data.shape, dtype=u.data.dtype))
    return reshape(Cdist.apply(u, zero, p=float(p)), ())  # one row against the origin


# ---------------------------------------------------------------- building matrices
def _result_dtype(op, tensors):
    """torch.result_type of several tensors: the promoted dtype of those with dims, unless the 0-d ones are of
    a higher category (bool < integer < float); so a 0-d int32 beside a uint8 vector yields (found by fuzzing)."""
    def promote(ts):
        floats = {t.data.dtype for t in ts if t.data.dtype.kind == "f"}
        if len(floats) > 1:
            f = [t for t in ts if t.data.dtype.kind == "f"]
            raise TypeError(f"{op}: dtype mismatch among {', '.join(describe(t) for t in f)}; convert with .float() "
                            "or .double() (minigrad never upcasts float32 silently)")
        return floats.pop() if floats else np.result_type(*[t.data.dtype for t in ts])

    def category(dt):
        return 0 if dt.kind == "b" else 2 if dt.kind == "f" else 1

    shaped, scalars = [t for t in tensors if t.data.ndim], [t for t in tensors if not t.data.ndim]
    if not shaped or not scalars:
        return promote(shaped or scalars)
    dim_dt, zero_dt = promote(shaped), promote(scalars)
    return zero_dt if category(zero_dt) > category(dim_dt) else dim_dt


def block_diag(*tensors):
    """torch.block_diag: the tensors (0-, 1- or 2-D, read as matrices) along the diagonal of one matrix, zeros elsewhere."""
    op = "block_diag"
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: argument {k} must be a Tensor, got {type(t).__name__}")
        if t.data.ndim > 2:
            raise ValueError(f"{op}: input tensors must have 2 or fewer dimensions; input {k} is {describe(t)}")
    if not tensors:
        return _wrap(np.zeros((1, 0), dtype=_B.get_default_dtype()))
    dtype = _result_dtype(op, tensors)
    mats = [reshape(t if t.data.dtype == dtype else t.to(dtype), (1, -1) if t.data.ndim == 1 else (1, 1)
                    if t.data.ndim == 0 else t.data.shape) for t in tensors]
    width = sum(m.data.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:  # each block padded with zeros to the full width, then the blocks stacked as rows
        w = m.data.shape[1]
        rows.append(pad(m, (left, width - left - w)))
        left += w
    return cat(rows, dim=0)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):  # noqa: A002
    """torch.diag_embed: the last dim of input on diagonal `offset` of new (dim1, dim2) planes; zeros elsewhere.

    Each vector is index_copy'd into a flat zero (m*m) row at the positions row*m + col of
    its diagonal, so the gradient reads dy's diagonal back.
    """
    op = "diag_embed"
    _tensors(op, input=input)
    if isinstance(offset, bool) or not isinstance(offset, numbers.Integral):
        raise TypeError(f"{op}: offset must be an int, got {offset!r}")
    if input.data.ndim == 0:
        raise ValueError(f"{op}: input must have at least 1 dimension, got {describe(input)}")
    nd = input.data.ndim + 1
    d1, d2 = normalize_axis(op, dim1, nd), normalize_axis(op, dim2, nd)
    if d1 == d2:
        raise ValueError(f"{op}: diagonal dimensions cannot be identical, got dim1={dim1}, dim2={dim2}")
    n = input.data.shape[-1]
    k = int(offset)
    m = n + abs(k)
    xp = get_xp(input.data)
    i = xp.arange(n, dtype=np.int64)
    positions = _wrap((i + max(-k, 0)) * m + (i + max(k, 0)))
    zeros = _wrap(xp.zeros(input.data.shape[:-1] + (m * m,), dtype=input.data.dtype))
    planes = reshape(index_copy(zeros, -1, positions, input), input.data.shape[:-1] + (m, m))
    return movedim(planes, (-2, -1), (d1, d2))


def diagflat(input, offset=0):  # noqa: A002
    """torch.diagflat: the flattened input on diagonal `offset` of a square matrix."""
    _tensors("diagflat", input=input)
    return diag(reshape(input, (-1,)), offset)


def cartesian_prod(*tensors):
    """torch.cartesian_prod: every combination of one element from each 1-D tensor, as rows (N, k)."""
    op = "cartesian_prod"
    if not tensors:
        raise ValueError(f"{op}: expects at least one tensor")
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: argument {k} must be a Tensor, got {type(t).__name__}")
        if t.data.ndim != 1:
            raise ValueError(f"{op}: expects 1-D tensors, argument {k} is {describe(t)}")
    _same_kind(op, *tensors)
    if len(tensors) == 1:
        return tensors[0]
    shape = tuple(t.data.shape[0] for t in tensors)
    k = len(tensors)
    grids = [expand(reshape(t, tuple(-1 if j == i else 1 for j in range(k))), shape) for i, t in enumerate(tensors)]
    return reshape(stack(grids, dim=-1), (-1, k))


def matrix_power(input, n):  # noqa: A002
    """torch.matrix_power: A^n for square (.., m, m) A by repeated squaring (A^0 = I, gradient 0; n < 0: inv(A)^-n)."""
    op = "matrix_power"
    _tensors(op, input=input)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{op}: n must be an int, got {n!r}")
    if input.data.ndim < 2 or input.data.shape[-1] != input.data.shape[-2]:
        raise ValueError(f"{op}: input must be a (batch of) square matrices, got {describe(input)}")
    if n not in (0, 1):
        _no_bool(op, input)
    if n < 0:  # A^-n = inv(A)^n (LinAlgError for a singular A, as torch)
        from .linalg_ext import _inv_named  # (imported late: linalg_ext uses this module's neighbours)

        input, n = _inv_named(input, op), -n  # noqa: A001
    if n == 0:  # the identity, still connected to input (with gradient 0), as torch
        xp = get_xp(input.data)
        eye = _wrap(xp.broadcast_to(xp.eye(input.data.shape[-1], dtype=input.data.dtype), input.data.shape))
        return where(_wrap(xp.ones((), dtype=bool)), eye, input)
    result, square = None, input
    n = int(n)
    while n:
        if n & 1:
            result = square if result is None else matmul(result, square)
        n >>= 1
        if n:
            square = matmul(square, square)
    return clone(result) if result is input else result
