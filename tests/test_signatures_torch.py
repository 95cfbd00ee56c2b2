"""Signature audit against torch: positional order, parameter names, defaults and keyword-only markers.

A torch program runs unchanged on minigrad only if every call binds the same way. The dangerous
difference is silent: `x.std(0, False)` is std(dim=0, unbiased=False) in torch; a minigrad whose
second positional parameter was `keepdim` computed something else without a word. This file
compares, for every name that exists both in `torch` and `minigrad` (top level, `linalg`,
`special`, `func`, `nn.utils.stateless`) and every method of both `torch.Tensor` and `minigrad.Tensor`:

    torch's signatures     every overload of the aten schema (`torch._C._jit_get_schemas_for_operator`;
                           out= and named-tensor overloads skipped), plus the signature lines of the
                           docstring, or `inspect.signature` for torch's Python functions
    minigrad's signature   `inspect.signature` (decorators are unwrapped through `__wrapped__`)

and classifies each difference:

    a  positional   minigrad's i-th positional parameter is none of the parameters torch has at
                    position i in any overload (torch code passing it positionally binds another meaning)
    b  default      a parameter both have, whose minigrad default is none of torch's defaults for it
    c  keyword      positional in torch, keyword-only in minigrad (torch code gets a TypeError), or
                    optional in torch but required in minigrad; the harmless reverse (keyword-only in
                    torch, positional in minigrad) is counted by `audit()` but not pinned
    d  missing      a parameter torch has and minigrad does not take (torch code passing it gets a TypeError)

Every difference found must be listed in ALLOWED with the reason it is acceptable, and every entry
of ALLOWED must still be found: a new difference (a regression, or a new function) fails the test,
and so does a fixed one left in the list. Run `python tests/test_signatures_torch.py` to print the
current findings.
"""
from __future__ import annotations

import ast
import functools
import inspect
import re
import sys
import warnings

import pytest

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402

REQUIRED = "<required>"

# Names torch uses for the tensor a function reads first (minigrad sometimes spells it x / a / tensor):
# a different name at position 0 only matters for `fn(input=...)`, which torch code rarely writes.
_FIRST_ARG_NAMES = {"input", "self", "x", "a", "tensor", "A", "t"}
# torch keywords minigrad does not model anywhere (no layouts, named tensors, pinned memory ...)
_NEVER_MODELLED = {
    "layout": "minigrad has one layout (strided); torch.strided is the only value torch code passes",
    "pin_memory": "no pinned host memory in minigrad",
    "memory_format": "minigrad has no channels_last memory formats",
    "names": "no named tensors",
}


class P:
    """One parameter: name, keyword-only or not, default (REQUIRED when it has none)."""

    __slots__ = ("name", "kwonly", "default")

    def __init__(self, name, kwonly, default):
        self.name, self.kwonly, self.default = name, kwonly, default

    def __repr__(self):
        return f"{'*' if self.kwonly else ''}{self.name}" + ("" if self.default is REQUIRED else f"={self.default!r}")


# ------------------------------------------------------------------ torch's signatures
def _schema_overloads(op_name: str, method: bool):
    """Every overload of aten::op_name as a list of P (self dropped for methods, named input otherwise)."""
    found = []
    for s in torch._C._jit_get_schemas_for_operator("aten::" + op_name):
        args = list(s.arguments)
        if not args or str(args[0].type) != "Tensor" or args[0].name != "self":
            if method:  # a method's first schema argument is the tensor itself
                continue
        if any(a.alias_info is not None and a.alias_info.is_write for a in args if a.name != "self"):
            continue  # out= overloads: the out wrapper's business (tests/test_out_argument.py)
        if any("Dimname" in str(a.type) for a in args) or "dimname" in s.overload_name.lower():
            continue  # named-tensor overloads
        if not any("Tensor" in str(a.type) for a in args):
            continue  # TorchScript's list and number overloads (aten::sum.int, aten::log.float, ...)
        ps = []
        for i, a in enumerate(args):
            if i == 0 and a.name == "self" and method:
                continue
            name = "input" if a.name == "self" else a.name  # torch's functions call self `input`
            ps.append(P(name, a.kwarg_only, a.default_value if a.has_default_value() else REQUIRED))
        found.append(ps)
    return found


_SIG_LINE = re.compile(r"^(?:\.\. function:: )?\s*([A-Za-z_][\w.]*)\((.*?)\)\s*(?:->.*)?$")


def _doc_overloads(obj, name: str, method: bool):
    """The signature lines of torch's docstring ("std(input, dim=None, *, correction=1, ...) -> Tensor")."""
    doc = getattr(obj, "__doc__", None) or ""
    found = []
    for line in doc.splitlines()[:60]:
        m = _SIG_LINE.match(line.strip())
        if not m or m.group(1).split(".")[-1] != name:
            continue
        params = m.group(2)
        try:
            fn = ast.parse(f"def f({params}): pass").body[0]
        except SyntaxError:
            continue
        ps, a = [], fn.args
        pos = a.posonlyargs + a.args
        defaults = [REQUIRED] * (len(pos) - len(a.defaults)) + [_literal(d) for d in a.defaults]
        for arg, d in zip(pos, defaults):
            ps.append(P(arg.arg, False, d))
        if a.vararg:
            ps.append(P("*" + a.vararg.arg, False, REQUIRED))
        for arg, d in zip(a.kwonlyargs, a.kw_defaults):
            ps.append(P(arg.arg, True, REQUIRED if d is None else _literal(d)))
        if method and ps and ps[0].name == "self":
            ps = ps[1:]
        found.append(ps)
    return found


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)  # torch.float32, torch.preserve_format, ...


