"""weight_norm / spectral_norm (legacy hooks and parametrizations), nn.utils.parametrize, optim.swa_utils.

Ported torch programs, run side by side with torch in float64 from the same state_dict:
weight-normed and spectral-normed layers trained a few SGD/Adam steps (outputs, gradients
of the original parameters, power-iteration buffers), a GAN discriminator step through two
forwards, torch's parametrize tutorial (Symmetric, chained parametrizations, right_inverse),
and the SWA / EMA recipe (AveragedModel + CosineAnnealingLR -> SWALR + update_bn).
"""
import copy
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn.utils import parametrize as P
from minigrad.nn.utils.weight_norm import _weight_norm, norm_except_dim
from minigrad.optim import swa_utils
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

torch = pytest.importorskip("torch")
tP = torch.nn.utils.parametrize

TOL = dict(rtol=1e-7, atol=1e-10)


# ---------------------------------------------------------------- helpers
def _np(t):
    if isinstance(t, mg.Tensor):
        return t.detach().cpu().numpy()
    return t.detach().numpy()


def _close(ours, theirs, what=""):
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=what, **TOL)


def _same_state(ours, theirs):
    so, st_ = ours.state_dict(), theirs.state_dict()
    assert list(so) == list(st_)
    for k in so:
        _close(so[k], st_[k], k)


def _into_torch(ours, theirs):
    """Our state into torch (the other direction of the checkpoint round trip)."""
    theirs.load_state_dict({k: torch.from_numpy(_np(v).copy()) for k, v in ours.state_dict().items()})


# name -> (torch layer, our layer, input shape)
LAYERS = {
    "linear": (lambda: torch.nn.Linear(4, 3), lambda: nn.Linear(4, 3), (2, 4)),
    "conv1d": (lambda: torch.nn.Conv1d(3, 4, 2), lambda: nn.Conv1d(3, 4, 2), (2, 3, 5)),
    "conv2d": (lambda: torch.nn.Conv2d(2, 3, 2), lambda: nn.Conv2d(2, 3, 2), (2, 2, 4, 4)),
    "convT2d": (lambda: torch.nn.ConvTranspose2d(2, 3, 2), lambda: nn.ConvTranspose2d(2, 3, 2), (2, 2, 3, 3)),
}


def _pair(layer, wrap_t, wrap_m, device):
    """The torch layer and ours, each wrapped, ours loaded from torch's state (float64)."""
    make_t, make_m, shape = LAYERS[layer]
    torch.manual_seed(0)
    t = wrap_t(make_t().double())
    m = wrap_m(make_m().double().to(device))
    m.load_state_dict(t.state_dict())
    return t, m, shape


def _train_compare(t, m, shape, device, steps=3, opt="sgd"):
    """A few optimizer steps on both: outputs, every parameter's gradient and the state after each step."""
    rng = np.random.default_rng(1)
    if opt == "sgd":
        ot, om = torch.optim.SGD(t.parameters(), lr=0.1), optim.SGD(m.parameters(), lr=0.1)
    else:
        ot, om = torch.optim.Adam(t.parameters(), lr=0.01), optim.Adam(m.parameters(), lr=0.01)
    for _ in range(steps):
        x = rng.standard_normal(shape)
        ot.zero_grad()
        om.zero_grad()
        yt, ym = t(torch.tensor(x)), m(mg.tensor(x, device=device))
        _close(ym, yt, "output")
        (yt ** 2).sum().backward()
        (ym ** 2).sum().backward()
        gt, gm = dict(t.named_parameters()), dict(m.named_parameters())
        assert list(gt) == list(gm)
        for k in gt:
            _close(gm[k].grad, gt[k].grad, f"grad {k}")
        ot.step()
        om.step()
        _same_state(m, t)


def _legacy_wn(dim):
    def wrap(mod):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return (torch.nn.utils.weight_norm if isinstance(mod, torch.nn.Module) else nn.utils.weight_norm)(mod,
                                                                                                          dim=dim)
    return wrap


