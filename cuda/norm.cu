// CUDA normalisation kernels (Note [Norm layouts] in ops/norm.h; CPU reference: cpu/norm.cpp).
// So far batch_norm (statistics, normalise, backward) and layer_norm, forward and backward, for
// float32 and float64; the group and local response norm slots have no CUDA kernel yet (calling
// them raises "<slot> has no CUDA kernel").
//
// Note [CUDA batch norm]
// x is (N, C, S). Statistics: one block per channel, the threads striding over its N * S
// elements, the mean first and then the sum of squared deviations from it (two passes, as in
// layer norm). Normalise: elementwise, y = (x - mean[c]) * (invstd[c] * w[c]) + b[c]. Backward
// (Note [Batch norm backward] in cpu/norm.cpp): one block per channel reduces sum(g) and
// sum(g (x - mean)), writes grad_weight and grad_bias, then grad_x for the channel.
//
// Note [CUDA layer norm]
// Forward: one block per row; the mean, then the sum of squared deviations from it (two
// passes over the row, which stays in L1/L2: no cancellation for rows far from zero), then
// y = (x - mean) * rstd * w + b. Backward, per row (Note [Layer norm backward]):
//   grad_x = (rstd * w) * g + c1 * (x - mean) + c0,  c1 = -rstd^3 sum(g w (x - mean)) / D,
//   c0 = -rstd sum(g w) / D,
// one block per row with the two sums reduced across the block. grad_weight = sum over rows of
// g * xhat and grad_bias = sum of g are column sums: blocks of 32 columns x 8 row groups write
// per-chunk partial sums (chunks of kRowsPerChunk rows) that a second kernel adds in chunk
// order, so results do not depend on scheduling.
#include "block.cuh"
#include "loops.cuh"
#include "ops/norm.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int kRowThreads = 256;
constexpr int64_t kRowsPerChunk = 64;

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    ln_forward(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t D, double eps) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * D;
  T* yr = y + r * D;
  A s = 0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += static_cast<A>(xr[i]);
  const A m = block_reduce(s, SumOp{}, A(0), scratch) / static_cast<A>(D);
  A q = 0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    const A d = static_cast<A>(xr[i]) - m;
    q += d * d;
  }
  const A rs = rsqrt_(block_reduce(q, SumOp{}, A(0), scratch) / static_cast<A>(D) + static_cast<A>(eps));
  if (threadIdx.x == 0) {
    mean[r] = static_cast<T>(m);
    rstd[r] = static_cast<T>(rs);
  }
  const T a = static_cast<T>(rs), mt = static_cast<T>(m);
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    T v = (xr[i] - mt) * a;
    if (w) v = v * w[i];
    if (b) v = v + b[i];
    yr[i] = v;
  }
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    ln_backward_x(T* gx, const T* g, const T* x, const T* mean, const T* rstd, const T* w, int64_t D) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t r = blockIdx.x;
  const T* gr = g + r * D;
  const T* xr = x + r * D;
  const T m = mean[r], rs = rstd[r];
  A sa = 0, sb = 0;  // sum(g w), sum(g w (x - mean))
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    const A gh = static_cast<A>(gr[i]) * (w ? static_cast<A>(w[i]) : A(1));
    sa += gh;
    sb += gh * static_cast<A>(xr[i] - m);
  }
  sa = block_reduce(sa, SumOp{}, A(0), scratch);
  sb = block_reduce(sb, SumOp{}, A(0), scratch);
  const A ars = static_cast<A>(rs);
  const T c1 = static_cast<T>(-ars * ars * ars * sb / static_cast<A>(D));
  const T c0 = static_cast<T>(-ars * sa / static_cast<A>(D));
  T* out = gx + r * D;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
    out[i] = (rs * (w ? w[i] : T(1))) * gr[i] + c1 * (xr[i] - m) + c0;
}

// partial[(chunk, 0 or 1, i)] = sum over the chunk's rows of g * xhat (0) and g (1) in column i.
// Block (32 columns) x (8 row groups); the 8 partial sums of a column are added in order.
template <typename T>
__global__ void ln_backward_wb_partial(acc_t<T>* partial, const T* g, const T* x, const T* mean, const T* rstd,
                                       int64_t M, int64_t D) {
  using A = acc_t<T>;
  __shared__ A sw[8][33], sb[8][33];
  const int64_t i = blockIdx.x * int64_t(32) + threadIdx.x;
  const int64_t chunk = blockIdx.y, r0 = chunk * kRowsPerChunk, r1 = r0 + kRowsPerChunk < M ? r0 + kRowsPerChunk : M;
  A aw = 0, ab = 0;
  if (i < D)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += blockDim.y) {
      const A gv = static_cast<A>(g[r * D + i]);
      aw += gv * (static_cast<A>(x[r * D + i]) - static_cast<A>(mean[r])) * static_cast<A>(rstd[r]);
      ab += gv;
    }
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && i < D) {
    A tw = 0, tb = 0;
    for (int k = 0; k < 8; ++k) tw += sw[k][threadIdx.x], tb += sb[k][threadIdx.x];
    partial[(chunk * 2) * D + i] = tw;
    partial[(chunk * 2 + 1) * D + i] = tb;
  }
}

