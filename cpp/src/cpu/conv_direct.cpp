// CPU direct kernels for stride-1 3-d convolutions (Note [Direct 3-d convolution]): the
// forward (and, through it, the stride-1 input grad, Note [Implicit GEMM convolution] in
// cpu/conv.cpp) and the weight grad. Compiled per CPU capability (Note [CPU capability
// variants] in cpu/loops.h).
//
// Note [Direct 3-d convolution]
// A 3-d convolution with a 5x5x5 or 3x3x3 kernel on a small volume spends much of an
// im2col product on taps that fall in the padding (a 5x5x5 kernel with padding 2 on 8^3
// outputs: 27% of them, on 4^3: 66%), and with few channels the GEMM's operands are
// thin (8 to 64 rows) while col is long, so packing col costs as much as the product.
// These kernels read the zero-padded input where it lies and skip the taps that meet
// only padding for a whole output line (along D and H; along W the zeros are multiplied).
// Each is a register tile of partial sums:
//   forward, lines of 16 or more (or without AVX-512): MR output channels x NV vectors of
//     outputs along lines; per tap (kd, kh) that meets the input for some line of the tile,
//     input channel and kw: MR weights (broadcast, from a copy of W packed per tile) times
//     NV vectors of the padded input (loaded where they lie, kw elements further). The
//     lines are ordered by the taps they meet, so a tile's lines skip the same ones.
//   forward, lines of 4 or 8 with AVX-512: turned, runs of 2 outputs of a few lines (each
//     input element broadcast) x NV vectors of output channels (W packed channels-last); the
//     runs are ordered by the taps they meet, so the taps along W that meet only padding
//     for a whole tile are skipped too.
//   weight grad, lines of whole vectors: MK output channels x the KW taps of one (c, kd,
//     kh), each a vector along the lines (gy and the input loaded where they lie, no
//     broadcasts), summed across lanes at the end; exact skipping in D and H.
//   weight grad, other widths: the (kh, kw) taps of a few kh rows of one (c, kd) x NV
//     vectors of output channels (the input broadcast, gy copied channels-last).
// The forward's tiles sum their whole reduction; the weight grad's sum it in passes over
// output planes (so that the gy a pass reads stays in L2), each adding to gW. Threads take
// disjoint tiles in every pass, so the results do not depend on the thread count. A tap's kw
// offset is an immediate displacement, so KW is a template parameter (3 and 5 here; W
// dilation 1), and the stride is 1 in every dimension.
#include <algorithm>
#include <array>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "cpu/conv_cpu.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace conv_cpu {
namespace {

// The padded input; the forward's packed weights; the weight grad's channels-last gy.
thread_local Scratch pad_scratch, pack_scratch, gyt_scratch;

template <typename T, int Bytes>
struct VecBytes {
  typedef T type __attribute__((vector_size(Bytes)));
};

// AVX-512 folds a broadcast from memory into the multiply-add; otherwise a broadcast takes a
// register.
#if defined(__AVX512F__)
constexpr int kBroadcastRegs = 0;
#else
constexpr int kBroadcastRegs = 1;
#endif
constexpr int kRegs = gemm_cpu::kVecRegs;

// The forward's tile: MR output channels x NV vectors. Two vectors (measured against three and
// four, V-Net's 5x5x5 at 4^3 to 32^3): tiles of fewer lines skip more taps.
constexpr int kForwardMR = kRegs == 32 ? 8 : 4;
constexpr int kForwardNV = 2;

// The zero-padded input x (N, C, Dp, Hp, Wp): padding pad[d] before each dimension and, after
// it, as far as the last output's last tap reaches.
struct Padded {
  int64_t dp, hp, wp;
  explicit Padded(const ConvParams& q) : dp(padded_extent(q, 0)), hp(padded_extent(q, 1)), wp(padded_extent(q, 2)) {}
  int64_t plane() const { return dp * hp * wp; }
};

template <typename T>
void pad_input(const ConvParams& q, const Padded& e, const T* x, T* xp) {
  const int64_t D = q.in[0], H = q.in[1], W = q.in[2], planes = q.n * q.c;
  parallel_for(0, planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, e.plane())), [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      T* dst = xp + pl * e.plane();
      const T* src = x + pl * D * H * W;
      std::fill(dst, dst + e.plane(), T(0));
      for (int64_t d = 0; d < D; ++d)
        for (int64_t h = 0; h < H; ++h)
          std::memcpy(dst + ((d + q.pad[0]) * e.hp + h + q.pad[1]) * e.wp + q.pad[2], src + (d * H + h) * W, W * sizeof(T));
    }
  });
}

