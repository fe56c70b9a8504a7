// Elementwise unary ops and activations: dtype rules, dispatch and gradients.
// Cheap derivatives are formulas over other ops; gelu/silu/softplus/elu use the fused
// unary_backward kernel (one pass instead of four or five).
#include "ops/unary.h"

#include <cmath>
#include <limits>

#include "core/autocast.h"
#include "dlcore/autograd.h"
#include "dlcore/ops.h"

namespace dlcore {

DL_DEFINE_KERNEL(unary_kernel);
DL_DEFINE_KERNEL(unary_backward_kernel);
DL_DEFINE_KERNEL(prelu_kernel);
DL_DEFINE_KERNEL(prelu_backward_kernel);

namespace {

const char* unary_name(UnaryOp op) {
  switch (op) {
#define DLCORE_NAME(E, N, K) case UnaryOp::E: return N;
    DLCORE_UNARY_OPS(DLCORE_NAME)
#undef DLCORE_NAME
  }
  return "?";
}

Tensor unary_forward(UnaryOp op, const Tensor& x0, double p0 = 0, double p1 = 0) {
  const UnaryKind kind = unary_kind(op);
  Tensor x = x0;
  DType out_dtype = x->dtype();
  if (kind == UnaryKind::F && !is_floating(x->dtype())) x = to_dtype(x, DType::Float32);
  if (kind == UnaryKind::F) out_dtype = x->dtype();
  if (kind == UnaryKind::B) out_dtype = DType::Bool;
  DL_CHECK(!(kind == UnaryKind::S && x->dtype() == DType::Bool), TypeError, unary_name(op),
           ": not supported for bool tensors (", x->describe(), ")");
  DL_CHECK(is_cpu_compute_type(x->dtype()) || !x->device().is_cpu(), TypeError, unary_name(op), ": ",
           dtype_name(x->dtype()), " arithmetic is not supported on CPU (", x->describe(), "); convert with .float()");
  Tensor out = empty(x->shape(), out_dtype, x->device());
  unary_kernel[x->device()](op, out, x, p0, p1);
  return out;
}

Tensor zeros_like_t(const Tensor& t) { return zeros(t->shape(), t->dtype(), t->device()); }

// Records y = op(x) with grad_x = formula(g, x, y).
// Note [Saved outputs under create_graph]: a saved output is a detached alias (Note [Saved
// tensors]), so a formula using it would give a second derivative that misses y's own
// dependence on x. Ops that save their output pass `recompute` (y as a function of x); under
// create_graph the formula then uses y recomputed with history instead of the alias.
template <typename F>
void record_unary(const char* name, const Tensor& x, const Tensor& y, bool save_x, bool save_y, F formula,
                  Tensor (*recompute)(const Tensor&) = nullptr) {
  if (!any_requires_grad({&x})) return;
  SavedTensor sx = save_x || recompute ? SavedTensor(x, false) : SavedTensor();
  SavedTensor sy = save_y ? SavedTensor(y, true) : SavedTensor();
  record(name, {x}, {y}, [sx, sy, formula, recompute](const std::vector<Tensor>& g, const Node& n) {
    Tensor xv = sx.unpack(n);
    Tensor yv = recompute && grad_enabled() ? recompute(xv) : sy.unpack(n);
    return std::vector<Tensor>{formula(g[0], xv, yv)};
  });
}

Tensor fused_activation(UnaryOp op, const char* node_name, const Tensor& x, double p0 = 0, double p1 = 0) {
  Tensor y = unary_forward(op, x, p0, p1);
  if (!any_requires_grad({&x})) return y;
  SavedTensor sx(x, false);
  record(node_name, {x}, {y}, [sx, op, p0, p1](const std::vector<Tensor>& grads, const Node& n) {
    check_no_double_backward(n);  // the fused kernel's result has no history
    Tensor xv = sx.unpack(n);
    const Tensor& g = grads[0];
    Tensor gx = empty_like(xv);
    Tensor gc = g->dtype() == xv->dtype() ? g : to_dtype(g, xv->dtype());
    unary_backward_kernel[xv->device()](op, gx, gc, xv, p0, p1);
    return std::vector<Tensor>{gx};
  });
  return y;
}

Tensor s(double v, const Tensor& like) { return wrap_scalar(v, like->dtype()); }

Tensor recompute_exp(const Tensor& x) { return exp(x); }
Tensor recompute_sqrt(const Tensor& x) { return sqrt(x); }
Tensor recompute_rsqrt(const Tensor& x) { return rsqrt(x); }
Tensor recompute_sigmoid(const Tensor& x) { return sigmoid(x); }
Tensor recompute_tanh(const Tensor& x) { return tanh(x); }

// Note [Fused relu backward]
// relu and leaky_relu pass the gradient through where the saved tensor is positive. On CPU
// that is one pass of unary_backward_kernel; the where() formula (a bool temporary and two
// passes) remains for other devices and for create_graph, where its result must carry
// history. Both select, so they agree bit for bit.
Tensor masked_grad(UnaryOp op, const Tensor& g, const Tensor& saved, double slope) {
  if (!saved->device().is_cpu() || grad_enabled() || !is_floating(saved->dtype())) {
    return op == UnaryOp::Relu ? where(le(saved, s(0, saved)), s(0, g), g)
                               : where(gt(saved, s(0, saved)), g, g * slope);
  }
  Tensor gx = empty(saved->shape(), saved->dtype(), saved->device());
  unary_backward_kernel[saved->device()](op, gx, g->dtype() == saved->dtype() ? g : to_dtype(g, saved->dtype()),
                                         saved, slope, 0.0);
  return gx;
}

}  // namespace

Tensor neg(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Neg, x);
  record_unary("NegBackward", x, y, false, false, [](const Tensor& g, const Tensor&, const Tensor&) { return -g; });
  return y;
}

