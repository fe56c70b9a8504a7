"""COCO-style mean average precision for object detection (boxes only).

``MeanAveragePrecision`` follows ``torchmetrics.detection.MeanAveragePrecision`` (names, arguments,
result keys) and computes exactly what pycocotools' ``COCOeval`` (iouType "bbox") computes, in
vectorised numpy. The steps, as in COCOeval:

* Boxes are converted to (x, y, w, h) in float64; the IoU of a detection d and a ground truth g
  is ``inter / (area_d + area_g - inter)`` (no +1), or ``inter / area_d`` when g is a crowd.
* Per (image, class) the detections are ordered by score, highest first, with a stable sort
  (equal scores keep their input order), and only the first ``max_detection_thresholds[-1]``
  are kept.
* For each IoU threshold t and each area range, the detections of an (image, class), in that
  order, each take the unmatched ground truth (a crowd one may be taken again) with the highest
  IoU >= t, ties going to the later one in input order; a ground truth that is ignored (a crowd,
  or outside the area range) is taken only when no regular one is available. A detection matched
  to an ignored ground truth is ignored, as is an unmatched detection outside the area range.
* Per class, area range and max-detections cap, the detections of all images are ranked by
  score (stable: ties keep image order, then the per-image order), precision is made monotone
  from the right and read at the recall thresholds with ``searchsorted(side="left")`` (0 beyond
  the highest recall reached); recall is the final recall.
* A class without (non-ignored) ground truths in an area range is left out of the means for it;
  a mean over nothing is -1.

Areas: a ground truth's area is its ``area`` entry where one is given and > 0 (as torchmetrics),
else w * h; a detection's area is w * h. The ranges are all [0, 1e10], small [0, 32²],
medium [32², 96²], large [96², 1e10], both ends inclusive, as COCOeval.

One deliberate difference from pycocotools: ``map`` (stats[0]) uses the largest max-detections
cap, where pycocotools always reads maxDets=100 (so it reports -1 when 100 is not among the caps,
a known pycocotools bug that torchmetrics' faster_coco_eval backend fixes). With the default caps
(1, 10, 100) the two are the same.

Pure numpy: this module never imports pycocotools, torch or torchmetrics.
"""
import numbers
import warnings

import numpy as np

__all__ = ["MeanAveragePrecision"]

_BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
_AVERAGES = ("macro", "micro")
# (name, lo, hi): COCOeval's area ranges, inclusive at both ends.
_AREA_RANGES = (("all", 0.0, 1e5 ** 2), ("small", 0.0, 32.0 ** 2), ("medium", 32.0 ** 2, 96.0 ** 2),
                ("large", 96.0 ** 2, 1e5 ** 2))
_EPS = np.spacing(1)          # COCOeval's precision denominator guard
_MAX_IOU = 1 - 1e-10          # COCOeval caps every IoU threshold here
_PAIR_CHUNK = 1 << 20         # (detection, ground truth) pairs whose IoU is computed at once
_PR_IOU = 0.5                 # IoU threshold of the precision/recall at ``score_threshold``


def _to_numpy(x, name):
    """A numpy array from a dlcore (or torch) Tensor, a numpy array, a list or a number."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        x = x.detach()
        if hasattr(x, "cpu"):
            x = x.cpu()
        return np.asarray(x.numpy())
    try:
        return np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"MeanAveragePrecision.update: {name} could not be read as an array ({e})") from None


def _to_xywh(boxes, box_format):
    """(N, 4) float64 boxes in ``box_format`` -> (N, 4) float64 (x, y, w, h), as COCO stores them."""
    if box_format == "xywh":
        return boxes.copy()
    out = np.empty_like(boxes)
    if box_format == "xyxy":
        out[:, :2] = boxes[:, :2]
        out[:, 2:] = boxes[:, 2:] - boxes[:, :2]
    else:  # cxcywh
        out[:, :2] = boxes[:, :2] - boxes[:, 2:] / 2
        out[:, 2:] = boxes[:, 2:]
    return out


def _rank_in_group(groups):
    """For a sorted array of group ids, each element's position within its run of equal ids."""
    n = groups.size
    if n == 0:
        return np.zeros(0, np.int64)
    idx = np.arange(n)
    first = np.empty(n, bool)
    first[0] = True
    np.not_equal(groups[1:], groups[:-1], out=first[1:])
    return idx - np.maximum.accumulate(np.where(first, idx, 0))


