"""Mixed precision, as torch.amp: `autocast` (ops pick their own precision) and `GradScaler` (loss scaling).

    scaler = mg.amp.GradScaler("cuda", enabled=use_amp)
    for x, y in loader:
        optimizer.zero_grad()
        with mg.autocast(device_type="cuda", dtype=mg.float16, enabled=use_amp):
            loss = F.cross_entropy(model(x), y)   # matmuls in float16, the loss in float32
        scaler.scale(loss).backward()             # gradients of the scaled loss (no float16 underflow)
        scaler.unscale_(optimizer)                # optional: true gradients, e.g. to clip them
        mg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)                    # skipped when a gradient holds inf or NaN
        scaler.update()                           # lower the scale after a skip, raise it after a run of good steps

How autocast works here. torch registers a cast policy per op in its dispatcher; minigrad
keeps the same tables (`_POLICIES`, one per device type, copied from torch 2.13's
`AutocastCUDA` / `AutocastCPU` registrations) and the wrapper of each listed op starts with

    if _amp.active:                        # one attribute test when autocast is off
        return _amp.run("linear", linear, x, weight, bias)

`run` casts the op's floating tensors as its policy says, differentiably (the cast is an op,
so float32 parameters get float32 gradients), and calls the wrapper again with autocast
switched off inside it, as torch does:

* "lower":  every float16/float32 tensor to the autocast dtype (matmul, linear, conv, ...).
* "fp32":   every float16/float32 tensor to float32 (exp, log, pow, losses, layer_norm, ...).
* "fp32_opt": the first tensor to float32 unless the call names a `dtype` (softmax, sum, cumsum, ...).
* "promote": all of them to the widest among them (cat, stack, addcmul, dot, ...).
* "mixed":  ops whose torch kernels accept a low-precision input with float32 parameters and
            answer in the input's dtype (batch_norm; layer/group norm on the CPU): the input is
            computed in float32 and the result cast back.
* "banned": binary_cross_entropy under CUDA autocast (torch refuses it; use the logits form).

Ops in no table run as they are; a binary op (add, mul, where, ...) meeting float16 and
float32 inside autocast takes float32, torch's promotion (outside autocast minigrad refuses
mixed float dtypes). float64 tensors and tensors on another device type are never cast.
"""
from __future__ import annotations

import functools
import warnings
from collections import defaultdict

from . import backend as _B
from .tensor import Tensor, _wrap

__all__ = ["autocast", "GradScaler", "is_autocast_enabled", "get_autocast_dtype", "is_autocast_available",
           "custom_fwd", "custom_bwd"]

np = _B.np
_ndarray = np.ndarray
_F16, _F32, _F64 = np.dtype("float16"), np.dtype("float32"), np.dtype("float64")
_BF16 = "bfloat16"  # torch's CPU default: NumPy has no such dtype, so minigrad cannot run it

# ---------------------------------------------------------------- state
# Read by every listed op's wrapper: True while an autocast region is enabled for some device type
# (and switched off while an autocast op runs, so its insides are not autocast again).
active = False
# True in an enabled region, inside autocast ops too: binary ops then promote float16 with float32.
region = False
_dtype = {"cpu": None, "cuda": None}      # the enabled regions' lower-precision dtype (None: off)
_default = {"cpu": _BF16, "cuda": _F16}   # torch.get_autocast_dtype: what autocast(dtype=None) uses
_cache_enabled = True
_nesting = 0
_cache: dict = {}  # id(float32 leaf) -> (leaf, version, grad mode, its cast): casts of weights, per region

# ---------------------------------------------------------------- torch 2.13's op tables
# (from torch._C._dispatch_get_registrations_for_dispatch_key("AutocastCUDA" / "AutocastCPU") and
# aten/src/ATen/autocast_mode.{h,cpp}; tests/test_amp.py checks the names against the installed torch)
_CUDA_LOWER = (
    "matmul", "mm", "bmm", "addmm", "addmv", "addr", "addbmm", "baddbmm", "mv", "einsum", "linear", "conv1d",
    "conv2d", "conv_transpose1d", "conv_transpose2d", "prelu", "scaled_dot_product_attention", "chain_matmul",
    "multi_dot", "vecdot", "conv3d", "conv_transpose3d")
