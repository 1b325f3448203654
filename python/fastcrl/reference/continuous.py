"""Reference NOTEARS and DAGMA for linear SEMs: faithful NumPy/SciPy baselines.

These are the "pure-Python baselines" that users benchmark against and that the compiled
estimators are checked against.  Each follows its paper and the authors' published code step by
step (same initialisation, update rules, stopping rules and defaults, and the same order of
floating-point operations: on our test problems the iterates equal the published code's to the
last bit); the differences, none of which changes the iterates, are listed in each function's
Notes.

Adjacency convention: ``W[i, j] != 0`` means the edge ``i -> j``, so ``X ≈ X @ W + E``.

Besides the estimators, :func:`notears_objective` and :func:`dagma_objective` evaluate the exact
functions the solvers minimise (value and gradient), so that another implementation can compare
its objective values with these at any ``W``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.optimize as sopt
from scipy.special import expit

from .._errors import NumericalError
from .._validation import (
    check_data,
    check_float,
    check_int,
    check_option,
    check_positive_schedule,
    check_square_matrix,
)

__all__ = [
    "ContinuousResult",
    "dagma_linear",
    "dagma_objective",
    "notears_linear",
    "notears_objective",
]

_LOSSES = ("l2", "logistic")
_CONSTRAINTS = ("expm", "poly", "logdet")
# DagmaLinear.fit's default central path (dagma 1.x): s for each of the T outer iterations.
_DAGMA_S = (1.0, 0.9, 0.8, 0.7, 0.6)


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ContinuousResult:
    """Output of :func:`notears_linear` and :func:`dagma_linear`.

    Attributes
    ----------
    W : ndarray of shape (n_features, n_features)
        Weighted adjacency after thresholding (``|W_raw[i, j]| < w_threshold`` set to 0);
        ``W[i, j] != 0`` means the edge ``i -> j``.
    W_raw : ndarray of shape (n_features, n_features)
        The solver's final iterate, before thresholding.
    adjacency : ndarray of shape (n_features, n_features), int8
        ``(W != 0)`` as 0/1.
    h : float
        Acyclicity of ``W_raw``: for NOTEARS the chosen constraint (``h <= h_tol`` on
        convergence); for DAGMA ``-log det(I - W_raw * W_raw)`` (the published ``h_final``, s = 1).
    loss : float
        The loss (score) of ``W_raw`` on the preprocessed data, without the L1 term.
    objective : float
        ``loss + lambda1 * |W_raw|_1``, the penalised score shared by both methods; equal to
        ``notears_objective(W_raw, X, lambda1, loss)[0]`` and to
        ``dagma_objective(W_raw, X, lambda1, loss)[0] - h`` (mu = s = 1).
    n_iter : int
        Outer iterations run (dual-ascent steps for NOTEARS, central-path steps for DAGMA).
    converged : bool
        NOTEARS: ``h <= h_tol``.  DAGMA: the last inner problem met ``tol`` before ``max_iter``.
    history : list of dict
        One dict per outer iteration (keys listed in each estimator's Returns section); always
        has ``"iteration"``, ``"loss"``, ``"h"``, ``"objective"`` and ``"inner_iterations"``.
    method : str
        ``"notears"`` or ``"dagma"``.
    params : dict
        The resolved parameters of the run (DAGMA's ``s`` as actually used after any retries).
    """

    W: np.ndarray = field(repr=False)
    W_raw: np.ndarray = field(repr=False)
    adjacency: np.ndarray = field(repr=False)
    h: float
    loss: float
    objective: float
    n_iter: int
    converged: bool
    history: list[dict[str, Any]] = field(repr=False)
    method: str
    params: dict[str, Any] = field(repr=False)

    @property
    def is_dag(self) -> bool:
        """Whether ``adjacency`` is acyclic (thresholding normally makes it so; not enforced)."""
        return _is_dag(self.adjacency)


def _is_dag(A: np.ndarray) -> bool:
    """Kahn's algorithm on a 0/1 adjacency (``A[i, j]``: i -> j)."""
    A = np.asarray(A) != 0
    indeg = A.sum(axis=0)
    alive = np.ones(A.shape[0], dtype=bool)
    while True:
        src = np.flatnonzero(alive & (indeg == 0))
        if src.size == 0:
            return not alive.any()
        alive[src] = False
        indeg = indeg - A[src].sum(axis=0)


def _make_result(
    W_raw, w_threshold, *, h, loss, lambda1, n_iter, converged, history, method, params
) -> ContinuousResult:
    W = W_raw.copy()
    W[np.abs(W) < w_threshold] = 0.0
    return ContinuousResult(
        W=W,
        W_raw=W_raw,
        adjacency=(W != 0).astype(np.int8),
        h=float(h),
        loss=float(loss),
        objective=float(loss + lambda1 * np.abs(W_raw).sum()),
        n_iter=int(n_iter),
        converged=bool(converged),
        history=history,
        method=method,
        params=params,
    )


# --------------------------------------------------------------------------------------------
# Shared pieces: data, losses, acyclicity functions
# --------------------------------------------------------------------------------------------


def _prepare_data(X: Any, loss: str) -> np.ndarray:
    """Validated float64 copy of X: centred for the l2 loss, checked binary for logistic."""
    if hasattr(X, "__cuda_array_interface__"):
        raise TypeError(
            "the fastcrl.reference baselines take NumPy arrays; got a device array "
            f"({type(X).__name__}); pass cupy.asnumpy(X)"
        )
    X = check_data(X, "X", dtype=np.float64, min_samples=2, moment_power=2)
    if loss == "logistic":
        bad = ~((X == 0.0) | (X == 1.0))
        if bad.any():
            example = X[bad][0]
            raise ValueError(
                "loss='logistic' needs binary 0/1 data in X; got "
                f"{int(bad.sum())} entries that are neither 0 nor 1 (e.g. {example!r})"
            )
        return X.copy()
    return X - X.mean(axis=0, keepdims=True)


def _loss_xform(W: np.ndarray, X: np.ndarray, loss: str) -> tuple[float, np.ndarray]:
    """NOTEARS's loss and gradient, evaluated through ``X @ W`` as published."""
    n = X.shape[0]
    M = X @ W
    if loss == "l2":
        R = X - M
        return 0.5 / n * float(np.sum(R * R)), (-1.0 / n * X.T) @ R
    return 1.0 / n * float(np.sum(np.logaddexp(0.0, M) - X * M)), (1.0 / n * X.T) @ (expit(M) - X)


def _loss_covform(W: np.ndarray, X: np.ndarray, cov: np.ndarray, loss: str):
    """DAGMA's loss and gradient; the l2 loss via ``cov = X^T X / n`` as published."""
    if loss == "l2":
        D = np.eye(W.shape[0]) - W
        rhs = cov @ D
        return 0.5 * float(np.trace(D.T @ rhs)), -rhs
    n = X.shape[0]
    M = X @ W
    return 1.0 / n * float(np.sum(np.logaddexp(0.0, M) - X * M)), (1.0 / n * X.T) @ expit(M) - cov


def _h_expm(W: np.ndarray) -> tuple[float, np.ndarray]:
    """NOTEARS: ``tr exp(W o W) - d`` (Zheng et al. 2018)."""
    E = sla.expm(W * W)
    return float(np.trace(E)) - W.shape[0], 2.0 * W * E.T


def _h_poly(W: np.ndarray) -> tuple[float, np.ndarray]:
    """``tr (I + W o W / d)^d - d`` (Yu et al. 2019), the alternative in NOTEARS's code."""
    d = W.shape[0]
    M = np.eye(d) + W * W / d
    E = np.linalg.matrix_power(M, d - 1)
    return float(np.sum(E.T * M)) - d, 2.0 * W * E.T


def _logdet_in_domain(W: np.ndarray, s: float) -> bool:
    """``s I - W o W`` is a nonsingular M-matrix iff the spectral radius of ``W o W`` is < s."""
    return bool(np.max(np.abs(np.linalg.eigvals(W * W))) < s)


def _h_logdet(W: np.ndarray, s: float = 1.0) -> tuple[float, np.ndarray]:
    """DAGMA: ``-log det(s I - W o W) + d log s`` (Bello et al. 2022), as published (log|det|)."""
    d = W.shape[0]
    A = s * np.eye(d) - W * W
    _, logabsdet = np.linalg.slogdet(A)
    return -float(logabsdet) + d * math.log(s), 2.0 * W * sla.inv(A, check_finite=False).T


def _h_of(constraint: str) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    return {"expm": _h_expm, "poly": _h_poly, "logdet": _h_logdet}[constraint]


def _check_W(W: Any, d: int) -> np.ndarray:
    W = check_square_matrix(W, "W", dtype=np.float64)
    if W.shape != (d, d):
        raise ValueError(f"W must have shape (d, d) = {(d, d)} to match X; got {W.shape}")
    return W


def _check_count(value: Any, name: str, low: int = 1) -> int:
    """An iteration count; integral floats such as the published ``3e4`` are accepted."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return check_int(value, name, low=low)


def _check_callback(callback: Any) -> None:
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}")


def _report(entry: dict[str, Any], method: str, verbose: bool, callback) -> None:
    if verbose:
        body = "  ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in entry.items()
            if k != "iteration"
        )
        print(f"[{method}] outer iteration {entry['iteration']}: {body}", flush=True)
    if callback is not None:
        callback(dict(entry))


# --------------------------------------------------------------------------------------------
# NOTEARS
# --------------------------------------------------------------------------------------------


def notears_objective(
    W: Any,
    X: Any,
    lambda1: float = 0.1,
    loss: str = "l2",
    *,
    constraint: str = "expm",
    rho: float = 0.0,
    alpha: float = 0.0,
) -> tuple[float, np.ndarray]:
    """NOTEARS's augmented Lagrangian (value and gradient) at a weight matrix ``W``.

    ``F(W) = loss(W; X) + lambda1 * |W|_1 + rho / 2 * h(W)^2 + alpha * h(W)``; with the
    defaults ``rho = alpha = 0`` this is the penalised score ``loss + lambda1 |W|_1``.

    Parameters
    ----------
    W : array_like of shape (n_features, n_features)
        Weights; ``W[i, j] != 0`` means the edge ``i -> j``.  Any finite matrix (the solver keeps
        the diagonal at zero, this function does not require it).
    X : array_like of shape (n_samples, n_features)
        Data, preprocessed exactly as :func:`notears_linear` does: columns are centred for the
        l2 loss; for the logistic loss the data must be 0/1 and are used as given.
    lambda1 : float, default 0.1
        L1 penalty, ``>= 0``.
    loss : {"l2", "logistic"}, default "l2"
        ``"l2"``: ``0.5 / n * ||X - X W||_F^2``.  ``"logistic"``:
        ``1 / n * sum(log(1 + exp(X W)) - X o (X W))``.
    constraint : {"expm", "poly", "logdet"}, default "expm"
        ``h(W)``: ``tr exp(W o W) - d``; ``tr (I + W o W / d)^d - d``; or
        ``-log det(I - W o W)`` (defined only where the spectral radius of ``W o W`` is < 1).
    rho, alpha : float, default 0.0
        Penalty weight (``>= 0``) and Lagrange multiplier of the augmented Lagrangian.

    Returns
    -------
    value : float
    grad : ndarray of shape (n_features, n_features)
        Gradient, with the subgradient ``lambda1 * sign(W)`` for the L1 term (0 where
        ``W == 0``).  The solver itself works on the split ``W = W+ - W-``, where the L1 term is
        smooth; both give the same value.

    Raises
    ------
    ValueError
        Bad ``X`` (see :func:`notears_linear`), ``W`` not ``(d, d)`` or not finite, negative
        ``lambda1`` or ``rho``, unknown ``loss``/``constraint``, or ``constraint="logdet"`` with
        ``W`` outside its domain.

    Notes
    -----
    Cost ``O(n d^2 + d^3)``.

    References
    ----------
    .. [1] Zheng, Aragam, Ravikumar, Xing. "DAGs with NO TEARS: Continuous Optimization for
       Structure Learning." NeurIPS 2018, arXiv:1803.01422.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.reference.continuous import notears_objective
    >>> X = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])
    >>> value, grad = notears_objective(np.zeros((2, 2)), X, lambda1=0.0)
    >>> round(value, 6)  # 0.5 / n * ||X - mean(X)||^2 = 0.5 / 3 * (2 + 8)
    1.666667
    """
    loss = check_option(loss, "loss", _LOSSES)
    constraint = check_option(constraint, "constraint", _CONSTRAINTS)
    lambda1 = check_float(lambda1, "lambda1", low=0.0)
    rho = check_float(rho, "rho", low=0.0)
    alpha = check_float(alpha, "alpha")
    Xp = _prepare_data(X, loss)
    W = _check_W(W, Xp.shape[1])
    if constraint == "logdet" and not _logdet_in_domain(W, 1.0):
        raise ValueError(
            "W is outside the domain of the logdet constraint: the spectral radius of W * W "
            "must be < 1"
        )
    L, GL = _loss_xform(W, Xp, loss)
    h, Gh = _h_of(constraint)(W)
    value = L + lambda1 * float(np.abs(W).sum()) + 0.5 * rho * h * h + alpha * h
    grad = GL + (rho * h + alpha) * Gh + lambda1 * np.sign(W)
    return float(value), grad


def notears_linear(
    X: Any,
    *,
    lambda1: float = 0.1,
    loss: str = "l2",
    max_iter: int = 100,
    h_tol: float = 1e-8,
    rho_max: float = 1e16,
    w_threshold: float = 0.3,
    constraint: str = "expm",
    callback: Callable[[dict[str, Any]], Any] | None = None,
    verbose: bool = False,
) -> ContinuousResult:
    """NOTEARS for a linear SEM: ``min loss(W) + lambda1 |W|_1`` subject to ``h(W) = 0``.

    A faithful NumPy/SciPy implementation of Zheng et al. (2018) as published in
    ``notears/linear.py``: augmented Lagrangian with dual ascent, inner problems solved by
    L-BFGS-B on ``W = W+ - W-`` (``W+, W- >= 0``, diagonals fixed at 0), starting from ``W = 0``.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        Data, ``n_samples >= 2``, finite, no constant column.  Not modified.
    lambda1 : float, default 0.1
        L1 penalty, ``>= 0`` (the value of the published example).
    loss : {"l2", "logistic"}, default "l2"
        ``"l2"``: least squares ``0.5 / n ||X - X W||_F^2`` on column-centred data (the published
        code centres X for this loss only).  ``"logistic"``: for 0/1 data, used uncentred.
    max_iter : int, default 100
        Maximum number of dual-ascent (outer) steps.
    h_tol : float, default 1e-8
        Stop when ``h(W) <= h_tol``.
    rho_max : float, default 1e16
        Stop when the penalty weight reaches ``rho_max``; must be > 1 (rho starts at 1).
    w_threshold : float, default 0.3
        Weights with ``|w| < w_threshold`` are set to 0 in ``W``.
    constraint : {"expm", "poly", "logdet"}, default "expm"
        Acyclicity function: ``"expm"`` is the published ``tr exp(W o W) - d`` (via
        ``scipy.linalg.expm``); ``"poly"`` the ``tr (I + W o W / d)^d - d`` of Yu et al. (2019),
        left commented out in the published code; ``"logdet"`` DAGMA's ``-log det(I - W o W)``
        with s = 1, whose domain is ``spectral radius(W o W) < 1`` (see Notes).
    callback : callable, optional
        Called after each outer iteration with a copy of its ``history`` entry.
    verbose : bool, default False
        Print one line per outer iteration.

    Returns
    -------
    result : ContinuousResult
        ``W``, ``W_raw``, ``adjacency``, ``h``, ``loss``, ``objective``, ``n_iter``,
        ``converged`` (``h <= h_tol``) and ``history``; each history entry has ``iteration``,
        ``rho`` (used for the accepted solve), ``alpha`` (after its update), ``h``, ``loss``,
        ``objective`` (``loss + lambda1 |W|_1``), ``augmented_lagrangian`` (at the accepted
        solution) and ``augmented_lagrangian_start`` (the same function at the warm start),
        ``inner_iterations`` (L-BFGS-B iterations, all solves), ``n_solves`` and
        ``inner_success`` (every L-BFGS-B solve reported success).

    Raises
    ------
    ValueError
        NaN/inf in X, fewer than 2 rows, a constant column, non-0/1 data with
        ``loss="logistic"``, negative ``lambda1``/``h_tol``/``w_threshold``, ``rho_max <= 1``,
        ``max_iter < 1``, or an unknown ``loss``/``constraint``.
    TypeError
        Non-numeric X, a device (CuPy) array, or a non-callable ``callback``.

    Notes
    -----
    The published rules, exactly: ``rho = 1, alpha = 0``; at each outer step solve the inner
    problem from the current estimate, multiplying ``rho`` by 10 and re-solving (again from the
    current estimate) until ``h(W_new) <= 0.25 h(W_old)`` or ``rho >= rho_max``; then accept
    ``W_new`` and set ``alpha += rho h(W_new)``; stop when ``h <= h_tol`` or ``rho >= rho_max``.
    The L1 term is the linear ``lambda1 * sum(W+ + W-)``.  L-BFGS-B runs with SciPy's defaults.

    The algorithm is deterministic (it starts at ``W = 0``), so there is no ``random_state``.
    With a single column (``d = 1``) there is no possible edge: the empty graph is returned at
    once (``n_iter = 0``).  Thresholding usually yields a DAG but, as in the published code,
    this is not enforced; see ``result.is_dag``.

    With ``constraint="logdet"`` a line-search trial point outside the domain gets a finite value
    above every value of the current solve plus ``10 |g . (w - w_ref)|`` (``g``, ``w_ref``: the
    last point inside), so that L-BFGS-B backtracks; SciPy's L-BFGS-B treats +inf as
    convergence and would stop at the starting point.

    Differences from the published code that leave the iterates unchanged: X is copied, not
    modified; bounds are passed as a ``scipy.optimize.Bounds``; the Poisson loss is not offered;
    ``"poly"``/``"logdet"`` are options.  Each function evaluation costs ``O(n d^2 + d^3)``.

    References
    ----------
    .. [1] Zheng, Aragam, Ravikumar, Xing. "DAGs with NO TEARS: Continuous Optimization for
       Structure Learning." NeurIPS 2018, arXiv:1803.01422.
    .. [2] Yu, Chen, Gao, Yu. "DAG-GNN: DAG Structure Learning with Graph Neural Networks."
       ICML 2019, arXiv:1904.10098.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.reference.continuous import notears_linear
    >>> rng = np.random.default_rng(0)
    >>> E = rng.standard_normal((200, 3))
    >>> X = E.copy(); X[:, 1] += 1.5 * X[:, 0]; X[:, 2] -= 1.2 * X[:, 1]   # 0 -> 1 -> 2
    >>> res = notears_linear(X)
    >>> res.adjacency
    array([[0, 1, 0],
           [0, 0, 1],
           [0, 0, 0]], dtype=int8)
    >>> res.h < 1e-8
    True
    """
    loss = check_option(loss, "loss", _LOSSES)
    constraint = check_option(constraint, "constraint", _CONSTRAINTS)
    lambda1 = check_float(lambda1, "lambda1", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    h_tol = check_float(h_tol, "h_tol", low=0.0)
    rho_max = check_float(rho_max, "rho_max", low=1.0, low_inclusive=False)
    w_threshold = check_float(w_threshold, "w_threshold", low=0.0)
    _check_callback(callback)
    Xp = _prepare_data(X, loss)
    n, d = Xp.shape
    params = dict(
        lambda1=lambda1,
        loss=loss,
        max_iter=max_iter,
        h_tol=h_tol,
        rho_max=rho_max,
        w_threshold=w_threshold,
        constraint=constraint,
    )

    if d == 1:
        W0 = np.zeros((1, 1))
        L0, _ = _loss_xform(W0, Xp, loss)
        return _make_result(
            W0,
            w_threshold,
            h=0.0,
            loss=L0,
            lambda1=lambda1,
            n_iter=0,
            converged=True,
            history=[],
            method="notears",
            params=params,
        )

    hfun = _h_of(constraint)
    dd = d * d

    def to_matrix(w: np.ndarray) -> np.ndarray:
        return (w[:dd] - w[dd:]).reshape(d, d)

    def h_value(w: np.ndarray) -> float:
        W = to_matrix(w)
        if constraint == "logdet" and not _logdet_in_domain(W, 1.0):
            return math.inf
        return hfun(W)[0]

    last: dict[str, Any] = {}  # the last in-domain evaluation of the current solve ("logdet")

    def augmented_lagrangian(w: np.ndarray) -> tuple[float, np.ndarray]:
        W = to_matrix(w)
        if constraint == "logdet" and not _logdet_in_domain(W, 1.0):
            # A trial point of the line search left the domain.  +inf would make SciPy's
            # L-BFGS-B stop on the spot, reporting convergence; a finite value above every value
            # of this solve makes the line search backtrack, by more the further out it went.
            if not last:
                return math.inf, np.zeros_like(w)
            top, g_ref, w_ref = last["top"], last["g"], last["w"]
            return top + 10.0 * abs(float(g_ref @ (w - w_ref))) + 1e-12 * (1.0 + abs(top)), g_ref
        L, GL = _loss_xform(W, Xp, loss)
        h, Gh = hfun(W)
        value = L + 0.5 * rho * h * h + alpha * h + lambda1 * float(w.sum())
        G = GL + (rho * h + alpha) * Gh
        grad = np.concatenate(((G + lambda1).ravel(), (lambda1 - G).ravel()))
        if constraint == "logdet":
            last.update(top=max(value, last.get("top", -math.inf)), g=grad, w=w.copy())
        return value, grad

    upper = np.full((2, d, d), np.inf)
    upper[:, np.arange(d), np.arange(d)] = 0.0  # no self-loops
    bounds = sopt.Bounds(np.zeros(2 * dd), upper.ravel())

    w_est, rho, alpha, h = np.zeros(2 * dd), 1.0, 0.0, math.inf
    history: list[dict[str, Any]] = []
    for it in range(1, max_iter + 1):
        nit = n_solves = 0
        success = True
        while True:  # rho < rho_max holds here: the outer loop stops as soon as it fails
            rho_used = rho
            last.clear()
            al_start = augmented_lagrangian(w_est)[0]
            sol = sopt.minimize(
                augmented_lagrangian, w_est, method="L-BFGS-B", jac=True, bounds=bounds
            )
            nit += int(sol.nit)
            n_solves += 1
            success = success and bool(sol.success)
            w_new, al_end = sol.x, float(sol.fun)
            h_new = h_value(w_new)
            if h_new > 0.25 * h:
                rho *= 10.0
                if rho >= rho_max:
                    break
            else:
                break
        w_est, h = w_new, h_new
        alpha += rho * h
        W = to_matrix(w_est)
        L, _ = _loss_xform(W, Xp, loss)
        entry = dict(
            iteration=it,
            rho=rho_used,
            alpha=alpha,
            h=h,
            loss=L,
            objective=L + lambda1 * float(np.abs(W).sum()),
            augmented_lagrangian=al_end,
            augmented_lagrangian_start=al_start,
            inner_iterations=nit,
            n_solves=n_solves,
            inner_success=success,
        )
        history.append(entry)
        _report(entry, "notears", verbose, callback)
        if h <= h_tol or rho >= rho_max:
            break

    W_raw = to_matrix(w_est)
    return _make_result(
        W_raw,
        w_threshold,
        h=h,
        loss=history[-1]["loss"],
        lambda1=lambda1,
        n_iter=len(history),
        converged=h <= h_tol,
        history=history,
        method="notears",
        params=params,
    )


# --------------------------------------------------------------------------------------------
# DAGMA
# --------------------------------------------------------------------------------------------


def dagma_objective(
    W: Any,
    X: Any,
    lambda1: float = 0.02,
    loss: str = "l2",
    *,
    mu: float = 1.0,
    s: float = 1.0,
) -> tuple[float, np.ndarray]:
    """DAGMA's central-path objective (value and gradient) at a weight matrix ``W``.

    ``F(W) = mu * (loss(W; X) + lambda1 * |W|_1) + h_s(W)`` with
    ``h_s(W) = -log det(s I - W o W) + d log s``.

    Parameters
    ----------
    W : array_like of shape (n_features, n_features)
        Weights; ``W[i, j] != 0`` means ``i -> j``.  Must lie in the domain: the spectral radius
        of ``W o W`` below ``s`` (``s I - W o W`` a nonsingular M-matrix).
    X : array_like of shape (n_samples, n_features)
        Data, preprocessed exactly as :func:`dagma_linear` does (centred for l2; 0/1 and used as
        given for logistic).
    lambda1 : float, default 0.02
        L1 penalty, ``>= 0``.
    loss : {"l2", "logistic"}, default "l2"
        ``"l2"``: ``0.5 tr((I - W)^T C (I - W))`` with ``C = X^T X / n`` (equal to
        ``0.5 / n ||X - X W||_F^2``).  ``"logistic"``: as in :func:`notears_objective`.
    mu : float, default 1.0
        Central-path weight of the score, ``> 0``.
    s : float, default 1.0
        Log-det parameter, ``> 0``.

    Returns
    -------
    value : float
    grad : ndarray of shape (n_features, n_features)
        The gradient used by DAGMA's Adam step, with ``mu * lambda1 * sign(W)`` for the L1 term.

    Raises
    ------
    ValueError
        Bad ``X``, ``W`` of the wrong shape or not finite, ``W`` outside the domain for ``s``,
        negative ``lambda1``, ``mu <= 0``, ``s <= 0``, unknown ``loss``.

    Notes
    -----
    Cost ``O(d^3)`` for l2 given ``C``, ``O(n d^2 + d^3)`` for logistic.

    References
    ----------
    .. [1] Bello, Aragam, Ravikumar. "DAGMA: Learning DAGs via M-matrices and a Log-Determinant
       Acyclicity Characterization." NeurIPS 2022, arXiv:2209.08037.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.reference.continuous import dagma_objective
    >>> X = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])
    >>> value, grad = dagma_objective(np.zeros((2, 2)), X, lambda1=0.0)
    >>> round(value, 6)  # h_1(0) = 0
    1.666667
    """
    loss = check_option(loss, "loss", _LOSSES)
    lambda1 = check_float(lambda1, "lambda1", low=0.0)
    mu = check_float(mu, "mu", low=0.0, low_inclusive=False)
    s = check_float(s, "s", low=0.0, low_inclusive=False)
    Xp = _prepare_data(X, loss)
    W = _check_W(W, Xp.shape[1])
    if not _logdet_in_domain(W, s):
        raise ValueError(
            f"W is outside the domain of the log-det function for s={s}: the spectral radius "
            "of W * W must be < s"
        )
    cov = Xp.T @ Xp / Xp.shape[0]
    L, GL = _loss_covform(W, Xp, cov, loss)
    h, Gh = _h_logdet(W, s)
    value = mu * (L + lambda1 * float(np.abs(W).sum())) + h
    return float(value), mu * GL + mu * lambda1 * np.sign(W) + Gh


def _dagma_inner(W, *, X, cov, loss, lambda1, mu, s, lr, n_steps, checkpoint, tol, beta_1, beta_2):
    """One central-path problem by Adam, as ``DagmaLinear.minimize``.  W is updated in place.

    Returns ``(W, success, info)``; ``success`` is False when the iterate left the domain at the
    first step or with ``s <= 0.9`` (the caller then retries with a larger ``s``).
    """
    d = W.shape[0]
    eye = np.eye(d)
    m = np.zeros_like(W)
    v = np.zeros_like(W)
    grad = None
    obj_prev = 1e16
    info = dict(inner_iterations=0, converged=False, lr=lr)
    l2 = loss == "l2"
    for it in range(1, n_steps + 1):
        info["inner_iterations"] = it
        try:
            Minv = sla.inv(s * eye - W * W, check_finite=False) + 1e-16
            while (Minv < 0).any():  # s I - W o W is not an M-matrix: left the domain
                if it == 1 or s <= 0.9:
                    return W, False, info
                W += lr * grad  # undo the step and retry it with half the learning rate
                lr *= 0.5
                info["lr"] = lr
                if lr <= 1e-16:
                    return W, True, info
                W -= lr * grad
                Minv = sla.inv(s * eye - W * W, check_finite=False) + 1e-16
        except np.linalg.LinAlgError:
            raise NumericalError(
                f"DAGMA: s I - W o W became singular (s={s}, mu={mu}, iteration {it})"
            ) from None
        if l2:
            G_score = (-mu * cov) @ (eye - W)
        else:
            G_score = (mu / X.shape[0] * X.T) @ expit(X @ W) - mu * cov
        G = G_score + mu * lambda1 * np.sign(W) + 2.0 * W * Minv.T
        # Adam: bias-corrected moments, reset for each inner problem
        m = beta_1 * m + (1.0 - beta_1) * G
        v = beta_2 * v + (1.0 - beta_2) * (G * G)
        grad = (m / (1.0 - beta_1**it)) / (np.sqrt(v / (1.0 - beta_2**it)) + 1e-8)
        W -= lr * grad
        if it % checkpoint == 0 or it == n_steps:
            L, _ = _loss_covform(W, X, cov, loss)
            h, _ = _h_logdet(W, s)
            obj_new = mu * (L + lambda1 * float(np.abs(W).sum())) + h
            if not math.isfinite(obj_new):
                raise NumericalError(
                    f"DAGMA: the objective became {obj_new} (s={s}, mu={mu}, iteration {it})"
                )
            if abs((obj_prev - obj_new) / obj_prev) <= tol:
                info["converged"] = True
                break
            obj_prev = obj_new
    return W, True, info


def _dagma_value(W, X, cov, loss, lambda1, mu, s) -> tuple[float, float, float]:
    """(objective, loss, h) as ``DagmaLinear._func``; +inf objective outside the domain."""
    L, _ = _loss_covform(W, X, cov, loss)
    if not _logdet_in_domain(W, s):
        return math.inf, L, math.inf
    h, _ = _h_logdet(W, s)
    return mu * (L + lambda1 * float(np.abs(W).sum())) + h, L, h


def dagma_linear(
    X: Any,
    *,
    lambda1: float = 0.02,
    loss: str = "l2",
    w_threshold: float = 0.3,
    T: int = 5,
    mu_init: float = 1.0,
    mu_factor: float = 0.1,
    s: float | Any = _DAGMA_S,
    warm_iter: int = 30000,
    max_iter: int = 60000,
    lr: float = 3e-4,
    beta_1: float = 0.99,
    beta_2: float = 0.999,
    checkpoint: int = 1000,
    tol: float = 1e-6,
    callback: Callable[[dict[str, Any]], Any] | None = None,
    verbose: bool = False,
) -> ContinuousResult:
    """DAGMA for a linear SEM: a central path of log-det-regularised problems solved by Adam.

    A faithful NumPy implementation of Bello et al. (2022) as published in ``dagma.linear``
    (``DagmaLinear(loss_type=loss).fit(X, lambda1=...)``): for ``t = 0 .. T-1`` minimise
    ``mu_t (loss(W) + lambda1 |W|_1) + h_{s_t}(W)`` from the previous solution, with
    ``h_s(W) = -log det(s I - W o W) + d log s`` and ``mu_{t+1} = mu_factor * mu_t``.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        Data, ``n_samples >= 2``, finite, no constant column.  Not modified.
    lambda1 : float, default 0.02
        L1 penalty, ``>= 0``.  The published ``fit`` has no default; 0.02 is the value of its
        own example and of our peer-comparison call ``DagmaLinear("l2").fit(X, lambda1=0.02)``.
    loss : {"l2", "logistic"}, default "l2"
        ``"l2"``: ``0.5 / n ||X - X W||_F^2`` on column-centred data (computed through
        ``C = X^T X / n`` as published).  ``"logistic"``: for 0/1 data, used uncentred.
    w_threshold : float, default 0.3
        Weights with ``|w| < w_threshold`` are set to 0 in ``W``.
    T : int, default 5
        Number of central-path (outer) iterations.
    mu_init, mu_factor : float, default 1.0 and 0.1
        Initial weight of the score and its decay per outer iteration (``0 < mu_factor <= 1``).
    s : float or sequence of float, default (1.0, 0.9, 0.8, 0.7, 0.6)
        Log-det parameter per outer iteration, all ``> 0``; a number is used for every
        iteration, a shorter sequence is padded with its last value, a longer one truncated.
    warm_iter, max_iter : int, default 30000 and 60000
        Adam iterations for the first ``T - 1`` problems and for the last one.  Integral floats
        (the published ``3e4``, ``6e4``) are accepted.
    lr : float, default 3e-4
        Adam learning rate.
    beta_1, beta_2 : float, default 0.99 and 0.999
        Adam moment decay rates, in ``[0, 1)``.
    checkpoint : int, default 1000
        Check convergence every ``checkpoint`` Adam iterations (and at the last).
    tol : float, default 1e-6
        Stop an inner problem when the relative change of its objective between checkpoints is
        ``<= tol`` (the published ``minimize`` default, not exposed by its ``fit``).
    callback : callable, optional
        Called after each outer iteration with a copy of its ``history`` entry.
    verbose : bool, default False
        Print one line per outer iteration.

    Returns
    -------
    result : ContinuousResult
        ``W``, ``W_raw``, ``adjacency``, ``h`` (``-log det(I - W_raw o W_raw)``, the published
        ``h_final``), ``loss``, ``objective``, ``n_iter`` (= T), ``converged`` (the last inner
        problem met ``tol``) and ``history``; each entry has ``iteration``, ``mu``, ``s`` (as used,
        after retries), ``lr`` (after backtracking), ``retries``, ``inner_iterations``,
        ``converged``, ``loss``, ``h`` (``h_s``), ``objective`` (the central-path objective at the
        solution) and ``objective_start`` (the same function at the warm start).

    Raises
    ------
    ValueError
        NaN/inf in X, fewer than 2 rows, a constant column, non-0/1 data with
        ``loss="logistic"``, negative ``lambda1``/``w_threshold``/``tol``, ``s <= 0``, ``T < 1``,
        ``mu_init <= 0``, ``mu_factor`` outside ``(0, 1]``, ``lr <= 0``, betas outside
        ``[0, 1)``, iteration counts < 1, or an unknown ``loss``.
    TypeError
        Non-numeric X or ``s``, a device (CuPy) array, a non-callable ``callback``.
    fastcrl.NumericalError
        The iterate diverged (non-finite objective or a singular ``s I - W o W``).

    Notes
    -----
    The published inner loop, exactly: Adam (moments reset for each problem, bias-corrected,
    epsilon 1e-8) on the gradient ``mu (grad loss + lambda1 sign W) + 2 W o (s I - W o W)^{-T}``
    starting from the previous solution (``W = 0`` at first).  Before each step the domain is
    checked as published, by ``(s I - W o W)^{-1} + 1e-16 >= 0`` elementwise (an M-matrix has a
    nonnegative inverse).  If the check fails at the first step, or with ``s <= 0.9``, the
    problem is restarted from the previous solution with ``lr`` halved and ``s`` increased by
    0.1 (the published "retry with larger s"; repeated failures keep increasing it); otherwise
    the last step is undone and redone with half the learning rate (kept for the rest of that
    problem), giving up on the problem when the rate falls to 1e-16.  Convergence is checked
    every ``checkpoint`` steps on ``|(F_prev - F) / F_prev| <= tol`` with ``F_prev = 1e16``
    initially.

    Defaults are those of ``DagmaLinear.fit`` and ``DagmaLinear.minimize`` in the published
    ``dagma`` package (T, mu_init, mu_factor, s, warm_iter, max_iter, lr, betas, checkpoint,
    w_threshold, tol).  Differences that leave the iterates unchanged: X is copied (the published
    code centres the caller's array in place); ``s`` is copied (the published default list is
    mutated by retries and so changes later calls); no tqdm progress bar; no
    ``exclude_edges``/``include_edges``.  With ``d = 1`` the empty graph is returned at once
    (the limit of the central path; a self-loop is penalised by ``h``).  Thresholding usually
    yields a DAG; see ``result.is_dag``.  Each Adam step costs ``O(d^3)`` for l2
    (``O(n d^2)`` for logistic): at most ``(T - 1) warm_iter + max_iter`` steps.

    References
    ----------
    .. [1] Bello, Aragam, Ravikumar. "DAGMA: Learning DAGs via M-matrices and a Log-Determinant
       Acyclicity Characterization." NeurIPS 2022, arXiv:2209.08037.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.reference.continuous import dagma_linear
    >>> rng = np.random.default_rng(0)
    >>> E = rng.standard_normal((200, 3))
    >>> X = E.copy(); X[:, 1] += 1.5 * X[:, 0]; X[:, 2] -= 1.2 * X[:, 1]   # 0 -> 1 -> 2
    >>> res = dagma_linear(X)
    >>> res.adjacency
    array([[0, 1, 0],
           [0, 0, 1],
           [0, 0, 0]], dtype=int8)
    >>> [round(e["mu"], 4) for e in res.history]
    [1.0, 0.1, 0.01, 0.001, 0.0001]
    """
    loss = check_option(loss, "loss", _LOSSES)
    lambda1 = check_float(lambda1, "lambda1", low=0.0)
    w_threshold = check_float(w_threshold, "w_threshold", low=0.0)
    T = check_int(T, "T", low=1)
    mu_init = check_float(mu_init, "mu_init", low=0.0, low_inclusive=False)
    mu_factor = check_float(mu_factor, "mu_factor", low=0.0, high=1.0, low_inclusive=False)
    s_path = check_positive_schedule(s, "s", T)
    warm_iter = _check_count(warm_iter, "warm_iter")
    max_iter = _check_count(max_iter, "max_iter")
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    beta_1 = check_float(beta_1, "beta_1", low=0.0, high=1.0, high_inclusive=False)
    beta_2 = check_float(beta_2, "beta_2", low=0.0, high=1.0, high_inclusive=False)
    checkpoint = _check_count(checkpoint, "checkpoint")
    tol = check_float(tol, "tol", low=0.0)
    _check_callback(callback)
    Xp = _prepare_data(X, loss)
    n, d = Xp.shape
    params = dict(
        lambda1=lambda1,
        loss=loss,
        w_threshold=w_threshold,
        T=T,
        mu_init=mu_init,
        mu_factor=mu_factor,
        s=s_path,
        warm_iter=warm_iter,
        max_iter=max_iter,
        lr=lr,
        beta_1=beta_1,
        beta_2=beta_2,
        checkpoint=checkpoint,
        tol=tol,
    )
    cov = Xp.T @ Xp / float(n)

    if d == 1:
        W0 = np.zeros((1, 1))
        L0, _ = _loss_covform(W0, Xp, cov, loss)
        return _make_result(
            W0,
            w_threshold,
            h=0.0,
            loss=L0,
            lambda1=lambda1,
            n_iter=0,
            converged=True,
            history=[],
            method="dagma",
            params=params,
        )

    W_est = np.zeros((d, d))
    mu = mu_init
    history: list[dict[str, Any]] = []
    for t in range(T):
        lr_t, retries = lr, 0
        n_steps = max_iter if t == T - 1 else warm_iter
        while True:
            W_new, success, info = _dagma_inner(
                W_est.copy(),
                X=Xp,
                cov=cov,
                loss=loss,
                lambda1=lambda1,
                mu=mu,
                s=s_path[t],
                lr=lr_t,
                n_steps=n_steps,
                checkpoint=checkpoint,
                tol=tol,
                beta_1=beta_1,
                beta_2=beta_2,
            )
            if success:
                break
            retries += 1
            if retries > 1000:  # s grew by 100: only a diverging problem gets here
                raise NumericalError(f"DAGMA: outer iteration {t + 1} left the domain 1000 times")
            lr_t *= 0.5
            s_path[t] += 0.1
        obj_start, _, _ = _dagma_value(W_est, Xp, cov, loss, lambda1, mu, s_path[t])
        W_est = W_new
        obj, L, h = _dagma_value(W_est, Xp, cov, loss, lambda1, mu, s_path[t])
        entry = dict(
            iteration=t + 1,
            mu=mu,
            s=s_path[t],
            lr=info["lr"],
            retries=retries,
            inner_iterations=info["inner_iterations"],
            converged=info["converged"],
            loss=L,
            h=h,
            objective=obj,
            objective_start=obj_start,
        )
        history.append(entry)
        _report(entry, "dagma", verbose, callback)
        mu *= mu_factor

    h_final, _ = _h_logdet(W_est, 1.0)
    L_final, _ = _loss_covform(W_est, Xp, cov, loss)
    return _make_result(
        W_est,
        w_threshold,
        h=h_final,
        loss=L_final,
        lambda1=lambda1,
        n_iter=T,
        converged=history[-1]["converged"],
        history=history,
        method="dagma",
        params=params,
    )
