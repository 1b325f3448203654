"""Pure-Python hill climbing over DAGs: the obviously correct baseline of ``fastcrl.HillClimb``.

Every iteration rescores every legal move from scratch and checks acyclicity with a depth-first
search; no delta table, no reachability sets.  Move order, tie-breaking, tabu list and the
splitmix64 perturbations are those of the C++ kernel, so both return the same DAG and score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import NumericalError

__all__ = ["hill_climb", "SplitMix64"]

_MASK = (1 << 64) - 1


class SplitMix64:
    """splitmix64 pseudo-random generator (the one the C++ kernel uses for perturbations)."""

    def __init__(self, seed: int):
        self.state = int(seed) & _MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)


def _has_path(A: np.ndarray, src: int, dst: int) -> bool:
    stack, seen = [src], {src}
    while stack:
        v = stack.pop()
        if v == dst:
            return True
        for c in np.flatnonzero(A[v]):
            if int(c) not in seen:
                seen.add(int(c))
                stack.append(int(c))
    return False


def _legal_moves(A, forbidden, required, limit):
    """Legal moves ``(kind, i, j)`` in the kernel's enumeration order."""
    d = A.shape[0]
    n_parents = A.sum(axis=0)
    moves = []
    for i in range(d):
        for j in range(d):
            if i == j:
                continue
            if A[i, j]:
                if required[i, j]:
                    continue
                moves.append(("delete", i, j))
                if not forbidden[j, i] and n_parents[i] < limit:
                    A[i, j] = 0
                    ok = not _has_path(A, i, j)
                    A[i, j] = 1
                    if ok:
                        moves.append(("reverse", i, j))
            elif not A[j, i] and not forbidden[i, j] and n_parents[j] < limit:
                if not _has_path(A, j, i):
                    moves.append(("add", i, j))
    return moves


def _local(score, A, j):
    return score.local_score(j, [int(p) for p in np.flatnonzero(A[:, j])])


def _local_or_nan(score, A, j):
    """The local score of j in A as the searches use it: NaN when undefined or, for the Gaussian
    BIC, too near its undefined limit (the kernel's ``for_search``)."""
    parents = [int(p) for p in np.flatnonzero(A[:, j])]
    try:
        value = score.local_score(j, parents)
    except NumericalError:
        return np.nan
    kernel = getattr(score, "_kernel", None)
    return value if kernel is None else kernel.for_search(j, len(parents), value)


def _gained(score, A, B, j, new_parent):
    """The change of j's local score from A to B (B gives j the extra parent ``new_parent``);
    NaN when B's family is undefined, an error when that is the single parent (as the kernel)."""
    gained = _local_or_nan(score, B, j) - _local(score, A, j)
    if np.isnan(gained) and not A[:, j].any():
        raise NumericalError(
            f"the score of node {j} with the single parent {new_parent} is undefined: the two "
            "columns are duplicates or exactly collinear; drop one of them"
        )
    return gained


def _delta(score, A, move):
    """The move's score change; -inf when it makes a family undefined (the move is skipped)."""
    kind, i, j = move
    B = A.copy()
    if kind == "add":
        B[i, j] = 1
        gained = _gained(score, A, B, j, i)
        return -np.inf if np.isnan(gained) else gained
    B[i, j] = 0
    removed = _local(score, B, j) - _local(score, A, j)
    if kind == "delete":
        return removed
    B[j, i] = 1
    gained = _gained(score, A, B, i, j)
    return -np.inf if np.isnan(gained) else removed + gained


def _apply(A, move):
    kind, i, j = move
    if kind == "add":
        A[i, j] = 1
    elif kind == "delete":
        A[i, j] = 0
    else:
        A[i, j] = 0
        A[j, i] = 1


def _inverse(move):
    kind, i, j = move
    return {"add": ("delete", i, j), "delete": ("add", i, j), "reverse": ("reverse", j, i)}[kind]


def _total(score, A):
    total = 0.0
    for j in range(A.shape[0]):
        total += _local(score, A, j)
    return total


TIE_RELATIVE = 1e-9


