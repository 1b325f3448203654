"""fastcrl.HillClimb: C++ kernel vs the pure-Python reference, constraints, restarts, errors."""

from __future__ import annotations

import _thread
import threading
import time

import fastcrl
import numpy as np
import pytest
from fastcrl import _core
from fastcrl.graph import Graph, is_dag
from fastcrl.reference import hillclimb as ref
from fastcrl.scores import BDeu, GaussianBIC


def _gaussian(d, seed, n=300):
    k = min(1.5, (d - 1) / 2)
    data = fastcrl.simulate.simulate_dataset(d, n, edges_per_node=k, random_state=seed)
    return data, GaussianBIC(data.X)


def _masks(d, forbidden=(), required=()):
    F = np.eye(d, dtype=np.uint8)
    R = np.zeros((d, d), dtype=np.uint8)
    for i, j in forbidden:
        F[i, j] = 1
    for i, j in required:
        R[i, j] = 1
    return F, R


def _assert_same(a, b):
    np.testing.assert_array_equal(a["adjacency"], b["adjacency"])
    assert a["score"] == b["score"]
    assert a["n_iter"] == b["n_iter"]
    np.testing.assert_array_equal(a["history"], b["history"])
    np.testing.assert_array_equal(a["climb_scores"], b["climb_scores"])


# ------------------------------------------------------------------------------ kernel vs reference


