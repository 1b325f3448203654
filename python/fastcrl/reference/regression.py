"""Reference lasso path on sufficient statistics (plain cyclic coordinate descent)."""

from __future__ import annotations

import numpy as np


def lasso_path_gram(G, c, lambdas, penalty=None, tol=1e-12, max_sweeps=100_000):
    """Same problem as :func:`fastcrl.regression.lasso_path_gram`, one coordinate at a time in NumPy."""
    p = G.shape[0]
    penalty = np.ones(p) if penalty is None else penalty
    b = np.zeros(p)
    out = np.zeros((len(lambdas), p))
    for l, lam in enumerate(lambdas):
        for _ in range(max_sweeps):
            change = 0.0
            for i in range(p):
                rho = c[i] - G[i] @ b + G[i, i] * b[i]
                new = np.sign(rho) * max(abs(rho) - lam * penalty[i], 0.0) / G[i, i]
                change = max(change, abs(new - b[i]))
                b[i] = new
            if change < tol:
                break
        out[l] = b
    return out
