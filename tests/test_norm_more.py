"""group_norm, instance_norm, local_response_norm, channel_shuffle, gumbel_softmax and their modules
(BatchNorm2d/3d, GroupNorm, InstanceNorm1d/2d/3d, LocalResponseNorm, ChannelShuffle).

Values against float64 NumPy references of the definitions and gradients against finite
differences (`check_op`) over generated shapes on every backend; parity with torch in float64
(outputs, every gradient, running statistics after several training steps, eval outputs,
state dicts loaded both ways); refusals name the op.
"""
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.norm_more import GroupNorm
from minigrad.testing import gradcheck

from opcheck import check_op, draw_array

GRADIENT_TESTED = [GroupNorm]


# ================================================================ NumPy references
def np_group_norm(x, g, w=None, b=None, eps=1e-5):
    n = x.shape[0]
    xg = x.reshape(n, g, -1)
    y = ((xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


def np_lrn(x, size, alpha, beta, k):
    c = x.shape[1]
    sq = x * x
    div = np.zeros_like(x)
    for ch in range(c):
        lo, hi = ch - size // 2, ch - size // 2 + size  # window [lo, hi) clipped to the channels
        div[:, ch] = sq[:, max(lo, 0):min(hi, c)].sum(axis=1)
    return x / (k + alpha / size * div) ** beta


@st.composite
def grouped_shapes(draw, min_spatial=0):
    g = draw(st.integers(1, 3))
    c = g * draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    spatial = tuple(draw(st.lists(st.integers(1, 3), min_size=min_spatial, max_size=2)))
    shape = (n, c) + spatial
    size = 1
    for s in shape:
        size *= s
    if size // g < 2:  # a group needs more than one value
        shape = (2,) + shape[1:]
    return shape, g


def assume_spread_groups(x, g):
    """Reject inputs with a (near-)constant group: its variance is ~0, so float32 rounding noise in
    x - mean, amplified by 1/sqrt(var + eps), cannot match float64's exact zeros (torch behaves alike)."""
    assume(np.all(x.reshape(x.shape[0], g, -1).std(-1) > 0.1))


# ================================================================ group_norm
@given(data=st.data(), case=grouped_shapes(), affine=st.sampled_from([(False, False), (True, False), (True, True)]))
def test_group_norm_values_and_gradients(device, data, case, affine):
    shape, g = case
    c = shape[1]
    has_w, has_b = affine
    arrays = [draw_array(data, shape, device, unique=True) * 2.0 + 0.5] + [draw_array(data, (c,), device)
                                                                           for _ in range(has_w + has_b)]
    assume_spread_groups(arrays[0], g)

    def fn(x, *aff):
        return F.group_norm(x, g, aff[0] if has_w else None, aff[1] if has_b else None, eps=1e-3)

    def ref(x, *aff):
        return np_group_norm(x, g, aff[0] if has_w else None, aff[1] if has_b else None, eps=1e-3)

    check_op(fn, ref, arrays, device)


def test_group_norm_matches_torch_values_and_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for shape, g in [((3, 6, 4), 3), ((2, 4, 3, 2), 2), ((2, 6), 6), ((4, 4, 2, 2, 2), 1)]:
        x, w, b = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
        ours = [mg.tensor(a, requires_grad=True) for a in (x, w, b)]
        theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        y, yt = F.group_norm(ours[0], g, ours[1], ours[2]), torch.nn.functional.group_norm(*theirs[:1], g, *theirs[1:])
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        v = rng.standard_normal(shape)
        (y * mg.tensor(v)).sum().backward()
        (yt * torch.tensor(v)).sum().backward()
        for a, t in zip(ours, theirs):
            np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-11)
    # empty batch and empty spatial dims as torch: empty outputs
    assert F.group_norm(mg.zeros(0, 4, 3), 2).shape == (0, 4, 3)
    assert F.group_norm(mg.zeros(2, 4, 0), 2).shape == (2, 4, 0)


def test_group_norm_errors_name_the_op():
    x = mg.randn(2, 6, 3)
    with pytest.raises(RuntimeError, match=r"group_norm: .*divisible by num_groups=4"):
        F.group_norm(x, 4)
    with pytest.raises(RuntimeError, match=r"group_norm: expected weight to be a vector of size .*6"):
        F.group_norm(x, 2, mg.ones(5))
    with pytest.raises(RuntimeError, match=r"group_norm: expected an input of shape \(N, C, \*\)"):
        F.group_norm(mg.randn(6), 2)
    with pytest.raises(ValueError, match=r"group_norm: expected more than 1 value per channel"):
        F.group_norm(mg.randn(1, 2, 1), 2)
    with pytest.raises(TypeError, match=r"group_norm: expected a floating-point"):
        F.group_norm(mg.tensor([[1, 2]]), 1)
    with pytest.raises(TypeError, match=r"group_norm: weight .*same dtype"):
        F.group_norm(x, 2, mg.ones(6, dtype=mg.float64))
    with pytest.raises(ValueError, match=r"group_norm: num_groups must be positive"):
        F.group_norm(x, 0)
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(5\) must be divisible by num_groups \(2\)"):
        nn.GroupNorm(2, 5)


# ================================================================ instance_norm
@given(data=st.data(), case=grouped_shapes(min_spatial=1), has_w=st.booleans())
def test_instance_norm_values_and_gradients(device, data, case, has_w):
    shape, _ = case
    if np.prod(shape[2:]) < 2:
        shape = shape[:2] + (2,) + shape[3:]
    n, c = shape[:2]
    arrays = [draw_array(data, shape, device, unique=True) * 2.0 - 0.5] + [draw_array(data, (c,), device)
                                                                       for _ in range(2 * has_w)]
    assume_spread_groups(arrays[0], c)  # one group per channel

    def fn(x, *aff):
        return F.instance_norm(x, None, None, *aff, eps=1e-3)

    def ref(x, *aff):
        return np_group_norm(x, c, *aff, eps=1e-3)  # one group per channel

    check_op(fn, ref, arrays, device)


@given(data=st.data(), case=grouped_shapes(min_spatial=1))
def test_instance_norm_with_running_statistics_values_and_gradients(device, data, case):
    shape, _ = case
    c = shape[1]
    x = draw_array(data, shape, device)
    rm = draw_array(data, (c,), device)
    rv = draw_array(data, (c,), device, min_value=0.1, max_value=3.0)

    def fn(x):
        running = [mg.tensor(a.astype(x.dtype), device=device) for a in (rm, rv)]
        return F.instance_norm(x, *running, use_input_stats=False, eps=1e-3)

    def ref(x):
        shape1 = (1, -1) + (1,) * (x.ndim - 2)
        return (x - rm.reshape(shape1)) / np.sqrt(rv.reshape(shape1) + 1e-3)

    check_op(fn, ref, [x], device)


def test_instance_norm_running_statistics_and_modules_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    cases = [(nn.InstanceNorm1d, torch.nn.InstanceNorm1d, (3, 4, 5)),
             (nn.InstanceNorm2d, torch.nn.InstanceNorm2d, (2, 4, 3, 2)),
             (nn.InstanceNorm3d, torch.nn.InstanceNorm3d, (2, 4, 2, 2, 2))]
    for ours_cls, torch_cls, shape in cases:
        for kw in [{}, {"affine": True}, {"affine": True, "track_running_stats": True, "momentum": 0.3},
                   {"track_running_stats": True, "momentum": None}]:
            ours = ours_cls(4, dtype=mg.float64, **kw)
            theirs = torch_cls(4, dtype=torch.float64, **kw)
            if ours.affine:  # non-trivial affine parameters, the same in both
                with torch.no_grad():
                    theirs.weight.copy_(torch.tensor(rng.standard_normal(4)))
                    theirs.bias.copy_(torch.tensor(rng.standard_normal(4)))
                ours.load_state_dict(theirs.state_dict())
            for step in range(3):
                x = rng.standard_normal(shape) * (step + 1) + step
                a, t = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
                y, yt = ours(a), theirs(t)
                np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
                v = rng.standard_normal(shape)
                (y * mg.tensor(v)).sum().backward()
                (yt * torch.tensor(v)).sum().backward()
                np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-11)
                for name, p in ours.named_parameters():
                    np.testing.assert_allclose(p.grad.numpy(), getattr(theirs, name).grad.numpy(), rtol=1e-9,
                                               atol=1e-11)
            state = theirs.state_dict()
            assert list(ours.state_dict()) == list(state)
            for key, value in ours.state_dict().items():
                np.testing.assert_allclose(value.numpy(), state[key].numpy(), rtol=1e-12, atol=1e-14, err_msg=key)
            ours.eval(), theirs.eval()
            x = rng.standard_normal(shape)
            np.testing.assert_allclose(ours(mg.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                       rtol=1e-10, atol=1e-12)
            # unbatched input (C, *) as torch
            np.testing.assert_allclose(ours(mg.tensor(x[0])).numpy(), theirs(torch.tensor(x[0])).detach().numpy(),
                                       rtol=1e-10, atol=1e-12)
            # our state loads into torch and back
            fresh = torch_cls(4, dtype=torch.float64, **kw)
            fresh.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
            for k, v in ours.state_dict().items():
                np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v.numpy(), err_msg=k)


