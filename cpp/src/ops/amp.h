// Gradient scaling for mixed precision (the kernels behind python/dlcore/amp.py's GradScaler;
// CPU: cpu/amp.cpp, CUDA: cuda/amp.cu).
//
// Note [GradScaler state on the device]
// The scale, the growth tracker and the found-inf flag are 1-element tensors on the
// gradients' device, read and written only by kernels, so unscaling and updating the scale
// queue work without waiting for the device: the one host read per step is GradScaler.step()
// deciding whether to skip optimizer.step(). Unscaling checks every gradient in one pass that
// also multiplies by 1/scale (one launch per dtype and per 64 tensors on CUDA).
#pragma once

#include <vector>

#include "dlcore/dispatch.h"
#include "dlcore/ops.h"

namespace dlcore {

// grads: contiguous float tensors of one dtype on one device. found_inf (float32, 1 element)
// is set to 1 when any element is inf or NaN (never reset here); each element becomes
// g * inv_scale[0] (float32, 1 element), computed in float (double for float64 grads).
DL_DECLARE_KERNEL(amp_unscale_kernel, void (*)(const std::vector<Tensor>& grads, const Tensor& found_inf,
                                               const Tensor& inv_scale));
// scale (float32), growth_tracker (int32), found_inf (float32), 1 element each:
//   found_inf != 0: scale *= backoff_factor, tracker = 0
//   else: tracker += 1; at growth_interval: scale *= growth_factor (if that stays finite), tracker = 0.
DL_DECLARE_KERNEL(amp_update_scale_kernel,
                  void (*)(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                           double growth_factor, double backoff_factor, int64_t growth_interval));

// torch._amp_foreach_non_finite_check_and_unscale_: grads may mix float dtypes and be
// non-contiguous; all on found_inf's device.
void amp_foreach_non_finite_check_and_unscale_(const std::vector<Tensor>& grads, const Tensor& found_inf,
                                               const Tensor& inv_scale);
// torch._amp_update_scale_: updates scale and growth_tracker in place; returns scale.
Tensor amp_update_scale_(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                         double growth_factor, double backoff_factor, int64_t growth_interval);

}  // namespace dlcore