_CUDA_FP32 = (
    "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "rsqrt",
    "sinh", "tan", "pow", "softplus", "layer_norm", "group_norm", "rms_norm", "norm", "cosine_similarity",
    "poisson_nll_loss", "cosine_embedding_loss", "nll_loss", "hinge_embedding_loss", "kl_div", "l1_loss",
    "smooth_l1_loss", "huber_loss", "mse_loss", "margin_ranking_loss", "multilabel_margin_loss",
    "soft_margin_loss", "triplet_margin_loss", "multi_margin_loss", "binary_cross_entropy_with_logits", "dist",
    "pdist", "cdist", "renorm", "logsumexp", "interpolate",
    "cross_entropy")  # (not registered itself: torch's runs log_softmax and nll_loss, both fp32)
_CUDA_FP32_OPT = ("prod", "softmax", "log_softmax", "cumprod", "cumsum", "sum", "vector_norm", "matrix_norm")
_CUDA_PROMOTE = ("addcdiv", "addcmul", "atan2", "bilinear", "cross", "dot", "vdot", "index_put", "tensordot",
                 "scatter_add", "grid_sample",
                 "cat", "stack")  # (not registered: torch's cat/stack promote natively; minigrad's refuse mixes)

_CPU_LOWER = (
    "conv1d", "conv2d", "bmm", "mm", "vecdot", "baddbmm", "addmm", "addbmm", "linear", "matmul",
    "conv_transpose1d", "conv_transpose2d", "prelu", "scaled_dot_product_attention", "conv3d", "conv_transpose3d",
    "einsum", "tensordot", "chain_matmul", "multi_dot")  # (these four: torch's run bmm/mm inside, both listed)
_CPU_FP32 = (
    "prod", "cdist", "trace", "inverse", "pinverse", "mse_loss", "cosine_embedding_loss", "nll_loss",
    "hinge_embedding_loss", "poisson_nll_loss", "smooth_l1_loss", "cross_entropy", "l1_loss", "huber_loss",
    "margin_ranking_loss", "soft_margin_loss", "triplet_margin_loss", "multi_margin_loss", "ctc_loss", "kl_div",
    "multilabel_margin_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy", "grid_sample")
_CPU_PROMOTE = ("cat", "stack", "index_copy",
                "addcmul", "addcdiv", "atan2")  # (these three: not registered; torch's promote natively)
# (mv, addmv, addr, dot, vdot and cross have hooks but no CPU entry: they run as they are there,
# and the hook keeps their inner matmul from being autocast, as in torch)

_POLICIES = {
    "cuda": {**dict.fromkeys(_CUDA_LOWER, "lower"), **dict.fromkeys(_CUDA_FP32, "fp32"),
             **dict.fromkeys(_CUDA_FP32_OPT, "fp32_opt"), **dict.fromkeys(_CUDA_PROMOTE, "promote"),
             "batch_norm": "mixed", "binary_cross_entropy": "banned"},
    "cpu": {**dict.fromkeys(_CPU_LOWER, "lower"), **dict.fromkeys(_CPU_FP32, "fp32"),
            **dict.fromkeys(_CPU_PROMOTE, "promote"),
            "batch_norm": "mixed", "layer_norm": "mixed", "group_norm": "mixed"},
}

_BCE_BANNED = (
    "binary_cross_entropy: torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
    "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
    "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\n"
    "or torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
    "safe to autocast.")


# ---------------------------------------------------------------- the hook the op wrappers call
def _kind(t) -> str:
    """'cpu' or 'cuda': the device type of a tensor (NumPy arrays live on the CPU)."""
    return "cpu" if t.data.__class__ is _ndarray else "cuda"


def _first_tensor(args):
    for a in args:
        if isinstance(a, Tensor):
            return a
        if isinstance(a, (list, tuple)):  # cat / stack take a sequence of tensors
            for b in a:
                if isinstance(b, Tensor):
                    return b
    return None


def _eligible(t, kind) -> bool:
    """torch's is_eligible: a float16/float32 tensor (never float64) on the autocast device type."""
    return isinstance(t, Tensor) and t.data.dtype in (_F16, _F32) and _kind(t) == kind


