"""Box ops with torchvision.ops's names and semantics.

Boxes are ``(x1, y1, x2, y2)`` rows (``xyxy``) unless a function says otherwise.

The IoU family is one C++ op, ``box_iou_elementwise``: the value for ``boxes1[..., i]`` and
``boxes2[..., i]`` with broadcast leading dims, with an analytic backward (CPU and CUDA kernels).
The pairwise functions call it on ``boxes1[:, None]`` and ``boxes2[None, :]``; the losses on the
broadcast operands. Formulas (torchvision's), for boxes a and b, ``w = x2 - x1``, ``h = y2 - y1``:

* ``inter = iw * ih``, ``iw = min(a.x2, b.x2) - max(a.x1, b.x1)`` clamped at 0 (same for ``ih``),
  ``union = area_a + area_b - inter``;
* pairwise: ``iou = inter / union``; ``giou = iou - (C - union) / C`` with ``C`` the area of the
  smallest enclosing box; ``diou = iou - rho2 / (diag2 + eps)`` with ``rho2`` the squared distance
  of the centres and ``diag2`` the squared diagonal of the enclosing box; ``ciou = diou - alpha * v``
  with ``v = 4 / pi**2 * (atan(w_a / h_a) - atan(w_b / h_b))**2`` and
  ``alpha = v / (1 - iou + v + eps)``;
* losses: the same with ``iou = inter / (union + eps)`` and the GIoU term ``(C - union) / (C + eps)``,
  returning ``1 - giou``, ``1 - diou`` or ``1 - ciou``; the intersection counts only where both
  ``iw`` and ``ih`` are > 0 and the enclosing box is not clamped (torchvision's loss code).

Gradients are those of torch autograd on these formulas: ``alpha`` is a constant (torchvision
computes it under ``torch.no_grad()``), ties in max/min split the gradient in halves. The backward
is a kernel, so a double backward (``create_graph=True``) raises RuntimeError. Behaviour at
degenerate inputs:

* zero-area boxes: pairwise ``box_iou`` of two zero-area boxes is ``0 / 0 = nan`` (as in
  torchvision); a zero-area box against a box of positive area gives 0; ``generalized_box_iou`` of
  two boxes whose enclosing box has zero area is nan too. The loss forms add ``eps`` to the
  denominators, so they stay finite (``iou = 0``) for zero-area boxes.
* CIoU with ``h = 0``: ``atan(w / 0)`` is ``atan(+inf) = pi / 2`` for ``w > 0`` (finite value),
  and ``atan(0 / 0)`` is nan for a box with ``w = h = 0`` (nan value). The gradient of ``atan(w / h)``
  is taken as ``(h dw - w dh) / (w**2 + h**2)``: finite at ``h = 0`` when ``w > 0`` (where torch's
  chain rule through ``w / h`` gives nan), nan at ``w = h = 0``.
* Touching boxes (``iw == 0`` exactly): pairwise forms pass the clamp's gradient (torch's
  ``clamp(min=0)`` does at 0), the loss forms do not (their mask is ``iw > 0``), as in torchvision.
* nan coordinates propagate to a nan value (and nan gradients).

dtypes: float32 and float64 compute in their own type; float16/bfloat16 and integer boxes compute
in float32 and return float32 (torchvision upcasts them too); a float64 operand makes the result
float64. Gradients of float16 inputs come back as float16.
"""
import dlcore as _dl

_FORMATS = ("xyxy", "xywh", "cxcywh")




def _check_tensor(x, op, arg):
    if not isinstance(x, _dl.Tensor):
        raise TypeError(f"{op}: {arg} must be a dlcore.Tensor, got {type(x).__name__}")


def _check_n4(x, op, arg):
    _check_tensor(x, op, arg)
    if x.dim() != 2 or x.shape[1] != 4:
        raise ValueError(f"{op}: {arg} must have shape [N, 4] (x1, y1, x2, y2), got {list(x.shape)}")


def _check_last4(x, op, arg):
    _check_tensor(x, op, arg)
    if x.dim() < 1 or x.shape[-1] != 4:
        raise ValueError(f"{op}: {arg} must have shape [..., 4], got {list(x.shape)}")


# ---- format conversion and area -------------------------------------------------------------------
def box_convert(boxes, in_fmt, out_fmt):
    """Converts ``boxes`` (``[..., 4]``) from ``in_fmt`` to ``out_fmt``, each one of ``"xyxy"``
    (corners), ``"xywh"`` (top-left corner, width, height) or ``"cxcywh"`` (centre, width, height).
    A composite of tensor ops (differentiable); the same format returns a clone."""
    if in_fmt not in _FORMATS or out_fmt not in _FORMATS:
        raise ValueError(f"box_convert: formats must be one of {_FORMATS}, got in_fmt={in_fmt!r}, out_fmt={out_fmt!r}")
    _check_last4(boxes, "box_convert", "boxes")
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = (boxes[..., k] for k in range(4))
    if in_fmt == "xywh":  # (x, y, w, h) -> corners
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":  # (cx, cy, w, h) -> corners
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    if out_fmt == "xywh":
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return _dl.stack([a, b, c, d], -1)


def box_area(boxes):
    """``(x2 - x1) * (y2 - y1)`` of ``boxes`` ``[..., 4]`` (xyxy): shape ``[...]``. Differentiable."""
    _check_last4(boxes, "box_area", "boxes")
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


# ---- the IoU family -------------------------------------------------------------------------------
def _pairwise(boxes1, boxes2, kind, eps, op):
    _check_n4(boxes1, op, "boxes1")
    _check_n4(boxes2, op, "boxes2")
    return _dl._C._box_iou_elementwise(boxes1.unsqueeze(1), boxes2.unsqueeze(0), kind, eps, False, op)


