"""The autograd engine: `Function`, graph recording, and the backward pass.

How it works, in three sentences. Every op is a `Function` subclass whose
`forward(ctx, *arrays)` computes on raw backend arrays and whose
`backward(ctx, grad)` returns one gradient per input; `Function.apply` runs the
forward and, when grad mode is on and some input requires grad, makes the
`ctx` object the output's `grad_fn` (a node of the graph). `backward()` walks
the nodes in reverse topological order (iteratively, Kahn's algorithm, so a
100,000-op chain needs no recursion), undoes broadcasting in one place
(`sum_to`), checks every gradient's shape and dtype, and frees saved arrays.
"""
from __future__ import annotations

import functools
import itertools
import warnings
import weakref

from . import backend as _B
from .sparse import RowSparseGrad as _RowSparse
from .sparse import accumulate as _sparse_accumulate

__all__ = [
    "Function", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "detect_anomaly", "is_anomaly_enabled", "sum_to", "run_backward", "GraphGrowthWarning",
    "set_detect_anomaly", "inference_mode", "is_inference_mode_enabled",
]

# Read on every op, so a plain module global (the fastest lookup Python has).
_grad_enabled = True
_anomaly = False
# Bumped by every in-place write anywhere; a node whose epoch is current can skip
# the per-input version check in backward (nothing can have changed).
_inplace_epoch = 0


def is_grad_enabled() -> bool:
    return _grad_enabled


class _GradMode:
    """Context manager / decorator that sets grad mode to `mode` inside it (no_grad, enable_grad, ...)."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self.prev = None

    def __enter__(self):
        global _grad_enabled
        self.prev, _grad_enabled = _grad_enabled, self.mode
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _GradMode(self.mode):  # a fresh context per call (re-entrant)
                return fn(*args, **kwargs)

        return wrapper


class set_grad_enabled(_GradMode):
    """Set grad mode to `mode`: as a plain call (`mg.set_grad_enabled(False)`), a context manager or a decorator.

    As in torch, the mode is set when the object is made (so the plain call works); leaving
    a `with` block restores the mode from before.
    """

    def __init__(self, mode: bool = True):
        global _grad_enabled
        super().__init__(mode)
        self.prev, _grad_enabled = _grad_enabled, self.mode

    def __enter__(self):
        return self  # already set in __init__

    def __call__(self, fn):
        global _grad_enabled
        _grad_enabled = self.prev  # as a decorator it sets the mode only while fn runs
        return super().__call__(fn)


class no_grad(_GradMode):
    """Disable graph recording: `with mg.no_grad(): ...`, `@mg.no_grad()` or `@mg.no_grad`."""

    def __new__(cls, orig_func=None):
        if orig_func is not None:  # bare `@mg.no_grad` on a function (torch allows it)
            return cls()(orig_func)
        return super().__new__(cls)

    def __init__(self):
        super().__init__(False)


class enable_grad(_GradMode):
    """Re-enable graph recording inside a `no_grad` block (context manager or decorator, with or without ())."""

    def __new__(cls, orig_func=None):
        if orig_func is not None:  # bare `@mg.enable_grad`
            return cls()(orig_func)
        return super().__new__(cls)

    def __init__(self):
        super().__init__(True)


class detect_anomaly:
    """Raise on the first NaN/Inf produced by a forward op or a backward gradient, naming the op.

    Use as a context manager (`with mg.detect_anomaly(): ...`). It slows every op
    (one finiteness check each), so it is a debugging tool.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    def __enter__(self):
        global _anomaly
        self.prev, _anomaly = _anomaly, self.enabled
        return self

    def __exit__(self, *exc):
        global _anomaly
        _anomaly = self.prev
        return False


def is_anomaly_enabled() -> bool:
    return _anomaly


class set_detect_anomaly(detect_anomaly):
    """Turn anomaly detection on or off: as a call (`mg.set_detect_anomaly(True)`) or a context manager.

    As torch's: the mode is set when the object is made; leaving a `with` block restores
    the previous one. `check_nan` is accepted for torch compatibility (the check is always on).
    """

    def __init__(self, mode: bool, check_nan: bool = True):
        global _anomaly
        super().__init__(bool(mode))
        self.prev, _anomaly = _anomaly, self.enabled

    def __enter__(self):
        return self  # already set in __init__


class inference_mode(_GradMode):
    """torch.inference_mode: here the same as `no_grad()` (context manager or decorator, with or without ()).

    `inference_mode(False)` turns grad mode *on*, as in torch. torch also marks tensors made
    inside as "inference tensors" that can never join a graph; minigrad has no such tensors
    (they are plain tensors that do not require grad), and is no faster than under no_grad().
    """

    def __new__(cls, mode=True):
        if callable(mode):  # bare `@mg.inference_mode` on a function
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        super().__init__(not mode)
        self.inference = bool(mode)
        self.prev_inference = None

    def __enter__(self):
        global _inference
        self.prev_inference, _inference = _inference, self.inference
        return super().__enter__()

    def __exit__(self, *exc):
        global _inference
        _inference = self.prev_inference
        return super().__exit__(*exc)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(self.inference):  # a fresh context per call (re-entrant)
                return fn(*args, **kwargs)

        return wrapper


_inference = False


def is_inference_mode_enabled() -> bool:
    return _inference


# torch.autograd's functional API (grad, backward, functional.jacobian, gradcheck) is written on top
# of run_backward in autograd_functional.py; these names make it reachable as mg.autograd.grad, etc.
_FUNCTIONAL_API = ("grad", "backward", "functional", "gradcheck", "gradgradcheck", "Variable")


def __getattr__(name):  # PEP 562: called only for names this module does not define
    if name in _FUNCTIONAL_API:
        from . import autograd_functional
        return getattr(autograd_functional, name)
    raise AttributeError(f"module 'minigrad.autograd' has no attribute {name!r}")


def _check_finite(arr, what: str):
    if arr.__class__ is _RowSparse:  # a row-sparse gradient: check its stored rows
        arr = arr.values
    xp = _B.get_array_module(arr)
    if arr.dtype.kind in "fc" and not bool(xp.isfinite(arr).all()):
        raise RuntimeError(f"detect_anomaly: {what} contains NaN or Inf")


