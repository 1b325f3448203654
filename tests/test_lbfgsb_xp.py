"""fastcrl._lbfgsb_xp (the projected L-BFGS the GPU fits run on the device) against the C++ solver
``fastcrl._core.lbfgsb_minimize``, on NumPy: same method, so the same solutions and, run inside the
NOTEARS/DAGMA drivers, the same graphs as the C++ estimators."""

from __future__ import annotations

import math

import fastcrl
import numpy as np
import pytest
from fastcrl import NumericalError, _core
from fastcrl import _gpu_continuous as driver
from fastcrl._lbfgsb_xp import minimize

pytestmark = pytest.mark.filterwarnings("ignore::fastcrl.ConvergenceWarning")


def _quadratic(rng, n=40):
    A = rng.normal(size=(n, n))
    H = A @ A.T / n + 0.1 * np.eye(n)
    b = rng.normal(size=n)

    def fun(x):
        return 0.5 * float(x @ H @ x) - float(b @ x), H @ x - b

    return fun, H, b


def _both(fun, x0, lo, hi, **kw):
    cfg = dict(memory=10, max_iter=500, max_fun=1000, ftol=1e-14, pgtol=1e-10, max_ls=40)
    cfg.update(kw)
    diagonal = cfg.pop("diagonal", None)
    every = cfg.pop("precondition_every", 10)
    cpp = _core.lbfgsb_minimize(fun, x0.copy(), lo, hi, *cfg.values(), diagonal, every, 1)
    ours = minimize(
        fun, x0.copy(), lo, hi, xp=np, diagonal=diagonal, precondition_every=every, **cfg
    )
    return cpp, ours


@pytest.mark.parametrize("seed", range(4))
def test_bound_constrained_quadratic_same_solution(seed):
    rng = np.random.default_rng(seed)
    fun, H, b = _quadratic(rng)
    n = b.size
    lo = np.where(rng.random(n) < 0.5, 0.0, -np.inf)
    hi = np.where(rng.random(n) < 0.3, 0.5, np.inf)
    fixed = rng.random(n) < 0.1
    lo[fixed] = hi[fixed] = 0.0
    x0 = rng.normal(size=n)
    cpp, ours = _both(fun, x0, lo, hi)
    # Both stop on ftol = 1e-14 (relative change of f): the iterates then agree to about
    # sqrt(ftol) (5e-8 was seen when the two sides' BLAS kernels round differently, e.g. NumPy's
    # OpenBLAS on AVX2 kernels and fastcrl's on AVX-512 ones), the objective to ~1e-14.
    np.testing.assert_allclose(ours[0], cpp[0], rtol=0, atol=1e-6)
    assert ours[1] == pytest.approx(cpp[1], rel=1e-12, abs=1e-12)
    assert ours[4] == cpp[4]  # the same stopping rule fired
    assert ((ours[0] >= lo) & (ours[0] <= hi)).all()
    assert (ours[0][fixed] == 0.0).all()
    assert abs(ours[2] - cpp[2]) <= 3  # iteration counts agree up to rounding-level decisions


def test_preconditioned_and_domain_limited():
    # f = sum(c_i x_i^2) - sum(log(1 - x_i)) on x < 1 (inf outside), badly scaled; x >= 0
    rng = np.random.default_rng(5)
    c = 10.0 ** rng.uniform(-3, 3, 30)
    target = rng.normal(size=30)

    def fun(x):
        if (x >= 1.0).any():
            return math.inf, np.zeros_like(x)
        r = x - target
        return float((c * r * r).sum() - np.log1p(-x).sum()), 2 * c * r + 1.0 / (1.0 - x)

    def diagonal(x):
        return 2 * c + 1.0 / (1.0 - np.minimum(x, 0.999)) ** 2

    lo, hi = np.zeros(30), np.full(30, np.inf)
    cpp, ours = _both(fun, np.full(30, 0.5), lo, hi, diagonal=diagonal, precondition_every=3)
    np.testing.assert_allclose(ours[0], cpp[0], rtol=0, atol=1e-8)
    assert (ours[0] < 1.0).all()


def test_errors():
    fun, _, b = _quadratic(np.random.default_rng(0), n=3)
    lo, hi = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="lower bound"):
        minimize(fun, np.zeros(3), hi, lo - 1, xp=np)
    with pytest.raises(ValueError, match="memory"):
        minimize(fun, np.zeros(3), lo, hi, xp=np, memory=0)
    with pytest.raises(NumericalError, match="not finite"):
        minimize(lambda x: (math.inf, x), np.zeros(3), lo, hi, xp=np)

    def bad_diagonal(x):
        return -np.ones_like(x)

    with pytest.raises(NumericalError, match="diagonal"):
        minimize(fun, np.zeros(3), lo, hi, xp=np, diagonal=bad_diagonal)


def _sem(seed, d=8, n=400):
    rng = np.random.default_rng(seed)
    B = rng.uniform(0.5, 1.5, (d, d)) * rng.choice([-1.0, 1.0], (d, d)) * (rng.random((d, d)) < 0.4)
    B = np.triu(B, 1)
    perm = rng.permutation(d)
    B = B[np.ix_(perm, perm)]
    return rng.standard_normal((n, d)) @ np.linalg.inv(np.eye(d) - B)


@pytest.mark.parametrize(
    "make",
    [
        lambda: fastcrl.DAGMA(T=2),
        lambda: fastcrl.NOTEARS(max_iter=3),
        lambda: fastcrl.NOTEARS(constraint="logdet", max_iter=3),
    ],
    ids=["dagma", "notears-expm", "notears-logdet"],
)
def test_drivers_with_the_array_solver_match_the_cpp_estimators(monkeypatch, make):
    X = _sem(1)
    cpp = make().fit(X)
    monkeypatch.setattr(driver, "_ARRAY_SOLVER_ON_HOST", True)
    est = make()
    assert driver.fit_with_driver(est, X, None, "l2", est.w_threshold, 1, "x", np)
    np.testing.assert_allclose(est.W_raw_, cpp.W_raw_, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(est.adjacency_, cpp.adjacency_)
