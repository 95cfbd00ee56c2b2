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
from .linalg import Einsum, Linear, MatMul, bmm, einsum, linear, matmul, mm
from .nn import (
    BCEWithLogits, CrossEntropy, Dropout, Embedding, EmbeddingDot, LogSoftmax, NLLLoss, Softmax,
    binary_cross_entropy_with_logits, cross_entropy, dropout, embedding, embedding_dot, log_softmax, mse_loss, nll_loss,
    one_hot, softmax,
)
from .nn import LayerNorm, layer_norm
from .reduce import (
    CumSum, LogSumExp, Max, Mean, Min, Norm, Prod, SortResult, Sum, Var, amax, amin, argmax, argmin, argsort, cumsum,
    logsumexp, max, mean, min, norm, prod, sort, std, sum, topk, var,
)
from .shape import (
    Cast, Cat, Clone, Expand, Gather, GetItem, Permute, Reshape, Scatter, Stack, ToDevice, _check_index_bounds,
    broadcast_to, cast, cat, chunk, clone, expand, flatten, flip, gather, getitem, index_add, index_select, masked_select,
    nonzero, normalize_index as _normalize_index, pad, permute, repeat, reshape, roll, scatter, scatter_add, split,
    squeeze, stack, t, to_device, transpose, tril, triu, unsqueeze, view,
)


def normalize_index(index, x):
    """The backend form of a user index (used by Tensor.__setitem__), checked against x's shape."""
    idx, _ = _normalize_index(index, x, op="__setitem__")
    _check_index_bounds(x, idx, op="__setitem__")
    return idx if len(idx) != 1 else idx[0]
