"""Reference sufficient statistics (NumPy, two-pass)."""

from __future__ import annotations

import numpy as np


def column_means(X: np.ndarray) -> np.ndarray:
    """Column means, accumulated in float64 and returned in X's dtype."""
    return X.mean(axis=0, dtype=np.float64).astype(X.dtype)


def covariance(X: np.ndarray, ddof: int = 1) -> np.ndarray:
    """Two-pass covariance: centre, then ``Xc^T Xc / (n - ddof)``."""
    Xc = X - column_means(X)
    return (Xc.T @ Xc) / X.dtype.type(X.shape[0] - ddof)


def gram(X: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``X^T X / scale``."""
    return (X.T @ X) / X.dtype.type(scale)


def correlation(X: np.ndarray | None = None, cov: np.ndarray | None = None) -> np.ndarray:
    """Correlation from data or from a covariance matrix."""
    if cov is None:
        cov = covariance(X)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    np.fill_diagonal(corr, 1.0)
    return corr