Tensor abs(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Abs, x);
  record_unary("AbsBackward", x, y, true, false, [](const Tensor& g, const Tensor& xv, const Tensor&) { return g * sign(xv); });
  return y;
}

Tensor sign(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Sign, x);
  record_unary("SignBackward", x, y, false, false, [](const Tensor& g, const Tensor&, const Tensor&) { return zeros_like_t(g); });
  return y;
}

Tensor exp(const Tensor& x) {
  DL_AUTOCAST(exp(autocast::fp32(x)));
  Tensor y = unary_forward(UnaryOp::Exp, x);
  record_unary("ExpBackward", x, y, false, true, [](const Tensor& g, const Tensor&, const Tensor& yv) { return g * yv; }, &recompute_exp);
  return y;
}

Tensor log(const Tensor& x) {
  DL_AUTOCAST(log(autocast::fp32(x)));
  Tensor y = unary_forward(UnaryOp::Log, x);
  record_unary("LogBackward", x, y, true, false, [](const Tensor& g, const Tensor& xv, const Tensor&) { return g / xv; });
  return y;
}

Tensor log1p(const Tensor& x) {
  DL_AUTOCAST(log1p(autocast::fp32(x)));
  Tensor y = unary_forward(UnaryOp::Log1p, x);
  record_unary("Log1pBackward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g / (xv + 1.0); });
  return y;
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Sqrt, x);
  record_unary("SqrtBackward", x, y, false, true,
               [](const Tensor& g, const Tensor&, const Tensor& yv) { return g / (yv * 2.0); }, &recompute_sqrt);
  return y;
}

Tensor rsqrt(const Tensor& x) {
  DL_AUTOCAST(rsqrt(autocast::fp32(x)));
  Tensor y = unary_forward(UnaryOp::Rsqrt, x);
  record_unary("RsqrtBackward", x, y, false, true,
               [](const Tensor& g, const Tensor&, const Tensor& yv) { return g * (yv * yv * yv) * -0.5; }, &recompute_rsqrt);
  return y;
}

