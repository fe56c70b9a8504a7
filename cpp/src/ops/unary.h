// Elementwise unary ops and activations: the op list and kernel slots
// (cpu/unary.cpp, cuda/unary.cu).
#pragma once

#include "dlcore/dispatch.h"

namespace dlcore {

// X(enum, name, kind): kind F = float-valued (integer inputs give float32),
// S = same dtype as the input, B = bool result.
#define DLCORE_UNARY_OPS(X)      \
  X(Neg, "neg", S)               \
  X(Abs, "abs", S)               \
  X(Sign, "sign", S)             \
  X(Exp, "exp", F)               \
  X(Log, "log", F)               \
  X(Log1p, "log1p", F)           \
  X(Sqrt, "sqrt", F)             \
  X(Rsqrt, "rsqrt", F)           \
  X(Sin, "sin", F)               \
  X(Cos, "cos", F)               \
  X(LogicalNot, "logical_not", B) \
  X(Sigmoid, "sigmoid", F)       \
  X(Tanh, "tanh", F)             \
  X(Relu, "relu", S)             \
  X(LeakyRelu, "leaky_relu", S)  \
  X(Gelu, "gelu", F)             \
  X(GeluTanh, "gelu_tanh", F)    \
  X(Silu, "silu", F)             \
  X(Softplus, "softplus", F)     \
  X(Elu, "elu", F)               \
  X(Clamp, "clamp", S)

enum class UnaryOp : int {
#define DLCORE_ENUM(E, N, K) E,
  DLCORE_UNARY_OPS(DLCORE_ENUM)
#undef DLCORE_ENUM
};

// R = rounding (integers pass through, bool raises), A = same dtype as the input, bool included.
enum class UnaryKind { F, S, B, R, A };
inline UnaryKind unary_kind(UnaryOp op) {
  switch (op) {
#define DLCORE_KIND(E, N, K) case UnaryOp::E: return UnaryKind::K;
    DLCORE_UNARY_OPS(DLCORE_KIND)
#undef DLCORE_KIND
  }
  return UnaryKind::S;
}

// Note [Math op kernel slots]
// The element-wise math functions (here and DLCORE_BINARY_MATH_OPS in ops/binary.h) have
// kernel slots of their own rather than entries in DLCORE_UNARY_OPS / DLCORE_BINARY_OPS: the
// CUDA kernels are generated over those lists, and the math functions have CPU kernels only,
// so that on another device the dispatcher refuses them by name ("unary_math_kernel has no
// CUDA kernel") instead of a CUDA switch failing to compile or raising "unknown op".
//
// X(enum, name, kind), kinds as for DLCORE_UNARY_OPS. I1 is not an op of its own: it is the
// derivative of i0.
#define DLCORE_MATH_OPS(X)       \
  X(Acos, "acos", F)             \
  X(Asin, "asin", F)             \
  X(Atan, "atan", F)             \
  X(Sinh, "sinh", F)             \
  X(Cosh, "cosh", F)             \
  X(Tan, "tan", F)               \
  X(Asinh, "asinh", F)           \
  X(Acosh, "acosh", F)           \
  X(Atanh, "atanh", F)           \
  X(Erf, "erf", F)               \
  X(Erfc, "erfc", F)             \
  X(Erfinv, "erfinv", F)         \
  X(Lgamma, "lgamma", F)         \
  X(Digamma, "digamma", F)       \
  X(Polygamma, "polygamma", F)   \
  X(Exp2, "exp2", F)             \
  X(Expm1, "expm1", F)           \
  X(Log2, "log2", F)             \
  X(Log10, "log10", F)           \
  X(Reciprocal, "reciprocal", F) \
  X(I0, "i0", F)                 \
  X(I1, "i1", F)                 \
  X(Sinc, "sinc", F)             \
  X(Logit, "logit", F)           \
  X(Floor, "floor", R)           \
  X(Ceil, "ceil", R)             \
  X(Round, "round", R)           \
  X(Trunc, "trunc", R)           \
  X(Isnan, "isnan", B)           \
  X(Isinf, "isinf", B)           \
  X(Isfinite, "isfinite", B)     \
  X(Isposinf, "isposinf", B)     \
  X(Isneginf, "isneginf", B)     \
  X(Signbit, "signbit", B)       \
  X(NanToNum, "nan_to_num", A)

enum class MathOp : int {
#define DLCORE_ENUM(E, N, K) E,
  DLCORE_MATH_OPS(DLCORE_ENUM)
#undef DLCORE_ENUM
};

inline UnaryKind math_kind(MathOp op) {
  switch (op) {
#define DLCORE_KIND(E, N, K) case MathOp::E: return UnaryKind::K;
    DLCORE_MATH_OPS(DLCORE_KIND)
#undef DLCORE_KIND
  }
  return UnaryKind::S;
}

// out = f(x; p0, p1, p2). Parameters: round (p0: decimals), logit (p0: eps, < 0 for none),
// polygamma (p0: the order n),
// nan_to_num (p0, p1, p2: the values for NaN, +inf and -inf).
DL_DECLARE_KERNEL(unary_math_kernel,
                  void (*)(MathOp op, const Tensor& out, const Tensor& x, double p0, double p1, double p2));

// out = f(x; p0, p1). Parameters: leaky_relu (slope), softplus (beta, threshold),
// elu (alpha), clamp (min, max; +-inf when absent).
DL_DECLARE_KERNEL(unary_kernel, void (*)(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1));
// grad_x = grad * f'(x) in one pass, for the activations whose derivative would take
// several ops as a formula (gelu, gelu_tanh, silu, softplus, elu). The CPU kernel also
// takes relu (x: the input or the output) and leaky_relu (p0: slope), whose formulas are
// two passes and a bool temporary.
DL_DECLARE_KERNEL(unary_backward_kernel,
                  void (*)(UnaryOp op, const Tensor& grad_x, const Tensor& grad, const Tensor& x, double p0, double p1));

// prelu on a contiguous x viewed as (outer, C, inner) with C = w's elements (1 for a shared
// weight): y = x > 0 ? x : w[c] * x. Backward: gx = g * (x > 0 ? 1 : w[c]) and
// gw_parts (outer, C, float64) = per (outer, c) the sum over inner of g * x where x <= 0.
DL_DECLARE_KERNEL(prelu_kernel, void (*)(const Tensor& y, const Tensor& x, const Tensor& w, int64_t inner));
DL_DECLARE_KERNEL(prelu_backward_kernel, void (*)(const Tensor& gx, const Tensor& gw_parts, const Tensor& g,
                                                  const Tensor& x, const Tensor& w, int64_t inner));

}  // namespace dlcore