// The widest vector (in bytes, at most the capability's, at least 16) whose lanes divide n;
// 0 when none does.
template <typename T>
int vector_bytes_dividing(int64_t n) {
  for (int b = kVecBytes; b >= 16; b /= 2)
    if (n % (b / static_cast<int>(sizeof(T))) == 0) return b;
  return 0;
}

// Calls f(KW constant, Bytes constant) for the kernel width and vector bytes given, if they
// have an instance; returns whether one ran.
template <typename F>
bool with_instance(int64_t kw, int bytes, F&& f) {
  auto by_bytes = [&](auto KW) {
    if (bytes == kVecBytes) return f(KW, std::integral_constant<int, kVecBytes>{}), true;
    if constexpr (kVecBytes / 2 >= 16)
      if (bytes == kVecBytes / 2) return f(KW, std::integral_constant<int, kVecBytes / 2>{}), true;
    if constexpr (kVecBytes / 4 >= 16)
      if (bytes == kVecBytes / 4) return f(KW, std::integral_constant<int, kVecBytes / 4>{}), true;
    return false;
  };
  if (kw == 3) return by_bytes(std::integral_constant<int, 3>{});
  if (kw == 5) return by_bytes(std::integral_constant<int, 5>{});
  return false;
}

// The range [lo, hi) of taps k (of n, dilation dil) that meet the input (size `in`, padding
// `pad`) at output o.
inline void taps_meeting(int64_t n, int64_t dil, int64_t o, int64_t in, int64_t pad, int64_t& lo, int64_t& hi) {
  valid_range(n, in, dil, o - pad, lo, hi);
}

// ---- forward ------------------------------------------------------------------------------

// The output lines grouped by the taps (kd, kh) that meet the input (meets[line]: kd0, kd1,
// kh0, kh1), so that the lines of a tile (consecutive in `order`) mostly skip the same taps.
struct LineOrder {
  std::vector<int64_t> order;
  std::vector<std::array<int64_t, 4>> meets;
  LineOrder(const ConvParams& q, const Geometry& g)
      : order(static_cast<size_t>(g.lines)), meets(static_cast<size_t>(g.lines)) {
    const int64_t OH = q.out[1];
    for (int64_t l = 0; l < g.lines; ++l) {
      order[l] = l;
      auto& m = meets[l];
      taps_meeting(q.kernel[0], q.dilation[0], l / OH, q.in[0], q.pad[0], m[0], m[1]);
      taps_meeting(q.kernel[1], q.dilation[1], l % OH, q.in[1], q.pad[1], m[2], m[3]);
    }
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return meets[a] < meets[b]; });
  }
};

// The taps (kd, kh) a tile takes: those that meet the input for some line of the tile (the
// others' products are with padding zeros); none when no tap meets it (y = bias).
struct TapRange {
  int64_t kd0 = INT64_MAX, kd1 = 0, kh0 = INT64_MAX, kh1 = 0;
  void add(const std::array<int64_t, 4>& m) {
    if (m[0] < m[1] && m[2] < m[3])
      kd0 = std::min(kd0, m[0]), kd1 = std::max(kd1, m[1]), kh0 = std::min(kh0, m[2]), kh1 = std::max(kh1, m[3]);
  }
};

// f(n, group, tile) for every image, group and output tile, the items split over threads.
template <typename F>
void for_each_tile(const ConvParams& q, int64_t tiles, int64_t tile_work, F f) {
  parallel_for(0, q.n * q.groups * tiles, std::max<int64_t>(1, kParallelWork / tile_work), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) f(t / (q.groups * tiles), t / tiles % q.groups, t % tiles);
  });
}

// y tile (MR rows at out, row stride P; vector v at column pos[v], the first `nv` stored) =
// bias + the tile's sum. a: the tile's packed weights (KD, KH, Cg, KW, MR); x[v]: the padded
// input at vector v's first output, tap (0, 0, 0), channel 0.
template <typename T, int Bytes, int KW, int NV>
void forward_tile(const ConvParams& q, const Padded& e, int64_t cg, const T* a, const T* const* x, const TapRange& taps,
                  T* out, const int64_t* pos, int nv, int64_t rows, const T* bias) {
  constexpr int MR = kForwardMR;
  using V = typename VecBytes<T, Bytes>::type;
  V acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};
  const int64_t plane = e.plane(), KH = q.kernel[1];
  for (int64_t kd = taps.kd0; kd < taps.kd1; ++kd)
    for (int64_t kh = taps.kh0; kh < taps.kh1; ++kh) {
      const T* ap = a + (kd * KH + kh) * cg * KW * MR;
      const int64_t at = (kd * q.dilation[0] * e.hp + kh * q.dilation[1]) * e.wp;
      const T* xv[NV];
      for (int v = 0; v < NV; ++v) xv[v] = x[v] + at;
      for (int64_t c = 0; c < cg; ++c, ap += KW * MR) {
#pragma GCC unroll 5
        for (int kw = 0; kw < KW; ++kw) {
          V b[NV];
          for (int v = 0; v < NV; ++v) std::memcpy(&b[v], xv[v] + kw, sizeof(V));
          for (int i = 0; i < MR; ++i) {
            const T ai = ap[kw * MR + i];
            for (int v = 0; v < NV; ++v) acc[i][v] += ai * b[v];
          }
        }
        for (int v = 0; v < NV; ++v) xv[v] += plane;
      }
    }
  for (int64_t i = 0; i < rows; ++i) {
    const T bi = bias ? bias[i] : T(0);
    for (int v = 0; v < nv; ++v) {
      const V r = acc[i][v] + bi;
      std::memcpy(out + i * q.out_numel() + pos[v], &r, sizeof(V));
    }
  }
}

