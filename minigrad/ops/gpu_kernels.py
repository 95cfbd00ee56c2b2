"""Fused per-time-step RNN, LSTM and GRU kernels for CUDA: one kernel launch per step instead of ~10.

On a GPU every NumPy-style call in the recurrent loop of a sequence op is a kernel
launch, and launches (a few microseconds each, plus Python) dominate a step once the
matrix product is fast. These kernels do one step's gate arithmetic in one launch,
so a step is two launches each way: the cuBLAS product with W_hh and one of these.
For the LSTM:

    forward:  a = gates + rec (x part + h part); i, f, o = sigmoid, g = tanh;
              c = f * c_prev + i * g; h = o * tanh(c)        (activations saved in gates)
    backward: dh = dout + carry_h;  dc = carry_c + dh * o (1 - tanh(c)**2);
              da_i, da_f, da_g, da_o from dc, dh and the saved activations;  d c_prev = dc * f

(the equations of the LSTMSequence docstring; the CPU path instead prepares the factors
that need no carry for a block of steps at once, which pays there but costs ~10 extra
launches per step on a GPU), likewise for the GRU in torch's reset_after form
(GRUSequence's docstring) and the Elman RNN (tanh or relu). The matrix products stay
with cuBLAS.

The C++ source is written once and compiled two ways: by CuPy (NVRTC) into CUDA kernels,
one thread per (batch, hidden) element, and by a host C++ compiler into plain loops, which
is how `tests/test_gpu_kernels.py` checks the kernels' arithmetic and indexing against the
NumPy path on machines without a GPU. Set `enabled = False` to use the generic path.
"""
from __future__ import annotations

from .. import backend as _B

np = _B.np  # dtypes only

__all__ = ["SOURCE", "enabled", "step_product", "step_kernels", "host_source"]

enabled = True  # use the fused kernels on CUDA (False: the generic per-op path)
# The per-step product beside them: cupy.dot goes from Cython straight to cuBLAS, while
# cupy.matmul is a generalised ufunc with more Python work per call; at a small batch the
# host's time per launch is the step time (compared in benchmarks/gpu_check.sh, part 'product').
step_product = "dot"

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

