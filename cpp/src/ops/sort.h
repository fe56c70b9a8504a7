// Sorting ops (sort, argsort, topk): kernel slots (cpu/sort.cpp, cuda/sort.cu).
//
// Note [Sort order]
// Rows are sorted stably; NaN counts as larger than every number (last when ascending, first
// when descending), as in PyTorch. topk orders ties by index, lower first, so its result does
// not depend on the algorithm.
#pragma once

#include "dlcore/dispatch.h"

namespace dlcore {

// x: contiguous (rows, n); values: (rows, n) of x's dtype, indices: int64 (rows, n), contiguous.
DL_DECLARE_KERNEL(sort_kernel, void (*)(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t rows,
                                        int64_t n, bool descending));
// x: contiguous (rows, n); values/indices: contiguous (rows, k), best first.
DL_DECLARE_KERNEL(topk_kernel, void (*)(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t rows,
                                        int64_t n, int64_t k, bool largest));

}  // namespace dlcore
