"""Regression on sufficient statistics (covariance/Gram matrices), the building block of
regression-based structure learners."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._validation import check_float, check_int, check_square_matrix

__all__ = ["lasso_path_gram"]


def lasso_path_gram(
    G: Any, c: Any, lambdas: Any, *, penalty: Any = None, tol: float = 1e-10, max_sweeps: int = 1000
):
    """Lasso solutions along a path of penalties, from sufficient statistics.

    Solves, for each ``lam`` in ``lambdas`` (warm-started in the given order),

    ``min_b  0.5 * b @ G @ b - c @ b + lam * sum(penalty * abs(b))``

    which is the lasso ``(1/2n) ||y - X b||² + lam |b|_1`` with ``G = X'X/n`` and ``c = X'y/n``.

    Parameters
    ----------
    G : ndarray of shape (p, p)
        Symmetric positive semidefinite with a positive diagonal (e.g. a covariance matrix).
    c : ndarray of shape (p,)
    lambdas : ndarray of shape (n_lambdas,)
        Non-negative penalties; a decreasing sequence makes warm starts effective.
    penalty : ndarray of shape (p,), optional
        Per-coefficient penalty factors (0 leaves a coefficient unpenalised); default all ones.
    tol : float, default=1e-10
        Stop when no coefficient moves by more than ``tol`` (scaled by ``sqrt(G[i, i])``) in a sweep.
    max_sweeps : int, default=1000
        Cap on coordinate sweeps per penalty.

    Returns
    -------
    coefs : ndarray of shape (n_lambdas, p)
    n_sweeps : int
        Coordinate sweeps done in total.

    Raises
    ------
    ValueError
        Shape mismatch, NaN/inf, negative penalties, or a non-positive diagonal of ``G``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.regression import lasso_path_gram
    >>> coefs, _ = lasso_path_gram(np.eye(2), np.array([1.0, 0.2]), np.array([0.5, 0.0]))
    >>> coefs
    array([[0.5, 0. ],
           [1. , 0.2]])
    """
    G = check_square_matrix(G, "G", dtype=np.float64)
    p = G.shape[0]
    c = _vector(c, "c", p)
    lambdas = np.ascontiguousarray(np.atleast_1d(np.asarray(lambdas, dtype=np.float64)))
    if lambdas.ndim != 1 or not np.all(np.isfinite(lambdas)) or np.any(lambdas < 0):
        raise ValueError("lambdas must be a 1-D array of finite, non-negative penalties")
    penalty = np.ones(p) if penalty is None else _vector(penalty, "penalty", p)
    if np.any(penalty < 0):
        raise ValueError("penalty factors must be >= 0")
    tol = check_float(tol, "tol", low=0.0, low_inclusive=False)
    max_sweeps = check_int(max_sweeps, "max_sweeps", low=1)
    return _core.lasso_path_gram(G, c, lambdas, penalty, tol, max_sweeps)


def _vector(v: Any, name: str, p: int) -> np.ndarray:
    v = np.ascontiguousarray(np.asarray(v, dtype=np.float64))
    if v.shape != (p,):
        raise ValueError(f"{name} must have shape ({p},) to match G; got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or inf")
    return v
