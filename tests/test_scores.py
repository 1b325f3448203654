"""Decomposable structure scores: C++ kernels vs the NumPy reference, score equivalence,
decomposability, caching and input validation."""

import fastcrl
import numpy as np
import pytest
from fastcrl import scores
from fastcrl.reference import scores as ref


def _random_parent_sets(rng, d, count, max_k):
    out = []
    for _ in range(count):
        j = int(rng.integers(d))
        others = [i for i in range(d) if i != j]
        k = int(rng.integers(0, min(max_k, len(others)) + 1))
        out.append((j, rng.permutation(others)[:k].tolist()))
    return out


def _discrete_data(rng, n, card):
    """Categorical data with dependence: each column mixes a random earlier column in."""
    d = len(card)
    X = np.zeros((n, d), dtype=np.int64)
    for j in range(d):
        X[:, j] = rng.integers(0, card[j], size=n)
        if j:
            p = int(rng.integers(j))
            copy = rng.random(n) < 0.6
            X[copy, j] = X[copy, p] % card[j]
    X[: max(card)] = np.arange(max(card))[:, None] % np.asarray(card)  # every level occurs
    return X


def _gaussian_data(rng, n, d):
    X = rng.normal(size=(n, d))
    for j in range(1, d):
        X[:, j] += X[:, :j] @ (rng.normal(scale=0.8, size=j) * (rng.random(j) < 0.5))
    return X


def _close(a, b, rtol=1e-10):
    assert a == pytest.approx(b, rel=rtol, abs=rtol * 10)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n,d", [(50, 1), (200, 6), (30, 12)])
@pytest.mark.parametrize("penalty", [1.0, 2.5])
def test_gaussian_bic_matches_reference(seed, n, d, penalty):
    rng = np.random.default_rng(seed)
    X = _gaussian_data(rng, n, d)
    s = scores.GaussianBIC(X, penalty_discount=penalty)
    for j, P in _random_parent_sets(rng, d, 25, max_k=min(d - 1, 8)):
        _close(s.local_score(j, P), ref.gaussian_bic(X, j, P, penalty))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "n,card",
    [
        (300, [2, 3, 2, 4, 3]),  # small q r: dense counting
        (40, [5, 6, 7, 5, 6, 7, 5]),
    ],  # q r >> n: sort-based counting
)
@pytest.mark.parametrize("ess", [1.0, 10.0])
def test_discrete_scores_match_reference(seed, n, card, ess):
    rng = np.random.default_rng(seed)
    X = _discrete_data(rng, n, card)
    bdeu, bic = scores.BDeu(X, ess=ess), scores.DiscreteBIC(X)
    for j, P in _random_parent_sets(rng, len(card), 25, max_k=5):
        _close(bdeu.local_score(j, P), ref.bdeu(X, j, P, ess))
        _close(bic.local_score(j, P), ref.discrete_bic(X, j, P))


def test_batched_matches_single_and_runs_parallel(rng):
    X = _gaussian_data(rng, 100, 10)
    D = _discrete_data(rng, 100, [3] * 10)
    pairs = _random_parent_sets(rng, 10, 4000, max_k=4)  # large enough for the OpenMP path
    nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
    for s in (scores.GaussianBIC(X), scores.BDeu(D)):
        batch = s.local_scores(nodes, sets)
        assert batch.shape == (len(pairs),) and batch.dtype == np.float64
        s.clear_cache()
        single = np.array([s.local_score(j, P) for j, P in pairs[:200]])
        np.testing.assert_array_equal(batch[:200], single)
    assert scores.BDeu(D).local_scores([], []).shape == (0,)


