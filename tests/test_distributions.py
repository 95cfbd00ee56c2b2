"""minigrad.distributions against torch.distributions (torch 2.13 semantics).

Parity in float64 (values and gradients through backward) over Hypothesis-drawn parameters and
batch shapes; pathwise rsample gradients by gradcheck on fixed noise; sampling statistics with
tolerances derived from the sample size; validate_args refusals with torch's messages; float32
kept; and a REINFORCE/PPO step and a VAE step written once and run with both libraries.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.testing import gradcheck

torch = pytest.importorskip("torch")
TD = torch.distributions
MD = mg.distributions

RTOL, ATOL = 1e-9, 1e-12  # float64 parity: both sides evaluate the same formulas


def _np(t):
    """A torch or minigrad tensor as a host numpy array."""
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.detach().cpu().numpy()


def _close(ours, theirs, what, rtol=RTOL, atol=ATOL):
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


# ---------------------------------------------------------------- the distributions under test
# Each spec: params(draw, batch) -> {name: float64 array}, build(lib, P) -> distribution,
# value(rng, shape, P) -> an array inside the support of shape `shape` (= (2,) + batch + event).
def _floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _arr(draw, shape, lo, hi):
    """Hypothesis-drawn values in [lo, hi]; draw=None gives fixed, distinct values in its middle half."""
    if draw is None:
        n = int(np.prod(shape))
        frac = (np.arange(n) * 0.618034) % 1.0 if n else np.zeros(0)  # spread, distinct, deterministic
        return (lo + (hi - lo) * (0.25 + 0.5 * frac)).reshape(shape)
    return draw(hnp.arrays(np.float64, shape, elements=_floats(lo, hi)))


def _pd(draw, batch, n):
    """A well-conditioned covariance: A A^T + n I / 2 from a drawn A."""
    a = _arr(draw, batch + (n, n), -1.0, 1.0)
    return a @ np.swapaxes(a, -1, -2) + 0.5 * n * np.eye(n)


def _one_hot(rng, shape, k):
    return np.eye(k)[rng.integers(0, k, shape)]


def _simplex(rng, shape):
    g = rng.gamma(1.0, size=shape)
    return g / g.sum(-1, keepdims=True)


SPECS = {
    "Normal": dict(
        params=lambda d, b: {"loc": _arr(d, b, -2, 2), "scale": _arr(d, b, 0.2, 2)},
        build=lambda L, P: L.distributions.Normal(P["loc"], P["scale"]),
        value=lambda rng, s, P: rng.normal(size=s) * 2),
    "LogNormal": dict(
        params=lambda d, b: {"loc": _arr(d, b, -1, 1), "scale": _arr(d, b, 0.2, 1.5)},
        build=lambda L, P: L.distributions.LogNormal(P["loc"], P["scale"]),
        value=lambda rng, s, P: rng.uniform(0.1, 3, size=s)),
    "Laplace": dict(
        params=lambda d, b: {"loc": _arr(d, b, -2, 2), "scale": _arr(d, b, 0.2, 2)},
        build=lambda L, P: L.distributions.Laplace(P["loc"], P["scale"]),
        value=lambda rng, s, P: rng.normal(size=s) * 2 + 0.1),
    "Exponential": dict(
        params=lambda d, b: {"rate": _arr(d, b, 0.2, 3)},
        build=lambda L, P: L.distributions.Exponential(P["rate"]),
        value=lambda rng, s, P: rng.uniform(0, 4, size=s)),
    "Uniform": dict(
        params=lambda d, b: (lambda lo, w: {"low": lo, "high": lo + w})(_arr(d, b, -2, 2), _arr(d, b, 0.5, 3)),
        build=lambda L, P: L.distributions.Uniform(P["low"], P["high"]),
        value=lambda rng, s, P: P["low"] + rng.uniform(0, 0.999, size=s) * (P["high"] - P["low"])),
    "Gamma": dict(
        params=lambda d, b: {"concentration": _arr(d, b, 0.3, 4), "rate": _arr(d, b, 0.3, 3)},
        build=lambda L, P: L.distributions.Gamma(P["concentration"], P["rate"]),
        value=lambda rng, s, P: rng.uniform(0.01, 4, size=s)),
    "Beta": dict(
        params=lambda d, b: {"concentration1": _arr(d, b, 0.3, 4), "concentration0": _arr(d, b, 0.3, 4)},
        build=lambda L, P: L.distributions.Beta(P["concentration1"], P["concentration0"]),
        value=lambda rng, s, P: rng.uniform(0.02, 0.98, size=s)),
    "Dirichlet": dict(
        params=lambda d, b: {"concentration": _arr(d, b + (3,), 0.3, 4)},
        build=lambda L, P: L.distributions.Dirichlet(P["concentration"]),
        value=lambda rng, s, P: _simplex(rng, s + (3,)), event=(3,)),
    "Bernoulli(probs)": dict(
        params=lambda d, b: {"probs": _arr(d, b, 0.05, 0.95)},
        build=lambda L, P: L.distributions.Bernoulli(probs=P["probs"]),
        value=lambda rng, s, P: rng.integers(0, 2, size=s).astype(np.float64)),
    "Bernoulli(logits)": dict(
        params=lambda d, b: {"logits": _arr(d, b, -4, 4)},
        build=lambda L, P: L.distributions.Bernoulli(logits=P["logits"]),
        value=lambda rng, s, P: rng.integers(0, 2, size=s).astype(np.float64)),
    "Categorical(probs)": dict(
        params=lambda d, b: {"probs": _arr(d, b + (4,), 0.05, 1)},
        build=lambda L, P: L.distributions.Categorical(probs=P["probs"]),
        value=lambda rng, s, P: rng.integers(0, 4, size=s)),
    "Categorical(logits)": dict(
        params=lambda d, b: {"logits": _arr(d, b + (4,), -3, 3)},
        build=lambda L, P: L.distributions.Categorical(logits=P["logits"]),
        value=lambda rng, s, P: rng.integers(0, 4, size=s)),
    "OneHotCategorical": dict(
        params=lambda d, b: {"logits": _arr(d, b + (4,), -3, 3)},
        build=lambda L, P: L.distributions.OneHotCategorical(logits=P["logits"]),
        value=lambda rng, s, P: _one_hot(rng, s, 4), event=(4,)),
    "MVN(covariance_matrix)": dict(
        params=lambda d, b: {"loc": _arr(d, b + (3,), -2, 2), "covariance_matrix": _pd(d, b, 3)},
        build=lambda L, P: L.distributions.MultivariateNormal(P["loc"], covariance_matrix=P["covariance_matrix"]),
        value=lambda rng, s, P: rng.normal(size=s + (3,)), event=(3,), no_grad=("covariance_matrix",)),
    "MVN(precision_matrix)": dict(
        params=lambda d, b: {"loc": _arr(d, b + (3,), -2, 2), "precision_matrix": _pd(d, b, 3)},
        build=lambda L, P: L.distributions.MultivariateNormal(P["loc"], precision_matrix=P["precision_matrix"]),
        value=lambda rng, s, P: rng.normal(size=s + (3,)), event=(3,), no_grad=("precision_matrix",)),
    "MVN(scale_tril)": dict(
        params=lambda d, b: {"loc": _arr(d, b + (3,), -2, 2), "scale_tril": np.linalg.cholesky(_pd(d, b, 3))},
        build=lambda L, P: L.distributions.MultivariateNormal(P["loc"], scale_tril=P["scale_tril"]),
        value=lambda rng, s, P: rng.normal(size=s + (3,)), event=(3,)),
    "Independent(Normal)": dict(
        params=lambda d, b: {"loc": _arr(d, b + (3,), -2, 2), "scale": _arr(d, b + (3,), 0.2, 2)},
        build=lambda L, P: L.distributions.Independent(L.distributions.Normal(P["loc"], P["scale"]), 1),
        value=lambda rng, s, P: rng.normal(size=s + (3,)), event=(3,)),
}
# A covariance / precision matrix is symmetrised by nobody: torch's gradient w.r.t. it (through
# cholesky) is that of the lower triangle only, and so is ours; both are compared below.


def _params(spec, arrays, device, lib):
    """The parameter arrays as leaf tensors (requires_grad) of `lib` on device."""
    if lib is torch:
        return {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    return {k: mg.tensor(v, device=device, requires_grad=True) for k, v in arrays.items()}


def _value(lib, arr, device):
    return torch.tensor(arr) if lib is torch else mg.tensor(arr, device=device)


batch_shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)


def _quantities(dist, value):
    out = {"log_prob": dist.log_prob(value), "entropy": dist.entropy(), "mean": dist.mean,
           "variance": dist.variance, "stddev": dist.stddev}
    try:
        out["mode"] = dist.mode
    except NotImplementedError:
        pass
    return out


@pytest.mark.parametrize("name", list(SPECS))
@given(data=st.data(), batch=batch_shapes, seed=st.integers(0, 2 ** 16))
def test_parity_log_prob_entropy_moments_and_grads(device, name, data, batch, seed):
    spec = SPECS[name]
    arrays = spec["params"](data.draw, batch)
    rng = np.random.default_rng(seed)
    v = spec["value"](rng, (2,) + batch, arrays)  # an extra sample dim: log_prob broadcasts over it
    results = {}
    for lib in (torch, mg):
        P = _params(spec, arrays, device, lib)
        dist = spec["build"](lib, P)
        results[lib] = (P, dist, _quantities(dist, _value(lib, v, device)))
    (tP, tdist, tq), (mP, mdist, mq) = results[torch], results[mg]
    assert tuple(mdist.batch_shape) == tuple(tdist.batch_shape)
    assert tuple(mdist.event_shape) == tuple(tdist.event_shape)
    assert set(mq) == set(tq), f"{name}: quantities {set(mq)} vs torch {set(tq)}"
    for k in tq:
        _close(mq[k], tq[k], f"{name}.{k}")
    # gradients of a random weighting of every differentiable quantity (mode is piecewise constant)
    wrng = np.random.default_rng(seed + 1)
    t_loss, m_loss = 0, 0
    for k in ("log_prob", "entropy", "mean", "variance", "stddev"):
        t = tq[k]
        if torch.isnan(t).any() or not t.requires_grad:
            continue  # Categorical's NaN mean/variance carry no gradient
        w = wrng.normal(size=tuple(t.shape))
        t_loss = t_loss + (t * torch.tensor(w)).sum()
        m_loss = m_loss + (mq[k] * mg.tensor(w, device=device)).sum()
    _close(m_loss, t_loss, f"{name} loss")
    t_loss.backward()
    m_loss.backward()
    for k in arrays:
        tg, mg_ = tP[k].grad, mP[k].grad
        assert (mg_ is None) == (tg is None), f"{name}: grad of {k} present {mg_ is not None} vs torch {tg is not None}"
        if tg is not None:
            assert mg_.dtype == mg.float64
            _close(mg_, tg, f"{name} d/d{k}", rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", [n for n in SPECS if n not in ("Gamma", "Beta", "Dirichlet") and
                                  "Bernoulli" not in n and "Categorical" not in n])
def test_rsample_pathwise_gradients_on_fixed_noise(name):
    """d rsample / d params by central differences, the noise fixed by re-seeding before each draw."""
    spec = SPECS[name]
    arrays = spec["params"](None, (2,))
    keys = list(arrays)

    def fn(*ts):
        mg.manual_seed(7)  # the same noise on every call
        return spec["build"](mg, dict(zip(keys, ts))).rsample((3,))

    inputs = [mg.tensor(arrays[k], requires_grad=True) for k in keys]
    if name.startswith("MVN("):
        # a covariance / precision matrix is read through its lower triangle (cholesky), and a
        # perturbed upper entry would leave scale_tril's constraint: check through a parameterisation
        # by the lower triangle (symmetrised for a covariance / precision matrix)
        def fn_sym(loc, a):
            mg.manual_seed(7)
            m = a.tril() if "scale_tril" in name else a.tril() + a.tril(-1).mT
            return spec["build"](mg, {"loc": loc, keys[1]: m}).rsample((3,))
        assert gradcheck(fn_sym, *inputs)
    else:
        assert gradcheck(fn, *inputs)
    mg.manual_seed(7)
    d = spec["build"](mg, dict(zip(keys, inputs)))
    assert d.has_rsample and d.rsample((3,)).requires_grad and not d.sample((3,)).requires_grad


def test_rsample_is_loc_plus_scale_times_the_seeded_noise():
    loc, scale = mg.tensor([0.5, -1.0], dtype=mg.float64), mg.tensor([2.0, 0.3], dtype=mg.float64)
    mg.manual_seed(3)
    z = MD.Normal(loc, scale).rsample((4,))
    mg.manual_seed(3)
    eps = mg.randn(4, 2, dtype=mg.float64)
    _close(z, loc + scale * eps, "Normal.rsample")
    L = mg.tensor([[1.0, 0.0], [0.5, 2.0]], dtype=mg.float64)
    mg.manual_seed(3)
    z = MD.MultivariateNormal(loc, scale_tril=L).rsample((4,))
    _close(z, loc + (L @ eps.unsqueeze(-1)).squeeze(-1), "MultivariateNormal.rsample")


def test_no_rsample_where_minigrad_has_no_exact_reparameterization():
    """Gamma, Beta, Dirichlet: has_rsample=False, rsample refuses with a clear message (torch: True)."""
    for d in (MD.Gamma(2.0, 1.0), MD.Beta(2.0, 3.0), MD.Dirichlet(mg.ones(3)), MD.Bernoulli(0.3),
              MD.Categorical(mg.ones(3))):
        assert d.has_rsample is False
        with pytest.raises(NotImplementedError, match="rsample"):
            d.rsample()
    assert MD.Independent(MD.Gamma(mg.ones(2), mg.ones(2)), 1).has_rsample is False
    assert MD.Independent(MD.Normal(mg.ones(2), mg.ones(2)), 1).has_rsample is True


# ---------------------------------------------------------------- KL divergence
KL_PAIRS = ["Normal", "Laplace", "Exponential", "Gamma", "Beta", "Dirichlet", "Bernoulli(probs)",
            "Bernoulli(logits)", "Categorical(probs)", "Categorical(logits)", "OneHotCategorical",
            "MVN(covariance_matrix)", "MVN(precision_matrix)", "MVN(scale_tril)", "Independent(Normal)",
            "LogNormal"]


@pytest.mark.parametrize("name", KL_PAIRS + ["Uniform"])
@given(data=st.data(), batch=batch_shapes, q_scalar_batch=st.booleans())
def test_kl_parity_values_and_grads(device, name, data, batch, q_scalar_batch):
    spec = SPECS[name]
    pa = spec["params"](data.draw, batch)
    # q's batch shape () broadcasts against p's where the family allows a batch (all of them)
    qa = spec["params"](data.draw, () if q_scalar_batch else batch)
    if name == "Uniform":  # q's support must contain p's for a finite KL: widen q around p
        lo, hi = np.minimum(qa["low"], pa["low"]), np.maximum(qa["high"], pa["high"])
        qa = {"low": lo - 0.1, "high": hi + 0.1}
    out = {}
    for lib in (torch, mg):
        P, Q = _params(spec, pa, device, lib), _params(spec, qa, device, lib)
        kl = lib.distributions.kl_divergence(spec["build"](lib, P), spec["build"](lib, Q))
        w = np.random.default_rng(0).normal(size=tuple(kl.shape))
        loss = (kl * (torch.tensor(w) if lib is torch else mg.tensor(w, device=device))).sum()
        loss.backward()
        out[lib] = (kl, P, Q)
    (tkl, tP, tQ), (mkl, mP, mQ) = out[torch], out[mg]
    _close(mkl, tkl, f"KL({name})")
    for tag, tD, mD in (("p", tP, mP), ("q", tQ, mQ)):
        for k in tD:
            _close(mD[k].grad, tD[k].grad, f"KL({name}) d/d{tag}.{k}", rtol=1e-7, atol=1e-10)


def test_kl_infinite_and_zero_probability_cases():
    """inf where q gives 0 to what p does not; 0 log 0 = 0: torch's masked values."""
    cases = [
        (lambda L: L.distributions.Uniform(L.tensor([0.0, 0.0]), L.tensor([1.0, 1.0])),
         lambda L: L.distributions.Uniform(L.tensor([0.5, -1.0]), L.tensor([2.0, 2.0]))),
        (lambda L: L.distributions.Bernoulli(L.tensor([0.0, 1.0, 0.3, 0.3])),
         lambda L: L.distributions.Bernoulli(L.tensor([0.5, 0.5, 0.0, 1.0]))),
        (lambda L: L.distributions.Categorical(L.tensor([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]])),
         lambda L: L.distributions.Categorical(L.tensor([[0.3, 0.0, 0.7], [0.2, 0.8, 0.0]]))),
    ]
    for make_p, make_q in cases:
        t = TD.kl_divergence(make_p(torch), make_q(torch))
        m = MD.kl_divergence(make_p(mg), make_q(mg))
        assert np.isinf(_np(t)).any()
        np.testing.assert_allclose(_np(m), _np(t), rtol=1e-6)


