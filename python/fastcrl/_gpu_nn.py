"""CuPy front end of the CUDA latent-encoder kernels (``cuda/nn.cu``).

Every function here has the signature and return convention of its twin in ``fastcrl._core`` (the
CPU kernels bound in ``python/bindings/bind_nn.cpp``), so code written against the pair
``(numpy, fastcrl._core)`` runs unchanged on ``(cupy, fastcrl._gpu_nn)``; :func:`fastcrl.nn.kernels`
picks the pair.  The checks mirror the CPU bindings' (dtype shared by all arguments, C-contiguity,
shapes); finiteness is checked by the public wrappers in :mod:`fastcrl.nn`, not on this hot path.
Outputs and workspaces come from CuPy's memory pool; kernels are queued on CuPy's current stream
(no host synchronisation).  Each function runs on the device of its first array argument
(:func:`on_input_device`).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import numpy as np

from ._backend import as_device_array, current_stream_ptr, is_device_array, require_cuda

_ACT_CODES = {"identity": 0, "leaky_relu": 1, "tanh": 2, "xtanh": 3, "elu": 4}
_TRANSFORM_CODES = {"exp": 0, "softplus": 1}


def _cuda():
    return require_cuda("fastcrl.nn on CuPy arrays")


def device_of(a: Any):
    """A context that makes the CUDA device holding ``a`` current; a no-op for host arrays.

    CuPy allocates (``empty``, ``zeros_like``, contiguous copies) on the current device, not on the
    device of its input, and keeps one current stream per device: work on device arrays runs inside
    this context so that outputs, workspaces and the stream all belong to the data's device.
    """
    if not is_device_array(a):
        return contextlib.nullcontext()
    try:  # as CuPy on its own device (not cupy.asarray, which copies to the current one)
        dev = getattr(as_device_array(a), "device", None)
    except ImportError:  # no CuPy: nothing to enter; the argument checks then say so
        return contextlib.nullcontext()
    # a stand-in for CuPy (the CPU tests of the GPU code paths) has no device to enter
    return dev if hasattr(dev, "__enter__") else contextlib.nullcontext()


def on_input_device(fn):
    """Decorator: run ``fn`` inside :func:`device_of` its first device-array argument."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        for a in (*args, *kwargs.values()):
            if is_device_array(a):
                with device_of(a):
                    return fn(*args, **kwargs)
        return fn(*args, **kwargs)

    return run


def _shape_str(shape) -> str:
    return str(tuple(int(s) for s in shape))


def _check(named: dict[str, Any], writable: tuple[str, ...] = ()):
    """Device arrays of one float dtype, C-contiguous; returns (list of arrays, dtype)."""
    import cupy

    out, dtype = [], None
    for name, a in named.items():
        if not isinstance(a, cupy.ndarray):
            if hasattr(a, "__cuda_array_interface__") or hasattr(a, "__dlpack_device__"):
                a = cupy.asarray(as_device_array(a))  # Numba/PyTorch arrays: zero-copy views
            else:
                raise TypeError(
                    f"{name} must be a CuPy (device) array like the other arguments; got "
                    f"{type(a).__name__}"
                )
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be float32 or float64; got {a.dtype}")
        if dtype is None:
            dtype = a.dtype
        elif a.dtype != dtype:
            raise TypeError(f"{name} has dtype {a.dtype} but the other arguments are {dtype}")
        if not a.flags.c_contiguous:
            if name in writable:
                raise ValueError(f"{name} must be C-contiguous (it is written in place)")
            a = cupy.ascontiguousarray(a)
        out.append(a)
    return out, np.dtype(dtype)


def _rows(x, name: str):
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d); got shape {_shape_str(x.shape)}")
    return int(x.shape[0]), int(x.shape[1])


def _same(a, name: str, shape) -> None:
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {_shape_str(shape)}; got {_shape_str(a.shape)}")


