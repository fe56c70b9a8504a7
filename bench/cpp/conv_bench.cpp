// Micro-benchmark of the CPU convolution kernels (cpp/src/cpu/conv.cpp) without Python: the
// shapes of bench/bench_conv.py, float32, forward / backward-data / backward-weight, in ms,
// GFLOP/s and % of the FMA peak. From the repository root:
//
//   cmake -S . -B build/bench -G Ninja -DDLCORE_BENCH=ON -DDLCORE_CUDA=OFF
//     -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')"
//     && ninja -C build/bench dlcore_conv_bench && build/bench/dlcore_conv_bench
//
// (one line; broken here for width). Options: --threads N (default 2), --reps N (default 5),
// --fma-units N (default 2). Peak = threads x FMA units x lanes x 2 flops x the "cpu MHz" of
// /proc/cpuinfo (the nominal clock under a hypervisor, so turbo can exceed it); lanes follow
// the selected kernel build (AVX-512: 16 floats, AVX2: 8, baseline: 4).
// FLOPs of one pass = 2 * N * K * C/groups * R * S * P * Q, the same for all three passes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "dlcore/dispatch.h"
#include "dlcore/parallel.h"
#include "ops/conv.h"

namespace {

using namespace dlcore;

double cpu_mhz() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("cpu MHz", 0) == 0) return std::atof(line.substr(line.find(':') + 1).c_str());
  return 0.0;
}

struct Shape2d {
  const char* name;
  int64_t n, c, h, w, k, r, stride, pad, groups;
};

const Shape2d kShapes[] = {
    {"conv3x3 N32 C64 56x56 K64", 32, 64, 56, 56, 64, 3, 1, 1, 1},
    {"conv3x3/s2 N16 C64 56x56 K128", 16, 64, 56, 56, 128, 3, 2, 1, 1},
    {"depthwise3x3 N32 C128 28x28", 32, 128, 28, 28, 128, 3, 1, 1, 128},
    {"conv1x1 N32 C256 14x14 K64", 32, 256, 14, 14, 64, 1, 1, 0, 1},
};

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  Tensor t = empty(shape, DType::Float32);
  float* p = t->data<float>();
  for (int64_t i = 0; i < t->numel(); ++i) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = float((seed >> 8) * (1.0 / 16777216.0) - 0.5);
  }
  return t;
}

template <typename F>
double median_ms(F&& f, int reps) {
  f();  // warm-up: scratch buffers, page faults, thread start
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 5, fma_units = 2;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--fma-units")) fma_units = std::atoi(argv[++i]);
  }
  set_num_threads(threads);
  const std::string cap = active_cpu_capability();
  const int lanes = cap == "avx512" ? 16 : cap == "avx2" ? 8 : 4;
  const double peak = threads * fma_units * lanes * 2 * cpu_mhz() * 1e-3;  // GFLOP/s
  std::printf("conv kernels, float32, %d threads, %s build, median of %d; peak %.0f GFLOP/s (%d FMA units x %d "
              "lanes x %.0f MHz)\n",
              threads, cap.c_str(), reps, peak, fma_units, lanes, cpu_mhz());
  std::printf("%-32s %-9s %9s %9s %7s\n", "shape", "pass", "ms", "GFLOP/s", "% peak");
  for (const Shape2d& s : kShapes) {
    ConvParams p;
    p.n = s.n, p.c = s.c, p.k = s.k, p.groups = s.groups;
    const int64_t oh = (s.h + 2 * s.pad - s.r) / s.stride + 1, ow = (s.w + 2 * s.pad - s.r) / s.stride + 1;
    p.in = {1, s.h, s.w};
    p.out = {1, oh, ow};
    p.kernel = {1, s.r, s.r};
    p.stride = {1, s.stride, s.stride};
    p.pad = {0, s.pad, s.pad};
    p.dilation = {1, 1, 1};
    Tensor x = random_tensor({s.n, s.c, 1, s.h, s.w}, 1);
    Tensor w = random_tensor({s.k, s.c / s.groups, 1, s.r, s.r}, 2);
    Tensor b = random_tensor({s.k}, 3);
    Tensor y = empty({s.n, s.k, 1, oh, ow}, DType::Float32);
    Tensor gy = random_tensor({s.n, s.k, 1, oh, ow}, 4);
    Tensor gx = empty(x->shape(), DType::Float32), gw = empty(w->shape(), DType::Float32);
    Tensor gb = empty({s.k}, DType::Float32);
    const double flops = 2.0 * s.n * s.k * (s.c / s.groups) * s.r * s.r * oh * ow;
    const Device cpu;
    const double t[3] = {
        median_ms([&] { conv_forward_kernel[cpu](p, y, x, w, b); }, reps),
        median_ms([&] { conv_backward_input_kernel[cpu](p, gx, gy, w); }, reps),
        median_ms([&] { conv_backward_weight_kernel[cpu](p, gw, gb, gy, x); }, reps),
    };
    const char* names[3] = {"fwd", "bwd-data", "bwd-wt"};
    for (int i = 0; i < 3; ++i) {
      const double gf = flops / (t[i] * 1e-3) / 1e9;
      std::printf("%-32s %-9s %9.2f %9.1f %6.1f%%\n", s.name, names[i], t[i], gf, 100 * gf / peak);
    }
    const double total = t[0] + t[1] + t[2], gf = 3 * flops / (total * 1e-3) / 1e9;
    std::printf("%-32s %-9s %9.2f %9.1f %6.1f%%\n", s.name, "all", total, gf, 100 * gf / peak);
  }
  return 0;
}
