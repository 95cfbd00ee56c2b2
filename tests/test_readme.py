"""The README is the user's manual: its first commands and its tour code must stay true."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_setup_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert first_block[0].startswith("pip install -e . && python examples/")
    assert first_block[1].startswith('pip install -e ".[test]" && python -m pytest -q')
    demo = first_block[0].split("python ")[1].split()[0]
    assert (ROOT / demo).exists()


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]" && python -m pytest -q' in ci


def test_tour_code_runs():
    code = re.findall(r"```python\n(.*?)```", README, re.S)[0]
    exec(compile(code, "README.md tour", "exec"), {})


def test_custom_op_example_runs_and_its_property_holds():
    """The "your own op" block: the Function works and its Hypothesis property passes."""
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    code = next(b for b in blocks if "class Softsign(mg.Function)" in b)
    scope = {}
    exec(compile(code, "README.md custom op", "exec"), scope)
    import minigrad as mg
    x = mg.tensor([-2.0, 0.0, 3.0], dtype="float64", requires_grad=True)
    scope["softsign"](x).sum().backward()
    assert x.grad.numpy().tolist() == [1 / 9, 1.0, 1 / 16]


def test_every_example_named_in_readme_exists():
    for path in set(re.findall(r"python (examples/\w+\.py)", README)):
        assert (ROOT / path).exists(), path
