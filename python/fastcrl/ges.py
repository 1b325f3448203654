"""Greedy equivalence search (GES, Chickering 2002) on the C++ core."""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any

import numpy as np

from . import _core
from ._base import BaseEstimator
from ._errors import SampleSizeWarning
from ._search import (
    check_fit_memory,
    device_batch_scorer,
    estimate_fit,
    estimate_search_memory,
    estimate_search_seconds,
    knowledge_class,
    make_score,
    search_constraints,
    warn_if_parents_near_n,
)
from ._validation import check_int, check_verbose, format_bytes, node_names_from
from .graph import Graph

__all__ = ["GES", "estimate_memory"]

# The polish's hill-climb rounds: at most this many (each costs about one climb with its restarts),
# and another only after a round that raised the score by more than _POLISH_ROUND_GAIN nats (at
# d = 100 gains below that chained up to six rounds for a few nats in all; benchmarks/RESULTS.md).
_MAX_POLISH_ROUNDS = 4
_POLISH_ROUND_GAIN = 1.0


def estimate_memory(
    n_nodes: int,
    n_samples: int,
    *,
    discrete: bool = False,
    cache_limit: int | None = None,
    restarts: int = 0,
) -> int:
    """Bytes a :class:`GES` fit on ``n_samples x n_nodes`` data adds to the process, at its peak.

    The score's statistics (Gaussian: the ``d x d`` covariance; discrete: two int32 copies of the
    codes), GES's ``d x d`` tables and graphs, the local-score
    cache (bounded by ``cache_limit``, default ``fastcrl.scores.DEFAULT_CACHE_LIMIT``), on
    continuous data the residuals kept per target (``16 d^2`` bytes, at most 1 GiB) and, with
    ``restarts > 0``, the polishing hill climb. It errs high: measured peaks were 20-100% of it
    (``benchmarks/RESULTS.md``).

    Examples
    --------
    >>> round(estimate_memory(5000, 1000) / 1e9, 2)
    0.81
    """
    return estimate_search_memory(
        "ges", n_nodes, n_samples, discrete=discrete, cache_limit=cache_limit, restarts=restarts
    )


