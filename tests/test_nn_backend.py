"""Backend-generic parts of fastcrl.nn and of IVAE training, run on the CPU.

The IVAE training loop is written against an array module ``xp`` and a kernel set ``k`` with the
interface of ``fastcrl._core`` (``fastcrl._gpu_nn`` is the CUDA one).  Here a third kernel set built
from the pure-NumPy reference (:mod:`fastcrl.reference.nn`) is plugged into the same loop: if the
loop used anything beyond that interface, or relied on a side effect of the C++ kernels, the fits
would differ.  The GPU twins are compared with the CPU kernels in tests/gpu.
"""

from __future__ import annotations

import types

import fastcrl.crl.ivae as ivae_mod
import numpy as np
import pytest
from cupy_standin import DevArray as _DevArray
from cupy_standin import FakeCuPy as _FakeCuPy
from cupy_standin import dev as _dev
from cupy_standin import host as _host
from fastcrl import NumericalError, _core, nn
from fastcrl.crl import IVAE
from fastcrl.datasets import make_nonstationary_sources
from fastcrl.reference import nn as ref


class ReferenceKernels:
    """The ``fastcrl._core`` kernel interface implemented with fastcrl.reference.nn (NumPy)."""

    calls: dict[str, int]

    def __init__(self) -> None:
        self.calls = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def mlp_forward(self, spec, params, X, workspace, out=None, training=True, labels=None, nc=0):
        self._count("mlp_forward")
        if labels is not None:  # the one-hot block, built
            X = np.concatenate([X, np.eye(nc, dtype=X.dtype)[labels]], axis=1)
        y = ref.mlp_forward(
            params, X, list(spec.sizes), list(spec.activations), spec.leaky_slope, spec.elu_alpha
        )
        return y.astype(X.dtype)

    def mlp_backward(
        self, spec, params, X, workspace, grad_out, grad_params=None, need_grad_input=True,
        accumulate=False,
    ):  # fmt: skip
        self._count("mlp_backward")
        gp, gx = ref.mlp_backward(
            params, X, list(spec.sizes), list(spec.activations), grad_out, spec.leaky_slope,
            spec.elu_alpha,
        )  # fmt: skip
        if grad_params is None:
            grad_params = np.zeros_like(params)
        if accumulate:
            grad_params += gp
        else:
            grad_params[...] = gp
        return grad_params, (gx.astype(X.dtype) if need_grad_input else None)

    def adam_update(self, params, grads, m, v, step, lr, beta1, beta2, eps, wd, decoupled):
        self._count("adam_update")
        p2, m2, v2 = ref.adam_update(
            params, grads, m, v, step, lr, beta1, beta2, eps, wd, decoupled
        )
        params[...], m[...], v[...] = p2, m2, v2

    def random_normal_fill(self, out, seed, offset=0):
        self._count("random_normal_fill")
        out[...] = ref.random_normal(out.size, seed, offset).reshape(out.shape)

    def __getattr__(self, name):
        # the Gaussian kernels share names and signatures with the reference
        fn = getattr(ref, name)

        def call(*args):
            self._count(name)
            out = fn(*args)
            return tuple(np.asarray(o) for o in out) if isinstance(out, tuple) else np.asarray(out)

        return call


@pytest.fixture(scope="module")
def data():
    return make_nonstationary_sources(6, 60, 2, random_state=3)


FAST = dict(hidden=(12,), batch_size=64, pretrain_epochs=1, dtype="float64", n_iter_no_change=50)


def test_kernels_dispatch():
    assert nn.kernels(np) is _core
    with pytest.raises(TypeError, match="no fastcrl kernels"):
        nn.kernels(types.SimpleNamespace(__name__="jax.numpy"))


@pytest.mark.parametrize("posterior", ["full", "diagonal"])
def test_loss_grad_uses_only_the_kernel_interface(posterior):
    """One minibatch step: the C++ kernel set and the reference kernel set agree."""
    rng = np.random.default_rng(0)
    D, K, d, n = 3, 4, 2, 37
    models = []
    for kset in (_core, ReferenceKernels()):
        m = ivae_mod._Model(D, K, d, (8, 8), "tanh", 0.2, posterior, 0.05, True, np.dtype("f8"))
        m.params[...] = np.random.default_rng(1).normal(scale=0.3, size=m.n_params)
        m.k = kset
        models.append(m)
    seg = rng.integers(0, K, size=n)
    X = rng.normal(size=(n, D))
    H = np.zeros((n, D + K))
    H[:, :D] = X
    H[np.arange(n), D + seg] = 1
    eps = rng.normal(size=(n, d))
    losses = [m.loss_grad(H, X, seg, eps) for m in models]
    assert isinstance(losses[0], np.float64)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-12)
    np.testing.assert_allclose(models[0].grad, models[1].grad, rtol=1e-9, atol=1e-12)
    assert np.abs(models[0].grad).max() > 0
    np.testing.assert_allclose(
        models[0].elbo(H, X, seg, eps), models[1].elbo(H, X, seg, eps), rtol=1e-12
    )


