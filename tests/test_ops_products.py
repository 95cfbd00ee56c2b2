"""Products, matrix builders, creation and random sampling with torch's names (ops/products.py, factory.py,
Tensor's in-place initialisers).

Products: values against NumPy and gradients against float64 finite differences (check_op) over
generated shapes, torch parity of values and gradients, beta = 0 ignoring NaN, dtype rules and
errors naming the op. Creation: torch parity. Random: reproducible under mg.manual_seed, the same
on every device, and statistics of 20000 draws within 5 standard errors of the distribution's.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.products import Cdist

from opcheck import check_op, draw_array

GRADIENT_TESTED = [Cdist]

small = st.integers(1, 4)


# ---------------------------------------------------------------- products: properties
@given(data=st.data(), n=small, m=small, p=small, b=small)
def test_vector_and_matrix_products(device, data, n, m, p, b):
    """outer, dot, inner, mv and the add*-products (beta/alpha, input broadcast) against NumPy."""
    u, v, w = draw_array(data, (n,), device), draw_array(data, (m,), device), draw_array(data, (n,), device)
    A, B = draw_array(data, (n, m), device), draw_array(data, (m, p), device)
    check_op(lambda x, y: mg.outer(x, y), np.outer, [u, v], device)
    check_op(lambda x, y: x.ger(y), np.outer, [u, v], device)
    check_op(lambda x, y: mg.dot(x, y), np.dot, [u, w], device)
    check_op(lambda x, y: x.vdot(y), np.dot, [u, w], device)
    check_op(lambda x, y: mg.mv(x, y), np.dot, [A, v], device)
    check_op(lambda x, y: x.inner(y), np.inner, [A, draw_array(data, (b, p, m), device)], device)
    beta, alpha = data.draw(st.sampled_from([1, 0.5, -2.0])), data.draw(st.sampled_from([1, 3, -0.25]))
    ishape = data.draw(st.sampled_from([(n, p), (p,), (1, p), (n, 1), ()]))
    check_op(lambda i, x, y: mg.addmm(i, x, y, beta=beta, alpha=alpha), lambda i, x, y: beta * i + alpha * (x @ y),
             [draw_array(data, ishape, device), A, B], device)
    check_op(lambda i, x, y: i.addmv(x, y, beta=beta, alpha=alpha), lambda i, x, y: beta * i + alpha * (x @ y),
             [draw_array(data, (n,), device), A, v], device)
    check_op(lambda i, x, y: mg.addr(i, x, y, beta=beta, alpha=alpha),
             lambda i, x, y: beta * i + alpha * np.outer(x, y), [draw_array(data, (1, m), device), u, v], device)
    b1, b2 = draw_array(data, (b, n, m), device), draw_array(data, (b, m, p), device)
    check_op(lambda i, x, y: mg.addbmm(i, x, y, beta=beta, alpha=alpha),
             lambda i, x, y: beta * i + alpha * (x @ y).sum(0), [draw_array(data, (n, p), device), b1, b2], device)
    check_op(lambda i, x, y: i.baddbmm(x, y, beta=beta, alpha=alpha), lambda i, x, y: beta * i + alpha * (x @ y),
             [draw_array(data, (1, n, p), device), b1, b2], device)


@given(data=st.data(), sa=st.lists(small, max_size=3), sb=st.lists(small, max_size=3))
def test_tensordot_kron(device, data, sa, sb):
    a = draw_array(data, tuple(sa), device)
    # contract k dims: a's last k with b's first k (ints), or a permuted pairing given as lists
    k = data.draw(st.integers(0, len(sa)))
    shared = tuple(sa[len(sa) - k:])
    b = draw_array(data, shared + tuple(sb), device)
    check_op(lambda x, y: mg.tensordot(x, y, k), lambda x, y: np.tensordot(x, y, k), [a, b], device)
    perm = data.draw(st.permutations(range(k)))
    da = [len(sa) - k + i for i in perm]
    db = [i - b.ndim if data.draw(st.booleans()) else i for i in perm]  # negative dims too
    check_op(lambda x, y: mg.tensordot(x, y, (da, db)), lambda x, y: np.tensordot(x, y, (da, [d % b.ndim for d in db])),
             [a, b], device)
    c = draw_array(data, tuple(sb), device)
    check_op(lambda x, y: mg.kron(x, y), np.kron, [a, c], device)


@given(data=st.data(), shape=st.lists(small, max_size=2))
def test_cross(device, data, shape):
    d = data.draw(st.integers(0, len(shape)))
    full = tuple(shape[:d]) + (3,) + tuple(shape[d:])
    other = tuple(1 if data.draw(st.booleans()) else s for s in full)
    other = other[:d] + (3,) + other[d + 1:]
    a, b = draw_array(data, full, device), draw_array(data, other, device)
    check_op(lambda x, y: mg.cross(x, y, dim=d), lambda x, y: np.cross(x, y, axis=d), [a, b], device)
    check_op(lambda x, y: x.cross(y, dim=d - len(full)), lambda x, y: np.cross(x, y, axis=d), [a, b], device)


def _np_cdist(x, y, p):
    u = np.abs(x[..., :, None, :] - y[..., None, :, :])
    return u.max(-1) if p == math.inf else (u ** p).sum(-1) ** (1 / p)


@given(data=st.data(), P=small, R=small, M=small, batch=st.sampled_from([(), (2,), (2, 1)]))
def test_cdist_dist(device, data, P, R, M, batch):
    """x1's values in [-3, -0.5], x2's in [0.5, 3]: every difference is away from 0 (no kinks)."""
    p = data.draw(st.sampled_from([1.0, 2.0, 3.0, 0.5]))
    x1 = draw_array(data, batch + (P, M), device, min_value=-3.0, max_value=-0.5)
    x2 = draw_array(data, (R, M), device, min_value=0.5, max_value=3.0)
    check_op(lambda a, b: mg.cdist(a, b, p), lambda a, b: _np_cdist(a, b, p), [x1, x2], device)
    check_op(lambda a, b: mg.dist(a, b, p), lambda a, b: (np.abs(a - b) ** p).sum() ** (1 / p), [x1, x2[:1]], device)


@given(data=st.data(), shapes=st.lists(st.lists(small, max_size=2), min_size=1, max_size=3))
def test_block_diag_diag_embed_diagflat(device, data, shapes):
    arrays = [draw_array(data, tuple(s), device) for s in shapes]

    def ref(*xs):
        mats = [np.atleast_2d(x) for x in xs]
        out = np.zeros((sum(m.shape[0] for m in mats), sum(m.shape[1] for m in mats)))
        r = c = 0
        for m in mats:
            out[r:r + m.shape[0], c:c + m.shape[1]] = m
            r, c = r + m.shape[0], c + m.shape[1]
        return out

    check_op(lambda *xs: mg.block_diag(*xs), ref, arrays, device, exact=True)
    a = draw_array(data, tuple(shapes[0]) + (data.draw(small),), device)
    k = data.draw(st.integers(-2, 2))
    nd = a.ndim + 1
    d1 = data.draw(st.integers(-nd, nd - 1))
    d2 = data.draw(st.integers(-nd, nd - 1).filter(lambda d: d % nd != d1 % nd))

    def embed(x):
        n = x.shape[-1] + abs(k)
        out = np.zeros(x.shape[:-1] + (n, n))
        i = np.arange(x.shape[-1])
        out[..., i + max(-k, 0), i + max(k, 0)] = x
        return np.moveaxis(out, (-2, -1), (d1, d2))

    check_op(lambda x: mg.diag_embed(x, k, d1, d2), embed, [a], device, exact=True)
    check_op(lambda x: x.diagflat(k), lambda x: np.diagflat(x, k), [a], device, exact=True)


@given(data=st.data(), sizes=st.lists(small, min_size=1, max_size=3), m=small, n=st.integers(0, 5))
def test_cartesian_prod_matrix_power(device, data, sizes, m, n):
    arrays = [draw_array(data, (s,), device) for s in sizes]

    def ref(*xs):
        if len(xs) == 1:
            return xs[0]
        return np.stack(np.meshgrid(*xs, indexing="ij"), -1).reshape(-1, len(xs))

    check_op(lambda *xs: mg.cartesian_prod(*xs), ref, arrays, device, exact=True)
    a = draw_array(data, (2, m, m), device, min_value=-1.0, max_value=1.0)
    check_op(lambda x: x.matrix_power(n), lambda x: np.linalg.matrix_power(x, n), [a], device, f32_tol=1e-4)


# ---------------------------------------------------------------- products: torch parity
CASES = {  # name: (minigrad call, torch function, its keywords, input shapes)
    "outer": (lambda a, b: a.outer(b), "outer", {}, [(3,), (4,)]),
    "dot": (lambda a, b: a.dot(b), "dot", {}, [(3,), (3,)]),
    "inner": (mg.inner, "inner", {}, [(2, 3), (4, 5, 3)]),
    "inner_0d": (mg.inner, "inner", {}, [(), (4, 3)]),
    "mv": (mg.mv, "mv", {}, [(2, 3), (3,)]),
    "addmm": (lambda i, a, b: i.addmm(a, b, beta=0.5, alpha=2), "addmm", {"beta": 0.5, "alpha": 2},
              [(3,), (2, 4), (4, 3)]),
    "addmv": (lambda i, a, b: mg.addmv(i, a, b, beta=2, alpha=-1), "addmv", {"beta": 2, "alpha": -1},
              [(2,), (2, 4), (4,)]),
    "addr": (mg.addr, "addr", {}, [(1, 3), (2,), (3,)]),
    "addbmm": (lambda i, a, b: mg.addbmm(i, a, b, alpha=3), "addbmm", {"alpha": 3}, [(2, 3), (4, 2, 5), (4, 5, 3)]),
    "baddbmm": (lambda i, a, b: mg.baddbmm(i, a, b, beta=-1), "baddbmm", {"beta": -1},
                [(1, 2, 3), (4, 2, 5), (4, 5, 3)]),
    "tensordot": (lambda a, b: mg.tensordot(a, b, ([0, 2], [2, 0])), "tensordot", {"dims": ([0, 2], [2, 0])},
                  [(2, 3, 4), (4, 5, 2)]),
    "tensordot_0": (lambda a, b: mg.tensordot(a, b, 0), "tensordot", {"dims": 0}, [(2, 3), (4,)]),
    "kron": (mg.kron, "kron", {}, [(2, 3), (4, 1, 2)]),
    "cross_default_dim": (mg.cross, "cross", {"dim": 1}, [(4, 3), (1, 3)]),  # torch's default is that dim
    "cross_dim": (lambda a, b: mg.cross(a, b, dim=0), "cross", {"dim": 0}, [(3, 3, 2), (3, 1, 2)]),
    "cdist_p2": (mg.cdist, "cdist", {}, [(2, 3, 4), (5, 4)]),
    "cdist_p1": (lambda a, b: mg.cdist(a, b, 1), "cdist", {"p": 1}, [(3, 4), (5, 4)]),
    "cdist_inf": (lambda a, b: mg.cdist(a, b, math.inf), "cdist", {"p": math.inf}, [(3, 4), (5, 4)]),
    "cdist_p0": (lambda a, b: mg.cdist(a, b, 0), "cdist", {"p": 0}, [(3, 4), (5, 4)]),
    "cdist_p0.5": (lambda a, b: mg.cdist(a, b, 0.5), "cdist", {"p": 0.5}, [(3, 4), (5, 4)]),
    "dist": (mg.dist, "dist", {}, [(2, 3), (3,)]),
    "dist_inf": (lambda a, b: a.dist(b, math.inf), "dist", {"p": math.inf}, [(2, 3), (3,)]),
    "block_diag": (mg.block_diag, "block_diag", {}, [(2, 3), (), (4,)]),
    "diag_embed": (lambda a: a.diag_embed(1, 0, 2), "diag_embed", {"offset": 1, "dim1": 0, "dim2": 2}, [(2, 3)]),
    "diagflat": (lambda a: mg.diagflat(a, -1), "diagflat", {"offset": -1}, [(2, 2)]),
    "cartesian_prod": (mg.cartesian_prod, "cartesian_prod", {}, [(2,), (3,), (2,)]),
    "matrix_power_0": (lambda a: mg.matrix_power(a, 0), "matrix_power", {"n": 0}, [(2, 3, 3)]),
    "matrix_power_5": (lambda a: a.matrix_power(5), "matrix_power", {"n": 5}, [(2, 3, 3)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_parity(device, name):
    torch = pytest.importorskip("torch")
    fm, torch_name, kw, shapes = CASES[name]
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, yt = fm(*xs), getattr(torch, torch_name)(*ts, **kw)
    assert y.shape == tuple(yt.shape) and y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = rng.standard_normal(y.shape)
    y.backward(mg.tensor(v, device=device))
    yt.backward(torch.tensor(v))
    for x, t in zip(xs, ts):
        want = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-9, atol=1e-12)


def test_cdist_dist_zero_distance_gradient_is_zero_as_torch():
    torch = pytest.importorskip("torch")
    a = [[0.0, 0.0], [1.0, 1.0]]
    b = [[0.0, 0.0], [2.0, 1.0]]  # a[0] == b[0]; ties in |a - b| for p = inf; zero components for p < 1
    for p in (2, 1, math.inf, 0, 3, 0.5):
        x, xt = mg.tensor(a, dtype="float64", requires_grad=True), torch.tensor(a, dtype=torch.float64,
                                                                                requires_grad=True)
        mg.cdist(x, mg.tensor(b, dtype="float64"), p).sum().backward()
        torch.cdist(xt, torch.tensor(b, dtype=torch.float64), p=p).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, err_msg=f"p={p}")
    z = mg.zeros(3, requires_grad=True)
    d = mg.dist(z, mg.zeros(3))
    d.backward()
    assert d.item() == 0 and np.array_equal(z.grad.numpy(), np.zeros(3))


def test_cdist_dist_nan_and_inf_inputs_as_torch():
    """A NaN distance gives a NaN gradient (not the 0 of a zero distance), inf - inf gives NaN, an infinite
    distance is inf; silently (no NumPy warning), as torch (review fix: NaN distances had gradient 0)."""
    torch = pytest.importorskip("torch")
    a = [[0.0, math.nan, 1.0], [0.0, 1.0, math.inf], [math.inf, 2.0, 3.0]]
    b = [[0.0, 2.0, 1.0], [math.inf, 0.0, 0.0]]
    for p in (2, 3, 1, 0.5):  # (not inf, where torch's max skips NaN, nor 0, where torch.cdist and torch.dist differ)
        x = mg.tensor(a, dtype="float64", requires_grad=True)
        xt = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            y = mg.cdist(x, mg.tensor(b, dtype="float64"), p)
            y.sum().backward()
        yt = torch.cdist(xt, torch.tensor(b, dtype=torch.float64), p=p)
        yt.sum().backward()
        np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, equal_nan=True, err_msg=f"p={p}")
    z = mg.tensor([1.0, math.nan], requires_grad=True)
    mg.dist(z, mg.zeros(2)).backward()
    assert np.isnan(z.grad.numpy()).all()  # torch.dist: NaN everywhere


def test_beta_zero_ignores_nan_in_input():
    nan = float("nan")
    for fn, args, shape in [(mg.addmm, (mg.ones(2, 4), mg.ones(4, 3)), (2, 3)),
                            (mg.addmv, (mg.ones(2, 4), mg.ones(4)), (2,)),
                            (mg.addr, (mg.ones(2), mg.ones(3)), (2, 3)),
                            (mg.addbmm, (mg.ones(5, 2, 4), mg.ones(5, 4, 3)), (2, 3)),
                            (mg.baddbmm, (mg.ones(5, 2, 4), mg.ones(5, 4, 3)), (5, 2, 3))]:
        inp = mg.full(shape, nan, requires_grad=True)
        y = fn(inp, *args, beta=0, alpha=2)
        assert np.isfinite(y.numpy()).all() and y.dtype == np.float32, fn.__name__
        y.sum().backward()
        assert np.array_equal(inp.grad.numpy(), np.zeros(shape)), fn.__name__  # gradient 0, as torch
        assert np.isnan(fn(inp.detach(), *args, beta=1).numpy()).all()  # beta != 0 reads it


def test_dtypes_follow_torch():
    i = mg.ones(2, 2, dtype="int64")
    y = mg.addmm(i, i, i, beta=2, alpha=3)
    assert y.dtype == np.int64 and y.tolist() == [[8, 8], [8, 8]]
    assert mg.dot(mg.ones(3, dtype="int64"), mg.ones(3, dtype="int64")).item() == 3
    assert mg.outer(mg.ones(3), mg.ones(2, dtype="int64")).dtype == np.float32  # elementwise: promoted
    assert mg.kron(mg.ones(2, dtype="int64"), mg.ones(4)).dtype == np.float32
    assert mg.matrix_power(mg.ones(3, 3, dtype="int64"), 3).tolist() == [[9] * 3] * 3
    x32 = mg.randn(3, 4)
    assert mg.cdist(x32, x32).dtype == np.float32 and mg.dist(x32, x32).dtype == np.float32
    assert mg.block_diag().shape == (1, 0)
    assert mg.cartesian_prod(mg.ones(2)).shape == (2,)
    assert mg.dot(mg.ones(0), mg.ones(0)).item() == 0


@pytest.mark.parametrize("call, match", [
    (lambda: mg.dot(mg.ones(3), mg.ones(3, dtype="int64")), "dot: expected tensors of one dtype"),
    (lambda: mg.dot(mg.ones(3), mg.ones(4)), "dot: the vectors differ"),
    (lambda: mg.dot(mg.ones(3, 1), mg.ones(3)), "dot: expects two 1-D"),
    (lambda: mg.outer(mg.ones(3, 1), mg.ones(2)), "outer: input must be 1-D"),
    (lambda: mg.inner(mg.ones(2, 3), mg.ones(4, 2)), "inner: the last dimensions"),
    (lambda: mg.mv(mg.ones(2, 3), mg.ones(2)), "mv: size mismatch"),
    (lambda: mg.addmm(mg.ones(2, 1, 3), mg.ones(2, 2), mg.ones(2, 3)), "addmm: input .* does not broadcast"),
    (lambda: mg.addmm(mg.ones(2, 3), mg.ones(2, 2), mg.ones(3, 3)), "addmm: mat1 and mat2 cannot be multiplied"),
    (lambda: mg.addmm(mg.ones(2, 2, dtype="int64"), mg.ones(2, 2, dtype="int64"), mg.ones(2, 2, dtype="int64"),
                      beta=0.5), "addmm: beta=0.5 is not an integer"),
    (lambda: mg.addmm(mg.ones(2, 2), mg.ones(2, 2), mg.ones(2, 2), alpha="2"), "addmm: alpha must be a real number"),
    (lambda: mg.baddbmm(mg.ones(2, 3), mg.ones(2, 2, 4), mg.ones(3, 4, 3)), "baddbmm: batch1"),
    (lambda: mg.tensordot(mg.ones(2, 3), mg.ones(4, 5), -1), "tensordot: expects dims >= 0"),
    (lambda: mg.tensordot(mg.ones(2, 3), mg.ones(4, 5), 1), "tensordot: contracted dimensions must match"),
    (lambda: mg.tensordot(mg.ones(2, 3), mg.ones(3, 5), ([1], [0, 1])), "tensordot: both lists"),
    (lambda: mg.cross(mg.ones(4, 2), mg.ones(4, 2)), "cross: no dimension of size 3"),
    (lambda: mg.cross(mg.ones(3, 4), mg.ones(3, 4), dim=1), "cross: input .* must have size 3"),
    (lambda: mg.cdist(mg.ones(3), mg.ones(3)), "cdist: x1 must have at least 2 dimensions"),
    (lambda: mg.cdist(mg.ones(2, 3), mg.ones(2, 4)), "cdist: .* same number of columns"),
    (lambda: mg.cdist(mg.ones(2, 3), mg.ones(2, 3), p=-1), "cdist: p must be a non-negative"),
    (lambda: mg.cdist(mg.ones(2, 3, dtype="int64"), mg.ones(2, 3, dtype="int64")), "cdist: only floating-point"),
    (lambda: mg.cdist(mg.ones(2, 3), mg.ones(2, 3, dtype="float64")), "cdist: expected tensors of one dtype"),
    (lambda: mg.dist(mg.ones(2, dtype="int64"), mg.ones(2, dtype="int64")), "dist: only floating-point"),
    (lambda: mg.block_diag(mg.ones(2, 3, 1)), "block_diag: input tensors must have 2 or fewer"),
    (lambda: mg.diag_embed(mg.tensor(1.0)), "diag_embed: input must have at least 1"),
    (lambda: mg.diag_embed(mg.ones(3), dim1=0, dim2=0), "diag_embed: diagonal dimensions cannot be identical"),
    (lambda: mg.cartesian_prod(mg.ones(2, 2)), "cartesian_prod: expects 1-D"),
    (lambda: mg.cartesian_prod(mg.ones(2), mg.ones(2, dtype="int64")), "cartesian_prod: expected tensors of one"),
    (lambda: mg.matrix_power(mg.ones(2, 3), 2), "matrix_power: input must be a"),
    (lambda: mg.matrix_power(mg.ones(3, 3), -1), "matrix_power: .*singular"),  # n < 0: inv(A)^-n (ops/linalg_ext.py)
])
def test_product_errors(call, match):
    with pytest.raises((ValueError, TypeError, IndexError, RuntimeError, NotImplementedError), match=match):
        call()


# ---------------------------------------------------------------- creation
def test_creation_matches_torch(device):
    torch = pytest.importorskip("torch")
    for a, b, n in [(0, 1, 5), (-1.3, 2.7, 7), (5, -5, 3), (2, 2, 4), (0, 1, 1), (0, 1, 0), (-3.5, 9.25, 33)]:
        for dt, tdt, tol in [("float32", torch.float32, 4e-7), ("float64", torch.float64, 1e-15)]:
            want = torch.linspace(a, b, n, dtype=tdt).numpy()
            got = mg.linspace(a, b, n, dtype=dt, device=device)
            assert got.dtype == want.dtype and got.device == mg.backend.parse_device(device)
            np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol * (1 + abs(a) + abs(b)))
            if n:
                assert got.numpy()[0] == want[0] and got.numpy()[-1] == want[-1]  # both ends exact
            np.testing.assert_allclose(mg.logspace(a, b, n, base=2, dtype=dt).numpy(),
                                       torch.logspace(a, b, n, base=2, dtype=tdt).numpy(), rtol=10 * tol)
    assert mg.linspace(0, 10, 4, dtype="int64").tolist() == torch.linspace(0, 10, 4, dtype=torch.long).tolist()
    assert mg.logspace(0, 3, 4, dtype="int64").tolist() == [1, 10, 100, 1000]
    assert mg.linspace(0, 1, 3).dtype == np.float32
    for r, c, k in [(3, 4, 1), (3, 4, -1), (4, 3, 0), (0, 3, 0), (3, 3, -5), (3, 3, 7), (1, 1, 0)]:
        for mine, theirs in [(mg.triu_indices, torch.triu_indices), (mg.tril_indices, torch.tril_indices)]:
            got = mine(r, c, k, device=device)
            assert got.dtype == np.int64 and got.shape == tuple(theirs(r, c, k).shape)
            assert got.tolist() == theirs(r, c, k).tolist(), (mine.__name__, r, c, k)
    e = mg.empty_like(mg.ones(2, 3, dtype="int64"))
    assert e.shape == (2, 3) and e.dtype == np.int64


def test_randperm_reproducible_and_a_permutation(device):
    mg.manual_seed(3)
    p = mg.randperm(50, device=device)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(50))
    mg.manual_seed(3)
    assert mg.randperm(50).tolist() == p.tolist()  # same seed, same permutation, on every device
    assert mg.randperm(0).shape == (0,) and mg.randperm(4, dtype="float32").dtype == np.float32


@pytest.mark.parametrize("call, match", [
    (lambda: mg.linspace(0, 1, -1), "linspace: number of steps must be non-negative"),
    (lambda: mg.linspace(0, 1, 2.5), "linspace: steps must be an int"),
    (lambda: mg.logspace("a", 1, 2), "logspace: start must be a real number"),
    (lambda: mg.tril_indices(-1, 3), "tril_indices: row and col must be non-negative"),
    (lambda: mg.triu_indices(3, 3, dtype="float32"), "triu_indices: needs an integer dtype"),
    (lambda: mg.randperm(-1), "randperm: n must be non-negative"),
])
def test_creation_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ---------------------------------------------------------------- random sampling
N = 20000


def _within(samples, mean, std, what):
    """The sample mean is within 5 standard errors of the distribution's mean."""
    se = std / math.sqrt(samples.size)
    assert abs(samples.mean() - mean) < 5 * se, f"{what}: mean {samples.mean()} vs {mean} (se {se})"


