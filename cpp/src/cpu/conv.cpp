// CPU convolution kernels (Note [Convolution geometry] in ops/conv.h). Compiled per CPU
// capability (Note [CPU capability variants] in cpu/loops.h).
//
// Note [Convolution as GEMM]
// For image n and group g, with CK = C/groups * KD*KH*KW and P = OD*OH*OW:
//   forward          y[n, g]  (Kg x P)  = W[g] (Kg x CK) @ col (CK x P)
//   backward input   col      (CK x P)  = W[g]^T @ gy[n, g];  gx[n, g] += col2im(col)
//   backward weight  gW[g]    (Kg x CK) += gy[n, g] (Kg x P) @ col^T, summed over n
// where col = im2col(x[n, g]) holds, in row (c, kd, kh, kw) and column p = (od, oh, ow), the
// input element that tap meets at output p (0 in the padding).
// The forward and, for stride 1 and >= 16 channels per group, the input grad take the
// implicit-GEMM path (Note [Implicit GEMM convolution]): chunks of whole images (several side
// by side for small outputs) whose col is packed straight from the padded image into the
// GEMM's panels, or read by the micro-kernel where it lies when its panels are whole output
// lines. The channels-last weight grad likewise (Note [Channels-last weight grad in place]).
// The other products build col explicitly. Their chunks are runs of whole
// output lines (od, oh) of one image, or several whole images side by side (their gy columns
// gathered), of about max(kMinCols, kColBytes of a slice) columns: below kMinCols columns the
// GEMM's packing of W, done once per product, costs as much as the product. The rows of col
// are cut into slices of at most kSliceRows (the GEMM's k block): backward input scatters
// each slice's product into gx, so only one slice of col (kColBytes, L2) is ever written and
// read back. A 1x1 convolution with stride 1 and no padding needs no im2col for one image:
// col is the image itself (C x P, row stride P).
// Threads: forward chunks are independent (disjoint outputs) and run in parallel over
// (chunk, g); backward-input chunks of one image overlap in gx, so threads take whole
// (images, g) blocks (or, for fewer blocks than threads, the GEMM splits itself); backward-
// weight threads each sum their chunks into a private gW, and the private sums are added in
// parallel at the end (Note [Convolution weight grad orientation] for the product it takes).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "cpu/conv_cpu.h"
#include "cpu/gemm_cpu.h"
#include "cpu/loops.h"
#include "cpu/vec_math.h"
#include "dlcore/ops.h"
#include "ops/conv.h"
#include "ops/linalg.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
#define DL_CONV_INLINE inline __attribute__((always_inline))

namespace {
using namespace conv_cpu;
using gemm_cpu::BPanels;
using gemm_cpu::PackedA;
using gemm_cpu::Tiles;

// Per-thread scratch, kept between calls: reused pages are cheap to write.
using Scratch = gemm_cpu::AlignedBuffer;
// im2col chunks; gathered gy or product rows; private weight grads; channels-last images.
// (flip_scratch: the flipped weight of a stride-1 input grad.)
thread_local Scratch col_scratch, io_scratch, part_scratch, xt_scratch, flip_scratch;
// Packed operands kept between calls, per dtype: the forward's weights (one per group) and
// the channels-last weight grad's chunk of gy. (Plain thread_local objects:
// GCC does not always run the initialiser of a thread_local variable template.)
template <typename T>
struct Packs {
  std::vector<std::unique_ptr<PackedA<T>>> weights;
  PackedA<T> gy;
};
struct PackCache {
  Packs<float> f;
  Packs<double> d;
  template <typename T>
  Packs<T>& get() {
    if constexpr (std::is_same_v<T, float>)
      return f;
    else
      return d;
  }
};
thread_local PackCache pack_cache;

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

// col ((r1 - r0) x (l1 - l0) * ow, row stride ld) = rows [r0, r1) of the im2col of output
// lines [l0, l1) of one group's channels x (cg planes of in_plane elements).
template <typename T>
void im2col(const ConvParams& q, const Geometry& g, const T* x, int64_t l0, int64_t l1, int64_t r0, int64_t r1,
            T* col, int64_t ld, const TapTable* table) {
  if (table) {
    const int64_t j0 = l0 * g.ow, cols = (l1 - l0) * g.ow;
    for (int64_t row = r0; row < r1; ++row) {
      const T* xc = x + row / g.kk * g.in_plane;
      const int32_t* off = table->off.data() + row % g.kk * g.p + j0;
      T* dst = col + (row - r0) * ld;
      for (int64_t j = 0; j < cols; ++j) dst[j] = off[j] >= 0 ? xc[off[j]] : T(0);
    }
    return;
  }
  const int64_t KH = q.kernel[1], KW = q.kernel[2], OH = q.out[1], OW = g.ow;
  const int64_t D = q.in[0], H = q.in[1], W = q.in[2];
  for (int64_t row = r0; row < r1; ++row) {
    const int64_t c = row / g.kk, kt = row % g.kk / (KH * KW), kr = row % (KH * KW) / KW, ks = row % KW;
    const int64_t iw0 = ks * q.dilation[2] - q.pad[2];
    int64_t lo, hi;
    valid_range(OW, W, q.stride[2], iw0, lo, hi);
    T* dst = col + (row - r0) * ld;
    for (int64_t l = l0; l < l1; ++l, dst += OW) {
      const int64_t id = l / OH * q.stride[0] - q.pad[0] + kt * q.dilation[0];
      const int64_t ih = l % OH * q.stride[1] - q.pad[1] + kr * q.dilation[1];
      if (id < 0 || id >= D || ih < 0 || ih >= H) {
        std::fill(dst, dst + OW, T(0));
        continue;
      }
      const T* src = x + (c * D + id) * H * W + ih * W + iw0;
      std::fill(dst, dst + lo, T(0));
      if (q.stride[2] == 1) {
        std::memcpy(dst + lo, src + lo, (hi - lo) * sizeof(T));
      } else {
        const int64_t sw = q.stride[2];
        for (int64_t o = lo; o < hi; ++o) dst[o] = src[o * sw];
      }
      std::fill(dst + hi, dst + OW, T(0));
    }
  }
}

// x (one group's channels) += col2im of col (rows [r0, r1)), the adjoint of im2col above.
template <typename T>
void col2im_add(const ConvParams& q, const Geometry& g, const T* col, int64_t ld, int64_t l0, int64_t l1,
                int64_t r0, int64_t r1, T* x, const TapTable* table) {
  if (table) {
    const int64_t j0 = l0 * g.ow, cols = (l1 - l0) * g.ow;
    for (int64_t row = r0; row < r1; ++row) {
      T* xc = x + row / g.kk * g.in_plane;
      const int32_t* off = table->off.data() + row % g.kk * g.p + j0;
      const T* src = col + (row - r0) * ld;
      for (int64_t j = 0; j < cols; ++j)
        if (off[j] >= 0) xc[off[j]] += src[j];
    }
    return;
  }
  const int64_t KH = q.kernel[1], KW = q.kernel[2], OH = q.out[1], OW = g.ow;
  const int64_t D = q.in[0], H = q.in[1], W = q.in[2];
  for (int64_t row = r0; row < r1; ++row) {
    const int64_t c = row / g.kk, kt = row % g.kk / (KH * KW), kr = row % (KH * KW) / KW, ks = row % KW;
    const int64_t iw0 = ks * q.dilation[2] - q.pad[2];
    int64_t lo, hi;
    valid_range(OW, W, q.stride[2], iw0, lo, hi);
    const T* src = col + (row - r0) * ld;
    for (int64_t l = l0; l < l1; ++l, src += OW) {
      const int64_t id = l / OH * q.stride[0] - q.pad[0] + kt * q.dilation[0];
      const int64_t ih = l % OH * q.stride[1] - q.pad[1] + kr * q.dilation[1];
      if (id < 0 || id >= D || ih < 0 || ih >= H) continue;
      T* dst = x + (c * D + id) * H * W + ih * W + iw0;
      if (q.stride[2] == 1) {
        for (int64_t o = lo; o < hi; ++o) dst[o] += src[o];
      } else {
        const int64_t sw = q.stride[2];
        for (int64_t o = lo; o < hi; ++o) dst[o * sw] += src[o];
      }
    }
  }
}

// ---- GEMM-based kernels (Note [Convolution as GEMM]) ---------------------------------------

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

// Chunks of about max(kMinCols, kColBytes of a col slice) columns, at least `min_chunks` of
// them counting the `slabs` (groups) each chunk is taken for, where the batch allows it.
ChunkPlan plan_chunks(const ConvParams& q, const Geometry& g, size_t elem, int64_t slabs, int64_t min_chunks,
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
    c.lc = g.lines;
  }
  c.blocks = (q.n + c.nb - 1) / c.nb;
  c.per = (g.lines + c.lc - 1) / c.lc;
  c.direct = g.pointwise && c.nb == 1;
  return c;
}

