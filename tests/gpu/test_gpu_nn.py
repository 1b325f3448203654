"""CUDA latent-encoder kernels (cuda/nn.cu, via fastcrl.nn and fastcrl._gpu_nn) vs the CPU ones.

Every kernel runs on fresh random inputs in float64 (agreement to 1e-10) and float32 (1e-4); the
Philox uniforms must be bit-identical to the CPU's, the normals equal up to the last bits of the
transcendental functions.  Skipped with "no CUDA device" where no GPU is usable.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastcrl import _core, nn

ACTS = ("identity", "leaky_relu", "tanh", "xtanh", "elu")
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-4)}


def close(got, want, dtype):
    np.testing.assert_allclose(got.get() if hasattr(got, "get") else got, want, **TOL[dtype])


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def dtype(request):
    return request.param


def test_kernel_set_is_cuda(cp):
    from fastcrl import _gpu_nn

    assert nn.kernels(cp) is _gpu_nn


@pytest.mark.parametrize("act", ACTS)
def test_mlp_forward_backward(cp, dtype, act):
    rng = np.random.default_rng(ACTS.index(act))
    sizes = [7, 33, 19, 5]
    for training in (False, True):  # the training pass last: backward needs it
        cpu = nn.MLP(sizes, activation=act, output_activation=act, dtype=dtype, random_state=1)
        gpu = nn.MLP(sizes, activation=act, output_activation=act, dtype=dtype, random_state=1)
        gpu.to_device()
        X = rng.normal(size=(129, 7)).astype(dtype)
        out = cpu.forward(X, training=training)
        out_d = gpu.forward(cp.asarray(X), training=training)
        assert isinstance(out_d, cp.ndarray) and out_d.dtype == dtype
        close(out_d, out, dtype)
    G = rng.normal(size=out.shape).astype(dtype)
    gp, gx = cpu.backward(G)
    gp_d, gx_d = gpu.backward(cp.asarray(G))
    close(gp_d, gp, dtype)
    close(gx_d, gx, dtype)
    # accumulate adds to the buffer
    gp2, _ = cpu.backward(G, accumulate=True, need_grad_input=False)
    gp2_d, gx2_d = gpu.backward(cp.asarray(G), accumulate=True, need_grad_input=False)
    assert gx2_d is None
    close(gp2_d, gp2, dtype)
    # one Adam step on each (eps large enough that rounding-level gradient gaps stay that small in
    # the step), then the updated parameters come back to the host
    for net in (cpu, gpu):
        nn.Adam(net.params, lr=1e-2, eps=1e-3).step(net.grad)
    gpu.to_host()
    close(gpu.params, cpu.params, dtype)


def test_mlp_rejects_mixed_devices(cp):
    net = nn.MLP([3, 4], dtype="float64", random_state=0)
    with pytest.raises(TypeError, match="to_device"):
        net.forward(cp.ones((2, 3)))
    net.to_device()
    with pytest.raises(TypeError, match="to_device|to_host"):
        net.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        net.forward(cp.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        net.forward(cp.full((2, 3), cp.nan))


def _gauss_inputs(rng, n, d, dtype):
    P = d * (d + 1) // 2
    return (
        rng.normal(size=(n, d)).astype(dtype),
        rng.normal(size=(n, d)).astype(dtype),
        (0.3 * rng.normal(size=(n, d))).astype(dtype),
        (0.3 * rng.normal(size=(n, P))).astype(dtype),
        rng.random(n).astype(dtype),
    )


@pytest.mark.parametrize("d", [1, 3, 8])
def test_diag_gaussians(cp, dtype, d):
    rng = np.random.default_rng(d)
    x, mu, lv, _, g = _gauss_inputs(rng, 301, d, dtype)
    lv2 = (0.5 * rng.normal(size=(301, d))).astype(dtype)
    D = {k: cp.asarray(v) for k, v in dict(x=x, mu=mu, lv=lv, lv2=lv2, g=g).items()}
    close(
        nn.diag_gaussian_logpdf(D["x"], D["mu"], D["lv"]), nn.diag_gaussian_logpdf(x, mu, lv), dtype
    )
    for a, b in zip(
        nn.diag_gaussian_logpdf_backward(D["x"], D["mu"], D["lv"], D["g"]),
        nn.diag_gaussian_logpdf_backward(x, mu, lv, g),
        strict=True,
    ):
        close(a, b, dtype)
    close(
        nn.diag_gaussian_kl(D["mu"], D["lv"], D["x"], D["lv2"]),
        nn.diag_gaussian_kl(mu, lv, x, lv2),
        dtype,
    )
    for a, b in zip(
        nn.diag_gaussian_kl_backward(D["mu"], D["lv"], D["x"], D["lv2"], D["g"]),
        nn.diag_gaussian_kl_backward(mu, lv, x, lv2, g),
        strict=True,
    ):
        close(a, b, dtype)
    # default (standard normal) prior broadcast on the device
    close(nn.diag_gaussian_kl(D["mu"], D["lv"]), nn.diag_gaussian_kl(mu, lv), dtype)
    close(
        nn.diag_gaussian_sample(D["mu"], D["lv"], D["x"]), nn.diag_gaussian_sample(mu, lv, x), dtype
    )
    for a, b in zip(
        nn.diag_gaussian_sample_backward(D["lv"], D["x"], D["mu"]),
        nn.diag_gaussian_sample_backward(lv, x, mu),
        strict=True,
    ):
        close(a, b, dtype)


@pytest.mark.parametrize("transform", ["exp", "softplus"])
@pytest.mark.parametrize("d", [1, 2, 5, 10])
def test_cholesky_gaussians(cp, dtype, d, transform):
    rng = np.random.default_rng(10 * d + len(transform))
    _compare_cholesky(cp, dtype, d, transform, *_gauss_inputs(rng, 203, d, dtype))


def test_cholesky_gaussians_at_the_dimension_limit(cp, cuda_ext, dtype):
    """d = nn_max_cholesky_dim (64) fills the kernels' per-thread arrays to the last entry."""
    d = int(cuda_ext.nn_max_cholesky_dim)
    x, mu, lv, raw, g = _gauss_inputs(np.random.default_rng(64), 37, d, dtype)
    raw = (raw / np.sqrt(d)).astype(dtype)  # L = I + O(1/sqrt(d)) stays well conditioned
    _compare_cholesky(cp, dtype, d, "softplus", x, mu, lv, raw, g)


