"""Identifiable variational autoencoder (iVAE): nonlinear ICA with an auxiliary segment label.

Trained on fastcrl's own C++ kernels (:mod:`fastcrl.nn`: fused MLP passes, Gaussian KL and
reparameterisation with exact gradients, fused Adam, Philox noise); no deep-learning framework.
On the CPU each epoch (training and warm-start pretraining) is one kernel call that runs every
minibatch step in C++ (``ivae_train_epoch``, ``mlp_regression_epoch``); :meth:`_Model.loss_grad`
is the same step composed from Python, kept as the readable reference (tests compare the two).
With CuPy input the same training loop runs on the GPU with the CUDA twins of those kernels
(:func:`fastcrl.nn.kernels`).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from typing import Any

import numpy as np

from .. import _core
from .._backend import is_device_array, require_cuda
from .._base import BaseEstimator
from .._core import IVAEShape
from .._errors import NumericalError
from .._gpu_nn import device_of
from .._validation import (
    FLOAT_DTYPES,
    check_data,
    check_float,
    check_int,
    check_labels,
    check_option,
    check_random_state,
    check_verbose,
)
from ..nn import ACTIVATIONS, MLP, kernels, parameter_count
from .ica import NonstationaryICA

__all__ = ["IVAE"]

_POSTERIORS = ("full", "diagonal")
_INITS = ("ica", "random")
_SCHEDULES = ("one_cycle", "constant")
_FORMAT_VERSION = 1
_EVAL_CHUNK = 4096
# one-cycle schedule (Smith & Topin 2019): start at lr/25, peak after 30 % of the steps, cosine
# down to lr/(25 * 1e4)
_ONE_CYCLE_PCT = 0.3
_ONE_CYCLE_DIV = 25.0
_ONE_CYCLE_FINAL_DIV = 1e4
# the ICA warm start asks the encoder for this posterior standard deviation at first
_WARM_POSTERIOR_STD = 0.1


# ---- persistence helpers -------------------------------------------------------------------------
# bit generators whose state save() can write and load() can restore (NumPy's own)
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_SAVED_ARRAYS = ("params", "adam_m", "adam_v", "mean", "scale", "segments")
_META_KEYS = (
    "params",
    "n_features_in",
    "n_latents",
    "noise_seed",
    "eval_seed",
    "noise_offset",
    "adam_step",
    "n_iter",
    "best_epoch",
    "pretrain_time",
    "interrupted",
    "history",
    "rng_state",
    "rng_name",
)
_HISTORY_KEYS = ("loss", "val_loss", "lr", "time")
_BOOL_PARAMS = ("learn_prior_mean", "early_stopping", "standardize")


class _InvalidFile(Exception):
    """What is wrong with a file given to :meth:`IVAE.load` (becomes its ValueError)."""


class _NewerFormat(Exception):
    """A file written by a newer fastcrl (becomes a ValueError of :meth:`IVAE.load`)."""


def _read_ivae_file(path: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(metadata, arrays)`` of an IVAE file; the metadata's top level is checked.

    Errors of opening the file (missing, a directory, no permission) pass through; anything wrong
    after that is :class:`_InvalidFile` (a damaged archive can make ``zipfile`` raise even
    OSError).  The file is opened here, not by ``np.load``, which leaves its own handle open when
    the archive is damaged.
    """
    with open(path, "rb") as fh:
        try:
            f = np.load(fh, allow_pickle=False)
        except Exception:  # noqa: BLE001 - NumPy's zip/npy parsers on untrusted bytes
            raise _InvalidFile(
                "not a readable .npz archive (empty, truncated, damaged or another format)"
            ) from None
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise _InvalidFile(
                "it holds a single .npy array, not the .npz archive IVAE.save writes"
            )
        with f:
            if "metadata" not in f.files:
                raise _InvalidFile(f"no 'metadata' array (arrays: {sorted(f.files)[:10]})")
            missing = [k for k in _SAVED_ARRAYS if k not in f.files]
            if missing:
                raise _InvalidFile(f"missing array(s) {missing}")
            arrays = {}
            for k in ("metadata", *_SAVED_ARRAYS):
                try:
                    arrays[k] = f[k]
                except Exception as exc:  # noqa: BLE001 - as above
                    raise _InvalidFile(
                        f"array {k!r} cannot be read ({type(exc).__name__}: {exc})"
                    ) from None
    text = arrays.pop("metadata")
    if text.ndim != 0 or text.dtype.kind != "U":
        raise _InvalidFile(
            f"'metadata' must be a JSON string; got shape {text.shape}, dtype {text.dtype}"
        )
    try:
        meta = json.loads(str(text))
    except (ValueError, RecursionError):
        raise _InvalidFile("'metadata' is not valid JSON") from None
    if not isinstance(meta, dict):
        raise _InvalidFile(f"'metadata' must be a JSON object; got a {type(meta).__name__}")
    if meta.get("format") != "fastcrl.IVAE":
        raise _InvalidFile(f"metadata format is {meta.get('format')!r}, not 'fastcrl.IVAE'")
    version = _meta_int(meta, "format_version", low=1)
    if version > _FORMAT_VERSION:
        raise _NewerFormat(
            f"has format version {version}; this fastcrl reads up to {_FORMAT_VERSION}"
        )
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise _InvalidFile(f"metadata lacks {missing}")
    return meta, arrays


def _meta_int(meta: dict[str, Any], key: str, *, low: int | None = None, high: int | None = None):
    if key not in meta:
        raise _InvalidFile(f"metadata lacks {key!r}")
    try:
        return check_int(meta[key], key, low=low, high=high)
    except (TypeError, ValueError) as exc:
        raise _InvalidFile(f"metadata {exc}") from None


def _saved_params(params: Any, known: set[str]) -> dict[str, Any]:
    """The constructor parameters of a file, type-checked where the constructor would coerce."""
    if not isinstance(params, dict):
        raise _InvalidFile(f"metadata params must be a JSON object; got {type(params).__name__}")
    unknown = sorted(set(params) - known)
    if unknown:
        raise _InvalidFile(f"unknown parameter(s) {unknown}")
    out = dict(params)
    if "hidden" in out:
        if not isinstance(out["hidden"], list):
            raise _InvalidFile(f"parameter hidden must be a list of ints; got {out['hidden']!r}")
        out["hidden"] = tuple(out["hidden"])
    for name in _BOOL_PARAMS:
        if name in out and not isinstance(out[name], bool):
            raise _InvalidFile(f"parameter {name} must be true or false; got {out[name]!r}")
    if "dtype" in out and out["dtype"] not in ("float32", "float64"):
        raise _InvalidFile(f"parameter dtype must be 'float32' or 'float64'; got {out['dtype']!r}")
    for name in ("random_state", "n_latents"):
        v = out.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise _InvalidFile(f"parameter {name} must be null or an int >= 0; got {v!r}")
    return out


def _saved_history(history: Any) -> dict[str, list]:
    if not isinstance(history, dict) or sorted(history) != sorted(_HISTORY_KEYS):
        raise _InvalidFile(f"metadata history must be an object with keys {list(_HISTORY_KEYS)}")
    out = {}
    for k in _HISTORY_KEYS:
        v = history[k]
        if not isinstance(v, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v
        ):
            raise _InvalidFile(f"metadata history[{k!r}] must be a list of numbers")
        # val_loss is NaN without early stopping
        if k != "val_loss" and not all(math.isfinite(x) for x in v):
            raise _InvalidFile(f"metadata history[{k!r}] contains NaN or inf")
        out[k] = list(v)
    return out