# 0 -> 1, 1 -> 2, 0 -> 2, 2 -> 3; the edge 0 -> 1 is covered (pa(1) \ {0} == pa(0) == {}).
G1 = np.array([[0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
G2 = G1.copy()
G2[0, 1], G2[1, 0] = 0, 1
G3 = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])  # a chain ...
G4 = G3.T.copy()  # ... and its reverse: Markov equivalent


def _all_scores(rng):
    X = _gaussian_data(rng, 400, 4)
    D = _discrete_data(rng, 400, [2, 3, 3, 2])
    return [
        scores.GaussianBIC(X),
        scores.GaussianBIC(X, 3.0),
        scores.BGe(X),
        scores.BGe(X, iss_mu=4.0, iss_w=9.5, nu=[0.5, -1.0, 0.0, 2.0]),
        scores.BDeu(D),
        scores.BDeu(D, ess=7.5),
        scores.DiscreteBIC(D),
    ]


def test_score_equivalence(rng):
    for s in _all_scores(rng):
        for a, b in [(G1, G2), (G3, G4)]:
            assert s.score(a) == pytest.approx(s.score(b), rel=1e-9, abs=1e-9)
        assert s.score(G1) != pytest.approx(s.score(G3), rel=1e-9)


def test_decomposability_and_graph_input(rng):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_gaussian_data(rng, 200, 4), columns=["a", "b", "c", "d"])
    s = scores.GaussianBIC(X)
    assert s.nodes == ("a", "b", "c", "d")
    total = sum(s.local_score(j, np.flatnonzero(G1[:, j])) for j in range(4))
    _close(s.score(G1), total)
    _close(s.score(G1), ref.score(lambda j, P: ref.gaussian_bic(X.to_numpy(), j, P), G1))
    g = fastcrl.Graph.from_adjacency(G1, names=["a", "b", "c", "d"])
    _close(s.score(g), total)
    _close(s.local_score("c", ["a", "b"]), s.local_score(2, [1, 0]))
    with pytest.raises(ValueError, match="do not match"):
        s.score(fastcrl.Graph.from_adjacency(G1))
    with pytest.raises(ValueError, match="cycle"):
        s.score(G1 + G1.T)


def _counts(s):
    info = s.cache_info()
    return {k: info[k] for k in ("hits", "misses", "size")}


def test_cache_counts(rng):
    s = scores.BDeu(_discrete_data(rng, 100, [2, 3, 2]))
    assert _counts(s) == {"hits": 0, "misses": 0, "size": 0}
    a = s.local_score(0, [1, 2])
    assert _counts(s) == {"hits": 0, "misses": 1, "size": 1}
    assert s.local_score(0, [2, 1]) == a  # parent order is irrelevant
    s.local_scores([0, 0, 1], [[1, 2], [2], [0]])
    assert _counts(s) == {"hits": 2, "misses": 3, "size": 3}
    assert s.cache_info()["evictions"] == 0
    assert s.cache_info()["max_entries"] == s.cache_limit == 2**22
    s.clear_cache()
    assert _counts(s) == {"hits": 0, "misses": 0, "size": 0}


def test_cache_stays_within_its_limit_and_keeps_recent_scores(rng):
    s = scores.BDeu(_discrete_data(rng, 200, [2, 3] * 20))
    s.cache_limit = 256
    families = [(j, [p]) for j in range(40) for p in range(40) if p != j]
    first = s.local_scores([j for j, _ in families], [P for _, P in families])
    info = s.cache_info()
    assert info["size"] <= 256 and info["evictions"] >= len(families) - 256
    # evicted or not, every value is recomputed identically
    again = s.local_scores([j for j, _ in families], [P for _, P in families])
    np.testing.assert_array_equal(first, again)
    # the most recent insertion is still cached
    hits = s.cache_info()["hits"]
    s.local_score(*families[-1])
    assert s.cache_info()["hits"] == hits + 1
    with pytest.raises(ValueError, match="cache_limit"):
        s.cache_limit = 0
    with pytest.raises(TypeError, match="cache_limit"):
        s.cache_limit = 2.5


def test_gaussian_scores_cache_only_large_parent_sets(rng):
    X = rng.normal(size=(300, 20))
    for s in (scores.GaussianBIC(X), scores.BGe(X)):
        assert s.min_cached_parents == 16
        small = s.local_score(0, [1, 2, 3])
        assert s.local_score(0, [3, 2, 1]) == small
        assert s.cache_info()["size"] == 0  # recomputed: cheaper than a lookup
        big = list(range(1, 18))
        assert s.local_score(0, big) == s.local_score(0, big[::-1])
        info = s.cache_info()
        assert info["size"] == 1 and info["hits"] == 1
    assert scores.BDeu(_discrete_data(rng, 100, [2, 2])).min_cached_parents == 0