@pytest.mark.parametrize("op, args, mean, std", [
    ("normal_", (1.5, 0.5), 1.5, 0.5),
    ("uniform_", (-2.0, 4.0), 1.0, 6 / math.sqrt(12)),
    ("exponential_", (2.0,), 0.5, 0.5),
    ("geometric_", (0.25,), 4.0, math.sqrt(0.75) / 0.25),
    ("log_normal_", (0.0, 0.5), math.exp(0.125), math.sqrt((math.exp(0.25) - 1) * math.exp(0.25))),
    ("bernoulli_", (0.3,), 0.3, math.sqrt(0.21)),
    ("random_", (2, 7), 4.0, math.sqrt((5 ** 2 - 1) / 12)),
])
def test_inplace_initialisers_statistics(device, op, args, mean, std):
    x = mg.zeros(N, dtype="float64", device=device)
    out = getattr(x, op)(*args)
    assert out is x and x.dtype == np.float64 and x._version == 1
    s = x.numpy()
    _within(s, mean, std, op)
    if op in ("normal_", "log_normal_", "exponential_", "uniform_"):  # the spread too: sample std within 5 se
        se_std = std * math.sqrt(2 / N) * (3 if op == "log_normal_" else 1)  # heavier tail: larger se
        assert abs(s.std() - std) < 5 * se_std, f"{op}: std {s.std()} vs {std}"
    if op == "uniform_":
        assert s.min() >= -2 and s.max() < 4
    if op in ("geometric_", "random_", "bernoulli_"):
        assert np.array_equal(s, np.round(s))
    if op == "random_":
        assert set(np.unique(s)) == {2, 3, 4, 5, 6}


