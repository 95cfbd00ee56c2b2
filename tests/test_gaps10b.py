"""Gaps closed in audit 10b, each against torch 2.13:

1. Comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`, eq/ne/lt/le/gt/ge and their aliases) between two
   float dtypes (float16/float32/float64) compare in the wider one, as torch: the result is bool, so no
   float result is upcast. Arithmetic keeps minigrad's rule: float32 with float64 out of place is a
   TypeError. `isclose`/`allclose` refuse mixed float dtypes (torch: "Float did not match Double");
   `equal` compares the values across dtypes.
2. `DataLoader(empty, shuffle=True)` raises torch's ValueError (num_samples=0) when it is built;
   with shuffle=False an empty dataset is an epoch of no batches.
3. `Tensor.where(condition, other)`: torch's parameter name.
4. `mg.tensor(t)` of a Tensor warns as torch and returns a detached copy (not an alias).
5. `int(t)`/`float(t)` of a tensor with several elements: ValueError; `t.item()`: RuntimeError;
   `bool(t)`: RuntimeError; `t.__index__`: any one-element integer or bool tensor (`range(t)`, `seq[t]`),
   else TypeError -- torch's exception types.
"""
import operator
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.utils.data import DataLoader, RandomSampler, TensorDataset

torch = pytest.importorskip("torch")

FLOATS = ["float16", "float32", "float64"]
COMPARISONS = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "eq": lambda L, a, b: L.eq(a, b), "ne": lambda L, a, b: L.ne(a, b), "lt": lambda L, a, b: a.lt(b),
    "le": lambda L, a, b: a.le(b), "gt": lambda L, a, b: L.gt(a, b), "ge": lambda L, a, b: a.ge(b),
    "greater": lambda L, a, b: a.greater(b), "less_equal": lambda L, a, b: a.less_equal(b),
    "not_equal": lambda L, a, b: a.not_equal(b),
}


def _compare(name, L, a, b):
    fn = COMPARISONS[name]
    return fn(a, b) if name in ("==", "!=", "<", "<=", ">", ">=") else fn(L, a, b)


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.numpy()


# ---------------------------------------------------------------- 1. comparisons across float dtypes
# 0.1 differs in every float dtype, so comparing it with its own rounding tells which dtype was used
VALUES = [0.1, 1.0, -2.5, float("nan"), float("inf"), -0.0, 65504.0, 1e-8]


@pytest.mark.parametrize("name", list(COMPARISONS))
@pytest.mark.parametrize("da,db", [("float32", "float64"), ("float64", "float32"), ("float16", "float32"),
                                   ("float32", "float16"), ("float16", "float64")])
def test_mixed_float_comparisons_match_torch(device, name, da, db):
    ta = torch.tensor(VALUES, dtype=getattr(torch, da))
    tb = torch.tensor(VALUES, dtype=getattr(torch, db)).flip(0).reshape(1, -1).expand(2, -1)  # + broadcasting
    tb = torch.cat([tb[:1], ta.to(tb.dtype).reshape(1, -1)])  # a row of a's values rounded to b's dtype
    ma, mb = mg.tensor(_np(ta), device=device), mg.tensor(_np(tb), device=device)
    want, got = _compare(name, torch, ta, tb), _compare(name, mg, ma, mb)
    assert got.dtype == mg.bool and got.shape == tuple(want.shape) and got.device == device
    np.testing.assert_array_equal(got.numpy(), _np(want))
    assert ma.dtype == np.dtype(da) and mb.dtype == np.dtype(db)  # the operands are not changed


