"""`Tensor`: a backend array plus what autograd needs (requires_grad, grad, grad_fn).

Every operator below is an explicit method that calls an op from `minigrad.ops`,
so the path from `a + b` to its gradient can be followed by reading:
`Tensor.__add__` -> `ops.elementwise.add` -> `Add.forward` / `Add.backward`.
"""
from __future__ import annotations

import numbers
import operator
import warnings

from . import autograd as _ag
from . import backend as _B
from . import runtime as _runtime  # print options (repr)

np = _B.np  # dtypes and host-side conversions only; computation goes through ops

__all__ = ["Tensor", "tensor", "as_tensor", "is_tensor", "Size"]


class Size(tuple):
    """torch.Size: the shape `x.shape` / `x.size()` return, a tuple of ints with `numel()`.

    It prints as the plain tuple it is (`(2, 3)`, where torch shows `torch.Size([2, 3])`), so
    shapes read the same in every message; slicing or adding gives a plain tuple.
    """

    __slots__ = ()
    __module__ = "minigrad"

    def __new__(cls, sizes=()):
        sizes = tuple(sizes)
        for i, d in enumerate(sizes):
            if isinstance(d, bool) or not isinstance(d, numbers.Integral):
                raise TypeError(f"Size: expected an iterable of ints; item {i} is {type(d).__name__} ({d!r})")
        return tuple.__new__(cls, (operator.index(d) for d in sizes))

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds (1 for `()`)."""
        n = 1
        for d in self:
            n *= d
        return n

    def __reduce__(self):
        return (Size, (tuple(self),))


_as_size = tuple.__new__  # _as_size(Size, array.shape): no checks (NumPy shapes are tuples of ints)


def _wrap(data, requires_grad=False, grad_fn=None, vc=None):
    """Fast internal constructor: no checks, no copies (ops already produced `data`).

    One exception: a NumPy ufunc on a 0-d array returns a NumPy scalar (np.isnan(array(1.0))
    is np.False_), which is not an array; it becomes a 0-d array here, so every tensor holds one.
    """
    if data.__class__ is not _ndarray and isinstance(data, np.generic):
        data = np.asarray(data)
    t = _new(Tensor)
    t.data = data
    t._grad = None  # (the `grad` property's slot)
    t._rg = requires_grad
    t.grad_fn = grad_fn
    t._vc = [0] if vc is None else vc
    t._oi = 0
    return t


_new = object.__new__
_ndarray = np.ndarray


def _in_place_of(twin: str):
    """The method `<twin>_`: the out-of-place method `twin` applied to self and written into it.

    One helper for every pointwise in-place form (`exp_ = _in_place_of("exp")`): `ops.special.inplace`
    sends the write through `_write_in_place` (recorded on a non-leaf, refused on a leaf that requires
    grad, version bumped) and refuses results whose dtype torch would not write back (exp_ of int64).
    """
    def method(self, *args, **kwargs):
        return _ops.special.inplace(twin + "_", self, lambda t: getattr(t, twin)(*args, **kwargs),
                                    *args, *kwargs.values())

    method.__name__, method.__qualname__ = twin + "_", "Tensor." + twin + "_"
    method.__doc__ = f"In place: self.{twin}(...) written into self (torch.Tensor.{twin}_)."
    return method


def check_dtype(dtype, op: str):
    """`dtype` as a NumPy dtype that tensors may have, or a TypeError naming `op`.

    Supported: bool, signed/unsigned integers, float16, float32, float64. Complex numbers
    are refused (no op here has a complex derivative rule), as are strings and objects.
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: {dtype!r} is not a dtype; use e.g. mg.float32, mg.int64 or 'float64'") from None
    if dt.kind == "c":
        raise TypeError(f"{op}: complex tensors are not supported (dtype {dt}); minigrad computes on real "
                        "floating-point, integer and bool data")
    if dt.kind not in "biuf":
        raise TypeError(f"{op}: unsupported dtype {dt}; use a floating-point, integer or bool dtype")
    return dt


def _host_data_to_array(data, dtype, device, keep_float64=False):
    """Turn user data (lists, scalars, arrays, tensors) into a backend array on `device`."""
    if isinstance(data, Tensor):
        data = data.data
    from_python = not _B.is_array(data) and not isinstance(data, np.generic)
    # data not already on a GPU becomes a NumPy array first and is checked on the host, then moved: every
    # backend then gives the same errors (CuPy's own for a str is a ValueError "Unsupported dtype <U3")
    on_gpu = _B.is_array(data) and _B.device_of(data) != "cpu"
    try:
        arr = _B.as_array(data, dtype=dtype, device=device if on_gpu else "cpu")
    except (ValueError, TypeError, OverflowError) as e:  # ragged lists, unconvertible values
        raise (TypeError if isinstance(e, TypeError) else ValueError)(
            f"tensor: cannot make a tensor from this {type(data).__name__} ({e})") from None
    if dtype is None and from_python and arr.dtype == np.float64 and not keep_float64:
        # Python floats follow the default dtype (float32), as in torch.
        arr = arr.astype(_B.get_default_dtype())
    if arr.dtype.kind in "OUSV":
        raise TypeError(f"tensor: cannot make a tensor from data of dtype {arr.dtype} ({type(data).__name__})")
    check_dtype(arr.dtype, "tensor")
    return _B.to_device(arr, device)


