"""minigrad.nn.utils.prune against torch.nn.utils.prune (torch's "Pruning Tutorial", ported).

Deterministic methods (l1/ln/global/custom/identity) are compared with torch exactly: the
masks, the re-parametrization (parameters, buffers, state_dict keys), outputs and gradients
in float64, after several iterative prunings and during training. Random methods can't
match torch's draws: they are checked for exact counts, binary masks and that iterative
pruning never revives a pruned entry. Ties: torch picks among equal scores with `topk`
(unspecified order, it changes with the tensor's size), minigrad prunes the lower index
first; parity tests use tie-free (random real) data and the tie rule is tested on its own.
"""
import copy
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn.functional as F
import minigrad.nn.utils.prune as prune
import models

torch = pytest.importorskip("torch")
import torch.nn.utils.prune as tprune  # noqa: E402

TOL = dict(rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------- helpers
def _np(t):
    if isinstance(t, mg.Tensor):
        return t.numpy()
    return t.detach().numpy()


def _same(a, b, what):
    np.testing.assert_allclose(_np(a), _np(b), err_msg=what, **TOL)


def _copy_into_ours(theirs, ours):
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})


def _layer_pair(kind, seed=0):
    """A torch layer and ours with the same float64 weights."""
    torch.manual_seed(seed)
    if kind == "linear":
        t, o = torch.nn.Linear(7, 5), mg.nn.Linear(7, 5)
    elif kind == "conv1d":
        t, o = torch.nn.Conv1d(3, 4, 3), mg.nn.Conv1d(3, 4, 3)
    elif kind == "conv2d":
        t, o = torch.nn.Conv2d(3, 4, 2), mg.nn.Conv2d(3, 4, 2)
    elif kind == "embedding":
        t, o = torch.nn.Embedding(9, 4), mg.nn.Embedding(9, 4)
    elif kind == "lstm":
        t, o = torch.nn.LSTM(3, 4), models.LSTM(3, 4)
    else:
        raise AssertionError(kind)
    t.double()
    o.double()
    _copy_into_ours(t, o)
    return t, o


def _layer_input(kind, rng):
    if kind == "linear":
        x = rng.standard_normal((3, 7))
    elif kind == "conv1d":
        x = rng.standard_normal((2, 3, 6))
    elif kind == "conv2d":
        x = rng.standard_normal((2, 3, 4, 4))
    elif kind == "embedding":
        x = rng.integers(0, 9, (2, 5))
    else:
        x = rng.standard_normal((5, 2, 3))
    return torch.tensor(x), mg.tensor(x)


def _output(y):
    return y[0] if isinstance(y, tuple) else y


def _forward_backward_match(t, o, kind, rng):
    """Same input and cotangent through both layers: outputs and every parameter's gradient equal."""
    xt, xo = _layer_input(kind, rng)
    yt, yo = _output(t(xt)), _output(o(xo))
    _same(yo, yt, f"{kind} output")
    cot = rng.standard_normal(tuple(yt.shape))
    t.zero_grad()
    o.zero_grad()
    (yt * torch.tensor(cot)).sum().backward()
    (yo * mg.tensor(cot)).sum().backward()
    theirs = dict(t.named_parameters())
    for name, p in o.named_parameters():
        assert p.grad is not None, name
        _same(p.grad, theirs[name].grad, f"{kind} grad of {name}")


def _assert_same_state(t, o, what=""):
    """Parameters/buffers/state_dict keys and values equal, and the attribute `name` too."""
    assert list(dict(o.named_parameters())) == list(dict(t.named_parameters())), what
    assert list(dict(o.named_buffers())) == list(dict(t.named_buffers())), what
    assert list(o.state_dict()) == list(t.state_dict()), what
    theirs = t.state_dict()
    for k, v in o.state_dict().items():
        np.testing.assert_array_equal(_np(v), _np(theirs[k]), err_msg=f"{what}: {k}")


# the pruning sequence applied to both libraries; each step is (function name, args, kwargs)
def _steps(kind):
    name = "weight_hh_l0" if kind == "lstm" else "weight"
    return name, [
        ("l1_unstructured", (name, 0.2), {}),
        ("ln_structured", (name, 1), dict(n=2, dim=0)),
        ("l1_unstructured", (name, 3), {}),
        ("ln_structured", (name, 0.34), dict(n=1, dim=-1)),
        ("ln_structured", (name, 1), dict(n=float("inf"), dim=0)),
        ("identity", (name,), {}),
        ("l1_unstructured", (name, 0.25), {}),
    ]


