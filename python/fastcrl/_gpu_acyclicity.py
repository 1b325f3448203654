"""CuPy front end of the CUDA acyclicity kernels (``cuda/acyclicity.cu``), used by
:mod:`fastcrl.acyclicity` when ``W`` lives on a CUDA device.

Validates the device array as the CPU path does (shape, dtype, finiteness), allocates outputs and
the kernels' workspace from CuPy's memory pool, passes raw pointers and CuPy's current stream to
``fastcrl._cuda``, and turns the kernels' per-matrix status codes into the CPU path's exceptions and
warnings.  Results are CuPy arrays on ``W``'s device: ``h`` of shape ``(B,)`` (a 0-d array for one
matrix) and ``grad`` like ``W``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._backend import as_device_array, current_stream_ptr, require_cuda
from ._errors import NumericalError

# Status codes written by the kernels (fastcrl::cuda::AcyclicityStatus).
_OK, _OVERFLOW, _OUTSIDE, _NOT_CONVERGED = 0, 1, 2, 3


def prepare(W: Any, what: str):
    """``(stack, batched, cupy)``: a C-contiguous float32/float64 CuPy stack ``(B, d, d)``."""
    cuda = require_cuda(f"fastcrl.acyclicity.{what}")
    import cupy

    W = as_device_array(W)
    dtype = np.dtype(W.dtype)
    if dtype.kind == "c":
        raise TypeError(f"W must be real; got complex dtype {dtype}")
    if dtype.kind not in "biuf":
        raise TypeError(f"W must be numeric; got dtype {dtype}")
    if dtype not in (np.float32, np.float64):
        W = W.astype(cupy.float64)  # integers and booleans, as on the CPU
    batched = W.ndim == 3
    if W.ndim not in (2, 3) or W.shape[-1] != W.shape[-2]:  # ndim checked first: shape[-2] exists
        raise ValueError(
            "W must be a square matrix (d, d) or a stack of them (B, d, d); got shape "
            f"{tuple(W.shape)}"
        )
    if W.shape[-1] < 1 or (batched and W.shape[0] < 1):
        raise ValueError(f"W must not be empty; got shape {tuple(W.shape)}")
    if not bool(cupy.isfinite(W).all()):
        raise ValueError("W must not contain NaN or inf")
    W3 = cupy.ascontiguousarray(W if batched else W[None])
    return W3, batched, cupy, cuda


def _outputs(cupy, W3):
    B, d = W3.shape[0], W3.shape[1]
    h = cupy.empty(B, dtype=W3.dtype)
    grad = cupy.empty_like(W3)
    status = cupy.zeros(B, dtype=cupy.int32)
    return h, grad, status, B, d


def _finish(h, grad, batched: bool):
    return (h, grad) if batched else (h[0], grad[0])


def _first(status_host, code):
    bad = np.flatnonzero(status_host == code)
    return int(bad[0]) if bad.size else None


def _where(b: int, batched: bool) -> str:
    return f"W[{b}]: " if batched else ""


def expm_constraint(W: Any, method: str):
    if method != "taylor":
        raise ValueError(
            f"method={method!r} has no GPU implementation; CuPy input supports method='taylor' "
            "(pass a NumPy array for 'pade')"
        )
    W3, batched, cupy, cuda = prepare(W, "expm_constraint")
    h, grad, status, B, d = _outputs(cupy, W3)
    with cupy.cuda.Device(W3.device.id):
        nbytes = cuda.expm_workspace_bytes(B, d, W3.itemsize)
        ws = cupy.empty(nbytes, dtype=cupy.uint8)
        cuda.expm_constraint(
            W3.data.ptr,
            B,
            d,
            W3.itemsize,
            h.data.ptr,
            grad.data.ptr,
            status.data.ptr,
            ws.data.ptr,
            nbytes,
            current_stream_ptr(),
        )
        codes = status.get()
    b = _first(codes, _OVERFLOW)
    if b is not None:
        raise NumericalError(
            f"{_where(b, batched)}exp(W∘W) overflows in {W3.dtype.name}: the weights are too large"
        )
    return _finish(h, grad, batched)


def poly_constraint(W: Any):
    W3, batched, cupy, cuda = prepare(W, "poly_constraint")
    h, grad, status, B, d = _outputs(cupy, W3)
    with cupy.cuda.Device(W3.device.id):
        nbytes = cuda.poly_workspace_bytes(B, d, W3.itemsize)
        ws = cupy.empty(nbytes, dtype=cupy.uint8)
        cuda.poly_constraint(
            W3.data.ptr,
            B,
            d,
            W3.itemsize,
            h.data.ptr,
            grad.data.ptr,
            status.data.ptr,
            ws.data.ptr,
            nbytes,
            current_stream_ptr(),
        )
        codes = status.get()
    b = _first(codes, _OVERFLOW)
    if b is not None:
        raise NumericalError(
            f"{_where(b, batched)}(I + W∘W/d)^d overflows in {W3.dtype.name}: "
            "the weights are too large"
        )
    return _finish(h, grad, batched)


def logdet_constraint(W: Any, s: float, flag: bool):
    """``flag``: leave ``h = inf`` / ``grad = NaN`` for matrices outside the domain, without a host
    synchronisation; otherwise read the status codes and raise as the CPU kernel does."""
    W3, batched, cupy, cuda = prepare(W, "logdet_constraint")
    h, grad, status, B, d = _outputs(cupy, W3)
    with cupy.cuda.Device(W3.device.id):
        stream = current_stream_ptr()
        nbytes = cuda.logdet_workspace_bytes(W3.data.ptr, B, d, W3.itemsize, stream)
        ws = cupy.empty(nbytes, dtype=cupy.uint8)
        cuda.logdet_constraint(
            W3.data.ptr,
            B,
            d,
            W3.itemsize,
            float(s),
            h.data.ptr,
            grad.data.ptr,
            status.data.ptr,
            ws.data.ptr,
            nbytes,
            stream,
        )
        if not flag:
            codes = status.get()
            b = _first(codes, _OUTSIDE)
            if b is not None:
                # The bracket for the message, as the CPU kernel's hint (off the fast path).
                rho, lo, hi, _, _ = _power_iteration(W3[b : b + 1], 1000, 1e-8, False)
                raise NumericalError(
                    f"{_where(b, batched)}s = {s:g} is not above the spectral radius of W∘W "
                    "(sI - W∘W has a non-positive LU pivot, or one within rounding of 0; "
                    f"rho(W∘W) is in [{float(lo[0]):.6g}, {float(hi[0]):.6g}]): "
                    "the log-det constraint is only defined "
                    "where sI - W∘W is a nonsingular M-matrix; use a larger s or smaller weights"
                )
            b = _first(codes, _OVERFLOW)
            if b is not None:
                raise NumericalError(
                    f"{_where(b, batched)}(sI - W∘W)^{{-1}} overflows in {W3.dtype.name}: "
                    "sI - W∘W is too "
                    "close to singular for this dtype"
                )
    return _finish(h, grad, batched)


def _power_iteration(W3, n_iter: int, tol: float, return_grad: bool):
    import cupy

    cuda = require_cuda("fastcrl.acyclicity.spectral_radius")
    B, d = W3.shape[0], W3.shape[1]
    with cupy.cuda.Device(W3.device.id):
        rho = cupy.empty(B, dtype=W3.dtype)
        lo = cupy.zeros(B, dtype=cupy.float64)
        hi = cupy.zeros(B, dtype=cupy.float64)
        iters = cupy.zeros(B, dtype=cupy.int32)
        status = cupy.zeros(B, dtype=cupy.int32)
        grad = cupy.empty_like(W3) if return_grad else None
        nbytes = cuda.spectral_radius_workspace_bytes(B, d, W3.itemsize)
        ws = cupy.empty(nbytes, dtype=cupy.uint8)
        cuda.spectral_radius(
            W3.data.ptr,
            B,
            d,
            W3.itemsize,
            int(n_iter),
            float(tol),
            rho.data.ptr,
            lo.data.ptr,
            hi.data.ptr,
            iters.data.ptr,
            0 if grad is None else grad.data.ptr,
            status.data.ptr,
            ws.data.ptr,
            nbytes,
            current_stream_ptr(),
        )
    return rho, lo, hi, status, grad


def spectral_radius(W: Any, n_iter: int, tol: float, return_grad: bool):
    W3, batched, _, _ = prepare(W, "spectral_radius")
    rho, lo, hi, status, grad = _power_iteration(W3, n_iter, tol, return_grad)
    codes = status.get()
    if np.any(codes == _NOT_CONVERGED):
        lo_h, hi_h = lo.get(), hi.get()
        wide = codes == _NOT_CONVERGED
        b = int(np.argmax(np.where(wide, (hi_h - lo_h) / np.where(hi_h > 0, hi_h, 1.0), -1.0)))
        warnings.warn(
            f"spectral_radius: {_where(b, batched)}power iteration did not reach tol={tol:g} in "
            f"n_iter={n_iter} steps; rho(W∘W) is in [{lo_h[b]:.10g}, {hi_h[b]:.10g}] "
            "(on the GPU the "
            "iteration runs on the whole matrix, so the bracket closes only for strongly connected "
            "graphs; pass a NumPy array for the CPU kernel, which splits the graph into strongly "
            "connected components and returns exactly 0 for DAGs)",
            RuntimeWarning,
            stacklevel=3,
        )
    if not batched:
        rho = rho[0]
        grad = None if grad is None else grad[0]
    return (rho, grad) if return_grad else rho
