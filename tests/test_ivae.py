"""fastcrl.crl.IVAE: exact ELBO gradients, training, persistence, determinism and input checks."""

import subprocess
import sys

import numpy as np
import pytest
from fastcrl._base import NotFittedError
from fastcrl.crl import IVAE
from fastcrl.crl.ivae import _Model, _one_cycle_lr
from fastcrl.datasets import make_nonstationary_sources
from fastcrl.metrics import mcc
from fastcrl.reference import nn as ref

FAST = dict(hidden=(16, 16), batch_size=64)


@pytest.fixture(scope="module")
def small():
    return make_nonstationary_sources(8, 150, 2, random_state=3)


@pytest.fixture(scope="module")
def fitted(small):
    return IVAE(2, max_epochs=4, random_state=0, **FAST).fit(small.X, small.env)


def tiny_model(posterior, activation, rng, D=3, K=3, d=2):
    model = _Model(D, K, d, (5,), activation, 0.2, posterior, 0.3, True, np.dtype(np.float64))
    model.params[...] = rng.normal(scale=0.5, size=model.n_params)
    n = 7
    seg = rng.integers(0, K, size=n)
    H = np.zeros((n, D + K))
    H[:, :D] = rng.normal(size=(n, D))
    H[np.arange(n), D + seg] = 1
    X = rng.normal(size=(n, D))
    eps = rng.normal(size=(n, d))
    return model, H, X, seg, eps


def reference_loss(model, H, X, seg, eps):
    """Mean negative ELBO from the NumPy reference kernels (an independent code path)."""
    enc, dec, d = model.enc, model.dec, model.d
    out = ref.mlp_forward(enc.params, H, enc.sizes, enc.activations, slope=enc.leaky_slope)
    mu, raw = out[:, :d], out[:, d:]
    pm, plv = model.prior_mean[seg], model.prior_logvar[seg]
    if model.full:
        z = ref.chol_gaussian_sample(mu, raw, eps)
        kl = ref.chol_gaussian_kl(mu, raw, pm, plv)
    else:
        z = ref.diag_gaussian_sample(mu, raw, eps)
        kl = ref.diag_gaussian_kl(mu, raw, pm, plv)
    xh = ref.mlp_forward(dec.params, z, dec.sizes, dec.activations, slope=dec.leaky_slope)
    rec = 0.5 * model.inv_var * ((xh - X) ** 2).sum(axis=1) + model.log_norm
    return float((rec + kl).mean())


@pytest.mark.parametrize("posterior", ["full", "diagonal"])
@pytest.mark.parametrize("activation", ["xtanh", "elu", "leaky_relu"])
def test_elbo_gradient_matches_finite_differences(posterior, activation):
    rng = np.random.default_rng(11)
    model, H, X, seg, eps = tiny_model(posterior, activation, rng)
    loss = model.loss_grad(H, X, seg, eps)
    assert loss == pytest.approx(reference_loss(model, H, X, seg, eps), rel=1e-12)
    grad = model.grad.copy()
    theta = model.params.copy()
    h = 1e-6
    fd = np.empty_like(theta)
    for i in range(theta.size):
        model.params[...] = theta
        model.params[i] += h
        up = reference_loss(model, H, X, seg, eps)
        model.params[i] -= 2 * h
        down = reference_loss(model, H, X, seg, eps)
        fd[i] = (up - down) / (2 * h)
    model.params[...] = theta
    for name, block in model.blocks.items():
        a, b = grad[block], fd[block]
        assert np.abs(b).max() > 1e-3, name  # every block really is exercised
        rel = np.abs(a - b).max() / np.abs(b).max()
        assert rel < 1e-6, (name, rel)


def test_prior_mean_gradient_is_zero_unless_learned():
    rng = np.random.default_rng(2)
    model, H, X, seg, eps = tiny_model("full", "xtanh", rng)
    model.learn_prior_mean = False
    model.loss_grad(H, X, seg, eps)
    assert not model.grad[model.blocks["prior_mean"]].any()
    assert np.abs(model.grad[model.blocks["prior_logvar"]]).max() > 0


