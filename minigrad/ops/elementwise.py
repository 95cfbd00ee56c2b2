"""Elementwise arithmetic: + - * / **, neg, exp, log, sqrt, abs, clamp, maximum, minimum, where,
and the rest of torch's pointwise math: log1p ... atan, rounding (zero gradient), atan2, fmod,
remainder, floor_divide, hypot, lerp, addcmul/addcdiv, nan_to_num, isnan/isinf/isfinite, isclose.

Binary ops broadcast like NumPy; their backward returns gradients in the
broadcast (output) shape and the engine sums them back to each input's shape.
A Python scalar operand gets its own op (`MulScalar`, ...) so it needs no tensor.
"""
from __future__ import annotations

import math
import numbers

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import (check_float, check_pair, describe, is_scalar, refuse_text, require_tensor, scalar_value,
                     to_tensor)
from .common import quiet as _quiet
from . import common as _common
from .. import amp as _amp

get_xp = _B.get_array_module


# ---------------------------------------------------------------- tensor (op) tensor
# inf and NaN are the defined answers at the edges of the domains of log, sqrt and the like (log(0), rsqrt(0), asin(2)):
# torch computes them silently, so NumPy's warnings are silenced around them (CuPy never warns).


class Add(Function):
    """y = a + b;  dy/da = 1, dy/db = 1"""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    """y = a - b;  dy/da = 1, dy/db = -1"""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b;  dy/da = b, dy/db = a"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        return (g * b if na else None), (g * a if nb else None)


class Div(Function):
    """y = a / b;  dy/da = 1/b, dy/db = -a/b**2"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        ga = g / b
        return ga, (-ga * a / b if ctx.needs_input_grad[1] else None)


def _int_pow(xp, a, b):
    """a ** b for integer tensors, with torch's answers at negative exponents (NumPy refuses them):
    1 for a == 1, +-1 for a == -1 (by the parity of b), else 0, the integer part of 1 / a**|b|."""
    neg = b < 0
    if not bool(neg.any()):
        return a ** b
    y = a ** xp.where(neg, 0, b).astype(b.dtype, copy=False)
    one = xp.ones((), dtype=y.dtype)
    at_neg = xp.where(a == 1, one, 0).astype(y.dtype, copy=False)
    if y.dtype.kind == "i":
        at_neg = xp.where(a == -1, xp.where(b % 2 == 0, one, -one), at_neg).astype(y.dtype, copy=False)
    return xp.where(neg, at_neg, y).astype(y.dtype, copy=False)


class Pow(Function):
    """y = a ** b;  dy/da = b * a**(b-1), dy/db = y * log(a)  (0 where a == 0 and b >= 0, as torch)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, a, b):
        if a.dtype.kind in "biu" and b.dtype.kind in "iu":
            y = _int_pow(get_xp(a), a, b)
        else:
            y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved
        xp = get_xp(a)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            with _quiet():  # 0 ** -1 = inf, 1000 ** 1e38 = inf: the gradient's own limits, as torch
                ga = g * b * a ** (b - 1)
            # b == 0: y = 1 is constant in a, also at a == 0 where 0 * 0**-1 would be NaN (torch: 0)
            ga = xp.where(b == 0, 0, ga).astype(g.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            with _quiet():
                gb = g * y * xp.log(a)
            gb = xp.where((a == 0) & (b >= 0), 0, gb).astype(g.dtype, copy=False)
        return ga, gb


# ---------------------------------------------------------------- tensor (op) Python scalar
class AddScalar(Function):
    """y = x + c;  dy/dx = 1"""

    @staticmethod
    def forward(ctx, x, c):
        return x + c

    @staticmethod
    def backward(ctx, g):
        return g


class MulScalar(Function):
    """y = c * x;  dy/dx = c"""

    @staticmethod
    def forward(ctx, x, c):
        ctx.c = c
        return x * c

    @staticmethod
    def backward(ctx, g):
        return g * ctx.c


class DivScalar(Function):
    """y = x / c;  dy/dx = 1/c"""

    @staticmethod
    def forward(ctx, x, c):
        ctx.c = c
        return x / c

    @staticmethod
    def backward(ctx, g):
        return g / ctx.c


class RSubScalar(Function):
    """y = c - x;  dy/dx = -1"""

    @staticmethod
    def forward(ctx, x, c):
        return c - x

    @staticmethod
    def backward(ctx, g):
        return -g


class RDivScalar(Function):
    """y = c / x;  dy/dx = -c / x**2 = -y / x"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x, c):
        y = c / x
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        return -g * y / x


class PowScalar(Function):
    """y = x ** c;  dy/dx = c * x**(c-1)"""

    @staticmethod
    def forward(ctx, x, c):
        ctx.save_for_backward(x)
        ctx.c = c
        return x * x if c == 2 else x ** c

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        c = ctx.c
        if c == 2:
            return g * 2 * x
        if c == 0:  # x**0 == 1 is constant: 0 everywhere, also at x == 0 where c * x**-1 would be 0 * inf
            return get_xp(g).zeros_like(g)
        return g * c * x ** (c - 1)


class RPowScalar(Function):
    """y = c ** x;  dy/dx = y * log(c)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x, c):
        with _quiet():  # 2.0 ** 1024 = inf and (-2.0) ** 0.5 = NaN, silently, as torch
            y = c ** x
        ctx.save_for_backward(y)
        ctx.logc = math.log(c) if c > 0 else (-math.inf if c == 0 else math.nan)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        with _quiet():  # 0 * inf = NaN where y overflowed, as torch
            return g * y * ctx.logc


