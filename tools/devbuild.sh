#!/usr/bin/env bash
# Builds the extension into build/dev-NAME (its own CMake/Ninja tree) without installing,
# so several builds can coexist. Use it with DLCORE_EXT_DIR:
#   tools/devbuild.sh mine && DLCORE_EXT_DIR=build/dev-mine python -m pytest tests
# CUDA is off unless DLCORE_CUDA=ON/AUTO is given in the environment.
set -euo pipefail
name=${1:-default}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/build/dev-$name"
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLCORE_CUDA="${DLCORE_CUDA:-OFF}" \
    -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
fi
ninja -C "$dir" _C
echo "built: $dir"
