"""torch's small namespaces, each against torch 2.13: testing.assert_close / make_tensor, mg.special,
autograd.Variable, compile, jit.script / jit.trace, and utils.checkpoint (activation checkpointing)."""
import inspect
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad.testing import assert_close, gradcheck, make_tensor

torch = pytest.importorskip("torch")

GRADIENT_TESTED = []  # no new Function in minigrad.ops (the special names compose existing ops)


# ================================================================ assert_close
def test_testing_namespace():
    assert mg.testing.assert_close is assert_close and mg.testing.make_tensor is make_tensor  # as torch.testing


def _outcome(fn):
    """('ok' | exception class name, message) of calling fn."""
    try:
        fn()
        return "ok", ""
    except (AssertionError, TypeError, ValueError) as e:
        return type(e).__name__, str(e)


_NUM = r"(-?(?:nan|inf|[0-9.e+-]+))"


def _facts_torch(text):
    """(mismatched, total, abs value, abs index, rel value, rel index) from torch's message."""
    m = re.search(r"Mismatched elements: (\d+) / (\d+)", text)
    a = re.search(r"Greatest absolute difference: " + _NUM + r" at index (\([^)]*\))", text)
    r = re.search(r"Greatest relative difference: " + _NUM + r" at index (\([^)]*\))", text)
    return (int(m[1]), int(m[2]), float(a[1]), a[2], float(r[1]), r[2])


def _facts_ours(text):
    m = re.search(r"(\d+) of (\d+) elements differ", text)
    a = re.search(r"Greatest absolute difference: " + _NUM + r" at index (\([^)]*\))", text)
    r = re.search(r"Greatest relative difference: " + _NUM + r" at index (\([^)]*\))", text)
    return (int(m[1]), int(m[2]), float(a[1]), a[2], float(r[1]), r[2])


def _same_facts(ours, theirs):
    for k, (o, t) in enumerate(zip(ours, theirs)):
        if isinstance(o, float):
            assert (math.isnan(o) and math.isnan(t)) or o == pytest.approx(t, rel=1e-6), (k, ours, theirs)
        else:
            assert o == t, (k, ours, theirs)


