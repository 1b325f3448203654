"""Decomposable structure scores for score-based causal discovery (GES, hill climbing, ...).

Every score here is **higher-is-better** and decomposes over nodes:
``score(G) = sum_j local(j, pa_G(j))``.
Local scores are computed by the C++ core (OpenBLAS/LAPACK, OpenMP over batches) and kept in a
thread-safe, bounded cache keyed by ``(j, sorted parents)``; ``cache_info()`` reports hits, misses
and size. The Gaussian scores (``GaussianBIC``, ``BGe``) cache only parent sets of
``min_cached_parents`` (16) or more nodes: a smaller one is cheaper to recompute (an in-register
Cholesky) than to look up.

GPU: scores built from a CuPy array evaluate ``local_scores`` batches on X's device and return a
CuPy array.  ``GaussianBIC`` and ``BGe`` compute their matrix (covariance or posterior scale)
there and run one warp per pair (Cholesky in shared memory; sets of more than 32 parents are
scored on the CPU); ``BDeu`` and ``DiscreteBIC`` validate the codes on a host copy, keep them on
the device and count each family with shared-memory atomics in one block per pair (families with
more than 8192 cells ``q r`` are scored on the CPU).  ``local_score`` and ``score`` use a cached
CPU twin of the same statistics.

Adjacency convention: ``A[i, j] != 0`` means the edge ``i -> j``, so the parents of ``j`` are
``np.flatnonzero(A[:, j])``.

Conventions
-----------
``GaussianBIC`` (linear-Gaussian, covariance with ddof=0, i.e. the MLE)::

    local(j, P) = -(n/2) log(sigma2_{j|P}) - penalty_discount * (|P| + 1) * log(n) / 2

where ``sigma2_{j|P} = S_jj - S_jP S_PP^{-1} S_Pj`` (MLE residual variance; the intercept and the
``-(n/2)(log 2 pi + 1)`` constant are dropped, as they are equal for every parent set of j).
causal-learn's ``local_score_BIC`` (higher is better) is
``-(n/2)(1 + log sigma2) - lambda_value (|P| + 1) log n`` with the same MLE variance and default
``lambda_value = 0.5``; with ``lambda_value = penalty_discount / 2`` ours equals it up to the
per-node constant ``-n/2``, so both rank
parent sets identically. Tetrad's SEM-BIC ``2 L - c k log n`` with penalty discount ``c`` is
twice ours (up to the same constants) for ``penalty_discount = c``.

``BGe`` (Bayesian Gaussian equivalent; Geiger & Heckerman 1994/2002, corrected by Kuipers, Moffa
& Heckerman 2014; bnlearn's ``"bge"``): the log marginal likelihood under a normal-Wishart prior,
``local(j, P) = log p(X_{P+j}) - log p(X_P)``, from the posterior scale matrix ``R`` (see
:class:`BGe` for the formula and bnlearn's defaults).

``BDeu`` (Heckerman, Geiger & Chickering 1995) with uniform prior ``alpha_ijk = ess / (q_j r_j)``::

    local(j, P) = sum_c [lgamma(ess/q) - lgamma(ess/q + N_c)]
                + sum_{c,k} [lgamma(ess/(q r) + N_ck) - lgamma(ess/(q r))]

``DiscreteBIC``: ``sum_{c,k} N_ck log(N_ck / N_c) - (log n / 2) q_j (r_j - 1)``.

For both, ``r_j`` is the number of levels of column j: the distinct codes that occur (codes that
skip some of ``0..max``, e.g. 1-based codes, are renumbered in order), or ``cardinalities[j]``
when given (then every code ``0..r_j - 1`` is a level, observed or not, as bnlearn's declared
factor levels). ``q_j = prod_{p in P} r_p`` counts *all* parent configurations, observed or not.
Unobserved configurations add exactly 0 to BDeu, so without ``cardinalities`` this equals pgmpy's
``BDeu`` (which also uses the full product of the observed states); pgmpy's default
``equivalent_sample_size`` is 10, ours ``ess=1`` (bnlearn's ``iss=1``). ``DiscreteBIC`` equals
pgmpy's ``BIC`` likewise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import _core
from ._backend import as_device_array, current_stream_ptr, is_device_array, require_cuda, xp_of
from ._errors import NumericalError
from ._validation import (
    _is_dataframe,
    _to_host,
    check_data,
    check_float,
    check_int,
    check_square_matrix,
    check_symmetric,
    frame_values,
    node_names_from,
)
from .graph import Graph, _pattern, _require_acyclic

__all__ = ["GaussianBIC", "BGe", "BDeu", "DiscreteBIC"]


#: Default bound of every score's local-score cache (entries) and the heap bytes of one entry.
DEFAULT_CACHE_LIMIT: int = 2**22
CACHE_BYTES_PER_ENTRY: int = int(_core.DecomposableScore.cache_bytes_per_entry)
#: Largest imaginary sample size (BDeu ``ess``, BGe ``iss_mu`` and ``iss_w``): the scores are
#: differences of log-gamma values of about that size, which keep ~1e-7 absolute precision up to
#: 1e8 and none near 1e16.
MAX_PRIOR_SIZE: float = 1e8

# Exact types the vectorised batch path accepts as indices (bool, a subclass of int, is not one).
_INDEX_TYPES = frozenset({int, np.int64, np.int32, np.intp, np.uint32})


class _LocalScore:
    """Shared API of the decomposable scores (names, parent parsing, batching, graph scoring)."""

    _kernel: Any
    nodes: tuple[str, ...]
    # CuPy (d, d) matrix that the CUDA kernel scores from (covariance or posterior scale), set when
    # X arrived on a GPU; None for host data.
    _device_matrix: Any = None

    def _init_names(self, names: Sequence[str]) -> None:
        self.nodes = tuple(names)
        self._index = {name: i for i, name in enumerate(self.nodes)}

    @property
    def n_nodes(self) -> int:
        """Number of variables (columns)."""
        return len(self.nodes)

    @property
    def n_samples(self) -> int:
        """Number of samples (rows)."""
        return int(self._kernel.n_samples)

    def _node(self, v: Any, what: str) -> int:
        if isinstance(v, str):
            if v not in self._index:
                raise ValueError(f"unknown {what} {v!r}; nodes are {list(self.nodes)[:10]}")
            return self._index[v]
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(
                f"{what} must be an int index or a node name; got {type(v).__name__} {v!r}"
            )
        v = int(v)
        if not 0 <= v < self.n_nodes:
            raise ValueError(f"{what} index {v} is out of range [0, {self.n_nodes})")
        return v

    def _parents(self, j: int, parents: Iterable[Any]) -> np.ndarray:
        if parents is None or isinstance(parents, (str, int, np.integer)):
            raise TypeError(
                "parents must be a sequence of node indices or names, e.g. [0, 2] (or [] for none)"
            )
        idx = [self._node(p, "parent") for p in parents]
        if j in idx:
            raise ValueError(f"node {self.nodes[j]!r} cannot be its own parent")
        if len(set(idx)) != len(idx):
            raise ValueError(f"parents of {self.nodes[j]!r} contain duplicates: {idx}")
        return np.asarray(idx, dtype=np.int64)

    def local_score(self, node: int | str, parents: Iterable[int | str] = ()) -> float:
        """Local score of ``node`` given ``parents`` (indices or names; order ignored).

        Results are cached; raises ``ValueError`` for a bad node/parent and
        ``fastcrl.NumericalError`` when the score is undefined (e.g. a node that is an exact
        linear function of its parents).
        """
        j = self._node(node, "node")
        return float(self._kernel.local_score(j, self._parents(j, parents)))

    def local_scores(
        self, nodes: Sequence[int | str], parent_sets: Sequence[Iterable[int | str]]
    ) -> Any:
        """Local scores of many ``(node, parents)`` pairs, evaluated in parallel in C++.

        Returns a float64 array of shape ``(len(nodes),)``: NumPy, or CuPy when the score was
        built from a CuPy ``X``, in which case the batch is evaluated by a CUDA kernel on X's
        device, bypassing the cache (families too large for the kernel -- more than 32 parents,
        or more than 8192 count cells for discrete scores -- are scored on the CPU and copied in).

        For large batches pass arrays: ``nodes`` a 1-D integer array and ``parent_sets`` a 2-D
        integer array with one row per node, negative entries as padding (rows of different
        sizes); they are checked and converted with whole-array operations, where lists are
        walked element by element (about 1.5 million families per second at best).

        >>> import numpy as np
        >>> s = GaussianBIC(np.random.default_rng(0).normal(size=(200, 4)))
        >>> a = s.local_scores(np.array([0, 1]), np.array([[1, 2], [3, -1]]))
        >>> bool(np.allclose(a, s.local_scores([0, 1], [[1, 2], [3]])))
        True
        """
        if len(nodes) != len(parent_sets):
            raise ValueError(
                "nodes and parent_sets must have equal length; "
                f"got {len(nodes)} and {len(parent_sets)}"
            )
        csr = self._array_csr(nodes, parent_sets)
        if csr is None:
            csr = self._fast_csr(nodes, parent_sets)
        if csr is None:  # names, or something to report: the per-item path parses and raises
            js = np.fromiter(
                (self._node(v, "node") for v in nodes), dtype=np.int64, count=len(nodes)
            )
            sets = [
                np.sort(self._parents(int(j), ps)) for j, ps in zip(js, parent_sets, strict=True)
            ]
            offsets = np.zeros(len(sets) + 1, dtype=np.int64)
            np.cumsum([len(s) for s in sets], out=offsets[1:])
            flat = np.concatenate(sets) if sets else np.zeros(0, dtype=np.int64)
            flat = flat.astype(np.int64, copy=False)
        else:
            js, offsets, flat = csr
        if self._device_array() is not None:
            return self._device_local_scores(js, offsets, flat)
        return self._kernel.local_scores(js, offsets, flat)

    def _array_csr(self, nodes, parent_sets) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(nodes, offsets, parents sorted within each set) from an integer ``nodes`` array and a
        2-D integer ``parent_sets`` array (negative entries: padding); None for other input.

        A bad row (node or parent out of range, a node among its parents, a repeated parent) is
        reported by the per-item checks, with their messages.
        """
        if not (
            isinstance(parent_sets, np.ndarray)
            and parent_sets.ndim == 2
            and parent_sets.dtype.kind in "iu"
        ):
            return None
        js = np.asarray(nodes)
        if js.ndim != 1 or js.dtype.kind not in "iu":
            return None
        d = self.n_nodes
        js = js.astype(np.int64, copy=False)
        P = parent_sets.astype(np.int64, copy=False)
        # padding sorts after every index; entries >= d are reported below
        Ps = np.sort(np.where(P < 0, np.int64(d), P), axis=1)
        valid = Ps < d
        bad = (js < 0) | (js >= d) | (P >= d).any(axis=1)
        bad |= ((Ps == js[:, None]) & valid).any(axis=1)
        bad |= ((Ps[:, 1:] == Ps[:, :-1]) & valid[:, 1:]).any(axis=1)
        if bad.any():
            b = int(np.flatnonzero(bad)[0])
            j = self._node(int(js[b]), "node")
            self._parents(j, [int(p) for p in P[b] if p >= 0])  # raises, naming the problem
            raise ValueError(f"parent_sets row {b} is invalid")  # pragma: no cover
        offsets = np.zeros(len(js) + 1, dtype=np.int64)
        np.cumsum(valid.sum(axis=1), out=offsets[1:])
        return js, offsets, Ps[valid]

    def _fast_csr(self, nodes, parent_sets) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(nodes, offsets, parents sorted within each set) when every index is a plain valid int.

        Validation per element in Python costs ~10x the C++ score itself for small parent sets, so
        integer input is checked with whole-array NumPy operations; None sends anything else
        (names, bad indices, odd types) through the per-item path for its error messages.
        """
        if not all(type(v) in _INDEX_TYPES for v in nodes):
            return None
        try:
            sets = [ps.tolist() if isinstance(ps, np.ndarray) else ps for ps in parent_sets]
            sizes = np.fromiter((len(ps) for ps in sets), dtype=np.int64, count=len(sets))
        except TypeError:
            return None
        flat_list = [p for ps in sets for p in ps]
        if not all(type(p) in _INDEX_TYPES for p in flat_list):
            return None
        d = self.n_nodes
        try:
            js = np.array(nodes, dtype=np.int64).reshape(-1)
            flat = np.array(flat_list, dtype=np.int64).reshape(-1)
        except OverflowError:  # an index beyond int64: the per-item path names it
            return None
        if js.size and (js.min() < 0 or js.max() >= d):
            return None
        if flat.size and (flat.min() < 0 or flat.max() >= d):
            return None
        owner = np.repeat(np.arange(len(sets)), sizes)
        if (js[owner] == flat).any():
            return None
        order = np.lexsort((flat, owner))
        flat = flat[order]
        if flat.size > 1 and ((flat[1:] == flat[:-1]) & (owner[1:] == owner[:-1])).any():
            return None
        offsets = np.zeros(len(sets) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        return js, offsets, flat

    def _gpu_coefficients(self, kmax: int) -> tuple[list[float], list[float], float, float]:
        """(constant[k], log_var[k], log_det, rel_tol) for ``_cuda.gaussian_local_scores``."""
        raise NotImplementedError  # pragma: no cover - only Gaussian scores set _device_matrix

    def _device_scores_unchecked(self, js: np.ndarray, offsets: np.ndarray, flat: np.ndarray):
        """Device float64 scores of validated CSR families (parents sorted within each set), NaN
        where undefined; families too large for a kernel are scored by the CPU twin.
        """
        import cupy

        cuda = require_cuda(f"{type(self).__name__}.local_scores")
        # Parents arrive sorted within each set, as the CPU kernel orders them: the same
        # factorisation / key order on both.
        with cupy.cuda.Device(self._device_array().device.id):
            out = cupy.empty(len(js), dtype=np.float64)
            if len(js) == 0:
                return out
            on_cpu = self._launch_device(
                cuda, cupy.asarray(js), cupy.asarray(offsets), cupy.asarray(flat), out, offsets
            )
            if on_cpu.size:  # too large for one block's shared memory: the CPU kernel does these
                sizes = np.diff(offsets)[on_cpu]
                sub = np.zeros(on_cpu.size + 1, dtype=np.int64)
                np.cumsum(sizes, out=sub[1:])
                sub_flat = np.concatenate(
                    [flat[offsets[b] : offsets[b + 1]] for b in on_cpu]
                ).astype(np.int64, copy=False)
                cpu = self._kernel.local_scores(js[on_cpu], sub, sub_flat, undefined_as_nan=True)
                out[cupy.asarray(on_cpu)] = cupy.asarray(cpu)
        return out

    def _device_local_scores(self, js: np.ndarray, offsets: np.ndarray, flat: np.ndarray):
        import cupy

        with cupy.cuda.Device(self._device_array().device.id):
            out = self._device_scores_unchecked(js, offsets, flat)
            bad = cupy.flatnonzero(cupy.isnan(out))
            if bad.size:  # (a device sync; the price of never returning a NaN score silently)
                b = int(bad[0])
                P = [self.nodes[p] for p in flat[offsets[b] : offsets[b + 1]]]
                raise NumericalError(
                    f"local score of node {self.nodes[js[b]]!r} given parents {P} is undefined: "
                    "the parents' matrix is singular (collinear or duplicate parent columns) or "
                    "the node is a linear function of its parents"
                )
        return out

    def _device_array(self):
        """The device array the scores are computed from (its device runs the kernels)."""
        return self._device_matrix

    def _launch_device(self, cuda, js_d, offsets_d, flat_d, out, offsets: np.ndarray) -> np.ndarray:
        """Queue the kernel writing ``out``; return the batch indices to score on the CPU."""
        kmax = int(cuda.max_gaussian_score_parents)
        sizes = np.diff(offsets)
        cuda.gaussian_local_scores(
            self._device_matrix,
            js_d,
            offsets_d,
            flat_d,
            *self._gpu_coefficients(kmax),
            out,
            current_stream_ptr(),
            int(sizes.max(initial=0)),
        )
        return np.flatnonzero(sizes > kmax)

    def _launch_subsets(self, cuda, row, j, size, first_rank, count, forbidden, required) -> None:
        """Queue the exact-search family kernel (see ``fastcrl.exact``) filling device ``row``."""
        cuda.gaussian_subset_scores(
            self._device_matrix,
            j,
            size,
            first_rank,
            count,
            forbidden,
            required,
            *self._gpu_coefficients(int(cuda.max_gaussian_score_parents)),
            row,
            current_stream_ptr(),
        )

    def score(self, graph: Any) -> float:
        """Score of a DAG: the sum of the local scores of every node given its parents.

        ``graph`` is a ``fastcrl.Graph`` of kind ``"dag"`` (its node names must match) or an
        adjacency matrix ``(d, d)`` with ``A[i, j] != 0`` meaning ``i -> j``.
        """
        if isinstance(graph, Graph):
            if graph.kind != "dag":
                raise ValueError(f"score() needs a DAG; got a graph of kind {graph.kind!r}")
            if tuple(graph.nodes) != self.nodes:
                raise ValueError(
                    f"graph nodes {list(graph.nodes)[:10]} do not match "
                    f"the data's {list(self.nodes)[:10]}"
                )
            P = graph.to_adjacency()
        else:
            P = _pattern(graph, "graph", binary=False)
        if P.shape != (self.n_nodes, self.n_nodes):
            raise ValueError(f"graph must be ({self.n_nodes}, {self.n_nodes}); got {P.shape}")
        P = np.ascontiguousarray(P != 0).view(np.uint8)
        _require_acyclic(P, "graph", directed_only=False, names=self.nodes)
        d = self.n_nodes
        return float(
            self.local_scores(
                list(range(d)), [np.flatnonzero(P[:, j]).tolist() for j in range(d)]
            ).sum()
        )

    def cache_info(self) -> dict[str, int]:
        """``{"hits", "misses", "size", "evictions", "max_entries"}`` of the local-score cache."""
        return dict(self._kernel.cache_info())

    @property
    def cache_limit(self) -> int:
        """Most local scores the cache keeps (default ``DEFAULT_CACHE_LIMIT`` = 4,194,304: 0.5 GB).

        When full, the least recently used half is dropped (two generations per shard), so a long
        search on many variables keeps its memory bounded; ``cache_info()["evictions"]`` counts
        the dropped entries. Each entry costs about :attr:`cache_bytes_per_entry` bytes.
        """
        return int(self._kernel.cache_limit)

    @property
    def min_cached_parents(self) -> int:
        """Parent sets smaller than this are recomputed, not cached (16 for the Gaussian scores,
        whose small-set scores cost less than a lookup; 0 for the discrete ones)."""
        return int(self._kernel.min_cached_parents)

    @cache_limit.setter
    def cache_limit(self, value: Any) -> None:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"cache_limit must be a positive int; got {value!r}")
        if not 1 <= value <= 2**62:
            raise ValueError(f"cache_limit must be between 1 and 2**62; got {value}")
        self._kernel.cache_limit = int(value)

    #: Heap bytes of one cached local score (for memory estimates).
    cache_bytes_per_entry: int = CACHE_BYTES_PER_ENTRY

    def clear_cache(self) -> None:
        """Empty the local-score cache and reset its counters."""
        self._kernel.clear_cache()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_samples={self.n_samples}, n_nodes={self.n_nodes})"


class GaussianBIC(_LocalScore):
    """Linear-Gaussian BIC score (higher is better).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Continuous data (DataFrame column names become node names); converted to float64.
    penalty_discount : float, default=1.0
        Multiplies the ``(|P| + 1) log(n) / 2`` penalty; equals Tetrad's penalty discount and twice
        causal-learn's ``lambda_value`` (see the module docstring for the exact mapping).
    names : sequence of str, optional
        Node names (default: DataFrame columns or ``X0..``).

    Raises
    ------
    ValueError
        For NaN/inf, constant or duplicated columns (the covariance would be singular), n < 2.

    Notes
    -----
    ``local(j, P) = -(n/2) log(sigma2_{j|P}) - penalty_discount (|P|+1) log(n)/2`` with the MLE
    (ddof=0) covariance computed once; each local score is a Cholesky solve of ``S_PP``:
    ``O(|P|^3)``. Score-equivalent: Markov-equivalent DAGs get equal scores.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=500); X = np.c_[x, 2 * x + rng.normal(size=500)]
    >>> s = GaussianBIC(X)
    >>> s.local_score(1, [0]) > s.local_score(1, [])
    True
    """

    def __init__(
        self, X: Any, penalty_discount: float = 1.0, *, names: Sequence[str] | None = None
    ):
        self.penalty_discount = check_float(penalty_discount, "penalty_discount", low=0.0)
        if is_device_array(X):
            from .stats import covariance

            Xd = check_data(
                as_device_array(X), "X", dtype=np.float64, min_samples=2, moment_power=4
            )
            _raise_duplicates(
                _duplicate_columns_device(Xd),
                "their covariance is singular, so the Gaussian score is undefined",
            )
            self._init_names(node_names_from(X, Xd.shape[1], names))
            self._device_matrix = covariance(Xd, ddof=0)
            self._kernel = _core.GaussianBICScore.from_covariance(
                self._device_matrix.get(), Xd.shape[0], self.penalty_discount
            )
            return
        # products of covariances: fourth powers of the data
        Xv = check_data(X, "X", dtype=np.float64, min_samples=2, moment_power=4)
        dup = _duplicate_columns(Xv)
        if dup is not None:
            raise ValueError(
                f"X has identical columns {dup[0]} and {dup[1]}; their covariance is singular, "
                "so the Gaussian score is undefined -- drop one of them"
            )
        self._init_names(node_names_from(X, Xv.shape[1], names))
        self._kernel = _core.GaussianBICScore(Xv, self.penalty_discount)

    @classmethod
    def from_covariance(
        cls,
        cov: Any,
        n_samples: int,
        penalty_discount: float = 1.0,
        *,
        names: Sequence[str] | None = None,
    ) -> GaussianBIC:
        """The score from sufficient statistics: a covariance matrix of ``n_samples`` rows.

        For data too large to pass at once, or computed elsewhere (accumulated in chunks, from a
        database, on another machine). Give the maximum-likelihood matrix (``ddof=0``, divided by
        ``n_samples``) for local scores equal to :class:`GaussianBIC` on the data; an unbiased one
        (``ddof=1``) shifts every local score of a node by the same constant, which changes no
        search result. A CuPy matrix keeps the batched GPU scoring of a CuPy ``X``.

        Parameters
        ----------
        cov : array-like of shape (n_features, n_features)
            Symmetric, finite, with a positive diagonal.
        n_samples : int
            Number of rows the matrix was computed from (>= 2).
        penalty_discount, names
            As for :class:`GaussianBIC`.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(500, 3))
        >>> s = GaussianBIC.from_covariance(np.cov(X, rowvar=False, ddof=0), 500)
        >>> bool(np.isclose(s.local_score(2, [0, 1]), GaussianBIC(X).local_score(2, [0, 1])))
        True
        """
        self = cls.__new__(cls)
        self.penalty_discount = check_float(penalty_discount, "penalty_discount", low=0.0)
        n = check_int(n_samples, "n_samples", low=2)
        S = _checked_covariance(cov)
        self._init_names(node_names_from(None, S.shape[0], names))
        if is_device_array(S):
            self._device_matrix = S
        self._kernel = _core.GaussianBICScore.from_covariance(
            np.ascontiguousarray(_to_host(S)), n, self.penalty_discount
        )
        return self

    def covariance(self) -> Any:
        """The MLE (ddof=0) covariance the scores use, shape ``(d, d)`` (CuPy for CuPy ``X``)."""
        if self._device_matrix is not None:
            return self._device_matrix.copy()
        return self._kernel.covariance()

    def _gpu_coefficients(self, kmax: int):
        n = self.n_samples
        penalty = self.penalty_discount * np.log(n) / 2
        constant = [-penalty * (k + 1) for k in range(kmax + 1)]
        return constant, [-0.5 * n] * (kmax + 1), 0.0, 1e-12


class BGe(_LocalScore):
    """Bayesian Gaussian equivalent (BGe) score of continuous data (higher is better).

    The log marginal likelihood of a linear-Gaussian DAG under the normal-Wishart parameter prior
    of Geiger & Heckerman, in the corrected form of Kuipers, Moffa & Heckerman (2014) and with the
    defaults of bnlearn's ``score(..., type="bge")``.  Score-equivalent: Markov-equivalent DAGs
    get equal scores.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Continuous data (DataFrame column names become node names); converted to float64.
    iss_mu : float, default=1.0
        Imaginary sample size of the normal prior on the mean (bnlearn's ``iss.mu``); > 0 and
        at most ``MAX_PRIOR_SIZE``.
    iss_w : float, optional
        Degrees of freedom of the Wishart prior (bnlearn's ``iss.w``); default ``n_features + 2``.
        Must exceed ``n_features + 1`` so that the prior scale ``t`` below is positive, and be
        at most ``MAX_PRIOR_SIZE`` (1e8): beyond, the log-gamma differences lose their precision.
    nu : array-like of shape (n_features,), optional
        Prior mean (bnlearn's ``nu``); default the column means of ``X``.
    names : sequence of str, optional
        Node names (default: DataFrame columns or ``X0..``).

    Raises
    ------
    ValueError
        For NaN/inf, duplicated columns, n < 2, ``iss_mu <= 0``, ``iss_w <= n_features + 1``,
        or ``nu`` of the wrong length or not finite.

    Notes
    -----
    With ``d`` variables, ``n`` samples, sample mean ``xbar`` and scatter matrix
    ``S = sum_i (x_i - xbar)(x_i - xbar)^T``, the prior scale matrix is ``T = t I`` with
    ``t = iss_mu (iss_w - d - 1) / (iss_mu + 1)`` (bnlearn's choice, which makes the prior
    expectation of the covariance the identity), and the posterior scale matrix is::

        R = T + S + (n iss_mu / (n + iss_mu)) (xbar - nu)(xbar - nu)^T

    For a set ``Y`` of ``l`` variables, with ``a = iss_w - d + l``::

        log p(X_Y) = (l/2) log(iss_mu / (n + iss_mu)) - (l n / 2) log(pi)
                     + log Gamma_l((n + a)/2) - log Gamma_l(a/2)
                     + (a/2) log det T_YY - ((n + a)/2) log det R_YY

    (``Gamma_l`` the multivariate gamma function) and ``local(j, P) = log p(X_{P+j}) - log p(X_P)``.
    In the ratio the gamma products telescope to one ``lgamma`` pair, and ``log det R_{P+j}``
    splits into ``log det R_PP`` plus the log of the Schur complement
    ``R_jj - R_jP R_PP^{-1} R_Pj``, so each local score is one Cholesky factorisation of
    ``R_PP``: ``O(|P|^3)``; ``R`` is computed once.  Because ``R >= t I``, every local score is
    defined (no singular-fit errors as with :class:`GaussianBIC`), but note that BGe is *not*
    invariant to rescaling the columns (``t`` is fixed); standardise the data if their units are
    arbitrary.

    The formula is the same as bnlearn's ``wishart_node`` C code; R is not installed here, so the
    tests check it against an independent NumPy evaluation of ``log p(X_Y)`` with
    ``scipy.special.multigammaln`` and ``slogdet`` (``fastcrl.reference.scores.bge``).

    References
    ----------
    Geiger & Heckerman (1994). Learning Gaussian networks. UAI. Corrected in Geiger & Heckerman
    (2002), Ann. Statist. 30(5). Kuipers, Moffa & Heckerman (2014). Addendum on the scoring of
    Gaussian directed acyclic graphical models. Ann. Statist. 42(4), 1689-1691.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=500); X = np.c_[x, 2 * x + rng.normal(size=500)]
    >>> s = BGe(X)
    >>> s.iss_w_used, s.prior_scale
    (4.0, 0.5)
    >>> s.local_score(1, [0]) > s.local_score(1, [])
    True
    """

    def __init__(
        self,
        X: Any,
        *,
        iss_mu: float = 1.0,
        iss_w: float | None = None,
        nu: Any = None,
        names: Sequence[str] | None = None,
    ):
        self.iss_mu = check_float(
            iss_mu, "iss_mu", low=0.0, low_inclusive=False, high=MAX_PRIOR_SIZE
        )
        on_device = is_device_array(X)
        Xv = check_data(
            as_device_array(X) if on_device else X,
            "X",
            dtype=np.float64,
            min_samples=2,
            allow_constant=True,
            moment_power=4,
        )
        n, d = Xv.shape
        nu_v = self._set_prior(d, iss_w, nu)
        why = "a variable measured twice makes every structure score meaningless"
        _raise_duplicates((_duplicate_columns_device if on_device else _duplicate_columns)(Xv), why)
        self._init_names(node_names_from(X, d, names))
        if on_device:
            self._device_matrix = _bge_posterior_scale_device(
                Xv, self.iss_mu, self.iss_w_used, nu_v
            )
            self._kernel = _core.BGeScore.from_posterior_scale(
                self._device_matrix.get(), n, self.iss_mu, self.iss_w_used
            )
        else:
            self._kernel = _core.BGeScore(Xv, self.iss_mu, self.iss_w_used, nu_v)

    def _set_prior(self, d: int, iss_w: Any, nu: Any) -> np.ndarray | None:
        """Checks and keeps ``iss_w`` (and the value used) and ``nu``; nu as float64 or None."""
        if iss_w is None:
            self.iss_w_used = float(d + 2)
        else:
            self.iss_w_used = check_float(
                iss_w, "iss_w", low=d + 1.0, low_inclusive=False, high=MAX_PRIOR_SIZE
            )
        self.iss_w = iss_w
        self.nu = nu
        if nu is None:
            return None
        return _column_vector(nu, "nu", d)

    @classmethod
    def from_covariance(
        cls,
        cov: Any,
        n_samples: int,
        means: Any = None,
        *,
        iss_mu: float = 1.0,
        iss_w: float | None = None,
        nu: Any = None,
        names: Sequence[str] | None = None,
    ) -> BGe:
        """The score from sufficient statistics: the maximum-likelihood covariance (``ddof=0``) of
        ``n_samples`` rows and, when a prior mean ``nu`` is given, their column ``means``.

        Local scores equal those of ``BGe(X, ...)`` on the data (the posterior scale matrix is
        ``t I + n cov + (n iss_mu / (n + iss_mu)) (means - nu)(means - nu)^T``). A CuPy ``cov``
        keeps the batched GPU scoring of a CuPy ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(500, 3))
        >>> s = BGe.from_covariance(np.cov(X, rowvar=False, ddof=0), 500)
        >>> bool(np.isclose(s.local_score(2, [0, 1]), BGe(X).local_score(2, [0, 1])))
        True
        """
        self = cls.__new__(cls)
        self.iss_mu = check_float(
            iss_mu, "iss_mu", low=0.0, low_inclusive=False, high=MAX_PRIOR_SIZE
        )
        n = check_int(n_samples, "n_samples", low=2)
        S = _checked_covariance(cov)
        d = S.shape[0]
        nu_v = self._set_prior(d, iss_w, nu)
        if nu_v is not None and means is None:
            raise ValueError("a prior mean nu needs the data's column means (means=...)")
        means_v = None if nu_v is None else _column_vector(means, "means", d)
        self._init_names(node_names_from(None, d, names))
        R = _bge_posterior_scale(S, means_v, n, self.iss_mu, self.iss_w_used, nu_v)
        if is_device_array(S):
            self._device_matrix = R
        self._kernel = _core.BGeScore.from_posterior_scale(
            np.ascontiguousarray(_to_host(R)), n, self.iss_mu, self.iss_w_used
        )
        return self

    @property
    def prior_scale(self) -> float:
        """``t`` of the prior scale matrix ``T = t I``."""
        return float(self._kernel.prior_scale)

    def posterior_scale(self) -> Any:
        """The posterior scale matrix ``R``, shape ``(d, d)`` (CuPy for CuPy ``X``)."""
        if self._device_matrix is not None:
            return self._device_matrix.copy()
        return self._kernel.posterior_scale()

    def _gpu_coefficients(self, kmax: int):
        n, d = self.n_samples, self.n_nodes
        constant = [self._kernel.constant_term(k) for k in range(kmax + 1)]
        log_var = [-0.5 * (n + self.iss_w_used - d + k + 1) for k in range(kmax + 1)]
        return constant, log_var, -0.5, 0.0


def _bge_posterior_scale_device(X, iss_mu: float, iss_w: float, nu: np.ndarray | None):
    """BGe's R on X's device, with the arithmetic of the C++ constructor."""
    import cupy

    from .stats import covariance

    with cupy.cuda.Device(X.device.id):
        cov, means = covariance(X, ddof=0, return_means=True)
        return _bge_posterior_scale(cov, means, X.shape[0], iss_mu, iss_w, nu)


def _bge_posterior_scale(cov, means, n: int, iss_mu: float, iss_w: float, nu: np.ndarray | None):
    """R = t I + n cov (+ the prior-mean term when nu is given), on cov's device."""
    xp = xp_of(cov)
    d = cov.shape[0]
    t = iss_mu * (iss_w - d - 1.0) / (iss_mu + 1.0)
    R = float(n) * cov
    if nu is not None:
        diff = xp.asarray(means) - xp.asarray(nu)
        R += (n * iss_mu / (n + iss_mu)) * xp.outer(diff, diff)
    R[xp.arange(d), xp.arange(d)] += t
    return R


def _checked_covariance(cov: Any):
    """A covariance given as sufficient statistics: float64, square, symmetric, with positive
    variances whose products stay within float64 (the Gaussian scores multiply them)."""
    on_device = is_device_array(cov)
    S = check_square_matrix(as_device_array(cov) if on_device else cov, "cov", dtype=np.float64)
    check_symmetric(S, "cov")
    diag = np.asarray(_to_host(S.diagonal()))
    bad = np.flatnonzero(~(diag > 0))
    if bad.size:
        raise ValueError(
            f"cov has a non-positive variance at column {int(bad[0])} ({diag[bad[0]]:.3g}); "
            "a constant column has no Gaussian score -- drop it"
        )
    if not (diag.max() < 1e150 and diag.min() > 1e-150):
        raise ValueError(
            f"cov has variances from {diag.min():.3g} to {diag.max():.3g}; products of them "
            "leave float64 -- rescale the data (e.g. to unit variances)"
        )
    return S


def _column_vector(v: Any, name: str, d: int) -> np.ndarray:
    """One finite float64 per column, on the host."""
    host = v.get() if is_device_array(v) and hasattr(v, "get") else v
    out = np.ascontiguousarray(np.asarray(host, dtype=np.float64))
    if out.shape != (d,):
        raise ValueError(f"{name} must have one entry per column ({d}); got shape {out.shape}")
    if not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or inf")
    return out


def _raise_duplicates(dup: tuple[int, int] | None, why: str) -> None:
    if dup is not None:
        raise ValueError(
            f"X has identical columns {dup[0]} and {dup[1]}; {why} -- drop one of them"
        )


def _duplicate_columns_device(X) -> tuple[int, int] | None:
    """First pair of identical columns of a CuPy array, or None.

    Columns are grouped by a fingerprint (sum and sum of squares, reduced on the device; identical
    columns reduce identically) and candidates are then compared exactly.
    """
    import cupy

    finger = cupy.stack([X.sum(axis=0), (X * X).sum(axis=0)]).get()
    seen: dict[tuple[float, float], list[int]] = {}
    for j in range(X.shape[1]):
        key = (float(finger[0, j]), float(finger[1, j]))
        for i in seen.get(key, []):
            if bool(cupy.array_equal(X[:, i], X[:, j])):
                return i, j
        seen.setdefault(key, []).append(j)
    return None


def _duplicate_columns(X: np.ndarray) -> tuple[int, int] | None:
    """First pair of byte-identical columns, or None.

    Columns are grouped by a 16-byte digest and candidates compared exactly, so the check holds
    one column at a time rather than a copy of X (which would double a large fit's peak memory).
    """
    seen: dict[bytes, list[int]] = {}
    for j in range(X.shape[1]):
        column = np.ascontiguousarray(X[:, j])
        key = hashlib.blake2b(column.data, digest_size=16).digest()
        for i in seen.get(key, []):
            if np.array_equal(X[:, i], column):
                return i, j
        seen.setdefault(key, []).append(j)
    return None


def _observed_levels(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes renumbered per column to ``0..r_j - 1`` in their order (``r_j`` = levels that occur),
    and ``r_j``; columns already using every code ``0..max`` are returned as they are."""
    n, d = codes.shape
    card = np.empty(d, dtype=np.int64)
    out = codes
    for j in range(d):
        col = codes[:, j]
        top = int(col.max())
        if top < 4 * n + 1024:  # a presence table: O(n)
            present = np.bincount(col, minlength=top + 1) > 0
            levels = int(present.sum())
            if levels == top + 1:
                card[j] = levels
                continue
            new_code = (np.cumsum(present) - 1).astype(np.int32)
            renumbered = new_code[col]
        else:  # sparse huge codes: sort
            uniq, renumbered = np.unique(col, return_inverse=True)
            levels = uniq.size
        if out is codes:
            out = codes.copy()
        out[:, j] = renumbered
        card[j] = levels
    return out, card


def _check_discrete(X: Any, cardinalities: Any, names: Sequence[str] | None):
    """int32 codes (n, d), int64 cardinalities (d,) and node names from categorical data."""
    names_out = None
    if _is_dataframe(X):
        names_out = node_names_from(X, X.shape[1], names)
        X = frame_values(X)
    A = np.asarray(X)
    if A.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {A.shape}")
    n, d = A.shape
    if n < 2:
        raise ValueError(f"X needs at least 2 samples (rows); got {n}")
    if d < 1:
        raise ValueError("X needs at least 1 feature (column)")
    if A.dtype.kind == "f":
        if not np.isfinite(A).all():
            raise ValueError(
                "X contains NaN or inf; discrete scores need complete integer-coded data"
            )
        if not (A == np.round(A)).all():
            raise ValueError("X must hold integer category codes 0..r-1; got non-integer values")
    elif A.dtype.kind not in "biu":
        raise TypeError(
            f"X must hold integer category codes; got dtype {A.dtype} (encode categories first)"
        )
    if A.min() < 0:
        raise ValueError(
            f"X must hold category codes 0..r-1; got negative values in columns "
            f"{np.flatnonzero(A.min(axis=0) < 0)[:10].tolist()}"
        )
    if A.max() > np.iinfo(np.int32).max - 1:
        raise ValueError("category codes must be < 2^31 - 1")
    codes = np.ascontiguousarray(A, dtype=np.int32)
    observed = codes.max(axis=0).astype(np.int64) + 1
    if cardinalities is None:
        # the levels are the codes that occur: renumber a column whose codes skip some of
        # 0..max (1-based codes, gaps) so that relabelling categories never changes a score
        codes, card = _observed_levels(codes)
    else:
        card = np.asarray(cardinalities)
        if card.shape != (d,) or card.dtype.kind not in "iu":
            raise ValueError(f"cardinalities must be {d} integers; got {card!r}")
        card = card.astype(np.int64)
        bad = np.flatnonzero(observed > card)
        if bad.size:
            raise ValueError(f"codes of columns {bad[:10].tolist()} exceed their cardinalities")
    const = np.flatnonzero(codes.min(axis=0) == codes.max(axis=0))
    if const.size:
        raise ValueError(
            f"X has constant columns {const[:10].tolist()} (one observed level); remove them"
        )
    if (card < 2).any():
        raise ValueError(f"every cardinality must be >= 2; got {card.tolist()[:10]}")
    return codes, card, node_names_from(codes, d, names if names_out is None else names_out)


class _DiscreteScore(_LocalScore):
    _kind = ""

    _device_codes: Any = None  # CuPy (d, n) int32 codes, column by column, for CuPy input
    _device_card: Any = None

    def __init__(self, X: Any, ess: float, cardinalities: Any, names: Sequence[str] | None):
        on_device = is_device_array(X)
        if on_device:
            # Validated on a host copy (codes are small integers; one transfer), then kept on the
            # device column by column for the counting kernel.
            X = as_device_array(X)
            device_id = X.device.id
            X = X.get()
        codes, card, node_names = _check_discrete(X, cardinalities, names)
        self.cardinalities = card
        self._init_names(node_names)
        self._kernel = _core.DiscreteScore(codes, card, self._kind, ess)
        self._ess = ess
        if on_device:
            import cupy

            with cupy.cuda.Device(device_id):
                self._device_codes = cupy.ascontiguousarray(cupy.asarray(codes.T))
                self._device_card = cupy.asarray(card)
                # later launches may run on another stream (or thread): the copies must be done
                cupy.cuda.get_current_stream().synchronize()

    def _device_array(self):
        return self._device_codes

    def _launch_device(self, cuda, js_d, offsets_d, flat_d, out, offsets: np.ndarray) -> np.ndarray:
        import cupy

        cuda.discrete_local_scores(
            self._device_codes,
            self._device_card,
            js_d,
            offsets_d,
            flat_d,
            self._kind,
            self._ess,
            out,
            current_stream_ptr(),
        )
        # NaN marks families the kernel left to the CPU (too many cells or parents).
        return cupy.flatnonzero(cupy.isnan(out)).get()

    def _launch_subsets(self, cuda, row, j, size, first_rank, count, forbidden, required) -> None:
        cuda.discrete_subset_scores(
            self._device_codes,
            self._device_card,
            j,
            size,
            first_rank,
            count,
            forbidden,
            required,
            self._kind,
            self._ess,
            row,
            current_stream_ptr(),
        )


class BDeu(_DiscreteScore):
    """BDeu score of categorical data (Bayesian Dirichlet, likelihood-equivalent, uniform prior).

    Parameters
    ----------
    X_discrete : array-like of shape (n_samples, n_features)
        Non-negative integer category codes, usually ``0..r_j - 1`` (any distinct codes are
        levels: ``1..3`` scores as ``0..2``); DataFrame column names become node names.
    ess : float, default=1.0
        Equivalent (imaginary) sample size; ``alpha_ijk = ess / (q_j r_j)``; at most
        ``MAX_PRIOR_SIZE`` (1e8): beyond, the log-gamma differences lose their precision.
    cardinalities : sequence of int, optional
        ``r_j`` per column: the codes are then taken as they are, levels ``0..r_j - 1`` that
        never occur included (default: the levels that occur).
    names : sequence of str, optional
        Node names.

    Raises
    ------
    ValueError
        Negative or non-integer codes, NaN, a constant column (one level), n < 2.

    Notes
    -----
    Counts ``N_jck`` are computed per call in C++: parent configurations are mixed-radix encoded
    into a 64-bit key per row (``ValueError`` if ``q_j r_j`` overflows), then counted densely or by
    sorting, ``O(n |P|)`` or ``O(n log n)``. See the module docstring for the formula and pgmpy's
    conventions.

    References
    ----------
    Heckerman, Geiger & Chickering (1995). Learning Bayesian networks: the combination of
    knowledge and statistical data. Machine Learning 20, 197-243.
    """

    _kind = "bdeu"

    def __init__(
        self,
        X_discrete: Any,
        ess: float = 1.0,
        *,
        cardinalities: Any = None,
        names: Sequence[str] | None = None,
    ):
        self.ess = check_float(ess, "ess", low=0.0, low_inclusive=False, high=MAX_PRIOR_SIZE)
        super().__init__(X_discrete, self.ess, cardinalities, names)


class DiscreteBIC(_DiscreteScore):
    """Discrete BIC: ``log-likelihood - (log n / 2) q_j (r_j - 1)`` per node (higher is better).

    Parameters are as for :class:`BDeu` (without ``ess``).
    """

    _kind = "bic"

    def __init__(
        self, X_discrete: Any, *, cardinalities: Any = None, names: Sequence[str] | None = None
    ):
        super().__init__(X_discrete, 1.0, cardinalities, names)
