// Shape ops that copy: cat/stack, split/chunk (views), pad, repeat/tile, flip, roll, tril/triu.
// Checks name the op and shapes; pad/flip/roll share the index-map kernel (Note [Index maps]).
#include "ops/shape.h"

#include <algorithm>

#include "dlcore/autograd.h"
#include "dlcore/ops.h"
#include "ops/index.h"

namespace dlcore {

DL_DEFINE_KERNEL(remap_kernel);
DL_DEFINE_KERNEL(tri_kernel);

namespace {

// An int64 index tensor holding `v`, on `device`.
Tensor index_tensor(const std::vector<int64_t>& v, Device device) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, DType::Int64);
  std::copy(v.begin(), v.end(), t->data<int64_t>());
  return to_device(t, device);
}

Tensor remap(const Tensor& t, const Shape& out_shape, const IndexMaps& maps, double fill) {
  Tensor out = empty(out_shape, t->dtype(), t->device());
  if (out->numel()) remap_kernel[t->device()](out, t, maps, fill);
  return out;
}

}  // namespace

// ---- cat / stack ------------------------------------------------------------------------------
// Note [cat skips empty 1-d tensors]: like PyTorch, a tensor of shape [0] is ignored by the
// shape checks (legacy behaviour that lets code start from `torch.tensor([])`), but still
// takes part in type promotion and gets a (null) gradient slot.
Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  DL_CHECK(!ts.empty(), ValueError, "cat: expected a non-empty list of tensors");
  auto skipped = [](const Tensor& t) { return t->dim() == 1 && t->shape()[0] == 0; };
  const Tensor* ref = nullptr;
  DType dtype = ts[0]->dtype();
  for (size_t i = 0; i < ts.size(); ++i) {
    DL_CHECK(ts[i] != nullptr, ValueError, "cat: tensor ", i, " is None");
    DL_CHECK(ts[i]->dim() > 0, ValueError, "cat: zero-dimensional tensor (at position ", i,
             ") cannot be concatenated");
    check_same_device("cat", ts[0], ts[i]);
    dtype = promote_types(dtype, ts[i]->dtype());
    if (!ref && !skipped(ts[i])) ref = &ts[i];
  }
  if (!ref) {  // only legacy empty inputs: an empty result, and (empty) zero grads for them
    Tensor out = empty({0}, dtype, ts[0]->device());
    record_zero_grads("CatBackward", ts, {out});
    return out;
  }
  const Tensor& r = *ref;
  dim = wrap_dim(dim, r->dim(), "cat");
  Shape out_shape = r->shape();
  out_shape[dim] = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    if (skipped(t)) continue;
    DL_CHECK(t->dim() == r->dim(), ValueError, "cat: tensors must have the same number of dimensions: got ",
             r->dim(), " and ", t->dim(), " (", r->describe(), " and ", t->describe(), " at position ", i, ")");
    for (int64_t d = 0; d < t->dim(); ++d)
      DL_CHECK(d == dim || t->shape()[d] == r->shape()[d], ValueError,
               "cat: sizes of tensors must match except in dimension ", dim, ": expected size ", r->shape()[d],
               " but got size ", t->shape()[d], " in dimension ", d, " for tensor ", i, " (",
               shape_str(r->shape()), " vs ", shape_str(t->shape()), ")");
    out_shape[dim] = checked_add(out_shape[dim], t->shape()[dim], "cat", t->shape());
  }
  Tensor out = empty(out_shape, dtype, r->device());
  std::vector<int64_t> starts(ts.size(), 0);
  {
    GradModeGuard no_grad(false);
    int64_t at = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
      if (skipped(ts[i])) continue;
      starts[i] = at;
      const int64_t len = ts[i]->shape()[dim];
      if (len) copy_(narrow(out, dim, at, len), ts[i]);
      at += len;
    }
  }
  if (any_requires_grad(ts)) {
    std::vector<int64_t> lens(ts.size(), -1);
    for (size_t i = 0; i < ts.size(); ++i)
      if (!skipped(ts[i])) lens[i] = ts[i]->shape()[dim];
    record("CatBackward", ts, {out}, [dim, starts, lens](const std::vector<Tensor>& g, const Node& n) {
      std::vector<Tensor> gi(starts.size());
      for (size_t i = 0; i < starts.size(); ++i) {
        if (!n.needs_input_grad(i)) continue;
        // A skipped legacy empty input still gets its (empty) gradient, so its leaf's .grad is
        // zeros rather than None, as in PyTorch.
        gi[i] = lens[i] >= 0 ? narrow(g[0], dim, starts[i], lens[i]) : zeros({0}, g[0]->dtype(), g[0]->device());
      }
      return gi;
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& ts, int64_t dim) {
  DL_CHECK(!ts.empty(), ValueError, "stack: expected a non-empty list of tensors");
  dim = wrap_dim(dim, ts[0]->dim() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    DL_CHECK(ts[i]->shape() == ts[0]->shape(), ValueError, "stack: expects each tensor to be equal size, but got ",
             shape_str(ts[0]->shape()), " at entry 0 and ", shape_str(ts[i]->shape()), " at entry ", i);
    parts.push_back(unsqueeze(ts[i], dim));
  }
  return cat(parts, dim);
}

// ---- split / chunk: views ---------------------------------------------------------------------
std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t dim) {
  DL_CHECK(t->dim() > 0, ValueError, "split: expected at least a 1-dimensional tensor, got ", t->describe());
  DL_CHECK(split_size >= 0, ValueError, "split: split_size must be non-negative, got ", split_size);
  dim = wrap_dim(dim, t->dim(), "split");
  const int64_t n = t->shape()[dim];
  DL_CHECK(split_size > 0 || n == 0, ValueError, "split: split_size can only be 0 if dimension size is 0, but got ",
           "dimension size ", n, " (", t->describe(), ")");
  std::vector<Tensor> out;
  if (n == 0) {
    out.push_back(narrow(t, dim, 0, 0));
    return out;
  }
  for (int64_t at = 0; at < n; at += split_size) out.push_back(narrow(t, dim, at, std::min(split_size, n - at)));
  return out;
}

std::vector<Tensor> split_with_sizes(const Tensor& t, const Shape& sizes, int64_t dim) {
  DL_CHECK(t->dim() > 0, ValueError, "split_with_sizes: expected at least a 1-dimensional tensor, got ",
           t->describe());
  dim = wrap_dim(dim, t->dim(), "split_with_sizes");
  const int64_t n = t->shape()[dim];
  int64_t total = 0;
  for (int64_t s : sizes) {
    DL_CHECK(s >= 0, ValueError, "split_with_sizes: split sizes must be non-negative, got ", shape_str(sizes));
    total = checked_add(total, s, "split_with_sizes", sizes);
  }
  DL_CHECK(total == n, ValueError, "split_with_sizes: split sizes ", shape_str(sizes), " must sum exactly to ", n,
           " (the size of dimension ", dim, " of ", t->describe(), "), but sum to ", total);
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(t, dim, at, s));
    at += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim) {
  DL_CHECK(t->dim() > 0, ValueError, "chunk: expected at least a 1-dimensional tensor, got ", t->describe());
  DL_CHECK(chunks > 0, ValueError, "chunk: chunks must be greater than 0, got ", chunks);
  dim = wrap_dim(dim, t->dim(), "chunk");
  const int64_t n = t->shape()[dim];
  const int64_t size = n == 0 ? 0 : (n - 1) / chunks + 1;
  if (size == 0) {
    // An empty dim: `chunks` empty pieces, as PyTorch returns.
    constexpr int64_t kMaxPieces = int64_t(1) << 20;
    DL_CHECK(chunks <= kMaxPieces, RuntimeError, "chunk: ", chunks, " empty pieces of ", t->describe(),
             " is more than the limit of ", kMaxPieces);
    std::vector<Tensor> out;
    for (int64_t i = 0; i < chunks; ++i) out.push_back(narrow(t, dim, 0, 0));
    return out;
  }
  return split(t, size, dim);
}

