"""Continuous-optimisation structure learning for linear SEMs: :class:`NOTEARS` and :class:`DAGMA`.

Both estimators run their whole optimisation in C++ (``fastcrl._core``): the outer loop, the
acyclicity function (``fastcrl.acyclicity``'s kernels) and the inner solver, our own projected
L-BFGS-B on the split ``W = W+ - W-``.  The least-squares loss is evaluated from the covariance of the
centred data, ``0.5 tr((I - W)^T S (I - W)) = 0.5 / n ||X - X W||_F^2``, so after one pass over the
data the cost per iteration is ``O(d^3)`` whatever ``n_samples`` is.

Adjacency convention: ``W[i, j] != 0`` means the edge ``i -> j``, so ``X ≈ X @ W + E``.
The pure-NumPy baselines these are checked against are in :mod:`fastcrl.reference.continuous`.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np

from . import _core
from ._backend import is_device_array, require_cuda
from ._base import BaseEstimator
from ._errors import ConvergenceWarning
from ._validation import (
    check_data,
    check_float,
    check_int,
    check_option,
    check_positive_schedule,
    check_random_state,
    check_verbose,
    node_names_from,
)
from .graph import Graph, find_cycle
from .knowledge import resolve_knowledge
from .stats import covariance

__all__ = ["DAGMA", "NOTEARS"]

_LOSSES = ("l2", "logistic")


def _check_count(value: Any, name: str, low: int = 1) -> int:
    """An iteration count; integral floats such as ``3e4`` are accepted."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return check_int(value, name, low=low)


