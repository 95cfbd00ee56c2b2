"""nn.utils: get_total_norm, clip_grads_with_norm_, parameters_to_vector, vector_to_parameters (against torch,
properties, errors); nn.init: trunc_normal_ (statistically), dirac_, sparse_, calculate_gain's whole table."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.nn import init
from minigrad.nn.utils import (clip_grad_norm_, clip_grads_with_norm_, get_total_norm, parameters_to_vector,
                               vector_to_parameters)
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst


def params_with_grads(shapes, seed, device="cpu", dtype="float32", scale=1.0):
    rng = np.random.default_rng(seed)
    ps = []
    for s in shapes:
        p = nn.Parameter(mg.zeros(*s, dtype=dtype, device=device))
        p.grad = mg.tensor(rng.standard_normal(s) * scale, dtype=dtype, device=device)
        ps.append(p)
    return ps


def reference_norm(arrays, p):
    flat = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays])
    return np.abs(flat).max() if p == math.inf else (np.abs(flat) ** p).sum() ** (1 / p)


# ================================================================ get_total_norm / clip_grads_with_norm_
@given(shapes=st.lists(mst.shapes(min_dims=0, max_dims=3, max_side=4), min_size=1, max_size=4),
       max_norm=st.floats(0.01, 10.0), norm_type=st.sampled_from([1.0, 2.0, 3.0, math.inf]),
       scale=st.sampled_from([0.01, 1.0, 10.0]), seed=st.integers(0, 2**16))
def test_total_norm_then_clip_is_clip_grad_norm(device, shapes, max_norm, norm_type, scale, seed):
    ps = params_with_grads(shapes, seed, device, "float64", scale)
    qs = params_with_grads(shapes, seed, device, "float64", scale)
    before = [p.grad.numpy().copy() for p in ps]
    arrays = [p.grad.data for p in ps]
    total = get_total_norm([p.grad for p in ps], norm_type)
    assert isinstance(total, mg.Tensor) and total.shape == () and total.dtype == np.float64
    assert total.device == ps[0].device and not total.requires_grad
    np.testing.assert_allclose(total.item(), reference_norm(before, norm_type), rtol=1e-10)
    assert clip_grads_with_norm_(ps, max_norm, total) is None
    expected = clip_grad_norm_(qs, max_norm, norm_type)
    assert expected.item() == total.item()
    coef = min(1.0, max_norm / (total.item() + 1e-6))
    for p, q, b, arr in zip(ps, qs, before, arrays):
        assert p.grad.data is arr  # scaled in place
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
        np.testing.assert_allclose(p.grad.numpy(), b * coef, rtol=1e-12, atol=1e-300)


def test_get_total_norm_and_clip_grads_with_norm_match_torch():
    torch = pytest.importorskip("torch")
    shapes = [(3, 4), (4,), (2, 2, 2), ()]
    for norm_type in (2.0, 1.0, math.inf, 0.5, "inf"):
        ps = params_with_grads(shapes, 0, scale=3.0)
        tgrads = [torch.tensor(p.grad.numpy().copy()) for p in ps]
        total = get_total_norm([p.grad for p in ps], norm_type)
        ttotal = torch.nn.utils.get_total_norm(tgrads, norm_type)
        assert total.dtype == np.float32  # float32 gradients keep a float32 norm
        np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-6)
        tps = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
        for tp, g in zip(tps, tgrads):
            tp.grad = g
        clip_grads_with_norm_(ps, 1.5, total)
        torch.nn.utils.clip_grads_with_norm_(tps, 1.5, ttotal)
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)
    # a single tensor, and no tensors at all (torch: tensor(0.) in the default dtype)
    t = mg.tensor([3.0, -4.0])
    assert get_total_norm(t).item() == 5.0 == torch.nn.utils.get_total_norm(torch.tensor([3.0, -4.0])).item()
    empty = get_total_norm([])
    assert empty.item() == 0.0 and empty.dtype == np.float32


def test_clip_grads_with_norm_takes_any_total_and_skips_params_without_grad():
    p = params_with_grads([(3,)], 1)[0]
    q = nn.Parameter(mg.zeros(2))  # no grad: skipped
    before = p.grad.numpy().copy()
    clip_grads_with_norm_([p, q], 1.0, mg.tensor(4.0))  # e.g. a norm all-reduced over several workers
    np.testing.assert_allclose(p.grad.numpy(), before * (1.0 / (4.0 + 1e-6)), rtol=1e-6)
    assert q.grad is None
    clip_grads_with_norm_(p, 1.0, 0.5)  # a number works too; below max_norm: unchanged
    np.testing.assert_allclose(p.grad.numpy(), before * (1.0 / (4.0 + 1e-6)), rtol=1e-6)
    assert p.grad.dtype == np.float32
    clip_grads_with_norm_(p, 1.0, mg.tensor(8.0, dtype="float64"))  # a float64 norm keeps float32 grads
    assert p.grad.dtype == np.float32


def test_total_norm_counts_row_sparse_gradients_once_per_row():
    emb = nn.Embedding(10, 3, sparse=True)
    dense = nn.Embedding(10, 3)
    dense.load_state_dict(emb.state_dict())
    idx = mg.tensor([1, 4, 4, 7])
    (emb(idx) ** 2).sum().backward()
    (dense(idx) ** 2).sum().backward()
    assert emb.weight.grad.is_sparse
    np.testing.assert_allclose(get_total_norm(emb.weight.grad).item(), get_total_norm(dense.weight.grad).item(),
                               rtol=1e-6)
    total = get_total_norm([dense.weight.grad])
    clip_grads_with_norm_(emb.parameters(), 0.5, total)
    clip_grads_with_norm_(dense.parameters(), 0.5, total)
    np.testing.assert_allclose(emb.weight.grad.to_dense().numpy(), dense.weight.grad.numpy(), rtol=1e-6)


def test_total_norm_nonfinite_and_bad_arguments():
    g = mg.tensor([1.0, np.inf])
    assert math.isinf(get_total_norm([g]).item())
    with pytest.raises(RuntimeError, match="get_total_norm: the total norm of order 2.0"):
        get_total_norm([g], error_if_nonfinite=True)
    with pytest.raises(ValueError, match="get_total_norm: norm_type must be positive"):
        get_total_norm([g], norm_type=0)
    with pytest.raises(TypeError, match="get_total_norm: expected Tensors"):
        get_total_norm([np.zeros(3)])
    with pytest.raises(TypeError, match="foreach must be None, True or False"):
        get_total_norm([g], foreach="yes")
    p = params_with_grads([(3,)], 2)[0]
    with pytest.raises(ValueError, match="clip_grads_with_norm_: max_norm must be non-negative"):
        clip_grads_with_norm_([p], -1.0, mg.tensor(1.0))
    with pytest.raises(ValueError, match="clip_grads_with_norm_: total_norm must be a one-element tensor"):
        clip_grads_with_norm_([p], 1.0, mg.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="clip_grads_with_norm_: total_norm must be a number"):
        clip_grads_with_norm_([p], 1.0, "2.0")
    with pytest.raises(TypeError, match="clip_grads_with_norm_: expected Tensors"):
        clip_grads_with_norm_([np.zeros(3)], 1.0, 1.0)


@pytest.mark.parametrize("norm_type", [2.0, 3.0])
def test_float32_norm_overflow_is_inf_silently_as_torch(norm_type):
    """Review fix: float32 gradients near 3e38 overflow the norm's squares; the total norm is inf and the clipped
    gradients 0, as torch gives them, without NumPy's overflow warning."""
    torch = pytest.importorskip("torch")
    g = np.asarray([3e38, -3e38, 1.0], dtype=np.float32)
    p = nn.Parameter(mg.zeros(3))
    p.grad = mg.tensor(g)
    t = torch.zeros(3, requires_grad=True)
    t.grad = torch.tensor(g)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        total = clip_grad_norm_([p], 1.0, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_([t], 1.0, norm_type=norm_type)
    assert math.isinf(total.item()) and math.isinf(want.item())
    np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_clip_grad_norm_and_value_accept_torchs_foreach_and_behave_as_before():
    ps = params_with_grads([(4, 4)], 5, scale=2.0)
    qs = params_with_grads([(4, 4)], 5, scale=2.0)
    for foreach in (None, True, False):
        a = clip_grad_norm_(ps, 1.0, foreach=foreach)
        b = clip_grad_norm_(qs, 1.0)
        assert a.item() == b.item()
        np.testing.assert_array_equal(ps[0].grad.numpy(), qs[0].grad.numpy())
        nn.utils.clip_grad_value_(ps, 0.1, foreach=foreach)
        nn.utils.clip_grad_value_(qs, 0.1)
        np.testing.assert_array_equal(ps[0].grad.numpy(), qs[0].grad.numpy())


# ================================================================ parameters_to_vector / vector_to_parameters
@given(shapes=st.lists(mst.shapes(min_dims=0, max_dims=3, max_side=4), min_size=1, max_size=3),
       seed=st.integers(0, 2**16))
def test_parameters_to_vector_round_trip_and_gradient(device, shapes, seed):
    rng = np.random.default_rng(seed)
    ps = [mg.tensor(rng.standard_normal(s), requires_grad=True, device=device) for s in shapes]
    vec = parameters_to_vector(ps)
    assert vec.shape == (sum(int(np.prod(s)) for s in shapes),) and vec.requires_grad and vec.device == ps[0].device
    np.testing.assert_array_equal(vec.numpy(), np.concatenate([p.numpy().reshape(-1) for p in ps]))
    # a copy: writing into the vector leaves the parameters alone
    before = [p.numpy().copy() for p in ps]
    vec.data[...] = 7.0
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.numpy(), b)
    # gradient: d vec / d p is the identity, sliced and reshaped
    gradcheck(lambda *xs: parameters_to_vector(xs) * parameters_to_vector(xs).sin(), *ps)
    # back: vector_to_parameters writes each slice into its parameter, in place
    new = rng.standard_normal(vec.shape[0])
    arrays, versions = [p.data for p in ps], [p._version for p in ps]
    assert vector_to_parameters(mg.tensor(new, device=device), ps) is None
    np.testing.assert_array_equal(parameters_to_vector(ps).detach().numpy(), new)
    for p, arr, v, s in zip(ps, arrays, versions, shapes):
        assert p.data is arr and p.shape == tuple(s) and p._version > v and p.is_leaf


