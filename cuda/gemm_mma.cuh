// Shared by the two CUDA GEMM kernels (cuda/gemm.cu: SIMT, cuda/gemm_mma.cu: tensor cores):
// the epilogue of Note [GEMM epilogue] (ops/linalg.h) and the tensor-core entry point.
#pragma once

#include <type_traits>

#include "loops.cuh"
#include "ops/linalg.h"

namespace dlcore {
namespace cuda {

// The epilogue's parameters as the kernels take them (bias in C's device type).
struct GemmEpilogue {
  const void* bias = nullptr;
  int64_t bias_row = 0, bias_col = 0;
  GemmActivation act = GemmActivation::None;
};

inline GemmEpilogue gemm_epilogue(const GemmArgs& g) {
  return {g.bias, g.bias_row_stride, g.bias_col_stride, g.activation};
}

__device__ __forceinline__ float gemm_erfc(float v) { return ::erfcf(v); }
__device__ __forceinline__ double gemm_erfc(double v) { return ::erfc(v); }
__device__ __forceinline__ float gemm_tanh(float v) { return ::tanhf(v); }
__device__ __forceinline__ double gemm_tanh(double v) { return ::tanh(v); }
__device__ __forceinline__ float gemm_exp(float v) { return ::expf(v); }
__device__ __forceinline__ double gemm_exp(double v) { return ::exp(v); }

// act(v) in the accumulator type. The integer types have relu only (the ops reject the
// other activations for them, Note [GEMM epilogue]); relu maps NaN to 0 as the relu op does.
template <typename Acc>
__device__ __forceinline__ Acc gemm_activate(Acc v, GemmActivation act) {
  if (act == GemmActivation::Relu) return v > Acc(0) ? v : Acc(0);
  if constexpr (std::is_floating_point_v<Acc>) {
    constexpr double kSqrt1_2 = 0.70710678118654752440, kSqrt2_Pi = 0.79788456080286535588;
    switch (act) {
      case GemmActivation::Gelu: {
        const Acc u = -v * Acc(kSqrt1_2);
        return Acc(0.5) * v * gemm_erfc(u);
      }
      case GemmActivation::GeluTanh: {
        const Acc u = Acc(kSqrt2_Pi) * (v + Acc(0.044715) * v * v * v);
        return Acc(0.5) * v * (Acc(1) + gemm_tanh(u));
      }
      case GemmActivation::Silu: return v / (Acc(1) + gemm_exp(-v));
      default: break;
    }
  }
  return v;
}

// alpha * product + beta * C(i, j) + bias(i, j), activated: one output element of the
// epilogue, in the accumulator type. `out` is C(i, j); it is read only when beta != 0.
template <typename Acc, typename T>
__device__ __forceinline__ Acc gemm_finish(Acc product, Acc alpha, Acc beta, const T* out, const GemmEpilogue& ep,
                                           int64_t i, int64_t j) {
  Acc v = alpha * product;
  if (beta != Acc(0)) v += beta * cast<Acc>(*out);
  if (ep.bias) v += cast<Acc>(static_cast<const T*>(ep.bias)[i * ep.bias_row + j * ep.bias_col]);
  return gemm_activate(v, ep.act);
}

// Runs g on tensor cores when it can (Note [Tensor-core GEMM] in cuda/gemm_mma.cu):
// float16/bfloat16, or float32 with g.allow_tf32, on a device of compute capability 8.0 or
// newer. Returns false, having launched nothing, otherwise.
bool gemm_mma(const GemmArgs& g);

}  // namespace cuda
}  // namespace dlcore