# ---------------------------------------------------------------- weight_norm (legacy hook API)
@pytest.mark.parametrize("layer", ["linear", "conv1d", "conv2d"])
@pytest.mark.parametrize("dim", [0, 1, None, -1, -2])
def test_legacy_weight_norm_trains_like_torch(device, layer, dim):
    t, m, shape = _pair(layer, _legacy_wn(dim), _legacy_wn(dim), device)
    assert list(m.state_dict()) == list(t.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert m.weight_g.shape == tuple(t.weight_g.shape)  # dim=None / -1: a 0-d g (one norm of everything)
    assert "weight" not in m._parameters and isinstance(m.weight, mg.Tensor)
    _train_compare(t, m, shape, device)
    _close(m.weight, t.weight, "weight recomputed in the last forward")


def test_legacy_weight_norm_remove_and_state_both_ways(device):
    t, m, shape = _pair("conv1d", _legacy_wn(0), _legacy_wn(0), device)
    _train_compare(t, m, shape, device, steps=1)
    t2 = _legacy_wn(0)(torch.nn.Conv1d(3, 4, 2).double())
    _into_torch(m, t2)  # our checkpoint loads into torch's weight-normed layer
    _same_state(m, t2)
    nn.utils.remove_weight_norm(m)
    torch.nn.utils.remove_weight_norm(t)
    assert type(m.weight) is nn.Parameter and m.weight.requires_grad
    assert list(m.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    _same_state(m, t)
    assert not hasattr(m, "weight_g") and not hasattr(m, "weight_v")
    x = np.random.default_rng(2).standard_normal(shape)
    _close(m(mg.tensor(x, device=device)), t(torch.tensor(x)), "after remove")


def test_legacy_weight_norm_errors_and_warning():
    m = nn.Linear(3, 2)
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        nn.utils.weight_norm(m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(RuntimeError, match="two weight_norm hooks"):
            nn.utils.weight_norm(m)
        with pytest.raises(ValueError, match="no parameter 'kernel'"):
            nn.utils.weight_norm(nn.Linear(3, 2), name="kernel")
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
        nn.utils.remove_weight_norm(m, "bias")


def test_norm_except_dim_matches_torch():
    rng = np.random.default_rng(0)
    for shape in [(4,), (3, 4), (2, 3, 4), (2, 3, 2, 2)]:
        x = rng.standard_normal(shape)
        for dim in range(-len(shape), len(shape)):
            _close(norm_except_dim(mg.tensor(x), 2, dim), torch.norm_except_dim(torch.tensor(x), 2, dim),
                   f"{shape} dim={dim}")
    with pytest.raises(IndexError, match="norm_except_dim: dim 3 is out of range"):
        norm_except_dim(mg.ones(2, 3), 2, 3)


@given(data=st.data())
def test_weight_norm_gradcheck(device, data):
    shape = data.draw(mst.shapes(min_dims=1, max_dims=3, max_side=4))
    dim = data.draw(st.integers(-1, len(shape) - 1))
    v = data.draw(mst.tensors(shape=shape, device=device, requires_grad=True, min_value=0.5, max_value=2.0))
    g = mg.tensor(_np(norm_except_dim(v, 2, dim)) * 1.5, device=device, requires_grad=True)
    gradcheck(lambda v_, g_: _weight_norm(v_, g_, dim), v, g)


# ---------------------------------------------------------------- weight_norm (parametrizations)
def _param_wn(dim=0):
    def wrap(mod):
        lib = torch.nn.utils if isinstance(mod, torch.nn.Module) else nn.utils
        return lib.parametrizations.weight_norm(mod, dim=dim)
    return wrap


@pytest.mark.parametrize("layer", ["linear", "conv1d", "conv2d"])
@pytest.mark.parametrize("dim", [0, 1, None])
def test_parametrized_weight_norm_trains_like_torch(device, layer, dim):
    t, m, shape = _pair(layer, _param_wn(dim), _param_wn(dim), device)
    keys = ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    assert list(m.state_dict()) == list(t.state_dict()) == keys
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert type(m).__name__ == type(t).__name__ == f"Parametrized{type(t).__bases__[0].__name__}"
    assert P.type_before_parametrizations(m) is nn.Linear if layer == "linear" else True
    assert isinstance(m, P.type_before_parametrizations(m)) and P.is_parametrized(m, "weight")
    _close(m.weight, t.weight, "weight on access")
    _train_compare(t, m, shape, device, opt="adam")
    assert repr(m) == repr(t)


def test_parametrized_weight_norm_set_remove_and_state_both_ways(device):
    t, m, shape = _pair("linear", _param_wn(), _param_wn(), device)
    w = np.random.default_rng(3).standard_normal((3, 4))
    t.weight = torch.tensor(w)  # right_inverse: g = ||w||, v = w
    m.weight = mg.tensor(w, device=device)
    _same_state(m, t)
    _close(m.weight, t.weight, "weight after assignment")
    t2 = _param_wn()(torch.nn.Linear(4, 3).double())
    _into_torch(m, t2)
    _same_state(m, t2)
    with pytest.raises(ValueError, match="sequence of tensors"):
        P.remove_parametrizations(m, "weight", leave_parametrized=False)
    P.remove_parametrizations(m, "weight")
    tP.remove_parametrizations(t, "weight")
    assert type(m) is nn.Linear and not hasattr(m, "parametrizations")
    assert type(m.weight) is nn.Parameter and m.weight.requires_grad
    assert list(m.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    _same_state(m, t)
    x = np.random.default_rng(4).standard_normal(shape)
    _close(m(mg.tensor(x, device=device)), t(torch.tensor(x)), "after remove")


def test_legacy_weight_norm_checkpoint_into_parametrized_is_refused_clearly():
    """torch converts weight_g/weight_v into original0/1 with a load_state_dict pre-hook; minigrad's Module
    has no such hooks (a documented gap): the keys are named in the error, to be renamed by hand."""
    legacy = _legacy_wn(0)(nn.Linear(4, 3))
    new = _param_wn()(nn.Linear(4, 3))
    with pytest.raises(RuntimeError, match=r"missing keys: parametrizations.weight.original0.*unexpected keys: "
                                           r"weight_g, weight_v"):
        new.load_state_dict(legacy.state_dict())
    renamed = {k.replace("weight_g", "parametrizations.weight.original0")
                .replace("weight_v", "parametrizations.weight.original1"): v for k, v in legacy.state_dict().items()}
    new.load_state_dict(renamed)
    x = mg.randn(2, 4)
    _close(new(x), torch.tensor(_np(legacy(x))), "renamed checkpoint")


def test_weight_norm_float32_kept(device):
    for wrap in (_param_wn(), _legacy_wn(0)):
        m = wrap(nn.Linear(4, 3).to(device))
        y = m(mg.randn(2, 4, device=device))
        y.sum().backward()
        assert m.weight.dtype == y.dtype == mg.float32
        for name, p in m.named_parameters():
            assert p.grad is not None and p.grad.dtype == mg.float32 and p.grad.shape == p.shape, name


# ---------------------------------------------------------------- spectral_norm
def _legacy_sn(n_iter=1):
    def wrap(mod):
        lib = torch.nn.utils if isinstance(mod, torch.nn.Module) else nn.utils
        return lib.spectral_norm(mod, n_power_iterations=n_iter)
    return wrap


def _param_sn(n_iter=1, name="weight"):
    def wrap(mod):
        lib = torch.nn.utils if isinstance(mod, torch.nn.Module) else nn.utils
        return lib.parametrizations.spectral_norm(mod, name=name, n_power_iterations=n_iter)
    return wrap


@pytest.mark.parametrize("layer", ["linear", "conv2d", "convT2d"])
@pytest.mark.parametrize("n_iter", [1, 3])
@pytest.mark.parametrize("kind", ["legacy", "parametrized"])
def test_spectral_norm_trains_like_torch(device, layer, n_iter, kind):
    wrap = (_legacy_sn if kind == "legacy" else _param_sn)(n_iter)
    t, m, shape = _pair(layer, wrap, wrap, device)  # torch's u, v loaded: the same start
    if kind == "legacy":
        assert list(m.state_dict()) == list(t.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    else:
        assert list(m.state_dict()) == list(t.state_dict()) == [
            "bias", "parametrizations.weight.original", "parametrizations.weight.0._u", "parametrizations.weight.0._v"]
    _train_compare(t, m, shape, device)  # training mode: u, v advance each forward, compared in the state
    # eval mode: no power iteration, the buffers stay
    t.eval()
    m.eval()
    before = {k: _np(v).copy() for k, v in m.state_dict().items()}
    x = np.random.default_rng(5).standard_normal(shape)
    for _ in range(2):
        _close(m(mg.tensor(x, device=device)), t(torch.tensor(x)), "eval output")
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(_np(v), before[k], err_msg=k)


@pytest.mark.parametrize("kind", ["legacy", "parametrized"])
def test_spectral_norm_gan_discriminator_step(device, kind):
    """torch's GAN pattern: loss = D(real) - D(fake) backpropagates through two forwards (u, v cloned)."""
    wrap = _legacy_sn() if kind == "legacy" else _param_sn()
    torch.manual_seed(0)
    dt = torch.nn.Sequential(wrap(torch.nn.Linear(4, 5)), torch.nn.LeakyReLU(0.2), wrap(torch.nn.Linear(5, 1)))
    dt = dt.double()
    dm = nn.Sequential(wrap(nn.Linear(4, 5)), nn.LeakyReLU(0.2), wrap(nn.Linear(5, 1))).double().to(device)
    dm.load_state_dict(dt.state_dict())
    ot, om = torch.optim.Adam(dt.parameters(), lr=1e-2, betas=(0.5, 0.999)), \
        optim.Adam(dm.parameters(), lr=1e-2, betas=(0.5, 0.999))
    rng = np.random.default_rng(6)
    for _ in range(3):
        real, fake = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) + 1
        ot.zero_grad()
        om.zero_grad()
        lt = torch.nn.functional.softplus(-dt(torch.tensor(real))).mean() + \
            torch.nn.functional.softplus(dt(torch.tensor(fake))).mean()
        lm = nn.functional.softplus(-dm(mg.tensor(real, device=device))).mean() + \
            nn.functional.softplus(dm(mg.tensor(fake, device=device))).mean()
        _close(lm, lt, "loss")
        lt.backward()
        lm.backward()
        for (k, pt), (_, pm) in zip(dt.named_parameters(), dm.named_parameters()):
            _close(pm.grad, pt.grad, k)
        ot.step()
        om.step()
        _same_state(dm, dt)


def test_spectral_norm_of_a_vector_and_dims(device):
    t, m, shape = _pair("linear", _param_sn(name="bias"), _param_sn(name="bias"), device)
    assert list(m.state_dict()) == list(t.state_dict()) == ["weight", "parametrizations.bias.original"]
    _close(m.bias, t.bias, "bias / ||bias||")
    _train_compare(t, m, shape, device, steps=2)
    for dim in (1, -1):  # an explicit dim: rows of the matrix taken along it
        torch.manual_seed(0)
        tt = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Conv1d(3, 4, 2).double(), dim=dim)
        mm = nn.utils.parametrizations.spectral_norm(nn.Conv1d(3, 4, 2).double().to(device), dim=dim)
        assert mm.parametrizations.weight[0]._u.shape == tuple(tt.parametrizations.weight[0]._u.shape)
        mm.load_state_dict(tt.state_dict())
        _close(mm.weight, tt.weight, f"dim={dim}")


def test_spectral_norm_estimates_sigma(device):
    """Our own start (not torch's u, v): after the 15 start-up power steps sigma(W_SN) is 1."""
    m = nn.utils.parametrizations.spectral_norm(nn.Linear(6, 5).double().to(device))
    m.eval()
    s = np.linalg.svd(_np(m.weight), compute_uv=False)
    assert abs(s[0] - 1) < 1e-6
    legacy = nn.utils.spectral_norm(nn.Linear(6, 5).double().to(device), n_power_iterations=30)
    legacy(mg.zeros(1, 6, dtype=mg.float64, device=device))
    assert abs(np.linalg.svd(_np(legacy.weight), compute_uv=False)[0] - 1) < 1e-6


def test_spectral_norm_remove_like_torch(device):
    for kind in ("legacy", "parametrized"):
        wrap = _legacy_sn() if kind == "legacy" else _param_sn()
        t, m, shape = _pair("conv2d", wrap, wrap, device)
        _train_compare(t, m, shape, device, steps=1)
        if kind == "legacy":
            nn.utils.remove_spectral_norm(m)
            torch.nn.utils.remove_spectral_norm(t)
        else:  # (in training mode removal does one more power step, in both)
            P.remove_parametrizations(m, "weight")
            tP.remove_parametrizations(t, "weight")
        assert type(m) is nn.Conv2d and type(m.weight) is nn.Parameter
        assert list(m.state_dict()) == list(t.state_dict())
        _same_state(m, t)
    # leave_parametrized=False: the original weight comes back (the same Parameter object)
    m = nn.Linear(3, 2)
    w = m.weight
    ref = _np(w).copy()
    nn.utils.parametrizations.spectral_norm(m)
    P.remove_parametrizations(m, "weight", leave_parametrized=False)
    assert m.weight is w
    np.testing.assert_array_equal(_np(m.weight), ref)


def test_spectral_norm_errors():
    with pytest.raises(ValueError, match="n_power_iterations"):
        nn.utils.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="n_power_iterations"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 2), dim=2)
    with pytest.raises(ValueError, match="no parameter or buffer with name 'kernel'"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 2), name="kernel")
    m = nn.utils.spectral_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="two spectral_norm hooks"):
        nn.utils.spectral_norm(m)
    with pytest.raises(ValueError, match="spectral_norm of 'bias' not found"):
        nn.utils.remove_spectral_norm(m, "bias")


