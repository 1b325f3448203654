"""Evaluation metrics for causal discovery and causal representation learning.

Graph metrics compare a true graph with an estimated one: :func:`count_accuracy`
(NOTEARS-style rates), :func:`shd` (structural Hamming distance between DAGs or
PDAGs), :func:`shd_cpdag` (SHD between Markov equivalence classes),
:func:`shd_up_to_permutation` (for graphs over learned latents, whose order is arbitrary) and
:func:`skeleton_precision_recall`.  Representation metrics compare true latents
with learned ones: :func:`mcc`, :func:`amari_distance` and :func:`linear_r2`.

Adjacency convention everywhere: ``A[i, j] != 0`` means the edge ``i -> j``.  In a
CPDAG/PDAG an undirected edge ``i - j`` is ``A[i, j] = A[j, i] = 1``; a directed
edge ``i -> j`` is ``A[i, j] = 1, A[j, i] = 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import (
    _to_host,
    check_data,
    check_float,
    check_matrix,
    check_option,
    check_square_matrix,
)

__all__ = [
    "count_accuracy",
    "shd",
    "shd_cpdag",
    "shd_up_to_permutation",
    "skeleton_precision_recall",
    "mcc",
    "amari_distance",
    "linear_r2",
]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _edges(A: Any, name: str, threshold: float = 0.0) -> np.ndarray:
    """Boolean edge matrix ``|A| > threshold`` of a validated square matrix without self-loops
    (a :class:`fastcrl.Graph`, e.g. an estimator's ``graph_``, gives its weights or 0/1 marks)."""
    if hasattr(A, "to_adjacency") and hasattr(A, "weights"):  # a Graph (duck-typed: no import)
        A = A.to_adjacency(weighted=A.weights is not None)
    A = np.asarray(_to_host(check_square_matrix(A, name, dtype=np.float64)))
    B = np.abs(A) > threshold
    loops = np.flatnonzero(np.diag(B))
    if loops.size:
        raise ValueError(
            f"{name} must have no self-loops (zero diagonal); got non-zero diagonal at nodes "
            f"{loops[:10].tolist()}"
        )
    return B


def _same_shape(T: np.ndarray, E: np.ndarray, tname: str, ename: str) -> None:
    if T.shape != E.shape:
        raise ValueError(
            f"{tname} and {ename} must have the same shape; got {T.shape} and {E.shape}"
        )


def _check_acyclic(B: np.ndarray, name: str) -> None:
    """Raise unless the boolean adjacency ``B`` is a DAG (Kahn's algorithm, O(d^2))."""
    d = B.shape[0]
    indeg = B.sum(axis=0).astype(np.int64)
    children = [np.flatnonzero(B[i]) for i in range(d)]
    stack = list(np.flatnonzero(indeg == 0))
    seen = 0
    while stack:
        i = stack.pop()
        seen += 1
        for j in children[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                stack.append(j)
    if seen < d:
        on_cycle = np.flatnonzero(indeg > 0)
        raise ValueError(
            f"{name} must be a DAG (acyclic); it has a directed cycle among nodes "
            f"{on_cycle[:10].tolist()}"
        )


def _ratio(num: int, den: int) -> float:
    return float(num) / den if den > 0 else 0.0


# --------------------------------------------------------------------------------------
# graph metrics
# --------------------------------------------------------------------------------------


def count_accuracy(true: Any, est: Any, *, threshold: float = 0.0) -> dict[str, float | int]:
    """Edge counts and rates of an estimated graph against a true DAG.

    Works like NOTEARS' ``count_accuracy``, with every quantity defined below.
    ``true`` is a DAG; ``est`` may be a DAG, a CPDAG or any PDAG.

    Parameters
    ----------
    true : array_like of shape (d, d)
        True DAG adjacency; ``true[i, j] != 0`` means ``i -> j``.  Weighted matrices
        are accepted (any non-zero entry is an edge).
    est : array_like of shape (d, d)
        Estimated graph; ``|est[i, j]| > threshold`` means an edge mark ``i -> j``.
        A pair with both marks (``est[i, j]`` and ``est[j, i]`` above the threshold)
        is read as an undirected edge ``i - j``.
    threshold : float, default 0.0
        Entries of ``est`` with ``|w| <= threshold`` are treated as absent.  Applies
        to ``est`` only.

    Returns
    -------
    dict
        With ``P`` the set of estimated edges (a directed edge or an undirected
        edge counts once) and ``T`` the set of true directed edges:

        - ``true_edges``: ``|T|``.
        - ``nnz``: ``|P|``.
        - ``reversed``: estimated directed ``i -> j`` where the truth has ``j -> i``.
        - ``extra``: estimated edges (directed or undirected) between two nodes that
          are not adjacent in the truth.
        - ``missing``: true edges whose two nodes are not adjacent in ``est``.
        - ``tp``-based rates, with ``tp`` = estimated directed edges with the true
          orientation plus undirected edges on a true adjacency (NOTEARS' favourable
          treatment of undirected edges): ``tpr = recall = tp / |T|``,
          ``fdr = (reversed + extra) / |P|``, ``precision = tp / |P|``,
          ``fpr = (reversed + extra) / (d(d-1)/2 - |T|)``,
          ``f1 = 2 precision recall / (precision + recall)``.
        - ``shd = extra + missing + reversed``.

        Counts are ``int``, rates ``float``.  A rate whose denominator is 0 is 0.0
        (as NOTEARS, which divides by ``max(den, 1)``).  As in NOTEARS, ``fpr``
        counts reversed edges in its numerator but not its denominator, so it can
        exceed 1.

    Raises
    ------
    ValueError
        If a matrix is not square, contains NaN/inf or self-loops, the shapes differ,
        ``true`` has a directed cycle, or ``threshold`` is negative.
    TypeError
        If an input is not numeric.

    Notes
    -----
    ``nnz = tp + reversed + extra`` always holds, so ``precision = 1 - fdr`` when
    ``nnz > 0``.  For a DAG ``est``, ``shd`` equals :func:`shd`; for a PDAG ``est``
    an undirected edge on a true adjacency costs nothing here but 1 in :func:`shd`.
    Cost O(d^2).

    References
    ----------
    Zheng, Aragam, Ravikumar, Xing, "DAGs with NO TEARS", NeurIPS 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.metrics import count_accuracy
    >>> true = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    >>> est = np.array([[0, 1, 0], [0, 0, 0], [0, 1, 0]])   # 0 -> 1 right, 1 -> 2 reversed
    >>> r = count_accuracy(true, est)
    >>> r["shd"], r["reversed"], r["tpr"]
    (1, 1, 0.5)
    """
    threshold = check_float(threshold, "threshold", low=0.0)
    T = _edges(true, "true")
    E = _edges(est, "est", threshold)
    _same_shape(T, E, "true", "est")
    _check_acyclic(T, "true")
    d = T.shape[0]

    e_dir = E & ~E.T  # directed i -> j
    e_und = np.triu(E & E.T, 1)  # undirected pairs, each once
    t_skel = T | T.T
    e_skel = E | E.T

    tp = int((e_dir & T).sum() + (e_und & t_skel).sum())
    rev = int((e_dir & T.T).sum())
    extra = int((e_dir & ~t_skel).sum() + (e_und & ~t_skel).sum())
    missing = int((np.triu(t_skel, 1) & ~e_skel).sum())
    nnz = int(e_dir.sum() + e_und.sum())
    n_true = int(T.sum())
    cond_neg = d * (d - 1) // 2 - n_true

    precision = _ratio(tp, nnz)
    recall = _ratio(tp, n_true)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "shd": extra + missing + rev,
        "tpr": recall,
        "fdr": _ratio(rev + extra, nnz),
        "fpr": _ratio(rev + extra, cond_neg),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "nnz": nnz,
        "extra": extra,
        "missing": missing,
        "reversed": rev,
        "true_edges": n_true,
    }


def shd(true: Any, est: Any, *, double_for_anticausal: bool = False, threshold: float = 0.0) -> int:
    """Structural Hamming distance between two DAGs or PDAGs.

    Parameters
    ----------
    true : array_like of shape (d, d)
        First graph (DAG, CPDAG or PDAG); ``true[i, j] != 0`` means an edge mark
        ``i -> j``; both marks mean the undirected edge ``i - j``.
    est : array_like of shape (d, d)
        Second graph, same encoding; ``|est[i, j]| > threshold`` is an edge mark.
    double_for_anticausal : bool, default False
        If False, each unordered pair ``{i, j}`` whose edge differs (missing, extra,
        reversed, directed vs undirected) counts 1.  If True, count the entries
        ``(i, j)``, ``i != j``, where the two binarised matrices differ, as the
        Causal Discovery Toolbox does: a reversed edge and a missing or extra
        undirected edge count 2, a directed-vs-undirected difference counts 1.
    threshold : float, default 0.0
        Entries of ``est`` with ``|w| <= threshold`` are treated as absent.

    Returns
    -------
    int
        The distance, between 0 and ``d(d-1)/2`` (or ``d(d-1)`` when
        ``double_for_anticausal``).

    Raises
    ------
    ValueError
        If a matrix is not square, contains NaN/inf or self-loops, the shapes
        differ, or ``threshold`` is negative.
    TypeError
        If an input is not numeric or ``double_for_anticausal`` is not a bool.

    Notes
    -----
    Symmetric in its two arguments when ``threshold == 0``; ``shd(A, A) == 0``.
    For two DAGs it equals ``extra + missing + reversed`` of :func:`count_accuracy`.
    No acyclicity is required.  Cost O(d^2).

    References
    ----------
    Tsamardinos, Brown, Aliferis, "The max-min hill-climbing Bayesian network
    structure learning algorithm", Machine Learning 65, 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.metrics import shd
    >>> a = np.array([[0, 1], [0, 0]])
    >>> shd(a, a.T), shd(a, a.T, double_for_anticausal=True), shd(a, a + a.T)
    (1, 2, 1)
    """
    if not isinstance(double_for_anticausal, (bool, np.bool_)):
        raise TypeError(
            "double_for_anticausal must be a bool; got "
            f"{type(double_for_anticausal).__name__} {double_for_anticausal!r}"
        )
    threshold = check_float(threshold, "threshold", low=0.0)
    T = _edges(true, "true")
    E = _edges(est, "est", threshold)
    _same_shape(T, E, "true", "est")
    diff = T != E
    if double_for_anticausal:
        return int(diff.sum())
    return int(np.triu(diff | diff.T, 1).sum())


def shd_cpdag(
    true_dag: Any, est_dag: Any, *, double_for_anticausal: bool = False, threshold: float = 0.0
) -> int:
    """Structural Hamming distance between the CPDAGs (equivalence classes) of two DAGs.

    Parameters
    ----------
    true_dag : array_like of shape (d, d)
        True DAG; ``true_dag[i, j] != 0`` means ``i -> j``.
    est_dag : array_like of shape (d, d)
        Estimated DAG; ``|est_dag[i, j]| > threshold`` means ``i -> j``.
    double_for_anticausal : bool, default False
        Passed to :func:`shd`.
    threshold : float, default 0.0
        Entries of ``est_dag`` with ``|w| <= threshold`` are treated as absent.

    Returns
    -------
    int
        ``shd(cpdag(true_dag), cpdag(est_dag))``; 0 iff the two DAGs are Markov
        equivalent.

    Raises
    ------
    ValueError
        As :func:`shd`, and if either graph has a directed cycle.

    Notes
    -----
    The CPDAGs come from :func:`fastcrl.graph.dag_to_cpdag`.  Use this score for
    methods that only identify the equivalence class (PC, GES).

    References
    ----------
    Chickering, "Learning equivalence classes of Bayesian-network structures",
    JMLR 2, 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.metrics import shd_cpdag
    >>> chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])   # 0 -> 1 -> 2
    >>> fork = np.array([[0, 0, 0], [1, 0, 1], [0, 0, 0]])    # 0 <- 1 -> 2
    >>> shd_cpdag(chain, fork)                                # Markov equivalent
    0
    """
    from .graph import dag_to_cpdag

    threshold = check_float(threshold, "threshold", low=0.0)
    T = _edges(true_dag, "true_dag")
    E = _edges(est_dag, "est_dag", threshold)
    _same_shape(T, E, "true_dag", "est_dag")
    _check_acyclic(T, "true_dag")
    _check_acyclic(E, "est_dag")
    ct = dag_to_cpdag(T.astype(np.float64))
    ce = dag_to_cpdag(E.astype(np.float64))
    return shd(ct, ce, double_for_anticausal=double_for_anticausal)


# Above this many nodes the search over all d! relabellings is refused (8! = 40,320 SHDs).
_MAX_BRUTE_FORCE_PERMUTATION_NODES = 8


def shd_up_to_permutation(
    true: Any,
    est: Any,
    *,
    matching: Any = None,
    cpdag: bool = False,
    return_matching: bool = False,
) -> int | tuple[int, np.ndarray]:
    """SHD between a true graph and an estimated one whose node labels are arbitrary.

    Graphs learned over learned latents (causal representation learning) come with the latents'
    arbitrary order: estimated node ``matching[i]`` stands for true node ``i``.  This relabels
    ``est`` by ``matching`` and returns :func:`shd` (or :func:`shd_cpdag` with ``cpdag=True``).

    Parameters
    ----------
    true, est : array_like of shape (d, d)
        Adjacency matrices (``A[i, j] != 0`` means ``i -> j``).
    matching : array_like of int, shape (d,), optional
        A permutation: ``matching[i]`` is the estimated node matched to true node ``i``, as
        returned by ``mcc(z_true, z_est, return_matching=True)`` for the latents.  When None, the
        smallest SHD over all ``d!`` relabellings is returned (only for ``d <= 8``).
    cpdag : bool, default False
        Compare Markov equivalence classes (both graphs must be DAGs) instead of the graphs.
    return_matching : bool, default False
        Also return the matching used (the minimising one when ``matching`` is None).

    Returns
    -------
    int, or (int, ndarray of int64)

    Raises
    ------
    ValueError
        Shapes differ, ``matching`` is not a permutation of ``range(d)``, or ``matching`` is None
        with ``d > 8``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.metrics import shd_up_to_permutation
    >>> chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])   # 0 -> 1 -> 2
    >>> relabelled = chain[np.ix_([2, 0, 1], [2, 0, 1])]       # same chain, nodes shuffled
    >>> shd_up_to_permutation(chain, relabelled)
    0
    >>> shd_up_to_permutation(chain, relabelled, matching=[0, 1, 2])
    2
    """
    T = _edges(true, "true")
    E = _edges(est, "est")
    _same_shape(T, E, "true", "est")
    d = T.shape[0]
    distance = shd_cpdag if cpdag else shd
    if matching is not None:
        m = np.asarray(matching)
        if m.dtype.kind not in "iu" or m.shape != (d,) or sorted(m.tolist()) != list(range(d)):
            raise ValueError(f"matching must be a permutation of range({d}); got {m.tolist()!r}")
        m = m.astype(np.int64)
        value = distance(T, E[np.ix_(m, m)])
        return (value, m) if return_matching else value
    if d > _MAX_BRUTE_FORCE_PERMUTATION_NODES:
        raise ValueError(
            f"searching all {d}! relabellings is too costly for d > "
            f"{_MAX_BRUTE_FORCE_PERMUTATION_NODES}; pass matching= (e.g. from "
            "mcc(z_true, z_est, return_matching=True))"
        )
    import itertools

    best, best_m = None, None
    for perm in itertools.permutations(range(d)):
        m = np.asarray(perm, dtype=np.int64)
        value = distance(T, E[np.ix_(m, m)])
        if best is None or value < best:
            best, best_m = value, m
            if value == 0:
                break
    return (best, best_m) if return_matching else best


def skeleton_precision_recall(true: Any, est: Any, *, threshold: float = 0.0) -> dict[str, float]:
    """Precision, recall and F1 of the skeleton (adjacencies, orientation ignored).

    Parameters
    ----------
    true : array_like of shape (d, d)
        True graph (any orientation marks); ``true[i, j] != 0`` makes ``i``, ``j``
        adjacent.
    est : array_like of shape (d, d)
        Estimated graph; ``|est[i, j]| > threshold`` makes ``i``, ``j`` adjacent.
    threshold : float, default 0.0
        Applies to ``est`` only.

    Returns
    -------
    dict
        ``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``, ``f1`` and the
        counts ``tp``, ``fp``, ``fn`` over unordered pairs; a rate with a zero
        denominator is 0.0.

    Raises
    ------
    ValueError
        If a matrix is not square, contains NaN/inf or self-loops, or the shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.metrics import skeleton_precision_recall
    >>> a = np.array([[0, 1], [0, 0]])
    >>> skeleton_precision_recall(a, a.T)["f1"]
    1.0
    """
    threshold = check_float(threshold, "threshold", low=0.0)
    T = _edges(true, "true")
    E = _edges(est, "est", threshold)
    _same_shape(T, E, "true", "est")
    ts = np.triu(T | T.T, 1)
    es = np.triu(E | E.T, 1)
    tp = int((ts & es).sum())
    fp = int((es & ~ts).sum())
    fn = int((ts & ~es).sum())
    p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


# --------------------------------------------------------------------------------------
# representation metrics
# --------------------------------------------------------------------------------------


def _column_scales(Z: np.ndarray) -> np.ndarray:
    """Each column's largest magnitude (1 for all-zero columns)."""
    scale = np.abs(Z).max(axis=0) if Z.shape[0] else np.ones(Z.shape[1])
    return np.where(scale > 0, scale, 1.0)


def _unit_columns(Z: np.ndarray) -> np.ndarray:
    """Z with each column divided by its largest magnitude: the scale-invariant metrics then
    neither overflow nor underflow in their norms and products at extreme magnitudes."""
    return Z / _column_scales(Z)


def _abs_correlation(zt: np.ndarray, ze: np.ndarray, method: str) -> np.ndarray:
    """``|corr(zt[:, i], ze[:, j])|`` of shape (d_true, d_est); 0 for constant ``ze`` columns."""
    if method == "spearman":
        from scipy.stats import rankdata

        zt = rankdata(zt, axis=0)
        ze = rankdata(ze, axis=0)
    zt = _unit_columns(zt - zt.mean(axis=0))
    ze = _unit_columns(ze - ze.mean(axis=0))
    nt = np.linalg.norm(zt, axis=0)
    ne = np.linalg.norm(ze, axis=0)
    num = zt.T @ ze
    den = np.outer(nt, ne)
    C = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return np.clip(np.abs(C), 0.0, 1.0)


def _two_latent_sets(z_true: Any, z_est: Any) -> tuple[np.ndarray, np.ndarray]:
    zt = np.asarray(_to_host(check_data(z_true, "z_true", dtype=np.float64)))
    ze = np.asarray(_to_host(check_data(z_est, "z_est", dtype=np.float64, allow_constant=True)))
    if zt.shape[0] != ze.shape[0]:
        raise ValueError(
            "z_true and z_est must have the same number of samples (rows); got "
            f"{zt.shape[0]} and {ze.shape[0]}"
        )
    return zt, ze


def _check_matching(matching: Any, d_true: int, d_est: int) -> np.ndarray:
    m = np.asarray(matching)
    if m.dtype.kind not in "iu":
        raise TypeError(f"matching must be an integer array; got dtype {m.dtype}")
    if m.shape != (d_true,):
        raise ValueError(f"matching must have shape (d_true,) = ({d_true},); got {m.shape}")
    m = m.astype(np.int64)
    if m.size and (m.min() < -1 or m.max() >= d_est):
        raise ValueError(
            f"matching entries must be in [0, {d_est}) (an index of z_est) or -1 (unmatched); "
            f"got min {m.min()}, max {m.max()}"
        )
    used = m[m >= 0]
    if np.unique(used).size != used.size:
        raise ValueError("matching must be one-to-one; an estimated dimension is used twice")
    k = min(d_true, d_est)
    if used.size != k:
        raise ValueError(f"matching must match min(d_true, d_est) = {k} pairs; got {used.size}")
    return m


def mcc(
    z_true: Any,
    z_est: Any,
    method: str = "pearson",
    *,
    matching: Any = None,
    return_matching: bool = False,
) -> float | tuple[float, np.ndarray]:
    """Mean correlation coefficient between true and estimated latents.

    The mean absolute correlation after the best one-to-one matching of true and
    estimated latent dimensions.

    Parameters
    ----------
    z_true : array_like of shape (n_samples, d_true)
        True latents; no constant columns.
    z_est : array_like of shape (n_samples, d_est)
        Estimated latents, same rows as ``z_true``.  A constant column (a collapsed
        dimension) has correlation 0 with everything.
    method : {"pearson", "spearman"}, default "pearson"
        Correlation; Spearman (Pearson of ranks, ties averaged) is invariant to
        monotone element-wise transformations.
    matching : array_like of int, shape (d_true,), optional
        Use this matching instead of optimising one (``matching[i]`` is the column of
        ``z_est`` paired with true dimension ``i``, -1 for unmatched).  Use it for
        the out-of-sample MCC: fit the matching on training latents, score test
        latents.  Must pair exactly ``min(d_true, d_est)`` dimensions one-to-one.
    return_matching : bool, default False
        Also return the matching.

    Returns
    -------
    score : float
        ``(1/k) sum_i |rho(z_true[:, i], z_est[:, matching[i]])|`` over the
        ``k = min(d_true, d_est)`` matched pairs, in [0, 1].
    matching : ndarray of int64, shape (d_true,)
        Only if ``return_matching``: ``matching[i]`` is the estimated dimension
        matched to true dimension ``i``, or -1 if unmatched (only when
        ``d_est < d_true``).  When ``d_est == d_true`` it is a permutation, and
        ``G_est[np.ix_(matching, matching)]`` puts an estimated latent graph in the
        order of the true latents (for SHD up to permutation).

    Raises
    ------
    ValueError
        If an input is not 2-D, has NaN/inf, fewer than 2 samples, a constant
        ``z_true`` column, if the sample counts differ, ``method`` is unknown, or
        ``matching`` is invalid.
    TypeError
        If an input is not numeric.

    Notes
    -----
    With ``C[i, j] = |rho(z_true[:, i], z_est[:, j])|`` the matching maximises
    ``sum_i C[i, matching[i]]`` over one-to-one maps (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``).  When ``d_est > d_true`` every true
    dimension is matched and the surplus estimated ones are ignored (the usual CRL
    setting); when ``d_est < d_true`` only ``d_est`` true dimensions are matched and
    the score averages over those, so it does not penalise the missing ones.
    Cost O(n d_true d_est + max(d)^3).

    References
    ----------
    Hyvärinen, Morioka, "Unsupervised feature extraction by time-contrastive
    learning and nonlinear ICA", NeurIPS 2016.
    Khemakhem, Kingma, Monti, Hyvärinen, "Variational autoencoders and nonlinear
    ICA: a unifying framework", AISTATS 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.metrics import mcc
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(500, 3))
    >>> score, perm = mcc(z, -2.0 * z[:, [2, 0, 1]], return_matching=True)
    >>> round(score, 12), perm.tolist()
    (1.0, [1, 2, 0])
    """
    method = check_option(method, "method", ("pearson", "spearman"))
    zt, ze = _two_latent_sets(z_true, z_est)
    C = _abs_correlation(zt, ze, method)
    d_true, d_est = C.shape
    if matching is None:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(C, maximize=True)
        m = np.full(d_true, -1, dtype=np.int64)
        m[rows] = cols
    else:
        m = _check_matching(matching, d_true, d_est)
    rows = np.flatnonzero(m >= 0)
    score = float(C[rows, m[rows]].mean())
    return (score, m) if return_matching else score


def amari_distance(W: Any, A: Any = None) -> float:
    """Normalised Amari distance between an unmixing and a mixing matrix.

    Parameters
    ----------
    W : array_like of shape (d, D)
        Estimated unmixing matrix (latents = ``W @ x``).  If ``A`` is None, ``W`` is
        taken as the product ``P`` itself and must be square ``(d, d)``.
    A : array_like of shape (D, d), optional
        True mixing matrix (``x = A @ z``).

    Returns
    -------
    float
        With ``P = |W @ A|`` (d x d)::

            1/(2 d (d-1)) * [ sum_i (sum_j P_ij / max_k P_ik - 1)
                            + sum_j (sum_i P_ij / max_k P_kj - 1) ]

        in [0, 1]; 0 iff ``P`` is a scaled permutation matrix (the latents are
        recovered up to order and scale), 1 iff all entries of ``P`` are equal.  For
        ``d == 1`` the distance is 0.

    Raises
    ------
    ValueError
        If a matrix is not 2-D, contains NaN/inf, the shapes do not give a square
        product, or ``P`` has an all-zero row or column (distance undefined).
    TypeError
        If an input is not numeric.

    Notes
    -----
    This is the Amari et al. (1996) performance index divided by its maximum
    ``2 d (d-1)``; papers differ in this normalisation (some divide by ``2d`` or do
    not subtract 1), so state it when comparing numbers.  Invariant to permuting
    and sign-flipping the rows of ``W`` or the columns of ``A``; rescaling rows of
    ``W`` changes the column term unless ``P`` is already a scaled permutation.

    References
    ----------
    Amari, Cichocki, Yang, "A new learning algorithm for blind signal
    separation", NeurIPS 1996.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.metrics import amari_distance
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> W = np.array([[0.0, 2.0], [-1.0, 0.0]]) @ np.linalg.inv(A)
    >>> round(amari_distance(W, A), 12)
    0.0
    >>> amari_distance(np.ones((3, 3)))
    1.0
    """
    W = np.asarray(_to_host(check_matrix(W, "W", dtype=np.float64)))
    # the index is invariant to scaling W or A as a whole: product of unit-size factors
    W = W / max(float(np.abs(W).max(initial=0.0)), np.finfo(float).tiny)
    if A is None:
        if W.shape[0] != W.shape[1]:
            raise ValueError(f"W must be square (d, d) when A is not given; got shape {W.shape}")
        P = W
    else:
        A = np.asarray(_to_host(check_matrix(A, "A", dtype=np.float64)))
        A = A / max(float(np.abs(A).max(initial=0.0)), np.finfo(float).tiny)
        if W.shape[1] != A.shape[0] or W.shape[0] != A.shape[1]:
            raise ValueError(
                "W (d, D) and A (D, d) must give a square product W @ A; got W shape "
                f"{W.shape} and A shape {A.shape}"
            )
        P = W @ A
    P = np.abs(P)
    d = P.shape[0]
    row_max = P.max(axis=1)
    col_max = P.max(axis=0)
    if not (row_max > 0).all() or not (col_max > 0).all():
        raise ValueError(
            "W @ A has an all-zero row or column (rows "
            f"{np.flatnonzero(row_max == 0)[:10].tolist()}, columns "
            f"{np.flatnonzero(col_max == 0)[:10].tolist()}); the Amari distance is undefined"
        )
    if d == 1:
        return 0.0
    rows = (P / row_max[:, None]).sum(axis=1) - 1.0
    cols = (P / col_max[None, :]).sum(axis=0) - 1.0
    value = (rows.sum() + cols.sum()) / (2.0 * d * (d - 1))
    return float(min(max(value, 0.0), 1.0))


def linear_r2(
    z_true: Any,
    z_est: Any,
    *,
    z_true_test: Any = None,
    z_est_test: Any = None,
    multioutput: str = "uniform_average",
) -> float | np.ndarray:
    """R² of predicting each true latent linearly from all estimated latents.

    Parameters
    ----------
    z_true : array_like of shape (n_samples, d_true)
        True latents (the regression targets); no constant columns.
    z_est : array_like of shape (n_samples, d_est)
        Estimated latents (the regressors), same rows as ``z_true``.
    z_true_test, z_est_test : array_like of shape (n_test, d_true) and (n_test, d_est), optional
        Held-out latents: if given (both or neither), the regression is fitted on
        ``(z_est, z_true)`` and R² is computed on these; otherwise R² is in-sample.
    multioutput : {"uniform_average", "raw_values"}, default "uniform_average"
        Return the mean over the true latents, or one R² per true latent.

    Returns
    -------
    float or ndarray of shape (d_true,)
        ``R²_i = 1 - sum (z_i - ẑ_i)^2 / sum (z_i - mean(z_i))^2`` on the evaluation
        set, where ``ẑ_i`` is the ordinary-least-squares prediction with intercept.
        In-sample values lie in [0, 1]; held-out values can be negative.

    Raises
    ------
    ValueError
        If an input is not 2-D, has NaN/inf, too few samples, a constant true
        latent, mismatched sample or dimension counts, only one of the test arrays
        is given, or ``multioutput`` is unknown.
    TypeError
        If an input is not numeric.

    Notes
    -----
    Least squares via ``numpy.linalg.lstsq`` (minimum-norm, so collapsed or
    collinear estimated latents are fine).  In-sample R² grows with ``d_est``; with
    ``n_samples`` not much larger than ``d_est`` use held-out data.
    Cost O(n d_est^2 + n d_est d_true).

    References
    ----------
    von Kügelgen et al., "Self-supervised learning with data augmentations provably
    isolates content from style", NeurIPS 2021 (linear-evaluation protocol).

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.metrics import linear_r2
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(200, 2))
    >>> round(linear_r2(z, z @ np.array([[1.0, 2.0], [0.5, -1.0]]) + 3.0), 12)
    1.0
    """
    multioutput = check_option(multioutput, "multioutput", ("uniform_average", "raw_values"))
    zt, ze = _two_latent_sets(z_true, z_est)
    if (z_true_test is None) != (z_est_test is None):
        raise ValueError("give both z_true_test and z_est_test, or neither")
    # R² is invariant to scaling each column of either set: work in units of each column's
    # largest magnitude so that extreme scales neither overflow nor underflow
    t_scale, e_scale = _column_scales(zt), _column_scales(ze)
    zt, ze = zt / t_scale, ze / e_scale
    design = np.column_stack([np.ones(ze.shape[0]), ze])
    coef, *_ = np.linalg.lstsq(design, zt, rcond=None)
    if z_true_test is not None:
        zt_eval = np.asarray(_to_host(check_data(z_true_test, "z_true_test", dtype=np.float64)))
        ze_eval = np.asarray(
            _to_host(check_data(z_est_test, "z_est_test", dtype=np.float64, allow_constant=True))
        )
        if zt_eval.shape[0] != ze_eval.shape[0]:
            raise ValueError(
                "z_true_test and z_est_test must have the same number of samples; got "
                f"{zt_eval.shape[0]} and {ze_eval.shape[0]}"
            )
        if zt_eval.shape[1] != zt.shape[1] or ze_eval.shape[1] != ze.shape[1]:
            raise ValueError(
                "test latents must have the training dimensions: z_true_test "
                f"(n, {zt.shape[1]}) and z_est_test (n, {ze.shape[1]}); got "
                f"{zt_eval.shape} and {ze_eval.shape}"
            )
        zt_eval, ze_eval = zt_eval / t_scale, ze_eval / e_scale
    else:
        zt_eval, ze_eval = zt, ze
    pred = np.column_stack([np.ones(ze_eval.shape[0]), ze_eval]) @ coef
    ss_res = ((zt_eval - pred) ** 2).sum(axis=0)
    ss_tot = ((zt_eval - zt_eval.mean(axis=0)) ** 2).sum(axis=0)
    r2 = 1.0 - ss_res / ss_tot
    if multioutput == "raw_values":
        return r2
    return float(r2.mean())