def test_kl_dispatch_register_and_unregistered_pairs():
    p, q = MD.Normal(0.0, 1.0), MD.Categorical(mg.ones(3))
    with pytest.raises(NotImplementedError) as ours:
        MD.kl_divergence(p, q)
    with pytest.raises(NotImplementedError) as theirs:
        TD.kl_divergence(TD.Normal(0.0, 1.0), TD.Categorical(torch.ones(3)))
    assert str(ours.value) == str(theirs.value)

    class MyNormal(MD.Normal):  # a subclass dispatches to its base's KL
        pass

    _close(MD.kl_divergence(MyNormal(0.0, 1.0), MD.Normal(1.0, 2.0)),
           TD.kl_divergence(TD.Normal(0.0, 1.0), TD.Normal(1.0, 2.0)), "subclass KL")

    @MD.register_kl(MyNormal, MD.Normal)
    def _kl_mine(p, q):
        return mg.tensor(42.0)

    assert MD.kl_divergence(MyNormal(0.0, 1.0), MD.Normal(1.0, 2.0)).item() == 42.0  # the more specific one
    with pytest.raises(TypeError, match="Distribution subclass"):
        MD.register_kl(int, MD.Normal)
    with pytest.raises(NotImplementedError):  # differing reinterpreted dims, as torch
        MD.kl_divergence(MD.Independent(MD.Normal(mg.zeros(2, 2), mg.ones(2, 2)), 1),
                         MD.Independent(MD.Normal(mg.zeros(2, 2), mg.ones(2, 2)), 2))


