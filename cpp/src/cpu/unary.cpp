// CPU elementwise unary kernels, the fused activation backward and the math functions.
// Compiled per CPU capability; float32 exp/sigmoid/silu/gelu use the vectorisable vec_math.h
// functions, rounding and the predicates vectorise as they are.
#include "ops/unary.h"

#include <cmath>
#include <limits>

#include "cpu/loops.h"
#include "cpu/vec_math.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kCheap = 32768;  // grain for memory-bound ops
constexpr int64_t kCostly = 4096;  // grain for transcendental ops

constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <typename T>
void float_op(UnaryOp op, const ElementwiseIter& it, T p0, T p1) {
  switch (op) {
    case UnaryOp::Exp: return unary_loop<T, T>(it, [](T x) { return exp_t(x); }, kCostly);
    case UnaryOp::Log: return unary_loop<T, T>(it, [](T x) { return std::log(x); }, kCostly);
    case UnaryOp::Log1p: return unary_loop<T, T>(it, [](T x) { return std::log1p(x); }, kCostly);
    case UnaryOp::Sqrt: return unary_loop<T, T>(it, [](T x) { return std::sqrt(x); });
    case UnaryOp::Rsqrt: return unary_loop<T, T>(it, [](T x) { return T(1) / std::sqrt(x); });
    case UnaryOp::Sin: return unary_loop<T, T>(it, [](T x) { return std::sin(x); }, kCostly);
    case UnaryOp::Cos: return unary_loop<T, T>(it, [](T x) { return std::cos(x); }, kCostly);
    case UnaryOp::Sigmoid: return unary_loop<T, T>(it, [](T x) { return T(1) / (T(1) + exp_t(-x)); }, kCostly);
    case UnaryOp::Tanh: return unary_loop<T, T>(it, [](T x) { return tanh_t(x); }, kCostly);
    case UnaryOp::Gelu: return unary_loop<T, T>(it, [](T x) { return gelu_t(x); }, kCostly);
    case UnaryOp::GeluTanh: return unary_loop<T, T>(it, [](T x) { return gelu_tanh_t(x); }, kCostly);
    case UnaryOp::Silu: return unary_loop<T, T>(it, [](T x) { return silu_t(x); }, kCostly);
    case UnaryOp::Softplus:
      return unary_loop<T, T>(it, [p0, p1](T x) { return x * p0 > p1 ? x : std::log1p(std::exp(x * p0)) / p0; }, kCostly);
    case UnaryOp::Elu: return unary_loop<T, T>(it, [p0](T x) { return x > 0 ? x : p0 * std::expm1(x); }, kCostly);
    default: break;
  }
  throw RuntimeError("unary_kernel: op not handled for floating dtypes");
}

template <typename T>
void same_type_op(UnaryOp op, const ElementwiseIter& it, double p0, double p1) {
  switch (op) {
    case UnaryOp::Neg: return unary_loop<T, T>(it, [](T x) -> T { return -x; });
    case UnaryOp::Abs: return unary_loop<T, T>(it, [](T x) -> T { return x < 0 ? -x : x; });
    case UnaryOp::Sign: return unary_loop<T, T>(it, [](T x) -> T { return T((T(0) < x) - (x < T(0))); });
    case UnaryOp::Relu: return unary_loop<T, T>(it, [](T x) -> T { return relu_t(x); });
    case UnaryOp::LeakyRelu: {
      const T s = static_cast<T>(p0);
      return unary_loop<T, T>(it, [s](T x) -> T { return x > 0 ? x : x * s; });
    }
    case UnaryOp::Clamp: {
      if constexpr (std::is_floating_point_v<T>) {
        const T lo = static_cast<T>(p0), hi = static_cast<T>(p1);
        // A NaN bound gives NaN everywhere, as in PyTorch (std::max/std::min would drop it).
        if (lo != lo || hi != hi)
          return unary_loop<T, T>(it, [](T) -> T { return std::numeric_limits<T>::quiet_NaN(); });
        // NaN stays NaN; min is applied before max like PyTorch (lo > hi gives hi).
        return unary_loop<T, T>(it, [lo, hi](T x) -> T { return x != x ? x : std::min(std::max(x, lo), hi); });
      } else {
        const double lo = p0, hi = p1;
        return unary_loop<T, T>(it, [lo, hi](T x) -> T {
          double v = std::min(std::max(static_cast<double>(x), lo), hi);
          return static_cast<T>(v);
        });
      }
    }
    default: break;
  }
  throw RuntimeError("unary_kernel: op not handled");
}

