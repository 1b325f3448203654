"""The array-module driver of GPU NOTEARS/DAGMA (fastcrl._gpu_continuous), run here with NumPy and
the CPU kernels, against the C++ estimators it mirrors.  On a GPU the same code runs with CuPy
(tests/gpu/test_gpu_continuous.py); this file exercises its logic on every machine.

Adam is deterministic arithmetic on identical inputs, so the driver reproduces the C++ iterates to
round-off.  L-BFGS-B runs are compared over their first outer iterations (summation-order
differences in the objective, ~1e-16, are amplified by later ill-conditioned solves), and full runs
must give the same graph.
"""

from __future__ import annotations

import fastcrl
import numpy as np
import pytest
from fastcrl import _gpu_continuous as driver

# Small iteration caps on purpose: both sides stop at the same unconverged point.
pytestmark = pytest.mark.filterwarnings("ignore::fastcrl.ConvergenceWarning")


def _sem(rng, d=6, n=300):
    B = rng.uniform(0.5, 1.5, (d, d)) * rng.choice([-1.0, 1.0], (d, d)) * (rng.random((d, d)) < 0.5)
    B = np.triu(B, 1)
    return rng.standard_normal((n, d)) @ np.linalg.inv(np.eye(d) - B)


def _fit_both(est, X, loss="l2"):
    cpp = est.fit(X)
    W_cpp, hist_cpp = cpp.W_raw_.copy(), list(cpp.history_)
    h_cpp, loss_cpp, adj_cpp = cpp.h_, cpp.loss_, cpp.adjacency_.copy()
    drv = type(est)(**est.get_params())
    n_outer = drv.T if drv._method == "dagma" else drv.max_iter
    key = "mu" if drv._method == "dagma" else "rho"
    assert driver.fit_with_driver(drv, X, None, loss, drv.w_threshold, n_outer, key, np) is True
    return (W_cpp, hist_cpp, h_cpp, loss_cpp, adj_cpp), drv


def _strip_time(history):
    return [{k: v for k, v in e.items() if k != "time"} for e in history]


@pytest.mark.parametrize("seed", [0, 1])
def test_dagma_adam_matches_cpp(seed):
    X = _sem(np.random.default_rng(seed))
    est = fastcrl.DAGMA(solver="adam", warm_iter=2000, max_iter=3000, checkpoint=500)
    (W, hist, h, loss, adj), drv = _fit_both(est, X)
    np.testing.assert_allclose(drv.W_raw_, W, rtol=0, atol=1e-10)
    assert abs(drv.h_ - h) <= 1e-10 and abs(drv.loss_ - loss) <= 1e-10
    np.testing.assert_array_equal(drv.adjacency_, adj)
    a, b = _strip_time(drv.history_), _strip_time(hist)
    assert [e.keys() for e in a] == [e.keys() for e in b]
    assert [e["inner_iterations"] for e in a] == [e["inner_iterations"] for e in b]
    assert [e["s"] for e in a] == [e["s"] for e in b]


@pytest.mark.filterwarnings("ignore:DAGMA. the thresholded graph had cycles:UserWarning")
def test_dagma_adam_domain_retries_match_cpp(rng):
    # A large learning rate leaves the log-det domain: backtracking and the s + 0.1 restart.
    X = _sem(rng, d=5) * 3.0
    est = fastcrl.DAGMA(
        solver="adam", lr=1.0, T=2, warm_iter=300, max_iter=400, checkpoint=100, s=(0.5, 0.3)
    )
    (W, hist, _, _, _), drv = _fit_both(est, X)
    assert all(e["retries"] > 0 for e in hist) and all(e["lr"] < 1.0 for e in hist)
    np.testing.assert_allclose(drv.W_raw_, W, rtol=0, atol=1e-9)
    assert [e["retries"] for e in drv.history_] == [e["retries"] for e in hist]
    assert [e["s"] for e in drv.history_] == [e["s"] for e in hist]
    assert [e["lr"] for e in drv.history_] == pytest.approx([e["lr"] for e in hist], rel=1e-12)