template <typename T>
__global__ void ln_backward_wb_finish(T* gw, T* gb, const acc_t<T>* partial, int64_t chunks, int64_t D) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < D; i += int64_t(gridDim.x) * blockDim.x) {
    A tw = 0, tb = 0;
    for (int64_t c = 0; c < chunks; ++c) tw += partial[(c * 2) * D + i], tb += partial[(c * 2 + 1) * D + i];
    if (gw) gw[i] = static_cast<T>(tw);
    if (gb) gb[i] = static_cast<T>(tb);
  }
}

// The element of channel c at position e of its N * S elements.
__device__ __forceinline__ int64_t channel_at(int64_t e, int64_t c, int64_t C, int64_t S) {
  return (e / S * C + c) * S + e % S;
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads) bn_stats(const T* x, T* mean, T* var, int64_t N, int64_t C, int64_t S) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t c = blockIdx.x, count = N * S;
  A s = 0;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) s += static_cast<A>(x[channel_at(e, c, C, S)]);
  const A m = block_reduce(s, SumOp{}, A(0), scratch) / static_cast<A>(count);
  A q = 0;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const A d = static_cast<A>(x[channel_at(e, c, C, S)]) - m;
    q += d * d;
  }
  q = block_reduce(q, SumOp{}, A(0), scratch);
  if (threadIdx.x == 0) {
    mean[c] = static_cast<T>(m);
    var[c] = static_cast<T>(q / static_cast<A>(count));
  }
}

template <typename T>
__global__ void bn_apply(T* y, const T* x, const T* mean, const T* invstd, const T* w, const T* b, int64_t numel,
                         int64_t C, int64_t S) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < numel; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i / S % C;
    const T a = invstd[c] * (w ? w[c] : T(1));
    y[i] = (x[i] - mean[c]) * a + (b ? b[c] : T(0));
  }
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    bn_backward(bool training, T* gx, T* gw, T* gb, const T* g, const T* x, const T* mean, const T* invstd,
                const T* w, int64_t N, int64_t C, int64_t S) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t c = blockIdx.x, count = N * S;
  const T mc = mean[c];
  A sg = 0, sgx = 0;
  if (training || gw || gb) {
    for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
      const int64_t at = channel_at(e, c, C, S);
      const A gv = static_cast<A>(g[at]);
      sg += gv;
      sgx += gv * (static_cast<A>(x[at]) - static_cast<A>(mc));
    }
    sg = block_reduce(sg, SumOp{}, A(0), scratch);
    sgx = block_reduce(sgx, SumOp{}, A(0), scratch);
  }
  const A is = static_cast<A>(invstd[c]);
  if (threadIdx.x == 0) {
    if (gw) gw[c] = static_cast<T>(sgx * is);
    if (gb) gb[c] = static_cast<T>(sg);
  }
  if (!gx) return;
  const A kk = is * (w ? static_cast<A>(w[c]) : A(1));
  const T k = static_cast<T>(kk);
  const T c1 = training ? static_cast<T>(-kk * is * is * sgx / static_cast<A>(count)) : T(0);
  const T c0 = training ? static_cast<T>(-kk * sg / static_cast<A>(count)) : T(0);
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const int64_t at = channel_at(e, c, C, S);
    gx[at] = k * g[at] + c1 * (x[at] - mc) + c0;
  }
}

struct NCS {
  int64_t N, C, S;
};
NCS ncs_of(const Tensor& x) {
  const int64_t N = x->size(0), C = x->size(1);
  return {N, C, N * C > 0 ? x->numel() / (N * C) : 0};
}

unsigned channels_grid(int64_t C) {
  if (C > 0x7fffffff) throw ValueError(str_cat("batch_norm: ", C, " channels is too many for one launch"));
  return static_cast<unsigned>(C);
}

unsigned rows_grid(int64_t M, const char* op) {
  if (M > 0x7fffffff) throw ValueError(str_cat(op, ": ", M, " rows is too many for one launch"));
  return static_cast<unsigned>(M);
}

template <typename T>
void ln_forward_typed(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                      const Tensor& b, double eps) {
  const int64_t M = mean->numel(), D = M ? x->numel() / M : 0;
  if (M == 0 || D == 0) return;
  ln_forward<T><<<rows_grid(M, "layer_norm"), kRowThreads>>>(y->data<T>(), mean->data<T>(), rstd->data<T>(),
                                                              x->data<T>(), data_or_null<T>(w), data_or_null<T>(b), D, eps);
  DL_CUDA_LAUNCH_CHECK();
}

