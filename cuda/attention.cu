// CUDA scaled dot-product attention, forward and backward, fused in the FlashAttention way
// (Dao et al., "FlashAttention"; "FlashAttention-2"): the L x S score matrix is never formed.
// Layouts and semantics as the CPU kernels (Note [Attention layout], [Attention windows and
// block skipping] and [Attention dropout] in ops/attention.h; cpu/attention.cpp).
//
// Note [CUDA attention tiles]
// Every kernel runs 256 threads as a 16 x 16 grid (ty, tx) over a tile of 16*R rows x 16*C
// columns of scores; thread (ty, tx) owns rows ty + 16a and columns tx + 16b, so a row's
// entries sit in the 16 lanes of one half-warp (row max and sum by shuffles over 16 lanes) and
// the reads of the column operand (K rows in the forward) hit 16 different shared-memory banks
// (row pitch odd). Operands are staged in shared memory in the accumulation type A (float for
// float32/16-bit inputs, double for float64), zero-padded to 16*N columns, N = the per-thread
// count of head columns, so the column loops need no bounds checks.
//   forward, per (bh, block of BQ queries): Qs = scale * Q once; for each key block that some
//     row may attend: S = Qs K^T (+ mask), online softmax (m, l per row), P to shared memory,
//     then V replaces K in the same buffer and O += dropout(P) V. out = O / l, lse = m + log l.
//   backward, with delta_i = dO_i . O_i (one warp per row, first):
//     dkv: per (bh, block of keys), over the query blocks that may attend them: P^T and
//       dP^T = V dO^T recomputed, dV += dropout(P)^T dO, dS^T = P^T (dropout(dP^T) - delta),
//       dK += dS^T Qs; each key row has one writer.
//     dq:  per (bh, block of queries), over the key blocks: the same P and dS, dQ += scale *
//       dS K, and grad_mask = dS when asked. Each query row has one writer, so there are no
//       atomics and the results do not depend on scheduling.
// The dropout mask is regenerated from Philox exactly as on the CPU, so both devices drop the
// same entries for the same (seed, stream).
// Head dims up to 256 (larger raise NotImplementedError); at most kMaxBatchDims batch dims.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "block.cuh"
#include "dlcore/philox.h"
#include "loops.cuh"
#include "ops/attention.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBatchDims = 8;
constexpr int64_t kMaxHeadDim = 256;

struct Batch {
  int nd = 0;
  int64_t shape[kMaxBatchDims] = {};
};

struct Operand {
  const void* data = nullptr;
  int64_t bs[kMaxBatchDims] = {};
  int64_t rs = 0, cs = 0;
};

template <typename A>
struct Args {
  Batch batch;
  int64_t L = 0, S = 0, E = 0, Ev = 0;
  A scale = 1;
  int64_t wl = -1, wr = -1;
  int mask_kind = 0;  // AttnMask
  float drop_p = 0;
  A drop_inv = 1;
  uint64_t seed = 0, stream = 0;
  Operand q, k, v, mask, out, gout;
  A* lse = nullptr;    // (B, L)
  A* delta = nullptr;  // (B, L), backward
  void* gq = nullptr;  // contiguous (B, L, E)
  void* gk = nullptr;  // contiguous (B, S, E)
  void* gv = nullptr;  // contiguous (B, S, Ev)
  void* gmask = nullptr;  // contiguous (B, L, S) or null
};

__device__ __forceinline__ int64_t batch_offset(const Operand& o, const Batch& b, int64_t bh) {
  int64_t off = 0;
  for (int d = b.nd - 1; d >= 0; --d) {
    off += (bh % b.shape[d]) * o.bs[d];
    bh /= b.shape[d];
  }
  return off;
}

