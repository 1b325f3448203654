import json
import time

import fastcrl.graph as fg
import networkx as nx
import numpy as np
import pytest
from fastcrl.graph import Graph
from fastcrl.reference import graph as ref

# ------------------------------------------------------------------------------------------------
# Helpers: random graphs (fastcrl.simulate is written elsewhere; these stay tiny and local)
# ------------------------------------------------------------------------------------------------


def random_dag(rng, d, p):
    """Erdős–Rényi DAG on a random causal order, int8."""
    A = np.triu(rng.random((d, d)) < p, k=1)
    perm = rng.permutation(d)
    return A[np.ix_(perm, perm)].astype(np.int8)


def random_digraph(rng, d, p):
    """Any digraph without self-loops (cycles likely)."""
    A = rng.random((d, d)) < p
    np.fill_diagonal(A, False)
    return A.astype(np.int8)


def random_pdag(rng, d, p, q):
    """Directed edges of a random DAG, each pair made undirected with probability q (may have no
    consistent extension)."""
    S = random_dag(rng, d, p).astype(bool)
    U = np.triu(rng.random((d, d)) < q, k=1)
    U = (U | U.T) & (S | S.T)
    return (S | U).astype(np.int8)


def background_pdag(rng, dag, frac):
    """The CPDAG of ``dag`` with a fraction of its undirected edges oriented as in ``dag``."""
    P = fg.dag_to_cpdag(dag).copy()
    for i, j in np.argwhere(np.triu(P & P.T, k=1)):
        if rng.random() < frac:
            if dag[i, j]:
                P[j, i] = 0
            else:
                P[i, j] = 0
    return P


def covered_edges(A):
    """Edges x -> y with pa(y) = pa(x) + {x}; reversing one keeps the Markov equivalence class."""
    parents = [set(np.flatnonzero(A[:, v]).tolist()) for v in range(A.shape[0])]
    return [(x, y) for x, y in np.argwhere(A) if parents[y] == parents[x] | {x}]


def skel(A):
    return (A != 0) | (A != 0).T


def small_cases(rng, n, d_max):
    """Random (d, p) pairs plus the edge cases: d=1, no edges, complete DAG."""
    cases = [(1, 0.5), (2, 1.0), (5, 0.0), (6, 1.0)]
    cases += [(int(rng.integers(2, d_max + 1)), float(rng.uniform(0.05, 0.9))) for _ in range(n)]
    return cases


# ------------------------------------------------------------------------------------------------
# Directed-graph kernels vs reference
# ------------------------------------------------------------------------------------------------


def test_is_dag_topological_order_find_cycle_match_reference(rng):
    for d, p in small_cases(rng, 60, 40):
        for A in (random_dag(rng, d, p), random_digraph(rng, d, p / 3)):
            acyclic = ref.is_dag(A)
            assert fg.is_dag(A) == acyclic
            cycle = fg.find_cycle(A)
            assert (cycle is None) == acyclic
            if acyclic:
                np.testing.assert_array_equal(fg.topological_order(A), ref.topological_order(A))
            else:
                assert len(set(cycle)) == len(cycle)
                assert all(A[u, v] for u, v in zip(cycle, cycle[1:] + cycle[:1], strict=True))
                with pytest.raises(ValueError, match="cycle"):
                    fg.topological_order(A)


def test_topological_order_is_valid_on_weighted_input(rng):
    A = random_dag(rng, 30, 0.3) * rng.normal(size=(30, 30))
    order = fg.topological_order(A)
    pos = np.empty(30, int)
    pos[order] = np.arange(30)
    assert all(pos[i] < pos[j] for i, j in np.argwhere(A))
    assert sorted(order.tolist()) == list(range(30))


def test_self_loops_and_two_cycles_are_cycles():
    A = np.zeros((3, 3))
    A[1, 1] = 0.5
    assert not fg.is_dag(A) and fg.find_cycle(A) == [1]
    B = np.array([[0, 1], [1, 0]])
    assert not fg.is_dag(B) and sorted(fg.find_cycle(B)) == [0, 1]
    with pytest.raises(ValueError, match=r"cycle 1 -> 1"):
        fg.topological_order(A)


