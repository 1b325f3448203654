"""CUDA batched Gaussian local scores (GaussianBIC, BGe from a CuPy X) against the CPU kernels.

Skipped without a device (see conftest.py).  float64 throughout; scores agree to 1e-10 relative.
"""

from __future__ import annotations

import fastcrl
import numpy as np
import pytest
from fastcrl import scores
from fastcrl.graph import is_dag

RTOL = 1e-10


def _gaussian_data(rng, n, d):
    X = rng.normal(size=(n, d))
    for j in range(1, d):
        X[:, j] += X[:, :j] @ (rng.normal(scale=0.5, size=j) * (rng.random(j) < 0.3))
    return X * rng.uniform(0.5, 3.0, size=d) + rng.normal(0, 5, size=d)


def _pairs(rng, d, count, max_k):
    out = []
    for _ in range(count):
        j = int(rng.integers(d))
        others = [i for i in range(d) if i != j]
        k = int(rng.integers(0, min(max_k, len(others)) + 1))
        out.append((j, rng.permutation(others)[:k].tolist()))
    return out


def _both(cp, X, kind, **kw):
    make = scores.GaussianBIC if kind == "bic" else scores.BGe
    return make(cp.asarray(X), **kw), make(X, **kw)


CASES = [
    ("bic", {}),
    ("bic", {"penalty_discount": 2.5}),
    ("bge", {}),
    ("bge", {"iss_mu": 3.0, "iss_w": 80.0, "nu": "random"}),
]


@pytest.mark.parametrize("kind,kw", CASES)
@pytest.mark.parametrize("n,d,max_k", [(500, 8, 7), (2000, 40, 32), (60, 3, 2)])
def test_batched_scores_match_cpu(cp, rng, kind, kw, n, d, max_k):
    X = _gaussian_data(rng, n, d)
    kw = dict(kw)
    if kw.get("nu") == "random":
        kw["nu"] = rng.normal(size=d)
    gpu, cpu = _both(cp, X, kind, **kw)
    pairs = _pairs(rng, d, 3000, max_k)
    nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
    out = gpu.local_scores(nodes, sets)
    assert isinstance(out, cp.ndarray) and out.dtype == np.float64 and out.shape == (len(pairs),)
    assert out.device.id == cp.cuda.Device().id
    np.testing.assert_allclose(out.get(), cpu.local_scores(nodes, sets), rtol=RTOL, atol=0)
    # the scalar API and graph scores go through the CPU twin of the device matrix
    j, P = pairs[0]
    assert gpu.local_score(j, P) == pytest.approx(cpu.local_score(j, P), rel=RTOL)
    A = np.triu(np.ones((d, d), dtype=int), 1)
    assert gpu.score(A) == pytest.approx(cpu.score(A), rel=RTOL)
    M = gpu.covariance() if kind == "bic" else gpu.posterior_scale()
    Mc = cpu.covariance() if kind == "bic" else cpu.posterior_scale()
    assert isinstance(M, cp.ndarray)
    np.testing.assert_allclose(M.get(), Mc, rtol=1e-12, atol=1e-12 * np.abs(Mc).max())


def test_array_input_matches_list_input(cp, rng):
    X = _gaussian_data(rng, 500, 12)
    gpu = scores.GaussianBIC(cp.asarray(X))
    pairs = _pairs(rng, 12, 500, 5)
    nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
    A = np.full((len(sets), 5), -1)
    for r, P in enumerate(sets):
        A[r, : len(P)] = P
    got = gpu.local_scores(np.asarray(nodes), A)
    assert isinstance(got, cp.ndarray)
    np.testing.assert_array_equal(got.get(), gpu.local_scores(nodes, sets).get())


@pytest.mark.parametrize("kind", ["bic", "bge"])
def test_large_parent_sets_fall_back_to_cpu(cp, rng, kind):
    X = _gaussian_data(rng, 400, 40)
    gpu, cpu = _both(cp, X, kind)
    nodes = [0, 1, 2, 3]
    sets = [list(range(1, 40)), list(range(2, 35)), list(range(3, 35)), [0, 1, 2]]  # 39, 33, 32, 3
    np.testing.assert_allclose(
        gpu.local_scores(nodes, sets).get(), cpu.local_scores(nodes, sets), rtol=RTOL, atol=0
    )


