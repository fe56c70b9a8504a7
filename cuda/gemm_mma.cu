// Tensor-core GEMM for gemm_kernel (entry point gemm_mma in cuda/gemm_mma.cuh, called by
// cuda/gemm.cu): C[b] = act(alpha * A[b] @ B[b] + beta * C[b] + bias) for float16 and
// bfloat16 operands with float accumulation, and for float32 operands rounded to TF32 when
// the caller allows it (Note [TF32] in ops/linalg.h). sm_80 and newer. The kernel template
// is in gemm_mma_kernel.cuh, compiled once per operand type (float16 here, gemm_mma_bf16.cu,
// gemm_mma_tf32.cu) so that the three compile in parallel.
//
// Note [Tensor-core GEMM]
// Warp-level mma.sync, PTX inline assembly:
//   16-bit: mma.m16n8k16.row.col.f32.{f16,bf16}, fragments loaded with ldmatrix(.trans).
//   TF32:   mma.m16n8k8.row.col.f32.tf32, fragments loaded with 32-bit shared loads and
//           rounded with cvt.rna.tf32.f32 (ldmatrix cannot transpose 32-bit elements).
// Block tile BM x BN, k walked in steps of 64 bytes (BK = 32 16-bit elements or 16 floats,
// two mma k-steps either way). Two configurations: 128 x 128 with 8 warps of 64 x 32, and
// 64 x 64 with 4 warps of 32 x 32 for products with too few big tiles to fill the GPU.
// Each warp holds its accumulators in registers: MT x NT mma tiles of 16 x 8, 4 floats per
// thread each (c0, c1: row lane/4, columns 2*(lane%4) + 0/1; c2, c3: 8 rows below).
//
// Shared memory keeps each operand in its global orientation, so the copies run along the
// unit stride: a "k-major" tile (A row-major, or B column-major, i.e. k contiguous) is BM (or
// BN) rows of BK elements; an "mn-major" tile is BK rows of BM (BN) elements. The 16-bit
// fragments come from ldmatrix on k-major tiles and ldmatrix.trans on mn-major ones. Rows are
// padded by 16 bytes (k-major: 80-byte rows) or 8 elements (mn-major), which makes every
// ldmatrix phase (8 rows of 16 bytes) and every TF32 fragment load (lanes (g, t) reading
// element (g, t) or (t, g) of a tile) hit 32 distinct banks.
//
// Loads: a kStages-deep ring of shared buffers filled by cp.async (16 bytes, zero-filling
// what lies beyond the matrix edges: a chunk that straddles an edge copies only its valid
// bytes). At step t the block waits for tile t, passes a barrier (after which nobody still
// reads tile t-1's buffer), issues the copies of tile t + kStages - 1 into that buffer and
// computes on tile t, so kStages - 1 tiles are in flight during each step's math. An operand
// that cp.async cannot take (no unit stride, or a pointer / leading dimension / batch stride
// that is not a multiple of 16 bytes) is copied by plain loads instead (element by element,
// any strides, same zero fill), into the same tiles; the math is the same.
//
// Epilogue: each thread finishes its own accumulators (gemm_finish: alpha, beta * C, bias,
// activation) and stores them straight to C, two neighbouring columns at once where C has
// unit column stride and the pair is aligned. Rows and columns past m, n are not stored.
// Tiles are numbered in groups of kGroupM tile rows (all tile columns of the group, then the
// next group), so the blocks in flight share A rows and B columns in L2. Batch entries run
// along gridDim.y (a grid-stride loop beyond 65535).
#include <atomic>

#include "gemm_mma_kernel.cuh"

namespace dlcore {
namespace cuda {
namespace {

int compute_capability_major(int device) {
  static std::atomic<int> cache[kTrackedDevices] = {};
  if (device >= 0 && device < kTrackedDevices) {
    if (const int c = cache[device].load(std::memory_order_relaxed)) return c;
  }
  int major = 0;
  DL_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  if (device >= 0 && device < kTrackedDevices) cache[device].store(major, std::memory_order_relaxed);
  return major;
}

}  // namespace

void gemm_mma_f16(const GemmArgs& g) { gemm_mma_typed<__half>(g); }

bool gemm_mma(const GemmArgs& g) {
  const bool tf32 = g.dtype == DType::Float32 && g.allow_tf32;
  if (g.dtype != DType::Float16 && g.dtype != DType::BFloat16 && !tf32) return false;
  if (compute_capability_major(g.device.index) < 8) return false;
  switch (g.dtype) {
    case DType::Float16: gemm_mma_f16(g); break;
    case DType::BFloat16: gemm_mma_bf16(g); break;
    default: gemm_mma_tf32(g); break;
  }
  return true;
}

}  // namespace cuda
}  // namespace dlcore