@given(data=st.data())
def test_spectral_norm_gradcheck(device, data):
    """d(W / (u . W v))/dW with u, v constants (eval mode), over generated weight shapes."""
    shape = data.draw(mst.shapes(min_dims=2, max_dims=3, max_side=4))
    w = data.draw(mst.tensors(shape=shape, device=device, requires_grad=True, min_value=0.5, max_value=2.0))
    from minigrad.nn.utils.parametrizations import _SpectralNorm
    sn = _SpectralNorm(w, dim=data.draw(st.integers(0, len(shape) - 1))).eval()
    gradcheck(sn, w)


def test_spectral_norm_float32_kept(device):
    for wrap in (_param_sn(), _legacy_sn()):
        m = wrap(nn.Linear(4, 3).to(device))
        y = m(mg.randn(2, 4, device=device))
        y.sum().backward()
        assert y.dtype == m.weight.dtype == mg.float32
        assert all(b.dtype == mg.float32 for b in m.buffers())
        for name, p in m.named_parameters():
            assert p.grad is not None and p.grad.dtype == mg.float32, name


# ---------------------------------------------------------------- parametrize (torch's tutorial)
class _Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)


class _TSymmetric(torch.nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)


class _Scale(nn.Module):
    def forward(self, X):
        return 2 * X

    def right_inverse(self, A):
        return A / 2