# ---------------------------------------------------------------- broadcasting
def sum_to(g, shape):
    """Sum `g` down to `shape`: the adjoint of NumPy broadcasting (from shape metadata only)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0:  # fewer dims than `shape`: not a broadcast of it (the engine reports that)
        return g
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    if axes:
        with _B.np.errstate(invalid="ignore", over="ignore"):  # inf + -inf = NaN, as torch, silently
            g = g.sum(axis=axes, keepdims=True)
    if lead:
        # Drop the (now size-1) leading dims. Not reshape(shape): that would also "fix" a
        # wrong gradient that merely has the right number of elements, e.g. (6,) for (2, 3).
        g = g.reshape(g.shape[lead:])
    return g


# ---------------------------------------------------------------- Function
class Function:
    """Base class of every differentiable op.

    Subclasses define two static methods::

        @staticmethod
        def forward(ctx, *arrays, **kwargs) -> array   # raw backend arrays in and out
        @staticmethod
        def backward(ctx, grad) -> array | tuple        # one gradient (or None) per input

    A forward may return a tuple of arrays (e.g. a fused LSTM returns the outputs,
    h_n and c_n); `apply` then returns a tuple of Tensors and `backward` receives one
    gradient per output (zeros for outputs that did not reach the loss).

    `ctx` is the graph node itself: save arrays with `ctx.save_for_backward(...)`
    (read back as `ctx.saved`), keep small metadata as attributes, and consult
    `ctx.needs_input_grad` to skip work for inputs that need no gradient.
    Users call `MyOp.apply(*tensors, **kwargs)`.
    """

    # Set on the node when it records a graph; class-level defaults keep the
    # no-grad path (where the node is thrown away) cheap.
    saved = ()
    n_out = 1  # number of outputs; set on nodes of multi-output ops
    epoch = -1  # the in-place epoch when recorded (set by apply; a node freed by backward reads this)
    # Does apply check that the output does not share an input's memory (see `_aliases_input`)? Yes for
    # Functions written outside minigrad (users' own ops); minigrad's ops are checked by their tests
    # (check_op runs every op without a graph and refuses undeclared aliases), which spares each op ~0.1 us.
    check_alias = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "check_alias" not in cls.__dict__:
            cls.check_alias = not cls.__module__.startswith("minigrad.")
        if not cls.__module__.startswith("minigrad.") and "apply" not in cls.__dict__:
            cls.apply = classmethod(_apply_user_function)  # (minigrad's own ops keep the fast apply)

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        """torch's name for `saved`: what forward passed to save_for_backward (here backend arrays)."""
        return self.saved

    _marked = False  # set by mark_non_differentiable (the fast path checks one attribute)
    materialize_grads = True

    def mark_non_differentiable(self, *arrays):
        """Mark outputs of forward (arrays it returns) as not differentiable, as torch's ctx does.

        They do not require grad, and backward receives zeros for them (None after
        set_materialize_grads(False)).
        """
        self.non_differentiable = arrays
        self._marked = True

    def set_materialize_grads(self, value: bool):
        """With False, backward of a multi-output Function gets None (not zeros) for outputs without a gradient."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *arrays):
        """Refused: an in-place custom Function (torch's ctx.mark_dirty) is not supported here."""
        raise NotImplementedError(
            f"{type(self).__name__}: ctx.mark_dirty (a custom Function that changes its input in place) is not "
            "supported by minigrad (its input has already been changed by this forward). Make forward return a new "
            "array (the out-of-place form) and, if you need the in-place effect, write the result back outside: "
            "x.copy_(MyFunction.apply(x)) (in-place ops on tensors are recorded in the graph)")

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run forward on the inputs' arrays; record a graph node when gradients are needed.

        Positional arguments that are not Tensors (MulConstant.apply(x, 2.0), an optional
        bias=None) reach forward as they are, as in torch; backward returns None for them.
        """
        ctx = _new(cls)
        try:  # (free when nothing is raised)
            if len(inputs) == 1:
                out = cls.forward(ctx, inputs[0].data, **kwargs)
            else:
                out = cls.forward(ctx, *[t.data for t in inputs], **kwargs)
        except MemoryError as e:
            raise _oom(cls, "forward", inputs, e) from None
        except AttributeError as e:
            if all(isinstance(t, _Tensor) for t in inputs):
                hint = _tensor_method_on_array(cls, "forward", e)
                if hint:
                    raise AttributeError(hint) from e
                raise  # forward's own error
            # Each non-Tensor argument becomes a constant tensor holding it (its .data is the
            # object itself): forward receives it unchanged, and it needs no gradient.
            return cls.apply(*[t if isinstance(t, _Tensor) else _wrap(t, False, None) for t in inputs], **kwargs)
        if type(out) is not _ndarray:
            if type(out) is tuple:
                return _apply_multi(ctx, inputs, out)
            if not _is_array(out):  # NumPy reductions on 0-d data return scalars
                out = _B.np.asarray(out)
        if _anomaly:
            _check_finite(out, f"forward output of {cls.__name__}")
        if _grad_enabled:
            for t in inputs:
                if t._rg:  # (the requires_grad slot, read directly: the hottest read in minigrad)
                    break
            else:
                return _wrap(out, False, None, _view_vc(cls, inputs, out))
            if ctx._marked and any(out is a for a in ctx.non_differentiable):
                return _wrap(out, False, None, _view_vc(cls, inputs, out))
            ctx.inputs = inputs
            # Versions of the inputs now; backward refuses if an in-place write changed them.
            ctx.versions = tuple([t._vc[0] for t in inputs])
            ctx.epoch = _inplace_epoch
            if cls.is_view:
                if out.base is not None:
                    vc = inputs[0]._vc  # a view shares its base's version counter
                    ctx.out_vc, ctx.out_version = vc, vc[0]
                    return _wrap(out, True, ctx, vc)
            elif cls.check_alias and _aliases_input(out, inputs):
                # A forward (a user's custom Function, say) returned an input's memory without declaring
                # is_view: the output gets its own copy, or a later in-place write to that input would
                # silently change what the graph saved of the output.
                out = out.copy()
            t = _wrap(out, True, ctx)
            ctx.out_vc = t._vc
            return t
        return _wrap(out, False, None, _view_vc(cls, inputs, out))

    @property
    def needs_input_grad(self):
        """One bool per input: does it need a gradient? (lets backward skip work)"""
        return tuple([t._rg for t in self.inputs])

    out_version = 0
    saves_output = False  # True for ops whose backward reads their own output (exp, tanh, ...)

    is_view = False  # True for ops whose output may share memory with input 0

    @staticmethod
    def forward(ctx, *arrays, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    def name(self) -> str:
        """The node's name, as torch's grad_fn.name(): e.g. 'MulBackward'."""
        return f"{type(self).__name__}Backward"

    @property
    def next_functions(self) -> tuple:
        """Where this node sends gradients, as torch shows it: one (node, output index) per input.

        A non-leaf input gives its grad_fn, a leaf that requires grad an `AccumulateGrad`
        (whose `.variable` is the leaf), an input that needs no gradient (None, 0).
        A read-only view made on each access (minigrad's edges are the input tensors).
        """
        nd = self.__dict__
        if "inputs" not in nd:
            raise RuntimeError(f"next_functions: the edges of {self!r} were freed by a backward without "
                               "retain_graph=True (or this node is not part of a recorded graph)")
        out = []
        for t, v in zip(nd["inputs"], nd["versions"]):
            if not _is_array(t.data):  # a non-Tensor argument of a custom Function: no edge (as torch)
                continue
            fn = t.grad_fn
            while _written_after(fn, t._vc, v):  # t was overwritten in place since: this node used its old value
                t = fn.shadow
                fn = t.grad_fn
            if fn is not None:
                out.append((fn, t._oi))
            else:
                out.append((AccumulateGrad(t) if t._rg else None, 0))
        return tuple(out)

    def register_hook(self, hook):
        """torch's `grad_fn.register_hook(fn(grad_inputs, grad_outputs))`: not available (refused clearly)."""
        raise NotImplementedError(_NODE_HOOK_HINT.format(f"{self.name()}.register_hook"))

    def register_prehook(self, hook):
        """torch's `grad_fn.register_prehook(fn(grad_outputs))`: not available (refused clearly)."""
        raise NotImplementedError(_NODE_HOOK_HINT.format(f"{self.name()}.register_prehook"))

    def __repr__(self):
        return f"<{type(self).__name__}Backward>"


# Graph nodes take no hooks: a node's inputs are not always torch's edges (MulScalar has one, torch's
# MulBackward0 two), so torch's grad_inputs could not be reproduced entry by entry.
_NODE_HOOK_HINT = ("{}: hooks on graph nodes (grad_fn) are not supported in minigrad; use "
                   "tensor.register_hook(fn(grad)) on the node's output (what register_prehook sees) or on its "
                   "inputs, or a module's register_full_backward_hook / register_full_backward_pre_hook")


class AccumulateGrad:
    """What `next_functions` shows for a leaf that requires grad: torch's AccumulateGrad node (read-only view)."""

    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __eq__(self, other):  # one per leaf, though a new object is made on each access
        return isinstance(other, AccumulateGrad) and other.variable is self.variable

    def __hash__(self):
        return id(self.variable)

    def __repr__(self):
        return "<AccumulateGrad>"


def _view_vc(cls, inputs, out):
    """A view made without recording a graph still shares its base's version counter,
    so a write through it (`with no_grad(): w.T.mul_(2)`) is seen by ops that saved w."""
    return inputs[0]._vc if cls.is_view and out.base is not None else None


def _aliases_input(out, inputs) -> bool:
    """Does the array `out` share memory with one of the inputs' arrays (as itself or as a view of its owner)?"""
    b = out.base
    for t in inputs:
        a = t.data
        if out is a or (b is not None and (b is a or b is getattr(a, "base", None))):  # (.data of a wrapped constant: any object)
            return True
    return False


def _tensor_method_on_array(cls, phase: str, err) -> str:
    """For torch code in a custom Function (`input.clamp(min=0)`, `grad.clone()`): a message saying that
    forward/backward get backend arrays; '' when the AttributeError is something else."""
    name, obj = getattr(err, "name", None), getattr(err, "obj", None)
    if not (name and _is_array(obj) and hasattr(_Tensor, name)):
        return ""
    return (f"{cls.__name__}.{phase}: {err}. A Function's forward and backward receive backend arrays "
            f"(NumPy/CuPy), not Tensors, so use the array's own methods (torch's clamp(min=0) is clip(min=0), "
            f"clone() is copy()) or xp = minigrad.backend.get_array_module(array)")


def _oom(cls, phase: str, inputs, err):
    """OutOfMemoryError naming the op, the phase and its inputs (for a MemoryError from NumPy/CuPy)."""
    if isinstance(err, _B.OutOfMemoryError):
        return err
    shapes = ", ".join(f"{t.dtype}{list(t.shape)}" for t in inputs)
    return _B.out_of_memory(cls.__name__, f"its {phase} on {shapes or 'no inputs'}", err)


def _apply_user_function(cls, *inputs, **kwargs):
    """`Function.apply` for Functions written outside minigrad: every argument that is not a Tensor
    (a NumPy/CuPy array, a number, None) becomes a constant whose `.data` is the object itself, so
    forward receives it as it is, as in torch (an array's own `.data` attribute is a memoryview)."""
    for t in inputs:
        if not isinstance(t, _Tensor):
            inputs = tuple([a if isinstance(a, _Tensor) else _wrap(a, False, None) for a in inputs])
            break
    return Function.apply.__func__(cls, *inputs, **kwargs)


def _apply_multi(ctx, inputs, outs):
    """The multi-output branch of Function.apply: one Tensor per output, all sharing the node."""
    outs = [o if _is_array(o) else _B.np.asarray(o) for o in outs]
    if _anomaly:
        for k, o in enumerate(outs):
            _check_finite(o, f"forward output {k} of {type(ctx).__name__}")
    cls = type(ctx)
    if not (_grad_enabled and any(t._rg for t in inputs)):
        return tuple(_wrap(o, False, None, _view_vc(cls, inputs, o)) for o in outs)
    ctx.inputs = inputs
    ctx.versions = tuple([t._vc[0] for t in inputs])
    ctx.epoch = _inplace_epoch
    ctx.n_out = len(outs)
    ctx.out_meta = [(o.shape, o.dtype) for o in outs]
    results = []
    marked = ctx.non_differentiable if ctx._marked else ()
    for k, o in enumerate(outs):
        # As in torch, outputs marked non-differentiable and integer/bool outputs do not require grad.
        t = _wrap(o, o.dtype.kind == "f" and not any(o is a for a in marked), ctx, _view_vc(cls, inputs, o))
        if not t._rg:
            t.grad_fn = None
        t._oi = k
        results.append(t)
    if cls.is_view:  # (unbind) the outputs share input 0's version counter: a write to it changes them all
        vc = inputs[0]._vc
        ctx.out_vcs = [t._vc for t in results if t._vc is not vc]
        ctx.out_vc, ctx.out_version = vc, vc[0]
    else:
        ctx.out_vcs = [t._vc for t in results]
        ctx.out_vc, ctx.out_version = results[0]._vc, 0
    return tuple(results)


_is_array = _B.is_array
_ndarray = _B.np.ndarray
_new = object.__new__
_wrap = None  # set by tensor.py (avoids an import cycle)
_Tensor = None


def _non_tensor_gradient_error(node, t):
    """torch's error for a custom Function whose backward returned a gradient for a non-Tensor argument."""
    k = next(i for i, x in enumerate(node.__dict__["inputs"]) if x is t)
    return RuntimeError(
        f"function {type(node).__name__}Backward returned a gradient different than None at position {k + 1}, but "
        f"the corresponding forward input was not a Variable (it was {type(t.data).__name__} "
        f"{repr(t.data)[:60]}, not a Tensor); {type(node).__name__}.backward must return None for it")


def _released_error(node):
    # (torch frees only saved tensors, so it allows a second backward through ops that saved nothing, such
    # as (x + 1).sum(); minigrad frees every edge of the graph too: README, "Bounded memory")
    return RuntimeError(
        f"backward: trying to backward through {type(node).__name__} a second time, but the graph was freed "
        "by the first backward (its edges, and the arrays its ops saved, are released as it runs). Pass "
        "retain_graph=True to the first backward() if you need to backward through the graph again. "
        "If a tensor from an earlier "
        "iteration reaches this loss (typically an RNN hidden state carried across batches), cut it "
        "from the old graph after each backward with detach() (models.detach_state(state) for "
        "recurrent states): retain_graph=True would only make every step backpropagate through all "
        "earlier ones, with memory and time growing without bound."
    )


class GraphGrowthWarning(UserWarning):
    """backward(retain_graph=True) keeps going through the same old nodes in an ever larger graph."""


# After this many retain_graph backwards that each reached the same node through a larger
# graph than the previous one, warn: a carried tensor (RNN state) is missing its detach().
_GROWTH_WARN_AFTER = 3


def _note_retained_backward(nodes) -> None:
    """Watch backward(retain_graph=True) for the "state carried without detach()" pattern.

    A graph kept alive by retain_graph=True is normally backpropagated again as it is
    (several losses over one trunk). When instead each new backward reaches nodes that an
    earlier backward already went through *and* the graph is larger than last time, a
    tensor from an earlier step (a hidden state) is being fed into the next step without
    detach(): the graph, the memory it holds and each backward's time grow with every
    step. Each node remembers [times seen in a growing graph, size of the graph it was
    last seen in]; this costs one dict lookup per node, on the retain_graph path only.
    """
    n = len(nodes)
    worst = 0
    for node in nodes:
        nd = node.__dict__
        seen = nd.get("_growth")
        if seen is None:
            nd["_growth"] = [0, n]
            continue
        if n > seen[1]:
            seen[0] += 1
        seen[1] = n
        if seen[0] > worst:
            worst = seen[0]
    if worst >= _GROWTH_WARN_AFTER:
        warnings.warn(
            f"backward(retain_graph=True): the graph keeps growing ({n} nodes now) and this backward went "
            f"again through nodes already backpropagated {worst} times: a tensor from an earlier "
            "iteration (typically an RNN hidden state carried across batches) is used without detach(). "
            "Memory and backward time grow with every step. Cut the carried state after each backward "
            "with state = state.detach() (models.detach_state(state) for (h, c) tuples) and drop "
            "retain_graph=True.", GraphGrowthWarning, stacklevel=_user_stacklevel())


def _user_stacklevel() -> int:
    """warnings.warn's stacklevel, for its caller, of the first frame outside minigrad (the user's call)."""
    import os
    import sys

    package = os.path.dirname(__file__) + os.sep
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        level, frame = level + 1, frame.f_back
    return level


def _uses_memory_of(node, arr) -> bool:
    """Did `node` save an array that may share memory with `arr`? (only then can a write hurt it)"""
    xp = _B.get_array_module(arr)
    return any(_is_array(s) and xp.may_share_memory(s, arr) for s in node.__dict__.get("saved", ()))


def refuse_overlapping_write(x, op: str):
    """Refuse an in-place write into x when several of its elements are one memory location (a zero stride
    over a dim of size > 1: expand()'s result), as torch does. NumPy marks such views read-only, but CuPy
    has no read-only flag: the write would go through, one of the values winning at each location."""
    a = x.data
    if any(s == 0 and n > 1 for n, s in zip(a.shape, a.strides)) and a.size:
        raise RuntimeError(f"{op}: cannot write into {x.dtype}{list(x.shape)} on {x.device} in place: more than "
                           "one element refers to the same memory location (e.g. the result of expand()); clone() "
                           "it first, or use the out-of-place form")
    if op not in _ORDER_FREE_WRITES and _overlaps_itself(a):
        # torch goes through such elements one after another (x.unfold(0, 2, 1).add_(1) adds 2 to the
        # shared ones); minigrad computes the result first and writes it once: refuse rather than differ.
        raise RuntimeError(f"{op}: cannot write into {x.dtype}{list(x.shape)} on {x.device} in place: some of its "
                           "elements are the same memory location (overlapping windows of unfold() or as_strided()), "
                           "so the result would depend on the order they are visited; clone() it first, or use the "
                           "out-of-place form (fill_ and zero_ are allowed: every element gets the same value)")


_ORDER_FREE_WRITES = ("fill_", "zero_")  # in-place ops whose result cannot depend on the order of elements


def _overlaps_itself(a) -> bool:
    """Do two elements of array `a` sit at the same memory location (strides > 0: unfold, as_strided)?

    Quick test first: with dims sorted by |stride|, each dim stepping past everything the smaller
    ones reach means no overlap (every ordinary array). Otherwise compare the elements' offsets.
    """
    if a.size <= 1:
        return False
    reach = 0  # bytes spanned by the dims with smaller strides
    for step, n in sorted((abs(s), n) for n, s in zip(a.shape, a.strides) if n > 1):
        if step < reach + a.itemsize:
            break
        reach += (n - 1) * step
    else:
        return False
    np = _B.np  # host-side bookkeeping of offsets (the shape and strides only, not the data)
    offsets = np.zeros(1, dtype=np.int64)
    for n, s in zip(a.shape, a.strides):
        offsets = (offsets[:, None] + np.arange(n, dtype=np.int64) * s).ravel()
    return np.unique(offsets).size < offsets.size


def record_inplace(x, op: str, fn):
    """x <- fn(x) in place, recorded in the graph (x.relu_(), x[i] = v, x.masked_fill_(...)); returns x.

    Graph edges point at Tensor objects, so x cannot simply be overwritten: the node that
    made x would then see the new values. Instead, as torch does in effect:
      1. a shadow tensor with a copy of x's old values takes x's old place in the graph
         (it is what made x's node produce; backward may need those values);
      2. fn is applied to the shadow, out of place, recording its node as usual;
      3. its values are written into x's memory, and x becomes that node's output.
    Nodes that used x *before* the write still hold the Tensor x, whose grad_fn is now the
    new node. The new node records `inplace_from` (the version x had) and `shadow` (the
    tensor that stands for x's old value), so backward sends those nodes' gradients to the
    shadow, where they belong (`_resolve_inputs`). `retain_grad()` follows x to its new
    value; hooks stay with the old one (as in torch).

    x may be a view (of a view ...) of a non-leaf base, as in d2l's `X.reshape(-1, n)[~mask] = v`.
    Its bases change too, so, as torch does, step 3 is recorded as an in-place write into the
    tensor that owns the memory (`root[where x lies] = fn's result`, torch's CopySlices), and x
    and the views between become views of that root made after the write (their gradients flow
    through it, so retain_grad() and hooks see torch's): all of them are then correct to use
    afterwards. Any other view of that memory made
    *before* the write, and used after it, still describes the old values: where the write
    overlapped it, backward refuses (torch re-bases such views; see `_later_write`). Refused
    at once, as in torch: a view of a leaf that requires grad, and (a view of) an output of a
    multi-output view op (unbind, split, chunk).

    x may also be a plain tensor (no grad) that receives a value requiring grad, as in
    `out = mg.zeros(T, B, H); out[t] = h`: x then joins the graph the same way, its shadow
    a constant. If such an x is a view of another tensor the write is refused (nothing
    links x to that tensor, which would change without a graph).

    Args:
        x: a non-leaf Tensor in a graph, or a tensor that does not require grad (a leaf that
            requires grad must be refused by the caller, as torch does).
        op: the in-place op's name (e.g. "relu_"), for messages.
        fn: the out-of-place op, Tensor -> Tensor of the same shape and dtype.
    """
    refuse_overlapping_write(x, op)
    node = x.grad_fn
    xp = _B.get_array_module(x.data)
    bases = []  # when x is a view in the graph: the tensors whose memory it views, nearest first
    if node is None:
        if x.data.base is not None:  # maybe a view of another tensor, which would change without its graph
            raise RuntimeError(
                f"{op}: writing a value that requires grad into a {x.dtype}{list(x.shape)} tensor that may be a "
                "view of another tensor is not supported (that tensor would change without a graph); clone() it "
                "first, or build the result out of place (e.g. mg.stack)")
    elif node.is_view:
        bases = _bases_for_write(x, op)
    else:
        for parent in node.__dict__.get("inputs", ()):
            if xp.may_share_memory(x.data, parent.data):  # an op that returned its input's memory undeclared
                raise RuntimeError(
                    f"{op}: a {x.dtype}{list(x.shape)} tensor that shares memory with the input of "
                    f"{type(node).__name__} that made it (without declaring it a view) cannot be changed in "
                    "place in a recorded graph; use the out-of-place form, or clone() it first")
    old = _wrap(x.data.copy(), node is not None, node)  # step 1: x before the write, in x's old place
    old._oi = x._oi
    src = _stale_or(old, x, op) if bases else old  # what fn reads
    y = fn(src)  # step 2
    if y.grad_fn is None and y.dtype == x.dtype:  # fn gave a constant (a fill, a random draw): link it to
        from .ops.elementwise import where  # old, whose gradient is then 0 (ops import this module)

        y = where(_wrap(xp.ones((), dtype=bool)), y, src)
    if y.shape != x.shape or y.dtype != x.dtype:
        raise ValueError(f"{op}: the result would be {y.dtype}{list(y.shape)}, but {x.dtype}{list(x.shape)} keeps "
                         "its shape and dtype in place (the other arguments must broadcast to it)")
    olds = [(x, old)]  # the old values of x and of the tensors on its chain of views
    for b in bases:
        b_old = _wrap(b.data.copy(), True, b.grad_fn)
        b_old._oi = b._oi
        olds.append((b, b_old))
    try:  # step 3
        x.data[...] = y.data
    except ValueError as e:  # e.g. the read-only result of expand()
        raise RuntimeError(f"{op}: cannot write into a {x.dtype}{list(x.shape)} tensor in place ({e}); "
                           "use the out-of-place form") from None
    x._bump()
    if not bases:
        _take_over(x, y.grad_fn, old)
        return x
    # As torch: the tensor owning the memory records the write (root[where x lies] = y, CopySlices), and x
    # and the views between become views of it made now, so their gradients all flow through it.
    from .ops.shape import GetItem, SetItem

    root, root_old = olds.pop()
    written = SetItem.apply(root_old, y, index=_positions_in(root.data, x.data)).grad_fn
    written.region = x.data  # the memory this write changed (for `_later_write`)
    _take_over(root, written, root_old)
    for t, t_old in olds:
        _take_over(t, GetItem.apply(root, index=_positions_in(root.data, t.data), basic=True).grad_fn, t_old)
    return x


def _take_over(x, new, old):
    """Make x (just written in place) the output of node `new`, with `old` standing for its value before."""
    new.out_vc, new.out_version = x._vc, x._vc[0]  # later writes to x are writes to this output
    new.inplace_from = x._vc[0] - 1  # nodes that used x at this version or earlier used the old value,
    new.shadow = old  # ... which is this tensor
    node = x.grad_fn
    retained = node.__dict__.get("retained_output") if node is not None else None
    keeps_grad = bool(retained) and any(r() is x for r in retained)
    if keeps_grad:
        retained[:] = [r for r in retained if r() is not x]
    x.grad_fn, x._oi, x._rg = new, 0, True
    if keeps_grad:
        x.retain_grad()


def _stale_or(old, x, op):
    """`old` (x's value before a write through it, x a view), or, where a recorded write through another
    view changed x's memory since x's graph was made, a stand-in whose gradient backward refuses."""
    w = _later_write(x.grad_fn, x.data, x._vc, x._vc[0])
    if w is None:
        return old
    return _wrap(old.data, True, _StaleView(
        f"{op} wrote through a view (made by {type(x.grad_fn).__name__}) after {type(w).__name__} had changed "
        "the memory it shares with its base (through another view, or the base itself); the graph describes "
        "the view's values from before that change, so its gradient would be wrong. Make the view again after "
        "that change (torch re-bases such views; minigrad refuses rather than give a wrong gradient)"))


class _StaleView(Function):
    """Where record_inplace read a view whose graph no longer describes its values: backward refuses here.

    It stands in for the old value of such a view (a write through another view changed it
    first), so the write itself goes through and only a gradient that needs this edge is
    refused (in backward's first pass, by `_check_view_not_stale`, before anything runs).
    """

    is_view = True  # (so that the first pass of backward looks at the edges to it)

    def __init__(self, message: str):
        self.message = message
        self.inputs = self.versions = ()

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - refused before it could run
        raise RuntimeError(f"backward: {ctx.message}")


def _bases_for_write(x, op: str) -> list:
    """The tensors whose memory the view x views (views of views, up to the one owning it), nearest first.

    Empty when x owns its memory after all (a view op that had to copy, e.g. reshape of a
    transpose) or the graph behind x was already freed by a backward (nothing left to keep
    right). Refuses, as torch does, a view of a leaf that requires grad and (a view of) an
    output of an op that returns several views.
    """
    bases, t, fn = [], x, x.grad_fn
    xp = _B.get_array_module(x.data)
    while True:
        nd = fn.__dict__
        if fn.n_out > 1 or "multi_view" in nd:
            raise RuntimeError(
                f"{op}: the {x.dtype}{list(x.shape)} tensor is {'an output' if t is x else 'a view of an output'} of "
                f"{nd.get('multi_view') or type(fn).__name__}, an op that returns several views of its input; such "
                "views cannot be modified in place in a recorded graph (as in torch). Use the out-of-place form, "
                "or clone() the view first")
        inputs = nd.get("inputs")
        if not inputs:
            return []
        parent = inputs[0]
        if parent._vc is not x._vc or not xp.may_share_memory(x.data, parent.data):
            return bases  # the memory is t's own (the op copied)
        bases.append(parent)
        t, fn = parent, parent.grad_fn
        if fn is None:
            raise RuntimeError(
                f"{op}: a view of a leaf tensor that requires grad cannot be modified in place while grad mode "
                "is on (torch: a view of a leaf Variable that requires grad is being used in an in-place "
                "operation); wrap the update in `with mg.no_grad():`, or clone() the view first")
        if not fn.is_view:
            return bases


def _positions_in(base, view):
    """Where each element of the array `view` lies in the array `base` whose memory it views: a tuple
    of index arrays of view's shape and `...` (for base[index]), or Ellipsis when base is 0-d.

    Host-side bookkeeping from the addresses, shapes and strides only (not the data).
    """
    if base.ndim == 0:
        return Ellipsis
    np = _B.np

    def offsets(a):  # the byte offset of each element of a from a's first element, in a's shape
        out = np.zeros((), dtype=np.int64)
        for n, s in zip(a.shape, a.strides):
            out = out[..., None] + np.arange(n, dtype=np.int64) * s
        return out

    at = offsets(view) + (_B.data_address(view) - _B.data_address(base))
    if base.flags.c_contiguous:
        flat = at // base.itemsize
    else:  # find each address among base's elements
        where = offsets(base).ravel()
        order = np.argsort(where, kind="stable")
        flat = order[np.searchsorted(where[order], at)]
    xp = _B.get_array_module(base)
    # (the trailing `...` keeps base[index] an array when view is 0-d; NumPy would give a scalar)
    return tuple(xp.asarray(i) for i in np.unravel_index(flat, base.shape)) + (Ellipsis,)


def _view_root(fn, data, vc):
    """The tensor whose memory `data` (an array made by the view node fn) is a view of, following views of views; None when it is not known (a freed graph, or data
    is not a view of the memory counted by vc)."""
    root = None
    while True:
        fd = fn.__dict__
        if not fn.is_view:
            return root
        inputs = fd.get("inputs")
        if not inputs:
            return None
        parent = inputs[0]
        if parent._vc is not vc or not _B.get_array_module(data).may_share_memory(data, parent.data):
            return root
        root, fn = parent, parent.grad_fn
        if fn is None:
            return root


def _later_write(fn, data, vc, v):
    """The recorded in-place node that changed the view `data` (described by node fn) after fn made it
    and before version v of the memory, or None.

    Every recorded write into that memory is a write into the tensor owning it (record_inplace
    records a write through a view as one into its base, with the `region` it changed), so the
    writes are that tensor's chain of in-place nodes, newest first. A write counts when its
    region overlaps data's memory (conservatively: may_share_memory's bounds).
    """
    made_at = fn.__dict__.get("out_version")
    if made_at is None or v == made_at:
        return None
    root = _view_root(fn, data, vc)
    if root is None:
        return None
    xp = _B.get_array_module(data)
    w = root.grad_fn
    while w is not None:
        wd = w.__dict__
        if wd.get("out_vc") is not vc or "inplace_from" not in wd:
            return None
        p = wd["inplace_from"]  # the version before this write
        if p < made_at:
            return None
        region = wd.get("region")
        if p < v and (region is None or xp.may_share_memory(region, data)):
            return w
        shadow = wd.get("shadow")
        w = shadow.grad_fn if shadow is not None else None
    return None


def _resolve_inputs(node):
    """Point node's edges at the tensors it really used, where `record_inplace` moved x on since.

    A node that used x at version v, before an in-place op made x the output of a later
    node (whose `inplace_from` >= v), used x's old value: its gradient goes to that node's
    `shadow` (following the chain when x was written several times). Called once per node
    in the first pass of backward, before any node is released; afterwards the node's
    inputs are the resolved tensors (and its versions theirs), so a second backward
    (retain_graph=True) finds nothing left to resolve.
    """
    nd = node.__dict__
    inputs, versions = list(nd["inputs"]), list(nd["versions"])
    for k, (t, v) in enumerate(zip(inputs, versions)):
        vc = t._vc  # versions count writes to x's memory: only x's own in-place nodes may resolve it
        if not _written_after(t.grad_fn, vc, v):
            continue
        if _uses_memory_of(node, t.data):  # the node saved x's memory, which the write changed
            _check_versions(node)
        fn, data = t.grad_fn, t.data
        while _written_after(fn, vc, v):
            t = fn.shadow
            fn = t.grad_fn
        if fn is not None and fn.is_view and fn.__dict__.get("out_vc") is vc:
            # t is a view (its old value a copy now): was that value already stale at version v?
            w = _later_write(fn, data, vc, v)
            if w is not None:
                _refuse_stale_view(node, fn, w)
        inputs[k], versions[k] = t, t._vc[0]
    nd["inputs"], nd["versions"] = tuple(inputs), tuple(versions)


def _check_view_not_stale(node, t, v):
    """Refuse when `node` used the view t at version v after a recorded in-place op changed its memory.

    t's graph edge still describes t's values from when the view was made (or from t's own
    last in-place write), so the gradient would skip the change: x = a * 1; v = x[0];
    x.mul_(2); v.sum() would give a.grad 1, not 2. The change may come from the base itself
    or from a write through another view of the same memory (`_later_write`). torch re-bases
    such a view onto the new base; minigrad refuses. Writes made without a graph (an
    optimizer step on a parameter) record nothing to skip, and views are linear in their
    base, so those stay allowed.
    """
    fn = t.grad_fn
    if fn.__class__ is _StaleView:
        raise RuntimeError(f"backward: {fn.message}")
    if fn.__dict__.get("out_vc") is not t._vc:
        return  # t is record_inplace's copy of a view's old value: checked at the write and in _resolve_inputs
    w = _later_write(fn, t.data, t._vc, v)
    if w is not None:
        _refuse_stale_view(node, fn, w)


def _refuse_stale_view(node, fn, w):
    raise RuntimeError(
        f"backward: {type(node).__name__} used a view (made by {type(fn).__name__}) of a tensor that was "
        f"changed in place by {type(w).__name__} after the view was made (directly, or through another view of the "
        "same memory); the view's gradient would skip that change. Make the view again after the in-place op "
        "(torch re-bases such views; minigrad refuses rather than give a wrong gradient)")


def _written_after(fn, vc, v) -> bool:
    """Is fn an in-place node (record_inplace) that wrote the memory counted by vc after version v?"""
    if fn is None:
        return False
    fd = fn.__dict__
    return fd.get("out_vc") is vc and fd.get("inplace_from", -1) >= v


def _check_versions(node):
    """Refuse to backpropagate through saved values that were changed in place since forward."""
    for t, v in zip(node.inputs, node.versions):
        if t._vc[0] != v and _uses_memory_of(node, t.data):
            raise RuntimeError(
                f"backward: an input of {type(node).__name__} (shape {tuple(t.shape)}) was modified "
                f"in place after the op used it: it was at version {v}, it is now at version "
                f"{t._vc[0]}. Its gradient would be wrong. Compute the loss again after the "
                "in-place change (e.g. after optimizer.step()), or clone() the tensor before changing it."
            )
    changed = node.out_vc[0] != node.out_version or (node.n_out > 1 and any(vc[0] for vc in node.out_vcs))
    if changed and (node.saves_output or node.n_out > 1):
        why = (f"{type(node).__name__} saved it for backward, so its gradient would be wrong" if node.saves_output
               else "the outputs of a multi-output op (unbind, split, ...) cannot be changed in place before "
                    "backward, nor can the tensor that unbind's outputs are views of, as in torch")
        raise RuntimeError(
            f"backward: an output of {type(node).__name__} was modified in place after it was computed "
            f"({why}). clone() it before modifying."
        )


# ---------------------------------------------------------------- tensor hooks
class RemovableHandle:
    """What `Tensor.register_hook` returns: `.remove()` unregisters that hook (as in torch)."""

    _ids = itertools.count()

    def __init__(self, hooks: dict, hook):
        self.id = next(RemovableHandle._ids)
        self._hooks = hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):  # `with module.register_forward_hook(fn):` removes the hook at the end, as torch
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


# Hooks of leaf tensors: id(tensor) -> (weak reference, {handle id: hook}). Keyed by id, not by
# the tensor, because Tensor's == is elementwise; the weak reference's callback drops the entry.
_leaf_hooks: dict = {}


def register_hook(t, hook) -> RemovableHandle:
    """Tensor.register_hook: hook(grad) runs each time the gradient with respect to `t` is computed."""
    if not callable(hook):
        raise TypeError(f"register_hook: expected a callable hook(grad), got {type(hook).__name__}")
    if not t.requires_grad:
        raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
    node = t.grad_fn
    if node is not None:  # a non-leaf: the hooks live on the node that made it, per output
        if "inputs" not in node.__dict__:
            raise _released_error(node)
        return RemovableHandle(node.__dict__.setdefault("tensor_hooks", {}).setdefault(t._oi, {}), hook)
    return RemovableHandle(_hooks_of(_leaf_hooks, t), hook)


def _hooks_of(table: dict, t) -> dict:
    """The {handle id: hook} dict of leaf `t` in `table` (made on first use; dropped when t dies)."""
    key = id(t)
    entry = table.get(key)
    if entry is None or entry[0]() is not t:
        entry = table[key] = (weakref.ref(t, lambda _, key=key: table.pop(key, None)), {})
    return entry[1]


# Tensor.register_post_accumulate_grad_hook: id(leaf) -> (weak reference, {handle id: hook(tensor)}).
_post_accumulate_hooks: dict = {}


def register_post_accumulate_grad_hook(t, hook) -> RemovableHandle:
    """hook(t) runs after backward has added a gradient to leaf t's `.grad` (torch 2.x's API)."""
    if not callable(hook):
        raise TypeError("register_post_accumulate_grad_hook: expected a callable hook(tensor), "
                        f"got {type(hook).__name__}")
    if not t.requires_grad:
        raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a tensor that "
                           "does not require grad")
    if t.grad_fn is not None:
        raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
                           "registered on non-leaf tensors (they run after .grad is accumulated, which "
                           "only leaves do)")
    return RemovableHandle(_hooks_of(_post_accumulate_hooks, t), hook)


