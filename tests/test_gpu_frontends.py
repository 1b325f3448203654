"""Every GPU front end of fastcrl driven through the real ``fastcrl._cuda`` bindings, without a GPU.

The arrays come from a CuPy stand-in (``tests/cupy_standin.py``: NumPy arrays in host memory that
claim to live on a CUDA device, refusing host arrays in device operations as CuPy does).  Each
front end must validate and convert its arguments and hand the binding well-formed ones: pybind11
then converts them, the binding's host-side checks pass, and its first CUDA runtime call raises
``fastcrl._cuda.CudaError`` ("no usable CUDA device").  Any other exception -- a TypeError from a
signature mismatch, an AttributeError, NameError or RecursionError, a host array mixed into device
work -- is a bug in the Python front end that would otherwise surface only on a GPU.

The code after the kernels (status reads, result shapes, training and solver loops, results moved
back to the host) runs against an idle device: the same real bindings, whose failure for want of
a device is turned into what a device that computes nothing leaves (zero outputs; NaN where a
kernel can hand families to the CPU).  Scripted replies (status codes, brackets, NaN written to the
outputs) drive the front ends' error and warning paths.

Skipped where ``fastcrl._cuda`` is not built (the development tree), and where a CUDA device is
visible: the arrays hold host addresses, which would then reach real kernels (``tests/gpu`` covers
that machine).
"""

from __future__ import annotations

import collections
import ctypes
import os
import re
import sys

import numpy as np
import pytest
from cupy_standin import FakeCuPy
from fastcrl import (
    DAGMA,
    GES,
    NOTEARS,
    ExactSearch,
    HillClimb,
    NumericalError,
    SortNRegress,
    _backend,
    _gpu_acyclicity,
    _gpu_continuous,
    _gpu_nn,
    _search,
    acyclicity,
    baselines,
    cli,
    nn,
    stats,
)
from fastcrl.bootstrap import bootstrap_edges
from fastcrl.crl import IVAE
from fastcrl.crl import ivae as ivae_mod
from fastcrl.datasets import make_nonstationary_sources
from fastcrl.scores import BDeu, BGe, DiscreteBIC, GaussianBIC

_cuda = _backend._cuda


def _skip_reason() -> str | None:
    if _cuda is None:
        return "fastcrl._cuda not built here (the development tree has no CUDA extension)"
    try:
        devices = int(_cuda.device_count())
    except Exception:  # noqa: BLE001 - no driver at all: no device either
        devices = 0
    if devices:
        return "a CUDA device is visible: these tests hand host addresses to the kernels"
    return None


_SKIP = _skip_reason()
if _cuda is None and os.environ.get("FASTCRL_REQUIRE_CUDA_EXTENSION") == "1":
    # tools/check_gpu_frontends.sh: a build that lost its extension must fail, not skip
    raise ImportError(f"FASTCRL_REQUIRE_CUDA_EXTENSION=1 but {_SKIP}")
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))

DTYPES = ["float64", "float32"]


