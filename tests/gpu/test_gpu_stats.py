"""CUDA sufficient statistics against the NumPy reference: the CPU cases of tests/test_stats.py, on
CuPy arrays, plus what only the device path has (streams, the extension's own argument checks).

Skipped without a device (see conftest.py).  Tolerances: max abs error relative to
max(1, max |ref|), 1e-12 for float64 and 1e-5 for float32, as for the CPU kernels.
"""

from __future__ import annotations

import fastcrl
import numpy as np
import pytest
from fastcrl import _backend, reference

TOL = {np.float64: 1e-12, np.float32: 1e-5}
SHAPES = [(2, 1), (5, 7), (200, 3), (1000, 64), (37, 200), (20000, 5), (3000, 129)]


def _rel_err(a, b):
    a = a.get() if hasattr(a, "get") else a
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b)))


def _data(rng, shape, dtype):
    # Offset means and unequal scales make centring matter.
    X = rng.normal(size=shape) * rng.uniform(0.1, 10, size=shape[1]) + rng.normal(
        0, 50, size=shape[1]
    )
    return X.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_covariance_matches_reference(cp, rng, dtype, shape):
    X = _data(rng, shape, dtype)
    cov, means = fastcrl.covariance(cp.asarray(X), return_means=True)
    assert isinstance(cov, cp.ndarray) and isinstance(means, cp.ndarray)
    assert cov.dtype == dtype and cov.shape == (shape[1], shape[1]) and means.shape == (shape[1],)
    assert _rel_err(cov, reference.covariance(X)) < TOL[dtype]
    assert _rel_err(means, reference.column_means(X)) < TOL[dtype]
    host = cov.get()
    np.testing.assert_array_equal(host, host.T)  # the mirror kernel makes it exactly symmetric
    assert _rel_err(cov, fastcrl.covariance(X)) < TOL[dtype]  # and it agrees with the CPU kernel


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ddof", [0, 1, 3])
def test_covariance_ddof(cp, rng, dtype, ddof):
    X = rng.normal(size=(50, 4)).astype(dtype)
    assert (
        _rel_err(fastcrl.covariance(cp.asarray(X), ddof=ddof), reference.covariance(X, ddof))
        < TOL[dtype]
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(300, 20), (1, 4), (7, 1), (4097, 33)])
def test_gram_and_means(cp, rng, dtype, shape):
    X = rng.normal(size=shape).astype(dtype)
    Xd = cp.asarray(X)
    G = fastcrl.gram(Xd, scale=300.0)
    assert isinstance(G, cp.ndarray) and G.dtype == dtype
    assert _rel_err(G, reference.gram(X, 300.0)) < TOL[dtype]
    np.testing.assert_array_equal(G.get(), G.get().T)
    m = fastcrl.column_means(Xd)
    assert isinstance(m, cp.ndarray) and m.dtype == dtype
    assert _rel_err(m, reference.column_means(X)) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_correlation(cp, rng, dtype):
    X = rng.normal(size=(400, 6)).astype(dtype) @ rng.normal(size=(6, 6)).astype(dtype)
    corr = fastcrl.correlation(cp.asarray(X))
    assert isinstance(corr, cp.ndarray) and corr.dtype == dtype
    assert _rel_err(corr, reference.correlation(X)) < TOL[dtype]
    np.testing.assert_array_equal(np.diag(corr.get()), 1.0)
    cov = reference.covariance(X)
    assert (
        _rel_err(fastcrl.correlation(cov=cp.asarray(cov)), reference.correlation(cov=cov))
        < TOL[dtype]
    )


def test_results_are_deterministic(cp, rng):
    Xd = cp.asarray(_data(rng, (50001, 40), np.float64))
    a, b = fastcrl.covariance(Xd), fastcrl.covariance(Xd)
    np.testing.assert_array_equal(a.get(), b.get())
    np.testing.assert_array_equal(fastcrl.column_means(Xd).get(), fastcrl.column_means(Xd).get())


def test_numpy_in_numpy_out_cupy_in_cupy_out(cp, rng):
    X = rng.normal(size=(100, 4))
    for fn in (fastcrl.covariance, fastcrl.gram, fastcrl.column_means, fastcrl.correlation):
        assert isinstance(fn(X), np.ndarray)
        assert isinstance(fn(cp.asarray(X)), cp.ndarray)


def test_mixing_host_and_device_raises_type_error(cp, cuda_ext, rng):
    Xd = cp.asarray(rng.normal(size=(10, 3)))
    with pytest.raises(TypeError, match="mix host"):
        _backend.xp_of(np.ones(3), Xd)
    with pytest.raises(TypeError, match="__cuda_array_interface__"):
        cuda_ext.gram(Xd, np.empty((3, 3)), 1.0, _backend.current_stream_ptr())
    with pytest.raises(TypeError, match="__cuda_array_interface__"):
        cuda_ext.gram(Xd.get(), cp.empty((3, 3)), 1.0, _backend.current_stream_ptr())