def _jsonable(state: Any) -> Any:
    """A bit generator's state with its arrays as lists (MT19937, Philox, SFC64 hold arrays)."""
    if isinstance(state, dict):
        return {k: _jsonable(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return state.tolist()
    if isinstance(state, np.generic):
        return state.item()
    return state


def _saved_rng(name: Any, state: Any) -> np.random.Generator:
    if not isinstance(name, str) or name not in _BIT_GENERATORS:
        raise _InvalidFile(f"unknown rng_name {name!r}; expected one of {list(_BIT_GENERATORS)}")
    bitgen = getattr(np.random, name)()
    try:
        bitgen.state = state
    except (TypeError, ValueError, KeyError, OverflowError, IndexError):
        raise _InvalidFile(f"metadata rng_state is not a valid {name} state") from None
    return np.random.Generator(bitgen)


def _reject_gpu(a: Any, name: str) -> None:
    if is_device_array(a):
        raise TypeError(
            f"{name} is a GPU (CuPy) array; IVAE trains on the GPU (fit, partial_fit) but infers "
            "on the CPU: pass a NumPy array, e.g. cupy.asnumpy(...)"
        )


def _to_host(a: Any) -> np.ndarray:
    return a.get() if is_device_array(a) else a


def _gpu_input(a: Any, name: str):
    """``(cupy, device array)`` for GPU training; TypeError naming the GPU when impossible."""
    try:
        require_cuda("IVAE GPU training")
        import cupy
    except (RuntimeError, ImportError) as exc:
        raise TypeError(
            f"{name} is a GPU (CuPy) array but GPU training is not available here ({exc}); pass a "
            "NumPy array to train on the CPU"
        ) from None
    try:
        return cupy, cupy.asarray(a)
    except Exception as exc:  # noqa: BLE001 - a foreign object with a broken interface
        raise TypeError(f"{name} is a GPU array that CuPy cannot read: {exc}") from None


def _check_finite_loss(loss: float) -> None:
    if not math.isfinite(loss):
        raise NumericalError(
            "the ELBO became NaN/inf during training; lower lr or raise decoder_var"
        )


def _one_cycle_lr(step: int, total: int, lr: float) -> float:
    """Learning rate of step ``step`` (0-based) out of ``total`` in the one-cycle schedule."""
    if total <= 1:
        return lr
    up = max(1, int(_ONE_CYCLE_PCT * total))
    lo, end = lr / _ONE_CYCLE_DIV, lr / (_ONE_CYCLE_DIV * _ONE_CYCLE_FINAL_DIV)
    if step < up:
        t = step / up
        return lo + (lr - lo) * 0.5 * (1.0 - math.cos(math.pi * t))
    t = (step - up) / max(1, total - up - 1)
    return end + (lr - end) * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))


def _parameter_count(D: int, K: int, d: int, hidden: Any, posterior: str) -> int:
    """Parameters of the model (encoder, decoder, prior table), from its shape alone."""
    n_raw = d * (d + 1) // 2 if posterior == "full" else d
    encoder = parameter_count([D + K, *hidden, d + n_raw])
    return encoder + parameter_count([d, *hidden, D]) + 2 * K * d


