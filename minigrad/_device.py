"""torch.device: `mg.device("cuda", 1)`, a name for where a tensor lives.

    dev = mg.device("cuda" if mg.cuda.is_available() else "cpu")
    x = mg.zeros(3, device=dev)          # accepted wherever a device string is
    x.device                             # device(type='cpu'); str(x.device) == 'cpu'
    x.device.type, x.device.index        # 'cpu', None  ('cuda', 0 for a tensor on the first GPU)

A `device` is a `str` holding torch's spelling ('cpu', 'cuda', 'cuda:1', 'cpu:0'), so code
that compares devices with strings (``t.device == "cpu"``) or passes them on as strings keeps
working; equality and hashing are the string's, which are torch's: ``device("cuda") !=
device("cuda:0")`` (an unnamed index means "the current GPU"), ``device("cuda", 1) ==
device("cuda:1")``. One extension: torch's ``torch.device("cpu") == "cpu"`` is False, ours True.

Making one checks only the spelling, as torch does (``device("cuda:3")`` is fine on a machine
without GPUs); using it (``mg.zeros(2, device=dev)``) checks that the device exists.
`minigrad.backend.parse_device` turns any spelling into the canonical device a tensor reports:
``device('cpu')`` or ``device('cuda:N')``.

The default device (`mg.set_default_device`, ``with mg.device("cuda"):``) is held here too, per
thread as in torch: the factories (zeros, ones, full, arange, rand, randn, ...) and `mg.tensor`
put a tensor with no ``device=`` there, and so do layer constructors, which pass ``device=None``
down to them. `minigrad.backend` reads it (`factory_device`, `get_default_device`).

This module imports nothing from minigrad at import time (the backend builds on it).
"""
from __future__ import annotations

import builtins
import threading

__all__ = ["device", "parse"]

_TYPES = ("cpu", "cuda")
_EXPECTED = "expected 'cpu', 'cuda' or 'cuda:N'"


def _shown(spec) -> str:
    """`spec` as messages quote it: 'cuda:x' for any string (a device too), repr otherwise."""
    return repr(str(spec)) if isinstance(spec, str) else repr(spec)


def parse(spec, index=None) -> tuple:
    """(type, index) named by a device spelling, checking the spelling only.

    Args:
        spec: 'cpu', 'cuda', 'cuda:N' (case and surrounding blanks ignored), 'cpu:0', a `device`,
            a torch.device (anything whose str() is such a name), or an int N (torch's
            shorthand for 'cuda:N').
        index: the device index given separately (``device("cuda", 1)``); not with 'cuda:N'.

    Returns:
        ('cpu' or 'cuda', int index or None).

    Raises:
        ValueError: an unknown device type, an unreadable or negative index, or an index given twice.
        TypeError: an index that is not an int.
    """
    if isinstance(spec, int) and not isinstance(spec, bool):  # torch.device(1): the accelerator's device 1
        spec, index = "cuda", spec if index is None else _twice(spec, index)
    text = spec if isinstance(spec, str) else str(spec)  # torch.device and the like: their str() is the name
    name = text.strip().lower()
    kind, colon, number = name.partition(":")
    if kind not in _TYPES:
        raise ValueError(f"device: unknown device {_shown(spec)}; {_EXPECTED}")
    if colon:
        if not (number.isdigit() and number.isascii()):  # (refuses 'cuda:-1', 'cuda:x', 'cuda:1:2', 'cuda:')
            raise ValueError(f"device: cannot parse {_shown(spec)}; {_EXPECTED}")
        if index is not None:
            _twice(spec, index)
        index = int(number)
    elif index is not None:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"device: the index must be an int, got {type(index).__name__}")
        if index < 0:
            raise ValueError(f"device: the index must not be negative, got {index}")
        index = int(index)
    return kind, index


def _twice(spec, index):
    raise ValueError(f"device: {_shown(spec)} already names an index; pass the index once "
                     f"(device('cuda', {index}) or device('cuda:{index}'))")


class device(str):
    """torch.device: a device type ('cpu' or 'cuda') and an optional index, as a str ('cuda:1').

    Args:
        type: 'cpu', 'cuda', 'cuda:N', a `device`, a torch.device, or an int N ('cuda:N').
        index: the index, when `type` names none (``device("cuda", 1)``).

    Attributes:
        type: 'cpu' or 'cuda'.
        index: the int index, or None when none was named ('cuda' means the current GPU).

    Example::

        >>> mg.device("cuda", 1)
        device(type='cuda', index=1)
        >>> str(mg.device("cuda:1")), mg.device("cpu") == "cpu"
        ('cuda:1', True)
    """

    __slots__ = ()  # immutable, like the string it is
    __module__ = "minigrad"  # shown (and pickled) as minigrad.device, as torch's is torch.device

    def __new__(cls, type, index=None):  # noqa: A002  (torch's parameter name)
        if builtins.type(type) is cls and index is None:
            return type  # already canonical
        kind, idx = parse(type, index)
        return str.__new__(cls, kind if idx is None else f"{kind}:{idx}")

    @property
    def type(self) -> str:  # noqa: A003
        return self.partition(":")[0]

    @property
    def index(self):
        number = self.partition(":")[2]
        return int(number) if number else None

    def __repr__(self) -> str:
        index = self.index
        return f"device(type='{self.type}')" if index is None else f"device(type='{self.type}', index={index})"

    def __reduce__(self):
        return (device, (str(self),))

    def __enter__(self):
        """``with mg.device("cuda"):`` makes this the default device until the block ends.

        Unlike torch (which fails at the first tensor made), entering checks that the device
        exists: ``with mg.device("cuda"):`` on a machine without CUDA raises a RuntimeError here.
        Blocks nest; leaving one (by an exception too) restores the default it replaced.
        """
        from . import backend  # (imported on use: the backend imports this module)

        backend.parse_device(self)  # the clear "CUDA is not available" / "no device N" error, now
        _default.replaced.append(_default.device)  # a stack: blocks nest, and one device may be re-entered
        _default.device = self
        return self

    def __exit__(self, exc_type, exc, tb):
        _default.device = _default.replaced.pop()
        return False  # exceptions propagate


class _DefaultDevice(threading.local):
    """This thread's default device (torch's is per thread too; a new thread starts with none).

    Attributes:
        device: the `device` set by `set_default_device` or the innermost ``with device(...)``,
            kept as written ('cuda' means the current GPU when used); None when none is set.
        replaced: the defaults that the open ``with`` blocks replaced, innermost last.
    """

    def __init__(self):
        self.device = None
        self.replaced = []


_default = _DefaultDevice()