def _both(a, e, **kw):
    """Run torch's and our assert_close on the same values (numpy arrays -> tensors); return both outcomes."""
    def to_t(v):
        return torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v

    def to_m(v):
        return mg.tensor(np.array(v)) if isinstance(v, np.ndarray) else v
    theirs = _outcome(lambda: torch.testing.assert_close(to_t(a), to_t(e), **kw))
    ours = _outcome(lambda: assert_close(to_m(a), to_m(e), **kw))
    assert ours[0] == theirs[0], (ours, theirs)
    return ours, theirs


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_assert_close_default_tolerances_match_torch(dtype):
    rtol, atol = {"float16": (1e-3, 1e-5), "float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7)}[dtype]
    base = np.array([0.0, 1.0, -2.0, 100.0], dtype=dtype)
    for scale in (0.5, 0.9, 1.5, 3.0):  # inside and outside atol + rtol * |e|
        bumped = (base + scale * (atol + rtol * np.abs(base))).astype(dtype)
        ours, theirs = _both(bumped, base)
        if ours[0] == "AssertionError":
            _same_facts(_facts_ours(ours[1]), _facts_torch(theirs[1]))


@pytest.mark.parametrize("a,e", [
    (np.array([1.0, 2.0, 3.0], "float32"), np.array([1.0, 2.5, 3.0], "float32")),
    (np.array([[1.0, 2.0], [3, 4]], "float32"), np.array([[1.0, 2.5], [3, 5]], "float32")),  # ties: first index
    (np.array([1, 2, 3]), np.array([1, 2, 4])),                                              # integers: exact
    (np.array([True, False]), np.array([True, True])),
    (np.array([math.nan, 1.0]), np.array([math.nan, 1.0])),                                  # NaN != NaN
    (np.array([1.0, math.inf]), np.array([1.0, -math.inf])),
    (np.array([1.0, math.inf]), np.array([1.0, math.inf])),
    (np.array([2.0, -1.0]), np.array([1.0, 0.0])),                                           # rel inf at 0
    (np.zeros(0), np.zeros(0)),
])
def test_assert_close_values_and_report_match_torch(a, e):
    ours, theirs = _both(a, e)
    if ours[0] == "AssertionError":
        _same_facts(_facts_ours(ours[1]), _facts_torch(theirs[1]))


def test_assert_close_options_match_torch():
    nan2 = np.array([math.nan, 1.0])
    assert _both(nan2, nan2, equal_nan=True)[0][0] == "ok"
    assert _both(np.ones(2), np.ones(2) + 1e-3, rtol=1e-2, atol=0.0)[0][0] == "ok"
    assert _both(np.ones(2), np.ones(2) + 1e-3, rtol=0.0, atol=1e-4)[0][0] == "AssertionError"
    assert _both(np.ones(2), np.ones(2), rtol=1e-3)[0][0] == "ValueError"     # one tolerance alone
    # dtype and shape checks, and check_dtype=False comparing in the common dtype (int with float -> float)
    assert _both(np.ones(2, "float32"), np.ones(2, "float64"))[0][0] == "AssertionError"
    assert _both(np.ones(2, "float32"), np.ones(2, "float64"), check_dtype=False)[0][0] == "ok"
    ours, theirs = _both(np.array([1, 2]), np.array([1.0, 2.5], "float32"), check_dtype=False)
    _same_facts(_facts_ours(ours[1]), _facts_torch(theirs[1]))
    assert _both(np.ones(2), np.ones(3))[0][0] == "AssertionError"
    # the custom message: a string replaces ours, a callable receives it
    assert _both(np.ones(2), np.zeros(2), msg="custom")[0] == ("AssertionError", "custom")
    ours, _ = _both(np.ones(2), np.zeros(2), msg=lambda m: "X" + m)
    assert ours[1].startswith("X") and "2 of 2" in ours[1]


def test_assert_close_scalars_sequences_mappings_match_torch():
    cases = [
        (1.0, 1.0 + 1e-9), (1.0, 1.1), (1, 2), (1, 1.0), (True, False), (np.float64(1.0), 1.0),
        ([1.0, 2.0], [1.0, 2.1]), ([1.0, 2.0], (1.0, 2.0)), ([1.0, 2.0], [1.0]),
        ({"a": 1.0}, {"b": 1.0}), ({"a": 1.0, "b": [2, 3]}, {"b": [2, 3], "a": 1.0}),
        (None, None), ("a", "a"),
    ]
    for a, e in cases:
        _both(a, e)
    # Tensors against other kinds: TypeError in both
    for a, e in [(mg.ones(1), np.ones(1)), (mg.ones(2), [1.0, 1.0]), (mg.tensor(1), 1)]:
        assert _outcome(lambda: assert_close(a, e))[0] == "TypeError"
    # the failing item is named
    kind, text = _outcome(lambda: assert_close({"a": [mg.ones(2)]}, {"a": [mg.zeros(2)]}))
    assert kind == "AssertionError" and "['a'][0]" in text and "2 of 2" in text


def test_assert_close_tensor_metadata():
    x = mg.ones(4, 2)
    assert_close(x[::2], mg.ones(2, 2))
    with pytest.raises(AssertionError, match="strides"):
        assert_close(x[::2], mg.ones(2, 2), check_stride=True)
    with pytest.raises(AssertionError, match="shapes"):
        assert_close(mg.ones(2), mg.ones(3))
    tx = torch.ones(4, 2)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(tx[::2], torch.ones(2, 2), check_stride=True)
    # 0-d tensors read as scalars, with both values
    with pytest.raises(AssertionError, match=r"got 1\.0, expected 2\.0"):
        assert_close(mg.tensor(1.0), mg.tensor(2.0))
    # requires_grad and the graph do not matter (as torch)
    w = mg.ones(2, requires_grad=True)
    assert_close(w * 1, mg.ones(2))


@given(st.integers(1, 5), st.integers(0, 3), st.sampled_from(["float32", "float64"]), st.integers(0, 2**31 - 1))
def test_assert_close_random_perturbations_match_torch(n, n_bumped, dtype, seed):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n).astype(dtype)
    a = e.copy()
    for i in rng.integers(0, n, n_bumped):
        a[i] += rng.choice([1e-9, 1e-6, 1e-4, 1.0]) * rng.choice([-1, 1])
    ours, theirs = _both(a.astype(dtype), e)
    if ours[0] == "AssertionError":
        _same_facts(_facts_ours(ours[1]), _facts_torch(theirs[1]))


