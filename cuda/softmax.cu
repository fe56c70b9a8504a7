// CUDA softmax and log-softmax, forward and backward (Note [Softmax layout] in ops/softmax.h;
// CPU reference: cpu/softmax.cpp), for float32, float64, float16 and bfloat16 (16-bit types
// computed in float).
//
// Note [CUDA softmax]
// Rows (inner == 1, the last dim): one block per row; the threads stride along it for the
// max, then the sum of exp(x - max) (block reductions, cuda/block.cuh), then write. Other
// dims (inner > 1): one thread per (outer, inner) column walking `red` with stride inner, so
// that a warp's loads are consecutive along inner; three passes over the column (max, sum,
// write). The backward is the same two shapes with the row sum of grad_y * y (softmax) or of
// grad_y (log-softmax).
#include "block.cuh"
#include "loops.cuh"
#include "ops/softmax.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int kSoftmaxThreads = 256;

template <typename T, bool kLog>
__global__ void __launch_bounds__(kSoftmaxThreads) softmax_rows(T* y, const T* x, int64_t red) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const T* xr = x + blockIdx.x * red;
  T* yr = y + blockIdx.x * red;
  A m = -INFINITY;
  for (int64_t r = threadIdx.x; r < red; r += blockDim.x) m = MaxOp{}(m, cast<A>(xr[r]));
  m = block_reduce(m, MaxOp{}, A(-INFINITY), scratch);
  A s = 0;
  for (int64_t r = threadIdx.x; r < red; r += blockDim.x) s += exp_(cast<A>(xr[r]) - m);
  s = block_reduce(s, SumOp{}, A(0), scratch);
  if (kLog) {
    const A ls = log_(s);
    for (int64_t r = threadIdx.x; r < red; r += blockDim.x) yr[r] = cast<T>(cast<A>(xr[r]) - m - ls);
  } else {
    const A inv = A(1) / s;
    for (int64_t r = threadIdx.x; r < red; r += blockDim.x) yr[r] = cast<T>(exp_(cast<A>(xr[r]) - m) * inv);
  }
}

template <typename T, bool kLog>
__global__ void softmax_cols(T* y, const T* x, int64_t outer, int64_t red, int64_t inner) {
  using A = acc_t<T>;
  const int64_t cols = outer * inner;
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < cols; q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = q / inner * red * inner + q % inner;
    A m = -INFINITY;
    for (int64_t r = 0; r < red; ++r) m = MaxOp{}(m, cast<A>(x[base + r * inner]));
    A s = 0;
    for (int64_t r = 0; r < red; ++r) s += exp_(cast<A>(x[base + r * inner]) - m);
    const A ls = log_(s), inv = A(1) / s;
    for (int64_t r = 0; r < red; ++r) {
      const A v = cast<A>(x[base + r * inner]) - m;
      y[base + r * inner] = cast<T>(kLog ? v - ls : exp_(v) * inv);
    }
  }
}

// softmax: gx = y * (gy - sum(gy * y)); log_softmax: gx = gy - exp(y) * sum(gy).
template <typename T, bool kLog>
__global__ void __launch_bounds__(kSoftmaxThreads) softmax_bwd_rows(T* gx, const T* gy, const T* y, int64_t red) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t off = blockIdx.x * red;
  A s = 0;
  for (int64_t r = threadIdx.x; r < red; r += blockDim.x)
    s += kLog ? cast<A>(gy[off + r]) : cast<A>(gy[off + r]) * cast<A>(y[off + r]);
  s = block_reduce(s, SumOp{}, A(0), scratch);
  for (int64_t r = threadIdx.x; r < red; r += blockDim.x) {
    const A g = cast<A>(gy[off + r]), v = cast<A>(y[off + r]);
    gx[off + r] = cast<T>(kLog ? g - exp_(v) * s : v * (g - s));
  }
}

template <typename T, bool kLog>
__global__ void softmax_bwd_cols(T* gx, const T* gy, const T* y, int64_t outer, int64_t red, int64_t inner) {
  using A = acc_t<T>;
  const int64_t cols = outer * inner;
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < cols; q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = q / inner * red * inner + q % inner;
    A s = 0;
    for (int64_t r = 0; r < red; ++r) {
      const int64_t e = base + r * inner;
      s += kLog ? cast<A>(gy[e]) : cast<A>(gy[e]) * cast<A>(y[e]);
    }
    for (int64_t r = 0; r < red; ++r) {
      const int64_t e = base + r * inner;
      const A g = cast<A>(gy[e]), v = cast<A>(y[e]);
      gx[e] = cast<T>(kLog ? g - exp_(v) * s : v * (g - s));
    }
  }
}