template <typename T, int Bytes, int KW, int NV>
void forward_direct(const ConvParams& q, const Geometry& g, T* y, const T* x, const T* w, const T* b) {
  constexpr int MR = kForwardMR, LV = Bytes / static_cast<int>(sizeof(T));
  const Padded e(q);
  T* xp = pad_scratch.get<T>(q.n * q.c * e.plane());
  pad_input(q, e, x, xp);
  // wp[group, block, kd, kh, c, kw, i] = w[group's output channel block * MR + i, c, kd, kh,
  // kw], 0 past the group's last channel.
  const int64_t blocks = (g.kg + MR - 1) / MR, block_size = g.ck * MR;
  T* wp = pack_scratch.get<T>(q.groups * blocks * block_size);
  const int64_t KD = q.kernel[0], KH = q.kernel[1];
  parallel_for(0, q.groups * blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t gi = bi / blocks, k0 = bi % blocks * MR;
      T* dst = wp + bi * block_size;
      for (int64_t kd = 0; kd < KD; ++kd)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t c = 0; c < g.cg; ++c)
            for (int64_t kw = 0; kw < KW; ++kw, dst += MR)
              for (int i = 0; i < MR; ++i)
                dst[i] = k0 + i < g.kg ? w[((gi * g.kg + k0 + i) * g.cg + c) * g.kk + (kd * KH + kh) * KW + kw] : T(0);
    }
  });
  const int64_t vectors = g.p / LV, tiles = (vectors + NV - 1) / NV, OH = q.out[1], OW = g.ow;
  const LineOrder lines(q, g);
  const int64_t per_line = OW / LV;
  for_each_tile(q, tiles, g.kg * g.ck * NV * LV, [&](int64_t n, int64_t gi, int64_t tile) {
    const T* xs[NV];
    int64_t pos[NV];
    int nv = 0;
    TapRange taps;
    for (int v = 0; v < NV; ++v) {
      const int64_t vi = std::min(vectors - 1, tile * NV + v);  // a short last tile repeats its last vector
      if (tile * NV + v < vectors) ++nv;
      const int64_t line = lines.order[vi / per_line], ow = vi % per_line * LV, od = line / OH, oh = line % OH;
      pos[v] = line * OW + ow;
      xs[v] = xp + (((n * q.c + gi * g.cg) * e.dp + od) * e.hp + oh) * e.wp + ow;
      taps.add(lines.meets[line]);
    }
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t k0 = blk * MR;
      forward_tile<T, Bytes, KW, NV>(q, e, g.cg, wp + (gi * blocks + blk) * block_size, xs, taps,
                                     y + (n * q.k + gi * g.kg + k0) * g.p, pos, nv, std::min<int64_t>(MR, g.kg - k0),
                                     b ? b + gi * g.kg + k0 : nullptr);
    }
  });
}

// The forward for output lines of 4 or 8 with AVX-512: there, vectors along the lines would
// be a quarter or a half of a register, so the tile is turned: outputs (each input element
// broadcast) x NV vectors of output channels (loaded from a copy of W packed (kd, kh, c, kw,
// channels)). Measured faster than half-register vectors along lines of 8, and twice as fast
// for lines of 4.

// A tile is SEG runs of SL outputs of a line (runs, not whole lines, so that the taps along W
// that meet only padding for every output of the tile are skipped too: the first and last
// runs of a line), the runs ordered by the taps they meet.
constexpr int kNarrowRun = 2;

