"""Session 6's nn API fuzzed against torch 2.13 itself: 2-D convolution and pooling, unfold/fold,
pixel_shuffle, interpolate (ops/conv2d.py, nn/conv2d.py); group/instance/batch(2d, 3d)/local-response/RMS/
layer norm without bias, gumbel_softmax (ops/norm_more.py, nn/norm_more.py, ops/norm.py); the Transformer
layers (nn/transformer.py); the extra losses and layers (ops/loss_extra.py, nn/extra.py); ctc_loss
(ops/ctc.py); packed sequences through RNN/LSTM/GRU (nn/utils/rnn_packed.py, models/_layer.py).

The rules are test_fuzz_torch_nn.py's, made stricter: Hypothesis draws valid AND invalid calls (empty and
unbatched inputs, out-of-range arguments, integer dtypes, NaN/inf); torch and minigrad get the same arrays
(and the same weights). Whatever torch computes we compute identically (shape, dtype, values; in float64 the
gradients of every input and parameter wherever torch's output is finite). Where torch refuses we refuse with
a ValueError/TypeError/IndexError/RuntimeError that names the op (never a bare NumPy error); where torch
computes we compute, except under these documented policies and torch quirks (each also marked where it is
used below):

* float32 meeting float64 is a TypeError (minigrad's promotion policy; torch upcasts or refuses by op);
* integer inputs to pools / interpolate / norms / convs are refused (torch implements some integer kernels);
* on empty inputs we may refuse what torch computes (usually NaN, or an empty no-op): "empty" policy;
* minigrad checks arguments that torch only checks on non-empty data or not at all: bad shapes of empty
  tensors, tau <= 0 in gumbel_softmax (torch divides by it), non-positive eps, and the like
  (`STRICTER` below lists the message fragments);
* torch quirk: nn.Conv2d / ConvTranspose padding and the `padding_mode` modules on an empty batch;
* torch quirk: torch's adaptive_max_pool / max_pool index of a NaN, and of ties, is its kernel's order;
  indices are compared only where the windows' values are finite and distinct.

Run with FUZZ_EXAMPLES=2000 for a deep ad-hoc check (the default is the profile's count).
"""
from __future__ import annotations

import math
import os
import traceback
import warnings

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore")

_N = os.environ.get("FUZZ_EXAMPLES")
deep = settings(max_examples=int(_N)) if _N else (lambda f: f)

ALLOWED = (ValueError, TypeError, IndexError, RuntimeError)
NUMPY_DIR = np.__file__.rsplit("/", 1)[0]
# documented refusals of what torch computes (module docstring): matched against our message
POLICY = ("dtype mismatch", "must have the same dtype", "float32", "float64", "floating", "integer", "empty")
STRICTER = ()
# torch refuses, we compute (documented): torch's conv / unfold kernels refuse a zero-size channel or spatial
# dim even where the result is well defined (an empty result, or the padded convolution); minigrad computes
# it, as its conv1d does
TORCH_QUIRKS = ("Only zero batch or zero channel inputs are supported",
                "with possibly 0 batch size and", "possibly 0 batch size and non-zero dimensions")