// Backward step, from the saved activations alone (gates = i, f, g, o of this step;
// c_prev = c_{t-1}, tc = tanh(c_t)); dg gets the four gate gradients:
//   dh = dout + carry_h;  dc = carry_c + dh o (1 - tc**2);  da_o = dh tc o (1 - o)
//   da_i = dc g i (1 - i);  da_f = dc c_prev f (1 - f);  da_g = dc i (1 - g**2);  d c_prev = dc f
template <typename T>
__device__ inline void lstm_bwd(int idx, int H, const T* dout, const T* carry_h, const T* carry_c,
                                const T* gates, const T* c_prev, const T* tc, T* dg, T* dc_prev) {
    int b = idx / H, j = idx - b * H, base = b * 4 * H + j;
    T i = gates[base], f = gates[base + H], g = gates[base + 2 * H], o = gates[base + 3 * H];
    T t = tc[idx];
    T dh = dout[idx] + carry_h[idx];
    T dc = carry_c[idx] + dh * o * ((T)1 - t * t);
    dg[base] = dc * g * i * ((T)1 - i);
    dg[base + H] = dc * c_prev[idx] * f * ((T)1 - f);
    dg[base + 2 * H] = dc * i * ((T)1 - g * g);
    dg[base + 3 * H] = dh * t * o * ((T)1 - o);
    dc_prev[idx] = dc * f;
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

// Backward step: dh = dout + carry + skip, where carry = dG_{t+1} @ W_hh (cuBLAS) and
// skip = dh_{t+1} * z_{t+1}, the part of d h_t that bypasses W_hh (kept from the step
// before: one launch fewer per step). dg (B, 3H) gets [da_r, da_z, dgh_n] (the h side),
// dan the x side's da_n, and skip is overwritten with this step's dh * z.
template <typename T>
__device__ inline void gru_bwd(int idx, int H, const T* dout, const T* carry, const T* gates,
                               const T* h_prev, const T* s, T* dg, T* skip, T* dan) {
    int b = idx / H, j = idx - b * H, base = b * 3 * H + j;
    T r = gates[base], z = gates[base + H], n = gates[base + 2 * H];
    T dh = dout[idx] + carry[idx] + skip[idx];
    T da_n = dh * ((T)1 - z) * ((T)1 - n * n);
    dg[base] = da_n * s[idx] * r * ((T)1 - r);
    dg[base + H] = dh * (h_prev[idx] - n) * z * ((T)1 - z);
    dg[base + 2 * H] = da_n * r;
    dan[idx] = da_n;
    skip[idx] = dh * z;
}

// Elman RNN. Forward: h holds h_prev W_hh^T on entry (cuBLAS), a = the step's input
// projection (biases included); h = act(h + a). Backward: da = (dout + carry) act'(a),
// from the output: tanh' = 1 - h**2, relu' = [h > 0].
template <typename T>
__device__ inline void rnn_tanh_fwd(int idx, int H, const T* a, T* h) { h[idx] = tanh_(h[idx] + a[idx]); }

template <typename T>
__device__ inline void rnn_relu_fwd(int idx, int H, const T* a, T* h) {
    T v = h[idx] + a[idx];
    h[idx] = v > (T)0 ? v : (T)0;
}

template <typename T>
__device__ inline void rnn_tanh_bwd(int idx, int H, const T* dout, const T* carry, const T* h, T* da) {
    T y = h[idx];
    da[idx] = (dout[idx] + carry[idx]) * ((T)1 - y * y);
}

template <typename T>
__device__ inline void rnn_relu_bwd(int idx, int H, const T* dout, const T* carry, const T* h, T* da) {
    da[idx] = h[idx] > (T)0 ? dout[idx] + carry[idx] : (T)0;
}
"""

_ARGS = {
    "lstm_fwd": ("const T* rec, T* gates, const T* c_prev, T* c, T* tc, T* h", "rec, gates, c_prev, c, tc, h"),
    "lstm_bwd": ("const T* dout, const T* carry_h, const T* carry_c, const T* gates, const T* c_prev, const T* tc, "
                 "T* dg, T* dc_prev", "dout, carry_h, carry_c, gates, c_prev, tc, dg, dc_prev"),
    "gru_fwd": ("const T* rec, T* gates, const T* b_hn, const T* h_prev, T* s, T* h", "rec, gates, b_hn, h_prev, s, h"),
    "gru_bwd": ("const T* dout, const T* carry, const T* gates, const T* h_prev, const T* s, T* dg, T* skip, T* dan",
                "dout, carry, gates, h_prev, s, dg, skip, dan"),
    "rnn_tanh_fwd": ("const T* a, T* h", "a, h"),
    "rnn_relu_fwd": ("const T* a, T* h", "a, h"),
    "rnn_tanh_bwd": ("const T* dout, const T* carry, const T* h, T* da", "dout, carry, h, da"),
    "rnn_relu_bwd": ("const T* dout, const T* carry, const T* h, T* da", "dout, carry, h, da"),
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

    LSTM: forward(rec, gates, c_prev, c, tc, h), backward(dout, carry_h, carry_c, gates, c_prev, tc, dg, dc_prev).
    GRU:  forward(rec, gates, b_hn, h_prev, s, h), backward(dout, carry, gates, h_prev, s, dg, skip, dan).
    RNN ('rnn_tanh' / 'rnn_relu'): forward(a, h), backward(dout, carry, h, da).
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
    """The compiled CUDA launchers of `cell` ('lstm', 'gru', 'rnn_tanh', 'rnn_relu') for float32/float64
    (cached), else None."""
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
