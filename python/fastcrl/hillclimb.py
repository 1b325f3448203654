"""Score-based hill climbing over DAGs (``fastcrl.HillClimb``), with a tabu list and restarts."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core
from ._base import BaseEstimator
from ._search import (
    check_fit_memory,
    device_batch_scorer,
    estimate_fit,
    estimate_search_memory,
    estimate_search_seconds,
    make_score,
    search_constraints,
    warn_if_parents_near_n,
)
from ._validation import (
    check_float,
    check_int,
    check_random_state,
    check_verbose,
    format_bytes,
)
from .graph import Graph, _pattern, _require_acyclic
from .scores import _LocalScore

__all__ = ["HillClimb", "estimate_memory"]


def estimate_memory(
    n_nodes: int,
    n_samples: int,
    *,
    discrete: bool = False,
    cache_limit: int | None = None,
    restarts: int = 50,
) -> int:
    """Peak bytes a :class:`HillClimb` fit on ``n_samples x n_nodes`` data adds to the process.

    The score's statistics (Gaussian: the ``d x d`` covariance; discrete: two int32 copies of the
    codes), the climb's ``d x d`` tables (adjacency, the float64 table of score deltas, descendant
    bitsets, best graphs, the knowledge masks: about 17 bytes per pair of variables) and, for the
    discrete scores, the local-score cache, which a climb fills with ``d^2`` scores and more
    (bounded by ``cache_limit``, default ``fastcrl.scores.DEFAULT_CACHE_LIMIT``; the Gaussian
    scores recompute small parent sets instead of caching them). It errs high: measured peaks were
    20-100% of it (``benchmarks/RESULTS.md``).

    Examples
    --------
    >>> gaussian, discrete = estimate_memory(1000, 1000), estimate_memory(1000, 1000, discrete=True)
    >>> round(gaussian / 1e9, 2), round(discrete / 1e9, 2)
    (0.03, 0.54)
    """
    return estimate_search_memory(
        "hc", n_nodes, n_samples, discrete=discrete, cache_limit=cache_limit, restarts=restarts
    )


class HillClimb(BaseEstimator):
    """Greedy hill climbing over DAGs with a decomposable score, a tabu list and restarts.

    Each iteration applies the single edge addition, deletion or reversal that raises the score
    most.  A move changes at most two parent sets, so the score deltas of all moves are kept in a
    ``(d, d)`` table and only the columns of the nodes whose parents changed are rescored (local
    scores are cached by the score object); acyclicity is checked against descendant bitsets that
    are updated on every move.  With a tabu list the search walks on through non-improving moves
    (never undoing a recent one) for up to ``tabu_patience`` moves, then returns to the best DAG it
    saw.  Each restart applies ``perturb`` random legal moves to the best DAG so far and climbs
    again (iterated local search); the best DAG over all climbs is kept.  Moves (and
    perturbations) to a family whose score is undefined are skipped: collinear parents, or a
    Gaussian family that leaves at most 1e-10 of its node's variance (100x the score's own floor,
    so that ``score_`` is always defined; nodes get there with about as many parents as samples,
    and the fit then warns with ``SampleSizeWarning``).  Two columns that are duplicates or exactly
    collinear (one node's score given the other alone is undefined) raise ``NumericalError``, as
    in :class:`fastcrl.GES`: no search can use that pair, so one of them should be dropped.

    Parameters
    ----------
    score : str or fastcrl.scores object, default="auto"
        ``"bic"`` (linear-Gaussian), ``"bdeu"``, ``"discrete-bic"``, ``"auto"`` (BDeu for
        integer-coded discrete data, BIC otherwise) or a ready-made score such as
        ``fastcrl.scores.GaussianBIC(X, penalty_discount=2)``.  Higher is better.
    max_parents : int, optional
        Maximum number of parents of any node (``None``: no limit).
    knowledge : fastcrl.Knowledge, optional
        Forbidden edges (including those implied by tiers) are never added; required edges are in
        the start graph and are never deleted or reversed; ``max_indegree`` caps the parents.
    start : array-like (n_features, n_features) or fastcrl.Graph, optional
        Start DAG (``start[i, j] != 0`` means ``i -> j``); must be acyclic and agree with
        ``knowledge`` and ``max_parents``.  Default: the graph of the required edges (empty
        without knowledge).
    max_iter : int, default=100_000
        Maximum number of moves per climb.
    epsilon : float, default=1e-8
        A move counts as an improvement when it raises the score by more than ``epsilon``.
    tabu_length : int, default=10
        Number of recent moves whose inverses are forbidden (as bnlearn's ``tabu``); 0 gives plain
        greedy hill climbing that stops at the first local optimum.
    tabu_patience : int, optional
        How many moves in a row may fail to improve on the best score of the climb before it stops
        (bnlearn's ``max.tabu``); default ``tabu_length``.
    restarts : int, default=50
        Number of extra climbs, each from a perturbation of the best DAG found so far.  Scores that
        differ by at most ``1e-9 (1 + sum of |local scores|)`` count as ties: among tied moves the
        first one is taken, and a tied graph (within a climb) or climb (across restarts) replaces
        the best so far.  Markov-equivalent graphs score equal only up to rounding, which differs
        between the CPU and GPU scorers; ties keep the two on one path.
    perturb : int, optional
        Random legal moves applied before each restart (each draws a kind -- add, delete or
        reverse -- then a move of that kind); default ``n_features``.
    random_state : int, numpy.random.Generator or None
        Seed of the perturbations.
    score_params : dict, optional
        Keyword arguments of the score made from ``score`` (``penalty_discount``, ``ess``).
    discrete : bool, optional
        Declare the data discrete or continuous (default: detected, see ``fastcrl._search``).
    memory_limit : int, float, str or None, default="8GB"
        Refuse to start (``MemoryError``) when :func:`estimate_memory` exceeds this; bytes or a
        string like ``"8GB"``. ``None``: no check.
    verbose : bool or int, default=0
        Print the memory and time estimates, then show a progress bar over the climbs.

    Attributes
    ----------
    adjacency_ : ndarray of shape (n_features, n_features), int8
        The DAG found; ``adjacency_[i, j] == 1`` means ``i -> j``.
    graph_ : fastcrl.Graph
        The same DAG with node names (kind ``"dag"``).
    score_ : float
        Its score, equal to ``scorer_.score(adjacency_)``.
    scorer_ : fastcrl.scores object
        The score the search used (its cache holds the local scores computed, up to its
        ``cache_limit``); also available as ``score_object_``, as in GES and ExactSearch.
    memory_estimate_ : int
        Bytes the fit was estimated to need (:func:`estimate_memory`).
    n_iter_ : int
        Moves applied over all climbs.
    history_ : ndarray of shape (n_iter_ + 1,)
        The start graph's score, then the score after each move (tabu moves may lower it; restarts
        jump to a perturbed graph).
    climb_scores_ : ndarray of shape (restarts + 1,)
        Best score of each climb (``score_`` is their maximum up to the tie tolerance above).
    node_names_ : list of str
    device_ : {"cpu", "cuda"}
        Where the candidate parent sets were scored: CuPy ``X`` (or a score object built from
        CuPy data) scores each changed node's column of candidates with the CUDA batched kernels.
    fit_time_ : float
        Seconds spent in ``fit``.

    Raises
    ------
    ValueError
        NaN/inf or constant columns, an unknown score name, negative ``max_parents``, a start
        graph with a cycle or that contradicts ``knowledge``/``max_parents``.
    fastcrl.NumericalError
        Two columns that are duplicates or exactly collinear (see above), or a start graph with
        an undefined family.

    Notes
    -----
    Cost per iteration: ``O(d^2)`` to scan the moves plus ``2 (d - 1)`` local scores at most (one
    or two columns of the delta table); the first table costs ``d (d - 1)`` local scores,
    evaluated in parallel. A climb makes about one move per edge, so its time grows as ``d^3``
    on sparse graphs (measured: 3-4 s at d = 1000 per climb on 2 cores); :meth:`estimate`
    predicts time and memory before a fit. For thousands of variables prefer
    :class:`fastcrl.GES`. Ctrl-C stops the search within about a second (``KeyboardInterrupt``). The
    moves are scanned in a fixed order and ties go to the first move found, so results are
    deterministic for a given ``random_state``; the pure-Python
    ``fastcrl.reference.hillclimb.hill_climb`` follows the same rules and returns the same DAG.

    Why restarts by default: on ER-2 linear-Gaussian data (n=1000, seeds 0-9) plain greedy ascent
    never reached the BIC of the true DAG, while the defaults did on 9/10 (d=10), 10/10 (d=20)
    and 9/10 (d=50) seeds (``benchmarks/bench_hillclimb.py``).

    References
    ----------
    D. Heckerman, D. Geiger, D. M. Chickering. Learning Bayesian networks: the combination of
    knowledge and statistical data. Machine Learning 20, 1995.
    M. Scutari. Learning Bayesian networks with the bnlearn R package. J. Stat. Softw. 35, 2010.

    Examples
    --------
    >>> import fastcrl
    >>> data = fastcrl.simulate.simulate_dataset(6, 1000, random_state=0)
    >>> est = fastcrl.HillClimb(random_state=0).fit(data.X)
    >>> est.adjacency_.shape, est.graph_.kind
    ((6, 6), 'dag')
    >>> bool(est.score_ >= est.scorer_.score(data.B))
    True
    """

    def __init__(
        self,
        score: Any = "auto",
        max_parents: int | None = None,
        knowledge: Any = None,
        start: Any = None,
        max_iter: int = 100_000,
        epsilon: float = 1e-8,
        tabu_length: int = 10,
        tabu_patience: int | None = None,
        restarts: int = 50,
        perturb: int | None = None,
        random_state: Any = None,
        score_params: dict[str, Any] | None = None,
        discrete: bool | None = None,
        memory_limit: Any = "8GB",
        verbose: int = 0,
    ):
        self.score = score
        self.max_parents = max_parents
        self.knowledge = knowledge
        self.start = start
        self.max_iter = max_iter
        self.epsilon = epsilon
        self.tabu_length = tabu_length
        self.tabu_patience = tabu_patience
        self.restarts = restarts
        self.perturb = perturb
        self.random_state = random_state
        self.score_params = score_params
        self.discrete = discrete
        self.memory_limit = memory_limit
        self.verbose = verbose

    estimate_memory = staticmethod(estimate_memory)

    def estimate(self, X: Any) -> dict[str, float]:
        """Memory (bytes) and wall time (seconds) that :meth:`fit` on ``X`` is expected to take.

        Builds the score and times single-parent local scores on it (about 0.05 s), then applies
        :func:`estimate_memory` and the time model of ``fastcrl._search.estimate_search_seconds``
        (``0.2 d^3`` such scores per climb, fitted on sparse ER-1 data). Returns
        ``{"memory_bytes", "seconds"}``.
        """
        scorer = make_score(X, self.score, discrete=self.discrete, score_params=self.score_params)
        return estimate_fit("hc", scorer, check_int(self.restarts, "restarts", low=0))

    def fit(self, X: Any, names: Sequence[str] | None = None):
        """Search for the best-scoring DAG on data ``X`` (n_samples, n_features); returns ``self``.

        ``X`` may be a NumPy array or a pandas DataFrame (its columns become the node names).
        When ``score`` is a score object, ``X`` may be None and the score's data and node names
        are used.
        """
        begin = time.perf_counter()
        max_iter = check_int(self.max_iter, "max_iter", low=0)
        epsilon = check_float(self.epsilon, "epsilon", low=0.0)
        tabu_length = check_int(self.tabu_length, "tabu_length", low=0)
        tabu_patience = (
            tabu_length
            if self.tabu_patience is None
            else check_int(self.tabu_patience, "tabu_patience", low=0)
        )
        restarts = check_int(self.restarts, "restarts", low=0)
        rng = check_random_state(self.random_state)
        verbose = check_verbose(self.verbose)
        if self.max_parents is not None:
            check_int(self.max_parents, "max_parents", low=0)
        needed = check_fit_memory(
            "hc", X, self.score, self.score_params, restarts, self.memory_limit, self.discrete
        )

        if isinstance(self.score, _LocalScore):
            scorer = make_score(X, self.score, score_params=self.score_params)
            node_names = list(scorer.nodes) if names is None else list(names)
            if node_names != list(scorer.nodes):
                raise ValueError("names must match the node names of the score object")
        else:
            if X is None:
                raise ValueError("X is required unless score is a ready-made score object")
            scorer = make_score(
                X, self.score, names=names, discrete=self.discrete, score_params=self.score_params
            )
            node_names = list(scorer.nodes)
        d = len(node_names)
        perturb = d if self.perturb is None else check_int(self.perturb, "perturb", low=0)
        forbidden, required, limit = search_constraints(
            self.knowledge, node_names, self.max_parents
        )
        start = self._start_graph(node_names, forbidden, required, limit)

        bar = None
        progress = None
        if verbose:
            from tqdm.auto import tqdm

            seconds = estimate_search_seconds("hc", scorer, restarts)
            print(
                f"HillClimb on {d} variables: memory about {format_bytes(needed)}, time about "
                f"{seconds:.3g} s on a sparse result",
                file=sys.stderr,
            )

            bar = tqdm(total=restarts + 1, desc=type(self).__name__, leave=False)

            def progress(climb: int, n_iter: int, climb_score: float, best: float) -> None:
                bar.update(1)
                bar.set_postfix(moves=n_iter, score=f"{climb_score:.6g}", best=f"{best:.6g}")

        try:
            batch_scores = device_batch_scorer(scorer)
            out = _core.hill_climb(
                scorer._kernel,
                forbidden,
                required,
                limit,
                start,
                max_iter=max_iter,
                epsilon=epsilon,
                tabu_length=tabu_length,
                tabu_patience=tabu_patience,
                restarts=restarts,
                perturb=perturb,
                seed=int(rng.integers(0, 2**63)),
                progress=progress,
                batch_scores=batch_scores,
            )
        finally:
            if bar is not None:
                bar.close()
        self.node_names_ = node_names
        self.device_ = "cpu" if batch_scores is None else "cuda"
        self.scorer_ = self.score_object_ = scorer
        self.memory_estimate_ = needed
        self.adjacency_ = out["adjacency"].astype(np.int8)
        self.graph_ = Graph.from_adjacency(self.adjacency_, names=node_names, kind="dag")
        self.score_ = float(out["score"])
        warn_if_parents_near_n(self.adjacency_, scorer.n_samples, node_names, "HillClimb")
        self.n_iter_ = int(out["n_iter"])
        self.history_ = np.asarray(out["history"])
        self.climb_scores_ = np.asarray(out["climb_scores"])
        self.fit_time_ = time.perf_counter() - begin
        return self

    def _start_graph(
        self, names: list[str], forbidden: np.ndarray, required: np.ndarray, limit: int
    ) -> np.ndarray | None:
        """The validated start adjacency (uint8) or None for the kernel's default."""
        if self.start is None:
            _require_acyclic(
                required, "the required edges of knowledge", directed_only=True, names=names
            )
            return None
        d = len(names)
        if isinstance(self.start, Graph):
            if self.start.kind != "dag":
                raise ValueError(f"start must be a DAG; got a graph of kind {self.start.kind!r}")
            if list(self.start.nodes) != names:
                raise ValueError(
                    f"start graph nodes {list(self.start.nodes)[:10]} do not match "
                    f"the data's {names[:10]}"
                )
            P = self.start.to_adjacency() != 0
        else:
            P = _pattern(self.start, "start", binary=False) != 0
        if P.shape != (d, d):
            raise ValueError(f"start must be ({d}, {d}); got {P.shape}")
        P = np.ascontiguousarray(P, dtype=np.uint8)
        _require_acyclic(P, "start", directed_only=True, names=names)
        bad = np.argwhere(P.astype(bool) & forbidden.astype(bool))
        if bad.size:
            i, j = bad[0]
            raise ValueError(
                f"start contains the edge {names[i]} -> {names[j]}, which knowledge forbids"
            )
        missing = np.argwhere(required.astype(bool) & ~P.astype(bool))
        if missing.size:
            i, j = missing[0]
            raise ValueError(
                f"start lacks the edge {names[i]} -> {names[j]}, which knowledge requires"
            )
        if limit >= 0:
            over = np.flatnonzero(P.sum(axis=0) > limit)
            if over.size:
                raise ValueError(
                    f"node {names[over[0]]!r} has {int(P[:, over[0]].sum())} parents in start, "
                    f"more than max_parents = {limit}"
                )
        return P
