// Scalar helpers shared by the CPU and CUDA kernels (compiled for both by nvcc).
#pragma once

#include "dlcore/philox.h"  // DL_HOST_DEVICE

namespace dlcore {

// Integer power by squaring; negative exponents follow PyTorch (1/a truncated toward zero).
// `static`: each kernel file keeps its own copy, so the AVX2 and baseline builds of a CPU
// kernel never share one at link time (Note [CPU capability variants]).
template <typename T>
DL_HOST_DEVICE static inline T pow_int(T a, T b) {
  if (b < 0) return a == 1 ? T(1) : (a == -1 ? ((b & 1) ? T(-1) : T(1)) : T(0));
  T r = 1;
  while (b) {
    if (b & 1) r *= a;
    a *= a;
    b >>= 1;
  }
  return r;
}

}  // namespace dlcore
