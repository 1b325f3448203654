"""IVAE trained on the GPU (CuPy input) against the same fit on the CPU.

Same seed -> same split, minibatches and Philox noise, so in float64 the two fits agree to rounding
(latents, losses, prior table); in float32 they stay close.  Skipped with "no CUDA device" without
a usable GPU.
"""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest
from fastcrl.crl import IVAE
from fastcrl.datasets import make_nonstationary_sources
from fastcrl.metrics import mcc


@pytest.fixture(scope="module")
def data():
    return make_nonstationary_sources(8, 250, 3, random_state=11)


FAST = dict(hidden=(32, 32), batch_size=128, pretrain_epochs=2, max_epochs=4)


@pytest.fixture(params=["steps", "fused"])
def gpu_epochs(request, monkeypatch):
    """Both GPU training loops: step by step from Python, and whole epochs queued from C++."""
    monkeypatch.setattr(IVAE, "_fused_gpu_epochs", request.param == "fused")
    return request.param


@pytest.mark.parametrize("posterior", ["full", "diagonal"])
def test_gpu_fit_matches_cpu_float64(cp, data, posterior, gpu_epochs):
    kw = dict(FAST, posterior=posterior, dtype="float64", random_state=3)
    cpu = IVAE(3, **kw).fit(data.X, data.env)
    gpu = IVAE(3, **kw).fit(cp.asarray(data.X), data.env)
    # only summation order differs (cuBLAS vs OpenBLAS, parallel reductions): rounding-level gaps
    np.testing.assert_allclose(gpu.history_["loss"], cpu.history_["loss"], rtol=1e-7)
    np.testing.assert_allclose(gpu.history_["val_loss"], cpu.history_["val_loss"], rtol=1e-7)
    Z_cpu, Z_gpu = cpu.transform(data.X, data.env), gpu.transform(data.X, data.env)
    assert isinstance(Z_gpu, np.ndarray)
    np.testing.assert_allclose(Z_gpu, Z_cpu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gpu.prior_logvar_, cpu.prior_logvar_, rtol=1e-5, atol=1e-7)
    assert gpu.best_epoch_ == cpu.best_epoch_
    assert gpu.score(data.X, data.env) == pytest.approx(cpu.score(data.X, data.env), rel=1e-6)


def test_gpu_fit_float32_close(cp, data, gpu_epochs):
    kw = dict(FAST, random_state=4)
    cpu = IVAE(3, **kw).fit(data.X, data.env)
    gpu = IVAE(3, **kw).fit(cp.asarray(data.X), cp.asarray(data.env))
    np.testing.assert_allclose(gpu.history_["loss"], cpu.history_["loss"], rtol=1e-2)
    Z_cpu, Z_gpu = cpu.transform(data.X, data.env), gpu.transform(data.X, data.env)
    assert mcc(Z_cpu, Z_gpu) > 0.99
    assert mcc(data.Z, Z_gpu) > 0.5


def test_gpu_partial_fit_and_random_init(cp, data, gpu_epochs):
    kw = dict(FAST, init="random", dtype="float64", early_stopping=False, random_state=5)
    cpu = IVAE(3, **kw).fit(data.X, data.env).partial_fit(data.X, data.env, epochs=2)
    Xd = cp.asarray(data.X)
    gpu = IVAE(3, **kw).fit(Xd, data.env).partial_fit(Xd, data.env, epochs=2)
    assert gpu.n_iter_ == cpu.n_iter_ == FAST["max_epochs"] + 2
    np.testing.assert_allclose(gpu.history_["loss"], cpu.history_["loss"], rtol=1e-7)
    np.testing.assert_allclose(
        gpu.transform(data.X, data.env), cpu.transform(data.X, data.env), rtol=1e-5, atol=1e-6
    )
    # the fitted model lives on the host; inference refuses device input with a clear message
    assert isinstance(gpu._model.params, np.ndarray) and isinstance(gpu._m, np.ndarray)
    with pytest.raises(TypeError, match="GPU"):
        gpu.transform(Xd, data.env)


def test_gpu_fit_on_another_device(cp, data):
    """The fit follows X's device (model, moments, minibatches), not the current device."""
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two CUDA devices")
    kw = dict(FAST, dtype="float64", random_state=3)
    ref = IVAE(3, **kw).fit(cp.asarray(data.X), data.env)
    with cp.cuda.Device(1):
        Xd = cp.asarray(data.X)
    other = IVAE(3, **kw).fit(Xd, data.env).partial_fit(Xd, data.env)
    np.testing.assert_allclose(other.history_["loss"][:-1], ref.history_["loss"], rtol=1e-7)


