"""minigrad: reverse-mode autograd over NumPy (CPU) or CuPy (GPU) arrays, written to be read.

Start with `tensor.py` (the Tensor), then `autograd.py` (the engine), then any
file in `ops/` (each op's forward and its hand-written backward).
"""
from . import backend
from .autograd import (
    Function, detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad, set_grad_enabled,
)
from .backend import OutOfMemoryError, cuda_available, get_default_dtype, manual_seed, set_default_dtype
from .factory import (
    arange, empty, eye, full, full_like, ones, ones_like, rand, rand_like, randint, randn, randn_like, zeros,
    zeros_like,
)
from .ops import (
    abs, argmax, argmin, argsort, bmm, cat, chunk, clamp, cos, cumsum, einsum, erf, exp, flip, gather, index_add,
    index_select, log, logsumexp, masked_fill, masked_select, matmul, maximum, mean, minimum, mm, nonzero, norm, prod,
    relu, roll, scatter, scatter_add, sigmoid, sin, softplus, sort, split, sqrt, stack, std, sum, t, tanh, topk, tril,
    triu, var, where,
)
from .ops import (  # pointwise math, rounding, comparisons and logical ops
    acos, addcdiv, addcmul, allclose, asin, atan, atan2, ceil, cosh, eq, equal, expm1, floor, floor_divide, fmod, ge,
    gt, hypot, isclose, isfinite, isinf, isnan, isneginf, isposinf, le, lerp, log1p, log2, log10, logical_and,
    logical_not, logical_or, logical_xor, lt, nan_to_num, ne, reciprocal, remainder, round, rsqrt, sign, sinh, square,
    tan, trunc,
)
from .ops import (  # more views, copies and index writes (torch's names)
    cumprod, diag, diagonal, diff, index_copy, index_fill, masked_scatter, movedim, moveaxis, narrow, repeat_interleave,
    select, swapaxes, swapdims, tile, trace, unbind, unflatten, unique,
)
from .ops.reduce import reduce_all as all, reduce_any as any  # noqa: A004  (torch.all / torch.any)
from .tensor import Tensor, as_tensor, is_tensor, tensor
from . import functional, nn, viz  # noqa: E402
from . import functional as F  # noqa: E402,N812
from . import data  # noqa: E402
from . import optim  # noqa: E402
from .io import load, save  # noqa: E402
from . import checkpoint  # noqa: E402  (save/load a whole training state for exact resume)

# numpy dtypes under torch's names, so `dtype=mg.float32` reads as in torch
float16 = backend.np.dtype("float16")
float32 = backend.np.dtype("float32")
float64 = backend.np.dtype("float64")
int32 = backend.np.dtype("int32")
int64 = backend.np.dtype("int64")
bool_ = backend.np.dtype("bool")

__version__ = "0.1.0"
