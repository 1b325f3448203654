"""ExactSearch: optimality against brute force, fast vs generic local scores, constraints."""

from __future__ import annotations

import itertools
import math
import signal
import threading
import time
from functools import partial

import fastcrl
import numpy as np
import pytest
from fastcrl import _core
from fastcrl._search import search_constraints
from fastcrl.exact import ExactSearch, estimate_memory, parse_memory
from fastcrl.graph import dag_to_cpdag
from fastcrl.knowledge import Knowledge
from fastcrl.reference import exact as ref_exact
from fastcrl.reference import scores as ref_scores
from fastcrl.scores import BDeu, GaussianBIC


def gaussian_data(d, n, seed, edges_per_node=1.5):
    return fastcrl.simulate.simulate_dataset(d, n, edges_per_node=edges_per_node, random_state=seed)


def discrete_data(d, n, seed):
    rng = np.random.default_rng(seed)
    X = np.zeros((n, d), dtype=np.int64)
    for j in range(d):
        parents = [p for p in range(j) if rng.random() < 0.5]
        logits = rng.normal(size=n) * 0.3 + sum(1.2 * (X[:, p] == 1) for p in parents)
        X[:, j] = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(int) + (rng.random(n) < 0.2)
    return X


def cpdag_set(adjacencies):
    return {dag_to_cpdag(A).tobytes() for A in adjacencies}


