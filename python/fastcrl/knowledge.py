"""Prior knowledge for structure learning: forbidden and required edges, tiers, in-degree bound.

A :class:`Knowledge` object is written by the user (in Python or as a JSON file) in
terms of node names and/or integer column indices.  An estimator turns it into a
:class:`ResolvedKnowledge` for its data with ``knowledge.resolve(node_names)``; the
resolved object speaks only integer indices and gives boolean masks.

Adjacency convention: ``A[i, j] != 0`` means the edge ``i -> j``; ``forbidden[i, j]``
/ ``required[i, j]`` refer to that same edge.

JSON schema (every key optional)::

    {
      "nodes": ["age", "income", ...],   # node names, or null
      "n_nodes": 5,                      # node count when there are no names, or null
      "forbidden": [["income", "age"], [3, 0]],   # edges src -> dst
      "required": [["age", "income"]],
      "tiers": [["age", "sex"], ["income"], ["health"]],   # temporal order
      "forbid_within_tier": false,
      "max_indegree": null                # int >= 0, or null for no bound
    }

Nodes are referred to by name (a JSON string) or by 0-based index (a JSON integer);
both may be mixed.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._validation import _to_host, check_int, check_square_matrix, node_names_from

__all__ = ["Knowledge", "ResolvedKnowledge", "Violation"]

NodeRef = int | str
_Key = int | str

_DICT_KEYS = (
    "nodes",
    "n_nodes",
    "forbidden",
    "required",
    "tiers",
    "forbid_within_tier",
    "max_indegree",
)


class Violation(NamedTuple):
    """One way a graph disagrees with the knowledge.

    ``kind`` is ``"forbidden"`` (a present edge ``src -> dst`` is forbidden),
    ``"missing_required"`` (the required ``src -> dst`` is absent) or
    ``"max_indegree"`` (``dst`` has too many parents; ``src`` is None).
    """

    kind: str
    src: int | None
    dst: int
    message: str

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------
# shared logic, on keys (ints once bound; possibly names before)
# --------------------------------------------------------------------------------------


def _tier_forbids(ti: int | None, tj: int | None, forbid_within_tier: bool) -> bool:
    if ti is None or tj is None:
        return False
    return ti > tj or (forbid_within_tier and ti == tj)


def _find_path(adj: dict[Any, set], start: Any, goal: Any) -> list | None:
    """A directed path start ~> goal in ``adj`` (iterative DFS), or None."""
    parent = {start: None}
    stack = [start]
    while stack:
        u = stack.pop()
        if u == goal:
            path = [u]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])
            return path[::-1]
        for v in adj.get(u, ()):
            if v not in parent:
                parent[v] = u
                stack.append(v)
    return None


def _find_cycle(edges: Iterable[tuple]) -> list | None:
    """A directed cycle ``[a, b, ..., a]`` among ``edges``, or None."""
    adj: dict[Any, list] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, [])
    color = dict.fromkeys(adj, 0)  # 0 new, 1 on stack, 2 done
    for root in adj:
        if color[root]:
            continue
        stack = [(root, iter(adj[root]))]
        path = [root]
        color[root] = 1
        while stack:
            u, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[u] = 2
                stack.pop()
                path.pop()
            elif color[nxt] == 1:
                return path[path.index(nxt) :] + [nxt]
            elif color[nxt] == 0:
                color[nxt] = 1
                stack.append((nxt, iter(adj[nxt])))
                path.append(nxt)
    return None


# --------------------------------------------------------------------------------------
# ResolvedKnowledge
# --------------------------------------------------------------------------------------


class ResolvedKnowledge:
    """Knowledge bound to ``d`` concrete nodes; every node is an index ``0 .. d-1``.

    Made by :meth:`Knowledge.resolve`; estimators use it.  It is immutable.

    Attributes
    ----------
    n_nodes : int
        Number of nodes ``d``.
    names : tuple of str or None
        Node names, if known.
    tiers : tuple of tuple of int
        Tiers in temporal order.
    tier_of : ndarray of int64, shape (d,)
        Tier index of each node, -1 for nodes in no tier (read-only).
    forbid_within_tier : bool
    max_indegree : int or None

    Examples
    --------
    >>> from fastcrl.knowledge import Knowledge
    >>> rk = Knowledge(names=["a", "b", "c"]).require("a", "b").resolve()
    >>> rk.required_mask().astype(int)
    array([[0, 1, 0],
           [0, 0, 0],
           [0, 0, 0]])
    """

    def __init__(
        self,
        n_nodes: int,
        names: Sequence[str] | None,
        forbidden: Iterable[tuple[int, int]],
        required: Iterable[tuple[int, int]],
        tiers: Sequence[Sequence[int]],
        forbid_within_tier: bool,
        max_indegree: int | None,
    ):
        self._n = int(n_nodes)
        self._names = tuple(names) if names is not None else None
        self._forbidden = frozenset(forbidden)
        self._required = frozenset(required)
        self._tiers = tuple(tuple(t) for t in tiers)
        tier_of = np.full(self._n, -1, dtype=np.int64)
        for k, tier in enumerate(self._tiers):
            tier_of[list(tier)] = k
        tier_of.setflags(write=False)
        self._tier_of = tier_of
        self._fwt = bool(forbid_within_tier)
        self._max_indegree = max_indegree
        self._index = {n: i for i, n in enumerate(self._names)} if self._names else {}

    n_nodes = property(lambda self: self._n, doc="Number of nodes d.")
    names = property(lambda self: self._names, doc="Node names (tuple) or None.")
    tiers = property(lambda self: self._tiers, doc="Tiers (tuple of tuples of indices).")
    tier_of = property(lambda self: self._tier_of, doc="Tier of each node, -1 if none.")
    forbid_within_tier = property(
        lambda self: self._fwt, doc="Whether edges within a tier are forbidden."
    )
    max_indegree = property(
        lambda self: self._max_indegree, doc="Maximum number of parents, or None."
    )

    def _idx(self, node: NodeRef, argname: str) -> int:
        if isinstance(node, str):
            if node not in self._index:
                raise ValueError(f"unknown node name {node!r} in {argname}")
            return self._index[node]
        if isinstance(node, bool) or not isinstance(node, numbers.Integral):
            raise TypeError(
                f"{argname} must be a node name or an int index; got {type(node).__name__}"
            )
        i = int(node)
        if not 0 <= i < self._n:
            raise ValueError(f"{argname} index {i} is out of range for {self._n} nodes")
        return i

    def label(self, i: int) -> str:
        """Display name of node ``i`` (its name, or ``"node i"``)."""
        return self._names[i] if self._names else f"node {i}"

    def is_allowed(self, i: NodeRef, j: NodeRef) -> bool:
        """Whether the edge ``i -> j`` is permitted (self-loops never are)."""
        i, j = self._idx(i, "i"), self._idx(j, "j")
        if i == j or (i, j) in self._forbidden:
            return False
        ti, tj = self._tier_of[i], self._tier_of[j]
        return not _tier_forbids(ti if ti >= 0 else None, tj if tj >= 0 else None, self._fwt)

    def is_required(self, i: NodeRef, j: NodeRef) -> bool:
        """Whether the edge ``i -> j`` is required."""
        return (self._idx(i, "i"), self._idx(j, "j")) in self._required

    def forbidden_edges(self) -> list[tuple[int, int]]:
        """Explicitly forbidden edges ``(i, j)``, sorted (tiers not expanded)."""
        return sorted(self._forbidden)

    def required_edges(self) -> list[tuple[int, int]]:
        """Required edges ``(i, j)``, sorted."""
        return sorted(self._required)

    def forbidden_mask(self) -> np.ndarray:
        """Boolean (d, d): True where ``i -> j`` is forbidden (explicitly, by tiers, or i == j).

        A new array each call; O(d^2) memory.
        """
        d = self._n
        M = np.eye(d, dtype=bool)
        if self._forbidden:
            src, dst = np.array(sorted(self._forbidden)).T
            M[src, dst] = True
        t = self._tier_of
        both = (t[:, None] >= 0) & (t[None, :] >= 0)
        order = t[:, None] >= t[None, :] if self._fwt else t[:, None] > t[None, :]
        M |= both & order
        return M

    def required_mask(self) -> np.ndarray:
        """Boolean (d, d): True where ``i -> j`` is required.  A new array each call."""
        M = np.zeros((self._n, self._n), dtype=bool)
        if self._required:
            src, dst = np.array(sorted(self._required)).T
            M[src, dst] = True
        return M

    def check_graph(self, A: Any, *, strict: bool = False) -> list[Violation]:
        """Violations of the knowledge by a DAG or PDAG ``A``.

        Parameters
        ----------
        A : array_like of shape (d, d)
            ``A[i, j] != 0`` and ``A[j, i] == 0``: directed ``i -> j``; both non-zero:
            undirected ``i - j``.
        strict : bool, default False
            Raise ``ValueError`` listing the violations instead of returning them.

        Returns
        -------
        list of Violation
            A self-loop; a directed edge that is forbidden; an undirected edge whose both
            orientations are forbidden (otherwise it can still be oriented to agree);
            a required edge ``i -> j`` with ``A[i, j] == 0``; a node with more
            directed parents than ``max_indegree``.  Empty if ``A`` agrees.

        Raises
        ------
        ValueError
            If ``A`` is not (d, d) for this knowledge or has NaN/inf, or if
            ``strict`` and there are violations.
        """
        A = np.asarray(_to_host(check_square_matrix(A, "A", dtype=np.float64)))
        if A.shape != (self._n, self._n):
            raise ValueError(
                f"A must have shape ({self._n}, {self._n}) for this knowledge; got {A.shape}"
            )
        E = A != 0
        loops = np.flatnonzero(np.diag(E))
        np.fill_diagonal(E, False)
        directed = E & ~E.T
        undirected = np.triu(E & E.T, 1)
        F = self.forbidden_mask()
        out: list[Violation] = [
            Violation("forbidden", int(i), int(i), f"self-loop {self.label(i)} -> {self.label(i)}")
            for i in loops
        ]
        for i, j in zip(*np.nonzero(directed & F), strict=True):
            out.append(
                Violation(
                    "forbidden",
                    int(i),
                    int(j),
                    f"edge {self.label(i)} -> {self.label(j)} is forbidden",
                )
            )
        for i, j in zip(*np.nonzero(undirected & F & F.T), strict=True):
            out.append(
                Violation(
                    "forbidden",
                    int(i),
                    int(j),
                    f"undirected edge {self.label(i)} - {self.label(j)} is forbidden "
                    "in both directions",
                )
            )
        for i, j in sorted(self._required):
            if not E[i, j]:
                out.append(
                    Violation(
                        "missing_required",
                        i,
                        j,
                        f"required edge {self.label(i)} -> {self.label(j)} is missing",
                    )
                )
        if self._max_indegree is not None:
            indeg = directed.sum(axis=0)
            for j in np.flatnonzero(indeg > self._max_indegree):
                out.append(
                    Violation(
                        "max_indegree",
                        None,
                        int(j),
                        f"node {self.label(j)} has {int(indeg[j])} parents > "
                        f"max_indegree {self._max_indegree}",
                    )
                )
        if strict and out:
            shown = "; ".join(v.message for v in out[:10])
            more = f" (and {len(out) - 10} more)" if len(out) > 10 else ""
            raise ValueError(f"graph violates the knowledge in {len(out)} ways: {shown}{more}")
        return out

    def __repr__(self) -> str:
        return (
            f"ResolvedKnowledge(n_nodes={self._n}, forbidden={len(self._forbidden)}, "
            f"required={len(self._required)}, tiers={len(self._tiers)}, "
            f"forbid_within_tier={self._fwt}, max_indegree={self._max_indegree})"
        )


# --------------------------------------------------------------------------------------
# Knowledge
# --------------------------------------------------------------------------------------


class Knowledge:
    """Prior knowledge for structure learning.

    Forbidden edges, required edges, tiers (a temporal order) and a bound on the
    number of parents, stated with node names, integer indices, or both.

    Parameters
    ----------
    n_nodes : int, optional
        Number of nodes ``d``; indices are checked against it as they are added.
    names : sequence of str, optional
        Node names (unique); names are then resolved to indices as they are added.
        If both are given, ``len(names)`` must equal ``n_nodes``.
    max_indegree : int, optional
        Maximum number of parents of any node (``None``: no bound).

    Raises
    ------
    ValueError
        If ``n_nodes < 1``, names are duplicated, or ``len(names) != n_nodes``.
    TypeError
        If ``n_nodes`` is not an int.

    Notes
    -----
    **Semantics.** ``forbid(a, b)`` forbids the edge ``a -> b`` only (not ``b -> a``).
    ``require(a, b)`` requires ``a -> b``.  Tiers are a temporal order: an edge
    from a later tier to an earlier tier is forbidden; nodes in no tier are
    unconstrained; with ``forbid_within_tier`` edges between two nodes of the same
    tier are forbidden too.  ``max_indegree`` bounds the parents of every node.
    Self-loops are always forbidden.  Adjacency convention: ``A[i, j] != 0`` is ``i -> j``.

    **Contradictions** raise ``ValueError`` as soon as they are added: an edge both
    required and forbidden (explicitly or by the tiers), a required self-loop,
    required edges forming a cycle, more required parents than ``max_indegree``, a
    node in two tiers, an unknown name (when names are known) or an index out of
    range (when ``n_nodes`` is known).  While names are not yet bound, a name and
    an index that turn out to be the same node are told apart only by
    :meth:`bind` / :meth:`resolve`, which re-run :meth:`validate`.

    **Use in an estimator**::

        rk = knowledge.resolve(node_names)   # ResolvedKnowledge for this data
        mask = rk.forbidden_mask()           # (d, d) bool

    Methods that add knowledge return ``self``, so calls can be chained.

    References
    ----------
    Spirtes, Glymour, Scheines, *Causation, Prediction, and Search*, 2nd ed., MIT
    Press 2000 (background knowledge and tiers as in Tetrad).

    Examples
    --------
    >>> from fastcrl.knowledge import Knowledge
    >>> k = Knowledge(names=["age", "income", "health"])
    >>> k = k.set_tiers([["age"], ["income", "health"]]).forbid("health", "income")
    >>> k.is_allowed("income", "age"), k.is_allowed("income", "health")
    (False, True)
    >>> k.forbidden_mask().astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]])
    """

    def __init__(
        self,
        n_nodes: int | None = None,
        names: Sequence[str] | None = None,
        *,
        max_indegree: int | None = None,
    ):
        if n_nodes is not None:
            n_nodes = check_int(n_nodes, "n_nodes", low=1)
        if names is not None:
            if isinstance(names, str):
                raise TypeError("names must be a sequence of node names, not a single string")
            names = list(names)
            if n_nodes is not None and len(names) != n_nodes:
                raise ValueError(f"names must have n_nodes ({n_nodes}) entries; got {len(names)}")
            if not names:
                raise ValueError("names must not be empty")
            names = node_names_from(None, len(names), names)
            n_nodes = len(names)
        self._n: int | None = n_nodes
        self._names: list[str] | None = names
        self._index = {n: i for i, n in enumerate(names)} if names else {}
        self._forbidden: dict[tuple[_Key, _Key], None] = {}
        self._required: dict[tuple[_Key, _Key], None] = {}
        self._tiers: list[list[_Key]] = []
        self._tier_of: dict[_Key, int] = {}
        self._fwt = False
        self._max_indegree: int | None = None
        self._cache: ResolvedKnowledge | None = None
        if max_indegree is not None:
            self.max_indegree = max_indegree

    # ---------------------------------------------------------------- node keys

    def _key(self, node: Any, argname: str) -> _Key:
        if isinstance(node, str):
            if self._names is None:
                return str(node)
            if node not in self._index:
                known = self._names[:20]
                more = ", ..." if len(self._names) > 20 else ""
                raise ValueError(
                    f"unknown node name {node!r} in {argname}; known nodes: {known}{more}"
                )
            return self._index[node]
        if isinstance(node, bool) or not isinstance(node, numbers.Integral):
            raise TypeError(
                f"{argname} must be a node name (str) or an int index; "
                f"got {type(node).__name__} {node!r}"
            )
        i = int(node)
        if i < 0:
            raise ValueError(f"{argname} must be a non-negative node index; got {i}")
        if self._n is not None and i >= self._n:
            raise ValueError(f"{argname} index {i} is out of range for {self._n} nodes")
        return i

    def _label(self, key: _Key) -> str:
        if isinstance(key, int):
            return repr(self._names[key]) if self._names else f"node {key}"
        return repr(key)

    def _edge(self, a: _Key, b: _Key) -> str:
        return f"{self._label(a)} -> {self._label(b)}"

    # ---------------------------------------------------------------- properties

    @property
    def n_nodes(self) -> int | None:
        """Number of nodes, or None if not known yet."""
        return self._n

    @property
    def names(self) -> list[str] | None:
        """Node names, or None if not known yet."""
        return list(self._names) if self._names is not None else None

    @property
    def tiers(self) -> list[list[NodeRef]]:
        """Tiers in temporal order (indices once names are bound)."""
        return [list(t) for t in self._tiers]

    @property
    def forbid_within_tier(self) -> bool:
        """Whether edges between two nodes of the same tier are forbidden."""
        return self._fwt

    @forbid_within_tier.setter
    def forbid_within_tier(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(
                f"forbid_within_tier must be a bool; got {type(value).__name__} {value!r}"
            )
        value = bool(value)
        if value:
            for a, b in self._required:
                ta, tb = self._tier_of.get(a), self._tier_of.get(b)
                if ta is not None and ta == tb:
                    raise ValueError(
                        f"cannot forbid edges within tiers: required edge {self._edge(a, b)} "
                        f"lies within tier {ta}"
                    )
        self._fwt = value
        self._cache = None

    @property
    def max_indegree(self) -> int | None:
        """Maximum number of parents of any node, or None for no bound."""
        return self._max_indegree

    @max_indegree.setter
    def max_indegree(self, value: int | None) -> None:
        if value is not None:
            value = check_int(value, "max_indegree", low=0)
            counts = self._required_indegrees()
            for node, c in counts.items():
                if c > value:
                    raise ValueError(
                        f"max_indegree {value} is below the {c} required parents of "
                        f"{self._label(node)}"
                    )
        self._max_indegree = value
        self._cache = None

    def _required_indegrees(self) -> dict[_Key, int]:
        counts: dict[_Key, int] = {}
        for _, b in self._required:
            counts[b] = counts.get(b, 0) + 1
        return counts

    # ---------------------------------------------------------------- adding knowledge

    def _forbidden_reason(self, a: _Key, b: _Key) -> str | None:
        if (a, b) in self._forbidden:
            return "explicitly forbidden"
        ta, tb = self._tier_of.get(a), self._tier_of.get(b)
        if _tier_forbids(ta, tb, self._fwt):
            if ta == tb:
                return f"forbidden within tier {ta} (forbid_within_tier=True)"
            return f"against the tier order (tier {ta} -> tier {tb})"
        return None

    def forbid(self, src: NodeRef, dst: NodeRef) -> Knowledge:
        """Forbid the edge ``src -> dst``.

        Parameters
        ----------
        src, dst : str or int
            Node names or 0-based indices.

        Returns
        -------
        Knowledge
            ``self``.

        Raises
        ------
        ValueError
            If ``src -> dst`` is required, or a node is unknown / out of range.
        TypeError
            If a node is neither a str nor an int.
        """
        a, b = self._key(src, "src"), self._key(dst, "dst")
        if (a, b) in self._required:
            raise ValueError(f"cannot forbid {self._edge(a, b)}: it is required")
        self._forbidden[(a, b)] = None
        self._cache = None
        return self

    def require(self, src: NodeRef, dst: NodeRef) -> Knowledge:
        """Require the edge ``src -> dst``.

        Parameters
        ----------
        src, dst : str or int
            Node names or 0-based indices.

        Returns
        -------
        Knowledge
            ``self``.

        Raises
        ------
        ValueError
            If ``src == dst``; if the edge is forbidden (explicitly or by the
            tiers); if it closes a cycle of required edges; if ``dst`` would get
            more required parents than ``max_indegree``; if a node is unknown.
        TypeError
            If a node is neither a str nor an int.
        """
        a, b = self._key(src, "src"), self._key(dst, "dst")
        if (a, b) in self._required:
            return self
        if a == b:
            raise ValueError(f"cannot require the self-loop {self._edge(a, b)}")
        reason = self._forbidden_reason(a, b)
        if reason:
            raise ValueError(f"cannot require {self._edge(a, b)}: it is {reason}")
        adj: dict[_Key, set] = {}
        for u, v in self._required:
            adj.setdefault(u, set()).add(v)
        path = _find_path(adj, b, a)
        if path is not None:
            cyc = " -> ".join(self._label(k) for k in [*path, b])
            raise ValueError(
                f"cannot require {self._edge(a, b)}: required edges would form the cycle {cyc}"
            )
        if self._max_indegree is not None:
            c = self._required_indegrees().get(b, 0) + 1
            if c > self._max_indegree:
                raise ValueError(
                    f"cannot require {self._edge(a, b)}: {self._label(b)} would have {c} required "
                    f"parents > max_indegree {self._max_indegree}"
                )
        self._required[(a, b)] = None
        self._cache = None
        return self

    def _check_tiers_against_required(self, tier_of: dict[_Key, int], fwt: bool) -> None:
        for a, b in self._required:
            ta, tb = tier_of.get(a), tier_of.get(b)
            if _tier_forbids(ta, tb, fwt):
                where = f"within tier {ta}" if ta == tb else f"from tier {ta} to earlier tier {tb}"
                raise ValueError(f"tiers contradict the required edge {self._edge(a, b)} ({where})")

    def _tier_keys(self, nodes: Any, k: int, tier_of: dict[_Key, int]) -> list[_Key]:
        if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Iterable):
            raise TypeError(
                f"tier {k} must be a list of nodes; got {type(nodes).__name__} {nodes!r}"
            )
        keys = []
        for node in nodes:
            key = self._key(node, f"tier {k}")
            if key in tier_of:
                other = tier_of[key]
                where = "twice in tier" if other == k else f"in tiers {other} and"
                raise ValueError(
                    f"node {self._label(key)} appears {where} {k}; a node can be in one tier only"
                )
            tier_of[key] = k
            keys.append(key)
        return keys

    def add_tier(self, nodes: Iterable[NodeRef]) -> Knowledge:
        """Append a tier after the existing ones (a later time).

        Parameters
        ----------
        nodes : iterable of str or int
            Nodes of the new tier.

        Returns
        -------
        Knowledge
            ``self``.

        Raises
        ------
        ValueError
            If a node is already in a tier, is unknown, or a required edge would go
            against the tier order; nothing is changed then.
        """
        tier_of = dict(self._tier_of)
        keys = self._tier_keys(nodes, len(self._tiers), tier_of)
        self._check_tiers_against_required(tier_of, self._fwt)
        self._tiers.append(keys)
        self._tier_of = tier_of
        self._cache = None
        return self

    def set_tiers(
        self, tiers: Iterable[Iterable[NodeRef]], forbid_within_tier: bool = False
    ) -> Knowledge:
        """Replace all tiers.

        Parameters
        ----------
        tiers : iterable of iterables of str or int
            Tiers from earliest to latest.
        forbid_within_tier : bool, default False
            Also forbid edges between nodes of the same tier.

        Returns
        -------
        Knowledge
            ``self``.

        Raises
        ------
        ValueError
            If a node is in two tiers, is unknown, or a required edge contradicts
            the tiers; nothing is changed then.
        """
        if not isinstance(forbid_within_tier, (bool, np.bool_)):
            raise TypeError(
                "forbid_within_tier must be a bool; got "
                f"{type(forbid_within_tier).__name__} {forbid_within_tier!r}"
            )
        if isinstance(tiers, (str, bytes)) or not isinstance(tiers, Iterable):
            raise TypeError(f"tiers must be a list of lists of nodes; got {type(tiers).__name__}")
        tier_of: dict[_Key, int] = {}
        new = [self._tier_keys(t, k, tier_of) for k, t in enumerate(tiers)]
        self._check_tiers_against_required(tier_of, bool(forbid_within_tier))
        self._tiers, self._tier_of, self._fwt = new, tier_of, bool(forbid_within_tier)
        self._cache = None
        return self

    # ---------------------------------------------------------------- queries

    def is_allowed(self, i: NodeRef, j: NodeRef) -> bool:
        """Whether the edge ``i -> j`` is permitted (not forbidden, not against tiers, i != j)."""
        a, b = self._key(i, "i"), self._key(j, "j")
        return a != b and self._forbidden_reason(a, b) is None

    def is_required(self, i: NodeRef, j: NodeRef) -> bool:
        """Whether the edge ``i -> j`` is required."""
        return (self._key(i, "i"), self._key(j, "j")) in self._required

    def forbidden_edges(self) -> list[tuple[NodeRef, NodeRef]]:
        """Explicitly forbidden edges, in insertion order (tiers not expanded)."""
        return list(self._forbidden)

    def required_edges(self) -> list[tuple[NodeRef, NodeRef]]:
        """Required edges ``(src, dst)`` in insertion order: indices once names are bound."""
        return list(self._required)

    def _resolved_for(self, d: int | None) -> ResolvedKnowledge:
        if d is None or self._n is None:
            return self.resolve(d)
        d = check_int(d, "d", low=1)
        if d != self._n:
            raise ValueError(f"d must equal this knowledge's n_nodes ({self._n}); got {d}")
        return self.resolve()

    def forbidden_mask(self, d: int | None = None) -> np.ndarray:
        """Boolean (d, d): True where ``i -> j`` is forbidden (explicit, tiers, diagonal).

        Parameters
        ----------
        d : int, optional
            Number of nodes; needed only when the knowledge does not know it.

        Returns
        -------
        ndarray of bool, shape (d, d)

        Raises
        ------
        ValueError
            If ``d`` is unknown, disagrees with ``n_nodes``, or names are unbound.
        """
        return self._resolved_for(d).forbidden_mask()

    def required_mask(self, d: int | None = None) -> np.ndarray:
        """Boolean (d, d): True where ``i -> j`` is required; ``d`` as in :meth:`forbidden_mask`."""
        return self._resolved_for(d).required_mask()

    def check_graph(self, A: Any, *, strict: bool = False) -> list[Violation]:
        """Violations of this knowledge by the DAG/PDAG ``A``.

        See :meth:`ResolvedKnowledge.check_graph`.

        The number of nodes is taken from ``A`` if the knowledge does not know it.
        """
        A = check_square_matrix(A, "A", dtype=np.float64)
        rk = self.resolve(None if self._n is not None else int(A.shape[0]))
        return rk.check_graph(A, strict=strict)

    # ---------------------------------------------------------------- binding

    def copy(self) -> Knowledge:
        """An independent copy."""
        new = Knowledge.__new__(Knowledge)
        new.__dict__.update(self.__dict__)
        new._index = dict(self._index)
        new._names = list(self._names) if self._names is not None else None
        new._forbidden = dict(self._forbidden)
        new._required = dict(self._required)
        new._tiers = [list(t) for t in self._tiers]
        new._tier_of = dict(self._tier_of)
        new._cache = None
        return new

    def bind(self, nodes: Sequence[str] | int) -> Knowledge:
        """A copy bound to concrete nodes, with every node as an index.

        Parameters
        ----------
        nodes : sequence of str or int
            The data's node names (e.g. DataFrame columns), or the number of nodes
            ``d`` when the data has no names.  If this knowledge already has names,
            its nodes are mapped to ``nodes`` by name (the data may order them
            differently or have more columns).  Integer references are column
            positions.

        Returns
        -------
        Knowledge
            A new, validated object; ``self`` is unchanged.

        Raises
        ------
        ValueError
            If a name is not among ``nodes``, an index is out of range, the node
            count disagrees with ``n_nodes`` (unnamed knowledge), or binding
            reveals a contradiction (see :meth:`validate`).
        """
        if isinstance(nodes, numbers.Integral) and not isinstance(nodes, bool):
            d = check_int(nodes, "nodes", low=1)
            if self._n is not None and d != self._n:
                raise ValueError(f"nodes: this knowledge is for {self._n} nodes; got {d}")
            new = Knowledge(n_nodes=d, names=self._names)
            remap = lambda key: key  # noqa: E731
        else:
            if isinstance(nodes, str) or not isinstance(nodes, Iterable):
                raise TypeError(
                    f"nodes must be a list of names or an int; got {type(nodes).__name__}"
                )
            names = list(nodes)
            names = node_names_from(None, len(names), names)
            if not names:
                raise ValueError("nodes must not be empty")
            if self._names is None and self._n is not None and len(names) != self._n:
                raise ValueError(
                    f"nodes: this knowledge is for {self._n} nodes; got {len(names)} names"
                )
            new = Knowledge(names=names)
            if self._names is not None:
                old = self._names
                missing = [n for n in old if n not in new._index]
                used = {k for e in (*self._forbidden, *self._required) for k in e} | set(
                    self._tier_of
                )
                missing = [n for n in missing if old.index(n) in used]
                if missing:
                    raise ValueError(f"nodes lacks names used by this knowledge: {missing[:20]}")
                remap = lambda key: old[key] if isinstance(key, int) else key  # noqa: E731
            else:
                remap = lambda key: key  # noqa: E731
        tiers = [[remap(k) for k in t] for t in self._tiers]
        new.set_tiers(tiers, forbid_within_tier=self._fwt)
        for a, b in self._forbidden:
            new.forbid(remap(a), remap(b))
        for a, b in self._required:
            new.require(remap(a), remap(b))
        new.max_indegree = self._max_indegree
        new.validate()
        return new

    def resolve(self, nodes: Sequence[str] | int | None = None) -> ResolvedKnowledge:
        """The knowledge for concrete data, as a :class:`ResolvedKnowledge`.

        Parameters
        ----------
        nodes : sequence of str, int, or None
            As in :meth:`bind`; None uses this knowledge's own nodes.

        Returns
        -------
        ResolvedKnowledge

        Raises
        ------
        ValueError
            As :meth:`bind`; or if ``nodes`` is None and the number of nodes is
            unknown or some names cannot be resolved.
        """
        if nodes is not None:
            return self.bind(nodes).resolve()
        if self._cache is not None:
            return self._cache
        if self._n is None:
            raise ValueError(
                "this knowledge does not know its nodes; pass the node names or their number "
                "to resolve()/bind()"
            )
        unresolved = sorted(
            {k for e in (*self._forbidden, *self._required) for k in e if isinstance(k, str)}
        )
        unresolved += sorted(k for k in self._tier_of if isinstance(k, str))
        if unresolved:
            raise ValueError(
                f"node names {unresolved[:10]} cannot be resolved without the node names; "
                "pass names to resolve()/bind() or to Knowledge(names=...)"
            )
        self.validate()
        self._cache = ResolvedKnowledge(
            self._n,
            self._names,
            self._forbidden,
            self._required,
            self._tiers,
            self._fwt,
            self._max_indegree,
        )
        return self._cache

    def validate(self) -> Knowledge:
        """Check the whole knowledge for contradictions.

        Returns
        -------
        Knowledge
            ``self``.

        Raises
        ------
        ValueError
            Listing every contradiction found: an edge both required and forbidden
            (explicitly or by tiers), a required self-loop, a cycle of required
            edges, more required parents than ``max_indegree``, a node in two tiers.
        """
        problems = []
        seen: dict[_Key, int] = {}
        for k, tier in enumerate(self._tiers):
            for key in tier:
                if key in seen:
                    problems.append(f"node {self._label(key)} is in tiers {seen[key]} and {k}")
                seen[key] = k
        for a, b in self._required:
            if a == b:
                problems.append(f"required self-loop {self._edge(a, b)}")
                continue
            reason = self._forbidden_reason(a, b)
            if reason:
                problems.append(f"required edge {self._edge(a, b)} is {reason}")
        cycle = _find_cycle(self._required)
        if cycle is not None:
            problems.append(
                "required edges form the cycle " + " -> ".join(self._label(k) for k in cycle)
            )
        if self._max_indegree is not None:
            for node, c in self._required_indegrees().items():
                if c > self._max_indegree:
                    problems.append(
                        f"{self._label(node)} has {c} required parents > "
                        f"max_indegree {self._max_indegree}"
                    )
        if problems:
            raise ValueError("contradictory knowledge: " + "; ".join(problems))
        return self

    # ---------------------------------------------------------------- (de)serialisation

    def _export(self, key: _Key) -> NodeRef:
        return self._names[key] if (self._names is not None and isinstance(key, int)) else key

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the schema of the module docstring (names where known)."""
        return {
            "nodes": list(self._names) if self._names is not None else None,
            "n_nodes": self._n if self._names is None else None,
            "forbidden": [[self._export(a), self._export(b)] for a, b in self._forbidden],
            "required": [[self._export(a), self._export(b)] for a, b in self._required],
            "tiers": [[self._export(k) for k in t] for t in self._tiers],
            "forbid_within_tier": self._fwt,
            "max_indegree": self._max_indegree,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Knowledge:
        """Build from a dict in the JSON schema of the module docstring.

        Parameters
        ----------
        data : dict
            Keys ``nodes``, ``n_nodes``, ``forbidden``, ``required``, ``tiers``,
            ``forbid_within_tier``, ``max_indegree``; all optional.

        Returns
        -------
        Knowledge

        Raises
        ------
        ValueError
            On an unknown key, a malformed edge (not a pair), or any error of the
            constructor and the adding methods.
        TypeError
            If ``data`` is not a dict or a value has the wrong type.
        """
        if not isinstance(data, dict):
            raise TypeError(f"knowledge data must be a dict; got {type(data).__name__}")
        unknown = sorted(set(data) - set(_DICT_KEYS))
        if unknown:
            raise ValueError(
                f"unknown knowledge keys {unknown}; expected some of {list(_DICT_KEYS)}"
            )
        k = cls(n_nodes=data.get("n_nodes"), names=data.get("nodes"))
        fwt = data.get("forbid_within_tier", False)
        tiers = data.get("tiers") or []
        k.set_tiers(tiers, forbid_within_tier=fwt)
        for field, add in (("forbidden", k.forbid), ("required", k.require)):
            edges = data.get(field) or []
            if isinstance(edges, (str, bytes)) or not isinstance(edges, Iterable):
                raise TypeError(
                    f"{field} must be a list of [src, dst] pairs; got {type(edges).__name__}"
                )
            for e in edges:
                if isinstance(e, (str, bytes)) or not isinstance(e, Sequence) or len(e) != 2:
                    raise ValueError(f"each entry of {field} must be a [src, dst] pair; got {e!r}")
                add(e[0], e[1])
        k.max_indegree = data.get("max_indegree")
        return k.validate()

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` as JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> Knowledge:
        """Read a knowledge file (schema in the module docstring).

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not valid JSON or not valid knowledge (the message names the file).
        """
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"knowledge file {os.fspath(path)!r} is not valid JSON: {exc}"
            ) from None
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"knowledge file {os.fspath(path)!r}: {exc}") from None

    # ---------------------------------------------------------------- dunder

    def _canonical(self) -> tuple:
        return (
            tuple(self._names) if self._names is not None else None,
            self._n,
            frozenset(self._forbidden),
            frozenset(self._required),
            tuple(frozenset(t) for t in self._tiers),
            self._fwt,
            self._max_indegree,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Knowledge):
            return NotImplemented
        return self._canonical() == other._canonical()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        sizes = ",".join(str(len(t)) for t in self._tiers)
        tiers = f"{len(self._tiers)} [{sizes}]" if self._tiers else "0"
        return (
            f"Knowledge(n_nodes={self._n}, named={self._names is not None}, "
            f"forbidden={len(self._forbidden)}, required={len(self._required)}, tiers={tiers}, "
            f"forbid_within_tier={self._fwt}, max_indegree={self._max_indegree})"
        )


def resolve_knowledge(knowledge: Any, names: Sequence[str]) -> ResolvedKnowledge | None:
    """An estimator's ``knowledge`` argument resolved for data with these node names: None for
    None, a TypeError for anything but a :class:`Knowledge`."""
    if knowledge is None:
        return None
    if not isinstance(knowledge, Knowledge):
        raise TypeError(
            f"knowledge must be a fastcrl.Knowledge or None; got {type(knowledge).__name__}"
        )
    return knowledge.resolve(list(names))
