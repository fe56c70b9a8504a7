// Elementwise binary ops: type promotion, broadcasting, dispatch and gradients.
#include "ops/binary.h"

#include <cmath>

#include "core/autocast.h"
#include "dlcore/autograd.h"
#include "dlcore/overlap.h"
#include "dlcore/ops.h"

namespace dlcore {

DL_DEFINE_KERNEL(binary_kernel);
DL_DEFINE_KERNEL(where_kernel);
DL_DEFINE_KERNEL(binary_math_kernel);

namespace {

const char* binary_name(BinaryOp op) {
  switch (op) {
#define DLCORE_NAME(E, N) case BinaryOp::E: return N;
    DLCORE_BINARY_OPS(DLCORE_NAME)
#undef DLCORE_NAME
  }
  return "?";
}

bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }
// Note [Type promotion]: as in PyTorch, dimensioned tensors decide the result type, then
// 0-d tensors, then Python numbers; an operand of lower priority only matters when its
// category (bool < integral < floating) is higher: int64 tensor + 2.5 is float32 (a Python
// float counts as the default dtype), float16 tensor + float64 0-d tensor stays float16.
struct PromoState {
  bool has = false;
  DType t = DType::Bool;
  void add(DType d) {
    t = has ? promote_types(t, d) : d;
    has = true;
  }
};

PromoState combine_categories(const PromoState& higher, const PromoState& lower) {
  if (!higher.has) return lower;
  if (!lower.has) return higher;
  if (is_floating(higher.t)) return higher;
  if (higher.t == DType::Bool || is_floating(lower.t)) return {true, promote_types(higher.t, lower.t)};
  return higher;
}

}  // namespace

DType result_type(const std::vector<Tensor>& ts) {
  PromoState dim, zero, wrapped;
  for (const Tensor& t : ts) {
    if (t->is_wrapped_number) {
      wrapped.add(is_floating(t->dtype()) ? DType::Float32 : t->dtype());
    } else if (t->dim() == 0) {
      zero.add(t->dtype());
    } else {
      dim.add(t->dtype());
    }
  }
  return combine_categories(dim, combine_categories(zero, wrapped)).t;
}

namespace {

// Moves 0-d CPU operands (Python numbers, scalars) to the other operand's device.
Tensor on_device(const Tensor& t, Device d) {
  if (t->device() == d) return t;
  DL_CHECK(t->dim() == 0 && t->device().is_cpu(), ValueError, "expected all tensors on one device, got ",
           t->device().str(), " and ", d.str());
  return to_device(t, d);
}

Device common_device(const char* op, const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts)
    if (!(t->dim() == 0 && t->device().is_cpu())) return t->device();
  (void)op;
  return ts[0]->device();
}

Tensor binary_forward(BinaryOp op, const Tensor& a0, const Tensor& b0) {
  const char* name = binary_name(op);
  Shape shape = broadcast_shapes(a0->shape(), b0->shape(), name);
  DType ct = result_type({a0, b0});
  if (op == BinaryOp::Div && !is_floating(ct)) ct = DType::Float32;
  const bool logical = op >= BinaryOp::LogicalAnd;
  DL_CHECK(is_cpu_compute_type(ct) || !a0->device().is_cpu(), TypeError, name, ": ", dtype_name(ct),
           " arithmetic is not supported on CPU (", a0->describe(), ", ", b0->describe(), "); convert with .float()");
  Device dev = common_device(name, {a0, b0});
  Tensor a = to_dtype(on_device(a0, dev), ct);
  Tensor b = to_dtype(on_device(b0, dev), ct);
  Tensor out = empty(shape, is_comparison(op) || logical ? DType::Bool : ct, dev);
  binary_kernel[dev](op, out, a, b);
  return out;
}

Tensor scalar_like(double v, const Tensor& t) { return wrap_scalar(v, t->dtype()); }

// b * alpha for add/sub: alpha is a number of the result's category, so an integral (or bool)
// result stays integral (bool) as in PyTorch.
Tensor times_alpha(const Tensor& b, double alpha, DType result) {
  const DType t = is_floating(result) ? DType::Float64 : result == DType::Bool ? DType::Bool : DType::Int64;
  return binary_forward(BinaryOp::Mul, b, wrap_scalar(alpha, t));
}

}  // namespace

