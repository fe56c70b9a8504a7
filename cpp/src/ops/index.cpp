// Indexing ops: gather/scatter, index_select, masked_fill, one_hot, embedding, nonzero and
// advanced indexing (index, index_put_). Kernels work on restrided operands (Note
// [Restrided operands] in ops/index.h); backward formulas go through index_put_/scatter_add.
#include "ops/index.h"

#include <atomic>

#include "dlcore/autograd.h"
#include "dlcore/overlap.h"
#include "dlcore/ops.h"

namespace dlcore {

DL_DEFINE_KERNEL(index_gather_kernel);
DL_DEFINE_KERNEL(index_scatter_kernel);
DL_DEFINE_KERNEL(index_offsets_kernel);
DL_DEFINE_KERNEL(nonzero_kernel);
DL_DEFINE_KERNEL(index_range_kernel);

namespace {
std::atomic<bool> g_deterministic{false};
}  // namespace

bool deterministic_algorithms() { return g_deterministic.load(std::memory_order_relaxed); }
void set_deterministic_algorithms(bool on) { g_deterministic.store(on, std::memory_order_relaxed); }

namespace {

bool is_index_dtype(DType t) { return t == DType::Int64 || t == DType::Int32; }

// An int64 version of an integer index tensor (checked by the caller), without history.
Tensor as_int64(const Tensor& idx) {
  GradModeGuard no_grad(false);
  return detach(to_dtype(idx, DType::Int64));
}

void check_index_arg(const Tensor& t, const Tensor& index, const char* op) {
  DL_CHECK(index != nullptr, ValueError, op, ": index is None");
  DL_CHECK(is_index_dtype(index->dtype()), TypeError, op, ": index must be an int64 (or int32) tensor, got ",
           index->describe());
  check_same_device(op, t, index);
}

// t viewed with `shape`, keeping its strides except stride 0 on `dim` (Note [Restrided operands]).
Tensor restride(const Tensor& t, const Shape& shape, int64_t dim) {
  Shape strides = t->strides();
  strides[dim] = 0;
  return make_view(t, shape, strides, t->offset());
}

Tensor zero_like_scalar(const Tensor& g) { return wrap_scalar(0.0, g->dtype()); }

std::vector<SavedTensor> save_all(const std::vector<Tensor>& ts) {
  std::vector<SavedTensor> out;
  for (const Tensor& t : ts) out.emplace_back(t, false);
  return out;
}

std::vector<Tensor> unpack_all(const std::vector<SavedTensor>& ss, const Node& n) {
  std::vector<Tensor> out;
  for (const SavedTensor& s : ss) out.push_back(s.unpack(n));
  return out;
}

// ---- advanced indexing -----------------------------------------------------------------------
// Note [Advanced indexing]
// indices[i] indexes dim i of t (null: a full slice). The index tensors broadcast together to
// a shape B, and the result has B where the indexed dims were when they are adjacent, else at
// the front, followed by the other dims in order (numpy's rule):
//     t (5, 6, 7, 8), indices (null, [2,3] , [2,3], null) -> (5, 2, 3, 8)
//     t (5, 6, 7, 8), indices ([2,3], null, [2,3])         -> (2, 3, 6, 8)
// The index values are first combined into one int64 element offset per element of B
// (index_offsets_kernel, which checks bounds); then gather/scatter run over the result shape
// with t restrided to it (stride 0 on the B dims) and the offsets broadcast over the rest.

// Bool masks become their nonzero() coordinates (one index tensor per mask dim) and int32
// indices become int64, after the dtype, device, count and mask-shape checks.
std::vector<Tensor> expand_indices(const Tensor& t, const std::vector<Tensor>& indices, const char* op) {
  std::vector<Tensor> out;
  int64_t d = 0;
  for (size_t i = 0; i < indices.size(); ++i) {
    Tensor idx = indices[i];
    if (!idx) {
      out.emplace_back();
      ++d;
      continue;
    }
    if (idx->device() != t->device()) idx = to_device(idx, t->device());  // e.g. CPU indices for a CUDA tensor
    if (idx->dtype() == DType::Bool) {
      const int64_t k = idx->dim();
      DL_CHECK(k > 0, IndexError, op, ": a 0-d bool index is not supported here (index ", i, ")");
      DL_CHECK(d + k <= t->dim(), IndexError, op, ": too many indices for tensor of dimension ", t->dim(),
               " (a bool mask of shape ", shape_str(idx->shape()), " at index ", i, ")");
      for (int64_t j = 0; j < k; ++j)
        DL_CHECK(idx->shape()[j] == t->shape()[d + j], IndexError, op, ": the shape of the mask ",
                 shape_str(idx->shape()), " at index ", i, " does not match the shape of the indexed tensor ",
                 shape_str(t->shape()), " at dimension ", d + j);
      Tensor nz = nonzero(idx);
      for (int64_t j = 0; j < k; ++j) out.push_back(detach(select(nz, 1, j)));
      d += k;
    } else {
      DL_CHECK(is_index_dtype(idx->dtype()), IndexError, op,
               ": tensors used as indices must be int64, int32 or bool tensors, got ", idx->describe(), " at index ",
               i);
      out.push_back(as_int64(idx));
      ++d;
    }
  }
  DL_CHECK(d <= t->dim(), IndexError, op, ": too many indices for tensor of dimension ", t->dim(), " (got ", d,
           ") for ", t->describe());
  return out;
}

struct AdvancedIndex {
  Shape out_shape;  // shape of t[indices]
  Tensor src;       // t viewed with out_shape, stride 0 on the index dims
  Tensor offsets;   // int64 element offsets, viewed with out_shape
};

AdvancedIndex plan_index(const Tensor& t, const std::vector<Tensor>& indices, bool wrap, const char* op) {
  GradModeGuard no_grad(false);
  const int64_t nd = t->dim();
  std::vector<int64_t> pos;
  Shape B;
  for (size_t i = 0; i < indices.size(); ++i) {
    if (!indices[i]) continue;
    if (!pos.empty()) {
      const Shape& s = indices[i]->shape();
      const size_t n = std::max(B.size(), s.size());
      Shape b(n);
      for (size_t k = 0; k < n; ++k) {
        const int64_t x = k < n - B.size() ? 1 : B[k - (n - B.size())];
        const int64_t y = k < n - s.size() ? 1 : s[k - (n - s.size())];
        DL_CHECK(x == y || x == 1 || y == 1, IndexError, op, ": shape mismatch: indexing tensors could not be ",
                 "broadcast together with shapes ", shape_str(B), " and ", shape_str(s), " (index ", i, ")");
        b[k] = x == 1 ? y : x;
      }
      B = b;
    } else {
      B = indices[i]->shape();
    }
    pos.push_back(static_cast<int64_t>(i));
  }
  const bool adjacent = pos.empty() || pos.back() - pos.front() + 1 == static_cast<int64_t>(pos.size());
  const int64_t insert_at = adjacent && !pos.empty() ? pos.front() : 0;
  std::vector<bool> indexed(nd, false);
  for (int64_t p : pos) indexed[p] = true;

  AdvancedIndex plan;
  Shape src_strides, off_strides;
  const Shape b_strides = contiguous_strides(B);
  auto emit_b = [&] {
    for (size_t k = 0; k < B.size(); ++k) {
      plan.out_shape.push_back(B[k]);
      src_strides.push_back(0);
      off_strides.push_back(b_strides[k]);
    }
  };
  for (int64_t d = 0; d <= nd; ++d) {
    if (d == insert_at) emit_b();
    if (d == nd) break;
    if (indexed[d]) continue;
    plan.out_shape.push_back(t->shape()[d]);
    src_strides.push_back(t->strides()[d]);
    off_strides.push_back(0);
  }

  // Offsets over B, at most 7 index tensors per kernel call (ElementwiseIter's limit).
  Tensor lin = empty(B, DType::Int64, t->device());
  if (pos.empty()) fill_(lin, 0.0);  // no index tensors: offset 0
  for (size_t g = 0; g < pos.size(); g += 7) {
    std::vector<Tensor> idx;
    std::vector<IndexDim> dims;
    for (size_t j = g; j < std::min(pos.size(), g + 7); ++j) {
      const int64_t d = pos[j];
      idx.push_back(expand(indices[d], B));
      dims.push_back(IndexDim{t->shape()[d], t->strides()[d], d, wrap, op});
    }
    Tensor part = g == 0 ? lin : empty(B, DType::Int64, t->device());
    if (part->numel()) index_offsets_kernel[t->device()](part, idx, dims);
    if (g) add_(lin, part);
  }
  plan.src = make_view(t, plan.out_shape, src_strides, t->offset());
  plan.offsets = make_view(lin, plan.out_shape, off_strides, 0);
  return plan;
}

// t[indices] without autograd; indices already expanded (int64, no masks).
Tensor index_forward(const Tensor& t, const std::vector<Tensor>& indices, bool wrap, const char* op) {
  AdvancedIndex plan = plan_index(t, indices, wrap, op);
  Tensor out = empty(plan.out_shape, t->dtype(), t->device());
  if (out->numel()) index_gather_kernel[t->device()](out, plan.src, plan.offsets, IndexDim{-1, 1, 0, false, op});
  return out;
}

// Sums g into zeros of `shape` at `indices` (the backward of every gather-by-index op).
Tensor index_backward(const Tensor& g, const Shape& shape, const std::vector<Tensor>& indices) {
  Tensor z = zeros(shape, g->dtype(), g->device());
  index_put_(z, indices, g, /*accumulate=*/true);
  return z;
}

}  // namespace

Tensor index(const Tensor& t, const std::vector<Tensor>& indices0) {
  std::vector<Tensor> indices = expand_indices(t, indices0, "index");
  Tensor out = index_forward(t, indices, /*wrap=*/true, "index");
  if (any_requires_grad({&t})) {
    std::vector<SavedTensor> saved = save_all(indices);
    Shape shape = t->shape();
    record("IndexBackward", {t}, {out}, [saved, shape](const std::vector<Tensor>& g, const Node& n) {
      return std::vector<Tensor>{index_backward(g[0], shape, unpack_all(saved, n))};
    });
  }
  return out;
}

void index_put_(Tensor& t, const std::vector<Tensor>& indices0, const Tensor& values0, bool accumulate) {
  const char* op = "index_put_";
  DL_CHECK(values0 != nullptr, ValueError, op, ": values is None");
  std::vector<Tensor> indices = expand_indices(t, indices0, op);
  const bool grad = inplace_records(t, {&values0});
  if (grad) check_inplace(t, op);
  check_no_internal_overlap(t, op);  // Note [Memory overlap]
  AdvancedIndex plan = plan_index(t, indices, /*wrap=*/true, op);
  {
    const Shape& vs = values0->shape();
    const int64_t lead = static_cast<int64_t>(plan.out_shape.size()) - values0->dim();
    bool fits = lead >= 0;
    for (int64_t d = 0; fits && d < values0->dim(); ++d) fits = vs[d] == 1 || vs[d] == plan.out_shape[lead + d];
    DL_CHECK(fits, ValueError, op, ": shape mismatch: value tensor of shape ", shape_str(vs),
             " cannot be broadcast to indexing result of shape ", shape_str(plan.out_shape));
  }
  if (shape_numel(plan.out_shape)) {
    GradModeGuard no_grad(false);
    Tensor v = detach(values0);
    if (v->device() != t->device()) {
      DL_CHECK(v->dim() == 0, ValueError, op, ": values on ", v->device().str(), " but the tensor is on ",
               t->device().str());
      v = to_device(v, t->device());
    }
    // Values that share memory with t (t[idx] = t[other]) are read from a copy.
    if (v->dtype() != t->dtype() || memory_overlap(t, v) != Overlap::No) v = to_dtype(clone(v), t->dtype());
    v = expand(v, plan.out_shape);
    index_scatter_kernel[t->device()](plan.src, plan.offsets, v, IndexDim{-1, 1, 0, false, op}, accumulate);
  }
  t->bump_version();
  if (!grad) return;
  std::vector<SavedTensor> saved = save_all(indices);
  auto node = std::make_shared<FunctionNode>(
      accumulate ? "IndexPutAccumulateBackward" : "IndexPutBackward",
      [saved, accumulate](const std::vector<Tensor>& g, const Node& n) {
        std::vector<Tensor> idx = unpack_all(saved, n);
        Tensor gt, gv;
        // Overwritten positions give the old value no gradient; added ones pass it through.
        if (n.needs_input_grad(0)) gt = accumulate ? g[0] : index_put(g[0], idx, zero_like_scalar(g[0]), false);
        if (n.needs_input_grad(1)) gv = index(g[0], idx);  // the engine sums it to values' shape
        return std::vector<Tensor>{gt, gv};
      });
  node->next_edges = {t->requires_grad() ? gradient_edge(t) : Edge{},
                      values0->requires_grad() ? gradient_edge(values0) : Edge{}};
  node->input_meta = {InputMeta{t->shape(), t->dtype()}, InputMeta{values0->shape(), values0->dtype()}};
  rebase_history(t, node);
}

Tensor index_put(const Tensor& t, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate) {
  Tensor out = clone(t);
  index_put_(out, indices, values, accumulate);
  return out;
}

// ---- gather / scatter ---------------------------------------------------------------------------
namespace {

// 0-d inputs behave as 1-d with one element.
Tensor at_least_1d(const Tensor& t) { return t->dim() == 0 ? unsqueeze(t, 0) : t; }

void check_index_sizes(const Tensor& t, const Tensor& index, int64_t dim, const char* op, const char* what,
                       bool include_dim) {
  DL_CHECK(index->dim() == t->dim(), ValueError, op, ": index must have the same number of dimensions as ", what,
           ", got index ", shape_str(index->shape()), " and ", what, " ", shape_str(t->shape()));
  for (int64_t d = 0; d < t->dim(); ++d)
    DL_CHECK((d == dim && !include_dim) || index->shape()[d] <= t->shape()[d], ValueError, op, ": index ",
             shape_str(index->shape()), " is larger than ", what, " ", shape_str(t->shape()), " at dimension ", d,
             include_dim ? "" : str_cat(" (only dimension ", dim, " may be larger)"));
}

Tensor scatter_impl(const Tensor& t0, int64_t dim, const Tensor& index0, const Tensor& src0, bool accumulate,
                    const char* op) {
  check_index_arg(t0, index0, op);
  DL_CHECK(src0 != nullptr, ValueError, op, ": src is None");
  const bool value = src0->dim() == 0 && !accumulate;  // scatter(dim, index, value)
  const Tensor t = at_least_1d(t0), index = at_least_1d(index0);
  const Tensor src = value ? src0 : at_least_1d(src0);
  dim = wrap_dim(dim, t->dim(), op);
  check_index_sizes(t, index, dim, op, "input", false);
  if (!value) check_index_sizes(src, index, dim, op, "src", true);
  Tensor out;
  {
    GradModeGuard no_grad(false);
    out = clone(detach(t));
    if (index->numel()) {
      Tensor v = detach(src);
      if (v->device() != t->device() && v->dim() == 0) v = to_device(v, t->device());
      check_same_device(op, t, v);
      if (v->dtype() != t->dtype()) v = to_dtype(v, t->dtype());
      v = value ? expand(v, index->shape()) : make_view(v, index->shape(), v->strides(), v->offset());
      index_scatter_kernel[t->device()](restride(out, index->shape(), dim), as_int64(index), v,
                                        IndexDim{t->shape()[dim], out->strides()[dim], dim, false, op},
                                        accumulate);
    }
    if (t0->dim() == 0) out = detach(reshape(out, {}));
  }
  if (any_requires_grad({&t0, &src0})) {
    SavedTensor si(index0, false);
    Shape src_shape = src0->shape();
    record(accumulate ? "ScatterAddBackward" : "ScatterBackward", {t0, src0}, {out},
           [si, dim, accumulate, value, src_shape](const std::vector<Tensor>& g, const Node& n) {
             Tensor idx = si.unpack(n);
             Tensor gt, gs;
             if (n.needs_input_grad(0)) gt = accumulate ? g[0] : scatter(g[0], dim, idx, zero_like_scalar(g[0]));
             if (n.needs_input_grad(1)) {
               gs = gather(g[0], dim, idx);
               if (!value && gs->shape() != src_shape && !src_shape.empty()) {
                 // src may be larger than index: its other elements were not read.
                 Shape pads;
                 for (int64_t d = static_cast<int64_t>(src_shape.size()) - 1; d >= 0; --d)
                   pads.insert(pads.end(), {0, src_shape[d] - gs->shape()[d]});
                 gs = pad(gs, pads, "constant", 0.0);
               }
             }
             return std::vector<Tensor>{gt, gs};
           });
  }
  return out;
}

}  // namespace

Tensor gather(const Tensor& t0, int64_t dim, const Tensor& index0) {
  check_index_arg(t0, index0, "gather");
  const Tensor t = at_least_1d(t0), index = at_least_1d(index0);
  dim = wrap_dim(dim, t->dim(), "gather");
  check_index_sizes(t, index, dim, "gather", "input", false);
  Tensor out = empty(index->shape(), t->dtype(), t->device());
  if (out->numel()) {
    GradModeGuard no_grad(false);
    index_gather_kernel[t->device()](out, restride(detach(t), index->shape(), dim), as_int64(index),
                                     IndexDim{t->shape()[dim], t->strides()[dim], dim, false, "gather"});
  }
  if (index0->dim() == 0) out = detach(reshape(out, {}));
  if (any_requires_grad({&t0})) {
    SavedTensor si(index0, false);
    Shape shape = t0->shape();
    record("GatherBackward", {t0}, {out}, [si, dim, shape](const std::vector<Tensor>& g, const Node& n) {
      return std::vector<Tensor>{scatter_add(zeros(shape, g[0]->dtype(), g[0]->device()), dim, si.unpack(n), g[0])};
    });
  }
  return out;
}

Tensor scatter(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(t, dim, index, src, false, "scatter");
}

Tensor scatter_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src) {
  DL_CHECK(src != nullptr && (src->dim() > 0 || index->dim() == 0), ValueError,
           "scatter_add: src must be a tensor with the same number of dimensions as index, got ",
           src ? src->describe() : std::string("None"));
  return scatter_impl(t, dim, index, src, true, "scatter_add");
}