def _python_overloads(fn, method: bool):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    ps = _from_signature(sig)
    if method and ps and ps[0].name == "self":
        ps = ps[1:]
    return [ps]


def _from_signature(sig):
    ps = []
    for p in sig.parameters.values():
        default = REQUIRED if p.default is inspect.Parameter.empty else p.default
        if p.kind is p.VAR_POSITIONAL:
            ps.append(P("*" + p.name, False, REQUIRED))
        elif p.kind is p.VAR_KEYWORD:
            ps.append(P("**" + p.name, True, REQUIRED))
        else:
            ps.append(P(p.name, p.kind is p.KEYWORD_ONLY, default))
    return ps


class _Bad:
    """An argument no torch overload accepts: the arg parser then lists every signature it has."""


_PARSER_PARAM = re.compile(r"^(?P<type>.*?)\s*(?P<name>\*?\w+)(?: = (?P<default>.*))?$")


def _parser_overloads(obj, method: bool):
    """The Python signatures of a torch builtin, exactly as its argument parser knows them (overloads
    included, deprecated ones left out), read from the TypeError it raises for an argument of no known type:
    "std() received an invalid combination of arguments - got (_Bad), but expected one of:
     * (Tensor input, tuple of ints dim = None, *, Number correction = None, bool keepdim = False, ...)"."""
    fn = getattr(torch.zeros(2, 2), obj.__name__, None) if method else obj
    if fn is None:
        return []
    message = ""
    for args in ((_Bad(),), (_Bad(),) * 9):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn(*args)
        except TypeError as e:
            if "but expected" in str(e):
                message = str(e)
                break
        except Exception:  # noqa: BLE001  (a RuntimeError from a function with no arguments, ...)
            pass
    if not message:
        return []
    found = []
    tail = message.split("but expected", 1)[1]
    lines = re.findall(r"^\s*\* \((.*)\)\s*$", tail, re.M) if "one of:" in tail else [tail.strip()[1:-1]]
    for line in lines:
        ps, kwonly = [], False
        for part in filter(None, (x.strip() for x in re.split(r",(?![^{]*})", line))):
            if part == "*":
                kwonly = True
                continue
            m = _PARSER_PARAM.match(part)
            assert m, (obj, part, message)
            name, default = m.group("name"), m.group("default")
            if name.startswith("*"):  # "tuple of ints *size" (varargs): keep as a positional name
                name = name[1:]
            name = "input" if name == "self" and not method else name
            ps.append(P(name, kwonly, REQUIRED if default is None else _parser_default(default)))
        found.append(ps)
    return found


def _parser_default(text):
    try:
        return ast.literal_eval(text.replace("{", "(").replace("}", ")"))  # {-2,-1}: a tuple
    except (ValueError, SyntaxError):
        return {"None": None}.get(text, text)  # torch.contiguous_format, "mean", ...


def torch_overloads(obj, name: str, method: bool):
    """torch's signatures for `obj` (a torch function or Tensor method called `name`) and the extra
    defaults its docstring states (correction=1 where the parser says None)."""
    if inspect.isfunction(obj) or (method and inspect.isfunction(inspect.unwrap(obj))):
        over = _python_overloads(obj, method)
        if over and not any(p.name.startswith("*") for p in over[0]):
            return over, []
        return over + _schema_overloads(name, method), _doc_overloads(obj, name, method)
    parsed = _parser_overloads(obj, method)
    if parsed:
        return parsed, _doc_overloads(obj, name, method)
    return _schema_overloads(name, method), _doc_overloads(obj, name, method)


def minigrad_params(fn, method: bool):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    ps = _from_signature(sig)
    if method and ps and ps[0].name in ("self", "cls"):
        ps = ps[1:]
    return ps


# ------------------------------------------------------------------ the pairs compared
def _is_function(o):
    return callable(o) and not inspect.isclass(o) and not inspect.ismodule(o)


