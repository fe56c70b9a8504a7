// CUDA loss kernels over contiguous (M, C) rows (Note [Loss row layout] in ops/loss.h; CPU
// reference: cpu/loss.cpp): cross entropy fused with log-softmax, forward and backward, and
// nll_loss, for float32 and float64.
//
// Note [CUDA cross entropy]
// One block per row. Forward: the threads stride along the row for its max, then for the sum
// of exp(x - max), each combined across the block (warp shuffles, then one value per warp
// through shared memory); then the loss of the row (Note [Cross entropy formulas] in
// ops/loss.cpp), with one more block sum when label smoothing or probability targets need a
// sum over the classes. Only (max, log-sum) per row is saved (Note [Cross entropy saves lse]).
// Backward: one pass per row writes g * (softmax * sum(dist) - dist) from the saved pair.
// Arithmetic is in the dtype's accumulation type (float for float32: the CPU sums in double,
// so the devices agree to float32 rounding, not bit for bit).
// Targets are checked on the device: a target outside [0, C) that is not ignore_index is
// recorded for the host (Note [Deferred device errors] in device_errors.cuh), which raises
// IndexError with the CPU's message at its next synchronisation; the row's loss is NaN.
#include <limits>

#include "block.cuh"
#include "device_errors.cuh"
#include "loops.cuh"
#include "ops/loss.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int kRowThreads = 256;

struct Targets {
  const int64_t* index;  // (M,) or null
  const void* prob;      // (M, C) of x's dtype, or null
  int64_t ignore_index;
  ErrorRecord bad;        // invalid index targets (Note [Deferred device errors])
};

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    cross_entropy_fwd(T* loss, T* stats, T* rw, const T* x, Targets tg, const T* w, int64_t C, double eps) {
  using Acc = acc_t<T>;
  __shared__ Acc scratch[32];
  const int64_t i = blockIdx.x;
  const T* xr = x + i * C;
  const Acc keep = Acc(1) - Acc(eps), spread = C > 0 ? Acc(eps) / Acc(C) : Acc(0);
  int64_t t = 0;
  if (tg.index) {
    t = tg.index[i];
    if (t == tg.ignore_index) {
      if (threadIdx.x == 0) loss[i] = T(0), rw[i] = T(0), stats[2 * i] = T(0), stats[2 * i + 1] = T(0);
      return;
    }
    if (t < 0 || t >= C) {  // NaN marks the row until the error is raised
      if (threadIdx.x == 0) {
        record_error(tg.bad, t, i);
        loss[i] = T(NAN), rw[i] = T(0), stats[2 * i] = T(NAN), stats[2 * i + 1] = T(NAN);
      }
      return;
    }
  }
  Acc m = -INFINITY;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) m = MaxOp{}(m, static_cast<Acc>(xr[c]));
  m = block_reduce(m, MaxOp{}, Acc(-INFINITY), scratch);
  const T mt = static_cast<T>(m);
  Acc s = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += exp_(static_cast<Acc>(xr[c] - mt));
  s = block_reduce(s, SumOp{}, Acc(0), scratch);
  const Acc ls = log_(s);
  // lse - x_c as (m - x_c) + log-sum: exact when x_c is the max, however large m is
  auto nll = [&](int64_t c) { return static_cast<Acc>(mt - xr[c]) + ls; };
  Acc v = 0;
  if (tg.prob) {  // sum_c w_c q_c (lse - x_c), q = (1 - eps) p + eps / C
    const T* pr = static_cast<const T*>(tg.prob) + i * C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      v += (w ? static_cast<Acc>(w[c]) : Acc(1)) * (keep * static_cast<Acc>(pr[c]) + spread) * nll(c);
    v = block_reduce(v, SumOp{}, Acc(0), scratch);
  } else if (eps > 0) {
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) v += (w ? static_cast<Acc>(w[c]) : Acc(1)) * nll(c);
    v = spread * block_reduce(v, SumOp{}, Acc(0), scratch);
  }
  if (threadIdx.x != 0) return;
  stats[2 * i] = mt;
  stats[2 * i + 1] = static_cast<T>(ls);
  if (tg.prob) {
    loss[i] = static_cast<T>(v);
    return;
  }
  const Acc wt = w ? static_cast<Acc>(w[t]) : Acc(1);
  loss[i] = static_cast<T>(keep * wt * nll(t) + v);
  rw[i] = static_cast<T>(wt);
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    cross_entropy_bwd(T* gx, const T* g, int64_t gs, const T* x, const T* stats, Targets tg, const T* w, int64_t C,
                      double eps) {
  using Acc = acc_t<T>;
  __shared__ Acc scratch[32];
  const int64_t i = blockIdx.x;
  const T* xr = x + i * C;
  T* out = gx + i * C;
  const T m = stats[2 * i], ls = stats[2 * i + 1];
  const Acc gi = static_cast<Acc>(g[i * gs]);
  const Acc keep = Acc(1) - Acc(eps), spread = C > 0 ? Acc(eps) / Acc(C) : Acc(0);
  if (tg.prob) {
    const T* pr = static_cast<const T*>(tg.prob) + i * C;
    Acc a = 0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      a += (w ? static_cast<Acc>(w[c]) : Acc(1)) * (keep * static_cast<Acc>(pr[c]) + spread);
    a = block_reduce(a, SumOp{}, Acc(0), scratch);
    const T ga = static_cast<T>(gi * a), g1 = static_cast<T>(gi), k = static_cast<T>(keep), sp = static_cast<T>(spread);
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      out[c] = ga * exp_((xr[c] - m) - ls) - g1 * (w ? w[c] : T(1)) * (k * pr[c] + sp);
    return;
  }
  const int64_t t = tg.index[i];
  if (t == tg.ignore_index) {
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) out[c] = T(0);
    return;
  }
  Acc wsum = Acc(C);
  if (w && eps > 0) {
    Acc s = 0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += static_cast<Acc>(w[c]);
    wsum = block_reduce(s, SumOp{}, Acc(0), scratch);
  }
  const Acc wt = w ? static_cast<Acc>(w[t]) : Acc(1);
  const T ga = static_cast<T>(gi * (keep * wt + spread * wsum)), gs_c = static_cast<T>(gi * spread);
  const T hit = static_cast<T>(gi * keep * wt);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const T v = ga * exp_((xr[c] - m) - ls) - gs_c * (w && eps > 0 ? w[c] : T(1));
    out[c] = c == t ? v - hit : v;
  }
}