def test_one_cycle_schedule_shape():
    lrs = [_one_cycle_lr(t, 100, 1.0) for t in range(100)]
    assert lrs[0] == pytest.approx(1 / 25)
    assert max(lrs) == pytest.approx(1.0, rel=1e-3)
    assert int(np.argmax(lrs)) == 30
    assert lrs[-1] == pytest.approx(1 / 2.5e5)


@pytest.mark.parametrize("posterior", ["full", "diagonal"])
def test_short_fit_improves_elbo_and_beats_chance(small, posterior):
    kw = dict(posterior=posterior, init="random", random_state=1, **FAST)
    untrained = IVAE(2, max_epochs=0, **kw).fit(small.X, small.env)
    model = IVAE(2, max_epochs=8, **kw).fit(small.X, small.env)
    assert model.score(small.X, small.env) > untrained.score(small.X, small.env) + 1.0
    h = model.history_
    assert len(h["loss"]) == model.n_iter_ == 8
    assert min(h["val_loss"]) < h["val_loss"][0]
    assert all(t > 0 for t in h["time"])
    Z = model.transform(small.X, small.env)
    noise = np.random.default_rng(0).normal(size=Z.shape)
    assert mcc(small.Z, Z) > 0.5 > mcc(small.Z, noise) + 0.2


def test_warm_start_sets_prior_and_beats_ica_on_nonlinear_data():
    data = make_nonstationary_sources(20, 300, 2, random_state=5)
    model = IVAE(2, max_epochs=15, random_state=0, hidden=(32, 32)).fit(data.X, data.env)
    assert model.ica_ is not None and model.pretrain_time_ > 0
    ica_mcc = mcc(data.Z, model.ica_.transform((data.X - model.mean_) / model.scale_))
    assert mcc(data.Z, model.transform(data.X, data.env)) > ica_mcc
    assert model.prior_logvar_.shape == (20, 2) and np.isfinite(model.prior_logvar_).all()
    assert not model.prior_mean_.any()


def test_outputs_shapes_and_types(fitted, small):
    Z = fitted.transform(small.X, small.env)
    assert Z.shape == (small.X.shape[0], 2) and Z.dtype == np.float64
    C = fitted.posterior_covariance(small.X[:5], small.env[:5])
    assert C.shape == (5, 2, 2)
    assert (np.linalg.eigvalsh(C) > 0).all()
    Xh = fitted.inverse_transform(Z[:5])
    assert Xh.shape == (5, small.X.shape[1])
    assert np.isfinite(fitted.score(small.X, small.env))
    # score uses a fixed noise stream: repeatable
    assert fitted.score(small.X, small.env) == fitted.score(small.X, small.env)


def test_determinism_under_random_state(small):
    a = IVAE(2, max_epochs=2, random_state=7, **FAST).fit(small.X, small.env)
    b = IVAE(2, max_epochs=2, random_state=7, **FAST).fit(small.X, small.env)
    c = IVAE(2, max_epochs=2, random_state=8, **FAST).fit(small.X, small.env)
    assert np.array_equal(a._model.params, b._model.params)
    assert not np.array_equal(a._model.params, c._model.params)


def test_save_load_round_trip_and_partial_fit_continues(tmp_path, small):
    model = IVAE(2, max_epochs=2, random_state=4, **FAST).fit(small.X, small.env)
    path = tmp_path / "ivae.npz"
    model.save(path)
    loaded = IVAE.load(path)
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.transform(small.X, small.env), model.transform(small.X, small.env))
    assert loaded.score(small.X, small.env) == model.score(small.X, small.env)
    assert loaded.history_ == model.history_
    before = model._model.params.copy()
    model.partial_fit(small.X, small.env, epochs=2)
    loaded.partial_fit(small.X, small.env, epochs=2)
    assert model.n_iter_ == 4 and len(model.history_["loss"]) == 4
    assert not np.array_equal(model._model.params, before)
    # the saved Adam and random-generator state make the continuation identical
    assert np.array_equal(model._model.params, loaded._model.params)