Tensor sin(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Sin, x);
  record_unary("SinBackward", x, y, true, false, [](const Tensor& g, const Tensor& xv, const Tensor&) { return g * cos(xv); });
  return y;
}

Tensor cos(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Cos, x);
  record_unary("CosBackward", x, y, true, false, [](const Tensor& g, const Tensor& xv, const Tensor&) { return -(g * sin(xv)); });
  return y;
}

Tensor logical_not(const Tensor& x) { return unary_forward(UnaryOp::LogicalNot, x); }

Tensor sigmoid(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Sigmoid, x);
  record_unary("SigmoidBackward", x, y, false, true,
               [](const Tensor& g, const Tensor&, const Tensor& yv) { return g * (yv * (yv * -1.0 + 1.0)); }, &recompute_sigmoid);
  return y;
}

Tensor tanh(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Tanh, x);
  record_unary("TanhBackward", x, y, false, true,
               [](const Tensor& g, const Tensor&, const Tensor& yv) { return g * (yv * yv * -1.0 + 1.0); }, &recompute_tanh);
  return y;
}

Tensor relu(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Relu, x);
  record_unary("ReluBackward", x, y, false, true, [](const Tensor& g, const Tensor&, const Tensor& yv) {
    return masked_grad(UnaryOp::Relu, g, yv, 0.0);
  });
  return y;
}

Tensor leaky_relu(const Tensor& x, double slope) {
  Tensor y = unary_forward(UnaryOp::LeakyRelu, x, slope);
  record_unary("LeakyReluBackward", x, y, true, false, [slope](const Tensor& g, const Tensor& xv, const Tensor&) {
    return masked_grad(UnaryOp::LeakyRelu, g, xv, slope);
  });
  return y;
}

// Note [Fused prelu]
// prelu(x, w) = x > 0 ? x : w[c] * x, with w of 1 element or of x's channel count (dim 1). On
// CPU, for float x and w of x's dtype, the forward is one pass and so is the backward: gx and,
// per (image, channel) row, the float64 sum of g * x where x <= 0, which are then added per
// channel in a fixed order. Elsewhere, and for a backward that must carry history, the where()
// formula, which agrees with the fused passes up to the order of the weight grad's sum.
Tensor prelu(const Tensor& x, const Tensor& w) {
  const int64_t channels = x->dim() >= 2 ? x->shape()[1] : 1;
  DL_CHECK(w->dim() == 1 && (w->numel() == 1 || w->numel() == channels), ValueError, "prelu: weight of shape ",
           shape_str(w->shape()), " must have 1 or input.shape[1] elements (input shape ", shape_str(x->shape()), ")");
  DL_CHECK(is_floating(x->dtype()) && w->dtype() == x->dtype(), TypeError, "prelu: input (", dtype_name(x->dtype()),
           ") and weight (", dtype_name(w->dtype()), ") must be of the same floating dtype");
  Shape wshape(static_cast<size_t>(std::max<int64_t>(0, x->dim() - 1)), 1);
  if (w->numel() > 1) wshape[0] = w->numel();
  const Tensor wv = reshape(w, w->numel() > 1 ? wshape : Shape{});
  const bool fused = x->device().is_cpu() && w->device().is_cpu() &&
                     (x->dtype() == DType::Float32 || x->dtype() == DType::Float64);
  if (!fused) return where(gt(x, s(0, x)), x, wv * x);
  const Tensor xc = contiguous(x), wc = contiguous(w);
  int64_t inner = x->numel();
  if (w->numel() > 1) {
    inner = 1;
    for (int64_t d = 2; d < x->dim(); ++d) inner *= x->shape()[d];
  }
  Tensor y = empty(x->shape(), x->dtype(), x->device());
  if (x->numel() > 0) prelu_kernel[x->device()](y, xc, wc, inner);
  if (!any_requires_grad({&x, &w})) return y;
  SavedTensor sx(xc, false), sw(wc, false);
  record("PreluBackward", {x, w}, {y}, [sx, sw, inner, wshape](const std::vector<Tensor>& grads, const Node& n) {
    const Tensor xv = sx.unpack(n), wt = sw.unpack(n);
    const Tensor wb = reshape(wt, wt->numel() > 1 ? wshape : Shape{});
    const Tensor& g = grads[0];
    if (grad_enabled()) {  // the formula, with history
      const Tensor pos = gt(xv, s(0, xv));
      Tensor gx = where(pos, g, g * wb);
      Tensor gw = reshape(sum_to(where(pos, s(0, g), g * xv), wb->shape()), wt->shape());
      return std::vector<Tensor>{gx, gw};
    }
    const Tensor gc = contiguous(g->dtype() == xv->dtype() ? g : to_dtype(g, xv->dtype()));
    Tensor gx = empty(xv->shape(), xv->dtype(), xv->device());
    const int64_t rows = inner ? xv->numel() / inner : 0;
    Tensor parts = empty({rows}, DType::Float64, xv->device());
    if (xv->numel() > 0) prelu_backward_kernel[xv->device()](gx, parts, gc, xv, wt, inner);
    Tensor gw = n.needs_input_grad(1)
                    ? to_dtype(sum(reshape(parts, {rows / wt->numel(), wt->numel()}), {0}), wt->dtype())
                    : Tensor();
    return std::vector<Tensor>{gx, gw};
  });
  return y;
}

