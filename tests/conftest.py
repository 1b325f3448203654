import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded generator per test (tests never touch NumPy's global state)."""
    return np.random.default_rng(20261127)
