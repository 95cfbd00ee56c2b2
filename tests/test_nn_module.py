"""nn.Module and nn.Parameter: registration, traversal, modes, device/dtype moves, state dicts, printing."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class Block(nn.Module):
    """A small module with a parameter, a sub-module, a buffer and a shared sub-module."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(mg.ones(3))
        self.lin = nn.Linear(3, 2)
        self.register_buffer("steps", mg.zeros(1, dtype="int64"))
        self.register_buffer("running", mg.zeros(3))

    def forward(self, x):
        return self.lin(x * self.scale)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(2, 4, bias=False)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.head(self.drop(self.block(x)))


# ---------------------------------------------------------------- registration and traversal
def test_parameter_is_a_leaf_that_requires_grad():
    p = nn.Parameter(mg.randn(2, 3))
    assert isinstance(p, mg.Tensor) and p.requires_grad and p.is_leaf and p.dtype == np.float32
    assert repr(p).startswith("Parameter containing:")
    frozen = nn.Parameter(mg.randn(2), requires_grad=False)
    assert not frozen.requires_grad
    t = mg.randn(4)
    shared = nn.Parameter(t)
    assert shared.data is t.data  # wraps the same memory, as torch's Parameter(t)


def test_named_parameters_have_dotted_names_in_registration_order():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["block.scale", "block.lin.weight", "block.lin.bias", "head.weight"]
    assert [tuple(p.shape) for p in net.parameters()] == [(3,), (2, 3), (2,), (4, 2)]
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert [n for n, _ in net.block.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_buffers()] == ["block.steps", "block.running"]


def test_get_submodule_parameter_buffer_by_dotted_path():
    net = Net()
    assert net.get_submodule("") is net and net.get_submodule("block.lin") is net.block.lin
    assert net.get_parameter("block.lin.weight") is net.block.lin.weight
    assert net.get_parameter("head.weight") is net.head.weight
    assert net.get_buffer("block.running") is net.block.running
    with pytest.raises(AttributeError, match="get_submodule: block has no submodule 'linear'.*'lin'"):
        net.get_submodule("block.linear.weight")
    with pytest.raises(AttributeError, match="get_parameter: Linear at 'block.lin' has no parameter 'w'.*'bias', 'weight'"):
        net.get_parameter("block.lin.w")
    with pytest.raises(AttributeError, match="get_buffer: Block at 'block' has no buffer 'scale'"):
        net.get_buffer("block.scale")  # a parameter, not a buffer
    net.register_module("extra", nn.Linear(1, 1))
    assert net.get_submodule("extra") is net.extra


