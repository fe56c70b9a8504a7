"""dlcore.metrics.MeanAveragePrecision: hand-worked cases, and pycocotools' COCOeval as the reference on
seeded random scenes (skipped when pycocotools is not installed).

Random boxes lie on a 0.5 grid so that every box format converts to the same float64 xywh boxes
that the reference gets, and IoUs (and IoU ties, and IoUs equal to a threshold) come out bit for
bit the same on both sides."""
import contextlib
import io
import warnings

import numpy as np
import pytest

import dlcore
from dlcore.metrics import MeanAveragePrecision

STAT_KEYS = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10", "mar_100",
             "mar_small", "mar_medium", "mar_large"]


def val(x):
    return np.asarray(x.numpy()).astype(np.float64)


def box(x1, y1, x2, y2):
    return [float(x1), float(y1), float(x2), float(y2)]


def det(boxes, scores, labels):
    return {"boxes": np.array(boxes, np.float64).reshape(-1, 4), "scores": np.array(scores, np.float64),
            "labels": np.array(labels, np.int64)}


def gt(boxes, labels, **extra):
    d = {"boxes": np.array(boxes, np.float64).reshape(-1, 4), "labels": np.array(labels, np.int64)}
    d.update({k: np.array(v) for k, v in extra.items()})
    return d


def run(preds, targets, **kw):
    m = MeanAveragePrecision(**kw)
    m.update(preds, targets)
    return m.compute()


def stats(res, keys=STAT_KEYS):
    return np.array([float(res[k].item()) for k in keys])


# -- hand-worked ----------------------------------------------------------------------------------

def test_perfect_detection():
    res = run([det([box(10, 10, 20, 20)], [0.9], [3])], [gt([box(10, 10, 20, 20)], [3])])
    # a 10x10 box is "small": small is 1, medium/large have no ground truth (-1)
    expect = dict(map=1, map_50=1, map_75=1, map_small=1, map_medium=-1, map_large=-1, mar_1=1, mar_10=1,
                  mar_100=1, mar_small=1, mar_medium=-1, mar_large=-1)
    for k, v in expect.items():
        assert res[k].item() == v, k
    assert res["map"].dtype == dlcore.float32 and list(res["map"].shape) == []
    assert res["classes"].dtype == dlcore.int32 and res["classes"].item() == 3
    assert res["map_per_class"].item() == -1 and res["mar_100_per_class"].item() == -1


def test_one_detection_at_iou_058():
    # gt 100x100 (large), det 100x58 inside it: IoU 0.58 >= t only for t = 0.50, 0.55 -> 2 of 10 thresholds
    res = run([det([box(0, 0, 100, 58)], [0.5], [0])], [gt([box(0, 0, 100, 100)], [0])])
    np.testing.assert_allclose(stats(res), [0.2, 1, 0, -1, -1, 0.2, 0.2, 0.2, 0.2, -1, -1, 0.2], atol=1e-7)


def test_torchmetrics_docstring_example():
    # torchmetrics' documented example: IoU 304/392 = 0.776 -> matched at 6 of 10 thresholds
    res = run([det([[258.0, 41.0, 606.0, 285.0]], [0.536], [0])], [gt([[214.0, 41.0, 562.0, 285.0]], [0])])
    np.testing.assert_allclose(stats(res), [0.6, 1, 1, -1, -1, 0.6, 0.6, 0.6, 0.6, -1, -1, 0.6], atol=1e-7)


def three_gts_scene():
    # three large gts; the best-scored detection hits nothing, the next two hit gts A and B exactly
    gts = [box(0, 0, 100, 100), box(200, 0, 300, 100), box(400, 0, 500, 100)]
    dets = [box(600, 0, 700, 100), gts[0], gts[1]]
    return [det(dets, [0.9, 0.8, 0.7], [0, 0, 0])], [gt(gts, [0, 0, 0])]


