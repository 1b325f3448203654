"""The CUDA extension's host side, testable without a GPU.

- fastcrl._cuda's reading of ``__cuda_array_interface__`` (fake objects carrying one: every check
  fires before the CUDA runtime is asked anything), and its clear error when there is no device;
- the "how to fix" error for GPU input on a build without CUDA (simulated by hiding _cuda);
- the CMake logic of FASTCRL_CUDA=AUTO/ON when cuBLAS is missing (marked slow: two configures).

GPU results themselves are in tests/gpu/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import fastcrl
import numpy as np
import pytest
from fastcrl import _backend

ROOT = Path(__file__).resolve().parents[1]
_cuda = _backend._cuda
needs_ext = pytest.mark.skipif(
    _cuda is None, reason="fastcrl._cuda not built here (FASTCRL_CUDA=AUTO found no cuBLAS)"
)

STREAM = 0  # any stream: nothing is launched by these tests


_DROP = object()  # an interface entry to leave out


class Fake:
    """An object with a CUDA array interface describing memory that does not exist."""

    def __init__(self, shape=(5, 3), typestr="<f8", ptr=1 << 20, **overrides):
        iface = {
            "version": 3,
            "typestr": typestr,
            "shape": shape,
            "data": (ptr, False),
            "strides": None,
        }
        iface.update(overrides)
        self.__cuda_array_interface__ = {k: v for k, v in iface.items() if v is not _DROP}


def _no_device() -> bool:
    return _cuda is not None and _cuda.device_count() == 0


@needs_ext
@pytest.mark.parametrize(
    "X, out, exc, match",
    [
        (
            np.ones((5, 3)),
            Fake((3, 3)),
            TypeError,
            r"X must be a CUDA device array.*host \(NumPy\) arrays",
        ),
        (Fake(), np.ones((3, 3)), TypeError, "out must be a CUDA device array"),
        (
            Fake(),
            Fake((3, 3), typestr="<f4", ptr=1 << 21),
            TypeError,
            r"out must have the dtype of X \(float64\)",
        ),
        (
            Fake(typestr="<i8"),
            Fake((3, 3), ptr=1 << 21),
            TypeError,
            r"float64 \('<f8'\) or float32",
        ),
        (Fake(typestr=">f8"), Fake((3, 3), ptr=1 << 21), TypeError, "typestr '>f8'"),
        (Fake(version=1), Fake((3, 3), ptr=1 << 21), ValueError, "versions 2 and 3"),
        (Fake(typestr=_DROP), Fake((3, 3), ptr=1 << 21), TypeError, "has no 'typestr' entry"),
        (
            Fake(shape=(15,)),
            Fake((3, 3), ptr=1 << 21),
            ValueError,
            r"X must be 2-D; got shape \(15,\)",
        ),
        (
            Fake(),
            Fake((3, 4), ptr=1 << 21),
            ValueError,
            r"out must have shape \(3, 3\); got \(3, 4\)",
        ),
        (
            Fake(shape=(0, 3), ptr=0),
            Fake((3, 3), ptr=1 << 21),
            ValueError,
            "at least one row and one column",
        ),
        (Fake(strides=(8, 40)), Fake((3, 3), ptr=1 << 21), ValueError, "C-contiguous"),
        (Fake(), Fake((3, 3), ptr=1 << 21, data=(1 << 21, True)), ValueError, "read-only"),
        (Fake(ptr=0), Fake((3, 3), ptr=1 << 21), ValueError, "null data pointer"),
        (Fake(ptr=-8), Fake((3, 3), ptr=1 << 21), ValueError, "negative pointer"),
        (Fake(shape=(1 << 40, 1 << 30)), Fake((3, 3), ptr=1 << 21), ValueError, "too large"),
        (Fake(ptr=(1 << 20) + 4), Fake((3, 3), ptr=1 << 21), ValueError, "aligned"),
        (Fake(mask=Fake()), Fake((3, 3), ptr=1 << 21), ValueError, "masked"),
        (Fake(stream=0), Fake((3, 3), ptr=1 << 21), ValueError, "positive stream handle"),
        (Fake(), Fake((3, 3), ptr=(1 << 20) + 64), ValueError, "X and out overlap"),
    ],
)
def test_interface_is_validated_before_any_cuda_call(X, out, exc, match):
    with pytest.raises(exc, match=match):
        _cuda.gram(X, out, 1.0, STREAM)


@needs_ext
def test_interface_dict_itself_is_checked():
    class NotADict:
        __cuda_array_interface__ = [("shape", (2, 2))]

    with pytest.raises(TypeError, match="must be a dict"):
        _cuda.gram(NotADict(), Fake((2, 2)), 1.0, STREAM)


@needs_ext
def test_other_entry_points_check_shapes_and_workspace():
    with pytest.raises(ValueError, match=r"means must have shape \(3,\)"):
        _cuda.covariance(
            Fake(),
            Fake((3, 3), ptr=1 << 21),
            Fake((4,), ptr=1 << 22),
            Fake((64,), "|u1", 1 << 23),
            1,
            0,
        )
    with pytest.raises(TypeError, match="workspace must be a uint8 array"):
        _cuda.column_means(Fake(), Fake((3,), ptr=1 << 21), Fake((8,), ptr=1 << 22), 0)
    with pytest.raises(ValueError, match="cov must be square"):
        _cuda.correlation_from_covariance(Fake((3, 4)), Fake((3, 4), ptr=1 << 21), 0)
    with pytest.raises(ValueError, match="itemsize must be 4"):
        _cuda.covariance_workspace_bytes(10, 3, 2)
    with pytest.raises(ValueError, match="at least one row"):
        _cuda.column_means_workspace_bytes(0, 3, 8)
    small = _cuda.covariance_workspace_bytes(100, 3, 8)
    assert small >= 100 * 3 * 8 and _cuda.covariance_workspace_bytes(1000, 3, 8) > small
    assert _cuda.column_means_workspace_bytes(100, 3, 4) > 0


@needs_ext
def test_c_order_strides_and_unit_extents_are_accepted():
    # Explicit C-order strides, and any stride along an extent of 1, pass the parser; what fails
    # then is the device query (no GPU here), or on a GPU machine the device-memory check.
    for X in (Fake(strides=(24, 8)), Fake(shape=(1, 3), strides=(999, 8))):
        with pytest.raises((RuntimeError, ValueError)) as info:
            _cuda.gram(X, Fake((3, 3), ptr=1 << 21), 1.0, STREAM)
        assert "C-contiguous" not in str(info.value)


@needs_ext
@pytest.mark.skipif(not _no_device(), reason="checks the no-device error")
def test_valid_arrays_without_a_device_raise_a_clear_cuda_error():
    with pytest.raises(_cuda.CudaError, match="no usable CUDA device") as info:
        _cuda.gram(Fake(), Fake((3, 3), ptr=1 << 21), 1.0, STREAM)
    assert isinstance(info.value, RuntimeError)
    assert "runtime.cu:" in str(info.value)  # file and line of the failing call


@needs_ext
def test_build_info_and_device_count():
    info = _cuda.build_info()
    assert info["architectures"] and all(isinstance(a, str) for a in info["architectures"])
    assert info["toolkit"].count(".") == 2
    assert info["cublas_headers"].startswith("13.")
    count = _cuda.device_count()
    assert isinstance(count, int) and count >= 0
    public = fastcrl.build_info()
    assert public["cuda"] is True and public["cuda_devices"] == count
    assert public["cuda_architectures"] == info["architectures"]


class _DeviceLike:
    def __init__(self):
        self.__cuda_array_interface__ = {
            "shape": (4, 3),
            "typestr": "<f8",
            "data": (0, False),
            "version": 3,
        }


@pytest.mark.parametrize(
    "call",
    [
        lambda X: fastcrl.covariance(X),
        lambda X: fastcrl.gram(X),
        lambda X: fastcrl.column_means(X),
        lambda X: fastcrl.correlation(X),
        lambda X: fastcrl.correlation(cov=X),
    ],
)
def test_gpu_input_on_a_cpu_only_build_says_how_to_fix(monkeypatch, call):
    # No CuPy needed: the check comes before anything touches the array.
    monkeypatch.setattr(_backend, "_cuda", None)
    monkeypatch.setattr(_backend, "_CUDA_IMPORT_ERROR", None)
    with pytest.raises(
        RuntimeError, match=r"built without CUDA.*FASTCRL_CUDA=ON.*NumPy array to run on the CPU"
    ):
        call(_DeviceLike())


def test_gpu_input_when_cublas_cannot_be_loaded_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(_backend, "_cuda", None)
    monkeypatch.setattr(
        _backend, "_CUDA_IMPORT_ERROR", "libcublas.so.13: cannot open shared object file"
    )
    with pytest.raises(
        RuntimeError, match=r"could not be loaded \(libcublas.so.13.*fastcrl\[cuda\]"
    ):
        fastcrl.covariance(_DeviceLike())


# --- CMake: FASTCRL_CUDA without cuBLAS ------------------------------------------------------


def _configure(tmp_path, mode):
    pytest.importorskip("pybind11")
    pytest.importorskip("scipy_openblas32")
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not on PATH")
    import pybind11

    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    cmd = [
        cmake,
        *generator,
        "-S",
        str(ROOT),
        "-B",
        str(tmp_path / "build"),
        f"-DPython_EXECUTABLE={sys.executable}",
        f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
        f"-DFASTCRL_CUDA={mode}",
        # Search an empty folder only, so the result does not depend on this machine.
        f"-DFASTCRL_CUBLAS_ROOT={tmp_path / 'no-cublas'}",
    ]
    (tmp_path / "no-cublas").mkdir()
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cmake_auto_without_cublas_skips_the_extension(tmp_path):
    res = _configure(tmp_path, "AUTO")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "skipping CUDA extension" in ln]
    assert len(lines) == 1, res.stdout
    assert "not found" in lines[0] or "no working CUDA compiler" in lines[0]


@pytest.mark.slow
def test_cmake_on_without_cublas_fails_clearly(tmp_path):
    res = _configure(tmp_path, "ON")
    assert res.returncode != 0
    assert "FASTCRL_CUDA=ON but" in res.stderr
    assert "cuBLAS and cuSOLVER not found" in res.stderr or "no working CUDA compiler" in res.stderr
