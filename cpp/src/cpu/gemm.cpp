// CPU GEMM: C = alpha * A @ B + beta * C over a batch of strided matrices (Note [GEMM
// operands] in ops/linalg.h). Compiled per CPU capability (Note [CPU capability variants]).
//
// Note [Blocked GEMM]
// float32/float64 follow the structure of BLIS (Van Zee & van de Geijn, "BLIS: A Framework
// for Rapidly Instantiating BLAS Functionality"):
//
//   for jc over n in steps of NC
//     for pc over k in steps of KC:  pack B[pc:, jc:] into NR-wide panels
//                                                       B block  KC x NC   (L2)
//       for ic over m in steps of MC:  pack A[ic:, pc:] into MR-tall panels
//                                                       A block  MC x KC   (L3)
//         for ir over the block's rows in steps of MR   A panel  MR x KC   (L1)
//           for jr over the block's columns in steps of NR
//             C tile (MR x NR) (+)= A panel (MR x KC) @ B panel (KC x NR)   (registers)
//
// The micro-kernel broadcasts A and loads B as vectors, so the A panel is the operand that
// is reread every step from L1 while B panels stream in from L2 (as in BLIS, whose
// L1-resident panel is also the broadcast one). jr innermost keeps every line of the B
// block in use once per MR rows, so the C tiles, which pass through L2 once per k block,
// do not push it out.
//
// Packing copies each block into the order the micro-kernel reads it, so the micro-kernel
// only ever streams contiguous memory whatever the operands' strides (a transposed view
// costs no more than a contiguous one). Edge panels are zero-padded: the micro-kernel
// always computes NR columns (and MR rows, or the fewest even rows covering a last partial
// tile) and only the store clips the tile to the matrix. beta is applied by the first k
// block; later k blocks add to C.
//
// Integer matmul uses the plain loops of gemm_reference, which is also the definition the
// blocked path must match.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <numeric>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12 reports the deliberately undefined pass-through operand of its AVX-512 shuffle
// intrinsics as "may be used uninitialized" (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "cpu/gemm_cpu.h"
#include "cpu/loops.h"
#include "cpu/vec_math.h"
#include "ops/linalg.h"

#define DL_GEMM_INLINE inline __attribute__((always_inline))

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {
using namespace gemm_cpu;

// ---- reference ------------------------------------------------------------------------------

template <typename T>
T element(const GemmMatrix& x, int64_t b, int64_t i, int64_t j) {
  return static_cast<const T*>(x.data)[b * x.batch_stride + i * x.row_stride + j * x.col_stride];
}

// Plain loops: C[b](i, j) = alpha * sum_p A[b](i, p) * B[b](p, j) + beta * C[b](i, j).
template <typename T>
void gemm_reference(const GemmArgs& g) {
  const T alpha = static_cast<T>(g.alpha), beta = static_cast<T>(g.beta);
  const int64_t rows = g.batch * g.m;
  parallel_for(0, rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(g.n * g.k, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.m, i = r % g.m;
      for (int64_t j = 0; j < g.n; ++j) {
        T acc = 0;
        for (int64_t p = 0; p < g.k; ++p) acc += element<T>(g.a, b, i, p) * element<T>(g.b, b, p, j);
        T& c = static_cast<T*>(g.c.data)[b * g.c.batch_stride + i * g.c.row_stride + j * g.c.col_stride];
        c = beta == T(0) ? alpha * acc : alpha * acc + beta * c;
      }
    }
  });
}

// ---- packing --------------------------------------------------------------------------------

#if defined(__AVX512F__)
// In-register transpose of a 16 x 16 float tile: r[i] holds row i before, column i after.
DL_GEMM_INLINE void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