@given(data=st.data())
def test_mixed_float_comparisons_property(device, data):
    """Generated shapes (broadcasting, 0-d and empty included) and values: torch's answer every time."""
    da, db = data.draw(st.permutations(FLOATS))[:2]
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    elements = st.floats(-3, 3, width=16) | st.sampled_from([0.1, 1 / 3, float("nan"), float("inf")])
    a = data.draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=elements)).astype(da)
    b = data.draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=elements)).astype(db)
    name = data.draw(st.sampled_from(list(COMPARISONS)))
    want = _compare(name, torch, torch.from_numpy(a), torch.from_numpy(b))
    got = _compare(name, mg, mg.tensor(a, device=device), mg.tensor(b, device=device))
    assert got.dtype == mg.bool and got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_zero_dim_float64_beside_float32_compares_in_float32(device):
    """torch's 0-d rule still applies first: a 0-d float64 acts like a number beside float32 data (0.1 in
    float32 equals float32(0.1)); two 0-d tensors promote (0.1 in float32 != 0.1 in float64)."""
    x = mg.tensor([0.1, 0.2], device=device)
    s = mg.tensor(0.1, dtype=mg.float64, device=device)
    np.testing.assert_array_equal((x == s).numpy(), [True, False])
    assert not bool(mg.tensor(0.1, device=device) == s)
    assert bool(torch.tensor(0.1) == torch.tensor(0.1, dtype=torch.float64)) is False
    np.testing.assert_array_equal((torch.tensor([0.1, 0.2]) == torch.tensor(0.1, dtype=torch.float64)).numpy(),
                                  [True, False])


def test_comparisons_of_tensors_that_require_grad(device):
    a = mg.tensor([1.0, 2.0], requires_grad=True, device=device)
    b = mg.tensor([1.5, 1.5], dtype=mg.float64, requires_grad=True, device=device)
    for out in (a < b, b >= a, a == b, mg.ne(b, a)):
        assert out.dtype == mg.bool and not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal((a < b).numpy(), [True, False])
    (a * 2).sum().backward()  # the comparisons left the graph alone
    assert a.grad.dtype == mg.float32 and b.grad is None


def test_mixed_float_arrays_as_operands(device):
    """A float64 NumPy array beside a float32 tensor keeps its dtype, so it compares in float64 (torch too)."""
    x = mg.tensor([0.1, 0.5], device=device)
    arr = np.array([0.1, 0.5])
    np.testing.assert_array_equal((x == arr).numpy(), (torch.tensor([0.1, 0.5]) == torch.from_numpy(arr)).numpy())
    np.testing.assert_array_equal((x == arr).numpy(), [False, True])


@pytest.mark.parametrize("op,name", [
    (operator.add, "add"), (operator.sub, "sub"), (operator.mul, "mul"), (operator.truediv, "div"),
    (operator.pow, "pow"), (mg.maximum, "maximum"), (mg.minimum, "minimum"),
    (lambda a, b: mg.where(a > b, a, b), "where"), (lambda a, b: mg.atan2(a, b), "atan2"),
])
@pytest.mark.parametrize("da,db", [("float32", "float64"), ("float64", "float32"), ("float16", "float32")])
def test_arithmetic_still_refuses_mixed_floats(device, op, name, da, db):
    """README: mixing float32 and float64 out of place is a TypeError (no silent upcast); the comparison
    inside `where`'s condition is fine, its values are not."""
    a = mg.ones(2, dtype=da, device=device)
    b = mg.ones(2, dtype=db, device=device)
    with pytest.raises(TypeError, match=rf"{name}: dtype mismatch: {da}\[2\].* and {db}\[2\]"):
        op(a, b)


@pytest.mark.parametrize("fn", ["isclose", "allclose"])
def test_isclose_allclose_refuse_mixed_floats_as_torch(device, fn):
    a = mg.tensor([1.0, 0.1], device=device)
    with pytest.raises(RuntimeError, match="Float did not match Double"):
        getattr(torch, fn)(torch.tensor([1.0, 0.1]), torch.tensor([1.0, 0.1], dtype=torch.float64))
    with pytest.raises(TypeError, match=rf"{fn}: expected tensors of one dtype, got float32\[2\].* and float64\[2\]"):
        getattr(mg, fn)(a, a.double())
    with pytest.raises(TypeError, match=rf"{fn}: expected tensors of one dtype"):
        getattr(mg, fn)(a.half(), a)