def test_gaussian_family_scores_match_fresh_fits(rng):
    """GES's Delete scan and turning phase score "parents without x" for every parent x and
    "parents with c" for every c from one factorisation."""
    d = 90
    X = rng.normal(size=(400, d)) @ (np.eye(d) + 0.3 * rng.normal(size=(d, d)))
    score = scores.GaussianBIC(X, penalty_discount=1.7)
    for k in (0, 1, 2, 9, 33, 80):
        parents = sorted(rng.choice(np.arange(1, d), k, replace=False).tolist())
        extra = [x for x in range(1, d) if x not in parents][:7]
        base, without, with_extra = score._kernel.family_scores(0, parents, extra)
        assert base == pytest.approx(score.local_score(0, parents), rel=1e-10)
        fresh = [score.local_score(0, [p for p in parents if p != x]) for x in parents]
        np.testing.assert_allclose(without, fresh, rtol=1e-10)
        fresh = [score.local_score(0, sorted(parents + [x])) for x in extra]
        np.testing.assert_allclose(with_extra, fresh, rtol=1e-10)
        if k:
            assert ref.gaussian_bic(X, 0, parents[1:], 1.7) == pytest.approx(without[0], rel=1e-10)
    # A parent that is a linear combination of others makes the full set singular: no scores,
    # as a fresh fit raises; an extra node collinear with the parents gets NaN.
    collinear = scores.GaussianBIC(np.column_stack([X[:, :20], X[:, 5] - 2 * X[:, 6]]))
    with pytest.raises(fastcrl.NumericalError):
        collinear.local_score(0, list(range(1, 21)))
    assert collinear._kernel.family_scores(0, list(range(1, 21))) is None
    _, _, with_extra = collinear._kernel.family_scores(0, list(range(1, 20)), [20])
    assert np.isnan(with_extra[0])
    with pytest.raises(ValueError, match="sorted"):
        collinear._kernel.family_scores(0, [3, 2])
    with pytest.raises(ValueError, match="not parents"):
        collinear._kernel.family_scores(0, [2, 3], [3])


def test_gaussian_bad_input(rng):
    X = rng.normal(size=(50, 3))
    with pytest.raises(ValueError, match="identical columns 0 and 3"):
        scores.GaussianBIC(np.c_[X, X[:, 0]])
    with pytest.raises(ValueError, match="constant"):
        scores.GaussianBIC(np.c_[X, np.ones(50)])
    with pytest.raises(ValueError, match="NaN"):
        scores.GaussianBIC(np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="at least 2 samples"):
        scores.GaussianBIC(X[:1])
    with pytest.raises(ValueError, match="penalty_discount"):
        scores.GaussianBIC(X, penalty_discount=-1)
    Y = np.c_[X, X[:, 0] + 2 * X[:, 1]]  # an exact linear function: likelihood unbounded
    with pytest.raises(fastcrl.NumericalError, match="linear function"):
        scores.GaussianBIC(Y).local_score(3, [0, 1])
    with pytest.raises(fastcrl.NumericalError, match="singular"):
        scores.GaussianBIC(Y).local_score(2, [0, 1, 3])


@pytest.mark.parametrize(
    "j,parents,match",
    [
        (0, [0], "own parent"),
        (0, [1, 1], "duplicates"),
        (0, [5], "out of range"),
        (3, [], "out of range"),
        (-1, [], "out of range"),
        (0, ["zz"], "unknown parent"),
    ],
)
def test_bad_parents(rng, j, parents, match):
    s = scores.DiscreteBIC(_discrete_data(rng, 30, [2, 2, 3]))
    with pytest.raises(ValueError, match=match):
        s.local_score(j, parents)
    with pytest.raises(ValueError, match=match):
        s.local_scores([j], [parents])


def test_discrete_bad_input(rng):
    D = _discrete_data(rng, 40, [2, 3, 2])
    with pytest.raises(ValueError, match="negative"):
        scores.BDeu(D - 1)
    with pytest.raises(ValueError, match="non-integer"):
        scores.BDeu(D + 0.5)
    with pytest.raises(ValueError, match="NaN"):
        scores.BDeu(np.where(D == 1, np.nan, D))
    with pytest.raises(ValueError, match="constant"):
        scores.DiscreteBIC(np.c_[D, np.zeros(40, int)])
    with pytest.raises(ValueError, match="at least 2 samples"):
        scores.BDeu(D[:1])
    with pytest.raises(TypeError, match="integer category codes"):
        scores.BDeu(D.astype(str))
    with pytest.raises(ValueError, match="ess"):
        scores.BDeu(D, ess=0)
    with pytest.raises(ValueError, match="exceed"):
        scores.BDeu(D, cardinalities=[2, 2, 2])
    huge = scores.BDeu(D, cardinalities=[2**31 - 2] * 3)
    with pytest.raises(ValueError, match="overflow"):
        huge.local_score(0, [1, 2])