def test_false_positive_first():
    # ranked: FP, TP, TP -> recall 0, 1/3, 2/3; precision 0, 1/2, 2/3 -> made monotone: 2/3 everywhere,
    # read at the 67 recall thresholds 0.00 .. 0.66 (<= 2/3), 0 above -> AP = (2/3) * 67 / 101
    ap = (2 / 3) * 67 / 101
    res = run(*three_gts_scene())
    np.testing.assert_allclose(stats(res), [ap, ap, ap, -1, -1, ap, 0, 2 / 3, 2 / 3, -1, -1, 2 / 3], atol=1e-7)


def test_precision_recall_at_score_threshold():
    preds, targets = three_gts_scene()
    res = run(preds, targets, score_threshold=0.75)      # keeps the FP (0.9) and one TP (0.8)
    assert res["precision"].item() == pytest.approx(0.5) and res["recall"].item() == pytest.approx(1 / 3)
    res = run(preds, targets, score_threshold=0.0)
    assert res["precision"].item() == pytest.approx(2 / 3) and res["recall"].item() == pytest.approx(2 / 3)
    res = run(preds, targets, score_threshold=0.95)       # nothing kept: precision undefined
    assert res["precision"].item() == -1 and res["recall"].item() == 0
    res = run(preds, [gt(np.zeros((0, 4)), [])], score_threshold=0.5)   # no ground truth: recall undefined
    assert res["precision"].item() == 0 and res["recall"].item() == -1
    assert "precision" not in run(preds, targets)
    # IoU 0.5 is used even when it is not among iou_thresholds; the det at IoU 0.58 is a TP there
    res = run([det([box(0, 0, 100, 58)], [0.5], [0])], [gt([box(0, 0, 100, 100)], [0])], score_threshold=0.1,
              iou_thresholds=[0.75])
    assert res["precision"].item() == 1 and res["recall"].item() == 1 and res["map"].item() == 0


def test_duplicate_detection_is_false_positive_and_ties_keep_input_order():
    g = box(0, 0, 100, 100)
    # two identical detections, equal scores: the first (input order) takes the gt, the second is a FP
    res = run([det([g, g], [0.5, 0.5], [0, 0])], [gt([g], [0])])
    assert res["map"].item() == pytest.approx(1.0) and res["mar_1"].item() == pytest.approx(1.0)
    # a worse box first with the same score: it takes the gt at low thresholds only
    res = run([det([box(0, 0, 100, 58), g], [0.5, 0.5], [0, 0])], [gt([g], [0])])
    # t in {.5, .55}: TP then FP -> AP 1; other 8 thresholds: FP then TP -> precision 1/2 -> AP 0.5
    assert res["map"].item() == pytest.approx((2 * 1 + 8 * 0.5) / 10)


def test_crowd_ground_truth_ignores_detections_inside_it():
    g = box(0, 0, 50, 50)
    crowd = box(100, 100, 400, 400)
    preds = [det([box(150, 150, 200, 200), g], [0.9, 0.8], [0, 0])]
    res = run(preds, [gt([g, crowd], [0, 0], iscrowd=[0, 1])])
    # IoU with a crowd gt is inter / det area = 1: the first det is ignored, not a FP
    assert res["map"].item() == pytest.approx(1.0) and res["mar_100"].item() == pytest.approx(1.0)
    res = run(preds, [gt([g, crowd], [0, 0])])
    assert res["map"].item() < 0.6                      # not crowd: a missed gt and a FP


def test_given_area_decides_the_area_range():
    g = box(0, 0, 10, 10)                                # 100 px: small by its box
    res = run([det([g], [0.9], [0])], [gt([g], [0], area=[50 * 50])])
    assert res["map_medium"].item() == 1 and res["map_small"].item() == -1
    # the detection's own area (100, small) counts only when it is unmatched
    res = run([det([g], [0.9], [0])], [gt([g], [0], area=[0.0])])  # 0 -> the box area, as torchmetrics
    assert res["map_small"].item() == 1 and res["map_medium"].item() == -1


