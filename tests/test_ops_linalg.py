"""matmul (1-D and batched broadcasting cases, NumPy's rules), F.linear (1-D/2-D/3-D input, +-bias)
and einsum (generated equations: implicit and explicit output, "...", size-1 broadcasting).

Values against NumPy, gradients against float64 finite differences, float32
kept float32, inputs never written.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad.ops.linalg import Einsum, Linear, MatMul
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [MatMul, Linear, Einsum]


MATMUL_CASES = [
    ((3,), (3,)),              # dot product -> 0-d
    ((3,), (3, 2)),            # vector @ matrix
    ((2, 3), (3,)),            # matrix @ vector
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((4,), (2, 4, 3)),         # vector @ batch
    ((2, 5, 4), (4,)),         # batch @ vector
    ((2, 1, 3, 4), (5, 4, 2)),  # batch dims broadcast: (2,1) with (5,) -> (2,5)
    ((3, 4), (2, 4, 2)),       # a matrix meets a batch
    ((2, 2, 3), (3, 1)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_CASES)
def test_matmul_cases(device, sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    check_op(lambda x, y: x @ y, np.matmul, [a, b], device)
    check_op(mg.matmul, np.matmul, [a, b], device)
    check_op(lambda x, y: x.matmul(y), np.matmul, [a, b], device)


@st.composite
def matmul_shapes(draw):
    """Operand shapes for matmul: broadcastable batch dims (size-1 dims included), 1-D operands sometimes."""
    batch_a, batch_b = draw(mst.broadcastable_shapes(2, max_dims=2, max_side=3))
    m, k, n = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sa = (k,) if draw(st.integers(0, 4)) == 0 else batch_a + (m, k)
    sb = (k,) if draw(st.integers(0, 4)) == 0 else batch_b + (k, n)
    return sa, sb


@given(data=st.data(), shapes=matmul_shapes())
def test_matmul_property(device, data, shapes):
    sa, sb = shapes
    check_op(lambda x, y: x @ y, np.matmul, [draw_array(data, sa, device), draw_array(data, sb, device)], device)


def test_matmul_with_constant_operand(device):
    """Only the operand that requires grad gets one; array operands on either side work."""
    w = mg.tensor(np.arange(6.0).reshape(3, 2), dtype="float32", device=device, requires_grad=True)
    c = np.ones((2, 3), dtype=np.float32)
    y = c @ w  # ndarray @ Tensor -> Tensor.__rmatmul__
    assert isinstance(y, mg.Tensor) and y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 2), 2.0))


@pytest.mark.parametrize("xshape", [(3,), (4, 3), (2, 4, 3), (1, 1, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(device, xshape, bias):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal(xshape), rng.standard_normal((5, 3)), rng.standard_normal(5)
    if bias:
        check_op(lambda x, w, b: F.linear(x, w, b), lambda x, w, b: x @ w.T + b, [x, w, b], device)
    else:
        check_op(lambda x, w: F.linear(x, w), lambda x, w: x @ w.T, [x, w], device)


@given(data=st.data(), lead=mst.shapes(max_dims=2, max_side=3), fin=st.integers(1, 4), fout=st.integers(1, 4),
       bias=st.booleans())
def test_linear_property(device, data, lead, fin, fout, bias):
    x = draw_array(data, lead + (fin,), device)
    w = draw_array(data, (fout, fin), device)
    if bias:
        b = draw_array(data, (fout,), device)
        check_op(F.linear, lambda x, w, b: x @ w.T + b, [x, w, b], device)
    else:
        check_op(F.linear, lambda x, w: x @ w.T, [x, w], device)


def test_linear_matches_matmul_composition(device):
    rng = np.random.default_rng(4)
    x = mg.tensor(rng.standard_normal((2, 3, 4)), device=device, requires_grad=True)
    w = mg.tensor(rng.standard_normal((5, 4)), device=device, requires_grad=True)
    b = mg.tensor(rng.standard_normal(5), device=device, requires_grad=True)
    F.linear(x, w, b).tanh().sum().backward()
    grads = [t.grad.numpy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    (x @ w.T + b).tanh().sum().backward()
    for t, g in zip((x, w, b), grads):
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-12, atol=1e-12)


@given(data=st.data(), n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), b=st.integers(1, 3))
def test_mm_bmm_t(device, data, n, k, m, b):
    x, y = draw_array(data, (n, k), device), draw_array(data, (k, m), device)
    check_op(lambda p, q: mg.mm(p, q), lambda p, q: p @ q, [x, y], device)
    check_op(lambda p, q: p.mm(q), lambda p, q: p @ q, [x, y], device)
    check_op(lambda p: p.t(), lambda p: p.T, [x], device)
    bx, by = draw_array(data, (b, n, k), device), draw_array(data, (b, k, m), device)
    check_op(lambda p, q: mg.bmm(p, q), lambda p, q: p @ q, [bx, by], device)
    check_op(lambda p, q: p.bmm(q), lambda p, q: p @ q, [bx, by], device)


def test_mm_bmm_t_refuse_other_shapes(device):
    a, v, c = mg.ones(2, 3, device=device), mg.ones(3, device=device), mg.ones(2, 3, 4, device=device)
    with pytest.raises(ValueError, match=r"mm: expected 2-D tensors, the second operand is float32\[3\]"):
        mg.mm(a, v)
    with pytest.raises(ValueError, match=r"bmm: expected 3-D tensors \(batch, n, m\), the first operand is float32\[2, 3\]"):
        mg.bmm(a, c)
    with pytest.raises(ValueError, match="bmm: batch sizes differ"):
        mg.bmm(c, mg.ones(1, 4, 2, device=device))
    with pytest.raises(ValueError, match="t: expects a tensor with at most 2 dimensions"):
        c.t()
    assert v.t() is v and mg.t(a).shape == (3, 2)


# ---------------------------------------------------------------- einsum
@st.composite
def einsum_case(draw):
    """(equation, NumPy's equation, shapes): 1-3 operands over letters of both cases (sometimes repeated
    inside an operand: a diagonal), sizes 1-3 (some dims size 1 to broadcast), optionally a "..." of up to
    2 dims per operand, implicit or explicit output.

    torch sums the "..." dims that an explicit output leaves out; NumPy refuses, so its equation
    spells "..." out as the letters "xy" (right-aligned, as "..." aligns) in that case.
    """
    letters = "abcD"
    size = {c: draw(st.integers(1, 3)) for c in letters}
    n = draw(st.integers(1, 3))
    subs = [draw(st.lists(st.sampled_from(letters), unique=draw(st.booleans()), max_size=3)) for _ in range(n)]
    # a letter repeated inside one operand (a diagonal) keeps its full size; others may broadcast from 1
    shapes = [[size[c] if sub.count(c) > 1 or draw(st.integers(0, 3)) else 1 for c in sub] for sub in subs]
    ell = draw(st.lists(st.integers(1, 3), max_size=2)) if draw(st.booleans()) else None
    parts, spelt = [], []
    for k, sub in enumerate(subs):
        if ell is not None:
            m = draw(st.integers(0, len(ell)))
            shapes[k] = [1 if draw(st.integers(0, 3)) == 0 else s for s in ell[len(ell) - m:]] + shapes[k]
            parts.append("..." + "".join(sub))
            spelt.append("xy"[2 - m:] + "".join(sub))
        else:
            parts.append("".join(sub))
            spelt.append("".join(sub))
    equation = np_equation = ",".join(parts)
    if draw(st.booleans()):  # explicit output: some of the letters, in any order
        union = sorted(set("".join("".join(s) for s in subs)))
        out = "".join(draw(st.permutations(union))[:draw(st.integers(0, len(union)))])
        if ell is not None and draw(st.booleans()):
            equation = np_equation = equation + "->..." + out
        else:
            equation += "->" + out
            np_equation = ",".join(spelt) + "->" + out
    return equation, np_equation, [tuple(sh) for sh in shapes]


@given(data=st.data(), case=einsum_case())
def test_einsum(device, data, case):
    """Values against numpy.einsum; gradients against finite differences (check_op)."""
    equation, np_equation, shapes = case
    arrays = [draw_array(data, sh, device) for sh in shapes]
    check_op(lambda *xs: mg.einsum(equation, *xs), lambda *xs: np.einsum(np_equation, *xs), arrays, device)


@pytest.mark.parametrize("equation,shapes", [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("ij,jk", [(2, 3), (3, 4)]),                       # implicit: "ik"
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),  # batch dims broadcast
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),  # attention scores
    ("ij->", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),                          # outer product
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
    ("ii->i", [(3, 3)]),                                # diagonal
    ("ii", [(3, 3)]),                                   # implicit: the trace
    ("bii,bij->bj", [(2, 3, 3), (2, 3, 4)]),
    ("iji->j", [(2, 3, 2)]),
])
def test_einsum_torch_parity(equation, shapes):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in shapes]
    ms = [mg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    mo, to = mg.einsum(equation, *ms), torch.einsum(equation, *ts)
    np.testing.assert_allclose(mo.numpy(), to.detach().numpy(), rtol=1e-12, atol=1e-12)
    v = rng.standard_normal(tuple(to.shape))
    mo.backward(mg.tensor(v))
    to.backward(torch.tensor(v))
    for m, t in zip(ms, ts):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: mg.einsum("ii->i", mg.ones(2, 3)), ValueError,
     r"einsum: operand 0 repeats 'i' in 'ii->i' over dimensions of different sizes \[2, 3\]"),
    (lambda: mg.einsum("ij,jk->ik", mg.ones(2, 3), mg.ones(4, 2)), ValueError,
     r"einsum: 'j' has size 3 in one operand and 4 in operand 1"),
    (lambda: mg.einsum("ij->ik", mg.ones(2, 3)), ValueError, r"einsum: the output 'ik' of 'ij->ik' must name distinct"),
    (lambda: mg.einsum("ij->ii", mg.ones(2, 3)), ValueError, r"must name distinct letters"),
    (lambda: mg.einsum("ijk", mg.ones(2, 3)), ValueError, r"einsum: subscripts 'ijk' do not fit an operand with 2"),
    (lambda: mg.einsum("ij,jk", mg.ones(2, 3)), ValueError, r"einsum: the equation 'ij,jk' names 2 operand\(s\), got 1"),
    (lambda: mg.einsum("i1", mg.ones(2, 3)), ValueError, r"einsum: subscripts must be letters"),
    (lambda: mg.einsum("i->i->i", mg.ones(2)), ValueError, r"more than one '->'"),
    (lambda: mg.einsum("i,i", mg.ones(2), mg.ones(2, dtype="float64")), TypeError, r"einsum: dtype mismatch"),
    (lambda: mg.einsum("i", np.ones(2)), TypeError, r"einsum: operand 0 must be a Tensor, got ndarray"),
    (lambda: mg.einsum(mg.ones(2), "i"), TypeError, r"einsum: the first argument must be the equation string"),
])
def test_einsum_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_einsum_int_operand_takes_float_dtype():
    y = mg.einsum("i,i->", mg.tensor([1, 2]), mg.tensor([0.5, 0.25], dtype="float32"))
    assert y.dtype == np.float32 and float(y.numpy()) == 1.0


@pytest.mark.parametrize("xs,ws", [((0, 0, 0), (0, 0)), ((2, 3, 0), (4, 0)), ((0, 2, 3), (5, 3)), ((2, 0, 3), (4, 3))])
def test_linear_and_matmul_with_empty_dims(device, xs, ws):
    """(One product over all rows: the row count is computed, since reshape(-1, 0) is ambiguous.)"""
    x = mg.zeros(*xs, device=device, requires_grad=True)
    w = mg.ones(*ws, device=device, requires_grad=True)
    y = F.linear(x, w)
    assert y.shape == xs[:-1] + (ws[0],)
    y.sum().backward()
    assert x.grad.shape == xs and w.grad.shape == ws and not w.grad.numpy().any()
    z = x @ w.T
    assert z.shape == y.shape
    w.grad = None
    z.sum().backward()
    assert w.grad.shape == ws
