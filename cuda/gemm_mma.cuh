// Shared by the two CUDA GEMM kernels (cuda/gemm.cu: SIMT, cuda/gemm_mma.cu: tensor cores):
// the epilogue of Note [GEMM epilogue] (ops/linalg.h) and the tensor-core entry point.
#pragma once

#include <type_traits>

#include "activations.cuh"
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

// act(v) in the accumulator type. The integer types have relu only (the ops reject the
// other activations for them, Note [GEMM epilogue]); relu maps NaN to 0 as the relu op does.
template <typename Acc>
__device__ __forceinline__ Acc gemm_activate(Acc v, GemmActivation act) {
  if (act == GemmActivation::Relu) return relu_(v);
  if constexpr (std::is_floating_point_v<Acc>) {  // the unary ops' formulas (activations.cuh)
    switch (act) {
      case GemmActivation::Gelu: return gelu_(v);
      case GemmActivation::GeluTanh: return gelu_tanh_(v);
      case GemmActivation::Silu: return silu_(v);
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
