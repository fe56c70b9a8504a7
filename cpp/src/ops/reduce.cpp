// Reductions along dims: checks, layout (Note [Reduction layout]), dispatch and gradients.
// Gradients are formulas over other ops (so they work on every device and twice over);
// those that need a forward value either save it or, under create_graph, recompute it so
// that the second derivative sees its dependence on x.
#include "ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/autocast.h"
#include "dlcore/autograd.h"
#include "dlcore/ops.h"

namespace dlcore {

DL_DEFINE_KERNEL(reduce_kernel);
DL_DEFINE_KERNEL(arg_reduce_kernel);
DL_DEFINE_KERNEL(var_kernel);
DL_DEFINE_KERNEL(logsumexp_kernel);
DL_DEFINE_KERNEL(norm_kernel);
DL_DEFINE_KERNEL(cumsum_kernel);

int64_t wrap_dim_of(const Tensor& x, int64_t dim, const char* op) {
  const int64_t lim = std::max<int64_t>(x->dim(), 1);
  DL_CHECK(dim >= -lim && dim < lim, IndexError, op, ": dim ", dim, " is out of range for input of shape ",
           shape_str(x->shape()), " (expected in [", -lim, ", ", lim - 1, "])");
  return dim < 0 ? dim + lim : dim;
}

ReducePlan make_reduce_plan(const Tensor& x, const Shape& dims, const char* op) {
  ReducePlan p;
  const int64_t n = x->dim();
  std::vector<bool> red(n, dims.empty());
  std::vector<bool> seen(std::max<int64_t>(n, 1), false);
  for (int64_t d : dims) {
    const int64_t w = wrap_dim_of(x, d, op);
    DL_CHECK(!seen[w], ValueError, op, ": dim ", w, " appears multiple times in dims ", shape_str(dims),
             " (input shape ", shape_str(x->shape()), ")");
    seen[w] = true;
    if (n) red[w] = true;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (red[i]) {
      p.dims.push_back(i);
      p.inner *= x->shape()[i];
      p.keep_shape.push_back(1);
    } else {
      p.perm.push_back(i);
      p.outer *= x->shape()[i];
      p.out_shape.push_back(x->shape()[i]);
      p.keep_shape.push_back(x->shape()[i]);
    }
  }
  for (int64_t d : p.dims) p.perm.push_back(d);
  return p;
}

Tensor reduce_input(const Tensor& x, const ReducePlan& plan) {
  GradModeGuard no_grad(false);
  return contiguous(x->dim() ? permute(x, plan.perm) : x);
}

namespace {
ReduceLayout as_block(const Tensor& x, int64_t outer, int64_t red, int64_t inner) {
  return ReduceLayout{make_view(x, {outer, red, inner}, {red * inner, inner, 1}, x->offset()), outer, red, inner};
}
}  // namespace

namespace {

// x's non-unit dims from the largest stride to the smallest when x is dense (a permutation of
// a contiguous tensor: contiguous, transposed, permuted); nullopt otherwise.
std::optional<Shape> dense_order(const Tensor& x) {
  Shape order;
  for (int64_t d = 0; d < x->dim(); ++d)
    if (x->shape()[d] != 1) order.push_back(d);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return x->strides()[a] > x->strides()[b]; });
  int64_t expect = 1;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (x->strides()[*it] != expect) return std::nullopt;
    expect *= x->shape()[*it];
  }
  return order;
}

std::vector<bool> reduced_mask(const Tensor& x, const ReducePlan& plan) {
  std::vector<bool> reduced(x->dim(), false);
  for (int64_t d : plan.dims) reduced[d] = true;
  return reduced;
}

}  // namespace