class GES(BaseEstimator):
    """Greedy equivalence search over Markov equivalence classes (CPDAGs).

    The forward phase applies the best valid ``Insert(X, Y, T)`` (Chickering 2002) while it raises
    the score; the backward phase then applies the best valid ``Delete(X, Y, H)`` while it raises
    the score. In the large-sample limit with a consistent score (BIC, BDeu) and faithful data, the
    result is the true equivalence class.

    Each target node keeps its best operator; after an operator only the targets whose
    neighbourhood could have changed are re-scored (in parallel over candidate parents, threads
    from :func:`fastcrl.set_num_threads`), and the graph is re-oriented incrementally (pattern +
    knowledge + Meek's rules), never by a full DAG-to-CPDAG pass.

    Parameters
    ----------
    score : str or score object, default="auto"
        ``"bic"``, ``"bdeu"``, ``"discrete-bic"``, ``"auto"`` (BDeu for integer-coded data, BIC
        otherwise) or a ready-made :mod:`fastcrl.scores` object (then ``X`` in ``fit`` may be
        None; given, it must have the score's number of columns, and the score's statistics are
        what the search uses).
    score_params : dict, optional
        Keyword arguments of the score, e.g. ``{"penalty_discount": 2.0}`` or ``{"ess": 10}``.
    discrete : bool, optional
        Declare the data discrete or continuous (default: detected, see ``fastcrl._search``).
    max_parents : int, optional
        Largest parent set scored for a node (``|Pa(Y) u NA u T| + 1`` for an Insert).
    knowledge : fastcrl.Knowledge, optional
        Forbidden edges (including tiers) are never created in the forbidden direction, and a
        pair forbidden both ways is never adjacent; required edges are in the result with their
        direction and are never deleted. The result is then the class restricted by the knowledge
        (Meek 1995): a PDAG with the knowledge's orientations applied.
    forward, backward : bool, default=True
        Run the forward (insertion) and the backward (deletion) phase.
    turning : bool, default=True
        Then reverse single edges of a consistent extension while that raises the score (a
        turning phase in the spirit of Hauser & Buehlmann 2012, which moves between classes that
        GES's Insert/Delete cannot reach in one step; the extension is made once per round and
        kept with each reversal applied) and rerun both phases; repeat until no reversal helps.
        On by default: greedy GES often stops at a lower score than the true DAG's in finite
        samples, and the turning rounds recover much of that gap.
    restarts : int or None, default=None
        Then polish: a tabu hill climb over DAGs (:class:`fastcrl.HillClimb`'s search, with the same
        score, knowledge and ``max_parents``) started from ``dag_`` with this many perturbation
        restarts, in rounds: a round that raises the score by more than one nat earns another from
        its result (at most four); when they end at a higher score, the best DAG's class is
        returned. Greedy GES (ours and causal-learn's alike) stops below the optimum on a sizeable
        share of dense problems even with 10,000 samples; the polish reaches the exact optimum on
        most of them in milliseconds (``tests/test_search_oracle.py``). ``0`` gives plain GES (with
        ``turning=False``: Chickering's algorithm, as causal-learn runs it). ``None``: 50 up to 100
        variables, 0 above. Measured on ER-2 data, n = 1000 (``benchmarks/RESULTS.md``): at or
        above the true DAG's score on 20/20 ``simulate_dataset`` seeds at d = 20 (15/20 with a
        single round, 2/20 without a polish), 10/10 at d = 50; 0.04 s per fit at d = 20, 0.2 s at
        d = 50, 2 s at d = 100 (without the polish: 0.004 s at d = 50). A single round at d = 200
        took 27 s where plain GES takes 0.26 s, hence no polish above 100 variables.
    random_state : int, numpy.random.Generator or None
        Seeds the polish's perturbations. ``None`` uses a fixed seed, so that ``GES()`` gives the
        same result on every run, as greedy equivalence search itself does.
    max_iter : int, optional
        At most this many operators per phase.
    memory_limit : int, float, str or None, default="8GB"
        Refuse to start (``MemoryError``) when :func:`estimate_memory` exceeds this; bytes or a
        string like ``"8GB"``. ``None``: no check.
    verbose : bool, default=False
        Print the memory and time estimates, then a progress line (phase, operators, edges,
        score) about once a second to stderr.

    Attributes
    ----------
    graph_ : fastcrl.Graph
        The result, kind ``"cpdag"`` (``"pdag"`` when knowledge orients more edges).
    adjacency_ : ndarray of uint8, shape (d, d)
        Its pattern: ``i -> j`` is ``[i, j] = 1, [j, i] = 0``; ``i -- j`` sets both.
    dag_ : fastcrl.Graph
        A consistent DAG extension of ``graph_``.
    score_ : float
        The score of ``dag_`` (equal for every DAG of the class when the score is score-equivalent).
    n_iter_ : int
        Operators applied (``n_insert_ + n_delete_ + n_turn_``).
    n_insert_, n_delete_, n_turn_, n_evaluated_ : int
        Inserts, Deletes and reversals applied; operators scored.
    ges_score_ : float
        The score at the end of the GES phases, before the polish.
    history_ : list of dict
        One entry per operator: ``phase`` (``"insert"``, ``"delete"`` or ``"turn"``: the
        extension's ``y -> x`` became ``x -> y``), ``x``, ``y``, ``set`` (T or H, names),
        ``delta``, ``score``, ``n_edges``.
    score_object_ : score object
        The score the search ran on (its cache is warm).
    memory_estimate_ : int
        Bytes the fit was estimated to need (:func:`estimate_memory`).
    node_names_ : list of str
    device_ : {"cpu", "cuda"}
        Where the Insert candidates were scored.  CuPy ``X`` (or a score object built from CuPy
        data) scores them with the CUDA batched local-score kernels, many targets per batch;
        Deletes, reversals and the polish, a few families each, use the score's CPU twin.  The
        operators and the result are the same as on the CPU (up to rounding in near-ties).
    fit_time_ : float
        Seconds spent in ``fit``.

    Notes
    -----
    Ties go to the first operator in the order target Y, then X, then the set T (or ``NA \\ H``)
    in depth-first order; :func:`fastcrl.reference.ges.ges` is a plain NumPy implementation with
    the same rules. Operators whose score is undefined (collinear parents, or a Gaussian family
    that leaves at most 1e-10 of its node's variance: 100x the score's own floor, so that the
    result's ``score_`` is always defined) are skipped.

    With thousands of variables, raise the BIC's ``penalty_discount`` (Tetrad's default is 2): the
    plain BIC's per-edge threshold is passed by chance by a fixed share of the ~d^2/2 absent pairs,
    and a node choosing among thousands of candidate parents keeps finding one that passes it,
    until nodes near ``n`` parents fit their data almost exactly (``SampleSizeWarning``).
    Measured on ER-1 data, n = 1000, 2 cores: ``penalty_discount=1`` gave 5,300 edges for 1,000
    true ones at d = 1000 (20,129 for 2,000 at d = 2000 in 1.8 s; at d = 5000, 246,796 for 5,000
    with ``turning=False`` in about 5 minutes, and 400,812 with the defaults in 8 minutes, each
    round of reversals opening the way to more chance parents), ``2`` gave 1,180 at d = 1000 and
    9,027 for 5,000 at d = 5000 in 3.6 s (6,448 with n = 3000), and ``4`` gave 1,000 (SHD 9) at
    d = 1000 in 0.2 s and 5,005 for 5,000 (SHD 6) at d = 5000 in 1.5 s with a peak of 1.0 GB for
    the whole process (``benchmarks/RESULTS.md``).

    Resources: memory grows as ``d^2`` (the ``d x d`` covariance and the search's tables, about 16
    bytes per pair of variables, another 16 for the residuals kept per target with the Gaussian
    BIC, at most 1 GiB, plus the score's bounded cache): :meth:`estimate` and
    :func:`estimate_memory` predict it before a fit, and ``memory_limit`` turns an overrun into a
    ``MemoryError`` before any work. Time grows as ``d^2`` on sparse results (about as long as
    ``8 d^2`` single-parent local scores take) and with the number of edges GES adds.

    Examples
    --------
    >>> import numpy as np, fastcrl
    >>> from fastcrl.simulate import simulate_linear_sem
    >>> W = np.array([[0, 1.0, 0], [0, 0, 0], [0, -1.5, 0]])  # X0 -> X1 <- X2
    >>> X = simulate_linear_sem(W, 2000, random_state=0)
    >>> fastcrl.GES().fit(X).graph_.to_edges()
    [('X0', 'X1', '->'), ('X2', 'X1', '->')]
    """

    def __init__(
        self,
        score: Any = "auto",
        *,
        score_params: dict[str, Any] | None = None,
        discrete: bool | None = None,
        max_parents: int | None = None,
        knowledge: Any = None,
        forward: bool = True,
        backward: bool = True,
        turning: bool = True,
        restarts: int | None = None,
        random_state: Any = None,
        max_iter: int | None = None,
        memory_limit: Any = "8GB",
        verbose: bool = False,
    ) -> None:
        self.score = score
        self.score_params = score_params
        self.discrete = discrete
        self.max_parents = max_parents
        self.knowledge = knowledge
        self.forward = forward
        self.backward = backward
        self.turning = turning
        self.restarts = restarts
        self.random_state = random_state
        self.max_iter = max_iter
        self.memory_limit = memory_limit
        self.verbose = verbose

    estimate_memory = staticmethod(estimate_memory)

    def estimate(self, X: Any) -> dict[str, float]:
        """Memory (bytes) and wall time (seconds) that :meth:`fit` on ``X`` is expected to take.

        Builds the score (the covariance for Gaussian data: the first ``O(n d^2)`` of the fit)
        and times single-parent local scores on it (about 0.05 s), then applies the
        model of :func:`estimate_memory` and ``fastcrl._search.estimate_search_seconds`` (fitted
        on sparse ER-1 data; denser results take longer). Returns ``{"memory_bytes", "seconds"}``.
        """
        score = make_score(X, self.score, discrete=self.discrete, score_params=self.score_params)
        return estimate_fit("ges", score, self._restarts(score.n_nodes))

    def _restarts(self, d: int) -> int:
        if self.restarts is None:
            return 50 if d <= 100 else 0
        return check_int(self.restarts, "restarts", low=0)

    def fit(self, X: Any, names: list[str] | None = None) -> GES:
        """Run the search on data ``X`` (n_samples, n_features), NumPy or pandas.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data (column names of a DataFrame become node names). Ignored when ``score`` is a
            score object.
        names : list of str, optional
            Node names (default: DataFrame columns, else ``X0 .. X{d-1}``).

        Returns
        -------
        self
        """
        start = time.perf_counter()
        max_iter = -1 if self.max_iter is None else check_int(self.max_iter, "max_iter", low=0)
        for flag in ("forward", "backward", "turning"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"{flag} must be True or False; got {getattr(self, flag)!r}")
        check_verbose(self.verbose)
        d_in = self.score.n_nodes if hasattr(self.score, "_kernel") else (
            X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else 0
        )
        restarts = self._restarts(d_in)
        needed = check_fit_memory(
            "ges", X, self.score, self.score_params, restarts, self.memory_limit, self.discrete
        )
        if hasattr(self.score, "_kernel"):
            score = make_score(X, self.score, score_params=self.score_params)
            node_names = list(score.nodes)
        else:
            if X is None:
                raise ValueError("X is required unless score is a fastcrl.scores object")
            n_features = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
            if n_features is None:
                X = np.asarray(X)
                if X.ndim != 2:
                    raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}")
                n_features = X.shape[1]
            node_names = node_names_from(X, n_features, names)
            score = make_score(
                X, self.score, names=node_names, discrete=self.discrete,
                score_params=self.score_params,
            )
        restarts = self._restarts(len(node_names))  # X given as a list has no shape above
        forbidden, required, limit = search_constraints(
            self.knowledge, node_names, self.max_parents
        )
        progress = _print_progress if self.verbose else None
        if self.verbose:
            seconds = estimate_search_seconds("ges", score, restarts)
            print(
                f"GES on {score.n_nodes} variables: memory about {format_bytes(needed)}, time "
                f"about {seconds:.3g} s on a sparse result",
                file=sys.stderr,
            )
        batch_scores = device_batch_scorer(score)
        out = _core.ges(
            score._kernel,
            forbidden,
            required,
            limit,
            bool(self.forward),
            bool(self.backward),
            bool(self.turning),
            max_iter,
            progress,
            batch_scores,
        )
        P = np.asarray(out["cpdag"], dtype=np.uint8)
        self.graph_ = Graph.from_adjacency(P, names=node_names)
        self.dag_ = self.graph_.to_dag()
        self.ges_score_ = self.score_ = float(score.score(self.dag_))
        if restarts > 0 and len(node_names) > 1:
            polished = self._polish(score, P, forbidden, required, restarts)
            if polished is not P:
                P = polished
                self.graph_ = Graph.from_adjacency(P, names=node_names)
                self.dag_ = self.graph_.to_dag()
                self.score_ = float(score.score(self.dag_))
        self.node_names_ = node_names
        warn_if_parents_near_n(self.dag_.to_adjacency(), score.n_samples, node_names, "GES")
        self.device_ = "cpu" if batch_scores is None else "cuda"
        self.adjacency_ = P
        self.score_object_ = score
        self.memory_estimate_ = needed
        self.n_insert_ = int(out["n_insert"])
        self.n_delete_ = int(out["n_delete"])
        self.n_turn_ = int(out["n_turn"])
        self.n_iter_ = self.n_insert_ + self.n_delete_ + self.n_turn_
        self.n_evaluated_ = int(out["n_evaluated"])
        self.history_ = [
            {
                "phase": phase,
                "x": node_names[x],
                "y": node_names[y],
                "set": [node_names[i] for i in sset],
                "delta": float(delta),
                "score": float(total),
                "n_edges": int(edges),
            }
            for phase, x, y, sset, delta, total, edges in out["history"]
        ]
        self.fit_time_ = time.perf_counter() - start
        return self

    def _polish(self, score, P, forbidden, required, restarts: int) -> np.ndarray:
        """The class of the best DAG of hill-climb rounds from P's extension, or P if none higher.

        Each round is a climb with ``restarts`` perturbation restarts from the best DAG so far; a
        round that raises the score by more than ``_POLISH_ROUND_GAIN`` earns another (at most
        ``_MAX_POLISH_ROUNDS``).  A fixed number of restarts sometimes ends in a basin the next
        round leaves.
        """
        from .hillclimb import HillClimb

        best_dag, best_score = self.dag_, self.ges_score_
        seed = self.random_state
        for round_ in range(_MAX_POLISH_ROUNDS):
            # a new perturbation stream per round (a Generator simply advances)
            if seed is None or isinstance(seed, (int, np.integer)):
                round_seed = (0 if seed is None else int(seed)) + round_
            else:
                round_seed = seed
            with warnings.catch_warnings():
                # the fit warns about the result it returns (below), as GES, not the climb
                warnings.simplefilter("ignore", SampleSizeWarning)
                hc = HillClimb(
                    score=score,
                    max_parents=self.max_parents,
                    knowledge=self.knowledge,
                    start=best_dag,
                    restarts=restarts,
                    random_state=round_seed,
                ).fit(None)
            gain = hc.score_ - best_score
            if gain > 1e-9 * max(1.0, abs(best_score)):
                best_dag, best_score = hc.adjacency_, hc.score_
            if not gain > _POLISH_ROUND_GAIN:
                break
        if best_dag is self.dag_:
            return P
        return knowledge_class(best_dag, forbidden, required)


def _print_progress(phase: str, applied: int, edges: int, value: float) -> None:
    print(f"GES {phase}: {applied} operators, {edges} edges, score {value:.6g}", file=sys.stderr)
