// Reductions: kernel slots (cpu/reduce.cpp, cuda/reduce.cu) and the layout helpers the ops
// share.
//
// Note [Reduction layout]
// Every reduction kernel sees its input as a dense, contiguous (outer, red, inner) block and
// writes out[o * inner + i] = reduce over r of x[o, r, i]; `out` is contiguous with
// outer * inner elements. inner == 1 is the row case (the reduced dims are innermost in
// memory: one contiguous run per output, vectorised along the row); inner > 1 is the column
// case (reducing a leading or middle dim: vectorised across the inner outputs, no transpose).
// reduce_layout() finds such a block without copying when the input's memory allows it
// (Note [Reducing without a copy] in ops/reduce.cpp), else it permutes the reduced dims last
// and copies (inner == 1). When red == 0 kernels write the identity and never read x.
#pragma once

#include "dlcore/dispatch.h"

namespace dlcore {

enum class ReduceOp : int { Sum, Mean, Prod, Max, Min, All, Any };

// Sum/Mean/Prod: out has x's dtype for floats, int64 for integers and bool (float32
// accumulates in double). Max/Min: out has x's dtype; NaN propagates. All/Any: out is bool.
DL_DECLARE_KERNEL(reduce_kernel, void (*)(ReduceOp op, const Tensor& out, const Tensor& x, int64_t outer,
                                          int64_t red, int64_t inner));
// indices (int64) = position along red of the first maximum (is_max) or minimum; a NaN
// counts as the extreme. values (x's dtype) gets the value when it is not null. red > 0.
DL_DECLARE_KERNEL(arg_reduce_kernel, void (*)(bool is_max, const Tensor& values, const Tensor& indices,
                                              const Tensor& x, int64_t outer, int64_t red, int64_t inner));
// out = sum((x - mean)^2) / max(0, red - correction), square-rooted when take_sqrt (two
// passes: mean first, then the squared deviations). mean (x's dtype) is written when not null.
DL_DECLARE_KERNEL(var_kernel, void (*)(const Tensor& out, const Tensor& mean, const Tensor& x, int64_t outer,
                                       int64_t red, int64_t inner, double correction, bool take_sqrt));
// out = m + log(sum(exp(x - m))), m the maximum; all -inf gives -inf, red == 0 gives -inf.
DL_DECLARE_KERNEL(logsumexp_kernel, void (*)(const Tensor& out, const Tensor& x, int64_t outer, int64_t red,
                                             int64_t inner));
// Vector p-norm: p = 2, 1, +-inf (max/min of |x|), 0 (count of non-zeros) or any other p.
DL_DECLARE_KERNEL(norm_kernel, void (*)(const Tensor& out, const Tensor& x, int64_t outer, int64_t red,
                                        int64_t inner, double p));
// out[o, r, i] = sum over r' <= r (r' >= r when reverse) of x[o, r', i]; out and x share a
// dtype (float32 accumulates in double).
DL_DECLARE_KERNEL(cumsum_kernel, void (*)(const Tensor& out, const Tensor& x, int64_t outer, int64_t red,
                                          int64_t inner, bool reverse));

// `dim` of x wrapped to [0, ndim) (0-d tensors accept 0 and -1), or an IndexError naming the
// op and x's shape.
int64_t wrap_dim_of(const Tensor& x, int64_t dim, const char* op);

// The reduced dims of an op and its output shapes.
struct ReducePlan {
  Shape dims;        // sorted, wrapped, unique
  Shape perm;        // kept dims in order, then reduced dims
  Shape out_shape;   // keepdim=false shape
  Shape keep_shape;  // keepdim=true shape
  int64_t outer = 1;  // number of outputs
  int64_t inner = 1;  // elements reduced into each output
};
// Empty `dims` means every dim. Raises naming `op` and x's shape for a dim out of range or
// given twice.
ReducePlan make_reduce_plan(const Tensor& x, const Shape& dims, const char* op);
// x permuted by plan.perm and made contiguous: an (outer, inner) row block.
Tensor reduce_input(const Tensor& x, const ReducePlan& plan);

// x (or a copy of it) as a contiguous 3-d (outer, red, inner) tensor (Note [Reduction layout]).
struct ReduceLayout {
  Tensor x;
  int64_t outer = 1, red = 1, inner = 1;
};
ReduceLayout reduce_layout(const Tensor& x, const ReducePlan& plan);
// For ops whose output has x's shape (cumsum, softmax): x made contiguous and split around
// `dim` (already wrapped): outer = dims before, red = size(dim), inner = dims after.
ReduceLayout dim_layout(const Tensor& x, int64_t dim);

}  // namespace dlcore
