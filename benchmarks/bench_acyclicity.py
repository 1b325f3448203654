"""Acyclicity constraints: C++ kernel vs the NumPy/SciPy reference, one d x d dgemm as the unit.

Each group ``<function> <scale> d=<d>`` has the rows ``reference``, ``cpp`` (and ``cpp-pade`` for
the exponential) and ``dgemm``: one d x d ``cblas_dgemm`` from the OpenBLAS the kernels use (called
through ctypes; NumPy's ``@`` runs on NumPy's own OpenBLAS, whose idle threads then compete with
ours), so both ratios come from one run.  W is dense Gaussian; "moderate" scales it to
||W∘W||_1 = 0.5 (then rho(W∘W) ~ 0.5, inside the log-det domain for s = 1; typical during
optimisation), "large" to ||W∘W||_1 = 30 (exponential and polynomial only: higher degrees and more squarings).

Run:  python -m pytest benchmarks/bench_acyclicity.py --benchmark-only --benchmark-json=acyc.json
      python benchmarks/ratios.py acyc.json --stat min                    # reference / impl
      python benchmarks/ratios.py acyc.json --stat min --baseline dgemm   # dgemm / impl
(min is the robust statistic on a shared machine; OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 gives
single-core figures, where both ratios are least disturbed by other load.)
"""

import ctypes
import importlib.util
import os

import numpy as np
import pytest
from fastcrl import acyclicity
from fastcrl.reference import acyclicity as reference

SIZES = [10, 100, 1000]
NORMS = {"moderate": 0.5, "large": 30.0}

IMPLS = {
    "expm": {
        "reference": reference.expm_constraint,
        "cpp": acyclicity.expm_constraint,
        "cpp-pade": lambda W: acyclicity.expm_constraint(W, method="pade"),
    },
    # The reference's eigenvalue-based domain check would dominate its time; DAGMA's code has none.
    "logdet": {
        "reference": lambda W: reference.logdet_constraint(W, check_domain=False),
        "cpp": acyclicity.logdet_constraint,
    },
    "poly": {"reference": reference.poly_constraint, "cpp": acyclicity.poly_constraint},
}


def _our_dgemm():
    """``C = A @ B`` by scipy_cblas_dgemm of the already loaded scipy-openblas32 library."""
    spec = importlib.util.find_spec("scipy_openblas32")
    lib_dir = os.path.join(list(spec.submodule_search_locations)[0], "lib")
    name = next(n for n in sorted(os.listdir(lib_dir)) if n.startswith("libscipy_openblas"))
    lib = ctypes.CDLL(os.path.join(lib_dir, name), mode=os.RTLD_LOCAL | os.RTLD_NOLOAD)
    fn = lib.scipy_cblas_dgemm
    i, p, f = ctypes.c_int, ctypes.c_void_p, ctypes.c_double
    fn.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]
    row_major, no_trans = 101, 111

    def dgemm(A, B, C):
        d = A.shape[0]
        fn(
            row_major,
            no_trans,
            no_trans,
            d,
            d,
            d,
            1.0,
            A.ctypes.data,
            d,
            B.ctypes.data,
            d,
            0.0,
            C.ctypes.data,
            d,
        )

    return dgemm


DGEMM = _our_dgemm()


def _rounds(d: int) -> int:
    return {10: 200, 100: 30}.get(d, 5)


@pytest.fixture(scope="module", params=SIZES, ids=lambda d: f"d={d}")
def d(request):
    return request.param


def _W(d: int, scale: str) -> np.ndarray:
    W = np.random.default_rng(d).normal(size=(d, d))
    return W * np.sqrt(NORMS[scale] / (W * W).sum(axis=0).max())


CASES = [
    (fn, scale, impl)
    for fn, impls in IMPLS.items()
    for scale in NORMS
    if not (fn == "logdet" and scale == "large")
    for impl in [*impls, "dgemm"]
]


@pytest.mark.parametrize("fn, scale, impl", CASES)
def test_acyclicity(benchmark, d, fn, scale, impl):
    W = _W(d, scale)
    benchmark.group = f"{fn} {scale} d={d}"
    if impl == "dgemm":
        B = W * W
        C = np.empty_like(B)
        benchmark.pedantic(DGEMM, args=(B, B, C), rounds=_rounds(d), warmup_rounds=1)
        np.testing.assert_allclose(C, B @ B, rtol=1e-12)
        return
    h, grad = benchmark.pedantic(IMPLS[fn][impl], args=(W,), rounds=_rounds(d), warmup_rounds=1)
    h_ref, _ = IMPLS[fn]["reference"](W)
    assert abs(h - h_ref) <= 1e-9 * abs(h_ref)
