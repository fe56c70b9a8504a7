// Shared pieces of the CPU convolution kernels (cpu/conv.cpp, cpu/conv_weight_grad.cpp,
// cpu/conv_depthwise.cpp), compiled per CPU capability with them (Note [CPU capability
// variants] in cpu/loops.h): geometry, the GEMM call, column chunks and the tap table (Note
// [Convolution as GEMM] in cpu/conv.cpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/gemm_cpu.h"
#include "cpu/loops.h"
#include "dlcore/ops.h"
#include "ops/conv.h"
#include "ops/linalg.h"

#define DL_CONV_INLINE inline __attribute__((always_inline))

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

// C (m x n, row stride ldc, unit column stride) = A @ B + beta * C, strided A and B.
template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs,
          int64_t bcs, double beta, T* c, int64_t ldc) {
  GemmArgs g;
  g.dtype = std::is_same<T, float>::value ? DType::Float32 : DType::Float64;
  g.m = m, g.n = n, g.k = k, g.alpha = 1.0, g.beta = beta;
  g.a = {const_cast<T*>(a), 0, ars, acs};
  g.b = {const_cast<T*>(b), 0, brs, bcs};
  g.c = {c, 0, ldc, 1};
  gemm_kernel[Device{}](g);
}


// Note [Convolution tap table]
// For narrow outputs (OW <= kTableWidth) copying im2col line by line costs more in per-line
// bookkeeping than in data, so the tap table lists, for every tap t = (kd, kh, kw) and output
// p, the offset in one input channel of the element that tap meets, or -1 in the padding:
// im2col is then one gather per row of col and col2im one scatter-add, with the same table
// for every channel and image.
constexpr int64_t kTableWidth = 24;

struct TapTable {
  std::vector<int32_t> off;  // kk x P
  TapTable(const ConvParams& q, const Geometry& g) : off(static_cast<size_t>(g.kk * g.p)) {
    int32_t* o = off.data();
    for (int64_t kt = 0; kt < q.kernel[0]; ++kt)
      for (int64_t kr = 0; kr < q.kernel[1]; ++kr)
        for (int64_t ks = 0; ks < q.kernel[2]; ++ks)
          for (int64_t od = 0; od < q.out[0]; ++od)
            for (int64_t oh = 0; oh < q.out[1]; ++oh)
              for (int64_t ow = 0; ow < q.out[2]; ++ow) {
                const int64_t id = od * q.stride[0] - q.pad[0] + kt * q.dilation[0];
                const int64_t ih = oh * q.stride[1] - q.pad[1] + kr * q.dilation[1];
                const int64_t iw = ow * q.stride[2] - q.pad[2] + ks * q.dilation[2];
                const bool in = id >= 0 && id < q.in[0] && ih >= 0 && ih < q.in[1] && iw >= 0 && iw < q.in[2];
                *o++ = in ? static_cast<int32_t>((id * q.in[1] + ih) * q.in[2] + iw) : -1;
              }
  }
  static bool wanted(const Geometry& g) { return g.ow <= kTableWidth && g.in_plane < (int64_t(1) << 31); }
};

constexpr int64_t kMinCols = 256;    // columns per chunk below which packing W costs too much
constexpr int64_t kSliceRows = 256;  // rows of col per slice (the GEMM's k block)

// Column chunks (Note [Convolution as GEMM]): a chunk is the output lines [l0, l1) of images
// [n0, n1) of one group, either lines of one image (n1 == n0 + 1) or whole images.
struct Chunk {
  int64_t n0, n1, l0, l1, cols;
  int64_t images() const { return n1 - n0; }
};

struct ChunkPlan {
  int64_t nb = 1;       // images per chunk (> 1: whole images)
  int64_t lc = 1;       // lines per chunk
  int64_t blocks = 1;   // ceil(n / nb)
  int64_t per = 1;      // chunks per block: ceil(lines / lc)
  int64_t slice = 1;    // rows of col per slice
  bool direct = false;  // pointwise, one image per chunk: col is the image itself (row stride P)
  int64_t count() const { return blocks * per; }
  Chunk at(const ConvParams& q, const Geometry& g, int64_t t) const {
    Chunk c;
    c.n0 = t / per * nb, c.n1 = std::min(q.n, c.n0 + nb);
    c.l0 = t % per * lc, c.l1 = std::min(g.lines, c.l0 + lc);
    c.cols = c.images() * (c.l1 - c.l0) * g.ow;
    return c;
  }
};

// The images per chunk, at most `nb` and at least half of it, that give the busiest of
// `threads` threads the fewest images when parallel_for hands each a contiguous run of the
// (chunk, slab) items: 16 images in chunks of 6 would give one thread two chunks (12 images)
// and the other one (4), chunks of 4 give each 8.
inline int64_t balanced_images(int64_t n, int64_t nb, int64_t slabs, int64_t threads) {
  int64_t best = nb, best_load = -1;
  for (int64_t b = nb; b >= std::max<int64_t>(1, (nb + 1) / 2); --b) {
    const int64_t items = (n + b - 1) / b * slabs;
    const int64_t per = (items + threads - 1) / threads;
    int64_t load = 0;
    for (int64_t t0 = 0; t0 < items; t0 += per) {
      int64_t images = 0;
      for (int64_t t = t0; t < std::min(items, t0 + per); ++t) {
        const int64_t n0 = t / slabs * b;
        images += std::min(n, n0 + b) - n0;
      }
      load = std::max(load, images);
    }
    if (best_load < 0 || load < best_load) best = b, best_load = load;
  }
  return best;
}

