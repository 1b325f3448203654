#!/usr/bin/env bash
# Developer build: compile the extensions into build/dev and copy them next to the Python sources, so
# `PYTHONPATH=python` (or a .pth pointing at python/) imports the working tree.  Serialised with a lock
# so several shells can call it at once.  Pass extra CMake flags as arguments, e.g. -DFASTCRL_CUDA=ON.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
exec 9>"$root/build/.dev.lock" 2>/dev/null || { mkdir -p "$root/build"; exec 9>"$root/build/.dev.lock"; }
flock 9
cmake -S "$root" -B "$root/build/dev" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPython_EXECUTABLE="$($py -c 'import sys; print(sys.executable)')" \
  -Dpybind11_DIR="$($py -m pybind11 --cmakedir)" "$@" >/dev/null
cmake --build "$root/build/dev"
for so in "$root"/build/dev/python/bindings/_*.so "$root"/build/dev/cuda/_*.so; do
  # Copy then rename: a process that has the old module loaded keeps a valid mapping.
  [ -e "$so" ] && cp -f "$so" "$root/python/fastcrl/.$(basename "$so").tmp" &&
    mv -f "$root/python/fastcrl/.$(basename "$so").tmp" "$root/python/fastcrl/$(basename "$so")"
done
echo "dev build ok"