@pytest.mark.parametrize("reflexive", [False, True])
def test_transitive_closure_matches_reference(rng, reflexive):
    # d=150 gives 3 words per bitset row, so dense rows take the word path and sparse rows the list.
    for d, p in small_cases(rng, 20, 150):
        for A in (random_dag(rng, d, p), random_digraph(rng, d, p / 4)):
            R = fg.transitive_closure(A, reflexive=reflexive)
            assert R.dtype == bool
            np.testing.assert_array_equal(R, ref.transitive_closure(A, reflexive))
    assert fg.reachability is fg.transitive_closure


def test_v_structures_and_skeleton_match_reference(rng):
    for d, p in small_cases(rng, 30, 25):
        A = random_dag(rng, d, p)
        np.testing.assert_array_equal(fg.v_structures(A), ref.v_structures(A))
        P = random_pdag(rng, d, p, 0.5)
        np.testing.assert_array_equal(fg.v_structures(P), ref.v_structures(P))
        np.testing.assert_array_equal(fg.skeleton(P), skel(P).astype(np.int8))


# ------------------------------------------------------------------------------------------------
# CPDAG, Meek, consistent extension
# ------------------------------------------------------------------------------------------------


def test_dag_to_cpdag_matches_chickering_reference(rng):
    for d, p in small_cases(rng, 150, 25):
        A = random_dag(rng, d, p)
        C = fg.dag_to_cpdag(A)
        assert C.dtype == np.int8
        np.testing.assert_array_equal(C, ref.dag_to_cpdag(A))


def test_dag_to_cpdag_edge_cases():
    np.testing.assert_array_equal(fg.dag_to_cpdag(np.zeros((1, 1))), np.zeros((1, 1), np.int8))
    np.testing.assert_array_equal(fg.dag_to_cpdag(np.zeros((4, 4))), np.zeros((4, 4), np.int8))
    complete = np.triu(np.ones((7, 7), np.int8), k=1)
    np.testing.assert_array_equal(fg.dag_to_cpdag(complete), skel(complete).astype(np.int8))
    collider = np.zeros((3, 3))
    collider[0, 2] = collider[1, 2] = 1.5  # weighted input: nonzero is an edge
    np.testing.assert_array_equal(fg.dag_to_cpdag(collider), (collider != 0).astype(np.int8))


def test_cpdag_is_invariant_under_covered_edge_reversals(rng):
    n_reversals = 0
    for _ in range(40):
        d = int(rng.integers(3, 20))
        A = random_dag(rng, d, rng.uniform(0.1, 0.6))
        C = fg.dag_to_cpdag(A)
        B = A.copy()
        for _ in range(10):
            cov = covered_edges(B)
            if not cov:
                break
            x, y = cov[rng.integers(len(cov))]
            B[x, y], B[y, x] = 0, 1
            n_reversals += 1
            assert fg.is_dag(B)
            np.testing.assert_array_equal(fg.dag_to_cpdag(B), C)
        # Reversing an edge that is directed in the CPDAG leaves the class.
        compelled = np.argwhere(C & ~C.T)
        if compelled.size:
            x, y = compelled[0]
            B = A.copy()
            B[x, y], B[y, x] = 0, 1
            if fg.is_dag(B):
                assert not np.array_equal(fg.dag_to_cpdag(B), C)
    assert n_reversals > 100


def test_consistent_extension_of_cpdag_is_in_the_class(rng):
    for d, p in small_cases(rng, 80, 30):
        A = random_dag(rng, d, p)
        C = fg.dag_to_cpdag(A)
        D = fg.pdag_to_dag(C)
        assert fg.is_dag(D)
        np.testing.assert_array_equal(skel(D), skel(A))
        np.testing.assert_array_equal(fg.v_structures(D), fg.v_structures(A))
        assert np.all(D[(C == 1) & (C.T == 0)] == 1)  # directed edges kept
        np.testing.assert_array_equal(fg.dag_to_cpdag(D), C)
        assert fg.is_cpdag(C)
        np.testing.assert_array_equal(fg.meek_orient(C), C)  # a CPDAG is closed under the rules


