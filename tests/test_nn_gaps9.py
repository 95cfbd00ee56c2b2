"""torch.nn / torch.nn.functional members that were missing (ops/pool_more.py, nn/pool_more.py, nn/buffer.py):

max_unpool1d/2d (MaxUnpool2d Function) and nn.MaxUnpool1d/2d; lp_pool1d/2d and nn.LPPool1d/2d;
the *_with_indices spellings; feature_alpha_dropout and nn.FeatureAlphaDropout; channel dropout
(Dropout2d/3d: statistics and zeroed-channel structure); nn.Buffer; the deprecated F.upsample*,
nn.NLLLoss2d and nn.Container.

Hypothesis gradchecks over generated shapes on every backend; torch parity in float64 (values,
gradients, indices, reprs, state_dict keys, warnings, errors). Random masks are compared by
structure and statistics, never by RNG equality.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.pool_more import MaxUnpool2d
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

from opcheck import draw_array

torch = pytest.importorskip("torch")
TF = torch.nn.functional

GRADIENT_TESTED = [MaxUnpool2d]

ALPHA_PRIME = 1.7580993408473766  # SELU's scale * alpha


def both(a, requires_grad=True):
    """The same float64 values as a minigrad and a torch tensor."""
    a = np.asarray(a, dtype=np.float64)
    return mg.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def close(m, t, **kw):
    np.testing.assert_allclose(m.detach().numpy() if isinstance(m, mg.Tensor) else m,
                               t.detach().numpy(), rtol=1e-10, atol=1e-12, equal_nan=True, **kw)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ================================================================ *_with_indices
@pytest.mark.parametrize("shape", [(2, 3, 7), (3, 7)])
def test_max_pool1d_with_indices_matches_torch(shape):
    x, t = both(randn(*shape))
    y, i = F.max_pool1d_with_indices(x, 3, 2, 1)
    ty, ti = TF.max_pool1d_with_indices(t, 3, 2, 1)
    close(y, ty)
    assert i.dtype == mg.int64 and np.array_equal(i.numpy(), ti.numpy())


@pytest.mark.parametrize("shape", [(2, 3, 5, 6), (3, 5, 6)])
def test_max_pool2d_with_indices_matches_torch(shape):
    x, t = both(randn(*shape))
    y, i = F.max_pool2d_with_indices(x, (2, 3), (1, 2), (1, 1), ceil_mode=True)
    ty, ti = TF.max_pool2d_with_indices(t, (2, 3), (1, 2), (1, 1), ceil_mode=True)
    close(y, ty)
    assert i.dtype == mg.int64 and np.array_equal(i.numpy(), ti.numpy())
    g = randn(*ty.shape, seed=1)
    y.backward(mg.tensor(g))
    ty.backward(torch.tensor(g))
    close(x.grad, t.grad)


@pytest.mark.parametrize("shape", [(2, 3, 7), (3, 7)])
def test_adaptive_max_pool1d_with_indices_matches_torch(shape):
    x, t = both(randn(*shape))
    y, i = F.adaptive_max_pool1d_with_indices(x, 3)
    ty, ti = TF.adaptive_max_pool1d_with_indices(t, 3)
    close(y, ty)
    assert np.array_equal(i.numpy(), ti.numpy())


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (3, 5, 7)])
def test_adaptive_max_pool2d_with_indices_matches_torch(shape):
    x, t = both(randn(*shape))
    y, i = F.adaptive_max_pool2d_with_indices(x, (2, None))
    ty, ti = TF.adaptive_max_pool2d_with_indices(t, (2, None))
    close(y, ty)
    assert np.array_equal(i.numpy(), ti.numpy())


# ================================================================ max_unpool: properties
def _unique_indices(seed, lead, n_in, n_out):
    """int64 indices (lead + (n_in,)), distinct within each plane, drawn from range(n_out)."""
    rng = np.random.default_rng(seed)
    planes = [rng.choice(n_out, size=n_in, replace=False) for _ in range(int(np.prod(lead)))]
    return np.array(planes, dtype=np.int64).reshape(lead + (n_in,))


@given(data=st.data(), n=st.integers(1, 2), c=st.integers(1, 3), hin=st.integers(1, 3), win=st.integers(1, 3),
       k=st.integers(1, 3), seed=st.integers(0, 2**16), batched=st.booleans())
def test_max_unpool2d_gradcheck(device, data, n, c, hin, win, k, seed, batched):
    """dx = dy gathered at the indices (distinct ones: scatter and gather are then adjoint)."""
    x = mg.tensor(draw_array(data, (n, c, hin, win), device), device=device, requires_grad=True)
    out = ((hin - 1) * k + k, (win - 1) * k + k)
    idx = _unique_indices(seed, (n, c), hin * win, out[0] * out[1]).reshape(n, c, hin, win)
    idx = mg.tensor(idx, device=device)
    if not batched:
        x = mg.tensor(x.detach().numpy()[0], device=device, requires_grad=True)
        idx = idx[0]
    y = F.max_unpool2d(x, idx, k)
    assert y.shape == x.shape[:-2] + out
    # forward: each value sits at its index, everything else is 0
    flat = y.detach().numpy().reshape(-1, out[0] * out[1])
    expect = np.zeros_like(flat)
    np.put_along_axis(expect, idx.numpy().reshape(flat.shape[0], -1), x.detach().numpy().reshape(flat.shape[0], -1), 1)
    np.testing.assert_array_equal(flat, expect)
    gradcheck(lambda x: F.max_unpool2d(x, idx, k), x)


@given(data=st.data(), n=st.integers(1, 2), c=st.integers(1, 3), lin=st.integers(1, 4), k=st.integers(1, 3),
       s=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_max_unpool1d_gradcheck(device, data, n, c, lin, k, s, seed):
    x = mg.tensor(draw_array(data, (n, c, lin), device), device=device, requires_grad=True)
    length = (lin - 1) * s + k
    if length < lin:
        return  # (not with these strategies: length >= lin always)
    idx = mg.tensor(_unique_indices(seed, (n, c), lin, length), device=device)
    y = F.max_unpool1d(x, idx, k, s)
    assert y.shape == (n, c, length) and y.dtype == x.dtype
    gradcheck(lambda x: F.max_unpool1d(x, idx, k, s), x)


def test_max_unpool_keeps_float32(device):
    x = mg.randn(1, 2, 4, 4, device=device)
    y, i = F.max_pool2d(x, 2, return_indices=True)
    u = F.max_unpool2d(y, i, 2)
    assert u.dtype == mg.float32 and u.device == x.device


# ================================================================ max_unpool: torch parity
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("conf", [dict(kernel_size=2), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
                                  dict(kernel_size=3, stride=2, padding=1)])
@pytest.mark.parametrize("output_size", [None, "given", "given4"])
def test_max_unpool2d_matches_torch(batched, conf, output_size):
    shape = (2, 3, 6, 7) if batched else (3, 6, 7)
    x, t = both(randn(*shape))
    y, i = F.max_pool2d(x, **conf, return_indices=True)
    ty, ti = TF.max_pool2d(t, **conf, return_indices=True)
    size = {None: None, "given": shape[-2:], "given4": (2, 3) + shape[-2:]}[output_size]
    kw = dict(conf, output_size=size)
    try:
        tu = TF.max_unpool2d(ty, ti, **kw)
    except RuntimeError as e:  # the default size can be too small for the indices: torch and we refuse
        # (torch's index in the message is the first its parallel loop met: not compared)
        size_text = str(e).splitlines()[0].split("(")[1].rstrip(")")
        with pytest.raises(RuntimeError, match=rf"max_unpool2d: Found an invalid max index: \d+ \({size_text}\)"):
            F.max_unpool2d(y, i, **kw)
        return
    u = F.max_unpool2d(y, i, **kw)
    assert u.shape == tuple(tu.shape)
    close(u, tu)
    g = randn(*tu.shape, seed=3)
    u.backward(mg.tensor(g))
    tu.backward(torch.tensor(g))
    close(x.grad, t.grad)


@pytest.mark.parametrize("shape", [(2, 3, 9), (3, 9)])
@pytest.mark.parametrize("output_size", [None, [9], [2, 3, 9]])
def test_max_unpool1d_matches_torch(shape, output_size):
    x, t = both(randn(*shape))
    y, i = F.max_pool1d(x, 3, 2, return_indices=True)
    ty, ti = TF.max_pool1d(t, 3, 2, return_indices=True)
    if output_size is not None and len(output_size) == 3 and len(shape) == 2:
        output_size = [5, 3, 9]  # the (N, C, L) form: its first two entries are not read
    u, tu = F.max_unpool1d(y, i, 3, 2, output_size=output_size), TF.max_unpool1d(ty, ti, 3, 2, output_size=output_size)
    assert u.shape == tuple(tu.shape)
    close(u, tu)
    g = randn(*tu.shape, seed=4)
    u.backward(mg.tensor(g))
    tu.backward(torch.tensor(g))
    close(x.grad, t.grad)


def test_max_unpool_modules_match_torch():
    for ours, theirs in [(nn.MaxUnpool1d(2), torch.nn.MaxUnpool1d(2)),
                         (nn.MaxUnpool1d(3, stride=2, padding=1), torch.nn.MaxUnpool1d(3, stride=2, padding=1)),
                         (nn.MaxUnpool2d(2), torch.nn.MaxUnpool2d(2)),
                         (nn.MaxUnpool2d((2, 3), stride=(1, 2), padding=1),
                          torch.nn.MaxUnpool2d((2, 3), stride=(1, 2), padding=1))]:
        assert repr(ours) == repr(theirs)
        assert (ours.kernel_size, ours.stride, ours.padding) == (theirs.kernel_size, theirs.stride, theirs.padding)
        assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    # the documented round trip, with output_size given to forward
    x, t = both(randn(1, 1, 5, 5))
    y, i = nn.MaxPool2d(2, stride=2, return_indices=True)(x)
    ty, ti = torch.nn.MaxPool2d(2, stride=2, return_indices=True)(t)
    close(nn.MaxUnpool2d(2)(y, i, output_size=(5, 5)), torch.nn.MaxUnpool2d(2)(ty, ti, output_size=(5, 5)))
    x, t = both(randn(2, 8))
    y, i = nn.MaxPool1d(2, return_indices=True)(x)
    ty, ti = torch.nn.MaxPool1d(2, return_indices=True)(t)
    close(nn.MaxUnpool1d(2)(y, i), torch.nn.MaxUnpool1d(2)(ty, ti))


def _raises_like_torch(ours, theirs, err, match):
    with pytest.raises(err, match=match):
        ours()
    with pytest.raises(err):
        theirs()


def test_max_unpool_errors_like_torch():
    x, t = both(randn(1, 1, 4, 4), requires_grad=False)
    y, i = F.max_pool2d(x, 2, return_indices=True)
    ty, ti = TF.max_pool2d(t, 2, return_indices=True)
    big, tbig = mg.tensor(i.numpy() * 10), torch.tensor(i.numpy() * 10)
    _raises_like_torch(lambda: F.max_unpool2d(y, big, 2), lambda: TF.max_unpool2d(ty, tbig, 2), RuntimeError,
                       r"max_unpool2d: Found an invalid max index: \d+ \(output volumes are of size 4x4\)")
    neg, tneg = mg.tensor(-i.numpy() - 1), torch.tensor(-i.numpy() - 1)
    _raises_like_torch(lambda: F.max_unpool2d(y, neg, 2), lambda: TF.max_unpool2d(ty, tneg, 2), RuntimeError,
                       "invalid max index: -")
    _raises_like_torch(lambda: F.max_unpool2d(y, i.int(), 2), lambda: TF.max_unpool2d(ty, ti.int(), 2), RuntimeError,
                       "max_unpool2d: elements in indices should be type int64.*int32")
    _raises_like_torch(lambda: F.max_unpool2d(y, i[..., :1], 2), lambda: TF.max_unpool2d(ty, ti[..., :1], 2),
                       RuntimeError, r"max_unpool2d: Expected shape of indices to be same as that of the input")
    _raises_like_torch(lambda: F.max_unpool2d(y[0, 0], i[0, 0], 2), lambda: TF.max_unpool2d(ty[0, 0], ti[0, 0], 2),
                       RuntimeError, "max_unpool2d: Input to max_unpooling2d should be a 3d or 4d Tensor")
    _raises_like_torch(lambda: F.max_unpool2d(y, i, 2, output_size=(7, 7)),
                       lambda: TF.max_unpool2d(ty, ti, 2, output_size=(7, 7)), ValueError,
                       r'max_unpool2d: invalid output_size "\(7, 7\)" \(dim 0 must be between 2 and 6\)')
    _raises_like_torch(lambda: F.max_unpool2d(y, i, 2, output_size=(4, 4, 4)),
                       lambda: TF.max_unpool2d(ty, ti, 2, output_size=(4, 4, 4)), ValueError,
                       "output_size should be a sequence containing 2 or 4 elements, but it has a length of '3'")
    _raises_like_torch(lambda: F.max_unpool2d(y, i, 2, output_size=5),
                       lambda: TF.max_unpool2d(ty, ti, 2, output_size=5), TypeError, "output_size must be a sequence")
    _raises_like_torch(lambda: F.max_unpool2d(y.long(), i, 2), lambda: TF.max_unpool2d(ty.long(), ti, 2),
                       (TypeError, NotImplementedError), "max_unpool2d")
    with pytest.raises(RuntimeError, match=r"max_unpool1d: expected a 2-D \(C, L\) or 3-D \(N, C, L\) input"):
        F.max_unpool1d(y[0, 0, 0], i[0, 0, 0], 2)
    with pytest.raises(RuntimeError):
        TF.max_unpool1d(ty[0, 0, 0], ti[0, 0, 0], 2)
    with pytest.raises(TypeError, match="max_unpool1d: input and indices must be minigrad Tensors"):
        F.max_unpool1d(y[0], i.numpy()[0], 2)


# ================================================================ lp_pool
P_VALUES = [1, 2, 3, 1.5, float("inf"), -float("inf")]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # x ** 1.5 of x < 0 is NaN, as torch
@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("conf", [dict(kernel_size=2), dict(kernel_size=3, stride=2, ceil_mode=True),
                                  dict(kernel_size=2, stride=1)])
@pytest.mark.parametrize("shape", [(2, 3, 7), (3, 7)])
def test_lp_pool1d_matches_torch(p, conf, shape):
    x, t = both(randn(*shape))
    y, ty = F.lp_pool1d(x, p, **conf), TF.lp_pool1d(t, p, **conf)
    close(y, ty)
    g = randn(*ty.shape, seed=2)
    y.backward(mg.tensor(g))
    ty.backward(torch.tensor(g))
    close(x.grad, t.grad)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # x ** 1.5 of x < 0 is NaN, as torch
@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("conf", [dict(kernel_size=2), dict(kernel_size=(2, 3), stride=(1, 2), ceil_mode=True),
                                  dict(kernel_size=3, stride=2)])
@pytest.mark.parametrize("shape", [(2, 2, 5, 6), (2, 5, 6)])
def test_lp_pool2d_matches_torch(p, conf, shape):
    x, t = both(randn(*shape))
    y, ty = F.lp_pool2d(x, p, **conf), TF.lp_pool2d(t, p, **conf)
    close(y, ty)
    g = randn(*ty.shape, seed=2)
    y.backward(mg.tensor(g))
    ty.backward(torch.tensor(g))
    close(x.grad, t.grad)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # x ** 1.5 of x < 0 is NaN, as torch
@pytest.mark.parametrize("p", [1, 2, 3, 0.5])
def test_lp_pool_at_zero_matches_torch(p):
    """A window of zeros: torch's sign(s) * relu(|s|) makes its gradient 0 (not the NaN of 0 * inf);
    a lone non-zero element; and negative elements with odd / fractional p (NaN values, as torch)."""
    a = np.zeros((1, 1, 4, 4))
    a[0, 0, 0, 0] = 1.5
    a[0, 0, 3, 3] = -2.0
    x, t = both(a)
    y, ty = F.lp_pool2d(x, p, 2), TF.lp_pool2d(t, p, 2)
    close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    close(x.grad, t.grad)
    assert np.array_equal(np.isnan(x.grad.numpy()), np.isnan(t.grad.numpy()))
    x, t = both(np.zeros((1, 6)))
    y, ty = F.lp_pool1d(x, p, 3), TF.lp_pool1d(t, p, 3)
    y.sum().backward()
    ty.sum().backward()
    close(y, ty)
    close(x.grad, t.grad)


def test_relu_backward_selects_like_torch():
    """ReLU's backward is torch's threshold_backward, a select: an inf upstream gradient where x <= 0 gives 0
    (not 0 * inf = NaN), and a NaN input passes its gradient (NaN <= 0 is false). lp_pool relies on it."""
    a = np.array([-1.0, 0.0, 2.0, np.nan])
    x, t = both(a)
    g = np.array([np.inf, np.inf, 3.0, 4.0])
    mg.relu(x).backward(mg.tensor(g))
    torch.relu(t).backward(torch.tensor(g))
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    x32 = mg.tensor([-1.0, 1.0], dtype=mg.float32, requires_grad=True)
    mg.relu(x32).sum().backward()
    assert x32.grad.dtype == mg.float32


@given(data=st.data(), shape=mst.shapes(min_dims=4, max_dims=4, min_side=2, max_side=4), p=st.sampled_from([1, 2, 3]))
def test_lp_pool2d_gradcheck(device, data, shape, p):
    """Away from 0 (where the p-th root is not differentiable): the composed ops' gradients."""
    a = draw_array(data, shape, device, min_value=0.2, max_value=2.0)
    x = mg.tensor(a, device=device, requires_grad=True)
    y = F.lp_pool2d(x, p, 2)
    windows = a[:, :, :shape[2] // 2 * 2, :shape[3] // 2 * 2].reshape(shape[0], shape[1], shape[2] // 2, 2, -1, 2)
    np.testing.assert_allclose(y.detach().numpy(), (windows ** p).sum(axis=(3, 5)) ** (1 / p), rtol=1e-10)
    gradcheck(lambda x: F.lp_pool2d(x, p, 2), x)


def test_lp_pool_keeps_float32():
    x = mg.rand(1, 2, 4, 4)
    assert F.lp_pool2d(x, 2, 2).dtype == mg.float32
    assert F.lp_pool1d(x[0], 2.5, 2).dtype == mg.float32


def test_lp_pool_modules_match_torch():
    cases = [((2, 3), {}), ((1.5, 2), dict(stride=1, ceil_mode=True)), ((float("inf"), 2), {})]
    for args, kw in cases:
        assert repr(nn.LPPool1d(*args, **kw)) == repr(torch.nn.LPPool1d(*args, **kw))
        assert repr(nn.LPPool2d(*args, **kw)) == repr(torch.nn.LPPool2d(*args, **kw))
    assert repr(nn.LPPool2d(2, (2, 3), (1, 2))) == repr(torch.nn.LPPool2d(2, (2, 3), (1, 2)))
    x, t = both(randn(2, 3, 6, 6))
    close(nn.LPPool2d(2, (2, 3), (1, 2))(x), torch.nn.LPPool2d(2, (2, 3), (1, 2))(t))
    close(nn.LPPool1d(4, 2, ceil_mode=True)(x[0]), torch.nn.LPPool1d(4, 2, ceil_mode=True)(t[0]))
    assert list(nn.LPPool2d(2, 2).state_dict()) == []


def test_lp_pool_errors():
    with pytest.raises(TypeError, match="lp_pool2d: norm_type must be a number"):
        F.lp_pool2d(mg.rand(1, 1, 4, 4), "2", 2)
    with pytest.raises(ValueError, match="lp_pool1d: kernel_size must be positive"):
        F.lp_pool1d(mg.rand(1, 4), 2, 0)
    with pytest.raises(ValueError, match="avg_pool2d"):  # the window does not fit (the composed op reports it)
        F.lp_pool2d(mg.rand(1, 1, 2, 2), 2, 3)


# ================================================================ feature alpha dropout
def test_feature_alpha_dropout_structure_and_statistics():
    """Each channel input[n, c] is either a x + a alpha' p (kept) or the constant a alpha' (p - 1) (dropped);
    about a fraction p is dropped; SELU-normalised input keeps mean 0 and variance 1."""
    p = 0.3
    a = 1.0 / np.sqrt((ALPHA_PRIME ** 2 * p + 1) * (1 - p))
    xv = randn(64, 50, 6, 6)
    x = mg.tensor(xv, requires_grad=True)
    y = F.feature_alpha_dropout(x, p, training=True)
    yv = y.detach().numpy().reshape(64, 50, -1)
    xf = xv.reshape(64, 50, -1)
    kept = np.isclose(yv, a * xf + a * ALPHA_PRIME * p, rtol=0, atol=1e-12).all(axis=2)
    dropped = np.isclose(yv, a * ALPHA_PRIME * (p - 1), rtol=0, atol=1e-12).all(axis=2)
    assert (kept ^ dropped).all()  # whole channels, exactly one of the two
    assert abs(dropped.mean() - p) < 0.04  # 3200 channels: std ~ 0.008
    assert abs(yv.mean()) < 0.05 and abs(yv.var() - 1.0) < 0.06
    y.backward(mg.ones_like(y))
    np.testing.assert_allclose(x.grad.numpy().reshape(64, 50, -1), np.broadcast_to((kept * a)[..., None], xf.shape))


def test_feature_alpha_dropout_2d_input_drops_elements_and_edge_cases():
    x = mg.tensor(randn(200, 30))
    y = F.feature_alpha_dropout(x, 0.5, training=True).numpy()
    p, a = 0.5, 1.0 / np.sqrt((ALPHA_PRIME ** 2 * 0.5 + 1) * 0.5)
    dropped = np.isclose(y, a * ALPHA_PRIME * (p - 1))
    assert 0.45 < dropped.mean() < 0.55  # per element: (N, C) has no spatial dims
    assert F.feature_alpha_dropout(x, 0.5) is x  # training=False is torch's default
    assert F.feature_alpha_dropout(x, 0.0, training=True) is x
    z = F.feature_alpha_dropout(x, 1.0, training=True)
    assert np.array_equal(z.numpy(), np.zeros((200, 30)))  # torch: x * 0
    assert F.feature_alpha_dropout(mg.rand(4), 0.5) is not None  # eval: any rank
    with pytest.raises(RuntimeError, match="feature_alpha_dropout: Feature dropout requires at least 2 dimensions"):
        F.feature_alpha_dropout(mg.rand(4), 0.5, training=True)
    with pytest.raises(RuntimeError):
        TF.feature_alpha_dropout(torch.rand(4), 0.5, training=True)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.feature_alpha_dropout(x, 1.5, training=True)
    x32 = mg.rand(2, 3, 4)
    assert F.feature_alpha_dropout(x32, 0.5, training=True).dtype == mg.float32


def test_feature_alpha_dropout_inplace():
    xv = randn(4, 6, 3)
    x = mg.tensor(xv)
    mg.manual_seed(5)
    out = F.feature_alpha_dropout(x, 0.4, training=True, inplace=True)
    assert out is x
    mg.manual_seed(5)
    np.testing.assert_allclose(x.numpy(), F.feature_alpha_dropout(mg.tensor(xv), 0.4, training=True).numpy())


def test_feature_alpha_dropout_module():
    for args in [(), (0.2,), (0.3, True)]:
        assert repr(nn.FeatureAlphaDropout(*args)) == repr(torch.nn.FeatureAlphaDropout(*args))
    m = nn.FeatureAlphaDropout(0.5, inplace=True)
    x = mg.tensor(randn(2, 8, 3))
    y = m(x)
    assert y is not x and np.array_equal(x.numpy(), randn(2, 8, 3))  # inplace is ignored, as torch
    m.eval()
    assert m(x) is x
    assert list(m.state_dict()) == []
    with pytest.raises(ValueError, match="FeatureAlphaDropout: dropout probability"):
        nn.FeatureAlphaDropout(2.0)


# ================================================================ Dropout2d / Dropout3d (channel dropout)
@pytest.mark.parametrize("fn,shape", [(F.dropout1d, (40, 30, 5)), (F.dropout2d, (40, 30, 3, 4)),
                                      (F.dropout3d, (40, 30, 2, 2, 3)), (F.dropout3d, (300, 2, 2, 3))])
def test_channel_dropout_structure_and_statistics(fn, shape):
    """Whole channels zeroed, the rest scaled by 1/(1-p); about a fraction p dropped; gradient = the mask."""
    p = 0.25
    xv = randn(*shape) + 5.0  # no zeros of its own
    x = mg.tensor(xv, requires_grad=True)
    y = fn(x, p, training=True)
    lead = 1 if len(shape) == 4 and fn is F.dropout3d else 2  # (C, D, H, W) is unbatched
    yv = y.detach().numpy().reshape(shape[:lead] + (-1,))
    ratio = yv / xv.reshape(yv.shape)
    zero = (ratio == 0).all(axis=-1)
    scaled = np.isclose(ratio, 1 / (1 - p)).all(axis=-1)
    assert (zero ^ scaled).all()
    assert abs(zero.mean() - p) < 0.04
    y.backward(mg.ones_like(y))
    np.testing.assert_allclose(x.grad.numpy().reshape(yv.shape), ratio)
    assert fn(x, p, training=False) is x


def test_channel_dropout_modules_and_warning():
    for name in ["Dropout1d", "Dropout2d", "Dropout3d"]:
        assert repr(getattr(nn, name)(0.3, True)) == repr(getattr(torch.nn, name)(0.3, True))
    m = nn.Dropout2d(0.5)
    x = mg.rand(2, 3, 4)
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        m(x)
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        torch.nn.Dropout2d(0.5)(torch.rand(2, 3, 4))
    m.eval()
    assert m(mg.rand(2, 3, 4, 4)) is not None and list(m.state_dict()) == []


# ================================================================ nn.Buffer
class _WithBuffers(nn.Module):
    def __init__(self, lib):
        super().__init__()
        self.lin = lib.nn.Linear(2, 3) if lib is torch else nn.Linear(2, 3)
        Buf = torch.nn.Buffer if lib is torch else nn.Buffer
        self.mean = Buf(lib.zeros(3))
        self.scratch = Buf(lib.ones(2), persistent=False)
        self.plain = lib.ones(1)  # a plain tensor: not registered


class _TorchWithBuffers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 3)
        self.mean = torch.nn.Buffer(torch.zeros(3))
        self.scratch = torch.nn.Buffer(torch.ones(2), persistent=False)
        self.plain = torch.ones(1)


