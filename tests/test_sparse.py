"""Row-sparse gradients: RowSparseGrad, Embedding(sparse=True), accumulation in the engine, and optimizers on them."""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import optim
from minigrad.ops.nn import Embedding
from minigrad.sparse import RowSparseGrad
from minigrad.testing import gradcheck

# The sparse backward of the Embedding op is gradient-checked here (through the dense view).
GRADIENT_TESTED = [Embedding]


def table(num, dim, device="cpu", dtype="float64", seed=0):
    w = np.random.default_rng(seed).standard_normal((num, dim))
    return mg.tensor(w, dtype=dtype, requires_grad=True, device=device)


def arr(x, device):
    return mg.tensor(np.asarray(x), device=device).data


# ---------------------------------------------------------------- the RowSparseGrad type
def test_rowsparse_basics_and_coalesce_sums_duplicates(device):
    g = RowSparseGrad(arr([3, 1, 3], device), arr([[1.0, 2.0], [3.0, 4.0], [10.0, 20.0]], device), (5, 2))
    assert g.is_sparse and g.shape == (5, 2) and g.dtype == np.float64 and g.nnz == 3 and not g.is_coalesced()
    assert g.device == mg.tensor(0, device=device).device and g.numel() == 10 and g.ndim == 2
    c = g.coalesce()
    assert c.is_coalesced() and c.coalesce() is c
    assert mg.tensor(c.indices).tolist() == [1, 3]
    assert mg.tensor(c.values).tolist() == [[3.0, 4.0], [11.0, 22.0]]
    dense = [[0, 0], [3, 4], [0, 0], [11, 22], [0, 0]]
    assert g.to_dense().tolist() == dense and c.to_dense().tolist() == dense
    assert isinstance(g.to_dense(), mg.Tensor) and not g.to_dense().requires_grad
    assert "nnz=3" in repr(g)


def test_rowsparse_arithmetic(device):
    a = RowSparseGrad(arr([0, 2], device), arr([[1.0], [2.0]], device), (3, 1))
    b = RowSparseGrad(arr([2], device), arr([[5.0]], device), (3, 1))
    s = a + b
    assert isinstance(s, RowSparseGrad) and s.to_dense().tolist() == [[1.0], [0.0], [7.0]]
    d = arr([[1.0], [1.0], [1.0]], device)
    for out in (a + d, d + a):  # sparse + dense -> a new dense array; d unchanged
        assert mg.tensor(out).tolist() == [[2.0], [1.0], [3.0]]
    assert mg.tensor(d).tolist() == [[1.0], [1.0], [1.0]]
    t = a + mg.tensor(d)
    assert isinstance(t, mg.Tensor) and t.tolist() == [[2.0], [1.0], [3.0]]
    assert (2 * a).to_dense().tolist() == [[2.0], [0.0], [4.0]] and (-a).to_dense().tolist() == [[-1.0], [0.0], [-2.0]]
    a.mul_(0.5)
    assert a.to_dense().tolist() == [[0.5], [0.0], [1.0]]
    a.zero_()
    assert a.nnz == 0 and a.to_dense().tolist() == [[0.0], [0.0], [0.0]]


def test_rowsparse_keeps_float32_when_scaled_by_a_device_scalar(device):
    g = RowSparseGrad(arr([1], device), mg.tensor([[1.0, 2.0]], device=device).data, (4, 2))
    scale = mg.tensor(0.5, dtype="float64", device=device).data  # a 0-d array, as clip_grad_norm_ computes
    assert (g * scale).dtype == np.float32
    g.mul_(scale)
    assert g.dtype == np.float32 and g.to_dense().tolist()[1] == [0.5, 1.0]
    g.mul_(mg.tensor([4.0], dtype="float64", device=device))  # a one-element Tensor is unwrapped
    assert g.dtype == np.float32 and g.to_dense().tolist()[1] == [2.0, 4.0]


def test_rowsparse_refuses_dense_only_operations():
    g = RowSparseGrad(np.array([0]), np.ones((1, 2)), (3, 2))
    with pytest.raises(TypeError, match="to_dense"):
        np.asarray(g)
    with pytest.raises(TypeError, match="to_dense"):
        g - g
    with pytest.raises(TypeError, match="to_dense"):
        g * g
    with pytest.raises(TypeError, match="to_dense"):
        g[0]
    with pytest.raises(RuntimeError, match="shapes/dtypes/devices differ"):
        g + np.ones((4, 2))
    with pytest.raises(ValueError, match="do not fit"):
        RowSparseGrad(np.array([0, 1]), np.ones((1, 2)), (3, 2))
    with pytest.raises(TypeError, match="integer"):
        RowSparseGrad(np.array([0.0]), np.ones((1, 2)), (3, 2))


