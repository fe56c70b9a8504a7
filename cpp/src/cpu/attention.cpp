// CPU scaled dot-product attention, forward and backward, fused in the FlashAttention way
// (Dao et al., "FlashAttention"; "FlashAttention-2"): the L x S score matrix is never
// formed; it is computed in tiles of kBk keys x kBq queries that stay in L1/L2. Layouts:
// Note [Attention layout] in ops/attention.h. Compiled per CPU capability (Note [CPU
// capability variants]).
//
// Note [Attention forward tiles]
// Tiles are held transposed, st (bk, bq) = scores^T, so that K, V and the gradients are
// used as they lie in memory (no per-tile transposes) and the softmax statistics run down
// the columns, vectorised across queries. For each (bh, block of kBq queries), parallel
// over these tasks, with Qt = scale * Q[rows]^T (E, bq):
//   for each block of up to kBk keys that some row may attend (Note [Attention windows and
//   block skipping] in ops/attention.h: blocks no row may attend are skipped, the others
//   trimmed to the keys from the first to the last that some row may attend):
//     st = K[keys] @ Qt, masked entries set to -inf                  (bk, bq)
//     online softmax per query r: m' = max(m, max_c st), st = exp(st - m'),
//       l = l * exp(m - m') + sum_c st, Oacc *= exp(m - m')
//     Oacc += dropout(st)^T @ V[keys]                                 (bq, Ev)
//   out = Oacc / l, lse = m + log(l).
// A row with no key taking part (all masked) gives out = 0 and lse = -inf, as PyTorch's
// SDPA does on CPU (the plain softmax formula would give NaN); its gradients are 0.
//
// Note [Attention backward tiles]
// For each bh (parallel over bh, so every gradient row has one writer), with
// delta_i = sum_c dO_ic * O_ic, Qs = scale * Q, and for each key block of kBk (dK, dV
// accumulate in a tile), for each query block whose rows may attend some of its keys, on the
// keys of the block trimmed as in the forward:
//   P^T = exp(K Qs^T - lse) recomputed; Pd = dropout(P)
//   dV += Pd^T dO,  dPd^T = V dO^T,  dP = dropout(dPd),  dS = P * (dP - delta)
//   dK += dS^T Qs,  dQ += scale * dS K   (dQ rows accumulate in the output buffer)
// All tile products go through tile_gemm: a register-blocked kernel of kMR rows x 2
// vectors with fixed-trip inner loops over GCC vector types.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/vec_math.h"
#include "dlcore/parallel.h"
#include "dlcore/philox.h"
#include "ops/attention.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kBq = 64;  // query rows per tile
constexpr int64_t kBk = 128;  // keys per tile (a multiple of 4: Note [Attention dropout])

// ---- tile products ------------------------------------------------------------------------

// Rows per register tile: the accumulators (kMR x 2 vectors) plus two B vectors and a
// broadcast fit the register file (AVX-512: 32 registers, AVX2/SSE2: 16).
constexpr int kMR = kVecBytes == 64 ? 8 : 4;

// A strided matrix operand: element (i, p) at data[i * rs + p * cs].
template <typename T>
struct Mat {
  const T* data;
  int64_t rs, cs;
};

// C[0:MR, 0:NV vectors] (+)= A (MR x k) @ B (k x NV*W, row stride ldb, unit column stride).
template <typename T, int MR, int NV, bool kAcc>
DL_VEC_INLINE void micro(int64_t k, const T* __restrict a, int64_t ars, int64_t acs, const T* __restrict b,
                         int64_t ldb, T* __restrict c, int64_t ldc) {
  using V = typename VecOf<T>::type;
  constexpr int W = kVecBytes / static_cast<int>(sizeof(T));
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) {
      if (kAcc) {
        std::memcpy(&acc[r][v], c + r * ldc + v * W, sizeof(V));
      } else {
        acc[r][v] = V{};
      }
    }
  for (int64_t p = 0; p < k; ++p) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + p * ldb + v * W, sizeof(V));
    for (int r = 0; r < MR; ++r) {
      const T ar = a[r * ars + p * acs];
      for (int v = 0; v < NV; ++v) acc[r][v] += ar * bv[v];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) std::memcpy(c + r * ldc + v * W, &acc[r][v], sizeof(V));
}