def test_declared_cardinalities(rng):
    D = _discrete_data(rng, 60, [2, 3, 2])
    card = np.array([3, 4, 2])  # levels that never occur still count in q and r
    s = scores.BDeu(D, ess=2.0, cardinalities=card)
    _close(s.local_score(0, [1, 2]), ref.bdeu(D, 0, [1, 2], 2.0, card))
    _close(
        scores.DiscreteBIC(D, cardinalities=card).local_score(1, [0]),
        ref.discrete_bic(D, 1, [0], card),
    )


def test_levels_are_the_codes_that_occur(rng):
    """Relabelling categories never changes a score: 1-based codes, gaps and large codes score as
    the same data coded 0..r-1 (the observed levels, pgmpy's states); declared cardinalities keep
    the codes as they are."""
    D = _discrete_data(rng, 200, [3, 2, 4, 3])
    relabelled = D.copy()
    relabelled[:, 0] += 1  # 1..3
    relabelled[:, 1] *= 5  # {0, 5}
    relabelled[:, 2] = np.array([7, 9, 10**6, 3 * 10**9 // 2])[D[:, 2]]  # gapped, sparse, huge
    for cls in (scores.BDeu, scores.DiscreteBIC):
        a, b = cls(D), cls(relabelled)
        np.testing.assert_array_equal(b.cardinalities, [3, 2, 4, 3])
        ref_score = ref.bdeu if cls is scores.BDeu else ref.discrete_bic
        for j, parents in [(0, [1, 2]), (1, [0]), (2, [0, 1, 3]), (3, [])]:
            assert b.local_score(j, parents) == a.local_score(j, parents)
            _close(b.local_score(j, parents), ref_score(relabelled, j, parents))
    # the score of a DAG, and so every search, follows
    dag = np.zeros((4, 4), int)
    dag[0, 1] = dag[1, 2] = dag[0, 3] = 1
    assert scores.BDeu(relabelled).score(dag) == scores.BDeu(D).score(dag)
    assert np.array_equal(
        fastcrl.ExactSearch().fit(relabelled[:, :3]).adjacency_,
        fastcrl.ExactSearch().fit(D[:, :3]).adjacency_,
    )
    # declared: the unobserved level 0 of column 0 counts
    declared = scores.BDeu(relabelled[:, :2], cardinalities=[4, 6])
    np.testing.assert_array_equal(declared.cardinalities, [4, 6])
    _close(declared.local_score(0, [1]), ref.bdeu(relabelled[:, :2], 0, [1], 1.0, [4, 6]))


@pytest.mark.parametrize("ess", [1.0, 10.0, 3.5])
def test_against_pgmpy(rng, ess):
    """Our BDeu / DiscreteBIC equal pgmpy's local scores (ess passed explicitly: pgmpy's default
    is 10, ours 1); every code 0..r-1 occurs, so pgmpy's observed states are our levels."""
    pgmpy = pytest.importorskip("pgmpy.estimators")
    pd = pytest.importorskip("pandas")
    card = [2, 3, 3, 2, 4]
    D = pd.DataFrame(_discrete_data(rng, 300, card), columns=list("abcde"))
    bdeu, bic = scores.BDeu(D, ess=ess), scores.DiscreteBIC(D)
    pb = getattr(pgmpy, "BDeu", None) or pgmpy.BDeuScore
    pc = getattr(pgmpy, "BIC", None) or pgmpy.BicScore
    their_bdeu, their_bic = pb(D, equivalent_sample_size=ess), pc(D)
    pairs = [("a", []), ("b", ["a"]), ("c", ["a", "b"]), ("d", ["a", "b", "c"])]
    pairs += [
        (bdeu.nodes[j], [bdeu.nodes[p] for p in P]) for j, P in _random_parent_sets(rng, 5, 20, 4)
    ]
    for node, parents in pairs:
        _close(bdeu.local_score(node, parents), their_bdeu.local_score(node, parents))
        _close(bic.local_score(node, parents), their_bic.local_score(node, parents))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n,d", [(50, 1), (200, 6), (30, 12)])
@pytest.mark.parametrize(
    "params",
    [{}, {"iss_mu": 4.0, "iss_w": 30.5}, {"iss_mu": 0.3, "nu": "random"}],
    ids=["defaults", "iss", "nu"],
)
def test_bge_matches_reference(seed, n, d, params):
    rng = np.random.default_rng(seed)
    X = _gaussian_data(rng, n, d) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
    params = dict(params)
    if params.get("nu") == "random":
        params["nu"] = rng.normal(size=d)
    s = scores.BGe(X, **params)
    R = ref.bge_posterior_scale(X, params.get("iss_mu", 1.0), params.get("iss_w"), params.get("nu"))
    np.testing.assert_allclose(s.posterior_scale(), R, rtol=1e-12, atol=1e-9)
    pairs = _random_parent_sets(rng, d, 25, max_k=min(d - 1, 8))
    for j, P in pairs:
        _close(
            s.local_score(j, P),
            ref.bge(X, j, P, params.get("iss_mu", 1.0), params.get("iss_w"), params.get("nu")),
        )
    batch = s.local_scores([j for j, _ in pairs], [P for _, P in pairs])
    np.testing.assert_array_equal(batch, [s.local_score(j, P) for j, P in pairs])


def test_bge_defaults_and_decomposability(rng):
    X = _gaussian_data(rng, 300, 4)
    s = scores.BGe(X)
    assert s.iss_w is None and s.iss_w_used == 6.0 and s.prior_scale == 0.5  # bnlearn: d + 2
    assert scores.BGe(X, iss_mu=2.0, iss_w=9).prior_scale == pytest.approx(2.0 * 4 / 3)
    total = sum(s.local_score(j, np.flatnonzero(G1[:, j])) for j in range(4))
    _close(s.score(G1), total)
    # Decomposability of the marginal likelihood itself: the DAG score is log p(X) for the
    # complete DAG, which is the joint log marginal of all variables.
    full = np.triu(np.ones((4, 4), dtype=int), 1)
    _close(s.score(full), ref.bge_log_marginal(X, range(4)))
    # nu = the column means is the default (the mean term of R vanishes).
    _close(scores.BGe(X, nu=X.mean(axis=0)).score(G1), s.score(G1))
    # Data carry evidence: the true chain-like structure beats the empty graph.
    assert s.score(full) > s.score(np.zeros((4, 4)))
    # A constant column is allowed (R >= t I keeps every local score defined).
    Xc = np.c_[X, np.full(300, 2.0)]
    assert np.isfinite(scores.BGe(Xc).local_score(4, [0, 1]))


def test_bge_bad_input(rng):
    X = rng.normal(size=(50, 3))
    with pytest.raises(ValueError, match="NaN"):
        scores.BGe(np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="NaN or inf"):
        scores.BGe(np.where(X > 2, np.inf, X))
    with pytest.raises(ValueError, match="at least 2 samples"):
        scores.BGe(X[:1])
    with pytest.raises(ValueError, match="identical columns 0 and 3"):
        scores.BGe(np.c_[X, X[:, 0]])
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="iss_mu"):
            scores.BGe(X, iss_mu=bad)
    with pytest.raises(ValueError, match="iss_mu"):
        scores.BGe(X, iss_mu=np.inf)
    for bad in (1.0, 2.0, 3.0, 4.0):  # d - 1 (improper Wishart) .. d + 1 (t = 0)
        with pytest.raises(ValueError, match="iss_w"):
            scores.BGe(X, iss_w=bad)
    assert np.isfinite(scores.BGe(X, iss_w=4.01).local_score(0, [1, 2]))
    with pytest.raises(TypeError, match="iss_w"):
        scores.BGe(X, iss_w="5")
    with pytest.raises(ValueError, match="nu"):
        scores.BGe(X, nu=[0.0, 1.0])
    with pytest.raises(ValueError, match="nu"):
        scores.BGe(X, nu=[0.0, np.nan, 1.0])
    with pytest.raises(TypeError):
        scores.BGe(X, 1.0)  # the prior parameters are keyword-only
    s = scores.BGe(X)
    with pytest.raises(ValueError, match="own parent"):
        s.local_score(1, [1])
    with pytest.raises(ValueError, match="out of range"):
        s.local_scores([0], [[7]])
    # the C++ constructor checks too (for direct users of fastcrl._core)
    with pytest.raises(ValueError, match="iss_w"):
        fastcrl._core.BGeScore(X, 1.0, 4.0, None)


def test_gpu_formula_and_matrix_constructors(rng):
    """What the CUDA kernel evaluates -- constant[k] + log_det * log det M_PP + log_var[k] *
    log(M_jj - M_jP M_PP^-1 M_Pj) with the coefficients the Python side sends -- equals the CPU
    local scores; and the score kernels rebuilt from a matrix (the GPU path's CPU twin) agree."""
    X = _gaussian_data(rng, 150, 7) * 2.0 + 1.0
    for s, M, rebuilt in [
        (
            scores.GaussianBIC(X, 1.7),
            scores.GaussianBIC(X, 1.7).covariance(),
            lambda M: fastcrl._core.GaussianBICScore.from_covariance(M, 150, 1.7),
        ),
        (
            scores.BGe(X, iss_mu=2.0, iss_w=12.0, nu=np.arange(7.0)),
            scores.BGe(X, iss_mu=2.0, iss_w=12.0, nu=np.arange(7.0)).posterior_scale(),
            lambda M: fastcrl._core.BGeScore.from_posterior_scale(M, 150, 2.0, 12.0),
        ),
    ]:
        constant, log_var, log_det, rel_tol = s._gpu_coefficients(32)
        assert len(constant) == len(log_var) == 33 and rel_tol >= 0
        twin = rebuilt(M)
        for j, P in _random_parent_sets(rng, 7, 30, max_k=6):
            k = len(P)
            Mpp = M[np.ix_(P, P)]
            var = M[j, j] - (M[j, P] @ np.linalg.solve(Mpp, M[P, j]) if k else 0.0)
            logdet = np.linalg.slogdet(Mpp)[1] if k else 0.0
            _close(constant[k] + log_det * logdet + log_var[k] * np.log(var), s.local_score(j, P))
            assert twin.local_score(j, np.asarray(P, dtype=np.int64)) == s.local_score(j, P)
    with pytest.raises(ValueError, match="constant"):
        fastcrl._core.GaussianBICScore.from_covariance(np.zeros((2, 2)), 10, 1.0)
    with pytest.raises(ValueError, match="square"):
        fastcrl._core.BGeScore.from_posterior_scale(np.eye(3)[:2], 10, 1.0, 6.0)
    with pytest.raises(ValueError, match="iss_w"):
        fastcrl._core.BGeScore.from_posterior_scale(np.eye(3), 10, 1.0, 4.0)


def test_batched_index_and_name_paths_agree(rng):
    """Plain-int batches take a vectorised validation path, names the per-item one: same result."""
    X = _gaussian_data(rng, 80, 6)
    s = scores.BGe(X, names=list("abcdef"))
    pairs = _random_parent_sets(rng, 6, 300, max_k=5)
    nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
    by_index = s.local_scores(nodes, sets)
    by_name = s.local_scores([s.nodes[j] for j in nodes], [[s.nodes[p] for p in P] for P in sets])
    np.testing.assert_array_equal(by_index, by_name)
    arrays = s.local_scores(np.asarray(nodes).tolist(), [np.asarray(P, dtype=int) for P in sets])
    np.testing.assert_array_equal(by_index, arrays)
    for bad, match in [([[True]], "int index"), ([["zz"]], "unknown"), ([(1, 1)], "duplicates")]:
        with pytest.raises((ValueError, TypeError), match=match):
            s.local_scores([0], bad)
    with pytest.raises(TypeError, match="sequence"):
        s.local_scores([0], [3])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint16])