void unary_cpu(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1) {
  ElementwiseIter it(out, {x});
  if (op == UnaryOp::LogicalNot) {
    DL_DISPATCH_ALL(x->dtype(), "logical_not", [&] { unary_loop<bool, scalar_t>(it, [](scalar_t v) { return v == scalar_t(0); }); });
    return;
  }
  if (unary_kind(op) == UnaryKind::F) {
    DL_DISPATCH_FLOAT(x->dtype(), "unary", [&] { float_op<scalar_t>(op, it, scalar_t(p0), scalar_t(p1)); });
  } else if (x->dtype() == DType::Bool) {
    throw TypeError("unary op on a bool tensor is not supported");
  } else {
    DL_DISPATCH_NUMERIC(x->dtype(), "unary", [&] { same_type_op<scalar_t>(op, it, p0, p1); });
  }
}

template <typename T>
void backward_op(UnaryOp op, const ElementwiseIter& it, T p0, T p1) {
  // grad_x = f(g, x) elementwise; `grain` as for the forward loops.
  auto loop = [&](auto f, int64_t grain) {
    cpu_loop(it, [&](char** p, const int64_t* s, int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      const T* g = reinterpret_cast<const T*>(p[1]);
      const T* x = reinterpret_cast<const T*>(p[2]);
      if (s[0] == sizeof(T) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
        for (int64_t i = 0; i < n; ++i) o[i] = f(g[i], x[i]);
      } else {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<T*>(p[0] + i * s[0]) =
              f(*reinterpret_cast<const T*>(p[1] + i * s[1]), *reinterpret_cast<const T*>(p[2] + i * s[2]));
      }
    }, grain);
  };
  auto run = [&](auto df) { loop([df](T g, T x) { return g * df(x); }, kCostly); };
  switch (op) {
    // Selects rather than multiplies, so a non-finite gradient where the input was cut off
    // gives 0, as the where() formula does. `x` may be the input or relu's output (same sign).
    case UnaryOp::Relu: return loop([](T g, T x) { return relu_grad_t(g, x); }, kCheap);
    case UnaryOp::LeakyRelu: return loop([p0](T g, T x) { return x > T(0) ? g : g * p0; }, kCheap);
    case UnaryOp::Gelu:
      return run([](T x) { return T(0.5) * one_plus_erf_t(x * T(kSqrt1_2)) + x * T(kInvSqrt2Pi) * exp_t(T(-0.5) * x * x); });
    case UnaryOp::GeluTanh:
      return run([](T x) {
        T u = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
        T sg = T(1) / (T(1) + exp_t(T(-2) * u));  // (1 + tanh u) / 2
        T t = T(2) * sg - T(1);
        T du = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
        return sg + T(0.5) * x * (T(1) - t * t) * du;
      });
    case UnaryOp::Silu:
      return run([](T x) {
        T sg = T(1) / (T(1) + exp_t(-x));
        return sg * (T(1) + x * (T(1) - sg));
      });
    case UnaryOp::Softplus:
      return run([p0, p1](T x) { return x * p0 > p1 ? T(1) : T(1) / (T(1) + exp_t(-x * p0)); });
    case UnaryOp::Elu: return run([p0](T x) { return x > 0 ? T(1) : p0 * exp_t(x); });
    default: break;
  }
  throw RuntimeError("unary_backward_kernel: op has no fused backward");
}

void unary_backward_cpu(UnaryOp op, const Tensor& grad_x, const Tensor& grad, const Tensor& x, double p0, double p1) {
  ElementwiseIter it(grad_x, {grad, x});
  DL_DISPATCH_FLOAT(x->dtype(), "unary_backward", [&] { backward_op<scalar_t>(op, it, scalar_t(p0), scalar_t(p1)); });
}

// ---- math functions (unary_math_kernel) -------------------------------------------------------

constexpr double kPi = 3.14159265358979323846;

