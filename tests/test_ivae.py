"""fastcrl.crl.IVAE: exact ELBO gradients, training, persistence, determinism and input checks."""

import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from fastcrl import _core
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
    with pytest.raises(ValueError, match="not a valid fastcrl IVAE file: no 'metadata' array"):
        IVAE.load(path)


@pytest.fixture(scope="module")
def saved_file(tmp_path_factory, fitted):
    path = tmp_path_factory.mktemp("ivae") / "base.npz"
    fitted.save(path)
    return path


def _tampered(saved, path, edit_meta=None, **arrays):
    """A copy of ``saved`` with its metadata edited and arrays replaced (None: removed)."""
    with np.load(saved, allow_pickle=False) as f:
        contents = {k: f[k] for k in f.files}
    meta = json.loads(str(contents["metadata"]))
    if edit_meta is not None:
        edit_meta(meta)
    contents["metadata"] = np.array(json.dumps(meta))
    for k, v in arrays.items():
        if v is None:
            contents.pop(k)
        else:
            contents[k] = v
    np.savez(path, **contents)
    return path


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(meta):
        for k in keys[:-1]:
            meta = meta[k]
        meta[keys[-1]] = value

    return edit


def _pop(key):
    return lambda meta: meta.pop(key)


@pytest.mark.parametrize(
    "edit, arrays, message",
    [
        (None, dict(scale=np.zeros(2)), "'scale' must be > 0"),
        (None, dict(scale=np.full(2, np.nan)), "'scale' contains NaN"),
        (None, dict(mean=np.zeros(7)), "'mean' must be a float array of shape \\(2,\\)"),
        (None, dict(params="nan"), "'params' contains NaN or inf"),
        (None, dict(params="float64"), "'params' must have shape .* and dtype float32"),
        (None, dict(adam_m=np.zeros(3, np.float32)), "'adam_m' must have shape"),
        (None, dict(adam_v="negative"), "'adam_v' .* must be >= 0"),
        (None, dict(params=None), "missing array\\(s\\) \\['params'\\]"),
        (None, dict(segments=np.zeros((3, 1), int)), "'segments' must be a 1-D array"),
        (None, dict(segments=np.array([2, 1, 0])), "'segments' must be sorted"),
        (None, dict(segments=np.array([0.5, 1.5, 2.5])), "'segments' must be a 1-D array"),
        (_pop("format_version"), {}, "metadata lacks 'format_version'"),
        (_pop("history"), {}, "metadata lacks \\['history'\\]"),
        (_set("format", "x"), {}, "metadata format is 'x'"),
        (_set("format_version", "1"), {}, "format_version must be an integer"),
        (_set("params", "foo", 1), {}, "unknown parameter\\(s\\) \\['foo'\\]"),
        (_set("params", "decoder_var", -1), {}, "invalid parameter: decoder_var must be > 0"),
        (_set("params", "hidden", 8), {}, "hidden must be a list"),
        # checked before the model is built: no 100,000-wide network is allocated
        (_set("params", "hidden", [100_000, 100_000]), {}, "'params' holds .* values but the saved"),
        (_set("params", "dtype", None), {}, "dtype must be 'float32' or 'float64'"),
        (_set("params", "standardize", "no"), {}, "standardize must be true or false"),
        (_set("params", "random_state", -1), {}, "random_state must be null or an int"),
        (_set("params", "n_latents", 1), {}, "n_latents=1 but the model has 2 latents"),
        (_set("params", [1, 2]), {}, "params must be a JSON object"),
        (_set("n_latents", 5), {}, "n_latents must be <= 2"),
        (_set("n_features_in", 7), {}, "'mean' must be a float array of shape \\(7,\\)"),
        (_set("noise_offset", -5), {}, "noise_offset must be >= 0"),
        (_set("noise_offset", 2**64 + 5), {}, "noise_offset must be <="),
        (_set("noise_seed", "x"), {}, "noise_seed must be an integer"),
        (_set("adam_step", -3), {}, "adam_step must be >= 0"),
        (_set("best_epoch", 99), {}, "best_epoch must be <="),
        (_set("pretrain_time", "x"), {}, "pretrain_time must be a real number"),
        (_set("interrupted", 0), {}, "interrupted must be true or false"),
        (_set("history", None), {}, "history must be an object"),
        (_set("history", "loss", [1.0, "x"]), {}, "history\\['loss'\\] must be a list of numbers"),
        (_set("rng_name", "seed"), {}, "unknown rng_name 'seed'"),
        (_set("rng_name", "nonexistent"), {}, "unknown rng_name 'nonexistent'"),
        (_set("rng_name", "MT19937"), {}, "rng_state is not a valid MT19937 state"),
        (_set("rng_state", None), {}, "rng_state is not a valid PCG64 state"),
    ],
)
def test_load_checks_everything_it_reads(tmp_path, saved_file, edit, arrays, message):
    with np.load(saved_file) as f:
        params = f["params"]
    special = {
        "nan": np.full_like(params, np.nan),
        "float64": params.astype(np.float64),
        "negative": np.full_like(params, -1.0),
    }
    arrays = {k: special[v] if isinstance(v, str) else v for k, v in arrays.items()}
    path = _tampered(saved_file, tmp_path / "t.npz", edit, **arrays)
    state = np.random.get_state()  # noqa: NPY002 - the legacy global RNG is what is at stake
    with pytest.raises(
        ValueError, match="is not a valid fastcrl IVAE file: (metadata |parameter )?" + message
    ):
        IVAE.load(path)
    # a file's rng_name is never called (rng_name="seed" used to reseed NumPy's global RNG)
    after = np.random.get_state()  # noqa: NPY002
    assert state[0] == after[0] and np.array_equal(state[1], after[1])


