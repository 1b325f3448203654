"""GPU NOTEARS and DAGMA (CuPy input: fastcrl._gpu_continuous with the CUDA acyclicity kernels)
against the C++ estimators.  Skipped without a device (see conftest.py).

The GPU and CPU kernels agree to round-off, so short runs give the same iterates to about 1e-6
(Adam) and full runs the same graph.
"""

from __future__ import annotations

import fastcrl
import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::fastcrl.ConvergenceWarning")


def _sem(rng, d=8, n=400):
    B = rng.uniform(0.5, 1.5, (d, d)) * rng.choice([-1.0, 1.0], (d, d)) * (rng.random((d, d)) < 0.4)
    B = np.triu(B, 1)
    perm = rng.permutation(d)
    B = B[np.ix_(perm, perm)]
    return rng.standard_normal((n, d)) @ np.linalg.inv(np.eye(d) - B), B


def _both(cp, est, X):
    cpu = type(est)(**est.get_params()).fit(X)
    gpu = type(est)(**est.get_params()).fit(cp.asarray(X))
    return cpu, gpu


def test_dagma_adam_matches_cpu(cp, rng):
    X, _ = _sem(rng)
    cpu, gpu = _both(
        cp, fastcrl.DAGMA(solver="adam", warm_iter=1500, max_iter=2000, checkpoint=500), X
    )
    for name in ("W_raw_", "weights_", "adjacency_"):
        assert isinstance(getattr(gpu, name), cp.ndarray), name
    np.testing.assert_allclose(gpu.W_raw_.get(), cpu.W_raw_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(gpu.adjacency_.get(), cpu.adjacency_)
    assert gpu.h_ == pytest.approx(cpu.h_, rel=1e-5, abs=1e-10)
    assert [e["inner_iterations"] for e in gpu.history_] == [
        e["inner_iterations"] for e in cpu.history_
    ]


def test_dagma_lbfgs_matches_cpu(cp, rng):
    X, _ = _sem(rng)
    cpu, gpu = _both(cp, fastcrl.DAGMA(solver="lbfgs", T=2), X)
    # Same minimiser, different paths: the C++ solver is diagonally preconditioned, the driver not.
    np.testing.assert_allclose(gpu.W_raw_.get(), cpu.W_raw_, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(gpu.adjacency_.get(), cpu.adjacency_)


@pytest.mark.parametrize("constraint", ["expm", "logdet", "poly"])
def test_notears_matches_cpu(cp, rng, constraint):
    X, _ = _sem(rng)
    cpu, gpu = _both(cp, fastcrl.NOTEARS(constraint=constraint, max_iter=3), X)
    np.testing.assert_allclose(gpu.W_raw_.get(), cpu.W_raw_, rtol=0, atol=1e-5)
    assert [e["rho"] for e in gpu.history_] == [e["rho"] for e in cpu.history_]


def test_full_fit_recovers_the_cpu_graph(cp, rng):
    X, B = _sem(rng, d=10, n=1000)
    # DAGMA's caps kept small: the GPU's Python-driven Adam steps cost ~0.3 ms at this size.
    for est in (fastcrl.NOTEARS(), fastcrl.DAGMA(solver="adam", warm_iter=5000, max_iter=8000)):
        cpu, gpu = _both(cp, est, X)
        np.testing.assert_array_equal(gpu.adjacency_.get(), cpu.adjacency_)
        assert int(gpu.adjacency_.sum()) > 0


def test_float32_input_runs_in_float64(cp, rng):
    X, _ = _sem(rng)
    gpu = fastcrl.DAGMA(solver="adam", warm_iter=300, max_iter=300, checkpoint=100).fit(
        cp.asarray(X, dtype=cp.float32)
    )
    assert gpu.W_raw_.dtype == cp.float64


def test_bad_device_input(cp):
    with pytest.raises(ValueError, match="NaN or inf"):
        fastcrl.DAGMA().fit(cp.asarray([[0.0, 1.0], [np.nan, 2.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="constant"):
        fastcrl.NOTEARS().fit(cp.ones((10, 3)))
