// Normalisation layers: batch_norm, layer_norm, group_norm, local_response_norm (ops/norm.cpp),
// their kernel slots (cpu/norm.cpp, cuda/norm.cu).
//
// Note [Norm layouts]
// Every kernel sees contiguous tensors; the ops make them so. Shapes, in elements:
//   batch_norm:  x, y, grad: (N, C, S) with S the product of the spatial dims (1 for (N, C));
//                per-channel tensors (C).
//   layer_norm:  x, y, grad: (M, D), D the product of normalized_shape; weight, bias (D);
//                mean, rstd (M).
//   group_norm:  x, y, grad: (N, C, S); weight, bias (C); mean, rstd (N, G).
//   lrn:         x, y, scale, grad: (N, C, S).
// An absent weight/bias/grad is a null Tensor. Statistics of float32 data are float32 vector-lane
// sums over blocks, the block totals added in double (Note [CPU norm statistics], cpu/norm.cpp).
#pragma once

#include "dlcore/dispatch.h"
#include "dlcore/ops.h"

namespace dlcore {

// ---- the C++ ops (torch.nn.functional signatures) -----------------------------------------
// Training: normalises by the batch statistics (biased variance) and, when given, updates
// running_mean/running_var in place (unbiased variance, momentum). Eval: uses the running stats.
Tensor batch_norm(const Tensor& x, const OptTensor& running_mean, const OptTensor& running_var,
                  const OptTensor& weight, const OptTensor& bias, bool training, double momentum, double eps);
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const OptTensor& weight, const OptTensor& bias,
                  double eps);
Tensor group_norm(const Tensor& x, int64_t num_groups, const OptTensor& weight, const OptTensor& bias, double eps);
Tensor local_response_norm(const Tensor& x, int64_t size, double alpha, double beta, double k);

// ---- kernel slots ----------------------------------------------------------------------------
// mean[c], var[c] = the mean and biased variance of x[:, c, :].
DL_DECLARE_KERNEL(batch_norm_stats_kernel, void (*)(const Tensor& x, const Tensor& mean, const Tensor& var));
// y = (x - mean[c]) * invstd[c] * weight[c] + bias[c].
DL_DECLARE_KERNEL(batch_norm_apply_kernel, void (*)(const Tensor& y, const Tensor& x, const Tensor& mean,
                                                    const Tensor& invstd, const Tensor& weight, const Tensor& bias));
// training: grad_x = w * invstd * (g - mean(g) - xhat * mean(g * xhat)) over (N, S);
// eval: grad_x = g * w * invstd (mean/invstd are constants). grad_weight = sum(g * xhat),
// grad_bias = sum(g). Null outputs are skipped.
DL_DECLARE_KERNEL(batch_norm_backward_kernel,
                  void (*)(bool training, const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                           const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                           const Tensor& weight));

DL_DECLARE_KERNEL(layer_norm_kernel, void (*)(const Tensor& y, const Tensor& mean, const Tensor& rstd,
                                              const Tensor& x, const Tensor& weight, const Tensor& bias, double eps));
DL_DECLARE_KERNEL(layer_norm_backward_kernel,
                  void (*)(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& g,
                           const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight));

DL_DECLARE_KERNEL(group_norm_kernel, void (*)(const Tensor& y, const Tensor& mean, const Tensor& rstd,
                                              const Tensor& x, const Tensor& weight, const Tensor& bias,
                                              int64_t groups, double eps));
DL_DECLARE_KERNEL(group_norm_backward_kernel,
                  void (*)(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& g,
                           const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                           int64_t groups));

// y = x * scale^-beta, scale = k + alpha / size * sum of x^2 over the channel window
// [c - size/2, c + (size-1)/2] (zero padded). scale is saved for the backward.
DL_DECLARE_KERNEL(lrn_kernel, void (*)(const Tensor& y, const Tensor& scale, const Tensor& x, int64_t size,
                                       double alpha, double beta, double k));
DL_DECLARE_KERNEL(lrn_backward_kernel, void (*)(const Tensor& grad_x, const Tensor& g, const Tensor& x,
                                                const Tensor& scale, int64_t size, double alpha, double beta));

}  // namespace dlcore
