"""torch.autograd's functional API: `grad`, `backward`, and `functional.jacobian` / `vjp` / `jvp`.

Reached as `mg.autograd.grad`, `mg.autograd.backward`, `mg.autograd.functional.jacobian`
(also `from minigrad.autograd.functional import jacobian`) and `mg.autograd.gradcheck`.
Everything here is built on the engine's `run_backward(roots, grads, inputs=..., capture=...)`:

    grad(y, x)      = run the part of the graph between y and x, return dy/dx, touch no .grad
    jacobian(f, x)  = one such pass per output element: row i of J is grad(y.flatten()[i], x)
    vjp(f, x, v)    = v^T J: one pass
    jvp(f, x, v)    = J v: computed as the full Jacobian times v (see `jvp` for the cost)

What is not here, and why: minigrad's backward rules compute on raw arrays and record no
graph, so a gradient cannot be differentiated again. `create_graph=True`, `hessian`,
`hvp`, `vhp` and `gradgradcheck` (all need that double backward) raise NotImplementedError.
"""
from __future__ import annotations

import sys

from . import autograd as _ag
from . import backend as _B
from .tensor import Tensor, _wrap

__all__ = ["grad", "backward", "jacobian", "vjp", "jvp", "hessian", "hvp", "vhp", "gradcheck", "gradgradcheck",
           "Variable"]

_NO_DOUBLE_BACKWARD = (
    "minigrad's backward rules compute on raw arrays and record no graph, so gradients cannot be "
    "differentiated again (no double backward / higher-order gradients). For second derivatives, take "
    "central finite differences of first gradients ((grad(f(x + eps*e)) - grad(f(x - eps*e))) / (2*eps) "
    "with mg.autograd.grad, in float64); to check first derivatives use minigrad.testing.gradcheck.")


def _no_double_backward(what: str):
    return NotImplementedError(f"{what}: {_NO_DOUBLE_BACKWARD}")


# ---------------------------------------------------------------- argument checks
def _tensors(x, fn: str, what: str) -> tuple:
    """A Tensor or a sequence of Tensors, as a tuple (TypeError naming `fn` otherwise)."""
    seq = (x,) if isinstance(x, Tensor) else x
    if not isinstance(seq, (tuple, list, str, bytes)) and hasattr(seq, "__iter__"):
        seq = tuple(seq)  # any iterable, as torch: autograd.grad(loss, model.parameters())
    if not isinstance(seq, (tuple, list)):
        raise TypeError(f"{fn}: {what} must be a Tensor or a sequence of Tensors, got {type(x).__name__}")
    for i, t in enumerate(seq):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn}: all {what} have to be Tensors, but {what}[{i}] is {type(t).__name__}")
    return tuple(seq)


