"""Regression tests for review 5's findings A2, A3, A5, A6, B2 (host syncs), E (NaN attention masks)
and check_float's message for non-tensors. Each test failed before its fix."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.ops import nn as ops_nn

torch = pytest.importorskip("torch")

GRAD_CHANGED = "modified in place after the op used it"


def _leaf(arr, device, requires_grad=True):
    return mg.tensor(np.asarray(arr, dtype=np.float32), device=device, requires_grad=requires_grad)


# ---------------------------------------------------------------- A2: constants changed in place
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("loss, op", [("cross_entropy", "CrossEntropy"), ("nll_loss", "NLLLoss")])
def test_class_weight_changed_in_place_refused_at_backward(device, loss, op, reduction):
    x = _leaf(np.random.default_rng(0).standard_normal((3, 4)), device)
    t = mg.tensor([0, 1, 3], device=device)
    w = mg.tensor([1.0, 2.0, 3.0, 4.0], device=device)
    out = getattr(F, loss)(x, t, weight=w, reduction=reduction)
    with mg.no_grad():
        w.mul_(10)
    with pytest.raises(RuntimeError, match=f"{op}.*{GRAD_CHANGED}"):
        out.backward()


def test_cross_entropy_unchanged_weight_still_matches_torch(device):
    """Passing the weight as an input changed nothing else: values and gradients as torch (smoothing, ignore)."""
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((5, 4)).astype(np.float32), rng.uniform(0.5, 2, 4).astype(np.float32)
    tv = np.array([0, 3, -100, 2, 1])
    for reduction in ("mean", "sum", "none"):
        x = _leaf(xv, device)
        got = F.cross_entropy(x, mg.tensor(tv, device=device), weight=mg.tensor(wv, device=device),
                              reduction=reduction, label_smoothing=0.1)
        (got.sum() if reduction == "none" else got).backward()
        xt = torch.tensor(xv, requires_grad=True)
        want = torch.nn.functional.cross_entropy(xt, torch.tensor(tv), weight=torch.tensor(wv),
                                                 reduction=reduction, label_smoothing=0.1)
        (want.sum() if reduction == "none" else want).backward()
        np.testing.assert_allclose(got.cpu().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_soft_target_cross_entropy_weight_changed_in_place_refused(device):
    x = _leaf(np.random.default_rng(2).standard_normal((3, 4)), device)
    target = F.softmax(mg.randn(3, 4, device=device), dim=-1)
    w = mg.tensor([1.0, 2.0, 3.0, 4.0], device=device)
    out = F.cross_entropy(x, target, weight=w)
    with mg.no_grad():
        w.mul_(10)
    with pytest.raises(RuntimeError, match=GRAD_CHANGED):
        out.backward()


@pytest.mark.parametrize("name", ["weight", "pos_weight"])
def test_bce_with_logits_weights_changed_in_place_refused(device, name):
    x = _leaf(np.random.default_rng(3).standard_normal((2, 3)), device)
    y = mg.tensor(np.full((2, 3), 0.25, dtype=np.float32), device=device)
    c = mg.tensor([1.0, 2.0, 3.0], device=device)
    out = F.binary_cross_entropy_with_logits(x, y, **{name: c})
    with mg.no_grad():
        c.mul_(5)
    with pytest.raises(RuntimeError, match=f"BCEWithLogits.*{GRAD_CHANGED}"):
        out.backward()


def test_bce_with_logits_both_weights_match_torch(device):
    rng = np.random.default_rng(4)
    xv, yv = rng.standard_normal((3, 2)).astype(np.float32), rng.uniform(0, 1, (3, 2)).astype(np.float32)
    wv, pv = np.array([0.5, 2.0], np.float32), np.array([3.0, 0.25], np.float32)
    x, y = _leaf(xv, device), _leaf(yv, device)
    F.binary_cross_entropy_with_logits(x, y, weight=mg.tensor(wv, device=device),
                                       pos_weight=mg.tensor(pv, device=device)).backward()
    xt, yt = torch.tensor(xv, requires_grad=True), torch.tensor(yv, requires_grad=True)
    torch.nn.functional.binary_cross_entropy_with_logits(xt, yt, weight=torch.tensor(wv),
                                                         pos_weight=torch.tensor(pv)).backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.grad.cpu().numpy(), yt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_bce_weight_changed_in_place_refused(device):
    x = _leaf([[0.2, 0.7], [0.5, 0.9]], device)
    y = mg.tensor(np.array([[0.0, 1.0], [1.0, 0.0]], np.float32), device=device)
    w = mg.tensor([1.0, 2.0], device=device)
    out = F.binary_cross_entropy(x, y, weight=w, reduction="sum")
    with mg.no_grad():
        w.mul_(10)
    with pytest.raises(RuntimeError, match=f"BinaryCrossEntropy.*{GRAD_CHANGED}"):
        out.backward()


def test_masked_scatter_mask_changed_in_place_refused(device):
    """The review's case: the changed mask sent the gradient to the wrong places ([1,0,0,4] for x)."""
    a = _leaf([0.0, 0.0, 0.0, 0.0], device)
    s = _leaf([1.0, 2.0, 3.0, 4.0], device)
    m = mg.tensor([True, False, False, True], device=device)
    y = a.masked_scatter(m, s)
    m[0] = False
    m[1] = True
    with pytest.raises(RuntimeError, match=f"MaskedScatter.*{GRAD_CHANGED}"):
        y.backward(mg.tensor([1.0, 2.0, 3.0, 4.0], device=device))