@pytest.mark.parametrize("d", [1, 2, 5, 8])
@pytest.mark.parametrize("seed", [0, 1])
def test_greedy_matches_reference(d, seed):
    _, score = _gaussian(d, seed)
    F, R = _masks(d)
    out = _core.hill_climb(score._kernel, F, R, -1)
    _assert_same(out, ref.hill_climb(score, F, R, -1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tabu_and_restarts_match_reference(seed):
    d = 7
    _, score = _gaussian(d, 10 + seed)
    F, R = _masks(d)
    kw = dict(tabu_length=4, tabu_patience=3, restarts=3, perturb=4, seed=1234 + seed)
    _assert_same(
        _core.hill_climb(score._kernel, F, R, -1, **kw), ref.hill_climb(score, F, R, -1, **kw)
    )


@pytest.mark.parametrize("seed", [3, 4])
def test_constraints_match_reference(seed):
    d = 6
    rng = np.random.default_rng(seed)
    _, score = _gaussian(d, seed)
    pairs = [(i, j) for i in range(d) for j in range(d) if i != j]
    picks = rng.permutation(len(pairs))
    forbidden = [pairs[k] for k in picks[:6]]
    required = [p for p in (pairs[k] for k in picks[6:]) if p[::-1] not in forbidden][:1]
    F, R = _masks(d, forbidden, required)
    kw = dict(tabu_length=3, tabu_patience=2, restarts=2, perturb=3, seed=seed)
    for max_parents in (1, 2, -1):
        _assert_same(
            _core.hill_climb(score._kernel, F, R, max_parents, **kw),
            ref.hill_climb(score, F, R, max_parents, **kw),
        )


def test_discrete_bdeu_matches_reference():
    A = fastcrl.simulate.simulate_dag(6, 7, random_state=5)
    X, _ = fastcrl.simulate.simulate_discrete_bn(A, 400, cardinalities=3, random_state=5)
    score = BDeu(X)
    F, R = _masks(6)
    kw = dict(tabu_length=5, tabu_patience=5, restarts=2, perturb=6, seed=9)
    _assert_same(
        _core.hill_climb(score._kernel, F, R, -1, **kw), ref.hill_climb(score, F, R, -1, **kw)
    )


def test_start_graph_matches_reference():
    d = 6
    data, score = _gaussian(d, 7)
    start = np.ascontiguousarray(data.B.T != 0, dtype=np.uint8)  # every true edge reversed
    F, R = _masks(d)
    _assert_same(
        _core.hill_climb(score._kernel, F, R, -1, start),
        ref.hill_climb(score, F, R, -1, start),
    )


def test_estimator_uses_kernel_with_its_seed():
    _, score = _gaussian(6, 2)
    est = fastcrl.HillClimb(score=score, restarts=2, perturb=3, random_state=42).fit(None)
    seed = int(np.random.default_rng(42).integers(0, 2**63))
    F, R = _masks(6)
    out = ref.hill_climb(
        score,
        F,
        R,
        -1,
        max_iter=100_000,
        tabu_length=10,
        tabu_patience=10,
        restarts=2,
        perturb=3,
        seed=seed,
    )
    np.testing.assert_array_equal(est.adjacency_, out["adjacency"])
    assert est.score_ == out["score"]


# ------------------------------------------------------------------------------------- properties


@pytest.mark.parametrize("seed", range(4))
def test_result_is_acyclic_and_respects_knowledge(seed):
    d = 10
    data = fastcrl.simulate.simulate_dataset(d, 500, random_state=seed)
    names = [f"v{i}" for i in range(d)]
    knowledge = (
        fastcrl.Knowledge(names=names)
        .set_tiers([names[:3], names[3:]])
        .forbid("v5", "v6")
        .require("v7", "v8")
        .forbid("v9", "v4")
    )
    est = fastcrl.HillClimb(knowledge=knowledge, max_parents=2, restarts=5, random_state=seed)
    est.fit(data.X, names=names)
    A = est.adjacency_.astype(bool)
    assert is_dag(A)
    forbidden = knowledge.resolve(names).forbidden_mask()
    assert not (A & forbidden).any()
    assert A[7, 8]
    assert A.sum(axis=0).max() <= 2
    assert est.graph_.kind == "dag" and list(est.graph_.nodes) == names
    assert est.score_ == pytest.approx(est.scorer_.score(est.adjacency_), rel=1e-12, abs=1e-9)


def test_score_equals_score_of_result_and_history():
    data, score = _gaussian(12, 3, n=1000)
    est = fastcrl.HillClimb(score=score, random_state=0, restarts=5).fit(data.X)
    assert est.score_ == pytest.approx(score.score(est.adjacency_), rel=1e-12, abs=1e-9)
    assert est.history_.shape == (est.n_iter_ + 1,)
    assert est.history_[0] == pytest.approx(score.score(np.zeros((12, 12))), rel=1e-12)
    assert est.climb_scores_.shape == (6,)
    # a later climb replaces the best only when better by more than the tie tolerance
    assert est.score_ == pytest.approx(est.climb_scores_.max(), rel=1e-9, abs=1e-9)
    assert est.score_ in est.climb_scores_


@pytest.mark.parametrize("seed", range(3))
def test_restarts_never_lower_the_score(seed):
    _, score = _gaussian(15, seed, n=1000)
    one = fastcrl.HillClimb(score=score, restarts=0, random_state=seed).fit(None)
    many = fastcrl.HillClimb(score=score, restarts=8, random_state=seed).fit(None)
    assert many.climb_scores_[0] == one.score_  # the first climb does not depend on the seed
    assert many.score_ >= one.score_
    assert many.score_ == pytest.approx(many.climb_scores_.max(), rel=1e-9, abs=1e-9)


def test_tabu_escapes_local_optima():
    # ER-2 linear-Gaussian graphs: greedy ascent stops early; walking on with a tabu list finds
    # better DAGs on some seeds and never a worse one on these.
    gains = []
    for seed in range(5):
        data = fastcrl.simulate.simulate_dataset(10, 1000, edges_per_node=2, random_state=seed)
        score = GaussianBIC(data.X)
        greedy = fastcrl.HillClimb(score=score, tabu_length=0, restarts=0).fit(None)
        tabu = fastcrl.HillClimb(score=score, tabu_length=10, restarts=0).fit(None)
        gains.append(tabu.score_ - greedy.score_)
    assert min(gains) >= -1e-9
    assert max(gains) > 1.0


def test_recovers_true_score_on_easy_data():
    wins = 0
    for seed in range(4):
        data = fastcrl.simulate.simulate_dataset(10, 1000, edges_per_node=2, random_state=seed)
        score = GaussianBIC(data.X)
        est = fastcrl.HillClimb(score=score, random_state=seed).fit(None)
        wins += est.score_ >= score.score(data.B) - 1e-9
    assert wins >= 3


def test_auto_score_and_dataframe_names():
    pd = pytest.importorskip("pandas")
    A = fastcrl.simulate.simulate_dag(5, 5, random_state=1)
    X, _ = fastcrl.simulate.simulate_discrete_bn(A, 500, random_state=1)
    df = pd.DataFrame(X, columns=list("abcde"))
    est = fastcrl.HillClimb(restarts=2, random_state=0).fit(df)
    assert isinstance(est.scorer_, BDeu)
    assert list(est.graph_.nodes) == list("abcde")
    cont = fastcrl.HillClimb(restarts=1).fit(
        pd.DataFrame(_gaussian(4, 0)[0].X, columns=list("wxyz"))
    )
    assert isinstance(cont.scorer_, GaussianBIC) and list(cont.node_names_) == list("wxyz")


def test_start_graph_object_and_required_edges_kept():
    data, score = _gaussian(5, 8)
    start = Graph.from_adjacency(data.B, names=list(score.nodes))
    est = fastcrl.HillClimb(score=score, start=start, restarts=0, tabu_length=0).fit(None)
    assert est.score_ >= score.score(data.B)
    k = fastcrl.Knowledge(names=list(score.nodes)).require("X0", "X1")
    est = fastcrl.HillClimb(score=score, knowledge=k, restarts=3, random_state=0).fit(None)
    assert est.adjacency_[0, 1] == 1


def test_get_params_round_trip_and_verbose():
    est = fastcrl.HillClimb(restarts=1, verbose=1)
    clone = type(est)(**est.get_params())
    assert clone.get_params() == est.get_params()
    clone.fit(_gaussian(4, 0)[0].X)
    assert clone.adjacency_.dtype == np.int8


# ------------------------------------------------------------------------------------- bad input


def test_bad_input_errors():
    data, score = _gaussian(4, 0)
    X = data.X
    cyc = np.zeros((4, 4))
    cyc[0, 1] = cyc[1, 2] = cyc[2, 0] = 1
    with pytest.raises(ValueError, match="cycle"):
        fastcrl.HillClimb(start=cyc).fit(X)
    k = fastcrl.Knowledge(names=["X0", "X1", "X2", "X3"]).forbid("X0", "X1")
    start = np.zeros((4, 4))
    start[0, 1] = 1
    with pytest.raises(ValueError, match="forbids"):
        fastcrl.HillClimb(start=start, knowledge=k).fit(X)
    k2 = fastcrl.Knowledge(names=["X0", "X1", "X2", "X3"]).require("X2", "X3")
    with pytest.raises(ValueError, match="requires"):
        fastcrl.HillClimb(start=start, knowledge=k2).fit(X)
    with pytest.raises(ValueError, match="max_parents"):
        fastcrl.HillClimb(max_parents=-1).fit(X)
    with pytest.raises(ValueError, match="parents in start"):
        fastcrl.HillClimb(start=np.triu(np.ones((4, 4)), 1), max_parents=1).fit(X)
    with pytest.raises(ValueError, match="unknown score"):
        fastcrl.HillClimb(score="aic").fit(X)
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        fastcrl.HillClimb(start=np.zeros((3, 3))).fit(X)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastcrl.HillClimb().fit(Xn)
    with pytest.raises(ValueError, match="tabu_length"):
        fastcrl.HillClimb(tabu_length=-2).fit(X)
    with pytest.raises(TypeError, match="random_state"):
        fastcrl.HillClimb(random_state="x").fit(X)
    with pytest.raises(fastcrl.NotFittedError):
        fastcrl.HillClimb()._check_fitted()
    # The kernel checks too, for callers that skip the Python layer.
    F, R = _masks(4)
    with pytest.raises(ValueError, match="cycle"):
        _core.hill_climb(score._kernel, F, R, -1, np.ascontiguousarray(cyc, dtype=np.uint8))
    with pytest.raises(ValueError, match="self-loop"):
        _core.hill_climb(score._kernel, F, R, -1, np.eye(4, dtype=np.uint8))
    F[0, 1] = 1
    with pytest.raises(ValueError, match="forbidden edge 0 -> 1"):
        _core.hill_climb(score._kernel, F, R, -1, np.ascontiguousarray(start, dtype=np.uint8))


def test_ctrl_c_stops_the_search():
    # interrupt_main() trips the SIGINT flag that the kernel's Interrupt polls (every iteration).
    data = fastcrl.simulate.simulate_dataset(30, 500, random_state=0)
    est = fastcrl.HillClimb(restarts=10**7, perturb=30, random_state=0)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    begin = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            est.fit(data.X)
    finally:
        timer.cancel()
    assert time.perf_counter() - begin < 10.0
    assert not hasattr(est, "adjacency_")


def test_memory_estimate_limit_and_time_estimate():
    from fastcrl.hillclimb import estimate_memory

    X = np.random.default_rng(0).normal(size=(300, 30))
    assert 0 < estimate_memory(30, 300) < estimate_memory(3000, 300)
    # the cache term (discrete scores; the Gaussian ones cache little) is bounded by cache_limit
    assert estimate_memory(3000, 300, discrete=True, cache_limit=1000) < (
        estimate_memory(3000, 300, discrete=True) - 10**8
    )
    est = fastcrl.HillClimb(restarts=1, random_state=0).fit(X)
    assert est.memory_estimate_ == estimate_memory(30, 300, restarts=1)
    assert est.score_object_ is est.scorer_
    with pytest.raises(MemoryError, match=r"hill climbing on 30 variables .* memory_limit"):
        fastcrl.HillClimb(memory_limit="10KB").fit(X)
    out = fastcrl.HillClimb(restarts=2).estimate(X)
    assert out["memory_bytes"] > 0 and 0 < out["seconds"] < 60
    assert fastcrl.HillClimb(restarts=10).estimate(X)["seconds"] > out["seconds"]


def test_bounded_cache_gives_the_same_climb():
    from fastcrl.simulate import simulate_dataset

    data = simulate_dataset(12, 500, random_state=3)
    X = (data.X > np.median(data.X, axis=0)).astype(np.int64)  # discrete: the BDeu score caches
    full = fastcrl.HillClimb(restarts=5, random_state=0).fit(X)
    score = fastcrl.scores.BDeu(X)
    score.cache_limit = 200  # far fewer than the scores a climb computes: constant eviction
    small = fastcrl.HillClimb(score, restarts=5, random_state=0).fit(None)
    assert score.cache_info()["evictions"] > 0
    np.testing.assert_array_equal(full.adjacency_, small.adjacency_)
    assert full.score_ == small.score_


# ------------------------------------------------ columns scored through a batch scorer (the GPU's)


def _cpu_batch(score, calls):
    def batch(nodes, offsets, parents):
        calls.append(len(nodes))
        return score._kernel.local_scores(nodes, offsets, parents, undefined_as_nan=True)

    return batch


@pytest.mark.parametrize("seed", [0, 1])
def test_batch_scorer_gives_the_same_climb(seed):
    d = 12
    _, score = _gaussian(d, 20 + seed)
    D = np.random.default_rng(seed).integers(0, 3, size=(500, 8))
    for sc, dd in ((score, d), (BDeu(D), 8)):
        F, R = _masks(dd, forbidden=[(0, 1)], required=[(2, 3)])
        kw = dict(tabu_length=4, tabu_patience=3, restarts=2, perturb=3, seed=7 + seed)
        calls = []
        batched = _core.hill_climb(sc._kernel, F, R, 3, batch_scores=_cpu_batch(sc, calls), **kw)
        assert calls and calls[0] >= dd * (dd - 1) // 2  # the first refresh: every column
        _assert_same(batched, _core.hill_climb(sc._kernel, F, R, 3, **kw))


def test_collinear_pair_is_an_error_as_in_ges():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    X[:, 4] = 3.0 * X[:, 1] + 1.0  # no search can use this pair: say so, as GES does
    for est in (fastcrl.HillClimb(), fastcrl.GES()):
        with pytest.raises(fastcrl.NumericalError, match="duplicates or exactly collinear"):
            est.fit(X)
    forbidden, required = _masks(5)
    with pytest.raises(fastcrl.NumericalError, match="duplicates or exactly collinear"):
        ref.hill_climb(fastcrl.scores.GaussianBIC(X), forbidden, required)
    # a pair that knowledge keeps apart is never scored together: no error
    k = fastcrl.Knowledge(n_nodes=5).forbid(1, 4).forbid(4, 1)
    fitted = fastcrl.HillClimb(knowledge=k).fit(X)
    assert not fitted.adjacency_[1, 4] and not fitted.adjacency_[4, 1]
    # collinear with several parents only (X4 = X0 - X2): those families are skipped, no error
    Y = rng.normal(size=(200, 5))
    Y[:, 4] = Y[:, 0] - Y[:, 2]
    assert np.isfinite(fastcrl.HillClimb().fit(Y).score_)


def test_batch_scorer_errors():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    score = GaussianBIC(X)
    F, R = _masks(3)
    with pytest.raises(fastcrl.NumericalError, match="undefined"):
        _core.hill_climb(
            score._kernel, F, R, -1, batch_scores=lambda n, o, p: np.full(len(n), np.nan)
        )
    with pytest.raises(ValueError, match="returned 2 scores"):
        _core.hill_climb(score._kernel, F, R, -1, batch_scores=lambda n, o, p: np.zeros(2))
    assert fastcrl.HillClimb().fit(X).device_ == "cpu"
