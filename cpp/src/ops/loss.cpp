// Losses: checks, the (M, C) row layout (Note [Loss row layout] in ops/loss.h), dispatch to
// the fused class kernels, reductions, and the backward formulas.
//
// Note [Cross entropy formulas]
// PyTorch's semantics. With lse = logsumexp(x_i), w the class weights (1 when absent),
// e = label_smoothing and C classes, row i with class-index target t costs
//     loss_i = (1 - e) * w_t * (lse - x_t) + (e / C) * sum_c w_c * (lse - x_c)
// (0 when t == ignore_index), and 'mean' divides the sum by sum_i w_t over rows not ignored.
// With probability targets p, q = (1 - e) * p + e / C and
//     loss_i = sum_c w_c * q_c * (lse - x_c),
// and 'mean' divides by M. Both are loss_i = sum_c dist_c * (lse - x_c) for a per-row
// weighted target distribution dist, so d loss_i / d x_c = softmax_c * sum(dist) - dist_c.
// For probability targets d loss_i / d p_c = -(1 - e) * w_c * (x_c - lse).
#include "ops/loss.h"

#include "core/autocast.h"
#include "dlcore/autograd.h"

namespace dlcore {

DL_DEFINE_KERNEL(cross_entropy_kernel);
DL_DEFINE_KERNEL(cross_entropy_backward_kernel);
DL_DEFINE_KERNEL(nll_loss_kernel);
DL_DEFINE_KERNEL(nll_loss_backward_kernel);

namespace {

enum class Reduction { None, Mean, Sum };

Reduction parse_reduction(const std::string& r, const char* op) {
  if (r == "none") return Reduction::None;
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  throw ValueError(str_cat(op, ": reduction must be 'none', 'mean' or 'sum', got '", r, "'"));
}

Tensor opt(const OptTensor& t) { return t ? *t : Tensor(); }

void check_input(const Tensor& x, const char* op) {
  DL_CHECK(x != nullptr, ValueError, op, ": input is None");
  DL_CHECK(is_floating(x->dtype()), TypeError, op, ": expected a floating point input, got ", x->describe());
  DL_CHECK(is_cpu_compute_type(x->dtype()) || !x->device().is_cpu(), TypeError, op, ": ", dtype_name(x->dtype()),
           " is not supported on CPU (input ", x->describe(), "); convert with .float()");
}

// The class dim of input (N, C, d1, ...) moved last and flattened: (M, C); (C,) -> (1, C).
Tensor class_rows(const Tensor& x) {
  if (x->dim() == 1) return unsqueeze(x, 0);
  if (x->dim() == 2) return x;
  Shape perm{0};
  for (int64_t d = 2; d < x->dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  return reshape(permute(x, perm), {-1, x->shape()[1]});
}

// input's shape without the class dim (the shape of an index target and of reduction='none').
Shape batch_shape(const Tensor& x) {
  Shape s = x->shape();
  s.erase(s.begin() + (x->dim() == 1 ? 0 : 1));
  return s;
}

Tensor contiguous_nograd(const Tensor& t) {
  GradModeGuard no_grad(false);
  return contiguous(detach(t));
}

// An int64 (M,) copy-or-view of an index target, checked against input's batch shape.
Tensor index_rows(const Tensor& input, const Tensor& target, const char* op) {
  DL_CHECK(target->dtype() == DType::Int64 || target->dtype() == DType::Int32, TypeError, op,
           ": class-index target must be int64, got ", target->describe(), " (input ", input->describe(), ")");
  DL_CHECK(target->shape() == batch_shape(input), ValueError, op, ": expected target of shape ",
           shape_str(batch_shape(input)), " for input of shape ", shape_str(input->shape()), ", got ",
           shape_str(target->shape()));
  GradModeGuard no_grad(false);
  return contiguous(reshape(to_dtype(detach(target), DType::Int64), {-1}));
}

Tensor weight_of(const OptTensor& w, const Tensor& input, int64_t C, const char* op) {
  Tensor weight = opt(w);
  if (!weight) return weight;
  DL_CHECK(is_floating(weight->dtype()), TypeError, op, ": weight must be a floating point tensor, got ",
           weight->describe());
  DL_CHECK(weight->dim() == 1 && weight->shape()[0] == C, ValueError, op, ": weight must have shape [", C,
           "] (one per class of input ", shape_str(input->shape()), "), got ", shape_str(weight->shape()));
  check_same_device(op, input, weight);
  GradModeGuard no_grad(false);
  return contiguous(to_dtype(detach(weight), input->dtype()));
}

// grad (M,) as (data tensor, stride): expanded scalars keep stride 0.
std::pair<Tensor, int64_t> row_grad(const Tensor& g, DType dtype) {
  Tensor gc = g->dtype() == dtype ? g : to_dtype(g, dtype);
  if (gc->dim() == 1 && (gc->strides()[0] == 0 || gc->strides()[0] == 1)) return {gc, gc->strides()[0]};
  return {contiguous(gc), 1};
}

Tensor reduce_rows(const Tensor& loss, const Tensor& denom, Reduction r, const Shape& none_shape) {
  switch (r) {
    case Reduction::None: return reshape(loss, none_shape);
    case Reduction::Sum: return sum(loss);
    case Reduction::Mean: return denom ? sum(loss) / denom : mean(loss);
  }
  return loss;
}

// -weight[t] one-hot rows of t (M,) over C classes (zero rows where ignored), as (M, C).
Tensor neg_target_dist(const Tensor& t, const Tensor& weight, int64_t C, DType dtype, int64_t ignore_index) {
  const int64_t M = t->shape()[0];
  Tensor d = empty({M, C}, dtype, t->device());
  Tensor one = scalar_tensor(1.0, dtype, t->device());
  nll_loss_backward_kernel[t->device()](d, one, 0, t, weight, ignore_index);
  return d;
}

// Note [Cross entropy backward]
// Without create_graph the backward is the fused kernel. Under create_graph it is the same
// formula, grad_x = (softmax(x) * sum(dist) - dist) * g, over ops on the saved graph inputs
// (x rows and, for probability targets, the target rows), so that it can be differentiated
// again; the class-index dist comes from the nll backward kernel (it has no gradient).
std::vector<Tensor> cross_entropy_backward_formula(const Tensor& xr, const Tensor& target, bool prob,
                                                   const Tensor& weight, int64_t ignore_index, double eps,
                                                   const Tensor& g, const Node& n) {
  const int64_t C = xr->shape()[1];
  const Tensor gi = unsqueeze(g, 1);
  Tensor dist;
  if (prob) {
    dist = target * (1.0 - eps) + eps / static_cast<double>(C);
  } else {
    GradModeGuard no_grad(false);
    dist = neg_target_dist(target, weight, C, xr->dtype(), ignore_index) * -(1.0 - eps);
    if (eps > 0) {
      Tensor kept = unsqueeze(to_dtype(ne(target, wrap_scalar(static_cast<double>(ignore_index), DType::Int64)),
                                       xr->dtype()), 1);
      dist = dist + kept * (eps / static_cast<double>(C));
    }
  }
  if (prob && weight) dist = dist * weight;
  if (!prob && weight && eps > 0) {
    // the smoothing term is weighted per class: (1 - e) w_t onehot + (e / C) w_c
    GradModeGuard no_grad(false);
    Tensor onehot = neg_target_dist(target, weight, C, xr->dtype(), ignore_index) * -(1.0 - eps);
    dist = onehot + (dist - onehot) * weight;
  }
  std::vector<Tensor> out(prob ? 2 : 1);
  if (n.needs_input_grad(0)) out[0] = (softmax(xr, 1) * sum(dist, {1}, true) - dist) * gi;
  if (prob && n.needs_input_grad(1)) {
    Tensor d = log_softmax(xr, 1) * gi * -(1.0 - eps);
    out[1] = weight ? d * weight : d;
  }
  return out;
}

// Per-row cross entropy of xr (M, C) (Note [Cross entropy formulas]); returns (loss, row_weight).
std::pair<Tensor, Tensor> cross_entropy_rows(const Tensor& xr, const Tensor& target, bool prob, const Tensor& weight,
                                             int64_t ignore_index, double eps) {
  const Tensor x = contiguous_nograd(xr);
  const int64_t M = x->shape()[0];
  Tensor loss = empty({M}, x->dtype(), x->device());
  Tensor lse = empty({M, 2}, x->dtype(), x->device());  // Note [Cross entropy saves lse]
  Tensor row_weight = prob ? Tensor() : empty({M}, x->dtype(), x->device());
  const Tensor t = prob ? contiguous_nograd(target) : target;
  cross_entropy_kernel[x->device()](loss, lse, row_weight, x, t, weight, ignore_index, eps);
  const std::vector<Tensor> inputs = prob ? std::vector<Tensor>{xr, target} : std::vector<Tensor>{xr};
  if (any_requires_grad(inputs)) {
    SavedTensor sx(x, false), slse(lse, false), st(t, false), sxr(xr, false), str(target, false);
    record("CrossEntropyBackward", inputs, {loss},
           [sx, slse, st, sxr, str, weight, ignore_index, eps, prob](const std::vector<Tensor>& g, const Node& n) {
             std::vector<Tensor> out(prob ? 2 : 1);
             if (grad_enabled())  // create_graph: differentiable formulas (Note [Cross entropy backward])
               return cross_entropy_backward_formula(sxr.unpack(n), prob ? str.unpack(n) : st.unpack(n), prob, weight,
                                                     ignore_index, eps, g[0], n);
             const Tensor x = sx.unpack(n), lse = slse.unpack(n), t = st.unpack(n);
             if (n.needs_input_grad(0)) {
               auto [gl, gs] = row_grad(g[0], x->dtype());
               Tensor gx = empty(x->shape(), x->dtype(), x->device());
               cross_entropy_backward_kernel[x->device()](gx, gl, gs, x, lse, t, weight, ignore_index, eps);
               out[0] = gx;
             }
             if (prob && n.needs_input_grad(1)) {
               Tensor d = ((x - narrow(lse, 1, 0, 1)) - narrow(lse, 1, 1, 1)) * unsqueeze(g[0], 1) * -(1.0 - eps);
               out[1] = weight ? d * weight : d;
             }
             return out;
           });
  }
  return {loss, row_weight};
}

}  // namespace

Tensor cross_entropy(const Tensor& input, const Tensor& target, const OptTensor& w, int64_t ignore_index,
                     const std::string& reduction, double label_smoothing) {
  DL_AUTOCAST(cross_entropy(autocast::fp32(input), autocast::fp32(target), autocast::fp32(w), ignore_index, reduction,
                            label_smoothing));
  const char* op = "cross_entropy";
  check_input(input, op);
  DL_CHECK(target != nullptr, ValueError, op, ": target is None");
  const Reduction r = parse_reduction(reduction, op);
  DL_CHECK(input->dim() >= 1, ValueError, op, ": input must have at least 1 dim (C) or be (N, C, ...), got shape ",
           shape_str(input->shape()));
  DL_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, ValueError, op,
           ": label_smoothing must be in [0, 1], got ", label_smoothing);
  check_same_device(op, input, target);
  const int64_t C = input->shape()[input->dim() == 1 ? 0 : 1];
  const Tensor weight = weight_of(w, input, C, op);
  const bool prob = is_floating(target->dtype());
  const Tensor xr = class_rows(input);
  if (prob) {
    DL_CHECK(target->shape() == input->shape(), ValueError, op, ": expected target of shape ",
             shape_str(input->shape()), " (class probabilities) or ", shape_str(batch_shape(input)),
             " (class indices) for input of shape ", shape_str(input->shape()), ", got ",
             shape_str(target->shape()));
    const Tensor tr = class_rows(to_dtype(target, input->dtype()));
    auto [loss, rw] = cross_entropy_rows(xr, tr, true, weight, ignore_index, label_smoothing);
    return reduce_rows(loss, Tensor(), r, batch_shape(input));
  }
  const Tensor t = index_rows(input, target, op);
  auto [loss, rw] = cross_entropy_rows(xr, t, false, weight, ignore_index, label_smoothing);
  return reduce_rows(loss, r == Reduction::Mean ? sum(rw) : Tensor(), r, batch_shape(input));
}

Tensor nll_loss(const Tensor& input, const Tensor& target, const OptTensor& w, int64_t ignore_index,
                const std::string& reduction) {
  DL_AUTOCAST(nll_loss(autocast::fp32(input), target, autocast::fp32(w), ignore_index, reduction));
  const char* op = "nll_loss";
  check_input(input, op);
  DL_CHECK(target != nullptr, ValueError, op, ": target is None");
  const Reduction r = parse_reduction(reduction, op);
  DL_CHECK(input->dim() >= 1, ValueError, op, ": input must have at least 1 dim (C) or be (N, C, ...), got shape ",
           shape_str(input->shape()));
  check_same_device(op, input, target);
  const int64_t C = input->shape()[input->dim() == 1 ? 0 : 1];
  const Tensor weight = weight_of(w, input, C, op);
  const Tensor t = index_rows(input, target, op);
  const Tensor xr = class_rows(input);
  const Tensor x = contiguous_nograd(xr);
  const int64_t M = x->shape()[0];
  Tensor loss = empty({M}, x->dtype(), x->device());
  Tensor rw = empty({M}, x->dtype(), x->device());
  nll_loss_kernel[x->device()](loss, rw, x, t, weight, ignore_index);
  if (any_requires_grad({&xr})) {
    SavedTensor st(t, false);
    Shape shape = x->shape();
    record("NllLossBackward", {xr}, {loss}, [st, shape, weight, ignore_index](const std::vector<Tensor>& g,
                                                                             const Node& n) {
      const Tensor t = st.unpack(n);
      if (grad_enabled())  // create_graph: linear in g, so a product with the constant -w_t one-hot rows
        return std::vector<Tensor>{neg_target_dist(t, weight, shape[1], n.input_meta[0].dtype, ignore_index) *
                                   unsqueeze(g[0], 1)};
      auto [gl, gs] = row_grad(g[0], n.input_meta[0].dtype);
      Tensor gx = empty(shape, gl->dtype(), gl->device());
      nll_loss_backward_kernel[gl->device()](gx, gl, gs, t, weight, ignore_index);
      return std::vector<Tensor>{gx};
    });
  }
  return reduce_rows(loss, r == Reduction::Mean ? sum(rw) : Tensor(), r, batch_shape(input));
}

namespace {

void check_binary(const Tensor& input, const Tensor& target, const Tensor& weight, const char* op) {
  check_input(input, op);
  DL_CHECK(target != nullptr, ValueError, op, ": target is None");
  DL_CHECK(is_floating(target->dtype()), TypeError, op, ": target must be a floating point tensor, got ",
           target->describe());
  DL_CHECK(target->shape() == input->shape(), ValueError, op, ": target shape ", shape_str(target->shape()),
           " must match input shape ", shape_str(input->shape()));
  check_same_device(op, input, target);
  if (weight) {
    DL_CHECK(broadcast_shapes(weight->shape(), input->shape(), op) == input->shape(), ValueError, op,
             ": weight of shape ", shape_str(weight->shape()), " does not broadcast to input shape ",
             shape_str(input->shape()));
    check_same_device(op, input, weight);
  }
}

Tensor times(const Tensor& a, const Tensor& w) { return w ? a * w : a; }
Tensor one_minus(const Tensor& t) { return sub(wrap_scalar(1.0, DType::Float64), t); }

}  // namespace

// loss = -w * (t * max(log(x), -100) + (1 - t) * max(log(1 - x), -100)) (PyTorch clamps the
// logs so that x = 0 or 1 gives a finite loss). d/dx = w * (x - t) / max(x * (1 - x), 1e-12);
// d/dt = w * (log(1 - x) - log(x)); d/dw = the unweighted loss.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const OptTensor& w,
                            const std::string& reduction) {
  DL_AUTOCAST(binary_cross_entropy(autocast::fp32(input), autocast::fp32(target), autocast::fp32(w), reduction));
  const char* op = "binary_cross_entropy";
  const Tensor weight = opt(w);
  check_binary(input, target, weight, op);
  const Reduction r = parse_reduction(reduction, op);
  const Tensor t = to_dtype(target, input->dtype());
  Tensor loss;
  {
    GradModeGuard no_grad(false);
    const Tensor x = detach(input), td = detach(t);
    const Tensor lx = clamp(log(x), -100.0, std::nullopt), l1 = clamp(log1p(-x), -100.0, std::nullopt);
    loss = neg(td * lx + one_minus(td) * l1);
    if (weight) loss = loss * detach(weight);
  }
  const std::vector<Tensor> inputs{input, t, weight};
  if (any_requires_grad(inputs)) {
    SavedTensor sx(input, false), st(t, false), sw = weight ? SavedTensor(weight, false) : SavedTensor();
    record("BinaryCrossEntropyBackward", inputs, {loss}, [sx, st, sw](const std::vector<Tensor>& g, const Node& n) {
      const Tensor x = sx.unpack(n), t = st.unpack(n), w = sw.defined() ? sw.unpack(n) : Tensor();
      const Tensor gw = times(g[0], w);
      std::vector<Tensor> out(3);
      if (n.needs_input_grad(0)) out[0] = gw * (x - t) / clamp(x * one_minus(x), 1e-12, std::nullopt);
      if (n.needs_input_grad(1)) out[1] = gw * (log1p(-x) - log(x));
      if (n.needs_input_grad(2))
        out[2] = g[0] * neg(t * clamp(log(x), -100.0, std::nullopt) +
                            one_minus(t) * clamp(log1p(-x), -100.0, std::nullopt));
      return out;
    });
  }
  return reduce_rows(loss, Tensor(), r, input->shape());
}

