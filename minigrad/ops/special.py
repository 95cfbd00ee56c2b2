"""More of torch's pointwise math: bitwise ops, special functions, and the in-place forms of pointwise ops.

- bitwise: bitwise_and/or/xor/not, bitwise_left/right_shift (the operators & | ^ ~ << >>): bitwise
  on integer tensors, logical on bool tensors, refused on floating-point tensors, as torch.
- differentiable: xlogy, logaddexp, logaddexp2, logit, erfc, erfinv, exp2, sinc, float_power, frac,
  fmax, fmin, copysign, deg2rad, rad2deg, asinh, acosh, atanh, ldexp, lgamma, digamma, i0, nextafter.
- no gradient: heaviside (backward raises, as torch), sgn's zero gradient, signbit, gcd, lcm.
- `inplace`: the one helper behind every `Tensor.<op>_()` that is the out-of-place op written back.

The special functions (erfc, erfinv, lgamma, digamma and their derivatives, i0, i1) come from
CuPy on a GPU, from SciPy when it is installed (and `backend.use_scipy`), else from the series
and recurrences below, which reach float64 rounding (tests compare both routes with SciPy).
"""
from __future__ import annotations

import math
from collections import namedtuple

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import check_pair, describe, is_scalar, promoting_floats, scalar_value, to_tensor
from .elementwise import (
    _floatify, _math_operands, _operand_error, _quiet, _tensor_arg, mul, pow, sign, sub, trunc,
)
from .. import amp as _amp

np = _B.np  # dtypes and constants only (finfo); arrays come from xp, special functions from backend
get_xp = _B.get_array_module

_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_TINY64 = float(np.finfo(np.float64).tiny)  # the smallest normal float64, 2.2e-308


# ================================================================ special functions on arrays
def _special(name, a, fallback, *args):
    """scipy.special.<name>(*args, a) in a's dtype: CuPy's on a GPU, SciPy's when installed, else fallback(a)."""
    # quiet: poles give +-inf, and a float64 result beyond float32's range (trigamma(1e-45) = 5e89) is inf in
    # the cast back, silently, as torch; the fallbacks' masked-off lanes may overflow too (their values unused)
    with _quiet():
        fn = _B.special_function(name, a)  # the backend picks CuPy's, SciPy's or none
        if fn is not None:
            # leading arguments (polygamma's order n) as arrays of a's backend: CuPy's polygamma tests `n == 0`
            # with cupy.where, which refuses the plain bool a Python int gives
            xp = get_xp(a)
            return fn(*(xp.asarray(v) for v in args), a).astype(a.dtype, copy=False)
        return fallback(a.astype(np.float64)).astype(a.dtype, copy=False)


def _erfc64(x):
    """erfc without SciPy, float64: 1 - erf(x) below 1 (erfc(1) = 0.16: no cancellation to speak of), and
    for x >= 1 the continued fraction erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
    from its 200th level up (which reaches float64 rounding from x = 1 on)."""
    xp = get_xp(x)
    out = 1 - _B.erf(x)
    big = x >= 1
    xb = xp.where(big, x, 1.0)  # (the fraction is only evaluated where it is used)
    f = xb.copy()
    for k in range(200, 0, -1):
        f = xb + (k / 2) / f
    return xp.where(big, xp.exp(-xb * xb) / (math.sqrt(math.pi) * f), out)


def _erfinv64(x):
    """erfinv without SciPy, float64: Giles' approximation ("Approximating the erfinv function", 2010),
    then Newton steps on erf(y) = x, taken on erfc(y) = 1 - x in the tails where erf(y) rounds to 1."""
    xp = get_xp(x)
    a = xp.abs(x)
    inside = a < 1
    a = xp.where(inside, a, 0.5)
    w = -xp.log((1 - a) * (1 + a))
    w1, w2 = w - 2.5, xp.sqrt(w) - 3
    p1, p2 = 2.81022636e-08, -0.000200214257
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
              0.246640727, 1.50140941):
        p1 = c + p1 * w1
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
              1.00167406, 2.83297682):
        p2 = c + p2 * w2
    y = xp.where(w < 5, p1, p2) * a
    tail = a > 0.5
    log_q = xp.log(1 - a)  # 1 - a is exact for a >= 1/2
    for _ in range(4):  # quadratic convergence from ~1e-7 (Giles' accuracy): two steps would do
        slope = _TWO_OVER_SQRT_PI * xp.exp(-y * y)
        # centre: Newton on erf(y) = a; tails: on log erfc(y) = log(1 - a), nearly linear in y**2 there
        q = _erfc64(y)
        y = xp.where(tail, y + (xp.log(q) - log_q) * q / slope, y - (_B.erf(y) - a) / slope)
    y = xp.where(inside, y, xp.where(xp.abs(x) == 1, math.inf, math.nan))
    return xp.copysign(y, x)


def _sin_pi_abs(x):
    """|sin(pi x)|, exact in its argument: x - round(x) is computed without rounding error."""
    xp = get_xp(x)
    return xp.abs(xp.sin(math.pi * (x - xp.rint(x))))


def _lgamma64(x):
    """log|Gamma(x)| without SciPy, float64: Stirling's series at z >= 12, reached by the recurrence
    Gamma(z) = Gamma(z + n) / (z (z+1) ... (z+n-1)), and the reflection Gamma(x) Gamma(1-x) = pi / sin(pi x)."""
    xp = get_xp(x)
    neg = x < 0.5
    z = xp.where(neg, 1 - x, x)
    z = xp.where(xp.isfinite(z), z, 12.0)
    prod = xp.ones_like(z)
    for _ in range(12):
        low = z < 12
        prod = xp.where(low, prod * z, prod)
        z = xp.where(low, z + 1, z)
    r, r2 = 1 / z, 1 / (z * z)
    series = r * (1 / 12 + r2 * (-1 / 360 + r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188 + r2 * (
        -691 / 360360 + r2 * (1 / 156)))))))
    lg = (z - 0.5) * xp.log(z) - z + _HALF_LOG_2PI + series - xp.log(prod)
    lg = xp.where(neg, xp.log(math.pi / _sin_pi_abs(x)) - lg, lg)
    poles = ((x <= 0) & (x == xp.rint(x))) | xp.isinf(x)  # Gamma's poles, and both infinities: +inf (as torch)
    return xp.where(xp.isnan(x), math.nan, xp.where(poles, math.inf, lg))


