"""`import minigrad.nn.functional as F` works as torch's spelling does, and is minigrad.functional itself."""
import subprocess
import sys

import minigrad as mg


def test_nn_functional_is_the_functional_module():
    import minigrad.nn.functional as F  # noqa: N812
    from minigrad.nn import functional
    from minigrad.nn.functional import cross_entropy

    assert F is mg.functional is functional is mg.F
    assert cross_entropy is mg.functional.cross_entropy


def test_nn_functional_import_in_a_fresh_interpreter():
    """The first import of minigrad may be `import minigrad.nn.functional` itself."""
    code = "import minigrad.nn.functional as F, minigrad; assert F is minigrad.functional; print(F.relu.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "relu"
