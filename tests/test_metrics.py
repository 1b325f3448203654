"""Tests for fastcrl.metrics: hand-computed cases, pair-by-pair and brute-force references."""

from __future__ import annotations

import itertools
import sys
import types

import numpy as np
import pytest
from scipy.stats import spearmanr

from fastcrl.metrics import (
    amari_distance,
    count_accuracy,
    linear_r2,
    mcc,
    shd,
    shd_cpdag,
    skeleton_precision_recall,
)

# ------------------------------------------------------------------------------------
# independent references
# ------------------------------------------------------------------------------------


def random_dag(d: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Random DAG: upper-triangular in a random order."""
    U = np.triu(rng.random((d, d)) < p, 1).astype(float)
    perm = rng.permutation(d)
    return U[np.ix_(perm, perm)]


def random_pdag(d: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Random PDAG: a DAG with some of its edges made undirected."""
    A = random_dag(d, p, rng)
    und = (A != 0) & (rng.random((d, d)) < 0.4)
    A[und.T] = 1.0
    return A


def pair_state(A: np.ndarray, i: int, j: int) -> str:
    a, b = A[i, j] != 0, A[j, i] != 0
    return {
        (False, False): "none",
        (True, False): "fwd",
        (False, True): "bwd",
        (True, True): "und",
    }[(a, b)]


def count_accuracy_loops(T: np.ndarray, E: np.ndarray) -> dict:
    """count_accuracy by explicit case analysis over unordered pairs."""
    d = T.shape[0]
    tp = rev = extra = missing = nnz = 0
    n_true = int((T != 0).sum())
    for i in range(d):
        for j in range(i + 1, d):
            t, e = pair_state(T, i, j), pair_state(E, i, j)
            if e != "none":
                nnz += 1
            if t == "none":
                extra += e != "none"
            elif e == "none":
                missing += 1
            elif e == "und" or e == t:
                tp += 1
            else:
                rev += 1
    cond_neg = d * (d - 1) // 2 - n_true
    prec = tp / nnz if nnz else 0.0
    rec = tp / n_true if n_true else 0.0
    return {
        "shd": extra + missing + rev,
        "tpr": rec,
        "fdr": (rev + extra) / nnz if nnz else 0.0,
        "fpr": (rev + extra) / cond_neg if cond_neg else 0.0,
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "nnz": nnz,
        "extra": extra,
        "missing": missing,
        "reversed": rev,
        "true_edges": n_true,
    }


def shd_loops(A: np.ndarray, B: np.ndarray) -> int:
    d = A.shape[0]
    return sum(
        pair_state(A, i, j) != pair_state(B, i, j) for i in range(d) for j in range(i + 1, d)
    )


def _is_acyclic(A: np.ndarray) -> bool:
    d = A.shape[0]
    M = (A != 0).astype(int)
    P = np.eye(d, dtype=int)
    for _ in range(d):
        P = np.minimum(P @ M, 1)
        if np.trace(P):
            return False
    return True


def _v_structures(A: np.ndarray) -> set:
    d = A.shape[0]
    out = set()
    for c in range(d):
        parents = np.flatnonzero(A[:, c])
        for a, b in itertools.combinations(parents, 2):
            if A[a, b] == 0 and A[b, a] == 0:
                out.add((min(a, b), max(a, b), c))
    return out


def cpdag_bruteforce(A: np.ndarray) -> np.ndarray:
    """CPDAG by enumerating every DAG with the same skeleton and v-structures (Verma-Pearl)."""
    A = (A != 0).astype(int)
    d = A.shape[0]
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d) if A[i, j] or A[j, i]]
    vs = _v_structures(A)
    members = []
    for bits in itertools.product((0, 1), repeat=len(pairs)):
        B = np.zeros_like(A)
        for (i, j), bit in zip(pairs, bits, strict=True):
            if bit:
                B[i, j] = 1
            else:
                B[j, i] = 1
        if _is_acyclic(B) and _v_structures(B) == vs:
            members.append(B)
    C = np.zeros((d, d))
    for i, j in pairs:
        fwd = {int(M[i, j]) for M in members}
        if fwd == {1}:
            C[i, j] = 1
        elif fwd == {0}:
            C[j, i] = 1
        else:
            C[i, j] = C[j, i] = 1
    return C


