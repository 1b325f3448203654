"""The documentation runs: every docstring example, the README's Python, and the example scripts."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import fastcrl
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _public_modules() -> list[str]:
    names = ["fastcrl"]
    for info in pkgutil.walk_packages(fastcrl.__path__, prefix="fastcrl."):
        leaf = info.name.rsplit(".", 1)[-1]
        if not leaf.startswith("_gpu") and leaf != "__main__":  # CuPy to import; runs the CLI
            names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _public_modules())
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, module_name) if t.examples]
    for test in tests:
        runner.run(test, out=lambda text: sys.stdout.write(text))
    result = runner.summarize(verbose=False)
    assert result.failed == 0, (
        f"{result.failed} docstring example(s) in {module_name} failed (see stdout)"
    )


def test_docstring_examples_exist():
    # The walk above must find the examples the package documents, not silently nothing.
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = sum(
        len(t.examples)
        for name in _public_modules()
        for t in finder.find(importlib.import_module(name), name)
    )
    assert found > 200


def _readme_python() -> str:
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the tests (installed without the source tree)")
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README.md has no python code block"
    return "\n".join(blocks)


def test_readme_python_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything it writes stays out of the checkout
    exec(compile(_readme_python(), "README.md", "exec"), {"__name__": "readme"})


def _run_example(name: str, *args: str) -> str:
    script = EXAMPLES / name
    if not script.exists():
        pytest.skip("examples/ is not beside the tests (installed without the source tree)")
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_every_example_is_tested():
    if not EXAMPLES.exists():
        pytest.skip("examples/ is not beside the tests")
    tested = {
        "structure_learning.py",
        "discrete_networks.py",
        "interventional_crl.py",
        "nonlinear_ica_ivae.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_example_structure_learning():
    out = _run_example("structure_learning.py")  # 20 nodes, 1,000 rows: about a second
    for method in (
        "DAGMA",
        "NOTEARS",
        "GES",
        "HillClimb",
        "SortNRegress",
        "with knowledge",
        "bootstrap",
    ):
        assert method in out
    # On this seeded problem GES finds the true class (measured CPDAG SHD 0).
    ges_row = next(line for line in out.splitlines() if line.startswith("GES "))
    assert int(ges_row.split()[-1]) <= 2, out


def test_example_discrete_networks():
    out = _run_example("discrete_networks.py", "--nodes", "7", "--samples", "3000")
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.split()[:1] in (["HillClimb"], ["GES"], ["ExactSearch"])
    }
    assert set(rows) == {"HillClimb", "GES", "ExactSearch"}, out
    # The exact search is the oracle: no search scores above it.
    optimum = float(rows["ExactSearch"][2])
    assert float(rows["HillClimb"][2]) <= optimum + 1e-6 and float(rows["GES"][2]) <= optimum + 1e-6


def test_example_interventional_crl():
    out = _run_example("interventional_crl.py", "--per-env", "20000")
    assert "latent graph SHD 0" in out, out
    true_targets = re.search(r"true intervention target:\s+(\[.*\])", out).group(1)
    learned_targets = re.search(r"learned target, as a true latent:\s+(\[.*\])", out).group(1)
    assert true_targets == learned_targets, out


def test_example_ivae():
    out = _run_example(
        "nonlinear_ica_ivae.py", "--segments", "10", "--per-segment", "400", "--max-epochs", "5"
    )
    assert "same latents True" in out, out
    assert re.search(r"IVAE: MCC 0\.\d+ after \d+ epochs", out), out