def _run_post_accumulate_hooks(t) -> None:
    """Call leaf t's post-accumulate-grad hooks, in registration order, with t itself."""
    entry = _post_accumulate_hooks.get(id(t))
    if entry is None or entry[0]() is not t:
        return
    for hook in list(entry[1].values()):
        if hook(t) is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: a post accumulate grad hook must return "
                               "None (it may read or change t.grad, or t itself under no_grad())")


def _run_hooks(hooks: dict, g, t_shape):
    """Call each hook on (a copy of) g in registration order; a returned Tensor replaces g."""
    if g.__class__ is _RowSparse:
        raise RuntimeError("register_hook: hooks on tensors with sparse gradients (Embedding(sparse=True)) "
                           "are not supported")
    for hook in list(hooks.values()):
        # A copy: g may be shared with another branch's gradient, and a hook may write into its argument.
        out = hook(_wrap(g.copy(), False, None))
        if out is None:
            continue
        if not isinstance(out, _Tensor):
            raise TypeError(f"register_hook: a hook must return None or a Tensor, got {type(out).__name__}")
        new = out.data
        if new.shape != g.shape or new.dtype != g.dtype or new.__class__ is not g.__class__:
            raise RuntimeError(
                f"register_hook: the hook returned a gradient {new.dtype}{list(new.shape)} for a tensor of "
                f"{g.dtype}{list(t_shape)} on {_B.device_of(g)}; it must keep the shape, dtype and device")
        g = new
    return g


