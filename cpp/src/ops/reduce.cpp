// Reductions along dims: checks, layout (Note [Reduction layout]) and gradients.
#include "ops/reduce.h"

#include <algorithm>

#include "dlcore/autograd.h"
#include "dlcore/ops.h"

namespace dlcore {

DL_DEFINE_KERNEL(reduce_rows_kernel);

ReducePlan make_reduce_plan(const Tensor& x, const Shape& dims, const char* op) {
  ReducePlan p;
  const int64_t n = x->dim();
  std::vector<bool> red(n, dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, n, op);
    if (n == 0) continue;
    DL_CHECK(!red[w] || dims.empty(), ValueError, op, ": dim ", d, " appears multiple times in ", shape_str(dims));
    red[w] = true;
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
DType sum_dtype(DType t) { return is_floating(t) ? t : DType::Int64; }
}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim, std::optional<DType> dtype) {
  ReducePlan plan = make_reduce_plan(x, dims, "sum");
  Tensor xin = dtype ? to_dtype(x, *dtype) : x;
  DType out_t = dtype ? *dtype : sum_dtype(x->dtype());
  Tensor out = empty(keepdim ? plan.keep_shape : plan.out_shape, out_t, x->device());
  Tensor src = reduce_input(xin, plan);
  if (src->dtype() != out_t) src = to_dtype(src, out_t);
  reduce_rows_kernel[x->device()](ReduceOp::Sum, out, src, plan.outer, plan.inner);
  if (any_requires_grad({&x})) {
    Shape keep = plan.keep_shape, in_shape = x->shape();
    record("SumBackward", {x}, {out}, [keep, in_shape](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{expand(reshape(g[0], keep), in_shape)};
    });
  }
  return out;
}

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
  return reshape(sum(grad, dims, false), shape);
}

DL_REGISTER_OPS({"sum", "reduce", true});

}  // namespace dlcore
