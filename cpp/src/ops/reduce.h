// Reductions: kernel slots (cpu/reduce.cpp, cuda/reduce.cu).
//
// Note [Reduction layout]
// Ops bring the reduced dims to the end and make the input contiguous, so every kernel
// sees x as (outer, inner) rows and writes one value per row into `out` (outer elements).
#pragma once

#include "dlcore/dispatch.h"

namespace dlcore {

enum class ReduceOp : int { Sum, Prod, Max, Min, All, Any };

// out[o] = reduce(x[o, :]) for x contiguous (outer, inner); out has `outer` elements and the
// accumulation dtype (sum of int -> int64, all/any -> bool).
DL_DECLARE_KERNEL(reduce_rows_kernel, void (*)(ReduceOp op, const Tensor& out, const Tensor& x, int64_t outer, int64_t inner));

// Reduction helpers shared by the ops: the permutation that moves `dims` last, and the
// output shape with or without kept dims.
struct ReducePlan {
  Shape dims;        // sorted, wrapped, unique
  Shape perm;        // kept dims in order, then reduced dims
  Shape out_shape;   // keepdim=false shape
  Shape keep_shape;  // keepdim=true shape
  int64_t outer = 1, inner = 1;
};
ReducePlan make_reduce_plan(const Tensor& x, const Shape& dims, const char* op);
// x permuted by plan.perm and made contiguous: ready for a rows kernel.
Tensor reduce_input(const Tensor& x, const ReducePlan& plan);

}  // namespace dlcore