def test_per_class_values_and_classes():
    preds = [det([box(0, 0, 100, 100), box(0, 0, 100, 58), box(500, 500, 600, 600)], [0.9, 0.8, 0.7], [0, 1, 7])]
    targets = [gt([box(0, 0, 100, 100), box(0, 0, 100, 100)], [0, 1])]
    res = run(preds, targets, class_metrics=True)
    assert res["classes"].numpy().tolist() == [0, 1, 7]
    assert res["classes"].dtype == dlcore.int32
    np.testing.assert_allclose(val(res["map_per_class"]), [1.0, 0.2, -1.0], atol=1e-7)
    np.testing.assert_allclose(val(res["mar_100_per_class"]), [1.0, 0.2, -1.0], atol=1e-7)
    assert res["map"].item() == pytest.approx(0.6)       # class 7 has no gt: left out of the mean
    res = run(preds, targets)
    np.testing.assert_allclose(val(res["map_per_class"]), -1.0)
    # micro: one class; the label-1 det at IoU 1 with the label-0 gt
    res = run(preds, targets, average="micro", class_metrics=True)
    np.testing.assert_allclose(val(res["map_per_class"]), [1.0, 0.2, -1.0], atol=1e-7)
    assert res["classes"].numpy().tolist() == [0, 1, 7]


def test_custom_thresholds_and_names():
    preds, targets = three_gts_scene()
    res = run(preds, targets, iou_thresholds=[0.3, 0.6], max_detection_thresholds=[100, 2, 5], class_metrics=True)
    assert {"mar_2", "mar_5", "mar_100", "mar_100_per_class"} <= set(res)
    assert res["map_50"].item() == -1 and res["map_75"].item() == -1   # not among the thresholds
    res = run(preds, targets, max_detection_thresholds=[1, 2, 3])
    assert res["map"].item() > 0                         # the largest cap, not pycocotools' fixed 100
    assert "mar_3_per_class" in res


def test_empty_and_reset():
    m = MeanAveragePrecision(class_metrics=True)
    res = m.compute()
    assert all(res[k].item() == -1 for k in STAT_KEYS)
    assert list(res["classes"].shape) == [0]
    preds, targets = three_gts_scene()
    m.update(preds, targets)
    first = stats(m.compute())
    m.update(*three_gts_scene())
    np.testing.assert_allclose(stats(m.compute()), first)   # the same scene twice: the same curve
    m.reset()
    assert all(m.compute()[k].item() == -1 for k in STAT_KEYS)
    m.update([det([box(0, 0, 10, 10)], [0.5], [0])], [gt(np.zeros((0, 4)), [])])   # dets only: nothing defined
    assert all(m.compute()[k].item() == -1 for k in STAT_KEYS)
    m.reset()
    m.update([det(np.zeros((0, 4)), [], [])], [gt([box(0, 0, 10, 10)], [0])])      # gts only: 0
    assert m.compute()["map"].item() == 0 and m.compute()["mar_100"].item() == 0


def test_dlcore_tensor_inputs_and_empty_shapes():
    preds = [{"boxes": dlcore.tensor([[10.0, 10.0, 20.0, 20.0]]), "scores": dlcore.tensor([0.9]),
              "labels": dlcore.tensor([1])},
             {"boxes": dlcore.tensor([]), "scores": dlcore.tensor([]), "labels": dlcore.tensor([], dtype=dlcore.int64)}]
    targets = [{"boxes": dlcore.tensor([[10.0, 10.0, 20.0, 20.0]]), "labels": dlcore.tensor([1])},
               {"boxes": dlcore.zeros(0, 4), "labels": dlcore.tensor([], dtype=dlcore.int64)}]
    assert run(preds, targets)["map"].item() == 1


def test_box_formats_agree():
    rng = np.random.default_rng(5)
    preds, targets, _ = random_scene(rng, 30, 3)
    ref = stats(run(to_format(preds, "xyxy"), to_format(targets, "xyxy"), box_format="xyxy"))
    for fmt in ("xywh", "cxcywh"):
        np.testing.assert_array_equal(stats(run(to_format(preds, fmt), to_format(targets, fmt), box_format=fmt)), ref)


