// Normalisation layers: checks, dispatch (Note [Norm layouts] in ops/norm.h) and autograd with
// fused backward kernels.
//
// Note [Norm backward saves]
// batch_norm saves x, weight and the per-channel (mean, invstd) it normalised with (batch
// statistics in training, a copy of the running ones in eval); layer_norm and group_norm save
// x, weight and the per-row (mean, rstd); local_response_norm saves x and the divisor base
// `scale`. The backward is one kernel call that writes only the gradients that are needed. It
// would run the kernels under create_graph too, leaving results without history: these ops
// raise on double backward instead (check_no_double_backward), except batch_norm, layer_norm
// and group_norm (Note [Norm double backward]).
#include "ops/norm.h"

#include <limits>

#include "core/autocast.h"
#include "dlcore/autograd.h"

namespace dlcore {

DL_DEFINE_KERNEL(batch_norm_stats_kernel);
DL_DEFINE_KERNEL(batch_norm_apply_kernel);
DL_DEFINE_KERNEL(batch_norm_backward_kernel);
DL_DEFINE_KERNEL(layer_norm_kernel);
DL_DEFINE_KERNEL(layer_norm_backward_kernel);
DL_DEFINE_KERNEL(group_norm_kernel);
DL_DEFINE_KERNEL(group_norm_backward_kernel);
DL_DEFINE_KERNEL(lrn_kernel);
DL_DEFINE_KERNEL(lrn_backward_kernel);

namespace {

Tensor get(const OptTensor& t) { return t ? *t : Tensor(); }

void check_input(const char* op, const Tensor& x, int64_t min_dim, const char* layout) {
  DL_CHECK(x, ValueError, op, ": input is None");
  DL_CHECK(is_floating(x->dtype()), TypeError, op, ": expected a floating point input, got ", x->describe());
  DL_CHECK(is_cpu_compute_type(x->dtype()) || !x->device().is_cpu(), TypeError, op, ": ",
           dtype_name(x->dtype()), " is not supported on CPU (input ", x->describe(), "); convert with .float()");
  DL_CHECK(x->dim() >= min_dim, ValueError, op, ": expected an input with at least ", min_dim, " dims ", layout,
           ", got shape ", shape_str(x->shape()));
}

// A per-channel/per-feature tensor: absent, or of `shape`, x's dtype and device.
void check_param(const char* op, const char* arg, const Tensor& t, const Shape& shape, const Tensor& x,
                 bool same_dtype = true) {
  if (!t) return;
  DL_CHECK(t->shape() == shape, ValueError, op, ": expected ", arg, " of shape ", shape_str(shape), ", got ",
           shape_str(t->shape()), " (input shape ", shape_str(x->shape()), ")");
  DL_CHECK(!same_dtype || t->dtype() == x->dtype(), TypeError, op, ": expected ", arg, " to have the input's dtype ",
           dtype_name(x->dtype()), ", got ", t->describe());
  DL_CHECK(is_floating(t->dtype()), TypeError, op, ": expected a floating point ", arg, ", got ", t->describe());
  check_same_device(op, x, t);
}

Tensor contiguous_or_null(const Tensor& t) { return t ? contiguous(t) : Tensor(); }

// The incoming gradient as a contiguous tensor of x's dtype.
Tensor grad_like(const Tensor& g, const Tensor& x) {
  return contiguous(g->dtype() == x->dtype() ? g : to_dtype(g, x->dtype()));
}

Tensor empty_if(bool needed, const Shape& shape, const Tensor& like) {
  return needed ? empty(shape, like->dtype(), like->device()) : Tensor();
}

// Note [Norm double backward]
// Under create_graph the batch_norm, layer_norm and group_norm backward is their formula over
// ops, with the statistics recomputed from the saved x (mean, biased var, rsqrt) so that a
// second derivative sees their dependence on x. With x viewed as `grouped`, statistics over
// `stat_dims` of that view:
//   gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)),  gh = g * w,  xhat = (x - mean) * rstd
// and gw = sum of g * xhat, gb = sum of g over `param_dims` of x (none: x's shape is w's).
// `w` is the weight shaped to broadcast against x, or null. batch_norm in eval mode passes its
// statistics (`fixed_mean`, `fixed_rstd`, shaped like w): constants, so gx = gh * rstd.
std::vector<Tensor> norm_backward_formula(const Tensor& g, const Tensor& x, const Tensor& w, const Shape& grouped,
                                          const Shape& stat_dims, const Shape& param_dims, double eps,
                                          const Node& n, const Tensor& fixed_mean = Tensor(),
                                          const Tensor& fixed_rstd = Tensor()) {
  const bool fixed = static_cast<bool>(fixed_rstd);
  Tensor xg = reshape(x, grouped);
  Tensor rstd = fixed ? fixed_rstd : rsqrt(var(xg, stat_dims, 0.0, true) + eps);
  Tensor xhat = (xg - (fixed ? fixed_mean : mean(xg, stat_dims, true))) * rstd;
  auto sum_params = [&](const Tensor& t) { return param_dims.empty() ? t : sum(t, param_dims, false); };
  std::vector<Tensor> out(3);
  if (n.needs_input_grad(0)) {
    Tensor gh = reshape(w ? g * w : g, grouped);
    out[0] = fixed ? gh * rstd
                   : rstd * (gh - mean(gh, stat_dims, true) - xhat * mean(gh * xhat, stat_dims, true));
    out[0] = reshape(out[0], x->shape());
  }
  if (n.needs_input_grad(1)) out[1] = sum_params(g * reshape(xhat, x->shape()));
  if (n.needs_input_grad(2)) out[2] = sum_params(g);
  return out;
}

}  // namespace

// ---- batch_norm --------------------------------------------------------------------------------

Tensor batch_norm(const Tensor& x, const OptTensor& running_mean, const OptTensor& running_var,
                  const OptTensor& weight, const OptTensor& bias, bool training, double momentum, double eps) {
  if (autocast::active() && autocast::is_reduced(x)) {  // float32 inside, x's dtype out (Note [Autocast])
    autocast::Suspend off;
    return to_dtype(batch_norm(autocast::fp32(x), running_mean, running_var, autocast::fp32(weight),
                               autocast::fp32(bias), training, momentum, eps),
                    x->dtype());
  }
  const char* op = "batch_norm";
  check_input(op, x, 2, "(N, C, ...)");
  const int64_t C = x->size(1);
  Tensor rm = get(running_mean), rv = get(running_var), w = get(weight), b = get(bias);
  check_param(op, "running_mean", rm, {C}, x, false);
  check_param(op, "running_var", rv, {C}, x, false);
  check_param(op, "weight", w, {C}, x);
  check_param(op, "bias", b, {C}, x);
  const int64_t count = C > 0 ? x->numel() / C : 0;  // values per channel
  if (training) {
    // An empty batch passes, as in PyTorch (below: it has no statistics).
    DL_CHECK(count != 1, ValueError, op, ": expected more than 1 value per channel when training, got input shape ",
             shape_str(x->shape()));
  } else {
    DL_CHECK(rm && rv, ValueError, op, ": running_mean and running_var are required when training=False (input shape ",
             shape_str(x->shape()), ")");
  }
  DL_CHECK(eps >= 0, ValueError, op, ": eps must be non-negative, got ", eps);

  Tensor xc = contiguous(x);
  Tensor mean, invstd;
  {
    GradModeGuard no_grad(false);
    if (training) {
      mean = empty({C}, x->dtype(), x->device());
      Tensor var = empty({C}, x->dtype(), x->device());
      // A batch of no values has no statistics: NaN (never read: the output and the gradient of
      // x are empty), and the running statistics stay as they are, as in PyTorch.
      if (count > 0) {
        batch_norm_stats_kernel[x->device()](xc, mean, var);
      } else {
        fill_(mean, std::numeric_limits<double>::quiet_NaN());
        fill_(var, std::numeric_limits<double>::quiet_NaN());
      }
      invstd = rsqrt(var + eps);
      // Running statistics: r = (1 - momentum) * r + momentum * batch (unbiased variance).
      if (rm && count > 0) {
        Tensor r = rm;
        mul_(r, wrap_scalar(1.0 - momentum, r->dtype()));
        add_(r, mean, momentum);
      }
      if (rv && count > 0) {
        Tensor r = rv;
        const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
        mul_(r, wrap_scalar(1.0 - momentum, r->dtype()));
        add_(r, var, momentum * unbias);
      }
    } else {
      mean = clone(to_dtype(rm, x->dtype()));
      invstd = rsqrt(to_dtype(rv, x->dtype()) + eps);
    }
  }
  Tensor y = empty(x->shape(), x->dtype(), x->device());
  if (x->numel() > 0)
    batch_norm_apply_kernel[x->device()](y, xc, mean, invstd, contiguous_or_null(w), contiguous_or_null(b));

  if (any_requires_grad({&x, &w, &b})) {
    SavedTensor sx(xc, false), sw(w ? w : Tensor(), false);
    const bool has_w = static_cast<bool>(w);
    record("BatchNormBackward", {x, w, b}, {y},
           [sx, sw, has_w, mean, invstd, training, eps](const std::vector<Tensor>& g, const Node& n) {
             if (!g[0]) return std::vector<Tensor>{Tensor(), Tensor(), Tensor()};
             Tensor x = sx.unpack(n), w = has_w ? sw.unpack(n) : Tensor();
             const int64_t C = x->size(1);
             if (grad_enabled()) {  // Note [Norm double backward]
               Shape c_shape{C}, dims{0};
               for (int64_t d = 2; d < x->dim(); ++d) {
                 c_shape.push_back(1);
                 dims.push_back(d);
               }
               return norm_backward_formula(grad_like(g[0], x), x, w ? reshape(w, c_shape) : Tensor(), x->shape(), dims,
                                            dims, eps, n, training ? Tensor() : reshape(mean, c_shape),
                                            training ? Tensor() : reshape(invstd, c_shape));
             }
             Tensor gx = empty_if(n.needs_input_grad(0), x->shape(), x);
             Tensor gw = empty_if(n.needs_input_grad(1), {C}, x);
             Tensor gb = empty_if(n.needs_input_grad(2), {C}, x);
             GradModeGuard no_grad(false);
             if (x->numel() > 0)
               batch_norm_backward_kernel[x->device()](training, gx, gw, gb, grad_like(g[0], x), x, mean, invstd,
                                                       w ? contiguous(w) : Tensor());
             else
               for (const Tensor& t : {gx, gw, gb})
                 if (t) zero_(t);
             return std::vector<Tensor>{gx, gw, gb};
           });
  }
  return y;
}

// ---- layer_norm --------------------------------------------------------------------------------

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const OptTensor& weight, const OptTensor& bias,
                  double eps) {
  DL_AUTOCAST(layer_norm(autocast::fp32(x), normalized_shape, autocast::fp32(weight), autocast::fp32(bias), eps));
  const char* op = "layer_norm";
  check_input(op, x, 1, "");
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  DL_CHECK(k >= 1, ValueError, op, ": normalized_shape must have at least 1 dim, got ", shape_str(normalized_shape));
  bool match = x->dim() >= k;
  for (int64_t i = 0; match && i < k; ++i) match = x->size(x->dim() - k + i) == normalized_shape[i];
  DL_CHECK(match, ValueError, op, ": normalized_shape ", shape_str(normalized_shape),
           " does not match the trailing dims of input shape ", shape_str(x->shape()));
  Tensor w = get(weight), b = get(bias);
  check_param(op, "weight", w, normalized_shape, x);
  check_param(op, "bias", b, normalized_shape, x);
  DL_CHECK(eps >= 0, ValueError, op, ": eps must be non-negative, got ", eps);

  const int64_t D = shape_numel(normalized_shape);
  const int64_t M = D > 0 ? x->numel() / D : 0;
  Tensor xc = contiguous(x);
  Tensor y = empty(x->shape(), x->dtype(), x->device());
  Tensor mean = empty({M}, x->dtype(), x->device()), rstd = empty({M}, x->dtype(), x->device());
  if (x->numel() > 0)
    layer_norm_kernel[x->device()](y, mean, rstd, xc, contiguous_or_null(w), contiguous_or_null(b), eps);

  if (any_requires_grad({&x, &w, &b})) {
    SavedTensor sx(xc, false), sw(w ? w : Tensor(), false);
    const bool has_w = static_cast<bool>(w);
    record("LayerNormBackward", {x, w, b}, {y},
           [sx, sw, has_w, mean, rstd, normalized_shape, eps](const std::vector<Tensor>& g, const Node& n) {
             if (!g[0]) return std::vector<Tensor>{Tensor(), Tensor(), Tensor()};
             Tensor x = sx.unpack(n), w = has_w ? sw.unpack(n) : Tensor();
             if (grad_enabled()) {  // Note [Norm double backward]
               const int64_t batch = x->dim() - static_cast<int64_t>(normalized_shape.size());
               Shape stat_dims, param_dims;
               for (int64_t d = 0; d < x->dim(); ++d) (d < batch ? param_dims : stat_dims).push_back(d);
               return norm_backward_formula(grad_like(g[0], x), x, w, x->shape(), stat_dims, param_dims, eps, n);
             }
             Tensor gx = empty_if(n.needs_input_grad(0), x->shape(), x);
             Tensor gw = empty_if(n.needs_input_grad(1), normalized_shape, x);
             Tensor gb = empty_if(n.needs_input_grad(2), normalized_shape, x);
             GradModeGuard no_grad(false);
             if (x->numel() > 0)
               layer_norm_backward_kernel[x->device()](gx, gw, gb, grad_like(g[0], x), x, mean, rstd,
                                                       w ? contiguous(w) : Tensor());
             else
               for (const Tensor& t : {gx, gw, gb})
                 if (t) zero_(t);
             return std::vector<Tensor>{gx, gw, gb};
           });
  }
  return y;
}

