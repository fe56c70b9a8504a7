// CUDA elementwise binary ops and where() (CPU reference: cpu/binary.cpp).
//
// binary_cuda(op, out, a, b): a and b share the compute dtype (float32, float64, int32,
//   int64, bool, float16, bfloat16) and broadcast to out; out has that dtype, or bool for
//   comparisons and logical ops. 16-bit floats are loaded, computed in float and rounded
//   once on store. One kernel per (op, dtype) through launch_elementwise (loops.cuh:
//   vectorised contiguous version, strided version).
// where_cuda(out, cond, a, b): cond bool; a, b, out one dtype. Only the element size
//   matters, so it runs on 1/2/4/8-byte words.
#include "dlcore/scalar_math.h"
#include "loops.cuh"
#include "ops/binary.h"

namespace dlcore {
namespace cuda {
namespace {

__device__ __forceinline__ float pow_(float a, float b) { return ::powf(a, b); }
__device__ __forceinline__ double pow_(double a, double b) { return ::pow(a, b); }

// a OP b in the compute type T (acc_t of the storage type). Mirrors cpu/binary.cpp.
template <BinaryOp OP>
struct BinaryFn {
  template <typename T>
  __device__ __forceinline__ auto operator()(T a, T b) const {
    constexpr bool is_bool = std::is_same_v<T, bool>;
    constexpr bool is_float = std::is_floating_point_v<T>;
    if constexpr (OP == BinaryOp::Add) {
      if constexpr (is_bool) return T(a || b);
      else return T(a + b);
    } else if constexpr (OP == BinaryOp::Sub) {
      return T(a - b);
    } else if constexpr (OP == BinaryOp::Mul) {
      if constexpr (is_bool) return T(a && b);
      else return T(a * b);
    } else if constexpr (OP == BinaryOp::Div) {
      return T(a / b);
    } else if constexpr (OP == BinaryOp::Pow) {
      if constexpr (is_float) return pow_(a, b);
      else if constexpr (is_bool) return T(a || !b);
      else return pow_int(a, b);
    } else if constexpr (OP == BinaryOp::Minimum) {
      // NaN propagates from either side.
      if constexpr (is_float) return (a != a || a < b) ? a : (b != b ? b : b < a ? b : a);
      else return a < b ? a : b;
    } else if constexpr (OP == BinaryOp::Maximum) {
      if constexpr (is_float) return (a != a || a > b) ? a : (b != b ? b : b > a ? b : a);
      else return a > b ? a : b;
    } else if constexpr (OP == BinaryOp::BitwiseAnd) {  // integers and bool only (binary_typed)
      return T(a & b);
    } else if constexpr (OP == BinaryOp::BitwiseOr) {
      return T(a | b);
    } else if constexpr (OP == BinaryOp::BitwiseXor) {
      return T(a ^ b);
    } else if constexpr (OP == BinaryOp::Eq) {
      return a == b;
    } else if constexpr (OP == BinaryOp::Ne) {
      return a != b;
    } else if constexpr (OP == BinaryOp::Lt) {
      return a < b;
    } else if constexpr (OP == BinaryOp::Le) {
      return a <= b;
    } else if constexpr (OP == BinaryOp::Gt) {
      return a > b;
    } else if constexpr (OP == BinaryOp::Ge) {
      return a >= b;
    } else if constexpr (OP == BinaryOp::LogicalAnd) {
      return a != T(0) && b != T(0);
    } else if constexpr (OP == BinaryOp::LogicalOr) {
      return a != T(0) || b != T(0);
    } else {
      static_assert(OP == BinaryOp::LogicalXor, "unhandled BinaryOp");
      return (a != T(0)) != (b != T(0));
    }
  }
};

constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }
constexpr bool is_bitwise(BinaryOp op) {
  return op == BinaryOp::BitwiseAnd || op == BinaryOp::BitwiseOr || op == BinaryOp::BitwiseXor;
}

template <BinaryOp OP>
void binary_typed(const ElementwiseIter& it, int dev, DType dtype) {
  DL_DISPATCH_ALL_AND_HALF(dtype, "binary", [&] {
    using T = device_t<scalar_t>;
    // Division of integers never gets here: the op computes it in float32; nor do bitwise ops
    // of floats (the op raises).
    constexpr bool is_float = std::is_floating_point_v<acc_t<T>>;
    constexpr bool supported = !(OP == BinaryOp::Div && !is_float) && !(is_bitwise(OP) && is_float);
    if constexpr (supported) {
      using Out = std::conditional_t<is_comparison(OP), bool, T>;
      launch_elementwise<Out, T, T>(it, dev, Computed<Out, T, BinaryFn<OP>>{});
    } else {
      throw TypeError(str_cat("binary_kernel: op not supported for ", dtype_name(dtype), " on CUDA"));
    }
  });
}

void binary_cuda(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  ElementwiseIter it(out, {a, b});
  const int dev = out->device().index;
  switch (op) {
#define DLCORE_BINARY_CASE(E, N) \
  case BinaryOp::E: return binary_typed<BinaryOp::E>(it, dev, a->dtype());
    DLCORE_BINARY_OPS(DLCORE_BINARY_CASE)
#undef DLCORE_BINARY_CASE
  }
  throw RuntimeError("binary_kernel: unknown op");
}

struct Select {
  template <typename W>
  __device__ __forceinline__ W operator()(bool c, W a, W b) const { return c ? a : b; }
};

void where_cuda(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  ElementwiseIter it(out, {cond, a, b});
  const int dev = out->device().index;
  switch (out->itemsize()) {
    case 1: return launch_elementwise<uint8_t, bool, uint8_t, uint8_t>(it, dev, Select{});
    case 2: return launch_elementwise<uint16_t, bool, uint16_t, uint16_t>(it, dev, Select{});
    case 4: return launch_elementwise<uint32_t, bool, uint32_t, uint32_t>(it, dev, Select{});
    case 8: return launch_elementwise<uint64_t, bool, uint64_t, uint64_t>(it, dev, Select{});
    default: break;
  }
  throw RuntimeError(str_cat("where: unexpected element size ", out->itemsize()));
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(binary_kernel, CUDA, cuda::binary_cuda);
DL_REGISTER_KERNEL(where_kernel, CUDA, cuda::where_cuda);

}  // namespace dlcore