// Note [Reducing without a copy]
// When x's memory is dense, list its dims in memory order (dense_order; size-1 dims do not
// matter). If the reduced dims form one run in that order and the kept dims appear in their
// logical order, x already is an (outer, red, inner) block whose outputs come out in the
// order of the contiguous result: reducing the last dim is a row reduction, a leading or
// middle dim (the bias gradient's sum over the batch) a column reduction, and a transposed
// input is read where it lies. Reduced dims in several runs are reduced in stages (Note
// [Reducing in stages]) by the ops that allow it. Anything else (strided slices, expanded
// inputs) is permuted and copied first.
ReduceLayout reduce_layout(const Tensor& x, const ReducePlan& plan) {
  if (x->numel() == 0 || x->dim() == 0) return as_block(x, plan.outer, plan.inner, 1);
  if (std::optional<Shape> order = dense_order(x)) {
    std::vector<bool> reduced = reduced_mask(x, plan);
    int64_t outer = 1, red = 1, inner = 1, last_kept = -1;
    int phase = 0;  // 0: before the reduced run, 1: in it, 2: after it
    bool ok = true;
    for (int64_t d : *order) {
      if (reduced[d]) {
        ok = ok && phase != 2;
        phase = 1;
        red *= x->shape()[d];
      } else {
        if (phase == 1) phase = 2;
        ok = ok && d > last_kept;
        last_kept = d;
        (phase == 2 ? inner : outer) *= x->shape()[d];
      }
    }
    if (ok) return as_block(x, outer, red, inner);
  }
  return as_block(reduce_input(x, plan), plan.outer, plan.inner, 1);
}

namespace {

// Note [Reducing in stages]
// A dense x whose reduced dims lie in several runs in memory (NCHW summed over N, H and W: a
// convolution's bias gradient) is reduced one run at a time, innermost first and keeping
// dims, each stage without a copy, instead of being permuted and copied whole. Valid for the
// ops that compose: sum, prod, max, min, all, any, and mean (every first-stage mean averages
// the same number of elements). Returns the innermost run's dims, or nothing for one run.
Shape innermost_reduced_run(const Tensor& x, const ReducePlan& plan) {
  if (x->numel() == 0 || x->dim() == 0) return {};
  std::optional<Shape> order = dense_order(x);
  if (!order) return {};
  std::vector<bool> reduced = reduced_mask(x, plan);
  Shape run;
  int runs = 0;
  bool in_run = false;
  for (auto it = order->rbegin(); it != order->rend(); ++it) {
    if (reduced[*it] && !in_run) ++runs;
    in_run = reduced[*it];
    if (in_run && runs == 1) run.push_back(*it);
  }
  return runs >= 2 ? run : Shape{};
}

}  // namespace

ReduceLayout dim_layout(const Tensor& x, int64_t dim) {
  Tensor xc;
  {
    GradModeGuard no_grad(false);
    xc = contiguous(x);
  }
  int64_t outer = 1, inner = 1;
  const int64_t red = x->dim() ? x->shape()[dim] : 1;
  for (int64_t d = 0; d < x->dim(); ++d) {
    if (d < dim) outer *= x->shape()[d];
    if (d > dim) inner *= x->shape()[d];
  }
  return as_block(xc, outer, red, inner);
}

