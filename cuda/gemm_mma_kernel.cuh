// The tensor-core GEMM kernel template and its launcher (Note [Tensor-core GEMM] in
// cuda/gemm_mma.cu). Included once per operand type by gemm_mma.cu (float16),
// gemm_mma_bf16.cu and gemm_mma_tf32.cu, so that the three sets of kernels compile in
// parallel; each defines one of the entry points declared at the end.
#pragma once

#include <atomic>
#include <cstdint>

#include "gemm_mma.cuh"

namespace dlcore {
namespace cuda {
namespace {

constexpr int kStages = 4;
constexpr int kStepBytes = 64;  // k per stage, in bytes
constexpr int64_t kGroupM = 8;

template <int WarpsM, int WarpsN, int MT, int NT>
struct TileConfig {
  static constexpr int kWarpsN = WarpsN, kMT = MT, kNT = NT;
  static constexpr int kThreads = 32 * WarpsM * WarpsN;
  static constexpr int BM = WarpsM * MT * 16, BN = WarpsN * NT * 8;
  static_assert(NT % 2 == 0, "B fragments are loaded two n8 tiles at a time");
};
using BigTiles = TileConfig<2, 4, 4, 4>;    // 128 x 128, 256 threads
using SmallTiles = TileConfig<2, 2, 2, 4>;  // 64 x 64, 128 threads

// The shared-memory tile of one operand: R = BM or BN elements along m (n), BK along k.
template <typename T, bool KMajor, int R>
struct SmemTile {
  static constexpr int kElem = static_cast<int>(sizeof(T));
  static constexpr int E = 16 / kElem;            // elements per 16-byte chunk
  static constexpr int BK = kStepBytes / kElem;   // k per stage
  static constexpr int kRows = KMajor ? R : BK;
  static constexpr int kInner = KMajor ? BK : R;  // elements along a shared row
  static constexpr int kPitch = KMajor ? BK + E : R + 8;
  static constexpr int kElems = kRows * kPitch;   // one stage
  static constexpr int kChunks = kRows * kInner / E;
  // Element (mn, kk) of the tile.
  __device__ static __forceinline__ int offset(int mn, int kk) { return KMajor ? mn * kPitch + kk : kk * kPitch + mn; }
};

// One operand as the kernel reads it: element (mn, kk) of batch entry b at
// data[b * batch_stride + mn * mn_stride + kk * k_stride] (A: mn = row, B: mn = column).
struct MmaOperand {
  const void* data;
  int64_t batch_stride, mn_stride, k_stride;
  bool vec;  // cp.async applies (Note [Tensor-core GEMM])
};

struct MmaParams {
  int64_t batch, m, n, k, tiles_m, tiles_n;
  MmaOperand a, b;
  void* c;
  int64_t c_batch, c_row, c_col;
  float alpha, beta;
  GemmEpilogue ep;
};

// ---- PTX ------------------------------------------------------------------------------------

__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// Copies src_bytes (0..16) from global src to shared dst and zero-fills the rest of the 16.
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

template <bool Trans>
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  if constexpr (Trans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p))
                 : "memory");
  } else {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p))
                 : "memory");
  }
}

// d += a @ b on one 16 x 8 tile.
template <typename T>
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else if constexpr (std::is_same_v<T, __half>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}

// ---- loads ----------------------------------------------------------------------------------

// Fills one stage's tile of operand x (already offset to its batch entry) with elements
// mn0.., k0.. of the (MN x K) matrix, zeros beyond it.
template <typename T, bool KMajor, int R, int Threads>
__device__ __forceinline__ void load_tile(T* s, const T* x, const MmaOperand& op, int64_t mn0, int64_t k0, int64_t MN,
                                          int64_t K, int tid) {
  using Tile = SmemTile<T, KMajor, R>;
  using Bits = std::conditional_t<sizeof(T) == 2, uint16_t, uint32_t>;
  constexpr int E = Tile::E, kPerRow = Tile::kInner / E;
  static_assert(Tile::kChunks % Threads == 0, "whole chunks per thread");
#pragma unroll
  for (int i = 0; i < Tile::kChunks / Threads; ++i) {
    const int c = i * Threads + tid;
    const int row = c / kPerRow, col = (c % kPerRow) * E;
    const int64_t mn = mn0 + (KMajor ? row : col), kk = k0 + (KMajor ? col : row);
    const bool outer_in = KMajor ? mn < MN : kk < K;
    const int64_t left = KMajor ? K - kk : MN - mn;  // elements from the chunk to the inner edge
    const int valid = outer_in && left > 0 ? static_cast<int>(left < E ? left : E) : 0;
    T* dst = s + row * Tile::kPitch + col;
    if (op.vec) {
      const T* src = valid > 0 ? x + mn * op.mn_stride + kk * op.k_stride : x;
      cp_async_16(dst, src, valid * Tile::kElem);
    } else {
      union {
        uint4 v;
        Bits e[E];
      } chunk;
      chunk.v = make_uint4(0, 0, 0, 0);
      if (valid > 0) {
        const Bits* src = reinterpret_cast<const Bits*>(x + mn * op.mn_stride + kk * op.k_stride);
        const int64_t step = KMajor ? op.k_stride : op.mn_stride;
#pragma unroll
        for (int e = 0; e < E; ++e)
          if (e < valid) chunk.e[e] = src[e * step];
      }
      *reinterpret_cast<uint4*>(dst) = chunk.v;
    }
  }
}