class _ContinuousEstimator(BaseEstimator):
    """Shared data preparation, knowledge handling and post-processing."""

    _method = ""

    # ------------------------------------------------------------------ input

    def _prepare(self, X: Any, names, loss: str):
        if is_device_array(X):
            cuda = require_cuda(f"{type(self).__name__}.fit")
            if not hasattr(cuda, f"{self._method}_fit"):
                raise TypeError(
                    f"{type(self).__name__} has no GPU implementation yet; pass a NumPy array "
                    "(cupy.asnumpy(X)) to run on the CPU"
                )
        Xv = check_data(X, "X", dtype=np.float64, min_samples=2, moment_power=2)
        n, d = Xv.shape
        self.node_names_ = node_names_from(X, d, names)
        if loss == "logistic":
            bad = ~((Xv == 0.0) | (Xv == 1.0))
            if bad.any():
                raise ValueError(
                    "loss='logistic' needs binary 0/1 data in X; got "
                    f"{int(bad.sum())} entries that are neither 0 nor 1 (e.g. {Xv[bad][0]!r})"
                )
            return None, Xv
        return np.ascontiguousarray(covariance(Xv, ddof=0), dtype=np.float64), None

    def _knowledge(self, d: int):
        forbidden = np.eye(d, dtype=bool)
        required = np.zeros((d, d), dtype=bool)
        max_indegree = None
        rk = resolve_knowledge(self.knowledge, self.node_names_)
        if rk is not None:
            forbidden |= rk.forbidden_mask()
            required = rk.required_mask()
            max_indegree = rk.max_indegree
        free = np.ascontiguousarray(~forbidden, dtype=np.uint8)
        penalty = np.where(required, 0.0, 1.0)
        return free, penalty, required, max_indegree

    # ------------------------------------------------------------------ progress

    def _set_outcome(self, out: dict[str, Any], history: list) -> None:
        """The fitted scalars of a finished loop (C++ or the array-module driver)."""
        self.n_iter_ = int(out["n_iter"])
        self.history_ = history
        self.converged_ = bool(out["converged"])
        self.h_ = float(out["h"])
        self.loss_ = float(out["loss"])

    def _solve(self, X, names, loss, w_threshold, n_outer, progress_key, solve) -> bool:
        """Prepare the statistics, run ``solve(S, Xb, free, penalty, callback)`` (the C++ loop) with a
        progress bar over ``n_outer`` outer iterations, and set the fitted attributes.  Returns False
        when there was nothing to solve (a single node)."""
        if is_device_array(X):  # CuPy in, CuPy out: the same loops on the GPU (_gpu_continuous.py)
            from ._gpu_continuous import solve_on_device

            return solve_on_device(self, X, names, loss, w_threshold, n_outer, progress_key)
        start = time.perf_counter()
        S, Xb = self._prepare(X, names, loss)
        d = len(self.node_names_)
        free, penalty, required, max_indegree = self._knowledge(d)
        if d == 1:
            self._empty(d, _loss_at_zero(S, Xb))
            self.fit_time_ = time.perf_counter() - start
            return False
        cb, history, bar = self._callback(n_outer, progress_key)
        try:
            out = solve(S, Xb, free, penalty, cb)
        finally:
            if bar is not None:
                bar.close()
        self._set_outcome(out, history)
        self._finish(out["W"], w_threshold, free, required, max_indegree)
        self.fit_time_ = time.perf_counter() - start
        return True

    def _callback(self, total: int, key: str):
        history: list[dict[str, Any]] = []
        bar = None
        if check_verbose(self.verbose):
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=type(self).__name__, leave=False)

        def cb(entry: dict[str, Any]) -> None:
            history.append(self._history_entry(entry))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(h=f"{entry['h']:.3g}", **{key: f"{entry['rho']:.3g}"})

        return cb, history, bar

    # ------------------------------------------------------------------ output

    def _finish(self, W_raw: np.ndarray, w_threshold: float, free, required, max_indegree) -> None:
        W = np.where(np.abs(W_raw) >= w_threshold, W_raw, 0.0)
        W[free == 0] = 0.0
        W[required] = W_raw[required]
        keep = (W != 0) | required
        if max_indegree is not None:
            for j in np.flatnonzero(keep.sum(axis=0) > max_indegree):
                parents = np.flatnonzero(keep[:, j] & ~required[:, j])
                room = max(0, max_indegree - int(required[:, j].sum()))
                order = parents[np.argsort(-np.abs(W[parents, j]), kind="stable")]
                keep[order[room:], j] = False
        removed = 0
        while (cycle := find_cycle(keep)) is not None:
            edges = [(cycle[k], cycle[(k + 1) % len(cycle)]) for k in range(len(cycle))]
            edges = [e for e in edges if not required[e]]
            i, j = min(edges, key=lambda e: abs(W[e]))
            keep[i, j] = False
            removed += 1
        if removed:
            warnings.warn(
                f"{type(self).__name__}: the thresholded graph had cycles; removed the {removed} weakest "
                "edge(s) on them to return a DAG (consider a larger w_threshold or more iterations)",
                UserWarning,
                stacklevel=3,
            )
        W = np.where(keep, W, 0.0)
        self.W_raw_ = W_raw
        self.weights_ = W
        self.adjacency_ = keep.astype(np.int8)
        graph_weights = np.where(
            keep & (W == 0), np.finfo(float).tiny, W
        )  # a required edge fit at exactly 0
        self.graph_ = Graph.from_adjacency(graph_weights, names=self.node_names_, kind="dag")

    def _empty(self, d: int, loss_value: float) -> None:
        self.W_raw_ = np.zeros((d, d))
        self.weights_ = np.zeros((d, d))
        self.adjacency_ = np.zeros((d, d), dtype=np.int8)
        self.graph_ = Graph.from_adjacency(self.weights_, names=self.node_names_, kind="dag")
        self.n_iter_ = 0
        self.history_ = []
        self.converged_ = True
        self.h_ = 0.0
        self.loss_ = loss_value


def _loss_at_zero(S, X) -> float:
    if S is not None:
        return 0.5 * float(np.trace(S))
    return math.log(2.0) * X.shape[1]