// dst (Kg x cols) = the chunk's columns of one group's gy rows, src = gy[n0, group's first
// channel]: rows of P for whole-image chunks.
template <typename T>
void gather_rows(const ConvParams& q, const Geometry& g, const Chunk& c, const T* src, T* dst) {
  for (int64_t i = 0; i < c.images(); ++i)
    for (int64_t k = 0; k < g.kg; ++k)
      std::memcpy(dst + k * c.cols + i * g.p, src + (i * q.k + k) * g.p, g.p * sizeof(T));
}

// dst (cols x Kg, row-major) = the transpose of the chunk's gy columns; src = gy[n0, group's
// first channel] + l0 * OW. 16 channels at a time, so that every written line is filled.
template <typename T>
void gather_transposed(const ConvParams& q, const Geometry& g, const Chunk& c, const T* src, T* dst) {
  const int64_t len = c.cols / c.images();
  for (int64_t i = 0; i < c.images(); ++i)
    for (int64_t k0 = 0; k0 < g.kg; k0 += 16) {
      const int64_t k1 = std::min(g.kg, k0 + 16);
      for (int64_t j = 0; j < len; ++j) {
        T* d = dst + (i * len + j) * g.kg;
        const T* s = src + i * q.k * g.p + j;
        for (int64_t k = k0; k < k1; ++k) d[k] = s[k * g.p];
      }
    }
}

// Rows [r0, r1) of the chunk's im2col: col ((r1 - r0) x cols, row stride cols), image by image.
template <typename T>
void chunk_im2col(const ConvParams& q, const Geometry& g, const Chunk& c, const T* xg, int64_t r0, int64_t r1,
                  T* col, const TapTable* table) {
  const int64_t len = (c.l1 - c.l0) * g.ow;
  for (int64_t n = c.n0; n < c.n1; ++n)
    im2col(q, g, xg + n * q.c * g.in_plane, c.l0, c.l1, r0, r1, col + (n - c.n0) * len, c.cols, table);
}

// ---- implicit GEMM (Note [Implicit GEMM convolution]) --------------------------------------

// Note [Implicit GEMM convolution]
// The forward product y = W[g] @ col and the channels-last weight-grad product gW' += gy @
// colt never build col: their B operand is a BPanels (Note [Packed GEMM operands] in
// cpu/gemm_cpu.h) that copies each block of col straight from the image into the GEMM's
// panel order, so col's elements are written once (into the L2-resident panels) instead of
// written to a buffer, read back and copied again. The weight (forward) or the chunk of gy
// (weight grad) is packed once as a PackedA and reused by every B block. A stride-1 backward
// input is the forward convolution of gy with the weight flipped in space and with input and
// output channels swapped (padding dilation * (kernel - 1) - padding), so it takes the same
// path and needs no col2im.
// Better still, when a panel of NR columns is one output line, or two lines of one vector
// each, or (several small images interleaved, the image innermost) part of one line of all of
// them, each of its rows is one or two contiguous vectors of the padded input: the micro-kernel
// then reads col where it lies (gemm_in_place, with a row offset per row of col and an offset
// per panel) and nothing is packed at all.

// dst[0, n) = src[0, n) for a run of at most one panel row (n <= NR elements), as fixed-size
// copies of NR, NR/2, ..., 1 elements by the bits of n, each of which the compiler turns into
// vector moves (a copy loop of variable length would become a call to memmove, costly for
// the runs of a few elements that small outputs have).
template <typename T, int64_t Size = Tiles<T>::NR>
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

