"""Tensor basics: factories and dtype defaults, seeding, conversions, detach/requires_grad_, repr,
and in-place ops (version bumps; refused on leaves that require grad while grad mode is on)."""
import numpy as np
import pytest

import minigrad as mg


# ---------------------------------------------------------------- construction and dtype defaults
def test_tensor_dtype_defaults(device):
    assert mg.tensor([1.0, 2.0], device=device).dtype == np.float32  # Python floats -> float32
    assert mg.tensor(3.0, device=device).dtype == np.float32
    assert mg.tensor([1.0, 2], device=device).dtype == np.float32
    assert mg.tensor([1, 2], device=device).dtype == np.int64  # Python ints -> int64
    assert mg.tensor(True, device=device).dtype == np.bool_
    assert mg.tensor(np.zeros(2), device=device).dtype == np.float64  # arrays keep their dtype
    assert mg.tensor(np.float64(2.0), device=device).dtype == np.float64
    assert mg.tensor([1, 2], dtype="float64", device=device).dtype == np.float64
    assert mg.tensor([1.5], dtype=mg.float16, device=device).dtype == np.float16


def test_tensor_copies_but_as_tensor_shares(device):
    a = np.ones(3, dtype=np.float32)
    t = mg.tensor(a, device=device)
    a[0] = 7.0
    assert t.numpy()[0] == 1.0  # torch.tensor copies
    if device == "cpu":
        s = mg.as_tensor(a)
        a[1] = 9.0
        assert s.numpy()[1] == 9.0  # as_tensor shares memory when it can
    u = mg.tensor(t)
    assert u is not t and u.numpy()[0] == 1.0


FACTORIES = [
    (lambda d, **k: mg.zeros(2, 3, device=d, **k), np.zeros((2, 3))),
    (lambda d, **k: mg.zeros((2, 3), device=d, **k), np.zeros((2, 3))),
    (lambda d, **k: mg.ones(4, device=d, **k), np.ones(4)),
    (lambda d, **k: mg.full((2, 2), 1.5, device=d, **k), np.full((2, 2), 1.5)),
    (lambda d, **k: mg.empty(3, device=d, **k), None),
    (lambda d, **k: mg.eye(2, 3, device=d, **k), np.eye(2, 3)),
    (lambda d, **k: mg.arange(0.0, 1.0, 0.25, device=d, **k), np.arange(0, 1, 0.25)),
    (lambda d, **k: mg.rand(3, 2, device=d, **k), None),
    (lambda d, **k: mg.randn(5, device=d, **k), None),
]


@pytest.mark.parametrize("make,want", FACTORIES)
def test_float_factories(device, make, want):
    t = make(device)
    assert t.dtype == np.float32 and t.device == mg.backend.parse_device(device) and t.is_leaf
    assert not t.requires_grad
    if want is not None:
        np.testing.assert_array_equal(t.numpy(), want)
    assert make(device, dtype="float64").dtype == np.float64
    g = make(device, requires_grad=True)
    assert g.requires_grad and g.is_leaf


def test_integer_and_bool_factories(device):
    assert mg.arange(5, device=device).dtype == np.int64
    np.testing.assert_array_equal(mg.arange(1, 7, 2, device=device).numpy(), [1, 3, 5])
    assert mg.full(3, 7, device=device).dtype == np.int64
    assert mg.full(3, True, device=device).dtype == np.bool_
    r = mg.randint(0, 5, (100,), device=device)
    assert r.dtype == np.int64 and r.numpy().min() >= 0 and r.numpy().max() < 5
    with pytest.raises(TypeError, match="only floating-point"):
        mg.arange(3, device=device, requires_grad=True)


def test_like_factories(device):
    base = mg.tensor([[1, 2], [3, 4]], dtype="float64", device=device)
    for f, val in [(mg.zeros_like, 0.0), (mg.ones_like, 1.0), (lambda t, **k: mg.full_like(t, 2.5, **k), 2.5)]:
        t = f(base)
        assert t.shape == (2, 2) and t.dtype == np.float64 and t.device == base.device
        np.testing.assert_array_equal(t.numpy(), val)
        assert f(base, dtype="float32").dtype == np.float32
    assert mg.zeros_like(mg.tensor([1, 2], device=device)).dtype == np.int64
    assert mg.randn_like(base).shape == (2, 2) and mg.rand_like(base).dtype == np.float64


def test_randn_rand_statistics(device):
    x = mg.randn(20000, device=device).numpy()
    u = mg.rand(20000, device=device).numpy()
    assert abs(x.mean()) < 0.05 and abs(x.std() - 1) < 0.05
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.02


@pytest.mark.parametrize("make", [mg.randn, mg.rand])
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_random_floats_refuse_integer_dtypes(device, make, dtype):
    """As torch: integer "samples" of a normal or uniform draw would be silently truncated."""
    with pytest.raises(TypeError, match=f"{make.__name__}: needs a floating dtype, got {dtype}"):
        make(3, dtype=dtype, device=device)
    assert make(3, dtype="float16", device=device).dtype == np.float16


