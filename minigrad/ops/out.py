"""torch's `out=` keyword on the top-level functions: `mg.add(a, b, out=c)` writes a + b into c.

One mechanism for every function that takes it: `with_out(fn, rule)` wraps the public function.
Without `out` the wrapper calls `fn` straight away (one extra Python call, nothing else). With it:

1. out must be a Tensor (a tuple of Tensors for the functions that return (values, indices));
2. with grad mode on, no input and no out may require grad (torch: "functions with out=...
   arguments don't support automatic differentiation");
3. the result is computed as usual, then checked against out's dtype (the `rule`, below) and device;
4. it is written into out's memory in place (out's version counter is bumped, views of out see it);
   an out of another shape is resized, by giving it a new array, with torch's UserWarning when it
   held elements;
5. out is returned (the tuple of outs, as the function's named tuple, for (values, indices)).

The dtype rules, as in torch 2.13:
    CAST     the result is cast to out's dtype where torch's casting allows it: not float into an
             integer or bool out, not a number into a bool out (pointwise math, comparisons, mean, cat)
    SAME     out's dtype must be the result's (matmul and the other products, where, clamp, indices)
    ANY      the reduction runs in out's dtype, so any dtype is accepted (sum, prod, cumsum)
    FACTORY  a factory makes its tensor in out's dtype and on out's device (zeros, arange, randn)

`install(namespace)` wraps the names of `OUT_RULES` in the `minigrad` namespace (minigrad/__init__.py);
the ops module functions the Tensor methods and operators call stay unwrapped, so `a + b` and
`x.sum()` pay nothing for this.
"""
from __future__ import annotations

import functools
import warnings

from .. import autograd as _ag
from .. import backend as _B
from ..tensor import Tensor

CAST, SAME, ANY, FACTORY = "cast", "same", "any", "factory"

# Which top-level functions take out= (each checked against torch 2.13), and how out's dtype is treated.
_RULES_BY_GROUP = (
    # pointwise math, arithmetic, comparisons, logical and bitwise ops, and the reductions that cast
    ("abs absolute acos acosh add addcdiv addcmul arccos arcsin arctan arctan2 asin asinh atan atan2 atanh "
     "bitwise_and bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift bitwise_xor ceil copysign cos "
     "cosh deg2rad digamma div divide eq erf erfc erfinv exp exp2 expm1 float_power floor floor_divide fmax fmin "
     "fmod frac gcd ge greater greater_equal gt heaviside hypot i0 isneginf isposinf lcm ldexp le lerp less "
     "less_equal lgamma log log10 log1p log2 logaddexp logaddexp2 logical_and logical_not logical_or logical_xor "
     "logit lt maximum minimum mul multiply nan_to_num ne neg negative nextafter not_equal pow rad2deg reciprocal "
     "remainder round rsqrt sgn sigmoid sign signbit sin sinc sinh sqrt square sub subtract tan tanh true_divide "
     "trunc xlogy "
     "all amax amin any logsumexp mean nanmean norm std var "
     "cat column_stack concat concatenate dstack hstack row_stack stack vstack", CAST),
    # products, selections and (values, indices) results: out's dtype must be the result's
    ("addbmm addmm addmv addr baddbmm bmm cross dot ger inner kron matmul matrix_power mm mv outer tensordot "
     "vdot "
     "clamp clamp_max clamp_min clip where tril triu diag diff gather index_select masked_select nonzero take "
     "take_along_dim argmax argmin searchsorted bucketize histc quantile nanquantile log_softmax softmax "
     "max min sort topk kthvalue mode median nanmedian cummax cummin aminmax msort logcumsumexp", SAME),
    ("sum prod nansum cumsum cumprod", ANY),
    ("zeros ones full empty arange linspace logspace eye rand randn randint randperm", FACTORY),
)
OUT_RULES = {name: rule for names, rule in _RULES_BY_GROUP for name in names.split()}
_CAT_LIKE = frozenset("cat column_stack concat concatenate dstack hstack row_stack stack vstack".split())

# torch's names for dtypes, as its messages print them ("result type Float can't be cast to ... Long")
_TORCH_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char", "int16": "Short",
                "int32": "Int", "int64": "Long", "uint8": "Byte", "uint16": "UInt16", "uint32": "UInt32",
                "uint64": "UInt64", "bool": "Bool"}


def can_cast(from_dtype, to_dtype) -> bool:
    """torch.can_cast: any cast except float -> integer/bool and number -> bool (narrowing is allowed)."""
    if from_dtype.kind == "f" and to_dtype.kind in "iub":
        return False
    return not (from_dtype.kind != "b" and to_dtype.kind == "b")


def with_out(fn, rule: str, name: str | None = None):
    """`fn` with torch's keyword-only `out=` argument, following `rule` (CAST, SAME, ANY or FACTORY)."""
    op = name or fn.__name__

    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        if out is None:  # the common call: nothing else to do
            return fn(*args, **kwargs)
        return _call_with_out(fn, op, rule, args, kwargs, out)

    return wrapper