// The forward product's B = col (CK x cols) of one chunk of one group: rows (c, tap), columns
// the chunk's outputs (images, then lines, then ow). The chunk's input is first copied with
// its padding made explicit, xp (images, cg, Dp, Hp, Wp) (extent below), each line split into
// its stride phases (phase_len), so that every run of col along one output line is a plain
// copy of contiguous elements. For a chunk of some lines of one 2-d image only the input rows
// those lines reach are copied.
template <typename T>
class ImageColumns final : public BPanels<T> {
 public:
  ImageColumns(const ConvParams& q, const Geometry& g, const Chunk& c, const T* xg, T* xp)
      : q_(q), g_(g), xp_(xp), dp_(extent(q, 0)), hp_(extent(q, 1)), wq_(phase_len(q)), wp_(wq_ * q.stride[2]) {
    const int64_t len = (c.l1 - c.l0) * g.ow;
    // In place (no packing) when every panel is one output line, or two whole lines of one
    // vector each in the same image and plane (B rows then two vectors stride[1] padded lines
    // apart),
    // or, for several small images, when the images are interleaved (below) and a panel is
    // part of one output line of all of them.
    const bool one_line = g.ow % kNR == 0;
    const bool two_lines = 2 * g.ow == kNR && q.out[1] % 2 == 0 && c.l0 % 2 == 0 && (c.l1 - c.l0) % 2 == 0;
    if (!one_line && !two_lines && c.images() > 1 && g.ow * c.images() % kNR == 0) {
      pad_interleaved(c, xg);
      const int64_t nb = images_ = c.images(), line = g.ow * nb;
      rows_.resize(static_cast<size_t>(g.ck));
      for (int64_t r = 0; r < g.ck; ++r) rows_[r] = row_offset(r);
      for (int64_t j = 0; j < c.cols; j += kNR)
        panels_.push_back((j / line / q.out[1] * q.stride[0] * hp_ + j / line % q.out[1] * q.stride[1]) * wp_ * nb + j % line);
      vs_ = kNR / 2;
      view_ = {xp_, rows_.data(), panels_.data(), vs_};
      return;
    }
    pad_input(c, xg);
    if (one_line || two_lines) {  // any strides: a tap's elements along a line are contiguous
      rows_.resize(static_cast<size_t>(g.ck));
      for (int64_t r = 0; r < g.ck; ++r) rows_[r] = row_offset(r);
      for (int64_t j = 0; j < c.cols; j += kNR) {
        const int64_t i = j / len, l = c.l0 + j % len / g.ow, ow = j % len % g.ow;
        panels_.push_back(i * g.cg * plane() + (l / q.out[1] * q.stride[0] * hp_ + l % q.out[1] * q.stride[1]) * wp_ + ow);
      }
      vs_ = one_line ? kNR / 2 : q.stride[1] * wp_;
      view_ = {xp_, rows_.data(), panels_.data(), vs_};
      return;
    }
    for (int64_t i = 0; i < c.images(); ++i)
      for (int64_t l = c.l0; l < c.l1; ++l)
        for (int64_t ow = 0; ow < g.ow;) {  // runs of one output line within one NR-column panel
          const int64_t j = i * len + (l - c.l0) * g.ow + ow;
          const int64_t n = std::min(g.ow - ow, kNR - j % kNR);
          const int64_t od = l / q.out[1], oh = l % q.out[1];
          const int64_t src = i * g.cg * plane() + (od * q.stride[0] * hp_ + oh * q.stride[1]) * wp_ + ow;
          runs_.push_back({j, n, src});
          ow += n;
        }
  }

  void pack(int64_t p0, int64_t kc, int64_t j0, int64_t nc, T* out) const override {
    const auto first = std::lower_bound(runs_.begin(), runs_.end(), j0, [](const Run& a, int64_t j) { return a.j < j; });
    const auto last = std::lower_bound(first, runs_.end(), j0 + nc, [](const Run& a, int64_t j) { return a.j < j; });
    for (int64_t r = p0; r < p0 + kc; ++r) {
      const T* xc = xp_ + row_offset(r);
      T* row = out + (r - p0) * kNR;
      for (auto u = first; u != last; ++u) {
        copy_run(row + (u->j - j0) / kNR * kNR * kc + u->j % kNR, xc + u->src, u->len);
      }
      if (nc % kNR) {  // zero the last panel's columns past nc
        T* dst = row + (nc / kNR) * kNR * kc;
        std::fill(dst + nc % kNR, dst + kNR, T(0));
      }
    }
  }

  // Whether the chunk's images are interleaved: columns (od, oh, ow, image), xp (cg, Dp, Hp,
  // Wp, images) with lines split by stride phase. The product's columns are in that order too.
  bool interleaved() const { return images_ > 0; }
  // B as read in place, or null when the chunk's panels are not whole lines.
  const gemm_cpu::BInPlace<T>* in_place() const { return rows_.empty() ? nullptr : &view_; }

  // Elements of xp for `images` images of one group.
  static int64_t padded_size(const ConvParams& q, const Geometry& g, int64_t images) {
    return images * g.cg * extent(q, 0) * extent(q, 1) * phase_len(q) * q.stride[2];
  }
  // A padded line is stored as stride[2] phases, phase f holding its elements f, f + stride,
  // f + 2 * stride, ...: the elements one tap meets along an output line are then contiguous
  // (Note [Implicit GEMM convolution]). The length of one phase:
  static int64_t phase_len(const ConvParams& q) { return (extent(q, 2) + q.stride[2] - 1) / q.stride[2]; }
  // The padded input's size along dim d: the input after pad[d] zeros, and as far as the
  // last output's last tap reaches (the padding after the input may differ from pad[d]).
  static int64_t extent(const ConvParams& q, int d) {
    return std::max(q.pad[d] + q.in[d], (q.out[d] - 1) * q.stride[d] + (q.kernel[d] - 1) * q.dilation[d] + 1);
  }

 private:
  static constexpr int64_t kNR = Tiles<T>::NR;
  struct Run {
    int64_t j, len, src;  // chunk column, length, offset in xp of the tap (0, 0, 0) element
  };
  int64_t plane() const { return dp_ * hp_ * wp_; }
  // Where row r = (c, tap) of col starts in xp, for the output (0, 0, 0) of image 0.
  int64_t row_offset(int64_t r) const {
    const ConvParams& q = q_;
    const int64_t KH = q.kernel[1], KW = q.kernel[2], sw = q.stride[2];
    const int64_t tap = r % g_.kk, kt = tap / (KH * KW), kr = tap % (KH * KW) / KW, ks = tap % KW;
    const int64_t c = r / g_.kk;
    const int64_t at = c * plane() + (kt * q.dilation[0] * hp_ + kr * q.dilation[1]) * wp_ + ks * q.dilation[2] % sw * wq_ +
                       ks * q.dilation[2] / sw;
    return images_ > 0 ? at * images_ : at;  // interleaved: every element is `images` wide
  }