def test_equal_compares_values_across_float_dtypes(device):
    vals = [1.0, 0.1, -2.0]
    for da, db in (("float32", "float64"), ("float16", "float32"), ("float64", "float16")):
        for pick in (slice(None), slice(0, 1)):  # 0.1 rounds differently in each dtype; 1.0 does not
            ta, tb = torch.tensor(vals, dtype=getattr(torch, da))[pick], torch.tensor(vals, dtype=getattr(torch, da))
            tb = tb.to(getattr(torch, db))[pick]
            ma = mg.tensor(vals, dtype=da, device=device)[pick]
            mb = mg.tensor(vals, dtype=da, device=device).to(getattr(mg, db))[pick]
            assert mg.equal(ma, mb) is torch.equal(ta, tb)
    assert mg.equal(mg.tensor([0.1], device=device), mg.tensor([0.1], dtype=mg.float64, device=device)) is False
    assert torch.equal(torch.tensor([0.1]), torch.tensor([0.1], dtype=torch.float64)) is False


# ---------------------------------------------------------------- 2. empty dataset, shuffle=True
def test_shuffled_loader_on_an_empty_dataset_raises_as_torch():
    msg = "num_samples should be a positive integer value, but got num_samples=0"
    with pytest.raises(ValueError, match=msg):
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 3)), shuffle=True)
    for ds in (TensorDataset(mg.zeros(0, 3)), []):
        with pytest.raises(ValueError, match=msg):
            DataLoader(ds, batch_size=2, shuffle=True)
        with pytest.raises(ValueError, match=msg):
            DataLoader(ds, shuffle=True, seed=0)
        with pytest.raises(ValueError, match=msg):
            RandomSampler(ds)
    loader = DataLoader(TensorDataset(mg.zeros(0, 3)), batch_size=2, shuffle=False)  # unshuffled: no batches
    assert len(loader) == 0 and list(loader) == []
    t_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 3)), batch_size=2)
    assert len(t_loader) == 0 and list(t_loader) == []


def test_shuffled_loader_still_shuffles_every_epoch():
    loader = DataLoader(TensorDataset(mg.arange(6)), batch_size=6, shuffle=True, seed=3)
    epochs = [next(iter(loader))[0].tolist() for _ in range(3)]
    assert all(sorted(e) == list(range(6)) for e in epochs) and len({tuple(e) for e in epochs}) > 1
    assert isinstance(loader.sampler, RandomSampler)


# ---------------------------------------------------------------- 3. Tensor.where(condition, other)
def test_tensor_where_takes_torchs_keyword_other(device):
    x = mg.tensor([1.0, 2.0, 3.0], device=device)
    c = mg.tensor([True, False, True], device=device)
    tx, tc = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([True, False, True])
    for ours, theirs in ((x.where(c, other=mg.tensor(0.0, device=device)), tx.where(tc, other=torch.tensor(0.0))),
                         (x.where(condition=c, other=-1.0), tx.where(condition=tc, other=-1.0)),
                         (x.where(c, 5.0), tx.where(tc, 5.0))):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert ours.dtype == mg.float32
    with pytest.raises(TypeError):
        x.where(c, y=0.0)
    with pytest.raises(TypeError):
        tx.where(tc, y=0.0)


def test_tensor_where_gradient_reaches_other(device):
    x = mg.tensor([1.0, 2.0], requires_grad=True, device=device)
    o = mg.tensor([5.0, 6.0], requires_grad=True, device=device)
    x.where(mg.tensor([True, False], device=device), other=o).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(o.grad.numpy(), [0.0, 1.0])


# ---------------------------------------------------------------- 4. mg.tensor(tensor)
COPY_WARNING = r"To copy construct from a tensor, it is recommended to use sourceTensor\.detach\(\)\.clone\(\)"


