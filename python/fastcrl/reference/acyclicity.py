"""Reference acyclicity constraints (NumPy/SciPy), one obviously correct line or two each.

Each takes ``W`` of shape ``(d, d)`` or a stack ``(B, d, d)`` and returns ``(h, grad)`` like
:mod:`fastcrl.acyclicity`; stacks are handled by a Python loop.  Adjacency convention:
``W[i, j] != 0`` is the edge ``i -> j``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from .._errors import NumericalError

__all__ = ["expm_constraint", "logdet_constraint", "poly_constraint", "spectral_radius"]


def _batched(fn):
    def wrapper(W, *args, **kwargs):
        W = np.asarray(W)
        if W.ndim == 3:
            out = [fn(w, *args, **kwargs) for w in W]
            return (
                tuple(np.array(x) for x in zip(*out, strict=True))
                if isinstance(out[0], tuple)
                else np.array(out)
            )
        return fn(W, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


@_batched
def expm_constraint(W):
    """NOTEARS: ``h = tr(exp(W∘W)) - d``, ``grad = exp(W∘W)^T ∘ 2W`` (scipy.linalg.expm)."""
    E = scipy.linalg.expm(W * W)
    return np.trace(E) - W.shape[0], E.T * 2 * W


@_batched
def logdet_constraint(W, s=1.0, check_domain=True):
    """DAGMA: ``h = -log det(sI - W∘W) + d log s``, ``grad = 2W ∘ (sI - W∘W)^{-T}``.

    Raises NumericalError unless ``s`` exceeds the spectral radius of ``W∘W`` (by eigenvalues);
    ``check_domain=False`` skips that ``O(10 d^3)`` check (as DAGMA's own code does; benchmarks).
    """
    d = W.shape[0]
    A = W * W
    if check_domain and s <= spectral_radius(W):
        raise NumericalError(f"s = {s} is not above the spectral radius of W∘W")
    M = s * np.eye(d, dtype=W.dtype) - A
    _, logabsdet = np.linalg.slogdet(M)
    return -logabsdet + d * np.log(s), 2 * W * np.linalg.inv(M).T


@_batched
def poly_constraint(W):
    """DAG-GNN: ``h = tr((I + W∘W/d)^d) - d``, ``grad = 2W ∘ ((I + W∘W/d)^{d-1})^T``."""
    d = W.shape[0]
    P = np.eye(d, dtype=W.dtype) + W * W / d
    G = np.linalg.matrix_power(P, d - 1)
    return np.trace(G @ P) - d, 2 * W * G.T


@_batched
def spectral_radius(W):
    """``max |eig(W∘W)|`` by a dense eigenvalue solver."""
    return np.abs(np.linalg.eigvals(W * W)).max()