  // xp (cg, Dp, Hp, Wp, images) = the chunk's images zero-padded, interleaved, each line
  // split into its stride phases (phase_len).
  void pad_interleaved(const Chunk& c, const T* xg) {
    const ConvParams& q = q_;
    const int64_t D = q.in[0], H = q.in[1], W = q.in[2], nb = c.images(), sw = q.stride[2];
    std::fill(xp_, xp_ + g_.cg * plane() * nb, T(0));
    std::vector<int64_t> at(static_cast<size_t>(W));  // input column -> its place in a line
    for (int64_t w = 0; w < W; ++w) at[w] = ((w + q.pad[2]) % sw * wq_ + (w + q.pad[2]) / sw) * nb;
    for (int64_t ch = 0; ch < g_.cg; ++ch)
      for (int64_t i = 0; i < nb; ++i) {
        const T* src = xg + ((c.n0 + i) * q.c + ch) * g_.in_plane;
        T* dst = xp_ + ch * plane() * nb + i;
        for (int64_t d = 0; d < D; ++d)
          for (int64_t h = 0; h < H; ++h) {
            T* line = dst + ((d + q.pad[0]) * hp_ + h + q.pad[1]) * wp_ * nb;
            const T* in = src + (d * H + h) * W;
            if (sw == 1) {
              for (int64_t w = 0; w < W; ++w) line[(w + q.pad[2]) * nb] = in[w];
            } else {
              for (int64_t w = 0; w < W; ++w) line[at[w]] = in[w];
            }
          }
      }
  }

  // xp = the chunk's input planes, zero-padded; rows no output line of the chunk reaches are
  // left unwritten.
  void pad_input(const Chunk& c, const T* xg) {
    const ConvParams& q = q_;
    const int64_t D = q.in[0], H = q.in[1], W = q.in[2], sw = q.stride[2];
    int64_t r0 = 0, r1 = hp_;  // padded rows of the 2-d case
    if (dp_ == 1) {
      r0 = c.l0 * q.stride[1];
      r1 = std::min(hp_, (c.l1 - 1) * q.stride[1] + (q.kernel[1] - 1) * q.dilation[1] + 1);
    }
    for (int64_t i = 0; i < c.images(); ++i)
      for (int64_t ch = 0; ch < g_.cg; ++ch) {
        const T* src = xg + ((c.n0 + i) * q.c + ch) * g_.in_plane;
        T* dst = xp_ + (i * g_.cg + ch) * plane();
        for (int64_t d = 0; d < dp_; ++d)
          for (int64_t h = r0; h < r1; ++h) {
            T* line = dst + (d * hp_ + h) * wp_;
            const int64_t id = d - q.pad[0], ih = h - q.pad[1];
            if (id < 0 || id >= D || ih < 0 || ih >= H) {
              std::fill(line, line + wp_, T(0));
              continue;
            }
            const T* in = src + (id * H + ih) * W;
            if (sw == 1) {
              std::fill(line, line + q.pad[2], T(0));
              std::memcpy(line + q.pad[2], in, W * sizeof(T));
              std::fill(line + q.pad[2] + W, line + wp_, T(0));
              continue;
            }
            for (int64_t f = 0; f < sw; ++f) {  // phase f: padded columns f + sw * e
              int64_t lo, hi;
              valid_range(wq_, W, sw, f - q.pad[2], lo, hi);
              T* ph = line + f * wq_;
              const int64_t off = f - q.pad[2];
              std::fill(ph, ph + lo, T(0));
              if (sw == 2) {  // the common stride, as a constant: vectorised
                for (int64_t e = lo; e < hi; ++e) ph[e] = in[e * 2 + off];
              } else {
                for (int64_t e = lo; e < hi; ++e) ph[e] = in[e * sw + off];
              }
              std::fill(ph + hi, ph + wq_, T(0));
            }
          }
      }
  }

  const ConvParams& q_;
  const Geometry& g_;
  T* xp_;
  int64_t dp_, hp_, wq_, wp_;  // wp_: a padded line, all its phases
  std::vector<Run> runs_;
  std::vector<int64_t> rows_, panels_;  // read in place: row and panel offsets in xp
  int64_t vs_ = 0;
  int64_t images_ = 0;  // interleaved: the chunk's images
  gemm_cpu::BInPlace<T> view_{xp_, nullptr, nullptr, 0};
};

// The channels-last weight-grad product's B = colt (cols x (tap, c)) of one chunk, from xt:
// the chunk's images channels-last, (images, in_plane, cg). Row j (a chunk column) and column
// (tap, c) hold xt[image, pixel tap meets at j, c], 0 in the padding.
template <typename T>
class ChannelsLastColumns final : public BPanels<T> {
 public:
  ChannelsLastColumns(const Geometry& g, const Chunk& c, const T* xt, const TapTable& table)
      : g_(g), xt_(xt), off_(table.off.data()), len_((c.l1 - c.l0) * g.ow), first_(c.l0 * g.ow) {}

  void pack(int64_t p0, int64_t kc, int64_t j0, int64_t nc, T* out) const override {
    const int64_t cg = g_.cg;
    for (int64_t j = j0; j < j0 + nc;) {  // runs of one tap within one panel, each down all rows
      const int64_t tap = j / cg, c = j % cg;
      const int64_t n = std::min({cg - c, kNR - (j - j0) % kNR, j0 + nc - j});
      const int32_t* off = off_ + tap * g_.p;
      T* dst = out + (j - j0) / kNR * kNR * kc + (j - j0) % kNR;
      int64_t image = p0 / len_, p = p0 % len_;
      for (int64_t r = p0; r < p0 + kc; ++r, dst += kNR) {
        const int32_t o = off[first_ + p];
        if (o < 0)
          std::fill(dst, dst + n, T(0));
        else
          copy_run(dst, xt_ + (image * g_.in_plane + o) * cg + c, n);
        if (++p == len_) p = 0, ++image;
      }
      j += n;
    }
    if (nc % kNR) {  // zero the last panel's columns past nc
      T* dst = out + nc / kNR * kNR * kc;
      for (int64_t r = 0; r < kc; ++r) std::fill(dst + r * kNR + nc % kNR, dst + r * kNR + kNR, T(0));
    }
  }

