import numpy as np
import pytest

import fastcrl
from fastcrl import reference

TOL = {np.float64: 1e-12, np.float32: 1e-5}


def _rel_err(a, b):
    return np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))) / max(
        1.0, np.max(np.abs(np.asarray(b, np.float64)))
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(2, 1), (5, 7), (200, 3), (1000, 64), (37, 200), (400, 300)])
def test_covariance_matches_reference(rng, dtype, shape):
    # Offset means and unequal scales make centring matter.
    X = (
        rng.normal(size=shape) * rng.uniform(0.1, 10, size=shape[1])
        + rng.normal(0, 50, size=shape[1])
    ).astype(dtype)
    cov, means = fastcrl.covariance(X, return_means=True)
    assert cov.dtype == dtype and cov.shape == (shape[1], shape[1])
    assert _rel_err(cov, reference.covariance(X)) < TOL[dtype]
    assert _rel_err(means, reference.column_means(X)) < TOL[dtype]
    np.testing.assert_array_equal(cov, cov.T)
    if dtype == np.float64:
        assert _rel_err(cov, np.cov(X, rowvar=False).reshape(cov.shape)) < 1e-12


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ddof", [0, 1, 3])
def test_covariance_ddof(rng, dtype, ddof):
    X = rng.normal(size=(50, 4)).astype(dtype)
    assert _rel_err(fastcrl.covariance(X, ddof=ddof), reference.covariance(X, ddof)) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [20, 300])  # 300 takes the blocked-gemm path of wide matrices
def test_gram_and_means(rng, dtype, d):
    X = rng.normal(size=(300, d)).astype(dtype)
    assert _rel_err(fastcrl.gram(X, scale=300.0), reference.gram(X, 300.0)) < TOL[dtype]
    assert _rel_err(fastcrl.column_means(X), reference.column_means(X)) < TOL[dtype]
    assert fastcrl.gram(X).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_correlation(rng, dtype):
    X = rng.normal(size=(400, 6)).astype(dtype) @ rng.normal(size=(6, 6)).astype(dtype)
    corr = fastcrl.correlation(X)
    assert _rel_err(corr, reference.correlation(X)) < TOL[dtype]
    np.testing.assert_array_equal(np.diag(corr), 1.0)
    cov = reference.covariance(X)
    assert _rel_err(fastcrl.correlation(cov=cov), reference.correlation(cov=cov)) < TOL[dtype]


def test_results_do_not_depend_on_thread_count(rng):
    X = rng.normal(size=(2001, 30))
    before = fastcrl.get_num_threads()
    try:
        fastcrl.set_num_threads(1)
        one = fastcrl.covariance(X)
        fastcrl.set_num_threads(2)
        two = fastcrl.covariance(X)
    finally:
        fastcrl.set_num_threads(before)
    assert _rel_err(one, two) < 1e-13


def test_int_and_dataframe_input(rng):
    Xi = rng.integers(0, 5, size=(100, 3))
    np.testing.assert_allclose(fastcrl.covariance(Xi), np.cov(Xi, rowvar=False), rtol=1e-12)
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    np.testing.assert_allclose(
        fastcrl.covariance(df), np.cov(df.to_numpy(), rowvar=False), rtol=1e-12
    )


def test_non_contiguous_input_is_handled(rng):
    X = np.asfortranarray(rng.normal(size=(100, 5)))
    np.testing.assert_allclose(fastcrl.covariance(X), np.cov(X, rowvar=False), rtol=1e-12)
    Xs = rng.normal(size=(100, 10))[:, ::2]
    np.testing.assert_allclose(fastcrl.covariance(Xs), np.cov(Xs, rowvar=False), rtol=1e-12)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fastcrl.covariance(np.ones(5)), r"2-D"),
        (lambda: fastcrl.covariance(np.array([[1.0, np.nan], [2.0, 3.0]])), "NaN or inf"),
        (lambda: fastcrl.covariance(np.array([[1.0, np.inf], [2.0, 3.0]])), "NaN or inf"),
        (lambda: fastcrl.covariance(np.ones((1, 3))), "at least 2 samples"),
        (lambda: fastcrl.covariance(np.ones((3, 3)), ddof=3), "at least 4 samples"),
        (lambda: fastcrl.covariance(np.ones((3, 3)), ddof=-1), "ddof must be >= 0"),
        (lambda: fastcrl.correlation(np.c_[np.ones(5), np.arange(5.0)]), "constant columns"),
        (lambda: fastcrl.correlation(), "exactly one"),
        (lambda: fastcrl.correlation(cov=np.ones((2, 3))), "square"),
        (lambda: fastcrl.gram(np.ones((3, 2)), scale=0.0), "scale must be >"),
        (lambda: fastcrl.covariance(np.zeros((4, 0))), "at least 1 features"),
    ],
)
def test_bad_input_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_input_type_errors():
    with pytest.raises(TypeError, match="complex"):
        fastcrl.covariance(np.ones((3, 2), dtype=complex))
    with pytest.raises(TypeError, match="numeric"):
        fastcrl.covariance(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(TypeError, match="ddof must be an integer"):
        fastcrl.covariance(np.ones((3, 2)), ddof=1.5)


def test_correlation_of_degenerate_covariance_raises_numerical_error():
    with pytest.raises(fastcrl.NumericalError, match="variance of column 1"):
        fastcrl.correlation(cov=np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert issubclass(fastcrl.NumericalError, ArithmeticError)


def test_correlation_of_a_matrix_that_is_no_covariance():
    with pytest.raises(ValueError, match="not a covariance matrix: it implies a correlation of 2"):
        fastcrl.correlation(cov=np.array([[1.0, 2.0], [2.0, 1.0]]))
    # perfectly correlated is still a covariance (rounding aside)
    x = np.array([1.0, 3.0, 2.0])
    C = np.outer(x, x) / 3.0
    np.testing.assert_allclose(fastcrl.correlation(cov=C), np.ones((3, 3)), rtol=1e-14)
    for dtype in (np.float32, np.float64):
        X = np.random.default_rng(0).normal(size=(50, 4)).astype(dtype)
        fastcrl.correlation(cov=fastcrl.covariance(X))


def test_core_rejects_silent_conversion():
    # The extension itself never converts: conversions happen visibly in Python.
    from fastcrl import _core

    with pytest.raises(TypeError):
        _core.covariance(np.ones((3, 2), dtype=np.int64), 1)
    with pytest.raises(TypeError):
        _core.covariance(np.asfortranarray(np.ones((3, 2))), 1)
