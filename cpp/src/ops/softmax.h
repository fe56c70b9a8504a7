// Softmax family: kernel slots (cpu/softmax.cpp, cuda/softmax.cu).
//
// Note [Softmax layout]
// The same (outer, red, inner) blocks as reductions (Note [Reduction layout] in
// ops/reduce.h), with red the softmax dim; every tensor here is contiguous and has x's shape.
// One kernel call does, for each row, the max, the sum of exp(x - max) and the write, with the
// row still in cache; the backward is one fused kernel too.
#pragma once

#include "dlcore/dispatch.h"

namespace dlcore {

// y = softmax(x) = exp(x - max) / sum(exp(x - max)), or log_softmax(x) = x - max - log(sum(...)).
DL_DECLARE_KERNEL(softmax_kernel, void (*)(bool log, const Tensor& y, const Tensor& x, int64_t outer, int64_t red,
                                           int64_t inner));
// softmax: grad_x = y * (grad_y - sum(grad_y * y)); log_softmax: grad_x = grad_y - exp(y) * sum(grad_y).
DL_DECLARE_KERNEL(softmax_backward_kernel, void (*)(bool log, const Tensor& grad_x, const Tensor& grad_y,
                                                    const Tensor& y, int64_t outer, int64_t red, int64_t inner));

}  // namespace dlcore