// Rows [0, m) of C (+)= A @ B for one column panel of NV vectors.
template <typename T, int NV, bool kAcc>
DL_VEC_INLINE void panel(int64_t m, int64_t k, Mat<T> a, const T* b, int64_t ldb, T* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + kMR <= m; i += kMR) micro<T, kMR, NV, kAcc>(k, a.data + i * a.rs, a.rs, a.cs, b, ldb, c + i * ldc, ldc);
  for (; i < m; ++i) micro<T, 1, NV, kAcc>(k, a.data + i * a.rs, a.rs, a.cs, b, ldb, c + i * ldc, ldc);
}

// C (m x n, row stride ldc) = or += A (m x k, any strides) @ B (k x n, row stride ldb);
// B and C have unit column stride. Panels of 2 vectors, then 1, then a scalar tail for n
// not a multiple of the vector width.
template <typename T, bool kAcc>
void tile_gemm(int64_t m, int64_t n, int64_t k, Mat<T> a, const T* b, int64_t ldb, T* c, int64_t ldc) {
  constexpr int W = kVecBytes / static_cast<int>(sizeof(T));
  int64_t j = 0;
  for (; j + 2 * W <= n; j += 2 * W) panel<T, 2, kAcc>(m, k, a, b + j, ldb, c + j, ldc);
  for (; j + W <= n; j += W) panel<T, 1, kAcc>(m, k, a, b + j, ldb, c + j, ldc);
  for (; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      T s = kAcc ? c[i * ldc + j] : T(0);
      for (int64_t p = 0; p < k; ++p) s += a.data[i * a.rs + p * a.cs] * b[p * ldb + j];
      c[i * ldc + j] = s;
    }
}

// out (cols x ld) rows: out[c * ld + r] = x[r * ldx + c] for r < rows, c < cols.
template <typename T>
void transpose_to(int64_t rows, int64_t cols, const T* x, int64_t ldx, T scale, T* out, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[c * ld + r] = x[r * ldx + c] * scale;
}

// ---- operands ----------------------------------------------------------------------------

int64_t batch_offset(const AttnOperand& o, const Shape& batch, int64_t bh) {
  int64_t off = 0;
  for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
    off += (bh % batch[d]) * o.batch_strides[d];
    bh /= batch[d];
  }
  return off;
}

// ---- which tiles take part (Note [Attention windows and block skipping]) -------------------

bool has_window(const AttnParams& p) { return p.window_left >= 0 || p.window_right >= 0; }

// Keys [lo, hi) that some row of [i0, i0 + bq) may attend by the window (none when hi <= lo).
void window_keys(const AttnParams& p, int64_t i0, int64_t bq, int64_t& lo, int64_t& hi) {
  lo = p.window_left >= 0 ? std::max<int64_t>(0, i0 - p.window_left) : 0;
  hi = p.window_right >= 0 ? std::min(p.S, i0 + bq + p.window_right) : p.S;
}

// any[j] != 0 where some row of [i0, i0 + bq) may attend key j by the bool mask: the OR of the
// block's mask rows (one row where the mask broadcasts over rows).
void mask_keys(const AttnParams& p, const char* mask, int64_t i0, int64_t bq, uint8_t* any) {
  const int64_t S = p.S, mrs = p.mask.row_stride, mcs = p.mask.col_stride;
  const uint8_t* m = reinterpret_cast<const uint8_t*>(mask) + i0 * mrs;
  std::memset(any, 0, static_cast<size_t>(S));
  const int64_t rows = mrs == 0 ? 1 : bq;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = m + r * mrs;
    if (mcs == 1) {
      for (int64_t j = 0; j < S; ++j) any[j] |= row[j];
    } else {
      for (int64_t j = 0; j < S; ++j) any[j] |= row[j * mcs];
    }
  }
}