# ---------------------------------------------------------------- sampling
N_SAMPLES = 20000
Z = 5.0  # a fixed seed makes each check deterministic; 5 standard errors leaves margin for any seed


def _check_moments(x, mean, var, what):
    """Sample mean within Z standard errors (sqrt(var / N)) of the mean; sample variance within Z of
    its own standard error, estimated from the sample's fourth central moment (sd of (x - m)^2 / sqrt(N))."""
    x = _np(x).reshape(N_SAMPLES, -1)
    mean, var = _np(mean).reshape(-1), _np(var).reshape(-1)
    se_mean = np.sqrt(var / N_SAMPLES)
    assert (np.abs(x.mean(0) - mean) < Z * se_mean).all(), f"{what}: mean {x.mean(0)} vs {mean} (se {se_mean})"
    dev2 = (x - x.mean(0)) ** 2
    se_var = dev2.std(0) / math.sqrt(N_SAMPLES)
    assert (np.abs(dev2.mean(0) - var) < Z * se_var).all(), f"{what}: variance {dev2.mean(0)} vs {var}"


SAMPLED = [n for n in SPECS if not n.startswith(("Categorical", "MVN"))]


@pytest.mark.parametrize("name", SAMPLED)
def test_sampling_statistics_and_shapes(device, name):
    spec = SPECS[name]
    arrays = spec["params"](None, (2,))
    dist = spec["build"](mg, {k: mg.tensor(v, device=device) for k, v in arrays.items()})
    mg.manual_seed(1)
    x = dist.sample((N_SAMPLES,))
    event = tuple(spec.get("event", ()))
    assert tuple(x.shape) == (N_SAMPLES, 2) + event and x.dtype == mg.float64 and not x.requires_grad
    assert x.device == dist.mean.device
    _check_moments(x, dist.mean, dist.variance, name)
    assert tuple(dist.sample().shape) == (2,) + event
    assert tuple(dist.sample((4, 3)).shape) == (4, 3, 2) + event
    assert bool(dist.support.check(x).all().item())  # every draw lies in the support
    if dist.has_rsample:
        mg.manual_seed(1)
        _close(dist.rsample((5,)), (mg.manual_seed(1), dist.sample((5,)))[1], f"{name} rsample == sample")