def test_cauchy_median_and_quartiles():
    s = mg.zeros(N, dtype="float64").cauchy_(1.0, 2.0).numpy()
    # the median and quartiles (median -/+ sigma) of a Cauchy: sample quantiles within 5 se
    for q, want in [(0.25, -1.0), (0.5, 1.0), (0.75, 3.0)]:
        density = 1 / (math.pi * 2.0 * (1 + ((want - 1.0) / 2.0) ** 2))
        se = math.sqrt(q * (1 - q) / N) / density
        assert abs(np.quantile(s, q) - want) < 5 * se


def test_random_reproducible_same_on_every_device(device):
    def draws(dev):
        mg.manual_seed(11)
        x = mg.zeros(4, 5, device=dev)
        return [x.normal_().numpy().copy(), x.uniform_(1, 2).numpy().copy(), x.bernoulli_(0.5).numpy().copy(),
                x.exponential_().numpy().copy(), x.random_(10).numpy().copy(), x.geometric_(0.5).numpy().copy(),
                x.log_normal_().numpy().copy(), x.cauchy_().numpy().copy(),
                mg.multinomial(mg.ones(3, 6, device=dev), 4).numpy(), mg.multinomial(mg.ones(6), 9, True).numpy(),
                mg.bernoulli(mg.full((7,), 0.5, device=dev)).numpy(), mg.normal(0.0, 1.0, (3,), device=dev).numpy(),
                mg.normal(mg.zeros(2, 3, device=dev), mg.ones(3, device=dev)).numpy(),
                mg.poisson(mg.full((5,), 4.0, device=dev)).numpy()]

    a, b = draws("cpu"), draws(device)
    for k, (u, v) in enumerate(zip(a, b)):
        np.testing.assert_array_equal(u, v, err_msg=f"draw {k}")
    assert not np.array_equal(a[0], a[1])


