"""Edge stability by the bootstrap: refit a structure learner on resampled rows and count its edges.

How often an edge appears when the data are resampled is the usual measure of confidence in a
learned graph (Friedman, Goldszmidt and Wyner, "Data analysis with Bayesian networks: a bootstrap
approach", UAI 1999).  :func:`bootstrap_edges` works with every fastcrl estimator that has
``adjacency_``
(``GES``, ``HillClimb``, ``ExactSearch``, ``NOTEARS``, ``DAGMA``, ``SortNRegress``) and keeps its
settings, prior knowledge included; each refit gets its own seed drawn from ``random_state``, so the
whole run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._backend import is_device_array
from ._validation import check_data, check_float, check_int, check_random_state, check_verbose
from .graph import Graph


@dataclass(frozen=True)
class EdgeFrequencies:
    """Edge frequencies over bootstrap refits (fractions of the ``n_bootstrap`` fits).

    Attributes
    ----------
    nodes : tuple of str
        Node names, in the order of the matrices' rows and columns.
    directed : ndarray of shape (d, d)
        ``directed[i, j]``: the fraction of fits with the directed edge ``i -> j``.
    undirected : ndarray of shape (d, d), symmetric
        The fraction of fits with an undirected edge ``i - j`` (equivalence-class outputs, such as
        GES's).
    adjacency : ndarray of shape (d, d), symmetric
        The fraction of fits with any edge between ``i`` and ``j``:
        ``directed[i, j] + directed[j, i] + undirected[i, j]``.
    graphs : ndarray of shape (n_bootstrap, d, d), int8
        Each fit's ``adjacency_``.
    """

    nodes: tuple[str, ...]
    directed: np.ndarray
    undirected: np.ndarray
    adjacency: np.ndarray
    graphs: np.ndarray

    @property
    def n_bootstrap(self) -> int:
        """Number of refits."""
        return int(self.graphs.shape[0])

    def consensus(self, threshold: float = 0.5) -> np.ndarray:
        """The edges present in at least ``threshold`` of the fits, as an adjacency matrix in
        fastcrl's convention (``A[i, j] = 1``: ``i -> j``; both ways: ``i -- j``).

        A pair adjacent in at least ``threshold`` of the fits gets the direction seen in at least
        ``threshold`` of them, else it is left undirected.  With ``threshold > 0.5`` the directed
        edges cannot form a 2-cycle, but longer cycles remain possible (it is a summary, not a DAG
        fit); ``fastcrl.Graph.from_adjacency`` says so if one occurs.
        """
        threshold = check_float(threshold, "threshold", low=0.0, high=1.0, low_inclusive=False)
        adjacent = self.adjacency >= threshold
        forward = adjacent & (self.directed >= threshold)
        A = (forward | (adjacent & ~forward & ~forward.T)).astype(np.int8)
        np.fill_diagonal(A, 0)
        return A

    def edges(self, threshold: float = 0.5) -> list[tuple[str, str, str, float]]:
        """The edges seen in at least ``threshold`` of the fits, most frequent first.

        Returns ``(source, target, kind, frequency)`` tuples, ``kind`` ``"->"`` for directed edges
        and ``"--"`` for undirected ones (listed once, source before target in node order).
        """
        threshold = check_float(threshold, "threshold", low=0.0, high=1.0)
        out = []
        d = len(self.nodes)
        for i in range(d):
            for j in range(d):
                if i != j and self.directed[i, j] >= threshold and self.directed[i, j] > 0:
                    out.append((self.nodes[i], self.nodes[j], "->", float(self.directed[i, j])))
                if i < j and self.undirected[i, j] >= threshold and self.undirected[i, j] > 0:
                    out.append((self.nodes[i], self.nodes[j], "--", float(self.undirected[i, j])))
        return sorted(out, key=lambda e: -e[3])


def _rows(X: Any, index: np.ndarray) -> Any:
    """The rows ``index`` of a NumPy/CuPy array or a pandas DataFrame."""
    if hasattr(X, "iloc"):
        return X.iloc[index]
    if is_device_array(X):
        import cupy

        return cupy.asarray(X)[cupy.asarray(index)]
    return np.asarray(X)[index]


def _host(a: Any) -> np.ndarray:
    return np.asarray(a.get() if hasattr(a, "get") else a)


def _class_of(A: np.ndarray, knowledge: Any, nodes: tuple[str, ...]) -> np.ndarray:
    """The equivalence class of the fit ``A`` (a DAG or a PDAG); restricted by the estimator's
    knowledge when it has some (Meek 1995), so that it orients what the knowledge fixes."""
    dag = Graph.from_adjacency(A.astype(np.int8)).to_dag().to_adjacency() != 0
    if knowledge is None:
        return Graph.from_adjacency(dag.astype(np.int8)).to_cpdag().to_adjacency() != 0
    from ._search import knowledge_class
    from .knowledge import resolve_knowledge

    rk = resolve_knowledge(knowledge, list(nodes))
    return knowledge_class(dag.astype(np.int8), rk.forbidden_mask(), rk.required_mask()) != 0


def bootstrap_edges(
    estimator: Any,
    X: Any,
    *,
    n_bootstrap: int = 50,
    sample_fraction: float = 1.0,
    replace: bool = True,
    equivalence_class: bool = False,
    random_state: Any = None,
    names: Any = None,
    verbose: int = 0,
) -> EdgeFrequencies:
    """Fit copies of ``estimator`` on resampled rows of ``X`` and count each edge.

    Parameters
    ----------
    estimator : fastcrl estimator
        Any estimator with ``get_params``, ``fit(X)`` and ``adjacency_``; it is not fitted itself.
        Its parameters (score, knowledge, thresholds, ...) are kept; one with a ``random_state``
        parameter gets a new seed for each refit, drawn from ``random_state`` below.
    X : array-like of shape (n_samples, n_features)
        NumPy, CuPy (the refits run on the GPU where the estimator supports it) or a DataFrame
        (its column names become the node names).
    n_bootstrap : int, default=50
        Number of refits (>= 1).
    sample_fraction : float, default=1.0
        Rows per resample as a fraction of ``n_samples``, in ``(0, 1]``; with ``replace=False``
        below 1 this is subsampling (m-out-of-n).
    replace : bool, default=True
        Draw the rows with replacement (the bootstrap) or without (subsampling).
    equivalence_class : bool, default=False
        Count the edges of each fit's Markov equivalence class (its CPDAG; restricted by the
        estimator's ``knowledge`` when it has some, as :class:`fastcrl.GES` returns it) instead of
        its ``adjacency_``.  Score-based DAG searches (``HillClimb``, ``ExactSearch``) return one
        DAG of a class whose other members score the same, so their edge directions are only
        meaningful this way; GES already returns the CPDAG.
    random_state : int, numpy.random.Generator or None
        Seeds the resampling and the refits' seeds.
    names : sequence of str, optional
        Node names, passed to each ``fit`` (default: a DataFrame's columns, else ``X0 ..``).
    verbose : int, default=0
        ``> 0``: a progress bar (tqdm).

    Returns
    -------
    EdgeFrequencies

    Raises
    ------
    TypeError
        If ``estimator`` is not a fastcrl-style estimator.
    ValueError
        For ``n_bootstrap < 1``, ``sample_fraction`` outside ``(0, 1]``, ``sample_fraction = 1``
        without replacement (every resample would be ``X`` itself), fewer than 2 rows per
        resample, or a refit that fails (the message names the resample and the error).

    Notes
    -----
    Resampling with replacement repeats rows, and scores with a ``log n`` penalty then accept
    chance edges more often than on the data itself.  Measured on a 4-node chain plus one
    independent variable (n=800, GES, 100 refits, two seeds): pairs without an edge appeared in
    7-10% of bootstrap refits on average (up to 29% for one pair), in 2% (up to 8%) of refits on
    half-samples without replacement (``replace=False, sample_fraction=0.5``); the true edges in
    100% of both.

    Examples
    --------
    >>> import fastcrl
    >>> data = fastcrl.simulate.simulate_dataset(5, 500, edges_per_node=1, random_state=0)
    >>> freq = fastcrl.bootstrap_edges(fastcrl.GES(), data.X, n_bootstrap=10, random_state=0)
    >>> freq.adjacency.shape, freq.n_bootstrap
    ((5, 5), 10)
    """
    if isinstance(estimator, type):
        raise TypeError(
            f"estimator must be an instance, e.g. {estimator.__name__}(), not the class itself"
        )
    if not (hasattr(estimator, "get_params") and hasattr(estimator, "fit")):
        raise TypeError(
            "estimator must be a fastcrl estimator (get_params and fit); got "
            f"{type(estimator).__name__}"
        )
    if estimator.__class__.__module__.startswith("fastcrl.crl"):
        raise TypeError(
            f"estimator must be a structure learner (GES, DAGMA, ...); {type(estimator).__name__} "
            "learns latent variables: bootstrap fastcrl.crl.LatentCausalDiscovery's structure "
            "on its latents instead"
        )
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", low=1)
    verbose = check_verbose(verbose)
    sample_fraction = check_float(
        sample_fraction, "sample_fraction", low=0.0, low_inclusive=False, high=1.0
    )
    for name, flag in (("replace", replace), ("equivalence_class", equivalence_class)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool; got {type(flag).__name__}")
    if not replace and sample_fraction == 1.0:
        raise ValueError(
            "sample_fraction=1 without replacement resamples X itself; use replace=True (the "
            "bootstrap) or a fraction below 1 (subsampling)"
        )
    shape = getattr(X, "shape", None)
    if shape is None:
        X = np.asarray(X)
        shape = X.shape
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {tuple(shape)}")
    # X's own faults (NaN/inf, non-numeric values) are named here, not as a resample's failure
    check_data(X, "X", min_samples=2, allow_constant=True)
    n = int(shape[0])
    m = int(round(sample_fraction * n))
    if m < 2:
        raise ValueError(
            f"each resample would have {m} row(s) (sample_fraction={sample_fraction} of {n}); "
            "at least 2 are needed"
        )
    rng = check_random_state(random_state)
    params = estimator.get_params()
    seeded = "random_state" in params
    bar = None
    if verbose > 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_bootstrap, desc="bootstrap", leave=False)
    graphs, nodes = [], None
    try:
        for b in range(n_bootstrap):
            index = rng.choice(n, size=m, replace=bool(replace))
            if seeded:
                params["random_state"] = int(rng.integers(2**31 - 1))
            fit = type(estimator)(**params)
            try:
                if names is None:
                    fit.fit(_rows(X, index))
                else:
                    fit.fit(_rows(X, index), names=names)
            except (ValueError, ArithmeticError) as exc:
                raise ValueError(
                    f"bootstrap resample {b} ({m} rows): {type(exc).__name__}: {exc}"
                ) from exc
            A = _host(fit.adjacency_) != 0
            if nodes is None:
                graph = getattr(fit, "graph_", None)
                fitted_names = getattr(fit, "node_names_", None)
                if fitted_names is not None:
                    nodes = tuple(fitted_names)
                elif graph is not None:
                    nodes = tuple(graph.nodes)
                else:
                    nodes = tuple(f"X{i}" for i in range(A.shape[0]))
            if equivalence_class:
                A = _class_of(A, params.get("knowledge"), nodes)
            graphs.append(A.astype(np.int8))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    G = np.stack(graphs)
    Gb = G.astype(bool)
    both = Gb & Gb.transpose(0, 2, 1)
    directed = (Gb & ~both).mean(axis=0)
    undirected = both.mean(axis=0)
    np.fill_diagonal(undirected, 0.0)
    adjacency = (Gb | Gb.transpose(0, 2, 1)).mean(axis=0)
    np.fill_diagonal(adjacency, 0.0)
    return EdgeFrequencies(nodes, directed, undirected, adjacency, G)