# ---------------------------------------------------------------- deterministic methods vs torch
@pytest.mark.parametrize("kind", ["linear", "conv1d", "conv2d", "embedding", "lstm"])
def test_iterative_pruning_matches_torch(kind):
    """Seven prunings of one tensor (l1, ln with n=2/1/inf, identity): masks, state, forwards, gradients."""
    rng = np.random.default_rng(1)
    t, o = _layer_pair(kind)
    name, steps = _steps(kind)
    for i, (fn, args, kw) in enumerate(steps):
        getattr(tprune, fn)(t, *args, **kw)
        getattr(prune, fn)(o, *args, **kw)
        _assert_same_state(t, o, f"{kind} after step {i} ({fn})")
        _forward_backward_match(t, o, kind, rng)
    hooks = [h for h in o._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]
    assert len(hooks) == 1 and isinstance(hooks[0], prune.PruningContainer)
    assert [type(m).__name__ for m in hooks[0]] == ["L1Unstructured", "LnStructured", "L1Unstructured",
                                                     "LnStructured", "LnStructured", "Identity", "L1Unstructured"]
    # pruned entries have zero gradient; the effective weight is orig * mask
    mask = _np(getattr(o, name + "_mask"))
    assert np.all(_np(getattr(o, name + "_orig").grad)[mask == 0] == 0)
    np.testing.assert_array_equal(_np(getattr(o, name)), _np(getattr(o, name + "_orig")) * mask)


@pytest.mark.parametrize("n", [1, 2, 3, 1.5, float("inf"), float("-inf"), "fro", None, -1])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_ln_structured_orders_match_torch(n, dim):
    """Every norm order torch.norm takes (but 0, which ties on dense data), on a Conv1d weight."""
    t, o = _layer_pair("conv1d")
    tprune.ln_structured(t, "weight", 2 if dim != 1 else 1, n=n, dim=dim)
    prune.ln_structured(o, "weight", 2 if dim != 1 else 1, n=n, dim=dim)
    _assert_same_state(t, o, f"n={n} dim={dim}")


def test_ln_structured_nuclear_norm_matches_torch():
    t, o = _layer_pair("conv2d")
    for dim in (0, 1):  # a 4-D weight: 'nuc' needs exactly two other dims, as torch
        with pytest.raises(RuntimeError, match="nuclear"):
            prune.ln_structured(o, "weight", 1, n="nuc", dim=dim)
    t, o = _layer_pair("conv1d")
    tprune.ln_structured(t, "weight", 2, n="nuc", dim=0)
    prune.ln_structured(o, "weight", 2, n="nuc", dim=0)
    _assert_same_state(t, o, "nuc")


def test_importance_scores_match_torch():
    rng = np.random.default_rng(2)
    t, o = _layer_pair("linear")
    s1, s2 = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    tprune.l1_unstructured(t, "weight", 0.3, importance_scores=torch.tensor(s1))
    prune.l1_unstructured(o, "weight", 0.3, importance_scores=mg.tensor(s1))
    _assert_same_state(t, o, "l1 importance")
    tprune.ln_structured(t, "weight", 2, n=2, dim=0, importance_scores=torch.tensor(s2))
    prune.ln_structured(o, "weight", 2, n=2, dim=0, importance_scores=mg.tensor(s2))
    _assert_same_state(t, o, "ln importance")
    _forward_backward_match(t, o, "linear", rng)


def test_custom_from_mask_and_bias_match_torch():
    rng = np.random.default_rng(3)
    t, o = _layer_pair("linear")
    m = (rng.random((5, 7)) > 0.3).astype(np.float64)
    tprune.custom_from_mask(t, "weight", torch.tensor(m))
    prune.custom_from_mask(o, "weight", mg.tensor(m))
    tprune.l1_unstructured(t, "weight", 0.5)
    prune.l1_unstructured(o, "weight", 0.5)
    tprune.custom_from_mask(t, "weight", torch.tensor(np.tril(np.ones((5, 7)))))
    prune.custom_from_mask(o, "weight", np.tril(np.ones((5, 7))))  # an array works too
    tprune.l1_unstructured(t, "bias", amount=2)
    prune.l1_unstructured(o, "bias", amount=2)
    _assert_same_state(t, o, "custom")
    _forward_backward_match(t, o, "linear", rng)