def _run_node_hooks(node, g):
    """Apply the hooks registered on the node's outputs to their gradients (g: array, or slots)."""
    for k, hooks in node.__dict__["tensor_hooks"].items():
        if not hooks:
            continue
        if node.n_out == 1:
            g = _run_hooks(hooks, g, g.shape)
        elif g[k] is not None:
            g[k] = _run_hooks(hooks, g[k], g[k].shape)
    return g


def _leaf_gradient(t, g):
    """g after the hooks registered on leaf `t` (none: g itself)."""
    entry = _leaf_hooks.get(id(t))
    if entry is None or entry[0]() is not t or not entry[1]:
        return g
    return _run_hooks(entry[1], g, t.shape)


class _GraphRoot(Function):
    """Where a backward pass starts: a node whose inputs are the tensors it starts from.

    Its backward returns their given gradients, so one root (loss.backward()), several
    (autograd.backward([a, b])) and a leaf root are all the same case for the engine
    (torch's engine starts from a GraphRoot node too).
    """

    def __init__(self, roots, grads):
        self.inputs = tuple(roots)
        self.grads = tuple(grads)
        self.epoch = _inplace_epoch  # made now: nothing to resolve or version-check

    @staticmethod
    def backward(ctx, grad):
        return ctx.grads


_NEVER = float("inf")  # a dependency count that never reaches 0: a node that must not run
# Is the backward pass now running restricted to `inputs` (autograd.grad, backward(inputs=...))? A Function whose
# backward runs a backward of its own (utils.checkpoint) cannot honour that restriction and checks this.
_restricted_pass = False


