"""fastcrl.acyclicity: kernels vs the NumPy/SciPy reference, gradients vs finite differences,
DAG/cycle properties, the log-det domain, batching, and bad input."""

import fastcrl
import numpy as np
import pytest
from fastcrl import acyclicity as ac
from fastcrl.reference import acyclicity as ref

RTOL = {np.float64: 1e-10, np.float32: 1e-4}

CONSTRAINTS = {
    "expm": (ac.expm_constraint, ref.expm_constraint),
    "expm-pade": (lambda W: ac.expm_constraint(W, method="pade"), ref.expm_constraint),
    "poly": (ac.poly_constraint, ref.poly_constraint),
    "logdet": (ac.logdet_constraint, ref.logdet_constraint),
}


def with_norm(rng, d, target):
    """Dense W with ||W∘W||_1 = target (W∘W scales with the square of W)."""
    W = rng.normal(size=(d, d))
    return W * np.sqrt(target / np.abs(W * W).sum(axis=0).max())


def with_rho(rng, d, target):
    """Dense W with rho(W∘W) = target."""
    W = rng.normal(size=(d, d))
    return W * np.sqrt(target / ref.spectral_radius(W))


def random_dag(rng, d, w_max=2.0, density=0.3):
    """A permuted strictly upper-triangular W (a DAG) with weights of both signs."""
    M = np.triu(rng.uniform(0.5, w_max, (d, d)) * rng.choice([-1.0, 1.0], (d, d)), 1)
    M *= rng.random((d, d)) < density
    p = rng.permutation(d)
    return M[p][:, p]


def assert_close(h, g, h_ref, g_ref, rtol):
    """Normwise relative agreement of value and gradient (the accuracy matrix functions promise)."""
    assert abs(float(h) - float(h_ref)) <= rtol * max(abs(float(h_ref)), 1e-300)
    assert np.abs(g - g_ref).max() <= rtol * max(np.abs(g_ref).max(), 1e-300)


# ---------------------------------------------------------------------------------------------
# Kernel vs reference.

# ||W∘W||_1 from 1e-3 to 200 crosses every Padé degree (theta_3 = 0.015 ... theta_13 = 4.25) and up
# to 6 squarings (the polynomial's evaluation paths have their own test below).
NORMS = [1e-3, 0.1, 0.6, 1.5, 20.0, 200.0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 2, 10, 50])
@pytest.mark.parametrize("name", ["expm", "expm-pade", "poly"])
def test_matches_reference(rng, name, d, dtype):
    fn, ref_fn = CONSTRAINTS[name]
    for target in NORMS:
        if dtype is np.float32 and name.startswith("expm") and target > 20:
            continue  # exp(200) overflows float32
        W = with_norm(rng, d, target).astype(dtype)
        h, g = fn(W)
        assert h.dtype == dtype and g.dtype == dtype and g.shape == (d, d)
        h_ref, g_ref = ref_fn(W.astype(np.float64))
        assert_close(h, g, h_ref, g_ref, RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 2, 10, 50])
def test_logdet_matches_reference(rng, d, dtype):
    for rho, s in [(0.01, 1.0), (0.5, 1.0), (0.9, 1.0), (3.0, 4.0), (1.0, 1.05)]:
        W = with_rho(rng, d, rho).astype(dtype)
        h, g = ac.logdet_constraint(W, s=s)
        assert h.dtype == dtype and g.dtype == dtype
        h_ref, g_ref = ref.logdet_constraint(W.astype(np.float64), s=s)
        # h sums d logarithms of pivots: accurate in absolute terms (a few d ulps), not relative.
        assert abs(float(h) - h_ref) <= RTOL[dtype] * abs(h_ref) + 10 * d * np.finfo(dtype).eps
        assert np.abs(g - g_ref).max() <= RTOL[dtype] * np.abs(g_ref).max() * (1 / (1 - rho / s))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_poly_every_evaluation_path_matches_reference(rng, dtype):
    # (I + A/d)^(d-1) is evaluated by the cheapest of three methods: the finite binomial series
    # (small ||A||), the binomial series of (I + A/d)^((d-1)/2^s) squared s times (large ||A||, large
    # d) and the power-tree addition chain (short chains, or ||A|| too large for the series). These
    # cases pick each of them: d = 150, ||A|| = 30: chain; d = 300: finite series at 0.5 and 5,
    # scaled series (s = 4) at 30, chain at 200.
    for d, target in [(150, 0.5), (150, 30.0), (300, 0.5), (300, 5.0), (300, 30.0), (300, 200.0)]:
        if dtype is np.float32 and target > 30:
            continue  # (I + A/d)^d overflows float32
        W = with_norm(rng, d, target)
        h, g = ac.poly_constraint(W.astype(dtype))
        assert_close(h, g, *ref.poly_constraint(W.astype(dtype).astype(np.float64)), RTOL[dtype])