namespace {

void check_cpu_dtype(const char* op, const Tensor& x) {
  DL_CHECK(is_cpu_compute_type(x->dtype()) || !x->device().is_cpu(), TypeError, op, ": ", dtype_name(x->dtype()),
           " is not supported on CPU (input ", x->describe(), "); convert with .float()");
}

void check_floating(const char* op, const Tensor& x) {
  DL_CHECK(is_floating(x->dtype()), TypeError, op, ": expected a floating point input, got ", x->describe(),
           "; convert with .float()");
}

// Ops without an identity (max, min, argmax, inf-norm) cannot reduce zero elements.
void check_nonempty(const char* op, const Tensor& x, const ReducePlan& plan) {
  DL_CHECK(plan.inner > 0, IndexError, op, ": cannot reduce over a zero-size dimension (input shape ",
           shape_str(x->shape()), ", dims ", shape_str(plan.dims), "): the operation has no identity");
}

DType int_promoted(DType t) { return is_floating(t) ? t : DType::Int64; }

Tensor reduce_with(ReduceOp op, const Tensor& x, const ReducePlan& plan, DType out_dtype, bool keepdim) {
  Shape run = innermost_reduced_run(x, plan);
  if (!run.empty()) {
    // The run's dims are size 1 in `part`: reducing them again costs nothing and drops them.
    Tensor part = reduce_with(op, x, make_reduce_plan(x, run, "reduce"), out_dtype, true);
    return reduce_with(op, part, make_reduce_plan(part, plan.dims, "reduce"), out_dtype, keepdim);
  }
  Tensor out = empty(keepdim ? plan.keep_shape : plan.out_shape, out_dtype, x->device());
  ReduceLayout l = reduce_layout(x, plan);
  reduce_kernel[x->device()](op, out, l.x, l.outer, l.red, l.inner);
  return out;
}

Tensor zero_of(const Tensor& like) { return wrap_scalar(0.0, like->dtype()); }

// A result (or its gradient) with the reduced dims kept as size 1, so that it broadcasts
// against the input. A 0-d one (everything reduced) broadcasts as it is.
Tensor kept(const Tensor& t, const ReducePlan& plan) { return t->dim() == 0 ? t : reshape(t, plan.keep_shape); }

// The saved forward output in keepdim shape; under create_graph, `recompute()` instead, so
// that a second derivative follows its dependence on x.
template <typename F>
Tensor forward_value(const SavedTensor& saved, const Node& n, const ReducePlan& plan, F recompute) {
  return grad_enabled() ? recompute() : kept(saved.unpack(n), plan);
}

}  // namespace

// ---- sum, mean, prod ------------------------------------------------------------------------

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim, std::optional<DType> dtype) {
  if (!dtype) DL_AUTOCAST(sum(autocast::fp32(x), dims, keepdim, dtype));
  ReducePlan plan = make_reduce_plan(x, dims, "sum");
  Tensor out;
  {
    GradModeGuard no_grad(false);
    Tensor xin = dtype ? to_dtype(x, *dtype) : x;
    check_cpu_dtype("sum", xin);
    out = reduce_with(ReduceOp::Sum, xin, plan, int_promoted(xin->dtype()), keepdim);
    // Integers add up in int64; an integral dtype= (bool included) gets the result wrapped to
    // it, which is what adding in that dtype gives (PyTorch returns that dtype).
    if (dtype && out->dtype() != *dtype) out = to_dtype(out, *dtype);
  }
  if (is_floating(out->dtype()) && any_requires_grad({&x})) {
    Shape in_shape = x->shape();
    record("SumBackward", {x}, {out}, [plan, in_shape](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{expand(kept(g[0], plan), in_shape)};
    });
  }
  return out;
}

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  ReducePlan plan = make_reduce_plan(x, dims, "mean");
  DL_CHECK(is_floating(x->dtype()), TypeError, "mean: expected a floating point input, got ", x->describe(),
           "; pass dtype= or convert with .float()");
  check_cpu_dtype("mean", x);
  Tensor out = reduce_with(ReduceOp::Mean, x, plan, x->dtype(), keepdim);
  if (any_requires_grad({&x})) {
    Shape in_shape = x->shape();
    const double scale = 1.0 / static_cast<double>(plan.inner);
    record("MeanBackward", {x}, {out}, [plan, in_shape, scale](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{expand(kept(g[0], plan) * scale, in_shape)};
    });
  }
  return out;
}