// Chunks of about max(kMinCols, kColBytes of a col slice) columns, at least `min_chunks` of
// them counting the `slabs` (groups) each chunk is taken for, where the batch allows it.
inline ChunkPlan plan_chunks(const ConvParams& q, const Geometry& g, size_t elem, int64_t slabs, int64_t min_chunks,
                      bool split_lines) {
  ChunkPlan c;
  const int64_t slices = (g.ck + kSliceRows - 1) / kSliceRows;
  c.slice = std::max<int64_t>(1, (g.ck + slices - 1) / std::max<int64_t>(1, slices));
  const int64_t target = std::max(kMinCols, kColBytes / (c.slice * static_cast<int64_t>(elem)));
  const int64_t want = std::max<int64_t>(1, (min_chunks + slabs - 1) / slabs);  // chunks over all images
  if (g.p >= target || (g.pointwise && g.p >= kMinCols / 4) || q.n == 1) {
    c.lc = g.pointwise ? g.lines : std::min(g.lines, (target + g.ow - 1) / g.ow);
    if (split_lines && q.n < want) c.lc = std::min(c.lc, std::max<int64_t>(1, g.lines * q.n / want));
  } else {
    c.nb = std::min(q.n, (target + g.p - 1) / g.p);
    while (c.nb > 1 && (q.n + c.nb - 1) / c.nb < want) c.nb = (c.nb + 1) / 2;
    if (c.nb > 1 && min_chunks > 1) c.nb = balanced_images(q.n, c.nb, slabs, min_chunks);
    c.lc = g.lines;
  }
  c.blocks = (q.n + c.nb - 1) / c.nb;
  c.per = (g.lines + c.lc - 1) / c.lc;
  c.direct = g.pointwise && c.nb == 1;
  return c;
}

inline std::unique_ptr<TapTable> make_table(const ConvParams& q, const Geometry& g, const ChunkPlan& plan) {
  if (plan.direct || !TapTable::wanted(g)) return nullptr;
  return std::make_unique<TapTable>(q, g);
}


// dst (Kg x cols) = the chunk's columns of one group's gy rows, src = gy[n0, group's first
// channel]: rows of P for whole-image chunks.
template <typename T>
void gather_rows(const ConvParams& q, const Geometry& g, const Chunk& c, const T* src, T* dst) {
  for (int64_t i = 0; i < c.images(); ++i)
    for (int64_t k = 0; k < g.kg; ++k)
      std::memcpy(dst + k * c.cols + i * g.p, src + (i * q.k + k) * g.p, g.p * sizeof(T));
}

// dst[0, n) = src[0, n) for a run of at most one panel row (n <= NR elements), as fixed-size
// copies of NR, NR/2, ..., 1 elements by the bits of n, each of which the compiler turns into
// vector moves (a copy loop of variable length would become a call to memmove, costly for
// the runs of a few elements that small outputs have).
template <typename T, int64_t Size = gemm_cpu::Tiles<T>::NR>
DL_CONV_INLINE void copy_run(T* __restrict dst, const T* __restrict src, int64_t n) {
  if (n == Size) return static_cast<void>(std::memcpy(dst, src, Size * sizeof(T)));
  if constexpr (Size > 1) {
    constexpr int64_t H = Size / 2;
    if (n & H) {
      std::memcpy(dst, src, H * sizeof(T));
      dst += H, src += H;
    }
    copy_run<T, H>(dst, src, n & (H - 1));
  }
}

// The padded input's size along dim d: the input after pad[d] zeros, and as far as the last
// output's last tap reaches (the padding after the input may differ from pad[d]).
inline int64_t padded_extent(const ConvParams& q, int d) {
  return std::max(q.pad[d] + q.in[d], (q.out[d] - 1) * q.stride[d] + (q.kernel[d] - 1) * q.dilation[d] + 1);
}

// One object per float dtype, held per thread and kept between calls: plain thread_local
// objects, since GCC does not always run the initialiser of a thread_local variable template.
template <template <typename> class Of>
struct PerDtype {
  Of<float> f;
  Of<double> d;
  template <typename T>
  Of<T>& get() {
    if constexpr (std::is_same_v<T, float>)
      return f;
    else
      return d;
  }
};

// Per-thread scratch, kept between calls: reused pages are cheap to write.
using Scratch = gemm_cpu::AlignedBuffer;

template <typename T>
const T* ptr(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}
template <typename T>
T* mut(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}


// Depthwise kernels (Note [Depthwise convolution] in cpu/conv_depthwise.cpp), float and double.
template <typename T>
void depthwise_forward(const ConvParams& q, const Geometry& g, T* y, const T* x, const T* w, const T* b);
template <typename T>
void depthwise_backward_input(const ConvParams& q, const Geometry& g, T* gx, const T* gy, const T* w);
template <typename T>
void depthwise_backward_weight(const ConvParams& q, const Geometry& g, T* gw, T* gb, const T* gy, const T* x);

// Direct kernels for stride-1 3-d convolutions (Note [Direct 3-d convolution] in
// cpu/conv_direct.cpp): false, doing nothing, for the shapes they do not take. gw is written.
// The shapes they take: a true 3-d kernel of width 3 or 5, stride 1, W dilation 1.
bool direct_shape(const ConvParams& q);
template <typename T>
bool direct_forward(const ConvParams& q, const Geometry& g, T* y, const T* x, const T* w, const T* b);
template <typename T>
bool direct_backward_weight(const ConvParams& q, const Geometry& g, T* gw, const T* gy, const T* x);

}  // namespace conv_cpu
}  // namespace CPU_CAPABILITY
}  // namespace dlcore