# ================================================================ make_tensor
def test_make_tensor_matches_torch_contract():
    for shape_args in [(2, 3), ((2, 3),), ([4],), ()]:
        ours = make_tensor(*shape_args, dtype=mg.float32, device="cpu")
        theirs = torch.testing.make_tensor(*shape_args, dtype=torch.float32, device="cpu")
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert ours.dtype == mg.float32
    x = make_tensor(200, dtype=mg.float64)
    assert x.dtype == mg.float64 and -9 <= float(x.min()) and float(x.max()) < 9 and x.numpy().std() > 3
    i = make_tensor(500, dtype=mg.int64, low=0, high=3)
    assert set(np.unique(i.numpy())) == {0, 1, 2}
    assert set(np.unique(make_tensor(300, dtype=mg.int64, low=-1, high=1, exclude_zero=True).numpy())) == {-1, 1}
    assert np.all(make_tensor(50, dtype=mg.float32, low=0, high=1e-30, exclude_zero=True).numpy() > 0)
    assert make_tensor(5, dtype=mg.bool_).dtype == mg.bool_
    u = make_tensor(200, dtype=mg.uint8)
    assert u.dtype == mg.uint8 and int(u.numpy().min()) >= 0 and int(u.numpy().max()) < 10
    nc, tnc = make_tensor(2, 3, dtype=mg.float32, noncontiguous=True), torch.testing.make_tensor(
        2, 3, dtype=torch.float32, device="cpu", noncontiguous=True)
    assert not nc.is_contiguous() and not tnc.is_contiguous() and nc.stride() == tnc.stride() == (6, 2)
    g = make_tensor(3, dtype=mg.float64, requires_grad=True)
    assert g.requires_grad and g.is_leaf
    # refusals, as torch's (torch raises ValueError for all three)
    for kw in [dict(low=2, high=1), dict(low=math.nan), dict(requires_grad=True, dtype=mg.int64)]:
        with pytest.raises(ValueError):
            torch.testing.make_tensor(3, **{"dtype": torch.float32, "device": "cpu",
                                             **{k: (torch.int64 if k == "dtype" else v) for k, v in kw.items()}})
        with pytest.raises(ValueError):
            make_tensor(3, **{"dtype": mg.float32, **kw})


# ================================================================ mg.special
_ALIASES = {"erf": mg.erf, "erfc": mg.erfc, "erfinv": mg.erfinv, "expit": mg.sigmoid, "expm1": mg.expm1,
            "exp2": mg.exp2, "log1p": mg.log1p, "gammaln": mg.lgamma, "digamma": mg.digamma, "psi": mg.digamma,
            "i0": mg.i0, "logit": mg.logit, "sinc": mg.sinc, "round": mg.round, "xlogy": mg.xlogy,
            "logsumexp": mg.logsumexp, "softmax": mg.softmax, "log_softmax": mg.log_softmax}


def test_special_names_are_minigrads_ops():
    for name, fn in _ALIASES.items():
        assert getattr(mg.special, name) is inspect.unwrap(fn), name  # (mg.erf: erf with out=, ops/out.py)
        assert hasattr(torch.special, name), name  # every name is torch.special's
    for name in mg.special.__all__:
        assert hasattr(torch.special, name), name


