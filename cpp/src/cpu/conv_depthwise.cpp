// CPU depthwise convolution kernels, compiled per CPU capability (Note [CPU capability variants]
// in cpu/loops.h).
//
// Note [Depthwise convolution]
// With one input channel per group (depthwise, C/groups == 1, K/groups output channels per
// input channel) a tap touches one input plane, so the kernels work plane by plane without
// im2col.
//
// Forward and backward weight first copy the input rows a task needs into a padded scratch
// plane (Note [Depthwise padded rows]); after that every tap of every output is a plain
// unaligned vector load at a fixed offset, with no test for the image border anywhere in the
// inner loops. The forward keeps a block of R output rows x CV vectors along ow in registers
// and adds all KD*KH*KW taps into it before storing it once; with dilation 1 and stride 1 or
// 2 along h (the common cases) it walks the (R - 1) * sh + KH input rows of the block once,
// each loaded vector feeding every output row that uses it. Backward weight runs one task
// per input channel; it keeps one vector accumulator per tap in registers (all KH*KW taps
// of a kd slice for 3x3 and 5x5, rows of up to 4 taps otherwise) while it walks an output
// plane, loading each gy vector once for those taps, and sums the lanes (in double) after
// the last image. 3x3 and 5x5 kernels have compile-time tap loops in both; other sizes take
// the same code with run-time loops.
//
// Backward input with stride 1 and no channel multiplier is itself a depthwise convolution,
// of gy with the taps flipped in every dim and padding (K - 1) * dilation - pad (negative
// where pad exceeds the kernel's reach, which crops the padded rows), run by the forward
// kernel. Otherwise it runs one task per (n, channel) plane and accumulates each input line
// tap by tap as `row[ow * sw + off] += w * gy_row[ow]` over the range of ow whose input is
// inside the image (a scatter, which the padded-row scheme does not fit for stride > 1).
//
// Note [Depthwise padded rows]
// A padded row holds one input row (id, ih) as the taps see it: padded column pc is input
// column pc - pad_w, or 0 outside the image (rows outside the image are all 0). For stride
// sw > 1 the row is split into sw phases of `lp` elements, padded column pc going to phase
// pc % sw at position pc / sw. Output ow of tap kw reads padded column ow * sw + kw * dw,
// i.e. phase (kw * dw) % sw at position ow + (kw * dw) / sw: contiguous in ow for every
// stride, so loads stay unit-stride. `lp` covers whole vectors of outputs past OW plus the
// largest tap shift, so vectors that run past OW read zeros or in-image values, never outside
// the row; their extra lanes are never stored.
#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu/conv_cpu.h"
#include "cpu/vec_math.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace conv_cpu {
namespace {

// ---- vectors along ow ------------------------------------------------------------------------

// Forward register block (vectors of kVecBytes, cpu/vec_math.h):
#if defined(__AVX512F__)
constexpr int kRowBlock = 4, kColBlock = 2;  // 8 accumulators of 32 registers
#else
constexpr int kRowBlock = 4, kColBlock = 1;  // AVX2: 4 accumulators + 9 weights of 16 registers
#endif

template <typename T>
struct Vec {
  using V = typename VecOf<T>::type;
  static constexpr int64_t size = kVecBytes / static_cast<int64_t>(sizeof(T));

