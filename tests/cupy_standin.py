"""A stand-in for CuPy on machines without a GPU, for the CPU tests of fastcrl's GPU code paths.

``FakeCuPy()`` is a ``cupy`` module (install it with ``monkeypatch.setitem(sys.modules, "cupy",
FakeCuPy())``) whose arrays are :class:`DevArray`: NumPy arrays in host memory, wrapped so that
they claim to live on CUDA device 0.  They carry what fastcrl reads from CuPy arrays --
``__cuda_array_interface__`` (with the real address, so ``fastcrl._cuda``'s argument checks see a
valid array), ``data.ptr``, ``device``, ``get()`` -- and the module has the parts of CuPy's API
fastcrl uses (``cuda.Device``, ``cuda.get_current_stream``, ``cuda.runtime``,
``ElementwiseKernel``, ``asnumpy``, the NumPy-like functions).

As with CuPy, host arrays are refused in device operations and device arrays cannot become host
arrays implicitly (``np.asarray``, a ``fastcrl._core`` argument: TypeError; ``get()`` copies);
reductions and scalar indexing give 0-d device arrays; buffers come 512-byte aligned (the kernels'
workspaces must be 256-byte aligned).  Fresh buffers are zero, and an ``ElementwiseKernel`` checks
its arguments but computes nothing: what a device that does nothing leaves.  Nothing is launched:
without a GPU the real ``fastcrl._cuda`` fails at its first CUDA runtime call, and tests that need
results call ``fastcrl._core`` on the wrapped host arrays (``host(a)``).
"""

from __future__ import annotations

import types

import numpy as np

_ALIGN = 512  # CuPy's memory pool hands out blocks aligned to 512 bytes


def _is_host_array(a) -> bool:
    """A NumPy array CuPy would refuse in a device operation (0-d arrays pass as scalars)."""
    return isinstance(a, np.ndarray) and a.ndim > 0


def _refuse_host(args, what: str) -> None:
    for a in args:
        items = a if isinstance(a, (list, tuple)) else (a,)
        for b in items:
            if _is_host_array(b):
                raise TypeError(f"{what}: unsupported type {type(b)} (a host array in a device op)")


def host(a):
    """DevArrays (also inside lists, tuples and dicts) as the NumPy arrays they hold."""
    if isinstance(a, DevArray):
        return a._a
    if isinstance(a, (list, tuple)):
        return type(a)(host(b) for b in a)
    if isinstance(a, dict):
        return {k: host(v) for k, v in a.items()}
    return a


def dev(a):
    """``a`` as a device array: NumPy arrays wrapped, NumPy scalars as 0-d device arrays."""
    if isinstance(a, DevArray):
        return a
    if isinstance(a, np.ndarray):
        return DevArray(a)
    if isinstance(a, np.generic):
        return DevArray(np.array(a))
    if isinstance(a, (list, tuple)):
        return type(a)(dev(b) for b in a)
    return a


def _aligned_empty(shape, dtype) -> DevArray:
    dtype = np.dtype(dtype)
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.zeros(nbytes + _ALIGN, dtype=np.uint8)  # zeros: what a kernel that never ran leaves
    start = (-raw.ctypes.data) % _ALIGN
    return DevArray(raw[start : start + nbytes].view(dtype).reshape(shape))


class Device:
    """``cupy.cuda.Device``: an id and a context (entering it changes nothing here)."""

    def __init__(self, device=None):
        self.id = int(getattr(device, "id", device or 0))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self) -> None:
        pass


class _Stream:
    ptr = 0  # the legacy default stream

    def synchronize(self) -> None:
        pass


class _Described:
    """The (host) memory a CUDA array interface describes, as NumPy's array interface."""

    def __init__(self, cai: dict):
        keys = ("shape", "typestr", "data", "strides")
        self.__array_interface__ = {"version": 3, **{k: cai.get(k) for k in keys}}


class _Memory:
    def __init__(self, ptr: int):
        self.ptr = ptr


