// Optimizer family ops: argument checks, then one kernel call for all parameters of a group
// (Note [Optimizer update layout], Note [Optimizer writes bypass autograd] in ops/optim.h).
#include "ops/optim.h"

#include <cmath>

#include "dlcore/autograd.h"

namespace dlcore {

DL_DEFINE_KERNEL(sgd_step_kernel);
DL_DEFINE_KERNEL(adam_step_kernel);
DL_DEFINE_KERNEL(rmsprop_step_kernel);
DL_DEFINE_KERNEL(foreach_norm_kernel);
DL_DEFINE_KERNEL(foreach_scale_kernel);
DL_DEFINE_KERNEL(foreach_clamp_kernel);

namespace {

bool is_float(DType t) { return t == DType::Float32 || t == DType::Float64; }

void check_float(const char* op, const char* list, size_t i, const Tensor& t) {
  DL_CHECK(t, ValueError, op, ": ", list, "[", i, "] is None");
  DL_CHECK(is_float(t->dtype()), TypeError, op, ": ", list, "[", i, "] has dtype ", dtype_name(t->dtype()),
           " (expected float32 or float64)");
}

// params: each float32/float64, contiguous, on the device of params[0].
void check_params(const char* op, const TensorList& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    check_float(op, "params", i, params[i]);
    DL_CHECK(params[i]->is_contiguous(), ValueError, op, ": params[", i, "] is not contiguous (shape ",
             shape_str(params[i]->shape()), ", strides ", shape_str(params[i]->strides()), ")");
    DL_CHECK(params[i]->device() == params[0]->device(), ValueError, op, ": params[", i, "] is on ",
             params[i]->device().str(), " but params[0] is on ", params[0]->device().str());
  }
}

// `list` has one tensor per parameter with its shape, dtype and device. Contiguity is checked
// when the kernel writes the tensors (state); read-only lists (grads) are made contiguous.
void check_like_params(const char* op, const char* list, const TensorList& ts, const TensorList& params,
                       bool written) {
  DL_CHECK(ts.size() == params.size(), ValueError, op, ": got ", params.size(), " params but ", ts.size(), " ",
           list);
  for (size_t i = 0; i < ts.size(); ++i) {
    check_float(op, list, i, ts[i]);
    DL_CHECK(ts[i]->shape() == params[i]->shape(), ValueError, op, ": ", list, "[", i, "] has shape ",
             shape_str(ts[i]->shape()), " but params[", i, "] has shape ", shape_str(params[i]->shape()));
    DL_CHECK(ts[i]->dtype() == params[i]->dtype(), TypeError, op, ": ", list, "[", i, "] has dtype ",
             dtype_name(ts[i]->dtype()), " but params[", i, "] has dtype ", dtype_name(params[i]->dtype()));
    DL_CHECK(ts[i]->device() == params[i]->device(), ValueError, op, ": ", list, "[", i, "] is on ",
             ts[i]->device().str(), " but params[", i, "] is on ", params[i]->device().str());
    DL_CHECK(!written || ts[i]->is_contiguous(), ValueError, op, ": ", list, "[", i,
             "] is not contiguous (shape ", shape_str(ts[i]->shape()), ", strides ", shape_str(ts[i]->strides()),
             ")");
  }
}

// An optional state list: empty, or one tensor per parameter.
void check_optional(const char* op, const char* list, const TensorList& ts, const TensorList& params, bool needed,
                    const char* why) {
  if (needed)
    DL_CHECK(!ts.empty() || params.empty(), ValueError, op, ": ", list, " is empty but ", why);
  if (!ts.empty()) check_like_params(op, list, ts, params, true);
}

void check_hyper(const char* op, const char* name, double v, bool ok, const char* expected) {
  DL_CHECK(ok, ValueError, op, ": invalid ", name, " ", v, " (expected ", expected, ")");
}

TensorList contiguous_all(const TensorList& ts) {
  TensorList out;
  out.reserve(ts.size());
  for (const Tensor& t : ts) out.push_back(contiguous(t));
  return out;
}

void bump(const TensorList& ts) {
  for (const Tensor& t : ts) t->bump_version();
}

}  // namespace

void sgd_step(const TensorList& params, const TensorList& grads, const TensorList& momentum_buffers,
              const std::vector<bool>& buffer_is_new, const SgdOptions& o) {
  const char* op = "sgd_step";
  check_hyper(op, "lr", o.lr, o.lr >= 0, ">= 0");
  check_hyper(op, "momentum", o.momentum, o.momentum >= 0, ">= 0");
  check_hyper(op, "weight_decay", o.weight_decay, o.weight_decay >= 0, ">= 0");
  DL_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), ValueError, op,
           ": nesterov momentum requires a momentum and zero dampening (momentum ", o.momentum, ", dampening ",
           o.dampening, ")");
  check_params(op, params);
  check_like_params(op, "grads", grads, params, false);
  check_optional(op, "momentum_buffers", momentum_buffers, params, o.momentum != 0, "momentum is not 0");
  if (o.momentum != 0)
    DL_CHECK(buffer_is_new.size() == params.size(), ValueError, op, ": got ", params.size(), " params but ",
             buffer_is_new.size(), " buffer_is_new flags");
  if (params.empty()) return;
  const TensorList& bufs = o.momentum != 0 ? momentum_buffers : TensorList{};
  sgd_step_kernel[params[0]->device()](params, contiguous_all(grads), bufs, buffer_is_new, o);
  bump(params);
  bump(bufs);
}

