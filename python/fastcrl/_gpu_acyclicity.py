"""CuPy front end of the CUDA acyclicity kernels (``cuda/acyclicity.cu``), used by
:mod:`fastcrl.acyclicity` when ``W`` lives on a CUDA device.

Validates the device array as the CPU path does (shape, dtype, finiteness, and for log-det and the
spectral radius squares that overflow), allocates outputs and the kernels' workspace from CuPy's
memory pool, passes raw pointers and CuPy's current stream to ``fastcrl._cuda``, and turns the
kernels' per-matrix status codes into the CPU path's exceptions and warnings.  All of it runs under
``W``'s device, whichever device is current.  Results are CuPy arrays on ``W``'s device: ``h`` of
shape ``(B,)`` (a 0-d array for one matrix) and ``grad`` like ``W``.

:class:`Kernels` is the entry for the GPU optimisers (:mod:`fastcrl._gpu_continuous`), whose
iterates are valid by construction: no validation and workspaces kept from call to call.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import numpy as np

from ._backend import as_device_array, current_stream_ptr, require_cuda
from ._errors import NumericalError

# Status codes written by the kernels (fastcrl::cuda::AcyclicityStatus).
_OK, _OVERFLOW, _OUTSIDE, _NOT_CONVERGED = 0, 1, 2, 3


@contextlib.contextmanager
def _on_device(W: Any, what: str):
    """``(W as CuPy, cupy, fastcrl._cuda)`` inside ``W``'s device: the validation's temporaries, the
    outputs and the workspace must live there, not on whichever device is current."""
    cuda = require_cuda(f"fastcrl.acyclicity.{what}")
    import cupy

    W = as_device_array(W)
    with cupy.cuda.Device(W.device.id):
        yield W, cupy, cuda


def prepare(W, cupy, squares: str | None = None):
    """``(stack, batched)``: CuPy ``W`` on the current device as a validated C-contiguous
    float32/float64 stack ``(B, d, d)``.

    ``squares``: also refuse, with the CPU kernels' NumericalError, a matrix whose ``W∘W`` overflows
    in W's own dtype (``"own"``: the log-det kernel squares in it) or in float64 (``"float64"``: the
    spectral radius).  The largest ``|w|`` of each matrix answers that and the finiteness test in
    the same single host read.
    """
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
    W3 = cupy.ascontiguousarray(W if batched else W[None])
    if squares is None:
        if not bool(cupy.isfinite(W3).all()):
            raise ValueError("W must not contain NaN or inf")
        return W3, batched
    # Non-finite entries as inf: a max keeps inf (NaN, CuPy's cuTENSOR reductions may drop).
    amax = cupy.where(cupy.isfinite(W3), cupy.abs(W3), cupy.inf).max(axis=(1, 2)).get()
    if not np.isfinite(amax).all():
        raise ValueError("W must not contain NaN or inf")
    amax = amax.astype(np.float64 if squares == "float64" else W3.dtype)  # squared as the kernel
    with np.errstate(over="ignore"):  # the overflow is the answer
        bad = np.flatnonzero(~np.isfinite(amax * amax))
    if bad.size:
        raise NumericalError(
            f"{_where(int(bad[0]), batched)}W∘W overflows in {amax.dtype.name}: "
            "the weights are too large"
        )
    return W3, batched


def _outputs(cupy, W3):
    return cupy.empty(W3.shape[0], dtype=W3.dtype), cupy.empty_like(W3)


def _scratch(cupy, W3, kind: str, nbytes_of, cache: dict | None):
    """``(workspace, nbytes, status)`` for one launch (every kernel writes all of ``status`` before
    reading it): fresh from CuPy's pool, or from ``cache`` while ``kind`` keeps its shape, dtype,
    device and stream (stream order then keeps the calls from overlapping)."""
    key = (W3.shape, W3.dtype.char, W3.device.id, current_stream_ptr())
    if cache is not None:
        hit = cache.get(kind)
        if hit is not None and hit[0] == key:
            return hit[1]
    nbytes = int(nbytes_of())
    entry = (
        cupy.empty(nbytes, dtype=cupy.uint8),
        nbytes,
        cupy.empty(W3.shape[0], dtype=cupy.int32),
    )
    if cache is not None:
        cache[kind] = (key, entry)
    return entry


# Launchers: W3 is valid and on the current device; they return (h, grad, status) on the device.


def _power_series(cupy, cuda, W3, kind: str, cache=None):
    """The trace-exponential (``kind="expm"``) or the polynomial (``"poly"``) constraint: the two
    kernels take the same arguments."""
    B, d = W3.shape[0], W3.shape[1]
    h, grad = _outputs(cupy, W3)
    workspace_bytes = getattr(cuda, f"{kind}_workspace_bytes")
    ws, nbytes, status = _scratch(cupy, W3, kind, lambda: workspace_bytes(B, d, W3.itemsize), cache)
    getattr(cuda, f"{kind}_constraint")(
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
    return h, grad, status


def _expm(cupy, cuda, W3, cache=None):
    return _power_series(cupy, cuda, W3, "expm", cache)


def _poly(cupy, cuda, W3, cache=None):
    return _power_series(cupy, cuda, W3, "poly", cache)


def _logdet(cupy, cuda, W3, s: float, cache=None):
    """No host synchronisation: outside the domain h = +inf and grad = NaN; where W∘W overflows
    (or W is not finite) h = NaN."""
    B, d = W3.shape[0], W3.shape[1]
    stream = current_stream_ptr()
    h, grad = _outputs(cupy, W3)
    ws, nbytes, status = _scratch(
        cupy,
        W3,
        "logdet",
        lambda: cuda.logdet_workspace_bytes(W3.data.ptr, B, d, W3.itemsize, stream),
        cache,
    )
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
    return h, grad, status


def _finish(h, grad, batched: bool):
    return (h, grad) if batched else (h[0], grad[0])


def _first(status_host, code):
    bad = np.flatnonzero(status_host == code)
    return int(bad[0]) if bad.size else None


def _where(b: int, batched: bool) -> str:
    return f"W[{b}]: " if batched else ""


def _raise_overflow(status, batched: bool, what: str, dtype) -> None:
    """The CPU kernels' NumericalError for the first matrix whose ``what`` overflowed."""
    b = _first(status.get(), _OVERFLOW)
    if b is not None:
        raise NumericalError(
            f"{_where(b, batched)}{what} overflows in {np.dtype(dtype).name}: "
            "the weights are too large"
        )