def test_tensor_of_a_tensor_warns_and_copies_as_torch(device):
    t = mg.tensor([1.0, 2.0], requires_grad=True, device=device)
    tt = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match=COPY_WARNING):
        u = mg.tensor(t)
    with pytest.warns(UserWarning, match=COPY_WARNING):
        tu = torch.tensor(tt)
    assert (u.requires_grad, u.grad_fn, u.is_leaf) == (tu.requires_grad, tu.grad_fn, tu.is_leaf) == (False, None, True)
    assert u.dtype == mg.float32 and u.device == device
    with mg.no_grad():
        u.add_(10.0)  # a copy: the source keeps its values
    np.testing.assert_array_equal(t.detach().numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(u.numpy(), [11.0, 12.0])


@pytest.mark.parametrize("kw", [{"requires_grad": True}, {"dtype": "float64"}, {"dtype": "int64"}, {}])
def test_tensor_of_a_tensor_keywords(device, kw):
    src = mg.tensor([[1.5, -2.0]], device=device)
    with pytest.warns(UserWarning, match=COPY_WARNING):
        u = mg.tensor(src, **kw)
    with pytest.warns(UserWarning, match=COPY_WARNING):
        tu = torch.tensor(torch.tensor([[1.5, -2.0]]), **{k: getattr(torch, v) if k == "dtype" else v
                                                          for k, v in kw.items()})
    assert u.data is not src.data and u.shape == tuple(tu.shape) and u.requires_grad == tu.requires_grad
    assert u.dtype == np.dtype(str(tu.dtype).replace("torch.", "")) and u.is_leaf
    np.testing.assert_array_equal(u.detach().numpy(), tu.detach().numpy())
    u.data[...] = 0  # never an alias, also when no conversion was needed
    np.testing.assert_array_equal(src.numpy(), [[1.5, -2.0]])


def test_tensor_of_a_zero_dim_tensor_warns_but_lists_of_them_do_not(device):
    with pytest.warns(UserWarning, match=COPY_WARNING):
        assert mg.tensor(mg.tensor(3, device=device)).item() == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a list of 0-d tensors is read as numbers, silently (torch too)
        got = mg.tensor([mg.tensor(1.0), mg.tensor(2.0)])
        want = torch.tensor([torch.tensor(1.0), torch.tensor(2.0)])
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        mg.tensor(np.ones(2))  # arrays and lists: no warning
        mg.as_tensor(mg.ones(2))  # as_tensor shares, as torch's, without a warning


# ---------------------------------------------------------------- 5. int / float / bool / item / __index__
def _errors(fn, *tensors):
    """The exception types fn raises on each tensor."""
    out = []
    for t in tensors:
        with pytest.raises(Exception) as info:
            fn(t)
        out.append(type(info.value))
    return out


@pytest.mark.parametrize("shape", [(2,), (2, 3), (0,)])
def test_scalar_conversions_of_several_or_no_elements(device, shape):
    m, t = mg.ones(*shape, device=device), torch.ones(*shape)
    for fn in (int, float, bool, lambda x: x.item(), operator.index):
        assert _errors(fn, m) == _errors(fn, t)
    n = int(np.prod(shape))
    with pytest.raises(ValueError, match=r"int\(\): only one element tensors can be converted to Python scalars"):
        int(m)
    with pytest.raises(ValueError, match=r"float\(\): only one element tensors can be converted to Python scalars"):
        float(m)
    with pytest.raises(RuntimeError, match=rf"item: a Tensor with {n} elements cannot be converted to Scalar"):
        m.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(m)
    with pytest.raises(TypeError, match="only integer tensors of a single element can be converted to an index"):
        operator.index(mg.zeros(*shape, dtype=mg.int64, device=device))


@pytest.mark.parametrize("value,dtype", [(3, "int64"), ([3], "int32"), ([[2]], "int64"), (3, "uint8"),
                                         (True, "bool"), (False, "bool"), (-1, "int8")])
def test_index_with_one_element_integer_tensors(device, value, dtype):
    m = mg.tensor(value, dtype=dtype, device=device)
    t = torch.tensor(value, dtype=getattr(torch, dtype))
    seq = [10, 20, 30, 40]
    assert operator.index(m) == operator.index(t) and type(operator.index(m)) is int
    assert list(range(m)) == list(range(t))
    assert seq[m] == seq[t]
    assert "abcd"[m] == "abcd"[t]
    assert int(m) == int(t) and float(m) == float(t) and bool(m) == bool(t) and m.item() == t.item()


@pytest.mark.parametrize("value", [3.0, [2.0], 0.5])
def test_index_with_float_tensors_is_a_type_error(device, value):
    m, t = mg.tensor(value, device=device), torch.tensor(value)
    with pytest.raises(TypeError, match=r"only integer tensors of a single element can be converted to an index, "
                                        r"got float32"):
        operator.index(m)
    with pytest.raises(TypeError):
        operator.index(t)
    with pytest.raises(TypeError):
        [1, 2, 3][m]
    assert int(m) == int(t)  # int() truncates a float tensor, as torch
