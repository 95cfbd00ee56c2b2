"""The fused sequence kernels (minigrad/ops/recurrent.py) against the same recurrences
written here from primitive ops, against finite differences, and against torch."""
import contextlib
import os
import signal
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad.ops.recurrent import (
    GRUSequence, LSTMSequence, RNNSequence, gru_sequence, lstm_sequence, rnn_sequence,
)
from minigrad.testing import gradcheck

GRADIENT_TESTED = [RNNSequence, LSTMSequence, GRUSequence]

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


# ---------------------------------------------------------------- the composed reference
def _cell(kind, x_t, h, c, w_ih, w_hh, b_ih, b_hh, nonlinearity, reset_after):
    """One step from primitive ops (linear, sigmoid, tanh, relu, chunk): the textbook cell."""
    if kind == "rnn":
        a = F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
        return (a.relu() if nonlinearity == "relu" else a.tanh()), None
    if kind == "lstm":
        i, f, g, o = (F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh)).chunk(4, dim=1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        return o * c.tanh(), c
    xr, xz, xn = F.linear(x_t, w_ih, b_ih).chunk(3, dim=1)
    H = h.shape[1]
    w_hr, w_hz, w_hn = w_hh[:H], w_hh[H:2 * H], w_hh[2 * H:]
    b_hr, b_hz, b_hn = (None, None, None) if b_hh is None else (b_hh[:H], b_hh[H:2 * H], b_hh[2 * H:])
    r = (xr + F.linear(h, w_hr, b_hr)).sigmoid()
    z = (xz + F.linear(h, w_hz, b_hz)).sigmoid()
    if reset_after:
        n = (xn + r * F.linear(h, w_hn, b_hn)).tanh()
    else:
        n = (xn + F.linear(r * h, w_hn, b_hn)).tanh()
    return (1 - z) * n + z * h, None


def composed_sequence(kind, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False,
                      nonlinearity="tanh", reset_after=True):
    """A straightforward per-step loop with masking: keep = [t < lengths[b]]."""
    T = x.shape[0]
    h, c = h0, c0
    outs = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        h_new, c_new = _cell(kind, x[t], h, c, w_ih, w_hh, b_ih, b_hh, nonlinearity, reset_after)
        if lengths is None:
            h, c, outs[t] = h_new, c_new, h_new
        else:
            keep = mg.tensor(np.array([[1.0 if t < n else 0.0] for n in lengths]), dtype=x.dtype, device=x.device)
            h = keep * h_new + (1 - keep) * h
            if c is not None:
                c = keep * c_new + (1 - keep) * c
            outs[t] = keep * h_new
    return mg.stack(outs, dim=0), h, c


def fused_sequence(kind, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False,
                   nonlinearity="tanh", reset_after=True):
    """The fused op with the composed function's signature: (out, h_n, c_n or None)."""
    if kind == "rnn":
        out, h_n = rnn_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity, lengths=lengths,
                                reverse=reverse)
        return out, h_n, None
    if kind == "lstm":
        return lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=lengths, reverse=reverse)
    out, h_n = gru_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=lengths, reverse=reverse,
                            reset_after=reset_after)
    return out, h_n, None


def make_args(kind, T, B, I, H, bias=(True, True), seed=0, dtype="float64", device="cpu"):
    """Leaves x, h0, c0 (LSTM only, else None), w_ih, w_hh, b_ih, b_hh (or None), all requiring grad."""
    rng = np.random.default_rng(seed)
    G = GATES[kind]

    def leaf(*shape, s=1.0):
        return mg.tensor(s * rng.standard_normal(shape), dtype=dtype, device=device, requires_grad=True)

    s = 1.0 / np.sqrt(H)
    return [leaf(T, B, I), leaf(B, H), leaf(B, H) if kind == "lstm" else None,
            leaf(G * H, I, s=s), leaf(G * H, H, s=s),
            leaf(G * H, s=s) if bias[0] else None, leaf(G * H, s=s) if bias[1] else None]