def _transform(t: str) -> int:
    try:
        return _TRANSFORM_CODES[t]
    except KeyError:
        raise ValueError(f"unknown transform {t!r}; expected 'exp' or 'softplus'") from None


def _ptr(a) -> int:
    return 0 if a is None else int(a.data.ptr)


# ---- MLP -----------------------------------------------------------------------------------------


def _spec_args(spec) -> tuple[list[int], list[int], float, float]:
    return (
        [int(s) for s in spec.sizes],
        [_ACT_CODES[a] for a in spec.activations],
        float(spec.leaky_slope),
        float(spec.elu_alpha),
    )


def _check_classes(spec, labels, n_classes) -> int:
    """The one-hot block's classes: 0 without labels, else in [1, sizes[0])."""
    if labels is None:
        return 0
    n_classes = int(n_classes)
    if not 1 <= n_classes < int(spec.sizes[0]):
        raise ValueError(f"n_classes must lie in [1, {int(spec.sizes[0])}) with labels")
    return n_classes


def _mlp_common(spec, params, X, workspace, n_classes=0):
    (params, X, workspace), dtype = _check(
        {"params": params, "X": X, "workspace": workspace}, writable=("workspace",)
    )
    sizes = spec.sizes
    if params.shape != (int(spec.n_params),):
        raise ValueError(
            f"params must have shape ({int(spec.n_params)},); got {_shape_str(params.shape)}"
        )
    n, f = _rows(X, "X")
    if f != sizes[0] - n_classes:
        want = sizes[0] - n_classes
        raise ValueError(f"X must have shape (n, {want}); got {_shape_str(X.shape)}")
    need = int(spec.workspace_size(n))
    if workspace.ndim != 1 or workspace.size < need:
        raise ValueError(f"workspace must be 1-D with at least {need} entries for {n} rows")
    return params, X, workspace, dtype, n


@on_input_device
def mlp_forward(spec, params, X, workspace, out=None, training=True, labels=None, n_classes=0):
    """``out (n, sizes[-1]) = MLP(X)``; keeps what :func:`mlp_backward` needs when ``training``.
    With ``labels``, the input's last ``n_classes`` columns are their one-hot code."""
    import cupy

    n_classes = _check_classes(spec, labels, n_classes)
    params, X, workspace, dtype, n = _mlp_common(spec, params, X, workspace, n_classes)
    if labels is not None:
        labels = _index_vector(labels, "labels", n, n_classes)
    shape = (n, int(spec.sizes[-1]))
    if out is None:
        out = cupy.empty(shape, dtype=dtype)
    else:
        (out,), odt = _check({"out": out}, writable=("out",))
        if odt != dtype:  # the kernel writes n * sizes[-1] elements of params' dtype
            raise TypeError(f"out has dtype {odt} but params is {dtype}")
        _same(out, "out", shape)
    _cuda().nn_mlp_forward(
        *_spec_args(spec), _ptr(params), _ptr(X), n, _ptr(out), _ptr(workspace), bool(training),
        dtype.itemsize, current_stream_ptr(), _ptr(labels), n_classes,
    )  # fmt: skip
    return out