def expm_constraint(W: Any, method: str):
    if method != "taylor":
        raise ValueError(
            f"method={method!r} has no GPU implementation; CuPy input supports method='taylor' "
            "(pass a NumPy array for 'pade')"
        )
    with _on_device(W, "expm_constraint") as (W, cupy, cuda):
        W3, batched = prepare(W, cupy)
        h, grad, status = _expm(cupy, cuda, W3)
        _raise_overflow(status, batched, "exp(W∘W)", W3.dtype)
        return _finish(h, grad, batched)


def poly_constraint(W: Any):
    with _on_device(W, "poly_constraint") as (W, cupy, cuda):
        W3, batched = prepare(W, cupy)
        h, grad, status = _poly(cupy, cuda, W3)
        _raise_overflow(status, batched, "(I + W∘W/d)^d", W3.dtype)
        return _finish(h, grad, batched)


def logdet_constraint(W: Any, s: float, flag: bool):
    """``flag``: leave ``h = inf`` / ``grad = NaN`` for matrices outside the domain, without a host
    synchronisation after the launch; otherwise read the status codes and raise as the CPU kernel
    does.  Either way a ``W∘W`` that overflows raises (in ``prepare``), as on the CPU."""
    with _on_device(W, "logdet_constraint") as (W, cupy, cuda):
        W3, batched = prepare(W, cupy, squares="own")
        h, grad, status = _logdet(cupy, cuda, W3, s)
        if not flag:
            codes = status.get()
            b = _first(codes != _OK, True)  # the first failing matrix, as on the CPU
            if b is not None and codes[b] == _OUTSIDE:
                # The bracket for the message, as the CPU kernel's hint (off the fast path).
                rho, lo, hi, _, _ = _power_iteration(cuda, cupy, W3[b : b + 1], 1000, 1e-8, False)
                raise NumericalError(
                    f"{_where(b, batched)}s = {s:g} is not above the spectral radius of W∘W "
                    "(sI - W∘W has a non-positive LU pivot, or one within rounding of 0; "
                    f"rho(W∘W) is in [{float(lo[0]):.6g}, {float(hi[0]):.6g}]): "
                    "the log-det constraint is only defined "
                    "where sI - W∘W is a nonsingular M-matrix; use a larger s or smaller weights"
                )
            if b is not None:
                raise NumericalError(
                    f"{_where(b, batched)}(sI - W∘W)^{{-1}} overflows in {W3.dtype.name}: "
                    "sI - W∘W is too "
                    "close to singular for this dtype"
                )
        return _finish(h, grad, batched)