namespace {

Tensor prod_plan(const Tensor& x, const ReducePlan& plan, bool keepdim);

// d prod / dx_i = prod of the others = (P / x_i) * Z_i, P the product of the non-zeros (x_i
// taken as 1 where it is zero) and Z_i the product of the zeros other than x_i.
// Note [Differentiable prod backward]
// Z_i is written so that its first derivative is right too (a second derivative through this
// formula is exact): with no zero it is 1; with one zero z, 1 at z and elsewhere `zsum` (the
// sum of the zeros: the value 0, derivative 1 in z); with two zeros, at each the other one
// (zsum - x_i) and 0 elsewhere (a product of two zeros, whose derivative is 0); with three or
// more, 0 everywhere.
Tensor prod_backward(const Tensor& g, const Tensor& x, const ReducePlan& plan) {
  Tensor gk = kept(g, plan);
  Tensor zero = zero_of(x), one = wrap_scalar(1.0, x->dtype());
  Tensor is_zero = eq(x, zero);
  Tensor x_safe = where(is_zero, one, x);
  Tensor n_zero = sum(is_zero, plan.dims, true);
  Tensor zsum = sum(where(is_zero, x, zero), plan.dims, true);
  auto count_is = [&](double c) { return eq(n_zero, wrap_scalar(c, DType::Int64)); };
  Tensor z2 = where(count_is(2), where(is_zero, zsum - x, zero), zero);
  Tensor z = where(count_is(0), one, where(count_is(1), where(is_zero, one, zsum), z2));
  return gk * (prod_plan(x_safe, plan, true) / x_safe) * z;
}

Tensor prod_plan(const Tensor& x, const ReducePlan& plan, bool keepdim) {
  check_cpu_dtype("prod", x);
  Tensor out = reduce_with(ReduceOp::Prod, x, plan, int_promoted(x->dtype()), keepdim);
  if (is_floating(out->dtype()) && any_requires_grad({&x})) {
    SavedTensor sx(x, false);
    record("ProdBackward", {x}, {out}, [sx, plan](const std::vector<Tensor>& g, const Node& n) {
      return std::vector<Tensor>{prod_backward(g[0], sx.unpack(n), plan)};
    });
  }
  return out;
}

}  // namespace

Tensor prod(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  DL_AUTOCAST(prod(autocast::fp32(x), dim, keepdim));
  return prod_plan(x, make_reduce_plan(x, dim ? Shape{*dim} : Shape{}, "prod"), keepdim);
}

// ---- amax, amin, max/min along a dim, argmax, argmin ------------------------------------