def test_bool_subtraction_is_refused_as_in_torch(device):
    t, f = mg.tensor([True, False], device=device), mg.tensor([True, True], device=device)
    for a, b in ((t, f), (t, True), (False, t)):
        with pytest.raises(TypeError, match=r"sub: subtraction of two bool operands .* use a \^ b"):
            a - b
    with pytest.raises(TypeError, match="sub_: subtraction of two bool operands"):
        t.sub_(f)
    assert (t - 1).tolist() == [0, -1] and (t ^ f).tolist() == [False, True]  # bool - int promotes, xor works


def test_inplace_arithmetic_errors_name_the_op(device):
    """NumPy's own casting and broadcasting errors never escape bare from add_/sub_/mul_/div_."""
    a = mg.tensor([1, 2, 3], device=device)
    with pytest.raises(TypeError, match=r"add_: cannot update int64\[3\] .* in place with 1.5: the result must keep"):
        a.add_(1.5)
    with pytest.raises(TypeError, match=r"div_: cannot update int64\[3\]"):
        a.div_(2)
    with pytest.raises(ValueError, match=r"mul_: cannot update int64\[3\] .* in place with int64\[2, 3\]"):
        a.mul_(mg.tensor([[1, 2, 3], [4, 5, 6]], device=device))
    assert a.tolist() == [1, 2, 3]  # nothing was written
    b = mg.tensor([1.0, 2.0], device=device)
    b.add_(1).sub_(mg.tensor([1.0, 1.0], device=device), alpha=2).mul_(2).div_(4)
    assert b.tolist() == [0.0, 0.5]


def test_manual_seed_reproducibility(device):
    mg.manual_seed(123)
    a = (mg.randn(3, 4, device=device).numpy(), mg.rand(2, device=device).numpy(),
         mg.randint(0, 10, (5,), device=device).numpy())
    mg.manual_seed(123)
    b = (mg.randn(3, 4, device=device).numpy(), mg.rand(2, device=device).numpy(),
         mg.randint(0, 10, (5,), device=device).numpy())
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    mg.manual_seed(124)
    assert not np.array_equal(mg.randn(3, 4, device=device).numpy(), a[0])
    # the same seed gives the same numbers on every device (host generator)
    mg.manual_seed(5)
    c = mg.randn(4, device=device).numpy()
    mg.manual_seed(5)
    np.testing.assert_array_equal(c, mg.randn(4).numpy())


def test_set_default_dtype(device):
    mg.set_default_dtype("float64")
    try:
        assert mg.get_default_dtype() == np.float64
        assert mg.tensor([1.0], device=device).dtype == np.float64
        assert mg.zeros(2, device=device).dtype == np.float64 and mg.randn(2, device=device).dtype == np.float64
        assert mg.arange(0.0, 2.0, device=device).dtype == np.float64
        assert (mg.tensor([1, 2], device=device) / 2).dtype == np.float64
        assert "dtype" not in repr(mg.tensor([1.0]))  # the default is not named
        assert "dtype=float32" in repr(mg.tensor([1.0], dtype="float32"))
    finally:
        mg.set_default_dtype("float32")
    assert mg.tensor([1.0], device=device).dtype == np.float32


# ---------------------------------------------------------------- conversions
def test_numpy_item_tolist(device):
    t = mg.tensor([[1.5, 2.0], [3.0, 4.0]], device=device)
    a = t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    np.testing.assert_array_equal(a, [[1.5, 2.0], [3.0, 4.0]])
    if device == "cpu":
        assert np.shares_memory(a, t.data)  # like torch: .numpy() shares memory on cpu
    assert t[0, 0].item() == 1.5 and isinstance(t[0, 0].item(), float)
    assert mg.tensor([7], device=device).item() == 7 and isinstance(mg.tensor([7], device=device).item(), int)
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert float(mg.tensor(2.5, device=device)) == 2.5 and int(mg.tensor(3, device=device)) == 3
    assert np.asarray(t).shape == (2, 2)
    assert t.shape == (2, 2) and t.ndim == 2 and t.size() == (2, 2) and t.size(1) == 2 and t.numel() == 4
    assert len(t) == 2 and t.dim() == 2
    assert [r.shape for r in t] == [(2,), (2,)]


def test_dtype_conversions_keep_the_graph(device):
    x = mg.tensor([1.25, -2.5], device=device, requires_grad=True)
    for y in (x.double(), x.to(mg.float64), x.to(device, np.float64), x.type("float64")):
        assert y.dtype == np.float64 and y.requires_grad
        np.testing.assert_array_equal(y.numpy(), [1.25, -2.5])
    assert x.float() is x
    assert x.to(device) is x
    z = x.double().float()
    assert z.dtype == np.float32
    (z * 2.0).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    assert x.long().dtype == np.int64 and x.int().dtype == np.int32 and x.bool().dtype == np.bool_
    assert x.half().dtype == np.float16
    assert x.to(mg.tensor([1.0], dtype="float64", device=device)).dtype == np.float64