def test_categorical_and_mvn_sampling(device):
    probs = mg.tensor([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], dtype=mg.float64, device=device)
    c = MD.Categorical(probs)
    mg.manual_seed(2)
    x = c.sample((N_SAMPLES,))
    assert tuple(x.shape) == (N_SAMPLES, 2) and x.dtype == mg.int64
    freq = np.stack([(_np(x) == k).mean(0) for k in range(3)], -1)
    p = _np(probs)
    assert (np.abs(freq - p) < Z * np.sqrt(p * (1 - p) / N_SAMPLES)).all()
    assert tuple(c.sample().shape) == (2,) and tuple(c.sample((4, 5)).shape) == (4, 5, 2)
    assert tuple(MD.Categorical(probs[0]).sample((6,)).shape) == (6,)
    oh = MD.OneHotCategorical(probs).sample((3,))
    assert tuple(oh.shape) == (3, 2, 3) and (_np(oh).sum(-1) == 1).all()

    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    loc = np.array([1.0, -2.0, 0.5])
    m = MD.MultivariateNormal(mg.tensor(loc, device=device), covariance_matrix=mg.tensor(cov, device=device))
    mg.manual_seed(2)
    x = _np(m.sample((N_SAMPLES,)))
    assert x.shape == (N_SAMPLES, 3)
    assert (np.abs(x.mean(0) - loc) < Z * np.sqrt(np.diag(cov) / N_SAMPLES)).all()
    # the variance of a product of two centred Gaussians is S_ii S_jj + S_ij^2
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / N_SAMPLES)
    assert (np.abs(np.cov(x.T, bias=True) - cov) < Z * se).all()
    batched = MD.MultivariateNormal(mg.zeros(4, 3, dtype=mg.float64), scale_tril=mg.eye(3, dtype=mg.float64))
    assert tuple(batched.batch_shape) == (4,) and tuple(batched.sample((2,)).shape) == (2, 4, 3)


