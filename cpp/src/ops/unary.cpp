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
DL_DEFINE_KERNEL(unary_math_kernel);
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

Tensor s(double v, const Tensor& like);

// Note [Activation double backward]
// The fused backward kernels give a gradient with no history. Under create_graph the same
// derivative is written in differentiable ops instead (the formulas of cpu/unary.cpp's
// unary_backward_kernel), so second derivatives through GELU, SiLU, softplus and ELU are exact.
Tensor activation_derivative(UnaryOp op, const Tensor& x, double p0, double p1) {
  switch (op) {
    case UnaryOp::Gelu:
      return (erf(x * M_SQRT1_2) + 1.0) * 0.5 + x * exp(x * x * -0.5) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
    case UnaryOp::GeluTanh: {
      const double k = M_SQRT2 * M_2_SQRTPI * 0.5;  // sqrt(2 / pi)
      Tensor t = tanh((x + x * x * x * 0.044715) * k);
      return (t + 1.0) * 0.5 + x * 0.5 * (t * t * -1.0 + 1.0) * ((x * x * (3 * 0.044715) + 1.0) * k);
    }
    case UnaryOp::Silu: {
      Tensor sg = sigmoid(x);
      return sg * (x * (sg * -1.0 + 1.0) + 1.0);
    }
    case UnaryOp::Softplus:
      return where(gt(x * p0, s(p1, x)), s(1, x), sigmoid(x * p0));
    case UnaryOp::Elu:
      return where(gt(x, s(0, x)), s(1, x), exp(x) * p0);
    default:
      throw RuntimeError("activation_derivative: op has no differentiable derivative");
  }
}