  static DL_VEC_INLINE V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
  static DL_VEC_INLINE void store(T* p, V v) { std::memcpy(p, &v, sizeof(V)); }
  static DL_VEC_INLINE V splat(T s) {
    V v;
    for (int64_t i = 0; i < size; ++i) v[i] = s;
    return v;
  }
  // The first m lanes (0 < m < size) stored / loaded (the rest of the loaded vector is 0).
  static DL_VEC_INLINE void store_n(T* p, V v, int64_t m);
  static DL_VEC_INLINE V load_n(const T* p, int64_t m);
};

#if defined(__AVX512F__)
template <>
DL_VEC_INLINE void Vec<float>::store_n(float* p, V v, int64_t m) {
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << m) - 1), reinterpret_cast<__m512>(v));
}
template <>
DL_VEC_INLINE Vec<float>::V Vec<float>::load_n(const float* p, int64_t m) {
  return reinterpret_cast<V>(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << m) - 1), p));
}
template <>
DL_VEC_INLINE void Vec<double>::store_n(double* p, V v, int64_t m) {
  _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << m) - 1), reinterpret_cast<__m512d>(v));
}
template <>
DL_VEC_INLINE Vec<double>::V Vec<double>::load_n(const double* p, int64_t m) {
  return reinterpret_cast<V>(_mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << m) - 1), p));
}
#elif defined(__AVX2__)
DL_VEC_INLINE __m256i lane_mask32(int64_t m) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(m)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
DL_VEC_INLINE __m256i lane_mask64(int64_t m) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(m), _mm256_setr_epi64x(0, 1, 2, 3));
}
template <>
DL_VEC_INLINE void Vec<float>::store_n(float* p, V v, int64_t m) {
  _mm256_maskstore_ps(p, lane_mask32(m), reinterpret_cast<__m256>(v));
}
template <>
DL_VEC_INLINE Vec<float>::V Vec<float>::load_n(const float* p, int64_t m) {
  return reinterpret_cast<V>(_mm256_maskload_ps(p, lane_mask32(m)));
}
template <>
DL_VEC_INLINE void Vec<double>::store_n(double* p, V v, int64_t m) {
  _mm256_maskstore_pd(p, lane_mask64(m), reinterpret_cast<__m256d>(v));
}
template <>
DL_VEC_INLINE Vec<double>::V Vec<double>::load_n(const double* p, int64_t m) {
  return reinterpret_cast<V>(_mm256_maskload_pd(p, lane_mask64(m)));
}
#else
template <typename T>
DL_VEC_INLINE void Vec<T>::store_n(T* p, V v, int64_t m) {
  for (int64_t i = 0; i < m; ++i) p[i] = v[i];
}
template <typename T>
DL_VEC_INLINE typename Vec<T>::V Vec<T>::load_n(const T* p, int64_t m) {
  V v = splat(T(0));
  for (int64_t i = 0; i < m; ++i) v[i] = p[i];
  return v;
}
#endif

// Stores the lanes of v that lie before the end of the row (`valid` lanes from p on).
template <typename T>
DL_VEC_INLINE void store_clipped(T* p, typename Vec<T>::V v, int64_t valid) {
  if (valid >= Vec<T>::size)
    Vec<T>::store(p, v);
  else if (valid > 0)
    Vec<T>::store_n(p, v, valid);
}

// ---- padded rows (Note [Depthwise padded rows]) ----------------------------------------------

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

struct RowLayout {
  int64_t sw = 1, pw = 0, w = 0;  // w stride, left padding, input width
  int64_t lp = 0, len = 0;        // phase length, row length (sw * lp rounded to a vector)
  int64_t nv = 0;                 // vectors per output row
  std::vector<int64_t> off;       // per kw: where tap kw's inputs for ow = 0 start in the row

  RowLayout(const ConvParams& q, int64_t lanes) : sw(q.stride[2]), pw(q.pad[2]), w(q.in[2]) {
    nv = (q.out[2] + lanes - 1) / lanes;
    const int64_t shift = (q.kernel[2] - 1) * q.dilation[2] / sw;
    lp = nv * lanes + shift;
    len = (sw * lp + lanes - 1) / lanes * lanes;
    off.resize(static_cast<size_t>(q.kernel[2]));
    for (int64_t kw = 0; kw < q.kernel[2]; ++kw) {
      const int64_t c = kw * q.dilation[2];
      off[static_cast<size_t>(kw)] = c % sw * lp + c / sw;
    }
  }