Tensor gelu(const Tensor& x, bool tanh_approx) {
  return tanh_approx ? fused_activation(UnaryOp::GeluTanh, "GeluBackward", x)
                     : fused_activation(UnaryOp::Gelu, "GeluBackward", x);
}
Tensor silu(const Tensor& x) { return fused_activation(UnaryOp::Silu, "SiluBackward", x); }
Tensor softplus(const Tensor& x, double beta, double threshold) {
  DL_AUTOCAST(softplus(autocast::fp32(x), beta, threshold));
  DL_CHECK(beta != 0, ValueError, "softplus: beta must be non-zero");
  return fused_activation(UnaryOp::Softplus, "SoftplusBackward", x, beta, threshold);
}
Tensor elu(const Tensor& x, double alpha) { return fused_activation(UnaryOp::Elu, "EluBackward", x, alpha); }

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  DL_CHECK(min || max, ValueError, "clamp: at least one of min and max must be given");
  const double inf = std::numeric_limits<double>::infinity();
  const double lo = min ? *min : -inf, hi = max ? *max : inf;
  Tensor xx = x;
  // A bound that is not an integer (NaN included) promotes an integer tensor to float32, as a
  // float bound does in PyTorch. From Python the binding promotes by the bounds' Python types
  // first (an int tensor clamped to 2.0 is float32 too).
  if (!is_floating(x->dtype()) && ((min && *min != std::floor(*min)) || (max && *max != std::floor(*max))))
    xx = to_dtype(x, DType::Float32);
  Tensor y = unary_forward(UnaryOp::Clamp, xx, lo, hi);
  record_unary("ClampBackward", xx, y, true, false, [lo, hi](const Tensor& g, const Tensor& xv, const Tensor&) {
    Tensor inside = logical_and(ge(xv, s(lo, xv)), le(xv, s(hi, xv)));
    return where(inside, g, s(0, g));
  });
  return y;
}

DL_REGISTER_OPS({"neg", "unary", true}, {"abs", "unary", true}, {"sign", "unary", true}, {"exp", "unary", true},
                {"log", "unary", true}, {"log1p", "unary", true}, {"sqrt", "unary", true}, {"rsqrt", "unary", true},
                {"sin", "unary", true}, {"cos", "unary", true}, {"logical_not", "unary", false},
                {"sigmoid", "activation", true}, {"tanh", "activation", true}, {"relu", "activation", true},
                {"leaky_relu", "activation", true}, {"gelu", "activation", true}, {"silu", "activation", true},
                {"softplus", "activation", true}, {"elu", "activation", true}, {"clamp", "unary", true},
                {"prelu", "activation", true});

}  // namespace dlcore
