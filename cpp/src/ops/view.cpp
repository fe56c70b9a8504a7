// View ops: new shape/strides/offset over the same storage, never a data copy (reshape
// copies only when no strides can express the new shape). Each records a backward that
// maps the gradient back to the input's layout; expand's sum is done by the engine
// (Note [Node inputs and outputs]).
#include "dlcore/autograd.h"
#include "dlcore/dispatch.h"
#include "dlcore/ops.h"

namespace dlcore {
namespace {

Shape infer_shape(const Shape& shape, int64_t numel, const Tensor& t, const char* op) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      DL_CHECK(infer < 0, ValueError, op, ": only one dimension can be inferred in shape ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      DL_CHECK(out[i] >= 0, ValueError, op, ": invalid shape dimension ", out[i], " in ", shape_str(shape));
      known = checked_mul(known, out[i], op, shape);
    }
  }
  if (infer >= 0) {
    DL_CHECK(known != 0 && numel % known == 0, ValueError, op, ": shape ", shape_str(shape),
             " is invalid for input of size ", numel, " (", t->describe(), ")");
    out[infer] = numel / known;
  }
  DL_CHECK(shape_numel(out) == numel, ValueError, op, ": shape ", shape_str(shape), " is invalid for input of size ",
           numel, " (", t->describe(), ")");
  return out;
}

// Strides for viewing (shape, strides) as new_shape without a copy, if possible: each run of
// input dims that is contiguous in memory may be split or merged freely.
bool view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape, Shape& out) {
  const int64_t numel = shape_numel(shape);
  out.assign(new_shape.size(), 0);
  if (numel == 0 || shape.empty()) {
    out = contiguous_strides(new_shape);
    return true;
  }
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

// The view ops' result: a view of t (make_view) that autograd follows through in-place writes
// when made with grad mode on (Note [Views and in-place writes] in autograd/node.cpp).
Tensor view_of(const Tensor& t, Shape shape, Shape strides, int64_t offset, const char* op = "view") {
  Tensor v = make_view(t, std::move(shape), std::move(strides), offset, op);
  v->differentiable_view = grad_enabled();
  v->view_version = v->version();
  return v;
}

Tensor reshape_backward(const Tensor& g, const Shape& in_shape) { return reshape(g, in_shape); }

void record_reshape_like(const char* name, const Tensor& t, const Tensor& out) {
  Shape in_shape = t->shape();
  record(name, {t}, {out}, [in_shape](const std::vector<Tensor>& g, const Node&) {
    return std::vector<Tensor>{reshape_backward(g[0], in_shape)};
  });
}

// grad of a strided sub-view: zeros of the input's shape with g written where the view was.
// Note [Differentiable slice backward]
// Under create_graph (grad mode on in backward) the write is recorded: copy_ into the public
// slice of the zeros, which autograd follows through the view (Note [Views and in-place
// writes] in autograd/node.cpp), so the result's history leads back to g. Otherwise the write
// goes through a raw view with nothing recorded.
Tensor slice_backward(const Tensor& g, const Shape& in_shape, int64_t dim, int64_t start, int64_t step) {
  Tensor gi = zeros(in_shape, g->dtype(), g->device());
  if (grad_enabled()) {
    const int64_t len = g->shape()[dim];
    copy_(slice(gi, dim, start, len == 0 ? start : start + (len - 1) * step + 1, step), g);
    return gi;
  }
  Shape strides = gi->strides();
  int64_t offset = start * strides[dim];
  if (g->shape()[dim] > 1) strides[dim] *= step;  // in range: the forward's view had this stride
  Tensor dst = make_view(gi, g->shape(), strides, offset);
  copy_(dst, g);
  return gi;
}

}  // namespace

Tensor view(const Tensor& t, const Shape& shape) {
  Shape ns = infer_shape(shape, t->numel(), t, "view");
  Shape st;
  DL_CHECK(view_strides(t->shape(), t->strides(), ns, st), ValueError, "view: shape ", shape_str(ns),
           " is not compatible with the input's size and strides (", t->describe(), ", strides ",
           shape_str(t->strides()), "); use reshape() instead");
  Tensor out = view_of(t, ns, st, t->offset());
  record_reshape_like("ViewBackward", t, out);
  return out;
}

