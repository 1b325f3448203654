"""Tests for fastcrl.simulate: graphs, SEMs, Bayesian networks, interventions, diagnostics."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from fastcrl.simulate import (
    SimulatedDataset,
    linear_sem_covariance,
    r2_sortability,
    simulate_dag,
    simulate_dataset,
    simulate_discrete_bn,
    simulate_interventions,
    simulate_linear_sem,
    simulate_nonlinear_sem,
    simulate_weights,
    standardize,
    varsortability,
)
from hypothesis import given, settings
from hypothesis import strategies as st

CHAIN3 = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
CYCLE3 = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]])


def is_dag(A) -> bool:
    return nx.is_directed_acyclic_graph(
        nx.from_numpy_array(np.asarray(A) != 0, create_using=nx.DiGraph)
    )


def chain_weights(d: int, w: float = 1.0) -> np.ndarray:
    W = np.zeros((d, d))
    W[np.arange(d - 1), np.arange(1, d)] = w
    return W


def skewness(x):
    z = (x - x.mean()) / x.std()
    return float(np.mean(z**3))


def excess_kurtosis(x):
    z = (x - x.mean()) / x.std()
    return float(np.mean(z**4) - 3.0)


# ------------------------------------------------------------------------------------------
# simulate_dag
# ------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    d=st.integers(1, 25),
    frac=st.floats(0.0, 1.0),
    graph_type=st.sampled_from(["er", "sf"]),
    seed=st.integers(0, 2**31),
)
def test_dag_is_acyclic_with_exact_edge_count(d, frac, graph_type, seed):
    s = int(frac * d * (d - 1) // 2)
    A = simulate_dag(d, s, graph_type=graph_type, random_state=seed)
    assert A.shape == (d, d) and A.dtype == np.int8
    assert set(np.unique(A)) <= {0, 1}
    assert int(A.sum()) == s
    assert not np.any(np.diag(A))
    assert is_dag(A)


@pytest.mark.parametrize("graph_type", ["er", "sf"])
def test_dag_edges_per_node_and_complete_graph(graph_type):
    for k in (1, 2, 4):
        A = simulate_dag(30, graph_type=graph_type, edges_per_node=k, random_state=k)
        assert int(A.sum()) == 30 * k
    assert int(simulate_dag(12, graph_type=graph_type, random_state=0).sum()) == 12  # default k = 1
    d = 8
    full = simulate_dag(d, d * (d - 1) // 2, graph_type=graph_type, random_state=3)
    assert is_dag(full)
    assert np.array_equal(full + full.T, 1 - np.eye(d, dtype=np.int8))  # every pair, one direction
    assert simulate_dag(1, 0, graph_type=graph_type, random_state=0).tolist() == [[0]]
    assert int(simulate_dag(6, 0, graph_type=graph_type, random_state=0).sum()) == 0


def test_er_skeleton_uniform_and_order_random():
    d, s, reps = 5, 3, 3000
    rng = np.random.default_rng(7)
    skel = np.zeros((d, d))
    forward = 0
    for _ in range(reps):
        A = simulate_dag(d, s, graph_type="er", random_state=rng)
        skel += A + A.T
        forward += int(np.triu(A).sum())
    p = skel[np.triu_indices(d, 1)] / reps  # every pair has probability s / 10 = 0.3
    assert np.all(np.abs(p - 0.3) < 0.04), p
    assert abs(forward / (reps * s) - 0.5) < 0.03  # labels are permuted: i < j half the time


def test_sf_has_hubs_of_parents():
    er_max, sf_max, sf_out = [], [], []
    for seed in range(5):
        er = simulate_dag(300, graph_type="er", edges_per_node=2, random_state=seed)
        sf = simulate_dag(300, graph_type="sf", edges_per_node=2, random_state=seed)
        er_max.append(er.sum(axis=0).max())
        sf_max.append(sf.sum(axis=0).max())
        sf_out.append(sf.sum(axis=1).max())
    assert min(sf_max) > 2 * max(er_max)  # power-law in-degree vs binomial
    assert max(sf_out) <= 3  # each arriving node adds about k = 2 edges


def test_dag_deterministic_for_seed():
    a = simulate_dag(20, 30, graph_type="sf", random_state=11)
    b = simulate_dag(20, 30, graph_type="sf", random_state=11)
    c = simulate_dag(20, 30, graph_type="sf", random_state=12)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_dag_bad_inputs():
    with pytest.raises(ValueError, match="n_nodes must be >= 1"):
        simulate_dag(0)
    with pytest.raises(TypeError, match="n_nodes must be an integer"):
        simulate_dag(2.5)
    with pytest.raises(ValueError, match=r"n_edges must be <= .* = 10 .* got 11"):
        simulate_dag(5, 11)
    with pytest.raises(ValueError, match="n_edges must be >= 0"):
        simulate_dag(5, -1)
    with pytest.raises(TypeError, match="either n_edges or edges_per_node"):
        simulate_dag(5, 3, edges_per_node=1)
    with pytest.raises(ValueError, match="edges_per_node=3.0 asks for"):
        simulate_dag(5, edges_per_node=3)
    with pytest.raises(ValueError, match="edges_per_node must be >= 0"):
        simulate_dag(5, edges_per_node=-1)
    with pytest.raises(ValueError, match="unknown graph_type 'ba'"):
        simulate_dag(5, 2, graph_type="ba")
    with pytest.raises(ValueError, match="random_state"):
        simulate_dag(5, 2, random_state=-3)


# ------------------------------------------------------------------------------------------
# simulate_weights
# ------------------------------------------------------------------------------------------


def test_weights_support_and_ranges():
    A = simulate_dag(40, 120, random_state=0)
    W = simulate_weights(A, random_state=0)
    assert W.dtype == np.float64
    assert np.array_equal(W != 0, A == 1)
    w = W[A == 1]
    assert np.all((np.abs(w) >= 0.5) & (np.abs(w) <= 2.0))
    assert 0.4 < np.mean(w > 0) < 0.6  # each sign range picked with probability 1/2
    W2 = simulate_weights(A, (1.0, 3.0), random_state=1)  # a single (low, high) pair
    assert np.all((W2[A == 1] >= 1.0) & (W2[A == 1] <= 3.0))
    assert np.array_equal(W, simulate_weights(A, random_state=0))


def test_weights_bad_inputs():
    with pytest.raises(
        ValueError,
        match=r"A must be a DAG .* cycle (0 -> 1 -> 2 -> 0|1 -> 2 -> 0 -> 1|2 -> 0 -> 1 -> 2)",
    ):
        simulate_weights(CYCLE3)
    with pytest.raises(ValueError, match="cycle 1 -> 1"):
        simulate_weights(np.diag([0, 1, 0]))
    with pytest.raises(ValueError, match="square"):
        simulate_weights(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        simulate_weights(np.array([[0, np.nan], [0, 0]]))
    with pytest.raises(ValueError, match="low < high"):
        simulate_weights(CHAIN3, (2.0, 1.0))
    with pytest.raises(ValueError, match="pair"):
        simulate_weights(CHAIN3, (1.0, 2.0, 3.0))
    with pytest.raises(TypeError, match="weight_range"):
        simulate_weights(CHAIN3, "wide")


# ------------------------------------------------------------------------------------------
# simulate_linear_sem / linear_sem_covariance
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("noise", ["gaussian", "exponential", "laplace"])
def test_linear_sem_covariance_matches_population(noise):
    A = simulate_dag(6, 9, random_state=4)
    W = simulate_weights(A, random_state=4)
    scale = np.linspace(0.5, 1.5, 6)
    X = simulate_linear_sem(W, 200_000, noise=noise, noise_scale=scale, random_state=5)
    S = np.cov(X, rowvar=False)
    Sigma = linear_sem_covariance(W, noise=noise, noise_scale=scale)
    sd = np.sqrt(np.diag(Sigma))
    assert np.all(np.abs(S - Sigma) <= 0.03 * np.outer(sd, sd)), np.abs(S - Sigma).max()
    assert np.all(np.abs(X.mean(axis=0)) < 0.03 * sd)


def test_linear_sem_satisfies_structural_equations_exactly():
    A = simulate_dag(10, 20, random_state=8)
    W = simulate_weights(A, random_state=8)
    X = simulate_linear_sem(W, 5000, noise="uniform", noise_scale=0.7, random_state=8)
    E = X - X @ W  # the noise the sampler drew; uniform(-0.7, 0.7) is bounded
    assert np.abs(E).max() <= 0.7 + 1e-9
    assert np.abs(E).max() > 0.69
    C = np.corrcoef(E, rowvar=False)
    assert np.abs(C - np.eye(10)).max() < 0.06  # independent noise terms


@pytest.mark.parametrize(
    ("noise", "var", "skew", "kurt"),
    [
        ("gaussian", 1.0, 0.0, 0.0),
        ("exponential", 1.0, 2.0, 6.0),
        ("gumbel", np.pi**2 / 6, 1.1395, 2.4),
        ("uniform", 1.0 / 3.0, 0.0, -1.2),
        ("laplace", 2.0, 0.0, 3.0),
    ],
)
def test_noise_moments(noise, var, skew, kurt):
    s = 1.5
    X = simulate_linear_sem(np.zeros((3, 3)), 200_000, noise=noise, noise_scale=s, random_state=2)
    for x in X.T:
        assert abs(x.mean()) < 0.02 * s
        assert abs(x.var() / (var * s**2) - 1) < 0.05
        assert abs(skewness(x) - skew) < 0.1
        assert abs(excess_kurtosis(x) - kurt) < 0.1 + 0.15 * abs(kurt)  # heavy tails: noisier


def test_linear_sem_logistic_binary():
    W = np.array([[0.0, 3.0], [0.0, 0.0]])
    X = simulate_linear_sem(W, 40_000, noise="logistic", random_state=0)
    assert set(np.unique(X)) == {0.0, 1.0}
    assert abs(X[:, 0].mean() - 0.5) < 0.015  # sigmoid(0)
    assert abs(X[X[:, 0] == 1, 1].mean() - 1 / (1 + np.exp(-3))) < 0.015
    assert abs(X[X[:, 0] == 0, 1].mean() - 0.5) < 0.015


def test_linear_sem_deterministic_and_one_sample():
    W = simulate_weights(simulate_dag(5, 5, random_state=0), random_state=0)
    a = simulate_linear_sem(W, 10, random_state=3)
    assert np.array_equal(a, simulate_linear_sem(W, 10, random_state=3))
    assert not np.array_equal(a, simulate_linear_sem(W, 10, random_state=4))
    assert simulate_linear_sem(W, 1, random_state=0).shape == (1, 5)


def test_linear_sem_covariance_formula():
    W = chain_weights(3, 2.0)
    expected = np.array([[1.0, 2.0, 4.0], [2.0, 5.0, 10.0], [4.0, 10.0, 21.0]])
    assert np.allclose(linear_sem_covariance(W), expected)
    assert np.allclose(linear_sem_covariance(W, noise="uniform", noise_scale=3.0), 3.0 * expected)


def test_linear_sem_bad_inputs():
    with pytest.raises(ValueError, match="W must be a DAG"):
        simulate_linear_sem(CYCLE3 * 0.5, 10)
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        simulate_linear_sem(CHAIN3, 0)
    with pytest.raises(ValueError, match="unknown noise 'cauchy'"):
        simulate_linear_sem(CHAIN3, 10, noise="cauchy")
    with pytest.raises(ValueError, match="noise_scale must be > 0"):
        simulate_linear_sem(CHAIN3, 10, noise_scale=0.0)
    with pytest.raises(ValueError, match=r"noise_scale must be a scalar or have shape \(3,\)"):
        simulate_linear_sem(CHAIN3, 10, noise_scale=[1.0, 2.0])
    with pytest.raises(ValueError, match="noise_scale must be > 0 for every node"):
        simulate_linear_sem(CHAIN3, 10, noise_scale=[1.0, -2.0, 1.0])
    with pytest.raises(ValueError, match="logistic"):
        simulate_linear_sem(CHAIN3, 10, noise="logistic", noise_scale=2.0)
    with pytest.raises(ValueError, match="square"):
        simulate_linear_sem(np.zeros(3), 10)
    with pytest.raises(ValueError, match="unknown noise 'logistic'"):
        linear_sem_covariance(CHAIN3, noise="logistic")
    with pytest.raises(ValueError, match="W must be a DAG"):
        linear_sem_covariance(CYCLE3)


# ------------------------------------------------------------------------------------------
# simulate_nonlinear_sem
# ------------------------------------------------------------------------------------------

MECHANISMS = ["mlp", "mim", "sigmoid", "tanh", "sin", "quadratic"]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_nonlinear_sem_is_function_plus_noise(mechanism):
    # X1 = f(X0) + E1 with Var(E1) = 0.01: neighbours in X0 differ in X1 by noise only.
    A = np.array([[0, 1], [0, 0]])
    X = simulate_nonlinear_sem(A, 5000, mechanism=mechanism, noise_scale=[1.0, 0.1], random_state=1)
    y = X[np.argsort(X[:, 0]), 1]
    local_var = np.mean(np.diff(y) ** 2) / 2
    assert 0.8 < local_var / 0.01 < 2.0
    assert X[:, 1].var() > 5 * 0.01  # a real signal from the parent
    assert abs(X[:, 0].var() - 1.0) < 0.06  # the root is pure noise


def test_quadratic_mechanism_is_nonlinear():
    A = np.array([[0, 1], [0, 0]])
    X = simulate_nonlinear_sem(
        A, 5000, mechanism="quadratic", noise_scale=[1.0, 0.1], random_state=0
    )
    assert abs(np.corrcoef(X, rowvar=False)[0, 1]) < 0.1  # uncorrelated yet strongly dependent
    assert np.corrcoef(X[:, 0] ** 2, X[:, 1])[0, 1] ** 2 > 0.9


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_nonlinear_sem_deep_graph_stays_finite(mechanism):
    A = (chain_weights(30) != 0).astype(int)
    A[0, 5] = A[2, 9] = A[4, 20] = 1
    X = simulate_nonlinear_sem(A, 300, mechanism=mechanism, hidden_units=20, random_state=0)
    assert X.shape == (300, 30) and np.isfinite(X).all()
    assert X.var(axis=0).max() < 1e4
    again = simulate_nonlinear_sem(A, 300, mechanism=mechanism, hidden_units=20, random_state=0)
    assert np.array_equal(X, again)


def test_nonlinear_sem_roots_are_noise():
    X = simulate_nonlinear_sem(
        np.zeros((4, 4)), 2000, noise="uniform", noise_scale=0.5, random_state=0
    )
    assert np.abs(X).max() <= 0.5 and np.abs(X).max() > 0.49


def test_nonlinear_sem_bad_inputs():
    with pytest.raises(ValueError, match="unknown mechanism 'gp'"):
        simulate_nonlinear_sem(CHAIN3, 10, mechanism="gp")
    with pytest.raises(ValueError, match="unknown noise 'logistic'"):
        simulate_nonlinear_sem(CHAIN3, 10, noise="logistic")
    with pytest.raises(ValueError, match="hidden_units must be >= 1"):
        simulate_nonlinear_sem(CHAIN3, 10, hidden_units=0)
    with pytest.raises(ValueError, match="A must be a DAG"):
        simulate_nonlinear_sem(CYCLE3, 10)
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        simulate_nonlinear_sem(CHAIN3, 0)
    with pytest.raises(ValueError, match="noise_scale must be > 0"):
        simulate_nonlinear_sem(CHAIN3, 10, noise_scale=-1.0)


# ------------------------------------------------------------------------------------------
# simulate_discrete_bn
# ------------------------------------------------------------------------------------------


def test_discrete_bn_frequencies_match_cpts():
    A = np.zeros((4, 4), dtype=int)
    A[0, 2] = A[1, 2] = A[2, 3] = 1  # collider 0 -> 2 <- 1, then 2 -> 3
    card = [3, 2, 2, 4]
    n = 60_000
    X, cpts = simulate_discrete_bn(A, n, cardinalities=card, random_state=0)
    assert X.dtype == np.int64 and X.shape == (n, 4)
    assert [c.shape for c in cpts] == [(3,), (2,), (3, 2, 2), (2, 4)]
    for j, c in enumerate(card):
        assert X[:, j].min() >= 0 and X[:, j].max() <= c - 1
        assert np.allclose(cpts[j].sum(axis=-1), 1.0)
    assert np.abs(np.bincount(X[:, 0], minlength=3) / n - cpts[0]).max() < 0.01
    for a, b in itertools.product(range(3), range(2)):
        rows = (X[:, 0] == a) & (X[:, 1] == b)
        freq = np.bincount(X[rows, 2], minlength=2) / rows.sum()
        assert np.abs(freq - cpts[2][a, b]).max() < 4 / np.sqrt(rows.sum()) + 0.005
    for v in range(2):
        rows = X[:, 2] == v
        freq = np.bincount(X[rows, 3], minlength=4) / rows.sum()
        assert np.abs(freq - cpts[3][v]).max() < 4 / np.sqrt(rows.sum()) + 0.005


def test_discrete_bn_alpha_controls_determinism_and_seed():
    A = simulate_dag(8, 10, random_state=0)
    _, sharp = simulate_discrete_bn(A, 10, cardinalities=3, dirichlet_alpha=0.05, random_state=0)
    _, flat = simulate_discrete_bn(A, 10, cardinalities=3, dirichlet_alpha=100.0, random_state=0)
    assert np.mean([c.max(axis=-1).mean() for c in sharp]) > 0.85
    assert np.mean([c.max(axis=-1).mean() for c in flat]) < 0.45
    X1, _ = simulate_discrete_bn(A, 50, random_state=9)
    X2, _ = simulate_discrete_bn(A, 50, random_state=9)
    assert np.array_equal(X1, X2)


def test_discrete_bn_bad_inputs():
    with pytest.raises(ValueError, match="cardinalities must be >= 2"):
        simulate_discrete_bn(CHAIN3, 10, cardinalities=1)
    with pytest.raises(ValueError, match="every cardinality must be >= 2"):
        simulate_discrete_bn(CHAIN3, 10, cardinalities=[2, 1, 2])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        simulate_discrete_bn(CHAIN3, 10, cardinalities=[2, 2])
    with pytest.raises(TypeError, match="cardinalities"):
        simulate_discrete_bn(CHAIN3, 10, cardinalities=[2.5, 2, 2])
    with pytest.raises(ValueError, match="dirichlet_alpha must be > 0"):
        simulate_discrete_bn(CHAIN3, 10, dirichlet_alpha=0.0)
    with pytest.raises(ValueError, match="A must be a DAG"):
        simulate_discrete_bn(CYCLE3, 10)
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        simulate_discrete_bn(CHAIN3, 0)
    many = np.zeros((26, 26), dtype=int)
    many[:25, 25] = 1  # 2**25 parent configurations
    with pytest.raises(ValueError, match="node 25 has 25 parents"):
        simulate_discrete_bn(many, 10)


# ------------------------------------------------------------------------------------------
# simulate_interventions
# ------------------------------------------------------------------------------------------


def test_hard_intervention_cuts_incoming_edges():
    W = chain_weights(3, 1.5)
    X, env, Ws = simulate_interventions(
        W,
        20_000,
        targets=[[1]],
        intervention_shift=2.0,
        intervention_scale=0.5,
        return_weights=True,
        random_state=0,
    )
    assert np.bincount(env).tolist() == [20_000, 20_000]
    obs, do1 = X[env == 0], X[env == 1]
    assert abs(np.corrcoef(obs[:, 0], obs[:, 1])[0, 1]) > 0.7
    assert abs(np.corrcoef(do1[:, 0], do1[:, 1])[0, 1]) < 0.03  # target independent of its parent
    assert abs(do1[:, 1].mean() - 2.0) < 0.02 and abs(do1[:, 1].std() - 0.5) < 0.02
    slope = np.polyfit(do1[:, 1], do1[:, 2], 1)[0]  # the child's mechanism is unchanged
    assert abs(slope - 1.5) < 0.05
    assert np.array_equal(Ws[0], W)
    assert np.all(Ws[1][:, 1] == 0) and np.array_equal(
        np.delete(Ws[1], 1, axis=1), np.delete(W, 1, axis=1)
    )


def test_soft_intervention_resamples_weights_and_matches_covariance():
    A = simulate_dag(5, 7, random_state=3)
    W = simulate_weights(A, random_state=3)
    target = int(np.argmax(A.sum(axis=0)))  # a node with parents
    X, env, Ws = simulate_interventions(
        W,
        100_000,
        targets=[[target]],
        kind="soft",
        intervention_scale=2.0,
        return_weights=True,
        random_state=1,
    )
    Wsoft = Ws[1]
    assert np.array_equal(Wsoft != 0, W != 0)  # same graph
    assert not np.allclose(Wsoft[:, target], W[:, target])
    assert np.all(np.abs(Wsoft[A[:, target] == 1, target]) >= 0.5)
    assert np.array_equal(np.delete(Wsoft, target, axis=1), np.delete(W, target, axis=1))
    scale = np.ones(5)
    scale[target] = 2.0
    Sigma = linear_sem_covariance(Wsoft, noise_scale=scale)
    S = np.cov(X[env == 1], rowvar=False)
    sd = np.sqrt(np.diag(Sigma))
    assert np.all(np.abs(S - Sigma) <= 0.03 * np.outer(sd, sd))


def test_intervention_environments_layout():
    W = chain_weights(4)
    X, env = simulate_interventions(W, 10, random_state=0)  # default: obs + one per node
    assert X.shape == (50, 4) and np.bincount(env).tolist() == [10] * 5
    X, env = simulate_interventions(W, [5, 6, 7], targets=[[0], [], 3], random_state=0)
    assert np.bincount(env).tolist() == [5, 6, 7]  # the empty entry is the observational env
    X, env = simulate_interventions(
        W, [4, 8], targets=[[0, 2], [1]], observational=False, random_state=0
    )
    assert np.bincount(env).tolist() == [4, 8]
    a = simulate_interventions(W, 10, targets=[[1]], kind="soft", random_state=5)
    b = simulate_interventions(W, 10, targets=[[1]], kind="soft", random_state=5)
    assert np.array_equal(a[0], b[0])


def test_interventions_bad_inputs():
    W = chain_weights(3)
    with pytest.raises(ValueError, match=r"targets\[0\] has node indices outside \[0, 2\]"):
        simulate_interventions(W, 10, targets=[[3]])
    with pytest.raises(ValueError, match="lists a node twice"):
        simulate_interventions(W, 10, targets=[[1, 1]])
    with pytest.raises(ValueError, match=r"one size per environment \(3"):
        simulate_interventions(W, [10, 10], targets=[[0], [1]])
    with pytest.raises(ValueError, match="unknown kind 'perfect'"):
        simulate_interventions(W, 10, kind="perfect")
    with pytest.raises(ValueError, match="intervention_scale must be > 0"):
        simulate_interventions(W, 10, intervention_scale=0.0)
    with pytest.raises(TypeError, match="targets must be a sequence"):
        simulate_interventions(W, 10, targets="0")
    with pytest.raises(TypeError, match=r"targets\[0\]"):
        simulate_interventions(W, 10, targets=[[0.5]])
    with pytest.raises(ValueError, match="n_samples_per_env must be >= 1"):
        simulate_interventions(W, 0)
    with pytest.raises(ValueError, match="unknown noise 'logistic'"):
        simulate_interventions(W, 10, noise="logistic")
    with pytest.raises(ValueError, match="W must be a DAG"):
        simulate_interventions(CYCLE3, 10)
    with pytest.raises(ValueError, match="at least one environment"):
        simulate_interventions(W, 10, targets=[])


# ------------------------------------------------------------------------------------------
# simulate_dataset
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("graph_type", ["er", "sf"])
def test_simulate_dataset(graph_type):
    ds = simulate_dataset(12, 300, graph_type=graph_type, edges_per_node=2, random_state=0)
    assert isinstance(ds, SimulatedDataset)
    X, W, B = ds
    assert X.shape == (300, 12) and is_dag(B) and int(B.sum()) == 24
    assert np.array_equal(W != 0, B == 1)
    assert np.array_equal(X, simulate_dataset(12, 300, graph_type=graph_type, random_state=0).X)
    nl = simulate_dataset(
        12, 300, sem="nonlinear", mechanism="sin", standardized=True, random_state=0
    )
    assert (
        nl.W is None and np.allclose(nl.X.std(axis=0), 1.0) and np.allclose(nl.X.mean(axis=0), 0.0)
    )


def test_simulate_dataset_bad_inputs():
    with pytest.raises(ValueError, match="unknown sem 'discrete'"):
        simulate_dataset(5, 10, sem="discrete")
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        simulate_dataset(5, 0)
    with pytest.raises(ValueError, match="edges_per_node"):
        simulate_dataset(3, 10, edges_per_node=2)
    with pytest.raises(TypeError, match="standardized must be a bool"):
        simulate_dataset(5, 10, standardized="yes")


# ------------------------------------------------------------------------------------------
# standardize, varsortability, r2_sortability
# ------------------------------------------------------------------------------------------


def test_standardize():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, [1.0, 10.0, 0.1], size=(500, 3))
    Z = standardize(X)
    assert np.allclose(Z.mean(axis=0), 0.0) and np.allclose(Z.std(axis=0), 1.0)
    assert np.allclose(Z * X.std(axis=0) + X.mean(axis=0), X)
    assert standardize(X.astype(np.float32)).dtype == np.float32
    pd = pytest.importorskip("pandas")
    assert np.allclose(standardize(pd.DataFrame(X, columns=list("abc"))), Z)


def test_standardize_bad_inputs():
    with pytest.raises(ValueError, match=r"constant columns \[1\]"):
        standardize(np.array([[1.0, 2.0], [3.0, 2.0]]))
    with pytest.raises(ValueError, match="NaN or inf"):
        standardize(np.array([[1.0, np.nan], [3.0, 2.0]]))
    with pytest.raises(ValueError, match="2-D"):
        standardize(np.arange(5.0))
    with pytest.raises(ValueError, match="at least 2 samples"):
        standardize(np.ones((1, 3)))


def reference_sortability(scores, A, tol):
    """Brute force: for every pair (i, j) and every length k of a directed path i ~> j."""
    G = nx.from_numpy_array(np.asarray(A) != 0, create_using=nx.DiGraph)
    num = den = 0.0
    for i, j in itertools.permutations(range(len(scores)), 2):
        lengths = {len(p) - 1 for p in nx.all_simple_paths(G, i, j)}
        r = scores[j] / scores[i]
        credit = 1.0 if r > 1 + tol else (0.5 if r > 1 - tol else 0.0)
        num += credit * len(lengths)
        den += len(lengths)
    return num / den


def test_varsortability_chain_values():
    X = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    assert varsortability(X, CHAIN3) == 1.0
    assert varsortability(X[:, ::-1], CHAIN3) == 0.0
    assert varsortability(np.array([[0.0, 0, 0], [1, 1, 1]]), CHAIN3) == 0.5  # all ties
    # variances 1, 4, 1 along 0 -> 1 -> 2: pairs (0,1) up, (1,2) down, (0,2) tie
    assert varsortability(np.array([[0.0, 0, 0], [1, 2, 1]]), CHAIN3) == pytest.approx(0.5)
    assert varsortability(np.array([[0.0, 0, 0], [1, 2, 1.5]]), CHAIN3) == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", range(4))
def test_varsortability_matches_path_definition(seed):
    rng = np.random.default_rng(seed)
    A = simulate_dag(7, 10, random_state=seed)
    X = rng.normal(size=(50, 7)) * rng.choice([1.0, 2.0, 3.0], size=7)  # ties across columns
    X[:, 3] = X[:, 1] * (1 + 1e-12)  # a tie within tol
    v = varsortability(X, A)
    assert v == pytest.approx(reference_sortability(X.var(axis=0), A, 1e-9), abs=1e-12)
    X = rng.normal(size=(50, 7)) @ rng.normal(size=(7, 7))  # correlated, full rank
    r = r2_sortability(X, A)
    r2 = []
    for j in range(7):
        others = np.column_stack([np.ones(50), np.delete(X, j, axis=1)])
        resid = X[:, j] - others @ np.linalg.lstsq(others, X[:, j], rcond=None)[0]
        r2.append(1 - resid.var() / X[:, j].var())
    assert r == pytest.approx(reference_sortability(np.array(r2), A, 1e-9), abs=1e-12)


def test_sortability_on_simulated_and_standardized_data():
    X, W, B = simulate_dataset(15, 2000, edges_per_node=2, random_state=0)
    assert varsortability(X, B) > 0.85  # the well-known artefact of these benchmarks
    assert varsortability(standardize(X), B) == 0.5  # all variances tie
    scales = np.random.default_rng(1).uniform(0.1, 10, size=15)
    assert r2_sortability(X * scales, B) == pytest.approx(r2_sortability(X, B))
    assert varsortability(X * scales, W) != varsortability(X, W)


def test_sortability_bad_inputs():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match=r"A must have shape \(3, 3\)"):
        varsortability(X, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="no edges"):
        varsortability(X, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="constant columns"):
        varsortability(np.column_stack([X[:, :2], np.ones(20)]), CHAIN3)
    with pytest.raises(ValueError, match="tol must be >= 0"):
        varsortability(X, CHAIN3, tol=-1.0)
    with pytest.raises(ValueError, match="more samples than variables"):
        r2_sortability(X[:3], CHAIN3)
    with pytest.raises(ValueError, match="collinear"):
        r2_sortability(np.column_stack([X[:, :2], X[:, 0] + X[:, 1]]), CHAIN3)
    with pytest.raises(ValueError, match="no edges"):
        r2_sortability(X, np.zeros((3, 3)))
