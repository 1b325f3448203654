"""Sufficient statistics: column means, covariance, Gram and correlation matrices.

These are the entry point of every Gaussian score and conditional-independence test.  NumPy input
runs the C++ kernel (OpenBLAS ``syrk``, OpenMP); CuPy input runs the CUDA kernel (cuBLAS) on the
current stream and returns CuPy arrays.  float64 and float32 are kept as given; integer input is
converted to float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._backend import as_device_array, current_stream_ptr, is_device_array, require_cuda
from ._errors import NumericalError
from ._validation import (
    _to_host,
    check_data,
    check_float,
    check_int,
    check_moments_finite,
    check_square_matrix,
    check_symmetric,
)

__all__ = ["column_means", "covariance", "gram", "correlation"]


def _prepare(X: Any, min_samples: int, what: str, allow_constant: bool = True):
    if is_device_array(X):
        # Fail first with the "how to fix" message on a CPU-only build, before touching CuPy.
        require_cuda(f"fastcrl.{what}")
        X = as_device_array(X)
    return check_data(X, "X", min_samples=min_samples, allow_constant=allow_constant)


def _device_call(name: str, X, out_shapes, *args, workspace: str | None = None):
    """Run ``_cuda.<name>(X, *outs, [workspace,] *args, stream)`` on X's device.

    Outputs, and the scratch workspace a kernel needs (``_cuda.<workspace>(n, d, itemsize)`` bytes),
    come from CuPy's memory pool on the current stream, so the C++ side never allocates and the
    workspace is recycled in stream order once Python drops it.
    """
    import cupy

    cuda = require_cuda(f"fastcrl.{name}")
    with cupy.cuda.Device(X.device.id):
        outs = [cupy.empty(shape, dtype=X.dtype) for shape in out_shapes]
        scratch = []
        if workspace is not None:
            nbytes = getattr(cuda, workspace)(X.shape[0], X.shape[1], X.dtype.itemsize)
            scratch = [cupy.empty(nbytes, dtype=cupy.uint8)]
        getattr(cuda, name)(X, *outs, *scratch, *args, current_stream_ptr())
    return outs


def _check_device_variances(cov) -> None:
    """Raise NumericalError for a variance that is not positive and finite (an overflowing
    float32 sum gives inf), as the CPU kernel does (one small sync)."""
    import cupy

    diag = cov.diagonal()
    bad = ~((diag > 0) & cupy.isfinite(diag))
    if bool(bad.any()):
        j = int(bad.argmax())
        raise NumericalError(
            f"correlation is undefined: variance of column {j} is not positive and finite "
            f"({float(diag[j])})"
        )


def column_means(X: Any):
    """Mean of each column.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        NumPy or CuPy array (or pandas DataFrame), float64 or float32.

    Returns
    -------
    means : array of shape (n_features,)
        Same device and dtype as ``X``.

    Examples
    --------
    >>> import numpy as np, fastcrl
    >>> fastcrl.column_means(np.array([[1.0, 2.0], [3.0, 6.0]]))
    array([2., 4.])
    """
    X = _prepare(X, 1, "column_means")
    if is_device_array(X):
        outs = _device_call(
            "column_means", X, [(X.shape[1],)], workspace="column_means_workspace_bytes"
        )
        return outs[0]
    return _core.column_means(X)


def covariance(X: Any, *, ddof: int = 1, return_means: bool = False):
    """Covariance matrix of the columns of ``X``.

    Computed as ``(X - mean)^T (X - mean) / (n - ddof)`` on a centred copy with one symmetric rank-k
    update (BLAS ``syrk``), so it is as accurate as NumPy's two-pass ``np.cov``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        NumPy or CuPy array (or pandas DataFrame), float64 or float32.  Constant columns are allowed
        here (their variance is 0).
    ddof : int, default=1
        Delta degrees of freedom; 1 gives the unbiased estimator, 0 the maximum-likelihood one.
    return_means : bool, default=False
        Also return the column means computed on the way.

    Returns
    -------
    cov : array of shape (n_features, n_features)
        Symmetric; same device and dtype as ``X``.
    means : array of shape (n_features,)
        Only when ``return_means``.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, has NaN/inf, or has ``n_samples <= ddof``.

    Examples
    --------
    >>> import numpy as np, fastcrl
    >>> X = np.random.default_rng(0).normal(size=(1000, 3))
    >>> bool(np.allclose(fastcrl.covariance(X), np.cov(X, rowvar=False)))
    True
    """
    ddof = check_int(ddof, "ddof", low=0)
    cov, means = _covariance_of(_prepare(X, ddof + 1, "covariance"), ddof)
    return (cov, means) if return_means else cov


def _covariance_of(X, ddof: int):
    """(cov, means) of an already validated array, on its device."""
    if is_device_array(X):
        d = X.shape[1]
        cov, means = _device_call(
            "covariance", X, [(d, d), (d,)], ddof, workspace="covariance_workspace_bytes"
        )
    else:
        cov, means = _core.covariance(X, ddof)
    check_moments_finite(cov)
    return cov, means


def gram(X: Any, *, scale: float = 1.0):
    """Uncentred Gram matrix ``X^T X / scale``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    scale : float, default=1.0
        Positive divisor (e.g. ``n_samples`` for the second-moment matrix).

    Returns
    -------
    G : array of shape (n_features, n_features)
        Same device and dtype as ``X``.

    Examples
    --------
    >>> import numpy as np, fastcrl
    >>> fastcrl.gram(np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[10., 14.],
           [14., 20.]])
    """
    scale = check_float(scale, "scale", low=0.0, low_inclusive=False)
    X = _prepare(X, 1, "gram")
    if is_device_array(X):
        d = X.shape[1]
        G = _device_call("gram", X, [(d, d)], scale)[0]
    else:
        G = _core.gram(X, scale)
    check_moments_finite(G)
    return G


def correlation(X: Any = None, *, cov: Any = None):
    """Pearson correlation matrix of the columns of ``X`` (or of a given covariance matrix).

    Parameters
    ----------
    X : array of shape (n_samples, n_features), optional
        Data; constant columns are rejected because their correlation is undefined.
    cov : array of shape (n_features, n_features), optional
        A covariance matrix to normalise instead of data.  Give exactly one of ``X`` and ``cov``.

    Returns
    -------
    corr : array of shape (n_features, n_features)
        Unit diagonal; same device and dtype as the input.

    Raises
    ------
    ValueError
        Bad shapes, NaN/inf, constant columns, both/neither of ``X`` and ``cov`` given, or a
        ``cov`` with an entry beyond ``sqrt(cov[i, i] cov[j, j])`` (not a covariance).
    fastcrl.NumericalError
        If ``cov`` has a non-positive variance on its diagonal.

    Examples
    --------
    >>> import numpy as np, fastcrl
    >>> X = np.random.default_rng(0).normal(size=(500, 4))
    >>> bool(np.allclose(fastcrl.correlation(X), np.corrcoef(X, rowvar=False)))
    True
    """
    if (X is None) == (cov is None):
        raise ValueError("give exactly one of X (data) or cov (a covariance matrix)")
    if X is not None:
        # Constant columns show up as zero variances: no separate pass over X to find them.
        cov = _covariance_of(_prepare(X, 2, "correlation"), 1)[0]
        constant = np.flatnonzero(_to_host(cov.diagonal()) == 0)
        if constant.size:
            raise ValueError(
                f"X has constant columns {constant[:10].tolist()}; their correlation is undefined"
            )
    else:
        if is_device_array(cov):
            require_cuda("fastcrl.correlation")
            cov = as_device_array(cov)
        cov = check_square_matrix(cov, "cov")
        check_symmetric(cov, "cov")
    if is_device_array(cov):
        _check_device_variances(cov)
        d = cov.shape[0]
        corr = _device_call("correlation_from_covariance", cov, [(d, d)])[0]
    else:
        corr = _core.correlation_from_covariance(cov)
    if X is None:
        # |cov_ij| <= sqrt(cov_ii cov_jj) holds for every covariance (positive semi-definite)
        worst = float(abs(corr).max())
        if worst > 1.0 + 100 * np.finfo(corr.dtype).eps:
            raise ValueError(
                f"cov is not a covariance matrix: it implies a correlation of {worst:.6g} "
                "(|cov[i, j]| above sqrt(cov[i, i] cov[j, j]); not positive semi-definite)"
            )
    return corr