def test_dagma_adam_with_knowledge_matches_cpp(rng):
    X = _sem(rng)
    names = [f"X{i}" for i in range(6)]
    know = fastcrl.Knowledge().forbid("X0", "X1").require("X2", "X3")
    est = fastcrl.DAGMA(
        solver="adam", warm_iter=1000, max_iter=1500, checkpoint=500, knowledge=know
    )
    (W, _, _, _, adj), drv = _fit_both(est, X)
    np.testing.assert_allclose(drv.W_raw_, W, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(drv.adjacency_, adj)
    assert drv.W_raw_[0, 1] == 0.0 and drv.adjacency_[2, 3] == 1
    assert drv.node_names_ == names


def test_dagma_logistic_matches_cpp(rng):
    X = (_sem(rng, d=4, n=400) > 0).astype(float)
    est = fastcrl.DAGMA(solver="adam", loss="logistic", warm_iter=500, max_iter=800, checkpoint=200)
    (W, _, h, _, _), drv = _fit_both(est, X, loss="logistic")
    # The C++ gradient scales inside gemm (alpha = 1/n): agreement to round-off, not bitwise.
    np.testing.assert_allclose(drv.W_raw_, W, rtol=0, atol=1e-7)
    assert drv.h_ == pytest.approx(h, rel=1e-6, abs=1e-12)


def test_dagma_lbfgs_reaches_the_cpp_solution(rng):
    # The C++ DAGMA L-BFGS now preconditions with the Hessian's diagonal, which
    # _core.lbfgsb_minimize does not expose to Python; the driver runs the plain solver, so the two
    # take different paths to the same minimiser of each central-path problem: compare solutions.
    X = _sem(rng)
    (W, _, h, loss, adj), drv = _fit_both(fastcrl.DAGMA(solver="lbfgs", T=2), X)
    np.testing.assert_allclose(drv.W_raw_, W, rtol=0, atol=1e-3)
    assert drv.loss_ == pytest.approx(loss, rel=1e-5)
    np.testing.assert_array_equal(drv.adjacency_, adj)


@pytest.mark.parametrize("constraint", ["expm", "logdet", "poly"])
def test_notears_matches_cpp_first_iterations(rng, constraint):
    X = _sem(rng)
    est = fastcrl.NOTEARS(constraint=constraint, max_iter=3)
    (W, hist, h, loss, _), drv = _fit_both(est, X)
    np.testing.assert_allclose(drv.W_raw_, W, rtol=0, atol=1e-8)
    assert drv.h_ == pytest.approx(h, rel=1e-6, abs=1e-14)
    assert [e["rho"] for e in drv.history_] == [e["rho"] for e in hist]
    assert [e["n_solves"] for e in drv.history_] == [e["n_solves"] for e in hist]


def test_full_runs_give_the_cpp_graph(rng):
    X = _sem(rng)
    for est in (fastcrl.NOTEARS(), fastcrl.DAGMA(solver="lbfgs")):
        (W, _, _, _, adj), drv = _fit_both(est, X)
        np.testing.assert_array_equal(drv.adjacency_, adj)
        np.testing.assert_allclose(drv.W_raw_, W, rtol=0, atol=0.05)
        assert drv.converged_


def test_single_column(rng):
    est = fastcrl.DAGMA()
    X = rng.standard_normal((20, 1))
    assert driver.fit_with_driver(est, X, None, "l2", 0.3, 5, "mu", np) is False
    assert est.adjacency_.shape == (1, 1) and est.n_iter_ == 0
    assert est.loss_ == pytest.approx(0.5 * np.var(X))


class _FakeDeviceArray:
    """Claims to live on a GPU; enough for the dispatch to route it to the CUDA path."""

    __cuda_array_interface__ = {"shape": (3, 3), "typestr": "<f8", "data": (0, False), "version": 3}
    shape = (3, 3)


@pytest.mark.skipif(fastcrl.cuda_available(), reason="checks the message of a machine without CUDA")
def test_device_input_without_cuda_says_how_to_fix():
    from fastcrl import acyclicity

    for call in (
        lambda: fastcrl.DAGMA().fit(_FakeDeviceArray()),
        lambda: fastcrl.NOTEARS().fit(_FakeDeviceArray()),
        lambda: acyclicity.expm_constraint(_FakeDeviceArray()),
        lambda: acyclicity.logdet_constraint(_FakeDeviceArray()),
        lambda: acyclicity.poly_constraint(_FakeDeviceArray()),
        lambda: acyclicity.spectral_radius(_FakeDeviceArray()),
    ):
        with pytest.raises((RuntimeError, TypeError), match="GPU array|CUDA|cupy"):
            call()
