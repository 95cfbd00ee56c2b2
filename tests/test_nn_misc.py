"""nn extras and Module parity with torch: F.softmax/log_softmax's full signature (dim=None, dtype=),
nn.Softmax(dim=None), nn.Identity, nn.LazyLinear, LayerNorm(bias=False), and Module's traversal
(apply, modules, children, named_modules), modes, zero_grad, repr, non-persistent buffers, dtype
casts and load_state_dict(strict=False, assign=) checked against torch on the same small model.
"""
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.testing import gradcheck

from opcheck import call_with


# ================================================================ softmax's full signature
def test_softmax_dim_none_uses_torchs_implicit_dim_and_warns():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for shape in [(), (4,), (2, 3), (2, 3, 4), (2, 3, 2, 2)]:
        x = rng.standard_normal(shape)
        for ours, theirs in [(F.softmax, torch.nn.functional.softmax),
                             (F.log_softmax, torch.nn.functional.log_softmax)]:
            with pytest.warns(UserWarning, match="Implicit dimension choice"):
                y = ours(mg.tensor(x))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yt = theirs(torch.tensor(x))
            np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-12, atol=1e-14)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.testing.assert_allclose(nn.Softmax()(mg.tensor(x)).numpy(),
                                       torch.nn.Softmax()(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(nn.LogSoftmax()(mg.tensor(x)).numpy(),
                                       torch.nn.LogSoftmax()(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-14)
    assert repr(nn.Softmax()) == repr(torch.nn.Softmax()) == "Softmax(dim=None)"
    assert repr(nn.LogSoftmax(dim=1)) == repr(torch.nn.LogSoftmax(dim=1))


def test_softmax_dtype_argument_computes_in_that_dtype(device):
    x = mg.tensor([[1.0, 2.0, 3.0]], device=device, requires_grad=True)
    y = F.softmax(x, dim=-1, dtype=mg.float64)
    assert y.dtype == mg.float64 and x.dtype == mg.float32
    y.sum().backward()
    assert x.grad.dtype == mg.float32  # the gradient has the dtype of what it belongs to
    ints = mg.tensor([0, 1, 2], device=device)
    np.testing.assert_allclose(F.log_softmax(ints, 0, dtype=mg.float32).numpy(),
                               np.log(np.exp([0, 1, 2]) / np.exp([0, 1, 2]).sum()), rtol=1e-6)
    with pytest.raises(TypeError, match=r"softmax: expected a floating-point"):
        F.softmax(ints, 0)
    gradcheck(lambda t: F.log_softmax(t, 1, dtype=mg.float64),
              mg.tensor(np.random.default_rng(1).standard_normal((2, 3)), device=device, requires_grad=True))


# ================================================================ small modules
def test_identity_ignores_its_arguments_and_layer_norm_bias_false_matches_torch():
    torch = pytest.importorskip("torch")
    x = mg.randn(2, 3)
    assert nn.Identity(54, unused="argument")(x) is x
    ours = nn.LayerNorm(3, bias=False, dtype=mg.float64)
    theirs = torch.nn.LayerNorm(3, bias=False, dtype=torch.float64)
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor([0.5, -1.0, 2.0]))
    ours.load_state_dict(theirs.state_dict())
    a = np.random.default_rng(2).standard_normal((4, 3))
    np.testing.assert_allclose(ours(mg.tensor(a)).numpy(), theirs(torch.tensor(a)).detach().numpy(), rtol=1e-12)


def test_lazy_linear_infers_in_features_and_becomes_a_linear(device):
    torch = pytest.importorskip("torch")
    lazy = nn.LazyLinear(3, device=device, dtype=mg.float64)
    assert repr(lazy) == repr(torch.nn.LazyLinear(3)) == "LazyLinear(in_features=0, out_features=3, bias=True)"
    assert isinstance(lazy.weight, nn.UninitializedParameter) and repr(lazy.weight) == "<UninitializedParameter>"
    weight = lazy.weight
    opt = mg.optim.SGD(lazy.parameters(), lr=0.1)  # built before the first call: the same objects materialise
    mg.manual_seed(5)
    x = mg.tensor(np.random.default_rng(3).standard_normal((2, 4)), device=device)
    y = lazy(x)
    assert type(lazy) is nn.Linear and lazy.in_features == 4 and lazy.weight is weight
    assert type(lazy.weight) is nn.Parameter and lazy.weight.shape == (3, 4) and lazy.weight.dtype == mg.float64
    assert lazy.weight.device == x.device and y.shape == (2, 3)
    bound = 1 / np.sqrt(4)  # Linear's init: U(-1/sqrt(in), 1/sqrt(in))
    assert np.abs(lazy.weight.numpy()).max() <= bound and np.abs(lazy.bias.numpy()).max() <= bound
    mg.manual_seed(5)
    ref = nn.Linear(4, 3, dtype=mg.float64)  # the same draws as a Linear made at that point
    np.testing.assert_array_equal(lazy.weight.numpy(), ref.weight.numpy())
    y.sum().backward()
    before = lazy.weight.numpy().copy()
    opt.step()
    assert not np.array_equal(before, lazy.weight.numpy())
    gradcheck(lambda w, b: call_with(lazy, [w, b], lambda: lazy(x)), lazy.weight.detach().requires_grad_(),
              lazy.bias.detach().requires_grad_())
    # torch's state loads into the materialised module
    theirs = torch.nn.Linear(4, 3, dtype=torch.float64)
    lazy.load_state_dict(theirs.state_dict())
    np.testing.assert_array_equal(lazy.weight.numpy(), theirs.weight.detach().numpy())
    assert nn.LazyLinear(2, bias=False).bias is None
    with pytest.raises(ValueError, match=r"LazyLinear: cannot infer in_features"):
        nn.LazyLinear(2)(mg.tensor(1.0))
    with pytest.raises(RuntimeError, match=r"shape mismatches: weight"):
        nn.LazyLinear(3).load_state_dict(nn.Linear(4, 3).state_dict())  # documented: call it once first


# ================================================================ Module parity on one small model
def _models(torch):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)
            self.register_buffer("scale", mg.ones(2))
            self.register_buffer("cache", mg.zeros(2), persistent=False)
            self.register_buffer("steps", mg.tensor(0))

        def extra_repr(self):
            return "note=1"

    class TBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)
            self.register_buffer("scale", torch.ones(2))
            self.register_buffer("cache", torch.zeros(2), persistent=False)
            self.register_buffer("steps", torch.tensor(0))

        def extra_repr(self):
            return "note=1"

    Block.__name__ = TBlock.__name__ = "Block"
    ours = nn.Sequential(Block(), nn.ReLU(), nn.Sequential(nn.Linear(2, 2), nn.Tanh()), nn.BatchNorm1d(2))
    theirs = torch.nn.Sequential(TBlock(), torch.nn.ReLU(), torch.nn.Sequential(torch.nn.Linear(2, 2),
                                                                                torch.nn.Tanh()),
                                 torch.nn.BatchNorm1d(2))
    return ours, theirs


