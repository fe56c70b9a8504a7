// CPU loops shared by the reduction and softmax kernels over contiguous (outer, red, inner)
// blocks (Note [Reduction layout] in ops/reduce.h).
//
// Note [CPU reduction loops]
// Rows (inner == 1) are folded by kLanes independent accumulators, which the compiler keeps in
// vector registers (32 lanes: fewer leave GCC's SLP pass unable to vectorise the NaN-aware
// max), in blocks of kBlock elements whose results are then combined in turn (cascade
// summation: rounding error grows like kBlock / kLanes + n / kBlock, not like n).
// Columns (inner > 1) keep one accumulator per output in a small buffer and sweep the reduced
// rows over it: a plain elementwise loop that vectorises across the outputs.
// A reduction is a policy {init, load, combine, finish} run by these loops. float32 sums
// accumulate in double, integers in int64.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cpu/loops.h"
#include "cpu/vec_math.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace reduce_detail {

constexpr int kLanes = 32;
constexpr int64_t kBlock = 4096;
constexpr int64_t kCols = 256;     // outputs per column-case accumulator buffer
constexpr int64_t kGrain = 32768;  // elements of work below which a loop stays on one thread

template <typename T> struct AccOf { using type = T; };
template <> struct AccOf<float> { using type = double; };
template <> struct AccOf<int32_t> { using type = int64_t; };
template <> struct AccOf<bool> { using type = int64_t; };
template <typename T> using acc_t = typename AccOf<T>::type;

template <typename T> inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

template <typename T> T lowest_value() {
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}
template <typename T> T highest_value() {
  if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::max();
}

// Small math helpers are forced inline: called out of line, they stop the loop around them
// from vectorising (GCC's inliner gives up on them inside the larger kernel bodies).
#define DL_REDUCE_INLINE inline __attribute__((always_inline))

DL_REDUCE_INLINE uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
DL_REDUCE_INLINE float float_of(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// Note [Branch-free selects]
// c ? a : b, by bits. GCC (default -ftrapping-math) sinks the arithmetic that computes one
// arm of a ternary into a branch and then refuses to if-convert it, so a loop around
// `cond ? x : f(y)` does not vectorise; a bitwise blend of two computed values always does.
DL_REDUCE_INLINE float select_bits(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return float_of((bits_of(a) & m) | (bits_of(b) & ~m));
}

template <typename T> struct SumOp {
  using Acc = acc_t<T>;
  Acc init() const { return Acc(0); }
  Acc load(T v) const { return static_cast<Acc>(v); }
  Acc combine(Acc a, Acc b) const { return a + b; }
  Acc finish(Acc a, int64_t) const { return a; }
};

// Maximum (kMax) or minimum; a NaN wins over everything (PyTorch's propagation).
template <typename T, bool kMax> struct ExtremeOp {
  using Acc = T;
  Acc init() const { return kMax ? lowest_value<T>() : highest_value<T>(); }
  Acc load(T v) const { return v; }
  Acc combine(Acc a, Acc b) const { return ((kMax ? b > a : b < a) | is_nan(b)) ? b : a; }
  Acc finish(Acc a, int64_t) const { return a; }
};

// exp(x - shift), summed (logsumexp and softmax).
template <typename T> struct ExpSumOp : SumOp<T> {
  using Acc = acc_t<T>;
  T shift;
  explicit ExpSumOp(T s) : shift(s) {}
  Acc load(T v) const { return static_cast<Acc>(exp_t<T>(v - shift)); }
};

// Note [Softmax row passes]
// The softmax-like kernels (softmax, log_softmax, cross entropy) work on a row with the row
// still in L1/L2: row_max, then row_exp_sum (which may store exp(x - max) as it goes), then at
// most one write pass. The max skips NaNs (a NaN still reaches every output through the exp
// sum), so it is a plain vector max. float32 exp-sums add kVecLanes float lanes over blocks of
// kExpBlock elements (the terms are in (0, 1]), each block's total added into a double.
constexpr int kVecLanes = 16;
constexpr int64_t kExpBlock = 512;

template <typename T>
T row_max(const T* x, int64_t n) {
  if (n < kVecLanes) {  // short rows (a few classes): the tail loop alone, same result
    T m = lowest_value<T>();
    for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
  }
  T lane[kVecLanes];
  for (int k = 0; k < kVecLanes; ++k) lane[k] = lowest_value<T>();
  int64_t i = 0;
  for (; i + kVecLanes <= n; i += kVecLanes)
    for (int k = 0; k < kVecLanes; ++k) lane[k] = x[i + k] > lane[k] ? x[i + k] : lane[k];
  T m = lowest_value<T>();
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int k = 0; k < kVecLanes; ++k) m = lane[k] > m ? lane[k] : m;
  return m;
}

