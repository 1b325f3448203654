"""Reference neural-network building blocks (NumPy): MLP forward/backward by the explicit chain rule,
Gaussian log-densities / KL / reparameterisation with their gradients, Adam, and Philox-4x32-10.

Conventions match :mod:`fastcrl.nn`: the flat parameter vector is ``[W_0, b_0, W_1, b_1, ...]`` with
``W_l`` of shape ``(fan_in, fan_out)`` row-major, and a layer computes ``act(H @ W + b)``.  The
Cholesky factors are packed row by row, ``raw[i*(i+1)//2 + j]`` for ``j <= i``, with the diagonal
mapped through ``exp`` or ``softplus``.
"""

from __future__ import annotations

import numpy as np

LOG2PI = np.log(2 * np.pi)


# ---- MLP -------------------------------------------------------------------------------------------


def activation(a, name, slope=0.01, alpha=1.0):
    """``act(a)`` for ``name`` in identity, leaky_relu, tanh, xtanh, elu."""
    if name == "identity":
        return a
    if name == "leaky_relu":
        return np.where(a > 0, a, slope * a)
    if name == "tanh":
        return np.tanh(a)
    if name == "xtanh":
        return np.tanh(a) + 0.1 * a
    if name == "elu":
        return np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0)))
    raise ValueError(f"unknown activation {name!r}")


def activation_grad(a, name, slope=0.01, alpha=1.0):
    """``act'(a)`` (the right derivative at kinks)."""
    if name == "identity":
        return np.ones_like(a)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, slope).astype(a.dtype)
    if name == "tanh":
        return 1 - np.tanh(a) ** 2
    if name == "xtanh":
        return 1.1 - np.tanh(a) ** 2
    if name == "elu":
        return np.where(a > 0, 1.0, alpha * np.exp(np.minimum(a, 0))).astype(a.dtype)
    raise ValueError(f"unknown activation {name!r}")


def n_params(sizes):
    return sum(fi * fo + fo for fi, fo in zip(sizes[:-1], sizes[1:], strict=False))


def unpack(params, sizes):
    """List of ``(W_l, b_l)`` views into the flat vector."""
    out, off = [], 0
    for fi, fo in zip(sizes[:-1], sizes[1:], strict=False):
        W = params[off : off + fi * fo].reshape(fi, fo)
        off += fi * fo
        out.append((W, params[off : off + fo]))
        off += fo
    return out


def pack(layers):
    return np.concatenate([np.concatenate([W.ravel(), b.ravel()]) for W, b in layers])


def mlp_forward(params, X, sizes, activations, slope=0.01, alpha=1.0, return_cache=False):
    """Output ``(n, sizes[-1])``; with ``return_cache`` also the per-layer (input, pre-activation)."""
    H, cache = X, []
    for (W, b), act in zip(unpack(params, sizes), activations, strict=False):
        A = H @ W + b
        cache.append((H, A))
        H = activation(A, act, slope, alpha)
    return (H, cache) if return_cache else H


def mlp_backward(params, X, sizes, activations, grad_out, slope=0.01, alpha=1.0):
    """``(dL/dparams flat, dL/dX)`` for upstream ``grad_out = dL/dout``, by the chain rule."""
    _, cache = mlp_forward(params, X, sizes, activations, slope, alpha, return_cache=True)
    layers = unpack(params, sizes)
    grads = [None] * len(layers)
    G = grad_out
    for li in reversed(range(len(layers))):
        H, A = cache[li]
        dA = G * activation_grad(A, activations[li], slope, alpha)
        grads[li] = (H.T @ dA, dA.sum(axis=0))
        G = dA @ layers[li][0].T
    return pack(grads), G


# ---- diagonal Gaussians ---------------------------------------------------------------------------


def diag_gaussian_logpdf(x, mu, logvar):
    return -0.5 * np.sum(LOG2PI + logvar + (x - mu) ** 2 * np.exp(-logvar), axis=-1)


