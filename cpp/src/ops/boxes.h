// Box ops (torchvision.ops semantics): the element-wise IoU family with its analytic backward,
// and greedy non-maximum suppression (nms, batched_nms). Kernel slots (cpu/boxes.cpp,
// cuda/boxes.cu), the C++ ops (ops/boxes.cpp) and the scalar formulas both devices share.
//
// Note [Box IoU formulas]
// Boxes are (x1, y1, x2, y2). For boxes a and b, with w = x2 - x1, h = y2 - y1:
//   inter = iw * ih, iw = min(a.x2, b.x2) - max(a.x1, b.x1) clamped at 0 (likewise ih),
//   union = (area_a + area_b) - inter,   iou = inter / (union + ue),
//   giou  = iou - (C - union) / (C + ue),  C the area of the smallest enclosing box (cw * ch),
//   diou  = iou - rho2 / ((cw^2 + ch^2) + eps),  rho2 the squared distance of the centres,
//   ciou  = diou - alpha * v,  v = 4 / pi^2 * (atan(w_a / h_a) - atan(w_b / h_b))^2,
//           alpha = v / (((1 - iou) + v) + eps), a constant for the gradient.
// Two forms, as torchvision writes them:
//   pairwise (box_iou, generalized_box_iou, distance_box_iou, complete_box_iou):
//     ue = 0; iw, ih and the enclosure's cw, ch are clamp(min=0)'d;
//   loss (*_box_iou_loss): ue = eps; the intersection is iw * ih only where both are > 0 (else
//     0), the enclosure is not clamped.
// The backward follows torch autograd of those formulas: max/min split a tie's gradient in
// halves, clamp(min=0) passes the gradient where its input is >= 0, the loss form's mask only
// where both sides are > 0. The one deliberate difference: d atan(w / h) is taken as
// (h dw - w dh) / (w^2 + h^2), finite at h = 0 (w != 0), where torch's chain rule through
// w / h gives NaN. Products that feed a sum are rounded on their own on the GPU as on the CPU
// (no fused multiply-add), so both devices compute the same values.
//
// Note [NMS semantics]
// Greedy: boxes are visited by decreasing score (a stable order: equal scores keep the lower
// index first; NaN scores first, as torch.sort(descending=True) puts them); a visited box that
// is not suppressed is kept and suppresses every later box j with IoU(i, j) > iou_threshold
// (strictly; batched_nms: only boxes of the same idx). IoU(i, j) is the pairwise formula above
// computed in the boxes' dtype (float32 for float16/bfloat16 boxes, which convert exactly),
// with NaN propagating through max/min as numpy's maximum does, and compared with the
// threshold in double precision. A NaN IoU (a NaN coordinate, or two zero-area boxes on the
// same point: 0 / 0) never suppresses. The result is the kept boxes' indices (int64), in the
// visiting order. Boxes with x2 < x1 or y2 < y1 raise ValueError naming the first such index.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "dlcore/dispatch.h"
#include "dlcore/ops.h"
#include "dlcore/philox.h"  // DL_HOST_DEVICE

namespace dlcore {

enum BoxIouKind : int { kBoxIoU = 0, kBoxGIoU = 1, kBoxDIoU = 2, kBoxCIoU = 3 };

struct BoxIouParams {
  int kind = kBoxIoU;
  double eps = 0.0;        // diou/ciou's eps; the loss form's union/enclosure eps
  bool loss_form = false;  // Note [Box IoU formulas]
};

// out: contiguous L; a, b: (L..., 4) views (broadcast dims have stride 0), out's dtype
// (float32 or float64). out[i] = the IoU-family value of boxes a[i] and b[i].
DL_DECLARE_KERNEL(box_iou_elementwise_kernel,
                  void (*)(const Tensor& out, const Tensor& a, const Tensor& b, BoxIouParams p));
// grad_a, grad_b: contiguous (L..., 4); grad_out: L (any strides); a, b as in the forward.
DL_DECLARE_KERNEL(box_iou_elementwise_backward_kernel,
                  void (*)(const Tensor& grad_a, const Tensor& grad_b, const Tensor& grad_out, const Tensor& a,
                           const Tensor& b, BoxIouParams p));
// boxes: contiguous (N, 4) float32/float64; scores: contiguous (N,) float32/float64; idxs:
// contiguous int64 (N,) for batched_nms, else null. Returns the kept indices (int64, on the
// boxes' device) in the order of Note [NMS semantics]; raises ValueError (the message of
// nms_inverted_box_message) for an inverted box. `op` names the caller in errors.
DL_DECLARE_KERNEL(nms_kernel, Tensor (*)(const Tensor& boxes, const Tensor& scores, const Tensor& idxs,
                                         double iou_threshold, const char* op));

std::string nms_inverted_box_message(const char* op, int64_t index, double x1, double y1, double x2, double y2);

// kind: "iou", "giou", "diou" or "ciou". a and b are (..., 4) with broadcastable leading dims;
// float16/bfloat16 and integer boxes compute in float32, a float64 operand makes it float64.
// `name` names the caller in error messages.
Tensor box_iou_elementwise(const Tensor& a, const Tensor& b, const std::string& kind, double eps = 1e-7,
                           bool loss_form = false, const std::string& name = "box_iou_elementwise");
Tensor nms(const Tensor& boxes, const Tensor& scores, double iou_threshold);
Tensor batched_nms(const Tensor& boxes, const Tensor& scores, const Tensor& idxs, double iou_threshold);

// The (L...) view of coordinate 0 of an (L..., 4) view: a kernel reads coordinate k at
// element offset k * t->strides().back() from it.
inline Tensor box_coord0(const Tensor& t) {
  const Shape shape(t->shape().begin(), t->shape().end() - 1);
  const Shape strides(t->strides().begin(), t->strides().end() - 1);
  return make_view(t, shape, strides, t->offset(), "box_iou_elementwise");
}

namespace boxes_detail {

// A product rounded on its own: on the GPU it is never fused into a following add.
template <typename T>
DL_HOST_DEVICE static inline T mul_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    return __fmul_rn(a, b);
  } else {
    return __dmul_rn(a, b);
  }
#else
  return a * b;
#endif
}