def test_many_detections_warn():
    preds = [det([box(i, 0, i + 10, 10) for i in range(101)], np.linspace(0, 1, 101), np.zeros(101, int))]
    with pytest.warns(UserWarning, match="more than 100 detections"):
        MeanAveragePrecision().update(preds, [gt([box(0, 0, 10, 10)], [0])])
    m = MeanAveragePrecision()
    m.warn_on_many_detections = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.update(preds, [gt([box(0, 0, 10, 10)], [0])])


@pytest.mark.parametrize("kwargs, match", [
    (dict(box_format="xxyy"), "box_format"),
    (dict(iou_type="segm"), "iou_type"),
    (dict(average="weighted"), "average"),
    (dict(iou_thresholds=[0.5, 1.5]), "iou_thresholds"),
    (dict(max_detection_thresholds=[1, 10]), "max_detection_thresholds"),
    (dict(max_detection_thresholds=[1, 10, 0]), "max_detection_thresholds"),
    (dict(class_metrics=1), "class_metrics"),
    (dict(score_threshold=float("nan")), "score_threshold"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MeanAveragePrecision(**kwargs)


def test_bad_inputs():
    m = MeanAveragePrecision()
    good_p = det([box(0, 0, 10, 10)], [0.5], [0])
    good_t = gt([box(0, 0, 10, 10)], [0])
    cases = [
        (([good_p], [good_t, good_t]), r"same length.*1 and 2"),
        ((good_p, [good_t]), "preds must be a list"),
        (([good_p], ["x"]), r"target\[0\] must be a dict"),
        (([{"boxes": np.zeros((1, 3)), "scores": [0.5], "labels": [0]}], [good_t]), r"preds\[0\]\['boxes'\].*\(1, 3\)"),
        (([{"boxes": np.zeros((2, 4)), "scores": [0.5], "labels": [0, 0]}], [good_t]),
         r"preds\[0\]\['scores'\] has 1 entries.*2"),
        (([{"boxes": np.zeros((1, 4)), "labels": [0]}], [good_t]), r"preds\[0\] has no 'scores'"),
        (([good_p], [{"boxes": [[0, 0, np.nan, 1]], "labels": [0]}]), r"target\[0\]\['boxes'\].*non-finite"),
        (([good_p], [{"boxes": [[0, 0, np.inf, 1]], "labels": [0]}]), "non-finite"),
        (([{"boxes": np.zeros((1, 4)), "scores": [np.nan], "labels": [0]}], [good_t]), "non-finite"),
        (([{"boxes": np.zeros((1, 4)), "scores": [0.5], "labels": [0.5]}], [good_t]), "integer class ids"),
        (([good_p], [gt([box(0, 0, 10, 10)], [0], iscrowd=[0, 1])]), r"target\[0\]\['iscrowd'\] has 2"),
        (([{"boxes": np.zeros((1, 4)), "scores": [[0.5]], "labels": [0]}], [good_t]), r"shape \(N,\), got \(1, 1\)"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            m.update(*args)
    m.update([good_p], [good_t])          # a bad batch stored nothing: one image, perfect
    assert m.compute()["map"].item() == 1


# -- against pycocotools ----------------------------------------------------------------------------

def grid(rng, lo, hi, size=None):
    """Uniform values on a 0.5 grid in [lo, hi]."""
    return rng.integers(int(lo * 2), int(hi * 2) + 1, size=size) / 2.0


def random_scene(rng, n_img, n_cls, crowd=False, area=False):
    """Images with xywh boxes of every size, several classes, a class that occurs only among the
    detections, images without gts or without detections, some with > 100 detections, and scores
    rounded to 2 decimals (many ties). Returns preds, targets (xywh) and the crowd flags."""
    preds, targets = [], []
    for _ in range(n_img):
        n_gt = 0 if rng.random() < 0.15 else int(rng.integers(1, 12))
        size_class = rng.integers(0, 3, n_gt)
        side_lo = np.array([2, 30, 95])[size_class]
        side_hi = np.array([34, 100, 300])[size_class]
        w = grid(rng, 0, 1, n_gt) * (side_hi - side_lo) + side_lo
        h = np.maximum(0.5, w * grid(rng, 0.5, 2.0, n_gt))
        w, h = np.round(w * 2) / 2, np.round(h * 2) / 2
        xy = grid(rng, 0, 600, (n_gt, 2))
        g_boxes = np.column_stack([xy, w, h])
        g_labels = rng.integers(0, n_cls, n_gt)
        t = {"boxes": g_boxes, "labels": g_labels}
        if crowd:
            t["iscrowd"] = (rng.random(n_gt) < 0.15).astype(np.int64)
        if area:
            t["area"] = np.where(rng.random(n_gt) < 0.5, 0.0, grid(rng, 1, 120 ** 2, n_gt))
        targets.append(t)

        d_boxes, d_labels = [], []
        if rng.random() > 0.1:
            for b, lab in zip(g_boxes, g_labels):
                for _ in range(int(rng.integers(0, 4))):
                    jit = np.round(rng.normal(0, 0.12, 4) * np.r_[b[2:], b[2:]] * 2) / 2
                    nb = b + jit
                    nb[2:] = np.maximum(nb[2:], 0.5)
                    d_boxes.append(nb)
                    d_labels.append(lab if rng.random() < 0.85 else rng.integers(0, n_cls + 1))
            n_fp = int(rng.integers(0, 8)) if rng.random() > 0.1 else int(rng.integers(100, 160))
            for _ in range(n_fp):
                s = grid(rng, 2, 150)
                d_boxes.append(np.r_[grid(rng, 0, 600, 2), s, max(0.5, np.round(s * grid(rng, 0.5, 2.0) * 2) / 2)])
                d_labels.append(rng.integers(0, n_cls + 1))   # label n_cls: only among the detections
        n = len(d_boxes)
        scores = np.round(rng.random(n), 2)
        preds.append({"boxes": np.array(d_boxes, np.float64).reshape(n, 4), "scores": scores,
                      "labels": np.array(d_labels, np.int64)})
    return preds, targets, crowd


def to_format(items, fmt, as_tensor=False):
    out = []
    for d in items:
        b = d["boxes"]
        if fmt == "xyxy":
            b = np.column_stack([b[:, :2], b[:, :2] + b[:, 2:]])
        elif fmt == "cxcywh":
            b = np.column_stack([b[:, :2] + b[:, 2:] / 2, b[:, 2:]])
        e = dict(d, boxes=b)
        if as_tensor:
            e = {k: dlcore.tensor(v) for k, v in e.items()}
        out.append(e)
    return out


def coco_reference(preds, targets, iou_thresholds=None, rec_thresholds=None, max_dets=None, per_class=False,
                   micro=False, score_thresholds=()):
    """pycocotools on the same scene (xywh), built as torchmetrics builds it. With score_thresholds, also
    (precision, recall) at each, counted from COCOeval's per-image matches at IoU 0.5, area "all"."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    lab = (lambda x: 0) if micro else int
    classes = sorted({int(x) for d in preds + targets for x in d["labels"]})
    cats = sorted({lab(c) for c in classes})

    def dataset(items, with_scores):
        anns = []
        for i, d in enumerate(items):
            for j, (b, c) in enumerate(zip(d["boxes"], d["labels"])):
                a = {"id": len(anns) + 1, "image_id": i, "bbox": [float(v) for v in b], "category_id": lab(c),
                     "area": float(b[2] * b[3]), "iscrowd": 0}
                if not with_scores:
                    if "area" in d and d["area"][j] > 0:
                        a["area"] = float(d["area"][j])
                    if "iscrowd" in d:
                        a["iscrowd"] = int(d["iscrowd"][j])
                else:
                    a["score"] = float(d["scores"][j])
                anns.append(a)
        return {"images": [{"id": i} for i in range(len(items))], "annotations": anns,
                "categories": [{"id": c} for c in cats]}

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt, coco_dt = COCO(), COCO()
        coco_gt.dataset, coco_dt.dataset = dataset(targets, False), dataset(preds, True)
        coco_gt.createIndex()
        coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        if iou_thresholds is not None:
            ev.params.iouThrs = np.array(iou_thresholds, np.float64)
        if rec_thresholds is not None:
            ev.params.recThrs = np.array(rec_thresholds, np.float64)
        if max_dets is not None:
            ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        out = np.array(ev.stats)
        pr = []
        for thr in score_thresholds:
            t = int(np.flatnonzero(ev.params.iouThrs == 0.5)[0])
            tp = fp = n_gt = 0
            for e in ev.evalImgs:
                if e is None or e["aRng"] != ev.params.areaRng[0]:
                    continue
                above = np.array(e["dtScores"]) >= thr
                counted = above & ~e["dtIgnore"][t].astype(bool)
                tp += int(np.sum(counted & (e["dtMatches"][t] > 0)))
                fp += int(np.sum(counted & (e["dtMatches"][t] == 0)))
                n_gt += int(np.sum(e["gtIgnore"] == 0))
            pr.append((tp / (tp + fp) if tp + fp else -1.0, tp / n_gt if n_gt else -1.0))
        map_pc, mar_pc = [], []
        if per_class:
            for c in classes:
                ev.params.catIds = [c]
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
                map_pc.append(ev.stats[0])
                mar_pc.append(ev.stats[8])
    if score_thresholds:
        return out, pr
    return out, np.array(map_pc), np.array(mar_pc)


def compare(preds, targets, fmt="xywh", as_tensor=False, per_class=False, micro=False, **kw):
    ref, ref_map_pc, ref_mar_pc = coco_reference(preds, targets, kw.get("iou_thresholds"), kw.get("rec_thresholds"),
                                                 kw.get("max_detection_thresholds"), per_class, micro)
    m = MeanAveragePrecision(box_format=fmt, class_metrics=per_class, average="micro" if micro else "macro", **kw)
    m.warn_on_many_detections = False
    half = len(preds) // 2       # two updates: state accumulates across batches
    p, t = to_format(preds, fmt, as_tensor), to_format(targets, fmt, as_tensor)
    m.update(p[:half], t[:half])
    m.update(p[half:], t[half:])
    res = m.compute()
    caps = sorted(kw.get("max_detection_thresholds") or [1, 10, 100])
    keys = STAT_KEYS[:6] + [f"mar_{c}" for c in caps] + STAT_KEYS[9:]
    np.testing.assert_allclose(stats(res, keys), ref, atol=1e-4, rtol=0)
    if per_class:
        np.testing.assert_allclose(val(res["map_per_class"]).reshape(-1), ref_map_pc, atol=1e-4, rtol=0)
        np.testing.assert_allclose(val(res[f"mar_{caps[-1]}_per_class"]).reshape(-1), ref_mar_pc, atol=1e-4, rtol=0)
    return ref


@pytest.mark.parametrize("seed", range(12))
def test_against_pycocotools_random_scenes(seed):
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(100 + seed)
    fmt = ("xywh", "xyxy", "cxcywh")[seed % 3]
    preds, targets, _ = random_scene(rng, int(rng.integers(5, 60)), int(rng.integers(1, 6)),
                                     crowd=seed % 4 == 1, area=seed % 4 == 2)
    ref = compare(preds, targets, fmt=fmt, as_tensor=seed % 2 == 1, per_class=seed % 3 == 0)
    assert np.all(ref > 0) and np.all(ref < 1)    # the scenes give real values in every stat


@pytest.mark.parametrize("seed", range(4))
def test_against_pycocotools_custom_params(seed):
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(200 + seed)
    preds, targets, _ = random_scene(rng, 25, 3, crowd=seed % 2 == 0)
    kw = [dict(iou_thresholds=[0.1, 0.5, 0.75, 0.9]),
          dict(rec_thresholds=np.linspace(0, 1, 11).tolist(), max_detection_thresholds=[2, 5, 100]),
          dict(iou_thresholds=[0.0, 0.3, 0.5]),
          dict(max_detection_thresholds=[1, 3, 100], iou_thresholds=[0.5, 0.75])][seed]
    compare(preds, targets, per_class=True, **kw)


@pytest.mark.parametrize("seed", range(3))
def test_precision_recall_against_pycocotools_matches(seed):
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(400 + seed)
    preds, targets, _ = random_scene(rng, 40, 3, crowd=True, area=seed == 1)
    thresholds = [0.0, 0.25, 0.5, 0.9]
    _, ref = coco_reference(preds, targets, score_thresholds=thresholds)
    for thr, (precision, recall) in zip(thresholds, ref):
        m = MeanAveragePrecision(box_format="xywh", score_threshold=thr)
        m.warn_on_many_detections = False
        m.update(preds, targets)
        res = m.compute()
        assert res["precision"].item() == pytest.approx(precision, abs=1e-6)
        assert res["recall"].item() == pytest.approx(recall, abs=1e-6)
        assert 0 < recall < 1 and 0 < precision < 1


def test_against_pycocotools_micro():
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(300)
    preds, targets, _ = random_scene(rng, 30, 4, crowd=True)
    compare(preds, targets, micro=True)


def grid_scene(rng, step, n_img):
    """Boxes from a coarse grid: many exactly equal IoUs (ties between gts), IoUs exactly at thresholds,
    areas exactly at the area-range bounds (step 16: 32x32, 16x64, 96x96), identical duplicate
    detections and equal scores across images."""
    preds, targets = [], []
    for _ in range(n_img):
        n_gt = int(rng.integers(0, 6))
        g = np.column_stack([rng.integers(0, 4, (n_gt, 2)) * step, rng.integers(1, 7, (n_gt, 2)) * step])
        n_d = int(rng.integers(0, 10))
        d = np.column_stack([rng.integers(0, 4, (n_d, 2)) * step, rng.integers(1, 7, (n_d, 2)) * step])
        targets.append({"boxes": g, "labels": rng.integers(0, 2, n_gt), "iscrowd": (rng.random(n_gt) < 0.2) * 1})
        preds.append({"boxes": d, "scores": rng.integers(0, 3, n_d) / 2.0, "labels": rng.integers(0, 2, n_d)})
    return preds, targets


@pytest.mark.parametrize("step", [10.0, 16.0])
def test_against_pycocotools_iou_ties_and_bounds(step):
    pytest.importorskip("pycocotools")
    preds, targets = grid_scene(np.random.default_rng(int(step)), step, 60)
    compare(preds, targets, per_class=True)
    compare(preds, targets, iou_thresholds=[0.1, 0.2, 0.25, 1 / 3, 0.5, 0.6, 2 / 3, 0.75, 1.0])


def test_iou_tie_goes_to_the_later_gt():
    # d1 overlaps g1 and g2 equally (IoU 1/3) and takes g2, the later one (COCOeval's >= update), so d2,
    # which only overlaps g2, is a FP: TP, FP over 2 gts -> precision 1 up to recall 0.5 -> AP 51/101
    g1, g2 = box(0, 0, 10, 10), box(10, 0, 20, 10)
    res = run([det([box(5, 0, 15, 10), g2], [0.9, 0.8], [0, 0])], [gt([g1, g2], [0, 0])], iou_thresholds=[0.3])
    assert res["map"].item() == pytest.approx(51 / 101)


def test_area_bounds_are_inclusive():
    # 32x32 = 1024 is both small and medium, 96x96 both medium and large (COCOeval's ranges)
    for side, expect in ((32, (1, 1, -1)), (96, (-1, 1, 1))):
        b = box(0, 0, side, side)
        res = run([det([b], [0.9], [0])], [gt([b], [0])])
        assert tuple(res[k].item() for k in ("map_small", "map_medium", "map_large")) == expect