def test_fit_with_reference_kernels_matches(data, monkeypatch):
    """A whole fit (warm start, minibatches, Adam, early stopping) through the generic loop."""
    monkeypatch.setattr(IVAE, "_fused_cpu_epochs", False)  # both fits step by step
    base = IVAE(2, max_epochs=3, random_state=5, **FAST).fit(data.X, data.env)
    kset = ReferenceKernels()
    monkeypatch.setattr(ivae_mod, "_core", kset)
    other = IVAE(2, max_epochs=3, random_state=5, **FAST).fit(data.X, data.env)
    monkeypatch.setattr(ivae_mod, "_core", _core)
    for name in ("mlp_forward", "mlp_backward", "adam_update", "random_normal_fill"):
        assert kset.calls.get(name, 0) > 0, name
    assert kset.calls.get("chol_gaussian_kl_backward", 0) > 0
    np.testing.assert_allclose(base.history_["loss"], other.history_["loss"], rtol=1e-7)
    np.testing.assert_allclose(
        base.transform(data.X, data.env), other.transform(data.X, data.env), rtol=1e-6, atol=1e-8
    )
    assert base.best_epoch_ == other.best_epoch_
    # and the default CPU fit (whole epochs in C++: ivae_train_epoch, mlp_regression_epoch) follows
    # the pure-NumPy reference kernels just as closely
    monkeypatch.setattr(IVAE, "_fused_cpu_epochs", True)
    fused = IVAE(2, max_epochs=3, random_state=5, **FAST).fit(data.X, data.env)
    np.testing.assert_allclose(fused.history_["loss"], other.history_["loss"], rtol=1e-7)
    np.testing.assert_allclose(fused.history_["val_loss"], other.history_["val_loss"], rtol=1e-7)
    np.testing.assert_allclose(
        fused.transform(data.X, data.env), other.transform(data.X, data.env), rtol=1e-6, atol=1e-8
    )


def test_model_to_numpy_is_identity():
    m = ivae_mod._Model(2, 3, 2, (4,), "elu", 0.2, "diagonal", 0.1, False, np.dtype("f4"))
    p = m.params
    m.to(np)
    assert m.params is p and m.k is _core and m.xp is np
    # the MLP and prior views still point into the flat vector
    m.prior_logvar[...] = 1.5
    assert np.all(p[m.blocks["prior_logvar"]] == 1.5)
    m.enc.params[0] = 7
    assert p[0] == 7


class _FakeDeviceArray:
    """Claims to live on a GPU; nothing can read it without CuPy."""

    __cuda_array_interface__ = {"version": 3, "shape": (2, 2), "typestr": "<f8", "data": (0, False)}


def test_device_arrays_without_cupy_raise_clearly():
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("CuPy is installed: the CPU-only error path is not reachable")
    with pytest.raises(TypeError, match="CuPy is not installed"):
        nn.diag_gaussian_logpdf(_FakeDeviceArray(), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="GPU"):
        IVAE(2).fit(_FakeDeviceArray(), [0, 1])
    with pytest.raises(TypeError, match="CuPy is not installed"):
        nn.random_normal(3, seed=0, like=_FakeDeviceArray())


def test_random_like_numpy_is_the_host_stream():
    a = nn.random_normal((2, 3), seed=4, like=np.zeros(1))
    np.testing.assert_array_equal(a, nn.random_normal((2, 3), seed=4))


# ---- the GPU code path of IVAE, run on the CPU with a stand-in for CuPy -------------------------