// Inverse error function: Giles' single-precision approximation ("Approximating the erfinv
// function", GPU Computing Gems, 2011), then Newton steps on erf (erfc in the tails, where
// 1 - |y| is exact) to double precision.
double erfinv_d(double y) {
  if (!(y >= -1.0 && y <= 1.0)) return std::numeric_limits<double>::quiet_NaN();
  if (y == 1.0 || y == -1.0) return y * std::numeric_limits<double>::infinity();
  double w = -std::log((1.0 - y) * (1.0 + y)), p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08;
    for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                     -0.00417768164, 0.246640727, 1.50140941})
      p = c + p * w;
  } else {
    w = std::sqrt(w) - 3.0;
    p = -0.000200214257;
    for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
                     1.00167406, 2.83297682})
      p = c + p * w;
  }
  double x = p * y;
  const double a = std::fabs(y);
  for (int i = 0; i < 2; ++i) {
    const double ax = std::fabs(x);
    const double slope = 1.12837916709551257390 * std::exp(-ax * ax);  // erf'(|x|)
    if (slope == 0) break;
    const double err = a > 0.5 ? (1.0 - a) - std::erfc(ax) : std::erf(ax) - a;  // erf(|x|) - |y|
    x = std::copysign(ax - err / slope, y);
  }
  return x;
}

// Reflection for x < 0, the recurrence up to x >= 10, then the asymptotic series.
double digamma_d(double x) {
  if (x == 0) return std::copysign(std::numeric_limits<double>::infinity(), -x);
  if (x < 0) {
    if (x == std::floor(x)) return std::numeric_limits<double>::quiet_NaN();
    const double r = x - std::trunc(x);  // tan(pi x) has period 1 in x
    return digamma_d(1.0 - x) - kPi / std::tan(kPi * r);
  }
  if (std::isinf(x) || std::isnan(x)) return x;
  double acc = 0;
  while (x < 10.0) acc -= 1.0 / x, x += 1.0;
  const double z = 1.0 / (x * x);
  // -1/(2x) - sum B_2k / (2k x^2k), k = 1..7
  const double series = z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (1.0 / 132 -
                                                                                              z * (691.0 / 32760 - z / 12))))));
  return acc + std::log(x) - 0.5 / x - series;
}

double trigamma_d(double x) {
  if (std::isinf(x)) return x > 0 ? 0.0 : std::numeric_limits<double>::quiet_NaN();
  if (x <= 0 && x == std::floor(x)) return std::numeric_limits<double>::infinity();
  if (x < 0) {
    const double sn = std::sin(kPi * (x - std::trunc(x)));
    return kPi * kPi / (sn * sn) - trigamma_d(1.0 - x);
  }
  if (x != x) return x;
  double acc = 0;
  while (x < 10.0) acc += 1.0 / (x * x), x += 1.0;
  const double z = 1.0 / (x * x);
  // 1/x + 1/(2x^2) + sum B_2k / x^(2k+1), k = 1..6
  const double series =
      z * (1.0 / 6 - z * (1.0 / 30 - z * (1.0 / 42 - z * (1.0 / 30 - z * (5.0 / 66 - z * 691.0 / 2730)))));
  return acc + 1.0 / x + 0.5 * z + series / x;
}

// Hurwitz zeta(s, q) = sum_k (q + k)^-s for an integer s > 1: the terms summed directly until
// q + k >= s + 9, the rest by Euler-Maclaurin (the integral, half the first term and the
// Bernoulli corrections B_2j / (2j)! s (s+1) ... (s+2j-2) a^(-s-2j+1)). For q < 0 the m =
// ceil(-q) negative terms are (-1)^s (zeta(s, r) - zeta(s, r + m)), r = 1 - q - m, so that
// no loop runs over |q| terms.
double hurwitz_zeta(double s, double q) {
  if (q != q) return q;
  if (std::isinf(q)) return q > 0 ? 0.0 : std::numeric_limits<double>::quiet_NaN();
  if (q <= 0 && q == std::floor(q)) return std::numeric_limits<double>::infinity();
  if (q < 0) {
    const double m = std::ceil(-q), r = 1.0 - q - m;
    const double sign = std::fmod(s, 2.0) == 0 ? 1.0 : -1.0;
    return sign * (hurwitz_zeta(s, r) - hurwitz_zeta(s, r + m)) + hurwitz_zeta(s, q + m);
  }
  double sum = 0, a = q;
  while (a < s + 9.0) {
    sum += std::pow(a, -s);
    a += 1.0;
  }
  constexpr double kBernoulli[] = {1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6,
                                   -3617.0 / 510};
  sum += std::pow(a, 1.0 - s) / (s - 1.0) + 0.5 * std::pow(a, -s);
  double rising = s, factorial = 2.0, power = std::pow(a, -s - 1.0);  // s..(s+2j-2), (2j)!, a^(-s-2j+1)
  for (int j = 1; j <= 8; ++j) {
    const double term = kBernoulli[j - 1] / factorial * rising * power;
    sum += term;
    if (std::fabs(term) < 1e-17 * std::fabs(sum)) break;
    rising *= (s + 2 * j - 1) * (s + 2 * j);
    factorial *= (2.0 * j + 1) * (2.0 * j + 2);
    power /= a * a;
  }
  return sum;
}

