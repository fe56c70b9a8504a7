// Box ops: argument checks, dtype handling, dispatch and autograd of the element-wise IoU
// family (Note [Box IoU formulas] in ops/boxes.h) and of nms / batched_nms (Note [NMS
// semantics]). The pairwise and loss functions of dlcore.ops are Python over
// box_iou_elementwise.
#include "ops/boxes.h"

#include "dlcore/autograd.h"

namespace dlcore {

DL_DEFINE_KERNEL(box_iou_elementwise_kernel);
DL_DEFINE_KERNEL(box_iou_elementwise_backward_kernel);
DL_DEFINE_KERNEL(nms_kernel);

std::string nms_inverted_box_message(const char* op, int64_t index, double x1, double y1, double x2, double y2) {
  return str_cat(op, ": boxes must be (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, but box ", index, " is [", x1,
                 ", ", y1, ", ", x2, ", ", y2, "]");
}

namespace {

int parse_kind(const std::string& kind, const char* op) {
  if (kind == "iou") return kBoxIoU;
  if (kind == "giou") return kBoxGIoU;
  if (kind == "diou") return kBoxDIoU;
  if (kind == "ciou") return kBoxCIoU;
  throw ValueError(str_cat(op, ": kind must be 'iou', 'giou', 'diou' or 'ciou', got '", kind, "'"));
}

void check_boxes_arg(const Tensor& t, const char* op, const char* arg) {
  DL_CHECK(t != nullptr, ValueError, op, ": ", arg, " is None");
  DL_CHECK(t->dtype() != DType::Bool, TypeError, op, ": ", arg, " must be a floating point or integer tensor, got ",
           t->describe());
  DL_CHECK(t->dim() >= 1 && t->shape().back() == 4, ValueError, op, ": ", arg,
           " must have shape [..., 4] (x1, y1, x2, y2), got ", shape_str(t->shape()));
}

// float64 when either operand is float64; float32 otherwise (16-bit floats and integers
// compute in float32, as torchvision upcasts them).
DType iou_compute_dtype(DType a, DType b) {
  return a == DType::Float64 || b == DType::Float64 ? DType::Float64 : DType::Float32;
}

Shape leading(const Tensor& t) { return Shape(t->shape().begin(), t->shape().end() - 1); }

Shape with_coords(Shape s) {
  s.push_back(4);
  return s;
}

}  // namespace

Tensor box_iou_elementwise(const Tensor& a, const Tensor& b, const std::string& kind, double eps, bool loss_form,
                           const std::string& name) {
  const char* op = name.c_str();
  check_boxes_arg(a, op, "boxes1");
  check_boxes_arg(b, op, "boxes2");
  check_same_device(op, a, b);
  BoxIouParams p;
  p.kind = parse_kind(kind, op);
  p.eps = eps;
  p.loss_form = loss_form;
  const DType dt = iou_compute_dtype(a->dtype(), b->dtype());
  const Shape L = broadcast_shapes(leading(a), leading(b), op);
  // Casts are differentiable (float16 boxes get float16 gradients back).
  const Tensor ac = to_dtype(a, dt), bc = to_dtype(b, dt);
  Tensor out = empty(L, dt, a->device(), op);
  Tensor ae, be;
  {
    GradModeGuard no_grad(false);
    ae = expand(detach(ac), with_coords(L));
    be = expand(detach(bc), with_coords(L));
  }
  box_iou_elementwise_kernel[a->device()](out, ae, be, p);
  if (any_requires_grad({&ac, &bc})) {
    SavedTensor sa(ac, false), sb(bc, false);
    record("BoxIouElementwiseBackward", {ac, bc}, {out},
           [sa, sb, L, p, dt](const std::vector<Tensor>& g, const Node& n) {
      check_no_double_backward(n);  // the kernel's gradients carry no history
      if (!g[0]) return std::vector<Tensor>(2);
      Tensor ae, be, gout;
      {
        GradModeGuard no_grad(false);
        ae = expand(detach(sa.unpack(n)), with_coords(L));
        be = expand(detach(sb.unpack(n)), with_coords(L));
        gout = to_dtype(g[0], dt);
      }
      // Gradients of the broadcast shape; the engine sums them down to each input's shape.
      Tensor ga = empty(with_coords(L), dt, ae->device(), "box_iou_elementwise_backward");
      Tensor gb = empty(with_coords(L), dt, ae->device(), "box_iou_elementwise_backward");
      box_iou_elementwise_backward_kernel[ae->device()](ga, gb, gout, ae, be, p);
      std::vector<Tensor> out(2);
      if (n.needs_input_grad(0)) out[0] = ga;
      if (n.needs_input_grad(1)) out[1] = gb;
      return out;
    });
  }
  return out;
}

namespace {

// Boxes and scores as the kernels take them: contiguous, float32 or float64, detached.
Tensor nms_float(const Tensor& t) {
  const DType dt = t->dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  return contiguous(to_dtype(detach(t), dt));
}

Tensor nms_impl(const Tensor& boxes, const Tensor& scores, const Tensor& idxs, double thr, const char* op) {
  DL_CHECK(boxes != nullptr, ValueError, op, ": boxes is None");
  DL_CHECK(scores != nullptr, ValueError, op, ": scores is None");
  DL_CHECK(is_floating(boxes->dtype()), TypeError, op, ": boxes must be a floating point tensor, got ",
           boxes->describe());
  DL_CHECK(is_floating(scores->dtype()), TypeError, op, ": scores must be a floating point tensor, got ",
           scores->describe());
  DL_CHECK(boxes->dim() == 2 && boxes->shape()[1] == 4, ValueError, op,
           ": boxes must have shape [N, 4] (x1, y1, x2, y2), got ", shape_str(boxes->shape()));
  const int64_t N = boxes->shape()[0];
  DL_CHECK(scores->dim() == 1 && scores->shape()[0] == N, ValueError, op, ": scores must have shape [", N,
           "] (one per box of boxes ", shape_str(boxes->shape()), "), got ", shape_str(scores->shape()));
  check_same_device(op, boxes, scores);
  if (idxs) {
    DL_CHECK(is_integral(idxs->dtype(), false), TypeError, op,
             ": idxs must be an integer tensor (int64 or int32), got ", idxs->describe());
    DL_CHECK(idxs->dim() == 1 && idxs->shape()[0] == N, ValueError, op, ": idxs must have shape [", N,
             "] (one per box of boxes ", shape_str(boxes->shape()), "), got ", shape_str(idxs->shape()));
    check_same_device(op, boxes, idxs);
  }
  GradModeGuard no_grad(false);
  const Tensor b = nms_float(boxes), s = nms_float(scores);
  const Tensor i = idxs ? contiguous(to_dtype(detach(idxs), DType::Int64)) : Tensor();
  return nms_kernel[b->device()](b, s, i, thr, op);
}

}  // namespace

Tensor nms(const Tensor& boxes, const Tensor& scores, double iou_threshold) {
  return nms_impl(boxes, scores, Tensor(), iou_threshold, "nms");
}

Tensor batched_nms(const Tensor& boxes, const Tensor& scores, const Tensor& idxs, double iou_threshold) {
  DL_CHECK(idxs != nullptr, ValueError, "batched_nms: idxs is None");
  return nms_impl(boxes, scores, idxs, iou_threshold, "batched_nms");
}

DL_REGISTER_OPS({"box_iou_elementwise", "boxes", true}, {"nms", "boxes", false}, {"batched_nms", "boxes", false});

}  // namespace dlcore