def test_runs_on_the_current_stream_and_empty_batch(cp, rng):
    X = _gaussian_data(rng, 300, 6)
    gpu, cpu = _both(cp, X, "bic")
    pairs = _pairs(rng, 6, 200, 5)
    nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
    with cp.cuda.Stream(non_blocking=True) as stream:
        out = gpu.local_scores(nodes, sets)
        stream.synchronize()
    np.testing.assert_allclose(out.get(), cpu.local_scores(nodes, sets), rtol=RTOL, atol=0)
    empty = gpu.local_scores([], [])
    assert isinstance(empty, cp.ndarray) and empty.shape == (0,)
    only_empty_sets = gpu.local_scores([0, 1], [[], []])
    np.testing.assert_allclose(only_empty_sets.get(), cpu.local_scores([0, 1], [[], []]), rtol=RTOL)
    # the batched path bypasses the cache (Gaussian scores cache families of 16+ parents only)
    assert gpu.cache_info()["size"] == 0
    assert gpu.local_score(0, [1]) == pytest.approx(cpu.local_score(0, [1]), rel=RTOL)


def test_device_errors(cp, rng):
    X = rng.normal(size=(80, 3))
    Y = np.c_[X, X[:, 0] + 2 * X[:, 1]]  # an exact linear function
    s = scores.GaussianBIC(cp.asarray(Y))
    with pytest.raises(fastcrl.NumericalError, match="undefined"):
        s.local_scores([3, 0], [[0, 1], []])
    with pytest.raises(fastcrl.NumericalError, match="undefined"):
        s.local_scores([0, 2], [[1], [0, 1, 3]])
    # BGe is defined even there (R >= t I)
    assert np.isfinite(scores.BGe(cp.asarray(Y)).local_scores([3], [[0, 1]]).get()).all()
    for make in (scores.GaussianBIC, scores.BGe):
        with pytest.raises(ValueError, match="identical columns 0 and 3"):
            make(cp.asarray(np.c_[X, X[:, 0]]))
        with pytest.raises(ValueError, match="NaN"):
            make(cp.asarray(np.where(X > 2, np.nan, X)))
        with pytest.raises(ValueError, match="at least 2 samples"):
            make(cp.asarray(X[:1]))
        gpu = make(cp.asarray(X))
        with pytest.raises(ValueError, match="own parent"):
            gpu.local_scores([0], [[0]])
        with pytest.raises(ValueError, match="out of range"):
            gpu.local_scores([0], [[5]])
        with pytest.raises(ValueError, match="duplicates"):
            gpu.local_scores([0], [[1, 1]])
    with pytest.raises(ValueError, match="constant"):
        scores.GaussianBIC(cp.asarray(np.c_[X, np.ones(80)]))
    with pytest.raises(ValueError, match="iss_w"):
        scores.BGe(cp.asarray(X), iss_w=4.0)


def test_extension_argument_checks(cp, cuda_ext):
    M = cp.eye(3)
    idx = cp.zeros(1, dtype=cp.int64)
    offsets = cp.zeros(2, dtype=cp.int64)
    out = cp.empty(1)
    coef = [0.0] * (cuda_ext.max_gaussian_score_parents + 1)
    stream = cp.cuda.get_current_stream().ptr
    cuda_ext.gaussian_local_scores(M, idx, offsets, idx[:0], coef, coef, 0.0, 0.0, out, stream)
    assert float(out[0]) == 0.0  # constant 0 + log_var 0 * log(1)
    with pytest.raises(TypeError, match="int64"):
        cuda_ext.gaussian_local_scores(
            M, idx.astype(cp.int32), offsets, idx, coef, coef, 0.0, 0.0, out, stream
        )
    with pytest.raises(ValueError, match="entries"):
        cuda_ext.gaussian_local_scores(M, idx, offsets, idx, coef[:3], coef, 0.0, 0.0, out, stream)
    with pytest.raises(ValueError, match="shape"):
        cuda_ext.gaussian_local_scores(M, idx, offsets[:1], idx, coef, coef, 0.0, 0.0, out, stream)
    with pytest.raises(ValueError, match="square"):
        cuda_ext.gaussian_local_scores(M[:2], idx, offsets, idx, coef, coef, 0.0, 0.0, out, stream)
    with pytest.raises(TypeError, match="float64"):
        cuda_ext.gaussian_local_scores(
            M.astype(cp.float32), idx, offsets, idx, coef, coef, 0.0, 0.0, out, stream
        )
    # a bad index on the device gives NaN, never an out-of-bounds read
    cuda_ext.gaussian_local_scores(M, idx + 7, offsets, idx, coef, coef, 0.0, 0.0, out, stream)
    assert bool(cp.isnan(out[0]))
    cuda_ext.gaussian_local_scores(M, idx, offsets, idx, coef, coef, 0.0, 0.0, out, stream, 0)
    assert float(out[0]) == 0.0