# ---------------------------------------------------------------- shapes, expand, broadcasting
def test_batch_event_shapes_and_expand():
    cases = [
        lambda L: L.distributions.Normal(L.zeros(3, 1, dtype=L.float64), L.ones(2, dtype=L.float64)),
        lambda L: L.distributions.Categorical(logits=L.zeros(2, 4, dtype=L.float64)),
        lambda L: L.distributions.MultivariateNormal(L.zeros(2, 3, dtype=L.float64),
                                                     covariance_matrix=L.eye(3, dtype=L.float64)),
        lambda L: L.distributions.Independent(L.distributions.Normal(L.zeros(5, 2, 3, dtype=L.float64), 1.0), 2),
        lambda L: L.distributions.Dirichlet(L.ones(2, 3, dtype=L.float64)),
        lambda L: L.distributions.Beta(L.ones(2, dtype=L.float64), 2.0),
    ]
    for make in cases:
        t, m = make(torch), make(mg)
        assert (tuple(m.batch_shape), tuple(m.event_shape)) == (tuple(t.batch_shape), tuple(t.event_shape))
        tb = tuple(t.batch_shape)
        new_batch = (4,) + tb
        te, me = t.expand(new_batch), m.expand(new_batch)
        assert tuple(me.batch_shape) == new_batch and type(me) is type(m)
        assert tuple(me.sample().shape) == tuple(te.sample().shape)
        v = te.sample((2,))
        _close(me.log_prob(mg.tensor(v.numpy())), te.log_prob(v), f"{type(m).__name__}.expand log_prob")
    assert MD.Normal(0.0, 1.0).batch_shape == () and MD.Bernoulli(0.3).batch_shape == ()


def test_categorical_log_prob_broadcasting():
    logits = np.random.default_rng(0).normal(size=(3, 4))
    t, m = TD.Categorical(logits=torch.tensor(logits)), MD.Categorical(logits=mg.tensor(logits))
    for v in (np.array(2), np.array([0, 1, 3]), np.array([[0], [3]]), np.zeros((5, 1, 3), np.int64)):
        _close(m.log_prob(mg.tensor(v)), t.log_prob(torch.tensor(v)), f"Categorical.log_prob{v.shape}")
    es = t.enumerate_support()
    _close(m.log_prob(m.enumerate_support()), t.log_prob(es), "log_prob(enumerate_support)")
    assert tuple(m.enumerate_support(expand=False).shape) == tuple(t.enumerate_support(expand=False).shape)


def test_derived_parameters_and_mode_edge_cases():
    logits = torch.tensor([[-1.0, 0.5, 2.0], [3.0, 3.0, 0.0]], dtype=torch.float64)
    t, m = TD.Categorical(logits=logits), MD.Categorical(logits=mg.tensor(logits.numpy()))
    _close(m.probs, t.probs, "probs from logits")
    t2, m2 = TD.Categorical(probs=t.probs), MD.Categorical(probs=mg.tensor(t.probs.detach().numpy()))
    _close(m2.logits, t2.logits, "logits from probs")
    p = torch.tensor([0.0, 0.5, 1.0, 0.2], dtype=torch.float64)
    tb, mb = TD.Bernoulli(p), MD.Bernoulli(mg.tensor(p.numpy()))
    for k in ("logits", "mode", "entropy"):
        tv, mv = getattr(tb, k), getattr(mb, k)
        _close(mv() if callable(mv) else mv, tv() if callable(tv) else tv, f"Bernoulli.{k} at 0, 1/2, 1")
    c = torch.tensor([[0.5, 0.7, 0.9], [2.0, 3.0, 0.5]], dtype=torch.float64)
    _close(MD.Dirichlet(mg.tensor(c.numpy())).mode, TD.Dirichlet(c).mode, "Dirichlet.mode")
    _close(MD.Beta(mg.tensor([0.5, 2.0]), mg.tensor([0.5, 3.0])).mode,
           TD.Beta(torch.tensor([0.5, 2.0]), torch.tensor([0.5, 3.0])).mode, "Beta.mode", rtol=1e-6)
    tg, mgm = TD.Gamma(torch.tensor([0.5, 3.0]), 2.0), MD.Gamma(mg.tensor([0.5, 3.0]), 2.0)
    _close(mgm.mode, tg.mode, "Gamma.mode", rtol=1e-6)
    L = torch.tensor([[1.0, 0.0], [0.5, 2.0]], dtype=torch.float64)
    tm, mm = TD.MultivariateNormal(torch.zeros(2, dtype=torch.float64), scale_tril=L), \
        MD.MultivariateNormal(mg.zeros(2, dtype=mg.float64), scale_tril=mg.tensor(L.numpy()))
    for k in ("covariance_matrix", "precision_matrix", "scale_tril"):
        _close(getattr(mm, k), getattr(tm, k), f"MVN.{k}")
    x = torch.tensor([0.3, -0.2], dtype=torch.float64)
    for cls in ("Normal", "Laplace", "Exponential", "Uniform", "LogNormal"):
        args = (torch.tensor([0.5, 1.0], dtype=torch.float64), torch.tensor([1.5, 2.0], dtype=torch.float64))
        if cls == "Exponential":
            args = args[1:]
        td_, md_ = getattr(TD, cls)(*args), getattr(MD, cls)(*(mg.tensor(a.numpy()) for a in args))
        xv = x.abs() + 1.2 if cls in ("Uniform", "LogNormal", "Exponential") else x  # inside each support
        _close(md_.cdf(mg.tensor(xv.numpy())), td_.cdf(xv), f"{cls}.cdf")
        q = torch.tensor([0.2, 0.7], dtype=torch.float64)
        _close(md_.icdf(mg.tensor(q.numpy())), td_.icdf(q), f"{cls}.icdf")


