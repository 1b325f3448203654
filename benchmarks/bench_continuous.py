"""NOTEARS / DAGMA: fastcrl (C++) vs the NumPy baselines, the `dagma` package and gCastle.

Not part of the default test run.  ER-2 linear-Gaussian data, n = 1000, fixed seeds; data are built
outside the timed region.  Prints one row per (d, method): median wall time and median SHD/TPR/FDR
over seeds, and the speed-up of fastcrl over each peer measured in the same run.

    python benchmarks/bench_continuous.py --dims 10 20 50 100 --seeds 0 1 2 --threads 1

Methods run interleaved per seed (seed 0: every method, then seed 1, ...) so that on a shared
machine fastcrl and its peers see the same load.  --standardize scales each column to unit variance
(the issue's "also on standardised data").  --threads sets fastcrl's and OpenBLAS's thread count
(1 by default for reproducible ratios; peers that use NumPy see the same OpenBLAS setting only when
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS are exported before the run).

Slow peers are skipped where one fit would take more than ~3 minutes on a small machine
(see SKIP); pass --no-skip to run everything.  Peers that are not importable are skipped.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import fastcrl
import numpy as np
from fastcrl.metrics import count_accuracy
from fastcrl.reference import continuous as ref

# (method, largest d run by default): beyond these a single fit takes minutes on 2 cores.
SKIP = {
    "ref-notears": 10,
    "ref-dagma": 20,
    "gcastle-notears": 50,
    "pkg-dagma": 100,
    "fastcrl-notears": 100,
    "fastcrl-dagma": 500,
    "fastcrl-dagma-adam": 100,
}


def _methods():
    out = {
        "fastcrl-notears": lambda X: fastcrl.NOTEARS().fit(X).adjacency_,
        "fastcrl-dagma": lambda X: fastcrl.DAGMA().fit(X).adjacency_,
        "fastcrl-dagma-adam": lambda X: fastcrl.DAGMA(solver="adam").fit(X).adjacency_,
        "ref-notears": lambda X: ref.notears_linear(X).adjacency,
        "ref-dagma": lambda X: ref.dagma_linear(X).adjacency,
    }
    try:
        from dagma.linear import DagmaLinear

        out["pkg-dagma"] = lambda X: (
            DagmaLinear(loss_type="l2", verbose=False).fit(X.copy(), lambda1=0.02) != 0
        )
    except ImportError:
        print("note: the dagma package is not importable; skipped")
    try:
        import logging

        logging.disable(logging.INFO)
        from castle.algorithms import Notears

        def gcastle(X):
            m = Notears()
            m.learn(X.copy())
            return np.asarray(m.causal_matrix)

        out["gcastle-notears"] = gcastle
    except ImportError:
        print("note: gcastle is not importable; skipped")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", type=int, nargs="+", default=[10, 20, 50, 100])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--methods", nargs="+")
    ap.add_argument("--no-skip", action="store_true")
    ap.add_argument(
        "--standardize", action="store_true", help="scale every column to unit variance"
    )
    ap.add_argument("--threads", type=int, default=1, help="fastcrl / OpenBLAS threads")
    ap.add_argument("--per-seed", action="store_true", help="also print every fit")
    args = ap.parse_args()
    fastcrl.set_num_threads(args.threads)
    methods = _methods()
    if args.methods:
        methods = {k: v for k, v in methods.items() if k in args.methods}
    print(
        f"fastcrl {fastcrl.__version__}; threads={fastcrl.get_num_threads()}; n={args.n}; seeds={args.seeds}; "
        f"standardize={args.standardize}"
    )
    print(
        f"{'d':>4} {'method':<20} {'time[s]':>9} {'SHD':>6} {'TPR':>5} {'FDR':>5}  speed-up of fastcrl"
    )
    mine = {
        "ref-notears": "fastcrl-notears",
        "gcastle-notears": "fastcrl-notears",
        "ref-dagma": "fastcrl-dagma",
        "pkg-dagma": "fastcrl-dagma",
        "fastcrl-dagma-adam": "fastcrl-dagma",
    }
    for d in args.dims:
        active = [m for m in methods if args.no_skip or d <= SKIP.get(m, 10**9)]
        runs = {m: {"time": [], "shd": [], "tpr": [], "fdr": []} for m in active}
        for seed in args.seeds:
            data = fastcrl.simulate.simulate_dataset(d, args.n, random_state=seed)
            X = data.X
            if args.standardize:
                X = (X - X.mean(axis=0)) / X.std(axis=0)
            for name in active:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    A = methods[name](X)
                    elapsed = time.perf_counter() - t0
                A = (np.asarray(A) != 0).astype(int)
                acc = count_accuracy(data.B, A) if fastcrl.graph.is_dag(A) else None
                r = runs[name]
                r["time"].append(elapsed)
                for key in ("shd", "tpr", "fdr"):
                    r[key].append(acc[key] if acc else float("nan"))
                if args.per_seed:
                    print(
                        f"  d={d} seed={seed} {name:<20} {elapsed:9.3f} s  SHD {r['shd'][-1]}",
                        flush=True,
                    )
        rows = {m: {k: statistics.median(v) for k, v in r.items()} for m, r in runs.items()}
        for name, row in rows.items():
            ref_name = mine.get(name)
            ratio = f"{row['time'] / rows[ref_name]['time']:.1f}x" if ref_name in rows else ""
            print(
                f"{d:>4} {name:<20} {row['time']:>9.3f} {row['shd']:>6.1f} {row['tpr']:>5.2f} "
                f"{row['fdr']:>5.2f}  {ratio}",
                flush=True,
            )


if __name__ == "__main__":
    main()
