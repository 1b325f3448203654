"""Input checks shared by every public function.

Each check names the argument, what was expected and what it got, so a user
can fix the call without reading our source.  Checks run on the host for NumPy
input and on the device (with one small reduction copied back) for CuPy input.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "FLOAT_DTYPES",
    "check_data",
    "check_new_data",
    "check_square_matrix",
    "check_matrix",
    "check_random_state",
    "check_option",
    "check_positive_schedule",
    "check_int",
    "check_float",
    "node_names_from",
]

FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _is_dataframe(obj: Any) -> bool:
    return (
        type(obj).__name__ == "DataFrame" and hasattr(obj, "columns") and hasattr(obj, "to_numpy")
    )


def _xp_of(arr: Any):
    """The array module (numpy or cupy) that owns ``arr``."""
    if hasattr(arr, "__cuda_array_interface__"):
        import cupy

        return cupy
    return np


def node_names_from(X: Any, n_features: int, names: Sequence[str] | None = None) -> list[str]:
    """Node names: explicit ``names``, else DataFrame columns, else ``X0 .. X{d-1}``."""
    if names is None and _is_dataframe(X):
        names = [str(c) for c in X.columns]
    if names is None:
        return [f"X{i}" for i in range(n_features)]
    names = [str(n) for n in names]
    if len(names) != n_features:
        raise ValueError(f"names must have one entry per column ({n_features}); got {len(names)}")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"node names must be unique; duplicated: {dup}")
    return names


def frame_values(df: Any) -> np.ndarray:
    """A DataFrame's values as a NumPy array. pandas' nullable columns (``Int64``, ``Float64``,
    ``boolean``: their ``to_numpy()`` is an object array) come as float64 with NaN where a value
    is missing, so that validation names the missing values instead of the dtype."""
    nullable = [t for t in df.dtypes if not isinstance(t, np.dtype)]
    if nullable and all(getattr(t, "kind", "O") in "biuf" for t in nullable):
        return df.to_numpy(dtype=np.float64, na_value=np.nan)
    return df.to_numpy()


def _as_float_array(X: Any, name: str, dtype: Any):
    """Convert to a float array of an accepted dtype, explicitly and visibly.

    Integer and boolean input is converted to float64 (a lossless, documented
    conversion); complex, object and string input is rejected.
    """
    if _is_dataframe(X):
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        bad = [
            c for c, t in zip(X.columns, X.dtypes) if not (is_numeric_dtype(t) or is_bool_dtype(t))
        ]
        if bad:
            raise TypeError(
                f"{name} has non-numeric columns {bad[:5]}; encode them as numbers first"
            )
        X = frame_values(X)
    xp = _xp_of(X)
    if xp is np:
        X = np.asarray(X)
    kind = X.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real-valued; got complex dtype {X.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must be numeric; got dtype {X.dtype}")
    if dtype is None:
        target = X.dtype if X.dtype in FLOAT_DTYPES else np.dtype(np.float64)
    else:
        target = np.dtype(dtype)
        if target not in FLOAT_DTYPES:
            raise ValueError(f"dtype must be float64 or float32; got {target}")
    return xp.ascontiguousarray(X, dtype=target)


def check_data(
    X: Any,
    name: str = "X",
    *,
    dtype: Any = None,
    min_samples: int = 2,
    min_features: int = 1,
    allow_constant: bool = False,
    allow_nan: bool = False,
    moment_power: int | None = None,
):
    """Validate a data matrix of shape ``(n_samples, n_features)``.

    Returns a C-contiguous float64/float32 array on the input's device
    (NumPy stays NumPy, CuPy stays CuPy).  Float32 input stays float32 unless
    ``dtype`` says otherwise; integer and boolean input becomes float64.
    ``moment_power``: for estimators, the highest power of the data's spread their arithmetic
    forms (2 for sums of squares over the rows; 4 for the Gaussian scores, which multiply
    covariances); a column whose spread makes that power over- or underflow the dtype is refused
    with a request to rescale, instead of a fit on inf or 0. None (default): no such check
    (transforms, metrics, the statistics functions, which check their results instead).
    """
    X = _as_float_array(X, name, dtype)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {tuple(X.shape)}")
    n, d = X.shape
    if n < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples (rows); got {n}")
    if d < min_features:
        raise ValueError(f"{name} needs at least {min_features} features (columns); got {d}")
    xp = _xp_of(X)
    # NaN and inf propagate through a sum, so one allocation-free pass clears finite data; only a
    # non-finite sum (bad values, or an overflow of huge ones) pays for the exact per-column check.
    if not allow_nan and not bool(xp.isfinite(X.sum())):
        finite = xp.isfinite(X)
        if not bool(finite.all()):
            bad_cols = np.flatnonzero(~np.asarray(_to_host(finite.all(axis=0))))
            raise ValueError(f"{name} contains NaN or inf in columns {bad_cols[:10].tolist()}")
    if n > 0 and (not allow_constant or moment_power):
        high, low = np.asarray(_to_host(xp.stack((X.max(axis=0), X.min(axis=0)))))  # one transfer
        spread = high - low
        if not allow_constant:
            const = np.flatnonzero(spread == 0)
            if const.size:
                raise ValueError(
                    f"{name} has constant columns {const[:10].tolist()}; remove them (they carry no "
                    "information and make scale-based scores undefined)"
                )
        if moment_power:
            _check_spread(spread, n, X.dtype, name, moment_power)
    return X


def _check_spread(spread: np.ndarray, n: int, dtype: Any, name: str, power: int) -> None:
    """Sums over n rows of `power`-th powers of the centred data must neither overflow nor
    underflow the dtype (a covariance of inf, or a variance of 0 for a column that is not
    constant): a spread beyond (max / 4n)^(1/power), or nonzero below tiny^(1/power), needs
    rescaling first."""
    info = np.finfo(dtype)
    for bad, what in (
        (spread > (info.max / (4.0 * n)) ** (1.0 / power), "large: its moments overflow"),
        ((spread > 0) & (spread < info.tiny ** (1.0 / power)), "small: its moments underflow"),
    ):
        cols = np.flatnonzero(bad)
        if cols.size:
            j = int(cols[0])
            raise ValueError(
                f"{name} column {j} (values spread over {spread[j]:.3g}) is too {what} "
                f"{info.dtype}; rescale the data (e.g. divide each column by its standard deviation)"
            )


def check_symmetric(M: Any, name: str) -> None:
    """A matrix ``(d, d)`` or a stack ``(B, d, d)`` symmetric up to rounding (``|M - M^T|`` within
    max(1e-8, 1000 eps) of ``max |M|``, per matrix, for the dtype's eps); one host read."""
    xp = _xp_of(M)
    axes = (-2, -1)
    both = xp.stack((xp.abs(M - xp.swapaxes(M, -1, -2)).max(axis=axes), xp.abs(M).max(axis=axes)))
    asym, scale = (np.atleast_1d(v) for v in np.asarray(_to_host(both)))
    info = np.finfo(M.dtype)
    bad = np.flatnonzero(asym > max(1e-8, 1000 * info.eps) * np.maximum(scale, info.tiny))
    if bad.size:
        where = f"{name}[{int(bad[0])}]" if M.ndim == 3 else name
        raise ValueError(f"{where} is not symmetric (max |S - S^T| = {asym[bad[0]]:.3g})")


def check_moments_finite(M: Any, name: str = "X") -> None:
    """A second-moment matrix (covariance, Gram) computed from ``name`` must be finite: an
    overflow names the first column whose variance overflowed (one host read of the diagonal)."""
    diag = np.asarray(_to_host(M.diagonal()))
    bad = np.flatnonzero(~np.isfinite(diag))
    if bad.size:
        raise ValueError(
            f"{name} column {int(bad[0])} is too large in magnitude: its second moments overflow "
            f"{M.dtype}; rescale the data (e.g. divide each column by its standard deviation)"
        )


def check_new_data(X: Any, n_features_in: int, name: str = "X") -> np.ndarray:
    """Data passed to ``transform``/``predict`` after ``fit``: finite float64 on the host, with the
    number of columns seen in ``fit`` (a single row is fine; constant columns are fine)."""
    X = np.asarray(
        _to_host(check_data(X, name, dtype=np.float64, min_samples=1, allow_constant=True))
    )
    if X.shape[1] != n_features_in:
        raise ValueError(
            f"{name} must have {n_features_in} features (columns), as in fit; got {X.shape[1]}"
        )
    return X


def check_positive_schedule(value: Any, name: str, length: int) -> list[float]:
    """A positive number or a non-empty sequence of them, cut or padded (repeating the last value)
    to ``length`` entries, e.g. DAGMA's per-iteration ``s``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        values = [value]
    elif isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a positive number or a sequence of them; got str {value!r}")
    else:
        try:
            values = list(value)
        except TypeError:
            raise TypeError(
                f"{name} must be a positive number or a sequence of them; got {type(value).__name__}"
            ) from None
        if not values:
            raise ValueError(f"{name} must not be empty")
    values = [check_float(v, name, low=0.0, low_inclusive=False) for v in values]
    return values[:length] + [values[-1]] * max(0, length - len(values))


def _to_host(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "__cuda_array_interface__") else np.asarray(a)


def check_square_matrix(W: Any, name: str = "W", *, dtype: Any = None, batched: bool = False):
    """Validate a finite square matrix ``(d, d)``, or a stack ``(B, d, d)`` when ``batched``."""
    W = _as_float_array(W, name, dtype)
    if batched:
        if W.ndim != 3 or W.shape[1] != W.shape[2]:
            raise ValueError(
                f"{name} must be a stack of square matrices (B, d, d); got shape {tuple(W.shape)}"
            )
    elif W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"{name} must be a square matrix (d, d); got shape {tuple(W.shape)}")
    if W.shape[-1] < 1:
        raise ValueError(f"{name} must have at least one node; got shape {tuple(W.shape)}")
    xp = _xp_of(W)
    if not bool(xp.isfinite(W).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return W


def check_matrix(M: Any, name: str = "M", *, dtype: Any = None):
    """Validate a finite 2-D matrix of any shape ``(m, k)`` with at least one entry.

    For operator-like matrices (mixing, unmixing) where "samples" and "features"
    would be the wrong words and constant columns are legitimate.
    """
    M = _as_float_array(M, name, dtype)
    if M.ndim != 2 or M.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D matrix; got shape {tuple(M.shape)}")
    xp = _xp_of(M)
    if not bool(xp.isfinite(M).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return M


def check_random_state(random_state: Any) -> np.random.Generator:
    """A ``numpy.random.Generator`` from None, an int seed, a SeedSequence or a Generator.

    Never touches NumPy's global random state.
    """
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.SeedSequence)):
        if isinstance(random_state, numbers.Integral) and int(random_state) < 0:
            raise ValueError(f"random_state must be a non-negative int; got {random_state}")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        raise TypeError(
            "random_state must be an int or numpy.random.Generator; legacy RandomState is not accepted"
        )
    raise TypeError(
        f"random_state must be None, an int or a numpy.random.Generator; got {type(random_state).__name__}"
    )


def check_option(value: Any, name: str, allowed: Iterable[str]) -> str:
    """Check a string option against its allowed values (case-insensitive)."""
    allowed = list(allowed)
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be a string, one of {allowed}; got {type(value).__name__} {value!r}"
        )
    v = value.lower()
    if v not in allowed:
        raise ValueError(f"unknown {name} {value!r}; expected one of {allowed}")
    return v


def _short_repr(value: Any) -> str:
    """The type and a short repr of a wrong argument (an array: its shape, not its values)."""
    shape = getattr(value, "shape", None)
    if shape is not None and getattr(value, "ndim", 0) > 0:
        return f"{type(value).__name__} of shape {tuple(shape)}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 80 else text[:77] + '...'}"


def check_verbose(value: Any) -> int:
    """``verbose``: True/False or a level >= 0 (as an int; True is 1)."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if not isinstance(value, numbers.Integral) or value < 0:
        raise TypeError(
            f"verbose must be True, False or an integer level >= 0; got {_short_repr(value)}"
        )
    return int(value)


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in ``[low, high]`` (bounds optional); bool is rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {_short_repr(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}; got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}; got {value}")
    return value


def check_float(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """A finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {_short_repr(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {op} {low}; got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {op} {high}; got {value}")
    return value


_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
}


def parse_memory(value: Any, name: str = "memory_limit") -> int | None:
    """Bytes from a count of bytes or a string such as ``"8GB"``, ``"512 MiB"``, ``"1.5g"``.

    Decimal units (``KB``, ``MB``, ``GB``, ``TB``; also ``K``, ``M``, ``G``, ``T``) are powers of
    1000, binary units (``KiB``, ``MiB``, ``GiB``, ``TiB``) powers of 1024.  ``None``: no limit.

    Examples
    --------
    >>> parse_memory("8GB"), parse_memory("1.5 GiB"), parse_memory(4096)
    (8000000000, 1610612736, 4096)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number of bytes or a string like '8GB'; got bool")
    if isinstance(value, (int, np.integer, float, np.floating)):
        number, unit = float(value), ""
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", value)
        if match is None:
            raise ValueError(
                f"{name} must look like '8GB', '512MiB' or a number of bytes; got {value!r}"
            )
        number, unit = float(match.group(1)), match.group(2).lower()
        if unit not in _UNITS:
            raise ValueError(
                f"unknown unit {match.group(2)!r} in {name}={value!r}; "
                "use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            )
    else:
        raise TypeError(
            f"{name} must be a number of bytes or a string like '8GB'; got {type(value).__name__}"
        )
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive amount of memory; got {value!r}")
    return int(number * _UNITS[unit])


def format_bytes(n: float) -> str:
    """``n`` bytes as a short decimal string (``"1.07 GB"``)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def _label_kind(kind: type) -> str:
    if issubclass(kind, (bool, np.bool_)):
        return "bool"
    if issubclass(kind, (int, float, np.integer, np.floating)):
        return "number"
    if issubclass(kind, (str, np.str_)):
        return "string"
    return kind.__name__


def check_labels(labels: Any, name: str) -> np.ndarray:
    """``labels`` (environment / segment labels) as an array NumPy can sort and compare.

    Ints, floats, bools or strings, all of one kind.  An object array or a list holding one kind
    (e.g. a pandas column of strings) is converted to that kind; a mix such as ``[0, "a"]`` (which
    NumPy cannot sort, or would silently turn into the strings ``"0"``, ``"a"``) and other Python
    objects are a TypeError naming ``name``.  Shape checks are left to the caller.
    """
    if isinstance(labels, (list, tuple)):
        arr = np.empty(len(labels), dtype=object)
        try:
            arr[:] = labels
        except ValueError:  # nested sequences: an n-d array, checked below
            arr = np.asarray(labels, dtype=object)
    else:
        arr = np.asarray(labels)
    if arr.dtype.kind in "cV":
        raise TypeError(f"{name} must be an array of ints or strings; got dtype {arr.dtype}")
    if arr.dtype.kind != "O":
        return arr
    values = arr.ravel().tolist()
    kinds: dict[str, Any] = {}  # kind -> an example; the distinct types found at C speed
    for kind in dict.fromkeys(map(type, values)):  # in order of first appearance
        kinds.setdefault(_label_kind(kind), next(v for v in values if type(v) is kind))
    odd = [k for k in kinds if k not in ("bool", "number", "string")]
    if odd:
        raise TypeError(
            f"{name} must be an array of ints or strings, not Python objects "
            f"(found {odd[0]} {kinds[odd[0]]!r})"
        )
    if len(kinds) > 1:
        (k1, v1), (k2, v2) = list(kinds.items())[:2]
        raise TypeError(
            f"{name} must be an array of ints or strings of one kind, not a mix of {k1}s and "
            f"{k2}s (e.g. {v1!r} and {v2!r})"
        )
    if not values:
        return arr
    return np.asarray(values).reshape(arr.shape)
