// Loss family: cross_entropy (fused with log-softmax), nll_loss, binary_cross_entropy and
// binary_cross_entropy_with_logits. Kernel slots (cpu/loss.cpp) and the C++ ops.
//
// Note [Loss row layout]
// The class kernels see a contiguous (M, C) block of rows: ops/loss.cpp moves the class dim
// of an (N, C, d1, ...) input last and flattens it (M = N * d1 * ...); a (C,) input is one
// row. Index targets are a contiguous int64 (M,) tensor, probability targets a contiguous
// (M, C) tensor of x's dtype, weights a contiguous (C,) tensor of x's dtype or null.
// Per-row outputs are contiguous (M,) tensors of x's dtype. The reduction over rows is done
// by the op with other ops.
//
// Note [Cross entropy saves lse]
// The forward keeps only the per-row logsumexp for backward, never the (M, C)
// log-probabilities, as an (M, 2) tensor of (max, log(sum(exp(x - max)))) per row: kept apart,
// exp((x - max) - log_sum) is as exact as from saved log-probabilities even where
// |max| >> 1 (max + log_sum rounded to one float would lose the log_sum's low bits). The
// backward recomputes softmax from them in the same pass that
// writes grad = (softmax * sum(dist) - dist) * g, dist the row's weighted target
// distribution (Note [Cross entropy formulas] in ops/loss.cpp).
#pragma once

#include <string>

#include "dlcore/dispatch.h"
#include "dlcore/ops.h"

namespace dlcore {

// Class-index targets outside [0, C) other than ignore_index raise IndexError naming the value
// before any output is written.
// loss[i] = per-row cross entropy; lse[i] = (max, log-sum) of x[i, :]; row_weight[i] = weight of
// the row's target (0 when ignored; index targets only, null for probability targets).
DL_DECLARE_KERNEL(cross_entropy_kernel,
                  void (*)(const Tensor& loss, const Tensor& lse, const Tensor& row_weight, const Tensor& x,
                           const Tensor& target, const Tensor& weight, int64_t ignore_index, double label_smoothing));
// grad_x (M, C) = d(sum_i grad_loss[i] * loss[i]) / dx; grad_loss[i * g_stride] (g_stride 0:
// one value for all rows).
DL_DECLARE_KERNEL(cross_entropy_backward_kernel,
                  void (*)(const Tensor& grad_x, const Tensor& grad_loss, int64_t g_stride, const Tensor& x,
                           const Tensor& lse, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                           double label_smoothing));
// loss[i] = -weight[t] * x[i, t], row_weight[i] = weight[t] (both 0 when t == ignore_index).
DL_DECLARE_KERNEL(nll_loss_kernel, void (*)(const Tensor& loss, const Tensor& row_weight, const Tensor& x,
                                            const Tensor& target, const Tensor& weight, int64_t ignore_index));
// grad_x (M, C) = 0 except grad_x[i, t] = -weight[t] * grad_loss[i * g_stride].
DL_DECLARE_KERNEL(nll_loss_backward_kernel,
                  void (*)(const Tensor& grad_x, const Tensor& grad_loss, int64_t g_stride, const Tensor& target,
                           const Tensor& weight, int64_t ignore_index));

// torch.nn.functional signatures; reduction is "none", "mean" or "sum".
Tensor cross_entropy(const Tensor& input, const Tensor& target, const OptTensor& weight = std::nullopt,
                     int64_t ignore_index = -100, const std::string& reduction = "mean",
                     double label_smoothing = 0.0);
Tensor nll_loss(const Tensor& input, const Tensor& target, const OptTensor& weight = std::nullopt,
                int64_t ignore_index = -100, const std::string& reduction = "mean");
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const OptTensor& weight = std::nullopt,
                            const std::string& reduction = "mean");
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const OptTensor& weight = std::nullopt,
                                        const std::string& reduction = "mean",
                                        const OptTensor& pos_weight = std::nullopt);

}  // namespace dlcore