// A full float panel with unit column stride (row-major A): 16 columns at a time, the
// MR x 16 piece transposed in registers. Returns how many columns it packed.
DL_GEMM_INLINE int64_t pack_a_rows_avx512(int64_t kc, const float* src, int64_t rs, float* out) {
  constexpr int MR = Tiles<float>::MR;
  static_assert(MR <= 16, "one zmm column holds the panel's rows");
  constexpr __mmask16 kRows = static_cast<__mmask16>((1u << MR) - 1);
  int64_t p = 0;
  for (; p + 16 <= kc; p += 16) {
    __m512 r[16];
    for (int i = 0; i < MR; ++i) r[i] = _mm512_loadu_ps(src + i * rs + p);
    for (int i = MR; i < 16; ++i) r[i] = _mm512_setzero_ps();
    transpose16(r);
    for (int j = 0; j < 16; ++j) _mm512_mask_storeu_ps(out + (p + j) * MR, kRows, r[j]);
  }
  return p;
}

// A float panel with unit row stride (column-major A, e.g. a transposed weight): the panel's
// rows of each column are contiguous, one masked load and store per column. Rows >= mr are 0.
DL_GEMM_INLINE void pack_a_cols_avx512(int64_t kc, int64_t mr, const float* src, int64_t cs, float* out) {
  constexpr int MR = Tiles<float>::MR;
  const __mmask16 rows = static_cast<__mmask16>((1u << mr) - 1);
  constexpr __mmask16 kRows = static_cast<__mmask16>((1u << MR) - 1);
  for (int64_t p = 0; p < kc; ++p) _mm512_mask_storeu_ps(out + p * MR, kRows, _mm512_maskz_loadu_ps(rows, src + p * cs));
}

// A full float panel (NR columns) of B with unit row stride (column-major B, e.g. a
// transposed weight or gradient): 16 x 16 pieces, each column loaded along k and transposed
// in registers. Returns how many rows (k) it packed.
DL_GEMM_INLINE int64_t pack_b_cols_avx512(int64_t kc, const float* src, int64_t cs, float* out) {
  constexpr int NR = Tiles<float>::NR;
  static_assert(NR % 16 == 0, "whole 16-column pieces");
  int64_t p = 0;
  for (; p + 16 <= kc; p += 16)
    for (int c0 = 0; c0 < NR; c0 += 16) {
      __m512 r[16];
      for (int c = 0; c < 16; ++c) r[c] = _mm512_loadu_ps(src + (c0 + c) * cs + p);
      transpose16(r);
      for (int j = 0; j < 16; ++j) _mm512_storeu_ps(out + (p + j) * NR + c0, r[j]);
    }
  return p;
}
#endif

// A block (mc x kc, strides rs/cs) -> MR-row panels. Panel q holds rows q*MR .. q*MR+MR-1
// as a (kc, MR) row-major array: out[q*MR*kc + p*MR + r] = A(q*MR + r, p); rows >= mc are 0.
template <typename T>
void pack_a(int64_t mc, int64_t kc, const T* a, int64_t rs, int64_t cs, T* out) {
  constexpr int MR = Tiles<T>::MR;
  for (int64_t i0 = 0; i0 < mc; i0 += MR, out += MR * kc) {
    const int64_t mr = std::min<int64_t>(MR, mc - i0);
    const T* src = a + i0 * rs;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>)
      if (rs == 1 && cs != 1) {
        pack_a_cols_avx512(kc, mr, src, cs, out);
        continue;
      }
#endif
    if (mr == MR) {
      int64_t p0 = 0;
#if defined(__AVX512F__)
      if constexpr (std::is_same_v<T, float>)
        if (cs == 1) p0 = pack_a_rows_avx512(kc, src, rs, out);
#endif
      for (int64_t p = p0; p < kc; ++p)
        for (int r = 0; r < MR; ++r) out[p * MR + r] = src[r * rs + p * cs];
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int r = 0; r < MR; ++r) out[p * MR + r] = r < mr ? src[r * rs + p * cs] : T(0);
    }
  }
}

