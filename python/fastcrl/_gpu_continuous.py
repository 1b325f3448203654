"""NOTEARS and DAGMA on a CUDA device: the C++ loops of ``cpp/src/notears.cpp`` and
``cpp/src/dagma.cpp`` written once over an array module ``xp``.

With ``xp = cupy`` the data, the covariance, ``W``, every evaluation of the loss and of the
acyclicity constraint (``fastcrl.acyclicity`` on CuPy arrays: ``cuda/acyclicity.cu``) and the
L-BFGS-B solver itself (``_lbfgsb_xp``, on the ``2 d^2`` split iterate) stay on the device; only
scalars (the objective, ``h``, inner products) cross to the host.  With ``xp = numpy`` the same
code runs on the CPU kernels, which is how tests check the driver against the C++ estimators on
machines without a GPU.

L-BFGS-B is fastcrl's own projected method: on NumPy the C++ solver of the C++ loops
(``_core.lbfgsb_minimize``), on CuPy the same method over the array module (``_lbfgsb_xp``), with
the C++ loops' objectives and Hessian-diagonal preconditioners, so the driver follows the C++
iterates to round-off.  Adam runs entirely on the device, one host synchronisation per step (the
domain test ``isfinite(h)`` that decides the next step): its steps take only the loss's gradient,
and the constraints go straight to the kernels (``_gpu_acyclicity.Kernels``: the iterates are
valid by construction, so no validation, and the workspaces are kept from step to step).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core, _gpu_acyclicity, _lbfgsb_xp
from ._backend import as_device_array, require_cuda
from ._errors import NumericalError
from .acyclicity import expm_constraint, logdet_constraint, poly_constraint

_INT_MAX = 2**31 - 1
# SciPy's L-BFGS-B defaults, as the C++ estimators use them (continuous.py passes the same numbers).
_MEMORY = 10
_NOTEARS_FTOL = 2.220446049250313e-09
_NOTEARS_PGTOL = 1e-5
_NOTEARS_MAX_ITER = 15000
# Tests set this to run the array-module solver (_lbfgsb_xp) on NumPy, against the C++ one.
_ARRAY_SOLVER_ON_HOST = False


class Problem:
    """Loss, L1 penalty and constraint of one fit, on the arrays' device.

    ``S`` (d, d) for the l2 loss or ``X`` (n, d) 0/1 data for the logistic loss; ``free`` (d, d)
    bool, ``penalty`` (d, d) float.  ``GL`` and ``Gh`` hold the last gradients, as the C++ loops'
    scratch vectors.

    With CuPy the constraints call the kernels directly (``_gpu_acyclicity.Kernels``); a
    non-finite ``W`` (a wild trial step) then counts as an overflow, NumericalError, as in the C++
    loops' kernels.
    """

    def __init__(self, xp, S, X, free, penalty):
        self.xp = xp
        self.kernels = None if xp is np else _gpu_acyclicity.Kernels()
        self.S, self.X = S, X
        self.d = (S if S is not None else X).shape[1]
        self.free = free
        self.free_f = free.astype(xp.float64)
        self.pen = penalty
        self.eye = xp.eye(self.d)
        self.GL = None
        self.Gh = None
        # loss curvature per source row i of W (the preconditioners' loss part)
        if S is not None:
            self.loss_curv = xp.diag(S).copy()
        else:
            self.loss_curv = 0.25 * (X * X).mean(axis=0)

    def loss(self, W) -> float:
        """The loss at ``W`` (a host read), its gradient in ``GL``."""
        xp = self.xp
        if self.S is not None:
            # R = S (I - W); loss = 0.5 <I - W, R>; grad = -R.
            R = self.S - self.S @ W
            self.GL = -R
            return 0.5 * float(((self.eye - W) * R).sum())
        M = self._logistic_grad(W)
        softplus = xp.where(M > 0, M + xp.log1p(xp.exp(-xp.abs(M))), xp.log1p(xp.exp(-xp.abs(M))))
        return float((softplus - self.X * M).sum()) / self.X.shape[0]

    def loss_grad(self, W) -> None:
        """Only the gradient, in ``GL`` (the same arithmetic as :meth:`loss`): Adam's steps need no
        loss value, and reading one would wait for the device."""
        if self.S is not None:
            self.GL = -(self.S - self.S @ W)
        else:
            self._logistic_grad(W)

    def _logistic_grad(self, W):
        """Sets ``GL`` for the logistic loss; returns ``M = X W``."""
        xp = self.xp
        M = self.X @ W
        ex = xp.exp(-xp.abs(M))
        sig = xp.where(M >= 0, 1.0 / (1.0 + ex), ex / (1.0 + ex))
        self.GL = (self.X.T @ (sig - self.X)) / self.X.shape[0]
        return M

    def l1(self, W) -> float:
        return float((self.pen * self.xp.abs(W)).sum())

    def logdet(self, W, s: float) -> float:
        """h_s(W), +inf outside the domain; NumericalError when W o W overflows (as the CPU kernel
        with check_domain="flag")."""
        if self.kernels is None:
            h, self.Gh = logdet_constraint(W, s, check_domain="flag")
            return float(h)
        h, self.Gh = self.kernels.logdet(W, s)
        v = float(h)  # the one host read of an Adam step
        if math.isnan(v):
            raise NumericalError("W∘W overflows in float64: the weights are too large")
        return v

    def constraint(self, kind: str, W) -> float:
        if kind == "logdet":
            return self.logdet(W, 1.0)
        if self.kernels is not None:
            h, self.Gh = self.kernels.expm(W) if kind == "expm" else self.kernels.poly(W)
        elif kind == "expm":
            h, self.Gh = expm_constraint(W)
        else:
            h, self.Gh = poly_constraint(W)
        return float(h)

    def constraint_or_inf(self, kind: str, W) -> float:
        """``constraint`` with an overflow (of exp(W o W), of W o W, or a non-finite W on the
        GPU) reported as +inf (a rejected trial step), as the C++ loop catches NumericalError."""
        try:
            return self.constraint(kind, W)
        except NumericalError:
            return math.inf

    def constraint_matrix(self, kind: str, W):
        """E ~ f(W o W) for the preconditioner, as ``constraint_matrix`` in cpp/src/notears.cpp:
        (I - A)^{-1} for log-det, else exp(A) by scaling and squaring a degree-8 Taylor polynomial;
        None when not finite."""
        xp = self.xp
        A = W * W
        if kind == "logdet":
            try:
                E = xp.linalg.inv(self.eye - A)
            except np.linalg.LinAlgError:
                return None
        else:
            norm = float(A.sum(axis=1).max())
            squarings = 0
            while norm > 0.5 and squarings < 60:
                norm *= 0.5
                squarings += 1
            B = math.ldexp(1.0, -squarings) * A
            E = self.eye.copy()
            for m in range(8, 0, -1):
                E = (B @ E) * (1.0 / m) + self.eye
            for _ in range(squarings):
                E = E @ E
        return E if bool(xp.isfinite(E).all()) else None

    def to_host(self, a) -> np.ndarray:
        return a if self.xp is np else a.get()

    def to_device(self, a):
        return a if self.xp is np else self.xp.asarray(a)


def _record(t0, **fields) -> dict[str, Any]:
    fields.setdefault("lr", 0.0)
    fields["time"] = time.perf_counter() - t0
    return fields


def _lbfgsb(
    xp, fun, x0, upper, max_iter: int, max_fun: int, ftol: float, pgtol: float, diagonal,
    patience=1,
):
    """Minimise over ``0 <= x <= upper``: on NumPy with the C++ solver (the one the C++ loops use),
    on CuPy with the same method on the device (``_lbfgsb_xp``).

    Returns ``(x, n_iter, converged)``.
    """
    lower = xp.zeros_like(x0)
    if xp is np and not _ARRAY_SOLVER_ON_HOST:
        x, _, n_iter, _, status, _ = _core.lbfgsb_minimize(
            fun, x0, lower, upper, _MEMORY, max_iter, max_fun, ftol, pgtol, 40, diagonal, 10,
            patience,
        )
    else:
        x, _, n_iter, _, status, _ = _lbfgsb_xp.minimize(
            fun, x0, lower, upper, xp=xp, memory=_MEMORY, max_iter=max_iter, max_fun=max_fun,
            ftol=ftol, pgtol=pgtol, max_ls=40, diagonal=diagonal, precondition_every=10,
            ftol_patience=patience,
        )
    return x, int(n_iter), int(status) in (0, 1)


def _split_diagonal(prob: Problem, D):
    """The (d, d) Hessian-diagonal estimate D, floored at 1e-12, for both halves of w = (W+, W-)."""
    Dh = prob.xp.maximum(D, 1e-12).ravel()
    return prob.xp.concatenate([Dh, Dh])


def _upper_bounds(prob: Problem):
    up = prob.xp.where(prob.free.ravel(), np.inf, 0.0)
    return prob.xp.concatenate([up, up])


# ------------------------------------------------------------------------------------------ NOTEARS


def notears(
    prob: Problem,
    *,
    constraint: str,
    lambda1: float,
    max_iter: int,
    h_tol: float,
    rho_max: float,
    callback: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """The augmented Lagrangian loop of ``notears_fit`` (cpp/src/notears.cpp), step for step."""
    t0 = time.perf_counter()
    d = prob.d
    dd = d * d
    xp = prob.xp
    # The iterate w = (W+, W-) lives on W's device: the CuPy fits run the solver there too.
    pen = prob.pen.ravel()
    upper = _upper_bounds(prob)
    state = {"rho": 1.0, "alpha": 0.0}

    def to_W(w):
        return (w[:dd] - w[dd:]).reshape(d, d)

    def l1(w) -> float:
        return float((pen * (w[:dd] + w[dd:])).sum())

    def al(w):
        W = to_W(w)
        h = prob.constraint_or_inf(constraint, W)
        if not math.isfinite(h):
            return math.inf, xp.zeros_like(w)
        L = prob.loss(W)
        rho, alpha = state["rho"], state["alpha"]
        c = rho * h + alpha
        G = (prob.GL + c * prob.Gh).ravel()
        g = xp.concatenate([G + lambda1 * pen, -G + lambda1 * pen])
        return L + 0.5 * rho * h * h + alpha * h + lambda1 * l1(w), g

    def diagonal(w):
        # notears.cpp: S_ii + rho (dh/dW_ij)^2 + (rho h + alpha) (2 E_ji + 4 W_ij^2 E_ji^2)
        W = to_W(w)
        hp = prob.constraint_or_inf(constraint, W)
        D = xp.broadcast_to(prob.loss_curv[:, None], (d, d))
        E = prob.constraint_matrix(constraint, W) if math.isfinite(hp) else None
        if E is not None:
            c = max(state["rho"] * hp + state["alpha"], 0.0)
            e = xp.maximum(E.T, 0.0)
            D = D + state["rho"] * prob.Gh * prob.Gh + c * (2.0 * e + 4.0 * W * W * e * e)
        return _split_diagonal(prob, D)

    w_est = xp.zeros(2 * dd)
    h = math.inf
    history = []
    inner_fun = 2 * _NOTEARS_MAX_ITER + 10
    for it in range(1, max_iter + 1):
        nit, n_solves, ok = 0, 0, True
        while True:
            rho_used = state["rho"]
            w_new, n, conv = _lbfgsb(
                xp,
                al,
                w_est.copy(),
                upper,
                _NOTEARS_MAX_ITER,
                inner_fun,
                _NOTEARS_FTOL,
                _NOTEARS_PGTOL,
                diagonal,
            )
            nit += n
            n_solves += 1
            ok = ok and conv
            h_new = prob.constraint(constraint, to_W(w_new))
            if not math.isfinite(h_new):
                raise NumericalError("NOTEARS: h became non-finite")
            if h_new > 0.25 * h:
                state["rho"] *= 10.0
                if state["rho"] >= rho_max:
                    break
            else:
                break
        w_est = w_new
        h = h_new
        state["alpha"] += state["rho"] * h
        loss = prob.loss(to_W(w_est))
        rec = _record(
            t0,
            iteration=it,
            rho=rho_used,
            alpha=state["alpha"],
            h=h,
            loss=loss,
            objective=loss + lambda1 * l1(w_est),
            inner_iterations=nit,
            n_solves=n_solves,
            inner_converged=ok,
        )
        history.append(rec)
        if callback is not None:
            callback(rec)
        if h <= h_tol or state["rho"] >= rho_max:
            break
    return {
        "W": to_W(w_est),
        "h": h,
        "loss": history[-1]["loss"],
        "n_iter": len(history),
        "converged": h <= h_tol,
        "history": history,
    }


# ------------------------------------------------------------------------------------------ DAGMA


# One Adam step of DAGMA in one launch (CuPy): the gradient (l2 loss from S W and S, or a given
# loss gradient), the moments, the step and W, updated in place.  The same arithmetic as the NumPy
# lines of _dagma_adam; a step of separate CuPy operations is some 25 launches, which at d = 500
# cost more than the log-det itself.
_ADAM_STEP_BODY = """
    T g_loss = LOSS_GRADIENT;
    T sign_w = w > 0 ? T(1) : (w < 0 ? T(-1) : w);
    T g = (mu * (g_loss + (lam * pen) * sign_w) + gh) * free_f;
    m = b1 * m + (T(1) - b1) * g;
    v = b2 * v + (T(1) - b2) * g * g;
    step = (m / (T(1) - b1t)) / (sqrt(v / (T(1) - b2t)) + T(1e-8));
    w = w - lr * step;