def test_inplace_random_on_parameters_follows_torch():
    w = mg.nn.Parameter(mg.zeros(3, 4))
    for op, args in [("normal_", (0, 0.02)), ("uniform_", ()), ("fill_diagonal_", (1.0,)), ("bernoulli_", ())]:
        with pytest.raises(RuntimeError, match=f"{op}: a leaf tensor that requires grad"):
            getattr(w, op)(*args)
    v = w._version
    with mg.no_grad():
        w.normal_(0, 0.02)  # the classic initialisation idiom
    assert w._version == v + 1 and w.requires_grad and w.grad_fn is None and w.numpy().std() > 0
    with mg.no_grad():
        w.fill_diagonal_(5.0)
    assert w._version == v + 2 and np.array_equal(np.diagonal(w.numpy()), [5.0, 5.0, 5.0])
    # on a non-leaf in a graph the write is recorded: the overwritten values get gradient 0, as torch
    a = mg.ones(3, 3, requires_grad=True)
    b = a * 2
    b.normal_()
    (b * 3).sum().backward()
    assert np.array_equal(a.grad.numpy(), np.zeros((3, 3)))
    a.grad = None
    b = a * 2
    b.fill_diagonal_(0)
    b.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 2 * (1 - np.eye(3)))


def test_fill_diagonal_matches_torch(device):
    torch = pytest.importorskip("torch")
    for shape, wrap in [((3, 4), False), ((7, 3), True), ((7, 3), False), ((3, 3, 3), False), ((2, 5), True)]:
        got = mg.zeros(*shape, device=device).fill_diagonal_(2.5, wrap=wrap)
        want = torch.zeros(*shape).fill_diagonal_(2.5, wrap=wrap)
        assert got.tolist() == want.tolist(), (shape, wrap)
    assert mg.zeros(2, 2, dtype="int64").fill_diagonal_(1.5).tolist() == [[1, 0], [0, 1]]  # truncated, as torch


