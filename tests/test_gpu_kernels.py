"""The fused CUDA RNN/LSTM/GRU step kernels (minigrad/ops/gpu_kernels.py), checked without a GPU.

Their C++ source also compiles for the host as plain loops. Here it is built with the
system C++ compiler and called through ctypes in place of the CUDA launchers, so that
`LSTMSequence` runs its GPU code path (kernel calls, buffer handling, row order) on NumPy
arrays. Values and gradients must match the CPU path. The launchers also assert that every
array is C-contiguous, as the CUDA kernels assume. On a GPU the same comparison runs with
the real kernels through the `device` fixture (fused == composed tests in
test_ops_recurrent.py). Where nvcc is installed, the CUDA source is compiled too.
"""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops import gpu_kernels, recurrent
from minigrad.ops.recurrent import gru_sequence, lstm_sequence, rnn_sequence

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


@pytest.fixture(scope="module")
def host_library(tmp_path_factory):
    if CXX is None:
        pytest.skip("no C++ compiler to build the kernels' host version")
    d = tmp_path_factory.mktemp("kernels")
    (d / "k.cpp").write_text(gpu_kernels.host_source())
    subprocess.run([CXX, "-O1", "-std=c++14", "-shared", "-fPIC", str(d / "k.cpp"), "-o", str(d / "k.so")],
                   check=True, capture_output=True)
    return ctypes.CDLL(str(d / "k.so"))


@pytest.fixture(scope="module")
def monkeypatch_module():
    """A monkeypatch that Hypothesis's repeated examples may share (undone after each use)."""
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


class HostKernels:
    """The launcher interface of gpu_kernels._StepKernels, calling the host build."""

    def __init__(self, lib, cell, dtype):
        ctype = {"float32": "float", "float64": "double"}[np.dtype(dtype).name]
        self._fwd, self._bwd = getattr(lib, f"{cell}_fwd_{ctype}"), getattr(lib, f"{cell}_bwd_{ctype}")
        self.cell, self.dtype = cell, np.dtype(dtype)
        self.calls = 0

    def _run(self, fn, arrays):
        B, H = arrays[-1].shape  # the last array sets the launch size, as on the GPU
        gates = {"lstm": 4, "gru": 3}.get(self.cell, 1)
        for a in arrays:
            assert isinstance(a, np.ndarray) and a.flags.c_contiguous and a.dtype == self.dtype, \
                "the CUDA kernels read C-contiguous rows of the op's dtype"
            assert a.shape in ((B, H), (B, gates * H), (H,))
        fn(*[ctypes.c_void_p(a.ctypes.data) for a in arrays], ctypes.c_int(B * H), ctypes.c_int(H))
        self.calls += 1

    def forward(self, *arrays):
        self._run(self._fwd, arrays)

    def backward(self, *arrays):
        self._run(self._bwd, arrays)


