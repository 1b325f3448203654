"""Sorting baselines that every benchmark of continuous structure learning should report.

Reisach, Seiler and Weichwald (2021) showed that on many simulated linear benchmarks the causal
order can be read off the marginal variances ("varsortability"), so a method that sorts by variance
and then runs sparse regressions rivals NOTEARS-style optimisers.  Reporting it next to any method
shows whether a benchmark is trivially sortable; the R²-sorted variant (Reisach et al. 2023) is
invariant to rescaling the variables.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ._base import BaseEstimator
from ._validation import (
    _to_host,
    check_data,
    check_float,
    check_int,
    check_option,
    node_names_from,
)
from .knowledge import resolve_knowledge
from .regression import lasso_path_gram
from .stats import covariance

__all__ = ["SortNRegress"]


class SortNRegress(BaseEstimator):
    """Sort nodes by a marginal criterion, then select parents by BIC-tuned adaptive lasso.

    Each node is regressed on all nodes before it in the sorted order; the adaptive lasso path
    (weights from ordinary least squares) is traced by coordinate descent on the covariance matrix,
    and the point with the lowest BIC is kept.  All work uses the ``(d, d)`` covariance, so the cost
    after one pass over the data does not grow with ``n_samples``.

    Parameters
    ----------
    sort : {"var", "r2"}, default="var"
        ``"var"``: increasing marginal variance (sortnregress).  ``"r2"``: increasing coefficient of
        determination of each variable given all others (R²-sortnregress; scale-invariant).
    n_lambdas : int, default=40
        Points on the lasso path, log-spaced from the smallest penalty that selects nothing down to
        ``1e-4`` times it.
    knowledge : fastcrl.Knowledge, optional
        Forbidden edges are never selected; required edges are kept unpenalised (their endpoints are
        ordered accordingly); tiers constrain the order; ``max_indegree`` caps the selected parents.
    tol : float, default=1e-8
        Convergence tolerance of coordinate descent (largest coefficient change).

    Attributes
    ----------
    weights_ : ndarray of shape (n_features, n_features)
        ``weights_[i, j]`` is the regression coefficient of ``i`` in the equation of ``j``.
    adjacency_ : ndarray of shape (n_features, n_features)
        0/1 DAG, ``adjacency_[i, j] == 1`` means ``i -> j``.
    causal_order_ : ndarray of shape (n_features,)
        The sorted order used (causes first).
    node_names_ : list of str
    fit_time_ : float
        Seconds spent in ``fit``.

    References
    ----------
    A. Reisach, C. Seiler, S. Weichwald. Beware of the Simulated DAG! Causal Discovery Benchmarks
    May Be Easy To Game. NeurIPS 2021.
    A. Reisach, M. Tami, C. Seiler, S. Weichwald, S. Weichwald. A Scale-Invariant Sorting Criterion
    to Find a Causal Order in Additive Noise Models. NeurIPS 2023.

    Examples
    --------
    >>> import fastcrl
    >>> data = fastcrl.simulate.simulate_dataset(8, 2000, random_state=0)
    >>> est = fastcrl.SortNRegress().fit(data.X)
    >>> est.adjacency_.shape
    (8, 8)
    """

    def __init__(
        self, sort: str = "var", n_lambdas: int = 40, knowledge: Any = None, tol: float = 1e-8
    ):
        self.sort = sort
        self.n_lambdas = n_lambdas
        self.knowledge = knowledge
        self.tol = tol

    def fit(self, X: Any, names: list[str] | None = None):
        """Learn the graph from data ``X`` of shape (n_samples, n_features); returns ``self``."""
        sort = check_option(self.sort, "sort", ["var", "r2"])
        n_lambdas = check_int(self.n_lambdas, "n_lambdas", low=2)
        tol = check_float(self.tol, "tol", low=0.0, low_inclusive=False)
        start = time.perf_counter()
        Xv = check_data(X, "X", dtype=np.float64, min_samples=3, moment_power=2)
        n, d = Xv.shape
        self.node_names_ = node_names_from(X, d, names)
        S = _to_host(covariance(Xv, ddof=0))  # CuPy X: the (d, d) work runs on the host
        forbidden, required, tiers, max_indegree = _knowledge_masks(
            self.knowledge, self.node_names_
        )
        if sort == "var":
            key = np.diag(S)
        else:
            key = _r2_of_each_given_rest(S)
        order = _constrained_order(key, required, tiers)
        # Coefficients and the BIC path are invariant to a common scale: regress in units of the
        # largest variance so that tiny or huge data meet the lasso's absolute floors alike.
        S = S / np.max(np.diag(S))
        W = np.zeros((d, d))
        for pos in range(1, d):
            j = order[pos]
            preds = np.array([p for p in order[:pos] if not forbidden[p, j]], dtype=int)
            if preds.size == 0:
                continue
            must = required[preds, j]
            coef = _adaptive_lasso_bic(S, preds, j, n, n_lambdas, tol, must, max_indegree)
            W[preds, j] = coef
        self.weights_ = W
        self.adjacency_ = (W != 0).astype(np.int8)
        self.causal_order_ = np.asarray(order)
        self.fit_time_ = time.perf_counter() - start
        return self


def _knowledge_masks(knowledge: Any, names: list[str]):
    d = len(names)
    forbidden = np.zeros((d, d), dtype=bool)
    required = np.zeros((d, d), dtype=bool)
    tiers: list[list[int]] = []
    max_indegree = None
    resolved = resolve_knowledge(knowledge, names)
    if resolved is not None:
        forbidden = resolved.forbidden_mask()
        required = resolved.required_mask()
        tiers = [list(t) for t in resolved.tiers]
        max_indegree = resolved.max_indegree
    return forbidden, required, tiers, max_indegree


def _r2_of_each_given_rest(S: np.ndarray) -> np.ndarray:
    # R²_j = 1 - 1 / (S_jj * P_jj) with P the precision matrix; pinv guards against collinearity.
    P = np.linalg.pinv(S)
    return 1.0 - 1.0 / np.maximum(np.diag(S) * np.diag(P), 1.0)


def _constrained_order(key: np.ndarray, required: np.ndarray, tiers: list[list[int]]) -> list[int]:
    """Nodes sorted by ``key`` (ascending) among those whose required predecessors are placed."""
    d = key.size
    before = required.copy()  # before[i, j]: i must precede j
    for a, tier_a in enumerate(tiers):
        for tier_b in tiers[a + 1 :]:
            before[np.ix_(tier_a, tier_b)] = True
    remaining = before.sum(axis=0).astype(int)
    placed = np.zeros(d, dtype=bool)
    order: list[int] = []
    for _ in range(d):
        ready = np.flatnonzero(~placed & (remaining == 0))
        if ready.size == 0:
            raise ValueError(
                "the knowledge's required edges and tiers contain a cycle; no order satisfies them"
            )
        nxt = int(ready[np.argmin(key[ready])])
        order.append(nxt)
        placed[nxt] = True
        remaining -= before[nxt].astype(int)
    return order


def _adaptive_lasso_bic(S, preds, j, n, n_lambdas, tol, must, max_indegree):
    """BIC-selected adaptive-lasso coefficients of ``j`` on ``preds`` from the covariance ``S``."""
    G_raw = S[np.ix_(preds, preds)]
    c_raw = S[preds, j]
    ridge = 1e-10 * max(1.0, float(np.trace(G_raw)) / preds.size)
    beta_ols = np.linalg.solve(G_raw + ridge * np.eye(preds.size), c_raw)
    w = np.abs(beta_ols)
    w[must] = 1.0  # required parents are unpenalised; their scale does not matter
    G = G_raw * np.outer(w, w)
    c = c_raw * w
    penalty = np.where(must, 0.0, 1.0)
    lam_max = float(np.max(np.abs(c[~must]))) if (~must).any() else 0.0
    lambdas = lam_max * np.logspace(0, -4, n_lambdas) if lam_max > 0 else np.zeros(1)
    diag_ok = np.diag(G) > 0  # a zero OLS weight removes that predecessor outright
    coefs = np.zeros((lambdas.size, preds.size))
    if diag_ok.any():
        idx = np.flatnonzero(diag_ok)
        coefs[:, idx], _ = lasso_path_gram(
            G[np.ix_(idx, idx)], c[idx], lambdas, penalty=penalty[idx], tol=tol
        )
    if must.any():
        # The required parents alone are a candidate too: the path's first point can already
        # select others (its lam_max ignores the unpenalised fit), and max_indegree must be met.
        alone = np.zeros(preds.size)
        Gm = G[np.ix_(must, must)]
        alone[must] = np.linalg.solve(Gm + ridge * np.eye(Gm.shape[0]), c[must])
        coefs = np.vstack([alone, coefs])
    k = np.count_nonzero(coefs, axis=1)
    rss = np.maximum(S[j, j] - 2.0 * coefs @ c + np.einsum("li,ij,lj->l", coefs, G, coefs), 1e-300)
    bic = n * np.log(rss) + k * np.log(n)
    if max_indegree is not None:
        bic[k > max_indegree] = np.inf
    return coefs[int(np.argmin(bic))] * w