# ---------------------------------------------------------------- validate_args
def _same_error(make, prefix_only=False):
    """Both libraries raise ValueError; the same message (up to the printed tensor where one is shown)."""
    with pytest.raises(ValueError) as theirs:
        make(torch)
    with pytest.raises(ValueError) as ours:
        make(mg)
    a, b = str(ours.value), str(theirs.value).replace("torch.Size(", "Size(")  # minigrad's repr names no torch
    if prefix_only:
        a, b = a.split("but found invalid values")[0], b.split("but found invalid values")[0]
    assert a == b, f"\nours:  {a}\ntorch: {b}"


@pytest.fixture
def torch_validates():
    """torch's default validate_args is __debug__, but importing some torch modules (torch._dynamo, which
    tests of mg.compile touch) switches it off process-wide: set it for this test and restore it."""
    torch = pytest.importorskip("torch")
    before = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(True)
    yield
    torch.distributions.Distribution.set_default_validate_args(before)


def test_validate_args_refusals_match_torch(torch_validates):
    T = lambda L, v: L.tensor(v, dtype=L.float64)  # noqa: E731
    _same_error(lambda L: L.distributions.Normal(0.0, -1.0))
    _same_error(lambda L: L.distributions.Normal(0.0, float("nan")))
    _same_error(lambda L: L.distributions.Exponential(0.0))
    _same_error(lambda L: L.distributions.Gamma(1.0, -2.0))
    _same_error(lambda L: L.distributions.Laplace(float("nan"), 1.0))
    _same_error(lambda L: L.distributions.Bernoulli(1.5))
    _same_error(lambda L: L.distributions.Uniform(2.0, 1.0))
    _same_error(lambda L: L.distributions.Beta(-1.0, 2.0), prefix_only=True)  # names Dirichlet, as torch
    _same_error(lambda L: L.distributions.Bernoulli(probs=0.5, logits=0.0))
    _same_error(lambda L: L.distributions.Categorical(L.tensor(0.5)))
    _same_error(lambda L: L.distributions.Categorical(T(L, [0.5, -0.1, 0.6])), prefix_only=True)
    _same_error(lambda L: L.distributions.Dirichlet(T(L, [1.0, 0.0])), prefix_only=True)
    _same_error(lambda L: L.distributions.MultivariateNormal(L.zeros(2), L.eye(2), scale_tril=L.eye(2)))
    _same_error(lambda L: L.distributions.MultivariateNormal(L.tensor(0.0), L.eye(2)))
    _same_error(lambda L: L.distributions.MultivariateNormal(T(L, [0.0, 0.0]), T(L, [[1.0, 2.0], [2.0, 1.0]])),
                prefix_only=True)
    _same_error(lambda L: L.distributions.MultivariateNormal(T(L, [0.0, 0.0]), scale_tril=T(L, [[1.0, 0], [1, -1]])),
                prefix_only=True)
    _same_error(lambda L: L.distributions.Independent(L.distributions.Normal(T(L, [0.0]), T(L, [1.0])), 2))
    # values given to log_prob
    _same_error(lambda L: L.distributions.Exponential(1.0).log_prob(T(L, -1.0)))
    _same_error(lambda L: L.distributions.Normal(0.0, 1.0).log_prob(0.5))
    _same_error(lambda L: L.distributions.Bernoulli(0.5).log_prob(T(L, 0.5)))
    _same_error(lambda L: L.distributions.Categorical(T(L, [0.5, 0.5])).log_prob(L.tensor(2)))
    _same_error(lambda L: L.distributions.Uniform(0.0, 1.0).log_prob(L.tensor(1.5)))  # float32 as low, high
    _same_error(lambda L: L.distributions.Dirichlet(T(L, [1.0, 1.0])).log_prob(T(L, [0.5, 0.6])), prefix_only=True)
    # shape checks name the shapes (minigrad prints a shape as a tuple, torch as torch.Size)
    with pytest.raises(ValueError, match="Value is not broadcastable with batch_shape"):
        MD.Normal(mg.zeros(3), mg.ones(3)).log_prob(mg.zeros(4))
    with pytest.raises(ValueError, match="right-most size of value must match event_shape"):
        MD.MultivariateNormal(mg.zeros(3), mg.eye(3)).log_prob(mg.zeros(2))
    # validate_args=False lets them through, as torch
    assert math.isnan(MD.Normal(0.0, -1.0, validate_args=False).log_prob(mg.tensor(0.0)).item())
    assert MD.Exponential(1.0, validate_args=False).log_prob(mg.tensor(-1.0)).item() == 1.0