def _ufunc_method(ufunc, reflected=False, inplace=False):
    if inplace:
        return lambda self, other: ufunc(self, other, out=(self,))
    if reflected:
        return lambda self, other: ufunc(other, self)
    return lambda self, other: ufunc(self, other)


class DevArray:
    """A NumPy array (``_a``, in host memory) that claims to live on CUDA device 0, as a CuPy array
    does.  Not an ndarray: NumPy and pybind11 cannot take it implicitly (``__array__`` raises, as
    CuPy's does); NumPy functions and ufuncs dispatch to it and return device arrays."""

    __slots__ = ("_a",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, a: np.ndarray):
        self._a = a

    # -- what fastcrl reads from CuPy arrays
    @property
    def __cuda_array_interface__(self):
        a = self._a
        return {
            "version": 3,
            "shape": a.shape,
            "typestr": a.dtype.str,
            "data": (a.ctypes.data, False),
            "strides": None if a.flags.c_contiguous else a.strides,
        }

    @property
    def data(self):  # CuPy: a MemoryPointer whose ptr is the device address
        return _Memory(self._a.ctypes.data)

    @property
    def device(self):
        return Device(0)

    def get(self, stream=None, order="C", out=None):
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
            "a NumPy array explicitly."
        )

    # -- NumPy's protocols: host arrays refused, results on the device
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out", ())
        _refuse_host((*inputs, *out), f"cupy.{ufunc.__name__}")
        result = getattr(ufunc, method)(*host(inputs), **host(kwargs))
        if out:  # the given arrays themselves (``a += b`` rebinds ``a`` to what this returns)
            return out[0] if len(out) == 1 else out
        return dev(result)

    def __array_function__(self, func, types, args, kwargs):
        _refuse_host((*args, *kwargs.values()), f"cupy.{func.__name__}")
        return dev(func(*host(args), **host(kwargs)))

    # -- attributes and methods of the array, results on the device
    def __getattr__(self, name):
        if name.startswith("__array") or name == "_a":  # no back door to the host array
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *args, **kwargs: dev(attr(*host(args), **host(kwargs)))
        return dev(attr) if isinstance(attr, np.ndarray) else attr

    def __getitem__(self, key):
        return dev(self._a[host(key)])

    def __setitem__(self, key, value):
        self._a[host(key)] = host(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (dev(x) for x in self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __format__(self, spec):
        return format(self._a[()] if self._a.ndim == 0 else self._a, spec)

    def __repr__(self):
        return repr(self._a).replace("array", "DevArray", 1)

    def __neg__(self):
        return np.negative(self)

    def __pos__(self):
        return np.positive(self)

    def __abs__(self):
        return np.absolute(self)

    def __invert__(self):
        return np.invert(self)

    __lt__ = _ufunc_method(np.less)
    __le__ = _ufunc_method(np.less_equal)
    __eq__ = _ufunc_method(np.equal)  # type: ignore[assignment]
    __ne__ = _ufunc_method(np.not_equal)  # type: ignore[assignment]
    __gt__ = _ufunc_method(np.greater)
    __ge__ = _ufunc_method(np.greater_equal)


for _name, _ufunc in [
    ("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
    ("floordiv", np.floor_divide), ("mod", np.remainder), ("pow", np.power),
    ("matmul", np.matmul), ("and", np.bitwise_and), ("or", np.bitwise_or),
    ("xor", np.bitwise_xor), ("lshift", np.left_shift), ("rshift", np.right_shift),
]:  # fmt: skip
    setattr(DevArray, f"__{_name}__", _ufunc_method(_ufunc))
    setattr(DevArray, f"__r{_name}__", _ufunc_method(_ufunc, reflected=True))
    setattr(DevArray, f"__i{_name}__", _ufunc_method(_ufunc, inplace=True))


class ElementwiseKernel:
    """``cupy.ElementwiseKernel``: a call checks its arguments against the declared parameters
    (count; device arrays, never host ones; one dtype per type letter) and computes nothing."""

    def __init__(self, in_params, out_params, operation, name="kernel", **kwargs):
        for text in (in_params, out_params, operation, name):
            if not isinstance(text, str):
                raise TypeError("ElementwiseKernel takes strings")
        self.params = [p.split() for p in f"{in_params}, {out_params}".split(",")]
        self.n_out = len(out_params.split(","))
        self.name = name

    def __call__(self, *args):
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments; got {len(args)}")
        _refuse_host(args, self.name)
        dtypes: dict[str, np.dtype] = {}
        for (letter, pname), a in zip(self.params, args, strict=True):
            if isinstance(a, DevArray) and dtypes.setdefault(letter, a.dtype) != a.dtype:
                raise TypeError(f"{self.name}: {pname} is {a.dtype}, {letter} is {dtypes[letter]}")
        outs = args[-self.n_out :]
        if not all(isinstance(o, DevArray) for o in outs):
            raise TypeError(f"{self.name}: outputs must be device arrays")
        return outs[0] if len(outs) == 1 else outs


class FakeCuPy(types.ModuleType):
    """``cupy``: NumPy's functions on DevArrays, refusing host arrays as CuPy does."""

    ndarray = DevArray
    ElementwiseKernel = ElementwiseKernel

    def __init__(self) -> None:
        super().__init__("cupy")
        self.cuda = types.SimpleNamespace(
            Device=Device,
            get_current_stream=lambda device=None: _Stream(),
            runtime=types.SimpleNamespace(
                getDevice=lambda: 0,
                pointerGetAttributes=lambda ptr: types.SimpleNamespace(device=0),
            ),
        )

    def __getattr__(self, name):
        attr = getattr(np, name)
        if not callable(attr) or isinstance(attr, type):
            return attr  # dtypes, constants, submodules (cupy.linalg dispatches on DevArrays)

        def call(*args, **kwargs):
            _refuse_host((*args, *kwargs.values()), f"cupy.{name}")
            return dev(attr(*host(args), **host(kwargs)))

        return call

    # -- allocation: fresh, aligned buffers, as from CuPy's memory pool
    @staticmethod
    def empty(shape, dtype=float, order="C"):
        return _aligned_empty(shape, dtype)

    def zeros(self, shape, dtype=float, order="C"):
        out = self.empty(shape, dtype)
        out[...] = 0
        return out

    def ones(self, shape, dtype=float, order="C"):
        out = self.empty(shape, dtype)
        out[...] = 1
        return out

    def full(self, shape, fill_value, dtype=None, order="C"):
        dtype = np.result_type(fill_value) if dtype is None else dtype
        out = self.empty(shape, dtype)
        out[...] = fill_value
        return out

    def empty_like(self, a, dtype=None, shape=None):
        return self.empty(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)

    def zeros_like(self, a, dtype=None, shape=None):
        return self.zeros(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)

    def ones_like(self, a, dtype=None, shape=None):
        return self.ones(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)

    # -- transfers
    def array(self, obj, dtype=None, copy=True, order="K", ndmin=0):
        if isinstance(obj, DevArray) and not copy and dtype in (None, obj.dtype):
            return obj
        a = np.array(host(obj), dtype=dtype, order=order, ndmin=ndmin)  # a copy, as a transfer
        out = self.empty(a.shape, a.dtype)
        out[...] = a
        return out

    def asarray(self, a, dtype=None, order=None):
        """A device array passes through (unless converted), another library's CUDA array is
        wrapped in place; anything else is copied over."""
        if not isinstance(a, DevArray) and hasattr(a, "__cuda_array_interface__"):
            a = DevArray(np.asarray(_Described(a.__cuda_array_interface__)))
        if isinstance(a, DevArray) and (dtype is None or np.dtype(dtype) == a.dtype):
            return a
        return self.array(a, dtype=dtype)

    def ascontiguousarray(self, a, dtype=None):
        if not isinstance(a, DevArray):
            raise TypeError(f"ascontiguousarray takes a cupy.ndarray; got {type(a)}")
        if a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
            return a
        return self.array(a, dtype=dtype)

    @staticmethod
    def asnumpy(a, stream=None, order="C", out=None):
        return a.get(out=out) if isinstance(a, DevArray) else np.asarray(a)