// max/min/clamp(min=0) that propagate NaN (torch.maximum, numpy.maximum).
template <typename T>
DL_HOST_DEVICE static inline T pmax(T a, T b) {
  return (a != a || a > b) ? a : b;
}
template <typename T>
DL_HOST_DEVICE static inline T pmin(T a, T b) {
  return (a != a || a < b) ? a : b;
}
template <typename T>
DL_HOST_DEVICE static inline T clamp0(T a) {
  return (a != a || a > T(0)) ? a : T(0);
}

template <typename T>
DL_HOST_DEVICE static inline T atan_(T x) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    return ::atanf(x);
  } else {
    return ::atan(x);
  }
#else
  return std::atan(x);
#endif
}

constexpr double kFourOverPiSq = 0.40528473456935108578;  // 4 / pi^2

// The pairwise IoU that NMS compares (Note [NMS semantics]); i is the kept box, j the candidate.
template <typename T>
DL_HOST_DEVICE static inline T nms_iou(T ix1, T iy1, T ix2, T iy2, T iarea, T jx1, T jy1, T jx2, T jy2, T jarea) {
  const T w = clamp0(pmin(ix2, jx2) - pmax(ix1, jx1));
  const T h = clamp0(pmin(iy2, jy2) - pmax(iy1, jy1));
  const T inter = mul_rn(w, h);
  return inter / ((iarea + jarea) - inter);
}

// Every intermediate of Note [Box IoU formulas] for one pair, kept for the backward.
template <typename T>
struct BoxIouTerms {
  T a[4], b[4];
  T wa, ha, wb, hb, area_a, area_b;
  T iw_raw, ih_raw, iw, ih, inter, uni, U, iou;
  T cw_raw = 0, ch_raw = 0, cw = 0, ch = 0;
  T C = 0, CU = 0;
  T dx = 0, dy = 0, rho2 = 0, D = 0;
  T dat = 0, v = 0, alpha = 0;
  T value;

  // The two boxes' coordinates, each 4 elements `stride_a` / `stride_b` apart.
  DL_HOST_DEVICE void load(const T* pa, int64_t stride_a, const T* pb, int64_t stride_b) {
    for (int k = 0; k < 4; ++k) {
      a[k] = pa[k * stride_a];
      b[k] = pb[k * stride_b];
    }
  }

  DL_HOST_DEVICE void compute(int kind, T eps, bool loss) {
    wa = a[2] - a[0];
    ha = a[3] - a[1];
    wb = b[2] - b[0];
    hb = b[3] - b[1];
    area_a = mul_rn(wa, ha);
    area_b = mul_rn(wb, hb);
    iw_raw = pmin(a[2], b[2]) - pmax(a[0], b[0]);
    ih_raw = pmin(a[3], b[3]) - pmax(a[1], b[1]);
    if (loss) {
      const bool m = iw_raw > T(0) && ih_raw > T(0);
      iw = m ? iw_raw : T(0);
      ih = m ? ih_raw : T(0);
    } else {
      iw = clamp0(iw_raw);
      ih = clamp0(ih_raw);
    }
    inter = mul_rn(iw, ih);
    uni = (area_a + area_b) - inter;
    U = loss ? uni + eps : uni;
    iou = inter / U;
    value = iou;
    if (kind == kBoxIoU) return;
    cw_raw = pmax(a[2], b[2]) - pmin(a[0], b[0]);
    ch_raw = pmax(a[3], b[3]) - pmin(a[1], b[1]);
    cw = loss ? cw_raw : clamp0(cw_raw);
    ch = loss ? ch_raw : clamp0(ch_raw);
    if (kind == kBoxGIoU) {
      C = mul_rn(cw, ch);
      CU = loss ? C + eps : C;
      value = iou - (C - uni) / CU;
      return;
    }
    D = (mul_rn(cw, cw) + mul_rn(ch, ch)) + eps;
    dx = (a[0] + a[2]) / T(2) - (b[0] + b[2]) / T(2);
    dy = (a[1] + a[3]) / T(2) - (b[1] + b[3]) / T(2);
    rho2 = mul_rn(dx, dx) + mul_rn(dy, dy);
    value = iou - rho2 / D;
    if (kind == kBoxDIoU) return;
    dat = atan_(wa / ha) - atan_(wb / hb);
    v = mul_rn(T(kFourOverPiSq), mul_rn(dat, dat));
    alpha = v / (((T(1) - iou) + v) + eps);
    value = value - mul_rn(alpha, v);
  }

