"""fastcrl.bootstrap_edges: edge frequencies over refits on resampled rows."""

from __future__ import annotations

import fastcrl
import numpy as np
import pytest
from fastcrl import Knowledge

pytestmark = pytest.mark.filterwarnings("ignore::fastcrl.ConvergenceWarning")


@pytest.fixture(scope="module")
def chain():
    """X0 -> X1 -> X2 -> X3 with strong edges, and X4 independent of everything."""
    rng = np.random.default_rng(0)
    n = 800
    X = np.empty((n, 5))
    X[:, 0] = rng.normal(size=n)
    for j in (1, 2, 3):
        X[:, j] = 0.9 * X[:, j - 1] + rng.normal(size=n)
    X[:, 4] = rng.normal(size=n)
    return X


def test_frequencies_find_the_chain_and_are_consistent(chain):
    freq = fastcrl.bootstrap_edges(fastcrl.GES(), chain, n_bootstrap=20, random_state=0)
    assert freq.n_bootstrap == 20 and freq.graphs.shape == (20, 5, 5)
    true = ((0, 1), (1, 2), (2, 3))
    for i, j in true:
        assert freq.adjacency[i, j] >= 0.95
    # chance edges: the bootstrap's duplicated rows add some (mean 0.07-0.10 over 100 refits)
    false = [(i, j) for i in range(5) for j in range(i + 1, 5) if (i, j) not in true]
    assert np.mean([freq.adjacency[p] for p in false]) <= 0.2
    # every pair's edge is directed one way, the other, or undirected
    np.testing.assert_allclose(
        freq.adjacency, freq.directed + freq.directed.T + freq.undirected, atol=1e-12
    )
    assert np.allclose(freq.adjacency, freq.adjacency.T)
    assert np.allclose(freq.undirected, freq.undirected.T)
    assert (np.diag(freq.adjacency) == 0).all()
    # a chain's CPDAG is undirected: GES reports its edges as "--" (oriented only in refits where
    # a chance edge makes a v-structure)
    top = freq.edges(0.6)
    chain_edges = {("X0", "X1"), ("X1", "X2"), ("X2", "X3")}
    assert {(a, b) for a, b, kind, _ in top if kind == "--"} == chain_edges
    assert [f for *_, f in top] == sorted((f for *_, f in top), reverse=True)


def test_consensus_graph(chain):
    freq = fastcrl.bootstrap_edges(fastcrl.DAGMA(), chain, n_bootstrap=6, random_state=0)
    A = freq.consensus(0.5)
    assert A.dtype == np.int8 and (np.diag(A) == 0).all()
    # an edge is kept iff it is adjacent in at least half the fits; directed iff one way is
    np.testing.assert_array_equal((A | A.T).astype(bool), freq.adjacency >= 0.5)
    for i, j in zip(*np.nonzero(A & ~A.T), strict=True):
        assert freq.directed[i, j] >= 0.5
    g = fastcrl.Graph.from_adjacency(A, names=freq.nodes)
    assert g.n_edges >= 3
    ges = fastcrl.bootstrap_edges(fastcrl.GES(), chain, n_bootstrap=6, random_state=0)
    C = ges.consensus(0.5)
    assert C[0, 1] == C[1, 0] == 1  # the chain's class leaves it undirected
    with pytest.raises(ValueError, match="threshold"):
        freq.consensus(0.0)


def test_reproducible_and_seeds_the_refits(chain):
    hc = fastcrl.HillClimb(restarts=2)
    a = fastcrl.bootstrap_edges(hc, chain, n_bootstrap=6, random_state=3)
    b = fastcrl.bootstrap_edges(hc, chain, n_bootstrap=6, random_state=3)
    np.testing.assert_array_equal(a.graphs, b.graphs)
    c = fastcrl.bootstrap_edges(hc, chain, n_bootstrap=6, random_state=4)
    assert not np.array_equal(a.graphs, c.graphs) or a.adjacency.sum() > 0
    assert hc.get_params()["random_state"] is None  # the estimator itself is left as it was
    assert not hasattr(hc, "adjacency_")


def test_equivalence_class_and_subsampling(chain):
    exact = fastcrl.ExactSearch()
    dags = fastcrl.bootstrap_edges(exact, chain, n_bootstrap=8, random_state=0)
    classes = fastcrl.bootstrap_edges(
        exact, chain, n_bootstrap=8, random_state=0, equivalence_class=True
    )
    np.testing.assert_array_equal(classes.adjacency, dags.adjacency)  # same skeletons
    # the DAGs orient the chain's edges arbitrarily; their classes leave them undirected (but for
    # refits where a chance edge makes a v-structure)
    assert classes.undirected[0, 1] >= 0.75 and classes.undirected[1, 2] >= 0.75
    assert classes.directed.sum() < dags.directed.sum()
    sub = fastcrl.bootstrap_edges(
        fastcrl.GES(), chain, n_bootstrap=5, sample_fraction=0.5, replace=False, random_state=0
    )
    assert sub.adjacency[1, 2] == 1.0


def test_knowledge_names_and_dataframes(chain):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(chain, columns=list("abcde"))
    knowledge = Knowledge().forbid("a", "b").forbid("b", "a")
    freq = fastcrl.bootstrap_edges(
        fastcrl.HillClimb(knowledge=knowledge), df, n_bootstrap=5, random_state=0
    )
    assert freq.nodes == tuple("abcde")
    assert freq.adjacency[0, 1] == 0.0  # forbidden in every refit
    dagma = fastcrl.bootstrap_edges(fastcrl.DAGMA(), chain, n_bootstrap=3, random_state=0)
    assert dagma.directed[0, 1] + dagma.directed[1, 0] == 1.0


def test_bad_input(chain):
    with pytest.raises(TypeError, match="fastcrl estimator"):
        fastcrl.bootstrap_edges(object(), chain)
    with pytest.raises(TypeError, match=r"an instance, e.g. GES\(\)"):
        fastcrl.bootstrap_edges(fastcrl.GES, chain)
    with pytest.raises(ValueError, match=r"X contains NaN or inf in columns \["):
        fastcrl.bootstrap_edges(
            fastcrl.GES(), np.where(chain > 3, np.nan, chain), n_bootstrap=2, random_state=0
        )
    with pytest.raises(ValueError, match="n_bootstrap"):
        fastcrl.bootstrap_edges(fastcrl.GES(), chain, n_bootstrap=0)
    for fraction in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="sample_fraction"):
            fastcrl.bootstrap_edges(fastcrl.GES(), chain, sample_fraction=fraction)
    with pytest.raises(ValueError, match="without replacement"):
        fastcrl.bootstrap_edges(fastcrl.GES(), chain, replace=False)
    with pytest.raises(TypeError, match="replace must be a bool"):
        fastcrl.bootstrap_edges(fastcrl.GES(), chain, replace="yes")
    with pytest.raises(ValueError, match="at least 2"):
        fastcrl.bootstrap_edges(fastcrl.GES(), chain[:3], sample_fraction=0.3)
    with pytest.raises(ValueError, match="2-D"):
        fastcrl.bootstrap_edges(fastcrl.GES(), chain[:, 0])
    with pytest.raises(ValueError, match="threshold"):
        fastcrl.bootstrap_edges(fastcrl.GES(), chain, n_bootstrap=1).edges(1.5)
    # a refit that fails names its resample: a column that a resample can make constant
    X = chain.copy()
    X[:, 4] = 0.0
    X[7, 4] = 1.0
    with pytest.raises(ValueError, match="bootstrap resample"):
        fastcrl.bootstrap_edges(fastcrl.GES(), X, n_bootstrap=30, random_state=0)