// B block (kc x nc, strides rs/cs) -> NR-column panels. Panel q holds columns
// q*NR .. q*NR+NR-1 as a (kc, NR) row-major array; columns >= nc are 0.
template <typename T>
void pack_b(int64_t kc, int64_t nc, const T* b, int64_t rs, int64_t cs, T* out) {
  constexpr int NR = Tiles<T>::NR;
  for (int64_t j0 = 0; j0 < nc; j0 += NR, out += NR * kc) {
    const int64_t nr = std::min<int64_t>(NR, nc - j0);
    const T* src = b + j0 * cs;
    if (nr == NR && cs == 1) {
      for (int64_t p = 0; p < kc; ++p) std::memcpy(out + p * NR, src + p * rs, NR * sizeof(T));
    } else if (nr == NR) {
      int64_t p0 = 0;
#if defined(__AVX512F__)
      if constexpr (std::is_same_v<T, float>)
        if (rs == 1) p0 = pack_b_cols_avx512(kc, src, cs, out);
#endif
      for (int64_t p = p0; p < kc; ++p)
        for (int c = 0; c < NR; ++c) out[p * NR + c] = src[p * rs + c * cs];
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int c = 0; c < NR; ++c) out[p * NR + c] = c < nr ? src[p * rs + c * cs] : T(0);
    }
  }
}

// Per-thread packing buffers, kept between calls.
thread_local AlignedBuffer a_pack, b_pack;

// ---- micro-kernel ---------------------------------------------------------------------------

// The R x NR product of the first R rows of a packed A panel (kc, MR) and a packed B panel
// (kc, NR): kc rank-1 updates of a tile held in registers (R < MR only for the last rows of
// a matrix). Then, when `c` is given (a full-width tile with unit column stride),
// C = alpha * tile + beta * C row by row (beta == 0 does not read C); otherwise the tile goes
// to ab (MR x NR, row-major) for store_tile. Each element's sum is the same chain of
// multiply-adds whatever R, so results do not depend on where a tile falls.
// B's rows: a packed panel (row p at b + p * NR), or, InPlace, rows read where they are (row p
// at b + rows.off[p], its second vector rows.vs further: BInPlace in cpu/gemm_cpu.h).
struct RowOffsets {
  const int64_t* off = nullptr;
  int64_t vs = 0;
};

template <typename T, int R, bool InPlace = false>
DL_GEMM_INLINE void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, RowOffsets rows,
                                 T* __restrict ab, T alpha, T beta, T* __restrict c, int64_t rs) {
  using Vec = typename Tiles<T>::Vec;
  constexpr int MR = Tiles<T>::MR, NV = Tiles<T>::NV, NR = Tiles<T>::NR, L = Tiles<T>::kLanes;
  static_assert(R >= 1 && R <= MR, "tile rows");
  Vec acc[R][NV];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = Vec{};
  static_assert(NV == 2 || !InPlace, "rows read in place are two vectors");
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; ++p, a += MR) {
    const T* bq = InPlace ? b + rows.off[p] : b + p * NR;
    Vec bv[NV];
    for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], bq + v * (InPlace ? rows.vs : L), sizeof(Vec));
    for (int i = 0; i < R; ++i) {
      const T ai = a[i];
      for (int v = 0; v < NV; ++v) acc[i][v] += ai * bv[v];
    }
  }
  if (c == nullptr) {
    for (int i = 0; i < R; ++i)
      for (int v = 0; v < NV; ++v) std::memcpy(ab + i * NR + v * L, &acc[i][v], sizeof(Vec));
    return;
  }
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < NV; ++v) {
      T* row = c + i * rs + v * L;
      Vec out;
      if (beta == T(0)) {
        out = alpha == T(1) ? acc[i][v] : alpha * acc[i][v];
      } else {
        Vec old;
        std::memcpy(&old, row, sizeof(Vec));
        out = alpha == T(1) && beta == T(1) ? acc[i][v] + old : alpha * acc[i][v] + beta * old;
      }
      std::memcpy(row, &out, sizeof(Vec));
    }
}

template <typename T>
void store_tile(int64_t mr, int64_t nr, T alpha, const T* ab, T beta, T* c, int64_t rs, int64_t cs);