def _tie_tolerance(score, A):
    """Score differences at or below this are ties (Markov-equivalent moves score equal only up to
    rounding): ``1e-9 (1 + sum_j |local score of j|)``, as the kernel."""
    return TIE_RELATIVE * (1.0 + sum(abs(_local(score, A, j)) for j in range(A.shape[0])))


def hill_climb(
    score: Any,
    forbidden: np.ndarray,
    required: np.ndarray,
    max_parents: int = -1,
    start: np.ndarray | None = None,
    max_iter: int = 1_000_000,
    epsilon: float = 1e-8,
    tabu_length: int = 0,
    tabu_patience: int = 0,
    restarts: int = 0,
    perturb: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Reference of ``fastcrl._core.hill_climb``: same arguments and result dict.

    ``score`` is a ``fastcrl.scores`` object; ``forbidden``/``required`` are ``(d, d)`` masks
    (``[i, j]``: the edge ``i -> j``); ``max_parents < 0`` means no limit.  Cost per iteration:
    ``O(d^2)`` local scores (cached by the score) and ``O(d^2)`` graph searches.
    """
    d = score.n_nodes
    forbidden = np.asarray(forbidden, dtype=bool) | np.eye(d, dtype=bool)
    required = np.asarray(required, dtype=bool)
    limit = d - 1 if max_parents < 0 else max_parents
    A = (
        (np.asarray(start) != 0).astype(np.uint8)
        if start is not None
        else required.astype(np.uint8)
    )
    history = [_total(score, A)]
    best, best_score = A.copy(), history[0]
    best_max = best_score  # the highest climb score (best_score is within a tie of it)
    rng = SplitMix64(seed)
    climb_scores = []
    n_iter = 0
    for climb in range(restarts + 1):
        if climb > 0:
            A = best.copy()
            for _ in range(perturb):
                moves = _legal_moves(A, forbidden, required, limit)
                if not moves:
                    break
                kinds = [k for k in ("add", "delete", "reverse") if any(m[0] == k for m in moves)]
                kind = kinds[rng.next() % len(kinds)]
                of_kind = [m for m in moves if m[0] == kind]
                move = of_kind[rng.next() % len(of_kind)]
                if _delta(score, A, move) > -np.inf:  # a move to an undefined graph is skipped
                    _apply(A, move)
        tabu: list[tuple[str, int, int]] = []
        climb_best, climb_best_score = A.copy(), _total(score, A)
        climb_max = climb_best_score
        stall = 0
        for _ in range(max_iter):
            candidates = [m for m in _legal_moves(A, forbidden, required, limit) if m not in tabu]
            if not candidates:
                break
            deltas = [_delta(score, A, m) for m in candidates]
            if max(deltas) == -np.inf:
                break
            tie = _tie_tolerance(score, A)
            k = -1  # the first move, replaced only by one better by more than the tie tolerance
            for c, value in enumerate(deltas):
                if value > -np.inf and (k < 0 or value > deltas[k] + tie):
                    k = c
            if not deltas[k] > epsilon and (tabu_length == 0 or stall >= tabu_patience):
                break
            _apply(A, candidates[k])
            if tabu_length:
                tabu.append(_inverse(candidates[k]))
                tabu = tabu[-tabu_length:]
            n_iter += 1
            s = _total(score, A)
            history.append(s)
            if s >= climb_max - tie:  # a tie goes to the newer graph, whatever the rounding
                stall = 0 if s > climb_best_score + epsilon else stall + 1
                climb_best, climb_best_score = A.copy(), s
                climb_max = max(climb_max, s)
            else:
                stall += 1
        A = climb_best.copy()
        climb_scores.append(climb_best_score)
        if climb == 0 or climb_best_score >= best_max - _tie_tolerance(score, A):
            best, best_score = climb_best.copy(), climb_best_score
            best_max = climb_best_score if climb == 0 else max(best_max, climb_best_score)
    return {
        "adjacency": best.astype(np.uint8),
        "score": best_score,
        "n_iter": n_iter,
        "history": np.asarray(history),
        "climb_scores": np.asarray(climb_scores),
    }
