// CPU kernels of GradScaler (ops/amp.h): the inf/NaN check fused with unscaling, and the
// scale update. The CUDA versions (cuda/amp.cu) do the same arithmetic.
#include "ops/amp.h"

#include <cmath>

namespace dlcore {
namespace {

template <typename T, typename Acc>
bool unscale_run(T* g, int64_t n, Acc inv) {
  bool bad = false;
  for (int64_t i = 0; i < n; ++i) {
    const Acc v = convert<Acc>(g[i]);
    if (!std::isfinite(v)) bad = true;
    g[i] = convert<T>(inv == Acc(1) ? v : v * inv);
  }
  return bad;
}

void amp_unscale_cpu(const std::vector<Tensor>& grads, const Tensor& found_inf, const Tensor& inv_scale) {
  const float inv = *inv_scale->data<float>();
  bool bad = false;
  for (const Tensor& g : grads) {
    const int64_t n = g->numel();
    switch (g->dtype()) {
      case DType::Float32: bad |= unscale_run<float, float>(g->data<float>(), n, inv); break;
      case DType::Float64: bad |= unscale_run<double, double>(g->data<double>(), n, inv); break;
      case DType::Float16: bad |= unscale_run<Half, float>(g->data<Half>(), n, inv); break;
      case DType::BFloat16: bad |= unscale_run<BFloat16, float>(g->data<BFloat16>(), n, inv); break;
      default: DL_DISPATCH_FAIL(g->dtype(), "_amp_foreach_non_finite_check_and_unscale_");
    }
  }
  if (bad) *found_inf->data<float>() = 1.0f;
}

void amp_update_scale_cpu(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                          double growth_factor, double backoff_factor, int64_t growth_interval) {
  float* s = scale->data<float>();
  int32_t* tracker = growth_tracker->data<int32_t>();
  if (*found_inf->data<float>() != 0.0f) {
    *s = static_cast<float>(static_cast<double>(*s) * backoff_factor);
    *tracker = 0;
    return;
  }
  const int64_t successful = static_cast<int64_t>(*tracker) + 1;
  if (successful == growth_interval) {
    const float grown = static_cast<float>(static_cast<double>(*s) * growth_factor);
    if (std::isfinite(grown)) *s = grown;
    *tracker = 0;
  } else {
    *tracker = static_cast<int32_t>(successful);
  }
}

}  // namespace

DL_REGISTER_KERNEL(amp_unscale_kernel, CPU, amp_unscale_cpu);
DL_REGISTER_KERNEL(amp_update_scale_kernel, CPU, amp_update_scale_cpu);

}  // namespace dlcore
