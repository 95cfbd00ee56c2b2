"""Fused per-time-step LSTM and GRU kernels for CUDA: one kernel launch per step instead of ~10.

On a GPU every NumPy-style call in the recurrent loop of `LSTMSequence` is a kernel
launch, and launches (a few microseconds each, plus Python) dominate a step once the
matrix product is fast. These kernels do one step's gate arithmetic in one launch:

    forward:  a = gates + rec (x part + h part); i, f, o = sigmoid, g = tanh;
              c = f * c_prev + i * g; h = o * tanh(c)        (activations saved in gates)
    backward: dh = dout + carry_h;  dc = carry_c + dh * R;
              [da_i, da_f, da_g] *= dc,  da_o *= dh;  d c_prev = dc * f

(the same equations as the LSTMSequence docstring; P, Q and R are prepared per block of
steps as on the CPU), and likewise for the GRU in torch's reset_after form (GRUSequence's
docstring). The matrix products stay with cuBLAS.

The C++ source is written once and compiled two ways: by CuPy (NVRTC) into CUDA kernels,
one thread per (batch, hidden) element, and by a host C++ compiler into plain loops, which
is how `tests/test_gpu_kernels.py` checks the kernels' arithmetic and indexing against the
NumPy path on machines without a GPU. Set `enabled = False` to use the generic path.
"""
from __future__ import annotations

from .. import backend as _B

np = _B.np  # dtypes only

__all__ = ["SOURCE", "enabled", "step_kernels", "host_source"]

enabled = True  # use the fused kernels on CUDA (False: the generic per-op path)

# One element idx = b * H + j of the (B, H) states; gate rows are (B, 4H), gates i, f, g, o.
_COMMON = r"""
#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
#include <cmath>
#define __device__
#endif

__device__ inline float tanh_(float x) { return tanhf(x); }
__device__ inline double tanh_(double x) { return tanh(x); }

// The sigmoid rows of the pre-activations were halved (folded into the weights), so
// sigmoid(a) = 0.5 * tanh(a / 2) + 0.5 needs only the tanh of what is stored.
template <typename T>
__device__ inline void lstm_fwd(int idx, int H, const T* rec, T* gates, const T* c_prev,
                                T* c, T* tc, T* h) {
    int b = idx / H, j = idx - b * H, base = b * 4 * H + j;
    T i = (T)0.5 * tanh_(gates[base] + rec[base]) + (T)0.5;
    T f = (T)0.5 * tanh_(gates[base + H] + rec[base + H]) + (T)0.5;
    T g = tanh_(gates[base + 2 * H] + rec[base + 2 * H]);
    T o = (T)0.5 * tanh_(gates[base + 3 * H] + rec[base + 3 * H]) + (T)0.5;
    gates[base] = i;
    gates[base + H] = f;
    gates[base + 2 * H] = g;
    gates[base + 3 * H] = o;
    T cc = f * c_prev[idx] + i * g;
    T t = tanh_(cc);
    c[idx] = cc;
    tc[idx] = t;
    h[idx] = o * t;
}

// dg holds the prepared factors P (i, f, g rows) and Q (o row) on entry, the gate
// gradients on exit; gates holds the saved activations (f is read).
template <typename T>
__device__ inline void lstm_bwd(int idx, int H, const T* dout, const T* carry_h, const T* r,
                                const T* carry_c, const T* gates, T* dg, T* dc_prev) {
    int b = idx / H, j = idx - b * H, base = b * 4 * H + j;
    T dh = dout[idx] + carry_h[idx];
    T dc = carry_c[idx] + dh * r[idx];
    dg[base] *= dc;
    dg[base + H] *= dc;
    dg[base + 2 * H] *= dc;
    dg[base + 3 * H] *= dh;
    dc_prev[idx] = dc * gates[base + H];
}

// GRU (torch's reset_after form). Gate rows are (B, 3H): r, z, n. On entry gates holds the
// x-projection (r, z rows halved), rec = h_prev W_hh^T (r, z rows halved); b_hn is (H,).
// On exit gates holds r, z, n, and s = W_hn h_prev + b_hn is saved for the backward.
template <typename T>
__device__ inline void gru_fwd(int idx, int H, const T* rec, T* gates, const T* b_hn,
                               const T* h_prev, T* s, T* h) {
    int b = idx / H, j = idx - b * H, base = b * 3 * H + j;
    T r = (T)0.5 * tanh_(gates[base] + rec[base]) + (T)0.5;
    T z = (T)0.5 * tanh_(gates[base + H] + rec[base + H]) + (T)0.5;
    T gh = rec[base + 2 * H] + b_hn[j];
    T n = tanh_(gates[base + 2 * H] + r * gh);
    gates[base] = r;
    gates[base + H] = z;
    gates[base + 2 * H] = n;
    s[idx] = gh;
    h[idx] = n + z * (h_prev[idx] - n);
}

// Backward step: dh = dout + carry; dg (B, 3H) gets [da_r, da_z, dgh_n] (the h side),
// dan the x side's da_n, and dhz = dh * z, the part of d h_prev that skips W_hh.
template <typename T>
__device__ inline void gru_bwd(int idx, int H, const T* dout, const T* carry, const T* gates,
                               const T* h_prev, const T* s, T* dg, T* dan, T* dhz) {
    int b = idx / H, j = idx - b * H, base = b * 3 * H + j;
    T r = gates[base], z = gates[base + H], n = gates[base + 2 * H];
    T dh = dout[idx] + carry[idx];
    T da_n = dh * ((T)1 - z) * ((T)1 - n * n);
    dg[base] = da_n * s[idx] * r * ((T)1 - r);
    dg[base + H] = dh * (h_prev[idx] - n) * z * ((T)1 - z);
    dg[base + 2 * H] = da_n * r;
    dan[idx] = da_n;
    dhz[idx] = dh * z;
}
"""