def test_parameters_to_vector_matches_torch_on_a_module():
    torch = pytest.importorskip("torch")
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        for p, q in zip(m.parameters(), t.parameters()):
            q.copy_(torch.tensor(p.numpy()))
    vec = parameters_to_vector(m.parameters())
    np.testing.assert_array_equal(vec.detach().numpy(), torch.nn.utils.parameters_to_vector(t.parameters()).detach())
    assert vec.dtype == np.float32
    new = np.arange(vec.shape[0], dtype=np.float64) / 10  # a float64 vector is cast to the float32 parameters
    vector_to_parameters(mg.tensor(new), m.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(new, dtype=torch.float32), t.parameters())
    for p, q in zip(m.parameters(), t.parameters()):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p.numpy(), q.detach().numpy())
    # backward through the vector reaches every parameter, sliced and reshaped
    weights = np.random.default_rng(0).standard_normal(vec.shape[0]).astype(np.float32)
    (parameters_to_vector(m.parameters()) * mg.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(np.concatenate([p.grad.numpy().reshape(-1) for p in m.parameters()]), weights)


def test_a_single_parameter_gives_a_copy_not_a_view():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    vec = parameters_to_vector([p])
    vec.data[0] = 5.0
    assert p.numpy().tolist() == [1.0, 2.0]
    assert parameters_to_vector(p).numpy().tolist() == [1.0, 2.0]  # a lone Tensor, as torch's loop allows


def test_vector_conversion_errors():
    a, b = mg.zeros(2, 3, requires_grad=True), mg.zeros(4, requires_grad=True)
    with pytest.raises(ValueError, match="parameters_to_vector: expected at least one parameter"):
        parameters_to_vector([])
    with pytest.raises(TypeError, match="parameters_to_vector: the parameters have different dtypes"):
        parameters_to_vector([a, mg.zeros(2, dtype="float64")])
    with pytest.raises(TypeError, match="parameters_to_vector: expected Tensors"):
        parameters_to_vector([np.zeros(2)])
    with pytest.raises(TypeError, match="vector_to_parameters: expected a minigrad Tensor as vec"):
        vector_to_parameters(np.zeros(10), [a, b])
    with pytest.raises(ValueError, match="vector_to_parameters: vec has 9 elements but the parameters have 10"):
        vector_to_parameters(mg.zeros(9), [a, b])
    with pytest.raises(ValueError, match="vector_to_parameters: vec has 11 elements"):
        vector_to_parameters(mg.zeros(11), [a, b])  # torch silently ignores the rest; a likely bug, so we refuse
    with pytest.raises(ValueError, match="vector_to_parameters: vec must be 1-D"):
        vector_to_parameters(mg.zeros(2, 5), [a, b])
    with pytest.raises(TypeError, match="vector_to_parameters: vec is int64"):
        vector_to_parameters(mg.tensor(np.arange(10)), [a, b])


# ================================================================ nn.init: trunc_normal_, dirac_, sparse_, gains
def _phi(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _Phi(x):  # noqa: N802
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def truncated_moments(mean, std, a, b):
    """Mean and standard deviation of N(mean, std^2) truncated to [a, b] (the textbook formulas)."""
    al, be = (a - mean) / std, (b - mean) / std
    z = _Phi(be) - _Phi(al)
    m = (_phi(al) - _phi(be)) / z
    var = 1 + (al * _phi(al) - be * _phi(be)) / z - m * m
    return mean + std * m, std * math.sqrt(var)


@pytest.mark.parametrize("mean,std,a,b", [
    (0.0, 1.0, -2.0, 2.0),    # the default: 95% of the mass inside, normals with rejection
    (0.5, 2.0, -1.0, 0.25),   # 23% inside: uniform proposals with rejection
    (1.0, 0.5, 2.0, 3.0),     # a tail piece (mean 2 std below a, no warning)
    (-3.0, 0.1, -3.5, 10.0),  # one-sided in practice
])
def test_trunc_normal_distribution(mean, std, a, b):
    n = 200_000
    t = nn.Parameter(mg.zeros(n, dtype="float64"))
    assert init.trunc_normal_(t, mean=mean, std=std, a=a, b=b) is t
    x = np.sort(t.numpy())
    assert x[0] >= a and x[-1] <= b
    mu, sigma = truncated_moments(mean, std, a, b)
    # standard errors: sigma / sqrt(n) for the mean; for the std sqrt((m4 / sigma^4 - 1) / (4n)) * sigma, below
    # sigma / sqrt(2n) since a truncated normal's kurtosis m4 / sigma^4 is below the normal's 3. Allow 5 of them.
    assert abs(x.mean() - mu) < 5 * sigma / math.sqrt(n)
    assert abs(x.std() - sigma) < 5 * sigma / math.sqrt(2 * n)
    # Kolmogorov-Smirnov: sup |F_n - F| against the truncated CDF; 1.95 / sqrt(n) is its 0.1% critical value
    lo, z = _Phi((a - mean) / std), _Phi((b - mean) / std) - _Phi((a - mean) / std)
    idx = np.linspace(0, n - 1, 2000).astype(int)
    cdf = np.array([(_Phi((v - mean) / std) - lo) / z for v in x[idx]])
    assert np.abs(cdf - (idx + 1) / n).max() < 1.95 / math.sqrt(n)


def test_trunc_normal_float32_bounds_seeding_and_device(device):
    t = nn.Parameter(mg.zeros(300, 200, device=device))
    init.trunc_normal_(t, std=0.02, a=-0.04, b=0.04)  # the common ViT init: truncated at 2 std
    x = t.numpy()
    assert t.dtype == np.float32 and t.requires_grad and t.is_leaf
    assert x.min() >= np.float32(-0.04) and x.max() <= np.float32(0.04) and x.std() > 0.015
    mg.manual_seed(3)
    a = init.trunc_normal_(nn.Parameter(mg.zeros(50, dtype="float64", device=device)), a=-0.5, b=0.7).numpy()
    mg.manual_seed(3)
    b = init.trunc_normal_(nn.Parameter(mg.zeros(50, dtype="float64", device=device)), a=-0.5, b=0.7).numpy()
    np.testing.assert_array_equal(a, b)
    v = t._version
    init.trunc_normal_(t)
    assert t._version > v and t.grad_fn is None


def test_trunc_normal_warns_and_validates():
    t = mg.zeros(10)
    with pytest.warns(UserWarning, match="more than 2 std"):
        init.trunc_normal_(t, mean=5.0, std=1.0, a=-1.0, b=1.0)
    assert abs(t.numpy()).max() <= 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init.trunc_normal_(t, mean=2.9, std=1.0, a=-1.0, b=1.0)  # within 2 std: no warning
    init.trunc_normal_(t, a=0.5, b=0.5)
    assert (t.numpy() == 0.5).all()  # a degenerate interval
    with pytest.raises(ValueError, match="init.trunc_normal_: need a <= b"):
        init.trunc_normal_(t, a=1.0, b=-1.0)
    with pytest.raises(ValueError, match="init.trunc_normal_: std must be positive"):
        init.trunc_normal_(t, std=0.0)
    with pytest.raises(TypeError, match="init.trunc_normal_: a must be a number"):
        init.trunc_normal_(t, a="x")
    with pytest.raises(TypeError, match="init.trunc_normal_: expected a floating-point tensor"):
        init.trunc_normal_(mg.zeros(3, dtype="int64"))


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 4, 3, 3), 2), ((3, 5, 2, 4), 1), ((6, 2, 3, 3, 3), 3),
                                          ((2, 6, 1, 1), 2)])