// The n-th derivative of digamma: (-1)^(n+1) n! zeta(n + 1, x) for n >= 2.
double polygamma_d(int64_t n, double x) {
  if (n == 0) return digamma_d(x);
  if (n == 1) return trigamma_d(x);
  double factorial = 1.0;
  for (int64_t k = 2; k <= n; ++k) factorial *= static_cast<double>(k);
  return (n % 2 ? 1.0 : -1.0) * factorial * hurwitz_zeta(static_cast<double>(n) + 1.0, x);
}

// Modified Bessel functions I0 and I1 of |x|: the power series sum (x/2)^(2k+n) / (k! (k+n)!)
// (positive terms, so no cancellation) up to 30, then the asymptotic expansion
// e^x / sqrt(2 pi x) * sum (-1)^k prod_{j<=k} (4n^2 - (2j-1)^2) / (k! (8x)^k), whose smallest
// term there is below 1e-25 of the sum.
double bessel_i_abs(int n, double a) {
  if (a != a || std::isinf(a)) return a;
  if (a <= 30.0) {
    const double q = 0.25 * a * a;
    double term = n == 0 ? 1.0 : 0.5 * a, sum = term;
    for (int k = 1; k < 200 && term > sum * 1e-17; ++k) {
      term *= q / (k * static_cast<double>(k + n));
      sum += term;
    }
    return sum;
  }
  const double mu = 4.0 * n * n;
  double term = 1.0, sum = 1.0;
  for (int k = 1; k < 40 && std::fabs(term) > 1e-17 * std::fabs(sum); ++k) {
    const double odd = 2.0 * k - 1.0;
    term *= -(mu - odd * odd) / (k * 8.0 * a);
    sum += term;
  }
  return std::exp(a - 0.5 * std::log(2.0 * kPi * a)) * sum;  // no overflow before the result's own
}

double i0_d(double x) { return bessel_i_abs(0, std::fabs(x)); }
double i1_d(double x) { return std::copysign(bessel_i_abs(1, std::fabs(x)), x); }

// round(x, decimals) as x * 10^d rounded half to even, then / 10^d (x / 10^-d, * 10^-d for d < 0).
template <typename T>
T round_decimals(T x, int64_t d, T scale) {
  if (d >= 0) return std::nearbyint(x * scale) / scale;
  return std::nearbyint(x / scale) * scale;
}