// ---- the kernel -----------------------------------------------------------------------------

template <typename T, typename Cfg, bool AK, bool BK>
__global__ void __launch_bounds__(Cfg::kThreads) gemm_mma_kernel(const MmaParams p) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  using TileA = SmemTile<T, AK, Cfg::BM>;
  using TileB = SmemTile<T, BK, Cfg::BN>;
  constexpr int MT = Cfg::kMT, NT = Cfg::kNT, kThreads = Cfg::kThreads;
  constexpr bool kTf32 = std::is_same_v<T, float>;
  constexpr int kBK = TileA::BK, kSteps = kTf32 ? kBK / 8 : kBK / 16;  // mma k-steps per stage

  extern __shared__ __align__(16) unsigned char smem[];
  T* const sA = reinterpret_cast<T*>(smem);
  T* const sB = sA + kStages * TileA::kElems;

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = warp / Cfg::kWarpsN, wn = warp % Cfg::kWarpsN;
  const int g = lane / 4, t4 = lane % 4;

  // Grouped tile order (Note [Tensor-core GEMM]).
  const int64_t pid = blockIdx.x, width = kGroupM * p.tiles_n;
  const int64_t first_m = pid / width * kGroupM;
  const int64_t group_m = p.tiles_m - first_m < kGroupM ? p.tiles_m - first_m : kGroupM;
  const int64_t m0 = (first_m + pid % width % group_m) * Cfg::BM;
  const int64_t n0 = pid % width / group_m * Cfg::BN;
  const int64_t k_tiles = (p.k + kBK - 1) / kBK;

  for (int64_t bi = blockIdx.y; bi < p.batch; bi += gridDim.y) {
    const T* A = static_cast<const T*>(p.a.data) + bi * p.a.batch_stride;
    const T* B = static_cast<const T*>(p.b.data) + bi * p.b.batch_stride;
    auto load_stage = [&](int s, int64_t t) {
      load_tile<T, AK, Cfg::BM, kThreads>(sA + s * TileA::kElems, A, p.a, m0, t * kBK, p.m, p.k, tid);
      load_tile<T, BK, Cfg::BN, kThreads>(sB + s * TileB::kElems, B, p.b, n0, t * kBK, p.n, p.k, tid);
    };

    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;

#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < k_tiles) load_stage(s, s);
      cp_async_commit();  // empty groups too: group j always holds tile j
    }

    for (int64_t t = 0; t < k_tiles; ++t) {
      cp_async_wait<kStages - 2>();  // this thread's copies of tile t are done
      __syncthreads();               // everyone's are; nobody reads tile t-1's buffer any more
      const int64_t next = t + kStages - 1;
      if (next < k_tiles) load_stage(static_cast<int>(next % kStages), next);
      cp_async_commit();

      const T* a_s = sA + static_cast<int>(t % kStages) * TileA::kElems;
      const T* b_s = sB + static_cast<int>(t % kStages) * TileB::kElems;
#pragma unroll
      for (int ks = 0; ks < kSteps; ++ks) {
        uint32_t af[MT][4], bf[NT][2];
        if constexpr (kTf32) {
          const int kb = ks * 8;
#pragma unroll
          for (int i = 0; i < MT; ++i) {
            const int mb = (wm * MT + i) * 16;
            af[i][0] = to_tf32(a_s[TileA::offset(mb + g, kb + t4)]);
            af[i][1] = to_tf32(a_s[TileA::offset(mb + g + 8, kb + t4)]);
            af[i][2] = to_tf32(a_s[TileA::offset(mb + g, kb + t4 + 4)]);
            af[i][3] = to_tf32(a_s[TileA::offset(mb + g + 8, kb + t4 + 4)]);
          }
#pragma unroll
          for (int j = 0; j < NT; ++j) {
            const int nb = (wn * NT + j) * 8;
            bf[j][0] = to_tf32(b_s[TileB::offset(nb + g, kb + t4)]);
            bf[j][1] = to_tf32(b_s[TileB::offset(nb + g, kb + t4 + 4)]);
          }
        } else {
          // ldmatrix.x4: lane L gives the address of row L % 8 of 8x8 matrix L / 8.
          // A (16 x 16 at mb, kb): matrices (m +0, k +0), (m +8, k +0), (m +0, k +8), (m +8, k +8)
          // give a0..a3. B (two n8 tiles, 16 x 16 at nb, kb): (n +0, k +0), (n +0, k +8),
          // (n +8, k +0), (n +8, k +8) give b0, b1 of the first tile, then of the second.
          const int kb = ks * 16, r8 = lane % 8, hi3 = (lane / 8) % 2 * 8, hi4 = lane / 16 * 8;
#pragma unroll
          for (int i = 0; i < MT; ++i) {
            const int mb = (wm * MT + i) * 16;
            const int mn = AK ? mb + r8 + hi3 : mb + hi3, kk = AK ? kb + hi4 : kb + r8 + hi4;
            ldmatrix_x4<!AK>(af[i], a_s + TileA::offset(mn, kk));
          }
#pragma unroll
          for (int j = 0; j < NT; j += 2) {
            const int nb = (wn * NT + j) * 8;
            const int mn = BK ? nb + r8 + hi4 : nb + hi4, kk = BK ? kb + hi3 : kb + r8 + hi3;
            uint32_t r[4];
            ldmatrix_x4<!BK>(r, b_s + TileB::offset(mn, kk));
            bf[j][0] = r[0];
            bf[j][1] = r[1];
            bf[j + 1][0] = r[2];
            bf[j + 1][1] = r[3];
          }
        }
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
          for (int j = 0; j < NT; ++j) mma<T>(acc[i][j], af[i], bf[j]);
      }
    }
    cp_async_wait<0>();  // only empty groups can be left; keeps the count simple

    T* C = static_cast<T*>(p.c) + bi * p.c_batch;
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t row = m0 + (wm * MT + i) * 16 + g + 8 * h;
        if (row >= p.m) continue;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const int64_t col = n0 + (wn * NT + j) * 8 + 2 * t4;
          if (col >= p.n) continue;
          T* out = C + row * p.c_row + col * p.c_col;
          const bool pair = col + 1 < p.n;
          const float v0 = gemm_finish(acc[i][j][2 * h], p.alpha, p.beta, out, p.ep, row, col);
          const float v1 = pair ? gemm_finish(acc[i][j][2 * h + 1], p.alpha, p.beta, out + p.c_col, p.ep, row, col + 1)
                                : 0.f;
          if (pair && p.c_col == 1 && reinterpret_cast<uintptr_t>(out) % (2 * sizeof(T)) == 0) {
            if constexpr (std::is_same_v<T, __nv_bfloat16>) {
              *reinterpret_cast<__nv_bfloat162*>(out) = __floats2bfloat162_rn(v0, v1);
            } else if constexpr (std::is_same_v<T, __half>) {
              *reinterpret_cast<__half2*>(out) = __floats2half2_rn(v0, v1);
            } else {
              *reinterpret_cast<float2*>(out) = make_float2(v0, v1);
            }
          } else {
            out[0] = cast<T>(v0);
            if (pair) out[p.c_col] = cast<T>(v1);
          }
        }
      }
    __syncthreads();  // the next batch entry's first copies reuse the buffers
  }
