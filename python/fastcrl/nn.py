"""Neural-network building blocks for the CRL models: an MLP with fused forward/backward passes,
Gaussian log-densities, KL divergences and reparameterised samples with exact gradients, a fused Adam
update, a fused regression training step (:meth:`MLP.mse_step`: batch gather, forward, MSE gradient,
backward and Adam in one call) and epoch (:meth:`MLP.train_epoch`: every minibatch step of an epoch
in one call), and a counter-based random generator.

Everything is NumPy in, NumPy out, computed by the C++ core (OpenBLAS GEMM, fused elementwise
kernels, OpenMP for large elementwise work) with the GIL released.  CuPy (device) arrays run the
CUDA twins of the same kernels (cuBLAS GEMM, fused CUDA kernels; ``fastcrl._gpu_nn``) and return
CuPy arrays on the same device; :func:`kernels` gives the kernel set of an array module, so one
training loop serves both.  float32 and float64 are kept as
given; arguments of one call must share their dtype.  The pure-NumPy equivalents live in
:mod:`fastcrl.reference.nn`.

Parameter layout of an MLP with sizes ``[n_in, h_1, ..., n_out]`` (``L = len(sizes) - 1`` layers):
one flat vector ``[W_0, b_0, W_1, b_1, ..., W_{L-1}, b_{L-1}]``, ``W_l`` of shape
``(sizes[l], sizes[l+1])`` stored row-major (fan_in x fan_out), ``b_l`` of shape ``(sizes[l+1],)``.
Layer ``l`` computes ``H_l = act_l(H_{l-1} @ W_l + b_l)`` with ``H_{-1} = X``.  One flat vector lets
the optimiser update every tensor in one fused call.

Random numbers come from Philox-4x32-10 keyed by a 64-bit seed: draw ``k`` of a stream depends only on
``(seed, k)``, so results do not depend on the thread count, and a stream can be continued by passing
``offset`` = number of draws already used.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core
from ._backend import as_device_array, is_device_array
from ._errors import NumericalError
from ._gpu_nn import on_input_device
from ._validation import FLOAT_DTYPES, check_float, check_int, check_option, check_random_state

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "parameter_count",
    "kernels",
    "Adam",
    "adam_update",
    "random_normal",
    "random_uniform",
    "diag_gaussian_logpdf",
    "diag_gaussian_logpdf_backward",
    "diag_gaussian_kl",
    "diag_gaussian_kl_backward",
    "diag_gaussian_sample",
    "diag_gaussian_sample_backward",
    "cholesky_unpack",
    "chol_gaussian_logpdf",
    "chol_gaussian_logpdf_backward",
    "chol_gaussian_kl",
    "chol_gaussian_kl_backward",
    "chol_gaussian_sample",
    "chol_gaussian_sample_backward",
]

ACTIVATIONS = ("identity", "leaky_relu", "tanh", "xtanh", "elu")
_TRANSFORMS = ("exp", "softplus")


def _dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise TypeError(
            f"dtype must be float64 or float32; got {type(dtype).__name__} {dtype!r}"
        ) from None
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float64 or float32; got {dt}")
    return dt


def kernels(xp: Any):
    """The kernel set for the array module ``xp``: ``fastcrl._core`` for NumPy, the CUDA twins in
    ``fastcrl._gpu_nn`` (same functions, signatures and results, CuPy arrays) for CuPy.

    Lets one training loop run on either device (``fastcrl.crl.IVAE`` does).

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.nn import kernels
    >>> k = kernels(np)
    >>> eps = np.empty(4)
    >>> k.random_normal_fill(eps, 0, 0)
    >>> bool(np.isfinite(eps).all())
    True
    """
    if xp is np:
        return _core
    if getattr(xp, "__name__", "") == "cupy":
        from . import _gpu_nn

        _gpu_nn.require_cuda("fastcrl.nn on CuPy arrays")

        return _gpu_nn
    raise TypeError(f"no fastcrl kernels for array module {xp!r}; use numpy or cupy")


def _cupy():
    try:
        import cupy
    except ImportError:
        raise TypeError(
            "got a CUDA device array, but CuPy is not installed: fastcrl's GPU kernels take CuPy "
            "arrays (pip install fastcrl[cuda]); pass NumPy arrays to use the CPU"
        ) from None
    return cupy


def _module_of(a: Any):
    """numpy for host arrays, cupy for device arrays."""
    return _cupy() if is_device_array(a) else np


def _kernels_of(a: Any):
    return kernels(_module_of(a))


def _device_arrays(named: dict[str, Any], dtype: Any) -> list:
    """The CuPy twin of :func:`_arrays`: device arrays of one dtype, finite; scalars adapt."""
    cupy = _cupy()

    arrs = {}
    for k, v in named.items():
        if is_device_array(v):
            arrs[k] = cupy.asarray(as_device_array(v))
        elif isinstance(v, (np.ndarray, np.generic)) and np.ndim(v) > 0:
            raise TypeError(
                f"{k} is a host (NumPy) array but other arguments are CuPy (device) arrays; move "
                "them to one device first (cupy.asarray(...) or cupy.asnumpy(...))"
            )
        else:
            arrs[k] = v
    typed = {k for k, a in arrs.items() if isinstance(a, cupy.ndarray) and a.dtype in FLOAT_DTYPES}
    for k, a in arrs.items():
        if isinstance(a, cupy.ndarray) and a.dtype.kind not in "biuf":
            raise TypeError(f"{k} must be a real numeric array; got dtype {a.dtype}")
    if dtype is None:
        floats = [arrs[k].dtype for k in arrs if k in typed]
        dtype = floats[0] if floats else np.dtype(np.float64)
    dtype = _dtype(dtype)
    out = []
    for k, a in arrs.items():
        if k in typed and a.dtype != dtype:
            raise TypeError(
                f"{k} has dtype {a.dtype} but the other arguments are {dtype}; convert explicitly"
            )
        out.append(cupy.ascontiguousarray(cupy.asarray(a, dtype=dtype)))
    # One host sync per call: a sum is NaN/inf when an entry is, so one reduction per argument and
    # one transfer clear them all; the exact test runs only then, to name the argument (or to clear
    # a sum that merely overflowed).
    if not np.isfinite(float(sum(a.sum(dtype=np.float64) for a in out))):
        for k, a in zip(arrs, out, strict=True):
            if not bool(cupy.isfinite(a).all()):
                raise ValueError(f"{k} contains NaN or inf")
    return out


def _arrays(named: dict[str, Any], *, dtype: Any = None) -> list[np.ndarray]:
    """Contiguous float arrays of one shared dtype; NaN/inf rejected; shapes checked by the kernel.

    The dtype is ``dtype`` if given, else that of the first float array; mixing float32 and float64
    raises TypeError instead of converting silently.  If any argument is a CuPy (device) array, all
    arrays must be, and CuPy arrays are returned (:func:`_device_arrays`).
    """
    values = list(named.values())
    # Fast path for training loops: NumPy arrays of one float dtype, already contiguous.
    want = values[0].dtype if dtype is None and type(values[0]) is np.ndarray else None
    if dtype is not None:
        want = _dtype(dtype)
    if want is not None and want in FLOAT_DTYPES and all(
        type(a) is np.ndarray and a.dtype == want and a.flags.c_contiguous for a in values
    ):
        for k, a in named.items():
            if not np.isfinite(a.sum()) and not np.isfinite(a).all():
                raise ValueError(f"{k} contains NaN or inf")
        return values
    if any(is_device_array(v) for v in values):
        return _device_arrays(named, dtype)
    arrs = {k: np.asarray(v) for k, v in named.items()}
    for k, a in arrs.items():
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{k} must be a real numeric array; got dtype {a.dtype}")
    # Only NumPy arrays carry a dtype the caller chose; Python scalars and lists adapt to it.
    typed = {
        k
        for k, v in named.items()
        if isinstance(v, (np.ndarray, np.generic)) and arrs[k].dtype in FLOAT_DTYPES
    }
    if dtype is None:
        floats = [arrs[k].dtype for k in arrs if k in typed]
        dtype = floats[0] if floats else np.dtype(np.float64)
    dtype = _dtype(dtype)
    out = []
    for k, a in arrs.items():
        if k in typed and a.dtype != dtype:
            raise TypeError(
                f"{k} has dtype {a.dtype} but the other arguments are {dtype}; convert explicitly"
            )
        a = np.ascontiguousarray(a, dtype=dtype)
        if not np.isfinite(a.sum()) and not np.isfinite(a).all():
            raise ValueError(f"{k} contains NaN or inf")
        out.append(a)
    return out


def _check_flag(value: Any, name: str) -> bool:
    """A bool option (``True``/``False``, NumPy bools too); anything else is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}")
    return bool(value)