class _TScale(torch.nn.Module):
    def forward(self, X):
        return 2 * X

    def right_inverse(self, A):
        return A / 2


def test_parametrize_tutorial_symmetric_chained(device):
    torch.manual_seed(0)
    t = torch.nn.Linear(3, 3).double()
    m = nn.Linear(3, 3).double().to(device)
    m.load_state_dict(t.state_dict())
    for lib, mod, a, b in ((tP, t, _TSymmetric(), _TScale()), (P, m, _Symmetric(), _Scale())):
        lib.register_parametrization(mod, "weight", a)
        lib.register_parametrization(mod, "weight", b)  # chained: Scale(Symmetric(original))
    assert list(m.state_dict()) == list(t.state_dict()) == ["bias", "parametrizations.weight.original"]
    w = _np(m.weight)
    np.testing.assert_allclose(w, w.T)
    _close(m.weight, t.weight, "Scale(Symmetric(W))")
    _train_compare(t, m, (2, 3), device)
    # assignment needs every parametrization's right_inverse: Symmetric has none (torch raises too)
    with pytest.raises(RuntimeError, match="_TSymmetric does not implement right_inverse"):
        t.weight = torch.eye(3, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="_Symmetric does not implement right_inverse"):
        m.weight = mg.eye(3, dtype=mg.float64, device=device)
    # a chain that has them: right_inverse runs last to first, into the original (kept as the same object)
    t2 = tP.register_parametrization(tP.register_parametrization(torch.nn.Linear(3, 3).double(), "weight", _TScale()),
                                     "weight", _TScale())
    orig = P.register_parametrization(nn.Linear(3, 3).double().to(device), "weight", _Scale())
    m2 = P.register_parametrization(orig, "weight", _Scale())
    original = m2.parametrizations.weight.original
    x = np.random.default_rng(7).standard_normal((3, 3))
    t2.weight = torch.tensor(x)
    m2.weight = mg.tensor(x, device=device)
    assert m2.parametrizations.weight.original is original
    _close(m2.parametrizations.weight.original, t2.parametrizations.weight.original, "x / 4")
    _close(m2.weight, t2.weight, "x back")


