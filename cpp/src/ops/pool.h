// Pooling family (max, average, adaptive max/average over 1-3 spatial dims): the C++ ops and
// their kernel slots (cpu/pool.cpp).
//
// Note [Pool layout]
// Every kernel sees contiguous tensors of shape (NC, D, H, W): the batch and channel dims are
// folded into NC planes, and 1-d/2-d pooling fills the missing leading spatial dims with size 1
// (kernel 1, stride 1, padding 0, dilation 1). Max-pool indices are int64 flat offsets into one
// input plane (D*H*W), as in PyTorch, so 1-d and 2-d indices come out right unchanged.
#pragma once

#include <optional>
#include <tuple>

#include "dlcore/dispatch.h"

namespace dlcore {

// Geometry of one pooling or resampling call, dims ordered (D, H, W).
struct PoolParams {
  int64_t nc = 0;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1}, stride[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, dilation[3] = {1, 1, 1};
  bool count_include_pad = true;   // avg_pool
  int64_t divisor = 0;             // avg_pool divisor_override; 0 = none
  double scale[3] = {0, 0, 0};     // interpolate: the user's scale_factor per dim; 0 = none
  bool align_corners = false;      // interpolate (linear modes)
  int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane() const { return out[0] * out[1] * out[2]; }
};

// y, indices: (NC, out); x: (NC, in). Windows as PyTorch: NaN wins, ties keep the first.
DL_DECLARE_KERNEL(max_pool_kernel, void (*)(const Tensor& y, const Tensor& indices, const Tensor& x,
                                            const PoolParams& p));
// grad_x (NC, in) = 0, then grad_x[plane, indices[j]] += grad_y[plane, j] (max and adaptive max).
DL_DECLARE_KERNEL(max_pool_backward_kernel, void (*)(const Tensor& grad_x, const Tensor& grad_y,
                                                     const Tensor& indices, const PoolParams& p));
// y = window sums / divisor (Note [Avg pool divisor] in cpu/pool.cpp) and its transpose.
DL_DECLARE_KERNEL(avg_pool_kernel, void (*)(const Tensor& y, const Tensor& x, const PoolParams& p));
DL_DECLARE_KERNEL(avg_pool_backward_kernel, void (*)(const Tensor& grad_x, const Tensor& grad_y,
                                                     const PoolParams& p));
// Adaptive windows [floor(o*in/out), ceil((o+1)*in/out)) per dim.
DL_DECLARE_KERNEL(adaptive_max_pool_kernel, void (*)(const Tensor& y, const Tensor& indices, const Tensor& x,
                                                     const PoolParams& p));
DL_DECLARE_KERNEL(adaptive_avg_pool_kernel, void (*)(const Tensor& y, const Tensor& x, const PoolParams& p));
DL_DECLARE_KERNEL(adaptive_avg_pool_backward_kernel, void (*)(const Tensor& grad_x, const Tensor& grad_y,
                                                              const PoolParams& p));

// ---- ops: `dims` is the number of spatial dims (1, 2, 3); the input is (N, C, *spatial) or
// (C, *spatial). Size arguments have 1 or `dims` entries; an empty stride means the kernel.
std::tuple<Tensor, Tensor> max_pool(const Tensor& x, int dims, const Shape& kernel, const Shape& stride,
                                    const Shape& padding, const Shape& dilation, bool ceil_mode);
Tensor avg_pool(const Tensor& x, int dims, const Shape& kernel, const Shape& stride, const Shape& padding,
                bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override);
// output_size entries: nullopt keeps that input size.
Tensor adaptive_avg_pool(const Tensor& x, int dims, const std::vector<std::optional<int64_t>>& output_size);
std::tuple<Tensor, Tensor> adaptive_max_pool(const Tensor& x, int dims,
                                             const std::vector<std::optional<int64_t>>& output_size);

// ---- shared with ops/upsample.cpp --------------------------------------------------------
// Folds x (checked to have dims+1 or dims+2 dims) into p.nc and p.in; returns the leading
// (batch, channel) shape.
Shape pool_fold_input(const Tensor& x, int dims, const char* op, PoolParams& p);
// out shape = lead + the last `dims` entries of p.out.
Shape pool_out_shape(const Shape& lead, int dims, const PoolParams& p);

// A linear map between the planes of `in` and `out` (avg pool, adaptive avg, interpolate):
// applies it (or its transpose) and records the transpose as its backward, so it can be
// differentiated any number of times.
enum class LinearPoolKind { Avg, AdaptiveAvg, Nearest, Linear };
struct LinearPool {
  LinearPoolKind kind;
  PoolParams p;
  Shape in_shape, out_shape;
  const char* name;  // backward node name
};
Tensor apply_linear_pool(const LinearPool& op, const Tensor& t, bool transpose);

}  // namespace dlcore
