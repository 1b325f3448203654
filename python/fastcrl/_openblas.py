"""Load the OpenBLAS of the scipy-openblas32 wheel privately, before the C++ extension.

``import scipy_openblas32`` would load the library with RTLD_GLOBAL; its symbols carry the same
``scipy_`` prefix as the copy SciPy bundles, so SciPy's modules loaded afterwards would bind to our
copy instead of their own.  Loading it with RTLD_LOCAL keeps the two apart: the dynamic linker still
matches our extension's ``libscipy_openblas.so`` dependency by soname, and nobody else sees it.  The
extension's RUNPATH (``$ORIGIN/../scipy_openblas32/lib``) is the fallback for a plain import.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os

_handle: ctypes.CDLL | None = None


def load_openblas() -> None:
    global _handle
    if _handle is not None:
        return
    spec = importlib.util.find_spec("scipy_openblas32")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("fastcrl needs the scipy-openblas32 package: pip install scipy-openblas32")
    lib_dir = os.path.join(list(spec.submodule_search_locations)[0], "lib")
    names = sorted(n for n in os.listdir(lib_dir) if n.startswith("libscipy_openblas") and ".so" in n)
    if not names:
        raise ImportError(f"no libscipy_openblas*.so in {lib_dir}; reinstall scipy-openblas32")
    _handle = ctypes.CDLL(os.path.join(lib_dir, names[0]), mode=os.RTLD_LOCAL | os.RTLD_NOW)
