"""Synthetic data for causal representation learning, with the ground truth attached.

Every generator is seeded through ``random_state`` (int, ``numpy.random.Generator`` or None;
NumPy's global state is never touched) and returns a :class:`LatentDataset`: observations ``X``,
true latents ``Z``, environment/segment labels ``env`` and the ground truth (mixing, latent DAG
weights, intervention targets, per-environment population covariances).

* :func:`make_mixing` — invertible mixings ``x = g(z)``: linear, leaky-ReLU MLP or "xtanh" MLP built
  from well-conditioned layers (Hyvärinen & Morioka; Zimmermann et al.).
* :func:`make_nonstationary_sources` — independent sources whose variances change between segments,
  the nonlinear-ICA / iVAE setting (Khemakhem et al. 2020).
* :func:`make_linear_interventional` — a linear-Gaussian latent SCM on a random DAG, an
  observational environment and one single-node intervention per latent, linearly mixed
  (Squires et al. 2023; Varıcı et al. 2025).

Adjacency convention, everywhere in fastcrl: ``W[i, j] != 0`` means the edge ``i -> j``, so the
latent SCM reads ``Z = Z @ W + E``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._errors import NumericalError
from ._validation import check_data, check_float, check_int, check_option, check_random_state

__all__ = [
    "LatentDataset",
    "Mixing",
    "make_mixing",
    "make_nonstationary_sources",
    "make_linear_interventional",
]

MIXING_KINDS = ("linear", "leaky_relu", "tanh")
_DEFAULT_SLOPE = {"linear": 0.0, "leaky_relu": 0.2, "tanh": 0.1}


# --------------------------------------------------------------------------------------------
# mixing functions
# --------------------------------------------------------------------------------------------


class Mixing:
    """An injective mixing ``x = g(z)``: linear layers with an element-wise activation between them.

    ``h_0 = z``; ``h_l = a(W_l h_{l-1})`` for ``l < L`` and ``x = W_L h_{L-1}`` (no activation after
    the last layer), with ``a`` the identity ("linear"), leaky-ReLU ``max(t, slope t)`` or "xtanh"
    ``tanh(t) + slope t`` (strictly increasing, so invertible).

    Parameters
    ----------
    weights : sequence of ndarray
        Layer matrices ``W_l`` of shape ``(out_l, in_l)``; the first maps ``R^d`` to ``R^D``
        (``D >= d``, full column rank) and the others are square ``(D, D)`` and invertible.
    kind : {"linear", "leaky_relu", "tanh"}, default "leaky_relu"
        The activation between layers.
    slope : float, optional
        Negative-side slope of the leaky-ReLU, or the linear term of "xtanh"; must be > 0 for the
        nonlinear kinds.  Default: 0.2 (leaky-ReLU), 0.1 (xtanh, as the iVAE code).

    Attributes
    ----------
    weights : tuple of ndarray
    kind : str
    slope : float
    n_latents : int
        ``d``, the input dimension.
    n_observed : int
        ``D``, the output dimension.
    n_layers : int
        ``L``.

    Examples
    --------
    >>> g = make_mixing(3, n_layers=2, kind="leaky_relu", random_state=0)
    >>> Z = np.random.default_rng(0).normal(size=(4, 3))
    >>> bool(np.allclose(g.inverse(g(Z)), Z))
    True
    """

    def __init__(
        self, weights: Sequence[Any], kind: str = "leaky_relu", slope: float | None = None
    ):
        kind = check_option(kind, "kind", MIXING_KINDS)
        if slope is None:
            slope = _DEFAULT_SLOPE[kind]
        if kind != "linear":
            slope = check_float(slope, "slope", low=0.0, low_inclusive=False)
        if len(weights) < 1:
            raise ValueError("weights must hold at least one layer matrix; got none")
        mats = []
        for i, W in enumerate(weights):
            W = np.array(W, dtype=np.float64)  # an owned copy: the mixing is immutable
            if W.ndim != 2 or not np.isfinite(W).all():
                raise ValueError(f"weights[{i}] must be a finite 2-D matrix; got shape {W.shape}")
            W.setflags(write=False)
            mats.append(W)
        d, D = mats[0].shape[1], mats[0].shape[0]
        if D < d:
            raise ValueError(
                f"weights[0] must map d to D >= d dimensions; got shape {mats[0].shape}"
            )
        for i, W in enumerate(mats[1:], start=1):
            if W.shape != (D, D):
                raise ValueError(f"weights[{i}] must be square ({D}, {D}); got shape {W.shape}")
        self.weights = tuple(mats)
        self.kind = kind
        self.slope = float(slope)
        self.n_latents = d
        self.n_observed = D
        self.n_layers = len(mats)

    # activation and its inverse / derivative
    def _act(self, t: np.ndarray) -> np.ndarray:
        if self.kind == "leaky_relu":
            return np.where(t >= 0, t, self.slope * t)
        if self.kind == "tanh":
            return np.tanh(t) + self.slope * t
        return t

    def _act_grad(self, t: np.ndarray) -> np.ndarray:
        if self.kind == "leaky_relu":
            return np.where(t >= 0, 1.0, self.slope)
        if self.kind == "tanh":
            return 1.0 - np.tanh(t) ** 2 + self.slope
        return np.ones_like(t)

    def _act_inv(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "leaky_relu":
            return np.where(y >= 0, y, y / self.slope)
        if self.kind == "tanh":
            # tanh(t) + s t is increasing; for y >= 0 the root lies in [(y - 1) / s, y / s] (odd
            # symmetry for y < 0).  Bisection: slow-ish but sure to converge; not a hot path.
            s = self.slope
            a = np.abs(y)
            lo, hi = np.maximum((a - 1.0) / s, 0.0), a / s
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                above = np.tanh(mid) + s * mid > a
                hi = np.where(above, mid, hi)
                lo = np.where(above, lo, mid)
                if np.all(hi - lo <= 1e-15 * np.maximum(1.0, hi)):
                    break
            return np.sign(y) * 0.5 * (lo + hi)
        return y

    def __call__(self, Z: Any) -> np.ndarray:
        """Apply the mixing to latents ``Z`` ``(n, d)``; returns ``X`` of shape ``(n, D)``."""
        H = check_data(Z, "Z", dtype=np.float64, min_samples=1, allow_constant=True)
        if H.shape[1] != self.n_latents:
            raise ValueError(f"Z must have {self.n_latents} columns; got {H.shape[1]}")
        for i, W in enumerate(self.weights):
            H = H @ W.T
            if i < self.n_layers - 1:
                H = self._act(H)
        return H

    def inverse(self, X: Any) -> np.ndarray:
        """Invert the mixing: ``Z`` of shape ``(n, d)`` from ``X`` of shape ``(n, D)``.

        Exact for ``X`` in the image of the mixing; for ``D > d`` the first layer is inverted by
        least squares, i.e. other ``X`` are projected onto that layer's range.
        """
        H = check_data(X, "X", dtype=np.float64, min_samples=1, allow_constant=True)
        if H.shape[1] != self.n_observed:
            raise ValueError(f"X must have {self.n_observed} columns; got {H.shape[1]}")
        for i in range(self.n_layers - 1, -1, -1):
            if i < self.n_layers - 1:
                H = self._act_inv(H)
            W = self.weights[i]
            if W.shape[0] == W.shape[1]:
                H = np.linalg.solve(W, H.T).T
            else:
                H = np.linalg.lstsq(W, H.T, rcond=None)[0].T
        return H

    def jacobian(self, Z: Any) -> np.ndarray:
        """Jacobians ``dx/dz`` at each row of ``Z``: shape ``(n, D, d)``."""
        H = check_data(Z, "Z", dtype=np.float64, min_samples=1, allow_constant=True)
        if H.shape[1] != self.n_latents:
            raise ValueError(f"Z must have {self.n_latents} columns; got {H.shape[1]}")
        J = np.broadcast_to(np.eye(self.n_latents), (H.shape[0], self.n_latents, self.n_latents))
        for i, W in enumerate(self.weights):
            pre = H @ W.T
            J = W @ J
            if i < self.n_layers - 1:
                J = self._act_grad(pre)[:, :, None] * J
                H = self._act(pre)
        return J

    @property
    def matrix(self) -> np.ndarray:
        """The mixing matrix ``G`` (shape ``(D, d)``, ``x = G z``); only for ``kind="linear"``."""
        if self.kind != "linear":
            raise AttributeError(f"a {self.kind!r} mixing has no matrix; only kind='linear' does")
        G = self.weights[0]
        for W in self.weights[1:]:
            G = W @ G
        return G

    def __repr__(self) -> str:
        return (
            f"Mixing(kind={self.kind!r}, n_latents={self.n_latents}, n_observed={self.n_observed}, "
            f"n_layers={self.n_layers}, slope={self.slope})"
        )


def _uniform_columns(rng: np.random.Generator, n: int, shape: tuple[int, int]) -> np.ndarray:
    """``n`` matrices with entries ``U(-1, 1)`` and unit-norm columns."""
    M = rng.uniform(-1.0, 1.0, size=(n, *shape))
    return M / np.linalg.norm(M, axis=1, keepdims=True)


def _well_conditioned(
    rng: np.random.Generator, shape: tuple[int, int], cond_quantile: float, n_cond_draws: int
) -> np.ndarray:
    """One column-normalised ``U(-1, 1)`` matrix whose condition number is below the given
    quantile of those of ``n_cond_draws`` such random matrices (Hyvärinen-style "pcl" init)."""
    ref = np.linalg.cond(_uniform_columns(rng, n_cond_draws, shape))
    thresh = np.quantile(ref, cond_quantile)
    for _ in range(1000):
        cand = _uniform_columns(rng, 64, shape)
        ok = np.flatnonzero(np.linalg.cond(cand) <= thresh)
        if ok.size:
            return cand[ok[0]]
    raise NumericalError("no well-conditioned matrix found in 64,000 draws")  # pragma: no cover


def make_mixing(
    n_latents: int,
    n_observed: int | None = None,
    *,
    n_layers: int = 2,
    kind: str = "leaky_relu",
    slope: float | None = None,
    init: str = "uniform",
    cond_quantile: float = 0.25,
    n_cond_draws: int = 2000,
    random_state: Any = None,
) -> Mixing:
    """A random injective mixing ``x = g(z)`` from ``R^d`` to ``R^D``.

    Parameters
    ----------
    n_latents : int
        ``d >= 1``.
    n_observed : int, optional
        ``D >= d``; default ``d``.  The first layer maps ``d -> D``, the others are ``D x D``.
    n_layers : int, default 2
        Number of linear layers ``L >= 1`` (activations sit between them, none after the last).
        For ``kind="linear"`` the mixing is the product of the ``L`` matrices.
    kind : {"linear", "leaky_relu", "tanh"}, default "leaky_relu"
        Activation between layers: identity, leaky-ReLU ``max(t, slope t)``, or "xtanh"
        ``tanh(t) + slope t`` (the iVAE reference code's mixing).
    slope : float, optional
        Default 0.2 for leaky-ReLU, 0.1 for xtanh.
    init : {"uniform", "orthogonal"}, default "uniform"
        ``"uniform"``: entries ``U(-1, 1)``, columns L2-normalised, redrawn until the condition
        number is at most the ``cond_quantile`` quantile of ``n_cond_draws`` random such matrices
        (the construction of Hyvärinen & Morioka's code, reused by cl-ica).  ``"orthogonal"``:
        Haar-random orthogonal layers (first layer: ``D x d`` with orthonormal columns).
    cond_quantile : float, default 0.25
        In ``(0, 1]``.
    n_cond_draws : int, default 2000
        Matrices drawn to estimate the quantile (cl-ica uses 10,000; 2,000 estimates the 25 %
        quantile to about 2 %).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    Mixing
        Callable ``g(Z) -> X`` with ``inverse``, ``jacobian`` and the layer matrices in ``weights``.

    Raises
    ------
    ValueError
        ``n_observed < n_latents``, ``n_layers < 1``, unknown ``kind``/``init``, bad ``slope``
        or ``cond_quantile``.

    References
    ----------
    Hyvärinen, Morioka. "Nonlinear ICA of temporally dependent stationary sources", AISTATS 2017.
    Zimmermann, Sharma, Schneider, Bethge, Brendel. "Contrastive learning inverts the
    data generating process", ICML 2021.

    Examples
    --------
    >>> g = make_mixing(4, 6, n_layers=3, random_state=1)
    >>> g(np.zeros((2, 4))).shape
    (2, 6)
    """
    d = check_int(n_latents, "n_latents", low=1)
    D = d if n_observed is None else check_int(n_observed, "n_observed", low=1)
    if D < d:
        raise ValueError(f"n_observed must be >= n_latents ({d}) for an injective mixing; got {D}")
    L = check_int(n_layers, "n_layers", low=1)
    kind = check_option(kind, "kind", MIXING_KINDS)
    init = check_option(init, "init", ("uniform", "orthogonal"))
    q = check_float(cond_quantile, "cond_quantile", low=0.0, high=1.0, low_inclusive=False)
    n_draws = check_int(n_cond_draws, "n_cond_draws", low=1)
    rng = check_random_state(random_state)
    weights = []
    for layer in range(L):
        shape = (D, d) if layer == 0 else (D, D)
        if init == "uniform":
            weights.append(_well_conditioned(rng, shape, q, n_draws))
        else:
            Q, R = np.linalg.qr(rng.normal(size=(D, D)))
            Q = Q * np.sign(np.diag(R))  # Haar measure needs the sign fix
            weights.append(Q[:, : shape[1]])
    return Mixing(weights, kind=kind, slope=slope)


# --------------------------------------------------------------------------------------------
# datasets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LatentDataset:
    """Observations, true latents, environment labels and the ground truth of a CRL benchmark.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_observed) or None
        Observations, grouped by environment (``None`` for population-only datasets).
    Z : ndarray of shape (n_samples, n_latents) or None
        True latents, ``X = mixing(Z)`` (+ observation noise where the generator adds it).
    env : ndarray of shape (n_samples,), int64, or None
        Environment / segment label ``0 .. n_envs - 1`` of each row.
    mixing : Mixing
        The mixing function; ``mixing.matrix`` is ``G`` for linear mixings.
    latent_weights : ndarray of shape (n_latents, n_latents) or None
        Observational latent SCM weights, ``latent_weights[i, j] != 0`` meaning ``z_i -> z_j``
        (``Z = Z @ W + E``); ``None`` for independent sources.
    env_latent_weights : ndarray of shape (n_envs, n_latents, n_latents) or None
        The SCM weights in each environment (column ``t`` changed in the environment intervening
        on ``t``).
    intervention_targets : ndarray of shape (n_envs,), int64, or None
        Latent intervened on in each environment; -1 for the observational environment.
    intervention : str or None
        ``"hard"`` or ``"soft"``; ``None`` for independent sources.
    source_scales : ndarray of shape (n_envs, n_latents)
        Standard deviation of each exogenous noise / source per environment.
    latent_covariances : ndarray of shape (n_envs, n_latents, n_latents)
        Population covariance of ``Z`` per environment.
    covariances : ndarray of shape (n_envs, n_observed, n_observed) or None
        Population covariance of ``X`` per environment (linear mixings only).
    n_samples : ndarray of shape (n_envs,), int64
        Rows per environment (what was, or would have been, sampled).
    params : dict
        The generator's arguments.
    """

    X: np.ndarray | None
    Z: np.ndarray | None
    env: np.ndarray | None
    mixing: Mixing
    source_scales: np.ndarray
    latent_covariances: np.ndarray
    n_samples: np.ndarray
    covariances: np.ndarray | None = None
    latent_weights: np.ndarray | None = None
    env_latent_weights: np.ndarray | None = None
    intervention_targets: np.ndarray | None = None
    intervention: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def n_envs(self) -> int:
        """Number of environments / segments."""
        return int(self.n_samples.shape[0])

    @property
    def n_latents(self) -> int:
        return self.mixing.n_latents

    @property
    def n_observed(self) -> int:
        return self.mixing.n_observed

    @property
    def latent_adjacency(self) -> np.ndarray | None:
        """Binary latent DAG (``A[i, j] = 1``: ``z_i -> z_j``), or None."""
        return None if self.latent_weights is None else (self.latent_weights != 0).astype(np.int8)

    def __repr__(self) -> str:
        shape = None if self.X is None else self.X.shape
        return (
            f"LatentDataset(X shape={shape}, n_latents={self.n_latents}, n_envs={self.n_envs}, "
            f"mixing={self.mixing!r})"
        )


def _check_range(value: Any, name: str, *, positive: bool) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a (low, high) pair of numbers; got {value!r}") from exc
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name} must be finite with low <= high; got ({lo}, {hi})")
    if positive and lo <= 0:
        raise ValueError(f"{name} must be positive; got ({lo}, {hi})")
    if not positive and lo < 0:
        raise ValueError(
            f"{name} must be non-negative magnitudes (signs are drawn); got ({lo}, {hi})"
        )
    return lo, hi


def _unit_variance_noise(
    rng: np.random.Generator, source: str, size: tuple[int, ...]
) -> np.ndarray:
    if source == "laplace":
        return rng.laplace(scale=1.0 / np.sqrt(2.0), size=size)
    return rng.standard_normal(size=size)


def make_nonstationary_sources(
    n_segments: int = 40,
    n_per_segment: int = 1000,
    n_latents: int = 5,
    n_observed: int | None = None,
    *,
    n_layers: int = 2,
    mixing: str = "leaky_relu",
    source: str = "gaussian",
    variance_range: tuple[float, float] = (0.5, 3.0),
    slope: float | None = None,
    random_state: Any = None,
) -> LatentDataset:
    """Independent sources with segment-wise variances, injectively mixed (the iVAE setting).

    In segment ``k`` the sources are ``z = sqrt(lambda_k) * eps`` with
    ``lambda_kj ~ U(variance_range)`` drawn independently per segment and latent and ``eps``
    i.i.d. zero-mean, unit-variance (Gaussian or Laplace); then ``x = g(z)`` with ``g`` from
    :func:`make_mixing`.

    Parameters
    ----------
    n_segments : int, default 40
        Number of segments ``K >= 1`` (the auxiliary variable of iVAE).
    n_per_segment : int, default 1000
        Rows per segment.
    n_latents : int, default 5
        ``d``.
    n_observed : int, optional
        ``D >= d``; default ``d``.
    n_layers : int, default 2
        Mixing layers ``L``.
    mixing : {"leaky_relu", "tanh", "linear"}, default "leaky_relu"
        Activation of the mixing MLP (see :func:`make_mixing`).
    source : {"gaussian", "laplace"}, default "gaussian"
        Distribution of ``eps``.
    variance_range : (low, high), default (0.5, 3)
        Range of the segment variances, ``0 < low <= high``.
    slope : float, optional
        Activation slope (default 0.2 for leaky-ReLU, 0.1 for xtanh).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    LatentDataset
        ``X`` ``(K * n_per_segment, D)``, ``Z`` ``(K * n_per_segment, d)``, ``env`` the segment of
        each row; ``source_scales[k] = sqrt(lambda_k)``; ``latent_covariances[k] = diag(lambda_k)``;
        ``covariances`` (population ``cov(X)`` per segment) only for ``mixing="linear"``.

    Raises
    ------
    ValueError
        Non-positive sizes, ``n_observed < n_latents``, unknown options, a bad ``variance_range``.

    References
    ----------
    Khemakhem, Kingma, Monti, Hyvärinen. "Variational autoencoders and nonlinear ICA: a unifying
    framework", AISTATS 2020.

    Examples
    --------
    >>> data = make_nonstationary_sources(n_segments=4, n_per_segment=10, random_state=0)
    >>> data.X.shape, data.Z.shape, np.bincount(data.env).tolist()
    ((40, 5), (40, 5), [10, 10, 10, 10])
    """
    K = check_int(n_segments, "n_segments", low=1)
    m = check_int(n_per_segment, "n_per_segment", low=1)
    d = check_int(n_latents, "n_latents", low=1)
    source = check_option(source, "source", ("gaussian", "laplace"))
    kind = check_option(mixing, "mixing", MIXING_KINDS)
    lo, hi = _check_range(variance_range, "variance_range", positive=True)
    rng = check_random_state(random_state)
    g = make_mixing(d, n_observed, n_layers=n_layers, kind=kind, slope=slope, random_state=rng)
    variances = rng.uniform(lo, hi, size=(K, d))
    scales = np.sqrt(variances)
    env = np.repeat(np.arange(K, dtype=np.int64), m)
    Z = _unit_variance_noise(rng, source, (K * m, d)) * scales[env]
    X = g(Z)
    latent_cov = np.einsum("kj,ij->kij", variances, np.eye(d))
    cov = None
    if kind == "linear":
        G = g.matrix
        cov = np.einsum("ai,ki,bi->kab", G, variances, G)
    return LatentDataset(
        X=X,
        Z=Z,
        env=env,
        mixing=g,
        source_scales=scales,
        latent_covariances=latent_cov,
        covariances=cov,
        n_samples=np.full(K, m, dtype=np.int64),
        params=dict(
            n_segments=K,
            n_per_segment=m,
            n_latents=d,
            n_observed=g.n_observed,
            n_layers=g.n_layers,
            mixing=kind,
            source=source,
            variance_range=(lo, hi),
            slope=g.slope,
        ),
    )


def _random_dag_weights(
    rng: np.random.Generator, d: int, p: float, lo: float, hi: float
) -> np.ndarray:
    """Erdős–Rényi DAG (each pair an edge w.p. ``p``) in a random order, weights ``±U(lo, hi)``."""
    order = rng.permutation(d)
    mask = np.triu(rng.random((d, d)) < p, k=1)  # i -> j for i before j in `order`
    w = rng.uniform(lo, hi, size=(d, d)) * rng.choice([-1.0, 1.0], size=(d, d))
    W = np.zeros((d, d))
    W[np.ix_(order, order)] = np.where(mask, w, 0.0)
    return W


def _scm_covariance(W: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Covariance of ``Z = E (I - W)^{-1}`` with ``E ~ N(0, diag(scales^2))``."""
    T = np.linalg.inv(np.eye(W.shape[0]) - W)
    return T.T @ ((scales**2)[:, None] * T)


def make_linear_interventional(
    n_latents: int = 5,
    n_observed: int = 10,
    n_per_env: int = 50_000,
    *,
    intervention: str = "hard",
    edge_prob: float = 0.5,
    weight_range: tuple[float, float] = (0.5, 1.5),
    noise_var_range: tuple[float, float] = (0.5, 1.5),
    intervention_scale_range: tuple[float, float] = (2.0, 3.0),
    noise_std: float = 0.0,
    population: bool = False,
    random_state: Any = None,
) -> LatentDataset:
    """Linear-Gaussian latent SCM with one single-node intervention per latent, linearly mixed.

    Latents follow ``Z = Z @ W + E`` on an Erdős–Rényi DAG (edge probability ``edge_prob`` after a
    random node order), weights ``±U(weight_range)`` with random signs, ``E_j ~ N(0, omega_j)`` with
    ``omega_j ~ U(noise_var_range)``.  Environment 0 is observational; environment ``k = 1 .. d``
    intervenes on latent ``targets[k]`` (a random permutation, so the pairing is unknown to a
    method):

    * ``"hard"`` (perfect): ``z_t <- N(0, sigma_k^2)``, the incoming edges of ``t`` removed;
    * ``"soft"``: the incoming weights of ``t`` redrawn from ``±U(weight_range)`` and its noise
      standard deviation replaced by ``sigma_k``;

    with ``sigma_k ~ U(intervention_scale_range)``.  Observations are
    ``x = G z (+ noise_std * N(0, I))`` with ``G ~ N(0, 1)^{D x d}``.  These are the settings of
    the notes' calibration (§2.3c) and of LSCALE-I (Varıcı et al.).

    Parameters
    ----------
    n_latents : int, default 5
        ``d``.
    n_observed : int, default 10
        ``D >= d``.
    n_per_env : int, default 50000
        Rows per environment.
    intervention : {"hard", "soft"}, default "hard"
    edge_prob : float, default 0.5
        In ``[0, 1]``.
    weight_range : (low, high), default (0.5, 1.5)
        Magnitudes of the edge weights; signs are random.
    noise_var_range : (low, high), default (0.5, 1.5)
        Observational noise variances ``omega_j``.
    intervention_scale_range : (low, high), default (2, 3)
        Noise standard deviation of the intervened latent.
    noise_std : float, default 0
        Standard deviation of isotropic Gaussian observation noise.
    population : bool, default False
        If True, sample nothing (``X``, ``Z``, ``env`` are None) and return only the population
        statistics — for exact-statistics tests at no sampling cost.
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    LatentDataset
        ``X`` ``((d + 1) * n_per_env, D)`` grouped by environment, ``Z``, ``env``; ground truth
        ``latent_weights`` (observational ``W``), ``env_latent_weights``, ``intervention_targets``
        (``[-1, t_1, ..., t_d]``), ``source_scales``, exact ``latent_covariances`` and
        ``covariances`` (``G Sigma_z^k G^T + noise_std^2 I``) per environment, ``mixing``
        (``mixing.matrix`` is ``G``).

    Raises
    ------
    ValueError
        ``n_observed < n_latents``, non-positive sizes, unknown ``intervention``, bad ranges.

    Notes
    -----
    The intervention scale range should differ from the observational noise scale, or interventions
    on source nodes are invisible.  Cost: O((d + 1) n_per_env D d).

    References
    ----------
    Squires, Seigal, Bhate, Uhler. "Linear causal disentanglement via interventions", ICML 2023.
    Varıcı, Acartürk, Shanmugam, Kumar, Tajer. "Score-based causal representation learning: linear
    and general transformations", JMLR 26, 2025.

    Examples
    --------
    >>> data = make_linear_interventional(3, 6, 100, random_state=0)
    >>> data.X.shape, data.n_envs, sorted(data.intervention_targets.tolist())
    ((400, 6), 4, [-1, 0, 1, 2])
    """
    d = check_int(n_latents, "n_latents", low=1)
    D = check_int(n_observed, "n_observed", low=1)
    if D < d:
        raise ValueError(f"n_observed must be >= n_latents ({d}); got {D}")
    m = check_int(n_per_env, "n_per_env", low=1)
    intervention = check_option(intervention, "intervention", ("hard", "soft"))
    p = check_float(edge_prob, "edge_prob", low=0.0, high=1.0)
    wlo, whi = _check_range(weight_range, "weight_range", positive=False)
    nlo, nhi = _check_range(noise_var_range, "noise_var_range", positive=True)
    slo, shi = _check_range(intervention_scale_range, "intervention_scale_range", positive=True)
    noise_std = check_float(noise_std, "noise_std", low=0.0)
    population = bool(population)
    rng = check_random_state(random_state)

    W = _random_dag_weights(rng, d, p, wlo, whi)
    omega = rng.uniform(nlo, nhi, size=d)
    targets = rng.permutation(d)
    sigma = rng.uniform(slo, shi, size=d)
    G = rng.standard_normal((D, d))
    g = Mixing([G], kind="linear")

    n_envs = d + 1
    env_W = np.repeat(W[None], n_envs, axis=0)
    scales = np.repeat(np.sqrt(omega)[None], n_envs, axis=0)
    for k in range(1, n_envs):
        t = targets[k - 1]
        if intervention == "hard":
            env_W[k, :, t] = 0.0
        else:
            pa = W[:, t] != 0
            env_W[k, pa, t] = rng.uniform(wlo, whi, size=pa.sum()) * rng.choice(
                [-1.0, 1.0], size=pa.sum()
            )
        scales[k, t] = sigma[k - 1]
    latent_cov = np.stack([_scm_covariance(env_W[k], scales[k]) for k in range(n_envs)])
    cov = np.einsum("ai,kij,bj->kab", G, latent_cov, G) + noise_std**2 * np.eye(D)

    X = Z = env = None
    if not population:
        env = np.repeat(np.arange(n_envs, dtype=np.int64), m)
        Z = np.empty((n_envs * m, d))
        for k in range(n_envs):
            E = rng.standard_normal((m, d)) * scales[k]
            Z[k * m : (k + 1) * m] = E @ np.linalg.inv(np.eye(d) - env_W[k])
        X = Z @ G.T
        if noise_std > 0:
            X += noise_std * rng.standard_normal(X.shape)
    return LatentDataset(
        X=X,
        Z=Z,
        env=env,
        mixing=g,
        source_scales=scales,
        latent_covariances=latent_cov,
        covariances=cov,
        n_samples=np.full(n_envs, m, dtype=np.int64),
        latent_weights=W,
        env_latent_weights=env_W,
        intervention_targets=np.concatenate([[-1], targets]).astype(np.int64),
        intervention=intervention,
        params=dict(
            n_latents=d,
            n_observed=D,
            n_per_env=m,
            intervention=intervention,
            edge_prob=p,
            weight_range=(wlo, whi),
            noise_var_range=(nlo, nhi),
            intervention_scale_range=(slo, shi),
            noise_std=noise_std,
            population=population,
        ),
    )