def diag_gaussian_logpdf_backward(x, mu, logvar, g):
    """Gradients of ``sum(g * logpdf)`` w.r.t. (x, mu, logvar)."""
    g = g[:, None]
    r = (x - mu) * np.exp(-logvar)
    return -g * r, g * r, g * 0.5 * ((x - mu) * r - 1)


def diag_gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    """``KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p))`` per row."""
    return 0.5 * np.sum(
        logvar_p - logvar_q + (np.exp(logvar_q) + (mu_q - mu_p) ** 2) * np.exp(-logvar_p) - 1,
        axis=-1,
    )


def diag_gaussian_kl_backward(mu_q, logvar_q, mu_p, logvar_p, g):
    g = g[:, None]
    dm, ivp, vq = mu_q - mu_p, np.exp(-logvar_p), np.exp(logvar_q)
    return g * dm * ivp, g * 0.5 * (vq * ivp - 1), -g * dm * ivp, g * 0.5 * (1 - (vq + dm**2) * ivp)


def diag_gaussian_sample(mu, logvar, eps):
    return mu + np.exp(0.5 * logvar) * eps


def diag_gaussian_sample_backward(logvar, eps, gz):
    return gz.copy(), gz * 0.5 * np.exp(0.5 * logvar) * eps


# ---- Cholesky-parameterised Gaussians --------------------------------------------------------------


def _diag_map(raw, transform):
    """(L_ii, dL_ii/draw) for the raw diagonal."""
    if transform == "exp":
        e = np.exp(raw)
        return e, e
    if transform == "softplus":
        return np.logaddexp(0, raw), 1 / (1 + np.exp(-raw))
    raise ValueError(f"unknown transform {transform!r}")


def cholesky_unpack(raw, d, transform="exp"):
    """Dense ``(n, d, d)`` lower-triangular factors from the packed ``(n, d(d+1)/2)`` parameters."""
    rows, cols = np.tril_indices(d)  # row-major order: (0,0), (1,0), (1,1), (2,0), ...
    L = np.zeros((raw.shape[0], d, d), dtype=raw.dtype)
    L[:, rows, cols] = raw
    idx = np.arange(d)
    L[:, idx, idx] = _diag_map(L[:, idx, idx], transform)[0]
    return L


def _pack_lower(M):
    rows, cols = np.tril_indices(M.shape[-1])
    return M[:, rows, cols]


def _chain_diag(gL, raw, d, transform):
    """Gradient w.r.t. the packed raw parameters from a dense gradient w.r.t. L."""
    g = _pack_lower(gL)
    diag_pos = np.arange(d) * (np.arange(d) + 3) // 2  # packed index of (i, i)
    g[:, diag_pos] *= _diag_map(raw[:, diag_pos], transform)[1]
    return g


def chol_gaussian_logpdf(x, mu, raw, transform="exp"):
    d = x.shape[1]
    L = cholesky_unpack(raw, d, transform)
    s = np.linalg.solve(L, (x - mu)[:, :, None])[:, :, 0]
    logdet = np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    return -0.5 * (d * LOG2PI + np.sum(s**2, axis=1)) - logdet


def chol_gaussian_logpdf_backward(x, mu, raw, g, transform="exp"):
    """Gradients of ``sum(g * logpdf)`` w.r.t. (x, mu, raw): with s = L^-1 (x-mu), t = L^-T s,
    d/dx = -t, d/dL = t s^T - diag(1/L_ii)."""
    d = x.shape[1]
    L = cholesky_unpack(raw, d, transform)
    s = np.linalg.solve(L, (x - mu)[:, :, None])
    t = np.linalg.solve(np.swapaxes(L, 1, 2), s)
    gL = t @ np.swapaxes(s, 1, 2) - np.apply_along_axis(
        np.diag, 1, 1 / np.diagonal(L, axis1=1, axis2=2)
    )
    gL = g[:, None, None] * np.tril(gL)
    t = t[:, :, 0] * g[:, None]
    return -t, t, _chain_diag(gL, raw, d, transform)