// The C tile at ct (mr x nr of the MR x NR tile) (+)= A panel @ B panel, through the
// micro-kernel with the fewest rows covering mr (an even count: few instantiations).
template <typename T, bool InPlace = false>
void tile_product(int64_t kc, const T* ap, const T* bp, RowOffsets rows, T* ab, int64_t mr, int64_t nr, T alpha, T beta, T* ct,
                  int64_t rs, int64_t cs) {
  constexpr int MR = Tiles<T>::MR, NR = Tiles<T>::NR;
  if (mr == MR) {
    if (nr == NR && cs == 1) return micro_kernel<T, MR, InPlace>(kc, ap, bp, rows, ab, alpha, beta, ct, rs);
    micro_kernel<T, MR, InPlace>(kc, ap, bp, rows, ab, alpha, beta, static_cast<T*>(nullptr), 0);
  } else {
    constexpr T* none = nullptr;
    switch ((mr + 1) / 2) {
      case 1: micro_kernel<T, 2, InPlace>(kc, ap, bp, rows, ab, alpha, beta, none, 0); break;
      case 2: micro_kernel<T, 4, InPlace>(kc, ap, bp, rows, ab, alpha, beta, none, 0); break;
      case 3: micro_kernel<T, 6 < MR ? 6 : MR, InPlace>(kc, ap, bp, rows, ab, alpha, beta, none, 0); break;
      case 4: micro_kernel<T, 8 < MR ? 8 : MR, InPlace>(kc, ap, bp, rows, ab, alpha, beta, none, 0); break;
      case 5: micro_kernel<T, 10 < MR ? 10 : MR, InPlace>(kc, ap, bp, rows, ab, alpha, beta, none, 0); break;
      case 6: micro_kernel<T, 12 < MR ? 12 : MR, InPlace>(kc, ap, bp, rows, ab, alpha, beta, none, 0); break;
      default: micro_kernel<T, MR, InPlace>(kc, ap, bp, rows, ab, alpha, beta, none, 0); break;
    }
  }
  store_tile(mr, nr, alpha, ab, beta, ct, rs, cs);
}

// C tile (mr x nr, strides rs/cs) = alpha * ab + beta * C, with ab the MR x NR micro-tile.
// beta == 0 does not read C.
template <typename T>
void store_tile(int64_t mr, int64_t nr, T alpha, const T* ab, T beta, T* c, int64_t rs, int64_t cs) {
  constexpr int MR = Tiles<T>::MR, NR = Tiles<T>::NR;
  if (mr == MR && nr == NR && cs == 1) {  // full tile, rows contiguous: vectorised
    for (int i = 0; i < MR; ++i) {
      T* row = c + i * rs;
      if (beta == T(0)) {
        for (int j = 0; j < NR; ++j) row[j] = alpha * ab[i * NR + j];
      } else {
        for (int j = 0; j < NR; ++j) row[j] = alpha * ab[i * NR + j] + beta * row[j];
      }
    }
    return;
  }
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) {
      T& x = c[i * rs + j * cs];
      x = beta == T(0) ? alpha * ab[i * NR + j] : alpha * ab[i * NR + j] + beta * x;
    }
}

// ---- blocked GEMM on one matrix -----------------------------------------------------------

// One strided matrix: element (i, j) at data[i * rs + j * cs].
template <typename T>
struct Mat {
  T* data;
  int64_t rs, cs;
  T* at(int64_t i, int64_t j) const { return data + i * rs + j * cs; }
};

