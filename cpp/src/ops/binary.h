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

// The element-wise math functions of two arguments, in their own kernel slot (CPU only,
// Note [Math op kernel slots] in ops/unary.h).
// X(enum, python name, kind). Kinds: F = float-valued (integer inputs give float32),
// O = floating inputs only, N = numeric (not bool), A = any dtype, I = integer (not bool).
#define DLCORE_BINARY_MATH_OPS(X)               \
  X(Atan2, "atan2", F)                          \
  X(Copysign, "copysign", F)                    \
  X(Xlogy, "xlogy", F)                          \
  X(Hypot, "hypot", O)                          \
  X(Nextafter, "nextafter", O)                  \
  X(Logaddexp, "logaddexp", O)                  \
  X(Logaddexp2, "logaddexp2", O)                \
  X(Fmod, "fmod", N)                            \
  X(Remainder, "remainder", N)                  \
  X(FloorDivide, "floor_divide", N)             \
  X(Heaviside, "heaviside", A)                  \
  X(Fmax, "fmax", A)                            \
  X(Fmin, "fmin", A)                            \
  X(Gcd, "gcd", I)                              \
  X(Lcm, "lcm", I)                              \
  X(LeftShift, "bitwise_left_shift", I)         \
  X(RightShift, "bitwise_right_shift", I)

enum class BinaryMathOp : int {
#define DLCORE_ENUM(E, N, K) E,
  DLCORE_BINARY_MATH_OPS(DLCORE_ENUM)
#undef DLCORE_ENUM
};

// out = f(a, b); a, b and out share one dtype, a and b broadcast to out's shape.
DL_DECLARE_KERNEL(binary_math_kernel, void (*)(BinaryMathOp op, const Tensor& out, const Tensor& a, const Tensor& b));

// out = a op b. a and b share the compute dtype and broadcast to out's shape; out has the
// compute dtype, or bool for comparisons and logical ops. Bitwise ops take integer and bool
// dtypes only.
DL_DECLARE_KERNEL(binary_kernel, void (*)(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b));
// out = cond ? a : b (cond bool; a, b and out one dtype).
DL_DECLARE_KERNEL(where_kernel, void (*)(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b));

}  // namespace dlcore