def chol_gaussian_kl(mu_q, raw_q, mu_p, logvar_p, transform="exp"):
    """``KL(N(mu_q, L L^T) || N(mu_p, diag(e^logvar_p)))`` per row."""
    d = mu_q.shape[1]
    L = cholesky_unpack(raw_q, d, transform)
    var_q_diag = np.sum(L**2, axis=2)
    logdet = np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    return 0.5 * (
        np.sum((var_q_diag + (mu_q - mu_p) ** 2) * np.exp(-logvar_p) + logvar_p, axis=1)
        - d
        - 2 * logdet
    )


def chol_gaussian_kl_backward(mu_q, raw_q, mu_p, logvar_p, g, transform="exp"):
    d = mu_q.shape[1]
    L = cholesky_unpack(raw_q, d, transform)
    ivp = np.exp(-logvar_p)
    dm = mu_q - mu_p
    gL = L * ivp[:, :, None] - np.apply_along_axis(np.diag, 1, 1 / np.diagonal(L, axis1=1, axis2=2))
    gL = g[:, None, None] * np.tril(gL)
    gm = g[:, None] * dm * ivp
    glv = g[:, None] * 0.5 * (1 - (np.sum(L**2, axis=2) + dm**2) * ivp)
    return gm, _chain_diag(gL, raw_q, d, transform), -gm, glv


def chol_gaussian_sample(mu, raw, eps, transform="exp"):
    L = cholesky_unpack(raw, mu.shape[1], transform)
    return mu + (L @ eps[:, :, None])[:, :, 0]


def chol_gaussian_sample_backward(raw, eps, gz, transform="exp"):
    d = eps.shape[1]
    gL = np.tril(gz[:, :, None] * eps[:, None, :])
    return gz.copy(), _chain_diag(gL, raw, d, transform)


# ---- Adam ------------------------------------------------------------------------------------------


def adam_update(
    params,
    grads,
    m,
    v,
    step,
    lr=1e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    decoupled=False,
):
    """One Adam/AdamW step (PyTorch's formulation); returns new (params, m, v)."""
    p = params.copy()
    g = grads + weight_decay * p if (weight_decay and not decoupled) else grads
    if weight_decay and decoupled:
        p = p * (1 - lr * weight_decay)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    mhat = m / (1 - beta1**step)
    vhat = v / (1 - beta2**step)
    return p - lr * mhat / (np.sqrt(vhat) + eps), m, v


# ---- Philox-4x32-10 --------------------------------------------------------------------------------

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = np.uint64(0xFFFFFFFF)


def philox4x32_10(counter, key):
    """Philox-4x32-10 on arrays of counters ``(4, n)`` (uint64 holding 32-bit words), key ``(k0, k1)``."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = int(key[0]), int(key[1])
    for r in range(10):
        if r:
            k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c1, c2, c3 = (
            (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0),
            p1 & _MASK,
            (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1),
            p0 & _MASK,
        )
    return c0, c1, c2, c3


def _blocks(n, seed, offset):
    k = np.uint64(offset) + np.arange(n, dtype=np.uint64)
    b = k >> np.uint64(1)
    zero = np.zeros_like(b)
    words = philox4x32_10(
        (b & _MASK, b >> np.uint64(32), zero, zero), (seed & 0xFFFFFFFF, seed >> 32)
    )
    u = [
        ((hi << np.uint64(32) | lo) >> np.uint64(11)).astype(np.float64) * 2.0**-53
        for hi, lo in (words[:2], words[2:])
    ]
    return k & np.uint64(1), u[0], u[1]


def random_uniform(n, seed, offset=0):
    """float64 uniforms for draws ``offset .. offset+n-1`` (draw k: block k//2, half k%2)."""
    odd, u0, u1 = _blocks(n, seed, offset)
    return np.where(odd == 1, u1, u0)


def random_normal(n, seed, offset=0):
    """float64 standard normals: Box-Muller on the block's two uniforms (cos for even k, sin for odd)."""
    odd, u0, u1 = _blocks(n, seed, offset)
    r = np.sqrt(-2 * np.log(u0 + 2.0**-53))
    th = 2 * np.pi * u1
    return np.where(odd == 1, r * np.sin(th), r * np.cos(th))