template <typename T, int KW, int SEG, int NV>
void forward_narrow_tile(const ConvParams& q, const Geometry& g, const Padded& e, const T* wt, int64_t kgp,
                         const T* const* x, const TapRange& taps, int64_t kw0, int64_t kw1, int64_t k0, T* y,
                         const int64_t* pos, int runs, const T* bias) {
  constexpr int SL = kNarrowRun, R = SEG * SL, LV = kVecBytes / static_cast<int>(sizeof(T));
  using V = typename VecOf<T>::type;
  V acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  const int64_t plane = e.plane(), KH = q.kernel[1];
  for (int64_t kd = taps.kd0; kd < taps.kd1; ++kd)
    for (int64_t kh = taps.kh0; kh < taps.kh1; ++kh) {
      const T* wp = wt + (kd * KH + kh) * g.cg * KW * kgp + k0;
      const int64_t at = (kd * q.dilation[0] * e.hp + kh * q.dilation[1]) * e.wp;
      const T* xl[SEG];
      for (int j = 0; j < SEG; ++j) xl[j] = x[j] + at;
      for (int64_t c = 0; c < g.cg; ++c, wp += KW * kgp) {
        for (int64_t kw = kw0; kw < kw1; ++kw) {
          V wv[NV];
          for (int v = 0; v < NV; ++v) std::memcpy(&wv[v], wp + kw * kgp + v * LV, sizeof(V));
          for (int j = 0; j < SEG; ++j)
            for (int o = 0; o < SL; ++o) {
              const T a = xl[j][o + kw];
              for (int v = 0; v < NV; ++v) acc[j * SL + o][v] += a * wv[v];
            }
        }
        for (int j = 0; j < SEG; ++j) xl[j] += plane;
      }
    }
  for (int j = 0; j < runs; ++j)
    for (int o = 0; o < SL; ++o)
      for (int v = 0; v < NV; ++v) {
        T lanes[LV];
        std::memcpy(lanes, &acc[j * SL + o][v], sizeof(V));
        for (int l = 0; l < LV && k0 + v * LV + l < g.kg; ++l) {
          const int64_t k = k0 + v * LV + l;
          y[k * g.p + pos[j] + o] = lanes[l] + (bias ? bias[k] : T(0));
        }
      }
}

template <typename T, int KW, int SEG, int NV>
void forward_narrow(const ConvParams& q, const Geometry& g, T* y, const T* x, const T* w, const T* b) {
  constexpr int LV = kVecBytes / static_cast<int>(sizeof(T)), SL = kNarrowRun;
  const Padded e(q);
  T* xp = pad_scratch.get<T>(q.n * q.c * e.plane());
  pad_input(q, e, x, xp);
  // wt[group, kd, kh, c, kw, k] = w[group's channel k, c, kd, kh, kw], 0 for k >= Kg.
  const int64_t kgp = gemm_cpu::round_up(g.kg, NV * LV), group_size = g.ck * kgp;
  T* wt = pack_scratch.get<T>(q.groups * group_size);
  parallel_for(0, q.groups * g.kk, 8, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t gi = t / g.kk, tap = t % g.kk, kw = tap % KW;
      for (int64_t c = 0; c < g.cg; ++c) {
        T* dst = wt + gi * group_size + ((tap - kw) * g.cg + c * KW + kw) * kgp;
        for (int64_t k = 0; k < kgp; ++k) dst[k] = k < g.kg ? w[((gi * g.kg + k) * g.cg + c) * g.kk + tap] : T(0);
      }
    }
  });
  // The runs (line, first output), ordered by the taps (kd, kh) and kw that meet the input.
  const LineOrder lines(q, g);
  const int64_t per_line = g.ow / SL, count = g.lines * per_line;
  std::vector<std::array<int64_t, 2>> kws(static_cast<size_t>(per_line));
  for (int64_t r = 0; r < per_line; ++r) {
    int64_t lo, hi, lo1, hi1;
    taps_meeting(KW, 1, r * SL, q.in[2], q.pad[2], lo, hi);
    taps_meeting(KW, 1, r * SL + SL - 1, q.in[2], q.pad[2], lo1, hi1);
    kws[r] = {std::min(lo, lo1), std::max(hi, hi1)};
  }
  std::vector<int64_t> runs(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) runs[i] = i;
  std::stable_sort(runs.begin(), runs.end(), [&](int64_t u, int64_t v) {
    return std::tie(lines.meets[u / per_line], kws[u % per_line]) < std::tie(lines.meets[v / per_line], kws[v % per_line]);
  });
  const int64_t tiles = (count + SEG - 1) / SEG, blocks = kgp / (NV * LV), OH = q.out[1];
  for_each_tile(q, tiles, g.kg * g.ck * SEG * SL, [&](int64_t n, int64_t gi, int64_t tile) {
    const T* xs[SEG];
    int64_t pos[SEG];
    TapRange taps;
    int64_t kw0 = KW, kw1 = 0;
    const int nr = static_cast<int>(std::min<int64_t>(SEG, count - tile * SEG));
    for (int j = 0; j < SEG; ++j) {
      const int64_t run = runs[tile * SEG + std::min(j, nr - 1)];  // a short tile repeats its last run
      const int64_t line = run / per_line, ow = run % per_line * SL;
      pos[j] = line * g.ow + ow;
      xs[j] = xp + (((n * q.c + gi * g.cg) * e.dp + line / OH) * e.hp + line % OH) * e.wp + ow;
      taps.add(lines.meets[line]);
      kw0 = std::min(kw0, kws[run % per_line][0]), kw1 = std::max(kw1, kws[run % per_line][1]);
    }
    for (int64_t blk = 0; blk < blocks; ++blk)
      forward_narrow_tile<T, KW, SEG, NV>(q, g, e, wt + gi * group_size, kgp, xs, taps, kw0, kw1, blk * NV * LV,
                                          y + (n * q.k + gi * g.kg) * g.p, pos, nr, b ? b + gi * g.kg : nullptr);
  });
}

