"""IVAE trained on the GPU (CuPy input) against the same fit on the CPU.

Same seed -> same split, minibatches and Philox noise, so in float64 the two fits agree to rounding
(latents, losses, prior table); in float32 they stay close.  Skipped with "no CUDA device" without
a usable GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastcrl.crl import IVAE
from fastcrl.datasets import make_nonstationary_sources
from fastcrl.metrics import mcc


@pytest.fixture(scope="module")
def data():
    return make_nonstationary_sources(8, 250, 3, random_state=11)


FAST = dict(hidden=(32, 32), batch_size=128, pretrain_epochs=2, max_epochs=4)


@pytest.mark.parametrize("posterior", ["full", "diagonal"])
def test_gpu_fit_matches_cpu_float64(cp, data, posterior):
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


def test_gpu_fit_float32_close(cp, data):
    kw = dict(FAST, random_state=4)
    cpu = IVAE(3, **kw).fit(data.X, data.env)
    gpu = IVAE(3, **kw).fit(cp.asarray(data.X), cp.asarray(data.env))
    np.testing.assert_allclose(gpu.history_["loss"], cpu.history_["loss"], rtol=1e-2)
    Z_cpu, Z_gpu = cpu.transform(data.X, data.env), gpu.transform(data.X, data.env)
    assert mcc(Z_cpu, Z_gpu) > 0.99
    assert mcc(data.Z, Z_gpu) > 0.5


def test_gpu_partial_fit_and_random_init(cp, data):
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
