"""Where a DAGMA fit with the default solver (L-BFGS-B on the host) spends its time, on the GPU
(CuPy X) and on the CPU, and how the CPU fit scales with fastcrl's thread count.

The GPU check (benchmarks/gpu_check.sh) found that the GPU's default-solver fits were only ~1.2x the
device machine's CPU, while the same CPU fit ran faster on a 2-core development machine than on the
16-core device machine; this prints the profile of each and a thread sweep, to say which part to
move.  Run on a machine with CuPy and a GPU (the CuPy part is skipped without one):

    python benchmarks/gpu_profile_continuous.py [--d 500] [--iters 20] [--threads 1,2,4,8,16]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
import warnings

import numpy as np

import fastcrl


def er2(d: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = min(1.0, 4.0 / max(d - 1, 1))  # 2d edges expected
    B = np.triu(rng.random((d, d)) < p, 1) * rng.uniform(0.5, 2.0, (d, d))
    B *= rng.choice([-1, 1], (d, d))
    perm = rng.permutation(d)
    B = B[np.ix_(perm, perm)]
    return rng.standard_normal((n, d)) @ np.linalg.inv(np.eye(d) - B)


def profiled(label: str, fit, top: int) -> float:
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    fit()
    prof.disable()
    elapsed = time.perf_counter() - start
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in text.getvalue().splitlines() if ln.strip()]
    print(f"\n-- {label}: {elapsed:.2f} s")
    print("\n".join(lines[-top - 1 :]))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=500)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--threads", default="1,2,4,8,16")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # ConvergenceWarning: the iteration budget is fixed on purpose

    X = er2(args.d, 1000)
    k = args.iters

    def make():
        return fastcrl.DAGMA(T=1, warm_iter=k, max_iter=k)

    print(f"DAGMA lbfgs, d={args.d}, {k} iterations, {os.cpu_count()} cores, "
          f"fastcrl threads {fastcrl.get_num_threads()}")
    make().fit(X)  # warm-up
    profiled("CPU (C++ loop)", lambda: make().fit(X), args.top)
    try:
        import cupy as cp

        Xd = cp.asarray(X)
        make().fit(Xd)  # warm-up: handles, pool, CuPy kernels
        sync = cp.cuda.get_current_stream().synchronize
        profiled("GPU (CuPy X)", lambda: (make().fit(Xd), sync()), args.top)
    except Exception as exc:  # noqa: BLE001 - no CuPy or no device: the CPU part still reports
        print(f"\n-- GPU part skipped: {exc}")

    default = fastcrl.get_num_threads()
    print("\nthreads | CPU fit s")
    for t in (int(v) for v in args.threads.split(",")):
        fastcrl.set_num_threads(t)
        start = time.perf_counter()
        make().fit(X)
        print(f"{t} | {time.perf_counter() - start:.2f}")
    fastcrl.set_num_threads(default)


if __name__ == "__main__":
    main()
