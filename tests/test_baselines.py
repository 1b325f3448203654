import numpy as np
import pytest

import fastcrl
from fastcrl import simulate
from fastcrl.baselines import SortNRegress
from fastcrl.metrics import count_accuracy


def _is_dag(A):
    A = (np.asarray(A) != 0).astype(int)
    reach = A.copy()
    for _ in range(A.shape[0]):
        reach = ((reach + reach @ A) > 0).astype(int)
    return np.trace(reach) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sortnregress_recovers_varsortable_linear_sem(seed):
    # Raw-scale NOTEARS-style data are highly varsortable, where this baseline is known to do well.
    data = simulate.simulate_dataset(15, 2000, edges_per_node=1, random_state=seed)
    est = SortNRegress().fit(data.X)
    acc = count_accuracy(data.B, est.adjacency_)
    assert _is_dag(est.adjacency_)
    assert acc["tpr"] >= 0.8 and acc["fdr"] <= 0.35, acc
    # The learned order is a topological order of the learned graph.
    pos = np.argsort(est.causal_order_)
    src, dst = np.nonzero(est.adjacency_)
    assert np.all(pos[src] < pos[dst])


def test_sortnregress_fails_on_standardised_data_but_r2_variant_survives():
    # The point of the baseline: variance sorting exploits scale; standardising removes it.
    data = simulate.simulate_dataset(15, 3000, edges_per_node=1, standardized=True, random_state=3)
    acc_var = count_accuracy(data.B, SortNRegress(sort="var").fit(data.X).adjacency_)
    acc_raw = count_accuracy(
        data.B,
        SortNRegress(sort="var")
        .fit(simulate.simulate_dataset(15, 3000, edges_per_node=1, random_state=3).X)
        .adjacency_,
    )
    assert acc_raw["shd"] < acc_var["shd"]


def test_sortnregress_is_scale_invariant_with_r2_sort(rng):
    data = simulate.simulate_dataset(10, 2000, random_state=4)
    scales = rng.uniform(0.1, 10, size=10)
    a = SortNRegress(sort="r2").fit(data.X).adjacency_
    b = SortNRegress(sort="r2").fit(data.X * scales).adjacency_
    np.testing.assert_array_equal(a, b)


def test_sortnregress_honours_knowledge():
    data = simulate.simulate_dataset(8, 2000, edges_per_node=2, random_state=5)
    est = SortNRegress().fit(data.X)
    src, dst = map(int, np.argwhere(est.adjacency_)[0])
    absent = [
        (i, j)
        for i in range(8)
        for j in range(8)
        if i != j and not est.adjacency_[i, j] and not est.adjacency_[j, i]
    ][0]
    k = fastcrl.Knowledge(n_nodes=8).forbid(src, dst).require(*absent)
    est_k = SortNRegress(knowledge=k).fit(data.X)
    assert est_k.adjacency_[src, dst] == 0
    assert est_k.adjacency_[absent] == 1
    assert not k.resolve(8).check_graph(est_k.adjacency_)
    tiers = fastcrl.Knowledge(n_nodes=8).set_tiers(
        [list(est.causal_order_[4:]), list(est.causal_order_[:4])]
    )
    est_t = SortNRegress(knowledge=tiers).fit(data.X)
    assert set(est_t.causal_order_[:4]) == set(est.causal_order_[4:])
    assert not tiers.resolve(8).check_graph(est_t.adjacency_)
    capped = SortNRegress(knowledge=fastcrl.Knowledge(n_nodes=8, max_indegree=1)).fit(data.X)
    assert capped.adjacency_.sum(axis=0).max() <= 1


def test_sortnregress_dataframe_names_and_params():
    pd = pytest.importorskip("pandas")
    data = simulate.simulate_dataset(4, 500, edges_per_node=1, random_state=6)
    est = SortNRegress().fit(pd.DataFrame(data.X, columns=list("abcd")))
    assert est.node_names_ == ["a", "b", "c", "d"]
    assert est.get_params()["sort"] == "var"
    assert "sort='r2'" in repr(SortNRegress(sort="r2"))


def test_sortnregress_bad_input():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match="unknown sort"):
        SortNRegress(sort="magic").fit(X)
    with pytest.raises(ValueError, match="NaN"):
        SortNRegress().fit(np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="at least 3 samples"):
        SortNRegress().fit(X[:2])
    with pytest.raises(ValueError, match="constant columns"):
        SortNRegress().fit(np.c_[X, np.ones(50)])
    with pytest.raises(ValueError, match="n_lambdas must be >= 2"):
        SortNRegress(n_lambdas=1).fit(X)
    with pytest.raises(AttributeError, match="not fitted"):
        SortNRegress()._check_fitted()


@pytest.mark.parametrize("scale", [1e-150, 1e-60, 1e60, 1e150])
def test_sortnregress_is_invariant_to_a_common_scale(scale):
    ds = fastcrl.simulate.simulate_dataset(8, 500, random_state=0)
    base = fastcrl.SortNRegress().fit(ds.X)
    scaled = fastcrl.SortNRegress().fit(ds.X * scale)
    assert base.adjacency_.sum() > 10
    np.testing.assert_array_equal(scaled.adjacency_, base.adjacency_)
    np.testing.assert_allclose(scaled.weights_, base.weights_, rtol=1e-9, atol=1e-12)
