"""Reference exact structure search: brute force over all DAGs and a plain dynamic programme.

``local(j, parents)`` is any local score (higher is better), e.g.
``functools.partial(reference.scores.gaussian_bic, X)``.  Constraints use the masks of
``fastcrl._search.search_constraints``: ``forbidden[i, j]`` / ``required[i, j]`` is the edge
``i -> j``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

from .graph import is_dag

Local = Callable[[int, Sequence[int]], float]


def allowed_parent_sets(d, j, forbidden=None, required=None, max_parents=None):
    """Every parent set (sorted tuple) of node ``j`` that obeys the constraints."""
    others = [i for i in range(d) if i != j and (forbidden is None or not forbidden[i, j])]
    must = set() if required is None else {i for i in range(d) if required[i, j]}
    top = len(others) if max_parents is None or max_parents < 0 else min(max_parents, len(others))
    return [P for k in range(top + 1) for P in itertools.combinations(others, k) if must <= set(P)]


def brute_force(local: Local, d: int, forbidden=None, required=None, max_parents=None, tol=1e-8):
    """Best score over all DAGs obeying the constraints, and every DAG within ``tol`` of it.

    Enumerates one allowed parent set per node and keeps the acyclic combinations: ``8^4 = 4096``
    candidates at ``d = 4``; meant for ``d <= 4``.  Returns ``(best, [adjacency, ...])``.
    """
    sets = [allowed_parent_sets(d, j, forbidden, required, max_parents) for j in range(d)]
    scores = [{P: local(j, list(P)) for P in sets[j]} for j in range(d)]
    found = []
    for choice in itertools.product(*sets):
        if _acyclic(choice):
            found.append((sum(scores[j][P] for j, P in enumerate(choice)), choice))
    best = max(s for s, _ in found)
    optimal = []
    for s, choice in found:
        if s >= best - tol * max(1.0, abs(best)):
            A = np.zeros((d, d), dtype=np.int8)
            for j, P in enumerate(choice):
                A[list(P), j] = 1
            assert is_dag(A)
            optimal.append(A)
    return best, optimal


def _acyclic(parent_sets) -> bool:
    """Whether one parent set per node forms a DAG: peel off nodes whose parents are all placed."""
    placed: set[int] = set()
    remaining = set(range(len(parent_sets)))
    while remaining:
        ready = [j for j in remaining if placed.issuperset(parent_sets[j])]
        if not ready:
            return False
        placed.update(ready)
        remaining.difference_update(ready)
    return True


def exact_search(local: Local, d: int, forbidden=None, required=None, max_parents=None):
    """The optimal DAG by the sinks recursion over subsets (Silander & Myllymäki 2006) in Python.

    Returns ``(score, adjacency)``.
    """
    parent_sets = [allowed_parent_sets(d, j, forbidden, required, max_parents) for j in range(d)]
    scores = [{frozenset(P): local(j, list(P)) for P in parent_sets[j]} for j in range(d)]

    def best_parents(j, candidates):
        options = [(s, P) for P, s in scores[j].items() if P <= candidates]
        return max(options, key=lambda t: t[0]) if options else (-np.inf, frozenset())

    best = {frozenset(): (0.0, None)}
    for size in range(1, d + 1):
        for S in map(frozenset, itertools.combinations(range(d), size)):
            options = []
            for s in S:
                value = best[S - {s}][0] + best_parents(s, S - {s})[0]
                options.append((value, s))
            best[S] = max(options, key=lambda t: t[0])
    S = frozenset(range(d))
    total = best[S][0]
    if not np.isfinite(total):
        raise ValueError("no DAG satisfies the constraints")
    A = np.zeros((d, d), dtype=np.int8)
    while S:
        sink = best[S][1]
        _, P = best_parents(sink, S - {sink})
        A[list(P), sink] = 1
        S = S - {sink}
    return float(total), A


def unrank_colex(rank: int, size: int, n: int) -> tuple[int, ...]:
    """The ``size``-subset of ``range(n)`` with colexicographic rank ``rank`` (ascending members).

    The rank of ``c_1 < ... < c_m`` is ``sum_i C(c_i, i)``: subsets of one size in increasing
    order of their bitmask, the order of the GPU's exact-search families.
    """
    members = []
    c = n - 1
    for i in range(size, 0, -1):
        while c >= i and math.comb(c, i) > rank:
            c -= 1
        c = max(c, i - 1)
        members.append(c)
        rank -= math.comb(c, i)
        c -= 1
    return tuple(sorted(members))


def subset_scores(
    local: Local, d: int, j: int, size: int, first_rank: int, count: int, forbidden: int,
    required: int, row: np.ndarray,
) -> None:
    """NumPy twin of the GPU kernels ``gaussian_subset_scores`` / ``discrete_subset_scores``.

    For the parent sets ``P`` of node ``j`` with ``size`` members among the other ``d - 1`` nodes,
    colex ranks ``first_rank .. first_rank + count - 1``, that avoid the d-bit mask ``forbidden``
    and contain ``required``: ``row[compressed P] = local(j, P)`` (``compressed``: P's bitmask
    with bit ``j`` removed and the bits above it shifted down); other entries are left alone.
    """
    others = [i for i in range(d) if i != j]
    for rank in range(first_rank, first_rank + count):
        members = unrank_colex(rank, size, d - 1)
        P = [others[m] for m in members]
        mask = sum(1 << p for p in P)
        if mask & forbidden or mask & required != required:
            continue
        row[sum(1 << m for m in members)] = local(j, P)
