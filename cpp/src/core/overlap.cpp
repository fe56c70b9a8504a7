// Memory overlap checks (Note [Memory overlap] in dlcore/overlap.h).
#include "dlcore/overlap.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "dlcore/ops.h"

namespace dlcore {
namespace {

// [first byte, last byte + 1) that t addresses, as absolute addresses (two storages may wrap
// the same memory, e.g. one numpy array imported twice); t has at least one element.
std::pair<uintptr_t, uintptr_t> byte_range(const Tensor& t) {
  auto [lo, hi] = element_range(t->shape(), t->strides(), 0, "overlap");
  const int64_t item = static_cast<int64_t>(t->itemsize());
  const uintptr_t base = reinterpret_cast<uintptr_t>(t->raw_data());
  return {base + lo * item, base + (hi + 1) * item};
}

// Non-overlapping and covering its range with no gaps: a permutation of a contiguous tensor.
bool is_dense(const Tensor& t) {
  if (!is_non_overlapping(t)) return false;
  auto [lo, hi] = byte_range(t);
  return hi - lo == static_cast<uintptr_t>(t->numel()) * t->itemsize();
}

}  // namespace

bool is_non_overlapping(const Tensor& t) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (|stride|, size) of dims with size > 1
  for (int64_t d = 0; d < t->dim(); ++d) {
    const int64_t n = t->shape()[d];
    if (n == 0) return true;
    if (n > 1) dims.emplace_back(t->strides()[d] < 0 ? -t->strides()[d] : t->strides()[d], n);
  }
  std::sort(dims.begin(), dims.end());
  int64_t extent = 1;  // elements spanned by the dims with smaller strides
  for (auto [stride, n] : dims) {
    if (stride < extent) return false;
    extent = stride * (n - 1) + extent;
  }
  return true;
}

void check_no_internal_overlap(const Tensor& out, const char* op) {
  DL_CHECK(is_non_overlapping(out), RuntimeError, op,
           ": unsupported operation: more than one element of the written-to tensor refers to a single memory "
           "location (", out->describe(), ", strides ", shape_str(out->strides()),
           "); clone() the tensor before writing to it");
}

Overlap memory_overlap(const Tensor& a, const Tensor& b) {
  if (a->numel() == 0 || b->numel() == 0 || a->device() != b->device()) return Overlap::No;
  auto [alo, ahi] = byte_range(a);
  auto [blo, bhi] = byte_range(b);
  if (ahi <= blo || bhi <= alo) return Overlap::No;
  if (a->raw_data() == b->raw_data() && a->itemsize() == b->itemsize() && a->shape() == b->shape() &&
      a->strides() == b->strides())
    return Overlap::Full;
  if (is_dense(a) && is_dense(b)) return Overlap::Partial;
  return Overlap::Unknown;
}

Tensor check_inplace_input(const Tensor& out, const Tensor& in, const char* op) {
  switch (memory_overlap(out, in)) {
    case Overlap::No:
    case Overlap::Full:
      return in;
    case Overlap::Partial:
      throw RuntimeError(str_cat(op, ": unsupported operation: some elements of the input tensor (", in->describe(),
                                 ", strides ", shape_str(in->strides()), ") and the written-to tensor (",
                                 out->describe(), ", strides ", shape_str(out->strides()),
                                 ") refer to a single memory location; clone() the input first"));
    case Overlap::Unknown:
      break;
  }
  return clone(in);  // read before the write; keeps in's place in the graph
}

}  // namespace dlcore
