"""YOLOv8 in plain PyTorch, built from Ultralytics' layer table (yolov8.yaml: from-index, repeats,
module, args) — the reference for dlcore.models.yolo in tests and benchmarks. Its state-dict keys
are Ultralytics' (and dlcore's): ``model.<i>.<...>``. Training mode returns the three raw head
maps; eval mode returns [B, A, 4 + nc] (xyxy boxes in pixels, sigmoid scores) as dlcore does."""
import math

import torch
import torch.nn as nn

SCALES = {"n": (0.33, 0.25, 1024), "s": (0.33, 0.50, 1024), "m": (0.67, 0.75, 768),
          "l": (1.00, 1.00, 512), "x": (1.00, 1.25, 512)}

# (from, repeats, module, args) as in yolov8.yaml; Detect takes the three listed inputs.
TABLE = [
    (-1, 1, "Conv", [64, 3, 2]), (-1, 1, "Conv", [128, 3, 2]), (-1, 3, "C2f", [128, True]),
    (-1, 1, "Conv", [256, 3, 2]), (-1, 6, "C2f", [256, True]), (-1, 1, "Conv", [512, 3, 2]),
    (-1, 6, "C2f", [512, True]), (-1, 1, "Conv", [1024, 3, 2]), (-1, 3, "C2f", [1024, True]),
    (-1, 1, "SPPF", [1024, 5]),
    (-1, 1, "Upsample", []), ([-1, 6], 1, "Concat", []), (-1, 3, "C2f", [512]),
    (-1, 1, "Upsample", []), ([-1, 4], 1, "Concat", []), (-1, 3, "C2f", [256]),
    (-1, 1, "Conv", [256, 3, 2]), ([-1, 12], 1, "Concat", []), (-1, 3, "C2f", [512]),
    (-1, 1, "Conv", [512, 3, 2]), ([-1, 9], 1, "Concat", []), (-1, 3, "C2f", [1024]),
    ([15, 18, 21], 1, "Detect", []),
]


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut):
        super().__init__()
        self.cv1, self.cv2, self.add = Conv(c, c, 3), Conv(c, c, 3), shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1, c2, n, shortcut=False):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split(self.c, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c1 // 2), Conv(c1 // 2 * 4, c2)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class DFL(nn.Module):
    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Detect(nn.Module):
    def __init__(self, nc, ch, reg_max=16, strides=(8, 16, 32)):
        super().__init__()
        self.nc, self.reg_max, self.no, self.strides = nc, reg_max, nc + 4 * reg_max, strides
        c2, c3 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
                                 for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(reg_max)
        for a, b, s in zip(self.cv2, self.cv3, strides):
            a[-1].bias.data[:] = 1.0
            b[-1].bias.data[:nc] = math.log(5 / nc / (640 / s) ** 2)

    def forward(self, xs):
        out = [torch.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(xs)]
        if self.training:
            return out
        b = out[0].shape[0]
        pts, st = [], []
        for f, s in zip(out, self.strides):
            h, w = f.shape[2:]
            sy, sx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
            pts.append(torch.stack((sx, sy), -1).view(-1, 2))
            st.append(torch.full((h * w, 1), float(s)))
        pts, st = torch.cat(pts).t().unsqueeze(0), torch.cat(st).t().unsqueeze(0)
        x = torch.cat([f.view(b, self.no, -1) for f in out], 2)
        box, cls = x.split((4 * self.reg_max, self.nc), 1)
        lt, rb = self.dfl(box).chunk(2, 1)
        boxes = torch.cat((pts - lt, pts + rb), 1) * st
        return torch.cat((boxes, cls.sigmoid()), 1).permute(0, 2, 1)


class YOLOv8(nn.Module):
    def __init__(self, nc=80, scale="n"):
        super().__init__()
        depth, width, max_ch = SCALES[scale]
        chs, layers = [3], []
        for f, n, name, args in TABLE:
            n = max(round(n * depth), 1) if n > 1 else n
            c1 = chs[f] if isinstance(f, int) else None
            if name in ("Conv", "C2f", "SPPF"):
                c2 = math.ceil(min(args[0], max_ch) * width / 8) * 8
                if name == "Conv":
                    m = Conv(c1, c2, *args[1:])
                elif name == "C2f":
                    m = C2f(c1, c2, n, *args[1:])
                else:
                    m = SPPF(c1, c2, args[1])
            elif name == "Upsample":
                m, c2 = nn.Upsample(scale_factor=2, mode="nearest"), c1
            elif name == "Concat":
                m, c2 = Concat(), sum(chs[i] for i in f)
            else:
                m, c2 = Detect(nc, [chs[i] for i in f]), None
            m.f = f
            layers.append(m)
            chs.append(c2) if len(layers) > 1 else chs.__setitem__(0, c2)
        self.model = nn.ModuleList(layers)

    def forward(self, x):
        outs = []
        for m in self.model:
            if isinstance(m.f, int):
                x = m(x if m.f == -1 else outs[m.f])
            else:
                x = m([x if i == -1 else outs[i] for i in m.f])
            outs.append(x)
        return x


class Concat(nn.Module):
    def forward(self, xs):
        return torch.cat(xs, 1)