def test_partial_fit_on_unfitted_model_fits(small):
    model = IVAE(2, random_state=0, **FAST).partial_fit(small.X, small.env, epochs=2)
    assert model.n_iter_ == 2 and model.max_epochs == 60
    with pytest.raises(ValueError, match="not seen in fit"):
        model.partial_fit(small.X, small.env + 100)


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved fastcrl IVAE"):
        IVAE.load(path)


def test_keyboard_interrupt_leaves_usable_model(small, monkeypatch):
    calls = {"n": 0}
    original = _Model.loss_grad

    def interrupting(self, *args):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(_Model, "loss_grad", interrupting)
    model = IVAE(2, max_epochs=50, init="random", random_state=0, **FAST)
    with pytest.raises(KeyboardInterrupt):
        model.fit(small.X, small.env)
    assert model.interrupted_ and model.n_iter_ < 50
    Z = model.transform(small.X, small.env)
    assert np.isfinite(Z).all()


def test_float64_and_verbose(small, capsys):
    pytest.importorskip("tqdm")
    model = IVAE(2, max_epochs=1, dtype="float64", verbose=1, random_state=0, **FAST)
    model.fit(small.X, small.env)
    assert model._model.params.dtype == np.float64


def test_string_labels(small):
    u = np.array([f"seg{k}" for k in small.env])
    model = IVAE(2, max_epochs=1, random_state=0, **FAST).fit(small.X, u)
    assert model.transform(small.X[:3], u[:3]).shape == (3, 2)


class _FakeCuPy:
    __cuda_array_interface__ = {}


def test_bad_input(small, fitted):
    X, u = small.X, small.env
    with pytest.raises(ValueError, match="u must have shape"):
        IVAE(2).fit(X, u[:-1])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        IVAE(2).fit(bad, u)
    with pytest.raises(ValueError, match="NaN"):
        IVAE(2).fit(X, np.where(np.arange(u.size) == 0, np.nan, u.astype(float)))
    with pytest.raises(ValueError, match="at least 2 distinct segments"):
        IVAE(2).fit(X, np.zeros(len(X), dtype=int))
    with pytest.raises(ValueError, match="at least 10 rows"):
        IVAE(2).fit(X[:6], [0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="segment 1 has 2 row"):
        IVAE(2).fit(X[:12], [0] * 10 + [1] * 2)
    with pytest.raises(ValueError, match="n_latents must be <= 2"):
        IVAE(3).fit(X, u)
    with pytest.raises(ValueError, match="unknown posterior"):
        IVAE(2, posterior="lowrank").fit(X, u)
    with pytest.raises(ValueError, match="unknown init"):
        IVAE(2, init="pca").fit(X, u)
    with pytest.raises(ValueError, match="decoder_var"):
        IVAE(2, decoder_var=0).fit(X, u)
    with pytest.raises(ValueError, match="dtype"):
        IVAE(2, dtype="float16").fit(X, u)
    with pytest.raises(TypeError, match="GPU"):
        IVAE(2).fit(_FakeCuPy(), u)
    with pytest.raises(NotFittedError):
        IVAE(2).transform(X, u)
    with pytest.raises(ValueError, match="features"):
        fitted.transform(X[:, :1], u)
    with pytest.raises(ValueError, match="not seen in fit"):
        fitted.transform(X, u + 50)
    with pytest.raises(ValueError, match="u must have shape"):
        fitted.transform(X, u[:5])


def test_no_torch_import():
    code = "import fastcrl, fastcrl.crl, fastcrl.nn, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_save_with_generator_random_state(tmp_path, small):
    model = IVAE(2, max_epochs=1, random_state=np.random.default_rng(0), **FAST)
    model.fit(small.X, small.env)
    model.save(tmp_path / "g.npz")
    loaded = IVAE.load(tmp_path / "g.npz")
    assert loaded.random_state is None
    assert np.array_equal(loaded.transform(small.X, small.env), model.transform(small.X, small.env))
