"""YOLOv8: parameter counts per scale, forward/backward against the same network in PyTorch
(bench/torch_yolo.py, built from Ultralytics' layer table), eval-mode decoding and post-processing,
the task-aligned assigner on hand-worked cases and against a loop-by-loop float64 re-computation,
the v8 loss against an independent float64 re-computation, its gradients by finite differences,
and bad input."""
import math
import os
import sys

import numpy as np
import pytest

import dlcore
from dlcore.models import yolov8l, yolov8m, yolov8n, yolov8s, yolov8x
from dlcore.models.yolo import make_anchors, postprocess
from dlcore.models.yolo_loss import DetectionLoss, TaskAlignedAssigner

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))


# ---- the network ----------------------------------------------------------------------------------

@pytest.mark.parametrize("builder, params", [(yolov8n, 3_157_200), (yolov8s, 11_166_560), (yolov8m, 25_902_640),
                                             (yolov8l, 43_691_520), (yolov8x, 68_229_648)])
def test_parameter_counts_match_ultralytics(builder, params):
    model = builder(num_classes=80)
    assert sum(p.numel() for p in model.parameters()) == params
    # the 16 DFL weights are fixed
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == params - 16


def test_summary_flops_in_ultralytics_convention():
    s = dlcore.summary(yolov8n(), (3, 640, 640), verbose=False)
    assert s.total_params == 3_157_200
    assert 8.7e9 <= s.total_flops <= 8.9e9  # 2 x MACs, Ultralytics prints 8.7-8.9 GFLOPs


def _torch_pair(nc, seed=0):
    torch = pytest.importorskip("torch")
    from torch_ref import load_torch_state
    from torch_yolo import YOLOv8 as TorchYOLO

    torch.manual_seed(seed)
    t = TorchYOLO(nc, "n")
    d = yolov8n(num_classes=nc)
    # random BatchNorm statistics and affine parameters so eval mode is not the identity
    with torch.no_grad():
        for m in t.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    load_torch_state(t, d)
    return torch, t, d


@pytest.mark.parametrize("nc", [80, 3])
def test_forward_and_backward_match_torch(nc):
    torch, t, d = _torch_pair(nc)
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 96)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    dx = dlcore.tensor(x, requires_grad=True)
    t_out, d_out = t(tx), d(dx)
    assert [tuple(o.shape) for o in d_out] == [(2, 64 + nc, 8, 12), (2, 64 + nc, 4, 6), (2, 64 + nc, 2, 3)]
    w = [np.random.default_rng(k).standard_normal(tuple(o.shape)).astype(np.float32) for k, o in enumerate(d_out)]
    sum((o * torch.from_numpy(wk)).sum() for o, wk in zip(t_out, w)).backward()
    sum(((o * dlcore.tensor(wk)).sum() for o, wk in zip(d_out, w)), dlcore.tensor(0.0)).backward()
    for a, b in zip(d_out, t_out):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=2e-4)
    # float32 sums over ~1e4 products per input pixel
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-3)
    tp = dict(t.named_parameters())
    for name, p in d.named_parameters():
        if p.requires_grad:
            ref = tp[name].grad.numpy()
            np.testing.assert_allclose(p.grad.numpy(), ref, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(ref).max()),
                                       err_msg=name)


def test_eval_output_decodes_boxes_like_torch():
    torch, t, d = _torch_pair(5)
    t.eval()
    d.eval()
    x = np.random.default_rng(2).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        ref = t(torch.from_numpy(x)).numpy()
    with dlcore.no_grad():
        out = d(dlcore.tensor(x)).numpy()
    assert out.shape == (2, 8 * 8 + 4 * 4 + 2 * 2, 4 + 5)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-3)
    boxes = out[..., :4]
    assert (boxes[..., 2] >= boxes[..., 0]).all() and (boxes[..., 3] >= boxes[..., 1]).all()
    assert ((out[..., 4:] > 0) & (out[..., 4:] < 1)).all()


def test_input_size_must_be_a_multiple_of_32():
    with pytest.raises(ValueError, match=r"multiples of 32, got \(1, 3, 50, 64\)"):
        yolov8n(num_classes=2)(dlcore.zeros(1, 3, 50, 64))
    with pytest.raises(ValueError, match="unknown scale"):
        dlcore.models.YOLOv8(scale="q")


