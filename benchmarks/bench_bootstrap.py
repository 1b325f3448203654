"""Edge stability with fastcrl.bootstrap_edges: how often true and absent edges appear; its cost.

Two parts, both printed as Markdown tables:
  chance   a 4-node chain X0 -> X1 -> X2 -> X3 (weights 0.9, unit noise) plus an independent X4,
           n = 800, GES with the BIC: the frequency of the chain's edges and of the pairs without an
           edge, under the bootstrap (rows with replacement) and half-subsampling (without).
  cost     GES, HillClimb and DAGMA on linear-Gaussian ER-2 data (n = 1000, d = 20 and 50): the
           seconds of one fit and of 20 bootstrap refits.

Run:  python benchmarks/bench_bootstrap.py [--refits 100] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import time
import warnings

import fastcrl
import numpy as np


def chain_data(n: int = 800, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.empty((n, 5))
    X[:, 0] = rng.normal(size=n)
    for j in (1, 2, 3):
        X[:, j] = 0.9 * X[:, j - 1] + rng.normal(size=n)
    X[:, 4] = rng.normal(size=n)
    return X


def section_chance(args) -> None:
    X = chain_data()
    true = {(0, 1), (1, 2), (2, 3)}
    absent = [(i, j) for i in range(5) for j in range(i + 1, 5) if (i, j) not in true]
    print(f"\n## chance edges: chain of 4 + 1 independent, n=800, GES (BIC), {args.refits} refits")
    print("| resampling | seed | true edges (min) | absent pairs (mean) | absent pairs (max) |")
    print("|---|---|---|---|---|")
    modes = (("bootstrap", {}), ("half-subsample", {"replace": False, "sample_fraction": 0.5}))
    for label, kw in modes:
        for seed in args.seeds:
            f = fastcrl.bootstrap_edges(
                fastcrl.GES(), X, n_bootstrap=args.refits, random_state=seed, **kw
            )
            t = min(f.adjacency[p] for p in true)
            a = [f.adjacency[p] for p in absent]
            print(f"| {label} | {seed} | {t:.2f} | {np.mean(a):.3f} | {max(a):.2f} |", flush=True)


def section_cost(args) -> None:
    print("\n## cost: one fit and 20 bootstrap refits (n=1000, ER-2, linear Gaussian)")
    print("| method | d | one fit s | 20 refits s |")
    print("|---|---|---|---|")
    for d in (20, 50):
        X = fastcrl.simulate.simulate_dataset(d, 1000, edges_per_node=2, random_state=0).X
        for est in (fastcrl.GES(), fastcrl.HillClimb(random_state=0), fastcrl.DAGMA()):
            t = time.perf_counter()
            type(est)(**est.get_params()).fit(X)
            one = time.perf_counter() - t
            t = time.perf_counter()
            fastcrl.bootstrap_edges(est, X, n_bootstrap=20, random_state=0)
            boot = time.perf_counter() - t
            print(f"| {type(est).__name__} | {d} | {one:.2f} | {boot:.2f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--refits", type=int, default=100)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    warnings.simplefilter("ignore", fastcrl.ConvergenceWarning)
    section_chance(args)
    section_cost(args)


if __name__ == "__main__":
    main()