class _LeNetTorch(torch.nn.Module):
    """The tutorial's LeNet, tiny: conv-pool-conv-fc-fc on 1x8x8 images."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 3, 3)
        self.conv2 = torch.nn.Conv2d(3, 4, 2)
        self.fc1 = torch.nn.Linear(16, 10)
        self.fc2 = torch.nn.Linear(10, 3)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.relu(self.conv2(x)).flatten(1)
        return self.fc2(torch.relu(self.fc1(x)))


class _LeNetOurs(mg.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = mg.nn.Conv2d(1, 3, 3)
        self.conv2 = mg.nn.Conv2d(3, 4, 2)
        self.fc1 = mg.nn.Linear(16, 10)
        self.fc2 = mg.nn.Linear(10, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x)).flatten(1)
        return self.fc2(F.relu(self.fc1(x)))


def _lenets(seed=0):
    torch.manual_seed(seed)
    t = _LeNetTorch().double()
    o = _LeNetOurs().double()
    _copy_into_ours(t, o)
    return t, o


def _targets(net):
    return [(net.conv1, "weight"), (net.conv2, "weight"), (net.fc1, "weight"), (net.fc1, "bias"), (net.fc2, "weight")]


def test_global_unstructured_matches_torch():
    """Two global rounds over five tensors (one pruned before, one with importance scores)."""
    rng = np.random.default_rng(4)
    t, o = _lenets()
    tprune.ln_structured(t.conv2, "weight", 1, n=2, dim=0)
    prune.ln_structured(o.conv2, "weight", 1, n=2, dim=0)
    scores = rng.standard_normal((10, 16))
    tprune.global_unstructured(_targets(t), pruning_method=tprune.L1Unstructured, amount=0.2,
                               importance_scores={(t.fc1, "weight"): torch.tensor(scores)})
    prune.global_unstructured(_targets(o), pruning_method=prune.L1Unstructured, amount=0.2,
                              importance_scores={(o.fc1, "weight"): mg.tensor(scores)})
    _assert_same_state(t, o, "global round 1")
    tprune.global_unstructured(_targets(t), pruning_method=tprune.L1Unstructured, amount=40)
    prune.global_unstructured((p for p in _targets(o)), pruning_method=prune.L1Unstructured, amount=40)
    _assert_same_state(t, o, "global round 2")
    # the tutorial's sparsity report: 275 entries; conv2's channel (12), then 20% of the 263 left (53), then 40
    total = sum(float(_np(getattr(m, n) == 0).sum()) for m, n in _targets(o))
    assert sum(getattr(m, n).numel() for m, n in _targets(o)) == 275
    assert total == 12 + 53 + 40 == sum(float((getattr(m, n) == 0).sum()) for m, n in _targets(t))


def test_training_with_pruned_model_matches_torch():
    """SGD with momentum and weight decay on a pruned LeNet; prune again mid-training, remove, train on."""
    rng = np.random.default_rng(5)
    t, o = _lenets(1)
    x, y = rng.standard_normal((6, 1, 8, 8)), rng.integers(0, 3, 6)
    opt_t = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    opt_o = mg.optim.SGD(o.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)  # made before pruning

    def steps(n):
        for _ in range(n):
            for net, opt, lib, xx, yy in ((t, opt_t, torch, torch.tensor(x), torch.tensor(y)),
                                          (o, opt_o, mg, mg.tensor(x), mg.tensor(y))):
                opt.zero_grad()
                loss = (torch.nn.functional if lib is torch else F).cross_entropy(net(xx), yy)
                loss.backward()
                opt.step()
                if lib is torch:
                    lt = loss.item()
                else:
                    lo = loss.item()
            assert math.isclose(lo, lt, rel_tol=1e-9), (lo, lt)
        _assert_close_params(t, o)

    for lib, net in ((tprune, t), (prune, o)):
        lib.l1_unstructured(net.fc1, "weight", 0.5)
        lib.ln_structured(net.conv1, "weight", 1, n=2, dim=0)
        lib.random_unstructured(net.fc2, "bias", 0)  # an all-ones mask: the same on both sides
    steps(3)
    # pruned again after training: the scores are the weights of the last forward, as in torch
    for lib, net in ((tprune, t), (prune, o)):
        lib.global_unstructured(_targets(net), pruning_method=lib.L1Unstructured, amount=0.3)
    _assert_same_state_masks(t, o)
    steps(2)
    assert np.all(_np(o.fc1.weight)[_np(o.fc1.weight_mask) == 0] == 0)
    fc1_param = o.fc1.weight_orig
    for lib, net in ((tprune, t), (prune, o)):
        for m, n in _targets(net) + [(net.fc2, "bias")]:
            lib.remove(m, n)
    assert o.fc1.weight is fc1_param  # the same Parameter: the optimizer still updates it
    assert not prune.is_pruned(o)
    steps(2)  # pruned entries can grow back now (they are plain parameters again), as in torch
    assert list(o.state_dict()) == list(t.state_dict())


def _assert_close_params(t, o):
    theirs = t.state_dict()
    for k, v in o.state_dict().items():
        np.testing.assert_allclose(_np(v), _np(theirs[k]), err_msg=k, rtol=1e-7, atol=1e-10)


def _assert_same_state_masks(t, o):
    theirs = dict(t.named_buffers())
    for k, v in o.named_buffers():
        np.testing.assert_array_equal(_np(v), _np(theirs[k]), err_msg=k)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("fused", [True, False])
def test_pruned_recurrent_weight_trains_like_torch(kind, fused):
    """models.LSTM/GRU with a pruned weight_hh_l0 (the fused kernel reads the masked tensor): Adam steps."""
    rng = np.random.default_rng(6)
    torch.manual_seed(0)
    t = getattr(torch.nn, kind)(3, 4, num_layers=2).double()
    o = getattr(models, kind)(3, 4, num_layers=2, fused=fused, dtype="float64")
    _copy_into_ours(t, o)
    for lib, net in ((tprune, t), (prune, o)):
        lib.l1_unstructured(net, "weight_hh_l0", 0.4)
        lib.ln_structured(net, "weight_ih_l1", 1, n=2, dim=1)
    _assert_same_state(t, o, "lstm")
    opt_t, opt_o = torch.optim.Adam(t.parameters(), lr=0.01), mg.optim.Adam(o.parameters(), lr=0.01)
    x, target = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 4))
    for _ in range(3):
        opt_t.zero_grad()
        opt_o.zero_grad()
        lt = ((t(torch.tensor(x))[0] - torch.tensor(target)) ** 2).mean()
        lo = ((o(mg.tensor(x))[0] - mg.tensor(target)) ** 2).mean()
        lt.backward()
        lo.backward()
        assert math.isclose(lo.item(), lt.item(), rel_tol=1e-9)
        opt_t.step()
        opt_o.step()
    _assert_close_params(t, o)


# ---------------------------------------------------------------- state_dict both ways, remove
def test_pruned_state_dict_loads_both_ways():
    rng = np.random.default_rng(7)
    t, o = _lenets(2)
    # different masks on each side, then loading carries weight_orig and weight_mask across
    tprune.l1_unstructured(t.fc1, "weight", 0.5)
    tprune.ln_structured(t.conv1, "weight", 1, n=1, dim=0)
    prune.random_unstructured(o.fc1, "weight", 0.5)
    prune.random_structured(o.conv1, "weight", 2, dim=0)
    o.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    x = rng.standard_normal((2, 1, 8, 8))
    _same(o(mg.tensor(x)), t(torch.tensor(x)), "torch -> ours")
    # and back: ours pruned further, into a fresh pruned torch model
    prune.l1_unstructured(o.fc1, "weight", 0.5)
    t2 = _LeNetTorch().double()
    tprune.identity(t2.fc1, "weight")
    tprune.identity(t2.conv1, "weight")
    t2.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in o.state_dict().items()})
    _same(o(mg.tensor(x)), t2(torch.tensor(x)), "ours -> torch")
    np.testing.assert_array_equal(_np(t2.fc1.weight_mask), _np(o.fc1.weight_mask))


def test_remove_makes_pruning_permanent_like_torch():
    rng = np.random.default_rng(8)
    t, o = _layer_pair("conv2d")
    param = o.weight
    for lib, net in ((tprune, t), (prune, o)):
        lib.l1_unstructured(net, "weight", 0.5)
        lib.l1_unstructured(net, "bias", 1)
        lib.remove(net, "weight")
    _assert_same_state(t, o, "after remove(weight)")
    assert o.weight is param and isinstance(o.weight, mg.nn.Parameter)
    assert not hasattr(o, "weight_orig") and not hasattr(o, "weight_mask")  # no stale attributes
    assert prune.is_pruned(o)
    _forward_backward_match(t, o, "conv2d", rng)
    prune.remove(o, "bias")
    tprune.remove(t, "bias")
    assert not prune.is_pruned(o)
    _assert_same_state(t, o, "after remove(bias)")
    with pytest.raises(ValueError, match="has to be pruned before pruning can be removed"):
        prune.remove(o, "weight")


# ---------------------------------------------------------------- random methods
def test_random_unstructured_counts_and_never_revives():
    lin = mg.nn.Linear(10, 7)  # 70 entries
    alive = 70
    prev = np.ones((7, 10))
    for amount in (0.1, 5, 0.5, 0.25, 0, 3, 1.0):  # fractions count among the entries still alive
        prune.random_unstructured(lin, "weight", amount)
        mask = _np(lin.weight_mask)
        k = amount if isinstance(amount, int) else round(amount * alive)
        alive -= k
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert mask.sum() == alive, (amount, mask.sum(), alive)
        assert np.all(mask[prev == 0] == 0), "a pruned entry came back"
        prev = mask
    assert alive == 0 and lin.weight_mask.dtype == mg.float32
    with pytest.raises(ValueError, match="smaller than the number of parameters"):
        prune.random_unstructured(lin, "weight", 1)  # nothing left to prune


def test_random_structured_counts_and_never_revives():
    conv = mg.nn.Conv2d(3, 8, 2)
    prune.l1_unstructured(conv, "weight", 10)  # entries pruned inside channels
    prev = _np(conv.weight_mask)
    channels_alive = 8
    for amount in (2, 0.5, 1):
        prune.random_structured(conv, "weight", amount, dim=0)
        mask = _np(conv.weight_mask)
        k = amount if isinstance(amount, int) else round(amount * channels_alive)
        channels_alive -= k
        per_channel = mask.reshape(8, -1)
        assert (per_channel.sum(1) > 0).sum() == channels_alive
        assert np.all(mask[prev == 0] == 0)
        # a channel is either whole (as before) or all zero
        for c in range(8):
            assert per_channel[c].sum() == 0 or np.array_equal(per_channel[c], prev.reshape(8, -1)[c])
        prev = mask
    assert channels_alive == 2


def test_random_pruning_is_reproducible_under_manual_seed():
    masks = []
    for _ in range(2):
        mg.manual_seed(11)
        lin = mg.nn.Linear(6, 6)
        prune.random_unstructured(lin, "weight", 0.5)
        prune.random_structured(lin, "weight", 2, dim=1)
        masks.append(_np(lin.weight_mask))
    np.testing.assert_array_equal(masks[0], masks[1])


@given(rows=st.integers(2, 5), cols=st.integers(1, 5), fractions=st.lists(st.floats(0, 1), min_size=1, max_size=4),
       seed=st.integers(0, 2**16))
def test_iterative_l1_and_random_property(rows, cols, fractions, seed):
    """Mixed iterative L1/random pruning of generated shapes: torch's exact masks for L1 on top of our
    random masks (copied to torch as custom masks), counts of the survivors at every step."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols))
    t, o = torch.nn.Linear(cols, rows).double(), mg.nn.Linear(cols, rows).double()
    with torch.no_grad():
        t.weight.copy_(torch.tensor(w))
    _copy_into_ours(t, o)
    mg.manual_seed(seed)
    alive = rows * cols
    for i, f in enumerate(fractions):
        if i % 2:
            prune.random_unstructured(o, "weight", f)
            tprune.custom_from_mask(t, "weight", torch.tensor(_np(o.weight_mask)))
        else:
            prune.l1_unstructured(o, "weight", f)
            tprune.l1_unstructured(t, "weight", f)
        alive -= round(f * alive)
        np.testing.assert_array_equal(_np(o.weight_mask), _np(t.weight_mask))
        assert _np(o.weight_mask).sum() == alive