// ---- pad ---------------------------------------------------------------------------------------
namespace {

enum class PadMode { Constant, Reflect, Replicate, Circular };

PadMode parse_pad_mode(const std::string& mode) {
  if (mode == "constant") return PadMode::Constant;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "replicate") return PadMode::Replicate;
  if (mode == "circular") return PadMode::Circular;
  throw ValueError(str_cat("pad: mode must be one of 'constant', 'reflect', 'replicate', 'circular', got '",
                           mode, "'"));
}

// maps[d][i]: the input index that output index i of dim d reads (-1: the fill value).
std::vector<int64_t> pad_map(int64_t n, int64_t left, int64_t right, PadMode mode) {
  std::vector<int64_t> m(static_cast<size_t>(n + left + right));
  for (int64_t i = 0; i < static_cast<int64_t>(m.size()); ++i) {
    int64_t s = i - left;
    if (s < 0 || s >= n) {
      switch (mode) {
        case PadMode::Constant: s = -1; break;
        case PadMode::Reflect: s = s < 0 ? -s : 2 * (n - 1) - s; break;
        case PadMode::Replicate: s = s < 0 ? 0 : n - 1; break;
        case PadMode::Circular: s = ((s % n) + n) % n; break;
      }
    }
    m[i] = s;
  }
  return m;
}

}  // namespace