def test_masked_scatter_broadcast_mask_gradients_match_torch(device):
    """A (1, 3) mask broadcast over (2, 3) x: values and gradients as torch (the mask now an input)."""
    xv = np.arange(6, dtype=np.float32).reshape(2, 3)
    sv = np.arange(10, 20, dtype=np.float32).reshape(2, 5)
    mv = np.array([[True, False, True]])
    x, s = _leaf(xv, device), _leaf(sv, device)
    y = x.masked_scatter(mg.tensor(mv, device=device), s)
    g = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    y.backward(mg.tensor(g, device=device))
    xt, st = torch.tensor(xv, requires_grad=True), torch.tensor(sv, requires_grad=True)
    yt = xt.masked_scatter(torch.tensor(mv), st)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(y.cpu().numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(x.grad.cpu().numpy(), xt.grad.numpy())
    np.testing.assert_array_equal(s.grad.cpu().numpy(), st.grad.numpy())


# ---------------------------------------------------------------- A3
def test_cosine_embedding_loss_python_target_on_input_device(device):
    """A list or NumPy target is made on input1's device (it was always cpu: refused for cuda inputs)."""
    rng = np.random.default_rng(5)
    a, b = (mg.tensor(rng.standard_normal((3, 4)).astype(np.float32), device=device) for _ in range(2))
    want = F.cosine_embedding_loss(a, b, mg.tensor([1, -1, 1], device=device), margin=0.1)
    for target in ([1, -1, 1], np.array([1, -1, 1])):
        got = F.cosine_embedding_loss(a, b, target, margin=0.1)
        assert got.device == a.device and got.dtype == a.dtype
        np.testing.assert_allclose(got.cpu().numpy(), want.cpu().numpy())


# ---------------------------------------------------------------- A5, A6
def test_conv1d_non_tensor_weight_is_a_type_error(device):
    x = mg.randn(1, 2, 5, device=device)
    with pytest.raises(TypeError, match="conv1d: weight must be a Tensor.*got list"):
        F.conv1d(x, [[[1.0, 2.0]], [[3.0, 4.0]]])
    with pytest.raises(ValueError, match=r"conv1d: weight must be a 3-D tensor.*float32\[2, 2\]"):
        F.conv1d(x, mg.randn(2, 2, device=device))


@pytest.mark.parametrize("which", [0, 1, 2])
def test_multihead_attention_input_dtype_mismatch_named_by_module(device, which):
    mha = nn.MultiheadAttention(4, 2, device=device)
    qkv = [mg.randn(3, 2, 4, device=device) for _ in range(3)]
    qkv[which] = qkv[which].double()
    name = ("query", "key", "value")[which]
    with pytest.raises(TypeError, match=f"MultiheadAttention: {name} float64.*float32"):
        mha(*qkv)


# ---------------------------------------------------------------- B2: host syncs
def test_counted_weight_stays_on_the_device(device):
    """The 'mean' divisor is a 0-d array of the loss dtype (no int()/float() of device data)."""
    t = mg.tensor([0, 2, -100], device=device)
    w = mg.tensor([1.0, 2.0, 4.0], device=device)
    for weight, want in ((None, 2.0), (w, 5.0)):
        count = ops_nn._counted_weight(t, -100, weight, np.dtype(np.float32))
        assert not isinstance(count, (int, float)) and count.shape == () and count.dtype == np.float32
        assert float(count) == want


@pytest.mark.parametrize("weight", [None, [0.0, 0.0, 1.0]])
def test_mean_with_nothing_counted_is_the_sum(device, weight):
    """The 0-count rule (all ignored, or zero total weight) still gives the sum, decided on the device."""
    x = _leaf(np.random.default_rng(6).standard_normal((2, 3)), device)
    t = mg.tensor([-100, -100] if weight is None else [0, 1], device=device)
    w = None if weight is None else mg.tensor(weight, device=device)
    loss = F.cross_entropy(x, t, weight=w, label_smoothing=0.2)
    want = F.cross_entropy(x, t, weight=w, label_smoothing=0.2, reduction="sum")
    np.testing.assert_allclose(loss.cpu().numpy(), want.detach().cpu().numpy(), rtol=1e-6)
    loss.backward()
    assert np.isfinite(x.grad.cpu().numpy()).all()


def test_batchnorm_cumulative_average_reads_counter_once(monkeypatch, device):
    """momentum=None reads num_batches_tracked on the host at most once, not every step."""
    calls = []
    real_item = mg.Tensor.item
    monkeypatch.setattr(mg.Tensor, "item", lambda self: calls.append(1) or real_item(self))
    bn = nn.BatchNorm1d(3, momentum=None, device=device)
    for _ in range(5):
        bn(mg.randn(4, 3, device=device))
    assert len(calls) <= 1
    assert int(real_item(bn.num_batches_tracked)) == 5


def test_batchnorm_counter_mirror_follows_loads_and_writes(device):
    """The host mirror agrees with the buffer after load_state_dict, reset_running_stats and a user's
    in-place write through state_dict(): running means match torch's BatchNorm1d(momentum=None)."""
    rng = np.random.default_rng(7)
    batches = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(6)]
    ours = nn.BatchNorm1d(3, momentum=None, device=device)
    ref = torch.nn.BatchNorm1d(3, momentum=None)

    def step(i):
        ours(mg.tensor(batches[i], device=device))
        ref(torch.tensor(batches[i]))

    def check():
        assert int(ours.num_batches_tracked.item()) == int(ref.num_batches_tracked)
        np.testing.assert_allclose(ours.running_mean.cpu().numpy(), ref.running_mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.running_var.cpu().numpy(), ref.running_var.numpy(), rtol=1e-5, atol=1e-6)

    step(0), step(1)
    check()
    state = {k: v.numpy() for k, v in ref.state_dict().items()}
    state["num_batches_tracked"] = np.array(10)
    ours.load_state_dict(state)
    ref.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    step(2)
    check()
    ours.state_dict()["num_batches_tracked"].fill_(1)  # shares memory (and the version counter) with the buffer
    with torch.no_grad():
        ref.num_batches_tracked.fill_(1)
    step(3)
    check()
    ours.reset_running_stats()
    ref.reset_running_stats()
    step(4), step(5)
    check()


