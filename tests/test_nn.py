"""fastcrl.nn kernels vs the NumPy reference, finite-difference gradient checks, RNG and Adam."""

import fastcrl
import numpy as np
import pytest
from fastcrl import _core, nn
from fastcrl.reference import nn as ref

ACTS = ["identity", "leaky_relu", "tanh", "xtanh", "elu"]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}


def rel_err(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300)


def make_net(sizes, act, dtype, seed, slope=0.1):
    net = nn.MLP(
        sizes,
        activation=act,
        output_activation="identity",
        leaky_slope=slope,
        dtype=dtype,
        random_state=seed,
    )
    # Non-zero biases so the bias path is exercised.
    for _, b in net.unpack():
        b[...] = np.random.default_rng(seed + 1).normal(0, 0.3, size=b.shape)
    return net


# ---- MLP vs reference --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize(
    "sizes,n", [([10, 100, 100, 10], 64), ([3, 1], 1), ([2, 7, 5, 9, 4], 3), ([50, 20, 30], 5)]
)
def test_mlp_matches_reference(rng, dtype, act, sizes, n):
    net = make_net(sizes, act, dtype, 3)
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    G = rng.normal(size=(n, sizes[-1])).astype(dtype)
    out = net.forward(X)
    p64, X64, G64 = (a.astype(np.float64) for a in (net.params, X, G))
    r_out = ref.mlp_forward(p64, X64, sizes, net.activations, slope=0.1)
    np.testing.assert_allclose(out, r_out, **TOL[dtype])
    gp, gx = net.backward(G)
    r_gp, r_gx = ref.mlp_backward(p64, X64, sizes, net.activations, G64, slope=0.1)
    assert rel_err(gp, r_gp) < TOL[dtype]["rtol"] * 10
    assert rel_err(gx, r_gx) < TOL[dtype]["rtol"] * 10
    assert gp.dtype == dtype and gx.dtype == dtype and out.dtype == dtype


def test_mlp_per_layer_activations_and_inference_mode(rng):
    acts = ["elu", "xtanh", "tanh"]
    net = nn.MLP([4, 6, 5, 3], activation=acts, dtype="float64", random_state=0)
    X = rng.normal(size=(8, 4))
    np.testing.assert_allclose(
        net.forward(X, training=False), ref.mlp_forward(net.params, X, net.sizes, acts), rtol=1e-12
    )
    with pytest.raises(RuntimeError, match="before backward"):
        net.backward(np.ones((8, 3)))


def test_mlp_accumulate_and_no_input_grad(rng):
    net = make_net([5, 8, 2], "tanh", np.float64, 1)
    X, G = rng.normal(size=(6, 5)), rng.normal(size=(6, 2))
    net.forward(X)
    g1 = net.backward(G)[0].copy()
    gp, gx = net.backward(G, accumulate=True, need_grad_input=False)
    assert gx is None
    np.testing.assert_allclose(gp, 2 * g1, rtol=1e-14)


def test_mlp_layout_pack_unpack():
    net = nn.MLP([3, 4, 2], dtype="float64", random_state=0)
    layers = net.unpack()
    assert [W.shape for W, _ in layers] == [(3, 4), (4, 2)]
    assert net.n_params == 3 * 4 + 4 + 4 * 2 + 2
    assert np.shares_memory(layers[0][0], net.params)
    np.testing.assert_array_equal(net.pack(layers), net.params)
    np.testing.assert_array_equal(ref.pack(ref.unpack(net.params, net.sizes)), net.params)
    # Seeded init: same seed same params, bounds respected, biases zero.
    other = nn.MLP([3, 4, 2], dtype="float64", random_state=0)
    np.testing.assert_array_equal(other.params, net.params)
    W0 = layers[0][0]
    assert np.abs(W0).max() <= np.sqrt(6 / ((1 + 0.01**2) * 3))
    assert np.all(layers[0][1] == 0)


def test_mlp_parallel_elementwise_matches_serial(rng):
    """Large enough for the OpenMP path of the fused bias+activation kernel."""
    net = make_net([20, 100, 3], "tanh", np.float64, 2)
    X = rng.normal(size=(16384, 20))
    old = fastcrl.get_num_threads()
    try:
        fastcrl.set_num_threads(1)
        a = net.forward(X).copy()
        fastcrl.set_num_threads(2)
        b = net.forward(X)
    finally:
        fastcrl.set_num_threads(old)
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(
        a, ref.mlp_forward(net.params, X, net.sizes, net.activations, 0.1), rtol=1e-10, atol=1e-12
    )


# ---- finite differences (float64) -------------------------------------------------------------------


def fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    flat, gf = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        gf[i] = (fp - fm) / (2 * h)
    return g