# ------------------------------------------------------------------- optimality against brute force


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("local_scores", ["gaussian", "generic"])
def test_gaussian_matches_brute_force(seed, local_scores):
    data = gaussian_data(4, 300, seed)
    est = ExactSearch(local_scores=local_scores).fit(data.X)
    best, optimal = ref_exact.brute_force(partial(ref_scores.gaussian_bic, data.X), 4)
    assert est.score_ == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert dag_to_cpdag(est.adjacency_).tobytes() in cpdag_set(optimal)
    assert est.score_ == pytest.approx(est.score_object_.score(est.dag_), rel=1e-10, abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_bdeu_matches_brute_force(seed):
    X = discrete_data(4, 400, seed)
    est = ExactSearch(score="bdeu").fit(X)
    assert not est.gaussian_path_
    best, optimal = ref_exact.brute_force(partial(ref_scores.bdeu, X), 4)
    assert est.score_ == pytest.approx(best, rel=1e-9)
    assert dag_to_cpdag(est.adjacency_).tobytes() in cpdag_set(optimal)


@pytest.mark.parametrize("seed", range(3))
def test_matches_python_dp(seed):
    data = gaussian_data(7, 500, seed, edges_per_node=2)
    est = ExactSearch().fit(data.X)
    score, A = ref_exact.exact_search(partial(ref_scores.gaussian_bic, data.X), 7)
    assert est.score_ == pytest.approx(score, rel=1e-9)
    # score-equivalent score: the optimum is a class; equal score => same class on generic data
    assert np.array_equal(dag_to_cpdag(est.adjacency_), dag_to_cpdag(A))


def test_result_attributes_are_consistent():
    data = gaussian_data(6, 400, 11)
    est = ExactSearch().fit(data.X)
    assert est.dag_.kind == "dag" and est.graph_.kind == "cpdag"
    assert np.array_equal(est.dag_.to_adjacency(), est.adjacency_)
    assert est.graph_ == est.dag_.to_cpdag()
    order = list(est.causal_order_)
    assert sorted(order) == list(range(6))
    pos = {v: k for k, v in enumerate(order)}
    for i, j in zip(*np.nonzero(est.adjacency_), strict=True):
        assert pos[i] < pos[j]
    assert est.n_local_scores_ == 6 * 2**5
    assert est.fit_time_ > 0 and est.memory_estimate_ == estimate_memory(6)
    assert 0 < est.local_scores_time_ and 0 < est.dp_time_
    assert est.local_scores_time_ + est.dp_time_ <= est.fit_time_
    assert fastcrl.ExactSearch is ExactSearch


# --------------------------------------------------------------------- fast path vs generic path


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("max_parents", [None, 0, 2])
def test_gaussian_path_equals_generic_local_scores(seed, max_parents):
    rng = np.random.default_rng(100 + seed)
    d = 9
    X = rng.normal(size=(200, d)) @ rng.normal(size=(d, d))  # strongly correlated columns
    s = GaussianBIC(X, penalty_discount=1.5)
    F, R, k = search_constraints(None, s.nodes, max_parents)
    fast = _core.exact_local_score_table(s._kernel, F, R, k, "gaussian")
    slow = _core.exact_local_score_table(s._kernel, F, R, k, "generic")
    finite = np.isfinite(slow)
    assert np.array_equal(finite, np.isfinite(fast))
    np.testing.assert_allclose(fast[finite], slow[finite], rtol=1e-10, atol=0)
    # every entry is the local score of the parent set it stands for (bit b: node b, or b+1 past j)
    for j in (0, 4, 8):
        others = [i for i in range(d) if i != j]
        for idx in rng.choice(2 ** (d - 1), size=5, replace=False):
            P = [others[b] for b in range(d - 1) if idx >> b & 1]
            if max_parents is not None and len(P) > max_parents:
                assert fast[j, idx] == -np.inf
            else:
                assert fast[j, idx] == pytest.approx(s.local_score(j, P), rel=1e-10)


@pytest.mark.parametrize("seed", range(2))
def test_gaussian_and_generic_search_agree(seed):
    data = gaussian_data(10, 1000, 20 + seed)
    a = ExactSearch(local_scores="gaussian").fit(data.X)
    b = ExactSearch(local_scores="generic").fit(data.X)
    assert a.gaussian_path_ and not b.gaussian_path_
    assert a.score_ == pytest.approx(b.score_, rel=1e-10)
    assert a.graph_ == b.graph_


# ------------------------------------------------------------------------------------ constraints


def constrained_brute_force(X, knowledge, max_parents, names):
    F, R, k = search_constraints(knowledge, names, max_parents)
    local = partial(ref_scores.gaussian_bic, X)
    return ref_exact.brute_force(local, len(names), F.astype(bool), R.astype(bool), k), (F, R, k)


@pytest.mark.parametrize("seed", range(3))
def test_forbidden_and_required_are_optimal_among_constrained(seed):
    data = gaussian_data(4, 300, 40 + seed)
    names = [f"X{i}" for i in range(4)]
    est0 = ExactSearch().fit(data.X)
    # forbid one edge of the unconstrained optimum and require an edge it lacks
    present = list(zip(*np.nonzero(est0.adjacency_), strict=True))
    absent = [
        (i, j)
        for i in range(4)
        for j in range(4)
        if i != j and not est0.adjacency_[i, j] and not est0.adjacency_[j, i]
    ]
    k = Knowledge(names=names)
    if present:
        k.forbid(names[present[0][0]], names[present[0][1]])
    if absent:
        k.require(names[absent[0][0]], names[absent[0][1]])
    est = ExactSearch(knowledge=k).fit(data.X)
    (best, optimal), (F, R, _) = constrained_brute_force(data.X, k, None, names)
    assert est.score_ == pytest.approx(best, rel=1e-9)
    A = est.adjacency_
    assert not np.any(A.astype(bool) & F.astype(bool))
    assert np.all(A[R.astype(bool)] == 1)
    assert any(np.array_equal(A, B) for B in optimal) or dag_to_cpdag(A).tobytes() in cpdag_set(
        optimal
    )
    assert est.score_ <= est0.score_ + 1e-9


def test_tiers_respected_and_optimal():
    data = gaussian_data(4, 400, 7)
    names = [f"X{i}" for i in range(4)]
    k = Knowledge(names=names).set_tiers([["X3"], ["X2", "X1"], ["X0"]])
    est = ExactSearch(knowledge=k).fit(data.X)
    (best, optimal), (F, _, _) = constrained_brute_force(data.X, k, None, names)
    assert est.score_ == pytest.approx(best, rel=1e-9)
    assert not np.any(est.adjacency_.astype(bool) & F.astype(bool))
    assert k.resolve(names).check_graph(est.adjacency_) == []


@pytest.mark.parametrize("max_parents", [0, 1, 2])
def test_max_parents_respected_and_optimal(max_parents):
    data = gaussian_data(4, 300, 3)
    names = [f"X{i}" for i in range(4)]
    est = ExactSearch(max_parents=max_parents).fit(data.X)
    assert est.adjacency_.sum(axis=0).max() <= max_parents
    (best, _), _ = constrained_brute_force(data.X, None, max_parents, names)
    assert est.score_ == pytest.approx(best, rel=1e-9)
    if max_parents == 0:
        assert est.adjacency_.sum() == 0


def test_max_parents_at_larger_d_against_python_dp():
    data = gaussian_data(8, 500, 5, edges_per_node=2)
    est = ExactSearch(max_parents=2).fit(data.X)
    score, _ = ref_exact.exact_search(partial(ref_scores.gaussian_bic, data.X), 8, max_parents=2)
    assert est.score_ == pytest.approx(score, rel=1e-9)
    assert est.adjacency_.sum(axis=0).max() <= 2


def test_knowledge_max_indegree_combines_with_max_parents():
    data = gaussian_data(6, 300, 8, edges_per_node=2.5)
    k = Knowledge(n_nodes=6, max_indegree=1)
    est = ExactSearch(knowledge=k, max_parents=3).fit(data.X)
    assert est.adjacency_.sum(axis=0).max() <= 1


def test_required_cycle_and_conflicts_rejected():
    X = gaussian_data(3, 100, 0, edges_per_node=1).X
    with pytest.raises(ValueError):
        Knowledge(n_nodes=3).require(0, 1).require(1, 2).require(2, 0)
    k = Knowledge(n_nodes=3).require(0, 1).require(2, 1)
    with pytest.raises(ValueError, match="required parents"):
        ExactSearch(knowledge=k, max_parents=1).fit(X)


# ------------------------------------------------------------------------------------ recovery


def test_recovers_true_cpdag_on_most_seeds():
    hits = 0
    for seed in range(10):  # 8 of 10 seeds recovered when written
        data = fastcrl.simulate.simulate_dataset(8, 10_000, edges_per_node=2, random_state=seed)
        est = ExactSearch().fit(data.X)
        hits += np.array_equal(dag_to_cpdag(est.adjacency_), dag_to_cpdag(data.B))
    assert hits >= 7


# ------------------------------------------------------------------------------------ memory


def test_estimate_memory_formula_and_errors():
    d = 20
    tables = (d * 2 ** (d - 1) + 2**d) * 8
    assert tables <= estimate_memory(d) <= tables * 1.01
    assert estimate_memory(25, 3) > 3e9
    assert ExactSearch.estimate_memory(10) == estimate_memory(10)
    with pytest.raises(ValueError):
        estimate_memory(0)
    with pytest.raises(TypeError):
        estimate_memory(3.5)


def test_memory_limit_raises_before_starting():
    X = gaussian_data(12, 100, 0).X
    need = estimate_memory(12)
    with pytest.raises(MemoryError, match=rf"{need} bytes.*1000 bytes"):
        ExactSearch(memory_limit=1000).fit(X)
    with pytest.raises(MemoryError, match="memory_limit"):
        ExactSearch(memory_limit="10KB").fit(X)
    ExactSearch(memory_limit=None).fit(X[:, :5])
    ExactSearch(memory_limit="1 GiB").fit(X[:, :5])


def test_parse_memory():
    assert parse_memory("8GB") == 8 * 10**9
    assert parse_memory("512MiB") == 512 * 2**20
    assert parse_memory(" 1.5 gib ") == int(1.5 * 2**30)
    assert parse_memory(2048) == 2048
    assert parse_memory(None) is None
    for bad in ["lots", "8 XB", "-1GB", "0", ""]:
        with pytest.raises(ValueError):
            parse_memory(bad)
    with pytest.raises(TypeError):
        parse_memory([8])
    with pytest.raises(TypeError):
        parse_memory(True)


# ------------------------------------------------------------------------------------ bad input


def test_bad_input_errors():
    X = gaussian_data(4, 100, 0).X
    with pytest.raises(ValueError, match="NaN"):
        Xn = X.copy()
        Xn[0, 0] = np.nan
        ExactSearch().fit(Xn)
    with pytest.raises(ValueError, match="2-D"):
        ExactSearch().fit(X[:, 0])
    with pytest.raises(ValueError, match="local_scores"):
        ExactSearch(local_scores="fast").fit(X)
    with pytest.raises(ValueError, match="Gaussian"):
        ExactSearch(local_scores="gaussian", score="bdeu").fit(discrete_data(3, 100, 0))
    with pytest.raises(ValueError, match="max_parents"):
        ExactSearch(max_parents=-1).fit(X)
    with pytest.raises(TypeError, match="max_parents"):
        ExactSearch(max_parents=1.5).fit(X)
    with pytest.raises(ValueError, match="unknown score"):
        ExactSearch(score="aic").fit(X)
    with pytest.raises(TypeError, match="knowledge"):
        ExactSearch(knowledge={"forbid": []}).fit(X)
    with pytest.raises(ValueError, match="at most 31 nodes"):
        ExactSearch().fit(np.random.default_rng(0).normal(size=(40, 32)))
    with pytest.raises(ValueError, match="X is required"):
        ExactSearch().fit()


def test_collinear_data_raises_numerical_error():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    X = np.c_[X, X[:, 0] + X[:, 1]]
    for method in ("gaussian", "generic"):
        with pytest.raises(fastcrl.NumericalError):
            ExactSearch(local_scores=method).fit(X)


def test_score_object_and_names():
    data = gaussian_data(5, 300, 2)
    s = GaussianBIC(data.X, names=list("abcde"))
    est = ExactSearch(score=s).fit()
    assert est.node_names_ == list("abcde") and est.dag_.nodes == tuple("abcde")
    est2 = ExactSearch().fit(data.X, names=list("abcde"))
    assert est2.score_ == pytest.approx(est.score_)
    b = BDeu(discrete_data(4, 200, 1))
    assert ExactSearch(score=b).fit().score_ == pytest.approx(
        ref_exact.brute_force(b.local_score, 4)[0], rel=1e-9
    )


def test_params_roundtrip_and_single_node():
    est = ExactSearch(max_parents=2, memory_limit="1GB")
    clone = type(est)(**est.get_params())
    assert clone.get_params() == est.get_params()
    one = ExactSearch().fit(np.random.default_rng(0).normal(size=(50, 1)))
    assert one.adjacency_.shape == (1, 1) and one.adjacency_.sum() == 0


def test_verbose_prints_progress(capsys):
    ExactSearch(verbose=True).fit(gaussian_data(5, 100, 0).X)
    err = capsys.readouterr().err
    assert "estimated memory" in err and "local scores" in err


# ------------------------------------------------------------------------------------ interrupt


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_ctrl_c_stops_quickly():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 19))
    main = threading.get_ident()
    timer = threading.Timer(0.3, lambda: signal.pthread_kill(main, signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        ExactSearch(local_scores="generic").fit(X)
    elapsed = time.perf_counter() - start
    timer.join()
    assert elapsed < 3.0


def test_deterministic():
    data = gaussian_data(9, 300, 4, edges_per_node=2)
    a = ExactSearch().fit(data.X)
    b = ExactSearch().fit(data.X)
    assert a.score_ == b.score_ and np.array_equal(a.adjacency_, b.adjacency_)


def test_all_dag_counts_small():
    # sanity of the brute-force reference itself: 25 DAGs on 3 nodes, 543 on 4
    for d, count in ((3, 25), (4, 543)):
        n = 0
        for bits in itertools.product([0, 1], repeat=d * (d - 1)):
            A = np.zeros((d, d), dtype=np.int8)
            A[~np.eye(d, dtype=bool)] = bits
            n += fastcrl.graph.is_dag(A)
        assert n == count
    _, optimal = ref_exact.brute_force(lambda j, P: 0.0, 3)
    assert len(optimal) == 25


def test_d14_exercises_blocked_transform_against_python_dp():
    # d - 1 = 13 bits > the 12 bits the C++ subset-max transform does in cache blocks
    data = gaussian_data(14, 500, 9, edges_per_node=1)
    est = ExactSearch(max_parents=1).fit(data.X)
    s = est.score_object_
    score, A = ref_exact.exact_search(s.local_score, 14, max_parents=1)
    assert est.score_ == pytest.approx(score, rel=1e-10)
    assert np.array_equal(dag_to_cpdag(est.adjacency_), dag_to_cpdag(A))


# ------------------------------------------- external (GPU-style) local scores, driven from Python


def _reference_filler(score, d, calls):
    """The GPU filler's structure (fill_row + rescore_on_cpu) with the NumPy twin of the kernels."""
    from fastcrl.exact import fill_row, rescore_on_cpu

    def fill(j, forbidden, required, limit, row):
        calls.append((j, forbidden, required, limit))
        assert row.shape == (1 << (d - 1),) and np.isneginf(row).all()  # preset by the search
        fill_row(
            lambda *family: ref_exact.subset_scores(score.local_score, d, *family, row),
            d, j, forbidden, required, limit,
        )
        rescore_on_cpu(score, j, row)

    return fill


def test_unrank_colex_enumerates_subsets_in_mask_order():
    for n in range(0, 7):
        for m in range(n + 1):
            sets = [ref_exact.unrank_colex(r, m, n) for r in range(math.comb(n, m))]
            masks = [sum(1 << c for c in s) for s in sets]
            assert masks == sorted(masks) and len(set(masks)) == len(masks)
            assert all(len(s) == m and all(0 <= c < n for c in s) for s in sets)


@pytest.mark.parametrize("max_parents", [None, 2])
def test_external_scores_reproduce_the_cpu_search(max_parents):
    data = gaussian_data(7, 400, 3)
    score = GaussianBIC(data.X)
    k = Knowledge(n_nodes=7).forbid(0, 1).forbid(5, 2).require(3, 4)
    names = list(score.nodes)
    forbidden, required, limit = search_constraints(k, names, max_parents)
    calls = []
    ext = _core.exact_search(
        score._kernel, forbidden, required, limit, "auto", None, _reference_filler(score, 7, calls)
    )
    cpu = _core.exact_search(score._kernel, forbidden, required, limit, "generic")
    assert ext["external_scores"] and not cpu["external_scores"]
    assert [c[0] for c in calls] == list(range(7))
    assert calls[1][1] == (1 << 1) | (1 << 0) and calls[4][2] == 1 << 3  # d-bit masks per node
    assert ext["n_local_scores"] == cpu["n_local_scores"]
    np.testing.assert_array_equal(ext["adjacency"], cpu["adjacency"])
    assert ext["score"] == pytest.approx(cpu["score"], rel=1e-12)
    table = _core.exact_local_score_table(score._kernel, forbidden, required, limit, "generic")
    row = np.full(1 << 6, -np.inf)
    _reference_filler(score, 7, [])(2, int(calls[2][1]), int(calls[2][2]), calls[2][3], row)
    np.testing.assert_allclose(row, table[2], rtol=1e-12)


def test_external_scores_undefined_family_raises_numerical_error():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    X[:, 3] = X[:, 0] + 2 * X[:, 1]  # node 3 is a function of {0, 1}
    score = GaussianBIC(X)
    forbidden, required, limit = search_constraints(None, list(score.nodes), None)

    def nan_filler(j, forbidden, required, limit, row):  # a kernel that flags every family
        row[:] = np.nan
        from fastcrl.exact import rescore_on_cpu

        rescore_on_cpu(score, j, row)

    with pytest.raises(fastcrl.NumericalError):
        _core.exact_search(score._kernel, forbidden, required, limit, "auto", None, nan_filler)

    def leaves_nan(j, forbidden, required, limit, row):
        row[:] = np.nan

    with pytest.raises(fastcrl.NumericalError, match="undefined"):
        _core.exact_search(score._kernel, forbidden, required, limit, "auto", None, leaves_nan)

    def fails(j, forbidden, required, limit, row):
        raise RuntimeError("device lost")

    with pytest.raises(RuntimeError, match="device lost"):
        _core.exact_search(score._kernel, forbidden, required, limit, "auto", None, fails)


def test_host_data_runs_on_the_cpu():
    est = ExactSearch().fit(gaussian_data(5, 300, 0).X)
    assert est.device_ == "cpu"