Tensor reshape(const Tensor& t, const Shape& shape) {
  Shape ns = infer_shape(shape, t->numel(), t, "reshape");
  Shape st;
  if (view_strides(t->shape(), t->strides(), ns, st)) {
    Tensor out = view_of(t, ns, st, t->offset());
    record_reshape_like("ViewBackward", t, out);
    return out;
  }
  return view(clone(t), ns);
}

Tensor permute(const Tensor& t, const Shape& dims) {
  const int64_t n = t->dim();
  DL_CHECK(static_cast<int64_t>(dims.size()) == n, ValueError, "permute: expected ", n, " dims, got ",
           shape_str(dims), " for ", t->describe());
  Shape shape(n), strides(n), inverse(n);
  std::vector<bool> seen(n, false);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = wrap_dim(dims[i], n, "permute");
    DL_CHECK(!seen[d], ValueError, "permute: repeated dim ", dims[i], " in ", shape_str(dims));
    seen[d] = true;
    shape[i] = t->shape()[d];
    strides[i] = t->strides()[d];
    inverse[d] = i;
  }
  Tensor out = view_of(t, shape, strides, t->offset());
  record("PermuteBackward", {t}, {out}, [inverse](const std::vector<Tensor>& g, const Node&) {
    return std::vector<Tensor>{permute(g[0], inverse)};
  });
  return out;
}

Tensor transpose(const Tensor& t, int64_t d0, int64_t d1) {
  const int64_t n = t->dim();
  if (n == 0) return t;
  d0 = wrap_dim(d0, n, "transpose");
  d1 = wrap_dim(d1, n, "transpose");
  Shape dims(n);
  for (int64_t i = 0; i < n; ++i) dims[i] = i;
  std::swap(dims[d0], dims[d1]);
  return permute(t, dims);
}

Tensor expand(const Tensor& t, const Shape& shape) {
  const int64_t n = static_cast<int64_t>(shape.size());
  DL_CHECK(n >= t->dim(), ValueError, "expand: the number of sizes (", n, ") must be at least the tensor's dims (",
           t->describe(), ")");
  Shape out_shape(n), out_strides(n);
  for (int64_t i = n - 1; i >= 0; --i) {
    int64_t ti = i - (n - t->dim());
    int64_t want = shape[i];
    if (ti >= 0) {
      int64_t have = t->shape()[ti];
      if (want == -1) want = have;
      DL_CHECK(want >= 0, ValueError, "expand: invalid size ", want, " at dim ", i, " (", shape_str(shape), ")");
      DL_CHECK(have == want || have == 1, ValueError, "expand: the expanded size ", want,
               " must match the existing size ", have, " at dim ", i, " (", t->describe(), " to ", shape_str(shape), ")");
      out_shape[i] = want;
      out_strides[i] = have == want ? t->strides()[ti] : 0;
    } else {
      DL_CHECK(want >= 0, ValueError, "expand: -1 is not allowed in a new leading dim (", shape_str(shape), ")");
      out_shape[i] = want;
      out_strides[i] = 0;
    }
  }
  check_shape(out_shape, "expand");
  Tensor out = view_of(t, out_shape, out_strides, t->offset());
  record("ExpandBackward", {t}, {out}, [](const std::vector<Tensor>& g, const Node&) { return g; });
  return out;
}

Tensor squeeze(const Tensor& t, std::optional<int64_t> dim) {
  Shape shape, strides;
  std::optional<int64_t> d;
  if (dim) d = wrap_dim(*dim, t->dim(), "squeeze");
  for (int64_t i = 0; i < t->dim(); ++i) {
    bool drop = d ? (i == *d && t->shape()[i] == 1) : t->shape()[i] == 1;
    if (drop) continue;
    shape.push_back(t->shape()[i]);
    strides.push_back(t->strides()[i]);
  }
  Tensor out = view_of(t, shape, strides, t->offset());
  record_reshape_like("SqueezeBackward", t, out);
  return out;
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  dim = wrap_dim(dim, t->dim() + 1, "unsqueeze");
  Shape shape = t->shape(), strides = t->strides();
  int64_t st = dim < t->dim() ? shape[dim] * strides[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, st);
  Tensor out = view_of(t, shape, strides, t->offset());
  record_reshape_like("UnsqueezeBackward", t, out);
  return out;
}