@pytest.fixture
def oracle_graph_module(monkeypatch):
    """Make ``fastcrl.graph.dag_to_cpdag`` the brute-force oracle for this test."""
    mod = types.ModuleType("fastcrl.graph")
    mod.dag_to_cpdag = cpdag_bruteforce
    monkeypatch.setitem(sys.modules, "fastcrl.graph", mod)
    return mod


# ------------------------------------------------------------------------------------
# count_accuracy
# ------------------------------------------------------------------------------------


def test_count_accuracy_hand_case_with_undirected_edges():
    T = np.zeros((4, 4))
    T[0, 1] = T[1, 2] = T[3, 2] = 1
    E = np.zeros((4, 4))
    E[0, 1] = E[1, 0] = 1  # undirected on a true edge: correct
    E[2, 1] = 1  # reversed
    E[0, 3] = 1  # extra directed
    E[0, 2] = E[2, 0] = 1  # extra undirected
    r = count_accuracy(T, E)  # 3 -> 2 is missing
    assert r == {
        "shd": 4,
        "tpr": pytest.approx(1 / 3),
        "fdr": pytest.approx(3 / 4),
        "fpr": pytest.approx(1.0),
        "precision": pytest.approx(1 / 4),
        "recall": pytest.approx(1 / 3),
        "f1": pytest.approx(2 / 7),
        "nnz": 4,
        "extra": 2,
        "missing": 1,
        "reversed": 1,
        "true_edges": 3,
    }
    assert all(isinstance(r[k], int) for k in ("shd", "nnz", "extra", "missing", "reversed"))


def test_count_accuracy_identical_and_empty():
    rng = np.random.default_rng(0)
    T = random_dag(7, 0.4, rng)
    r = count_accuracy(T, T)
    assert (r["shd"], r["tpr"], r["fdr"], r["f1"], r["fpr"]) == (0, 1.0, 0.0, 1.0, 0.0)
    assert r["nnz"] == r["true_edges"] == int(T.sum())
    e = count_accuracy(T, np.zeros_like(T))
    assert (e["nnz"], e["tpr"], e["precision"], e["f1"]) == (0, 0.0, 0.0, 0.0)
    assert e["missing"] == e["shd"] == int(T.sum())


def test_count_accuracy_reversed_graph():
    rng = np.random.default_rng(1)
    T = random_dag(8, 0.3, rng)
    n = int(T.sum())
    r = count_accuracy(T, T.T)
    assert n > 0
    assert r["reversed"] == r["shd"] == r["nnz"] == n
    assert (r["extra"], r["missing"], r["tpr"], r["fdr"], r["f1"]) == (0, 0, 0.0, 1.0, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_count_accuracy_matches_pairwise_reference(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 10))
    T = random_dag(d, 0.35, rng)
    for E in (random_dag(d, 0.35, rng), random_pdag(d, 0.35, rng)):
        got = count_accuracy(T, E)
        ref = count_accuracy_loops(T, E)
        assert got.keys() == ref.keys()
        for k in ref:
            assert got[k] == pytest.approx(ref[k]), k
        assert got["nnz"] == got["reversed"] + got["extra"] + round(got["tpr"] * got["true_edges"])


@pytest.mark.parametrize("seed", range(4))
def test_count_accuracy_shd_equals_shd_for_dags(seed):
    rng = np.random.default_rng(100 + seed)
    T, E = random_dag(9, 0.3, rng), random_dag(9, 0.3, rng)
    assert count_accuracy(T, E)["shd"] == shd(T, E)


def test_count_accuracy_weights_and_threshold():
    T = np.array([[0, 2.5, 0], [0, 0, -1.0], [0, 0, 0]])
    E = np.array([[0, 0.9, 0.2], [0, 0, -0.25], [0, 0, 0]])
    assert count_accuracy(T, E)["extra"] == 1  # 0.2 counts at threshold 0
    r = count_accuracy(T, E, threshold=0.3)  # drops 0.2 and -0.25
    assert (r["nnz"], r["extra"], r["missing"], r["shd"]) == (1, 0, 1, 1)
    # weighted truth: any non-zero is an edge; bool input works
    assert count_accuracy(T != 0, T)["shd"] == 0


