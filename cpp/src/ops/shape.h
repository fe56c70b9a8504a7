// Shape ops that copy (cat, stack, pad, repeat, flip, roll, tril/triu): kernel slots
// (cpu/shape.cpp, cuda/shape.cu).
//
// Note [Index maps]
// pad, flip and roll all move whole slices along each dim independently, so one kernel does
// them: out[i_0, ..., i_{n-1}] = in[m_0[i_0], ..., m_{n-1}[i_{n-1}]], and `fill` wherever any
// m_d[i_d] is -1 (constant padding). maps[d] has out.size(d) entries in [-1, in.size(d)).
// The maps are small host vectors (the sum of the output's dims, not its product).
#pragma once

#include <vector>

#include "dlcore/dispatch.h"

namespace dlcore {

using IndexMaps = std::vector<std::vector<int64_t>>;

// out: contiguous, in: any strides, same rank; maps as in Note [Index maps].
DL_DECLARE_KERNEL(remap_kernel, void (*)(const Tensor& out, const Tensor& in, const IndexMaps& maps, double fill));
// out = tril(in, diagonal) (upper=false) or triu(in, diagonal) over the last two dims, batched
// over the leading ones. out and in contiguous, same shape, ndim >= 2.
DL_DECLARE_KERNEL(tri_kernel, void (*)(const Tensor& out, const Tensor& in, int64_t diagonal, bool upper));

}  // namespace dlcore
