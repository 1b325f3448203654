"""Local-score throughput: GaussianBIC, BGe and BDeu at parent-set sizes 0, 1, 2, 4, 8.

Each group scores one batch of B distinct (node, parent set) pairs with |P| = k, n = 1000, d = 20
(BDeu: 3 levels per column).  Implementations:

  reference        the NumPy reference (fastcrl.reference.scores), one call per pair
  single-uncached  score.local_score per pair, cache cleared before every round
  batch-uncached   one score.local_scores call (OpenMP over the batch), cache cleared first
  array-uncached   the same call with NumPy arrays (nodes, (B, k) parent sets), cache cleared first
  single-cached    score.local_score per pair, every pair already cached
  batch-cached     one score.local_scores call, every pair already cached

Run:  python -m pytest benchmarks/bench_scores.py --threads 1 --benchmark-json=scores.json
      python benchmarks/ratios.py scores.json
or, for a table of scores per second:  python benchmarks/bench_scores.py --threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pytest
from fastcrl import scores
from fastcrl.reference import scores as ref

N, D, LEVELS, BATCH = 1000, 20, 3, 256
SIZES = [0, 1, 2, 4, 8]
KINDS = ["GaussianBIC", "BGe", "BDeu"]
IMPLS = [
    "reference",
    "single-uncached",
    "batch-uncached",
    "array-uncached",
    "single-cached",
    "batch-cached",
]


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    for j in range(1, D):
        X[:, j] += X[:, :j] @ (rng.normal(scale=0.4, size=j) * (rng.random(j) < 0.2))
    Z = rng.integers(0, LEVELS, size=(N, D))
    for j in range(1, D):
        copy = rng.random(N) < 0.5
        Z[copy, j] = Z[copy, int(rng.integers(j))]
    return X, Z


def make_pairs(k: int, seed: int = 1):
    """BATCH distinct (node, sorted parents) pairs with |parents| = k (fewer if k = 0)."""
    rng = np.random.default_rng(seed + k)
    seen, pairs = set(), []
    while len(pairs) < (D if k == 0 else BATCH):
        j = int(rng.integers(D))
        P = tuple(
            sorted(rng.choice([i for i in range(D) if i != j], size=k, replace=False).tolist())
        )
        if (j, P) not in seen:
            seen.add((j, P))
            pairs.append((j, list(P)))
    return pairs


def make_score(kind: str, X, Z):
    return {
        "GaussianBIC": lambda: scores.GaussianBIC(X),
        "BGe": lambda: scores.BGe(X),
        "BDeu": lambda: scores.BDeu(Z),
    }[kind]()


def reference_fn(kind: str, X, Z):
    if kind == "GaussianBIC":
        return lambda j, P: ref.gaussian_bic(X, j, P)
    if kind == "BGe":
        return lambda j, P: ref.bge(X, j, P)
    card = Z.max(axis=0) + 1  # every code occurs: the same levels the kernel infers, found once
    return lambda j, P: ref.bdeu(Z, j, P, 1.0, card)


def runner(kind: str, impl: str, X, Z, pairs):
    """(setup, run) for one implementation; setup() prepares the cache state untimed."""
    nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
    if impl == "reference":
        f = reference_fn(kind, X, Z)
        return (lambda: None), (lambda: [f(j, P) for j, P in pairs])
    s = make_score(kind, X, Z)
    single = lambda: [s.local_score(j, P) for j, P in pairs]  # noqa: E731
    batch = lambda: s.local_scores(nodes, sets)  # noqa: E731
    node_array = np.asarray(nodes)
    set_array = np.asarray(sets, dtype=np.int64).reshape(len(sets), -1)
    array = lambda: s.local_scores(node_array, set_array)  # noqa: E731
    run = single if impl.startswith("single") else array if impl.startswith("array") else batch

    def setup() -> None:  # pytest-benchmark takes a non-None return as (args, kwargs)
        if impl.endswith("uncached"):
            s.clear_cache()
        else:
            batch()

    return setup, run


# ------------------------------------------------------------------------------- pytest-benchmark


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.mark.parametrize("k", SIZES, ids=lambda k: f"k{k}")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", IMPLS)
def test_local_scores(benchmark, data, kind, k, impl):
    X, Z = data
    pairs = make_pairs(k)
    benchmark.group = f"{kind} |P|={k} batch={len(pairs)}"
    setup, run = runner(kind, impl, X, Z, pairs)
    rounds = 3 if impl == "reference" else 10
    benchmark.pedantic(run, setup=setup, rounds=rounds, warmup_rounds=0, iterations=1)


def test_batch_equals_reference(data):
    X, Z = data
    for kind in KINDS:
        pairs = make_pairs(4)[:20]
        s, f = make_score(kind, X, Z), reference_fn(kind, X, Z)
        got = s.local_scores([j for j, _ in pairs], [P for _, P in pairs])
        np.testing.assert_allclose(got, [f(j, P) for j, P in pairs], rtol=1e-10)


# --------------------------------------------------------------------------------------- table


def _best(setup, run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        setup()
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description="local-score throughput table (scores per second)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import contextlib

    import fastcrl

    limit = contextlib.nullcontext()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=args.threads, user_api="blas")
    with limit:
        if args.threads is not None:
            fastcrl.set_num_threads(args.threads)
        X, Z = make_data()
        print(
            f"n={N}, d={D} (BDeu: {LEVELS} levels), batch={BATCH} distinct pairs per row "
            f"(|P|=0: {D}); fastcrl threads={fastcrl.get_num_threads()}; best of {args.repeats}."
        )
        print("Scores per second; the last column is batch-uncached C++ / NumPy reference.\n")
        print("| score | \\|P\\| | " + " | ".join(IMPLS) + " | C++/ref |")
        print("|---" * (len(IMPLS) + 3) + "|")
        for kind in KINDS:
            for k in SIZES:
                pairs = make_pairs(k)
                rates = {}
                for impl in IMPLS:
                    setup, run = runner(kind, impl, X, Z, pairs)
                    reps = max(1, args.repeats // 2) if impl == "reference" else args.repeats
                    rates[impl] = len(pairs) / _best(setup, run, reps)
                cells = " | ".join(f"{rates[i]:,.0f}" for i in IMPLS)
                ratio = rates["batch-uncached"] / rates["reference"]
                print(f"| {kind} | {k} | {cells} | {ratio:,.0f}x |", flush=True)


if __name__ == "__main__":
    main()