def run_backward(roots, grads, retain_graph: bool = False, inputs=None, capture: bool = False):
    """Backpropagate `grads` (backend arrays, one per root) from the tensors `roots` into the leaves' `.grad`.

    Without retain_graph, every node's saved arrays and edges are freed as it runs, so no
    graph survives the call (nothing forms a reference cycle: plain reference counting
    frees it once the root tensor goes). With retain_graph=True, repeated backwards over a
    graph that keeps growing raise a `GraphGrowthWarning` (a carried state lacking detach()).

    `inputs` (for `backward(inputs=...)` and `autograd.grad`) restricts the pass to the
    gradients of those tensors: only nodes with a path to one of them run (a non-leaf input's
    own node receives its gradient but does not run), and no other leaf gets a gradient.
    With `capture=True` (autograd.grad) nothing is accumulated into the inputs' `.grad`;
    instead the function returns their gradients, a list of arrays (None where none arrived).
    Hooks and retain_grad() on the way behave as in a plain backward, as in torch.
    """
    global _restricted_pass
    root = _GraphRoot(roots, grads)
    pruned = inputs is not None
    outer_restricted, _restricted_pass = _restricted_pass, pruned  # (read by utils.checkpoint's reentrant backward)
    # stops: {node: [output indices]} for the nodes that made non-leaf inputs (their gradient is read there)
    stops = _producers(inputs) if pruned else {}

    # Pass 1: count, for each node, how many consumers will send it a gradient.
    deps = {root: 0}
    stack = [root]
    epoch = _inplace_epoch
    while stack:
        node = stack.pop()
        if node.epoch != epoch:  # an in-place op ran since this node was recorded
            _resolve_inputs(node)
        for k, t in enumerate(node.inputs):
            fn = t.grad_fn
            if fn is not None:
                if fn.epoch != epoch and fn.is_view:  # a view made before some in-place op: still its base's?
                    versions = node.__dict__.get("versions")
                    _check_view_not_stale(node, t, t._vc[0] if versions is None else versions[k])
                if fn in deps:
                    deps[fn] += 1
                else:
                    deps[fn] = 1
                    if "inputs" in fn.__dict__:
                        stack.append(fn)
                    elif fn not in stops:  # (an input's node need not run: it may have been freed)
                        raise _released_error(fn)

    if retain_graph:
        _note_retained_backward(deps)

    if pruned:
        # The nodes that lead to a wanted input run; the others wait forever (never run).
        runs = _nodes_leading_to(root, inputs, stops)
        for node in deps:
            if node not in runs and node not in stops:
                deps[node] = _NEVER
        wanted_leaves = {id(t) for t in inputs if t.grad_fn is None}
        captured = {}  # id(leaf) or (node, output index) -> gradient array

    # Pass 2: Kahn's algorithm: a node runs once all its consumers have sent their gradient.
    grads = {root: ()}  # (the root's backward ignores its gradient argument)
    leaf_grads = {}  # id(leaf) -> [leaf, summed gradient, whether we own that array]
    ready = [root] if not pruned or root in runs else []
    anomaly = _anomaly
    while ready:
        node = ready.pop()
        g = grads.pop(node, None)
        nd = node.__dict__
        if g is None:
            if pruned and node not in runs:  # made an input that gets no gradient; nothing to release
                continue
            # Every consumer returned None (a zero gradient): skip this backward, but still
            # release the edges to its inputs, or nodes upstream would wait for them forever.
            in_grads = (None,) * len(nd["inputs"])
        else:
            if "tensor_hooks" in nd:  # before retain_grad stores the gradient (torch's order)
                g = _run_node_hooks(node, g)
            if "retained_output" in nd:
                for ref in nd["retained_output"]:
                    t = ref()
                    # a multi-output node holds one gradient slot per output (None: none arrived)
                    gt = None if t is None else (g if node.n_out == 1 else g[t._oi])
                    if gt is not None:
                        _accumulate_leaf(t, gt)
            if pruned:
                if capture and node in stops:  # it made some of the inputs: their gradients are here
                    for k in stops[node]:
                        captured[(node, k)] = g if node.n_out == 1 else g[k]
                if node not in runs:  # nothing wanted lies further back: do not run (or free) it
                    continue
            if nd["epoch"] != epoch:
                _check_versions(node)
            try:
                if node.n_out == 1:
                    in_grads = node.backward(node, g)
                elif node.materialize_grads:  # outputs that never reached the loss get a zero gradient
                    xp = _B.get_array_module(next(x for x in g if x is not None))
                    in_grads = node.backward(node, *[xp.zeros(s, d) if x is None else x
                                                      for x, (s, d) in zip(g, node.out_meta)])
                else:  # ctx.set_materialize_grads(False): None for those, as in torch
                    in_grads = node.backward(node, *g)
            except MemoryError as e:
                raise _oom(type(node), "backward", nd["inputs"], e) from None
            except AttributeError as e:
                hint = _tensor_method_on_array(type(node), "backward", e)
                if hint:
                    raise AttributeError(hint) from e
                raise
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if len(in_grads) > len(nd["inputs"]) and all(x is None for x in in_grads[len(nd["inputs"]):]):
                in_grads = in_grads[:len(nd["inputs"])]  # trailing Nones for optional arguments left out (torch)
            if len(in_grads) != len(nd["inputs"]):
                raise RuntimeError(
                    f"backward: {type(node).__name__}.backward returned {len(in_grads)} gradient(s) for "
                    f"{len(nd['inputs'])} input(s); return one per input (None where there is none)")
        for t, gi in zip(nd["inputs"], in_grads):
            if gi is None:
                fn = t.grad_fn
                if fn is not None:  # the edge delivered nothing, but it is delivered
                    deps[fn] -= 1
                    if deps[fn] == 0:
                        ready.append(fn)
                continue
            if not t._rg:  # (the requires_grad slot, read directly: once per edge of the graph)
                if not _is_array(t.data):  # a non-Tensor argument (MulConstant.apply(x, 2.0)): torch refuses
                    raise _non_tensor_gradient_error(node, t)
                continue
            if gi.__class__ is _Tensor:  # a common slip in a custom Function: backward works on arrays
                raise TypeError(
                    f"backward: {type(node).__name__}.backward returned a Tensor; a Function's backward "
                    "takes and returns backend arrays (NumPy/CuPy): return `.data` of it, or build it from arrays")
            data = t.data
            if gi.shape != data.shape:
                gi = _fix_shape(node, t, gi)
            if gi.dtype is not data.dtype and gi.dtype != data.dtype:
                raise RuntimeError(
                    f"backward: {type(node).__name__} returned a {gi.dtype} gradient for a "
                    f"{data.dtype} input; gradients must have their input's dtype"
                )
            if anomaly:
                _check_finite(gi, f"gradient computed by {type(node).__name__}.backward")
            fn = t.grad_fn
            if fn is None:  # a leaf: sum its contributions, store once at the end
                entry = leaf_grads.get(id(t))
                if entry is None:
                    leaf_grads[id(t)] = [t, gi, False]
                else:
                    entry[1] = entry[1] + gi
                    entry[2] = True
            else:
                # Out of place: `gi` may alias another gradient (add's backward returns g twice).
                if fn.n_out == 1:
                    prev = grads.get(fn)
                    grads[fn] = gi if prev is None else prev + gi
                else:
                    slots = grads.get(fn)
                    if slots is None:
                        slots = grads[fn] = [None] * fn.n_out
                    k = t._oi
                    slots[k] = gi if slots[k] is None else slots[k] + gi
                deps[fn] -= 1
                if deps[fn] == 0:
                    ready.append(fn)
        if not retain_graph:
            # Free saved arrays and graph edges now; a second backward raises _released_error.
            kept = nd.get("retained_output")
            nd.clear()
            if kept:  # (tensor.retains_grad stays True after backward, as in torch)
                nd["retained_output"] = kept
    for t, g, owned in leaf_grads.values():
        if pruned and id(t) not in wanted_leaves:
            continue
        if _leaf_hooks:
            hooked = _leaf_gradient(t, g)
            g, owned = hooked, owned and hooked is g
        if capture:
            captured[id(t)] = g
            continue
        _accumulate_leaf(t, g, owned)
        if _post_accumulate_hooks:
            _run_post_accumulate_hooks(t)
    _restricted_pass = outer_restricted
    if capture:
        return [captured.get(id(t) if t.grad_fn is None else (t.grad_fn, t._oi)) for t in inputs]
    return None


