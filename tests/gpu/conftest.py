"""GPU tests: they run only where fastcrl._cuda is built and loads, CuPy is installed and a CUDA
device is visible; everywhere else (CI, laptops) they are collected and skipped with the reason.
With ``FASTCRL_REQUIRE_GPU=1`` (benchmarks/gpu_check.sh sets it), where CuPy sees a GPU but
fastcrl's CUDA extension is missing or sees no device, they fail instead: on the GPU check a broken
build or driver must not look like "no GPU" (elsewhere a CPU-only build next to a GPU is a valid
install, so they skip with that reason).

Every test in this folder gets the ``gpu`` marker (``pytest -m gpu`` selects them, ``-m "not gpu"``
drops them).  Nothing here imports CuPy at module level, so collection never fails without it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


@functools.cache
def gpu_problem() -> tuple[str, str] | None:
    """None when the GPU tests can run here; else ``("skip", why)`` where there is no GPU to use, or
    ``("fail", why)`` where CuPy sees a GPU that fastcrl's CUDA extension cannot use: a missing or
    broken build, or a driver older than the extension's runtime, must not pass as "no GPU"."""
    from fastcrl import _backend

    ext, ext_devices, ext_why = _backend._cuda, 0, None
    if ext is None:
        ext_why = _backend._CUDA_IMPORT_ERROR or "fastcrl was built without the CUDA extension"
    else:
        try:
            ext_devices = int(ext.device_count())
        except Exception as exc:  # noqa: BLE001 - any runtime failure means "no usable device"
            ext_why = str(exc)
        if ext_devices == 0 and ext_why is None:
            # device_count() reports a missing or too old driver as 0 devices, as CPU machines need
            info = ext.build_info()
            ext_why = (
                f"the CUDA runtime sees 0 devices (runtime {info.get('runtime') or '?'}, driver "
                f"{info.get('driver') or 'none'}; a driver older than the runtime shows as none)"
            )
    try:
        import cupy

        cupy_devices, cupy_why = int(cupy.cuda.runtime.getDeviceCount()), None
    except ImportError:
        cupy_devices, cupy_why = 0, "cupy is not installed (pip install fastcrl[cuda])"
    except Exception as exc:  # noqa: BLE001 - no driver or no device, as CuPy reports it
        cupy_devices, cupy_why = 0, f"CuPy sees no device ({exc})"
    if cupy_devices > 0 and ext_devices == 0:
        return "fail" if os.environ.get("FASTCRL_REQUIRE_GPU") == "1" else "skip", (
            f"CuPy sees {cupy_devices} CUDA device(s) but fastcrl's CUDA extension cannot use "
            f"them: {ext_why}; rebuild with -Ccmake.define.FASTCRL_CUDA=ON, or deselect these "
            "tests with -m 'not gpu'"
        )
    if ext_devices == 0:
        return "skip", f"no CUDA device: {ext_why}"
    if cupy_devices == 0:
        return "skip", f"no CUDA device usable from Python: {cupy_why}"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.gpu)
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    problem = gpu_problem() if gpu_items else None
    if problem and problem[0] == "skip":
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=problem[1]))


def pytest_runtest_setup(item):
    problem = gpu_problem()
    if problem and problem[0] == "fail" and item.get_closest_marker("gpu") is not None:
        pytest.fail(problem[1], pytrace=False)


@pytest.fixture(scope="session")
def cp():
    """The cupy module, on a machine where the GPU tests can run."""
    problem = gpu_problem()
    if problem and problem[0] == "fail":
        pytest.fail(problem[1], pytrace=False)
    if problem:
        pytest.skip(problem[1])
    import cupy

    return cupy


@pytest.fixture
def cuda_ext():
    """fastcrl._cuda itself, for tests of the extension's own argument checks."""
    from fastcrl import _backend

    return _backend._cuda
