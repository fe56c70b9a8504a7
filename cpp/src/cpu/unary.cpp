// CPU elementwise unary kernels and the fused activation backward. Compiled per CPU
// capability; float32 exp/sigmoid/silu/gelu use the vectorisable vec_math.h functions.
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
DL_REGISTER_CPU_KERNEL(prelu_kernel, prelu_cpu);
DL_REGISTER_CPU_KERNEL(prelu_backward_kernel, prelu_backward_cpu);

}  // namespace dlcore