@pytest.mark.parametrize("act", ACTS)
def test_mlp_gradients_finite_differences(act):
    r = np.random.default_rng(11)
    net = make_net([3, 5, 4, 2], act, np.float64, 4)
    # Keep pre-activations away from the kinks of leaky_relu / elu at 0.
    X = r.normal(size=(4, 3))
    R = r.normal(size=(4, 2))

    def loss():
        return float(np.sum(net.forward(X, training=False) * R))

    net.forward(X)
    gp, gx = net.backward(R)
    gp, gx = gp.copy(), gx.copy()
    fd_p = fd_grad(loss, net.params)
    fd_x = fd_grad(loss, X)
    for li, ((gW, gb), (fW, fb)) in enumerate(zip(net.unpack(gp), net.unpack(fd_p), strict=False)):
        assert rel_err(gW, fW) < 1e-6, f"W_{li}"
        assert rel_err(gb, fb) < 1e-6, f"b_{li}"
    assert rel_err(gx, fd_x) < 1e-6


# ---- Gaussians ------------------------------------------------------------------------------------------


def gauss_inputs(r, n, d, dtype):
    x, mu, mp = (r.normal(size=(n, d)).astype(dtype) for _ in range(3))
    lv, lvp = (r.normal(0, 0.5, size=(n, d)).astype(dtype) for _ in range(2))
    raw = (r.normal(0, 0.5, size=(n, d * (d + 1) // 2))).astype(dtype)
    eps = r.normal(size=(n, d)).astype(dtype)
    g = r.normal(size=n).astype(dtype)
    return x, mu, lv, mp, lvp, raw, eps, g


def _cases(x, mu, lv, mp, lvp, raw, eps, g, tr):
    """(name, kernel fwd, reference fwd, inputs, kernel bwd, reference bwd, upstream)."""
    return [
        (
            "diag_logpdf",
            nn.diag_gaussian_logpdf,
            ref.diag_gaussian_logpdf,
            (x, mu, lv),
            nn.diag_gaussian_logpdf_backward,
            ref.diag_gaussian_logpdf_backward,
            g,
        ),
        (
            "diag_kl",
            nn.diag_gaussian_kl,
            ref.diag_gaussian_kl,
            (mu, lv, mp, lvp),
            nn.diag_gaussian_kl_backward,
            ref.diag_gaussian_kl_backward,
            g,
        ),
        (
            "chol_logpdf",
            lambda *a: nn.chol_gaussian_logpdf(*a, transform=tr),
            lambda *a: ref.chol_gaussian_logpdf(*a, transform=tr),
            (x, mu, raw),
            lambda *a: nn.chol_gaussian_logpdf_backward(*a, transform=tr),
            lambda *a: ref.chol_gaussian_logpdf_backward(*a, transform=tr),
            g,
        ),
        (
            "chol_kl",
            lambda *a: nn.chol_gaussian_kl(*a, transform=tr),
            lambda *a: ref.chol_gaussian_kl(*a, transform=tr),
            (mu, raw, mp, lvp),
            lambda *a: nn.chol_gaussian_kl_backward(*a, transform=tr),
            lambda *a: ref.chol_gaussian_kl_backward(*a, transform=tr),
            g,
        ),
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("tr", ["exp", "softplus"])
@pytest.mark.parametrize("n,d", [(7, 1), (5, 4), (3, 9)])
def test_gaussians_match_reference(rng, dtype, tr, n, d):
    x, mu, lv, mp, lvp, raw, eps, g = gauss_inputs(rng, n, d, dtype)
    up = lambda a: tuple(v.astype(np.float64) for v in a)  # noqa: E731
    for name, f, rf, args, b, rb, gg in _cases(x, mu, lv, mp, lvp, raw, eps, g, tr):
        out = f(*args)
        assert out.dtype == dtype, name
        np.testing.assert_allclose(out, rf(*up(args)), err_msg=name, **TOL[dtype])
        for k, (got, want) in enumerate(
            zip(b(*args, gg), rb(*up(args), gg.astype(np.float64)), strict=False)
        ):
            assert rel_err(got, want) < 10 * TOL[dtype]["rtol"], f"{name} grad {k}"
    # Reparameterisation.
    np.testing.assert_allclose(
        nn.diag_gaussian_sample(mu, lv, eps),
        ref.diag_gaussian_sample(*up((mu, lv, eps))),
        **TOL[dtype],
    )
    np.testing.assert_allclose(
        nn.chol_gaussian_sample(mu, raw, eps, tr),
        ref.chol_gaussian_sample(*up((mu, raw, eps)), transform=tr),
        **TOL[dtype],
    )
    for got, want in zip(
        nn.chol_gaussian_sample_backward(raw, eps, x, tr),
        ref.chol_gaussian_sample_backward(*up((raw, eps, x)), transform=tr),
        strict=False,
    ):
        assert rel_err(got, want) < 10 * TOL[dtype]["rtol"]
    np.testing.assert_allclose(
        nn.cholesky_unpack(raw, d, tr), ref.cholesky_unpack(up((raw,))[0], d, tr), **TOL[dtype]
    )


@pytest.mark.parametrize("tr", ["exp", "softplus"])
def test_gaussian_gradients_finite_differences(tr):
    r = np.random.default_rng(5)
    x, mu, lv, mp, lvp, raw, eps, g = gauss_inputs(r, 3, 3, np.float64)
    for name, f, _, args, b, _, gg in _cases(x, mu, lv, mp, lvp, raw, eps, g, tr):
        grads = b(*args, gg)
        for k, a in enumerate(args):
            fd = fd_grad(lambda: float(np.sum(gg * f(*args))), a)  # noqa: B023
            assert rel_err(grads[k], fd) < 1e-6, f"{name} arg {k}"
    gz = r.normal(size=mu.shape)
    for name, f, b, args in [
        (
            "diag_sample",
            lambda m, v: nn.diag_gaussian_sample(m, v, eps),
            lambda m, v: nn.diag_gaussian_sample_backward(v, eps, gz),
            (mu, lv),
        ),
        (
            "chol_sample",
            lambda m, w: nn.chol_gaussian_sample(m, w, eps, tr),
            lambda m, w: nn.chol_gaussian_sample_backward(w, eps, gz, tr),
            (mu, raw),
        ),
    ]:
        grads = b(*args)
        for k, a in enumerate(args):
            fd = fd_grad(lambda: float(np.sum(gz * f(*args))), a)  # noqa: B023
            assert rel_err(grads[k], fd) < 1e-6, f"{name} arg {k}"


def test_gaussian_identities(rng):
    """Cholesky with diagonal L equals the diagonal Gaussian; KL(q||q) = 0; prior broadcasts."""
    n, d = 6, 3
    mu, x = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    lv = rng.normal(size=(n, d))
    raw = np.zeros((n, d * (d + 1) // 2))
    raw[:, np.arange(d) * (np.arange(d) + 3) // 2] = 0.5 * lv  # exp(raw_ii) = sigma_i
    np.testing.assert_allclose(
        nn.chol_gaussian_logpdf(x, mu, raw), nn.diag_gaussian_logpdf(x, mu, lv), rtol=1e-12
    )
    np.testing.assert_allclose(
        nn.chol_gaussian_kl(mu, raw, 0.0, 0.0), nn.diag_gaussian_kl(mu, lv), rtol=1e-12
    )
    np.testing.assert_allclose(nn.diag_gaussian_kl(mu, lv, mu, lv), 0, atol=1e-12)
    np.testing.assert_allclose(
        nn.diag_gaussian_kl(mu, lv, np.zeros(d), np.zeros(d)), nn.diag_gaussian_kl(mu, lv)
    )


# ---- Adam -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("wd,decoupled", [(0.0, False), (0.1, False), (0.1, True)])
def test_adam_matches_reference(rng, dtype, wd, decoupled):
    p = rng.normal(size=1000).astype(dtype)
    opt = nn.Adam(p, lr=1e-2, weight_decay=wd, decoupled=decoupled)
    rp, rm, rv = p.astype(np.float64), np.zeros(1000), np.zeros(1000)
    for step in range(1, 6):
        g = rng.normal(size=1000).astype(dtype)
        opt.step(g)
        rp, rm, rv = ref.adam_update(
            rp, g.astype(np.float64), rm, rv, step, lr=1e-2, weight_decay=wd, decoupled=decoupled
        )
    np.testing.assert_allclose(p, rp, **TOL[dtype])
    np.testing.assert_allclose(opt.m, rm, **TOL[dtype])


def test_training_smoke(rng):
    """MLP + Adam fits a smooth function: the loss drops by 10x."""
    X = rng.uniform(-2, 2, size=(256, 2))
    Y = np.sin(X[:, :1]) * X[:, 1:]
    net = nn.MLP([2, 32, 32, 1], activation="xtanh", dtype="float64", random_state=0)
    opt = nn.Adam(net.params, lr=1e-2)
    losses = []
    for _ in range(300):
        out = net.forward(X)
        losses.append(np.mean((out - Y) ** 2))
        opt.step(net.backward(2 * (out - Y) / len(X), need_grad_input=False)[0])
    assert losses[-1] < losses[0] / 10


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["leaky_relu", "tanh"])
def test_mse_step_matches_reference_training(rng, dtype, act):
    """The fused step equals the NumPy reference's forward, MSE gradient, backward and Adam, step by
    step, with and without a row selection."""
    X = rng.normal(size=(200, 4)).astype(dtype)
    Y = rng.normal(size=(200, 3)).astype(dtype)
    net = nn.MLP([4, 12, 12, 3], activation=act, dtype=dtype, random_state=0)
    opt = nn.Adam(net.params, lr=1e-2)
    p, m, v = net.params.astype(np.float64), np.zeros(net.n_params), np.zeros(net.n_params)
    for step in range(1, 6):
        rows = rng.permutation(200)[:50] if step % 2 else None
        xb, yb = (X, Y) if rows is None else (X[rows], Y[rows])
        loss = net.mse_step(X, Y, opt, rows=rows)
        xb64, yb64 = xb.astype(np.float64), yb.astype(np.float64)
        out = ref.mlp_forward(p, xb64, net.sizes, net.activations)
        ref_loss = np.mean((out - yb64) ** 2)
        g, _ = ref.mlp_backward(p, xb64, net.sizes, net.activations, 2 * (out - yb64) / out.size)
        p, m, v = ref.adam_update(p, g, m, v, step, lr=1e-2)
        assert loss == pytest.approx(ref_loss, **{"rel": TOL[dtype]["rtol"] * 10})
        np.testing.assert_allclose(net.params, p, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)
    assert opt.step_count == 5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mean_over_outputs", [True, False])
def test_regression_epoch_equals_its_steps(rng, dtype, mean_over_outputs):
    """mlp_regression_epoch = the fused step over consecutive batches of `order` (last one short);
    mean_over_outputs=False divides the squared error by the rows only (the loss is d_out times
    the MSE; Adam then takes nearly the same steps)."""
    X = rng.normal(size=(230, 4)).astype(dtype)
    Y = rng.normal(size=(230, 3)).astype(dtype)
    nets = [nn.MLP([4, 12, 3], activation="tanh", dtype=dtype, random_state=0) for _ in range(2)]
    order = rng.permutation(230)
    opt = nn.Adam(nets[0].params, lr=1e-2)
    expected = 0.0
    for s in range(0, 230, 64):
        rows = order[s : s + 64]
        if mean_over_outputs:
            expected += rows.size * nets[0].mse_step(X, Y, opt, rows=rows)
        else:  # the reference: per-row squared error averaged over rows, then Adam
            net = nets[0]
            out = net.forward(X[rows])
            expected += float(((out - Y[rows]).astype(np.float64) ** 2).sum())
            g_out = (2 * (out - Y[rows]) / rows.size).astype(dtype)
            opt.step(net.backward(g_out, need_grad_input=False)[0])
    net = nets[1]
    m, v, grad = (np.zeros(net.n_params, dtype=dtype) for _ in range(3))
    progress = np.zeros(1, dtype=np.int64)
    total = _core.mlp_regression_epoch(
        net.spec, net.params, grad, m, v, 0, 1e-2, 0.9, 0.999, 1e-8, X, Y, order.astype(np.int64),
        64, mean_over_outputs, progress,
    )  # fmt: skip
    assert progress[0] == 4
    tol = TOL[dtype]["rtol"] * 10
    assert total == pytest.approx(expected, rel=tol)
    np.testing.assert_allclose(net.params, nets[0].params, rtol=tol, atol=TOL[dtype]["atol"] * 10)
    with pytest.raises(ValueError, match="outside"):
        _core.mlp_regression_epoch(
            net.spec, net.params, grad, m, v, 0, 1e-2, 0.9, 0.999, 1e-8, X, Y,
            np.array([0, 230], dtype=np.int64), 64, True, progress,
        )  # fmt: skip
    with pytest.raises(ValueError, match="Y must have shape"):
        _core.mlp_regression_epoch(
            net.spec, net.params, grad, m, v, 0, 1e-2, 0.9, 0.999, 1e-8, X, Y[:5],
            order.astype(np.int64), 64, True, progress,
        )  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_regression_epoch_with_a_one_hot_input(rng, dtype):
    """labels + n_classes: the network reads [X, onehot(labels)] without it being built; the epoch
    equals the one on the materialised input (the same steps; sums in another order)."""
    n, D, C = 200, 3, 7
    X = rng.normal(size=(n, D)).astype(dtype)
    labels = rng.integers(0, C, size=n).astype(np.int64)
    H = np.zeros((n, D + C), dtype=dtype)
    H[:, :D] = X
    H[np.arange(n), D + labels] = 1
    Y = (np.sin(X[:, :2]) + labels[:, None] / C).astype(dtype)
    order = rng.permutation(n).astype(np.int64)
    results = []
    for onehot in (False, True):
        net = nn.MLP([D + C, 16, 2], activation="xtanh", dtype=dtype, random_state=1)
        m, v, grad = (np.zeros(net.n_params, dtype=dtype) for _ in range(3))
        progress = np.zeros(1, dtype=np.int64)
        extra = (labels, C) if onehot else (None, 0)
        total = 0.0
        for epoch in range(3):
            total = _core.mlp_regression_epoch(
                net.spec, net.params, grad, m, v, 4 * epoch, 1e-2, 0.9, 0.999, 1e-8,
                X if onehot else H, Y, order, 64, False, progress, 0.0, False, *extra,
            )  # fmt: skip
        results.append((net.params.copy(), total))
    (p_dense, t_dense), (p_hot, t_hot) = results
    tol = 1e-11 if dtype == np.float64 else 1e-4
    assert t_hot == pytest.approx(t_dense, rel=tol)
    np.testing.assert_allclose(p_hot, p_dense, rtol=tol, atol=tol)
    args = (net.spec, net.params, grad, m, v, 0, 1e-2, 0.9, 0.999, 1e-8)
    with pytest.raises(ValueError, match="labels"):
        _core.mlp_regression_epoch(
            *args, X, Y, order, 64, False, progress, 0.0, False, labels + C, C
        )  # fmt: skip
    with pytest.raises(ValueError, match="X must have shape"):
        _core.mlp_regression_epoch(*args, H, Y, order, 64, False, progress, 0.0, False, labels, C)
    with pytest.raises(ValueError, match="n_classes"):
        _core.mlp_regression_epoch(
            *args, X[:, :0].copy(), Y, order, 64, False, progress, 0.0, False, labels, D + C
        )  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_with_a_one_hot_input(rng, dtype):
    n, D, C = 50, 3, 6
    X = rng.normal(size=(n, D)).astype(dtype)
    labels = rng.integers(0, C, size=n).astype(np.int64)
    H = np.concatenate([X, np.eye(C, dtype=dtype)[labels]], axis=1)
    net = nn.MLP([D + C, 9, 2], activation="tanh", dtype=dtype, random_state=0)
    ws = np.empty(net.spec.workspace_size(n), dtype=dtype)
    want = _core.mlp_forward(net.spec, net.params, H, ws, None, False)
    got = _core.mlp_forward(net.spec, net.params, X, ws, None, False, labels, C)
    np.testing.assert_allclose(got, want, **TOL[dtype])
    with pytest.raises(ValueError, match="labels"):
        _core.mlp_forward(net.spec, net.params, X, ws, None, False, labels + C, C)
    with pytest.raises(ValueError, match="X must have shape"):
        _core.mlp_forward(net.spec, net.params, H, ws, None, False, labels, C)
    with pytest.raises(ValueError, match="n_classes"):
        _core.mlp_forward(net.spec, net.params, X, ws, None, False, labels, D + C)


def test_mlp_with_labels_equals_the_one_hot_matrix(rng):
    """MLP.forward/backward/mse_step/train_epoch with labels = the same on [X, onehot(labels)]."""
    n, D, C = 120, 3, 5
    X = rng.normal(size=(n, D))
    labels = rng.integers(0, C, size=n)
    H = np.concatenate([X, np.eye(C)[labels]], axis=1)
    Y = rng.normal(size=(n, 2))
    a = nn.MLP([D + C, 12, 2], activation="xtanh", dtype="float64", random_state=1)
    b = nn.MLP([D + C, 12, 2], activation="xtanh", dtype="float64", random_state=1)
    np.testing.assert_allclose(a.forward(X, labels=labels), b.forward(H), rtol=1e-12, atol=1e-14)
    g = rng.normal(size=(n, 2))
    ga, gxa = a.backward(g)
    gb, gxb = b.backward(g)
    np.testing.assert_allclose(ga, gb, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gxa, gxb[:, :D], rtol=1e-12, atol=1e-14)  # the dense columns only
    opt_a, opt_b = nn.Adam(a.params, lr=1e-2), nn.Adam(b.params, lr=1e-2)
    rows = rng.permutation(n)[:40]
    la = a.mse_step(X, Y, opt_a, rows=rows, labels=labels)
    lb = b.mse_step(H, Y, opt_b, rows=rows)
    assert la == pytest.approx(lb, rel=1e-12)
    ea = a.train_epoch(X, Y, opt_a, batch_size=32, random_state=0, labels=labels)
    eb = b.train_epoch(H, Y, opt_b, batch_size=32, random_state=0)
    assert ea == pytest.approx(eb, rel=1e-12)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-11, atol=1e-13)
    with pytest.raises(ValueError, match="labels must have shape"):
        a.forward(X, labels=labels[:-1])
    with pytest.raises(TypeError, match="labels must hold integers"):
        a.forward(X, labels=labels.astype(float))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\)"):
        a.forward(X, labels=labels + 1)
    with pytest.raises(ValueError, match="with labels, X holds"):
        a.forward(H, labels=labels)
    with pytest.raises(ValueError, match="X must have shape"):
        a.forward(X)  # without labels X must have all the inputs


@pytest.mark.parametrize(
    "opt_kw", [{}, {"weight_decay": 0.1, "decoupled": True}, {"weight_decay": 0.05}]
)
def test_train_epoch_equals_mse_steps(rng, opt_kw):
    X = rng.normal(size=(300, 4))
    Y = rng.normal(size=(300, 2))
    a, b = (nn.MLP([4, 16, 2], activation="elu", dtype="float64", random_state=3) for _ in range(2))
    opt_a, opt_b = nn.Adam(a.params, lr=1e-2, **opt_kw), nn.Adam(b.params, lr=1e-2, **opt_kw)
    rows = rng.permutation(300)[:250]
    for epoch in range(2):
        order = np.random.default_rng(epoch).permutation(rows)
        want = sum(
            a.mse_step(X, Y, opt_a, rows=order[s : s + 64]) * order[s : s + 64].size
            for s in range(0, 250, 64)
        ) / 250
        got = b.train_epoch(X, Y, opt_b, batch_size=64, rows=rows, random_state=epoch)
        assert got == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-12, atol=1e-14)
    assert opt_b.step_count == opt_a.step_count == 8
    # without shuffling the rows are taken in the order given
    c = nn.MLP([4, 16, 2], activation="elu", dtype="float64", random_state=3)
    opt_c = nn.Adam(c.params, lr=1e-2, **opt_kw)
    c.train_epoch(X, Y, opt_c, batch_size=300, shuffle=False)
    d = nn.MLP([4, 16, 2], activation="elu", dtype="float64", random_state=3)
    opt_d = nn.Adam(d.params, lr=1e-2, **opt_kw)
    d.mse_step(X, Y, opt_d)
    np.testing.assert_allclose(c.params, d.params, rtol=1e-12, atol=1e-14)


def test_train_epoch_checks_its_input(rng):
    X, Y = rng.normal(size=(50, 2)), rng.normal(size=(50, 1))
    net = nn.MLP([2, 8, 1], dtype="float64", random_state=0)
    opt = nn.Adam(net.params)
    with pytest.raises(ValueError, match="batch_size"):
        net.train_epoch(X, Y, opt, batch_size=0)
    with pytest.raises(IndexError, match="rows must lie"):
        net.train_epoch(X, Y, opt, rows=[0, 50])
    with pytest.raises(ValueError, match="Y must have shape"):
        net.train_epoch(X, Y[:5], opt)
    with pytest.raises(TypeError, match="Adam constructed on this MLP's params"):
        net.train_epoch(X, Y, nn.Adam(net.params.copy()))
    Xbad = X.copy()
    Xbad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.train_epoch(Xbad, Y, opt)
    assert opt.step_count == 0  # nothing ran


class _DeviceRows:
    """Row indices that live on a device as CuPy's do: no implicit host conversion, ``get()``."""

    def __init__(self, rows):
        self._rows = np.asarray(rows)

    @property
    def __cuda_array_interface__(self):
        return {"version": 3, "shape": self._rows.shape, "typestr": "<i8", "data": (0, False)}

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")

    def get(self):
        return self._rows.copy()


def test_train_epoch_takes_device_rows(rng):
    X, Y = rng.normal(size=(40, 2)), rng.normal(size=(40, 1))
    rows = np.arange(3, 37)
    nets = [nn.MLP([2, 8, 1], dtype="float64", random_state=0) for _ in range(2)]
    opts = [nn.Adam(net.params) for net in nets]
    a = nets[0].train_epoch(X, Y, opts[0], batch_size=8, rows=rows, random_state=1)
    b = nets[1].train_epoch(X, Y, opts[1], batch_size=8, rows=_DeviceRows(rows), random_state=1)
    assert a == b
    np.testing.assert_array_equal(nets[0].params, nets[1].params)


def test_mse_step_trains_and_checks_its_input(rng):
    X = rng.uniform(-2, 2, size=(512, 2))
    Y = np.sin(X[:, :1]) * X[:, 1:]
    net = nn.MLP([2, 32, 32, 1], activation="xtanh", dtype="float64", random_state=0)
    opt = nn.Adam(net.params, lr=1e-2)
    order = np.random.default_rng(1).permutation(512)
    first = net.mse_step(X, Y, opt, rows=order[:128])
    for epoch in range(60):
        for s in range(0, 512, 128):
            last = net.mse_step(X, Y, opt, rows=order[s : s + 128])
    assert last < first / 10
    other = nn.MLP([2, 32, 32, 1], activation="xtanh", dtype="float64", random_state=0)
    with pytest.raises(TypeError, match="Adam constructed on this MLP's params"):
        net.mse_step(X, Y, nn.Adam(other.params))
    with pytest.raises(ValueError, match="Y must have shape"):
        net.mse_step(X, Y[:10], opt)
    with pytest.raises(TypeError, match="Y must be a float64"):
        net.mse_step(X, Y.astype(np.float32), opt)
    with pytest.raises(IndexError, match="outside"):
        net.mse_step(X, Y, opt, rows=[0, 512])
    with pytest.raises(IndexError, match="outside"):
        net.mse_step(X, Y, opt, rows=[-1])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        net.mse_step(X, Y, opt, rows=np.zeros((2, 2), dtype=int))
    with pytest.raises(TypeError, match="integers"):
        net.mse_step(X, Y, opt, rows=[0.5])
    with pytest.raises(ValueError, match="X must have shape"):
        net.mse_step(X[:, :1], Y, opt)
    bad = X.copy()
    bad[order[5], 1] = np.inf
    before, count = net.params.copy(), opt.step_count
    with pytest.raises(ValueError, match="NaN or inf"):
        net.mse_step(bad, Y, opt, rows=order[:128])
    assert np.array_equal(net.params, before) and opt.step_count == count  # nothing was updated
    net.mse_step(bad, Y, opt, rows=order[128:256])  # rows without the bad value train as usual
    huge = np.full_like(X, 1e300)
    before, count = net.params.copy(), opt.step_count
    with pytest.raises(fastcrl.NumericalError, match="overflows"):
        net.mse_step(huge, Y, opt)
    assert np.array_equal(net.params, before) and opt.step_count == count
    # A backward pass needs its own forward pass after a fused step.
    with pytest.raises(RuntimeError, match="call forward"):
        net.backward(np.ones((512, 1)))


# ---- random numbers --------------------------------------------------------------------------------------


def test_philox_known_answers():
    """Random123's published known-answer vectors for Philox-4x32-10."""
    kats = [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ]
    for c, k, want in kats:
        assert tuple(_core.philox4x32_10(list(c), list(k))) == want
        got = ref.philox4x32_10([np.array([v], dtype=np.uint64) for v in c], k)
        assert tuple(int(w[0]) for w in got) == want


def test_random_deterministic_across_threads():
    old = fastcrl.get_num_threads()
    n = 1_000_001  # large enough for the parallel path; odd to test the last half block
    try:
        fastcrl.set_num_threads(1)
        a = nn.random_normal(n, seed=2**40 + 3, offset=5)
        ua = nn.random_uniform(n, seed=9)
        fastcrl.set_num_threads(2)
        b = nn.random_normal(n, seed=2**40 + 3, offset=5)
        ub = nn.random_uniform(n, seed=9)
    finally:
        fastcrl.set_num_threads(old)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ua, ub)
    # Moments (n = 1e6: standard errors ~1e-3 for mean/variance).
    assert abs(a.mean()) < 5e-3 and abs(a.var() - 1) < 5e-3
    assert abs(np.mean(a**3)) < 1e-2 and abs(np.mean(a**4) - 3) < 3e-2
    assert abs(ua.mean() - 0.5) < 2e-3 and abs(ua.var() - 1 / 12) < 2e-3
    assert ua.min() >= 0 and ua.max() < 1


def test_random_streams_and_reference():
    s = 12345
    full = nn.random_normal((4, 5), s)
    np.testing.assert_array_equal(
        full.ravel(), np.concatenate([nn.random_normal(7, s), nn.random_normal(13, s, 7)])
    )
    np.testing.assert_allclose(full.ravel(), ref.random_normal(20, s), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(
        nn.random_uniform(11, s, 3), ref.random_uniform(11, s, 3), rtol=0, atol=0
    )
    f32 = nn.random_normal((4, 5), s, dtype=np.float32)
    np.testing.assert_array_equal(f32, full.astype(np.float32))
    assert not np.array_equal(nn.random_normal(20, s + 1), full.ravel())
    assert nn.random_normal(0, s).shape == (0,)


# ---- bad input ------------------------------------------------------------------------------------------


def test_bad_input():
    net = nn.MLP([3, 4, 2], dtype="float64", random_state=0)
    with pytest.raises(ValueError, match="shape"):
        net.forward(np.ones((5, 4)))
    with pytest.raises(ValueError, match="NaN"):
        net.forward(np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(TypeError, match="dtype"):
        net.forward(np.ones((5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="params must have shape"):
        net.set_params(np.ones(5))
    with pytest.raises(ValueError, match="params"):
        _core.mlp_forward(net.spec, np.ones(5), np.ones((2, 3)), np.empty(100))
    with pytest.raises(ValueError, match="workspace"):
        _core.mlp_forward(net.spec, net.params, np.ones((2, 3)), np.empty(1))
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([3, 2], activation="relu6")
    with pytest.raises(ValueError, match="unknown activation"):
        _core.MLPSpec([3, 2], ["softmax"])
    with pytest.raises(ValueError, match="one entry per layer"):
        nn.MLP([3, 4, 2], activation=["tanh"])
    with pytest.raises(ValueError, match="at least"):
        nn.MLP([3])
    with pytest.raises(ValueError, match=">= 1"):
        nn.MLP([3, 0, 2])
    net.forward(np.ones((5, 3)))
    with pytest.raises(ValueError, match="grad_out"):
        net.backward(np.ones((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        nn.diag_gaussian_logpdf(
            np.ones((2, 2)), np.zeros((2, 2)), np.array([[0.0, np.inf], [0, 0]])
        )
    with pytest.raises(ValueError, match="shape"):
        nn.diag_gaussian_kl(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="raw"):
        nn.chol_gaussian_logpdf(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 5)))
    with pytest.raises(ValueError, match="transform"):
        nn.chol_gaussian_logpdf(
            np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 3)), transform="square"
        )
    with pytest.raises(TypeError, match="dtype"):
        nn.diag_gaussian_logpdf(np.ones((2, 2)), np.zeros((2, 2), np.float32), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="seed"):
        nn.random_normal(3, seed=-1)
    with pytest.raises(ValueError, match="step"):
        nn.adam_update(net.params, net.grad, np.zeros_like(net.grad), np.zeros_like(net.grad), 0)
    with pytest.raises(ValueError, match="betas"):
        nn.Adam(net.params, betas=(1.0, 0.999))


def test_bad_input_gets_named_errors_not_binding_errors():
    """Adversarial inputs that used to leak pybind11 signature dumps, IndexError or worse."""
    p = np.zeros(10)
    z = np.zeros(10)
    # arrays updated in place must be C-contiguous (a strided view would be updated in a copy)
    base = np.zeros(20)
    with pytest.raises(ValueError, match="params must be C-contiguous .*updated in place"):
        nn.adam_update(base[::2], np.ones(10), z.copy(), z.copy(), 1)
    with pytest.raises(ValueError, match="m must be C-contiguous"):
        nn.adam_update(p, np.ones(10), np.zeros(20)[::2], z.copy(), 1)
    # a strided grads is only read: it is copied, with the contiguous result
    a, b = np.zeros(10), np.zeros(10)
    g = np.arange(20.0)
    nn.adam_update(a, g[::2], np.zeros(10), np.zeros(10), 1)
    nn.adam_update(b, g[::2].copy(), np.zeros(10), np.zeros(10), 1)
    assert np.array_equal(a, b) and a.any()
    with pytest.raises(ValueError, match="step must be <= 9223372036854775807"):
        nn.adam_update(p, np.ones(10), z.copy(), z.copy(), 2**70)
    with pytest.raises(TypeError, match="lr must be a real number"):
        nn.adam_update(p, np.ones(10), z.copy(), z.copy(), 1, lr="0.1")
    with pytest.raises(TypeError, match="decoupled must be True or False"):
        nn.adam_update(p, np.ones(10), z.copy(), z.copy(), 1, decoupled="yes")
    with pytest.raises(TypeError, match="params must be a 1-D float32/float64 numpy array; got"):
        nn.adam_update([0.0] * 10, np.ones(10), z.copy(), z.copy(), 1)
    opt = nn.Adam(p)
    with pytest.raises(TypeError, match="grads has dtype float32 but params is float64"):
        opt.step(np.ones(10, np.float32))
    with pytest.raises(TypeError, match="grads must be a 1-D float32/float64 numpy array .*list"):
        opt.step([1.0] * 10)
    with pytest.raises(ValueError, match="grads must be 1-D"):
        opt.step(np.ones((2, 5)))
    assert opt.step_count == 0 and not p.any()  # nothing was applied
    for betas in ((0.9,), 0.9, (0.9, 0.99, 0.999), "ab"):
        with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\)"):
            nn.Adam(p, betas=betas)
        with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\)"):
            nn.adam_update(p, np.ones(10), z.copy(), z.copy(), 1, betas=betas)
    with pytest.raises(TypeError, match="decoupled must be True or False"):
        nn.Adam(p, decoupled=np.ones(3))
    # random numbers: the shape is an int or a tuple of ints
    with pytest.raises(TypeError, match="shape must be an int or a tuple of ints; got float 3.0"):
        nn.random_normal(3.0, 0)
    with pytest.raises(TypeError, match="shape must be an int or a tuple of ints; got str"):
        nn.random_uniform("3", 0)
    with pytest.raises(ValueError, match="too large for one array"):
        nn.random_normal(2**70, 0)
    with pytest.raises(TypeError, match="dtype must be float64 or float32; got str 'x'"):
        nn.random_normal(3, 0, dtype="x")
    assert nn.random_normal([2, 3], 0).shape == (2, 3)
    # the MLP's own dtype is what set_params and the passes compare with
    net = nn.MLP([3, 2])
    with pytest.raises(TypeError, match="params has dtype float64 but the MLP is float32"):
        net.set_params(np.zeros(8))
    net.set_params([0.5] * 8)  # a list adapts to the MLP's dtype
    assert net.params.dtype == np.float32 and (net.params == 0.5).all()
    X = np.ones((5, 3), np.float32)
    net.params = net.params.astype(np.float64)
    with pytest.raises(TypeError, match="MLP.params has dtype float64 but the MLP is float32"):
        net.forward(X)
    net = nn.MLP([3, 2])
    net.params = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"MLP.params must have shape \(8,\)"):
        net.forward(X)
    net = nn.MLP([3, 2])
    net.params = np.zeros(16, np.float32)[::2]
    with pytest.raises(ValueError, match="MLP.params must be C-contiguous"):
        net.forward(X)
    net = nn.MLP([3, 2])
    net.forward(X)
    net.grad = np.zeros(8)
    with pytest.raises(TypeError, match="MLP.grad has dtype float64 but the MLP is float32"):
        net.backward(np.ones((5, 2), np.float32))
    net = nn.MLP([3, 2])
    with pytest.raises(TypeError, match="training must be True or False"):
        net.forward(X, training="no")
    net.forward(X)
    with pytest.raises(TypeError, match="accumulate must be True or False"):
        net.backward(np.ones((5, 2), np.float32), accumulate="no")
    with pytest.raises(TypeError, match="need_grad_input must be True or False"):
        net.backward(np.ones((5, 2), np.float32), need_grad_input=None)
    with pytest.raises(TypeError, match="flat must be a NumPy or CuPy array"):
        net.unpack([0.0] * 8)
    with pytest.raises(TypeError, match="layers must be a sequence of"):
        net.pack(3)
    with pytest.raises(ValueError, match="layer 0: expected a \\(W, b\\) pair"):
        net.pack([np.zeros((3, 2))])
    with pytest.raises(TypeError, match="layer 0: W must be a real numeric array"):
        net.pack([(np.full((3, 2), "a"), np.zeros(2))])
    with pytest.raises(ValueError, match="sizes\\[i\\] must be <= 2147483647"):
        nn.MLP([2, 2**70])
    with pytest.raises(TypeError, match="activation must be a string or a sequence of strings"):
        nn.MLP([3, 2], activation=5)
    with pytest.raises(TypeError, match="dtype must be float64 or float32; got bool True"):
        nn.MLP([3, 2], dtype=True)
    with pytest.raises(ValueError, match=r"raw must have shape \(n, d\(d\+1\)/2\)"):
        nn.cholesky_unpack(np.zeros((2, 3)), 2**70)


def test_mlp_parameter_count_is_bounded():
    with pytest.raises(ValueError, match="parameters; at most 1,099,511,627,776 are supported"):
        nn.MLP([2**31 - 1] * 5 + [4])  # the count would wrap a 64-bit size
