"""fastcrl's projected L-BFGS (``cpp/src/lbfgsb.cpp``) written over an array module ``xp``.

With ``xp = cupy`` the iterate, the gradient, the correction pairs and every pass over them stay on
the device, so the GPU fits of NOTEARS and DAGMA no longer copy the ``2 d^2`` iterate and gradient
across to the host at every evaluation, nor run the solver's own passes (dozens per iteration over
``2 d^2`` values) on one host core -- which is what bounded them at d >= 500.  Only scalars cross:
inner products, norms and the objective.

The method is the C++ one step for step (same active set, reduced two-loop direction restricted to
the free variables, optional diagonal preconditioner, projected Armijo backtracking with safeguarded
quadratic interpolation, SciPy's stopping rules); the free variables are handled by masks instead
of gathered copies, and sums run in the array module's order, so iterates agree with the C++
solver's to rounding, not bit for bit.  With ``xp = numpy`` it is what the tests compare with the
C++ solver; the NumPy estimators keep the C++ solver.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._errors import NumericalError

# Same codes as fastcrl._core.lbfgsb_minimize's status.
PGTOL, FTOL, MAX_ITER, LINE_SEARCH = 0, 1, 2, 3


class _Pairs:
    """Correction pairs ``(s, y)``, newest last, at most ``m``."""

    def __init__(self, m: int):
        self.m = m
        self.S: list[Any] = []
        self.Y: list[Any] = []

    def clear(self) -> None:
        self.S, self.Y = [], []

    def __len__(self) -> int:
        return len(self.S)

    def push(self, xp, s, y) -> None:
        """Keeps the pair only with positive curvature (s.y > eps y.y), as the C++ ring buffer.
        ``s`` and ``y`` are kept as given: the caller passes fresh arrays."""
        sy, yy = _dots(xp, (s, y), (y, y))
        if not (sy > np.finfo(np.float64).eps * yy) or not (yy > 0.0):
            return
        if len(self.S) == self.m:
            self.S.pop(0)
            self.Y.pop(0)
        self.S.append(s)
        self.Y.append(y)

    def apply(self, xp, q, free, dinv):
        """``H q`` by the two-loop recursion on the free variables (``free``: 0/1 mask; ``q`` is
        zero off them), preconditioned by ``dinv`` when given; zero off the free variables.

        Masked products stand for the C++ solver's gathered copies; the recursion's coefficients
        stay on the device (0-d arrays), so only the pairs' curvatures are read, at once.
        """
        count = len(self.S)
        df = free if dinv is None else dinv * free
        curvature = (
            _dots(xp, *((s * free, y) for s, y in zip(self.S, self.Y, strict=True)),
                  *((y * free, y) for y in self.Y))
            if count
            else []
        )
        rho = [0.0] * count
        a: list[Any] = [0.0] * count
        g0, have = 1.0, False
        qf = q.copy()
        for k in range(count - 1, -1, -1):
            sy, yy = curvature[k], curvature[count + k]
            if not (sy > 1e-10 * yy) or not (yy > 0.0):
                continue  # no usable curvature on the free subspace
            rho[k] = 1.0 / sy
            if not have:
                ydy = yy if dinv is None else float((self.Y[k] * df * self.Y[k]).sum())
                g0 = sy / ydy if ydy > 0.0 else 1.0
                have = True
            a[k] = rho[k] * xp.dot(self.S[k], qf)  # (qf is zero off the free variables)
            qf -= a[k] * (self.Y[k] * free)
        r = g0 * df * qf
        for k in range(count):
            if rho[k] == 0.0:
                continue
            b = rho[k] * xp.dot(self.Y[k], r)  # (r is zero off the free variables)
            r += (self.S[k] * free) * (a[k] - b)
        return r


def _dots(xp, *pairs) -> list[float]:
    """Inner products of several vector pairs, read to the host at once (one synchronisation)."""
    values = xp.stack([xp.dot(u, v) for u, v in pairs])
    return [float(v) for v in (values if xp is np else values.get())]


def minimize(
    fun: Callable[[Any], tuple[float, Any]],
    x0,
    lower,
    upper,
    *,
    xp,
    memory: int = 10,
    max_iter: int = 15000,
    max_fun: int = 15000,
    ftol: float = 2.220446049250313e-09,
    pgtol: float = 1e-5,
    max_ls: int = 40,
    diagonal: Callable[[Any], Any] | None = None,
    precondition_every: int = 10,
    ftol_patience: int = 1,
) -> tuple[Any, float, int, int, int, float]:
    """Minimise ``fun`` over ``lower <= x <= upper``; the arguments and the result tuple
    ``(x, f, n_iter, n_fun, status, pg_norm)`` are those of ``fastcrl._core.lbfgsb_minimize``.

    ``fun(x)`` returns ``(f, g)``, ``g`` an ``xp`` array (``f`` may be ``inf`` outside a domain);
    ``diagonal(x)`` a positive Hessian-diagonal estimate.  ``lower``/``upper``: ``xp`` arrays.
    """
    if memory < 1:
        raise ValueError("L-BFGS-B: memory must be >= 1")
    if max_iter < 0 or max_fun < 1 or max_ls < 1:
        raise ValueError("L-BFGS-B: max_iter must be >= 0, max_fun and max_ls >= 1")
    if precondition_every < 1 or ftol_patience < 1:
        raise ValueError("L-BFGS-B: precondition_every and ftol_patience must be >= 1")
    lo, hi = lower, upper
    if bool((lo > hi).any()):
        raise ValueError("L-BFGS-B: a lower bound is above its upper bound")
    fixed = lo == hi
    x = xp.clip(x0, lo, hi)
    f, g = fun(x)
    n_fun, n_iter = 1, 0
    if not math.isfinite(f):
        raise NumericalError("L-BFGS-B: the objective is not finite at the starting point")
    pairs = _Pairs(memory)
    small_steps = 0
    dinv = None
    status, pg_norm = MAX_ITER, 0.0
    while True:
        held = ((x <= lo) & (g > 0.0)) | ((x >= hi) & (g < 0.0)) | fixed
        q = xp.where(held, 0.0, g)
        free = (~held).astype(x.dtype)
        pg_norm = float(xp.abs(xp.clip(x - g, lo, hi) - x).max())
        if pg_norm <= pgtol:
            status = PGTOL
            break
        if n_iter >= max_iter or n_fun >= max_fun:
            status = MAX_ITER
            break
        if diagonal is not None and n_iter % precondition_every == 0:
            D = diagonal(x)
            if not bool(((D > 0.0) & xp.isfinite(D)).all()):
                raise NumericalError("L-BFGS-B: the diagonal Hessian estimate must be > 0")
            dinv = 1.0 / D
        accepted = False
        fold = f
        for attempt in range(2):
            if attempt == 1:
                if len(pairs) == 0 and diagonal is None:
                    break  # already steepest descent
                pairs.clear()
            pre = dinv if diagonal is not None and attempt == 0 else None
            p = -pairs.apply(xp, q, free, pre)
            gp = float(xp.dot(g, p))
            if not gp < 0.0:  # not a descent direction (rounding): the reduced steepest descent
                pairs.clear()
                p = -q
                gp = float(xp.dot(g, p))
                if not gp < 0.0:
                    break
            pmax, pp = (float(v) for v in _host(xp, xp.stack([xp.abs(p).max(), xp.dot(p, p)])))
            alpha = (
                min(1.0, 1.0 / math.sqrt(pp))
                if len(pairs) == 0 and not (diagonal is not None and attempt == 0)
                else 1.0
            )
            for _ in range(max_ls):
                if n_fun >= max_fun:
                    break
                xn = xp.clip(x + alpha * p, lo, hi)
                s = xn - x
                pair = xp.stack([xp.dot(g, s), xp.abs(s).max()])
                dec, moved = (float(v) for v in _host(xp, pair))
                if moved == 0.0 or alpha * pmax < 1e-300:
                    break
                fnew, gn = fun(xn)
                n_fun += 1
                if math.isfinite(fnew) and dec < 0.0 and fnew <= f + 1e-4 * dec:
                    pairs.push(xp, s, gn - g)
                    fold, f = f, fnew
                    x, g = xn, gn
                    accepted = True
                    break
                # Backtrack: safeguarded quadratic interpolation on the projected path, halving
                # outside the domain.
                nxt = 0.5 * alpha
                if math.isfinite(fnew) and dec < 0.0:
                    curv = fnew - f - dec  # > 0 when Armijo failed
                    if curv > 0.0:
                        nxt = min(0.5 * alpha, max(0.1 * alpha, -0.5 * dec * alpha / curv))
                alpha = nxt
            if accepted:
                break
        if not accepted:
            status = MAX_ITER if n_fun >= max_fun else LINE_SEARCH
            break
        n_iter += 1
        small = fold - f <= ftol * max(abs(fold), abs(f), 1.0)
        small_steps = small_steps + 1 if small else 0
        if small_steps >= ftol_patience:
            pg_norm = float(xp.abs(xp.clip(x - g, lo, hi) - x).max())
            status = FTOL
            break
    return x, f, n_iter, n_fun, status, pg_norm


def _host(xp, a) -> np.ndarray:
    return a if xp is np else a.get()