  // Writes the padded row of input row `src` (nullptr: a row outside the image) to dst. The
  // padding may be negative (the backward input's flipped convolution), cropping the row.
  template <typename T>
  void fill(T* dst, const T* src) const {
    using V = typename Vec<T>::V;
    constexpr int64_t NV = Vec<T>::size;
    const V zero = Vec<T>::splat(T(0));
    for (int64_t i = 0; i < len; i += NV) Vec<T>::store(dst + i, zero);
    if (!src) return;
    if (sw == 1) {  // padded columns [a, b) hold input columns [a - pw, b - pw)
      const int64_t a = std::clamp<int64_t>(pw, 0, len), b = std::clamp<int64_t>(pw + w, 0, len);
      const T* s = src + (a - pw);
      T* d = dst + a;
      int64_t i = 0;
      for (; i + NV <= b - a; i += NV) Vec<T>::store(d + i, Vec<T>::load(s + i));
      if (i < b - a) Vec<T>::store_n(d + i, Vec<T>::load_n(s + i, b - a - i), b - a - i);
      return;
    }
    for (int64_t ph = 0; ph < sw; ++ph) {  // position i of phase ph: input column i * sw + ph - pw
      const int64_t i0 = std::clamp<int64_t>(floor_div(pw - ph + sw - 1, sw), 0, lp);
      const int64_t i1 = std::clamp<int64_t>(floor_div(w - 1 + pw - ph, sw) + 1, i0, lp);
      T* __restrict d = dst + ph * lp;
      const T* __restrict s = src + ph - pw;
      if (sw == 2) {  // a compile-time stride vectorises (loads and a permute)
        for (int64_t i = i0; i < i1; ++i) d[i] = s[i * 2];
      } else {
        for (int64_t i = i0; i < i1; ++i) d[i] = s[i * sw];
      }
    }
  }
};

// Fills `rows` padded rows, for input rows ih0, ih0 + 1, ... of depth slice id of plane xp.
template <typename T>
void fill_rows(const ConvParams& q, const RowLayout& L, const T* xp, int64_t id, int64_t ih0, int64_t rows, T* dst) {
  const bool d_in = id >= 0 && id < q.in[0];
  for (int64_t j = 0; j < rows; ++j) {
    const int64_t ih = ih0 + j;
    const T* src = d_in && ih >= 0 && ih < q.in[1] ? xp + (id * q.in[1] + ih) * q.in[2] : nullptr;
    L.fill(dst + j * L.len, src);
  }
}

// ---- forward ---------------------------------------------------------------------------------

template <typename T>
struct FwdArgs {
  const int64_t* off;  // RowLayout::off
  int64_t len;         // padded row length
  int64_t kd_step;     // scratch elements between kd slices
  int64_t row_step;    // scratch elements between consecutive output rows (sh * len)
  int64_t tap_step;    // scratch elements between kh taps (dh * len)
  int64_t kd, kh, kw;  // kernel sizes
};

// One block: R output rows x CV vectors, all taps, then one store. KH = KW = 0: sizes at run
// time. SH > 0: stride SH and dilation 1 along h, so output row r, tap kh reads block row
// r * SH + kh, and each loaded row vector is used for every output row that needs it.
template <typename T, int KH, int KW, int R, int CV, int SH>
DL_VEC_INLINE void fwd_block(const FwdArgs<T>& a, const T* s, const T* w, T bias, T* y, int64_t ldy, int64_t valid) {
  using V = typename Vec<T>::V;
  constexpr int64_t NV = Vec<T>::size;
  const int64_t kh_n = KH ? KH : a.kh, kw_n = KW ? KW : a.kw;
  V acc[R][CV];
  const V b = Vec<T>::splat(bias);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < CV; ++c) acc[r][c] = b;
  for (int64_t kd = 0; kd < a.kd; ++kd) {
    const T* sk = s + kd * a.kd_step;
    const T* wk = w + kd * kh_n * kw_n;
    if constexpr (SH > 0 && KH > 0) {
#pragma GCC unroll 16
      for (int i = 0; i < (R - 1) * SH + KH; ++i) {
        const T* row = sk + i * a.len;
#pragma GCC unroll 8
        for (int kw = 0; kw < KW; ++kw) {
          V xv[CV];
          for (int c = 0; c < CV; ++c) xv[c] = Vec<T>::load(row + a.off[kw] + c * NV);
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) {
            const int kh = i - r * SH;
            if (kh < 0 || kh >= KH) continue;
            const V wv = Vec<T>::splat(wk[kh * KW + kw]);
            for (int c = 0; c < CV; ++c) acc[r][c] += wv * xv[c];
          }
        }
      }
    } else {
      for (int64_t kh = 0; kh < kh_n; ++kh)
        for (int64_t kw = 0; kw < kw_n; ++kw) {
          const V wv = Vec<T>::splat(wk[kh * kw_n + kw]);
          const T* p = sk + kh * a.tap_step + a.off[kw];
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r)
            for (int c = 0; c < CV; ++c) acc[r][c] += wv * Vec<T>::load(p + r * a.row_step + c * NV);
        }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < CV; ++c) store_clipped<T>(y + r * ldy + c * NV, acc[r][c], valid - c * NV);
}