void adam_step(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
               const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs, const std::vector<double>& steps,
               const AdamOptions& o) {
  const char* op = o.decoupled ? "adamw_step" : "adam_step";
  check_hyper(op, "lr", o.lr, o.lr >= 0, ">= 0");
  check_hyper(op, "eps", o.eps, o.eps >= 0, ">= 0");
  check_hyper(op, "beta1", o.beta1, o.beta1 >= 0 && o.beta1 < 1, "in [0, 1)");
  check_hyper(op, "beta2", o.beta2, o.beta2 >= 0 && o.beta2 < 1, "in [0, 1)");
  check_hyper(op, "weight_decay", o.weight_decay, o.weight_decay >= 0, ">= 0");
  check_params(op, params);
  check_like_params(op, "grads", grads, params, false);
  check_like_params(op, "exp_avgs", exp_avgs, params, true);
  check_like_params(op, "exp_avg_sqs", exp_avg_sqs, params, true);
  check_optional(op, "max_exp_avg_sqs", max_exp_avg_sqs, params, o.amsgrad, "amsgrad is set");
  DL_CHECK(steps.size() == params.size(), ValueError, op, ": got ", params.size(), " params but ", steps.size(),
           " step counts");
  for (size_t i = 0; i < steps.size(); ++i)
    DL_CHECK(steps[i] >= 1, ValueError, op, ": step[", i, "] is ", steps[i], " (expected >= 1)");
  if (params.empty()) return;
  adam_step_kernel[params[0]->device()](params, contiguous_all(grads), exp_avgs, exp_avg_sqs,
                                        o.amsgrad ? max_exp_avg_sqs : TensorList{}, steps, o);
  bump(params);
  bump(exp_avgs);
  bump(exp_avg_sqs);
  if (o.amsgrad) bump(max_exp_avg_sqs);
}

void rmsprop_step(const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                  const TensorList& grad_avgs, const TensorList& momentum_buffers, const RmspropOptions& o) {
  const char* op = "rmsprop_step";
  check_hyper(op, "lr", o.lr, o.lr >= 0, ">= 0");
  check_hyper(op, "eps", o.eps, o.eps >= 0, ">= 0");
  check_hyper(op, "alpha", o.alpha, o.alpha >= 0, ">= 0");
  check_hyper(op, "momentum", o.momentum, o.momentum >= 0, ">= 0");
  check_hyper(op, "weight_decay", o.weight_decay, o.weight_decay >= 0, ">= 0");
  check_params(op, params);
  check_like_params(op, "grads", grads, params, false);
  check_like_params(op, "square_avgs", square_avgs, params, true);
  check_optional(op, "grad_avgs", grad_avgs, params, o.centered, "centered is set");
  check_optional(op, "momentum_buffers", momentum_buffers, params, o.momentum > 0, "momentum is not 0");
  if (params.empty()) return;
  rmsprop_step_kernel[params[0]->device()](params, contiguous_all(grads), square_avgs,
                                           o.centered ? grad_avgs : TensorList{},
                                           o.momentum > 0 ? momentum_buffers : TensorList{}, o);
  bump(params);
  bump(square_avgs);
  if (o.centered) bump(grad_avgs);
  if (o.momentum > 0) bump(momentum_buffers);
}

Tensor foreach_norm(const TensorList& tensors, double norm_type) {
  const char* op = "foreach_norm";
  DL_CHECK(!std::isnan(norm_type), ValueError, op, ": norm_type is nan");
  for (size_t i = 0; i < tensors.size(); ++i) {
    check_float(op, "tensors", i, tensors[i]);
    DL_CHECK(tensors[i]->device() == tensors[0]->device(), ValueError, op, ": tensors[", i, "] is on ",
             tensors[i]->device().str(), " but tensors[0] is on ", tensors[0]->device().str());
  }
  if (tensors.empty()) return scalar_tensor(0.0, DType::Float32);
  const double norm = foreach_norm_kernel[tensors[0]->device()](contiguous_all(tensors), norm_type);
  return scalar_tensor(norm, tensors[0]->dtype(), tensors[0]->device());
}

namespace {

// Contiguous tensors go through `kernel` in one call; the others are written with other ops.
template <typename Kernel, typename Fallback>
void foreach_inplace(const char* op, const TensorList& tensors, Kernel kernel, Fallback fallback) {
  TensorList flat;
  for (size_t i = 0; i < tensors.size(); ++i) {
    check_float(op, "tensors", i, tensors[i]);
    if (tensors[i]->is_contiguous())
      flat.push_back(tensors[i]);
    else
      fallback(tensors[i]);
  }
  if (flat.empty()) return;
  for (const Tensor& t : flat)
    DL_CHECK(t->device() == flat[0]->device(), ValueError, op, ": tensors are on ", flat[0]->device().str(),
             " and ", t->device().str());
  kernel(flat);
  bump(flat);
}

}  // namespace

void foreach_scale_(const TensorList& tensors, double factor) {
  GradModeGuard no_grad(false);
  foreach_inplace(
      "foreach_scale_", tensors,
      [&](const TensorList& flat) { foreach_scale_kernel[flat[0]->device()](flat, factor); },
      [&](const Tensor& t) { copy_(t, mul(t, wrap_scalar(factor, t->dtype()))); });
}

void foreach_clamp_(const TensorList& tensors, double lo, double hi) {
  DL_CHECK(lo <= hi, ValueError, "foreach_clamp_: min ", lo, " is greater than max ", hi);
  GradModeGuard no_grad(false);
  foreach_inplace(
      "foreach_clamp_", tensors,
      [&](const TensorList& flat) { foreach_clamp_kernel[flat[0]->device()](flat, lo, hi); },
      [&](const Tensor& t) { copy_(t, clamp(t, lo, hi)); });
}

}  // namespace dlcore
