"""YOLOv8 object detectors (n/s/m/l/x) in Ultralytics' layout (Jocher et al., 2023): a CSP
backbone of C2f blocks ending in SPPF, a PAN neck (upsample + concat + C2f top-down, stride-2 Conv
+ concat + C2f bottom-up) and the decoupled anchor-free ``Detect`` head with Distribution Focal
Loss bins, at strides 8, 16 and 32.

The layers sit in ``model.model`` numbered as in Ultralytics' ``yolov8.yaml`` (0-9 backbone,
10-21 neck, 22 the head), so parameter names match Ultralytics' state dicts
(``model.0.conv.weight`` ... ``model.22.dfl.conv.weight``). Parameter counts at 80 classes:
n 3,157,200; s 11,166,560; m 25,902,640; l 43,691,520; x 68,229,648 (the 16 fixed DFL weights are
a parameter without gradient, as in Ultralytics).

Outputs: in training mode the three raw head maps ``[B, 4*reg_max + nc, H_i, W_i]`` (what
:class:`dlcore.models.yolo_loss.DetectionLoss` takes); in eval mode one tensor
``[B, A, 4 + nc]`` per anchor point: the decoded box (x1, y1, x2, y2 in input pixels) and the
sigmoid class scores. :meth:`YOLOv8.predict` / :func:`postprocess` turn that into one
``[N, 6]`` tensor per image: (x1, y1, x2, y2, score, class) after the confidence threshold and
class-aware NMS.
"""
import math

import numpy as np

import dlcore

from .. import nn
from ._registry import register_model

__all__ = ["YOLOv8", "Conv", "Bottleneck", "C2f", "SPPF", "DFL", "Detect", "make_anchors", "dist2bbox",
           "postprocess", "yolov8n", "yolov8s", "yolov8m", "yolov8l", "yolov8x", "YOLO_SCALES"]

# (depth multiple, width multiple, max channels) per scale, as in Ultralytics' yolov8.yaml.
YOLO_SCALES = {"n": (0.33, 0.25, 1024), "s": (0.33, 0.50, 1024), "m": (0.67, 0.75, 768),
               "l": (1.00, 1.00, 512), "x": (1.00, 1.25, 512)}


def _make_divisible(x, divisor=8):
    return int(math.ceil(x / divisor) * divisor)