namespace {

// The gradient is split evenly among the elements equal to the extreme (PyTorch's rule).
Tensor amax_amin(bool is_max, const Tensor& x, const Shape& dims, bool keepdim) {
  const char* name = is_max ? "amax" : "amin";
  ReducePlan plan = make_reduce_plan(x, dims, name);
  check_cpu_dtype(name, x);
  check_nonempty(name, x, plan);
  Tensor out = reduce_with(is_max ? ReduceOp::Max : ReduceOp::Min, x, plan, x->dtype(), keepdim);
  if (any_requires_grad({&x})) {
    SavedTensor sx(x, false), so(out, true);
    const char* node = is_max ? "AmaxBackward" : "AminBackward";
    record(node, {x}, {out}, [sx, so, plan](const std::vector<Tensor>& g, const Node& n) {
      Tensor xv = sx.unpack(n);
      Tensor mask = eq(xv, kept(so.unpack(n), plan));
      Tensor count = sum(mask, plan.dims, true);
      return std::vector<Tensor>{where(mask, kept(g[0], plan) / count, zero_of(g[0]))};
    });
  }
  return out;
}

std::tuple<Tensor, Tensor> max_min_dim(bool is_max, const Tensor& x, int64_t dim, bool keepdim) {
  const char* name = is_max ? "max" : "min";
  ReducePlan plan = make_reduce_plan(x, {dim}, name);
  check_cpu_dtype(name, x);
  check_nonempty(name, x, plan);
  const Shape& shape = keepdim ? plan.keep_shape : plan.out_shape;
  Tensor values = empty(shape, x->dtype(), x->device());
  Tensor indices = empty(shape, DType::Int64, x->device());
  ReduceLayout l = reduce_layout(x, plan);
  arg_reduce_kernel[x->device()](is_max, values, indices, l.x, l.outer, l.red, l.inner);
  if (any_requires_grad({&x})) {
    // The gradient goes to the chosen index: grad_x = (position == index) ? g : 0.
    SavedTensor si(indices, true);
    const int64_t d = plan.dims.empty() ? 0 : plan.dims[0];
    Shape in_shape = x->shape();
    record(is_max ? "MaxBackward" : "MinBackward", {x}, {values},
           [si, plan, d, in_shape](const std::vector<Tensor>& g, const Node& n) {
             Tensor gk = kept(g[0], plan);
             if (in_shape.empty()) return std::vector<Tensor>{gk};
             Shape pos_shape(in_shape.size(), 1);
             pos_shape[d] = in_shape[d];
             Tensor pos = arange(0, static_cast<double>(in_shape[d]), 1, DType::Int64, gk->device());
             pos = reshape(pos, pos_shape);
             Tensor mask = eq(pos, kept(si.unpack(n), plan));
             return std::vector<Tensor>{where(mask, gk, zero_of(gk))};
           });
  }
  return {values, indices};
}

Tensor arg_extreme(bool is_max, const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  const char* name = is_max ? "argmax" : "argmin";
  check_cpu_dtype(name, x);
  Tensor src = x;
  if (!dim) {
    GradModeGuard no_grad(false);
    src = x->dim() ? reshape(x, {x->numel()}) : make_view(x, {1}, {1}, x->offset());
  }
  ReducePlan plan = make_reduce_plan(src, {dim ? *dim : 0}, name);
  check_nonempty(name, x, plan);
  Tensor indices = empty(keepdim && dim ? plan.keep_shape : plan.out_shape, DType::Int64, x->device());
  ReduceLayout l = reduce_layout(src, plan);
  arg_reduce_kernel[x->device()](is_max, Tensor(), indices, l.x, l.outer, l.red, l.inner);
  if (!dim && keepdim) return make_view(indices, Shape(x->dim(), 1), Shape(x->dim(), 1), indices->offset());
  return indices;
}

}  // namespace

Tensor amax(const Tensor& x, const Shape& dims, bool keepdim) { return amax_amin(true, x, dims, keepdim); }
Tensor amin(const Tensor& x, const Shape& dims, bool keepdim) { return amax_amin(false, x, dims, keepdim); }
std::tuple<Tensor, Tensor> max_dim(const Tensor& x, int64_t dim, bool keepdim) {
  return max_min_dim(true, x, dim, keepdim);
}
std::tuple<Tensor, Tensor> min_dim(const Tensor& x, int64_t dim, bool keepdim) {
  return max_min_dim(false, x, dim, keepdim);
}
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_extreme(true, x, dim, keepdim); }
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_extreme(false, x, dim, keepdim); }

// ---- var, std ---------------------------------------------------------------------------------

namespace {

// var' = g * 2 (x - mean) / (N - correction); std' = var' / (2 std), 0 where std == 0.
Tensor var_std(bool take_sqrt, const Tensor& x, const Shape& dims, double correction, bool keepdim) {
  const char* name = take_sqrt ? "std" : "var";
  ReducePlan plan = make_reduce_plan(x, dims, name);
  check_floating(name, x);
  check_cpu_dtype(name, x);
  const bool grad = any_requires_grad({&x});
  Tensor out = empty(keepdim ? plan.keep_shape : plan.out_shape, x->dtype(), x->device());
  Tensor mean_k = grad ? empty(plan.keep_shape, x->dtype(), x->device()) : Tensor();
  ReduceLayout l = reduce_layout(x, plan);
  var_kernel[x->device()](out, mean_k, l.x, l.outer, l.red, l.inner, correction, take_sqrt);
  if (grad) {
    const double divisor = std::max(0.0, static_cast<double>(plan.inner) - correction);
    SavedTensor sx(x, false), sm(mean_k, false), so(out, true);
    record(take_sqrt ? "StdBackward" : "VarBackward", {x}, {out},
           [sx, sm, so, plan, divisor, correction, take_sqrt](const std::vector<Tensor>& g, const Node& n) {
             Tensor xv = sx.unpack(n);
             Tensor gk = kept(g[0], plan);
             Tensor mu = grad_enabled() ? mean(xv, plan.dims, true) : sm.unpack(n);
             Tensor centred = xv - mu;
             if (!take_sqrt) return std::vector<Tensor>{gk * (2.0 / divisor) * centred};
             Tensor s = forward_value(so, n, plan, [&] { return std(xv, plan.dims, correction, true); });
             // Divides by 1 where std is 0, so that the masked branch's derivative is not NaN.
             Tensor s_zero = eq(s, zero_of(s));
             Tensor s_safe = where(s_zero, wrap_scalar(1.0, s->dtype()), s);
             Tensor scale = where(s_zero, zero_of(gk), gk / (s_safe * divisor));
             return std::vector<Tensor>{scale * centred};
           });
  }
  return out;
}

}  // namespace