def pairs():
    """(qualified name, torch object, minigrad object, is_method, aten name) for every name in both."""
    out = []
    for prefix, tmod, mmod in (("", torch, mg), ("linalg.", torch.linalg, mg.linalg),
                               ("special.", torch.special, mg.special), ("func.", torch.func, mg.func),
                               ("stateless.", torch.nn.utils.stateless, mg.nn.utils.stateless)):
        for name in sorted(dir(mmod)):
            if name.startswith("_") or not hasattr(tmod, name):
                continue
            m, t = getattr(mmod, name), getattr(tmod, name)
            if _is_function(m) and _is_function(t):
                aten = {"": name, "linalg.": "linalg_" + name, "special.": "special_" + name}.get(prefix, "")
                out.append((prefix + name, t, m, False, aten))
    for name in sorted(dir(mg.nn.functional)):  # torch.nn.functional
        if name.startswith("_") or not hasattr(torch.nn.functional, name):
            continue
        m, t = getattr(mg.nn.functional, name), getattr(torch.nn.functional, name)
        if _is_function(m) and _is_function(t):
            out.append(("F." + name, t, m, False, name))
    for name in sorted(dir(mg.nn)):  # the constructors of torch.nn's layers, losses and containers
        m, t = getattr(mg.nn, name), getattr(torch.nn, name, None)
        if inspect.isclass(m) and inspect.isclass(t) and issubclass(m, mg.nn.Module):
            out.append(("nn." + name, t.__init__, m.__init__, True, ""))
    for name in sorted(vars_all(mg.Tensor)):
        if name.startswith("__") or not hasattr(torch.Tensor, name):
            continue
        raw = inspect.getattr_static(mg.Tensor, name)
        if isinstance(raw, (property, functools.cached_property)) or not callable(getattr(mg.Tensor, name)):
            continue
        if isinstance(inspect.getattr_static(torch.Tensor, name), property):
            continue
        t = getattr(torch.Tensor, name)
        if not callable(t) or inspect.isclass(t):
            continue
        is_static = isinstance(raw, (staticmethod, classmethod))
        out.append(("Tensor." + name, t, getattr(mg.Tensor, name), not is_static, name))
    return out


def vars_all(cls):
    names = set()
    for k in cls.__mro__:
        if k is object:
            continue
        names.update(vars(k))
    return names


