"""Tests for fastcrl.reference.continuous: the NOTEARS and DAGMA pure-Python baselines.

Data are simulated here (linear-Gaussian SEMs on random DAGs, fixed seeds), so the recorded
structural Hamming distances do not move when ``fastcrl.simulate`` changes.  Outside this suite
(the published code is not a dependency) both baselines were run against the published code on
these problems: ``notears_linear`` against ``notears/linear.py`` (l2 at d = 5, 6, 8, 10 and
logistic) and ``dagma_linear`` against the ``dagma`` 1.1.1 package (l2, logistic, and the
retry / backtracking configurations below) gave identical ``W`` to the last bit (NumPy 2.4,
SciPy 1.17, same process).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.linalg
from fastcrl.reference.continuous import (
    ContinuousResult,
    dagma_linear,
    dagma_objective,
    notears_linear,
    notears_objective,
)

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # optional: only makes the run time steadier
    threadpool_limits = None


@pytest.fixture(autouse=True, scope="module")
def _single_threaded_blas():
    """These are d <= 6 problems: threaded BLAS only busy-waits (scipy's expm of a 3x3 matrix took
    9 ms instead of 60 us on the loaded 2-core CI box), so run them on one BLAS thread."""
    if threadpool_limits is None:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def random_dag_weights(d: int, rng: np.random.Generator, edges_per_node: int = 2) -> np.ndarray:
    """ER-k DAG: ``min(k d, d (d-1) / 2)`` edges uniform among the pairs of a random order,
    weights ``±U(0.5, 2)`` (the NOTEARS/DAGMA benchmark setting)."""
    iu, ju = np.triu_indices(d, 1)
    m = min(edges_per_node * d, iu.size)
    pick = rng.choice(iu.size, size=m, replace=False)
    perm = rng.permutation(d)
    B = np.zeros((d, d))
    B[perm[iu[pick]], perm[ju[pick]]] = 1.0
    return B * rng.uniform(0.5, 2.0, (d, d)) * rng.choice([-1.0, 1.0], (d, d))


def simulate_gaussian(d: int, seed: int, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """``X = X W + E``, ``E ~ N(0, I)``; returns (W_true, X)."""
    rng = np.random.default_rng(seed)
    W = random_dag_weights(d, rng)
    X = rng.standard_normal((n, d)) @ np.linalg.inv(np.eye(d) - W)
    return W, X


def simulate_logistic(d: int, seed: int, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Binary SEM ``X_j ~ Bernoulli(sigmoid(X @ W[:, j]))`` in a topological order."""
    rng = np.random.default_rng(seed)
    W = random_dag_weights(d, rng, edges_per_node=1)
    X = np.zeros((n, d))
    indeg = (W != 0).sum(axis=0)
    done = np.zeros(d, dtype=bool)
    while not done.all():
        j = np.flatnonzero(~done & (indeg == 0))[0]
        X[:, j] = rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ W[:, j])))
        done[j] = True
        indeg = indeg - (W[j] != 0)
    return W, X


def shd(true: np.ndarray, est: np.ndarray) -> int:
    """Structural Hamming distance of two DAGs: a reversed edge counts once."""
    T, E = np.asarray(true) != 0, np.asarray(est) != 0
    iu, ju = np.triu_indices(T.shape[0], 1)
    state_t = T[iu, ju].astype(int) + 2 * T[ju, iu]
    state_e = E[iu, ju].astype(int) + 2 * E[ju, iu]
    return int(np.sum(state_t != state_e))


def h_expm(W: np.ndarray) -> float:
    return float(np.trace(scipy.linalg.expm(W * W)) - W.shape[0])