def test_batched_array_input_with_padding(rng, dtype):
    """2-D parent-set arrays (negative entries pad shorter rows) give the list path's scores."""
    X = _gaussian_data(rng, 80, 6)
    Z = rng.integers(0, 3, size=(120, 6))
    for s in (scores.GaussianBIC(X), scores.BGe(X), scores.BDeu(Z), scores.DiscreteBIC(Z)):
        pairs = _random_parent_sets(rng, 6, 200, max_k=4)
        nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
        pad = -1 if np.dtype(dtype).kind == "i" else None
        if pad is None:  # unsigned: equal sizes, no padding
            nodes, sets = [j for j, P in pairs if len(P) == 2], [P for P in sets if len(P) == 2]
        width = max(len(P) for P in sets)
        A = np.full((len(sets), width), -1 if pad is not None else 0, dtype=np.int64)
        for r, P in enumerate(sets):
            A[r, : len(P)] = P[::-1]  # order within a row does not matter
        got = s.local_scores(np.asarray(nodes, dtype=dtype), A.astype(dtype))
        np.testing.assert_array_equal(got, s.local_scores(nodes, sets))
    s = scores.GaussianBIC(X)
    empty = s.local_scores(np.array([2, 3]), np.zeros((2, 0), dtype=int))
    np.testing.assert_array_equal(empty, s.local_scores([2, 3], [[], []]))