def test_detach_and_requires_grad_(device):
    x = mg.tensor([1.0, 2.0], device=device)
    assert not x.requires_grad
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2.0
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    if device == "cpu":
        assert np.shares_memory(d.data, y.data)
    with pytest.raises(RuntimeError, match=r"requires_grad_\(False\): only leaf tensors.*use detach\(\)"):
        y.requires_grad_(False)
    x.requires_grad_(False)
    assert not x.requires_grad
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        mg.tensor([1, 2], device=device).requires_grad_()


def test_repr(device):
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(mg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(mg.tensor([1.0], dtype="float64")) == "tensor([1.], dtype=float64)"
    assert repr(mg.tensor([1], dtype="int32")) == "tensor([1], dtype=int32)"
    assert repr(mg.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(mg.tensor([1.0], requires_grad=True) * 2.0) == "tensor([2.], grad_fn=<MulScalarBackward>)"
    assert repr(mg.tensor(True)) == "tensor(True)"
    if device != "cpu":
        assert f"device='{mg.backend.parse_device(device)}'" in repr(mg.ones(1, device=device))
    big = repr(mg.zeros(1001))  # torch summarizes more than 1000 elements (mg.set_printoptions(threshold=...))
    assert "..." in big and len(big) < 200


# ---------------------------------------------------------------- in-place ops
INPLACE = {
    "add_": (lambda t: t.add_(1.0), [2.0, 3.0, 4.0]),
    "add_ alpha": (lambda t: t.add_(mg.ones(3, device=t.device), alpha=2), [3.0, 4.0, 5.0]),
    "sub_": (lambda t: t.sub_(1.0), [0.0, 1.0, 2.0]),
    "mul_": (lambda t: t.mul_(2.0), [2.0, 4.0, 6.0]),
    "div_": (lambda t: t.div_(2.0), [0.5, 1.0, 1.5]),
    "zero_": (lambda t: t.zero_(), [0.0, 0.0, 0.0]),
    "fill_": (lambda t: t.fill_(4.0), [4.0, 4.0, 4.0]),
    "copy_": (lambda t: t.copy_(mg.tensor([9.0, 8.0, 7.0], device=t.device)), [9.0, 8.0, 7.0]),
    "clamp_": (lambda t: t.clamp_(1.5, 2.5), [1.5, 2.0, 2.5]),
    "__setitem__": (lambda t: t.__setitem__(1, 0.0), [1.0, 0.0, 3.0]),
    "__setitem__ mask": (lambda t: t.__setitem__(t > 1.5, -1.0), [1.0, -1.0, -1.0]),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_ops_bump_version_and_are_refused_on_grad_leaves(device, name):
    op, want = INPLACE[name]
    t = mg.tensor([1.0, 2.0, 3.0], device=device)
    v = t._version
    op(t)
    assert t._version == v + 1
    np.testing.assert_array_equal(t.numpy(), want)
    assert t.dtype == np.float32

    leaf = mg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"{name.split()[0]}: a leaf tensor that requires grad cannot be "
                                           r"modified in place while grad mode is on"):
        op(leaf)
    assert leaf._version == 0
    np.testing.assert_array_equal(leaf.numpy(), [1.0, 2.0, 3.0])
    with mg.no_grad():  # how optimizers update parameters
        op(leaf)
    assert leaf._version == 1 and leaf.requires_grad
    np.testing.assert_array_equal(leaf.numpy(), want)


def test_inplace_on_a_graph_tensor_is_recorded(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2.0
    y.mul_(3.0)  # recorded as y = y * 3 (tests/test_inplace.py checks every recorded op against its twin)
    y[1] = 5.0  # recorded as y = y with y[1] = 5
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), [6.0, 5.0])
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 0.0])


def test_views_share_the_version_counter(device):
    t = mg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    v = t.reshape(4)
    v.add_(1.0)
    assert t._version == 1 and v._version == 1
    np.testing.assert_array_equal(t.numpy(), [[2.0, 3.0], [4.0, 5.0]])
    t.detach().zero_()
    assert t._version == 2


def test_hash_and_equality_semantics(device):
    a = mg.tensor([1.0, 2.0], device=device)
    b = mg.tensor([1.0, 3.0], device=device)
    eq = a == b
    assert isinstance(eq, mg.Tensor) and eq.dtype == np.bool_
    np.testing.assert_array_equal(eq.numpy(), [True, False])
    assert len({a, b, a}) == 2  # identity hash, as torch
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(eq)
    assert bool(mg.tensor([True], device=device))