// Trims the keys [lo, hi) to the first and last with any[j] set (no trimming when any is null).
void trim_keys(const uint8_t* any, int64_t& lo, int64_t& hi) {
  if (!any) return;
  while (lo < hi && !any[lo]) ++lo;
  while (hi > lo && !any[hi - 1]) --hi;
}

// ---- tiles ----------------------------------------------------------------------------------

// Scores of the tile after the window (causality) and the mask, in the transposed layout of
// Note [Attention forward tiles]: st[c * bq + r] is (query i0 + r, key j0 + c). Masked-out
// entries become -inf; an additive mask is added.
template <typename T>
void mask_tile(const AttnParams& p, const char* mask, int64_t i0, int64_t bq, int64_t j0, int64_t bk, T* st) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t mrs = p.mask.row_stride, mcs = p.mask.col_stride;
  if (has_window(p)) {
    for (int64_t c = 0; c < bk; ++c) {
      // key j is attended by the rows j - right <= i <= j + left: tile rows [rlo, rhi)
      const int64_t j = j0 + c;
      const int64_t rlo = p.window_right >= 0 ? std::clamp<int64_t>(j - p.window_right - i0, 0, bq) : 0;
      const int64_t rhi = p.window_left >= 0 ? std::clamp<int64_t>(j + p.window_left + 1 - i0, 0, bq) : bq;
      for (int64_t r = 0; r < rlo; ++r) st[c * bq + r] = kNegInf;
      for (int64_t r = rhi; r < bq; ++r) st[c * bq + r] = kNegInf;
    }
  }
  if (p.mask_kind == AttnMask::Bool) {
    const bool* mk = reinterpret_cast<const bool*>(mask) + i0 * mrs + j0 * mcs;
    for (int64_t c = 0; c < bk; ++c)
      for (int64_t r = 0; r < bq; ++r)
        if (!mk[r * mrs + c * mcs]) st[c * bq + r] = kNegInf;
  } else if (p.mask_kind == AttnMask::Additive) {
    const T* mk = reinterpret_cast<const T*>(mask) + i0 * mrs + j0 * mcs;
    for (int64_t c = 0; c < bk; ++c)
      for (int64_t r = 0; r < bq; ++r) st[c * bq + r] += mk[r * mrs + c * mcs];
  }
}

// f[c * bq + r] = 1 / (1 - p) where key j0 + c is kept for query i0 + r, 0 where dropped
// (Note [Attention dropout]).
template <typename T>
void dropout_tile(const AttnParams& p, int64_t bh, int64_t i0, int64_t bq, int64_t j0, int64_t bk, T* f) {
  const float thresh = static_cast<float>(p.dropout_p);
  const T inv = p.dropout_p < 1 ? static_cast<T>(1.0 / (1.0 - p.dropout_p)) : T(0);
  const int64_t groups = (p.S + 3) / 4;
  for (int64_t r = 0; r < bq; ++r) {
    const uint64_t base = static_cast<uint64_t>((bh * p.L + i0 + r) * groups);
    // key j: lane j % 4 of group j / 4; tiles may start at any key
    for (int64_t c = 0; c < bk;) {
      const int64_t j = j0 + c;
      const Philox4 u = philox4x32(base + static_cast<uint64_t>(j / 4), p.stream, p.seed);
      for (int64_t l = j % 4; l < 4 && c < bk; ++l, ++c) f[c * bq + r] = uniform_f32(u.v[l]) >= thresh ? inv : T(0);
    }
  }
}