# ---------------------------------------------------------------- Embedding(sparse=True)
@given(num=st.integers(1, 5), dim=st.integers(1, 4), idx_shape=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       pad=st.booleans(), data=st.data())
def test_sparse_gradient_equals_dense_gradient(device, num, dim, idx_shape, pad, data):
    idx = data.draw(st.lists(st.integers(0, num - 1), min_size=int(np.prod(idx_shape)),
                             max_size=int(np.prod(idx_shape))))  # repeats are likely with few rows
    idx = mg.tensor(np.array(idx).reshape(idx_shape), device=device)
    padding_idx = data.draw(st.integers(0, num - 1)) if pad else None
    v = mg.tensor(np.random.default_rng(0).standard_normal(tuple(idx_shape) + (dim,)), device=device)
    ws, wd = table(num, dim, device), table(num, dim, device)
    (F.embedding(idx, ws, padding_idx, sparse=True) * v).sum().backward()
    (F.embedding(idx, wd, padding_idx) * v).sum().backward()
    g = ws.grad
    assert isinstance(g, RowSparseGrad) and g.is_sparse and g.is_coalesced()
    assert g.shape == (num, dim) and g.dtype == np.float64 and g.device == ws.device
    rows = mg.tensor(g.indices).tolist()
    assert rows == sorted(set(rows)) and set(rows) <= set(idx.tolist() if idx.ndim == 0 else np.ravel(idx.numpy()))
    assert padding_idx not in rows
    np.testing.assert_allclose(g.to_dense().numpy(), wd.grad.numpy(), rtol=0, atol=1e-12)


@given(num=st.integers(1, 5), dim=st.integers(1, 3), n=st.integers(1, 6), data=st.data())
def test_sparse_embedding_gradcheck(device, num, dim, n, data):
    # (padding_idx is left out on purpose: its row's zero gradient is a rule, not a derivative;
    # the test above checks it against the dense path.)
    idx = mg.tensor(data.draw(st.lists(st.integers(0, num - 1), min_size=n, max_size=n)), device=device)
    gradcheck(lambda w: F.embedding(idx, w, sparse=True).tanh(), table(num, dim, device))


def test_sparse_gradients_accumulate_across_backward_calls(device):
    w = table(6, 2, device)
    F.embedding(mg.tensor([1, 1, 4], device=device), w, sparse=True).sum().backward()
    F.embedding(mg.tensor([4, 0], device=device), w, sparse=True).sum().backward()
    assert isinstance(w.grad, RowSparseGrad) and mg.tensor(w.grad.indices).tolist() == [0, 1, 4]
    assert w.grad.to_dense()[:, 0].tolist() == [1.0, 2.0, 0.0, 0.0, 2.0, 0.0]


def test_two_lookups_in_one_graph_and_tied_weights(device):
    w, ref = table(5, 3, device), table(5, 3, device)
    i, j = mg.tensor([0, 2], device=device), mg.tensor([2, 3], device=device)
    x = mg.tensor(np.ones((4, 3)), device=device)
    # two sparse lookups of the same table in one graph: summed, still sparse
    (F.embedding(i, w, sparse=True) * 2).sum().backward(retain_graph=False)
    w.grad = None
    (F.embedding(i, w, sparse=True).sum() + (F.embedding(j, w, sparse=True) ** 2).sum()).backward()
    (F.embedding(i, ref).sum() + (F.embedding(j, ref) ** 2).sum()).backward()
    assert w.grad.is_sparse
    np.testing.assert_allclose(w.grad.to_dense().numpy(), ref.grad.numpy(), atol=1e-12)
    # a tied weight (lookup + matmul, as an LM's output layer): sparse + dense -> dense
    w.grad = ref.grad = None
    (F.embedding(i, w, sparse=True).sum() + (x @ w.T).sum()).backward()
    (F.embedding(i, ref).sum() + (x @ ref.T).sum()).backward()
    assert isinstance(w.grad, mg.Tensor) and not w.grad.is_sparse
    np.testing.assert_allclose(w.grad.numpy(), ref.grad.numpy(), atol=1e-12)
    # dense first, then sparse in a second backward: dense
    w.grad = None
    (x @ w.T).sum().backward()
    F.embedding(i, w, sparse=True).sum().backward()
    expected = np.full((5, 3), 4.0)
    expected[[0, 2]] += 1.0
    np.testing.assert_allclose(w.grad.numpy(), expected)
    # sparse first, then dense
    w.grad = None
    F.embedding(i, w, sparse=True).sum().backward()
    (x @ w.T).sum().backward()
    assert not w.grad.is_sparse
    np.testing.assert_allclose(w.grad.numpy(), expected)


