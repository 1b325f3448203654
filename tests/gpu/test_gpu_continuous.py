"""GPU NOTEARS and DAGMA (CuPy input: fastcrl._gpu_continuous with the CUDA acyclicity kernels)
against the C++ estimators.  Skipped without a device (see conftest.py).

The GPU and CPU kernels agree to round-off, so short runs give the same iterates to about 1e-6
(Adam) and full runs the same graph.
"""

from __future__ import annotations

import math

import fastcrl
import numpy as np
import pytest
from fastcrl import _gpu_continuous as driver

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


def test_dagma_adam_logistic_matches_cpu(cp, rng):
    X, _ = _sem(rng)
    Xb = (X > np.median(X, axis=0)).astype(float)
    est = fastcrl.DAGMA(
        loss="logistic", solver="adam", warm_iter=300, max_iter=400, checkpoint=100
    )
    cpu, gpu = _both(cp, est, Xb)
    np.testing.assert_allclose(gpu.W_raw_.get(), cpu.W_raw_, rtol=0, atol=1e-6)


@pytest.mark.parametrize("l2", [True, False])
def test_fused_adam_step_is_the_numpy_step(cp, rng, l2):
    d = 37
    a = {k: rng.normal(size=(d, d)) for k in ("S", "W", "GL", "Gh", "m", "step")}
    a["v"] = rng.random((d, d))
    a["W"][0, :3] = 0.0  # sign(0) = 0
    pen, free_f = rng.random((d, d)), (rng.random((d, d)) < 0.8).astype(float)
    mu, lam, b1, b2, b1t, b2t, lr = 0.1, 0.02, 0.99, 0.999, 0.99**3, 0.999**3, 3e-4
    GL = -(a["S"] - a["S"] @ a["W"]) if l2 else a["GL"]
    G = (mu * (GL + lam * pen * np.sign(a["W"])) + a["Gh"]) * free_f
    m = b1 * a["m"] + (1.0 - b1) * G
    v = b2 * a["v"] + (1.0 - b2) * G * G
    step = (m / (1.0 - b1t)) / (np.sqrt(v / (1.0 - b2t)) + 1e-8)
    W = a["W"] - lr * step
    dev = {k: cp.asarray(x) for k, x in a.items()}
    loss_in = (dev["S"] @ dev["W"], dev["S"]) if l2 else (dev["GL"], dev["W"])
    driver._adam_step_kernel(l2)(
        *loss_in, dev["Gh"], cp.asarray(pen), cp.asarray(free_f), mu, lam, b1, b2, b1t, b2t, lr,
        dev["m"], dev["v"], dev["step"], dev["W"],
    )
    for name, want in (("m", m), ("v", v), ("step", step), ("W", W)):
        np.testing.assert_allclose(dev[name].get(), want, rtol=1e-12, atol=1e-15, err_msg=name)


def test_dagma_lbfgs_matches_cpu(cp, rng):
    X, _ = _sem(rng)
    cpu, gpu = _both(cp, fastcrl.DAGMA(solver="lbfgs", T=2), X)
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


def _problem(xp, d=3, logistic=False, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.random((50, d)) < 0.5).astype(float) if logistic else rng.standard_normal((50, d))
    S = None if logistic else xp.asarray(np.cov(X.T))
    Xb = xp.asarray(X) if logistic else None
    return driver.Problem(xp, S, Xb, xp.ones((d, d), dtype=bool), xp.ones((d, d)))


@pytest.mark.parametrize("logistic", [False, True])
def test_loss_grad_is_the_gradient_of_loss(cp, logistic):
    prob = _problem(cp, logistic=logistic)
    W = cp.asarray(np.random.default_rng(1).normal(size=(3, 3)))
    prob.loss(W)
    GL = prob.GL
    prob.loss_grad(W)  # what Adam calls: the same arithmetic, no host read
    cp.testing.assert_array_equal(prob.GL, GL)


def test_driver_overflow_as_the_cpu_loops(cp):
    # The driver's kernels skip validation: a non-finite trial point is an overflow, which NOTEARS
    # rejects (+inf) and DAGMA raises, as the C++ loops do with the CPU kernels.
    gpu, cpu = _problem(cp), _problem(np)
    nan = np.full((3, 3), np.nan)
    for kind in ("expm", "poly", "logdet"):
        assert gpu.constraint_or_inf(kind, cp.asarray(nan)) == math.inf
    huge = np.full((3, 3), 1e200)
    for prob, xp in ((gpu, cp), (cpu, np)):
        with pytest.raises(fastcrl.NumericalError, match="W∘W overflows"):
            prob.logdet(xp.asarray(huge), 1.0)
        assert prob.constraint_or_inf("logdet", xp.asarray(huge)) == math.inf
        assert prob.logdet(xp.full((3, 3), 0.9), 1.0) == math.inf  # outside the domain


def test_device_lbfgsb_matches_the_cpp_solver(cp, rng):
    from fastcrl import _core
    from fastcrl._lbfgsb_xp import minimize

    n = 60
    A = rng.normal(size=(n, n))
    H = A @ A.T / n + 0.1 * np.eye(n)
    b = rng.normal(size=n)
    lo = np.where(rng.random(n) < 0.5, 0.0, -np.inf)
    hi = np.where(rng.random(n) < 0.3, 0.5, np.inf)
    Hd, bd = cp.asarray(H), cp.asarray(b)

    def host(x):
        return 0.5 * float(x @ H @ x) - float(b @ x), H @ x - b

    def device(x):
        g = Hd @ x - bd
        return float(0.5 * (x @ g - bd @ x)), g

    x0 = rng.normal(size=n)
    cfg = (10, 500, 1000, 1e-14, 1e-10, 40)
    cpp = _core.lbfgsb_minimize(host, x0.copy(), lo, hi, *cfg, None, 10, 1)
    gpu = minimize(
        device, cp.asarray(x0), cp.asarray(lo), cp.asarray(hi), xp=cp,
        max_iter=500, max_fun=1000, ftol=1e-14, pgtol=1e-10,
    )
    assert isinstance(gpu[0], cp.ndarray)
    np.testing.assert_allclose(gpu[0].get(), cpp[0], rtol=0, atol=1e-9)
    assert gpu[4] == cpp[4]


def test_sortnregress_on_device_data_matches_cpu(cp):
    data = fastcrl.simulate.simulate_dataset(12, 800, random_state=5)
    cpu = fastcrl.SortNRegress().fit(data.X)
    gpu = fastcrl.SortNRegress().fit(cp.asarray(data.X))
    np.testing.assert_array_equal(gpu.adjacency_, cpu.adjacency_)
    np.testing.assert_allclose(gpu.weights_, cpu.weights_, atol=1e-9)
