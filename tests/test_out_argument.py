"""torch's `out=` keyword on minigrad's top-level functions (minigrad/ops/out.py), checked against torch."""
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad.ops.out import OUT_RULES, can_cast

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal((3, 4)).astype(np.float32)
P = (np.abs(A) + 0.5).astype(np.float32)  # positive: log, sqrt, pow
U = (RNG.uniform(-0.9, 0.9, (3, 4))).astype(np.float32)  # inside (-1, 1): asin, atanh, erfinv
M = RNG.standard_normal((4, 2)).astype(np.float32)
S = RNG.standard_normal((3, 3)).astype(np.float32)
V = RNG.standard_normal(4).astype(np.float32)
I = RNG.integers(-5, 6, (3, 4)).astype(np.int64)
J = RNG.integers(1, 6, (3, 4)).astype(np.int64)

# name -> (arrays, extra positional args, keyword args): one call per function, same in both libraries
CALLS = {
    "add": ((A, B), (), {"alpha": 2}), "sub": ((A, B), (), {}), "mul": ((A, B), (), {}),
    "div": ((A, P), (), {}), "pow": ((P,), (2.5,), {}), "remainder": ((A, P), (), {}), "fmod": ((A, P), (), {}),
    "floor_divide": ((I, J), (), {}), "neg": ((A,), (), {}), "abs": ((A,), (), {}), "exp": ((A,), (), {}),
    "log": ((P,), (), {}), "log1p": ((P,), (), {}), "sqrt": ((P,), (), {}), "rsqrt": ((P,), (), {}),
    "sin": ((A,), (), {}), "cos": ((A,), (), {}), "tanh": ((A,), (), {}), "sigmoid": ((A,), (), {}),
    "asin": ((U,), (), {}), "atanh": ((U,), (), {}), "erf": ((A,), (), {}), "erfinv": ((U,), (), {}),
    "reciprocal": ((P,), (), {}), "square": ((A,), (), {}), "sign": ((A,), (), {}), "floor": ((A,), (), {}),
    "ceil": ((A,), (), {}), "round": ((A,), (), {}), "trunc": ((A,), (), {}), "atan2": ((A, B), (), {}),
    "hypot": ((A, B), (), {}), "maximum": ((A, B), (), {}), "minimum": ((A, B), (), {}),
    "lerp": ((A, B), (0.3,), {}), "addcmul": ((A, B, P), (), {"value": 0.5}), "xlogy": ((P, P), (), {}),
    "logaddexp": ((A, B), (), {}), "eq": ((A, A), (), {}), "ne": ((A, B), (), {}), "lt": ((A, B), (), {}),
    "le": ((A, B), (), {}), "gt": ((A, B), (), {}), "ge": ((A, B), (), {}), "logical_and": ((A, B), (), {}),
    "bitwise_xor": ((I, J), (), {}),
    "matmul": ((A, M), (), {}), "mm": ((A, M), (), {}), "bmm": ((A[None], M[None]), (), {}),
    "mv": ((A, V), (), {}), "dot": ((V, V), (), {}), "addmm": ((S, S, S), (), {"beta": 0.5, "alpha": 2.0}),
    "outer": ((V, V), (), {}),
    "sum": ((A,), (1,), {}), "mean": ((A,), (0,), {"keepdim": True}), "prod": ((A,), (1,), {}),
    "cumsum": ((A,), (1,), {}), "amax": ((A,), (0,), {}), "std": ((A,), (1,), {}), "logsumexp": ((A,), (1,), {}),
    "clamp": ((A,), (-0.5, 0.5), {}), "where": ((A > 0, A, B), (), {}), "argmax": ((A,), (1,), {}),
    "tril": ((S,), (), {}), "triu": ((S,), (), {}),
}
# functions given a list of tensors
LIST_CALLS = {"cat": {"dim": 1}, "stack": {"dim": 0}, "hstack": {}, "vstack": {}}


def _mg(arrays, device):
    return [mg.tensor(a, device=device) for a in arrays]


def _torch(arrays):
    return [torch.from_numpy(np.array(a)) for a in arrays]


def _both_outs(name, result, device):
    """An out of the right shape and dtype for each library, filled with garbage."""
    return mg.full(result.shape, 7, dtype=result.dtype, device=device), torch.full(tuple(result.shape), 7,
                                                                                  dtype=_tdtype(result.dtype))


def _tdtype(dtype):
    return getattr(torch, str(np.dtype(dtype)))