template <typename T>
void math_float_op(MathOp op, const ElementwiseIter& it, double p0, double p1, double p2) {
  // Computed in double for float32 too where libm or the code above has no float version.
  auto dbl = [&](double (*f)(double)) {
    return unary_loop<T, T>(it, [f](T x) { return static_cast<T>(f(static_cast<double>(x))); }, kCostly);
  };
  switch (op) {
    case MathOp::Acos: return unary_loop<T, T>(it, [](T x) { return std::acos(x); }, kCostly);
    case MathOp::Asin: return unary_loop<T, T>(it, [](T x) { return std::asin(x); }, kCostly);
    case MathOp::Atan: return unary_loop<T, T>(it, [](T x) { return std::atan(x); }, kCostly);
    case MathOp::Sinh: return unary_loop<T, T>(it, [](T x) { return std::sinh(x); }, kCostly);
    case MathOp::Cosh: return unary_loop<T, T>(it, [](T x) { return std::cosh(x); }, kCostly);
    case MathOp::Tan: return unary_loop<T, T>(it, [](T x) { return std::tan(x); }, kCostly);
    case MathOp::Asinh: return unary_loop<T, T>(it, [](T x) { return std::asinh(x); }, kCostly);
    case MathOp::Acosh: return unary_loop<T, T>(it, [](T x) { return std::acosh(x); }, kCostly);
    case MathOp::Atanh: return unary_loop<T, T>(it, [](T x) { return std::atanh(x); }, kCostly);
    case MathOp::Erf: return unary_loop<T, T>(it, [](T x) { return erf_t(x); }, kCostly);
    case MathOp::Erfc: return unary_loop<T, T>(it, [](T x) { return std::erfc(x); }, kCostly);
    case MathOp::Erfinv: return dbl(&erfinv_d);
    case MathOp::Lgamma: return unary_loop<T, T>(it, [](T x) { return std::lgamma(x); }, kCostly);
    case MathOp::Digamma: return dbl(&digamma_d);
    case MathOp::Polygamma: {
      const int64_t n = static_cast<int64_t>(p0);
      return unary_loop<T, T>(it, [n](T x) { return static_cast<T>(polygamma_d(n, static_cast<double>(x))); },
                              kCostly);
    }
    case MathOp::Exp2: return unary_loop<T, T>(it, [](T x) { return std::exp2(x); }, kCostly);
    case MathOp::Expm1: return unary_loop<T, T>(it, [](T x) { return expm1_t(x); }, kCostly);
    case MathOp::Log2: return unary_loop<T, T>(it, [](T x) { return std::log2(x); }, kCostly);
    case MathOp::Log10: return unary_loop<T, T>(it, [](T x) { return std::log10(x); }, kCostly);
    case MathOp::Reciprocal: return unary_loop<T, T>(it, [](T x) { return T(1) / x; });
    case MathOp::I0: return dbl(&i0_d);
    case MathOp::I1: return dbl(&i1_d);
    case MathOp::Sinc:
      return unary_loop<T, T>(it, [](T x) {
        if (x == T(0)) return T(1);
        const double px = kPi * static_cast<double>(x);
        return static_cast<T>(std::sin(px) / px);
      }, kCostly);
    case MathOp::Logit: {
      const T lo = static_cast<T>(p0), hi = static_cast<T>(1.0 - p0);
      if (p0 < 0) return unary_loop<T, T>(it, [](T x) { return std::log(x / (T(1) - x)); }, kCostly);
      return unary_loop<T, T>(it, [lo, hi](T x) {
        const T z = x < lo ? lo : (x > hi ? hi : x);  // NaN stays NaN
        return std::log(z / (T(1) - z));
      }, kCostly);
    }
    case MathOp::Floor: return unary_loop<T, T>(it, [](T x) { return std::floor(x); });
    case MathOp::Ceil: return unary_loop<T, T>(it, [](T x) { return std::ceil(x); });
    case MathOp::Trunc: return unary_loop<T, T>(it, [](T x) { return std::trunc(x); });
    case MathOp::Round: {
      const int64_t d = static_cast<int64_t>(p0);
      if (d == 0) return unary_loop<T, T>(it, [](T x) { return std::nearbyint(x); });
      const T scale = static_cast<T>(std::pow(10.0, static_cast<double>(d < 0 ? -d : d)));
      return unary_loop<T, T>(it, [d, scale](T x) { return round_decimals(x, d, scale); });
    }
    case MathOp::NanToNum: {
      const T nan = static_cast<T>(p0), pos = static_cast<T>(p1), neg = static_cast<T>(p2);
      return unary_loop<T, T>(it, [nan, pos, neg](T x) {
        constexpr T inf = std::numeric_limits<T>::infinity();
        return x != x ? nan : (x == inf ? pos : (x == -inf ? neg : x));
      });
    }
    default: break;
  }
  throw RuntimeError("unary_math_kernel: op not handled for floating dtypes");
}

template <typename T>
void math_predicate(MathOp op, const ElementwiseIter& it) {
  if constexpr (std::is_floating_point_v<T>) {
    constexpr T inf = std::numeric_limits<T>::infinity();
    switch (op) {
      case MathOp::Isnan: return unary_loop<bool, T>(it, [](T x) { return x != x; });
      case MathOp::Isinf: return unary_loop<bool, T>(it, [](T x) { return x == inf || x == -inf; });
      case MathOp::Isfinite: return unary_loop<bool, T>(it, [](T x) { return std::fabs(x) < inf; });
      case MathOp::Isposinf: return unary_loop<bool, T>(it, [](T x) { return x == inf; });
      case MathOp::Isneginf: return unary_loop<bool, T>(it, [](T x) { return x == -inf; });
      case MathOp::Signbit: return unary_loop<bool, T>(it, [](T x) { return std::signbit(x); });
      default: break;
    }
  } else {
    switch (op) {
      case MathOp::Isnan: case MathOp::Isinf: case MathOp::Isposinf: case MathOp::Isneginf:
        return unary_loop<bool, T>(it, [](T) { return false; });
      case MathOp::Isfinite: return unary_loop<bool, T>(it, [](T) { return true; });
      case MathOp::Signbit: return unary_loop<bool, T>(it, [](T x) { return x < T(0); });
      default: break;
    }
  }
  throw RuntimeError("unary_math_kernel: not a predicate");
}