def _digamma64(x):
    """digamma = d log Gamma / dx without SciPy, float64: the asymptotic series at z >= 12, the recurrence
    psi(z) = psi(z + 1) - 1/z, and the reflection psi(x) = psi(1 - x) - pi / tan(pi x)."""
    xp = get_xp(x)
    neg = x < 0.5
    z = xp.where(neg, 1 - x, x)
    z = xp.where(xp.isfinite(z), z, 12.0)
    acc = xp.zeros_like(z)
    for _ in range(12):
        low = z < 12
        acc = xp.where(low, acc - 1 / z, acc)
        z = xp.where(low, z + 1, z)
    r2 = 1 / (z * z)
    series = r2 * (1 / 12 + r2 * (-1 / 120 + r2 * (1 / 252 + r2 * (-1 / 240 + r2 * (1 / 132 + r2 * (
        -691 / 32760 + r2 * (1 / 12)))))))
    psi = xp.log(z) - 0.5 / z - series + acc
    psi = xp.where(neg, psi - math.pi / xp.tan(math.pi * (x - xp.rint(x))), psi)
    psi = xp.where(x == math.inf, math.inf, psi)
    psi = xp.where(((x < 0) & (x == xp.rint(x))) | (x == -math.inf), math.nan, psi)  # poles left of 0
    psi = xp.where(xp.isnan(x), math.nan, psi)
    return xp.where(x == 0, -xp.copysign(math.inf, x), psi)  # psi(+0) = -inf, psi(-0) = +inf (torch, SciPy)


def _trigamma64(x):
    """polygamma(1, x) = d digamma / dx without SciPy, float64: the asymptotic series at z >= 12, the
    recurrence psi1(z) = psi1(z + 1) + 1/z**2, and the reflection psi1(x) = pi**2 / sin(pi x)**2 - psi1(1 - x)."""
    xp = get_xp(x)
    neg = x < 0.5
    z = xp.where(neg, 1 - x, x)
    z = xp.where(xp.isfinite(z), z, 12.0)
    acc = xp.zeros_like(z)
    for _ in range(12):
        low = z < 12
        acc = xp.where(low, acc + 1 / (z * z), acc)
        z = xp.where(low, z + 1, z)
    r, r2 = 1 / z, 1 / (z * z)
    series = r * (1 + r * (0.5 + r * (1 / 6 + r2 * (-1 / 30 + r2 * (1 / 42 + r2 * (-1 / 30 + r2 * (
        5 / 66 + r2 * (-691 / 2730 + r2 * (7 / 6)))))))))
    p1 = series + acc
    p1 = xp.where(neg, (math.pi / _sin_pi_abs(x)) ** 2 - p1, p1)
    p1 = xp.where(x == math.inf, 0.0, p1)
    p1 = xp.where(xp.isnan(x), math.nan, p1)
    return xp.where(((x <= 0) & (x == xp.rint(x))) | (x == -math.inf), math.inf, p1)  # poles (and -inf: SciPy's)


def _trigamma(x):
    """polygamma(1, x) in x's dtype: SciPy's (CuPy's, or `_trigamma64`) for x >= 0, and left of 0 the reflection
    psi1(x) = pi**2 / sin(pi x)**2 - psi1(1 - x), because their zeta sums |x| terms for negative x (minutes
    at x = -1e9); inf at the poles 0, -1, -2, ..., NaN at -inf (as torch)."""
    xp = get_xp(x)
    left = x < 0
    p1 = _special("polygamma", xp.where(left, 1 - x, x), _trigamma64, 1)
    with _quiet():  # pi / sin(pi x) = inf at the poles, the answer there
        reflected = (math.pi / _sin_pi_abs(x)) ** 2 - p1
    return xp.where(left, reflected, p1).astype(x.dtype, copy=False)


def _bessel_i64(x, order):
    """The modified Bessel function I0 or I1 without SciPy, float64: its power series sum_k (x/2)^(2k+n) /
    (k! (k+n)!) (positive terms, 80 reach 1e-17 of the sum for |x| <= 25), and beyond the asymptotic
    e^x / sqrt(2 pi x) * sum_k (-1)^k prod_j (4n^2 - (2j-1)^2) / (k! (8x)^k)."""
    xp = get_xp(x)
    a = xp.abs(x)
    small = a <= 25
    s = xp.where(small, a, 25.0)
    q = (s / 2) ** 2
    term = xp.ones_like(s) if order == 0 else s / 2
    total = term.copy()
    for k in range(1, 80):
        term = term * q / (k * (k + order))
        total = total + term
    b = xp.where(small, 26.0, a)
    mu, t, big = 4.0 * order * order, xp.ones_like(b), xp.ones_like(b)
    for k in range(1, 20):
        t = -t * (mu - (2 * k - 1) ** 2) / (k * 8 * b)
        big = big + t
    big = big * (xp.exp(b) / xp.sqrt(b)) / math.sqrt(2 * math.pi)  # (not sqrt(2 pi b): inf / inf past 2.8e307)
    out = xp.where(small, total, big)
    out = xp.where(xp.isnan(x), math.nan, out)
    return out if order == 0 else xp.copysign(out, x)


# ================================================================ Functions: one tensor
class Erfc(Function):
    """y = erfc(x) = 1 - erf(x), accurate where erf(x) rounds to 1;  dy/dx = -2/sqrt(pi) e^(-x**2)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _special("erfc", x, _erfc64)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        with _quiet():  # x**2 overflows for huge x: e^-inf = 0 is the right limit
            return g * (-_TWO_OVER_SQRT_PI * get_xp(x).exp(-x * x))


class Erfinv(Function):
    """y = erfinv(x), erf(y) = x;  dy/dx = sqrt(pi)/2 e^(y**2)  (inf at |x| = 1, NaN outside [-1, 1])"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x):
        y = _special("erfinv", x, _erfinv64)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[0]
        with _quiet():
            return g * ((math.sqrt(math.pi) / 2) * get_xp(y).exp(y * y))


