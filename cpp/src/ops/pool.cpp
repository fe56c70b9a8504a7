// Pooling ops: argument checks, output sizes (PyTorch's rules), dispatch (Note [Pool layout]
// in ops/pool.h) and autograd. Backward formulas are dedicated kernels: max pooling scatters
// the gradient by the saved argmax indices; the average-like ops are linear maps whose
// backward is their transpose (Note [Linear pools]).
#include "ops/pool.h"

#include <algorithm>
#include <string>

#include "dlcore/autograd.h"
#include "dlcore/ops.h"
#include "ops/upsample.h"

namespace dlcore {

DL_DEFINE_KERNEL(max_pool_kernel);
DL_DEFINE_KERNEL(max_pool_backward_kernel);
DL_DEFINE_KERNEL(avg_pool_kernel);
DL_DEFINE_KERNEL(avg_pool_backward_kernel);
DL_DEFINE_KERNEL(adaptive_max_pool_kernel);
DL_DEFINE_KERNEL(adaptive_avg_pool_kernel);
DL_DEFINE_KERNEL(adaptive_avg_pool_backward_kernel);

Shape pool_fold_input(const Tensor& x, int dims, const char* op, PoolParams& p) {
  const int64_t nd = x->dim();
  DL_CHECK(nd == dims + 1 || nd == dims + 2, ValueError, op, ": expected a ", dims + 1, "-d (unbatched) or ", dims + 2,
           "-d (batched) input, got input ", x->describe());
  DL_CHECK(x->dtype() == DType::Float32 || x->dtype() == DType::Float64, TypeError, op,
           ": expected a float32 or float64 input, got input ", x->describe());
  for (int64_t i = nd - dims; i < nd; ++i)
    DL_CHECK(x->shape()[i] > 0, ValueError, op, ": input ", shape_str(x->shape()),
             " has an empty spatial dim (expected non-zero sizes in the last ", dims, " dims)");
  Shape lead(x->shape().begin(), x->shape().end() - dims);
  p.nc = shape_numel(lead);
  for (int i = 0; i < dims; ++i) p.in[3 - dims + i] = x->shape()[nd - dims + i];
  return lead;
}

Shape pool_out_shape(const Shape& lead, int dims, const PoolParams& p) {
  Shape s = lead;
  for (int i = 3 - dims; i < 3; ++i) s.push_back(p.out[i]);
  return s;
}

namespace {

std::string pool_name(const char* base, int dims) { return std::string(base) + std::to_string(dims) + "d"; }

// A size argument with 1 or `dims` entries, spread over the (D, H, W) slots.
void spread(const Shape& v, int dims, const char* op, const char* arg, int64_t* dst) {
  DL_CHECK(v.size() == 1 || v.size() == static_cast<size_t>(dims), ValueError, op, ": ", arg,
           " must be an int or have ", dims, " entries, got ", shape_str(v));
  for (int i = 0; i < dims; ++i) dst[3 - dims + i] = v.size() == 1 ? v[0] : v[i];
}

Shape spatial(const int64_t* v, int dims) { return Shape(v + 3 - dims, v + 3); }

// Kernel, stride, padding, dilation and output sizes, checked (PyTorch's pooling_output_shape).
void window_geometry(const Tensor& x, int dims, const std::string& op_s, const Shape& kernel, const Shape& stride,
                     const Shape& padding, const Shape& dilation, bool ceil_mode, PoolParams& p) {
  const char* op = op_s.c_str();
  spread(kernel, dims, op, "kernel_size", p.kernel);
  spread(stride.empty() ? kernel : stride, dims, op, "stride", p.stride);
  spread(padding, dims, op, "padding", p.pad);
  spread(dilation, dims, op, "dilation", p.dilation);
  for (int i = 3 - dims; i < 3; ++i) {
    DL_CHECK(p.kernel[i] > 0, ValueError, op, ": kernel_size must be positive, got ", shape_str(spatial(p.kernel, dims)));
    DL_CHECK(p.stride[i] > 0, ValueError, op, ": stride must be positive, got ", shape_str(spatial(p.stride, dims)));
    DL_CHECK(p.dilation[i] > 0, ValueError, op, ": dilation must be positive, got ",
             shape_str(spatial(p.dilation, dims)));
    DL_CHECK(p.pad[i] >= 0 && p.pad[i] <= p.kernel[i] / 2, ValueError, op, ": padding ",
             shape_str(spatial(p.pad, dims)), " must be non-negative and at most half of kernel_size ",
             shape_str(spatial(p.kernel, dims)), " (input ", shape_str(x->shape()), ")");
  }
  bool ok = true;
  for (int i = 3 - dims; i < 3; ++i) {
    // In 128 bits: kernel, stride, padding and dilation are any int64 the caller gave.
    const __int128 s = p.stride[i];
    const __int128 num = __int128(p.in[i]) + 2 * __int128(p.pad[i]) - __int128(p.dilation[i]) * (p.kernel[i] - 1) - 1 +
                         (ceil_mode ? s - 1 : 0);
    const __int128 o128 = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;  // floor division
    DL_CHECK(o128 <= p.in[i] + 2 * __int128(p.pad[i]), ValueError, op, ": output size overflows (input ",
             shape_str(x->shape()), ")");
    int64_t o = o128 < 1 ? 0 : static_cast<int64_t>(o128);  // < 1: too small, reported below
    // The last window must start inside the input or the left padding.
    if (ceil_mode && (o - 1) * s >= p.in[i] + p.pad[i]) --o;
    p.out[i] = o;
    ok = ok && o >= 1;
  }
  DL_CHECK(ok, ValueError, op, ": output size ", shape_str(spatial(p.out, dims)), " is too small: input ",
           shape_str(x->shape()), ", kernel_size ", shape_str(spatial(p.kernel, dims)), ", stride ",
           shape_str(spatial(p.stride, dims)), ", padding ", shape_str(spatial(p.pad, dims)), ", dilation ",
           shape_str(spatial(p.dilation, dims)));
}

void adaptive_geometry(const Tensor& x, int dims, const char* op, const std::vector<std::optional<int64_t>>& size,
                       PoolParams& p) {
  DL_CHECK(size.size() == 1 || size.size() == static_cast<size_t>(dims), ValueError, op,
           ": output_size must be an int or have ", dims, " entries, got ", size.size(), " (input ",
           shape_str(x->shape()), ")");
  for (int i = 0; i < dims; ++i) {
    const auto& s = size.size() == 1 ? size[0] : size[i];
    const int slot = 3 - dims + i;
    p.out[slot] = s ? *s : p.in[slot];
    DL_CHECK(p.out[slot] > 0, ValueError, op, ": output_size entries must be positive, got ", p.out[slot],
             " (input ", shape_str(x->shape()), ")");
  }
  check_shape({p.nc, p.out[0], p.out[1], p.out[2]}, op, x->itemsize());
}

Tensor contiguous_no_grad(const Tensor& t) {
  GradModeGuard no_grad(false);
  return contiguous(t);
}

// Note [Max pool backward]
// Saves only the int64 indices. Without create_graph the kernel scatters into a zeroed
// grad_x; under create_graph it is scatter_add over (NC, plane) views, differentiable in g.
Tensor max_pool_backward(const Tensor& g, const Tensor& indices, const Shape& in_shape, const PoolParams& p,
                         DType dtype) {
  Tensor gd = g->dtype() == dtype ? g : to_dtype(g, dtype);
  if (grad_enabled()) {
    Tensor z = zeros({p.nc, p.in_plane()}, dtype, g->device());
    return reshape(scatter_add(z, 1, reshape(indices, {p.nc, p.out_plane()}), reshape(gd, {p.nc, p.out_plane()})),
                   in_shape);
  }
  Tensor gc = contiguous_no_grad(gd);
  Tensor gx = empty(in_shape, dtype, g->device());
  max_pool_backward_kernel[g->device()](gx, gc, indices, p);
  return gx;
}

std::tuple<Tensor, Tensor> max_like(const Tensor& x, const Shape& out_shape, const PoolParams& p, bool adaptive,
                                    const char* node) {
  Tensor xc = contiguous_no_grad(x);
  Tensor y = empty(out_shape, x->dtype(), x->device());
  Tensor idx = empty(out_shape, DType::Int64, x->device());
  (adaptive ? adaptive_max_pool_kernel : max_pool_kernel)[x->device()](y, idx, xc, p);
  if (any_requires_grad({&x})) {
    SavedTensor si(idx, false);
    Shape in_shape = x->shape();
    DType dt = x->dtype();
    record(node, {x}, {y}, [si, in_shape, p, dt](const std::vector<Tensor>& g, const Node& n) {
      return std::vector<Tensor>{max_pool_backward(g[0], si.unpack(n), in_shape, p, dt)};
    });
  }
  return {y, idx};
}

}  // namespace

// Note [Linear pools]
// avg_pool, adaptive_avg_pool and interpolate are linear in their input: y = A x. The
// backward applies A^T (a dedicated kernel) and records A as *its* backward, so gradients of
// any order come from the same two kernels and nothing is saved.
Tensor apply_linear_pool(const LinearPool& op, const Tensor& t, bool transpose) {
  Tensor src = contiguous_no_grad(t);
  Tensor dst = empty(transpose ? op.in_shape : op.out_shape, t->dtype(), t->device());
  const Device dev = t->device();
  switch (op.kind) {
    case LinearPoolKind::Avg:
      (transpose ? avg_pool_backward_kernel[dev](dst, src, op.p) : avg_pool_kernel[dev](dst, src, op.p));
      break;
    case LinearPoolKind::AdaptiveAvg:
      (transpose ? adaptive_avg_pool_backward_kernel[dev](dst, src, op.p)
                 : adaptive_avg_pool_kernel[dev](dst, src, op.p));
      break;
    case LinearPoolKind::Nearest:
      (transpose ? upsample_nearest_backward_kernel[dev](dst, src, op.p)
                 : upsample_nearest_kernel[dev](dst, src, op.p));
      break;
    case LinearPoolKind::Linear:
      (transpose ? upsample_linear_backward_kernel[dev](dst, src, op.p)
                 : upsample_linear_kernel[dev](dst, src, op.p));
      break;
  }
  if (any_requires_grad({&t})) {
    record(op.name, {t}, {dst}, [op, transpose](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{apply_linear_pool(op, g[0], !transpose)};
    });
  }
  return dst;
}

std::tuple<Tensor, Tensor> max_pool(const Tensor& x, int dims, const Shape& kernel, const Shape& stride,
                                    const Shape& padding, const Shape& dilation, bool ceil_mode) {
  const std::string op = pool_name("max_pool", dims);
  PoolParams p;
  Shape lead = pool_fold_input(x, dims, op.c_str(), p);
  window_geometry(x, dims, op, kernel, stride, padding, dilation, ceil_mode, p);
  static const char* nodes[] = {"MaxPool1DBackward", "MaxPool2DBackward", "MaxPool3DBackward"};
  return max_like(x, pool_out_shape(lead, dims, p), p, false, nodes[dims - 1]);
}

Tensor avg_pool(const Tensor& x, int dims, const Shape& kernel, const Shape& stride, const Shape& padding,
                bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  const std::string op = pool_name("avg_pool", dims);
  PoolParams p;
  Shape lead = pool_fold_input(x, dims, op.c_str(), p);
  window_geometry(x, dims, op, kernel, stride, padding, {1}, ceil_mode, p);
  DL_CHECK(!divisor_override || *divisor_override != 0, ValueError, op, ": divisor_override must be non-zero (input ",
           shape_str(x->shape()), ")");
  p.count_include_pad = count_include_pad;
  p.divisor = divisor_override.value_or(0);
  static const char* nodes[] = {"AvgPool1DBackward", "AvgPool2DBackward", "AvgPool3DBackward"};
  LinearPool lp{LinearPoolKind::Avg, p, x->shape(), pool_out_shape(lead, dims, p), nodes[dims - 1]};
  return apply_linear_pool(lp, x, false);
}

Tensor adaptive_avg_pool(const Tensor& x, int dims, const std::vector<std::optional<int64_t>>& output_size) {
  const std::string op = pool_name("adaptive_avg_pool", dims);
  PoolParams p;
  Shape lead = pool_fold_input(x, dims, op.c_str(), p);
  adaptive_geometry(x, dims, op.c_str(), output_size, p);
  static const char* nodes[] = {"AdaptiveAvgPool1DBackward", "AdaptiveAvgPool2DBackward",
                                "AdaptiveAvgPool3DBackward"};
  LinearPool lp{LinearPoolKind::AdaptiveAvg, p, x->shape(), pool_out_shape(lead, dims, p), nodes[dims - 1]};
  return apply_linear_pool(lp, x, false);
}

std::tuple<Tensor, Tensor> adaptive_max_pool(const Tensor& x, int dims,
                                             const std::vector<std::optional<int64_t>>& output_size) {
  const std::string op = pool_name("adaptive_max_pool", dims);
  PoolParams p;
  Shape lead = pool_fold_input(x, dims, op.c_str(), p);
  adaptive_geometry(x, dims, op.c_str(), output_size, p);
  static const char* nodes[] = {"AdaptiveMaxPool1DBackward", "AdaptiveMaxPool2DBackward",
                                "AdaptiveMaxPool3DBackward"};
  return max_like(x, pool_out_shape(lead, dims, p), p, true, nodes[dims - 1]);
}

DL_REGISTER_OPS({"max_pool1d", "pool", true}, {"max_pool2d", "pool", true}, {"max_pool3d", "pool", true},
                {"avg_pool1d", "pool", true}, {"avg_pool2d", "pool", true}, {"avg_pool3d", "pool", true},
                {"adaptive_avg_pool1d", "pool", true}, {"adaptive_avg_pool2d", "pool", true},
                {"adaptive_avg_pool3d", "pool", true}, {"adaptive_max_pool1d", "pool", true},
                {"adaptive_max_pool2d", "pool", true}, {"adaptive_max_pool3d", "pool", true});

}  // namespace dlcore