// ---- weight grad --------------------------------------------------------------------------

// The weight grad's tile: KHT kh rows of KW taps x NV vectors of output channels, as many kh
// rows as the registers hold beside the NV vectors of gy (and a broadcast).
template <int KW, int NV>
constexpr int wgrad_rows() {
  constexpr int fit = (kRegs - NV - kBroadcastRegs - 1) / (KW * NV);
  return fit < 1 ? 0 : (fit > KW ? KW : fit);
}

// gW[k, c, kd, kh, kw] for the tile's (kh, kw) and output channels: the sum over the
// outputs of lines [l0, l1) (counted over all images, image-major) that meet the input at
// kd and (for some kh of the tile) at kh, written to gw (the group's first output channel's
// row; c counts within the group), or added to it with `add`. xc: channel c's padded input
// in image 0, the next image's `image` elements further; gyt: the group's channels-last gy.
template <typename T, int Bytes, int KW, int NV>
void wgrad_tile(const ConvParams& q, const Geometry& g, const Padded& e, const T* xc, int64_t image, const T* gyt,
                int64_t kgp, int64_t l0, int64_t l1, int64_t c, int64_t kd, int64_t kh0, int64_t k0, bool add, T* gw) {
  constexpr int KHT = wgrad_rows<KW, NV>(), LV = Bytes / static_cast<int>(sizeof(T));
  using V = typename VecBytes<T, Bytes>::type;
  const int64_t KH = q.kernel[1], OH = q.out[1], OW = g.ow;
  V acc[KHT * KW][NV];
  for (int r = 0; r < KHT * KW; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  int64_t od0, od1, oh0 = OH, oh1 = 0;
  taps_meeting(q.out[0], 1, kd * q.dilation[0], q.in[0], q.pad[0], od0, od1);
  for (int j = 0; j < KHT && kh0 + j < KH; ++j) {
    int64_t lo, hi;
    taps_meeting(OH, 1, (kh0 + j) * q.dilation[1], q.in[1], q.pad[1], lo, hi);
    if (lo < hi) oh0 = std::min(oh0, lo), oh1 = std::max(oh1, hi);
  }
  for (int64_t l = l0; l < l1; ++l) {
    const int64_t n = l / g.lines, od = l % g.lines / OH, oh = l % OH;
    if (od < od0 || od >= od1 || oh < oh0 || oh >= oh1) continue;
    const T* xr[KHT];
    for (int j = 0; j < KHT; ++j) {
      const int64_t kh = std::min(kh0 + j, KH - 1);  // rows past KH repeat the last (not stored)
      xr[j] = xc + n * image + ((od + kd * q.dilation[0]) * e.hp + oh + kh * q.dilation[1]) * e.wp;
    }
    const T* gp = gyt + l * OW * kgp + k0;
    for (int64_t ow = 0; ow < OW; ++ow, gp += kgp) {
      V b[NV];
      for (int v = 0; v < NV; ++v) std::memcpy(&b[v], gp + v * LV, sizeof(V));
      for (int j = 0; j < KHT; ++j)
        for (int kw = 0; kw < KW; ++kw) {
          const T a = xr[j][ow + kw];
          for (int v = 0; v < NV; ++v) acc[j * KW + kw][v] += a * b[v];
        }
    }
  }
  for (int j = 0; j < KHT && kh0 + j < KH; ++j)
    for (int kw = 0; kw < KW; ++kw) {
      const int64_t tap = (kd * KH + kh0 + j) * KW + kw;
      for (int v = 0; v < NV; ++v) {
        T lanes[LV];
        std::memcpy(lanes, &acc[j * KW + kw][v], sizeof(V));
        for (int i = 0; i < LV && k0 + v * LV + i < g.kg; ++i) {
          T& dst = gw[((k0 + v * LV + i) * g.cg + c) * g.kk + tap];
          dst = add ? dst + lanes[i] : lanes[i];
        }
      }
    }
}

// The output lines (of all images, image-major) per pass of the weight grad: as many as keep
// a pass's channels-last gy within about half of L2, so that every tile of the pass finds it
// there.
constexpr int64_t kWgradPassBytes = int64_t(256) << 10;

template <typename T, int Bytes, int KW, int NV>
void wgrad_direct(const ConvParams& q, const Geometry& g, T* gw, const T* gy, const T* x) {
  constexpr int KHT = wgrad_rows<KW, NV>(), LV = Bytes / static_cast<int>(sizeof(T));
  static_assert(KHT >= 1, "the tile must hold one kh row");
  const Padded e(q);
  T* xp = pad_scratch.get<T>(q.n * q.c * e.plane());
  pad_input(q, e, x, xp);
  // gyt[group, n, p, k] = gy[n, group's channel k, p], 0 for k >= Kg (kgp channels).
  const int64_t kgp = gemm_cpu::round_up(g.kg, NV * LV);
  T* gyt = gyt_scratch.get<T>(q.groups * q.n * g.p * kgp);
  constexpr int64_t kP = 64;
  const int64_t pblocks = (g.p + kP - 1) / kP;
  parallel_for(0, q.groups * q.n * pblocks, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t gi = bi / (q.n * pblocks), n = bi / pblocks % q.n, p0 = bi % pblocks * kP;
      const int64_t p1 = std::min(g.p, p0 + kP);
      T* dst = gyt + (gi * q.n + n) * g.p * kgp;
      const T* src = gy + (n * q.k + gi * g.kg) * g.p;
      for (int64_t p = p0; p < p1; ++p) std::fill(dst + p * kgp + g.kg, dst + (p + 1) * kgp, T(0));
      for (int64_t k = 0; k < g.kg; ++k)
        for (int64_t p = p0; p < p1; ++p) dst[p * kgp + k] = src[k * g.p + p];
    }
  });
  const int64_t KD = q.kernel[0], KH = q.kernel[1];
  const int64_t khb = (KH + KHT - 1) / KHT, kb = kgp / (NV * LV);
  const int64_t per_group = g.cg * KD * khb * kb;
  const int64_t lines = q.n * g.lines;
  const int64_t pass = std::max<int64_t>(1, kWgradPassBytes / (g.ow * kgp * static_cast<int64_t>(sizeof(T))));
  const int64_t item_work = std::min(lines, pass) * g.ow * KHT * KW * NV * LV;
  // Passes over the lines, one after the other; in each, the threads take disjoint tiles.
  for (int64_t l0 = 0; l0 < lines; l0 += pass) {
    const int64_t l1 = std::min(lines, l0 + pass);
    parallel_for(0, q.groups * per_group, std::max<int64_t>(1, kParallelWork / item_work), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t gi = t / per_group, r = t % per_group;
        const int64_t c = r / (KD * khb * kb), kd = r / (khb * kb) % KD, kh0 = r / kb % khb * KHT, k0 = r % kb * NV * LV;
        wgrad_tile<T, Bytes, KW, NV>(q, g, e, xp + (gi * g.cg + c) * e.plane(), q.c * e.plane(),
                                     gyt + gi * q.n * g.p * kgp, kgp, l0, l1, c, kd, kh0, k0, l0 > 0,
                                     gw + gi * g.kg * g.ck);
      }
    });
  }
}

