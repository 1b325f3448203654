import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastcrl
from fastcrl import _backend
from fastcrl._validation import (
    check_data,
    check_float,
    check_int,
    check_option,
    check_random_state,
    check_square_matrix,
    node_names_from,
)


def test_build_info_reports_what_was_compiled():
    info = fastcrl.build_info()
    for key in (
        "version",
        "compiler",
        "blas",
        "blas_core",
        "openmp",
        "num_threads",
        "cuda",
        "cuda_devices",
    ):
        assert key in info
    assert info["version"] == fastcrl.__version__
    assert "OpenBLAS" in info["blas"]
    assert info["openblas_coretype_env"] == os.environ.get("OPENBLAS_CORETYPE")
    assert info["openmp"] >= 201307
    assert isinstance(info["cuda"], bool)
    if not info["cuda"]:
        assert info["cuda_architectures"] is None and info["cuda_devices"] == 0


def test_set_num_threads_controls_openmp_and_blas():
    before = fastcrl.get_num_threads()
    try:
        fastcrl.set_num_threads(1)
        assert fastcrl.get_num_threads() == 1
        assert fastcrl.build_info()["blas_threads"] == 1
        cores = fastcrl._backend.usable_cores()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # up to the usable cores: no warning
            fastcrl.set_num_threads(cores)
        with pytest.warns(RuntimeWarning, match="more threads than cores"):
            fastcrl.set_num_threads(cores + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # 3 may exceed this machine's cores
            fastcrl.set_num_threads(3)
        assert fastcrl.get_num_threads() == 3
        assert fastcrl.build_info()["blas_threads"] == 3
    finally:
        fastcrl.set_num_threads(before)
    with pytest.raises(ValueError, match="n must be >= 1"):
        fastcrl.set_num_threads(0)
    with pytest.raises(TypeError, match="integer"):
        fastcrl.set_num_threads(2.0)


def test_omp_num_threads_is_respected_by_default():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", "import fastcrl; print(fastcrl.get_num_threads())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "1"


def _import_in_subprocess(**env_overrides):
    """build_info()["openmp_wait"] and whether GOMP_SPINCOUNT is set after `import fastcrl`."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_overrides)
    code = "import os, fastcrl; print(fastcrl.build_info()['openmp_wait']); print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()


def test_openmp_spin_default_applies_only_to_loading_the_runtime():
    # Without a user setting, fastcrl loads libgomp with its short spin count and removes the variable
    # again, so child processes do not inherit it.
    wait, left = _import_in_subprocess()
    # (a suffix notes a libgomp some other module loaded first, e.g. from a site customisation)
    assert wait.startswith("GOMP_SPINCOUNT=300 (fastcrl default)") and left == "None"


def test_openmp_wait_setting_notes_a_runtime_loaded_first():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = (
        "import ctypes, ctypes.util\n"
        "name = ctypes.util.find_library('gomp')\n"
        "print('none' if name is None else 'loaded'); name and ctypes.CDLL(name)\n"
        "import fastcrl; print(fastcrl.build_info()['openmp_wait'])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    first, wait = out.stdout.strip().splitlines()
    if first == "none":
        pytest.skip("no libgomp found by ctypes.util.find_library")
    assert wait.endswith("a libgomp was loaded before fastcrl, whose own settings may apply")


@pytest.mark.parametrize("name, value", [("GOMP_SPINCOUNT", "50"), ("OMP_WAIT_POLICY", "active")])
def test_openmp_wait_setting_of_the_user_wins(name, value):
    wait, left = _import_in_subprocess(**{name: value})
    assert wait.startswith(f"{name}={value} (environment)")
    assert left == (value if name == "GOMP_SPINCOUNT" else "None")


def _blas_wait_in_subprocess(**env_overrides):
    """build_info()["blas_wait"] and OPENBLAS_THREAD_TIMEOUT after `import fastcrl`."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env.update(env_overrides)
    code = (
        "import os, fastcrl; print(fastcrl.build_info()['blas_wait']); "
        "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()


def test_openblas_thread_timeout_default_applies_only_to_loading_the_library():
    wait, left = _blas_wait_in_subprocess()
    assert wait == "OPENBLAS_THREAD_TIMEOUT=20 (fastcrl default)" and left == "None"


def test_openblas_thread_timeout_of_the_user_wins():
    wait, left = _blas_wait_in_subprocess(OPENBLAS_THREAD_TIMEOUT="6")
    assert wait == "OPENBLAS_THREAD_TIMEOUT=6 (environment)" and left == "6"


class _FakeDeviceArray:
    """Carries a CUDA array interface but lives nowhere: enough to exercise dispatch."""

    def __init__(self, shape=(4, 3)):
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": "<f8",
            "data": (0, False),
            "version": 3,
            "strides": None,
        }


def test_device_arrays_are_recognised_and_mixing_is_refused():
    fake = _FakeDeviceArray()
    assert _backend.is_device_array(fake)
    assert not _backend.is_device_array(np.ones(3))
    assert _backend.xp_of(np.ones(2), np.ones(2)) is np
    with pytest.raises(TypeError, match="mix host"):
        _backend.xp_of(np.ones(2), fake)


@pytest.mark.skipif(fastcrl.cuda_available(), reason="checks the CPU-only error path")
def test_gpu_input_without_cuda_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(_backend, "_cuda", None)
    with pytest.raises(RuntimeError, match="GPU array.*NumPy array to run on the CPU"):
        _backend.require_cuda("fastcrl.covariance")


def test_check_data_conversions_and_errors(rng):
    X = rng.normal(size=(10, 3)).astype(np.float32)
    assert check_data(X).dtype == np.float32
    assert check_data(X, dtype=np.float64).dtype == np.float64
    assert check_data(np.ones((3, 2), dtype=bool), allow_constant=True).dtype == np.float64
    with pytest.raises(ValueError, match="dtype must be float64 or float32"):
        check_data(X, dtype=np.int32)
    with pytest.raises(ValueError, match=r"X needs at least 2 samples \(rows\); got 1"):
        check_data(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"constant columns \[1\]"):
        check_data(np.c_[np.arange(4.0), np.ones(4)])
    with pytest.raises(ValueError, match=r"NaN or inf in columns \[0\]"):
        check_data(np.array([[np.nan, 1.0], [2.0, 3.0]]))


def test_check_square_matrix():
    assert check_square_matrix(np.eye(3)).shape == (3, 3)
    assert check_square_matrix(np.zeros((2, 3, 3)), batched=True).shape == (2, 3, 3)
    with pytest.raises(ValueError, match=r"square matrix \(d, d\); got shape \(2, 3\)"):
        check_square_matrix(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"stack of square matrices"):
        check_square_matrix(np.ones((3, 3)), batched=True)
    with pytest.raises(ValueError, match="NaN or inf"):
        check_square_matrix(np.full((2, 2), np.inf))
    with pytest.raises(ValueError, match="at least one node"):
        check_square_matrix(np.ones((0, 0)))


def test_dataframe_names_and_scalar_checks():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"smoking": [0.0, 1.0, 2.0], "cancer": [1.0, 0.0, 3.0]})
    assert node_names_from(df, 2) == ["smoking", "cancer"]
    assert node_names_from(np.ones((3, 2)), 2) == ["X0", "X1"]
    with pytest.raises(ValueError, match="unique"):
        node_names_from(None, 2, ["a", "a"])
    with pytest.raises(ValueError, match="one entry per column"):
        node_names_from(None, 2, ["a"])
    with pytest.raises(TypeError, match="non-numeric columns"):
        check_data(pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]}))
    assert check_option("L2", "loss", ["l2", "logistic"]) == "l2"
    with pytest.raises(
        ValueError, match=r"unknown loss 'l3'; expected one of \['l2', 'logistic'\]"
    ):
        check_option("l3", "loss", ["l2", "logistic"])
    with pytest.raises(TypeError):
        check_option(2, "loss", ["l2"])
    assert check_int(3, "k", low=1) == 3
    with pytest.raises(TypeError):
        check_int(True, "k")
    with pytest.raises(ValueError, match="k must be <= 2"):
        check_int(3, "k", high=2)
    assert check_float(0.5, "alpha", low=0, high=1) == 0.5
    with pytest.raises(ValueError, match="alpha must be > 0"):
        check_float(0.0, "alpha", low=0, low_inclusive=False)
    with pytest.raises(ValueError, match="finite"):
        check_float(float("nan"), "alpha")


def test_check_random_state_never_uses_global_state():
    a = check_random_state(3).normal(size=3)
    b = check_random_state(3).normal(size=3)
    np.testing.assert_array_equal(a, b)
    g = np.random.default_rng(1)
    assert check_random_state(g) is g
    with pytest.raises(TypeError, match="legacy RandomState"):
        check_random_state(np.random.RandomState(0))
    with pytest.raises(ValueError, match="non-negative"):
        check_random_state(-1)
    with pytest.raises(TypeError):
        check_random_state("seed")