def test_batched_array_input_errors(rng):
    s = scores.GaussianBIC(_gaussian_data(rng, 50, 5))
    nodes = np.array([0, 1, 2])
    for P, match in [
        ([[1, 2], [0, -1], [2, -1]], "own parent"),
        ([[1, 2], [3, 3], [0, -1]], "duplicates"),
        ([[1, 5], [0, -1], [0, -1]], "out of range"),
    ]:
        with pytest.raises(ValueError, match=match):
            s.local_scores(nodes, np.array(P))
    with pytest.raises(ValueError, match="out of range"):
        s.local_scores(np.array([0, 1, 7]), np.array([[1], [2], [3]]))
    with pytest.raises(ValueError, match="equal length"):
        s.local_scores(nodes, np.array([[1], [2]]))


def test_gaussian_bic_from_sufficient_statistics():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 5))
    X[:, 3] += 0.8 * X[:, 0] - 0.5 * X[:, 2]
    direct = scores.GaussianBIC(X, penalty_discount=2.0)
    S = np.cov(X, rowvar=False, ddof=0)
    stats = scores.GaussianBIC.from_covariance(S, 400, penalty_discount=2.0, names=list("abcde"))
    assert stats.nodes == tuple("abcde") and stats.n_samples == 400
    for j, P in [(3, []), (3, [0, 2]), (1, [0, 2, 3, 4])]:
        assert stats.local_score(j, P) == pytest.approx(direct.local_score(j, P), rel=1e-10)
    # an unbiased matrix shifts each node's scores by one constant: the same search result
    unbiased = scores.GaussianBIC.from_covariance(np.cov(X, rowvar=False), 400)
    a = fastcrl.GES(score=unbiased).fit(None)
    b = fastcrl.GES(score=scores.GaussianBIC(X)).fit(X)
    np.testing.assert_array_equal(a.adjacency_, b.adjacency_)
    with pytest.raises(ValueError, match="not symmetric"):
        scores.GaussianBIC.from_covariance(S + np.triu(np.full((5, 5), 0.1), 1), 400)
    with pytest.raises(ValueError, match="non-positive variance at column 2"):
        T = S.copy()
        T[2, :] = T[:, 2] = 0.0
        scores.GaussianBIC.from_covariance(T, 400)
    with pytest.raises(ValueError, match="n_samples must be >= 2"):
        scores.GaussianBIC.from_covariance(S, 1)
    with pytest.raises(ValueError, match="square"):
        scores.GaussianBIC.from_covariance(S[:3], 400)
    with pytest.raises(ValueError, match="rescale"):
        scores.GaussianBIC.from_covariance(S * 1e160, 400)


