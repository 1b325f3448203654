"""The one place that decides CPU vs GPU.

NumPy arrays go to the C++ extension ``fastcrl._core``.  Arrays on a CUDA device — anything exposing
``__cuda_array_interface__`` (CuPy, Numba, PyTorch) or a CUDA ``__dlpack__`` (JAX), the foreign
ones wrapped as CuPy without a copy — go to ``fastcrl._cuda`` as raw pointers together with CuPy's
current stream, so no host copies happen and kernels queue behind the caller's own work.  Results
come back on the input's device as CuPy arrays.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import numpy as np

from . import _core, _openblas, _openmp

# The CUDA extension is optional: absent when built without CUDA, unloadable without cuBLAS at run
# time.
_cuda = None
_CUDA_BUILT = importlib.util.find_spec(f"{__package__}._cuda") is not None
_CUDA_IMPORT_ERROR: str | None = None


def _preload_cublas() -> bool:
    """Load libcublas through cuda-pathfinder (a CuPy dependency); True if that worked.

    The extension's RUNPATH finds libcublas.so.13 in a pip-installed nvidia-cublas next to fastcrl;
    pathfinder also knows conda environments, system toolkits and other site-packages (dev builds).
    Once loaded, the extension's ``NEEDED libcublas.so.13`` resolves to it by soname.
    """
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        load_nvidia_dynamic_lib("cublas")
    except Exception:  # noqa: BLE001 - pathfinder absent or no cuBLAS anywhere: report the first error
        return False
    return True


if _CUDA_BUILT:
    try:
        _cuda = importlib.import_module(f"{__package__}._cuda")
    except ImportError as exc:  # pragma: no cover - depends on the installed CUDA libraries
        _CUDA_IMPORT_ERROR = str(exc)
        if _preload_cublas():
            try:
                _cuda = importlib.import_module(f"{__package__}._cuda")
                _CUDA_IMPORT_ERROR = None
            except ImportError as exc2:
                _CUDA_IMPORT_ERROR = str(exc2)

__all__ = [
    "build_info",
    "cuda_available",
    "get_num_threads",
    "set_num_threads",
    "is_device_array",
    "as_device_array",
    "xp_of",
    "require_cuda",
    "current_stream_ptr",
]

_DLPACK_CUDA = 2  # kDLCUDA in DLPack's DLDeviceType


def is_device_array(x: Any) -> bool:
    """True for arrays living on a CUDA device (CUDA array interface, or DLPack on a CUDA
    device)."""
    if type(x) is np.ndarray:  # the common case, first: training loops call this every step
        return False
    if hasattr(x, "__cuda_array_interface__"):
        return True
    dev = getattr(x, "__dlpack_device__", None)
    if dev is not None and not isinstance(x, np.ndarray):
        try:
            return int(dev()[0]) == _DLPACK_CUDA
        except Exception:  # noqa: BLE001 - a foreign object with a broken protocol is simply not ours
            return False
    return False


def as_device_array(x: Any):
    """``x`` as a CuPy array without copying: CuPy arrays pass through, other CUDA arrays (Numba,
    PyTorch, JAX) are wrapped through their CUDA array interface or DLPack, so callers can rely on
    CuPy's attributes (``dtype``, ``device``, ``data.ptr``)."""
    import cupy

    if isinstance(x, cupy.ndarray):
        return x
    if not hasattr(x, "__cuda_array_interface__"):
        return cupy.from_dlpack(x)
    # cupy.asarray wraps the memory in place only when its device is current (it copies from any
    # other), so make the array's own device current for the wrap.
    ptr = x.__cuda_array_interface__["data"][0]
    runtime = cupy.cuda.runtime
    device = runtime.pointerGetAttributes(ptr).device if ptr else runtime.getDevice()
    with cupy.cuda.Device(device):
        return cupy.asarray(x)


def xp_of(*arrays: Any):
    """The array module (numpy or cupy) shared by ``arrays``; mixing host and device raises
    TypeError."""
    on_device = [is_device_array(a) for a in arrays if a is not None]
    if any(on_device) and not all(on_device):
        raise TypeError(
            "arguments mix host (NumPy) and device (CuPy) arrays; move them to one device first "
            "(cupy.asarray(...) or cupy.asnumpy(...))"
        )
    if any(on_device):
        import cupy

        return cupy
    return np


