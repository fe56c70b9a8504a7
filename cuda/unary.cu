// CUDA elementwise unary ops, activations and the fused activation backward
// (CPU reference: cpu/unary.cpp).
//
// unary_cuda(op, out, x, p0, p1):
//   kind F (exp ... elu): float32, float64, and float16/bfloat16 computed in float;
//   kind S (neg, abs, sign, relu, leaky_relu, clamp): those plus int32/int64;
//   logical_not: every dtype, bool result.
//   Parameters as in ops/unary.h: leaky_relu (slope), softplus (beta, threshold), elu
//   (alpha), clamp (min, max; +-inf when absent).
// unary_backward_cuda(op, grad_x, grad, x, p0, p1): grad_x = grad * f'(x) for gelu,
//   gelu_tanh, silu, softplus, elu; same dtypes as kind F.
// Layout: anything ElementwiseIter accepts; one kernel per (op, dtype) through
// launch_elementwise (loops.cuh: vectorised contiguous version, strided version).
// Math is the CUDA libdevice float/double functions; results match the CPU's within a few ulp.
#include "activations.cuh"
#include "loops.cuh"
#include "ops/unary.h"

namespace dlcore {
namespace cuda {
namespace {

// float -> the `f` function, double -> the plain one (exp_, log_: block.cuh; tanh_, erfc_:
// activations.cuh).
#define DL_CUDA_MATH_FN(name)                                                       \
  __device__ __forceinline__ float name##_(float x) { return ::name##f(x); }        \
  __device__ __forceinline__ double name##_(double x) { return ::name(x); }
DL_CUDA_MATH_FN(expm1)
DL_CUDA_MATH_FN(log1p)
DL_CUDA_MATH_FN(sqrt)
DL_CUDA_MATH_FN(sin)
DL_CUDA_MATH_FN(cos)
#undef DL_CUDA_MATH_FN

constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// f(x; p0, p1) in the compute type T (acc_t of the storage type, or double bounds for
// integer clamp). Mirrors cpu/unary.cpp.
template <UnaryOp OP, typename P>
struct UnaryFn {
  P p0, p1;
  template <typename T>
  __device__ __forceinline__ T operator()(T x) const {
    if constexpr (OP == UnaryOp::Neg) return -x;
    else if constexpr (OP == UnaryOp::Abs) return x < T(0) ? -x : x;
    else if constexpr (OP == UnaryOp::Sign) return T((T(0) < x) - (x < T(0)));
    else if constexpr (OP == UnaryOp::Relu) return relu_(x);
    else if constexpr (OP == UnaryOp::LeakyRelu) return x > T(0) ? x : T(x * static_cast<T>(p0));
    else if constexpr (OP == UnaryOp::Clamp) {
      // NaN stays NaN, and a NaN bound gives NaN (PyTorch); max(x, lo) then min(., hi) like
      // std::min/std::max (lo > hi gives hi). Integers compare in double (P = double), so +-inf
      // bounds work (a NaN bound never reaches them: the op computes that in float).
      if constexpr (std::is_floating_point_v<T>) {
        if (x != x) return x;
        const T lo = T(p0), hi = T(p1);
        if (lo != lo || hi != hi) return lo != lo ? lo : hi;
        const T v = x < lo ? lo : x;
        return hi < v ? hi : v;
      } else {
        const double v = static_cast<double>(x) < p0 ? p0 : static_cast<double>(x);
        return static_cast<T>(p1 < v ? p1 : v);
      }
    }
    else if constexpr (OP == UnaryOp::Exp) return exp_(x);
    else if constexpr (OP == UnaryOp::Log) return log_(x);
    else if constexpr (OP == UnaryOp::Log1p) return log1p_(x);
    else if constexpr (OP == UnaryOp::Sqrt) return sqrt_(x);
    else if constexpr (OP == UnaryOp::Rsqrt) return T(1) / sqrt_(x);
    else if constexpr (OP == UnaryOp::Sin) return sin_(x);
    else if constexpr (OP == UnaryOp::Cos) return cos_(x);
    else if constexpr (OP == UnaryOp::Sigmoid) return T(1) / (T(1) + exp_(-x));
    else if constexpr (OP == UnaryOp::Tanh) return tanh_(x);
    else if constexpr (OP == UnaryOp::Gelu) return gelu_(x);
    else if constexpr (OP == UnaryOp::GeluTanh) return gelu_tanh_(x);
    else if constexpr (OP == UnaryOp::Silu) return silu_(x);
    else if constexpr (OP == UnaryOp::Softplus) return x * T(p0) > T(p1) ? x : log1p_(exp_(x * T(p0))) / T(p0);
    else {
      static_assert(OP == UnaryOp::Elu, "unhandled UnaryOp");
      return x > T(0) ? x : T(p0) * expm1_(x);
    }
  }
};

struct LogicalNotFn {
  template <typename T>
  __device__ __forceinline__ bool operator()(T x) const { return x == T(0); }
};

// logical_not: every dtype. Kind S ops: floats and integers. Kind F ops: floats only.
template <UnaryOp OP>
void unary_typed(const ElementwiseIter& it, int dev, DType dtype, double p0, double p1) {
  if constexpr (OP == UnaryOp::LogicalNot) {
    DL_DISPATCH_ALL_AND_HALF(dtype, "logical_not", [&] {
      using T = device_t<scalar_t>;
      launch_elementwise<bool, T>(it, dev, Computed<bool, T, LogicalNotFn>{});
    });
  } else {
    constexpr bool float_only = !(OP == UnaryOp::Neg || OP == UnaryOp::Abs || OP == UnaryOp::Sign ||
                                  OP == UnaryOp::Relu || OP == UnaryOp::LeakyRelu || OP == UnaryOp::Clamp);
    DL_CHECK(dtype != DType::Bool && (!float_only || is_floating(dtype)), TypeError, "unary_kernel: ",
             dtype_name(dtype), " is not supported by this op on CUDA");
    DL_DISPATCH_ALL_AND_HALF(dtype, "unary", [&] {
      using T = device_t<scalar_t>;
      using C = acc_t<T>;
      if constexpr (!std::is_same_v<T, bool> && (!float_only || std::is_floating_point_v<C>)) {
        // Integer clamp compares in double (bounds may be +-inf); everything else in C.
        using P = std::conditional_t<OP == UnaryOp::Clamp && !std::is_floating_point_v<C>, double, C>;
        const UnaryFn<OP, P> fn{static_cast<P>(p0), static_cast<P>(p1)};
        launch_elementwise<T, T>(it, dev, Computed<T, T, UnaryFn<OP, P>>{fn});
      }
    });
  }
}

void unary_cuda(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1) {
  ElementwiseIter it(out, {x});
  const int dev = out->device().index;
  switch (op) {
#define DLCORE_UNARY_CASE(E, N, K) \
  case UnaryOp::E: return unary_typed<UnaryOp::E>(it, dev, x->dtype(), p0, p1);
    DLCORE_UNARY_OPS(DLCORE_UNARY_CASE)
#undef DLCORE_UNARY_CASE
  }
  throw RuntimeError("unary_kernel: unknown op");
}

// grad * f'(x) in the compute type T (P is the same type).
template <UnaryOp OP, typename P>
struct UnaryBackwardFn {
  P p0, p1;
  template <typename T>
  __device__ __forceinline__ T operator()(T g, T x) const {
    if constexpr (OP == UnaryOp::Gelu) {
      return g * (T(0.5) * erfc_(-x * T(kSqrt1_2)) + x * T(kInvSqrt2Pi) * exp_(T(-0.5) * x * x));
    } else if constexpr (OP == UnaryOp::GeluTanh) {
      const T u = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
      const T sg = T(1) / (T(1) + exp_(T(-2) * u));  // (1 + tanh u) / 2
      const T t = T(2) * sg - T(1);
      const T du = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
      return g * (sg + T(0.5) * x * (T(1) - t * t) * du);
    } else if constexpr (OP == UnaryOp::Silu) {
      const T sg = T(1) / (T(1) + exp_(-x));
      return g * (sg * (T(1) + x * (T(1) - sg)));
    } else if constexpr (OP == UnaryOp::Softplus) {
      return g * (x * p0 > p1 ? T(1) : T(1) / (T(1) + exp_(-x * p0)));
    } else {
      static_assert(OP == UnaryOp::Elu, "unhandled UnaryOp");
      return g * (x > T(0) ? T(1) : p0 * exp_(x));
    }
  }
};

template <UnaryOp OP>
void backward_typed(const ElementwiseIter& it, int dev, DType dtype, double p0, double p1) {
  DL_CHECK(is_floating(dtype), TypeError, "unary_backward_kernel: expected a floating dtype, got ", dtype_name(dtype));
  DL_DISPATCH_ALL_AND_HALF(dtype, "unary_backward", [&] {
    using T = device_t<scalar_t>;
    using C = acc_t<T>;
    if constexpr (std::is_floating_point_v<C>) {
      const UnaryBackwardFn<OP, C> fn{static_cast<C>(p0), static_cast<C>(p1)};
      launch_elementwise<T, T, T>(it, dev, Computed<T, T, UnaryBackwardFn<OP, C>>{fn});
    }
  });
}

void unary_backward_cuda(UnaryOp op, const Tensor& grad_x, const Tensor& grad, const Tensor& x, double p0, double p1) {
  ElementwiseIter it(grad_x, {grad, x});
  const int dev = grad_x->device().index;
  switch (op) {
    case UnaryOp::Gelu: return backward_typed<UnaryOp::Gelu>(it, dev, x->dtype(), p0, p1);
    case UnaryOp::GeluTanh: return backward_typed<UnaryOp::GeluTanh>(it, dev, x->dtype(), p0, p1);
    case UnaryOp::Silu: return backward_typed<UnaryOp::Silu>(it, dev, x->dtype(), p0, p1);
    case UnaryOp::Softplus: return backward_typed<UnaryOp::Softplus>(it, dev, x->dtype(), p0, p1);
    case UnaryOp::Elu: return backward_typed<UnaryOp::Elu>(it, dev, x->dtype(), p0, p1);
    default: break;
  }
  throw RuntimeError("unary_backward_kernel: op has no fused backward");
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(unary_kernel, CUDA, cuda::unary_cuda);
DL_REGISTER_KERNEL(unary_backward_kernel, CUDA, cuda::unary_backward_cuda);

}  // namespace dlcore