@pytest.fixture
def no_sync():
    """cupyx's synchronisation detector (as tests/test_gpu_sync.py); skipped without a GPU."""
    if not mg.cuda_available():
        pytest.skip("needs a CUDA GPU with CuPy")
    cupyx = pytest.importorskip("cupyx")
    if not hasattr(cupyx, "allow_synchronize"):
        pytest.skip("this CuPy has no synchronisation detector (cupyx.allow_synchronize)")
    return lambda: cupyx.allow_synchronize(False)


@pytest.mark.parametrize("weighted", [False, True])
def test_mean_divisor_does_not_sync_on_gpu(no_sync, weighted):
    x = mg.randn(4, 3, device="cuda", requires_grad=True)
    t = mg.tensor([0, 2, -100, 1], device="cuda")
    w = mg.tensor([1.0, 2.0, 4.0], device="cuda") if weighted else None
    loss = ops_nn.CrossEntropy.apply(x, t, *([w] if weighted else []), ignore_index=-100, label_smoothing=0.0)
    with no_sync():
        mean = ops_nn._reduce("cross_entropy", loss, "mean", ops_nn._counted_weight(t, -100, w, loss.data.dtype))
        mean.backward()


def test_batchnorm_cumulative_average_does_not_sync_on_gpu(no_sync):
    bn = nn.BatchNorm1d(3, momentum=None, device="cuda")
    bn(mg.randn(4, 3, device="cuda"))  # the first step may read the counter once
    with no_sync():
        for _ in range(3):
            bn(mg.randn(4, 3, device="cuda", requires_grad=True)).sum().backward()


def test_index_fill_range_check_names_the_bad_index(device):
    x = mg.zeros(2, 4, device=device)
    for bad in (4, -5):
        with pytest.raises(IndexError, match=f"index_fill: index {bad} is out of range for dimension 1 of size 4"):
            mg.index_fill(x, 1, mg.tensor([0, bad, 1], device=device), 1.0)
    out = mg.index_fill(x, 1, mg.tensor([-1, 0], device=device), 2.0)
    np.testing.assert_array_equal(out.cpu().numpy(), [[2, 0, 0, 2], [2, 0, 0, 2]])


# ---------------------------------------------------------------- E: NaN in a float attention mask
def test_sdpa_nan_in_float_mask_propagates_as_torch(device):
    rng = np.random.default_rng(8)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 4)))
    mask = np.zeros((3, 5), np.float32)
    mask[1, 2] = np.nan
    mask[0, 1] = -np.inf
    mask[2, 3] = 0.5
    got = F.scaled_dot_product_attention(*(mg.tensor(a, device=device) for a in (q, k, v)),
                                         attn_mask=mg.tensor(mask, device=device))
    want = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)),
                                                            attn_mask=torch.tensor(mask))
    got = got.cpu().numpy()
    assert np.isnan(got[:, 1]).all() and not np.isnan(got[:, [0, 2]]).any()
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)


# ---------------------------------------------------------------- check_float on a non-tensor
@pytest.mark.parametrize("call, op", [(lambda v: F.softmax(v, dim=0), "softmax"),
                                      (lambda v: F.layer_norm(v, 2), "layer_norm"),
                                      (lambda v: F.dropout(v, 0.5), "dropout")])
def test_check_float_refuses_non_tensors_with_a_type_error(call, op):
    with pytest.raises(TypeError, match=f"{op}: (expected a Tensor|input must be a minigrad Tensor), got list"):
        call([1.0, 2.0])
