"""Parity with PyTorch (float64): outputs and gradients of a representative set of ops match torch's.

Each case builds the same computation in both libraries from the same data, backpropagates
the same random cotangent, and compares outputs and input gradients to ~1e-10.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = dict(rtol=1e-10, atol=1e-12)


def parity(mg_fn, torch_fn, arrays, device, grad_inputs=None):
    """Run both, compare outputs, then gradients w.r.t. the inputs listed in grad_inputs (default: all)."""
    grad_inputs = range(len(arrays)) if grad_inputs is None else grad_inputs
    ms = [mg.tensor(a, device=device, requires_grad=i in grad_inputs and a.dtype.kind == "f")
          for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i in grad_inputs and a.dtype.kind == "f") for i, a in enumerate(arrays)]
    mo, to = mg_fn(*ms), torch_fn(*ts)
    np.testing.assert_allclose(mo.numpy(), to.detach().numpy(), **TOL)
    assert mo.shape == tuple(to.shape)
    v = np.random.default_rng(9).standard_normal(to.shape)
    mo.backward(mg.tensor(v, device=device))
    to.backward(torch.tensor(v))
    for i in grad_inputs:
        if arrays[i].dtype.kind == "f":
            assert ms[i].grad is not None, f"input {i} got no gradient"
            np.testing.assert_allclose(ms[i].grad.numpy(), ts[i].grad.numpy(), **TOL)


rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 1, 3, 4), (5, 4, 2)),
                                   ((4,), (2, 4, 3)), ((2, 5, 4), (4,)), ((3, 4), (2, 4, 2))])
def test_matmul(device, sa, sb):
    parity(lambda a, b: a @ b, lambda a, b: a @ b, [randn(*sa), randn(*sb)], device)


@pytest.mark.parametrize("xshape", [(4,), (3, 4), (2, 3, 4)])
def test_linear(device, xshape):
    parity(F.linear, TF.linear, [randn(*xshape), randn(5, 4), randn(5)], device)
    parity(F.linear, TF.linear, [randn(*xshape), randn(5, 4)], device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_class_dim_last_vs_torch_class_dim_1(device, reduction, label_smoothing):
    """minigrad puts classes last (N, T, C); torch wants (N, C, T): permute for torch."""
    logits = randn(3, 5, 7) * 3
    target = rng.integers(0, 7, (3, 5))
    target[0, 1] = target[2, 4] = -100  # ignored positions

    def torch_ce(x, t):
        return TF.cross_entropy(x.permute(0, 2, 1), t, reduction=reduction, label_smoothing=label_smoothing)

    parity(lambda x, t: F.cross_entropy(x, t, reduction=reduction, label_smoothing=label_smoothing), torch_ce,
           [logits, target], device, grad_inputs=[0])


def test_cross_entropy_2d_and_custom_ignore_index(device):
    logits, target = randn(6, 4), np.array([0, 3, 1, 1, 2, 0])
    parity(lambda x, t: F.cross_entropy(x, t, ignore_index=1), lambda x, t: TF.cross_entropy(x, t, ignore_index=1),
           [logits, target], device, grad_inputs=[0])


def test_nll_loss(device):
    logp, target = randn(5, 4, 3), rng.integers(0, 3, (5, 4))
    parity(lambda x, t: F.nll_loss(x, t), lambda x, t: TF.nll_loss(x.permute(0, 2, 1), t), [logp, target], device,
           grad_inputs=[0])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(device, dim):
    x = randn(3, 4, 5) * 4
    parity(lambda a: F.log_softmax(a, dim), lambda a: TF.log_softmax(a, dim), [x], device)
    parity(lambda a: F.softmax(a, dim), lambda a: TF.softmax(a, dim), [x], device)


@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_logsumexp(device, dim, keepdim):
    x = randn(3, 4, 5) * 10
    tdim = tuple(range(3)) if dim is None else dim
    parity(lambda a: a.logsumexp(dim, keepdim), lambda a: torch.logsumexp(a, tdim, keepdim), [x], device)


@pytest.mark.parametrize("dim,correction", [(None, 1), (1, 0), ((0, 2), 1), (-1, 2)])
def test_var(device, dim, correction):
    x = randn(3, 4, 5)
    parity(lambda a: a.var(dim, keepdim=False, correction=correction),
           lambda a: torch.var(a, dim, correction=correction), [x], device)


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)])
def test_amax_amin_with_ties_match_torch(device, dim):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [3.0, -2.0, 3.0, -2.0], [0.5, 0.5, -2.0, 0.5]])
    tdim = () if dim is None else dim
    parity(lambda a: a.amax(dim), lambda a: torch.amax(a, tdim), [x], device)
    parity(lambda a: a.amin(dim), lambda a: torch.amin(a, tdim), [x], device)
    if isinstance(dim, int):  # torch.max(dim): values to the first tied index (test_max_min.py has more)
        parity(lambda a: a.max(dim).values, lambda a: torch.max(a, dim).values, [x], device)
        parity(lambda a: a.min(dim).values, lambda a: torch.min(a, dim).values, [x], device)


def test_getitem_with_repeated_indices_and_masks(device):
    x = randn(5, 4)
    idx = np.array([0, 2, 2, 4, 0, 0])
    parity(lambda a: a[idx], lambda a: a[torch.tensor(idx)], [x], device)
    parity(lambda a: a[idx, 1:3], lambda a: a[torch.tensor(idx), 1:3], [x], device)
    cols = np.array([3, 3, 0])
    parity(lambda a: a[idx[:3], cols], lambda a: a[torch.tensor(idx[:3]), torch.tensor(cols)], [x], device)
    mask = x > 0
    parity(lambda a: a[mask], lambda a: a[torch.tensor(mask)], [x], device)
    parity(lambda a: a[1:4:2, None, -1], lambda a: a[1:4:2, None, -1], [x], device)


def test_embedding(device):
    w = randn(6, 3)
    idx = np.array([[0, 5, 5], [2, 0, 5]])
    parity(lambda w: F.embedding(mg.tensor(idx, device=device), w),
           lambda w: TF.embedding(torch.tensor(idx), w), [w], device)
    parity(lambda w: F.embedding(mg.tensor(idx, device=device), w, padding_idx=5),
           lambda w: TF.embedding(torch.tensor(idx), w, padding_idx=5), [w], device)


def test_elementwise_and_activations(device):
    a, b = randn(3, 1, 4), np.abs(randn(2, 4)) + 0.5
    parity(lambda x, y: (x * y - x / y + y ** x).tanh() + mg.maximum(x, y) + mg.minimum(x, -y),
           lambda x, y: (x * y - x / y + y ** x).tanh() + torch.maximum(x, y) + torch.minimum(x, -y), [a, b], device)
    parity(lambda x: x.sigmoid() + x.softplus() + x.relu() + x.abs() + x.clamp(-0.5, 0.5) + x.exp().log(),
           lambda x: x.sigmoid() + TF.softplus(x) + x.relu() + x.abs() + x.clamp(-0.5, 0.5) + x.exp().log(),
           [randn(4, 5)], device)


def test_bce_with_logits_and_mse(device):
    x, y = randn(4, 3) * 5, rng.uniform(0, 1, (4, 3))
    parity(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"),
           lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction="none"), [x, y], device)
    parity(F.mse_loss, TF.mse_loss, [x, y], device)


def test_shape_ops(device):
    x = randn(2, 3, 4)
    parity(lambda a: a.permute(2, 0, 1).reshape(4, 6).T, lambda a: a.permute(2, 0, 1).reshape(4, 6).T, [x], device)
    parity(lambda a: mg.cat(a.split([1, 2], 1)[::-1], 1), lambda a: torch.cat(a.split([1, 2], 1)[::-1], 1), [x],
           device)
    parity(lambda a: mg.stack(a.chunk(2, -1), 1), lambda a: torch.stack(a.chunk(2, -1), 1), [x], device)
    parity(lambda a: a[:, :1].expand(2, 5, 4), lambda a: a[:, :1].expand(2, 5, 4), [x], device)
    parity(lambda a: a.unsqueeze(1).squeeze(), lambda a: a.unsqueeze(1).squeeze(), [x], device)


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_cos(device, name):
    parity(lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), [randn(3, 4) * 3], device)


@pytest.mark.parametrize("dim,ishape", [(0, (4, 3)), (1, (2, 5)), (-1, (1, 2)), (0, (1, 1))])
def test_gather(device, dim, ishape):
    x = randn(3, 3)
    index = rng.integers(0, 3, ishape)
    parity(lambda a: a.gather(dim, mg.tensor(index, device=device)),
           lambda a: torch.gather(a, dim, torch.tensor(index)), [x], device)


@pytest.mark.parametrize("dim,ishape", [(0, (4, 3)), (1, (2, 5)), (-1, (1, 2)), (0, (1, 1))])
def test_scatter_add(device, dim, ishape):
    index = rng.integers(0, 3, ishape)  # repeats included: they add up in both
    src = randn(*ishape)  # torch's backward needs src shaped like index (ours also takes a larger src)
    parity(lambda a, s: a.scatter_add(dim, mg.tensor(index, device=device), s),
           lambda a, s: torch.scatter_add(a, dim, torch.tensor(index), s), [randn(3, 3), src], device)


@pytest.mark.parametrize("dim,index", [(0, [0, 2, 0]), (1, [3, 3]), (-1, [])])
def test_index_add(device, dim, index):
    src_shape = (len(index), 4) if dim == 0 else (3, len(index))
    parity(lambda a, s: a.index_add(dim, mg.tensor(index, dtype="int64", device=device), s, alpha=1.5),
           lambda a, s: a.index_add(dim, torch.tensor(index, dtype=torch.int64), s, alpha=1.5),
           [randn(3, 4), randn(*src_shape)], device)


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter(device, dim):
    index = np.argsort(rng.random((3, 3)), axis=dim)[:2] if dim == 0 else np.argsort(rng.random((3, 3)), axis=1)[:, :2]
    parity(lambda a, s: a.scatter(dim, mg.tensor(index, device=device), s),
           lambda a, s: torch.scatter(a, dim, torch.tensor(index), s), [randn(3, 3), randn(*index.shape)], device)
    parity(lambda a: a.scatter(dim, mg.tensor(index, device=device), 0.5),
           lambda a: a.scatter(dim, torch.tensor(index), 0.5), [randn(3, 3)], device)


def test_nonzero(device):
    x = (rng.random((3, 4, 2)) > 0.5) * randn(3, 4, 2)
    np.testing.assert_array_equal(mg.tensor(x, device=device).nonzero().numpy(), torch.tensor(x).nonzero().numpy())
    for a, b in zip(mg.where(mg.tensor(x, device=device) > 0), torch.where(torch.tensor(x) > 0)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("mshape", [(3, 4), (4,), (3, 1), (2, 3, 4)])
def test_masked_fill(device, mshape):
    mask = rng.random(mshape) > 0.5
    parity(lambda a: a.masked_fill(mg.tensor(mask, device=device), -2.5),
           lambda a: a.masked_fill(torch.tensor(mask), -2.5), [randn(3, 4)], device)
    parity(lambda a, v: a.masked_fill(mg.tensor(mask, device=device), v),
           lambda a, v: a.masked_fill(torch.tensor(mask), v), [randn(3, 4), np.array(1.5)], device)


@pytest.mark.parametrize("p,dim,keepdim", [(2, None, False), (2, 1, True), ("fro", (0, 1), False), (1, 0, False),
                                           (float("inf"), 1, False)])
def test_norm(device, p, dim, keepdim):
    parity(lambda a: a.norm(p, dim, keepdim), lambda a: a.norm(p, dim, keepdim), [randn(3, 4)], device)


@pytest.mark.parametrize("dim,correction", [(None, 1), (1, 0), (0, 1), ((0, 1), 1)])
def test_std(device, dim, correction):
    parity(lambda a: a.std(dim, correction=correction), lambda a: a.std(dim, correction=correction),
           [randn(3, 4)], device)


def test_mm_bmm_t(device):
    parity(lambda a, b: a.mm(b.t()), lambda a, b: a.mm(b.t()), [randn(3, 4), randn(5, 4)], device)
    parity(lambda a, b: mg.bmm(a, b), lambda a, b: torch.bmm(a, b), [randn(2, 3, 4), randn(2, 4, 5)], device)


def test_one_hot(device):
    idx = rng.integers(0, 5, (3, 4))
    got = F.one_hot(mg.tensor(idx, device=device), 6)
    want = TF.one_hot(torch.tensor(idx), 6)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(F.one_hot(mg.tensor(idx, device=device)).numpy(), TF.one_hot(torch.tensor(idx)).numpy())


@pytest.mark.parametrize("name,mg_fn,torch_fn", [
    ("flip", lambda a: a.flip(0, 2), lambda a: a.flip(0, 2)),
    ("roll", lambda a: a.roll((1, -3), (1, 2)), lambda a: a.roll((1, -3), (1, 2))),
    ("roll flat", lambda a: a.roll(7), lambda a: a.roll(7)),
    ("index_select", lambda a: a.index_select(2, mg.tensor([3, 0, 3])), lambda a: a.index_select(2, torch.tensor([3, 0, 3]))),
    ("repeat", lambda a: a.repeat(2, 1, 1, 2), lambda a: a.repeat(2, 1, 1, 2)),
    ("tril", lambda a: a.tril(1), lambda a: a.tril(1)),
    ("triu", lambda a: a.triu(-1), lambda a: a.triu(-1)),
    ("cumsum", lambda a: a.cumsum(1), lambda a: a.cumsum(1)),
    ("prod", lambda a: a.prod(2), lambda a: a.prod(2)),
    ("sort", lambda a: a.sort(1, descending=True).values, lambda a: a.sort(1, descending=True).values),
    ("topk", lambda a: a.topk(3, -1).values, lambda a: a.topk(3, -1).values),
])
def test_more_shape_and_reduction_ops(device, name, mg_fn, torch_fn):
    x = randn(2, 3, 4)
    x[0, 1, 2] = 0.0  # prod through a zero
    parity(mg_fn, torch_fn, [x], device)


def test_masked_select_sort_indices_and_new_tensors(device):
    x = randn(3, 4)
    mask = x > 0.2
    parity(lambda a: a.masked_select(mg.tensor(mask[0], device=device)),
           lambda a: a.masked_select(torch.tensor(mask[0])), [x], device)
    m, t = mg.tensor(x, device=device), torch.tensor(x)
    np.testing.assert_array_equal(m.sort(0).indices.numpy(), t.sort(0).indices.numpy())
    np.testing.assert_array_equal(m.argsort(1, descending=True).numpy(), t.argsort(1, descending=True).numpy())
    np.testing.assert_array_equal(m.topk(2, 0, largest=False).indices.numpy(), t.topk(2, 0, largest=False).indices.numpy())
    assert m.new_zeros(2, 3).dtype == np.float64 and m.new_zeros(2, 3).device == m.device
    assert m.new_full((2,), 7).numpy().tolist() == t.new_full((2,), 7).tolist()
    assert mg.tensor([1, 2], device=device).type_as(m).dtype == np.float64


@pytest.mark.parametrize("pads", [(1, 2), (0, 0, 1, 0), (-1, 2), (2, -3, 1, 1), (1, 1, 1, 1, 1, 1)])
def test_pad(device, pads):
    parity(lambda a: F.pad(a, pads, value=-1.0), lambda a: TF.pad(a, pads, value=-1.0), [randn(2, 3, 4)], device)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pads", [((2, 5), (2, 1)), ((2, 3, 5), (-1, 3)), ((2, 3, 4), (1, 2, 2, 1)),
                                        ((1, 2, 3, 4), (0, 2, -1, 2)), ((2, 1, 3, 4, 3), (1, 1, 2, 0, 1, 2))])
def test_pad_modes(device, mode, shape, pads):
    parity(lambda a: F.pad(a, pads, mode=mode), lambda a: TF.pad(a, pads, mode=mode), [randn(*shape)], device)