def test_layouts_and_integer_input(cp, rng):
    X = rng.normal(size=(100, 10))
    ref = reference.covariance(np.ascontiguousarray(X[:, ::2]))
    assert _rel_err(fastcrl.covariance(cp.asarray(X)[:, ::2]), ref) < 1e-12
    assert (
        _rel_err(fastcrl.covariance(cp.asfortranarray(cp.asarray(X))), reference.covariance(X))
        < 1e-12
    )
    Xi = rng.integers(0, 5, size=(100, 3))
    got = fastcrl.covariance(cp.asarray(Xi))
    assert got.dtype == np.float64
    assert _rel_err(got, np.cov(Xi, rowvar=False)) < 1e-12


def test_runs_on_the_current_stream(cp, rng):
    X = rng.normal(size=(5000, 50))
    with cp.cuda.Stream(non_blocking=True) as stream:
        Xd = cp.asarray(X)
        cov = fastcrl.covariance(Xd)
        corr = fastcrl.correlation(Xd)
    stream.synchronize()
    assert _rel_err(cov, reference.covariance(X)) < 1e-12
    assert _rel_err(corr, reference.correlation(X)) < 1e-12


def test_producer_stream_of_the_interface_is_waited_for(cp, cuda_ext, rng):
    # A version-3 interface names the stream its data was written on; the kernels must run after it.
    X = rng.normal(size=(20000, 30))
    producer = cp.cuda.Stream(non_blocking=True)
    with producer:
        Xd = cp.asarray(X) * 2.0  # queued on the producer stream

    class OnProducerStream:
        def __init__(self, a):
            iface = dict(a.__cuda_array_interface__)
            iface["stream"] = producer.ptr
            self.__cuda_array_interface__ = iface

    consumer = cp.cuda.Stream(non_blocking=True)
    out = cp.empty((30, 30))
    cuda_ext.gram(OnProducerStream(Xd), out, 1.0, consumer.ptr)
    consumer.synchronize()
    assert _rel_err(out, reference.gram(2.0 * X)) < 1e-12


def test_bad_device_input(cp):
    with pytest.raises(ValueError, match="NaN or inf"):
        fastcrl.covariance(cp.asarray([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="2-D"):
        fastcrl.covariance(cp.ones(5))
    with pytest.raises(fastcrl.NumericalError, match="variance of column 1"):
        fastcrl.correlation(cov=cp.asarray([[1.0, 0.0], [0.0, 0.0]]))


def test_extension_checks_its_arguments(cp, cuda_ext):
    s = _backend.current_stream_ptr()
    X = cp.ones((10, 3))
    with pytest.raises(ValueError, match=r"out must have shape \(3, 3\)"):
        cuda_ext.gram(X, cp.empty((3, 4)), 1.0, s)
    with pytest.raises(TypeError, match="dtype of X"):
        cuda_ext.gram(X, cp.empty((3, 3), dtype=cp.float32), 1.0, s)
    with pytest.raises(TypeError, match="float64"):
        cuda_ext.gram(cp.ones((10, 3), dtype=cp.int64), cp.empty((3, 3)), 1.0, s)
    with pytest.raises(ValueError, match="C-contiguous"):
        cuda_ext.gram(cp.asfortranarray(cp.ones((10, 3))), cp.empty((3, 3)), 1.0, s)
    with pytest.raises(ValueError, match="overlap"):
        big = cp.ones((10, 3))
        cuda_ext.gram(big, big[:3], 1.0, s)
    with pytest.raises(ValueError, match="scale"):
        cuda_ext.gram(X, cp.empty((3, 3)), 0.0, s)
    with pytest.raises(ValueError, match="workspace too small"):
        cuda_ext.covariance(X, cp.empty((3, 3)), cp.empty(3), cp.empty(16, dtype=cp.uint8), 1, s)
    with pytest.raises(ValueError, match="n_samples > ddof"):
        ws = cp.empty(cuda_ext.covariance_workspace_bytes(10, 3, 8), dtype=cp.uint8)
        cuda_ext.covariance(X, cp.empty((3, 3)), cp.empty(3), ws, 10, s)
    with pytest.raises(ValueError, match="cov and out overlap"):
        C = cp.eye(3)
        cuda_ext.correlation_from_covariance(C, C, s)


def test_second_device_if_present(cp, rng):
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two CUDA devices")
    X = rng.normal(size=(300, 8))
    with cp.cuda.Device(1):
        Xd = cp.asarray(X)
    cov = fastcrl.covariance(Xd)
    assert cov.device.id == 1
    assert _rel_err(cov, reference.covariance(X)) < 1e-12