Tensor pad(const Tensor& t, const Shape& pads, const std::string& mode_name, double value) {
  const PadMode mode = parse_pad_mode(mode_name);
  const int64_t nd = t->dim();
  DL_CHECK(pads.size() % 2 == 0, ValueError, "pad: padding length must be divisible by 2, got ", pads.size(),
           " (pad ", shape_str(pads), ")");
  const int64_t np = static_cast<int64_t>(pads.size()) / 2;
  DL_CHECK(np <= nd, ValueError, "pad: padding length ", pads.size(), " is too large for a ", nd, "-d input (",
           t->describe(), "); at most ", 2 * nd, " values");
  Shape out_shape = t->shape();
  IndexMaps maps(nd);
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t n = t->shape()[d];
    int64_t left = 0, right = 0;
    const int64_t k = nd - 1 - d;  // pads[2k], pads[2k+1] pad dim d (last dim first)
    if (k < np) {
      left = pads[2 * k];
      right = pads[2 * k + 1];
    }
    const int64_t size = n + left + right;
    DL_CHECK(size >= 0, ValueError, "pad: the input size ", n, " at dimension ", d, " plus padding (", left, ", ",
             right, ") gives a negative output size ", size, " (input ", t->describe(), ")");
    if ((left > 0 || right > 0) && mode != PadMode::Constant) {
      DL_CHECK(n > 0, ValueError, "pad: ", mode_name, " padding needs a non-empty dimension ", d, " (input ",
               t->describe(), ")");
      if (mode == PadMode::Reflect)
        DL_CHECK(left < n && right < n, ValueError, "pad: padding size should be less than the corresponding input ",
                 "dimension for reflect mode, but got padding (", left, ", ", right, ") at dimension ", d,
                 " of input ", shape_str(t->shape()));
      if (mode == PadMode::Circular)
        DL_CHECK(left <= n && right <= n, ValueError, "pad: padding (", left, ", ", right,
                 ") is larger than dimension ", d, " of input ", shape_str(t->shape()), " for circular mode");
    }
    out_shape[d] = size;
    maps[d] = pad_map(n, left, right, mode);
  }
  Tensor out = remap(t, out_shape, maps, mode == PadMode::Constant ? value : 0.0);
  if (any_requires_grad({&t})) {
    Shape in_shape = t->shape();
    record("PadBackward", {t}, {out}, [pads, mode, maps, in_shape](const std::vector<Tensor>& g, const Node&) {
      if (mode == PadMode::Constant) {
        // The input is a crop of the output: pad by the negated amounts.
        Shape neg(pads.size());
        for (size_t i = 0; i < pads.size(); ++i) neg[i] = -pads[i];
        return std::vector<Tensor>{pad(g[0], neg, "constant", 0.0)};
      }
      // Several outputs read one input element: sum them back, one dim at a time.
      Tensor gi = g[0];
      for (size_t d = 0; d < maps.size(); ++d) {
        bool identity = static_cast<int64_t>(maps[d].size()) == in_shape[d];
        for (size_t i = 0; identity && i < maps[d].size(); ++i) identity = maps[d][i] == static_cast<int64_t>(i);
        if (identity) continue;
        Shape s = gi->shape();
        s[d] = in_shape[d];
        std::vector<Tensor> idx(d + 1);
        idx[d] = index_tensor(maps[d], gi->device());
        gi = index_put(zeros(s, gi->dtype(), gi->device()), idx, gi, /*accumulate=*/true);
      }
      return std::vector<Tensor>{gi};
    });
  }
  return out;
}