def test_load_rejects_corrupt_files(tmp_path, saved_file):
    data = saved_file.read_bytes()
    valid = "is not a valid fastcrl IVAE file: "
    cases = {
        "garbage.npz": b"garbage" * 10,
        "empty.npz": b"",
        "truncated.npz": data[: len(data) // 2],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=valid + "not a readable .npz archive"):
            IVAE.load(tmp_path / name)
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(ValueError, match=valid + "it holds a single .npy array"):
        IVAE.load(tmp_path / "a.npy")
    with np.load(saved_file) as f:
        contents = {k: f[k] for k in f.files}
    for text, message in (("not json", "is not valid JSON"), ("[1, 2]", "must be a JSON object")):
        np.savez(tmp_path / "m.npz", **{**contents, "metadata": np.array(text)})
        with pytest.raises(ValueError, match=valid + "'metadata' " + message):
            IVAE.load(tmp_path / "m.npz")
    # a pickled (object) array is refused, never unpickled
    np.savez(tmp_path / "o.npz", **{**contents, "segments": np.array([0, "a"], dtype=object)})
    with pytest.raises(ValueError, match=valid + "array 'segments' cannot be read"):
        IVAE.load(tmp_path / "o.npz")
    # random damage: a ValueError naming the file, never a third-party error or a ResourceWarning
    rng = np.random.default_rng(0)
    for trial in range(150):
        damaged = bytearray(data)
        for _ in range(3):
            damaged[rng.integers(len(damaged))] = rng.integers(256)
        (tmp_path / "d.npz").write_bytes(bytes(damaged))
        try:
            IVAE.load(tmp_path / "d.npz")
        except ValueError as exc:
            assert valid in str(exc), trial
    with pytest.raises(FileNotFoundError):
        IVAE.load(tmp_path / "missing.npz")
    newer = _tampered(saved_file, tmp_path / "v.npz", _set("format_version", 99))
    with pytest.raises(ValueError, match="has format version 99; this fastcrl reads up to 1"):
        IVAE.load(newer)


def test_save_refuses_a_generator_it_could_not_restore(tmp_path, small):
    class OwnBitGenerator(np.random.PCG64):
        pass

    rng = np.random.Generator(OwnBitGenerator(0))
    model = IVAE(2, max_epochs=1, random_state=rng, **FAST).fit(small.X, small.env)
    with pytest.raises(TypeError, match="cannot save a random generator with bit generator"):
        model.save(tmp_path / "own.npz")
    # every NumPy bit generator is saved and restored (the array-valued states used to fail)
    for bitgen in (np.random.MT19937(1), np.random.Philox(1), np.random.SFC64(1)):
        model = IVAE(2, max_epochs=1, random_state=np.random.Generator(bitgen), **FAST)
        model.fit(small.X, small.env).save(tmp_path / "ok.npz")
        loaded = IVAE.load(tmp_path / "ok.npz")
        assert type(loaded._rng.bit_generator) is type(bitgen)
        assert loaded._rng.random() == model._rng.random()


def test_keyboard_interrupt_leaves_usable_model(small, monkeypatch):
    calls = {"n": 0}
    original = _Model.loss_grad

    def interrupting(self, *args):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(_Model, "loss_grad", interrupting)
    monkeypatch.setattr(IVAE, "_fused_cpu_epochs", False)  # the step-by-step loop calls loss_grad
    model = IVAE(2, max_epochs=50, init="random", random_state=0, **FAST)
    with pytest.raises(KeyboardInterrupt):
        model.fit(small.X, small.env)
    assert model.interrupted_ and model.n_iter_ < 50
    Z = model.transform(small.X, small.env)
    assert np.isfinite(Z).all()


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_ctrl_c_inside_a_fused_epoch_stops_quickly_and_keeps_counters(small):
    # batch 1: one epoch is ~1,000 kernel steps, so the signal lands inside the kernel's loop
    model = IVAE(2, max_epochs=1000, init="random", batch_size=1, hidden=(8,), random_state=0)
    main = threading.get_ident()
    timer = threading.Timer(0.5, lambda: signal.pthread_kill(main, signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        model.fit(small.X, small.env)
    elapsed = time.perf_counter() - start
    timer.join()
    assert elapsed < 3.0 and model.interrupted_
    # the steps that finished advanced the Adam step and the noise stream alike
    n_train = small.X.shape[0] - int(round(0.1 * small.X.shape[0]))
    epochs, partial = divmod(model._adam_step, n_train)
    assert model._adam_step > 0
    assert model._noise_offset == (epochs * n_train + partial) * 2
    assert np.isfinite(model.transform(small.X, small.env)).all()
    model.partial_fit(small.X, small.env, epochs=1)  # and training goes on from there


def test_fused_epochs_train_the_same_model_as_the_step_loop(small, monkeypatch):
    for dtype in ("float64", "float32"):
        for posterior, learn_mean in (("full", False), ("diagonal", True)):
            kw = dict(max_epochs=3, posterior=posterior, learn_prior_mean=learn_mean, dtype=dtype)
            fits = []
            for fused in (True, False):
                monkeypatch.setattr(IVAE, "_fused_cpu_epochs", fused)
                m = IVAE(2, random_state=4, **kw, **FAST).fit(small.X, small.env)
                m.partial_fit(small.X, small.env, epochs=1)
                fits.append(m)
            a, b = fits
            tol = 1e-12 if dtype == "float64" else 1e-5
            assert np.abs(a._model.params - b._model.params).max() <= tol * np.abs(
                b._model.params
            ).max(), (dtype, posterior)
            np.testing.assert_allclose(a.history_["loss"], b.history_["loss"], rtol=tol)
            assert a.history_["lr"] == b.history_["lr"]
            assert (a._adam_step, a._noise_offset) == (b._adam_step, b._noise_offset)


@pytest.mark.parametrize("posterior", ["full", "diagonal"])
def test_fused_loss_grad_matches_the_step_composition(posterior):
    rng = np.random.default_rng(2)
    model, H, _, seg, eps = tiny_model(posterior, "xtanh", rng)
    # the kernel reconstructs the first D columns of H (the observations)
    loss = model.loss_grad(H, H[:, : model.D].copy(), seg, eps)
    grad = model.grad.copy()
    out = np.full_like(grad, np.nan)
    X = H[:, : model.D].copy()  # the kernel takes the labels instead of the one-hot block
    fused = _core.ivae_loss_grad(model.shape, model.params, X, seg.astype(np.int64), eps, out)
    assert fused == pytest.approx(float(loss), rel=1e-13)
    np.testing.assert_allclose(out, grad, rtol=1e-12, atol=1e-14)


def test_fused_kernels_reject_bad_arguments():
    rng = np.random.default_rng(0)
    model, _, X, seg, eps = tiny_model("full", "tanh", rng)
    seg = seg.astype(np.int64)
    g = np.zeros_like(model.params)
    with pytest.raises(ValueError, match="outside"):
        _core.ivae_loss_grad(model.shape, model.params, X, seg + 5, eps, g)
    with pytest.raises(ValueError, match="X must have shape"):
        _core.ivae_loss_grad(model.shape, model.params, X[:, :-1].copy(), seg, eps, g)
    with pytest.raises(ValueError, match="eps must have shape"):
        _core.ivae_loss_grad(model.shape, model.params, X, seg, eps[:-1].copy(), g)
    m, v, progress = np.zeros_like(g), np.zeros_like(g), np.zeros(1, np.int64)
    order = np.arange(X.shape[0], dtype=np.int64)
    args = (model.shape, model.params, g, m, v, 0)
    with pytest.raises(ValueError, match="lrs must have shape"):
        _core.ivae_train_epoch(
            *args, np.ones(1), 0.9, 0.999, 1e-8, X, seg, order, 2, 1, 0, progress
        )
    with pytest.raises(ValueError, match="outside"):
        _core.ivae_train_epoch(
            *args, np.ones(4), 0.9, 0.999, 1e-8, X, seg, order + 100, 2, 1, 0, progress
        )
    with pytest.raises(ValueError, match="posterior must be"):
        _core.IVAEShape(model.enc.spec, model.dec.spec, 3, 3, 2, "mean-field", 0.3, False)
    with pytest.raises(ValueError, match="encoder must map"):
        _core.IVAEShape(model.enc.spec, model.dec.spec, 3, 4, 2, "full", 0.3, False)
    with pytest.raises(ValueError, match="decoder_var"):
        _core.IVAEShape(model.enc.spec, model.dec.spec, 3, 3, 2, "full", 0.0, False)


def test_transform_in_chunks_equals_row_by_row(small, fitted):
    X, u = np.tile(small.X, (4, 1)), np.tile(small.env, 4)  # 4,800 rows: two encoder chunks
    Z = fitted.transform(X, u)
    # float32 GEMMs round a row differently with the batch around it: equal to float32 rounding
    want = np.tile(fitted.transform(small.X, small.env), (4, 1))
    np.testing.assert_allclose(Z, want, rtol=1e-4, atol=1e-5)


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