def require_cuda(what: str = "this function"):
    """The loaded CUDA extension, or a RuntimeError that says how to get one."""
    if _cuda is None:
        if _CUDA_IMPORT_ERROR:
            hint = (
                f"fastcrl._cuda was built but could not be loaded ({_CUDA_IMPORT_ERROR}); "
                "install the CUDA libraries with `pip install fastcrl[cuda]`"
            )
        else:
            hint = (
                "this fastcrl was built without CUDA; rebuild with the CUDA toolkit and cuBLAS "
                "present: `pip install nvidia-cublas nvidia-cusolver scikit-build-core pybind11 "
                "scipy-openblas32 && "
                "pip install --no-build-isolation -Ccmake.define.FASTCRL_CUDA=ON .`"
            )
        raise RuntimeError(
            f"{what} got a GPU array, but {hint}; or pass a NumPy array to run on the CPU"
        )
    try:  # the GPU paths hold and return CuPy arrays
        import cupy  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            f"{what} got a GPU array, but CuPy is not importable ({exc}); install it with "
            "`pip install cupy-cuda12x` (or cupy-cuda13x), or pass a NumPy array to run on the CPU"
        ) from None
    return _cuda


def current_stream_ptr() -> int:
    """CuPy's current stream as an integer handle (0 is the legacy default stream)."""
    import cupy

    return int(cupy.cuda.get_current_stream().ptr)


def cuda_available() -> bool:
    """True when the CUDA extension is built, loads, and sees at least one device."""
    if _cuda is None:
        return False
    try:
        return int(_cuda.device_count()) > 0
    except Exception:  # noqa: BLE001 - no driver, or a driver too old for the runtime
        return False


def set_num_threads(n: int) -> None:
    """Set the number of threads used by fastcrl's OpenMP regions and by OpenBLAS.

    By default both follow ``OMP_NUM_THREADS`` (or the number of cores).  Inside fastcrl's own
    parallel regions OpenBLAS is switched to one thread to avoid oversubscription.  More threads
    than the cores this process may use is allowed but warned about (``RuntimeWarning``): fits
    then run several times slower (a DAGMA fit on 2 cores: 0.56 s with 2 threads, 4.4 s with 4).
    """
    import warnings

    from ._validation import check_int

    n = check_int(n, "n", low=1, high=2**31 - 1)
    cores = usable_cores()
    if n > cores:
        warnings.warn(
            f"set_num_threads({n}) on {cores} usable cores: with more threads than cores fastcrl's "
            "fits run several times slower (see the README's Threads section)",
            RuntimeWarning,
            stacklevel=2,
        )
    _core.set_num_threads(n)


def usable_cores() -> int:
    """The number of cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """Number of threads fastcrl's OpenMP regions use."""
    return int(_core.get_num_threads())


def build_info() -> dict:
    """What this fastcrl was compiled with.

    Returns
    -------
    dict
        ``version``, ``compiler``, ``blas`` (library and build configuration), ``blas_core`` (the
        CPU kernel OpenBLAS chose at run time; ``openblas_coretype_env`` shows an
        ``OPENBLAS_CORETYPE`` that pinned it), ``openmp`` (version macro), ``openmp_wait`` (how
        idle OpenMP threads wait: see the README's Threads section), ``blas_wait`` (how long idle
        OpenBLAS threads spin), ``num_threads``,
        ``blas_threads``, ``cuda`` (bool: extension built and loadable), ``cuda_architectures``,
        ``cuda_toolkit`` (nvcc version), ``cuda_driver`` (None without a driver), ``cuda_cublas``
        (the loaded libcublas), ``cuda_devices`` (0 without a GPU), and ``cuda_error`` when the
        CUDA extension could not be loaded or the runtime failed.
    """
    info = dict(_core.build_info())
    info["num_threads"] = info.pop("openmp_max_threads")
    info["omp_num_threads_env"] = os.environ.get("OMP_NUM_THREADS")
    # a pinned kernel set (e.g. Haswell on an AVX-512 CPU) makes BLAS-bound work slower
    info["openblas_coretype_env"] = os.environ.get("OPENBLAS_CORETYPE")
    info["openmp_wait"] = _openmp.wait_setting
    info["blas_wait"] = _openblas.thread_timeout_setting
    info["cuda"] = _cuda is not None
    if _cuda is not None:
        cinfo = dict(_cuda.build_info())
        info["cuda_architectures"] = cinfo.get("architectures")
        info["cuda_toolkit"] = cinfo.get("toolkit")
        info["cuda_driver"] = cinfo.get("driver")
        info["cuda_cublas"] = cinfo.get("cublas_library")
        try:
            info["cuda_devices"] = int(_cuda.device_count())
        except Exception as exc:  # noqa: BLE001
            info["cuda_devices"] = 0
            info["cuda_error"] = str(exc)
    else:
        info["cuda_architectures"] = None
        info["cuda_toolkit"] = None
        info["cuda_driver"] = None
        info["cuda_cublas"] = None
        info["cuda_devices"] = 0
        if _CUDA_IMPORT_ERROR:
            info["cuda_error"] = _CUDA_IMPORT_ERROR
    return info