def test_dirac_matches_torch(shape, groups, device):
    torch = pytest.importorskip("torch")
    w = nn.Parameter(mg.zeros(*shape, device=device) + 5.0)
    assert init.dirac_(w, groups) is w
    tw = torch.full(shape, 5.0)
    torch.nn.init.dirac_(tw, groups)
    np.testing.assert_array_equal(w.numpy(), tw.numpy())
    assert w.dtype == np.float32 and w.is_leaf


def test_dirac_conv_passes_its_input_through():
    x = mg.randn(2, 3, 7)
    w = init.dirac_(mg.zeros(3, 3, 3))
    np.testing.assert_array_equal(mg.functional.conv1d(x, w, padding=1).numpy(), x.numpy())
    w = init.dirac_(mg.zeros(5, 3, 5))  # more outputs than inputs: the extra channels are zero
    out = mg.functional.conv1d(x, w, padding="same").numpy()
    np.testing.assert_array_equal(out[:, :3], x.numpy())
    assert (out[:, 3:] == 0).all()
    wg = init.dirac_(mg.zeros(4, 1, 3), groups=4)  # depthwise: each channel to itself
    y = mg.randn(1, 4, 6)
    np.testing.assert_array_equal(mg.functional.conv1d(y, wg, padding=1, groups=4).numpy(), y.numpy())