void unary_math_cpu(MathOp op, const Tensor& out, const Tensor& x, double p0, double p1, double p2) {
  ElementwiseIter it(out, {x});
  if (math_kind(op) == UnaryKind::B) {
    DL_DISPATCH_ALL(x->dtype(), "unary_math", [&] { math_predicate<scalar_t>(op, it); });
  } else if (is_floating(x->dtype())) {
    DL_DISPATCH_FLOAT(x->dtype(), "unary_math", [&] { math_float_op<scalar_t>(op, it, p0, p1, p2); });
  } else {
    // Rounding and nan_to_num leave integers and bools as they are.
    DL_DISPATCH_ALL(x->dtype(), "unary_math",
                    [&] { unary_loop<scalar_t, scalar_t>(it, [](scalar_t v) { return v; }); });
  }
}

// ---- prelu (Note [Fused prelu] in ops/unary.cpp) ----------------------------------------------

template <typename T>
void prelu_t(T* y, const T* x, const T* w, int64_t rows, int64_t channels, int64_t inner) {
  parallel_for(0, rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, inner)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T a = w[r % channels];
      const T* xr = x + r * inner;
      T* yr = y + r * inner;
      for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] > T(0) ? xr[i] : a * xr[i];
    }
  });
}

template <typename T>
void prelu_backward_t(T* gx, double* parts, const T* g, const T* x, const T* w, int64_t rows, int64_t channels,
                      int64_t inner) {
  parallel_for(0, rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, inner)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T a = w[r % channels];
      const T* xr = x + r * inner;
      const T* gr = g + r * inner;
      T* out = gx + r * inner;
      T acc[16] = {};  // 16 lanes: vectorises without reassociation
      int64_t i = 0;
      for (; i + 16 <= inner; i += 16)
        for (int j = 0; j < 16; ++j) {
          const bool pos = xr[i + j] > T(0);
          out[i + j] = pos ? gr[i + j] : a * gr[i + j];
          acc[j] += pos ? T(0) : gr[i + j] * xr[i + j];
        }
      double sum = 0;
      for (; i < inner; ++i) {
        const bool pos = xr[i] > T(0);
        out[i] = pos ? gr[i] : a * gr[i];
        sum += pos ? 0.0 : static_cast<double>(gr[i]) * xr[i];
      }
      for (int j = 0; j < 16; ++j) sum += acc[j];
      parts[r] = sum;
    }
  });
}

void prelu_cpu(const Tensor& y, const Tensor& x, const Tensor& w, int64_t inner) {
  const int64_t rows = inner ? x->numel() / inner : 0;
  if (x->dtype() == DType::Float64)
    return prelu_t(y->data<double>(), x->data<double>(), w->data<double>(), rows, w->numel(), inner);
  prelu_t(y->data<float>(), x->data<float>(), w->data<float>(), rows, w->numel(), inner);
}

void prelu_backward_cpu(const Tensor& gx, const Tensor& parts, const Tensor& g, const Tensor& x, const Tensor& w,
                        int64_t inner) {
  const int64_t rows = inner ? x->numel() / inner : 0;
  if (x->dtype() == DType::Float64)
    return prelu_backward_t(gx->data<double>(), parts->data<double>(), g->data<double>(), x->data<double>(),
                            w->data<double>(), rows, w->numel(), inner);
  prelu_backward_t(gx->data<float>(), parts->data<double>(), g->data<float>(), x->data<float>(), w->data<float>(),
                   rows, w->numel(), inner);
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(unary_kernel, unary_cpu);
DL_REGISTER_CPU_KERNEL(unary_backward_kernel, unary_backward_cpu);
DL_REGISTER_CPU_KERNEL(unary_math_kernel, unary_math_cpu);
DL_REGISTER_CPU_KERNEL(prelu_kernel, prelu_cpu);
DL_REGISTER_CPU_KERNEL(prelu_backward_kernel, prelu_backward_cpu);

}  // namespace dlcore
