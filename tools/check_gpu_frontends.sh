#!/usr/bin/env bash
# The GPU front ends against the real CUDA bindings, on a machine without a GPU: builds fastcrl._core
# and fastcrl._cuda (one GPU architecture; nothing runs on a device), assembles them with the Python
# sources in a scratch folder and runs tests/test_gpu_frontends.py there (plus the CUDA-build and
# CuPy stand-in tests).  Every call of every front end must reach its binding with well-formed
# arguments (see that file's docstring).
#
#   tools/check_gpu_frontends.sh [build-dir]        # default build/frontends
#
# Needs nvcc, CMake, Ninja, pybind11 and cuBLAS/cuSOLVER with their libraries: the nvidia-cublas and
# nvidia-cusolver wheels in $PYTHON's environment, or FASTCRL_CUBLAS_ROOT=<dir with include/ and
# lib/> (e.g. the wheels unpacked).  Skips nothing: a missing extension fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
build=${1:-$root/build/frontends}
extra=()
[ -n "${FASTCRL_CUBLAS_ROOT:-}" ] && extra+=("-DFASTCRL_CUBLAS_ROOT=$FASTCRL_CUBLAS_ROOT")
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTCRL_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=80 -DPython_EXECUTABLE="$("$py" -c 'import sys; print(sys.executable)')" \
  -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" "${extra[@]}" >/dev/null
cmake --build "$build" --target _core _cuda
pkg=$(mktemp -d)
trap 'rm -rf "$pkg"' EXIT
cp -r "$root/python/fastcrl" "$pkg/"
rm -f "$pkg"/fastcrl/_*.so
cp "$build"/python/bindings/_core*.so "$build"/cuda/_cuda*.so "$pkg/fastcrl/"
cd "$root"
FASTCRL_REQUIRE_CUDA_EXTENSION=1 PYTHONPATH="$pkg" "$py" -m pytest -q -p no:cacheprovider \
  tests/test_gpu_frontends.py tests/test_cuda_build.py tests/test_nn_backend.py
