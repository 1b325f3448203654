"""The latents-then-graph pipeline and SHD up to permutation."""

import itertools

import numpy as np
import pytest
from fastcrl import DAGMA, SortNRegress
from fastcrl.crl import LatentCausalDiscovery, LinearInterventionalCRL, NonstationaryICA
from fastcrl.datasets import make_linear_interventional
from fastcrl.metrics import shd, shd_up_to_permutation
from fastcrl.simulate import simulate_dag


class PermutedTruth:
    """A 'representation' returning the true latents shuffled, rescaled and sign-flipped."""

    def __init__(self, Z, perm, scale):
        self.Z, self.perm, self.scale = Z, perm, scale

    def fit(self, X, labels):
        return self

    def transform(self, X):
        return self.Z[:, self.perm] * self.scale


def test_shd_up_to_permutation_matches_brute_force():
    rng = np.random.default_rng(0)
    for trial in range(20):
        d = int(rng.integers(2, 6))
        T = simulate_dag(d, min(2 * d, d * (d - 1) // 2), random_state=trial)
        E = simulate_dag(d, d - 1, random_state=100 + trial)
        brute = min(shd(T, E[np.ix_(p, p)]) for p in map(list, itertools.permutations(range(d))))
        value, m = shd_up_to_permutation(T, E, return_matching=True)
        assert value == brute
        assert shd_up_to_permutation(T, E, matching=m) == brute


def test_shd_up_to_permutation_recovers_a_relabelling():
    T = simulate_dag(7, 10, random_state=3)
    perm = np.random.default_rng(1).permutation(7)
    E = np.empty_like(T)
    E[np.ix_(perm, perm)] = T  # estimated node perm[i] is true node i
    assert shd_up_to_permutation(T, E) == 0
    assert shd_up_to_permutation(T, E, matching=perm) == 0
    assert shd_up_to_permutation(T, E, matching=np.arange(7)) > 0


def test_shd_up_to_permutation_errors():
    T = np.zeros((3, 3))
    with pytest.raises(ValueError, match="permutation"):
        shd_up_to_permutation(T, T, matching=[0, 0, 1])
    with pytest.raises(ValueError, match="shape|same"):
        shd_up_to_permutation(T, np.zeros((4, 4)))
    big = np.zeros((9, 9))
    with pytest.raises(ValueError, match="matching="):
        shd_up_to_permutation(big, big)


def test_pipeline_is_invariant_to_the_latents_order_and_scale():
    data = make_linear_interventional(5, 10, 5000, random_state=2)
    obs = data.env == 0
    Z = data.Z[obs]
    direct = SortNRegress(sort="r2").fit(Z / Z.std(axis=0))
    perm = np.array([3, 0, 4, 1, 2])
    scale = np.array([2.0, -0.5, 1.0, -3.0, 0.1])
    pipe = LatentCausalDiscovery(PermutedTruth(Z, perm, scale), SortNRegress(sort="r2"))
    report = pipe.fit(data.X[obs], data.env[obs]).evaluate(Z, data.latent_adjacency)
    assert report["mcc"] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(perm[report["matching"]], np.arange(5))
    assert report["shd"] == shd(data.latent_adjacency, direct.adjacency_)


def test_pipeline_with_the_representation_graph():
    hits = 0
    for seed in range(3):
        data = make_linear_interventional(5, 10, 50_000, random_state=seed)
        pipe = LatentCausalDiscovery(LinearInterventionalCRL(), "representation")
        report = pipe.fit(data.X, data.env).evaluate(data.Z, data.latent_adjacency)
        assert report["mcc"] > 0.99
        hits += report["shd"] == 0
        assert set(pipe.fit_time_) == {"representation", "structure"}
    assert hits >= 2


def test_pipeline_structure_on_the_observational_rows():
    data = make_linear_interventional(4, 8, 20_000, random_state=0)
    pipe = LatentCausalDiscovery(LinearInterventionalCRL(), DAGMA(), structure_envs=0)
    pipe.fit(data.X, data.env)
    assert pipe.latent_adjacency_.shape == (4, 4)
    report = pipe.evaluate(data.Z, data.latent_adjacency)
    assert report["shd"] <= 2


def test_pipeline_errors():
    data = make_linear_interventional(3, 6, 2000, random_state=0)
    with pytest.raises(TypeError, match="representation"):
        LatentCausalDiscovery(object()).fit(data.X, data.env)
    with pytest.raises(ValueError, match="structure"):
        LatentCausalDiscovery(LinearInterventionalCRL(), "pc").fit(data.X, data.env)
    with pytest.raises(ValueError, match=r"structure_envs \[99\] is not among the environment"):
        LatentCausalDiscovery(LinearInterventionalCRL(), structure_envs=99).fit(data.X, data.env)
    pipe = LatentCausalDiscovery(LinearInterventionalCRL(), "representation").fit(data.X, data.env)
    with pytest.raises(ValueError, match="true_adjacency"):
        pipe.evaluate(data.Z, np.zeros((4, 4)))


class RecordingStructure:
    """A 'structure learner' that records the latents it is given."""

    def fit(self, Z):
        self.Z = Z
        self.adjacency_ = np.zeros((Z.shape[1], Z.shape[1]))
        return self


def test_structure_envs_are_compared_not_cast():
    data = make_linear_interventional(3, 6, 2000, random_state=0)
    letters = np.array(["o", "a", "b", "c"])[data.env]  # dtype <U1

    def fit(envs, labels, representation=None):
        pipe = LatentCausalDiscovery(
            representation or NonstationaryICA(3), RecordingStructure(), structure_envs=envs
        )
        return pipe.fit(data.X, labels).structure_.Z.shape[0]

    # 'other' is not 'o' (a cast to <U1 made it so), 2.9 is not 2, 'obs' is not an int label
    with pytest.raises(
        ValueError,
        match=r"structure_envs \['other'\] is not among the environment "
        r"labels \['a', 'b', 'c', 'o'\]",
    ):
        fit("other", letters)
    with pytest.raises(ValueError, match=r"structure_envs \[2.9\] is not among .*\[0, 1, 2, 3\]"):
        fit(2.9, data.env)
    with pytest.raises(ValueError, match=r"structure_envs \['obs'\] is not among"):
        fit("obs", data.env)
    with pytest.raises(ValueError, match=r"structure_envs \[7, 9\] are not among"):
        fit([0, 7, 9], data.env)
    # labels that are equal select their rows
    n_obs = int((data.env == 0).sum())
    assert fit("o", letters) == n_obs
    assert fit(np.float64(0.0), data.env) == n_obs
    assert fit(np.array(["o", "a"]), letters) == int((data.env <= 1).sum())
    assert fit((0, 2), data.env.astype(object), LinearInterventionalCRL()) == int(
        np.isin(data.env, [0, 2]).sum()
    )