def _producers(inputs) -> dict:
    """{node: [output indices]}: the nodes whose outputs are the non-leaf tensors among `inputs`."""
    stops = {}
    for t in inputs:
        if t.grad_fn is not None and t._oi not in stops.setdefault(t.grad_fn, []):
            stops[t.grad_fn].append(t._oi)
    return stops


def _nodes_leading_to(root, inputs, stops) -> set:
    """The nodes of root's graph with a path to one of `inputs`: the ones backward must run.

    A node made a non-leaf input (it is in `stops`) receives that input's gradient but
    runs only if it also leads to another input further back.
    """
    leaves = {id(t) for t in inputs if t.grad_fn is None}

    def edges(node):  # (a freed input's node has none left)
        return node.__dict__.get("inputs", ())

    # Depth-first, each node decided after all of its inputs' nodes (the graph is acyclic).
    runs, done, stack = set(), set(), [root]
    while stack:
        node = stack[-1]
        todo = [t.grad_fn for t in edges(node) if t.grad_fn is not None and t.grad_fn not in done]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        if node in done:
            continue
        done.add(node)
        for t in edges(node):
            fn = t.grad_fn
            if (fn is None and id(t) in leaves) or fn in runs or (fn in stops and t._oi in stops[fn]):
                runs.add(node)
                break
    return runs