def test_small_and_large_family_kernels_agree(cp, cuda_ext, rng):
    """Sets of <= 8 parents are scored one per thread, larger ones one per warp; a batch mixing
    both (with and without the max_parents hint) gives the CPU's scores, and a small set scored
    among large ones equals the same set scored alone."""
    d = 40
    X = _gaussian_data(rng, 800, d)
    gpu, cpu = _both(cp, X, "bic")
    pairs = _pairs(rng, d, 2000, 20)
    nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
    js, offsets, flat = gpu._fast_csr(nodes, sets)
    coef = gpu._gpu_coefficients(cuda_ext.max_gaussian_score_parents)
    stream = cp.cuda.get_current_stream().ptr
    want = cpu.local_scores(nodes, sets)
    args = (gpu._device_matrix, cp.asarray(js), cp.asarray(offsets), cp.asarray(flat), *coef)
    for hint in (-1, 20):
        out = cp.full(len(pairs), cp.nan)
        cuda_ext.gaussian_local_scores(*args, out, stream, hint)
        np.testing.assert_allclose(out.get(), want, rtol=RTOL, atol=0)
    small = np.flatnonzero(np.diff(offsets) <= 8)
    assert 0 < small.size < len(pairs)
    alone = gpu.local_scores([nodes[b] for b in small], [sets[b] for b in small]).get()
    np.testing.assert_array_equal(alone, out.get()[small])


def _discrete_data(rng, n, card):
    d = len(card)
    X = np.zeros((n, d), dtype=np.int64)
    for j in range(d):
        X[:, j] = rng.integers(0, card[j], size=n)
        if j:
            copy = rng.random(n) < 0.5
            X[copy, j] = X[copy, int(rng.integers(j))] % card[j]
    X[: max(card)] = np.arange(max(card))[:, None] % np.asarray(card)
    return X


@pytest.mark.parametrize("kind", ["bdeu", "bic"])
@pytest.mark.parametrize("n,card,max_k", [(3000, [2, 3, 4, 3, 2, 5, 3, 2], 6), (50, [3] * 12, 9)])
def test_discrete_batched_scores_match_cpu(cp, rng, kind, n, card, max_k):
    D = _discrete_data(rng, n, card)
    make = (lambda X: scores.BDeu(X, ess=2.5)) if kind == "bdeu" else scores.DiscreteBIC
    gpu, cpu = make(cp.asarray(D)), make(D)
    pairs = _pairs(rng, len(card), 2000, max_k)  # includes families over 8192 cells (CPU fallback)
    nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
    out = gpu.local_scores(nodes, sets)
    assert isinstance(out, cp.ndarray) and out.shape == (len(pairs),)
    np.testing.assert_allclose(out.get(), cpu.local_scores(nodes, sets), rtol=RTOL, atol=1e-9)
    j, P = pairs[0]
    assert gpu.local_score(j, P) == cpu.local_score(j, P)
    A = np.triu(np.ones((len(card),) * 2, dtype=int), 1) * (rng.random((len(card),) * 2) < 0.3)
    assert gpu.score(A) == pytest.approx(cpu.score(A), rel=RTOL)
    with pytest.raises(ValueError, match="own parent"):
        gpu.local_scores([0], [[0]])