_UNARY = [  # name, input range
    ("erf", (-3, 3)), ("erfc", (-3, 3)), ("erfinv", (-0.9, 0.9)), ("expit", (-5, 5)), ("expm1", (-2, 2)),
    ("exp2", (-3, 3)), ("log1p", (-0.5, 3)), ("gammaln", (0.2, 6)), ("digamma", (0.2, 6)), ("psi", (0.2, 6)),
    ("i0", (-4, 4)), ("logit", (0.05, 0.95)), ("sinc", (-2, 2)), ("ndtr", (-6, 6)),
]


@pytest.mark.parametrize("name,rng", _UNARY)
def test_special_unary_values_and_gradients_match_torch(name, rng):
    x = np.random.default_rng(0).uniform(*rng, size=(3, 4))
    xm = mg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ym, yt = getattr(mg.special, name)(xm), getattr(torch.special, name)(xt)
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    w = np.random.default_rng(1).standard_normal(x.shape)
    (ym * mg.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    # (digamma's derivative: torch's trigamma is off by up to 4e-10 relative on (0.2, 6); minigrad's matches
    # SciPy's polygamma(1, x) to the last bit, checked in the digamma tests)
    rtol = 1e-9 if name in ("digamma", "psi") else 1e-10
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=1e-12)
    # float32 stays float32
    assert getattr(mg.special, name)(mg.tensor(x.astype("float32"))).dtype == mg.float32