def test_anchor_points_at_cell_centres():
    pts, st = make_anchors([(2, 3), (1, 1)], (8, 16))
    np.testing.assert_array_equal(pts.numpy(), [[0.5, 0.5], [1.5, 0.5], [2.5, 0.5], [0.5, 1.5], [1.5, 1.5],
                                                [2.5, 1.5], [0.5, 0.5]])
    np.testing.assert_array_equal(st.numpy().ravel(), [8] * 6 + [16])


# ---- post-processing ------------------------------------------------------------------------------

def _pred(rows, nc):
    """[1, A, 4 + nc] from rows of (box, class, score)."""
    out = np.zeros((1, len(rows), 4 + nc), np.float32)
    for i, (box, cls, score) in enumerate(rows):
        out[0, i, :4] = box
        out[0, i, 4 + cls] = score
    return dlcore.tensor(out)


def test_postprocess_threshold_class_aware_nms_and_order():
    rows = [([0, 0, 10, 10], 0, 0.9), ([1, 1, 10, 10], 0, 0.8),   # same class, IoU 0.81: suppressed
            ([1, 1, 10, 10], 1, 0.7),                             # other class: kept
            ([50, 50, 60, 60], 0, 0.2),                           # below conf 0.25
            ([20, 20, 30, 30], 2, 0.95)]
    det = postprocess(_pred(rows, 3))[0].numpy()
    np.testing.assert_allclose(det, [[20, 20, 30, 30, 0.95, 2], [0, 0, 10, 10, 0.9, 0], [1, 1, 10, 10, 0.7, 1]],
                               rtol=1e-6)
    agnostic = postprocess(_pred(rows, 3), agnostic=True)[0].numpy()
    assert agnostic[:, 5].tolist() == [2, 0]
    assert postprocess(_pred(rows, 3), max_det=1)[0].shape == (1, 6)
    assert postprocess(_pred(rows, 3), classes=[1])[0].numpy()[:, 5].tolist() == [1]
    assert postprocess(_pred(rows, 3), conf=0.99)[0].shape == (0, 6)
    with pytest.raises(ValueError, match="postprocess: expected predictions"):
        postprocess(dlcore.zeros(2, 5))


def test_predict_restores_training_mode():
    m = yolov8n(num_classes=2)
    m.train()
    dets = m.predict(dlcore.zeros(2, 3, 64, 64), conf=0.0)
    assert m.training and len(dets) == 2 and all(d.shape[1] == 6 for d in dets)


# ---- the assigner ---------------------------------------------------------------------------------

def _ciou(b1, b2, eps=1e-7):
    """CIoU of two xyxy boxes, scalar float64 (torchvision's complete_box_iou_loss formula)."""
    iw = max(0.0, min(b1[2], b2[2]) - max(b1[0], b2[0]))
    ih = max(0.0, min(b1[3], b2[3]) - max(b1[1], b2[1]))
    inter = iw * ih
    w1, h1, w2, h2 = b1[2] - b1[0], b1[3] - b1[1], b2[2] - b2[0], b2[3] - b2[1]
    iou = inter / (w1 * h1 + w2 * h2 - inter + eps)
    cw = max(b1[2], b2[2]) - min(b1[0], b2[0])
    ch = max(b1[3], b2[3]) - min(b1[1], b2[1])
    rho2 = ((b1[0] + b1[2] - b2[0] - b2[2]) ** 2 + (b1[1] + b1[3] - b2[1] - b2[3]) ** 2) / 4
    v = 4 / math.pi ** 2 * (math.atan(w1 / h1) - math.atan(w2 / h2)) ** 2
    alpha = v / (1 - iou + v + eps)
    return iou - rho2 / (cw * cw + ch * ch + eps) - alpha * v


def _ref_assign(scores, pboxes, anchors, gts, topk=10, alpha=0.5, beta=6.0):
    """Loop-by-loop assignment of one image: gts is a list of (class, box). Returns
    (fg [A], target box [A, 4], target scores [A, C])."""
    A, C = scores.shape
    G = len(gts)
    inside = np.zeros((G, A), bool)
    overlap = np.zeros((G, A))
    align = np.zeros((G, A))
    for g, (cls, box) in enumerate(gts):
        for a in range(A):
            ax, ay = anchors[a]
            if min(ax - box[0], ay - box[1], box[2] - ax, box[3] - ay) > 1e-9:
                inside[g, a] = True
                overlap[g, a] = max(_ciou(box, pboxes[a]), 0.0)
                align[g, a] = scores[a, cls] ** alpha * overlap[g, a] ** beta
    pos = np.zeros((G, A), bool)
    for g in range(G):
        ranked = sorted(range(A), key=lambda a: (-align[g, a], a))[:topk]
        for a in ranked:
            pos[g, a] = inside[g, a]
    for a in range(A):
        if pos[:, a].sum() > 1:
            best = int(np.argmax(overlap[:, a]))
            pos[:, a] = False
            pos[best, a] = True
    fg = pos.any(0)
    tbox = np.zeros((A, 4))
    tscore = np.zeros((A, C))
    for a in range(A):
        if fg[a]:
            g = int(np.argmax(pos[:, a]))
            cls, box = gts[g]
            tbox[a] = box
            best_align = max(align[g, k] for k in range(A) if pos[g, k])
            best_overlap = max(overlap[g, k] for k in range(A) if pos[g, k])
            tscore[a, cls] = align[g, a] * best_overlap / (best_align + 1e-9)
    return fg, tbox, tscore


