#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU (H100/H200 with nvcc, PyTorch and no network),
#   1. builds the extension with CUDA kernels for the GPU present (build/gpu, not installed),
#   2. runs every test marked `cuda` (pytest -m cuda), then again under compute-sanitizer's
#      memcheck (out-of-bounds and misaligned device accesses, CUDA API errors), time-boxed,
#   3. trains with the dlcore command on the GPU (an MLP, a GPT-nano: checkpoints and curves),
#   4. times dlcore's CUDA kernels and training steps against PyTorch on the same GPU
#      (bench/gpu/bench_kernels.py).
# Logs and the benchmark table go to $OUT when it is set. Takes about 2-5 minutes.
#
#   bench/gpu/check.sh                       # from anywhere in the repository
#   DLCORE_CUDA_ARCH=90 bench/gpu/check.sh   # another architecture list than "native"
#   CHECK_SKIP_BENCH=1 bench/gpu/check.sh    # build and test only
#   CHECK_SKIP_MEMCHECK=1 bench/gpu/check.sh # without the compute-sanitizer pass
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=${OUT:-}
[ -n "$out" ] && mkdir -p "$out"
export PYTHONUNBUFFERED=1
# `tee` into $OUT when it is set, else just print.
keep() { if [ -n "$out" ]; then tee "$out/$1"; else cat; fi; }
section() { printf '\n==== %s ====\n' "$*"; }
status=0

section "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || echo "nvidia-smi failed"
nvcc --version | tail -n 2
python3 -c 'import sys, torch; print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.version.cuda, "|", torch.cuda.get_device_name() if torch.cuda.is_available() else "torch sees no GPU")'

section "build (CUDA architectures: ${DLCORE_CUDA_ARCH:-native})"
build=build/gpu
start=$(date +%s)
{
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLCORE_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="${DLCORE_CUDA_ARCH:-native}" \
    -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DPython_EXECUTABLE="$(command -v python3)" &&
  ninja -C "$build" -j "$(nproc)" _C
} 2>&1 | keep build.log
build_rc=${PIPESTATUS[0]}
echo "build: exit $build_rc in $(( $(date +%s) - start )) s"
if [ "$build_rc" -ne 0 ]; then
  echo "check: the build failed; see the log above"
  exit 1
fi
[ -n "$out" ] && echo "build: $(grep -ci 'warning' "$out/build.log" || true) lines mention a warning"

export DLCORE_EXT_DIR=$build
export PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
python3 -c 'import dlcore; assert dlcore.cuda.is_available(), dlcore._C._cuda_unavailable_reason(); print("dlcore sees", dlcore.cuda.device_count(), "device(s):", dlcore.cuda.get_device_name())' || exit 1

section "tests (pytest -m cuda)"
start=$(date +%s)
timeout 300 python3 -m pytest -q -m cuda -p no:cacheprovider -rfE tests 2>&1 | keep pytest.log
test_rc=${PIPESTATUS[0]}
echo "tests: exit $test_rc in $(( $(date +%s) - start )) s"
[ "$test_rc" -ne 0 ] && status=1

if [ -z "${CHECK_SKIP_MEMCHECK:-}" ]; then
  section "tests under compute-sanitizer --tool memcheck"
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  if [ -z "$sanitizer" ]; then
    echo "memcheck: compute-sanitizer not found; skipped"
  else
    start=$(date +%s)
    # Stops at the first failing test: a memcheck report fails that test's process.
    timeout 300 "$sanitizer" --tool memcheck --error-exitcode 99 --print-limit 20 \
      python3 -m pytest -q -x -m cuda -p no:cacheprovider -rfE tests 2>&1 | keep memcheck.log
    mc_rc=${PIPESTATUS[0]}
    echo "memcheck: exit $mc_rc in $(( $(date +%s) - start )) s (124: the time box ran out; the log shows how far it got)"
    [ "$mc_rc" -ne 0 ] && [ "$mc_rc" -ne 124 ] && status=1
  fi
fi

section "the dlcore command on the GPU (MLP on digits, GPT-nano on Shakespeare)"
start=$(date +%s)
{
  timeout 120 python3 -m dlcore train mlp --device cuda --epochs 2 --out "${out:-/tmp}/cli-mlp" --no-progress &&
  timeout 120 python3 -m dlcore train gpt_nano --dataset shakespeare --device cuda --max-steps 200 \
    --out "${out:-/tmp}/cli-gpt" --no-progress --sample-tokens 60
} 2>&1 | keep cli.log
cli_rc=${PIPESTATUS[0]}
echo "cli: exit $cli_rc in $(( $(date +%s) - start )) s"
[ "$cli_rc" -ne 0 ] && status=1

if [ -z "${CHECK_SKIP_BENCH:-}" ]; then
  section "kernels vs PyTorch"
  timeout 180 python3 bench/gpu/bench_kernels.py ${out:+--out "$out/bench_kernels.md"} || status=1
fi
exit $status
