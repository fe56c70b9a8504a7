// CUDA GEMM for gemm_kernel (Note [GEMM operands] in ops/linalg.h; CPU reference: cpu/gemm.cpp):
// C[b] = act(alpha * A[b] @ B[b] + beta * C[b] + bias) over a batch of strided matrices
// (Note [GEMM epilogue]), for float32, float64, float16, bfloat16 (float accumulation) and
// the integer types. float16/bfloat16, and float32 when TF32 is allowed, run on tensor cores
// (cuda/gemm_mma.cu, Note [Tensor-core GEMM]); everything else, and GPUs older than sm_80,
// on the SIMT kernel below.
//
// Note [CUDA SIMT GEMM]
// A tiled shared-memory kernel without tensor cores. A block of 256 threads computes a
// 128 x 128 tile of C; each thread an 8 x 8 piece of it in registers, rows ty*8.. and columns
// tx*8.. for (ty, tx) in 16 x 16. The k dimension is walked in steps of 8: the block copies
// the A tile (128 x 8) and the B tile (8 x 128) into shared memory, stored k-major (As[k][m],
// Bs[k][n]) so that each thread reads its 8 A values and 8 B values of one k as two runs, and
// does 64 multiply-adds per k. Two shared buffers: while the threads compute on one, the next
// tiles' global loads are in flight in registers and are stored to the other buffer after the
// computation, so one barrier per k step suffices.
// A and B come in BLAS layout (one unit stride): the tile loads are arranged per layout
// (template flags) so that consecutive threads read consecutive addresses along the unit
// stride. Edges are zero-filled on load and clipped on store; beta == 0 does not read C.
// The epilogue (bias, activation) is applied by each thread to its outputs as it stores them.
// Batch entries run along gridDim.z (a grid-stride loop beyond 65535 entries).
#include "gemm_mma.cuh"
#include "loops.cuh"
#include "ops/linalg.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int kTileM = 128, kTileN = 128, kTileK = 8, kThreads = 256, kPerThread = 8, kPad = 4;
static_assert(kTileM == 16 * kPerThread && kTileN == 16 * kPerThread, "16 x 16 threads of 8 x 8 outputs");
constexpr int kLoads = kTileM * kTileK / kThreads;  // elements of each tile one thread copies
static_assert(kTileN * kTileK / kThreads == kLoads, "A and B tiles of equal size");

struct Operand {
  const void* data;
  int64_t batch_stride, row_stride, col_stride;
};

// Element e (0 <= e < kTileM * kTileK) of thread tid's share of a tile: for a tile whose
// `along` dim (length `len`) has unit stride in memory, consecutive threads take consecutive
// elements along it.
struct TileIndex {
  int along, across;
};
template <int Len>
__device__ __forceinline__ TileIndex tile_index(int e) {
  return {e % Len, e / Len};
}

template <typename T, typename Acc, bool ARowMajor, bool BRowMajor>
__global__ void __launch_bounds__(kThreads)
    gemm_kernel_simt(int64_t batch, int64_t m, int64_t n, int64_t k, Acc alpha, Acc beta, Operand a, Operand b,
                     T* __restrict__ c, int64_t c_batch, int64_t c_row, int64_t c_col, GemmEpilogue ep) {
  // Rows padded by kPad: the threads storing one k column of a row-major A tile (or a
  // column-major B tile) then hit distinct banks.
  __shared__ Acc As[2][kTileK][kTileM + kPad];
  __shared__ Acc Bs[2][kTileK][kTileN + kPad];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTileM, n0 = static_cast<int64_t>(blockIdx.x) * kTileN;
  const int64_t tiles = (k + kTileK - 1) / kTileK;

  for (int64_t bi = blockIdx.z; bi < batch; bi += gridDim.z) {
    const T* A = static_cast<const T*>(a.data) + bi * a.batch_stride;
    const T* B = static_cast<const T*>(b.data) + bi * b.batch_stride;
    Acc ra[kLoads], rb[kLoads];  // the next tiles, on their way from global memory

    // Loads the A and B tiles starting at k0 into ra / rb (zero outside the matrices).
    auto load = [&](int64_t k0) {
#pragma unroll
      for (int i = 0; i < kLoads; ++i) {
        const int e = i * kThreads + tid;
        // A tile: rows m0.., columns k0..; row-major A has k contiguous, column-major m.
        const TileIndex ai = ARowMajor ? tile_index<kTileK>(e) : tile_index<kTileM>(e);
        const int64_t am = m0 + (ARowMajor ? ai.across : ai.along), ak = k0 + (ARowMajor ? ai.along : ai.across);
        ra[i] = am < m && ak < k ? cast<Acc>(A[am * a.row_stride + ak * a.col_stride]) : Acc(0);
        // B tile: rows k0.., columns n0..; row-major B has n contiguous, column-major k.
        const TileIndex bj = BRowMajor ? tile_index<kTileN>(e) : tile_index<kTileK>(e);
        const int64_t bk = k0 + (BRowMajor ? bj.across : bj.along), bn = n0 + (BRowMajor ? bj.along : bj.across);
        rb[i] = bk < k && bn < n ? cast<Acc>(B[bk * b.row_stride + bn * b.col_stride]) : Acc(0);
      }
    };
    // Stores ra / rb into shared buffer s.
    auto store = [&](int s) {
#pragma unroll
      for (int i = 0; i < kLoads; ++i) {
        const int e = i * kThreads + tid;
        const TileIndex ai = ARowMajor ? tile_index<kTileK>(e) : tile_index<kTileM>(e);
        As[s][ARowMajor ? ai.along : ai.across][ARowMajor ? ai.across : ai.along] = ra[i];
        const TileIndex bj = BRowMajor ? tile_index<kTileN>(e) : tile_index<kTileK>(e);
        Bs[s][BRowMajor ? bj.across : bj.along][BRowMajor ? bj.along : bj.across] = rb[i];
      }
    };

    Acc acc[kPerThread][kPerThread];
#pragma unroll
    for (int i = 0; i < kPerThread; ++i)
#pragma unroll
      for (int j = 0; j < kPerThread; ++j) acc[i][j] = Acc(0);

    if (tiles > 0) {
      load(0);
      store(0);
      __syncthreads();
    }
    for (int64_t t = 0; t < tiles; ++t) {
      const int s = static_cast<int>(t & 1);
      if (t + 1 < tiles) load((t + 1) * kTileK);
#pragma unroll
      for (int kk = 0; kk < kTileK; ++kk) {
        Acc av[kPerThread], bv[kPerThread];
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) av[i] = As[s][kk][ty * kPerThread + i];
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) bv[j] = Bs[s][kk][tx * kPerThread + j];
#pragma unroll
        for (int i = 0; i < kPerThread; ++i)
#pragma unroll
          for (int j = 0; j < kPerThread; ++j) acc[i][j] += av[i] * bv[j];
      }
      if (t + 1 < tiles) store(s ^ 1);
      __syncthreads();
    }

    T* C = c + bi * c_batch;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int64_t row = m0 + ty * kPerThread + i;
      if (row >= m) continue;
