// Matrix products: the batched GEMM kernel slot (cpu/gemm.cpp, cuda/gemm.cu).
//
// Note [GEMM operands]
// gemm_kernel computes, for every b in [0, batch):
//     C[b] = alpha * A[b] @ B[b] + beta * C[b]      A[b]: (m, k), B[b]: (k, n), C[b]: (m, n)
// Each operand is a pointer plus three strides in elements (Note [Strides are in elements]):
// element (b, i, j) of A is a.data[b * a.batch_stride + i * a.row_stride + j * a.col_stride].
// A transposed operand is the same pointer with row and column strides swapped, so op(A)
// needs no flag and no copy. A batch stride of 0 reuses one matrix for every batch entry
// (broadcasting).
// The ops only pass A and B in "BLAS layout": one of the two matrix strides is 1 and the
// other is at least the extent of the unit-stride dim (so a GPU BLAS can take it as a leading
// dimension); other views are copied first (gemm_operand below). C is written, never aliased
// with A or B. When beta == 0, C is not read (it may hold garbage or NaN), as in BLAS.
// The CPU kernel accepts arbitrary strides in all three operands.
#pragma once

#include "dlcore/dispatch.h"

namespace dlcore {

struct GemmMatrix {
  void* data = nullptr;
  int64_t batch_stride = 0, row_stride = 0, col_stride = 0;
};

struct GemmArgs {
  DType dtype = DType::Float32;  // all three operands
  Device device;
  int64_t batch = 1, m = 0, n = 0, k = 0;
  double alpha = 1.0, beta = 0.0;
  GemmMatrix a, b, c;
};

DL_DECLARE_KERNEL(gemm_kernel, void (*)(const GemmArgs& args));

// The operand view of `t`, whose last two dims are the matrix and whose leading dims are
// the batch: with `batch_shape` given, t is first broadcast to batch_shape + t's matrix
// shape. Batch dims must collapse into one stride and the matrix must be in BLAS layout
// (Note [GEMM operands]); otherwise `t` is replaced by a contiguous copy, which `keep`
// holds alive for as long as the returned pointer is used.
GemmMatrix gemm_operand(const Tensor& t, const Shape& batch_shape, Tensor& keep);

}  // namespace dlcore