# ---------------------------------------------------------------- ties, dtypes, devices, API
def test_ties_prune_the_lower_index_first():
    """torch's choice among equal scores is unspecified (its topk); minigrad's: lower flat index first."""
    lin = mg.nn.Linear(4, 3)
    with mg.no_grad():
        lin.weight.fill_(1.0)
    prune.l1_unstructured(lin, "weight", 5)
    np.testing.assert_array_equal(_np(lin.weight_mask).reshape(-1), [0] * 5 + [1] * 7)
    # column norms now 1, sqrt(2), sqrt(2), sqrt(2): column 0, then the first of the tied ones
    prune.ln_structured(lin, "weight", 2, n=2, dim=1)
    np.testing.assert_array_equal(_np(lin.weight_mask).sum(0), [0, 0, 2, 2])
    t = torch.nn.Linear(4, 3)  # torch on the same data: the same counts, whichever entries
    with torch.no_grad():
        t.weight.fill_(1.0)
    tprune.l1_unstructured(t, "weight", 5)
    assert float(t.weight_mask.sum()) == 7


def test_float32_stays_float32_and_gradient_flows(device):
    lin = mg.nn.Linear(4, 3).to(device)
    prune.random_structured(lin, "weight", 1, dim=0)
    prune.l1_unstructured(lin, "weight", 0.5)
    prune.identity(lin, "bias")
    prune.global_unstructured([(lin, "weight"), (lin, "bias")], prune.L1Unstructured, amount=2)
    assert lin.weight_mask.dtype == mg.float32 and lin.weight.dtype == mg.float32
    assert lin.weight_mask.device == lin.weight_orig.device == lin.weight.device
    x = mg.randn(2, 4, device=device)
    lin(x).sum().backward()
    g = lin.weight_orig.grad
    assert g.dtype == mg.float32 and g.device == lin.weight_orig.device
    mask = _np(lin.weight_mask)
    np.testing.assert_allclose(_np(g), mask * _np(x).sum(0)[None, :] * 1.0, rtol=1e-6)
    # a row (4 of 12), half of the 8 left (4), then 2 of the 4 + 3 alive in weight and bias together
    assert _np(lin.weight_mask).sum() + _np(lin.bias_mask).sum() == 5
    assert set(np.unique(_np(lin.weight_mask))) <= {0.0, 1.0}