"""
_ADAM_STEP_KERNELS: dict[str, Any] = {}


def _adam_step_kernel(l2: bool):
    """The fused step: ``l2`` takes ``(SW, S)``, else the loss gradient ``GL`` (logistic)."""
    key = "l2" if l2 else "given"
    if key not in _ADAM_STEP_KERNELS:
        import cupy

        loss_in = "T sw, T s_cov" if l2 else "T gl, T unused"
        _ADAM_STEP_KERNELS[key] = cupy.ElementwiseKernel(
            f"{loss_in}, T gh, T pen, T free_f, T mu, T lam, T b1, T b2, T b1t, T b2t, T lr",
            "T m, T v, T step, T w",
            _ADAM_STEP_BODY.replace("LOSS_GRADIENT", "-(s_cov - sw)" if l2 else "gl"),
            f"fastcrl_dagma_adam_step_{key}",
        )
    return _ADAM_STEP_KERNELS[key]


def _dagma_adam(prob: Problem, W, mu, s, lr, cap, lambda1, beta_1, beta_2, checkpoint, tol):
    """DagmaProblem::adam: returns (W, success, converged, iterations, lr)."""
    xp = prob.xp
    m = xp.zeros_like(W)
    v = xp.zeros_like(W)
    step = xp.zeros_like(W)
    b1t = b2t = 1.0
    obj_prev = 1e16
    b1, b2, lam = beta_1, beta_2, lambda1
    lam_pen = lam * prob.pen
    fused = None if xp is np else _adam_step_kernel(prob.S is not None)
    if fused is not None:
        W = W.copy()  # updated in place below
    converged, iterations = False, 0
    for it in range(1, cap + 1):
        iterations = it
        hv = prob.logdet(W, s)
        while not math.isfinite(hv):  # left the domain: undo the step, retry it with half the rate
            if it == 1 or s <= 0.9:
                return W, False, converged, iterations, lr
            W = W + lr * step
            lr *= 0.5
            if lr <= 1e-16:
                return W, True, converged, iterations, lr
            W = W - lr * step
            hv = prob.logdet(W, s)
        b1t *= b1
        b2t *= b2
        if fused is not None:
            if prob.S is not None:
                loss_in = (prob.S @ W, prob.S)
            else:
                prob._logistic_grad(W)
                loss_in = (prob.GL, prob.GL)  # (the second input is unused)
            fused(*loss_in, prob.Gh, prob.pen, prob.free_f, mu, lam, b1, b2, b1t, b2t, lr,
                  m, v, step, W)
        else:
            prob.loss_grad(W)
            # Fixed (non-free) entries get G = 0, so their moments and steps stay exactly 0.
            G = (mu * (prob.GL + lam_pen * xp.sign(W)) + prob.Gh) * prob.free_f
            m = b1 * m + (1.0 - b1) * G
            v = b2 * v + (1.0 - b2) * G * G
            step = (m / (1.0 - b1t)) / (xp.sqrt(v / (1.0 - b2t)) + 1e-8)
            W = W - lr * step
        if it % checkpoint == 0 or it == cap:
            hn = prob.logdet(W, s)
            if not math.isfinite(hn):
                continue  # the next step backtracks into the domain first
            obj = mu * (prob.loss(W) + lam * prob.l1(W)) + hn
            if not math.isfinite(obj):
                raise NumericalError("DAGMA: the objective became non-finite")
            if abs((obj_prev - obj) / obj_prev) <= tol:
                converged = True
                break
            obj_prev = obj
    return W, True, converged, iterations, lr


def _dagma_lbfgs(prob: Problem, W, mu, s, cap, lambda1, ftol):
    """DagmaProblem::lbfgs on W = W+ - W-, objective scaled by 1/mu."""
    d = prob.d
    dd = d * d
    xp = prob.xp
    # The iterate x = (W+, W-) lives on W's device: the CuPy fits run the solver there too.
    Wf = W.ravel()
    w0 = xp.concatenate([xp.maximum(Wf, 0.0), xp.maximum(-Wf, 0.0)])
    pen = prob.pen.ravel()
    inv_mu = 1.0 / mu

    def f(x):
        Wt = (x[:dd] - x[dd:]).reshape(d, d)
        hv = prob.logdet(Wt, s)
        if not math.isfinite(hv):
            return math.inf, xp.zeros_like(x)
        L = prob.loss(Wt)
        G = (prob.GL + inv_mu * prob.Gh).ravel()
        g = xp.concatenate([G + lambda1 * pen, -G + lambda1 * pen])
        return L + lambda1 * float((pen * (x[:dd] + x[dd:])).sum()) + inv_mu * hv, g

    def diagonal(x):
        # dagma.cpp hessian_diagonal: loss_curv_i + (2 N_ji + 4 W_ij^2 N_ji^2) / mu,
        # N = (sI - W o W)^-1
        Wt = (x[:dd] - x[dd:]).reshape(d, d)
        D = xp.broadcast_to(prob.loss_curv[:, None], (d, d))
        try:
            N = xp.linalg.inv(s * prob.eye - Wt * Wt)
        except np.linalg.LinAlgError:
            N = None
        if N is not None and bool(xp.isfinite(N).all()):
            Nt = xp.maximum(N.T, 0.0)
            D = D + (2.0 * Nt + 4.0 * Wt * Wt * Nt * Nt) * inv_mu
        return _split_diagonal(prob, D)

    max_iter = min(cap, _INT_MAX // 4)
    max_fun = max(2 * 15000 + 10, 2 * max_iter + 10)
    # ftol (tol * 1e-3, or warm_tol on the warm-start problems) and pgtol = 1e-6, as
    # fastcrl.continuous.DAGMA passes them to the C++ loop; ftol must hold on 5 consecutive
    # iterations, as in DagmaProblem::lbfgs.
    x, n_iter, conv = _lbfgsb(
        xp, f, w0, _upper_bounds(prob), max_iter, max_fun, ftol, 1e-6, diagonal, patience=5
    )
    return (x[:dd] - x[dd:]).reshape(d, d), conv, n_iter


def dagma(
    prob: Problem,
    *,
    lambda1: float,
    T: int,
    mu_init: float,
    mu_factor: float,
    s: list[float],
    solver: str,
    warm_iter: int,
    max_iter: int,
    lr: float,
    beta_1: float,
    beta_2: float,
    checkpoint: int,
    tol: float,
    warm_tol: float,
    callback: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """The central path of ``dagma_fit`` (cpp/src/dagma.cpp), step for step."""
    t0 = time.perf_counter()
    xp = prob.xp
    W = xp.zeros((prob.d, prob.d))
    history, s_used = [], []
    mu = mu_init
    for t in range(T):
        cap = max_iter if t == T - 1 else warm_iter
        s_t = s[t]
        retries = 0
        lr_out = 0.0
        if solver == "lbfgs":
            # The warm start may lie outside the smaller domain: enlarge s (the published retry).
            while not math.isfinite(prob.logdet(W, s_t)):
                s_t += 0.1
                retries += 1
                if retries > 1000:
                    raise NumericalError("DAGMA: the warm start is outside every domain tried")
            ftol = tol * 1e-3 if t == T - 1 else max(tol * 1e-3, warm_tol)
            W, converged, iterations = _dagma_lbfgs(prob, W, mu, s_t, cap, lambda1, ftol)
        else:
            lr_t = lr
            while True:
                Wt, success, converged, iterations, lr_out = _dagma_adam(
                    prob, W.copy(), mu, s_t, lr_t, cap, lambda1, beta_1, beta_2, checkpoint, tol
                )
                if success:
                    W = Wt
                    break
                retries += 1
                if retries > 1000:
                    raise NumericalError("DAGMA: the iterate left the domain 1000 times")
                lr_t *= 0.5
                s_t += 0.1
        h = prob.logdet(W, s_t)
        loss = prob.loss(W)
        rec = _record(
            t0,
            iteration=t + 1,
            rho=mu,
            alpha=s_t,
            h=h,
            loss=loss,
            objective=mu * (loss + lambda1 * prob.l1(W)) + h,
            inner_iterations=iterations,
            n_solves=1 + retries,
            inner_converged=converged,
            lr=lr_out,
        )
        history.append(rec)
        s_used.append(s_t)
        if callback is not None:
            callback(rec)
        mu *= mu_factor
    return {
        "W": W,
        "h": prob.logdet(W, 1.0),
        "loss": prob.loss(W),
        "n_iter": T,
        "converged": history[-1]["inner_converged"],
        "s_used": s_used,
        "history": history,
    }


# ---------------------------------------------------------------------------------- estimators


def estimator_args(est, loss: str) -> dict[str, Any]:
    """The validated keyword arguments of :func:`notears` / :func:`dagma` from an estimator's params
    (the same checks as its ``fit``, which has already run them once)."""
    from ._validation import check_float, check_int, check_option, check_positive_schedule
    from .continuous import _check_count

    if est._method == "notears":
        return dict(
            constraint=check_option(est.constraint, "constraint", ("expm", "poly", "logdet")),
            lambda1=check_float(est.lambda1, "lambda1", low=0.0),
            max_iter=_check_count(est.max_iter, "max_iter"),
            h_tol=check_float(est.h_tol, "h_tol", low=0.0),
            rho_max=check_float(est.rho_max, "rho_max", low=1.0, low_inclusive=False),
        )
    T = check_int(est.T, "T", low=1)
    return dict(
        lambda1=check_float(est.lambda1, "lambda1", low=0.0),
        T=T,
        mu_init=check_float(est.mu_init, "mu_init", low=0.0, low_inclusive=False),
        mu_factor=check_float(est.mu_factor, "mu_factor", low=0.0, high=1.0, low_inclusive=False),
        s=check_positive_schedule(est.s, "s", T),
        solver=check_option(est.solver, "solver", ("lbfgs", "adam")),
        warm_iter=_check_count(est.warm_iter, "warm_iter"),
        max_iter=_check_count(est.max_iter, "max_iter"),
        lr=check_float(est.lr, "lr", low=0.0, low_inclusive=False),
        beta_1=check_float(est.beta_1, "beta_1", low=0.0, high=1.0, high_inclusive=False),
        beta_2=check_float(est.beta_2, "beta_2", low=0.0, high=1.0, high_inclusive=False),
        checkpoint=_check_count(est.checkpoint, "checkpoint"),
        tol=check_float(est.tol, "tol", low=0.0),
        warm_tol=check_float(est.warm_tol, "warm_tol", low=0.0),
    )


def fit_with_driver(
    est, X, names, loss: str, w_threshold: float, n_outer: int, progress_key: str, xp
) -> bool:
    """``_ContinuousEstimator._solve`` with this module's loops on ``xp`` (numpy or cupy).

    Sets the estimator's fitted attributes; with CuPy, ``W_raw_``, ``weights_`` and ``adjacency_``
    are CuPy arrays on X's device (the thresholding and DAG repair, O(d^2) graph work, run on a
    host copy of the final ``W``).  Returns False for a single column, as ``_solve``.
    """
    from ._validation import check_data, node_names_from
    from .stats import covariance

    start = time.perf_counter()
    args = estimator_args(est, loss)
    Xv = check_data(X, "X", dtype=np.float64, min_samples=2, moment_power=2)
    n, d = Xv.shape
    est.node_names_ = node_names_from(X, d, names)
    S = Xb = None
    if loss == "logistic":
        bad = ~((Xv == 0.0) | (Xv == 1.0))
        if bool(bad.any()):
            raise ValueError(
                "loss='logistic' needs binary 0/1 data in X; got "
                f"{int(bad.sum())} entries that are neither 0 nor 1"
            )
        Xb = xp.ascontiguousarray(Xv)
    else:
        S = xp.ascontiguousarray(covariance(Xv, ddof=0))
    free, penalty, required, max_indegree = est._knowledge(d)

    def finish_on_device():
        if xp is not np:
            est.W_raw_ = xp.asarray(est.W_raw_)
            est.weights_ = xp.asarray(est.weights_)
            est.adjacency_ = xp.asarray(est.adjacency_)
        est.fit_time_ = time.perf_counter() - start

    if d == 1:
        loss0 = 0.5 * float(xp.trace(S)) if S is not None else math.log(2.0)
        est._empty(d, loss0)
        finish_on_device()
        return False
    prob = Problem(xp, S, Xb, xp.asarray(free.astype(bool)), xp.asarray(penalty))
    cb, history, bar = est._callback(n_outer, progress_key)
    try:
        run = notears if est._method == "notears" else dagma
        out = run(prob, callback=cb, **args)
    finally:
        if bar is not None:
            bar.close()
    est._set_outcome(out, history)
    est._finish(
        np.array(prob.to_host(out["W"]), dtype=np.float64),
        w_threshold,
        free,
        required,
        max_indegree,
    )
    finish_on_device()
    return True


def solve_on_device(
    est, X, names, loss: str, w_threshold: float, n_outer: int, progress_key: str
) -> bool:
    """Entry point from ``fastcrl.continuous`` for a CUDA array ``X``: fits on its device."""
    require_cuda(f"{type(est).__name__}.fit")
    import cupy

    X = as_device_array(X)
    with cupy.cuda.Device(X.device.id):
        return fit_with_driver(est, X, names, loss, w_threshold, n_outer, progress_key, cupy)