Tensor var(const Tensor& x, const Shape& dims, double correction, bool keepdim) {
  return var_std(false, x, dims, correction, keepdim);
}
Tensor std(const Tensor& x, const Shape& dims, double correction, bool keepdim) {
  return var_std(true, x, dims, correction, keepdim);
}

// ---- logsumexp, norm ----------------------------------------------------------------------

Tensor logsumexp(const Tensor& x0, const Shape& dims, bool keepdim) {
  DL_AUTOCAST(logsumexp(autocast::fp32(x0), dims, keepdim));
  ReducePlan plan = make_reduce_plan(x0, dims, "logsumexp");
  check_cpu_dtype("logsumexp", x0);
  Tensor x = is_floating(x0->dtype()) ? x0 : to_dtype(x0, DType::Float32);
  Tensor out = empty(keepdim ? plan.keep_shape : plan.out_shape, x->dtype(), x->device());
  ReduceLayout l = reduce_layout(x, plan);
  logsumexp_kernel[x->device()](out, l.x, l.outer, l.red, l.inner);
  if (any_requires_grad({&x})) {
    SavedTensor sx(x, false), so(out, true);
    record("LogsumexpBackward", {x}, {out}, [sx, so, plan](const std::vector<Tensor>& g, const Node& n) {
      Tensor xv = sx.unpack(n);
      Tensor lse = forward_value(so, n, plan, [&] { return logsumexp(xv, plan.dims, true); });
      return std::vector<Tensor>{kept(g[0], plan) * exp(xv - lse)};
    });
  }
  return out;
}

namespace {

Tensor norm_backward(const Tensor& g, const Tensor& x, const Tensor& nk, const ReducePlan& plan, double p) {
  Tensor gk = kept(g, plan);
  Tensor zero = zero_of(x);
  if (p == 0) return zeros(x->shape(), x->dtype(), x->device());
  if (p == 1) return gk * sign(x);
  if (p == 2) return where(eq(nk, zero), zero, gk / nk) * x;  // 0 at a zero vector, not NaN
  if (std::isinf(p)) {
    // Like amax/amin of |x|: split evenly among the ties.
    Tensor mask = eq(abs(x), nk);
    Tensor count = sum(mask, plan.dims, true);
    return where(mask, gk / count * sign(x), zero);
  }
  // g * sign(x) |x|^(p-1) / norm^(p-1), 0 where x or the norm is 0.
  Tensor pm1 = wrap_scalar(p - 1, x->dtype());
  Tensor grad = gk * sign(x) * pow(abs(x), pm1) / pow(nk, pm1);
  return where(logical_or(eq(x, zero), eq(nk, zero)), zero, grad);
}

}  // namespace