def test_traversal_modes_and_repr_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _models(torch)
    assert repr(ours) == repr(theirs)
    seen, seen_t = [], []
    assert ours.apply(lambda m: seen.append(type(m).__name__)) is ours
    theirs.apply(lambda m: seen_t.append(type(m).__name__))
    assert seen == seen_t  # post-order: each child's subtree, then the parent
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_modules(prefix="net")] == [n for n, _ in theirs.named_modules(prefix="net")]
    assert [type(m).__name__ for m in ours.children()] == [type(m).__name__ for m in theirs.children()]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in theirs.modules()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    own_buffers = [n for n, _ in theirs[0].named_buffers(recurse=False)]
    assert [n for n, _ in ours[0].named_buffers(recurse=False)] == own_buffers == ["scale", "cache", "steps"]
    assert [n for n, _ in ours[0].named_parameters(recurse=False)] == []
    assert list(ours.state_dict()) == list(theirs.state_dict())  # torch's order; `cache` is not saved
    ours.eval(), theirs.eval()
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()] == [False] * 8
    ours[2].train()
    assert [m.training for m in ours.modules()] == [False, False, False, False, True, True, True, False]
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        ours.train("yes")
    assert ours.requires_grad_(False) is ours and not any(p.requires_grad for p in ours.parameters())
    ours.requires_grad_()
    # a module registered under two names: each structure once, as torch
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, shared)
    shared_t = torch.nn.Linear(2, 2)
    twice_t = torch.nn.Sequential(shared_t, shared_t)
    assert len(list(twice.children())) == len(list(twice_t.children())) == 1
    assert [n for n, _ in twice.named_modules()] == [n for n, _ in twice_t.named_modules()]
    assert ([n for n, _ in twice.named_modules(remove_duplicate=False)]
            == [n for n, _ in twice_t.named_modules(remove_duplicate=False)])
    assert ([n for n, _ in twice.named_parameters(remove_duplicate=False)]
            == [n for n, _ in twice_t.named_parameters(remove_duplicate=False)])


