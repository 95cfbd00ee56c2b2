"""Matrix products: matmul (NumPy's batched-broadcast semantics, 1-D cases included) and linear."""
from __future__ import annotations

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import c_order, check_pair, describe, to_tensor
from .shape import getitem, permute
from .. import amp as _amp

get_xp = _B.get_array_module
np = _B.np  # shape bookkeeping only


def _rows_at(x, m):
    """x @ m for a 2-D m, with all of x's leading dims as the rows of ONE matrix product.

    NumPy's matmul of a (B, T, K) array by a (K, N) matrix runs B separate products; one
    (B*T, K) @ (K, N) product is about twice as fast (a copy first when x is not contiguous).
    """
    if x.ndim <= 2:
        return x @ m
    rows = int(np.prod(x.shape[:-1]))  # (not -1: it is ambiguous when a size is 0)
    return (x.reshape(rows, x.shape[-1]) @ m).reshape(x.shape[:-1] + (m.shape[-1],))


class MatMul(Function):
    """Y = A @ B;  dA = dY @ B^T, dB = A^T @ dY (1-D operands get a unit dim added, then removed)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _rows_at(a, b) if b.ndim == 2 else a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:  # dot product: y = a . b
            return (g * b if na else None), (g * a if nb else None)
        if a.ndim >= 2 and b.ndim == 2:  # (..., K) @ (K, N): the common cases, as one product each
            ga = _rows_at(g, b.T) if na else None
            rows = int(np.prod(a.shape[:-1]))
            gb = a.reshape(rows, a.shape[-1]).T @ g.reshape(rows, g.shape[-1]) if nb else None  # summed over rows
            return ga, gb
        # General case: make both operands (at least) 2-D, as matmul does internally.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1:
            g = g[..., None, :]
        if b.ndim == 1:
            g = g[..., None]
        ga = gb = None
        if na:
            # An inner size of 1 makes the product an outer product: broadcasting is exact and
            # several times faster than NumPy's batched matmul with k = 1.
            bt = b2.swapaxes(-1, -2)
            ga = g * bt if g.shape[-1] == 1 else g @ bt  # batch dims summed back to a's by the engine
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if nb:
            at = a2.swapaxes(-1, -2)
            gb = at * g if g.shape[-2] == 1 else at @ g
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


class Linear(Function):
    """y = x W^T + b;  dx = dy W, dW = dy^T x, db = sum of dy over all but the last dim"""

    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w)
        y = _rows_at(x, w.T)
        if b is not None:
            y += b  # y is a fresh array: in place is safe and saves a temporary
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        need = ctx.needs_input_grad
        gx = _rows_at(g, w) if need[0] else None
        gw = gb = None
        if x.ndim == 1:
            if need[1]:
                gw = get_xp(g).outer(g, x)
            gb = g
        else:
            rows = int(np.prod(g.shape[:-1]))  # (not -1: it is ambiguous when a size is 0)
            g2 = g.reshape(rows, g.shape[-1])
            if need[1]:
                gw = g2.T @ x.reshape(rows, x.shape[-1])
            if len(need) > 2 and need[2]:
                gb = g2.sum(axis=0)
        return (gx, gw, gb) if len(need) > 2 else (gx, gw)


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading dims broadcast."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('matmul', matmul, a=a, b=b)
    a = to_tensor(a, b if isinstance(b, Tensor) else None, "matmul")
    b = to_tensor(b, a, "matmul")
    a, b = check_pair("matmul", a, b)
    sa, sb = a.data.shape, b.data.shape
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got {describe(a)} and {describe(b)}; "
                         "use * to multiply by a scalar")
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: inner dimensions differ: {describe(a)} @ {describe(b)} "
                         f"({k_a} != {k_b})")
    if len(sa) > 2 or len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions {sa[:-2]} and {sb[:-2]} do not broadcast "
                             f"({describe(a)} @ {describe(b)})") from None
    return MatMul.apply(a, b)


def mm(a, b):
    """torch.mm: the product of two matrices (both 2-D; no broadcasting)."""
    for name, t in (("first", a), ("second", b)):
        if not isinstance(t, Tensor) or t.data.ndim != 2:
            got = describe(t) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"mm: expected 2-D tensors, the {name} operand is {got}; use matmul for other shapes")
    if a.data.shape[1] != b.data.shape[0]:  # checked here so the message names mm, not matmul
        raise ValueError(f"mm: inner dimensions differ: {describe(a)} @ {describe(b)} "
                         f"({a.data.shape[1]} != {b.data.shape[0]})")
    return matmul(a, b)


def bmm(a, b):
    """torch.bmm: batched matrix products, (B, n, m) @ (B, m, p) -> (B, n, p) (no broadcasting)."""
    for name, t in (("first", a), ("second", b)):
        if not isinstance(t, Tensor) or t.data.ndim != 3:
            got = describe(t) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"bmm: expected 3-D tensors (batch, n, m), the {name} operand is {got}")
    if a.data.shape[0] != b.data.shape[0]:
        raise ValueError(f"bmm: batch sizes differ: {describe(a)} and {describe(b)} (bmm does not broadcast)")
    if a.data.shape[2] != b.data.shape[1]:
        raise ValueError(f"bmm: inner dimensions differ: {describe(a)} @ {describe(b)} "
                         f"({a.data.shape[2]} != {b.data.shape[1]})")
    return matmul(a, b)


def linear(x, weight, bias=None):
    """y = x @ weight.T + bias, with weight of shape (out_features, in_features) as in torch."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('linear', linear, x=x, weight=weight, bias=bias)
    if weight.data.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got {describe(weight)}")
    if x.data.ndim == 0 or x.data.shape[-1] != weight.data.shape[1]:
        raise ValueError(f"linear: input {describe(x)} has {x.data.shape[-1] if x.data.ndim else 'no'} features "
                         f"in its last dim, but weight {describe(weight)} expects {weight.data.shape[1]}")
    x, weight = check_pair("linear", x, weight)
    if bias is None:
        return Linear.apply(x, weight)
    if bias.data.shape != (weight.data.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.data.shape[0]},), got {describe(bias)}")
    _, bias = check_pair("linear", x, bias)
    return Linear.apply(x, weight, bias)


