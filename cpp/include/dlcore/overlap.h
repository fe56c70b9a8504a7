// Memory overlap between the tensor an op writes and the tensors it reads, and within the
// written tensor itself.
//
// Note [Memory overlap]
// An in-place op walks its output element by element, reading its inputs at the same index.
// That is right when an input element shares memory with nothing but the output element of
// the same index (Overlap::Full: the same layout, `a.add_(a)`), or with nothing at all. It is
// wrong when the write to one element changes an input element read later (`x[1:].add_(x[:-1])`,
// `A.add_(A.t())`), and when the output holds one memory location under several indices
// (`ones(3).expand(4, 3).mul_(2)` would double each location four times). So:
//   - a written tensor must not overlap itself (check_no_internal_overlap raises; fill_ and
//     zero_ skip the check, since writing one value several times is harmless);
//   - an input that partially overlaps the output raises, as in PyTorch (check_inplace_input);
//     where the layouts are too irregular to tell (strided views over the same range), the
//     input is copied first, which is always right;
//   - copy_ always gives the source's values as they were before the copy: an overlapping
//     source is staged through a temporary.
#pragma once

#include "dlcore/tensor.h"

namespace dlcore {

enum class Overlap {
  No,       // no memory location is shared
  Full,     // same elements at the same indices (same start, strides and shape)
  Partial,  // locations are shared at other indices
  Unknown,  // the address ranges meet but the layouts are not dense enough to tell
};

// Whether no two indices of t address one memory location. True is a proof (strides sorted,
// each at least the extent of the smaller ones); false means "shared" or "cannot tell".
bool is_non_overlapping(const Tensor& t);
// Raises RuntimeError naming `op` unless is_non_overlapping(out).
void check_no_internal_overlap(const Tensor& out, const char* op);
Overlap memory_overlap(const Tensor& a, const Tensor& b);
// For an op that writes `out` while reading `in` at the same indices (in broadcast to out):
// raises on Partial overlap, returns a copy of `in` on Unknown, else `in` itself.
Tensor check_inplace_input(const Tensor& out, const Tensor& in, const char* op);

}  // namespace dlcore
