"""Sufficient statistics: C++ kernel vs the NumPy reference, n=10,000, d in {10, 100, 1000}.

Run:  python -m pytest benchmarks/bench_stats.py --benchmark-json=stats.json
      python benchmarks/ratios.py stats.json
"""

import numpy as np
import pytest

import fastcrl
from fastcrl import reference

N = 10_000


@pytest.fixture(scope="module", params=[10, 100, 1000], ids=lambda d: f"d={d}")
def data(request):
    d = request.param
    X = np.random.default_rng(d).normal(size=(N, d))
    X += np.random.default_rng(d + 1).normal(0, 10, size=d)
    return X


@pytest.mark.parametrize("impl", ["reference", "cpp"])
def test_covariance(benchmark, data, impl):
    benchmark.group = f"covariance n={N} d={data.shape[1]}"
    fn = reference.covariance if impl == "reference" else fastcrl.covariance
    rounds = 5 if data.shape[1] >= 1000 else 20
    cov = benchmark.pedantic(fn, args=(data,), rounds=rounds, warmup_rounds=1)
    np.testing.assert_allclose(cov, np.cov(data, rowvar=False), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("impl", ["reference", "cpp"])
def test_correlation(benchmark, data, impl):
    benchmark.group = f"correlation n={N} d={data.shape[1]}"
    fn = reference.correlation if impl == "reference" else fastcrl.correlation
    rounds = 5 if data.shape[1] >= 1000 else 20
    benchmark.pedantic(fn, args=(data,), rounds=rounds, warmup_rounds=1)