def finite_difference(f, W: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    G = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[idx] = eps
        G[idx] = (f(W + E) - f(W - E)) / (2 * eps)
    return G


# ER-2 at d = 5 is the complete DAG (10 = 5 * 4 / 2 edges), a degenerate case; d = 6 has 12 of
# 15 possible edges.  Recorded SHDs (seeds 0, 1, 2): NOTEARS 1, 3, 1; DAGMA 0, 0, 0.
D, SEEDS = 6, (0, 1, 2)


@functools.cache
def fitted(method: str, seed: int) -> tuple[np.ndarray, np.ndarray, ContinuousResult]:
    W_true, X = simulate_gaussian(D, seed)
    fit = notears_linear if method == "notears" else dagma_linear
    return W_true, X, fit(X)


# correlated 3-variable data on which large Adam steps leave DAGMA's domain
def correlated3() -> np.ndarray:
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(300)
    return np.c_[x0, x0 + 0.3 * rng.standard_normal(300), rng.standard_normal(300)]


# ----------------------------------------------------------------------------------------------
# recovery on linear-Gaussian ER-2 data
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_notears_recovers_er2(seed):
    W_true, X, res = fitted("notears", seed)
    assert res.is_dag
    assert res.converged and res.h <= 1e-8
    assert h_expm(res.W_raw) < 1e-6  # recomputed independently from the raw weights
    assert np.all(np.diag(res.W_raw) == 0.0)  # self-loops are bounded to 0
    assert shd(W_true, res.W) <= 4  # recorded 1, 3, 1
    assert res.n_iter == len(res.history) and res.n_iter <= 100


def test_notears_recovery_over_seeds():
    total = sum(shd(fitted("notears", s)[0], fitted("notears", s)[2].W) for s in SEEDS)
    assert total <= 7  # recorded 5


@pytest.mark.parametrize("seed", SEEDS)
def test_dagma_recovers_er2(seed):
    W_true, X, res = fitted("dagma", seed)
    assert res.is_dag
    assert res.h < 1e-6  # recorded ~1e-8
    assert h_expm(res.W_raw) < 1e-6
    assert shd(W_true, res.W) <= 2  # recorded 0, 0, 0
    assert res.n_iter == 5 and res.converged


def test_result_fields_consistent():
    _, X, res = fitted("notears", 0)
    assert res.W.shape == res.W_raw.shape == res.adjacency.shape == (D, D)
    assert res.adjacency.dtype == np.int8
    np.testing.assert_array_equal(res.adjacency, (res.W != 0).astype(np.int8))
    kept = np.abs(res.W_raw) >= 0.3
    np.testing.assert_array_equal(res.W[kept], res.W_raw[kept])
    assert np.all(res.W[~kept] == 0)
    assert res.method == "notears" and res.params["lambda1"] == 0.1


# ----------------------------------------------------------------------------------------------
# optimisation properties recorded in the history
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_notears_history(seed):
    _, _, res = fitted("notears", seed)
    hs = [e["h"] for e in res.history]
    rhos = [e["rho"] for e in res.history]
    alphas = [e["alpha"] for e in res.history]
    # the published acceptance rule: each accepted step cuts h by at least 4 (rho_max not hit)
    assert all(b <= 0.25 * a for a, b in zip(hs, hs[1:], strict=False))
    assert rhos == sorted(rhos) and alphas == sorted(alphas)
    for e in res.history:
        # L-BFGS-B never increases the augmented Lagrangian from its warm start
        assert e["augmented_lagrangian"] <= e["augmented_lagrangian_start"] + 1e-12
        assert e["inner_iterations"] >= 1 and e["n_solves"] >= 1
    assert res.history[-1]["h"] == res.h
    assert res.history[-1]["objective"] == pytest.approx(res.objective, rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_dagma_history(seed):
    _, _, res = fitted("dagma", seed)
    hist = res.history
    np.testing.assert_allclose([e["mu"] for e in hist], [1.0, 0.1, 0.01, 0.001, 1e-4])
    assert [e["s"] for e in hist] == [1.0, 0.9, 0.8, 0.7, 0.6]
    for e in hist:
        # Adam from the previous solution decreases the central-path objective
        assert e["objective"] < e["objective_start"]
        cap = 30000 if e["iteration"] < 5 else 60000
        assert e["inner_iterations"] <= cap and e["retries"] == 0 and e["lr"] == 3e-4
    hs = [e["h"] for e in hist]
    objs = [e["objective"] for e in hist]
    assert hs == sorted(hs, reverse=True)  # h falls along the central path
    assert objs == sorted(objs, reverse=True)


# ----------------------------------------------------------------------------------------------
# objective functions: values, gradients, agreement with the solvers
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def small_problem(rng):
    d = 4
    W = rng.normal(0.0, 0.2, (d, d))
    W[np.abs(W) < 0.02] = 0.05  # keep away from the kink of |W|
    Xg = rng.standard_normal((60, d)) + 3.0  # uncentred on purpose
    Xb = (rng.random((60, d)) < 0.4).astype(float)
    Xb[0], Xb[1] = 0.0, 1.0  # no constant column
    return W, Xg, Xb


@pytest.mark.parametrize("constraint", ["expm", "poly", "logdet"])
@pytest.mark.parametrize("loss", ["l2", "logistic"])
def test_notears_objective_gradient(small_problem, loss, constraint):
    W, Xg, Xb = small_problem
    X = Xg if loss == "l2" else Xb
    kw = dict(lambda1=0.1, loss=loss, constraint=constraint, rho=3.0, alpha=0.7)
    value, grad = notears_objective(W, X, **kw)
    fd = finite_difference(lambda V: notears_objective(V, X, **kw)[0], W)
    assert np.isfinite(value)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("loss", ["l2", "logistic"])
def test_dagma_objective_gradient(small_problem, loss):
    W, Xg, Xb = small_problem
    X = Xg if loss == "l2" else Xb
    kw = dict(lambda1=0.05, loss=loss, mu=0.3, s=0.9)
    value, grad = dagma_objective(W, X, **kw)
    fd = finite_difference(lambda V: dagma_objective(V, X, **kw)[0], W)
    assert np.isfinite(value)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


def test_objective_values_by_hand(small_problem):
    W, X, _ = small_problem
    Xc = X - X.mean(axis=0)
    n, d = X.shape
    l2 = 0.5 / n * np.sum((Xc - Xc @ W) ** 2)
    l1 = np.abs(W).sum()
    assert notears_objective(W, X, lambda1=0.0)[0] == pytest.approx(l2, rel=1e-12)
    h = h_expm(W)
    expected = l2 + 0.1 * l1 + 0.5 * 2.0 * h**2 + 0.5 * h
    got = notears_objective(W, X, lambda1=0.1, rho=2.0, alpha=0.5)[0]
    assert got == pytest.approx(expected, rel=1e-12)
    s = 0.9
    h_s = -np.linalg.slogdet(s * np.eye(d) - W * W)[1] + d * np.log(s)
    got = dagma_objective(W, X, lambda1=0.1, mu=0.2, s=s)[0]
    assert got == pytest.approx(0.2 * (l2 + 0.1 * l1) + h_s, rel=1e-12)
    # the l2 loss ignores column means (the solvers centre X)
    assert notears_objective(W, X + 5.0)[0] == pytest.approx(notears_objective(W, X)[0])


@pytest.mark.parametrize("loss", ["l2", "logistic"])
def test_notears_and_dagma_objectives_agree(small_problem, loss):
    """Same loss in both (X W form vs covariance form): NOTEARS with the log-det constraint and
    multiplier 1 is DAGMA's objective at mu = s = 1."""
    W, Xg, Xb = small_problem
    X = Xg if loss == "l2" else Xb
    a = notears_objective(W, X, 0.05, loss, constraint="logdet", alpha=1.0)
    b = dagma_objective(W, X, 0.05, loss, mu=1.0, s=1.0)
    assert a[0] == pytest.approx(b[0], rel=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-10, atol=1e-12)


def test_result_objective_matches_objective_functions():
    _, X, res = fitted("notears", 1)
    value, grad = notears_objective(res.W_raw, X, 0.1, "l2")
    assert value == pytest.approx(res.objective, rel=1e-12)
    _, X, res = fitted("dagma", 1)
    last = res.history[-1]
    value, _ = dagma_objective(res.W_raw, X, 0.02, "l2", mu=last["mu"], s=last["s"])
    assert value == pytest.approx(last["objective"], rel=1e-10)
    value, _ = dagma_objective(res.W_raw, X, 0.02, "l2")  # mu = s = 1
    assert value == pytest.approx(res.objective + res.h, rel=1e-10)


# ----------------------------------------------------------------------------------------------
# other constraints, logistic loss, DAGMA's domain safeguards
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("constraint", ["poly", "logdet"])
def test_notears_other_constraints(constraint):
    W_true, X = simulate_gaussian(5, 1)
    res = notears_linear(X, constraint=constraint)
    assert res.converged and res.h <= 1e-8 and res.is_dag
    assert h_expm(res.W_raw) < 1e-6
    assert shd(W_true, res.W) <= 2  # recorded 0 for both


def test_logistic_loss_on_binary_data():
    W_true, X = simulate_logistic(5, 3)
    res = notears_linear(X, loss="logistic")
    assert res.is_dag and res.converged and h_expm(res.W_raw) < 1e-6
    res = dagma_linear(X, loss="logistic", warm_iter=5000, max_iter=10000)
    assert res.is_dag and res.h < 1e-4
    assert all(e["objective"] < e["objective_start"] for e in res.history)


def test_dagma_retries_with_larger_s_and_smaller_lr():
    X = correlated3()
    s = [0.2, 0.1]
    res = dagma_linear(X, T=2, s=s, lr=0.5, warm_iter=2000, max_iter=2000)
    assert s == [0.2, 0.1]  # the caller's list is not mutated (the published code mutates it)
    for e, s0 in zip(res.history, s, strict=True):
        assert e["retries"] >= 1
        assert e["s"] == pytest.approx(s0 + 0.1 * e["retries"])
        assert e["lr"] == pytest.approx(0.5 * 0.5 ** e["retries"])
    assert res.params["s"] == [e["s"] for e in res.history]
    assert np.isfinite(res.W_raw).all() and res.is_dag


def test_dagma_backtracks_learning_rate_inside_domain():
    res = dagma_linear(correlated3(), T=1, s=1.0, lr=0.9, warm_iter=300, max_iter=300)
    (e,) = res.history
    assert e["retries"] == 0 and e["lr"] < 0.9  # the step was undone and halved
    assert np.isfinite(res.W_raw).all()
    assert np.max(np.abs(np.linalg.eigvals(res.W_raw * res.W_raw))) < 1.0


# ----------------------------------------------------------------------------------------------
# API behaviour
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fit", [notears_linear, dagma_linear])
def test_single_column_returns_empty_graph(fit, rng):
    X = rng.standard_normal((20, 1))
    res = fit(X)
    assert res.W.shape == (1, 1) and res.W_raw[0, 0] == 0.0 and res.adjacency.sum() == 0
    assert res.n_iter == 0 and res.history == [] and res.converged and res.h == 0.0
    assert res.loss == pytest.approx(0.5 * np.var(X))  # l2 loss of W = 0 on centred data


def test_input_not_modified_and_deterministic():
    _, X = simulate_gaussian(3, 5, n=100)
    X0 = X.copy()
    a = notears_linear(X)
    b = notears_linear(X)
    np.testing.assert_array_equal(a.W_raw, b.W_raw)
    c = dagma_linear(X, T=2, warm_iter=1000, max_iter=1000)
    d = dagma_linear(X, T=2, warm_iter=1000, max_iter=1000)
    np.testing.assert_array_equal(c.W_raw, d.W_raw)
    np.testing.assert_array_equal(X, X0)


def test_callback_and_verbose(capsys):
    _, X = simulate_gaussian(3, 5, n=100)
    seen = []
    res = notears_linear(X, callback=seen.append, verbose=True)
    assert seen == res.history and seen[0] is not res.history[0]
    assert capsys.readouterr().out.count("[notears] outer iteration") == res.n_iter
    seen.clear()
    res = dagma_linear(X, T=2, warm_iter=1000, max_iter=1000, callback=seen.append, verbose=True)
    assert [e["iteration"] for e in seen] == [1, 2]
    assert capsys.readouterr().out.count("[dagma] outer iteration") == 2


def test_published_float_iteration_counts_accepted():
    _, X = simulate_gaussian(3, 5, n=100)
    res = dagma_linear(X, T=1, warm_iter=1e3, max_iter=2e3, checkpoint=1e3)
    assert res.params["max_iter"] == 2000 and isinstance(res.params["max_iter"], int)


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------

GOOD = np.random.default_rng(1).standard_normal((30, 3))


def _with(value, where):
    X = GOOD.copy()
    X[where] = value
    return X


@pytest.mark.parametrize("fit", [notears_linear, dagma_linear])
@pytest.mark.parametrize(
    "X, exc, match",
    [
        (_with(np.nan, (2, 1)), ValueError, "NaN or inf in columns \\[1\\]"),
        (_with(np.inf, (0, 0)), ValueError, "NaN or inf"),
        (GOOD[:1], ValueError, "at least 2 samples"),
        (GOOD[:, 0], ValueError, "2-D"),
        (np.c_[GOOD, np.ones(30)], ValueError, "constant columns \\[3\\]"),
        (GOOD.astype(complex), TypeError, "real-valued"),
    ],
)
def test_bad_data(fit, X, exc, match):
    with pytest.raises(exc, match=match):
        fit(X)


@pytest.mark.parametrize("fit", [notears_linear, dagma_linear])
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(lambda1=-0.1), ValueError, "lambda1 must be >= 0"),
        (dict(loss="l1"), ValueError, "unknown loss 'l1'"),
        (dict(loss=2), TypeError, "loss must be a string"),
        (dict(loss="logistic"), ValueError, "binary 0/1 data in X"),
        (dict(w_threshold=-1.0), ValueError, "w_threshold"),
        (dict(max_iter=0), ValueError, "max_iter must be >= 1"),
        (dict(callback=5), TypeError, "callback must be callable"),
    ],
)
def test_bad_shared_arguments(fit, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fit(GOOD, **kwargs)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(constraint="trace"), ValueError, "unknown constraint 'trace'"),
        (dict(rho_max=1.0), ValueError, "rho_max must be > 1"),
        (dict(h_tol=-1e-8), ValueError, "h_tol"),
        (dict(max_iter=2.0), TypeError, "max_iter must be an integer"),
    ],
)
def test_bad_notears_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        notears_linear(GOOD, **kwargs)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(s=0.0), ValueError, "s must be > 0"),
        (dict(s=[1.0, -0.5]), ValueError, "s must be > 0"),
        (dict(s=[]), ValueError, "s must not be empty"),
        (dict(s="1.0"), TypeError, "s must be a positive number"),
        (dict(s=None), TypeError, "s must be a positive number"),
        (dict(T=0), ValueError, "T must be >= 1"),
        (dict(mu_init=0.0), ValueError, "mu_init must be > 0"),
        (dict(mu_factor=1.5), ValueError, "mu_factor must be <= 1"),
        (dict(lr=0.0), ValueError, "lr must be > 0"),
        (dict(beta_1=1.0), ValueError, "beta_1 must be < 1"),
        (dict(checkpoint=0), ValueError, "checkpoint must be >= 1"),
        (dict(warm_iter=3.5), TypeError, "warm_iter must be an integer"),
        (dict(tol=-1.0), ValueError, "tol must be >= 0"),
    ],
)
def test_bad_dagma_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        dagma_linear(GOOD, **kwargs)


