"""Bad input found by adversarial testing: each case gets a clear exception that names the
problem (or, for pandas' nullable dtypes, simply works)."""

from __future__ import annotations

import warnings

import fastcrl
import numpy as np
import pandas as pd
import pytest
from fastcrl import scores


def _data(n=60, d=4, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, d))
    X[:, 1] += X[:, 0]
    X[:, 2] += 0.5 * X[:, 1]
    return X


ESTIMATORS = [fastcrl.SortNRegress, fastcrl.NOTEARS, fastcrl.DAGMA, fastcrl.GES, fastcrl.HillClimb]


@pytest.mark.parametrize("make", ESTIMATORS)
@pytest.mark.parametrize("factor,what", [(1e160, "too large"), (1e-200, "too small")])
def test_magnitudes_beyond_float64_moments_ask_for_rescaling(make, factor, what):
    with pytest.raises(ValueError, match=f"column 0 .* is {what}.*rescale"):
        make().fit(_data() * factor)


def test_gaussian_scores_need_fourth_moments_but_sums_of_squares_do_not():
    X = _data() * 1e100  # squares fine, products of covariances overflow
    assert np.isfinite(fastcrl.covariance(X)).all()
    for make in (scores.GaussianBIC, scores.BGe):
        with pytest.raises(ValueError, match="too large: its moments overflow"):
            make(X)
    # the statistics functions check their result, not a prediction: float32 data up to ~1e18
    # (centred block by block) have a finite covariance, beyond it overflows
    with pytest.raises(ValueError, match="second moments overflow float64"):
        fastcrl.covariance(_data() * 1e300)
    assert np.isfinite(fastcrl.covariance((_data() * 1e18).astype(np.float32))).all()
    with pytest.raises(ValueError, match="second moments overflow float32"):
        fastcrl.covariance((_data() * 1e20).astype(np.float32))
    with pytest.raises(ValueError, match="second moments overflow"):
        fastcrl.stats.gram(_data() * 1e200)
    # scale-free uses are not refused: rank correlations, a tiny constant column where allowed
    Z = _data()
    assert fastcrl.metrics.mcc(Z, Z * 1e160, method="spearman") == pytest.approx(1.0)
    assert fastcrl.metrics.mcc(Z, Z * 1e-100) == pytest.approx(1.0)
    T = _data()
    T[:, 3] = 1e-80
    assert np.isfinite(scores.BGe(T).local_score(0, [1]))
    # a zero column is constant (not "too small"), and moderate scales are fine
    Z = _data()
    Z[:, 3] = 0.0
    with pytest.raises(ValueError, match="constant columns \\[3\\]"):
        fastcrl.GES().fit(Z)
    assert np.isfinite(fastcrl.GES().fit(_data() * 1e60).score_)


def test_pandas_nullable_columns():
    X = _data()
    frame = pd.DataFrame(X, columns=list("abcd")).astype("Float64")
    for make in (fastcrl.GES, fastcrl.NOTEARS, fastcrl.SortNRegress):
        assert make().fit(frame).node_names_ == list("abcd")
    frame.loc[3, "b"] = pd.NA
    for make in (fastcrl.GES, fastcrl.NOTEARS):
        with pytest.raises(ValueError, match="NaN or inf in columns \\[1\\]"):
            make().fit(frame)
    codes = pd.DataFrame(np.random.default_rng(1).integers(0, 3, (200, 3)), columns=list("xyz"))
    est = fastcrl.GES().fit(codes.astype("Int64"))
    assert type(est.score_object_).__name__ == "BDeu"  # nullable integers are still codes
    missing = codes.astype("Int64")
    missing.loc[2, "y"] = pd.NA
    with pytest.raises(ValueError, match="NaN"):
        fastcrl.GES(score="bdeu").fit(missing)