# ------------------------------------------------------------------ the comparison
def _same(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if callable(a) and callable(b):  # activation=F.relu: the same function, each library's own object
        return getattr(a, "__name__", a) == getattr(b, "__name__", b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (type(a) is type(b) and a == b)
    try:
        return a == b
    except Exception:  # noqa: BLE001
        return False


def compare(qual, tover, mps, doc_over=()):
    """The differences between torch's overloads and minigrad's parameters: [(kind, key, text)]."""
    found, harmless = [], []
    if not tover or mps is None:
        return found, harmless
    mvar = any(p.name.startswith("**") for p in mps)
    mpos = []
    for p in mps:
        if p.name.startswith("*"):
            break
        if not p.kwonly:
            mpos.append(p)
    mvarargs = any(p.name.startswith("*") and not p.name.startswith("**") for p in mps)
    mby = {p.name: p for p in mps if not p.name.startswith("*")}
    tpos = [[p for p in o if not p.kwonly and not p.name.startswith("*")] for o in tover]
    # (a) the i-th positional parameter means something else
    for i, p in enumerate(mpos):
        at_i = {o[i].name for o in tpos if i < len(o)}
        if not at_i or p.name in at_i:
            continue
        if i == 0 and p.name in _FIRST_ARG_NAMES and at_i & _FIRST_ARG_NAMES:
            continue
        found.append(("a", f"{qual}:{i}", f"position {i}: minigrad {p.name!r}, torch {sorted(at_i)}"))
    tnames = {}
    for o in tover:
        for j, p in enumerate(o):
            if not p.name.startswith("*"):
                tnames.setdefault(p.name, []).append((o, j, p))
    for name, occ in tnames.items():
        mp = mby.get(name)
        if mp is None and name == "input" and mpos and occ[0][1] == 0:
            mp = mpos[0]
        if mp is None:
            if name == "out" and qual.split(".")[-1] in _OUT_NAMES and "." not in qual:
                continue
            if mvar or (mvarargs and all(not p.kwonly for _, _, p in occ)):
                continue
            if all(not p.kwonly and j < len(mpos) for o, j, p in occ):
                continue  # renamed at the same position: reported (kind a) there
            if name in _NEVER_MODELLED:
                continue
            found.append(("d", f"{qual}:{name}", f"torch's {name!r} is not a minigrad parameter"))
            continue
        tdefaults = [p.default for _, _, p in occ if p.default is not REQUIRED]
        tdefaults += [p.default for o in doc_over for p in o if p.name == name and p.default is not REQUIRED]
        # (b) a different default
        if mp.default is not REQUIRED and tdefaults and not any(_same(mp.default, d) for d in tdefaults):
            found.append(("b", f"{qual}:{name}",
                          f"{name!r} defaults to {mp.default!r} in minigrad, torch {_uniq(tdefaults)}"))
        if mp.default is REQUIRED and tdefaults and len(tdefaults) == len(occ):
            found.append(("c", f"{qual}:{name}:required",
                          f"{name!r} is required in minigrad, optional in torch ({_uniq(tdefaults)})"))
        t_positional = any(not p.kwonly for _, _, p in occ)
        if mp.kwonly and t_positional:
            found.append(("c", f"{qual}:{name}:kwonly", f"{name!r} is keyword-only in minigrad, positional in torch"))
        if not mp.kwonly and not t_positional:
            harmless.append(f"{qual}:{name}")
    return found, harmless


def _uniq(xs):
    out = []
    for x in xs:
        if not any(_same(x, y) for y in out):
            out.append(x)
    return out


try:
    from minigrad.ops.out import OUT_RULES as _OUT_RULES
    _OUT_NAMES = set(_OUT_RULES)
except ImportError:  # pragma: no cover
    _OUT_NAMES = set()


def audit():
    """{key: (kind, text)} for every difference, and the list of harmless keyword-only ones."""
    diffs, harmless = {}, []
    for qual, t, m, method, aten in pairs():
        tover, doc_over = torch_overloads(t, aten, method)
        found, h = compare(qual, tover, minigrad_params(m, method), doc_over)
        for kind, key, text in found:
            diffs[key] = (kind, text)
        harmless += h
    return diffs, harmless


# ------------------------------------------------------------------ the documented differences
ALLOWED: dict[str, str] = {
    "Tensor.bmm:0": ("a: renamed, same meaning at this position (minigrad 'other', torch ['mat2']); only a keyword "
                     "call with torch's name differs, and it fails loudly"),
    "Tensor.broadcast_to:0": ("a: renamed, same meaning at this position (minigrad 'shape', torch ['size']); only a "
                              "keyword call with torch's name differs, and it fails loudly"),
    "Tensor.copy_:0": ("a: renamed, same meaning at this position (minigrad 'src', torch ['other']); only a keyword "
                       "call with torch's name differs, and it fails loudly"),
    "Tensor.dot:0": ("a: renamed, same meaning at this position (minigrad 'other', torch ['tensor']); only a "
                     "keyword call with torch's name differs, and it fails loudly"),
    "Tensor.mm:0": ("a: renamed, same meaning at this position (minigrad 'other', torch ['mat2']); only a keyword "
                    "call with torch's name differs, and it fails loudly"),
    "Tensor.random_:0": ("a: renamed, same meaning at this position (minigrad 'from_', torch ['from', 'to']); only "
                         "a keyword call with torch's name differs, and it fails loudly"),
    "Tensor.resize_as_:0": ("a: renamed, same meaning at this position (minigrad 'other', torch ['the_template']); "
                            "only a keyword call with torch's name differs, and it fails loudly"),
    "Tensor.swapdims:0": ("a: renamed, same meaning at this position (minigrad 'axis0', torch ['dim0']); only a "
                          "keyword call with torch's name differs, and it fails loudly"),
    "Tensor.swapdims:1": ("a: renamed, same meaning at this position (minigrad 'axis1', torch ['dim1']); only a "
                          "keyword call with torch's name differs, and it fails loudly"),
    "Tensor.tensor_split:0": ("a: renamed (minigrad 'indices_or_sections' for torch's three overloads), "
                              "same meaning; a keyword call fails loudly"),
    "Tensor.uniform_:0": ("a: renamed, same meaning at this position (minigrad 'from_', torch ['from']); only a "
                          "keyword call with torch's name differs, and it fails loudly"),
    "bmm:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['mat2']); only a keyword call with "
              "torch's name differs, and it fails loudly"),
    "broadcast_to:1": ("a: renamed, same meaning at this position (minigrad 'shape', torch ['size']); only a "
                       "keyword call with torch's name differs, and it fails loudly"),
    "concatenate:1": ("a: renamed, same meaning at this position (minigrad 'axis', torch ['dim']); only a keyword "
                      "call with torch's name differs, and it fails loudly"),
    "dot:1": ("a: renamed, same meaning at this position (minigrad 'other', torch ['tensor']); only a keyword call "
              "with torch's name differs, and it fails loudly"),
    "dsplit:1": ("a: renamed, same meaning at this position (minigrad 'indices_or_sections', torch ['indices', "
                 "'sections']); only a keyword call with torch's name differs, and it fails loudly"),
    "eq:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call with "
             "torch's name differs, and it fails loudly"),
    "ge:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call with "
             "torch's name differs, and it fails loudly"),
    "greater:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call "
                  "with torch's name differs, and it fails loudly"),
    "greater_equal:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword "
                        "call with torch's name differs, and it fails loudly"),
    "gt:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call with "
             "torch's name differs, and it fails loudly"),
    "hsplit:1": ("a: renamed, same meaning at this position (minigrad 'indices_or_sections', torch ['indices', "
                 "'sections']); only a keyword call with torch's name differs, and it fails loudly"),
    "is_tensor:0": ("a: renamed, same meaning at this position (minigrad 'x', torch ['obj']); only a keyword call "
                    "with torch's name differs, and it fails loudly"),
    "le:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call with "
             "torch's name differs, and it fails loudly"),
    "less:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call with "
               "torch's name differs, and it fails loudly"),
    "less_equal:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword "
                     "call with torch's name differs, and it fails loudly"),
    "linalg.lstsq:1": ("a: renamed, same meaning at this position (minigrad 'B', torch ['b']); only a keyword call "
                       "with torch's name differs, and it fails loudly"),
    "linalg.matmul:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword "
                        "call with torch's name differs, and it fails loudly"),
    "load:1": ("a: renamed, same meaning at this position (minigrad 'device', torch ['map_location']); only a "
               "keyword call with torch's name differs, and it fails loudly"),
    "logical_and:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword "
                      "call with torch's name differs, and it fails loudly"),
    "logical_or:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword "
                     "call with torch's name differs, and it fails loudly"),
    "logical_xor:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword "
                      "call with torch's name differs, and it fails loudly"),
    "lt:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call with "
             "torch's name differs, and it fails loudly"),
    "matmul:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call "
                 "with torch's name differs, and it fails loudly"),
    "maximum:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call "
                  "with torch's name differs, and it fails loudly"),
    "minimum:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call "
                  "with torch's name differs, and it fails loudly"),
    "mm:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['mat2']); only a keyword call with "
             "torch's name differs, and it fails loudly"),
    "ne:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call with "
             "torch's name differs, and it fails loudly"),
    "nn.RNNBase:0": ("a: torch's RNNBase takes mode first; minigrad's base class is not built by torch code "
                     "(nn.RNN/LSTM/GRU are), and a mode string fails loudly as input_size"),
    "nn.RNNBase:1": ("a: torch's RNNBase takes mode first; minigrad's base class is not built by torch code "
                     "(nn.RNN/LSTM/GRU are), and a mode string fails loudly as input_size"),
    "nn.RNNBase:2": ("a: torch's RNNBase takes mode first; minigrad's base class is not built by torch code "
                     "(nn.RNN/LSTM/GRU are), and a mode string fails loudly as input_size"),
    "nn.RNNBase:3": ("a: torch's RNNBase takes mode first; minigrad's base class is not built by torch code "
                     "(nn.RNN/LSTM/GRU are), and a mode string fails loudly as input_size"),
    "nn.RNNBase:4": ("a: torch's RNNBase takes mode first; minigrad's base class is not built by torch code "
                     "(nn.RNN/LSTM/GRU are), and a mode string fails loudly as input_size"),
    "nn.RNNBase:5": ("a: torch's RNNBase takes mode first; minigrad's base class is not built by torch code "
                     "(nn.RNN/LSTM/GRU are), and a mode string fails loudly as input_size"),
    "nn.RNNBase:6": ("a: torch's RNNBase takes mode first; minigrad's base class is not built by torch code "
                     "(nn.RNN/LSTM/GRU are), and a mode string fails loudly as input_size"),
    "nn.RNNCellBase:3": ("a: torch's abstract RNNCellBase takes num_chunks; minigrad's cells "
                         "(RNNCell/LSTMCell/GRUCell) match torch"),
    "nn.RNNCellBase:4": ("a: torch's abstract RNNCellBase takes num_chunks; minigrad's cells "
                         "(RNNCell/LSTMCell/GRUCell) match torch"),
    "not_equal:1": ("a: renamed, same meaning at this position (minigrad 'b', torch ['other']); only a keyword call "
                    "with torch's name differs, and it fails loudly"),
    "searchsorted:1": ("a: renamed, same meaning at this position (minigrad 'values', torch ['input']); only a "
                       "keyword call with torch's name differs, and it fails loudly"),
    "set_default_dtype:0": ("a: renamed, same meaning at this position (minigrad 'dtype', torch ['d']); only a "
                            "keyword call with torch's name differs, and it fails loudly"),
    "spmm:0": ("a: renamed, same meaning at this position (minigrad 'mat1', torch ['input']); only a keyword call "
               "with torch's name differs, and it fails loudly"),
    "swapdims:1": ("a: renamed, same meaning at this position (minigrad 'axis0', torch ['dim0']); only a keyword "
                   "call with torch's name differs, and it fails loudly"),
    "swapdims:2": ("a: renamed, same meaning at this position (minigrad 'axis1', torch ['dim1']); only a keyword "
                   "call with torch's name differs, and it fails loudly"),
    "tensor_split:1": ("a: renamed (minigrad 'indices_or_sections' for torch's three overloads), "
                       "same meaning; a keyword call fails loudly"),
    "vsplit:1": ("a: renamed, same meaning at this position (minigrad 'indices_or_sections', torch ['indices', "
                 "'sections']); only a keyword call with torch's name differs, and it fails loudly"),
    "F.pad:value": "b: None means 0 in torch: the same padding value",
    "Tensor.is_contiguous:memory_format": "b: the layout argument is ignored (minigrad has one layout)",
    "Tensor.norm:p": ("b: p=2 over the given dims equals torch's default 'fro' (checked in "
                      "test_norm_default_is_frobenius)"),
    "Tensor.roll:dims": "b: None and [] both mean: roll the flattened tensor",
    "Tensor.std:unbiased": ("b: None marks 'not given' (to detect unbiased= with correction=); it means "
                            "unbiased=True, as torch (test_std_var_positional_unbiased)"),
    "Tensor.var:unbiased": ("b: None marks 'not given' (to detect unbiased= with correction=); it means "
                            "unbiased=True, as torch (test_std_var_positional_unbiased)"),
    "cdist:compute_mode": "b: None means torch's default mode; torch's mode strings are accepted",
    "compile:backend": "b: torch.compile is a documented no-op in minigrad",
    "median:dim": "b: torch refuses median(keepdim=True) without dim; median() reduces everything in both",
    "nanmedian:dim": "b: torch refuses nanmedian(keepdim=True) without dim; nanmedian() reduces everything in both",
    "norm:p": "b: p=2 over the given dims equals torch's default 'fro' (checked in test_norm_default_is_frobenius)",
    "std:unbiased": ("b: None marks 'not given' (to detect unbiased= with correction=); it means unbiased=True, as "
                     "torch (test_std_var_positional_unbiased)"),
    "std_mean:unbiased": ("b: None marks 'not given' (to detect unbiased= with correction=); it means "
                          "unbiased=True, as torch (test_std_var_positional_unbiased)"),
    "var:unbiased": ("b: None marks 'not given' (to detect unbiased= with correction=); it means unbiased=True, as "
                     "torch (test_std_var_positional_unbiased)"),
    "var_mean:unbiased": ("b: None marks 'not given' (to detect unbiased= with correction=); it means "
                          "unbiased=True, as torch (test_std_var_positional_unbiased)"),
    "Tensor.subtract:alpha:kwonly": ("c: torch's positional alpha exists only for a Number `other` (rsub(x, 3.0, "
                                     "2)); minigrad refuses it loudly"),
    "Tensor.to:copy:kwonly": ("c: minigrad's to(*args) reads torch's positional device/dtype/non_blocking/copy "
                              "(test_to_positional_flags)"),
    "Tensor.to:device:kwonly": ("c: minigrad's to(*args) reads torch's positional device/dtype/non_blocking/copy "
                                "(test_to_positional_flags)"),
    "Tensor.to:dtype:kwonly": ("c: minigrad's to(*args) reads torch's positional device/dtype/non_blocking/copy "
                               "(test_to_positional_flags)"),
    "Tensor.to:non_blocking:kwonly": ("c: minigrad's to(*args) reads torch's positional "
                                      "device/dtype/non_blocking/copy (test_to_positional_flags)"),
    "Tensor.view:dtype:kwonly": "c: view(*shape, dtype=None): a dtype passed positionally is read from *shape",
    "load:map_location:kwonly": ("c: minigrad's positional 2nd parameter `device` is torch's map_location (a device "
                                 "name)"),
    "nn.RNNBase:device:kwonly": "c: torch's RNNBase base class (see nn.RNNBase:0); nn.RNN/LSTM/GRU match torch",
    "nn.RNNBase:dtype:kwonly": "c: torch's RNNBase base class (see nn.RNNBase:0); nn.RNN/LSTM/GRU match torch",
    "nn.RNNBase:proj_size:kwonly": "c: torch's RNNBase base class (see nn.RNNBase:0); nn.RNN/LSTM/GRU match torch",
    "rand:size:kwonly": "c: size is read from *sizes (rand((2, 3)) and rand(2, 3) both work)",
    "randn:size:kwonly": "c: size is read from *sizes (rand((2, 3)) and rand(2, 3) both work)",
    "rsub:alpha:kwonly": ("c: torch's positional alpha exists only for a Number `other` (rsub(x, 3.0, 2)); minigrad "
                          "refuses it loudly"),
    "subtract:alpha:kwonly": ("c: torch's positional alpha exists only for a Number `other` (rsub(x, 3.0, 2)); "
                              "minigrad refuses it loudly"),
    "tensor_split:indices:kwonly": ("c: one positional indices_or_sections takes torch's three overloads (an int, a "
                                    "list, a tensor)"),
    "tensor_split:sections:kwonly": ("c: one positional indices_or_sections takes torch's three overloads (an int, "
                                     "a list, a tensor)"),
    "tensor_split:tensor_indices_or_sections:kwonly": ("c: one positional indices_or_sections takes torch's three "
                                                       "overloads (an int, a list, a tensor)"),
    "F.elu_:input_scale": "d: internal scale arguments of torch's elu_; not public API",
    "F.elu_:scale": "d: internal scale arguments of torch's elu_; not public API",
    "F.huber_loss:weight": "d: torch 2.13's new per-element weight= of the regression losses; not yet in minigrad",
    "F.l1_loss:weight": "d: torch 2.13's new per-element weight= of the regression losses; not yet in minigrad",
    "F.mse_loss:weight": "d: torch 2.13's new per-element weight= of the regression losses; not yet in minigrad",
    "F.normalize:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "F.rrelu_:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch code passing "
                           "generator= fails loudly"),
    "Tensor.bernoulli:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch code "
                                   "passing generator= fails loudly"),
    "Tensor.bernoulli_:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch "
                                    "code passing generator= fails loudly"),
    "Tensor.bmm:out_dtype": "d: torch 2.x mixed-precision output dtype for matmuls; not modelled",
    "Tensor.cauchy_:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch code "
                                 "passing generator= fails loudly"),
    "Tensor.expand:implicit": "d: torch-internal flag",
    "Tensor.exponential_:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch "
                                      "code passing generator= fails loudly"),
    "Tensor.geometric_:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch "
                                    "code passing generator= fails loudly"),
    "Tensor.log_normal_:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch "
                                     "code passing generator= fails loudly"),
    "Tensor.mm:out_dtype": "d: torch 2.x mixed-precision output dtype for matmuls; not modelled",
    "Tensor.norm:dtype": "d: norm(dtype=) not modelled (cast the input first)",
    "Tensor.normal_:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch code "
                                 "passing generator= fails loudly"),
    "addmm:out_dtype": "d: torch 2.x mixed-precision output dtype for matmuls; not modelled",
    "argsort:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "baddbmm:out_dtype": "d: torch 2.x mixed-precision output dtype for matmuls; not modelled",
    "bernoulli:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch code "
                            "passing generator= fails loudly"),
    "bernoulli:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "bmm:out_dtype": "d: torch 2.x mixed-precision output dtype for matmuls; not modelled",
    "einsum:path": "d: contraction-path hint of opt_einsum; no effect on the value",
    "histogram:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "linalg.cond:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "linalg.matrix_norm:out": ("d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare "
                               "here"),
    "linalg.matrix_rank:out": ("d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare "
                               "here"),
    "linalg.norm:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "linalg.pinv:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "linalg.svd:driver": "d: LAPACK/cuSOLVER driver choice; minigrad has one SVD",
    "linalg.svdvals:driver": "d: LAPACK/cuSOLVER driver choice; minigrad has one SVD",
    "load:pickle_module": "d: pickle/zipfile/mmap options of torch's serializer; minigrad's format is npz",
    "mm:out_dtype": "d: torch 2.x mixed-precision output dtype for matmuls; not modelled",
    "nn.Hardtanh:max_value": "d: torch's deprecated aliases of min_val/max_val",
    "nn.Hardtanh:min_value": "d: torch's deprecated aliases of min_val/max_val",
    "nn.LazyBatchNorm1d:bias": "d: torch 2.13's keyword-only bias= of the lazy batch norms; not modelled",
    "nn.LazyBatchNorm2d:bias": "d: torch 2.13's keyword-only bias= of the lazy batch norms; not modelled",
    "nn.LazyBatchNorm3d:bias": "d: torch 2.13's keyword-only bias= of the lazy batch norms; not modelled",
    "norm:dtype": "d: norm(dtype=) not modelled (cast the input first)",
    "normal:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch code passing "
                         "generator= fails loudly"),
    "poisson:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch code passing "
                          "generator= fails loudly"),
    "rand_like:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch code "
                            "passing generator= fails loudly"),
    "randint:requires_grad": "d: an integer tensor cannot require grad (torch refuses True too)",
    "randn_like:generator": ("d: no per-call generator for this sampler (mg.manual_seed seeds it); torch code "
                             "passing generator= fails loudly"),
    "save:_disable_byteorder_record": ("d: pickle/zipfile/mmap options of torch's serializer; minigrad's format is "
                                       "npz"),
    "save:_use_new_zipfile_serialization": ("d: pickle/zipfile/mmap options of torch's serializer; minigrad's "
                                            "format is npz"),
    "save:pickle_module": "d: pickle/zipfile/mmap options of torch's serializer; minigrad's format is npz",
    "save:pickle_protocol": "d: pickle/zipfile/mmap options of torch's serializer; minigrad's format is npz",
    "scatter:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "scatter:reduce": "d: top-level mg.scatter has no reduce=; Tensor.scatter(reduce=) has it",
    "special.xlog1py:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "special.xlogy:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "spmm:out": "d: out= is installed only on the top-level functions of ops/out.py OUT_RULES; rare here",
    "spmm:out_dtype": "d: torch 2.x mixed-precision output dtype for matmuls; not modelled",
}


