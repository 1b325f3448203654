"""Simulators for causal discovery benchmarks: random DAGs, SEMs, Bayesian networks, interventions.

Everything here is pure NumPy (plus one triangular solve from SciPy) and takes a ``random_state``
(int, ``numpy.random.Generator`` or None); nothing touches NumPy's global random state.

Adjacency convention, everywhere in fastcrl: ``A[i, j] != 0`` means the edge ``i -> j``, so a
linear SEM reads ``X = X @ W + E``.

The simulators follow the conventions of the NOTEARS / DAGMA benchmarks (ER-k and SF-k graphs with
about ``k * d`` edges, edge weights uniform in ``±[0.5, 2]``, random-MLP nonlinear SEMs) so numbers
are comparable with the literature.  Data simulated this way are usually *varsortable*: marginal
variances grow along the causal order, which continuous methods can exploit without learning any
causal structure.  Use :func:`varsortability` / :func:`r2_sortability` to measure it and
:func:`standardize` to remove the variance signal (Reisach, Seiler and Weichwald, 2021).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy.linalg import solve_triangular

from ._validation import (
    check_data,
    check_float,
    check_int,
    check_option,
    check_random_state,
    check_square_matrix,
)

__all__ = [
    "SimulatedDataset",
    "simulate_dag",
    "simulate_weights",
    "simulate_linear_sem",
    "linear_sem_covariance",
    "simulate_nonlinear_sem",
    "simulate_discrete_bn",
    "simulate_interventions",
    "simulate_dataset",
    "standardize",
    "varsortability",
    "r2_sortability",
]

GRAPH_TYPES = ("er", "sf")
CONTINUOUS_NOISES = ("gaussian", "exponential", "gumbel", "uniform", "laplace")
LINEAR_NOISES = (*CONTINUOUS_NOISES, "logistic")
MECHANISMS = ("mlp", "mim", "sigmoid", "tanh", "sin", "quadratic")
DEFAULT_WEIGHT_RANGE = ((-2.0, -0.5), (0.5, 2.0))

# Variance of one unit-scale noise draw, per family (the draws are centred to mean zero).
_NOISE_VARIANCE = {
    "gaussian": 1.0,
    "exponential": 1.0,
    "gumbel": np.pi**2 / 6.0,
    "uniform": 1.0 / 3.0,
    "laplace": 2.0,
}

# Largest conditional probability table (entries) simulate_discrete_bn builds for one node.
_MAX_CPT_ENTRIES = 10_000_000


# --------------------------------------------------------------------------------------------
# private helpers
# --------------------------------------------------------------------------------------------


def _topological_order(B: np.ndarray, name: str) -> np.ndarray:
    """A topological order of the 0/1 adjacency ``B`` (``B[i, j]``: i -> j); ValueError on a cycle.

    Kahn's algorithm, one layer of source nodes at a time: O(d^2) work in total.
    """
    d = B.shape[0]
    indeg = B.sum(axis=0, dtype=np.int64)
    remaining = np.ones(d, dtype=bool)
    order: list[np.ndarray] = []
    while remaining.any():
        frontier = np.flatnonzero(remaining & (indeg == 0))
        if frontier.size == 0:
            cycle = _find_cycle(B, remaining)
            raise ValueError(
                f"{name} must be a DAG (acyclic); it has the directed cycle "
                + " -> ".join(str(v) for v in cycle)
            )
        order.append(frontier)
        remaining[frontier] = False
        indeg -= B[frontier].sum(axis=0, dtype=np.int64)
    return np.concatenate(order) if order else np.zeros(0, dtype=np.int64)


def _find_cycle(B: np.ndarray, remaining: np.ndarray) -> list[int]:
    """One directed cycle among ``remaining`` nodes, each of which has a remaining parent."""
    v = int(np.flatnonzero(remaining)[0])
    seen: dict[int, int] = {}
    walk: list[int] = []
    while v not in seen:
        seen[v] = len(walk)
        walk.append(v)
        v = int(np.flatnonzero(B[:, v] & remaining)[0])  # a remaining parent of v
    back = walk[seen[v] :]  # v <- p1 <- p2 ... (walked against the edges)
    cycle = [back[0], *back[:0:-1]]
    return [*cycle, cycle[0]]


def _support(A: Any, name: str) -> np.ndarray:
    """Boolean support ``A != 0`` of a finite square matrix that must be a DAG."""
    A = check_square_matrix(A, name, dtype=np.float64)
    B = A != 0
    _topological_order(B, name)
    return B


def _dag_weights(W: Any, name: str = "W") -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 weights and a topological order."""
    W = check_square_matrix(W, name, dtype=np.float64)
    order = _topological_order(W != 0, name)
    return W, order


def _check_weight_range(weight_range: Any) -> np.ndarray:
    """``weight_range`` as an ``(r, 2)`` array of ``(low, high)`` rows with ``low < high``."""
    try:
        wr = np.asarray(weight_range, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "weight_range must be a (low, high) pair or a sequence of such pairs; "
            f"got {weight_range!r}"
        ) from exc
    if wr.ndim == 1:
        wr = wr[None, :]
    if wr.ndim != 2 or wr.shape[1] != 2 or wr.shape[0] < 1:
        raise ValueError(
            "weight_range must be a (low, high) pair or a sequence of such pairs; "
            f"got shape {np.shape(weight_range)}"
        )
    if not np.isfinite(wr).all():
        raise ValueError(f"weight_range must be finite; got {wr.tolist()}")
    if not (wr[:, 0] < wr[:, 1]).all():
        raise ValueError(f"each weight_range pair needs low < high; got {wr.tolist()}")
    return wr


def _draw_weights(rng: np.random.Generator, ranges: np.ndarray, size: Any) -> np.ndarray:
    """Pick one range per entry with equal probability, then draw uniformly inside it."""
    pick = rng.integers(ranges.shape[0], size=size)
    u = rng.random(size=size)
    low, high = ranges[pick, 0], ranges[pick, 1]
    return low + u * (high - low)


