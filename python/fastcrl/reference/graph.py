"""Reference graph algorithms (NumPy / networkx, slow and plain).

Each function follows its paper step by step, with no data structure cleverness, so that the C++
kernels behind :mod:`fastcrl.graph` can be checked against it.  The CPDAG is computed with a
different algorithm than the kernel's (Chickering's edge labelling here, v-structures + Meek's rules
there), so agreement between the two is a real cross-check.

Adjacency convention: ``A[i, j] != 0`` means ``i -> j``; in a PDAG/CPDAG the undirected edge
``i -- j`` is ``A[i, j] = A[j, i] = 1``.  Inputs are assumed valid (square, 0/1, no self-loops);
outputs are ``int8`` 0/1 matrices.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np

__all__ = [
    "dag_to_cpdag",
    "find_cycle",
    "is_dag",
    "meek_orient",
    "pdag_to_dag",
    "topological_order",
    "transitive_closure",
    "v_structures",
]


def _pattern(A) -> np.ndarray:
    return np.asarray(A) != 0


def is_dag(A) -> bool:
    """True iff the digraph ``A`` (a symmetric pair is a 2-cycle) has no directed cycle."""
    return bool(nx.is_directed_acyclic_graph(nx.DiGraph(_pattern(A))))


def topological_order(A) -> np.ndarray:
    """Lexicographically smallest topological order (networkx's heap-based Kahn)."""
    G = nx.DiGraph(_pattern(A))
    try:
        return np.array(list(nx.lexicographical_topological_sort(G)), dtype=np.int64)
    except nx.NetworkXUnfeasible:
        raise ValueError("the graph has a directed cycle") from None


def find_cycle(A) -> list[int] | None:
    """A directed cycle as a node list ``[v0, ..., vk]`` (``vk -> v0`` closes it), or None."""
    try:
        arcs = nx.find_cycle(nx.DiGraph(_pattern(A)))
    except nx.NetworkXNoCycle:
        return None
    return [int(u) for u, _ in arcs]


def transitive_closure(A, reflexive: bool = False) -> np.ndarray:
    """Warshall's algorithm: ``R[i, j]`` iff a directed path of length >= 1 leads from i to j."""
    R = _pattern(A).copy()
    for k in range(R.shape[0]):
        R |= np.outer(R[:, k], R[k, :])
    if reflexive:
        np.fill_diagonal(R, True)
    return R


def v_structures(A) -> np.ndarray:
    """All ``(a, b, c)`` with ``a -> b <- c`` directed, ``a < c``, a and c not adjacent; sorted."""
    P = _pattern(A)
    directed = P & ~P.T
    adjacent = P | P.T
    found = []
    for b in range(P.shape[0]):
        parents = np.flatnonzero(directed[:, b])
        for a, c in itertools.combinations(parents, 2):
            if not adjacent[a, c]:
                found.append((a, b, c))
    return np.array(sorted(found), dtype=np.int64).reshape(-1, 3)


def dag_to_cpdag(A) -> np.ndarray:
    """CPDAG of a DAG by Chickering's (1995) Order-Edges and Find-Compelled procedures."""
    A = _pattern(A)
    rank = np.empty(A.shape[0], dtype=np.int64)
    rank[topological_order(A)] = np.arange(A.shape[0])
    # Order-Edges: heads by increasing topological rank, tails of one head by decreasing rank.
    ordered = [
        (x, y)
        for y in np.argsort(rank)
        for x in sorted(np.flatnonzero(A[:, y]), key=lambda p: -rank[p])
    ]
    label: dict[tuple[int, int], str | None] = {e: None for e in ordered}

    def into(y):
        return [(z, y) for z in np.flatnonzero(A[:, y])]

    for x, y in ordered:
        if label[(x, y)] is not None:
            continue
        done = False
        for w in np.flatnonzero(A[:, x]):
            if label[(w, x)] != "compelled":
                continue
            if not A[w, y]:
                for e in into(y):
                    label[e] = "compelled"
                done = True
                break
            label[(w, y)] = "compelled"
        if done:
            continue
        others = [z for z in np.flatnonzero(A[:, y]) if z != x and not A[z, x]]
        mark = "compelled" if others else "reversible"
        label[(x, y)] = mark
        for e in into(y):
            if label[e] is None:
                label[e] = mark
    C = np.zeros(A.shape, dtype=np.int8)
    for (x, y), mark in label.items():
        C[x, y] = 1
        if mark == "reversible":
            C[y, x] = 1
    return C


def _meek_implies(P: np.ndarray, x: int, y: int) -> bool:
    """Does one of Meek's rules R1–R4 orient the undirected edge ``x -- y`` as ``x -> y``?"""
    d = P.shape[0]

    def directed(a, b):
        return P[a, b] and not P[b, a]

    def undirected(a, b):
        return P[a, b] and P[b, a]

    def adjacent(a, b):
        return P[a, b] or P[b, a]

    nodes = [c for c in range(d) if c not in (x, y)]
    # R1: c -> x -- y, c and y not adjacent.
    if any(directed(c, x) and not adjacent(c, y) for c in nodes):
        return True
    # R2: x -> c -> y.
    if any(directed(x, c) and directed(c, y) for c in nodes):
        return True
    # R3: x -- c -> y, x -- e -> y, c and e not adjacent.
    mids = [c for c in nodes if undirected(x, c) and directed(c, y)]
    if any(not adjacent(c, e) for c, e in itertools.combinations(mids, 2)):
        return True
    # R4: x -- k -> l -> y, x adjacent to l, k and y not adjacent.
    for l_ in nodes:
        if directed(l_, y) and adjacent(x, l_):
            for k in nodes:
                if k != l_ and undirected(x, k) and directed(k, l_) and not adjacent(k, y):
                    return True
    return False


def meek_orient(A) -> np.ndarray:
    """Meek's rules R1–R4, one orientation at a time, rescanning all edges until none fires."""
    P = _pattern(A).copy()
    d = P.shape[0]
    changed = True
    while changed:
        changed = False
        for x, y in itertools.permutations(range(d), 2):
            if P[x, y] and P[y, x] and _meek_implies(P, x, y):
                P[y, x] = False
                changed = True
    return P.astype(np.int8)


def pdag_to_dag(A) -> np.ndarray:
    """Dor & Tarsi (1992): repeatedly remove the smallest node that is a sink whose undirected
    neighbours are adjacent to all its other neighbours, orienting its undirected edges into it.

    Raises ValueError when no node qualifies (the PDAG has no consistent extension).
    """
    P = _pattern(A)
    dag = P.copy()
    alive = np.ones(P.shape[0], dtype=bool)
    adjacent = P | P.T
    while alive.any():
        for x in np.flatnonzero(alive):
            if (P[x] & ~P[:, x] & alive).any():  # an outgoing directed edge: not a sink
                continue
            nbrs = np.flatnonzero(adjacent[x] & alive)
            und = np.flatnonzero(P[x] & P[:, x] & alive)
            if all(adjacent[y, [n for n in nbrs if n != y]].all() for y in und):
                dag[x, und] = False
                alive[x] = False
                break
        else:
            raise ValueError(
                f"no consistent extension; stuck at nodes {np.flatnonzero(alive).tolist()}"
            )
    return dag.astype(np.int8)