// The C block at c (mc x nc, strides rs/cs) (+)= the packed A rows at ap (mc rows, MR-row
// panels kc long) @ the packed B block at bp (nc columns, NR-column panels kc long), or,
// InPlace, @ the B panels at bp + panels[q] whose rows are at `rows`.
template <typename T, bool InPlace = false>
void block_product(int64_t mc, int64_t nc, int64_t kc, const T* ap, const T* bp, RowOffsets rows,
                   const int64_t* panels, T alpha, T beta, T* c, int64_t rs, int64_t cs) {
  constexpr int MR = Tiles<T>::MR, NR = Tiles<T>::NR;
  alignas(64) T ab[MR * NR];
  // The next A panel is fetched a slice per tile, so that it is in L1 when its row of tiles
  // starts (a packed A may come from beyond L2: Note [Packed GEMM operands]).
  constexpr int64_t kLine = 64 / sizeof(T);
  const int64_t panel_lines = (MR * kc + kLine - 1) / kLine, tiles = (nc + NR - 1) / NR;
  const int64_t per_tile = (panel_lines + tiles - 1) / tiles;
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const T* next = ir + MR < mc ? ap + (ir + MR) * kc : nullptr;
    for (int64_t jr = 0; jr < nc; jr += NR) {
      const int64_t mr = std::min<int64_t>(MR, mc - ir), nr = std::min<int64_t>(NR, nc - jr);
      if (next)
        for (int64_t l = jr / NR * per_tile, e = std::min(panel_lines, l + per_tile); l < e; ++l)
          __builtin_prefetch(next + l * kLine, 0, 2);
      T* ct = c + ir * rs + jr * cs;
      // C is read only after the kc-long loop: start fetching its rows now (C is too big
      // for the caches once n grows, and the micro-kernel would wait on each row). A row
      // of the tile spans up to NR * sizeof(T) / 64 + 1 lines.
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nr; j += 64 / static_cast<int64_t>(sizeof(T))) __builtin_prefetch(ct + i * rs + j * cs, 1);
      for (int64_t i = 0; i < mr; ++i) __builtin_prefetch(ct + i * rs + (nr - 1) * cs, 1);
      const T* bt = InPlace ? bp + panels[jr / NR] : bp + jr * kc;
      tile_product<T, InPlace>(kc, ap + ir * kc, bt, rows, ab, mr, nr, alpha, beta, ct, rs, cs);
    }
  }
}

// Equal B blocks of at most NC columns (each one repacks A in gemm_blocked, so no short
// last block), a multiple of NR wide.
template <typename T>
int64_t column_block(int64_t n) {
  const int64_t n_blocks = (n + Tiles<T>::NC - 1) / Tiles<T>::NC;
  return round_up((n + n_blocks - 1) / n_blocks, Tiles<T>::NR);
}

// C (m x n) = alpha * A (m x k) @ B (k x n) + beta * C on this thread (Note [Blocked GEMM]).
template <typename T>
void gemm_blocked(int64_t m, int64_t n, int64_t k, T alpha, Mat<const T> a, Mat<const T> b, T beta, Mat<T> c) {
  using Tl = Tiles<T>;
  T* ap = a_pack.get<T>(round_up(std::min(Tl::MC, m), Tl::MR) * std::min(Tl::KC, k));
  const int64_t nc_step = column_block<T>(n);
  T* bp = b_pack.get<T>(round_up(std::min(nc_step, n), Tl::NR) * std::min(Tl::KC, k));
  for (int64_t jc = 0; jc < n; jc += nc_step) {
    const int64_t nc = std::min(nc_step, n - jc);
    for (int64_t pc = 0; pc < k; pc += Tl::KC) {
      const int64_t kc = std::min(Tl::KC, k - pc);
      pack_b(kc, nc, b.at(pc, jc), b.rs, b.cs, bp);
      const T beta_k = pc == 0 ? beta : T(1);
      for (int64_t ic = 0; ic < m; ic += Tl::MC) {
        const int64_t mc = std::min(Tl::MC, m - ic);
        pack_a(mc, kc, a.at(ic, pc), a.rs, a.cs, ap);
        block_product(mc, nc, kc, ap, bp, RowOffsets{}, nullptr, alpha, beta_k, c.at(ic, jc), c.rs, c.cs);
      }
    }
  }
}

// C = beta * C for an empty sum (k == 0).
template <typename T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t rs, int64_t cs) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      T& x = c[i * rs + j * cs];
      x = beta == T(0) ? T(0) : beta * x;
    }
}

// ---- batched driver -------------------------------------------------------------------------

