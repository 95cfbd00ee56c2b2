"""Elementwise arithmetic: + - * / **, neg, exp, log, sqrt, abs, clamp, maximum, minimum, where.

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
from .common import check_float, check_pair, describe, is_scalar, refuse_text, scalar_value, to_tensor

get_xp = _B.get_array_module


# ---------------------------------------------------------------- tensor (op) tensor
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


class Pow(Function):
    """y = a ** b;  dy/da = b * a**(b-1), dy/db = y * log(a)  (0 where a == 0 and b >= 0, as torch)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, a, b):
        y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved
        xp = get_xp(a)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            with _B.np.errstate(divide="ignore", invalid="ignore"):
                ga = g * b * a ** (b - 1)
            # b == 0: y = 1 is constant in a, also at a == 0 where 0 * 0**-1 would be NaN (torch: 0)
            ga = xp.where(b == 0, 0, ga).astype(g.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            with _B.np.errstate(divide="ignore", invalid="ignore"):
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
        y = c ** x
        ctx.save_for_backward(y)
        ctx.logc = math.log(c) if c > 0 else (-math.inf if c == 0 else math.nan)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
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
        return get_xp(x).log(x)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved[0]


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 y)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x):
        y = get_xp(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
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
            c = scalar_value(b, name)
            if true_div or isinstance(c, float):
                a = _floatify(a)
            try:
                return TS(a, c)
            except ValueError as e:  # e.g. integers to a negative integer power
                raise _operand_error(name, e, a, c) from None
        return _binary(name, TT, TS, ST, a, to_tensor(b, a, name), true_div)
    if isinstance(b, Tensor):
        if is_scalar(a):
            c = scalar_value(a, name)
            if true_div or isinstance(c, float):
                b = _floatify(b)
            try:
                return ST(b, c)
            except ValueError as e:
                raise _operand_error(name, e, c, b) from None
        return _binary(name, TT, TS, ST, to_tensor(a, b, name), b, true_div)
    raise TypeError(f"{name}: expected at least one Tensor operand, got {type(a).__name__} and {type(b).__name__}")


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
    return PowScalar.apply(x, c=c)


def _rpow_s(x, c):
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
    return _binary("pow", Pow, _pow_s, _rpow_s, a, b)


def neg(x):
    if x.data.dtype.kind == "b":  # NumPy's refusal would not name the op
        raise TypeError(f"neg: negation of a bool tensor ({describe(x)}) is not supported; use ~x (logical not)")
    return Neg.apply(x)


def exp(x):
    check_float("exp", x)
    return Exp.apply(x)


def log(x):
    check_float("log", x)
    return Log.apply(x)


def sqrt(x):
    check_float("sqrt", x)
    return Sqrt.apply(x)


def sin(x):
    check_float("sin", x)
    return Sin.apply(x)


def cos(x):
    check_float("cos", x)
    return Cos.apply(x)


def abs(x):  # noqa: A001 - torch's name
    return Abs.apply(x)


def clamp(x, min=None, max=None):  # noqa: A002 - torch's names
    """Limit x to [min, max]; either bound may be None."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    lo = None if min is None else scalar_value(min, "clamp")
    hi = None if max is None else scalar_value(max, "clamp")
    if x.data.dtype.kind in "biu" and (isinstance(lo, float) or isinstance(hi, float)):
        x = x.to(dtype=_B.get_default_dtype())  # as torch: an int tensor meets a float bound in the default float
    return Clamp.apply(x, lo=lo, hi=hi)


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


def where(condition, a=None, b=None):
    """Pick a where `condition` is true, else b (all three broadcast together).

    With the condition alone, torch's `where(condition)`: `nonzero(condition, as_tuple=True)`.
    """
    if a is None and b is None:
        from .shape import nonzero  # (shape imports this module)

        return nonzero(to_tensor(condition, None, "where"), as_tuple=True)
    if a is None or b is None:
        raise TypeError("where: give both values (where(condition, a, b)) or neither (where(condition))")
    return _where("where", condition, a, b)


def _where(op, condition, a, b):
    """where(), with errors that name `op` (where itself, or masked_fill built on it)."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    cond = to_tensor(condition, like, op)
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
    if not isinstance(x, Tensor):
        raise TypeError(f"masked_fill: expected a Tensor to fill, got {type(x).__name__}")
    mask = to_tensor(mask, None, "masked_fill")
    if mask.data.dtype.kind != "b":
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {describe(mask)} (compare first, e.g. t > 0)")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got {describe(value)}")
        if value.dtype != x.dtype:
            value = value.to(x.dtype)  # the fill takes x's dtype, as in torch (differentiable cast)
    else:
        refuse_text(value, "masked_fill")
        if isinstance(value, complex) or not isinstance(value, numbers.Number):
            raise TypeError(f"masked_fill: value must be a number or a 0-d tensor, "
                            f"got {type(value).__name__} {value!r}")
        value = _wrap(get_xp(x.data).asarray(value, dtype=x.data.dtype))
    return _where("masked_fill", mask, value, x)  # its shape, device and broadcast errors name masked_fill


# ---------------------------------------------------------------- comparisons (no gradient)
def _compare(name, a, b, fn):
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            a, b = check_pair(name, a, b)
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
