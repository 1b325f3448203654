"""Shared plumbing of the score-based searches (ExactSearch, HillClimb, GES).

One place builds the score object from data and a score name, resolves ``fastcrl.Knowledge`` and
``max_parents`` into the masks the C++ searches take, and detects discrete data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import scores as _scores
from ._backend import as_device_array, is_device_array
from ._errors import SampleSizeWarning
from ._validation import _is_dataframe, check_int, format_bytes, parse_memory
from .knowledge import resolve_knowledge

# Score names accepted by the searches and the CLI. A factory takes (X, names, **params).
SCORE_FACTORIES: dict[str, Callable[..., Any]] = {
    "bic": lambda X, names, **kw: _scores.GaussianBIC(X, names=names, **kw),
    "bge": lambda X, names, **kw: _scores.BGe(X, names=names, **kw),
    "bdeu": lambda X, names, **kw: _scores.BDeu(X, names=names, **kw),
    "discrete-bic": lambda X, names, **kw: _scores.DiscreteBIC(X, names=names, **kw),
}
DISCRETE_SCORES = frozenset({"bdeu", "discrete-bic"})


def looks_discrete(X: Any, max_levels: int = 32) -> bool:
    """Whether ``X`` looks like integer-coded categorical data.

    True for integer/bool arrays (or DataFrames whose columns are all integer, bool or categorical)
    with at most ``max_levels`` distinct values per column; float data is continuous.
    """
    if _is_dataframe(X):
        # numpy and pandas (nullable, categorical) dtypes alike have a kind
        kinds = {"c" if hasattr(t, "categories") else t.kind for t in X.dtypes}
        if not kinds <= set("biuc"):
            return False
        if any(X[c].isna().any() for c in X):
            return False  # missing values: validation names them
        A = np.column_stack(
            [
                X[c].cat.codes.to_numpy() if hasattr(X[c], "cat") else X[c].to_numpy(np.int64)
                for c in X
            ]
        )
    elif is_device_array(X):
        # CuPy data: the dtype decides without a copy; integer codes come to the host to count
        if np.dtype(X.dtype).kind not in "biu":
            return False
        A = as_device_array(X).get()
    else:
        A = np.asarray(X)
        if A.dtype.kind not in "biu":
            return False
    if A.ndim != 2 or A.size == 0:
        return False
    return all(np.unique(A[:, j]).size <= max_levels for j in range(A.shape[1]))


def device_batch_scorer(score: Any):
    """For a score built from CuPy data: ``batch(nodes, offsets, parents)`` -> NumPy float64 scores
    of the CSR families (NaN where undefined), computed by the CUDA kernels on the data's device;
    None for host data.  The C++ searches call it with many candidate families at once.
    """
    if score._device_array() is None:
        return None

    def batch(nodes: np.ndarray, offsets: np.ndarray, parents: np.ndarray) -> np.ndarray:
        return score._device_scores_unchecked(nodes, offsets, parents).get()

    return batch


def score_params_dict(score_params: Any) -> dict[str, Any]:
    """``score_params`` as a new dict (None: empty); anything but a mapping is a TypeError."""
    if score_params is None:
        return {}
    if not isinstance(score_params, Mapping):
        raise TypeError(
            "score_params must be a dict of score keyword arguments (e.g. "
            f"{{'penalty_discount': 2.0}}); got {type(score_params).__name__} {score_params!r}"
        )
    return dict(score_params)


def make_score(
    X: Any,
    score: Any = "auto",
    *,
    names: Sequence[str] | None = None,
    discrete: bool | None = None,
    score_params: dict[str, Any] | None = None,
) -> Any:
    """The score object a search runs on.

    Parameters
    ----------
    X : array-like (n_samples, n_features)
        Data; with a ready-made score object ``None``, or the data it was made from (only its
        number of columns is checked: the score holds the statistics the search uses).
    score : str or score object, default="auto"
        ``"bic"`` (linear-Gaussian), ``"bge"``, ``"bdeu"``, ``"discrete-bic"``, ``"auto"`` (BDeu for
        discrete data, BIC otherwise) or a ready-made ``fastcrl.scores`` object.
    discrete : bool, optional
        Declare the data discrete (True) or continuous (False); detected by :func:`looks_discrete`
        when None.
    score_params : dict, optional
        Keyword arguments of the score (``penalty_discount``, ``ess``, ...), and ``cache_limit``
        (the most local scores its cache keeps; see ``fastcrl.scores.GaussianBIC.cache_limit``).
    """
    score_params = score_params_dict(score_params)
    if isinstance(score, _scores._LocalScore):
        if score_params:
            raise ValueError("score_params cannot be used with a ready-made score object")
        if X is not None and np.shape(X)[1:] != (score.n_nodes,):
            raise ValueError(
                f"X has shape {np.shape(X)} but the score object has {score.n_nodes} nodes "
                "(pass X=None to search on the score's own statistics)"
            )
        return _searchable(score)
    if not isinstance(score, str):
        raise TypeError(
            f"score must be a name ({sorted(SCORE_FACTORIES)} or 'auto') or a fastcrl.scores "
            f"object; got {type(score).__name__}"
        )
    key = score.lower()
    if discrete is None:
        discrete = key in DISCRETE_SCORES or (key == "auto" and looks_discrete(X))
    if key == "auto":
        key = "bdeu" if discrete else "bic"
    if key not in SCORE_FACTORIES:
        raise ValueError(f"unknown score {score!r}; choose one of {sorted(SCORE_FACTORIES)} or 'auto'")
    if discrete and key not in DISCRETE_SCORES:
        raise ValueError(
            f"score {key!r} is for continuous data but the data are declared/detected discrete; "
            f"use one of {sorted(DISCRETE_SCORES)} or pass discrete=False"
        )
    if not discrete and key in DISCRETE_SCORES and not looks_discrete(X, max_levels=2**31):
        raise ValueError(f"score {key!r} needs integer-coded categorical data")
    params = score_params
    cache_limit = params.pop("cache_limit", None)
    out = SCORE_FACTORIES[key](X, names, **params)
    if cache_limit is not None:
        out.cache_limit = cache_limit
    return _searchable(out)


def _searchable(score: Any) -> Any:
    """``score``, once it can score the one-parent families every search starts from."""
    if isinstance(score, _scores.GaussianBIC) and score.n_samples < 3:
        raise ValueError(
            f"a search with the Gaussian BIC needs at least 3 samples (rows); got "
            f"{score.n_samples}: with 2, any single parent fits its child exactly"
        )
    return score


def search_constraints(
    knowledge: Any, names: Sequence[str], max_parents: Any
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(forbidden, required, max_parents)`` for the C++ searches.

    ``forbidden`` and ``required`` are C-contiguous uint8 ``(d, d)`` masks (``[i, j]`` is the edge
    ``i -> j``; the diagonal is forbidden); ``max_parents`` is ``-1`` for no limit and is the
    smaller of the argument and ``knowledge.max_indegree``.
    """
    d = len(names)
    forbidden = np.eye(d, dtype=bool)
    required = np.zeros((d, d), dtype=bool)
    limit = -1 if max_parents is None else check_int(max_parents, "max_parents", low=0)
    rk = resolve_knowledge(knowledge, names)
    if rk is not None:
        forbidden |= rk.forbidden_mask()
        required = rk.required_mask()
        if rk.max_indegree is not None:
            limit = rk.max_indegree if limit < 0 else min(limit, rk.max_indegree)
    if limit >= 0:
        over = np.flatnonzero(required.sum(axis=0) > limit)
        if over.size:
            raise ValueError(
                f"node {names[over[0]]!r} has {int(required[:, over[0]].sum())} required parents "
                f"but max_parents is {limit}"
            )
    return (
        np.ascontiguousarray(forbidden, dtype=np.uint8),
        np.ascontiguousarray(required, dtype=np.uint8),
        int(limit),
    )