def _steps(a):
    """An epoch's reply: all its steps queued, no exception from a signal handler."""
    return -(-a["n_order"] // a["batch"]), None


def _to_cpu(out):
    """A score kernel's reply: NaN in ``out``, every family left to the CPU twin."""
    return lambda a: a[out].fill(np.nan)


class _Bindings:
    """``fastcrl._cuda`` with every call passed to the real binding, the last one's name kept.

    ``idle``: a call that fails only for want of a device returns instead what a device that does
    nothing would (outputs keep their zeros, an epoch reports its steps queued, the discrete and
    exact-search score kernels leave every family to the CPU), so the front ends' code after the
    kernels runs too.  ``replies[name](arguments by name)`` gives the reply; a test may script one
    (writing "device" outputs through their pointers: the stand-in's memory is the host's).
    """

    def __init__(self, idle: bool) -> None:
        self.idle = idle
        self.last: str | None = None
        self.calls: collections.Counter[str] = collections.Counter()
        self.replies = {
            "logdet_workspace_bytes": lambda a: 1024,
            "discrete_local_scores": _to_cpu("out"),
            "gaussian_subset_scores": _to_cpu("row"),
            "discrete_subset_scores": _to_cpu("row"),
            "nn_mlp_regression_epoch": _steps,
            "nn_ivae_train_epoch": _steps,
        }

    def __getattr__(self, name):
        if name == "device_count" and self.idle:
            return lambda: 1  # the idle device
        fn = getattr(_cuda, name)
        if not callable(fn) or isinstance(fn, type):
            return fn

        def call(*args, **kwargs):
            self.last = name
            self.calls[name] += 1
            try:
                return fn(*args, **kwargs)
            except _cuda.CudaError as exc:
                if not self.idle or "no usable CUDA device" not in str(exc):
                    raise
            # the parameter names from pybind11's signature line, e.g. "f(a: int, b: object)"
            names = re.findall(r"[(,] ?(\w+): ", fn.__doc__.splitlines()[0])
            named = dict(zip(names, args, strict=False)) | kwargs
            return self.replies.get(name, lambda a: None)(named)

        return call


def _at(ptr: int, n: int, dtype) -> np.ndarray:
    """The ``n`` values at a "device" pointer (host memory here), writable."""
    dtype = np.dtype(dtype)
    return np.frombuffer((ctypes.c_char * (n * dtype.itemsize)).from_address(ptr), dtype)


def _install(monkeypatch, idle: bool) -> FakeCuPy:
    fake = FakeCuPy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(_backend, "_cuda", _Bindings(idle))
    # compiled-kernel cache of the DAGMA Adam step: keep the stand-in's out of later tests
    monkeypatch.setattr(_gpu_continuous, "_ADAM_STEP_KERNELS", {})
    return fake


@pytest.fixture
def cp(monkeypatch):
    """The CuPy stand-in, installed as ``cupy``; the bindings fail at their first CUDA call."""
    return _install(monkeypatch, idle=False)


@pytest.fixture
def idle(monkeypatch):
    """The CuPy stand-in over an idle device: the bindings return without computing anything."""
    return _install(monkeypatch, idle=True)


def reaches(fn, *args, **kwargs) -> str:
    """``fn(*args, **kwargs)`` gets to the device: the name of the binding whose first CUDA call
    failed."""
    with pytest.raises(_cuda.CudaError, match="no usable CUDA device"):
        fn(*args, **kwargs)
    return _backend._cuda.last


def _normal(cp, *shape, dtype="float64", seed=0):
    return cp.asarray(np.random.default_rng(seed).normal(size=shape).astype(dtype))


def _codes(n=60, d=3, seed=0):
    """Integer-coded categorical data, every column with two or three levels."""
    return np.random.default_rng(seed).integers(0, 3, size=(n, d)) % (2 + np.arange(d) % 2)


# ---- fastcrl._gpu_nn and fastcrl.nn ------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labelled", [False, True])
def test_mlp_kernels(cp, dtype, labelled):
    net = nn.MLP([4, 5, 3], dtype=dtype, random_state=0)
    n, n_classes = 6, (2 if labelled else 0)
    X = _normal(cp, n, 4 - n_classes, dtype=dtype)
    extra = (cp.asarray(np.arange(n) % 2), n_classes) if labelled else ()
    p = cp.asarray(net.params)
    ws = cp.empty(int(net.spec.workspace_size(n)), dtype=dtype)
    out, g_out, g_p = cp.empty((n, 3), dtype=dtype), cp.ones((n, 3), dtype=dtype), cp.zeros_like(p)
    forward, backward = _gpu_nn.mlp_forward, _gpu_nn.mlp_backward
    assert reaches(forward, net.spec, p, X, ws, None, True, *extra) == "nn_mlp_forward"
    assert reaches(forward, net.spec, p, X, ws, out, False, *extra) == "nn_mlp_forward"
    assert reaches(backward, net.spec, p, X, ws, g_out, None, True, False, *extra) == (
        "nn_mlp_backward"
    )
    assert reaches(backward, net.spec, p, X, ws, g_out, g_p, False, True, *extra) == (
        "nn_mlp_backward"
    )


def _gaussian_args(cp, dtype):
    n, d = 5, 3
    x, mu, lv, eps, gz = (_normal(cp, n, d, dtype=dtype, seed=s) for s in range(5))
    raw = _normal(cp, n, d * (d + 1) // 2, dtype=dtype, seed=5)
    g = cp.ones(n, dtype=dtype)
    return {
        "diag_gaussian_logpdf": (x, mu, lv),
        "diag_gaussian_logpdf_backward": (x, mu, lv, g),
        "diag_gaussian_kl": (mu, lv, x, eps),
        "diag_gaussian_kl_backward": (mu, lv, x, eps, g),
        "diag_gaussian_sample": (mu, lv, eps),
        "diag_gaussian_sample_backward": (lv, eps, gz),
        "cholesky_unpack": (raw, d, "softplus"),
        "chol_gaussian_logpdf": (x, mu, raw, "exp"),
        "chol_gaussian_logpdf_backward": (x, mu, raw, g, "softplus"),
        "chol_gaussian_kl": (mu, raw, x, lv, "exp"),
        "chol_gaussian_kl_backward": (mu, raw, x, lv, g, "exp"),
        "chol_gaussian_sample": (mu, raw, eps, "exp"),
        "chol_gaussian_sample_backward": (raw, eps, gz, "exp"),
    }


GAUSSIANS = list(_gaussian_args(np, "float64"))


@pytest.mark.parametrize("module", [_gpu_nn, nn], ids=["_gpu_nn", "nn"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", GAUSSIANS)
def test_gaussian_kernels(cp, module, dtype, name):
    args = _gaussian_args(cp, dtype)[name]
    assert reaches(getattr(module, name), *args) == f"nn_{name}"
    if name.endswith("backward") and not name.endswith("sample_backward"):
        g_at = 3 if "logpdf" in name else 4  # g defaults to ones
        assert reaches(getattr(module, name), *args[:g_at], None, *args[g_at + 1 :]) == f"nn_{name}"


def test_non_contiguous_inputs_are_copied(cp):
    x = _normal(cp, 3, 5).T  # (5, 3), not C-contiguous
    mu, lv = _normal(cp, 5, 3, seed=1), _normal(cp, 5, 3, seed=2)
    assert not x.flags.c_contiguous
    assert reaches(_gpu_nn.diag_gaussian_logpdf, x, mu, lv) == "nn_diag_gaussian_logpdf"
    assert reaches(nn.diag_gaussian_logpdf, x, mu, lv) == "nn_diag_gaussian_logpdf"
    net = nn.MLP([3, 4, 2], dtype="float64").to_device()
    assert reaches(net.forward, x) == "nn_mlp_forward"
    assert reaches(stats.covariance, x) == "covariance"


def test_gaussian_prior_broadcasts(cp):
    """The public wrappers' scalar prior (mu_p = logvar_p = 0) is expanded on the device."""
    mu, lv = _normal(cp, 4, 2), _normal(cp, 4, 2, seed=1)
    assert reaches(nn.diag_gaussian_kl, mu, lv) == "nn_diag_gaussian_kl"
    assert reaches(nn.chol_gaussian_kl_backward, mu, _normal(cp, 4, 3)) == (
        "nn_chol_gaussian_kl_backward"
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_and_random_fills(cp, dtype):
    p, g, m, v = (cp.zeros(7, dtype=dtype) for _ in range(4))
    adam = "nn_adam_update"
    assert reaches(_gpu_nn.adam_update, p, g, m, v, 1, 1e-3, 0.9, 0.999, 1e-8, 0.1, True) == adam
    assert reaches(nn.adam_update, p, g, m, v, 1, weight_decay=0.1) == adam
    assert reaches(nn.Adam(p, lr=0.1).step, g) == adam
    out = cp.empty((3, 4), dtype=dtype)
    assert reaches(_gpu_nn.random_normal_fill, out, 3, 5) == "nn_random_fill"
    assert reaches(_gpu_nn.random_uniform_fill, out, 2**64 - 1) == "nn_random_fill"
    assert reaches(nn.random_normal, (3, 4), 0, like=out) == "nn_random_fill"
    assert reaches(nn.random_uniform, 5, 1, dtype=dtype, like=out) == "nn_random_fill"
    _gpu_nn.random_normal_fill(cp.empty(0, dtype=dtype), 0)  # nothing to draw: no device call


def _regression_epoch_args(cp, dtype, labelled):
    net = nn.MLP([4, 5, 2], dtype=dtype, random_state=0)
    n, n_classes = 9, (3 if labelled else 0)
    p, g, m, v = (cp.asarray(a) for a in (net.params, net.grad, net.grad, net.grad))
    X, Y = _normal(cp, n, 4 - n_classes, dtype=dtype), _normal(cp, n, 2, dtype=dtype)
    labels = cp.asarray(np.arange(n) % 3) if labelled else None
    progress = np.zeros(1, dtype=np.int64)
    order = cp.asarray(np.arange(n)[::-1])
    return (
        net.spec, p, g, m, v, 0, 1e-3, 0.9, 0.999, 1e-8, X, Y, order, 4, True, progress, 0.0,
        False, labels, n_classes,
    )  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labelled", [False, True])
def test_mlp_regression_epoch(cp, dtype, labelled):
    args = _regression_epoch_args(cp, dtype, labelled)
    assert reaches(_gpu_nn.mlp_regression_epoch, *args) == "nn_mlp_regression_epoch"


def _ivae_epoch_args(cp, dtype, posterior):
    D, K, d, n, batch = 3, 4, 2, 10, 4
    model = ivae_mod._Model(D, K, d, (8,), "tanh", 0.2, posterior, 0.05, True, np.dtype(dtype))
    p, g, m, v = (cp.zeros(model.n_params, dtype=dtype) for _ in range(4))
    lrs = np.full(-(-n // batch), 1e-3)  # one learning rate per step (host)
    progress = np.zeros(1, dtype=np.int64)
    seg, order = cp.asarray(np.arange(n) % K), cp.asarray(np.arange(n))
    X = _normal(cp, n, D, dtype=dtype)
    return model.shape, p, g, m, v, 0, lrs, 0.9, 0.999, 1e-8, X, seg, order, batch, 7, 0, progress


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("posterior", ["full", "diagonal"])
def test_ivae_train_epoch(cp, dtype, posterior):
    args = _ivae_epoch_args(cp, dtype, posterior)
    assert reaches(_gpu_nn.ivae_train_epoch, *args) == "nn_ivae_train_epoch"


def _mlp_on_device(cp, labelled):
    net = nn.MLP([4, 6, 2], dtype="float64", random_state=0).to_device()
    n, n_classes = 8, (2 if labelled else 0)
    X, Y = _normal(cp, n, 4 - n_classes), _normal(cp, n, 2, seed=1)
    labels = cp.asarray(np.arange(n) % 2) if labelled else None
    return net, X, Y, labels


@pytest.mark.parametrize("labelled", [False, True])
def test_mlp_methods(cp, labelled):
    net, X, Y, labels = _mlp_on_device(cp, labelled)
    assert isinstance(net.params, cp.ndarray)
    assert reaches(net.forward, X, labels=labels) == "nn_mlp_forward"
    assert reaches(net.forward, X, training=False, labels=labels) == "nn_mlp_forward"
    # backward needs a training forward pass: as if it had run (its workspace is allocated)
    net._X, net._onehot = X, ((labels, 2) if labelled else (None, 0))
    assert reaches(net.backward, cp.ones((8, 2))) == "nn_mlp_backward"
    assert reaches(net.backward, cp.ones((8, 2)), need_grad_input=False, accumulate=True) == (
        "nn_mlp_backward"
    )
    opt = nn.Adam(net.params, lr=1e-2)
    assert reaches(net.mse_step, X, Y, opt, labels=labels) == "nn_mlp_forward"
    assert reaches(net.mse_step, X, Y, opt, rows=cp.asarray([0, 3, 5]), labels=labels) == (
        "nn_mlp_forward"
    )
    assert reaches(net.train_epoch, X, Y, opt, batch_size=3, labels=labels) == "nn_mlp_forward"
    assert type(net.to_host().params) is np.ndarray


# ---- fastcrl.crl.IVAE ------------------------------------------------------------------------

FAST = dict(hidden=(8,), batch_size=32, max_epochs=2, pretrain_epochs=1, random_state=0)


@pytest.fixture(scope="module")
def sources():
    return make_nonstationary_sources(4, 40, 2, random_state=1)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("init", ["ica", "random"])
@pytest.mark.parametrize("posterior", ["full", "diagonal"])
def test_ivae_fit(cp, monkeypatch, sources, fused, init, posterior):
    monkeypatch.setattr(IVAE, "_fused_gpu_epochs", fused)
    est = IVAE(2, init=init, posterior=posterior, dtype="float64", **FAST)
    warm_start = "nn_mlp_regression_epoch" if fused else "nn_mlp_forward"
    first = warm_start if init == "ica" else "nn_random_fill"
    assert reaches(est.fit, cp.asarray(sources.X), sources.env) == first
    reaches(est.fit, cp.asarray(sources.X.astype(np.float32)), cp.asarray(sources.env))


def test_ivae_partial_fit_on_device(cp, sources):
    est = IVAE(2, dtype="float32", **FAST).fit(sources.X, sources.env)  # on the CPU
    reaches(est.partial_fit, cp.asarray(sources.X), sources.env)


# ---- fastcrl.acyclicity and fastcrl._gpu_acyclicity ---------------------------------------------


def _weights(cp, dtype, shape):
    W = np.random.default_rng(0).normal(scale=0.3, size=shape)
    return cp.asarray((W * 3 if dtype == "int64" else W).astype(dtype))


@pytest.mark.parametrize("dtype", [*DTYPES, "int64"])
@pytest.mark.parametrize("shape", [(4, 4), (3, 4, 4)])
def test_acyclicity_functions(cp, dtype, shape):
    W = _weights(cp, dtype, shape)
    assert reaches(acyclicity.expm_constraint, W) == "expm_constraint"
    assert reaches(acyclicity.expm_constraint, W.swapaxes(-1, -2)) == "expm_constraint"
    assert reaches(acyclicity.poly_constraint, W) == "poly_constraint"
    for check in ("raise", "flag"):  # the workspace query is the first device call
        assert reaches(acyclicity.logdet_constraint, W, 2.0, check_domain=check) == (
            "logdet_workspace_bytes"
        )
    assert reaches(acyclicity.spectral_radius, W) == "spectral_radius"
    assert reaches(acyclicity.spectral_radius, W, n_iter=5, return_grad=True) == "spectral_radius"


def test_acyclicity_kernels_class(cp):
    kernels = _gpu_acyclicity.Kernels()
    W = _normal(cp, 5, 5) * 0.2
    assert reaches(kernels.expm, W) == "expm_constraint"
    assert reaches(kernels.poly, W) == "poly_constraint"
    assert reaches(kernels.logdet, W, 1.0) == "logdet_workspace_bytes"


# ---- NOTEARS and DAGMA (fastcrl._gpu_continuous, fastcrl._lbfgsb_xp) ----------------------------

ESTIMATORS = [
    (NOTEARS, {"constraint": "expm"}),
    (NOTEARS, {"constraint": "poly"}),
    (NOTEARS, {"constraint": "logdet"}),
    (DAGMA, {"solver": "lbfgs"}),
    (DAGMA, {"solver": "adam"}),
]
IDS = [f"{cls.__name__}-{next(iter(kw.values()))}" for cls, kw in ESTIMATORS]


def _continuous_data(loss):
    rng = np.random.default_rng(0)
    if loss == "logistic":
        return (rng.random((30, 4)) < 0.5).astype(float)
    return rng.normal(size=(30, 4))


@pytest.mark.parametrize("loss", ["l2", "logistic"])
@pytest.mark.parametrize("cls, params", ESTIMATORS, ids=IDS)
def test_continuous_fit(cp, cls, params, loss):
    """l2 stops at the covariance kernel; logistic (no covariance) at the first constraint."""
    first = reaches(cls(loss=loss, **params).fit, cp.asarray(_continuous_data(loss)))
    if loss == "l2":
        assert first == "covariance"
    else:
        assert first in ("expm_constraint", "poly_constraint", "logdet_workspace_bytes")


def test_sortnregress_on_device_data(cp):
    assert reaches(SortNRegress().fit, cp.asarray(_continuous_data("l2"))) == "covariance"


@pytest.mark.parametrize("cls, params", ESTIMATORS, ids=IDS)
def test_continuous_driver_l2(cp, cls, params):
    """The l2 loops past the covariance: the device solver's first evaluation runs the kernel."""
    est, d = cls(**params), 4
    S = cp.asarray(np.cov(np.random.default_rng(0).normal(size=(50, d)), rowvar=False))
    free = cp.asarray(~np.eye(d, dtype=bool))
    prob = _gpu_continuous.Problem(cp, S, None, free, cp.ones((d, d)))
    run = _gpu_continuous.notears if est._method == "notears" else _gpu_continuous.dagma
    reaches(run, prob, **_gpu_continuous.estimator_args(est, "l2"))


# ---- fastcrl.stats -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_stats(cp, dtype):
    X = _normal(cp, 20, 3, dtype=dtype)
    assert reaches(stats.column_means, X) == "column_means"
    assert reaches(stats.covariance, X) == "covariance"
    assert reaches(stats.covariance, X, ddof=0, return_means=True) == "covariance"
    assert reaches(stats.gram, X, scale=20.0) == "gram"
    assert reaches(stats.correlation, X) == "covariance"
    cov = cp.asarray(np.eye(3, dtype=dtype) + 0.1)
    assert reaches(stats.correlation, cov=cov) == "correlation_from_covariance"


# ---- fastcrl.scores and the searches -------------------------------------------------------------


def _device_scores(cp):
    """Scores whose statistics live on the device (built without a kernel call)."""
    X = np.random.default_rng(0).normal(size=(50, 4))
    S = cp.asarray(np.cov(X, rowvar=False, ddof=0))
    return [
        GaussianBIC.from_covariance(S, 50),
        BGe.from_covariance(S, 50),
        BDeu(cp.asarray(_codes())),
        DiscreteBIC(cp.asarray(_codes())),
    ]


def _kernel_of(score):
    return "discrete" if isinstance(score, (BDeu, DiscreteBIC)) else "gaussian"


def test_scores_from_device_data(cp):
    assert reaches(GaussianBIC, _normal(cp, 50, 4)) == "covariance"
    assert reaches(BGe, _normal(cp, 50, 4)) == "covariance"
    assert reaches(BGe, _normal(cp, 50, 4), nu=np.zeros(4), iss_w=8.0) == "covariance"
    nodes, offsets, parents = (np.array(a) for a in ([1, 2], [0, 1, 3], [0, 0, 1]))
    for score in _device_scores(cp):
        kernel = f"{_kernel_of(score)}_local_scores"
        assert reaches(score.local_scores, [0, 1, 2], [[], [0], [0, 1]]) == kernel
        assert reaches(score.local_scores, np.array([2, 1]), np.array([[0, 1], [-1, -1]])) == (
            kernel
        )
        assert reaches(_search.device_batch_scorer(score), nodes, offsets, parents) == kernel
        assert np.isfinite(score.local_score(1, [0]))  # single scores run on the host


@pytest.mark.parametrize("search", [GES, HillClimb, ExactSearch])
def test_searches_on_device_data(cp, search):
    family = "subset" if search is ExactSearch else "local"
    assert reaches(search().fit, cp.asarray(_codes())) == f"discrete_{family}_scores"
    assert reaches(search().fit, _normal(cp, 50, 3)) == "covariance"
    for score in _device_scores(cp):  # ready-made scores
        assert reaches(search(score=score).fit, None) == f"{_kernel_of(score)}_{family}_scores"


def test_cli_device_cuda_without_a_device_says_why(cp, tmp_path, capsys):
    data, out = tmp_path / "data.csv", tmp_path / "graph.json"
    np.savetxt(data, _codes(), delimiter=",", fmt="%d")
    argv = ["discover", str(data), "--no-header", "--method", "ges", "--device", "cuda"]
    assert cli.main([*argv, "-o", str(out)]) == 2
    assert "no usable CUDA device" in capsys.readouterr().err and not out.exists()


def test_bootstrap_on_device_data(cp):
    kernel = reaches(bootstrap_edges, GES(), cp.asarray(_codes()), n_bootstrap=2, random_state=0)
    assert kernel == "discrete_local_scores"


class _Foreign:
    """Another library's CUDA array (Numba, PyTorch): nothing but the CUDA array interface."""

    def __init__(self, a):
        self.__cuda_array_interface__ = a.__cuda_array_interface__
        self._keep = a


def test_foreign_device_arrays(cp):
    """Arrays of other libraries are wrapped as CuPy ones on their way to the kernels."""
    x, mu, lv = (_Foreign(_normal(cp, 5, 3, seed=s)) for s in range(3))
    assert reaches(nn.diag_gaussian_logpdf, x, mu, lv) == "nn_diag_gaussian_logpdf"
    assert reaches(_gpu_nn.diag_gaussian_logpdf, x, mu, lv) == "nn_diag_gaussian_logpdf"
    assert reaches(acyclicity.expm_constraint, _Foreign(_normal(cp, 4, 4))) == "expm_constraint"
    assert reaches(stats.covariance, _Foreign(_normal(cp, 20, 3))) == "covariance"
    assert reaches(GaussianBIC, _Foreign(_normal(cp, 20, 3))) == "covariance"
    X = _Foreign(cp.asarray(_continuous_data("logistic")))
    assert reaches(DAGMA(loss="logistic").fit, X) == "logdet_workspace_bytes"


# ---- an idle device: the front ends' code after the kernels ------------------------------------
#
# The bindings get the same real arguments, and their results are what a device that computes
# nothing leaves (zeros), so what runs after each kernel -- status reads, result shapes, epoch and
# solver loops, moving results back -- runs too.


@pytest.mark.parametrize("dtype", DTYPES)
def test_idle_nn_kernels(idle, dtype):
    cp = idle
    for name, args in _gaussian_args(cp, dtype).items():
        out = getattr(nn, name)(*args)
        for o in out if isinstance(out, tuple) else (out,):
            assert isinstance(o, cp.ndarray) and o.dtype == dtype, name
    for labelled in (False, True):
        args = _regression_epoch_args(cp, dtype, labelled)
        total = _gpu_nn.mlp_regression_epoch(*args)
        assert isinstance(total, cp.ndarray) and total.shape == () and args[15][0] == 3
    for posterior in ("full", "diagonal"):
        args = _ivae_epoch_args(cp, dtype, posterior)
        assert _gpu_nn.ivae_train_epoch(*args).shape == () and args[-1][0] == 3


@pytest.mark.parametrize("labelled", [False, True])
def test_idle_mlp_training(idle, labelled):
    cp = idle
    net, X, Y, labels = _mlp_on_device(cp, labelled)
    assert net.forward(X, labels=labels).shape == (8, 2)
    grad, grad_X = net.backward(cp.ones((8, 2)))
    assert grad is net.grad and grad_X.shape == X.shape
    opt = nn.Adam(net.params, lr=1e-2)
    assert np.isfinite(net.mse_step(X, Y, opt, rows=cp.asarray([0, 3, 5]), labels=labels))
    assert np.isfinite(net.train_epoch(X, Y, opt, batch_size=3, labels=labels))
    assert opt.step_count == 4
    assert np.isfinite(
        net.train_epoch(X, Y, opt, batch_size=2, rows=cp.asarray([1, 7]), labels=labels)
    )
    assert isinstance(nn.random_normal((2, 3), 0, like=X), cp.ndarray)
    # the parameter helpers on device parameters
    net.init_params(1).set_params(cp.asarray(np.ones(net.n_params)))
    (W0, b0), _ = net.unpack()
    assert isinstance(W0, cp.ndarray) and float(W0.sum() + b0.sum()) == 30.0


def test_idle_ivae_fit_transform(idle, sources):
    """Trained on the device, transformed on the host (IVAE infers on the CPU)."""
    Z = IVAE(2, **FAST).fit_transform(idle.asarray(sources.X), idle.asarray(sources.env))
    assert type(Z) is np.ndarray and Z.shape == (sources.X.shape[0], 2)


OTHER_OPTIONS = {"early_stopping": False, "learn_prior_mean": True, "lr_schedule": "constant"}


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("init", ["ica", "random"])
@pytest.mark.parametrize("posterior", ["full", "diagonal"])
@pytest.mark.parametrize("options", [{}, OTHER_OPTIONS], ids=["defaults", "others"])
def test_idle_ivae_fit(idle, monkeypatch, sources, fused, init, posterior, options):
    monkeypatch.setattr(IVAE, "_fused_gpu_epochs", fused)
    est = IVAE(2, init=init, posterior=posterior, dtype="float32", **FAST, **options)
    est.fit(idle.asarray(sources.X), sources.env)
    calls = _backend._cuda.calls
    assert calls["nn_ivae_train_epoch" if fused else "nn_mlp_backward"] > 0
    assert (calls["nn_mlp_regression_epoch"] > 0) == (fused and init == "ica")  # warm start
    assert type(est._model.params) is np.ndarray  # brought back to the host
    assert est.transform(sources.X, sources.env).shape == (sources.X.shape[0], 2)
    est.partial_fit(idle.asarray(sources.X), idle.asarray(sources.env), epochs=1)
    assert len(est.history_["loss"]) >= 1


@pytest.mark.parametrize("dtype", [*DTYPES, "int64"])
@pytest.mark.parametrize("shape", [(4, 4), (3, 4, 4)])
def test_idle_acyclicity(idle, dtype, shape):
    cp, W = idle, _weights(idle, dtype, shape)
    out_dtype = np.float64 if dtype == "int64" else dtype
    for fn in (
        acyclicity.expm_constraint,
        acyclicity.poly_constraint,
        acyclicity.logdet_constraint,
        lambda W: acyclicity.logdet_constraint(W, check_domain="flag"),
        lambda W: acyclicity.spectral_radius(W, return_grad=True),
    ):
        h, grad = fn(W)
        assert isinstance(h, cp.ndarray) and h.shape == shape[:-2] and h.dtype == out_dtype
        assert isinstance(grad, cp.ndarray) and grad.shape == shape
    assert acyclicity.spectral_radius(W).shape == shape[:-2]
    kernels, W0 = _gpu_acyclicity.Kernels(), W.reshape(-1, 4, 4)[0].astype(np.float64)
    for h, grad in (kernels.expm(W0), kernels.poly(W0), kernels.logdet(W0, 1.0)):
        assert h.shape == () and grad.shape == (4, 4)


@pytest.fixture
def host_covariance(idle, monkeypatch):
    """``fastcrl.stats.covariance`` computed on the host: the zeros of an idle covariance kernel
    would leave the Gaussian scores and the l2 fits nothing to work with."""

    host = stats.covariance

    def covariance(X, *, ddof=1, return_means=False):
        if not isinstance(X, idle.ndarray):
            return host(X, ddof=ddof, return_means=return_means)
        Xh = X.get()
        cov = idle.asarray(np.atleast_2d(np.cov(Xh, rowvar=False, ddof=ddof)))
        return (cov, idle.asarray(Xh.mean(axis=0))) if return_means else cov

    monkeypatch.setattr(stats, "covariance", covariance)
    monkeypatch.setattr(baselines, "covariance", covariance)


@pytest.mark.filterwarnings("ignore:.*thresholded graph had cycles:UserWarning")  # h is 0 here
@pytest.mark.parametrize("loss", ["l2", "logistic"])
@pytest.mark.parametrize("cls, params", ESTIMATORS, ids=IDS)
def test_idle_continuous_fit(idle, host_covariance, cls, params, loss):
    cp = idle
    X = _continuous_data(loss)
    d = X.shape[1]
    extra = {"T": 2, "checkpoint": 20} if cls is DAGMA else {}
    est = cls(loss=loss, **params, **extra).fit(cp.asarray(X))
    for name in ("W_raw_", "weights_", "adjacency_"):
        assert isinstance(getattr(est, name), cp.ndarray) and getattr(est, name).shape == (d, d)
    assert est.n_iter_ >= 1


@pytest.mark.parametrize("sort", ["var", "r2"])
def test_idle_sortnregress(idle, host_covariance, sort):
    """The covariance on the device, the regressions on the host: the CPU fit's graph."""
    X = _continuous_data("l2")
    est = SortNRegress(sort=sort).fit(idle.asarray(X))
    np.testing.assert_array_equal(est.adjacency_, SortNRegress(sort=sort).fit(X).adjacency_)


def test_idle_stats(idle):
    cp, X = idle, _normal(idle, 20, 3)
    assert stats.column_means(X).shape == (3,)
    cov, means = stats.covariance(X, return_means=True)
    assert cov.shape == (3, 3) and means.shape == (3,)
    assert isinstance(stats.gram(X), cp.ndarray)
    assert stats.correlation(cov=cp.asarray(np.eye(3) + 0.1)).shape == (3, 3)


def test_idle_scores_and_searches(idle, host_covariance):
    cp, X = idle, _normal(idle, 50, 4)
    S, means = stats.covariance(X, ddof=0, return_means=True)
    for score in [
        *_device_scores(cp),
        GaussianBIC(X),
        BGe(X),
        BGe(X, nu=np.ones(4)),
        BGe.from_covariance(S, 50, means, nu=np.ones(4)),
    ]:
        out = score.local_scores([0, 1, 2], [[], [0], [0, 1]])
        assert isinstance(out, cp.ndarray) and out.shape == (3,)
        d = score.n_nodes
        assert np.isfinite(score.score(np.triu(np.ones((d, d)), 1)))
        for search in (GES, HillClimb, ExactSearch):
            assert search(score=score).fit(None).device_ == "cuda"
    for score in (GaussianBIC(X), BGe.from_covariance(S, 50)):
        matrix = score.covariance() if isinstance(score, GaussianBIC) else score.posterior_scale()
        assert isinstance(matrix, cp.ndarray) and matrix.shape == (4, 4)


@pytest.mark.parametrize(
    "search",
    [GES, lambda: GES(restarts=1, random_state=0), HillClimb, ExactSearch],
    ids=["GES", "GES-polished", "HillClimb", "ExactSearch"],
)
def test_idle_discrete_searches_match_the_cpu(idle, search):
    """The discrete and exact-search kernels' NaN hands families to the CPU twin: with every family
    handed over, the device plumbing must give the CPU fit's graph."""
    X = _codes(200, 4, seed=3)
    host, device = search().fit(X), search().fit(idle.asarray(X))
    assert device.device_ == "cuda" and host.device_ == "cpu"
    np.testing.assert_array_equal(device.adjacency_, host.adjacency_)
    score, twin = BDeu(idle.asarray(X)), BDeu(X)
    nodes, sets = [0, 1, 3], [[], [0, 2], [0, 1, 2]]
    np.testing.assert_array_equal(
        score.local_scores(nodes, sets).get(), twin.local_scores(nodes, sets)
    )
    freq = bootstrap_edges(GES(), idle.asarray(X), n_bootstrap=2, random_state=0)
    np.testing.assert_array_equal(
        freq.adjacency, bootstrap_edges(GES(), X, n_bootstrap=2, random_state=0).adjacency
    )


def test_idle_large_gaussian_families_go_to_the_cpu(idle):
    d = int(_cuda.max_gaussian_score_parents) + 2
    S = np.eye(d) + 0.1
    score, twin = (
        GaussianBIC.from_covariance(idle.asarray(S), 100),
        GaussianBIC.from_covariance(S, 100),
    )
    nodes, sets = [0, 1], [list(range(1, d)), [0]]  # too many parents for the kernel, and one
    out = score.local_scores(nodes, sets).get()
    assert out[0] == twin.local_scores(nodes, sets)[0] and out[1] == 0  # the idle kernel's zero


@pytest.mark.filterwarnings("ignore:.*thresholded graph had cycles:UserWarning")
@pytest.mark.parametrize("method", ["notears", "dagma", "ges", "hc", "exact"])
def test_idle_cli_discover(idle, host_covariance, tmp_path, method):
    data = tmp_path / "data.csv"
    rng = np.random.default_rng(0)
    X = _codes() if method in ("ges", "hc", "exact") else rng.normal(size=(40, 3))
    np.savetxt(data, X, delimiter=",", header="a,b,c", comments="", fmt="%.17g")
    out = tmp_path / "graph.json"
    argv = ["discover", str(data), "--method", method, "--device", "cuda", "-o", str(out)]
    assert cli.main(argv) == 0 and out.exists()


# ---- scripted device replies: the front ends' handling of what the kernels report -------------


def _reply(name, fn) -> None:
    _backend._cuda.replies[name] = fn


@pytest.mark.parametrize("batched", [False, True])
def test_kernel_reports_overflow(idle, batched):
    W = _weights(idle, "float64", (2, 4, 4) if batched else (4, 4))
    where = r"W\[1\]: " if batched else ""

    def last_overflows(a):
        _at(a["status"], a["batch"], np.int32)[-1] = 1

    for name in ("expm_constraint", "poly_constraint", "logdet_constraint"):
        _reply(name, last_overflows)
    with pytest.raises(NumericalError, match=rf"^{where}exp\(W∘W\) overflows in float64"):
        acyclicity.expm_constraint(W)
    with pytest.raises(NumericalError, match=rf"^{where}\(I \+ W∘W/d\)\^d overflows"):
        acyclicity.poly_constraint(W)
    with pytest.raises(NumericalError, match=rf"^{where}\(sI - W∘W\)\^\{{-1\}} overflows"):
        acyclicity.logdet_constraint(W)
    acyclicity.logdet_constraint(W, check_domain="flag")  # reads no status


def test_kernel_reports_logdet_outside_the_domain(idle):
    _reply("logdet_constraint", lambda a: _at(a["status"], a["batch"], np.int32).fill(2))

    def bracket(a):  # the power iteration the message quotes
        _at(a["lo"], a["batch"], np.float64).fill(0.5)
        _at(a["hi"], a["batch"], np.float64).fill(0.75)

    _reply("spectral_radius", bracket)
    with pytest.raises(NumericalError, match=r"s = 0.1 is not above .* in \[0.5, 0.75\]"):
        acyclicity.logdet_constraint(_weights(idle, "float32", (4, 4)), 0.1)


def test_kernel_reports_spectral_radius_bracket(idle):
    W = _weights(idle, "float32", (2, 4, 4))

    def wide(a):
        _at(a["status"], a["batch"], np.int32)[1] = 3  # not converged
        _at(a["lo"], a["batch"], np.float64)[:] = 1.0
        _at(a["hi"], a["batch"], np.float64)[:] = [1.0, 2.0]

    _reply("spectral_radius", wide)
    with pytest.warns(RuntimeWarning, match=r"W\[1\]: power iteration did not reach .*\[1, 2\]"):
        rho, grad = acyclicity.spectral_radius(W, return_grad=True)
    assert rho.shape == (2,) and grad.shape == (2, 4, 4)
    _reply("spectral_radius", lambda a: _at(a["hi"], a["batch"], np.float64).fill(1e300))
    with pytest.raises(NumericalError, match=r"W\[0\]: rho\(W∘W\) overflows in float32"):
        acyclicity.spectral_radius(W)


def test_kernel_reports_non_finite_logdet_to_the_fit(idle):
    d = 3
    prob = _gpu_continuous.Problem(
        idle, idle.asarray(np.eye(d)), None, idle.ones((d, d)) > 0, idle.ones((d, d))
    )
    assert prob.logdet(idle.zeros((d, d)), 1.0) == 0.0
    _reply("logdet_constraint", lambda a: _at(a["h"], 1, np.float64).fill(np.nan))
    with pytest.raises(NumericalError, match="W∘W overflows"):
        prob.logdet(idle.zeros((d, d)), 1.0)


def test_kernel_reports_undefined_gaussian_score(idle):
    S = np.cov(np.random.default_rng(0).normal(size=(50, 3)), rowvar=False, ddof=0)
    score = GaussianBIC.from_covariance(idle.asarray(S), 50)
    _reply("gaussian_local_scores", lambda a: a["out"].__setitem__(1, np.nan))  # undefined
    with pytest.raises(NumericalError, match=r"node 'X1' given parents \['X0'\] is undefined"):
        score.local_scores([2, 1], [[], [0]])
