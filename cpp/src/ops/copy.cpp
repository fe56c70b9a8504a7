// copy_, fill_, contiguous, clone, dtype and device conversion, detach.
#include "ops/copy.h"

#include <limits>

#include "dlcore/autograd.h"
#include "dlcore/overlap.h"
#include "dlcore/ops.h"
#include "dlcore/poison.h"

namespace dlcore {

DL_DEFINE_KERNEL(copy_kernel);
DL_DEFINE_KERNEL(fill_kernel);
DL_DEFINE_KERNEL(memcpy_between_kernel);

namespace {

// Copy without autograd: same device -> the device's strided copy kernel; across devices ->
// a contiguous staging copy on the source side, one memcpy, then a strided copy on the
// destination side.
void copy_data(const Tensor& dst, const Tensor& src) {
  if (dst->numel() == 0) return;
  if (dst->device() == src->device()) {
    copy_kernel[dst->device()](dst, src);
    return;
  }
  Tensor s = src;
  if (s->shape() != dst->shape()) s = contiguous(expand(s, dst->shape()));
  if (s->dtype() != dst->dtype()) s = to_dtype(s, dst->dtype());
  s = contiguous(s);
  const Device other = dst->device().is_cpu() ? src->device() : dst->device();
  if (dst->is_contiguous()) {
    memcpy_between_kernel[other](dst->raw_data(), dst->device(), s->raw_data(), s->device(),
                                 static_cast<size_t>(s->numel()) * s->itemsize());
  } else {
    Tensor staged = empty(dst->shape(), dst->dtype(), dst->device());
    memcpy_between_kernel[other](staged->raw_data(), staged->device(), s->raw_data(), s->device(),
                                 static_cast<size_t>(s->numel()) * s->itemsize());
    copy_kernel[dst->device()](dst, staged);
  }
}

}  // namespace

void copy_(const Tensor& dst, const Tensor& src) {
  broadcast_shapes(dst->shape(), src->shape(), "copy_");
  Shape b = broadcast_shapes(dst->shape(), src->shape(), "copy_");
  DL_CHECK(b == dst->shape(), ValueError, "copy_: source of shape ", shape_str(src->shape()),
           " does not broadcast to destination shape ", shape_str(dst->shape()));
  const bool grad = inplace_records(dst, {&src});
  if (grad) check_inplace(dst, "copy_");
  check_no_internal_overlap(dst, "copy_");
  // Note [Memory overlap]: copying a tensor onto itself (same memory and layout, same dtype)
  // is a no-op; a source that shares memory with dst otherwise is read from a copy.
  switch (memory_overlap(dst, src)) {
    case Overlap::No:
      copy_data(dst, src);
      break;
    case Overlap::Full:
      if (dst->dtype() != src->dtype()) copy_data(dst, to_dtype(detach(src), dst->dtype()));
      break;
    case Overlap::Partial:
    case Overlap::Unknown: {
      GradModeGuard no_grad(false);
      copy_data(dst, clone(detach(src)));
    }
  }
  dst->bump_version();
  if (grad) {
    auto node = std::make_shared<FunctionNode>("CopyBackwards", [](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{Tensor(), g[0]};
    });
    // Input 0 is dst's previous value: it is overwritten, so it gets no gradient.
    node->next_edges = {Edge{}, src->requires_grad() ? gradient_edge(src) : Edge{}};
    node->input_meta = {InputMeta{}, InputMeta{src->shape(), src->dtype()}};
    rebase_history(dst, node);
  }
}

namespace {
// Note [Poisoned new tensors] in dlcore/poison.h.
void poison_fill(const Tensor& t) {
  double v = std::numeric_limits<double>::quiet_NaN();
  if (t->dtype() == DType::Bool) v = 1;
  if (t->dtype() == DType::Int32) v = 2147483647.0;
  if (t->dtype() == DType::Int64) v = 4611686018427387904.0;  // 2^62: exact in double
  fill_kernel[t->device()](t, v);
}
const bool poison_fill_registered = (set_poison_fill(&poison_fill), true);
}  // namespace

void fill_(const Tensor& t, double value) {
  const bool grad = inplace_records(t, {});
  if (grad) check_inplace(t, "fill_");
  if (t->numel()) fill_kernel[t->device()](t, value);
  t->bump_version();
  if (grad) {
    auto node = std::make_shared<FunctionNode>("FillBackward", [](const std::vector<Tensor>&, const Node&) {
      return std::vector<Tensor>{};
    });
    rebase_history(t, node);
  }
}

void zero_(const Tensor& t) { fill_(t, 0.0); }

Tensor contiguous(const Tensor& t) { return t->is_contiguous() ? t : clone(t); }

Tensor clone(const Tensor& t) {
  Tensor out = empty_like(t);
  copy_data(out, t);
  record("CloneBackward", {t}, {out}, [](const std::vector<Tensor>& g, const Node&) { return g; });
  return out;
}

Tensor to_dtype(const Tensor& t, DType dtype) {
  if (t->dtype() == dtype) return t;
  Tensor out = empty_like(t, dtype);
  copy_data(out, t);
  if (is_floating(dtype)) {
    const DType src = t->dtype();
    record("ToCopyBackward", {t}, {out}, [src](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{to_dtype(g[0], src)};
    });
  }
  return out;
}

Tensor to_device(const Tensor& t, Device device) {
  if (t->device() == device) return t;
  Tensor out = empty(t->shape(), t->dtype(), device);
  copy_data(out, t);
  const Device src = t->device();
  record("ToCopyBackward", {t}, {out}, [src](const std::vector<Tensor>& g, const Node&) {
    return std::vector<Tensor>{to_device(g[0], src)};
  });
  return out;
}

Tensor detach(const Tensor& t) {
  return std::make_shared<TensorImpl>(t->storage(), t->shape(), t->strides(), t->offset(), t->dtype());
}

double item_as_double(const Tensor& t) {
  DL_CHECK(t->numel() == 1, ValueError, "item: a tensor with ", t->numel(),
           " elements cannot be converted to a Python number (", t->describe(), ")");
  Tensor c = t->device().is_cpu() ? t : to_device(detach(t), Device{});
  return DL_DISPATCH_ALL_AND_HALF(c->dtype(), "item", [&] { return convert<double>(*c->data<scalar_t>()); });
}

DL_REGISTER_OPS({"copy_", "copy", true}, {"fill_", "copy", false}, {"zero_", "copy", false},
                {"contiguous", "copy", true}, {"clone", "copy", true}, {"to_dtype", "copy", true},
                {"to_device", "copy", true}, {"detach", "copy", false});

}  // namespace dlcore
