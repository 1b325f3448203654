"""Tests for fastcrl.datasets: mixings, nonstationary sources, linear interventional SCMs."""

from __future__ import annotations

import numpy as np
import pytest
from fastcrl.datasets import (
    LatentDataset,
    Mixing,
    make_linear_interventional,
    make_mixing,
    make_nonstationary_sources,
)
from fastcrl.metrics import mcc


def _is_dag(W: np.ndarray) -> bool:
    B = (W != 0).astype(np.int64)
    R = B.copy()
    for _ in range(W.shape[0]):
        R = np.minimum(R + R @ B, 1)
    return not np.diag(R).any()


# --------------------------------------------------------------------------------------------
# make_mixing / Mixing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "leaky_relu", "tanh"])
@pytest.mark.parametrize("n_layers", [1, 2, 3])
@pytest.mark.parametrize("shape", [(4, 4), (3, 6)])
def test_mixing_inverse_and_jacobian(kind, n_layers, shape):
    d, D = shape
    g = make_mixing(d, D, n_layers=n_layers, kind=kind, random_state=3)
    Z = np.random.default_rng(0).normal(scale=2.0, size=(200, d))
    X = g(Z)
    assert X.shape == (200, D)
    np.testing.assert_allclose(g.inverse(X), Z, atol=1e-10)
    J = g.jacobian(Z[:20])
    eps = 1e-6
    Jn = np.stack(
        [(g(Z[:20] + eps * e) - g(Z[:20] - eps * e)) / (2 * eps) for e in np.eye(d)], axis=-1
    )
    np.testing.assert_allclose(J, Jn, atol=1e-6)
    # injective: the Jacobian has full column rank everywhere we look
    assert np.linalg.svd(J, compute_uv=False).min() > 1e-3


def test_mixing_layers_are_well_conditioned():
    rng = np.random.default_rng(1)
    ref = rng.uniform(-1, 1, size=(4000, 5, 5))
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    q25 = np.quantile(np.linalg.cond(ref), 0.25)
    for seed in range(5):
        g = make_mixing(5, n_layers=3, random_state=seed)
        for W in g.weights:
            np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0)
            assert np.abs(W).max() <= 1.0
            assert np.linalg.cond(W) <= 1.15 * q25  # below the (re-estimated) 25 % quantile


def test_mixing_orthogonal_init_and_matrix():
    g = make_mixing(3, 5, n_layers=2, kind="linear", init="orthogonal", random_state=0)
    np.testing.assert_allclose(g.weights[0].T @ g.weights[0], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(g.weights[1].T @ g.weights[1], np.eye(5), atol=1e-12)
    Z = np.random.default_rng(0).normal(size=(10, 3))
    np.testing.assert_allclose(g(Z), Z @ g.matrix.T)
    with pytest.raises(AttributeError, match="no matrix"):
        _ = make_mixing(3, kind="tanh", random_state=0).matrix


def test_mixing_defaults_and_determinism():
    a = make_mixing(4, n_layers=2, random_state=7)
    b = make_mixing(4, n_layers=2, random_state=7)
    assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights, strict=True))
    assert a.slope == 0.2 and make_mixing(2, kind="tanh", random_state=0).slope == 0.1
    assert "leaky_relu" in repr(a)
    with pytest.raises(ValueError):
        a.weights[0][0, 0] = 1.0  # read-only


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n_latents=3, n_observed=2), ValueError, "n_observed must be >= n_latents"),
        (dict(n_latents=0), ValueError, "n_latents must be >= 1"),
        (dict(n_latents=3, n_layers=0), ValueError, "n_layers must be >= 1"),
        (dict(n_latents=3, kind="relu"), ValueError, "unknown kind"),
        (dict(n_latents=3, slope=0.0), ValueError, "slope must be > 0"),
        (dict(n_latents=3, cond_quantile=0.0), ValueError, "cond_quantile"),
        (dict(n_latents=3, init="haar"), ValueError, "unknown init"),
        (dict(n_latents=2.5), TypeError, "n_latents must be an integer"),
    ],
)
def test_make_mixing_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_mixing(**kwargs)


def test_mixing_bad_calls():
    g = make_mixing(3, 4, random_state=0)
    with pytest.raises(ValueError, match="Z must have 3 columns"):
        g(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="X must have 4 columns"):
        g.inverse(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        g(np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="square"):
        Mixing([np.eye(3, 2), np.eye(2)])
    with pytest.raises(ValueError, match="D >= d"):
        Mixing([np.eye(2, 3)])


# --------------------------------------------------------------------------------------------
# make_nonstationary_sources
# --------------------------------------------------------------------------------------------


def test_nonstationary_sources_structure():
    data = make_nonstationary_sources(6, 4000, 3, 5, mixing="linear", random_state=0)
    assert isinstance(data, LatentDataset)
    assert data.X.shape == (24000, 5) and data.Z.shape == (24000, 3) and data.env.shape == (24000,)
    assert data.n_envs == 6 and data.n_latents == 3 and data.n_observed == 5
    np.testing.assert_array_equal(np.bincount(data.env), np.full(6, 4000))
    lam = data.source_scales**2
    assert lam.min() >= 0.5 and lam.max() <= 3.0
    for k in range(6):
        z = data.Z[data.env == k]
        np.testing.assert_allclose(z.var(axis=0), lam[k], rtol=0.08)
        np.testing.assert_allclose(
            np.cov(data.X[data.env == k].T), data.covariances[k], rtol=0.1, atol=0.05
        )
    np.testing.assert_allclose(data.X, data.Z @ data.mixing.matrix.T)
    assert data.latent_weights is None and data.intervention_targets is None


def test_nonstationary_sources_laplace_and_nonlinear():
    data = make_nonstationary_sources(2, 20000, 2, source="laplace", mixing="tanh", random_state=1)
    eps = data.Z / data.source_scales[data.env]
    np.testing.assert_allclose(eps.var(axis=0), 1.0, rtol=0.05)
    kurt = (eps**4).mean(axis=0) / eps.var(axis=0) ** 2
    assert (kurt > 5.0).all()  # Laplace: 6
    assert data.covariances is None
    np.testing.assert_allclose(data.mixing.inverse(data.X), data.Z, atol=1e-9)


def test_nonstationary_sources_reproducible():
    a = make_nonstationary_sources(3, 50, random_state=5)
    b = make_nonstationary_sources(3, 50, random_state=np.random.default_rng(5))
    c = make_nonstationary_sources(3, 50, random_state=6)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.Z, b.Z)
    assert not np.array_equal(a.X, c.X)