 private:
  static constexpr int64_t kNR = Tiles<T>::NR;
  const Geometry& g_;
  const T* xt_;
  const int32_t* off_;
  int64_t len_, first_;
};

std::unique_ptr<TapTable> make_table(const ConvParams& q, const Geometry& g, const ChunkPlan& plan) {
  if (plan.direct || !TapTable::wanted(g)) return nullptr;
  return std::make_unique<TapTable>(q, g);
}

// Chunks of the implicit-GEMM forward: whole images, several side by side when one image has
// fewer than kMinCols outputs (but no more than an equal share of the images per thread); an
// image's lines are split only when there are too few images (times `slabs` groups) to give
// each of `threads` threads about four chunks.
ChunkPlan plan_images(const ConvParams& q, const Geometry& g, int64_t slabs, int64_t threads) {
  ChunkPlan c;
  const int64_t want = std::max<int64_t>(1, (4 * threads + slabs - 1) / slabs);  // chunks over all images
  const int64_t share = (q.n * slabs + threads - 1) / threads;  // images per thread
  c.nb = std::max<int64_t>(1, std::min({q.n, (2 * kMinCols + g.p - 1) / g.p, share}));
  c.lc = g.lines;
  if (c.nb == 1 && q.n < want) {
    const int64_t parts = std::min((want + q.n - 1) / q.n, std::max<int64_t>(1, g.p / kMinCols));
    c.lc = (g.lines + parts - 1) / parts;
  }
  c.blocks = (q.n + c.nb - 1) / c.nb;
  c.per = (g.lines + c.lc - 1) / c.lc;
  c.direct = g.pointwise && c.nb == 1;
  return c;
}

template <typename T>
void conv_forward_t(const ConvParams& q, T* y, const T* x, const T* w, const T* b) {
  const Geometry g(q);
  if (g.cg == 1) return depthwise_forward(q, g, y, x, w, b);
  const ChunkPlan plan = g.pointwise ? plan_chunks(q, g, sizeof(T), q.groups, get_num_threads(), true)
                                     : plan_images(q, g, q.groups, get_num_threads());
  // The packed weights, one per group; plain pointers into this thread's packs for the
  // worker threads (each has its own thread_local pack_cache).
  std::vector<const PackedA<T>*> weights;
  std::vector<std::unique_ptr<PackedA<T>>>& cache = pack_cache.get<T>().weights;
  const int64_t packs = plan.direct ? 0 : q.groups;
  while (static_cast<int64_t>(cache.size()) < packs) cache.push_back(std::make_unique<PackedA<T>>());
  for (int64_t gi = 0; gi < packs; ++gi) {
    cache[gi]->pack(g.kg, g.ck, w + gi * g.kg * g.ck, g.ck, 1);
    weights.push_back(cache[gi].get());
  }
  const int64_t items = q.groups * plan.count();
  const int64_t item_work = g.kg * g.ck * std::max<int64_t>(1, plan.at(q, g, 0).cols);
  parallel_for(0, items, std::max<int64_t>(1, kParallelWork / item_work), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t gi = t % q.groups;
      const Chunk c = plan.at(q, g, t / q.groups);
      const T* xg = x + gi * g.cg * g.in_plane;
      const T* wg = w + gi * g.kg * g.ck;
      T* yg = y + (c.n0 * q.k + gi * g.kg) * g.p + c.l0 * g.ow;
      const bool one = c.images() == 1;  // else the product goes through io_scratch
      T* out = one ? yg : io_scratch.get<T>(g.kg * c.cols);
      const int64_t ldo = one ? g.p : c.cols;
      if (plan.direct) {
        gemm<T>(g.kg, c.cols, g.ck, wg, g.ck, 1, xg + c.n0 * q.c * g.in_plane + c.l0 * g.ow, g.p, 1, 0.0, out, ldo);
      } else {
        T* xp = col_scratch.get<T>(ImageColumns<T>::padded_size(q, g, c.images()));
        const ImageColumns<T> col(q, g, c, xg, xp);
        if (const gemm_cpu::BInPlace<T>* direct = col.in_place())
          gemm_cpu::gemm_in_place(*weights[gi], c.cols, *direct, T(0), out, ldo);
        else
          gemm_cpu::gemm_packed(*weights[gi], c.cols, col, T(0), out, ldo);
        if (col.interleaved()) {  // columns (p, image)
          const int64_t nb = c.images();
          for (int64_t i = 0; i < nb; ++i)
            for (int64_t k = 0; k < g.kg; ++k) {
              T* dst = yg + (i * q.k + k) * g.p;
              const T* src = out + k * c.cols + i;
              const T bk = b ? b[gi * g.kg + k] : T(0);
              for (int64_t j = 0; j < g.p; ++j) dst[j] = src[j * nb] + bk;
            }
          continue;
        }
      }
      if (one) {
        if (b)
          for (int64_t k = 0; k < g.kg; ++k) {
            const T bk = b[gi * g.kg + k];
            T* row = yg + k * g.p;
            for (int64_t j = 0; j < c.cols; ++j) row[j] += bk;
          }
        continue;
      }
      for (int64_t i = 0; i < c.images(); ++i)
        for (int64_t k = 0; k < g.kg; ++k) {
          T* dst = yg + (i * q.k + k) * g.p;
          const T* src = out + k * c.cols + i * g.p;
          const T bk = b ? b[gi * g.kg + k] : T(0);
          for (int64_t j = 0; j < g.p; ++j) dst[j] = src[j] + bk;
        }
    }
  });
}

// The forward convolution whose output is the stride-1 backward input of q (Note [Implicit
// GEMM convolution]), when there is one: all strides 1, padding at most dilation * (kernel - 1).
bool input_grad_as_forward(const ConvParams& q, ConvParams& f) {
  f = q;
  f.c = q.k, f.k = q.c, f.in = q.out, f.out = q.in;
  for (int d = 0; d < 3; ++d) {
    f.pad[d] = q.dilation[d] * (q.kernel[d] - 1) - q.pad[d];
    if (q.stride[d] != 1 || f.pad[d] < 0) return false;
  }
  return true;
}

