"""ExactSearch: time by d, memory estimate vs peak RSS, local-score paths, C++ vs pure Python.

A script (not a pytest-benchmark suite: one exact search at d = 20 is seconds, at d = 25 a minute).
Each size runs in a fresh subprocess so that its peak RSS (``resource.getrusage``) belongs to that
search alone; the table shows the RSS growth during ``fit`` next to ``ExactSearch.estimate_memory``.
Data: ``simulate_dataset(d, n=1000, ER-2, linear Gaussian, seed 0)``, Gaussian BIC.

Run:  python benchmarks/bench_exact.py                  # all sections
      python benchmarks/bench_exact.py --sizes 10 15 18 20 --limited 22:4 25:3 --threads 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from functools import partial

CHILD = r"""
import json, resource, sys, time
import fastcrl
d, threads = int(sys.argv[1]), int(sys.argv[3])
k = None if sys.argv[2] == "-" else int(sys.argv[2])
fastcrl.set_num_threads(threads)
data = fastcrl.simulate.simulate_dataset(d, 1000, edges_per_node=2, random_state=0)
est = fastcrl.ExactSearch(max_parents=k, memory_limit=None)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = time.perf_counter()
est.fit(data.X)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "estimate": est.memory_estimate_, "rss_growth": peak - before,
                  "peak": peak, "n_local_scores": est.n_local_scores_}))
"""


def run_size(d: int, k: int | None, threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(d), "-" if k is None else str(k), str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def timing_table(sizes, limited, threads):
    print(f"\n## Exact search time and memory ({threads} threads, n=1000, ER-2, Gaussian BIC)\n")
    print("| d | max_parents | fit time | local scores | estimate | RSS growth | estimate / RSS |")
    print("|---|---|---|---|---|---|---|")
    for d, k in [(d, None) for d in sizes] + limited:
        r = run_size(d, k, threads)
        growth = r["rss_growth"]
        # below a few MB the growth hides inside memory the interpreter had already touched
        ratio = f"{r['estimate'] / growth:.2f}" if growth > 4e6 else "n/a"
        print(
            f"| {d} | {'-' if k is None else k} | {r['seconds']:.2f} s | {r['n_local_scores']:,} | "
            f"{r['estimate'] / 1e6:.1f} MB | {growth / 1e6:.1f} MB | {ratio} |",
            flush=True,
        )


def local_score_rates(d, threads):
    import fastcrl
    from fastcrl import _core
    from fastcrl._search import search_constraints
    from fastcrl.scores import GaussianBIC

    fastcrl.set_num_threads(threads)
    data = fastcrl.simulate.simulate_dataset(d, 1000, edges_per_node=2, random_state=0)
    score = GaussianBIC(data.X)
    F, R, k = search_constraints(None, score.nodes, None)
    print(f"\n## Local scores per second, d={d} ({d * 2 ** (d - 1):,} scores, {threads} threads)\n")
    print("| path | seconds | scores / s | speed-up |")
    print("|---|---|---|---|")
    rates = {}
    for method in ("generic", "gaussian"):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            _core.exact_local_score_table(score._kernel, F, R, k, method)
            best = min(best, time.perf_counter() - t)
        rates[method] = d * 2 ** (d - 1) / best
        print(
            f"| {method} | {best:.3f} | {rates[method]:.3g} | "
            f"{rates[method] / rates['generic']:.1f}x |",
            flush=True,
        )


def reference_ratio(d, threads):
    import fastcrl
    from fastcrl.reference import exact as ref_exact
    from fastcrl.reference import scores as ref_scores

    fastcrl.set_num_threads(threads)
    data = fastcrl.simulate.simulate_dataset(d, 1000, edges_per_node=2, random_state=0)
    t = time.perf_counter()
    ref_score, _ = ref_exact.exact_search(partial(ref_scores.gaussian_bic, data.X), d)
    t_ref = time.perf_counter() - t
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        est = fastcrl.ExactSearch().fit(data.X)
        best = min(best, time.perf_counter() - t)
    print(f"\n## C++ vs pure-Python reference, d={d} (reference.exact + reference.scores)\n")
    print("| impl | time | reference / impl | score |")
    print("|---|---|---|---|")
    print(f"| reference | {t_ref:.3f} s | 1.0x | {ref_score:.6f} |")
    print(f"| cpp | {best * 1e3:.2f} ms | {t_ref / best:.0f}x | {est.score_:.6f} |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[10, 15, 18, 20])
    p.add_argument(
        "--limited",
        nargs="*",
        default=["22:4", "25:3"],
        help="d:max_parents pairs run with a parent limit",
    )
    p.add_argument("--rate-d", type=int, default=14, help="d for the local-score rates")
    p.add_argument("--reference-d", type=int, default=7, help="d for the C++ / Python ratio")
    p.add_argument("--threads", type=int, default=None, help="threads (default: fastcrl's)")
    args = p.parse_args()
    import fastcrl

    threads = args.threads or fastcrl.get_num_threads()
    limited = [(int(a), int(b)) for a, b in (s.split(":") for s in args.limited)]
    print(f"# bench_exact  ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    reference_ratio(args.reference_d, threads)
    local_score_rates(args.rate_d, threads)
    timing_table(args.sizes, limited, threads)


if __name__ == "__main__":
    main()