// sum of exp(x - m) over a run of n; also y = exp(x - m) when kStore.
template <bool kStore, typename T>
acc_t<T> row_exp_sum(T* y, const T* x, T m, int64_t n) {
  if (n < kVecLanes) {  // short rows: the block's tail loop alone, same sum
    T sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T v = exp_t<T>(x[i] - m);
      if constexpr (kStore) y[i] = v;
      sum += v;
    }
    return static_cast<acc_t<T>>(sum);
  }
  acc_t<T> total = 0;
  for (int64_t b = 0; b < n; b += kExpBlock) {
    const int64_t e = std::min(n, b + kExpBlock);
    T lane[kVecLanes] = {};
    int64_t i = b;
    for (; i + kVecLanes <= e; i += kVecLanes)
      for (int k = 0; k < kVecLanes; ++k) {
        const T v = exp_t<T>(x[i + k] - m);
        if constexpr (kStore) y[i + k] = v;
        lane[k] += v;
      }
    for (; i < e; ++i) {
      const T v = exp_t<T>(x[i] - m);
      if constexpr (kStore) y[i] = v;
      lane[0] += v;
    }
    for (int h = kVecLanes / 2; h > 0; h /= 2)
      for (int k = 0; k < h; ++k) lane[k] += lane[k + h];
    total += static_cast<acc_t<T>>(lane[0]);
  }
  return total;
}

// Folds a contiguous run of n elements (Note [CPU reduction loops]).
template <typename Op, typename T>
typename Op::Acc fold_row(const Op& op, const T* x, int64_t n) {
  using Acc = typename Op::Acc;
  Acc total = op.init();
  for (int64_t b = 0; b < n; b += kBlock) {
    const T* p = x + b;
    const int m = static_cast<int>(std::min(kBlock, n - b));
    const int full = m - m % kLanes;
    Acc lane[kLanes];
    for (int k = 0; k < kLanes; ++k) lane[k] = op.init();
    for (int i = 0; i < full; i += kLanes)
      for (int k = 0; k < kLanes; ++k) lane[k] = op.combine(lane[k], op.load(p[i + k]));
    for (int i = full; i < m; ++i) lane[0] = op.combine(lane[0], op.load(p[i]));
    for (int h = kLanes / 2; h > 0; h /= 2)
      for (int k = 0; k < h; ++k) lane[k] = op.combine(lane[k], lane[k + h]);
    total = op.combine(total, lane[0]);
  }
  return total;
}

// acc[i] = combine(acc[i], load(x[o, r, c0 + i])) for r in [r0, r1), i in [0, w).
template <typename Op, typename T>
void fold(const Op& op, const T* x, int64_t red, int64_t inner, int64_t o, int64_t r0, int64_t r1, int64_t c0,
          int64_t w, typename Op::Acc* acc) {
  if (inner == 1) {
    acc[0] = op.combine(acc[0], fold_row(op, x + o * red + r0, r1 - r0));
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    const T* row = x + (o * red + r) * inner + c0;
    for (int64_t i = 0; i < w; ++i) acc[i] = op.combine(acc[i], op.load(row[i]));
  }
}

// f(o, c0, w) for every output block (row o, columns [c0, c0 + w), w <= kCols), split over
// threads when the work (about red * w elements a block) is large.
template <typename F>
void for_each_block(int64_t outer, int64_t red, int64_t inner, F f) {
  if (outer * inner == 0) return;
  const int64_t width = std::min(inner, kCols);
  const int64_t chunks = (inner + width - 1) / width;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, red * width));
  parallel_for(0, outer * chunks, grain, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      const int64_t o = u / chunks, c0 = (u % chunks) * width;
      f(o, c0, std::min(width, inner - c0));
    }
  });
}

}  // namespace reduce_detail
}  // namespace CPU_CAPABILITY
}  // namespace dlcore