  // d min(x, y): torch.minimum's backward (a tie gives each side half).
  DL_HOST_DEVICE static void split_min(T x, T y, T g, T& gx, T& gy) {
    const T half = g / T(2);
    gx += x == y ? half : (x > y ? T(0) : g);
    gy += x == y ? half : (x < y ? T(0) : g);
  }
  DL_HOST_DEVICE static void split_max(T x, T y, T g, T& gx, T& gy) {
    const T half = g / T(2);
    gx += x == y ? half : (x < y ? T(0) : g);
    gy += x == y ? half : (x > y ? T(0) : g);
  }

  // ga, gb = d(g * value) / d(a, b), after compute(kind, eps, loss).
  DL_HOST_DEVICE void backward(T g, int kind, bool loss, T* ga, T* gb) const {
    for (int k = 0; k < 4; ++k) ga[k] = gb[k] = T(0);
    T g_uni = 0, g_inter = 0, g_wa = 0, g_ha = 0, g_wb = 0, g_hb = 0, g_cw = 0, g_ch = 0, g_dx = 0, g_dy = 0;
    if (kind == kBoxCIoU) {  // value -= alpha * v, alpha constant
      const T g_dat = -g * alpha * T(kFourOverPiSq) * T(2) * dat;
      const T ra = wa * wa + ha * ha, rb = wb * wb + hb * hb;
      g_wa += g_dat * ha / ra;
      g_ha -= g_dat * wa / ra;
      g_wb -= g_dat * hb / rb;
      g_hb += g_dat * wb / rb;
    }
    if (kind == kBoxDIoU || kind == kBoxCIoU) {  // value = iou - rho2 / D
      const T g_rho2 = -g / D, g_D = g * rho2 / (D * D);
      g_cw += g_D * T(2) * cw;
      g_ch += g_D * T(2) * ch;
      g_dx = g_rho2 * T(2) * dx;
      g_dy = g_rho2 * T(2) * dy;
    }
    if (kind == kBoxGIoU) {  // value = iou - (C - union) / CU
      g_uni += g / CU;
      const T g_C = -g * ((CU - C) + uni) / (CU * CU);
      g_cw += g_C * ch;
      g_ch += g_C * cw;
    }
    // iou = inter / U, U = union (+ eps); union = area_a + area_b - inter
    g_inter += g / U;
    g_uni -= g * iou / U;
    g_inter -= g_uni;
    g_wa += g_uni * ha;
    g_ha += g_uni * wa;
    g_wb += g_uni * hb;
    g_hb += g_uni * wb;
    T g_iw, g_ih;
    if (loss) {
      const bool m = iw_raw > T(0) && ih_raw > T(0);
      g_iw = m ? g_inter * ih_raw : T(0);
      g_ih = m ? g_inter * iw_raw : T(0);
    } else {
      g_iw = iw_raw >= T(0) ? g_inter * ih : T(0);
      g_ih = ih_raw >= T(0) ? g_inter * iw : T(0);
    }
    split_min(a[2], b[2], g_iw, ga[2], gb[2]);
    split_max(a[0], b[0], -g_iw, ga[0], gb[0]);
    split_min(a[3], b[3], g_ih, ga[3], gb[3]);
    split_max(a[1], b[1], -g_ih, ga[1], gb[1]);
    if (kind != kBoxIoU) {
      const T g_cwr = loss || cw_raw >= T(0) ? g_cw : T(0);
      const T g_chr = loss || ch_raw >= T(0) ? g_ch : T(0);
      split_max(a[2], b[2], g_cwr, ga[2], gb[2]);
      split_min(a[0], b[0], -g_cwr, ga[0], gb[0]);
      split_max(a[3], b[3], g_chr, ga[3], gb[3]);
      split_min(a[1], b[1], -g_chr, ga[1], gb[1]);
    }
    ga[2] += g_wa;
    ga[0] -= g_wa;
    ga[3] += g_ha;
    ga[1] -= g_ha;
    gb[2] += g_wb;
    gb[0] -= g_wb;
    gb[3] += g_hb;
    gb[1] -= g_hb;
    // centres: dx = (a0 + a2) / 2 - (b0 + b2) / 2
    ga[0] += g_dx / T(2);
    ga[2] += g_dx / T(2);
    gb[0] -= g_dx / T(2);
    gb[2] -= g_dx / T(2);
    ga[1] += g_dy / T(2);
    ga[3] += g_dy / T(2);
    gb[1] -= g_dy / T(2);
    gb[3] -= g_dy / T(2);
  }
};

}  // namespace boxes_detail
}  // namespace dlcore
