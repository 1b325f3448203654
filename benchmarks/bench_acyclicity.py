"""Acyclicity constraints: C++ kernel vs the NumPy/SciPy reference, with one d x d dgemm as the unit.

Each group ``<function> d=<d>`` has the rows ``reference``, ``cpp`` (and ``cpp-pade`` for the
exponential) and ``dgemm`` (NumPy ``A @ B`` for one d x d product, same BLAS, same run), so both
ratios come from one run.  W is dense with N(0, 0.5/d) entries: ||W∘W||_1 and rho(W∘W) are about 0.5
at every d (inside the log-det domain for s = 1), a typical scale during optimisation.

Run:  python -m pytest benchmarks/bench_acyclicity.py --benchmark-only --benchmark-json=acyc.json
      python benchmarks/ratios.py acyc.json                    # reference / impl
      python benchmarks/ratios.py acyc.json --baseline dgemm   # dgemm / impl (invert: impl in dgemms)
"""

import numpy as np
import pytest

from fastcrl import acyclicity
from fastcrl.reference import acyclicity as reference

SIZES = [10, 100, 1000]

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
def W(request):
    d = request.param
    return np.random.default_rng(d).normal(0.0, np.sqrt(0.5 / d), size=(d, d))


@pytest.mark.parametrize(
    "fn, impl", [(fn, impl) for fn, impls in IMPLS.items() for impl in [*impls, "dgemm"]]
)
def test_acyclicity(benchmark, W, fn, impl):
    d = W.shape[0]
    benchmark.group = f"{fn} d={d}"
    if impl == "dgemm":
        B = W * W
        benchmark.pedantic(np.matmul, args=(B, B), rounds=_rounds(d), warmup_rounds=1)
        return
    h, grad = benchmark.pedantic(IMPLS[fn][impl], args=(W,), rounds=_rounds(d), warmup_rounds=1)
    h_ref, _ = reference.__dict__[f"{fn}_constraint"](W)
    assert abs(h - h_ref) <= 1e-8 * abs(h_ref)