// `rows` (<= R) output rows starting at scratch row s and output row y, all of ow.
template <typename T, int KH, int KW, int R, int SH>
void fwd_rows(const FwdArgs<T>& a, int64_t nv, int64_t ow, const T* s, const T* w, T bias, T* y, int64_t rows) {
  if constexpr (R > 1) {
    if (rows < R) return fwd_rows<T, KH, KW, R - 1, SH>(a, nv, ow, s, w, bias, y, rows);
  }
  constexpr int64_t NV = Vec<T>::size;
  int64_t j = 0;
  for (; j + kColBlock <= nv; j += kColBlock)
    fwd_block<T, KH, KW, R, kColBlock, SH>(a, s + j * NV, w, bias, y + j * NV, ow, ow - j * NV);
  for (; j < nv; ++j) fwd_block<T, KH, KW, R, 1, SH>(a, s + j * NV, w, bias, y + j * NV, ow, ow - j * NV);
}

template <typename T>
using FwdRowsFn = void (*)(const FwdArgs<T>&, int64_t, int64_t, const T*, const T*, T, T*, int64_t);

template <typename T>
FwdRowsFn<T> pick_fwd_rows(const ConvParams& q) {
  const int64_t sh = q.dilation[1] == 1 && q.stride[1] <= 2 ? q.stride[1] : 0;  // SH of fwd_block
  const int64_t kh = q.kernel[1], kw = q.kernel[2];
  if (kh == 3 && kw == 3)
    return sh == 1 ? fwd_rows<T, 3, 3, kRowBlock, 1>
                   : sh == 2 ? fwd_rows<T, 3, 3, kRowBlock, 2> : fwd_rows<T, 3, 3, kRowBlock, 0>;
  if (kh == 5 && kw == 5)
    return sh == 1 ? fwd_rows<T, 5, 5, kRowBlock, 1>
                   : sh == 2 ? fwd_rows<T, 5, 5, kRowBlock, 2> : fwd_rows<T, 5, 5, kRowBlock, 0>;
  if (kh == 1 && kw == 3) return fwd_rows<T, 1, 3, kRowBlock, 0>;  // conv1d, k = 3
  return fwd_rows<T, 0, 0, kRowBlock, 0>;
}

}  // namespace