def _compare_cholesky(cp, dtype, d, transform, x, mu, lv, raw, g):
    xd, mud, lvd, rawd, gd = (cp.asarray(a) for a in (x, mu, lv, raw, g))
    t = transform
    close(nn.cholesky_unpack(rawd, d, t), nn.cholesky_unpack(raw, d, t), dtype)
    close(nn.chol_gaussian_logpdf(xd, mud, rawd, t), nn.chol_gaussian_logpdf(x, mu, raw, t), dtype)
    for a, b in zip(
        nn.chol_gaussian_logpdf_backward(xd, mud, rawd, gd, t),
        nn.chol_gaussian_logpdf_backward(x, mu, raw, g, t),
        strict=True,
    ):
        close(a, b, dtype)
    close(nn.chol_gaussian_kl(mud, rawd, xd, lvd, t), nn.chol_gaussian_kl(mu, raw, x, lv, t), dtype)
    for a, b in zip(
        nn.chol_gaussian_kl_backward(mud, rawd, xd, lvd, gd, t),
        nn.chol_gaussian_kl_backward(mu, raw, x, lv, g, t),
        strict=True,
    ):
        close(a, b, dtype)
    close(nn.chol_gaussian_sample(mud, rawd, xd, t), nn.chol_gaussian_sample(mu, raw, x, t), dtype)
    for a, b in zip(
        nn.chol_gaussian_sample_backward(rawd, xd, mud, t),
        nn.chol_gaussian_sample_backward(raw, x, mu, t),
        strict=True,
    ):
        close(a, b, dtype)