template <typename T>
__global__ void nll_fwd(T* loss, T* rw, const T* x, Targets tg, const T* w, int64_t M, int64_t C) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < M; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = tg.index[i];
    if (t == tg.ignore_index) {
      loss[i] = rw[i] = T(0);
      continue;
    }
    if (t < 0 || t >= C) {  // NaN marks the row until the error is raised
      record_error(tg.bad, t, i);
      loss[i] = T(NAN), rw[i] = T(0);
      continue;
    }
    rw[i] = w ? w[t] : T(1);
    loss[i] = -rw[i] * x[i * C + t];
  }
}

template <typename T>
__global__ void nll_bwd(T* gx, const T* g, int64_t gs, Targets tg, const T* w, int64_t M, int64_t C) {
  const int64_t total = M * C;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / C, c = e % C, t = tg.index[i];
    gx[e] = t != tg.ignore_index && c == t ? -(w ? w[t] : T(1)) * g[i * gs] : T(0);
  }
}

// The error context of a launch that validates the targets of `op`.
ErrorRecord target_errors(int dev, int64_t C, int64_t ignore_index, const char* op) {
  return error_context(dev, [C, ignore_index, op](int64_t value, int64_t) {
    return str_cat(op, ": target ", value, " is out of bounds for ", C, " classes (expected 0 to ", C - 1,
                   ", or ignore_index ", ignore_index, ")");
  });
}

template <typename T>
void cross_entropy_typed(const Tensor& loss, const Tensor& stats, const Tensor& row_weight, const Tensor& x,
                         const Tensor& target, const Tensor& weight, int64_t ignore_index, double eps) {
  const int64_t M = x->shape()[0], C = x->shape()[1];
  const bool prob = is_floating(target->dtype());
  const int dev = x->device().index;
  if (M == 0) return;
  if (M > std::numeric_limits<int>::max()) throw ValueError(str_cat("cross_entropy: ", M, " rows is too many for one launch"));
  const Targets tg{prob ? nullptr : target->data<int64_t>(), prob ? target->raw_data() : nullptr, ignore_index,
                   prob ? ErrorRecord{} : target_errors(dev, C, ignore_index, "cross_entropy")};
  cross_entropy_fwd<T><<<static_cast<unsigned>(M), kRowThreads>>>(loss->data<T>(), stats->data<T>(),
                                                                 prob ? nullptr : row_weight->data<T>(), x->data<T>(),
                                                                 tg, data_or_null<T>(weight), C, eps);
  DL_CUDA_LAUNCH_CHECK();
}