def test_special_reductions_round_and_binary_match_torch():
    x = np.random.default_rng(2).standard_normal((3, 4))
    for name in ("softmax", "log_softmax"):
        np.testing.assert_allclose(getattr(mg.special, name)(mg.tensor(x), 1).numpy(),
                                   getattr(torch.special, name)(torch.tensor(x), 1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(mg.special.logsumexp(mg.tensor(x), 0, keepdim=True).numpy(),
                               torch.special.logsumexp(torch.tensor(x), 0, keepdim=True).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(mg.special.round(mg.tensor(x * 10)).numpy(),
                                  torch.special.round(torch.tensor(x * 10)).numpy())
    a, b = np.abs(x) + 0.1, x[::-1].copy()
    np.testing.assert_allclose(mg.special.xlogy(mg.tensor(x), mg.tensor(a)).numpy(),
                               torch.special.xlogy(torch.tensor(x), torch.tensor(a)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(mg.special.xlog1py(mg.tensor(b), mg.tensor(a)).numpy(),
                               torch.special.xlog1py(torch.tensor(b), torch.tensor(a)).numpy(), rtol=1e-12)


def test_special_xlog1py_edges_match_torch():
    x = [0.0, 0.0, 1.0, 2.0, math.nan, 0.0, 0.0, 0.0, -1.5, 0.0]
    y = [-1.0, math.nan, -1.0, 3.0, 1.0, math.inf, 3.0, -2.0, -0.5, -0.5]
    xm, ym = mg.tensor(x, dtype=mg.float64, requires_grad=True), mg.tensor(y, dtype=mg.float64, requires_grad=True)
    xt, yt = torch.tensor(x, dtype=torch.float64, requires_grad=True), torch.tensor(y, dtype=torch.float64,
                                                                                   requires_grad=True)
    om, ot = mg.special.xlog1py(xm, ym), torch.special.xlog1py(xt, yt)
    np.testing.assert_array_equal(om.numpy(), ot.detach().numpy())
    om.sum().backward()
    ot.sum().backward()
    # equal except where the true derivative is infinite or undefined (documented): d/dx at (0, +inf) is NaN
    # here, +inf in torch; d/dy at (0, -1) is 0 here, NaN (0/0) in torch
    gx, gxt = xm.grad.numpy(), xt.grad.numpy()
    assert math.isnan(gx[5]) and gxt[5] == math.inf
    np.testing.assert_array_equal(np.delete(gx, 5), np.delete(gxt, 5))
    gy, gyt = ym.grad.numpy(), yt.grad.numpy()
    assert math.isnan(gyt[0]) and gy[0] == 0.0
    np.testing.assert_array_equal(gy[1:], gyt[1:])
    # numbers on either side, integer tensors promoted as torch
    for a, b in [(2.0, torch.tensor([1.0])), (torch.tensor([1.0]), 2), (torch.tensor([1, 2]), torch.tensor([3, 4]))]:
        conv = (lambda v: mg.tensor(v.numpy()) if isinstance(v, torch.Tensor) else v)
        r, rt = mg.special.xlog1py(conv(a), conv(b)), torch.special.xlog1py(a, b)
        np.testing.assert_allclose(r.numpy(), rt.numpy(), rtol=1e-6)
        assert str(r.dtype) == str(rt.dtype).replace("torch.", "")


def test_special_multigammaln_matches_torch():
    a = np.random.default_rng(3).uniform(2.0, 6.0, size=(2, 3))
    for p in (1, 2, 4):
        am, at = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        om, ot = mg.special.multigammaln(am, p), torch.special.multigammaln(at, p)
        np.testing.assert_allclose(om.numpy(), ot.detach().numpy(), rtol=1e-12)
        om.sum().backward()
        ot.sum().backward()
        np.testing.assert_allclose(am.grad.numpy(), at.grad.numpy(), rtol=1e-10)
    with pytest.raises(RuntimeError, match="greater than or equal to 1"):
        mg.special.multigammaln(mg.tensor([2.5]), 0)
    with pytest.raises(RuntimeError):
        torch.special.multigammaln(torch.tensor([2.5]), 0)
    np.testing.assert_allclose(mg.special.multigammaln(mg.tensor([2, 3]), 2).numpy(),
                               torch.special.multigammaln(torch.tensor([2, 3]), 2).numpy(), rtol=1e-6)


_small = st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple)


@given(_small, st.integers(0, 2**31 - 1))
def test_special_ndtr_gradient(device, shape, seed):
    x = mg.tensor(np.random.default_rng(seed).uniform(-4, 4, shape), device=device, requires_grad=True)
    gradcheck(mg.special.ndtr, x)


@given(_small, st.integers(0, 2**31 - 1))
def test_special_xlog1py_gradient(device, shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, shape)
    x[rng.random(shape) < 0.3] = 0.0  # the x = 0 branch too
    xm = mg.tensor(x, device=device, requires_grad=True)
    ym = mg.tensor(rng.uniform(-0.8, 3, shape), device=device, requires_grad=True)
    gradcheck(mg.special.xlog1py, xm, ym)


@given(_small, st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_special_multigammaln_gradient(device, shape, p, seed):
    a = mg.tensor(np.random.default_rng(seed).uniform(1.6, 5, shape), device=device, requires_grad=True)
    gradcheck(lambda t: mg.special.multigammaln(t, p), a)


# ================================================================ Variable, compile, jit
def test_variable_returns_a_tensor_as_torch():
    x = mg.ones(2, requires_grad=True)
    y = x * 2
    v = mg.autograd.Variable(y)
    vt = torch.autograd.Variable(torch.ones(2, requires_grad=True) * 2)
    assert isinstance(v, mg.Tensor) and v.requires_grad is vt.requires_grad is False and v.is_leaf and vt.is_leaf
    v.add_(1)  # shares memory and version counter, as torch's
    assert y.numpy().tolist() == [3.0, 3.0] and y._version == 1
    w = mg.autograd.Variable(mg.ones(3), requires_grad=True)
    assert w.requires_grad and w.is_leaf
    (w * w).sum().backward()
    assert w.grad.numpy().tolist() == [2.0, 2.0, 2.0]
    assert isinstance(mg.zeros(1), mg.autograd.Variable) and isinstance(torch.zeros(1), torch.autograd.Variable)
    assert tuple(mg.autograd.Variable().shape) == tuple(torch.autograd.Variable().shape) == (0,)
    with pytest.raises(TypeError, match="Variable"):
        mg.autograd.Variable(3.0)
    with pytest.raises(TypeError):
        torch.autograd.Variable(3.0)
    with pytest.warns(UserWarning, match="volatile"):
        mg.autograd.Variable(mg.ones(1), volatile=True)
    from minigrad.autograd import Variable
    assert Variable is mg.autograd.Variable


def test_compile_is_a_documented_no_op():
    m = mg.nn.Linear(2, 3)
    assert mg.compile(m) is m
    assert list(mg.compile(m).state_dict()) == ["weight", "bias"]
    # torch prefixes the keys (the difference README documents)
    assert list(torch.compile(torch.nn.Linear(2, 3)).state_dict()) == ["_orig_mod.weight", "_orig_mod.bias"]

    def f(a):
        return a * 2
    assert mg.compile(f) is f
    assert mg.compile(f, fullgraph=True, dynamic=False, backend="eager", mode="max-autotune", options={},
                      disable=True) is f

    @mg.compile
    def g(a):
        return a + 1

    @mg.compile(fullgraph=True)
    def h(a):
        return a - 1
    assert g(mg.ones(1)).item() == 2.0 and h(mg.ones(1)).item() == 0.0
    with pytest.raises(TypeError, match="compile"):
        mg.compile(3)


@pytest.mark.parametrize("name", ["script", "trace"])
def test_jit_refuses_clearly(name):
    with pytest.raises(NotImplementedError, match=f"jit.{name}"):
        getattr(mg.jit, name)(mg.nn.Linear(2, 2), mg.ones(1, 2))


# ================================================================ utils.checkpoint
from minigrad.utils.checkpoint import checkpoint, checkpoint_sequential  # noqa: E402
from torch.utils.checkpoint import checkpoint as t_checkpoint  # noqa: E402
from torch.utils.checkpoint import checkpoint_sequential as t_checkpoint_sequential  # noqa: E402


def test_checkpoint_imports_and_the_training_state_module_stay_apart():
    import minigrad.utils.checkpoint as ucp
    assert ucp.checkpoint is checkpoint and mg.utils.checkpoint is ucp
    assert hasattr(mg.checkpoint, "save_training_state") and hasattr(mg.checkpoint, "load_training_state")
    assert mg.checkpoint is not ucp


def _mlp_pair(seed=0):
    """The same 3 -> 5 -> 5 -> 2 MLP in torch and minigrad (float64, torch's weights)."""
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 5), torch.nn.Tanh(),
                             torch.nn.Linear(5, 2)).double()
    mm = mg.nn.Sequential(mg.nn.Linear(3, 5), mg.nn.Tanh(), mg.nn.Linear(5, 5), mg.nn.Tanh(),
                          mg.nn.Linear(5, 2)).double()
    mm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, mm


def _grads(module):
    return {n: p.grad.numpy().copy() for n, p in module.named_parameters()}


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpoint_gradients_equal_plain_ones_exactly_and_torch(use_reentrant):
    tm, mm = _mlp_pair()
    x = np.random.default_rng(0).standard_normal((4, 3))
    # plain minigrad
    xa = mg.tensor(x, requires_grad=True)
    mm(xa).square().sum().backward()
    plain, plain_x = _grads(mm), xa.grad.numpy().copy()
    mm.zero_grad()
    # checkpointed: the first two layers, then the rest
    first = mg.nn.Sequential(*list(mm.children())[:2])
    xb = mg.tensor(x, requires_grad=True)
    h = checkpoint(first, xb, use_reentrant=use_reentrant)
    assert h.requires_grad and h.grad_fn is not None
    out = mg.nn.Sequential(*list(mm.children())[2:])(h)
    out.square().sum().backward()
    for n, g in _grads(mm).items():
        np.testing.assert_array_equal(g, plain[n], err_msg=n)   # bit for bit
    np.testing.assert_array_equal(xb.grad.numpy(), plain_x)
    # and torch's checkpoint gives the same
    xt = torch.tensor(x, requires_grad=True)
    ht = t_checkpoint(torch.nn.Sequential(*list(tm.children())[:2]), xt, use_reentrant=use_reentrant)
    torch.nn.Sequential(*list(tm.children())[2:])(ht).square().sum().backward()
    for n, p in tm.named_parameters():
        np.testing.assert_allclose(plain[n], p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=n)
    np.testing.assert_allclose(plain_x, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_checkpoint_sequential_matches_torch_with_sgd_steps():
    tm, mm = _mlp_pair(1)
    topt, mopt = torch.optim.SGD(tm.parameters(), lr=0.1), mg.optim.SGD(mm.parameters(), lr=0.1)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
        for opt, model, cs, lib in [(topt, tm, t_checkpoint_sequential, torch), (mopt, mm, checkpoint_sequential, mg)]:
            opt.zero_grad()
            xin = lib.tensor(x, requires_grad=True)
            loss = ((cs(model, 2, xin, use_reentrant=False) - lib.tensor(y)) ** 2).mean()
            loss.backward()
            opt.step()
            if lib is torch:
                tl = loss.item()
            else:
                assert loss.item() == pytest.approx(tl, rel=1e-12)
    for n, p in tm.named_parameters():
        np.testing.assert_allclose(dict(mm.named_parameters())[n].numpy(), p.detach().numpy(), rtol=1e-10,
                                   err_msg=n)


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpoint_restores_rng_so_dropout_matches(use_reentrant):
    lin = mg.nn.Linear(4, 6).double()
    drop = mg.nn.Dropout(0.5)
    x = mg.tensor(np.random.default_rng(2).standard_normal((3, 4)), requires_grad=True)

    def block(t):
        return drop(lin(t).tanh())
    mg.manual_seed(7)
    plain_out = block(x)
    plain_out.sum().backward()
    plain_w, plain_x = lin.weight.grad.numpy().copy(), x.grad.numpy().copy()
    lin.zero_grad()
    x.grad = None
    mg.manual_seed(7)
    out = checkpoint(block, x, use_reentrant=use_reentrant)
    after_forward = mg.backend.get_rng_state()
    np.testing.assert_array_equal(out.numpy(), plain_out.numpy())
    out.sum().backward()
    np.testing.assert_array_equal(lin.weight.grad.numpy(), plain_w)
    np.testing.assert_array_equal(x.grad.numpy(), plain_x)
    # the recomputation leaves the generator where the program had it
    assert mg.backend.get_rng_state()["numpy"] == after_forward["numpy"]
    # without preserve_rng_state the recomputation draws another mask: the gradient differs
    lin.zero_grad()
    x.grad = None
    mg.manual_seed(7)
    checkpoint(block, x, use_reentrant=use_reentrant, preserve_rng_state=False).sum().backward()
    assert not np.array_equal(x.grad.numpy(), plain_x)


def test_checkpoint_non_tensor_args_multiple_outputs_and_kwargs_as_torch():
    def f(a, scale, b, tag):
        return a * scale + b, (a * b).sum(), tag

    def f_kw(a, b, *, power=2):
        return (a * b) ** power

    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    for ur in (True, False):
        am, bm = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
        at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        om = checkpoint(f, am, 3.0, bm, "tag", use_reentrant=ur)
        ot = t_checkpoint(f, at, 3.0, bt, "tag", use_reentrant=ur)
        assert isinstance(om, tuple) and len(om) == 3 and om[2] == ot[2] == "tag"
        (om[0].sum() * 2 + om[1]).backward()
        (ot[0].sum() * 2 + ot[1]).backward()
        np.testing.assert_allclose(am.grad.numpy(), at.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(bm.grad.numpy(), bt.grad.numpy(), rtol=1e-12)
    # an output that does not reach the loss gets a zero gradient (both outputs used or not)
    am = mg.tensor(a, requires_grad=True)
    checkpoint(f, am, 2.0, mg.tensor(b), None, use_reentrant=True)[0].sum().backward()
    np.testing.assert_allclose(am.grad.numpy(), np.full_like(a, 2.0))
    # keyword arguments: use_reentrant=False only, as torch
    am, at = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    checkpoint(f_kw, am, mg.tensor(b), power=3, use_reentrant=False).sum().backward()
    t_checkpoint(f_kw, at, torch.tensor(b), power=3, use_reentrant=False).sum().backward()
    np.testing.assert_allclose(am.grad.numpy(), at.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError):
        t_checkpoint(f_kw, at, torch.tensor(b), power=3, use_reentrant=True)
    with pytest.raises(ValueError, match="power"):
        checkpoint(f_kw, am, mg.tensor(b), power=3, use_reentrant=True)
    # dict and list outputs keep their structure
    out = checkpoint(lambda t: {"y": [t * 2, t.sum()]}, am, use_reentrant=False)
    assert set(out) == {"y"} and out["y"][0].requires_grad


def test_checkpoint_inputs_without_grad_as_torch():
    tm, mm = _mlp_pair(4)
    x = np.random.default_rng(4).standard_normal((2, 3))
    # use_reentrant=False: the parameters inside still get gradients
    checkpoint(mm, mg.tensor(x), use_reentrant=False).sum().backward()
    t_checkpoint(tm, torch.tensor(x), use_reentrant=False).sum().backward()
    for n, p in tm.named_parameters():
        np.testing.assert_allclose(dict(mm.named_parameters())[n].grad.numpy(), p.grad.numpy(), rtol=1e-10)
    # use_reentrant=True: a warning, and the output does not require grad (torch's behaviour)
    with pytest.warns(UserWarning, match="requires_grad"):
        out = checkpoint(mm, mg.tensor(x), use_reentrant=True)
    with pytest.warns(UserWarning):
        tout = t_checkpoint(tm, torch.tensor(x), use_reentrant=True)
    assert out.requires_grad is tout.requires_grad is False
    # a frozen Module with use_reentrant=False: nothing requires grad, as torch
    frozen = mg.nn.Linear(3, 2).double().requires_grad_(False)
    assert checkpoint(frozen, mg.tensor(x), use_reentrant=False).requires_grad is False
    # under no_grad: a plain call
    with mg.no_grad():
        assert checkpoint(mm, mg.tensor(x, requires_grad=True), use_reentrant=False).grad_fn is None


def test_checkpoint_use_reentrant_default_warns_as_torch():
    x = mg.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant"):
        checkpoint(lambda t: t * 2, x)
    with pytest.warns(UserWarning, match="use_reentrant"):
        t_checkpoint(lambda t: t * 2, torch.ones(2, requires_grad=True))
    with pytest.warns(UserWarning, match="use_reentrant"):
        checkpoint_sequential([lambda t: t * 2, lambda t: t + 1], 2, x)


def test_checkpoint_refuses_a_restricted_backward_clearly():
    w = mg.nn.Linear(2, 2).double()
    x = mg.tensor(np.ones((1, 2)), requires_grad=True)
    for ur in (True, False):
        out = checkpoint(w, x, use_reentrant=ur).sum()
        with pytest.raises(RuntimeError, match="restricted"):
            mg.autograd.grad(out, [x])
        out = checkpoint(w, x, use_reentrant=ur).sum()
        with pytest.raises(RuntimeError, match="restricted"):
            out.backward(inputs=[x])
    # torch refuses it for use_reentrant=True too
    xt = torch.ones(1, 2, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="use_reentrant"):
        torch.autograd.grad(t_checkpoint(torch.nn.Linear(2, 2).double(), xt, use_reentrant=True).sum(), [xt])
    # a plain backward afterwards works (the flag is not left set)
    checkpoint(w, x, use_reentrant=False).sum().backward()
    assert x.grad is not None


def test_checkpoint_nested_and_gradcheck(device):
    lin = mg.nn.Linear(3, 3).double().to(device)

    def inner(t):
        return lin(t).tanh()

    def outer(t):
        return checkpoint(inner, t, use_reentrant=False) * 2

    x = mg.tensor(np.random.default_rng(5).standard_normal((2, 3)), device=device, requires_grad=True)
    with warnings.catch_warnings():  # (gradcheck's finite differences call it on inputs without grad)
        warnings.simplefilter("ignore", UserWarning)
        gradcheck(lambda t: checkpoint(outer, t, use_reentrant=True), x)
    gradcheck(lambda t: checkpoint(inner, t, use_reentrant=False), x)


def test_checkpoint_sees_in_place_changes_to_saved_inputs():
    x = mg.ones(3, requires_grad=True)
    h = x * 1
    out = checkpoint(lambda t: t * t, h, use_reentrant=False)
    with mg.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError):
        out.sum().backward()