#pragma unroll
      for (int j = 0; j < kPerThread; ++j) {
        const int64_t col = n0 + tx * kPerThread + j;
        if (col >= n) continue;
        T* out = C + row * c_row + col * c_col;
        *out = cast<T>(gemm_finish(acc[i][j], alpha, beta, out, ep, row, col));
      }
    }
    __syncthreads();  // the next batch entry reuses the shared buffers
  }
}

template <typename T>
void gemm_typed(const GemmArgs& g) {
  using D = device_t<T>;
  using Acc = acc_t<D>;
  const dim3 grid(static_cast<unsigned>(ceil_div(g.n, kTileN)), static_cast<unsigned>(ceil_div(g.m, kTileM)),
                  static_cast<unsigned>(std::min<int64_t>(g.batch, 65535)));
  if (grid.y > 65535) throw ValueError(str_cat("gemm: ", g.m, " rows is more than the CUDA kernel's grid allows"));
  const Operand a{g.a.data, g.a.batch_stride, g.a.row_stride, g.a.col_stride};
  const Operand b{g.b.data, g.b.batch_stride, g.b.row_stride, g.b.col_stride};
  const Acc alpha = static_cast<Acc>(g.alpha), beta = static_cast<Acc>(g.beta);
  D* c = static_cast<D*>(g.c.data);
  const GemmEpilogue ep = gemm_epilogue(g);
  const bool a_row = g.a.col_stride == 1, b_row = g.b.col_stride == 1;
#define DL_GEMM_LAUNCH(AR, BR)                                                                                  \
  gemm_kernel_simt<D, Acc, AR, BR><<<grid, kThreads>>>(g.batch, g.m, g.n, g.k, alpha, beta, a, b, c,           \
                                                       g.c.batch_stride, g.c.row_stride, g.c.col_stride, ep)
  if (a_row && b_row) DL_GEMM_LAUNCH(true, true);
  else if (a_row) DL_GEMM_LAUNCH(true, false);
  else if (b_row) DL_GEMM_LAUNCH(false, true);
  else DL_GEMM_LAUNCH(false, false);
#undef DL_GEMM_LAUNCH
  DL_CUDA_LAUNCH_CHECK();
}

void gemm_cuda(const GemmArgs& g) {
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
  DeviceGuard guard(g.device.index);
  if (gemm_mma(g)) return;
  switch (g.dtype) {
    case DType::Float32: return gemm_typed<float>(g);
    case DType::Float64: return gemm_typed<double>(g);
    case DType::Float16: return gemm_typed<Half>(g);
    case DType::BFloat16: return gemm_typed<BFloat16>(g);
    case DType::Int32: return gemm_typed<int32_t>(g);
    case DType::Int64: return gemm_typed<int64_t>(g);
    default: break;
  }
  throw TypeError(str_cat("gemm: unsupported dtype ", dtype_name(g.dtype), " on CUDA"));
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(gemm_kernel, CUDA, cuda::gemm_cuda);

}  // namespace dlcore