def test_nonstationary_no_learning_baseline_matches_notes():
    # notes §2.3(b): MCC(z, x) = 0.602 for d=5, L=2 (40 x 1000, leaky-ReLU 0.2); measured 0.610 here
    base = [mcc(d.Z, d.X) for d in (make_nonstationary_sources(random_state=s) for s in range(5))]
    assert abs(np.mean(base) - 0.602) <= 0.02


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n_segments=0), ValueError, "n_segments must be >= 1"),
        (dict(n_latents=4, n_observed=3), ValueError, "n_observed must be >= n_latents"),
        (dict(mixing="sigmoid"), ValueError, "unknown mixing"),
        (dict(source="uniform"), ValueError, "unknown source"),
        (dict(variance_range=(0.0, 1.0)), ValueError, "variance_range must be positive"),
        (dict(variance_range=(2.0, 1.0)), ValueError, "low <= high"),
        (dict(variance_range=3.0), TypeError, "variance_range must be a"),
    ],
)
def test_nonstationary_sources_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_nonstationary_sources(**{"n_per_segment": 5, **kwargs})


# --------------------------------------------------------------------------------------------
# make_linear_interventional
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("intervention", ["hard", "soft"])
def test_linear_interventional_ground_truth(intervention):
    d, D = 4, 7
    data = make_linear_interventional(d, D, 20000, intervention=intervention, random_state=2)
    assert data.X.shape == ((d + 1) * 20000, D) and data.Z.shape == ((d + 1) * 20000, d)
    assert data.intervention == intervention
    W = data.latent_weights
    assert _is_dag(W)
    mags = np.abs(W[W != 0])
    assert mags.size and mags.min() >= 0.5 and mags.max() <= 1.5
    t = data.intervention_targets
    assert t[0] == -1 and sorted(t[1:].tolist()) == list(range(d))
    np.testing.assert_array_equal(data.env_latent_weights[0], W)
    for k in range(1, d + 1):
        Wk = data.env_latent_weights[k]
        others = np.delete(np.arange(d), t[k])
        np.testing.assert_array_equal(
            Wk[:, others], W[:, others]
        )  # only the target's mechanism changes
        if intervention == "hard":
            assert not Wk[:, t[k]].any()
        else:
            np.testing.assert_array_equal(Wk[:, t[k]] != 0, W[:, t[k]] != 0)
        assert 2.0 <= data.source_scales[k, t[k]] <= 3.0
        np.testing.assert_array_equal(
            np.delete(data.source_scales[k], t[k]), np.delete(data.source_scales[0], t[k])
        )
        Xk = data.X[data.env == k]
        rel = np.abs(np.cov(Xk.T) - data.covariances[k]).max() / np.abs(data.covariances[k]).max()
        assert rel < 0.05
    np.testing.assert_allclose(data.X, data.Z @ data.mixing.matrix.T)
    np.testing.assert_allclose(
        data.covariances,
        np.einsum(
            "ai,kij,bj->kab", data.mixing.matrix, data.latent_covariances, data.mixing.matrix
        ),
    )


def test_linear_interventional_population_and_noise():
    pop = make_linear_interventional(3, 5, population=True, random_state=4)
    assert pop.X is None and pop.Z is None and pop.env is None
    full = make_linear_interventional(3, 5, 1000, random_state=4)
    np.testing.assert_array_equal(pop.covariances, full.covariances)  # same ground truth either way
    noisy = make_linear_interventional(3, 5, 100, noise_std=0.5, population=True, random_state=4)
    np.testing.assert_allclose(
        noisy.covariances - pop.covariances, np.broadcast_to(0.25 * np.eye(5), (4, 5, 5))
    )
    assert pop.latent_adjacency.dtype == np.int8


def test_linear_interventional_edge_prob_extremes():
    assert not make_linear_interventional(
        4, 4, 10, edge_prob=0.0, random_state=0
    ).latent_weights.any()
    W = make_linear_interventional(5, 5, 10, edge_prob=1.0, random_state=0).latent_weights
    assert (W != 0).sum() == 10 and _is_dag(W)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n_latents=5, n_observed=4), ValueError, "n_observed must be >= n_latents"),
        (dict(n_per_env=0), ValueError, "n_per_env must be >= 1"),
        (dict(intervention="do"), ValueError, "unknown intervention"),
        (dict(edge_prob=1.5), ValueError, "edge_prob must be <= 1"),
        (dict(weight_range=(-1.0, 1.0)), ValueError, "non-negative magnitudes"),
        (dict(noise_std=-1.0), ValueError, "noise_std must be >= 0"),
        (dict(random_state=-3), ValueError, "random_state"),
    ],
)
def test_linear_interventional_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_linear_interventional(**{"n_per_env": 10, **kwargs})