// ---- index_select / embedding ----------------------------------------------------------------
Tensor index_select(const Tensor& t0, int64_t dim, const Tensor& index) {
  check_index_arg(t0, index, "index_select");
  DL_CHECK(index->dim() <= 1, ValueError, "index_select: index must be a 0-d or 1-d tensor, got ", index->describe());
  const Tensor t = at_least_1d(t0);
  dim = wrap_dim(dim, t->dim(), "index_select");
  std::vector<Tensor> indices(dim + 1);
  indices[dim] = as_int64(index->dim() == 0 ? unsqueeze(index, 0) : index);
  Tensor out = index_forward(t, indices, /*wrap=*/false, "index_select");
  if (t0->dim() == 0) out = detach(reshape(out, index->shape()));
  if (any_requires_grad({&t0})) {
    std::vector<SavedTensor> saved = save_all(indices);
    Shape shape = t->shape(), shape0 = t0->shape();
    record("IndexSelectBackward", {t0}, {out}, [saved, shape, shape0](const std::vector<Tensor>& g, const Node& n) {
      Tensor gg = shape == shape0 ? g[0] : reshape(g[0], {-1});
      Tensor gi = index_backward(gg, shape, unpack_all(saved, n));
      return std::vector<Tensor>{shape == shape0 ? gi : reshape(gi, shape0)};
    });
  }
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  DL_CHECK(weight->dim() == 2, ValueError, "embedding: weight must be 2-d (num_embeddings, embedding_dim), got ",
           weight->describe());
  check_index_arg(weight, indices, "embedding");
  const int64_t V = weight->shape()[0];
  if (padding_idx) {
    DL_CHECK(*padding_idx >= -V && *padding_idx < V, ValueError, "embedding: padding_idx must be within ",
             "num_embeddings (", V, "), got ", *padding_idx);
    if (*padding_idx < 0) *padding_idx += V;
  }
  Tensor idx = as_int64(indices);
  Tensor out = index_forward(weight, {idx}, /*wrap=*/false, "embedding");
  if (any_requires_grad({&weight})) {
    SavedTensor si(idx, false);
    Shape shape = weight->shape();
    record("EmbeddingBackward", {weight}, {out}, [si, shape, padding_idx](const std::vector<Tensor>& g, const Node& n) {
      Tensor i = si.unpack(n);
      Tensor gm = g[0];
      // Note [padding_idx]: the padding row is a constant; its uses send it no gradient.
      if (padding_idx)
        gm = masked_fill(gm, unsqueeze(eq(i, wrap_scalar(static_cast<double>(*padding_idx), DType::Int64)), -1),
                         zero_like_scalar(gm));
      return std::vector<Tensor>{index_backward(gm, shape, {i})};
    });
  }
  return out;
}