def test_non_leaf_table_gets_a_dense_gradient(device):
    p, ref = table(4, 2, device), table(4, 2, device)
    F.embedding(mg.tensor([1, 1, 3], device=device), p * 3.0, sparse=True).sum().backward()
    F.embedding(mg.tensor([1, 1, 3], device=device), ref * 3.0).sum().backward()
    assert not p.grad.is_sparse
    np.testing.assert_allclose(p.grad.numpy(), ref.grad.numpy())


def test_detect_anomaly_reads_sparse_gradients():
    w = table(4, 2)
    with mg.detect_anomaly():
        F.embedding(mg.tensor([1]), w, sparse=True).sum().backward()  # finite: fine
        with pytest.raises(RuntimeError, match="NaN or Inf"):
            (F.embedding(mg.tensor([2]), w, sparse=True) * mg.tensor(float("inf"), dtype="float64")).sum().backward()


def test_nn_embedding_sparse_flag_and_zero_grad():
    emb = mg.nn.Embedding(10, 3, sparse=True)
    emb(mg.tensor([[1, 2], [2, 9]])).sum().backward()
    g = emb.weight.grad
    assert g.is_sparse and g.dtype == np.float32 and g.values.shape == (3, 3)
    opt = optim.SGD(emb.parameters(), lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert emb.weight.grad.is_sparse and emb.weight.grad.nnz == 0
    emb(mg.tensor([4])).sum().backward()  # accumulates onto the empty sparse gradient
    assert mg.tensor(emb.weight.grad.indices).tolist() == [4]


# ---------------------------------------------------------------- the cost: O(batch x dim)
def test_big_vocabulary_step_touches_only_the_batch_rows(monkeypatch):
    num, dim = 100_000, 64
    emb = mg.nn.Embedding(num, dim, sparse=True)
    w0 = emb.weight.data.copy()
    idx = mg.tensor(np.random.default_rng(0).integers(0, num, size=32))
    sgd, ada = optim.SGD(emb.parameters(), lr=0.5), optim.Adagrad(emb.parameters(), lr=0.5)  # Adagrad's sum is state
    # Any request for a (num, dim) array during backward + step would be a densified gradient.
    big = []
    xp = np
    for name in ("zeros", "zeros_like", "empty", "empty_like", "full", "full_like", "ones", "ones_like"):
        orig = getattr(xp, name)

        def spy(*a, _orig=orig, **k):
            shape = a[0] if a else k.get("shape")
            shape = getattr(shape, "shape", shape)
            if shape is not None and np.prod(shape) >= num * dim:
                big.append(shape)
            return _orig(*a, **k)

        monkeypatch.setattr(xp, name, spy)
    tracemalloc.start()
    try:
        for opt in (sgd, ada):
            opt.zero_grad()
            (emb(idx) ** 2).sum().backward()
            g = emb.weight.grad
            assert isinstance(g, RowSparseGrad)
            assert g.values.shape[0] <= 32 and g.values.size <= 32 * dim and g.indices.size <= 32
            opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert big == []
    assert peak < num * dim * 4 / 10  # a dense float32 gradient alone would be 25.6 MB
    assert emb.weight.dtype == np.float32 and ada.state[emb.weight]["sum"].dtype == np.float32
    changed = np.flatnonzero((emb.weight.data != w0).any(axis=1))
    assert set(changed.tolist()) == set(idx.tolist())


# ---------------------------------------------------------------- optimizers on sparse gradients
class Bag(mg.nn.Module):
    """Embedding -> mean over the bag -> Linear: a tiny classifier with a sparse or dense table."""

    def __init__(self, sparse):
        super().__init__()
        mg.manual_seed(7)
        self.emb = mg.nn.Embedding(20, 4, sparse=sparse, dtype="float64", padding_idx=0)
        self.out = mg.nn.Linear(4, 3, dtype="float64")

    def forward(self, idx):
        return self.out(self.emb(idx).mean(dim=1))


def _trajectories(make_opt, steps=15):
    rng = np.random.default_rng(0)
    batches = [(mg.tensor(rng.integers(0, 20, size=(4, 5))), mg.tensor(rng.integers(0, 3, size=4)))
               for _ in range(steps)]
    models = [Bag(sparse=True), Bag(sparse=False)]
    np.testing.assert_array_equal(models[0].emb.weight.data, models[1].emb.weight.data)
    opts = [make_opt(m.parameters()) for m in models]
    for x, y in batches:
        for m, opt in zip(models, opts):
            opt.zero_grad()
            F.cross_entropy(m(x), y).backward()
            opt.step()
        assert models[0].emb.weight.grad.is_sparse and not models[1].emb.weight.grad.is_sparse
        for a, b in zip(models[0].parameters(), models[1].parameters()):
            np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-12)
    return models