// ---- repeat / tile -----------------------------------------------------------------------------
Tensor repeat(const Tensor& t, const Shape& repeats) {
  const int64_t nr = static_cast<int64_t>(repeats.size());
  DL_CHECK(nr >= t->dim(), ValueError, "repeat: number of repeat dims (", nr,
           ") can not be smaller than the number of dimensions of the tensor (", t->describe(), ")");
  for (int64_t r : repeats)
    DL_CHECK(r >= 0, ValueError, "repeat: repeats must be non-negative, got ", shape_str(repeats));
  // Viewed as (r_0, s_0, r_1, s_1, ...) with stride 0 on every r_d, the input's copy is the
  // output laid out contiguously.
  const int64_t lead = nr - t->dim();
  Shape in_shape(lead, 1), in_strides(lead, 0);
  in_shape.insert(in_shape.end(), t->shape().begin(), t->shape().end());
  in_strides.insert(in_strides.end(), t->strides().begin(), t->strides().end());
  Shape pair_shape, pair_strides, out_shape;
  for (int64_t d = 0; d < nr; ++d) {
    pair_shape.insert(pair_shape.end(), {repeats[d], in_shape[d]});
    pair_strides.insert(pair_strides.end(), {0, in_strides[d]});
    out_shape.push_back(checked_mul(repeats[d], in_shape[d], "repeat", repeats));
  }
  check_shape(out_shape, "repeat", t->itemsize());
  Tensor out = empty(out_shape, t->dtype(), t->device());
  if (out->numel()) {
    GradModeGuard no_grad(false);
    Tensor src = make_view(t, pair_shape, pair_strides, t->offset());
    Tensor dst = make_view(out, pair_shape, contiguous_strides(pair_shape), 0);
    copy_(dst, src);
  }
  if (any_requires_grad({&t})) {
    Shape orig = t->shape();
    record("RepeatBackward", {t}, {out}, [pair_shape, orig](const std::vector<Tensor>& g, const Node&) {
      Shape dims;
      for (size_t d = 0; d < pair_shape.size(); d += 2) dims.push_back(static_cast<int64_t>(d));
      Tensor s = sum(reshape(g[0], pair_shape), dims, false);
      return std::vector<Tensor>{reshape(s, orig)};
    });
  }
  return out;
}

Tensor tile(const Tensor& t, const Shape& reps) {
  Shape r = reps;
  if (static_cast<int64_t>(r.size()) < t->dim()) r.insert(r.begin(), t->dim() - r.size(), 1);
  return repeat(t, r);
}

// ---- flip / roll ------------------------------------------------------------------------------
namespace {
IndexMaps identity_maps(const Tensor& t) {
  IndexMaps maps(t->dim());
  for (int64_t d = 0; d < t->dim(); ++d) {
    maps[d].resize(t->shape()[d]);
    for (int64_t i = 0; i < t->shape()[d]; ++i) maps[d][i] = i;
  }
  return maps;
}
}  // namespace

