"""`minigrad.functional` (imported as `F`): the ops as functions, torch.nn.functional style.

Everything here is either a wrapper of an op in `minigrad.ops` (with its own
hand-written backward) or a short composition of them.
"""
from .ops import (  # noqa: F401  (re-exported)
    abs, add, amax, amin, argmax, argmin, binary_cross_entropy_with_logits, broadcast_to, cat, chunk, clamp,
    cross_entropy, div, dropout, embedding, embedding_dot, erf, exp, expand, flatten, gelu, linear, log, log_softmax, logsumexp, matmul,
    max, maximum, mean, min, minimum, mse_loss, mul, neg, nll_loss, norm, one_hot, pad, permute, pow, relu, reshape,
    sigmoid, softmax, softplus, split, sqrt, squeeze, stack, std, sub, sum, tanh, transpose, unsqueeze, var, where,
)
from .ops import layer_norm  # noqa: F401

__all__ = [
    "abs", "add", "amax", "amin", "argmax", "argmin", "binary_cross_entropy_with_logits", "broadcast_to", "cat",
    "chunk", "clamp", "cross_entropy", "div", "dropout", "embedding", "embedding_dot", "erf", "exp", "expand", "flatten", "gelu", "linear", "log",
    "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mse_loss", "mul", "neg",
    "nll_loss", "norm", "one_hot", "pad", "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "softplus", "split",
    "sqrt", "squeeze", "stack", "std", "sub", "sum", "tanh", "transpose", "unsqueeze", "var", "where",
    "layer_norm",
]