@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.5),
    lambda ps: optim.Adagrad(ps, lr=0.5),
    lambda ps: optim.Adagrad(ps, lr=0.5, lr_decay=0.1, initial_accumulator_value=0.1),
    # momentum / weight decay: the sparse gradient is densified, so the result is the dense one
    lambda ps: optim.SGD(ps, lr=0.5, momentum=0.9, nesterov=True, weight_decay=0.01),
], ids=["sgd", "adagrad", "adagrad-decay", "sgd-momentum"])
def test_sparse_and_dense_embeddings_train_identically(make_opt):
    models = _trajectories(make_opt)
    assert not np.allclose(models[0].emb.weight.data, Bag(sparse=True).emb.weight.data)  # it did train


def test_adam_sparse_update_is_lazy():
    w, ref = table(6, 2), table(6, 2)
    opt, ropt = optim.Adam([w], lr=0.1), optim.Adam([ref], lr=0.1)
    F.embedding(mg.tensor([0, 1, 2, 3, 4, 5]), w, sparse=True).sum().backward()
    F.embedding(mg.tensor([0, 1, 2, 3, 4, 5]), ref).sum().backward()
    opt.step()
    ropt.step()
    # every row touched: identical to dense Adam
    np.testing.assert_allclose(w.data, ref.data, atol=1e-15)
    # only rows 1 and 4 touched: the others keep their values AND their moments (not decayed)
    before, m_before = w.data.copy(), opt.state[w]["exp_avg"].copy()
    opt.zero_grad()
    (F.embedding(mg.tensor([1, 4, 4]), w, sparse=True) ** 2).sum().backward()
    opt.step()
    untouched = [0, 2, 3, 5]
    np.testing.assert_array_equal(w.data[untouched], before[untouched])
    np.testing.assert_array_equal(opt.state[w]["exp_avg"][untouched], m_before[untouched])
    assert not np.allclose(w.data[[1, 4]], before[[1, 4]]) and opt.state[w]["step"] == 2
    # the touched rows follow Adam's formula at step 2 (duplicated row 4 summed first)
    g = 2 * before[[1, 4]] * np.array([[1.0], [2.0]])
    m = 0.9 * m_before[[1, 4]] + 0.1 * g
    v = 0.999 * 0.001 * np.ones((2, 2)) + 0.001 * g * g
    expected = before[[1, 4]] - 0.1 / (1 - 0.81) * m / (np.sqrt(v) / np.sqrt(1 - 0.999 ** 2) + 1e-8)
    np.testing.assert_allclose(w.data[[1, 4]], expected, rtol=1e-12)


@pytest.mark.parametrize("make_opt,match", [
    (lambda ps: optim.RMSprop(ps), "RMSprop does not support sparse gradients"),
    (lambda ps: optim.AdamW(ps), "weight_decay"),
    (lambda ps: optim.Adam(ps, amsgrad=True), "amsgrad"),
    (lambda ps: optim.Adagrad(ps, weight_decay=0.1), "weight_decay option is not compatible"),
    (lambda ps: optim.Adamax(ps), "Adamax does not support sparse gradients"),
    (lambda ps: optim.NAdam(ps), "NAdam does not support sparse gradients"),
    (lambda ps: optim.RAdam(ps), "RAdam does not support sparse gradients"),
    (lambda ps: optim.Adadelta(ps), "Adadelta does not support sparse gradients"),
])
def test_unsupported_sparse_combinations_raise_clearly(make_opt, match):
    w = table(5, 2)
    opt = make_opt([w])
    F.embedding(mg.tensor([1]), w, sparse=True).sum().backward()
    with pytest.raises(RuntimeError, match=match):
        opt.step()


def test_adamw_without_weight_decay_and_sparse_adam_accept_sparse_gradients():
    for opt_cls, kw in ((optim.AdamW, dict(weight_decay=0.0)), (optim.SparseAdam, {})):
        w = table(5, 2)
        w0 = w.data.copy()
        opt = opt_cls([w], lr=0.1, **kw)
        F.embedding(mg.tensor([3]), w, sparse=True).sum().backward()
        opt.step()
        assert np.flatnonzero((w.data != w0).any(axis=1)).tolist() == [3]
    p = table(2, 2)
    (p * p).sum().backward()
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        optim.SparseAdam([p]).step()


def test_user_made_uncoalesced_gradient_is_coalesced_by_the_optimizer():
    w = table(4, 1)
    w0 = w.data.copy()
    w.grad = RowSparseGrad(np.array([2, 2]), np.array([[1.0], [3.0]]), (4, 1))
    optim.Adagrad([w], lr=1.0, eps=0.0).step()
    # one row with g = 4: s = 16, step = 4 / 4 = 1 (two separate rows would each have moved by 1 -> 2)
    np.testing.assert_allclose(w.data[2] - w0[2], [-1.0])
