// CPU elementwise binary kernels and where(). Compiled per CPU capability (Note [CPU
// capability variants]); the contiguous and scalar-broadcast runs auto-vectorise.
#include "ops/binary.h"

#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>

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

// ---- math functions of two arguments (binary_math_kernel) -------------------------------------

// Floor division and the remainder with the divisor's sign, as Python's // and %. Integer
// division by zero is refused before the kernel runs; b == -1 negates without overflow.
template <typename T>
T floor_div_t(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (b == 0) return a / b;
    const T mod = std::fmod(a, b);
    T div = (a - mod) / b;  // exact up to rounding: a - mod is a multiple of b
    if (mod != 0 && (b < 0) != (mod < 0)) div -= T(1);
    if (div == 0) return std::copysign(T(0), a / b);
    T fl = std::floor(div);
    if (div - fl > T(0.5)) fl += T(1);  // div was rounded just below an integer
    return fl;
  } else {
    using U = std::make_unsigned_t<T>;
    if (b == T(-1)) return static_cast<T>(U(0) - static_cast<U>(a));
    const T q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? T(q - 1) : q;
  }
}

template <typename T>
T fmod_t(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return std::fmod(a, b);
  else return b == T(-1) ? T(0) : T(a % b);
}

template <typename T>
T remainder_t(T a, T b) {
  const T mod = fmod_t(a, b);
  return (mod != 0 && (b < 0) != (mod < 0)) ? T(mod + b) : mod;
}

template <typename T>
void math_float(BinaryMathOp op, const ElementwiseIter& it) {
  constexpr T inf = std::numeric_limits<T>::infinity();
  constexpr int64_t kCostly = 4096;
  switch (op) {
    case BinaryMathOp::Atan2: return binary_loop<T, T>(it, [](T a, T b) { return std::atan2(a, b); }, kCostly);
    case BinaryMathOp::Copysign: return binary_loop<T, T>(it, [](T a, T b) { return std::copysign(a, b); });
    case BinaryMathOp::Xlogy:
      return binary_loop<T, T>(it, [](T a, T b) { return b != b ? b : (a == T(0) ? T(0) : a * std::log(b)); }, kCostly);
    case BinaryMathOp::Hypot: return binary_loop<T, T>(it, [](T a, T b) { return std::hypot(a, b); }, kCostly);
    case BinaryMathOp::Nextafter: return binary_loop<T, T>(it, [](T a, T b) { return std::nextafter(a, b); });
    case BinaryMathOp::Logaddexp:
      return binary_loop<T, T>(it, [](T a, T b) {
        if ((a == inf || a == -inf) && a == b) return a;
        const T m = a > b ? a : b;
        return m + std::log1p(std::exp(-std::fabs(a - b)));
      }, kCostly);
    case BinaryMathOp::Logaddexp2:
      return binary_loop<T, T>(it, [](T a, T b) {
        if ((a == inf || a == -inf) && a == b) return a;
        const T m = a > b ? a : b;
        return m + std::log1p(std::exp2(-std::fabs(a - b))) / T(0.69314718055994530942);
      }, kCostly);
    case BinaryMathOp::Fmod: return binary_loop<T, T>(it, [](T a, T b) { return fmod_t(a, b); }, kCostly);
    case BinaryMathOp::Remainder: return binary_loop<T, T>(it, [](T a, T b) { return remainder_t(a, b); }, kCostly);
    case BinaryMathOp::FloorDivide: return binary_loop<T, T>(it, [](T a, T b) { return floor_div_t(a, b); }, kCostly);
    default: break;
  }
  throw RuntimeError("binary_math_kernel: op not handled for floating dtypes");
}

template <typename T>
void math_int(BinaryMathOp op, const ElementwiseIter& it) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    constexpr T bits = sizeof(T) * 8;
    switch (op) {
      case BinaryMathOp::Fmod: return binary_loop<T, T>(it, [](T a, T b) { return fmod_t(a, b); });
      case BinaryMathOp::Remainder: return binary_loop<T, T>(it, [](T a, T b) { return remainder_t(a, b); });
      case BinaryMathOp::FloorDivide: return binary_loop<T, T>(it, [](T a, T b) { return floor_div_t(a, b); });
      case BinaryMathOp::Gcd: return binary_loop<T, T>(it, [](T a, T b) { return std::gcd(a, b); });
      case BinaryMathOp::Lcm:
        return binary_loop<T, T>(it, [](T a, T b) {
          const T g = std::gcd(a, b);
          const T l = g == 0 ? T(0) : T(a / g * b);
          return l < 0 ? T(-l) : l;
        });
      // Shifts by a negative amount or by the width or more: 0 to the left, the sign to the right.
      case BinaryMathOp::LeftShift:
        return binary_loop<T, T>(it, [](T a, T b) {
          return (b < 0 || b >= bits) ? T(0) : static_cast<T>(static_cast<U>(a) << b);
        });
      case BinaryMathOp::RightShift:
        return binary_loop<T, T>(it, [](T a, T b) { return (b < 0 || b >= bits) ? T(a >> (bits - 1)) : T(a >> b); });
      default: break;
    }
  }
  throw RuntimeError("binary_math_kernel: op not handled for integer dtypes");
}

template <typename T>
void math_any(BinaryMathOp op, const ElementwiseIter& it) {
  switch (op) {
    case BinaryMathOp::Heaviside:
      return binary_loop<T, T>(it, [](T a, T b) { return a == T(0) ? b : static_cast<T>(a > T(0)); });
    // fmax/fmin: a NaN operand loses to a number (maximum/minimum propagate it).
    case BinaryMathOp::Fmax: return binary_loop<T, T>(it, [](T a, T b) { return (a != a || b > a) ? b : a; });
    case BinaryMathOp::Fmin: return binary_loop<T, T>(it, [](T a, T b) { return (a != a || b < a) ? b : a; });
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) math_float<T>(op, it);
  else math_int<T>(op, it);
}

void binary_math_cpu(BinaryMathOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  ElementwiseIter it(out, {a, b});
  DL_DISPATCH_ALL(a->dtype(), "binary_math", [&] { math_any<scalar_t>(op, it); });
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
DL_REGISTER_CPU_KERNEL(binary_math_kernel, binary_math_cpu);

}  // namespace dlcore