// Note [GEMM threads]
// Work is cut into batch * parts independent pieces, one serial gemm_blocked each, handed out
// as contiguous runs by parallel_for (one run per thread, Note [Threads on shared cores]).
// A batch with at least 8 matrices per thread is split by matrix only; otherwise every matrix
// is cut into `parts` slabs of rows or of columns, whichever leaves the threads the least
// idle work once slabs are rounded to whole micro-tiles (square 1024 or 2048 products split
// evenly by columns, 32 wide, not by rows, 14 tall), so that the piece count is a multiple
// of the thread count. Each piece packs its own panels, so the threads share nothing but
// the read-only inputs. Every element of C is the same sum, in the same order (k blocks of
// KC, then p within a block), whichever piece computes it: results are bit-identical
// for any thread count.
constexpr int64_t kParallelWork = int64_t(1) << 18;  // multiply-adds (a 64^3 product)

// Note [Row-vector products]
// With one or two rows in A and B's columns contiguous (B = W^T of a Linear layer: y = x W^T
// for a single token while generating), packing B would copy the whole weight matrix to read
// it once. Each output is then a dot product of an A row with a B column, both contiguous,
// summed in vector lanes (4 registers) and split over the threads by columns. The summation
// order differs from the blocked path's, so such products agree with the same product in
// other layouts to rounding, not bit for bit; they do not depend on the thread count.
template <typename T>
DL_GEMM_INLINE T dot_lanes(const T* x, const T* y, int64_t k) {
  using V = typename VecOf<T>::type;
  constexpr int64_t L = kVecBytes / sizeof(T);
  V s0 = {}, s1 = {}, s2 = {}, s3 = {};
  int64_t p = 0;
  auto load = [](const T* q) {
    V v;
    __builtin_memcpy(&v, q, sizeof(V));
    return v;
  };
  for (; p + 4 * L <= k; p += 4 * L) {
    s0 += load(x + p) * load(y + p);
    s1 += load(x + p + L) * load(y + p + L);
    s2 += load(x + p + 2 * L) * load(y + p + 2 * L);
    s3 += load(x + p + 3 * L) * load(y + p + 3 * L);
  }
  for (; p + L <= k; p += L) s0 += load(x + p) * load(y + p);
  const V s = (s0 + s1) + (s2 + s3);
  T r = 0;
  for (int64_t i = 0; i < L; ++i) r += s[i];
  for (; p < k; ++p) r += x[p] * y[p];
  return r;
}

template <typename T>
bool gemm_row_vectors(const GemmArgs& g, T alpha, T beta, const T* A, const T* B, T* C) {
  if (g.m > 2 || g.b.row_stride != 1 || g.a.col_stride != 1 || g.k < 16) return false;
  const int64_t work = g.batch * g.m * g.n * g.k;
  const int64_t grain = std::max<int64_t>(16, kParallelWork / std::max<int64_t>(1, g.m * g.k));
  for (int64_t bi = 0; bi < g.batch; ++bi)
    for (int64_t i = 0; i < g.m; ++i) {
      const T* a = A + bi * g.a.batch_stride + i * g.a.row_stride;
      const T* b = B + bi * g.b.batch_stride;
      T* c = C + bi * g.c.batch_stride + i * g.c.row_stride;
      parallel_for(0, g.n, work >= kParallelWork ? grain : INT64_MAX, [&](int64_t j0, int64_t j1) {
        for (int64_t j = j0; j < j1; ++j) {
          const T v = alpha * dot_lanes(a, b + j * g.b.col_stride, g.k);
          T& out = c[j * g.c.col_stride];
          out = beta == T(0) ? v : v + beta * out;
        }
      });
    }
  return true;
}