def _per_node(value: Any, name: str, d: int) -> np.ndarray:
    """A positive scalar broadcast to ``(d,)``, or a positive finite array of shape ``(d,)``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = check_float(value, name, low=0.0, low_inclusive=False)
        return np.full(d, v)
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be a positive number or an array of shape ({d},); got {value!r}"
        )
    arr = arr.astype(np.float64)
    if arr.shape != (d,):
        raise ValueError(
            f"{name} must be a scalar or have shape ({d},) (one per node); got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    if not (arr > 0).all():
        raise ValueError(f"{name} must be > 0 for every node; got min {arr.min()}")
    return arr


def _draw_noise(rng: np.random.Generator, noise: str, n: int, scale: np.ndarray) -> np.ndarray:
    """Zero-mean noise of shape ``(n, d)``; column j has scale parameter ``scale[j]``."""
    shape = (n, scale.shape[0])
    if noise == "gaussian":
        z = rng.standard_normal(shape)
    elif noise == "exponential":
        z = rng.standard_exponential(shape) - 1.0
    elif noise == "gumbel":
        z = rng.gumbel(size=shape) - np.euler_gamma
    elif noise == "uniform":
        z = rng.uniform(-1.0, 1.0, size=shape)
    else:  # laplace
        z = rng.laplace(size=shape)
    return z * scale


def _sample_linear(W: np.ndarray, order: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Solve ``X = X @ W + E`` for X: one unit-lower-triangular solve in topological order."""
    Wp = W[np.ix_(order, order)]  # strictly upper triangular in this order
    M = np.eye(W.shape[0]) - Wp.T  # X_p^T = M^{-1} E_p^T, M unit lower triangular
    Xp = solve_triangular(M, E[:, order].T, lower=True, unit_diagonal=True, check_finite=False).T
    if not np.isfinite(Xp).all():
        raise ValueError(
            "the simulated data overflow float64: the weights along some path multiply beyond "
            "1e308; use smaller weights or fewer nodes"
        )
    X = np.empty_like(Xp)
    X[:, order] = Xp
    return X


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic function