def test_count_accuracy_bad_input():
    T = np.array([[0, 1], [0, 0]])
    with pytest.raises(ValueError, match="true and est must have the same shape"):
        count_accuracy(T, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="est must be a square matrix"):
        count_accuracy(T, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="est contains NaN"):
        count_accuracy(T, np.array([[0, np.nan], [0, 0]]))
    with pytest.raises(ValueError, match="true must have no self-loops"):
        count_accuracy(np.eye(2), T)
    with pytest.raises(ValueError, match="true must be a DAG"):
        count_accuracy(np.array([[0, 1], [1, 0]]), T)
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        count_accuracy(T, T, threshold=-0.1)
    with pytest.raises(TypeError, match="est must be numeric"):
        count_accuracy(T, np.array([["a", "b"], ["c", "d"]]))


# ------------------------------------------------------------------------------------
# shd
# ------------------------------------------------------------------------------------


def test_shd_hand_cases():
    a = np.array([[0, 1], [0, 0]])
    und = a + a.T
    empty = np.zeros((2, 2))
    assert shd(a, a) == 0
    assert shd(a, a.T) == 1 and shd(a, a.T, double_for_anticausal=True) == 2
    assert shd(a, und) == 1 and shd(a, und, double_for_anticausal=True) == 1
    assert shd(a, empty) == 1 and shd(a, empty, double_for_anticausal=True) == 1
    assert shd(und, empty) == 1 and shd(und, empty, double_for_anticausal=True) == 2
    # 3 nodes: chain 0 -> 1 -> 2 vs collider 0 -> 1 <- 2 plus extra 0 -> 2
    chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    coll = np.array([[0, 1, 1], [0, 0, 0], [0, 1, 0]])
    assert shd(chain, coll) == 2
    assert shd(chain, coll, double_for_anticausal=True) == 3


@pytest.mark.parametrize("seed", range(6))
def test_shd_reference_symmetry_triangle(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 9))
    A, B, C = (random_pdag(d, 0.4, rng) for _ in range(3))
    assert shd(A, B) == shd_loops(A, B) == shd(B, A)
    assert shd(A, A) == 0
    assert shd(A, C) <= shd(A, B) + shd(B, C)
    assert 0 <= shd(A, B) <= d * (d - 1) // 2
    assert shd(A, B, double_for_anticausal=True) == int(((A != 0) != (B != 0)).sum())
    assert shd(A, B) <= shd(A, B, double_for_anticausal=True) <= 2 * shd(A, B)


def test_shd_threshold_applies_to_est():
    T = np.array([[0, 1.0], [0, 0]])
    assert shd(T, np.array([[0, 0.05], [0, 0]]), threshold=0.1) == 1
    assert shd(T, np.array([[0, 0.5], [0, 0]]), threshold=0.1) == 0


def test_shd_bad_input():
    a = np.zeros((3, 3))
    with pytest.raises(ValueError, match="same shape"):
        shd(a, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="true must be a square matrix"):
        shd(np.zeros(3), a)
    with pytest.raises(ValueError, match="est contains NaN or inf"):
        shd(a, np.full((3, 3), np.inf))
    with pytest.raises(ValueError, match="est must have no self-loops"):
        shd(a, np.eye(3))
    with pytest.raises(TypeError, match="double_for_anticausal must be a bool"):
        shd(a, a, double_for_anticausal=1)


# ------------------------------------------------------------------------------------
# CPDAG oracle and shd_cpdag
# ------------------------------------------------------------------------------------


def test_cpdag_oracle_known_cases():
    chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(cpdag_bruteforce(chain), chain + chain.T)
    coll = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(cpdag_bruteforce(coll), coll)
    # a -> c <- b, c -> d: Meek rule 1 orients c -> d
    A = np.zeros((4, 4))
    A[0, 2] = A[1, 2] = A[2, 3] = 1
    np.testing.assert_array_equal(cpdag_bruteforce(A), A)


def test_shd_cpdag_with_oracle(oracle_graph_module):
    chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    fork = np.array([[0, 0, 0], [1, 0, 1], [0, 0, 0]])
    coll = np.array([[0, 1, 0], [0, 0, 0], [0, 1, 0]])
    assert shd_cpdag(chain, fork) == 0  # Markov equivalent
    assert shd_cpdag(chain, chain.T) == 0
    assert shd(chain, fork) == 1
    assert shd_cpdag(chain, coll) == 2  # two undirected vs two directed marks
    rng = np.random.default_rng(7)
    for _ in range(8):
        d = int(rng.integers(2, 6))
        T, E = random_dag(d, 0.5, rng), random_dag(d, 0.5, rng)
        expected = shd_loops(cpdag_bruteforce(T), cpdag_bruteforce(E))
        assert shd_cpdag(T, E) == shd_cpdag(E, T) == expected
        assert shd_cpdag(T, T) == 0


