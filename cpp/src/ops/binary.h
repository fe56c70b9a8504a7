// Elementwise binary ops: the op list and the kernel slot (cpu/binary.cpp, cuda/binary.cu).
#pragma once

#include "dlcore/dispatch.h"

namespace dlcore {

// X(enum, python name)
#define DLCORE_BINARY_OPS(X) \
  X(Add, "add")              \
  X(Sub, "sub")              \
  X(Mul, "mul")              \
  X(Div, "div")              \
  X(Pow, "pow")              \
  X(Minimum, "minimum")      \
  X(Maximum, "maximum")      \
  X(BitwiseAnd, "bitwise_and") \
  X(BitwiseOr, "bitwise_or")   \
  X(BitwiseXor, "bitwise_xor") \
  X(Eq, "eq")                \
  X(Ne, "ne")                \
  X(Lt, "lt")                \
  X(Le, "le")                \
  X(Gt, "gt")                \
  X(Ge, "ge")                \
  X(LogicalAnd, "logical_and") \
  X(LogicalOr, "logical_or")   \
  X(LogicalXor, "logical_xor")

enum class BinaryOp : int {
#define DLCORE_ENUM(E, N) E,
  DLCORE_BINARY_OPS(DLCORE_ENUM)
#undef DLCORE_ENUM
};

// out = a op b. a and b share the compute dtype and broadcast to out's shape; out has the
// compute dtype, or bool for comparisons and logical ops. Bitwise ops take integer and bool
// dtypes only.
DL_DECLARE_KERNEL(binary_kernel, void (*)(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b));
// out = cond ? a : b (cond bool; a, b and out one dtype).
DL_DECLARE_KERNEL(where_kernel, void (*)(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b));

}  // namespace dlcore