def run_and_grads(fn, kind, args, cotangents, **kw):
    """Values and the gradients of L = sum(v * out) + sum(w * h_n) [+ sum(u * c_n)] for every leaf."""
    leaves = [None if a is None else mg.tensor(a.numpy().copy(), device=a.device, requires_grad=True) for a in args]
    out, h_n, c_n = fn(kind, *leaves, **kw)
    results = [r for r in (out, h_n, c_n) if r is not None]
    loss = None
    for r, v in zip(results, cotangents):
        term = (r * mg.tensor(v, dtype=r.dtype, device=r.device)).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    grads = [None if a is None else a.grad.numpy() for a in leaves]
    return [r.numpy() for r in results], grads


def assert_fused_equals_composed(kind, T, B, I, H, bias, lengths, reverse, seed, **kw):
    args = make_args(kind, T, B, I, H, bias=bias, seed=seed)
    rng = np.random.default_rng(seed + 1)
    cot = [rng.standard_normal((T, B, H)), rng.standard_normal((B, H)), rng.standard_normal((B, H))]
    vals_f, grads_f = run_and_grads(fused_sequence, kind, args, cot, lengths=lengths, reverse=reverse, **kw)
    vals_c, grads_c = run_and_grads(composed_sequence, kind, args, cot, lengths=lengths, reverse=reverse, **kw)
    names = ["out", "h_n", "c_n"]
    for name, a, b in zip(names, vals_f, vals_c):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=f"{kind} value {name}")
    for name, a, b in zip(["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"], grads_f, grads_c):
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=f"{kind} gradient of {name}")


@st.composite
def configs(draw):
    T = draw(st.integers(1, 5))
    B = draw(st.integers(1, 3))
    cfg = dict(T=T, B=B, I=draw(st.integers(1, 4)), H=draw(st.integers(1, 4)),
               bias=draw(st.sampled_from([(True, True), (False, False), (True, False), (False, True)])),
               reverse=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))
    cfg["lengths"] = draw(st.none() | st.lists(st.integers(1, T), min_size=B, max_size=B))
    return cfg


# ---------------------------------------------------------------- fused == composed (values and gradients)
@given(cfg=configs(), nonlinearity=st.sampled_from(["tanh", "relu"]))
def test_rnn_fused_equals_composed(cfg, nonlinearity):
    assert_fused_equals_composed("rnn", nonlinearity=nonlinearity, **cfg)


@given(cfg=configs())
def test_lstm_fused_equals_composed(cfg):
    assert_fused_equals_composed("lstm", **cfg)


@given(cfg=configs(), reset_after=st.booleans())
def test_gru_fused_equals_composed(cfg, reset_after):
    assert_fused_equals_composed("gru", reset_after=reset_after, **cfg)


@pytest.mark.parametrize("block_elements", [1, 60])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_backward_in_several_blocks(monkeypatch, block_elements, reverse):
    """The LSTM backward prepares its per-step factors a block of steps at a time: with
    tiny blocks (1 step, or 2 steps of B*4H = 24 elements, so T=5 leaves a partial block)
    it must still equal the composed recurrence."""
    from minigrad.ops import recurrent
    monkeypatch.setattr(recurrent, "_BLOCK_ELEMENTS", block_elements)
    assert_fused_equals_composed("lstm", T=5, B=2, I=3, H=3, bias=(True, True), lengths=[5, 3],
                                 reverse=reverse, seed=9)
    assert_fused_equals_composed("lstm", T=5, B=2, I=3, H=3, bias=(True, True), lengths=None,
                                 reverse=reverse, seed=10)


# ---------------------------------------------------------------- row blocks on parallel threads
@contextlib.contextmanager
def row_blocks_forced(threads):
    """Cut every batch into `threads` row blocks (down to 1 row each), counting the parallel runs.

    Where NumPy's BLAS lacks OpenBLAS's thread setting (MKL, Accelerate), a stand-in
    setter lets the block logic run all the same (BLAS then keeps its own threads).
    """
    from minigrad import backend
    names = ("row_split_min", "row_split_threads", "_openblas", "_blas_local", "run_blocks")
    saved = {name: getattr(backend, name) for name in names}
    calls = []

    def counting(blocks, work):
        calls.append(len(blocks))
        return saved["run_blocks"](blocks, work)

    backend.row_split_min, backend.row_split_threads = 1, threads
    if backend._blas_threads_setter() is None:
        backend._openblas, backend._blas_local = object(), (lambda n: 1)
    backend.run_blocks = counting
    try:
        yield calls
    finally:
        for name, value in saved.items():
            setattr(backend, name, value)


