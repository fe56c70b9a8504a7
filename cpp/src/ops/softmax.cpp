// softmax and log_softmax along a dim: checks, dispatch (Note [Softmax layout]) and the fused
// backward.
#include "ops/softmax.h"

#include "core/autocast.h"
#include "dlcore/autograd.h"
#include "dlcore/ops.h"
#include "ops/reduce.h"

namespace dlcore {

DL_DEFINE_KERNEL(softmax_kernel);
DL_DEFINE_KERNEL(softmax_backward_kernel);

namespace {

// Note [Softmax backward]
// The backward runs the fused kernel on the saved y. Under create_graph it is the same formula
// over ops instead, with y recomputed from the saved x so that the second derivative also
// sees y's dependence on x (the saved y is a detached alias, Note [Saved tensors]).
Tensor softmax_backward(bool log, const Tensor& g, const Tensor& y, int64_t dim) {
  if (grad_enabled()) {
    Shape d{dim};
    if (log) return g - exp(y) * sum(g, d, true);
    return y * (g - sum(g * y, d, true));
  }
  Tensor gc = g->dtype() == y->dtype() ? g : to_dtype(g, y->dtype());
  ReduceLayout gl = dim_layout(gc, dim), yl = dim_layout(y, dim);
  Tensor gx = empty(y->shape(), y->dtype(), y->device());
  softmax_backward_kernel[y->device()](log, gx, gl.x, yl.x, yl.outer, yl.red, yl.inner);
  return gx;
}

Tensor softmax_forward(bool log, const Tensor& x, int64_t dim) {
  const char* name = log ? "log_softmax" : "softmax";
  const int64_t d = wrap_dim_of(x, dim, name);
  DL_CHECK(is_floating(x->dtype()), TypeError, name, ": expected a floating point input, got ", x->describe(),
           "; pass dtype= or convert with .float()");
  DL_CHECK(is_cpu_compute_type(x->dtype()) || !x->device().is_cpu(), TypeError, name, ": ", dtype_name(x->dtype()),
           " is not supported on CPU (input ", x->describe(), "); convert with .float()");
  ReduceLayout l = dim_layout(x, d);
  Tensor y = empty(x->shape(), x->dtype(), x->device());
  softmax_kernel[x->device()](log, y, l.x, l.outer, l.red, l.inner);
  if (any_requires_grad({&x})) {
    SavedTensor sx(x, false), sy(y, true);
    const char* node = log ? "LogSoftmaxBackward" : "SoftmaxBackward";
    record(node, {x}, {y}, [sx, sy, d, log](const std::vector<Tensor>& g, const Node& n) {
      Tensor yv = grad_enabled() ? softmax_forward(log, sx.unpack(n), d) : sy.unpack(n);
      return std::vector<Tensor>{softmax_backward(log, g[0], yv, d)};
    });
  }
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  DL_AUTOCAST(softmax(autocast::fp32(x), dim));
  return softmax_forward(false, x, dim);
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  DL_AUTOCAST(log_softmax(autocast::fp32(x), dim));
  return softmax_forward(true, x, dim);
}

DL_REGISTER_OPS({"softmax", "softmax", true}, {"log_softmax", "softmax", true});

}  // namespace dlcore