def test_shd_cpdag_bad_input(oracle_graph_module):
    dag = np.array([[0, 1], [0, 0]])
    with pytest.raises(ValueError, match="est_dag must be a DAG"):
        shd_cpdag(dag, dag + dag.T)
    with pytest.raises(ValueError, match="true_dag must be a DAG"):
        shd_cpdag(dag + dag.T, dag)
    with pytest.raises(ValueError, match="same shape"):
        shd_cpdag(dag, np.zeros((3, 3)))


def test_dag_to_cpdag_agrees_with_oracle():
    graph = pytest.importorskip("fastcrl.graph")
    rng = np.random.default_rng(11)
    for _ in range(25):
        d = int(rng.integers(1, 6))
        A = random_dag(d, 0.5, rng)
        C = np.asarray(graph.dag_to_cpdag(A))
        np.testing.assert_array_equal(C != 0, cpdag_bruteforce(A) != 0)
        assert shd_cpdag(A, A) == 0


# ------------------------------------------------------------------------------------
# skeleton
# ------------------------------------------------------------------------------------


def test_skeleton_precision_recall():
    T = np.zeros((4, 4))
    T[0, 1] = T[1, 2] = T[2, 3] = 1
    E = np.zeros((4, 4))
    E[1, 0] = 1  # right adjacency, wrong way
    E[1, 2] = E[2, 1] = 1  # undirected, right adjacency
    E[0, 3] = 1  # wrong
    r = skeleton_precision_recall(T, E)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 1, 1)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same shape"):
        skeleton_precision_recall(T, np.zeros((2, 2)))


# ------------------------------------------------------------------------------------
# mcc
# ------------------------------------------------------------------------------------


def mcc_bruteforce(zt: np.ndarray, ze: np.ndarray, method: str):
    dt, de = zt.shape[1], ze.shape[1]
    if method == "pearson":
        C = np.abs(np.corrcoef(zt.T, ze.T)[:dt, dt:])
    else:
        rho = np.atleast_2d(spearmanr(zt, ze).statistic)
        C = np.abs(rho if rho.shape == (1, 1) else rho[:dt, dt:])
    best, best_m = -1.0, None
    if dt <= de:
        for cols in itertools.permutations(range(de), dt):
            s = C[np.arange(dt), list(cols)].mean()
            if s > best + 1e-12:
                best, best_m = s, np.array(cols)
    else:
        for rows in itertools.permutations(range(dt), de):
            s = C[list(rows), np.arange(de)].mean()
            if s > best + 1e-12:
                best = s
                best_m = np.full(dt, -1)
                best_m[list(rows)] = np.arange(de)
    return best, best_m, C


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize(("d_true", "d_est"), [(1, 1), (3, 3), (4, 6), (6, 6), (5, 3)])
def test_mcc_matches_bruteforce(method, d_true, d_est):
    rng = np.random.default_rng(d_true * 10 + d_est)
    n = 300
    zt = rng.normal(size=(n, d_true))
    mix = rng.normal(size=(d_true, d_est))
    ze = np.tanh(zt @ mix) + 0.5 * rng.normal(size=(n, d_est))
    score, m = mcc(zt, ze, method, return_matching=True)
    ref, ref_m, C = mcc_bruteforce(zt, ze, method)
    assert score == pytest.approx(ref, abs=1e-10)
    assert m.shape == (d_true,) and m.dtype == np.int64
    rows = np.flatnonzero(m >= 0)
    assert rows.size == min(d_true, d_est)
    assert C[rows, m[rows]].mean() == pytest.approx(ref, abs=1e-10)
    assert mcc(zt, ze, method, matching=ref_m) == pytest.approx(ref, abs=1e-10)


