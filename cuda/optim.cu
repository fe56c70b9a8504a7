// CUDA optimizer kernels (Note [Optimizer update layout] in ops/optim.h; CPU reference:
// cpu/optim.cpp): fused SGD, Adam/AdamW and RMSprop updates over all parameters of a group,
// and the foreach norm/scale/clamp behind gradient clipping.
//
// Note [CUDA multi-tensor launches]
// One launch updates every tensor of a list: the host cuts each tensor's run into chunks of
// kChunk elements and sends a table of {tensor, start} chunks plus one Meta record per tensor
// (its pointers, length and per-tensor constants) to the device in one copy; block b of the
// launch does chunk b. Tensors of the two float dtypes go in separate launches. The per-element
// arithmetic is the CPU kernels' (same operation order, the parameter's dtype), so the two
// devices agree to rounding. The table lives in a device tensor from the caching allocator,
// released after the launch: later work on the (single, default) stream runs after the kernel,
// so reuse of the block cannot overtake it.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "loops.cuh"
#include "ops/optim.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int64_t kChunk = 65536;
constexpr int kOptimThreads = 256;

template <typename T>
struct Meta {
  T* p;           // parameter, or the tensor of a foreach op
  const T* g;     // gradient
  T* s1;          // momentum buffer / exp_avg / square_avg
  T* s2;          // exp_avg_sq / grad_avg
  T* s3;          // max_exp_avg_sq / momentum buffer (RMSprop)
  int64_t n;
  T c1, c2;       // per-tensor constants (Adam: -lr / bias_correction1, sqrt(bias_correction2))
  int flag;       // SGD: the momentum buffer is new
};

struct ChunkRef {
  int64_t tensor, start;
};

// The device copy of a launch's tables: metas first, then the chunks.
template <typename T>
struct Table {
  Tensor storage;
  const Meta<T>* metas = nullptr;
  const ChunkRef* chunks = nullptr;
  int64_t num_chunks = 0;
};

template <typename T>
Table<T> upload(const std::vector<Meta<T>>& metas, int dev) {
  std::vector<ChunkRef> chunks;
  for (size_t i = 0; i < metas.size(); ++i)
    for (int64_t s = 0; s < metas[i].n; s += kChunk) chunks.push_back({static_cast<int64_t>(i), s});
  const size_t meta_bytes = (metas.size() * sizeof(Meta<T>) + 15) / 16 * 16;
  const size_t bytes = meta_bytes + chunks.size() * sizeof(ChunkRef);
  std::vector<char> host(bytes);
  if (!metas.empty()) std::memcpy(host.data(), metas.data(), metas.size() * sizeof(Meta<T>));
  if (!chunks.empty()) std::memcpy(host.data() + meta_bytes, chunks.data(), chunks.size() * sizeof(ChunkRef));
  Table<T> t;
  t.num_chunks = static_cast<int64_t>(chunks.size());
  if (bytes == 0) return t;
  t.storage = empty({static_cast<int64_t>((bytes + 7) / 8)}, DType::Int64, Device{DeviceType::CUDA, dev});
  char* base = static_cast<char*>(t.storage->raw_data());
  // From pageable memory the runtime stages the bytes before returning, and the device does
  // not have to drain first, as a plain cudaMemcpy would make it.
  DL_CUDA_CHECK(cudaMemcpyAsync(base, host.data(), bytes, cudaMemcpyHostToDevice, 0));
  t.metas = reinterpret_cast<const Meta<T>*>(base);
  t.chunks = reinterpret_cast<const ChunkRef*>(base + meta_bytes);
  return t;
}

// f(meta, j) for every element j of every chunk; block b takes chunk b.
template <typename T, typename F>
__global__ void __launch_bounds__(kOptimThreads) chunk_kernel(const Meta<T>* metas, const ChunkRef* chunks, F f) {
  const ChunkRef c = chunks[blockIdx.x];
  const Meta<T>& m = metas[c.tensor];
  const int64_t end = c.start + kChunk < m.n ? c.start + kChunk : m.n;
  for (int64_t j = c.start + threadIdx.x; j < end; j += blockDim.x) f(m, j);
}

template <typename T, typename F>
void launch(const std::vector<Meta<T>>& metas, int dev, F f) {
  const Table<T> t = upload(metas, dev);
  if (t.num_chunks == 0) return;
  // gridDim.x allows 2^31 - 1 blocks: 2^47 elements
  chunk_kernel<T, F><<<static_cast<unsigned>(t.num_chunks), kOptimThreads>>>(t.metas, t.chunks, f);
  DL_CUDA_LAUNCH_CHECK();
}