if __name__ == "__main__":
    diffs, harmless = audit()
    kinds = {}
    for key, (kind, text) in sorted(diffs.items(), key=lambda kv: (kv[1][0], kv[0])):
        kinds[kind] = kinds.get(kind, 0) + 1
        mark = " " if key in ALLOWED else "!"
        if len(sys.argv) > 1 and sys.argv[1] == "--new" and key in ALLOWED:
            continue
        print(f"{mark} {kind} {key:45s} {text}")
    print(kinds, "harmless keyword-only-in-torch:", len(harmless))


# ------------------------------------------------------------------ the tests
@functools.lru_cache(maxsize=1)
def _audit():
    return audit()


def test_signatures_match_torch_or_are_documented():
    """Every difference from torch is in ALLOWED (with its reason), and every ALLOWED entry still exists."""
    diffs, _ = _audit()
    new = {k: v for k, v in diffs.items() if k not in ALLOWED}
    stale = sorted(k for k in ALLOWED if k not in diffs)
    assert not new, "signature differences from torch not in ALLOWED (fix them, or document why):\n" + "\n".join(
        f"  {kind} {k}: {text}" for k, (kind, text) in sorted(new.items()))
    assert not stale, f"ALLOWED entries no longer found (fixed? remove them): {stale}"


def test_allowed_reasons_name_their_kind():
    diffs, _ = _audit()
    for key, reason in ALLOWED.items():
        assert reason.startswith(diffs[key][0] + ": ") and len(reason) > 20, (key, reason)