// Widens the keys [lo, hi) of a trimmed tile to multiples of kKeyAlign (hi at most end), so
// that the tile products run on whole register tiles (kMR rows); the added keys are masked
// like any other (mask_tile). Tiles start at multiples of kKeyAlign and end at one or at end,
// so widened tiles never overlap; kBk is a multiple of kKeyAlign, so they keep <= kBk keys.
constexpr int64_t kKeyAlign = 8;
static_assert(kBk % kKeyAlign == 0, "tiles of kBk keys stay aligned");
void align_keys(int64_t end, int64_t& lo, int64_t& hi) {
  lo -= lo % kKeyAlign;
  hi = std::min(end, (hi + kKeyAlign - 1) / kKeyAlign * kKeyAlign);
}

const char* mask_at(const AttnParams& p, int64_t bh, size_t itemsize) {
  if (p.mask_kind == AttnMask::None) return nullptr;
  const size_t size = p.mask_kind == AttnMask::Bool ? 1 : itemsize;
  return static_cast<const char*>(p.mask.data) + batch_offset(p.mask, p.batch, bh) * static_cast<int64_t>(size);
}

// ---- forward ------------------------------------------------------------------------------

template <typename T>
void forward_typed(const AttnParams& p) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t B = shape_numel(p.batch), L = p.L, S = p.S, E = p.E, Ev = p.Ev;
  const int64_t nqb = (L + kBq - 1) / kBq;
  const T scale = static_cast<T>(p.scale);
  const bool drop = p.dropout_p > 0;
  // multiply-adds per query block (a single block holds only L rows: one token while generating)
  const int64_t work = std::min<int64_t>(kBq, std::max<int64_t>(L, 1)) * std::max<int64_t>(S, 1) * (E + Ev);
  const bool causal = p.window_right == 0 && p.window_left < 0;
  parallel_for(0, B * nqb, std::max<int64_t>(1, (int64_t(1) << 17) / work), [&](int64_t t0, int64_t t1) {
    // qt: (E, bq) = scale * Q[rows]^T; st, f: (bk, bq); acc: (bq, Ev); m, l, alpha: (bq)
    std::vector<T> qt(E * kBq), st(kBk * kBq), f(drop ? kBk * kBq : 0), acc(kBq * Ev), m(kBq), l(kBq), alpha(kBq),
        shift(kBq);
    std::vector<uint8_t> any(p.mask_kind == AttnMask::Bool ? S : 0);  // keys some row of the block may attend
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t bh = t / nqb;
      int64_t qb = t % nqb;
      // Causal blocks cost more further down: interleave cheap and dear ones so that the
      // contiguous per-thread chunks get similar work.
      if (causal) qb = qb % 2 == 0 ? qb / 2 : nqb - 1 - qb / 2;
      const int64_t i0 = qb * kBq, bq = std::min(kBq, L - i0);
      const T* q = static_cast<const T*>(p.q.data) + batch_offset(p.q, p.batch, bh);
      const T* k = static_cast<const T*>(p.k.data) + batch_offset(p.k, p.batch, bh);
      const T* v = static_cast<const T*>(p.v.data) + batch_offset(p.v, p.batch, bh);
      const char* mask = mask_at(p, bh, sizeof(T));
      transpose_to(bq, E, q + i0 * p.q.row_stride, p.q.row_stride, scale, qt.data(), bq);
      std::fill(acc.begin(), acc.begin() + bq * Ev, T(0));
      std::fill(m.begin(), m.end(), kNegInf);
      std::fill(l.begin(), l.end(), T(0));
      int64_t klo, khi;
      window_keys(p, i0, bq, klo, khi);
      const uint8_t* anyp = nullptr;
      if (mask && p.mask_kind == AttnMask::Bool && klo < khi) {
        mask_keys(p, mask, i0, bq, any.data());
        anyp = any.data();
      }
      for (int64_t j0 = klo, j1;; j0 = j1) {
        // the next tile: from the next key some row may attend, up to kBk keys, trimmed
        if (anyp)
          while (j0 < khi && !anyp[j0]) ++j0;
        if (j0 >= khi) break;
        j0 -= j0 % kKeyAlign;  // first, so that the tile keeps at most kBk keys
        j1 = std::min(khi, j0 + kBk);
        if (anyp)
          while (!anyp[j1 - 1]) --j1;
        align_keys(S, j0, j1);
        const int64_t bk = j1 - j0;
        T* s = st.data();
        // st (bk, bq) = K[keys] @ Qs^T
        tile_gemm<T, false>(bk, bq, E, Mat<T>{k + j0 * p.k.row_stride, p.k.row_stride, 1}, qt.data(), bq, s, bq);
        mask_tile(p, mask, i0, bq, j0, bk, s);
        // Online softmax down the columns (one per query), vectorised across queries.
        T* mn = alpha.data();  // the new running max, then the rescale factor
        for (int64_t r = 0; r < bq; ++r) mn[r] = m[r];
        for (int64_t c = 0; c < bk; ++c)
          for (int64_t r = 0; r < bq; ++r) mn[r] = s[c * bq + r] > mn[r] ? s[c * bq + r] : mn[r];
        // A column with nothing taking part yet keeps max -inf: shift by 0 instead, so that
        // exp(-inf - 0) = 0 rather than NaN.
        for (int64_t r = 0; r < bq; ++r) shift[r] = mn[r] == kNegInf ? T(0) : mn[r];
        for (int64_t r = 0; r < bq; ++r) {
          const T a = exp_t<T>(m[r] - shift[r]);
          m[r] = mn[r];
          mn[r] = a;
          l[r] *= a;
        }
        for (int64_t c = 0; c < bk; ++c) {
          T* col = s + c * bq;
          for (int64_t r = 0; r < bq; ++r) {
            col[r] = exp_t<T>(col[r] - shift[r]);
            l[r] += col[r];
          }
        }
        for (int64_t r = 0; r < bq; ++r) {
          T* o = acc.data() + r * Ev;
          const T a = mn[r];
          for (int64_t c = 0; c < Ev; ++c) o[c] *= a;
        }
        if (drop) {
          dropout_tile(p, bh, i0, bq, j0, bk, f.data());
          for (int64_t x = 0; x < bq * bk; ++x) s[x] *= f[x];
        }
        // acc (bq, Ev) += P @ V[keys], P = st^T
        tile_gemm<T, true>(bq, Ev, bk, Mat<T>{s, 1, bq}, v + j0 * p.v.row_stride, p.v.row_stride, acc.data(), Ev);
      }
      T* out = static_cast<T*>(p.out.data) + batch_offset(p.out, p.batch, bh);
      T* lse = static_cast<T*>(p.lse) + bh * L;
      for (int64_t r = 0; r < bq; ++r) {
        T* o = out + (i0 + r) * p.out.row_stride;
        const T inv = l[r] > 0 ? T(1) / l[r] : T(0);
        for (int64_t c = 0; c < Ev; ++c) o[c] = acc[r * Ev + c] * inv;
        lse[i0 + r] = l[r] > 0 ? m[r] + std::log(l[r]) : kNegInf;
      }
    }
  });
}

