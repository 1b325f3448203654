"""Reference local scores (NumPy/SciPy): least-squares residuals and np.unique counting."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln


def gaussian_bic(X: np.ndarray, j: int, parents, penalty_discount: float = 1.0) -> float:
    """``-(n/2) log(RSS/n) - penalty_discount (|P|+1) log(n)/2`` from an OLS fit with intercept."""
    n = X.shape[0]
    Z = np.column_stack([np.ones(n), X[:, list(parents)]])
    resid = X[:, j] - Z @ np.linalg.lstsq(Z, X[:, j], rcond=None)[0]
    return (
        -n / 2 * np.log(resid @ resid / n) - penalty_discount * (len(parents) + 1) * np.log(n) / 2
    )


def _counts(X: np.ndarray, j: int, parents, cardinalities):
    """N_ck over observed parent configurations c (rows) and child states k (columns), and q."""
    cols = list(parents)
    q = int(np.prod([cardinalities[p] for p in cols])) if cols else 1
    _, config = (
        np.unique(X[:, cols], axis=0, return_inverse=True)
        if cols
        else (None, np.zeros(len(X), int))
    )
    config = np.asarray(config).ravel()
    N = np.zeros((config.max() + 1, cardinalities[j]))
    np.add.at(N, (config, X[:, j]), 1)
    return N, q


def bdeu(X: np.ndarray, j: int, parents, ess: float = 1.0, cardinalities=None) -> float:
    """BDeu local score (Heckerman et al. 1995), uniform prior ess / (q r)."""
    r = cardinalities if cardinalities is not None else X.max(axis=0) + 1
    N, q = _counts(X, j, parents, r)
    a_c, a_ck = ess / q, ess / (q * r[j])
    return float(
        np.sum(gammaln(a_c) - gammaln(a_c + N.sum(axis=1)))
        + np.sum(gammaln(a_ck + N) - gammaln(a_ck))
    )


def discrete_bic(X: np.ndarray, j: int, parents, cardinalities=None) -> float:
    """Multinomial log-likelihood minus (log n / 2) q (r - 1)."""
    r = cardinalities if cardinalities is not None else X.max(axis=0) + 1
    N, q = _counts(X, j, parents, r)
    Nc = N.sum(axis=1, keepdims=True)
    nz = N > 0
    ll = np.sum(N[nz] * np.log((N / Nc)[nz]))
    return float(ll - np.log(X.shape[0]) / 2 * q * (r[j] - 1))


def score(local, A: np.ndarray) -> float:
    """Sum over nodes of ``local(j, parents)`` for adjacency A (A[i, j] != 0: i -> j)."""
    return float(sum(local(j, np.flatnonzero(A[:, j]).tolist()) for j in range(A.shape[0])))