@given(cfg=configs(), kind=st.sampled_from(["rnn", "lstm", "gru"]), reset_after=st.booleans(),
       threads=st.integers(2, 3))
def test_row_blocks_equal_composed(cfg, kind, reset_after, threads):
    """A batch run as row blocks on parallel threads (outputs joined along the batch, weight
    gradients summed over blocks) equals the composed recurrence, lengths and reverse included."""
    kw = dict(reset_after=reset_after) if kind == "gru" else {}
    with row_blocks_forced(threads) as calls:
        assert_fused_equals_composed(kind, **cfg, **kw)
    blocks = min(threads, cfg["B"])
    assert calls == ([blocks, blocks] if blocks > 1 else []), calls  # forward and backward ran in blocks


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_row_blocks_equal_one_block_float32(kind):
    """In float32, blocks give the one-block results (weight gradients up to summation order),
    keep float32, and restore BLAS's thread count afterwards."""
    from minigrad import backend
    args = make_args(kind, 6, 7, 3, 5, seed=4, dtype="float32")
    rng = np.random.default_rng(5)
    cot = [rng.standard_normal((6, 7, 5)), rng.standard_normal((7, 5)), rng.standard_normal((7, 5))]
    kw = dict(lengths=[6, 1, 3, 6, 2, 5, 4], reverse=True)
    vals_1, grads_1 = run_and_grads(fused_sequence, kind, args, cot, **kw)
    setter = backend._blas_threads_setter()
    before = None if setter is None else setter(2)
    try:
        with row_blocks_forced(3) as calls:
            vals_b, grads_b = run_and_grads(fused_sequence, kind, args, cot, **kw)
        if setter is not None:
            assert setter(before) == 2  # the setting in force before the blocks is back
    finally:
        if setter is not None:
            setter(before)
    assert calls == [3, 3]  # forward and backward
    for a, b in zip(vals_b, vals_1):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)  # each row's recurrence is the same arithmetic
    for a, b in zip(grads_b, grads_1):
        if a is not None:
            assert a.dtype == np.float32 and a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_row_blocks_keep_in_place_checks():
    """A weight changed in place after a blocked forward is still refused by backward."""
    args = make_args("lstm", 3, 4, 2, 3, seed=1)
    with row_blocks_forced(2):
        out, h_n, _ = fused_sequence("lstm", *args)
        with mg.no_grad():
            args[4].mul_(2)
        with pytest.raises(RuntimeError, match="modified in place"):
            out.sum().backward()