def knowledge_class(dag: Any, forbidden: np.ndarray, required: np.ndarray) -> np.ndarray:
    """The Markov equivalence class of ``dag`` restricted by knowledge (Meek 1995), as a 0/1 PDAG.

    The CPDAG of ``dag``, each undirected edge whose direction the knowledge fixes oriented that way
    (``forbidden[i, j]``: ``j -> i``; ``required[i, j]``: ``i -> j``), then Meek's rules to closure:
    the DAGs of the class that agree with the knowledge.  ``dag`` must agree with it.
    """
    from .graph import dag_to_cpdag, meek_orient

    C = dag_to_cpdag(dag).astype(bool)
    undirected = C & C.T
    C &= ~(undirected & (np.asarray(forbidden, dtype=bool) | np.asarray(required, dtype=bool).T))
    return np.asarray(meek_orient(C.astype(np.uint8)), dtype=np.uint8)


# ------------------------------------------------------------------------------ resource estimates
#
# Models of the searches' footprint, from their data structures and fitted on ER-1 runs at
# d = 300-5000, n = 1000 (benchmarks/bench_estimates.py; numbers in benchmarks/RESULTS.md).
# Bytes per d^2 of each search's own tables, graphs and masks (C++ and Python together):
_SEARCH_BYTES_PER_PAIR = {"ges": 8, "hc": 17}
# Gaussian GES keeps, per target, the residuals of every variable given its parents (two float64
# d-vectors) so that a re-evaluation does not sweep again; capped in C++ (kResidualBytes, ges.cpp).
_GES_RESIDUAL_BYTES_PER_PAIR = 16
_GES_RESIDUAL_BYTES_LIMIT = 2**30
# Seconds of a search in units of one uncached single-parent local score (t_pair, measured on the
# data): GES ~ c d^2 t_pair on a sparse result, a hill climb ~ c d^3 t_pair per climb (about one
# move per edge, each scanning the d^2 move table and rescoring a column or two).
_TIME_PER_UNIT = {"ges": 8.0, "hc": 0.2}