def test_poly_scaled_series_is_exact_on_dags(rng):
    # A dense DAG (permuted upper triangle) with ||W∘W||_1 ~ 30 at d = 300 takes the scaled-series
    # path (its first powers are far from 0); every term and squaring is non-negative, so no rounding
    # creates a path that is not there: h and the gradient (2 W_ij times the weight of paths j -> i)
    # are exactly 0.
    W = random_dag(rng, 300, density=1.0)
    W *= np.sqrt(30.0 / np.abs(W * W).sum(axis=0).max())
    h, g = ac.poly_constraint(W)
    assert h == 0.0
    assert not g.any()


def test_exponential_of_large_nonnormal_matrix_is_accurate():
    # A 2-cycle with weights 3 and 4 inside a chain of weight 4, ||W∘W|| ~ 32 and very non-normal:
    # tr(exp(A)) = 2 cosh(12) + d - 2 exactly (the chain adds no cycles).
    d = 30
    W = np.diag(np.full(d - 1, 4.0), 1)
    W[1, 0] = 3.0
    for method in ("taylor", "pade"):
        h, _ = ac.expm_constraint(W, method=method)
        assert abs(h - (2 * np.cosh(12.0) - 2)) <= 1e-12 * h


def test_tiny_values_keep_relative_accuracy():
    # A 2-cycle with weights a, b: exactly h_expm = 2 (cosh(ab) - 1) = 4 sinh(ab/2)^2,
    # h_poly = (ab)^2 / 2, rho = ab. tr(exp(A)) - d computed naively would be 0 or noise here.
    a, b = 1e-4, 3e-4
    W = np.array([[0.0, a], [b, 0.0]])
    for method in ("taylor", "pade"):
        h, g = ac.expm_constraint(W, method=method)
        assert h == pytest.approx(4 * np.sinh(a * b / 2) ** 2, rel=1e-13)
    assert ac.poly_constraint(W)[0] == pytest.approx((a * b) ** 2 / 2, rel=1e-13)
    assert ac.spectral_radius(W) == pytest.approx(a * b, rel=1e-12)
    W32 = W.astype(np.float32)
    assert ac.expm_constraint(W32)[0] == pytest.approx((a * b) ** 2, rel=1e-5)
    assert ac.poly_constraint(W32)[0] == pytest.approx((a * b) ** 2 / 2, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Gradients vs central differences.


def numeric_grad(f, W, eps):
    G = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[idx] = eps
        G[idx] = (f(W + E) - f(W - E)) / (2 * eps)
    return G


@pytest.mark.parametrize("name", ["expm", "expm-pade", "poly", "logdet"])
def test_gradient_matches_finite_differences(rng, name):
    fn = CONSTRAINTS[name][0]
    for d, scale in [(1, 0.7), (3, 0.5), (7, 0.3)]:
        W = rng.normal(size=(d, d)) * scale
        _, g = fn(W)
        G = numeric_grad(lambda V: float(fn(V)[0]), W, 1e-6)
        np.testing.assert_allclose(g, G, rtol=1e-6, atol=1e-7 * np.abs(G).max())


def test_spectral_radius_gradient_matches_finite_differences(rng):
    # Irreducible blocks (dense) and a reducible matrix whose dominant component is a 3-cycle.
    W_dense = rng.normal(size=(6, 6))
    W_red = np.zeros((6, 6))
    W_red[0, 1], W_red[1, 2], W_red[2, 0] = 1.5, 0.8, 1.1
    W_red[3, 4], W_red[4, 3], W_red[2, 3], W_red[5, 5] = 0.5, 0.4, 2.0, 0.3
    for W in (W_dense, W_red):
        rho, g = ac.spectral_radius(W, tol=1e-13, return_grad=True)
        G = numeric_grad(lambda V: float(ac.spectral_radius(V, tol=1e-13)), W, 1e-6)
        np.testing.assert_allclose(g, G, atol=1e-6 * np.abs(G).max())
        assert np.all(g[W == 0] == 0)


# ---------------------------------------------------------------------------------------------
# Properties: zero exactly on DAGs, positive on cycles.


@pytest.mark.parametrize("d", [1, 5, 40])
def test_zero_on_dags_positive_on_cycles(rng, d):
    for w_max in (2.0, 30.0):  # 30: where Padé-based expm (ours, SciPy's) loses the zero
        W = random_dag(rng, d, w_max)
        for fn in (ac.expm_constraint, ac.poly_constraint):
            h, g = fn(W)
            assert h == 0.0 and np.all(g == 0.0)
        assert ac.spectral_radius(W) == 0.0
        h, g = ac.logdet_constraint(W, s=0.5)  # any s > 0 is in the domain of a DAG
        assert h == 0.0 and np.all(g[W != 0] == 0.0)  # LU without pivoting: pivots exactly s
    if d >= 2:
        W = random_dag(rng, d)
        i, j = np.flatnonzero(W)[0] // d, np.flatnonzero(W)[0] % d
        W[j, i] = 0.1  # close a 2-cycle
        for name in ("expm", "expm-pade", "poly", "logdet"):
            assert CONSTRAINTS[name][0](W)[0] > 0
        assert ac.spectral_radius(W) > 0


def test_constraints_are_permutation_invariant(rng):
    W = rng.normal(size=(12, 12)) * 0.2
    p = rng.permutation(12)
    for name in ("expm", "poly", "logdet"):
        fn = CONSTRAINTS[name][0]
        h, g = fn(W)
        hp, gp = fn(W[p][:, p])
        assert hp == pytest.approx(h, rel=1e-12)
        np.testing.assert_allclose(gp, g[p][:, p], rtol=1e-11, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# Spectral radius.


def test_spectral_radius_matches_reference(rng):
    for d in (1, 2, 10, 50):
        for scale in (1e-3, 1.0, 10.0):
            W = rng.normal(size=(d, d)) * scale
            assert ac.spectral_radius(W, tol=1e-12) == pytest.approx(
                ref.spectral_radius(W), rel=1e-10
            )
            W32 = W.astype(np.float32)
            rho32 = ac.spectral_radius(W32)
            assert rho32.dtype == np.float32
            assert rho32 == pytest.approx(ref.spectral_radius(W32.astype(np.float64)), rel=1e-6)


def test_spectral_radius_special_structures(rng):
    # Periodic blocks, where plain power iteration oscillates: a weighted 7-cycle (rho = geometric
    # mean of the squared weights) and a bipartite block (eigenvalues +-rho).
    w = rng.uniform(0.5, 2.0, 7)
    C = np.roll(np.eye(7), 1, axis=1) * w[:, None]
    assert ac.spectral_radius(C, tol=1e-12) == pytest.approx(np.prod(w**2) ** (1 / 7), rel=1e-11)
    Bp = np.zeros((6, 6))
    Bp[:3, 3:] = rng.uniform(size=(3, 3))
    Bp[3:, :3] = rng.uniform(size=(3, 3))
    assert ac.spectral_radius(Bp, tol=1e-12) == pytest.approx(ref.spectral_radius(Bp), rel=1e-10)
    # Reducible: two cyclic blocks joined by an edge; self-loop on an otherwise acyclic node.
    W = np.zeros((9, 9))
    W[:3, :3] = rng.normal(size=(3, 3))
    W[5:8, 5:8] = 2 * rng.normal(size=(3, 3))
    W[0, 5], W[8, 8] = 1.0, 0.3
    assert ac.spectral_radius(W, tol=1e-12) == pytest.approx(ref.spectral_radius(W), rel=1e-10)
    # d = 1, zero matrix, a lone self-loop dominating.
    assert ac.spectral_radius(np.array([[-3.0]])) == 9.0
    assert ac.spectral_radius(np.array([[0.0]])) == 0.0
    assert ac.spectral_radius(np.zeros((5, 5))) == 0.0
    D = random_dag(rng, 6)
    D[2, 2] = 5.0
    assert ac.spectral_radius(D) == 25.0


def test_spectral_radius_warns_when_not_converged(rng):
    # A 100-cycle with nearly equal weights converges at rate cos(pi / 100) per step.
    w = rng.uniform(0.95, 1.05, 100)
    C = np.roll(np.eye(100), 1, axis=1) * w[:, None]
    with pytest.warns(
        RuntimeWarning, match=r"did not reach tol=1e-08 in n_iter=20 steps; rho\(W∘W\) is in"
    ):
        rho = ac.spectral_radius(C, n_iter=20)
    assert rho == pytest.approx(np.prod(w**2) ** (1 / 100), rel=0.1)


# ---------------------------------------------------------------------------------------------
# Log-det domain.


def test_logdet_outside_domain_raises_or_flags(rng):
    W = with_rho(rng, 8, 1.0)
    for s in (0.999, 0.5, 1e-3):
        with pytest.raises(fastcrl.NumericalError, match="not above the spectral radius"):
            ac.logdet_constraint(W, s=s)
        h, g = ac.logdet_constraint(W, s=s, check_domain="flag")
        assert h == np.inf and np.all(np.isnan(g))
    h, g = ac.logdet_constraint(W, s=1.001)  # just inside
    assert np.isfinite(h) and h > 0 and np.all(g[W != 0] * W[W != 0] > 0)
    # A 2-cycle a <-> b has rho = ab exactly; the certificate holds down to ~1e-13 above it.
    W2 = np.array([[0.0, 2.0], [0.5, 0.0]])
    assert np.isfinite(ac.logdet_constraint(W2, s=1.0 + 1e-12)[0])
    with pytest.raises(fastcrl.NumericalError):
        ac.logdet_constraint(W2, s=1.0)


def test_logdet_batched_domain(rng):
    Ws = np.stack([with_rho(rng, 6, r) for r in (0.5, 2.0, 0.8, 3.0)])
    with pytest.raises(fastcrl.NumericalError, match=r"^W\[1\]"):
        ac.logdet_constraint(Ws)
    h, g = ac.logdet_constraint(Ws, check_domain="flag")
    np.testing.assert_array_equal(np.isfinite(h), [True, False, True, False])
    assert np.all(np.isnan(g[1])) and not np.any(np.isnan(g[[0, 2]]))
    assert_close(h[2], g[2], *ref.logdet_constraint(Ws[2]), 1e-10)


# ---------------------------------------------------------------------------------------------
# Batches.


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batched_equals_loop(rng, dtype):
    for d in (1, 7, 40):
        Ws = (rng.normal(size=(3, d, d)) * 0.3 / np.sqrt(d)).astype(dtype)
        for name in ("expm", "expm-pade", "poly", "logdet"):
            fn = CONSTRAINTS[name][0]
            h, g = fn(Ws)
            assert h.shape == (3,) and g.shape == (3, d, d) and h.dtype == dtype
            for b in range(3):  # threaded vs single-threaded BLAS may round differently
                assert_close(h[b], g[b], *fn(Ws[b]), 1e-12 if dtype is np.float64 else 1e-5)
        rho = ac.spectral_radius(Ws)
        np.testing.assert_array_equal(rho, [ac.spectral_radius(w) for w in Ws])
        rho, g = ac.spectral_radius(Ws, return_grad=True)
        np.testing.assert_array_equal(g[1], ac.spectral_radius(Ws[1], return_grad=True)[1])


def test_empty_batch_and_layouts(rng):
    h, g = ac.expm_constraint(np.zeros((0, 3, 3)))
    assert h.shape == (0,) and g.shape == (0, 3, 3)
    W = rng.normal(size=(6, 6)) * 0.3
    WT = W.T.copy()
    for name in ("expm", "poly", "logdet"):
        fn = CONSTRAINTS[name][0]
        h, g = fn(W.T)  # a non-contiguous view is copied into C order
        ht, gt = fn(WT)
        assert h == ht and np.array_equal(g, gt)
    assert ac.expm_constraint(W.tolist())[0] == ac.expm_constraint(W)[0]


# ---------------------------------------------------------------------------------------------
# Bad input.

ALL = [
    ac.expm_constraint,
    ac.poly_constraint,
    ac.logdet_constraint,
    ac.spectral_radius,
]


@pytest.mark.parametrize("fn", ALL)
def test_bad_W(fn):
    for bad, match in [
        (np.zeros((2, 3)), r"square matrix \(d, d\); got shape \(2, 3\)"),
        (np.zeros(3), r"got shape \(3,\)"),
        (np.zeros((2, 2, 3)), r"stack of square matrices \(B, d, d\)"),
        (np.zeros((2, 2, 2, 2)), r"got shape \(2, 2, 2, 2\)"),
        (np.zeros((0, 0)), "at least one node"),
        (np.array([[0.0, np.nan], [0.0, 0.0]]), "NaN or inf"),
        (np.array([[0.0, np.inf], [0.0, 0.0]]), "NaN or inf"),
    ]:
        with pytest.raises(ValueError, match=match):
            fn(bad)
    with pytest.raises(TypeError, match="real-valued"):
        fn(np.zeros((2, 2), dtype=complex))
    with pytest.raises(TypeError, match="numeric"):
        fn(np.array([["a", "b"], ["c", "d"]]))


@pytest.mark.parametrize("fn", ALL)
def test_integer_and_half_input_become_float64(fn):
    for W in (
        np.array([[0, 1], [0, 0]]),
        np.array([[False, True], [False, False]]),
        np.zeros((2, 2), dtype=np.float16),
    ):
        out = fn(W)
        h = out[0] if isinstance(out, tuple) else out
        assert h.dtype == np.float64 and h == 0.0


def test_bad_options():
    W = np.zeros((2, 2))
    for s in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="s must be"):
            ac.logdet_constraint(W, s=s)
    with pytest.raises(TypeError, match="s must be a real number"):
        ac.logdet_constraint(W, s="1")
    with pytest.raises(ValueError, match="unknown check_domain 'warn'"):
        ac.logdet_constraint(W, check_domain="warn")
    with pytest.raises(ValueError, match="unknown method 'exact'"):
        ac.expm_constraint(W, method="exact")
    with pytest.raises(ValueError, match="n_iter must be >= 1"):
        ac.spectral_radius(W, n_iter=0)
    with pytest.raises(TypeError, match="n_iter must be an integer"):
        ac.spectral_radius(W, n_iter=10.5)
    for tol in (0.0, 1.0, -1e-3):
        with pytest.raises(ValueError, match="tol must be"):
            ac.spectral_radius(W, tol=tol)
    with pytest.raises(TypeError, match="return_grad must be a bool"):
        ac.spectral_radius(W, return_grad="yes")


def test_overflow_raises_numerical_error():
    W = np.zeros((5, 5))
    W[0, 1] = W[1, 0] = 40.0  # exp(1600)
    for method in ("taylor", "pade"):
        with pytest.raises(fastcrl.NumericalError, match=r"exp\(W∘W\) overflows in float64"):
            ac.expm_constraint(W, method=method)
    W = np.diag(np.full(9, 1e20), 1)
    W[1, 0] = 1e20  # (I + W∘W/10)^10 ~ 1e350
    with pytest.raises(fastcrl.NumericalError, match="overflows in float64"):
        ac.poly_constraint(W)
    with pytest.raises(fastcrl.NumericalError, match="W∘W overflows in float32"):
        ac.expm_constraint(W.astype(np.float32))
    with pytest.raises(fastcrl.NumericalError, match=r"^W\[1\]: "):
        ac.expm_constraint(np.stack([np.zeros((10, 10)), W]))