Tensor flatten(const Tensor& t, int64_t start_dim, int64_t end_dim) {
  if (t->dim() == 0) return reshape(t, {1});
  start_dim = wrap_dim(start_dim, t->dim(), "flatten");
  end_dim = wrap_dim(end_dim, t->dim(), "flatten");
  DL_CHECK(start_dim <= end_dim, ValueError, "flatten: start_dim (", start_dim, ") must not be after end_dim (",
           end_dim, ")");
  Shape shape(t->shape().begin(), t->shape().begin() + start_dim);
  int64_t m = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) m *= t->shape()[i];
  shape.push_back(m);
  shape.insert(shape.end(), t->shape().begin() + end_dim + 1, t->shape().end());
  return reshape(t, shape);
}

Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step) {
  DL_CHECK(t->dim() > 0, IndexError, "slice: cannot slice a 0-d tensor");
  dim = wrap_dim(dim, t->dim(), "slice");
  DL_CHECK(step > 0, ValueError, "slice: step must be positive, got ", step);
  const int64_t n = t->shape()[dim];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::min(std::max<int64_t>(start, 0), n);
  end = std::min(std::max<int64_t>(end, start), n);
  const int64_t len = end == start ? 0 : (end - start - 1) / step + 1;
  Shape shape = t->shape(), strides = t->strides();
  shape[dim] = len;
  // A step past the end keeps one element; its stride is then irrelevant, and may overflow.
  strides[dim] = len > 1 ? checked_mul(strides[dim], step, "slice", t->shape()) : strides[dim];
  Tensor out = view_of(t, shape, strides, t->offset() + start * t->strides()[dim]);
  Shape in_shape = t->shape();
  record("SliceBackward", {t}, {out}, [in_shape, dim, start, step](const std::vector<Tensor>& g, const Node&) {
    return std::vector<Tensor>{slice_backward(g[0], in_shape, dim, start, step)};
  });
  return out;
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  DL_CHECK(t->dim() > 0, IndexError, "narrow: cannot be applied to a 0-d tensor (", t->describe(), ")");
  dim = wrap_dim(dim, t->dim(), "narrow");
  const int64_t n = t->shape()[dim];
  if (start < 0 && start >= -n) start += n;
  DL_CHECK(start >= 0 && start <= n && length >= 0 && length <= n - start, IndexError, "narrow: start (", start,
           ") + length (", length, ") exceeds dimension size (", n, ") of ", t->describe());
  return slice(t, dim, start, start + length, 1);
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  DL_CHECK(t->dim() > 0, IndexError, "select: cannot index a 0-d tensor");
  dim = wrap_dim(dim, t->dim(), "select");
  const int64_t n = t->shape()[dim];
  DL_CHECK(index >= -n && index < n, IndexError, "index ", index, " is out of bounds for dimension ", dim,
           " with size ", n);
  if (index < 0) index += n;
  Shape shape = t->shape(), strides = t->strides();
  int64_t offset = t->offset() + index * strides[dim];
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  Tensor out = view_of(t, shape, strides, offset);
  Shape in_shape = t->shape();
  record("SelectBackward", {t}, {out}, [in_shape, dim, index](const std::vector<Tensor>& g, const Node&) {
    return std::vector<Tensor>{slice_backward(unsqueeze(g[0], dim), in_shape, dim, index, 1)};
  });
  return out;
}

Tensor as_strided(const Tensor& t, const Shape& shape, const Shape& strides, int64_t offset) {
  DL_CHECK(shape.size() == strides.size(), ValueError, "as_strided: shape ", shape_str(shape), " and strides ",
           shape_str(strides), " differ in length");
  DL_CHECK(!any_requires_grad({&t}), RuntimeError,
           "as_strided: not differentiable; call it on a detached tensor (", t->describe(), ")");
  for (size_t i = 0; i < shape.size(); ++i)
    DL_CHECK(shape[i] >= 0 && strides[i] >= 0, ValueError, "as_strided: negative size or stride in shape ",
             shape_str(shape), " strides ", shape_str(strides));
  DL_CHECK(offset >= 0, ValueError, "as_strided: negative storage offset ", offset);
  return view_of(t, shape, strides, offset, "as_strided");
}

DL_REGISTER_OPS({"view", "view", true}, {"reshape", "view", true}, {"permute", "view", true},
                {"transpose", "view", true}, {"expand", "view", true}, {"squeeze", "view", true},
                {"unsqueeze", "view", true}, {"flatten", "view", true}, {"narrow", "view", true},
                {"select", "view", true}, {"slice", "view", true}, {"as_strided", "view", false});

}  // namespace dlcore
