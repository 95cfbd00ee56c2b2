"""inf - inf, 0 / 0 and overflows give NaN / inf silently, as in torch: NumPy's RuntimeWarnings
raised inside minigrad are filtered (minigrad/__init__.py), while NumPy called from user code
still warns. Run in a fresh interpreter with `-W always`, so that no earlier warning (Python
shows each once per place) and no test's filter hides one."""
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import numpy as np
    import minigrad as mg
    inf = float("inf")
    a = mg.tensor([inf, 1.0, 0.0, 2.0], requires_grad=True)
    b = mg.tensor([inf, 0.0, 0.0, -inf], requires_grad=True)
    ys = [a - b, a + (-b), a * b, a / b, mg.log(a - 1.0), mg.sqrt(a - 3.0), mg.exp(a * 1e3), a ** 400,
          (a - b).sum(), (a - b).mean(), a.var(), mg.softmax(a, 0), a[None] @ (b[:, None] * 0 - b[:, None])]
    sum((y.sum() if y.ndim else y) for y in ys).backward()
    print("user numpy next")
    np.array([np.inf]) - np.array([np.inf])
""")


def test_minigrad_ops_are_silent_and_user_numpy_still_warns():
    r = subprocess.run([sys.executable, "-W", "always", "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    warned = [line for line in r.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warned) == 1 and "<string>" in warned[0], r.stderr  # only the user's own NumPy line
    assert "user numpy next" in r.stdout
