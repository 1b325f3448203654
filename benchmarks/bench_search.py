"""Score-based searches side by side: fastcrl GES / HillClimb / ExactSearch vs causal-learn's GES and
pgmpy's HillClimbSearch, on the same data and the same score.

Not part of the default test run.  Linear-Gaussian ER-2 data (n = 1000) scored with the Gaussian BIC,
or (``--discrete``) data sampled from random discrete networks scored with BDeu.  Per (d, method):
median wall time over seeds, median SHD between CPDAGs, skeleton precision/recall, and how the final
score compares with the true DAG's under fastcrl's score (``>= truth`` counts the seeds where the
search ended at or above it).  Speed-ups of fastcrl over each peer come from the same run.

    python benchmarks/bench_search.py --dims 10 20 50 --seeds 0 1 2
    python benchmarks/bench_search.py --discrete --dims 10 20 --seeds 0 1 2

Peers that are not importable are skipped; slow ones are skipped above the sizes in SKIP
(pass --no-skip to run everything).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings

import fastcrl
import numpy as np
from fastcrl import simulate
from fastcrl.graph import dag_to_cpdag, pdag_to_dag
from fastcrl.metrics import shd, skeleton_precision_recall

# (method, largest d run by default): beyond these a single fit takes many minutes on 2 cores.
SKIP = {"causallearn-ges": 20, "pgmpy-hc": 20, "fastcrl-exact": 18}


def _causallearn_ges(X, discrete):
    from causallearn.search.ScoreBased.GES import ges

    rec = ges(X, score_func="local_score_BDeu" if discrete else "local_score_BIC")
    G = rec["G"].graph  # G[j, i] = 1 and G[i, j] = -1 means i -> j; -1 both ways: i -- j
    d = G.shape[0]
    A = np.zeros((d, d), dtype=np.uint8)
    for i in range(d):
        for j in range(d):
            if G[i, j] == -1 and G[j, i] in (1, -1):
                A[i, j] = 1
    return A


def _pgmpy_hc(X, discrete):
    import pandas as pd
    from pgmpy.estimators import HillClimbSearch

    df = pd.DataFrame(X, columns=[f"X{i}" for i in range(X.shape[1])])
    if discrete:  # pgmpy picks its discrete scores by dtype
        df = df.astype("category")
    model = HillClimbSearch(df).estimate(
        scoring_method="bdeu" if discrete else "bic-g", show_progress=False
    )
    d = X.shape[1]
    A = np.zeros((d, d), dtype=np.uint8)
    for a, b in model.edges():
        A[int(a[1:]), int(b[1:])] = 1
    return A


def _methods(discrete: bool):
    out = {
        "fastcrl-ges": lambda X: fastcrl.GES().fit(X).adjacency_,
        "fastcrl-hc": lambda X: fastcrl.HillClimb(random_state=0).fit(X).adjacency_,
        "fastcrl-exact": lambda X: fastcrl.ExactSearch().fit(X).adjacency_,
    }
    try:
        import causallearn  # noqa: F401

        out["causallearn-ges"] = lambda X: _causallearn_ges(X, discrete)
    except ImportError:
        print("note: causal-learn is not importable; skipped")
    try:
        import pgmpy  # noqa: F401

        logging.getLogger("pgmpy").setLevel(logging.ERROR)
        out["pgmpy-hc"] = lambda X: _pgmpy_hc(X, discrete)
    except ImportError:
        print("note: pgmpy is not importable; skipped")
    return out


def _data(d: int, n: int, seed: int, discrete: bool):
    if discrete:
        B = simulate.simulate_dag(d, 2 * d, random_state=seed)
        X, _ = simulate.simulate_discrete_bn(B, n, cardinalities=3, random_state=seed)
        return X, B, fastcrl.scores.BDeu(X)
    data = simulate.simulate_dataset(d, n, edges_per_node=2.0, random_state=seed)
    return data.X, data.B, fastcrl.scores.GaussianBIC(data.X)


def _score_of(score, A: np.ndarray) -> float:
    """Score of a DAG, or of a consistent extension of a CPDAG."""
    A = (np.asarray(A) != 0).astype(np.uint8)
    if ((A != 0) & (A.T != 0)).any():
        A = pdag_to_dag(A)
    return score.score(A)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", type=int, nargs="+", default=[10, 20, 50])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--discrete", action="store_true")
    ap.add_argument("--methods", nargs="+")
    ap.add_argument("--no-skip", action="store_true")
    args = ap.parse_args()
    methods = _methods(args.discrete)
    if args.methods:
        methods = {k: v for k, v in methods.items() if k in args.methods}
    print(
        f"threads={fastcrl.get_num_threads()}, n={args.n}, seeds={args.seeds}, "
        f"{'discrete (BDeu)' if args.discrete else 'linear-Gaussian ER-2 (BIC)'}"
    )
    print(
        f"{'d':>4} {'method':<17} {'time [s]':>9} {'SHD':>5} {'prec':>5} {'rec':>5} "
        f"{'score - truth':>14} {'>= truth':>9} {'speed-up':>9}"
    )
    for d in args.dims:
        rows = {}
        for name, fit in methods.items():
            if not args.no_skip and d > SKIP.get(name, 10**9):
                continue
            times, shds, precs, recs, gaps = [], [], [], [], []
            for seed in args.seeds:
                X, B, score = _data(d, args.n, seed, args.discrete)
                truth_cpdag = dag_to_cpdag(B)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t = time.perf_counter()
                    A = fit(X)
                    times.append(time.perf_counter() - t)
                A = (np.asarray(A) != 0).astype(np.uint8)
                est_cpdag = A if ((A != 0) & (A.T != 0)).any() else dag_to_cpdag(A)
                shds.append(shd(truth_cpdag, est_cpdag))
                pr = skeleton_precision_recall(B, A)
                precs.append(pr["precision"])
                recs.append(pr["recall"])
                gaps.append(_score_of(score, A) - score.score(B))
            rows[name] = statistics.median(times)
            base = rows.get(name.replace("causallearn-", "fastcrl-").replace("pgmpy-", "fastcrl-"))
            ratio = f"{rows[name] / base:8.1f}x" if base and not name.startswith("fastcrl") else ""
            print(
                f"{d:>4} {name:<17} {statistics.median(times):>9.3f} {statistics.median(shds):>5.0f} "
                f"{statistics.median(precs):>5.2f} {statistics.median(recs):>5.2f} "
                f"{statistics.median(gaps):>14.1f} {sum(g >= -1e-6 for g in gaps):>4d}/{len(gaps):<4d} {ratio:>9}",
                flush=True,
            )


if __name__ == "__main__":
    main()