def test_pdag_to_dag_matches_reference_on_random_pdags(rng):
    n_fail = n_ok = 0
    for d, p in small_cases(rng, 150, 14):
        P = random_pdag(rng, d, p, 0.5)
        try:
            expected = ref.pdag_to_dag(P)
        except ValueError:
            n_fail += 1
            with pytest.raises(ValueError, match="no consistent DAG extension"):
                fg.pdag_to_dag(P)
            continue
        n_ok += 1
        D = fg.pdag_to_dag(P)
        np.testing.assert_array_equal(D, expected)
        assert fg.is_dag(D)
        np.testing.assert_array_equal(fg.v_structures(D), fg.v_structures(P))
    assert n_fail > 5 and n_ok > 5


def test_meek_orient_matches_reference(rng):
    # CPDAGs with background orientations (the closure is the maximally oriented PDAG), and
    # arbitrary PDAGs that have a consistent extension.
    n_oriented = 0
    for d, p in small_cases(rng, 60, 12):
        A = random_dag(rng, d, p)
        P = background_pdag(rng, A, 0.3)
        M = fg.meek_orient(P)
        np.testing.assert_array_equal(M, ref.meek_orient(P))
        n_oriented += int((M != P).sum())
        np.testing.assert_array_equal(fg.meek_orient(M), M)  # idempotent
        assert np.all(M[(M == 1) & (M.T == 0)] == A[(M == 1) & (M.T == 0)])  # sound: agrees with A
        Q = random_pdag(rng, d, p, 0.6)
        try:
            ref.pdag_to_dag(Q)
        except ValueError:
            continue
        np.testing.assert_array_equal(fg.meek_orient(Q), ref.meek_orient(Q))
    assert n_oriented > 20


def test_meek_on_pattern_gives_cpdag(rng):
    # Skeleton with only the v-structures directed -> Meek closure is the CPDAG (Meek 1995).
    for _ in range(30):
        A = random_dag(rng, 20, 0.2)
        P = skel(A).astype(np.int8)
        for a, b, c in fg.v_structures(A):
            P[b, a] = P[b, c] = 0
        np.testing.assert_array_equal(fg.meek_orient(P), fg.dag_to_cpdag(A))


def _pdag(d, directed=(), undirected=()):
    P = np.zeros((d, d), np.int8)
    for i, j in directed:
        P[i, j] = 1
    for i, j in undirected:
        P[i, j] = P[j, i] = 1
    return P


@pytest.mark.parametrize(
    ("P", "edge"),
    [
        # R1: 0 -> 1 -- 2, 0 and 2 not adjacent.
        (_pdag(3, directed=[(0, 1)], undirected=[(1, 2)]), (1, 2)),
        # R2: 0 -> 1 -> 2 and 0 -- 2.
        (_pdag(3, directed=[(0, 1), (1, 2)], undirected=[(0, 2)]), (0, 2)),
        # R3: 0 -- 1 -> 3, 0 -- 2 -> 3, 1 and 2 not adjacent, 0 -- 3.
        (_pdag(4, directed=[(1, 3), (2, 3)], undirected=[(0, 1), (0, 2), (0, 3)]), (0, 3)),
        # R4: 0 -- 1 -> 2 -> 3, 0 -- 2, 1 and 3 not adjacent, 0 -- 3.
        (_pdag(4, directed=[(1, 2), (2, 3)], undirected=[(0, 1), (0, 2), (0, 3)]), (0, 3)),
    ],
    ids=["R1", "R2", "R3", "R4"],
)
def test_each_meek_rule(P, edge):
    i, j = edge
    M = fg.meek_orient(P)
    assert M[i, j] == 1 and M[j, i] == 0
    np.testing.assert_array_equal(M, ref.meek_orient(P))


