"""CUDA acyclicity kernels (cuda/acyclicity.cu) against the C++ kernels and the NumPy reference, on
CuPy arrays.  Skipped without a device (see conftest.py).

Tolerances: max abs error relative to max(1, max |CPU value|), 1e-10 for float64 and 1e-4 for
float32.  Inputs are fresh random matrices scaled so that exp/log-det stay well conditioned.
"""

from __future__ import annotations

import fastcrl
import numpy as np
import pytest
from fastcrl import acyclicity, reference

TOL = {np.float64: 1e-10, np.float32: 1e-4}
SIZES = [1, 2, 7, 33, 130]


def _rel_err(a, b):
    a = a.get() if hasattr(a, "get") else a
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def _random_W(rng, d, dtype, batch=None, scale=0.5):
    shape = (d, d) if batch is None else (batch, d, d)
    # Row sums of W∘W about scale^2, so rho(W∘W) ~ 0.25: inside the log-det domain for s = 1.
    W = rng.normal(size=shape) * (scale / np.sqrt(max(d, 1)))
    return W.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", SIZES)
@pytest.mark.parametrize("name", ["expm_constraint", "logdet_constraint", "poly_constraint"])
def test_constraint_matches_cpu(cp, rng, dtype, d, name):
    W = _random_W(rng, d, dtype)
    f = getattr(acyclicity, name)
    h_cpu, g_cpu = f(W)
    h_gpu, g_gpu = f(cp.asarray(W))
    assert isinstance(h_gpu, cp.ndarray) and h_gpu.shape == () and h_gpu.dtype == dtype
    assert isinstance(g_gpu, cp.ndarray) and g_gpu.shape == (d, d) and g_gpu.dtype == dtype
    assert _rel_err(h_gpu, h_cpu) < TOL[dtype]
    assert _rel_err(g_gpu, g_cpu) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["expm_constraint", "logdet_constraint", "poly_constraint"])
def test_batched_matches_cpu(cp, rng, dtype, name):
    W = _random_W(rng, 9, dtype, batch=5)
    f = getattr(acyclicity, name)
    h_cpu, g_cpu = f(W)
    h_gpu, g_gpu = f(cp.asarray(W))
    assert h_gpu.shape == (5,) and g_gpu.shape == (5, 9, 9)
    assert _rel_err(h_gpu, h_cpu) < TOL[dtype]
    assert _rel_err(g_gpu, g_cpu) < TOL[dtype]


@pytest.mark.parametrize("scale", [0.1, 3.0, 12.0])
def test_expm_large_and_small_weights(cp, rng, scale):
    # Large weights need scaling and squaring; small ones keep h's relative accuracy.
    W = _random_W(rng, 20, np.float64, scale=scale)
    h_cpu, g_cpu = acyclicity.expm_constraint(W)
    h_gpu, g_gpu = acyclicity.expm_constraint(cp.asarray(W))
    assert abs(float(h_gpu) - float(h_cpu)) <= 1e-10 * abs(float(h_cpu))
    assert _rel_err(g_gpu, g_cpu) < 1e-10


def test_reference_agrees(cp, rng):
    W = _random_W(rng, 12, np.float64)
    for gpu, ref in (
        (acyclicity.expm_constraint, reference.expm_constraint),
        (acyclicity.logdet_constraint, reference.logdet_constraint),
        (acyclicity.poly_constraint, reference.poly_constraint),
    ):
        h, g = gpu(cp.asarray(W))
        h_ref, g_ref = ref(W)
        assert _rel_err(h, h_ref) < 1e-9 and _rel_err(g, g_ref) < 1e-9


@pytest.mark.parametrize("name", ["expm_constraint", "logdet_constraint", "poly_constraint"])
def test_dag_gives_exact_zero(cp, rng, name):
    W = np.triu(rng.normal(size=(40, 40)), k=1) * 3.0
    perm = rng.permutation(40)
    W = W[np.ix_(perm, perm)]
    h, g = getattr(acyclicity, name)(cp.asarray(W) * (0.2 if name == "logdet_constraint" else 1.0))
    assert float(h) == 0.0