# ---------------------------------------------------------------- unary
class Neg(Function):
    """y = -x;  dy/dx = -1"""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    """y = exp(x);  dy/dx = y"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x):
        y = get_xp(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


class Log(Function):
    """y = log(x);  dy/dx = 1/x"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():  # log(0) = -inf and log(-1) = NaN, silently, as in torch
            return get_xp(x).log(x)

    @staticmethod
    def backward(ctx, g):
        with _quiet():
            return g / ctx.saved[0]


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 y)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x):
        with _quiet():  # sqrt(-1) = NaN, silently, as in torch
            y = get_xp(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        with _quiet():
            return g / (2 * ctx.saved[0])


class Sin(Function):
    """y = sin(x);  dy/dx = cos(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_xp(x).sin(x)

    @staticmethod
    def backward(ctx, g):
        return g * get_xp(g).cos(ctx.saved[0])


class Cos(Function):
    """y = cos(x);  dy/dx = -sin(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_xp(x).cos(x)

    @staticmethod
    def backward(ctx, g):
        return -(g * get_xp(g).sin(ctx.saved[0]))


class Abs(Function):
    """y = |x|;  dy/dx = sign(x)  (0 at x = 0, as torch)"""

    @staticmethod
    def forward(ctx, x):
        xp = get_xp(x)
        ctx.save_for_backward(x)
        return xp.abs(x)

    @staticmethod
    def backward(ctx, g):
        return g * get_xp(g).sign(ctx.saved[0])


class Clamp(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0  (boundaries pass, as torch)"""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return get_xp(x).clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        mask = True
        if ctx.lo is not None:
            mask = x >= ctx.lo
        if ctx.hi is not None:
            mask = mask & (x <= ctx.hi)
        return g * mask


class ClampTensor(Function):
    """y = min(max(x, lo), hi) with tensor bounds (broadcast together; y = hi where lo > hi);
    dy/dx = 1 where lo <= x <= hi;  dy/dlo = 1 where x < lo < hi;  dy/dhi = 1 where x > hi or hi < lo  (as torch)"""

    @staticmethod
    def forward(ctx, x, *bounds, has=(True, True)):
        ctx.save_for_backward(x, *bounds)
        ctx.has = has
        lo, hi = _clamp_bounds(bounds, has)
        xp = get_xp(x)
        y = x if lo is None else xp.maximum(x, lo)  # (NaN in x or a bound propagates, as torch)
        return y if hi is None else xp.minimum(y, hi)

    @staticmethod
    def backward(ctx, g):
        x, *bounds = ctx.saved
        lo, hi = _clamp_bounds(bounds, ctx.has)
        xp = get_xp(g)
        inside = (x >= lo) if lo is not None else True
        if hi is not None:
            inside = inside & (x <= hi)
        grads = [xp.where(inside, g, 0)]  # (the engine sums each gradient back to its input's shape)
        if lo is not None:  # lo is the answer where x is below it, unless hi overrides (lo >= hi)
            below = x < lo if hi is None else (x < lo) & (lo < hi)
            grads.append(xp.where(below, g, 0))
        if hi is not None:  # hi is the answer where x is above it, and wherever hi < lo
            above = x > hi if lo is None else (x > hi) | (hi < lo)
            grads.append(xp.where(above, g, 0))
        return tuple(grads)


def _clamp_bounds(bounds, has):
    """(lo, hi) from ClampTensor's optional bound arrays (None where not given)."""
    it = iter(bounds)
    return (next(it) if has[0] else None), (next(it) if has[1] else None)


class Maximum(Function):
    """y = max(a, b);  the larger input gets dy, ties split it evenly (as torch)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return get_xp(a).maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = get_xp(g)
        # a's share: all of g where a > b, half at ties, none where a < b
        ga = xp.where(a > b, g, xp.where(a == b, g * 0.5, 0))
        return ga, g - ga


class Minimum(Function):
    """y = min(a, b);  the smaller input gets dy, ties split it evenly (as torch)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return get_xp(a).minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = get_xp(g)
        ga = xp.where(a < b, g, xp.where(a == b, g * 0.5, 0))
        return ga, g - ga


class Where(Function):
    """y = cond ? a : b;  dy/da = cond, dy/db = not cond"""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return get_xp(a).where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved
        xp = get_xp(g)
        _, na, nb = ctx.needs_input_grad
        return None, (xp.where(cond, g, 0) if na else None), (xp.where(cond, 0, g) if nb else None)


# ---------------------------------------------------------------- wrappers
def _floatify(x: Tensor) -> Tensor:
    """Integer/bool tensor -> default float dtype (a constant: integer tensors have no grad)."""
    if x.data.dtype.kind in "fc":
        return x
    return _wrap(x.data.astype(_B.get_default_dtype()))


def _binary(name, TT, TS, ST, a, b, true_div=False):
    """Dispatch `a (op) b` to the tensor-tensor op TT, or to a scalar op (TS: tensor-scalar, ST: scalar-tensor)."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if true_div and a.data.dtype.kind not in "fc" and b.data.dtype.kind not in "fc":
                # two integer tensors: each becomes float from its own values, as torch (uint8[1] / int8[] -1 is
                # -1.0, not 1 / 255 after an integer promotion first) (found by fuzzing)
                a, b = _floatify(a), _floatify(b)
            if a.data.dtype is not b.data.dtype or a.data.__class__ is not b.data.__class__:
                a, b = check_pair(name, a, b)
            if true_div:
                a, b = _floatify(a), _floatify(b)
            try:
                return TT.apply(a, b)
            except ValueError as e:  # NumPy's message names neither the op nor the tensors
                raise _operand_error(name, e, a, b) from None
            except TypeError as e:  # e.g. NumPy refuses bool - bool
                raise TypeError(f"{name}: {e} ({describe(a)} and {describe(b)})") from None
        if is_scalar(b):
            if true_div:  # (first: a true quotient never holds the number in an integer dtype; uint8 / -3 is fine)
                a = _floatify(a)
            c = scalar_value(b, name)
            if a.data.dtype.kind in "iu":  # (integer tensors only: keeps the float path fast)
                c = _int_scalar_for(name, a, c)
            if true_div or isinstance(c, float):
                a = _floatify(a)
            try:
                return TS(a, c)
            except ValueError as e:  # e.g. integers to a negative integer power
                raise _operand_error(name, e, a, c) from None
        return _binary(name, TT, TS, ST, a, to_tensor(b, a, name), true_div)
    if isinstance(b, Tensor):
        if is_scalar(a):
            if true_div:
                b = _floatify(b)
            c = scalar_value(a, name)
            if b.data.dtype.kind in "iu":
                c = _int_scalar_for(name, b, c)
            if true_div or isinstance(c, float):
                b = _floatify(b)
            try:
                return ST(b, c)
            except ValueError as e:
                raise _operand_error(name, e, c, b) from None
        return _binary(name, TT, TS, ST, to_tensor(a, b, name), b, true_div)
    raise TypeError(f"{name}: expected at least one Tensor operand, got {type(a).__name__} and {type(b).__name__}")


def _int_scalar_for(name, x, c):
    """A Python int operand of an integer tensor's add/sub/mul, wrapped into x's dtype as torch does.

    torch computes uint8 + 300 modulo 2**8 (as 44), like C; NumPy refuses a Python int
    its dtype cannot hold. Two's complement makes the wrap one bit mask. Other ops (pow,
    comparisons) keep the exact value: NumPy compares it exactly, and pow names the overflow.
    """
    kind = x.data.dtype.kind
    if kind not in "iu" or isinstance(c, bool) or not isinstance(c, int):
        return c
    info = _B.np.iinfo(x.data.dtype)
    if info.min <= c <= info.max:
        return c
    if name not in ("add", "sub", "mul") or not _wraps(c):
        raise OverflowError(f"{name}: the number {c} does not fit the dtype of {describe(x)} "
                            f"(range {info.min} to {info.max})")
    return _wrapped_int(c, x.data.dtype)


def _wraps(c) -> bool:
    """Is c a Python int torch wraps into a smaller integer dtype? (those in [-2**63, 2**64); past 64 bits
    torch refuses)"""
    return isinstance(c, int) and -(1 << 63) <= c < (1 << 64)


def _wrapped_int(c: int, dtype):
    """c modulo 2**bits as a NumPy scalar of the integer `dtype`, as torch (and C) wrap: in two's
    complement that is one bit mask, read back as the signed or unsigned type."""
    size = dtype.itemsize
    return _B.np.array(c & ((1 << 8 * size) - 1), dtype=f"u{size}").view(dtype)[()]


def _operand_error(name, err, *operands):
    """A ValueError raised by NumPy inside `name`'s forward, restated with the op and its operands."""
    what = " and ".join(describe(o) if isinstance(o, Tensor) else repr(o) for o in operands)
    shapes = [o.data.shape for o in operands if isinstance(o, Tensor)]
    try:
        _B.np.broadcast_shapes(*shapes)
    except ValueError:
        return ValueError(f"{name}: shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast "
                          f"({what}); sizes must match or be 1, aligned from the right")
    return ValueError(f"{name}: {err} ({what})")


def _add_s(x, c):
    return AddScalar.apply(x, c=c)


def _sub_s(x, c):
    if x.data.dtype.kind in "iu":  # integers (no gradient): -c may not fit the dtype (int8: -(-128))
        return _wrap(x.data - c)
    return AddScalar.apply(x, c=-c)  # x - c == x + (-c) exactly in IEEE arithmetic


def _rsub_s(x, c):
    return RSubScalar.apply(x, c=c)


def _mul_s(x, c):
    return MulScalar.apply(x, c=c)


def _div_s(x, c):
    return DivScalar.apply(x, c=c)


def _rdiv_s(x, c):
    return RDivScalar.apply(x, c=c)


def _pow_s(x, c):
    if isinstance(c, bool) and x.data.dtype.kind == "b":  # bool ** bool stays bool, as torch: x ** True is x,
        xp = get_xp(x.data)  # x ** False is all True (NumPy would give int8)
        return _wrap(x.data.copy() if c else xp.ones(x.data.shape, dtype=bool))
    if isinstance(c, int) and c < 0 and x.data.dtype.kind in "biu":
        # refused as torch and NumPy do (1 / x is no integer); said here because CuPy would compute it silently
        raise ValueError("Integers to negative integer powers are not allowed.")
    return PowScalar.apply(x, c=c)


def _rpow_s(x, c):
    if isinstance(c, int) and x.data.dtype.kind in "iu":  # (a number ** int tensor: torch's negative exponents)
        xp = get_xp(x.data)
        return _wrap(_int_pow(xp, xp.asarray(c, dtype=x.data.dtype), x.data))
    return RPowScalar.apply(x, c=c)


def add(a, b):
    """a + b (broadcasting)."""
    return _binary("add", Add, _add_s, _add_s, a, b)


def _is_bool(x) -> bool:
    return isinstance(x, bool) or (isinstance(x, Tensor) and x.data.dtype == _B.np.bool_)


def refuse_bool_subtraction(op: str, a, b) -> None:
    """a - b with two bool operands has no bool answer: a TypeError, as in torch (and NumPy for arrays)."""
    if _is_bool(a) and _is_bool(b):
        what = " and ".join(describe(o) if isinstance(o, Tensor) else repr(o) for o in (a, b))
        raise TypeError(f"{op}: subtraction of two bool operands ({what}) is not supported; "
                        "use a ^ b (logical xor) or convert to an integer or float dtype first")


def sub(a, b):
    """a - b (broadcasting)."""
    refuse_bool_subtraction("sub", a, b)
    return _binary("sub", Sub, _sub_s, _rsub_s, a, b)


def mul(a, b):
    """a * b (broadcasting)."""
    return _binary("mul", Mul, _mul_s, _mul_s, a, b)


def div(a, b):
    """a / b (true division, broadcasting)."""
    return _binary("div", Div, _div_s, _rdiv_s, a, b, true_div=True)


def pow(a, b):  # noqa: A001 - torch's name
    """a ** b (broadcasting); either side may be a Python number."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('pow', pow, a=a, b=b)
    return _binary("pow", Pow, _pow_s, _rpow_s, a, b)


def neg(x):
    if x.data.dtype.kind == "b":  # NumPy's refusal would not name the op
        raise TypeError(f"neg: negation of a bool tensor ({describe(x)}) is not supported; use ~x (logical not)")
    return Neg.apply(x)


def exp(x):
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('exp', exp, x=x)
    return _float_unary("exp", Exp, x)  # integer tensors become float, as in torch


def log(x):
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('log', log, x=x)
    return _float_unary("log", Log, x)  # integer tensors become float, as in torch


def sqrt(x):
    return _float_unary("sqrt", Sqrt, x)  # integer tensors become float, as in torch


def sin(x):
    return _float_unary("sin", Sin, x)  # integer tensors become float, as in torch


def cos(x):
    return _float_unary("cos", Cos, x)  # integer tensors become float, as in torch


def abs(x):  # noqa: A001 - torch's name
    return Abs.apply(_tensor_arg("abs", x))  # (a raw array, e.g. torch's `torch.abs(x.grad.data)`, is refused)


def clamp(x, min=None, max=None):  # noqa: A002 - torch's names
    """Limit x to [min, max]; either bound may be None."""
    x = _tensor_arg("clamp", x)
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_tensor(x, min, max)
    lo = None if min is None else scalar_value(min, "clamp")
    hi = None if max is None else scalar_value(max, "clamp")
    if x.data.dtype.kind in "biu" and (isinstance(lo, float) or isinstance(hi, float)):
        x = x.to(dtype=_B.get_default_dtype())  # as torch: an int tensor meets a float bound in the default float
    return Clamp.apply(x, lo=lo, hi=hi)


def _clamp_tensor(x, min, max):  # noqa: A002 - torch's names
    """clamp with tensor bounds: torch's promotion among x, min and max, broadcasting together."""
    for name, b in (("min", min), ("max", max)):
        if b is not None and not isinstance(b, Tensor):  # torch has no mixed overload either
            raise TypeError(f"clamp: min and max must both be tensors (or None) when one is; got {name}={b!r} "
                            f"beside a tensor bound (wrap it: mg.tensor({b!r}))")
    bounds = [b for b in (min, max) if b is not None]
    for _ in range(2):  # twice: a cast made by the last pair reaches the first operands as well
        for k, b in enumerate(bounds):
            x, bounds[k] = check_pair("clamp", x, b)
    try:
        return ClampTensor.apply(x, *bounds, has=(min is not None, max is not None))
    except ValueError as e:
        raise _operand_error("clamp", e, x, *bounds) from None


def maximum(a, b):
    """Elementwise max of two tensors (broadcasting)."""
    a = to_tensor(a, b if isinstance(b, Tensor) else None, "maximum")
    b = to_tensor(b, a, "maximum")
    a, b = check_pair("maximum", a, b)
    try:
        return Maximum.apply(a, b)
    except ValueError as e:
        raise _operand_error("maximum", e, a, b) from None


def minimum(a, b):
    """Elementwise min of two tensors (broadcasting)."""
    a = to_tensor(a, b if isinstance(b, Tensor) else None, "minimum")
    b = to_tensor(b, a, "minimum")
    a, b = check_pair("minimum", a, b)
    try:
        return Minimum.apply(a, b)
    except ValueError as e:
        raise _operand_error("minimum", e, a, b) from None


def where(condition, input=None, other=None):  # noqa: A002  (torch's keyword names: where(condition=, input=, other=))
    """Pick input where `condition` is true, else other (all three broadcast together).

    With the condition alone, torch's `where(condition)`: `nonzero(condition, as_tuple=True)`.
    """
    a, b = input, other
    for name, v in (("condition", condition), ("input", a), ("other", b)):
        if _B.is_array(v):  # torch's `torch.where(t.data, ...)` ported verbatim: a raw array, which torch refuses
            require_tensor("where", v, name)  # (a TypeError naming the port; Python data stays accepted)
    if a is None and b is None:
        from .shape import nonzero  # (shape imports this module)

        return nonzero(to_tensor(condition, None, "where"), as_tuple=True)
    if a is None or b is None:
        raise TypeError("where: give both values (where(condition, a, b)) or neither (where(condition))")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):  # two numbers: torch's dtypes for them
        a, b = _number_tensor(a, condition), _number_tensor(b, condition)
    return _where("where", condition, a, b)


def _number_tensor(v, like):
    """A Python/NumPy number as a 0-d tensor on like's device, in torch's dtype for it: bool, int64, or the
    default float dtype (not float64, as NumPy would have it)."""
    np = _B.np
    dtype = (np.bool_ if isinstance(v, (bool, np.bool_)) else np.int64 if isinstance(v, numbers.Integral)
             else _B.get_default_dtype())
    device = like.device if isinstance(like, Tensor) else _B.factory_device(None)  # (Python data: the default)
    return _wrap(_B.as_array(v, dtype=dtype, device=device))


def _where(op, condition, a, b):
    """where(), with errors that name `op` (where itself, or masked_fill built on it)."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    cond = to_tensor(condition, None, op)  # (not `like`: Python bools must not adopt a float tensor's dtype)
    if like is not None and not isinstance(condition, Tensor) and cond.device != like.device:
        cond = cond.to(like.device)
    if cond.data.dtype.kind != "b":
        raise TypeError(f"{op}: condition must be a bool tensor, got {describe(cond)}")
    a = to_tensor(a, like, op)
    b = to_tensor(b, a, op)
    a, b = check_pair(op, a, b)
    if cond.data.__class__ is not a.data.__class__:
        raise RuntimeError(f"{op}: condition is {describe(cond)} but the values are on {a.device}")
    try:
        return Where.apply(cond, a, b)
    except ValueError as e:
        raise _operand_error(op, e, cond, a, b) from None


def masked_fill(x, mask, value):
    """x with `value` wherever `mask` is true (torch.Tensor.masked_fill); mask and x broadcast together.

    `value` is a number or a 0-d tensor and takes x's dtype (as in torch: 1.7 fills an int64
    tensor with 1). It is `where(mask, value, x)`, so the gradient reaches x where the mask
    is false and a tensor `value` gets the sum of the rest.
    """
    # .contiguous(): torch's result is C order even for a permuted x (NumPy's where keeps x's layout)
    return _masked_fill("masked_fill", x, mask, value).contiguous()


def _check_fill_value(op: str, value, x: Tensor) -> None:
    """torch refuses a fill value that x's integer dtype cannot hold (NaN, inf, 1e30 into int64) instead of
    storing NumPy's garbage cast; bool takes any number (nonzero is True), floats take any (1e39 -> inf)."""
    dtype = x.data.dtype
    if dtype.kind not in "iu" or isinstance(value, bool):
        return
    info = _B.np.iinfo(dtype)
    if not (math.isfinite(value) and info.min <= value <= info.max):
        raise RuntimeError(f"{op}: value {value!r} cannot be converted to {dtype} without overflow "
                           f"(filling {describe(x)})")


