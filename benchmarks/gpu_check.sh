#!/usr/bin/env bash
# One check of the CUDA extension on a lent GPU machine (H100/H200, image 'cuda'): build fastcrl with
# FASTCRL_CUDA=ON, run the GPU tests, run a small case under compute-sanitizer, and print a table of
# reference (NumPy) / C++ (OpenBLAS) / CUDA timings.  Sized for about 5 minutes on a fresh machine.
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
#   # then the device tool's run, with carry [".whl"] and timeout_s 480:
#   bash benchmarks/gpu_check.sh
#
# Results go to stdout and, when $OUT is set, to $OUT/gpu_check.md, $OUT/pytest.log and $OUT/build.log.
# Exit status: 0 when the build, the GPU tests and the sanitizer run all passed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
py=${PYTHON:-python3}
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
status=0
t0=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - t0 )) s)"; }

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

step "build (FASTCRL_CUDA=ON, default architectures)"
# --no-build-isolation: the build must see the nvidia-cublas/cusolver wheels of this Python.
if ! "$py" -m pip install -v --no-deps --no-build-isolation -Ccmake.define.FASTCRL_CUDA=ON \
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
"$py" -m pytest -p no:cacheprovider -q -rs -m "not slow" tests/gpu tests/test_cuda_build.py tests/test_stats.py \
  2>&1 | tee "$out/pytest.log" | tail -n 15
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
if grep -q "no CUDA device" "$out/pytest.log"; then echo "GPU TESTS SKIPPED"; status=1; fi

step "compute-sanitizer memcheck (small shapes, both dtypes)"
cat >/tmp/fastcrl_small.py <<'PY'
import cupy as cp, numpy as np, fastcrl
# Plain cudaMalloc per array (no pool), so memcheck sees each allocation's exact bounds.
cp.cuda.set_allocator(None)
rng = np.random.default_rng(0)
for dt in (np.float64, np.float32):
    for n, d in ((50, 37), (3, 1), (70, 65)):
        X = cp.asarray(rng.normal(size=(n, d)).astype(dt))
        fastcrl.covariance(X); fastcrl.gram(X, scale=2.0); fastcrl.column_means(X); fastcrl.correlation(X)
cp.cuda.runtime.deviceSynchronize()
print("sanitizer workload done")
PY
if command -v compute-sanitizer >/dev/null; then
  timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 "$py" /tmp/fastcrl_small.py 2>&1 | tail -n 4
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "SANITIZER FAILED OR TIMED OUT"; status=1; }
else
  echo "compute-sanitizer not on PATH: skipped"
fi

step "timings"
cd /tmp
"$py" - "$out/gpu_check.md" <<'PY' || status=1
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
        "", "| op | n x d | dtype | reference (NumPy) | C++ (OpenBLAS) | CUDA | C++/CUDA |", "|---|---|---|---|---|---|---|"]
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
            rows.append(f"| {name} | {n} x {d} | {np.dtype(dt).name} | {r:.2f} | {c:.2f} | {g:.3f} | {c / g:.1f}x |")
        del Xd
        cp.get_default_memory_pool().free_all_blocks()
print("\n".join(rows))
open(sys.argv[1], "w").write("\n".join(rows) + "\n")
PY
cd - >/dev/null

step "done: status $status"
exit $status