def test_instance_norm_errors_name_the_op():
    with pytest.raises(ValueError, match=r"instance_norm: expected more than 1 spatial element"):
        F.instance_norm(mg.randn(2, 3, 1))
    with pytest.raises(ValueError, match=r"instance_norm: expected more than 1 spatial element"):
        F.instance_norm(mg.randn(2, 3))
    with pytest.raises(RuntimeError, match=r"instance_norm: expected running_mean and running_var"):
        F.instance_norm(mg.randn(2, 3, 4), use_input_stats=False)
    with pytest.raises(ValueError, match=r"instance_norm: running_mean and running_var must either both"):
        F.instance_norm(mg.randn(2, 3, 4), mg.zeros(3))
    with pytest.raises(ValueError, match=r"InstanceNorm2d: expected a 3-D \(unbatched\) or 4-D input"):
        nn.InstanceNorm2d(3)(mg.randn(2, 3, 4, 5, 6))
    with pytest.raises(ValueError, match=r"InstanceNorm1d: expected input's size at dim=1 to match num_features"):
        nn.InstanceNorm1d(3, affine=True)(mg.randn(2, 4, 5))
    with pytest.warns(UserWarning, match="does not match num_features"):
        assert nn.InstanceNorm1d(3)(mg.randn(2, 4, 5)).shape == (2, 4, 5)


