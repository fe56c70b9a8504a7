// Optimizer family: fused multi-tensor parameter updates (SGD, Adam/AdamW, RMSprop) and the
// foreach helpers behind gradient clipping (global norm, in-place scale and clamp). One call
// updates every parameter of a group; the Python optimizers (python/dlcore/optim) hold the
// state tensors and call these once per group per step.
//
// Note [Optimizer update layout]
// Every list holds one tensor per parameter, in the same order: params[i], grads[i] and the
// state tensors (momentum buffers, exp_avgs, ...) have params[i]'s shape, dtype (float32 or
// float64) and device, and are contiguous, so each is one flat run of numel elements. The
// kernels split the concatenated runs of all parameters across threads. An optional state
// list (momentum_buffers when momentum == 0, max_exp_avg_sqs without amsgrad, grad_avgs
// unless centered) is empty. Arithmetic is in the parameter's dtype with the same operation
// order as torch.optim's single-tensor updates, so float32 results agree to rounding.
//
// Note [Optimizer writes bypass autograd]
// Parameters are leaves that require grad; the update is an optimizer step (torch's no_grad
// semantics), so the kernels write the storage directly, records no Node, and bumps the
// version of every tensor it writes (Note [Version counter]).
#pragma once

#include <vector>

#include "dlcore/dispatch.h"
#include "dlcore/ops.h"

namespace dlcore {

using TensorList = std::vector<Tensor>;

struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};
struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled;  // decoupled: AdamW's p *= 1 - lr * weight_decay
};
struct RmspropOptions {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

// buffer_is_new[i]: momentum_buffers[i] is set to the (decayed) gradient instead of updated.
DL_DECLARE_KERNEL(sgd_step_kernel, void (*)(const TensorList& params, const TensorList& grads,
                                            const TensorList& momentum_buffers,
                                            const std::vector<bool>& buffer_is_new, const SgdOptions& o));
// steps[i]: parameter i's step count after this update (1 on the first), for bias correction.
DL_DECLARE_KERNEL(adam_step_kernel, void (*)(const TensorList& params, const TensorList& grads,
                                             const TensorList& exp_avgs, const TensorList& exp_avg_sqs,
                                             const TensorList& max_exp_avg_sqs, const std::vector<double>& steps,
                                             const AdamOptions& o));
DL_DECLARE_KERNEL(rmsprop_step_kernel, void (*)(const TensorList& params, const TensorList& grads,
                                                const TensorList& square_avgs, const TensorList& grad_avgs,
                                                const TensorList& momentum_buffers, const RmspropOptions& o));
// The norm of all elements of all tensors together (contiguous, float32/float64, mixed dtypes
// allowed): (sum |x|^p)^(1/p); p = inf: max |x|; p = -inf: min |x|; p = 0: count of nonzeros.
DL_DECLARE_KERNEL(foreach_norm_kernel, double (*)(const TensorList& tensors, double norm_type));
// In place on contiguous tensors: t *= factor; t = clamp(t, lo, hi).
DL_DECLARE_KERNEL(foreach_scale_kernel, void (*)(const TensorList& tensors, double factor));
DL_DECLARE_KERNEL(foreach_clamp_kernel, void (*)(const TensorList& tensors, double lo, double hi));

// The ops: check (names the op, the list and index, the shapes and dtypes), make grads
// contiguous, dispatch, bump versions.
void sgd_step(const TensorList& params, const TensorList& grads, const TensorList& momentum_buffers,
              const std::vector<bool>& buffer_is_new, const SgdOptions& o);
void adam_step(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
               const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs, const std::vector<double>& steps,
               const AdamOptions& o);
void rmsprop_step(const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                  const TensorList& grad_avgs, const TensorList& momentum_buffers, const RmspropOptions& o);
// A 0-d tensor (dtype of tensors[0]; float32 when empty) holding the global norm.
Tensor foreach_norm(const TensorList& tensors, double norm_type);
void foreach_scale_(const TensorList& tensors, double factor);
void foreach_clamp_(const TensorList& tensors, double lo, double hi);

}  // namespace dlcore