def test_logdet_domain(cp):
    W = np.array([[0.0, 0.5], [0.5, 0.0]])  # rho(W∘W) = 0.25
    h, _ = acyclicity.logdet_constraint(cp.asarray(W), s=1.0)
    assert float(h) == pytest.approx(-np.log(1 - 0.25**2), rel=1e-12)
    with pytest.raises(fastcrl.NumericalError, match="spectral radius"):
        acyclicity.logdet_constraint(cp.asarray(W), s=0.2)
    h, g = acyclicity.logdet_constraint(cp.asarray(W), s=0.2, check_domain="flag")
    assert float(h) == np.inf and bool(cp.isnan(g).all())
    # A stack flags only the matrix outside the domain.
    stack = cp.asarray(np.stack([W, 0.1 * W]))
    h, g = acyclicity.logdet_constraint(stack, s=0.2, check_domain="flag")
    h_cpu, g_cpu = acyclicity.logdet_constraint(np.stack([W, 0.1 * W]), s=0.2, check_domain="flag")
    assert float(h[0]) == np.inf and np.isfinite(float(h[1]))
    assert _rel_err(h[1:], h_cpu[1:]) < 1e-12 and _rel_err(g[1], g_cpu[1]) < 1e-12
    with pytest.raises(fastcrl.NumericalError, match=r"W\[0\]"):
        acyclicity.logdet_constraint(stack, s=0.2)


def test_expm_overflow_raises(cp):
    W = np.full((3, 3), 40.0)
    with pytest.raises(fastcrl.NumericalError, match="overflows"):
        acyclicity.expm_constraint(cp.asarray(W))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spectral_radius_irreducible(cp, rng, dtype):
    W = (np.abs(rng.normal(size=(30, 30))) + 0.1).astype(dtype)  # dense: strongly connected
    rho_cpu, g_cpu = acyclicity.spectral_radius(W, return_grad=True)
    rho_gpu, g_gpu = acyclicity.spectral_radius(cp.asarray(W), return_grad=True)
    assert abs(float(rho_gpu) - float(rho_cpu)) <= 1e-7 * float(rho_cpu)
    assert _rel_err(g_gpu, g_cpu) < 1e-5
    cycle = np.roll(np.eye(4), 1, axis=1) * 2.0  # periodic: the shift makes it converge
    assert float(acyclicity.spectral_radius(cp.asarray(cycle))) == pytest.approx(4.0, rel=1e-8)


def test_spectral_radius_dag_warns_with_bracket(cp):
    W = np.triu(np.ones((5, 5)), k=1)
    with pytest.warns(RuntimeWarning, match="strongly connected"):
        rho = acyclicity.spectral_radius(cp.asarray(W), n_iter=50)
    assert 0.0 <= float(rho) < float("inf")  # the bracket [0, hi] is rigorous but does not close


def test_bad_input(cp):
    with pytest.raises(ValueError, match="square"):
        acyclicity.expm_constraint(cp.zeros((3, 4)))
    with pytest.raises(ValueError, match="NaN or inf"):
        acyclicity.poly_constraint(cp.asarray([[0.0, np.nan], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="pade"):
        acyclicity.expm_constraint(cp.zeros((3, 3)), method="pade")
    h, g = acyclicity.expm_constraint(cp.zeros((3, 3), dtype=cp.int64))
    assert g.dtype == cp.float64 and float(h) == 0.0


def test_runs_on_current_stream(cp, rng):
    W = _random_W(rng, 50, np.float64)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        Wd = cp.asarray(W)
        h, g = acyclicity.logdet_constraint(Wd)
        s.synchronize()
    h_cpu, g_cpu = acyclicity.logdet_constraint(W)
    assert _rel_err(g, g_cpu) < 1e-10
