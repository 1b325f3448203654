#!/usr/bin/env bash
# Compile-only check of the CUDA sources, for CI machines that have nvcc but no GPU.
#
#   tools/check_cuda_compile.sh            # every cuda/*.cu, for sm_80 (SASS) + compute_90 (PTX)
#   CUDA_ARCHS="80 86 89 90" tools/...     # SASS for each listed arch instead (slower)
#
# Needs: nvcc (CUDA >= 12; $NVCC or on PATH) and the cuBLAS headers, which the CUDA toolkit may lack.
# They are looked for in $FASTCRL_CUBLAS_ROOT/include, then in the nvidia-cublas wheel of $PYTHON
# (default python3: `pip install nvidia-cublas`, ~450 MB download; only its include/ is used), then in
# the toolkit.  Also syntax-checks python/bindings/cuda*.cpp with g++ when pybind11 is importable (that
# file needs no CUDA headers).  Warnings are errors.  Exit status: 0 = all compiled.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
nvcc=${NVCC:-nvcc}
command -v "$nvcc" >/dev/null || { echo "check_cuda_compile: nvcc not found (set NVCC or PATH)" >&2; exit 2; }

cublas_inc=""
if [ -n "${FASTCRL_CUBLAS_ROOT:-}" ]; then
  cublas_inc="$FASTCRL_CUBLAS_ROOT/include"
else
  cublas_inc=$("$py" - <<'PY' 2>/dev/null || true
import importlib.util, os
try:
    spec = importlib.util.find_spec("nvidia.cu13")
except ImportError:
    spec = None
for loc in (spec.submodule_search_locations if spec else []):
    if os.path.exists(os.path.join(loc, "include", "cublas_v2.h")):
        print(os.path.join(loc, "include"))
        break
PY
)
fi
if [ -z "$cublas_inc" ] || [ ! -f "$cublas_inc/cublas_v2.h" ]; then
  toolkit_inc="$(dirname "$(dirname "$(readlink -f "$(command -v "$nvcc")")")")/include"
  for d in "$toolkit_inc" /usr/local/cuda/include; do
    [ -f "$d/cublas_v2.h" ] && { cublas_inc=$d; break; }
  done
fi
if [ -z "$cublas_inc" ] || [ ! -f "$cublas_inc/cublas_v2.h" ]; then
  echo "check_cuda_compile: cublas_v2.h not found; run '$py -m pip install nvidia-cublas' or set FASTCRL_CUBLAS_ROOT" >&2
  exit 2
fi

gencode=()
if [ -n "${CUDA_ARCHS:-}" ]; then
  for a in $CUDA_ARCHS; do gencode+=("-gencode=arch=compute_$a,code=sm_$a"); done
else
  # Oldest supported SASS and the PTX that newer GPUs JIT: catches arch-dependent code on both ends.
  gencode=("-gencode=arch=compute_80,code=sm_80" "-gencode=arch=compute_90,code=compute_90")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "nvcc: $("$nvcc" --version | tail -n 2 | head -n 1); cuBLAS headers: $cublas_inc"
status=0
for cu in "$root"/cuda/*.cu; do
  start=$(date +%s)
  if "$nvcc" -std=c++17 -c "$cu" -o "$tmp/$(basename "$cu").o" "${gencode[@]}" --threads 0 \
      -Xcompiler=-fPIC,-Wall,-Wextra,-Werror --Werror all-warnings \
      -I"$root/cuda/include" -I"$root/cuda" -I"$cublas_inc"; then
    echo "ok    cuda/$(basename "$cu") ($(( $(date +%s) - start )) s)"
  else
    echo "FAIL  cuda/$(basename "$cu")"
    status=1
  fi
done

if pyinc=$("$py" -m pybind11 --includes 2>/dev/null); then
  for src in "$root"/python/bindings/cuda*.cpp; do
    # shellcheck disable=SC2086  # pyinc is a list of -I flags
    if ${CXX:-g++} -std=c++17 -fsyntax-only -Wall -Wextra -Werror $pyinc -I"$root/cuda/include" \
        -I"$root/python/bindings" -DFASTCRL_CUDA_ARCHITECTURES='"80-real"' -DFASTCRL_CUDA_TOOLKIT='"0.0"' "$src"; then
      echo "ok    python/bindings/$(basename "$src") (g++ syntax check)"
    else
      echo "FAIL  python/bindings/$(basename "$src")"
      status=1
    fi
  done
else
  echo "skip  python/bindings/cuda*.cpp (pybind11 not importable by $py)"
fi
exit $status