// Tensor i of an optional (possibly empty) state list.
template <typename T>
T* state_or_null(const TensorList& ts, size_t i) {
  return ts.empty() ? nullptr : data_or_null<T>(ts[i]);
}

// Runs body<T>(indices) once per float dtype present, with the indices of the tensors of
// that dtype.
template <typename Body>
void per_dtype(const TensorList& ts, const char* op, Body body) {
  std::vector<size_t> f32, f64;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (ts[i]->dtype() == DType::Float32) f32.push_back(i);
    else if (ts[i]->dtype() == DType::Float64) f64.push_back(i);
    else throw TypeError(str_cat(op, ": tensor ", i, " has dtype ", dtype_name(ts[i]->dtype()), " (float32 or float64)"));
  }
  if (!f32.empty()) body(float{}, f32);
  if (!f64.empty()) body(double{}, f64);
}

int device_of(const TensorList& ts) { return ts.empty() ? 0 : ts[0]->device().index; }

// torch's lerp: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w).
template <typename T>
__device__ __forceinline__ T lerp(T a, T b, T w) {
  return w < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

// ---- SGD (cpu/optim.cpp: sgd_run) ------------------------------------------------------------
template <typename T>
struct SgdFn {
  T sign, lr, wd, mom, keep;
  bool decay, nesterov;
  __device__ void operator()(const Meta<T>& m, int64_t j) const {
    T g = sign * m.g[j];
    if (decay) g = g + wd * m.p[j];
    if (m.s1) {
      const T b = m.flag ? g : m.s1[j] * mom + keep * g;
      m.s1[j] = b;
      g = nesterov ? g + mom * b : b;
    }
    m.p[j] = m.p[j] + (-lr) * g;
  }
};

void sgd_step_cuda(const TensorList& params, const TensorList& grads, const TensorList& bufs,
                   const std::vector<bool>& is_new, const SgdOptions& o) {
  DeviceGuard guard(device_of(params));
  per_dtype(params, "sgd_step", [&](auto zero, const std::vector<size_t>& idx) {
    using T = decltype(zero);
    std::vector<Meta<T>> metas;
    for (size_t i : idx)
      metas.push_back({static_cast<T*>(params[i]->raw_data()), static_cast<const T*>(grads[i]->raw_data()),
                       state_or_null<T>(bufs, i), nullptr, nullptr, params[i]->numel(), T(0), T(0),
                       !bufs.empty() && is_new[i] ? 1 : 0});
    const SgdFn<T> f{o.maximize ? T(-1) : T(1), T(o.lr), T(o.weight_decay), T(o.momentum), T(1 - o.dampening),
                     o.weight_decay != 0, o.nesterov};
    launch(metas, device_of(params), f);
  });
}

// ---- Adam / AdamW (cpu/optim.cpp: adam_run) --------------------------------------------------
template <typename T>
struct AdamFn {
  T eps, w1, beta2, w2, sign, wd, shrink;
  bool l2;
  __device__ void operator()(const Meta<T>& m, int64_t j) const {
    T g = sign * m.g[j];
    const T pj = m.p[j] * shrink;
    if (l2) g = g + wd * pj;
    const T mj = lerp(m.s1[j], g, w1);
    T vj = m.s2[j] * beta2 + w2 * g * g;
    m.s1[j] = mj;
    m.s2[j] = vj;
    if (m.s3) {
      vj = vj > m.s3[j] ? vj : m.s3[j];
      m.s3[j] = vj;
    }
    const T denom = ::sqrt(vj) / m.c2 + eps;
    m.p[j] = pj + m.c1 * mj / denom;
  }
};

void adam_step_cuda(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                    const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs,
                    const std::vector<double>& steps, const AdamOptions& o) {
  DeviceGuard guard(device_of(params));
  per_dtype(params, "adam_step", [&](auto zero, const std::vector<size_t>& idx) {
    using T = decltype(zero);
    std::vector<Meta<T>> metas;
    for (size_t i : idx) {
      const double bc1 = 1 - std::pow(o.beta1, steps[i]), bc2 = 1 - std::pow(o.beta2, steps[i]);
      metas.push_back({static_cast<T*>(params[i]->raw_data()), static_cast<const T*>(grads[i]->raw_data()),
                       static_cast<T*>(exp_avgs[i]->raw_data()), static_cast<T*>(exp_avg_sqs[i]->raw_data()),
                       state_or_null<T>(max_exp_avg_sqs, i), params[i]->numel(), T(-(o.lr / bc1)), T(std::sqrt(bc2)),
                       0});
    }
    const AdamFn<T> f{T(o.eps), T(1 - o.beta1), T(o.beta2), T(1 - o.beta2), o.maximize ? T(-1) : T(1),
                      T(o.weight_decay), o.decoupled ? T(1 - o.lr * o.weight_decay) : T(1),
                      o.weight_decay != 0 && !o.decoupled};
    launch(metas, device_of(params), f);
  });
}

// ---- RMSprop (cpu/optim.cpp: rmsprop_run) ----------------------------------------------------
template <typename T>
struct RmspropFn {
  T alpha, w, eps, wd, mom, neg_lr, sign;
  bool decay;
  __device__ void operator()(const Meta<T>& m, int64_t j) const {
    T g = sign * m.g[j];
    if (decay) g = g + wd * m.p[j];
    const T sj = m.s1[j] * alpha + w * g * g;
    m.s1[j] = sj;
    T avg;
    if (m.s2) {
      const T aj = lerp(m.s2[j], g, w);
      m.s2[j] = aj;
      avg = ::sqrt(sj + T(-1) * aj * aj) + eps;
    } else {
      avg = ::sqrt(sj) + eps;
    }
    if (m.s3) {
      const T b = m.s3[j] * mom + g / avg;
      m.s3[j] = b;
      m.p[j] = m.p[j] + neg_lr * b;
    } else {
      m.p[j] = m.p[j] + neg_lr * g / avg;
    }
  }
};

void rmsprop_step_cuda(const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                       const TensorList& grad_avgs, const TensorList& bufs, const RmspropOptions& o) {
  DeviceGuard guard(device_of(params));
  per_dtype(params, "rmsprop_step", [&](auto zero, const std::vector<size_t>& idx) {
    using T = decltype(zero);
    std::vector<Meta<T>> metas;
    for (size_t i : idx)
      metas.push_back({static_cast<T*>(params[i]->raw_data()), static_cast<const T*>(grads[i]->raw_data()),
                       static_cast<T*>(square_avgs[i]->raw_data()), state_or_null<T>(grad_avgs, i),
                       state_or_null<T>(bufs, i), params[i]->numel(), T(0), T(0), 0});
    const RmspropFn<T> f{T(o.alpha), T(1 - o.alpha), T(o.eps), T(o.weight_decay), T(o.momentum), T(-o.lr),
                         o.maximize ? T(-1) : T(1), o.weight_decay != 0};
    launch(metas, device_of(params), f);
  });
}

// ---- foreach norm / scale / clamp ------------------------------------------------------------
enum class NormKind { Sum, Max, Min };

// partial[b] = chunk b's sum |x|^p (p = 0 counts nonzeros) or max/min |x|, in double; a
// block reduces through shared memory in a fixed order.
template <typename T>
__global__ void __launch_bounds__(kOptimThreads)
    norm_kernel(const Meta<T>* metas, const ChunkRef* chunks, double p, NormKind kind, double* partial) {
  __shared__ double part[kOptimThreads];
  const ChunkRef c = chunks[blockIdx.x];
  const Meta<T>& m = metas[c.tensor];
  const int64_t end = c.start + kChunk < m.n ? c.start + kChunk : m.n;
  const double init = kind == NormKind::Min ? INFINITY : 0.0;
  double r = init;
  for (int64_t j = c.start + threadIdx.x; j < end; j += blockDim.x) {
    const double v = ::fabs(static_cast<double>(m.p[j]));
    if (kind == NormKind::Max) r = (v > r || v != v) ? v : r;
    else if (kind == NormKind::Min) r = (v < r || v != v) ? v : r;
    else if (p == 2) r += v * v;
    else if (p == 1) r += v;
    else if (p == 0) r += v != 0 ? 1.0 : 0.0;
    else r += ::pow(v, p);
  }
  part[threadIdx.x] = r;
  __syncthreads();
  for (int s = kOptimThreads / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) {
      const double a = part[threadIdx.x], b = part[threadIdx.x + s];
      if (kind == NormKind::Max) part[threadIdx.x] = (b > a || b != b) && a == a ? b : a;
      else if (kind == NormKind::Min) part[threadIdx.x] = (b < a || b != b) && a == a ? b : a;
      else part[threadIdx.x] = a + b;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = part[0];
}

double foreach_norm_cuda(const TensorList& tensors, double p) {
  const NormKind kind = std::isinf(p) ? (p > 0 ? NormKind::Max : NormKind::Min) : NormKind::Sum;
  double total = kind == NormKind::Min ? std::numeric_limits<double>::infinity() : 0.0;
  DeviceGuard guard(device_of(tensors));
  per_dtype(tensors, "foreach_norm", [&](auto zero, const std::vector<size_t>& idx) {
    using T = decltype(zero);
    std::vector<Meta<T>> metas;
    for (size_t i : idx)
      metas.push_back({static_cast<T*>(tensors[i]->raw_data()), nullptr, nullptr, nullptr, nullptr,
                       tensors[i]->numel(), T(0), T(0), 0});
    const int dev = device_of(tensors);
    const Table<T> t = upload(metas, dev);
    if (t.num_chunks == 0) return;
    Tensor partial = empty({t.num_chunks}, DType::Float64, Device{DeviceType::CUDA, dev});
    norm_kernel<T><<<static_cast<unsigned>(t.num_chunks), kOptimThreads>>>(t.metas, t.chunks, p, kind,
                                                                           static_cast<double*>(partial->raw_data()));
    DL_CUDA_LAUNCH_CHECK();
    std::vector<double> host(static_cast<size_t>(t.num_chunks));
    DL_CUDA_CHECK(cudaMemcpy(host.data(), partial->raw_data(), host.size() * sizeof(double), cudaMemcpyDeviceToHost));
    for (double part : host) {  // in chunk order: deterministic
      if (kind == NormKind::Max || std::isnan(part))
        total = std::isnan(part) ? part : std::max(total, part);
      else if (kind == NormKind::Min)
        total = std::isnan(total) ? total : std::min(total, part);
      else
        total += part;
    }
  });
  if (kind != NormKind::Sum || p == 0 || p == 1) return total;
  return p == 2 ? std::sqrt(total) : std::pow(total, 1.0 / p);
}

template <typename T>
struct ScaleFn {
  T f;
  __device__ void operator()(const Meta<T>& m, int64_t j) const { m.p[j] = m.p[j] * f; }
};
template <typename T>
struct ClampFn {
  T lo, hi;
  __device__ void operator()(const Meta<T>& m, int64_t j) const {
    const T v = m.p[j];
    m.p[j] = v != v ? v : v < lo ? lo : v > hi ? hi : v;  // NaN passes through, as on the CPU
  }
};

template <typename F>
void foreach_inplace(const TensorList& tensors, const char* op, F make) {
  DeviceGuard guard(device_of(tensors));
  per_dtype(tensors, op, [&](auto zero, const std::vector<size_t>& idx) {
    using T = decltype(zero);
    std::vector<Meta<T>> metas;
    for (size_t i : idx)
      metas.push_back({static_cast<T*>(tensors[i]->raw_data()), nullptr, nullptr, nullptr, nullptr,
                       tensors[i]->numel(), T(0), T(0), 0});
    launch(metas, device_of(tensors), make(zero));
  });
}

void foreach_scale_cuda(const TensorList& tensors, double factor) {
  foreach_inplace(tensors, "foreach_scale_", [&](auto zero) {
    using T = decltype(zero);
    return ScaleFn<T>{T(factor)};
  });
}

void foreach_clamp_cuda(const TensorList& tensors, double lo, double hi) {
  foreach_inplace(tensors, "foreach_clamp_", [&](auto zero) {
    using T = decltype(zero);
    return ClampFn<T>{T(lo), T(hi)};
  });
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(sgd_step_kernel, CUDA, cuda::sgd_step_cuda);
DL_REGISTER_KERNEL(adam_step_kernel, CUDA, cuda::adam_step_cuda);
DL_REGISTER_KERNEL(rmsprop_step_kernel, CUDA, cuda::rmsprop_step_cuda);
DL_REGISTER_KERNEL(foreach_norm_kernel, CUDA, cuda::foreach_norm_cuda);
DL_REGISTER_KERNEL(foreach_scale_kernel, CUDA, cuda::foreach_scale_cuda);
DL_REGISTER_KERNEL(foreach_clamp_kernel, CUDA, cuda::foreach_clamp_cuda);

}  // namespace dlcore
