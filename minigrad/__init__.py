"""minigrad: reverse-mode autograd over NumPy (CPU) or CuPy (GPU) arrays, written to be read.

Start with `tensor.py` (the Tensor), then `autograd.py` (the engine), then any
file in `ops/` (each op's forward and its hand-written backward).
"""
import warnings as _warnings

# NumPy warns (RuntimeWarning) when a float op meets inf - inf, 0 / 0 or an overflow; torch and
# CuPy compute the same NaN or inf silently. Warnings raised inside minigrad's own modules are
# silenced here, which costs nothing until one fires (an np.errstate around every op would cost
# ~1 us a call). NumPy called from your own code still warns; `mg.autograd.detect_anomaly()`
# finds the op whose result first holds a NaN.
_warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"minigrad(\.|$)")

from . import backend  # noqa: E402
from .autograd import (
    Function, detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad, set_grad_enabled,
)
from .autograd import inference_mode, is_inference_mode_enabled, set_detect_anomaly  # torch's names
from .backend import OutOfMemoryError, cuda_available, get_default_dtype, manual_seed, set_default_dtype
from .factory import (
    arange, empty, eye, full, full_like, ones, ones_like, rand, rand_like, randint, randn, randn_like, zeros,
    zeros_like,
)
from .factory import (  # ranges, index grids and random sampling
    bernoulli, empty_like, linspace, logspace, multinomial, normal, poisson, randperm, tril_indices, triu_indices,
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
from .ops import (  # products and matrix builders (ops/products.py)
    addbmm, addmm, addmv, addr, baddbmm, block_diag, cartesian_prod, cdist, cross, diag_embed, diagflat, dist, dot,
    ger, inner, kron, matrix_power, mv, outer, tensordot, vdot,
)
from .ops.compose import (  # noqa: A004  torch's top-level functions and aliases (ops/compose.py)
    absolute, add, arccos, arcsin, arctan, arctan2, atleast_1d, atleast_2d, atleast_3d, broadcast_shapes,
    broadcast_tensors, broadcast_to, clamp_max, clamp_min, clip, clone, column_stack, concat, concatenate, div,
    divide, dsplit, dstack, flatten, fliplr, flipud, from_numpy, greater, greater_equal, hsplit, hstack, is_complex,
    is_floating_point, less, less_equal, log_softmax, meshgrid, mul, multiply, neg, negative, not_equal, numel,
    permute, positive, pow, ravel, reshape, rot90, row_stack, rsub, softmax, squeeze, sub, subtract, tensor_split,
    transpose, true_divide, unsqueeze, vsplit, vstack,
)
from .ops import (  # bitwise ops and special functions (ops/special.py)
    acosh, asinh, atanh, bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift, bitwise_xor,
    copysign, deg2rad, digamma, erfc, erfinv, exp2, float_power, fmax, fmin, frac, gcd, heaviside, i0, lcm, ldexp,
    lgamma, logaddexp, logaddexp2, logit, nextafter, rad2deg, sgn, signbit, sinc, xlogy,
)
from .ops.reduce import reduce_all as all, reduce_any as any  # noqa: A004  (torch.all / torch.any)
from .ops.reduce import amax, amin, max, min  # noqa: A004  (torch.max / torch.min: values and indices)
from .ops.stats import (  # statistics, scans and searches (ops/stats.py)
    aminmax, argwhere, bincount, bucketize, count_nonzero, cummax, cummin, histc, kthvalue, logcumsumexp, median,
    mode, msort, nanmean, nanmedian, nanquantile, nansum, quantile, searchsorted, std_mean, take, take_along_dim,
    unique_consecutive, var_mean,
)
from .ops.index_more import (  # index writes and reductions, scatters into slices (ops/index_more.py)
    as_strided, diagonal_scatter, index_put, index_reduce, narrow_copy, put, scatter_reduce, select_scatter,
    slice_scatter, split_with_sizes,
)
from .tensor import Size, Tensor, as_tensor, is_tensor, tensor
from .tensor import (BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor,  # noqa: F401
                     IntTensor, LongTensor, ShortTensor)  # torch's legacy types: constructors, isinstance
from . import functional, nn, viz  # noqa: E402
from . import functional as F  # noqa: E402,N812
from . import data  # noqa: E402
from . import utils  # noqa: E402  (torch's spelling: minigrad.utils.data is minigrad.data)
from . import optim  # noqa: E402
from .io import load, save  # noqa: E402
from .generator import Generator  # noqa: E402  (torch.Generator().manual_seed(n) for DataLoader / random_split)
from . import checkpoint  # noqa: E402  (save/load a whole training state for exact resume)
from . import linalg  # noqa: E402  (torch.linalg: mg.linalg.inv, solve, svd, ...)
from . import backends  # noqa: E402  (torch.backends: mg.backends.cuda.matmul.allow_tf32)
from .backends import get_float32_matmul_precision, set_float32_matmul_precision  # noqa: E402  (TF32 switch)
from ._device import device  # noqa: E402  (torch.device: mg.device("cuda", 1), a str 'cuda:1')
from .backend import get_default_device, set_default_device  # noqa: E402  (and `with mg.device("cuda"):`)
from . import cuda  # noqa: E402  (torch.cuda: is_available, device_count, synchronize, memory_allocated, ...)
from . import amp  # noqa: E402  (torch.amp: autocast, GradScaler; mixed precision)
from . import special  # noqa: E402  (torch.special: mg.special.expit, gammaln, ndtr, xlog1py, ...)
from . import jit  # noqa: E402  (torch.jit: script/trace refuse clearly, no TorchScript)
from .jit import compile  # noqa: E402,A004  (torch.compile: a documented no-op, returns the model)
from . import testing  # noqa: E402  (torch.testing: mg.testing.assert_close, make_tensor; and gradcheck)
from . import distributions  # noqa: E402  (torch.distributions: Normal, Categorical, kl_divergence, ...)
from . import distributed  # noqa: E402  (torch.distributed: single-process stand-ins, see its docstring)
from . import func  # noqa: E402  (torch.func: functional_call, stack_module_state, grad, vjp, jacrev; no vmap)
from .amp import autocast, get_autocast_dtype, is_autocast_available, is_autocast_enabled  # noqa: E402
from .runtime import (  # noqa: E402  (torch's threads, dtype limits, print options and determinism switch)
    are_deterministic_algorithms_enabled, finfo, get_num_interop_threads, get_num_threads, iinfo,
    is_deterministic_algorithms_warn_only_enabled, set_num_interop_threads, set_num_threads, set_printoptions,
    use_deterministic_algorithms,
)
from .ops.linalg_ext import det, inverse, logdet, matrix_exp, pinverse, slogdet  # noqa: E402  (torch's top-level)
from .ops.special import angle, frexp, polygamma  # noqa: E402  (torch.angle, torch.frexp, torch.polygamma)
from .ops import trunc as fix  # noqa: E402  (torch.fix, torch's alias of trunc)
from .ops.norm_more import renorm  # noqa: E402  (torch.renorm)
from .ops.stats import corrcoef, cov, histogram  # noqa: E402  (torch.cov, corrcoef, histogram)
from .special import multigammaln as mvlgamma  # noqa: E402  (torch.mvlgamma)
from .ops.linalg_ext import cholesky_legacy as cholesky, qr_legacy as qr, svd_legacy as svd  # noqa: E402
from .sparse import mm as spmm  # noqa: E402  (torch.spmm on dense matrices: minigrad has no sparse layouts)
from .ops import out as _out  # noqa: E402
_out.install(globals())  # torch's out= keyword on the top-level functions that take it (ops/out.py)
from .tensor import REDUCTIONS_WITH_KEEPDIM as _KEEPDIM, numpy_keyword_aliases as _np_kw  # noqa: E402
from .tensor import DIM_FUNCTIONS_WITH_AXIS as _AXIS  # noqa: E402
for _name in _KEEPDIM + _AXIS:  # keepdims= / axis= as torch's functions take them (tensor.py)
    globals()[_name] = _np_kw(globals()[_name])

# numpy dtypes under torch's names, so `dtype=mg.float32` reads as in torch
float16 = backend.np.dtype("float16")
float32 = backend.np.dtype("float32")
float64 = backend.np.dtype("float64")
uint8 = backend.np.dtype("uint8")  # (torch.uint8, int8, int16: the small integer dtypes torch has)
int8 = backend.np.dtype("int8")
int16 = backend.np.dtype("int16")
int32 = backend.np.dtype("int32")
int64 = backend.np.dtype("int64")
bool_ = backend.np.dtype("bool")
# torch's other dtype names: `dtype=mg.long`, `x.to(mg.double)` port as they are
long, double, half, short = int64, float64, float16, int16
# torch's math constants (Python floats, as torch's: `torch.sqrt(torch.tensor(2.0 / torch.pi))`, `-torch.inf`)
pi, e, inf, nan = 3.141592653589793, 2.718281828459045, float("inf"), float("nan")
newaxis = None  # torch.newaxis: x[:, torch.newaxis]
_BUILTIN_NAMED_DTYPES = {"float": float32, "int": int32, "bool": bool_}


def __getattr__(name):
    """mg.float / mg.int / mg.bool (torch.float32 / int32 / bool), served here (PEP 562) rather than
    assigned, so they never shadow the builtins in this module or in a `from minigrad import *`."""
    if name in _BUILTIN_NAMED_DTYPES:
        return _BUILTIN_NAMED_DTYPES[name]
    if name.startswith("sparse_") and name.endswith("_tensor"):  # torch.sparse_coo_tensor, sparse_csr_tensor, ...
        raise AttributeError(
            f"module 'minigrad' has no attribute {name!r}: minigrad has no sparse tensor layouts; build the dense "
            "matrix (e.g. mg.zeros(n, m).index_put_((rows, cols), values, accumulate=True), which sums repeated "
            "entries as torch's coalesce does) and multiply with mg.mm, mg.spmm or mg.sparse.mm (dense, as in torch)")
    if name == "bfloat16":  # e.g. nanoGPT's {'float32': ..., 'bfloat16': torch.bfloat16, ...} dtype table
        raise AttributeError(
            "module 'minigrad' has no attribute 'bfloat16': minigrad has no bfloat16 dtype (NumPy has none); "
            "use mg.float16 (e.g. with mg.autocast) or mg.float32, and leave bfloat16 out of dtype tables")
    if name == "vmap":  # torch.vmap: minigrad.func has functional_call, grad, vjp, ... but no batching
        raise AttributeError(
            "module 'minigrad' has no attribute 'vmap': minigrad has no vmap (no batching rules); loop over the "
            "batch or the models and mg.stack the results (per-sample gradients: one mg.func.grad or "
            "mg.autograd.grad call per sample); mg.func.vmap's message shows the port")
    raise AttributeError(f"module 'minigrad' has no attribute {name!r}")

__version__ = "0.1.0"
