"""Shared plumbing of the score-based searches (ExactSearch, HillClimb, GES).

One place builds the score object from data and a score name, resolves ``fastcrl.Knowledge`` and
``max_parents`` into the masks the C++ searches take, and detects discrete data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import scores as _scores
from ._validation import _is_dataframe, check_int

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
        kinds = {np.dtype(t).kind if not hasattr(t, "categories") else "c" for t in X.dtypes}
        if not kinds <= set("biuc"):
            return False
        A = np.column_stack(
            [X[c].cat.codes.to_numpy() if hasattr(X[c], "cat") else X[c].to_numpy() for c in X]
        )
    else:
        A = np.asarray(X)
        if A.dtype.kind not in "biu":
            return False
    if A.ndim != 2 or A.size == 0:
        return False
    return all(np.unique(A[:, j]).size <= max_levels for j in range(A.shape[1]))


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
        Data; ignored when ``score`` is already a score object.
    score : str or score object, default="auto"
        ``"bic"`` (linear-Gaussian), ``"bge"``, ``"bdeu"``, ``"discrete-bic"``, ``"auto"`` (BDeu for
        discrete data, BIC otherwise) or a ready-made ``fastcrl.scores`` object.
    discrete : bool, optional
        Declare the data discrete (True) or continuous (False); detected by :func:`looks_discrete`
        when None.
    score_params : dict, optional
        Keyword arguments of the score (``penalty_discount``, ``ess``, ...).
    """
    if isinstance(score, _scores._LocalScore):
        if score_params:
            raise ValueError("score_params cannot be used with a ready-made score object")
        return score
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
    return SCORE_FACTORIES[key](X, names, **(score_params or {}))


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
    if knowledge is not None:
        if not hasattr(knowledge, "resolve"):
            raise TypeError(
                f"knowledge must be a fastcrl.Knowledge or None; got {type(knowledge).__name__}"
            )
        rk = knowledge.resolve(list(names))
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