def test_gpu_fit_bad_input(cp, data):
    bad = cp.asarray(data.X).copy()
    bad[2, 1] = cp.nan
    with pytest.raises(ValueError, match="NaN"):
        IVAE(3).fit(bad, data.env)
    with pytest.raises(ValueError, match="u must have shape"):
        IVAE(3).fit(cp.asarray(data.X), data.env[:-1])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_gpu_epochs_match_the_gpu_step_loop(cp, data, monkeypatch, dtype):
    kw = dict(FAST, dtype=dtype, learn_prior_mean=True, random_state=6)
    fits = []
    for fused in (False, True):
        monkeypatch.setattr(IVAE, "_fused_gpu_epochs", fused)
        fits.append(IVAE(3, **kw).fit(cp.asarray(data.X), data.env))
    steps, fused = fits
    tol = 1e-9 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(fused.history_["loss"], steps.history_["loss"], rtol=tol)
    assert (fused._adam_step, fused._noise_offset) == (steps._adam_step, steps._noise_offset)
    Z_s, Z_f = steps.transform(data.X, data.env), fused.transform(data.X, data.env)
    assert mcc(Z_s, Z_f) > 0.999


def test_fused_gpu_epoch_checks_its_arguments(cp):
    from fastcrl import _gpu_nn
    from fastcrl.crl.ivae import _Model

    model = _Model(3, 2, 2, (4,), "tanh", 0.2, "full", 0.5, False, np.dtype(np.float64))
    model.to(cp)
    n = 6
    X = cp.zeros((n, 3))
    seg = cp.zeros(n, dtype=cp.int64)
    m, v, progress = cp.zeros_like(model.params), cp.zeros_like(model.params), np.zeros(1, np.int64)
    args = (model.shape, model.params, model.grad, m, v, 0, np.ones(6), 0.9, 0.999, 1e-8, X)
    with pytest.raises(ValueError, match="seg holds entries outside"):
        _gpu_nn.ivae_train_epoch(*args, seg + 2, cp.arange(n), 2, 1, 0, progress)
    with pytest.raises(ValueError, match="order holds entries outside"):
        _gpu_nn.ivae_train_epoch(*args, seg, cp.arange(n) + 1, 2, 1, 0, progress)
    with pytest.raises(ValueError, match="lrs has 1 entries"):
        _gpu_nn.ivae_train_epoch(
            *args[:6], np.ones(1), *args[7:], seg, cp.arange(n), 2, 1, 0, progress
        )
    with pytest.raises(ValueError, match="X must have shape"):
        _gpu_nn.ivae_train_epoch(*args[:-1], cp.zeros((n, 5)), seg, cp.arange(n), 2, 1, 0, progress)
    total = _gpu_nn.ivae_train_epoch(*args, seg, cp.arange(n), 2, 1, 0, progress)
    assert int(progress[0]) == 3 and np.isfinite(float(total))


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_ctrl_c_inside_a_fused_gpu_epoch(cp, data, monkeypatch):
    monkeypatch.setattr(IVAE, "_fused_gpu_epochs", True)
    model = IVAE(3, max_epochs=1000, init="random", batch_size=1, hidden=(8,), random_state=0)
    main = threading.get_ident()
    timer = threading.Timer(1.0, lambda: signal.pthread_kill(main, signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        model.fit(cp.asarray(data.X), data.env)
    elapsed = time.perf_counter() - start
    timer.join()
    assert elapsed < 5.0 and model.interrupted_ and model._adam_step > 0
    assert model._noise_offset % 3 == 0
    assert np.isfinite(model.transform(data.X, data.env)).all()


def test_gpu_fit_transform_returns_host_latents(cp, data, gpu_epochs):
    kw = dict(FAST, dtype="float64", random_state=3)
    model = IVAE(3, **kw)
    Z = model.fit_transform(cp.asarray(data.X), cp.asarray(data.env))
    assert isinstance(Z, np.ndarray)
    np.testing.assert_allclose(Z, model.transform(data.X, data.env), rtol=0, atol=0)
    np.testing.assert_allclose(Z, IVAE(3, **kw).fit_transform(data.X, data.env), atol=1e-8)
