"""The YOLOv8 detection loss: a task-aligned assigner picks, for every ground-truth box, the
anchors whose prediction already fits it best, and three terms train the head against those
targets — BCE-with-logits on the class scores against the aligned soft targets, the CIoU loss on
the decoded boxes and the Distribution Focal Loss on the distance bins, weighted 7.5 / 0.5 / 1.5.

Note [Task-aligned assignment] (Feng et al., 2021, "TOOD"; Ultralytics' TaskAlignedAssigner):
for image b, ground truth g and anchor a,

    in_box[b,g,a]  = the anchor centre lies strictly inside box g (margin 1e-9)
    overlap[b,g,a] = max(CIoU(gt g, predicted box a), 0)          where in_box, else 0
    score[b,g,a]   = sigmoid class score of anchor a for g's class where in_box, else 0
    align[b,g,a]   = score ** alpha * overlap ** beta             (alpha 0.5, beta 6)

Each box takes its top-k (10) anchors by ``align`` (ties: the lower anchor index first) that lie
inside it. An anchor taken by several boxes goes to the box of highest overlap with its
prediction (the first such box on ties, over all boxes, as Ultralytics does). The target class
score of a positive anchor is ``align / max align of its box * max overlap of its box``
(normalised so each box's best anchor gets the box's best IoU); negatives get 0.

The assigner has no gradient and runs in numpy on the host (tensors of [B, boxes, anchors]:
small next to the network); the loss terms are dlcore ops and differentiate into the head.
Boxes are xyxy; CIoU is torchvision's (``dlcore.ops.complete_box_iou_loss``, eps 1e-7).
"""
import math

import numpy as np

import dlcore

from .. import nn
from ..nn import functional as F

__all__ = ["TaskAlignedAssigner", "DetectionLoss", "ciou_numpy", "targets_from_labels"]