def test_set_default_validate_args():
    try:
        MD.Distribution.set_default_validate_args(False)
        MD.Normal(0.0, -1.0)  # no error
    finally:
        MD.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        MD.Normal(0.0, -1.0)
    with pytest.raises(ValueError):
        MD.Distribution.set_default_validate_args("yes")


def test_constraints_and_reprs():
    C, TC = MD.constraints, TD.constraints
    for name in ("real", "positive", "nonnegative", "unit_interval", "simplex", "boolean", "real_vector",
                 "lower_cholesky", "positive_definite", "one_hot"):
        assert repr(getattr(C, name)) == repr(getattr(TC, name))
    assert repr(MD.Uniform(0.0, 2.0).support) == repr(TD.Uniform(0.0, 2.0).support)
    assert repr(MD.Categorical(mg.ones(3)).support) == repr(TD.Categorical(torch.ones(3)).support)
    assert repr(MD.Normal(0.0, 1.0)) == repr(TD.Normal(0.0, 1.0))
    assert C.is_dependent(MD.Uniform.support) and C.is_dependent(C.dependent)
    assert repr(MD.Independent(MD.Normal(0.0, 1.0).expand((2,)), 1).support) == \
        repr(TD.Independent(TD.Normal(0.0, 1.0).expand((2,)), 1).support)
    with pytest.raises(TypeError, match="sample_shape"):
        MD.Normal(0.0, 1.0).sample(3)


# ---------------------------------------------------------------- float32 stays float32
F32 = {
    "Normal": lambda p: MD.Normal(p, p.abs() + 0.5), "Laplace": lambda p: MD.Laplace(p, p.abs() + 0.5),
    "Exponential": lambda p: MD.Exponential(p.abs() + 0.5), "Uniform": lambda p: MD.Uniform(p, p + 1.0),
    "Gamma": lambda p: MD.Gamma(p.abs() + 0.5, 2.0), "Beta": lambda p: MD.Beta(p.abs() + 0.5, 2.0),
    "Dirichlet": lambda p: MD.Dirichlet(p.abs() + 0.5), "Bernoulli": lambda p: MD.Bernoulli(logits=p),
    "Categorical": lambda p: MD.Categorical(logits=p), "OneHotCategorical": lambda p: MD.OneHotCategorical(logits=p),
    "LogNormal": lambda p: MD.LogNormal(p, 1.0), "Independent": lambda p: MD.Independent(MD.Normal(p, 1.0), 1),
    "MultivariateNormal": lambda p: MD.MultivariateNormal(p, scale_tril=mg.eye(3, device=p.device) * 2.0),
}


@pytest.mark.parametrize("name", list(F32))
def test_float32_stays_float32(device, name):
    p = mg.tensor([[0.3, -0.2, 0.1], [0.5, 0.4, -1.0]], device=device, requires_grad=True)
    assert p.dtype == mg.float32
    d = F32[name](p)
    x = d.sample((2,))
    assert x.dtype == (mg.int64 if name == "Categorical" else mg.float32), f"{name}.sample dtype {x.dtype}"
    assert x.device == p.device
    lp, ent = d.log_prob(x), d.entropy()
    assert lp.dtype == mg.float32 and ent.dtype == mg.float32, f"{name}: {lp.dtype}, {ent.dtype}"
    for k in ("mean", "variance"):
        v = getattr(d, k)
        assert v.dtype == mg.float32, f"{name}.{k} is {v.dtype}"
    if d.has_rsample:
        assert d.rsample().dtype == mg.float32
    kl = MD.kl_divergence(d, d)
    assert kl.dtype == mg.float32
    (lp.sum() + ent.sum() + kl.sum()).backward()
    assert p.grad.dtype == mg.float32 and p.grad.shape == p.shape


# ---------------------------------------------------------------- programs written once, run with both
def _copy_weights(torch_module, mg_module):
    mg_module.load_state_dict({k: v.detach().numpy() for k, v in torch_module.state_dict().items()})


