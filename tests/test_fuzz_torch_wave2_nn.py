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

Policies (we refuse, torch computes):
* float32 meeting float64 is a TypeError; integer inputs to convs, pools, interpolate, norms and distances
  are refused (torch runs some integer kernels or promotes);
* on empty inputs we may refuse what torch computes (usually NaN or an empty no-op), naming the op;
* negative padding is refused in every Conv2d padding_mode (torch crops with reflect/replicate/circular);
* pairwise_distance (and pdist) with p < 0 is refused (not a norm), as minigrad's dist;
* ctc_loss refuses a blank label inside the targets (ops/ctc.py; torch computes some number);
* RMSNorm(()) and a zero-size normalized_shape are refused at construction (torch: at the call / computes);
* instance_norm on an empty batch leaves the running stats as they are (torch averages nothing into NaN).
Accepted extensions (we compute, torch refuses): zero-size channel/spatial dims in conv / unfold / fold /
pools / interpolate, empty instance_norm inputs, 2-D embedding_bag input with empty bags (`TORCH_QUIRKS`:
torch's kernels refuse them even where the result is well defined);
an int normalized_shape in F.rms_norm; int32 class targets in multilabel_margin_loss.
Torch quirks (not compared):
* pixel_unshuffle of an empty input returns it with its own shape in torch;
* torch's own backward fails for group_norm with a bias and no weight: forwards only;
* a max-pool window wholly in the padding: torch's backward aborts the process (not run);
* max-pool indices of NaN and of ties are torch's kernel order: compared on finite distinct values only;
* multi(label)_margin_loss: torch's kernels skip a NaN hinge term (`if (z > 0)`): fuzzed without NaN;
* poisson_nll_loss(full=True): torch's target gradient at target 0 is NaN: not compared there;
* Bilinear with inf inputs: NaN or inf depends on the order of the sums: fuzzed with finite inputs;
* embedding_bag: torch is not run with out-of-range ids (unchecked), nor with include_last_offset and a
  single offset (segfault in mode 'max') or offsets[-1] != len(input) (its float32 and float64 kernels
  disagree on the last bag; ours runs it to the end of input, pinned in a test).
A gradient that is None on one side and all zeros on the other counts as the same answer.

Run with FUZZ_EXAMPLES=2000 for a deep ad-hoc check (the default is the profile's count); FUZZ_DEBUG=1 also
prints torch's refusals and tallies our refusals of what torch computes (--hypothesis-show-statistics).
"""
from __future__ import annotations

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
STRICTER = ()  # message fragments of further documented refusals (none at present)
# torch refuses, we compute (documented): torch's conv / unfold / fold / pool / interpolate kernels refuse a
# zero-size channel or spatial dim even where the result is well defined (an empty result, or the padded
# convolution); minigrad computes it, as its conv1d and 1-D pools do
TORCH_QUIRKS = ("Only zero batch or zero channel inputs are supported",
                "with possibly 0 batch size and", "possibly 0 batch size and non-zero dimensions",
                "with optional 0 dim batch size", "Non-empty 3D data tensor expected", "Non-empty 4D data tensor expected",
                "index 0 out of range for tensor of size [0]", "step must be nonzero")


# ================================================================ the harness
def _as_list(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def _run(lib, make, arrays, grads, gseed):
    """make(lib, *tensors) in torch or minigrad -> ([output arrays], [input grads + parameter grads] or None).

    make returns a tensor, a tuple/list of tensors, or (output(s), module) to compare the module's
    parameters' gradients too."""
    T = torch.tensor if lib == "torch" else mg.tensor
    arrays = [np.asarray(a) if isinstance(a, np.generic) else a for a in arrays]
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
        try:
            loss.backward()
        except RuntimeError:
            if lib == "mg":
                raise
            # torch quirk: torch's own backward fails (group_norm with a bias and no weight: "tensor does
            # not have a device"); only the forward is compared then
            event("torch's backward failed")
            return outs, None
        gs = [None if t.grad is None else t.grad.numpy().copy() for t, g in zip(ts, grads) if g]
        gs += [None if p.grad is None else p.grad.numpy().copy() for p in params]
    return outs, gs


def check_against_torch(names, make, arrays, grads, seed=0, tol=None, gtol=1e-9, skip_grads=False, refuse_ok=(),
                        accept_ok=()):
    """Torch's result and ours agree, or both refuse (ours clearly, naming the op). We refuse what torch
    computes only under POLICY + refuse_ok (or on empty data); we compute what torch refuses only with
    accept_ok (a documented torch quirk). Returns our outputs (None when refused)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    event_desc = [f"{a.dtype}{list(a.shape)}" if isinstance(a, np.ndarray) else repr(a) for a in arrays]
    print("check_against_torch", names[0], event_desc)  # (shown with a failure)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            want = _run("torch", make, arrays, grads, seed)
        except Exception as e:  # noqa: BLE001 - torch refuses
            want, terr = None, e
            if os.environ.get("FUZZ_DEBUG"):
                traceback.print_exc()
        try:
            got = _run("mg", make, arrays, grads, seed)
        except ALLOWED as e:
            origin = traceback.extract_tb(e.__traceback__)[-1].filename
            assert not origin.startswith(NUMPY_DIR), f"{names[0]}: a raw NumPy error escaped: {e!r}"
            assert any(n in str(e) for n in names), f"error does not name {names}: {e!r}"
            event(f"{names[0]}: refused, torch {'ok' if want is not None else 'refused'}")
            empty = any(isinstance(a, np.ndarray) and a.size == 0 for a in arrays)
            if want is not None and os.environ.get("FUZZ_DEBUG"):
                event(f"{names[0]} refusal: {str(e)[:70]}")
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
        mgr = [None] * len(tg) if mgr is None else mgr  # (our output has no graph: every gradient None)
        assert len(mgr) == len(tg)
        for i, (t, m) in enumerate(zip(tg, mgr)):
            # None and an all-zero gradient are the same answer (torch gives either, by path)
            t = np.zeros_like(m) if t is None and m is not None and not m.any() else t
            m = np.zeros_like(t) if m is None and t is not None and not t.any() else m
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
        return np.asarray(np.clip(np.round(a), -3, 3) > 0 if dtype.kind == "b" else np.clip(np.round(a), -3, 3)
                          ).astype(dtype)
    return a.astype(dtype)


float_dtypes = st.sampled_from([np.float64, np.float64, np.float32])
any_dtypes = st.sampled_from([np.float64] * 5 + [np.float32] * 3 + [np.int64])


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
    H, W = draw(st.integers(0 if draw(st.integers(0, 5)) == 0 else 2, 5)), draw(st.integers(0, 5))
    shape = (cin, H, W) if unbatched else (draw(st.integers(0, 2)), cin, H, W)
    if draw(st.integers(0, 14)) == 0:
        shape = shape[1:] if len(shape) == 4 and draw(st.booleans()) else (1,) + shape
        shape = shape[:5]
    x = arrays_of(draw, shape, dtype)
    kw = dict(stride=_int_or_pair(draw, 0 if draw(st.integers(0, 14)) == 0 else 1, 3),
              dilation=_int_or_pair(draw, 1, 2), groups=groups)
    kw["padding"] = draw(st.sampled_from(["same", "valid", 0, 1, 2, (1, 0), (0, 2)] * 3 + [-1, "full"]))
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
        # torch quirk: with padding_mode reflect/replicate/circular torch takes padding=-1 as a crop (F.pad
        # of negative widths); in 'zeros' mode it refuses negative padding; we refuse it in every mode
        check_against_torch(["Conv2d", "conv2d", "pad"], make, [x], [g], refuse_ok=("must be non-negative",))
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
    grad = _gfor(dtype)
    if "ax" in op and grad:
        # torch quirk: a max-pool window lying wholly in the padding (possible with dilation) gives -inf,
        # as ours, but torch's backward then aborts the process (index -1): no backward in torch there
        try:
            y = F.max_pool2d(mg.tensor(x), **{k: v for k, v in kw.items() if k != "return_indices"})
            grad = not (np.isneginf(y.numpy()).any() and not np.isneginf(x).any())
        except ALLOWED:
            pass
    check_against_torch(names, make, [x], [grad])
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
    if op == "pixel_unshuffle" and x.size == 0 and x.ndim >= 3 and r >= 1 and x.shape[-1] % r == x.shape[-2] % r == 0:
        # torch quirk: torch 2.13's pixel_unshuffle returns an empty input with its own shape, not
        # (*, C*r*r, H/r, W/r); ours has the documented shape
        want = x.shape[:-3] + (x.shape[-3] * r * r, x.shape[-2] // r, x.shape[-1] // r)
        assert F.pixel_unshuffle(mg.tensor(x), r).shape == want
        return
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


def test_adaptive_avg_pool_inf_stays_in_its_window():
    """Found by fuzzing: adaptive_avg_pool1d/2d (and interpolate's 'area') were matmuls with averaging
    matrices, so one inf input made every other window NaN (0 * inf); torch keeps it in its window."""
    x = np.array([[[[1.0, np.inf, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0]]]])
    for f, a, kw in ((F.adaptive_avg_pool2d, x, {"output_size": (1, 2)}), (F.adaptive_avg_pool1d, x[0], {"output_size": 3}),
                     (F.interpolate, x[0], {"size": 2, "mode": "area"})):
        got = f(mg.tensor(a), **kw).numpy()
        want = getattr(TF, f.__name__)(torch.tensor(a), **kw).numpy()
        np.testing.assert_array_equal(got, want)
        assert np.isfinite(got).sum() == np.isfinite(want).sum() > 0


# ================================================================ norms
def _norm_shape(draw, lo=1):
    """(N, C, *spatial) with 0 to 3 spatial dims; sometimes an empty or a too-small shape."""
    nd = draw(st.integers(0 if draw(st.integers(0, 9)) == 0 else 2, 5))
    return tuple(draw(st.integers(0 if draw(st.integers(0, 7)) == 0 else lo, 4)) for _ in range(nd))


@deep
@given(data=st.data(), dtype=any_dtypes, module=st.booleans())
def test_group_norm_against_torch(data, dtype, module):
    draw = data.draw
    shape = _norm_shape(draw)
    C = shape[1] if len(shape) >= 2 else 2
    G = draw(st.sampled_from([1, 2, 3, 0]))
    x = arrays_of(draw, shape, dtype, kinks=False)
    eps = draw(st.sampled_from([1e-5, 1e-5, 0.5, 0.0]))
    g = _gfor(dtype)
    if module:
        affine, bias = draw(st.booleans()), draw(st.booleans())
        rng = np.random.default_rng(C)

        def make(lib, x_):
            if lib == "torch":
                m = torch.nn.GroupNorm(G, C, eps=eps, affine=affine, bias=bias)
                with torch.no_grad():
                    for p in m.parameters():
                        p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape))))
                make.sd = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
            else:
                m = nn.GroupNorm(G, C, eps=eps, affine=affine, bias=bias)
                m.load_state_dict({k: mg.tensor(v) for k, v in make.sd.items()})
            m = m.double() if dtype == np.float64 else m.float()
            return m(x_), m
        try:
            torch.nn.GroupNorm(G, C)
        except Exception:  # noqa: BLE001 - a bad (groups, channels) pair: the constructors refuse alike
            with pytest.raises(ALLOWED, match="GroupNorm|group_norm"):
                nn.GroupNorm(G, C)
            return
        # float32: a 1-element group's x - mean is exactly 0 in ours, rounding residue (~1e-5) in torch's
        check_against_torch(["GroupNorm", "group_norm"], make, [x], [g], gtol=1e-8,
                            tol=1e-4 if dtype == np.float32 else None)
    else:
        rng = np.random.default_rng(C)
        wshape = (C + (1 if draw(st.integers(0, 9)) == 0 else 0),)
        w = rng.standard_normal(wshape).astype(dtype) if draw(st.booleans()) else None
        b = rng.standard_normal(wshape).astype(dtype) if draw(st.booleans()) else None
        wb = [v for v in (w, b) if v is not None]

        def make(lib, x_, *rest):
            it = iter(rest)
            ww, bb = (next(it) if w is not None else None), (next(it) if b is not None else None)
            return _lib(lib).group_norm(x_, G, ww, bb, eps)
        check_against_torch("group_norm", make, [x] + wb, [g] * (1 + len(wb)), gtol=1e-8,
                            tol=1e-4 if dtype == np.float32 else None)


@deep
@given(data=st.data(), dtype=any_dtypes, use_input_stats=st.booleans(), momentum=st.sampled_from([0.1, 0.0, 1.0]))
def test_instance_norm_against_torch(data, dtype, use_input_stats, momentum):
    draw = data.draw
    shape = _norm_shape(draw)
    C = shape[1] if len(shape) >= 2 else 2
    x = arrays_of(draw, shape, dtype, kinks=False)
    rng = np.random.default_rng(C)
    fdt = dtype if np.dtype(dtype).kind == "f" else np.float64
    stats = draw(st.sampled_from(["both", "none", "both"]))
    rm = rng.standard_normal(C).astype(fdt) if stats == "both" else None
    rv = rng.uniform(0.5, 2, C).astype(fdt) if stats == "both" else None
    w = rng.standard_normal(C).astype(fdt) if draw(st.booleans()) else None
    b = rng.standard_normal(C).astype(fdt) if draw(st.booleans()) else None
    wb = [v for v in (w, b) if v is not None]
    updated = {}

    def make(lib, x_, *rest):
        T = torch.tensor if lib == "torch" else mg.tensor
        r = [None if v is None else T(v.copy()) for v in (rm, rv)]
        it = iter(rest)
        ww, bb = (next(it) if w is not None else None), (next(it) if b is not None else None)
        y = _lib(lib).instance_norm(x_, r[0], r[1], ww, bb, use_input_stats, momentum, 1e-5)
        updated[lib] = [v.numpy() for v in r if v is not None]
        return y
    g = _gfor(dtype)
    check_against_torch("instance_norm", make, [x] + wb, [g] * (1 + len(wb)), gtol=1e-8)
    # policy: an empty batch leaves the running stats as they are (torch averages nothing into NaN)
    if len(updated) == 2 and x.size:
        for got, want in zip(updated["mg"], updated["torch"]):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{x!r} {momentum}")


@deep
@given(data=st.data(), dtype=float_dtypes, kind=st.sampled_from(["BatchNorm2d", "BatchNorm3d", "InstanceNorm1d",
                                                                 "InstanceNorm2d", "InstanceNorm3d"]),
       c=st.integers(1, 3), momentum=st.sampled_from([0.1, None, 0.0, 1.0]), affine=st.booleans(),
       track=st.booleans(), bias=st.booleans())
def test_norm_modules_steps_against_torch(data, dtype, kind, c, momentum, affine, track, bias):
    """BatchNorm2d/3d and InstanceNorm1d/2d/3d over several train/eval steps: outputs, gradients, buffers."""
    draw = data.draw
    if kind.startswith("Instance") and momentum is None:
        momentum = 0.1  # (torch's InstanceNorm takes no None momentum... it does, but ours is typed float)
    kw = dict(momentum=momentum, affine=affine, track_running_stats=track, bias=bias)
    tm = getattr(torch.nn, kind)(c, **kw)
    mm = getattr(nn, kind)(c, **kw)
    tm, mm = _copy_weights(tm, mm, dtype, np.random.default_rng(c), scale=1.0)
    spatial = int(kind[-2])
    for _ in range(3):
        train = draw(st.booleans())
        tm.train(train), mm.train(train)
        shape = (draw(st.integers(1, 3)), c) + tuple(draw(st.integers(1, 3)) for _ in range(spatial))
        if draw(st.integers(0, 6)) == 0:
            shape = shape[1:] if draw(st.booleans()) else shape[:1] + (c + 1,) + shape[2:]
        x = arrays_of(draw, shape, dtype, kinks=False, special=False) + 1
        try:
            tm(torch.tensor(x))  # a dry run (torch counts a batch it then refuses: see test_fuzz_torch_nn)
        except Exception:  # noqa: BLE001
            with pytest.raises(ALLOWED, match=f"{kind}|batch_norm|instance_norm"):
                mm(mg.tensor(x))
            return
        tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mm.state_dict().items()})

        def make(lib, x_):
            m = tm if lib == "torch" else mm
            for p in m.parameters():
                p.grad = None
            return m(x_), m
        check_against_torch([kind, "batch_norm", "instance_norm"], make, [x], [_gfor(dtype)], gtol=1e-8,
                            tol=1e-4 if dtype == np.float32 else None)
        tsd, msd = tm.state_dict(), mm.state_dict()
        assert set(tsd) == set(msd)
        for k in tsd:
            want, got = tsd[k].numpy(), msd[k].numpy()
            assert got.dtype == want.dtype and got.shape == want.shape, k
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=k)


@deep
@given(data=st.data(), dtype=any_dtypes)
def test_local_response_norm_against_torch(data, dtype):
    draw = data.draw
    shape = _norm_shape(draw)
    x = arrays_of(draw, shape, dtype)
    size = draw(st.sampled_from([1, 2, 3, 5, 0]))
    kw = dict(alpha=draw(st.sampled_from([1e-4, 0.5, 2.0])), beta=draw(st.sampled_from([0.75, 0.0, 1.5])),
              k=draw(st.sampled_from([1.0, 2.0, 0.5])))
    module = draw(st.booleans())

    def make(lib, x_):
        if module:
            return _mod(lib).LocalResponseNorm(size, **kw)(x_)
        return _lib(lib).local_response_norm(x_, size, **kw)
    check_against_torch(["local_response_norm", "LocalResponseNorm"], make, [x], [_gfor(dtype)], gtol=1e-8)


@deep
@given(data=st.data(), dtype=any_dtypes, op=st.sampled_from(["rms_norm", "RMSNorm", "LayerNorm", "layer_norm"]))
def test_rms_layer_norm_against_torch(data, dtype, op):
    draw = data.draw
    shape = tuple(draw(st.integers(0 if draw(st.integers(0, 7)) == 0 else 1, 4)) for _ in range(draw(st.integers(0, 3))))
    k = draw(st.integers(0, len(shape)))
    ns = shape[len(shape) - k:]
    if draw(st.integers(0, 7)) == 0:
        ns = ns[:-1] + (ns[-1] + 1,) if ns else (2,)
    if len(ns) == 1 and draw(st.booleans()):
        ns = ns[0]
    x = arrays_of(draw, shape, dtype, kinks=False)
    eps = draw(st.sampled_from([None, 1e-5, 0.5])) if op != "layer_norm" else draw(st.sampled_from([1e-5, 0.5]))
    g = _gfor(dtype)
    rng = np.random.default_rng(len(shape))
    if op in ("RMSNorm", "LayerNorm"):
        affine = draw(st.booleans())
        kw = {"elementwise_affine": affine}
        if eps is not None:
            kw["eps"] = eps
        if op == "LayerNorm":
            kw["bias"] = draw(st.booleans())
        try:
            tm = getattr(torch.nn, op)(ns, **kw)
        except Exception:  # noqa: BLE001
            with pytest.raises(ALLOWED, match=op):
                getattr(nn, op)(ns, **kw)
            return
        try:
            mm = getattr(nn, op)(ns, **kw)
        except ALLOWED as e:
            # we refuse at construction: RMSNorm(()) (torch builds it and refuses it at the call), or a
            # zero-size normalized_shape (the "empty" policy; torch normalises nothing)
            assert op in str(e)
            assert ns == () or 0 in ((ns,) if isinstance(ns, int) else ns), f"{op} refused {ns}: {e}"
            if ns == ():
                with pytest.raises(Exception):  # noqa: B017 - any torch error
                    tm(torch.tensor(x))
            return
        tm, mm = _copy_weights(tm, mm, dtype if np.dtype(dtype).kind == "f" else np.float64, rng, scale=1.0)

        def make(lib, x_):
            m = tm if lib == "torch" else mm
            return m(x_), m
        check_against_torch([op, op.lower(), "rms_norm", "layer_norm"], make, [x], [g], gtol=1e-8)
    else:
        nst = (ns,) if isinstance(ns, int) else ns
        w = rng.standard_normal(nst).astype(dtype) if draw(st.booleans()) else None
        b = rng.standard_normal(nst).astype(dtype) if op == "layer_norm" and draw(st.booleans()) else None
        wb = [v for v in (w, b) if v is not None]

        def make(lib, x_, *rest):
            it = iter(rest)
            ww, bb = (next(it) if w is not None else None), (next(it) if b is not None else None)
            if op == "rms_norm":
                return _lib(lib).rms_norm(x_, ns, ww, eps)
            return _lib(lib).layer_norm(x_, ns, ww, bb, eps)
        # accepted extension: an int normalized_shape (as the modules take); torch's F.rms_norm wants a list
        check_against_torch(op, make, [x] + wb, [g] * (1 + len(wb)), gtol=1e-8,
                            accept_ok=("must be tuple of ints, not int",))


@deep
@given(data=st.data(), dtype=any_dtypes, hard=st.booleans())
def test_gumbel_softmax_shapes_dtypes_against_torch(data, dtype, hard):
    """Random samples: only shapes, dtypes, refusals and the simplex / one-hot property are compared."""
    draw = data.draw
    shape = tuple(draw(st.integers(0, 4)) for _ in range(draw(st.integers(0, 3))))
    x = arrays_of(draw, shape, dtype, special=False)
    dim = draw(st.integers(-len(shape) - 1, len(shape)))
    tau = draw(st.sampled_from([1, 0.5, 2.0, 1e-3]))

    def call(lib):
        T = torch.tensor if lib == "torch" else mg.tensor
        return _lib(lib).gumbel_softmax(T(x), tau=tau, hard=hard, dim=dim)
    try:
        want = call("torch").numpy()
    except Exception:  # noqa: BLE001
        want = None
    try:
        got = call("mg").numpy()
    except ALLOWED as e:
        assert "gumbel_softmax" in str(e)
        assert want is None or any(p in str(e) for p in POLICY), f"gumbel_softmax refused what torch computes: {e}"
        return
    assert want is not None, "gumbel_softmax: torch refuses, minigrad computes"
    assert got.shape == want.shape and got.dtype == want.dtype
    if got.size and got.ndim:
        np.testing.assert_allclose(got.sum(dim), 1.0, rtol=1e-5)
        if hard:
            assert set(np.unique(got)) <= {0.0, 1.0}


def test_gumbel_softmax_bad_dim_names_the_op():
    """Found by fuzzing: an out-of-range dim was reported by softmax, not gumbel_softmax."""
    with pytest.raises(IndexError, match="gumbel_softmax"):
        F.gumbel_softmax(mg.tensor([1.0, 2.0]), dim=1)
    # and hard=True over an empty dim was NumPy's bare "argmax of an empty sequence" (torch refuses too)
    with pytest.raises(ValueError, match="gumbel_softmax"):
        F.gumbel_softmax(mg.zeros(2, 0), hard=True)
    assert F.gumbel_softmax(mg.zeros(0, 3), hard=True).shape == (0, 3)


# ================================================================ extra losses (ops/loss_extra.py)
LOSSES = ["gaussian_nll_loss", "poisson_nll_loss", "hinge_embedding_loss", "soft_margin_loss",
          "multilabel_soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss", "triplet_margin_loss",
          "triplet_margin_with_distance_loss"]


@deep
@given(op=st.sampled_from(LOSSES), data=st.data(), dtype=any_dtypes, reduction=st.sampled_from(["mean", "sum", "none"]))
def test_extra_losses_against_torch(op, data, dtype, reduction):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kw = {"reduction": reduction} if draw(st.integers(0, 14)) else {"reduction": "batchmean"}
    g = _gfor(dtype)
    shape = tuple(draw(st.integers(0 if draw(st.integers(0, 7)) == 0 else 1, 3)) for _ in range(draw(st.integers(0, 3))))
    x = arrays_of(draw, shape, dtype)
    tdt = dtype if draw(st.integers(0, 9)) else np.float64
    if op == "gaussian_nll_loss":
        t = arrays_of(draw, shape, tdt)
        vshape = draw(st.sampled_from([shape, shape[:-1], shape[:-1] + (1,) if shape else (), (2,) + shape]))
        var = np.abs(arrays_of(draw, vshape, dtype, special=False)) + draw(st.sampled_from([0.0, 0.1, 1.0]))
        if draw(st.integers(0, 9)) == 0 and var.size:
            var.flat[0] = -1.0
        kw.update(full=draw(st.booleans()), eps=draw(st.sampled_from([1e-6, 0.5])))
        arrays, grads = [x, t, var], [g, g and tdt == dtype, g]
    elif op == "poisson_nll_loss":
        log_input = draw(st.booleans())
        if not log_input:
            x = np.abs(x)
        t = np.abs(arrays_of(draw, shape, tdt)) * 2
        kw.update(log_input=log_input, full=draw(st.booleans()), eps=draw(st.sampled_from([1e-8, 0.5])))
        # torch quirk: with full=True torch's target gradient at target 0 is NaN (its masked-off Stirling
        # term's t log t leaks through masked_fill's backward); ours is the derivative: not compared there
        arrays, grads = [x, t], [g, g and tdt == dtype and not (kw["full"] and (t == 0).any())]
    elif op in ("hinge_embedding_loss", "soft_margin_loss"):
        t = rng.choice([-1.0, 1.0], shape).astype(tdt) if draw(st.integers(0, 9)) else arrays_of(draw, shape, tdt)
        if op == "hinge_embedding_loss":
            kw["margin"] = draw(st.sampled_from([1.0, 0.0, -0.5, 2.0]))
        # torch's hinge_embedding_loss has no target gradient worth comparing (the target is a sign)
        arrays, grads = [x, np.asarray(t)], [g, False]
    elif op == "multilabel_soft_margin_loss":
        t = (rng.random(shape) < 0.5).astype(tdt)
        if draw(st.booleans()) and shape:
            kw["weight"] = rng.uniform(0, 2, shape[-1:]).astype(dtype)
        arrays, grads = [x, np.asarray(t)], [g, False]
    elif op in ("multi_margin_loss", "multilabel_margin_loss"):
        # torch quirk: torch's margin kernels add a hinge term only `if (z > 0)`, so a NaN score drops out
        # (torch gives a finite loss); ours propagates the NaN: fuzzed with inf but no NaN
        x = np.where(np.isnan(x), np.inf, x).astype(x.dtype)
        C = shape[-1] if shape else 1
        if op == "multi_margin_loss":
            t = rng.integers(draw(st.sampled_from([0, 0, -1])), max(C, 1) + draw(st.sampled_from([0, 0, 1])),
                             shape[:-1] if len(shape) == 2 else ())
            kw.update(p=draw(st.sampled_from([1, 2, 1, 3])), margin=draw(st.sampled_from([1.0, 0.0, 0.5])))
            if draw(st.booleans()):
                kw["weight"] = rng.uniform(0, 2, C).astype(dtype)
        else:
            t = rng.integers(-1, C + draw(st.sampled_from([0, 0, 0, 1])), shape)
        arrays, grads = [x, np.asarray(t).astype(draw(st.sampled_from([np.int64, np.int64, np.int32])))], [g, False]
    else:
        other = shape if draw(st.integers(0, 6)) else tuple(draw(st.integers(1, 3)) for _ in shape)
        p_, n_ = arrays_of(draw, other, dtype), arrays_of(draw, shape, dtype)
        kw.update(margin=draw(st.sampled_from([1.0, 0.0, 0.5])), swap=draw(st.booleans()))
        if op == "triplet_margin_loss":
            kw.update(p=draw(st.sampled_from([2, 1, 0, 3.0])), eps=draw(st.sampled_from([1e-6, 0.0])))
        arrays, grads = [x, p_, n_], [g, g, g]
        dist = draw(st.sampled_from([None, "pairwise", "cosine"]))

    def make(lib, *ts):
        k = {a: _t(lib, b) for a, b in kw.items()}
        if op == "triplet_margin_with_distance_loss" and dist is not None:
            L = _lib(lib)
            k["distance_function"] = L.pairwise_distance if dist == "pairwise" else (
                lambda a, b: 1.0 - L.cosine_similarity(a, b))
        return getattr(_lib(lib), op)(*ts, **k)
    # gaussian/poisson/triplet: sums of logs, powers and square roots; summation order differs in the last bits.
    # Accepted extension: int32 class targets (torch's multilabel_margin_loss wants int64 only)
    names = [op] + (["pairwise_distance", "cosine_similarity"] if op == "triplet_margin_with_distance_loss" else [])
    check_against_torch(names, make, arrays, grads, gtol=1e-7, tol=1e-4 if dtype == np.float32 else 1e-8,
                        accept_ok=("expected scalar type Long but found Int",))


def _t(lib, v):
    return (torch.tensor if lib == "torch" else mg.tensor)(v) if isinstance(v, np.ndarray) else v


@deep
@given(op=st.sampled_from(["pairwise_distance", "pdist", "threshold", "hardshrink", "softshrink", "rrelu"]),
       data=st.data(), dtype=any_dtypes)
def test_distances_and_shrinks_against_torch(op, data, dtype):
    draw = data.draw
    shape = tuple(draw(st.integers(0 if draw(st.integers(0, 7)) == 0 else 1, 4)) for _ in range(draw(st.integers(0, 3))))
    x = arrays_of(draw, shape, dtype, special=op != "pdist")
    arrays, grads = [x], [_gfor(dtype)]
    gtol = 1e-9
    if op == "pairwise_distance":
        other = shape[draw(st.integers(0, len(shape))):] if draw(st.integers(0, 4)) else (draw(st.integers(1, 3)),)
        arrays.append(arrays_of(draw, other, dtype))
        grads.append(_gfor(dtype))
        kw = dict(p=draw(st.sampled_from([2.0, 1.0, 0.0, 3.0, float("inf"), -1.0, 0.5])),
                  eps=draw(st.sampled_from([1e-6, 0.0, 0.5])), keepdim=draw(st.booleans()))
        gtol = 1e-7
    elif op == "pdist":
        kw = {"p": draw(st.sampled_from([2, 1, 0, 3.0, float("inf"), 0.5, -1]))}
        gtol = 1e-7
    elif op == "threshold":
        kw = {"threshold": draw(st.sampled_from([0.0, 0.5, -1.0])), "value": draw(st.sampled_from([0.0, 2.0, -3.0]))}
        if draw(st.booleans()):
            kw["inplace"] = True
    elif op in ("hardshrink", "softshrink"):
        kw = {"lambd": draw(st.sampled_from([0.5, 0.0, 1.0, 2.0, -0.5]))}
    else:  # rrelu in eval: the fixed slope (lower + upper) / 2
        kw = {"lower": draw(st.sampled_from([0.125, 0.0, 0.3])), "upper": draw(st.sampled_from([1 / 3, 0.5, 0.1])),
              "training": False}
    module = op in ("threshold", "hardshrink", "softshrink", "rrelu") and draw(st.booleans())
    mname = {"threshold": "Threshold", "hardshrink": "Hardshrink", "softshrink": "Softshrink", "rrelu": "RReLU"}.get(op)

    def make(lib, *ts):
        if module:
            k = {a: b for a, b in kw.items() if a != "training"}
            m = getattr(_mod(lib), mname)(**k)
            m.eval()
            return m(ts[0] * 1 if kw.get("inplace") else ts[0])
        if kw.get("inplace"):
            return getattr(_lib(lib), op)(ts[0] * 1, **kw)
        return getattr(_lib(lib), op)(*ts, **kw)
    # policy: pairwise_distance with p < 0 is refused (not a norm; as minigrad's dist), torch evaluates it
    check_against_torch([op, op + "_", mname or op], make, arrays, grads, gtol=gtol,
                        tol=1e-4 if dtype == np.float32 else 1e-8, refuse_ok=("negative p is not supported",))


@deep
@given(data=st.data(), dtype=any_dtypes, kind=st.sampled_from(["Constant", "Zero", "Reflection", "Replication",
                                                               "Circular"]), dims=st.integers(1, 3))
def test_padding_modules_against_torch(data, dtype, kind, dims):
    draw = data.draw
    nd = draw(st.sampled_from([dims + 1, dims + 2, dims + 2, dims, dims + 3]))
    shape = tuple(draw(st.integers(0 if draw(st.integers(0, 9)) == 0 else 1, 3)) for _ in range(nd))
    x = arrays_of(draw, shape, dtype)
    pad = tuple(draw(st.integers(-1 if draw(st.integers(0, 4)) == 0 else 0, 3)) for _ in range(2 * dims))
    padding = pad[0] if draw(st.booleans()) else pad
    if draw(st.integers(0, 14)) == 0:
        padding = pad[:-1] if len(pad) > 1 else (1, 2, 3)
    name = f"{kind}Pad{dims}d"
    args = (padding, draw(st.sampled_from([0.0, 1.5, -2.0]))) if kind == "Constant" else (padding,)

    def make(lib, x_):
        return getattr(_mod(lib), name)(*args)(x_)
    check_against_torch([name, "pad"], make, [x], [_gfor(dtype)])


@deep
@given(data=st.data(), dtype=float_dtypes, bias=st.booleans())
def test_bilinear_against_torch(data, dtype, bias):
    draw = data.draw
    i1, i2, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    lead = tuple(draw(st.integers(0, 2)) for _ in range(draw(st.integers(0, 2))))
    # (finite: with inf inputs, whether x1^T A x2 meets inf - inf (NaN) depends on the order of the sums)
    x1 = arrays_of(draw, lead + (i1,), dtype, special=False)
    lead2 = lead if draw(st.integers(0, 6)) else tuple(v + 1 for v in lead)
    x2 = arrays_of(draw, lead2 + (i2 if draw(st.integers(0, 9)) else i2 + 1,), dtype, special=False)
    tm, mm = _copy_weights(torch.nn.Bilinear(i1, i2, o, bias=bias), nn.Bilinear(i1, i2, o, bias=bias), dtype,
                           np.random.default_rng(i1 * 9 + i2))

    def make(lib, a, b):
        m = tm if lib == "torch" else mm
        m.zero_grad()
        return m(a, b), m
    g = _gfor(dtype)
    check_against_torch(["Bilinear", "bilinear"], make, [x1, x2], [g, g], gtol=1e-8)


@deep
@given(data=st.data(), dtype=float_dtypes, mode=st.sampled_from(["sum", "mean", "max"]))
def test_embedding_bag_against_torch(data, dtype, mode):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    V, D = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    w = rng.standard_normal((V, D)).astype(dtype)
    kw = {"mode": mode}
    if draw(st.booleans()):  # 2-D input: fixed-size bags
        inp = rng.integers(draw(st.sampled_from([0, 0, 0, -1])), V + draw(st.sampled_from([0, 0, 0, 1])),
                           (draw(st.integers(0, 3)), draw(st.integers(0, 3))))
        offsets = None
    else:  # 1-D input with offsets
        n = draw(st.integers(0, 6))
        inp = rng.integers(0, V + draw(st.sampled_from([0, 0, 0, 1])), n)
        cuts = sorted(rng.integers(0, n + 1, draw(st.integers(1, 3))).tolist())
        offsets = np.array([0] + cuts[1:] if draw(st.integers(0, 6)) else cuts, dtype=np.int64)
        if draw(st.booleans()):
            kw["include_last_offset"] = True
    if draw(st.integers(0, 3)) == 0:
        kw["padding_idx"] = draw(st.integers(-V, V - 1))
    psw = None
    if mode == "sum" and draw(st.booleans()) or draw(st.integers(0, 14)) == 0:
        psw = rng.standard_normal(inp.shape).astype(dtype)
    arrays = [inp.astype(np.int64), w] + ([offsets] if offsets is not None else []) + ([psw] if psw is not None else [])
    g = _gfor(dtype)
    grads = [False, g] + ([False] if offsets is not None else []) + ([g] if psw is not None else [])

    def make(lib, i_, w_, *rest):
        it = iter(rest)
        off = next(it) if offsets is not None else None
        p = next(it) if psw is not None else None
        return _lib(lib).embedding_bag(i_, w_, off, per_sample_weights=p, **kw)
    if inp.size and (inp.min() < 0 or inp.max() >= V):
        # torch 2.13 does not check the indices of embedding_bag on CPU (it reads out of bounds or
        # crashes the process): ours must refuse them, torch is not called
        try:
            y = make("mg", *[mg.tensor(a) for a in arrays])
        except ALLOWED as e:
            assert "embedding_bag" in str(e)
        else:  # computed: only where no bag reads an id (no bags at all)
            assert y.shape[0] == 0, "embedding_bag read an out-of-range id"
        return
    if kw.get("include_last_offset") and offsets is not None and (len(offsets) == 1 or offsets[-1] != len(inp)):
        # torch quirks: torch 2.13 crashes the process (segfault) on zero bags in mode='max', and where
        # offsets[-1] != len(input) its kernels disagree on the last bag (pinned below): not compared
        try:
            y = make("mg", *[mg.tensor(a) for a in arrays])
        except ALLOWED as e:
            assert "embedding_bag" in str(e)
        else:
            assert y.shape == (len(offsets) - 1, D) and y.dtype == w.dtype
        return
    check_against_torch("embedding_bag", make, arrays, grads, gtol=1e-8)


def test_triplet_with_distance_int_inputs_name_the_op():
    """Found by fuzzing: integer inputs were refused by the default distance, naming pairwise_distance."""
    a = mg.tensor(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="triplet_margin_with_distance_loss"):
        F.triplet_margin_with_distance_loss(a, a, a)
    with pytest.raises(TypeError, match="triplet_margin_loss"):
        F.triplet_margin_loss(a, a, a)
    b = mg.zeros(1, 2, dtype=mg.float64)  # and shapes that do not broadcast were pairwise_distance's error
    with pytest.raises(ValueError, match="triplet_margin_loss"):
        F.triplet_margin_loss(mg.zeros(0, 0, dtype=mg.float64), b, b)


def test_embedding_bag_last_offset_torch_quirk_pinned():
    """With include_last_offset, torch documents offsets[-1] == len(input) but does not check it; its kernels
    then disagree on where the last bag ends: its float64 kernel runs the last bag to the end of input, its
    float32 (FBGEMM) kernel stops at offsets[-1]. Ours always runs it to the end (not compared by the fuzzer)."""
    w = np.array([[1.0], [10.0], [100.0]])
    ids, off = np.array([1, 0, 2]), np.array([0, 1, 1])
    for dt in (np.float64, np.float32):
        got = F.embedding_bag(mg.tensor(ids), mg.tensor(w.astype(dt)), mg.tensor(off), mode="sum",
                              include_last_offset=True)
        np.testing.assert_array_equal(got.numpy(), [[10.0], [101.0]])
        want = TF.embedding_bag(torch.tensor(ids), torch.tensor(w.astype(dt)), torch.tensor(off), mode="sum",
                                include_last_offset=True)
        np.testing.assert_array_equal(want.numpy(), [[10.0], [101.0 if dt == np.float64 else 0.0]])  # torch 2.13
    # and pairwise_distance of empty vectors is 0 (as torch), not norm's refusal naming norm
    z = F.pairwise_distance(mg.zeros(2, 0, dtype=mg.float64), mg.zeros(2, 0, dtype=mg.float64))
    np.testing.assert_array_equal(z.numpy(), [0.0, 0.0])


def test_nan_and_inf_found_by_fuzzing():
    """Found by fuzzing against torch: threshold and softshrink mapped NaN to `value` / 0 (torch keeps NaN);
    multilabel_margin_loss turned an inf score into NaN through a 0-weighted pair (0 * inf)."""
    x = np.array([np.nan, 1.0, 0.2, -np.inf, np.inf])
    for f, kw in ((F.threshold, {"threshold": 0.5, "value": 2.0}), (F.softshrink, {"lambd": 0.5})):
        got = f(mg.tensor(x), **kw).numpy()
        np.testing.assert_array_equal(got, getattr(TF, f.__name__)(torch.tensor(x), **kw).numpy())
    s = np.array([np.inf, 1.0])
    t = np.array([1, -1])
    assert F.multilabel_margin_loss(mg.tensor(s), mg.tensor(t)).item() == np.inf


# ================================================================ Transformer layers (nn/transformer.py)
def _build_transformer(lib, kind, cfg, layers):
    M = _mod(lib)
    layer_kw = dict(dim_feedforward=cfg["ff"], dropout=0.1, activation=cfg["act"], layer_norm_eps=cfg["eps"],
                    batch_first=cfg["batch_first"], norm_first=cfg["norm_first"], bias=cfg["bias"])
    E, H = cfg["E"], cfg["H"]
    if kind == "EncoderLayer":
        return M.TransformerEncoderLayer(E, H, **layer_kw)
    if kind == "DecoderLayer":
        return M.TransformerDecoderLayer(E, H, **layer_kw)
    norm = M.LayerNorm(E) if cfg["final_norm"] else None
    if kind == "Encoder":
        extra = {"enable_nested_tensor": False}
        return M.TransformerEncoder(M.TransformerEncoderLayer(E, H, **layer_kw), layers, norm=norm, **extra)
    if kind == "Decoder":
        return M.TransformerDecoder(M.TransformerDecoderLayer(E, H, **layer_kw), layers, norm=norm)
    return M.Transformer(E, H, num_encoder_layers=layers, num_decoder_layers=layers, **layer_kw)


@deep
@given(data=st.data(), dtype=float_dtypes, kind=st.sampled_from(["EncoderLayer", "DecoderLayer", "Encoder",
                                                                 "Decoder", "Transformer"]))
def test_transformer_against_torch(data, dtype, kind):
    draw = data.draw
    H = draw(st.integers(1, 2))
    E = H * draw(st.integers(1, 2)) + (1 if draw(st.integers(0, 14)) == 0 else 0)
    cfg = dict(E=E, H=H, ff=draw(st.integers(1, 4)), act=draw(st.sampled_from(["relu", "gelu"])),
               eps=draw(st.sampled_from([1e-5, 0.1])), batch_first=draw(st.booleans()),
               norm_first=draw(st.booleans()), bias=draw(st.booleans()), final_norm=draw(st.booleans()))
    layers = draw(st.integers(1, 2))
    name = "Transformer" + ("" if kind == "Transformer" else kind)
    try:
        tm = _build_transformer("torch", kind, cfg, layers)
    except Exception:  # noqa: BLE001 - e.g. nhead does not divide d_model: both constructors refuse
        with pytest.raises(ALLOWED, match=f"{name}|MultiheadAttention"):
            _build_transformer("mg", kind, cfg, layers)
        return
    tm, mm = _copy_weights(tm, _build_transformer("mg", kind, cfg, layers), dtype,
                           np.random.default_rng(E * 10 + layers), scale=0.7)
    tm.eval(), mm.eval()
    unbatched = draw(st.integers(0, 4)) == 0
    N, S, T = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))

    def sh(L, D=E):
        return (L, D) if unbatched else ((N, L, D) if cfg["batch_first"] else (L, N, D))
    bad = draw(st.integers(0, 14)) == 0  # a wrong feature size
    src = arrays_of(draw, sh(S, E + 1 if bad else E), dtype, kinks=False, special=False)
    tgt = arrays_of(draw, sh(T), dtype, kinks=False, special=False)
    rng = np.random.default_rng(S * 7 + T)

    def mask(L, K):
        k = draw(st.sampled_from(["none", "none", "bool", "float", "causal"]))
        if k == "bool":
            return rng.random((L, K)) < 0.3
        if k == "float":
            return rng.standard_normal((L, K)).astype(dtype)
        if k == "causal" and L == K:
            return np.triu(np.full((L, L), -np.inf), 1).astype(dtype)
        return None

    def kpm(L):
        return (rng.random((L,) if unbatched else (N, L)) < 0.3) if draw(st.booleans()) else None
    call = {}
    if kind in ("EncoderLayer", "Encoder"):
        arrays = [src]
        call = {"src_mask" if kind == "EncoderLayer" else "mask": mask(S, S), "src_key_padding_mask": kpm(S)}
    elif kind in ("DecoderLayer", "Decoder"):
        arrays = [tgt, src]
        call = {"tgt_mask": mask(T, T), "memory_mask": mask(T, S), "tgt_key_padding_mask": kpm(T),
                "memory_key_padding_mask": kpm(S)}
    else:
        arrays = [src, tgt]
        call = {"src_mask": mask(S, S), "tgt_mask": mask(T, T), "src_key_padding_mask": kpm(S),
                "tgt_key_padding_mask": kpm(T), "memory_key_padding_mask": kpm(S)}
    call = {k: v for k, v in call.items() if v is not None}

    def make(lib, *ts):
        m = tm if lib == "torch" else mm
        m.zero_grad()
        return m(*ts, **{k: _t(lib, v) for k, v in call.items()}), m
    g = _gfor(dtype)
    # float32: layer norms of tiny differences amplify rounding a little
    # (a wrong feature size is refused by the layer itself, naming it; the stacks' errors may name a sub-layer)
    check_against_torch([name, "MultiheadAttention", "Transformer", "LayerNorm", "layer_norm", "Linear"], make, arrays,
                        [g] * len(arrays), gtol=1e-7, tol=1e-4 if dtype == np.float32 else 1e-8)


# ================================================================ ctc_loss (ops/ctc.py)
@deep
@given(data=st.data(), dtype=float_dtypes, reduction=st.sampled_from(["mean", "sum", "none"]),
       zero_infinity=st.booleans(), unbatched=st.booleans(), concat=st.booleans())
def test_ctc_loss_against_torch(data, dtype, reduction, zero_infinity, unbatched, concat):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    T, C = draw(st.integers(0 if draw(st.integers(0, 9)) == 0 else 1, 5)), draw(st.integers(1 if draw(st.integers(0, 9)) == 0 else 2, 4))
    N = 1 if unbatched else draw(st.integers(1, 3))
    blank = draw(st.sampled_from([0, 0, 0, C - 1, C - 1, C]))
    logits = rng.standard_normal((T, N, C))
    lp = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(dtype)
    if unbatched:
        lp = lp[:, 0]
    il = rng.integers(0 if draw(st.integers(0, 9)) == 0 else min(1, T), T + 1 + (draw(st.integers(0, 9)) == 0), N)
    tl = rng.integers(0, 4, N)
    S = int(tl.max()) if tl.size else 0
    labels = [c for c in range(C) if c != blank] or [0]
    tgt = rng.choice(labels, (N, max(S, draw(st.integers(0, 1)) + S)))
    if draw(st.integers(0, 9)) == 0 and tgt.size:
        tgt.flat[0] = blank  # a blank inside the targets (torch: undefined; refused or computed alike)
    if concat and not unbatched:
        targets = np.concatenate([tgt[b, :tl[b]] for b in range(N)]).astype(np.int64)
    else:
        targets = tgt[0, :S] if unbatched else tgt
        targets = targets.astype(draw(st.sampled_from([np.int64, np.int64, np.int32])))
    il_arr, tl_arr = (il[:1], tl[:1]) if unbatched else (il, tl)
    as_list = draw(st.booleans())
    kw = dict(blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    g = _gfor(dtype)

    def make(lib, lp_, t_, il_, tl_):
        if as_list:
            il_, tl_ = [int(v) for v in il_arr], [int(v) for v in tl_arr]
        if unbatched and not as_list:
            il_, tl_ = il_.reshape(()), tl_.reshape(())
        module = _mod(lib).CTCLoss(**kw)
        return module(lp_, t_, il_, tl_)
    # sums of exp/log over lattices: a few ulps of float64 apart
    # policy (ops/ctc.py): a blank label inside the targets is refused (torch computes some number)
    check_against_torch(["ctc_loss", "CTCLoss"], make, [lp, targets, il_arr.astype(np.int64), tl_arr.astype(np.int64)],
                        [g, False, False, False], gtol=1e-7, tol=1e-4 if dtype == np.float32 else 1e-8,
                        refuse_ok=("must not contain the blank label",))


# ================================================================ packed sequences through RNN / LSTM / GRU
@deep
@given(data=st.data(), dtype=float_dtypes, kind=st.sampled_from(["RNN", "LSTM", "GRU"]), batch_first=st.booleans(),
       enforce_sorted=st.booleans(), bidirectional=st.booleans(), num_layers=st.integers(1, 2), bias=st.booleans())
def test_packed_recurrent_against_torch(data, dtype, kind, batch_first, enforce_sorted, bidirectional, num_layers,
                                        bias):
    draw = data.draw
    I, Hd, B, T = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    lengths = [draw(st.integers(0 if draw(st.integers(0, 14)) == 0 else 1, T + (draw(st.integers(0, 14)) == 0)))
               for _ in range(B)]
    if draw(st.booleans()):
        lengths = sorted(lengths, reverse=True)
    x = arrays_of(draw, (B, T, I) if batch_first else (T, B, I), dtype, kinks=False, special=False)
    kw = dict(num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
    tm, mm = _copy_weights(getattr(torch.nn, kind)(I, Hd, **kw), getattr(nn, kind)(I, Hd, **kw), dtype,
                           np.random.default_rng(I * 5 + Hd), scale=0.6)
    with_h0 = draw(st.booleans())
    h0 = arrays_of(draw, (num_layers * (2 if bidirectional else 1), B, Hd), dtype, kinks=False, special=False)
    lens_as = draw(st.sampled_from(["list", "tensor"]))
    total_length = draw(st.sampled_from([None, None, T, T + 1, max(T - 1, 1)]))
    pad_value = draw(st.sampled_from([0.0, -1.5]))
    info = {}

    def make(lib, x_, h_):
        U = torch.nn.utils.rnn if lib == "torch" else nn.utils.rnn
        lens = lengths if lens_as == "list" else (torch.tensor if lib == "torch" else mg.tensor)(np.array(lengths))
        packed = U.pack_padded_sequence(x_, lens, batch_first=batch_first, enforce_sorted=enforce_sorted)
        m = tm if lib == "torch" else mm
        m.zero_grad()
        hx = None
        if with_h0:
            hx = (h_, h_ * 0.5) if kind == "LSTM" else h_
        out, state = m(packed, hx)
        info[lib] = [np.asarray(v.numpy()) if v is not None else None
                     for v in (out.batch_sizes, out.sorted_indices, out.unsorted_indices)]
        padded, out_lens = U.pad_packed_sequence(out, batch_first=batch_first, padding_value=pad_value,
                                                 total_length=total_length)
        info[lib].append(np.asarray(out_lens.numpy()))
        states = list(state) if kind == "LSTM" else [state]
        return [out.data, padded] + states, m
    g = _gfor(dtype)
    names = [kind, "pack_padded_sequence", "pad_packed_sequence", "PackedSequence"]
    check_against_torch(names, make, [x, h0], [g, g and with_h0], gtol=1e-8, tol=1e-4 if dtype == np.float32 else 1e-9)
    if len(info) == 2:
        for got, want in zip(info["mg"], info["torch"]):
            assert (got is None) == (want is None)
            if got is not None:
                assert got.dtype == want.dtype == np.int64
                np.testing.assert_array_equal(got, want)


def test_interpolate_area_empty_channels_names_interpolate():
    """Found by fuzzing: mode='area' on a zero-channel 4-D input was refused by adaptive_avg_pool2d's name."""
    with pytest.raises(ValueError, match="interpolate"):
        F.interpolate(mg.zeros(1, 0, 2, 2), size=1, mode="area")
