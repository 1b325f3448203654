"""Reference greedy equivalence search (Chickering 2002): plain NumPy, every operator re-scored.

Same operators, validity conditions, knowledge handling and tie-breaking as ``fastcrl.GES``, but
nothing incremental: each step scores every Insert (Delete) of the current graph and re-orients
by a consistent extension, DAG -> CPDAG, then knowledge orientations and Meek's rules. For d <= 8.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .graph import dag_to_cpdag, find_cycle, meek_orient, pdag_to_dag


def _cliques(pool: Sequence[int], base: Sequence[int], adjacent, allowed, fits):
    """Depth-first subsets S of ``pool`` (empty first, then ascending additions) such that
    ``base + S`` is a clique and every member is ``allowed``; yields ``(order, S, fits(S))``, does
    not extend a set that does not fit."""
    order = 0

    def rec(start, cur):
        nonlocal order
        ok = fits(cur)
        yield order, list(cur), ok
        order += 1
        if not ok:
            return
        for i in range(start, len(pool)):
            t = pool[i]
            if allowed(t) and all(adjacent(b, t) for b in list(base) + cur):
                yield from rec(i + 1, cur + [t])

    yield from rec(0, [])


def _normalise(P: np.ndarray, forbidden: np.ndarray, required: np.ndarray) -> np.ndarray:
    """The (knowledge-restricted) CPDAG of the class of the PDAG ``P``."""
    C = dag_to_cpdag(pdag_to_dag(P)).astype(bool)
    d = C.shape[0]
    for u in range(d):
        for v in range(u + 1, d):
            if C[u, v] and C[v, u]:
                if required[u, v] or forbidden[v, u]:
                    C[v, u] = False
                elif required[v, u] or forbidden[u, v]:
                    C[u, v] = False
    return meek_orient(C).astype(bool)


def ges(
    local_score: Callable[[int, tuple[int, ...]], float],
    d: int,
    *,
    forbidden: np.ndarray | None = None,
    required: np.ndarray | None = None,
    max_parents: int | None = None,
    forward: bool = True,
    backward: bool = True,
    turning: bool = False,
) -> tuple[np.ndarray, float, list[tuple]]:
    """GES with the local score ``local_score(j, sorted parent tuple)`` (higher is better).

    ``forbidden[i, j]`` / ``required[i, j]``: the edge ``i -> j`` is forbidden / required.
    A ``local_score`` that raises ``ArithmeticError`` makes that operator unavailable.

    ``turning``: after the backward phase, reverse the best edge ``a -> b`` of a consistent
    extension that raises the score and keeps it acyclic, while one exists (the extension is
    ``pdag_to_dag``'s at the start of a pass, then that DAG with each reversal applied: a member
    of the new class); then rerun both phases; repeat until no reversal helps.

    Returns ``(cpdag uint8 (d, d), score, history)`` with history entries
    ``("insert" | "delete" | "turn", x, y, set, delta)`` (a turn: ``y -> x`` became ``x -> y``).
    """
    forbidden = np.zeros((d, d), bool) if forbidden is None else np.asarray(forbidden, bool).copy()
    np.fill_diagonal(forbidden, True)
    required = np.zeros((d, d), bool) if required is None else np.asarray(required, bool)
    limit = d - 1 if max_parents is None or max_parents < 0 else max_parents

    def s(j, parents):
        try:
            return local_score(j, tuple(sorted(parents)))
        except ArithmeticError:
            return np.nan

    P = required.copy()
    total = sum(s(j, np.flatnonzero(required[:, j])) for j in range(d))
    P = _normalise(P, forbidden, required)
    history: list[tuple] = []

    def adjacent(a, b):
        return bool(P[a, b] or P[b, a])

    def undirected(a, b):
        return bool(P[a, b] and P[b, a])

    def parents(v):
        return [u for u in range(d) if P[u, v] and not P[v, u]]

    def neighbors(v):
        return [u for u in range(d) if P[u, v] and P[v, u]]

    def unblocked_path(y, x, blocked):
        """A semi-directed path y ... x avoiding ``blocked``?"""
        seen, stack = set(blocked) | {y}, [y]
        while stack:
            u = stack.pop()
            for w in range(d):
                if P[u, w] and w not in seen:
                    if w == x:
                        return True
                    seen.add(w)
                    stack.append(w)
        return False

    def best_insert():
        best = None
        for y in range(d):
            pa, ne = parents(y), neighbors(y)
            if len(pa) + 1 > limit:
                continue
            for x in range(d):
                if x == y or adjacent(x, y) or forbidden[x, y]:
                    continue
                na = [t for t in ne if adjacent(x, t)]
                t0 = [t for t in ne if not adjacent(x, t)]
                if any(not adjacent(a, b) for i, a in enumerate(na) for b in na[i + 1 :]):
                    continue
                base_size = len(set(pa) | set(na))
                for _order, T, fits in _cliques(
                    t0,
                    na,
                    adjacent,
                    lambda t, y=y: not forbidden[t, y],
                    lambda S, n0=base_size: n0 + len(S) + 1 <= limit,
                ):
                    if not fits:
                        continue
                    base = set(pa) | set(na) | set(T)
                    delta = s(y, base | {x}) - s(y, base)
                    if not delta > 0 or (best is not None and not delta > best[0]):
                        continue
                    if unblocked_path(y, x, na + T):
                        continue
                    best = (delta, x, y, T)
        return best

    def best_delete():
        best = None
        for y in range(d):
            pa, ne = parents(y), neighbors(y)
            for x in sorted(set(pa) | set(ne)):
                if required[x, y] or required[y, x]:
                    continue
                na = [t for t in ne if t != x and adjacent(x, t)]
                for _order, C, _ in _cliques(na, [], adjacent, lambda t: True, lambda S: True):
                    H = [h for h in na if h not in C]
                    if any(forbidden[y, h] or (undirected(x, h) and forbidden[x, h]) for h in H):
                        continue
                    base = (set(pa) | set(C)) - {x}
                    delta = s(y, base) - s(y, base | {x})
                    if delta > 0 and (best is None or delta > best[0]):
                        best = (delta, x, y, H)
        return best

    def best_turn(D):
        best = None
        for a in range(d):
            for b in range(d):
                if not D[a, b] or forbidden[b, a] or required[a, b]:
                    continue
                pa_a, pa_b = set(np.flatnonzero(D[:, a])), set(np.flatnonzero(D[:, b]))
                if len(pa_a) + 1 > limit:
                    continue
                sa, sb = s(a, pa_a), s(b, pa_b)
                delta = s(a, pa_a | {b}) + s(b, pa_b - {a}) - sa - sb
                # A covered edge's reversal keeps the class: its delta is 0 up to rounding.
                if not delta > 1e-9 * (1 + abs(sa) + abs(sb)) or (
                    best is not None and not delta > best[0]
                ):
                    continue
                E = D.copy()
                E[a, b], E[b, a] = False, True
                if find_cycle(E) is None:
                    best = (delta, a, b, E)
        return best

    def run_phases():
        nonlocal P, total
        if forward:
            while (op := best_insert()) is not None:
                delta, x, y, T = op
                P = P.copy()
                P[x, y], P[y, x] = True, False
                for t in T:
                    P[y, t] = False
                P = _normalise(P, forbidden, required)
                total += delta
                history.append(("insert", x, y, T, delta))
        if backward:
            while (op := best_delete()) is not None:
                delta, x, y, H = op
                P = P.copy()
                P[x, y] = P[y, x] = False
                for h in H:
                    if P[y, h] and P[h, y]:
                        P[h, y] = False
                    if P[x, h] and P[h, x]:
                        P[h, x] = False
                P = _normalise(P, forbidden, required)
                total += delta
                history.append(("delete", x, y, H, delta))

    run_phases()
    while turning:
        n_turns = 0
        D = pdag_to_dag(P).astype(bool)  # one extension per pass, then kept with each reversal
        while (op := best_turn(D)) is not None:
            delta, a, b, D = op
            P = _normalise(D, forbidden, required)
            total += delta
            history.append(("turn", b, a, [], delta))
            n_turns += 1
        if n_turns == 0:
            break
        run_phases()
    return P.astype(np.uint8), float(total), history
