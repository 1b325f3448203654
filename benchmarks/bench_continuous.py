"""NOTEARS / DAGMA: fastcrl (C++) vs the NumPy baselines, the `dagma` package and gCastle.

Not part of the default test run.  ER-2 linear-Gaussian data, n = 1000, fixed seeds; data are built
outside the timed region.  Prints one row per (d, method): median wall time and median SHD/TPR/FDR
over seeds, and the speed-up of fastcrl over each peer measured in the same run.

    python benchmarks/bench_continuous.py --dims 10 20 50 100 --seeds 0 1 2

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
    "gcastle-notears": 20,
    "pkg-dagma": 50,
    "fastcrl-notears": 50,
    "fastcrl-dagma": 500,
    "fastcrl-dagma-lbfgs": 100,
}


def _methods():
    out = {
        "fastcrl-notears": lambda X: fastcrl.NOTEARS().fit(X).adjacency_,
        "fastcrl-dagma": lambda X: fastcrl.DAGMA().fit(X).adjacency_,
        "fastcrl-dagma-lbfgs": lambda X: fastcrl.DAGMA(solver="lbfgs").fit(X).adjacency_,
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
    args = ap.parse_args()
    methods = _methods()
    if args.methods:
        methods = {k: v for k, v in methods.items() if k in args.methods}
    print(
        f"fastcrl {fastcrl.__version__}; threads={fastcrl.get_num_threads()}; n={args.n}; seeds={args.seeds}"
    )
    print(
        f"{'d':>4} {'method':<20} {'time[s]':>9} {'SHD':>6} {'TPR':>5} {'FDR':>5}  speed-up of fastcrl"
    )
    for d in args.dims:
        rows = {}
        for name, fit in methods.items():
            if not args.no_skip and d > SKIP.get(name, 10**9):
                continue
            times, shd, tpr, fdr = [], [], [], []
            for seed in args.seeds:
                data = fastcrl.simulate.simulate_dataset(d, args.n, random_state=seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    A = fit(data.X)
                    times.append(time.perf_counter() - t0)
                A = (np.asarray(A) != 0).astype(int)
                acc = count_accuracy(data.B, A) if fastcrl.graph.is_dag(A) else None
                shd.append(acc["shd"] if acc else float("nan"))
                tpr.append(acc["tpr"] if acc else float("nan"))
                fdr.append(acc["fdr"] if acc else float("nan"))
            rows[name] = (
                statistics.median(times),
                statistics.median(shd),
                statistics.median(tpr),
                statistics.median(fdr),
            )
            t, s, tp, fd = rows[name]
            mine = {
                "ref-notears": "fastcrl-notears",
                "gcastle-notears": "fastcrl-notears",
                "ref-dagma": "fastcrl-dagma",
                "pkg-dagma": "fastcrl-dagma",
            }.get(name)
            ratio = f"{t / rows[mine][0]:.1f}x" if mine in rows else ""
            print(
                f"{d:>4} {name:<20} {t:>9.3f} {s:>6.1f} {tp:>5.2f} {fd:>5.2f}  {ratio}", flush=True
            )


if __name__ == "__main__":
    main()
