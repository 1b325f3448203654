"""benchmarks/gpu_check.sh runs only on a lent GPU machine, where a typo costs the lease: its shell
and its embedded Python programs must at least parse here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_shell_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_embedded_python_compiles():
    text = SCRIPT.read_text()
    programs = re.findall(r"<<'PY'[^\n]*\n(.*?)\nPY\n", text, re.S)
    assert len(programs) >= 8  # every timing block, the sanitizer workloads, the test-count check
    for i, program in enumerate(programs):
        compile(program, f"{SCRIPT.name} heredoc {i}", "exec")