def test_gradcheck_through_pruned_layer():
    from minigrad.testing import gradcheck
    lin = mg.nn.Linear(4, 3).double()
    prune.l1_unstructured(lin, "weight", 0.5)
    x = mg.randn(2, 4, dtype="float64")
    assert gradcheck(lambda w: F.linear(x, lin.weight_mask * w, lin.bias), lin.weight_orig)


def test_prune_method_on_a_tensor_and_container_api():
    rng = np.random.default_rng(9)
    a = rng.standard_normal((3, 4))
    ours = prune.L1Unstructured(0.5).prune(mg.tensor(a, requires_grad=True))
    theirs = tprune.L1Unstructured(0.5).prune(torch.tensor(a))
    np.testing.assert_array_equal(_np(ours), _np(theirs))
    ours.sum().backward()  # differentiable w.r.t. t
    s = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(
        _np(prune.LnStructured(1, 2, dim=0).prune(mg.tensor(a), importance_scores=mg.tensor(s))),
        _np(tprune.LnStructured(1, 2, dim=0).prune(torch.tensor(a), importance_scores=torch.tensor(s))))

    lin = mg.nn.Linear(3, 2)
    c = prune.L1Unstructured.apply(lin, "weight", 1)
    assert isinstance(c, prune.L1Unstructured)
    c = prune.RandomUnstructured.apply(lin, "weight", 1)
    assert isinstance(c, prune.PruningContainer) and len(c) == 2
    assert isinstance(c[0], prune.L1Unstructured) and [type(m) for m in c][1] is prune.RandomUnstructured
    assert prune.Identity.apply(lin, "weight") is c and len(c) == 3  # the same container grows
    with pytest.raises(TypeError, match="not a BasePruningMethod"):
        c.add_pruning_method("l1")
    other = prune.L1Unstructured(1)
    other._tensor_name = "bias"
    with pytest.raises(ValueError, match="parameter named 'weight'"):
        c.add_pruning_method(other)
    many = prune.PruningContainer(c[0], c[1])  # several methods of one tensor (an AttributeError in torch)
    assert many._tensor_name == "weight" and len(many) == 2


