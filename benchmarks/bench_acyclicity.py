"""Acyclicity constraints: C++ kernel vs the NumPy/SciPy reference, one d x d dgemm as the unit.

Each group ``<function> <scale> d=<d>`` has the rows ``reference``, ``cpp`` (and ``cpp-pade`` for
the exponential) and ``dgemm`` (NumPy ``A @ B`` for one d x d product, same BLAS, same run), so both
ratios come from one run.  W is dense Gaussian; "moderate" scales it to ||W∘W||_1 = 0.5 (then
rho(W∘W) ~ 0.5, inside the log-det domain for s = 1; typical during optimisation), "large" to
||W∘W||_1 = 30 (exponential and polynomial only: more squarings / the addition chain).

Run:  python -m pytest benchmarks/bench_acyclicity.py --benchmark-only --benchmark-json=acyc.json
      python benchmarks/ratios.py acyc.json                    # reference / impl
      python benchmarks/ratios.py acyc.json --baseline dgemm   # dgemm / impl (1 / dgemm-times)
"""

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


def _rounds(d: int) -> int:
    return {10: 200, 100: 30}.get(d, 3)


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
        benchmark.pedantic(np.matmul, args=(B, B), rounds=_rounds(d), warmup_rounds=1)
        return
    h, grad = benchmark.pedantic(IMPLS[fn][impl], args=(W,), rounds=_rounds(d), warmup_rounds=1)
    h_ref, _ = IMPLS[fn]["reference"](W)
    assert abs(h - h_ref) <= 1e-9 * abs(h_ref)
