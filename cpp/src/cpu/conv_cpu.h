// Shared pieces of the CPU convolution kernels (cpu/conv.cpp, cpu/conv_depthwise.cpp), compiled
// per CPU capability with them (Note [CPU capability variants] in cpu/loops.h).
#pragma once
#include <algorithm>
#include <cstdint>

#include "cpu/loops.h"
#include "ops/conv.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace conv_cpu {

inline constexpr int64_t kParallelWork = int64_t(1) << 17;  // multiply-adds below which one thread runs
inline constexpr int64_t kColBytes = int64_t(512) << 10;     // target size of one im2col chunk (L2)

// Derived sizes shared by the kernels.
struct Geometry {
  int64_t cg, kg, kk, ck, lines, ow, p, in_plane;
  bool pointwise;  // 1x1, stride 1, no padding: col is the image itself
  explicit Geometry(const ConvParams& q)
      : cg(q.c / q.groups), kg(q.k / q.groups), kk(q.kernel_numel()), ck(cg * kk), lines(q.out[0] * q.out[1]),
        ow(q.out[2]), p(q.out_numel()), in_plane(q.in_numel()) {
    pointwise = kk == 1 && q.in == q.out;
    for (int d = 0; d < 3; ++d) pointwise = pointwise && q.stride[d] == 1 && q.pad[d] == 0;
  }
};

// The range [lo, hi) of outputs o with 0 <= o * stride + off < in.
inline void valid_range(int64_t out, int64_t in, int64_t stride, int64_t off, int64_t& lo, int64_t& hi) {
  lo = off < 0 ? (-off + stride - 1) / stride : 0;
  hi = off >= in ? 0 : std::min(out, (in - 1 - off) / stride + 1);
  lo = std::min(lo, out);
  hi = std::max(hi, lo);
}

// Sum of n values with 16 independent lanes (vectorises without reassociation flags).
template <typename T>
inline double lane_sum(const T* v, int64_t n) {
  T acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += v[i + j];
  double s = 0;
  for (; i < n; ++i) s += v[i];
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

// Depthwise kernels (Note [Depthwise convolution] in cpu/conv_depthwise.cpp), float and double.
template <typename T>
void depthwise_forward(const ConvParams& q, const Geometry& g, T* y, const T* x, const T* w, const T* b);
template <typename T>
void depthwise_backward_input(const ConvParams& q, const Geometry& g, T* gx, const T* gy, const T* w);
template <typename T>
void depthwise_backward_weight(const ConvParams& q, const Geometry& g, T* gw, T* gb, const T* gy, const T* x);

}  // namespace conv_cpu
}  // namespace CPU_CAPABILITY
}  // namespace dlcore
