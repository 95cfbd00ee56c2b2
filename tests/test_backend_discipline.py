"""Only minigrad/backend.py may import numpy or cupy to compute (minigrad/testing/ is host-side by design).

Everything else gets its array module from the arrays (`backend.get_array_module`),
which is what lets one code path serve NumPy and CuPy.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"numpy", "cupy"}
EXEMPT = [ROOT / "minigrad" / "backend.py", ROOT / "minigrad" / "testing"]


def _python_files():
    for top in ("minigrad", "models"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if any(path == e or e in path.parents for e in EXEMPT):
                continue
            yield path


def forbidden_imports(source: str, filename: str = "<string>"):
    """(line, statement) for every `import numpy/cupy[...]` or `from numpy/cupy[...] import ...`."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in FORBIDDEN:
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_scan_sees_the_package():
    files = list(_python_files())
    assert any(p.name == "tensor.py" for p in files) and any(p.parent.name == "ops" for p in files)
    assert not any(p.name == "backend.py" and p.parent.name == "minigrad" for p in files)


def test_detector_catches_every_form():
    src = ("import numpy\nimport numpy as np\nimport cupy.random\nfrom numpy import float32\n"
           "from cupy import cuda\nimport os, numpy.linalg\nfrom numpyro import x\nfrom . import numpy\n"
           "def f():\n    import cupy\n")
    lines = {ln for ln, _ in forbidden_imports(src)}
    assert lines == {1, 2, 3, 4, 5, 6, 10}  # not numpyro, not a relative `from . import numpy`


@pytest.mark.parametrize("path", list(_python_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_direct_numpy_or_cupy_import(path):
    bad = forbidden_imports(path.read_text(), str(path))
    assert not bad, (f"{path.relative_to(ROOT)} imports an array library directly: "
                     + "; ".join(f"line {ln}: {stmt}" for ln, stmt in bad)
                     + ". Use `from minigrad import backend as _B` (`_B.np` for dtypes, "
                       "`_B.get_array_module(arr)` for computation).")