def test_the_audit_catches_a_positional_mismatch():
    """The comparison itself: a std whose 2nd positional is keepdim (the bug this file exists for) is kind a,
    a wrong default is kind b, a keyword-only `unbiased` is kind c and a missing `correction` is kind d."""
    over, docs = torch_overloads(torch.std, "std", False)

    def bad_std(input, dim=None, keepdim=True, *, unbiased=True):  # noqa: A002
        pass

    found = {(kind, key) for kind, key, _ in compare("std", over, minigrad_params(bad_std, False), docs)[0]}
    assert {("a", "std:2"), ("b", "std:keepdim"), ("c", "std:unbiased:kwonly"), ("d", "std:correction")} <= found


def test_audit_covers_the_namespaces():
    names = {q for q, *_ in pairs()}
    for q in ("std", "linalg.pinv", "special.xlogy", "F.dropout", "nn.Embedding", "Tensor.std", "Tensor.to",
              "func.functional_call", "func.grad", "func.vmap", "stateless.functional_call"):
        assert q in names


# ------------------------------------------------------------------ torch parity of what the audit fixed
def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else t.numpy()


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "cumsum"])
@pytest.mark.parametrize("dtype", ["float64", "int32", "float32"])
def test_reduction_dtype_keyword(name, dtype):
    """x.sum(dtype=torch.float64) casts first and returns that dtype (was a TypeError)."""
    if name == "mean" and dtype == "int32":
        pytest.skip("torch refuses mean in an integer dtype")
    a = (mg.arange(12).reshape(3, 4) - 5).numpy().astype("int32")
    args = (1,) if name == "cumsum" else ()
    want = getattr(torch.tensor(a), name)(*args, dtype=getattr(torch, dtype))
    for got in (getattr(mg.tensor(a), name)(*args, dtype=getattr(mg, dtype)),
                getattr(mg, name)(mg.tensor(a), *args, dtype=getattr(mg, dtype))):
        assert str(got.dtype) == dtype == str(want.dtype).replace("torch.", "")
        assert (_np(got) == want.numpy()).all()