template <typename T>
void conv_backward_input_t(const ConvParams& q, T* gx, const T* gy, const T* w) {
  const Geometry g(q);
  if (g.cg == 1) return depthwise_backward_input(q, g, gx, gy, w);
  ConvParams f;
  // (With few input channels per group the forward's product would have that few rows.)
  if (!g.pointwise && g.cg >= 16 && input_grad_as_forward(q, f)) {
    // wf[g*Cg + c, k, kk-1-t] = w[g*Kg + k, c, t]: (C, Kg, taps), flipped in space; in
    // 32 x 32 blocks of (c, k), so that a block's rows of w and of wf (up to Cg * taps and Kg
    // * taps apart) stay within a few pages; blocks of rows of wf over the threads.
    T* wf = flip_scratch.get<T>(q.c * g.kg * g.kk);
    constexpr int64_t kB = 32;
    const int64_t cb = (g.cg + kB - 1) / kB;
    parallel_for(0, q.groups * cb, std::max<int64_t>(1, 16384 / (kB * g.kg * g.kk)), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t gi = b / cb, c0 = b % cb * kB, c1 = std::min(g.cg, c0 + kB);
        for (int64_t k0 = 0; k0 < g.kg; k0 += kB)
          for (int64_t c = c0; c < c1; ++c)
            for (int64_t k = k0; k < std::min(g.kg, k0 + kB); ++k) {
              const T* src = w + ((gi * g.kg + k) * g.cg + c) * g.kk;
              T* dst = wf + ((gi * g.cg + c) * g.kg + k) * g.kk;
              for (int64_t t = 0; t < g.kk; ++t) dst[g.kk - 1 - t] = src[t];
            }
      }
    });
    return conv_forward_t(f, gx, gy, static_cast<const T*>(wf), static_cast<const T*>(nullptr));
  }
  const int64_t nt = get_num_threads();
  // Chunks that share an image overlap in gx, so a thread takes all chunks of its images.
  const ChunkPlan plan = plan_chunks(q, g, sizeof(T), q.groups, nt, false);
  const std::unique_ptr<TapTable> table = make_table(q, g, plan);
  const int64_t items = q.groups * plan.blocks;
  const bool split = items >= nt;  // else each GEMM splits itself over the threads
  const int64_t item_work = g.kg * g.ck * plan.nb * g.p;
  parallel_for(0, items, split ? std::max<int64_t>(1, kParallelWork / item_work) : INT64_MAX,
               [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t gi = t % q.groups, blk = t / q.groups;
      const T* wg = w + gi * g.kg * g.ck;  // W[g]^T is (CK x Kg) with strides (1, CK)
      for (int64_t ci = 0; ci < plan.per; ++ci) {
        const Chunk c = plan.at(q, g, blk * plan.per + ci);
        T* xg = gx + (c.n0 * q.c + gi * g.cg) * g.in_plane;
        const T* yg = gy + (c.n0 * q.k + gi * g.kg) * g.p;
        if (plan.direct) {  // gx[n, g] = W[g]^T @ gy[n, g], written directly
          gemm<T>(g.ck, g.p, g.kg, wg, 1, g.ck, yg, g.p, 1, 0.0, xg, g.p);
          continue;
        }
        if (ci == 0)
          for (int64_t i = 0; i < c.images(); ++i)
            std::fill(xg + i * q.c * g.in_plane, xg + i * q.c * g.in_plane + g.cg * g.in_plane, T(0));
        const T* src = yg + c.l0 * g.ow;
        int64_t ld = g.p;
        if (c.images() > 1) {
          T* buf = io_scratch.get<T>(g.kg * c.cols);
          gather_rows(q, g, c, yg, buf);
          src = buf, ld = c.cols;
        }
        T* col = col_scratch.get<T>(std::min(plan.slice, g.ck) * c.cols);
        const int64_t len = (c.l1 - c.l0) * g.ow;
        for (int64_t r0 = 0; r0 < g.ck; r0 += plan.slice) {
          const int64_t r1 = std::min(g.ck, r0 + plan.slice);
          gemm<T>(r1 - r0, c.cols, g.kg, wg + r0, 1, g.ck, src, ld, 1, 0.0, col, c.cols);
          for (int64_t i = 0; i < c.images(); ++i)
            col2im_add(q, g, col + i * len, c.cols, c.l0, c.l1, r0, r1, xg + i * q.c * g.in_plane, table.get());
        }
      }
    }
  });
}

// ---- channels-last weight grad (Note [Convolution weight grad orientation]) -----------------

// xt (in_plane x cg, row-major) = one image's group channels x (cg x in_plane) transposed,
// 16 channels at a time so that every written line is filled.
template <typename T>
void to_channels_last(const Geometry& g, const T* x, T* xt) {
  for (int64_t c0 = 0; c0 < g.cg; c0 += 16) {
    const int64_t c1 = std::min(g.cg, c0 + 16);
    for (int64_t i = 0; i < g.in_plane; ++i)
      for (int64_t c = c0; c < c1; ++c) xt[i * g.cg + c] = x[c * g.in_plane + i];
  }
}

// Note [Channels-last weight grad in place]
// When the channels per group are a multiple of the GEMM's panel width, colt (P x (tap, c)) is
// read in place by the micro-kernel (gemm_in_place) from a zero-padded channels-last copy of
// the image, xtp (Dp, Hp, Wp, cg): row p (an output) starts at the padded pixel of its tap
// (0, 0, 0) and panel (tap, c0) adds the tap's pixel offset and c0, so no packing is needed.
template <typename T>
class ChannelsLastInPlace {
 public:
  ChannelsLastInPlace(const ConvParams& q, const Geometry& g)
      : q_(q), g_(g), dp_(ImageColumns<T>::extent(q, 0)), hp_(ImageColumns<T>::extent(q, 1)),
        wp_(ImageColumns<T>::extent(q, 2)) {
    const int64_t KH = q.kernel[1], KW = q.kernel[2];
    for (int64_t j = 0; j < g.ck; j += kNR) {
      const int64_t tap = j / g.cg, kt = tap / (KH * KW), kr = tap % (KH * KW) / KW, ks = tap % KW;
      panels_.push_back(((kt * q.dilation[0] * hp_ + kr * q.dilation[1]) * wp_ + ks * q.dilation[2]) * g.cg + j % g.cg);
    }
  }
  static bool wanted(const Geometry& g) { return g.cg % kNR == 0; }
  int64_t image_size() const { return dp_ * hp_ * wp_ * g_.cg; }

