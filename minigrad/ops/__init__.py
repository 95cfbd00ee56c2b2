"""Every differentiable op of minigrad, one file per kind.

Each op is a `Function` subclass (forward on arrays, hand-written backward) plus a
lowercase wrapper that checks its arguments. `Tensor` methods and
`minigrad.functional` call these wrappers.
"""
from .activation import GELU, Erf, ReLU, Sigmoid, Softplus, Tanh, erf, gelu, relu, sigmoid, softplus, tanh
from .elementwise import (
    Abs, Add, AddScalar, Clamp, Cos, Div, DivScalar, Exp, Log, Maximum, Minimum, Mul, MulScalar, Neg, Pow,
    PowScalar, RDivScalar, RPowScalar, RSubScalar, Sin, Sqrt, Sub, Where,
    abs, add, clamp, cos, div, eq, exp, ge, gt, le, log, logical_and, logical_not, logical_or, logical_xor, lt,
    masked_fill, maximum, minimum, mul, ne, neg, pow, sin, sqrt, sub, where,
)
from .elementwise import (  # torch's remaining pointwise math
    Acos, Asin, Atan, Atan2, Ceil, Cosh, Expm1, Floor, FloorDivide, Fmod, Hypot, Lerp, Log1p, Log2, Log10, NanToNum,
    Reciprocal, Remainder, Round, Rsqrt, Sign, Sinh, Tan, Trunc,
    acos, addcdiv, addcmul, allclose, asin, atan, atan2, ceil, cosh, equal, expm1, floor, floor_divide, fmod, hypot,
    isclose, isfinite, isinf, isnan, isneginf, isposinf, lerp, log1p, log2, log10, nan_to_num, reciprocal, remainder,
    round, rsqrt, sign, sinh, square, tan, trunc,
)
from .linalg import Einsum, Linear, MatMul, bmm, einsum, linear, matmul, mm
from .products import (  # torch's other products and matrix builders (ops/products.py)
    Cdist, addbmm, addmm, addmv, addr, baddbmm, block_diag, cartesian_prod, cdist, cross, diag_embed, diagflat, dist,
    dot, ger, inner, kron, matrix_power, mv, outer, tensordot, vdot,
)
from .nn import (
    BCEWithLogits, CrossEntropy, Dropout, Embedding, EmbeddingDot, LogSoftmax, NLLLoss, Softmax,
    binary_cross_entropy_with_logits, cross_entropy, dropout, embedding, embedding_dot, log_softmax, mse_loss, nll_loss,
    one_hot, softmax,
)
from .nn import LayerNorm, layer_norm
from .nn import (  # the losses beyond the four above
    BinaryCrossEntropy, binary_cross_entropy, cosine_embedding_loss, cosine_similarity, huber_loss, kl_div, l1_loss,
    margin_ranking_loss, normalize, smooth_l1_loss,
)
from .conv import AvgPool1d, Conv1d, MaxPool1d, adaptive_avg_pool1d, avg_pool1d, conv1d, max_pool1d
from .norm import BatchNorm, batch_norm
from .reduce import (
    CumProd, CumSum, LogSumExp, Max, Mean, Min, Norm, Prod, SortResult, Sum, Var, amax, amin, argmax, argmin, argsort,
    cumprod, cumsum, logsumexp, max, mean, min, norm, prod, sort, std, sum, topk, var,
)
from .shape import (
    Cast, Cat, Clone, Expand, Gather, GetItem, Permute, Reshape, Scatter, Stack, ToDevice, _check_index_bounds,
    broadcast_to, cast, cat, chunk, clone, expand, flatten, flip, gather, getitem, index_add, index_select, masked_select,
    nonzero, normalize_index as _normalize_index, pad, permute, repeat, reshape, roll, scatter, scatter_add, split,
    squeeze, torch_order as _torch_order, stack, t, to_device, transpose, tril, triu, unsqueeze, view,
)
from .shape import (  # more views, copies and index writes (torch's names)
    MaskedScatter, Unbind, diag, diagonal, diff, expand_as, index_copy, index_fill, masked_scatter, movedim, moveaxis,
    narrow, repeat_interleave, reshape_as, select, swapaxes, swapdims, tile, trace, unbind, unflatten, unique, view_as,
)
from .special import (  # bitwise ops, special functions, in-place helper (ops/special.py)
    Acosh, Asinh, Atanh, Copysign, Digamma, Erfc, Erfinv, Fmax, Fmin, Heaviside, I0, Lgamma, LogAddExp, LogAddExp2,
    Logit, Nextafter, Sinc, Xlogy,
    acosh, asinh, atanh, bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift, bitwise_xor,
    copysign, deg2rad, digamma, erfc, erfinv, exp2, float_power, fmax, fmin, frac, gcd, heaviside, i0, lcm, ldexp,
    lgamma, logaddexp, logaddexp2, logit, nextafter, rad2deg, sgn, signbit, sinc, xlogy,
)
from . import special
from . import linalg_ext  # torch.linalg's ops (the public names: minigrad/linalg.py)
from . import index_more
from .index_more import (  # index writes and reductions, windows, scatters into slices (ops/index_more.py)
    IndexPutAccumulate, ScatterReduce, as_strided, diagonal_scatter, index_put, index_reduce, narrow_copy, put,
    scatter_reduce, select_scatter, slice_scatter, split_with_sizes, sum_to_size, unfold,
)
# torch's top-level namespace (mg.add(x, y, alpha=2), mg.vstack, ...). As a module, not star-exported:
# its add/sub/div/reshape/... with torch's keywords would shadow the plain ops that the Tensor dunders call.
from . import compose
from .compose import DivRounding
from .stats import (  # statistics, scans and searches (ops/stats.py)
    LogCumSumExp, Median, NanMean,
    aminmax, argwhere, bincount, bucketize, count_nonzero, cummax, cummin, histc, kthvalue, logcumsumexp, median,
    mode, msort, nanmean, nanmedian, nanquantile, nansum, quantile, searchsorted, std_mean, take, take_along_dim,
    unique_consecutive, var_mean,
)


def normalize_index(index, x):
    """The backend form of a user index (used by Tensor.__setitem__), checked against x's shape."""
    idx, _ = _normalize_index(index, x, op="__setitem__")
    _check_index_bounds(x, idx, op="__setitem__")
    return _torch_order(idx)  # (a TorchOrder, written through `split_index`, where NumPy's order differs)
