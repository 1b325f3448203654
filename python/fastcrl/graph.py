"""Causal graphs: one :class:`Graph` type (DAG, CPDAG, PDAG) and the algorithms on them.

Adjacency convention everywhere in fastcrl: ``A[i, j] != 0`` means the edge ``i -> j``.  In a
PDAG or CPDAG matrix the undirected edge ``i -- j`` is ``A[i, j] = A[j, i] = 1`` and the directed
edge ``i -> j`` is ``A[i, j] = 1, A[j, i] = 0``.

The module-level functions work on plain adjacency matrices and run C++ kernels (cycle check and
topological sort, reachability, Meek's rules, DAG -> CPDAG, consistent extension), fast enough for
graphs with thousands of nodes.  Functions on directed graphs accept weighted matrices (nonzero =
edge); functions whose input encodes undirected edges (:func:`meek_orient`, :func:`pdag_to_dag`,
:func:`is_cpdag`) need a 0/1 pattern.  Pattern outputs are ``int8`` 0/1 matrices.

:class:`Graph` adds node names and converters: adjacency matrices (ours, lingam's transpose and
causal-learn's endpoint encoding), networkx, edge lists, DOT and JSON.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from . import _core
from ._backend import is_device_array
from ._validation import check_option, check_square_matrix, node_names_from

__all__ = [
    "Graph",
    "dag_to_cpdag",
    "find_cycle",
    "is_cpdag",
    "is_dag",
    "meek_orient",
    "pdag_to_dag",
    "reachability",
    "skeleton",
    "topological_order",
    "transitive_closure",
    "v_structures",
]

KINDS = ("dag", "cpdag", "pdag")
DIRECTED = "->"
UNDIRECTED = "--"
_EDGE_TYPES = (DIRECTED, UNDIRECTED)


# --------------------------------------------------------------------------------------------------
# Input checks and conversions
# --------------------------------------------------------------------------------------------------


def _as_matrix(A: Any, name: str) -> np.ndarray:
    """A square host matrix with at least one node; ints/bools kept as is, floats checked finite."""
    if is_device_array(A):
        raise TypeError(
            f"{name} is a GPU array, but graph functions run on the host; pass cupy.asnumpy({name})"
        )
    if hasattr(A, "toarray") and hasattr(A, "nnz"):  # scipy.sparse
        A = A.toarray()
    M = np.asarray(A)
    if M.dtype.kind in "biu":
        if M.ndim != 2 or M.shape[0] != M.shape[1]:
            raise ValueError(f"{name} must be a square matrix (d, d); got shape {M.shape}")
        if M.shape[0] < 1:
            raise ValueError(f"{name} must have at least one node; got shape {M.shape}")
        return M
    # Floats (and everything else, which it rejects with a TypeError) go through the shared check.
    return check_square_matrix(M, name)


def _pattern_of(M: np.ndarray, name: str, *, binary: bool, self_loops: bool = False) -> np.ndarray:
    """The 0/1 ``uint8`` C-contiguous pattern the kernels take (a view of ``M`` when ``M`` already
    is a one-byte 0/1 matrix, so large patterns are not copied)."""
    if M.dtype == bool or (
        M.dtype.itemsize == 1 and M.dtype.kind in "iu" and M.min() >= 0 and M.max() <= 1
    ):
        P = np.ascontiguousarray(M).view(np.uint8)
    else:
        P = np.ascontiguousarray(M != 0).view(np.uint8)
        bad = P.view(bool) & (M != 1) if binary else None
        if bad is not None and bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{name} must be a 0/1 adjacency pattern; got {M[i, j].item()!r} at ({i}, {j}). "
                f"Pass ({name} != 0) to use the nonzero pattern of a weighted matrix"
            )
    if not self_loops:
        loops = np.flatnonzero(np.diagonal(P))
        if loops.size:
            raise ValueError(
                f"{name} has self-loops (nonzero diagonal) at nodes {loops[:10].tolist()}; "
                "graphs here have none"
            )
    return P


def _pattern(A: Any, name: str = "A", *, binary: bool, self_loops: bool = False) -> np.ndarray:
    return _pattern_of(_as_matrix(A, name), name, binary=binary, self_loops=self_loops)


def _cycle_text(cycle: Sequence[Any]) -> str:
    return " -> ".join(str(v) for v in [*cycle, cycle[0]])


def _require_acyclic(
    P: np.ndarray, name: str, *, directed_only: bool, names=None, what="a DAG"
) -> None:
    cycle = _core.find_cycle(P, directed_only)
    if cycle:
        if names is not None:
            cycle = [names[v] for v in cycle]
        if directed_only:
            raise ValueError(
                f"the directed edges of {name} form the cycle {_cycle_text(cycle)}; "
                f"{what} must be acyclic"
            )
        raise ValueError(
            f"{name} has the directed cycle {_cycle_text(cycle)}; {what} must be acyclic"
        )


def _int8(P: np.ndarray) -> np.ndarray:
    return P.view(np.int8)


# --------------------------------------------------------------------------------------------------
# Functions on adjacency matrices
# --------------------------------------------------------------------------------------------------


def is_dag(A: Any) -> bool:
    """Whether the directed graph ``A`` has no directed cycle.

    Parameters
    ----------
    A : array_like of shape (n_nodes, n_nodes)
        Adjacency matrix, ``A[i, j] != 0`` means ``i -> j``; weighted matrices are fine.  A
        symmetric pair ``A[i, j], A[j, i] != 0`` is a 2-cycle and a nonzero diagonal entry a
        self-loop, so neither is a DAG.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        If ``A`` is not square or contains NaN/inf.

    Notes
    -----
    Kahn's algorithm on the dense matrix in C++, O(d^2).

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.graph import is_dag
    >>> is_dag(np.array([[0, 1], [0, 0]])), is_dag(np.array([[0, 1], [1, 0]]))
    (True, False)
    """
    P = _pattern(A, binary=False, self_loops=True)
    return len(_core.topological_sort(P)) == P.shape[0]


def topological_order(A: Any) -> np.ndarray:
    """The lexicographically smallest topological order of the DAG ``A``.

    Parameters
    ----------
    A : array_like of shape (n_nodes, n_nodes)
        Adjacency matrix of a DAG, ``A[i, j] != 0`` means ``i -> j``; weighted matrices are fine.

    Returns
    -------
    order : ndarray of shape (n_nodes,), int64
        Every edge ``i -> j`` has ``i`` before ``j``; among the valid orders, the one that always
        takes the smallest available node.

    Raises
    ------
    ValueError
        If ``A`` is not square, has NaN/inf, or has a directed cycle (named in the message).

    Notes
    -----
    Kahn's algorithm with a min-heap in C++, O(d^2 + d log d).

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.graph import topological_order
    >>> topological_order(np.array([[0, 0, 0], [1, 0, 1], [1, 0, 0]]))
    array([1, 2, 0])
    """
    P = _pattern(A, binary=False, self_loops=True)
    order = _core.topological_sort(P)
    if len(order) < P.shape[0]:
        _require_acyclic(P, "A", directed_only=False)
    return order


def find_cycle(A: Any) -> list[int] | None:
    """A directed cycle of ``A``, or None when ``A`` is acyclic.

    Parameters
    ----------
    A : array_like of shape (n_nodes, n_nodes)
        Adjacency matrix, ``A[i, j] != 0`` means ``i -> j``; weighted matrices are fine.  A
        symmetric pair is a 2-cycle, a nonzero diagonal entry a cycle of length 1.

    Returns
    -------
    cycle : list of int or None
        Nodes ``[v0, v1, ..., vk]`` with edges ``v0 -> v1 -> ... -> vk -> v0``.

    Raises
    ------
    ValueError
        If ``A`` is not square or contains NaN/inf.

    Notes
    -----
    Depth-first search in C++, O(d^2).

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.graph import find_cycle
    >>> find_cycle(np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]]))
    [0, 1, 2]
    >>> find_cycle(np.eye(2, k=1)) is None
    True
    """
    cycle = _core.find_cycle(_pattern(A, binary=False, self_loops=True), False)
    return [int(v) for v in cycle] if cycle else None


def transitive_closure(A: Any, *, reflexive: bool = False) -> np.ndarray:
    """Reachability: which nodes each node reaches along directed paths.

    Parameters
    ----------
    A : array_like of shape (n_nodes, n_nodes)
        Adjacency matrix, ``A[i, j] != 0`` means ``i -> j``; weighted matrices and cycles are fine.
    reflexive : bool, default=False
        Count every node as reaching itself (paths of length 0).

    Returns
    -------
    R : ndarray of shape (n_nodes, n_nodes), bool
        ``R[i, j]`` iff there is a directed path ``i -> ... -> j`` of length >= 1, so ``R[i, i]``
        is True only on a cycle unless ``reflexive``.  Row ``i`` is the set of descendants of
        ``i``, column ``j`` the set of ancestors of ``j``.

    Raises
    ------
    ValueError
        If ``A`` is not square or contains NaN/inf.

    Notes
    -----
    One bitset search per source node, parallel over sources (OpenMP), O(d (e + d^2/64)) at worst.
    :func:`reachability` is the same function.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.graph import transitive_closure
    >>> transitive_closure(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])).astype(int)
    array([[0, 1, 1],
           [0, 0, 1],
           [0, 0, 0]])
    """
    P = _pattern(A, binary=False, self_loops=True)
    return _core.transitive_closure(P, bool(reflexive)).view(bool)


reachability = transitive_closure


def skeleton(A: Any) -> np.ndarray:
    """The undirected skeleton of a graph.

    Parameters
    ----------
    A : array_like of shape (n_nodes, n_nodes)
        Adjacency matrix (DAG, PDAG or CPDAG convention); nonzero entries are edges.

    Returns
    -------
    S : ndarray of shape (n_nodes, n_nodes), int8
        Symmetric 0/1: ``S[i, j] = S[j, i] = 1`` iff ``i`` and ``j`` are adjacent.

    Raises
    ------
    ValueError
        If ``A`` is not square, has NaN/inf or self-loops.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.graph import skeleton
    >>> skeleton(np.array([[0, 1], [0, 0]]))
    array([[0, 1],
           [1, 0]], dtype=int8)
    """
    P = _pattern(A, binary=False).view(bool)
    return (P | P.T).view(np.int8)


def v_structures(A: Any) -> np.ndarray:
    """The v-structures (unshielded colliders) ``a -> b <- c`` of a DAG or PDAG.

    Parameters
    ----------
    A : array_like of shape (n_nodes, n_nodes)
        Adjacency matrix in the PDAG convention (a DAG is a PDAG); nonzero entries are edges.  Only
        directed edges form v-structures.

    Returns
    -------
    triples : ndarray of shape (n_v_structures, 3), int64
        Rows ``(a, b, c)`` with ``a -> b <- c``, ``a < c`` and ``a``, ``c`` not adjacent, sorted.

    Raises
    ------
    ValueError
        If ``A`` is not square, has NaN/inf or self-loops.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.graph import v_structures
    >>> v_structures(np.array([[0, 1, 0], [0, 0, 0], [0, 1, 0]]))
    array([[0, 1, 2]])
    """
    P = _pattern(A, binary=False).view(bool)
    directed = P & ~P.T
    adjacent = P | P.T
    found = []
    for b in np.flatnonzero(directed.sum(axis=0) >= 2):
        pa = np.flatnonzero(directed[:, b])
        ia, ic = np.nonzero(np.triu(~adjacent[np.ix_(pa, pa)], k=1))
        if ia.size:
            found.append(np.column_stack([pa[ia], np.full(ia.size, b), pa[ic]]))
    if not found:
        return np.zeros((0, 3), dtype=np.int64)
    triples = np.concatenate(found).astype(np.int64)
    return triples[np.lexsort((triples[:, 2], triples[:, 1], triples[:, 0]))]


def dag_to_cpdag(A: Any) -> np.ndarray:
    """The CPDAG (essential graph) of a DAG: its Markov equivalence class.

    Parameters
    ----------
    A : array_like of shape (n_nodes, n_nodes)
        Adjacency matrix of a DAG, ``A[i, j] != 0`` means ``i -> j``; weighted matrices are fine.

    Returns
    -------
    C : ndarray of shape (n_nodes, n_nodes), int8
        0/1 CPDAG: ``C[i, j] = 1, C[j, i] = 0`` for an edge ``i -> j`` that every DAG of the class
        shares (compelled), ``C[i, j] = C[j, i] = 1`` for a reversible edge.

    Raises
    ------
    ValueError
        If ``A`` is not square, has NaN/inf, self-loops or a directed cycle (named in the message).

    Notes
    -----
    Keeps the v-structures directed, makes every other edge undirected and applies Meek's rules to
    closure, which yields the CPDAG (Meek 1995, Theorem 3).  The rules run from a work list, so
    a sparse graph with thousands of nodes takes milliseconds.  The reference implementation
    (:func:`fastcrl.reference.graph.dag_to_cpdag`) uses Chickering's edge labelling instead.

    References
    ----------
    C. Meek, "Causal inference and causal explanation with background knowledge", UAI 1995.
    D. M. Chickering, "A transformational characterization of equivalent Bayesian network
    structures", UAI 1995.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.graph import dag_to_cpdag
    >>> dag_to_cpdag(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]))  # a chain: all reversible
    array([[0, 1, 0],
           [1, 0, 1],
           [0, 1, 0]], dtype=int8)
    >>> dag_to_cpdag(np.array([[0, 1, 0], [0, 0, 0], [0, 1, 0]]))  # a collider stays
    array([[0, 1, 0],
           [0, 0, 0],
           [0, 1, 0]], dtype=int8)
    """
    P = _pattern(A, binary=False)
    _require_acyclic(P, "A", directed_only=False)
    return _int8(_core.dag_to_cpdag(P))


def meek_orient(A: Any) -> np.ndarray:
    """Orient a PDAG maximally with Meek's rules R1–R4, applied until none fires.

    Parameters
    ----------
    A : array_like of shape (n_nodes, n_nodes)
        0/1 PDAG: ``A[i, j] = 1, A[j, i] = 0`` for ``i -> j``, ``A[i, j] = A[j, i] = 1`` for
        ``i -- j``.  Its directed edges must not form a cycle.

    Returns
    -------
    M : ndarray of shape (n_nodes, n_nodes), int8
        The input with every undirected edge that the rules orient made directed.  Applying
        ``meek_orient`` again changes nothing.

    Raises
    ------
    ValueError
        If ``A`` is not square, not 0/1, has NaN/inf, self-loops or a directed cycle.

    Notes
    -----
    The rules, each orienting ``x -- y`` as ``x -> y``: R1 ``c -> x`` with ``c``, ``y`` not
    adjacent; R2 ``x -> c -> y``; R3 ``x -- c -> y`` and ``x -- e -> y`` with ``c``, ``e`` not
    adjacent; R4 ``x -- k -> l -> y`` with ``x``, ``l`` adjacent and ``k``, ``y`` not adjacent.
    Each is sound for a PDAG that has a consistent extension, and together they are complete for a
    CPDAG with background orientations (the result is then the maximally oriented PDAG).  The C++
    kernel keeps a work list of undirected edges and re-checks only those next to a newly oriented
    edge; rule premises are word-parallel bitset operations.  If the PDAG has no consistent
    extension the rules may conflict; the first orientation found wins.

    References
    ----------
    C. Meek, "Causal inference and causal explanation with background knowledge", UAI 1995.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.graph import meek_orient
    >>> P = np.array([[0, 1, 0], [0, 0, 1], [0, 1, 0]])  # 0 -> 1 -- 2, 0 and 2 not adjacent
    >>> meek_orient(P)  # R1 orients 1 -> 2
    array([[0, 1, 0],
           [0, 0, 1],
           [0, 0, 0]], dtype=int8)
    """
    P = _pattern(A, binary=True)
    _require_acyclic(P, "A", directed_only=True, what="a PDAG")
    return _int8(_core.meek_orient(P))


def _extend(P: np.ndarray, name: str, names=None) -> np.ndarray:
    _require_acyclic(P, name, directed_only=True, names=names, what="a PDAG")
    dag, left = _core.pdag_to_dag(P)
    if left:
        stuck = [names[v] for v in left] if names is not None else left
        raise ValueError(
            f"{name} has no consistent DAG extension: every way of orienting its undirected edges "
            "creates a directed cycle or a v-structure it does not have (Dor & Tarsi's procedure "
            f"found no removable node among {stuck[:20]}{' ...' if len(stuck) > 20 else ''})"
        )
    return dag


def pdag_to_dag(A: Any) -> np.ndarray:
    """A DAG consistent with a PDAG (Dor & Tarsi 1992).

    Parameters
    ----------
    A : array_like of shape (n_nodes, n_nodes)
        0/1 PDAG (or CPDAG): ``A[i, j] = 1, A[j, i] = 0`` for ``i -> j``, ``A[i, j] = A[j, i] = 1``
        for ``i -- j``.

    Returns
    -------
    D : ndarray of shape (n_nodes, n_nodes), int8
        A DAG with the same skeleton, the same directed edges and the same v-structures as ``A``.
        For a CPDAG, ``D`` is a member of its Markov equivalence class.

    Raises
    ------
    ValueError
        If ``A`` is not square, not 0/1, has NaN/inf or self-loops, its directed edges form a cycle,
        or no consistent extension exists.

    Notes
    -----
    Repeatedly removes a node ``x`` that has no outgoing directed edge and whose undirected
    neighbours are each adjacent to all other neighbours of ``x``, orienting its undirected edges
    into ``x``; the smallest such node is taken, so the result is deterministic.  Only neighbours of
    a removed node are re-examined.

    References
    ----------
    D. Dor and M. Tarsi, "A simple algorithm to construct a consistent extension of a partially
    oriented graph", Technical Report R-185, UCLA Cognitive Systems Laboratory, 1992.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.graph import pdag_to_dag
    >>> pdag_to_dag(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]))  # 0 -- 1 -- 2
    array([[0, 0, 0],
           [1, 0, 0],
           [0, 1, 0]], dtype=int8)
    """
    return _int8(_extend(_pattern(A, binary=True), "A"))


def _cpdag_problem(P: np.ndarray, names) -> str | None:
    """Why the acyclic-directed 0/1 PDAG ``P`` is not a CPDAG, or None if it is one."""
    dag, left = _core.pdag_to_dag(P)
    if left:
        return "it has no consistent DAG extension"
    C = _core.dag_to_cpdag(dag)
    diff = np.argwhere(C != P)
    if diff.size == 0:
        return None
    i, j = diff[0]
    if P[i, j]:  # P has i -- j, the CPDAG has j -> i
        a, b = sorted((i, j))
        return (
            f"the edge {names[a]} -- {names[b]} is {names[j]} -> {names[i]} "
            "in every DAG of its class"
        )
    return (
        f"the edge {names[j]} -> {names[i]} is reversible within its class and must be undirected"
    )


def is_cpdag(A: Any) -> bool:
    """Whether ``A`` is the CPDAG of some DAG.

    Parameters
    ----------
    A : array_like of shape (n_nodes, n_nodes)
        0/1 matrix in the PDAG convention.

    Returns
    -------
    bool
        True iff ``A`` has a consistent DAG extension whose CPDAG is ``A`` itself.

    Raises
    ------
    ValueError
        If ``A`` is not square, not 0/1, has NaN/inf or self-loops.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.graph import is_cpdag
    >>> is_cpdag(np.array([[0, 1], [1, 0]])), is_cpdag(np.array([[0, 1], [0, 0]]))
    (True, False)
    """
    P = _pattern(A, binary=True)
    if _core.find_cycle(P, True):
        return False
    return _cpdag_problem(P, range(P.shape[0])) is None


# --------------------------------------------------------------------------------------------------
# The Graph type
# --------------------------------------------------------------------------------------------------


def _resolve_kind(P: np.ndarray, names: Sequence[str], kind: str | None) -> str:
    """Check that the pattern ``P`` is a valid graph of ``kind`` (inferred when None)."""
    if kind is not None:
        kind = check_option(kind, "kind", KINDS)
    undirected = np.argwhere(np.triu(P & P.T, k=1))
    if kind == "dag" and undirected.size:
        i, j = undirected[0]
        raise ValueError(
            f"kind='dag' but the graph has {len(undirected)} undirected edge(s), e.g. "
            f"{names[i]} -- {names[j]}"
        )
    _require_acyclic(P, "graph", directed_only=True, names=names, what=f"a {kind or 'graph'}")
    if kind is None:
        if not undirected.size:
            return "dag"
        return "cpdag" if _cpdag_problem(P, names) is None else "pdag"
    if kind == "cpdag":
        problem = _cpdag_problem(P, names)
        if problem is not None:
            raise ValueError(f"kind='cpdag' but the graph is not a CPDAG: {problem}")
    return kind


def _weights_of(M: np.ndarray, P: np.ndarray, name: str, names: Sequence[str]) -> np.ndarray | None:
    """Float weights of a weighted adjacency matrix, or None for a 0/1 one."""
    if M.dtype == bool or not (P.view(bool) & (M != 1)).any():
        return None
    W = np.array(M, dtype=np.float64)
    asym = np.argwhere(np.triu(P.view(bool) & P.T.view(bool) & (W != W.T), k=1))
    if asym.size:
        i, j = asym[0]
        raise ValueError(
            f"{name} has nonzero entries in both directions between {names[i]} and {names[j]} "
            f"({W[i, j].item()!r} and {W[j, i].item()!r}), which is the undirected edge "
            f"{names[i]} -- {names[j]}; an undirected edge needs the same weight both ways"
        )
    return W


class Graph:
    """A causal graph: a DAG, a CPDAG or a PDAG, with named nodes.

    Directed edges ``u -> v`` and undirected edges ``u -- v``; no self-loops, at most one edge per
    pair of nodes, and the directed edges never form a cycle.  A Graph is immutable: the methods
    return new graphs.

    Parameters
    ----------
    nodes : int or sequence of str
        The number of nodes (named ``X0 .. X{d-1}``) or their names (unique; converted to str).
    edges : iterable of tuple, default=()
        ``(src, dst)`` or ``(src, dst, type)`` with ``type`` ``"->"`` (default) or ``"--"``.
        Endpoints are node names, or integer positions.
    kind : {"dag", "cpdag", "pdag"} or None, default=None
        What the graph must be: ``"dag"`` (directed, acyclic), ``"cpdag"`` (the essential graph of
        a Markov equivalence class) or ``"pdag"`` (any mix whose directed edges are acyclic).
        None infers it: ``"dag"`` without undirected edges, else ``"cpdag"`` when the graph is
        one, else ``"pdag"``.
    weights : sequence of float, optional
        One nonzero weight per edge, in the order of ``edges``.

    Raises
    ------
    ValueError
        Unknown or duplicated nodes, self-loops, two edges between one pair of nodes, an unknown
        edge type, a directed cycle (named), or a graph that is not of the requested ``kind``.

    Notes
    -----
    The adjacency convention: ``to_adjacency()[i, j] != 0`` means ``i -> j``; an undirected edge
    sets both ``[i, j]`` and ``[j, i]``.  ``to_lingam`` gives the transpose (lingam's ``B[i, j]``
    means ``j -> i``), ``to_causallearn`` causal-learn's endpoint marks.  Graphs derived by
    :meth:`to_cpdag`, :meth:`to_dag`, :meth:`meek_orient` and :meth:`skeleton` carry no weights.

    Examples
    --------
    >>> from fastcrl.graph import Graph
    >>> g = Graph(["A", "B", "C"], [("A", "B"), ("C", "B")])
    >>> g
    Graph(['A', 'B', 'C'], [('A', 'B', '->'), ('C', 'B', '->')], kind='dag')
    >>> g.parents("B"), g.v_structures()
    (['A', 'C'], [('A', 'B', 'C')])
    >>> Graph(3, [("X0", "X1"), ("X1", "X2")]).to_cpdag().to_edges()
    [('X0', 'X1', '--'), ('X1', 'X2', '--')]
    """

    __slots__ = ("_P", "_nodes", "_index", "_kind", "_weights", "_directed")
    __hash__ = None  # type: ignore[assignment]

    def __init__(
        self,
        nodes: int | Sequence[str],
        edges: Iterable[Sequence[Any]] = (),
        *,
        kind: str | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        if isinstance(nodes, numbers.Integral) and not isinstance(nodes, bool):
            if int(nodes) < 1:
                raise ValueError(
                    f"nodes must be a positive number of nodes or a list of names; got {nodes}"
                )
            names = node_names_from(None, int(nodes))
        elif isinstance(nodes, (str, bytes)) or not isinstance(nodes, Iterable):
            raise TypeError(
                f"nodes must be an int or a sequence of names; got {type(nodes).__name__}"
            )
        else:
            nodes = list(nodes)
            if not nodes:
                raise ValueError("nodes must not be empty")
            names = node_names_from(None, len(nodes), nodes)
        index = {n: i for i, n in enumerate(names)}
        d = len(names)
        P = np.zeros((d, d), dtype=np.uint8)
        edge_list = [tuple(e) for e in edges]
        W = None
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64).ravel()
            if weights.size != len(edge_list):
                raise ValueError(
                    f"weights must have one entry per edge ({len(edge_list)}); got {weights.size}"
                )
            if not np.all(np.isfinite(weights)) or np.any(weights == 0):
                raise ValueError("weights must be finite and nonzero (a zero weight means no edge)")
            W = np.zeros((d, d), dtype=np.float64)
        for k, e in enumerate(edge_list):
            if len(e) == 2:
                (u, v), t = e, DIRECTED
            elif len(e) == 3:
                u, v, t = e
            else:
                raise ValueError(f"each edge must be (src, dst) or (src, dst, type); got {e!r}")
            if t not in _EDGE_TYPES:
                raise ValueError(
                    f"unknown edge type {t!r} in {e!r}; expected one of {list(_EDGE_TYPES)}"
                )
            i, j = _lookup(index, names, u), _lookup(index, names, v)
            if i == j:
                raise ValueError(f"self-loop {names[i]} {t} {names[j]}; graphs here have none")
            if P[i, j] or P[j, i]:
                raise ValueError(f"more than one edge between {names[i]} and {names[j]} (at {e!r})")
            P[i, j] = 1
            if t == UNDIRECTED:
                P[j, i] = 1
            if W is not None:
                W[i, j] = weights[k]
                if t == UNDIRECTED:
                    W[j, i] = weights[k]
        self._init(P, names, _resolve_kind(P, names, kind), W)

    def _init(self, P: np.ndarray, names: Sequence[str], kind: str, W: np.ndarray | None) -> None:
        P = np.ascontiguousarray(P, dtype=np.uint8)
        P.flags.writeable = False
        if W is not None:
            W.flags.writeable = False
        self._P = P
        self._nodes = tuple(names)
        self._index = {n: i for i, n in enumerate(self._nodes)}
        self._kind = kind
        self._weights = W
        self._directed = None

    @classmethod
    def _new(
        cls, P: np.ndarray, names: Sequence[str], kind: str, W: np.ndarray | None = None
    ) -> Graph:
        g = cls.__new__(cls)
        g._init(P, names, kind, W)
        return g

    # ---- basic properties ------------------------------------------------------------------------

    @property
    def nodes(self) -> tuple[str, ...]:
        """Node names, in matrix order."""
        return self._nodes

    @property
    def kind(self) -> str:
        """``"dag"``, ``"cpdag"`` or ``"pdag"``."""
        return self._kind

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self._nodes)

    @property
    def n_edges(self) -> int:
        """Number of edges; an undirected edge counts once."""
        n_arcs = int(np.count_nonzero(self._P))
        n_und = int(np.count_nonzero(self._P & self._P.T)) // 2
        return n_arcs - n_und

    @property
    def weights(self) -> np.ndarray | None:
        """Edge weights as a (n_nodes, n_nodes) float64 matrix (our convention), or None."""
        return None if self._weights is None else self._weights.copy()

    def index(self, node: str | int) -> int:
        """Matrix position of ``node`` (a name, or an integer position that is checked)."""
        return _lookup(self._index, self._nodes, node)

    def edges(self) -> Iterator[tuple[str, str, str]]:
        """Iterate over the edges as ``(src, dst, "->")`` or ``(u, v, "--")``.

        Row-major order of the adjacency matrix; an undirected edge appears once, with ``u`` the
        earlier node.
        """
        P = self._P
        names = self._nodes
        for i, j in zip(*np.nonzero(P), strict=True):
            if not P[j, i]:
                yield names[i], names[j], DIRECTED
            elif i < j:
                yield names[i], names[j], UNDIRECTED

    def to_edges(self) -> list[tuple[str, str, str]]:
        """The edges as a list (see :meth:`edges`); the edge-list format of :meth:`from_edges`."""
        return list(self.edges())

    def has_edge(self, u: str | int, v: str | int) -> bool:
        """True if ``u -> v`` or ``u -- v``."""
        return bool(self._P[self.index(u), self.index(v)])

    # ---- local structure -------------------------------------------------------------------------

    def _dir(self) -> np.ndarray:
        if self._directed is None:
            P = self._P.view(bool)
            self._directed = P & ~P.T
        return self._directed

    def _names(self, mask: np.ndarray) -> list[str]:
        return [self._nodes[i] for i in np.flatnonzero(mask)]

    def parents(self, node: str | int) -> list[str]:
        """Nodes ``p`` with a directed edge ``p -> node``, in node order."""
        return self._names(self._dir()[:, self.index(node)])

    def children(self, node: str | int) -> list[str]:
        """Nodes ``c`` with a directed edge ``node -> c``, in node order."""
        return self._names(self._dir()[self.index(node)])

    def neighbors(self, node: str | int) -> list[str]:
        """Nodes joined to ``node`` by an undirected edge, in node order."""
        i = self.index(node)
        return self._names(self._P[i] & self._P[:, i])

    def adjacent(self, node: str | int) -> list[str]:
        """Nodes joined to ``node`` by any edge, in node order."""
        i = self.index(node)
        return self._names(self._P[i] | self._P[:, i])

    def _reach(self, i: int, forward: bool) -> np.ndarray:
        D = self._dir() if forward else self._dir().T
        seen = np.zeros(self.n_nodes, dtype=bool)
        frontier = np.flatnonzero(D[i])
        while frontier.size:
            seen[frontier] = True
            frontier = np.flatnonzero(D[frontier].any(axis=0) & ~seen)
        return seen

    def descendants(self, node: str | int) -> list[str]:
        """Nodes reachable from ``node`` along directed edges (``node`` itself excluded)."""
        return self._names(self._reach(self.index(node), True))

    def ancestors(self, node: str | int) -> list[str]:
        """Nodes with a directed path to ``node`` (``node`` itself excluded)."""
        return self._names(self._reach(self.index(node), False))

    # ---- global structure ------------------------------------------------------------------------

    def is_dag(self) -> bool:
        """True when every edge is directed (the directed edges are always acyclic)."""
        return not bool((self._P & self._P.T).any())

    def topological_order(self) -> list[str]:
        """Node names in the lexicographically smallest topological order.

        Raises
        ------
        ValueError
            If the graph has undirected edges (use :meth:`to_dag` first).
        """
        if not self.is_dag():
            raise ValueError(
                f"topological_order needs a DAG; this {self._kind} has undirected edges "
                "(take a consistent extension with to_dag() first)"
            )
        return [self._nodes[i] for i in _core.topological_sort(self._P)]

    def v_structures(self) -> list[tuple[str, str, str]]:
        """The v-structures ``(a, b, c)``: ``a -> b <- c`` with ``a``, ``c`` not adjacent.

        ``a`` comes before ``c`` in node order; the list is sorted by node positions.
        """
        n = self._nodes
        return [(n[a], n[b], n[c]) for a, b, c in v_structures(self._P)]

    def skeleton(self) -> Graph:
        """The undirected skeleton, as a graph of kind ``"pdag"`` with only undirected edges."""
        return Graph._new(skeleton(self._P).view(np.uint8), self._nodes, "pdag")

    def to_cpdag(self) -> Graph:
        """The CPDAG of the graph's Markov equivalence class.

        For a PDAG, the class of its consistent extensions (they all share skeleton and
        v-structures).  Raises ValueError if a PDAG has no consistent extension.
        """
        if self._kind == "cpdag":
            return Graph._new(self._P, self._nodes, "cpdag")
        dag = self._P if self._kind == "dag" else _extend(self._P, "graph", self._nodes)
        return Graph._new(_core.dag_to_cpdag(dag), self._nodes, "cpdag")

    def to_dag(self) -> Graph:
        """A consistent DAG extension (Dor & Tarsi 1992); see :func:`pdag_to_dag`.

        Raises ValueError if none exists.
        """
        if self._kind == "dag":
            return Graph._new(self._P, self._nodes, "dag")
        return Graph._new(_extend(self._P, "graph", self._nodes), self._nodes, "dag")

    def meek_orient(self) -> Graph:
        """Orient undirected edges by Meek's rules R1–R4 to closure; see :func:`meek_orient`.

        A CPDAG or DAG is returned unchanged; a PDAG stays of kind ``"pdag"``.
        """
        if self._kind in ("dag", "cpdag"):
            return Graph._new(self._P, self._nodes, self._kind)
        return Graph._new(_core.meek_orient(self._P), self._nodes, "pdag")

    def copy(self) -> Graph:
        """A copy (graphs are immutable, so this is only for symmetry with other containers)."""
        return Graph._new(self._P, self._nodes, self._kind, self._weights)

    # ---- adjacency matrices ----------------------------------------------------------------------

    @classmethod
    def _from_matrix(cls, M: Any, name: str, names, kind: str | None, source: Any) -> Graph:
        M = _as_matrix(M, name)
        P = _pattern_of(M, name, binary=False)
        if np.may_share_memory(P, M):  # the graph must not change when the caller's array does
            P = P.copy()
        names = node_names_from(source, P.shape[0], names)
        W = _weights_of(M, P, name, names)
        return cls._new(P, names, _resolve_kind(P, names, kind), W)

    @classmethod
    def from_adjacency(
        cls, A: Any, names: Sequence[str] | None = None, kind: str | None = None
    ) -> Graph:
        """A graph from an adjacency matrix in our convention.

        Parameters
        ----------
        A : array_like of shape (n_nodes, n_nodes)
            ``A[i, j] != 0`` means ``i -> j``; nonzero in both directions is the undirected edge
            ``i -- j``.  Weighted matrices are fine (the weights are kept, and an undirected edge
            needs equal weights both ways); a DataFrame's columns become the node names.
        names : sequence of str, optional
            Node names; default the DataFrame columns, else ``X0 .. X{d-1}``.
        kind : {"dag", "cpdag", "pdag"} or None, default=None
            Required kind (checked), or None to infer it (see :class:`Graph`).

        Returns
        -------
        Graph

        Raises
        ------
        ValueError
            Non-square input, NaN/inf, self-loops, duplicated names, a directed cycle (named),
            unequal weights on an undirected edge, or a graph not of the requested ``kind``.

        Examples
        --------
        >>> import numpy as np
        >>> from fastcrl.graph import Graph
        >>> Graph.from_adjacency(np.array([[0, 1], [1, 0]])).to_edges()
        [('X0', 'X1', '--')]
        """
        return cls._from_matrix(A, "A", names, kind, A)

    def to_adjacency(self, *, weighted: bool = False) -> np.ndarray:
        """Adjacency matrix in our convention: ``[i, j] != 0`` means ``i -> j``.

        Parameters
        ----------
        weighted : bool, default=False
            Return the float64 weights instead of the int8 0/1 pattern (ValueError if the graph has
            none).

        Returns
        -------
        ndarray of shape (n_nodes, n_nodes)
            An undirected edge ``i -- j`` sets both ``[i, j]`` and ``[j, i]``.
        """
        if weighted:
            if self._weights is None:
                raise ValueError(
                    "this graph has no weights; call to_adjacency() for the 0/1 pattern"
                )
            return self._weights.copy()
        return self._P.astype(np.int8)

    @classmethod
    def from_lingam(
        cls, B: Any, names: Sequence[str] | None = None, kind: str | None = None
    ) -> Graph:
        """A graph from a lingam adjacency matrix, where ``B[i, j] != 0`` means ``j -> i``.

        ``B`` is the transpose of our convention; otherwise as :meth:`from_adjacency`.

        Examples
        --------
        >>> import numpy as np
        >>> from fastcrl.graph import Graph
        >>> Graph.from_lingam(np.array([[0.0, 0.0], [0.8, 0.0]])).to_edges()  # x1 = 0.8 x0 + e1
        [('X0', 'X1', '->')]
        """
        M = _as_matrix(B, "B")
        return cls._from_matrix(M.T, "B", names, kind, B)

    def to_lingam(self, *, weighted: bool = False) -> np.ndarray:
        """lingam's adjacency matrix ``B`` (``B[i, j] != 0`` means ``j -> i``): the transpose of
        :meth:`to_adjacency`."""
        return np.ascontiguousarray(self.to_adjacency(weighted=weighted).T)

    @classmethod
    def from_causallearn(
        cls, G: Any, names: Sequence[str] | None = None, kind: str | None = None
    ) -> Graph:
        """A graph from causal-learn's ``GeneralGraph`` endpoint matrix.

        Parameters
        ----------
        G : array_like of shape (n_nodes, n_nodes), or an object with a ``.graph`` matrix
            ``G[i, j] = -1, G[j, i] = 1`` means ``i -> j``; ``G[i, j] = G[j, i] = -1`` means
            ``i -- j``; 0/0 no edge.  For a ``GeneralGraph`` its ``get_node_names()`` become the
            names unless ``names`` is given.
        names, kind
            As in :meth:`from_adjacency`.

        Raises
        ------
        ValueError
            Values outside {-1, 0, 1}, circle marks (2, PAG edges), bidirected edges (1/1), or
            inconsistent pairs (one side 0, or ``1/-1`` on the diagonal); plus the checks of
            :class:`Graph`.

        Examples
        --------
        >>> import numpy as np
        >>> from fastcrl.graph import Graph
        >>> Graph.from_causallearn(np.array([[0, -1], [1, 0]])).to_edges()
        [('X0', 'X1', '->')]
        """
        if hasattr(G, "graph") and not isinstance(G, np.ndarray):
            if names is None and hasattr(G, "get_node_names"):
                names = list(G.get_node_names())
            G = G.graph
        M = _as_matrix(G, "G")
        if M.dtype.kind == "f" and not np.array_equal(M, np.round(M)):
            raise ValueError(
                "G must hold causal-learn endpoint marks -1, 0, 1; got non-integer values"
            )
        M = M.astype(np.int64)
        bad = ~np.isin(M, (-1, 0, 1))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            hint = (
                " (circle marks are PAG edges, which a Graph cannot hold)" if M[i, j] == 2 else ""
            )
            raise ValueError(
                f"G must hold causal-learn endpoint marks -1, 0, 1; "
                f"got {M[i, j]} at ({i}, {j}){hint}"
            )
        if np.diagonal(M).any():
            raise ValueError(
                f"G has nonzero diagonal entries at {np.flatnonzero(np.diagonal(M))[:10].tolist()}"
            )
        half = np.argwhere((M != 0) != (M.T != 0))
        if half.size:
            i, j = half[0]
            raise ValueError(f"G has an edge mark at ({i}, {j}) but none at ({j}, {i})")
        bidirected = np.argwhere(np.triu((M == 1) & (M.T == 1)))
        if bidirected.size:
            i, j = bidirected[0]
            raise ValueError(
                f"G has the bidirected edge {i} <-> {j} (1/1), which a DAG/CPDAG/PDAG cannot hold"
            )
        A = ((M == -1) & (M.T != 0)).astype(np.uint8)
        return cls._from_matrix(A, "G", names, kind, None)

    def to_causallearn(self) -> np.ndarray:
        """causal-learn's ``GeneralGraph.graph`` encoding (int64).

        ``[i, j] = -1, [j, i] = 1`` for ``i -> j``; ``-1/-1`` for ``i -- j``.
        """
        P = self._P.view(bool)
        G = np.zeros(P.shape, dtype=np.int64)
        G[P] = -1  # a tail at i for every arc i -> j (an undirected edge has tails at both ends)
        G[P.T & ~P] = 1
        return G

    # ---- networkx, edge lists, DOT, JSON ---------------------------------------------------------

    def to_networkx(self):
        """A ``networkx.DiGraph``: directed edges as arcs, an undirected edge as two arcs with the
        attribute ``undirected=True``; ``weight`` attributes when the graph has weights; the graph
        attribute ``kind``."""
        import networkx as nx

        G = nx.DiGraph(kind=self._kind)
        G.add_nodes_from(self._nodes)
        for u, v, t in self.edges():
            attrs = {}
            if self._weights is not None:
                attrs["weight"] = float(self._weights[self._index[u], self._index[v]])
            if t == DIRECTED:
                G.add_edge(u, v, **attrs)
            else:
                G.add_edge(u, v, undirected=True, **attrs)
                G.add_edge(v, u, undirected=True, **attrs)
        return G

    @classmethod
    def from_networkx(cls, G: Any, kind: str | None = None) -> Graph:
        """A graph from networkx.

        Parameters
        ----------
        G : networkx.DiGraph or networkx.Graph
            In a DiGraph, a pair of arcs ``u -> v``, ``v -> u`` that both have the attribute
            ``undirected=True`` is the undirected edge ``u -- v``; every other arc is directed.  In
            an undirected ``networkx.Graph`` every edge is undirected.  Node labels become names
            via ``str``.  ``weight`` attributes become weights when every edge has one.
        kind : {"dag", "cpdag", "pdag"} or None
            Default: the graph attribute ``G.graph["kind"]`` if set, else inferred.

        Raises
        ------
        TypeError
            If ``G`` is not a networkx graph, or is a multigraph.
        ValueError
            An arc pair ``u -> v``, ``v -> u`` not both marked undirected (a 2-cycle), an arc marked
            undirected without its reverse, plus the checks of :class:`Graph`.
        """
        if not (hasattr(G, "is_directed") and hasattr(G, "edges") and hasattr(G, "nodes")):
            raise TypeError(f"G must be a networkx Graph or DiGraph; got {type(G).__name__}")
        if G.is_multigraph():
            raise TypeError("G must not be a multigraph; convert it to a DiGraph first")
        labels = list(G.nodes)
        if not labels:
            raise ValueError("G has no nodes")
        names = node_names_from(None, len(labels), labels)
        pos = {lab: k for k, lab in enumerate(labels)}
        d = len(labels)
        P = np.zeros((d, d), dtype=np.uint8)
        W = np.zeros((d, d), dtype=np.float64)
        weighted = G.number_of_edges() > 0 and all("weight" in a for _, _, a in G.edges(data=True))
        for u, v, attrs in G.edges(data=True):
            i, j = pos[u], pos[v]
            if i == j:
                raise ValueError(f"G has a self-loop at {names[i]}")
            if G.is_directed():
                undirected = bool(attrs.get("undirected", False))
                reverse = G.get_edge_data(v, u)
                if reverse is not None and undirected != bool(reverse.get("undirected", False)):
                    raise ValueError(
                        f"arcs {names[i]} -> {names[j]} and {names[j]} -> {names[i]} "
                        "disagree on undirected=True"
                    )
                if reverse is not None and not undirected:
                    raise ValueError(
                        f"arcs {names[i]} -> {names[j]} and {names[j]} -> {names[i]} form a "
                        "2-cycle; mark an undirected edge by giving both arcs the attribute "
                        "undirected=True"
                    )
                if reverse is None and undirected:
                    raise ValueError(
                        f"arc {names[i]} -> {names[j]} has undirected=True "
                        "but the reverse arc is missing"
                    )
            else:
                P[j, i] = 1
            P[i, j] = 1
            if weighted:
                w = float(attrs["weight"])
                if not np.isfinite(w) or w == 0:
                    raise ValueError(
                        f"edge {names[i]}, {names[j]} has weight {w!r}; "
                        "weights must be finite and nonzero"
                    )
                W[i, j] = w
                if not G.is_directed():
                    W[j, i] = w
        if weighted:
            W = _weights_of(W, P, "G", names)
        if kind is None and G.graph.get("kind") in KINDS:
            kind = G.graph["kind"]
        return cls._new(P, names, _resolve_kind(P, names, kind), W if weighted else None)

    @classmethod
    def from_edges(
        cls,
        edges: Iterable[Sequence[Any]],
        nodes: int | Sequence[str] | None = None,
        *,
        kind: str | None = None,
        weights: Sequence[float] | None = None,
    ) -> Graph:
        """A graph from an edge list ``[(src, dst, "->" | "--"), ...]``.

        ``nodes`` defaults to the endpoints in order of first appearance (then isolated nodes are
        impossible); otherwise as the :class:`Graph` constructor.

        Examples
        --------
        >>> from fastcrl.graph import Graph
        >>> Graph.from_edges([("rain", "wet", "->"), ("sprinkler", "wet", "->")]).nodes
        ('rain', 'wet', 'sprinkler')
        """
        edges = [tuple(e) for e in edges]
        if nodes is None:
            seen: dict[Any, None] = {}
            for e in edges:
                if len(e) not in (2, 3):
                    raise ValueError(f"each edge must be (src, dst) or (src, dst, type); got {e!r}")
                seen.setdefault(str(e[0]), None)
                seen.setdefault(str(e[1]), None)
            nodes = list(seen)
            edges = [(str(e[0]), str(e[1]), *e[2:]) for e in edges]
            if not nodes:
                raise ValueError("give nodes= for a graph without edges")
        return cls(nodes, edges, kind=kind, weights=weights)

    def to_dot(self) -> str:
        """The graph in Graphviz DOT: a ``digraph`` whose undirected edges have ``dir=none``.

        Weights, when present, become edge labels.

        Examples
        --------
        >>> from fastcrl.graph import Graph
        >>> print(Graph(["a", "b", "c"], [("a", "b"), ("b", "c", "--")]).to_dot())
        digraph {
          // fastcrl graph, kind=pdag
          "a";
          "b";
          "c";
          "a" -> "b";
          "b" -> "c" [dir=none];
        }
        """

        def q(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = ["digraph {", f"  // fastcrl graph, kind={self._kind}"]
        lines += [f"  {q(n)};" for n in self._nodes]
        for u, v, t in self.edges():
            attrs = []
            if t == UNDIRECTED:
                attrs.append("dir=none")
            if self._weights is not None:
                attrs.append(f'label="{self._weights[self._index[u], self._index[v]]:.6g}"')
            suffix = f" [{', '.join(attrs)}]" if attrs else ""
            lines.append(f"  {q(u)} -> {q(v)}{suffix};")
        lines.append("}")
        return "\n".join(lines)

    def to_json(self, *, indent: int | None = None) -> str:
        """The graph as JSON text.

        Schema: ``{"kind": "dag" | "cpdag" | "pdag", "nodes": [name, ...],
        "edges": [[src, dst, "->" | "--"], ...], "weights": [w, ...]}``.  Edges appear as in
        :meth:`edges`; ``"weights"`` is present only for weighted graphs and has one number per
        edge, in the order of ``"edges"``.

        Examples
        --------
        >>> from fastcrl.graph import Graph
        >>> Graph(["a", "b"], [("a", "b")]).to_json()
        '{"kind": "dag", "nodes": ["a", "b"], "edges": [["a", "b", "->"]]}'
        """
        edges = self.to_edges()
        doc: dict[str, Any] = {
            "kind": self._kind,
            "nodes": list(self._nodes),
            "edges": [list(e) for e in edges],
        }
        if self._weights is not None:
            doc["weights"] = [
                float(self._weights[self._index[u], self._index[v]]) for u, v, _ in edges
            ]
        return json.dumps(doc, indent=indent)

    @classmethod
    def from_json(cls, data: str | bytes | dict) -> Graph:
        """A graph from :meth:`to_json` text (or the dict it encodes).

        Raises
        ------
        ValueError
            Invalid JSON, missing or unknown keys, or any check of :class:`Graph` (the stored
            ``kind`` is verified against the edges).
        """
        if isinstance(data, (str, bytes, bytearray)):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise ValueError(f"data is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise TypeError(f"data must be JSON text or a dict; got {type(data).__name__}")
        missing = [k for k in ("kind", "nodes", "edges") if k not in data]
        unknown = sorted(set(data) - {"kind", "nodes", "edges", "weights"})
        if missing or unknown:
            raise ValueError(
                f"graph JSON needs the keys kind, nodes, edges (and optionally weights); "
                f"missing {missing}, unknown {unknown}"
            )
        if not isinstance(data["nodes"], list) or not isinstance(data["edges"], list):
            raise ValueError("graph JSON: nodes and edges must be lists")
        for e in data["edges"]:
            if not isinstance(e, list) or len(e) != 3:
                raise ValueError(f"graph JSON: each edge must be [src, dst, type]; got {e!r}")
        return cls(data["nodes"], data["edges"], kind=data["kind"], weights=data.get("weights"))

    # ---- dunder ----------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        if (
            self._kind != other._kind
            or self._nodes != other._nodes
            or not np.array_equal(self._P, other._P)
        ):
            return False
        if (self._weights is None) != (other._weights is None):
            return False
        return self._weights is None or bool(np.array_equal(self._weights, other._weights))

    def __repr__(self) -> str:
        if self.n_nodes <= 12 and self.n_edges <= 12:
            return f"Graph({list(self._nodes)!r}, {self.to_edges()!r}, kind={self._kind!r})"
        return f"<Graph kind={self._kind!r} n_nodes={self.n_nodes} n_edges={self.n_edges}>"


def _lookup(index: dict[str, int], names: Sequence[str], node: Any) -> int:
    if isinstance(node, str):
        try:
            return index[node]
        except KeyError:
            shown = list(names[:10]) + (["..."] if len(names) > 10 else [])
            raise ValueError(f"unknown node {node!r}; nodes are {shown}") from None
    if isinstance(node, numbers.Integral) and not isinstance(node, bool):
        if 0 <= int(node) < len(names):
            return int(node)
        raise ValueError(f"node position {node} out of range for {len(names)} nodes")
    raise TypeError(
        f"a node must be a name (str) or a position (int); got {type(node).__name__} {node!r}"
    )