  // xtp = one image's group channels (x, cg planes) zero-padded and channels-last, 16
  // channels at a time so that every written line is filled.
  void fill(const T* x, T* xtp) const {
    const ConvParams& q = q_;
    std::fill(xtp, xtp + image_size(), T(0));
    const int64_t D = q.in[0], H = q.in[1], W = q.in[2];
    for (int64_t c0 = 0; c0 < g_.cg; c0 += 16) {
      const int64_t c1 = std::min(g_.cg, c0 + 16);
      for (int64_t d = 0; d < D; ++d)
        for (int64_t h = 0; h < H; ++h) {
          T* dst = xtp + (((d + q.pad[0]) * hp_ + h + q.pad[1]) * wp_ + q.pad[2]) * g_.cg;
          const T* src = x + (d * H + h) * W;
          for (int64_t w = 0; w < W; ++w)
            for (int64_t c = c0; c < c1; ++c) dst[w * g_.cg + c] = src[c * g_.in_plane + w];
        }
    }
  }

  // colt of chunk c, its images' copies side by side from xtp.
  gemm_cpu::BInPlace<T> view(const Chunk& c, const T* xtp) {
    const ConvParams& q = q_;
    rows_.clear();
    const int64_t len = (c.l1 - c.l0) * g_.ow;
    for (int64_t i = 0; i < c.images(); ++i)
      for (int64_t j = 0; j < len; ++j) {
        const int64_t l = c.l0 + j / g_.ow, ow = j % g_.ow, od = l / q.out[1], oh = l % q.out[1];
        rows_.push_back(i * image_size() + ((od * q.stride[0] * hp_ + oh * q.stride[1]) * wp_ + ow * q.stride[2]) * g_.cg);
      }
    return {xtp, rows_.data(), panels_.data(), kNR / 2};
  }

 private:
  static constexpr int64_t kNR = Tiles<T>::NR;
  const ConvParams& q_;
  const Geometry& g_;
  int64_t dp_, hp_, wp_;
  std::vector<int64_t> rows_, panels_;
};

// Whether the weight grad takes the channels-last path: enough channels per group for the
// per-tap copies to be runs (measured faster than the transposed product for Kg <= 512).
bool channels_last_wgrad(const Geometry& g) {
  return g.cg >= 16 && g.kg <= 512 && !g.pointwise && g.in_plane < (int64_t(1) << 31);
}