def test_prior_sizes_beyond_their_precision():
    D = np.random.default_rng(0).integers(0, 3, (100, 4))
    assert np.isfinite(scores.BDeu(D, ess=scores.MAX_PRIOR_SIZE).local_score(0, [1]))
    with pytest.raises(ValueError, match="ess must be <="):
        scores.BDeu(D, ess=1e16)
    with pytest.raises(ValueError, match="iss_w must be <="):
        scores.BGe(_data(), iss_w=1e17)
    with pytest.raises(ValueError, match="iss_mu must be <="):
        scores.BGe(_data(), iss_mu=1e17)


def test_argument_types():
    X = _data()
    for make in (fastcrl.GES, fastcrl.HillClimb, fastcrl.ExactSearch):
        with pytest.raises(TypeError, match="score_params must be a dict"):
            make(score_params="bic").fit(X)
    for make in ESTIMATORS:
        with pytest.raises(TypeError, match="knowledge must be a fastcrl.Knowledge"):
            make(knowledge={"forbid": [(0, 1)]}).fit(X)
    s = scores.GaussianBIC(X)
    with pytest.raises(ValueError, match="cache_limit must be between"):
        s.cache_limit = 2**70


def test_ges_warns_once_about_its_own_result():
    X = np.random.default_rng(0).standard_normal((12, 30))  # d > n: chance parents everywhere
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fastcrl.GES(score_params={"penalty_discount": 0.5}).fit(X)
    sample_size = [w for w in caught if issubclass(w.category, fastcrl.SampleSizeWarning)]
    assert sample_size and all(str(w.message).startswith("GES") for w in sample_size)


def test_covariance_input_must_be_symmetric_and_simulations_finite():
    with pytest.raises(ValueError, match="cov is not symmetric"):
        fastcrl.correlation(cov=np.array([[1.0, 0.5], [0.1, 1.0]]))
    # rounding of a float32 product is not asymmetry
    rng = np.random.default_rng(0)
    A = rng.standard_normal((50, 50)).astype(np.float32)
    S = A @ np.diag(rng.uniform(1, 2, 50).astype(np.float32)) @ A.T
    assert np.isfinite(fastcrl.correlation(cov=S)).all()
    np.testing.assert_allclose(
        fastcrl.correlation(cov=np.array([[4.0, 1.0], [1.0, 1.0]]))[0, 1], 0.5
    )
    W = np.triu(np.full((40, 40), 1e10), 1)
    with pytest.raises(ValueError, match="simulated data overflow"):
        fastcrl.simulate.simulate_linear_sem(W, 5, random_state=0)


def test_crl_estimators_read_labels_alike():
    from fastcrl.crl import IVAE, LinearInterventionalCRL, NonstationaryICA

    d = fastcrl.datasets.make_nonstationary_sources(
        n_segments=4, n_per_segment=60, n_latents=2, random_state=0
    )
    mixed = d.env.astype(object)
    mixed[0] = "a"
    for fit in (
        lambda u: IVAE(hidden=(8,), max_epochs=1, random_state=0).fit(d.X, u),
        lambda u: NonstationaryICA().fit(d.X, u),
        lambda u: LinearInterventionalCRL().fit(d.X, u),
    ):
        with pytest.raises(TypeError, match="not a mix of"):
            fit(mixed)
    # one kind held in an object array (a pandas column of strings) is fine everywhere
    names = np.array(["s0", "s1", "s2", "s3"], dtype=object)[d.env]
    model = IVAE(hidden=(8,), max_epochs=1, random_state=0).fit(d.X, names)
    assert list(model.segments_) == ["s0", "s1", "s2", "s3"]
    NonstationaryICA().fit(d.X, names)


def test_indices_and_counts_beyond_int64():
    s = scores.GaussianBIC(_data())
    with pytest.raises(ValueError, match="parent index .* out of range"):
        s.local_scores([0], [[2**64]])
    with pytest.raises(ValueError, match="node index .* out of range"):
        s.local_scores([2**64], [[1]])
    with pytest.raises(ValueError, match="n must be <="):
        fastcrl.set_num_threads(2**64)


