// CUDA kernels of GradScaler (ops/amp.h; CPU reference: cpu/amp.cpp).
//
// unscale_kernel: the inf/NaN check fused with g *= inv_scale over a list of contiguous
//   tensors of one dtype. The tensor table (pointers, lengths, first block of each tensor)
//   travels in the kernel parameters, at most kMaxTensors per launch, so nothing is copied to
//   the device and nothing waits for it. Tensor i gets blocks [first[i], first[i + 1]) that
//   stride over its elements; a block finds its tensor by a scan of the table. found_inf and
//   inv_scale stay on the device: a thread that saw a non-finite value stores 1.0f to
//   found_inf (all such stores write the same value, so their order does not matter).
// update_scale_kernel: one thread applies GradScaler's growth/backoff rule.
#include <cmath>

#include "loops.cuh"
#include "ops/amp.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int kMaxTensors = 64;
constexpr int kUnscaleThreads = 256;
constexpr int64_t kElemsPerBlock = 4 * kUnscaleThreads;
constexpr int64_t kMaxBlocksPerTensor = 1024;

template <typename T>
struct UnscaleTable {
  T* data[kMaxTensors];
  int64_t numel[kMaxTensors];
  int first[kMaxTensors + 1];  // tensor i owns blocks [first[i], first[i + 1])
  int count;
};

template <typename T>
__global__ void __launch_bounds__(kUnscaleThreads)
    unscale_kernel(const UnscaleTable<T> table, float* found_inf, const float* inv_scale) {
  using Acc = acc_t<T>;
  const int b = static_cast<int>(blockIdx.x);
  int i = 0;
  while (i + 1 < table.count && table.first[i + 1] <= b) ++i;
  T* p = table.data[i];
  const int64_t n = table.numel[i];
  const int64_t blocks = table.first[i + 1] - table.first[i];
  const int64_t step = blocks * blockDim.x;
  const Acc inv = static_cast<Acc>(*inv_scale);
  bool bad = false;
  for (int64_t j = static_cast<int64_t>(b - table.first[i]) * blockDim.x + threadIdx.x; j < n; j += step) {
    const Acc v = cast<Acc>(p[j]);
    if (!::isfinite(v)) bad = true;
    p[j] = cast<T>(inv == Acc(1) ? v : v * inv);
  }
  if (bad) *found_inf = 1.0f;
}

template <typename T>
void unscale_typed(const std::vector<Tensor>& grads, float* found_inf, const float* inv_scale) {
  using D = device_t<T>;
  for (size_t start = 0; start < grads.size(); start += kMaxTensors) {
    UnscaleTable<D> table{};
    int blocks = 0;
    table.count = 0;
    for (size_t k = start; k < grads.size() && k < start + kMaxTensors; ++k) {
      const int64_t n = grads[k]->numel();
      table.data[table.count] = static_cast<D*>(grads[k]->raw_data());
      table.numel[table.count] = n;
      table.first[table.count] = blocks;
      blocks += static_cast<int>(std::min(kMaxBlocksPerTensor, std::max<int64_t>(1, ceil_div(n, kElemsPerBlock))));
      ++table.count;
    }
    table.first[table.count] = blocks;
    // at most kMaxTensors * kMaxBlocksPerTensor = 65536 blocks: far below gridDim.x's limit
    unscale_kernel<D><<<static_cast<unsigned>(blocks), kUnscaleThreads>>>(table, found_inf, inv_scale);
    DL_CUDA_LAUNCH_CHECK();
  }
}

void amp_unscale_cuda(const std::vector<Tensor>& grads, const Tensor& found_inf, const Tensor& inv_scale) {
  if (grads.empty()) return;
  DeviceGuard guard(found_inf->device().index);
  float* fi = static_cast<float*>(found_inf->raw_data());
  const float* inv = static_cast<const float*>(inv_scale->raw_data());
  switch (grads[0]->dtype()) {
    case DType::Float32: return unscale_typed<float>(grads, fi, inv);
    case DType::Float64: return unscale_typed<double>(grads, fi, inv);
    case DType::Float16: return unscale_typed<Half>(grads, fi, inv);
    case DType::BFloat16: return unscale_typed<BFloat16>(grads, fi, inv);
    default: DL_DISPATCH_FAIL(grads[0]->dtype(), "_amp_foreach_non_finite_check_and_unscale_");
  }
}

__global__ void update_scale_kernel(float* scale, int32_t* tracker, const float* found_inf, double growth_factor,
                                    double backoff_factor, int64_t growth_interval) {
  if (*found_inf != 0.0f) {
    *scale = static_cast<float>(static_cast<double>(*scale) * backoff_factor);
    *tracker = 0;
    return;
  }
  const int64_t successful = static_cast<int64_t>(*tracker) + 1;
  if (successful == growth_interval) {
    const float grown = static_cast<float>(static_cast<double>(*scale) * growth_factor);
    if (::isfinite(grown)) *scale = grown;
    *tracker = 0;
  } else {
    *tracker = static_cast<int32_t>(successful);
  }
}

void amp_update_scale_cuda(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                           double growth_factor, double backoff_factor, int64_t growth_interval) {
  DeviceGuard guard(scale->device().index);
  update_scale_kernel<<<1, 1>>>(static_cast<float*>(scale->raw_data()),
                                static_cast<int32_t*>(growth_tracker->raw_data()),
                                static_cast<const float*>(found_inf->raw_data()), growth_factor, backoff_factor,
                                growth_interval);
  DL_CUDA_LAUNCH_CHECK();
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(amp_unscale_kernel, CUDA, cuda::amp_unscale_cuda);
DL_REGISTER_KERNEL(amp_update_scale_kernel, CUDA, cuda::amp_update_scale_cuda);

}  // namespace dlcore