class Einsum(Function):
    """y = einsum(ins -> out, *xs);  dx_k = einsum(out, the other operands -> x_k's letters), spread over x_k's own sums

    The gradient of a sum of products with respect to one factor is the same sum with
    that factor replaced by dy: "ij,jk->ik" gives dA = einsum("ik,jk->ij", dY, B).
    A letter that only x_k has and the output lacks (summed inside x_k, e.g. j in
    "ij->i") is absent from that product; dy does not depend on it, so the result is
    broadcast along it.
    """

    @staticmethod
    def forward(ctx, *arrays, ins, out):
        ctx.ins, ctx.out = ins, out
        ctx.save_for_backward(*arrays)
        y = get_xp(arrays[0]).einsum(",".join(ins) + "->" + out, *arrays, optimize=len(arrays) > 1)
        if len(arrays) == 1 and y.base is not None and (y.base is arrays[0] or y.base is arrays[0].base):
            y = y.copy()  # 'ij->ji' or 'ii->i' of one operand is a NumPy view: own memory, as torch's result
        return c_order(y)  # (NumPy may lay the result out like a permuted operand; torch's is C order)

    @staticmethod
    def backward(ctx, g):
        xp = get_xp(g)
        arrays, ins, out = ctx.saved, ctx.ins, ctx.out
        grads = []
        for k, (sub, x) in enumerate(zip(ins, arrays)):
            if not ctx.needs_input_grad[k]:
                grads.append(None)
                continue
            others = [j for j in range(len(ins)) if j != k]
            keep = "".join(c for c in sub if c in out or any(c in ins[j] for j in others))
            spec = ",".join([out] + [ins[j] for j in others]) + "->" + keep
            gk = xp.einsum(spec, g, *[arrays[j] for j in others], optimize=len(others) > 0)
            # back to x's letters: size-1 axes for the letters dropped above, then broadcast to
            # x's shape (a letter x has with size 1 while others have n stays n: the engine sums it)
            gk = gk.reshape([gk.shape[keep.index(c)] if c in keep else 1 for c in sub])
            full = tuple(max(a, b) for a, b in zip(gk.shape, x.shape))
            grads.append(gk if gk.shape == full else xp.ascontiguousarray(xp.broadcast_to(gk, full)))
        return tuple(grads)