# ================================================================ the harness
def _as_list(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def _run(lib, make, arrays, grads, gseed):
    """make(lib, *tensors) in torch or minigrad -> ([output arrays], [input grads + parameter grads] or None).

    make returns a tensor, a tuple/list of tensors, or (output(s), module) to compare the module's
    parameters' gradients too."""
    T = torch.tensor if lib == "torch" else mg.tensor
    ts = [T(a.copy(), requires_grad=bool(g)) if isinstance(a, np.ndarray) else a for a, g in zip(arrays, grads)]
    res = make(lib, *ts)
    params = []
    if isinstance(res, tuple) and len(res) == 2 and isinstance(res[1], (torch.nn.Module, nn.Module)):
        res, mod = res
        params = [p for p in mod.parameters() if p.requires_grad]
    ys = _as_list(res)
    outs = [y.detach().numpy().copy() if lib == "torch" else y.numpy().copy() for y in ys]
    gs = None
    diff = [(y, o) for y, o in zip(ys, outs) if o.dtype == np.float64 and o.size and y.requires_grad]
    if (any(grads) or params) and diff:
        rng = np.random.default_rng(gseed)
        loss = sum((y * T(rng.standard_normal(o.shape))).sum() for y, o in diff)
        loss.backward()
        gs = [None if t.grad is None else t.grad.numpy().copy() for t, g in zip(ts, grads) if g]
        gs += [None if p.grad is None else p.grad.numpy().copy() for p in params]
    return outs, gs


def check_against_torch(names, make, arrays, grads, seed=0, tol=None, gtol=1e-9, skip_grads=False, refuse_ok=(),
                        accept_ok=()):
    """Torch's result and ours agree, or both refuse (ours clearly, naming the op). We refuse what torch
    computes only under POLICY + refuse_ok (or on empty data); we compute what torch refuses only with
    accept_ok (a documented torch quirk). Returns our outputs (None when refused)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            want = _run("torch", make, arrays, grads, seed)
        except Exception as e:  # noqa: BLE001 - torch refuses
            want, terr = None, e
        try:
            got = _run("mg", make, arrays, grads, seed)
        except ALLOWED as e:
            origin = traceback.extract_tb(e.__traceback__)[-1].filename
            assert not origin.startswith(NUMPY_DIR), f"{names[0]}: a raw NumPy error escaped: {e!r}"
            assert any(n in str(e) for n in names), f"error does not name {names}: {e!r}"
            event(f"{names[0]}: refused, torch {'ok' if want is not None else 'refused'}")
            empty = any(isinstance(a, np.ndarray) and a.size == 0 for a in arrays)
            if want is not None and not empty:
                assert any(p in str(e) for p in POLICY + STRICTER + tuple(refuse_ok)), \
                    f"{names[0]} refused what torch computes: {e}"
            return None
    event(f"{names[0]}: ok, torch {'ok' if want is not None else 'refused'}")
    if want is None:
        ok = accept_ok if isinstance(accept_ok, bool) else any(q in str(terr) for q in accept_ok + TORCH_QUIRKS)
        assert ok, f"{names[0]}: torch refuses ({terr!r}) but minigrad computes"
        return got[0]
    (ty, tg), (my, mgr) = want, got
    assert len(my) == len(ty), f"{names[0]}: {len(my)} outputs, torch {len(ty)}"
    for m, t in zip(my, ty):
        assert m.shape == t.shape and m.dtype == t.dtype, f"{names[0]}: {m.shape} {m.dtype}, torch {t.shape} {t.dtype}"
        tl = tol if tol is not None else (2e-5 if t.dtype == np.float32 else 1e-9)
        if t.dtype.kind == "f":
            np.testing.assert_allclose(m, t, rtol=tl, atol=tl, equal_nan=True, err_msg=names[0])
        else:
            np.testing.assert_array_equal(m, t, err_msg=names[0])
    finite = all(np.isfinite(t).all() for t in ty if t.dtype.kind == "f")
    if tg is not None and not skip_grads and finite:
        assert mgr is not None and len(mgr) == len(tg)
        for i, (t, m) in enumerate(zip(tg, mgr)):
            assert (t is None) == (m is None), f"{names[0]}: gradient {i} None-ness differs"
            if t is not None:
                assert m.shape == t.shape and m.dtype == t.dtype, f"{names[0]} grad {i}: {m.shape} {m.dtype}"
                np.testing.assert_allclose(m, t, rtol=gtol, atol=gtol, equal_nan=True, err_msg=f"{names[0]} grad {i}")
    return my


def arrays_of(draw, shape, dtype, scale=2.0, kinks=True, special=True):
    """Normal values (sometimes rounded onto kinks and ties; sometimes one NaN/inf); ints in [-3, 3]."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    a = rng.standard_normal(shape) * scale
    if kinks and draw(st.booleans()):
        a = np.round(a)
    a = np.asarray(a)
    if special and a.size and draw(st.integers(0, 9)) == 0:
        a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        a = np.nan_to_num(a, posinf=3, neginf=-3)
        return (np.clip(np.round(a), -3, 3) > 0 if dtype.kind == "b" else np.clip(np.round(a), -3, 3)).astype(dtype)
    return a.astype(dtype)


float_dtypes = st.sampled_from([np.float64, np.float64, np.float32])
any_dtypes = st.sampled_from([np.float64, np.float64, np.float64, np.float32, np.float32, np.int64])


def _gfor(dtype):
    return np.dtype(dtype) == np.float64


def _copy_weights(tm, mm, dtype, rng=None, scale=0.5):
    """Give torch's module random weights (float64 draws) and load them into ours; both in `dtype`."""
    tdt = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
    tm.to(tdt)
    if rng is not None:
        with torch.no_grad():
            for p in tm.parameters():
                p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * scale))
    mm = mm.double() if np.dtype(dtype) == np.float64 else mm.float()
    mm.load_state_dict({k: mg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    return tm, mm


def _lib(lib):
    return TF if lib == "torch" else F


def _mod(lib):
    return torch.nn if lib == "torch" else nn


# ================================================================ conv2d / conv_transpose
def _side():
    return st.integers(0, 5)


def _int_or_pair(draw, lo, hi):
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return (draw(st.integers(lo, hi)), draw(st.integers(lo, hi)))


@deep
@given(data=st.data(), dtype=any_dtypes, unbatched=st.booleans(), bias=st.booleans(), groups=st.sampled_from([1, 1, 2]))
def test_conv2d_against_torch(data, dtype, unbatched, bias, groups):
    draw = data.draw
    cin = groups * draw(st.integers(1, 2)) + (1 if draw(st.integers(0, 9)) == 0 else 0)
    cout = groups * draw(st.integers(1, 2)) + (1 if draw(st.integers(0, 14)) == 0 else 0)
    kh, kwd = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(_side()), draw(_side())
    shape = (cin, H, W) if unbatched else (draw(st.integers(0, 2)), cin, H, W)
    if draw(st.integers(0, 14)) == 0:
        shape = shape[1:] if len(shape) == 4 and draw(st.booleans()) else (1,) + shape
        shape = shape[:5]
    x = arrays_of(draw, shape, dtype)
    kw = dict(stride=_int_or_pair(draw, 0 if draw(st.integers(0, 14)) == 0 else 1, 3),
              dilation=_int_or_pair(draw, 1, 2), groups=groups)
    kw["padding"] = draw(st.sampled_from(["same", "valid", 0, 1, 2, (1, 0), (0, 2), -1, "full"]))
    rng = np.random.default_rng(H * 7 + W)
    wdt = dtype if draw(st.integers(0, 9)) else np.float32
    w = rng.standard_normal((cout, max(cin // groups, 1), kh, kwd)).astype(wdt)
    b = rng.standard_normal(cout).astype(wdt) if bias else None
    g = _gfor(dtype) and _gfor(wdt)
    if draw(st.booleans()) and np.dtype(dtype).kind == "f":  # nn.Conv2d with a padding mode, torch's weights
        mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
        if mode != "zeros" and kw["padding"] == "full":
            kw["padding"] = 1
        sd = {"weight": w.astype(dtype)} if b is None else {"weight": w.astype(dtype), "bias": b.astype(dtype)}

        def make(lib, x_):
            m = _mod(lib).Conv2d(cin, cout, (kh, kwd), padding_mode=mode, bias=bias, **kw)
            m = m.double() if dtype == np.float64 else m.float()
            m.load_state_dict({n: (torch.tensor if lib == "torch" else mg.tensor)(v) for n, v in sd.items()})
            return m(x_), m
        # torch quirk: torch's reflect/replicate/circular padding accepts some pads its own F.pad refuses
        # on other ranks; its errors are compared through the "refused" branch only.
        check_against_torch(["Conv2d", "conv2d", "pad"], make, [x], [g])
    else:
        def make(lib, *ts):
            return _lib(lib).conv2d(*ts, **kw)
        check_against_torch("conv2d", make, [x, w] + ([b] if bias else []), [g, g] + ([g] if bias else []),
                            gtol=1e-8)


@deep
@given(data=st.data(), dtype=any_dtypes, dims=st.sampled_from([1, 2]), unbatched=st.booleans(), bias=st.booleans(),
       groups=st.sampled_from([1, 1, 2]))
def test_conv_transpose_against_torch(data, dtype, dims, unbatched, bias, groups):
    draw = data.draw
    op = f"conv_transpose{dims}d"
    cin = groups * draw(st.integers(1, 2)) + (1 if draw(st.integers(0, 9)) == 0 else 0)
    cout_g = draw(st.integers(1, 2))
    ks = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    sp = tuple(draw(_side()) for _ in range(dims))
    shape = (cin,) + sp if unbatched else (draw(st.integers(0, 2)), cin) + sp
    x = arrays_of(draw, shape, dtype)

    def arg(lo, hi):
        v = tuple(draw(st.integers(lo, hi)) for _ in range(dims))
        return v[0] if draw(st.booleans()) else v
    kw = dict(stride=arg(1, 3), padding=arg(0, 2), dilation=arg(1, 2), groups=groups)
    kw["output_padding"] = arg(0, 2)
    rng = np.random.default_rng(sum(sp) + 5)
    w = rng.standard_normal((cin if draw(st.integers(0, 9)) else cin + 1, cout_g) + ks).astype(dtype)
    b = rng.standard_normal(cout_g * groups).astype(dtype) if bias else None
    g = _gfor(dtype)
    if draw(st.booleans()) and np.dtype(dtype).kind == "f":
        name = f"ConvTranspose{dims}d"
        sd = {"weight": w} if b is None else {"weight": w, "bias": b}
        out_size = None
        if draw(st.integers(0, 3)) == 0:  # forward(x, output_size=...) picks output_padding
            out_size = [draw(st.integers(1, 12)) for _ in range(dims)]

        def make(lib, x_):
            m = getattr(_mod(lib), name)(w.shape[0], cout_g * groups, ks, bias=bias, **kw)
            m = m.double() if dtype == np.float64 else m.float()
            m.load_state_dict({n: (torch.tensor if lib == "torch" else mg.tensor)(v) for n, v in sd.items()})
            return (m(x_) if out_size is None else m(x_, output_size=out_size)), m
        check_against_torch([name, op], make, [x], [g], gtol=1e-8)
    else:
        def make(lib, *ts):
            return getattr(_lib(lib), op)(*ts, **kw)
        check_against_torch(op, make, [x, w] + ([b] if bias else []), [g, g] + ([g] if bias else []), gtol=1e-8)


# ================================================================ pooling
def _distinct_windows(x):
    """True when x is finite with distinct values (so every max's index is unambiguous)."""
    return bool(np.isfinite(x).all() and np.unique(x).size == x.size)


@deep
@given(op=st.sampled_from(["max_pool2d", "avg_pool2d", "MaxPool2d", "AvgPool2d"]), data=st.data(), dtype=any_dtypes,
       unbatched=st.booleans())
def test_pool2d_against_torch(op, data, dtype, unbatched):
    draw = data.draw
    c = draw(st.integers(0 if draw(st.integers(0, 9)) == 0 else 1, 2))
    H, W = draw(_side()), draw(_side())
    x = arrays_of(draw, (c, H, W) if unbatched else (draw(st.integers(0, 2)), c, H, W), dtype)
    kw = {"kernel_size": _int_or_pair(draw, 1, 3), "padding": _int_or_pair(draw, 0, 2),
          "ceil_mode": draw(st.booleans())}
    if draw(st.booleans()):
        kw["stride"] = _int_or_pair(draw, 1, 3)
    if "ax" in op:
        kw["dilation"] = _int_or_pair(draw, 1, 2)
        kw["return_indices"] = draw(st.booleans())
    else:
        kw["count_include_pad"] = draw(st.booleans())
        kw["divisor_override"] = draw(st.sampled_from([None, None, 1, 3, 0]))
    indices = {}

    def make(lib, x_):
        f = getattr(_lib(lib), op) if op[0] == "m" or op[0] == "a" else getattr(_mod(lib), op)(**kw)
        y = f(x_, **kw) if op[0] in "ma" else f(x_)
        if isinstance(y, tuple):
            y, idx = y
            indices[lib] = idx.numpy()
        return y
    names = [op, op.lower().replace("pool2d", "_pool2d")]
    check_against_torch(names, make, [x], [_gfor(dtype)])
    if len(indices) == 2 and _distinct_windows(x):
        assert indices["mg"].dtype == indices["torch"].dtype == np.int64
        np.testing.assert_array_equal(indices["mg"], indices["torch"])


@deep
@given(op=st.sampled_from(["adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool2d"]),
       data=st.data(), dtype=any_dtypes, unbatched=st.booleans())
def test_adaptive_pool_against_torch(op, data, dtype, unbatched):
    draw = data.draw
    dims = int(op[-2])
    c = draw(st.integers(0 if draw(st.integers(0, 9)) == 0 else 1, 2))
    sp = tuple(draw(_side()) for _ in range(dims))
    x = arrays_of(draw, (c,) + sp if unbatched else (draw(st.integers(0, 2)), c) + sp, dtype)
    if dims == 1 or draw(st.booleans()):
        size = draw(st.integers(-1, 6))
    else:
        size = tuple(draw(st.one_of(st.integers(0, 6), st.none())) for _ in range(2))
    kw = {"output_size": size}
    if "max" in op:
        kw["return_indices"] = draw(st.booleans())
    indices = {}

    def make(lib, x_):
        y = getattr(_lib(lib), op)(x_, **kw)
        if isinstance(y, tuple):
            y, idx = y
            indices[lib] = idx.numpy()
        return y
    check_against_torch(op, make, [x], [_gfor(dtype)])
    if len(indices) == 2 and _distinct_windows(x):
        assert indices["mg"].dtype == indices["torch"].dtype == np.int64
        np.testing.assert_array_equal(indices["mg"], indices["torch"])


# ================================================================ unfold / fold / pixel_shuffle / interpolate
@deep
@given(op=st.sampled_from(["unfold", "fold", "Unfold", "Fold"]), data=st.data(), dtype=any_dtypes,
       unbatched=st.booleans())
def test_unfold_fold_against_torch(op, data, dtype, unbatched):
    draw = data.draw
    kw = {"kernel_size": _int_or_pair(draw, 1, 3), "dilation": _int_or_pair(draw, 1, 2),
          "padding": _int_or_pair(draw, 0, 2), "stride": _int_or_pair(draw, 1, 3)}
    if op.lower() == "unfold":
        shape = (draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(_side()), draw(_side()))
    else:
        kw["output_size"] = _int_or_pair(draw, 1, 5)
        k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * 2
        # usually the right number of blocks, sometimes not
        pair = [v if isinstance(v, tuple) else (v, v) for v in (kw["output_size"], kw["dilation"], kw["padding"],
                                                                 kw["stride"])]
        L = 1
        for a in range(2):
            L *= max((pair[0][a] + 2 * pair[2][a] - pair[1][a] * (k[a] - 1) - 1) // pair[3][a] + 1, 0)
        L += draw(st.sampled_from([0, 0, 0, 1]))
        shape = (draw(st.integers(0, 2)), draw(st.integers(0, 2)) * k[0] * k[1] + draw(st.sampled_from([0, 0, 1])), L)
    if unbatched:
        shape = shape[1:]
    x = arrays_of(draw, shape, dtype)

    def make(lib, x_):
        if op[0].isupper():
            return getattr(_mod(lib), op)(**kw)(x_)
        return getattr(_lib(lib), op)(x_, **kw)
    check_against_torch([op.lower(), op], make, [x], [_gfor(dtype)])


@deep
@given(op=st.sampled_from(["pixel_shuffle", "pixel_unshuffle"]), data=st.data(), dtype=any_dtypes)
def test_pixel_shuffle_against_torch(op, data, dtype):
    draw = data.draw
    r = draw(st.integers(-1, 3))
    nd = draw(st.integers(2, 5))
    shape = tuple(draw(st.integers(0, 3)) for _ in range(nd - 3)) + tuple(draw(st.sampled_from([0, 1, 2, 3, 4, 6, 8, 9]))
                                                                         for _ in range(min(nd, 3)))
    x = arrays_of(draw, shape, dtype)

    def make(lib, x_):
        return getattr(_lib(lib), op)(x_, r)
    check_against_torch(op, make, [x], [_gfor(dtype)])


@deep
@given(data=st.data(), dtype=any_dtypes, mode=st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear",
                                                               "bicubic", "area", "trilinear"]))
def test_interpolate_against_torch(data, dtype, mode):
    draw = data.draw
    nd = draw(st.sampled_from([3, 4, 4, 3, 2, 5])) if mode != "linear" else draw(st.sampled_from([3, 3, 4]))
    shape = tuple(draw(st.integers(0 if draw(st.integers(0, 9)) == 0 else 1, 4)) for _ in range(nd))
    x = arrays_of(draw, shape, dtype, special=False)
    dims = max(nd - 2, 1)
    kw = {"mode": mode}
    if draw(st.booleans()):
        v = [draw(st.integers(0, 7)) for _ in range(dims)]
        kw["size"] = v[0] if draw(st.booleans()) else tuple(v)
    else:
        v = [draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.7, 3.0, 0.3, 0.0])) for _ in range(dims)]
        kw["scale_factor"] = v[0] if draw(st.booleans()) else tuple(v)
        if draw(st.booleans()):
            kw["recompute_scale_factor"] = draw(st.booleans())
    if draw(st.booleans()):
        kw["align_corners"] = draw(st.booleans())

    def make(lib, x_):
        return _lib(lib).interpolate(x_, **kw)
    # bicubic's weights are polynomials of the source fraction: float32 rounding differs at ~1e-6 relative
    tol = 1e-4 if dtype == np.float32 else None
    check_against_torch("interpolate", make, [x], [_gfor(dtype)], tol=tol, refuse_ok=("not supported",))
