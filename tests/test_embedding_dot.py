"""F.embedding_dot (the fused "score K looked-up rows against a vector" op of word2vec) and the
backend's row-summing primitives behind every embedding gradient (coalesce_rows,
coalesce_weighted_rows, scatter_add), on both CPU routes: SciPy's sparse product and NumPy only.

Values against NumPy, gradients against float64 finite differences, the fused op against the
composed `(embedding(idx, W) @ h.unsqueeze(-1)).squeeze(-1)`, sparse against dense gradients,
and torch where installed.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import backend as B
from minigrad import functional as F
from minigrad.ops.nn import EmbeddingDot
from minigrad.sparse import RowSparseGrad
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [EmbeddingDot]

@pytest.fixture(params=["scipy", "numpy"], scope="module")
def cpu_route(request):
    """Run a test once with SciPy's sparse product (when installed) and once with NumPy only."""
    if request.param == "scipy":
        pytest.importorskip("scipy.sparse")
    saved = B.use_scipy
    B.use_scipy = request.param == "scipy"
    yield request.param
    B.use_scipy = saved


def np_embedding_dot(w, h, idx):
    return np.einsum("...kd,...d->...k", w[idx], h)


# ---------------------------------------------------------------- the op
@given(data=st.data(), n=st.integers(1, 5), dim=st.integers(1, 4), lead=mst.shapes(max_dims=2, max_side=3),
       k=st.integers(1, 4))
def test_embedding_dot_values_and_gradients(device, data, n, dim, lead, k):
    w = draw_array(data, (n, dim), device)
    h = draw_array(data, lead + (dim,), device)
    idx = data.draw(mst.tensors(shape=lead + (k,), dtype="int64", min_value=0, max_value=n - 1, device=device))
    i = idx.numpy()
    check_op(lambda w, h: F.embedding_dot(idx, w, h), lambda w, h: np_embedding_dot(w, h, i), [w, h], device)