def test_assigner_hand_worked_single_box():
    # Three anchors on a row (stride 8); the box [0, 0, 16, 8] holds the first two.
    anchors = np.array([[4.0, 4.0], [12.0, 4.0], [20.0, 4.0]])
    pboxes = np.array([[[0, 0, 16, 8], [8, 0, 24, 8], [0, 0, 16, 8]]], dtype=np.float64)  # exact, half, exact
    scores = np.array([[[0.64, 0.1], [0.16, 0.2], [0.9, 0.9]]])
    gt_labels = np.array([[0]])
    gt_boxes = np.array([[[0.0, 0.0, 16.0, 8.0]]])
    labels, boxes, tscores, fg, gidx = TaskAlignedAssigner(topk=10, num_classes=2)(
        scores, pboxes, anchors, gt_labels, gt_boxes, np.array([[True]]))
    assert fg.tolist() == [[True, True, False]]  # the third anchor lies outside the box
    o1 = _ciou([0, 0, 16, 8], [8, 0, 24, 8])      # IoU 1/3 minus the centre-distance term
    assert 0 < o1 < 1 / 3
    # target score = align / best align * best overlap; best is anchor 0 (overlap 1, score 0.64)
    expected = math.sqrt(0.16 / 0.64) * o1 ** 6
    np.testing.assert_allclose(tscores[0, :, 0], [1.0, expected, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(tscores[0, :, 1], 0)
    np.testing.assert_array_equal(boxes[0, :2], gt_boxes[0, [0, 0]])


def test_assigner_anchor_claimed_twice_goes_to_the_box_of_highest_overlap():
    anchors = np.array([[8.0, 8.0]])
    pboxes = np.array([[[2.0, 2.0, 14.0, 14.0]]])
    scores = np.array([[[0.5, 0.5]]])
    gt_boxes = np.array([[[0.0, 0.0, 16.0, 16.0], [3.0, 3.0, 13.0, 13.0]]])  # the second fits the prediction better
    gt_labels = np.array([[0, 1]])
    _, boxes, tscores, fg, gidx = TaskAlignedAssigner(num_classes=2)(
        scores, pboxes, anchors, gt_labels, gt_boxes, np.array([[True, True]]))
    assert fg.tolist() == [[True]] and gidx.tolist() == [[1]]
    np.testing.assert_array_equal(boxes[0, 0], gt_boxes[0, 1])
    assert tscores[0, 0, 0] == 0 and tscores[0, 0, 1] > 0


def test_assigner_topk_limits_positives():
    anchors = np.stack(np.meshgrid(np.arange(8) * 8 + 4.0, np.arange(8) * 8 + 4.0), -1).reshape(-1, 2)
    rng = np.random.default_rng(0)
    pboxes = np.concatenate([anchors - 10, anchors + 10], 1)[None] + rng.uniform(-2, 2, (1, 64, 4))
    scores = rng.uniform(0.1, 0.9, (1, 64, 1))
    fg = TaskAlignedAssigner(topk=4, num_classes=1)(scores, pboxes, anchors, np.array([[0]]),
                                                    np.array([[[0.0, 0.0, 64.0, 64.0]]]), np.array([[True]]))[3]
    assert fg.sum() == 4


def _random_case(rng, B=2, nc=3, size=64, max_boxes=4, dtype=np.float64):
    levels = [(size // s, size // s) for s in (8, 16, 32)]
    feats = [rng.standard_normal((B, 64 + nc, h, w)).astype(dtype) for h, w in levels]
    for f in feats:
        f[:, 64:] -= 1.0  # class logits mostly negative, as after the bias init
    counts = rng.integers(0, max_boxes + 1, B)
    counts[0] = max(counts[0], 1)
    labels = np.zeros((B, max(counts.max(), 1), 5), np.float32)
    for b in range(B):
        for g in range(counts[b]):
            w, h = rng.uniform(8, 40, 2)
            x1, y1 = rng.uniform(0, size - w), rng.uniform(0, size - h)
            labels[b, g] = [rng.integers(nc), x1, y1, x1 + w, y1 + h]
    return feats, labels, counts


class _Head:
    """The part of the Detect head the loss reads, for maps not made by a model."""

    def __init__(self, nc, reg_max=16, strides=(8, 16, 32)):
        self.nc, self.reg_max, self.no, self.stride = nc, reg_max, nc + 4 * reg_max, strides

    def anchors(self, feats):
        pts, st = make_anchors([(f.shape[2], f.shape[3]) for f in feats], self.stride, dtype=feats[0].dtype)
        return pts, st


def _ref_decode(feats, reg_max=16, strides=(8, 16, 32)):
    """(logits [B, A, C], distances [B, A, 4, reg_max] logits, boxes [B, A, 4] grid, anchors, strides)."""
    B = feats[0].shape[0]
    flat = np.concatenate([f.reshape(B, f.shape[1], -1) for f in feats], 2).transpose(0, 2, 1)
    dist_logits = flat[..., :4 * reg_max].reshape(B, -1, 4, reg_max)
    anchors, stride = [], []
    for f, s in zip(feats, strides):
        for y in range(f.shape[2]):
            for x in range(f.shape[3]):
                anchors.append((x + 0.5, y + 0.5))
                stride.append(s)
    anchors, stride = np.array(anchors), np.array(stride, float)
    e = np.exp(dist_logits - dist_logits.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    d = (p * np.arange(reg_max)).sum(-1)
    boxes = np.concatenate([anchors - d[..., :2], anchors + d[..., 2:]], -1)
    return flat[..., 4 * reg_max:], dist_logits, boxes, anchors, stride


def _ref_loss(feats, labels, counts, nc, reg_max=16):
    """The v8 loss in float64, image by image, anchor by anchor."""
    logits, dist_logits, boxes, anchors, stride = _ref_decode(feats, reg_max)
    B, A, _ = logits.shape
    cls_sum = box_sum = dfl_sum = tss = 0.0
    for b in range(B):
        gts = [(int(labels[b, g, 0]), labels[b, g, 1:].astype(np.float64)) for g in range(counts[b])]
        scores = 1 / (1 + np.exp(-logits[b]))
        if gts:
            fg, tbox, tscore = _ref_assign(scores, boxes[b] * stride[:, None], anchors * stride[:, None], gts)
        else:
            fg, tbox, tscore = np.zeros(A, bool), np.zeros((A, 4)), np.zeros((A, nc))
        z = logits[b]
        cls_sum += (np.maximum(z, 0) - z * tscore + np.log1p(np.exp(-np.abs(z)))).sum()
        tss += tscore.sum()
        for a in np.nonzero(fg)[0]:
            w = tscore[a].sum()
            t = tbox[a] / stride[a]
            box_sum += (1 - _ciou(boxes[b, a], t)) * w
            sides = [anchors[a, 0] - t[0], anchors[a, 1] - t[1], t[2] - anchors[a, 0], t[3] - anchors[a, 1]]
            side_loss = 0.0
            for k, target in enumerate(sides):
                target = min(max(target, 0.0), reg_max - 1.01)
                lo = int(math.floor(target))
                lz = dist_logits[b, a, k]
                logp = lz - lz.max() - math.log(np.exp(lz - lz.max()).sum())
                side_loss += -logp[lo] * (lo + 1 - target) - logp[lo + 1] * (target - lo)
            dfl_sum += side_loss / 4 * w
    tss = max(tss, 1.0)
    parts = np.array([7.5 * box_sum / tss, 0.5 * cls_sum / tss, 1.5 * dfl_sum / tss])
    return parts.sum() * B, parts


@pytest.mark.parametrize("seed", range(6))
def test_loss_matches_float64_recomputation(seed):
    rng = np.random.default_rng(seed)
    nc = 3
    feats, labels, counts = _random_case(rng, nc=nc)
    loss = DetectionLoss(_Head(nc))
    total, parts = loss([dlcore.tensor(f) for f in feats], labels, counts)
    ref_total, ref_parts = _ref_loss(feats, labels, counts, nc)
    assert ref_parts[0] > 0 and ref_parts[2] > 0  # some anchors were assigned
    np.testing.assert_allclose(parts.numpy(), ref_parts, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(total.item(), ref_total, rtol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_assigner_matches_loop_reference(seed):
    rng = np.random.default_rng(100 + seed)
    nc = 4
    feats, labels, counts = _random_case(rng, B=3, nc=nc, size=96, max_boxes=6)
    loss = DetectionLoss(_Head(nc))
    pred = loss.decode([dlcore.tensor(f) for f in feats])
    got = loss.assign(pred, labels, counts)
    logits, _, boxes, anchors, stride = _ref_decode(feats)
    for b in range(3):
        gts = [(int(labels[b, g, 0]), labels[b, g, 1:].astype(np.float64)) for g in range(counts[b])]
        if not gts:
            assert not got["fg_mask"][b].any()
            continue
        fg, tbox, tscore = _ref_assign(1 / (1 + np.exp(-logits[b])), boxes[b] * stride[:, None],
                                       anchors * stride[:, None], gts)
        np.testing.assert_array_equal(got["fg_mask"][b], fg)
        np.testing.assert_allclose(got["target_bboxes"][b][fg], tbox[fg], rtol=1e-6)
        np.testing.assert_allclose(got["target_scores"][b], tscore, rtol=1e-9, atol=1e-15)


def test_loss_gradients_by_finite_differences():
    rng = np.random.default_rng(7)
    nc = 2
    feats, labels, counts = _random_case(rng, B=1, nc=nc, size=32, max_boxes=2)
    loss = DetectionLoss(_Head(nc))
    inputs = [dlcore.tensor(f, requires_grad=True) for f in feats]
    targets = loss.assign(loss.decode(inputs), labels, counts)  # the assignment is held fixed
    assert targets["fg_mask"].any()
    assert dlcore.autograd.gradcheck(lambda *fs: loss.terms(loss.decode(list(fs)), targets)[0], inputs,
                                     eps=1e-6, atol=1e-5, rtol=1e-4)


def test_loss_without_objects_trains_the_background():
    rng = np.random.default_rng(3)
    feats, _, _ = _random_case(rng, B=2, nc=2)
    inputs = [dlcore.tensor(f, requires_grad=True) for f in feats]
    total, parts = DetectionLoss(_Head(2))(inputs, np.zeros((2, 0, 5), np.float32))
    assert parts.numpy()[0] == 0 and parts.numpy()[2] == 0 and parts.numpy()[1] > 0
    total.backward()
    assert all(np.isfinite(t.grad.numpy()).all() for t in inputs)


def test_loss_bad_input():
    rng = np.random.default_rng(4)
    feats, labels, counts = _random_case(rng, B=2, nc=2)
    loss = DetectionLoss(_Head(2))
    inputs = [dlcore.tensor(f) for f in feats]
    bad = labels.copy()
    bad[0, 0, 0] = 2
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 2\), got \[2\]"):
        loss(inputs, bad, counts)
    bad = labels.copy()
    bad[0, 0, 3] = bad[0, 0, 1] - 1
    with pytest.raises(ValueError, match="x2 >= x1"):
        loss(inputs, bad, counts)
    with pytest.raises(ValueError, match=r"labels must be \[B, G, 5\]"):
        loss(inputs, labels[..., :4], counts)
    with pytest.raises(ValueError, match="labels hold 1 images, the predictions 2"):
        loss(inputs, labels[:1], counts[:1])
    with pytest.raises(ValueError, match="counts must hold 2 values"):
        loss(inputs, labels, [1, 99])
    with pytest.raises(ValueError, match="head maps must be"):
        loss([inputs[0][:, :5]], labels, counts)
    with pytest.raises(ValueError, match="call the model in train mode"):
        loss(dlcore.zeros(2, 3), labels, counts)


def test_a_few_steps_fit_one_image():
    """The loss falls when a small YOLOv8 fits one image with two boxes."""
    dlcore.manual_seed(0)
    model = dlcore.models.YOLOv8(num_classes=2, depth_multiple=0.33, width_multiple=0.125, max_channels=256)
    x = dlcore.tensor(np.random.default_rng(0).uniform(0, 1, (1, 3, 64, 64)).astype(np.float32))
    labels = np.array([[[0, 4, 4, 30, 30], [1, 30, 20, 60, 50]]], np.float32)
    loss = DetectionLoss(model)
    opt = dlcore.optim.Adam(model.parameters(), lr=2e-3)
    first = None
    for _ in range(30):
        total, _ = loss(model(x), labels)
        opt.zero_grad()
        total.backward()
        opt.step()
        first = total.item() if first is None else first
    assert total.item() < 0.5 * first