def test_multinomial():
    w = mg.tensor([0.0, 1.0, 2.0, 7.0])
    s = mg.multinomial(w, N, replacement=True)
    assert s.dtype == np.int64 and s.shape == (N,)
    counts = np.bincount(s.numpy(), minlength=4)
    p = np.array([0, 0.1, 0.2, 0.7])
    assert counts[0] == 0  # weight 0: never drawn with replacement
    assert (np.abs(counts - N * p) < 5 * np.sqrt(N * p * (1 - p)) + 1e-9).all(), counts
    rows = mg.multinomial(mg.tensor([[1.0, 1, 1, 1, 0], [0, 0, 0, 1, 1]]), 4).numpy()
    assert rows.shape == (2, 4) and sorted(rows[0]) == [0, 1, 2, 3]
    assert sorted(rows[1][:2]) == [3, 4]  # zero-weight categories come last
    # without replacement the first draw follows the weights: P(first = 3) = 0.7
    firsts = np.array([mg.multinomial(w, 2).numpy()[0] for _ in range(2000)])
    assert abs((firsts == 3).mean() - 0.7) < 5 * math.sqrt(0.21 / 2000)
    assert w.multinomial(1).shape == (1,)


def test_bernoulli_normal_poisson():
    p = mg.full((N,), 0.25, dtype="float64")
    b = mg.bernoulli(p)
    assert b.dtype == np.float64 and set(np.unique(b.numpy())) <= {0.0, 1.0}
    _within(b.numpy(), 0.25, math.sqrt(0.25 * 0.75), "bernoulli")
    _within(p.bernoulli(0.75).numpy(), 0.75, math.sqrt(0.25 * 0.75), "bernoulli(p)")
    x = mg.normal(mg.full((N,), 3.0), 2.0)
    assert x.dtype == np.float32 and x.shape == (N,)
    _within(x.numpy(), 3.0, 2.0, "normal")
    y = mg.normal(mg.zeros(2, 1), mg.ones(3) * 4)
    assert y.shape == (2, 3)
    z = mg.normal(-1.0, 0.5, size=(N,), dtype="float64")
    assert z.dtype == np.float64
    _within(z.numpy(), -1.0, 0.5, "normal(size=)")
    q = mg.poisson(mg.full((N,), 4.0))
    assert q.dtype == np.float32
    _within(q.numpy(), 4.0, 2.0, "poisson")