class Conv(nn.Module):
    """Conv2d (no bias, 'same' padding for odd kernels) + BatchNorm2d (eps 1e-3, momentum 0.03) + SiLU."""

    def __init__(self, c1, c2, k=1, s=1, p=None, g=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 Convs, with the input added when ``shortcut`` and the widths agree."""

    def __init__(self, c1, c2, shortcut=True, g=1, e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 3, 1)
        self.cv2 = Conv(c_, c2, 3, 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP bottleneck with two convolutions: a 1x1 Conv split into two halves, ``n`` Bottlenecks
    chained on the second half, every intermediate concatenated and fused by a 1x1 Conv."""

    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, e=1.0) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(dlcore.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 stride-1 max pools over a 1x1 Conv's output,
    concatenated with it and fused by a 1x1 Conv."""

    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(dlcore.cat(y, 1))


class Concat(nn.Module):
    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, xs):
        return dlcore.cat(list(xs), self.d)


class DFL(nn.Module):
    """The expectation over ``c1`` distance bins: softmax over the bins, then the fixed weights
    0, 1, ..., c1-1 (a 1x1 convolution without gradient in Ultralytics; kept as a parameter with
    ``requires_grad=False`` so names and counts match). [B, 4*c1, A] -> [B, 4, A]."""

    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False)
        self.conv.weight.requires_grad_(False)
        with dlcore.no_grad():
            self.conv.weight.copy_(dlcore.arange(c1, dtype=dlcore.float32).view(1, c1, 1, 1))
        self.c1 = c1

    def forward(self, x):
        b, _, a = x.shape
        prob = x.view(b, 4, self.c1, a).softmax(2)
        return dlcore.matmul(self.conv.weight.view(1, 1, 1, self.c1), prob).view(b, 4, a)


def make_anchors(shapes, strides, offset=0.5, dtype=None, device="cpu"):
    """Anchor points at the cell centres of each level (in that level's grid units) and their
    strides: ([A, 2] (x, y), [A, 1]) for ``shapes`` = [(H_i, W_i)], levels in order, rows y-major."""
    points, stride_col = [], []
    for (h, w), s in zip(shapes, strides):
        sy, sx = np.meshgrid(np.arange(h, dtype=np.float32) + offset, np.arange(w, dtype=np.float32) + offset,
                             indexing="ij")
        points.append(np.stack([sx.ravel(), sy.ravel()], -1))
        stride_col.append(np.full((h * w, 1), s, dtype=np.float32))
    pts = dlcore.tensor(np.concatenate(points, 0), device=device)
    st = dlcore.tensor(np.concatenate(stride_col, 0), device=device)
    if dtype is not None:
        pts, st = pts.to(dtype), st.to(dtype)
    return pts, st


def dist2bbox(distance, anchor_points, xywh=False, dim=-1):
    """Boxes from (left, top, right, bottom) distances to anchor points: xyxy, or cx, cy, w, h."""
    lt, rb = distance.chunk(2, dim)
    x1y1 = anchor_points - lt
    x2y2 = anchor_points + rb
    if xywh:
        return dlcore.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim)
    return dlcore.cat((x1y1, x2y2), dim)


class Detect(nn.Module):
    """The decoupled anchor-free head: per level a box branch (two 3x3 Convs, a 1x1 conv to
    4*reg_max distance bins) and a class branch (two 3x3 Convs, a 1x1 conv to nc logits)."""

    def __init__(self, nc=80, ch=(), strides=(8, 16, 32), reg_max=16):
        super().__init__()
        self.nc = nc
        self.nl = len(ch)
        self.reg_max = reg_max
        self.no = nc + reg_max * 4
        self.stride = tuple(float(s) for s in strides)
        c2, c3 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1)) for x in ch)
        self.cv3 = nn.ModuleList(
            nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(reg_max)
        self._anchor_cache = None

    def bias_init(self, img_size=640):
        """Ultralytics' initial biases: box bins 1.0; class logits log(5 / nc / cells) — about five
        objects per 640x640 image spread over the level's cells."""
        with dlcore.no_grad():
            for a, b, s in zip(self.cv2, self.cv3, self.stride):
                a[-1].bias.fill_(1.0)
                b[-1].bias.fill_(math.log(5 / self.nc / (img_size / s) ** 2))

    def anchors(self, feats):
        shapes = tuple((f.shape[2], f.shape[3]) for f in feats)
        key = (shapes, feats[0].dtype, str(feats[0].device))
        if self._anchor_cache is None or self._anchor_cache[0] != key:
            pts, st = make_anchors(shapes, self.stride, 0.5, feats[0].dtype, feats[0].device)
            self._anchor_cache = (key, pts, st)
        return self._anchor_cache[1], self._anchor_cache[2]

    def forward(self, xs):
        out = [dlcore.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(xs)]
        if self.training:
            return out
        return self.decode(out)

    def decode(self, feats):
        """[B, A, 4 + nc]: xyxy boxes in input pixels and sigmoid class scores."""
        b = feats[0].shape[0]
        x = dlcore.cat([f.reshape(b, self.no, -1) for f in feats], 2)
        box, cls = x.split((self.reg_max * 4, self.nc), 1)
        pts, st = self.anchors(feats)
        dist = self.dfl(box)                                   # [B, 4, A]
        boxes = dist2bbox(dist, pts.t().unsqueeze(0), xywh=False, dim=1) * st.t().unsqueeze(0)
        return dlcore.cat((boxes, cls.sigmoid()), 1).permute(0, 2, 1)


class YOLOv8(nn.Module):
    """YOLOv8 at one of the scales in :data:`YOLO_SCALES` (or explicit multiples)."""

    def __init__(self, num_classes=80, scale="n", in_channels=3, depth_multiple=None, width_multiple=None,
                 max_channels=None, reg_max=16, names=None):
        super().__init__()
        if scale not in YOLO_SCALES and None in (depth_multiple, width_multiple, max_channels):
            raise ValueError(f"YOLOv8: unknown scale {scale!r}; expected one of {', '.join(YOLO_SCALES)} "
                             "or depth_multiple, width_multiple and max_channels")
        if num_classes < 1:
            raise ValueError(f"YOLOv8: num_classes must be >= 1, got {num_classes}")
        d, w, mc = YOLO_SCALES.get(scale, (None, None, None))
        d = depth_multiple if depth_multiple is not None else d
        w = width_multiple if width_multiple is not None else w
        mc = max_channels if max_channels is not None else mc
        ch = lambda c: _make_divisible(min(c, mc) * w, 8)  # noqa: E731
        n = lambda k: max(round(k * d), 1) if k > 1 else k  # noqa: E731
        self.num_classes = num_classes
        self.scale = scale
        self.names = list(names) if names is not None else [str(i) for i in range(num_classes)]
        c64, c128, c256, c512, c1024 = ch(64), ch(128), ch(256), ch(512), ch(1024)
        layers = [
            Conv(in_channels, c64, 3, 2),            # 0  P1/2
            Conv(c64, c128, 3, 2),                   # 1  P2/4
            C2f(c128, c128, n(3), True),             # 2
            Conv(c128, c256, 3, 2),                  # 3  P3/8
            C2f(c256, c256, n(6), True),             # 4
            Conv(c256, c512, 3, 2),                  # 5  P4/16
            C2f(c512, c512, n(6), True),             # 6
            Conv(c512, c1024, 3, 2),                 # 7  P5/32
            C2f(c1024, c1024, n(3), True),           # 8
            SPPF(c1024, c1024, 5),                   # 9
            nn.Upsample(scale_factor=2, mode="nearest"),  # 10
            Concat(1),                               # 11 cat backbone P4
            C2f(c1024 + c512, c512, n(3)),           # 12
            nn.Upsample(scale_factor=2, mode="nearest"),  # 13
            Concat(1),                               # 14 cat backbone P3
            C2f(c512 + c256, c256, n(3)),            # 15 (P3/8)
            Conv(c256, c256, 3, 2),                  # 16
            Concat(1),                               # 17 cat head P4
            C2f(c256 + c512, c512, n(3)),            # 18 (P4/16)
            Conv(c512, c512, 3, 2),                  # 19
            Concat(1),                               # 20 cat head P5
            C2f(c512 + c1024, c1024, n(3)),          # 21 (P5/32)
            Detect(num_classes, (c256, c512, c1024), reg_max=reg_max),  # 22
        ]
        self.model = nn.ModuleList(layers)
        self.stride = self.model[22].stride
        self.model[22].bias_init()

    @property
    def head(self):
        return self.model[22]

    def forward(self, x):
        if x.dim() != 4 or x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"YOLOv8: expected input [B, C, H, W] with H and W multiples of 32, "
                             f"got {tuple(x.shape)}")
        m = self.model
        x = m[1](m[0](x))
        x = m[2](x)
        p3 = m[4](m[3](x))
        p4 = m[6](m[5](p3))
        p5 = m[9](m[8](m[7](p4)))
        h12 = m[12](m[11]((m[10](p5), p4)))
        h15 = m[15](m[14]((m[13](h12), p3)))
        h18 = m[18](m[17]((m[16](h15), h12)))
        h21 = m[21](m[20]((m[19](h18), p5)))
        return m[22]([h15, h18, h21])

    def predict(self, images, conf=0.25, iou=0.7, max_det=300, classes=None, agnostic=False, max_nms=30000):
        """Detections per image: a list of [N, 6] tensors (x1, y1, x2, y2, score, class), best
        first. Runs in eval mode without gradients and restores the previous mode."""
        was_training = self.training
        self.eval()
        try:
            with dlcore.no_grad():
                out = self(images)
        finally:
            self.train(was_training)
        return postprocess(out, conf=conf, iou=iou, max_det=max_det, classes=classes, agnostic=agnostic,
                           max_nms=max_nms)


def postprocess(pred, conf=0.25, iou=0.7, max_det=300, classes=None, agnostic=False, max_nms=30000):
    """Confidence threshold, class-aware NMS and ``max_det`` over the eval output ``[B, A, 4 + nc]``
    of :class:`YOLOv8`: per image a [N, 6] float tensor (x1, y1, x2, y2, score, class) sorted by
    decreasing score. Each anchor proposes its best class only (Ultralytics' predict default);
    ``classes`` keeps the listed class ids; ``agnostic`` runs one NMS over all classes; at most
    ``max_nms`` candidates (the highest scores) enter NMS."""
    from ..ops import batched_nms, nms

    if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
        raise ValueError(f"postprocess: conf and iou must lie in [0, 1], got conf={conf}, iou={iou}")
    if pred.dim() != 3 or pred.shape[2] < 5:
        raise ValueError(f"postprocess: expected predictions [B, A, 4 + num_classes], got {tuple(pred.shape)}")
    arr = pred.detach().to("cpu").numpy()
    results = []
    for p in arr:
        scores = p[:, 4:]
        cls = scores.argmax(1)
        best = scores[np.arange(len(p)), cls]
        keep = best > conf
        if classes is not None:
            keep &= np.isin(cls, np.asarray(classes))
        boxes, best, cls = p[keep, :4], best[keep], cls[keep]
        if len(best) > max_nms:
            top = np.argsort(-best, kind="stable")[:max_nms]
            boxes, best, cls = boxes[top], best[top], cls[top]
        if len(best) == 0:
            results.append(dlcore.zeros(0, 6))
            continue
        b, s = dlcore.tensor(np.ascontiguousarray(boxes)), dlcore.tensor(np.ascontiguousarray(best))
        kept = (nms(b, s, iou) if agnostic else batched_nms(b, s, dlcore.tensor(cls.astype(np.int64)), iou))
        kept = kept.numpy()[:max_det]
        rows = np.concatenate([boxes[kept], best[kept, None], cls[kept, None].astype(np.float32)], 1)
        results.append(dlcore.tensor(rows.astype(np.float32)))
    return results


def _build(scale, num_classes, **kwargs):
    return YOLOv8(num_classes=num_classes, scale=scale, **kwargs)


@register_model("yolov8n")
def yolov8n(num_classes=80, **kwargs):
    """YOLOv8-nano: depth 0.33, width 0.25 (3,157,200 parameters at 80 classes)."""
    return _build("n", num_classes, **kwargs)


@register_model("yolov8s")
def yolov8s(num_classes=80, **kwargs):
    """YOLOv8-small: depth 0.33, width 0.50 (11,166,560 parameters at 80 classes)."""
    return _build("s", num_classes, **kwargs)


@register_model("yolov8m")
def yolov8m(num_classes=80, **kwargs):
    """YOLOv8-medium: depth 0.67, width 0.75, at most 768 channels (25,902,640 parameters)."""
    return _build("m", num_classes, **kwargs)


@register_model("yolov8l")
def yolov8l(num_classes=80, **kwargs):
    """YOLOv8-large: depth 1.0, width 1.0, at most 512 channels (43,691,520 parameters)."""
    return _build("l", num_classes, **kwargs)


@register_model("yolov8x")
def yolov8x(num_classes=80, **kwargs):
    """YOLOv8-extra-large: depth 1.0, width 1.25, at most 512 channels (68,229,648 parameters)."""
    return _build("x", num_classes, **kwargs)