# ================================================================ BatchNorm2d / BatchNorm3d
@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("kw", [{}, {"momentum": None}, {"affine": False}, {"track_running_stats": False},
                                {"bias": False, "momentum": 0.25}])
def test_batchnorm2d_3d_match_torch_training_eval_and_state(dims, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    ours = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(3, dtype=mg.float64, **kw)
    theirs = (torch.nn.BatchNorm2d if dims == 2 else torch.nn.BatchNorm3d)(3, dtype=torch.float64, **kw)
    assert repr(ours) == repr(theirs)
    shape = (2, 3) + (3,) * dims
    if ours.weight is not None:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(rng.standard_normal(3)))
            if theirs.bias is not None:
                theirs.bias.copy_(torch.tensor(rng.standard_normal(3)))
        ours.load_state_dict(theirs.state_dict())
    for step in range(4):
        x = rng.standard_normal(shape) * (1 + step) - step
        a, t = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yt = ours(a), theirs(t)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        v = rng.standard_normal(shape)
        (y * mg.tensor(v)).sum().backward()
        (yt * torch.tensor(v)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-11)
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), getattr(theirs, name).grad.numpy(), rtol=1e-9, atol=1e-11)
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value.numpy(), state[key].numpy(), rtol=1e-12, atol=1e-14, err_msg=key)
    ours.eval(), theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(mg.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    # torch's state into a fresh module of ours, and ours into a fresh torch one
    again = type(ours)(3, dtype=mg.float64, **kw)
    again.load_state_dict(state)
    back = type(theirs)(3, dtype=torch.float64, **kw)
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in again.state_dict().items()})
    for k, v in state.items():
        assert torch.equal(back.state_dict()[k], v), k


