"""Benchmark options shared by every bench_*.py.

``--threads N`` pins both fastcrl (OpenMP + its OpenBLAS) and NumPy/SciPy's own BLAS to N threads for
the whole run, so kernel and reference rows compete on equal terms; on a shared or loaded machine
``--threads 1`` gives the most repeatable ratios.
"""

import pytest

import fastcrl


def pytest_addoption(parser):
    parser.addoption("--threads", type=int, default=None, help="threads for fastcrl and NumPy's BLAS")


@pytest.fixture(scope="session", autouse=True)
def _pin_threads(request):
    n = request.config.getoption("--threads")
    if n is None:
        yield
        return
    before = fastcrl.get_num_threads()
    fastcrl.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn and most stacks
        pytest.exit("--threads needs threadpoolctl (pip install threadpoolctl)", returncode=2)
    with threadpool_limits(limits=n, user_api="blas"):
        # threadpool_limits also reaches fastcrl's OpenBLAS; set it again so both agree.
        fastcrl.set_num_threads(n)
        yield
    fastcrl.set_num_threads(before)