def _pair_from_index(k: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Map row-major indices of the strict upper triangle of a d x d matrix to (i, j), i < j."""
    k = k.astype(np.int64)
    b = 2 * d - 1
    i = np.floor((b - np.sqrt(np.maximum(b * b - 8.0 * k, 0.0))) / 2.0).astype(np.int64)
    i = np.clip(i, 0, d - 2)

    def start(r: np.ndarray) -> np.ndarray:
        return r * (2 * d - r - 1) // 2

    # correct the float estimate by at most one row either way
    i = np.where(start(i) > k, i - 1, i)
    i = np.where(start(i + 1) <= k, i + 1, i)
    j = k - start(i) + i + 1
    return i, j


def _n_edges_from(n_nodes: int, n_edges: Any, edges_per_node: Any) -> int:
    max_edges = n_nodes * (n_nodes - 1) // 2
    if n_edges is not None and edges_per_node is not None:
        raise TypeError("give either n_edges or edges_per_node, not both")
    if n_edges is not None:
        s = check_int(n_edges, "n_edges", low=0)
        if s > max_edges:
            raise ValueError(
                f"n_edges must be <= n_nodes * (n_nodes - 1) / 2 = {max_edges} for a DAG on "
                f"{n_nodes} nodes; got {s}"
            )
        return s
    if edges_per_node is None:  # the default: as many as fit, up to one edge per node
        return min(int(round(1.0 * n_nodes)), max_edges)
    k = check_float(edges_per_node, "edges_per_node", low=0.0)
    s = int(round(k * n_nodes))
    if s > max_edges:
        raise ValueError(
            f"edges_per_node={k} asks for round({k} * {n_nodes}) = {s} edges, but a DAG on "
            f"{n_nodes} nodes has at most {max_edges}; use edges_per_node <= {(n_nodes - 1) / 2}"
        )
    return s


def _er_edges(rng: np.random.Generator, d: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """s distinct pairs i < j, uniformly among all d(d-1)/2."""
    if s == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    k = rng.choice(d * (d - 1) // 2, size=s, replace=False)
    return _pair_from_index(np.asarray(k), d)


def _sf_edges(rng: np.random.Generator, d: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Preferential attachment: node t joins with m_t edges to earlier nodes, sum_t m_t = s.

    The m_t are as equal as the caps m_t <= t allow (a few random nodes take one edge less),
    so the total is exactly s.  Targets are drawn without replacement with probability
    proportional to (degree + 1).  Edges point from the new node to the older ones.
    """
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    if s == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    t = np.arange(1, d)
    level = max(1, -(-s // (d - 1)))
    while np.minimum(t, level).sum() < s:
        level += 1
    m = np.minimum(t, level)
    excess = int(m.sum()) - s
    if excess:
        full = np.flatnonzero(m == level)
        m[rng.choice(full, size=excess, replace=False)] -= 1
    degree = np.zeros(d, dtype=np.float64)
    for node, mt in zip(t, m, strict=True):
        if mt == 0:
            continue
        p = degree[:node] + 1.0
        targets = rng.choice(node, size=int(mt), replace=False, p=p / p.sum())
        degree[targets] += 1.0
        degree[node] += mt
        src.append(np.full(int(mt), node))
        dst.append(targets)
    return np.concatenate(src), np.concatenate(dst)


# --------------------------------------------------------------------------------------------
# graphs and weights
# --------------------------------------------------------------------------------------------


def simulate_dag(
    n_nodes: int,
    n_edges: int | None = None,
    *,
    graph_type: str = "er",
    edges_per_node: float | None = None,
    random_state: Any = None,
) -> np.ndarray:
    """Random DAG with a given number of edges: Erdős–Rényi ("er") or scale-free ("sf").

    Parameters
    ----------
    n_nodes : int
        Number of nodes ``d >= 1``.
    n_edges : int, optional
        Exact number of edges, ``0 <= n_edges <= d (d - 1) / 2``.  Give this or
        ``edges_per_node``, not both.
    graph_type : {"er", "sf"}, default "er"
        ``"er"``: the skeleton is uniform among all graphs with ``n_edges`` edges (G(d, m), as
        NOTEARS/DAGMA draw with igraph ``Erdos_Renyi(n, m)``).  ``"sf"``: Barabási–Albert
        preferential attachment; each arriving node attaches to earlier nodes chosen with
        probability proportional to ``degree + 1``, and the edges point from the new node to the
        old ones, so hubs have many parents (as NOTEARS/DAGMA's ``Barabasi(directed=True)``).
    edges_per_node : float, optional
        The NOTEARS "ER-k"/"SF-k" convention: ``n_edges = round(k * d)``.  When neither
        ``n_edges`` nor ``edges_per_node`` is given, ``edges_per_node = 1`` (at most the
        ``d (d - 1) / 2`` edges of a complete DAG, for tiny ``d``).
    random_state : int, numpy.random.Generator or None
        Seed or generator.

    Returns
    -------
    A : ndarray of shape (n_nodes, n_nodes), dtype int8
        0/1 adjacency, ``A[i, j] = 1`` meaning ``i -> j``; acyclic, with exactly ``n_edges``
        edges.  Nodes are randomly relabelled, so the topological order is a random permutation
        (not ``0..d-1``).

    Raises
    ------
    ValueError
        ``n_nodes < 1``, a negative edge count, or more edges than a DAG on ``d`` nodes can hold;
        unknown ``graph_type``.
    TypeError
        Both ``n_edges`` and ``edges_per_node`` given; non-integer ``n_nodes`` / ``n_edges``.

    Notes
    -----
    For "sf" the per-node edge counts ``m_t`` are as equal as the cap ``m_t <= t`` allows, so the
    total is exactly ``n_edges`` (NOTEARS uses ``m = round(n_edges / d)`` for every node, which
    gives about ``m d - m (m + 1) / 2`` edges).  Transpose the result to get hubs with many
    children.  Cost: O(n_edges) for "er", O(d^2) for "sf".

    References
    ----------
    Zheng, Aragam, Ravikumar, Xing. "DAGs with NO TEARS", NeurIPS 2018.
    Barabási, Albert. "Emergence of scaling in random networks", Science 286, 1999.

    Examples
    --------
    >>> A = simulate_dag(10, graph_type="er", edges_per_node=2, random_state=0)
    >>> A.shape, int(A.sum())
    ((10, 10), 20)
    """
    d = check_int(n_nodes, "n_nodes", low=1)
    s = _n_edges_from(d, n_edges, edges_per_node)
    kind = check_option(graph_type, "graph_type", GRAPH_TYPES)
    rng = check_random_state(random_state)
    if kind == "er":
        i, j = _er_edges(rng, d, s)
    else:
        i, j = _sf_edges(rng, d, s)
    perm = rng.permutation(d)
    A = np.zeros((d, d), dtype=np.int8)
    A[perm[i], perm[j]] = 1
    return A


def simulate_weights(
    A: Any,
    weight_range: Any = DEFAULT_WEIGHT_RANGE,
    *,
    random_state: Any = None,
) -> np.ndarray:
    """Random edge weights on the support of a DAG.

    Parameters
    ----------
    A : array_like of shape (d, d)
        Adjacency; ``A[i, j] != 0`` means ``i -> j``.  Must be acyclic.
    weight_range : (low, high) or sequence of (low, high), default ((-2, -0.5), (0.5, 2))
        For each edge one of the ranges is picked with equal probability (not in proportion
        to its length, as in NOTEARS), then the weight is uniform inside it.
    random_state : int, numpy.random.Generator or None
        Seed or generator.

    Returns
    -------
    W : ndarray of shape (d, d), float64
        ``W[i, j]`` is the weight of ``i -> j``; zero off the support of ``A``.

    Raises
    ------
    ValueError
        ``A`` not square, not finite, or cyclic; a ``weight_range`` pair with ``low >= high``.
    TypeError
        ``weight_range`` that is not numeric pairs.

    Notes
    -----
    A range that contains 0 can give (with probability zero) a zero weight that drops the edge.

    References
    ----------
    Zheng, Aragam, Ravikumar, Xing. "DAGs with NO TEARS", NeurIPS 2018.

    Examples
    --------
    >>> A = simulate_dag(5, 4, random_state=1)
    >>> W = simulate_weights(A, random_state=1)
    >>> bool(((np.abs(W[A == 1]) >= 0.5) & (np.abs(W[A == 1]) <= 2)).all())
    True
    """
    B = _support(A, "A")
    ranges = _check_weight_range(weight_range)
    rng = check_random_state(random_state)
    W = np.zeros(B.shape, dtype=np.float64)
    W[B] = _draw_weights(rng, ranges, int(B.sum()))
    return W


# --------------------------------------------------------------------------------------------
# structural equation models
# --------------------------------------------------------------------------------------------


def simulate_linear_sem(
    W: Any,
    n_samples: int,
    *,
    noise: str = "gaussian",
    noise_scale: Any = 1.0,
    random_state: Any = None,
) -> np.ndarray:
    """Sample a linear SEM ``X = X @ W + E`` with independent noise.

    Parameters
    ----------
    W : array_like of shape (d, d)
        Weighted adjacency of a DAG; ``W[i, j]`` is the coefficient of ``X_i`` in the equation of
        ``X_j``.
    n_samples : int
        Number of rows, ``>= 1``.
    noise : {"gaussian", "exponential", "gumbel", "uniform", "laplace", "logistic"}
        Noise family; every continuous family is centred to mean zero and scaled by
        ``noise_scale`` s (its scale parameter, as in NOTEARS):

        =========== ======================== ==============
        noise       E_j                      Var(E_j)
        =========== ======================== ==============
        gaussian    s N(0, 1)                s^2
        exponential s (Exp(1) - 1)           s^2
        gumbel      s (Gumbel(0, 1) - gamma) pi^2 s^2 / 6
        uniform     U(-s, s)                 s^2 / 3
        laplace     s Laplace(0, 1)          2 s^2
        =========== ======================== ==============

        ``"logistic"`` gives binary data as in NOTEARS: ``X_j ~ Bernoulli(sigmoid(X @ W[:, j]))``
        in topological order (no additive noise; ``noise_scale`` must stay 1).
    noise_scale : float or array_like of shape (d,), default 1.0
        Scale parameter, one for all nodes or one per node; must be > 0.
    random_state : int, numpy.random.Generator or None
        Seed or generator.

    Returns
    -------
    X : ndarray of shape (n_samples, d), float64
        Samples (values 0.0/1.0 for ``noise="logistic"``).

    Raises
    ------
    ValueError
        ``W`` not square, not finite or cyclic; ``n_samples < 1``; unknown ``noise``;
        ``noise_scale <= 0`` or of the wrong shape; ``noise_scale != 1`` with ``"logistic"``.

    Notes
    -----
    The continuous families are sampled with one triangular solve in topological order, which
    costs O(n d^2).  The population covariance is ``(I - W)^{-T} D (I - W)^{-1}`` with
    ``D = diag(Var(E_j))`` (see :func:`linear_sem_covariance`).  NOTEARS draws exponential and
    Gumbel noise without centring; only the means differ.

    References
    ----------
    Zheng, Aragam, Ravikumar, Xing. "DAGs with NO TEARS", NeurIPS 2018.

    Examples
    --------
    >>> W = np.array([[0.0, 2.0], [0.0, 0.0]])
    >>> X = simulate_linear_sem(W, 20000, random_state=0)
    >>> np.round(np.var(X, axis=0), 1)
    array([1., 5.])
    """
    W, order = _dag_weights(W)
    n = check_int(n_samples, "n_samples", low=1)
    kind = check_option(noise, "noise", LINEAR_NOISES)
    d = W.shape[0]
    scale = _per_node(noise_scale, "noise_scale", d)
    rng = check_random_state(random_state)
    if kind == "logistic":
        if not np.all(scale == 1.0):
            raise ValueError("noise_scale has no meaning for noise='logistic'; leave it at 1.0")
        X = np.zeros((n, d))
        for j in order:
            X[:, j] = rng.random(n) < _sigmoid(X @ W[:, j])
        return X
    return _sample_linear(W, order, _draw_noise(rng, kind, n, scale))


def linear_sem_covariance(W: Any, *, noise: str = "gaussian", noise_scale: Any = 1.0) -> np.ndarray:
    """Population covariance ``(I - W)^{-T} D (I - W)^{-1}`` of a linear SEM.

    Parameters
    ----------
    W : array_like of shape (d, d)
        Weighted adjacency of a DAG (``W[i, j]``: ``i -> j``).
    noise : {"gaussian", "exponential", "gumbel", "uniform", "laplace"}
        Noise family, as in :func:`simulate_linear_sem`; sets ``D = diag(Var(E_j))``.
    noise_scale : float or array_like of shape (d,), default 1.0
        Scale parameter per node, > 0.

    Returns
    -------
    Sigma : ndarray of shape (d, d), float64
        Covariance of the rows of :func:`simulate_linear_sem` with the same arguments.

    Raises
    ------
    ValueError
        ``W`` not square, not finite or cyclic; unknown ``noise``; ``noise_scale <= 0``.

    Notes
    -----
    Useful for population-level diagnostics, e.g. ``varsortability`` computed from
    ``np.diag(Sigma)`` instead of sample variances.  Cost O(d^3).

    References
    ----------
    Bollen. "Structural Equations with Latent Variables", Wiley 1989.

    Examples
    --------
    >>> linear_sem_covariance(np.array([[0.0, 2.0], [0.0, 0.0]]))
    array([[1., 2.],
           [2., 5.]])
    """
    W, _ = _dag_weights(W)
    kind = check_option(noise, "noise", CONTINUOUS_NOISES)
    d = W.shape[0]
    var = _per_node(noise_scale, "noise_scale", d) ** 2 * _NOISE_VARIANCE[kind]
    T = np.linalg.inv(np.eye(d) - W)  # X = E T
    return T.T @ (var[:, None] * T)


def simulate_nonlinear_sem(
    A: Any,
    n_samples: int,
    *,
    mechanism: str = "mlp",
    noise: str = "gaussian",
    noise_scale: Any = 1.0,
    hidden_units: int = 100,
    weight_range: Any = ((-2.0, -0.5), (0.5, 2.0)),
    random_state: Any = None,
) -> np.ndarray:
    """Sample a nonlinear additive-noise SEM ``X_j = f_j(X_pa(j)) + E_j`` on a given DAG.

    Parameters
    ----------
    A : array_like of shape (d, d)
        Adjacency of a DAG; ``A[i, j] != 0`` means ``i -> j``.  Only the support is used.
    n_samples : int
        Number of rows, ``>= 1``.
    mechanism : {"mlp", "mim", "sigmoid", "tanh", "sin", "quadratic"}, default "mlp"
        How each node depends on its parents ``x = X_pa(j)`` (root nodes are pure noise).  All
        random parameters ``w`` are drawn from ``weight_range``, independently per node.

        - ``"mlp"``: NOTEARS-MLP / DAGMA simulator, one hidden layer of ``hidden_units`` logistic
          units, ``f(x) = sigmoid(x @ W1) @ w2`` with ``W1`` of shape ``(|pa|, hidden_units)``.
        - ``"mim"``: NOTEARS multiple index model,
          ``f(x) = tanh(x @ w1) + cos(x @ w2) + sin(x @ w3)``.
        - ``"sigmoid"``, ``"tanh"``, ``"sin"``, ``"quadratic"``: additive models
          ``f(x) = sum_i w_i g(z_i)`` with ``g`` the logistic sigmoid, ``tanh``, ``sin`` or
          ``z ** 2``, where ``z_i`` is parent ``i`` standardised with its sample mean and standard
          deviation (so the signal neither explodes nor saturates along deep paths).
    noise : {"gaussian", "exponential", "gumbel", "uniform", "laplace"}, default "gaussian"
        Additive noise family, centred, as in :func:`simulate_linear_sem`.
    noise_scale : float or array_like of shape (d,), default 1.0
        Noise scale parameter, > 0.
    hidden_units : int, default 100
        Width of the hidden layer for ``"mlp"``.
    weight_range : (low, high) or sequence of (low, high), default ((-2, -0.5), (0.5, 2))
        Range(s) of the mechanism parameters, as in :func:`simulate_weights`.
    random_state : int, numpy.random.Generator or None
        Seed or generator.

    Returns
    -------
    X : ndarray of shape (n_samples, d), float64

    Raises
    ------
    ValueError
        ``A`` not square, not finite or cyclic; ``n_samples < 1``; unknown ``mechanism`` or
        ``noise``; ``noise_scale <= 0``; ``hidden_units < 1``; a bad ``weight_range``.

    Notes
    -----
    Nodes are sampled in topological order, O(n d^2 + n |E| hidden_units) for "mlp".  The
    additive mechanisms standardise parents with constants computed from this sample, so the
    mechanism is fixed for the returned data set but differs slightly between calls with
    different ``n_samples``.

    References
    ----------
    Zheng, Dan, Aragam, Ravikumar, Xing. "Learning Sparse Nonparametric DAGs", AISTATS 2020.
    Bello, Aragam, Ravikumar. "DAGMA: Learning DAGs via M-matrices and a Log-Determinant
    Acyclicity Characterization", NeurIPS 2022.

    Examples
    --------
    >>> A = simulate_dag(5, 5, random_state=0)
    >>> X = simulate_nonlinear_sem(A, 100, mechanism="mlp", random_state=0)
    >>> X.shape
    (100, 5)
    """
    B = _support(A, "A")
    order = _topological_order(B, "A")
    n = check_int(n_samples, "n_samples", low=1)
    mech = check_option(mechanism, "mechanism", MECHANISMS)
    kind = check_option(noise, "noise", CONTINUOUS_NOISES)
    d = B.shape[0]
    scale = _per_node(noise_scale, "noise_scale", d)
    hidden = check_int(hidden_units, "hidden_units", low=1)
    ranges = _check_weight_range(weight_range)
    rng = check_random_state(random_state)

    X = _draw_noise(rng, kind, n, scale)
    for j in order:
        pa = np.flatnonzero(B[:, j])
        k = pa.size
        if k == 0:
            continue
        Xpa = X[:, pa]
        if mech == "mlp":
            W1 = _draw_weights(rng, ranges, (k, hidden))
            w2 = _draw_weights(rng, ranges, hidden)
            X[:, j] += _sigmoid(Xpa @ W1) @ w2
        elif mech == "mim":
            w = _draw_weights(rng, ranges, (3, k))
            X[:, j] += np.tanh(Xpa @ w[0]) + np.cos(Xpa @ w[1]) + np.sin(Xpa @ w[2])
        else:
            sd = Xpa.std(axis=0)
            Z = (Xpa - Xpa.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
            if mech == "sigmoid":
                G = _sigmoid(Z)
            elif mech == "tanh":
                G = np.tanh(Z)
            elif mech == "sin":
                G = np.sin(Z)
            else:  # quadratic
                G = Z * Z
            X[:, j] += G @ _draw_weights(rng, ranges, k)
    return X


# --------------------------------------------------------------------------------------------
# discrete Bayesian networks
# --------------------------------------------------------------------------------------------


def simulate_discrete_bn(
    A: Any,
    n_samples: int,
    *,
    cardinalities: Any = 2,
    dirichlet_alpha: float = 1.0,
    random_state: Any = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random discrete Bayesian network on a DAG, sampled ancestrally.

    Parameters
    ----------
    A : array_like of shape (d, d)
        Adjacency of a DAG; ``A[i, j] != 0`` means ``i -> j``.
    n_samples : int
        Number of rows, ``>= 1``.
    cardinalities : int or array_like of int, shape (d,), default 2
        Number of states of each node (>= 2); states are ``0 .. c_j - 1``.
    dirichlet_alpha : float, default 1.0
        Symmetric Dirichlet concentration (> 0) of every CPT row: 1 is uniform over the simplex,
        small values give near-deterministic CPTs (strong dependencies), large ones near-uniform
        CPTs (weak dependencies).
    random_state : int, numpy.random.Generator or None
        Seed or generator.

    Returns
    -------
    X : ndarray of shape (n_samples, d), int64
        States, column ``j`` in ``0 .. cardinalities[j] - 1``.
    cpts : list of d ndarrays
        ``cpts[j]`` has shape ``(c_p1, ..., c_pk, c_j)`` for the parents ``p1 < ... < pk`` of
        ``j`` (sorted by index), and ``cpts[j][x_p1, ..., x_pk, :]`` is
        ``P(X_j = . | parents = x)``; each such row sums to 1.  For a root, shape ``(c_j,)``.

    Raises
    ------
    ValueError
        ``A`` not square, not finite or cyclic; ``n_samples < 1``; a cardinality < 2 or of the
        wrong shape; ``dirichlet_alpha <= 0``; a CPT with more than 10^7 entries.
    TypeError
        Non-integer cardinalities.

    Notes
    -----
    Sampling is vectorised over rows: per node (in topological order) one gather of the CPT
    rows and one inverse-CDF draw, O(n sum_j c_j).  CPTs grow as the product of the parents'
    cardinalities.

    References
    ----------
    Koller, Friedman. "Probabilistic Graphical Models", MIT Press 2009, ch. 3 and 12.1.

    Examples
    --------
    >>> A = np.array([[0, 1], [0, 0]])
    >>> X, cpts = simulate_discrete_bn(A, 1000, cardinalities=[3, 2], random_state=0)
    >>> X.shape, cpts[0].shape, cpts[1].shape
    ((1000, 2), (3,), (3, 2))
    """
    B = _support(A, "A")
    order = _topological_order(B, "A")
    n = check_int(n_samples, "n_samples", low=1)
    d = B.shape[0]
    card = _check_cardinalities(cardinalities, d)
    alpha = check_float(dirichlet_alpha, "dirichlet_alpha", low=0.0, low_inclusive=False)
    rng = check_random_state(random_state)

    X = np.zeros((n, d), dtype=np.int64)
    cpts: list[np.ndarray] = [np.zeros(0)] * d
    for j in order:
        pa = np.flatnonzero(B[:, j])
        pa_card = tuple(int(c) for c in card[pa])
        n_rows = int(np.prod(pa_card, dtype=np.float64))
        if n_rows * card[j] > _MAX_CPT_ENTRIES:
            raise ValueError(
                f"node {j} has {pa.size} parents; its CPT would have {n_rows} x {card[j]} entries "
                f"(limit {_MAX_CPT_ENTRIES}); use fewer parents or smaller cardinalities"
            )
        table = rng.dirichlet(np.full(card[j], alpha), size=n_rows)
        cpts[j] = table.reshape(*pa_card, card[j])
        rows = (
            np.ravel_multi_index(tuple(X[:, pa].T), pa_card) if pa.size else np.zeros(n, np.int64)
        )
        cdf = np.cumsum(table, axis=1)[rows, :-1]
        X[:, j] = (rng.random(n)[:, None] >= cdf).sum(axis=1)
    return X, cpts


def _check_cardinalities(cardinalities: Any, d: int) -> np.ndarray:
    if isinstance(cardinalities, numbers.Integral) and not isinstance(cardinalities, bool):
        return np.full(d, check_int(cardinalities, "cardinalities", low=2), dtype=np.int64)
    arr = np.asarray(cardinalities)
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"cardinalities must be an int or an integer array of shape ({d},); "
            f"got {cardinalities!r}"
        )
    if arr.shape != (d,):
        raise ValueError(
            f"cardinalities must be an int or have shape ({d},); got shape {arr.shape}"
        )
    if (arr < 2).any():
        raise ValueError(f"every cardinality must be >= 2; got {arr.tolist()}")
    return arr.astype(np.int64)


# --------------------------------------------------------------------------------------------
# interventions
# --------------------------------------------------------------------------------------------


def _check_targets(targets: Any, d: int) -> list[np.ndarray]:
    if targets is None:
        return [np.array([j]) for j in range(d)]
    if isinstance(targets, (str, bytes)) or not isinstance(targets, (Sequence, np.ndarray)):
        raise TypeError(
            f"targets must be a sequence of node lists, e.g. [[0], [2, 3]]; got {targets!r}"
        )
    out = []
    for k, t in enumerate(targets):
        if isinstance(t, numbers.Integral) and not isinstance(t, bool):
            t = [t]
        arr = np.asarray(t)
        if arr.size == 0:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise TypeError(
                f"targets[{k}] must be a node index or a list of node indices; got {t!r}"
            )
        if (arr < 0).any() or (arr >= d).any():
            raise ValueError(f"targets[{k}] has node indices outside [0, {d - 1}]: {arr.tolist()}")
        if np.unique(arr).size != arr.size:
            raise ValueError(f"targets[{k}] lists a node twice: {arr.tolist()}")
        out.append(arr.astype(np.int64))
    if not out:
        raise ValueError("targets must list at least one environment")
    return out


def simulate_interventions(
    W: Any,
    n_samples_per_env: Any,
    targets: Any = None,
    *,
    kind: str = "hard",
    observational: bool = True,
    noise: str = "gaussian",
    noise_scale: Any = 1.0,
    intervention_shift: float = 0.0,
    intervention_scale: float = 1.0,
    weight_range: Any = DEFAULT_WEIGHT_RANGE,
    return_weights: bool = False,
    random_state: Any = None,
) -> tuple[np.ndarray, ...]:
    """Multi-environment data from a linear SEM under hard or soft interventions.

    Parameters
    ----------
    W : array_like of shape (d, d)
        Weighted adjacency of the observational DAG (``W[i, j]``: ``i -> j``).
    n_samples_per_env : int or sequence of int
        Rows per environment (>= 1), one number for all or one per environment (after the
        observational environment is prepended, see ``observational``).
    targets : sequence of (int or sequence of int), optional
        One entry per interventional environment: the nodes intervened on together.  An int is
        a single target; an empty list is an observational environment.  Default: one
        single-node intervention per node, ``[[0], [1], ..., [d - 1]]``.
    kind : {"hard", "soft"}, default "hard"
        What an intervention on node ``j`` does (all other equations stay unchanged):

        - ``"hard"`` (perfect, structural): all incoming edges of ``j`` are cut (``W[:, j] = 0``)
          and ``X_j = intervention_shift + intervention_scale * E_j``, with ``E_j`` a fresh draw
          of the node's own noise.
        - ``"soft"`` (imperfect, mechanism change): ``j`` keeps its parents but the weights of its
          incoming edges are redrawn independently from ``weight_range``; its noise becomes
          ``intervention_shift + intervention_scale * E_j``.
    observational : bool, default True
        If True and no entry of ``targets`` is empty, an observational environment is prepended
        as environment 0.  If ``targets`` already has an empty entry, environments follow
        ``targets`` exactly, and the empty entry is the observational one.
    noise : {"gaussian", "exponential", "gumbel", "uniform", "laplace"}, default "gaussian"
        Noise family, as in :func:`simulate_linear_sem`.
    noise_scale : float or array_like of shape (d,), default 1.0
        Noise scale parameter, > 0.
    intervention_shift : float, default 0.0
        Added to the noise (so to the mean) of every intervened node.
    intervention_scale : float, default 1.0
        Multiplies the noise of every intervened node; > 0.
    weight_range : (low, high) or sequence of (low, high), default ((-2, -0.5), (0.5, 2))
        Range(s) of the redrawn weights for ``kind="soft"``.
    return_weights : bool, default False
        Also return the weighted adjacency of each environment.
    random_state : int, numpy.random.Generator or None
        Seed or generator.

    Returns
    -------
    X : ndarray of shape (n_total, d), float64
        Rows of all environments, stacked in environment order.
    env : ndarray of shape (n_total,), int64
        Environment index of every row.
    weights : ndarray of shape (n_env, d, d), float64
        Only with ``return_weights=True``: the SEM weights used in each environment.

    Raises
    ------
    ValueError
        ``W`` not square, not finite or cyclic; unknown ``kind`` or ``noise``; a target outside
        ``[0, d - 1]`` or listed twice; a wrong number of sample sizes; ``noise_scale`` or
        ``intervention_scale`` <= 0.
    TypeError
        ``targets`` that are not lists of node indices.

    Notes
    -----
    Each environment is sampled independently with :func:`simulate_linear_sem`'s solver;
    environment 0 is the observational one unless ``targets`` places the empty list elsewhere.

    References
    ----------
    Eberhardt, Scheines. "Interventions and causal inference", Philosophy of Science 74, 2007.
    Brouillard, Lachapelle, Lacoste, Lacoste-Julien, Drouin. "Differentiable Causal Discovery
    from Interventional Data", NeurIPS 2020.

    Examples
    --------
    >>> W = np.array([[0.0, 1.5], [0.0, 0.0]])
    >>> X, env = simulate_interventions(W, 100, targets=[[1]], random_state=0)
    >>> X.shape, np.bincount(env).tolist()
    ((200, 2), [100, 100])
    """
    W, order = _dag_weights(W)
    d = W.shape[0]
    envs = _check_targets(targets, d)
    if not isinstance(observational, (bool, np.bool_)):
        raise TypeError(f"observational must be a bool; got {observational!r}")
    if observational and all(t.size for t in envs):
        envs = [np.zeros(0, dtype=np.int64), *envs]
    k_env = len(envs)
    if isinstance(n_samples_per_env, numbers.Integral) and not isinstance(n_samples_per_env, bool):
        sizes = [check_int(n_samples_per_env, "n_samples_per_env", low=1)] * k_env
    else:
        if isinstance(n_samples_per_env, (str, bytes)) or not isinstance(
            n_samples_per_env, (Sequence, np.ndarray)
        ):
            raise TypeError(
                f"n_samples_per_env must be an int or a sequence of ints; got {n_samples_per_env!r}"
            )
        sizes = [check_int(v, "n_samples_per_env", low=1) for v in n_samples_per_env]
        if len(sizes) != k_env:
            raise ValueError(
                f"n_samples_per_env needs one size per environment ({k_env}, including the "
                f"observational one); got {len(sizes)}"
            )
    mode = check_option(kind, "kind", ("hard", "soft"))
    nkind = check_option(noise, "noise", CONTINUOUS_NOISES)
    scale = _per_node(noise_scale, "noise_scale", d)
    shift = check_float(intervention_shift, "intervention_shift")
    iscale = check_float(intervention_scale, "intervention_scale", low=0.0, low_inclusive=False)
    ranges = _check_weight_range(weight_range)
    if not isinstance(return_weights, (bool, np.bool_)):
        raise TypeError(f"return_weights must be a bool; got {return_weights!r}")
    rng = check_random_state(random_state)

    blocks, labels, env_weights = [], [], []
    for e, (tg, n) in enumerate(zip(envs, sizes, strict=True)):
        We = W.copy()
        sc = scale.copy()
        if tg.size:
            if mode == "hard":
                We[:, tg] = 0.0
            else:
                sub = We[:, tg]
                mask = sub != 0
                sub[mask] = _draw_weights(rng, ranges, int(mask.sum()))
                We[:, tg] = sub
            sc[tg] *= iscale
        E = _draw_noise(rng, nkind, n, sc)
        E[:, tg] += shift
        blocks.append(_sample_linear(We, order, E))  # support only shrinks: order stays valid
        labels.append(np.full(n, e, dtype=np.int64))
        env_weights.append(We)
    X, env = np.concatenate(blocks), np.concatenate(labels)
    if return_weights:
        return X, env, np.stack(env_weights)
    return X, env


# --------------------------------------------------------------------------------------------
# one-call data set
# --------------------------------------------------------------------------------------------


class SimulatedDataset(NamedTuple):
    """Result of :func:`simulate_dataset`: data, weights (linear only) and the true DAG."""

    X: np.ndarray
    """Samples, shape (n_samples, n_nodes)."""
    W: np.ndarray | None
    """Weighted adjacency (``W[i, j]``: ``i -> j``) for ``sem="linear"``; None otherwise."""
    B: np.ndarray
    """0/1 adjacency of the true DAG, int8."""


def simulate_dataset(
    n_nodes: int,
    n_samples: int,
    *,
    graph_type: str = "er",
    edges_per_node: float | None = None,
    sem: str = "linear",
    noise: str = "gaussian",
    mechanism: str = "mlp",
    noise_scale: Any = 1.0,
    weight_range: Any = DEFAULT_WEIGHT_RANGE,
    standardized: bool = False,
    random_state: Any = None,
) -> SimulatedDataset:
    """One call: random DAG, parameters and samples (the NOTEARS "ER-k/SF-k" benchmark setup).

    Parameters
    ----------
    n_nodes : int
        Number of variables ``d >= 1``.
    n_samples : int
        Number of rows ``>= 1``.
    graph_type : {"er", "sf"}, default "er"
        Random graph model, see :func:`simulate_dag`.
    edges_per_node : float, optional
        ``k`` in ER-k / SF-k: the DAG has ``round(k * d)`` edges.  Default 2, capped at the
        ``d (d - 1) / 2`` edges of a complete DAG (which only binds for ``d <= 4``).
    sem : {"linear", "nonlinear"}, default "linear"
        :func:`simulate_linear_sem` with weights from :func:`simulate_weights`, or
        :func:`simulate_nonlinear_sem`.
    noise : str, default "gaussian"
        Noise family (``"logistic"`` only for ``sem="linear"``).
    mechanism : str, default "mlp"
        Nonlinear mechanism, used only for ``sem="nonlinear"``.
    noise_scale : float or array_like of shape (d,), default 1.0
        Noise scale parameter, > 0.
    weight_range : (low, high) or sequence of (low, high), default ((-2, -0.5), (0.5, 2))
        Edge weights (linear) or mechanism parameters (nonlinear).
    standardized : bool, default False
        Standardise every column of ``X`` (removes varsortability, see :func:`standardize`).
    random_state : int, numpy.random.Generator or None
        Seed or generator; one generator drives graph, weights and samples.

    Returns
    -------
    SimulatedDataset
        Named tuple ``(X, W, B)``: samples ``(n_samples, d)``, weighted adjacency ``(d, d)``
        (None for ``sem="nonlinear"``) and 0/1 adjacency ``(d, d)`` int8, ``B[i, j] = 1`` for
        ``i -> j``.

    Raises
    ------
    ValueError
        Any invalid argument, as raised by the functions above; unknown ``sem``.

    Notes
    -----
    Equivalent to calling :func:`simulate_dag`, :func:`simulate_weights` and
    :func:`simulate_linear_sem` (or :func:`simulate_nonlinear_sem`) with one shared generator.

    References
    ----------
    Zheng, Aragam, Ravikumar, Xing. "DAGs with NO TEARS", NeurIPS 2018.

    Examples
    --------
    >>> X, W, B = simulate_dataset(10, 200, edges_per_node=2, random_state=0)
    >>> X.shape, int(B.sum()), bool(((W != 0) == (B == 1)).all())
    ((200, 10), 20, True)
    """
    kind = check_option(sem, "sem", ("linear", "nonlinear"))
    if not isinstance(standardized, (bool, np.bool_)):
        raise TypeError(f"standardized must be a bool; got {standardized!r}")
    rng = check_random_state(random_state)
    if edges_per_node is None:
        d = check_int(n_nodes, "n_nodes", low=1)
        B = simulate_dag(
            d, min(2 * d, d * (d - 1) // 2), graph_type=graph_type, random_state=rng
        )
    else:
        B = simulate_dag(
            n_nodes, graph_type=graph_type, edges_per_node=edges_per_node, random_state=rng
        )
    n = check_int(n_samples, "n_samples", low=1)
    if kind == "linear":
        W = simulate_weights(B, weight_range, random_state=rng)
        X = simulate_linear_sem(W, n, noise=noise, noise_scale=noise_scale, random_state=rng)
    else:
        W = None
        X = simulate_nonlinear_sem(
            B,
            n,
            mechanism=mechanism,
            noise=noise,
            noise_scale=noise_scale,
            weight_range=weight_range,
            random_state=rng,
        )
    if standardized:
        X = standardize(X)
    return SimulatedDataset(X, W, B)


# --------------------------------------------------------------------------------------------
# diagnostics
# --------------------------------------------------------------------------------------------


def standardize(X: Any) -> np.ndarray:
    """Centre every column to mean 0 and scale it to unit variance.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        Data; at least 2 rows, finite, no constant column.  A DataFrame is accepted.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_features)
        ``(X - mean) / std`` with the population standard deviation (``ddof=0``); float32 input
        stays float32, anything else becomes float64.

    Raises
    ------
    ValueError
        ``X`` not 2-D, fewer than 2 rows, NaN/inf, or a constant column (its variance cannot be
        scaled to 1).
    TypeError
        Non-numeric ``X``.

    Notes
    -----
    Standardising removes the variance signal that makes simulated benchmarks easy for
    scale-dependent methods (varsortability); it does not change the causal structure.

    References
    ----------
    Reisach, Seiler, Weichwald. "Beware of the Simulated DAG! Causal Discovery Benchmarks May Be
    Easy To Game", NeurIPS 2021.

    Examples
    --------
    >>> Z = standardize(np.array([[1.0, 10.0], [3.0, 30.0]]))
    >>> Z
    array([[-1., -1.],
           [ 1.,  1.]])
    """
    X = check_data(X, "X", min_samples=2)
    Z = X - X.mean(axis=0)
    return Z / Z.std(axis=0)


def _sortability(scores: np.ndarray, B: np.ndarray, tol: float) -> float:
    """Shared core of varsortability / r2_sortability (scores >= 0, one per node)."""
    d = B.shape[0]
    s_from = scores[:, None]  # score of the path's first node i
    s_to = scores[None, :]  # score of the path's last node j
    up = s_to > (1.0 + tol) * s_from
    tie = ~up & ((s_to > (1.0 - tol) * s_from) | (s_to == s_from))
    credit = up + 0.5 * tie
    E = B.astype(np.float64)
    Ek = B.copy()
    total = 0.0
    good = 0.0
    for _ in range(d - 1):
        if not Ek.any():
            break
        total += Ek.sum()
        good += credit[Ek].sum()
        Ek = (Ek.astype(np.float64) @ E) > 0
    return float(good / total)


def _check_graph_for(X: np.ndarray, A: Any) -> np.ndarray:
    A = check_square_matrix(A, "A", dtype=np.float64)
    d = X.shape[1]
    if A.shape != (d, d):
        raise ValueError(
            f"A must have shape ({d}, {d}) to match the {d} columns of X; got {A.shape}"
        )
    B = A != 0
    if not B.any():
        raise ValueError("A has no edges; sortability is undefined without directed paths")
    return B


def varsortability(X: Any, A: Any, tol: float = 1e-9) -> float:
    """Fraction of causal paths along which the marginal variance increases (Reisach et al.).

    Parameters
    ----------
    X : array_like of shape (n_samples, d)
        Data; finite, no constant column.
    A : array_like of shape (d, d)
        True graph; ``A[i, j] != 0`` means ``i -> j``.  Must have at least one edge.
    tol : float, default 1e-9
        Relative tolerance: ``Var(X_j) / Var(X_i) > 1 + tol`` counts as an increase, a ratio in
        ``(1 - tol, 1 + tol]`` as a tie.

    Returns
    -------
    v : float
        In [0, 1].  1: variance strictly increases along every causal path (sorting by variance
        recovers the causal order); 0: it always decreases; about 0.5 when variance carries no
        information about the order.

    Raises
    ------
    ValueError
        ``X`` not 2-D, NaN/inf, constant columns, fewer than 2 rows; ``A`` not square, not
        matching ``X``, or without edges; ``tol`` outside [0, 1).

    Notes
    -----
    The definition of the paper,

    .. math:: v = \\frac{\\sum_{k=1}^{d-1} \\sum_{(i, j):\\, (A^k)_{ij} \\neq 0}
              \\mathrm{inc}(\\mathrm{Var}X_i, \\mathrm{Var}X_j)}
              {\\sum_{k=1}^{d-1} \\sum_{(i, j):\\, (A^k)_{ij} \\neq 0} 1},

    with ``inc = 1`` for an increase, 1/2 for a tie and 0 otherwise: a pair ``(i, j)`` counts
    once for every length ``k`` at which a directed path from ``i`` to ``j`` exists (not once per
    path).  Sample variances use ``ddof=0``.  Cost O(L d^3) for longest path length L.

    References
    ----------
    Reisach, Seiler, Weichwald. "Beware of the Simulated DAG! Causal Discovery Benchmarks May Be
    Easy To Game", NeurIPS 2021.

    Examples
    --------
    >>> A = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])  # chain 0 -> 1 -> 2
    >>> X = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])  # variances increase along the chain
    >>> varsortability(X, A)
    1.0
    >>> varsortability(X[:, ::-1], A)
    0.0
    """
    X = check_data(X, "X", dtype=np.float64, min_samples=2)
    B = _check_graph_for(X, A)
    tol = check_float(tol, "tol", low=0.0, high=1.0, high_inclusive=False)
    return _sortability(X.var(axis=0), B, tol)


def r2_sortability(X: Any, A: Any, tol: float = 1e-9) -> float:
    """Fraction of causal paths along which R^2 (explained by all other variables) increases.

    Parameters
    ----------
    X : array_like of shape (n_samples, d)
        Data; finite, no constant column, ``n_samples > d`` and full column rank.
    A : array_like of shape (d, d)
        True graph; ``A[i, j] != 0`` means ``i -> j``.  Must have at least one edge.
    tol : float, default 1e-9
        Relative tie tolerance, as in :func:`varsortability`.

    Returns
    -------
    r : float
        In [0, 1]; like :func:`varsortability` with the coefficient of determination of each
        variable regressed (OLS with intercept) on all others in place of its variance.

    Raises
    ------
    ValueError
        As :func:`varsortability`; also ``n_samples <= d`` or collinear columns (the correlation
        matrix must be invertible).

    Notes
    -----
    ``R^2_j = 1 - 1 / (C^{-1})_{jj}`` with ``C`` the sample correlation matrix, so the score is
    invariant to rescaling the columns, unlike varsortability.  Cost O(n d^2 + L d^3).

    References
    ----------
    Reisach, Weichwald, Seiler. "A Scale-Invariant Sorting Criterion to Find a Causal Order in
    Additive Noise Models", NeurIPS 2023.

    Examples
    --------
    >>> W = np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> X = simulate_linear_sem(W, 500, random_state=0)
    >>> r2_sortability(X, W) == r2_sortability(X * [100.0, 0.01], W)
    True
    """
    X = check_data(X, "X", dtype=np.float64, min_samples=2)
    B = _check_graph_for(X, A)
    tol = check_float(tol, "tol", low=0.0, high=1.0, high_inclusive=False)
    n, d = X.shape
    if n <= d:
        raise ValueError(
            f"r2_sortability needs more samples than variables; got X of shape {X.shape}"
        )
    C = np.corrcoef(X, rowvar=False).reshape(d, d)
    try:
        P = np.linalg.inv(C)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            "X has collinear columns; R^2 of each variable on the others is undefined"
        ) from exc
    diag = np.diag(P)
    if not np.isfinite(P).all() or (diag < 1.0 - 1e-8).any() or np.linalg.cond(C) > 1e12:
        raise ValueError(
            "X has (nearly) collinear columns; R^2 of each variable on the others is undefined"
        )
    r2 = np.clip(1.0 - 1.0 / diag, 0.0, 1.0)
    return _sortability(r2, B, tol)