template <typename T>
void depthwise_forward(const ConvParams& q, const Geometry& g, T* y, const T* x, const T* w, const T* b) {
  const RowLayout L(q, Vec<T>::size);
  const FwdRowsFn<T> rows_fn = pick_fwd_rows<T>(q);
  const int64_t OH = q.out[1], OW = q.out[2], sh = q.stride[1], dh = q.dilation[1];
  // Tasks: (n, c, od, chunk of output rows); rows are split only when planes are too few.
  const int64_t planes = q.n * q.c * q.out[0], nt = get_num_threads();
  int64_t chunk = OH;
  if (planes < 4 * nt) {
    const int64_t parts = std::min<int64_t>((4 * nt + planes - 1) / planes, (OH + kRowBlock - 1) / kRowBlock);
    chunk = ((OH + parts - 1) / parts + kRowBlock - 1) / kRowBlock * kRowBlock;
  }
  const int64_t chunks = (OH + chunk - 1) / chunk;
  const int64_t hc_max = (chunk - 1) * sh + (q.kernel[1] - 1) * dh + 1;  // padded rows per kd slice
  const int64_t task_work = g.kg * chunk * OW * g.kk;
  parallel_for(0, planes * chunks, std::max<int64_t>(1, kParallelWork / std::max<int64_t>(1, task_work)),
               [&](int64_t t0, int64_t t1) {
    std::vector<T> scratch(static_cast<size_t>(q.kernel[0] * hc_max * L.len));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ch = t % chunks, od = t / chunks % q.out[0], nc = t / chunks / q.out[0];
      const int64_t c = nc % q.c, n = nc / q.c;
      const int64_t oh0 = ch * chunk, oh1 = std::min(OH, oh0 + chunk);
      const int64_t hc = (oh1 - 1 - oh0) * sh + (q.kernel[1] - 1) * dh + 1;
      const T* xp = x + nc * g.in_plane;
      for (int64_t kd = 0; kd < q.kernel[0]; ++kd)
        fill_rows(q, L, xp, od * q.stride[0] - q.pad[0] + kd * q.dilation[0], oh0 * sh - q.pad[1], hc,
                  scratch.data() + kd * hc * L.len);
      const FwdArgs<T> a{L.off.data(), L.len, hc * L.len, sh * L.len, dh * L.len,
                         q.kernel[0], q.kernel[1], q.kernel[2]};
      for (int64_t k = c * g.kg; k < (c + 1) * g.kg; ++k) {
        T* yp = y + ((n * q.k + k) * q.out[0] + od) * OH * OW;
        const T bias = b ? b[k] : T(0);
        for (int64_t oh = oh0; oh < oh1; oh += kRowBlock)
          rows_fn(a, L.nv, OW, scratch.data() + (oh - oh0) * sh * L.len, w + k * g.kk, bias, yp + oh * OW,
                  std::min<int64_t>(kRowBlock, oh1 - oh));
      }
    }
  });
}

// ---- backward input (scatter along each input line) -------------------------------------------

namespace {
// Calls f(line, id, ih, tap0) for every output line of a plane and every (kd, kh) whose input
// line (id, ih) is inside the image; tap0 = (kd * KH + kh) * KW.
template <typename F>
DL_VEC_INLINE void for_each_tap_line(const ConvParams& q, F&& f) {
  for (int64_t od = 0; od < q.out[0]; ++od)
    for (int64_t oh = 0; oh < q.out[1]; ++oh)
      for (int64_t kt = 0; kt < q.kernel[0]; ++kt) {
        const int64_t id = od * q.stride[0] - q.pad[0] + kt * q.dilation[0];
        if (id < 0 || id >= q.in[0]) continue;
        for (int64_t kr = 0; kr < q.kernel[1]; ++kr) {
          const int64_t ih = oh * q.stride[1] - q.pad[1] + kr * q.dilation[1];
          if (ih < 0 || ih >= q.in[1]) continue;
          f(od * q.out[1] + oh, id * q.in[1] + ih, (kt * q.kernel[1] + kr) * q.kernel[2]);
        }
      }
}
}  // namespace