// The weight grad along output lines, for lines of whole vectors (Note [Direct 3-d
// convolution]): a register tile of MK output channels x the KW taps of one (c, kd, kh), each
// a vector of partial sums over the outputs of its lanes, takes for every output vector of a
// line that meets the input at (kd, kh) the MK vectors of gy there (loaded where they lie,
// NCDHW) times the KW vectors of the padded input the taps meet; the lanes are summed at the
// end. No broadcasts, and exact skipping of the lines in D and H.
template <int KW>
constexpr int line_rows() {
  return (kRegs - 2) / (KW + 1) >= 4 ? 4 : 2;  // MK gy vectors + MK * KW sums + 1 input vector
}

// gW[k0 + i, c, kd, kh, kw] for i < rows, kw < KW: the sum over the outputs of planes [d0,
// d1) (od counted over all images, image-major) whose lines meet the input at (kd, kh),
// written to gw (the group's first output channel's row) or added to it with `add`. xc:
// channel c's padded input in image 0, the next image's `image` elements further; gyk: gy at
// image 0, channel k0.
template <typename T, int Bytes, int KW>
void wgrad_line_tile(const ConvParams& q, const Geometry& g, const Padded& e, const T* xc, int64_t image, const T* gyk,
                     int64_t rows, int64_t d0, int64_t d1, int64_t c, int64_t kd, int64_t kh, int64_t k0, bool add,
                     T* gw) {
  constexpr int MK = line_rows<KW>(), LV = Bytes / static_cast<int>(sizeof(T));
  using V = typename VecBytes<T, Bytes>::type;
  const int64_t OD = q.out[0], OH = q.out[1], OW = g.ow;
  V acc[MK][KW];
  for (int i = 0; i < MK; ++i)
    for (int kw = 0; kw < KW; ++kw) acc[i][kw] = V{};
  int64_t od0, od1, oh0, oh1;
  taps_meeting(OD, 1, kd * q.dilation[0], q.in[0], q.pad[0], od0, od1);
  taps_meeting(OH, 1, kh * q.dilation[1], q.in[1], q.pad[1], oh0, oh1);
  for (int64_t pl = d0; pl < d1; ++pl) {
    const int64_t n = pl / OD, od = pl % OD;
    if (od < od0 || od >= od1) continue;
    const T* xr = xc + n * image + ((od + kd * q.dilation[0]) * e.hp + oh0 + kh * q.dilation[1]) * e.wp;
    const T* gr[MK];
    for (int i = 0; i < MK; ++i)  // rows past `rows` repeat the last (not stored)
      gr[i] = gyk + (n * q.k + std::min<int64_t>(i, rows - 1)) * g.p + (od * OH + oh0) * OW;
    for (int64_t oh = oh0; oh < oh1; ++oh, xr += e.wp) {
      for (int64_t ow = 0; ow < OW; ow += LV) {
        V gv[MK];
        for (int i = 0; i < MK; ++i) std::memcpy(&gv[i], gr[i] + ow, sizeof(V));
#pragma GCC unroll 5
        for (int kw = 0; kw < KW; ++kw) {
          V xv;
          std::memcpy(&xv, xr + ow + kw, sizeof(V));
          for (int i = 0; i < MK; ++i) acc[i][kw] += gv[i] * xv;
        }
      }
      for (int i = 0; i < MK; ++i) gr[i] += OW;
    }
  }
  for (int64_t i = 0; i < rows; ++i)
    for (int kw = 0; kw < KW; ++kw) {
      T lanes[LV];
      std::memcpy(lanes, &acc[i][kw], sizeof(V));
      T sum = 0;
      for (int j = 0; j < LV; ++j) sum += lanes[j];
      T& dst = gw[((k0 + i) * g.cg + c) * g.kk + (kd * q.kernel[1] + kh) * KW + kw];
      dst = add ? dst + sum : sum;
    }
}