class Sinc(Function):
    """y = sin(u) / u with u = pi x, 1 at 0;  dy/dx = pi (u cos u - sin u) / u**2, 0 at x = 0 (as torch)"""

    @staticmethod
    def forward(ctx, x):
        xp = get_xp(x)
        ctx.save_for_backward(x)
        with _quiet():
            px = math.pi * x
            return xp.where(x == 0, 1, xp.sin(px) / px).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        xp = get_xp(x)
        with _quiet():  # pi x and u**2 overflow for huge x, cos(inf) is NaN: the answer there, as torch
            u = math.pi * x
            d = (u * xp.cos(u) - xp.sin(u)) / (u * u)
        # |u| < 1/2: u cos u - sin u cancels (and u**2 underflows near 0); the Taylor series
        # sum_k (-1)^k 2k u^(2k-1) / (2k+1)! is exact there to float64 rounding with 8 terms
        small = xp.abs(u) < 0.5
        us = xp.where(small, u, 0.0)  # (the series is only evaluated where it is used: no inf * 0 elsewhere)
        u2, series = us * us, 0.0
        for k in range(8, 0, -1):
            series = (-1) ** k * (2 * k) / math.factorial(2 * k + 1) + u2 * series
        return g * (math.pi * xp.where(small, us * series, d)).astype(x.dtype, copy=False)


class Asinh(Function):
    """y = asinh(x);  dy/dx = 1 / sqrt(x**2 + 1)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_xp(x).arcsinh(x)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        with _quiet():  # x**2 overflows to inf for huge x: the gradient is then 0, the right limit
            return g / get_xp(x).sqrt(x * x + 1)


class Acosh(Function):
    """y = acosh(x);  dy/dx = 1 / sqrt(x**2 - 1)  (inf at x = 1, NaN below, as torch)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():
            return get_xp(x).arccosh(x)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        with _quiet():
            return g / get_xp(x).sqrt(x * x - 1)