// ---- backward -----------------------------------------------------------------------------

template <typename T>
void backward_typed(const AttnParams& p) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t B = shape_numel(p.batch), L = p.L, S = p.S, E = p.E, Ev = p.Ev;
  const T scale = static_cast<T>(p.scale);
  const bool drop = p.dropout_p > 0;
  const int64_t work = std::max<int64_t>(L, 1) * std::max<int64_t>(S, 1) * (2 * E + 2 * Ev);
  const int64_t nqb = (L + kBq - 1) / kBq;
  parallel_for(0, B, std::max<int64_t>(1, (int64_t(1) << 17) / work), [&](int64_t b0, int64_t b1) {
    // Per bh: qs (L, E) = scale * Q, qt (E, L) its transpose, got (Ev, L) = dO^T, delta and
    // the logsumexp with -inf replaced by +inf (fully masked rows: P = exp(-inf) = 0).
    // Per tile (bk, bq): st = P^T, dpt = dP^T, f; per key block: dk (bk, E), dv (bk, Ev).
    std::vector<T> qs(L * E), qt(E * L), got(Ev * L), delta(L), lse(L), st(kBk * kBq), dpt(kBk * kBq),
        f(drop ? kBk * kBq : 0), pd(drop ? kBk * kBq : 0), dk(kBk * E), dv(kBk * Ev);
    // anyq[qb * S + j]: mask_keys of query block qb; recomputed only when the mask changes
    // (a mask broadcast over the batch is scanned once per thread).
    std::vector<uint8_t> anyq(p.mask_kind == AttnMask::Bool ? nqb * S : 0);
    const char* anyq_of = nullptr;
    for (int64_t bh = b0; bh < b1; ++bh) {
      const T* q = static_cast<const T*>(p.q.data) + batch_offset(p.q, p.batch, bh);
      const T* k = static_cast<const T*>(p.k.data) + batch_offset(p.k, p.batch, bh);
      const T* v = static_cast<const T*>(p.v.data) + batch_offset(p.v, p.batch, bh);
      const T* o = static_cast<const T*>(p.out.data) + batch_offset(p.out, p.batch, bh);
      const T* go = static_cast<const T*>(p.grad_out.data) + batch_offset(p.grad_out, p.batch, bh);
      const int64_t ors = p.out.row_stride, gors = p.grad_out.row_stride;
      const char* mask = mask_at(p, bh, sizeof(T));
      const T* lse_in = static_cast<const T*>(p.lse) + bh * L;
      T* gq = static_cast<T*>(p.grad_q) + bh * L * E;
      T* gk = static_cast<T*>(p.grad_k) + bh * S * E;
      T* gv = static_cast<T*>(p.grad_v) + bh * S * Ev;
      T* gm = p.grad_mask ? static_cast<T*>(p.grad_mask) + bh * L * S : nullptr;
      for (int64_t i = 0; i < L; ++i) {
        T d = 0;
        for (int64_t c = 0; c < Ev; ++c) d += go[i * gors + c] * o[i * ors + c];
        delta[i] = d;
        for (int64_t c = 0; c < E; ++c) qs[i * E + c] = q[i * p.q.row_stride + c] * scale;
        lse[i] = lse_in[i] == kNegInf ? std::numeric_limits<T>::infinity() : lse_in[i];
      }
      transpose_to(L, E, qs.data(), E, T(1), qt.data(), L);
      transpose_to(L, Ev, go, gors, T(1), got.data(), L);
      std::fill(gq, gq + L * E, T(0));
      if (gm) std::fill(gm, gm + L * S, T(0));  // skipped tiles stay 0
      if (mask && p.mask_kind == AttnMask::Bool && mask != anyq_of) {
        for (int64_t qb = 0; qb < nqb; ++qb)
          mask_keys(p, mask, qb * kBq, std::min(kBq, L - qb * kBq), anyq.data() + qb * S);
        anyq_of = mask;
      }
      for (int64_t jb = 0; jb < S; jb += kBk) {
        const int64_t bkb = std::min(kBk, S - jb);
        std::fill(dk.begin(), dk.end(), T(0));
        std::fill(dv.begin(), dv.end(), T(0));
        // query blocks with rows i that the window lets attend some key of [jb, jb + bkb)
        const int64_t ilo = p.window_right >= 0 ? std::max<int64_t>(0, jb - p.window_right) : 0;
        const int64_t ihi = p.window_left >= 0 ? std::min(L, jb + bkb + p.window_left) : L;
        for (int64_t i0 = ilo / kBq * kBq; i0 < ihi; i0 += kBq) {
          const int64_t bq = std::min(kBq, L - i0);
          // this tile's keys [j0, j0 + bk), within the block, trimmed
          int64_t j0, j1;
          window_keys(p, i0, bq, j0, j1);
          j0 = std::max(j0, jb);
          j1 = std::min(j1, jb + bkb);
          trim_keys(anyq.empty() ? nullptr : anyq.data() + i0 / kBq * S, j0, j1);
          if (j0 >= j1) continue;
          align_keys(jb + bkb, j0, j1);
          const int64_t bk = j1 - j0;
          const T* kb = k + j0 * p.k.row_stride;
          const T* vb = v + j0 * p.v.row_stride;
          T* dkb = dk.data() + (j0 - jb) * E;
          T* dvb = dv.data() + (j0 - jb) * Ev;
          T* s = st.data();
          // st = P^T = exp(K Qs^T - lse)
          tile_gemm<T, false>(bk, bq, E, Mat<T>{kb, p.k.row_stride, 1}, qt.data() + i0, L, s, bq);
          mask_tile(p, mask, i0, bq, j0, bk, s);
          for (int64_t c = 0; c < bk; ++c)
            for (int64_t r = 0; r < bq; ++r) s[c * bq + r] = exp_t<T>(s[c * bq + r] - lse[i0 + r]);
          // dv += dropout(P)^T dO
          const T* pdt = s;
          if (drop) {
            dropout_tile(p, bh, i0, bq, j0, bk, f.data());
            for (int64_t x = 0; x < bq * bk; ++x) pd[x] = s[x] * f[x];
            pdt = pd.data();
          }
          tile_gemm<T, true>(bk, Ev, bq, Mat<T>{pdt, bq, 1}, go + i0 * gors, gors, dvb, Ev);
          // dpt = dropout(V dO^T); st becomes dS^T = P^T * (dP^T - delta)
          tile_gemm<T, false>(bk, bq, Ev, Mat<T>{vb, p.v.row_stride, 1}, got.data() + i0, L, dpt.data(), bq);
          if (drop)
            for (int64_t x = 0; x < bq * bk; ++x) dpt[x] *= f[x];
          for (int64_t c = 0; c < bk; ++c)
            for (int64_t r = 0; r < bq; ++r) s[c * bq + r] *= dpt[c * bq + r] - delta[i0 + r];
          if (gm)
            for (int64_t c = 0; c < bk; ++c)
              for (int64_t r = 0; r < bq; ++r) gm[(i0 + r) * S + j0 + c] = s[c * bq + r];
          // dk += dS^T Qs; dq += scale * dS K
          tile_gemm<T, true>(bk, E, bq, Mat<T>{s, bq, 1}, qs.data() + i0 * E, E, dkb, E);
          for (int64_t x = 0; x < bq * bk; ++x) s[x] *= scale;
          tile_gemm<T, true>(bq, E, bk, Mat<T>{s, 1, bq}, kb, p.k.row_stride, gq + i0 * E, E);
        }
        std::memcpy(gk + jb * E, dk.data(), bkb * E * sizeof(T));
        std::memcpy(gv + jb * Ev, dv.data(), bkb * Ev * sizeof(T));
      }
    }
  });
}

void attention_forward_cpu(const AttnParams& p) {
  DL_DISPATCH_FLOAT(p.dtype, "scaled_dot_product_attention", [&] { forward_typed<scalar_t>(p); });
}

void attention_backward_cpu(const AttnParams& p) {
  DL_DISPATCH_FLOAT(p.dtype, "scaled_dot_product_attention_backward", [&] { backward_typed<scalar_t>(p); });
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(attention_forward_kernel, attention_forward_cpu);
DL_REGISTER_CPU_KERNEL(attention_backward_kernel, attention_backward_cpu);

}  // namespace dlcore
