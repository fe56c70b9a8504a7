// CPU convolution weight (and bias) gradient (Note [Convolution as GEMM] in cpu/conv.cpp):
// gW[g] (Kg x CK) = sum over images of gy[n, g] (Kg x P) @ col^T, by one of three products
// (Note [Convolution weight grad orientation] below). Compiled per CPU capability (Note [CPU
// capability variants] in cpu/loops.h).
#include <mutex>
#include <optional>
#include <utility>

#include "cpu/conv_cpu.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {
using namespace conv_cpu;
using gemm_cpu::BPanels;
using gemm_cpu::PackedA;
using gemm_cpu::Tiles;

// im2col chunks; gathered or transposed gy; private weight grads; channels-last images.
thread_local Scratch col_scratch, io_scratch, part_scratch, xt_scratch;
// The channels-last product's packed chunk of gy.
thread_local PerDtype<PackedA> gy_packs;

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
      : q_(q), g_(g), dp_(padded_extent(q, 0)), hp_(padded_extent(q, 1)),
        wp_(padded_extent(q, 2)) {
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
  // One input channel per group: the depthwise kernel, unless it is a single group the direct
  // 3-d kernel takes.
  const bool direct = gw && (g.cg > 1 || q.groups == 1) && direct_backward_weight(q, g, gw, gy, x);
  if (g.cg == 1 && !direct) return depthwise_backward_weight(q, g, gw, gb, gy, x);
  if (gb)
    parallel_for(0, q.k, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, q.n * g.p)), [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        double s = 0;
        for (int64_t n = 0; n < q.n; ++n) s += lane_sum(gy + (n * q.k + k) * g.p, g.p);
        gb[k] = static_cast<T>(s);
      }
    });
  if (!gw || direct) return;
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
          PackedA<T>& gya = gy_packs.get<T>();
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

DL_REGISTER_CPU_KERNEL(conv_backward_weight_kernel, conv_backward_weight_cpu);

}  // namespace dlcore