def test_run_blocks_raises_a_block_error_after_all_finish():
    from minigrad import backend
    done = []

    def work(k, rows):
        if k == 1:
            raise ValueError("block 1 failed")
        done.append(k)
        return k

    with row_blocks_forced(3):
        with pytest.raises(ValueError, match="block 1 failed"):
            backend.run_blocks([slice(0, 1), slice(1, 2), slice(2, 3)], work)
        assert sorted(done) == [0, 2]
        assert backend.run_blocks([slice(0, 1), slice(1, 2)], lambda k, rows: (k, rows.start)) == [(0, 0), (1, 1)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_row_blocks_after_fork():
    """A forked child (e.g. a data-loading worker) has none of the parent's block threads: it must
    start its own instead of waiting forever on threads that are not there."""
    args = make_args("gru", 3, 4, 2, 3, seed=2)
    with row_blocks_forced(2):
        want = fused_sequence("gru", *args)[1].numpy()  # the parent's thread pool now exists
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: run again, report, and leave without running pytest's teardown
            try:
                os.write(write, fused_sequence("gru", *args)[1].numpy().tobytes())
            finally:
                os._exit(0)
        os.close(write)
        deadline = time.monotonic() + 60
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung running row blocks")
            time.sleep(0.01)
        got = np.frombuffer(os.read(read, 1 << 16), dtype=want.dtype).reshape(want.shape)
        os.close(read)
    np.testing.assert_array_equal(got, want)


def test_row_blocks_only_for_large_cpu_batches(monkeypatch):
    from minigrad import backend
    monkeypatch.setattr(backend, "row_split_min", 64)
    monkeypatch.setattr(backend, "row_split_threads", 2)
    assert backend.row_blocks(np, 127) == [slice(0, 127)]  # under 2 x 64 rows: one block
    if backend._blas_threads_setter() is not None:
        assert backend.row_blocks(np, 128) == [slice(0, 64), slice(64, 128)]
    monkeypatch.setattr(backend, "row_split_threads", 1)  # MINIGRAD_ROW_THREADS=1: never split
    assert backend.row_blocks(np, 10**6) == [slice(0, 10**6)]


def test_row_blocks_automatic_only_when_openblas_threads_sleep_soon(monkeypatch):
    """Automatic mode (MINIGRAD_ROW_THREADS unset): OpenBLAS's default idle spin (2^28 cycles) makes its
    worker compete with the blocks for the cores, so blocks stay off; with a short spin they are used."""
    from minigrad import backend
    if backend._blas_threads_setter() is None:
        monkeypatch.setattr(backend, "_openblas", object())
        monkeypatch.setattr(backend, "_blas_local", lambda n: 1)
    monkeypatch.setattr(backend, "row_split_min", 64)
    monkeypatch.setattr(backend, "row_split_threads", 0)
    monkeypatch.setattr(backend, "_cores", lambda: 2)
    monkeypatch.setattr(backend, "_blas_idle_spin", lambda: 28)
    assert backend.row_blocks(np, 256) == [slice(0, 256)]
    monkeypatch.setattr(backend, "_blas_idle_spin", lambda: 20)
    assert backend.row_blocks(np, 256) == [slice(0, 128), slice(128, 256)]


@pytest.mark.parametrize("setting,expected", [(None, 28), ("20", 20)])
def test_openblas_idle_spin_is_read_from_the_library(setting, expected):
    """What OpenBLAS was started with (OPENBLAS_THREAD_TIMEOUT, read at load time), in a fresh process."""
    import subprocess
    import sys
    from minigrad import backend
    if backend._blas_threads_setter() is None:
        pytest.skip("NumPy's BLAS here is not an OpenBLAS with a settable thread count")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if setting is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = setting
    code = "import minigrad.backend as b; print(b._blas_idle_spin())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) == expected


# ---------------------------------------------------------------- finite differences, on every backend
GRADCHECK_CASES = [
    ("rnn", dict(nonlinearity="tanh")),
    ("rnn", dict(nonlinearity="relu", lengths=[3, 1], reverse=True)),
    ("lstm", dict()),
    ("lstm", dict(lengths=[2, 3], reverse=True)),
    ("lstm", dict(lengths=[1, 3])),
    ("gru", dict(reset_after=True, lengths=[3, 2])),
    ("gru", dict(reset_after=False, reverse=True)),
    ("gru", dict(reset_after=False, lengths=[2, 1], reverse=True)),
]


@pytest.mark.parametrize("kind,kw", GRADCHECK_CASES)
def test_gradcheck(device, kind, kw):
    args = make_args(kind, T=3, B=2, I=2, H=3, seed=7, device=device)
    present = [a for a in args if a is not None]

    def f(*xs):
        it = iter(xs)
        full = [None if a is None else next(it) for a in args]
        out, h_n, c_n = fused_sequence(kind, *full, **kw)
        return tuple(r for r in (out, h_n, c_n) if r is not None)

    assert gradcheck(f, *present, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------- semantics
def test_lengths_zero_outputs_and_frozen_state():
    kind, T, B, H = "lstm", 4, 2, 3
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = make_args(kind, T, B, 2, H, seed=3)
    out, h_n, c_n = lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=[2, 4])
    assert np.all(out.numpy()[2:, 0] == 0)
    np.testing.assert_array_equal(h_n.numpy()[0], out.numpy()[1, 0])  # state after step lengths[0] - 1
    # The same first sequence run alone over its own two steps gives the same numbers.
    _, h1, c1 = lstm_sequence(x[:2, :1], h0[:1], c0[:1], w_ih, w_hh, b_ih, b_hh)
    np.testing.assert_allclose(h_n.numpy()[:1], h1.numpy(), rtol=1e-12)
    np.testing.assert_allclose(c_n.numpy()[:1], c1.numpy(), rtol=1e-12)
    # Reverse starts at each sequence's own last valid step: = the plain reverse of the prefix.
    out_r, h_r, _ = lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=[2, 4], reverse=True)
    o2, h2, _ = lstm_sequence(x[:2, :1], h0[:1], c0[:1], w_ih, w_hh, b_ih, b_hh, reverse=True)
    np.testing.assert_allclose(out_r.numpy()[:2, :1], o2.numpy(), rtol=1e-12)
    np.testing.assert_allclose(h_r.numpy()[:1], h2.numpy(), rtol=1e-12)
    assert np.all(out_r.numpy()[2:, 0] == 0)