def test_bge_from_sufficient_statistics():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 4))
    X[:, 2] += X[:, 0] - 0.5 * X[:, 3]
    S, means = np.cov(X, rowvar=False, ddof=0), X.mean(axis=0)
    nu = np.array([0.5, -1.0, 0.0, 2.0])
    for kw in ({}, {"iss_mu": 3.0, "iss_w": 12.0}, {"iss_mu": 2.0, "nu": nu}):
        direct = scores.BGe(X, **kw)
        stats = scores.BGe.from_covariance(S, 300, means if "nu" in kw else None, **kw)
        np.testing.assert_allclose(stats.posterior_scale(), direct.posterior_scale(), rtol=1e-12)
        for j, P in [(2, []), (2, [0, 3]), (1, [0, 2, 3])]:
            assert stats.local_score(j, P) == pytest.approx(direct.local_score(j, P), rel=1e-10)
    with pytest.raises(ValueError, match="needs the data's column means"):
        scores.BGe.from_covariance(S, 300, nu=nu)
    with pytest.raises(ValueError, match="means must have one entry per column"):
        scores.BGe.from_covariance(S, 300, means[:3], nu=nu)
    with pytest.raises(ValueError, match="iss_w must be >"):
        scores.BGe.from_covariance(S, 300, iss_w=4.0)
    with pytest.raises(ValueError, match="non-positive variance"):
        scores.BGe.from_covariance(np.diag([1.0, 0.0, 1.0, 1.0]), 300)