def test_no_consistent_extension_is_a_clear_error():
    cycle4 = _pdag(4, undirected=[(0, 1), (1, 2), (2, 3), (3, 0)])  # chordless 4-cycle
    with pytest.raises(ValueError, match=r"no consistent DAG extension.*\[0, 1, 2, 3\]"):
        fg.pdag_to_dag(cycle4)
    assert not fg.is_cpdag(cycle4)
    with pytest.raises(ValueError, match="no consistent DAG extension"):
        Graph.from_adjacency(cycle4).to_dag()
    directed_cycle = _pdag(4, directed=[(0, 1), (1, 2), (2, 0)], undirected=[(2, 3)])
    with pytest.raises(ValueError, match=r"directed edges of A form the cycle 0 -> 1 -> 2 -> 0"):
        fg.pdag_to_dag(directed_cycle)
    with pytest.raises(ValueError, match=r"cycle 0 -> 1 -> 2 -> 0"):
        fg.meek_orient(directed_cycle)


def test_large_sparse_dag_is_fast_and_correct(rng):
    d = 1000
    A = random_dag(rng, d, 4.0 / d)  # about 2 edges per node
    fg.dag_to_cpdag(A[:50, :50])  # warm-up
    t0 = time.perf_counter()
    C = fg.dag_to_cpdag(A)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"dag_to_cpdag took {elapsed:.3f} s for d={d}"
    np.testing.assert_array_equal(C, ref.dag_to_cpdag(A))
    D = fg.pdag_to_dag(C)
    np.testing.assert_array_equal(fg.dag_to_cpdag(D), C)
    np.testing.assert_array_equal(fg.meek_orient(C), C)
    R = fg.transitive_closure(A)
    order = fg.topological_order(A)
    assert not R[order[-1]].any() and not R[:, order[0]].any()
    G = nx.DiGraph(A)
    for v in rng.choice(d, size=40, replace=False):
        assert set(np.flatnonzero(R[v]).tolist()) == nx.descendants(G, v)


def test_dense_large_graph(rng):
    d = 400
    A = random_dag(rng, d, 0.5)
    C = fg.dag_to_cpdag(A)
    np.testing.assert_array_equal(fg.dag_to_cpdag(fg.pdag_to_dag(C)), C)
    complete = np.triu(np.ones((d, d), np.int8), k=1)
    np.testing.assert_array_equal(fg.dag_to_cpdag(complete), skel(complete).astype(np.int8))
    assert fg.transitive_closure(complete).sum() == d * (d - 1) // 2


# ------------------------------------------------------------------------------------------------
# Bad input for the matrix functions
# ------------------------------------------------------------------------------------------------

_ALL = [
    fg.is_dag,
    fg.topological_order,
    fg.find_cycle,
    fg.transitive_closure,
    fg.skeleton,
    fg.v_structures,
    fg.dag_to_cpdag,
    fg.meek_orient,
    fg.pdag_to_dag,
    fg.is_cpdag,
]


@pytest.mark.parametrize("func", _ALL, ids=lambda f: f.__name__)
def test_bad_shapes_and_values(func):
    with pytest.raises(ValueError, match=r"A must be a square matrix \(d, d\); got shape \(2, 3\)"):
        func(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="square"):
        func(np.zeros((2, 2, 2), dtype=np.int8))
    with pytest.raises(ValueError, match="at least one node"):
        func(np.zeros((0, 0)))
    with pytest.raises(ValueError, match="NaN or inf"):
        func(np.array([[0.0, np.nan], [0.0, 0.0]]))
    with pytest.raises(TypeError, match="numeric"):
        func(np.array([["a", "b"], ["c", "d"]]))


@pytest.mark.parametrize(
    "func",
    [fg.skeleton, fg.v_structures, fg.dag_to_cpdag, fg.meek_orient, fg.pdag_to_dag, fg.is_cpdag],
    ids=lambda f: f.__name__,
)
def test_self_loops_rejected(func):
    A = np.zeros((3, 3), np.int8)
    A[2, 2] = 1
    with pytest.raises(ValueError, match=r"self-loops .* at nodes \[2\]"):
        func(A)