@pytest.mark.parametrize("lengths", [[3, 3], np.array([3, 3]), mg.tensor([3, 3])])
def test_full_lengths_equal_no_lengths(lengths):
    args = make_args("gru", 3, 2, 2, 3, seed=5)
    out0, h0_ = gru_sequence(args[0], args[1], *args[3:])
    out1, h1_ = gru_sequence(args[0], args[1], *args[3:], lengths=lengths)
    np.testing.assert_array_equal(out0.numpy(), out1.numpy())
    np.testing.assert_array_equal(h0_.numpy(), h1_.numpy())


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False])
def test_non_contiguous_input(kind, bias):
    """A batch-first tensor transposed to time-major (a strided view) gives the same values and gradients."""
    args = make_args(kind, 4, 3, 2, 3, seed=8)
    if not bias:
        args[5] = args[6] = None
    xb = mg.tensor(np.ascontiguousarray(args[0].numpy().transpose(1, 0, 2)), requires_grad=True)  # (B, T, I)
    out, h_n, _ = fused_sequence(kind, xb.transpose(0, 1), *args[1:])
    ref, ref_h, _ = fused_sequence(kind, *args)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    (out.sum() + h_n.sum()).backward()
    (ref.sum() + ref_h.sum()).backward()
    np.testing.assert_allclose(xb.grad.numpy().transpose(1, 0, 2), args[0].grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_float32_stays_float32(kind):
    args = make_args(kind, 4, 2, 3, 5, seed=1, dtype="float32")
    out, h_n, c_n = fused_sequence(kind, *args, lengths=[4, 2], reverse=True)
    for r in (out, h_n, c_n):
        assert r is None or r.dtype == np.float32
    (out.sum() + h_n.sum()).backward()
    for a in args:
        if a is not None:
            assert a.grad.dtype == np.float32 and a.grad.shape == a.shape
    # and agrees with the float64 computation to float32 precision
    args64 = [None if a is None else mg.tensor(a.numpy(), dtype="float64") for a in args]
    out64 = fused_sequence(kind, *args64, lengths=[4, 2], reverse=True)[0]
    np.testing.assert_allclose(out.numpy(), out64.numpy(), rtol=1e-4, atol=1e-5)


def test_only_weights_need_grad_and_no_grad_mode():
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = make_args("lstm", 3, 2, 2, 3, seed=2)
    x, h0, c0 = x.detach(), h0.detach(), c0.detach()
    out, _, c_n = lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    (out.sum() + c_n.sum()).backward()  # h_n unused: its gradient is zero
    assert x.grad is None and h0.grad is None and w_hh.grad is not None
    ref = make_args("lstm", 3, 2, 2, 3, seed=2)
    ref = [ref[0].detach(), ref[1].detach(), ref[2].detach()] + ref[3:]
    o, _, c = composed_sequence("lstm", *ref)
    (o.sum() + c.sum()).backward()
    for a, b in zip((w_ih, w_hh, b_ih, b_hh), ref[3:]):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    with mg.no_grad():
        out, h_n, c_n = lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("kind,kw", [("rnn", {}), ("lstm", {}), ("gru", dict(reset_after=True)),
                                     ("gru", dict(reset_after=False))])
def test_some_inputs_frozen(kind, kw):
    """Gradients only where asked (here: w_hh and the biases), equal to the composed ones."""
    def run(fn):
        args = make_args(kind, 4, 2, 3, 2, seed=6)
        for k in (0, 1, 2, 3):  # x, h0, c0, w_ih: no gradient
            if args[k] is not None:
                args[k] = args[k].detach()
        out, h_n, _ = fn(kind, *args, lengths=[4, 2], **kw)
        ((out * out).sum() + h_n.sum()).backward()
        assert args[0].grad is None and args[3].grad is None
        return [a.grad.numpy() for a in args[4:]]

    for a, b in zip(run(fused_sequence), run(composed_sequence)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_torch_parity_packed(kind):
    """lengths/reverse match torch on a pack_padded_sequence input (bidirectional's two halves)."""
    torch = pytest.importorskip("torch")
    T, B, I, H = 5, 3, 2, 4
    lengths = [5, 2, 3]
    torch.manual_seed(0)
    m = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](I, H, bidirectional=True).double()
    xt = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
    res, hn = m(packed)
    if kind == "lstm":
        hn = hn[0]
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(res, total_length=T)
    (out_t.pow(2).sum() + hn.sum()).backward()
    x = mg.tensor(xt.detach().numpy(), requires_grad=True)
    outs, grads = [], {}
    for d, sfx in enumerate(["", "_reverse"]):
        ps = [mg.tensor(getattr(m, f"{n}_l0{sfx}").detach().numpy(), requires_grad=True)
              for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h0 = mg.zeros(B, H, dtype="float64")
        c0 = mg.zeros(B, H, dtype="float64") if kind == "lstm" else None
        out, h_n, _ = fused_sequence(kind, x, h0, c0, *ps, lengths=lengths, reverse=bool(d))
        np.testing.assert_allclose(h_n.numpy(), hn[d].detach().numpy(), rtol=1e-10, atol=1e-12)
        outs.append(out)
        grads[sfx] = (ps, h_n)
    out = mg.cat(outs, dim=2)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    loss = (out * out).sum() + grads[""][1].sum() + grads["_reverse"][1].sum()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for sfx, (ps, _) in grads.items():
        for p, n in zip(ps, ("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
            np.testing.assert_allclose(p.grad.numpy(), getattr(m, f"{n}_l0{sfx}").grad.numpy(), rtol=1e-9,
                                       atol=1e-12, err_msg=f"{kind} {n}{sfx}")


def test_models_lstm_fused_matches_composed():
    models = pytest.importorskip("models")
    if not hasattr(models, "LSTM"):
        pytest.skip("models.LSTM is not available")
    x = np.random.default_rng(4).standard_normal((4, 3, 2))
    results = []
    for fused in (True, False):
        mg.manual_seed(11)
        lstm = models.LSTM(2, 3, num_layers=2, bidirectional=True, fused=fused, dtype="float64")
        xt = mg.tensor(x, requires_grad=True)
        out, (h_n, c_n) = lstm(xt, lengths=[4, 2, 3])
        ((out * out).sum() + h_n.sum() + c_n.sum()).backward()
        results.append((out.numpy(), h_n.numpy(), xt.grad.numpy(),
                        {n: p.grad.numpy() for n, p in lstm.named_parameters()}))
    (o1, h1, g1, p1), (o2, h2, g2, p2) = results
    np.testing.assert_allclose(o1, o2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h1, h2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-12)
    assert p1.keys() == p2.keys() and len(p1) == 16
    for n in p1:
        np.testing.assert_allclose(p1[n], p2[n], rtol=1e-10, atol=1e-12, err_msg=n)


def test_empty_batch():
    """B = 0 runs (shapes kept, zero gradients) instead of failing inside the kernel."""
    for kind in ("rnn", "lstm", "gru"):
        args = make_args(kind, 3, 1, 2, 4, seed=0)
        x = mg.zeros(3, 0, 2, dtype="float64", requires_grad=True)
        h0 = mg.zeros(0, 4, dtype="float64")
        out, h_n, _ = fused_sequence(kind, x, h0, h0 if kind == "lstm" else None, *args[3:], lengths=[])
        assert out.shape == (3, 0, 4) and h_n.shape == (0, 4)
        out.sum().backward()
        assert args[3].grad.shape == args[3].shape and not args[3].grad.numpy().any()


# ---------------------------------------------------------------- clear errors
def _good(kind="lstm"):
    return make_args(kind, 3, 2, 4, 5, seed=0)


def test_errors_shapes():
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _good()
    with pytest.raises(ValueError, match=r"lstm_sequence: x must be 3-D"):
        lstm_sequence(x[0], h0, c0, w_ih, w_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"lstm_sequence: c0 must have shape \(2, 5\)"):
        lstm_sequence(x, h0, c0[:1], w_ih, w_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"lstm_sequence: w_ih must have shape \(20, 4\)"):
        lstm_sequence(x, h0, c0, w_ih[:, :3], w_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"lstm_sequence: w_hh must have shape \(20, 5\)"):
        lstm_sequence(x, h0, c0, w_ih, w_hh[:15], b_ih, b_hh)
    with pytest.raises(ValueError, match=r"lstm_sequence: b_hh must have shape \(20,\)"):
        lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh[:4])
    with pytest.raises(ValueError, match=r"gru_sequence: w_ih must have shape \(15, 4\)"):
        gru_sequence(x, h0, w_ih, w_hh, b_ih, b_hh)  # LSTM-sized weights for a GRU
    with pytest.raises(ValueError, match=r"h0 must be 2-D"):
        rnn_sequence(x, h0[0], w_ih, w_hh)
    with pytest.raises(TypeError, match=r"rnn_sequence: w_hh must be a minigrad Tensor"):
        rnn_sequence(x, h0, w_ih[:5], w_hh.numpy()[:5])


def test_errors_dtype_device_nonlinearity():
    x, h0, _, w_ih, w_hh, b_ih, b_hh = _good("rnn")
    with pytest.raises(TypeError, match=r"rnn_sequence: dtype mismatch.*w_hh"):
        rnn_sequence(x, h0, w_ih, w_hh.float(), b_ih, b_hh)
    with pytest.raises(TypeError, match=r"rnn_sequence: expected floating-point"):
        rnn_sequence(x.long(), h0, w_ih, w_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"rnn_sequence: nonlinearity must be 'tanh' or 'relu'"):
        rnn_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="sigmoid")


@pytest.mark.parametrize("lengths,err,match", [
    ([3, 0], ValueError, r"every length must be in \[1, T=3\]"),
    ([4, 1], ValueError, r"every length must be in \[1, T=3\]"),
    ([3], ValueError, r"one entry per batch element, shape \(2,\)"),
    ([[3, 3]], ValueError, r"one entry per batch element"),
    ([2.0, 3.0], TypeError, r"lengths must be a sequence of ints"),
    (3, TypeError, r"lengths must be a sequence of 2 ints"),
    ("ab", TypeError, r"lengths must"),
])
def test_errors_lengths(lengths, err, match):
    x, h0, _, w_ih, w_hh, b_ih, b_hh = _good("gru")
    with pytest.raises(err, match="gru_sequence: .*" + match):
        gru_sequence(x, h0, w_ih[:15], w_hh[:15], b_ih[:15], b_hh[:15], lengths=lengths)


def test_errors_lengths_float_tensor():
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _good()
    with pytest.raises(TypeError, match=r"lstm_sequence: lengths must hold integers"):
        lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=mg.tensor([3.0, 2.0]))