template <typename T>
void gemm_float(const GemmArgs& g) {
  const T alpha = static_cast<T>(g.alpha), beta = static_cast<T>(g.beta);
  const T* A = static_cast<const T*>(g.a.data);
  const T* B = static_cast<const T*>(g.b.data);
  T* C = static_cast<T*>(g.c.data);
  if (g.k == 0) {
    for (int64_t bi = 0; bi < g.batch; ++bi) scale_c(g.m, g.n, beta, C + bi * g.c.batch_stride, g.c.row_stride, g.c.col_stride);
    return;
  }
  if (gemm_row_vectors(g, alpha, beta, A, B, C)) return;
  const int64_t work = g.batch * g.m * g.n * g.k;
  const int64_t nt = work >= kParallelWork ? get_num_threads() : 1;
  int64_t parts = 1;
  if (nt > 1 && g.batch < 8 * nt) parts = nt / std::gcd(g.batch, nt);
  // Split the dimension whose slabs, rounded to whole tiles, leave the least idle work.
  const int64_t row_slab = round_up((g.m + parts - 1) / parts, Tiles<T>::MR);
  const int64_t col_slab = round_up((g.n + parts - 1) / parts, Tiles<T>::NR);
  const bool split_rows = row_slab * g.n < col_slab * g.m || (row_slab * g.n == col_slab * g.m && g.m >= g.n);
  const int64_t len = split_rows ? g.m : g.n;
  const int64_t unit = split_rows ? Tiles<T>::MR : Tiles<T>::NR;
  const int64_t slab = round_up((len + parts - 1) / parts, unit);
  parallel_for(0, g.batch * parts, nt > 1 ? 1 : INT64_MAX, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t bi = t / parts, s0 = (t % parts) * slab, s1 = std::min(len, s0 + slab);
      if (s0 >= s1) continue;
      const int64_t i0 = split_rows ? s0 : 0, m = split_rows ? s1 - s0 : g.m;
      const int64_t j0 = split_rows ? 0 : s0, n = split_rows ? g.n : s1 - s0;
      Mat<const T> a{A + bi * g.a.batch_stride + i0 * g.a.row_stride, g.a.row_stride, g.a.col_stride};
      Mat<const T> b{B + bi * g.b.batch_stride + j0 * g.b.col_stride, g.b.row_stride, g.b.col_stride};
      Mat<T> c{C + bi * g.c.batch_stride + i0 * g.c.row_stride + j0 * g.c.col_stride, g.c.row_stride,
               g.c.col_stride};
      gemm_blocked(m, n, g.k, alpha, a, b, beta, c);
    }
  });
}

// ---- epilogue (Note [GEMM epilogue] in ops/linalg.h): a pass over C after the product ------

template <typename T>
T gemm_activate(T v, GemmActivation act) {
  if (act == GemmActivation::Relu) return relu_t(v);
  if constexpr (std::is_floating_point_v<T>) {  // the unary ops' formulas (cpu/vec_math.h)
    switch (act) {
      case GemmActivation::Gelu: return gelu_t(v);
      case GemmActivation::GeluTanh: return gelu_tanh_t(v);
      case GemmActivation::Silu: return silu_t(v);
      default: break;
    }
  }
  return v;
}

template <typename T>
void gemm_epilogue(const GemmArgs& g) {
  const T* bias = static_cast<const T*>(g.bias);
  T* C = static_cast<T*>(g.c.data);
  const int64_t grain = std::max<int64_t>(1, 16384 / g.n);
  parallel_for(0, g.batch * g.m, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.m, i = r % g.m;
      T* c = C + b * g.c.batch_stride + i * g.c.row_stride;
      for (int64_t j = 0; j < g.n; ++j) {
        T v = c[j * g.c.col_stride];
        if (bias) v += bias[i * g.bias_row_stride + j * g.bias_col_stride];
        c[j * g.c.col_stride] = gemm_activate(v, g.activation);
      }
    }
  });
}

template <typename T>
void gemm_typed(const GemmArgs& g) {
  if constexpr (std::is_floating_point_v<T>) gemm_float<T>(g);
  else gemm_reference<T>(g);
  if (g.bias || g.activation != GemmActivation::None) gemm_epilogue<T>(g);
}

void gemm_dispatch(const GemmArgs& g) {
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
  switch (g.dtype) {
    case DType::Float32: return gemm_typed<float>(g);
    case DType::Float64: return gemm_typed<double>(g);
    case DType::Int32: return gemm_typed<int32_t>(g);
    case DType::Int64: return gemm_typed<int64_t>(g);
    default: break;
  }
  throw TypeError(str_cat("gemm: unsupported dtype ", dtype_name(g.dtype), " on CPU"));
}

}  // namespace

// ---- packed operands (Note [Packed GEMM operands] in cpu/gemm_cpu.h) ------------------------

