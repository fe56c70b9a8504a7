// softmax and log_softmax along a dim: checks, dispatch (Note [Softmax layout]) and the fused
// backward.
#include "ops/softmax.h"

#include "dlcore/autograd.h"
#include "dlcore/ops.h"
#include "ops/reduce.h"

namespace dlcore {

DL_DEFINE_KERNEL(softmax_kernel);
DL_DEFINE_KERNEL(softmax_backward_kernel);

namespace {

// Note [Softmax backward]
// The backward saves only y (no copy of x is kept alive). It runs the fused kernel; under
// create_graph it is the same formula over ops instead, so that it can be differentiated
// with respect to the incoming gradient (y is a detached alias, Note [Saved tensors]).
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
    SavedTensor sy(y, true);
    const char* node = log ? "LogSoftmaxBackward" : "SoftmaxBackward";
    record(node, {x}, {y}, [sy, d, log](const std::vector<Tensor>& g, const Node& n) {
      return std::vector<Tensor>{softmax_backward(log, g[0], sy.unpack(n), d)};
    });
  }
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_forward(false, x, dim); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_forward(true, x, dim); }

DL_REGISTER_OPS({"softmax", "softmax", true}, {"log_softmax", "softmax", true});

}  // namespace dlcore