class _EveryOther:
    """The tutorial's FooBarPruningMethod, for either library (prunes every other still-alive entry)."""

    @staticmethod
    def make(base):
        class FooBar(base):
            PRUNING_TYPE = "unstructured"

            def compute_mask(self, t, default_mask):
                mask = default_mask.clone()
                mask.view(-1)[::2] = 0
                return mask
        return FooBar


def test_tutorial_custom_method_matches_torch():
    t, o = _layer_pair("linear")
    FT, FO = _EveryOther.make(tprune.BasePruningMethod), _EveryOther.make(prune.BasePruningMethod)
    for _ in range(2):  # the second time it acts on the survivors only (through the container)
        FT.apply(t, "bias")
        FO.apply(o, "bias")
        FT.apply(t, "weight")
        FO.apply(o, "weight")
        _assert_same_state(t, o, "FooBar")
    assert _np(o.bias_mask).tolist() == [0, 0, 0, 1, 0]


def test_deepcopy_and_dtype_moves_of_a_pruned_module():
    lin = mg.nn.Linear(4, 3)
    prune.l1_unstructured(lin, "weight", 0.5)
    twin = copy.deepcopy(lin)
    assert prune.is_pruned(twin) and twin.weight_orig is not lin.weight_orig
    x = mg.randn(2, 4)
    np.testing.assert_array_equal(_np(twin(x)), _np(lin(x)))
    lin.double()
    assert lin.weight_mask.dtype == mg.float64 and lin(x.double()).dtype == mg.float64