namespace gemm_cpu {

template <typename T>
void PackedA<T>::pack(int64_t m, int64_t k, const T* a, int64_t rs, int64_t cs) {
  m_ = m, k_ = k, m_pad_ = round_up(m, Tiles<T>::MR);
  data_ = buf_.get<T>(std::max<int64_t>(1, m_pad_ * k));
  // Pieces of one k block and up to MC rows, over the threads when called outside a parallel
  // region.
  constexpr int64_t MR = Tiles<T>::MR, KC = Tiles<T>::KC, MC = Tiles<T>::MC;
  const int64_t row_blocks = (m + MC - 1) / MC, k_blocks = (k + KC - 1) / KC;
  parallel_for(0, row_blocks * k_blocks, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t pc = t / row_blocks * KC, ic = t % row_blocks * MC;
      const int64_t kc = std::min(KC, k - pc);
      pack_a(std::min(MC, m - ic), kc, a + ic * rs + pc * cs, rs, cs, data_ + pc * m_pad_ + ic * kc);
    }
  });
  static_assert(MC % MR == 0, "row blocks of whole panels");
}

// The block loops of gemm_packed and gemm_in_place: C (a.rows() x n) = A @ B + beta * C as
// product(jc, nc, pc, kc, beta_k) for each B block (columns [jc, jc + nc), rows [pc, pc + kc)).
template <typename T, typename F>
void over_blocks(const PackedA<T>& a, int64_t n, T beta, T* c, int64_t ldc, F product) {
  const int64_t m = a.rows(), k = a.depth();
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_c(m, n, beta, c, ldc, 1);
  const int64_t nc_step = column_block<T>(n);
  for (int64_t jc = 0; jc < n; jc += nc_step)
    for (int64_t pc = 0; pc < k; pc += Tiles<T>::KC)
      product(jc, std::min(nc_step, n - jc), pc, std::min(Tiles<T>::KC, k - pc), pc == 0 ? beta : T(1));
}

template <typename T>
void gemm_packed(const PackedA<T>& a, int64_t n, const BPanels<T>& b, T beta, T* c, int64_t ldc) {
  T* bp = b_pack.get<T>(round_up(std::min(column_block<T>(n), n), Tiles<T>::NR) * std::min(Tiles<T>::KC, a.depth()));
  over_blocks(a, n, beta, c, ldc, [&](int64_t jc, int64_t nc, int64_t pc, int64_t kc, T beta_k) {
    b.pack(pc, kc, jc, nc, bp);
    block_product(a.rows(), nc, kc, a.panel(pc, 0, kc), bp, RowOffsets{}, nullptr, T(1), beta_k, c + jc, ldc, int64_t(1));
  });
}

template <typename T>
void gemm_in_place(const PackedA<T>& a, int64_t n, const BInPlace<T>& b, T beta, T* c, int64_t ldc) {
  if (n % Tiles<T>::NR) throw ValueError(str_cat("gemm_in_place: ", n, " columns, not a multiple of ", Tiles<T>::NR));
  over_blocks(a, n, beta, c, ldc, [&](int64_t jc, int64_t nc, int64_t pc, int64_t kc, T beta_k) {
    block_product<T, true>(a.rows(), nc, kc, a.panel(pc, 0, kc), b.base, RowOffsets{b.rows + pc, b.vs},
                           b.panels + jc / Tiles<T>::NR, T(1), beta_k, c + jc, ldc, int64_t(1));
  });
}

template class PackedA<float>;
template class PackedA<double>;
template void gemm_packed(const PackedA<float>&, int64_t, const BPanels<float>&, float, float*, int64_t);
template void gemm_packed(const PackedA<double>&, int64_t, const BPanels<double>&, double, double*, int64_t);
template void gemm_in_place(const PackedA<float>&, int64_t, const BInPlace<float>&, float, float*, int64_t);
template void gemm_in_place(const PackedA<double>&, int64_t, const BInPlace<double>&, double, double*, int64_t);

}  // namespace gemm_cpu
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(gemm_kernel, gemm_dispatch);

}  // namespace dlcore