def test_batchnorm2d_3d_refuse_other_ranks():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4-D \(N, C, H, W\) input, got float32\[2, 3, 4\]"):
        nn.BatchNorm2d(3)(mg.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"BatchNorm3d: expected a 5-D"):
        nn.BatchNorm3d(3)(mg.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel"):
        nn.BatchNorm2d(3)(mg.randn(1, 3, 1, 1))
    with pytest.raises(ValueError, match=r"BatchNorm2d: num_features must be a positive int"):
        nn.BatchNorm2d(0)


def test_batchnorm2d_gradients_by_finite_differences(device):
    bn = nn.BatchNorm2d(2, dtype=mg.float64, device=device)
    x = mg.tensor(np.random.default_rng(3).standard_normal((2, 2, 2, 3)), device=device, requires_grad=True)
    gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), x,
              mg.tensor([1.5, -0.5], device=device, dtype=mg.float64, requires_grad=True),
              mg.tensor([0.2, 0.1], device=device, dtype=mg.float64, requires_grad=True))
    out = bn(x.detach())
    assert out.dtype == mg.float64 and out.device == x.device


# ================================================================ local_response_norm
@given(data=st.data(), n=st.integers(1, 2), c=st.integers(1, 5), spatial=st.lists(st.integers(1, 3), min_size=1,
                                                                                     max_size=2),
       size=st.integers(1, 4))
def test_local_response_norm_values_and_gradients(device, data, n, c, spatial, size):
    x = draw_array(data, (n, c) + tuple(spatial), device)
    check_op(lambda t: F.local_response_norm(t, size, alpha=0.5, beta=0.75, k=1.5),
             lambda a: np_lrn(a, size, 0.5, 0.75, 1.5), [x], device)