template <typename T>
void softmax_typed(bool log, const Tensor& y, const Tensor& x, int64_t outer, int64_t red, int64_t inner) {
  using D = device_t<T>;
  D* yp = static_cast<D*>(y->raw_data());
  const D* xp = static_cast<const D*>(x->raw_data());
  if (inner == 1) {
    if (outer > 0x7fffffff) throw ValueError(str_cat("softmax: ", outer, " rows is too many for one launch"));
    const unsigned grid = static_cast<unsigned>(outer);
    if (log) softmax_rows<D, true><<<grid, kSoftmaxThreads>>>(yp, xp, red);
    else softmax_rows<D, false><<<grid, kSoftmaxThreads>>>(yp, xp, red);
  } else {
    if (log) softmax_cols<D, true><<<grid_for(outer * inner), kBlock>>>(yp, xp, outer, red, inner);
    else softmax_cols<D, false><<<grid_for(outer * inner), kBlock>>>(yp, xp, outer, red, inner);
  }
  DL_CUDA_LAUNCH_CHECK();
}

template <typename T>
void softmax_backward_typed(bool log, const Tensor& gx, const Tensor& gy, const Tensor& y, int64_t outer, int64_t red,
                            int64_t inner) {
  using D = device_t<T>;
  D* gxp = static_cast<D*>(gx->raw_data());
  const D* gyp = static_cast<const D*>(gy->raw_data());
  const D* yp = static_cast<const D*>(y->raw_data());
  if (inner == 1) {
    if (outer > 0x7fffffff) throw ValueError(str_cat("softmax: ", outer, " rows is too many for one launch"));
    const unsigned grid = static_cast<unsigned>(outer);
    if (log) softmax_bwd_rows<D, true><<<grid, kSoftmaxThreads>>>(gxp, gyp, yp, red);
    else softmax_bwd_rows<D, false><<<grid, kSoftmaxThreads>>>(gxp, gyp, yp, red);
  } else {
    if (log) softmax_bwd_cols<D, true><<<grid_for(outer * inner), kBlock>>>(gxp, gyp, yp, outer, red, inner);
    else softmax_bwd_cols<D, false><<<grid_for(outer * inner), kBlock>>>(gxp, gyp, yp, outer, red, inner);
  }
  DL_CUDA_LAUNCH_CHECK();
}

void softmax_cuda(bool log, const Tensor& y, const Tensor& x, int64_t outer, int64_t red, int64_t inner) {
  if (outer * red * inner == 0) return;
  DeviceGuard guard(x->device().index);
  switch (x->dtype()) {
    case DType::Float32: return softmax_typed<float>(log, y, x, outer, red, inner);
    case DType::Float64: return softmax_typed<double>(log, y, x, outer, red, inner);
    case DType::Float16: return softmax_typed<Half>(log, y, x, outer, red, inner);
    case DType::BFloat16: return softmax_typed<BFloat16>(log, y, x, outer, red, inner);
    default: break;
  }
  throw TypeError(str_cat(log ? "log_softmax" : "softmax", ": unsupported dtype ", dtype_name(x->dtype()), " on CUDA"));
}

void softmax_backward_cuda(bool log, const Tensor& gx, const Tensor& gy, const Tensor& y, int64_t outer, int64_t red,
                           int64_t inner) {
  if (outer * red * inner == 0) return;
  DeviceGuard guard(y->device().index);
  switch (y->dtype()) {
    case DType::Float32: return softmax_backward_typed<float>(log, gx, gy, y, outer, red, inner);
    case DType::Float64: return softmax_backward_typed<double>(log, gx, gy, y, outer, red, inner);
    case DType::Float16: return softmax_backward_typed<Half>(log, gx, gy, y, outer, red, inner);
    case DType::BFloat16: return softmax_backward_typed<BFloat16>(log, gx, gy, y, outer, red, inner);
    default: break;
  }
  throw TypeError(str_cat(log ? "log_softmax" : "softmax", ": unsupported dtype ", dtype_name(y->dtype()), " on CUDA"));
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(softmax_kernel, CUDA, cuda::softmax_cuda);
DL_REGISTER_KERNEL(softmax_backward_kernel, CUDA, cuda::softmax_backward_cuda);

}  // namespace dlcore