template <typename T, int Bytes, int KW>
void wgrad_line_direct(const ConvParams& q, const Geometry& g, T* gw, const T* gy, const T* x) {
  constexpr int MK = line_rows<KW>();
  const Padded e(q);
  T* xp = pad_scratch.get<T>(q.n * q.c * e.plane());
  pad_input(q, e, x, xp);
  const int64_t KD = q.kernel[0], KH = q.kernel[1], kb = (g.kg + MK - 1) / MK;
  const int64_t per_group = kb * g.cg * KD * KH;
  // Passes over output planes (of all images): as many as keep one block's MK rows of gy
  // within about half of L2; the tiles of one block of output channels run one after the
  // other (each thread a contiguous share), so those rows stay there.
  const int64_t planes = q.n * q.out[0], plane = q.out[1] * g.ow;
  const int64_t pass = std::max<int64_t>(1, kWgradPassBytes / (MK * plane * static_cast<int64_t>(sizeof(T))));
  const int64_t item_work = std::min(planes, pass) * plane * MK * KW;
  for (int64_t d0 = 0; d0 < planes; d0 += pass) {
    const int64_t d1 = std::min(planes, d0 + pass);
    parallel_for(0, q.groups * per_group, std::max<int64_t>(1, kParallelWork / item_work), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t gi = t / per_group, r = t % per_group;
        const int64_t k0 = r / (g.cg * KD * KH) * MK, c = r / (KD * KH) % g.cg, kd = r / KH % KD, kh = r % KH;
        wgrad_line_tile<T, Bytes, KW>(q, g, e, xp + (gi * g.cg + c) * e.plane(), q.c * e.plane(),
                                      gy + (gi * g.kg + k0) * g.p, std::min<int64_t>(MK, g.kg - k0), d0, d1, c, kd,
                                      kh, k0, d0 > 0, gw + gi * g.kg * g.ck);
      }
    });
  }
}

}  // namespace