@pytest.mark.parametrize(
    "func", [fg.meek_orient, fg.pdag_to_dag, fg.is_cpdag], ids=lambda f: f.__name__
)
def test_pdag_functions_need_a_pattern(func):
    with pytest.raises(ValueError, match=r"0/1 adjacency pattern; got 0.5 at \(0, 1\).*A != 0"):
        func(np.array([[0.0, 0.5], [0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"got 2 at \(1, 0\)"):
        func(np.array([[0, 0], [2, 0]]))


def test_dag_required_names_the_cycle():
    A = np.zeros((4, 4))
    A[1, 2] = A[2, 3] = A[3, 1] = 0.7
    with pytest.raises(ValueError, match=r"A has the directed cycle 1 -> 2 -> 3 -> 1"):
        fg.dag_to_cpdag(A)
    with pytest.raises(ValueError, match=r"A has the directed cycle"):
        fg.dag_to_cpdag(np.array([[0, 1], [1, 0]]))


def test_accepts_bool_int_float_and_dataframe():
    pd = pytest.importorskip("pandas")
    A = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    expected = fg.dag_to_cpdag(A)
    for X in (
        A.astype(bool),
        A.astype(np.uint8),
        A.astype(np.float32),
        np.asfortranarray(A),
        pd.DataFrame(A),
    ):
        np.testing.assert_array_equal(fg.dag_to_cpdag(X), expected)
        np.testing.assert_array_equal(fg.pdag_to_dag(fg.dag_to_cpdag(X)), fg.pdag_to_dag(expected))


# ------------------------------------------------------------------------------------------------
# Graph
# ------------------------------------------------------------------------------------------------


def test_graph_basics():
    g = Graph(["a", "b", "c", "d"], [("a", "b"), ("c", "b", "->"), ("b", "d")])
    assert g.kind == "dag" and g.n_nodes == 4 and g.n_edges == 3
    assert g.nodes == ("a", "b", "c", "d")
    assert g.to_edges() == [("a", "b", "->"), ("b", "d", "->"), ("c", "b", "->")]
    assert list(g.edges()) == g.to_edges()
    assert g.parents("b") == ["a", "c"] and g.children("b") == ["d"] and g.neighbors("b") == []
    assert (
        g.ancestors("d") == ["a", "b", "c"]
        and g.descendants("a") == ["b", "d"]
        and g.ancestors("a") == []
    )
    assert g.adjacent("b") == ["a", "c", "d"]
    assert g.has_edge("a", "b") and not g.has_edge("b", "a") and g.has_edge(0, 1)
    assert g.v_structures() == [("a", "b", "c")]
    assert g.is_dag() and g.topological_order() == ["a", "c", "b", "d"]
    assert g.skeleton().to_edges() == [("a", "b", "--"), ("b", "c", "--"), ("b", "d", "--")]
    cp = g.to_cpdag()
    assert cp.kind == "cpdag" and cp.to_edges() == [
        ("a", "b", "->"),
        ("b", "d", "->"),
        ("c", "b", "->"),
    ]
    assert Graph(3).nodes == ("X0", "X1", "X2") and Graph(3).n_edges == 0


def test_graph_kinds_inferred_and_checked():
    chain = Graph(3, [("X0", "X1", "--"), ("X1", "X2", "--")])
    assert chain.kind == "cpdag"
    assert Graph(3, [("X0", "X1"), ("X1", "X2", "--")]).kind == "pdag"
    assert Graph(3, [("X0", "X1", "--")], kind="PDAG").kind == "pdag"
    with pytest.raises(
        ValueError, match=r"kind='dag' but the graph has 1 undirected edge\(s\), e.g. X0 -- X1"
    ):
        Graph(2, [("X0", "X1", "--")], kind="dag")
    with pytest.raises(ValueError, match=r"not a CPDAG: the edge X0 -> X1 is reversible"):
        Graph(2, [("X0", "X1")], kind="cpdag")
    with pytest.raises(
        ValueError, match=r"not a CPDAG: the edge X1 -- X3 is X1 -> X3 in every DAG"
    ):
        Graph(4, [("X0", "X1"), ("X2", "X1"), ("X1", "X3", "--")], kind="cpdag")
    with pytest.raises(ValueError, match="unknown kind 'tree'"):
        Graph(2, kind="tree")
    with pytest.raises(
        ValueError, match=r"form the cycle a -> b -> c -> a; a graph must be acyclic"
    ):
        Graph(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a")])


def test_graph_bad_construction():
    with pytest.raises(ValueError, match=r"unique; duplicated: \['a'\]"):
        Graph(["a", "a"])
    with pytest.raises(ValueError, match=r"unknown node 'z'"):
        Graph(["a", "b"], [("a", "z")])
    with pytest.raises(ValueError, match="self-loop a -> a"):
        Graph(["a", "b"], [("a", "a")])
    with pytest.raises(ValueError, match=r"more than one edge between b and a \(at \(.b., .a.\)\)"):
        Graph(["a", "b"], [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="unknown edge type '<->'"):
        Graph(["a", "b"], [("a", "b", "<->")])
    with pytest.raises(ValueError, match=r"\(src, dst\) or \(src, dst, type\)"):
        Graph(["a", "b"], [("a",)])
    with pytest.raises(ValueError, match="out of range"):
        Graph(2, [(0, 5)])
    with pytest.raises(ValueError, match="positive"):
        Graph(0)
    with pytest.raises(TypeError, match="int or a sequence"):
        Graph("abc")
    with pytest.raises(ValueError, match="one entry per edge"):
        Graph(2, [("X0", "X1")], weights=[1.0, 2.0])
    with pytest.raises(TypeError, match="name .* or a position"):
        Graph(2).parents(1.5)


def test_graph_algorithms_agree_with_matrix_functions(rng):
    for _ in range(20):
        A = random_dag(rng, 15, 0.3)
        g = Graph.from_adjacency(A)
        R = fg.transitive_closure(A)
        for v in range(15):
            assert g.descendants(v) == [g.nodes[i] for i in np.flatnonzero(R[v])]
            assert g.ancestors(v) == [g.nodes[i] for i in np.flatnonzero(R[:, v])]
        cp = g.to_cpdag()
        np.testing.assert_array_equal(cp.to_adjacency(), fg.dag_to_cpdag(A))
        dag = cp.to_dag()
        assert dag.kind == "dag" and dag.to_cpdag() == cp
        bk = Graph.from_adjacency(background_pdag(rng, A, 0.3), kind="pdag")
        np.testing.assert_array_equal(
            bk.meek_orient().to_adjacency(), fg.meek_orient(bk.to_adjacency())
        )
        assert bk.to_cpdag() == cp
        C = cp.to_adjacency()
        for v in range(15):
            assert cp.neighbors(v) == [cp.nodes[i] for i in np.flatnonzero(C[v] & C[:, v])]
            assert cp.parents(v) == [cp.nodes[i] for i in np.flatnonzero(C[:, v] & ~C[v])]
    with pytest.raises(ValueError, match="needs a DAG"):
        Graph(2, [("X0", "X1", "--")]).topological_order()


def test_adjacency_and_lingam_roundtrip(rng):
    W = random_dag(rng, 8, 0.4) * rng.uniform(0.5, 2.0, size=(8, 8))
    g = Graph.from_adjacency(W, names=list("abcdefgh"))
    assert g.kind == "dag" and g.nodes == tuple("abcdefgh")
    np.testing.assert_array_equal(g.to_adjacency(), (W != 0).astype(np.int8))
    np.testing.assert_array_equal(g.to_adjacency(weighted=True), W)
    np.testing.assert_array_equal(g.to_lingam(weighted=True), W.T)
    np.testing.assert_array_equal(g.to_lingam(), (W.T != 0).astype(np.int8))
    h = Graph.from_lingam(W.T, names=list("abcdefgh"))
    assert h == g
    assert Graph.from_adjacency(g.to_adjacency(), names=g.nodes) != g  # weights differ
    assert Graph.from_adjacency(g.to_adjacency(), names=g.nodes) == Graph.from_adjacency(
        W != 0, names=g.nodes
    )
    with pytest.raises(ValueError, match="no weights"):
        Graph(2).to_adjacency(weighted=True)
    with pytest.raises(ValueError, match=r"both directions between X0 and X1 \(0.5 and 0.7\)"):
        Graph.from_adjacency(np.array([[0, 0.5], [0.7, 0]]))
    with pytest.raises(ValueError, match="self-loops"):
        Graph.from_adjacency(np.eye(2))
    with pytest.raises(ValueError, match=r"B must be a square matrix"):
        Graph.from_lingam(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        Graph.from_adjacency(np.array([[0, np.inf], [0, 0]]))
    with pytest.raises(ValueError, match="one per column|one entry per column"):
        Graph.from_adjacency(np.zeros((2, 2)), names=["a"])


def test_dataframe_columns_become_names():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame([[0, 1], [0, 0]], columns=["rain", "wet"], index=["rain", "wet"])
    assert Graph.from_adjacency(df).to_edges() == [("rain", "wet", "->")]


def test_causallearn_encoding():
    # causal-learn: G[i, j] = -1 and G[j, i] = 1 means i -> j; -1/-1 is i -- j.
    M = np.array([[0, -1, 0], [1, 0, -1], [0, -1, 0]])  # X0 -> X1 -- X2
    g = Graph.from_causallearn(M)
    assert g.to_edges() == [("X0", "X1", "->"), ("X1", "X2", "--")]
    np.testing.assert_array_equal(g.to_causallearn(), M)

    class FakeGeneralGraph:  # duck-typed like causal-learn's GeneralGraph, which we do not import
        graph = M

        def get_node_names(self):
            return ["a", "b", "c"]

    assert Graph.from_causallearn(FakeGeneralGraph()).nodes == ("a", "b", "c")
    with pytest.raises(ValueError, match="circle marks"):
        Graph.from_causallearn(np.array([[0, 2], [1, 0]]))
    with pytest.raises(ValueError, match="bidirected edge 0 <-> 1"):
        Graph.from_causallearn(np.array([[0, 1], [1, 0]]))
    with pytest.raises(ValueError, match=r"mark at \(0, 1\) but none at \(1, 0\)"):
        Graph.from_causallearn(np.array([[0, -1], [0, 0]]))
    with pytest.raises(ValueError, match="endpoint marks -1, 0, 1; got 3"):
        Graph.from_causallearn(np.array([[0, 3], [-1, 0]]))


def test_causallearn_roundtrip_random(rng):
    for _ in range(10):
        cp = Graph.from_adjacency(random_dag(rng, 10, 0.4)).to_cpdag()
        G = cp.to_causallearn()
        assert set(np.unique(G)) <= {-1, 0, 1}
        np.testing.assert_array_equal(G != 0, G.T != 0)
        # A CPDAG without undirected edges would be inferred as a DAG, so pass the kind.
        assert Graph.from_causallearn(G, kind="cpdag") == cp
        assert Graph.from_causallearn(G).to_edges() == cp.to_edges()


def test_networkx_roundtrip():
    g = Graph(["a", "b", "c"], [("a", "b"), ("b", "c", "--")], weights=[2.0, -1.0])
    G = g.to_networkx()
    assert isinstance(G, nx.DiGraph) and G.graph["kind"] == "pdag"
    assert G["a"]["b"] == {"weight": 2.0}
    assert G["b"]["c"] == G["c"]["b"] == {"undirected": True, "weight": -1.0}
    assert Graph.from_networkx(G) == g
    undirected = Graph.from_networkx(nx.path_graph(3))
    assert (
        undirected.to_edges() == [("0", "1", "--"), ("1", "2", "--")] and undirected.kind == "cpdag"
    )
    two_cycle = nx.DiGraph([("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="2-cycle"):
        Graph.from_networkx(two_cycle)
    half = nx.DiGraph()
    half.add_edge("a", "b", undirected=True)
    with pytest.raises(ValueError, match="reverse arc is missing"):
        Graph.from_networkx(half)
    with pytest.raises(TypeError, match="multigraph"):
        Graph.from_networkx(nx.MultiDiGraph([("a", "b")]))
    with pytest.raises(TypeError, match="networkx"):
        Graph.from_networkx(np.zeros((2, 2)))


def test_edges_dot_json():
    g = Graph.from_edges([("x", 'say "hi"', "->"), ('say "hi"', "z", "--")])
    assert g.nodes == ("x", 'say "hi"', "z") and g.kind == "pdag"
    assert Graph.from_edges(g.to_edges(), g.nodes, kind="pdag") == g
    dot = g.to_dot()
    assert dot.startswith("digraph {") and dot.endswith("}")
    assert '"x" -> "say \\"hi\\"";' in dot and '"say \\"hi\\"" -> "z" [dir=none];' in dot
    text = g.to_json()
    doc = json.loads(text)
    assert doc == {
        "kind": "pdag",
        "nodes": ["x", 'say "hi"', "z"],
        "edges": [["x", 'say "hi"', "->"], ['say "hi"', "z", "--"]],
    }
    assert Graph.from_json(text) == g and Graph.from_json(doc) == g
    w = Graph(["a", "b"], [("a", "b")], weights=[0.25])
    assert json.loads(w.to_json())["weights"] == [0.25]
    assert Graph.from_json(w.to_json(indent=2)) == w
    assert 'label="0.25"' in w.to_dot()
    with pytest.raises(ValueError, match=r"missing \['kind', 'edges'\], unknown \['edge'\]"):
        Graph.from_json({"nodes": ["a"], "edge": []})
    with pytest.raises(ValueError, match="not valid JSON"):
        Graph.from_json("{nope")
    with pytest.raises(ValueError, match=r"\[src, dst, type\]"):
        Graph.from_json({"kind": "dag", "nodes": ["a", "b"], "edges": [["a", "b"]]})
    with pytest.raises(ValueError, match="kind='dag' but"):
        Graph.from_json({"kind": "dag", "nodes": ["a", "b"], "edges": [["a", "b", "--"]]})
    with pytest.raises(ValueError, match="give nodes="):
        Graph.from_edges([])


def test_eq_repr_copy():
    g = Graph(["a", "b"], [("a", "b")])
    assert g == g.copy() and g.copy() is not g
    assert g != Graph(["a", "b"], [("b", "a")]) and g != Graph(["b", "a"], [("b", "a")])
    assert g != Graph(["a", "b"], [("a", "b")], kind="pdag")
    assert repr(g) == "Graph(['a', 'b'], [('a', 'b', '->')], kind='dag')"
    assert eval(repr(g), {"Graph": Graph}) == g
    big = Graph.from_adjacency(np.triu(np.ones((20, 20)), k=1))
    assert repr(big) == "<Graph kind='dag' n_nodes=20 n_edges=190>"
    assert g.__eq__(1) is NotImplemented
    with pytest.raises(TypeError):
        hash(g)
    with pytest.raises(ValueError):  # immutable storage
        g._P[0, 1] = 0
    adjacency = g.to_adjacency()
    adjacency[0, 1] = 0
    assert g.has_edge("a", "b")
    # A one-byte 0/1 matrix is used without a copy, but the graph must not see later changes.
    source = np.array([[0, 1], [0, 0]], dtype=np.int8)
    h = Graph.from_adjacency(source)
    source[0, 1] = 0
    assert h.has_edge(0, 1)
    before = source.copy()
    fg.meek_orient(source), fg.pdag_to_dag(source), fg.dag_to_cpdag(source)
    np.testing.assert_array_equal(source, before)  # inputs are never written