def test_structure_envs_as_a_set_and_bools_are_not_ints():
    from fastcrl.crl.pipeline import _requested_labels

    envs = np.array([0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(_requested_labels({1, 2}, envs), [1, 2])
    np.testing.assert_array_equal(_requested_labels(frozenset({2}), envs), [2])
    with pytest.raises(ValueError, match=r"structure_envs \[True\] is not among"):
        _requested_labels([True], envs)


@pytest.mark.parametrize("cls", [fastcrl.GES, fastcrl.HillClimb, fastcrl.ExactSearch])
def test_searches_check_X_against_a_ready_made_score(cls):
    X = fastcrl.simulate.simulate_dataset(4, 200, edges_per_node=1, random_state=0).X
    score = scores.GaussianBIC(X)
    with pytest.raises(ValueError, match=r"X has shape \(200, 2\) but the score object has 4"):
        cls(score=score).fit(X[:, :2])
    # X=None and the score's own data search the same statistics
    assert np.array_equal(cls(score=score).fit(None).adjacency_, cls(score=score).fit(X).adjacency_)


def test_wrong_kinds_of_argument_are_named():
    from fastcrl import crl

    X = fastcrl.simulate.simulate_dataset(4, 200, random_state=0).X
    env = np.zeros(200, dtype=int)
    with pytest.raises(TypeError, match=r"parents must be a sequence .* \(or \[\] for none\)"):
        scores.GaussianBIC(X).local_score(0, None)
    with pytest.raises(
        TypeError, match="verbose must be True, False or an integer level >= 0; got str 'x'"
    ):
        fastcrl.bootstrap_edges(fastcrl.GES(), X, verbose="x")
    with pytest.raises(TypeError, match="must be a structure learner"):
        fastcrl.bootstrap_edges(crl.NonstationaryICA(), X)
    with pytest.raises(TypeError, match=r"representation must be an instance, e.g. Nonstat"):
        crl.LatentCausalDiscovery(crl.NonstationaryICA).fit(X, env)
    with pytest.raises(TypeError, match=r"structure must be an instance, e.g. GES\(\)"):
        crl.LatentCausalDiscovery(crl.NonstationaryICA(), fastcrl.GES).fit(X, env)
    # an array where a number belongs is shown by its shape, not dumped
    with pytest.raises(
        TypeError, match=r"n_nodes must be an integer; got ndarray of shape \(200, 4\)$"
    ):
        fastcrl.ges.estimate_memory(X, 200)


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_default_graph_density_fits_tiny_graphs(d):
    data = fastcrl.simulate.simulate_dataset(d, 20, random_state=0)
    assert int(data.B.sum()) == min(2 * d, d * (d - 1) // 2)
    assert int(fastcrl.simulate.simulate_dag(d, random_state=0).sum()) == min(d, d * (d - 1) // 2)
    with pytest.raises(ValueError, match="at most"):
        fastcrl.simulate.simulate_dataset(3, 20, edges_per_node=2, random_state=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda v: fastcrl.NOTEARS(verbose=v),
        lambda v: fastcrl.DAGMA(verbose=v),
        lambda v: fastcrl.GES(verbose=v),
        lambda v: fastcrl.HillClimb(verbose=v),
        lambda v: fastcrl.ExactSearch(verbose=v),
    ],
)
def test_verbose_is_checked_alike(make, capsys):
    X = fastcrl.simulate.simulate_dataset(4, 200, random_state=0).X
    for bad in ("yes", -1, 1.5):
        with pytest.raises(TypeError, match="verbose must be True, False or an integer level"):
            make(bad).fit(X)
    for good in (False, 0, True, 2):
        make(good).fit(X)


def test_ivae_takes_verbose_true():
    from fastcrl.crl import IVAE

    data = fastcrl.datasets.make_nonstationary_sources(4, 100, 2, random_state=0)
    IVAE(2, hidden=(8,), max_epochs=1, pretrain_epochs=1, verbose=True).fit(data.X, data.env)