def test_local_response_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for shape, size in [((2, 5, 4), 3), ((2, 6, 3, 2), 2), ((1, 4, 2, 2, 2), 5), ((2, 3, 4), 1)]:
        x = rng.standard_normal(shape) * 2
        a, t = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yt = nn.LocalResponseNorm(size, 0.3, 0.6, 2.0)(a), torch.nn.LocalResponseNorm(size, 0.3, 0.6, 2.0)(t)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
        v = rng.standard_normal(shape)
        (y * mg.tensor(v)).sum().backward()
        (yt * torch.tensor(v)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert repr(nn.LocalResponseNorm(2)) == repr(torch.nn.LocalResponseNorm(2))
    empty = mg.zeros(0, 3, 4)
    assert F.local_response_norm(empty, 2) is empty  # torch returns the input itself
    with pytest.raises(ValueError, match=r"local_response_norm: expected a 3-D or higher"):
        F.local_response_norm(mg.randn(2, 3), 2)
    with pytest.raises(ValueError, match=r"local_response_norm: size must be positive"):
        F.local_response_norm(mg.randn(2, 3, 4), 0)


# ================================================================ channel_shuffle
@given(data=st.data(), g=st.integers(1, 3), k=st.integers(1, 2), n=st.integers(1, 2),
       spatial=st.lists(st.integers(1, 3), min_size=1, max_size=2))
def test_channel_shuffle_values_and_gradients(device, data, g, k, n, spatial):
    shape = (n, g * k) + tuple(spatial)
    x = draw_array(data, shape, device)

    def ref(a):
        return a.reshape((n, g, k) + tuple(spatial)).swapaxes(1, 2).reshape(shape)

    check_op(lambda t: F.channel_shuffle(t, g), ref, [x], device, exact=True)


def test_channel_shuffle_matches_torch_and_refuses_as_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(2 * 6 * 2).reshape(2, 6, 2)
    np.testing.assert_array_equal(nn.ChannelShuffle(3)(mg.tensor(x)).numpy(),
                                  torch.nn.ChannelShuffle(3)(torch.tensor(x)).numpy())
    assert nn.ChannelShuffle(3)(mg.tensor(x)).dtype == mg.int64  # values only move: ints stay ints
    assert repr(nn.ChannelShuffle(2)) == repr(torch.nn.ChannelShuffle(2))
    with pytest.raises(RuntimeError, match=r"channel_shuffle: the number of channels .*\(5\) must be divisible"):
        F.channel_shuffle(mg.randn(2, 5, 3), 2)
    with pytest.raises(RuntimeError, match=r"channel_shuffle: expected an input with > 2 dims"):
        F.channel_shuffle(mg.randn(2, 6), 2)
    with pytest.raises(RuntimeError, match=r"channel_shuffle: the number of groups .* must be positive, got 0"):
        F.channel_shuffle(mg.randn(2, 6, 3), 0)


# ================================================================ gumbel_softmax
def _noise_for(seed, shape, dtype=np.float64):
    """The Gumbel noise gumbel_softmax draws right after mg.manual_seed(seed)."""
    from minigrad.ops.norm_more import _gumbel_noise
    mg.manual_seed(seed)
    return _gumbel_noise(np, shape, dtype)


@given(data=st.data(), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       tau=st.sampled_from([0.5, 1.0, 2.0]))
def test_gumbel_softmax_soft_gradients(device, data, shape, tau):
    logits = mg.tensor(draw_array(data, shape, device), device=device, requires_grad=True)

    def fn(x):
        mg.manual_seed(7)  # the same noise on every evaluation: a deterministic function of the logits
        return F.gumbel_softmax(x, tau=tau, dim=0)

    gradcheck(fn, logits)
    y = fn(logits)
    np.testing.assert_allclose(y.numpy().sum(axis=0), 1.0, rtol=1e-12)
    assert F.gumbel_softmax(logits.detach().float()).dtype == mg.float32  # float32 stays float32


def test_gumbel_softmax_matches_torch_formula_on_the_same_noise():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5))
    g = _noise_for(11, x.shape)
    for hard in (False, True):
        a, t = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        mg.manual_seed(11)
        y = F.gumbel_softmax(a, tau=0.7, hard=hard)
        soft = torch.softmax((t + torch.tensor(g)) / 0.7, -1)
        if hard:  # torch's straight-through construction
            index = soft.max(-1, keepdim=True)[1]
            yt = torch.zeros_like(soft).scatter_(-1, index, 1.0) - soft.detach() + soft
        else:
            yt = soft
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-15)
        v = rng.standard_normal(x.shape)
        (y * mg.tensor(v)).sum().backward()
        (yt * torch.tensor(v)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_gumbel_softmax_hard_is_one_hot_with_the_soft_gradient(device):
    x = mg.tensor(np.random.default_rng(6).standard_normal((4, 3, 5)), device=device, requires_grad=True)
    mg.manual_seed(3)
    hard = F.gumbel_softmax(x, tau=0.5, hard=True, dim=1)
    mg.manual_seed(3)
    soft = F.gumbel_softmax(x, tau=0.5, hard=False, dim=1)
    h = hard.numpy()
    np.testing.assert_allclose(h.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.round(h), h, atol=1e-12)  # one-hot up to float rounding of y - y + 1
    np.testing.assert_array_equal(h.argmax(axis=1), soft.numpy().argmax(axis=1))
    v = mg.tensor(np.random.default_rng(7).standard_normal(h.shape), device=device)
    (hard * v).sum().backward()
    g_hard = x.grad.numpy().copy()
    x.grad = None
    (soft * v).sum().backward()
    np.testing.assert_allclose(g_hard, x.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_gumbel_softmax_is_seeded_and_samples_the_categorical():
    logits = mg.tensor(np.log([[0.1, 0.2, 0.7]] * 4000))
    mg.manual_seed(0)
    a = F.gumbel_softmax(logits, hard=True).numpy()
    mg.manual_seed(0)
    b = F.gumbel_softmax(logits, hard=True).numpy()
    np.testing.assert_array_equal(a, b)
    freq = a.mean(axis=0)  # Gumbel-max: argmax(logits + g) ~ Categorical(softmax(logits))
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.7], atol=0.03)
    with pytest.raises(ValueError, match=r"gumbel_softmax: tau must be positive"):
        F.gumbel_softmax(logits, tau=0)
    with pytest.raises(TypeError, match=r"gumbel_softmax: expected a floating-point"):
        F.gumbel_softmax(mg.tensor([1, 2]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        F.gumbel_softmax(logits, eps=1e-3)
    assert any("deprecated" in str(w.message) for w in caught)
