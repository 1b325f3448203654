"""fastcrl: fast causal discovery and causal representation learning.

C++ and CUDA kernels behind a NumPy/CuPy API.  Adjacency convention everywhere:
``A[i, j] != 0`` means the edge ``i -> j`` (so ``X ≈ X @ W + E``).
"""

from __future__ import annotations

# Load OpenBLAS (RTLD_GLOBAL) before the extension so `libscipy_openblas.so` resolves by soname.
import scipy_openblas32 as _scipy_openblas32  # noqa: F401

from . import _core
from ._backend import build_info, cuda_available, get_num_threads, set_num_threads
from ._errors import NumericalError
from .stats import column_means, correlation, covariance, gram

__version__ = _core.build_info()["version"]

__all__ = [
    "NumericalError",
    "__version__",
    "build_info",
    "column_means",
    "correlation",
    "covariance",
    "cuda_available",
    "get_num_threads",
    "gram",
    "set_num_threads",
]
