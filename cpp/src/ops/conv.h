// Convolution family: conv1d/2d/3d and conv_transpose1d/2d/3d (ops/conv.cpp), kernels in
// cpu/conv.cpp.
//
// Note [Convolution geometry]
// Every convolution is handled as a 3-d one: conv1d (N, C, L) is (N, C, 1, 1, L) and conv2d
// (N, C, H, W) is (N, C, 1, H, W), with kernel size 1, stride 1, padding 0 and dilation 1 in
// the added dims. ConvParams always describes the *forward convolution* x -> y:
//     y[n, k, o] = sum_{c in group(k), t} w[k, c - c0, t] * x[n, c, o * stride - pad + t * dilation]
// with x (N, C, D, H, W), w (K, C / groups, KD, KH, KW), y (N, K, OD, OH, OW), all contiguous.
// A transposed convolution is the adjoint of this map (Note [Transposed convolution] in
// ops/conv.cpp), so the three kernels below serve both op families:
//   conv_forward_kernel          y  = conv(x, w) (+ bias)
//   conv_backward_input_kernel   gx = conv^T(gy, w)            (the adjoint in x; x is not read)
//   conv_backward_weight_kernel  gw = d<gy, conv(x, w)>/dw, and gb = sum of gy over n and o
#pragma once

#include <array>

#include "dlcore/dispatch.h"

namespace dlcore {

struct ConvParams {
  int64_t n = 0, c = 0, k = 0, groups = 1;
  std::array<int64_t, 3> in{}, out{}, kernel{}, stride{}, pad{}, dilation{};
  int64_t in_numel() const { return in[0] * in[1] * in[2]; }      // per channel
  int64_t out_numel() const { return out[0] * out[1] * out[2]; }  // per channel
  int64_t kernel_numel() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// y: (N, K, out); bias: (K) or null.
DL_DECLARE_KERNEL(conv_forward_kernel, void (*)(const ConvParams& p, const Tensor& y, const Tensor& x,
                                                const Tensor& w, const Tensor& bias));
// gx: (N, C, in), written (not accumulated).
DL_DECLARE_KERNEL(conv_backward_input_kernel, void (*)(const ConvParams& p, const Tensor& gx, const Tensor& gy,
                                                       const Tensor& w));
// gw: (K, C / groups, kernel) or null; gb: (K) or null. Both written (not accumulated).
DL_DECLARE_KERNEL(conv_backward_weight_kernel, void (*)(const ConvParams& p, const Tensor& gw, const Tensor& gb,
                                                        const Tensor& gy, const Tensor& x));

// The ops (PyTorch's torch.nn.functional semantics). `padding_mode` is "" for numeric
// padding, or "same" / "valid" (conv only). Sizes have one entry per spatial dim, or one
// entry meaning "all dims".
Tensor conv_nd(int64_t spatial, const Tensor& x, const Tensor& w, const Tensor& bias, const Shape& stride,
               const Shape& padding, const std::string& padding_mode, const Shape& dilation, int64_t groups);
Tensor conv_transpose_nd(int64_t spatial, const Tensor& x, const Tensor& w, const Tensor& bias, const Shape& stride,
                         const Shape& padding, const Shape& output_padding, int64_t groups, const Shape& dilation);

}  // namespace dlcore
