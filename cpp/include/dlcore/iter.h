// Elementwise iteration over broadcast, strided operands.
//
// ElementwiseIter takes an output and inputs that broadcast to the output's shape and
// reduces them to the fewest dims: size-1 dims are dropped and neighbouring dims that are
// contiguous in *every* operand are merged, so a contiguous add is a single 1-d loop and a
// bias add over (N, C, H*W) is 2-d. Strides here are in bytes (the loops are untyped), dims
// innermost-last. Operand 0 is the output.
#pragma once

#include <algorithm>
#include <vector>

#include "dlcore/tensor.h"

namespace dlcore {

struct ElementwiseIter {
  Shape shape;                              // coalesced iteration shape
  std::vector<char*> data;                  // base pointer per operand
  std::vector<std::vector<int64_t>> strides;  // per operand, bytes, same rank as shape
  int64_t numel = 1;

  ElementwiseIter(const Tensor& out, const std::vector<Tensor>& inputs);
  int ntensors() const { return static_cast<int>(data.size()); }
  int ndim() const { return static_cast<int>(shape.size()); }
  // Every operand is dense along the innermost dim (stride == itemsize or 0-d iteration).
  bool inner_contiguous(const std::vector<int64_t>& itemsizes) const;
};

}  // namespace dlcore