Tensor fused_activation(UnaryOp op, const char* node_name, const Tensor& x, double p0 = 0, double p1 = 0) {
  Tensor y = unary_forward(op, x, p0, p1);
  if (!any_requires_grad({&x})) return y;
  SavedTensor sx(x, false);
  record(node_name, {x}, {y}, [sx, op, p0, p1](const std::vector<Tensor>& grads, const Node& n) {
    Tensor xv = sx.unpack(n);
    const Tensor& g = grads[0];
    if (grad_enabled()) return std::vector<Tensor>{g * activation_derivative(op, xv, p0, p1)};
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

// ---- math functions -----------------------------------------------------------------------------
namespace {

const char* math_name(MathOp op) {
  switch (op) {
#define DLCORE_NAME(E, N, K) case MathOp::E: return N;
    DLCORE_MATH_OPS(DLCORE_NAME)
#undef DLCORE_NAME
  }
  return "?";
}

Tensor math_forward(MathOp op, const Tensor& x0, double p0 = 0, double p1 = 0, double p2 = 0) {
  const UnaryKind kind = math_kind(op);
  const char* name = math_name(op);
  Tensor x = kind == UnaryKind::F && !is_floating(x0->dtype()) ? to_dtype(x0, DType::Float32) : x0;
  DL_CHECK(!(kind == UnaryKind::R && x->dtype() == DType::Bool), TypeError, name, ": not supported for bool tensors (",
           x->describe(), ")");
  DL_CHECK(is_cpu_compute_type(x->dtype()) || !x->device().is_cpu(), TypeError, name, ": ", dtype_name(x->dtype()),
           " arithmetic is not supported on CPU (", x->describe(), "); convert with .float()");
  Tensor out = empty(x->shape(), kind == UnaryKind::B ? DType::Bool : x->dtype(), x->device());
  unary_math_kernel[x->device()](op, out, x, p0, p1, p2);
  return out;
}

// Records y = op(x) whose gradient g * f'(x) takes f' from the math kernel (i0's i1), which
// has no derivative of its own here.
void record_kernel_derivative(const char* name, MathOp derivative, const Tensor& x, const Tensor& y) {
  if (!any_requires_grad({&x})) return;
  SavedTensor sx(x, false);
  record(name, {x}, {y}, [sx, derivative](const std::vector<Tensor>& g, const Node& n) {
    check_no_double_backward(n);
    return std::vector<Tensor>{g[0] * math_forward(derivative, sx.unpack(n))};
  });
}

Tensor zero_grad_formula(const Tensor& g, const Tensor&, const Tensor&) { return zeros_like_t(g); }

constexpr double kLn2 = 0.69314718055994530942;
constexpr double kLn10 = 2.30258509299404568402;
constexpr double kTwoOverSqrtPi = 1.12837916709551257390;
constexpr double kSqrtPiOverTwo = 0.88622692545275801365;
constexpr double kPiD = 3.14159265358979323846;

Tensor recompute_tan(const Tensor& x) { return tan(x); }
Tensor recompute_erfinv(const Tensor& x) { return erfinv(x); }
Tensor recompute_exp2(const Tensor& x) { return exp2(x); }
Tensor recompute_expm1(const Tensor& x) { return expm1(x); }
Tensor recompute_reciprocal(const Tensor& x) { return reciprocal(x); }

}  // namespace

Tensor acos(const Tensor& x) {
  Tensor y = math_forward(MathOp::Acos, x);
  record_unary("AcosBackward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return -(g * rsqrt(xv * xv * -1.0 + 1.0)); });
  return y;
}

Tensor asin(const Tensor& x) {
  Tensor y = math_forward(MathOp::Asin, x);
  record_unary("AsinBackward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g * rsqrt(xv * xv * -1.0 + 1.0); });
  return y;
}

Tensor atan(const Tensor& x) {
  Tensor y = math_forward(MathOp::Atan, x);
  record_unary("AtanBackward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g / (xv * xv + 1.0); });
  return y;
}

Tensor sinh(const Tensor& x) {
  Tensor y = math_forward(MathOp::Sinh, x);
  record_unary("SinhBackward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g * cosh(xv); });
  return y;
}

Tensor cosh(const Tensor& x) {
  Tensor y = math_forward(MathOp::Cosh, x);
  record_unary("CoshBackward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g * sinh(xv); });
  return y;
}

Tensor tan(const Tensor& x) {
  Tensor y = math_forward(MathOp::Tan, x);
  record_unary("TanBackward", x, y, false, true,
               [](const Tensor& g, const Tensor&, const Tensor& yv) { return g * (yv * yv + 1.0); }, &recompute_tan);
  return y;
}

Tensor asinh(const Tensor& x) {
  Tensor y = math_forward(MathOp::Asinh, x);
  record_unary("AsinhBackward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g * rsqrt(xv * xv + 1.0); });
  return y;
}

Tensor acosh(const Tensor& x) {
  Tensor y = math_forward(MathOp::Acosh, x);
  record_unary("AcoshBackward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g * rsqrt(xv * xv + -1.0); });
  return y;
}

Tensor atanh(const Tensor& x) {
  Tensor y = math_forward(MathOp::Atanh, x);
  record_unary("AtanhBackward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g / (xv * xv * -1.0 + 1.0); });
  return y;
}

Tensor erf(const Tensor& x) {
  Tensor y = math_forward(MathOp::Erf, x);
  record_unary("ErfBackward", x, y, true, false, [](const Tensor& g, const Tensor& xv, const Tensor&) {
    return g * exp(xv * xv * -1.0) * kTwoOverSqrtPi;
  });
  return y;
}

Tensor erfc(const Tensor& x) {
  Tensor y = math_forward(MathOp::Erfc, x);
  record_unary("ErfcBackward", x, y, true, false, [](const Tensor& g, const Tensor& xv, const Tensor&) {
    return g * exp(xv * xv * -1.0) * -kTwoOverSqrtPi;
  });
  return y;
}

Tensor erfinv(const Tensor& x) {
  Tensor y = math_forward(MathOp::Erfinv, x);
  record_unary("ErfinvBackward", x, y, false, true, [](const Tensor& g, const Tensor&, const Tensor& yv) {
    return g * exp(yv * yv) * kSqrtPiOverTwo;
  }, &recompute_erfinv);
  return y;
}

Tensor lgamma(const Tensor& x) {
  Tensor y = math_forward(MathOp::Lgamma, x);
  record_unary("LgammaBackward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g * digamma(xv); });
  return y;
}

Tensor digamma(const Tensor& x) {
  Tensor y = math_forward(MathOp::Digamma, x);
  record_unary("DigammaBackward", x, y, true, false, [](const Tensor& g, const Tensor& xv, const Tensor&) {
    return g * polygamma(1, xv);
  });
  return y;
}

Tensor polygamma(int64_t n, const Tensor& x) {
  DL_CHECK(n >= 0, ValueError, "polygamma: n must be non-negative, got ", n);
  if (n == 0) return digamma(x);
  Tensor y = math_forward(MathOp::Polygamma, x, static_cast<double>(n));
  record_unary("PolygammaBackward", x, y, true, false, [n](const Tensor& g, const Tensor& xv, const Tensor&) {
    return g * polygamma(n + 1, xv);
  });
  return y;
}

Tensor exp2(const Tensor& x) {
  Tensor y = math_forward(MathOp::Exp2, x);
  record_unary("Exp2Backward", x, y, false, true,
               [](const Tensor& g, const Tensor&, const Tensor& yv) { return g * yv * kLn2; }, &recompute_exp2);
  return y;
}

Tensor expm1(const Tensor& x) {
  Tensor y = math_forward(MathOp::Expm1, x);
  record_unary("Expm1Backward", x, y, false, true,
               [](const Tensor& g, const Tensor&, const Tensor& yv) { return g * (yv + 1.0); }, &recompute_expm1);
  return y;
}

Tensor log2(const Tensor& x) {
  Tensor y = math_forward(MathOp::Log2, x);
  record_unary("Log2Backward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g / (xv * kLn2); });
  return y;
}

Tensor log10(const Tensor& x) {
  Tensor y = math_forward(MathOp::Log10, x);
  record_unary("Log10Backward", x, y, true, false,
               [](const Tensor& g, const Tensor& xv, const Tensor&) { return g / (xv * kLn10); });
  return y;
}

Tensor reciprocal(const Tensor& x) {
  Tensor y = math_forward(MathOp::Reciprocal, x);
  record_unary("ReciprocalBackward", x, y, false, true,
               [](const Tensor& g, const Tensor&, const Tensor& yv) { return -(g * (yv * yv)); }, &recompute_reciprocal);
  return y;
}

Tensor i0(const Tensor& x) {
  Tensor y = math_forward(MathOp::I0, x);
  record_kernel_derivative("I0Backward", MathOp::I1, x, y);
  return y;
}

// sinc'(x) = (cos(pi x) pi x - sin(pi x)) / (pi x^2); at x = 0 its first Taylor term
// -pi^2 x / 3, 0 there and with the right slope for a second derivative.
Tensor sinc(const Tensor& x) {
  Tensor y = math_forward(MathOp::Sinc, x);
  record_unary("SincBackward", x, y, true, false, [](const Tensor& g, const Tensor& xv, const Tensor&) {
    Tensor zero = eq(xv, s(0, xv));
    Tensor safe = where(zero, s(1, xv), xv);  // no 0 / 0 whose NaN a second derivative would pick up
    Tensor px = safe * kPiD;
    Tensor d = (cos(px) * px - sin(px)) / (px * safe);
    return g * where(zero, xv * (-kPiD * kPiD / 3.0), d);
  });
  return y;
}

Tensor logit(const Tensor& x, std::optional<double> eps) {
  const double e = eps && *eps >= 0 ? *eps : -1.0;
  Tensor y = math_forward(MathOp::Logit, x, e);
  record_unary("LogitBackward", x, y, true, false, [e](const Tensor& g, const Tensor& xv, const Tensor&) {
    Tensor d = g / (xv * (xv * -1.0 + 1.0));
    if (e < 0) {  // outside [0, 1], where logit is NaN, so is its gradient (as in PyTorch)
      Tensor outside = logical_or(lt(xv, s(0, xv)), gt(xv, s(1, xv)));
      return where(outside, s(std::numeric_limits<double>::quiet_NaN(), d), d);
    }
    // NaN counts as outside: a zero gradient, as PyTorch's vectorised kernel gives.
    Tensor inside = logical_and(ge(xv, s(e, xv)), le(xv, s(1.0 - e, xv)));
    return where(inside, d, s(0, d));
  });
  return y;
}

Tensor floor(const Tensor& x) {
  Tensor y = math_forward(MathOp::Floor, x);
  record_unary("FloorBackward", x, y, false, false, &zero_grad_formula);
  return y;
}

Tensor ceil(const Tensor& x) {
  Tensor y = math_forward(MathOp::Ceil, x);
  record_unary("CeilBackward", x, y, false, false, &zero_grad_formula);
  return y;
}

Tensor round(const Tensor& x, int64_t decimals) {
  DL_CHECK(decimals == 0 || is_floating(x->dtype()), TypeError, "round: decimals=", decimals,
           " is only supported for floating tensors, got ", x->describe());
  Tensor y = math_forward(MathOp::Round, x, static_cast<double>(decimals));
  record_unary("RoundBackward", x, y, false, false, &zero_grad_formula);
  return y;
}

Tensor trunc(const Tensor& x) {
  Tensor y = math_forward(MathOp::Trunc, x);
  record_unary("TruncBackward", x, y, false, false, &zero_grad_formula);
  return y;
}

Tensor isnan(const Tensor& x) { return math_forward(MathOp::Isnan, x); }
Tensor isinf(const Tensor& x) { return math_forward(MathOp::Isinf, x); }
Tensor isfinite(const Tensor& x) { return math_forward(MathOp::Isfinite, x); }
Tensor isposinf(const Tensor& x) { return math_forward(MathOp::Isposinf, x); }
Tensor isneginf(const Tensor& x) { return math_forward(MathOp::Isneginf, x); }
Tensor signbit(const Tensor& x) { return math_forward(MathOp::Signbit, x); }

Tensor nan_to_num(const Tensor& x, std::optional<double> nan, std::optional<double> posinf,
                  std::optional<double> neginf) {
  const double big = x->dtype() == DType::Float64 ? std::numeric_limits<double>::max()
                                                  : static_cast<double>(std::numeric_limits<float>::max());
  Tensor y = math_forward(MathOp::NanToNum, x, nan.value_or(0.0), posinf.value_or(big), neginf.value_or(-big));
  record_unary("NanToNumBackward", x, y, true, false, [](const Tensor& g, const Tensor& xv, const Tensor&) {
    return where(isfinite(xv), g, s(0, g));
  });
  return y;
}

DL_REGISTER_OPS({"neg", "unary", true}, {"abs", "unary", true}, {"sign", "unary", true}, {"exp", "unary", true},
                {"log", "unary", true}, {"log1p", "unary", true}, {"sqrt", "unary", true}, {"rsqrt", "unary", true},
                {"sin", "unary", true}, {"cos", "unary", true}, {"logical_not", "unary", false},
                {"sigmoid", "activation", true}, {"tanh", "activation", true}, {"relu", "activation", true},
                {"leaky_relu", "activation", true}, {"gelu", "activation", true}, {"silu", "activation", true},
                {"softplus", "activation", true}, {"elu", "activation", true}, {"clamp", "unary", true},
                {"prelu", "activation", true}, {"acos", "unary", true}, {"asin", "unary", true},
                {"atan", "unary", true}, {"sinh", "unary", true}, {"cosh", "unary", true}, {"tan", "unary", true},
                {"asinh", "unary", true}, {"acosh", "unary", true}, {"atanh", "unary", true}, {"erf", "unary", true},
                {"erfc", "unary", true}, {"erfinv", "unary", true}, {"lgamma", "unary", true},
                {"digamma", "unary", true}, {"polygamma", "unary", true}, {"exp2", "unary", true},
                {"expm1", "unary", true}, {"log2", "unary", true},
                {"log10", "unary", true}, {"reciprocal", "unary", true}, {"i0", "unary", true}, {"sinc", "unary", true},
                {"logit", "unary", true}, {"floor", "unary", false}, {"ceil", "unary", false},
                {"round", "unary", false}, {"trunc", "unary", false}, {"isnan", "unary", false},
                {"isinf", "unary", false}, {"isfinite", "unary", false}, {"isposinf", "unary", false},
                {"isneginf", "unary", false}, {"signbit", "unary", false}, {"nan_to_num", "unary", true});

}  // namespace dlcore