def test_dirac_errors():
    with pytest.raises(ValueError, match="init.dirac_: only tensors with 3, 4, or 5 dimensions"):
        init.dirac_(mg.zeros(3, 3))
    with pytest.raises(ValueError, match=r"init.dirac_: dim 0 \(size 5\) must be divisible by groups=2"):
        init.dirac_(mg.zeros(5, 2, 3), groups=2)
    with pytest.raises(ValueError, match="init.dirac_: groups must be a positive int"):
        init.dirac_(mg.zeros(4, 2, 3), groups=0)


@pytest.mark.parametrize("sparsity,rows,cols", [(0.1, 10, 30), (0.35, 20, 40), (0.0, 5, 3), (1.0, 4, 2),
                                                (0.5, 7, 500)])
def test_sparse_init(sparsity, rows, cols, device):
    w = nn.Parameter(mg.ones(rows, cols, device=device))
    assert init.sparse_(w, sparsity, std=0.5) is w
    x = w.numpy()
    zeros = math.ceil(sparsity * rows)
    np.testing.assert_array_equal((x == 0).sum(axis=0), np.full(cols, zeros))  # the same count in every column
    nonzero = x[x != 0]
    assert nonzero.size == (rows - zeros) * cols and w.dtype == np.float32
    if nonzero.size > 1000:
        assert abs(nonzero.std() - 0.5) < 5 * 0.5 / math.sqrt(2 * nonzero.size)
        assert abs(nonzero.mean()) < 5 * 0.5 / math.sqrt(nonzero.size)
    if 0 < zeros < rows and cols >= 30:
        assert len({tuple(np.flatnonzero(c == 0)) for c in x.T}) > 1  # the zero rows differ between columns