def test_device_array_rejected():
    class FakeDeviceArray:
        __cuda_array_interface__: dict = {}

    with pytest.raises(TypeError, match="NumPy arrays"):
        notears_linear(FakeDeviceArray())


def test_bad_objective_arguments():
    W = np.zeros((3, 3))
    with pytest.raises(ValueError, match="W must have shape \\(d, d\\) = \\(3, 3\\)"):
        notears_objective(np.zeros((2, 2)), GOOD)
    with pytest.raises(ValueError, match="square matrix"):
        dagma_objective(np.zeros((3, 2)), GOOD)
    cyc = W.copy()
    cyc[0, 1] = cyc[1, 0] = 1.5  # a 2-cycle with weight product > 1
    with pytest.raises(ValueError, match="outside the domain"):
        dagma_objective(cyc, GOOD)
    with pytest.raises(ValueError, match="outside the domain"):
        notears_objective(cyc, GOOD, constraint="logdet")
    with pytest.raises(ValueError, match="s must be > 0"):
        dagma_objective(W, GOOD, s=-1.0)
    with pytest.raises(ValueError, match="rho must be >= 0"):
        notears_objective(W, GOOD, rho=-1.0)
    with pytest.raises(ValueError, match="binary"):
        dagma_objective(W, GOOD, loss="logistic")