Tensor flip(const Tensor& t, const Shape& dims) {
  IndexMaps maps = identity_maps(t);
  std::vector<bool> seen(std::max<int64_t>(t->dim(), 1), false);
  for (int64_t d0 : dims) {
    const int64_t d = wrap_dim(d0, t->dim(), "flip");
    DL_CHECK(!seen[d], ValueError, "flip: dim ", d0, " appears multiple times in the list of dims ", shape_str(dims));
    seen[d] = true;
    if (t->dim() > 0) std::reverse(maps[d].begin(), maps[d].end());
  }
  Tensor out = remap(t, t->shape(), maps, 0.0);
  record("FlipBackward", {t}, {out}, [dims](const std::vector<Tensor>& g, const Node&) {
    return std::vector<Tensor>{flip(g[0], dims)};
  });
  return out;
}

Tensor roll(const Tensor& t, const Shape& shifts, const Shape& dims) {
  if (dims.empty()) {
    DL_CHECK(shifts.size() == 1, ValueError, "roll: without dims, shifts must have exactly one element, got ",
             shape_str(shifts));
    if (t->dim() == 0) return roll(t, shifts, {0});
    return reshape(roll(flatten(t), shifts, {0}), t->shape());
  }
  DL_CHECK(shifts.size() == dims.size(), ValueError, "roll: shifts and dims must align: shifts ", shape_str(shifts),
           ", dims ", shape_str(dims));
  IndexMaps maps = identity_maps(t);
  for (size_t k = 0; k < dims.size(); ++k) {
    const int64_t d = wrap_dim(dims[k], t->dim(), "roll");
    if (t->dim() == 0) continue;
    const int64_t n = t->shape()[d];
    if (n == 0) continue;
    // out[i] = in[(i - shift) mod n]; repeated dims add up, as in PyTorch.
    std::vector<int64_t> m(n);
    for (int64_t i = 0; i < n; ++i) m[i] = maps[d][(((i - shifts[k]) % n) + n) % n];
    maps[d] = std::move(m);
  }
  Tensor out = remap(t, t->shape(), maps, 0.0);
  record("RollBackward", {t}, {out}, [shifts, dims](const std::vector<Tensor>& g, const Node&) {
    Shape back(shifts.size());
    for (size_t i = 0; i < shifts.size(); ++i) back[i] = -shifts[i];
    return std::vector<Tensor>{roll(g[0], back, dims)};
  });
  return out;
}

// ---- tril / triu -------------------------------------------------------------------------------
namespace {
Tensor tri(const Tensor& t, int64_t diagonal, bool upper) {
  const char* name = upper ? "triu" : "tril";
  DL_CHECK(t->dim() >= 2, ValueError, name, ": input tensor must have at least 2 dimensions, got ", t->describe());
  Tensor out = empty_like(t);
  Tensor x;
  {
    GradModeGuard no_grad(false);
    x = contiguous(t);
  }
  if (out->numel()) tri_kernel[t->device()](out, x, diagonal, upper);
  record(upper ? "TriuBackward" : "TrilBackward", {t}, {out}, [diagonal, upper](const std::vector<Tensor>& g, const Node&) {
    return std::vector<Tensor>{upper ? triu(g[0], diagonal) : tril(g[0], diagonal)};
  });
  return out;
}
}  // namespace

Tensor tril(const Tensor& t, int64_t diagonal) { return tri(t, diagonal, false); }
Tensor triu(const Tensor& t, int64_t diagonal) { return tri(t, diagonal, true); }

DL_REGISTER_OPS({"cat", "shape", true}, {"stack", "shape", true}, {"split", "shape", true},
                {"split_with_sizes", "shape", true}, {"chunk", "shape", true}, {"pad", "shape", true},
                {"repeat", "shape", true}, {"tile", "shape", true}, {"flip", "shape", true},
                {"roll", "shape", true}, {"tril", "shape", true}, {"triu", "shape", true});

}  // namespace dlcore