// ---- masked_fill / one_hot / nonzero ---------------------------------------------------------
Tensor masked_fill(const Tensor& t, const Tensor& mask, const Tensor& value) {
  DL_CHECK(mask->dtype() == DType::Bool, TypeError, "masked_fill: mask must be a bool tensor, got ",
           mask->describe());
  DL_CHECK(value->dim() == 0, ValueError, "masked_fill: value must be a 0-d tensor or a number, got ",
           value->describe());
  broadcast_shapes(t->shape(), mask->shape(), "masked_fill");
  Tensor v = value->dtype() == t->dtype() ? value : to_dtype(value, t->dtype());
  return where(mask, v, t);
}

Tensor one_hot(const Tensor& t, int64_t num_classes) {
  DL_CHECK(is_index_dtype(t->dtype()), TypeError, "one_hot: expected an int64 tensor of class indices, got ",
           t->describe());
  Tensor idx = contiguous(as_int64(t));
  int64_t lo = 0, hi = -1;
  if (idx->numel()) index_range_kernel[idx->device()](idx, &lo, &hi);
  if (num_classes == -1) {
    DL_CHECK(idx->numel() > 0, ValueError, "one_hot: can not infer the number of classes from an empty tensor ",
             t->describe(), "; pass num_classes");
    num_classes = hi + 1;
  }
  DL_CHECK(num_classes >= 0, ValueError, "one_hot: num_classes must be non-negative or -1, got ", num_classes);
  DL_CHECK(lo >= 0, IndexError, "one_hot: class values must be non-negative, got ", lo);
  DL_CHECK(hi < num_classes, IndexError, "one_hot: class values must be smaller than num_classes (", num_classes,
           "), got ", hi);
  Shape shape = t->shape();
  shape.push_back(num_classes);
  Tensor out = zeros(shape, DType::Int64, t->device());
  if (idx->numel()) {
    Shape ishape = t->shape();
    ishape.push_back(1);
    index_scatter_kernel[t->device()](restride(out, ishape, t->dim()), unsqueeze(idx, -1),
                                      expand(scalar_tensor(1.0, DType::Int64, t->device()), ishape),
                                      IndexDim{num_classes, 1, t->dim(), false, "one_hot"}, false);
  }
  return detach(out);
}

Tensor nonzero(const Tensor& t) {
  GradModeGuard no_grad(false);
  return nonzero_kernel[t->device()](contiguous(t));
}

DL_REGISTER_OPS({"gather", "index", true}, {"scatter", "index", true}, {"scatter_add", "index", true},
                {"index_select", "index", true}, {"masked_fill", "index", true}, {"one_hot", "index", false},
                {"embedding", "index", true}, {"nonzero", "index", false}, {"index", "index", true},
                {"index_put_", "index", true}, {"index_put", "index", true});

}  // namespace dlcore