def _seed_grads(fn: str, outputs: tuple, grad_outputs, name: str) -> list:
    """The gradient (a backend array) to start from for each output: given, or 1 for a one-element output."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs, (tuple, list)):
        grad_outputs = (grad_outputs,)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"{fn}: got {len(grad_outputs)} {name} for {len(outputs)} output(s); "
                           "pass one per output (None for a one-element output)")
    seeds = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        label = f"{name}[{i}] for output {i}" if len(outputs) > 1 else name
        if not out.requires_grad:
            raise RuntimeError(
                f"{fn}: element {i} of the outputs does not require grad and does not have a grad_fn; "
                "did you forget requires_grad=True on the inputs, or compute it under no_grad()?")
        data = out.data
        if g is None:
            if data.size != 1:
                raise RuntimeError(
                    f"{fn}: grad can be implicitly created only for one-element (scalar) outputs; "
                    f"output {i} has shape {tuple(data.shape)}. Reduce it first (e.g. loss = y.sum()) or "
                    f"pass {label} with a gradient of shape {tuple(data.shape)}.")
            seeds.append(_B.get_array_module(data).ones(data.shape, dtype=data.dtype))
            continue
        arr = g.data if isinstance(g, Tensor) else _B.as_array(g, data.dtype, out.device)
        if arr.shape != data.shape:
            raise RuntimeError(f"{fn}: grad has shape {tuple(arr.shape)} but the tensor has shape "
                               f"{tuple(data.shape)} ({label})")
        if _B.device_of(arr) != out.device:
            raise RuntimeError(f"{fn}: grad is on {_B.device_of(arr)} but the tensor is on {out.device} "
                               f"({label})")
        seeds.append(arr if arr.dtype == data.dtype else arr.astype(data.dtype))  # torch casts, too
    return seeds


def _check_differentiable(fn: str, inputs: tuple, what: str) -> None:
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"{fn}: {what}[{i}] ({t.dtype}{list(t.shape)}) does not require grad; "
                               "gradients can only be taken with respect to tensors that require grad")


# ---------------------------------------------------------------- grad / backward
def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of `outputs` with respect to `inputs`, returned instead of accumulated (torch.autograd.grad).

    sum_k d(grad_outputs[k] . outputs[k]) / d inputs[i], for each input. No `.grad` of any
    leaf changes; hooks registered on tensors on the way run, and tensors with retain_grad()
    on the way get their `.grad`, as in torch. Only the part of the graph between the outputs
    and the inputs runs (a non-leaf input's own node does not), and the parts that ran are
    freed unless `retain_graph=True`.

    Args:
        outputs: a Tensor or a sequence of Tensors to differentiate.
        inputs: a Tensor, a sequence of Tensors (leaves or not), or a dict {name: Tensor}
            (then the result is a dict with the same keys).
        grad_outputs: one gradient per output (the "vector" of the vector-Jacobian product);
            None for a one-element output means 1.
        retain_graph: keep the graph for another backward (default: False).
        create_graph: must be False: minigrad has no double backward (NotImplementedError).
        only_inputs: ignored (deprecated in torch, always True there too).
        allow_unused: return None for an input the outputs do not depend on, instead of raising.
        is_grads_batched: not supported (torch vmaps over a leading batch dim of grad_outputs).
        materialize_grads: return zeros instead of None for unused inputs (implies allow_unused).

    Returns:
        A tuple with one gradient (or None) per input, each of its input's shape and dtype.
    """
    if create_graph:
        raise _no_double_backward("grad(create_graph=True)")
    if is_grads_batched:
        raise NotImplementedError("grad(is_grads_batched=True) is not supported; call mg.autograd.grad once "
                                  "per row of grad_outputs with retain_graph=True")
    if materialize_grads and allow_unused is False:
        raise ValueError("grad: Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    if allow_unused is None:
        allow_unused = materialize_grads
    names = None
    if isinstance(inputs, dict):
        names, inputs = list(inputs), list(inputs.values())
    outputs = _tensors(outputs, "grad", "outputs")
    inputs = _tensors(inputs, "grad", "inputs")
    if not inputs:
        raise RuntimeError("grad: `inputs` argument to `grad()` cannot be empty.")
    _check_differentiable("grad", inputs, "inputs")
    seeds = _seed_grads("grad", outputs, grad_outputs, "grad_outputs")
    found = _ag.run_backward(outputs, seeds, retain_graph=bool(retain_graph), inputs=inputs, capture=True)
    result = []
    for i, (t, g) in enumerate(zip(inputs, found)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: the differentiated Tensor at index {i} appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior.")
            result.append(_B.get_array_module(t.data).zeros_like(t.data) if materialize_grads else None)
        else:
            result.append(g.copy())  # a gradient array may be shared (add's backward returns g twice)
    result = tuple(None if g is None else _wrap(g, False, None) for g in result)
    return dict(zip(names, result)) if names is not None else result


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None, inputs=None):
    """Accumulate the gradients of `tensors` into the leaves' `.grad` (torch.autograd.backward).

    Like `tensors[0].backward(grad_tensors[0])` + ... in one pass (shared parts of the graph
    run once).

    Args:
        tensors: a Tensor or a sequence of Tensors to differentiate.
        grad_tensors: one gradient per tensor; None for a one-element tensor means 1.
        retain_graph: keep the graph for another backward (default: False).
        create_graph: must be False: minigrad has no double backward (NotImplementedError).
        grad_variables: the old name of grad_tensors (torch still accepts it).
        inputs: a Tensor or sequence of Tensors: only these get a `.grad` (a non-leaf input is
            made to retain_grad(), as in torch), and only the graph that leads to them runs.
    """
    if grad_variables is not None:
        if grad_tensors is not None:
            raise RuntimeError("backward: pass grad_tensors or grad_variables (its old name), not both")
        grad_tensors = grad_variables
    _backward(tensors, grad_tensors, retain_graph, create_graph, inputs, "grad_tensors")


def _backward(tensors, grad_tensors, retain_graph, create_graph, inputs, grads_name: str):
    """autograd.backward and Tensor.backward (whose gradient argument is called `gradient`)."""
    if create_graph:
        raise _no_double_backward("backward(create_graph=True)")
    tensors = _tensors(tensors, "backward", "tensors")
    if not tensors:
        raise RuntimeError("backward: no tensors to differentiate")
    seeds = _seed_grads("backward", tensors, grad_tensors, grads_name)
    if inputs is not None:
        inputs = _tensors(inputs, "backward", "inputs")
        if not inputs:
            raise RuntimeError("backward: `inputs` argument to `backward()` cannot be empty.")
        _check_differentiable("backward", inputs, "inputs")
        for t in inputs:
            t.retain_grad()  # a non-leaf input gets its .grad like a retained tensor (torch does this)
    _ag.run_backward(tensors, seeds, retain_graph=bool(retain_graph), inputs=inputs)


# ---------------------------------------------------------------- functional: jacobian, vjp, jvp
def _as_tuple(x, fn: str, what: str):
    """(tuple of Tensors, was it a tuple?): torch's functional API takes a Tensor or a tuple of Tensors."""
    if isinstance(x, Tensor):
        return (x,), False
    if isinstance(x, tuple) and all(isinstance(t, Tensor) for t in x):
        return x, True
    raise TypeError(f"{fn}: {what} must be either a Tensor or a tuple of Tensors, but got "
                    f"{type(x).__name__}" + (" (use a tuple, as torch does)" if isinstance(x, list) else ""))


def _fresh_inputs(fn: str, inputs: tuple) -> tuple:
    """Detached copies of the inputs that require grad: func is differentiated at them, the user's stay untouched."""
    out = []
    for i, t in enumerate(inputs):
        if t.dtype.kind != "f":
            raise TypeError(f"{fn}: input {i} is {t.dtype}; only floating-point inputs can be differentiated")
        out.append(_wrap(t.data, True, None, t._vc))  # as t.detach().requires_grad_(): same memory and versions
    return tuple(out)


def _call(fn: str, func, inputs: tuple):
    """func(*inputs) with grad mode on, its outputs as a tuple of Tensors, and whether func returned a tuple."""
    with _ag.enable_grad():
        out = func(*inputs)
    return _as_tuple(out, fn, "the outputs of the user-provided function")


def _check_functional_args(fn: str, create_graph: bool) -> None:
    if create_graph:
        raise _no_double_backward(f"{fn}(create_graph=True)")


def _detached(outputs: tuple) -> tuple:
    return tuple(_wrap(o.data, False, None) for o in outputs)


def _pass(outputs: tuple, seeds: list, inputs: tuple, last: bool) -> list:
    """One backward pass from the outputs (those that require grad) with `seeds`: a gradient array or None per input."""
    roots = [(o, s) for o, s in zip(outputs, seeds) if o.requires_grad]
    if not roots:
        return [None] * len(inputs)
    return _ag.run_backward([o for o, _ in roots], [s for _, s in roots], retain_graph=not last,
                            inputs=inputs, capture=True)


def _strict_check(fn: str, outputs: tuple, inputs: tuple, strict: bool) -> None:
    """strict=True: refuse an output that does not depend on the inputs (torch's wording)."""
    if not strict:
        return
    for i, o in enumerate(outputs):
        if not o.requires_grad:
            raise RuntimeError(f"{fn}: Output {i} of the user-provided function does not require gradients. "
                               "The outputs must be computed in a differentiable manner from the input when "
                               "running in strict mode.")


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of `func` at `inputs` (torch.autograd.functional.jacobian).

    J[i][j] = d outputs[i] / d inputs[j], of shape outputs[i].shape + inputs[j].shape,
    computed row by row: one backward pass per output element (reverse mode), so the cost
    is numel(outputs) backward passes. An output that does not depend on an input gives zeros.

    Args:
        func: a function of the inputs returning a Tensor or a tuple of Tensors.
        inputs: a Tensor or a tuple of Tensors (floating point); they are not modified.
        create_graph: must be False (no double backward in minigrad: NotImplementedError).
        strict: raise if an output does not depend on an input instead of returning zeros.
        vectorize: accepted for torch compatibility; the rows are computed one by one anyway.
        strategy: "reverse-mode" (the default), or "forward-mode", which torch allows only with
            vectorize=True; here both compute the same rows by reverse mode.

    Returns:
        A Tensor if func returns a Tensor and inputs is a Tensor; a tuple over inputs if inputs
        is a tuple; a tuple over outputs (of those) if func returns a tuple.
    """
    fn = "jacobian"
    _check_functional_args(fn, create_graph)
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError(f'jacobian: expected strategy to be either "forward-mode" or "reverse-mode", got {strategy!r}')
    if strategy == "forward-mode" and not vectorize:
        raise NotImplementedError("jacobian: strategy='forward-mode' is only implemented for vectorize=True "
                                  "(as in torch)")
    inputs, inputs_tuple = _as_tuple(inputs, fn, "inputs")
    leaves = _fresh_inputs(fn, inputs)
    outputs, outputs_tuple = _call(fn, func, leaves)
    _strict_check(fn, outputs, leaves, strict)

    jac = _jacobian_blocks(fn, outputs, leaves, strict)
    per_output = [tuple(_wrap(b, False, None) for b in row) if inputs_tuple else _wrap(row[0], False, None)
                  for row in jac]
    return tuple(per_output) if outputs_tuple else per_output[0]


def _jacobian_blocks(fn: str, outputs: tuple, leaves: tuple, strict: bool) -> list:
    """J[i][j] = d outputs[i] / d leaves[j] as arrays of shape outputs[i].shape + leaves[j].shape.

    Row k of J[i] (flattened) is the gradient of outputs[i].flatten()[k]: one backward pass
    from the one-hot cotangent e_k. The graph is kept until the last pass.
    """
    passes_left = sum(int(o.data.size) for o in outputs if o.requires_grad)
    jac = []
    for i, out in enumerate(outputs):
        data = out.data
        xp = _B.get_array_module(data)
        blocks = [xp.zeros((data.size,) + leaf.shape, dtype=leaf.dtype) for leaf in leaves]
        for k in range(data.size if out.requires_grad else 0):
            seed = xp.zeros(data.size, dtype=data.dtype)
            seed[k] = 1
            passes_left -= 1
            for j, g in enumerate(_pass([out], [seed.reshape(data.shape)], leaves, last=passes_left == 0)):
                if g is not None:
                    blocks[j][k] = g
                elif strict:
                    raise RuntimeError(f"{fn}: Output {i} of the user-provided function is independent of "
                                       f"input {j}. This is not allowed in strict mode.")
        jac.append([b.reshape(data.shape + leaf.shape) for b, leaf in zip(blocks, leaves)])
    return jac


def _cotangents(fn: str, v, like: tuple, what: str, none_ok: str) -> list:
    """The user's vectors `v` as arrays matching `like` (the outputs for vjp, the inputs for jvp)."""
    if v is None:
        if len(like) != 1 or like[0].data.size != 1:
            raise RuntimeError(f"{fn}: The vector v can only be None if {none_ok} a single Tensor with a "
                               "single element.")
        d = like[0].data
        return [_B.get_array_module(d).ones(d.shape, dtype=d.dtype)]
    vs, _ = _as_tuple(v, fn, "v")
    if len(vs) != len(like):
        raise RuntimeError(f"{fn}: v is a tuple of {len(vs)} Tensor(s) but there are {len(like)} {what}")
    out = []
    for k, (t, ref) in enumerate(zip(vs, like)):
        if t.shape != ref.shape:
            raise RuntimeError(f"{fn}: v has invalid size: should be {tuple(ref.shape)} but got {tuple(t.shape)} "
                               f"(v[{k}] for {what[:-1]} {k})")
        out.append(t.data if t.dtype == ref.dtype else t.data.astype(ref.dtype))
    return out


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """The vector-Jacobian product v^T J of `func` at `inputs` (torch.autograd.functional.vjp).

    One backward pass. Returns (func_output, vjp): the outputs (detached) and one gradient per
    input (a Tensor if `inputs` is a Tensor, else a tuple); zeros for an input the outputs do
    not depend on (strict=True raises instead).

    Args:
        func: a function of the inputs returning a Tensor or a tuple of Tensors.
        inputs: a Tensor or a tuple of Tensors (floating point); they are not modified.
        v: one vector per output, of its shape; may be None when func returns one element.
        create_graph: must be False (no double backward in minigrad: NotImplementedError).
        strict: raise if the result would be independent of an input.
    """
    fn = "vjp"
    _check_functional_args(fn, create_graph)
    inputs, inputs_tuple = _as_tuple(inputs, fn, "inputs")
    leaves = _fresh_inputs(fn, inputs)
    outputs, outputs_tuple = _call(fn, func, leaves)
    _strict_check(fn, outputs, leaves, strict)
    seeds = _cotangents(fn, v, outputs, "outputs", "the user-provided function returns")
    grads = _pass(outputs, seeds, leaves, last=True)
    result = []
    for j, (g, leaf) in enumerate(zip(grads, leaves)):
        if g is None:
            if strict:
                raise RuntimeError(f"vjp: The output of the user-provided function is independent of input {j}. "
                                   "This is not allowed in strict mode.")
            g = _B.get_array_module(leaf.data).zeros_like(leaf.data)
        result.append(_wrap(g.copy(), False, None))
    out = _detached(outputs)
    return (out if outputs_tuple else out[0]), (tuple(result) if inputs_tuple else result[0])


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """The Jacobian-vector product J v of `func` at `inputs` (torch.autograd.functional.jvp).

    Returns (func_output, jvp): the outputs (detached) and one J v per output (a Tensor if func
    returns a Tensor, else a tuple).

    Cost: minigrad has reverse mode only, and torch's trick of getting J v from two
    vector-Jacobian products needs a differentiable backward (double backward), which
    minigrad's engine does not have. So J is built row by row (`jacobian`: one backward pass
    per output element) and multiplied by v: numel(outputs) backward passes, against one for
    `vjp`. Fine for small functions; for a directional derivative of a big one, prefer
    central differences (f(x + eps v) - f(x - eps v)) / (2 eps).

    Args:
        func: a function of the inputs returning a Tensor or a tuple of Tensors.
        inputs: a Tensor or a tuple of Tensors (floating point); they are not modified.
        v: one vector per input, of its shape; may be None when there is one one-element input.
        create_graph: must be False (no double backward in minigrad: NotImplementedError).
        strict: raise if an output does not depend on the inputs.
    """
    fn = "jvp"
    _check_functional_args(fn, create_graph)
    inputs, inputs_tuple = _as_tuple(inputs, fn, "inputs")
    vs = _cotangents(fn, v, inputs, "inputs", "the input to the user-provided function is")
    leaves = _fresh_inputs(fn, inputs)
    outputs, outputs_tuple = _call(fn, func, leaves)
    _strict_check(fn, outputs, leaves, strict)
    if strict:
        # torch's rule for jvp: every input must reach some output (not every output-input pair, as in
        # jacobian); one pass with zero cotangents tells which inputs the graph reaches
        zeros = [_B.get_array_module(o.data).zeros_like(o.data) for o in outputs]
        for j, g in enumerate(_pass(outputs, zeros, leaves, last=False)):
            if g is None:
                raise RuntimeError(f"jvp: The output of the user-provided function is independent of input {j}. "
                                   "This is not allowed in strict mode.")
    result = []
    for out, row in zip(outputs, _jacobian_blocks(fn, outputs, leaves, False)):
        d = out.data
        total = _B.get_array_module(d).zeros(d.size, dtype=d.dtype)
        for block, vj in zip(row, vs):  # sum_j J_ij v_j: contract J_ij's input dims with v_j
            total += block.reshape(d.size, vj.size) @ vj.reshape(-1).astype(block.dtype)
        result.append(_wrap(total.reshape(d.shape), False, None))
    out = _detached(outputs)
    return (out if outputs_tuple else out[0]), (tuple(result) if outputs_tuple else result[0])


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """Not supported: the Hessian is the Jacobian of a gradient, which needs double backward."""
    raise _no_double_backward("hessian")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """Not supported: a Hessian-vector product differentiates a gradient (double backward)."""
    raise _no_double_backward("hvp")


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """Not supported: a vector-Hessian product differentiates a gradient (double backward)."""
    raise _no_double_backward("vhp")


# ---------------------------------------------------------------- gradcheck under torch's signature
def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True, fast_mode=False,
              masked=None):
    """torch.autograd.gradcheck's signature over `minigrad.testing.gradcheck`.

    Differences from torch: `inputs` (a Tensor or a tuple) is passed on as
    `minigrad.testing.gradcheck(func, *inputs)`; what is compared is v^T J for a fixed random
    cotangent v, element by element against central differences (torch compares the whole
    Jacobian); `fast_mode=True` maps to mode="directional" (random directions, like torch's
    fast mode); failures raise `minigrad.testing.GradcheckError` (an AssertionError; torch's
    GradcheckError is a RuntimeError). Forward-mode AD and batched checks do not exist here
    (check_forward_ad / check_batched_grad / check_batched_forward_grad must stay False);
    nondet_tol (backward run twice, as torch) and check_undefined_grad (each output of a
    multi-output func used alone) mean what they mean in torch; check_grad_dtypes (dtypes
    are always checked) and masked are accepted and ignored.
    """
    from .testing import gradcheck as _gradcheck

    for name, flag in (("check_forward_ad", check_forward_ad), ("check_batched_grad", check_batched_grad),
                       ("check_batched_forward_grad", check_batched_forward_grad)):
        if flag:
            raise NotImplementedError(f"gradcheck: {name}=True is not supported (minigrad has reverse-mode "
                                      "autograd only, and no vmap)")
    if not check_backward_ad:
        raise ValueError("gradcheck: check_backward_ad=False leaves nothing to check (minigrad has no forward AD)")
    args = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    return _gradcheck(func, *args, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception,
                      mode="directional" if fast_mode else "full", nondet_tol=nondet_tol,
                      check_undefined_grad=check_undefined_grad)