def test_zero_grad_set_to_none_and_not():
    net = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    net(mg.randn(4, 3)).sum().backward()
    assert all(p.grad is not None and p.grad.numpy().any() for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() and p.grad.shape == p.shape for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_non_persistent_buffers_casts_and_load_state_dict_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _models(torch)
    state = theirs.state_dict()
    assert "0.cache" not in state and "0.cache" in dict(ours.named_buffers())
    assert ours.load_state_dict(state).__repr__() == "<All keys matched successfully>"
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k].numpy(), err_msg=k)
    # strict=False reports what torch reports
    partial = {"0.lin.weight": np.zeros((2, 3)), "extra": np.zeros(1)}
    result = ours.load_state_dict(partial, strict=False)
    expected = theirs.load_state_dict({"0.lin.weight": torch.zeros(2, 3), "extra": torch.zeros(1)}, strict=False)
    # (torch's BatchNorm quietly fills in a missing num_batches_tracked for pre-1.0 checkpoints; we report it)
    assert [k for k in result.missing_keys if k != "3.num_batches_tracked"] == expected.missing_keys
    assert result.unexpected_keys == expected.unexpected_keys == ["extra"]
    missing, unexpected = result
    assert missing == result.missing_keys and unexpected == ["extra"] and not ours[0].lin.weight.numpy().any()
    with pytest.raises(RuntimeError, match=r"missing keys: .*unexpected keys: extra"):
        ours.load_state_dict(partial)
    # casts: floating parameters AND floating buffers (non-persistent too); integer buffers keep theirs
    for method, dtype in [("double", mg.float64), ("half", mg.float16), ("float", mg.float32)]:
        assert getattr(ours, method)() is ours
        getattr(theirs, method)()
        assert ours[0].scale.dtype == ours[0].cache.dtype == ours[0].lin.weight.dtype == dtype
        assert ours[3].running_var.dtype == dtype and ours[3].num_batches_tracked.dtype == mg.int64
        assert ours[0].steps.dtype == mg.int64
        assert str(theirs[0].cache.dtype) == f"torch.{np.dtype(dtype).name}"
    ours.to(mg.float64)
    assert ours[0].cache.dtype == mg.float64
    with pytest.raises(TypeError, match="only floating dtypes"):
        ours.to(mg.int32)


def test_load_state_dict_assign_uses_the_given_tensors():
    torch = pytest.importorskip("torch")
    ours = nn.Linear(2, 3)
    ours.bias.requires_grad_(False)
    weight = mg.zeros(3, 2, dtype=mg.float64)
    bias = mg.ones(3, dtype=mg.float64)
    result = ours.load_state_dict({"weight": weight, "bias": bias}, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert ours.weight.data is weight.data and ours.weight.dtype == mg.float64  # the given tensor, not a copy
    assert isinstance(ours.weight, nn.Parameter) and ours.weight.requires_grad
    assert isinstance(ours.bias, nn.Parameter) and not ours.bias.requires_grad  # requires_grad kept
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]
    theirs = torch.nn.Linear(2, 3)
    theirs.load_state_dict({"weight": torch.zeros(3, 2, dtype=torch.float64), "bias": torch.ones(3,
                                                                                                  dtype=torch.float64)},
                           assign=True)
    assert theirs.weight.dtype == torch.float64  # torch keeps the given dtype too
    bn = nn.BatchNorm1d(2)
    rm = mg.tensor([1.0, 2.0])
    bn.load_state_dict({**bn.state_dict(), "running_mean": rm}, assign=True)
    assert bn.running_mean is not None and bn.running_mean.data is rm.data
    assert "running_mean" in dict(bn.named_buffers())
    # assign=False (default) copies into the module's own tensors, keeping their dtype
    plain = nn.Linear(2, 3)
    w = plain.weight
    plain.load_state_dict({"weight": weight, "bias": bias})
    assert plain.weight is w and plain.weight.dtype == mg.float32