// ---- group_norm --------------------------------------------------------------------------------

Tensor group_norm(const Tensor& x, int64_t num_groups, const OptTensor& weight, const OptTensor& bias, double eps) {
  DL_AUTOCAST(group_norm(autocast::fp32(x), num_groups, autocast::fp32(weight), autocast::fp32(bias), eps));
  const char* op = "group_norm";
  check_input(op, x, 2, "(N, C, ...)");
  const int64_t N = x->size(0), C = x->size(1);
  DL_CHECK(num_groups > 0, ValueError, op, ": num_groups must be positive, got ", num_groups);
  DL_CHECK(C % num_groups == 0, ValueError, op, ": expected the number of channels ", C,
           " to be divisible by num_groups ", num_groups, " (input shape ", shape_str(x->shape()), ")");
  Tensor w = get(weight), b = get(bias);
  check_param(op, "weight", w, {C}, x);
  check_param(op, "bias", b, {C}, x);
  DL_CHECK(eps >= 0, ValueError, op, ": eps must be non-negative, got ", eps);

  Tensor xc = contiguous(x);
  Tensor y = empty(x->shape(), x->dtype(), x->device());
  Tensor mean = empty({N, num_groups}, x->dtype(), x->device()), rstd = empty({N, num_groups}, x->dtype(), x->device());
  if (x->numel() > 0)
    group_norm_kernel[x->device()](y, mean, rstd, xc, contiguous_or_null(w), contiguous_or_null(b), num_groups, eps);

  if (any_requires_grad({&x, &w, &b})) {
    SavedTensor sx(xc, false), sw(w ? w : Tensor(), false);
    const bool has_w = static_cast<bool>(w);
    record("GroupNormBackward", {x, w, b}, {y},
           [sx, sw, has_w, mean, rstd, num_groups, eps](const std::vector<Tensor>& g, const Node& n) {
             if (!g[0]) return std::vector<Tensor>{Tensor(), Tensor(), Tensor()};
             Tensor x = sx.unpack(n), w = has_w ? sw.unpack(n) : Tensor();
             const int64_t C = x->size(1);
             if (grad_enabled()) {  // Note [Norm double backward]
               int64_t group_size = C / num_groups;
               Shape w_shape{C}, param_dims{0};
               for (int64_t d = 2; d < x->dim(); ++d) {
                 group_size *= x->size(d);
                 w_shape.push_back(1);
                 param_dims.push_back(d);
               }
               return norm_backward_formula(grad_like(g[0], x), x, w ? reshape(w, w_shape) : Tensor(),
                                            {x->size(0), num_groups, group_size}, {2}, param_dims, eps, n);
             }
             Tensor gx = empty_if(n.needs_input_grad(0), x->shape(), x);
             Tensor gw = empty_if(n.needs_input_grad(1), {C}, x);
             Tensor gb = empty_if(n.needs_input_grad(2), {C}, x);
             GradModeGuard no_grad(false);
             if (x->numel() > 0)
               group_norm_backward_kernel[x->device()](gx, gw, gb, grad_like(g[0], x), x, mean, rstd,
                                                       w ? contiguous(w) : Tensor(), num_groups);
             else
               for (const Tensor& t : {gx, gw, gb})
                 if (t) zero_(t);
             return std::vector<Tensor>{gx, gw, gb};
           });
  }
  return y;
}