#else
  __trap();  // gemm_mma only launches on compute capability 8.0 and newer
#endif
}

// ---- launch ---------------------------------------------------------------------------------

// The largest device index tracked by the per-kernel attribute cache (more devices just
// set the attribute on every launch).
constexpr int kTrackedDevices = 64;

template <typename T, typename Cfg, bool AK, bool BK>
void launch(const MmaParams& p, int device) {
  constexpr int smem = kStages * (SmemTile<T, AK, Cfg::BM>::kElems + SmemTile<T, BK, Cfg::BN>::kElems) *
                       static_cast<int>(sizeof(T));
  auto kernel = gemm_mma_kernel<T, Cfg, AK, BK>;
  static std::atomic<uint64_t> configured{0};  // devices whose limit was raised, one bit each
  const uint64_t bit = device >= 0 && device < kTrackedDevices ? uint64_t(1) << device : 0;
  if (!bit || !(configured.load(std::memory_order_relaxed) & bit)) {
    DL_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured.fetch_or(bit, std::memory_order_relaxed);
  }
  const dim3 grid(static_cast<unsigned>(p.tiles_m * p.tiles_n),
                  static_cast<unsigned>(std::min<int64_t>(p.batch, 65535)));
  kernel<<<grid, Cfg::kThreads, smem>>>(p);
  DL_CUDA_LAUNCH_CHECK();
}