Tensor norm(const Tensor& x, double p, const Shape& dims, bool keepdim) {
  DL_AUTOCAST(norm(autocast::fp32(x), p, dims, keepdim));
  ReducePlan plan = make_reduce_plan(x, dims, "norm");
  check_floating("norm", x);
  check_cpu_dtype("norm", x);
  DL_CHECK(!std::isnan(p), ValueError, "norm: p must be a number, got nan");
  if (p < 0 || std::isinf(p)) check_nonempty("norm", x, plan);  // no identity: max, min, 1/0
  Tensor out = empty(keepdim ? plan.keep_shape : plan.out_shape, x->dtype(), x->device());
  ReduceLayout l = reduce_layout(x, plan);
  norm_kernel[x->device()](out, l.x, l.outer, l.red, l.inner, p);
  if (any_requires_grad({&x})) {
    SavedTensor sx(x, false), so(out, true);
    record("NormBackward", {x}, {out}, [sx, so, plan, p](const std::vector<Tensor>& g, const Node& n) {
      Tensor xv = sx.unpack(n);
      Tensor nk = forward_value(so, n, plan, [&] { return norm(xv, p, plan.dims, true); });
      return std::vector<Tensor>{norm_backward(g[0], xv, nk, plan, p)};
    });
  }
  return out;
}

// ---- all, any -----------------------------------------------------------------------------

Tensor all(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  ReducePlan plan = make_reduce_plan(x, dim ? Shape{*dim} : Shape{}, "all");
  check_cpu_dtype("all", x);
  return reduce_with(ReduceOp::All, x, plan, DType::Bool, keepdim);
}

Tensor any(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  ReducePlan plan = make_reduce_plan(x, dim ? Shape{*dim} : Shape{}, "any");
  check_cpu_dtype("any", x);
  return reduce_with(ReduceOp::Any, x, plan, DType::Bool, keepdim);
}

// ---- cumsum -------------------------------------------------------------------------------

namespace {

// The backward of a cumulative sum is the cumulative sum in the other direction.
Tensor cumsum_dir(const Tensor& x, int64_t dim, bool reverse) {
  ReduceLayout l = dim_layout(x, dim);
  Tensor out = empty(x->shape(), x->dtype(), x->device());
  cumsum_kernel[x->device()](out, l.x, l.outer, l.red, l.inner, reverse);
  if (is_floating(x->dtype())) {
    record("CumsumBackward", {x}, {out}, [dim, reverse](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{cumsum_dir(g[0], dim, !reverse)};
    });
  }
  return out;
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim) {
  DL_AUTOCAST(cumsum(autocast::fp32(x), dim));
  const int64_t d = wrap_dim_of(x, dim, "cumsum");
  check_cpu_dtype("cumsum", x);
  return cumsum_dir(is_floating(x->dtype()) ? x : to_dtype(x, DType::Int64), d, false);
}

// ---- sum_to (the autograd engine's broadcast reduction) ------------------------------------

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  const int64_t lead = grad->dim() - static_cast<int64_t>(shape.size());
  DL_CHECK(lead >= 0, ValueError, "sum_to: cannot sum ", shape_str(grad->shape()), " to ", shape_str(shape));
  Shape dims;
  for (int64_t i = 0; i < grad->dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
    } else {
      int64_t want = shape[i - lead];
      DL_CHECK(want == grad->shape()[i] || want == 1, ValueError, "sum_to: cannot sum ", shape_str(grad->shape()),
               " to ", shape_str(shape));
      if (want == 1 && grad->shape()[i] != 1) dims.push_back(i);
    }
  }
  if (dims.empty()) return grad->shape() == shape ? grad : reshape(grad, shape);
  return reshape(sum(grad, dims, true), shape);
}

DL_REGISTER_OPS({"sum", "reduce", true}, {"mean", "reduce", true}, {"prod", "reduce", true},
                {"amax", "reduce", true}, {"amin", "reduce", true}, {"max", "reduce", true},
                {"min", "reduce", true}, {"argmax", "reduce", false}, {"argmin", "reduce", false},
                {"var", "reduce", true}, {"std", "reduce", true}, {"logsumexp", "reduce", true},
                {"norm", "reduce", true}, {"all", "reduce", false}, {"any", "reduce", false},
                {"cumsum", "reduce", true});

}  // namespace dlcore
