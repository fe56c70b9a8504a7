// Pieces shared by the row kernels (cuda/loss.cu, cuda/softmax.cu, cuda/norm.cu): math on
// the accumulation type, and block-wide reductions.
#pragma once

namespace dlcore {
namespace cuda {

__device__ __forceinline__ float exp_(float v) { return ::expf(v); }
__device__ __forceinline__ double exp_(double v) { return ::exp(v); }
__device__ __forceinline__ float log_(float v) { return ::logf(v); }
__device__ __forceinline__ double log_(double v) { return ::log(v); }
__device__ __forceinline__ float rsqrt_(float v) { return ::rsqrtf(v); }
__device__ __forceinline__ double rsqrt_(double v) { return ::rsqrt(v); }

// The larger of a and b; a NaN on either side wins (PyTorch's max propagation).
struct MaxOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return (b > a || b != b) && a == a ? b : a; }
};
struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

// The block-wide combination of each thread's v; every thread gets the result. `scratch`
// holds one value per warp (32 entries), `identity` fills the lanes past the last warp.
// Starts with a barrier, so consecutive calls may share scratch. blockDim.x is a multiple
// of 32 and every thread of the block calls it.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T identity, T* scratch) {
  for (int s = 16; s > 0; s /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, s));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : identity;
  for (int s = 16; s > 0; s /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, s));
  return v;
}

}  // namespace cuda
}  // namespace dlcore