def gradgradcheck(func, inputs, grad_outputs=None, **kwargs):
    """Not supported: second derivatives need double backward."""
    raise _no_double_backward("gradgradcheck")


class _VariableMeta(type):
    def __instancecheck__(cls, obj):  # isinstance(t, Variable) holds for every Tensor, as in torch
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """torch.autograd.Variable, the pre-0.4 wrapper: `Variable(t, requires_grad=True)` returns a Tensor.

    As in torch, the result is a new leaf sharing t's memory (and its version counter, as
    `t.detach()`), with the requires_grad given; `Variable()` is an empty tensor. `volatile` has
    no effect (a warning says to use `with mg.no_grad():`). Every Tensor is an instance of Variable.
    """

    def __new__(cls, data=None, requires_grad=False, volatile=False):
        import warnings
        if volatile:
            warnings.warn("Variable: volatile was removed and has no effect; use `with mg.no_grad():` instead",
                          UserWarning, stacklevel=2)
        if data is None:
            from .factory import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable: data has to be a Tensor, got {type(data).__name__}; "
                            "use mg.tensor(data) (Variable is only kept for old code: tensors track gradients)")
        return data.detach().requires_grad_(bool(requires_grad))


# `mg.autograd.functional` is this module; make `import minigrad.autograd.functional` work too
# (as `os.path` does: a module registered under a dotted name).
functional = sys.modules[__name__]
sys.modules.setdefault("minigrad.autograd.functional", functional)
