"""GPU tests: they run only where fastcrl._cuda is built and loads, CuPy is installed and a CUDA
device is visible; everywhere else (CI, laptops) they are collected and skipped with the reason.

Every test in this folder gets the ``gpu`` marker (``pytest -m gpu`` selects them, ``-m "not gpu"``
drops them).  Nothing here imports CuPy at module level, so collection never fails without it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


@functools.cache
def gpu_skip_reason() -> str | None:
    """Why GPU tests cannot run here, or None when they can."""
    from fastcrl import _backend

    if _backend._cuda is None:
        why = _backend._CUDA_IMPORT_ERROR or "fastcrl was built without the CUDA extension"
        return f"no CUDA device: {why}"
    try:
        n = int(_backend._cuda.device_count())
    except Exception as exc:  # noqa: BLE001 - any runtime failure means "no usable device"
        return f"no CUDA device: {exc}"
    if n == 0:
        return "no CUDA device: the CUDA runtime sees 0 devices"
    try:
        import cupy
    except ImportError:
        return (
            "no CUDA device usable from Python: cupy is not installed (pip install fastcrl[cuda])"
        )
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001
        return f"no CUDA device usable by CuPy: {exc}"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.gpu)
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    reason = gpu_skip_reason() if gpu_items else None
    if reason:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def cp():
    """The cupy module, on a machine where the GPU tests can run."""
    reason = gpu_skip_reason()
    if reason:
        pytest.skip(reason)
    import cupy

    return cupy


@pytest.fixture
def cuda_ext():
    """fastcrl._cuda itself, for tests of the extension's own argument checks."""
    from fastcrl import _backend

    return _backend._cuda