def _cache_entries(method: str, d: int, restarts: int, discrete: bool = True) -> int:
    """Local scores a search keeps in its score's cache (before the cache's bound)."""
    if not discrete:
        return 0  # the Gaussian scores cache only sets of 16+ parents, rare in these searches
    if method == "ges":
        entries = 16 * d  # GES scores its large sweeps uncached; the cache holds bases and turns
        return entries + (_cache_entries("hc", d, restarts) if restarts > 0 else 0)
    return 2 * d * d * (1 + min(restarts, 1))  # the first table, then about one more per climb


def estimate_search_memory(
    method: str,
    n_nodes: int,
    n_samples: int,
    *,
    discrete: bool = False,
    cache_limit: int | None = None,
    restarts: int = 0,
) -> int:
    """Peak bytes a GES (``method="ges"``) or hill-climbing (``"hc"``) fit adds to the process.

    The sum of the score's statistics (a ``d x d`` float64 matrix for the Gaussian scores; two int32
    copies of the codes for the discrete ones), the search's ``d x d``
    tables, the local-score cache (at most ``cache_limit`` entries; see
    ``fastcrl.scores.GaussianBIC.cache_limit``) and, for GES on continuous data, the residuals
    kept per target (``16 d^2`` bytes, at most 1 GiB). It errs high: measured peaks were 20-100%
    of it (``benchmarks/RESULTS.md``).
    """
    if method not in _SEARCH_BYTES_PER_PAIR:
        raise ValueError(f"unknown search {method!r}; choose 'ges' or 'hc'")
    d = check_int(n_nodes, "n_nodes", low=1)
    n = check_int(n_samples, "n_samples", low=1)
    restarts = check_int(restarts, "restarts", low=0)
    limit = _scores.DEFAULT_CACHE_LIMIT if cache_limit is None else check_int(
        cache_limit, "cache_limit", low=1
    )
    # discrete: int32 codes validated in Python and a column-major int32 copy in C++; Gaussian: the
    # float64 d x d matrix and the covariance's centring buffer (>= 256 rows or 1 MiB)
    statistics = 8 * n * d if discrete else 8 * d * d + 8 * d * max(256, 2**17 // d)
    tables = _SEARCH_BYTES_PER_PAIR[method] * d * d
    if method == "ges" and not discrete:
        tables += min(_GES_RESIDUAL_BYTES_PER_PAIR * d * d, _GES_RESIDUAL_BYTES_LIMIT)
    if method == "ges" and restarts > 0:
        tables += _SEARCH_BYTES_PER_PAIR["hc"] * d * d  # the polish is a hill climb
    entries = min(limit, _cache_entries(method, d, restarts, discrete))
    cache = entries * _scores.CACHE_BYTES_PER_ENTRY
    return int(statistics + tables + cache)


def estimate_search_seconds(method: str, score: Any, restarts: int = 0) -> float:
    """Rough wall time of a GES or hill-climbing fit on ``score`` (a ``fastcrl.scores`` object).

    Times single-parent local scores on the score's data (batches ten times larger until one takes
    0.05 s, at most a million scores: a discrete score's cost grows with n), then scales by
    the model fitted on sparse ER-1 data: ``8 d^2`` such scores for GES and ``0.2 d^3`` per climb
    (``1 + restarts`` climbs) for a hill climb. Denser results take longer (GES's cost grows with
    the edges it adds: about 5x for five edges per node); treat it as an order of magnitude.
    """
    d = score.n_nodes
    if d < 2:
        return 0.0
    count = 1000
    while True:
        unit = float(score._kernel.time_pair_scores(count, 0))
        if unit * count >= 0.05 or count >= 1_000_000:
            break
        count *= 10
    climbs = _TIME_PER_UNIT["hc"] * d**3 * unit * (1 + restarts)
    if method == "hc":
        return climbs
    # GES, then the polish: usually two rounds of climbs (one that improves, one that does not)
    return _TIME_PER_UNIT["ges"] * d * d * unit + (2.0 * climbs if restarts > 0 else 0.0)


def estimate_fit(method: str, score: Any, restarts: int) -> dict[str, float]:
    """``{"memory_bytes", "seconds"}`` of a GES (``"ges"``) or hill-climbing (``"hc"``) fit on
    ``score``: :func:`estimate_search_memory` and :func:`estimate_search_seconds`."""
    memory = estimate_search_memory(
        method,
        score.n_nodes,
        score.n_samples,
        discrete=isinstance(score, _scores._DiscreteScore),
        cache_limit=score.cache_limit,
        restarts=restarts,
    )
    return {"memory_bytes": memory, "seconds": estimate_search_seconds(method, score, restarts)}


def check_search_memory(
    method: str,
    d: int,
    n: int,
    *,
    discrete: bool,
    cache_limit: Any,
    restarts: int,
    memory_limit: Any,
) -> int:
    """:func:`estimate_search_memory`, raising ``MemoryError`` when over ``memory_limit``."""
    limit_bytes = parse_memory(memory_limit)
    needed = estimate_search_memory(
        method, d, n, discrete=discrete, cache_limit=cache_limit, restarts=restarts
    )
    if limit_bytes is not None and needed > limit_bytes:
        name = {"ges": "GES", "hc": "hill climbing"}[method]
        raise MemoryError(
            f"{name} on {d} variables and {n} samples needs about {format_bytes(needed)} "
            f"({needed} bytes) but memory_limit is {format_bytes(limit_bytes)} ({limit_bytes} "
            "bytes); raise memory_limit, lower the score's cache_limit, or use fewer variables"
        )
    return needed


def check_fit_memory(
    method: str,
    X: Any,
    score: Any,
    score_params: dict | None,
    restarts: int,
    memory_limit: Any,
    discrete: bool | None = None,
) -> int:
    """:func:`check_search_memory` for a fit on ``X`` (or a ready-made score), before any work.

    Unless declared, the data's shape and dtype decide: integer, bool or categorical columns count
    as discrete (their statistics are small), anything else as continuous.
    """
    if isinstance(score, _scores._LocalScore):
        d, n, cache_limit = score.n_nodes, score.n_samples, score.cache_limit
        discrete = isinstance(score, _scores._DiscreteScore)
    else:
        shape = getattr(X, "shape", None)
        if shape is None or len(shape) != 2:
            return 0  # validation further on names the problem
        n, d = int(shape[0]), int(shape[1])
        if _is_dataframe(X):
            kinds = {"c" if hasattr(t, "categories") else t.kind for t in X.dtypes}
        elif hasattr(X, "dtype"):  # NumPy or CuPy (which refuses np.asarray)
            kinds = {np.dtype(X.dtype).kind}
        else:
            kinds = {np.asarray(X[:0]).dtype.kind}
        name = score.lower() if isinstance(score, str) else ""
        if discrete is None:
            discrete = name in DISCRETE_SCORES or (name == "auto" and kinds <= set("biuc"))
        cache_limit = score_params_dict(score_params).get("cache_limit")
    if n < 1 or d < 1:
        return 0
    return check_search_memory(
        method, d, n, discrete=discrete, cache_limit=cache_limit, restarts=restarts,
        memory_limit=memory_limit,
    )


def warn_if_parents_near_n(dag: np.ndarray, n_samples: int, names: Sequence[str], method: str) -> None:
    """SampleSizeWarning when a node of the fitted DAG (``dag[i, j]``: ``i -> j``) has at least
    ``n_samples / 2`` parents: there the score no longer tells real parents from chance ones."""
    counts = np.asarray(dag != 0).sum(axis=0)
    if counts.size == 0:
        return
    j = int(np.argmax(counts))
    if 2 * int(counts[j]) >= n_samples:
        warnings.warn(
            f"{method}: node {names[j]!r} has {int(counts[j])} parents from {n_samples} samples; "
            "near that size a family fits its node almost exactly whatever the parents, so the "
            "graph is mostly chance. Raise penalty_discount (e.g. 2), set max_parents "
            "or use more samples.",
            SampleSizeWarning,
            stacklevel=3,
        )