def test_reduction_dtype_keyword_gradient():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.sum(dtype=mg.float64)
    assert y.dtype == mg.float64
    y.backward()
    assert x.grad.dtype == mg.float32 and (x.grad.numpy() == 1).all()


def test_copy_non_blocking_sort_stable_gather_sparse_grad():
    """torch's keywords x.copy_(y, non_blocking=True), sort/argsort(stable=True), gather(sparse_grad=False)."""
    a = [3.0, 1.0, 2.0, 1.0, 3.0]
    t, m = torch.tensor(a), mg.tensor(a)
    assert (_np(m.clone().copy_(mg.ones(5), non_blocking=True)) == 1).all()
    assert (_np(mg.zeros(5).copy_(mg.ones(5), True)) == 1).all()
    for descending in (False, True):
        tv, ti = torch.sort(t, descending=descending, stable=True)
        mv, mi = mg.sort(m, descending=descending, stable=True)
        assert (_np(mv) == tv.numpy()).all() and (_np(mi) == ti.numpy()).all()
        assert (_np(m.argsort(descending=descending, stable=True)) == t.argsort(descending=descending,
                                                                                 stable=True).numpy()).all()
    # ties: torch's CPU sort keeps their order in descending sorts too (minigrad reversed them before)
    assert (_np(mg.sort(m, descending=True).indices) == torch.sort(t, descending=True).indices.numpy()).all()
    idx = [[0, 4], [2, 1]]
    want = torch.gather(t.reshape(1, 5).expand(2, 5), 1, torch.tensor(idx), sparse_grad=False)
    got = m.reshape(1, 5).expand(2, 5).gather(1, mg.tensor(idx), sparse_grad=False)
    assert (_np(got) == want.numpy()).all()