def test_buffer_registers_on_assignment_like_torch():
    ours, theirs = _WithBuffers(mg), _TorchWithBuffers()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["mean", "lin.weight", "lin.bias"]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()] == ["mean", "scratch"]
    assert "plain" not in dict(ours.named_buffers())
    assert [n for n, _ in ours.named_parameters()] == ["lin.weight", "lin.bias"]
    # re-assigning a plain tensor to a buffer name keeps it a buffer, with its persistence
    ours.scratch = mg.zeros(2)
    assert "scratch" in dict(ours.named_buffers()) and "scratch" not in ours.state_dict()
    ours.double()
    assert ours.mean.dtype == mg.float64 and ours.scratch.dtype == mg.float64
    assert ours.load_state_dict({"mean": mg.ones(3, dtype=mg.float64), **{k: v for k, v in ours.state_dict().items()
                                                                          if k != "mean"}}) is not None
    assert np.array_equal(ours.mean.numpy(), np.ones(3))


def test_buffer_tensor_semantics():
    t = mg.arange(3.0)
    b = nn.Buffer(t)
    assert isinstance(b, nn.Buffer) and isinstance(b, mg.Tensor) and not isinstance(t, nn.Buffer)
    assert b.persistent is True and not b.requires_grad
    b[0] = 7.0  # shares storage with t (torch: data.detach())
    assert t[0].item() == 7.0
    assert nn.Buffer(mg.ones(2, requires_grad=True)).requires_grad  # kept, as torch
    e, te = nn.Buffer(), torch.nn.Buffer()
    assert e.shape == tuple(te.shape) == (0,) and e.dtype == mg.float32
    assert nn.Buffer(t, persistent=False).persistent is False
    with pytest.raises(TypeError, match="Buffer: data must be a minigrad Tensor"):
        nn.Buffer([1.0, 2.0])
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign a Buffer as parameter 'weight'"):
        m.weight = nn.Buffer(mg.zeros(2, 2))
    with pytest.raises(TypeError):
        torch.nn.Linear(2, 2).weight = torch.nn.Buffer(torch.zeros(2, 2))


