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

#include <string>

#include "dlcore/dispatch.h"

namespace dlcore {

struct GemmMatrix {
  void* data = nullptr;
  int64_t batch_stride = 0, row_stride = 0, col_stride = 0;
};

// Note [GEMM epilogue]
// Optional work done on each output element as it is stored, so that a Linear layer's
// forward is one kernel launch:
//     C[b](i, j) = act(alpha * (A[b] @ B[b])(i, j) + beta * C[b](i, j) + bias(i, j))
//     bias(i, j) = bias[i * bias_row_stride + j * bias_col_stride]
// bias has C's dtype and is shared by all batch entries: a row vector (Linear's bias over the
// output features) has bias_row_stride 0 and bias_col_stride its stride; a column vector the
// reverse. bias == nullptr adds nothing and act None is the identity, the defaults, so the
// plain product is unchanged. On CUDA the epilogue is fused into the GEMM's store; the CPU
// kernel applies it in a pass over C after the product.
enum class GemmActivation : int8_t { None, Relu, Gelu, GeluTanh, Silu };

struct GemmArgs {
  DType dtype = DType::Float32;  // all three operands (and bias)
  Device device;
  int64_t batch = 1, m = 0, n = 0, k = 0;
  double alpha = 1.0, beta = 0.0;
  GemmMatrix a, b, c;
  const void* bias = nullptr;  // Note [GEMM epilogue]
  int64_t bias_row_stride = 0, bias_col_stride = 0;
  GemmActivation activation = GemmActivation::None;
  // float32 only: the CUDA kernel may round A and B to TF32 (10-bit mantissa) and use tensor
  // cores (Note [TF32]). Set from matmul_allow_tf32() by the matmul ops; other callers keep
  // full float32 unless they opt in.
  bool allow_tf32 = false;
};

// Note [TF32]
// PyTorch's switches, process-wide: matmul_allow_tf32 (torch.backends.cuda.matmul.allow_tf32,
// default false) lets float32 matmul/mm/bmm/addmm/linear on CUDA use TF32 tensor cores;
// conv_allow_tf32 (torch.backends.cudnn.allow_tf32, default true) is the same switch for
// convolutions. CPU kernels always compute in full float32.
bool matmul_allow_tf32();
void set_matmul_allow_tf32(bool allow);
bool conv_allow_tf32();
void set_conv_allow_tf32(bool allow);

// The activation named `name` ("none", "relu", "gelu", "gelu_tanh", "silu"); ValueError
// naming `op` otherwise.
GemmActivation gemm_activation(const std::string& name, const char* op);

// act(x @ weight^T + bias) (Note [GEMM epilogue]): with no gradient to record, one GEMM whose
// epilogue adds the bias and applies the activation; otherwise linear followed by the
// activation op, so autograd sees the usual graph. A null bias means none.
Tensor linear_activation(const Tensor& x, const Tensor& weight, const Tensor& bias, GemmActivation act);

DL_DECLARE_KERNEL(gemm_kernel, void (*)(const GemmArgs& args));

// The operand view of `t`, whose last two dims are the matrix and whose leading dims are
// the batch: with `batch_shape` given, t is first broadcast to batch_shape + t's matrix
// shape. Batch dims must collapse into one stride and the matrix must be in BLAS layout
// (Note [GEMM operands]); otherwise `t` is replaced by a contiguous copy, which `keep`
// holds alive for as long as the returned pointer is used.
GemmMatrix gemm_operand(const Tensor& t, const Shape& batch_shape, Tensor& keep);

}  // namespace dlcore