def _box_iou(d, g, crowd):
    """IoU of pairs of xywh boxes d[i], g[i] exactly as pycocotools' maskApi bbIou computes it (same
    float64 operations in the same order); for a crowd ground truth the union is the detection's area."""
    w = np.minimum(d[:, 2] + d[:, 0], g[:, 2] + g[:, 0]) - np.maximum(d[:, 0], g[:, 0])
    h = np.minimum(d[:, 3] + d[:, 1], g[:, 3] + g[:, 1]) - np.maximum(d[:, 1], g[:, 1])
    overlap = (w > 0) & (h > 0)
    inter = w * h
    da = d[:, 2] * d[:, 3]
    union = np.where(crowd, da, da + g[:, 2] * g[:, 3] - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where(overlap, iou, 0.0)


def _candidate_pairs(grp_d, box_d, grp_g, box_g, crowd_g, min_thr):
    """All (detection, ground truth) pairs of the same (image, class) group whose IoU is >= min_thr,
    sorted by detection then ground truth. grp_d, grp_g are sorted group ids."""
    lo = np.searchsorted(grp_g, grp_d, side="left")
    cnt = np.searchsorted(grp_g, grp_d, side="right") - lo
    cum = np.cumsum(cnt)
    nd = grp_d.size
    out_d, out_g, out_iou = [], [], []
    start = 0
    while start < nd:
        end = max(int(np.searchsorted(cum, cum[start] - cnt[start] + _PAIR_CHUNK, side="right")), start + 1)
        c = cnt[start:end]
        n = int(c.sum())
        if n:
            pd = np.repeat(np.arange(start, end), c)
            pg = lo[pd] + (np.arange(n) - np.repeat(np.cumsum(c) - c, c))
            iou = _box_iou(box_d[pd], box_g[pg], crowd_g[pg])
            keep = iou >= min_thr
            out_d.append(pd[keep])
            out_g.append(pg[keep])
            out_iou.append(iou[keep])
        start = end
    if not out_d:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_d), np.concatenate(out_g), np.concatenate(out_iou)