def _check_betas(betas: Any) -> tuple[float, float]:
    """Adam's ``(beta1, beta2)``: two numbers in ``[0, 1)``."""
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise ValueError(f"betas must be two numbers in [0, 1), (beta1, beta2); got {betas!r}")
    return (
        check_float(betas[0], "betas[0]", low=0, high=1, high_inclusive=False),
        check_float(betas[1], "betas[1]", low=0, high=1, high_inclusive=False),
    )


def _check_adam_arrays(params, grads, m, v):
    """The arrays of one Adam step: 1-D, one float dtype and module; in-place ones contiguous.

    Returns ``grads``, made C-contiguous if it was not (it is only read).
    """
    xp = _module_of(params)
    where = f"{xp.__name__} array" + ("" if xp is np else " (device)")
    for name, a in (("params", params), ("grads", grads), ("m", m), ("v", v)):
        like = "" if name == "params" else " like params"
        if not isinstance(a, xp.ndarray):
            raise TypeError(
                f"{name} must be a 1-D float32/float64 {where}{like}; got {type(a).__name__}"
            )
        if a.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name} must be float32 or float64; got dtype {a.dtype}")
        if a.dtype != params.dtype:
            raise TypeError(
                f"{name} has dtype {a.dtype} but params is {params.dtype}; convert explicitly"
            )
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-D; got shape {a.shape}")
        if name != "grads" and not a.flags.c_contiguous:
            raise ValueError(
                f"{name} must be C-contiguous (it is updated in place); got a strided view"
            )
    return grads if grads.flags.c_contiguous else xp.ascontiguousarray(grads)


