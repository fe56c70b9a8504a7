// CPU elementwise binary kernels and where(). Compiled per CPU capability (Note [CPU
// capability variants]); the contiguous and scalar-broadcast runs auto-vectorise.
#include "ops/binary.h"

#include <cmath>

#include "cpu/loops.h"
#include "dlcore/scalar_math.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

template <typename T>
T pow_scalar(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::pow(a, b);
  } else if constexpr (std::is_same_v<T, bool>) {
    return a || !b;
  } else {
    return pow_int(a, b);
  }
}

template <typename T>
void arith(BinaryOp op, const ElementwiseIter& it) {
  switch (op) {
    case BinaryOp::Add:
      if constexpr (std::is_same_v<T, bool>) return binary_loop<T, T>(it, [](T a, T b) -> T { return a || b; });
      else return binary_loop<T, T>(it, [](T a, T b) -> T { return a + b; });
    case BinaryOp::Sub: return binary_loop<T, T>(it, [](T a, T b) -> T { return a - b; });
    case BinaryOp::Mul:
      if constexpr (std::is_same_v<T, bool>) return binary_loop<T, T>(it, [](T a, T b) -> T { return a && b; });
      else return binary_loop<T, T>(it, [](T a, T b) -> T { return a * b; });
    case BinaryOp::Div:
      if constexpr (std::is_floating_point_v<T>) return binary_loop<T, T>(it, [](T a, T b) -> T { return a / b; });
      break;
    case BinaryOp::Pow: return binary_loop<T, T>(it, [](T a, T b) -> T { return pow_scalar(a, b); }, 4096);
    case BinaryOp::Minimum:
      if constexpr (std::is_floating_point_v<T>)
        return binary_loop<T, T>(it, [](T a, T b) -> T { return (a != a || a < b) ? a : (b != b ? b : b < a ? b : a); });
      else return binary_loop<T, T>(it, [](T a, T b) -> T { return a < b ? a : b; });
    case BinaryOp::Maximum:
      if constexpr (std::is_floating_point_v<T>)
        return binary_loop<T, T>(it, [](T a, T b) -> T { return (a != a || a > b) ? a : (b != b ? b : b > a ? b : a); });
      else return binary_loop<T, T>(it, [](T a, T b) -> T { return a > b ? a : b; });
    case BinaryOp::BitwiseAnd:
      if constexpr (!std::is_floating_point_v<T>) return binary_loop<T, T>(it, [](T a, T b) -> T { return a & b; });
      break;
    case BinaryOp::BitwiseOr:
      if constexpr (!std::is_floating_point_v<T>) return binary_loop<T, T>(it, [](T a, T b) -> T { return a | b; });
      break;
    case BinaryOp::BitwiseXor:
      if constexpr (!std::is_floating_point_v<T>) return binary_loop<T, T>(it, [](T a, T b) -> T { return a ^ b; });
      break;
    default: break;
  }
  throw RuntimeError("binary_kernel: op not handled for this dtype");
}

template <typename T>
void compare(BinaryOp op, const ElementwiseIter& it) {
  switch (op) {
    case BinaryOp::Eq: return binary_loop<bool, T>(it, [](T a, T b) { return a == b; });
    case BinaryOp::Ne: return binary_loop<bool, T>(it, [](T a, T b) { return a != b; });
    case BinaryOp::Lt: return binary_loop<bool, T>(it, [](T a, T b) { return a < b; });
    case BinaryOp::Le: return binary_loop<bool, T>(it, [](T a, T b) { return a <= b; });
    case BinaryOp::Gt: return binary_loop<bool, T>(it, [](T a, T b) { return a > b; });
    case BinaryOp::Ge: return binary_loop<bool, T>(it, [](T a, T b) { return a >= b; });
    case BinaryOp::LogicalAnd: return binary_loop<bool, T>(it, [](T a, T b) { return a != T(0) && b != T(0); });
    case BinaryOp::LogicalOr: return binary_loop<bool, T>(it, [](T a, T b) { return a != T(0) || b != T(0); });
    case BinaryOp::LogicalXor: return binary_loop<bool, T>(it, [](T a, T b) { return (a != T(0)) != (b != T(0)); });
    default: break;
  }
  throw RuntimeError("binary_kernel: not a comparison");
}

void binary_cpu(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  ElementwiseIter it(out, {a, b});
  DL_DISPATCH_ALL(a->dtype(), "binary", [&] {
    if (op >= BinaryOp::Eq) compare<scalar_t>(op, it);
    else arith<scalar_t>(op, it);
  });
}

// out = cond ? a : b, as a select rather than a branch (the condition of an activation's
// where() is the sign of its input: a branch would be mispredicted half the time); contiguous
// runs, and runs where a or b is a scalar, vectorise.
void where_cpu(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  ElementwiseIter it(out, {cond, a, b});
  DL_DISPATCH_ALL(out->dtype(), "where", [&] {
    cpu_loop(it, [](char** p, const int64_t* s, int64_t n) {
      constexpr int64_t e = sizeof(scalar_t);
      scalar_t* o = reinterpret_cast<scalar_t*>(p[0]);
      const uint8_t* c = reinterpret_cast<const uint8_t*>(p[1]);  // bool storage: 0 or 1
      const scalar_t* x = reinterpret_cast<const scalar_t*>(p[2]);
      const scalar_t* y = reinterpret_cast<const scalar_t*>(p[3]);
      if (s[0] == e && s[1] == 1 && (s[2] == e || s[2] == 0) && (s[3] == e || s[3] == 0)) {
        const int64_t sx = s[2] / e, sy = s[3] / e;
        if (sx == 1 && sy == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? x[i] : y[i];
        } else {
          for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? x[i * sx] : y[i * sy];
        }
        return;
      }
      for (int64_t i = 0; i < n; ++i) {
        const scalar_t xv = *reinterpret_cast<const scalar_t*>(p[2] + i * s[2]);
        const scalar_t yv = *reinterpret_cast<const scalar_t*>(p[3] + i * s[3]);
        *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = p[1][i * s[1]] ? xv : yv;
      }
    });
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(binary_kernel, binary_cpu);
DL_REGISTER_CPU_KERNEL(where_kernel, where_cpu);

}  // namespace dlcore
