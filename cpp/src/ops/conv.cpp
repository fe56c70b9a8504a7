// Convolutions: argument checks, output shapes, dispatch to the conv kernels (Note
// [Convolution geometry] in ops/conv.h) and the autograd nodes.
//
// Note [Transposed convolution]
// conv_transpose(x, w) is the adjoint of conv(., w) for the convolution whose input is the
// transposed op's output: with w (C_in, C_out / groups, kernel), it is the convolution from
// (N, C_out, out) to (N, C_in, x's size) with K = C_in and C = C_out. So
//   conv_transpose forward        = conv_backward_input_kernel (+ bias per channel)
//   its grad wrt its input        = conv_forward_kernel on the incoming grad
//   its grad wrt w                = conv_backward_weight_kernel with gy = x and x = the grad
// output_padding only makes the transposed output longer: those trailing positions are never
// read by the convolution, so the adjoint leaves them at zero (plus bias).
#include "ops/conv.h"

#include <string>

#include "core/autocast.h"
#include "dlcore/autograd.h"
#include "dlcore/ops.h"

namespace dlcore {

DL_DEFINE_KERNEL(conv_forward_kernel);
DL_DEFINE_KERNEL(conv_backward_input_kernel);
DL_DEFINE_KERNEL(conv_backward_weight_kernel);

namespace {

std::string op_name(int64_t spatial, bool transposed) {
  return str_cat(transposed ? "conv_transpose" : "conv", spatial, "d");
}

// One value per spatial dim from an int (one entry) or a tuple of `spatial` entries.
std::array<int64_t, 3> expand_arg(const std::string& op, const char* arg, const Shape& v, int64_t spatial,
                                  int64_t fill) {
  DL_CHECK(v.size() == 1 || static_cast<int64_t>(v.size()) == spatial, ValueError, op, ": ", arg,
           " must be an int or a tuple of ", spatial, " ints, got ", shape_str(v));
  std::array<int64_t, 3> out{fill, fill, fill};
  for (int64_t i = 0; i < spatial; ++i) out[3 - spatial + i] = v.size() == 1 ? v[0] : v[i];
  return out;
}

// Shared checks of input, weight and bias; returns the input with a batch dim.
Tensor check_operands(const std::string& op, int64_t spatial, const Tensor& x, const Tensor& w,
                      const Tensor& bias, int64_t groups, bool transposed) {
  DL_CHECK(x && w, ValueError, op, ": input and weight are required");
  const std::string shapes = str_cat(" (input ", shape_str(x->shape()), ", weight ", shape_str(w->shape()), ")");
  DL_CHECK(x->dim() == spatial + 2 || x->dim() == spatial + 1, ValueError, op, ": expected a ", spatial + 1,
           "-d (unbatched) or ", spatial + 2, "-d (batched) input, got shape ", shape_str(x->shape()));
  DL_CHECK(w->dim() == spatial + 2, ValueError, op, ": expected a ", spatial + 2, "-d weight, got shape ",
           shape_str(w->shape()));
  DL_CHECK(is_floating(x->dtype()) && (is_cpu_compute_type(x->dtype()) || !x->device().is_cpu()), TypeError, op,
           ": expected a float32 or float64 input", x->device().is_cpu() ? " on CPU" : "", ", got ", x->describe());
  DL_CHECK(w->dtype() == x->dtype(), TypeError, op, ": input and weight must have the same dtype, got ",
           x->describe(), " and ", w->describe());
  check_same_device(op.c_str(), x, w);
  DL_CHECK(groups > 0, ValueError, op, ": groups must be positive, got ", groups);
  const int64_t cin = x->size(x->dim() - spatial - 1);
  const int64_t cout = transposed ? w->size(1) * groups : w->size(0);
  if (transposed) {
    DL_CHECK(w->size(0) == cin, ValueError, op, ": weight has ", w->size(0), " input channels but input has ", cin,
             shapes);
    DL_CHECK(cin % groups == 0, ValueError, op, ": groups=", groups, " does not divide the ", cin,
             " input channels", shapes);
  } else {
    DL_CHECK(cin % groups == 0, ValueError, op, ": groups=", groups, " does not divide the ", cin,
             " input channels", shapes);
    DL_CHECK(w->size(0) % groups == 0, ValueError, op, ": groups=", groups, " does not divide the ", w->size(0),
             " output channels", shapes);
    DL_CHECK(w->size(1) * groups == cin, ValueError, op, ": weight has ", w->size(1), " input channels but input has ",
             cin, groups > 1 ? str_cat(" (", cin / groups, " per group, groups=", groups, ")") : std::string(), shapes);
  }
  if (bias) {
    DL_CHECK(bias->dim() == 1 && bias->size(0) == cout, ValueError, op, ": expected a bias of shape [", cout,
             "], got ", shape_str(bias->shape()), shapes);
    DL_CHECK(bias->dtype() == x->dtype(), TypeError, op, ": bias must have the input's dtype, got ",
             bias->describe(), " and ", x->describe());
    check_same_device(op.c_str(), x, bias);
  }
  return x->dim() == spatial + 1 ? unsqueeze(x, 0) : x;
}

// A contiguous (N, C, D, H, W) view of a batched tensor with `spatial` dims.
Tensor as_5d(const Tensor& t, int64_t spatial) {
  Tensor c = contiguous(t);
  Shape s(c->shape().begin(), c->shape().begin() + 2);
  for (int64_t i = spatial; i < 3; ++i) s.push_back(1);
  for (int64_t i = 2; i < c->dim(); ++i) s.push_back(c->size(i));
  return reshape(c, s);
}

Tensor grad_of(const Tensor& g, const Tensor& like, int64_t spatial) {
  return as_5d(g->dtype() == like->dtype() ? g : to_dtype(g, like->dtype()), spatial);
}

// Note [Convolution backward node]
// One node per convolution computes the grads of input, weight and bias with the dedicated
// kernels, only those that are needed. It saves the input and the weight. The grads it returns
// have no history, so double backward through a convolution raises (check_no_double_backward).
void record_conv(const char* node, int64_t spatial, bool transposed, const ConvParams& p, const Tensor& x,
                 const Tensor& w, const Tensor& bias, const Tensor& y) {
  SavedTensor sx(x, false), sw(w, false);
  record(node, {x, w, bias}, {y}, [sx, sw, p, spatial, transposed](const std::vector<Tensor>& g, const Node& n) {
    check_no_double_backward(n);
    Tensor x = sx.unpack(n), w = sw.unpack(n);
    Tensor gy = grad_of(g[0], x, spatial);
    Tensor x5 = as_5d(x, spatial), w5 = contiguous(w);
    std::vector<Tensor> out(3);
    if (n.needs_input_grad(0)) {
      Tensor gx = empty(x->shape(), x->dtype(), x->device());
      if (transposed) conv_forward_kernel[x->device()](p, gx, gy, w5, Tensor());
      else conv_backward_input_kernel[x->device()](p, gx, gy, w5);
      out[0] = gx;
    }
    const bool need_w = n.needs_input_grad(1), need_b = n.needs_input_grad(2);
    if (need_w || need_b) {
      Tensor gw = need_w ? empty(w->shape(), w->dtype(), w->device()) : Tensor();
      Tensor gb = need_b ? empty({transposed ? p.c : p.k}, w->dtype(), w->device()) : Tensor();
      if (transposed) {
        // conv's weight grad with the roles swapped (Note [Transposed convolution]); the bias
        // grad sums the incoming grad, which is conv's input here.
        if (need_w) conv_backward_weight_kernel[x->device()](p, gw, Tensor(), x5, gy);
        if (need_b) {
          Shape dims{0};
          for (int64_t i = 2; i < 5; ++i) dims.push_back(i);
          gb = sum(gy, dims);
        }
      } else {
        conv_backward_weight_kernel[x->device()](p, gw, gb, gy, x5);
      }
      out[1] = gw;
      out[2] = gb;
    }
    return out;
  });
}

// Note [Empty convolutions]
// With no batch, no input or output channels or no output positions there is nothing for a
// kernel to do (and the kernels' per-group arithmetic divides by the channel counts): the
// output is the bias broadcast over zeros (an empty sum is 0), the grads of input and weight
// are zeros, and the bias gets the sum of the incoming grad through the add's own backward.
bool conv_is_empty(const ConvParams& p) {
  return p.n == 0 || p.c == 0 || p.k == 0 || p.in_numel() == 0 || p.out_numel() == 0;
}

Tensor empty_conv(int64_t spatial, const Tensor& x, const Tensor& w, const Tensor& bias, const Shape& out_shape) {
  Tensor y = zeros(out_shape, x->dtype(), x->device());
  record_zero_grads("ConvolutionBackward", {x, w}, {y});
  if (!bias) return y;
  Shape bshape{bias->size(0)};
  for (int64_t i = 0; i < spatial; ++i) bshape.push_back(1);
  return add(y, reshape(bias, bshape));
}

// Output size along one dim, in 128 bits since padding, stride and dilation are any int64.
int64_t checked_extent(__int128 v, const std::string& op, const char* what, const Shape& in_shape) {
  DL_CHECK(v <= (__int128(1) << 62), RuntimeError, op, ": the ", what, " size overflows (input ",
           shape_str(in_shape), ")");
  return static_cast<int64_t>(v);
}

// After the output size is known: a stride along a dim with one output position and a
// dilation along a dim with a one-tap kernel change nothing, so they become 1 (the kernels'
// index arithmetic multiplies them by extents); and the zero-padded input, which the kernels
// may materialise, must have a size that fits (Note [Checked sizes]).
void settle_geometry(ConvParams& p, const std::string& op, size_t itemsize) {
  Shape padded{p.n, p.c};
  for (int d = 0; d < 3; ++d) {
    if (p.out[d] == 1) p.stride[d] = 1;
    if (p.kernel[d] == 1) p.dilation[d] = 1;
    padded.push_back(checked_add(p.in[d], checked_mul(2, p.pad[d], op.c_str(), padded), op.c_str(), padded));
  }
  check_shape(padded, (op + " (zero-padded input)").c_str(), itemsize);
}

// The result's batched shape (N, channels, spatial...), checked; settles the geometry.
Shape result_shape(ConvParams& p, int64_t channels, const Shape& out_spatial, const std::string& op,
                   size_t itemsize) {
  Shape batched{p.n, channels};
  batched.insert(batched.end(), out_spatial.begin(), out_spatial.end());
  check_shape(batched, op.c_str(), itemsize);
  settle_geometry(p, op, itemsize);
  return batched;
}

}  // namespace

Tensor conv_nd(int64_t spatial, const Tensor& x_in, const Tensor& w, const Tensor& bias, const Shape& stride,
               const Shape& padding, const std::string& padding_mode, const Shape& dilation, int64_t groups) {
  DL_AUTOCAST(conv_nd(spatial, autocast::lower(x_in), autocast::lower(w), autocast::lower(bias), stride, padding,
                      padding_mode, dilation, groups));
  const std::string op = op_name(spatial, false);
  Tensor x = check_operands(op, spatial, x_in, w, bias, groups, false);
  const std::string shapes = str_cat(" (input ", shape_str(x_in->shape()), ", weight ", shape_str(w->shape()), ")");
  ConvParams p;
  p.n = x->size(0), p.c = x->size(1), p.k = w->size(0), p.groups = groups;
  p.stride = expand_arg(op, "stride", stride, spatial, 1);
  p.dilation = expand_arg(op, "dilation", dilation, spatial, 1);
  DL_CHECK(padding_mode.empty() || padding_mode == "same" || padding_mode == "valid", ValueError, op,
           ": padding must be an int, a tuple, 'same' or 'valid', got '", padding_mode, "'");
  p.pad = padding_mode.empty() ? expand_arg(op, "padding", padding, spatial, 0) : std::array<int64_t, 3>{};
  Shape out_spatial;
  for (int d = 0; d < 3; ++d) {
    const bool real = d >= 3 - spatial;
    p.in[d] = real ? x->size(d + 2 - (3 - spatial)) : 1;
    p.kernel[d] = real ? w->size(d + 2 - (3 - spatial)) : 1;
    DL_CHECK(p.stride[d] > 0, ValueError, op, ": stride must be positive, got ", shape_str(stride));
    DL_CHECK(p.dilation[d] > 0, ValueError, op, ": dilation must be positive, got ", shape_str(dilation));
    DL_CHECK(p.pad[d] >= 0, ValueError, op, ": padding must be non-negative, got ", shape_str(padding));
    DL_CHECK(p.kernel[d] > 0, ValueError, op, ": kernel size must be positive, got weight ", shape_str(w->shape()));
    const int64_t span = checked_extent(__int128(p.dilation[d]) * (p.kernel[d] - 1) + 1, op, "dilated kernel",
                                        x_in->shape());
    const int64_t padded = checked_extent(__int128(p.in[d]) + 2 * __int128(p.pad[d]), op, "padded input",
                                          x_in->shape());
    if (padding_mode == "same") {
      DL_CHECK(p.stride[d] == 1, ValueError, op, ": padding='same' needs stride 1, got stride ", shape_str(stride));
      p.pad[d] = (span - 1) / 2;  // the extra odd pad goes on the right, as in PyTorch
      p.out[d] = p.in[d];
    } else {
      DL_CHECK(padded >= span, ValueError, op, ": kernel size ", p.kernel[d], " (dilated: ", span,
               ") is larger than the padded input size ", padded, " in spatial dim ", d - (3 - spatial), shapes);
      p.out[d] = (padded - span) / p.stride[d] + 1;
    }
    if (real) out_spatial.push_back(p.out[d]);
  }
  const Shape batched = result_shape(p, p.k, out_spatial, op, x->itemsize());
  if (conv_is_empty(p)) {
    Tensor y_out = empty_conv(spatial, x, w, bias, batched);
    return x_in->dim() == spatial + 1 ? squeeze(y_out, 0) : y_out;
  }
  Tensor y = empty({p.n, p.k, p.out[0], p.out[1], p.out[2]}, x->dtype(), x->device());
  Tensor x5 = as_5d(x, spatial), w5 = contiguous(w);
  Tensor b = bias ? contiguous(bias) : Tensor();
  conv_forward_kernel[x->device()](p, y, x5, w5, b);
  Tensor y_out = reshape(y, batched);
  if (any_requires_grad({&x, &w, &bias})) record_conv("ConvolutionBackward", spatial, false, p, x, w, bias, y_out);
  return x_in->dim() == spatial + 1 ? squeeze(y_out, 0) : y_out;
}

Tensor conv_transpose_nd(int64_t spatial, const Tensor& x_in, const Tensor& w, const Tensor& bias,
                         const Shape& stride, const Shape& padding, const Shape& output_padding, int64_t groups,
                         const Shape& dilation) {
  DL_AUTOCAST(conv_transpose_nd(spatial, autocast::lower(x_in), autocast::lower(w), autocast::lower(bias), stride,
                                padding, output_padding, groups, dilation));
  const std::string op = op_name(spatial, true);
  Tensor x = check_operands(op, spatial, x_in, w, bias, groups, true);
  // The forward convolution whose adjoint this is: K = C_in, C = C_out.
  ConvParams p;
  p.n = x->size(0), p.k = x->size(1), p.c = w->size(1) * groups, p.groups = groups;
  p.stride = expand_arg(op, "stride", stride, spatial, 1);
  p.dilation = expand_arg(op, "dilation", dilation, spatial, 1);
  p.pad = expand_arg(op, "padding", padding, spatial, 0);
  std::array<int64_t, 3> opad = expand_arg(op, "output_padding", output_padding, spatial, 0);
  Shape out_spatial;
  for (int d = 0; d < 3; ++d) {
    const bool real = d >= 3 - spatial;
    p.out[d] = real ? x->size(d + 2 - (3 - spatial)) : 1;
    p.kernel[d] = real ? w->size(d + 2 - (3 - spatial)) : 1;
    DL_CHECK(p.stride[d] > 0, ValueError, op, ": stride must be positive, got ", shape_str(stride));
    DL_CHECK(p.dilation[d] > 0, ValueError, op, ": dilation must be positive, got ", shape_str(dilation));
    DL_CHECK(p.pad[d] >= 0, ValueError, op, ": padding must be non-negative, got ", shape_str(padding));
    DL_CHECK(opad[d] >= 0 && (opad[d] < p.stride[d] || opad[d] < p.dilation[d]), ValueError, op,
             ": output_padding must be smaller than either stride or dilation, got output_padding ",
             shape_str(output_padding), ", stride ", shape_str(stride), ", dilation ", shape_str(dilation));
    DL_CHECK(p.kernel[d] > 0, ValueError, op, ": kernel size must be positive, got weight ", shape_str(w->shape()));
    p.in[d] = checked_extent((__int128(p.out[d]) - 1) * p.stride[d] - 2 * __int128(p.pad[d]) +
                                 __int128(p.dilation[d]) * (p.kernel[d] - 1) + opad[d] + 1,
                             op, "output", x_in->shape());
    DL_CHECK(p.in[d] > 0, ValueError, op, ": padding ", shape_str(padding), " is too large: the output size would be ",
             p.in[d], " (input ", shape_str(x_in->shape()), ", weight ", shape_str(w->shape()), ")");
    if (real) out_spatial.push_back(p.in[d]);
  }
  const Shape batched = result_shape(p, p.c, out_spatial, op, x->itemsize());
  if (conv_is_empty(p)) {
    Tensor y_out = empty_conv(spatial, x, w, bias, batched);
    return x_in->dim() == spatial + 1 ? squeeze(y_out, 0) : y_out;
  }
  Tensor y = empty({p.n, p.c, p.in[0], p.in[1], p.in[2]}, x->dtype(), x->device());
  Tensor x5 = as_5d(x, spatial), w5 = contiguous(w);
  conv_backward_input_kernel[x->device()](p, y, x5, w5);
  Tensor y_out = reshape(y, batched);
  if (bias) {
    Shape bshape{p.c};
    for (int64_t i = 0; i < spatial; ++i) bshape.push_back(1);
    GradModeGuard no_grad(false);
    y_out = add(y_out, reshape(bias, bshape));
  }
  if (any_requires_grad({&x, &w, &bias})) record_conv("ConvolutionBackward", spatial, true, p, x, w, bias, y_out);
  return x_in->dim() == spatial + 1 ? squeeze(y_out, 0) : y_out;
}

DL_REGISTER_OPS({"conv1d", "conv", true}, {"conv2d", "conv", true}, {"conv3d", "conv", true},
                {"conv_transpose1d", "conv", true}, {"conv_transpose2d", "conv", true},
                {"conv_transpose3d", "conv", true});

}  // namespace dlcore