@on_input_device
def mlp_backward(
    spec, params, X, workspace, grad_out, grad_params=None, need_grad_input=True, accumulate=False,
    labels=None, n_classes=0,
):  # fmt: skip
    """``(grad_params, grad_X or None)`` after a training ``mlp_forward`` on the same batch (and
    the same ``labels``, whose one-hot rows of ``W_0`` get per-label gradient sums)."""
    import cupy

    n_classes = _check_classes(spec, labels, n_classes)
    params, X, workspace, dtype, n = _mlp_common(spec, params, X, workspace, n_classes)
    if labels is not None:
        labels = _index_vector(labels, "labels", n, n_classes)
    (grad_out,), gdt = _check({"grad_out": grad_out})
    if gdt != dtype:
        raise TypeError(f"grad_out has dtype {gdt} but params is {dtype}")
    _same(grad_out, "grad_out", (n, int(spec.sizes[-1])))
    if accumulate and grad_params is None:  # as the CPU binding: nothing to add to
        raise ValueError("accumulate=True needs grad_params")
    if grad_params is None:
        grad_params = cupy.zeros(int(spec.n_params), dtype=dtype)
    else:
        (grad_params,), gpdt = _check({"grad_params": grad_params}, writable=("grad_params",))
        if gpdt != dtype:
            raise TypeError(f"grad_params has dtype {gpdt} but params is {dtype}")
        _same(grad_params, "grad_params", (int(spec.n_params),))
    grad_X = cupy.empty_like(X) if need_grad_input else None
    _cuda().nn_mlp_backward(
        *_spec_args(spec), _ptr(params), _ptr(X), n, _ptr(grad_out), _ptr(workspace),
        _ptr(grad_params), _ptr(grad_X), bool(accumulate), dtype.itemsize, current_stream_ptr(),
        _ptr(labels), n_classes,
    )  # fmt: skip
    return grad_params, grad_X


# ---- Gaussians -----------------------------------------------------------------------------------


def _same_shapes(arrs, names, shape) -> None:
    for a, name in zip(arrs, names, strict=True):
        _same(a, name, shape)


def _run(fn_name: str, *args) -> None:
    getattr(_cuda(), fn_name)(*args, current_stream_ptr())


def _g_vec(g, n, dtype):
    import cupy

    if g is None:
        return cupy.ones(n, dtype=dtype)
    (g,), gdt = _check({"g": g})
    if gdt != dtype:
        raise TypeError(f"g has dtype {gdt} but the other arguments are {dtype}")
    _same(g, "g", (n,))
    return g


@on_input_device
def diag_gaussian_logpdf(x, mu, logvar):
    import cupy

    (x, mu, logvar), dt = _check({"x": x, "mu": mu, "logvar": logvar})
    n, d = _rows(x, "x")
    _same_shapes((mu, logvar), ("mu", "logvar"), x.shape)
    out = cupy.empty(n, dtype=dt)
    _run("nn_diag_gaussian_logpdf", _ptr(x), _ptr(mu), _ptr(logvar), n, d, _ptr(out), dt.itemsize)
    return out


@on_input_device
def diag_gaussian_logpdf_backward(x, mu, logvar, g):
    import cupy

    (x, mu, logvar), dt = _check({"x": x, "mu": mu, "logvar": logvar})
    n, d = _rows(x, "x")
    _same_shapes((mu, logvar), ("mu", "logvar"), x.shape)
    g = _g_vec(g, n, dt)
    gx, gmu, glv = (cupy.empty_like(x) for _ in range(3))
    _run(
        "nn_diag_gaussian_logpdf_backward", _ptr(x), _ptr(mu), _ptr(logvar), _ptr(g), n, d,
        _ptr(gx), _ptr(gmu), _ptr(glv), dt.itemsize,
    )  # fmt: skip
    return gx, gmu, glv


@on_input_device
def diag_gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    import cupy

    (mq, lvq, mp, lvp), dt = _check(
        {"mu_q": mu_q, "logvar_q": logvar_q, "mu_p": mu_p, "logvar_p": logvar_p}
    )
    n, d = _rows(mq, "mu_q")
    _same_shapes((lvq, mp, lvp), ("logvar_q", "mu_p", "logvar_p"), mq.shape)
    out = cupy.empty(n, dtype=dt)
    _run(
        "nn_diag_gaussian_kl",
        _ptr(mq),
        _ptr(lvq),
        _ptr(mp),
        _ptr(lvp),
        n,
        d,
        _ptr(out),
        dt.itemsize,
    )
    return out