def test_children_and_modules():
    net = Net()
    assert [type(m).__name__ for m in net.children()] == ["Block", "Linear", "Dropout"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.lin", "head", "drop"]
    assert len(list(net.modules())) == 5


def test_shared_parameter_and_module_are_listed_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = self.a  # the same module twice
            self.w = self.a.weight  # and one of its parameters under a second name

    m = Tied()
    assert len(list(m.parameters())) == 2
    assert [n for n, _ in m.named_parameters()] == ["w", "a.bias"]  # first name met wins
    assert [n for n, _ in m.named_modules()] == ["", "a"]
    assert m.num_parameters() == 6


def test_assignment_registers_replaces_and_unregisters():
    m = nn.Module()
    m.w = nn.Parameter(mg.zeros(2))
    m.sub = nn.Linear(1, 1)
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    m.w = nn.Parameter(mg.ones(3))  # replacing with a Parameter keeps it registered
    assert tuple(dict(m.named_parameters())["w"].shape) == (3,)
    with pytest.raises(TypeError, match="Parameter or None expected"):
        m.w = mg.ones(3)  # a plain tensor cannot silently replace a parameter (torch raises too)
    m.w = None  # an absent optional parameter
    assert "w" not in dict(m.named_parameters()) and m.w is None
    with pytest.raises(TypeError, match="Module or None expected"):
        m.sub = 5
    m.sub = None
    assert list(m.children()) == []
    del m.w
    assert not hasattr(m, "w")
    m.a, m.b, m.c = nn.Tanh(), nn.Linear(1, 1), nn.ReLU()
    m.b = nn.Linear(1, 2)  # replacing keeps the registration order
    assert [n for n, _ in m.named_children()] == ["a", "b", "c"]
    with pytest.raises(TypeError, match="buffer"):
        b = Block()
        b.running = 3.0


def test_reassigning_a_buffer_keeps_it_registered():
    b = Block()
    b.running = mg.ones(3)
    assert dict(b.named_buffers())["running"] is b.running
    assert "running" in b.state_dict()


def test_setattr_before_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(mg.zeros(1))  # forgot super().__init__()

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_register_parameter_type_checks():
    m = nn.Module()
    with pytest.raises(TypeError, match="Parameter"):
        m.register_parameter("w", mg.zeros(2))
    with pytest.raises(TypeError, match="Tensor"):
        m.register_buffer("b", [1, 2])


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


# ---------------------------------------------------------------- modes and grads
def test_train_eval_reach_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.block.train(False)
    assert net.training and not net.block.training and not net.block.lin.training


def test_zero_grad_and_requires_grad_():
    net = Net()
    net(mg.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert net.num_parameters(trainable_only=True) == 0 and net.num_parameters() == 3 + 6 + 2 + 8


def test_apply_visits_every_module():
    seen = []
    net = Net()
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert sorted(seen) == sorted(["Net", "Block", "Linear", "Linear", "Dropout"])
    assert seen[-1] == "Net"  # children first, as torch


# ---------------------------------------------------------------- dtype and device
def test_double_and_float_cast_floats_only_and_keep_objects():
    net = Net()
    w = net.block.lin.weight
    net(mg.randn(2, 3)).sum().backward()
    assert net.double() is net
    assert net.block.lin.weight is w and w.dtype == np.float64 and w.grad.dtype == np.float64
    assert net.block.running.dtype == np.float64
    assert net.block.steps.dtype == np.int64  # integer buffers keep their dtype
    out = net(mg.randn(2, 3, dtype="float64"))
    assert out.dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    net.to(mg.float64)
    assert all(p.dtype == np.float64 for p in net.parameters())
    net.to(mg.zeros(1))  # a tensor's dtype and device
    assert all(p.dtype == np.float32 for p in net.parameters())
    with pytest.raises(TypeError, match="floating"):
        net.to(mg.int64)


def test_casting_keeps_row_sparse_gradients_sparse():
    emb = nn.Embedding(10, 3, sparse=True)
    emb(mg.tensor([1, 1, 4])).sum().backward()
    emb.double()
    g = emb.weight.grad
    assert g.is_sparse and g.dtype == np.float64 and g.indices.tolist() == [1, 4]
    np.testing.assert_array_equal(g.values, np.array([[2.0] * 3, [1.0] * 3]))
    emb.zero_grad(set_to_none=False)
    assert emb.weight.grad.is_sparse and emb.weight.grad.nnz == 0


def test_half_casts_floating_parameters_to_float16():
    net = Net().half()
    assert all(p.dtype == np.float16 for p in net.parameters())
    assert net.block.steps.dtype == np.int64 and net.block.running.dtype == np.float16


def test_float_on_a_float32_module_does_not_copy():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    lin.float()
    assert sd["weight"].data is lin.weight.data


def test_to_device_moves_parameters_buffers_and_grads(device):
    net = Net()
    net(mg.randn(2, 3)).sum().backward()
    net.to(device)
    dev = mg.tensor(0.0, device=device).device
    assert all(t.device == dev for t in list(net.parameters()) + list(net.buffers()))
    assert all(p.grad.device == dev for p in net.parameters())
    out = net(mg.randn(2, 3, device=device))
    assert out.device == dev and out.shape == (2, 4)
    net.cpu()
    assert all(p.device == "cpu" for p in net.parameters())


@pytest.mark.skipif(mg.cuda_available(), reason="checks the error on machines without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        nn.Linear(2, 2).cuda()


# ---------------------------------------------------------------- state dicts
def test_state_dict_holds_parameters_and_buffers_sharing_memory():
    net = Net()
    sd = net.state_dict()
    # torch's order: each module's parameters, then its buffers, then its children's
    assert list(sd) == ["block.scale", "block.steps", "block.running", "block.lin.weight", "block.lin.bias",
                        "head.weight"]
    assert all(isinstance(v, mg.Tensor) and not v.requires_grad for v in sd.values())
    assert sd["head.weight"].data is net.head.weight.data


def _random_state(net, rng):
    return {k: rng.standard_normal(v.shape) if v.dtype.kind == "f" else np.full(v.shape, 7)
            for k, v in net.state_dict().items()}


def test_load_state_dict_round_trip_from_tensors_and_numpy():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and np.array_equal(va.numpy(), vb.numpy())
    state = _random_state(a, np.random.default_rng(0))  # float64 NumPy arrays
    res = a.load_state_dict(state)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert a.block.lin.weight.dtype == np.float32  # the module keeps its dtype
    np.testing.assert_allclose(a.block.lin.weight.numpy(), state["block.lin.weight"].astype(np.float32))
    assert a.block.steps.numpy().tolist() == [7]
    lists = {k: v.tolist() for k, v in state.items()}
    b.load_state_dict(lists)
    np.testing.assert_allclose(b.head.weight.numpy(), a.head.weight.numpy())


def test_load_state_dict_keeps_the_module_device(device):
    net = Net().to(device)
    net.load_state_dict(Net().state_dict())  # cpu values into a module on `device`
    dev = mg.tensor(0.0, device=device).device
    assert all(t.device == dev for t in net.state_dict().values())


def test_load_state_dict_from_torch_tensors():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(3, 2)
    ref = torch.nn.Linear(3, 2).double()
    lin.load_state_dict(ref.state_dict())
    assert lin.weight.dtype == np.float32
    x = np.random.default_rng(0).standard_normal((4, 3))
    ours = lin(mg.tensor(x, dtype="float32")).numpy()
    theirs = ref(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_strict_loading_names_missing_unexpected_and_mismatched_keys():
    net = Net()
    sd = dict(net.state_dict())
    del sd["head.weight"]
    sd["block.extra"] = mg.zeros(1)
    sd["block.lin.bias"] = mg.zeros(5)
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert "missing keys: head.weight" in msg
    assert "unexpected keys: block.extra" in msg
    assert "block.lin.bias: checkpoint (5,) vs model (2,)" in msg


def test_non_strict_loading_reports_keys_but_still_refuses_shape_mismatches():
    net = Net()
    before = net.head.weight.numpy().copy()
    sd = {"block.scale": np.full(3, 2.0), "nope": np.zeros(1)}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert unexpected == ["nope"] and "head.weight" in missing and "block.scale" not in missing
    assert net.block.scale.numpy().tolist() == [2.0, 2.0, 2.0]
    assert np.array_equal(net.head.weight.numpy(), before)
    with pytest.raises(RuntimeError, match="shape mismatches"):
        net.load_state_dict({"block.scale": np.zeros(4)}, strict=False)


def test_load_state_dict_bumps_versions_so_stale_graphs_refuse_backward():
    lin = nn.Linear(2, 2)
    y = (lin(mg.randn(3, 2)) ** 2).sum()  # saves the weight for backward
    lin.load_state_dict(nn.Linear(2, 2).state_dict())
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_load_state_dict_bad_value_names_the_key():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="'bias'"):
        lin.load_state_dict({"weight": np.zeros((2, 2)), "bias": ["a", "b"]})


# ---------------------------------------------------------------- printing and counting
def test_repr_is_a_readable_tree():
    text = repr(Net())
    assert text == (
        "Net(\n"
        "  (block): Block(\n"
        "    (lin): Linear(in_features=3, out_features=2, bias=True)\n"
        "  )\n"
        "  (head): Linear(in_features=2, out_features=4, bias=False)\n"
        "  (drop): Dropout(p=0.5, inplace=False)\n"
        ")"
    )
    assert repr(nn.Tanh()) == "Tanh()"


def test_num_parameters_counts_elements():
    assert Net().num_parameters() == 3 + 6 + 2 + 8
    assert nn.Linear(10, 5).num_parameters() == 55
