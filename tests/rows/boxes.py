"""Op-table rows for the box ops (dlcore.ops): box_iou_elementwise through the pairwise IoU
functions and the IoU losses, nms and batched_nms. Also the references that tests/test_boxes.py
shares: torch composites of torchvision's formulas (torch is imported inside them, never by
dlcore) and a plain greedy NMS in numpy.

Tolerances of the IoU rows: every value is O(1) and is a few float32 roundings of coordinates
up to ~15 and box sides >= 0.5 (each subtraction, product and quotient at most half an ulp, the
differences of coordinates scaling it by up to ~30 relative to a side), so a float32 result is
within ~2e-6 of the float64 reference: rtol 1e-5, atol 1e-5. float64 keeps the tight defaults.

The NMS rows use integer coordinates (< 30) and thresholds 0.3141 / 0.5123 / 0.7071: an IoU is
then a fraction with denominator < 1000, never within float32 rounding of those thresholds, so
the kept indices are the same whether IoU is computed in float32 (the kernel) or float64 (the
reference of the op table, which sees float32-rounded inputs in float64).
"""
import math

import numpy as np

import dlcore
from optable import ErrorCase, OpRow

IOU_TOL = {"float32": (1e-5, 1e-5)}
NMS_THRESHOLDS = (0.3141, 0.5123, 0.7071)


# ---- torch references: torchvision's formulas written as torch composites -----------------------
def _t(a):
    import torch
    return torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a