@on_input_device
def diag_gaussian_kl_backward(mu_q, logvar_q, mu_p, logvar_p, g):
    import cupy

    (mq, lvq, mp, lvp), dt = _check(
        {"mu_q": mu_q, "logvar_q": logvar_q, "mu_p": mu_p, "logvar_p": logvar_p}
    )
    n, d = _rows(mq, "mu_q")
    _same_shapes((lvq, mp, lvp), ("logvar_q", "mu_p", "logvar_p"), mq.shape)
    g = _g_vec(g, n, dt)
    outs = [cupy.empty_like(mq) for _ in range(4)]
    _run(
        "nn_diag_gaussian_kl_backward", _ptr(mq), _ptr(lvq), _ptr(mp), _ptr(lvp), _ptr(g), n, d,
        *(_ptr(o) for o in outs), dt.itemsize,
    )  # fmt: skip
    return tuple(outs)


@on_input_device
def diag_gaussian_sample(mu, logvar, eps):
    import cupy

    (mu, logvar, eps), dt = _check({"mu": mu, "logvar": logvar, "eps": eps})
    n, d = _rows(mu, "mu")
    _same_shapes((logvar, eps), ("logvar", "eps"), mu.shape)
    z = cupy.empty_like(mu)
    _run("nn_diag_gaussian_sample", _ptr(mu), _ptr(logvar), _ptr(eps), n, d, _ptr(z), dt.itemsize)
    return z


@on_input_device
def diag_gaussian_sample_backward(logvar, eps, gz):
    import cupy

    (logvar, eps, gz), dt = _check({"logvar": logvar, "eps": eps, "gz": gz})
    n, d = _rows(logvar, "logvar")
    _same_shapes((eps, gz), ("eps", "gz"), logvar.shape)
    gmu, glv = cupy.empty_like(logvar), cupy.empty_like(logvar)
    _run(
        "nn_diag_gaussian_sample_backward", _ptr(logvar), _ptr(eps), _ptr(gz), n, d,
        _ptr(gmu), _ptr(glv), dt.itemsize,
    )  # fmt: skip
    return gmu, glv