def _cast(t, dtype, cacheable=False):
    """t converted to `dtype` through the differentiable Cast op (gradients come back in t's dtype).

    Casts of float32 leaves that require grad (the weights) are kept until the outermost
    autocast region ends, as torch's weight cache: a layer used at several time steps is cast once.
    """
    from .ops.shape import cast  # (amp is imported while ops are being built)
    from . import autograd as _ag

    if t.data.dtype == dtype:
        return t
    if not (cacheable and _cache_enabled and t.requires_grad and t.grad_fn is None and t.data.dtype == _F32):
        return cast(t, dtype)
    hit = _cache.get(id(t))
    grad_mode = _ag.is_grad_enabled()
    # (the leaf itself, its version and the grad mode: an in-place update or a cast made under
    # no_grad would otherwise hand back a stale or graph-less copy; torch's cache checks neither)
    if hit is not None and hit[0] is t and hit[1] == t._vc[0] and hit[2] == grad_mode and hit[3].dtype == dtype:
        return hit[3]
    out = cast(t, dtype)
    _cache[id(t)] = (t, t._vc[0], grad_mode, out)
    return out


def _map(fn, args, kwargs):
    """Apply fn to every tensor in args/kwargs (and inside list/tuple arguments)."""
    def one(a):
        if isinstance(a, Tensor):
            return fn(a)
        if isinstance(a, (list, tuple)) and any(isinstance(b, Tensor) for b in a):
            return type(a)(fn(b) if isinstance(b, Tensor) else b for b in a)
        return a
    return tuple(one(a) for a in args), {k: one(v) for k, v in kwargs.items()}


def _tensors(args, kwargs):
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (b for b in a if isinstance(b, Tensor))


def run(op: str, fn, *args, **kwargs):
    """Call the wrapper `fn` of op `op` under autocast: its inputs cast as the op's policy says.

    Autocast is off while `fn` runs (torch excludes an autocast op's insides from autocast).
    """
    global active
    first = _first_tensor((*args, *kwargs.values()))
    kind = _kind(first) if first is not None else None
    low = _dtype.get(kind)
    policy = _POLICIES[kind].get(op) if low is not None else None
    back = None  # the dtype a "mixed" op's result is cast back to
    if policy == "lower":
        args, kwargs = _map(lambda t: _cast(t, low, True) if _eligible(t, kind) else t, args, kwargs)
    elif policy == "fp32":
        args, kwargs = _map(lambda t: _cast(t, _F32) if _eligible(t, kind) else t, args, kwargs)
    elif policy == "fp32_opt":
        if kwargs.get("dtype") is None and _eligible(first, kind):
            args, kwargs = _map(lambda t: _cast(t, _F32) if t is first else t, args, kwargs)
    elif policy == "promote":
        wide = [t.data.dtype for t in _tensors(args, kwargs) if _eligible(t, kind)]
        to = _F32 if _F32 in wide else low
        args, kwargs = _map(lambda t: _cast(t, to) if _eligible(t, kind) else t, args, kwargs)
    elif policy == "mixed":
        # input in float16, parameters in float32: run in float32, answer in the input's dtype
        if _eligible(first, kind) and first.data.dtype != _F32 and any(
                t.data.dtype == _F32 for t in _tensors(args, kwargs) if t is not first and _eligible(t, kind)):
            back = first.data.dtype
            args, kwargs = _map(lambda t: _cast(t, _F32) if t is first else t, args, kwargs)
    elif policy == "banned":
        raise RuntimeError(_BCE_BANNED)
    active = False
    try:
        out = fn(*args, **kwargs)
    finally:
        active = _any_enabled()
    if back is not None and isinstance(out, Tensor):
        out = _cast(out, back)
    return out


def promote_pair(a, b):
    """The pair of a binary op inside autocast when one is float16 and the other float32 (and both on
    an autocast device type): both float32, torch's type promotion. None when that does not apply."""
    kind = _kind(a)
    if _dtype.get(kind) is None or not (_eligible(a, kind) and _eligible(b, kind)):
        return None
    return _cast(a, _F32), _cast(b, _F32)


