// Sorting: sort, argsort, topk. Rows along `dim` are moved last and made contiguous for the
// kernels (Note [Sort order] in ops/sort.h); the gradient scatters into the sorted positions.
#include "ops/sort.h"

#include "dlcore/autograd.h"
#include "dlcore/ops.h"

namespace dlcore {

DL_DEFINE_KERNEL(sort_kernel);
DL_DEFINE_KERNEL(topk_kernel);

namespace {

// x with `dim` moved last, contiguous, and the moved shape.
Tensor rows_last(const Tensor& x, int64_t dim) {
  GradModeGuard no_grad(false);
  return contiguous(detach(x->dim() ? transpose(x, dim, -1) : unsqueeze(x, 0)));
}

// Undoes rows_last on a result of the moved shape.
Tensor rows_back(const Tensor& y, const Tensor& x, int64_t dim) {
  GradModeGuard no_grad(false);
  if (x->dim() == 0) return detach(reshape(y, {}));
  return detach(dim == x->dim() - 1 ? y : contiguous(transpose(y, dim, -1)));
}

// The gradient of values taken at `indices` along `dim`: zeros with g scattered back.
void record_select_backward(const char* name, const Tensor& x, const Tensor& values, const Tensor& indices,
                            int64_t dim) {
  if (!any_requires_grad({&x})) return;
  SavedTensor si(indices, true);
  Shape shape = x->shape();
  record(name, {x}, {values}, [si, shape, dim](const std::vector<Tensor>& g, const Node& n) {
    return std::vector<Tensor>{scatter(zeros(shape, g[0]->dtype(), g[0]->device()), dim, si.unpack(n), g[0])};
  });
}

void check_sortable(const Tensor& x, const char* op) {
  DL_CHECK(is_cpu_compute_type(x->dtype()) || !x->device().is_cpu(), TypeError, op, ": ", dtype_name(x->dtype()),
           " is not supported on CPU (", x->describe(), "); convert with .float()");
}

}  // namespace

std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  check_sortable(x, "sort");
  dim = wrap_dim(dim, x->dim(), "sort");
  Tensor xr = rows_last(x, dim);
  const int64_t n = xr->shape().back();
  const int64_t rows = n ? xr->numel() / n : 0;
  Tensor v = empty_like(xr), i = empty_like(xr, DType::Int64);
  if (xr->numel()) sort_kernel[x->device()](v, i, xr, rows, n, descending);
  Tensor values = rows_back(v, x, dim), indices = rows_back(i, x, dim);
  record_select_backward("SortBackward", x, values, indices, dim);
  return {values, indices};
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending) {
  GradModeGuard no_grad(false);
  return std::get<1>(sort(x, dim, descending));
}

std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  (void)sorted;  // results always come sorted (Note [Sort order])
  check_sortable(x, "topk");
  dim = wrap_dim(dim, x->dim(), "topk");
  const int64_t n = x->dim() ? x->shape()[dim] : 1;
  DL_CHECK(k >= 0 && k <= n, ValueError, "topk: k (", k, ") is out of range for dimension ", dim, " of size ", n,
           " (", x->describe(), ")");
  Tensor xr = rows_last(x, dim);
  const int64_t rows = n ? xr->numel() / n : 0;
  Shape out_shape = xr->shape();
  out_shape.back() = k;
  Tensor v = empty(out_shape, x->dtype(), x->device()), i = empty(out_shape, DType::Int64, x->device());
  if (rows && k) topk_kernel[x->device()](v, i, xr, rows, n, k, largest);
  Tensor values = rows_back(v, x, dim), indices = rows_back(i, x, dim);
  record_select_backward("TopkBackward", x, values, indices, dim);
  return {values, indices};
}

DL_REGISTER_OPS({"sort", "sort", true}, {"argsort", "sort", false}, {"topk", "sort", true});

}  // namespace dlcore
