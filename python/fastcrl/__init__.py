"""fastcrl: fast causal discovery and causal representation learning.

C++ and CUDA kernels behind a NumPy/CuPy API.  Adjacency convention everywhere:
``A[i, j] != 0`` means the edge ``i -> j`` (so ``X ≈ X @ W + E``).

Submodules: ``simulate`` (data and graph generators), ``graph`` (the ``Graph`` type and graph
algorithms), ``metrics`` (SHD, TPR/FDR, MCC, ...), ``stats`` (sufficient statistics),
``regression`` (lasso on sufficient statistics), ``scores`` (decomposable structure scores),
``acyclicity`` (acyclicity constraints), ``continuous`` (NOTEARS, DAGMA), ``crl`` (causal
representation learning), ``datasets`` (latent-variable data), ``nn`` (encoder/decoder kernels),
``reference`` (pure-NumPy baselines of every kernel).
"""

from __future__ import annotations

from ._openblas import load_openblas as _load_openblas

_load_openblas()  # before the extension: its `libscipy_openblas.so` then resolves by soname

from ._openmp import import_core as _import_core

_core = _import_core()  # must follow the OpenBLAS load
from . import acyclicity, crl, datasets, graph, metrics, nn, reference, regression, scores, simulate, stats
from ._backend import build_info, cuda_available, get_num_threads, set_num_threads
from ._base import NotFittedError
from ._errors import ConvergenceWarning, IdentifiabilityWarning, NumericalError, SampleSizeWarning
from .baselines import SortNRegress
from .bootstrap import EdgeFrequencies, bootstrap_edges
from .continuous import DAGMA, NOTEARS
from .exact import ExactSearch
from .ges import GES
from .graph import Graph
from .hillclimb import HillClimb
from .knowledge import Knowledge
from .stats import column_means, correlation, covariance, gram

__version__ = _core.build_info()["version"]

__all__ = [
    "ConvergenceWarning",
    "DAGMA",
    "EdgeFrequencies",
    "ExactSearch",
    "GES",
    "Graph",
    "HillClimb",
    "IdentifiabilityWarning",
    "SampleSizeWarning",
    "Knowledge",
    "NOTEARS",
    "NotFittedError",
    "NumericalError",
    "SortNRegress",
    "__version__",
    "acyclicity",
    "bootstrap_edges",
    "build_info",
    "column_means",
    "crl",
    "correlation",
    "covariance",
    "cuda_available",
    "datasets",
    "get_num_threads",
    "graph",
    "gram",
    "metrics",
    "nn",
    "reference",
    "regression",
    "scores",
    "set_num_threads",
    "simulate",
    "stats",
]