def _broadcast_rows(a: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Broadcast a per-coordinate prior parameter (e.g. shape (d,)) to the per-sample shape."""
    if a.shape == shape:
        return a
    xp = _module_of(a)
    try:
        return xp.ascontiguousarray(xp.broadcast_to(a, shape))
    except ValueError:
        raise ValueError(
            f"{name} must have shape {shape} or broadcast to it; got {a.shape}"
        ) from None


# ---- MLP ---------------------------------------------------------------------------------------------


def _init_limit(fan_in: int, fan_out: int, act: str, slope: float) -> float:
    """Glorot-uniform bound for tanh/xtanh/identity layers, He-uniform for (leaky) ReLU-like ones."""
    if act == "leaky_relu":
        return float(np.sqrt(6.0 / ((1.0 + slope**2) * fan_in)))
    if act == "elu":
        return float(np.sqrt(6.0 / fan_in))
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


def parameter_count(sizes: Sequence[int]) -> int:
    """Weights and biases of an MLP with these layer sizes, ``sum (n_l + 1) n_{l+1}`` (exact).

    >>> parameter_count([10, 100, 100, 10])
    12210
    """
    sizes = [int(s) for s in sizes]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


# Parameters of one MLP at most (2^40: 8 TiB in float64); also keeps every size_t sum exact.
_MAX_PARAMS = 2**40


class MLP:
    """A multilayer perceptron whose parameters live in one flat vector.

    Parameters
    ----------
    sizes : sequence of int
        ``[n_in, h_1, ..., n_out]``; at least two entries.
    activation : str or sequence of str, default="leaky_relu"
        One of ``identity``, ``leaky_relu``, ``tanh``, ``xtanh`` (``tanh(x) + 0.1 x``), ``elu``.  A
        string is used for the hidden layers and ``output_activation`` for the last; a sequence gives
        one activation per layer.
    output_activation : str, default="identity"
    leaky_slope : float, default=0.01
        Negative-side slope of leaky ReLU.
    elu_alpha : float, default=1.0
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, numpy.random.Generator or None
        Seeds the initialisation: weights uniform with Glorot bounds (tanh, xtanh, identity layers) or
        He bounds (leaky ReLU with its slope, ELU); biases zero.

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        The flat parameter vector (layout in the module docstring).  Update it in place.
    grad : ndarray of shape (n_params,)
        Gradient buffer written by :meth:`backward` (overwritten on each call unless ``accumulate``).
    spec : fastcrl._core.MLPSpec

    Notes
    -----
    :meth:`to_device` moves ``params`` and ``grad`` to the current CUDA device (CuPy); the passes
    then take CuPy inputs and run the CUDA kernels (cuBLAS GEMM, fused bias/activation), and
    :meth:`to_host` brings the parameters back.

    :meth:`forward` keeps the input and a workspace with the hidden activations and activation
    derivatives; :meth:`backward` uses them, so call it after the forward pass on the same batch
    and before changing ``params``.  Cost per batch of n rows: ``2 n sum_l sizes[l] sizes[l+1]``
    flops forward, twice that backward (BLAS GEMM), plus one fused pass per layer.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.nn import MLP
    >>> net = MLP([3, 16, 2], activation="tanh", dtype="float64", random_state=0)
    >>> X = np.ones((5, 3))
    >>> net.forward(X).shape
    (5, 2)
    >>> grad_params, grad_X = net.backward(np.ones((5, 2)))
    >>> grad_params.shape == (net.n_params,), grad_X.shape
    (True, (5, 3))
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Sequence[str] = "leaky_relu",
        output_activation: str = "identity",
        *,
        leaky_slope: float = 0.01,
        elu_alpha: float = 1.0,
        dtype: Any = "float32",
        random_state: Any = None,
    ) -> None:
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(f"sizes must be a sequence of ints; got {type(sizes).__name__}")
        # BLAS takes 32-bit dimensions
        sizes = [check_int(s, "sizes[i]", low=1, high=2**31 - 1) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least [n_in, n_out]; got {sizes}")
        n_params = parameter_count(sizes)
        if n_params > _MAX_PARAMS:
            raise ValueError(
                f"sizes {sizes} give {n_params:,} parameters; at most {_MAX_PARAMS:,} are supported"
            )
        L = len(sizes) - 1
        if not isinstance(activation, str) and (
            isinstance(activation, bytes) or not hasattr(activation, "__iter__")
        ):
            raise TypeError(
                "activation must be a string or a sequence of strings (one per layer); got "
                f"{type(activation).__name__} {activation!r}"
            )
        if isinstance(activation, str):
            acts = [check_option(activation, "activation", ACTIVATIONS)] * (L - 1)
            acts.append(check_option(output_activation, "output_activation", ACTIVATIONS))
        else:
            acts = [check_option(a, "activation", ACTIVATIONS) for a in activation]
            if len(acts) != L:
                raise ValueError(f"activation needs one entry per layer ({L}); got {len(acts)}")
        self.leaky_slope = check_float(leaky_slope, "leaky_slope")
        self.elu_alpha = check_float(elu_alpha, "elu_alpha", low=0, low_inclusive=False)
        self.dtype = _dtype(dtype)
        self.sizes = sizes
        self.activations = acts
        self.spec = _core.MLPSpec(sizes, acts, self.leaky_slope, self.elu_alpha)
        self.n_params = int(self.spec.n_params)
        self.params = np.zeros(self.n_params, dtype=self.dtype)
        self.grad = np.zeros(self.n_params, dtype=self.dtype)
        self._workspace = np.empty(0, dtype=self.dtype)
        self._X: np.ndarray | None = None
        # the labels (and their number of classes) of the last forward pass, for backward
        self._onehot: tuple[Any, int] = (None, 0)
        self.init_params(random_state)

    # -- layout ------------------------------------------------------------------------------------
    def unpack(self, flat: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W_0, b_0), ...]`` as views into ``flat`` (default: ``params``; ``grad`` works too)."""
        flat = self.params if flat is None else flat
        if not isinstance(flat, _module_of(flat).ndarray):
            raise TypeError(
                f"flat must be a NumPy or CuPy array (views into it are returned); got "
                f"{type(flat).__name__}"
            )
        if flat.shape != (self.n_params,):
            raise ValueError(f"flat vector must have shape ({self.n_params},); got {flat.shape}")
        out = []
        for li, (fi, fo) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=False)):
            off = int(self.spec.weight_offset(li))
            out.append(
                (
                    flat[off : off + fi * fo].reshape(fi, fo),
                    flat[off + fi * fo : off + fi * fo + fo],
                )
            )
        return out

    def pack(self, layers: Sequence[tuple[Any, Any]]) -> np.ndarray:
        """Flat vector (in this MLP's dtype) from ``[(W_0, b_0), ...]``; shapes are checked."""
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__"):
            raise TypeError(
                f"layers must be a sequence of (W, b) pairs; got {type(layers).__name__}"
            )
        if len(layers) != len(self.sizes) - 1:
            raise ValueError(f"expected {len(self.sizes) - 1} (W, b) pairs; got {len(layers)}")
        parts = []
        for li, (layer, fi, fo) in enumerate(
            zip(layers, self.sizes[:-1], self.sizes[1:], strict=False)
        ):
            if isinstance(layer, (str, bytes)) or not hasattr(layer, "__len__") or len(layer) != 2:
                raise ValueError(f"layer {li}: expected a (W, b) pair; got {type(layer).__name__}")
            W, b = np.asarray(layer[0]), np.asarray(layer[1])
            for name, a in (("W", W), ("b", b)):
                if a.dtype.kind not in "biuf":
                    raise TypeError(
                        f"layer {li}: {name} must be a real numeric array; got dtype {a.dtype}"
                    )
            if W.shape != (fi, fo) or b.shape != (fo,):
                raise ValueError(
                    f"layer {li}: expected W {(fi, fo)} and b {(fo,)}; got {W.shape} and {b.shape}"
                )
            parts += [W.ravel(), b]
        return np.concatenate(parts).astype(self.dtype)

    def set_params(self, flat: Any) -> MLP:
        """Copy a flat parameter vector in (its length, dtype and finiteness are checked).

        A NumPy/CuPy array must have the MLP's dtype (no silent rounding); lists adapt to it.
        """
        if isinstance(flat, (np.ndarray, np.generic)) or is_device_array(flat):
            dt = np.dtype(flat.dtype)
            if dt in FLOAT_DTYPES and dt != self.dtype:
                raise TypeError(
                    f"params has dtype {dt} but the MLP is {self.dtype}; convert explicitly "
                    f"(e.g. flat.astype('{self.dtype.name}'))"
                )
        (flat,) = _arrays({"params": flat}, dtype=self.dtype)
        if flat.shape != (self.n_params,):
            raise ValueError(f"params must have shape ({self.n_params},); got {flat.shape}")
        if _module_of(flat) is not _module_of(self.params):
            where = "CuPy (device)" if is_device_array(flat) else "NumPy (host)"
            raise TypeError(
                f"params is a {where} array but the MLP's parameters are not; call to_device() "
                "or to_host() first, or move the array"
            )
        self.params[...] = flat
        return self

    def init_params(self, random_state: Any = None) -> MLP:
        """Re-draw the weights (Glorot/He uniform, see the class docstring) and zero the biases."""
        rng = check_random_state(random_state)
        for (W, b), act in zip(self.unpack(), self.activations, strict=False):
            lim = _init_limit(W.shape[0], W.shape[1], act, self.leaky_slope)
            W[...] = rng.uniform(-lim, lim, size=W.shape)
            b[...] = 0
        return self

    # -- device ------------------------------------------------------------------------------------
    def to_device(self) -> MLP:
        """Move ``params`` and ``grad`` to the current CUDA device as CuPy arrays (needs CuPy)."""
        import cupy

        self.params = cupy.asarray(self.params)
        self.grad = cupy.asarray(self.grad)
        self._workspace = cupy.empty(0, dtype=self.dtype)
        self._X = None
        return self

    def to_host(self) -> MLP:
        """Bring ``params`` and ``grad`` back to NumPy arrays (a no-op when they already are)."""
        if is_device_array(self.params):
            self.params = self.params.get()
            self.grad = self.grad.get()
            self._workspace = np.empty(0, dtype=self.dtype)
            self._X = None
        return self

    # -- passes ------------------------------------------------------------------------------------
    def _check_state(self, name: str) -> None:
        """``params``/``grad`` are public attributes: one replaced by a wrong array is named."""
        a = getattr(self, name)
        xp = _module_of(a)
        if not isinstance(a, xp.ndarray):
            raise TypeError(
                f"MLP.{name} must be a NumPy or CuPy array; got {type(a).__name__} (update it in "
                "place, or use set_params)"
            )
        if a.dtype != self.dtype:
            how = "update it in place" + (" (or use set_params)" if name == "params" else "")
            raise TypeError(
                f"MLP.{name} has dtype {a.dtype} but the MLP is {self.dtype}; {how} instead of "
                "assigning a new array"
            )
        if a.shape != (self.n_params,):
            raise ValueError(f"MLP.{name} must have shape ({self.n_params},); got {a.shape}")
        if not a.flags.c_contiguous:
            raise ValueError(f"MLP.{name} must be C-contiguous")

    def _check_X(self, X: Any, labels: Any = None) -> np.ndarray:
        self._check_state("params")
        (X,) = _arrays({"X": X}, dtype=None)
        if _module_of(X) is not _module_of(self.params):
            where = "CuPy (device)" if is_device_array(X) else "NumPy (host)"
            raise TypeError(
                f"X is a {where} array but the MLP's parameters are not; call to_device() or "
                "to_host() first, or move X"
            )
        if X.dtype != self.dtype:
            raise TypeError(
                f"X has dtype {X.dtype} but the MLP is {self.dtype}; convert explicitly"
            )
        if labels is None:
            if X.ndim != 2 or X.shape[1] != self.sizes[0]:
                raise ValueError(f"X must have shape (n_samples, {self.sizes[0]}); got {X.shape}")
            return X
        if X.ndim != 2 or not 1 <= X.shape[1] < self.sizes[0]:
            raise ValueError(
                f"with labels, X holds the first of the {self.sizes[0]} inputs (fewer than "
                f"{self.sizes[0]} columns; the rest are the labels' one-hot code); got {X.shape}"
            )
        return X

    def _check_labels(self, labels: Any, X: Any) -> tuple[Any, int]:
        """``labels`` as a contiguous int64 vector of X's array module, and the one-hot block's
        number of classes (the inputs X does not hold); ``(None, 0)`` without labels."""
        if labels is None:
            return None, 0
        n_classes = self.sizes[0] - X.shape[1]
        xp = _module_of(X)
        lab = xp.asarray(labels)
        if lab.ndim != 1 or lab.shape[0] != X.shape[0]:
            raise ValueError(f"labels must have shape ({X.shape[0]},); got {lab.shape}")
        if lab.dtype.kind not in "iu":
            raise TypeError(f"labels must hold integers; got dtype {lab.dtype}")
        if lab.size and (int(lab.min()) < 0 or int(lab.max()) >= n_classes):
            raise ValueError(f"labels must lie in [0, {n_classes}) (the one-hot block's classes)")
        return xp.ascontiguousarray(lab, dtype=xp.int64), n_classes

    @on_input_device
    def forward(self, X: Any, *, training: bool = True, labels: Any = None) -> np.ndarray:
        """Output ``(n_samples, sizes[-1])``; with ``training`` it keeps what :meth:`backward`
        needs.

        With ``labels`` (one integer per row), the network's input is ``[X, onehot(labels)]``: X
        holds the first inputs and the last ``sizes[0] - X.shape[1]`` are the one-hot code of the
        label, read as a row of ``W_0`` rather than multiplied (a conditional network, e.g. an
        encoder given a segment, without an ``n x classes`` matrix).
        """
        training = _check_flag(training, "training")
        X = self._check_X(X, labels)
        lab, n_classes = self._check_labels(labels, X)
        need = int(self.spec.workspace_size(X.shape[0]))
        if self._workspace.size < need:
            self._workspace = _module_of(X).empty(need, dtype=self.dtype)
        k = _kernels_of(X)
        if lab is None:
            out = k.mlp_forward(self.spec, self.params, X, self._workspace, None, training)
        else:
            out = k.mlp_forward(
                self.spec, self.params, X, self._workspace, None, training, lab, n_classes
            )
        self._X = X if training else None
        self._onehot = (lab, n_classes)
        return out

    __call__ = forward

    @on_input_device
    def backward(
        self, grad_out: Any, *, need_grad_input: bool = True, accumulate: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Gradients for upstream ``grad_out = dL/d output`` of the last training forward pass.

        Returns ``(grad_params, grad_X)``: ``grad_params`` is :attr:`grad` (overwritten, or added to
        when ``accumulate``); ``grad_X`` is ``dL/dX``, shaped as that pass's X, or None.
        """
        if self._X is None:
            raise RuntimeError("call forward(X, training=True) before backward")
        need_grad_input = _check_flag(need_grad_input, "need_grad_input")
        accumulate = _check_flag(accumulate, "accumulate")
        self._check_state("params")
        self._check_state("grad")
        if _module_of(self.params) is not _module_of(self._X) or _module_of(self.grad) is not (
            _module_of(self._X)
        ):
            raise TypeError("MLP.params and MLP.grad must live on the device of the last X")
        (g,) = _arrays({"grad_out": grad_out}, dtype=self.dtype)
        if _module_of(g) is not _module_of(self._X):
            raise TypeError("grad_out must live on the same device (NumPy or CuPy) as X")
        if g.shape != (self._X.shape[0], self.sizes[-1]):
            raise ValueError(
                f"grad_out must have shape {(self._X.shape[0], self.sizes[-1])}; got {g.shape}"
            )
        lab, n_classes = self._onehot
        extra = () if lab is None else (lab, n_classes)
        return _kernels_of(self._X).mlp_backward(
            self.spec,
            self.params,
            self._X,
            self._workspace,
            g,
            self.grad,
            need_grad_input,
            accumulate,
            *extra,
        )

    def _check_training_args(self, X, Y, optimizer) -> Any:
        """Y matches X (device, dtype, rows) and this MLP's output; optimizer is an Adam on
        :attr:`params`; returns X's array module."""
        xp = _module_of(X)
        if _module_of(Y) is not xp or Y.dtype != self.dtype:
            raise TypeError(
                f"Y must be a {self.dtype} array on the same device as X; got {Y.dtype}"
            )
        if Y.shape != (X.shape[0], self.sizes[-1]):
            raise ValueError(f"Y must have shape {(X.shape[0], self.sizes[-1])}; got {Y.shape}")
        if not isinstance(optimizer, Adam) or optimizer.params is not self.params:
            raise TypeError("optimizer must be an Adam constructed on this MLP's params")
        self._check_state("params")
        self._check_state("grad")
        return xp

    @on_input_device
    def mse_step(
        self, X: Any, Y: Any, optimizer: Adam, *, rows: Any = None, labels: Any = None
    ) -> float:
        """One fused training step on the mean squared error; returns the batch loss.

        Forward pass on the batch ``X[rows]``, ``loss = mean((output - Y[rows]) ** 2)`` over all
        entries (PyTorch's ``MSELoss()``), its gradient with respect to :attr:`params` (left in
        :attr:`grad`), the backward pass and one step of ``optimizer``, an :class:`Adam` over this
        MLP's :attr:`params`.  On NumPy arrays this is one C++ call with the GIL released: the batch
        rows are gathered there, and no Python runs between the passes, which is what a training loop
        over small batches spends much of its time on.  CuPy arrays run the same steps through the
        CUDA passes.

        Parameters
        ----------
        X : array of shape (n_samples, sizes[0])
        Y : array of shape (n_samples, sizes[-1])
            Same dtype and device as :attr:`params`.
        optimizer : Adam
            Constructed on this MLP's ``params`` (the same array).
        rows : array of int, optional
            Indices of the batch rows in ``X`` and ``Y`` (e.g. a slice of a permutation); all rows
            when omitted.
        labels : array of int, optional
            One label per row of ``X``: the input is ``[X, onehot(labels)]`` (see :meth:`forward`).

        Returns
        -------
        float
            The loss of the batch before the update.

        Raises
        ------
        ValueError
            If the batch rows of ``X`` or ``Y`` hold NaN or inf (only the batch is checked, so a
            step costs the same whatever the size of ``X``), or on a shape mismatch.
        IndexError
            If a row index is outside ``[0, n_samples)``.
        fastcrl.NumericalError
            If the output or the squared error overflows.  In every case nothing is updated.

        Examples
        --------
        >>> import numpy as np
        >>> from fastcrl.nn import MLP, Adam
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(512, 3)); Y = np.sin(X[:, :1])
        >>> net = MLP([3, 32, 1], activation="tanh", dtype="float64", random_state=0)
        >>> opt = Adam(net.params, lr=1e-2)
        >>> perm = rng.permutation(512)
        >>> first = net.mse_step(X, Y, opt, rows=perm[:128])
        >>> for _ in range(200):
        ...     last = net.mse_step(X, Y, opt, rows=perm[:128])
        >>> bool(last < 0.1 * first)
        True
        """
        host = type(self.params) is np.ndarray
        if not (  # fast path: the kernel checks the batch's values, not the whole data on each step
            host
            and labels is None
            and type(X) is np.ndarray
            and type(Y) is np.ndarray
            and X.dtype == self.dtype == Y.dtype
            and X.flags.c_contiguous
            and Y.flags.c_contiguous
            and X.ndim == 2
            and X.shape[1] == self.sizes[0]
        ):
            X = self._check_X(X, labels)
            (Y,) = _arrays({"Y": Y}, dtype=None)
        xp = self._check_training_args(X, Y, optimizer)
        lab, n_classes = self._check_labels(labels, X)
        if rows is not None:
            rows = _batch_rows(rows, X.shape[0], xp)
        if xp is np:
            n = X.shape[0] if rows is None else rows.shape[0]
            need = int(self.spec.mse_step_workspace_size(n))
            if self._workspace.size < need:
                self._workspace = np.empty(need, dtype=self.dtype)
            b1, b2 = optimizer.betas
            self._X = None  # the workspace no longer matches a forward pass backward could use
            step = optimizer.step_count + 1
            loss = _core.mlp_mse_adam_step(
                self.spec, self.params, optimizer.m, optimizer.v, step,
                optimizer.lr, b1, b2, optimizer.eps, optimizer.weight_decay, optimizer.decoupled,
                X, Y, rows, self._workspace, self.grad, lab, n_classes,
            )  # raises before any update if the batch holds NaN or inf
            optimizer.step_count = step
            return float(loss)
        xb, yb = (X, Y) if rows is None else (X[rows], Y[rows])
        lb = lab if lab is None or rows is None else lab[rows]
        diff = self.forward(xb, labels=lb) - yb
        loss = float((diff * diff).mean())
        if not math.isfinite(loss):
            raise NumericalError(
                "the MLP's output or the squared error overflows on this batch; nothing was updated"
            )
        self.backward(diff * (2.0 / diff.size), need_grad_input=False)
        optimizer.step(self.grad)
        return loss

    @on_input_device
    def train_epoch(
        self,
        X: Any,
        Y: Any,
        optimizer: Adam,
        *,
        batch_size: int = 256,
        rows: Any = None,
        shuffle: bool = True,
        random_state: Any = None,
        labels: Any = None,
    ) -> float:
        """One epoch of :meth:`mse_step` over minibatches; returns the epoch's mean loss.

        The rows (all of ``X``, or ``rows``) are visited once, in a random order when ``shuffle``,
        in consecutive batches of ``batch_size`` (the last may be shorter); each batch takes one
        fused MSE step (PyTorch's ``MSELoss()``) and one step of ``optimizer``.  On NumPy arrays the
        whole epoch is one C++ call with the GIL released: no Python runs between steps.  It checks
        for Ctrl-C between steps; the steps that finished stay applied and counted in
        ``optimizer.step_count``.  CuPy arrays run :meth:`mse_step` batch by batch on the device.

        Parameters
        ----------
        X, Y, optimizer
            As for :meth:`mse_step`.
        batch_size : int, default 256
        rows : array of int, optional
            The rows of the epoch (all when omitted).
        shuffle : bool, default True
            Visit the rows in a random order (drawn from ``random_state``), else as given.
        random_state : int, numpy.random.Generator or None
        labels : array of int, optional
            One label per row of ``X``: the input is ``[X, onehot(labels)]`` (see :meth:`forward`).

        Returns
        -------
        float
            ``sum(batch loss * batch rows) / rows``, the losses taken before each update.

        Raises
        ------
        ValueError, IndexError, fastcrl.NumericalError
            As :meth:`mse_step`, for the first batch that fails (earlier steps stay applied).

        Examples
        --------
        >>> import numpy as np
        >>> from fastcrl.nn import MLP, Adam
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(2048, 3)); Y = np.sin(X[:, :1])
        >>> net = MLP([3, 32, 1], activation="tanh", dtype="float64", random_state=0)
        >>> opt = Adam(net.params, lr=1e-2)
        >>> first = net.train_epoch(X, Y, opt, batch_size=128, random_state=0)
        >>> for epoch in range(20):
        ...     last = net.train_epoch(X, Y, opt, batch_size=128, random_state=epoch)
        >>> bool(last < 0.1 * first), opt.step_count
        (True, 336)
        """
        batch_size = check_int(batch_size, "batch_size", low=1)
        shuffle = _check_flag(shuffle, "shuffle")
        X = self._check_X(X, labels)
        (Y,) = _arrays({"Y": Y}, dtype=None)
        xp = self._check_training_args(X, Y, optimizer)
        lab, n_classes = self._check_labels(labels, X)
        n_all = X.shape[0]
        if rows is not None and is_device_array(rows):
            rows = rows.get()  # the order is drawn on the host (CuPy's .get(): one small copy)
        order = np.arange(n_all) if rows is None else _batch_rows(rows, n_all, np)
        if order.size and (order.min() < 0 or order.max() >= n_all):
            raise IndexError(f"rows must lie in [0, {n_all})")
        if shuffle:
            order = check_random_state(random_state).permutation(order)
        order = order.astype(np.int64, copy=False)
        n = order.size
        if n == 0:
            raise ValueError("the epoch has no rows")
        if xp is not np:  # the CUDA epoch kernel is not yet measured on a device: step by step
            total, order_d = 0.0, xp.asarray(order)
            for s in range(0, n, batch_size):
                batch = order_d[s : s + batch_size]
                total += self.mse_step(X, Y, optimizer, rows=batch, labels=lab) * batch.size
            return total / n
        b1, b2 = optimizer.betas
        self._X = None  # the workspace no longer matches a forward pass backward could use
        progress = np.zeros(1, dtype=np.int64)
        try:
            total = _core.mlp_regression_epoch(
                self.spec, self.params, self.grad, optimizer.m, optimizer.v,
                optimizer.step_count, optimizer.lr, b1, b2, optimizer.eps, X, Y, order,
                batch_size, True, progress, optimizer.weight_decay, optimizer.decoupled,
                lab, n_classes,
            )  # fmt: skip
        finally:
            optimizer.step_count += int(progress[0])
        return float(total) / n

    def __repr__(self) -> str:
        return f"MLP(sizes={self.sizes}, activations={self.activations}, dtype={self.dtype.name})"


def _batch_rows(rows: Any, n_samples: int, xp: Any):
    """``rows`` as a contiguous int64 index array of ``xp`` (1-D, non-empty, within range)."""
    r = xp.asarray(rows)
    if r.ndim != 1 or r.shape[0] == 0:
        raise ValueError(f"rows must be a non-empty 1-D array of row indices; got shape {r.shape}")
    if r.dtype.kind not in "iu":
        raise TypeError(f"rows must hold integers; got dtype {r.dtype}")
    if xp is not np and (int(r.min()) < 0 or int(r.max()) >= n_samples):
        raise IndexError(f"rows must lie in [0, {n_samples})")
    return xp.ascontiguousarray(r, dtype=xp.int64)


# ---- Adam --------------------------------------------------------------------------------------------


@on_input_device
def adam_update(
    params,
    grads,
    m,
    v,
    step,
    *,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    decoupled=False,
) -> None:
    """One fused, in-place Adam (or AdamW with ``decoupled``) step on 1-D arrays of one dtype.

    NumPy arrays run the C++ kernel, CuPy arrays (all four) the CUDA one.

    ``m``, ``v`` are the moment buffers (start at zero), ``step`` the 1-based step number; the bias
    correction and update follow PyTorch's ``torch.optim.Adam``/``AdamW``.  ``params`` is
    not checked for NaN here (it is on the hot path); check the loss instead.
    """
    grads = _check_adam_arrays(params, grads, m, v)
    step = check_int(step, "step", low=1, high=2**63 - 1)
    beta1, beta2 = _check_betas(betas)
    kernels(_module_of(params)).adam_update(
        params,
        grads,
        m,
        v,
        step,
        check_float(lr, "lr", low=0),
        beta1,
        beta2,
        check_float(eps, "eps", low=0, low_inclusive=False),
        check_float(weight_decay, "weight_decay", low=0),
        _check_flag(decoupled, "decoupled"),
    )


class Adam:
    """Adam/AdamW over one flat parameter vector (e.g. :attr:`MLP.params`), updated in place.

    ``params`` may be a NumPy or a CuPy array; the moments live on the same device.
    """

    @on_input_device
    def __init__(
        self,
        params: np.ndarray,
        *,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        decoupled=False,
    ) -> None:
        xp = _module_of(params)
        if (
            not isinstance(params, xp.ndarray)
            or params.dtype not in FLOAT_DTYPES
            or params.ndim != 1
            or not params.flags.c_contiguous
        ):
            raise TypeError(
                "params must be a contiguous 1-D float32/float64 NumPy or CuPy array (updated in "
                "place)"
            )
        self.lr = check_float(lr, "lr", low=0)
        self.betas = _check_betas(betas)
        self.eps = check_float(eps, "eps", low=0, low_inclusive=False)
        self.weight_decay = check_float(weight_decay, "weight_decay", low=0)
        self.decoupled = _check_flag(decoupled, "decoupled")
        self.params = params
        self.m = xp.zeros_like(params)
        self.v = xp.zeros_like(params)
        self.step_count = 0
        self._kernels = kernels(xp)

    @on_input_device
    def step(self, grads: np.ndarray) -> None:
        """One update with ``grads``: an array of ``params``' shape, dtype and device."""
        grads = _check_adam_arrays(self.params, grads, self.m, self.v)
        self.step_count += 1
        self._kernels.adam_update(
            self.params,
            grads,
            self.m,
            self.v,
            self.step_count,
            self.lr,
            self.betas[0],
            self.betas[1],
            self.eps,
            self.weight_decay,
            self.decoupled,
        )


# ---- random numbers ----------------------------------------------------------------------------------


@on_input_device
def _random(kind: str, shape, seed, offset, dtype, like=None) -> np.ndarray:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(
            f"shape must be an int or a tuple of ints; got {type(shape).__name__} {shape!r}"
        )
    shape = tuple(check_int(s, "shape[i]", low=0) for s in shape)
    seed = check_int(seed, "seed", low=0, high=2**64 - 1)
    offset = check_int(offset, "offset", low=0, high=2**64 - 1)
    xp = _module_of(like)
    dtype = _dtype(dtype)
    if math.prod(shape) * dtype.itemsize > 2**63 - 1:
        raise ValueError(f"shape {shape} is too large for one array")
    out = xp.empty(shape, dtype=dtype)
    if offset + out.size > 2**64:
        raise ValueError("offset + size exceeds the 2^64 draws of a stream")
    getattr(kernels(xp), f"random_{kind}_fill")(out, seed, offset)
    return out


def random_normal(
    shape, seed: int, offset: int = 0, dtype: Any = np.float64, *, like: Any = None
) -> np.ndarray:
    """Standard normals from Philox-4x32-10, identical for any thread count.

    Parameters
    ----------
    shape : int or tuple of int
    seed : int in [0, 2**64)
    offset : int, default=0
        Index of the first draw in the stream (C order); pass the number of draws already used to
        continue a stream: ``random_normal(5, s)`` equals ``concatenate([random_normal(2, s),
        random_normal(3, s, offset=2)])``.
    dtype : float64 or float32
        float32 draws are the float64 draws rounded.
    like : array, optional
        A CuPy array: draw on its device (CUDA kernel, same stream) and return a CuPy array.

    Notes
    -----
    Draw ``k`` uses Philox block ``k // 2`` (counter ``(k//2 mod 2^32, k//2 >> 32, 0, 0)``, key
    ``(seed mod 2^32, seed >> 32)``); its words give two 53-bit uniforms ``u1 in (0, 1]``,
    ``u2 in [0, 1)`` and Box-Muller gives ``sqrt(-2 log u1) * (cos, sin)(2 pi u2)`` for even/odd k.

    Examples
    --------
    >>> from fastcrl.nn import random_normal
    >>> random_normal((2, 3), seed=0).shape
    (2, 3)
    """
    return _random("normal", shape, seed, offset, dtype, like)


def random_uniform(
    shape, seed: int, offset: int = 0, dtype: Any = np.float64, *, like: Any = None
) -> np.ndarray:
    """Uniforms on ``[0, 1)`` from Philox-4x32-10 (53-bit; draw ``k`` from block ``k // 2``).

    Same stream conventions as :func:`random_normal`.
    """
    return _random("uniform", shape, seed, offset, dtype, like)


# ---- Gaussians ---------------------------------------------------------------------------------------


def _with_g(named: dict[str, Any], g) -> dict[str, Any]:
    """``named`` and the row weights ``g`` when given, validated together (one NaN check)."""
    return named if g is None else {**named, "g": g}


def _g(g: list, x):
    """The validated ``g`` (``[]`` or ``[g]``), or ones: one weight per row of ``x``."""
    return g[0] if g else _module_of(x).ones(x.shape[0], dtype=x.dtype)


@on_input_device
def diag_gaussian_logpdf(x, mu, logvar) -> np.ndarray:
    """``log N(x_i; mu_i, diag(exp(logvar_i)))`` per row; arrays ``(n, d)`` (mu, logvar may broadcast).

    Returns ``(n,)``.
    """
    x, mu, logvar = _arrays({"x": x, "mu": mu, "logvar": logvar})
    mu, logvar = _broadcast_rows(mu, "mu", x.shape), _broadcast_rows(logvar, "logvar", x.shape)
    return _kernels_of(x).diag_gaussian_logpdf(x, mu, logvar)


@on_input_device
def diag_gaussian_logpdf_backward(x, mu, logvar, g=None):
    """Gradients ``(d/dx, d/dmu, d/dlogvar)`` of ``sum(g * diag_gaussian_logpdf)`` (g defaults to 1)."""
    x, mu, logvar, *g = _arrays(_with_g({"x": x, "mu": mu, "logvar": logvar}, g))
    mu, logvar = _broadcast_rows(mu, "mu", x.shape), _broadcast_rows(logvar, "logvar", x.shape)
    return _kernels_of(x).diag_gaussian_logpdf_backward(x, mu, logvar, _g(g, x))


@on_input_device
def diag_gaussian_kl(mu_q, logvar_q, mu_p=0.0, logvar_p=0.0) -> np.ndarray:
    """``KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p)))`` per row (prior may broadcast)."""
    mu_q, logvar_q, mu_p, logvar_p = _arrays(
        {"mu_q": mu_q, "logvar_q": logvar_q, "mu_p": mu_p, "logvar_p": logvar_p}
    )
    mu_p, logvar_p = (
        _broadcast_rows(mu_p, "mu_p", mu_q.shape),
        _broadcast_rows(logvar_p, "logvar_p", mu_q.shape),
    )
    return _kernels_of(mu_q).diag_gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)


@on_input_device
def diag_gaussian_kl_backward(mu_q, logvar_q, mu_p=0.0, logvar_p=0.0, g=None):
    """Gradients ``(d/dmu_q, d/dlogvar_q, d/dmu_p, d/dlogvar_p)`` of ``sum(g * KL)``, all ``(n, d)``."""
    mu_q, logvar_q, mu_p, logvar_p, *g = _arrays(
        _with_g({"mu_q": mu_q, "logvar_q": logvar_q, "mu_p": mu_p, "logvar_p": logvar_p}, g)
    )
    mu_p, logvar_p = (
        _broadcast_rows(mu_p, "mu_p", mu_q.shape),
        _broadcast_rows(logvar_p, "logvar_p", mu_q.shape),
    )
    return _kernels_of(mu_q).diag_gaussian_kl_backward(mu_q, logvar_q, mu_p, logvar_p, _g(g, mu_q))


@on_input_device
def diag_gaussian_sample(mu, logvar, eps) -> np.ndarray:
    """Reparameterised sample ``mu + exp(logvar / 2) * eps`` (eps e.g. from :func:`random_normal`)."""
    mu, logvar, eps = _arrays({"mu": mu, "logvar": logvar, "eps": eps})
    return _kernels_of(mu).diag_gaussian_sample(mu, logvar, eps)


@on_input_device
def diag_gaussian_sample_backward(logvar, eps, gz):
    """Gradients ``(d/dmu, d/dlogvar)`` of ``sum(gz * z)``."""
    logvar, eps, gz = _arrays({"logvar": logvar, "eps": eps, "gz": gz})
    return _kernels_of(logvar).diag_gaussian_sample_backward(logvar, eps, gz)


def _transform(t):
    return check_option(t, "transform", _TRANSFORMS)


@on_input_device
def cholesky_unpack(raw, d: int, transform: str = "exp") -> np.ndarray:
    """Dense lower-triangular factors ``(n, d, d)`` from packed raw parameters ``(n, d(d+1)/2)``.

    Packing is row by row: ``raw[:, i*(i+1)//2 + j]`` holds ``L[i, j]`` for ``j <= i``; the diagonal is
    ``exp(raw)`` or ``softplus(raw)`` (``transform``), so it is always positive.
    """
    (raw,) = _arrays({"raw": raw})
    d = check_int(d, "d", low=1)
    if raw.ndim == 2 and raw.shape[1] != d * (d + 1) // 2:
        raise ValueError(
            f"raw must have shape (n, d(d+1)/2) = ({raw.shape[0]}, {d * (d + 1) // 2}) for d={d}; "
            f"got {raw.shape}"
        )
    return _kernels_of(raw).cholesky_unpack(raw, d, _transform(transform))


@on_input_device
def chol_gaussian_logpdf(x, mu, raw, transform: str = "exp") -> np.ndarray:
    """``log N(x_i; mu_i, L_i L_i^T)`` per row; x, mu ``(n, d)``, raw ``(n, d(d+1)/2)``."""
    x, mu, raw = _arrays({"x": x, "mu": mu, "raw": raw})
    return _kernels_of(x).chol_gaussian_logpdf(x, mu, raw, _transform(transform))


@on_input_device
def chol_gaussian_logpdf_backward(x, mu, raw, g=None, transform: str = "exp"):
    """Gradients ``(d/dx, d/dmu, d/draw)`` of ``sum(g * chol_gaussian_logpdf)``."""
    x, mu, raw, *g = _arrays(_with_g({"x": x, "mu": mu, "raw": raw}, g))
    return _kernels_of(x).chol_gaussian_logpdf_backward(x, mu, raw, _g(g, x), _transform(transform))


@on_input_device
def chol_gaussian_kl(mu_q, raw_q, mu_p=0.0, logvar_p=0.0, transform: str = "exp") -> np.ndarray:
    """``KL(N(mu_q, L L^T) || N(mu_p, diag(exp(logvar_p))))`` per row (prior may broadcast)."""
    mu_q, raw_q, mu_p, logvar_p = _arrays(
        {"mu_q": mu_q, "raw_q": raw_q, "mu_p": mu_p, "logvar_p": logvar_p}
    )
    mu_p, logvar_p = (
        _broadcast_rows(mu_p, "mu_p", mu_q.shape),
        _broadcast_rows(logvar_p, "logvar_p", mu_q.shape),
    )
    return _kernels_of(mu_q).chol_gaussian_kl(mu_q, raw_q, mu_p, logvar_p, _transform(transform))


@on_input_device
def chol_gaussian_kl_backward(mu_q, raw_q, mu_p=0.0, logvar_p=0.0, g=None, transform: str = "exp"):
    """Gradients ``(d/dmu_q, d/draw_q, d/dmu_p, d/dlogvar_p)`` of ``sum(g * KL)``."""
    mu_q, raw_q, mu_p, logvar_p, *g = _arrays(
        _with_g({"mu_q": mu_q, "raw_q": raw_q, "mu_p": mu_p, "logvar_p": logvar_p}, g)
    )
    mu_p, logvar_p = (
        _broadcast_rows(mu_p, "mu_p", mu_q.shape),
        _broadcast_rows(logvar_p, "logvar_p", mu_q.shape),
    )
    return _kernels_of(mu_q).chol_gaussian_kl_backward(
        mu_q, raw_q, mu_p, logvar_p, _g(g, mu_q), _transform(transform)
    )


@on_input_device
def chol_gaussian_sample(mu, raw, eps, transform: str = "exp") -> np.ndarray:
    """Reparameterised sample ``z = mu + L eps`` per row."""
    mu, raw, eps = _arrays({"mu": mu, "raw": raw, "eps": eps})
    return _kernels_of(mu).chol_gaussian_sample(mu, raw, eps, _transform(transform))


@on_input_device
def chol_gaussian_sample_backward(raw, eps, gz, transform: str = "exp"):
    """Gradients ``(d/dmu, d/draw)`` of ``sum(gz * z)``."""
    raw, eps, gz = _arrays({"raw": raw, "eps": eps, "gz": gz})
    return _kernels_of(raw).chol_gaussian_sample_backward(raw, eps, gz, _transform(transform))