# ================================================================ deprecated aliases
@pytest.mark.parametrize("name,kw", [("upsample", dict(scale_factor=2)),
                                     ("upsample", dict(size=(5, 7), mode="bilinear")),
                                     ("upsample", dict(size=(5, 7), mode="bilinear", align_corners=True)),
                                     ("upsample_nearest", dict(scale_factor=2)), ("upsample_nearest", dict(size=5)),
                                     ("upsample_bilinear", dict(scale_factor=2)),
                                     ("upsample_bilinear", dict(size=(3, 7)))])
def test_upsample_aliases_warn_and_match_torch(name, kw):
    x, t = both(randn(2, 3, 3, 4))
    with pytest.warns(UserWarning, match=rf"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate`"):
        y = getattr(F, name)(x, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ty = getattr(TF, name)(t, **kw)
    close(y, ty)  # upsample_bilinear: align_corners=True, as torch
    g = randn(*ty.shape, seed=5)
    y.backward(mg.tensor(g))
    ty.backward(torch.tensor(g))
    close(x.grad, t.grad)


def test_upsample_warning_points_at_the_caller():
    with pytest.warns(UserWarning) as rec:
        F.upsample_nearest(mg.rand(1, 1, 2, 2), scale_factor=2)
    assert rec[0].filename == __file__


def test_nll_loss2d_is_the_deprecated_nll_loss():
    with pytest.warns(FutureWarning, match="`NLLLoss2d` has been deprecated. Please use `NLLLoss`"):
        m = nn.NLLLoss2d(ignore_index=1)
    with pytest.warns(FutureWarning):
        tm = torch.nn.NLLLoss2d(ignore_index=1)
    assert isinstance(m, nn.NLLLoss) and m.ignore_index == tm.ignore_index and m.reduction == tm.reduction
    # torch's (N, C, H, W) scores are (N, H, W, C) here: minigrad's class dimension is last
    scores = torch.log_softmax(torch.tensor(randn(2, 4, 3, 5)), dim=1).requires_grad_()
    target = torch.tensor(np.random.default_rng(1).integers(0, 4, (2, 3, 5)))
    x = mg.tensor(scores.detach().permute(0, 2, 3, 1).numpy(), requires_grad=True)
    loss, tloss = m(x, mg.tensor(target.numpy())), tm(scores, target)
    close(loss, tloss)
    loss.backward()
    tloss.backward()
    close(x.grad, scores.grad.permute(0, 2, 3, 1))
    assert list(m.state_dict()) == list(tm.state_dict())


def test_container_is_a_deprecated_module():
    with pytest.warns(FutureWarning, match="`nn.Container` is deprecated"):
        c = nn.Container(a=nn.Linear(2, 3), b=nn.ReLU())
    with pytest.warns(FutureWarning):
        tc = torch.nn.Container(a=torch.nn.Linear(2, 3), b=torch.nn.ReLU())
    assert list(c.state_dict()) == list(tc.state_dict()) == ["a.weight", "a.bias"]
    assert repr(c) == repr(tc)
    assert isinstance(c, nn.Module)


# ================================================================ AdaptiveLogSoftmaxWithLoss
def _asm_pair(in_features=16, n_classes=10, cutoffs=(3, 6), **kw):
    """A minigrad and a torch AdaptiveLogSoftmaxWithLoss (float64) with the same (torch's) weights."""
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, list(cutoffs), **kw).double()
    m = nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, **kw).double()
    m.load_state_dict({k: mg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return m, tm


@pytest.mark.parametrize("kw", [dict(), dict(div_value=2.0, head_bias=True), dict(cutoffs=(5,), div_value=1.5)])
def test_adaptive_log_softmax_matches_torch(kw):
    m, tm = _asm_pair(**kw)
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert (m.shortlist_size, m.n_clusters, m.head_size, m.cutoffs) == (tm.shortlist_size, tm.n_clusters,
                                                                         tm.head_size, tm.cutoffs)
    x, tx = both(randn(9, 16))
    target = np.array([0, 9, 4, 2, 6, 7, 3, 5, 1])
    out, tout = m(x, mg.tensor(target)), tm(tx, torch.tensor(target))
    assert type(out).__name__ == "_ASMoutput" and out._fields == ("output", "loss")
    close(out.output, tout.output)
    close(out.loss, tout.loss)
    (out.loss * 2 + out.output[1]).backward()
    (tout.loss * 2 + tout.output[1]).backward()
    close(x.grad, tx.grad)
    for (name, p), (tname, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert name == tname
        close(p.grad, tp.grad)
    close(m.log_prob(x), tm.log_prob(tx))
    np.testing.assert_allclose(np.exp(m.log_prob(x).detach().numpy()).sum(axis=1), 1.0, rtol=1e-12)
    # each output is the full distribution's entry at the target
    np.testing.assert_allclose(out.output.detach().numpy(), m.log_prob(x).detach().numpy()[np.arange(9), target])
    assert np.array_equal(m.predict(x).numpy(), tm.predict(tx).numpy())


def test_adaptive_log_softmax_unbatched_and_single_cluster_batches():
    m, tm = _asm_pair()
    x, tx = both(randn(16))
    out, tout = m(x, mg.tensor(7)), tm(tx, torch.tensor(7))
    assert out.output.shape == tuple(tout.output.shape) == ()
    close(out.output, tout.output)
    close(out.loss, tout.loss)
    for target in ([0, 1, 2], [4, 5, 3], [9, 8, 6]):  # only the shortlist / only one cluster
        x, tx = both(randn(3, 16))
        close(m(x, mg.tensor(target)).output, tm(tx, torch.tensor(target)).output)


def test_adaptive_log_softmax_predict_mixes_head_and_tail():
    """Rows whose head argmax is a cluster entry take the full argmax; the others keep the head's."""
    m, tm = _asm_pair()
    w = np.zeros((m.head_size, 16))
    w[m.shortlist_size, 0] = 5.0  # cluster 0's head entry wins when feature 0 > 0
    w[1, 0] = -5.0  # shortlist class 1 wins when feature 0 < 0
    with torch.no_grad():
        tm.head.weight.copy_(torch.tensor(w))
    m.load_state_dict({k: mg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    a = randn(6, 16)
    a[:, 0] = [1, -1, 2, -2, 3, 0.5]
    x, tx = both(a)
    pred, tpred = m.predict(x), tm.predict(tx)
    assert pred.dtype == mg.int64 and np.array_equal(pred.numpy(), tpred.numpy())
    assert (pred.numpy()[[0, 2, 4, 5]] >= 3).all() and (pred.numpy()[[1, 3]] == 1).all()
    a[:, 0] = -1.0  # all in the shortlist
    x, tx = both(a)
    assert np.array_equal(m.predict(x).numpy(), tm.predict(tx).numpy())
    a[:, 0] = 4.0  # none in the shortlist
    x, tx = both(a)
    assert np.array_equal(m.predict(x).numpy(), tm.predict(tx).numpy())


@given(data=st.data(), batch=st.integers(1, 4), head_bias=st.booleans())
def test_adaptive_log_softmax_gradcheck(device, data, batch, head_bias):
    m = nn.AdaptiveLogSoftmaxWithLoss(4, 7, [2, 4], div_value=2.0, head_bias=head_bias).double().to(device)
    x = mg.tensor(draw_array(data, (batch, 4), device), device=device, requires_grad=True)
    target = mg.tensor(data.draw(st.lists(st.integers(0, 6), min_size=batch, max_size=batch)), device=device)
    gradcheck(lambda x: m(x, target).loss, x)
    gradcheck(lambda x: m.log_prob(x), x)


def test_adaptive_log_softmax_keeps_float32_and_errors():
    m = nn.AdaptiveLogSoftmaxWithLoss(4, 6, [2])
    out = m(mg.randn(3, 4), mg.tensor([0, 5, 2]))
    assert out.output.dtype == out.loss.dtype == mg.float32 and m.log_prob(mg.randn(2, 4)).dtype == mg.float32
    for cutoffs in ([], [3, 2], [0, 2], [2, 6], [2, 2], [1.5]):
        with pytest.raises(ValueError, match="AdaptiveLogSoftmaxWithLoss: cutoffs should be"):
            nn.AdaptiveLogSoftmaxWithLoss(4, 6, cutoffs)
        with pytest.raises(ValueError):
            torch.nn.AdaptiveLogSoftmaxWithLoss(4, 6, cutoffs)
    with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 5\], but values in range \[0, 6\]"):
        m(mg.randn(2, 4), mg.tensor([0, 6]))
    with pytest.raises(RuntimeError, match="same size in the batch dimension"):
        m(mg.randn(2, 4), mg.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match="1D target tensor expects 2D input tensors"):
        m(mg.randn(2, 4, 1), mg.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="0D target tensor expects 1D input tensors"):
        m(mg.randn(2, 4), mg.tensor(1))
    with pytest.raises(RuntimeError, match="multi-target not supported"):
        m(mg.randn(2, 4), mg.tensor([[0], [1]]))
    with pytest.raises(TypeError, match="target must hold integer class indices"):
        m(mg.randn(2, 4), mg.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"cluster 1 would project to in_features // div_value \*\* 2 = 8 // 16.0 = 0"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6])  # torch: a zero-width Linear