@given(data=st.data(), n=st.integers(1, 6), dim=st.integers(1, 4), b=st.integers(1, 5), k=st.integers(1, 4))
def test_sparse_gradient_equals_dense_and_gradchecks(device, data, n, dim, b, k):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    idx = mg.tensor(rng.integers(0, n, (b, k)), device=device)
    h = mg.tensor(rng.standard_normal((b, dim)), device=device, requires_grad=True)
    seed = mg.tensor(rng.standard_normal((b, k)), device=device)
    grads = []
    for sparse in (False, True):
        w = mg.tensor(rng.standard_normal((n, dim)) if not grads else grads[0][2], device=device, requires_grad=True)
        hh = mg.tensor(h, device=device, requires_grad=True)
        (F.embedding_dot(idx, w, hh, sparse=sparse) * seed).sum().backward()
        assert isinstance(w.grad, RowSparseGrad) == sparse
        if sparse:  # only the looked-up rows, each once
            assert w.grad.is_coalesced() and sorted(set(idx.numpy().ravel().tolist())) == w.grad.indices.tolist()
        grads.append((w.grad.to_dense().numpy() if sparse else w.grad.numpy(), hh.grad.numpy(), w.numpy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(grads[1][1], grads[0][1])
    w = mg.tensor(grads[0][2], device=device, requires_grad=True)
    gradcheck(lambda w, h: F.embedding_dot(idx, w, h, sparse=True).tanh(), w, h)


@pytest.mark.parametrize("sparse", [False, True])
def test_fused_equals_composed_at_word2vec_size(device, cpu_route, sparse):
    """Big enough (1024 x 6 rows of 100) to take SciPy's route; float32 as in training."""
    rng = np.random.default_rng(0)
    v, d, b, k = 300, 100, 1024, 6
    idx = mg.tensor(rng.zipf(1.3, (b, k)) % v, device=device)  # heavy repeats, like noise words
    w0, h0, seed = rng.standard_normal((v, d)), rng.standard_normal((b, d)), rng.standard_normal((b, k))
    out = {}
    for name in ("fused", "composed"):
        w = mg.tensor(w0, dtype="float32", device=device, requires_grad=True)
        h = mg.tensor(h0, dtype="float32", device=device, requires_grad=True)
        if name == "fused":
            s = F.embedding_dot(idx, w, h, sparse=sparse)
        else:
            s = (F.embedding(idx, w, sparse=sparse) @ h.unsqueeze(-1)).squeeze(-1)
        (s * mg.tensor(seed, dtype="float32", device=device)).sum().backward()
        gw = w.grad.to_dense() if sparse else w.grad
        assert s.dtype == gw.dtype == h.grad.dtype == np.float32
        out[name] = (s.numpy(), gw.numpy(), h.grad.numpy())
    want = (np_embedding_dot(w0, h0, idx.numpy()), None, None)
    np.testing.assert_allclose(out["fused"][0], want[0], rtol=1e-4, atol=1e-4)
    for a, c in zip(out["fused"], out["composed"]):
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-4)  # float32 sums in different orders


def test_non_leaf_table_gets_a_dense_gradient(device):
    base = mg.tensor(np.arange(6.0).reshape(3, 2), device=device, requires_grad=True)
    h = mg.tensor([[1.0, 2.0]], dtype="float64", device=device)
    F.embedding_dot([[2, 2, 0]], base * 2.0, h, sparse=True).sum().backward()
    # d/dW of W[2].h twice and W[0].h once, through W = 2 * base
    np.testing.assert_array_equal(base.grad.numpy(), [[2.0, 4.0], [0.0, 0.0], [4.0, 8.0]])


def test_embedding_dot_errors(device):
    w = mg.tensor(np.zeros((4, 3)), device=device, requires_grad=True)
    h = mg.tensor(np.zeros((2, 3)), device=device)
    with pytest.raises(TypeError, match="embedding_dot: indices must be integers"):
        F.embedding_dot(mg.tensor([[0.0], [1.0]], device=device), w, h)
    with pytest.raises(IndexError, match="embedding_dot: index 4 is out of range for 4 embeddings"):
        F.embedding_dot([[0], [4]], w, h)
    with pytest.raises(IndexError, match="index -1"):
        F.embedding_dot([[0], [-1]], w, h)
    with pytest.raises(ValueError, match=r"input of shape \(3, 1\) and h .* expected input \(..., K\) and h \(..., 3\)"):
        F.embedding_dot([[0], [1], [2]], w, h)
    with pytest.raises(ValueError, match="expected input"):
        F.embedding_dot([[0], [1]], w, mg.tensor(np.zeros((2, 4)), device=device))
    with pytest.raises(ValueError, match="embedding_dot: weight must be 2-D"):
        F.embedding_dot([[0], [1]], mg.tensor(np.zeros((4, 3, 1)), device=device), h)
    with pytest.raises(TypeError, match="same dtype"):
        F.embedding_dot([[0], [1]], w, h.float())


def test_embedding_dot_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w0, h0, idx0 = rng.standard_normal((7, 5)), rng.standard_normal((3, 2, 5)), rng.integers(0, 7, (3, 2, 4))
    seed = rng.standard_normal((3, 2, 4))
    w, h = mg.tensor(w0, requires_grad=True), mg.tensor(h0, requires_grad=True)
    out = F.embedding_dot(idx0, w, h)
    (out * mg.tensor(seed)).sum().backward()
    tw, th = torch.tensor(w0, requires_grad=True), torch.tensor(h0, requires_grad=True)
    tout = (torch.nn.functional.embedding(torch.tensor(idx0), tw) @ th.unsqueeze(-1)).squeeze(-1)
    (tout * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h.grad.numpy(), th.grad.numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- backend row sums (both CPU routes)
@given(data=st.data(), n=st.integers(1, 40), nnz=st.integers(0, 300), width=st.integers(1, 40),
       dtype=st.sampled_from(["float32", "float64"]))
def test_coalesce_rows_sums_repeats(cpu_route, data, n, nnz, width, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    index = rng.integers(-n, n, nnz)  # negative rows count from the end
    values = rng.standard_normal((nnz, width)).astype(dtype)
    rows, sums = B.coalesce_rows(index, values, n)
    want = np.zeros((n, width))
    np.add.at(want, index % n, values.astype(np.float64))
    assert rows.dtype == np.int64 and rows.tolist() == sorted(set((index % n).tolist()))
    assert sums.dtype == np.dtype(dtype) and sums.shape == (rows.size, width)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(sums, want[rows], rtol=tol, atol=tol)


@given(data=st.data(), n=st.integers(1, 40), b=st.integers(0, 120), k=st.integers(1, 6), width=st.integers(1, 40))
def test_coalesce_weighted_rows(cpu_route, data, n, b, k, width):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    index = rng.integers(0, n, (b, k))
    weights, source = rng.standard_normal((b, k)), rng.standard_normal((b, width))
    rows, sums = B.coalesce_weighted_rows(index, weights, source, n)
    want = np.zeros((n, width))
    np.add.at(want, index, weights[:, :, None] * source[:, None, :])
    assert rows.tolist() == sorted(set(index.ravel().tolist()))
    np.testing.assert_allclose(sums, want[rows], rtol=1e-12, atol=1e-12)


@given(data=st.data(), n=st.integers(1, 30), nnz=st.integers(0, 200), row_shape=mst.shapes(max_dims=2, max_side=6))
def test_scatter_add_rows(cpu_route, data, n, nnz, row_shape):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    target = rng.standard_normal((n,) + row_shape)
    index = rng.integers(-n, n, nnz)
    values = rng.standard_normal((nnz,) + row_shape)
    want = target.copy()
    np.add.at(want, index, values)
    out = B.scatter_add(target, index, values)
    assert out is target
    np.testing.assert_allclose(target, want, rtol=1e-12, atol=1e-12)


def test_row_sums_check_their_range(cpu_route):
    with pytest.raises(IndexError, match=r"scatter_add: row index out of range \[-3, 3\) for a table of 3 rows"):
        B.scatter_add(np.zeros((3, 2)), np.array([0, 3]), np.ones((2, 2)))
    with pytest.raises(IndexError, match="out of range"):
        B.coalesce_rows(np.array([-4]), np.ones((1, 2)), 3)


def test_large_tables_use_the_sorting_route(monkeypatch):
    """A table much bigger than the batch takes np.unique, not a pass over every row."""
    calls = []
    unique = np.unique
    monkeypatch.setattr(np, "unique", lambda *a, **k: calls.append(1) or unique(*a, **k))
    index = np.array([999_999, 5, 999_999, 7])
    rows, sums = B.coalesce_rows(index, np.arange(8.0).reshape(4, 2), 1_000_000)
    assert calls, "the sort-based route was not taken"
    B.coalesce_rows(index % 10, np.arange(8.0).reshape(4, 2), 10)
    assert len(calls) == 1  # a small table is numbered by the flag pass, without sorting
    assert rows.tolist() == [5, 7, 999_999]
    np.testing.assert_array_equal(sums, [[2.0, 3.0], [6.0, 7.0], [4.0, 6.0]])


def test_scipy_kernel_is_checked_and_used_when_installed(monkeypatch):
    """The direct call to SciPy's compiled kernel passes its self-check on this SciPy, and the
    public scipy.sparse route it falls back to gives the same sums."""
    pytest.importorskip("scipy.sparse")
    monkeypatch.setattr(B, "use_scipy", True)
    monkeypatch.setattr(B, "_csc_kernel", None)  # look it up again
    rng = np.random.default_rng(0)
    index, values = rng.integers(0, 7, 1200), rng.standard_normal((1200, 4))
    want = np.zeros((7, 4))
    np.add.at(want, index, values)
    rows, direct = B.coalesce_rows(index, values, 7)
    assert callable(B._csc_kernel), "SciPy's csc_matvecs was not found or failed its check"
    monkeypatch.setattr(B, "_csc_kernel", False)  # the public route
    rows2, public = B.coalesce_rows(index, values, 7)
    assert rows.tolist() == rows2.tolist() == list(range(7))
    np.testing.assert_allclose(direct, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(public, direct)