template <typename T>
void depthwise_backward_input(const ConvParams& q, const Geometry& g, T* gx, const T* gy, const T* w) {
  if (g.kg == 1 && q.stride[0] == 1 && q.stride[1] == 1 && q.stride[2] == 1) {
    // The adjoint of a stride-1 depthwise convolution is one too (Note [Depthwise convolution]).
    ConvParams t = q;
    t.in = q.out, t.out = q.in;
    for (int d = 0; d < 3; ++d) t.pad[d] = (q.kernel[d] - 1) * q.dilation[d] - q.pad[d];
    std::vector<T> flipped(static_cast<size_t>(q.k * g.kk));
    for (int64_t k = 0; k < q.k; ++k)
      for (int64_t i = 0; i < g.kk; ++i) flipped[static_cast<size_t>(k * g.kk + i)] = w[k * g.kk + g.kk - 1 - i];
    return depthwise_forward(t, Geometry(t), gx, gy, flipped.data(), static_cast<const T*>(nullptr));
  }
  const int64_t OW = g.ow, W = q.in[2], KW = q.kernel[2], sw = q.stride[2];
  parallel_for(0, q.n * q.c, std::max<int64_t>(1, kParallelWork / std::max<int64_t>(1, g.p * g.kk * g.kg)),
               [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / q.c, c = t % q.c;
      T* xp = gx + t * g.in_plane;
      std::fill(xp, xp + g.in_plane, T(0));
      for (int64_t k = c * g.kg; k < (c + 1) * g.kg; ++k) {
        const T* yp = gy + (n * q.k + k) * g.p;
        const T* wk = w + k * g.kk;
        for_each_tap_line(q, [&](int64_t line, int64_t in_line, int64_t tap0) {
          const T* __restrict yr = yp + line * OW;
          T* xr = xp + in_line * W;
          for (int64_t ks = 0; ks < KW; ++ks) {
            const T wv = wk[tap0 + ks];
            const int64_t off = ks * q.dilation[2] - q.pad[2];
            int64_t lo, hi;
            valid_range(OW, W, sw, off, lo, hi);
            T* __restrict xs = xr + off;
            if (sw == 1) {
              for (int64_t o = lo; o < hi; ++o) xs[o] += wv * yr[o];
            } else {
              for (int64_t o = lo; o < hi; ++o) xs[o * sw] += wv * yr[o];
            }
          }
        });
      }
    }
  });
}

// ---- backward weight ---------------------------------------------------------------------------

namespace {

// Adds to the lanes sum[(kh * sum_ld + kw) * NV ..] of the taps (kh, kw) of one kd slice, TH x TW
// of them from (kh0, kw0), the products of the gy plane with the padded input rows; s: the
// scratch at that kd slice's first row.
template <typename T, int TH, int TW>
void bwd_weight_taps(const ConvParams& q, const RowLayout& L, int64_t hn, const T* s, const T* gy, int64_t kh0,
                     int64_t kw0, T* sum, int64_t sum_ld) {
  using V = typename Vec<T>::V;
  constexpr int64_t NV = Vec<T>::size;
  const int64_t OW = q.out[2], full = OW / NV, rem = OW - full * NV;
  const int64_t rs = q.stride[1] * L.len, ts = q.dilation[1] * L.len, ds = q.stride[0] * hn * L.len;
  int64_t off[TW];
  for (int kw = 0; kw < TW; ++kw) off[kw] = L.off[static_cast<size_t>(kw0 + kw)] + kh0 * ts;
  V acc[TH][TW];
  for (int i = 0; i < TH; ++i)
    for (int j = 0; j < TW; ++j) acc[i][j] = Vec<T>::load(sum + ((kh0 + i) * sum_ld + kw0 + j) * NV);
  const auto add = [&](const V gv, const T* p) __attribute__((always_inline)) {
#pragma GCC unroll 8
    for (int i = 0; i < TH; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < TW; ++j) acc[i][j] += gv * Vec<T>::load(p + i * ts + off[j]);
  };
  for (int64_t od = 0; od < q.out[0]; ++od)
    for (int64_t oh = 0; oh < q.out[1]; ++oh) {
      const T* gr = gy + (od * q.out[1] + oh) * OW;
      const T* sr = s + od * ds + oh * rs;
      for (int64_t v = 0; v < full; ++v) add(Vec<T>::load(gr + v * NV), sr + v * NV);
      if (rem) add(Vec<T>::load_n(gr + full * NV, rem), sr + full * NV);
    }
  for (int i = 0; i < TH; ++i)
    for (int j = 0; j < TW; ++j) Vec<T>::store(sum + ((kh0 + i) * sum_ld + kw0 + j) * NV, acc[i][j]);
}

}  // namespace