def test_mcc_permutation_sign_scale_and_monotone():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(1000, 4))
    perm = np.array([2, 0, 3, 1])
    ze = z[:, perm] * np.array([-3.0, 0.5, 2.0, -1.0]) + 4.0
    score, m = mcc(z, ze, return_matching=True)
    assert score == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(m, np.argsort(perm))
    mono = np.exp(z[:, perm]) ** 3
    assert mcc(z, mono, "spearman") == pytest.approx(1.0, abs=1e-12)
    assert mcc(z, mono, "pearson") < 0.9
    assert mcc(z, rng.normal(size=(1000, 4))) < 0.15


def test_mcc_out_of_sample_matching_and_constant_column():
    rng = np.random.default_rng(4)
    z_tr, z_te = rng.normal(size=(500, 3)), rng.normal(size=(500, 3))
    _, m = mcc(z_tr, z_tr[:, [1, 2, 0]], return_matching=True)
    assert mcc(z_te, z_te[:, [1, 2, 0]], matching=m) == pytest.approx(1.0)
    assert mcc(z_te, z_te, matching=m) < 0.2  # wrong pairing is penalised, not re-optimised
    ze = np.column_stack([z_tr, np.ones(500)])  # collapsed extra dimension
    score, m2 = mcc(z_tr, ze, return_matching=True)
    assert score == pytest.approx(1.0) and m2.tolist() == [0, 1, 2]
    assert mcc(z_tr[:, :1], np.ones((500, 1))) == 0.0


def test_mcc_bad_input():
    z = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="unknown method 'kendall'"):
        mcc(z, z, "kendall")
    with pytest.raises(ValueError, match="same number of samples"):
        mcc(z, z[:10])
    with pytest.raises(ValueError, match="z_true must be 2-D"):
        mcc(z[:, 0], z)
    bad = z.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="z_est contains NaN or inf"):
        mcc(z, bad)
    with pytest.raises(ValueError, match="z_true has constant columns"):
        mcc(np.column_stack([z, np.ones(20)]), z)
    with pytest.raises(ValueError, match="one-to-one"):
        mcc(z, z, matching=[0, 0, 1])
    with pytest.raises(ValueError, match="shape"):
        mcc(z, z, matching=[0, 1])
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        mcc(z, z, matching=[0, 1, 3])
    with pytest.raises(ValueError, match="min\\(d_true, d_est\\) = 3 pairs"):
        mcc(z, z, matching=[0, 1, -1])
    with pytest.raises(TypeError, match="integer array"):
        mcc(z, z, matching=[0.0, 1.0, 2.0])


# ------------------------------------------------------------------------------------
# amari_distance
# ------------------------------------------------------------------------------------


def test_amari_hand_cases():
    assert amari_distance(np.array([[1.0, 0.5], [0.0, 1.0]])) == pytest.approx(0.25)
    assert amari_distance(np.ones((4, 4))) == pytest.approx(1.0)
    assert amari_distance(np.array([[0.0, -2.0, 0.0], [0.0, 0.0, 3.0], [0.5, 0.0, 0.0]])) == 0.0
    assert amari_distance(np.array([[-7.0]])) == 0.0


def test_amari_invariances_and_range():
    rng = np.random.default_rng(5)
    d, D = 4, 7
    A = rng.normal(size=(D, d))  # mixing x = A z
    W_exact = np.linalg.pinv(A)
    assert amari_distance(W_exact, A) == pytest.approx(0.0, abs=1e-12)
    W = rng.normal(size=(d, D))
    base = amari_distance(W, A)
    assert 0.0 < base < 1.0
    perm = rng.permutation(d)
    assert amari_distance(-W[perm], A) == pytest.approx(base, rel=1e-12)
    assert amari_distance(W, A[:, perm]) == pytest.approx(base, rel=1e-12)
    # row scaling of W keeps a perfect unmixing perfect
    S = np.diag([2.0, -1.0, 0.3, 5.0])[perm]
    assert amari_distance(S @ W_exact, A) == pytest.approx(0.0, abs=1e-12)
    assert amari_distance(W @ A) == pytest.approx(base, rel=1e-12)


def test_amari_bad_input():
    with pytest.raises(ValueError, match="all-zero row or column"):
        amari_distance(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="square product"):
        amari_distance(np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="W must be square"):
        amari_distance(np.ones((2, 3)))
    with pytest.raises(ValueError, match="A contains NaN"):
        amari_distance(np.ones((2, 2)), np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="non-empty 2-D matrix"):
        amari_distance(np.ones(3))


