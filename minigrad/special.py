"""torch.special: `mg.special.expit(x)`, `mg.special.gammaln(x)`, ... for code written against torch.special.

Most names are minigrad's own top-level ops under torch.special's spelling (the same function
objects: `mg.special.erf is mg.erf`). Three are composed here from those ops, exactly:

    ndtr(x)          = erfc(-x / sqrt(2)) / 2                    the standard normal CDF
    xlog1py(x, y)    = x * log1p(y), 0 where x = 0 (unless y is NaN)
    multigammaln(a, p) = p (p - 1) / 4 log(pi) + sum_{j<p} lgamma(a - j / 2)

`polygamma(n, x)` is minigrad's op (ops/special.py; mg.polygamma).

Not here (minigrad has no exact op for them, and an approximate composition would be a
silent difference): entr, log_ndtr, ndtri, erfcx, i0e, i1, i1e, zeta,
gammainc/gammaincc, the Bessel functions j0/j1/y0/y1/k0/k1, airy_ai and the orthogonal polynomials.
"""
from __future__ import annotations

import math

from .ops.activation import erf, sigmoid as expit
from .ops.compose import log_softmax, softmax
from .ops.elementwise import expm1, log1p, round
from .ops.reduce import logsumexp
from .ops.special import digamma, erfc, erfinv, exp2, i0, lgamma as gammaln, logit, sinc, xlogy
from .ops import where
from .ops.special import _float_arg, _float_pair
from .ops.special import polygamma  # torch.special.polygamma(n, input)

psi = digamma  # torch.special.psi is torch.special.digamma

__all__ = [
    "digamma", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln", "i0", "log1p", "log_softmax",
    "logit", "logsumexp", "multigammaln", "ndtr", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py", "xlogy",
]

_SQRT1_2 = 1 / math.sqrt(2)


def ndtr(input):  # noqa: A002 - torch's name
    """The standard normal CDF, Phi(x) = erfc(-x / sqrt(2)) / 2 (torch.special.ndtr); dPhi/dx = e^(-x**2/2) / sqrt(2 pi).

    Through erfc, so the left tail keeps its relative precision (ndtr(-30) = 4.9e-198, not 0).
    """
    x = _float_arg("ndtr", input)
    return erfc(x * -_SQRT1_2) * 0.5


def xlog1py(input, other):  # noqa: A002 - torch's names
    """x * log1p(y), 0 where x = 0 unless y is NaN (torch.special.xlog1py); either may be a number.

    d/dx = log1p(y) (0 where x = 0 and y <= -1), d/dy = x / (1 + y), as torch's rules, except at two
    points where the true derivative is infinite or undefined: at x = 0, y = -1 d/dy is 0 (torch: NaN,
    its 0/0), and at x = 0, y = +inf d/dx is NaN (torch: +inf).
    """
    x, y = _float_pair("xlog1py", input, other)  # (numbers and integer tensors promote as in xlogy)
    # Where x = 0 and y <= -1, log1p sees 0 instead of y: the product is 0 there and no gradient meets
    # log1p(-1) = -inf or log1p(-2) = NaN. Where x = 0 and y = +inf the product 0 * inf is NaN: 0 instead.
    y_safe = where((x == 0) & (y <= -1), 0.0, y)
    prod = x * y_safe.log1p()
    return where((x == 0) & y_safe.isinf(), 0.0, prod)


def multigammaln(input, p):  # noqa: A002 - torch's names
    """The multivariate log-gamma function of dimension p (torch.special.multigammaln, torch.mvlgamma):
    log Gamma_p(a) = p (p - 1) / 4 log(pi) + sum_{j=0}^{p-1} lgamma(a - j / 2);  d/da = sum_j digamma(a - j / 2).

    Args:
        input: the tensor a (integers become the default float dtype).
        p: the dimension, an int >= 1.
    """
    if isinstance(p, bool) or not isinstance(p, int):
        raise TypeError(f"multigammaln: p must be an int, got {type(p).__name__} {p!r}")
    if p < 1:
        raise RuntimeError(f"multigammaln: p has to be greater than or equal to 1, got {p}")
    a = _float_arg("multigammaln", input)
    total = gammaln(a)
    for j in range(1, p):
        total = total + gammaln(a - j / 2)
    return total + p * (p - 1) / 4 * math.log(math.pi)