def test_cholesky_dimension_limit(cp, cuda_ext):
    d = int(cuda_ext.nn_max_cholesky_dim) + 1
    P = d * (d + 1) // 2
    with pytest.raises(ValueError, match="d <= "):
        nn.chol_gaussian_logpdf(cp.zeros((2, d)), cp.zeros((2, d)), cp.zeros((2, P)))


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam(cp, dtype, decoupled):
    rng = np.random.default_rng(7)
    p, g = rng.normal(size=1001).astype(dtype), rng.normal(size=1001).astype(dtype)
    m, v = np.zeros_like(p), np.zeros_like(p)
    pd, gd, md, vd = (cp.asarray(a) for a in (p, g, m, v))
    for step in (1, 2, 3):
        kw = dict(lr=0.01, weight_decay=0.1, decoupled=decoupled)
        nn.adam_update(p, g, m, v, step, **kw)
        nn.adam_update(pd, gd, md, vd, step, **kw)
    close(pd, p, dtype)
    close(md, m, dtype)
    close(vd, v, dtype)
    opt = nn.Adam(cp.asarray(p), lr=0.1)
    opt.step(cp.asarray(g))
    assert isinstance(opt.m, cp.ndarray)
    with pytest.raises(TypeError, match="like params"):
        nn.adam_update(pd, g, md, vd, 4)


