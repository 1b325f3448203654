"""ExactSearch is the oracle of the greedy searches: they never report a score above the optimum,
and with plenty of data GES finds the optimal equivalence class on most seeds."""

import fastcrl
import numpy as np
import pytest
from fastcrl.simulate import simulate_dataset


def _problem(d, n, seed):
    data = simulate_dataset(d, n, edges_per_node=2.0, random_state=seed)
    return data, fastcrl.scores.GaussianBIC(data.X)


@pytest.mark.parametrize("method", ["ges", "hc"])
def test_greedy_never_beats_the_optimum(method):
    for seed in range(6):
        d = 8 + seed % 3 * 2  # 8, 10, 12
        data, score = _problem(d, 1000, seed)
        optimum = fastcrl.ExactSearch(score=score).fit().score_
        if method == "ges":
            est = fastcrl.GES(score=score).fit(data.X)
        else:
            est = fastcrl.HillClimb(score=score, restarts=10, random_state=seed).fit(data.X)
        assert est.score_ <= optimum + 1e-8 * abs(optimum)
        # and the reported score is the score of what is returned
        dag = est.adjacency_ if method == "hc" else fastcrl.graph.pdag_to_dag(est.adjacency_)
        assert est.score_ == pytest.approx(score.score(dag), rel=1e-10)


def test_ges_finds_the_optimal_class_with_much_data():
    # measured: 9/10 seeds at n = 10,000, d = 8 with the default polish (50 restarts); plain GES
    # (restarts=0) stops below the optimum on 5/10 of these seeds, exactly as causal-learn's does
    hits = 0
    for seed in range(10):
        data, score = _problem(8, 10_000, seed)
        exact = fastcrl.ExactSearch(score=score).fit()
        ges = fastcrl.GES(score=score).fit(data.X)
        same = np.array_equal(ges.graph_.to_adjacency() != 0, exact.graph_.to_adjacency() != 0)
        hits += same
        assert ges.score_ <= exact.score_ + 1e-8 * abs(exact.score_)
    assert hits >= 8


def test_ges_polish_rounds_reach_the_optimum():
    # Dense, small-sample problems where one polish climb of 50 restarts stayed in a lower basin on
    # 2/12 seeds (measured: seeds 1 and 4 ended 9.5 and 22 nats below the optimum); further rounds
    # from each improved DAG reached the optimum on 12/12.
    hits = 0
    for seed in range(12):
        data, score = _problem(12, 600, seed)
        optimum = fastcrl.ExactSearch(score=score).fit().score_
        ges = fastcrl.GES(score=score).fit(data.X)
        hits += ges.score_ >= optimum - 1e-8 * abs(optimum)
    assert hits >= 11
