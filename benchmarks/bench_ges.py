"""GES benchmark: fastcrl.GES against causal-learn's GES, side by side in one run.

Examples
--------
python3 benchmarks/bench_ges.py --dims 10 20 --seeds 10 --no-turning --restarts 0  # plain GES
python3 benchmarks/bench_ges.py --dims 10 20 --seeds 10                # turning + polish
python3 benchmarks/bench_ges.py --dims 10 20 50 --seeds 10 --methods fastcrl   # search quality only
python3 benchmarks/bench_ges.py --large --dims 1000 5000                      # ER-1 timing

Data: ER graphs with ``--edges-per-node`` edges per node (ER-2 by default), linear-Gaussian SEM
(fastcrl.simulate, weights in +-[0.5, 2]), n = ``--n``. Both methods use the same BIC:
fastcrl's GaussianBIC with ``penalty_discount = p`` ranks graphs as causal-learn's
``local_score_BIC`` with ``lambda_value = p / 2`` (see fastcrl.scores); each causal-learn result
is re-scored with our score. Columns: time (median seconds), SHD between CPDAGs (mean), how
many seeds gave the identical CPDAG, how often our final score is >= causal-learn's and >= the
true DAG's, and the speed ratio (median causal-learn time / median fastcrl time).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import warnings

import fastcrl
import numpy as np
from fastcrl.metrics import shd_cpdag
from fastcrl.simulate import simulate_dag, simulate_dataset, simulate_linear_sem, simulate_weights


def _data(d: int, edges_per_node: float, n: int, seed: int, generator: str = "seeded"):
    if generator == "dataset":  # the same model drawn from one shared generator, as users call it
        data = simulate_dataset(d, n, edges_per_node=edges_per_node, random_state=seed)
        return data.B.astype(np.uint8), data.X
    A = simulate_dag(d, min(int(round(edges_per_node * d)), d * (d - 1) // 2), random_state=seed)
    W = simulate_weights(A, random_state=seed)
    return (A != 0).astype(np.uint8), simulate_linear_sem(W, n, random_state=seed)


def _causallearn_cpdag(X: np.ndarray, penalty_discount: float) -> np.ndarray:
    from causallearn.search.ScoreBased.GES import ges

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = ges(X, score_func="local_score_BIC", parameters={"lambda_value": penalty_discount / 2})[
            "G"
        ].graph
    # causal-learn: G[i, j] = -1 and G[j, i] = 1 is i -> j; both -1 is i -- j.
    return ((G == -1) & ((G.T == 1) | (G.T == -1))).astype(np.uint8)


def compare(
    dims, seeds, methods, n, edges_per_node, penalty_discount, turning, restarts, generator="seeded"
) -> None:
    print(
        f"ER-{edges_per_node:g}, n={n}, penalty_discount={penalty_discount:g}, "
        f"threads={fastcrl.get_num_threads()}, turning={turning}, restarts={restarts}, "
        f"data={generator}"
    )
    head = f"{'d':>4} {'seeds':>5} {'fastcrl s':>10} {'SHD':>6} {'>=true':>7}" + (
        f" {'c-l s':>8} {'c-l SHD':>8} {'same':>5} {'>=c-l':>6} {'ratio':>7}"
        if "causallearn" in methods
        else ""
    )
    print(head)
    for d in dims:
        t_ours, t_cl, shd_ours, shd_cl = [], [], [], []
        same = ge_cl = ge_true = 0
        notes = []
        for seed in range(seeds):
            A, X = _data(d, edges_per_node, n, seed, generator)
            start = time.perf_counter()
            est = fastcrl.GES(
                score_params={"penalty_discount": penalty_discount},
                turning=turning,
                restarts=restarts,
                random_state=seed,
            ).fit(X)
            t_ours.append(time.perf_counter() - start)
            shd_ours.append(shd_cpdag(A, est.dag_.to_adjacency()))
            score = est.score_object_
            true_score = score.score(A)
            ge_true += est.score_ >= true_score - 1e-6
            if "causallearn" in methods:
                start = time.perf_counter()
                P = _causallearn_cpdag(X, penalty_discount)
                t_cl.append(time.perf_counter() - start)
                dag = fastcrl.Graph.from_adjacency(P).to_dag().to_adjacency()
                shd_cl.append(shd_cpdag(A, dag))
                theirs = score.score(dag)
                same += bool(np.array_equal(P, est.adjacency_))
                ge_cl += est.score_ >= theirs - 1e-6
                if not np.array_equal(P, est.adjacency_):
                    notes.append(f"seed {seed}: ours {est.score_:.4f} vs causal-learn {theirs:.4f}")
        line = (
            f"{d:>4} {seeds:>5} {statistics.median(t_ours):>10.4f} {np.mean(shd_ours):>6.1f} "
            f"{ge_true:>3}/{seeds:<3}"
        )
        if "causallearn" in methods:
            ratio = statistics.median(t_cl) / statistics.median(t_ours)
            line += (
                f" {statistics.median(t_cl):>8.2f} {np.mean(shd_cl):>8.1f} {same:>2}/{seeds:<2} "
                f"{ge_cl:>2}/{seeds:<3} {ratio:>7.0f}x"
            )
        print(line, flush=True)
        for note in notes:
            print("   differs:", note)


def large(dims, n, edges_per_node, penalty_discount, turning, restarts) -> None:
    print(
        f"large: ER-{edges_per_node:g}, n={n}, penalty_discount={penalty_discount:g}, "
        f"threads={fastcrl.get_num_threads()}, turning={turning}, restarts={restarts}"
    )
    print(
        f"{'d':>6} {'time s':>8} {'edges':>7} {'true':>6} {'SHD':>6} {'ops':>7} "
        f"{'evaluated':>11} {'maxrss MB':>10}"
    )
    for d in dims:
        A, X = _data(d, edges_per_node, n, 0)
        start = time.perf_counter()
        est = fastcrl.GES(
            score_params={"penalty_discount": penalty_discount}, turning=turning, restarts=restarts
        ).fit(X)
        elapsed = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{d:>6} {elapsed:>8.1f} {est.graph_.n_edges:>7} {int(A.sum()):>6} "
            f"{shd_cpdag(A, est.dag_.to_adjacency()):>6} {est.n_iter_:>7} "
            f"{est.n_evaluated_:>11} {rss:>10.0f}",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dims", type=int, nargs="+", default=None)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument(
        "--methods",
        nargs="+",
        default=["fastcrl", "causallearn"],
        choices=["fastcrl", "causallearn"],
    )
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--edges-per-node", type=float, default=None, help="default 2 (1 with --large)")
    p.add_argument("--penalty-discount", type=float, default=1.0)
    p.add_argument("--no-turning", action="store_true", help="GES(turning=False)")
    p.add_argument(
        "--restarts", type=int, default=None, help="GES(restarts=...); 0 = plain GES, no polish"
    )
    p.add_argument(
        "--large", action="store_true", help="ER-1 timing of fastcrl alone (default d = 1000)"
    )
    p.add_argument(
        "--data",
        choices=["seeded", "dataset"],
        default="seeded",
        help="seeded: graph, weights and sample each from the seed (default); dataset: "
        "fastcrl.simulate.simulate_dataset(..., random_state=seed), one shared generator",
    )
    args = p.parse_args()
    if args.large:
        large(
            args.dims or [1000],
            args.n,
            args.edges_per_node or 1.0,
            args.penalty_discount,
            not args.no_turning,
            args.restarts,
        )
    else:
        compare(
            args.dims or [10, 20],
            args.seeds,
            args.methods,
            args.n,
            args.edges_per_node or 2.0,
            args.penalty_discount,
            not args.no_turning,
            args.restarts,
            args.data,
        )


if __name__ == "__main__":
    main()