@pytest.mark.parametrize("call, match", [
    (lambda: mg.multinomial(mg.tensor([-1.0, 2.0]), 1), "multinomial: the weights must be finite and non-negative"),
    (lambda: mg.multinomial(mg.tensor([0.0, 0.0]), 1), "multinomial: every row of weights needs a positive sum"),
    (lambda: mg.multinomial(mg.tensor([1, 2]), 1), "multinomial: input must be a floating-point"),
    (lambda: mg.multinomial(mg.ones(2, 3, 4), 1), "multinomial: input must be 1-D or 2-D"),
    (lambda: mg.multinomial(mg.ones(3), 0), "multinomial: cannot sample num_samples=0"),
    (lambda: mg.multinomial(mg.ones(3), 4), "multinomial: cannot sample 4 > 3 categories without replacement"),
    (lambda: mg.bernoulli(mg.full((3,), 1.5)), "bernoulli: probabilities must be in"),
    (lambda: mg.bernoulli(mg.ones(3, dtype="int64")), "bernoulli: input must be a floating-point"),
    (lambda: mg.normal(mg.zeros(3), -1.0), "normal: expects std >= 0"),
    (lambda: mg.normal(0.0, 1.0), "normal: with a number mean and std give size="),
    (lambda: mg.poisson(mg.full((3,), -2.0)), "poisson: invalid Poisson rate"),
    (lambda: mg.zeros(3).uniform_(3, 2), r"uniform_: expects a \[from, to\) range"),
    (lambda: mg.zeros(3).normal_(0, -1), "normal_: expects std >= 0"),
    (lambda: mg.zeros(3).exponential_(0), "exponential_: expects lambd > 0"),
    (lambda: mg.zeros(3).geometric_(1.5), r"geometric_: expects p in \(0, 1\)"),
    (lambda: mg.zeros(3).bernoulli_(1.5), r"bernoulli_: expects p in \[0, 1\]"),
    (lambda: mg.zeros(3).bernoulli_(mg.full((2,), 0.2)), "bernoulli_: p of shape"),
    (lambda: mg.zeros(3).random_(5, 2), "random_: expects 'from' < 'to'"),
    (lambda: mg.zeros(3).cauchy_(0, -1), "cauchy_: expects sigma > 0"),
    (lambda: mg.zeros(3).log_normal_(0, 0), "log_normal_: expects std > 0"),
    (lambda: mg.zeros(3, dtype="int64").normal_(), "normal_: draws from a continuous distribution"),
    (lambda: mg.zeros(3).fill_diagonal_(1.0), "fill_diagonal_: needs at least 2 dimensions"),
    (lambda: mg.zeros(3, 3, 2).fill_diagonal_(1.0), "fill_diagonal_: all dimensions"),
])
def test_random_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_integer_and_bool_random_():
    assert mg.zeros(3, dtype="int32").random_(-5, 5).dtype == np.int32
    assert ((mg.zeros(200, dtype="int32").random_(-5, 5).numpy() >= -5)
            & (mg.zeros(200, dtype="int32").random_(-5, 5).numpy() < 5)).all()
    assert set(np.unique(mg.zeros(200, dtype="bool").random_().numpy())) == {False, True}
    f = mg.zeros(1000).random_().numpy()  # float32: [0, 2**24]
    assert f.min() >= 0 and f.max() <= 2 ** 24 and np.array_equal(f, np.round(f))
    assert mg.zeros(3, 3, dtype="int64").bernoulli_(0.5).dtype == np.int64
    assert mg.zeros(2, dtype="int64").geometric_(0.5).numpy().min() >= 1
