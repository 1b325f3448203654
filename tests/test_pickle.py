"""Pickling (and so joblib and multiprocessing): scores, fitted estimators and the nn building
blocks come back equal and keep working (scores equal to the last bit, training continues
identically)."""

from __future__ import annotations

import pickle

import fastcrl
import numpy as np
import pytest
from fastcrl import nn, scores
from fastcrl.crl import IVAE, LinearInterventionalCRL, NonstationaryICA
from fastcrl.datasets import make_nonstationary_sources

pytestmark = pytest.mark.filterwarnings("ignore::fastcrl.ConvergenceWarning")


def roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))


@pytest.fixture(scope="module")
def gaussian():
    return fastcrl.simulate.simulate_dataset(7, 400, edges_per_node=1, random_state=0).X


@pytest.fixture(scope="module")
def discrete():
    rng = np.random.default_rng(1)
    Z = rng.integers(0, 3, size=(500, 6))
    Z[:, 1] = (Z[:, 0] + rng.integers(0, 2, size=500)) % 3
    return Z


def _families(d, rng, count=40):
    nodes = rng.integers(0, d, size=count).tolist()
    sets = [rng.choice(np.delete(np.arange(d), j), size=rng.integers(0, 4), replace=False).tolist()
            for j in nodes]  # fmt: skip
    return nodes, sets


@pytest.mark.parametrize(
    "make",
    [
        lambda X, Z: scores.GaussianBIC(X, penalty_discount=2.0),
        lambda X, Z: scores.BGe(X, iss_mu=3.0, nu=np.linspace(-1, 1, X.shape[1])),
        lambda X, Z: scores.BDeu(Z, ess=5.0),
        lambda X, Z: scores.DiscreteBIC(Z),
    ],
    ids=["bic", "bge", "bdeu", "discrete-bic"],
)
def test_scores_pickle_to_the_same_scores(gaussian, discrete, make):
    score = make(gaussian, discrete)
    score._kernel.cache_limit = 1234
    nodes, sets = _families(score.n_nodes, np.random.default_rng(2))
    want = score.local_scores(nodes, sets)
    back = roundtrip(score)
    assert back.nodes == score.nodes and back.n_samples == score.n_samples
    assert back._kernel.cache_limit == 1234
    np.testing.assert_array_equal(back.local_scores(nodes, sets), want)
    A = np.triu(np.ones((score.n_nodes, score.n_nodes), dtype=int), 1)
    assert back.score(A) == score.score(A)


def test_score_pickles_reject_bad_state():
    with pytest.raises(ValueError, match="pickled state"):
        fastcrl._core.GaussianBICScore.__new__(fastcrl._core.GaussianBICScore).__setstate__((1, 2))


def test_fitted_searches_pickle(gaussian, discrete):
    for est, data in (
        (fastcrl.GES(), gaussian),
        (fastcrl.HillClimb(random_state=0), gaussian),
        (fastcrl.ExactSearch(), gaussian),
        (fastcrl.GES(score="bdeu"), discrete),
        (fastcrl.DAGMA(), gaussian),
        (fastcrl.NOTEARS(), gaussian),
    ):
        est.fit(data)
        back = roundtrip(est)
        np.testing.assert_array_equal(back.adjacency_, est.adjacency_)
        assert roundtrip(type(est)()).get_params() == type(est)().get_params()  # unfitted too


def test_ivae_pickles_and_trains_on_identically():
    ds = make_nonstationary_sources(8, 150, 2, random_state=3)
    model = IVAE(2, max_epochs=2, hidden=(8,), batch_size=64, random_state=0).fit(ds.X, ds.env)
    back = roundtrip(model)
    np.testing.assert_array_equal(back.transform(ds.X, ds.env), model.transform(ds.X, ds.env))
    model.partial_fit(ds.X, ds.env)
    back.partial_fit(ds.X, ds.env)
    # the encoder, decoder and prior are views of one parameter vector again after loading
    np.testing.assert_array_equal(back._model.params, model._model.params)
    assert np.shares_memory(back._model.enc.params, back._model.params)
    assert roundtrip(IVAE(3)).get_params() == IVAE(3).get_params()


def test_crl_estimators_pickle():
    ds = make_nonstationary_sources(8, 150, 2, random_state=3)
    ica = NonstationaryICA().fit(ds.X, ds.env)
    np.testing.assert_array_equal(roundtrip(ica).transform(ds.X), ica.transform(ds.X))
    lin = fastcrl.datasets.make_linear_interventional(3, 6, n_per_env=2000, random_state=0)
    crl = LinearInterventionalCRL().fit(lin.X, lin.env)
    np.testing.assert_array_equal(roundtrip(crl).transform(lin.X), crl.transform(lin.X))


def test_mlp_pickles():
    net = nn.MLP([3, 8, 2], activation="elu", dtype="float64", random_state=0)
    X = np.random.default_rng(0).normal(size=(5, 3))
    back = roundtrip(net)
    assert back.spec.sizes == net.spec.sizes and back.activations == net.activations
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