class _Model:
    """Encoder, decoder and prior table of an iVAE in one flat parameter vector.

    Layout: ``[encoder MLP | decoder MLP | prior log-variances (K, d) | prior means (K, d)]``, so
    one fused Adam call updates everything.  The encoder maps ``[x, onehot(u)]`` to the posterior
    ``(mu, raw)`` with ``raw`` the packed Cholesky factor (``posterior="full"``) or the
    log-variances (``"diagonal"``); the decoder maps ``z`` to the mean of ``p(x | z)``.
    """

    def __init__(
        self,
        n_features: int,
        n_segments: int,
        n_latents: int,
        hidden: tuple[int, ...],
        activation: str,
        leaky_slope: float,
        posterior: str,
        decoder_var: float,
        learn_prior_mean: bool,
        dtype: np.dtype,
    ) -> None:
        D, K, d = n_features, n_segments, n_latents
        self.D, self.K, self.d = D, K, d
        self.full = posterior == "full"
        self.n_raw = d * (d + 1) // 2 if self.full else d
        self.dtype = dtype
        self.inv_var = 1.0 / decoder_var
        self.log_norm = 0.5 * D * math.log(2.0 * math.pi * decoder_var)
        self.learn_prior_mean = learn_prior_mean
        # the array module and its kernels (fastcrl._core or fastcrl._gpu_nn); see to()
        self.xp = np
        self.k = _core
        self.enc = MLP(
            [D + K, *hidden, d + self.n_raw], activation, leaky_slope=leaky_slope, dtype=dtype
        )
        self.dec = MLP([d, *hidden, D], activation, leaky_slope=leaky_slope, dtype=dtype)
        ne, nd = self.enc.n_params, self.dec.n_params
        self.n_params = ne + nd + 2 * K * d
        # the whole minibatch step in one kernel call (ivae_train_epoch); loss_grad below is the
        # same composition step by step
        self.shape = IVAEShape(
            self.enc.spec, self.dec.spec, D, K, d, posterior, decoder_var, learn_prior_mean
        )
        assert self.n_params == int(self.shape.n_params)
        assert self.n_params == _parameter_count(D, K, d, hidden, posterior)
        self.params = np.zeros(self.n_params, dtype=dtype)
        self.grad = np.zeros(self.n_params, dtype=dtype)
        self._bind_views()
        self._ws: dict[str, Any] = {}

    def _bind_views(self) -> None:
        ne, nd, K, d = self.enc.n_params, self.dec.n_params, self.K, self.d
        # the MLPs work on views into the flat vectors
        self.enc.params, self.enc.grad = self.params[:ne], self.grad[:ne]
        self.dec.params, self.dec.grad = self.params[ne : ne + nd], self.grad[ne : ne + nd]
        o = ne + nd
        self.prior_logvar = self.params[o : o + K * d].reshape(K, d)
        self.prior_mean = self.params[o + K * d :].reshape(K, d)
        self.g_prior_logvar = self.grad[o : o + K * d].reshape(K, d)
        self.g_prior_mean = self.grad[o + K * d :].reshape(K, d)
        self.blocks = {
            "encoder": slice(0, ne),
            "decoder": slice(ne, ne + nd),
            "prior_logvar": slice(o, o + K * d),
            "prior_mean": slice(o + K * d, self.n_params),
        }

    def __getstate__(self) -> dict[str, Any]:
        # modules do not pickle: the array module by name, its kernels looked up again on load
        state = dict(self.__dict__)
        state["xp"] = "numpy" if self.xp is np else "cupy"
        del state["k"]
        state["_ws"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.xp == "numpy":
            self.xp = np
        else:
            import cupy

            self.xp = cupy
        self.k = kernels(self.xp)
        # pickle copies each array: the MLPs and the prior table become views of params again
        self._bind_views()

    def to(self, xp: Any) -> None:
        """Move the parameters to the array module ``xp`` (numpy or cupy) and use its kernels."""
        if xp is self.xp:
            return
        move = (lambda a: a.get()) if xp is np else xp.asarray
        self.params, self.grad = move(self.params), move(self.grad)
        self._bind_views()
        self.xp, self.k = xp, kernels(xp)
        self._ws = {}

    # -- helpers ---------------------------------------------------------------------------------
    def init_random(self, rng: np.random.Generator) -> None:
        self.enc.init_params(rng)
        self.dec.init_params(rng)
        self.prior_logvar[...] = 0
        self.prior_mean[...] = 0
        if self.full:
            # start from posterior std ~0.1 rather than 1, as the warm start does
            b = self.enc.unpack()[-1][1]
            b[self.d + self._diag_index()] = math.log(_WARM_POSTERIOR_STD)
        else:
            self.enc.unpack()[-1][1][self.d :] = 2 * math.log(_WARM_POSTERIOR_STD)

    def _diag_index(self) -> np.ndarray:
        i = np.arange(self.d)
        return i * (i + 1) // 2 + i

    def raw_target(self) -> np.ndarray:
        """Raw posterior parameters of ``N(., 0.1^2 I)`` (warm-start regression target)."""
        if self.full:
            t = np.zeros(self.n_raw)
            t[self._diag_index()] = math.log(_WARM_POSTERIOR_STD)
        else:
            t = np.full(self.d, 2 * math.log(_WARM_POSTERIOR_STD))
        return t.astype(self.dtype)

    def _workspace(self, key: str, net: MLP, n: int) -> np.ndarray:
        need = int(net.spec.workspace_size(n))
        ws = self._ws.get(key)
        if ws is None or ws.size < need:
            ws = self.xp.empty(need, dtype=self.dtype)
            self._ws[key] = ws
        return ws

    def encode(self, H: np.ndarray, training: bool = False, seg: Any = None) -> np.ndarray:
        """Encoder output for ``H = [x, onehot(u)]``, or for ``x`` and the labels ``seg`` (the
        one-hot block read as a row lookup, never built)."""
        ws = self._workspace("enc", self.enc, H.shape[0])
        if seg is None:
            return self.k.mlp_forward(self.enc.spec, self.enc.params, H, ws, None, training)
        labels = seg.astype(np.int64, copy=False)
        return self.k.mlp_forward(
            self.enc.spec, self.enc.params, H, ws, None, training, labels, self.K
        )

    def decode(self, Z: np.ndarray, training: bool = False) -> np.ndarray:
        ws = self._workspace("dec", self.dec, Z.shape[0])
        return self.k.mlp_forward(self.dec.spec, self.dec.params, Z, ws, None, training)

    def _sample(self, mu, raw, eps):
        if self.full:
            return self.k.chol_gaussian_sample(mu, raw, eps, "exp")
        return self.k.diag_gaussian_sample(mu, raw, eps)

    def _kl(self, mu, raw, pm, plv):
        if self.full:
            return self.k.chol_gaussian_kl(mu, raw, pm, plv, "exp")
        return self.k.diag_gaussian_kl(mu, raw, pm, plv)

    # -- objective -------------------------------------------------------------------------------
    def elbo(self, H: Any, X: np.ndarray, seg: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """Per-row ELBO ``log p(x|z) - KL(q(z|x,u) || p(z|u))`` with ``z = mu + L eps``; the
        encoder reads ``H = [x, onehot(u)]``, or ``X`` and the labels when ``H`` is None."""
        xp = self.xp
        out = self.encode(X, seg=seg) if H is None else self.encode(H)
        mu, raw = xp.ascontiguousarray(out[:, : self.d]), xp.ascontiguousarray(out[:, self.d :])
        xh = self.decode(self._sample(mu, raw, eps))
        rec = -0.5 * self.inv_var * xp.einsum("ij,ij->i", xh - X, xh - X) - self.log_norm
        kl = self._kl(mu, raw, self.prior_mean[seg], self.prior_logvar[seg])
        return rec - kl

    def loss_grad(self, H, X, seg, eps):
        """Mean negative ELBO of the batch; its gradient is written into :attr:`grad`.

        Backend-generic (``self.xp``/``self.k``): the loss comes back as a float64 scalar of the
        array module (a NumPy scalar, or a 0-d CuPy array, so the GPU loop never waits for it).
        """
        xp, k = self.xp, self.k
        n, d = X.shape[0], self.d
        wse = self._workspace("enc", self.enc, n)
        wsd = self._workspace("dec", self.dec, n)
        out = k.mlp_forward(self.enc.spec, self.enc.params, H, wse, None, True)
        mu, raw = xp.ascontiguousarray(out[:, :d]), xp.ascontiguousarray(out[:, d:])
        z = self._sample(mu, raw, eps)
        xh = k.mlp_forward(self.dec.spec, self.dec.params, z, wsd, None, True)
        r = xh - X
        scale = self.dtype.type(self.inv_var / n)
        _, gz = k.mlp_backward(
            self.dec.spec, self.dec.params, z, wsd, r * scale, self.dec.grad, True, False
        )
        pm, plv = self.prior_mean[seg], self.prior_logvar[seg]
        g = xp.full(n, 1.0 / n, dtype=self.dtype)
        if self.full:
            gmu, graw = k.chol_gaussian_sample_backward(raw, eps, gz, "exp")
            kl = k.chol_gaussian_kl(mu, raw, pm, plv, "exp")
            kmu, kraw, kpm, kplv = k.chol_gaussian_kl_backward(mu, raw, pm, plv, g, "exp")
        else:
            gmu, graw = k.diag_gaussian_sample_backward(raw, eps, gz)
            kl = k.diag_gaussian_kl(mu, raw, pm, plv)
            kmu, kraw, kpm, kplv = k.diag_gaussian_kl_backward(mu, raw, pm, plv, g)
        gout = xp.concatenate([gmu + kmu, graw + kraw], axis=1)
        k.mlp_backward(self.enc.spec, self.enc.params, H, wse, gout, self.enc.grad, False, False)
        # scatter the per-row prior gradients into the table: onehot(u)^T @ g
        self.g_prior_logvar[...] = self._segment_sums(H, seg, kplv)
        if self.learn_prior_mean:
            self.g_prior_mean[...] = self._segment_sums(H, seg, kpm)
        else:
            self.g_prior_mean[...] = 0
        # in float64 whatever the training dtype, as Python floats would be
        sq = xp.einsum("ij,ij->", r, r).astype(np.float64)
        rec = 0.5 * self.inv_var * sq + n * self.log_norm
        return (rec + kl.sum().astype(np.float64)) / n

    def _segment_sums(self, H, seg, G):
        """Per-segment column sums of ``G`` (rows labelled ``seg``), shape ``(K, d)``.

        On the GPU a cuBLAS product with the one-hot block of ``H``.  On the CPU a bincount: NumPy's
        own BLAS would wake a second thread pool beside fastcrl's, and the two pools' spinning
        threads then take turns on the cores (an epoch at batch 2048 ran 3 to 5 times slower).
        """
        if self.xp is not np:
            return H[:, self.D :].T @ G
        K, d = self.g_prior_logvar.shape
        flat = (seg[:, None] * d + np.arange(d)).ravel()
        return np.bincount(flat, weights=G.ravel(), minlength=K * d).reshape(K, d)

    def regression_grad(self, net: MLP, key: str, inp: np.ndarray, target: np.ndarray) -> float:
        """Mean squared error of ``net(inp)`` vs ``target`` (warm start); gradient into net.grad."""
        n = inp.shape[0]
        ws = self._workspace(key, net, n)
        out = self.k.mlp_forward(net.spec, net.params, inp, ws, None, True)
        r = out - target
        self.k.mlp_backward(
            net.spec, net.params, inp, ws, r * self.dtype.type(2.0 / n), net.grad, False, False
        )
        return self.xp.einsum("ij,ij->", r, r).astype(np.float64) / n


class IVAE(BaseEstimator):
    """Identifiable VAE: nonlinear ICA of sources whose distribution depends on a segment label.

    Model (Khemakhem et al. 2020): latents ``z`` with a factorised Gaussian prior whose
    per-coordinate variances (and optionally means) depend on the auxiliary segment label ``u``,
    ``p(z | u) = N(m_u, diag(exp(lambda_u)))``, a learned table; observations
    ``x = f(z) + noise`` with ``p(x | z) = N(f(z), decoder_var I)``; the encoder approximates
    ``q(z | x, u)`` by a Gaussian whose mean and covariance are output by an MLP of
    ``[x, onehot(u)]`` — a full covariance through its Cholesky factor (``posterior="full"``) or a
    diagonal one.
    Training maximises the plain ELBO ``E_q[log p(x|z)] - KL(q(z|x,u) || p(z|u))`` (analytic KL,
    one reparameterised sample) with Adam on minibatches, a one-cycle learning-rate schedule and
    early stopping on the ELBO of a held-out part of every segment; the parameters with the best
    held-out ELBO are kept.  When the sources' variance profiles over segments differ, the
    posterior mean recovers the sources up to permutation and per-coordinate transformations.

    The ``init="ica"`` warm start fits :class:`NonstationaryICA` (linear), regresses the encoder
    mean on its sources and the decoder on the inverse map for ``pretrain_epochs`` epochs, and sets
    the prior table to its per-segment log-variances.  On the standard benchmark a mean-field
    posterior from a random start stays near the no-learning baseline (it prefers wrong, "more
    independent" posteriors), which is why the full posterior and the warm start are the defaults.

    Parameters
    ----------
    n_latents : int, optional
        Latent dimension ``1 <= d <= D``; default ``D``.
    posterior : {"full", "diagonal"}, default "full"
        Covariance of the Gaussian posterior ``q(z | x, u)``.
    init : {"ica", "random"}, default "ica"
        Warm start from :class:`NonstationaryICA` or random (Glorot/He) initialisation.
    hidden : tuple of int, default (100, 100)
        Hidden widths of the encoder and of the decoder.
    activation : str, default "leaky_relu"
        Hidden activation of both MLPs (one of :data:`fastcrl.nn.ACTIVATIONS`).
    leaky_slope : float, default 0.2
        Negative-side slope of leaky ReLU.
    decoder_var : float, default 0.01
        Fixed variance of ``p(x | z)`` in standardised units (see ``standardize``).
    learn_prior_mean : bool, default False
        Learn per-segment prior means too (otherwise the prior is centred).
    lr : float, default 3e-3
        Peak Adam learning rate.
    lr_schedule : {"one_cycle", "constant"}, default "one_cycle"
        One cycle over ``max_epochs``: cosine warm-up from ``lr/25`` to ``lr`` over the first 30 %
        of the steps, then cosine decay to ``lr/2.5e5``.
    batch_size : int, default 256
    max_epochs : int, default 60
    pretrain_epochs : int, default 5
        Epochs of the supervised warm start (``init="ica"`` only).
    early_stopping : bool, default True
        Hold out ``validation_fraction`` of every segment; stop when the held-out ELBO has not
        improved by ``tol`` (relative) for ``n_iter_no_change`` epochs; keep the best parameters.
        Without it all rows are used for training and the last parameters are kept.
    validation_fraction : float, default 0.1
    n_iter_no_change : int, default 10
    tol : float, default 1e-4
    standardize : bool, default True
        Centre and scale each column of ``X`` to unit variance before training (the model works in
        those units; ``transform`` and ``inverse_transform`` convert).
    dtype : {"float32", "float64"}, default "float32"
        Precision of training and inference.
    random_state : int, numpy.random.Generator or None
        Seeds initialisation, the hold-out split, minibatch order and the reparameterisation noise
        (Philox): the same seed and thread count give bitwise-identical parameters.
    verbose : int, default 0
        ``> 0`` shows a tqdm progress bar over epochs with the losses.

    Attributes
    ----------
    n_features_in_ : int
        ``D``.
    n_latents_ : int
        ``d``.
    segments_ : ndarray of shape (K,)
        Segment labels seen in ``fit`` (sorted); ``transform`` accepts only these.
    mean_, scale_ : ndarray of shape (D,)
        Standardisation of ``X`` (zeros/ones when ``standardize=False``).
    prior_logvar_ : ndarray of shape (K, d)
        Learned per-segment prior log-variances.
    prior_mean_ : ndarray of shape (K, d)
        Per-segment prior means (zero unless ``learn_prior_mean``).
    history_ : dict of lists
        Per epoch: ``"loss"`` (mean negative ELBO on the training rows during the epoch),
        ``"val_loss"`` (held-out negative ELBO, NaN without early stopping), ``"lr"`` (last learning
        rate of the epoch), ``"time"`` (seconds for the epoch).  ``partial_fit`` appends.
    n_iter_ : int
        Epochs trained in total (``fit`` and ``partial_fit``).
    best_epoch_ : int
        Epoch (1-based) whose parameters are kept.
    pretrain_time_ : float
        Seconds spent on the warm start (ICA + supervised pretraining).
    ica_ : NonstationaryICA or None
        The warm-start model.
    interrupted_ : bool
        Whether the last training was stopped by KeyboardInterrupt.

    Raises
    ------
    TypeError
        CuPy (GPU) input to ``transform``/``score``/``inverse_transform`` (inference runs on the
        CPU), or to ``fit`` where no CUDA device / CuPy is available.
    ValueError
        See :meth:`fit`.

    Notes
    -----
    Ctrl-C (KeyboardInterrupt) during ``fit``/``partial_fit`` leaves a usable model — the
    parameters with the best held-out ELBO so far, all fitted attributes set, ``interrupted_``
    True — and then **re-raises** the KeyboardInterrupt so a script stops as the user asked.  The
    epoch kernels check for it between minibatch steps (at most every 0.1 s), so it takes effect
    within a step, with the Adam step count and noise stream advanced by the steps that finished.

    GPU training: with a CuPy ``X`` (``u`` may be NumPy or CuPy), ``fit`` and ``partial_fit`` run
    the same training loop on the array's device with the CUDA twins of the kernels (cuBLAS GEMM,
    fused activation/Gaussian/Adam kernels, the same Philox noise stream), after validating one
    host copy of ``X`` (also used by the NonstationaryICA warm start); the data then stay on the
    device, and only minibatch indices are uploaded, once per epoch.  The same seed gives the same
    minibatches and noise as on the CPU, so the two fits agree up to rounding.  The fitted model is
    brought back to the host: inference and ``save`` are CPU code.  On the GPU a NaN/inf loss is
    detected at the end of the epoch rather than at the step.

    Cost per step: two MLP forward/backward passes of ``batch_size`` rows (BLAS GEMM) plus
    ``O(batch_size d^3)`` for the Cholesky posterior.  The one-hot segment input adds ``K`` rows to
    the encoder's first weight matrix, read as a row lookup: the C++ epochs never build the
    ``n x K`` one-hot matrix, nor does inference (the step-by-step GPU loop, the GPU default for
    now, builds it for the training set).

    The defaults are the recipe calibrated at ``d = 5``; at ``d = 10`` (40 segments × 1,000, 2-layer
    mixing, 3 seeds) ``lr=1e-3`` measured median MCC 0.812 against 0.794 with the default 3e-3
    (``benchmarks/RESULTS.md``).

    Identifiability needs at least ``d + 1`` or so segments whose variance profiles differ; the
    recovered latents match the true ones up to permutation and elementwise maps (measure with
    :func:`fastcrl.metrics.mcc`).

    References
    ----------
    Khemakhem, Kingma, Monti, Hyvärinen. "Variational autoencoders and nonlinear ICA: a unifying
    framework", AISTATS 2020.
    Smith, Topin. "Super-convergence: very fast training of neural networks using large learning
    rates", 2019 (one-cycle schedule).

    Examples
    --------
    >>> from fastcrl.datasets import make_nonstationary_sources
    >>> from fastcrl.metrics import mcc
    >>> data = make_nonstationary_sources(10, 200, 2, random_state=0)
    >>> model = IVAE(2, hidden=(32, 32), max_epochs=5, random_state=0).fit(data.X, data.env)
    >>> model.transform(data.X, data.env).shape
    (2000, 2)
    >>> bool(mcc(data.Z, model.transform(data.X, data.env)) > 0.5)
    True
    """

    def __init__(
        self,
        n_latents: int | None = None,
        *,
        posterior: str = "full",
        init: str = "ica",
        hidden: tuple[int, ...] = (100, 100),
        activation: str = "leaky_relu",
        leaky_slope: float = 0.2,
        decoder_var: float = 0.01,
        learn_prior_mean: bool = False,
        lr: float = 3e-3,
        lr_schedule: str = "one_cycle",
        batch_size: int = 256,
        max_epochs: int = 60,
        pretrain_epochs: int = 5,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        standardize: bool = True,
        dtype: str = "float32",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.n_latents = n_latents
        self.posterior = posterior
        self.init = init
        self.hidden = hidden
        self.activation = activation
        self.leaky_slope = leaky_slope
        self.decoder_var = decoder_var
        self.learn_prior_mean = learn_prior_mean
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.pretrain_epochs = pretrain_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.standardize = standardize
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ---- validation ----------------------------------------------------------------------------
    def _validated_params(self) -> dict[str, Any]:
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise TypeError(f"hidden must be a tuple of ints; got {type(hidden).__name__}")
        hidden = tuple(check_int(h, "hidden[i]", low=1) for h in hidden)
        dtype = np.dtype(self.dtype)
        if dtype not in FLOAT_DTYPES:
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {self.dtype!r}")
        return dict(
            posterior=check_option(self.posterior, "posterior", _POSTERIORS),
            init=check_option(self.init, "init", _INITS),
            hidden=hidden,
            activation=check_option(self.activation, "activation", ACTIVATIONS),
            leaky_slope=check_float(self.leaky_slope, "leaky_slope"),
            decoder_var=check_float(self.decoder_var, "decoder_var", low=0, low_inclusive=False),
            learn_prior_mean=bool(self.learn_prior_mean),
            lr=check_float(self.lr, "lr", low=0, low_inclusive=False),
            lr_schedule=check_option(self.lr_schedule, "lr_schedule", _SCHEDULES),
            batch_size=check_int(self.batch_size, "batch_size", low=1),
            max_epochs=check_int(self.max_epochs, "max_epochs", low=0),
            pretrain_epochs=check_int(self.pretrain_epochs, "pretrain_epochs", low=0),
            early_stopping=bool(self.early_stopping),
            validation_fraction=check_float(
                self.validation_fraction,
                "validation_fraction",
                low=0,
                high=0.5,
                low_inclusive=False,
            ),
            n_iter_no_change=check_int(self.n_iter_no_change, "n_iter_no_change", low=1),
            tol=check_float(self.tol, "tol", low=0),
            standardize=bool(self.standardize),
            dtype=dtype,
            verbose=check_verbose(self.verbose),
        )

    def _check_X_u(
        self, X: Any, u: Any, *, fitting: bool, allow_gpu: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        if allow_gpu:
            # validation works on one host copy; training then uses the device array
            X = _gpu_input(X, "X")[1].get() if is_device_array(X) else X
            u = _gpu_input(u, "u")[1].get() if is_device_array(u) else u
        _reject_gpu(X, "X")
        _reject_gpu(u, "u")
        if fitting:
            X = np.asarray(check_data(X, "X", dtype=np.float64, min_samples=2, moment_power=2))
        else:
            X = np.asarray(check_data(X, "X", dtype=np.float64, min_samples=1, allow_constant=True))
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X must have {self.n_features_in_} features (columns), as in fit; "
                    f"got {X.shape[1]}"
                )
        if u is None:
            raise ValueError("u (the segment / environment label of each row of X) is required")
        u = check_labels(u, "u")
        if u.ndim == 2 and u.shape[1] == 1:
            u = u[:, 0]
        if u.ndim != 1 or u.shape[0] != X.shape[0]:
            raise ValueError(
                f"u must have shape (n_samples,) = ({X.shape[0]},), one label per row of X; "
                f"got {u.shape}"
            )
        if u.dtype.kind == "f" and not np.isfinite(u).all():
            raise ValueError("u contains NaN or inf")
        return X, u

    def _segment_index(self, u: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.segments_, u)
        idx = np.clip(idx, 0, self.segments_.size - 1)
        bad = self.segments_[idx] != u
        if bad.any():
            raise ValueError(
                f"u contains label {u[np.flatnonzero(bad)[0]]!r} not seen in fit; "
                f"known segments: {self.segments_[:10].tolist()}"
                + (" ..." if self.segments_.size > 10 else "")
            )
        return idx.astype(np.intp)

    def _encoder_input(self, Xs, seg):
        """``[Xs, onehot(seg)]`` on the device of ``Xs`` (``seg`` on the same one)."""
        xp = self._model.xp
        D, K = self.n_features_in_, self.segments_.size
        H = xp.zeros((Xs.shape[0], D + K), dtype=self._p["dtype"])
        H[:, :D] = Xs
        H[xp.arange(Xs.shape[0]), D + seg] = 1
        return H

    def _device_data(self, X_input: Any, Xs: np.ndarray, seg: np.ndarray):
        """``(xp, Xs, seg)`` for training: CuPy copies on X_input's device for GPU input.

        The device copy is standardised from the caller's device array (no host-to-device copy
        of the data); only the segment indices (int) are uploaded.
        """
        if not is_device_array(X_input):
            return np, Xs, seg
        cupy, Xd = _gpu_input(X_input, "X")
        mean, scale = cupy.asarray(self.mean_), cupy.asarray(self.scale_)
        Xs_dev = ((Xd.astype(cupy.float64) - mean) / scale).astype(self._p["dtype"])
        return cupy, cupy.ascontiguousarray(Xs_dev), cupy.asarray(seg)

    def _on(self, xp) -> None:
        """Put the model and the Adam moments on the array module ``xp``."""
        self._model.to(xp)
        if xp is np:
            self._m, self._v = _to_host(self._m), _to_host(self._v)
        else:
            self._m, self._v = xp.asarray(self._m), xp.asarray(self._v)

    def _standardized(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean_) / self.scale_).astype(self._p["dtype"])

    # ---- fitting -------------------------------------------------------------------------------
    def fit(self, X: Any, u: Any) -> IVAE:
        """Fit the encoder, decoder and prior to observations and their segment labels.

        Parameters
        ----------
        X : array_like of shape (n_samples, D)
        u : array_like of shape (n_samples,)
            Segment / environment label of each row (ints or strings); at least 2 segments, each
            with at least 2 rows (3 with early stopping, so one can be held out).

        Returns
        -------
        self

        Raises
        ------
        TypeError
            CuPy input without a usable CUDA device, or a non-numeric ``X``.
        ValueError
            ``X`` not 2-D, with NaN/inf or constant columns, fewer than 10 rows; ``u`` of the
            wrong length or with NaN; fewer than 2 segments or a segment too small;
            ``n_latents`` outside ``[1, D]``; an unknown ``posterior``/``init``/``activation``/
            ``lr_schedule``; any other parameter out of its domain.
        KeyboardInterrupt
            Re-raised after Ctrl-C, with the model left usable (see Notes of the class).
        """
        p = self._validated_params()
        X_input = X
        X, u = self._check_X_u(X, u, fitting=True, allow_gpu=True)
        n, D = X.shape
        if n < 10:
            raise ValueError(f"X needs at least 10 rows to train an IVAE; got {n}")
        d = D if self.n_latents is None else check_int(self.n_latents, "n_latents", low=1, high=D)
        labels, seg = np.unique(u, return_inverse=True)
        K = labels.size
        if K < 2:
            raise ValueError(
                "u must contain at least 2 distinct segments (the changing prior is what makes "
                f"the latents identifiable); got {K}"
            )
        counts = np.bincount(seg, minlength=K)
        min_rows = 3 if p["early_stopping"] else 2
        few = np.flatnonzero(counts < min_rows)
        if few.size:
            raise ValueError(
                f"segment {labels[few[0]].item()!r} has {counts[few[0]]} row(s); every segment "
                f"needs at least {min_rows}"
            )
        self._p = p
        rng = check_random_state(self.random_state)
        self.n_features_in_ = D
        self.n_latents_ = d
        self.segments_ = labels
        if p["standardize"]:
            self.mean_ = X.mean(axis=0)
            self.scale_ = X.std(axis=0)
        else:
            self.mean_, self.scale_ = np.zeros(D), np.ones(D)
        self._model = _Model(
            D,
            K,
            d,
            p["hidden"],
            p["activation"],
            p["leaky_slope"],
            p["posterior"],
            p["decoder_var"],
            p["learn_prior_mean"],
            p["dtype"],
        )
        self._noise_seed = int(rng.integers(2**63))
        self._eval_seed = int(rng.integers(2**63))
        self._noise_offset = 0
        self._rng = rng
        self._m = np.zeros_like(self._model.params)
        self._v = np.zeros_like(self._model.params)
        self._adam_step = 0
        self.history_ = {"loss": [], "val_loss": [], "lr": [], "time": []}
        self.n_iter_ = 0
        self.best_epoch_ = 0
        self.interrupted_ = False
        self.ica_ = None

        Xs = self._standardized(X)
        train, val = self._split(seg, counts, p, rng)
        t0 = time.perf_counter()
        self._model.init_random(rng)
        # GPU input: CuPy allocates on the current device, so the whole fit runs on X's device
        with device_of(X_input):
            xp, Xs_dev, seg_dev = self._device_data(X_input, Xs, seg)
            try:
                self._on(xp)
                try:
                    if p["init"] == "ica":
                        self._warm_start(Xs[train], seg[train], rng)
                except KeyboardInterrupt:
                    self.interrupted_ = True
                    raise
                finally:
                    self.pretrain_time_ = time.perf_counter() - t0
                    self._publish()
                steps = int(math.ceil(train.size / min(p["batch_size"], train.size)))
                total = steps * p["max_epochs"]
                if p["lr_schedule"] == "one_cycle":
                    schedule = lambda t: _one_cycle_lr(t, total, p["lr"])  # noqa: E731
                else:
                    schedule = lambda t: p["lr"]  # noqa: E731
                self._train(
                    Xs_dev, seg_dev, train, val, p["max_epochs"], schedule, p["early_stopping"]
                )
            finally:
                # a fitted IVAE lives on the host: inference, save and load are CPU code
                self._on(np)
        return self

    def partial_fit(self, X: Any, u: Any, *, epochs: int = 1, lr: float | None = None) -> IVAE:
        """Train ``epochs`` more epochs from the current state (Adam moments kept).

        On an unfitted model this is :meth:`fit` with ``max_epochs=epochs``.  Otherwise the data
        must have the same columns and only segments seen in ``fit``; the learning rate is
        constant, ``lr`` or by default ``self.lr / 10``; no early stopping (the last parameters
        are kept).  Appends to ``history_``.

        Returns
        -------
        self
        """
        epochs = check_int(epochs, "epochs", low=1)
        if not hasattr(self, "_model"):
            saved = self.max_epochs
            try:
                self.max_epochs = epochs
                return self.fit(X, u)
            finally:
                self.max_epochs = saved
        X_input = X
        X, u = self._check_X_u(X, u, fitting=False, allow_gpu=True)
        seg = self._segment_index(u)
        rate = self.lr / 10 if lr is None else check_float(lr, "lr", low=0, low_inclusive=False)
        Xs = self._standardized(X)
        rows = np.arange(X.shape[0])
        with device_of(X_input):  # as in fit: on X's device
            xp, Xs_dev, seg_dev = self._device_data(X_input, Xs, seg)
            try:
                self._on(xp)
                self._train(Xs_dev, seg_dev, rows, rows[:0], epochs, lambda t: rate, False)
            finally:
                self._on(np)
        return self

    def _split(self, seg, counts, p, rng) -> tuple[np.ndarray, np.ndarray]:
        """Stratified hold-out: ``validation_fraction`` of every segment (at least 1 row each)."""
        n = seg.size
        if not p["early_stopping"]:
            return np.arange(n), np.arange(0)
        order = np.argsort(seg, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)])
        val = []
        for k in range(counts.size):
            rows = order[starts[k] : starts[k + 1]]
            m = min(max(1, int(round(p["validation_fraction"] * rows.size))), rows.size - 2)
            val.append(rng.choice(rows, size=max(m, 1), replace=False))
        val = np.sort(np.concatenate(val))
        mask = np.ones(n, dtype=bool)
        mask[val] = False
        return np.flatnonzero(mask), val

    def _warm_start(self, Xs: np.ndarray, seg: np.ndarray, rng: np.random.Generator) -> None:
        """Supervised pretraining on the NonstationaryICA solution (see the class docstring)."""
        p, model = self._p, self._model
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ica = NonstationaryICA(n_components=model.d).fit(Xs.astype(np.float64), seg)
        except (ValueError, NumericalError) as exc:
            warnings.warn(
                f"the NonstationaryICA warm start failed ({exc}); starting from random weights",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        self.ica_ = ica
        S = ica.transform(Xs.astype(np.float64)).astype(p["dtype"])
        var = np.maximum(ica.segment_variances_, 1e-3)
        xp = model.xp
        model.prior_logvar[...] = xp.asarray(np.log(var).astype(p["dtype"]))
        if p["pretrain_epochs"] == 0:
            return
        target = np.concatenate(
            [S, np.broadcast_to(model.raw_target(), (S.shape[0], model.n_raw))], axis=1
        ).astype(p["dtype"])
        # the pretraining data on the training device (a one-off copy of n x (D + d) values)
        Xs, S, target, seg = xp.asarray(Xs), xp.asarray(S), xp.asarray(target), xp.asarray(seg)
        fused = self._fused_epoch(xp)
        # the epoch kernels read the encoder's one-hot block from the labels; the step loop needs H
        H = None if fused else self._encoder_input(Xs, seg)
        labels = seg.astype(np.int64, copy=False)
        n = Xs.shape[0]
        bs = min(p["batch_size"], n)
        k = model.k
        nets = ((model.enc, "enc", H, target, labels), (model.dec, "dec", S, Xs, None))
        for net, key, inp, out, onehot in nets:
            m, v = xp.zeros_like(net.params), xp.zeros_like(net.params)
            step = 0
            for _ in range(p["pretrain_epochs"]):
                perm = rng.permutation(n)
                if fused:
                    # the loss is each row's squared error, averaged over rows (regression_grad's)
                    progress = np.zeros(1, dtype=np.int64)
                    try:
                        total = k.mlp_regression_epoch(
                            net.spec, net.params, net.grad, m, v, step, p["lr"], 0.9, 0.999, 1e-8,
                            Xs if onehot is not None else inp, out,
                            xp.asarray(perm.astype(np.int64)), bs, False, progress, 0.0, False,
                            onehot, model.K if onehot is not None else 0,
                        )  # fmt: skip
                    finally:
                        step += int(progress[0])
                    # the CPU kernel raises on the first non-finite batch; the device one cannot
                    # stop mid-epoch without a sync per step, so its epoch's sum tells
                    if not math.isfinite(float(total)):
                        raise NumericalError(
                            f"the warm start diverged (non-finite loss pretraining the {key}oder);"
                            " try a smaller lr"
                        )
                    continue
                perm = xp.asarray(perm)
                for s in range(0, n, bs):
                    idx = perm[s : s + bs]
                    model.regression_grad(net, key, inp[idx], out[idx])
                    step += 1
                    k.adam_update(
                        net.params, net.grad, m, v, step, p["lr"], 0.9, 0.999, 1e-8, 0.0, False
                    )

    def _eval_loss(self, Xs: np.ndarray, seg: np.ndarray) -> float:
        """Mean negative ELBO with a fixed noise stream (comparable between epochs)."""
        model = self._model
        total = 0.0
        for s in range(0, Xs.shape[0], _EVAL_CHUNK):
            xb, sb = Xs[s : s + _EVAL_CHUNK], seg[s : s + _EVAL_CHUNK]
            eps = model.xp.empty((xb.shape[0], model.d), dtype=model.dtype)
            model.k.random_normal_fill(eps, self._eval_seed, s * model.d)
            H = None if self._fused_epoch(model.xp) else self._encoder_input(xb, sb)
            total += float(model.elbo(H, xb, sb, eps).sum())
        return -total / Xs.shape[0]

    def _train(self, Xs, seg, train, val, epochs, schedule, early_stopping) -> None:
        p, model = self._p, self._model
        xp, k = model.xp, model.k
        # the data stay on the training device; only minibatch indices travel (once per epoch)
        train, val = xp.asarray(train), xp.asarray(val)
        fused = self._fused_epoch(xp)
        Xtr, Str = Xs[train], seg[train]
        # the step-by-step loop feeds the encoder [x, onehot(u)]; the epoch kernels never build it
        Htr = None if fused else self._encoder_input(Xtr, Str)
        Xval, Sval = Xs[val], seg[val]
        n = train.size
        bs = min(p["batch_size"], n)
        d = model.d
        best = self._eval_loss(Xval, Sval) if early_stopping else math.inf
        best_params = model.params.copy()
        stale = 0
        step0 = 0
        bar = None
        if p["verbose"] > 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=epochs, desc="IVAE", leave=False)
        try:
            for _ in range(epochs):
                t0 = time.perf_counter()
                perm = self._rng.permutation(n)
                if fused:
                    loss_sum, rate, step0 = self._fused_epoch_run(
                        Xtr, Str, perm, bs, schedule, step0
                    )
                    loss_sum = float(loss_sum)
                else:
                    loss_sum, rate = 0.0, float("nan")
                    perm = xp.asarray(perm)
                    for s in range(0, n, bs):
                        idx = perm[s : s + bs]
                        b = idx.size
                        eps = xp.empty((b, d), dtype=model.dtype)
                        k.random_normal_fill(eps, self._noise_seed, self._noise_offset)
                        self._noise_offset += b * d
                        loss = model.loss_grad(Htr[idx], Xtr[idx], Str[idx], eps)
                        if xp is np:
                            loss = float(loss)
                            _check_finite_loss(loss)
                        # on the GPU the sum stays on the device and is checked once per epoch
                        loss_sum += loss * b
                        rate = schedule(step0)
                        step0 += 1
                        self._adam_step += 1
                        k.adam_update(
                            model.params, model.grad, self._m, self._v, self._adam_step, rate,
                            0.9, 0.999, 1e-8, 0.0, False,
                        )  # fmt: skip
                    loss_sum = float(loss_sum)
                _check_finite_loss(loss_sum)
                self.n_iter_ += 1
                val_loss = self._eval_loss(Xval, Sval) if early_stopping else float("nan")
                h = self.history_
                h["loss"].append(loss_sum / n)
                h["val_loss"].append(val_loss)
                h["lr"].append(rate)
                h["time"].append(time.perf_counter() - t0)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_sum / n:.4g}", val=f"{val_loss:.4g}")
                if early_stopping:
                    if val_loss < best - p["tol"] * abs(best):
                        best, stale = val_loss, 0
                        best_params[...] = model.params
                        self.best_epoch_ = self.n_iter_
                    else:
                        stale += 1
                        if stale >= p["n_iter_no_change"]:
                            break
                else:
                    self.best_epoch_ = self.n_iter_
        except KeyboardInterrupt:
            self.interrupted_ = True
            if early_stopping:
                model.params[...] = best_params
            self._publish()
            raise
        finally:
            if bar is not None:
                bar.close()
        self.interrupted_ = False
        if early_stopping:
            model.params[...] = best_params
        self._publish()

    # Which epochs run as one kernel call: on the CPU always; on the GPU not yet by default (the
    # CUDA epoch has been compiled but not yet measured on a device).  Tests switch these to
    # compare the two paths, which must give the same model.
    _fused_cpu_epochs = True
    _fused_gpu_epochs = False

    def _fused_epoch(self, xp) -> bool:
        return self._fused_cpu_epochs if xp is np else self._fused_gpu_epochs

    def _fused_epoch_run(self, X, seg, perm, bs, schedule, step0):
        """One epoch through ``ivae_train_epoch``; returns ``(loss sum, last lr, step0)``.

        The noise offset, Adam step and schedule position advance by the steps that finished, also
        when Ctrl-C stops the epoch part way (the kernel checks between steps).
        """
        model = self._model
        n, d = perm.size, model.d
        n_steps = -(-n // bs)
        lrs = np.array([schedule(step0 + j) for j in range(n_steps)], dtype=np.float64)
        progress = np.zeros(1, dtype=np.int64)
        order = model.xp.asarray(perm.astype(np.int64, copy=False))
        try:
            total = model.k.ivae_train_epoch(
                model.shape, model.params, model.grad, self._m, self._v, self._adam_step, lrs,
                0.9, 0.999, 1e-8, X, seg, order, bs, self._noise_seed, self._noise_offset, progress,
            )  # fmt: skip
        finally:
            done = int(progress[0])
            self._adam_step += done
            self._noise_offset += min(done * bs, n) * d
        return total, float(lrs[done - 1]) if done else float("nan"), step0 + done

    def _publish(self) -> None:
        """Copy the prior table to the public attributes."""
        self.prior_logvar_ = _to_host(self._model.prior_logvar).astype(np.float64)
        self.prior_mean_ = _to_host(self._model.prior_mean).astype(np.float64)

    # ---- inference -----------------------------------------------------------------------------
    def _check_fitted_model(self) -> None:
        self._check_fitted("_model")

    def _posterior(self, X: Any, u: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._check_fitted_model()
        X, u = self._check_X_u(X, u, fitting=False)
        seg = self._segment_index(u)
        Xs = self._standardized(X)
        # the one-hot segment block as labels; in chunks, for the passes' workspace
        chunks = [slice(s, s + _EVAL_CHUNK) for s in range(0, Xs.shape[0], _EVAL_CHUNK)]
        out = [self._model.encode(Xs[c], seg=seg[c]) for c in chunks]
        return Xs, seg, np.concatenate(out) if len(out) > 1 else out[0]

    def transform(self, X: Any, u: Any) -> np.ndarray:
        """Posterior means ``E[z | x, u]``, shape ``(n_samples, d)`` (float64).

        Raises
        ------
        fastcrl._base.NotFittedError
            Before ``fit``.
        ValueError
            Wrong number of columns, NaN/inf, ``u`` of the wrong length or with unseen labels.
        """
        _, _, out = self._posterior(X, u)
        return out[:, : self.n_latents_].astype(np.float64)

    def fit_transform(self, X: Any, u: Any) -> np.ndarray:
        """``fit(X, u).transform(X, u)``; GPU data trains on the GPU and is transformed from a
        host copy (inference runs on the CPU)."""
        self.fit(X, u)
        X = _gpu_input(X, "X")[1].get() if is_device_array(X) else X
        u = _gpu_input(u, "u")[1].get() if is_device_array(u) else u
        return self.transform(X, u)

    def posterior_covariance(self, X: Any, u: Any) -> np.ndarray:
        """Posterior covariances ``Cov[z | x, u]``, shape ``(n_samples, d, d)``."""
        _, _, out = self._posterior(X, u)
        d = self.n_latents_
        raw = np.ascontiguousarray(out[:, d:]).astype(np.float64)
        if self._model.full:
            L = _core.cholesky_unpack(raw, d, "exp")
            return L @ np.transpose(L, (0, 2, 1))
        return np.einsum("ni,ij->nij", np.exp(raw), np.eye(d))

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Decoder means ``f(z)`` in the units of ``X``, shape ``(n_samples, D)``."""
        self._check_fitted_model()
        _reject_gpu(Z, "Z")
        Z = np.asarray(check_data(Z, "Z", dtype=np.float64, min_samples=1, allow_constant=True))
        if Z.shape[1] != self.n_latents_:
            raise ValueError(f"Z must have {self.n_latents_} columns (latents); got {Z.shape[1]}")
        out = self._model.decode(np.ascontiguousarray(Z, dtype=self._p["dtype"]))
        return out.astype(np.float64) * self.scale_ + self.mean_

    def score(self, X: Any, u: Any) -> float:
        """Mean ELBO per row, in the standardised units of the model (higher is better).

        One reparameterised sample per row from a fixed noise stream, so repeated calls agree.
        The log-density of ``x`` in the original units is this minus ``sum(log(scale_))``.
        """
        Xs, seg, _ = self._posterior(X, u)
        return -self._eval_loss(Xs, seg)

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to one ``.npz`` file (arrays + JSON metadata, no pickle).

        The file holds the parameters, the Adam state and the random-generator state, so
        :meth:`partial_fit` after :meth:`load` continues exactly where this model stopped.
        """
        self._check_fitted_model()
        params = {
            k: v.item() if isinstance(v, np.generic) else v for k, v in self.get_params().items()
        }
        if not isinstance(params["random_state"], int):
            # a Generator cannot be written as JSON; its current state is saved below instead
            params["random_state"] = None
        params["hidden"] = list(self._p["hidden"])
        params["dtype"] = self._p["dtype"].name
        if self.segments_.dtype.kind not in "biuU":
            raise TypeError(
                f"cannot save segment labels of dtype {self.segments_.dtype}; use ints or strings"
            )
        rng_name = type(self._rng.bit_generator).__name__
        if rng_name not in _BIT_GENERATORS or not isinstance(
            self._rng.bit_generator, getattr(np.random, rng_name)
        ):
            raise TypeError(
                f"cannot save a random generator with bit generator {rng_name}; use one of "
                f"NumPy's {list(_BIT_GENERATORS)} (random_state=np.random.Generator(...))"
            )
        meta = {
            "format": "fastcrl.IVAE",
            "format_version": _FORMAT_VERSION,
            "params": params,
            "n_features_in": self.n_features_in_,
            "n_latents": self.n_latents_,
            "noise_seed": self._noise_seed,
            "eval_seed": self._eval_seed,
            "noise_offset": self._noise_offset,
            "adam_step": self._adam_step,
            "n_iter": self.n_iter_,
            "best_epoch": self.best_epoch_,
            "pretrain_time": self.pretrain_time_,
            "interrupted": self.interrupted_,
            "history": self.history_,
            "rng_state": _jsonable(self._rng.bit_generator.state),
            "rng_name": rng_name,
        }
        with open(path, "wb") as fh:
            np.savez(
                fh,
                metadata=np.array(json.dumps(meta)),
                params=self._model.params,
                adam_m=self._m,
                adam_v=self._v,
                mean=self.mean_,
                scale=self.scale_,
                segments=self.segments_,
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> IVAE:
        """Read a model written by :meth:`save` (on the CPU; no pickle is executed).

        Everything is checked here, not later: array shapes and dtypes, finiteness (``scale_ > 0``),
        the types and ranges of the metadata and the parameters.

        Raises
        ------
        FileNotFoundError
            No file at ``path`` (other OS errors likewise pass through).
        ValueError
            ``"{path} is not a valid fastcrl IVAE file: ..."``, naming what is wrong, or a newer
            format version.
        """
        try:
            meta, arrays = _read_ivae_file(path)
            return cls._from_saved(meta, arrays)
        except _InvalidFile as exc:
            raise ValueError(f"{path!s} is not a valid fastcrl IVAE file: {exc}") from None
        except _NewerFormat as exc:
            raise ValueError(f"{path!s} {exc}") from None

    @classmethod
    def _from_saved(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> IVAE:
        """The model from a file's metadata and arrays, checked on the way (or _InvalidFile)."""
        params = _saved_params(meta["params"], set(cls().get_params()))
        self = cls(**params)
        try:
            p = self._validated_params()
        except (TypeError, ValueError) as exc:
            raise _InvalidFile(f"invalid parameter: {exc}") from None
        self._p = p
        D = _meta_int(meta, "n_features_in", low=1)
        d = _meta_int(meta, "n_latents", low=1, high=D)
        if params.get("n_latents") is not None and params["n_latents"] != d:
            raise _InvalidFile(
                f"parameter n_latents={params['n_latents']} but the model has {d} latents"
            )
        segments = arrays["segments"]
        if segments.ndim != 1 or segments.dtype.kind not in "biuU" or segments.size < 2:
            raise _InvalidFile(
                "'segments' must be a 1-D array of at least 2 int or string labels; got shape "
                f"{segments.shape}, dtype {segments.dtype}"
            )
        if not bool(np.all(segments[1:] > segments[:-1])):
            raise _InvalidFile("'segments' must be sorted and without repeats")
        for name in ("mean", "scale"):
            a = arrays[name]
            if a.shape != (D,) or a.dtype.kind != "f":
                raise _InvalidFile(
                    f"{name!r} must be a float array of shape ({D},); got shape {a.shape}, "
                    f"dtype {a.dtype}"
                )
            if not np.isfinite(a).all():
                raise _InvalidFile(f"{name!r} contains NaN or inf")
        if not (arrays["scale"] > 0).all():
            raise _InvalidFile("'scale' must be > 0 (it divides X)")
        self.n_features_in_ = D
        self.n_latents_ = d
        self.segments_ = segments
        self.mean_ = arrays["mean"].astype(np.float64)
        self.scale_ = arrays["scale"].astype(np.float64)
        # before building the model: a file whose metadata claims a larger network than its
        # arrays hold must not make load allocate that network
        count = _parameter_count(D, segments.size, d, p["hidden"], p["posterior"])
        if arrays["params"].size != count:
            raise _InvalidFile(
                f"'params' holds {arrays['params'].size} values but the saved architecture has "
                f"{count}"
            )
        self._model = _Model(
            D,
            segments.size,
            d,
            p["hidden"],
            p["activation"],
            p["leaky_slope"],
            p["posterior"],
            p["decoder_var"],
            p["learn_prior_mean"],
            p["dtype"],
        )
        shape = self._model.params.shape
        for name in ("params", "adam_m", "adam_v"):
            a = arrays[name]
            if a.shape != shape or a.dtype != p["dtype"]:
                raise _InvalidFile(
                    f"{name!r} must have shape {shape} and dtype {p['dtype']} (the saved "
                    f"architecture); got shape {a.shape}, dtype {a.dtype}"
                )
            if not np.isfinite(a).all():
                raise _InvalidFile(f"{name!r} contains NaN or inf")
        if (arrays["adam_v"] < 0).any():
            raise _InvalidFile("'adam_v' (Adam's second moments) must be >= 0")
        self._model.params[...] = arrays["params"]
        self._m = arrays["adam_m"].copy()
        self._v = arrays["adam_v"].copy()
        self._noise_seed = _meta_int(meta, "noise_seed", low=0, high=2**64 - 1)
        self._eval_seed = _meta_int(meta, "eval_seed", low=0, high=2**64 - 1)
        # a stream has 2^64 draws; the headroom keeps partial_fit's draws inside it
        self._noise_offset = _meta_int(meta, "noise_offset", low=0, high=2**63)
        self._adam_step = _meta_int(meta, "adam_step", low=0, high=2**62)
        self.n_iter_ = _meta_int(meta, "n_iter", low=0)
        self.best_epoch_ = _meta_int(meta, "best_epoch", low=0, high=self.n_iter_)
        try:
            self.pretrain_time_ = check_float(meta["pretrain_time"], "pretrain_time", low=0)
        except (TypeError, ValueError) as exc:
            raise _InvalidFile(f"metadata {exc}") from None
        if not isinstance(meta["interrupted"], bool):
            raise _InvalidFile(
                f"metadata interrupted must be true or false; got {meta['interrupted']!r}"
            )
        self.interrupted_ = meta["interrupted"]
        self.history_ = _saved_history(meta["history"])
        self._rng = _saved_rng(meta["rng_name"], meta["rng_state"])
        self.ica_ = None
        self._publish()
        return self