def _power_iteration(cuda, cupy, W3, n_iter: int, tol: float, return_grad: bool):
    """The kernel on a valid stack on the current device: ``(rho, lo, hi, status, grad)``."""
    B, d = W3.shape[0], W3.shape[1]
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
    with _on_device(W, "spectral_radius") as (W, cupy, cuda):
        # The kernel squares in float64: only float64 weights can overflow there.
        W3, batched = prepare(W, cupy, squares="float64")
        rho, lo, hi, status, grad = _power_iteration(cuda, cupy, W3, n_iter, tol, return_grad)
        codes = status.get()
        lo_h, hi_h = lo.get(), hi.get()
    # As the CPU kernel: an error when rho, bounded by hi, does not fit W's dtype.
    with np.errstate(over="ignore"):
        top = hi_h.astype(W3.dtype)
    bad = np.flatnonzero(~np.isfinite(top))
    if bad.size:
        raise NumericalError(f"{_where(int(bad[0]), batched)}rho(W∘W) overflows in {W3.dtype.name}")
    if np.any(codes == _NOT_CONVERGED):
        wide = codes == _NOT_CONVERGED
        b = int(np.argmax(np.where(wide, (hi_h - lo_h) / np.where(hi_h > 0, hi_h, 1.0), -1.0)))
        warnings.warn(
            f"spectral_radius: {_where(b, batched)}power iteration did not reach tol={tol:g} in "
            f"n_iter={n_iter} steps; rho(W∘W) is in [{lo_h[b]:.10g}, {hi_h[b]:.10g}] "
            "(on the GPU the iteration runs on the whole matrix, so the bracket closes only for "
            "strongly connected graphs, and acyclic ones, which give exactly 0; pass a NumPy array "
            "for the CPU kernel, which splits the graph into strongly connected components)",
            RuntimeWarning,
            stacklevel=3,
        )
    if not batched:
        rho = rho[0]
        grad = None if grad is None else grad[0]
    return (rho, grad) if return_grad else rho


class Kernels:
    """The constraints for callers whose ``W`` is valid by construction: a C-contiguous float64 or
    float32 CuPy matrix ``(d, d)`` on the current device, such as the GPU optimisers' own iterates.

    No validation (each costs a host synchronisation) and the workspaces are kept from call to
    call (no allocation, and no cuSOLVER size query for log-det), so :meth:`logdet` queues its
    kernels without waiting for the device.  A non-finite ``W`` counts as an overflow, as in the C++
    estimators' kernels.
    """

    def __init__(self):
        import cupy

        self._cupy = cupy
        self._cuda = require_cuda("fastcrl.acyclicity")
        self._cache: dict = {}

    def _stack(self, W):
        return self._cupy.ascontiguousarray(W)[None]

    def expm(self, W):
        """``(h, grad)``; NumericalError when exp(W∘W) overflows (one host read)."""
        W3 = self._stack(W)
        h, grad, status = _expm(self._cupy, self._cuda, W3, self._cache)
        _raise_overflow(status, False, "exp(W∘W)", W3.dtype)
        return h[0], grad[0]

    def poly(self, W):
        """``(h, grad)``; NumericalError when the matrix power overflows (one host read)."""
        W3 = self._stack(W)
        h, grad, status = _poly(self._cupy, self._cuda, W3, self._cache)
        _raise_overflow(status, False, "(I + W∘W/d)^d", W3.dtype)
        return h[0], grad[0]

    def logdet(self, W, s: float):
        """``(h, grad)`` as ``check_domain="flag"``, queued without a host read: ``h = +inf``
        outside the domain, ``h = NaN`` where W∘W overflows (the CPU kernel's NumericalError, for
        the caller to raise once it reads ``h``)."""
        h, grad, _ = _logdet(self._cupy, self._cuda, self._stack(W), s, self._cache)
        return h[0], grad[0]