def _any_enabled() -> bool:
    return _dtype["cpu"] is not None or _dtype["cuda"] is not None


# ---------------------------------------------------------------- the public switches
def _device_type(device_type, where: str) -> str:
    if not isinstance(device_type, str):
        raise ValueError(f"{where}: expected `device_type` of type `str`, got: `{type(device_type)}`")
    kind = device_type.split(":")[0]
    if kind not in _dtype:
        raise RuntimeError(f"{where}: unsupported autocast device_type {device_type!r}; minigrad runs on 'cpu' "
                           "and 'cuda'")
    return kind


def is_autocast_available(device_type: str) -> bool:
    """True for the device types autocast knows here: 'cpu' and 'cuda'."""
    return isinstance(device_type, str) and device_type.split(":")[0] in _dtype


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Is autocast on for `device_type`? With no argument: for 'cuda' (torch's legacy default)."""
    return _dtype[_device_type("cuda" if device_type is None else device_type, "is_autocast_enabled")] is not None


def get_autocast_dtype(device_type: str):
    """The dtype autocast(device_type) uses when none is given: float16 on cuda; on the CPU torch's
    bfloat16 (returned as the string 'bfloat16', which minigrad cannot compute in), or the dtype of
    the enclosing autocast region."""
    return _default[_device_type(device_type, "get_autocast_dtype")]


def is_autocast_cache_enabled() -> bool:
    return _cache_enabled


def clear_autocast_cache() -> None:
    """Drop the cached low-precision copies of weights (done when the outermost autocast region ends)."""
    _cache.clear()


class autocast:
    """Run the ops in this region in mixed precision, as torch.autocast (context manager or decorator).

        with mg.autocast(device_type="cuda"):               # float16 on the GPU
            loss = loss_fn(model(x), y)
        with mg.autocast("cpu", dtype=mg.float16):          # the CPU needs dtype=float16 here
            ...

    Args:
        device_type: 'cuda' or 'cpu': only ops on tensors of that device type are autocast.
        dtype: the lower precision: float16. None takes `get_autocast_dtype(device_type)`:
            float16 on cuda; on the CPU torch's default is bfloat16, which NumPy lacks, so
            `mg.autocast("cpu")` without dtype=mg.float16 is a TypeError.
        enabled: False makes the region a pass-through (and switches autocast off inside an
            enclosing region).
        cache_enabled: keep the float16 copy of each weight for the whole region (default True).

    As in torch: 'cuda' without a GPU warns and disables the region; a dtype other than float16
    (float32, float64, an integer) warns and disables it; leaving the region restores the state
    before it. Unlike torch's, the state is global (not per thread).
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: bool | None = None):
        self.device = _device_type(device_type, "autocast")
        dt = _default[self.device] if dtype is None else dtype
        if isinstance(dt, str) and dt.lower().replace("torch.", "") in ("bfloat16", "bf16"):
            if enabled:
                raise TypeError(
                    f"autocast: {self.device} autocast " + ("defaults to " if dtype is None else "was given ")
                    + "bfloat16, which minigrad does not have (NumPy has no bfloat16 dtype); pass "
                    "dtype=mg.float16 (e.g. mg.autocast('cpu', dtype=mg.float16))")
            dt = _F16  # (disabled: the dtype is never used)
        else:
            try:
                dt = np.dtype(dt)
            except TypeError:
                raise TypeError(f"autocast: dtype must be a dtype such as mg.float16, got {dtype!r}") from None
        self.fast_dtype = dt
        self._cache_enabled = _cache_enabled if cache_enabled is None else bool(cache_enabled)
        enabled = bool(enabled)
        if enabled:
            if self.device == "cuda" and not _B.cuda_available():
                warnings.warn("CUDA is not available. Disabling autocast.", stacklevel=2)
                enabled = False
            elif dt != _F16:
                name = self.device.upper()
                warnings.warn(f"In {name} autocast, but the target dtype is not supported. Disabling autocast.\n"
                              f"{name} Autocast only supports dtypes of float16 here (torch also has bfloat16, "
                              "which NumPy lacks).", stacklevel=2)
                enabled = False
        self._enabled = enabled

    def __enter__(self):
        global active, region, _cache_enabled, _nesting
        self.prev = _dtype[self.device]
        self.prev_default = _default[self.device]
        self.prev_cache_enabled = _cache_enabled
        _dtype[self.device] = self.fast_dtype if self._enabled else None
        _default[self.device] = self.fast_dtype
        _cache_enabled = self._cache_enabled
        _nesting += 1
        active = region = _any_enabled()
        return self

    def __exit__(self, *exc):
        global active, region, _cache_enabled, _nesting
        _nesting -= 1
        if _nesting == 0:
            _cache.clear()  # cached weight casts never outlive the outermost region
        _dtype[self.device] = self.prev
        _default[self.device] = self.prev_default
        _cache_enabled = self.prev_cache_enabled
        active = region = _any_enabled()
        return False

    def __call__(self, func):
        if not callable(func):
            raise TypeError(f"autocast()(func) requires a callable, but got {type(func).__name__}. Did you mean to "
                            "use autocast as a context manager? For example:\n"
                            "    with mg.autocast(device_type=...):\n        output = model(input)")

        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return decorate_autocast


def custom_fwd(fwd=None, *, device_type: str, cast_inputs=None):
    """torch.amp.custom_fwd for a custom Function's forward: with `cast_inputs`, inside autocast the
    floating tensors arriving are cast to it and forward runs with autocast off. Here Function.forward
    works on raw arrays (autocast never reaches it), so this casts the arrays and nothing else."""
    kind = _device_type(device_type, "custom_fwd")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        if cast_inputs is None or _dtype[kind] is None:
            return fwd(*args, **kwargs)
        to = np.dtype(cast_inputs)

        def c(a):
            if _B.is_array(a) and a.dtype in (_F16, _F32) and (a.__class__ is _ndarray) == (kind == "cpu"):
                return a.astype(to)
            return a
        return fwd(*[c(a) for a in args], **{k: c(v) for k, v in kwargs.items()})

    return decorate_fwd


def custom_bwd(bwd=None, *, device_type: str):
    """torch.amp.custom_bwd: nothing to do here (a backward works on arrays, outside autocast)."""
    _device_type(device_type, "custom_bwd")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    return bwd


# ---------------------------------------------------------------- GradScaler
class OptState:
    """Where an optimizer is in the current iteration (torch.amp.grad_scaler.OptState)."""
    READY, UNSCALED, STEPPED = 0, 1, 2


def _fresh_state() -> dict:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


class GradScaler:
    """Dynamic loss scaling, as torch.amp.GradScaler: scale the loss so float16 gradients do not underflow,
    unscale them before the step, and skip steps whose gradients overflowed.

    * ``scale(loss)``: loss * S (S starts at `init_scale`).
    * ``unscale_(optimizer)``: every gradient of the optimizer's parameters times 1/S, in place,
      noting whether any holds inf or NaN (no host read: the flag stays on the device).
    * ``step(optimizer)``: unscale_ (unless done), then ``optimizer.step()`` only when no gradient
      was inf/NaN: the one host read of the iteration.
    * ``update()``: after a skipped step S *= backoff_factor; after `growth_interval` good steps in
      a row S *= growth_factor (when that stays finite). Computed on the device.

    S is a float32 scalar and the count of good steps an int32 on the device of the first scaled
    output, as torch's. ``GradScaler("cuda")`` without a GPU warns and disables itself (torch does the
    same): a disabled scaler returns the loss unchanged, ``step`` just calls ``optimizer.step()``,
    and the rest does nothing. ``GradScaler("cpu")`` scales on the CPU.

    Args:
        device: 'cuda' (default) or 'cpu'.
        init_scale: the first S (2**16).
        growth_factor: > 1 (2.0).
        backoff_factor: < 1 (0.5).
        growth_interval: good steps in a row before S grows (2000).
        enabled: False makes every method a pass-through.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        self._device = _device_type(device, "GradScaler")
        self._enabled = bool(enabled)
        if self._device == "cuda" and self._enabled and not _B.cuda_available():
            warnings.warn("mg.amp.GradScaler is enabled, but CUDA is not available.  Disabling.", stacklevel=2)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise ValueError(f"GradScaler: the growth factor must be > 1.0, got {growth_factor}")
            if backoff_factor >= 1.0:
                raise ValueError(f"GradScaler: the backoff factor must be < 1.0, got {backoff_factor}")
            self._init_scale = init_scale
            self._scale = None  # float32 0-d array, made by the first scale() on the output's device
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker = None  # int32 0-d array beside _scale
            self._per_optimizer_states = defaultdict(_fresh_state)

    # ------------------------------------------------------------ scale
    def _check_scale_growth_tracker(self, funcname: str):
        if self._scale is None:
            raise RuntimeError(f"GradScaler.{funcname}: the scale is not set yet; call scaler.scale(loss) earlier "
                               "in the iteration (scaler.scale(loss).backward())")
        return self._scale, self._growth_tracker

    def _lazy_init_scale_growth_tracker(self, like):
        # on like's own device (xp.asarray would use CuPy's current GPU, which may be another one)
        dev = _B.device_of(like)
        self._scale = _B.as_array(self._init_scale, dtype=_F32, device=dev)
        self._growth_tracker = _B.as_array(self._init_growth_tracker, dtype=np.dtype("int32"), device=dev)

    def _scale_on(self, arr):
        """The scale as a 0-d array on arr's device."""
        if _B.device_of(self._scale) != _B.device_of(arr):
            return _B.to_device(self._scale, _B.device_of(arr))
        return self._scale

    def _scale_tensor(self, t: Tensor) -> Tensor:
        from .ops.shape import cast

        if not isinstance(t, Tensor):
            raise TypeError(f"GradScaler.scale: outputs must be a Tensor or an iterable of Tensors, got "
                            f"{type(t).__name__}")
        if self._scale is None:
            self._lazy_init_scale_growth_tracker(t.data)
        s = self._scale_on(t.data)
        dt = t.data.dtype
        if dt.kind != "f":
            raise TypeError(f"GradScaler.scale: expected a floating-point tensor, got {dt}")
        # torch's promotion of `t * scale` (scale a float32 0-d tensor): a 0-d float16 loss becomes
        # float32; a float16 tensor with dims stays float16 (multiplied in float32, as torch's kernel);
        # float32 and float64 keep their dtype (S is a power of two: exact in either)
        if dt == _F16:
            y = cast(t, _F32) * _wrap(s)
            return y if t.data.ndim == 0 else cast(y, _F16)
        return t * _wrap(s.astype(dt))

    def scale(self, outputs):
        """Multiply a tensor (or the tensors in a list/tuple/iterable, nested) by the scale factor."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return self._scale_tensor(outputs)

        def apply_scale(val):
            if isinstance(val, Tensor):
                return self._scale_tensor(val)
            if isinstance(val, (list, tuple)):
                return type(val)(apply_scale(v) for v in val)
            if hasattr(val, "__iter__") and not isinstance(val, (str, bytes, dict)):
                return map(apply_scale, val)
            raise ValueError("GradScaler.scale: outputs must be a Tensor or an iterable of Tensors, got "
                             f"{type(val).__name__}")

        return apply_scale(outputs)

    # ------------------------------------------------------------ unscale and the inf check
    def _unscale_grads_(self, optimizer, inv_scale, allow_fp16: bool) -> dict:
        """Multiply every gradient by inv_scale in place; {device: float32 0-d array, 1.0 if any was inf/NaN}.

        Each gradient adds one device-side "all finite" flag; the flags are combined on the device,
        so nothing here reads a value back to the host.
        """
        finite: dict = {}  # device -> 0-d bool array: all gradients so far finite
        for group in optimizer.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if not allow_fp16 and g.dtype == _F16:
                    raise ValueError("GradScaler.unscale_: Attempting to unscale FP16 gradients (parameters kept "
                                     "in float16; keep the parameters in float32 and let autocast cast them)")
                arr = g.values if getattr(g, "is_sparse", False) else g.data  # (row-sparse: its stored rows)
                xp = _B.get_array_module(arr)
                dev = _B.device_of(arr)
                ok = xp.isfinite(arr).all()
                finite[dev] = (xp, ok if dev not in finite else finite[dev][1] & ok)
                inv = inv_scale if dev == _B.device_of(inv_scale) else _B.to_device(inv_scale, dev)
                # torch multiplies every element, inf and NaN included: in the gradient's precision for
                # float32 (a float32 factor), in float64 for float64 gradients (the factor widened exactly)
                arr *= inv.astype(arr.dtype) if arr.dtype == _F64 else inv
        return {dev: xp.asarray(~ok, dtype=_F32) for dev, (xp, ok) in finite.items()}

    def unscale_(self, optimizer) -> None:
        """Divide the optimizer's gradients by the scale, in place (e.g. before clip_grad_norm_).

        Once per optimizer per iteration, before step(); a second call, or a call after step(),
        is a RuntimeError (as torch's).
        """
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] == OptState.UNSCALED:
            raise RuntimeError("GradScaler.unscale_: unscale_() has already been called on this optimizer since "
                               "the last update().")
        if state["stage"] == OptState.STEPPED:
            raise RuntimeError("GradScaler.unscale_: unscale_() is being called after step().")
        # 1/S computed in float64 and rounded to float32, as torch (exact for powers of two)
        inv_scale = (1.0 / self._scale.astype(_F64)).astype(_F32)
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, allow_fp16=False)
        state["stage"] = OptState.UNSCALED

    def _maybe_opt_step(self, optimizer, state, *args, **kwargs):
        # the one host read of the iteration: did any gradient overflow?
        if not sum(float(v) for v in state["found_inf_per_device"].values()):
            return optimizer.step(*args, **kwargs)
        return None

    def step(self, optimizer, *args, **kwargs):
        """unscale_ (if not done yet), then optimizer.step(*args, **kwargs) unless a gradient is inf/NaN.

        Returns what optimizer.step returned (None when the step was skipped). A closure is refused
        while scaling is on, as in torch.
        """
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("GradScaler.step: Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] == OptState.STEPPED:
            raise RuntimeError("GradScaler.step: step() has already been called since the last update().")
        if state["stage"] == OptState.READY:
            self.unscale_(optimizer)
        if len(state["found_inf_per_device"]) == 0:
            raise RuntimeError("GradScaler.step: No inf checks were recorded for this optimizer (none of its "
                               "parameters has a gradient: did backward() reach them?)")
        out = self._maybe_opt_step(optimizer, state, *args, **kwargs)
        state["stage"] = OptState.STEPPED
        return out

    # ------------------------------------------------------------ update
    def update(self, new_scale=None) -> None:
        """Set the scale for the next iteration: backoff after an inf/NaN, growth after a run of good steps.

        `new_scale` (a float, or a 1-element tensor that does not require grad) sets it directly.
        Call once per iteration, after step() for every optimizer.
        """
        if not self._enabled:
            return
        scale, tracker = self._check_scale_growth_tracker("update")
        xp = _B.get_array_module(scale)
        if new_scale is not None:
            if isinstance(new_scale, float):
                self._scale = _B.as_array(new_scale, dtype=_F32, device=_B.device_of(scale))
            else:
                reason = ("GradScaler.update: new_scale should be a float or a 1-element tensor with "
                          "requires_grad=False on the scaler's device type")
                if not isinstance(new_scale, Tensor) or _kind(new_scale) != self._device \
                        or new_scale.data.size != 1 or new_scale.requires_grad:
                    raise ValueError(reason)
                self._scale = _B.to_device(new_scale.data.reshape(()).astype(_F32), _B.device_of(scale))
        else:
            found = [f if _B.device_of(f) == _B.device_of(scale) else _B.to_device(f, _B.device_of(scale))
                     for state in self._per_optimizer_states.values()
                     for f in state["found_inf_per_device"].values()]
            if not found:
                raise RuntimeError("GradScaler.update: No inf checks were recorded prior to update() (call "
                                   "scaler.step(optimizer) first).")
            found_inf = found[0]
            for f in found[1:]:
                found_inf = found_inf + f
            self._scale, self._growth_tracker = _update_scale(
                xp, scale, tracker, found_inf, self._growth_factor, self._backoff_factor, self._growth_interval)
        self._per_optimizer_states = defaultdict(_fresh_state)

    # ------------------------------------------------------------ accessors and state
    def get_scale(self) -> float:
        """The scale as a Python float (1.0 when disabled); reads it from the device."""
        if not self._enabled:
            return 1.0
        return float(self._init_scale) if self._scale is None else float(self._scale)

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker)

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict:
        """{"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"}; {} when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what state_dict() returned (a no-op when disabled; an empty dict is an error)."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("GradScaler.load_state_dict: The source state dict is empty, possibly because it "
                               "was saved from a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._scale is not None:
            xp = _B.get_array_module(self._scale)
            self._scale = _B.to_device(xp.asarray(self._init_scale, dtype=_F32), _B.device_of(self._scale))
            self._growth_tracker = _B.to_device(xp.asarray(self._init_growth_tracker, dtype=np.dtype("int32")),
                                                _B.device_of(self._scale))

    def __getstate__(self):
        state = self.__dict__.copy()
        if self._enabled:
            if len(self._per_optimizer_states) != 0:
                raise RuntimeError("GradScaler: a GradScaler may only be pickled at the beginning of an iteration, "
                                   "or at the end after scaler.update().")
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = None
            state["_growth_tracker"] = None
            state["_per_optimizer_states"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._enabled:
            self._per_optimizer_states = defaultdict(_fresh_state)


def _update_scale(xp, scale, tracker, found_inf, growth_factor, backoff_factor, growth_interval):
    """torch._amp_update_scale_ on 0-d device arrays, without a host read:

    found inf/NaN:  S <- S * backoff,  good steps <- 0
    otherwise:      good steps + 1 == growth_interval ? (S <- S * growth if that is finite; good steps <- 0)
                                                      : good steps <- good steps + 1
    The products are taken in float64 and rounded to float32, as torch's kernel does.
    """
    inf = found_inf > 0
    successful = tracker + 1
    grow = ~inf & (successful == growth_interval)
    s64 = scale.astype(_F64)
    with np.errstate(over="ignore"):  # a scale grown past float32's range is inf: refused below, silently
        backed = (s64 * backoff_factor).astype(_F32)
        grown = (s64 * growth_factor).astype(_F32)
    new_scale = xp.where(inf, backed, xp.where(grow & xp.isfinite(grown), grown, scale)).astype(_F32)
    new_tracker = xp.where(inf | grow, 0, successful).astype(tracker.dtype)
    return new_scale, new_tracker


# ---------------------------------------------------------------- torch.cuda.amp (deprecated names)
class _CudaAutocast(autocast):
    """torch.cuda.amp.autocast(enabled=True, dtype=float16, cache_enabled=True): autocast('cuda', ...)."""

    def __init__(self, enabled: bool = True, dtype=_F16, cache_enabled: bool = True):
        warnings.warn("`mg.cuda.amp.autocast(args...)` is deprecated. Please use `mg.amp.autocast('cuda', args...)` "
                      "instead.", FutureWarning, stacklevel=2)
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class _CudaGradScaler(GradScaler):
    """torch.cuda.amp.GradScaler(init_scale, ...): GradScaler('cuda', ...)."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True):
        warnings.warn("`mg.cuda.amp.GradScaler(args...)` is deprecated. Please use `mg.amp.GradScaler('cuda', "
                      "args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor, backoff_factor=backoff_factor,
                         growth_interval=growth_interval, enabled=enabled)


_CudaAutocast.__name__ = _CudaAutocast.__qualname__ = "autocast"
_CudaGradScaler.__name__ = _CudaGradScaler.__qualname__ = "GradScaler"


def _make_cuda_amp():
    """The module mg.cuda.amp (also importable as `minigrad.cuda.amp`): torch.cuda.amp's names."""
    import sys
    import types

    mod = types.ModuleType("minigrad.cuda.amp", "torch.cuda.amp's deprecated names: autocast and GradScaler for "
                           "the GPU (use mg.amp.autocast('cuda') / mg.amp.GradScaler('cuda')).")
    mod.autocast, mod.GradScaler = _CudaAutocast, _CudaGradScaler
    mod.custom_fwd = functools.partial(custom_fwd, device_type="cuda")
    mod.custom_bwd = functools.partial(custom_bwd, device_type="cuda")
    sys.modules["minigrad.cuda.amp"] = mod
    return mod


cuda_amp = _make_cuda_amp()