// ---- local_response_norm -----------------------------------------------------------------------

Tensor local_response_norm(const Tensor& x, int64_t size, double alpha, double beta, double k) {
  const char* op = "local_response_norm";
  check_input(op, x, 3, "(N, C, ...)");
  DL_CHECK(size > 0, ValueError, op, ": size must be positive, got ", size, " (input shape ", shape_str(x->shape()),
           ")");
  Tensor xc = contiguous(x);
  Tensor y = empty(x->shape(), x->dtype(), x->device());
  Tensor scale = empty(x->shape(), x->dtype(), x->device());
  if (x->numel() > 0) lrn_kernel[x->device()](y, scale, xc, size, alpha, beta, k);

  if (any_requires_grad({&x})) {
    SavedTensor sx(xc, false);
    record("LocalResponseNormBackward", {x}, {y},
           [sx, scale, size, alpha, beta](const std::vector<Tensor>& g, const Node& n) {
             check_no_double_backward(n);
             if (!g[0]) return std::vector<Tensor>{Tensor()};
             Tensor x = sx.unpack(n);
             Tensor gx = empty(x->shape(), x->dtype(), x->device());
             GradModeGuard no_grad(false);
             if (x->numel() > 0)
               lrn_backward_kernel[x->device()](gx, grad_like(g[0], x), x, scale, size, alpha, beta);
             return std::vector<Tensor>{gx};
           });
  }
  return y;
}

DL_REGISTER_OPS({"batch_norm", "norm", true}, {"layer_norm", "norm", true}, {"group_norm", "norm", true},
                {"local_response_norm", "norm", true});

}  // namespace dlcore