def box_iou(boxes1, boxes2):
    """Pairwise IoU ``inter / union`` of ``boxes1`` ``[N, 4]`` and ``boxes2`` ``[M, 4]``: ``[N, M]``.
    Two zero-area boxes give nan (0 / 0), as in torchvision."""
    return _pairwise(boxes1, boxes2, "iou", 0.0, "box_iou")


def generalized_box_iou(boxes1, boxes2):
    """Pairwise generalized IoU ``iou - (C - union) / C`` (``C``: the enclosing box's area): ``[N, M]``."""
    return _pairwise(boxes1, boxes2, "giou", 0.0, "generalized_box_iou")


def distance_box_iou(boxes1, boxes2, eps=1e-7):
    """Pairwise distance IoU ``iou - rho2 / (diag2 + eps)``: ``[N, M]``."""
    return _pairwise(boxes1, boxes2, "diou", eps, "distance_box_iou")


def complete_box_iou(boxes1, boxes2, eps=1e-7):
    """Pairwise complete IoU ``diou - alpha * v`` (``alpha`` a constant for the gradient): ``[N, M]``.
    A box with ``h = 0`` has ``atan(w / h) = pi / 2`` (``w > 0``) or nan (``w = 0``)."""
    return _pairwise(boxes1, boxes2, "ciou", eps, "complete_box_iou")


def _loss(boxes1, boxes2, reduction, eps, kind, op):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    _check_last4(boxes1, op, "boxes1")
    _check_last4(boxes2, op, "boxes2")
    loss = 1.0 - _dl._C._box_iou_elementwise(boxes1, boxes2, kind, eps, True, op)
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()  # torchvision: 0 for no boxes
    if reduction == "sum":
        return loss.sum()
    return loss


def generalized_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """``1 - giou`` of ``boxes1[..., i]`` and ``boxes2[..., i]`` (leading dims broadcast), with
    ``iou = inter / (union + eps)`` and the term ``(C - union) / (C + eps)``. ``reduction``: ``"none"``,
    ``"mean"`` (0 for no boxes, as torchvision) or ``"sum"``."""
    return _loss(boxes1, boxes2, reduction, eps, "giou", "generalized_box_iou_loss")


def distance_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """``1 - diou`` element-wise (see :func:`generalized_box_iou_loss` for shapes and reductions)."""
    return _loss(boxes1, boxes2, reduction, eps, "diou", "distance_box_iou_loss")


def complete_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """``1 - ciou`` element-wise, ``alpha`` a constant for the gradient (torchvision's ``no_grad``)."""
    return _loss(boxes1, boxes2, reduction, eps, "ciou", "complete_box_iou_loss")


# ---- non-maximum suppression ----------------------------------------------------------------------
def _threshold(v, op):
    try:
        return float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: iou_threshold must be a number, got {type(v).__name__}") from None


def nms(boxes, scores, iou_threshold):
    """Greedy non-maximum suppression; returns the int64 indices of the kept boxes, by decreasing score.

    ``boxes``: ``[N, 4]`` floating (xyxy, ``x1 <= x2`` and ``y1 <= y2``); ``scores``: ``[N]`` floating.
    Boxes are visited by decreasing score; a visited box that is not suppressed is kept and
    suppresses every later box whose IoU with it is ``> iou_threshold`` (strictly).

    * Ties in score: the lower index comes first (a stable sort). nan scores come first (as
      ``torch.sort(descending=True)`` puts them), among themselves by index; ``-0.0 == 0.0``.
    * IoU is ``inter / (area_i + area_j - inter)`` computed in the boxes' dtype and compared with the
      threshold in double precision. A nan IoU never suppresses: a box with a nan coordinate is
      always kept and suppresses nothing; two zero-area boxes on the same spot (0 / 0) do not
      suppress each other. A zero-area box has IoU 0 with others (suppressed only for a negative
      threshold). ``iou_threshold >= 1`` or nan keeps every box; a negative one suppresses every
      later box with a non-nan IoU.
    * float16/bfloat16 boxes or scores are converted to float32 (exactly) and computed in float32;
      float32 and float64 compute in their own type. Integer boxes or scores raise TypeError.
    * Empty input (``[0, 4]`` and ``[0]``) gives an empty int64 tensor.
    * Errors: boxes not ``[N, 4]`` or scores not ``[N]`` raise ValueError naming the op, the argument
      and the shapes; a box with ``x2 < x1`` or ``y2 < y1`` raises ValueError naming its index.
    * Any strides; CPU (a grid-indexed greedy pass, fast for 10k-50k boxes) and CUDA (64x64
      bitmask tiles, one sequential reduce block) give the same indices.
    """
    _check_tensor(boxes, "nms", "boxes")
    _check_tensor(scores, "nms", "scores")
    return _dl._C._nms(boxes, scores, _threshold(iou_threshold, "nms"))


def batched_nms(boxes, scores, idxs, iou_threshold):
    """:func:`nms` within each category: boxes only suppress boxes with the same ``idxs`` value.

    ``idxs``: ``[N]`` integer (int64 or int32) category per box. The result equals greedy NMS run
    per category, merged by decreasing score (ties by index): the indices of the kept boxes, int64.
    The categories are separate problems in the kernel (no coordinate offsets), so boxes far apart
    or with huge coordinates behave exactly as in :func:`nms`. Other semantics as :func:`nms`.
    """
    _check_tensor(boxes, "batched_nms", "boxes")
    _check_tensor(scores, "batched_nms", "scores")
    _check_tensor(idxs, "batched_nms", "idxs")
    return _dl._C._batched_nms(boxes, scores, idxs, _threshold(iou_threshold, "batched_nms"))