def _masked_fill(op, x, mask, value):
    """masked_fill, with errors that name `op` (index_fill and the in-place forms build on it)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor to fill, got {type(x).__name__}")
    mask = to_tensor(mask, None, op)
    if mask.data.dtype.kind != "b":
        raise TypeError(f"{op}: mask must be a bool tensor, got {describe(mask)} (compare first, e.g. t > 0)")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"{op}: value must be a number or a 0-d tensor, got {describe(value)}")
        if value.dtype != x.dtype:
            if value.data.dtype.kind == "f":
                _check_fill_value(op, value.item(), x)
            value = value.to(x.dtype)  # the fill takes x's dtype, as in torch (differentiable cast)
    else:
        refuse_text(value, op)
        if isinstance(value, complex) or not isinstance(value, numbers.Number):
            raise TypeError(f"{op}: value must be a number or a 0-d tensor, "
                            f"got {type(value).__name__} {value!r}")
        _check_fill_value(op, value, x)
        value = _wrap(get_xp(x.data).asarray(value, dtype=x.data.dtype))
    return _where(op, mask, value, x)  # its shape, device and broadcast errors name op


# ---------------------------------------------------------------- comparisons (no gradient)
def _compare(name, a, b, fn):
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            a, b = check_pair(name, a, b, promote_floats=True)  # float32 < float64 compares in float64, as torch
            return _wrap(fn(a.data, b.data))
        if is_scalar(b):
            return _wrap(get_xp(a.data).asarray(fn(a.data, scalar_value(b, name))))
        return _compare(name, a, to_tensor(b, a, name), fn)
    return _compare(name, to_tensor(a, b, name), b, fn)


def lt(a, b):
    return _compare("lt", a, b, lambda x, y: x < y)


def le(a, b):
    return _compare("le", a, b, lambda x, y: x <= y)


def gt(a, b):
    return _compare("gt", a, b, lambda x, y: x > y)


def ge(a, b):
    return _compare("ge", a, b, lambda x, y: x >= y)


def eq(a, b):
    return _compare("eq", a, b, lambda x, y: x == y)


def ne(a, b):
    return _compare("ne", a, b, lambda x, y: x != y)


def logical_not(x):
    return _wrap(get_xp(x.data).logical_not(x.data))


def logical_and(a, b):
    return _compare("logical_and", a, b, lambda x, y: get_xp(x).logical_and(x, y))


def logical_or(a, b):
    return _compare("logical_or", a, b, lambda x, y: get_xp(x).logical_or(x, y))


def logical_xor(a, b):
    return _compare("logical_xor", a, b, lambda x, y: get_xp(x).logical_xor(x, y))


# ================================================================ more pointwise math (torch's names)

_LN2 = math.log(2.0)  # Python floats: a NumPy float64 constant would upcast float32 arrays
_LN10 = math.log(10.0)


# ---------------------------------------------------------------- unary, differentiable
class Log1p(Function):
    """y = log(1 + x), accurate for small x;  dy/dx = 1 / (1 + x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():
            return get_xp(x).log1p(x)

    @staticmethod
    def backward(ctx, g):
        with _quiet():
            return g / (ctx.saved[0] + 1)


class Expm1(Function):
    """y = exp(x) - 1, accurate for small x;  dy/dx = exp(x) = y + 1"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x):
        with _quiet():
            y = get_xp(x).expm1(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * (ctx.saved[0] + 1)


class Log2(Function):
    """y = log2(x);  dy/dx = 1 / (x ln 2)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():
            return get_xp(x).log2(x)

    @staticmethod
    def backward(ctx, g):
        with _quiet():
            return g / (ctx.saved[0] * _LN2)


class Log10(Function):
    """y = log10(x);  dy/dx = 1 / (x ln 10)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():
            return get_xp(x).log10(x)

    @staticmethod
    def backward(ctx, g):
        with _quiet():
            return g / (ctx.saved[0] * _LN10)


class Rsqrt(Function):
    """y = 1 / sqrt(x);  dy/dx = -y**3 / 2  (-inf at x = 0, as torch)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x):
        with _quiet():
            y = 1 / get_xp(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[0]
        return -0.5 * g * (y * y * y)


class Reciprocal(Function):
    """y = 1 / x;  dy/dx = -y**2  (-inf at x = 0, as torch)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x):
        with _quiet():
            y = 1 / x
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[0]
        return -g * (y * y)


class Tan(Function):
    """y = tan(x);  dy/dx = 1 + y**2"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x):
        y = get_xp(x).tan(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[0]
        return g * (1 + y * y)


class Sinh(Function):
    """y = sinh(x);  dy/dx = cosh(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():
            return get_xp(x).sinh(x)

    @staticmethod
    def backward(ctx, g):
        with _quiet():
            return g * get_xp(g).cosh(ctx.saved[0])


class Cosh(Function):
    """y = cosh(x);  dy/dx = sinh(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():
            return get_xp(x).cosh(x)

    @staticmethod
    def backward(ctx, g):
        with _quiet():
            return g * get_xp(g).sinh(ctx.saved[0])


class Asin(Function):
    """y = asin(x);  dy/dx = 1 / sqrt(1 - x**2)  (inf at |x| = 1, NaN outside [-1, 1], as torch)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():
            return get_xp(x).arcsin(x)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        with _quiet():
            return g / get_xp(g).sqrt(1 - x * x)


class Acos(Function):
    """y = acos(x);  dy/dx = -1 / sqrt(1 - x**2)  (-inf at |x| = 1, NaN outside [-1, 1], as torch)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():
            return get_xp(x).arccos(x)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        with _quiet():
            return -g / get_xp(g).sqrt(1 - x * x)


class Atan(Function):
    """y = atan(x);  dy/dx = 1 / (1 + x**2)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_xp(x).arctan(x)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        with _quiet():  # x**2 overflows to inf for huge x: the gradient is then 0, the right limit
            return g / (1 + x * x)


# ---------------------------------------------------------------- rounding: piecewise constant, zero gradient
class _Rounding(Function):
    """Base of the step functions: their derivative is 0 wherever it exists, and torch uses 0 at the jumps too."""

    @staticmethod
    def backward(ctx, g):
        return get_xp(g).zeros_like(g)


class Sign(_Rounding):
    """y = sign(x) in {-1, 0, 1}, with sign(NaN) = 0 as torch;  dy/dx = 0"""

    @staticmethod
    def forward(ctx, x):
        # (x > 0) - (x < 0): torch's definition; NaN compares false both ways and gives 0 (NumPy's sign gives NaN)
        return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


class Floor(_Rounding):
    """y = floor(x), the largest integer <= x;  dy/dx = 0"""

    @staticmethod
    def forward(ctx, x):
        return get_xp(x).floor(x)


class Ceil(_Rounding):
    """y = ceil(x), the smallest integer >= x;  dy/dx = 0"""

    @staticmethod
    def forward(ctx, x):
        return get_xp(x).ceil(x)


class Trunc(_Rounding):
    """y = trunc(x), x rounded toward 0;  dy/dx = 0"""

    @staticmethod
    def forward(ctx, x):
        return get_xp(x).trunc(x)


class Round(_Rounding):
    """y = x rounded to `decimals` places, halves to even (as torch);  dy/dx = 0"""

    @staticmethod
    def forward(ctx, x, decimals):
        xp = get_xp(x)
        if decimals == 0:
            return xp.rint(x)
        # torch's recipe, in x's dtype: rint(x * 10^d) / 10^d, or rint(x / 10^-d) * 10^-d for d < 0
        scale = 10.0 ** (decimals if decimals > 0 else -decimals)  # exact in float32 up to 10**10
        with _quiet():
            return xp.rint(x * scale) / scale if decimals > 0 else xp.rint(x / scale) * scale


# ---------------------------------------------------------------- binary
class Atan2(Function):
    """y = atan2(a, b), the angle of the point (b, a);  dy/da = b / (a² + b²), dy/db = -a / (a² + b²)  (0 at the origin, as torch)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return get_xp(a).arctan2(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = get_xp(g)
        r2 = a * a + b * b
        with _quiet():
            recip = xp.where(r2 == 0, 0, 1 / r2).astype(g.dtype, copy=False)  # the origin: torch's 0, not 0/0
        na, nb = ctx.needs_input_grad
        return (g * b * recip if na else None), (g * -a * recip if nb else None)


def python_divmod(a, b):
    """(a // b, a % b) of two float arrays of one dtype, elementwise, as Python, NumPy and torch compute them:
    mod = fmod(a, b) (exact), div = (a - mod) / b; where mod and b differ in sign, mod += b and div -= 1; the
    quotient is div rounded to the nearest integer (it is one up to the division's rounding), a zero quotient
    takes the sign of a / b, and b == 0 gives a / b (and fmod's NaN). Exact where floor(a / b) is not: 1.0 // 0.1
    is 9.0 (0.1 is a bit more than 1/10), though 1.0 / 0.1 rounds to 10.0."""
    xp = get_xp(a)
    if a.dtype.itemsize < 4:  # float16: computed in float32 and rounded back, as NumPy and torch do
        q, mod = python_divmod(a.astype(xp.float32), b.astype(xp.float32))
        with _quiet():  # a quotient beyond float16's range is inf, as there
            return q.astype(a.dtype), mod.astype(a.dtype)
    with _quiet():
        mod = xp.fmod(a, b)
        div = (a - mod) / b
        fix = (mod != 0) & ((b < 0) != (mod < 0))  # fmod has a's sign, Python's % has b's
        div = xp.where(fix, div - 1, div)
        mod = xp.where(fix, mod + b, xp.where(mod == 0, xp.copysign(mod, b), mod))
        q = xp.floor(div)
        q = xp.where(div - q > 0.5, q + 1, q)
        q = xp.where(div == 0, xp.copysign(q, a / b), q)  # (q is +-0 there)
        return xp.where(b == 0, a / b, q), mod


def floor_divide_arrays(a, b):
    """a // b of two backend arrays of one dtype (Python's rule). NumPy's floor_divide is `python_divmod`'s
    algorithm in C; CuPy's float one is floor(a / b) (10.0 for 1.0 // 0.1, where torch and NumPy give 9.0)."""
    xp = get_xp(a)
    if xp is _B.np or a.dtype.kind != "f":
        with _quiet():
            return xp.floor_divide(a, b)
    return python_divmod(a, b)[0]


def remainder_arrays(a, b):
    """a % b of two backend arrays of one dtype (Python's rule; floats as `floor_divide_arrays`: CuPy's float
    remainder is a - floor(a / b) * b)."""
    xp = get_xp(a)
    if xp is _B.np or a.dtype.kind != "f":
        with _quiet():
            return xp.remainder(a, b)
    return python_divmod(a, b)[1]


class Fmod(Function):
    """y = a - b * trunc(a / b), the sign of a (C's fmod);  dy/da = 1, dy/db = -trunc(a / b)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        with _quiet():
            return get_xp(a).fmod(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        gb = None
        if ctx.needs_input_grad[1]:
            with _quiet():
                gb = -g * get_xp(g).trunc(a / b)
        return g, gb


class Remainder(Function):
    """y = a - b * floor(a / b), the sign of b (Python's %);  dy/da = 1, dy/db = -floor(a / b)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return remainder_arrays(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        gb = None
        if ctx.needs_input_grad[1]:
            with _quiet():  # floor_divide: the quotient remainder() used, as torch's div(rounding_mode="floor")
                gb = -g * floor_divide_arrays(a, b)
        return g, gb


class FloorDivide(Function):
    """y = floor(a / b) (Python's //);  no derivative: torch raises at backward, and so do we"""

    @staticmethod
    def forward(ctx, a, b):
        return floor_divide_arrays(a, b)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("floor_divide: the derivative of floor_divide (a // b) is not implemented, as in torch; "
                           "detach its inputs (a.detach() // b) if the result is meant to be a constant")


class Hypot(Function):
    """y = sqrt(a² + b²) without overflow;  dy/da = a / y, dy/db = b / y  (NaN at the origin, as torch)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, a, b):
        y = get_xp(a).hypot(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved
        na, nb = ctx.needs_input_grad
        with _quiet():
            return (g * a / y if na else None), (g * b / y if nb else None)


class Lerp(Function):
    """y = a + w (b - a);  dy/da = 1 - w, dy/db = w, dy/dw = b - a"""

    @staticmethod
    def forward(ctx, a, b, w):
        ctx.save_for_backward(a, b, w)
        xp = get_xp(a)
        d = b - a
        # torch's two-sided form: exact at w = 0 (gives a) and at w = 1 (gives b)
        return xp.where(xp.abs(w) < 0.5, a + w * d, b - d * (1 - w))

    @staticmethod
    def backward(ctx, g):
        a, b, w = ctx.saved
        na, nb, nw = ctx.needs_input_grad
        return (g * (1 - w) if na else None), (g * w if nb else None), (g * (b - a) if nw else None)


class NanToNum(Function):
    """y = x with NaN, +inf, -inf replaced by finite numbers;  dy/dx = 1 where x is finite, else 0"""

    @staticmethod
    def forward(ctx, x, nan, posinf, neginf):
        xp = get_xp(x)
        ctx.save_for_backward(x)
        info = _B.np.finfo(x.dtype)
        posinf = float(info.max) if posinf is None else posinf
        neginf = float(info.min) if neginf is None else neginf

        def fill(v):  # v in x's dtype; 1e39 becomes inf in float32, as torch's cast
            with _quiet():
                return xp.asarray(v).astype(x.dtype)

        y = xp.where(xp.isnan(x), fill(nan), x)
        y = xp.where(y == math.inf, fill(posinf), y)
        return xp.where(y == -math.inf, fill(neginf), y)

    @staticmethod
    def backward(ctx, g):
        return g * get_xp(g).isfinite(ctx.saved[0])  # torch: grad * isfinite(x)


# ---------------------------------------------------------------- wrappers
def _tensor_arg(op: str, x, what: str = "input") -> Tensor:
    """x itself if it is a Tensor, else a TypeError naming op (torch's functions want tensors too)."""
    if isinstance(x, Tensor):
        return x
    refuse_text(x, op)
    require_tensor(op, x, what)


def _float_unary(op, fn, x):
    """A float op of one tensor; integer and bool tensors become the default float dtype first, as in torch."""
    return fn.apply(_floatify(_tensor_arg(op, x)))


def log1p(x):
    """log(1 + x), accurate for |x| << 1."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('log1p', log1p, x=x)
    return _float_unary("log1p", Log1p, x)


def expm1(x):
    """exp(x) - 1, accurate for |x| << 1."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('expm1', expm1, x=x)
    return _float_unary("expm1", Expm1, x)


def log2(x):
    """log base 2 of x."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('log2', log2, x=x)
    return _float_unary("log2", Log2, x)


def log10(x):
    """log base 10 of x."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('log10', log10, x=x)
    return _float_unary("log10", Log10, x)


def rsqrt(x):
    """1 / sqrt(x)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('rsqrt', rsqrt, x=x)
    return _float_unary("rsqrt", Rsqrt, x)


def reciprocal(x):
    """1 / x (integer tensors give the default float dtype, as torch)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('reciprocal', reciprocal, x=x)
    return _float_unary("reciprocal", Reciprocal, x)


def square(x):
    """x * x; an integer tensor stays integer and bool becomes int64, as torch."""
    x = _tensor_arg("square", x)
    if x.data.dtype.kind == "b":
        x = _wrap(x.data.astype(_B.np.int64))
    return PowScalar.apply(x, c=2)  # x ** 2 is computed as x * x, d/dx = 2x


def tan(x):
    """tan(x), x in radians."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('tan', tan, x=x)
    return _float_unary("tan", Tan, x)


def sinh(x):
    """Hyperbolic sine."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('sinh', sinh, x=x)
    return _float_unary("sinh", Sinh, x)


def cosh(x):
    """Hyperbolic cosine."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('cosh', cosh, x=x)
    return _float_unary("cosh", Cosh, x)


def asin(x):
    """arcsin(x) in [-pi/2, pi/2]; NaN outside [-1, 1]."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('asin', asin, x=x)
    return _float_unary("asin", Asin, x)


def acos(x):
    """arccos(x) in [0, pi]; NaN outside [-1, 1]."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('acos', acos, x=x)
    return _float_unary("acos", Acos, x)


def atan(x):
    """arctan(x) in (-pi/2, pi/2)."""
    return _float_unary("atan", Atan, x)


def _rounding(op, fn, x, **kw):
    """A rounding op: integer tensors come back unchanged (a copy), bool is refused, as torch."""
    x = _tensor_arg(op, x)
    kind = x.data.dtype.kind
    if kind == "b":
        raise TypeError(f"{op}: not supported for bool tensors ({describe(x)}); convert with .long() or .float()")
    if kind in "iu":
        return _wrap(x.data.copy())  # already whole numbers
    return fn.apply(x, **kw)


def sign(x):
    """-1, 0 or 1 by the sign of x (0 for NaN); integer tensors stay integer, bool stays bool; zero gradient."""
    x = _tensor_arg("sign", x)
    kind = x.data.dtype.kind
    if kind == "b":
        return _wrap(x.data.copy())  # sign(True) = True, sign(False) = False
    if kind in "iu":
        return _wrap(get_xp(x.data).sign(x.data))
    return Sign.apply(x)


def floor(x):
    """The largest integer <= x (zero gradient)."""
    return _rounding("floor", Floor, x)


def ceil(x):
    """The smallest integer >= x (zero gradient)."""
    return _rounding("ceil", Ceil, x)


def trunc(x):
    """x rounded toward zero (zero gradient)."""
    return _rounding("trunc", Trunc, x)


def round(x, decimals=0):  # noqa: A001 - torch's name
    """x rounded to `decimals` decimal places (negative: to tens, hundreds, ...), halves to even; zero gradient."""
    if not isinstance(decimals, numbers.Integral) or isinstance(decimals, bool):
        raise TypeError(f"round: decimals must be an int, got {type(decimals).__name__} {decimals!r}")
    x = _tensor_arg("round", x)
    if decimals != 0 and x.data.dtype.kind in "iu":
        raise TypeError(f"round: decimals={decimals} needs a floating-point tensor, got {describe(x)} (as torch); "
                        "convert it with .float()")
    return _rounding("round", Round, x, decimals=int(decimals))


def _math_operands(op, a, b):
    """(a, b) as two tensors of one dtype on one device, for the binary math ops.

    A Python number takes the tensor's dtype, except that a float meets an integer tensor
    in the default float dtype and an int meets a bool tensor as int64 (torch's rules).
    """
    a_t, b_t = isinstance(a, Tensor), isinstance(b, Tensor)
    if a_t and b_t:
        return _int_pair(*check_pair(op, a, b))
    if not (a_t or b_t):
        raise TypeError(f"{op}: expected at least one Tensor operand, got {type(a).__name__} and {type(b).__name__}")
    t, c = (a, b) if a_t else (b, a)
    if is_scalar(c):
        c = scalar_value(c, op)
        kind = t.data.dtype.kind
        if isinstance(c, float) and kind in "biu":
            t = _floatify(t)
        elif kind == "b" and not isinstance(c, bool):
            t = _wrap(t.data.astype(_B.np.int64))
        try:
            ct = _wrap(get_xp(t.data).asarray(c, dtype=t.data.dtype))
        except OverflowError:
            # torch wraps a Python int its integer dtype cannot hold modulo 2**bits, as add/sub/mul do
            # (int8 | 300 is int8 | 44, uint8 & -1 is uint8 & 255); only ints outside [-2**63, 2**64) are refused
            if not _wraps(c):
                raise ValueError(f"{op}: {c!r} does not fit in {t.data.dtype} (the other operand is "
                                 f"{describe(t)})") from None
            ct = _wrap(get_xp(t.data).asarray(_wrapped_int(c, t.data.dtype), dtype=t.data.dtype))
    else:
        ct = to_tensor(c, t, op)  # refuses None, text and complex numbers with a message naming op
        t, ct = _int_pair(*check_pair(op, t, ct))
    return (t, ct) if a_t else (ct, t)


def _int_pair(a: Tensor, b: Tensor):
    """Two integer/bool tensors cast to torch's common dtype (floats are already paired by check_pair).

    bool meets an integer as that integer; within one kind a 0-d tensor yields to a tensor with
    dimensions (int32[3] % int64[] is int32, as torch); otherwise the wider type wins.
    """
    da, db = a.data.dtype, b.data.dtype
    if da == db or da.kind not in "biu" or db.kind not in "biu":
        return a, b
    if (da.kind == "b") != (db.kind == "b"):
        dtype = db if da.kind == "b" else da
    elif (a.data.ndim == 0) != (b.data.ndim == 0):
        dtype = db if a.data.ndim == 0 else da
    else:
        dtype = _B.np.promote_types(da, db)
    return (a if da == dtype else _wrap(a.data.astype(dtype))), (b if db == dtype else _wrap(b.data.astype(dtype)))


def _binary_math(op, fn, a, b, divides=False):
    """Run the binary op `fn` on the paired operands, with broadcast errors that name op."""
    a, b = _math_operands(op, a, b)
    kind = a.data.dtype.kind
    if kind == "b":
        raise TypeError(f"{op}: not supported for two bool operands ({describe(a)} and {describe(b)}); "
                        "convert with .long() or .float()")
    if divides and kind in "iu" and a.data.size and b.data.size and bool((b.data == 0).any()):  # (nothing divided: no error)
        # NumPy would quietly give 0; integers have no inf or NaN to say it
        raise RuntimeError(f"{op}: integer division by zero ({describe(a)} by {describe(b)}, which holds a 0)")
    try:
        return fn.apply(a, b)
    except ValueError as e:
        raise _operand_error(op, e, a, b) from None


def atan2(input, other):  # noqa: A002 - torch's names
    """The angle of the point (other, input) in (-pi, pi], elementwise (torch.atan2); broadcasts."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('atan2', atan2, input=input, other=other)
    a, b = _math_operands("atan2", input, other)
    a, b = _floatify(a), _floatify(b)
    try:
        return Atan2.apply(a, b)
    except ValueError as e:
        raise _operand_error("atan2", e, a, b) from None


def fmod(input, other):  # noqa: A002
    """C's fmod: input - other * trunc(input / other); the result has input's sign (torch.fmod)."""
    return _binary_math("fmod", Fmod, input, other, divides=True)


def remainder(input, other):  # noqa: A002
    """Python's %: input - other * floor(input / other); the result has other's sign (torch.remainder)."""
    return _binary_math("remainder", Remainder, input, other, divides=True)


def floor_divide(input, other):  # noqa: A002
    """Python's //: floor(input / other) (torch.floor_divide); it has no gradient (backward raises, as torch)."""
    return _binary_math("floor_divide", FloorDivide, input, other, divides=True)


def hypot(input, other):  # noqa: A002
    """sqrt(input² + other²) without intermediate overflow (torch.hypot); floating-point only, as torch."""
    a, b = _math_operands("hypot", input, other)
    if a.data.dtype.kind not in "f":
        raise TypeError(f"hypot: expected floating-point tensors, got {describe(a)} and {describe(b)} (as torch); "
                        "convert with .float()")
    try:
        return Hypot.apply(a, b)
    except ValueError as e:
        raise _operand_error("hypot", e, a, b) from None


def _number(op, name, value, allow_bool=True):
    """A Python number for a scalar argument (torch's Scalar), since NumPy scalars would upcast float32.

    Text, None, complex numbers, tensors and (with allow_bool=False) bools are TypeErrors
    that name the op and the argument. A bool counts as a number by default (torch's Scalar).
    """
    if isinstance(value, (str, bytes)) or (isinstance(value, bool) and not allow_bool) \
            or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")
    return scalar_value(value, op)


def lerp(input, end, weight):  # noqa: A002
    """input + weight * (end - input) (torch.lerp); weight is a number or a tensor, all three broadcast.

    As torch: input and end are floating-point tensors of one dtype, and a tensor weight has it too.
    """
    a = _tensor_arg("lerp", input)
    b = _tensor_arg("lerp", end, "end")
    check_float("lerp", a)
    if b.data.dtype != a.data.dtype:
        raise TypeError(f"lerp: end must have input's dtype: input is {describe(a)}, end is {describe(b)}")
    check_pair("lerp", a, b)  # (same device)
    if isinstance(weight, Tensor) and weight.data.ndim == 0 and weight.data.dtype.kind in "biu":
        weight = weight.item()  # torch treats a 0-d integer/bool weight as the number it holds
    if isinstance(weight, Tensor):
        if weight.data.dtype != a.data.dtype:
            raise TypeError(f"lerp: a tensor weight must have input's dtype: input is {describe(a)}, "
                            f"weight is {describe(weight)}")
        check_pair("lerp", a, weight)
        w = weight
    else:
        w = _wrap(get_xp(a.data).asarray(_number("lerp", "weight", weight), dtype=a.data.dtype))
    try:
        return Lerp.apply(a, b, w)
    except ValueError as e:
        raise _operand_error("lerp", e, a, b, w) from None


def _addc(op, input, tensor1, tensor2, value):
    """The checks addcmul and addcdiv share: three tensors, one device, float dtypes that agree, shapes that broadcast."""
    ts = [_tensor_arg(op, input), _tensor_arg(op, tensor1, "tensor1"), _tensor_arg(op, tensor2, "tensor2")]
    check_pair(op, ts[0], ts[1])
    check_pair(op, ts[0], ts[2])
    check_pair(op, ts[1], ts[2])
    try:
        _B.np.broadcast_shapes(*[t.shape for t in ts])
    except ValueError:
        raise _operand_error(op, None, *ts) from None
    v = _number(op, "value", value)
    if op == "addcdiv" and ts[1].data.dtype.kind in "biu" and ts[2].data.dtype.kind in "biu":
        raise TypeError(f"addcdiv: integer division is not supported ({describe(ts[1])} / {describe(ts[2])}), as torch; "
                        "convert tensor1 or tensor2 with .float()")
    ts = _common_dtype(op, ts)  # (before the promotion: torch refuses integer tensor1 / tensor2 whatever input is)
    if isinstance(v, float) and all(t.data.dtype.kind in "biu" for t in ts):
        # torch would quietly truncate the value to an integer
        raise TypeError(f"{op}: a float value ({v}) with integer tensors ({', '.join(describe(t) for t in ts)}) "
                        "would be truncated; convert the tensors with .float()")
    # tensor1 and tensor2 at the output's shape first, as torch's fused op works elementwise: the
    # gradients are then sums of elementwise terms (a 0-d tensor2 = 0 next to an empty input gives
    # an empty sum, 0, not (sum of nothing) / 0 = NaN)
    from .shape import broadcast_to  # (shape.py imports this module: imported here to avoid a cycle)
    shape = _B.np.broadcast_shapes(*[t.shape for t in ts])
    ts = [ts[0]] + [t if tuple(t.shape) == shape else broadcast_to(t, shape) for t in ts[1:]]
    return ts, v


def _common_dtype(op, ts):
    """The tensors cast to their common dtype, as torch promotes (a float dtype wins over integers; a
    0-d tensor yields to tensors with dimensions of its kind); float32 with float64 stays an error."""
    floats = {t.data.dtype for t in ts if t.data.dtype.kind == "f"}
    if len(floats) > 1 and _common._inplace_depth:  # an in-place op: torch's promotion (see common.promoting_floats)
        dtype = _common.promoted_float(*floats)
        return [t if t.data.dtype == dtype else _common._cast_like(t, dtype) for t in ts]
    if len(floats) > 1:
        raise TypeError(f"{op}: dtype mismatch: {', '.join(describe(t) for t in ts)}; convert with .float() or "
                        ".double() (minigrad never upcasts float32 silently)")
    if floats:
        dtype = floats.pop()
    else:
        ranked = [t for t in ts if t.data.ndim] or ts  # a 0-d integer tensor yields to one with dimensions
        kinds = {t.data.dtype.kind for t in ts}
        if "b" in kinds and kinds != {"b"}:  # ... unless it is the only integer among bools
            ranked = [t for t in ranked if t.data.dtype.kind != "b"] or [t for t in ts if t.data.dtype.kind != "b"]
        dtype = _B.np.result_type(*[t.data.dtype for t in ranked])
    return [t if t.data.dtype == dtype else _wrap(t.data.astype(dtype)) for t in ts]


def addcmul(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """input + value * tensor1 * tensor2 (torch.addcmul), all three broadcast; composed of mul and add."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('addcmul', addcmul, input=input, tensor1=tensor1, tensor2=tensor2, value=value)
    (x, t1, t2), v = _addc("addcmul", input, tensor1, tensor2, value)
    return add(x, mul(t1 if v == 1 else mul(t1, v), t2))  # (value * t1) * t2: torch's order of rounding


def addcdiv(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """input + value * tensor1 / tensor2 (torch.addcdiv), all three broadcast; composed of mul, div and add."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('addcdiv', addcdiv, input=input, tensor1=tensor1, tensor2=tensor2, value=value)
    (x, t1, t2), v = _addc("addcdiv", input, tensor1, tensor2, value)
    return add(x, div(t1 if v == 1 else mul(t1, v), t2))  # (value * t1) / t2: torch's order of rounding


# ---------------------------------------------------------------- finite or not (bool results, no gradient)
def _float_test(op, x, test, other_kinds):
    """test(data) for float tensors; for integer and bool tensors every element gives `other_kinds`."""
    x = _tensor_arg(op, x)
    xp = get_xp(x.data)
    if x.data.dtype.kind == "f":
        return _wrap(test(xp, x.data))
    return _wrap(xp.full(x.data.shape, other_kinds, dtype=_B.np.bool_))


def isnan(x):
    """True where x is NaN."""
    return _float_test("isnan", x, lambda xp, d: xp.isnan(d), False)


def isinf(x):
    """True where x is +inf or -inf."""
    return _float_test("isinf", x, lambda xp, d: xp.isinf(d), False)


def isposinf(x):
    """True where x is +inf."""
    return _float_test("isposinf", x, lambda xp, d: d == math.inf, False)


def isneginf(x):
    """True where x is -inf."""
    return _float_test("isneginf", x, lambda xp, d: d == -math.inf, False)


def isfinite(x):
    """True where x is neither NaN nor infinite (always for integer tensors)."""
    return _float_test("isfinite", x, lambda xp, d: xp.isfinite(d), True)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """x with NaN -> nan, +inf -> posinf, -inf -> neginf (defaults: 0, the dtype's largest and lowest finite values).

    The gradient passes where x was finite and is 0 where a value was replaced (torch's rule).
    Integer and bool tensors have nothing to replace and come back as a copy.
    """
    x = _tensor_arg("nan_to_num", x)
    nan = 0.0 if nan is None else _number("nan_to_num", "nan", nan)  # None: torch's default
    posinf = None if posinf is None else _number("nan_to_num", "posinf", posinf)
    neginf = None if neginf is None else _number("nan_to_num", "neginf", neginf)
    if x.data.dtype.kind != "f":
        return _wrap(x.data.copy())
    return NanToNum.apply(x, nan=nan, posinf=posinf, neginf=neginf)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    """True where |input - other| <= atol + rtol * |other| (torch.isclose); equal values are always close.

    Both must be tensors of one dtype and device, with shapes that broadcast; NaN is close to
    NaN only with equal_nan=True, inf only to the same inf.
    """
    a = _tensor_arg("isclose", input)
    b = _tensor_arg("isclose", other, "other")
    return _isclose("isclose", a, b, rtol, atol, equal_nan)


def _isclose(op, a, b, rtol, atol, equal_nan):
    if a.data.dtype != b.data.dtype:
        raise TypeError(f"{op}: expected tensors of one dtype, got {describe(a)} and {describe(b)} (as torch)")
    check_pair(op, a, b)
    rtol, atol = _number(op, "rtol", rtol), _number(op, "atol", atol)
    if rtol < 0 or atol < 0:
        raise ValueError(f"{op}: rtol and atol must be >= 0, got rtol={rtol}, atol={atol}")
    xp = get_xp(a.data)
    da, db = a.data, b.data
    try:
        close = da == db  # also inf == inf, and exact integers
    except ValueError as e:
        raise _operand_error(op, e, a, b) from None
    kind = da.dtype.kind
    if equal_nan and kind == "f":
        close = close | (xp.isnan(da) & xp.isnan(db))
    if rtol == 0 and atol == 0:
        return _wrap(xp.asarray(close))
    if kind in "biu":  # differences of integers are measured in the default float dtype, as torch
        da, db = da.astype(_B.get_default_dtype()), db.astype(_B.get_default_dtype())
    with _quiet():  # inf - inf = NaN is not close, which isfinite() below says
        allowed = atol + xp.abs(rtol * db)
        actual = xp.abs(da - db)
    return _wrap(xp.asarray(close | (xp.isfinite(actual) & (actual <= allowed))))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:  # noqa: A002
    """True (a Python bool) when isclose(input, other, ...) holds everywhere (torch.allclose)."""
    a = _tensor_arg("allclose", input)
    b = _tensor_arg("allclose", other, "other")
    return bool(_isclose("allclose", a, b, rtol, atol, equal_nan).data.all())


def equal(input, other) -> bool:  # noqa: A002
    """True (a Python bool) when both tensors have the same shape and the same values (torch.equal; NaN != NaN)."""
    a = _tensor_arg("equal", input)
    b = _tensor_arg("equal", other, "other")
    if a.data.__class__ is not b.data.__class__ or a.device != b.device:
        raise RuntimeError(f"equal: expected both tensors on the same device, got {describe(a)} and {describe(b)}")
    if a.data.shape != b.data.shape:
        return False
    return bool((a.data == b.data).all())  # values compared across dtypes, as torch 2.x (1 == 1.0)
