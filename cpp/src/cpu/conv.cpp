// CPU convolution kernels, forward and input grad (Note [Convolution geometry] in ops/conv.h);
// the weight grad is in cpu/conv_weight_grad.cpp, the depthwise kernels in
// cpu/conv_depthwise.cpp. Compiled per CPU capability (Note [CPU capability variants] in
// cpu/loops.h).
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
// lines. The channels-last weight grad likewise (Note [Channels-last weight grad in place] in
// cpu/conv_weight_grad.cpp).
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
// parallel at the end (Note [Convolution weight grad orientation] in cpu/conv_weight_grad.cpp
// for the product it takes).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
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
namespace {
using namespace conv_cpu;
using gemm_cpu::BPanels;
using gemm_cpu::PackedA;
using gemm_cpu::Tiles;

// col slices and padded inputs; gathered gy or product rows; the flipped weight of a
// stride-1 input grad.
thread_local Scratch col_scratch, io_scratch, flip_scratch;
// The forward's packed weights, one per group.
template <typename T>
using WeightPacks = std::vector<std::unique_ptr<PackedA<T>>>;
thread_local PerDtype<WeightPacks> weight_packs;

// x (one group's channels) += col2im of col (rows [r0, r1)), the adjoint of im2col
// (cpu/conv_weight_grad.cpp).
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
      : q_(q), g_(g), xp_(xp), dp_(padded_extent(q, 0)), hp_(padded_extent(q, 1)), wq_(phase_len(q)), wp_(wq_ * q.stride[2]) {
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
    return images * g.cg * padded_extent(q, 0) * padded_extent(q, 1) * phase_len(q) * q.stride[2];
  }
  // A padded line is stored as stride[2] phases, phase f holding its elements f, f + stride,
  // f + 2 * stride, ...: the elements one tap meets along an output line are then contiguous
  // (Note [Implicit GEMM convolution]). The length of one phase:
  static int64_t phase_len(const ConvParams& q) { return (padded_extent(q, 2) + q.stride[2] - 1) / q.stride[2]; }

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

  // xp = the chunk's input planes, zero-padded; rows (2-d) and planes (3-d) no output line of
  // the chunk reaches are left unwritten.
  void pad_input(const Chunk& c, const T* xg) {
    const ConvParams& q = q_;
    const int64_t D = q.in[0], H = q.in[1], W = q.in[2], sw = q.stride[2];
    int64_t r0 = 0, r1 = hp_, d0 = 0, d1 = dp_;  // padded rows and planes
    if (dp_ == 1) {
      r0 = c.l0 * q.stride[1];
      r1 = std::min(hp_, (c.l1 - 1) * q.stride[1] + (q.kernel[1] - 1) * q.dilation[1] + 1);
    } else {
      d0 = c.l0 / q.out[1] * q.stride[0];
      d1 = std::min(dp_, (c.l1 - 1) / q.out[1] * q.stride[0] + (q.kernel[0] - 1) * q.dilation[0] + 1);
    }
    for (int64_t i = 0; i < c.images(); ++i)
      for (int64_t ch = 0; ch < g_.cg; ++ch) {
        const T* src = xg + ((c.n0 + i) * q.c + ch) * g_.in_plane;
        T* dst = xp_ + (i * g_.cg + ch) * plane();
        for (int64_t d = d0; d < d1; ++d)
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

// Chunks of the implicit-GEMM forward: whole images, several side by side when one image has
// fewer than kMinCols outputs (but no more than an equal share of the images per thread,
// balanced by balanced_images); an image's lines are split only when there are too few
// images (times `slabs` groups) to give each of `threads` threads about four chunks.
ChunkPlan plan_images(const ConvParams& q, const Geometry& g, int64_t slabs, int64_t threads) {
  ChunkPlan c;
  const int64_t want = std::max<int64_t>(1, (4 * threads + slabs - 1) / slabs);  // chunks over all images
  const int64_t share = (q.n * slabs + threads - 1) / threads;  // images per thread
  c.nb = std::max<int64_t>(1, std::min({q.n, (2 * kMinCols + g.p - 1) / g.p, share}));
  if (c.nb > 1 && threads > 1) c.nb = balanced_images(q.n, c.nb, slabs, threads);
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
  if (direct_forward(q, g, y, x, w, b)) return;
  const ChunkPlan plan = g.pointwise ? plan_chunks(q, g, sizeof(T), q.groups, get_num_threads(), true)
                                     : plan_images(q, g, q.groups, get_num_threads());
  // The packed weights, one per group; plain pointers into this thread's packs for the
  // worker threads (each has its own thread_local weight_packs).
  std::vector<const PackedA<T>*> weights;
  WeightPacks<T>& cache = weight_packs.get<T>();
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
  // (With few input channels per group the forward's product would have that few rows; the
  // direct 3-d forward's tiles are 8 rows.)
  if (!g.pointwise && (g.cg >= 16 || (g.cg >= 8 && direct_shape(q))) && input_grad_as_forward(q, f)) {
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

// ---- dtype dispatch -------------------------------------------------------------------------

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

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(conv_forward_kernel, conv_forward_cpu);
DL_REGISTER_CPU_KERNEL(conv_backward_input_kernel, conv_backward_input_cpu);

}  // namespace dlcore
