"""CUDA acyclicity kernels (cuda/acyclicity.cu) against the C++ kernels and the NumPy reference, on
CuPy arrays.  Skipped without a device (see conftest.py).

Tolerances: max abs error relative to max(1, max |CPU value|), 1e-10 for float64 and 1e-4 for
float32.  Inputs are fresh random matrices scaled so that exp/log-det stay well conditioned.
"""

from __future__ import annotations

import fastcrl
import numpy as np
import pytest
from fastcrl import _gpu_acyclicity, acyclicity, reference

TOL = {np.float64: 1e-10, np.float32: 1e-4}
SIZES = [1, 2, 7, 33, 130, 300]  # 300: the per-matrix block reductions loop (256 threads)

# Copies src to dst after spinning for `cycles` clocks: W written late on the current stream.
_SLOW_COPY = r"""
extern "C" __global__ void slow_copy(const double* src, double* dst, long long n,
                                     long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
  for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < n;
       k += (long long)gridDim.x * blockDim.x)
    dst[k] = src[k];
}
"""


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
        (acyclicity.expm_constraint, reference.acyclicity.expm_constraint),
        (acyclicity.logdet_constraint, reference.acyclicity.logdet_constraint),
        (acyclicity.poly_constraint, reference.acyclicity.poly_constraint),
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


def test_batch_with_one_overflowing_matrix(cp, cuda_ext, rng):
    good = _random_W(rng, 6, np.float64, batch=2)
    stack = np.stack([good[0], np.full((6, 6), 1e200), good[1]])  # W[1]∘W[1] overflows
    for name in ("expm_constraint", "logdet_constraint", "poly_constraint"):
        for W in (stack, cp.asarray(stack)):  # the CPU and the GPU name the same matrix
            with pytest.raises(fastcrl.NumericalError, match=r"W\[1\]"):
                getattr(acyclicity, name)(W)
    # Log-det raises even with check_domain="flag", as the CPU kernel.
    with pytest.raises(fastcrl.NumericalError, match=r"W\[1\]: W∘W overflows"):
        acyclicity.logdet_constraint(cp.asarray(stack), check_domain="flag")
    # The kernels flag that matrix alone; the others are computed as without it (the trace
    # exponential plans its scaling from the largest finite norm).
    W3 = cp.asarray(stack)
    for launch, f in (
        (_gpu_acyclicity._expm, acyclicity.expm_constraint),
        (_gpu_acyclicity._poly, acyclicity.poly_constraint),
        (lambda *a: _gpu_acyclicity._logdet(*a, 1.0), acyclicity.logdet_constraint),
    ):
        h, g, status = launch(cp, cuda_ext, W3)
        assert status.get().tolist() == [0, 1, 0]
        h_cpu, g_cpu = f(good)
        assert _rel_err(h[cp.asarray([0, 2])], h_cpu) < 1e-10
        assert _rel_err(g[cp.asarray([0, 2])], g_cpu) < 1e-10
    h, _, _ = _gpu_acyclicity._logdet(cp, cuda_ext, W3, 1.0)
    assert bool(cp.isnan(h[1]))  # how the optimisers tell it from leaving the domain (+inf)


def test_expm_more_than_65535_matrices(cp, rng):
    W = _random_W(rng, 3, np.float64, batch=70_000)
    h_cpu, g_cpu = acyclicity.expm_constraint(W)
    h_gpu, g_gpu = acyclicity.expm_constraint(cp.asarray(W))
    assert _rel_err(h_gpu, h_cpu) < 1e-10 and _rel_err(g_gpu, g_cpu) < 1e-10


@pytest.mark.parametrize("d", [30, 300])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spectral_radius_irreducible(cp, rng, dtype, d):
    W = (np.abs(rng.normal(size=(d, d))) + 0.1).astype(dtype)  # dense: strongly connected
    rho_cpu, g_cpu = acyclicity.spectral_radius(W, return_grad=True)
    rho_gpu, g_gpu = acyclicity.spectral_radius(cp.asarray(W), return_grad=True)
    # Both midpoints are within 1e-8 of rho in float64; float32 rounding may part them by an ulp.
    rtol = 1e-7 if dtype is np.float64 else 3e-7
    assert abs(float(rho_gpu) - float(rho_cpu)) <= rtol * float(rho_cpu)
    assert _rel_err(g_gpu, g_cpu) < 1e-5
    cycle = np.roll(np.eye(4), 1, axis=1) * 2.0  # periodic: the shift makes it converge
    assert float(acyclicity.spectral_radius(cp.asarray(cycle))) == pytest.approx(4.0, rel=1e-8)