def test_parametrize_buffer_cached_and_misuse(device):
    m = nn.BatchNorm1d(3).to(device)
    P.register_parametrization(m, "running_var", _Scale())  # a buffer: stays a buffer
    assert "parametrizations.running_var.original" in m.state_dict()
    assert not any("running_var" in n for n, _ in m.named_parameters())
    np.testing.assert_allclose(_np(m.running_var), np.ones(3))  # 2 * (1 / 2)
    # cached(): one computation per block; a fresh one each access outside
    lin = P.register_parametrization(nn.Linear(3, 3).to(device), "weight", _Symmetric())
    assert lin.weight is not lin.weight
    with P.cached():
        w = lin.weight
        assert lin.weight is w
        with P.cached():
            assert lin.weight is w
        assert lin.weight is w
    assert lin.weight is not w
    # misuse: clear errors
    with pytest.raises(KeyError, match="'weight' already exists"):
        lin.weight = nn.Parameter(mg.ones(3, 3))
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element"):
        P.register_parametrization(nn.Linear(3, 3), "kernel", _Symmetric())
    with pytest.raises(TypeError, match="must be an nn.Module"):
        P.register_parametrization(nn.Linear(3, 3), "weight", lambda x: x)

    class Cut(nn.Module):
        def forward(self, X):
            return X[:2]

    with pytest.raises(ValueError, match="may not change the shape"):
        P.register_parametrization(nn.Linear(3, 3), "weight", Cut())
    cut = P.register_parametrization(nn.Linear(3, 3), "weight", Cut(), unsafe=True)
    assert cut.weight.shape == (2, 3)
    with pytest.raises(ValueError, match="does not have a parametrization on bias"):
        P.remove_parametrizations(lin, "bias")
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(lin)


def test_parametrized_copy_move_and_several_tensors(device):
    m = nn.utils.parametrizations.weight_norm(nn.Linear(4, 3))
    P.register_parametrization(m, "bias", _Scale())
    assert P.is_parametrized(m) and P.is_parametrized(m, "bias") and not P.is_parametrized(nn.Linear(2, 2))
    c = copy.deepcopy(m)
    assert type(c) is not type(m) and type(c).__name__ == "ParametrizedLinear"
    _close(c.weight, m.weight, "deepcopy")
    P.remove_parametrizations(c, "weight")  # the copy has its own class: the original keeps its property
    P.remove_parametrizations(c, "bias")
    assert type(c) is nn.Linear and P.is_parametrized(m, "weight")
    _close(c.weight, m.weight, "removed copy")
    P.remove_parametrizations(m, "bias")  # one of two: still parametrized
    assert type(m).__name__ == "ParametrizedLinear" and type(m.bias) is nn.Parameter
    m.double().to(device)
    assert m.weight.dtype == mg.float64 and m.weight.device == mg.backend.parse_device(device)
    # transfer: the same parametrization and originals on another module
    other = P.transfer_parametrizations_and_params(m, nn.Linear(4, 3).double().to(device))
    assert other.parametrizations.weight.original0 is m.parametrizations.weight.original0
    _close(other.weight, m.weight, "transferred")