class Atanh(Function):
    """y = atanh(x);  dy/dx = 1 / (1 - x**2)  (inf at |x| = 1, as torch)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():
            return get_xp(x).arctanh(x)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        with _quiet():
            return g / (1 - x * x)


class Logit(Function):
    """y = log(z / (1 - z)), z = x clamped to [eps, 1 - eps] when eps is given;
    dy/dx = 1 / (x (1 - x)) inside, 0 where eps clamped x, NaN outside [0, 1] without eps (as torch)"""

    @staticmethod
    def forward(ctx, x, eps):
        xp = get_xp(x)
        ctx.save_for_backward(x)
        ctx.eps = eps
        z = x if eps is None else xp.where(x < eps, eps, xp.where(x > 1 - eps, 1 - eps, x)).astype(x.dtype)
        with _quiet():
            return xp.log(z / (1 - z))

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        xp = get_xp(x)
        eps = ctx.eps
        with _quiet():
            d = g / (x * (1 - x))
        out = (x < 0) | (x > 1) if eps is None else (x < eps) | (x > 1 - eps)
        return xp.where(out, math.nan if eps is None else 0, d).astype(g.dtype, copy=False)


class Lgamma(Function):
    """y = log|Gamma(x)|;  dy/dx = digamma(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        xp = get_xp(x)
        y = _special("gammaln", x, _lgamma64)
        y = xp.where(x == -math.inf, math.inf, y)  # torch: +inf (SciPy -inf)
        # subnormal x: 1/x overflows inside SciPy's (and our) formulas, but log|Gamma(x)| = -log|x| - 0.577 x
        # + O(x**2) is -log|x| to the last bit there (744.44 at 5e-324, as torch)
        with _quiet():
            sub = (x != 0) & (xp.abs(x) < _TINY64)
            return xp.where(sub, -xp.log(xp.abs(x)), y).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return g * _special("digamma", ctx.saved[0], _digamma64)


class Digamma(Function):
    """y = digamma(x) = d log Gamma(x) / dx;  dy/dx = polygamma(1, x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _special("digamma", x, _digamma64)

    @staticmethod
    def backward(ctx, g):
        return g * _trigamma(ctx.saved[0])


class I0(Function):
    """y = I0(x), the modified Bessel function of the first kind of order 0;  dy/dx = I1(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _special("i0", x, lambda a: _bessel_i64(a, 0))

    @staticmethod
    def backward(ctx, g):
        return g * _special("i1", ctx.saved[0], lambda a: _bessel_i64(a, 1))


# ================================================================ Functions: two tensors
class Xlogy(Function):
    """y = x log(b), 0 where x = 0 (unless b is NaN);
    dy/dx = log(b) (0 where x = 0 and b <= 0, and where dy = 0), dy/db = x / b  (torch's rules)"""

    @staticmethod
    def forward(ctx, x, b):
        xp = get_xp(x)
        ctx.save_for_backward(x, b)
        with _quiet():
            y = x * xp.log(b)
        return xp.where((x == 0) & ~xp.isnan(b), 0, y).astype(y.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, b = ctx.saved
        xp = get_xp(g)
        nx, nb = ctx.needs_input_grad
        gx = gb = None
        with _quiet():
            if nx:
                gx = xp.where((g == 0) & ~xp.isnan(b), 0, g * xp.log(b))  # xlogy(g, b)
                gx = xp.where((x == 0) & (b <= 0), 0, gx).astype(g.dtype, copy=False)
            if nb:
                gb = g * x / b
        return gx, gb


class _LogAddExpBase(Function):
    """Shared by LogAddExp (base e) and LogAddExp2 (base 2): `ufunc` and `power` name the xp functions."""

    ufunc, power = "", ""

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.power = cls.power
        with _quiet():
            return getattr(get_xp(a), cls.ufunc)(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        power = getattr(get_xp(g), ctx.power)
        na, nb = ctx.needs_input_grad
        with _quiet():  # a power of b - a = inf gives the right limit 0; inf - inf = NaN gives NaN, as torch
            return (g / (1 + power(b - a)) if na else None), (g / (1 + power(a - b)) if nb else None)


class LogAddExp(_LogAddExpBase):
    """y = log(e^a + e^b) without overflow;  dy/da = 1 / (1 + e^(b - a)), dy/db = 1 / (1 + e^(a - b))"""

    ufunc, power = "logaddexp", "exp"


class LogAddExp2(_LogAddExpBase):
    """y = log2(2^a + 2^b) without overflow;  dy/da = 1 / (1 + 2^(b - a)), dy/db = 1 / (1 + 2^(a - b))"""

    ufunc, power = "logaddexp2", "exp2"


class _NanIgnoringExtreme(Function):
    """Shared by Fmax and Fmin: `ufunc` is xp.fmax / xp.fmin; `keeps_a(a, b)` is where a is the result."""

    ufunc = ""

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.keeps_a = cls.keeps_a
        return getattr(get_xp(a), cls.ufunc)(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = get_xp(g)
        take_a = ctx.keeps_a(a, b) | xp.isnan(b)
        return xp.where(take_a, g, 0), xp.where(take_a, 0, g)


class Fmax(_NanIgnoringExtreme):
    """y = max(a, b), the number where the other is NaN;  dy/da = 1 where a >= b or b is NaN, else dy/db = 1
    (ties go to a, as torch)"""

    ufunc = "fmax"
    keeps_a = staticmethod(lambda a, b: a >= b)


class Fmin(_NanIgnoringExtreme):
    """y = min(a, b), the number where the other is NaN;  dy/da = 1 where a <= b or b is NaN, else dy/db = 1
    (ties go to a, as torch)"""

    ufunc = "fmin"
    keeps_a = staticmethod(lambda a, b: a <= b)


class Copysign(Function):
    """y = |a| with the sign of b;  dy/da = y / a (+-1; 0 at a = 0, as torch), dy/db = 0"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, a, b):
        y = get_xp(a).copysign(a, b)
        ctx.save_for_backward(a, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, y = ctx.saved
        xp = get_xp(g)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            with _quiet():
                ga = g * xp.where(a == 0, 0, y / a).astype(g.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            gb = xp.zeros_like(g)
        return ga, gb


class Nextafter(Function):
    """y = the next representable number after a in the direction of b (b itself where a == b);
    dy/da = 1 (0 where a == b, where y is b), dy/db = 0  (torch's rule)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return get_xp(a).nextafter(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = get_xp(g)
        return xp.where(a == b, 0, g), (xp.zeros_like(g) if ctx.needs_input_grad[1] else None)


class Heaviside(Function):
    """y = 0 for x < 0, values for x = 0, 1 for x > 0;  no derivative: torch raises at backward, and so do we"""

    @staticmethod
    def forward(ctx, x, values):
        xp = get_xp(x)
        return xp.where(x == 0, values, (x > 0).astype(x.dtype)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("heaviside: the derivative of heaviside is not implemented, as in torch; "
                           "detach its input if the step is meant to be a constant")


class _ZeroGradient(Function):
    """y = a value computed without a graph (eq_, logical_and_, ... written in place);  dy/d(inputs) = 0.

    What torch records for such in-place writes on a tensor that requires grad (e.g. EqBackward0):
    the tensor keeps requiring grad, and no gradient flows through the written values.
    """

    @staticmethod
    def forward(ctx, *arrays, value):
        ctx.dtypes = [a.dtype for a in arrays]
        return value

    @staticmethod
    def backward(ctx, g):
        xp = get_xp(g)
        grads = tuple(xp.zeros(g.shape, dtype=d) if need else None
                      for d, need in zip(ctx.dtypes, ctx.needs_input_grad))
        return grads if len(grads) > 1 else grads[0]


# ================================================================ wrappers: bitwise
def _bitwise_operands(op, a, b, allow_bool=True):
    """The two operands of a bitwise op as tensors of one integer (or bool) dtype, torch's promotion;
    floating-point operands are refused (torch has no bitwise floats), and so are bool pairs for shifts."""
    if not (isinstance(a, Tensor) or isinstance(b, Tensor)):
        raise TypeError(f"{op}: expected at least one Tensor operand, got {type(a).__name__} and {type(b).__name__}")
    for v in (a, b):
        if v is None or isinstance(v, (str, bytes)):
            raise TypeError(f"{op}: unsupported operand {v!r} (expected an integer or bool tensor or number)")
    for v in (a, b):
        kind = v.data.dtype.kind if isinstance(v, Tensor) else ("f" if isinstance(v, float) else None)
        if kind == "f":
            what = describe(v) if isinstance(v, Tensor) else f"the float {v!r}"
            raise TypeError(f"{op}: bitwise ops need integer or bool operands, got {what} (as torch); "
                            "convert with .long(), or use the logical_* ops for truth values")
    x, y = _math_operands(op, a, b)
    if x.data.dtype.kind not in "biu":  # (complex or odd data that slipped through)
        raise TypeError(f"{op}: bitwise ops need integer or bool operands, got {describe(x)} and {describe(y)}")
    if not allow_bool and x.data.dtype.kind == "b":
        raise TypeError(f"{op}: shifting bool by bool is not supported ({describe(x)} and {describe(y)}), as torch; "
                        "convert with .long()")
    return x, y


def _bitwise(op, a, b, fn, allow_bool=True):
    x, y = _bitwise_operands(op, a, b, allow_bool)
    try:
        return _wrap(fn(get_xp(x.data), x.data, y.data))
    except ValueError as e:
        raise _operand_error(op, e, x, y) from None


def bitwise_and(input, other):  # noqa: A002 - torch's names
    """input & other: bitwise AND of integer tensors, logical AND of bool tensors (torch.bitwise_and); broadcasts."""
    return _bitwise("bitwise_and", input, other, lambda xp, p, q: xp.bitwise_and(p, q))


def bitwise_or(input, other):  # noqa: A002
    """input | other: bitwise OR of integer tensors, logical OR of bool tensors (torch.bitwise_or); broadcasts."""
    return _bitwise("bitwise_or", input, other, lambda xp, p, q: xp.bitwise_or(p, q))


def bitwise_xor(input, other):  # noqa: A002
    """input ^ other: bitwise XOR of integer tensors, logical XOR of bool tensors (torch.bitwise_xor); broadcasts."""
    return _bitwise("bitwise_xor", input, other, lambda xp, p, q: xp.bitwise_xor(p, q))


def bitwise_not(input):  # noqa: A002
    """~input: bitwise NOT of an integer tensor (~x = -x - 1), logical NOT of a bool tensor (torch.bitwise_not)."""
    x = _tensor_arg("bitwise_not", input)
    if x.data.dtype.kind not in "biu":
        raise TypeError(f"bitwise_not: ~ is only implemented on integer and bool tensors, got {describe(x)} "
                        "(as torch); use logical_not for truth values of a float tensor")
    return _wrap(get_xp(x.data).invert(x.data))


def _shift(xp, x, s, left):
    """x << s or x >> s with torch's answers where C leaves it undefined: a shift by a negative amount or
    by the bit width or more gives 0 to the left, and the sign fill (0 or -1) to the right."""
    bits = x.dtype.itemsize * 8
    ok = (s >= 0) & (s < bits)
    s_ok = xp.where(ok, s, 0).astype(x.dtype, copy=False)
    if left:
        return xp.where(ok, xp.left_shift(x, s_ok), 0).astype(x.dtype, copy=False)
    fill = xp.right_shift(x, bits - 1) if x.dtype.kind == "i" else xp.zeros_like(x)
    return xp.where(ok, xp.right_shift(x, s_ok), fill).astype(x.dtype, copy=False)


def bitwise_left_shift(input, other):  # noqa: A002
    """input << other for integer tensors (torch.bitwise_left_shift); bits shifted past the width are lost."""
    return _bitwise("bitwise_left_shift", input, other, lambda xp, p, q: _shift(xp, p, q, True), allow_bool=False)


def bitwise_right_shift(input, other):  # noqa: A002
    """input >> other for integer tensors (torch.bitwise_right_shift); arithmetic (sign-filling) for signed types."""
    return _bitwise("bitwise_right_shift", input, other, lambda xp, p, q: _shift(xp, p, q, False), allow_bool=False)


# ================================================================ wrappers: unary
def _float_arg(op, x):
    """x as a float tensor: integer and bool tensors become the default float dtype, as torch."""
    return _floatify(_tensor_arg(op, x))


def erfc(input):  # noqa: A002
    """1 - erf(x), accurate in the right tail (torch.erfc)."""
    return Erfc.apply(_float_arg("erfc", input))


def erfinv(input):  # noqa: A002
    """The inverse error function on [-1, 1] (torch.erfinv): +-inf at +-1, NaN outside."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('erfinv', erfinv, input=input)
    return Erfinv.apply(_float_arg("erfinv", input))


def exp2(input):  # noqa: A002
    """2 ** x (torch.exp2); composed as pow(2.0, x): dy/dx = y ln 2."""
    return pow(2.0, _float_arg("exp2", input))


def sinc(input):  # noqa: A002
    """The normalized sinc, sin(pi x) / (pi x), 1 at 0 (torch.sinc)."""
    return Sinc.apply(_float_arg("sinc", input))


def asinh(input):  # noqa: A002
    """Inverse hyperbolic sine (torch.asinh)."""
    return Asinh.apply(_float_arg("asinh", input))


def acosh(input):  # noqa: A002
    """Inverse hyperbolic cosine, x >= 1 (torch.acosh); NaN below 1."""
    return Acosh.apply(_float_arg("acosh", input))


def atanh(input):  # noqa: A002
    """Inverse hyperbolic tangent, |x| <= 1 (torch.atanh); +-inf at +-1, NaN outside."""
    return Atanh.apply(_float_arg("atanh", input))


def logit(input, eps=None):  # noqa: A002
    """log(x / (1 - x)) (torch.logit); with eps, x is first clamped to [eps, 1 - eps] (and the gradient is 0
    where it was clamped)."""
    x = _float_arg("logit", input)
    if eps is not None:
        if isinstance(eps, bool) or not is_scalar(eps):
            raise TypeError(f"logit: eps must be a number or None, got {type(eps).__name__} {eps!r}")
        eps = float(scalar_value(eps, "logit"))
    return Logit.apply(x, eps=eps)


def frac(input):  # noqa: A002
    """The fractional part x - trunc(x), with x's sign (torch.frac); floating-point only, as torch. dy/dx = 1."""
    x = _tensor_arg("frac", input)
    if x.data.dtype.kind != "f":
        raise TypeError(f"frac: expected a floating-point tensor, got {describe(x)} (as torch); convert with .float()")
    with _quiet():  # inf - trunc(inf) = NaN, silently, as torch
        return sub(x, trunc(x))  # exact in floating point; trunc has zero gradient


def deg2rad(input):  # noqa: A002
    """Degrees to radians, x * pi / 180 (torch.deg2rad)."""
    with _quiet():  # (a product beyond float32's range is inf, as torch)
        return mul(_float_arg("deg2rad", input), math.pi / 180)


def rad2deg(input):  # noqa: A002
    """Radians to degrees, x * 180 / pi (torch.rad2deg)."""
    with _quiet():  # 3e38 * 57.3 overflows float32 to inf, silently, as torch
        return mul(_float_arg("rad2deg", input), 180 / math.pi)


def sgn(input):  # noqa: A002
    """sign(x) for real tensors (torch.sgn, which differs from sign only for complex numbers)."""
    return sign(_tensor_arg("sgn", input))


def signbit(input):  # noqa: A002
    """True where the sign bit is set: x < 0, and also -0.0 and negative NaN (torch.signbit); no gradient."""
    x = _tensor_arg("signbit", input)
    xp = get_xp(x.data)
    kind = x.data.dtype.kind
    if kind == "f":
        return _wrap(xp.signbit(x.data))
    if kind == "i":
        return _wrap(x.data < 0)
    return _wrap(xp.zeros(x.data.shape, dtype=np.bool_))  # unsigned and bool: never negative


def lgamma(input):  # noqa: A002
    """log|Gamma(x)| (torch.lgamma); +inf at the poles 0, -1, -2, ... and at +-inf."""
    return Lgamma.apply(_float_arg("lgamma", input))


def digamma(input):  # noqa: A002
    """digamma(x) = d/dx log Gamma(x) (torch.digamma); -inf at +0, +inf at -0, NaN at -1, -2, ..."""
    return Digamma.apply(_float_arg("digamma", input))


def i0(input):  # noqa: A002
    """The modified Bessel function of the first kind of order 0 (torch.i0)."""
    return I0.apply(_float_arg("i0", input))


# ================================================================ wrappers: binary
def _float_pair(op, a, b):
    """Both operands as tensors of one float dtype (integers and bools promote to the default float)."""
    if not any((isinstance(v, Tensor) and v.data.dtype.kind == "f") or isinstance(v, float) for v in (a, b)):
        # two integer/bool operands: each becomes float from its own values, as torch casts every input to the
        # computation dtype (uint8[1] with int8[] -1 meets -1.0, not 255 from an integer promotion first)
        a, b = (_floatify(v) if isinstance(v, Tensor) else v for v in (a, b))
    x, y = _math_operands(op, a, b)
    return _floatify(x), _floatify(y)


def _apply2(op, fn, x, y):
    try:
        return fn.apply(x, y)
    except ValueError as e:  # broadcasting
        raise _operand_error(op, e, x, y) from None


def _tensors_only(op, a, b, names=("input", "other")):
    """torch's signature takes two tensors here: numbers are refused, as torch does."""
    for v, name in zip((a, b), names):
        _tensor_arg(op, v, name)


def xlogy(input, other):  # noqa: A002
    """input * log(other), 0 where input is 0 (unless other is NaN) (torch.xlogy); either may be a number."""
    return _apply2("xlogy", Xlogy, *_float_pair("xlogy", input, other))


def logaddexp(input, other):  # noqa: A002
    """log(e^input + e^other) without overflow (torch.logaddexp); floating-point tensors only, as torch."""
    return _float_binary("logaddexp", LogAddExp, input, other)


def logaddexp2(input, other):  # noqa: A002
    """log2(2^input + 2^other) without overflow (torch.logaddexp2); floating-point tensors only, as torch."""
    return _float_binary("logaddexp2", LogAddExp2, input, other)


def _float_binary(op, fn, input, other):
    """A binary op torch defines on two tensors, at least one floating-point (two integer ones are refused)."""
    _tensors_only(op, input, other)
    x, y = _math_operands(op, input, other)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: expected floating-point tensors, got {describe(input)} and {describe(other)} "
                        "(as torch); convert with .float()")
    return _apply2(op, fn, x, y)


def fmax(input, other):  # noqa: A002
    """Elementwise maximum that ignores NaN: the number where the other is NaN (torch.fmax); any real dtype."""
    return _max_min("fmax", Fmax, input, other)


def fmin(input, other):  # noqa: A002
    """Elementwise minimum that ignores NaN: the number where the other is NaN (torch.fmin); any real dtype."""
    return _max_min("fmin", Fmin, input, other)


def _max_min(op, fn, input, other):
    _tensors_only(op, input, other)
    x, y = _math_operands(op, input, other)
    if x.data.dtype.kind in "biu":  # no NaN to skip and no gradient: NumPy's fmax/fmin of the values
        try:
            return _wrap(getattr(get_xp(x.data), op)(x.data, y.data))
        except ValueError as e:
            raise _operand_error(op, e, x, y) from None
    return _apply2(op, fn, x, y)


def copysign(input, other):  # noqa: A002
    """|input| with the sign of other (-0.0 counts as negative) (torch.copysign); other may be a number."""
    _tensor_arg("copysign", input)
    return _apply2("copysign", Copysign, *_float_pair("copysign", input, other))


def nextafter(input, other):  # noqa: A002
    """The next floating-point value after input towards other (torch.nextafter); float tensors only, as torch."""
    return _float_binary("nextafter", Nextafter, input, other)


def heaviside(input, values):  # noqa: A002
    """The step function: 0 where input < 0, `values` where input == 0, 1 where input > 0 (torch.heaviside).

    As torch: input and values are tensors of one dtype, and the result has no derivative (backward raises).
    """
    _tensors_only("heaviside", input, values, ("input", "values"))
    if input.data.dtype != values.data.dtype:
        raise TypeError(f"heaviside: input and values must have one dtype, got {describe(input)} and "
                        f"{describe(values)} (as torch)")
    x, v = check_pair("heaviside", input, values)
    try:
        return Heaviside.apply(x, v)
    except ValueError as e:
        raise _operand_error("heaviside", e, x, v) from None


def ldexp(input, other):  # noqa: A002
    """input * 2**other (torch.ldexp), composed as mul and pow (so gradients reach both when they are float)."""
    _tensors_only("ldexp", input, other)
    x, e = _float_pair("ldexp", input, other)
    try:
        with _quiet():  # 2**2000 = inf and 0 * inf = NaN, silently, as torch's own mul(input, pow(2, other))
            return mul(x, pow(2.0, e))
    except ValueError as err:  # mul's broadcast error, named as the op called
        raise ValueError(f"ldexp: {err}") from None


def float_power(input, exponent):  # noqa: A002
    """input ** exponent computed in float64, whatever the input dtypes (torch.float_power; torch's documented
    exception to keeping float32). Composed as a differentiable cast to float64 and pow, so a float32 input
    gets a float32 gradient."""
    if not (isinstance(input, Tensor) or isinstance(exponent, Tensor)):
        raise TypeError(f"float_power: expected at least one Tensor operand, got {type(input).__name__} and "
                        f"{type(exponent).__name__}")

    def f64(v):
        if isinstance(v, Tensor):
            return v.to(np.float64)  # (Cast is differentiable between float dtypes)
        if isinstance(v, bool) or not is_scalar(v):
            like = input if isinstance(input, Tensor) else exponent
            return to_tensor(v, like, "float_power").to(np.float64)
        return float(v)

    try:
        with _quiet():  # 0 ** -1 = inf, silently, as torch
            return pow(f64(input), f64(exponent))
    except ValueError as e:  # pow's broadcast error, named as the op called
        raise ValueError(f"float_power: {e}") from None


def _int_only(op, fn, input, other):
    """gcd and lcm: two integer tensors (torch refuses bool and floats here)."""
    _tensors_only(op, input, other)
    x, y = _math_operands(op, input, other)
    if x.data.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected integer tensors, got {describe(input)} and {describe(other)} (as torch)")
    try:
        return _wrap(fn(get_xp(x.data), x.data, y.data))
    except ValueError as e:
        raise _operand_error(op, e, x, y) from None


def gcd(input, other):  # noqa: A002
    """The greatest common divisor, elementwise, >= 0 (torch.gcd); integer tensors only."""
    return _int_only("gcd", lambda xp, p, q: xp.gcd(p, q), input, other)


def lcm(input, other):  # noqa: A002
    """The least common multiple, elementwise, >= 0 (torch.lcm); integer tensors only."""
    return _int_only("lcm", lambda xp, p, q: xp.lcm(p, q), input, other)


# ================================================================ in place
def _can_cast(src, dst) -> bool:
    """torch's rule for writing a result of dtype src into a tensor of dtype dst: never float -> integer,
    never non-bool -> bool; everything else (also float64 -> float32) is allowed."""
    if src == dst:
        return True
    if src.kind == "f" and dst.kind in "biu":
        return False
    return not (dst.kind == "b" and src.kind != "b")


def inplace(op, x, fn, *operands):
    """x <- fn(x) in place, where fn is the out-of-place op (`Tensor.exp_` is `inplace("exp_", x, exp)`).

    Goes through `Tensor._write_in_place`, so the write is recorded in the graph on a non-leaf, refused on a
    leaf that requires grad, and bumps the version counter. The result is written in x's dtype, and refused
    where torch refuses that cast (exp_ of an int64 tensor: its float result cannot be written into int64).
    `operands` are the other tensors fn reads (a write that depends on one that requires grad is recorded).
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor to write into, got {type(x).__name__}")

    def compute(t):
        with promoting_floats():  # float32 with float64 computes in float64, as torch, and is cast back below
            out = fn(t)
        src, dst = out.data.dtype, t.data.dtype
        if not _can_cast(src, dst):
            raise RuntimeError(f"{op}: the result type {src} can't be cast to the desired output type {dst} of "
                               f"{describe(t)} (as torch); use the out-of-place form")
        if src != dst:
            out = out.to(dst)  # (differentiable between float dtypes)
        if out.grad_fn is None and (t.requires_grad or any(o.requires_grad for o in operands)):
            # a comparison, logical op, ... written into a tensor in a graph: the values are constants (zero
            # gradient), as torch records them, so the tensor stays in the graph
            tensors = [t, *operands]
            out = _ZeroGradient.apply(*tensors, value=out.data)
        return out

    operands = tuple(o for o in operands if isinstance(o, Tensor))
    return x._write_in_place(op, compute, *operands)


def float_power_(x, exponent):
    """x.float_power_(exponent): torch writes the float64 result only into a float64 tensor (no cast down)."""
    x = _tensor_arg("float_power_", x)
    if x.data.dtype != np.float64:
        raise RuntimeError(f"float_power_: the base has dtype {x.data.dtype} ({describe(x)}) but the result is "
                           "float64, which an in-place write cannot keep (as torch); use .double() or float_power()")
    return inplace("float_power_", x, lambda t: float_power(t, exponent), exponent)


# ================================================================ polygamma, frexp, angle
# The Bernoulli numbers B_2, B_4, ..., B_20 of the asymptotic series of the polygamma functions.
_BERNOULLI_2K = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798, -174611 / 330)


def _polygamma_pos64(x, n):
    """polygamma(n, x) for x >= 0 (n >= 1) without SciPy, float64: the recurrence
    psi_n(x) = psi_n(x + 1) + (-1)**(n+1) n! / x**(n+1) up to z >= 20, then the asymptotic series
    psi_n(z) ~ (-1)**(n+1) [(n-1)!/z**n + n!/(2 z**(n+1)) + sum_k B_2k (2k+n-1)! / ((2k)! z**(2k+n))]."""
    xp = get_xp(x)
    z = xp.where(xp.isfinite(x), x, 20.0)
    acc = xp.zeros_like(z)
    with _quiet():  # 1 / 0**(n+1) = inf at the pole x = 0, the answer there
        for _ in range(20):
            low = z < 20
            acc = xp.where(low, acc + 1 / z ** (n + 1), acc)
            z = xp.where(low, z + 1, z)
    series = math.factorial(n - 1) / z ** n + math.factorial(n) / (2 * z ** (n + 1))
    for k, b in enumerate(_BERNOULLI_2K, start=1):
        series = series + b * (math.factorial(2 * k + n - 1) / math.factorial(2 * k)) / z ** (2 * k + n)
    out = (-1) ** (n + 1) * (math.factorial(n) * acc + series)
    return xp.where(xp.isnan(x), math.nan, out)


def _cot_derivative_poly(n):
    """Coefficients (lowest power first) of P_n with d^n/dt^n cot(t) = P_n(cot t):
    P_0(c) = c, P_{k+1}(c) = -(1 + c**2) P_k'(c)."""
    p = [0, 1]
    for _ in range(n):
        d = [i * p[i] for i in range(1, len(p))] or [0]  # P_k'
        nxt = [0] * (len(d) + 2)
        for i, c in enumerate(d):  # -(1 + c**2) * P_k'
            nxt[i] -= c
            nxt[i + 2] -= c
        p = nxt
    return p


def _polygamma(n, x):
    """polygamma(n, x) in x's dtype (n >= 0): digamma for n = 0, `_trigamma` for n = 1; for n >= 2 SciPy's
    (CuPy's, or `_polygamma_pos64`) right of 0, and left of 0 the reflection
    psi_n(x) = (-1)**n psi_n(1 - x) - pi**(n+1) P_n(cot(pi x)) (their zeta sums |x| terms there).
    Poles at 0, -1, -2, ...: (-1)**(n+1) inf; at +inf NaN and at -inf (-1)**(n+1) inf, as torch."""
    if n == 0:
        return _special("digamma", x, _digamma64)
    if n == 1:
        return _trigamma(x)
    xp = get_xp(x)
    left = x < 0
    right = _special("polygamma", xp.where(left, 1 - x, x), lambda a: _polygamma_pos64(a, n), n)
    with _quiet():  # cot = inf at the poles (replaced below); far left the terms overflow to inf, as torch
        c = 1 / xp.tan(math.pi * (x - xp.rint(x))).astype(np.float64)
        poly = 0.0
        for coef in reversed(_cot_derivative_poly(n)):  # Horner
            poly = poly * c + coef
        reflected = (-1) ** n * right.astype(np.float64) - math.pi ** (n + 1) * poly
    out = xp.where(left, reflected, right)
    sign_inf = (-1) ** (n + 1) * math.inf
    out = xp.where(((x <= 0) & (x == xp.rint(x))) | (x == -math.inf), sign_inf, out)
    out = xp.where(xp.isnan(x) | (x == math.inf), math.nan, out)
    return out.astype(x.dtype, copy=False)


class Polygamma(Function):
    """y = polygamma(n, x), the n-th derivative of digamma;  dy/dx = polygamma(n + 1, x)"""

    @staticmethod
    def forward(ctx, x, n):
        ctx.save_for_backward(x)
        ctx.n = n
        return _polygamma(n, x)

    @staticmethod
    def backward(ctx, g):
        return g * _polygamma(ctx.n + 1, ctx.saved[0])


def polygamma(n, input):  # noqa: A002 - torch's names
    """The n-th derivative of the digamma function, psi_n(x) (torch.polygamma); n = 0 is digamma.

    Args:
        n: the order, an int >= 0.
        input: the tensor x (integers and bools become the default float dtype).
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"polygamma: n must be an int, got {type(n).__name__} {n!r}")
    if n < 0:
        raise RuntimeError(f"polygamma: polygamma(n, x) does not support negative n, got n={n}")
    return Polygamma.apply(_float_arg("polygamma", input), n=n)


class Frexp(Function):
    """mantissa m = x * 2**(-e), found exactly on the raw array (see `_frexp_parts`);  dm/dx = 2**(-e)"""

    @staticmethod
    def forward(ctx, x, mantissa, exponent):
        ctx.exponent = exponent
        return mantissa

    @staticmethod
    def backward(ctx, g):
        with _quiet():  # a subnormal's 2**1030 overflows to inf, silently, as torch
            return get_xp(g).ldexp(g.astype(np.float64, copy=False), -ctx.exponent).astype(g.dtype, copy=False)


def _frexp_parts(xp, a):
    """(mantissa, int32 exponent) of a float array, exact for subnormals on every backend.

    A GPU flushes float32 subnormals to zero in arithmetic (even in a cast to float64), so there
    the parts of float32 data are read from its bits: the exponent field, and for a subnormal the
    highest set bit of its significand (found by frexp of that integer, which is a normal number).
    """
    if xp is np or a.dtype != np.float32:
        m, e = xp.frexp(a)
        return m, e.astype(np.int32)
    bits = a.view(np.uint32)
    field = ((bits >> 23) & 0xFF).astype(np.int32)      # biased exponent
    frac = bits & 0x7FFFFF                              # significand without its leading 1
    sub = (field == 0) & (frac != 0)
    _, q = xp.frexp(frac.astype(np.float64))            # subnormal: frac in [2**(q-1), 2**q)
    q = q.astype(np.int32)
    exponent = xp.where(sub, q - 149, xp.where((field == 0) | (field == 0xFF), 0, field - 126)).astype(np.int32)
    # mantissa bits: sign, exponent field 126 (values in [0.5, 1)), the significand (shifted up for a subnormal)
    shift = xp.where(sub, 24 - q, 0).astype(np.uint32)
    mant_bits = (bits & np.uint32(0x80000000)) | np.uint32(126 << 23) | ((frac << shift) & np.uint32(0x7FFFFF))
    special = (field == 0xFF) | ((field == 0) & (frac == 0))  # inf, nan, +-0: themselves
    mantissa = xp.where(special, a, mant_bits.view(np.float32))
    return mantissa, exponent


FrexpResult = namedtuple("FrexpResult", ["mantissa", "exponent"])


def frexp(input):  # noqa: A002 - torch's name
    """(mantissa, exponent) with x = mantissa * 2**exponent, 0.5 <= |mantissa| < 1 (torch.frexp).

    The mantissa has x's dtype and is differentiable (d mantissa / dx = 2**(-exponent)); the exponent is
    int32 with no gradient; 0, inf and NaN give exponent 0 and themselves as the mantissa.
    """
    x = _tensor_arg("frexp", input)
    if x.data.dtype.kind != "f":
        raise TypeError(f"frexp: only supports floating-point dtypes, got {describe(x)} (as torch)")
    with _quiet():
        mantissa, exponent = _frexp_parts(get_xp(x.data), x.data)
    return FrexpResult(Frexp.apply(x, mantissa=mantissa, exponent=exponent), _wrap(exponent))


class Angle(Function):
    """y = angle(x) for real x: pi where x < 0, else 0 (NaN stays NaN);  dy/dx = 0 (torch's real-input rule)"""

    @staticmethod
    def forward(ctx, x):
        xp = get_xp(x)
        ctx.dtype = x.dtype
        return xp.where(x < 0, math.pi, xp.where(xp.isnan(x), math.nan, 0.0)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return get_xp(g).zeros(g.shape, dtype=ctx.dtype)


def angle(input):  # noqa: A002 - torch's name
    """The argument of each element as a complex number (torch.angle): for real tensors pi where x < 0,
    0 elsewhere, NaN for NaN; integer and bool tensors give the default float dtype. Gradient: 0."""
    return Angle.apply(_float_arg("angle", input))