def test_mse_step_matches_cpu(cp, dtype):
    """MLP.mse_step on CuPy arrays (the CUDA passes, composed) follows the fused CPU step."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6)).astype(dtype)
    Y = rng.normal(size=(300, 2)).astype(dtype)
    cpu = nn.MLP([6, 24, 2], dtype=dtype, random_state=0)
    gpu = nn.MLP([6, 24, 2], dtype=dtype, random_state=0).to_device()
    opt_c, opt_g = nn.Adam(cpu.params, lr=1e-2, eps=1e-3), nn.Adam(gpu.params, lr=1e-2, eps=1e-3)
    Xd, Yd = cp.asarray(X), cp.asarray(Y)
    for step in range(3):
        rows = rng.permutation(300)[:64]
        loss_c = cpu.mse_step(X, Y, opt_c, rows=rows)
        loss_g = gpu.mse_step(Xd, Yd, opt_g, rows=cp.asarray(rows) if step % 2 else rows)
        assert loss_g == pytest.approx(loss_c, rel=TOL[dtype]["rtol"] * 10)
    with pytest.raises(IndexError, match="rows must lie"):
        gpu.mse_step(Xd, Yd, opt_g, rows=[300])
    gpu.to_host()
    close(gpu.params, cpu.params, dtype)


def test_forward_with_a_one_hot_input_matches_cpu(cp, dtype):
    from fastcrl import _gpu_nn

    rng = np.random.default_rng(5)
    X = rng.normal(size=(70, 3)).astype(dtype)
    labels = rng.integers(0, 5, size=70).astype(np.int64)
    net = nn.MLP([8, 16, 2], activation="elu", dtype=dtype, random_state=0)
    ws = np.empty(net.spec.workspace_size(70), dtype=dtype)
    want = _core.mlp_forward(net.spec, net.params, X, ws, None, False, labels, 5)
    got = _gpu_nn.mlp_forward(
        net.spec, cp.asarray(net.params), cp.asarray(X), cp.empty(ws.size, dtype=dtype), None,
        False, cp.asarray(labels), 5,
    )  # fmt: skip
    close(got, want, dtype)
    with pytest.raises(ValueError, match="labels holds entries outside"):
        _gpu_nn.mlp_forward(
            net.spec, cp.asarray(net.params), cp.asarray(X), cp.empty(ws.size, dtype=dtype), None,
            False, cp.asarray(labels + 5), 5,
        )  # fmt: skip


def test_mlp_with_one_hot_labels_matches_cpu(cp, dtype):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(90, 4)).astype(dtype)
    Y = rng.normal(size=(90, 2)).astype(dtype)
    labels = rng.integers(0, 6, size=90)
    cpu = nn.MLP([10, 16, 2], activation="tanh", dtype=dtype, random_state=0)
    gpu = nn.MLP([10, 16, 2], activation="tanh", dtype=dtype, random_state=0).to_device()
    out = gpu.forward(cp.asarray(X), labels=cp.asarray(labels))
    close(out, cpu.forward(X, labels=labels), dtype)
    g = rng.normal(size=(90, 2)).astype(dtype)
    (gp_c, gx_c), (gp_g, gx_g) = cpu.backward(g), gpu.backward(cp.asarray(g))
    close(gp_g, gp_c, dtype)
    close(gx_g, gx_c, dtype)
    opt_c, opt_g = nn.Adam(cpu.params, lr=1e-2, eps=1e-3), nn.Adam(gpu.params, lr=1e-2, eps=1e-3)
    rows = rng.permutation(90)[:32]
    loss_c = cpu.mse_step(X, Y, opt_c, rows=rows, labels=labels)
    loss_g = gpu.mse_step(cp.asarray(X), cp.asarray(Y), opt_g, rows=rows, labels=cp.asarray(labels))
    assert loss_g == pytest.approx(loss_c, rel=TOL[dtype]["rtol"] * 10)


@pytest.mark.parametrize("mean_over_outputs", [True, False])
def test_regression_epoch_matches_cpu(cp, dtype, mean_over_outputs):
    """The regression epoch queued from C++ (cuda/training.cu) follows the CPU epoch."""
    from fastcrl import _gpu_nn

    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 6)).astype(dtype)
    Y = rng.normal(size=(300, 2)).astype(dtype)
    order = rng.permutation(300).astype(np.int64)
    nets = [nn.MLP([6, 24, 2], dtype=dtype, random_state=0) for _ in range(2)]
    nets[1].to_device()
    totals = []
    for net, kset, xp in ((nets[0], _core, np), (nets[1], _gpu_nn, cp)):
        m, v, grad = (xp.zeros(net.n_params, dtype=dtype) for _ in range(3))
        progress = np.zeros(1, dtype=np.int64)
        for epoch in range(2):
            total = kset.mlp_regression_epoch(
                net.spec, net.params, grad, m, v, 5 * epoch, 1e-2, 0.9, 0.999, 1e-3,
                xp.asarray(X), xp.asarray(Y), xp.asarray(order), 64, mean_over_outputs, progress,
            )  # fmt: skip
            assert progress[0] == 5
        totals.append(float(total))
    assert totals[1] == pytest.approx(totals[0], rel=TOL[dtype]["rtol"] * 10)
    nets[1].to_host()
    close(nets[1].params, nets[0].params, dtype)
    # a one-hot input given as labels, on both devices
    labels = rng.integers(0, 4, size=300).astype(np.int64)
    H = np.concatenate([X, np.eye(4, dtype=dtype)[labels]], axis=1)
    outs = []
    for kset, xp in ((_core, np), (_gpu_nn, cp)):
        net = nn.MLP([10, 24, 2], dtype=dtype, random_state=0)
        if xp is cp:
            net.to_device()
        m, v, grad = (xp.zeros(net.n_params, dtype=dtype) for _ in range(3))
        kset.mlp_regression_epoch(
            net.spec, net.params, grad, m, v, 0, 1e-2, 0.9, 0.999, 1e-3, xp.asarray(X),
            xp.asarray(Y), xp.asarray(order), 64, mean_over_outputs, np.zeros(1, np.int64), 0.0,
            False, xp.asarray(labels), 4,
        )  # fmt: skip
        outs.append(net.params.get() if xp is cp else net.params.copy())
    close(outs[1], outs[0], dtype)
    dense = nn.MLP([10, 24, 2], dtype=dtype, random_state=0)
    m, v, grad = (np.zeros(dense.n_params, dtype=dtype) for _ in range(3))
    _core.mlp_regression_epoch(
        dense.spec, dense.params, grad, m, v, 0, 1e-2, 0.9, 0.999, 1e-3, H, Y, order, 64,
        mean_over_outputs, np.zeros(1, np.int64),
    )  # fmt: skip
    close(outs[1], dense.params, dtype)
    with pytest.raises(ValueError, match="order holds entries outside"):
        _gpu_nn.mlp_regression_epoch(
            nets[1].spec, *(cp.zeros(nets[1].n_params, dtype=dtype) for _ in range(4)), 0, 1e-2,
            0.9, 0.999, 1e-8, cp.asarray(X), cp.asarray(Y), cp.asarray([0, 300]), 64, True,
            np.zeros(1, dtype=np.int64),
        )  # fmt: skip


@pytest.mark.parametrize("offset", [0, 1, 2, 12345, 2**40 + 3])
def test_philox_matches_cpu(cp, offset):
    for n in (1, 2, 7, 1000):
        seed = 2**63 + 12345 + n
        u64 = nn.random_uniform(n, seed, offset)
        np.testing.assert_array_equal(
            nn.random_uniform(n, seed, offset, like=cp.zeros(1)).get(), u64
        )
        u32 = nn.random_uniform(n, seed, offset, dtype=np.float32)
        np.testing.assert_array_equal(
            nn.random_uniform(n, seed, offset, dtype=np.float32, like=cp.zeros(1)).get(), u32
        )
        z64 = nn.random_normal(n, seed, offset)
        zd = nn.random_normal(n, seed, offset, like=cp.zeros(1)).get()
        # CUDA's log/sqrt/cos/sin are within an ulp or two of glibc's
        np.testing.assert_allclose(zd, z64, rtol=1e-14, atol=1e-15)
        z32 = nn.random_normal(n, seed, offset, dtype=np.float32)
        zd32 = nn.random_normal(n, seed, offset, dtype=np.float32, like=cp.zeros(1)).get()
        np.testing.assert_allclose(zd32, z32, rtol=1.2e-7, atol=1e-7)
    # streams continue: [0, 5) == [0, 2) + [2, 5) on the device too
    a = nn.random_normal(5, 9, like=cp.zeros(1))
    b = cp.concatenate(
        [nn.random_normal(2, 9, like=cp.zeros(1)), nn.random_normal(3, 9, 2, like=cp.zeros(1))]
    )
    np.testing.assert_array_equal(a.get(), b.get())


def test_kernel_argument_checks(cp):
    x = cp.zeros((3, 2))
    with pytest.raises(TypeError, match="host"):
        nn.diag_gaussian_logpdf(x, np.zeros((3, 2)), x)
    with pytest.raises(TypeError, match="dtype"):
        nn.diag_gaussian_logpdf(x, x.astype(cp.float32), x)
    with pytest.raises(ValueError, match="shape"):
        nn.chol_gaussian_sample(x, cp.zeros((3, 2)), x)
    with pytest.raises(ValueError, match="transform"):
        nn.chol_gaussian_kl(x, cp.zeros((3, 3)), transform="square")
    # the kernels themselves: non-device pointers are refused before anything is queued
    from fastcrl import _backend

    host = np.zeros(4)
    with pytest.raises(ValueError, match="not CUDA memory|host memory"):
        _backend._cuda.nn_random_fill(host.ctypes.data, 4, 0, 0, True, 8, 0)
    with pytest.raises(ValueError, match="itemsize"):
        _backend._cuda.nn_random_fill(int(x.data.ptr), 4, 0, 0, True, 2, 0)


def test_mlp_out_and_accumulate_checks(cp):
    """Refused as by the CPU binding: an out of another dtype (the kernel would write past its
    end) and accumulate=True without a buffer to add to."""
    from fastcrl import _gpu_nn

    spec = _core.MLPSpec([3, 4], ["identity"], 0.01, 1.0)
    params, X = cp.zeros(spec.n_params), cp.ones((5, 3))
    ws = cp.empty(spec.workspace_size(5))
    with pytest.raises(TypeError, match="out has dtype float32 but params is float64"):
        _gpu_nn.mlp_forward(spec, params, X, ws, cp.empty((5, 4), cp.float32))
    with pytest.raises(TypeError):
        _core.mlp_forward(spec, params.get(), X.get(), ws.get(), np.empty((5, 4), np.float32))
    _gpu_nn.mlp_forward(spec, params, X, ws, None, True)
    with pytest.raises(ValueError, match="accumulate=True needs grad_params"):
        _gpu_nn.mlp_backward(spec, params, X, ws, cp.ones((5, 4)), None, True, True)


_SPIN = r"""
extern "C" __global__ void spin(long long cycles) {
    const long long t0 = clock64();
    while (clock64() - t0 < cycles) {}
}
"""


def test_kernels_run_on_the_current_stream(cp, dtype):
    """Under a non-default, non-blocking stream the kernels queue behind the caller's work: the
    input is written only after a busy kernel on that stream, so a launch on any other stream
    would read it unwritten.  Through fastcrl._gpu_nn, which never synchronises (fastcrl.nn's
    NaN check would wait for the stream and hide a wrong one)."""
    from fastcrl import _gpu_nn

    rng = np.random.default_rng(5)
    spec = _core.MLPSpec([7, 33, 5], ["tanh", "identity"], 0.01, 1.0)
    params = (0.3 * rng.normal(size=spec.n_params)).astype(dtype)
    X, mu, lv = (rng.normal(size=(129, 7)).astype(dtype) for _ in range(3))
    ws = np.empty(spec.workspace_size(129), dtype)
    want = _core.mlp_forward(spec, params, X, ws, None, False)
    want_lp = nn.diag_gaussian_logpdf(X, mu, lv)
    spin = cp.RawKernel(_SPIN, "spin")
    src, pd, mud, lvd = (cp.asarray(a) for a in (X, params, mu, lv))
    cp.cuda.Device().synchronize()  # the non-blocking stream does not wait for the null stream
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        Xd = cp.zeros_like(src)
        spin((1,), (1,), (np.int64(50_000_000),))  # some 25 ms of GPU time before the write
        Xd[...] = src
        out = _gpu_nn.mlp_forward(spec, pd, Xd, cp.empty(spec.workspace_size(129), dtype))
        lp = _gpu_nn.diag_gaussian_logpdf(Xd, mud, lvd)
    stream.synchronize()
    close(out, want, dtype)
    close(lp, want_lp, dtype)


def test_arrays_on_another_device(cp):
    """Outputs, workspaces and the stream follow the inputs' device, not the current one."""
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two CUDA devices")
    rng = np.random.default_rng(6)
    X, mu, lv = (rng.normal(size=(50, 3)) for _ in range(3))
    net = nn.MLP([3, 8, 2], dtype="float64", random_state=0)
    want = net.forward(X)
    with cp.cuda.Device(1):
        Xd, mud, lvd = (cp.asarray(a) for a in (X, mu, lv))
        net.to_device()
    with cp.cuda.Device(0):
        out = net.forward(Xd)
        lp = nn.diag_gaussian_logpdf(Xd, mud, lvd)
        z = nn.random_normal(7, 3, like=Xd)
    assert out.device.id == lp.device.id == z.device.id == 1
    close(out, want, np.float64)
    close(lp, nn.diag_gaussian_logpdf(X, mu, lv), np.float64)


