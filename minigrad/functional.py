"""`minigrad.functional` (imported as `F`): the ops as functions, torch.nn.functional style.

Everything here is either a wrapper of an op in `minigrad.ops` (with its own
hand-written backward) or a short composition of them.
"""
from .ops import (  # noqa: F401  (re-exported) tensor math
    abs, add, amax, amin, argmax, argmin, broadcast_to, cat, chunk, clamp, div, erf, exp, expand, flatten, linear,
    log, logsumexp, matmul, max, maximum, mean, min, minimum, mul, neg, norm, one_hot, pad, permute, pow, reshape,
    split, sqrt, squeeze, stack, std, sub, sum, transpose, unsqueeze, var, where,
)
from .ops import (  # noqa: F401  layers: embedding, dropout, normalisation, convolution, pooling, attention
    adaptive_avg_pool1d, avg_pool1d, batch_norm, conv1d, dropout, embedding, embedding_dot, layer_norm, max_pool1d,
)
from .ops.attention import scaled_dot_product_attention  # noqa: F401
from .ops.conv2d import (  # noqa: F401  2-D convolution, transposed convolution, pooling, fold, resampling
    adaptive_avg_pool2d, adaptive_max_pool1d, adaptive_max_pool2d, avg_pool2d, conv2d, conv_transpose1d,
    conv_transpose2d, fold, interpolate, max_pool2d, pixel_shuffle, pixel_unshuffle, unfold,
)
from .ops.conv3d import (  # noqa: F401  3-D convolution, transposed convolution, pooling
    adaptive_avg_pool3d, adaptive_max_pool3d, adaptive_max_pool3d_with_indices, avg_pool3d, conv3d,
    conv_transpose3d, max_pool3d, max_pool3d_with_indices,
)
from .ops.ctc import ctc_loss  # noqa: F401  connectionist temporal classification
from .ops.grid_sample import affine_grid, grid_sample  # noqa: F401  spatial transformers
from .ops.norm import rms_norm  # noqa: F401
from .ops.norm_more import (  # noqa: F401  group/instance/local-response norm, channel shuffle, Gumbel-softmax;
    channel_shuffle, group_norm, gumbel_softmax, instance_norm, local_response_norm,
)
from .ops import gelu, log_softmax, relu, sigmoid, softmax, softplus, tanh  # noqa: F401  activations
from .ops import softplus as _softplus_op  # (F.softplus below adds torch's beta and threshold)
from .ops.norm_more import log_softmax, softmax  # noqa: F401,F811  torch's signature: dim=None, dtype=
from .ops.activation import (  # noqa: F401  more activations; a trailing _ = in place
    celu, celu_, elu, elu_, glu, hardsigmoid, hardswish, hardtanh, hardtanh_, leaky_relu, leaky_relu_, logsigmoid,
    mish, prelu, relu6, relu_, selu, selu_, silu, softmin, softsign, tanhshrink,
)
from .ops.loss_extra import (  # noqa: F401  more losses, distances, shrink activations, small layers
    alpha_dropout, bilinear, dropout1d, embedding_bag, gaussian_nll_loss, hardshrink, hinge_embedding_loss,
    multi_margin_loss, multilabel_margin_loss, multilabel_soft_margin_loss, pairwise_distance, pdist,
    poisson_nll_loss, rrelu, rrelu_, soft_margin_loss, softshrink, threshold, threshold_, triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from .ops.loss_extra import dropout2d, dropout3d  # noqa: F401  channel dropout
from .ops.pool_more import (  # noqa: F401  unpooling, LP pooling, *_with_indices, deprecated aliases
    adaptive_max_pool1d_with_indices, adaptive_max_pool2d_with_indices, feature_alpha_dropout, lp_pool1d, lp_pool2d,
    max_pool1d_with_indices, max_pool2d_with_indices, max_unpool1d, max_unpool2d, upsample, upsample_bilinear,
    upsample_nearest,
)
from .ops import (  # noqa: F401  losses and similarities
    binary_cross_entropy, binary_cross_entropy_with_logits, cosine_embedding_loss, cosine_similarity, cross_entropy,
    huber_loss, kl_div, l1_loss, margin_ranking_loss, mse_loss, nll_loss, normalize, smooth_l1_loss,
)

__all__ = [
    # tensor math
    "abs", "add", "amax", "amin", "argmax", "argmin", "broadcast_to", "cat", "chunk", "clamp", "div", "erf", "exp",
    "expand", "flatten", "linear", "log", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mul",
    "neg", "norm", "one_hot", "pad", "permute", "pow", "reshape", "split", "sqrt", "squeeze", "stack", "std", "sub",
    "sum", "transpose", "unsqueeze", "var", "where",
    # layers
    "adaptive_avg_pool1d", "avg_pool1d", "batch_norm", "conv1d", "dropout", "embedding", "embedding_dot", "layer_norm",
    "max_pool1d", "rms_norm", "scaled_dot_product_attention", "multi_head_attention_forward",
    "channel_shuffle", "group_norm", "gumbel_softmax", "instance_norm", "local_response_norm",
    # activations
    "celu", "celu_", "elu", "elu_", "gelu", "glu", "hardsigmoid", "hardswish", "hardtanh", "hardtanh_", "leaky_relu",
    "leaky_relu_", "log_softmax", "logsigmoid", "mish", "prelu", "relu", "relu6", "relu_", "selu", "selu_", "sigmoid",
    "silu", "softmax", "softmin", "softplus", "softsign", "tanh", "tanhshrink",
    # losses and similarities
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss", "cosine_similarity",
    "cross_entropy", "huber_loss", "kl_div", "l1_loss", "margin_ranking_loss", "mse_loss", "nll_loss", "normalize",
    "smooth_l1_loss",
    "ctc_loss",  # connectionist temporal classification (ops/ctc.py)
    "affine_grid", "grid_sample",  # spatial transformers (ops/grid_sample.py)
    # 2-D convolution and pooling, transposed convolution, fold/unfold, resampling (ops/conv2d.py)
    "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool2d", "conv2d", "conv_transpose1d",
    "conv_transpose2d", "fold", "interpolate", "max_pool2d", "pixel_shuffle", "pixel_unshuffle", "unfold",
    # 3-D convolution and pooling, transposed convolution (ops/conv3d.py)
    "adaptive_avg_pool3d", "adaptive_max_pool3d", "adaptive_max_pool3d_with_indices", "avg_pool3d", "conv3d",
    "conv_transpose3d", "max_pool3d", "max_pool3d_with_indices",
    # more losses, distances, shrink activations, small layers (ops/loss_extra.py)
    "alpha_dropout", "bilinear", "dropout1d", "embedding_bag", "gaussian_nll_loss", "hardshrink",
    "hinge_embedding_loss", "multi_margin_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss",
    "pairwise_distance", "pdist", "poisson_nll_loss", "rrelu", "rrelu_", "soft_margin_loss", "softshrink",
    "threshold", "threshold_", "triplet_margin_loss", "triplet_margin_with_distance_loss",
    "dropout2d", "dropout3d",
    # ops/pool_more.py: unpooling, power-average pooling, *_with_indices, feature alpha dropout, upsample aliases
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices", "feature_alpha_dropout", "lp_pool1d",
    "lp_pool2d", "max_pool1d_with_indices", "max_pool2d_with_indices", "max_unpool1d", "max_unpool2d", "upsample",
    "upsample_bilinear", "upsample_nearest",
]


def softplus(input, beta: float = 1.0, threshold: float = 20.0):  # noqa: A002, F811  torch's signature
    """y = log(1 + e^(beta x)) / beta, and y = x where beta x > threshold (torch's F.softplus).

    The defaults are the stable softplus op itself (above 20 the two differ by less than e^-20).
    """
    if beta == 1.0 and threshold >= 20.0:
        return _softplus_op(input)
    from .ops import where as _where  # (a function-level import: ops is loaded by now)

    bx = input * beta
    return _where(bx > threshold, input, _softplus_op(bx) / beta)


def multi_head_attention_forward(*args, **kwargs):
    """torch.nn.functional.multi_head_attention_forward (nn.MultiheadAttention's computation; see nn/attention.py)."""
    from .nn.attention import multi_head_attention_forward as _mha_forward  # (nn imports this module)

    return _mha_forward(*args, **kwargs)