def test_sparse_init_like_torchs_and_errors():
    torch = pytest.importorskip("torch")
    t = torch.empty(9, 6)
    torch.nn.init.sparse_(t, 0.3)
    w = init.sparse_(mg.zeros(9, 6), 0.3)
    np.testing.assert_array_equal((w.numpy() == 0).sum(0), (t.numpy() == 0).sum(0))  # ceil(0.3 * 9) = 3 each
    with pytest.raises(ValueError, match="init.sparse_: only tensors with 2 dimensions"):
        init.sparse_(mg.zeros(2, 3, 4), 0.5)
    with pytest.raises(ValueError, match="init.sparse_: sparsity must be a fraction in"):
        init.sparse_(mg.zeros(2, 3), 1.5)
    with pytest.raises(ValueError, match="init.sparse_: std must be a non-negative number"):
        init.sparse_(mg.zeros(2, 3), 0.5, std=-1.0)


def test_calculate_gain_covers_torchs_whole_table():
    torch = pytest.importorskip("torch")
    names = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
             "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
    for name in names:
        assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name), name
    for slope in (0, 0.2, 1, 3.5, math.sqrt(5), np.float64(0.1)):
        assert init.calculate_gain("leaky_relu", slope) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", slope), rel=1e-15)
    assert init.calculate_gain("relu", 0.3) == math.sqrt(2.0)  # param is only read by leaky_relu, as torch
    for bad in (True, "0.1"):
        with pytest.raises(ValueError, match="negative_slope"):
            init.calculate_gain("leaky_relu", bad)
