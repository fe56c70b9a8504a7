// The activations on the accumulation type (float or double), as the unary ops (cuda/unary.cu)
// and the GEMM epilogue (cuda/gemm_mma.cuh) compute them; CPU twins in cpu/vec_math.h.
#pragma once

#include "block.cuh"

namespace dlcore {
namespace cuda {

__device__ __forceinline__ float tanh_(float v) { return ::tanhf(v); }
__device__ __forceinline__ double tanh_(double v) { return ::tanh(v); }
__device__ __forceinline__ float erfc_(float v) { return ::erfcf(v); }
__device__ __forceinline__ double erfc_(double v) { return ::erfc(v); }

// 0.5 x (1 + erf(x / sqrt 2)), with 1 + erf(z) = erfc(-z) (accurate for z << 0)
template <typename T>
__device__ __forceinline__ T gelu_(T x) {
  return T(0.5) * x * erfc_(-x * T(0.70710678118654752440));
}
// 0.5 x (1 + tanh(u)) == x * sigmoid(2u), u = sqrt(2 / pi) (x + 0.044715 x^3)
template <typename T>
__device__ __forceinline__ T gelu_tanh_(T x) {
  const T u = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
  return x / (T(1) + exp_(T(-2) * u));
}
// relu as PyTorch's: NaN and -0.0 pass through (x < 0 is false for both).
template <typename T>
__device__ __forceinline__ T relu_(T x) {
  return x < T(0) ? T(0) : x;
}
template <typename T>
__device__ __forceinline__ T silu_(T x) {
  return x / (T(1) + exp_(-x));
}

}  // namespace cuda
}  // namespace dlcore