def _greedy_match(p_det, p_gt, p_iou, grp_d, g_ign, g_crowd, thr):
    """COCOeval's greedy matching, for every IoU threshold and area range at once.

    Pairs (p_det, p_gt, p_iou) are sorted by detection (in per-group score order), then ground truth
    (input order). Detections of one group are matched one after another; the i-th detection having
    any candidate of every group is handled in round i, all groups together (groups share no ground
    truth, so they never interact). Returns the detections that have candidates, and for them
    ``matched`` and ``matched_ignored`` (the match is an ignored ground truth), both [n, A, T].
    """
    n_gt, n_area = g_ign.shape
    n_thr = thr.size
    cand, p_c = np.unique(p_det, return_inverse=True)
    matched = np.zeros((cand.size, n_area, n_thr), bool)
    matched_ign = np.zeros_like(matched)
    if cand.size == 0:
        return cand, matched, matched_ign
    p_round = _rank_in_group(grp_d[cand])[p_c]
    order = np.argsort(p_round, kind="stable")
    bounds = np.searchsorted(p_round[order], np.arange(int(p_round.max()) + 2))
    used = np.zeros((n_gt, n_area, n_thr), bool)     # ground truth taken (per area range, threshold)
    for r in range(bounds.size - 1):
        sel = order[bounds[r]:bounds[r + 1]]
        pc, pg = p_c[sel], p_gt[sel]
        iou = p_iou[sel][:, None, None]
        first = np.empty(sel.size, bool)
        first[0] = True
        np.not_equal(pc[1:], pc[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        seg = np.cumsum(first) - 1                   # pair -> its detection's segment
        ign = g_ign[pg][:, :, None]                  # [P, A, 1]
        ok = (~used[pg] | g_crowd[pg][:, None, None]) & (iou >= thr)         # [P, A, T]
        ok_reg = ok & ~ign
        ok_ign = ok & ign
        best_reg = np.maximum.reduceat(np.where(ok_reg, iou, -1.0), starts, axis=0)   # [S, A, T]
        best_ign = np.maximum.reduceat(np.where(ok_ign, iou, -1.0), starts, axis=0)
        use_reg = best_reg >= 0                      # a regular ground truth wins over any ignored one
        best = np.where(use_reg, best_reg, best_ign)
        hit = np.where(use_reg[seg], ok_reg, ok_ign) & (iou == best[seg])
        # ties in IoU go to the last ground truth (COCOeval replaces its match on >=)
        pick = np.maximum.reduceat(np.where(hit, np.arange(sel.size)[:, None, None], -1), starts, axis=0)
        s_i, a_i, t_i = np.nonzero(pick >= 0)
        pp = pick[s_i, a_i, t_i]
        used[pg[pp], a_i, t_i] = True
        det = pc[starts[s_i]]
        matched[det, a_i, t_i] = True
        matched_ign[det, a_i, t_i] = g_ign[pg[pp], a_i]
    return cand, matched, matched_ign


def _evaluate(dets, gts, iou_thrs, rec_thrs, max_dets, score_threshold=None):
    """COCOeval evaluate + accumulate. dets = (img, label, score, xywh boxes); gts = (img, label, xywh
    boxes, area, crowd), all numpy. Returns classes, precision [T, R, K, A] (for the largest
    max-detections cap), recall [T, K, A, M] and, when score_threshold is set, (tp, fp, n_gt)."""
    img_d, lab_d, score_d, box_d = dets
    img_g, lab_g, box_g, area_g, crowd_g = gts
    classes = np.unique(np.concatenate([lab_d, lab_g]))
    n_cls, n_thr, n_rec = classes.size, iou_thrs.size, rec_thrs.size
    n_area, n_max = len(_AREA_RANGES), len(max_dets)
    precision = np.full((n_thr, n_rec, n_cls, n_area), -1.0)
    recall = np.full((n_thr, n_cls, n_area, n_max), -1.0)
    counts = None
    if n_cls == 0:
        return classes, precision, recall, (0, 0, 0) if score_threshold is not None else None

    # Matching thresholds: the AP ones, plus 0.5 for the precision/recall at score_threshold.
    thr = np.minimum(iou_thrs, _MAX_IOU)
    pr_t = None
    if score_threshold is not None:
        hits = np.flatnonzero(iou_thrs == _PR_IOU)
        if hits.size:
            pr_t = int(hits[0])
        else:
            thr = np.append(thr, _PR_IOU)
            pr_t = thr.size - 1

    # Detections: by (image, class), then score descending (stable), cut to max_dets[-1] per group.
    k_d = np.searchsorted(classes, lab_d)
    by_score = np.argsort(-score_d, kind="stable")      # ties keep the input order: image, then within it
    grp_d = img_d * n_cls + k_d
    order = by_score[np.argsort(grp_d[by_score], kind="stable")]
    # COCOeval's accumulation order: per class, all images' detections by score, ties by image then
    # per-image order (its mergesort of the per-image lists concatenated)
    k_small = k_d[by_score].astype(np.int16 if n_cls < 2 ** 15 else np.int64)   # int16: a radix sort
    acc_all = by_score[np.argsort(k_small, kind="stable")]
    grp_d = grp_d[order]
    rank = _rank_in_group(grp_d)
    keep = rank < max_dets[-1]
    order, grp_d, rank = order[keep], grp_d[keep], rank[keep]
    kept_pos = np.full(score_d.size, -1, np.int64)
    kept_pos[order] = np.arange(order.size)
    acc = kept_pos[acc_all]
    acc = acc[acc >= 0]                                  # kept detections, in accumulation order
    k_d, score_d, box_d = k_d[order], score_d[order], box_d[order]
    area_d = box_d[:, 2] * box_d[:, 3]
    nd = order.size

    # Ground truths: by (image, class), input order within.
    k_g = np.searchsorted(classes, lab_g)
    grp_g = img_g * n_cls + k_g
    order_g = np.argsort(grp_g, kind="stable")
    grp_g, k_g, box_g, area_g, crowd_g = (grp_g[order_g], k_g[order_g], box_g[order_g], area_g[order_g],
                                          crowd_g[order_g])
    lo = np.array([r[1] for r in _AREA_RANGES])
    hi = np.array([r[2] for r in _AREA_RANGES])
    g_ign = crowd_g[:, None] | (area_g[:, None] < lo) | (area_g[:, None] > hi)    # [G, A]
    d_out = (area_d[:, None] < lo) | (area_d[:, None] > hi)                        # [D, A]
    npig = np.stack([np.bincount(k_g[~g_ign[:, a]], minlength=n_cls) for a in range(n_area)], axis=1)  # [K, A]

    p_det, p_gt, p_iou = _candidate_pairs(grp_d, box_d, grp_g, box_g, crowd_g, thr.min())
    cand, matched, matched_ign = _greedy_match(p_det, p_gt, p_iou, grp_d, g_ign, crowd_g, thr)
    tp_c = matched & ~matched_ign                                                  # [C, A, T']

    if pr_t is not None:
        above = score_d >= score_threshold
        ac = above[cand]
        tp = int(np.count_nonzero(tp_c[ac, 0, pr_t]))
        # false positives: non-ignored (area "all") detections that are not matched
        fp = (int(np.count_nonzero(above & ~d_out[:, 0]))
              - int(np.count_nonzero(matched[ac, 0, pr_t] & ~d_out[cand[ac], 0])))
        counts = (tp, fp, int(np.count_nonzero(~g_ign[:, 0])))
    tp_c, matched = tp_c[:, :, :n_thr], matched[:, :, :n_thr]

    # Candidates in the accumulation order.
    pos = np.empty(nd, np.int64)
    pos[acc] = np.arange(nd)
    corder = np.argsort(pos[cand])
    cpos, ck = pos[cand][corder], k_d[cand][corder]            # ck is sorted
    c_idx = cand[corder]
    tp_c, matched = tp_c[corder], matched[corder]
    c_start = np.searchsorted(ck, np.arange(n_cls + 1))         # class k's candidates: c_start[k]:c_start[k+1]
    has_gt = npig > 0

    def class_cumsum(x):
        """Inclusive cumulative sums over candidates (axis 0), restarting at each class."""
        cs = np.cumsum(x, axis=0, dtype=np.int64)
        return cs - np.concatenate([np.zeros((1,) + cs.shape[1:], np.int64), cs])[c_start[ck]]

    # Recall: true positives among each class's first m detections per image, over its gts.
    ev_c, ev_a, ev_t = np.nonzero(tp_c)                         # every true positive (candidate, area, thr)
    ev_rank = rank[c_idx[ev_c]]
    ev_flat = (ck[ev_c] * n_area + ev_a) * n_thr + ev_t
    for m, cap in enumerate(max_dets):
        tps = np.bincount(ev_flat[ev_rank < cap], minlength=n_cls * n_area * n_thr).reshape(n_cls, n_area, n_thr)
        rc = tps / np.maximum(npig, 1)[:, :, None]
        recall[:, :, :, m] = np.where(has_gt[:, :, None], rc, -1.0).transpose(2, 0, 1)

    # Precision (largest cap). Between two true positives of a ranking precision can only fall, and
    # each recall threshold's searchsorted position is a true positive (or the first detection, whose
    # monotone precision is that of the best true positive), so COCOeval's
    #   q[r] = max(precision[i:]) with i = searchsorted(recall, r, "left"), 0 when i is past the end
    # equals the max precision over the true positives whose recall is >= r (0 when there is none).
    # Only the true positives are needed, with their exact tp / fp counts.
    r_order = np.argsort(rec_thrs, kind="stable")
    r_sorted = rec_thrs[r_order]
    seg_first = np.searchsorted(k_d[acc], np.arange(n_cls))    # accumulation position where class k starts
    by_area = np.argsort(ev_a, kind="stable")
    area_bounds = np.searchsorted(ev_a[by_area], np.arange(n_area + 1))
    for a in range(n_area):
        keep_a = ~d_out[acc, a]
        base = np.concatenate([[0], np.cumsum(keep_a, dtype=np.int64)])
        # non-ignored detections up to each candidate (inclusive) within its class; of these, the
        # matched ones are not false positives
        n_kept = base[cpos + 1] - base[seg_first[ck]]
        tp_cnt = class_cumsum(tp_c[:, a, :])                                      # [C, T]
        fp_cnt = n_kept[:, None] - class_cumsum(matched[:, a, :] & ~d_out[c_idx, a][:, None])
        sel = by_area[area_bounds[a]:area_bounds[a + 1]]
        e_c, e_t = ev_c[sel], ev_t[sel]
        tp = tp_cnt[e_c, e_t].astype(np.float64)
        fp = fp_cnt[e_c, e_t].astype(np.float64)
        e_k = ck[e_c]
        rc = tp / npig[e_k, a]
        pr = tp / (fp + tp + _EPS)
        j = np.searchsorted(r_sorted, rc, side="right")         # the TP reaches sorted thresholds [0, j)
        best = np.zeros((n_thr, n_cls, n_rec + 1))
        np.maximum.at(best, (e_t, e_k, j), pr)
        q = np.maximum.accumulate(best[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:]   # max over j > r
        q = np.where(has_gt[None, :, a, None], q, -1.0)
        precision[:, :, :, a][:, r_order] = q.transpose(0, 2, 1)
    return classes, precision, recall, counts


def _mean_defined(x):
    v = x[x > -1]
    return float(np.mean(v)) if v.size else -1.0


def _summarize(precision, recall, iou_thrs):
    """COCOeval.summarize's 12 stats from precision [T, R, K, A] (largest cap) and recall [T, K, A, M]."""
    def ap_at(iou):
        t = np.flatnonzero(iou_thrs == iou)
        return _mean_defined(precision[t][:, :, :, 0])

    m_last = recall.shape[3] - 1
    return [_mean_defined(precision[:, :, :, 0]), ap_at(0.5), ap_at(0.75),
            _mean_defined(precision[:, :, :, 1]), _mean_defined(precision[:, :, :, 2]),
            _mean_defined(precision[:, :, :, 3]),
            _mean_defined(recall[:, :, 0, 0]), _mean_defined(recall[:, :, 0, 1]), _mean_defined(recall[:, :, 0, 2]),
            _mean_defined(recall[:, :, 1, m_last]), _mean_defined(recall[:, :, 2, m_last]),
            _mean_defined(recall[:, :, 3, m_last])]


def _thresholds(value, default, name):
    if value is None:
        return default
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"MeanAveragePrecision: {name} must be None or a list of floats, got {value!r}") from None
    if arr.size == 0 or not np.all((arr >= 0) & (arr <= 1)):
        raise ValueError(f"MeanAveragePrecision: {name} must be a non-empty list of floats in [0, 1], got {value!r}")
    return arr


class MeanAveragePrecision:
    """COCO mean average precision and recall for object detection, as
    ``torchmetrics.detection.MeanAveragePrecision`` (iou_type "bbox"), agreeing with pycocotools.

    Arguments (as torchmetrics):

    * ``box_format``: "xyxy" (x1, y1, x2, y2), "xywh" (x, y, w, h) or "cxcywh" (centre x, centre y, w, h).
    * ``iou_type``: only "bbox".
    * ``iou_thresholds``: default 0.50:0.05:0.95 (as ``np.linspace(.5, .95, 10)``).
    * ``rec_thresholds``: default 0:0.01:1 (101 points); sorted (pycocotools given an unsorted list
      leaves every threshold after the first one past the highest recall at 0).
    * ``max_detection_thresholds``: three caps on detections per image and class, default
      (1, 10, 100); sorted. The ``mar_*`` keys are named after them.
    * ``class_metrics``: also compute ``map_per_class`` and ``mar_{max}_per_class``.
    * ``average``: "macro" (mean over classes) or "micro" (every label treated as one class, as
      torchmetrics does; the per-class values are still per class).
    * ``score_threshold`` (dlcore only): when set, ``compute()`` also returns ``precision`` and
      ``recall`` of the detections scoring >= it, at IoU 0.5: with the same matching as the mAP (per
      image and class, at most ``max_detection_thresholds[-1]`` detections, crowd ground truths and
      detections matched to them ignored; area range "all"), TP = matched detections, FP =
      unmatched ones, summed over all images and classes (classes merged under average="micro");
      precision = TP / (TP + FP), recall = TP / (number of non-crowd ground truths, area <= 1e10).
      Either is -1
      when its denominator is 0.

    ``update(preds, target)``: lists with one dict per image. preds: ``boxes`` [N, 4], ``scores``
    [N], ``labels`` [N] (integers); target: ``boxes`` [M, 4], ``labels`` [M], optional ``iscrowd``
    [M] and ``area`` [M] (used where > 0, else the box area). dlcore Tensors or numpy arrays (or
    anything with ``.numpy()``).

    ``compute()`` returns a dict of dlcore tensors: float32 scalars ``map``, ``map_50``, ``map_75``,
    ``map_small``, ``map_medium``, ``map_large``, ``mar_1``, ``mar_10``, ``mar_100`` (named after
    the caps), ``mar_small``, ``mar_medium``, ``mar_large``; float32 ``map_per_class`` and
    ``mar_100_per_class`` (one value per class in ``classes``, or -1 when class_metrics is False);
    int32 ``classes`` (the sorted labels seen in preds or targets); and, with score_threshold,
    float32 scalars ``precision`` and ``recall``. As torchmetrics, a one-element result is a 0-d
    tensor (e.g. ``classes`` with a single class). A value with nothing to average (no ground
    truths; an IoU of 0.5/0.75 not among iou_thresholds) is -1.

    ``map`` averages over all IoU thresholds at the largest cap; pycocotools reads maxDets=100
    there whatever the caps are (see the module docstring).
    """

    def __init__(self, box_format="xyxy", iou_type="bbox", iou_thresholds=None, rec_thresholds=None,
                 max_detection_thresholds=None, class_metrics=False, average="macro", score_threshold=None):
        if box_format not in _BOX_FORMATS:
            raise ValueError(f"MeanAveragePrecision: box_format must be one of {_BOX_FORMATS}, got {box_format!r}")
        if not (iou_type == "bbox" or (isinstance(iou_type, (tuple, list)) and tuple(iou_type) == ("bbox",))):
            raise ValueError(f"MeanAveragePrecision: iou_type must be 'bbox' (segmentation masks are not supported), "
                             f"got {iou_type!r}")
        if average not in _AVERAGES:
            raise ValueError(f"MeanAveragePrecision: average must be one of {_AVERAGES}, got {average!r}")
        if not isinstance(class_metrics, bool):
            raise ValueError(f"MeanAveragePrecision: class_metrics must be a bool, got {class_metrics!r}")
        self.iou_thresholds = _thresholds(iou_thresholds, np.linspace(0.5, 0.95, 10), "iou_thresholds")
        self.rec_thresholds = np.sort(_thresholds(rec_thresholds, np.linspace(0.0, 1.0, 101), "rec_thresholds"))
        if max_detection_thresholds is None:
            caps = [1, 10, 100]
        else:
            caps = list(max_detection_thresholds) if isinstance(max_detection_thresholds, (list, tuple)) else None
            if (caps is None or len(caps) != 3
                    or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and c > 0 for c in caps)):
                raise ValueError("MeanAveragePrecision: max_detection_thresholds must be None or a list of 3 positive "
                                 f"ints, got {max_detection_thresholds!r}")
        self.max_detection_thresholds = sorted(int(c) for c in caps)
        if score_threshold is not None and (not isinstance(score_threshold, numbers.Real)
                                            or not np.isfinite(score_threshold)):
            raise ValueError(f"MeanAveragePrecision: score_threshold must be None or a finite number, got "
                             f"{score_threshold!r}")
        self.box_format = box_format
        self.iou_type = "bbox"
        self.class_metrics = class_metrics
        self.average = average
        self.score_threshold = None if score_threshold is None else float(score_threshold)
        self.warn_on_many_detections = True
        self.reset()

    def reset(self):
        """Forget every image seen so far."""
        self._dets = []     # per image: (labels int64 [N], scores float64 [N], xywh float64 [N, 4])
        self._gts = []      # per image: (labels int64 [M], xywh float64 [M, 4], area float64 [M], crowd bool [M])

    # -- input checking ---------------------------------------------------------------------------
    def _field(self, d, key, where, n=None, required=True):
        if key not in d:
            if required:
                raise ValueError(f"MeanAveragePrecision.update: {where} has no {key!r} entry (keys: {sorted(d)})")
            return None
        arr = _to_numpy(d[key], f"{where}[{key!r}]")
        if key == "boxes":
            if arr.size == 0 and arr.ndim in (1, 2):
                arr = arr.reshape(0, 4)
            if arr.ndim != 2 or arr.shape[1] != 4:
                raise ValueError(f"MeanAveragePrecision.update: {where}['boxes'] must have shape (N, 4), got "
                                 f"{tuple(arr.shape)}")
        elif arr.ndim != 1:
            raise ValueError(f"MeanAveragePrecision.update: {where}[{key!r}] must have shape (N,), got "
                             f"{tuple(arr.shape)}")
        if n is not None and arr.shape[0] != n:
            raise ValueError(f"MeanAveragePrecision.update: {where}[{key!r}] has {arr.shape[0]} entries but "
                             f"{where}['boxes'] has {n} (shapes {tuple(arr.shape)} and ({n}, 4))")
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
            if not (key == "iscrowd" and arr.dtype == bool):
                raise ValueError(f"MeanAveragePrecision.update: {where}[{key!r}] must be numeric, got dtype "
                                 f"{arr.dtype}")
        if key == "labels":
            if not np.issubdtype(arr.dtype, np.integer):
                if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                    raise ValueError(f"MeanAveragePrecision.update: {where}['labels'] must hold integer class ids")
            return arr.astype(np.int64)
        if key == "iscrowd":
            return arr.astype(bool)
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"MeanAveragePrecision.update: {where}[{key!r}] (shape {tuple(arr.shape)}) holds "
                             f"non-finite values")
        return arr

    def update(self, preds, target):
        """Add a batch: ``preds`` and ``target`` are lists with one dict per image (see the class doc).
        The whole batch is checked before any of it is stored."""
        for name, v in (("preds", preds), ("target", target)):
            if not isinstance(v, (list, tuple)):
                raise ValueError(f"MeanAveragePrecision.update: {name} must be a list of dicts (one per image), got "
                                 f"{type(v).__name__}")
        if len(preds) != len(target):
            raise ValueError(f"MeanAveragePrecision.update: preds and target must have the same length (one entry per "
                             f"image), got {len(preds)} and {len(target)}")
        dets, gts = [], []
        many = False
        for i, (p, t) in enumerate(zip(preds, target)):
            for name, d in (("preds", p), ("target", t)):
                if not isinstance(d, dict):
                    raise ValueError(f"MeanAveragePrecision.update: {name}[{i}] must be a dict, got {type(d).__name__}")
            boxes = self._field(p, "boxes", f"preds[{i}]")
            n = boxes.shape[0]
            scores = self._field(p, "scores", f"preds[{i}]", n)
            labels = self._field(p, "labels", f"preds[{i}]", n)
            xywh = _to_xywh(boxes, self.box_format)
            dets.append((labels, scores, xywh))
            many |= n > self.max_detection_thresholds[-1]
            gboxes = self._field(t, "boxes", f"target[{i}]")
            m = gboxes.shape[0]
            glabels = self._field(t, "labels", f"target[{i}]", m)
            crowd = self._field(t, "iscrowd", f"target[{i}]", m, required=False)
            area = self._field(t, "area", f"target[{i}]", m, required=False)
            gxywh = _to_xywh(gboxes, self.box_format)
            box_area = gxywh[:, 2] * gxywh[:, 3]
            area = box_area if area is None else np.where(area > 0, area, box_area)
            gts.append((glabels, gxywh, area, np.zeros(m, bool) if crowd is None else crowd))
        if many and self.warn_on_many_detections:
            warnings.warn(f"MeanAveragePrecision: an image has more than {self.max_detection_thresholds[-1]} "
                          f"detections; only the highest-scoring {self.max_detection_thresholds[-1]} per class are "
                          f"evaluated. Raise max_detection_thresholds if that is not wanted, or set "
                          f"warn_on_many_detections = False to silence this.", UserWarning, stacklevel=2)
        self._dets.extend(dets)
        self._gts.extend(gts)

    # -- computing ----------------------------------------------------------------------------------
    def _arrays(self):
        n_img = len(self._dets)
        nd = np.array([d[0].size for d in self._dets], np.int64)
        ng = np.array([g[0].size for g in self._gts], np.int64)
        img = np.arange(n_img, dtype=np.int64)

        def cat(items, j, shape, dtype):
            parts = [x[j] for x in items]
            return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(shape, dtype)

        dets = (np.repeat(img, nd), cat(self._dets, 0, 0, np.int64), cat(self._dets, 1, 0, np.float64),
                cat(self._dets, 2, (0, 4), np.float64))
        gts = (np.repeat(img, ng), cat(self._gts, 0, 0, np.int64), cat(self._gts, 1, (0, 4), np.float64),
               cat(self._gts, 2, 0, np.float64), cat(self._gts, 3, 0, bool))
        return n_img, dets, gts

    def compute(self):
        """The metrics over every image seen since the last ``reset()`` (see the class doc)."""
        from . import _C
        from ._tensor import tensor

        _, dets, gts = self._arrays()
        caps = self.max_detection_thresholds
        macro = None
        if self.average == "micro":
            dets_eval = (dets[0], np.zeros_like(dets[1])) + dets[2:]
            gts_eval = (gts[0], np.zeros_like(gts[1])) + gts[2:]
        else:
            dets_eval, gts_eval = dets, gts
        classes, precision, recall, counts = _evaluate(dets_eval, gts_eval, self.iou_thresholds,
                                                       self.rec_thresholds, caps, self.score_threshold)
        if self.average == "macro":
            macro = classes, precision, recall
        stats = _summarize(precision, recall, self.iou_thresholds)
        names = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large", f"mar_{caps[0]}",
                 f"mar_{caps[1]}", f"mar_{caps[2]}", "mar_small", "mar_medium", "mar_large"]
        out = dict(zip(names, stats))

        if self.class_metrics and macro is None:   # micro: the per-class values still come per class
            macro = _evaluate(dets, gts, self.iou_thresholds, self.rec_thresholds, caps)[:3]
        classes = np.unique(np.concatenate([dets[1], gts[1]]))
        if self.class_metrics:
            _, p, r = macro
            map_pc = [_mean_defined(p[:, :, k, 0]) for k in range(classes.size)]
            mar_pc = [_mean_defined(r[:, k, 0, -1]) for k in range(classes.size)]
        else:
            map_pc, mar_pc = [-1.0], [-1.0]

        def f32(v):
            arr = np.asarray(v, np.float32)
            return tensor(arr.reshape(()) if arr.size == 1 else arr, dtype=_C.dtype.float32)

        result = {k: f32(v) for k, v in out.items()}
        result["map_per_class"] = f32(map_pc)
        result[f"mar_{caps[-1]}_per_class"] = f32(mar_pc)
        if self.score_threshold is not None:
            tp, fp, n_gt = counts
            result["precision"] = f32(tp / (tp + fp) if tp + fp else -1.0)
            result["recall"] = f32(tp / n_gt if n_gt else -1.0)
        cls = classes.astype(np.int32)
        result["classes"] = tensor(cls.reshape(()) if cls.size == 1 else cls, dtype=_C.dtype.int32)
        return result

    def __repr__(self):
        return (f"MeanAveragePrecision(box_format={self.box_format!r}, class_metrics={self.class_metrics}, "
                f"average={self.average!r}, score_threshold={self.score_threshold}, images={len(self._dets)})")