template <typename A>
__device__ __forceinline__ A half_warp_max(A v) {
  for (int o = 8; o > 0; o >>= 1) v = MaxOp{}(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <typename A>
__device__ __forceinline__ A half_warp_sum(A v) {
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Whether key j takes part in query row i by the window alone.
template <typename A>
__device__ __forceinline__ bool in_window(const Args<A>& p, int64_t i, int64_t j) {
  return (p.wl < 0 || j >= i - p.wl) && (p.wr < 0 || j <= i + p.wr);
}

// Keys [lo, hi) that some row of [i0, i1) may attend by the window.
template <typename A>
__device__ __forceinline__ void window_keys(const Args<A>& p, int64_t i0, int64_t i1, int64_t& lo, int64_t& hi) {
  lo = p.wl >= 0 ? max(int64_t(0), i0 - p.wl) : 0;
  hi = p.wr >= 0 ? min(p.S, i1 - 1 + p.wr + 1) : p.S;
}

// The masked score: s (+ the additive mask), or -inf where (i, j) does not take part.
// (i, j) must be in range.
template <typename T, typename A>
__device__ __forceinline__ A masked_score(const Args<A>& p, const char* mask, int64_t i, int64_t j, A s) {
  if (!in_window(p, i, j)) return -INFINITY;
  if (p.mask_kind == static_cast<int>(AttnMask::Bool)) {
    if (!reinterpret_cast<const bool*>(mask)[i * p.mask.rs + j * p.mask.cs]) return -INFINITY;
  } else if (p.mask_kind == static_cast<int>(AttnMask::Additive)) {
    s += cast<A>(reinterpret_cast<const T*>(mask)[i * p.mask.rs + j * p.mask.cs]);
  }
  return s;
}

// 1 / (1 - p) where key j is kept for query row i of bh, 0 where dropped (Note [Attention
// dropout]: lane j % 4 of the Philox block of counter (bh * L + i) * ceil(S / 4) + j / 4).
template <typename A>
__device__ __forceinline__ A dropout_factor(const Args<A>& p, int64_t bh, int64_t i, int64_t j) {
  const uint64_t counter = static_cast<uint64_t>((bh * p.L + i) * ((p.S + 3) / 4) + j / 4);
  const Philox4 u = philox4x32(counter, p.stream, p.seed);
  return uniform_f32(u.v[j % 4]) >= p.drop_p ? p.drop_inv : A(0);
}

// Stages rows [r0, r0 + rows) x cols [0, cols) of src (row stride rs, column stride 1) into
// dst (rows x ld, ld >= width), scaled by `mul`, zero beyond `nrows` rows or `cols` columns
// up to `width`.
template <typename T, typename A>
__device__ __forceinline__ void stage(A* dst, int ld, const T* src, int64_t rs, int64_t r0, int rows, int64_t nrows,
                                      int64_t cols, int width, A mul) {
  for (int x = threadIdx.x; x < rows * width; x += kThreads) {
    const int r = x / width, c = x % width;
    const int64_t row = r0 + r;
    dst[r * ld + c] = row < nrows && c < cols ? cast<A>(src[row * rs + c]) * mul : A(0);
  }
}

// The bh entry of the mask (bool: bytes; additive: T).
template <typename A, typename T>
__device__ __forceinline__ const char* mask_base(const Args<A>& p, int64_t bh) {
  if (!p.mask_kind) return nullptr;
  const int64_t size = p.mask_kind == static_cast<int>(AttnMask::Bool) ? 1 : sizeof(T);
  return static_cast<const char*>(p.mask.data) + batch_offset(p.mask, p.batch, bh) * size;
}

// One bh's operands.
template <typename T>
struct Head {
  const T *q, *k, *v, *go;  // go: grad_out, null in the forward
  const char* mask;
};

template <typename T, typename A>
__device__ __forceinline__ Head<T> head_of(const Args<A>& p, int64_t bh) {
  Head<T> h;
  h.q = static_cast<const T*>(p.q.data) + batch_offset(p.q, p.batch, bh);
  h.k = static_cast<const T*>(p.k.data) + batch_offset(p.k, p.batch, bh);
  h.v = static_cast<const T*>(p.v.data) + batch_offset(p.v, p.batch, bh);
  h.go = p.gout.data ? static_cast<const T*>(p.gout.data) + batch_offset(p.gout, p.batch, bh) : nullptr;
  h.mask = mask_base<A, T>(p, bh);
  return h;
}

// lse and delta of the query rows [i0, i0 + rows) into shared memory (-inf and 0 past L).
template <typename A>
__device__ __forceinline__ void stage_row_stats(const Args<A>& p, int64_t bh, int64_t i0, int rows, A* lse_s,
                                                A* delta_s) {
  for (int x = threadIdx.x; x < rows; x += kThreads) {
    const int64_t i = i0 + x;
    lse_s[x] = i < p.L ? p.lse[bh * p.L + i] : A(-INFINITY);
    delta_s[x] = i < p.L ? p.delta[bh * p.L + i] : A(0);
  }
}

// acc[a][c] += sum over t < count of lhs[row a][t] * rhs[t][column c], for the thread's rows
// ty + 16a (lhs pitch LDL) and columns tx + 16c (rhs pitch LDR), both in shared memory.
template <typename A, int R, int N, int LDL, int LDR>
__device__ __forceinline__ void accumulate_product(A (&acc)[R][N], const A* lhs, const A* rhs, int count) {
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  for (int t = 0; t < count; ++t) {
    A y[N];
    #pragma unroll
    for (int c = 0; c < N; ++c) y[c] = rhs[t * LDR + tx + 16 * c];
    #pragma unroll
    for (int a = 0; a < R; ++a) {
      const A x = lhs[(ty + 16 * a) * LDL + t];
      #pragma unroll
      for (int c = 0; c < N; ++c) acc[a][c] += x * y[c];
    }
  }
}

// ---- forward --------------------------------------------------------------------------------

// R x C per-thread score tile (BQ = 16R queries, BK = 16C keys), N head columns per thread.
template <typename T, typename A, int R, int C, int N>
__global__ void __launch_bounds__(kThreads) attention_fwd(const Args<A> p) {
  constexpr int BQ = 16 * R, BK = 16 * C, W = 16 * N, LD = W + 1;
  extern __shared__ __align__(16) unsigned char smem[];
  A* qs = reinterpret_cast<A*>(smem);  // BQ x LD
  A* kv = qs + BQ * LD;                // BK x LD: K, then V
  A* ps = kv + BK * LD;                // BQ x (BK + 1)
  constexpr int LDP = BK + 1;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const int64_t nqb = ceil_div(p.L, BQ);
  const int64_t bh = blockIdx.x / nqb, i0 = blockIdx.x % nqb * BQ;
  const Head<T> h = head_of<T>(p, bh);
  stage<T, A>(qs, LD, h.q, p.q.rs, i0, BQ, p.L, p.E, W, p.scale);

  A m[R], l[R], acc[R][N];
  #pragma unroll
  for (int a = 0; a < R; ++a) {
    m[a] = -INFINITY;
    l[a] = 0;
    #pragma unroll
    for (int c = 0; c < N; ++c) acc[a][c] = 0;
  }
  int64_t jlo, jhi;
  window_keys(p, i0, min(i0 + BQ, p.L), jlo, jhi);
  for (int64_t j0 = jlo; j0 < jhi; j0 += BK) {
    __syncthreads();  // qs staged; the previous block is done with kv and ps
    stage<T, A>(kv, LD, h.k, p.k.rs, j0, BK, jhi, p.E, W, A(1));
    __syncthreads();
    A s[R][C] = {};
    for (int d = 0; d < p.E; ++d) {
      A qa[R], kb[C];
      #pragma unroll
      for (int a = 0; a < R; ++a) qa[a] = qs[(ty + 16 * a) * LD + d];
      #pragma unroll
      for (int b = 0; b < C; ++b) kb[b] = kv[(tx + 16 * b) * LD + d];
      #pragma unroll
      for (int a = 0; a < R; ++a)
        #pragma unroll
        for (int b = 0; b < C; ++b) s[a][b] += qa[a] * kb[b];
    }
    #pragma unroll
    for (int a = 0; a < R; ++a) {
      const int64_t i = i0 + ty + 16 * a;
      A mt = -INFINITY;
      #pragma unroll
      for (int b = 0; b < C; ++b) {
        const int64_t j = j0 + tx + 16 * b;
        s[a][b] = i < p.L && j < jhi ? masked_score<T>(p, h.mask, i, j, s[a][b]) : A(-INFINITY);
        mt = MaxOp{}(mt, s[a][b]);
      }
      const A mnew = MaxOp{}(m[a], half_warp_max(mt));
      // Nothing taking part so far: keep shifting by 0 (no -inf - -inf).
      const A corr = m[a] == A(-INFINITY) ? A(0) : exp_(m[a] - mnew);
      A sum = 0;
      #pragma unroll
      for (int b = 0; b < C; ++b) {
        const A e = s[a][b] == A(-INFINITY) ? A(0) : exp_(s[a][b] - mnew);
        sum += e;
        const int64_t j = j0 + tx + 16 * b;
        ps[(ty + 16 * a) * LDP + tx + 16 * b] = p.drop_p > 0 && e != A(0) ? e * dropout_factor(p, bh, i, j) : e;
      }
      l[a] = l[a] * corr + sum;  // this thread's columns; summed over the half-warp at the end
      #pragma unroll
      for (int c = 0; c < N; ++c) acc[a][c] *= corr;
      m[a] = mnew;
    }
    __syncthreads();  // ps written, K no longer read
    stage<T, A>(kv, LD, h.v, p.v.rs, j0, BK, jhi, p.Ev, W, A(1));
    __syncthreads();
    accumulate_product<A, R, N, LDP, LD>(acc, ps, kv, static_cast<int>(min(int64_t(BK), jhi - j0)));  // O += P V
  }
  T* out = static_cast<T*>(const_cast<void*>(p.out.data)) + batch_offset(p.out, p.batch, bh);
  #pragma unroll
  for (int a = 0; a < R; ++a) {
    const A lsum = half_warp_sum(l[a]);
    const int64_t i = i0 + ty + 16 * a;
    if (i >= p.L) continue;
    const A inv = lsum > 0 ? A(1) / lsum : A(0);
    #pragma unroll
    for (int c = 0; c < N; ++c) {
      const int col = tx + 16 * c;
      if (col < p.Ev) out[i * p.out.rs + col] = cast<T>(acc[a][c] * inv);
    }
    if (tx == 0) p.lse[bh * p.L + i] = lsum > 0 ? m[a] + log_(lsum) : A(-INFINITY);
  }
}

// ---- backward -------------------------------------------------------------------------------

// delta[bh, i] = dO_i . O_i, one warp per row (grid-stride over the rows).
template <typename T, typename A>
__global__ void attention_delta(const Args<A> p, int64_t rows) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / 32;
  for (int64_t row = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; row < rows; row += warps) {
    const int64_t bh = row / p.L, i = row % p.L;
    const T* o = static_cast<const T*>(p.out.data) + batch_offset(p.out, p.batch, bh) + i * p.out.rs;
    const T* go = static_cast<const T*>(p.gout.data) + batch_offset(p.gout, p.batch, bh) + i * p.gout.rs;
    A d = 0;
    for (int64_t c = lane; c < p.Ev; c += 32) d += cast<A>(go[c]) * cast<A>(o[c]);
    for (int off = 16; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
    if (lane == 0) p.delta[row] = d;
  }
}

// For the thread's R x C tile of one block (rows r0 + ty + 16a below rlim, columns c0 + tx +
// 16b below clim; kRowsAreKeys says whether the rows are keys or queries): pr = dropout(P) (P
// is 0 where (i, j) does not take part) and ds = P * (dropout(dP) - delta), from the staged
// operands: a_s / b_s those of the rows / columns for the scores (K and scaled Q), a_d / b_d
// those for dP (V and dO).
template <typename T, typename A, int R, int C, int LD, bool kRowsAreKeys>
__device__ __forceinline__ void probs_and_ds(const Args<A>& p, const char* mask, int64_t bh, int64_t r0, int64_t c0,
                                             int64_t rlim, int64_t clim, const A* a_s, const A* b_s, const A* a_d,
                                             const A* b_d, const A* lse_s, const A* delta_s, A (&pr)[R][C],
                                             A (&ds)[R][C]) {
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  A s[R][C] = {}, dp[R][C] = {};
  for (int d = 0; d < p.E; ++d) {
    A x[R], y[C];
    #pragma unroll
    for (int a = 0; a < R; ++a) x[a] = a_s[(ty + 16 * a) * LD + d];
    #pragma unroll
    for (int b = 0; b < C; ++b) y[b] = b_s[(tx + 16 * b) * LD + d];
    #pragma unroll
    for (int a = 0; a < R; ++a)
      #pragma unroll
      for (int b = 0; b < C; ++b) s[a][b] += x[a] * y[b];
  }
  for (int d = 0; d < p.Ev; ++d) {
    A x[R], y[C];
    #pragma unroll
    for (int a = 0; a < R; ++a) x[a] = a_d[(ty + 16 * a) * LD + d];
    #pragma unroll
    for (int b = 0; b < C; ++b) y[b] = b_d[(tx + 16 * b) * LD + d];
    #pragma unroll
    for (int a = 0; a < R; ++a)
      #pragma unroll
      for (int b = 0; b < C; ++b) dp[a][b] += x[a] * y[b];
  }
  #pragma unroll
  for (int a = 0; a < R; ++a)
    #pragma unroll
    for (int b = 0; b < C; ++b) {
      const int64_t r = r0 + ty + 16 * a, c = c0 + tx + 16 * b;
      const int64_t i = kRowsAreKeys ? c : r, j = kRowsAreKeys ? r : c;
      const int qi = kRowsAreKeys ? tx + 16 * b : ty + 16 * a;  // the query's index in the block
      A pv = 0, f = 1;
      if (r < rlim && c < clim) {
        const A sc = masked_score<T>(p, mask, i, j, s[a][b]);
        const A lse = lse_s[qi];
        pv = sc == A(-INFINITY) || lse == A(-INFINITY) ? A(0) : exp_(sc - lse);
        if (p.drop_p > 0 && pv != A(0)) f = dropout_factor(p, bh, i, j);
      }
      pr[a][b] = pv * f;
      ds[a][b] = pv * (dp[a][b] * f - delta_s[qi]);
    }
}


// dK and dV for a block of BK = 16R keys (rows) against query blocks of BQ = 16C (columns).
template <typename T, typename A, int R, int C, int N>
__global__ void __launch_bounds__(kThreads) attention_bwd_kv(const Args<A> p) {
  constexpr int BK = 16 * R, BQ = 16 * C, W = 16 * N, LD = W + 1, LDP = BQ + 1;
  extern __shared__ __align__(16) unsigned char smem[];
  A* ks = reinterpret_cast<A*>(smem);  // BK x LD
  A* vs = ks + BK * LD;                // BK x LD
  A* qs = vs + BK * LD;                // BQ x LD, scaled
  A* dos = qs + BQ * LD;               // BQ x LD
  A* ps = dos + BQ * LD;               // BK x LDP: dropout(P)^T, then dS^T
  A* lse_s = ps + BK * LDP;            // BQ
  A* delta_s = lse_s + BQ;             // BQ
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const int64_t nkb = ceil_div(p.S, BK);
  const int64_t bh = blockIdx.x / nkb, j0 = blockIdx.x % nkb * BK;
  const Head<T> h = head_of<T>(p, bh);
  stage<T, A>(ks, LD, h.k, p.k.rs, j0, BK, p.S, p.E, W, A(1));
  stage<T, A>(vs, LD, h.v, p.v.rs, j0, BK, p.S, p.Ev, W, A(1));

  A dk[R][N] = {}, dv[R][N] = {};
  // query rows i that the window lets attend some key of [j0, j1)
  const int64_t j1 = min(p.S, j0 + BK);
  const int64_t ilo = p.wr >= 0 ? max(int64_t(0), j0 - p.wr) : 0;
  const int64_t ihi = p.wl >= 0 ? min(p.L, j1 + p.wl) : p.L;
  for (int64_t i0 = ilo; i0 < ihi; i0 += BQ) {
    __syncthreads();  // the previous block is done with qs, dos and ps
    stage<T, A>(qs, LD, h.q, p.q.rs, i0, BQ, p.L, p.E, W, p.scale);
    stage<T, A>(dos, LD, h.go, p.gout.rs, i0, BQ, p.L, p.Ev, W, A(1));
    stage_row_stats(p, bh, i0, BQ, lse_s, delta_s);
    __syncthreads();
    A pr[R][C], ds[R][C];
    probs_and_ds<T, A, R, C, LD, true>(p, h.mask, bh, j0, i0, j1, min(p.L, i0 + BQ), ks, qs, vs, dos, lse_s, delta_s,
                                      pr, ds);
    #pragma unroll
    for (int a = 0; a < R; ++a)
      #pragma unroll
      for (int b = 0; b < C; ++b) ps[(ty + 16 * a) * LDP + tx + 16 * b] = pr[a][b];
    __syncthreads();
    accumulate_product<A, R, N, LDP, LD>(dv, ps, dos, BQ);  // dV += dropout(P)^T dO
    __syncthreads();
    #pragma unroll
    for (int a = 0; a < R; ++a)
      #pragma unroll
      for (int b = 0; b < C; ++b) ps[(ty + 16 * a) * LDP + tx + 16 * b] = ds[a][b];
    __syncthreads();
    accumulate_product<A, R, N, LDP, LD>(dk, ps, qs, BQ);  // dK += dS^T Qs
  }
  T* gk = static_cast<T*>(p.gk) + bh * p.S * p.E;
  T* gv = static_cast<T*>(p.gv) + bh * p.S * p.Ev;
  #pragma unroll
  for (int a = 0; a < R; ++a) {
    const int64_t j = j0 + ty + 16 * a;
    if (j >= p.S) continue;
    #pragma unroll
    for (int c = 0; c < N; ++c) {
      const int col = tx + 16 * c;
      if (col < p.E) gk[j * p.E + col] = cast<T>(dk[a][c]);
      if (col < p.Ev) gv[j * p.Ev + col] = cast<T>(dv[a][c]);
    }
  }
}

// dQ (and grad_mask) for a block of BQ = 16R queries (rows) against key blocks of BK = 16C.
template <typename T, typename A, int R, int C, int N>
__global__ void __launch_bounds__(kThreads) attention_bwd_q(const Args<A> p) {
  constexpr int BQ = 16 * R, BK = 16 * C, W = 16 * N, LD = W + 1, LDP = BK + 1;
  extern __shared__ __align__(16) unsigned char smem[];
  A* qs = reinterpret_cast<A*>(smem);  // BQ x LD, scaled
  A* dos = qs + BQ * LD;               // BQ x LD
  A* ks = dos + BQ * LD;               // BK x LD
  A* vs = ks + BK * LD;                // BK x LD
  A* ps = vs + BK * LD;                // BQ x LDP: dS
  A* lse_s = ps + BQ * LDP;            // BQ
  A* delta_s = lse_s + BQ;             // BQ
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const int64_t nqb = ceil_div(p.L, BQ);
  const int64_t bh = blockIdx.x / nqb, i0 = blockIdx.x % nqb * BQ;
  const Head<T> h = head_of<T>(p, bh);
  const int64_t i1 = min(p.L, i0 + BQ);
  stage<T, A>(qs, LD, h.q, p.q.rs, i0, BQ, p.L, p.E, W, p.scale);
  stage<T, A>(dos, LD, h.go, p.gout.rs, i0, BQ, p.L, p.Ev, W, A(1));
  stage_row_stats(p, bh, i0, BQ, lse_s, delta_s);
  T* gm = p.gmask ? static_cast<T*>(p.gmask) + bh * p.L * p.S : nullptr;

  A dq[R][N] = {};
  int64_t jlo, jhi;
  window_keys(p, i0, i1, jlo, jhi);
  for (int64_t j0 = jlo; j0 < jhi; j0 += BK) {
    __syncthreads();  // the previous block is done with ks, vs and ps
    stage<T, A>(ks, LD, h.k, p.k.rs, j0, BK, jhi, p.E, W, A(1));
    stage<T, A>(vs, LD, h.v, p.v.rs, j0, BK, jhi, p.Ev, W, A(1));
    __syncthreads();
    A pr[R][C], ds[R][C];
    probs_and_ds<T, A, R, C, LD, false>(p, h.mask, bh, i0, j0, i1, jhi, qs, ks, dos, vs, lse_s, delta_s, pr, ds);
    #pragma unroll
    for (int a = 0; a < R; ++a)
      #pragma unroll
      for (int b = 0; b < C; ++b) {
        ps[(ty + 16 * a) * LDP + tx + 16 * b] = ds[a][b];
        const int64_t i = i0 + ty + 16 * a, j = j0 + tx + 16 * b;
        if (gm && i < p.L && j < jhi) gm[i * p.S + j] = cast<T>(ds[a][b]);
      }
    __syncthreads();
    accumulate_product<A, R, N, LDP, LD>(dq, ps, ks, static_cast<int>(min(int64_t(BK), jhi - j0)));  // dQ += dS K
  }
  T* gq = static_cast<T*>(p.gq) + bh * p.L * p.E;
  #pragma unroll
  for (int a = 0; a < R; ++a) {
    const int64_t i = i0 + ty + 16 * a;
    if (i >= p.L) continue;
    #pragma unroll
    for (int c = 0; c < N; ++c) {
      const int col = tx + 16 * c;
      if (col < p.E) gq[i * p.E + col] = cast<T>(dq[a][c] * p.scale);
    }
  }
}

// ---- host side ------------------------------------------------------------------------------

Operand operand_of(const AttnOperand& o, size_t nd) {
  Operand r;
  r.data = o.data;
  for (size_t d = 0; d < nd; ++d) r.bs[d] = o.batch_strides[d];
  r.rs = o.row_stride;
  r.cs = o.col_stride;
  return r;
}

template <typename A>
Args<A> args_of(const AttnParams& p, bool backward) {
  const char* op = backward ? "scaled_dot_product_attention_backward" : "scaled_dot_product_attention";
  DL_CHECK(p.batch.size() <= static_cast<size_t>(kMaxBatchDims), NotImplementedError, op, ": at most ",
           kMaxBatchDims, " batch dims on CUDA, got batch shape ", shape_str(p.batch));
  DL_CHECK(p.E <= kMaxHeadDim && p.Ev <= kMaxHeadDim, NotImplementedError, op,
           ": head dims up to ", kMaxHeadDim, " on CUDA, got E = ", p.E, " and Ev = ", p.Ev);
  Args<A> a;
  const size_t nd = p.batch.size();
  a.batch.nd = static_cast<int>(nd);
  for (size_t d = 0; d < nd; ++d) a.batch.shape[d] = p.batch[d];
  a.L = p.L;
  a.S = p.S;
  a.E = p.E;
  a.Ev = p.Ev;
  a.scale = static_cast<A>(p.scale);
  a.wl = p.window_left;
  a.wr = p.window_right;
  a.mask_kind = static_cast<int>(p.mask_kind);
  a.drop_p = static_cast<float>(p.dropout_p);
  a.drop_inv = p.dropout_p < 1 ? static_cast<A>(1.0 / (1.0 - p.dropout_p)) : A(0);
  a.seed = p.seed;
  a.stream = p.stream;
  a.q = operand_of(p.q, nd);
  a.k = operand_of(p.k, nd);
  a.v = operand_of(p.v, nd);
  if (p.mask_kind != AttnMask::None) a.mask = operand_of(p.mask, nd);
  a.out = operand_of(p.out, nd);
  if (backward) a.gout = operand_of(p.grad_out, nd);
  a.lse = static_cast<A*>(p.lse);
  a.gq = p.grad_q;
  a.gk = p.grad_k;
  a.gv = p.grad_v;
  a.gmask = p.grad_mask;
  return a;
}

// Launches kernel over `blocks` blocks with `smem` bytes of dynamic shared memory (opting in
// above 48 KiB).
template <typename K, typename A>
void launch(K kernel, int64_t blocks, size_t smem, const Args<A>& a, const char* op) {
  if (blocks == 0) return;
  int dev = 0, optin = 0;
  DL_CUDA_CHECK(cudaGetDevice(&dev));
  DL_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  DL_CHECK(smem <= static_cast<size_t>(optin), NotImplementedError, op, ": needs ", smem,
           " bytes of shared memory per block, the device has ", optin);
  DL_CHECK(blocks <= INT32_MAX, ValueError, op, ": too many blocks (", blocks, ")");
  if (smem > 48 * 1024) DL_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                           static_cast<int>(smem)));
  kernel<<<static_cast<unsigned>(blocks), kThreads, smem>>>(a);
  DL_CUDA_LAUNCH_CHECK();
}

// f(std::integral_constant<int, N>) with N = head columns per thread (16N >= max(E, Ev)).
template <typename F>
void head_dispatch(int64_t E, int64_t Ev, F f) {
  const int64_t d = std::max(E, Ev);
  if (d <= 32) return f(std::integral_constant<int, 2>{});
  if (d <= 64) return f(std::integral_constant<int, 4>{});
  if (d <= 128) return f(std::integral_constant<int, 8>{});
  return f(std::integral_constant<int, 16>{});
}

// Score tile per thread: 4 x 4 (64 x 64) in float, 2 x 2 in double for the forward; the
// backward stages four operand tiles, so 2 x 2 in float and 1 x 1 in double (shared memory).
template <typename A> constexpr int kFwdTile = std::is_same_v<A, double> ? 2 : 4;
template <typename A> constexpr int kBwdTile = std::is_same_v<A, double> ? 1 : 2;

template <typename T>
void forward_typed(const AttnParams& p) {
  using D = device_t<T>;
  using A = acc_t<D>;
  const Args<A> a = args_of<A>(p, false);
  const int64_t B = shape_numel(p.batch);
  head_dispatch(p.E, p.Ev, [&](auto n) {
    constexpr int N = decltype(n)::value, R = kFwdTile<A>, LD = 16 * N + 1;
    const size_t smem = sizeof(A) * (2 * 16 * R * LD + 16 * R * (16 * R + 1));
    launch(attention_fwd<D, A, R, R, N>, B * ceil_div(p.L, 16 * R), smem, a, "scaled_dot_product_attention");
  });
}

template <typename T>
void backward_typed(const AttnParams& p) {
  using D = device_t<T>;
  using A = acc_t<D>;
  Args<A> a = args_of<A>(p, true);
  const int64_t B = shape_numel(p.batch);
  const Device dev = Device{DeviceType::CUDA, p.device.index};
  Tensor delta = empty({B * p.L}, std::is_same_v<A, double> ? DType::Float64 : DType::Float32, dev);
  a.delta = delta->data<A>();
  if (B * p.L > 0) {
    attention_delta<D, A><<<grid_for(B * p.L * 32), kBlock>>>(a, B * p.L);
    DL_CUDA_LAUNCH_CHECK();
  }
  if (p.grad_mask && B * p.L * p.S > 0)  // entries in skipped tiles stay 0
    DL_CUDA_CHECK(cudaMemsetAsync(p.grad_mask, 0, B * p.L * p.S * sizeof(D)));
  head_dispatch(p.E, p.Ev, [&](auto n) {
    constexpr int N = decltype(n)::value, R = kBwdTile<A>, LD = 16 * N + 1, BT = 16 * R;
    const size_t smem = sizeof(A) * (4 * BT * LD + BT * (BT + 1) + 2 * BT);
    launch(attention_bwd_kv<D, A, R, R, N>, B * ceil_div(p.S, BT), smem, a, "scaled_dot_product_attention_backward");
    launch(attention_bwd_q<D, A, R, R, N>, B * ceil_div(p.L, BT), smem, a, "scaled_dot_product_attention_backward");
  });
}

void attention_forward_cuda(const AttnParams& p) {
  DeviceGuard guard(p.device.index);
  floating_dispatch(p.dtype, "scaled_dot_product_attention", [&](auto t) { forward_typed<decltype(t)>(p); });
}

void attention_backward_cuda(const AttnParams& p) {
  DeviceGuard guard(p.device.index);
  floating_dispatch(p.dtype, "scaled_dot_product_attention_backward",
                     [&](auto t) { backward_typed<decltype(t)>(p); });
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(attention_forward_kernel, CUDA, cuda::attention_forward_cuda);
DL_REGISTER_KERNEL(attention_backward_kernel, CUDA, cuda::attention_backward_cuda);

}  // namespace dlcore