// loss = w * ((1 - t) * x + lw * softplus(-x)), lw = 1 + (pos_weight - 1) * t, with
// softplus(-x) = log1p(exp(-|x|)) + max(-x, 0) (no overflow for any x).
// d/dx = w * ((1 - t) - lw * sigmoid(-x)); d/dt = w * ((pos_weight - 1) * softplus(-x) - x);
// d/dw = the unweighted loss; d/dpos_weight = w * t * softplus(-x).
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const OptTensor& w,
                                        const std::string& reduction, const OptTensor& pw) {
  DL_AUTOCAST(binary_cross_entropy_with_logits(autocast::fp32(input), autocast::fp32(target), autocast::fp32(w),
                                               reduction, autocast::fp32(pw)));
  const char* op = "binary_cross_entropy_with_logits";
  const Tensor weight = opt(w), pos_weight = opt(pw);
  check_binary(input, target, weight, op);
  if (pos_weight) {
    DL_CHECK(broadcast_shapes(pos_weight->shape(), input->shape(), op) == input->shape(), ValueError, op,
             ": pos_weight of shape ", shape_str(pos_weight->shape()), " does not broadcast to input shape ",
             shape_str(input->shape()));
    check_same_device(op, input, pos_weight);
  }
  const Reduction r = parse_reduction(reduction, op);
  const Tensor t = to_dtype(target, input->dtype());
  auto softplus_neg = [](const Tensor& x) { return log1p(exp(neg(abs(x)))) + relu(neg(x)); };
  auto unweighted = [&](const Tensor& x, const Tensor& t, const Tensor& pw) {
    const Tensor sp = softplus_neg(x);
    return one_minus(t) * x + (pw ? ((pw + -1.0) * t + 1.0) * sp : sp);
  };
  Tensor loss;
  {
    GradModeGuard no_grad(false);
    loss = times(unweighted(detach(input), detach(t), pos_weight ? detach(pos_weight) : Tensor()),
                 weight ? detach(weight) : Tensor());
  }
  const std::vector<Tensor> inputs{input, t, weight, pos_weight};
  if (any_requires_grad(inputs)) {
    std::vector<SavedTensor> saved;
    for (const Tensor& s : inputs) saved.push_back(s ? SavedTensor(s, false) : SavedTensor());
    record("BinaryCrossEntropyWithLogitsBackward", inputs, {loss},
           [saved, unweighted, softplus_neg](const std::vector<Tensor>& g, const Node& n) {
             Tensor v[4];
             for (int i = 0; i < 4; ++i) v[i] = saved[i].defined() ? saved[i].unpack(n) : Tensor();
             const Tensor &x = v[0], &t = v[1], &w = v[2], &pw = v[3];
             const Tensor gw = times(g[0], w);
             std::vector<Tensor> out(4);
             if (n.needs_input_grad(0)) {
               const Tensor lw = pw ? (pw + -1.0) * t + 1.0 : Tensor();
               out[0] = gw * (one_minus(t) - times(sigmoid(neg(x)), lw));
             }
             if (n.needs_input_grad(1)) out[1] = gw * (pw ? (pw + -1.0) * softplus_neg(x) - x : neg(x));
             if (n.needs_input_grad(2)) out[2] = g[0] * unweighted(x, t, pw);
             if (n.needs_input_grad(3)) out[3] = gw * t * softplus_neg(x);
             return out;
           });
  }
  return reduce_rows(loss, Tensor(), r, input->shape());
}

DL_REGISTER_OPS({"cross_entropy", "loss", true}, {"nll_loss", "loss", true}, {"binary_cross_entropy", "loss", true},
                {"binary_cross_entropy_with_logits", "loss", true});

}  // namespace dlcore