def _check_call(name, fn_mg, fn_t, device):
    expected = fn_t(None)
    mine = fn_mg(None)
    o_mg, o_t = _both_outs(name, mine, device)
    memory, version = o_mg.data, o_mg._version
    r_mg, r_t = fn_mg(o_mg), fn_t(o_t)
    assert r_mg is o_mg and r_t is o_t
    assert o_mg.data is memory, f"{name}: out of the right shape keeps its memory"
    assert o_mg._version == version + 1
    assert o_mg.dtype == mine.dtype and o_t.dtype == expected.dtype
    np.testing.assert_allclose(o_mg.cpu().numpy(), o_t.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_out_matches_torch(name, device):
    arrays, extra, kw = CALLS[name]
    fm, ft = getattr(mg, name), getattr(torch, name)
    xs, ts = _mg(arrays, device), _torch(arrays)
    _check_call(name, lambda o: fm(*xs, *extra, **kw) if o is None else fm(*xs, *extra, **kw, out=o),
                lambda o: ft(*ts, *extra, **kw) if o is None else ft(*ts, *extra, **kw, out=o), device)


@pytest.mark.parametrize("name", sorted(LIST_CALLS))
def test_out_of_list_functions(name, device):
    kw = LIST_CALLS[name]
    xs, ts = _mg((A, B), device), _torch((A, B))
    fm, ft = getattr(mg, name), getattr(torch, name)
    _check_call(name, lambda o: fm(xs, **kw) if o is None else fm(xs, **kw, out=o),
                lambda o: ft(ts, **kw) if o is None else ft(ts, **kw, out=o), device)


@pytest.mark.parametrize("name, extra", [("max", (1,)), ("min", (0,)), ("sort", (1,)), ("topk", (2,)),
                                         ("cummax", (1,)), ("kthvalue", (2,))])
def test_values_indices_out(name, extra, device):
    x, t = mg.tensor(A, device=device), torch.from_numpy(A)
    expected = getattr(torch, name)(t, *extra)
    vals, idx = mg.empty(0, device=device), mg.empty(7, dtype=mg.int64, device=device)
    with pytest.warns(UserWarning, match="resized since it had shape \\[7\\]"):
        r = getattr(mg, name)(x, *extra, out=(vals, idx))
    assert r[0] is vals and r[1] is idx and r.values is vals and r.indices is idx
    np.testing.assert_allclose(vals.cpu().numpy(), expected.values.numpy())
    np.testing.assert_array_equal(idx.cpu().numpy(), expected.indices.numpy())
    # a Tensor where torch wants the pair; a float indices out (torch: dtype long expected)
    with pytest.raises(TypeError):
        getattr(mg, name)(x, *extra, out=vals)
    with pytest.raises(TypeError):
        getattr(torch, name)(t, *extra, out=torch.empty(0))
    with pytest.raises(RuntimeError, match="Expected out tensor to have dtype int64"):
        getattr(mg, name)(x, *extra, out=(vals, mg.empty(0, device=device)))
    with pytest.raises(RuntimeError):
        getattr(torch, name)(t, *extra, out=(torch.empty(0), torch.empty(0)))


def test_max_without_dim_takes_a_tensor_out(device):
    x = mg.tensor(A, device=device)
    o = mg.empty((), device=device)
    assert mg.max(x, out=o) is o and o.item() == pytest.approx(float(A.max()))
    o2 = mg.empty(3, 4, device=device)
    assert mg.maximum(x, x * 2, out=o2) is o2


# ---------------------------------------------------------------- dtypes: torch's casting rules
@pytest.mark.parametrize("name, arrays, out_dtype", [
    ("add", (A, B), "float64"), ("add", (A.astype(np.float64), B.astype(np.float64)), "float32"), ("add", (I, J), "uint8"),
    ("add", (I > 0, J > 0), "int64"), ("eq", (A, B), "float32"), ("eq", (A, B), "int64"), ("exp", (I,), "float32"),
    ("sum", (A,), "float64"), ("sum", (A,), "int64"), ("sum", (I,), "float32"), ("mean", (A,), "float64"),
    ("cumsum", (A,), "int64"), ("prod", (P * 2,), "int64"),
])
def test_out_dtypes_torch_accepts(name, arrays, out_dtype, device):
    extra = (0,) if name in ("sum", "mean", "cumsum", "prod") else ()
    xs, ts = _mg(arrays, device), _torch(arrays)
    expected = getattr(torch, name)(*ts, *extra)
    o_t = torch.empty(tuple(expected.shape), dtype=getattr(torch, out_dtype))
    getattr(torch, name)(*ts, *extra, out=o_t)
    o = mg.empty(tuple(expected.shape), dtype=out_dtype, device=device)
    assert getattr(mg, name)(*xs, *extra, out=o) is o
    assert str(o.dtype) == out_dtype
    np.testing.assert_allclose(o.cpu().numpy(), o_t.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, arrays, out_dtype, exc, match", [
    ("add", (A, B), "int64", RuntimeError, "result type Float can't be cast to the desired output type Long"),
    ("add", (I, J), "bool", RuntimeError, "result type Long can't be cast to the desired output type Bool"),
    ("div", (I, J), "int64", RuntimeError, "result type Float can't be cast to the desired output type Long"),
    ("mean", (A,), "int64", RuntimeError, "can't be cast to the desired output type Long"),
    ("matmul", (A, M), "float64", RuntimeError, "Expected out tensor to have dtype"),
    ("mm", (A, M), "float64", RuntimeError, "Expected out tensor to have dtype"),
    ("clamp", (A,), "float64", RuntimeError, "Expected out tensor to have dtype"),
    ("where", (A > 0, A, B), "float64", RuntimeError, "Expected out tensor to have dtype"),
    ("cat", ([A, B],), "int64", TypeError, "can't be cast to the desired output type Long"),
])
def test_out_dtypes_torch_refuses(name, arrays, out_dtype, exc, match, device):
    def args(lib):
        conv = (lambda a: mg.tensor(a, device=device)) if lib is mg else torch.from_numpy
        return [[conv(x) for x in a] if isinstance(a, list) else conv(np.asarray(a)) for a in arrays]
    extra = (0,) if name == "mean" else (-0.5, 0.5) if name == "clamp" else ()
    with pytest.raises(exc):
        getattr(torch, name)(*args(torch), *extra, out=torch.empty(0, dtype=getattr(torch, out_dtype)))
    o = mg.full((2,), 3, dtype=out_dtype, device=device)
    before = o.tolist()
    with pytest.raises(exc, match=match):
        getattr(mg, name)(*args(mg), *extra, out=o)
    assert o.tolist() == before and o._version == 0  # nothing written


