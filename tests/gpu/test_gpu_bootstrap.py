"""fastcrl.bootstrap_edges on CuPy data: the refits run on the GPU and count the same edges."""

from __future__ import annotations

import fastcrl
import numpy as np


def test_bootstrap_on_the_gpu_matches_the_cpu(cp):
    X = fastcrl.simulate.simulate_dataset(8, 600, edges_per_node=1, random_state=0).X
    cpu = fastcrl.bootstrap_edges(fastcrl.GES(), X, n_bootstrap=4, random_state=0)
    gpu = fastcrl.bootstrap_edges(fastcrl.GES(), cp.asarray(X), n_bootstrap=4, random_state=0)
    assert isinstance(gpu.adjacency, np.ndarray)
    np.testing.assert_array_equal(gpu.graphs, cpu.graphs)