def test_to_positional_non_blocking_and_copy():
    """torch's x.to(dtype, non_blocking, copy) and x.to(device, dtype, non_blocking, copy) (was a TypeError:
    the False was read as a dtype)."""
    x = mg.ones(2, 3)
    assert x.to(mg.float64, False, False).dtype == mg.float64
    assert x.to("cpu", mg.float64, True, False).dtype == mg.float64
    assert x.to(mg.float32, False, False) is x and torch.ones(2).to(torch.float32, False, False) is not None
    assert x.to(mg.float32, False, True) is not x  # copy=True: a new tensor, as torch


def test_linalg_pinv_matrix_rank_positional_forms():
    """torch.linalg.pinv(A, rcond, hermitian) and matrix_rank(A, tol, hermitian) positionally (were TypeErrors)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 3, generator=g)
    a[:, 2] = a[:, 0] + a[:, 1] + 1e-4 * a[:, 2]  # nearly rank 2
    s = a.T @ a
    for args in ((1e-3,), (0.5,), (1e-3, False)):  # rcond far from the singular values (ratio ~1e-5, ~0.3)
        want = torch.linalg.pinv(a, *args).numpy()
        assert abs(_np(mg.linalg.pinv(mg.tensor(a.numpy()), *args)) - want).max() < 1e-3
    for mat, args in ((a, (1e-2,)), (a, (1e-7,)), (s, (1e-2, True))):
        assert int(mg.linalg.matrix_rank(mg.tensor(mat.numpy()), *args)) == int(torch.linalg.matrix_rank(mat, *args))
    with pytest.raises(TypeError, match="rcond"):
        mg.linalg.pinv(mg.tensor(a.numpy()), 1e-3, rtol=1e-3)


def test_std_var_positional_unbiased_and_norm_default():
    """The documented defaults behave as torch's: std/var's unbiased=None is True, norm's p=2 is 'fro'."""
    t = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(1))
    m = mg.tensor(t.numpy())
    for fn, args in (("std", (0,)), ("std", (0, False)), ("std", (1, True, True)), ("var", (2, False)),
                     ("std", (False,)), ("var", ())):
        assert abs(_np(getattr(m, fn)(*args)) - getattr(t, fn)(*args).numpy()).max() < 1e-5, (fn, args)
    for kw in ({}, {"dim": 1}, {"dim": (1, 2)}):
        assert abs(_np(mg.norm(m, **kw)) - torch.norm(t, **kw).numpy()).max() < 1e-4, kw