void cross_entropy_cuda(const Tensor& loss, const Tensor& stats, const Tensor& row_weight, const Tensor& x,
                        const Tensor& target, const Tensor& weight, int64_t ignore_index, double eps) {
  DeviceGuard guard(x->device().index);
  float_dispatch(x->dtype(), "cross_entropy", [&](auto zero) {
    cross_entropy_typed<decltype(zero)>(loss, stats, row_weight, x, target, weight, ignore_index, eps);
  });
}

template <typename T>
void cross_entropy_backward_typed(const Tensor& grad_x, const Tensor& grad_loss, int64_t g_stride, const Tensor& x,
                                  const Tensor& stats, const Tensor& target, const Tensor& weight,
                                  int64_t ignore_index, double eps) {
  const int64_t M = x->shape()[0], C = x->shape()[1];
  if (M == 0) return;
  const bool prob = is_floating(target->dtype());
  const Targets tg{prob ? nullptr : target->data<int64_t>(), prob ? target->raw_data() : nullptr, ignore_index,
                   ErrorRecord{}};
  cross_entropy_bwd<T><<<static_cast<unsigned>(M), kRowThreads>>>(grad_x->data<T>(), grad_loss->data<T>(), g_stride,
                                                                 x->data<T>(), stats->data<T>(), tg,
                                                                 data_or_null<T>(weight), C, eps);
  DL_CUDA_LAUNCH_CHECK();
}

void cross_entropy_backward_cuda(const Tensor& grad_x, const Tensor& grad_loss, int64_t g_stride, const Tensor& x,
                                 const Tensor& stats, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                                 double eps) {
  DeviceGuard guard(x->device().index);
  float_dispatch(x->dtype(), "cross_entropy", [&](auto zero) {
    cross_entropy_backward_typed<decltype(zero)>(grad_x, grad_loss, g_stride, x, stats, target, weight, ignore_index,
                                                 eps);
  });
}

void nll_loss_cuda(const Tensor& loss, const Tensor& row_weight, const Tensor& x, const Tensor& target,
                   const Tensor& weight, int64_t ignore_index) {
  const int64_t M = x->shape()[0], C = x->shape()[1];
  if (M == 0) return;
  DeviceGuard guard(x->device().index);
  const Targets tg{target->data<int64_t>(), nullptr, ignore_index,
                   target_errors(x->device().index, C, ignore_index, "nll_loss")};
  float_dispatch(x->dtype(), "nll_loss", [&](auto zero) {
    using T = decltype(zero);
    nll_fwd<T><<<grid_for(M), kBlock>>>(loss->data<T>(), row_weight->data<T>(), x->data<T>(), tg,
                                        data_or_null<T>(weight), M, C);
  });
  DL_CUDA_LAUNCH_CHECK();
}

void nll_loss_backward_cuda(const Tensor& grad_x, const Tensor& grad_loss, int64_t g_stride, const Tensor& target,
                            const Tensor& weight, int64_t ignore_index) {
  const int64_t M = grad_x->shape()[0], C = grad_x->shape()[1];
  if (M * C == 0) return;
  DeviceGuard guard(grad_x->device().index);
  const Targets tg{target->data<int64_t>(), nullptr, ignore_index, ErrorRecord{}};
  float_dispatch(grad_x->dtype(), "nll_loss", [&](auto zero) {
    using T = decltype(zero);
    nll_bwd<T><<<grid_for(M * C), kBlock>>>(grad_x->data<T>(), grad_loss->data<T>(), g_stride, tg,
                                            data_or_null<T>(weight), M, C);
  });
  DL_CUDA_LAUNCH_CHECK();
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(cross_entropy_kernel, CUDA, cuda::cross_entropy_cuda);
DL_REGISTER_KERNEL(cross_entropy_backward_kernel, CUDA, cuda::cross_entropy_backward_cuda);
DL_REGISTER_KERNEL(nll_loss_kernel, CUDA, cuda::nll_loss_cuda);
DL_REGISTER_KERNEL(nll_loss_backward_kernel, CUDA, cuda::nll_loss_backward_cuda);

}  // namespace dlcore
