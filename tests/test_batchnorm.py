"""batch_norm and nn.BatchNorm1d: train/eval values and gradients, running statistics, buffers in the state.

Values against a float64 NumPy reference of the definition, gradients against finite
differences (`check_op`) over generated (N, C) and (N, C, L) shapes in both modes; parity
with torch (float32 and float64) for outputs, every gradient and the running statistics
after several steps, momentum=None included; torch state dicts load into ours and back.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.norm import BatchNorm

from opcheck import check_op, draw_array

GRADIENT_TESTED = [BatchNorm]


def np_batch_norm(x, mean, var, w, b, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


def batch_stats(x):
    axes = (0,) + tuple(range(2, x.ndim))
    return x.mean(axis=axes), x.var(axis=axes)  # biased variance normalises


@st.composite
def bn_cases(draw):
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 4))
    length = draw(st.sampled_from([None, 1, 2, 4]))
    shape = (n, c) if length is None else (n, c, length)
    if n * (length or 1) < 2:  # training needs more than one value per channel
        shape = (2,) + shape[1:]
    return shape, draw(st.booleans()), draw(st.booleans())


@given(data=st.data(), case=bn_cases())
def test_batch_norm_training_values_and_gradients(device, data, case):
    shape, has_w, has_b = case
    c = shape[1]
    x = draw_array(data, shape, device) * 2.0 + 0.5
    # A channel whose variance is near eps (1e-5) is ill-conditioned in float32: x_hat**2 -> 1 - eps/var
    # and the backward's terms cancel, amplifying float32 rounding ~1/std-fold (an H200 run drew
    # [0.5, 0.54]: float32 off by 2.5e-4 relative). Such channels are batch norm's problem, not this test's.
    assume(batch_stats(x)[1].min() >= 1e-2)
    arrays = [x] + [draw_array(data, (c,), device) for _ in range(has_w + has_b)]

    def fn(x, *affine):
        w = affine[0] if has_w else None
        b = affine[-1] if has_b else None
        return F.batch_norm(x, None, None, w, b, training=True)

    def ref(x, *affine):
        return np_batch_norm(x, *batch_stats(x), affine[0] if has_w else None, affine[-1] if has_b else None, 1e-5)

    check_op(fn, ref, arrays, device)


@given(data=st.data(), case=bn_cases())
def test_batch_norm_eval_values_and_gradients(device, data, case):
    shape, has_w, has_b = case
    c = shape[1]
    x = draw_array(data, shape, device)
    rm = draw_array(data, (c,), device)
    rv = draw_array(data, (c,), device, min_value=0.1, max_value=3.0)
    arrays = [x] + [draw_array(data, (c,), device) for _ in range(has_w + has_b)]

    def fn(x, *affine):
        w = affine[0] if has_w else None
        b = affine[-1] if has_b else None
        running = [mg.tensor(a.astype(x.dtype), device=device) for a in (rm, rv)]
        return F.batch_norm(x, *running, w, b, training=False, eps=1e-3)

    def ref(x, *affine):
        return np_batch_norm(x, rm, rv, affine[0] if has_w else None, affine[-1] if has_b else None, 1e-3)

    check_op(fn, ref, arrays, device)


def test_batch_norm_updates_running_stats_in_place(device):
    x = np.random.default_rng(0).standard_normal((5, 3, 4))
    rm, rv = mg.zeros(3, device=device), mg.ones(3, device=device)
    F.batch_norm(mg.tensor(x, dtype="float32", device=device), rm, rv, training=True, momentum=0.25)
    axes = (0, 2)
    np.testing.assert_allclose(rm.numpy(), 0.25 * x.mean(axes), rtol=1e-5)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * x.var(axes, ddof=1), rtol=1e-5)  # unbiased
    assert rm.dtype == np.float32 and rv.dtype == np.float32
    before = rm.numpy().copy()
    F.batch_norm(mg.tensor(x, dtype="float32", device=device), rm, rv, training=False)  # eval: no update
    np.testing.assert_array_equal(rm.numpy(), before)


# ---------------------------------------------------------------- parity with torch
torch = pytest.importorskip("torch")


def set_affine(ours, ref, rng):
    with torch.no_grad():
        if ref.weight is not None:
            ref.weight.copy_(torch.tensor(rng.standard_normal(ref.weight.shape)))
        if ref.bias is not None:
            ref.bias.copy_(torch.tensor(rng.standard_normal(ref.bias.shape)))
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 5)])
@pytest.mark.parametrize("kw", [dict(), dict(momentum=None), dict(momentum=0.5, affine=False),
                                dict(bias=False, eps=1e-3), dict(track_running_stats=False)])
def test_batchnorm1d_matches_torch_in_train_and_eval(device, dtype, shape, kw):
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    rng = np.random.default_rng(3)
    try:
        ref = torch.nn.BatchNorm1d(3, **kw).to(tdtype)
    except TypeError as e:  # bias= is newer than some torch builds (2.11 lacks it; 2.13 has it)
        if "bias" in kw and "bias" in str(e):
            pytest.skip(f"torch {torch.__version__}'s BatchNorm1d takes no bias= argument, nothing to compare with")
        raise
    ours = nn.BatchNorm1d(3, **kw).to(device, dtype)
    assert list(ours.state_dict()) == list(ref.state_dict())
    set_affine(ours, ref, rng)
    for mode in ["train"] * 3 + ["eval"] * 2 + ["train"]:
        ref.train(mode == "train")
        ours.train(mode == "train")
        x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        xt = torch.tensor(x, requires_grad=True)
        xm = mg.tensor(x, device=device, requires_grad=True)
        yt, ym = ref(xt), ours(xm)
        assert ym.dtype == dtype
        np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), **tol, err_msg=f"{mode} output")
        yt.backward(torch.tensor(g))
        ym.backward(mg.tensor(g, device=device))
        np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), **tol, err_msg=f"{mode} input gradient")
        for name, p in ref.named_parameters():
            mine = dict(ours.named_parameters())[name]
            assert mine.grad.dtype == dtype
            np.testing.assert_allclose(mine.grad.numpy(), p.grad.numpy(), **tol, err_msg=f"{mode} {name} gradient")
        ref.zero_grad()
        ours.zero_grad()
        state = ours.state_dict()
        for name, v in ref.state_dict().items():
            np.testing.assert_allclose(state[name].numpy(), v.numpy(), **tol, err_msg=f"{name} after a {mode} step")
    if ours.track_running_stats:
        assert ours.num_batches_tracked.item() == 4 and ours.num_batches_tracked.dtype == np.int64


def test_batchnorm1d_state_dict_round_trip_with_torch():
    ref = torch.nn.BatchNorm1d(4)
    for _ in range(3):
        ref(torch.randn(8, 4) * 2 + 1)
    ours = nn.BatchNorm1d(4)
    ours.load_state_dict(ref.state_dict())  # torch -> minigrad, num_batches_tracked included
    assert ours.num_batches_tracked.item() == 3
    np.testing.assert_allclose(ours.running_var.numpy(), ref.running_var.numpy())
    back = torch.nn.BatchNorm1d(4)
    back.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    for k, v in ref.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    assert back.num_batches_tracked.dtype == torch.int64
    assert repr(ours) == repr(ref)
    for kw in [dict(affine=False), dict(track_running_stats=False), dict(bias=False)]:
        assert list(nn.BatchNorm1d(4, **kw).state_dict()) == list(torch.nn.BatchNorm1d(4, **kw).state_dict())
        assert repr(nn.BatchNorm1d(4, **kw)) == repr(torch.nn.BatchNorm1d(4, **kw))


def test_batchnorm1d_buffers_move_and_keep_integer_count(device):
    bn = nn.BatchNorm1d(3).to(device).double()
    assert bn.running_mean.dtype == np.float64 and bn.running_var.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype, as torch
    assert {n for n, _ in bn.named_buffers()} == {"running_mean", "running_var", "num_batches_tracked"}
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert all(b.device == bn.weight.device for b in bn.buffers())
    bn(mg.randn(4, 3, device=device, dtype="float64"))
    assert bn.num_batches_tracked.item() == 1
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0 and np.all(bn.running_var.numpy() == 1)


def test_batchnorm1d_in_a_model_trains_and_evaluates_deterministically(device):
    mg.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2)).to(device)
    r = np.random.default_rng(0)
    x = mg.tensor(r.standard_normal((32, 4)) * 5 + 3, dtype="float32", device=device)
    y = mg.tensor((r.standard_normal(32) > 0).astype(np.int64), device=device)
    opt = mg.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(5):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    a, b = net(x[:3]), net(x)[:3]  # eval: each row independent of the rest of the batch
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- errors
def test_batch_norm_errors_name_the_op(device):
    x = mg.randn(2, 3, 5, device=device)
    rm, rv = mg.zeros(3, device=device), mg.ones(3, device=device)
    with pytest.raises(RuntimeError, match="batch_norm: running_mean and running_var must be given in evaluation"):
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean should contain 3 elements .* got float32\[4\]"):
        F.batch_norm(x, mg.zeros(4, device=device), mg.ones(4, device=device), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: weight should contain 3 elements"):
        F.batch_norm(x, rm, rv, weight=mg.ones(4, device=device))
    with pytest.raises(ValueError, match="batch_norm: expected more than 1 value per channel when training"):
        F.batch_norm(mg.randn(1, 3, device=device), rm, rv, training=True)
    with pytest.raises(ValueError, match="batch_norm: expected an input of shape"):
        F.batch_norm(mg.randn(3, device=device), rm, rv)
    with pytest.raises(TypeError, match="batch_norm: expected a floating-point tensor"):
        F.batch_norm(mg.ones(2, 3, dtype="int64", device=device), rm, rv)
    with pytest.raises(TypeError, match=r"batch_norm: running_mean float64\[3\].* same dtype"):
        F.batch_norm(x, rm.double(), rv)
    with pytest.raises(ValueError, match="batch_norm: eps must be positive"):
        F.batch_norm(x, rm, rv, eps=0.0)
    np.testing.assert_array_equal(rm.numpy(), 0)  # refused calls leave the running stats alone


def test_batchnorm1d_layer_errors():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected a 2-D \(N, C\) or 3-D \(N, C, L\) input"):
        bn(mg.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected a 2-D"):
        bn(mg.randn(3))
    with pytest.raises(ValueError, match=r"batch_norm: running_mean should contain 4 elements"):
        bn(mg.randn(2, 4))
    with pytest.raises(ValueError, match="batch_norm: expected more than 1 value per channel"):
        bn(mg.randn(1, 3))
    assert bn.num_batches_tracked.item() == 0  # refused batches are not counted
    with pytest.raises(ValueError, match="BatchNorm1d: num_features must be a positive int"):
        nn.BatchNorm1d(0)
    with pytest.raises(TypeError, match="BatchNorm1d: momentum must be a float or None"):
        nn.BatchNorm1d(3, momentum="fast")