def test_discrete_device_input_checks(cp, rng, cuda_ext):
    D = _discrete_data(rng, 40, [2, 3, 2])
    with pytest.raises(ValueError, match="negative"):
        scores.BDeu(cp.asarray(D - 1))
    with pytest.raises(ValueError, match="constant"):
        scores.DiscreteBIC(cp.asarray(np.c_[D, np.zeros(40, int)]))
    s = scores.BDeu(cp.asarray(D), cardinalities=[3, 4, 2])  # unobserved levels still count
    np.testing.assert_allclose(
        s.local_scores([0, 1], [[1, 2], [0]]).get(),
        scores.BDeu(D, cardinalities=[3, 4, 2]).local_scores([0, 1], [[1, 2], [0]]),
        rtol=RTOL,
    )
    codes = cp.asarray(np.ascontiguousarray(D.T, dtype=np.int32))
    card = cp.asarray([2, 3, 2], dtype=cp.int64)
    idx = cp.zeros(1, dtype=cp.int64)
    parents = cp.zeros(1, dtype=cp.int64)  # its own array: the binding refuses overlapping ones
    offsets = cp.zeros(2, dtype=cp.int64)
    out = cp.empty(1)
    stream = cp.cuda.get_current_stream().ptr
    with pytest.raises(ValueError, match="unknown discrete score kind"):
        cuda_ext.discrete_local_scores(codes, card, idx, offsets, parents, "k2", 1.0, out, stream)
    with pytest.raises(TypeError, match="int32"):
        cuda_ext.discrete_local_scores(
            codes.astype(cp.int64), card, idx, offsets, parents, "bdeu", 1.0, out, stream
        )
    with pytest.raises(ValueError, match="ess"):
        cuda_ext.discrete_local_scores(codes, card, idx, offsets, parents, "bdeu", 0.0, out, stream)
    with pytest.raises(ValueError, match="overlap"):
        cuda_ext.discrete_local_scores(codes, card, idx, offsets, idx, "bdeu", 1.0, out, stream)


# ------------------------------------------------------------- exact search's families on the GPU


def _subset_case(cp, cuda_ext, gpu, cpu, d, j, size, first, count, forbidden, required):
    """Kernel row vs the NumPy twin (reference.exact.subset_scores) for one launch."""
    from fastcrl.reference import exact as ref_exact

    row_d = cp.full(1 << (d - 1), -np.inf)
    gpu._launch_subsets(cuda_ext, row_d, j, size, first, count, forbidden, required)
    row_ref = np.full(1 << (d - 1), -np.inf)
    ref_exact.subset_scores(cpu.local_score, d, j, size, first, count, forbidden, required, row_ref)
    return row_d.get(), row_ref