def _fix_shape(node, t, gi):
    """Undo broadcasting of input `t`, and insist the result has t's shape."""
    shape = t.data.shape
    if hasattr(gi, "sum_to_shape"):  # sparse gradients carry their own shape logic
        return gi.sum_to_shape(shape)
    try:
        out = sum_to(gi, shape)
    except ValueError:  # NumPy's / CuPy's shape errors (reshape, an axis out of range): not a broadcast
        out = None      # (anything else, e.g. out of memory, is raised as it is)
    if out is None or out.shape != shape:
        raise RuntimeError(
            f"backward: {type(node).__name__} returned a gradient of shape {tuple(gi.shape)} for an "
            f"input of shape {tuple(shape)}, which is not a broadcast of it"
        )
    return out


def _accumulate_leaf(t, g, owned=False):
    """t.grad += g (torch semantics: gradients accumulate across backward calls).

    `owned` says `g` is a fresh array nobody else holds (so it can be stored as is).
    """
    if g.__class__ is _RowSparse or t.grad.__class__ is _RowSparse:
        t.grad = _sparse_accumulate(t.grad, g)  # Embedding(sparse=True): see minigrad/sparse.py
        return
    if t.grad is None:
        # Copy: `g` may alias a gradient handed to another leaf, and optimizers
        # and clip_grad_norm_ scale .grad in place.
        if not owned and hasattr(g, "copy"):
            g = g.copy()
        t.grad = _wrap(g, False, None)
    else:
        old = t.grad
        if (not isinstance(old, _Tensor) or old.data.shape != t.data.shape or old.dtype != t.dtype
                or _B.device_of(old.data) != _B.device_of(t.data)):
            # a .grad set by hand that does not fit (torch refuses such an assignment): no silent broadcast or
            # upcast, and no bare NumPy/CuPy error for a gradient on another device
            what = (f"of type {type(old).__name__}" if not isinstance(old, _Tensor)
                    else f"{old.dtype}{list(old.shape)} on {old.device}")
            raise RuntimeError(f"backward: cannot accumulate the gradient into .grad of a {t.dtype}{list(t.shape)} "
                               f"tensor on {t.device}: its .grad is {what}; a gradient must be a Tensor of its "
                               "tensor's shape, dtype and device (set .grad = None to start again)")
        # In place, as torch's AccumulateGrad: a reference to .grad taken before sees the sum. (A sparse
        # gradient object sets __array_ufunc__ = None, so `+=` falls back to its __radd__: a new array.)
        data = old.data
        if any(s == 0 and n > 1 for n, s in zip(data.shape, data.strides)):
            # an expand()ed tensor assigned to .grad by hand: NumPy refuses `+=` into it (read-only), but
            # CuPy has no read-only flag and would add into the shared elements (racing, wrong): a new array
            data = data + g
        else:
            try:
                data += g
            except ValueError:  # a read-only array (e.g. a NumPy broadcast view set as .grad)
                data = data + g
        if data is not old.data:
            t.grad = _wrap(data, False, None)