Tensor operator*(const Tensor& a, double s) { return mul(a, wrap_scalar(s, DType::Float64)); }
Tensor operator+(const Tensor& a, double s) { return add(a, wrap_scalar(s, DType::Float64)); }

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  Tensor out = alpha == 1.0 ? binary_forward(BinaryOp::Add, a, b)
                            : binary_forward(BinaryOp::Add, a, times_alpha(b, alpha, result_type({a, b})));
  record("AddBackward", {a, b}, {out}, [alpha](const std::vector<Tensor>& g, const Node&) {
    return std::vector<Tensor>{g[0], alpha == 1.0 ? g[0] : g[0] * alpha};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  Tensor out = alpha == 1.0 ? binary_forward(BinaryOp::Sub, a, b)
                            : binary_forward(BinaryOp::Sub, a, times_alpha(b, alpha, result_type({a, b})));
  record("SubBackward", {a, b}, {out}, [alpha](const std::vector<Tensor>& g, const Node&) {
    return std::vector<Tensor>{g[0], g[0] * -alpha};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, a, b);
  if (any_requires_grad({&a, &b})) {
    SavedTensor sa(a, false), sb(b, false);
    record("MulBackward", {a, b}, {out}, [sa, sb](const std::vector<Tensor>& g, const Node& n) {
      Tensor ga, gb;
      if (n.needs_input_grad(0)) ga = g[0] * sb.unpack(n);
      if (n.needs_input_grad(1)) gb = g[0] * sa.unpack(n);
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, a, b);
  if (any_requires_grad({&a, &b})) {
    SavedTensor sa(a, false), sb(b, false);
    record("DivBackward", {a, b}, {out}, [sa, sb](const std::vector<Tensor>& g, const Node& n) {
      Tensor bv = sb.unpack(n);
      Tensor ga, gb;
      if (n.needs_input_grad(0)) ga = g[0] / bv;
      if (n.needs_input_grad(1)) gb = -(g[0] * sa.unpack(n)) / (bv * bv);
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  DL_AUTOCAST(pow(autocast::fp32(a), autocast::fp32(b)));
  Tensor out = binary_forward(BinaryOp::Pow, a, b);
  if (any_requires_grad({&a, &b})) {
    SavedTensor sa(a, false), sb(b, false), so(out, true);
    record("PowBackward", {a, b}, {out}, [sa, sb, so](const std::vector<Tensor>& g, const Node& n) {
      Tensor av = sa.unpack(n), bv = sb.unpack(n);
      Tensor ga, gb;
      if (n.needs_input_grad(0)) {
        // d/da a^b = b * a^(b-1); 0 where b == 0 (so 0^0 has gradient 0, not NaN).
        Tensor d = bv * pow(av, bv + (-1.0));
        ga = g[0] * where(eq(bv, scalar_like(0, bv)), scalar_like(0, d), d);
      }
      if (n.needs_input_grad(1)) {
        // d/db a^b = a^b * log(a); 0 where a == 0 and b >= 0. log(a) in the output's dtype: an
        // integer base (7 ** x) would otherwise take its log in float32.
        Tensor out = grad_enabled() ? pow(av, bv) : so.unpack(n);  // Note [Saved outputs under create_graph]
        Tensor d = out * log(av->dtype() == out->dtype() ? av : to_dtype(av, out->dtype()));
        Tensor mask = logical_and(eq(av, scalar_like(0, av)), ge(bv, scalar_like(0, bv)));
        gb = g[0] * where(mask, scalar_like(0, d), d);
      }
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

namespace {
// Gradient routing for minimum/maximum: the chosen side gets the gradient, ties split it.
Tensor minmax(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(op, a, b);
  if (any_requires_grad({&a, &b})) {
    SavedTensor sa(a, false), sb(b, false);
    const bool is_max = op == BinaryOp::Maximum;
    record(is_max ? "MaximumBackward" : "MinimumBackward", {a, b}, {out},
           [sa, sb, is_max](const std::vector<Tensor>& g, const Node& n) {
             Tensor av = sa.unpack(n), bv = sb.unpack(n);
             Tensor wins = to_dtype(is_max ? gt(av, bv) : lt(av, bv), g[0]->dtype());
             Tensor ties = to_dtype(eq(av, bv), g[0]->dtype()) * 0.5;
             Tensor wa = wins + ties;
             Tensor ga, gb;
             if (n.needs_input_grad(0)) ga = g[0] * wa;
             if (n.needs_input_grad(1)) gb = g[0] * (wa * -1.0 + 1.0);
             return std::vector<Tensor>{ga, gb};
           });
  }
  return out;
}
}  // namespace

Tensor minimum(const Tensor& a, const Tensor& b) { return minmax(BinaryOp::Minimum, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return minmax(BinaryOp::Maximum, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Ge, a, b); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::LogicalAnd, a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::LogicalOr, a, b); }
Tensor logical_xor(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::LogicalXor, a, b); }

namespace {
void check_bitwise(BinaryOp op, const Tensor& a, const Tensor& b) {
  DL_CHECK(!is_floating(result_type({a, b})), TypeError, binary_name(op),
           ": only integer and bool tensors are supported, got ", a->describe(), " and ", b->describe());
}
Tensor bitwise(BinaryOp op, const Tensor& a, const Tensor& b) {
  check_bitwise(op, a, b);
  return binary_forward(op, a, b);
}
}  // namespace

Tensor bitwise_and(const Tensor& a, const Tensor& b) { return bitwise(BinaryOp::BitwiseAnd, a, b); }
Tensor bitwise_or(const Tensor& a, const Tensor& b) { return bitwise(BinaryOp::BitwiseOr, a, b); }
Tensor bitwise_xor(const Tensor& a, const Tensor& b) { return bitwise(BinaryOp::BitwiseXor, a, b); }
// ~x is x ^ (all bits set): x ^ -1 for integers, x ^ true (logical not) for bool.
Tensor bitwise_not(const Tensor& x) {
  DL_CHECK(!is_floating(x->dtype()), TypeError, "bitwise_not: only integer and bool tensors are supported, got ",
           x->describe());
  return binary_forward(BinaryOp::BitwiseXor, x, wrap_scalar(x->dtype() == DType::Bool ? 1.0 : -1.0, x->dtype()));
}

Tensor where(const Tensor& cond, const Tensor& a0, const Tensor& b0) {
  DL_CHECK(cond->dtype() == DType::Bool, TypeError, "where: condition must be a bool tensor, got ", cond->describe());
  Shape shape = broadcast_shapes(broadcast_shapes(cond->shape(), a0->shape(), "where"), b0->shape(), "where");
  DType ct = result_type({a0, b0});
  Device dev = common_device("where", {cond, a0, b0});
  Tensor a = to_dtype(on_device(a0, dev), ct);
  Tensor b = to_dtype(on_device(b0, dev), ct);
  Tensor c = on_device(cond, dev);
  Tensor out = empty(shape, ct, dev);
  where_kernel[dev](out, c, a, b);
  if (any_requires_grad({&a0, &b0})) {
    SavedTensor sc(c, false);
    record("WhereBackward", {a0, b0}, {out}, [sc](const std::vector<Tensor>& g, const Node& n) {
      Tensor cv = sc.unpack(n);
      Tensor zero = wrap_scalar(0.0, g[0]->dtype());
      Tensor ga, gb;
      if (n.needs_input_grad(0)) ga = where(cv, g[0], zero);
      if (n.needs_input_grad(1)) gb = where(cv, zero, g[0]);
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

// ---- math functions of two arguments ---------------------------------------------------------
namespace {

enum class MathKind { F, O, N, A, I };

const char* math_name(BinaryMathOp op) {
  switch (op) {
#define DLCORE_NAME(E, N, K) case BinaryMathOp::E: return N;
    DLCORE_BINARY_MATH_OPS(DLCORE_NAME)
#undef DLCORE_NAME
  }
  return "?";
}

MathKind math_kind(BinaryMathOp op) {
  switch (op) {
#define DLCORE_KIND(E, N, K) case BinaryMathOp::E: return MathKind::K;
    DLCORE_BINARY_MATH_OPS(DLCORE_KIND)
#undef DLCORE_KIND
  }
  return MathKind::A;
}

Tensor binary_math_forward(BinaryMathOp op, const Tensor& a0, const Tensor& b0) {
  const char* name = math_name(op);
  const MathKind kind = math_kind(op);
  Shape shape = broadcast_shapes(a0->shape(), b0->shape(), name);
  DType ct = result_type({a0, b0});
  if (kind == MathKind::F && !is_floating(ct)) ct = DType::Float32;
  DL_CHECK(kind != MathKind::O || is_floating(ct), TypeError, name, ": only floating tensors are supported, got ",
           a0->describe(), " and ", b0->describe());
  DL_CHECK(kind != MathKind::N || ct != DType::Bool, TypeError, name, ": not supported for bool tensors, got ",
           a0->describe(), " and ", b0->describe());
  DL_CHECK(kind != MathKind::I || (ct == DType::Int32 || ct == DType::Int64), TypeError, name,
           ": only integer tensors are supported, got ", a0->describe(), " and ", b0->describe());
  DL_CHECK(is_cpu_compute_type(ct) || !a0->device().is_cpu(), TypeError, name, ": ", dtype_name(ct),
           " arithmetic is not supported on CPU (", a0->describe(), ", ", b0->describe(), "); convert with .float()");
  Device dev = common_device(name, {a0, b0});
  Tensor a = to_dtype(on_device(a0, dev), ct);
  Tensor b = to_dtype(on_device(b0, dev), ct);
  // Integer division by zero has no value to give: refused like Python's ZeroDivisionError.
  if (kind == MathKind::N && !is_floating(ct) && b->numel() > 0)
    DL_CHECK(!item_as_double(any(eq(b, scalar_like(0, b)))), RuntimeError, name,
             ": ZeroDivisionError (integer division by zero, other is ", b0->describe(), ")");
  Tensor out = empty(shape, ct, dev);
  binary_math_kernel[dev](op, out, a, b);
  return out;
}

// For the ops PyTorch defines no derivative for: the result requires grad, its backward raises.
void record_not_differentiable(const char* name, const Tensor& a, const Tensor& b, const Tensor& out) {
  if (!any_requires_grad({&a, &b})) return;
  std::string op = name;
  record((op + "Backward").c_str(), {a, b}, {out}, [op](const std::vector<Tensor>&, const Node&) -> std::vector<Tensor> {
    throw RuntimeError(op + ": the derivative is not implemented");
  });
}

template <typename F>
Tensor record_binary(const char* name, const Tensor& a, const Tensor& b, const Tensor& out, bool save_out, F formula) {
  if (!any_requires_grad({&a, &b})) return out;
  SavedTensor sa(a, false), sb(b, false), so = save_out ? SavedTensor(out, true) : SavedTensor();
  record(name, {a, b}, {out}, [sa, sb, so, formula](const std::vector<Tensor>& g, const Node& n) {
    auto [ga, gb] = formula(g[0], sa.unpack(n), sb.unpack(n), so.defined() ? so.unpack(n) : Tensor(), n);
    return std::vector<Tensor>{ga, gb};
  });
  return out;
}

Tensor zeros_of(const Tensor& g) { return zeros(g->shape(), g->dtype(), g->device()); }

}  // namespace

Tensor atan2(const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(BinaryMathOp::Atan2, a, b);
  return record_binary("Atan2Backward", a, b, out, false, [](const Tensor& g, const Tensor& av, const Tensor& bv,
                                                             const Tensor&, const Node&) {
    Tensor scale = g / (av * av + bv * bv);
    return std::pair<Tensor, Tensor>(scale * bv, -(scale * av));
  });
}

// d/da copysign(a, b) = +-1 (1 where a and b have the same sign bit), 0 at a == 0; nothing
// flows to b.
Tensor copysign(const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(BinaryMathOp::Copysign, a, b);
  return record_binary("CopysignBackward", a, b, out, false, [](const Tensor& g, const Tensor& av, const Tensor& bv,
                                                                const Tensor&, const Node&) {
    Tensor ratio = where(eq(signbit(av), signbit(bv)), scalar_like(1, g), scalar_like(-1, g));
    return std::pair<Tensor, Tensor>(g * where(eq(av, scalar_like(0, av)), scalar_like(0, g), ratio), zeros_of(g));
  });
}

Tensor xlogy(const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(BinaryMathOp::Xlogy, a, b);
  return record_binary("XlogyBackward", a, b, out, false, [](const Tensor& g, const Tensor& av, const Tensor& bv,
                                                             const Tensor&, const Node& n) {
    Tensor ga, gb;
    if (n.needs_input_grad(0)) {
      Tensor d = xlogy(g, bv);
      ga = where(logical_and(eq(av, scalar_like(0, av)), le(bv, scalar_like(0, bv))), scalar_like(0, d), d);
    }
    if (n.needs_input_grad(1)) gb = g * av / bv;
    return std::pair<Tensor, Tensor>(ga, gb);
  });
}

Tensor hypot(const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(BinaryMathOp::Hypot, a, b);
  return record_binary("HypotBackward", a, b, out, true, [](const Tensor& g, const Tensor& av, const Tensor& bv,
                                                            const Tensor& ov, const Node&) {
    Tensor scale = g / (grad_enabled() ? hypot(av, bv) : ov);  // Note [Saved outputs under create_graph]
    return std::pair<Tensor, Tensor>(scale * av, scale * bv);
  });
}

// nextafter moves a by one ulp: the gradient passes to a, nothing to b.
Tensor nextafter(const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(BinaryMathOp::Nextafter, a, b);
  return record_binary("NextafterBackward", a, b, out, false,
                       [](const Tensor& g, const Tensor&, const Tensor&, const Tensor&, const Node&) {
                         return std::pair<Tensor, Tensor>(g, zeros_of(g));
                       });
}

Tensor logaddexp(const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(BinaryMathOp::Logaddexp, a, b);
  return record_binary("LogaddexpBackward", a, b, out, false, [](const Tensor& g, const Tensor& av, const Tensor& bv,
                                                                 const Tensor&, const Node&) {
    return std::pair<Tensor, Tensor>(g / (exp(bv - av) + 1.0), g / (exp(av - bv) + 1.0));
  });
}

Tensor logaddexp2(const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(BinaryMathOp::Logaddexp2, a, b);
  return record_binary("Logaddexp2Backward", a, b, out, false, [](const Tensor& g, const Tensor& av, const Tensor& bv,
                                                                  const Tensor&, const Node&) {
    return std::pair<Tensor, Tensor>(g / (exp2(bv - av) + 1.0), g / (exp2(av - bv) + 1.0));
  });
}

Tensor fmod(const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(BinaryMathOp::Fmod, a, b);
  return record_binary("FmodBackward", a, b, out, false, [](const Tensor& g, const Tensor& av, const Tensor& bv,
                                                            const Tensor&, const Node& n) {
    Tensor gb = n.needs_input_grad(1) ? -(g * trunc(av / bv)) : Tensor();
    return std::pair<Tensor, Tensor>(g, gb);
  });
}

Tensor remainder(const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(BinaryMathOp::Remainder, a, b);
  return record_binary("RemainderBackward", a, b, out, false, [](const Tensor& g, const Tensor& av, const Tensor& bv,
                                                                 const Tensor&, const Node& n) {
    // floor_divide is piecewise constant: its inputs' history is not needed (nor defined)
    Tensor gb = n.needs_input_grad(1) ? -(g * floor_divide(detach(av), detach(bv))) : Tensor();
    return std::pair<Tensor, Tensor>(g, gb);
  });
}

Tensor floor_divide(const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(BinaryMathOp::FloorDivide, a, b);
  record_not_differentiable("floor_divide", a, b, out);
  return out;
}

Tensor heaviside(const Tensor& x, const Tensor& values) {
  DL_CHECK(x->dtype() == values->dtype(), TypeError, "heaviside: input and values must have the same dtype, got ",
           x->describe(), " and ", values->describe());
  Tensor out = binary_math_forward(BinaryMathOp::Heaviside, x, values);
  record_not_differentiable("heaviside", x, values, out);
  return out;
}

namespace {
// fmax/fmin: the gradient goes to the chosen side, to a on ties and where b is NaN.
Tensor fminmax(BinaryMathOp op, const Tensor& a, const Tensor& b) {
  Tensor out = binary_math_forward(op, a, b);
  const bool is_max = op == BinaryMathOp::Fmax;
  return record_binary(is_max ? "FmaxBackward" : "FminBackward", a, b, out, false,
                       [is_max](const Tensor& g, const Tensor& av, const Tensor& bv, const Tensor&, const Node&) {
                         Tensor to_a = logical_or(is_max ? ge(av, bv) : le(av, bv), isnan(bv));
                         Tensor zero = scalar_like(0, g);
                         return std::pair<Tensor, Tensor>(where(to_a, g, zero), where(to_a, zero, g));
                       });
}
}  // namespace

Tensor fmax(const Tensor& a, const Tensor& b) { return fminmax(BinaryMathOp::Fmax, a, b); }
Tensor fmin(const Tensor& a, const Tensor& b) { return fminmax(BinaryMathOp::Fmin, a, b); }
Tensor gcd(const Tensor& a, const Tensor& b) { return binary_math_forward(BinaryMathOp::Gcd, a, b); }
Tensor lcm(const Tensor& a, const Tensor& b) { return binary_math_forward(BinaryMathOp::Lcm, a, b); }
Tensor bitwise_left_shift(const Tensor& a, const Tensor& b) {
  return binary_math_forward(BinaryMathOp::LeftShift, a, b);
}
Tensor bitwise_right_shift(const Tensor& a, const Tensor& b) {
  return binary_math_forward(BinaryMathOp::RightShift, a, b);
}

// lerp as start + w (end - start) for |w| < 0.5 and end - (end - start)(1 - w) otherwise (exact
// at both ends), composed from differentiable ops.
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight) {
  DL_CHECK(is_floating(start->dtype()) && end->dtype() == start->dtype(), TypeError,
           "lerp: start and end must have the same floating dtype, got ", start->describe(), " and ", end->describe());
  DL_CHECK(weight->is_wrapped_number || weight->dtype() == start->dtype(), TypeError,
           "lerp: weight must be a number or a tensor of the dtype of start, got ", weight->describe(), " and ",
           start->describe());
  broadcast_shapes(broadcast_shapes(start->shape(), end->shape(), "lerp"), weight->shape(), "lerp");
  Tensor diff = end - start;
  if (weight->is_wrapped_number) {  // 1 - w in double: arithmetic between numbers would round to float32
    const double w = item_as_double(weight);
    return std::fabs(w) < 0.5 ? start + diff * wrap_scalar(w, DType::Float64)
                              : end - diff * wrap_scalar(1.0 - w, DType::Float64);
  }
  Tensor small = lt(abs(weight), scalar_like(0.5, weight));
  return where(small, start + weight * diff, end - diff * (weight * -1.0 + 1.0));
}

// ---- in place -------------------------------------------------------------------------------
namespace {

Tensor& binary_inplace(BinaryOp op, Tensor& a, const Tensor& b0, double alpha, const char* name) {
  const bool grad = inplace_records(a, {&b0});
  if (grad) check_inplace(a, name);
  Shape shape = broadcast_shapes(a->shape(), b0->shape(), name);
  DL_CHECK(shape == a->shape(), ValueError, name, ": output of shape ", shape_str(a->shape()),
           " does not match the broadcast shape ", shape_str(shape), " (other is ", shape_str(b0->shape()), ")");
  check_no_internal_overlap(a, name);  // Note [Memory overlap]
  const Tensor b = check_inplace_input(a, b0, name);
  DType ct = result_type({a, b});
  if (op == BinaryOp::Div && !is_floating(ct)) ct = DType::Float32;
  DL_CHECK(!(is_floating(ct) && !is_floating(a->dtype())) && !(ct != DType::Bool && a->dtype() == DType::Bool),
           TypeError, name, ": result type ", dtype_name(ct), " can't be cast to the output dtype ",
           dtype_name(a->dtype()));
  Tensor bb = alpha == 1.0 ? b : times_alpha(b, alpha, ct);
  Tensor bc = to_dtype(on_device(bb, a->device()), ct);
  SavedTensor sa_before, sb;
  if (grad && (op == BinaryOp::Mul || op == BinaryOp::Div)) {
    // The gradient for b needs a's value before the write: keep a copy (with a's history, for
    // create_graph).
    sa_before = SavedTensor(clone(a), false);
    sb = SavedTensor(b, false);
  }
  if (ct == a->dtype()) {
    binary_kernel[a->device()](op, a, a, bc);
  } else {
    Tensor tmp = empty(a->shape(), ct, a->device());
    binary_kernel[a->device()](op, tmp, to_dtype(a, ct), bc);
    copy_(detach(a), tmp);
  }
  a->bump_version();
  if (grad) {
    BackwardFn fn;
    if (op == BinaryOp::Add || op == BinaryOp::Sub) {
      const double s = op == BinaryOp::Add ? alpha : -alpha;
      fn = [s](const std::vector<Tensor>& g, const Node&) {
        return std::vector<Tensor>{g[0], s == 1.0 ? g[0] : g[0] * s};
      };
    } else if (op == BinaryOp::Mul) {
      fn = [sa_before, sb](const std::vector<Tensor>& g, const Node& n) {
        Tensor ga, gb;
        if (n.needs_input_grad(0)) ga = g[0] * sb.unpack(n);
        if (n.needs_input_grad(1)) gb = g[0] * sa_before.unpack(n);
        return std::vector<Tensor>{ga, gb};
      };
    } else {
      fn = [sa_before, sb](const std::vector<Tensor>& g, const Node& n) {
        Tensor bv = sb.unpack(n);
        Tensor ga, gb;
        if (n.needs_input_grad(0)) ga = g[0] / bv;
        if (n.needs_input_grad(1)) gb = -(g[0] * sa_before.unpack(n)) / (bv * bv);
        return std::vector<Tensor>{ga, gb};
      };
    }
    auto node = std::make_shared<FunctionNode>(std::string(name) == "add_" ? "AddBackward" : name, std::move(fn));
    std::vector<Tensor> ins{a, b};
    node->next_edges = {a->requires_grad() ? gradient_edge(a) : Edge{}, b->requires_grad() ? gradient_edge(b) : Edge{}};
    node->input_meta = {InputMeta{a->shape(), a->dtype()}, InputMeta{b->shape(), b->dtype()}};
    rebase_history(a, node);
  }
  return a;
}

}  // namespace

Tensor& add_(Tensor& a, const Tensor& b, double alpha) { return binary_inplace(BinaryOp::Add, a, b, alpha, "add_"); }
Tensor& sub_(Tensor& a, const Tensor& b, double alpha) { return binary_inplace(BinaryOp::Sub, a, b, alpha, "sub_"); }
Tensor& mul_(Tensor& a, const Tensor& b) { return binary_inplace(BinaryOp::Mul, a, b, 1.0, "mul_"); }
Tensor& div_(Tensor& a, const Tensor& b) { return binary_inplace(BinaryOp::Div, a, b, 1.0, "div_"); }
Tensor& bitwise_and_(Tensor& a, const Tensor& b) {
  check_bitwise(BinaryOp::BitwiseAnd, a, b);
  return binary_inplace(BinaryOp::BitwiseAnd, a, b, 1.0, "bitwise_and_");
}
Tensor& bitwise_or_(Tensor& a, const Tensor& b) {
  check_bitwise(BinaryOp::BitwiseOr, a, b);
  return binary_inplace(BinaryOp::BitwiseOr, a, b, 1.0, "bitwise_or_");
}
Tensor& bitwise_xor_(Tensor& a, const Tensor& b) {
  check_bitwise(BinaryOp::BitwiseXor, a, b);
  return binary_inplace(BinaryOp::BitwiseXor, a, b, 1.0, "bitwise_xor_");
}

DL_REGISTER_OPS({"add", "binary", true}, {"sub", "binary", true}, {"mul", "binary", true}, {"div", "binary", true},
                {"pow", "binary", true}, {"minimum", "binary", true}, {"maximum", "binary", true},
                {"eq", "binary", false}, {"ne", "binary", false}, {"lt", "binary", false}, {"le", "binary", false},
                {"gt", "binary", false}, {"ge", "binary", false}, {"logical_and", "binary", false},
                {"logical_or", "binary", false}, {"logical_xor", "binary", false}, {"where", "binary", true},
                {"add_", "binary", true}, {"sub_", "binary", true}, {"mul_", "binary", true}, {"div_", "binary", true},
                {"bitwise_and", "binary", false}, {"bitwise_or", "binary", false}, {"bitwise_xor", "binary", false},
                {"bitwise_not", "binary", false}, {"bitwise_and_", "binary", false}, {"bitwise_or_", "binary", false},
                {"bitwise_xor_", "binary", false}, {"atan2", "binary", true}, {"copysign", "binary", true},
                {"xlogy", "binary", true}, {"hypot", "binary", true}, {"nextafter", "binary", true},
                {"logaddexp", "binary", true}, {"logaddexp2", "binary", true}, {"fmod", "binary", true},
                {"remainder", "binary", true}, {"floor_divide", "binary", false}, {"heaviside", "binary", false},
                {"fmax", "binary", true}, {"fmin", "binary", true}, {"gcd", "binary", false}, {"lcm", "binary", false},
                {"bitwise_left_shift", "binary", false}, {"bitwise_right_shift", "binary", false},
                {"lerp", "binary", true});

}  // namespace dlcore