class _HostKernelsOnDevArrays:
    """The C++ kernels behind the _gpu_nn interface: device in, device out."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name):
        fn = getattr(_core, name)

        # the host arguments of the fused epoch: learning rates in, step count out
        host_args = {"ivae_train_epoch": {6, 16}, "mlp_regression_epoch": {15}}.get(name, set())

        def call(*args):
            self.calls += 1
            # the loop must never hand a host array to the device kernels
            for i, a in enumerate(args):
                if i not in host_args:
                    assert not isinstance(a, np.ndarray) or isinstance(a, _DevArray), name
            out = fn(*(_host(a) for a in args))
            return tuple(_dev(o) for o in out) if isinstance(out, tuple) else _dev(out)

        return call


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("posterior", ["full", "diagonal"])
def test_ivae_gpu_path_runs_the_same_fit(data, monkeypatch, posterior, fused):
    """fit(device X) takes the GPU branch (device data, model moved, per-epoch loss check, model
    brought back); with the C++ kernels behind it the result equals the NumPy fit bit for bit,
    through the step-by-step loop and through the fused epoch alike."""
    import sys

    monkeypatch.setattr(IVAE, "_fused_cpu_epochs", fused)
    monkeypatch.setattr(IVAE, "_fused_gpu_epochs", fused)

    kw = dict(FAST, max_epochs=3, random_state=8, posterior=posterior)
    base = IVAE(2, **kw).fit(data.X, data.env)
    base2 = IVAE(2, **kw).fit(data.X, data.env).partial_fit(data.X, data.env, epochs=1)
    fake = _FakeCuPy()
    kset = _HostKernelsOnDevArrays()
    real_kernels = ivae_mod.kernels
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(ivae_mod, "require_cuda", lambda what: None)
    monkeypatch.setattr(ivae_mod, "kernels", lambda xp: kset if xp is fake else real_kernels(xp))
    Xd = _dev(np.array(data.X))
    dev = IVAE(2, **kw).fit(Xd, data.env)
    assert kset.calls > 0
    assert isinstance(dev._model.params, np.ndarray) and not isinstance(
        dev._model.params, _DevArray
    )
    assert not isinstance(dev._m, _DevArray) and dev._model.k is _core
    assert dev.history_["loss"] == base.history_["loss"]
    assert dev.history_["val_loss"] == base.history_["val_loss"]
    np.testing.assert_array_equal(dev._model.params, base._model.params)
    np.testing.assert_array_equal(dev.prior_logvar_, base.prior_logvar_)
    dev.partial_fit(Xd, _dev(np.array(data.env)), epochs=1)
    np.testing.assert_array_equal(dev._model.params, base2._model.params)
    with pytest.raises(TypeError, match="GPU"):
        dev.transform(Xd, data.env)


@pytest.mark.parametrize("error", [None, KeyboardInterrupt()])
def test_gpu_regression_epoch_front_end_returns(monkeypatch, error):
    """_gpu_nn.mlp_regression_epoch's Python side (the kernel call stubbed): progress set, the
    loss sum returned, a signal handler's exception re-raised."""
    import sys

    from fastcrl import _gpu_nn

    class _Stub:
        @staticmethod
        def nn_regression_workspace_elems(sizes, acts, batch):
            return 1

        @staticmethod
        def nn_mlp_regression_epoch(*args):
            return 3, error

    monkeypatch.setitem(sys.modules, "cupy", _FakeCuPy())
    monkeypatch.setattr(_gpu_nn, "_cuda", lambda: _Stub)
    monkeypatch.setattr(_gpu_nn, "_ptr", lambda a: 0)
    monkeypatch.setattr(_gpu_nn, "current_stream_ptr", lambda: 0)
    net = nn.MLP([3, 4, 2], dtype="float64", random_state=0)
    p = _dev(net.params.copy())
    g, m, v = (_dev(np.zeros_like(net.params)) for _ in range(3))
    X, Y = _dev(np.zeros((5, 3))), _dev(np.zeros((5, 2)))
    progress = np.zeros(1, dtype=np.int64)
    args = (net.spec, p, g, m, v, 0, 1e-3, 0.9, 0.999, 1e-8, X, Y, _dev(np.arange(5)), 2, True)
    if error is None:
        total = _gpu_nn.mlp_regression_epoch(*args, progress)
        assert float(total) == 0.0
    else:
        with pytest.raises(KeyboardInterrupt):
            _gpu_nn.mlp_regression_epoch(*args, progress)
    assert progress[0] == 3


def test_ivae_device_warm_start_reports_divergence(data, monkeypatch):
    """The device's fused pretraining epoch cannot raise mid-epoch; a non-finite epoch loss must
    still stop the fit with a clear error instead of training on from NaN weights."""
    import sys

    monkeypatch.setattr(IVAE, "_fused_gpu_epochs", True)
    fake = _FakeCuPy()

    class _Diverging(_HostKernelsOnDevArrays):
        def __getattr__(self, name):
            call = super().__getattr__(name)
            if name != "mlp_regression_epoch":
                return call
            return lambda *args: (call(*args), _dev(np.array(np.nan)))[1]

    kset = _Diverging()
    real_kernels = ivae_mod.kernels
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(ivae_mod, "require_cuda", lambda what: None)
    monkeypatch.setattr(ivae_mod, "kernels", lambda xp: kset if xp is fake else real_kernels(xp))
    with pytest.raises(NumericalError, match="warm start diverged"):
        IVAE(2, **dict(FAST, max_epochs=2, random_state=0)).fit(_dev(np.array(data.X)), data.env)
