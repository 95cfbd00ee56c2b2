"""More of torch's normalisation family and a few functional extras (torch.nn.functional names):

group_norm (one fused op, `GroupNorm`), instance_norm (the same op with one group per channel,
plus torch's running statistics), local_response_norm, channel_shuffle, gumbel_softmax, and
softmax / log_softmax with torch's full signature (dim=None's legacy implicit dim, dtype=).
Everything but GroupNorm is composed from existing differentiable ops.
"""
from __future__ import annotations

import numbers
import warnings

from .. import backend as _B
from ..autograd import Function, no_grad
from ..tensor import Tensor
from . import compose as _compose
from .common import arg_extreme, check_float, describe, normalize_dim
from .shape import pad as _pad
from .norm import BatchNorm, _channel_vector, channel_affine, channel_affine_grads
from .. import amp as _amp

get_xp = _B.get_array_module

__all__ = ["group_norm", "instance_norm", "local_response_norm", "channel_shuffle", "gumbel_softmax", "softmax",
           "log_softmax"]


def _need_tensor(op, name, t):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a minigrad Tensor, got {type(t).__name__}")


def _positive_int(op, name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {v!r}")
    if v <= 0:
        raise ValueError(f"{op}: {name} must be positive, got {v}")
    return int(v)


def _real(op, name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{op}: {name} must be a float, got {v!r}")
    return float(v)


# ---------------------------------------------------------------- group normalisation
def _group_size(shape, groups):
    """Values per group of one sample: C / G * prod(spatial) (explicit, so empty batches reshape too)."""
    m = shape[1] // groups
    for s in shape[2:]:
        m *= s
    return m


class GroupNorm(Function):
    """y = xhat * w + b per channel, xhat = (x - mu_g) * rstd_g over each group g of C/G channels (and all
    spatial dims) of one sample, rstd = 1 / sqrt(var_g + eps) (biased var);
    dx = rstd * (gh - mean_g(gh) - xhat * mean_g(gh * xhat)) with gh = dy * w;
    dw = sum(dy * xhat), db = sum(dy) over all dims but the channel.
    """

    @staticmethod
    def forward(ctx, x, *affine, groups, eps, has_weight, has_bias):
        xp = get_xp(x)
        n, m = x.shape[0], _group_size(x.shape, groups)
        xg = x.reshape(n, groups, m)
        inv_m = 1.0 / max(m, 1)  # sum / m: an empty group would make mean() warn (its output is empty anyway)
        mean = xg.sum(axis=-1, keepdims=True) * inv_m
        centred = xg - mean
        var = (centred * centred).sum(axis=-1, keepdims=True) * inv_m
        rstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat = (centred * rstd).reshape(x.shape)
        y, w = channel_affine(xhat, affine, has_weight, has_bias)  # per-channel w, b as in batch norm
        ctx.save_for_backward(xhat, rstd, w)
        ctx.flags = (groups, has_weight, has_bias)
        return y

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, w = ctx.saved
        groups, has_weight, has_bias = ctx.flags
        need = ctx.needs_input_grad
        grads = []
        if need[0]:
            m = _group_size(g.shape, groups)
            gh = (g * w if has_weight else g).reshape(g.shape[0], groups, m)
            xh = xhat.reshape(gh.shape)
            inv_m = 1.0 / max(m, 1)
            # mu and var of a group depend on every x of it
            gx = rstd * (gh - gh.sum(axis=-1, keepdims=True) * inv_m
                         - xh * ((gh * xh).sum(axis=-1, keepdims=True) * inv_m))
            grads.append(gx.reshape(g.shape))
        else:
            grads.append(None)
        return tuple(grads) + channel_affine_grads(g, xhat, need, has_weight, has_bias)


def _check_eps(op, eps):
    eps = _real(op, "eps", eps)
    if not eps >= 0:
        raise ValueError(f"{op}: eps must be >= 0, got {eps}")
    return eps


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: A002 - torch's names
    """torch.nn.functional.group_norm: normalise each group of C/num_groups channels of each sample.

    y = (x - mean_g) / sqrt(var_g + eps) * weight_c + bias_c, the (biased) statistics over the
    channels of group g and every spatial dim of one sample (Wu & He, 2018).

    Args:
        input: (N, C, *) floating point.
        num_groups: G, dividing C.
        weight, bias: optional (C,) per-channel scale and shift, input's dtype and device.
        eps: added to the variance.

    Raises:
        RuntimeError: C not divisible by num_groups, a weight/bias of the wrong size (torch's class).
        ValueError: training-style statistics over a single value (as torch), eps < 0.
        TypeError: a non-float input, a weight of another dtype.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('group_norm', group_norm, input=input, num_groups=num_groups, weight=weight, bias=bias, eps=eps)
    op = "group_norm"
    _need_tensor(op, "input", input)
    check_float(op, input)
    g = _positive_int(op, "num_groups", num_groups)
    x = input.data
    if x.ndim < 2:
        raise RuntimeError(f"{op}: expected an input of shape (N, C, *) with at least 2 dims, got {describe(input)}")
    n, c = x.shape[0], x.shape[1]
    if c % g:
        raise RuntimeError(f"{op}: expected the number of channels of input {describe(input)} ({c}) to be "
                           f"divisible by num_groups={g}")
    spatial = 1
    for s in x.shape[2:]:
        spatial *= s
    if (n * c // g) * spatial == 1:  # torch's _verify_batch_size on (N*C/G, G, *)
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input {describe(input)} "
                         f"with num_groups={g}")
    eps = _check_eps(op, eps)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            if isinstance(t, Tensor) and (t.data.ndim != 1 or t.data.shape[0] != c):
                raise RuntimeError(f"{op}: expected {name} to be a vector of size equal to the number of channels "
                                   f"({c}) of input {describe(input)}, got {describe(t)}")
            _channel_vector(op, name, t, input, c)
    affine = [t for t in (weight, bias) if t is not None]
    return GroupNorm.apply(input, *affine, groups=g, eps=eps, has_weight=weight is not None,
                           has_bias=bias is not None)


# ---------------------------------------------------------------- instance normalisation
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,  # noqa: A002
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """torch.nn.functional.instance_norm: normalise each channel of each sample over its spatial dims.

    With use_input_stats (default) it is group_norm with one group per channel, and running
    estimates, when given, are updated in place with the per-sample statistics averaged over
    the batch: r = (1 - momentum) * r + momentum * mean_n(stat), unbiased variance (as torch).
    With use_input_stats=False the running estimates normalise instead (as batch_norm's eval mode).

    Args:
        input: (N, C, *) with at least one spatial dim, floating point.
        running_mean, running_var: optional (C,) running estimates (both or neither).
        weight, bias: optional (C,) per-channel scale and shift.
        use_input_stats: normalise with each instance's own statistics.
        momentum: weight of the new statistics in the running update.
        eps: added to the variance.

    Raises:
        ValueError: a single spatial element with use_input_stats (as torch), shapes that do not fit.
        RuntimeError: use_input_stats=False without running estimates.
    """
    op = "instance_norm"
    _need_tensor(op, "input", input)
    check_float(op, input)
    x = input.data
    if x.ndim < 3:
        if use_input_stats:
            raise ValueError(f"{op}: expected more than 1 spatial element when training, got input {describe(input)} "
                             "(expected (N, C, *) with spatial dims)")
        raise ValueError(f"{op}: expected an input of shape (N, C, *) with at least 3 dims, got {describe(input)}")
    n, c = x.shape[0], x.shape[1]
    spatial = 1
    for s in x.shape[2:]:
        spatial *= s
    if use_input_stats and spatial == 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when training, got input {describe(input)}")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must either both be None or neither be None")
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None:
            _channel_vector(op, name, t, input, c)
    momentum = _real(op, "momentum", momentum)
    eps = _check_eps(op, eps)
    has_w, has_b = weight is not None, bias is not None
    affine = [t for t in (weight, bias) if t is not None]
    if not use_input_stats:
        if running_mean is None:
            raise RuntimeError(f"{op}: expected running_mean and running_var to be defined when use_input_stats "
                               "is False")
        return BatchNorm.apply(input, *affine, mean=running_mean.data, var=running_var.data, eps=eps,
                               batch_stats=False, has_weight=has_w, has_bias=has_b)
    if running_mean is not None and n * c > 0:
        xi = x.reshape(n, c, -1)
        mean = xi.mean(axis=-1)  # (N, C): each instance's statistics
        var = xi.var(axis=-1) * (spatial / (spatial - 1))  # unbiased, as torch's running update
        running_mean.data[...] = (1.0 - momentum) * running_mean.data + momentum * mean.mean(axis=0)
        running_var.data[...] = (1.0 - momentum) * running_var.data + momentum * var.mean(axis=0)
        running_mean._bump()  # in-place writes: graphs that saved the old values notice
        running_var._bump()
    # One group per channel: each (sample, channel) is normalised over its own spatial dims.
    return GroupNorm.apply(input, *affine, groups=max(c, 1), eps=eps, has_weight=has_w, has_bias=has_b)


# ---------------------------------------------------------------- local response normalisation
def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):  # noqa: A002 - torch's names
    """torch.nn.functional.local_response_norm: y_c = x_c / (k + alpha / size * sum_{c' in window(c)} x_c'^2)^beta.

    The window holds `size` neighbouring channels (size // 2 before, (size - 1) // 2 after, zero
    beyond the edges: the sum is always divided by size, as torch's zero-padded average pool).
    Composed of pad, slices, sums and pow, so differentiable without a hand-written backward.

    Args:
        input: (N, C, *) with at least 3 dims, floating point.
        size: the number of channels in the window.
        alpha, beta, k: the multiplicative factor, the exponent and the additive constant.
    """
    op = "local_response_norm"
    _need_tensor(op, "input", input)
    check_float(op, input)
    if input.data.ndim < 3:
        raise ValueError(f"{op}: expected a 3-D or higher dimensional input (N, C, *), got {describe(input)}")
    size = _positive_int(op, "size", size)
    alpha, beta, k = (_real(op, name, v) for name, v in (("alpha", alpha), ("beta", beta), ("k", k)))
    if input.data.size == 0:
        return input  # (torch returns the input itself)
    c = input.data.shape[1]
    sq = input * input
    # zero-pad the channel dim: pad's tuple lists the last dim first
    padded = _pad(sq, (0, 0) * (input.data.ndim - 2) + (size // 2, (size - 1) // 2))
    window = padded[:, 0:c]
    for j in range(1, size):
        window = window + padded[:, j:j + c]
    div = ((window / size) * alpha + k) ** beta
    return input / div


# ---------------------------------------------------------------- channel shuffle
def channel_shuffle(input, groups):  # noqa: A002 - torch's names
    """torch.nn.functional.channel_shuffle: (N, g*k, *) -> channel i*g + j takes channel j*k + i (ShuffleNet).

    A reshape to (N, g, k, *), a transpose of dims 1 and 2 and a reshape back: the values only
    move, so it works for every dtype and its gradient is the inverse shuffle.
    """
    op = "channel_shuffle"
    _need_tensor(op, "input", input)
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if groups <= 0:
        raise RuntimeError(f"{op}: the number of groups to divide channels in must be positive, got {groups}")
    shape = tuple(input.data.shape)
    if len(shape) <= 2:
        raise RuntimeError(f"{op}: expected an input with > 2 dims (N, C, *), got {describe(input)}")
    c = shape[1]
    if c % groups:
        raise RuntimeError(f"{op}: the number of channels of input {describe(input)} ({c}) must be divisible by "
                           f"groups ({groups})")
    y = input.reshape(shape[0], int(groups), c // int(groups), *shape[2:])
    return y.transpose(1, 2).reshape(shape)


# ---------------------------------------------------------------- Gumbel-softmax
def _gumbel_noise(xp, shape, dtype):
    """-log(E) with E ~ Exponential(1) = -log(-log(U)), U uniform in (0, 1): standard Gumbel samples."""
    u = _B.random_uniform(xp, shape, dtype)
    tiny = float(_B.np.finfo(dtype).tiny)
    # U = 0 would give -log(0) = inf: nudge it to the smallest normal number (probability ~2**-24)
    return -xp.log(-xp.log(xp.maximum(u, tiny)))


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """torch.nn.functional.gumbel_softmax: y = softmax((logits + g) / tau) along dim, g ~ Gumbel(0, 1) i.i.d.

    A differentiable sample from the categorical distribution softmax(logits) (Jang et al., 2016):
    dy/dlogits is the softmax Jacobian scaled by 1/tau. With hard=True the forward value is the
    one-hot of argmax(y) and the gradient that of the soft y (the straight-through estimator:
    y_hard - y.detach() + y). The noise comes from minigrad's generator (`mg.manual_seed`).

    Args:
        logits: (..., K) unnormalised log-probabilities (floating point).
        tau: temperature > 0 (small: nearly one-hot samples).
        hard: return one-hot vectors (straight-through gradient).
        eps: unused; kept for torch's signature (deprecated there too).
        dim: the category dim.
    """
    op = "gumbel_softmax"
    _need_tensor(op, "logits", logits)
    check_float(op, logits)
    normalize_dim(op, dim, max(logits.data.ndim, 1))  # a bad dim is gumbel_softmax's error, not softmax's
    tau = _real(op, "tau", tau)
    if not tau > 0:
        raise ValueError(f"{op}: tau must be positive, got {tau}")
    if eps != 1e-10:
        warnings.warn("gumbel_softmax: `eps` parameter is deprecated and has no effect.", stacklevel=2)
    x = logits.data
    xp = get_xp(x)
    gumbels = Tensor(_gumbel_noise(xp, x.shape, x.dtype))  # drawn on logits' device
    y_soft = _compose.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    with no_grad():
        d = dim % max(x.ndim, 1) if x.ndim else 0
        ys = y_soft.data
        if x.ndim == 0:
            one_hot = xp.ones_like(ys)
        elif ys.shape[d] == 0:  # no category to pick (torch refuses too); was NumPy's bare argmax error
            raise ValueError(f"{op}: hard=True needs a non-empty dim {dim}, got logits {describe(logits)}")
        else:
            idx = xp.expand_dims(arg_extreme(ys, "argmax", axis=d), d)  # (a NaN row: its first NaN)
            pos = xp.arange(ys.shape[d]).reshape((-1,) + (1,) * (ys.ndim - d - 1))
            one_hot = (pos == idx).astype(ys.dtype)
    # straight-through: the forward value is the one-hot, the gradient flows through y_soft
    return Tensor(one_hot) - y_soft.detach() + y_soft


# ---------------------------------------------------------------- softmax with torch's full signature
def _softmax_dim(ndim, stacklevel):
    """torch's legacy implicit dim for dim=None: 0 for 0-, 1- and 3-D inputs, else 1 (with its warning)."""
    warnings.warn("Implicit dimension choice for softmax has been deprecated. Change the call to include dim=X as "
                  "an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002 - torch's names
    """torch.nn.functional.softmax: exp(x_i) / sum_j exp(x_j) along dim, computed in `dtype` when given;
    dx = y * (g - sum(g * y)). dim=None picks torch's legacy implicit dim (0 for 0/1/3-D, else 1) and warns.
    """
    _need_tensor("softmax", "input", input)
    if dim is None:
        dim = _softmax_dim(input.data.ndim, _stacklevel)
    return _compose.softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002 - torch's names
    """torch.nn.functional.log_softmax: x_i - logsumexp(x) along dim, in `dtype` when given;
    dx = g - softmax(x) * sum(g). dim=None picks torch's legacy implicit dim (0 for 0/1/3-D, else 1) and warns.
    """
    _need_tensor("log_softmax", "input", input)
    if dim is None:
        dim = _softmax_dim(input.data.ndim, _stacklevel)
    return _compose.log_softmax(input, dim, dtype)



# ---------------------------------------------------------------- renorm
def _slice_norms(x, p, dims):
    """The p-norm of each slice of array x over `dims` (kept as size-1 dims), scaled by the slice's largest |x|
    so that |x|**p cannot overflow or underflow; an all-zero, inf or NaN slice is left unscaled."""
    xp = get_xp(x)
    a = xp.abs(x)
    m = a.max(axis=dims, keepdims=True) if x.size else xp.zeros([1 if i in dims else s for i, s in
                                                                  enumerate(x.shape)], x.dtype)
    if p == float("inf"):
        return m
    s = xp.where(xp.isfinite(m) & (m > 0), m, 1).astype(x.dtype, copy=False)
    return s * ((a / s) ** p).sum(axis=dims, keepdims=True) ** (1 / p)


class Renorm(Function):
    """y = x * s per slice along `dim`, s = maxnorm / (||x||_p + 1e-7) where ||x||_p > maxnorm, else 1;
    dx = s * (g - sum(g * x) / (||x||_p + 1e-7) * d||x||_p/dx) where rescaled, else g (torch's renorm_backward)"""

    @staticmethod
    def forward(ctx, x, p, dims, maxnorm):
        xp = get_xp(x)
        norm = _slice_norms(x, p, dims)
        over = norm > maxnorm
        denom = (norm + 1e-7).astype(x.dtype, copy=False)  # torch's epsilon
        scale = xp.where(over, maxnorm / denom, 1).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, norm)
        ctx.p, ctx.dims, ctx.maxnorm = p, dims, maxnorm
        return x * scale

    @staticmethod
    def backward(ctx, g):
        x, norm = ctx.saved
        p, dims, maxnorm = ctx.p, ctx.dims, ctx.maxnorm
        xp = get_xp(g)
        over = norm > maxnorm
        safe = xp.where(over, norm, 1).astype(x.dtype, copy=False)  # (only slices with norm > maxnorm >= 0 use it)
        a = xp.abs(x)
        if p == float("inf"):  # d max|x| / dx: sign(x) at the largest entries, shared among ties
            top = a == safe
            dnorm = xp.sign(x) * top / top.sum(axis=dims, keepdims=True).clip(1)
        else:  # d ||x||_p / dx = sign(x) (|x| / ||x||_p)**(p - 1); 0 at x = 0 (also for p < 1, as torch)
            from .common import quiet

            with quiet():  # (0 ** (p - 1) = inf for p < 1, in the lanes replaced by 0)
                dnorm = xp.where(x == 0, 0, xp.sign(x) * (a / safe) ** (p - 1))
        denom = safe + 1e-7
        inner = (g * x).sum(axis=dims, keepdims=True)
        rescaled = maxnorm / denom * (g - inner / denom * dnorm)
        return xp.where(over, rescaled, g).astype(g.dtype, copy=False)


def renorm(input, p, dim, maxnorm):  # noqa: A002 - torch's names
    """torch.renorm: each slice input.select(dim, i) whose p-norm exceeds maxnorm rescaled to p-norm maxnorm
    (exactly: by maxnorm / (norm + 1e-7), as torch); other slices unchanged.

    Args:
        input: a floating-point tensor with at least 2 dims.
        p: the norm's power, a number > 0 (inf: the largest |x|).
        dim: the dim whose slices are renormalized (the norm runs over all the other dims).
        maxnorm: the largest norm a slice keeps, a number >= 0.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (fp32 on CUDA; minigrad/amp.py)
        return _amp.run('renorm', renorm, input=input, p=p, dim=dim, maxnorm=maxnorm)
    op = "renorm"
    _need_tensor(op, "input", input)
    check_float(op, input)
    for name, v in (("p", p), ("maxnorm", maxnorm)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{op}: {name} must be a number, got {type(v).__name__} {v!r}")
    if not p > 0:
        raise RuntimeError(f"{op}: non-positive-norm not supported, got p={p!r}")
    if not maxnorm >= 0:
        raise RuntimeError(f"{op}: expected maxnorm to be >= 0 but got {maxnorm!r}")
    ndim = input.data.ndim
    if ndim < 2:
        raise RuntimeError(f"{op}: input needs at least 2 dimensions, got {ndim} dimensions ({describe(input)})")
    from .common import normalize_axis

    d = normalize_axis(op, dim, ndim)
    dims = tuple(i for i in range(ndim) if i != d)
    return Renorm.apply(input, p=float(p), dims=dims, maxnorm=float(maxnorm))