@pytest.mark.parametrize("kind", ["bic", "bge", "bdeu", "discrete-bic"])
def test_subset_kernels_match_the_reference(cp, rng, cuda_ext, kind):
    import math

    d = 11
    if kind in ("bic", "bge"):
        gpu, cpu = _both(cp, _gaussian_data(rng, 500, d), kind)
    else:
        D = _discrete_data(rng, 800, [2, 3, 2, 4, 3, 2, 2, 3, 2, 5, 2])
        make = (lambda X: scores.BDeu(X, ess=3.0)) if kind == "bdeu" else scores.DiscreteBIC
        gpu, cpu = make(cp.asarray(D)), make(D)
    for j in (0, 4, d - 1):
        forbidden = (1 << j) | (1 << ((j + 2) % d))
        required = 1 << ((j + 5) % d)
        for size in (0, 1, 3, 6, d - 1):
            total = math.comb(d - 1, size)
            for first, count in ((0, total), (total // 3, max(1, total // 4))):
                got, want = _subset_case(cp, cuda_ext, gpu, cpu, d, j, size, first, count,
                                         forbidden, required)
                cells = np.isfinite(want)
                # discrete families over the shared-memory cell limit come back NaN (CPU's job)
                assert np.array_equal(np.isneginf(got), np.isneginf(want))
                ok = cells & ~np.isnan(got)
                np.testing.assert_allclose(got[ok], want[ok], rtol=RTOL, atol=1e-9)
                if kind in ("bic", "bge"):
                    assert ok.sum() == cells.sum()


@pytest.mark.parametrize("kind", ["bic", "bge", "bdeu"])
@pytest.mark.parametrize("max_parents", [None, 3])
def test_exact_search_on_the_gpu_matches_the_cpu(cp, rng, kind, max_parents):
    from fastcrl import ExactSearch, Knowledge

    d = 12
    if kind == "bdeu":
        X = _discrete_data(rng, 1500, [2, 3, 2, 4, 3, 2, 2, 3, 2, 3, 2, 2])
    else:
        X = fastcrl.simulate.simulate_dataset(d, 1000, edges_per_node=1.5, random_state=4).X
    k = Knowledge(n_nodes=d).forbid(0, 1).require(2, 3)
    est = ExactSearch(score=kind, max_parents=max_parents, knowledge=k)
    gpu = est.fit(cp.asarray(X))
    assert gpu.device_ == "cuda"
    cpu = ExactSearch(score=kind, max_parents=max_parents, knowledge=k).fit(X)
    assert cpu.device_ == "cpu"
    assert gpu.score_ == pytest.approx(cpu.score_, rel=1e-10)
    assert gpu.n_local_scores_ == cpu.n_local_scores_
    np.testing.assert_array_equal(gpu.graph_.to_adjacency(), cpu.graph_.to_adjacency())


def test_exact_search_on_the_gpu_reports_collinear_data(cp, rng):
    from fastcrl import ExactSearch

    X = rng.normal(size=(200, 5))
    X[:, 4] = X[:, 0] - X[:, 2]
    with pytest.raises(fastcrl.NumericalError):
        ExactSearch().fit(cp.asarray(X))


def test_subset_extension_argument_checks(cp, cuda_ext):
    coef = [0.0] * (cuda_ext.max_gaussian_score_parents + 1)
    stream = cp.cuda.get_current_stream().ptr
    M = cp.eye(4)
    row = cp.full(8, -np.inf)
    cuda_ext.gaussian_subset_scores(M, 1, 1, 0, 3, 0b0010, 0, coef, coef, 0.0, 0.0, row, stream)
    # node 1's one-parent sets {0}, {2}, {3} sit at compressed slots 1, 2, 4
    np.testing.assert_array_equal(cp.isfinite(row).get(), [0, 1, 1, 0, 1, 0, 0, 0])
    with pytest.raises(ValueError, match="shape"):
        cuda_ext.gaussian_subset_scores(M, 1, 1, 0, 3, 2, 0, coef, coef, 0.0, 0.0, row[:4], stream)
    with pytest.raises(ValueError, match="out of range"):
        cuda_ext.gaussian_subset_scores(M, 4, 1, 0, 3, 2, 0, coef, coef, 0.0, 0.0, row, stream)
    with pytest.raises(ValueError, match="out of range"):
        cuda_ext.gaussian_subset_scores(M, 1, 4, 0, 3, 2, 0, coef, coef, 0.0, 0.0, row, stream)
    with pytest.raises(ValueError, match="d <= 31"):
        cuda_ext.gaussian_subset_scores(
            cp.eye(32), 1, 1, 0, 3, 2, 0, coef, coef, 0.0, 0.0, row, stream
        )


# --------------------------------------------------------------- GES's Insert candidates on the GPU


@pytest.mark.parametrize("kind", ["bic", "bge", "bdeu"])
def test_ges_on_the_gpu_matches_the_cpu(cp, rng, kind):
    from fastcrl import GES, Knowledge

    if kind == "bdeu":
        X = _discrete_data(rng, 2000, [2, 3, 2, 4, 3, 2, 2, 3, 2, 3, 2, 2, 3, 2, 2])
    else:
        X = fastcrl.simulate.simulate_dataset(30, 1000, edges_per_node=2, random_state=5).X
    d = X.shape[1]
    k = Knowledge(n_nodes=d).forbid(0, 1).require(2, 3)
    gpu = GES(score=kind, knowledge=k, restarts=0).fit(cp.asarray(X))
    cpu = GES(score=kind, knowledge=k, restarts=0).fit(X)
    assert gpu.device_ == "cuda" and cpu.device_ == "cpu"
    assert gpu.n_evaluated_ == cpu.n_evaluated_
    np.testing.assert_array_equal(gpu.adjacency_, cpu.adjacency_)
    assert gpu.score_ == pytest.approx(cpu.score_, rel=1e-10)


def _best_move_gain(score, A):
    """The largest score gain of one edge addition, deletion or reversal of the DAG A (acyclic
    results only; a move to an undefined family is no move), on ``score``."""

    def local(B, j):
        try:
            return score.local_score(j, np.flatnonzero(B[:, j]).tolist())
        except fastcrl.NumericalError:
            return -np.inf

    best = -np.inf
    for i in range(A.shape[0]):
        for j in range(A.shape[0]):
            if i == j or (A[j, i] and not A[i, j]):
                continue  # each edge is visited once, from its tail
            B = A.copy()
            if A[i, j]:
                B[i, j] = 0
                best = max(best, local(B, j) - local(A, j))
                B[j, i] = 1
                if is_dag(B):
                    best = max(best, local(B, j) - local(A, j) + local(B, i) - local(A, i))
            else:
                B[i, j] = 1
                if is_dag(B):
                    best = max(best, local(B, j) - local(A, j))
    return best


@pytest.mark.parametrize("kind", ["bic", "bdeu"])
def test_hill_climb_on_the_gpu_matches_the_cpu(cp, rng, kind):
    from fastcrl import HillClimb

    if kind == "bdeu":
        X = _discrete_data(rng, 2000, [2, 3, 2, 4, 3, 2, 2, 3, 2, 3, 2, 2])
        cpu_score = scores.BDeu(X)
    else:
        X = fastcrl.simulate.simulate_dataset(25, 1000, edges_per_node=2, random_state=6).X
        cpu_score = scores.GaussianBIC(X)
    # Not the CPU climb's exact DAG: score-equivalent moves (i -> j, j -> i) tie, and the last bit
    # of the GPU's sums picks one, which can steer the climb elsewhere. A greedy climb on the GPU
    # must end where no move raises the CPU's score, and report its DAG's score.
    greedy = HillClimb(score=kind, tabu_length=0, restarts=0).fit(cp.asarray(X))
    assert greedy.device_ == "cuda"
    assert greedy.score_ == pytest.approx(cpu_score.score(greedy.adjacency_), rel=1e-10)
    assert _best_move_gain(cpu_score, greedy.adjacency_) < 1e-6
    gpu = HillClimb(score=kind, random_state=0).fit(cp.asarray(X))
    cpu = HillClimb(score=kind, random_state=0).fit(X)
    assert cpu.device_ == "cpu"
    assert gpu.score_ == pytest.approx(cpu_score.score(gpu.adjacency_), rel=1e-10)
    assert gpu.score_ >= greedy.score_ - 1e-6 * abs(greedy.score_)
    if not np.array_equal(gpu.adjacency_, cpu.adjacency_):  # a tie went the other way
        assert gpu.score_ == pytest.approx(cpu.score_, rel=1e-3)


def test_searches_on_the_gpu_report_collinear_data(cp, rng):
    from fastcrl import GES, HillClimb

    X = rng.normal(size=(200, 5))
    X[:, 4] = 3.0 * X[:, 1] + 1.0  # a pair no search can use
    for est in (GES(), HillClimb()):
        with pytest.raises(fastcrl.NumericalError, match="duplicates or exactly collinear"):
            est.fit(cp.asarray(X))


@pytest.mark.parametrize("method", ["ges", "exact", "dagma"])
def test_cli_discover_device_cuda(cp, tmp_path, method):
    import json

    from fastcrl import cli

    data = tmp_path / "data.csv"
    assert cli.main(["simulate", "-d", "8", "-n", "500", "--seed", "3", "--out", str(data)]) == 0
    graphs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.json"
        argv = ["discover", str(data), "--method", method, "--device", device, "-o", str(out)]
        assert cli.main(argv) == 0
        graphs[device] = json.loads(out.read_text())
    assert graphs["cuda"]["nodes"] == graphs["cpu"]["nodes"]
    if method != "dagma":  # DAGMA sums in another order on the GPU: compare the searches only
        assert sorted(graphs["cuda"]["edges"]) == sorted(graphs["cpu"]["edges"])


def test_gaussian_bic_from_a_device_covariance(cp, rng):
    X = _gaussian_data(rng, 500, 6)
    gpu = scores.GaussianBIC(cp.asarray(X))
    stats = scores.GaussianBIC.from_covariance(gpu.covariance(), 500)
    pairs = _pairs(rng, 6, 100, 4)
    nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
    out = stats.local_scores(nodes, sets)
    assert isinstance(out, cp.ndarray)  # scored by the CUDA kernel, as for a CuPy X
    np.testing.assert_allclose(out.get(), gpu.local_scores(nodes, sets).get(), rtol=RTOL, atol=0)


def test_bge_from_a_device_covariance(cp, rng):
    X = _gaussian_data(rng, 500, 6)
    gpu = scores.BGe(cp.asarray(X))
    cov = fastcrl.covariance(cp.asarray(X), ddof=0)
    stats = scores.BGe.from_covariance(cov, 500)
    pairs = _pairs(rng, 6, 100, 4)
    nodes, sets = [j for j, _ in pairs], [P for _, P in pairs]
    out = stats.local_scores(nodes, sets)
    assert isinstance(out, cp.ndarray)
    np.testing.assert_allclose(out.get(), gpu.local_scores(nodes, sets).get(), rtol=RTOL, atol=0)