def _packed(raw, name: str, n: int, d: int) -> None:
    _same(raw, name, (n, d * (d + 1) // 2))


@on_input_device
def cholesky_unpack(raw, d, transform="exp"):
    import cupy

    (raw,), dt = _check({"raw": raw})
    d = int(d)
    if d < 1:
        raise ValueError(f"d must be >= 1; got {d}")
    n, _ = _rows(raw, "raw")
    _packed(raw, "raw", n, d)
    L = cupy.empty((n, d, d), dtype=dt)
    _run("nn_cholesky_unpack", _ptr(raw), n, d, _transform(transform), _ptr(L), dt.itemsize)
    return L


@on_input_device
def chol_gaussian_logpdf(x, mu, raw, transform="exp"):
    import cupy

    (x, mu, raw), dt = _check({"x": x, "mu": mu, "raw": raw})
    n, d = _rows(x, "x")
    _same(mu, "mu", x.shape)
    _packed(raw, "raw", n, d)
    out = cupy.empty(n, dtype=dt)
    _run(
        "nn_chol_gaussian_logpdf", _ptr(x), _ptr(mu), _ptr(raw), n, d, _transform(transform),
        _ptr(out), dt.itemsize,
    )  # fmt: skip
    return out


@on_input_device
def chol_gaussian_logpdf_backward(x, mu, raw, g, transform="exp"):
    import cupy

    (x, mu, raw), dt = _check({"x": x, "mu": mu, "raw": raw})
    n, d = _rows(x, "x")
    _same(mu, "mu", x.shape)
    _packed(raw, "raw", n, d)
    g = _g_vec(g, n, dt)
    gx, gmu, graw = cupy.empty_like(x), cupy.empty_like(x), cupy.empty_like(raw)
    _run(
        "nn_chol_gaussian_logpdf_backward", _ptr(x), _ptr(mu), _ptr(raw), _ptr(g), n, d,
        _transform(transform), _ptr(gx), _ptr(gmu), _ptr(graw), dt.itemsize,
    )  # fmt: skip
    return gx, gmu, graw


@on_input_device
def chol_gaussian_kl(mu_q, raw_q, mu_p, logvar_p, transform="exp"):
    import cupy

    (mq, raw, mp, lvp), dt = _check(
        {"mu_q": mu_q, "raw_q": raw_q, "mu_p": mu_p, "logvar_p": logvar_p}
    )
    n, d = _rows(mq, "mu_q")
    _same_shapes((mp, lvp), ("mu_p", "logvar_p"), mq.shape)
    _packed(raw, "raw_q", n, d)
    out = cupy.empty(n, dtype=dt)
    _run(
        "nn_chol_gaussian_kl", _ptr(mq), _ptr(raw), _ptr(mp), _ptr(lvp), n, d,
        _transform(transform), _ptr(out), dt.itemsize,
    )  # fmt: skip
    return out


@on_input_device
def chol_gaussian_kl_backward(mu_q, raw_q, mu_p, logvar_p, g, transform="exp"):
    import cupy

    (mq, raw, mp, lvp), dt = _check(
        {"mu_q": mu_q, "raw_q": raw_q, "mu_p": mu_p, "logvar_p": logvar_p}
    )
    n, d = _rows(mq, "mu_q")
    _same_shapes((mp, lvp), ("mu_p", "logvar_p"), mq.shape)
    _packed(raw, "raw_q", n, d)
    g = _g_vec(g, n, dt)
    gmq, graw, gmp, glvp = (
        cupy.empty_like(mq), cupy.empty_like(raw), cupy.empty_like(mq), cupy.empty_like(mq)
    )  # fmt: skip
    _run(
        "nn_chol_gaussian_kl_backward", _ptr(mq), _ptr(raw), _ptr(mp), _ptr(lvp), _ptr(g), n, d,
        _transform(transform), _ptr(gmq), _ptr(graw), _ptr(gmp), _ptr(glvp), dt.itemsize,
    )  # fmt: skip
    return gmq, graw, gmp, glvp


@on_input_device
def chol_gaussian_sample(mu, raw, eps, transform="exp"):
    import cupy

    (mu, raw, eps), dt = _check({"mu": mu, "raw": raw, "eps": eps})
    n, d = _rows(mu, "mu")
    _same(eps, "eps", mu.shape)
    _packed(raw, "raw", n, d)
    z = cupy.empty_like(mu)
    _run(
        "nn_chol_gaussian_sample", _ptr(mu), _ptr(raw), _ptr(eps), n, d, _transform(transform),
        _ptr(z), dt.itemsize,
    )  # fmt: skip
    return z


@on_input_device
def chol_gaussian_sample_backward(raw, eps, gz, transform="exp"):
    import cupy

    (raw, eps, gz), dt = _check({"raw": raw, "eps": eps, "gz": gz})
    n, d = _rows(eps, "eps")
    _same(gz, "gz", eps.shape)
    _packed(raw, "raw", n, d)
    gmu, graw = cupy.empty_like(eps), cupy.empty_like(raw)
    _run(
        "nn_chol_gaussian_sample_backward", _ptr(raw), _ptr(eps), _ptr(gz), n, d,
        _transform(transform), _ptr(gmu), _ptr(graw), dt.itemsize,
    )  # fmt: skip
    return gmu, graw


# ---- Adam and random numbers ---------------------------------------------------------------------


@on_input_device
def adam_update(
    params, grads, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
    decoupled=False,
):  # fmt: skip
    """One fused, in-place Adam step on 1-D device arrays of one dtype (``_core.adam_update``)."""
    import cupy

    for name, a in (("params", params), ("grads", grads), ("m", m), ("v", v)):
        if not isinstance(a, cupy.ndarray) or a.ndim != 1 or not a.flags.c_contiguous:
            raise TypeError(f"{name} must be a contiguous 1-D CuPy array")
        if a.dtype != params.dtype or a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} has dtype {a.dtype}; all must be float32 or all float64")
        if a.shape != params.shape:
            raise ValueError(f"{name} must have shape {params.shape}; got {a.shape}")
    _run(
        "nn_adam_update", _ptr(params), _ptr(grads), _ptr(m), _ptr(v), int(params.size),
        int(step), float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
        bool(decoupled), params.dtype.itemsize,
    )  # fmt: skip


@on_input_device
def _fill(out, seed, offset, normal: bool) -> None:
    import cupy

    if not isinstance(out, cupy.ndarray) or not out.flags.c_contiguous:
        raise TypeError("out must be a C-contiguous CuPy array")
    if out.dtype not in (np.float32, np.float64):
        raise TypeError(f"out must be float32 or float64; got {out.dtype}")
    if out.size == 0:
        return
    seed, offset = int(seed), int(offset)
    if not 0 <= seed < 2**64 or not 0 <= offset < 2**64 or offset + out.size > 2**64:
        raise ValueError("seed and offset must lie in [0, 2^64) and offset + size <= 2^64")
    _run("nn_random_fill", _ptr(out), int(out.size), seed, offset, normal, out.dtype.itemsize)


def random_normal_fill(out, seed, offset=0) -> None:
    """Fill ``out`` with standard normals, draws ``offset ..`` of the Philox stream ``seed``."""
    _fill(out, seed, offset, True)


def random_uniform_fill(out, seed, offset=0) -> None:
    """Fill ``out`` with uniforms on ``[0, 1)``: draws ``offset ..`` of stream ``seed``."""
    _fill(out, seed, offset, False)


# ---- training epochs queued from C++ -------------------------------------------------------------


def _index_vector(a, name: str, size: int | None, high: int):
    """``a`` as a contiguous int64 device vector (of ``size`` entries) with entries in [0, high)."""
    import cupy

    a = cupy.ascontiguousarray(cupy.asarray(a))
    if a.dtype != np.int64 or a.ndim != 1 or (size is not None and a.size != size):
        want = f"({size},)" if size is not None else "(n,)"
        raise ValueError(f"{name} must be int64 of shape {want}; got {a.dtype} {a.shape}")
    if a.size and (int(a.min()) < 0 or int(a.max()) >= high):
        raise ValueError(f"{name} holds entries outside [0, {high})")
    return a


def _finish(steps, error, progress, total):
    """``progress[0]`` = the steps queued; re-raise what a signal handler raised (Ctrl-C) during
    the epoch; else the epoch's loss sum (0-d float64 device array)."""
    progress[0] = steps
    if error is not None:
        raise error
    return total


@on_input_device
def mlp_regression_epoch(
    spec, params, grad, m, v, adam_step, lr, beta1, beta2, eps, X, Y, order, batch,
    mean_over_outputs, progress, weight_decay=0.0, decoupled=False, labels=None, n_classes=0,
):  # fmt: skip
    """One MLP regression epoch on the GPU (``_core.mlp_regression_epoch``'s twin); returns the loss
    sum as a 0-d float64 device array, ``progress[0]`` (host) the steps queued.  With ``labels`` the
    input's last ``n_classes`` columns are their one-hot code and ``X`` holds the others."""
    import cupy

    (params, grad, m, v, X, Y), dtype = _check(
        {"params": params, "grad": grad, "m": m, "v": v, "X": X, "Y": Y},
        writable=("params", "grad", "m", "v"),
    )
    for name, a in (("params", params), ("grad", grad), ("m", m), ("v", v)):
        _same(a, name, (int(spec.n_params),))
    sizes, acts, slope, alpha = _spec_args(spec)
    n, f = _rows(X, "X")
    n_classes = int(n_classes) if labels is not None else 0
    if labels is not None and not 1 <= n_classes < sizes[0]:
        raise ValueError(f"n_classes must lie in [1, {sizes[0]}) with labels; got {n_classes}")
    if f != sizes[0] - n_classes:
        want = sizes[0] - n_classes
        raise ValueError(f"X must have shape (n, {want}); got {_shape_str(X.shape)}")
    _same(Y, "Y", (n, sizes[-1]))
    order = _index_vector(order, "order", None, n)
    if labels is not None:
        labels = _index_vector(labels, "labels", n, n_classes)
    batch = int(batch)
    if batch < 1:
        raise ValueError(f"batch must be >= 1; got {batch}")
    cuda = _cuda()
    ws = cupy.empty(int(cuda.nn_regression_workspace_elems(sizes, acts, batch)), dtype=dtype)
    label_ws = cupy.empty(batch, dtype=np.int64) if labels is not None else None
    total = cupy.zeros((), dtype=np.float64)
    steps, error = cuda.nn_mlp_regression_epoch(
        sizes, acts, slope, alpha, _ptr(params), _ptr(grad), _ptr(m), _ptr(v), int(adam_step),
        float(lr), float(beta1), float(beta2), float(eps), _ptr(X), _ptr(Y), _ptr(order),
        int(order.size), batch, bool(mean_over_outputs), float(weight_decay), bool(decoupled),
        _ptr(labels), n_classes, _ptr(label_ws), _ptr(ws), _ptr(total),
        dtype.itemsize, current_stream_ptr(),
    )  # fmt: skip
    return _finish(steps, error, progress, total)


@on_input_device
def ivae_train_epoch(
    shape, params, grad, m, v, adam_step, lrs, beta1, beta2, eps, X, seg, order, batch,
    noise_seed, noise_offset, progress,
):  # fmt: skip
    """One iVAE training epoch on the GPU (``_core.ivae_train_epoch``'s twin).

    ``shape`` is the model's ``fastcrl._core.IVAEShape``; ``lrs`` and ``progress`` are host arrays.
    Returns the epoch's loss sum as a 0-d float64 device array (no host synchronisation).  The steps
    are queued from C++; ``progress[0]`` receives how many, also when Ctrl-C stops the epoch.
    """
    import cupy

    (params, grad, m, v, X), dtype = _check(
        {"params": params, "grad": grad, "m": m, "v": v, "X": X},
        writable=("params", "grad", "m", "v"),
    )
    n_params = int(shape.n_params)
    for name, a in (("params", params), ("grad", grad), ("m", m), ("v", v)):
        _same(a, name, (n_params,))
    D, K, d = int(shape.n_features), int(shape.n_segments), int(shape.n_latents)
    n_rows, width = _rows(X, "X")
    if width != D:
        raise ValueError(f"X must have shape (n, {D}); got {_shape_str(X.shape)}")
    seg = _index_vector(seg, "seg", n_rows, K)
    order = _index_vector(order, "order", None, n_rows)
    batch = int(batch)
    if batch < 1:
        raise ValueError(f"batch must be >= 1; got {batch}")
    enc, dec = _spec_args(shape.encoder), _spec_args(shape.decoder)
    full = shape.posterior == "full"
    cuda = _cuda()
    need = int(cuda.nn_ivae_workspace_elems(enc[0], enc[1], dec[0], dec[1], D, K, d, full, batch))
    ws = cupy.empty(need, dtype=dtype)
    seg_ws = cupy.empty(batch, dtype=np.int64)
    total = cupy.zeros((), dtype=np.float64)
    steps, error = cuda.nn_ivae_train_epoch(
        enc[0], enc[1], dec[0], dec[1], enc[2], enc[3], D, K, d, full,
        float(shape.decoder_var), bool(shape.learn_prior_mean),
        _ptr(params), _ptr(grad), _ptr(m), _ptr(v), int(adam_step),
        [float(x) for x in np.asarray(lrs, dtype=np.float64)],
        float(beta1), float(beta2), float(eps), _ptr(X), _ptr(seg), _ptr(order), int(order.size),
        batch, int(noise_seed), int(noise_offset), _ptr(ws), _ptr(seg_ws), _ptr(total),
        dtype.itemsize, current_stream_ptr(),
    )  # fmt: skip
    return _finish(steps, error, progress, total)