def test_large_batch_and_core_interface(cp):
    """The IVAE-sized pass through the _core-shaped interface (fastcrl._gpu_nn)."""
    from fastcrl import _gpu_nn

    spec = _core.MLPSpec([15, 100, 100, 65], ["leaky_relu", "leaky_relu", "identity"], 0.2, 1.0)
    rng = np.random.default_rng(0)
    params = (0.1 * rng.normal(size=spec.n_params)).astype(np.float32)
    X = rng.normal(size=(5000, 15)).astype(np.float32)
    ws = np.empty(spec.workspace_size(5000), np.float32)
    out = _core.mlp_forward(spec, params, X, ws, None, True)
    wsd = cp.empty(spec.workspace_size(5000), cp.float32)
    outd = _gpu_nn.mlp_forward(spec, cp.asarray(params), cp.asarray(X), wsd, None, True)
    close(outd, out, np.float32)
    G = rng.normal(size=out.shape).astype(np.float32)
    gp, gx = _core.mlp_backward(spec, params, X, ws, G, None, True, False)
    gpd, gxd = _gpu_nn.mlp_backward(spec, cp.asarray(params), cp.asarray(X), wsd, cp.asarray(G))
    np.testing.assert_allclose(gpd.get(), gp, rtol=1e-3, atol=1e-3 * np.abs(gp).max())
    close(gxd, gx, np.float32)
