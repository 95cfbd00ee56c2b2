"""nn.utils: clip_grad_norm_ and clip_grad_value_ (against torch, and their in-place contract); nn.utils.rnn.pad_sequence."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils import clip_grad_norm_, clip_grad_value_
from minigrad.testing import strategies as mst


def params_with_grads(shapes, seed, device="cpu", dtype="float32", scale=1.0):
    rng = np.random.default_rng(seed)
    ps = []
    for s in shapes:
        p = nn.Parameter(mg.zeros(*s, dtype=dtype, device=device))
        p.grad = mg.tensor(rng.standard_normal(s) * scale, dtype=dtype, device=device)
        ps.append(p)
    return ps


def total_norm(arrays, p):
    flat = np.concatenate([a.reshape(-1).astype(np.float64) for a in arrays])
    return np.abs(flat).max() if p == math.inf else (np.abs(flat) ** p).sum() ** (1 / p)


@given(shapes=st.lists(mst.shapes(min_dims=0, max_dims=3, max_side=4), min_size=1, max_size=4),
       max_norm=st.floats(0.01, 10.0), norm_type=st.sampled_from([1.0, 2.0, 3.0, math.inf]),
       scale=st.sampled_from([0.01, 1.0, 10.0]), seed=st.integers(0, 2**16))
def test_clip_grad_norm_scales_to_max_norm(device, shapes, max_norm, norm_type, scale, seed):
    ps = params_with_grads(shapes, seed, device, "float64", scale)
    before = [p.grad.numpy().copy() for p in ps]
    expected = total_norm(before, norm_type)
    grad_arrays = [p.grad.data for p in ps]
    total = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    assert isinstance(total, mg.Tensor) and total.shape == () and total.dtype == np.float64
    assert total.device == ps[0].device
    np.testing.assert_allclose(total.item(), expected, rtol=1e-10)
    coef = min(1.0, max_norm / (expected + 1e-6))
    for p, b, arr in zip(ps, before, grad_arrays):
        assert p.grad.data is arr  # scaled in place
        np.testing.assert_allclose(p.grad.numpy(), b * coef, rtol=1e-10, atol=1e-300)
    after = total_norm([p.grad.numpy() for p in ps], norm_type)
    np.testing.assert_allclose(after, expected * coef, rtol=1e-9)  # <= max_norm when clipped


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    shapes = [(3, 4), (4,), (2, 2, 2)]
    for norm_type in (2.0, 1.0, math.inf, 0.5):
        ps = params_with_grads(shapes, 0, scale=3.0)
        tps = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
        for p, tp in zip(ps, tps):
            tp.grad = torch.tensor(p.grad.numpy().copy())
        total = clip_grad_norm_(ps, 1.5, norm_type=norm_type)
        ttotal = torch.nn.utils.clip_grad_norm_(tps, 1.5, norm_type=norm_type)
        assert total.dtype == np.float32  # float32 gradients keep a float32 norm
        np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-5)
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_below_the_limit_leaves_grads_unchanged():
    ps = params_with_grads([(5,)], 1, scale=0.01)
    before = ps[0].grad.numpy().copy()
    total = clip_grad_norm_(ps, 100.0)
    np.testing.assert_allclose(ps[0].grad.numpy(), before, rtol=1e-6)
    np.testing.assert_allclose(total.item(), np.linalg.norm(before), rtol=1e-6)


def test_clip_grad_norm_inputs():
    p = params_with_grads([(3,)], 2)[0]
    q = nn.Parameter(mg.zeros(2))  # no grad: skipped
    total = clip_grad_norm_(p, 1e9)  # a single tensor is accepted
    np.testing.assert_allclose(clip_grad_norm_([p, q], 1e9).item(), total.item())
    assert clip_grad_norm_([q], 1.0).item() == 0.0
    model = nn.Linear(3, 2)
    model(mg.randn(4, 3)).sum().backward()
    clip_grad_norm_(model.parameters(), 0.1)  # a generator, as torch's idiom
    assert total_norm([p.grad.numpy() for p in model.parameters()], 2) == pytest.approx(0.1, rel=1e-4)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_([p], -1.0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_([p], 1.0, norm_type=0)
    with pytest.raises(TypeError, match="Tensors"):
        clip_grad_norm_([np.zeros(3)], 1.0)


def test_clip_grad_norm_nonfinite():
    p = params_with_grads([(3,)], 3)[0]
    p.grad.data[0] = np.inf
    with pytest.raises(RuntimeError, match="total norm"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert math.isinf(clip_grad_norm_([p], 1.0).item())  # default: no host check, as torch


def test_clip_grad_norm_handles_row_sparse_gradients():
    emb = nn.Embedding(10, 3, sparse=True)
    dense = nn.Embedding(10, 3)
    dense.load_state_dict(emb.state_dict())
    idx = mg.tensor([1, 4, 4, 7])
    (emb(idx) ** 2).sum().backward()
    (dense(idx) ** 2).sum().backward()
    assert getattr(emb.weight.grad, "is_sparse", False)
    t_sparse = clip_grad_norm_(emb.parameters(), 0.5)
    t_dense = clip_grad_norm_(dense.parameters(), 0.5)
    np.testing.assert_allclose(t_sparse.item(), t_dense.item(), rtol=1e-6)
    np.testing.assert_allclose(emb.weight.grad.to_dense().numpy(), dense.weight.grad.numpy(), rtol=1e-6)
    clip_grad_value_(emb.parameters(), 0.01)
    clip_grad_value_(dense.parameters(), 0.01)
    np.testing.assert_allclose(emb.weight.grad.to_dense().numpy(), dense.weight.grad.numpy(), rtol=1e-6)


@given(clip=st.floats(0.0, 2.0), seed=st.integers(0, 2**16))
def test_clip_grad_value(device, clip, seed):
    ps = params_with_grads([(3, 4), (5,)], seed, device, scale=2.0)
    before = [p.grad.numpy().copy() for p in ps]
    arrays = [p.grad.data for p in ps]
    assert clip_grad_value_(ps, clip) is None
    for p, b, arr in zip(ps, before, arrays):
        assert p.grad.data is arr and p.grad.dtype == np.float32
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(b, -clip, clip).astype(np.float32))


def test_clip_grad_value_matches_torch_and_validates():
    torch = pytest.importorskip("torch")
    ps = params_with_grads([(4, 4)], 5, scale=2.0)
    tp = torch.nn.Parameter(torch.zeros(4, 4))
    tp.grad = torch.tensor(ps[0].grad.numpy().copy())
    clip_grad_value_(ps, 0.7)
    torch.nn.utils.clip_grad_value_([tp], 0.7)
    np.testing.assert_array_equal(ps[0].grad.numpy(), tp.grad.numpy())
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(ps, -1)


def test_utils_and_init_are_submodules():
    import minigrad.nn.init
    import minigrad.nn.utils

    assert mg.nn.utils is minigrad.nn.utils and mg.nn.init is minigrad.nn.init
    assert mg.nn.utils.clip_grad_norm_ is clip_grad_norm_


# ---------------------------------------------------------------- nn.utils.rnn.pad_sequence
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch(device, batch_first, padding_side):
    """Values as torch's, and the gradient reaches each real position once (padding gets none)."""
    from minigrad.nn.utils.rnn import pad_sequence
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((n, 2)) for n in (3, 1, 4)]
    xs = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    out = pad_sequence(xs, batch_first=batch_first, padding_value=-1.5, padding_side=padding_side)
    assert out.shape == ((3, 4, 2) if batch_first else (4, 3, 2))
    torch = pytest.importorskip("torch")
    want = torch.nn.utils.rnn.pad_sequence([torch.tensor(a) for a in arrays], batch_first=batch_first,
                                           padding_value=-1.5, padding_side=padding_side)
    np.testing.assert_array_equal(out.numpy(), want.numpy())
    w = rng.standard_normal(out.shape)
    (out * mg.tensor(w, device=device)).sum().backward()
    wt = torch.tensor(w) if batch_first else torch.tensor(w).transpose(0, 1)  # (B, T, 2)
    for b, (x, a) in enumerate(zip(xs, arrays)):
        n = len(a)
        rows = wt[b, :n] if padding_side == "right" else wt[b, wt.shape[1] - n:]
        np.testing.assert_array_equal(x.grad.numpy(), rows.numpy())


def test_pad_sequence_errors_and_plain_lists():
    from minigrad.nn.utils.rnn import pad_sequence
    assert pad_sequence(iter([[1, 2], [3]]), padding_side="left").numpy().tolist() == [[1, 0], [2, 3]]
    with pytest.raises(TypeError, match="pad_sequence: expected a list of sequences, got Tensor"):
        pad_sequence(mg.ones(2, 3))
    with pytest.raises(ValueError, match="pad_sequence: sequences must agree after the first"):
        pad_sequence([mg.ones(2, 3), mg.ones(2, 4)])
    with pytest.raises(ValueError, match="pad_sequence: padding_side must be 'right' or 'left'"):
        pad_sequence([mg.ones(2)], padding_side="middle")


def test_clip_grad_norm_takes_torchs_inf_spelling():
    """norm_type='inf' is torch's documented spelling of the max-norm (the one string accepted)."""
    p = mg.tensor([3.0, -4.0], requires_grad=True)
    p.grad = mg.tensor([3.0, -4.0])
    assert float(clip_grad_norm_([p], 10.0, norm_type="inf").item()) == 4.0