# ------------------------------------------------------------------------------------
# linear_r2
# ------------------------------------------------------------------------------------


def test_linear_r2_affine_and_single_regressor():
    rng = np.random.default_rng(6)
    z = rng.normal(size=(400, 3))
    M = rng.normal(size=(3, 5))
    assert linear_r2(z, z @ M - 1.0) == pytest.approx(1.0, abs=1e-10)
    # one regressor: R^2 equals the squared Pearson correlation
    x = z[:, :1] + 0.8 * rng.normal(size=(400, 1))
    r = np.corrcoef(z[:, 0], x[:, 0])[0, 1]
    assert linear_r2(z[:, :1], x) == pytest.approx(r**2, rel=1e-10)
    per = linear_r2(z, z[:, :1], multioutput="raw_values")
    assert per.shape == (3,) and per[0] == pytest.approx(1.0) and (per[1:] < 0.05).all()
    assert linear_r2(z, z[:, :1]) == pytest.approx(per.mean())


def test_linear_r2_held_out():
    rng = np.random.default_rng(8)
    M = rng.normal(size=(2, 2))
    z_tr, z_te = rng.normal(size=(200, 2)), rng.normal(size=(100, 2))
    e_tr = z_tr @ M + 0.3 * rng.normal(size=(200, 2))
    e_te = z_te @ M + 0.3 * rng.normal(size=(100, 2))
    got = linear_r2(z_tr, e_tr, z_true_test=z_te, z_est_test=e_te, multioutput="raw_values")
    X = np.column_stack([np.ones(200), e_tr])
    coef = np.linalg.solve(X.T @ X, X.T @ z_tr)
    pred = np.column_stack([np.ones(100), e_te]) @ coef
    ref = 1 - ((z_te - pred) ** 2).sum(0) / ((z_te - z_te.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    # a useless map scores below 0 out of sample
    assert linear_r2(z_tr, z_tr, z_true_test=z_te, z_est_test=-z_te) < 0


def test_linear_r2_bad_input():
    z = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match="both z_true_test and z_est_test"):
        linear_r2(z, z, z_true_test=z)
    with pytest.raises(ValueError, match="training dimensions"):
        linear_r2(z, z, z_true_test=z[:, :1], z_est_test=z)
    with pytest.raises(ValueError, match="same number of samples"):
        linear_r2(z, z[:5])
    with pytest.raises(ValueError, match="unknown multioutput"):
        linear_r2(z, z, multioutput="variance_weighted")
    with pytest.raises(ValueError, match="z_true has constant columns"):
        linear_r2(np.ones((30, 1)), z)
    with pytest.raises(TypeError, match="z_est must be real-valued"):
        linear_r2(z, z.astype(complex))


@pytest.mark.parametrize("scale", [1e-170, 1e-100, 1.0, 1e100, 1e200])
def test_scale_invariant_metrics_hold_at_extreme_magnitudes(scale):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 3))
    z_est = z[:, [2, 0, 1]] * np.array([2.0, -0.5, 3.0]) + 0.1 * rng.normal(size=(300, 3))
    assert mcc(z * scale, z_est * scale) == pytest.approx(mcc(z, z_est), rel=1e-12)
    assert mcc(z, z_est * scale) == pytest.approx(mcc(z, z_est), rel=1e-12)
    assert linear_r2(z * scale, z_est / scale) == pytest.approx(linear_r2(z, z_est), rel=1e-12)
    A = rng.normal(size=(3, 3))
    W = np.linalg.inv(A) + 0.01 * rng.normal(size=(3, 3))
    assert amari_distance(W * scale, A * scale) == pytest.approx(amari_distance(W, A), rel=1e-10)


def test_graph_metrics_take_fastcrl_graphs():
    import fastcrl

    data = fastcrl.simulate.simulate_dataset(6, 300, random_state=0)
    ges = fastcrl.GES().fit(data.X)
    dagma = fastcrl.DAGMA().fit(data.X)
    truth = fastcrl.Graph.from_adjacency(data.B)
    assert shd(truth, ges.graph_) == shd(data.B, ges.adjacency_)
    assert count_accuracy(data.B, dagma.graph_) == count_accuracy(data.B, dagma.weights_)
    assert skeleton_precision_recall(truth, dagma.graph_) == skeleton_precision_recall(
        data.B, dagma.adjacency_
    )