template <typename T>
void depthwise_backward_weight(const ConvParams& q, const Geometry& g, T* gw, T* gb, const T* gy, const T* x) {
  const RowLayout L(q, Vec<T>::size);
  const int64_t KD = q.kernel[0], KH = q.kernel[1], KW = q.kernel[2];
  // Padded rows of a whole plane: dn depth slices of hn rows.
  const int64_t dn = (q.out[0] - 1) * q.stride[0] + (KD - 1) * q.dilation[0] + 1;
  const int64_t hn = (q.out[1] - 1) * q.stride[1] + (KH - 1) * q.dilation[1] + 1;
  parallel_for(0, q.c, std::max<int64_t>(1, kParallelWork / std::max<int64_t>(1, q.n * g.kg * g.p * g.kk)),
               [&](int64_t c0, int64_t c1) {
    std::vector<T> scratch(gw ? static_cast<size_t>(dn * hn * L.len) : 0);
    constexpr int64_t NV = Vec<T>::size;
    std::vector<T> sums(static_cast<size_t>(g.kg * g.kk * NV));  // per tap, NV lanes summed at the end
    for (int64_t c = c0; c < c1; ++c) {
      if (gb)
        for (int64_t k = c * g.kg; k < (c + 1) * g.kg; ++k) {
          double s = 0;
          for (int64_t n = 0; n < q.n; ++n) s += lane_sum(gy + (n * q.k + k) * g.p, g.p);
          gb[k] = static_cast<T>(s);
        }
      if (!gw) continue;
      std::fill(sums.begin(), sums.end(), T(0));
      for (int64_t n = 0; n < q.n; ++n) {
        const T* xp = x + (n * q.c + c) * g.in_plane;
        for (int64_t dp = 0; dp < dn; ++dp)
          fill_rows(q, L, xp, dp - q.pad[0], -q.pad[1], hn, scratch.data() + dp * hn * L.len);
        for (int64_t j = 0; j < g.kg; ++j) {
          const T* gp = gy + (n * q.k + c * g.kg + j) * g.p;
          for (int64_t kd = 0; kd < KD; ++kd) {
            const T* s = scratch.data() + kd * q.dilation[0] * hn * L.len;
            T* sum = sums.data() + (j * g.kk + kd * KH * KW) * NV;
            if (KH == 3 && KW == 3) {
              bwd_weight_taps<T, 3, 3>(q, L, hn, s, gp, 0, 0, sum, KW);
            } else if (KH == 5 && KW == 5) {
              bwd_weight_taps<T, 5, 5>(q, L, hn, s, gp, 0, 0, sum, KW);
            } else {  // rows of up to 4 taps
              for (int64_t kh = 0; kh < KH; ++kh) {
                int64_t kw = 0;
                for (; kw + 4 <= KW; kw += 4) bwd_weight_taps<T, 1, 4>(q, L, hn, s, gp, kh, kw, sum, KW);
                for (; kw < KW; ++kw) bwd_weight_taps<T, 1, 1>(q, L, hn, s, gp, kh, kw, sum, KW);
              }
            }
          }
        }
      }
      for (int64_t i = 0; i < g.kg * g.kk; ++i) {
        double t = 0;
        for (int64_t l = 0; l < NV; ++l) t += sums[static_cast<size_t>(i * NV + l)];
        gw[c * g.kg * g.kk + i] = static_cast<T>(t);
      }
    }
  });
}

#define DL_DEPTHWISE_INSTANTIATE(T)                                                                    \
  template void depthwise_forward<T>(const ConvParams&, const Geometry&, T*, const T*, const T*, const T*); \
  template void depthwise_backward_input<T>(const ConvParams&, const Geometry&, T*, const T*, const T*);    \
  template void depthwise_backward_weight<T>(const ConvParams&, const Geometry&, T*, T*, const T*, const T*);
DL_DEPTHWISE_INSTANTIATE(float)
DL_DEPTHWISE_INSTANTIATE(double)
#undef DL_DEPTHWISE_INSTANTIATE

}  // namespace conv_cpu
}  // namespace CPU_CAPABILITY
}  // namespace dlcore
