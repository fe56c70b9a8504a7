// Micro-benchmark of the CPU GEMM kernel (cpp/src/cpu/gemm.cpp) without Python: square
// float32 C = A @ B at n = 256, 1024, 2048 on 1 and 2 threads, in GFLOP/s and in % of the
// machine's FMA peak. One command from the repository root:
//
//   cmake -S . -B build/bench -G Ninja -DDLCORE_BENCH=ON -DDLCORE_CUDA=OFF
//     -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')"
//     && ninja -C build/bench dlcore_gemm_bench && build/bench/dlcore_gemm_bench
//
// (one line; broken here for width).
//
// Options: --sizes 256 1024 2048  --threads 1 2  --dtype float32|float64  --fma-units 2
// --no-check (skip the correctness check that runs first).
// DLCORE_CPU_CAPABILITY=default|avx2 picks a lower kernel build, as in the library.
//
// The target links the capability builds of gemm.cpp and the selection code
// (core/dispatch.cpp), nothing else of the library; the kernel slot is defined here.
//
// Peak = threads x FMA units x lanes x 2 flops x clock, per thread count, where
//   lanes   = vector width of the selected build / element size (AVX-512: 16 floats,
//             AVX2: 8, baseline SSE2: 4);
//   FMA units = vector FMA pipes per core, 2 by default (Intel server cores with AVX-512,
//             and AVX2 cores since Haswell; --fma-units 1 for parts with one 512-bit pipe);
//   clock   = "cpu MHz" of /proc/cpuinfo. Under a hypervisor that is the nominal clock,
//             while the cores run at their turbo clock, so the nominal peak can be exceeded.
// Hence a second figure, the measured peak: the same threads running a register-only FMA
// loop of the selected width for a moment (per CPU second, see below); "% meas" is the
// GEMM's wall-clock GFLOP/s against it. Timings are
// medians of wall-clock time; "GF/cpu-s" divides by the process CPU time per thread instead,
// which on cores shared with other processes shows the speed while actually running (a
// thread spinning in a barrier counts as running).
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "dlcore/dispatch.h"
#include "dlcore/parallel.h"
#include "ops/linalg.h"

namespace dlcore {
DL_DEFINE_KERNEL(gemm_kernel);
// The one symbol of core/tensor.cpp that the slot code names.
const char* device_type_name(DeviceType t) { return t == DeviceType::CPU ? "cpu" : "cuda"; }
}  // namespace dlcore

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double cpu_mhz() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("cpu MHz", 0) == 0) return std::atof(line.substr(line.find(':') + 1).c_str());
  return 0.0;
}

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int vector_bytes() {
  const std::string cap = dlcore::active_cpu_capability();
  return cap == "avx512" ? 64 : cap == "avx2" ? 32 : 16;
}

// Register-only FMA throughput: 16 independent accumulator chains (enough to cover a 4-cycle
// latency on 2 pipes), per thread, for about 0.2 s.
typedef float V512 __attribute__((vector_size(64)));
typedef float V256 __attribute__((vector_size(32)));
typedef float V128 __attribute__((vector_size(16)));

template <typename V>
__attribute__((always_inline)) inline double fma_loop(int64_t iters) {
  constexpr int kChains = 16;
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = V{} + 0.001f * i;
  V x = V{} + 0.999999f, y = V{} + 1e-7f;
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * x + y;
    __asm__ volatile("" : "+v"(x));
  }
  double s = 0;
  for (int i = 0; i < kChains; ++i) s += acc[i][0];
  return s;
}

__attribute__((target("avx512f,fma"), noinline)) double fma_loop_512(int64_t iters) { return fma_loop<V512>(iters); }
__attribute__((target("avx2,fma"), noinline)) double fma_loop_256(int64_t iters) { return fma_loop<V256>(iters); }
__attribute__((noinline)) double fma_loop_128(int64_t iters) { return fma_loop<V128>(iters); }

double measured_peak_gflops(int threads) {
  const int bytes = vector_bytes();
  const int64_t iters = 20'000'000;
  const double flops_per_thread = double(iters) * 16 * (bytes / 4) * 2;
  double sink = 0;
  const double cpu0 = process_cpu_seconds();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  sink += bytes == 64 ? fma_loop_512(iters) : bytes == 32 ? fma_loop_256(iters) : fma_loop_128(iters);
  const double t = (process_cpu_seconds() - cpu0) / threads;
  if (sink == 12345.0) std::printf(" ");
  return flops_per_thread * threads / t / 1e9;
}

struct Timing {
  double wall;  // median wall-clock seconds of one product
  double cpu;   // process CPU seconds per product over all repetitions
};

template <typename T>
Timing time_gemm(int64_t n, int reps) {
  std::vector<T> a(n * n), b(n * n), c(n * n);
  uint32_t s = 1;
  auto rnd = [&] { s = s * 1664525u + 1013904223u; return T((s >> 8) * (1.0 / 16777216.0) - 0.5); };
  for (auto& x : a) x = rnd();
  for (auto& x : b) x = rnd();
  dlcore::GemmArgs g;
  g.dtype = sizeof(T) == 4 ? dlcore::DType::Float32 : dlcore::DType::Float64;
  g.m = g.n = g.k = n;
  g.a = {a.data(), n * n, n, 1};
  g.b = {b.data(), n * n, n, 1};
  g.c = {c.data(), n * n, n, 1};
  auto fn = dlcore::gemm_kernel[dlcore::Device{}];
  fn(g);  // warm-up: packing buffers, thread pool, page faults
  fn(g);
  std::vector<double> times;
  const double cpu0 = process_cpu_seconds();
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    fn(g);
    times.push_back(seconds_since(t0));
  }
  const double cpu = (process_cpu_seconds() - cpu0) / reps;
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], cpu};
}