template <typename T>
void conv_backward_weight_t(const ConvParams& q, T* gw, T* gb, const T* gy, const T* x) {
  const Geometry g(q);
  if (g.cg == 1) return depthwise_backward_weight(q, g, gw, gb, gy, x);
  if (gb)
    parallel_for(0, q.k, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, q.n * g.p)), [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        double s = 0;
        for (int64_t n = 0; n < q.n; ++n) s += lane_sum(gy + (n * q.k + k) * g.p, g.p);
        gb[k] = static_cast<T>(s);
      }
    });
  if (!gw) return;
  const ChunkPlan plan = plan_chunks(q, g, sizeof(T), 1, get_num_threads(), true);
  const std::unique_ptr<TapTable> table = make_table(q, g, plan);
  const int64_t item_work = q.k * g.ck * std::max<int64_t>(1, plan.at(q, g, 0).cols);
  const int64_t wsize = q.k * g.ck;  // gW: groups x (Kg x CK) = (K, CK)
  // Note [Convolution weight grad orientation]
  // The GEMM packs a row-major B (k x n) by copying rows but must transpose a B whose rows
  // are the contraction (here P) dim, as col^T is. So, with >= 16 channels per group, the
  // image is first copied channels-last and col is taken transposed, colt (P x (tap, c)),
  // packed from channel runs of that copy (ChannelsLastColumns): gW' (Kg x (tap, c)) += gy
  // (Kg x P) @ colt, permuted into gw at the end. Otherwise, with CK >= Kg, the product is
  // taken transposed, gW^T (CK x Kg) += col @ gy^T with gy^T gathered row-major once per
  // chunk, so the large operand, col, is the row-major A (sliced by rows); the private sums
  // are transposed at the end.
  const bool last = channels_last_wgrad(g);
  const bool transposed = !last && g.ck >= g.kg;
  // The packed channels-last path looks its taps up in a table; the in-place one needs none.
  const bool in_place_wgrad = last && ChannelsLastInPlace<T>::wanted(g);
  const std::unique_ptr<TapTable> taps = last && !in_place_wgrad ? std::make_unique<TapTable>(q, g) : nullptr;
  // Each thread sums its chunks into a private part (the channels-last path writes it
  // with its first product, the others zero it first); the parts are then added into gw in
  // the order of their first chunks, so the result does not depend on thread timing.
  std::vector<std::pair<int64_t, const T*>> parts;
  std::mutex merge;
  parallel_for(0, plan.count(), std::max<int64_t>(1, kParallelWork / item_work), [&](int64_t t0, int64_t t1) {
    T* part = part_scratch.get<T>(wsize);
    if (!last) std::fill(part, part + wsize, T(0));
    int64_t xt_image = -1;  // (n * groups + g) of the image held channels-last in xt
    std::optional<ChannelsLastInPlace<T>> in_place;
    if (in_place_wgrad) in_place.emplace(q, g);
    for (int64_t t = t0; t < t1; ++t) {
      const Chunk c = plan.at(q, g, t);
      for (int64_t gi = 0; gi < q.groups; ++gi) {
        const T* xg = x + gi * g.cg * g.in_plane;
        const T* yg = gy + (c.n0 * q.k + gi * g.kg) * g.p + c.l0 * g.ow;
        T* pg = part + gi * g.kg * g.ck;
        if (last) {  // pg (Kg x (tap, c)) += gy chunk (Kg x cols) @ colt (cols x (tap, c))
          int64_t ldy = g.p;
          if (c.images() > 1) {
            T* buf = io_scratch.get<T>(g.kg * c.cols);
            gather_rows(q, g, c, yg, buf);
            yg = buf, ldy = c.cols;
          }
          const bool fresh = c.images() > 1 || xt_image != c.n0 * q.groups + gi;
          xt_image = c.images() > 1 ? -1 : c.n0 * q.groups + gi;
          PackedA<T>& gya = pack_cache.get<T>().gy;
          gya.pack(g.kg, c.cols, yg, ldy, 1);
          const T beta = t == t0 ? T(0) : T(1);
          if (in_place) {  // Note [Channels-last weight grad in place]
            T* xtp = xt_scratch.get<T>(c.images() * in_place->image_size());
            if (fresh)
              for (int64_t i = 0; i < c.images(); ++i)
                in_place->fill(xg + (c.n0 + i) * q.c * g.in_plane, xtp + i * in_place->image_size());
            gemm_cpu::gemm_in_place(gya, g.ck, in_place->view(c, xtp), beta, pg, g.ck);
            continue;
          }
          T* xt = xt_scratch.get<T>(c.images() * g.in_plane * g.cg);
          if (fresh)
            for (int64_t i = 0; i < c.images(); ++i)
              to_channels_last(g, xg + (c.n0 + i) * q.c * g.in_plane, xt + i * g.in_plane * g.cg);
          gemm_cpu::gemm_packed(gya, g.ck, ChannelsLastColumns<T>(g, c, xt, *taps), beta, pg, g.ck);
          continue;
        }
        if (transposed) {
          T* gyt = io_scratch.get<T>(c.cols * g.kg);
          gather_transposed(q, g, c, yg, gyt);
          if (plan.direct) {  // pg^T (CK x Kg) += x chunk (CK x cols) @ gy chunk^T (cols x Kg)
            gemm<T>(g.ck, g.kg, c.cols, xg + c.n0 * q.c * g.in_plane + c.l0 * g.ow, g.p, 1, gyt, g.kg, 1, 1.0, pg, g.kg);
            continue;
          }
          T* col = col_scratch.get<T>(std::min(plan.slice, g.ck) * c.cols);
          for (int64_t r0 = 0; r0 < g.ck; r0 += plan.slice) {
            const int64_t r1 = std::min(g.ck, r0 + plan.slice);
            chunk_im2col(q, g, c, xg, r0, r1, col, table.get());
            gemm<T>(r1 - r0, g.kg, c.cols, col, c.cols, 1, gyt, g.kg, 1, 1.0, pg + r0 * g.kg, g.kg);
          }
          continue;
        }
        // pg (Kg x CK) += gy chunk (Kg x cols) @ col^T (cols x CK), whole (CK < Kg is small)
        int64_t ldy = g.p;
        if (c.images() > 1) {
          T* buf = io_scratch.get<T>(g.kg * c.cols);
          gather_rows(q, g, c, yg, buf);
          yg = buf, ldy = c.cols;
        }
        const T* col = xg + c.n0 * q.c * g.in_plane + c.l0 * g.ow;
        int64_t ld = g.p;
        if (!plan.direct) {
          T* buf = col_scratch.get<T>(g.ck * c.cols);
          chunk_im2col(q, g, c, xg, 0, g.ck, buf, table.get());
          col = buf, ld = c.cols;
        }
        gemm<T>(g.kg, g.ck, c.cols, yg, ldy, 1, col, 1, ld, 1.0, pg, g.ck);
      }
    }
    std::lock_guard<std::mutex> lock(merge);
    parts.emplace_back(t0, part);
  });
  std::sort(parts.begin(), parts.end());
  // gw row k (one output channel) = the sum of the parts' row k, permuted: part rows are
  // (tap, c) on the channels-last path, and the transposed path holds gW[g]^T (CK x Kg).
  parallel_for(0, q.k, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, g.ck * static_cast<int64_t>(parts.size()))),
               [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      T* dst = gw + k * g.ck;
      for (size_t i = 0; i < parts.size(); ++i) {
        const T* src = parts[i].second;
        const bool first = i == 0;
        if (last) {
          for (int64_t a = 0; a < g.kk; ++a) {
            const T* s = src + k * g.ck + a * g.cg;
            for (int64_t ci = 0; ci < g.cg; ++ci) dst[ci * g.kk + a] = first ? s[ci] : dst[ci * g.kk + a] + s[ci];
          }
        } else if (!transposed) {
          const T* s = src + k * g.ck;
          for (int64_t r = 0; r < g.ck; ++r) dst[r] = first ? s[r] : dst[r] + s[r];
        } else {
          const int64_t gi = k / g.kg;
          const T* s = src + gi * g.kg * g.ck + k % g.kg;
          for (int64_t r = 0; r < g.ck; ++r) dst[r] = first ? s[r * g.kg] : dst[r] + s[r * g.kg];
        }
      }
    }
  });
}

// ---- dtype dispatch -------------------------------------------------------------------------

template <typename T>
const T* ptr(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}
template <typename T>
T* mut(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}

void conv_forward_cpu(const ConvParams& q, const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b) {
  if (y->numel() == 0) return;
  if (x->dtype() == DType::Float64) return conv_forward_t(q, mut<double>(y), ptr<double>(x), ptr<double>(w), ptr<double>(b));
  conv_forward_t(q, mut<float>(y), ptr<float>(x), ptr<float>(w), ptr<float>(b));
}

void conv_backward_input_cpu(const ConvParams& q, const Tensor& gx, const Tensor& gy, const Tensor& w) {
  if (gx->numel() == 0) return;
  if (gy->numel() == 0) return zero_(gx);
  if (gx->dtype() == DType::Float64) return conv_backward_input_t(q, mut<double>(gx), ptr<double>(gy), ptr<double>(w));
  conv_backward_input_t(q, mut<float>(gx), ptr<float>(gy), ptr<float>(w));
}

void conv_backward_weight_cpu(const ConvParams& q, const Tensor& gw, const Tensor& gb, const Tensor& gy,
                              const Tensor& x) {
  if (q.n == 0 || gy->numel() == 0) {
    if (gw) zero_(gw);
    if (gb) zero_(gb);
    return;
  }
  if (gy->dtype() == DType::Float64)
    return conv_backward_weight_t(q, mut<double>(gw), mut<double>(gb), ptr<double>(gy), ptr<double>(x));
  conv_backward_weight_t(q, mut<float>(gw), mut<float>(gb), ptr<float>(gy), ptr<float>(x));
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(conv_forward_kernel, conv_forward_cpu);
DL_REGISTER_CPU_KERNEL(conv_backward_input_kernel, conv_backward_input_cpu);
DL_REGISTER_CPU_KERNEL(conv_backward_weight_kernel, conv_backward_weight_cpu);

}  // namespace dlcore