bool direct_shape(const ConvParams& q) {
  if (q.kernel[0] < 2 || q.kernel[1] < 2 || (q.kernel[2] != 3 && q.kernel[2] != 5) || q.dilation[2] != 1) return false;
  for (int d = 0; d < 3; ++d)
    if (q.stride[d] != 1) return false;
  return true;
}

template <typename T>
bool direct_forward(const ConvParams& q, const Geometry& g, T* y, const T* x, const T* w, const T* b) {
  if (!direct_shape(q)) return false;
  if constexpr (kRegs == 32)
    if (g.ow == 4 || g.ow == 8) {  // Note [Direct 3-d convolution]: narrow lines
      const int64_t lanes = kVecBytes / static_cast<int64_t>(sizeof(T)), vectors = (g.kg + lanes - 1) / lanes;
      return with_instance(q.kernel[2], kVecBytes, [&](auto KW, auto) {
        constexpr int kw = decltype(KW)::value;
        if (vectors >= 4) return forward_narrow<T, kw, 2, 4>(q, g, y, x, w, b);
        if (vectors >= 2) return forward_narrow<T, kw, 4, 2>(q, g, y, x, w, b);
        forward_narrow<T, kw, 8, 1>(q, g, y, x, w, b);
      });
    }
  return with_instance(q.kernel[2], vector_bytes_dividing<T>(g.ow), [&](auto KW, auto Bytes) {
    forward_direct<T, decltype(Bytes)::value, decltype(KW)::value, kForwardNV>(q, g, y, x, w, b);
  });
}

template <typename T>
bool direct_backward_weight(const ConvParams& q, const Geometry& g, T* gw, const T* gy, const T* x) {
  if (!direct_shape(q)) return false;
  // Output lines of whole vectors: the tiles along lines.
  if (g.ow % (kVecBytes / static_cast<int>(sizeof(T))) == 0)
    return with_instance(q.kernel[2], kVecBytes, [&](auto KW, auto) {
      wgrad_line_direct<T, kVecBytes, decltype(KW)::value>(q, g, gw, gy, x);
    });
  // Vectors of output channels: the capability's, or half of it for few channels.
  const int lanes = kVecBytes / static_cast<int>(sizeof(T));
  const int bytes = kVecBytes / 2 >= 16 && g.kg * 2 <= lanes ? kVecBytes / 2 : kVecBytes;
  const int64_t vectors = (g.kg * static_cast<int64_t>(sizeof(T)) + bytes - 1) / bytes;
  return with_instance(q.kernel[2], bytes, [&](auto KW, auto Bytes) {
    constexpr int kw = decltype(KW)::value, B = decltype(Bytes)::value;
    // The widest tile (1, 2 or 4 vectors: fewer broadcasts per multiply-add) unless it
    // computes over a quarter more padding rows and channels than the tightest (the last
    // block of kh rows or of channels may be short).
    const int64_t KH = q.kernel[1];
    auto slots = [&](int nv, int rows) {
      return rows < 1 || vectors < nv ? INT64_MAX : (KH + rows - 1) / rows * rows * ((vectors + nv - 1) / nv * nv);
    };
    const int64_t s1 = slots(1, wgrad_rows<kw, 1>()), s2 = slots(2, wgrad_rows<kw, 2>()),
                  s4 = slots(4, wgrad_rows<kw, 4>()), least = std::min({s1, s2, s4});
    if constexpr (wgrad_rows<kw, 4>() >= 1)
      if (s4 <= least * 5 / 4) return wgrad_direct<T, B, kw, 4>(q, g, gw, gy, x);
    if (s2 <= least * 5 / 4) return wgrad_direct<T, B, kw, 2>(q, g, gw, gy, x);
    wgrad_direct<T, B, kw, 1>(q, g, gw, gy, x);
  });
}

template bool direct_forward<float>(const ConvParams&, const Geometry&, float*, const float*, const float*,
                                    const float*);
template bool direct_forward<double>(const ConvParams&, const Geometry&, double*, const double*, const double*,
                                     const double*);
template bool direct_backward_weight<float>(const ConvParams&, const Geometry&, float*, const float*, const float*);
template bool direct_backward_weight<double>(const ConvParams&, const Geometry&, double*, const double*,
                                             const double*);

}  // namespace conv_cpu
}  // namespace CPU_CAPABILITY
}  // namespace dlcore