// Sanity check before timing: a product with edge tiles in every direction against a
// double-precision reference, and bit-identical results on 1 and 2 threads.
template <typename T>
bool check(int64_t m, int64_t n, int64_t k) {
  std::vector<T> a(m * k), b(k * n), c1(m * n), c2(m * n);
  uint32_t s = 7;
  auto rnd = [&] { s = s * 1664525u + 1013904223u; return T((s >> 8) * (1.0 / 16777216.0) - 0.5); };
  for (auto& x : a) x = rnd();
  for (auto& x : b) x = rnd();
  dlcore::GemmArgs g;
  g.dtype = sizeof(T) == 4 ? dlcore::DType::Float32 : dlcore::DType::Float64;
  g.m = m, g.n = n, g.k = k;
  g.a = {a.data(), 0, k, 1};
  g.b = {b.data(), 0, n, 1};
  auto fn = dlcore::gemm_kernel[dlcore::Device{}];
  const int saved = dlcore::get_num_threads();
  dlcore::set_num_threads(1);
  g.c = {c1.data(), 0, n, 1};
  fn(g);
  dlcore::set_num_threads(2);
  g.c = {c2.data(), 0, n, 1};
  fn(g);
  dlcore::set_num_threads(saved);
  const double eps = sizeof(T) == 4 ? 1.2e-7 : 2.3e-16;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double want = 0, bound = 0;
      for (int64_t p = 0; p < k; ++p) {
        want += double(a[i * k + p]) * b[p * n + j];
        bound += std::abs(double(a[i * k + p]) * b[p * n + j]);
      }
      const T got = c1[i * n + j];
      if (std::abs(got - want) > 2 * (k + 2) * eps * bound || std::memcmp(&got, &c2[i * n + j], sizeof(T)) != 0) {
        std::printf("check failed at (%lld, %lld) of %lldx%lldx%lld: %.9g vs %.9g (2 threads: %.9g)\n",
                    static_cast<long long>(i), static_cast<long long>(j), static_cast<long long>(m),
                    static_cast<long long>(n), static_cast<long long>(k), double(got), want, double(c2[i * n + j]));
        return false;
      }
    }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes{256, 1024, 2048};
  std::vector<int> threads{1, 2};
  std::string dtype = "float32";
  int fma_units = 2;
  bool run_check = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto list = [&](auto& out) {
      out.clear();
      while (i + 1 < argc && argv[i + 1][0] != '-') out.push_back(std::atoi(argv[++i]));
    };
    if (arg == "--sizes") list(sizes);
    else if (arg == "--threads") list(threads);
    else if (arg == "--dtype" && i + 1 < argc) dtype = argv[++i];
    else if (arg == "--fma-units" && i + 1 < argc) fma_units = std::atoi(argv[++i]);
    else if (arg == "--no-check") run_check = false;
    else {
      std::fprintf(stderr, "usage: %s [--sizes N...] [--threads T...] [--dtype float32|float64] [--fma-units U] [--no-check]\n",
                   argv[0]);
      return 2;
    }
  }
  const bool f32 = dtype != "float64";
  for (auto [m, n, k] : {std::array<int64_t, 3>{1000, 1000, 1000}, {67, 301, 35}, {301, 67, 777}})
    if (run_check && !(f32 ? check<float>(m, n, k) : check<double>(m, n, k))) return 1;
  const double mhz = cpu_mhz();
  const int lanes = vector_bytes() / (f32 ? 4 : 8);
  std::printf("dlcore gemm %s, C = A @ B square, kernel build %s, %d lanes, %d FMA units/core, cpu MHz %.0f\n",
              f32 ? "float32" : "float64", dlcore::active_cpu_capability(), lanes, fma_units, mhz);
  std::printf("%6s %8s %10s %10s %12s %8s %12s %8s %12s\n", "n", "threads", "ms", "GFLOP/s", "nominal pk", "% nom",
              "measured pk", "% meas", "GF/cpu-s");
  for (int t : threads) {
    dlcore::set_num_threads(t);
    const double nominal = t * fma_units * lanes * 2 * mhz / 1e3;
    const double measured = measured_peak_gflops(t) / (f32 ? 1 : 2);
    for (int64_t n : sizes) {
      const int reps = n <= 512 ? 31 : n <= 1024 ? 11 : 5;
      const Timing tm = f32 ? time_gemm<float>(n, reps) : time_gemm<double>(n, reps);
      const double flops = 2.0 * n * n * n, gf = flops / tm.wall / 1e9;
      std::printf("%6lld %8d %10.3f %10.1f %12.1f %7.1f%% %12.1f %7.1f%% %12.1f\n", static_cast<long long>(n), t,
                  tm.wall * 1e3, gf, nominal, 100 * gf / nominal, measured, 100 * gf / measured,
                  flops / tm.cpu * t / 1e9);
      std::fflush(stdout);
    }
  }
  return 0;
}
