// Indexing ops (gather, scatter, index_select, embedding, advanced indexing, ...): kernel
// slots (cpu/index.cpp, cuda/index.cu) and helpers that backward formulas of other families use.
//
// Note [Restrided operands]
// Gather-like kernels iterate over the *output* shape. The source is viewed with the output's
// shape: its own strides on the dims that pass through and stride 0 on the dims an index
// replaces. An int64 `index` operand, also viewed with the output's shape (stride 0 where it
// is broadcast), says how far from that position to read:
//     out[i] = src[i + index[i] * d.stride]
// and scatter-like kernels are the mirror image (dst[i + index[i] * d.stride] (+)= src[i]).
// With d.size >= 0 each index value is checked against [0, d.size) (negative values first
// count from the end when d.wrap); with d.size < 0 the values are already-checked element
// offsets (advanced indexing over several dims, Note [Advanced indexing] in ops/index.cpp).
#pragma once

#include <vector>

#include "dlcore/dispatch.h"

namespace dlcore {

struct IndexDim {
  int64_t size = -1;     // bound for index values; < 0: the values are raw element offsets
  int64_t stride = 1;    // elements of the source per index step
  int64_t dim = 0;       // the indexed dim, for messages
  bool wrap = false;     // negative values count from the end (advanced indexing)
  const char* op = "";   // for messages
};

DL_DECLARE_KERNEL(index_gather_kernel,
                  void (*)(const Tensor& out, const Tensor& src, const Tensor& index, const IndexDim& d));
// dst and index and src all have the iteration shape; accumulate: += (duplicates add up),
// otherwise = (for duplicate positions one of the writes wins).
DL_DECLARE_KERNEL(index_scatter_kernel, void (*)(const Tensor& dst, const Tensor& index, const Tensor& src,
                                                 const IndexDim& d, bool accumulate));
// offsets[b] = sum_j checked(indices[j][b]) * dims[j].stride: the element offset that several
// index tensors (int64, broadcast to offsets' shape, at most 7) select together.
DL_DECLARE_KERNEL(index_offsets_kernel, void (*)(const Tensor& offsets, const std::vector<Tensor>& indices,
                                                 const std::vector<IndexDim>& dims));
// The coordinates of the nonzero elements of a contiguous tensor: int64 (n, ndim).
DL_DECLARE_KERNEL(nonzero_kernel, Tensor (*)(const Tensor& t));
// Smallest and largest value of a non-empty contiguous int64 tensor.
DL_DECLARE_KERNEL(index_range_kernel, void (*)(const Tensor& index, int64_t* lo, int64_t* hi));

// Note [Deterministic algorithms]
// dlcore.use_deterministic_algorithms(True) (torch's switch, process-wide) promises results
// that are bitwise the same from run to run. The CPU kernels are (their work split does not
// change the order of any sum for a given thread count); the CUDA accumulating scatter adds
// duplicates with atomics in no fixed order, so with the switch on it raises for floating
// dtypes, naming the op (scatter_add, index_put_ with accumulate, and the backward of gather,
// index_select, embedding and advanced indexing on CUDA), as torch does.
bool deterministic_algorithms();
void set_deterministic_algorithms(bool on);

// t with `values` written (or added) at t[indices], out of place and differentiable; used by
// backward formulas. indices as for index().
Tensor index_put(const Tensor& t, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate);

}  // namespace dlcore
