// GradScaler's unscale/inf check and scale update (Note [GradScaler state on the device]).
#include "ops/amp.h"

#include <map>

#include "dlcore/autograd.h"

namespace dlcore {

DL_DEFINE_KERNEL(amp_unscale_kernel);
DL_DEFINE_KERNEL(amp_update_scale_kernel);

namespace {

// A 1-element tensor of `dtype` on `device`.
void check_cell(const char* op, const char* name, const Tensor& t, DType dtype, Device device) {
  DL_CHECK(t, ValueError, op, ": ", name, " is None");
  DL_CHECK(t->numel() == 1, ValueError, op, ": ", name, " must have exactly one element, got ", t->describe());
  DL_CHECK(t->dtype() == dtype, TypeError, op, ": ", name, " must be ", dtype_name(dtype), ", got ", t->describe());
  DL_CHECK(t->device() == device, ValueError, op, ": ", name, " is on ", t->device().str(), " but expected ",
           device.str());
}

}  // namespace

void amp_foreach_non_finite_check_and_unscale_(const std::vector<Tensor>& grads, const Tensor& found_inf,
                                               const Tensor& inv_scale) {
  const char* op = "_amp_foreach_non_finite_check_and_unscale_";
  DL_CHECK(found_inf, ValueError, op, ": found_inf is None");
  const Device dev = found_inf->device();
  check_cell(op, "found_inf", found_inf, DType::Float32, dev);
  check_cell(op, "inv_scale", inv_scale, DType::Float32, dev);
  // Contiguous grads are unscaled in place; others through a contiguous copy written back.
  std::map<DType, std::vector<Tensor>> groups;
  std::vector<std::pair<Tensor, Tensor>> write_back;  // (grad, its contiguous copy)
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    DL_CHECK(g, ValueError, op, ": grads[", i, "] is None");
    DL_CHECK(is_floating(g->dtype()), TypeError, op, ": grads[", i, "] must be a floating tensor, got ",
             g->describe());
    DL_CHECK(g->device() == dev, ValueError, op, ": grads[", i, "] is on ", g->device().str(),
             " but found_inf is on ", dev.str());
    if (g->numel() == 0) continue;
    Tensor c = g;
    if (!g->is_contiguous()) {
      GradModeGuard no_grad(false);
      c = contiguous(detach(g));
      write_back.emplace_back(g, c);
    }
    groups[g->dtype()].push_back(c);
  }
  for (auto& [dtype, ts] : groups) amp_unscale_kernel[dev](ts, found_inf, inv_scale);
  GradModeGuard no_grad(false);
  for (auto& [g, c] : write_back) copy_(detach(g), c);
  for (const Tensor& g : grads)
    if (g) g->bump_version();
  found_inf->bump_version();
}

Tensor amp_update_scale_(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                         double growth_factor, double backoff_factor, int64_t growth_interval) {
  const char* op = "_amp_update_scale_";
  DL_CHECK(scale, ValueError, op, ": scale is None");
  const Device dev = scale->device();
  check_cell(op, "scale", scale, DType::Float32, dev);
  check_cell(op, "growth_tracker", growth_tracker, DType::Int32, dev);
  check_cell(op, "found_inf", found_inf, DType::Float32, dev);
  DL_CHECK(growth_interval > 0, ValueError, op, ": growth_interval must be positive, got ", growth_interval);
  amp_update_scale_kernel[dev](scale, growth_tracker, found_inf, growth_factor, backoff_factor, growth_interval);
  scale->bump_version();
  growth_tracker->bump_version();
  return scale;
}

}  // namespace dlcore
