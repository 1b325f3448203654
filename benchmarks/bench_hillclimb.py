r"""Hill climbing: fastcrl.HillClimb vs pgmpy's HillClimbSearch (and our pure-Python reference).

Every method runs on the same data in one process, side by side; all final DAGs are scored under
*our* score (GaussianBIC, or BDeu/DiscreteBIC for discrete data), so "score - true" compares like
with like.  Speed ratios are pgmpy's time over fastcrl's, seed by seed.

Run:
    python benchmarks/bench_hillclimb.py --dims 10 20 --seeds 3 \
        --methods fastcrl fastcrl-greedy pgmpy
    python benchmarks/bench_hillclimb.py --data discrete --dims 8 12 --seeds 3 \
        --methods fastcrl fastcrl-greedy pgmpy
    python benchmarks/bench_hillclimb.py --dims 10 20 50 --seeds 10 --methods fastcrl fastcrl-greedy

Methods: ``fastcrl`` (defaults: tabu 10, 50 perturbed restarts), ``fastcrl-greedy`` (tabu 0,
no restarts: plain greedy ascent), ``pgmpy`` (``HillClimbSearch.estimate`` with its defaults,
scoring_method ``bic-g`` / ``bdeu`` / ``bic-d``), ``reference`` (fastcrl.reference.hillclimb,
greedy; slow, small d only).
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import fastcrl
import numpy as np
from fastcrl import scores
from fastcrl.reference import hillclimb as reference

METHODS = ("fastcrl", "fastcrl-greedy", "pgmpy", "reference")


def make_data(kind: str, d: int, n: int, seed: int, edges_per_node: float, discrete_score: str):
    """(X, true adjacency, our score object, pgmpy scoring_method)."""
    if kind == "gaussian":
        data = fastcrl.simulate.simulate_dataset(
            d, n, edges_per_node=edges_per_node, random_state=seed
        )
        return data.X, data.B, scores.GaussianBIC(data.X), "bic-g"
    B = fastcrl.simulate.simulate_dag(d, edges_per_node=edges_per_node, random_state=seed)
    X, _ = fastcrl.simulate.simulate_discrete_bn(B, n, cardinalities=3, random_state=seed)
    if discrete_score == "bdeu":  # pgmpy's default equivalent sample size is 10
        return X, B, scores.BDeu(X, ess=10.0), "bdeu"
    return X, B, scores.DiscreteBIC(X), "bic-d"


def run_pgmpy(X, names, scoring_method):
    import pandas as pd
    from pgmpy.estimators import HillClimbSearch

    warnings.filterwarnings("ignore")
    logging.getLogger("pgmpy").setLevel(logging.ERROR)
    df = pd.DataFrame(X, columns=names)
    if scoring_method != "bic-g":  # pgmpy treats integer columns as continuous
        df = df.astype("category")
    model = HillClimbSearch(df).estimate(scoring_method=scoring_method, show_progress=False)
    A = np.zeros((len(names), len(names)), dtype=np.int8)
    index = {v: k for k, v in enumerate(names)}
    for u, v in model.edges():
        A[index[u], index[v]] = 1
    return A


def run(method, X, score, scoring_method, seed):
    d = score.n_nodes
    if method == "fastcrl":
        return fastcrl.HillClimb(score=score, random_state=seed).fit(None).adjacency_
    if method == "fastcrl-greedy":
        return fastcrl.HillClimb(score=score, tabu_length=0, restarts=0).fit(None).adjacency_
    if method == "pgmpy":
        return run_pgmpy(X, list(score.nodes), scoring_method)
    F = np.eye(d, dtype=np.uint8)
    return reference.hill_climb(score, F, np.zeros((d, d), np.uint8))["adjacency"]


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dims", type=int, nargs="+", default=[10, 20])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--edges-per-node", type=float, default=2.0)
    p.add_argument("--data", choices=["gaussian", "discrete"], default="gaussian")
    p.add_argument("--discrete-score", choices=["bdeu", "bic"], default="bdeu")
    p.add_argument(
        "--methods", nargs="+", choices=METHODS, default=["fastcrl", "fastcrl-greedy", "pgmpy"]
    )
    args = p.parse_args(argv)

    print(
        f"fastcrl {fastcrl.__version__}, threads {fastcrl.get_num_threads()}, data {args.data}, "
        f"n={args.n}, ER-{args.edges_per_node:g}"
    )
    header = (
        f"{'d':>4} {'method':<15} {'time s':>9} {'SHD':>6} {'TPR':>5} {'FDR':>5} "
        f"{'score-true':>11} {'>=true':>7} {'>=pgmpy':>8} {'pgmpy/this':>11}"
    )
    for d in args.dims:
        rows = {
            m: {"time": [], "shd": [], "tpr": [], "fdr": [], "gap": [], "score": []}
            for m in args.methods
        }
        for seed in range(args.seeds):
            X, B, score, scoring_method = make_data(
                args.data, d, args.n, seed, args.edges_per_node, args.discrete_score
            )
            true = score.score(B)
            for m in args.methods:
                score.clear_cache()  # every method starts cold
                t = time.perf_counter()
                A = run(m, X, score, scoring_method, seed)
                elapsed = time.perf_counter() - t
                acc = fastcrl.metrics.count_accuracy(B, A)
                s = score.score(A)
                r = rows[m]
                r["time"].append(elapsed)
                r["shd"].append(acc["shd"])
                r["tpr"].append(acc["tpr"])
                r["fdr"].append(acc["fdr"])
                r["gap"].append(s - true)
                r["score"].append(s)
        print(header)
        for m, r in rows.items():
            t = np.array(r["time"])
            wins = int(np.sum(np.array(r["gap"]) >= -1e-9))
            vs_pgmpy = ratio = "-"
            if "pgmpy" in rows and m != "pgmpy":
                ps = np.array(rows["pgmpy"]["score"])
                vs_pgmpy = f"{int(np.sum(np.array(r['score']) >= ps - 1e-9))}/{len(t)}"
                ratios = np.array(rows["pgmpy"]["time"]) / t
                ratio = f"{np.median(ratios):.0f}x"
            print(
                f"{d:>4} {m:<15} {np.mean(t):>9.4f} {np.mean(r['shd']):>6.1f} "
                f"{np.mean(r['tpr']):>5.2f} "
                f"{np.mean(r['fdr']):>5.2f} {np.mean(r['gap']):>11.2f} {wins:>4}/{len(t):<2} "
                f"{vs_pgmpy:>8} {ratio:>11}"
            )
        print()


if __name__ == "__main__":
    main()