# ---------------------------------------------------------------- errors (torch's types)
def _error_type(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return type(e)
    return None


@pytest.mark.parametrize("call", [
    ("l1_unstructured", ("weight", -1), {}),
    ("l1_unstructured", ("weight", 1.5), {}),
    ("l1_unstructured", ("weight", -0.1), {}),
    ("l1_unstructured", ("weight", "a lot"), {}),
    ("l1_unstructured", ("weight", None), {}),
    ("l1_unstructured", ("weight", 13), {}),
    ("random_unstructured", ("weight", 13), {}),
    ("random_structured", ("weight", 4, 0), {}),
    ("l1_unstructured", ("foo", 1), {}),
    ("l1_unstructured", ("buf", 1), {}),
    ("ln_structured", ("bias", 1, 2, 0), {}),
    ("ln_structured", ("weight", 1, 2, 2), {}),
    ("ln_structured", ("weight", 1, 2, -3), {}),
    ("ln_structured", ("weight", 1, "abc", 0), {}),
    ("ln_structured", ("weight", 1, "nuc", 0), {}),
    ("random_structured", ("bias", 1, 0), {}),
    ("l1_unstructured", ("weight", 1), dict(importance_scores="ones3")),
    ("custom_from_mask", ("weight", "ones3"), {}),
    ("remove", ("weight",), {}),
])
@pytest.mark.parametrize("pruned_before", [False, True])
def test_errors_match_torch_types_and_leave_the_module_intact(call, pruned_before):
    fn, args, kw = call

    def make(lib, nn):
        m = nn.Linear(4, 3).double()
        m.register_buffer("buf", (torch if lib is tprune else mg).ones(3))
        if pruned_before:
            lib.l1_unstructured(m, "weight", 2)
        return m

    def run(lib, nn, ones):
        m = make(lib, nn)
        a = tuple(ones(3) if x == "ones3" else x for x in args)
        k = {key: ones(3) if v == "ones3" else v for key, v in kw.items()}
        return lambda: getattr(lib, fn)(m, *a, **k)

    theirs = _error_type(run(tprune, torch.nn, lambda n: torch.ones(n)))
    ours = _error_type(run(prune, mg.nn, lambda n: mg.ones(n)))
    if fn == "remove" and pruned_before:
        assert theirs is None and ours is None
        return
    assert theirs is not None and ours is theirs, (fn, args, theirs, ours)
    # minigrad leaves the module as it was (torch drops the old hook when a second pruning fails)
    m = make(prune, mg.nn)
    params = {k: id(v) for k, v in m.named_parameters()}
    buffers = {k: id(v) for k, v in m.named_buffers()}
    hooks = list(m.__dict__.get("_forward_pre_hooks", {}).values())
    a = tuple(mg.ones(3) if x == "ones3" else x for x in args)
    with pytest.raises(theirs):
        getattr(prune, fn)(m, *a, **{key: mg.ones(3) if v == "ones3" else v for key, v in kw.items()})
    assert {k: id(v) for k, v in m.named_parameters()} == params
    assert {k: id(v) for k, v in m.named_buffers()} == buffers
    assert list(m.__dict__.get("_forward_pre_hooks", {}).values()) == hooks
    assert not any(isinstance(h, prune.PruningContainer) for h in hooks)  # nothing appended to the old method
    m(mg.ones(1, 4, dtype="float64"))  # still works


def test_error_messages_are_clear():
    lin = mg.nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"amount=-1 should either be a float in the range \[0, 1\]"):
        prune.l1_unstructured(lin, "weight", -1)
    with pytest.raises(TypeError, match="invalid type for amount: 'x'"):
        prune.RandomUnstructured("x")
    with pytest.raises(AttributeError, match=r"no attribute 'wieght'.*'weight', 'bias'"):
        prune.l1_unstructured(lin, "wieght", 1)
    with pytest.raises(TypeError, match="is None"):
        prune.l1_unstructured(mg.nn.Linear(2, 2, bias=False), "bias", 1)
    assert "bias" not in dict(mg.nn.Linear(2, 2, bias=False).named_parameters())
    with pytest.raises(IndexError, match=r"dim=5 for a tensor of shape \(3, 4\)"):
        prune.ln_structured(lin, "weight", 1, n=2, dim=5)
    with pytest.raises(ValueError, match="multidimensional"):
        prune.random_structured(lin, "bias", 1, dim=0)
    with pytest.raises(AssertionError, match=r"importance_scores should have the same shape.*\(2,\) vs \(3, 4\)"):
        prune.l1_unstructured(lin, "weight", 1, importance_scores=mg.ones(2))
    with pytest.raises(TypeError, match="parameters is not an Iterable"):
        prune.global_unstructured(5, prune.L1Unstructured, amount=1)
    with pytest.raises(TypeError, match="importance_scores must be of type dict"):
        prune.global_unstructured([(lin, "weight")], prune.L1Unstructured, importance_scores=[1], amount=1)
    with pytest.raises(TypeError, match='Only "unstructured"'):
        prune.global_unstructured([(lin, "weight")], prune.RandomStructured, amount=1)
    with pytest.raises(TypeError, match=r"\(module, name\) pairs"):
        prune.global_unstructured([lin.weight], prune.L1Unstructured, amount=1)
    assert not prune.is_pruned(lin)

    class WrongShape(prune.BasePruningMethod):
        PRUNING_TYPE = "unstructured"

        def compute_mask(self, t, default_mask):
            return mg.ones(2)
    with pytest.raises(RuntimeError, match=r"mask of shape \(2,\) for 'weight' of shape \(3, 4\)"):
        WrongShape.apply(lin, "weight")

    class NoReturn(prune.BasePruningMethod):
        PRUNING_TYPE = "unstructured"

        def compute_mask(self, t, default_mask):
            default_mask.clone()
    with pytest.raises(TypeError, match="compute_mask must return a Tensor"):
        NoReturn.apply(lin, "weight")
    assert not prune.is_pruned(lin) and "weight" in dict(lin.named_parameters())
    # importance scores may be an array (converted), checked for shape the same way
    prune.l1_unstructured(lin, "weight", 1, importance_scores=np.arange(12.0).reshape(3, 4))
    assert _np(lin.weight_mask).reshape(-1).tolist() == [0] + [1] * 11


def test_exported_where_torch_has_it():
    assert mg.nn.utils.prune is prune
    for name in ("BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured", "L1Unstructured",
                 "RandomStructured", "LnStructured", "CustomFromMask", "identity", "random_unstructured",
                 "l1_unstructured", "random_structured", "ln_structured", "global_unstructured",
                 "custom_from_mask", "remove", "is_pruned"):
        assert hasattr(prune, name) and hasattr(tprune, name), name
