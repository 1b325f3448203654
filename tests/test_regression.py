import numpy as np
import pytest

from fastcrl import reference
from fastcrl.reference.regression import lasso_path_gram as lasso_ref
from fastcrl.regression import lasso_path_gram


def _problem(rng, n=200, p=8, mixing=0.3):
    # Mildly correlated columns keep coordinate descent well conditioned, so both implementations
    # converge to the same coefficients within the tolerance.
    X = rng.normal(size=(n, p)) @ (np.eye(p) + mixing * rng.normal(size=(p, p)))
    beta = rng.normal(size=p) * (rng.random(p) < 0.5)
    y = X @ beta + rng.normal(size=n)
    return X.T @ X / n, X.T @ y / n


@pytest.mark.parametrize("seed", range(5))
def test_lasso_path_matches_reference(seed):
    rng = np.random.default_rng(seed)
    G, c = _problem(rng, p=int(rng.integers(1, 12)))
    lam_max = np.max(np.abs(c))
    lambdas = lam_max * np.logspace(0, -3, 15)
    penalty = rng.uniform(0, 2, size=c.size)
    coefs, sweeps = lasso_path_gram(G, c, lambdas, penalty=penalty, tol=1e-13)
    expected = lasso_ref(G, c, lambdas, penalty, tol=1e-14)
    np.testing.assert_allclose(coefs, expected, rtol=1e-8, atol=1e-9)
    assert sweeps >= len(lambdas)


def _objective(G, c, b, lam, penalty):
    return 0.5 * b @ G @ b - c @ b + lam * np.sum(penalty * np.abs(b))


@pytest.mark.parametrize("seed", range(3))
def test_lasso_ill_conditioned_reaches_reference_objective(seed):
    rng = np.random.default_rng(100 + seed)
    G, c = _problem(rng, p=10, mixing=3.0)
    lambdas = np.max(np.abs(c)) * np.logspace(0, -3, 10)
    penalty = np.ones(c.size)
    coefs, _ = lasso_path_gram(G, c, lambdas, tol=1e-13, max_sweeps=100_000)
    expected = lasso_ref(G, c, lambdas, penalty, tol=1e-14)
    for lam, b, e in zip(lambdas, coefs, expected):
        assert _objective(G, c, b, lam, penalty) <= _objective(G, c, e, lam, penalty) + 1e-10 * abs(
            _objective(G, c, e, lam, penalty)
        )


def test_lasso_kkt_conditions(rng):
    G, c = _problem(rng, p=10)
    lam = 0.05
    (b,), _ = lasso_path_gram(G, c, np.array([lam]), tol=1e-14)
    grad = c - G @ b  # subgradient condition: |grad_i| <= lam, = lam*sign(b_i) where b_i != 0
    nz = b != 0
    np.testing.assert_allclose(grad[nz], lam * np.sign(b[nz]), atol=1e-10)
    assert np.all(np.abs(grad[~nz]) <= lam + 1e-10)


def test_lasso_endpoints(rng):
    G, c = _problem(rng, p=6)
    lam_max = np.max(np.abs(c))
    coefs, _ = lasso_path_gram(G, c, np.array([lam_max * 1.01, 0.0]), tol=1e-14)
    np.testing.assert_array_equal(coefs[0], 0.0)  # above lambda_max nothing enters
    np.testing.assert_allclose(
        coefs[1], np.linalg.solve(G, c), rtol=1e-7
    )  # lambda=0 is least squares


def test_lasso_bad_input():
    G = np.eye(3)
    with pytest.raises(ValueError, match=r"c must have shape \(3,\)"):
        lasso_path_gram(G, np.ones(2), [0.1])
    with pytest.raises(ValueError, match="square"):
        lasso_path_gram(np.ones((2, 3)), np.ones(2), [0.1])
    with pytest.raises(ValueError, match="non-negative"):
        lasso_path_gram(G, np.ones(3), [-0.1])
    with pytest.raises(ValueError, match="positive diagonal"):
        lasso_path_gram(np.diag([1.0, 0.0, 1.0]), np.ones(3), [0.1])
    with pytest.raises(ValueError, match="penalty factors"):
        lasso_path_gram(G, np.ones(3), [0.1], penalty=-np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        lasso_path_gram(G, np.array([1.0, np.nan, 0.0]), [0.1])
    assert reference is not None
