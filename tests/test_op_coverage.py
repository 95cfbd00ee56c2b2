"""Meta-test: every concrete `Function` in `minigrad.ops` is gradient-tested somewhere.

Each test module that gradient-checks ops declares a module-level list
``GRADIENT_TESTED = [Add, Mul, ...]`` of the Function classes it checks. This test
imports every tests/test_*.py module, unions those lists, and fails naming every
Function subclass defined under `minigrad.ops` that no module claims.
"""
import functools
import gc
import importlib.util
import pkgutil
import sys
from pathlib import Path

import minigrad
import minigrad.ops
from minigrad.autograd import Function

TESTS = Path(__file__).resolve().parent


def _import_all_ops():
    """Import every module of minigrad.ops, so Functions in files nobody imported yet are seen too."""
    for info in pkgutil.walk_packages(minigrad.ops.__path__, prefix="minigrad.ops."):
        importlib.import_module(info.name)


def all_op_functions():
    """Every concrete Function subclass defined under minigrad.ops (private bases `_Name` skipped)."""
    _import_all_ops()
    found, stack = set(), list(Function.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("minigrad.ops") and not cls.__name__.startswith("_"):
            found.add(cls)
    return found


def _imported_test_modules():
    """{resolved path: module} for the modules already imported from the tests directory (pytest's)."""
    found = {}
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if f and Path(f).name.startswith("test_") and Path(f).resolve().parent == TESTS:
            found[Path(f).resolve()] = mod
    return found


def _load_test_module(path: Path, imported):
    """The module for tests/<path>: the one pytest already imported if present, else loaded from its file."""
    if path in imported:
        return imported[path]
    name = f"_op_coverage_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except Exception:
        del sys.modules[name]
        raise
    return mod


@functools.lru_cache(maxsize=None)
def gradient_tested():
    """{Function class: [test modules that claim it]} from every tests/test_*.py with GRADIENT_TESTED."""
    claims, broken = {}, []
    imported = _imported_test_modules()
    for path in sorted(TESTS.glob("test_*.py")):
        if path.resolve() == Path(__file__).resolve():
            continue
        try:
            mod = _load_test_module(path.resolve(), imported)
        except Exception as e:  # e.g. an importorskip'd dependency; reported, not fatal for the others
            broken.append(f"{path.name}: {type(e).__name__}: {e}")
            continue
        for cls in getattr(mod, "GRADIENT_TESTED", ()):
            claims.setdefault(cls, []).append(path.name)
    return claims, broken


def test_every_op_function_is_gradient_tested():
    ops = all_op_functions()
    claims, broken = gradient_tested()
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in ops if c not in claims)
    assert not missing, (
        f"{len(missing)} Function(s) in minigrad.ops have no gradient test: {', '.join(missing)}. "
        "Add a gradcheck property test and list the class in that module's GRADIENT_TESTED."
        + (f" (test modules that failed to import: {'; '.join(broken)})" if broken else ""))


def test_claims_are_real_functions():
    """GRADIENT_TESTED entries must be Function subclasses (not wrappers like `add`)."""
    claims, _ = gradient_tested()
    bad = [(c, where) for c, where in claims.items() if not (isinstance(c, type) and issubclass(c, Function))]
    assert not bad, f"GRADIENT_TESTED lists non-Function entries: {bad}"


def test_the_scan_finds_the_core_ops():
    names = {c.__name__ for c in all_op_functions()}
    assert {"Add", "MatMul", "GetItem", "CrossEntropy", "Max", "Min", "LogSumExp"} <= names
    assert "_Extreme" not in names  # the private base of Max/Min


def test_an_untested_function_would_be_reported():
    """The detector itself: a Function subclass defined under minigrad.ops and claimed nowhere is found."""
    fake = type("FakeUntestedOp", (Function,), {"__module__": "minigrad.ops.fake"})
    private = type("_FakeBase", (Function,), {"__module__": "minigrad.ops.fake"})
    try:
        ops = all_op_functions()
        assert fake in ops and private not in ops
        claims, _ = gradient_tested()
        assert fake not in claims
    finally:
        del fake, private, ops
        gc.collect()  # classes sit in reference cycles; drop them so no later scan sees them
    assert "FakeUntestedOp" not in {c.__name__ for c in all_op_functions()}
