"""Exact score-based structure learning: the DAG that maximises a decomposable score.

Dynamic programming over subsets of nodes (Silander & Myllymäki 2006), in C++.  Time and memory
grow as ``2^d``: about 20 nodes without a parent limit, up to ~25 with ``max_parents``.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np

from . import _core
from ._base import BaseEstimator
from ._errors import NumericalError
from ._search import knowledge_class, make_score, search_constraints, warn_if_parents_near_n
from ._validation import check_int, check_option, check_verbose, format_bytes, parse_memory
from .graph import Graph
from .scores import GaussianBIC

__all__ = ["ExactSearch", "estimate_memory", "parse_memory"]

def estimate_memory(n_nodes: int, max_parents: int | None = None) -> int:
    """Bytes that :class:`ExactSearch` allocates for ``n_nodes`` variables.

    Two tables dominate: the best-parent-set scores, ``d * 2^(d-1)`` float64, and the best score of
    every subset of nodes, ``2^d`` float64 (about 92 MB at ``d = 20``, 3.6 GB at ``d = 25``).
    ``max_parents`` bounds the time, not these tables (every candidate parent set is needed);
    it only changes small per-thread buffers.  The data and the score object are not counted.

    Examples
    --------
    >>> round(estimate_memory(20) / 1e6)
    92
    """
    d = check_int(n_nodes, "n_nodes", low=1)
    limit = -1 if max_parents is None else check_int(max_parents, "max_parents", low=0)
    return int(_core.exact_search_memory_bytes(d, limit, _core.get_num_threads()))


# Families per kernel launch (the kernels grid-stride over them).
_FAMILY_CHUNK = 1 << 24


def fill_row(launch, d: int, j: int, forbidden: int, required: int, limit: int) -> None:
    """Call ``launch(j, size, first_rank, count, forbidden, required)`` over every family size up to
    ``limit`` and every colex rank range of node ``j``'s parent sets (the GPU table fill).
    """
    for size in range(min(limit, d - 1) + 1):
        total = math.comb(d - 1, size)
        for first in range(0, total, _FAMILY_CHUNK):
            launch(j, size, first, min(_FAMILY_CHUNK, total - first), forbidden, required)


def rescore_on_cpu(score: Any, j: int, row: np.ndarray) -> None:
    """Score the families a kernel left NaN (more count cells than shared memory holds, or an
    undefined Gaussian score) with the CPU kernel: its value, or its ``NumericalError``.
    """
    missing = np.flatnonzero(np.isnan(row))
    d = score.n_nodes
    low = (1 << j) - 1
    for start in range(0, missing.size, 1 << 16):
        part = missing[start : start + (1 << 16)].astype(np.int64)
        masks = (part & low) | ((part >> j) << (j + 1))  # insert node j's (zero) bit
        bits = ((masks[:, None] >> np.arange(d)) & 1).astype(bool)
        offsets = np.zeros(part.size + 1, dtype=np.int64)
        np.cumsum(bits.sum(axis=1), out=offsets[1:])
        parents = np.nonzero(bits)[1].astype(np.int64)
        nodes = np.full(part.size, j, dtype=np.int64)
        row[part] = score._kernel.local_scores(nodes, offsets, parents)


def device_score_filler(score: Any):
    """The GPU source of the search's local-score table for a score built from CuPy data (None for
    host data): node by node, the family kernels fill a device row that is copied into the table.
    """
    device_array = score._device_array()
    if device_array is None:
        return None
    import cupy

    from ._backend import require_cuda

    cuda = require_cuda("ExactSearch on CuPy data")
    d = score.n_nodes

    def fill(j: int, forbidden: int, required: int, limit: int, row: np.ndarray) -> None:
        with cupy.cuda.Device(device_array.device.id):
            row_d = cupy.full(row.shape[0], -np.inf, dtype=np.float64)
            fill_row(
                lambda *family: score._launch_subsets(cuda, row_d, *family),
                d, j, forbidden, required, limit,
            )
            row_d.get(out=row)
        rescore_on_cpu(score, j, row)

    return fill


class ExactSearch(BaseEstimator):
    """Exact score-based DAG learning by dynamic programming over subsets of nodes.

    Finds a DAG with the highest score among all DAGs (that obey ``knowledge`` and
    ``max_parents``): the local score of every node and every candidate parent set is computed,
    then the best parent set inside every candidate set, the best sink of every subset of nodes,
    and finally the optimal order and parents (Silander & Myllymäki 2006).

    Parameters
    ----------
    score : str or fastcrl.scores object, default="auto"
        ``"bic"`` (linear-Gaussian BIC), ``"bdeu"``, ``"discrete-bic"``, ``"auto"`` (BDeu for
        integer-coded data, BIC otherwise), or a ready-made :mod:`fastcrl.scores` object (then ``X``
        in :meth:`fit` may be omitted).
    max_parents : int, optional
        At most this many parents per node (``None``: no limit).  Makes ``d`` up to ~25 feasible in
        time; memory still grows as ``d 2^d`` (see :func:`estimate_memory`).
    knowledge : fastcrl.Knowledge, optional
        Forbidden edges (explicit and from tiers) never appear; required edges always do; its
        ``max_indegree`` combines with ``max_parents`` (the smaller wins).  The result is optimal
        among the DAGs that satisfy it.
    memory_limit : int, float, str or None, default="8GB"
        Refuse to start (``MemoryError``) when :func:`estimate_memory` exceeds this; bytes or a
        string like ``"8GB"``/``"512MiB"`` (see :func:`parse_memory`).  ``None``: no check.
    local_scores : {"auto", "generic", "gaussian"}, default="auto"
        ``"gaussian"``: for the Gaussian BIC, grow each parent set by one node and extend a
        Cholesky factor shared by all children (``O(|P| d)`` per set instead of ``O(|P|^3)`` per
        node and set).  ``"generic"``: one local-score call per (node, parent set), any score.
        ``"auto"``: the Gaussian path when it applies.  Ignored on the GPU (below).
    score_params : dict, optional
        Keyword arguments of the score (``penalty_discount``, ``ess``, ...).
    discrete : bool, optional
        Declare the data discrete or continuous (detected when None).
    verbose : bool, default=False
        Print progress (phases, percentages, timings) to stderr.

    Attributes
    ----------
    dag_ : fastcrl.Graph
        An optimal DAG (kind ``"dag"``).
    graph_ : fastcrl.Graph
        Its CPDAG (kind ``"cpdag"``): for a score-equivalent score such as BIC or BDeu, every DAG of
        this equivalence class is optimal, so this is what the data identify.  With ``knowledge``,
        the class restricted by it (Meek 1995), as :class:`fastcrl.GES` returns it: the edges whose
        direction the knowledge fixes are oriented, then Meek's rules (kind ``"pdag"`` when that
        orients more edges, ``"dag"`` when it orients all).
    adjacency_ : ndarray of shape (n_features, n_features), int8
        ``dag_`` as a 0/1 matrix; ``adjacency_[i, j] == 1`` means ``i -> j``.
    causal_order_ : ndarray of shape (n_features,)
        A topological order of ``dag_`` (causes first).
    score_ : float
        The optimal score (equals ``score.score(dag_)`` up to rounding).
    score_object_ : fastcrl.scores object
        The score that was maximised.
    node_names_ : list of str
    n_local_scores_ : int
        Number of (node, parent set) local scores evaluated.
    gaussian_path_ : bool
        Whether the incremental Gaussian local-score path was used.
    local_scores_time_, dp_time_ : float
        Seconds spent filling the local-score table (allocation included) and in the dynamic
        programme (best parent sets, best sinks, read-back).
    device_ : {"cpu", "cuda"}
        Where the local scores were computed.  CuPy ``X`` (or a score object built from CuPy data)
        scores every (node, parent set) with CUDA kernels on X's device (one block per family,
        BIC/BGe/BDeu/discrete BIC); families too large for a kernel's shared memory are scored on
        the CPU.  The dynamic programme then runs on the CPU either way.
    memory_estimate_ : int
        Bytes the search allocated, by :func:`estimate_memory`.
    fit_time_ : float
        Seconds spent in ``fit``.

    Raises
    ------
    MemoryError
        From ``fit`` when the estimate exceeds ``memory_limit`` (both numbers in the message).
    ValueError
        Bad data or parameters, more than 31 nodes, or knowledge that no DAG satisfies.
    fastcrl.NumericalError
        When an allowed parent set has no defined score (exactly collinear columns).

    Notes
    -----
    Adjacency convention: ``A[i, j] != 0`` means ``i -> j``.  Time ``O(d 2^d)`` for the dynamic
    programme plus one local score per node and allowed parent set (``d 2^(d-1)`` without a parent
    limit); memory ``(d 2^(d-1) + 2^d) * 8`` bytes.  Ctrl-C stops the search within about a second.

    References
    ----------
    T. Silander, P. Myllymäki. A simple approach for finding the globally optimal Bayesian network
    structure. UAI 2006.

    Examples
    --------
    >>> import fastcrl
    >>> data = fastcrl.simulate.simulate_dataset(6, 2000, random_state=0)
    >>> est = fastcrl.ExactSearch().fit(data.X)
    >>> est.graph_.kind, est.adjacency_.shape
    ('cpdag', (6, 6))
    >>> bool(abs(est.score_ - est.score_object_.score(est.dag_)) < 1e-6)
    True
    """

    def __init__(
        self,
        score: Any = "auto",
        max_parents: int | None = None,
        knowledge: Any = None,
        memory_limit: Any = "8GB",
        local_scores: str = "auto",
        score_params: dict[str, Any] | None = None,
        discrete: bool | None = None,
        verbose: bool = False,
    ):
        self.score = score
        self.max_parents = max_parents
        self.knowledge = knowledge
        self.memory_limit = memory_limit
        self.local_scores = local_scores
        self.score_params = score_params
        self.discrete = discrete
        self.verbose = verbose

    estimate_memory = staticmethod(estimate_memory)

    def fit(self, X: Any = None, names: list[str] | None = None):
        """Find an optimal DAG for data ``X`` of shape (n_samples, n_features); returns ``self``.

        ``X`` may be omitted when ``score`` is a ready-made score object.
        """
        start = time.perf_counter()
        method = check_option(self.local_scores, "local_scores", ["auto", "generic", "gaussian"])
        limit_bytes = parse_memory(self.memory_limit)
        check_verbose(self.verbose)
        if X is None and not hasattr(self.score, "_kernel"):
            raise ValueError("X is required unless score is a ready-made fastcrl.scores object")
        score = make_score(
            X, self.score, names=names, discrete=self.discrete, score_params=self.score_params
        )
        node_names = list(score.nodes)
        d = len(node_names)
        if d > _core.EXACT_MAX_NODES:
            raise ValueError(
                f"exact search supports at most {_core.EXACT_MAX_NODES} nodes; got {d} "
                "(use GES or hill climbing for larger graphs)"
            )
        forbidden, required, limit = search_constraints(
            self.knowledge, node_names, self.max_parents
        )
        if method == "gaussian" and not isinstance(score._kernel, _core.GaussianBICScore):
            raise ValueError(
                f"local_scores='gaussian' needs the Gaussian BIC score; got {type(score).__name__}"
            )
        needed = estimate_memory(d, None if limit < 0 else limit)
        if limit_bytes is not None and needed > limit_bytes:
            raise MemoryError(
                f"exact search on {d} nodes needs about {format_bytes(needed)} ({needed} bytes) "
                "but "
                f"memory_limit is {format_bytes(limit_bytes)} ({limit_bytes} bytes); raise "
                "memory_limit, use fewer variables, or use GES / hill climbing"
            )
        progress = None
        if self.verbose:
            t0 = time.perf_counter()

            def progress(line: str) -> None:
                print(f"[ExactSearch {time.perf_counter() - t0:7.2f}s] {line}", file=sys.stderr)

            progress(f"estimated memory {format_bytes(needed)}")
        filler = device_score_filler(score)
        try:
            out = _core.exact_search(
                score._kernel, forbidden, required, limit, method, progress, filler
            )
        except NumericalError as exc:
            largest = d - 1 if limit < 0 else min(limit, d - 1)
            if isinstance(score, GaussianBIC) and score.n_samples <= largest + 1:
                # the data's rank, not the columns: centred, n rows span n - 1 dimensions
                n = score.n_samples
                raise NumericalError(
                    f"{exc}. With {n} samples any {n} or more columns are collinear and {n - 1} "
                    f"parents fit their child exactly: use more samples or max_parents <= {n - 2}"
                ) from None
            raise
        A = out["adjacency"].astype(np.int8)
        self.node_names_ = node_names
        self.adjacency_ = A
        self.dag_ = Graph.from_adjacency(A, names=node_names, kind="dag")
        self.graph_ = self.dag_.to_cpdag()
        if self.knowledge is not None:  # only the class's DAGs that agree with it, as in GES
            P = knowledge_class(A, forbidden, required)
            if (P != (self.graph_.to_adjacency() != 0)).any():
                self.graph_ = Graph.from_adjacency(P, names=node_names)
        self.causal_order_ = np.asarray(out["order"], dtype=np.int64)
        self.score_ = float(out["score"])
        warn_if_parents_near_n(A, score.n_samples, node_names, "ExactSearch")
        self.score_object_ = score
        self.n_local_scores_ = int(out["n_local_scores"])
        self.gaussian_path_ = bool(out["gaussian_path"])
        self.device_ = "cuda" if out["external_scores"] else "cpu"
        self.local_scores_time_ = float(out["seconds_local_scores"])
        self.dp_time_ = float(out["seconds_dp"])
        self.memory_estimate_ = needed
        self.fit_time_ = time.perf_counter() - start
        return self