template <typename T>
void ln_backward_typed(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g, const Tensor& x,
                       const Tensor& mean, const Tensor& rstd, const Tensor& w) {
  using A = acc_t<T>;
  const int64_t M = mean->numel(), D = M ? x->numel() / M : 0;
  if (D == 0) return;
  if (M == 0) {  // empty sums
    if (gw) DL_CUDA_CHECK(cudaMemsetAsync(gw->raw_data(), 0, D * sizeof(T), 0));
    if (gb) DL_CUDA_CHECK(cudaMemsetAsync(gb->raw_data(), 0, D * sizeof(T), 0));
    return;
  }
  if (gx) {
    ln_backward_x<T><<<rows_grid(M, "layer_norm_backward"), kRowThreads>>>(
        gx->data<T>(), g->data<T>(), x->data<T>(), mean->data<T>(), rstd->data<T>(), data_or_null<T>(w), D);
    DL_CUDA_LAUNCH_CHECK();
  }
  if (!gw && !gb) return;
  const int64_t chunks = ceil_div(M, kRowsPerChunk);
  if (chunks > 65535) throw ValueError(str_cat("layer_norm_backward: ", M, " rows is too many for one launch"));
  Tensor partial = empty({chunks, 2, D}, std::is_same_v<A, double> ? DType::Float64 : DType::Float32, x->device());
  A* pp = static_cast<A*>(partial->raw_data());
  const dim3 grid(static_cast<unsigned>(ceil_div(D, 32)), static_cast<unsigned>(chunks)), block(32, 8);
  ln_backward_wb_partial<T><<<grid, block>>>(pp, g->data<T>(), x->data<T>(), mean->data<T>(), rstd->data<T>(), M, D);
  DL_CUDA_LAUNCH_CHECK();
  ln_backward_wb_finish<T><<<grid_for(D), kBlock>>>(data_or_null<T>(gw), data_or_null<T>(gb), pp, chunks, D);
  DL_CUDA_LAUNCH_CHECK();
}

void bn_stats_cuda(const Tensor& x, const Tensor& mean, const Tensor& var) {
  const NCS d = ncs_of(x);
  if (d.C == 0 || d.N * d.S == 0) return;
  DeviceGuard guard(x->device().index);
  float_dispatch(x->dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    bn_stats<T><<<channels_grid(d.C), kRowThreads>>>(x->data<T>(), mean->data<T>(), var->data<T>(), d.N, d.C, d.S);
  });
  DL_CUDA_LAUNCH_CHECK();
}

void bn_apply_cuda(const Tensor& y, const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& w,
                   const Tensor& b) {
  const NCS d = ncs_of(x);
  const int64_t numel = x->numel();
  if (numel == 0) return;
  DeviceGuard guard(x->device().index);
  float_dispatch(x->dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    bn_apply<T><<<grid_for(numel), kBlock>>>(y->data<T>(), x->data<T>(), mean->data<T>(), invstd->data<T>(), data_or_null<T>(w),
                               data_or_null<T>(b), numel, d.C, d.S);
  });
  DL_CUDA_LAUNCH_CHECK();
}

void bn_backward_cuda(bool training, const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g,
                      const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& w) {
  const NCS d = ncs_of(x);
  if (d.C == 0) return;
  DeviceGuard guard(x->device().index);
  float_dispatch(x->dtype(), "batch_norm_backward", [&](auto zero) {
    using T = decltype(zero);
    bn_backward<T><<<channels_grid(d.C), kRowThreads>>>(training, data_or_null<T>(gx), data_or_null<T>(gw),
                                                        data_or_null<T>(gb), g->data<T>(), x->data<T>(),
                                                        mean->data<T>(), invstd->data<T>(), data_or_null<T>(w), d.N,
                                                        d.C, d.S);
  });
  DL_CUDA_LAUNCH_CHECK();
}

void ln_forward_cuda(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                     const Tensor& b, double eps) {
  DeviceGuard guard(x->device().index);
  float_dispatch(x->dtype(), "layer_norm", [&](auto zero) {
    ln_forward_typed<decltype(zero)>(y, mean, rstd, x, w, b, eps);
  });
}

void ln_backward_cuda(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g, const Tensor& x,
                      const Tensor& mean, const Tensor& rstd, const Tensor& w) {
  DeviceGuard guard(x->device().index);
  float_dispatch(x->dtype(), "layer_norm_backward", [&](auto zero) {
    ln_backward_typed<decltype(zero)>(gx, gw, gb, g, x, mean, rstd, w);
  });
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(batch_norm_stats_kernel, CUDA, cuda::bn_stats_cuda);
DL_REGISTER_KERNEL(batch_norm_apply_kernel, CUDA, cuda::bn_apply_cuda);
DL_REGISTER_KERNEL(batch_norm_backward_kernel, CUDA, cuda::bn_backward_cuda);
DL_REGISTER_KERNEL(layer_norm_kernel, CUDA, cuda::ln_forward_cuda);
DL_REGISTER_KERNEL(layer_norm_backward_kernel, CUDA, cuda::ln_backward_cuda);

}  // namespace dlcore