def tv_box_area(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def tv_inter_union(b1, b2):
    import torch
    lt = torch.max(b1[:, None, :2], b2[:, :2])
    rb = torch.min(b1[:, None, 2:], b2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter, tv_box_area(b1)[:, None] + tv_box_area(b2) - inter


def tv_box_iou(b1, b2):
    inter, union = tv_inter_union(b1, b2)
    return inter / union


def tv_generalized_box_iou(b1, b2):
    import torch
    inter, union = tv_inter_union(b1, b2)
    iou = inter / union
    lti = torch.min(b1[:, None, :2], b2[:, :2])
    rbi = torch.max(b1[:, None, 2:], b2[:, 2:])
    whi = (rbi - lti).clamp(min=0)
    areai = whi[..., 0] * whi[..., 1]
    return iou - (areai - union) / areai


def _tv_diou_iou(b1, b2, eps):
    import torch
    iou = tv_box_iou(b1, b2)
    lti = torch.min(b1[:, None, :2], b2[:, :2])
    rbi = torch.max(b1[:, None, 2:], b2[:, 2:])
    whi = (rbi - lti).clamp(min=0)
    diag = (whi[:, :, 0] ** 2) + (whi[:, :, 1] ** 2) + eps
    xp, yp = (b1[:, 0] + b1[:, 2]) / 2, (b1[:, 1] + b1[:, 3]) / 2
    xg, yg = (b2[:, 0] + b2[:, 2]) / 2, (b2[:, 1] + b2[:, 3]) / 2
    cd = ((xp[:, None] - xg[None, :]) ** 2) + ((yp[:, None] - yg[None, :]) ** 2)
    return iou - cd / diag, iou


def tv_distance_box_iou(b1, b2, eps=1e-7):
    return _tv_diou_iou(b1, b2, eps)[0]


def tv_complete_box_iou(b1, b2, eps=1e-7):
    import torch
    diou, iou = _tv_diou_iou(b1, b2, eps)
    wp, hp = b1[:, None, 2] - b1[:, None, 0], b1[:, None, 3] - b1[:, None, 1]
    wg, hg = b2[:, 2] - b2[:, 0], b2[:, 3] - b2[:, 1]
    v = (4 / (math.pi ** 2)) * torch.pow(torch.atan(wp / hp) - torch.atan(wg / hg), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


def _tv_loss_inter_union(b1, b2):
    import torch
    x1, y1, x2, y2 = b1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b2.unbind(dim=-1)
    xk1, yk1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xk2, yk2 = torch.min(x2, x2g), torch.min(y2, y2g)
    mask = (yk2 > yk1) & (xk2 > xk1)
    inter = torch.where(mask, (xk2 - xk1) * (yk2 - yk1), torch.zeros_like(xk1))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    return inter, union


def _tv_reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    return loss.sum() if reduction == "sum" else loss


def _tv_enclosure(b1, b2):
    import torch
    x1, y1, x2, y2 = b1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b2.unbind(dim=-1)
    return torch.min(x1, x1g), torch.min(y1, y1g), torch.max(x2, x2g), torch.max(y2, y2g)


def tv_generalized_box_iou_loss(b1, b2, reduction="none", eps=1e-7):
    inter, union = _tv_loss_inter_union(b1, b2)
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = _tv_enclosure(b1, b2)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    return _tv_reduce(1 - (iou - ((area_c - union) / (area_c + eps))), reduction)


def _tv_diou_iou_loss(b1, b2, eps):
    inter, union = _tv_loss_inter_union(b1, b2)
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = _tv_enclosure(b1, b2)
    diag = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
    x1, y1, x2, y2 = b1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b2.unbind(dim=-1)
    xp, yp, xg, yg = (x2 + x1) / 2, (y2 + y1) / 2, (x1g + x2g) / 2, (y1g + y2g) / 2
    cd = ((xp - xg) ** 2) + ((yp - yg) ** 2)
    return 1 - iou + (cd / diag), iou


def tv_distance_box_iou_loss(b1, b2, reduction="none", eps=1e-7):
    return _tv_reduce(_tv_diou_iou_loss(b1, b2, eps)[0], reduction)


def tv_complete_box_iou_loss(b1, b2, reduction="none", eps=1e-7):
    import torch
    diou_loss, iou = _tv_diou_iou_loss(b1, b2, eps)
    x1, y1, x2, y2 = b1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b2.unbind(dim=-1)
    wp, hp, wg, hg = x2 - x1, y2 - y1, x2g - x1g, y2g - y1g
    v = (4 / (math.pi ** 2)) * torch.pow((torch.atan(wg / hg) - torch.atan(wp / hp)), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return _tv_reduce(diou_loss + alpha * v, reduction)


TV_PAIRWISE = {"box_iou": tv_box_iou, "generalized_box_iou": tv_generalized_box_iou,
               "distance_box_iou": tv_distance_box_iou, "complete_box_iou": tv_complete_box_iou}
TV_LOSSES = {"generalized_box_iou_loss": tv_generalized_box_iou_loss,
             "distance_box_iou_loss": tv_distance_box_iou_loss, "complete_box_iou_loss": tv_complete_box_iou_loss}


# ---- numpy reference NMS --------------------------------------------------------------------------
def nms_ref(boxes, scores, thr, idxs=None):
    """Plain greedy NMS: visit by decreasing score (nan first, ties by index), keep a box unless an
    earlier kept box (of the same idx) has IoU > thr with it. IoU in the boxes' dtype with nan
    propagating through max/min, compared with thr in float64."""
    b = np.asarray(boxes)
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    order = np.array(sorted(range(n), key=lambda i: (0, 0.0, i) if np.isnan(s[i]) else (1, -s[i], i)),
                     dtype=np.int64)
    x1, y1, x2, y2 = (b[:, k] for k in range(4))
    zero = b.dtype.type(0) if n else 0
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    with np.errstate(all="ignore"):
        area = (x2 - x1) * (y2 - y1)
        for a, i in enumerate(order):
            if suppressed[i]:
                continue
            keep.append(i)
            rest = order[a + 1:]
            if rest.size == 0:
                break
            w = np.maximum(zero, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
            h = np.maximum(zero, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
            inter = w * h
            iou = inter / (area[i] + area[rest] - inter)
            sup = iou.astype(np.float64) > thr
            if idxs is not None:
                sup &= np.asarray(idxs)[rest] == np.asarray(idxs)[i]
            suppressed[rest[sup]] = True
    return np.array(keep, dtype=np.int64)


# ---- samples ----------------------------------------------------------------------------------------
def rand_boxes(r, shape, lo=0.0, hi=10.0, side=(0.5, 5.0)):
    """Boxes of `shape` + (4,): corners uniform in [lo, hi), sides uniform in `side`."""
    xy = r.uniform(lo, hi, tuple(shape) + (2,))
    wh = r.uniform(side[0], side[1], tuple(shape) + (2,))
    return np.concatenate([xy, xy + wh], -1)


def int_boxes(r, n, hi=20, side=8, zero_area=0.1):
    """Integer boxes (as floats) with sides in [1, side], some with a zero side, some duplicated."""
    xy = r.integers(0, hi, (n, 2))
    wh = r.integers(1, side + 1, (n, 2))
    wh[r.random(n) < zero_area, r.integers(0, 2)] = 0
    b = np.concatenate([xy, xy + wh], 1).astype(np.float64)
    if n > 4:
        b[r.integers(0, n, n // 4)] = b[r.integers(0, n, n // 4)]
    return b


PAIR_SHAPES = [(5, 7), (1, 3), (9, 1), (4, 4)]


def _pair_samples(r):
    return [(rand_boxes(r, (n,)), rand_boxes(r, (m,))) for n, m in PAIR_SHAPES]


# (boxes1 shape, boxes2 shape, reduction)
LOSS_CASES = [((6,), (6,), "none"), ((2, 3), (3,), "mean"), ((4, 1), (1, 5), "sum"), ((3,), (1,), "none"),
              ((2, 2), (2, 2), "mean")]


def _loss_samples(r):
    return [(rand_boxes(r, s1), rand_boxes(r, s2), red) for s1, s2, red in LOSS_CASES]


def _pair_row(name, kind_id, grad=True):
    op = getattr(dlcore.ops, name)
    ref = TV_PAIRWISE[name]
    return OpRow("box_iou_elementwise", lambda a, b: op(a, b), lambda a, b: ref(_t(a), _t(b)).numpy(),
                 _pair_samples, grad=grad, tol=IOU_TOL, id=kind_id)


def _loss_row(name, kind_id, grad=True):
    op = getattr(dlcore.ops, name)
    ref = TV_LOSSES[name]
    return OpRow("box_iou_elementwise", lambda a, b, red: op(a, b, reduction=red),
                 lambda a, b, red: ref(_t(a), _t(b), reduction=red).numpy(), _loss_samples, grad=grad,
                 tol=IOU_TOL, id=kind_id)


def _nms_samples(r):
    out = []
    for n, thr in [(30, NMS_THRESHOLDS[0]), (40, NMS_THRESHOLDS[1]), (25, NMS_THRESHOLDS[2]), (1, 0.5), (0, 0.5)]:
        scores = r.integers(0, 6, n).astype(np.float64)  # many exact ties
        if n > 3:
            scores[r.integers(0, n, 2)] = np.nan
        out.append((int_boxes(r, n), scores, thr))
    return out


def _batched_samples(r):
    out = []
    for n, thr, k in [(40, NMS_THRESHOLDS[0], 3), (30, NMS_THRESHOLDS[1], 1), (35, NMS_THRESHOLDS[2], 7)]:
        scores = r.integers(0, 6, n).astype(np.float64)
        out.append((int_boxes(r, n), scores, r.integers(0, k, n), thr))
    return out


IOU_ERRORS = [
    ErrorCase(lambda dl: dl.ops.box_iou(dl.ones(3, 5), dl.ones(2, 4)), ValueError,
              r"box_iou: boxes1 must have shape \[N, 4\] \(x1, y1, x2, y2\), got \[3, 5\]"),
    ErrorCase(lambda dl: dl.ops.generalized_box_iou(dl.ones(3, 4), dl.ones(2, 3, 4)), ValueError,
              r"generalized_box_iou: boxes2 must have shape \[N, 4\] \(x1, y1, x2, y2\), got \[2, 3, 4\]"),
    ErrorCase(lambda dl: dl.ops.generalized_box_iou_loss(dl.ones(3, 2), dl.ones(3, 4)), ValueError,
              r"generalized_box_iou_loss: boxes1 must have shape \[\.\.\., 4\], got \[3, 2\]"),
    ErrorCase(lambda dl: dl.ops.distance_box_iou_loss(dl.ones(3, 4), dl.ones(2, 4)), ValueError,
              r"distance_box_iou_loss: shapes \[3\] and \[2\] cannot be broadcast"),
    ErrorCase(lambda dl: dl.ops.complete_box_iou_loss(dl.ones(3, 4), dl.ones(3, 4), reduction="avg"), ValueError,
              r"complete_box_iou_loss: reduction must be 'none', 'mean' or 'sum', got 'avg'"),
    ErrorCase(lambda dl: dl._C._box_iou_elementwise(dl.ones(2, 3), dl.ones(2, 4), "iou"), ValueError,
              r"box_iou_elementwise: boxes1 must have shape \[\.\.\., 4\] \(x1, y1, x2, y2\), got \[2, 3\]"),
    ErrorCase(lambda dl: dl._C._box_iou_elementwise(dl.ones(2, 4), dl.ones(2, 4), "xiou"), ValueError,
              r"box_iou_elementwise: kind must be 'iou', 'giou', 'diou' or 'ciou', got 'xiou'"),
    ErrorCase(lambda dl: dl.ops.box_iou(dl.ones(2, 4, dtype=dl.bool), dl.ones(2, 4)), TypeError,
              r"box_iou: boxes1 must be a floating point or integer tensor, got bool \[2, 1, 4\]"),
    ErrorCase(lambda dl: dl.ops.box_iou(np.ones((2, 4)), dl.ones(2, 4)), TypeError,
              r"box_iou: boxes1 must be a dlcore.Tensor, got ndarray"),
]


def _b(dl, rows):
    return dl.tensor(np.array(rows, dtype=np.float32))


NMS_ERRORS = [
    ErrorCase(lambda dl: dl.ops.nms(dl.ones(3, 5), dl.ones(3), 0.5), ValueError,
              r"nms: boxes must have shape \[N, 4\] \(x1, y1, x2, y2\), got \[3, 5\]"),
    ErrorCase(lambda dl: dl.ops.nms(dl.ones(4), dl.ones(1), 0.5), ValueError,
              r"nms: boxes must have shape \[N, 4\] \(x1, y1, x2, y2\), got \[4\]"),
    ErrorCase(lambda dl: dl.ops.nms(dl.ones(3, 4), dl.ones(2), 0.5), ValueError,
              r"nms: scores must have shape \[3\] \(one per box of boxes \[3, 4\]\), got \[2\]"),
    ErrorCase(lambda dl: dl.ops.nms(dl.ones(3, 4), dl.ones(3, 1), 0.5), ValueError,
              r"nms: scores must have shape \[3\] \(one per box of boxes \[3, 4\]\), got \[3, 1\]"),
    ErrorCase(lambda dl: dl.ops.nms(dl.ones(3, 4, dtype=dl.int64), dl.ones(3), 0.5), TypeError,
              r"nms: boxes must be a floating point tensor, got int64 \[3, 4\]"),
    ErrorCase(lambda dl: dl.ops.nms(dl.ones(3, 4), dl.ones(3, dtype=dl.int32), 0.5), TypeError,
              r"nms: scores must be a floating point tensor, got int32 \[3\]"),
    ErrorCase(lambda dl: dl.ops.nms(_b(dl, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 0, 1, 1]]), dl.ones(3), 0.5), ValueError,
              r"nms: boxes must be \(x1, y1, x2, y2\) with x1 <= x2 and y1 <= y2, but box 2 is \[2, 0, 1, 1\]"),
    ErrorCase(lambda dl: dl.ops.nms(_b(dl, [[0, 0, 1, 1], [0, 3, 1, 1]]), dl.ones(2), 0.5), ValueError,
              r"nms: .* but box 1 is \[0, 3, 1, 1\]"),
    ErrorCase(lambda dl: dl.ops.nms(dl.ones(3, 4), dl.ones(3), "high"), TypeError,
              r"nms: iou_threshold must be a number, got str"),
]

BATCHED_ERRORS = [
    ErrorCase(lambda dl: dl.ops.batched_nms(dl.ones(3, 4), dl.ones(3), dl.ones(3), 0.5), TypeError,
              r"batched_nms: idxs must be an integer tensor \(int64 or int32\), got float32 \[3\]"),
    ErrorCase(lambda dl: dl.ops.batched_nms(dl.ones(3, 4), dl.ones(3), dl.zeros(4, dtype=dl.int64), 0.5),
              ValueError, r"batched_nms: idxs must have shape \[3\] \(one per box of boxes \[3, 4\]\), got \[4\]"),
    ErrorCase(lambda dl: dl.ops.batched_nms(dl.ones(3, 4), dl.ones(3, 2), dl.zeros(3, dtype=dl.int64), 0.5),
              ValueError, r"batched_nms: scores must have shape \[3\]"),
    ErrorCase(lambda dl: dl.ops.batched_nms(_b(dl, [[1, 1, 0, 2]]), dl.ones(1), dl.zeros(1, dtype=dl.int64), 0.5),
              ValueError, r"batched_nms: .* but box 0 is \[1, 1, 0, 2\]"),
]

ROWS = [
    _pair_row("box_iou", "iou"),
    _pair_row("generalized_box_iou", "giou"),
    _pair_row("distance_box_iou", "diou"),
    # alpha is a constant for the gradient, so finite differences of the value do not give it:
    # tests/test_boxes.py checks the CIoU gradient against torch and with alpha frozen.
    _pair_row("complete_box_iou", "ciou", grad=False),
    _loss_row("generalized_box_iou_loss", "giou_loss"),
    _loss_row("distance_box_iou_loss", "diou_loss"),
    _loss_row("complete_box_iou_loss", "ciou_loss", grad=False),
    OpRow("box_iou_elementwise", lambda a, b: dlcore.ops.box_iou(a, b), None, lambda r: [], grad=False,
          errors=IOU_ERRORS, id="errors"),
    OpRow("nms", lambda b, s, t: dlcore.ops.nms(b, s, t), nms_ref, _nms_samples, grad=False, errors=NMS_ERRORS),
    OpRow("batched_nms", lambda b, s, i, t: dlcore.ops.batched_nms(b, s, i, t),
          lambda b, s, i, t: nms_ref(b, s, t, idxs=i), _batched_samples, grad=False, errors=BATCHED_ERRORS),
]
