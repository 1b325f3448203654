#!/usr/bin/env bash
# One check of the CUDA extension on a lent GPU machine (H100/H200, image 'cuda'): build fastcrl with
# FASTCRL_CUDA=ON, run the GPU tests, time the GPU paths against the machine's CPU (the issues'
# figures first: continuous learners, local scores, exact search, IVAE; then GES and the sufficient
# statistics), and last run small cases under compute-sanitizer.  The whole check keeps to a time
# budget (FASTCRL_GPU_CHECK_BUDGET seconds, default 540): every block is limited to the time left,
# and a block that no longer fits is reported as skipped, so the tables measured so far always come
# back inside the device tool's limit.  Measured: the whole check took 281 s on an H200 machine
# (2026-11-29; build 33 s, tests 78 s), plus about 35 s to start the machine.
#
# That machine has no internet.  Its python3 (/opt/torch/.venv, Python 3.12) already holds numpy, scipy,
# cupy-cuda13x, nvidia-cublas, nvidia-cusolver, scikit-build-core, cmake, ninja, pytest,
# pytest-benchmark, hypothesis, networkx, tqdm and pandas; scipy-openblas32 is missing, and its
# pybind11 may predate the 3.0 we require.  Carry both as wheels (8 MB together):
#
#   # here, once, in the repo root (.whl/ is in .gitignore):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
#     scipy-openblas32==0.3.34.481.3 pybind11==3.1.0
#   # then the device tool's run, with carry [".whl"] and a timeout_s above the budget:
#   bash benchmarks/gpu_check.sh
#
# Results go to stdout and, when $OUT is set, to $OUT/gpu_check.md, $OUT/gpu_check.log (all output),
# $OUT/pytest.log and $OUT/build.log.
# FASTCRL_GPU_CHECK_NEW (a pytest -k expression; empty: none) names the tests of code not yet run on a
# device, run in a second pytest process;
# FASTCRL_GPU_CHECK_SKIP=continuous,scores,exact,ivae,ges,stats,profile,sanitize (any of them) skips blocks;
# FASTCRL_GPU_CHECK_TESTS narrows the test files (default: tests/gpu and the CUDA-build, statistics and
# score tests).
# CUDAARCHS (default 90 here, the H100/H200's architecture) keeps the build short; the default
# multi-architecture build is compiled by CI.
# Exit status: 0 when the build, the GPU tests (run, not skipped), the sanitizer runs and the timing
# blocks all passed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export FASTCRL_REQUIRE_GPU=1  # tests/gpu fail (not skip) when the extension cannot use the GPU
py=${PYTHON:-python3}
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
# everything printed also goes to $OUT/gpu_check.log (the run tool returns only the tail)
exec > >(tee -a "$out/gpu_check.log") 2>&1
status=0
t0=$(date +%s)
budget=${FASTCRL_GPU_CHECK_BUDGET:-540}
step() { echo; echo "== $* ($(( $(date +%s) - t0 )) s)"; }
left() { echo $(( budget - ($(date +%s) - t0) )); }
enough() { (( $(left) >= $1 )); }
# limit N: a program's timeout, N seconds or the budget left (less a margin to print the result)
limit() { local l=$(( $(left) - 5 )); (( l > $1 )) && l=$1; (( l < 1 )) && l=1; echo $l; }
wanted() { [[ ",${FASTCRL_GPU_CHECK_SKIP:-}," != *",$1,"* ]]; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || { echo "no GPU visible"; exit 1; }
nvcc --version | tail -n 2 | head -n 1
"$py" -c 'import sys, numpy, cupy; print(sys.version.split()[0], "numpy", numpy.__version__, "cupy", cupy.__version__)'
"$py" -m pip show nvidia-cublas nvidia-cusolver 2>/dev/null | grep -E '^(Name|Version):' | paste - -

step "carried wheels"
if ls .whl/*.whl >/dev/null 2>&1; then
  # Into the interpreter's own environment when writable (the machine is thrown away afterwards),
  # else into /tmp/site on PYTHONPATH.
  if ! "$py" -m pip install -q --no-index --no-deps --no-compile .whl/*.whl; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
fi
"$py" -c 'import scipy_openblas32' || { echo "scipy-openblas32 missing: carry it in .whl/ (see the header)"; exit 1; }

export CUDAARCHS=${CUDAARCHS:-90}
step "build (FASTCRL_CUDA=ON, CUDA architectures $CUDAARCHS)"
# --no-build-isolation: the build must see the nvidia-cublas/cusolver wheels of this Python.
if ! CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) timeout $(limit 300) "$py" -m pip install -v --no-deps --no-build-isolation -Ccmake.define.FASTCRL_CUDA=ON \
    -Cbuild-dir=/tmp/fastcrl-build . >"$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log"; echo "BUILD FAILED"; exit 1
fi
grep -E "fastcrl: (building|skipping)" "$out/build.log"
grep -E "^\[[0-9]+/[0-9]+\].*(Building|Linking)" "$out/build.log" | tail -n 3
cd /tmp  # import the installed package, not the source tree
"$py" -c 'import fastcrl, json; i = fastcrl.build_info(); print(json.dumps({k: v for k, v in i.items() if k.startswith("cuda")}))
assert i["cuda_devices"] >= 1, "the CUDA extension sees no device"' || status=1
cd - >/dev/null

step "tests (GPU tests must run, not skip)"
# -rs lists every skip with its reason (shown again below, past the tail); the JUnit report counts
# the tests of tests/gpu that ran.  On this machine (a GPU is visible) a "no CUDA device" skip, or no
# GPU test run at all, fails the check; a missing or broken CUDA extension already fails the tests.
# A test that hangs is stopped (pytest-timeout, in the image) rather than eating the lease.
per_test=""; "$py" -c 'import pytest_timeout' 2>/dev/null && per_test="--timeout=90"
# Code that has never run on a device (FASTCRL_GPU_CHECK_NEW, a -k expression) is tested in a
# pytest process of its own, after the rest: a sticky CUDA error there (an illegal address poisons
# the process's context) must not fail the tests that ran before.
new_k=${FASTCRL_GPU_CHECK_NEW-fused or one_hot or small_and_large or regression_epoch or bootstrap or fit_transform or sortnregress}
tests=${FASTCRL_GPU_CHECK_TESTS:-tests/gpu tests/test_cuda_build.py tests/test_stats.py tests/test_scores.py}
timeout $(limit 240) "$py" -m pytest -p no:cacheprovider -q -rs -m "not slow" $per_test \
  ${new_k:+-k "not ($new_k)"} --junitxml="$out/pytest.xml" $tests \
  2>&1 | tee "$out/pytest.log" | tail -n 15
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
if [ -n "$new_k" ]; then
  echo "-- first run on a device: -k \"$new_k\""
  timeout $(limit 120) "$py" -m pytest -p no:cacheprovider -q -rs -m "not slow" $per_test \
    -k "$new_k" --junitxml="$out/pytest-new.xml" $tests 2>&1 | tee "$out/pytest-new.log" | tail -n 15
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "NEW GPU CODE: TESTS FAILED (see pytest-new.log)"; status=1; }
fi
grep -E "^SKIPPED .*tests/gpu/" "$out/pytest.log" | head -n 10
if grep -q "no CUDA device" "$out/pytest.log"; then echo "GPU TESTS SKIPPED"; status=1; fi
"$py" - "$out/pytest.xml" <<'PY' || { echo "GPU TESTS SKIPPED: none of tests/gpu ran"; status=1; }
import sys, xml.etree.ElementTree as ET
cases = [c for c in ET.parse(sys.argv[1]).iter("testcase") if c.get("classname", "").startswith("tests.gpu.")]
ran = sum(c.find("skipped") is None for c in cases)
print(f"tests/gpu: {ran} of {len(cases)} tests ran")
sys.exit(0 if ran else 1)
PY

block_stats() {
step "timings"
cd /tmp
timeout $(limit 150) "$py" - "$out/gpu_check.md" <<'PY' || { echo "STATS TIMINGS FAILED OR TIMED OUT"; status=1; }
import sys, time
import numpy as np, cupy as cp
import fastcrl
from fastcrl import reference

def best(fn, reps, sync=None):
    fn()
    if sync: sync()
    times = []
    for _ in range(reps):
        t = time.perf_counter(); fn()
        if sync: sync()  # GPU timings end with a synchronize
        times.append(time.perf_counter() - t)
    return min(times) * 1e3

sync = cp.cuda.get_current_stream().synchronize
dev = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
rows = [f"Device: {dev}; CPU: fastcrl {fastcrl.get_num_threads()} threads. Best of N, in ms, through the public "
        "API (input validation included); CUDA input already on the device, each timing ends with a synchronize.",
        "\"CuPy X.T @ X\" (cuBLAS gemm, both triangles) beside the gram rows: run 1 found float32 syrk 8-17 ms "
        "against 1-3 ms in float64, so this says whether gemm is the faster float32 path.",
        "", "| op | n x d | dtype | reference (NumPy) | C++ (OpenBLAS) | CUDA | C++/CUDA | CuPy X.T @ X |",
        "|---|---|---|---|---|---|---|---|"]
rng = np.random.default_rng(0)
for n, d in ((100_000, 100), (200_000, 500), (20_000, 2_000)):
    for dt in (np.float64, np.float32):
        X = (rng.normal(size=(n, d)) + 3.0).astype(dt)
        Xd = cp.asarray(X)
        for name, ref, f in (("covariance", reference.covariance, fastcrl.covariance),
                             ("gram", reference.gram, fastcrl.gram),
                             ("column_means", reference.column_means, fastcrl.column_means)):
            r = best(lambda: ref(X), 2)
            c = best(lambda: f(X), 3)
            g = best(lambda: f(Xd), 10, sync)
            mm = f"{best(lambda: Xd.T @ Xd, 10, sync):.3f}" if name == "gram" else "-"
            rows.append(f"| {name} | {n} x {d} | {np.dtype(dt).name} | {r:.2f} | {c:.2f} | {g:.3f} | {c / g:.1f}x | {mm} |")
        del Xd
        cp.get_default_memory_pool().free_all_blocks()
print("\n".join(rows))
open(sys.argv[1], "a").write("\n".join(rows) + "\n")
PY
cd - >/dev/null
}

block_continuous() {
step "continuous structure learning: DAGMA / NOTEARS on the GPU (CuPy input) vs the CPU"
# Fixed work on both sides so the times compare: DAGMA (Adam) runs one central-path problem for a
# fixed number of steps (checkpoint beyond them: no early stop); NOTEARS is timed per evaluation of
# its augmented-Lagrangian objective and gradient (expm constraint + l2 loss, what each L-BFGS-B
# step costs), since a full NOTEARS fit at d >= 500 takes minutes on the CPU; then the default
# solvers' fits for a fixed number of iterations (NOTEARS: one outer round at d = 500).  ER-2 DAGs,
# n = 1000.
# Sizes: FASTCRL_GPU_CHECK_D (default 500,1000,2000).  Without CuPy only the CPU columns are run.
cd /tmp
timeout $(limit 180) "$py" - "$out/gpu_check.md" <<'PY' || { echo "CONTINUOUS TIMINGS FAILED OR TIMED OUT"; status=1; }
import os, sys, time, warnings
import numpy as np
import fastcrl
from fastcrl import _gpu_continuous, acyclicity
try:
    import cupy as cp
except ImportError:
    cp = None
warnings.simplefilter("ignore")  # ConvergenceWarning: the step budgets are fixed on purpose

def er2(d, n, seed=0):
    rng = np.random.default_rng(seed)
    p = min(1.0, 4.0 / max(d - 1, 1))  # 2d edges expected
    B = np.triu(rng.random((d, d)) < p, 1) * rng.uniform(0.5, 2.0, (d, d)) * rng.choice([-1, 1], (d, d))
    perm = rng.permutation(d)
    B = B[np.ix_(perm, perm)]
    return rng.standard_normal((n, d)) @ np.linalg.inv(np.eye(d) - B)

def timed(fn, sync=None):
    t = time.perf_counter(); out = fn()
    if sync: sync()
    return time.perf_counter() - t, out

sync = cp.cuda.get_current_stream().synchronize if cp else None
dev = cp.cuda.runtime.getDeviceProperties(0)["name"].decode() if cp else "none (CuPy missing)"
rows = ["", f"Continuous learners. Device: {dev}; CPU: fastcrl {fastcrl.get_num_threads()} threads. ER-2, n = 1000, "
        "float64; GPU input already on the device, timings end with a synchronize.", "",
        "| task | d | steps | CPU (C++) s | GPU (CuPy) s | CPU/GPU |", "|---|---|---|---|---|---|"]
sizes = [int(v) for v in os.environ.get("FASTCRL_GPU_CHECK_D", "500,1000,2000").split(",")]
for d in sizes:
    X = er2(d, 1000)
    Xd = cp.asarray(X) if cp else None
    steps = {500: 200, 1000: 60, 2000: 15}.get(d, 30)
    dagma = lambda: fastcrl.DAGMA(solver="adam", T=1, warm_iter=steps, max_iter=steps, checkpoint=10 * steps)
    if cp:
        timed(lambda: dagma().set_params(warm_iter=2, max_iter=2).fit(Xd), sync)  # warm up handles, pool
    t_cpu, e_cpu = timed(lambda: dagma().fit(X))
    if cp:
        t_gpu, e_gpu = timed(lambda: dagma().fit(Xd), sync)
        diff = float(np.abs(e_gpu.W_raw_.get() - e_cpu.W_raw_).max())
        rows.append(f"| DAGMA adam (max abs W diff {diff:.1e}) | {d} | {steps} | {t_cpu:.2f} | {t_gpu:.2f} | {t_cpu / t_gpu:.1f}x |")
    else:
        rows.append(f"| DAGMA adam | {d} | {steps} | {t_cpu:.2f} | - | - |")
    # NOTEARS: objective + gradient at a dense, in-domain W (the cost does not depend on the values).
    evals = {500: 20, 1000: 10, 2000: 4}.get(d, 5)
    rng = np.random.default_rng(1)
    W = rng.normal(size=(d, d)) * (0.3 / np.sqrt(d))
    np.fill_diagonal(W, 0.0)
    def evaluate(xp, Xs, Wx):
        S = fastcrl.covariance(Xs, ddof=0)
        prob = _gpu_continuous.Problem(xp, S, None, xp.ones((d, d), dtype=bool), xp.ones((d, d)))
        def run():
            for _ in range(evals):
                h = prob.constraint("expm", Wx)
                prob.loss(Wx)
                g = prob.GL + (10.0 * h + 1.0) * prob.Gh
                if xp is not np:
                    g.get()  # L-BFGS-B runs on the host: the gradient crosses once per evaluation
            return h
        return run
    t_cpu, _ = timed(evaluate(np, X, W))
    if cp:
        run = evaluate(cp, Xd, cp.asarray(W)); run()
        t_gpu, _ = timed(run, sync)
        rows.append(f"| NOTEARS objective+grad (expm) | {d} | {evals} | {t_cpu:.2f} | {t_gpu:.3f} | {t_cpu / t_gpu:.1f}x |")
    else:
        rows.append(f"| NOTEARS objective+grad (expm) | {d} | {evals} | {t_cpu:.2f} | - | - |")
    print(rows[-2]); print(rows[-1]); sys.stdout.flush()
    # Whole fits with the default solvers, L-BFGS-B on the host (its 2d^2 iterate and gradient
    # cross once per evaluation): DAGMA for a fixed number of quasi-Newton iterations, and NOTEARS
    # for one augmented-Lagrangian round (inner problem solved to its tolerance) at d = 500.
    fits = [("DAGMA lbfgs (default solver)", {500: 50, 1000: 20, 2000: 8}.get(d, 10),
             lambda k: fastcrl.DAGMA(T=1, warm_iter=k, max_iter=k))]
    if d <= 500:
        fits.append(("NOTEARS fit, 1 outer round", 1, lambda k: fastcrl.NOTEARS(max_iter=k)))
    for label, k, make in fits:
        t_cpu, e_cpu = timed(lambda: make(k).fit(X))
        if cp:
            t_gpu, e_gpu = timed(lambda: make(k).fit(Xd), sync)
            diff = float(np.abs(e_gpu.W_raw_.get() - e_cpu.W_raw_).max())
            rows.append(f"| {label} (max abs W diff {diff:.1e}) | {d} | {k} | {t_cpu:.2f} | {t_gpu:.2f} | {t_cpu / t_gpu:.1f}x |")
        else:
            rows.append(f"| {label} | {d} | {k} | {t_cpu:.2f} | - | - |")
        print(rows[-1]); sys.stdout.flush()
    if cp:
        del Xd; cp.get_default_memory_pool().free_all_blocks()
print("\n".join(rows))
with open(sys.argv[1], "a") as f:
    f.write("\n".join(rows) + "\n")
PY
cd - >/dev/null
}

block_scores() {
step "GPU local scores: GaussianBIC / BGe / BDeu batches from a CuPy X vs the C++ batch"
# One batch of random (node, parent set) pairs of size k.  End to end: local_scores(nodes, sets) from
# Python lists, on NumPy X (C++, OpenMP, cache cleared) and on CuPy X (CSR build + H2D copy of the
# indices + kernel + NaN check), bound by walking the lists; then CuPy X with NumPy arrays (a
# (B, k) parent-set array, checked with whole-array operations).  Kernels: the same
# batch as CSR arrays, the C++ kernel (cache cleared) and the CUDA kernel (Gaussian: device-resident
# indices; BDeu: host indices copied in).  Then the covariance's accuracy on each side.
cd /tmp
timeout $(limit 150) "$py" - "$out/gpu_check.md" <<'PY' || { echo "SCORE TIMINGS FAILED OR TIMED OUT"; status=1; }
import sys, time
import numpy as np, cupy as cp
import fastcrl
from fastcrl import _backend, scores

def best(fn, reps, sync=None, setup=None):
    times = []
    for _ in range(reps):
        if setup: setup()
        t = time.perf_counter(); fn()
        if sync: sync()
        times.append(time.perf_counter() - t)
    return min(times)

sync = cp.cuda.get_current_stream().synchronize
dev = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
rng = np.random.default_rng(0)
n, d, B = 20_000, 100, 50_000
X = rng.normal(size=(n, d)); X[:, 1:] += 0.3 * X[:, :-1]
Xd = cp.asarray(X)
rows = ["", f"GPU local scores. Device: {dev}; CPU: fastcrl {fastcrl.get_num_threads()} threads. n = {n}, d = {d}, "
        f"batch of {B} random pairs per row; best of 3, scores per second.", "",
        "| score | k | C++ end to end | CUDA end to end | CUDA end to end (arrays) | C++ kernel (CSR) | CUDA kernel (CSR) "
        "| kernel speed-up | max rel diff |",
        "|---|---|---|---|---|---|---|---|---|"]
for name, make in (("GaussianBIC", scores.GaussianBIC), ("BGe", scores.BGe)):
    cpu, gpu = make(X), make(Xd)
    for k in (2, 8, 32):
        nodes = rng.integers(0, d, size=B)
        sets = [rng.choice(np.delete(np.arange(d), j), size=k, replace=False).tolist() for j in nodes]
        nodes = nodes.tolist()
        ref = cpu.local_scores(nodes, sets)
        got = gpu.local_scores(nodes, sets).get()
        diff = float(np.max(np.abs(got - ref) / np.abs(ref)))
        t_cpu = best(lambda: cpu.local_scores(nodes, sets), 3, setup=cpu.clear_cache)
        t_gpu = best(lambda: gpu.local_scores(nodes, sets), 3, sync)
        js, offsets, flat = gpu._fast_csr(nodes, sets)
        js_d, off_d, flat_d, out = cp.asarray(js), cp.asarray(offsets), cp.asarray(flat), cp.empty(B)
        coef = gpu._gpu_coefficients(_backend._cuda.max_gaussian_score_parents)
        stream = cp.cuda.get_current_stream().ptr
        # max_parents = k, as fastcrl.scores passes it (k <= 8: the one-thread-per-family kernel only)
        t_ker = best(lambda: _backend._cuda.gaussian_local_scores(gpu._device_matrix, js_d, off_d, flat_d, *coef, out, stream, k), 5, sync)
        t_cker = best(lambda: cpu._kernel.local_scores(js, offsets, flat), 3, setup=cpu.clear_cache)
        node_array, set_array = np.asarray(nodes), np.asarray(sets)
        t_arr = best(lambda: gpu.local_scores(node_array, set_array), 3, sync)
        rows.append(f"| {name} | {k} | {B / t_cpu:,.0f} | {B / t_gpu:,.0f} | {B / t_arr:,.0f} | {B / t_cker:,.0f} "
                    f"| {B / t_ker:,.0f} | {t_cker / t_ker:.0f}x | {diff:.1e} |")
        print(rows[-1]); sys.stdout.flush()
# A batch of 50,000 keeps a GPU only partly busy (one short thread per family): the same kernels on
# a million families, CSR arrays drawn vectorised (k distinct parents per node, none the node).
def random_csr(B, k):
    js = rng.integers(0, d, size=B)
    P = rng.integers(0, d - 1, size=(B, k))
    while True:
        P.sort(axis=1)
        dup = (np.diff(P, axis=1) == 0).any(axis=1)
        if not dup.any():
            break
        P[dup] = rng.integers(0, d - 1, size=(int(dup.sum()), k))
    P += P >= js[:, None]  # skip the node itself; order within each row is kept
    return js, np.arange(0, B * k + 1, k, dtype=np.int64), P.ravel().astype(np.int64)
big = 1_000_000
for name, make in (("GaussianBIC", scores.GaussianBIC),):
    cpu, gpu = make(X), make(Xd)
    coef = gpu._gpu_coefficients(_backend._cuda.max_gaussian_score_parents)
    stream = cp.cuda.get_current_stream().ptr
    for k in (2, 8):
        js, offsets, flat = random_csr(big, k)
        js_d, off_d, flat_d, out = cp.asarray(js), cp.asarray(offsets), cp.asarray(flat), cp.empty(big)
        t_cker = best(lambda: cpu._kernel.local_scores(js, offsets, flat), 3, setup=cpu.clear_cache)
        t_ker = best(lambda: _backend._cuda.gaussian_local_scores(gpu._device_matrix, js_d, off_d, flat_d, *coef, out, stream, k), 5, sync)
        ref = cpu._kernel.local_scores(js, offsets, flat)
        diff = float(np.max(np.abs(out.get() - ref) / np.abs(ref)))
        rows.append(f"| {name} (batch {big:,}) | {k} | - | - | - | {big / t_cker:,.0f} | {big / t_ker:,.0f} "
                    f"| {t_cker / t_ker:.0f}x | {diff:.1e} |")
        print(rows[-1]); sys.stdout.flush()
Z = rng.integers(0, 3, size=(n, d))
Z[:, 1:] = np.where(rng.random((n, d - 1)) < 0.4, Z[:, :-1], Z[:, 1:])
cpu, gpu = scores.BDeu(Z), scores.BDeu(cp.asarray(Z))
B = 20_000
for k in (1, 2, 4, 6):  # 3^(k+1) cells; 6 parents = 2187 cells, still in shared memory
    nodes = rng.integers(0, d, size=B)
    sets = [rng.choice(np.delete(np.arange(d), j), size=k, replace=False).tolist() for j in nodes]
    nodes = nodes.tolist()
    ref = cpu.local_scores(nodes, sets)
    diff = float(np.max(np.abs(gpu.local_scores(nodes, sets).get() - ref) / np.abs(ref)))
    t_cpu = best(lambda: cpu.local_scores(nodes, sets), 3, setup=cpu.clear_cache)
    t_gpu = best(lambda: gpu.local_scores(nodes, sets), 3, sync)
    js, offsets, flat = cpu._fast_csr(nodes, sets)
    t_cker = best(lambda: cpu._kernel.local_scores(js, offsets, flat), 3, setup=cpu.clear_cache)
    t_ker = best(lambda: gpu._device_scores_unchecked(js, offsets, flat), 3, sync)
    node_array, set_array = np.asarray(nodes), np.asarray(sets)
    t_arr = best(lambda: gpu.local_scores(node_array, set_array), 3, sync)
    rows.append(f"| BDeu (n={n}, 3 levels, batch {B}) | {k} | {B / t_cpu:,.0f} | {B / t_gpu:,.0f} | {B / t_arr:,.0f} "
                f"| {B / t_cker:,.0f} | {B / t_ker:,.0f} | {t_cker / t_ker:.0f}x | {diff:.1e} |")
    print(rows[-1]); sys.stdout.flush()
# Where the Gaussian BIC's CPU/GPU differences come from: each side's covariance against a two-pass
# float64 one, and the two kernels on one and the same covariance.
Xc = X - X.mean(axis=0)
S_ref = Xc.T @ Xc / n
scale = np.sqrt(np.outer(np.diag(S_ref), np.diag(S_ref)))
S_cpu = scores.GaussianBIC(X).covariance()
S_gpu = scores.GaussianBIC(Xd).covariance().get()
nodes = rng.integers(0, d, size=2000)
sets = [rng.choice(np.delete(np.arange(d), j), size=8, replace=False).tolist() for j in nodes]
nodes = nodes.tolist()
same_cpu = scores.GaussianBIC.from_covariance(S_ref, n).local_scores(nodes, sets)
same_gpu = scores.GaussianBIC.from_covariance(cp.asarray(S_ref), n).local_scores(nodes, sets).get()
rows += ["", f"Covariance error, max |S - S_two_pass| / sqrt(S_ii S_jj): C++ {np.max(np.abs(S_cpu - S_ref) / scale):.1e}, "
         f"CUDA {np.max(np.abs(S_gpu - S_ref) / scale):.1e}; Gaussian BIC (k = 8) of both kernels on the same covariance: "
         f"max rel diff {np.max(np.abs(same_gpu - same_cpu) / np.abs(same_cpu)):.1e}."]
print(rows[-1])
print("\n".join(rows))
with open(sys.argv[1], "a") as f:
    f.write("\n".join(rows) + "\n")
PY
cd - >/dev/null
}

block_exact() {
step "exact search: local-score table on the GPU (CuPy input) vs the CPU"
# Same data, same optimum (checked); "local scores" is the table fill, "fit" the whole search (the
# dynamic programme runs on the CPU in both).  ER-2 linear-Gaussian n = 1000; BDeu on 3-level data.
cd /tmp
timeout $(limit 150) "$py" - "$out/gpu_check.md" <<'PY' || { echo "EXACT SEARCH TIMINGS FAILED OR TIMED OUT"; status=1; }
import sys, time
import numpy as np, cupy as cp
import fastcrl
dev = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
rows = ["", f"Exact search, CuPy X (local scores on the GPU) vs NumPy X. Device: {dev}; CPU: fastcrl "
        f"{fastcrl.get_num_threads()} threads. 'table' = local_scores_time_ (the table fill), 'fit' the whole "
        "search (the dynamic programme runs on the CPU in both).", "",
        "| score | d | max_parents | local scores | CPU table s | GPU table s | table speed-up | CPU fit s "
        "| GPU fit s | same optimum |", "|---|---|---|---|---|---|---|---|---|---|"]
rng = np.random.default_rng(0)
Z = rng.integers(0, 3, size=(2000, 25))
Z[:, 1:] = np.where(rng.random((2000, 24)) < 0.4, Z[:, :-1], Z[:, 1:])
# bdeu d=18 with max_parents=7: 3-level families of up to 7 parents fit the kernel's 8192 cells
# (without a limit most of its 2.4 M families would be scored on the CPU anyway)
cases = [("bic", 20, None), ("bdeu", 18, 7), ("bdeu", 25, 4), ("bic", 25, None)]
fastcrl.ExactSearch().fit(cp.asarray(rng.normal(size=(50, 6))))  # warm-up (context, pool)
for kind, d, maxp in cases:
    X = Z[:, :d] if kind == "bdeu" else fastcrl.simulate.simulate_dataset(d, 1000, edges_per_node=2, random_state=0).X
    est = lambda: fastcrl.ExactSearch(score=kind, max_parents=maxp, memory_limit="64GB")
    t = time.perf_counter(); cpu = est().fit(X); t_cpu = time.perf_counter() - t
    t = time.perf_counter(); gpu = est().fit(cp.asarray(X)); t_gpu = time.perf_counter() - t
    same = gpu.device_ == "cuda" and abs(gpu.score_ - cpu.score_) <= 1e-9 * abs(cpu.score_)
    rows.append(f"| {kind} | {d} | {maxp or '-'} | {cpu.n_local_scores_:,} | {cpu.local_scores_time_:.2f} "
                f"| {gpu.local_scores_time_:.2f} | {cpu.local_scores_time_ / gpu.local_scores_time_:.1f}x "
                f"| {t_cpu:.1f} | {t_gpu:.1f} | {same} |")
    print(rows[-1]); sys.stdout.flush()
print("\n".join(rows))
with open(sys.argv[1], "a") as f:
    f.write("\n".join(rows) + "\n")
PY
cd - >/dev/null
}

block_ges() {
step "GES: Insert candidates scored on the GPU (CuPy input) vs the CPU"
# Same search either way (checked: same CPDAG); BDeu on 3-level data (counting is where the GPU pays)
# and the Gaussian BIC (whose CPU path is an O(k^2) in-register update: the GPU round trips may lose).
cd /tmp
timeout $(limit 150) "$py" - "$out/gpu_check.md" <<'PY' || { echo "GES TIMINGS FAILED OR TIMED OUT"; status=1; }
import sys, time
import numpy as np, cupy as cp
import fastcrl
dev = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
rows = ["", f"GES (restarts=0), CuPy X (Insert candidates on the GPU) vs NumPy X. Device: {dev}; CPU: fastcrl "
        f"{fastcrl.get_num_threads()} threads.", "",
        "| score | n | d | operators | evaluated | CPU s | GPU s | CPU/GPU | same CPDAG |", "|---|---|---|---|---|---|---|---|---|"]
rng = np.random.default_rng(0)
fastcrl.GES(restarts=0).fit(cp.asarray(rng.normal(size=(100, 5))))  # warm-up
for kind, n, d in (("bdeu", 5000, 100), ("bdeu", 5000, 300), ("bic", 1000, 1000)):
    if kind == "bdeu":
        X = rng.integers(0, 3, size=(n, d))
        X[:, 1:] = np.where(rng.random((n, d - 1)) < 0.5, X[:, :-1], X[:, 1:])
    else:
        X = fastcrl.simulate.simulate_dataset(d, n, edges_per_node=1, random_state=0).X
    t = time.perf_counter(); cpu = fastcrl.GES(score=kind, restarts=0).fit(X); t_cpu = time.perf_counter() - t
    t = time.perf_counter(); gpu = fastcrl.GES(score=kind, restarts=0).fit(cp.asarray(X)); t_gpu = time.perf_counter() - t
    same = gpu.device_ == "cuda" and bool((gpu.adjacency_ == cpu.adjacency_).all())
    rows.append(f"| {kind} | {n} | {d} | {cpu.n_iter_} | {cpu.n_evaluated_:,} | {t_cpu:.2f} | {t_gpu:.2f} "
                f"| {t_cpu / t_gpu:.1f}x | {same} |")
    print(rows[-1]); sys.stdout.flush()
print("\n".join(rows))
with open(sys.argv[1], "a") as f:
    f.write("\n".join(rows) + "\n")
PY
cd - >/dev/null
}

block_ivae() {
step "IVAE on the GPU (CuPy input) vs the CPU"
# Same estimator, same seed: fit(cupy X) trains on the GPU (cuda/nn.cu kernels via fastcrl._gpu_nn),
# fit(numpy X) on this machine's CPU (fastcrl._core, all cores).  Epochs are capped (pretrain_epochs=1,
# max_epochs=2 for d=5, 1 for d=10) so the block stays under ~3 minutes; a small GPU fit first compiles
# CuPy's own kernels (NVRTC, cached on disk) so that cost is not timed; "s/epoch" is the mean of history_["time"]
# (training epochs, held-out evaluation included), "fit s" the whole fit (ICA warm start on the host
# and pretraining included).  Default batch 256, then 2048 and 8192 where GPUs do better.  Two GPU
# loops: "steps" drives each minibatch step from Python (CuPy operations and kernel calls), "fused"
# queues whole epochs from C++ (cuda/training.cu, IVAE._fused_gpu_epochs); speed-ups are the fused
# loop's (the step loop's if the fused one fails on its first device run: the table then says so).
cd /tmp
timeout $(limit 240) "$py" - "$out/gpu_check.md" <<'PY' || { echo "IVAE TIMINGS FAILED OR TIMED OUT"; status=1; }
import sys, time, warnings
import numpy as np
import cupy as cp
import fastcrl
from fastcrl.crl import IVAE
from fastcrl.datasets import make_nonstationary_sources
from fastcrl.metrics import mcc
warnings.simplefilter("ignore")
dev = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
rows = ["", f"IVAE training, CuPy X on the GPU vs NumPy X on the CPU. Device: {dev}; CPU: fastcrl "
        f"{fastcrl.get_num_threads()} threads; float32, hidden (100, 100), full posterior, pretrain_epochs=1, "
        "same seed.", "",
        "| setting | batch | CPU s/epoch | GPU steps s/epoch | GPU fused s/epoch | epoch speed-up | CPU fit s "
        "| GPU fit s | fit speed-up | MCC(true, GPU) | MCC(CPU, GPU) | MCC(steps, fused) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
small = make_nonstationary_sources(4, 100, 2, random_state=0)
IVAE._fused_gpu_epochs = False
IVAE(2, max_epochs=1, pretrain_epochs=1).fit(cp.asarray(small.X), small.env)  # warm-up, not timed
fused_ok = True
try:  # the fused epochs' first run on a device: a failure is reported, the step loop still timed
    IVAE._fused_gpu_epochs = True
    IVAE(2, max_epochs=1, pretrain_epochs=1).fit(cp.asarray(small.X), small.env)
except Exception as exc:  # noqa: BLE001
    fused_ok = False
    print(f"FUSED GPU EPOCHS FAILED: {type(exc).__name__}: {exc}"); sys.stdout.flush()
    rows.append(f"(fused GPU epochs failed: {type(exc).__name__}: {exc}; steps only)")
for K, m, d, epochs, batches in ((40, 1000, 5, 2, (256, 2048)), (100, 5000, 10, 1, (256, 2048, 8192))):
    data = make_nonstationary_sources(K, m, d, random_state=0)
    Xd = cp.asarray(data.X)
    for bs in batches:
        kw = dict(max_epochs=epochs, pretrain_epochs=1, batch_size=bs, random_state=0)
        t = time.perf_counter(); cpu = IVAE(d, **kw).fit(data.X, data.env); t_cpu = time.perf_counter() - t
        cp.cuda.get_current_stream().synchronize()
        IVAE._fused_gpu_epochs = False
        t = time.perf_counter(); steps = IVAE(d, **kw).fit(Xd, data.env); t_gpu = time.perf_counter() - t
        gpu = steps
        if fused_ok:
            IVAE._fused_gpu_epochs = True
            cp.cuda.get_current_stream().synchronize()
            t = time.perf_counter(); gpu = IVAE(d, **kw).fit(Xd, data.env); t_gpu = time.perf_counter() - t
        e_cpu, e_steps, e_gpu = (np.mean(f.history_["time"]) for f in (cpu, steps, gpu))
        Zc, Zs, Zg = (f.transform(data.X, data.env) for f in (cpu, steps, gpu))
        rows.append(f"| d={d}, {K} segments x {m:,}, {epochs} epoch(s) | {bs} | {e_cpu:.2f} | {e_steps:.2f} "
                    f"| {e_gpu:.3f} | {e_cpu / e_gpu:.1f}x | {t_cpu:.1f} | {t_gpu:.1f} | {t_cpu / t_gpu:.1f}x "
                    f"| {mcc(data.Z, Zg):.3f} | {mcc(Zc, Zg):.3f} | {mcc(Zs, Zg):.3f} |")
        print(rows[-1]); sys.stdout.flush()
print("\n".join(rows))
with open(sys.argv[1], "a") as f:
    f.write("\n".join(rows) + "\n")
PY
cd - >/dev/null
}

block_sanitize() {
step "compute-sanitizer memcheck: small shapes, both dtypes (statistics, scores, exact search; acyclicity; latent-encoder kernels)"
if ! command -v compute-sanitizer >/dev/null; then echo "compute-sanitizer not on PATH: skipped"; return; fi
cat >/tmp/fastcrl_small.py <<'PY'
import cupy as cp, numpy as np, fastcrl
# Plain cudaMalloc per array (no pool), so memcheck sees each allocation's exact bounds.
cp.cuda.set_allocator(None)
rng = np.random.default_rng(0)
for dt in (np.float64, np.float32):
    for n, d in ((50, 37), (3, 1), (70, 65)):
        X = cp.asarray(rng.normal(size=(n, d)).astype(dt))
        fastcrl.covariance(X); fastcrl.gram(X, scale=2.0); fastcrl.column_means(X); fastcrl.correlation(X)
from fastcrl import scores
Xs = rng.normal(size=(40, 36)); Xs[:, 1] += Xs[:, 0]
for make in (scores.GaussianBIC, scores.BGe):
    sc = make(cp.asarray(Xs))
    sc.local_scores([0, 1, 2, 3], [[], [0], list(range(4, 36)), list(range(4, 37 - 1)) + [1]])
Zs = rng.integers(0, 3, size=(70, 12))
for sc in (scores.BDeu(cp.asarray(Zs)), scores.DiscreteBIC(cp.asarray(Zs))):
    sc.local_scores([0, 1, 2, 3], [[], [0], [4, 5, 6, 7, 8, 9], list(range(4, 12))])  # last: CPU fallback
fastcrl.ExactSearch().fit(cp.asarray(Xs[:, :8]))  # exact search's family kernels (Gaussian)
fastcrl.ExactSearch(score="bdeu", max_parents=3).fit(cp.asarray(Zs[:, :8]))  # (discrete)
cp.cuda.runtime.deviceSynchronize()
print("sanitizer workload done")
PY
cat >/tmp/fastcrl_acyclicity_small.py <<'PY'
import cupy as cp, numpy as np
from fastcrl import acyclicity
cp.cuda.set_allocator(None)  # plain cudaMalloc per array: memcheck sees exact bounds
rng = np.random.default_rng(0)
for dt in (np.float64, np.float32):
    for shape in ((1, 1), (5, 5), (3, 37, 37)):
        W = cp.asarray((0.4 * rng.normal(size=shape) / np.sqrt(shape[-1])).astype(dt))
        acyclicity.expm_constraint(W); acyclicity.poly_constraint(W)
        acyclicity.logdet_constraint(W); acyclicity.logdet_constraint(W, s=1e-3, check_domain="flag")
        acyclicity.spectral_radius(cp.abs(W) + 0.1, return_grad=True)
cp.cuda.runtime.deviceSynchronize()
print("acyclicity sanitizer workload done")
PY
cat >/tmp/fastcrl_nn_small.py <<'PY'
import cupy as cp, numpy as np
from fastcrl import nn
from fastcrl.crl import IVAE
from fastcrl.datasets import make_nonstationary_sources
cp.cuda.set_allocator(None)  # plain cudaMalloc per array: memcheck sees exact bounds
rng = np.random.default_rng(0)
for dt in (np.float64, np.float32):
    for act in nn.ACTIVATIONS:
        net = nn.MLP([3, 33, 2], activation=act, dtype=dt, random_state=0).to_device()
        net.forward(cp.asarray(rng.normal(size=(5, 3)).astype(dt)))
        net.backward(cp.ones((5, 2), dtype=dt))
    for d in (1, 4, 64):  # 64: the Cholesky kernels' per-thread arrays used to the last entry
        P = d * (d + 1) // 2
        x, mu, lv = (cp.asarray(rng.normal(size=(7, d)).astype(dt)) for _ in range(3))
        raw = cp.asarray(0.3 * rng.normal(size=(7, P)).astype(dt))
        for t in ("exp", "softplus"):
            nn.chol_gaussian_logpdf_backward(x, mu, raw, transform=t)
            nn.chol_gaussian_kl_backward(mu, raw, x, lv, transform=t)
            nn.chol_gaussian_sample_backward(raw, x, mu, transform=t)
            nn.cholesky_unpack(raw, d, t)
        nn.diag_gaussian_kl_backward(mu, lv, x, lv)
        nn.diag_gaussian_logpdf_backward(x, mu, lv)
        nn.diag_gaussian_sample_backward(lv, x, mu)
    nn.random_normal(7, 3, offset=5, dtype=dt, like=x)
data = make_nonstationary_sources(4, 40, 2, random_state=0)
for fused in (False, True):  # the step loop and the epoch queued from C++ (cuda/training.cu)
    IVAE._fused_gpu_epochs = fused
    for post, dt in (("full", "float32"), ("diagonal", "float64")):
        IVAE(2, hidden=(8,), max_epochs=1, pretrain_epochs=1, batch_size=32, posterior=post, dtype=dt,
             learn_prior_mean=True).fit(cp.asarray(data.X), data.env)
cp.cuda.runtime.deviceSynchronize()
print("nn sanitizer workload done")
PY
for prog in small acyclicity_small nn_small; do
  enough 30 || { echo "SKIPPED sanitizer $prog: $(left) s left"; continue; }
  timeout $(limit 150) compute-sanitizer --tool memcheck --error-exitcode 9 "$py" /tmp/fastcrl_$prog.py 2>&1 | tail -n 4
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "SANITIZER ($prog) FAILED OR TIMED OUT"; status=1; }
done
}

block_profile() {
step "profile: where a default-solver DAGMA fit spends its time (GPU and CPU), CPU thread sweep"
local repo
repo=$(pwd)
cd /tmp
timeout $(limit 90) "$py" "$repo/benchmarks/gpu_profile_continuous.py" --iters 20 2>&1 | tee "$out/profile.txt" \
  || { echo "PROFILE FAILED OR TIMED OUT"; status=1; }
# The CPU side of the IVAE figure: one epoch at batch 256 by thread count (on the 2-core development
# machine an epoch of this size takes ~0.28 s; run 2's 16-thread CPU column was slower per row).
timeout $(limit 60) "$py" - <<'PY' 2>&1 | tee -a "$out/profile.txt" || { echo "IVAE THREAD SWEEP FAILED OR TIMED OUT"; status=1; }
import time, fastcrl
from fastcrl.crl import IVAE
from fastcrl.datasets import make_nonstationary_sources
data = make_nonstationary_sources(100, 1000, 10, random_state=0)
print("IVAE epoch on the CPU, d=10, 100 x 1,000 rows, batch 256, float32 (partial_fit, best of 2):")
for threads in (1, 2, 4, 8, 16):
    fastcrl.set_num_threads(threads)
    m = IVAE(10, max_epochs=1, pretrain_epochs=0, early_stopping=False, random_state=0).fit(data.X, data.env)
    times = []
    for _ in range(2):
        t = time.perf_counter(); m.partial_fit(data.X, data.env); times.append(time.perf_counter() - t)
    print(f"  threads {threads:2d}: {min(times):.3f} s")
PY
cd - >/dev/null
}

# The issues' figures first, then the other timings, then the memory checker (slow under memcheck).
for block in continuous scores exact ivae ges stats profile sanitize; do
  wanted "$block" || { echo; echo "== $block: skipped (FASTCRL_GPU_CHECK_SKIP)"; continue; }
  enough 45 || { echo; echo "== $block: SKIPPED, $(left) s of the budget left"; status=1; continue; }
  "block_$block"
done

step "done: status $status"
exit $status