def _sequence_to_array(data):
    """A (nested) list read as torch.tensor reads it, as a host array: a Tensor inside is one number
    (torch calls item(), so it must have one element), and every element's dtype counts, so a float64
    array, NumPy scalar or tensor in the list keeps the result float64 (Python floats alone take the
    default dtype)."""
    f64 = False

    def walk(seq):
        nonlocal f64
        out = None
        for k, e in enumerate(seq):
            if type(e) in (float, int, bool):
                continue
            new = e
            if isinstance(e, (list, tuple)):
                new = walk(e)
            elif isinstance(e, Tensor):
                if e.data.size != 1:
                    raise ValueError(f"tensor: only one element tensors can be converted to Python scalars: a tensor "
                                     f"inside a list is read as a number (as torch.tensor does), got {e.dtype}"
                                     f"{list(e.shape)}; use mg.stack(tensors) to join tensors")
                new = _B.to_device(e.data, "cpu").reshape(())
            f64 = f64 or getattr(new, "dtype", None) == np.float64
            if new is not e:
                out = list(seq) if out is None else out
                out[k] = new
        return seq if out is None else out

    seq = walk(data)
    return _host_data_to_array(seq, None, "cpu", keep_float64=f64)


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Args:
        data: array-like (nested lists, scalars, NumPy/CuPy arrays, Tensors).
        dtype: a NumPy dtype; default: keep the data's, Python floats -> float32.
        requires_grad: record operations so `backward()` can fill `.grad`.
        device: 'cpu' (NumPy), 'cuda' or 'cuda:N' (CuPy).
    """

    # _vc: version counter (a list shared by views); _oi: which output of grad_fn this is.
    # __dict__: user attributes, as torch tensors take them (fastai's `p.grad_avg = ...` on a parameter,
    # `out.g = ...` in a hand-written backward); created only when one is set.
    __slots__ = ("data", "_grad", "_rg", "grad_fn", "_vc", "_oi", "__weakref__", "__dict__")
    # Make NumPy defer to our reflected operators: `ndarray + Tensor` calls Tensor.__radd__.
    __array_ufunc__ = None
    __array_priority__ = 1000
    is_sparse = False  # row-sparse gradients (minigrad.sparse.RowSparseGrad) say True

    def __init__(self, data, dtype=None, requires_grad=False, device=None):
        if isinstance(data, numbers.Integral) and isinstance(dtype, numbers.Integral):
            # torch's legacy size constructor torch.Tensor(3, 4): here the second argument is the dtype
            raise TypeError(f"Tensor: Tensor(data, dtype) takes data and a dtype, got Tensor({data}, {dtype}, ...); "
                            "for torch's legacy torch.Tensor(*sizes) (an uninitialized float tensor) use "
                            "mg.empty(*sizes) (or mg.zeros)")
        if device is None:  # keep the data's device (CuPy arrays stay on their GPU)
            dev = _B.device_of(data.data if isinstance(data, Tensor) else data)
        else:
            dev = _B.parse_device(device)
        if dtype is None and isinstance(data, (list, tuple)):
            # torch.Tensor(list), the legacy constructor, gives the default float dtype even for ints and
            # bools (mg.tensor / mg.as_tensor infer the dtype, as torch.tensor: they convert lists first)
            dtype = _B.get_default_dtype()
        arr = _host_data_to_array(data, None if dtype is None else check_dtype(dtype, "tensor"), dev)
        self.data = arr
        self._grad = None
        self._rg = False  # (the `requires_grad` property's slot)
        self.grad_fn = None
        self._vc = [0]
        self._oi = 0
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------ metadata
    @property
    def shape(self) -> Size:
        return _as_size(Size, self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        """Where the data lives: mg.device('cpu') or mg.device('cuda:N'), a str ('cpu', 'cuda:0') with .type/.index."""
        return _B.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user (not by an op that recorded a graph)."""
        return self.grad_fn is None

    @property
    def is_cuda(self) -> bool:
        return self.device != "cpu"

    @property
    def is_cpu(self) -> bool:
        """True for a tensor in host memory (device 'cpu')."""
        return self.device == "cpu"

    def get_device(self) -> int:
        """The GPU index of a CUDA tensor, -1 for a CPU tensor (torch's get_device)."""
        index = self.device.index
        return -1 if index is None else index

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's memory has seen (autograd checks it)."""
        return self._vc[0]

    def size(self, dim=None):
        return _as_size(Size, self.data.shape) if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # ------------------------------------------------------------ conversion
    def numpy(self, *, force=False):
        """The values as a host NumPy array (shares memory on 'cpu'; a copy from 'cuda').

        `force` is torch's keyword (``t.numpy(force=True)`` = ``t.detach().cpu().numpy()``); accepted, and
        changes nothing here: minigrad already converts a tensor that requires grad, or one on 'cuda'.
        """
        return _B.to_device(self.data, "cpu")

    def item(self):
        """The value of a one-element tensor as a Python number (RuntimeError for other sizes, as torch)."""
        if self.data.size != 1:
            raise RuntimeError(f"item: a Tensor with {self.data.size} elements cannot be converted to Scalar "
                               f"(only one-element tensors can); this one has shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __float__(self):
        return float(self._scalar("float"))

    def __int__(self):
        return int(self._scalar("int"))

    def _scalar(self, op):
        """The value of a one-element tensor for float()/int(); ValueError for other sizes, as torch."""
        if self.data.size != 1:
            raise ValueError(f"{op}(): only one element tensors can be converted to Python scalars; this one has "
                             f"shape {self.shape}")
        return self.data.reshape(()).item()

    def __index__(self):
        """A one-element integer or bool tensor as an int (`range(t)`, `seq[t]`), as torch; else TypeError."""
        if self.data.dtype.kind not in "biu" or self.data.size != 1:
            raise TypeError(f"only integer tensors of a single element can be converted to an index, "
                            f"got {self.dtype}{list(self.shape)}")
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool value of a tensor with {self.data.size} elements is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __reversed__(self):
        """reversed(x) is a Tensor, as torch's: x.flip(0) (a 0-d tensor is returned as it is)."""
        return self if self.data.ndim == 0 else self.flip(0)

    def __repr__(self):
        """torch's text (runtime.tensor_repr): values, then device, dtype when not implied, grad_fn."""
        if self.grad_fn is not None:
            tail = [f"grad_fn=<{type(self.grad_fn).__name__}Backward>"]
        else:
            tail = ["requires_grad=True"] if self.requires_grad else []
        return _runtime.tensor_repr(self.data, self.device, tail)  # (from a GPU: only the printed part is copied)

    def __format__(self, format_spec):
        """As torch: a 0-d tensor formats as its Python number (f"{loss:.4f}"); others only with an empty spec."""
        if self.data.ndim == 0:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    __hash__ = object.__hash__  # identity hash, as torch: == is elementwise

    # ------------------------------------------------------------ autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) * gradient into every leaf's `.grad`.

        `gradient` defaults to 1 for a one-element tensor; for any other shape pass the
        gradient of the final scalar with respect to this tensor (same shape).

        The graph's saved arrays are freed as backward goes (a second backward through it
        raises); `retain_graph=True` keeps them for another backward. Carrying a tensor
        from one training step into the next (an RNN state) without `detach()` is caught:
        the next backward raises, or with retain_graph=True, warns (`GraphGrowthWarning`).
        `inputs=[a, b]` accumulates into those tensors' `.grad` only (as torch).
        `create_graph=True` is not supported (no double backward). Same as
        `mg.autograd.backward(self, gradient, ...)` (minigrad/autograd_functional.py).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no grad_fn; "
                "did you forget requires_grad=True on the inputs, or compute it under no_grad()?")
        _agf._backward(self, gradient, retain_graph, create_graph, inputs, "gradient")

    def detach(self) -> "Tensor":
        """A new leaf sharing this tensor's memory, cut from the graph."""
        return _wrap(self.data, False, None, self._vc)

    @property
    def grad(self):
        """The gradient backward() accumulated into this leaf (a Tensor of its shape and dtype), or None.

        Reading it on a non-leaf that does not retain its gradient warns, as torch: backward never
        fills it there (call retain_grad() first, or read the leaf's .grad).
        """
        g = self._grad
        if g is None and self.grad_fn is not None and not self.retains_grad:
            warnings.warn("The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
                          "attribute won't be populated during backward(). If you want the gradient of this "
                          "non-leaf Tensor, call .retain_grad() on it before backward(); if you meant the leaf "
                          "Tensor, read its .grad instead.", UserWarning, stacklevel=2)
        return g

    @grad.setter
    def grad(self, value) -> None:
        self._grad = value

    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded so that backward() reaches it.

        Assigning it is checked, as torch's setter: only a leaf's flag can change (a non-leaf's comes from
        its history: `y.requires_grad = False` would silently cut the graph), and only floating-point
        tensors can require grad (as requires_grad_()).
        """
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value) -> None:
        if self.grad_fn is not None:
            raise RuntimeError(f"requires_grad = {value!r}: you can only change requires_grad flags of leaf tensors "
                               f"(this one has grad_fn={type(self.grad_fn).__name__}); for a tensor cut from the "
                               "graph use y.detach(), or y.detach().requires_grad_() for a new leaf")
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(
                f"requires_grad: only floating-point tensors can require gradients, this one is {self.dtype}; "
                "convert it with .float() first")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False): only leaf tensors can stop requiring grad; use detach()")
        self._rg = bool(requires_grad)
        return self

    def retain_grad(self) -> "Tensor":
        """Also keep `.grad` for this non-leaf tensor after backward (leaves always keep theirs)."""
        import weakref

        if not self.requires_grad:  # torch refuses too: no gradient will ever reach it
            raise RuntimeError("retain_grad: can't retain_grad on a tensor that has requires_grad=False")
        if self.grad_fn is not None:
            # A list: a multi-output node may have several retained outputs.
            refs = self.grad_fn.__dict__.setdefault("retained_output", [])
            if not any(r() is self for r in refs):
                refs.append(weakref.ref(self))
        return self

    def register_hook(self, hook):
        """Call hook(grad) each time the gradient with respect to this tensor is computed (torch's API).

        The hook gets a Tensor and returns None, or a Tensor of the same shape and dtype that
        replaces the gradient from there on. On a non-leaf it runs before the gradient flows
        further back (and before `retain_grad()` stores it); on a leaf, on the gradient summed
        over the backward pass, before it is added to `.grad`. Returns a handle: `.remove()`.
        """
        return _ag.register_hook(self, hook)

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf on which retain_grad() was called (torch's property; False for leaves)."""
        node = self.grad_fn
        return node is not None and any(r() is self for r in node.__dict__.get("retained_output", ()))

    def register_post_accumulate_grad_hook(self, hook):
        """Call hook(self) after backward has accumulated a gradient into this leaf's `.grad` (torch 2.x).

        The hook returns None; it may read or replace `self.grad`, e.g. to step an optimizer
        inside backward and free the gradient. Not run by `mg.autograd.grad` (which accumulates
        nothing). Returns a handle: `.remove()`.
        """
        return _ag.register_post_accumulate_grad_hook(self, hook)

    def detach_(self) -> "Tensor":
        """Make this tensor a leaf that does not require grad, in place (torch's detach_).

        Refused on a tensor that may be a view (its memory belongs to another tensor), as in
        torch. One difference: minigrad's graph edges point at tensors, not at nodes, so ops that
        already used this tensor see it detached too: backpropagating an older graph through it
        afterwards stops here, where torch would go on. Use detach() if that graph is still needed.
        """
        node = self.grad_fn
        if self.data.base is not None and (node is None or node.is_view):
            raise RuntimeError(
                f"detach_: can't detach views in-place: this {self.dtype}{list(self.shape)} tensor may be a view "
                "of another tensor's memory. Use detach() instead")
        if node is not None and "retained_output" in node.__dict__:  # it no longer is that node's output
            node.__dict__["retained_output"][:] = [r for r in node.__dict__["retained_output"] if r() is not self]
        self.grad_fn, self._oi, self._rg = None, 0, False
        return self

    def zero_grad_(self):
        self.grad = None

    # ------------------------------------------------------------ device / dtype moves
    def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False) -> "Tensor":
        """`to(device)`, `to(dtype)`, `to(device, dtype)` or `to(other_tensor)`; differentiable.

        `non_blocking` is accepted for torch code (``data.to(device, non_blocking=True)``) and has no
        effect: copies are synchronous. ``copy=True`` returns a new tensor even when nothing changes.
        """
        k = next((i for i, a in enumerate(args) if isinstance(a, bool)), len(args))
        if 0 < k < len(args) and len(args) - k <= 2 and all(isinstance(a, bool) for a in args[k:]):
            # torch's positional forms to(dtype, non_blocking, copy) and to(device, dtype, non_blocking, copy):
            # trailing flags after a dtype/device (a lone `to(True)` stays an error: True is not a dtype)
            args, copy = args[:k], copy or args[k + 1:k + 2] == (True,)
        device, dtype = to_args(args, device, dtype)
        out = self
        if device is not None:
            out = _ops.to_device(out, _B.parse_device(device))
        if dtype is not None:
            out = _ops.cast(out, dtype)
        if copy and out is self:
            out = _ops.clone(self)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))

    def double(self):
        return _ops.cast(self, np.dtype(np.float64))

    def float(self):
        return _ops.cast(self, np.dtype(np.float32))

    def half(self):
        return _ops.cast(self, np.dtype(np.float16))

    def long(self):
        return _ops.cast(self, np.dtype(np.int64))

    def int(self):
        return _ops.cast(self, np.dtype(np.int32))

    def bool(self):
        return _ops.cast(self, np.dtype(np.bool_))

    def byte(self):
        """self as uint8 (torch.Tensor.byte)."""
        return _ops.cast(self, np.dtype(np.uint8))

    def char(self):
        """self as int8 (torch.Tensor.char)."""
        return _ops.cast(self, np.dtype(np.int8))

    def short(self):
        """self as int16 (torch.Tensor.short)."""
        return _ops.cast(self, np.dtype(np.int16))

    def type(self, dtype=None, non_blocking=False):
        """Without arguments, the legacy type name ('minigrad.FloatTensor', torch's 'torch.FloatTensor');
        with a dtype or such a name ('torch.DoubleTensor', 'torch.cuda.LongTensor'), this tensor cast
        to it (self when nothing changes). `non_blocking` has no effect."""
        if dtype is None:
            name = _TYPE_NAMES.get(self.dtype, str(self.dtype))
            return f"minigrad.{'cuda.' if self.is_cuda else ''}{name}"
        dt, on_gpu = type_name_args(dtype, "type")
        out = _ops.cast(self, dt)
        return out if on_gpu is None or on_gpu == self.is_cuda else out.to("cuda" if on_gpu else "cpu")

    def clone(self):
        return _ops.clone(self)

    def contiguous(self):
        """self if its memory is row-major contiguous, else a contiguous copy (differentiable), as torch."""
        return self if self.data.flags.c_contiguous else _ops.clone(self)

    # ------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __mod__(self, other):
        return _ops.remainder(self, other)  # Python's %, the sign of the divisor (torch's remainder)

    def __rmod__(self, other):
        return _ops.remainder(other, self)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)  # no gradient: backward raises, as torch

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    # comparisons give bool tensors with no gradient
    def __lt__(self, other):
        return _ops.lt(self, other)

    def __le__(self, other):
        return _ops.le(self, other)

    def __gt__(self, other):
        return _ops.gt(self, other)

    def __ge__(self, other):
        return _ops.ge(self, other)

    def __eq__(self, other):
        # `t == None` / `t == 'text'` is False as in torch (Python's identity fallback), not an error:
        # LLMs-from-scratch's generate() tests `if idx_next == eos_id` with eos_id=None
        if other is None or isinstance(other, (str, bytes)):
            return NotImplemented
        return _ops.eq(self, other)

    def __ne__(self, other):
        if other is None or isinstance(other, (str, bytes)):
            return NotImplemented  # True, as torch's
        return _ops.ne(self, other)

    # bitwise on integer tensors, logical on bool tensors, refused on floats (as torch; ops/special.py)
    def __invert__(self):
        return _ops.bitwise_not(self)

    def __and__(self, other):
        return _ops.bitwise_and(self, other)

    def __rand__(self, other):
        return _ops.bitwise_and(other, self)

    def __or__(self, other):
        return _ops.bitwise_or(self, other)

    def __ror__(self, other):
        return _ops.bitwise_or(other, self)

    def __xor__(self, other):
        return _ops.bitwise_xor(self, other)

    def __rxor__(self, other):
        return _ops.bitwise_xor(other, self)

    def __lshift__(self, other):
        return _ops.bitwise_left_shift(self, other)

    def __rlshift__(self, other):
        return _ops.bitwise_left_shift(other, self)

    def __rshift__(self, other):
        return _ops.bitwise_right_shift(self, other)

    def __rrshift__(self, other):
        return _ops.bitwise_right_shift(other, self)

    # Augmented assignment writes in place, as in torch: `p -= lr * p.grad` (under no_grad) updates the
    # parameter itself. Without these Python falls back to `p = p - lr * p.grad`, which rebinds the name to a
    # new tensor and silently leaves the model unchanged.
    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __ifloordiv__(self, other):
        return self.floor_divide_(other)

    def __imod__(self, other):
        return self.remainder_(other)

    def __ipow__(self, other):
        return self.pow_(other)

    def __iand__(self, other):
        return self.bitwise_and_(other)

    def __ior__(self, other):
        return self.bitwise_or_(other)

    def __ixor__(self, other):
        return self.bitwise_xor_(other)

    def __ilshift__(self, other):
        return self.bitwise_left_shift_(other)

    def __irshift__(self, other):
        return self.bitwise_right_shift_(other)

    # ------------------------------------------------------------ math methods
    def add(self, other, *, alpha=1):
        """self + alpha * other (torch.Tensor.add)."""
        return _ops.compose.add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        """self - alpha * other (torch.Tensor.sub)."""
        return _ops.compose.sub(self, other, alpha=alpha)

    subtract = sub

    def mul(self, other):
        return _ops.mul(self, other)

    multiply = mul

    def div(self, other, *, rounding_mode=None):
        """self / other; rounding_mode 'trunc' or 'floor' rounds the quotient (zero gradient), as torch."""
        return _ops.compose.div(self, other, rounding_mode=rounding_mode)

    divide = div

    def true_divide(self, other):
        return _ops.div(self, other)

    def negative(self):
        return _ops.neg(self)

    def positive(self):
        return _ops.compose.positive(self)

    def pow(self, exponent):
        return _ops.pow(self, exponent)

    def neg(self):
        return _ops.neg(self)

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def sin(self):
        return _ops.sin(self)

    def cos(self):
        return _ops.cos(self)

    # torch's remaining pointwise math (minigrad.ops.elementwise)
    def log1p(self):
        return _ops.log1p(self)

    def expm1(self):
        return _ops.expm1(self)

    def log2(self):
        return _ops.log2(self)

    def log10(self):
        return _ops.log10(self)

    def rsqrt(self):
        return _ops.rsqrt(self)

    def reciprocal(self):
        return _ops.reciprocal(self)

    def square(self):
        return _ops.square(self)

    def tan(self):
        return _ops.tan(self)

    def sinh(self):
        return _ops.sinh(self)

    def cosh(self):
        return _ops.cosh(self)

    def asin(self):
        return _ops.asin(self)

    def acos(self):
        return _ops.acos(self)

    def atan(self):
        return _ops.atan(self)

    def sign(self):
        return _ops.sign(self)

    def floor(self):
        return _ops.floor(self)

    def ceil(self):
        return _ops.ceil(self)

    def trunc(self):
        return _ops.trunc(self)

    def isnan(self):
        return _ops.isnan(self)

    def isinf(self):
        return _ops.isinf(self)

    def isposinf(self):
        return _ops.isposinf(self)

    def isneginf(self):
        return _ops.isneginf(self)

    def isfinite(self):
        return _ops.isfinite(self)

    def logical_not(self):
        return _ops.logical_not(self)

    def atan2(self, other):
        return _ops.atan2(self, other)

    def fmod(self, other):
        return _ops.fmod(self, other)

    def remainder(self, other):
        return _ops.remainder(self, other)

    def floor_divide(self, other):
        return _ops.floor_divide(self, other)

    def hypot(self, other):
        return _ops.hypot(self, other)

    def eq(self, other):
        return _ops.eq(self, other)

    def ne(self, other):
        return _ops.ne(self, other)

    def lt(self, other):
        return _ops.lt(self, other)

    def le(self, other):
        return _ops.le(self, other)

    def gt(self, other):
        return _ops.gt(self, other)

    def ge(self, other):
        return _ops.ge(self, other)

    def logical_and(self, other):
        return _ops.logical_and(self, other)

    def logical_or(self, other):
        return _ops.logical_or(self, other)

    def logical_xor(self, other):
        return _ops.logical_xor(self, other)

    def round(self, decimals=0):
        """Rounded to `decimals` places, halves to even (torch.round); zero gradient."""
        return _ops.round(self, decimals)

    def __round__(self, ndigits=None):  # Python's round(t), as torch: a tensor
        return _ops.round(self, 0 if ndigits is None else ndigits)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return _ops.nan_to_num(self, nan, posinf, neginf)

    def lerp(self, end, weight):
        """self + weight * (end - self) (torch.lerp)."""
        return _ops.lerp(self, end, weight)

    def addcmul(self, tensor1, tensor2, *, value=1):
        """self + value * tensor1 * tensor2 (torch.addcmul)."""
        return _ops.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        """self + value * tensor1 / tensor2 (torch.addcdiv)."""
        return _ops.addcdiv(self, tensor1, tensor2, value=value)

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _ops.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
        return _ops.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other) -> bool:
        return _ops.equal(self, other)

    def gather(self, dim, index, *, sparse_grad=False):
        """torch.Tensor.gather: values of self along `dim` at the integer tensor `index` (gradient: dense)."""
        return _ops.gather(self, dim, index)

    def scatter(self, dim, index, src=None, value=None, *, reduce=None):
        """torch.Tensor.scatter: a copy of self with src (a tensor or a number) written at `index` along `dim`
        (reduce='add' / 'multiply': combined instead, not differentiable, as torch)."""
        if reduce is not None:
            return _ops.index_more.scatter_with_reduce(self, dim, index, src, value, reduce=reduce)
        return _ops.scatter(self, dim, index, src, value)

    def index_add(self, dim, index, source, alpha=1):
        """torch.Tensor.index_add: a copy of self with alpha * source added at `index` along `dim`."""
        return _ops.index_add(self, dim, index, source, alpha)

    def scatter_add(self, dim, index, src):
        """torch.Tensor.scatter_add: a copy of self with src added at `index` along `dim` (repeats sum)."""
        return _ops.scatter_add(self, dim, index, src)

    def nonzero(self, as_tuple=False):
        """torch.Tensor.nonzero: int64 (N, ndim) positions of the nonzero entries (as_tuple: one tensor per dim)."""
        return _ops.nonzero(self, as_tuple)

    def masked_fill(self, mask, value):
        """A copy of self with `value` where the bool tensor `mask` is true (they broadcast together)."""
        return _ops.masked_fill(self, mask, value)

    def abs(self):
        return _ops.abs(self)

    def clamp(self, min=None, max=None):
        return _ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return _ops.maximum(self, other)

    def minimum(self, other):
        return _ops.minimum(self, other)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    def relu_(self):
        """In place: relu written into self (recorded in the graph on a non-leaf, as torch)."""
        return _ops.activation.relu_(self)

    def sigmoid_(self):
        """In place: sigmoid written into self (recorded in the graph on a non-leaf, as torch)."""
        return _ops.activation.sigmoid_(self)

    def tanh_(self):
        """In place: tanh written into self (recorded in the graph on a non-leaf, as torch)."""
        return _ops.activation.tanh_(self)

    # bitwise ops and special functions (ops/special.py)
    def bitwise_and(self, other):
        return _ops.bitwise_and(self, other)

    def bitwise_or(self, other):
        return _ops.bitwise_or(self, other)

    def bitwise_xor(self, other):
        return _ops.bitwise_xor(self, other)

    def bitwise_not(self):
        return _ops.bitwise_not(self)

    def bitwise_left_shift(self, other):
        return _ops.bitwise_left_shift(self, other)

    def bitwise_right_shift(self, other):
        return _ops.bitwise_right_shift(self, other)

    def xlogy(self, other):
        return _ops.xlogy(self, other)

    def logaddexp(self, other):
        return _ops.logaddexp(self, other)

    def logaddexp2(self, other):
        return _ops.logaddexp2(self, other)

    def logit(self, eps=None):
        return _ops.logit(self, eps)

    def erfc(self):
        return _ops.erfc(self)

    def erfinv(self):
        return _ops.erfinv(self)

    def exp2(self):
        return _ops.exp2(self)

    def sinc(self):
        return _ops.sinc(self)

    def float_power(self, exponent):
        return _ops.float_power(self, exponent)

    def frac(self):
        return _ops.frac(self)

    def fmax(self, other):
        return _ops.fmax(self, other)

    def fmin(self, other):
        return _ops.fmin(self, other)

    def copysign(self, other):
        return _ops.copysign(self, other)

    def heaviside(self, values):
        return _ops.heaviside(self, values)

    def deg2rad(self):
        return _ops.deg2rad(self)

    def rad2deg(self):
        return _ops.rad2deg(self)

    def asinh(self):
        return _ops.asinh(self)

    def acosh(self):
        return _ops.acosh(self)

    def atanh(self):
        return _ops.atanh(self)

    arcsinh, arccosh, arctanh = asinh, acosh, atanh

    def sgn(self):
        return _ops.sgn(self)

    def signbit(self):
        return _ops.signbit(self)

    def ldexp(self, other):
        return _ops.ldexp(self, other)

    def gcd(self, other):
        return _ops.gcd(self, other)

    def lcm(self, other):
        return _ops.lcm(self, other)

    def nextafter(self, other):
        return _ops.nextafter(self, other)

    def lgamma(self):
        return _ops.lgamma(self)

    def digamma(self):
        return _ops.digamma(self)

    def i0(self):
        return _ops.i0(self)

    # in-place forms of the pointwise ops: the out-of-place method written into self (`_in_place_of`)
    exp_, log_, log1p_, log2_, log10_ = (_in_place_of(n) for n in ("exp", "log", "log1p", "log2", "log10"))
    expm1_, exp2_, sqrt_, rsqrt_ = (_in_place_of(n) for n in ("expm1", "exp2", "sqrt", "rsqrt"))
    sin_, cos_, tan_, asin_, acos_, atan_ = (_in_place_of(n) for n in ("sin", "cos", "tan", "asin", "acos", "atan"))
    arcsin_, arccos_, arctan_ = (_in_place_of(n) for n in ("arcsin", "arccos", "arctan"))
    sinh_, cosh_, asinh_, acosh_, atanh_ = (_in_place_of(n) for n in ("sinh", "cosh", "asinh", "acosh", "atanh"))
    arcsinh_, arccosh_, arctanh_ = (_in_place_of(n) for n in ("arcsinh", "arccosh", "arctanh"))
    abs_, absolute_, neg_, negative_ = (_in_place_of(n) for n in ("abs", "absolute", "neg", "negative"))
    reciprocal_, square_, sign_, sgn_ = (_in_place_of(n) for n in ("reciprocal", "square", "sign", "sgn"))
    floor_, ceil_, trunc_, round_, frac_ = (_in_place_of(n) for n in ("floor", "ceil", "trunc", "round", "frac"))
    pow_, fmod_, remainder_, floor_divide_ = (_in_place_of(n) for n in ("pow", "fmod", "remainder", "floor_divide"))
    atan2_, arctan2_, hypot_, lerp_ = (_in_place_of(n) for n in ("atan2", "arctan2", "hypot", "lerp"))
    addcmul_, addcdiv_, nan_to_num_ = (_in_place_of(n) for n in ("addcmul", "addcdiv", "nan_to_num"))
    clamp_min_, clamp_max_, clip_ = (_in_place_of(n) for n in ("clamp_min", "clamp_max", "clip"))
    eq_, ne_, lt_, le_, gt_, ge_ = (_in_place_of(n) for n in ("eq", "ne", "lt", "le", "gt", "ge"))
    logical_and_, logical_or_ = (_in_place_of(n) for n in ("logical_and", "logical_or"))
    logical_xor_, logical_not_ = (_in_place_of(n) for n in ("logical_xor", "logical_not"))
    erf_, erfc_, erfinv_, xlogy_, logit_ = (_in_place_of(n) for n in ("erf", "erfc", "erfinv", "xlogy", "logit"))
    sinc_, copysign_, heaviside_, ldexp_ = (_in_place_of(n) for n in ("sinc", "copysign", "heaviside", "ldexp"))
    deg2rad_, rad2deg_, nextafter_ = (_in_place_of(n) for n in ("deg2rad", "rad2deg", "nextafter"))
    gcd_, lcm_, lgamma_, digamma_, i0_ = (_in_place_of(n) for n in ("gcd", "lcm", "lgamma", "digamma", "i0"))
    bitwise_and_, bitwise_or_, bitwise_xor_ = (_in_place_of(n) for n in ("bitwise_and", "bitwise_or", "bitwise_xor"))
    bitwise_not_ = _in_place_of("bitwise_not")
    true_divide_, fix_ = _in_place_of("true_divide"), _in_place_of("fix")
    greater_, greater_equal_, less_ = (_in_place_of(n) for n in ("greater", "greater_equal", "less"))
    less_equal_, not_equal_ = (_in_place_of(n) for n in ("less_equal", "not_equal"))
    addmm_, addbmm_, baddbmm_, addmv_, addr_ = (_in_place_of(n) for n in ("addmm", "addbmm", "baddbmm", "addmv",
                                                                          "addr"))
    renorm_, polygamma_, mvlgamma_ = (_in_place_of(n) for n in ("renorm", "polygamma", "mvlgamma"))
    bitwise_left_shift_, bitwise_right_shift_ = (_in_place_of(n) for n in ("bitwise_left_shift",
                                                                           "bitwise_right_shift"))

    def float_power_(self, exponent):
        """In place: self.float_power(exponent) written into self, which must be float64 (as torch)."""
        return _ops.special.float_power_(self, exponent)

    def softplus(self):
        return _ops.softplus(self)

    def erf(self):
        return _ops.erf(self)

    def matmul(self, other):
        return _ops.matmul(self, other)

    # reductions
    def sum(self, dim=None, keepdim=False, *, dtype=None):
        return _ops.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim=None, keepdim=False, *, dtype=None):
        return _ops.mean(self, dim, keepdim, dtype=dtype)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """torch's signatures: var(dim, unbiased=True, keepdim=False), var(unbiased), correction=c."""
        return _ops.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """torch's signatures: std(dim, unbiased=True, keepdim=False), std(unbiased), correction=c."""
        return _ops.std(self, dim, unbiased, keepdim, correction=correction)

    def norm(self, p=2, dim=None, keepdim=False):
        return _ops.norm(self, p, dim, keepdim)

    def t(self):
        return _ops.t(self)

    def cumsum(self, dim, *, dtype=None):
        return _ops.cumsum(self, dim, dtype=dtype)

    def prod(self, dim=None, keepdim=False, *, dtype=None):
        return _ops.prod(self, dim, keepdim, dtype=dtype)

    def sort(self, dim=-1, descending=False, *, stable=False):
        """(values, indices) along dim; values are differentiable; always a stable sort."""
        return _ops.sort(self, dim, descending)

    def argsort(self, dim=-1, descending=False, *, stable=False):
        return _ops.argsort(self, dim, descending)

    def topk(self, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - torch's name
        return _ops.topk(self, k, dim, largest, sorted)

    def flip(self, *dims):
        return _ops.flip(self, _one_or_many(dims))

    def roll(self, shifts, dims=None):
        return _ops.roll(self, shifts, dims)

    def index_select(self, dim, index):
        return _ops.index_select(self, dim, index)

    def masked_select(self, mask):
        return _ops.masked_select(self, mask)

    def repeat(self, *sizes):
        return _ops.repeat(self, *sizes)

    def tril(self, diagonal=0):
        return _ops.tril(self, diagonal)

    def triu(self, diagonal=0):
        return _ops.triu(self, diagonal)

    # more views, copies and index writes (torch's names; see ops/shape.py for which share memory)
    def unbind(self, dim=0):
        return _ops.unbind(self, dim)

    def narrow(self, dim, start, length):
        return _ops.narrow(self, dim, start, length)

    def select(self, dim, index):
        return _ops.select(self, dim, index)

    def movedim(self, source, destination):
        return _ops.movedim(self, source, destination)

    moveaxis = movedim

    def swapaxes(self, axis0, axis1):
        return _ops.swapaxes(self, axis0, axis1)

    swapdims = swapaxes

    def expand_as(self, other):
        return _ops.expand_as(self, other)

    def view_as(self, other):
        return _ops.view_as(self, other)

    def reshape_as(self, other):
        return _ops.reshape_as(self, other)

    def unflatten(self, dim, sizes):
        return _ops.unflatten(self, dim, sizes)

    def tile(self, *dims):
        return _ops.tile(self, _one_or_many(dims))

    def repeat_interleave(self, repeats=None, dim=None, *, output_size=None):
        return _ops.repeat_interleave(self, repeats, dim, output_size=output_size)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        return _ops.diagonal(self, offset, dim1, dim2)

    def diag(self, diagonal=0):
        return _ops.diag(self, diagonal)

    def trace(self):
        return _ops.trace(self)

    def diff(self, n=1, dim=-1, prepend=None, append=None):
        return _ops.diff(self, n, dim, prepend, append)

    def cumprod(self, dim, dtype=None):
        return _ops.cumprod(self, dim, dtype)

    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
        return _ops.unique(self, sorted, return_inverse, return_counts, dim)

    def masked_scatter(self, mask, source):
        """A copy of self with source's values (row-major) written where the bool `mask` is true."""
        return _ops.masked_scatter(self, mask, source)

    def index_copy(self, dim, index, source):
        """A copy of self with the slices of source written at `index` along `dim`."""
        return _ops.index_copy(self, dim, index, source)

    def index_fill(self, dim, index, value):
        """A copy of self with `value` at the positions `index` along `dim`."""
        return _ops.index_fill(self, dim, index, value)

    # torch's aliases and namespace extras (minigrad.ops.compose)
    def greater(self, other):
        return _ops.gt(self, other)

    def greater_equal(self, other):
        return _ops.ge(self, other)

    def less(self, other):
        return _ops.lt(self, other)

    def less_equal(self, other):
        return _ops.le(self, other)

    def not_equal(self, other):
        return _ops.ne(self, other)

    def arccos(self):
        return _ops.acos(self)

    def arcsin(self):
        return _ops.asin(self)

    def arctan(self):
        return _ops.atan(self)

    def arctan2(self, other):
        return _ops.atan2(self, other)

    def absolute(self):
        return _ops.abs(self)

    def clamp_min(self, min):  # noqa: A002 - torch's name
        return _ops.compose.clamp_min(self, min)

    def clamp_max(self, max):  # noqa: A002
        return _ops.compose.clamp_max(self, max)

    def ravel(self):
        return _ops.compose.ravel(self)

    def tensor_split(self, indices_or_sections, dim=0):
        return _ops.compose.tensor_split(self, indices_or_sections, dim)

    def hsplit(self, *indices_or_sections):  # hsplit(2), hsplit([1, 3]) or hsplit(1, 3), as torch
        return _ops.compose.hsplit(self, indices_or_sections[0] if len(indices_or_sections) == 1
                                   else indices_or_sections)

    def vsplit(self, *indices_or_sections):
        return _ops.compose.vsplit(self, indices_or_sections[0] if len(indices_or_sections) == 1
                                   else indices_or_sections)

    def dsplit(self, *indices_or_sections):
        return _ops.compose.dsplit(self, indices_or_sections[0] if len(indices_or_sections) == 1
                                   else indices_or_sections)

    def fliplr(self):
        return _ops.compose.fliplr(self)

    def flipud(self):
        return _ops.compose.flipud(self)

    def rot90(self, k=1, dims=(0, 1)):
        return _ops.compose.rot90(self, k, dims)

    @property
    def mT(self):  # noqa: N802 - torch's name
        """The last two dims swapped (a batch of matrices transposed)."""
        return _ops.compose.matrix_transpose(self, "mT")

    @property
    def mH(self):  # noqa: N802
        """The conjugate transpose of the last two dims: for real tensors, mT."""
        return _ops.compose.matrix_transpose(self, "mH")

    # metadata under torch's names
    def nelement(self) -> int:
        return int(self.data.size)

    def ndimension(self) -> int:
        return self.data.ndim

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    def is_complex(self) -> bool:
        return self.data.dtype.kind == "c"

    def is_contiguous(self, memory_format=None) -> bool:
        """Is this tensor's memory row-major contiguous? (minigrad's own layout: see `stride`)."""
        return bool(self.data.flags.c_contiguous)

    def stride(self, dim=None):
        """Steps between neighbouring elements per dim, in elements (minigrad's layout: a flip gives
        a negative stride, a broadcast dim 0)."""
        return _ops.compose.stride(self, dim)

    def element_size(self) -> int:
        """Bytes per element."""
        return self.data.dtype.itemsize

    @property
    def itemsize(self) -> int:
        return self.data.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """numel() * element_size(), as torch (a broadcast view counts every element it shows)."""
        return int(self.data.size) * self.data.dtype.itemsize

    def is_same_size(self, other) -> bool:
        return _ops.compose.is_same_size(self, other)

    # ------------------------------------------------------------ more of torch's Tensor members
    def fix(self):
        """torch's alias of trunc: rounded towards zero (zero gradient)."""
        return _ops.trunc(self)

    def renorm(self, p, dim, maxnorm):
        """Each slice self.select(dim, i) with p-norm above maxnorm rescaled to it (see ops.norm_more.renorm)."""
        return _ops.norm_more.renorm(self, p, dim, maxnorm)

    def polygamma(self, n):
        """polygamma(n, self), the n-th derivative of digamma (torch.Tensor.polygamma takes only n)."""
        return _ops.special.polygamma(n, self)

    def mvlgamma(self, p):
        """The multivariate log-gamma function of dimension p (torch.mvlgamma; mg.special.multigammaln)."""
        from . import special as _special

        return _special.multigammaln(self, p)

    def angle(self):
        """pi where self < 0, else 0 (the complex argument of a real number); zero gradient, as torch."""
        return _ops.special.angle(self)

    def frexp(self):
        """(mantissa, exponent): self = mantissa * 2**exponent, 0.5 <= |mantissa| < 1 (see ops.special.frexp)."""
        return _ops.special.frexp(self)

    def where(self, condition, other):
        """self where condition is true, else other (torch.Tensor.where: torch.where(condition, self, other))."""
        return _ops.where(condition, self, other)

    def prelu(self, weight):
        """torch.nn.functional.prelu(self, weight)."""
        return _ops.activation.prelu(self, weight)

    def hardshrink(self, lambd=0.5):
        """torch.nn.functional.hardshrink(self, lambd): self where |self| > lambd, else 0."""
        return _ops.loss_extra.hardshrink(self, lambd)

    def cov(self, *, correction=1, fweights=None, aweights=None):
        """The covariance of the rows (variables) over the columns (observations) (see ops.stats.cov)."""
        return _ops.stats.cov(self, correction=correction, fweights=fweights, aweights=aweights)

    def corrcoef(self):
        """Pearson's correlation coefficients of the rows (see ops.stats.corrcoef)."""
        return _ops.stats.corrcoef(self)

    def histogram(self, bins=100, *, range=None, weight=None, density=False):  # noqa: A002 - torch's names
        """(hist, bin_edges) of this floating-point tensor's values (see ops.stats.histogram)."""
        return _ops.stats.histogram(self, bins, range=range, weight=weight, density=density)

    # minigrad tensors are real: these members of torch's complex-number support are identities here
    def conj(self):
        """The complex conjugate: for real tensors, self itself (as torch)."""
        return self

    def resolve_conj(self):
        """self with a lazy conjugation applied: minigrad has none (real tensors), so self (as torch)."""
        return self

    def resolve_neg(self):
        """self with a lazy negation applied: minigrad has none, so self (as torch for tensors without one)."""
        return self

    @property
    def real(self):
        """The real part: for real tensors, self itself (as torch)."""
        return self

    def adjoint(self):
        """The conjugate transpose of the last two dims (a view): for real tensors mT, as torch's adjoint()."""
        if self.data.ndim < 2:
            raise RuntimeError(f"adjoint: only supported on matrices or batches of matrices, got a "
                               f"{self.data.ndim}-D tensor {self.dtype}{list(self.shape)}")
        return _ops.compose.matrix_transpose(self, "adjoint")

    def isreal(self):
        """True where the imaginary part is 0: every element of a real tensor (a new bool tensor)."""
        return _wrap(_B.get_array_module(self.data).ones(self.data.shape, dtype=np.bool_))

    def is_conj(self) -> bool:
        """Is a lazy conjugation pending? Never in minigrad (no complex tensors)."""
        return False

    def is_neg(self) -> bool:
        """Is a lazy negation pending? Never in minigrad."""
        return False

    def is_signed(self) -> bool:
        """True for signed dtypes: floats and signed integers (not bool, not uint8)."""
        return self.data.dtype.kind in "if"

    def is_inference(self) -> bool:
        """Is this an inference tensor? Never: `mg.inference_mode()` is no_grad() and makes plain tensors
        (see autograd.inference_mode), where torch would mark them."""
        return False

    def is_nonzero(self) -> bool:
        """The truth of a one-element tensor (x != 0); RuntimeError for none or several, as torch."""
        if self.data.size != 1:
            what = "no values" if self.data.size == 0 else "more than one value"
            raise RuntimeError(f"is_nonzero: Boolean value of Tensor with {what} is ambiguous "
                               f"({self.dtype}{list(self.shape)})")
        return bool(self.data.reshape(()).item() != 0)

    # memory: where the values live
    def data_ptr(self) -> int:
        """The address of the first element (a host address on 'cpu', a device address on 'cuda')."""
        return _B.data_address(self.data)

    def storage_offset(self) -> int:
        """How many elements after the start of the memory block it views this tensor's first element is
        (0 for a tensor that owns its memory; x[3:] of a contiguous x gives 3, as torch)."""
        root = _B.memory_root(self.data)
        return (_B.data_address(self.data) - _B.data_address(root)) // self.data.dtype.itemsize

    def resize_(self, *sizes, memory_format=None):
        """Give this tensor the shape `sizes` in place, reading its memory in order from its first element
        (torch's resize_).

        When the memory block it views holds enough elements from there (the same or fewer elements, or a
        slice of a larger tensor), the tensor becomes a view of that memory, as torch's. Otherwise it gets
        new memory holding the old values first and zeros after (torch leaves those uninitialized); where
        torch would grow the storage that its views share, here only this tensor moves to the new memory.
        Refused on a tensor that requires grad, as torch. `memory_format` is accepted and ignored.
        """
        op = "resize_"
        if self.requires_grad:
            raise RuntimeError(f"{op}: cannot resize variables that require grad (as torch); "
                               f"this is {self.dtype}{list(self.shape)}. Resize a detached tensor instead")
        shape = _one_or_many(sizes)
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)  # (Size is a tuple)
        for d in shape:
            if isinstance(d, bool) or not isinstance(d, numbers.Integral):
                raise TypeError(f"{op}: sizes must be ints, got {shape!r}")
            if d < 0:
                raise RuntimeError(f"{op}: Trying to create tensor with negative dimension {d}: {list(shape)}")
        shape = tuple(int(d) for d in shape)
        if shape == self.data.shape:
            return self
        n = Size(shape).numel()
        xp = _B.get_array_module(self.data)
        root = _B.memory_root(self.data)
        if root.dtype == self.data.dtype and root.flags.c_contiguous:  # read in memory order, as torch's storage
            flat, start = root.reshape(-1), self.storage_offset()
        else:  # (memory this tensor cannot read in order, e.g. a reinterpreted dtype: its values, in order)
            flat, start = self.data.reshape(-1), 0
        have = max(flat.size - start, 0)
        if n <= have:
            self.data = flat[start:start + n].reshape(shape)
        else:
            grown = xp.zeros(n, dtype=self.data.dtype)
            grown[:have] = flat[start:start + have]
            self.data = grown.reshape(shape)
            self._bump()  # (torch counts the reallocation as a write)
        return self

    def resize_as_(self, other, memory_format=None):
        """self.resize_(other.shape) (torch.Tensor.resize_as_)."""
        if not isinstance(other, Tensor):
            raise TypeError(f"resize_as_: expected a Tensor, got {type(other).__name__}")
        return self.resize_(other.shape)

    def share_memory_(self):
        """torch moves a CPU tensor's storage to shared memory for other processes (a no-op for CUDA
        tensors). A no-op here, returning self: minigrad tensors cross process boundaries pickled (the
        DataLoader's workers send copies), never through shared memory."""
        return self

    def is_shared(self) -> bool:
        """Is the memory shared between processes? Never in minigrad (see share_memory_)."""
        return False

    def pin_memory(self, device=None):
        """torch copies a CPU tensor into page-locked (pinned) host memory for faster copies to the GPU.
        minigrad has no pinned tensors: a CPU tensor is returned as it is (a no-op; copies to the GPU go
        through CuPy's own staging). A CUDA tensor is refused, as torch (only CPU tensors can be pinned)."""
        if self.device != "cpu":
            raise RuntimeError(f"pin_memory: cannot pin a {self.device} tensor; only dense CPU tensors can be pinned")
        return self

    def is_pinned(self, device=None) -> bool:
        """Is this tensor in pinned host memory? Never in minigrad (see pin_memory)."""
        return False

    def new(self, *args, device=None):
        """torch's legacy constructor, with this tensor's dtype and device.

        `x.new()`: an empty (0,) tensor; `x.new(2, 3)` or `x.new(mg.Size([2, 3]))`: a (2, 3) tensor (zeros:
        minigrad has no uninitialised memory); `x.new(data)` for a list, tuple or array: a new tensor of
        that data; `x.new(t)` for a tensor of x's dtype: a new tensor sharing t's memory. Prefer
        new_empty / new_zeros / new_tensor, as torch's documentation does.
        """
        op = "new"
        dev = self.device if device is None else _B.parse_device(device)
        if not args:
            return _factory.zeros(0, dtype=self.dtype, device=dev)
        if len(args) == 1 and isinstance(args[0], Tensor):
            other = args[0]
            if other.dtype != self.dtype or other.device != dev:
                raise TypeError(f"{op}: expected a tensor of dtype {self.dtype} on {dev}, got {other.dtype}"
                                f"{list(other.shape)} on {other.device} (as torch; use other.to(...) or new_tensor)")
            return _wrap(other.data, False, None, other._vc)  # (an alias, as torch)
        if len(args) == 1 and isinstance(args[0], Size):
            return _factory.zeros(tuple(args[0]), dtype=self.dtype, device=dev)
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args):
            if any(a < 0 for a in args):
                raise RuntimeError(f"{op}: Trying to create tensor with negative dimension: {list(args)}")
            return _factory.zeros(tuple(int(a) for a in args), dtype=self.dtype, device=dev)
        if len(args) == 1 and (isinstance(args[0], (list, tuple)) or _B.is_array(args[0])):
            return tensor(args[0], dtype=self.dtype, device=dev)
        raise TypeError(f"{op}: expected sizes (ints or a Size), or data (a list, tuple or array), got "
                        f"{', '.join(type(a).__name__ for a in args)}")

    # torch removed these in 1.9 and kept the names to say where they went (as here)
    def solve(self, *args, **kwargs):
        """Removed from torch (1.9): use mg.linalg.solve(A, B), whose arguments are reversed."""
        raise RuntimeError("solve: this function was deprecated in torch 1.9 and is now removed; use "
                           "mg.linalg.solve(A, B), which has its arguments reversed (X = mg.linalg.solve(A, B) "
                           "replaces X = B.solve(A).solution) and does not return the LU factorization")

    def lstsq(self, *args, **kwargs):
        """Removed from torch (1.9): use mg.linalg.lstsq(A, B), whose arguments are reversed."""
        raise RuntimeError("lstsq: this function was deprecated in torch 1.9 and is now removed; use "
                           "mg.linalg.lstsq(A, B).solution, which has its arguments reversed and does not return "
                           "the QR decomposition (see mg.linalg.qr)")

    def symeig(self, *args, **kwargs):
        """Removed from torch (1.9): use mg.linalg.eigh / mg.linalg.eigvalsh."""
        raise RuntimeError("symeig: this function was deprecated in torch 1.9 and is now removed; use "
                           "mg.linalg.eigvalsh(A, UPLO='U' if upper else 'L') for the eigenvalues and "
                           "mg.linalg.eigh(A, UPLO=...) for eigenvalues and eigenvectors (lower triangle by default)")

    def eig(self, *args, **kwargs):
        """Removed from torch (1.9): use mg.linalg.eig / mg.linalg.eigvals (complex results in torch)."""
        raise RuntimeError("eig: this function was deprecated in torch 1.9 and is now removed; use "
                           "mg.linalg.eigvals(A) / mg.linalg.eig(A) (torch returns complex tensors there; "
                           "minigrad has no complex dtype, see mg.linalg.eig), or mg.linalg.eigh for a symmetric A")

    # ------------------------------------------------------------ new tensors like this one
    def _like(self, dtype, device) -> dict:
        """dtype and device keywords defaulting to this tensor's (the new_* methods)."""
        return {"dtype": self.dtype if dtype is None else dtype, "device": self.device if device is None else device}

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        """zeros with this tensor's dtype and device unless given (torch.Tensor.new_zeros)."""
        return _factory.zeros(*size, requires_grad=requires_grad, **self._like(dtype, device))

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return _factory.ones(*size, requires_grad=requires_grad, **self._like(dtype, device))

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return _factory.full(size, fill_value, requires_grad=requires_grad, **self._like(dtype, device))

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        """A new tensor from data, with this tensor's dtype and device unless given."""
        return Tensor(data, requires_grad=requires_grad, **self._like(dtype, device))

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        """torch.Tensor.new_empty: minigrad has no uninitialised memory, so zeros (as mg.empty)."""
        return _factory.zeros(*size, requires_grad=requires_grad, **self._like(dtype, device))

    def type_as(self, other):
        """This tensor cast to other's dtype (differentiable, as .to(dtype))."""
        return self.to(other.dtype)

    def mm(self, other):
        return _ops.mm(self, other)

    def bmm(self, other):
        return _ops.bmm(self, other)

    # products and matrix builders (minigrad.ops.products)
    def outer(self, vec2):
        return _ops.outer(self, vec2)

    ger = outer

    def dot(self, other):
        return _ops.dot(self, other)

    def vdot(self, other):
        return _ops.vdot(self, other)

    def inner(self, other):
        return _ops.inner(self, other)

    def mv(self, vec):
        return _ops.mv(self, vec)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return _ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def addmv(self, mat, vec, *, beta=1, alpha=1):
        return _ops.addmv(self, mat, vec, beta=beta, alpha=alpha)

    def addr(self, vec1, vec2, *, beta=1, alpha=1):
        return _ops.addr(self, vec1, vec2, beta=beta, alpha=alpha)

    def addbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _ops.addbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _ops.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def kron(self, other):
        return _ops.kron(self, other)

    def cross(self, other, dim=None):
        return _ops.cross(self, other, dim)

    def dist(self, other, p=2.0):
        return _ops.dist(self, other, p)

    def diag_embed(self, offset=0, dim1=-2, dim2=-1):
        return _ops.diag_embed(self, offset, dim1, dim2)

    def diagflat(self, offset=0):
        return _ops.diagflat(self, offset)

    def matrix_power(self, n):
        return _ops.matrix_power(self, n)

    # torch.linalg's Tensor methods (minigrad.ops.linalg_ext)
    def inverse(self):
        return _ops.linalg_ext.inverse(self)

    def det(self):
        return _ops.linalg_ext.det(self)

    def logdet(self):
        return _ops.linalg_ext.logdet(self)

    def slogdet(self):
        return _ops.linalg_ext.slogdet(self)

    def cholesky(self, upper=False):
        return _ops.linalg_ext.cholesky_legacy(self, upper)

    def pinverse(self, rcond=1e-15):
        return _ops.linalg_ext.pinverse(self, rcond)

    def matrix_exp(self):
        return _ops.linalg_ext.matrix_exp(self)

    def svd(self, some=True, compute_uv=True):
        """torch.Tensor.svd: namedtuple (U, S, V), self = U diag(S) V^T (see minigrad.linalg.svd for Vh)."""
        return _ops.linalg_ext.svd_legacy(self, some, compute_uv)

    def qr(self, some=True):
        return _ops.linalg_ext.qr_legacy(self, some)

    def max(self, dim=None, keepdim=False):
        """The largest value; with an int dim, torch's namedtuple (values, indices); with a tensor, maximum."""
        return _ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        """The smallest value; with an int dim, (values, indices); with a tensor, minimum."""
        return _ops.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        """Largest values over `dim` (an int or a tuple); ties share the gradient."""
        return _ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        """Smallest values over `dim` (an int or a tuple); ties share the gradient."""
        return _ops.amin(self, dim, keepdim)

    def logsumexp(self, dim=None, keepdim=False):
        return _ops.logsumexp(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return _ops.argmin(self, dim, keepdim)

    def softmax(self, dim=-1, dtype=None):
        return _ops.compose.softmax(self, dim, dtype)

    def log_softmax(self, dim=-1, dtype=None):
        return _ops.compose.log_softmax(self, dim, dtype)

    def all(self, dim=None, keepdim=False):
        return _ops.reduce.reduce_all(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        return _ops.reduce.reduce_any(self, dim, keepdim)

    # statistics, scans and searches (ops/stats.py)
    def nansum(self, dim=None, keepdim=False, *, dtype=None):
        return _ops.stats.nansum(self, dim, keepdim, dtype=dtype)

    def nanmean(self, dim=None, keepdim=False, *, dtype=None):
        return _ops.stats.nanmean(self, dim, keepdim, dtype=dtype)

    def count_nonzero(self, dim=None):
        return _ops.stats.count_nonzero(self, dim)

    def aminmax(self, *, dim=None, keepdim=False):
        return _ops.stats.aminmax(self, dim=dim, keepdim=keepdim)

    def median(self, dim=None, keepdim=False):
        return _ops.stats.median(self, dim, keepdim)

    def nanmedian(self, dim=None, keepdim=False):
        return _ops.stats.nanmedian(self, dim, keepdim)

    def quantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return _ops.stats.quantile(self, q, dim, keepdim, interpolation=interpolation)

    def nanquantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return _ops.stats.nanquantile(self, q, dim, keepdim, interpolation=interpolation)

    def mode(self, dim=-1, keepdim=False):
        return _ops.stats.mode(self, dim, keepdim)

    def kthvalue(self, k, dim=-1, keepdim=False):
        return _ops.stats.kthvalue(self, k, dim, keepdim)

    def msort(self):
        return _ops.stats.msort(self)

    def cummax(self, dim):
        return _ops.stats.cummax(self, dim)

    def cummin(self, dim):
        return _ops.stats.cummin(self, dim)

    def logcumsumexp(self, dim):
        return _ops.stats.logcumsumexp(self, dim)

    def bincount(self, weights=None, minlength=0):
        return _ops.stats.bincount(self, weights, minlength)

    def histc(self, bins=100, min=0, max=0):  # noqa: A002 - torch's names
        return _ops.stats.histc(self, bins, min, max)

    def take(self, index):
        return _ops.stats.take(self, index)

    def take_along_dim(self, indices, dim=None):
        return _ops.stats.take_along_dim(self, indices, dim)

    def argwhere(self):
        return _ops.stats.argwhere(self)

    def unique_consecutive(self, return_inverse=False, return_counts=False, dim=None):
        return _ops.stats.unique_consecutive(self, return_inverse, return_counts, dim)

    # shape
    def reshape(self, *shape):
        return _ops.reshape(self, _one_or_many(shape))

    def view(self, *shape, dtype=None):
        """torch.Tensor.view: a new shape sharing this tensor's memory (refused where that needs a copy),
        or `view(dtype)`: the same bytes read as another dtype (not differentiable)."""
        if dtype is None and len(shape) == 1 and not isinstance(shape[0], (numbers.Integral, tuple, list)):
            dtype, shape = shape[0], ()
        if dtype is not None:
            if shape:
                raise TypeError("view: pass either a shape or a dtype, not both")
            return _ops.shape.view_dtype(self, dtype)
        return _ops.shape.view(self, _one_or_many(shape))

    def flatten(self, start_dim=0, end_dim=-1):
        return _ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return _ops.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return _ops.permute(self, _one_or_many(dims))

    @property
    def T(self):
        """All dimensions reversed (the matrix transpose for 2-D tensors)."""
        return _ops.permute(self, tuple(range(self.data.ndim - 1, -1, -1)))

    def squeeze(self, dim=None):
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return _ops.unsqueeze(self, dim)

    def expand(self, *sizes):
        return _ops.expand(self, _one_or_many(sizes))

    def broadcast_to(self, shape):
        """self broadcast to `shape` (as expand: -1 keeps a dim's size)."""
        return _ops.compose.broadcast_to(self, shape)

    def split(self, split_size, dim=0):
        # torch's Tensor.split names it `split_size` (torch.split: `split_size_or_sections`)
        return _ops.split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return _ops.chunk(self, chunks, dim)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    # ------------------------------------------------------------ in-place
    # Without a graph to record, an in-place op writes into self.data and bumps the version
    # counter (so a backward that saved the old value refuses to run). When there is one (self
    # is a non-leaf in a graph, or a plain tensor receiving a value that requires grad, as in
    # `out[t] = h`), the op is recorded as its out-of-place twin (`autograd.record_inplace`).
    def _check_inplace(self, op, writes=True):
        """Refuse an in-place write to a leaf that requires grad while grad mode is on (as torch), and
        (`writes`: the op writes memory, not only the shape) a write into overlapping memory."""
        if _ag._grad_enabled and self._rg and self.grad_fn is None:  # (_rg: the requires_grad slot)
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad cannot be modified in place while grad mode is on "
                "(torch: a leaf Variable that requires grad is being used in an in-place operation); "
                "wrap the update in `with mg.no_grad():` (as optimizers do), or use the out-of-place form")
        if writes:
            _ag.refuse_overlapping_write(self, op)

    def _records_inplace(self, *operands) -> bool:
        """Is this in-place write recorded in the graph (rather than just written)?"""
        if not _ag._grad_enabled:
            return False
        if self._rg:  # (the requires_grad slot, read directly: every in-place op and __setitem__ asks)
            return self.grad_fn is not None
        if self.data.dtype.kind != "f":  # an integer/bool tensor never joins a graph: the values are written (torch)
            return False
        return any(isinstance(o, Tensor) and o._rg for o in operands)

    def _bump(self):
        self._vc[0] += 1
        _ag._inplace_epoch += 1  # tells backward that version checks are needed
        return self

    def _operand(self, other, op):
        """The array (or Python value) to write into this tensor in place; refuses other devices and text."""
        if isinstance(other, Tensor):
            if other.device != self.device:
                raise RuntimeError(f"{op}: tensors are on different devices ({self.device} and {other.device})")
            return other.data
        _ops.common.refuse_text(other, op)
        return other

    def __setitem__(self, index, value):
        if self._records_inplace(value):
            _ag.record_inplace(self, "__setitem__", lambda t: _ops.shape.setitem(t, index, value))
            return
        self._check_inplace("__setitem__")
        if isinstance(value, Tensor) and value.data.dtype != self.data.dtype:  # cast (by NumPy below) where torch does
            _ops.shape.check_write_dtype("__setitem__", self, index, value)
        target = self.data
        xp = _B.get_array_module(target)
        expanded = _ops.shape.expand_0d_masks(target.shape, index, xp)
        if expanded is not None:  # a 0-d mask (`v[v > 0.3] = c`): write through a view with a new size-1 dim
            target, index = xp.expand_dims(target, expanded[1]), expanded[2]  # (expand_dims: always a view)
        idx = _ops.normalize_index(index, _wrap(target) if expanded is not None else self)
        v = self._operand(value, "__setitem__")
        target, idx = _ops.shape.split_index(target, idx)  # (ints before index arrays, as torch: a view)
        try:
            try:
                target[idx] = v
            except ValueError:  # at a scalar position NumPy refuses a value with leading size-1 dims; torch writes it
                at = _ops.shape.scalar_position_as_view(idx)
                if at is idx:
                    raise
                target[at] = v
        except (TypeError, ValueError) as e:  # NumPy's message names neither the op nor the tensor
            kind = ValueError if isinstance(e, ValueError) else TypeError
            what = f"{value.dtype}{list(value.shape)}" if isinstance(value, Tensor) else repr(value)
            raise kind(f"__setitem__: cannot assign {what} to {self.dtype}{list(self.shape)} on {self.device} "
                       f"at index {index!r} ({e})") from None
        self._bump()

    def _update(self, op, other, alpha=1):
        """self.data <op>= other (times alpha) in NumPy's in-place arithmetic, with errors that name the op."""
        if self._records_inplace(other):
            if alpha != 1:
                other = other * _ops.common.scalar_value(alpha, f"{op} (alpha)")
            # (through ops.special.inplace: computed in torch's promoted dtype, written back in self's)
            return _ops.special.inplace(op, self, lambda t: _OUT_OF_PLACE[op](t, other), other)
        self._check_inplace(op)
        o = self._operand(other, op)
        if op == "sub_":
            _ops.elementwise.refuse_bool_subtraction(op, self, other)
        if self.data.dtype.kind in "biu":
            # integer/bool tensors: torch's promotion and alpha rules (the out-of-place op's), written back where
            # torch allows the cast (uint8 *= int8[] is int16 written as uint8; bool += uint8 is refused); NumPy's
            # in-place arithmetic differs (found by fuzzing). Float tensors keep the fast NumPy path below.
            from .ops.special import inplace

            composed = {"add_": _ops.compose.add, "sub_": _ops.compose.sub}.get(op)
            fn = (lambda t: composed(t, other, alpha=alpha)) if composed else (lambda t: _OUT_OF_PLACE[op](t, other))
            try:
                return inplace(op, self, fn, other)
            except (RuntimeError, ValueError) as e:  # a cast torch refuses, or a shape that would change
                if isinstance(e, RuntimeError) and "can't be cast" not in str(e):
                    raise
                kind = TypeError if isinstance(e, RuntimeError) else ValueError
                what = f"{other.dtype}{list(other.shape)}" if isinstance(other, Tensor) else repr(other)
                raise kind(f"{op}: cannot update {self.dtype}{list(self.shape)} on {self.device} in place with "
                           f"{what}: the result must keep this tensor's shape and dtype ({e})") from None
        if alpha != 1:
            o = o * _ops.common.scalar_value(alpha, f"{op} (alpha)")
        try:
            _INPLACE[op](self.data, o)
        except (TypeError, ValueError) as e:  # NumPy's message names neither the op nor the tensors
            if isinstance(e, TypeError) and "Cannot cast" in str(e):
                # NumPy's in-place casting rule is not torch's: torch computes in the promoted dtype and writes
                # back any integer result into an integer tensor (uint8 *= int8[] is int16, written as uint8),
                # refusing only float -> integer and non-bool -> bool (found by fuzzing)
                from .ops.special import inplace

                return inplace(op, self, lambda t: _OUT_OF_PLACE[op](t, other if alpha == 1 else o), other)
            kind = ValueError if isinstance(e, ValueError) else TypeError  # NumPy subclasses need extra arguments
            what = f"{other.dtype}{list(other.shape)}" if isinstance(other, Tensor) else repr(other)
            raise kind(f"{op}: cannot update {self.dtype}{list(self.shape)} on {self.device} in place with "
                       f"{what}: the result must keep this tensor's shape and dtype ({e})") from None
        return self._bump()

    def add_(self, other, alpha=1):
        return self._update("add_", other, alpha)

    def sub_(self, other, alpha=1):
        return self._update("sub_", other, alpha)

    def mul_(self, other):
        return self._update("mul_", other)

    def div_(self, other, *, rounding_mode=None):
        if rounding_mode is not None:  # the quotient rounded in place (an int tensor stays int, as torch)
            return self._write_in_place("div_", lambda t: _ops.compose.div(t, other, rounding_mode=rounding_mode),
                                        other)
        return self._update("div_", other)

    subtract_, multiply_, divide_ = sub_, mul_, div_  # torch's aliases

    def zero_(self):
        if self._records_inplace():
            return _ag.record_inplace(self, "zero_", lambda t: _ops.shape.setitem(t, Ellipsis, 0))
        self._check_inplace("zero_")
        self.data.fill(0)
        return self._bump()

    def fill_(self, value):
        if self._records_inplace(value):
            if isinstance(value, Tensor) and value.data.ndim != 0:
                raise ValueError(f"fill_: a tensor value must be 0-d, got {value.dtype}{list(value.shape)}")
            return _ag.record_inplace(self, "fill_", lambda t: _ops.shape.setitem(t, Ellipsis, value))
        self._check_inplace("fill_")
        if isinstance(value, Tensor):  # a 0-d tensor, as torch allows
            if value.data.ndim != 0:
                raise ValueError(f"fill_: a tensor value must be 0-d, got {value.dtype}{list(value.shape)}")
            value = value.item()
        self.data.fill(_ops.common.scalar_value(value, "fill_"))  # (None would silently fill NaN)
        return self._bump()

    def copy_(self, src, non_blocking=False):  # (non_blocking: torch's hint; minigrad's copies are synchronous)
        if self._records_inplace(src):
            return _ag.record_inplace(self, "copy_", lambda t: _ops.shape.setitem(t, Ellipsis, src))
        self._check_inplace("copy_")
        if not isinstance(src, Tensor):
            _ops.common.refuse_text(src, "copy_")
        s = src.data if isinstance(src, Tensor) else _B.as_array(src, self.data.dtype, self.device)
        if _B.device_of(s) != self.device:
            s = _B.to_device(s, self.device)
        if s.shape != self.data.shape:
            try:
                _B.get_array_module(s).broadcast_to(s, self.data.shape)
            except ValueError:
                raise ValueError(f"copy_: cannot copy a tensor of shape {tuple(s.shape)} into one of shape {self.shape}") from None
        self.data[...] = s
        return self._bump()

    def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
        """In place: self.scatter(...) written into self."""
        if reduce is not None:
            return self._write_in_place("scatter_", lambda t: _ops.index_more.scatter_with_reduce(
                t, dim, index, src, value, reduce=reduce), src, value)
        return self._write_in_place("scatter_", lambda t: _ops.shape._scatter("scatter_", t, dim, index, src, value,
                                                                                False), src, value)

    def scatter_add_(self, dim, index, src):
        """In place: self.scatter_add(...) written into self."""
        if not isinstance(src, Tensor):
            raise TypeError(f"scatter_add_: src must be a Tensor, got {type(src).__name__}")
        return self._write_in_place("scatter_add_", lambda t: _ops.shape._scatter("scatter_add_", t, dim, index, src,
                                                                                    None, True), src)

    def _write_in_place(self, op, compute, *operands):
        """The in-place form of an out-of-place op: compute(t) is that op applied to a tensor t.

        On a non-leaf in a recorded graph the op is recorded (`autograd.record_inplace`);
        otherwise compute(self) runs without a graph and its result is written here. Either
        way the result must keep this tensor's shape (the other arguments broadcast *to* it).
        """
        if self._records_inplace(*operands):
            return _ag.record_inplace(self, op, compute)
        self._check_inplace(op)
        with _ag.no_grad():
            out = compute(self)
        if out.data.shape != self.data.shape:
            raise ValueError(f"{op}: the result would have shape {tuple(out.data.shape)}, but "
                             f"{self.dtype}{list(self.shape)} on {self.device} keeps its shape in place "
                             "(the other arguments must broadcast to it)")
        if out.data.dtype != self.data.dtype and not _can_cast(out.data.dtype, self.data.dtype):
            raise RuntimeError(f"{op}: the result type {out.data.dtype} can't be cast to {self.dtype}, the dtype "
                               f"of {self.dtype}{list(self.shape)} on {self.device} that is written in place")
        try:
            self.data[...] = out.data
        except ValueError as e:  # e.g. the read-only result of expand()
            raise RuntimeError(f"{op}: cannot write into {self.dtype}{list(self.shape)} on {self.device} in place "
                               f"({e}); use the out-of-place form") from None
        return self._bump()

    def masked_fill_(self, mask, value):
        """In place: self.masked_fill(mask, value) written into self."""
        return self._write_in_place("masked_fill_", lambda t: _ops.masked_fill(t, mask, value), value)

    def masked_scatter_(self, mask, source):
        """In place: self.masked_scatter(mask, source) written into self."""
        return self._write_in_place("masked_scatter_", lambda t: _ops.masked_scatter(t, mask, source), source)

    def index_copy_(self, dim, index, source):
        """In place: self.index_copy(dim, index, source) written into self."""
        return self._write_in_place("index_copy_", lambda t: _ops.index_copy(t, dim, index, source), source)

    def index_fill_(self, dim, index, value):
        """In place: self.index_fill(dim, index, value) written into self."""
        return self._write_in_place("index_fill_", lambda t: _ops.index_fill(t, dim, index, value), value)

    # index writes, reductions, windows and in-place shape changes (ops/index_more.py)
    def index_add_(self, dim, index, source, alpha=1):
        """In place: self.index_add(dim, index, source, alpha) written into self."""
        return self._write_in_place("index_add_", lambda t: _ops.index_add(t, dim, index, source, alpha), source)

    def index_put(self, indices, values, accumulate=False):
        """torch.Tensor.index_put: a copy with self[indices] = values (accumulate=True: +=, repeats add up)."""
        return _ops.index_more.index_put(self, indices, values, accumulate)

    def index_put_(self, indices, values, accumulate=False):
        """In place: self.index_put(indices, values, accumulate) written into self."""
        return self._write_in_place("index_put_", lambda t: _ops.index_more.index_put(t, indices, values, accumulate),
                                    values)

    def scatter_reduce(self, dim, index, src, reduce, *, include_self=True):
        """torch.Tensor.scatter_reduce: src reduced ('sum', 'prod', 'mean', 'amax', 'amin') into self at index."""
        return _ops.index_more.scatter_reduce(self, dim, index, src, reduce, include_self=include_self)

    def scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
        """In place: self.scatter_reduce(...) written into self."""
        return self._write_in_place("scatter_reduce_", lambda t: _ops.index_more._scatter_reduce(
            "scatter_reduce_", t, dim, index, src, reduce, include_self), src)

    def index_reduce(self, dim, index, source, reduce, *, include_self=True):
        """torch.Tensor.index_reduce: source reduced ('prod', 'mean', 'amax', 'amin') into self at index along dim."""
        return _ops.index_more.index_reduce(self, dim, index, source, reduce, include_self=include_self)

    def index_reduce_(self, dim, index, source, reduce, *, include_self=True):
        """In place: self.index_reduce(...) written into self."""
        return self._write_in_place("index_reduce_", lambda t: _ops.index_more.index_reduce(
            t, dim, index, source, reduce, include_self=include_self), source)

    def put(self, index, source, accumulate=False):
        """torch.Tensor.put: a copy with source written at the flat positions index (accumulate: added)."""
        return _ops.index_more.put(self, index, source, accumulate)

    def put_(self, index, source, accumulate=False):
        """In place: self.put(index, source, accumulate) written into self."""
        return self._write_in_place("put_", lambda t: _ops.index_more.put(t, index, source, accumulate), source)

    def unfold(self, dimension, size, step):
        """torch.Tensor.unfold: the windows of `size` along `dimension`, `step` apart, as a new last dim (a view)."""
        return _ops.index_more.unfold(self, dimension, size, step)

    def diagonal_scatter(self, src, offset=0, dim1=0, dim2=1):
        return _ops.index_more.diagonal_scatter(self, src, offset, dim1, dim2)

    def select_scatter(self, src, dim, index):
        return _ops.index_more.select_scatter(self, src, dim, index)

    def slice_scatter(self, src, dim=0, start=None, end=None, step=1):
        return _ops.index_more.slice_scatter(self, src, dim, start, end, step)

    def narrow_copy(self, dim, start, length):
        return _ops.index_more.narrow_copy(self, dim, start, length)

    def split_with_sizes(self, split_sizes, dim=0):
        return _ops.index_more.split_with_sizes(self, split_sizes, dim)

    def sum_to_size(self, *size):
        return _ops.index_more.sum_to_size(self, *size)

    def as_strided(self, size, stride, storage_offset=None):
        """torch.Tensor.as_strided on a contiguous tensor (a view of its memory, as torch's)."""
        return _ops.index_more.as_strided(self, size, stride, storage_offset)

    def cumsum_(self, dim, dtype=None):
        """In place: self.cumsum(dim) written into self (in its own dtype)."""
        return _ops.index_more.cumulative_("cumsum_", self, dim, dtype, _ops.cumsum)

    def cumprod_(self, dim, dtype=None):
        """In place: self.cumprod(dim) written into self (in its own dtype)."""
        return _ops.index_more.cumulative_("cumprod_", self, dim, dtype, _ops.cumprod)

    def tril_(self, diagonal=0):
        return _ops.index_more.tri_("tril_", self, diagonal, True)

    def triu_(self, diagonal=0):
        return _ops.index_more.tri_("triu_", self, diagonal, False)

    def squeeze_(self, dim=None):
        """In place (metadata only): self's size-1 dims removed (see ops.index_more.restride_)."""
        return _ops.index_more.restride_("squeeze_", self, lambda t: _ops.squeeze(t, dim))

    def unsqueeze_(self, dim):
        return _ops.index_more.restride_("unsqueeze_", self, lambda t: _ops.unsqueeze(t, dim))

    def t_(self):
        return _ops.index_more.restride_("t_", self, _ops.t)

    def transpose_(self, dim0, dim1):
        return _ops.index_more.restride_("transpose_", self, lambda t: _ops.transpose(t, dim0, dim1))

    def swapaxes_(self, axis0, axis1):
        return _ops.index_more.restride_("swapaxes_", self, lambda t: _ops.swapaxes(t, axis0, axis1))

    def swapdims_(self, dim0, dim1):
        return _ops.index_more.restride_("swapdims_", self, lambda t: _ops.swapaxes(t, dim0, dim1))

    def apply_(self, callable):  # noqa: A002 - torch's name
        """In place: each element replaced by callable(element) (CPU only; not for tensors requiring grad)."""
        return _ops.index_more.apply_(self, callable)

    def map_(self, tensor, callable):  # noqa: A002 - torch's names
        """In place: self[i] = callable(self[i], tensor[i]), tensor broadcast to self (CPU only)."""
        return _ops.index_more.map_(self, tensor, callable)

    # in-place random initialisers (torch's names): values from the seeded host generator, the same on
    # every device; refused on a leaf that requires grad unless under no_grad (`with mg.no_grad(): w.normal_()`)
    def _fill_random(self, op, **params):
        sample = _factory.random_like(op, self, **params)  # drawn (and checked) once, before any write
        keep = _wrap(_B.get_array_module(self.data).ones((), dtype=bool))
        # as a recorded op, where(True, sample, t): the values are the sample's, the old values get gradient 0
        return self._write_in_place(op, lambda t: _ops.where(keep, sample, t))

    def normal_(self, mean=0.0, std=1.0):
        """In place: samples of N(mean, std^2)."""
        return self._fill_random("normal_", mean=mean, std=std)

    def uniform_(self, from_=0.0, to=1.0, **kwargs):
        """In place: samples of U[from, to) (torch's keyword `from` is accepted too: uniform_(**{'from': 2}))."""
        return self._fill_random("uniform_", low=kwargs.pop("from", from_), high=to, **kwargs)

    def bernoulli_(self, p=0.5):
        """In place: 1 with probability p (a number, or a tensor broadcast to self), else 0."""
        return self._fill_random("bernoulli_", p=p)

    def exponential_(self, lambd=1.0):
        """In place: samples of the exponential distribution with rate lambd (density lambd exp(-lambd x))."""
        return self._fill_random("exponential_", lambd=lambd)

    def geometric_(self, p):
        """In place: the number of Bernoulli(p) trials up to and including the first success (1, 2, ...)."""
        return self._fill_random("geometric_", p=p)

    def log_normal_(self, mean=1.0, std=2.0):
        """In place: exp of samples of N(mean, std^2)."""
        return self._fill_random("log_normal_", mean=mean, std=std)

    def cauchy_(self, median=0.0, sigma=1.0):
        """In place: samples of the Cauchy distribution, median + sigma * tan(pi * (U - 1/2))."""
        return self._fill_random("cauchy_", median=median, sigma=sigma)

    def random_(self, from_=None, to=None, **kwargs):
        """In place: integers in [from, to); random_(to) is [0, to); random_() spans the dtype
        (floats: [0, 2**mantissa_bits])."""
        if "from" in kwargs:  # torch's keyword name (a Python keyword, hence from_ here)
            low = kwargs.pop("from")
        elif to is None and from_ is not None:  # one positional argument is `to`, as torch
            low, to = 0, from_
        else:
            low = 0 if from_ is None else from_
        return self._fill_random("random_", low=low, high=to, **kwargs)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        """int64 category indices drawn in proportion to this tensor's weights (see mg.multinomial)."""
        return _factory.multinomial(self, num_samples, replacement, generator=generator)

    def bernoulli(self, p=None):
        """1 with probability self (or p), else 0 (see mg.bernoulli)."""
        return _factory.bernoulli(self, p)

    def fill_diagonal_(self, fill_value, wrap=False):
        """In place: `fill_value` on the main diagonal (all dims equal beyond 2-D); wrap=True continues
        the diagonal down a tall matrix every n_cols + 1 rows, as torch."""
        op = "fill_diagonal_"
        if self.data.ndim < 2:
            raise ValueError(f"{op}: needs at least 2 dimensions, got {self.dtype}{list(self.shape)}")
        if self.data.ndim > 2 and len(set(self.data.shape)) != 1:
            raise ValueError(f"{op}: all dimensions of a tensor with more than 2 must be equal, got {self.shape}")
        value = _ops.common.scalar_value(fill_value, op)
        xp = _B.get_array_module(self.data)
        rows, cols = self.data.shape[0], self.data.shape[-1]
        if self.data.ndim == 2 and wrap and rows > cols:  # flat positions 0, cols+1, 2(cols+1), ...
            flat = xp.arange(0, rows * cols, cols + 1)
            index = (flat // cols, flat % cols)
        else:
            i = xp.arange(min(self.data.shape))
            index = (i,) * self.data.ndim
        return self._write_in_place(op, lambda t: _ops.shape.setitem(t, index, value))

    def clamp_(self, min=None, max=None):
        op = "clamp_"
        if self._records_inplace() or isinstance(min, Tensor) or isinstance(max, Tensor):
            # recorded, or tensor bounds: the out-of-place clamp (in torch's promoted dtype), written back
            bounds = [b for b in (min, max) if b is not None]
            return _ops.special.inplace(op, self, lambda t: t.clamp(min, max), *bounds)
        self._check_inplace(op)
        if min is None and max is None:
            raise ValueError(f"{op}: at least one of min and max must be given")
        lo = None if min is None else _ops.common.scalar_value(min, op)
        hi = None if max is None else _ops.common.scalar_value(max, op)
        kind = self.data.dtype.kind
        if kind == "b" or (kind in "iu" and (isinstance(lo, float) or isinstance(hi, float))):
            raise TypeError(f"{op}: clamping {self.dtype}{list(self.shape)} to [{min}, {max}] needs another dtype "
                            "for the result, which an in-place op cannot give; use the out-of-place clamp")
        _B.get_array_module(self.data).clip(self.data, lo, hi, out=self.data)
        return self._bump()


# torch's reductions also take NumPy's keyword spellings, keepdims= for keepdim= and axis= for dim=
# (`P.sum(1, keepdims=True)`), through its argument parser; minigrad renames them in a thin wrapper.
# (torch.norm is a Python function without them, so it is not listed)
REDUCTIONS_WITH_KEEPDIM = ("sum", "mean", "var", "std", "prod", "max", "min", "amax", "amin", "logsumexp",
                           "argmax", "argmin", "all", "any", "nansum", "nanmean", "aminmax", "median", "nanmedian",
                           "quantile", "nanquantile", "mode", "kthvalue", "std_mean", "var_mean")
# torch's argument parser maps axis= to dim= on every native function, not only reductions
# (`torch.cat([A, B], axis=0)`, `torch.stack(..., axis=1)` in Raschka's book); these take axis= too.
DIM_FUNCTIONS_WITH_AXIS = ("cat", "concat", "stack", "cumsum", "cumprod", "squeeze", "unsqueeze", "chunk", "unbind",
                           "softmax", "log_softmax", "sort", "argsort", "topk", "diff", "count_nonzero", "narrow",
                           "index_select")


def numpy_keyword_aliases(fn):
    """`fn` that also accepts keepdims= (for keepdim=) and axis= (for dim=), as torch's reductions do."""
    def wrapper(*args, **kwargs):
        for alias, name in (("keepdims", "keepdim"), ("axis", "dim")) if kwargs else ():
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError(f"{fn.__name__}(): got both {name}= and its alias {alias}=")
                kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)
    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    wrapper.__wrapped__ = fn  # inspect.signature shows fn's own
    return wrapper


for _name in REDUCTIONS_WITH_KEEPDIM + DIM_FUNCTIONS_WITH_AXIS:
    if _name in Tensor.__dict__:
        setattr(Tensor, _name, numpy_keyword_aliases(Tensor.__dict__[_name]))


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _refuse_float_tensor_items(seq, dtype):
    """torch reads a Tensor inside a list made into an integer/bool tensor as an index: a float one
    is refused (`torch.LongTensor([scores[0]])`), where NumPy would truncate it silently."""
    for e in seq:
        if isinstance(e, (list, tuple)):
            _refuse_float_tensor_items(e, dtype)
        elif isinstance(e, Tensor) and e.dtype.kind == "f":
            raise TypeError(f"tensor: a {e.dtype} tensor inside a list cannot become an element of a tensor "
                            f"of dtype {np.dtype(dtype)} (only integer tensors of a single element can be "
                            "converted to an index, as in torch); convert it first, e.g. t.long()")


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A new leaf tensor holding a copy of `data` (see `Tensor`).

    With no `device`, the default device (`mg.set_default_device`, ``with mg.device(...)``) when one
    is set, as torch.tensor; otherwise the data's own ('cpu' for lists and NumPy arrays).
    """
    if device is None:
        device = _B.default_device_or_none()
    if isinstance(data, Tensor):  # torch's warning; the result is a detached copy, as torch's
        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
                      "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor).",
                      UserWarning, stacklevel=2)
    if dtype is None and isinstance(data, (list, tuple)):  # infer the dtype from the data (Tensor(list) would not)
        data = t_data = _sequence_to_array(data)
    else:
        t_data = None
        if isinstance(data, (list, tuple)) and check_dtype(dtype, "tensor").kind in "biu":
            _refuse_float_tensor_items(data, dtype)
    t = Tensor(data, dtype=dtype, requires_grad=False, device=device)
    source = data.data if isinstance(data, Tensor) else data
    if t.data is source and source is not t_data:
        t.data = t.data.copy()  # torch.tensor copies; so do we
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like `tensor` but shares memory with `data` when dtype and device already match.

    With no `device`, the default device when one is set (as torch.as_tensor), else the data's.
    """
    if device is None:
        device = _B.default_device_or_none()
    if isinstance(data, Tensor) and dtype is None and (device is None or _B.parse_device(device) == data.device):
        return data  # (torch returns the tensor itself, graph and all)
    if dtype is None and isinstance(data, (list, tuple)):  # infer the dtype from the data (Tensor(list) would not)
        data = _sequence_to_array(data)
    elif isinstance(data, (list, tuple)) and check_dtype(dtype, "as_tensor").kind in "biu":
        _refuse_float_tensor_items(data, dtype)
    return Tensor(data, dtype=dtype, device=device)


_ag._wrap = _wrap
_ag._Tensor = Tensor

# Tensor._update: the in-place operator of each in-place method (NumPy arrays update themselves)
_INPLACE = {"add_": operator.iadd, "sub_": operator.isub, "mul_": operator.imul, "div_": operator.itruediv}
# ... and the out-of-place op that `autograd.record_inplace` records for it on a non-leaf
_OUT_OF_PLACE = {"add_": operator.add, "sub_": operator.sub, "mul_": operator.mul, "div_": operator.truediv}

from . import factory as _factory  # noqa: E402  (both need Tensor defined first)
from . import ops as _ops  # noqa: E402
from .ops.out import can_cast as _can_cast  # noqa: E402  (torch's in-place casting rule)
from . import autograd_functional as _agf  # noqa: E402  (Tensor.backward is autograd.backward)


def _one_or_many(args):
    """`t.f(2, 3)` or `t.f((2, 3))`: the positional arguments of reshape, permute, ... as one value."""
    return args[0] if len(args) == 1 and not isinstance(args[0], numbers.Integral) else args


# torch's legacy tensor type names, for Tensor.type()
_TYPE_NAMES = {np.dtype(k): v for k, v in (
    ("float32", "FloatTensor"), ("float64", "DoubleTensor"), ("float16", "HalfTensor"), ("int64", "LongTensor"),
    ("int32", "IntTensor"), ("int16", "ShortTensor"), ("int8", "CharTensor"), ("uint8", "ByteTensor"),
    ("bool", "BoolTensor"))}


def type_name_args(spec, op):
    """(dtype, on_gpu) for `type(spec)`: a dtype gives (dtype, None); a legacy name such as
    'torch.DoubleTensor' or 'torch.cuda.LongTensor' (or 'minigrad....') also says where to go."""
    if not (isinstance(spec, str) and spec.endswith("Tensor")):
        return check_dtype(spec, op), None
    lib, _, rest = spec.partition(".")
    on_gpu = rest.startswith("cuda.")
    dt = {v: k for k, v in _TYPE_NAMES.items()}.get(rest[5:] if on_gpu else rest)
    if lib not in ("torch", "minigrad") or dt is None:
        raise ValueError(f"{op}: invalid type {spec!r}; expected a dtype or a name like "
                         "'torch.FloatTensor' / 'torch.cuda.LongTensor'")
    return dt, on_gpu


class _LegacyTensorType(type):
    """torch's legacy type objects (`torch.LongTensor`, ...): a constructor, and a type for isinstance."""

    def __call__(cls, *args):
        """`LongTensor([1, 2])`: the data as int64; `LongTensor(2, 3)` / `LongTensor()`: a tensor of that
        shape (uninitialised in torch; minigrad has no uninitialised memory, so zeros, as mg.empty)."""
        name = cls.__name__
        if len(args) == 1 and not isinstance(args[0], (numbers.Integral, Size)):  # data (a Size is a shape)
            data = args[0]
            if isinstance(data, Tensor) and data.dtype != cls.dtype:  # torch refuses a cast here too
                raise TypeError(f"{name}: expected a {cls.dtype} tensor, got {data.dtype}; use .to({cls.dtype})")
            return as_tensor(data) if isinstance(data, Tensor) else tensor(data, dtype=cls.dtype)
        return _factory.zeros(*(args or (0,)), dtype=cls.dtype)

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and obj.device == "cpu"


FloatTensor = _LegacyTensorType("FloatTensor", (), {"dtype": np.dtype("float32")})
DoubleTensor = _LegacyTensorType("DoubleTensor", (), {"dtype": np.dtype("float64")})
HalfTensor = _LegacyTensorType("HalfTensor", (), {"dtype": np.dtype("float16")})
LongTensor = _LegacyTensorType("LongTensor", (), {"dtype": np.dtype("int64")})
IntTensor = _LegacyTensorType("IntTensor", (), {"dtype": np.dtype("int32")})
ShortTensor = _LegacyTensorType("ShortTensor", (), {"dtype": np.dtype("int16")})
CharTensor = _LegacyTensorType("CharTensor", (), {"dtype": np.dtype("int8")})
ByteTensor = _LegacyTensorType("ByteTensor", (), {"dtype": np.dtype("uint8")})
BoolTensor = _LegacyTensorType("BoolTensor", (), {"dtype": np.dtype("bool")})


def to_args(args, device=None, dtype=None):
    """(device, dtype) from the positional arguments of `.to(...)`, as torch reads them.

    A string is a device ('cpu', 'cuda', 'cuda:1'), an int N is 'cuda:N' (torch's `x.to(0)`), a
    Tensor gives both its device and dtype, anything else is a dtype; the keyword values are kept
    unless an argument overrides them.
    """
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, str) or (isinstance(a, numbers.Integral) and not isinstance(a, bool)):
            device = a
        else:
            dtype = a
    return device, dtype
