// Resampling (torch.nn.functional.interpolate, nearest and (bi/tri)linear): the op and its
// kernel slots (cpu/upsample.cpp). Layout as Note [Pool layout] in ops/pool.h: contiguous
// (NC, D, H, W) planes, p.in / p.out the spatial sizes, p.scale the user's scale factors.
//
// Note [Interpolate source index]
// As PyTorch: a dim given by scale_factor (and recompute_scale_factor not True) maps output
// index o with the scale 1/scale_factor, otherwise with in/out. nearest: src = min(floor(o *
// scale), in - 1) in float32 (identity when out == in, o >> 1 when out == 2 * in). linear:
// align_corners maps o -> o * (in - 1) / (out - 1) (scale factors ignored); otherwise
// src = max(scale * (o + 0.5) - 0.5, 0), interpolated between floor(src) and the next element.
#pragma once

#include <optional>
#include <string>

#include "ops/pool.h"

namespace dlcore {

DL_DECLARE_KERNEL(upsample_nearest_kernel, void (*)(const Tensor& y, const Tensor& x, const PoolParams& p));
DL_DECLARE_KERNEL(upsample_nearest_backward_kernel, void (*)(const Tensor& grad_x, const Tensor& grad_y,
                                                             const PoolParams& p));
DL_DECLARE_KERNEL(upsample_linear_kernel, void (*)(const Tensor& y, const Tensor& x, const PoolParams& p));
DL_DECLARE_KERNEL(upsample_linear_backward_kernel, void (*)(const Tensor& grad_x, const Tensor& grad_y,
                                                            const PoolParams& p));

// mode: "nearest", "linear" (3-d input), "bilinear" (4-d), "trilinear" (5-d), "area"
// (adaptive average pooling). Exactly one of size / scale_factor (1 or spatial-dims entries).
Tensor interpolate(const Tensor& x, const std::optional<Shape>& size,
                   const std::optional<std::vector<double>>& scale_factor, const std::string& mode,
                   std::optional<bool> align_corners, std::optional<bool> recompute_scale_factor);

}  // namespace dlcore