class NOTEARS(_ContinuousEstimator):
    """NOTEARS for linear SEMs: ``min loss(W) + lambda1 |W|_1`` subject to ``h(W) = 0``.

    The augmented Lagrangian method of Zheng et al. (2018) with the published rules, all in C++:
    ``rho = 1, alpha = 0``; each outer step solves the inner problem from the current estimate by
    L-BFGS-B on ``W = W+ - W-`` (``W+, W- >= 0``; the diagonal and forbidden edges fixed at 0),
    multiplying ``rho`` by 10 and re-solving until ``h(W_new) <= h(W_old) / 4``; then
    ``alpha += rho h``; stop when ``h <= h_tol`` or ``rho >= rho_max``.  The inner L-BFGS-B is
    diagonally preconditioned (the Hessian diagonal of the loss plus the penalty terms, refreshed
    every 10 iterations), which the large ``rho`` of the late steps needs: at d = 50 it cut the fit
    time about 10-30x.  The problem is non-convex and the path can end in another local solution
    than the unpreconditioned solver's, better or worse (ER-2, d = 50, seeds 0 and 1: SHD 6 and 28
    against 9 and 10 without it).

    Parameters
    ----------
    lambda1 : float, default 0.1
        L1 penalty, ``>= 0``.
    loss : {"l2", "logistic"}, default "l2"
        ``"l2"``: ``0.5 / n ||X - X W||_F^2`` on column-centred data, computed from the covariance.
        ``"logistic"``: ``1/n sum(log(1 + exp(X W)) - X o (X W))`` for 0/1 data (used uncentred).
    constraint : {"expm", "poly", "logdet"}, default "expm"
        ``tr exp(W o W) - d`` (published), ``tr (I + W o W / d)^d - d`` (Yu et al. 2019), or
        ``-log det(I - W o W)`` (Bello et al. 2022; the line search keeps iterates inside its domain).
    max_iter : int, default 100
        Maximum number of outer (dual-ascent) steps.
    h_tol : float, default 1e-8
        Converged when ``h(W) <= h_tol``.
    rho_max : float, default 1e16
        Stop when the penalty weight reaches ``rho_max`` (> 1).
    w_threshold : float, default 0.3
        Edges with ``|w| < w_threshold`` are removed (required edges never are).
    knowledge : fastcrl.Knowledge, optional
        Forbidden edges (explicit, by tiers, self-loops) are fixed at 0 during the optimisation;
        required edges are not penalised by the L1 term and are never thresholded away;
        ``max_indegree`` keeps the strongest parents of each node.
    random_state : int, numpy.random.Generator or None
        Accepted for API uniformity; NOTEARS starts at ``W = 0`` as published, so the fit is
        deterministic and does not draw random numbers.
    verbose : bool, default False
        Show a tqdm progress bar over outer iterations with the current ``h`` and ``rho``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_features, n_features)
        Thresholded weights of the returned DAG; ``weights_[i, j] != 0`` means ``i -> j``.
    adjacency_ : ndarray of shape (n_features, n_features), int8
        0/1 adjacency of the returned DAG (always acyclic).
    graph_ : fastcrl.Graph
        The DAG with node names and weights.
    W_raw_ : ndarray of shape (n_features, n_features)
        The solver's final iterate, before thresholding.
    h_, loss_ : float
        Constraint and loss values at ``W_raw_``.
    n_iter_ : int
        Outer iterations run.
    history_ : list of dict
        Per outer iteration: ``iteration``, ``loss``, ``h``, ``rho``, ``alpha``, ``objective``
        (``loss + lambda1 |W|_1``), ``inner_iterations``, ``n_solves``, ``inner_converged``, ``time``
        (seconds since the start of the fit).
    converged_ : bool
        ``h_ <= h_tol``.  If False a :class:`fastcrl.ConvergenceWarning` is issued.
    node_names_ : list of str
    fit_time_ : float

    Raises
    ------
    ValueError
        Bad ``X`` (NaN/inf, fewer than 2 rows, constant column, non-binary for logistic), unknown
        ``loss``/``constraint``, out-of-range parameters, contradictory knowledge.
    TypeError
        Non-numeric input or parameters of the wrong type; a GPU array (no GPU implementation yet:
        a CPU-only build says how to get CUDA, a CUDA build says to pass a NumPy array).
    KeyboardInterrupt
        On Ctrl-C (the C++ loop polls for signals about every 0.1 s).

    Notes
    -----
    With one column (``d = 1``) there is no possible edge: the empty graph is returned at once.
    The thresholded graph is made a DAG by removing the weakest edge on each remaining cycle
    (with a warning); required edges are never removed.  Each function evaluation costs
    ``O(d^3)`` for l2 (``O(n d^2 + d^3)`` for logistic).

    References
    ----------
    .. [1] Zheng, Aragam, Ravikumar, Xing. "DAGs with NO TEARS: Continuous Optimization for
       Structure Learning." NeurIPS 2018, arXiv:1803.01422.

    Examples
    --------
    >>> import numpy as np
    >>> import fastcrl
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3))
    >>> X[:, 1] += 1.5 * X[:, 0]; X[:, 2] -= 1.2 * X[:, 1]   # 0 -> 1 -> 2
    >>> est = fastcrl.NOTEARS().fit(X)
    >>> est.adjacency_
    array([[0, 1, 0],
           [0, 0, 1],
           [0, 0, 0]], dtype=int8)
    >>> est.converged_
    True
    """

    _method = "notears"

    def __init__(
        self,
        lambda1: float = 0.1,
        loss: str = "l2",
        constraint: str = "expm",
        max_iter: int = 100,
        h_tol: float = 1e-8,
        rho_max: float = 1e16,
        w_threshold: float = 0.3,
        knowledge: Any = None,
        random_state: Any = None,
        verbose: bool = False,
    ):
        self.lambda1 = lambda1
        self.loss = loss
        self.constraint = constraint
        self.max_iter = max_iter
        self.h_tol = h_tol
        self.rho_max = rho_max
        self.w_threshold = w_threshold
        self.knowledge = knowledge
        self.random_state = random_state
        self.verbose = verbose

    @staticmethod
    def _history_entry(e: dict[str, Any]) -> dict[str, Any]:
        keys = (
            "iteration",
            "loss",
            "h",
            "rho",
            "alpha",
            "objective",
            "inner_iterations",
            "n_solves",
            "inner_converged",
            "time",
        )
        return {k: e[k] for k in keys}

    def fit(self, X: Any, names: list[str] | None = None):
        """Learn a DAG from ``X`` of shape (n_samples, n_features); returns ``self``.

        ``names`` (or a DataFrame's columns) name the nodes of ``graph_`` and resolve ``knowledge``.
        """
        loss = check_option(self.loss, "loss", _LOSSES)
        constraint = check_option(self.constraint, "constraint", ("expm", "poly", "logdet"))
        lambda1 = check_float(self.lambda1, "lambda1", low=0.0)
        max_iter = _check_count(self.max_iter, "max_iter")
        h_tol = check_float(self.h_tol, "h_tol", low=0.0)
        rho_max = check_float(self.rho_max, "rho_max", low=1.0, low_inclusive=False)
        w_threshold = check_float(self.w_threshold, "w_threshold", low=0.0)
        check_random_state(self.random_state)

        # Inner L-BFGS-B as published NOTEARS runs SciPy's: memory 10, ftol = 1e7 * machine epsilon,
        # projected-gradient tolerance 1e-5, at most 15000 evaluations.
        def solve(S, Xb, free, penalty, cb):
            return _core.notears_fit(
                S,
                Xb,
                loss,
                constraint,
                lambda1,
                free,
                penalty,
                max_iter,
                h_tol,
                rho_max,
                10,
                2.220446049250313e-09,
                1e-5,
                15000,
                cb,
            )

        if self._solve(X, names, loss, w_threshold, max_iter, "rho", solve) and not self.converged_:
            warnings.warn(
                f"NOTEARS did not reach h <= h_tol={h_tol:g} (h = {self.h_:.3g} after {self.n_iter_} outer "
                "iterations); raise max_iter or rho_max",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self


class DAGMA(_ContinuousEstimator):
    """DAGMA for linear SEMs: a central path of log-det-regularised problems.

    For ``t = 0 .. T-1`` minimise ``mu_t (loss(W) + lambda1 |W|_1) + h_{s_t}(W)`` from the previous
    solution (``W = 0`` first), with ``h_s(W) = -log det(s I - W o W) + d log s`` (finite only for
    ``s > rho(W o W)``) and ``mu_{t+1} = mu_factor mu_t`` (Bello et al. 2022).  All in C++.

    Parameters
    ----------
    lambda1 : float, default 0.02
        L1 penalty, ``>= 0``.
    loss : {"l2", "logistic"}, default "l2"
        As :class:`NOTEARS`.
    T : int, default 5
        Number of central-path (outer) iterations.
    mu_init, mu_factor : float, default 1.0 and 0.1
        Initial weight of the score and its decay per outer iteration (``0 < mu_factor <= 1``).
    s : float or sequence of float, default (1.0, 0.9, 0.8, 0.7, 0.6)
        Log-det parameter per outer iteration (``> 0``); a number is used for every iteration, a
        shorter sequence is padded with its last value.  Where a warm start lies outside the domain
        for ``s_t``, ``s_t`` is increased by 0.1 until it is inside (the published retry); the value
        used is in ``history_``.
    w_threshold : float, default 0.3
        Edges with ``|w| < w_threshold`` are removed (required edges never are).
    solver : {"lbfgs", "adam"}, default "lbfgs"
        ``"lbfgs"``: our L-BFGS-B on ``W+ / W-`` (``W = W+ - W-``, both ``>= 0``) with the objective
        scaled by ``1 / mu``, warm-started along the central path, diagonally preconditioned (the
        Hessian diagonal of the loss plus ``h_s / mu``, refreshed every 10 iterations: the barrier
        makes the late problems stiff), with a line search that rejects trial points outside the
        domain ``s > rho(W o W)``; it stops when 5 iterations in a row each improve the objective
        by less than ``tol * 1e-3`` relatively, or the projected gradient is below 1e-6.  On ER-2
        data it reached a final objective no higher than Adam's with 10-50x fewer iterations.
        ``"adam"``: the published recipe (Adam with ``lr``, ``beta_1``, ``beta_2``; convergence
        checked every ``checkpoint`` steps with relative tolerance ``tol``; out-of-domain steps
        undone and retried with half the rate; a restart with ``s + 0.1`` at the first step or with
        ``s <= 0.9``).
    warm_iter, max_iter : int, default 30000 and 60000
        Iteration caps for the first ``T - 1`` problems and for the last one (both solvers).
    lr, beta_1, beta_2 : float, default 3e-4, 0.99, 0.999
        Adam's learning rate and moment decay rates (``solver="adam"`` only).
    checkpoint : int, default 1000
        Adam: convergence test interval.
    tol : float, default 1e-6
        Adam: relative objective change between checkpoints; L-BFGS: see ``solver``.
    warm_tol : float, default 1e-5
        L-BFGS only: the first ``T - 1`` problems (which only warm-start the next one on the
        central path) stop once 5 iterations in a row each improve the objective by less than
        ``max(warm_tol, tol * 1e-3)`` relatively; the last one uses ``tol * 1e-3``.  On ER-2 data
        (d = 50 and 100, 3 seeds each) this gave the same final objective and graph as solving
        every problem to ``tol * 1e-3``, 4-5x faster; ``warm_tol=0`` solves them all tightly.
    knowledge : fastcrl.Knowledge, optional
        As :class:`NOTEARS`.
    random_state : int, numpy.random.Generator or None
        Accepted for API uniformity; DAGMA starts at ``W = 0`` as published, so the fit is
        deterministic.
    verbose : bool, default False
        tqdm progress over the T outer iterations with the current ``h_s`` and ``mu``.

    Attributes
    ----------
    weights_, adjacency_, graph_, W_raw_, node_names_, fit_time_
        As :class:`NOTEARS`.
    h_ : float
        ``-log det(I - W_raw o W_raw)`` (the published ``h_final``, s = 1).
    loss_ : float
    n_iter_ : int
        ``T``.
    history_ : list of dict
        Per outer iteration: ``iteration``, ``loss``, ``h`` (``h_s``), ``mu``, ``s`` (as used),
        ``objective`` (``mu (loss + lambda1 |W|_1) + h_s``), ``inner_iterations``, ``retries``,
        ``inner_converged``, ``lr`` (Adam, after backtracking), ``time``.
    converged_ : bool
        The last inner problem met its tolerance; otherwise a :class:`fastcrl.ConvergenceWarning`.

    Raises
    ------
    ValueError, TypeError, KeyboardInterrupt
        As :class:`NOTEARS`; also ``s <= 0``, ``T < 1``, ``mu_factor`` outside ``(0, 1]``, unknown
        ``solver``.
    fastcrl.NumericalError
        The iterate diverged.

    Notes
    -----
    Differences from the published code: the diagonal of ``W`` is fixed at 0 (a self-loop is not
    an edge); knowledge is supported; the graph is made a DAG as :class:`NOTEARS` does.  With
    ``d = 1`` the empty graph is returned at once.  Each iteration costs ``O(d^3)`` for l2 (an LU
    factorisation, an inverse and one product with the covariance).

    References
    ----------
    .. [1] Bello, Aragam, Ravikumar. "DAGMA: Learning DAGs via M-matrices and a Log-Determinant
       Acyclicity Characterization." NeurIPS 2022, arXiv:2209.08037.

    Examples
    --------
    >>> import numpy as np
    >>> import fastcrl
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3))
    >>> X[:, 1] += 1.5 * X[:, 0]; X[:, 2] -= 1.2 * X[:, 1]   # 0 -> 1 -> 2
    >>> est = fastcrl.DAGMA().fit(X)
    >>> est.adjacency_
    array([[0, 1, 0],
           [0, 0, 1],
           [0, 0, 0]], dtype=int8)
    >>> [round(e["mu"], 4) for e in est.history_]
    [1.0, 0.1, 0.01, 0.001, 0.0001]
    """

    _method = "dagma"

    def __init__(
        self,
        lambda1: float = 0.02,
        loss: str = "l2",
        T: int = 5,
        mu_init: float = 1.0,
        mu_factor: float = 0.1,
        s: Any = (1.0, 0.9, 0.8, 0.7, 0.6),
        w_threshold: float = 0.3,
        solver: str = "lbfgs",
        warm_iter: int = 30000,
        max_iter: int = 60000,
        lr: float = 3e-4,
        beta_1: float = 0.99,
        beta_2: float = 0.999,
        checkpoint: int = 1000,
        tol: float = 1e-6,
        warm_tol: float = 1e-5,
        knowledge: Any = None,
        random_state: Any = None,
        verbose: bool = False,
    ):
        self.lambda1 = lambda1
        self.loss = loss
        self.T = T
        self.mu_init = mu_init
        self.mu_factor = mu_factor
        self.s = s
        self.w_threshold = w_threshold
        self.solver = solver
        self.warm_iter = warm_iter
        self.max_iter = max_iter
        self.lr = lr
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.checkpoint = checkpoint
        self.tol = tol
        self.warm_tol = warm_tol
        self.knowledge = knowledge
        self.random_state = random_state
        self.verbose = verbose

    @staticmethod
    def _history_entry(e: dict[str, Any]) -> dict[str, Any]:
        return dict(
            iteration=e["iteration"],
            loss=e["loss"],
            h=e["h"],
            mu=e["rho"],
            s=e["alpha"],
            objective=e["objective"],
            inner_iterations=e["inner_iterations"],
            retries=e["n_solves"] - 1,
            inner_converged=e["inner_converged"],
            lr=e["lr"],
            time=e["time"],
        )

    def fit(self, X: Any, names: list[str] | None = None):
        """Learn a DAG from ``X`` of shape (n_samples, n_features); returns ``self``.

        ``names`` (or a DataFrame's columns) name the nodes of ``graph_`` and resolve ``knowledge``.
        """
        loss = check_option(self.loss, "loss", _LOSSES)
        solver = check_option(self.solver, "solver", ("lbfgs", "adam"))
        lambda1 = check_float(self.lambda1, "lambda1", low=0.0)
        T = check_int(self.T, "T", low=1)
        mu_init = check_float(self.mu_init, "mu_init", low=0.0, low_inclusive=False)
        mu_factor = check_float(self.mu_factor, "mu_factor", low=0.0, high=1.0, low_inclusive=False)
        s_path = check_positive_schedule(self.s, "s", T)
        w_threshold = check_float(self.w_threshold, "w_threshold", low=0.0)
        warm_iter = _check_count(self.warm_iter, "warm_iter")
        max_iter = _check_count(self.max_iter, "max_iter")
        lr = check_float(self.lr, "lr", low=0.0, low_inclusive=False)
        beta_1 = check_float(self.beta_1, "beta_1", low=0.0, high=1.0, high_inclusive=False)
        beta_2 = check_float(self.beta_2, "beta_2", low=0.0, high=1.0, high_inclusive=False)
        checkpoint = _check_count(self.checkpoint, "checkpoint")
        tol = check_float(self.tol, "tol", low=0.0)
        warm_tol = check_float(self.warm_tol, "warm_tol", low=0.0)
        check_random_state(self.random_state)

        def solve(S, Xb, free, penalty, cb):
            return _core.dagma_fit(
                S,
                Xb,
                loss,
                lambda1,
                free,
                penalty,
                T,
                mu_init,
                mu_factor,
                s_path,
                solver,
                warm_iter,
                max_iter,
                lr,
                beta_1,
                beta_2,
                checkpoint,
                tol,
                10,
                tol * 1e-3,
                1e-6,
                warm_tol,
                cb,
            )

        if self._solve(X, names, loss, w_threshold, T, "mu", solve) and not self.converged_:
            warnings.warn(
                f"DAGMA: the last central-path problem did not converge within max_iter={max_iter} "
                f"({solver}); raise max_iter or loosen tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self
