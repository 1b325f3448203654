"""Score-based searches with about as many parents as samples (more nodes than samples).

With the plain BIC a greedy search then keeps adding chance parents until a node is fitted to
rounding. The searches must stay clear of the score's "undefined" floor with a margin (so that the
fitted graph's score_ never fails when computed again), skip undefined moves instead of raising,
and warn that the result is mostly chance.
"""

from __future__ import annotations

import warnings

import fastcrl
import numpy as np
import pytest
from fastcrl import _core
from fastcrl.reference import hillclimb as ref_hc
from fastcrl.scores import BGe, GaussianBIC

SEARCH_FLOOR = 1e-10  # GaussianBICScore::kSearchResidualFloor


def _noise(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d))


def _smallest_residual_fraction(X, dag):
    """min over families of var(j | parents) / var(j), by a fresh NumPy solve."""
    S = np.cov(X.T, bias=True)
    out = np.inf
    for j in range(dag.shape[0]):
        pa = np.flatnonzero(dag[:, j])
        if pa.size:
            b = S[pa, j]
            out = min(out, (S[j, j] - b @ np.linalg.solve(S[np.ix_(pa, pa)], b)) / S[j, j])
    return out


def test_ges_with_more_nodes_than_samples_stays_scorable():
    # Before the search kept a margin above the score's floor, this fit raised NumericalError
    # computing score_: a family accepted through an incremental update at just above 1e-12 of its
    # node's variance failed the fresh fit at just below.
    X = _noise(60, 200, 0)
    with pytest.warns(fastcrl.SampleSizeWarning, match="parents from 60 samples"):
        est = fastcrl.GES(turning=False, restarts=0).fit(X)
    dag = est.dag_.to_adjacency()
    assert dag.sum(axis=0).max() >= 30
    assert _smallest_residual_fraction(X, dag) > 0.5 * SEARCH_FLOOR
    assert np.isfinite(est.score_)


def test_hill_climb_skips_undefined_moves_and_perturbations():
    # Before, any undefined candidate family (or a perturbation onto one) raised NumericalError.
    X = _noise(30, 100, 0)
    with pytest.warns(fastcrl.SampleSizeWarning, match="HillClimb"):
        est = fastcrl.HillClimb(random_state=0, restarts=2).fit(X)
    assert _smallest_residual_fraction(X, est.adjacency_) > 0.5 * SEARCH_FLOOR
    assert est.score_ == pytest.approx(est.score_object_.score(est.adjacency_), rel=1e-9)


def test_hill_climb_matches_reference_when_moves_are_undefined():
    X = _noise(6, 9, 3)
    score = GaussianBIC(X)
    d = X.shape[1]
    F, R = np.eye(d, dtype=np.uint8), np.zeros((d, d), dtype=np.uint8)
    kw = dict(tabu_length=3, tabu_patience=3, restarts=2, perturb=4, seed=5)
    out = _core.hill_climb(score._kernel, F, R, -1, **kw)
    expected = ref_hc.hill_climb(score, F, R, **kw)
    np.testing.assert_array_equal(out["adjacency"], expected["adjacency"])
    assert out["score"] == pytest.approx(expected["score"], rel=1e-12)
    # Families reach 4 parents for n = 6: every fifth parent would fit its node exactly (the
    # centred data have rank 5), so those candidates were undefined and skipped.
    assert np.asarray(out["adjacency"]).sum(axis=0).max() >= 4


def test_exact_search_warns_on_families_near_n():
    # max_parents 4 keeps every family defined (ExactSearch raises on an undefined allowed set);
    # the optimum over pure noise still fills a family to the limit, half of n.
    X = _noise(8, 9, 1)
    with pytest.warns(fastcrl.SampleSizeWarning, match="ExactSearch"):
        est = fastcrl.ExactSearch(max_parents=4).fit(X)
    assert est.adjacency_.sum(axis=0).max() == 4


def test_no_warning_with_ample_samples():
    data = fastcrl.simulate.simulate_dataset(10, 500, edges_per_node=1.5, random_state=0)
    fastcrl.GES().fit(data.X)  # filterwarnings = error: a warning fails the test


def test_for_search_guards_the_gaussian_floor_only():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    X[:, 3] = X[:, 0] - 2 * X[:, 1] + 1e-5 * rng.standard_normal(50)  # var fraction ~2e-11
    bic = GaussianBIC(X)
    fine = bic.local_score(2, [0, 1])
    assert bic._kernel.for_search(2, 2, fine) == fine
    near = bic.local_score(3, [0, 1])  # defined for the score, too near its floor for a search
    assert np.isnan(bic._kernel.for_search(3, 2, near))
    assert np.isnan(bic._kernel.for_search(3, 2, np.nan))
    bge = BGe(X)
    value = bge.local_score(3, [0, 1])
    assert bge._kernel.for_search(3, 2, value) == value
    with pytest.raises(ValueError, match="out of range"):
        bic._kernel.for_search(7, 0, 0.0)


@pytest.mark.parametrize("cls", [fastcrl.GES, fastcrl.HillClimb, fastcrl.ExactSearch])
def test_too_few_samples_are_named_as_such(cls):
    X = np.random.default_rng(0).normal(size=(2, 4))
    with pytest.raises(ValueError, match="needs at least 3 samples"):
        cls().fit(X)


def test_exact_search_names_the_rank_of_small_samples():
    X = np.random.default_rng(0).normal(size=(3, 4))
    with pytest.raises(fastcrl.NumericalError, match="With 3 samples .* max_parents <= 1"):
        fastcrl.ExactSearch().fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fastcrl.ExactSearch(max_parents=1).fit(X).adjacency_.shape == (4, 4)
