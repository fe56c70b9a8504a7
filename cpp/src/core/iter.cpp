#include "dlcore/iter.h"

namespace dlcore {

ElementwiseIter::ElementwiseIter(const Tensor& out, const std::vector<Tensor>& inputs) {
  const Shape& full = out->shape();
  const int nd = static_cast<int>(full.size());
  const int nt = 1 + static_cast<int>(inputs.size());
  DL_CHECK(nt <= 8, ValueError, "elementwise: at most 7 inputs");
  // Per-operand byte strides over the output's dims (0 where an input is broadcast).
  std::vector<std::vector<int64_t>> st(nt, std::vector<int64_t>(nd, 0));
  data.resize(nt);
  for (int t = 0; t < nt; ++t) {
    const Tensor& x = t == 0 ? out : inputs[t - 1];
    const int xd = static_cast<int>(x->dim());
    const int64_t isz = static_cast<int64_t>(x->itemsize());
    data[t] = static_cast<char*>(x->raw_data());
    for (int d = 0; d < xd; ++d) {
      int od = nd - xd + d;
      st[t][od] = x->shape()[d] == 1 ? 0 : x->strides()[d] * isz;
    }
  }
  // Drop size-1 dims, then merge dim d into d+1 when contiguous for every operand.
  Shape shp;
  std::vector<std::vector<int64_t>> cst(nt);
  for (int d = 0; d < nd; ++d) {
    if (full[d] == 1) continue;
    if (!shp.empty()) {
      bool merge = true;
      for (int t = 0; t < nt && merge; ++t) merge = cst[t].back() == st[t][d] * full[d];
      if (merge) {
        shp.back() *= full[d];
        for (int t = 0; t < nt; ++t) cst[t].back() = st[t][d];
        continue;
      }
    }
    shp.push_back(full[d]);
    for (int t = 0; t < nt; ++t) cst[t].push_back(st[t][d]);
  }
  DL_CHECK(shp.size() <= 16, ValueError, "elementwise: more than 16 non-mergeable dims in ", shape_str(full));
  shape = std::move(shp);
  strides = std::move(cst);
  numel = shape_numel(full);
  if (numel == 0) shape.assign(1, 0);
  if (numel == 0)
    for (auto& s : strides) s.assign(1, 0);
}

bool ElementwiseIter::inner_contiguous(const std::vector<int64_t>& itemsizes) const {
  if (shape.empty()) return true;
  for (int t = 0; t < ntensors(); ++t)
    if (strides[t].back() != itemsizes[t]) return false;
  return true;
}

}  // namespace dlcore