def ciou_numpy(b1, b2, eps=1e-7):
    """Complete IoU of boxes b1, b2 (xyxy, broadcasting [..., 4]) as torchvision's
    complete_box_iou_loss computes it (1 - loss), in the inputs' precision."""
    x1 = np.maximum(b1[..., 0], b2[..., 0])
    y1 = np.maximum(b1[..., 1], b2[..., 1])
    x2 = np.minimum(b1[..., 2], b2[..., 2])
    y2 = np.minimum(b1[..., 3], b2[..., 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    w1, h1 = b1[..., 2] - b1[..., 0], b1[..., 3] - b1[..., 1]
    w2, h2 = b2[..., 2] - b2[..., 0], b2[..., 3] - b2[..., 1]
    union = w1 * h1 + w2 * h2 - inter
    iou = inter / (union + eps)
    cw = np.maximum(b1[..., 2], b2[..., 2]) - np.minimum(b1[..., 0], b2[..., 0])
    ch = np.maximum(b1[..., 3], b2[..., 3]) - np.minimum(b1[..., 1], b2[..., 1])
    diag = cw * cw + ch * ch + eps
    dx = (b1[..., 0] + b1[..., 2] - b2[..., 0] - b2[..., 2]) / 2
    dy = (b1[..., 1] + b1[..., 3] - b2[..., 1] - b2[..., 3]) / 2
    dist = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (4 / math.pi ** 2) * (np.arctan(w1 / h1) - np.arctan(w2 / h2)) ** 2
    alpha = v / (1 - iou + v + eps)
    return iou - dist / diag - alpha * v


class TaskAlignedAssigner:
    """Note [Task-aligned assignment]. ``__call__`` takes numpy arrays:

    pd_scores [B, A, C] (probabilities), pd_bboxes [B, A, 4] (xyxy, pixels), anchors [A, 2]
    (pixels), gt_labels [B, G] (int), gt_bboxes [B, G, 4] (xyxy, pixels), mask_gt [B, G] (bool)

    and returns (target_labels [B, A] int64, target_bboxes [B, A, 4], target_scores [B, A, C],
    fg_mask [B, A] bool, target_gt_idx [B, A] int64)."""

    def __init__(self, topk=10, num_classes=80, alpha=0.5, beta=6.0, eps=1e-9):
        self.topk, self.num_classes, self.alpha, self.beta, self.eps = topk, num_classes, alpha, beta, eps

    def __call__(self, pd_scores, pd_bboxes, anchors, gt_labels, gt_bboxes, mask_gt):
        bs, na, nc = pd_scores.shape
        ng = gt_bboxes.shape[1]
        dtype = pd_scores.dtype
        if ng == 0 or not mask_gt.any():
            return (np.zeros((bs, na), np.int64), np.zeros((bs, na, 4), dtype), np.zeros((bs, na, nc), dtype),
                    np.zeros((bs, na), bool), np.zeros((bs, na), np.int64))
        # in_box[b, g, a]
        ax, ay = anchors[None, None, :, 0], anchors[None, None, :, 1]
        g = gt_bboxes[:, :, None, :]
        deltas = np.minimum(np.minimum(ax - g[..., 0], ay - g[..., 1]), np.minimum(g[..., 2] - ax, g[..., 3] - ay))
        in_box = (deltas > self.eps) & mask_gt[:, :, None]
        overlaps = np.zeros((bs, ng, na), dtype)
        scores = np.zeros((bs, ng, na), dtype)
        bi, gi, ai = np.nonzero(in_box)
        if len(bi):
            overlaps[bi, gi, ai] = np.maximum(ciou_numpy(gt_bboxes[bi, gi], pd_bboxes[bi, ai]), 0)
            scores[bi, gi, ai] = pd_scores[bi, ai, gt_labels[bi, gi]]
        align = scores ** self.alpha * overlaps ** self.beta
        # Top-k anchors per box (stable: ties keep the lower anchor index), inside the box only.
        k = min(self.topk, na)
        top = np.argsort(-align, axis=-1, kind="stable")[..., :k]
        mask_topk = np.zeros((bs, ng, na), bool)
        np.put_along_axis(mask_topk, top, True, axis=-1)
        mask_pos = mask_topk & in_box
        # An anchor claimed by several boxes goes to the box of highest overlap.
        claims = mask_pos.sum(1)
        multi = claims > 1
        if multi.any():
            best = overlaps.argmax(1)                                   # [B, A]
            one_hot = np.arange(ng)[None, :, None] == best[:, None, :]  # [B, G, A]
            mask_pos = np.where(multi[:, None, :], one_hot, mask_pos)
        fg_mask = mask_pos.any(1)
        target_gt_idx = mask_pos.argmax(1)
        b_idx = np.arange(bs)[:, None]
        target_labels = gt_labels[b_idx, target_gt_idx].astype(np.int64)
        target_bboxes = gt_bboxes[b_idx, target_gt_idx]
        target_scores = np.zeros((bs, na, nc), dtype)
        fb, fa = np.nonzero(fg_mask)
        target_scores[fb, fa, target_labels[fb, fa]] = 1
        align = align * mask_pos
        pos_align = align.max(-1, keepdims=True)
        pos_overlaps = (overlaps * mask_pos).max(-1, keepdims=True)
        norm = (align * pos_overlaps / (pos_align + self.eps)).max(1)   # [B, A]
        target_scores *= norm[..., None]
        return target_labels, target_bboxes, target_scores, fg_mask, target_gt_idx


def targets_from_labels(labels, counts=None):
    """Split padded per-image labels [B, G, 5] (class, x1, y1, x2, y2 in pixels) into
    (gt_labels [B, G] int64, gt_bboxes [B, G, 4], mask_gt [B, G]). ``counts`` gives the number of
    real rows per image; without it a row is real when its box has a positive area."""
    labels = np.asarray(labels.numpy() if isinstance(labels, dlcore.Tensor) else labels, dtype=np.float32)
    if labels.ndim != 3 or labels.shape[2] != 5:
        raise ValueError(f"DetectionLoss: labels must be [B, G, 5] (class, x1, y1, x2, y2), got {labels.shape}")
    b, g, _ = labels.shape
    if counts is None:
        mask = (labels[..., 3] > labels[..., 1]) & (labels[..., 4] > labels[..., 2])
    else:
        counts = np.asarray(counts).reshape(-1)
        if counts.shape[0] != b or (counts < 0).any() or (counts > g).any():
            raise ValueError(f"DetectionLoss: counts must hold {b} values in [0, {g}], got {counts.tolist()}")
        mask = np.arange(g)[None, :] < counts[:, None]
    gt_labels = labels[..., 0].astype(np.int64)
    gt_bboxes = labels[..., 1:5]
    return gt_labels, gt_bboxes, mask


class DetectionLoss:
    """The v8 detection loss for a :class:`dlcore.models.YOLOv8` (Note [Task-aligned assignment]).

    ``loss(feats, labels, counts=None)`` with the model's training output ``feats`` and padded
    labels [B, G, 5] (class, x1, y1, x2, y2 in input pixels) returns ``(total, parts)``: the total
    ``(7.5 * box + 0.5 * cls + 1.5 * dfl) * B`` (Ultralytics scales by the batch size) with
    gradient, and the three terms as a detached float tensor [3] (box, cls, dfl)."""

    def __init__(self, model, box=7.5, cls=0.5, dfl=1.5, topk=10, alpha=0.5, beta=6.0):
        head = model.head if hasattr(model, "head") else model
        self.nc = head.nc
        self.reg_max = head.reg_max
        self.no = head.no
        self.head = head
        self.gains = (box, cls, dfl)
        self.assigner = TaskAlignedAssigner(topk=topk, num_classes=self.nc, alpha=alpha, beta=beta)
        self._bins = None

    def _proj(self, like):
        if self._bins is None or self._bins.dtype != like.dtype or str(self._bins.device) != str(like.device):
            self._bins = dlcore.arange(self.reg_max, dtype=like.dtype, device=like.device)
        return self._bins

    def __call__(self, feats, labels, counts=None):
        pred = self.decode(feats)
        return self.terms(pred, self.assign(pred, labels, counts))

    def decode(self, feats):
        """The head maps as (pred_distri [B, A, 4*reg_max], pred_scores [B, A, nc] logits,
        pred_bboxes [B, A, 4] xyxy in grid units, anchors [A, 2], strides [A, 1])."""
        if not isinstance(feats, (list, tuple)) or not feats:
            raise ValueError("DetectionLoss: expected the model's training output (a list of head maps); "
                             "call the model in train mode")
        b = feats[0].shape[0]
        for f in feats:
            if f.dim() != 4 or f.shape[0] != b or f.shape[1] != self.no:
                raise ValueError(f"DetectionLoss: head maps must be [B, {self.no}, H, W] with one B, got "
                                 f"{[tuple(t.shape) for t in feats]}")
        x = dlcore.cat([f.reshape(b, self.no, -1) for f in feats], 2)        # [B, no, A]
        pred_distri, pred_scores = x.split((self.reg_max * 4, self.nc), 1)
        pred_distri = pred_distri.permute(0, 2, 1)                            # [B, A, 4*reg_max]
        pred_scores = pred_scores.permute(0, 2, 1)                            # [B, A, nc]
        anchors, strides = self.head.anchors(feats)                           # [A, 2], [A, 1] (grid units)
        a = anchors.shape[0]
        # Decoded boxes in grid units: the expectation over the bins of each side.
        prob = pred_distri.reshape(b, a, 4, self.reg_max).softmax(3)
        dist = dlcore.matmul(prob, self._proj(prob).view(self.reg_max, 1)).view(b, a, 4)
        pred_bboxes = dlcore.cat((anchors - dist[..., :2], anchors + dist[..., 2:]), 2)
        return pred_distri, pred_scores, pred_bboxes, anchors, strides

    def assign(self, pred, labels, counts=None):
        """The assigner's targets for decoded predictions (no gradient): a dict of numpy arrays
        target_scores [B, A, nc], target_bboxes [B, A, 4] (pixels), fg_mask [B, A]."""
        pred_distri, pred_scores, pred_bboxes, anchors, strides = pred
        b = pred_scores.shape[0]
        gt_labels, gt_bboxes, mask_gt = targets_from_labels(labels, counts)
        if gt_labels.shape[0] != b:
            raise ValueError(f"DetectionLoss: labels hold {gt_labels.shape[0]} images, the predictions {b}")
        if mask_gt.any():
            bad = mask_gt & ((gt_labels < 0) | (gt_labels >= self.nc))
            if bad.any():
                raise ValueError(f"DetectionLoss: class ids must lie in [0, {self.nc}), got "
                                 f"{sorted(set(gt_labels[bad].tolist()))}")
            sel = gt_bboxes[mask_gt]
            if not np.isfinite(sel).all() or (sel[:, 2] < sel[:, 0]).any() or (sel[:, 3] < sel[:, 1]).any():
                raise ValueError("DetectionLoss: ground-truth boxes must be finite xyxy boxes with x2 >= x1 and "
                                 "y2 >= y1")
        anchors_np = anchors.detach().to("cpu").numpy()
        strides_np = strides.detach().to("cpu").numpy()
        scores_np = pred_scores.detach().sigmoid().to("cpu").numpy()
        _, t_bboxes, t_scores, fg, _ = self.assigner(
            scores_np, pred_bboxes.detach().to("cpu").numpy() * strides_np[None], anchors_np * strides_np,
            gt_labels, gt_bboxes.astype(scores_np.dtype), mask_gt)
        return {"target_scores": t_scores, "target_bboxes": t_bboxes, "fg_mask": fg}

    def terms(self, pred, targets):
        """``(total, parts)`` for decoded predictions and fixed assigner targets."""
        pred_distri, pred_scores, pred_bboxes, anchors, strides = pred
        t_scores, t_bboxes, fg = targets["target_scores"], targets["target_bboxes"], targets["fg_mask"]
        b, a = pred_scores.shape[0], pred_scores.shape[1]
        anchors_np = anchors.detach().to("cpu").numpy()
        strides_np = strides.detach().to("cpu").numpy()
        tss = max(float(t_scores.sum()), 1.0)
        device, dtype = pred_scores.device, pred_scores.dtype
        target_scores = dlcore.tensor(t_scores, device=device).to(dtype)
        loss_cls = F.binary_cross_entropy_with_logits(pred_scores, target_scores, reduction="sum") / tss

        fb, fa = np.nonzero(fg)
        if len(fb):
            from ..ops import complete_box_iou_loss

            flat = dlcore.tensor((fb * a + fa).astype(np.int64), device=device)
            weight = dlcore.tensor(t_scores[fb, fa].sum(-1), device=device).to(dtype)
            tgt = t_bboxes[fb, fa] / strides_np[fa]                            # grid units
            tgt_t = dlcore.tensor(tgt, device=device).to(dtype)
            pb = pred_bboxes.reshape(b * a, 4).index_select(0, flat)
            loss_box = (complete_box_iou_loss(pb, tgt_t) * weight).sum() / tss
            # DFL: the target distance lies between bins tl and tl + 1; cross entropy of both,
            # weighted by the distance to the other bin.
            anc = anchors_np[fa]
            ltrb = np.concatenate([anc - tgt[:, :2], tgt[:, 2:] - anc], 1)
            ltrb = np.clip(ltrb, 0, self.reg_max - 1 - 0.01)
            tl = np.floor(ltrb).astype(np.int64)
            wl = tl + 1 - ltrb
            pd = pred_distri.reshape(b * a, 4 * self.reg_max).index_select(0, flat).reshape(-1, self.reg_max)
            tl_t = dlcore.tensor(tl.reshape(-1), device=device)
            ce_l = F.cross_entropy(pd, tl_t, reduction="none")
            ce_r = F.cross_entropy(pd, tl_t + 1, reduction="none")
            wl_t = dlcore.tensor(wl.reshape(-1), device=device).to(dtype)
            dfl = (ce_l * wl_t + ce_r * (1 - wl_t)).view(-1, 4).mean(1)
            loss_dfl = (dfl * weight).sum() / tss
        else:
            zero = pred_distri.sum() * 0.0
            loss_box, loss_dfl = zero, zero
        g_box, g_cls, g_dfl = self.gains
        total = (loss_box * g_box + loss_cls * g_cls + loss_dfl * g_dfl) * b
        parts = dlcore.stack([loss_box.detach() * g_box, loss_cls.detach() * g_cls, loss_dfl.detach() * g_dfl])
        return total, parts