def _reinforce_ppo_step(lib, policy, opt, obs, actions, returns, old_log_probs):
    """One policy-gradient update: REINFORCE with an entropy bonus plus PPO's clipped ratio."""
    dist = lib.distributions.Categorical(logits=policy(obs))
    log_probs = dist.log_prob(actions)
    reinforce = -(log_probs * returns).mean()
    ratio = (log_probs - old_log_probs).exp()
    ppo = -lib.min(ratio * returns, lib.clamp(ratio, 0.8, 1.2) * returns).mean()
    loss = reinforce + ppo - 0.01 * dist.entropy().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def test_reinforce_and_ppo_program_matches_torch():
    torch.manual_seed(0)
    tpolicy = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()
    mpolicy = mg.nn.Sequential(mg.nn.Linear(4, 16), mg.nn.Tanh(), mg.nn.Linear(16, 3)).double()
    _copy_weights(tpolicy, mpolicy)
    topt, mopt = torch.optim.Adam(tpolicy.parameters(), lr=1e-2), mg.optim.Adam(mpolicy.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for step in range(3):
        obs = rng.normal(size=(8, 4))
        with torch.no_grad():  # the actions a rollout took (torch samples them; both then score the same ones)
            tdist = TD.Categorical(logits=tpolicy(torch.tensor(obs)))
            actions = tdist.sample()
            old = tdist.log_prob(actions) + torch.tensor(rng.normal(scale=0.1, size=8))
        returns = rng.normal(size=8)
        tl = _reinforce_ppo_step(torch, tpolicy, topt, torch.tensor(obs), actions, torch.tensor(returns), old)
        ml = _reinforce_ppo_step(mg, mpolicy, mopt, mg.tensor(obs), mg.tensor(actions.numpy()),
                                 mg.tensor(returns), mg.tensor(old.numpy()))
        _close(ml, tl, f"policy loss, step {step}", rtol=1e-10)
    for (k, tp), (_, mp) in zip(tpolicy.named_parameters(), mpolicy.named_parameters()):
        _close(mp, tp, f"policy {k} after 3 steps", rtol=1e-9, atol=1e-12)


def _vae_step(lib, enc, dec, opt, x, eps):
    """One VAE update: Gaussian posterior (reparameterized with the noise fed in), Bernoulli decoder,
    KL to the standard-normal prior both in closed form and as a Monte-Carlo log-ratio."""
    D = lib.distributions
    h = enc(x)
    mu, logvar = h[:, :2], h[:, 2:]
    q = D.Normal(mu, (0.5 * logvar).exp())
    z = q.loc + q.scale * eps  # = q.rsample() for this eps
    prior = D.Normal(lib.zeros_like(mu), lib.ones_like(mu))
    recon = D.Bernoulli(logits=dec(z)).log_prob(x).sum(-1)
    kl = D.kl_divergence(q, prior).sum(-1)
    mc_kl = D.Independent(q, 1).log_prob(z) - D.Independent(prior, 1).log_prob(z)
    loss = -(recon - kl).mean() + 0.1 * mc_kl.mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def test_vae_program_matches_torch():
    torch.manual_seed(1)
    tenc, tdec = torch.nn.Linear(6, 4).double(), torch.nn.Linear(2, 6).double()
    menc, mdec = mg.nn.Linear(6, 4).double(), mg.nn.Linear(2, 6).double()
    _copy_weights(tenc, menc)
    _copy_weights(tdec, mdec)
    topt = torch.optim.SGD(list(tenc.parameters()) + list(tdec.parameters()), lr=0.1)
    mopt = mg.optim.SGD(list(menc.parameters()) + list(mdec.parameters()), lr=0.1)
    rng = np.random.default_rng(1)
    for step in range(3):
        x = (rng.random((5, 6)) < 0.5).astype(np.float64)
        eps = rng.normal(size=(5, 2))
        tl = _vae_step(torch, tenc, tdec, topt, torch.tensor(x), torch.tensor(eps))
        ml = _vae_step(mg, menc, mdec, mopt, mg.tensor(x), mg.tensor(eps))
        _close(ml, tl, f"VAE loss, step {step}", rtol=1e-10)
    for tm, mm in ((tenc, menc), (tdec, mdec)):
        for (k, tp), (_, mp) in zip(tm.named_parameters(), mm.named_parameters()):
            _close(mp, tp, f"VAE {k} after 3 steps", rtol=1e-9, atol=1e-12)


def _mdn_step(lib, net, opt, x, y):
    """One mixture-density-network update: a K-component 1-D Gaussian mixture per input,
    -log sum_k pi_k N(y; mu_k, sigma_k) through Categorical logits and Normal.log_prob."""
    D = lib.distributions
    h = net(x)
    k = h.shape[-1] // 3
    mix = D.Categorical(logits=h[:, :k])
    comp = D.Normal(h[:, k:2 * k], lib.nn.functional.softplus(h[:, 2 * k:]) + 1e-3)
    log_lik = lib.logsumexp(mix.logits + comp.log_prob(y.unsqueeze(-1)), dim=-1)
    loss = -log_lik.mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def test_mixture_density_network_program_matches_torch():
    torch.manual_seed(2)
    tnet = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 9)).double()
    mnet = mg.nn.Sequential(mg.nn.Linear(1, 8), mg.nn.Tanh(), mg.nn.Linear(8, 9)).double()
    _copy_weights(tnet, mnet)
    topt, mopt = torch.optim.Adam(tnet.parameters(), lr=1e-2), mg.optim.Adam(mnet.parameters(), lr=1e-2)
    rng = np.random.default_rng(2)
    for step in range(3):
        x = rng.uniform(-1, 1, size=(16, 1))
        y = np.sin(3 * x[:, 0]) + 0.1 * rng.normal(size=16)
        tl = _mdn_step(torch, tnet, topt, torch.tensor(x), torch.tensor(y))
        ml = _mdn_step(mg, mnet, mopt, mg.tensor(x), mg.tensor(y))
        _close(ml, tl, f"MDN loss, step {step}", rtol=1e-10)
    for (k, tp), (_, mp) in zip(tnet.named_parameters(), mnet.named_parameters()):
        _close(mp, tp, f"MDN {k} after 3 steps", rtol=1e-9, atol=1e-12)