_ARGS = {
    "lstm_fwd": ("const T* rec, T* gates, const T* c_prev, T* c, T* tc, T* h", "rec, gates, c_prev, c, tc, h"),
    "lstm_bwd": ("const T* dout, const T* carry_h, const T* r, const T* carry_c, const T* gates, T* dg, T* dc_prev",
                 "dout, carry_h, r, carry_c, gates, dg, dc_prev"),
    "gru_fwd": ("const T* rec, T* gates, const T* b_hn, const T* h_prev, T* s, T* h", "rec, gates, b_hn, h_prev, s, h"),
    "gru_bwd": ("const T* dout, const T* carry, const T* gates, const T* h_prev, const T* s, T* dg, T* dan, T* dhz",
                "dout, carry, gates, h_prev, s, dg, dan, dhz"),
}
_TYPES = {"float32": "float", "float64": "double"}


def _wrappers(device: bool) -> str:
    """extern "C" entry points <lstm|gru>_<fwd|bwd>_<float|double>(..., int n, int H) for each dtype."""
    out = []
    for kind, (params, args) in _ARGS.items():
        for ctype in _TYPES.values():
            head = f'extern "C" {"__global__ " if device else ""}void {kind}_{ctype}('
            head += params.replace("T*", ctype + "*") + ", int n, int H)"
            if device:
                body = ("    int idx = blockIdx.x * blockDim.x + threadIdx.x;\n"
                        f"    if (idx < n) {kind}<{ctype}>(idx, H, {args});\n")
            else:
                body = f"    for (int idx = 0; idx < n; ++idx) {kind}<{ctype}>(idx, H, {args});\n"
            out.append(head + " {\n" + body + "}\n")
    return "\n".join(out)


SOURCE = _COMMON + _wrappers(device=True)


def host_source() -> str:
    """The same kernels as plain C++ loops (for testing their arithmetic without a GPU)."""
    return _COMMON + _wrappers(device=False)


class _StepKernels:
    """Launchers for one cell kind and dtype, all arrays C-contiguous (B, H) or (B, G*H) rows.

    LSTM: forward(rec, gates, c_prev, c, tc, h), backward(dout, carry_h, r, carry_c, gates, dg, dc_prev).
    GRU:  forward(rec, gates, b_hn, h_prev, s, h), backward(dout, carry, gates, h_prev, s, dg, dan, dhz).
    The last array of each call has the (B, H) shape that sets the launch size.
    """

    _THREADS = 256

    def __init__(self, module, cell: str, ctype: str):
        self._fwd = module.get_function(f"{cell}_fwd_{ctype}")
        self._bwd = module.get_function(f"{cell}_bwd_{ctype}")

    def _launch(self, kernel, arrays, state):
        n, H = state.size, state.shape[-1]
        blocks = (n + self._THREADS - 1) // self._THREADS
        kernel((blocks,), (self._THREADS,), tuple(arrays) + (np.int32(n), np.int32(H)))

    def forward(self, *arrays):
        self._launch(self._fwd, arrays, arrays[-1])

    def backward(self, *arrays):
        self._launch(self._bwd, arrays, arrays[-1])


_modules: dict = {}  # GPU id -> the compiled module (a module is loaded per GPU)
_launchers: dict = {}  # (cell, dtype name, GPU id) -> _StepKernels


def step_kernels(cell: str, dtype):
    """The compiled CUDA launchers of `cell` ('lstm' or 'gru') for float32/float64 (cached), else None."""
    name = np.dtype(dtype).name
    if name not in _TYPES or _B.cupy is None:
        return None
    device = _B.cupy.cuda.Device().id
    key = (cell, name, device)
    if key not in _launchers:
        if device not in _modules:
            _modules[device] = _B.cupy.RawModule(code=SOURCE, options=("--std=c++14",))
        _launchers[key] = _StepKernels(_modules[device], cell, _TYPES[name])
    return _launchers[key]