# ---------------------------------------------------------------- swa_utils
def _bn_mlp(lib):
    return lib.Sequential(lib.Linear(3, 5), lib.BatchNorm1d(5), lib.ReLU(), lib.Linear(5, 2))


AVG = {
    "swa": ({}, {}),
    "ema_multi": ({"multi_avg_fn": torch.optim.swa_utils.get_ema_multi_avg_fn(0.9)},
                  {"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(0.9)}),
    "swa_multi": ({"multi_avg_fn": torch.optim.swa_utils.get_swa_multi_avg_fn()},
                  {"multi_avg_fn": swa_utils.get_swa_multi_avg_fn()}),
    "ema_avg": ({"avg_fn": torch.optim.swa_utils.get_ema_avg_fn(0.8)}, {"avg_fn": swa_utils.get_ema_avg_fn(0.8)}),
    "swa_avg": ({"avg_fn": torch.optim.swa_utils.get_swa_avg_fn()}, {"avg_fn": swa_utils.get_swa_avg_fn()}),
}


@pytest.mark.parametrize("avg", list(AVG))
@pytest.mark.parametrize("use_buffers", [False, True])
def test_averaged_model_like_torch(device, avg, use_buffers):
    if avg == "swa_multi" and use_buffers:  # torch refuses integer buffers there (addcdiv); so do we
        m = _bn_mlp(nn)
        a = swa_utils.AveragedModel(m, use_buffers=True, **AVG[avg][1])
        a.update_parameters(m)
        with pytest.raises(RuntimeError, match="cannot average integer tensors"):
            a.update_parameters(m)
        return
    torch.manual_seed(0)
    t = _bn_mlp(torch.nn).double()
    m = _bn_mlp(nn).double().to(device)
    m.load_state_dict(t.state_dict())
    torch_kw = AVG[avg][0]
    if avg == "swa" and device != "cpu":
        # On a GPU the default is torch's fused path: lerp by a float32 weight 1 / (n + 1) for float tensors (ours
        # too, on cuda; integer buffers keep the per-tensor formula, which torch's GPU path refuses). The
        # reference runs on the CPU, so it gets that rule as an avg_fn.
        def gpu_rule(p_avg, p_model, n):
            if not p_avg.is_floating_point():
                return p_avg + (p_model - p_avg) / (n + 1)
            return torch.lerp(p_avg, p_model, (1 / (n + 1)).item())

        torch_kw = {"avg_fn": gpu_rule}
    at = torch.optim.swa_utils.AveragedModel(t, use_buffers=use_buffers, **torch_kw)
    am = swa_utils.AveragedModel(m, use_buffers=use_buffers, **AVG[avg][1])
    assert am.n_averaged.dtype == mg.int64 and list(am.state_dict()) == list(at.state_dict())
    assert list(am.state_dict())[:2] == ["n_averaged", "module.0.weight"]  # (own buffer first, as torch)
    ot, om = torch.optim.SGD(t.parameters(), lr=0.1), optim.SGD(m.parameters(), lr=0.1)
    rng = np.random.default_rng(8)
    for _ in range(4):
        x = rng.standard_normal((6, 3))
        ot.zero_grad()
        om.zero_grad()
        (t(torch.tensor(x)) ** 2).sum().backward()
        (m(mg.tensor(x, device=device)) ** 2).sum().backward()
        ot.step()
        om.step()
        at.update_parameters(t)
        am.update_parameters(m)
        _same_state(am, at)
    x = rng.standard_normal((4, 3))
    at.eval()
    am.eval()
    _close(am(mg.tensor(x, device=device)), at(torch.tensor(x)), "averaged model output")


def test_averaged_model_float32_device_and_errors(device):
    m = nn.Linear(3, 2)
    a = swa_utils.AveragedModel(m, device=device, multi_avg_fn=swa_utils.get_swa_multi_avg_fn())
    assert a.module.weight.device == mg.backend.parse_device(device) and a.n_averaged.device == mg.backend.parse_device(device)
    assert a.module is not m and a.module.weight is not m.weight  # a deep copy
    w0 = _np(m.weight).copy()
    for k in range(3):
        with mg.no_grad():
            m.weight.add_(1.0)
        a.update_parameters(m)
    # the mean of w0+1, w0+2, w0+3 (float32 kept)
    assert a.module.weight.dtype == mg.float32 and int(a.n_averaged.item()) == 3
    np.testing.assert_allclose(_np(a.module.weight), w0 + 2, rtol=1e-6)
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        swa_utils.AveragedModel(m, avg_fn=swa_utils.get_swa_avg_fn(), multi_avg_fn=swa_utils.get_swa_multi_avg_fn())
    with pytest.raises(ValueError, match="Invalid decay value 1.5"):
        swa_utils.get_ema_multi_avg_fn(1.5)
    with pytest.raises(ValueError, match="Invalid decay value -0.1"):
        swa_utils.get_ema_avg_fn(-0.1)
    with pytest.raises(TypeError, match="must be an nn.Module"):
        swa_utils.AveragedModel([m])


def test_averaged_model_of_a_parametrized_model(device):
    torch.manual_seed(0)
    t = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(3, 2).double())
    m = nn.utils.parametrizations.weight_norm(nn.Linear(3, 2).double().to(device))
    m.load_state_dict(t.state_dict())
    at, am = torch.optim.swa_utils.AveragedModel(t), swa_utils.AveragedModel(m)
    for k in range(3):
        with torch.no_grad():
            t.parametrizations.weight.original1.mul_(1.5)
        with mg.no_grad():
            m.parametrizations.weight.original1.mul_(1.5)
        at.update_parameters(t)
        am.update_parameters(m)
    assert list(am.state_dict()) == list(at.state_dict())
    _same_state(am, at)
    _close(am.module.weight, at.module.weight, "averaged weight")


def test_update_bn_like_torch(device):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.InstanceNorm1d(
        4, track_running_stats=True)).double()
    mm = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.3), nn.InstanceNorm1d(
        4, track_running_stats=True)).double().to(device)
    tm[1].momentum = 0.3
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 4, 2))
    tm[2](torch.tensor(x))  # give the InstanceNorm some running stats: update_bn must not touch them
    mm[2](mg.tensor(x, device=device))
    mm.load_state_dict(tm.state_dict())
    tm.eval()
    mm.eval()
    batches = [rng.standard_normal((4, 3)) for _ in range(3)]
    torch.optim.swa_utils.update_bn([(torch.tensor(b), 0) for b in batches], tm[:2])
    swa_utils.update_bn([(mg.tensor(b, device=device), 0) for b in batches], mm[:2])
    _same_state(mm, tm)
    assert not mm.training and mm[1].momentum == 0.3  # mode and momentum restored
    # the statistics are the plain average over the batches
    h = [_np(mm[0](mg.tensor(b, device=device))) for b in batches]
    np.testing.assert_allclose(_np(mm[1].running_mean), np.mean([a.mean(0) for a in h], 0), **TOL)
    # loader of plain tensors, with device=
    full = _bn_mlp(nn).double().to(device)
    swa_utils.update_bn([mg.tensor(b) for b in batches], full, device=device)  # inputs moved to the model
    assert int(full[1].num_batches_tracked.item()) == 3
    swa_utils.update_bn([mg.tensor(b) for b in batches], nn.Linear(3, 2))  # no BatchNorm: nothing to do


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 4])
def test_swalr_values_like_torch(strategy, anneal_epochs):
    tp = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    mp = [nn.Parameter(mg.zeros(1)), nn.Parameter(mg.zeros(1))]
    ot = torch.optim.SGD([{"params": tp[:1]}, {"params": tp[1:], "lr": 0.3}], lr=0.5)
    om = optim.SGD([{"params": mp[:1]}, {"params": mp[1:], "lr": 0.3}], lr=0.5)
    st_ = torch.optim.swa_utils.SWALR(ot, swa_lr=[0.05, 0.01], anneal_epochs=anneal_epochs,
                                      anneal_strategy=strategy)
    sm = swa_utils.SWALR(om, swa_lr=[0.05, 0.01], anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    for epoch in range(8):
        assert sm.get_last_lr() == st_.get_last_lr(), epoch  # exactly: the same float formulas
        assert [g["lr"] for g in om.param_groups] == [g["lr"] for g in ot.param_groups]
        ot.step()
        om.step()
        st_.step()
        sm.step()
        if epoch == 3:  # a checkpoint mid-anneal resumes on the same curve
            state = sm.state_dict()
            assert "anneal_func" not in state and "optimizer" not in state
            sm = swa_utils.SWALR(om, swa_lr=[0.05, 0.01], anneal_epochs=7,
                                 anneal_strategy="linear" if strategy == "cos" else "cos")
            sm.load_state_dict(state)
            for g, lr in zip(om.param_groups, state["_last_lr"]):  # (the optimizer's state_dict would do this)
                g["lr"] = lr


def test_swalr_errors():
    opt = optim.SGD([nn.Parameter(mg.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear'"):
        swa_utils.SWALR(opt, swa_lr=0.05, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0"):
        swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=-1)
    with pytest.raises(ValueError, match="swa_lr must have the same length"):
        swa_utils.SWALR(opt, swa_lr=[0.05, 0.1])


def test_swa_tutorial_program(device):
    """torch's SWA recipe: CosineAnnealingLR, then from swa_start AveragedModel + SWALR; update_bn at the end;
    plus an EMA model updated every step (use_buffers=True)."""
    torch.manual_seed(0)
    t = _bn_mlp(torch.nn).double()
    m = _bn_mlp(nn).double().to(device)
    m.load_state_dict(t.state_dict())
    rng = np.random.default_rng(10)
    data = [(rng.standard_normal((6, 3)), rng.standard_normal((6, 2))) for _ in range(3)]
    runs = {}
    for lib, model, opt_mod, su, wrap in ((torch, t, torch.optim, torch.optim.swa_utils, torch.tensor),
                                          (mg, m, optim, swa_utils, lambda a: mg.tensor(a, device=device))):
        opt = opt_mod.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = opt_mod.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
        swa_model = su.AveragedModel(model)
        ema_model = su.AveragedModel(model, multi_avg_fn=su.get_ema_multi_avg_fn(0.95), use_buffers=True)
        swa_sched = su.SWALR(opt, swa_lr=0.02, anneal_epochs=2)
        lrs, losses = [], []
        for epoch in range(6):
            for x, y in data:
                opt.zero_grad()
                loss = ((model(wrap(x)) - wrap(y)) ** 2).mean()
                loss.backward()
                opt.step()
                ema_model.update_parameters(model)
                losses.append(loss.item())
            if epoch >= 3:
                swa_model.update_parameters(model)
                swa_sched.step()
            else:
                sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        su.update_bn([wrap(x) for x, _ in data], swa_model)
        swa_model.eval()
        runs[lib] = (swa_model, ema_model, lrs, losses, swa_model(wrap(data[0][0])))
    (sw_t, ema_t, lrs_t, loss_t, out_t), (sw_m, ema_m, lrs_m, loss_m, out_m) = runs[torch], runs[mg]
    np.testing.assert_allclose(loss_m, loss_t, **TOL)
    np.testing.assert_allclose(lrs_m, lrs_t, rtol=1e-12)
    _same_state(sw_m, sw_t)
    _same_state(ema_m, ema_t)
    _close(out_m, out_t, "SWA model output after update_bn")


# ---------------------------------------------------------------- orthogonal
ORTH = [(shape, omap, triv) for shape in [(4, 4), (5, 3), (3, 5)] for omap in ["matrix_exp", "cayley", "householder"]
        for triv in [True, False] if triv or omap != "householder"]


@pytest.mark.parametrize("shape,omap,triv", ORTH)
def test_orthogonal_trains_like_torch(device, shape, omap, triv):
    torch.manual_seed(0)
    t = torch.nn.Linear(shape[1], shape[0]).double()
    m = nn.Linear(shape[1], shape[0]).double().to(device)
    m.load_state_dict(t.state_dict())
    torch.nn.utils.parametrizations.orthogonal(t, orthogonal_map=omap, use_trivialization=triv)
    nn.utils.parametrizations.orthogonal(m, orthogonal_map=omap, use_trivialization=triv)
    assert list(m.state_dict()) == list(t.state_dict())
    if shape[0] == shape[1] or not triv:  # (a wide/tall base is completed with random columns: load torch's)
        _same_state(m, t)  # the initial QR orthogonalization (or the untouched original) is torch's
    m.load_state_dict(t.state_dict())
    _train_compare(t, m, (2, shape[1]), device)
    W = _np(m.weight)
    gram = W.T @ W if shape[0] >= shape[1] else W @ W.T
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-12)


def test_orthogonal_assign_and_errors(device):
    m = nn.utils.parametrizations.orthogonal(nn.Linear(4, 4).double().to(device))
    q = np.linalg.qr(np.random.default_rng(11).standard_normal((4, 4)))[0]
    m.weight = mg.tensor(q, device=device)  # an orthogonal matrix is stored in base as it is
    _close(m.weight, torch.tensor(q), "assigned orthogonal weight")
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices"):
        nn.utils.parametrizations.orthogonal(nn.Linear(3, 3), name="bias")
    with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
        nn.utils.parametrizations.orthogonal(nn.Linear(3, 3), orthogonal_map="qr")
    with pytest.raises(NotImplementedError, match="geqrf"):
        nn.utils.parametrizations.orthogonal(nn.Linear(3, 2), orthogonal_map="householder", use_trivialization=False)


@given(data=st.data())
def test_orthogonal_gradcheck(device, data):
    from minigrad.nn.utils.parametrizations import _Orthogonal, _OrthMaps
    n, k = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    omap = data.draw(st.sampled_from(list(_OrthMaps)))
    x = data.draw(mst.tensors(shape=(n, k), device=device, requires_grad=True, min_value=-1.0, max_value=1.0,
                              avoid=[0.0] if omap == _OrthMaps.householder else None))
    gradcheck(_Orthogonal(x, omap, use_trivialization=False), x)