def install(namespace: dict) -> None:
    """Wrap, in `namespace` (the minigrad module's globals), every function named in OUT_RULES."""
    for name, rule in OUT_RULES.items():
        namespace[name] = with_out(namespace[name], rule, name)


def _call_with_out(fn, op, rule, args, kwargs, out):
    outs = _check_out_tensors(op, out)
    if _ag.is_grad_enabled() and (any(o.requires_grad for o in outs) or _any_requires_grad(args, kwargs)):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad.")
    if rule == FACTORY:
        kwargs = _factory_kwargs(op, kwargs, outs[0])
    elif rule == ANY and args and isinstance(args[0], Tensor) and args[0].dtype != outs[0].dtype:
        # torch reduces in out's dtype: sum(x, out=int64 out) adds the truncated values
        args = (args[0].to(outs[0].dtype),) + args[1:]
    result = fn(*args, **kwargs)
    results = tuple(result) if isinstance(result, tuple) else (result,)
    if isinstance(out, Tensor) == isinstance(result, tuple):
        want = "a tuple of Tensors (values, indices)" if isinstance(result, tuple) else "Tensor"
        raise TypeError(f"{op}(): argument 'out' must be {want} for this call, not {type(out).__name__}")
    if len(outs) != len(results):
        raise TypeError(f"{op}(): argument 'out' must be a tuple of {len(results)} Tensors, got {len(outs)}")
    for o, r in zip(outs, results):
        _check_dtype_and_device(op, rule, r, o)
    for o, r in zip(outs, results):
        _write(op, o, r, warn=rule != FACTORY)
    return out if isinstance(out, Tensor) else type(result)(*outs) if hasattr(result, "_fields") else tuple(outs)


def _check_out_tensors(op, out) -> tuple:
    """out as a tuple of Tensors, or torch's TypeError."""
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(o).__name__}")
    return outs


def _any_requires_grad(args, kwargs) -> bool:
    """Does any tensor among the arguments (or inside a list of them, as cat's) require grad?"""
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tensor):
            if a.requires_grad:
                return True
        elif isinstance(a, (list, tuple)) and any(isinstance(t, Tensor) and t.requires_grad for t in a):
            return True
    return False


def _factory_kwargs(op, kwargs, out):
    """A factory makes its tensor in out's dtype and on out's device; explicit ones must agree."""
    kwargs = dict(kwargs)
    dtype, device = kwargs.get("dtype"), kwargs.get("device")
    if dtype is not None and _B.np.dtype(dtype) != out.dtype:
        raise RuntimeError(f"{op}(): dtype {_torch_name(_B.np.dtype(dtype))} does not match dtype of out parameter "
                           f"({_torch_name(out.dtype)})")
    if device is not None and _B.parse_device(device) != out.device:
        raise RuntimeError(f"{op}(): device {device} does not match the device of out parameter ({out.device})")
    kwargs["dtype"], kwargs["device"] = out.dtype, out.device
    return kwargs


def _check_dtype_and_device(op, rule, result, out):
    if result.device != out.device:
        raise RuntimeError(f"{op}(): expected out on the result's device {result.device}, got out on {out.device}")
    src, dst = result.dtype, out.dtype
    if src == dst or rule in (ANY, FACTORY):
        return
    if rule == SAME:
        raise RuntimeError(f"{op}(): Expected out tensor to have dtype {src}, but got {dst} instead")
    if not can_cast(src, dst):
        if op in _CAT_LIKE:  # torch raises a TypeError from cat and its relatives
            raise TypeError(f"torch.{op}(): input types can't be cast to the desired output type {_torch_name(dst)}")
        raise RuntimeError(f"{op}(): result type {_torch_name(src)} can't be cast to the desired output type "
                           f"{_torch_name(dst)}")


def _write(op, out, result, warn):
    """result's values into out, in place; out of another shape gets a new array of its dtype (resized)."""
    if out.data.shape == result.data.shape:
        out._check_inplace(op)  # refuses writes into overlapping memory (an expanded out)
        try:
            out.data[...] = result.data
        except ValueError as e:  # a read-only array
            raise RuntimeError(f"{op}(): cannot write into out {out.dtype}{list(out.shape)} in place ({e})") from None
    else:
        if warn and out.data.size != 0:
            warnings.warn(
                f"{op}(): An output with one or more elements was resized since it had shape {list(out.shape)}, "
                f"which does not match the required output shape {list(result.shape)}. This behavior is "
                "deprecated (as in torch); pass an out of the right shape or one with zero elements.",
                UserWarning, stacklevel=4)
        # a copy, never result's own array: some functions return (a view of) their input
        out.data = result.data.astype(out.dtype, copy=True)
    out._bump()


def _torch_name(dtype) -> str:
    return _TORCH_NAMES.get(str(dtype), str(dtype))