template <typename T, typename Cfg>
void launch_layout(MmaParams p, bool ak, bool bk, int device) {
  p.tiles_m = ceil_div(p.m, Cfg::BM);
  p.tiles_n = ceil_div(p.n, Cfg::BN);
  if (p.tiles_m * p.tiles_n > 0x7fffffff)
    throw ValueError(str_cat("gemm: a ", p.m, " x ", p.n, " product has more tiles than a CUDA grid holds"));
  if (ak && bk) launch<T, Cfg, true, true>(p, device);
  else if (ak) launch<T, Cfg, true, false>(p, device);
  else if (bk) launch<T, Cfg, false, true>(p, device);
  else launch<T, Cfg, false, false>(p, device);
}

// Whether cp.async can copy this operand: unit stride along the tile's inner dim, and every
// chunk's first element on a 16-byte boundary.
bool vec_ok(const void* data, int64_t inner_stride, int64_t outer_stride, int64_t outer_extent, int64_t batch_stride,
            int64_t batch, int64_t elem) {
  const int64_t e = 16 / elem;
  return inner_stride == 1 && reinterpret_cast<uintptr_t>(data) % 16 == 0 &&
         (outer_extent <= 1 || outer_stride % e == 0) && (batch <= 1 || batch_stride % e == 0);
}

// The operand (data, batch stride, mn / k strides) with its tile orientation: k-major when k
// has unit stride (or, with no unit stride at all, the smaller one).
MmaOperand operand(const GemmMatrix& x, int64_t mn_stride, int64_t k_stride, int64_t MN, int64_t K, int64_t batch,
                   int64_t elem, bool& k_major) {
  k_major = k_stride == 1 || (mn_stride != 1 && k_stride <= mn_stride);
  const bool vec = k_major ? vec_ok(x.data, k_stride, mn_stride, MN, x.batch_stride, batch, elem)
                           : vec_ok(x.data, mn_stride, k_stride, K, x.batch_stride, batch, elem);
  return {x.data, x.batch_stride, mn_stride, k_stride, vec};
}

template <typename T>
void gemm_mma_typed(const GemmArgs& g) {
  const int64_t elem = sizeof(T);
  MmaParams p{};
  p.batch = g.batch;
  p.m = g.m;
  p.n = g.n;
  p.k = g.k;
  bool ak, bk;
  p.a = operand(g.a, g.a.row_stride, g.a.col_stride, g.m, g.k, g.batch, elem, ak);
  p.b = operand(g.b, g.b.col_stride, g.b.row_stride, g.n, g.k, g.batch, elem, bk);
  p.c = g.c.data;
  p.c_batch = g.c.batch_stride;
  p.c_row = g.c.row_stride;
  p.c_col = g.c.col_stride;
  p.alpha = static_cast<float>(g.alpha);
  p.beta = static_cast<float>(g.beta);
  p.ep = gemm_epilogue(g);
  // Big tiles unless they leave most of the GPU idle (fewer than ~one per SM of a big GPU).
  const int64_t big_tiles = ceil_div(g.m, BigTiles::BM) * ceil_div(g.n, BigTiles::BN) * g.batch;
  if (big_tiles >= 128) launch_layout<T, BigTiles>(p, ak, bk, g.device.index);
  else launch_layout<T, SmallTiles>(p, ak, bk, g.device.index);
}

}  // namespace

// gemm_mma_typed for __half, __nv_bfloat16 and float (TF32).
void gemm_mma_f16(const GemmArgs& g);
void gemm_mma_bf16(const GemmArgs& g);
void gemm_mma_tf32(const GemmArgs& g);

}  // namespace cuda
}  // namespace dlcore
