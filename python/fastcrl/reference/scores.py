"""Reference local scores (NumPy/SciPy): least-squares residuals and np.unique counting."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, multigammaln


def gaussian_bic(X: np.ndarray, j: int, parents, penalty_discount: float = 1.0) -> float:
    """``-(n/2) log(RSS/n) - penalty_discount (|P|+1) log(n)/2`` from an OLS fit with intercept."""
    n = X.shape[0]
    Z = np.column_stack([np.ones(n), X[:, list(parents)]])
    resid = X[:, j] - Z @ np.linalg.lstsq(Z, X[:, j], rcond=None)[0]
    return (
        -n / 2 * np.log(resid @ resid / n) - penalty_discount * (len(parents) + 1) * np.log(n) / 2
    )


def bge_posterior_scale(X: np.ndarray, iss_mu: float = 1.0, iss_w=None, nu=None) -> np.ndarray:
    """``R = t I + (n - 1) cov(X) + (n iss_mu / (n + iss_mu)) (xbar - nu)(xbar - nu)^T``."""
    n, d = X.shape
    iss_w = d + 2 if iss_w is None else iss_w
    t = iss_mu * (iss_w - d - 1) / (iss_mu + 1)
    xbar = X.mean(axis=0)
    diff = xbar - (xbar if nu is None else np.asarray(nu, dtype=float))
    scatter = (n - 1) * np.atleast_2d(np.cov(X, rowvar=False))
    return t * np.eye(d) + scatter + n * iss_mu / (n + iss_mu) * np.outer(diff, diff)


def bge_log_marginal(X: np.ndarray, family, iss_mu: float = 1.0, iss_w=None, nu=None) -> float:
    """log p(data of the variables ``family``), normal-Wishart prior (Kuipers et al. 2014)."""
    n, d = X.shape
    iss_w = d + 2 if iss_w is None else iss_w
    idx = list(family)
    ell = len(idx)
    if ell == 0:
        return 0.0
    t = iss_mu * (iss_w - d - 1) / (iss_mu + 1)
    R = bge_posterior_scale(X, iss_mu, iss_w, nu)[np.ix_(idx, idx)]
    sign, logdet_r = np.linalg.slogdet(R)
    assert sign > 0
    a = iss_w - d + ell
    return float(
        ell / 2 * np.log(iss_mu / (n + iss_mu))
        - ell * n / 2 * np.log(np.pi)
        + multigammaln((n + a) / 2, ell)
        - multigammaln(a / 2, ell)
        + a / 2 * ell * np.log(t)
        - (n + a) / 2 * logdet_r
    )


def bge(X: np.ndarray, j: int, parents, iss_mu: float = 1.0, iss_w=None, nu=None) -> float:
    """BGe local score: log-marginal of ``{j} + parents`` minus that of ``parents``."""
    P = list(parents)
    return bge_log_marginal(X, [j, *P], iss_mu, iss_w, nu) - bge_log_marginal(
        X, P, iss_mu, iss_w, nu
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


def _levels(X: np.ndarray, cardinalities):
    """``(codes, r)``: declared cardinalities keep the codes; otherwise each column's levels are
    the codes that occur, renumbered 0..r-1 in order (as fastcrl.scores)."""
    X = np.asarray(X)
    if cardinalities is not None:
        return X, np.asarray(cardinalities)
    columns = [np.unique(X[:, c], return_inverse=True) for c in range(X.shape[1])]
    codes = np.column_stack([inverse.ravel() for _, inverse in columns])
    return codes, np.array([levels.size for levels, _ in columns])


def bdeu(X: np.ndarray, j: int, parents, ess: float = 1.0, cardinalities=None) -> float:
    """BDeu local score (Heckerman et al. 1995), uniform prior ess / (q r)."""
    X, r = _levels(X, cardinalities)
    N, q = _counts(X, j, parents, r)
    a_c, a_ck = ess / q, ess / (q * r[j])
    return float(
        np.sum(gammaln(a_c) - gammaln(a_c + N.sum(axis=1)))
        + np.sum(gammaln(a_ck + N) - gammaln(a_ck))
    )


def discrete_bic(X: np.ndarray, j: int, parents, cardinalities=None) -> float:
    """Multinomial log-likelihood minus (log n / 2) q (r - 1)."""
    X, r = _levels(X, cardinalities)
    N, q = _counts(X, j, parents, r)
    Nc = N.sum(axis=1, keepdims=True)
    nz = N > 0
    ll = np.sum(N[nz] * np.log((N / Nc)[nz]))
    return float(ll - np.log(X.shape[0]) / 2 * q * (r[j] - 1))


def score(local, A: np.ndarray) -> float:
    """Sum over nodes of ``local(j, parents)`` for adjacency A (A[i, j] != 0: i -> j)."""
    return float(sum(local(j, np.flatnonzero(A[:, j]).tolist()) for j in range(A.shape[0])))