def test_spectral_radius_batched(cp, rng):
    dense = np.abs(rng.normal(size=(6, 6))) + 0.1
    perm = rng.permutation(6)
    dag = (np.triu(rng.normal(size=(6, 6)), k=1) * 3.0)[np.ix_(perm, perm)]
    cycle = np.roll(np.eye(6), 1, axis=1) * 2.0
    stack = np.stack([dense, dag, cycle])
    rho_cpu, g_cpu = acyclicity.spectral_radius(stack, return_grad=True)
    rho_gpu, g_gpu = acyclicity.spectral_radius(cp.asarray(stack), return_grad=True)
    assert rho_gpu.shape == (3,) and g_gpu.shape == (3, 6, 6)
    assert float(rho_gpu[1]) == 0.0 and not bool(g_gpu[1].any())
    assert _rel_err(rho_gpu, rho_cpu) < 1e-7
    assert _rel_err(g_gpu, g_cpu) < 1e-5


def test_spectral_radius_dag_is_exactly_zero(cp, rng):
    perm = rng.permutation(40)
    W = (np.triu(rng.normal(size=(40, 40)), k=1) * 3.0)[np.ix_(perm, perm)]
    rho, g = acyclicity.spectral_radius(cp.asarray(W), n_iter=50, return_grad=True)
    assert float(rho) == 0.0 and not bool(g.any())  # as the CPU kernel, and without a warning


def test_spectral_radius_reducible_warns_with_bracket(cp):
    W = np.zeros((3, 3))
    W[0, 1] = W[1, 0] = W[0, 2] = 1.0  # a 2-cycle, and node 2 without out-edges: rho = 1
    with pytest.warns(RuntimeWarning, match="strongly connected"):
        rho = acyclicity.spectral_radius(cp.asarray(W), n_iter=50)
    assert 0.0 <= float(rho) <= 1.0 + 1e-12  # the bracket [0, hi] is rigorous but does not close


def test_spectral_radius_overflow_raises(cp):
    with pytest.raises(fastcrl.NumericalError, match="W∘W overflows"):
        acyclicity.spectral_radius(cp.full((3, 3), 1e200))
    with pytest.raises(fastcrl.NumericalError, match="overflows in float32"):
        acyclicity.spectral_radius(cp.full((3, 3), 1e30, dtype=cp.float32))


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


@pytest.mark.parametrize("name", ["expm", "poly", "logdet"])
def test_queues_behind_a_late_writer_on_the_current_stream(cp, rng, name):
    # A non-blocking stream: the legacy default stream does not wait for it, so a kernel launched
    # on any stream but the current one would read W before the slow copy has written it.  The
    # optimisers' entry (Kernels) has no validation that would read W first and hide that.
    d = 300
    W = _random_W(rng, d, np.float64)
    src = cp.asarray(W)
    cp.cuda.Device().synchronize()
    slow_copy = cp.RawKernel(_SLOW_COPY, "slow_copy")
    kernels = _gpu_acyclicity.Kernels()
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        Wd = cp.zeros((d, d))
        slow_copy((8,), (128,), (src, Wd, np.int64(d * d), np.int64(200_000_000)))  # ~0.1 s
        h, g = kernels.logdet(Wd, 1.0) if name == "logdet" else getattr(kernels, name)(Wd)
        # The public entry too; its outputs are also copied on the stream right after it returns.
        Wd2 = cp.zeros((d, d))
        slow_copy((8,), (128,), (src, Wd2, np.int64(d * d), np.int64(200_000_000)))
        f = getattr(acyclicity, f"{name}_constraint")
        h2, g2 = f(Wd2, check_domain="flag") if name == "logdet" else f(Wd2)
        h2, g2 = h2.copy(), g2.copy()
        s.synchronize()
    h_cpu, g_cpu = getattr(acyclicity, f"{name}_constraint")(W)
    for hh, gg in ((h, g), (h2, g2)):
        assert _rel_err(hh, h_cpu) < 1e-10 and _rel_err(gg, g_cpu) < 1e-10


class _Foreign:
    """A CUDA array that is not CuPy (as Numba's or PyTorch's): only the array interface."""

    def __init__(self, a):
        self._a = a
        self.__cuda_array_interface__ = a.__cuda_array_interface__


def test_foreign_cuda_array(cp, rng):
    W = _random_W(rng, 9, np.float64)
    h, g = acyclicity.logdet_constraint(_Foreign(cp.asarray(W)))
    h_cpu, g_cpu = acyclicity.logdet_constraint(W)
    assert isinstance(g, cp.ndarray) and _rel_err(g, g_cpu) < 1e-10


def test_outputs_on_the_input_device(cp, rng):
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two CUDA devices")
    W = _random_W(rng, 9, np.float64)
    with cp.cuda.Device(1):
        Wd = cp.asarray(W)
    with cp.cuda.Device(0):
        for name in ("expm_constraint", "logdet_constraint", "poly_constraint"):
            h, g = getattr(acyclicity, name)(Wd)
            assert h.device.id == 1 and g.device.id == 1
        assert acyclicity.spectral_radius(Wd).device.id == 1