def compare_with_host_kernels(lib, mp, cell, run, launches):
    """run(dtype) on the NumPy path and again with `cell`'s host-built kernels patched in: the same
    values and gradients in float64 and float32 (dtypes kept), and `launches` kernel calls."""
    for dtype, tol in (("float64", 1e-12), ("float32", 2e-5)):
        want = run(dtype)
        kernels = HostKernels(lib, cell, dtype)
        mp.setattr(recurrent, "_step_kernels", lambda c, xp, dt: kernels if c == cell else None)
        try:
            got = run(dtype)
        finally:
            mp.undo()
        assert kernels.calls == launches
        for g, w in zip(got, want):
            assert g.dtype == np.dtype(dtype)
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def _run_lstm(arrays, dtype, reverse, dout_kind):
    x, h0, c0, *w = [mg.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out, h, c = lstm_sequence(x, h0, c0, *w, reverse=reverse)
    if dout_kind == "sum":  # a broadcast (stride-0) upstream gradient
        loss = out.sum() + (h * 2.0).sum() + c.sum()
    else:
        seed = np.random.default_rng(9).standard_normal(out.shape).astype(dtype)
        loss = (out * mg.tensor(seed)).sum() + h.sum()
    loss.backward()
    return [out.numpy(), h.numpy(), c.numpy()] + [t.grad.numpy() for t in (x, h0, c0, *w)]


@given(T=st.integers(1, 6), B=st.integers(1, 4), I=st.integers(1, 5), H=st.integers(1, 6),
       reverse=st.booleans(), dout_kind=st.sampled_from(["sum", "random"]), seed=st.integers(0, 1000))
def test_gpu_step_kernels_match_the_cpu_path(host_library, monkeypatch_module, T, B, I, H, reverse, dout_kind, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in [(T, B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,)]]
    # one launch per step, forward and backward
    compare_with_host_kernels(host_library, monkeypatch_module, "lstm",
                              lambda dtype: _run_lstm(arrays, dtype, reverse, dout_kind), 2 * T)


def _run_gru(arrays, dtype, reverse, dout_kind, reset_after, biases):
    x, h0, *w = [mg.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    w = w[:2] + (w[2:] if biases else [None, None])
    out, h = gru_sequence(x, h0, *w, reverse=reverse, reset_after=reset_after)
    if dout_kind == "sum":
        loss = out.sum() + (h * 2.0).sum()
    else:
        seed = np.random.default_rng(9).standard_normal(out.shape).astype(dtype)
        loss = (out * mg.tensor(seed)).sum() + h.sum()
    loss.backward()
    return [out.numpy(), h.numpy()] + [t.grad.numpy() for t in (x, h0, *w) if t is not None]


@given(T=st.integers(1, 6), B=st.integers(1, 4), I=st.integers(1, 5), H=st.integers(1, 6), reverse=st.booleans(),
       dout_kind=st.sampled_from(["sum", "random"]), biases=st.booleans(), seed=st.integers(0, 1000))
def test_gru_step_kernels_match_the_cpu_path(host_library, monkeypatch_module, T, B, I, H, reverse, dout_kind,
                                             biases, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in [(T, B, I), (B, H), (3 * H, I), (3 * H, H), (3 * H,), (3 * H,)]]
    for reset_after in (True, False):
        # the kernels cover torch's form (reset_after); the classic form keeps the per-op loop
        compare_with_host_kernels(host_library, monkeypatch_module, "gru",
                                  lambda dtype: _run_gru(arrays, dtype, reverse, dout_kind, reset_after, biases),
                                  2 * T if reset_after else 0)


def _run_rnn(arrays, dtype, reverse, nonlinearity, biases):
    x, h0, *w = [mg.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    w = w[:2] + (w[2:] if biases else [None, None])
    out, h = rnn_sequence(x, h0, *w, nonlinearity=nonlinearity, reverse=reverse)
    seed = np.random.default_rng(9).standard_normal(out.shape).astype(dtype)
    ((out * mg.tensor(seed)).sum() + (h * 2.0).sum()).backward()
    return [out.numpy(), h.numpy()] + [t.grad.numpy() for t in (x, h0, *w) if t is not None]


@given(T=st.integers(1, 6), B=st.integers(1, 4), I=st.integers(1, 5), H=st.integers(1, 6), reverse=st.booleans(),
       nonlinearity=st.sampled_from(["tanh", "relu"]), biases=st.booleans(), seed=st.integers(0, 1000))
def test_rnn_step_kernels_match_the_cpu_path(host_library, monkeypatch_module, T, B, I, H, reverse, nonlinearity,
                                             biases, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in [(T, B, I), (B, H), (H, I), (H, H), (H,), (H,)]]
    compare_with_host_kernels(host_library, monkeypatch_module, "rnn_" + nonlinearity,
                              lambda dtype: _run_rnn(arrays, dtype, reverse, nonlinearity, biases), 2 * T)


def test_padded_batches_keep_the_per_op_path(host_library, monkeypatch):
    """With lengths (frozen rows) the kernels are not used: the masked loop handles them."""
    kernels = HostKernels(host_library, "lstm", "float64")
    monkeypatch.setattr(recurrent, "_step_kernels", lambda cell, xp, dt: kernels)
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)
    h0 = c0 = mg.tensor(np.zeros((2, 5)))
    w = [mg.tensor(rng.standard_normal(s), requires_grad=True) for s in [(20, 3), (20, 5), (20,), (20,)]]
    out, h, c = lstm_sequence(x, h0, c0, *w, lengths=[4, 2])
    out.sum().backward()
    assert kernels.calls == 0


def test_kernels_are_off_on_the_cpu_and_can_be_switched_off(monkeypatch):
    assert recurrent._step_kernels("lstm", np, np.float32) is None  # NumPy calls are the fast path there
    monkeypatch.setattr(gpu_kernels, "enabled", False)
    assert recurrent._step_kernels("lstm", object(), np.float32) is None
    assert gpu_kernels.step_kernels("lstm", np.float16) is None  # no half-precision kernels


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_cuda_source_compiles(tmp_path):
    (tmp_path / "k.cu").write_text(gpu_kernels.SOURCE)
    r = subprocess.run(["nvcc", "-std=c++14", "-c", str(tmp_path / "k.cu"), "-o", str(tmp_path / "k.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(not mg.cuda_available(), reason="needs a CUDA GPU with CuPy")
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_real_kernels_match_the_generic_gpu_path(monkeypatch, cell, dtype):
    rng = np.random.default_rng(1)
    g = {"lstm": 4, "gru": 3}.get(cell, 1)
    shapes = [(5, 3, 4), (3, 6)] + ([(3, 6)] if cell == "lstm" else []) + [(g * 6, 4), (g * 6, 6), (g * 6,), (g * 6,)]
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(gpu_kernels, "enabled", enabled)
        ts = [mg.tensor(a, device="cuda", requires_grad=True) for a in arrays]
        if cell == "lstm":
            outs = lstm_sequence(*ts)
        elif cell == "gru":
            outs = gru_sequence(*ts)
        else:
            outs = rnn_sequence(*ts, nonlinearity=cell[4:])
        sum(o.sum() for o in outs).backward()
        results.append([o.numpy() for o in outs] + [t.grad.numpy() for t in ts])
    tol = 1e-12 if dtype == "float64" else 1e-5
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