def einsum(equation, *operands):
    """torch.einsum / numpy.einsum: sums of products named by subscripts, e.g. "bij,bjk->bik".

    Letters name dimensions; a letter in several operands is multiplied along, and one
    missing from the output is summed over. Without "->" the output is every letter that
    appears once, in alphabetical order. "..." stands for leading dimensions (broadcast
    across operands). Operands may also come as one list: einsum("ij,jk", [a, b]).
    A letter repeated inside one operand takes that operand's diagonal ("ii->i", "ii" the trace).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('einsum', einsum, equation, *operands)
    op = "einsum"
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"{op}: the first argument must be the equation string, got {type(equation).__name__}")
    if not operands:
        raise ValueError(f"{op}: needs at least one operand")
    for k, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: operand {k} must be a Tensor, got {type(t).__name__}")
    # one dtype and device for all (check_pair's rules: ints take the float dtype, two floats must agree)
    ref = next((t for t in operands if t.data.dtype.kind == "f"), operands[0])
    operands = tuple(check_pair(op, ref, t)[1] for t in operands)
    ins, out = _einsum_subscripts(op, equation, [t.data.shape for t in operands])
    operands, ins = zip(*[_diagonals(op, equation, k, t, sub) for k, (t, sub) in enumerate(zip(operands, ins))])
    sizes = {}
    for k, (sub, t) in enumerate(zip(ins, operands)):
        for c, n in zip(sub, t.data.shape):
            m = sizes.setdefault(c, n)
            if n != m and 1 not in (n, m):  # same letter: same size, or 1 (broadcast)
                raise ValueError(f"{op}: '{c}' has size {m} in one operand and {n} in operand {k} "
                                 f"({equation!r} with {', '.join(describe(t) for t in operands)})")
            if m == 1:
                sizes[c] = n
    return Einsum.apply(*operands, ins=tuple(ins), out=out)


def _diagonals(op, equation, k, t, sub):
    """(tensor, letters) of operand k with each letter it repeats reduced to the diagonal over those dims.

    The repeated dims are moved to the front and indexed with one shared arange: a gather,
    so its gradient lands back on the diagonal (GetItem's backward).
    """
    while True:
        rep = next((c for c in sub if sub.count(c) > 1), None)
        if rep is None:
            return t, sub
        where = [i for i, c in enumerate(sub) if c == rep]
        sizes = sorted({t.data.shape[i] for i in where})
        if len(sizes) > 1:
            raise ValueError(f"{op}: operand {k} repeats {rep!r} in {equation!r} over dimensions of different "
                             f"sizes {sizes} ({describe(t)}); a diagonal needs equal sizes")
        rest = [i for i in range(len(sub)) if i not in where]
        diag = _wrap(get_xp(t.data).arange(sizes[0]))
        t = getitem(permute(t, where + rest), (diag,) * len(where))
        sub = rep + "".join(sub[i] for i in rest)


def _einsum_subscripts(op, equation, shapes):
    """(per-operand letters, output letters) with "..." spelt out as spare letters and "->" made explicit."""
    import string

    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    if "->" in out:
        raise ValueError(f"{op}: the equation {equation!r} has more than one '->'")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"{op}: the equation {equation!r} names {len(ins)} operand(s), got {len(shapes)}")
    for part in ins + [out]:
        letters = part.replace("...", "", 1)
        if not all(c in string.ascii_letters for c in letters):
            raise ValueError(f"{op}: subscripts must be letters with at most one '...' each, got {part!r} "
                             f"in {equation!r}")
    spare = [c for c in string.ascii_letters if c not in eq]
    n_ell = 0
    for sub, shape in zip(ins, shapes):
        named = len(sub.replace("...", ""))
        if ("..." in sub and named > len(shape)) or ("..." not in sub and named != len(shape)):
            raise ValueError(f"{op}: subscripts {sub!r} do not fit an operand with {len(shape)} dimension(s) "
                             f"{tuple(shape)} in {equation!r}")
        if "..." in sub:
            n_ell = max(n_ell, len(shape) - named)
    ell = "".join(spare[:n_ell])
    ins = [sub.replace("...", ell[n_ell - (len(shape) - len(sub) + 3):]) if "..." in sub else sub
           for sub, shape in zip(ins, shapes)]
    if arrow:
        out = out.replace("...", ell)
        missing = [c for c in out if not any(c in sub for sub in ins)]
        if missing or len(set(out)) != len(out):
            raise ValueError(f"{op}: the output {out!r} of {equation!r} must name distinct letters of the inputs")
    else:  # implicit: "..." first, then the letters that appear once, alphabetically
        once = [c for c in sorted(set("".join(ins))) if "".join(ins).count(c) == 1 and c not in ell]
        out = ell + "".join(once)
    return ins, out
