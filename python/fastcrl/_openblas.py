"""Load the OpenBLAS of the scipy-openblas32 wheel privately, before the C++ extension.

``import scipy_openblas32`` would load the library with RTLD_GLOBAL; its symbols carry the same
``scipy_`` prefix as the copy SciPy bundles, so SciPy's modules loaded afterwards would bind to our
copy instead of their own.  Loading it with RTLD_LOCAL keeps the two apart: the dynamic linker still
matches our extension's ``libscipy_openblas.so`` dependency by soname, and nobody else sees it.  The
extension's RUNPATH (``$ORIGIN/../scipy_openblas32/lib``) is the fallback for a plain import.

OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` when it is loaded: how long (2^n cycles) its idle worker
threads spin before they sleep, by default 2^28 (a tenth of a second).  Fits alternate BLAS calls
with serial work and OpenMP regions, and on a machine whose other cores are busy those spinning
workers take cores from the threads doing the work: measured on the 2-core development machine, a
DAGMA fit (d=1000, 20 L-BFGS iterations) took 2.83-2.96 s idle and 5.34-5.81 s beside one busy
process with the default, 2.91-2.95 s and 4.43-4.94 s with 2^20 cycles; an IVAE epoch (batch
2048) ran equally fast at 2^20 and 5% slower at the minimum 2^4.  So fastcrl loads its OpenBLAS with
``OPENBLAS_THREAD_TIMEOUT=20`` unless the user set the variable, and removes it again afterwards.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os

_handle: ctypes.CDLL | None = None
DEFAULT_THREAD_TIMEOUT = "20"

#: How fastcrl's OpenBLAS threads wait, for ``fastcrl info``.
thread_timeout_setting: str = ""


def load_openblas() -> None:
    global _handle, thread_timeout_setting
    if _handle is not None:
        return
    spec = importlib.util.find_spec("scipy_openblas32")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("fastcrl needs the scipy-openblas32 package: pip install scipy-openblas32")
    lib_dir = os.path.join(list(spec.submodule_search_locations)[0], "lib")
    names = sorted(n for n in os.listdir(lib_dir) if n.startswith("libscipy_openblas") and ".so" in n)
    if not names:
        raise ImportError(f"no libscipy_openblas*.so in {lib_dir}; reinstall scipy-openblas32")
    name = "OPENBLAS_THREAD_TIMEOUT"
    user = os.environ.get(name)
    if user is None:
        os.environ[name] = DEFAULT_THREAD_TIMEOUT
        thread_timeout_setting = f"{name}={DEFAULT_THREAD_TIMEOUT} (fastcrl default)"
    else:
        thread_timeout_setting = f"{name}={user} (environment)"
    try:
        _handle = ctypes.CDLL(os.path.join(lib_dir, names[0]), mode=os.RTLD_LOCAL | os.RTLD_NOW)
    finally:
        if user is None:
            os.environ.pop(name, None)