def test_can_cast_is_torchs():
    names = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
    for a in names:
        for b in names:
            assert can_cast(np.dtype(a), np.dtype(b)) == torch.can_cast(getattr(torch, a), getattr(torch, b)), (a, b)


# ---------------------------------------------------------------- shape, memory, refusals
def test_resize_warns_like_torch_and_writes_the_result(device):
    x = mg.tensor(A, device=device)
    o = mg.zeros(5, device=device)
    with pytest.warns(UserWarning, match=r"resized since it had shape \[5\], which does not match the required "
                                         r"output shape \[3, 4\]"):
        assert mg.exp(x, out=o) is o
    with pytest.warns(UserWarning, match="resized since it had shape"):
        torch.exp(torch.from_numpy(A), out=torch.zeros(5))
    assert o.shape == (3, 4) and o.dtype == mg.float32
    np.testing.assert_allclose(o.cpu().numpy(), np.exp(A), rtol=1e-6)
    e = mg.empty(0, dtype=mg.float64, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty out resizes silently (torch too)
        mg.exp(x, out=e)
        torch.exp(torch.from_numpy(A), out=torch.empty(0, dtype=torch.float64))
    assert e.shape == (3, 4) and e.dtype == mg.float64


def test_resized_out_does_not_alias_the_input(device):
    x = mg.tensor(A, device=device)
    o = mg.empty(0, device=device)
    mg.clamp(x, -10.0, 10.0, out=o)
    o.fill_(0.0)
    assert x.cpu().numpy().tolist() == A.tolist()


def test_out_may_be_an_input_or_a_view(device):
    x = mg.tensor(A, device=device)
    assert mg.add(x, 1.0, out=x) is x and x._version == 1
    np.testing.assert_allclose(x.cpu().numpy(), A + 1.0, rtol=1e-6)
    base = mg.zeros(4, device=device)
    mg.add(mg.ones(2, device=device), 1.0, out=base[1:3])
    assert base.tolist() == [0.0, 2.0, 2.0, 0.0] and base._version == 1  # views share the version counter


@pytest.mark.parametrize("bad", [[1.0], np.zeros((3, 4), np.float32), 3.0])
def test_out_must_be_a_tensor(bad, device):
    with pytest.raises(TypeError, match="argument 'out' must be Tensor"):
        mg.add(mg.tensor(A, device=device), 1.0, out=bad)
    if not isinstance(bad, float):  # (torch quietly takes a Python number as out and returns a new tensor)
        with pytest.raises(TypeError):
            torch.add(torch.from_numpy(A), 1.0, out=bad)


def test_autograd_refusals_match_torch(device):
    msg = r"add\(\): functions with out=\.\.\. arguments don't support automatic differentiation"
    for lib in (mg, torch):
        w = lib.ones(3, requires_grad=True)
        cases = [(lambda: lib.add(w, 1.0, out=lib.empty(3)), RuntimeError),  # an input requires grad
                 (lambda: lib.add(lib.ones(3), 1.0, out=lib.empty(3, requires_grad=True)), RuntimeError),  # out
                 (lambda: lib.add(lib.ones(3), 1.0, out=w * 2), RuntimeError)]  # a non-leaf out
        for call, exc in cases:
            with pytest.raises(exc, match=msg):
                call()
        with pytest.raises(RuntimeError, match="cat\\(\\): functions with out="):
            lib.cat([w, lib.ones(3)], out=lib.empty(6))
        with lib.no_grad():  # allowed without grad mode, as in torch
            o = lib.empty(3)
            assert lib.add(w, 1.0, out=o) is o and not o.requires_grad
    if device != "cpu":  # (the refusal needs no device; the loop above ran on cpu)
        w = mg.ones(3, requires_grad=True, device=device)
        with pytest.raises(RuntimeError, match=msg):
            mg.add(w, 1.0, out=mg.empty(3, device=device))


@pytest.mark.skipif(not mg.cuda_available(), reason="needs a second device")
def test_out_on_another_device_is_refused():
    with pytest.raises(RuntimeError, match="device"):
        mg.add(mg.ones(3), 1.0, out=mg.empty(3, device="cuda"))
    with pytest.raises(RuntimeError, match="device"):
        mg.zeros(3, device="cpu", out=mg.empty(3, device="cuda"))


def test_expanded_out_is_refused(device):
    o = mg.zeros(1, device=device).expand(3)
    with pytest.raises(RuntimeError):
        mg.add(mg.ones(3, device=device), 1.0, out=o)
    with pytest.raises(RuntimeError):
        torch.add(torch.ones(3), 1.0, out=torch.zeros(1).expand(3))


# ---------------------------------------------------------------- factories: out's dtype and device
@pytest.mark.parametrize("name, args", [("zeros", (2, 3)), ("ones", (2, 3)), ("full", ((2, 3), 4)),
                                        ("arange", (5,)), ("linspace", (0, 1, 5)), ("eye", (3,))])
@pytest.mark.parametrize("out_dtype", ["float64", "int64"])
def test_factories_make_their_tensor_in_outs_dtype(name, args, out_dtype, device):
    if name == "linspace" and out_dtype == "int64":
        args = (0, 8, 5)
    o_t = torch.empty(1, dtype=getattr(torch, out_dtype))
    getattr(torch, name)(*args, out=o_t)
    o = mg.empty(1, dtype=out_dtype, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # factories resize silently
        assert getattr(mg, name)(*args, out=o) is o
    assert str(o.dtype) == out_dtype and o.device == mg.backend.parse_device(device)
    np.testing.assert_allclose(o.cpu().numpy(), o_t.numpy())


def test_random_factories_and_factory_refusals(device):
    o = mg.empty(4, dtype=mg.float64, device=device)
    mg.manual_seed(3)
    assert mg.randn(2, 2, out=o) is o and o.shape == (2, 2) and o.dtype == mg.float64
    assert mg.rand(3, out=o) is o and o.shape == (3,) and 0 <= o.min().item() <= o.max().item() < 1
    with pytest.raises(RuntimeError, match=r"dtype Double does not match dtype of out parameter \(Float\)"):
        mg.zeros(2, dtype=mg.float64, out=mg.empty(2, device=device))
    with pytest.raises(RuntimeError, match="does not match dtype of out parameter"):
        torch.zeros(2, dtype=torch.float64, out=torch.empty(2))
    with pytest.raises(RuntimeError, match="functions with out="):
        mg.zeros(2, out=mg.empty(2, requires_grad=True))


def test_calls_without_out_are_unchanged():
    x = mg.tensor(A, requires_grad=True)
    y = mg.add(x, 1.0)
    assert y.grad_fn is not None  # still differentiable
    assert mg.add.__wrapped__ is mg.ops.compose.add and mg.add.__doc__ == mg.ops.compose.add.__doc__
    # every wrapped name is a minigrad function that exists in torch with out=
    for name in OUT_RULES:
        assert hasattr(torch, name), name
