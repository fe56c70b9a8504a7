"""streets: generated street scenes for semantic segmentation (``make_streets``), one of the
segsynth datasets (data/datasets/segsynth.py holds the cache, the split and the other two).

Note [streets]: a pinhole camera (focal length 0.55-0.8 W, 1.3-1.8 m above the road, horizon at
36-48 % of the height, vanishing point at 38-62 % of the width) looking down a straight street:
the road (3-7.5 m to each side of the camera; dashed lane lines, sometimes solid edge lines,
asphalt noise), sidewalks (1.6-4.5 m wide; paving joints where they are large enough, a lighter
curb; the curb is sidewalk), and along each sidewalk's outer edge a row of facades in segments of
8-30 m: buildings (3-26 m tall; grey, sand, brick or pastel, never green; windows on a floor grid
where they are at least ~2 pixels, shop fronts, hedges at their foot (vegetation)), or sometimes
a park (a wall of vegetation up to 9 m tall, always above the camera, with an uneven top). Where
a farther segment is taller, its end wall shows above the nearer one; a row of buildings may close
the street far away. The sky (above the horizon only) is a blue gradient with clouds. Then, painted far to near: trees
(a trunk and a crown of 4-7 discs, vegetation) near the facades, 2-8 people (>= 22 pixels tall:
head, hair, torso, legs) on the sidewalks, 1-7 cars (3-D boxes 3.8-5 m long, some vans, any colour
but green, with windows, wheels, lights and a plate; parked at a curb or in a lane) and 2-6 poles
(2-5 pixels wide, grey, some with a lamp arm) near the curb or the facades, most with a traffic sign
(>= 9 pixels: a red/white, blue or yellow circle, triangle, rectangle or diamond). Sizes follow the
perspective (an object's pixel size is f * size / depth). No object that is nearer than a pole
overlaps it, and a sign covers its pole's whole width, so every horizontal run of pole pixels is
at least 2 pixels wide. Last come exposure and white balance (+-15 %, +-7 % per channel) and
pixel noise (the sum of two uniform integers in [-a, a], a = 2..5). Hard edges (no anti-aliasing):
a pixel is labelled with what its centre shows; every pixel has a class (index 0 is "road").
Class frequencies (1500 images, seed 0): road 39.2 %, sidewalk 4.9 %, building 33.3 %, sky 4.8 %,
vegetation 8.0 %, car 5.5 %, pole 1.9 %, person 1.8 %, traffic_sign 0.6 % of the pixels; car,
person and traffic_sign are each in 97-98 % of the images, the other classes in all of them.
"""
import numpy as np

from .segsynth import (_FORMAT, STREETS_CLASSES, _check_count, _check_root, _check_seed, _generate, _is_int, _pixel_noise,
                       _smoothstep, _to_uint8, _value_noise2d)
from .shapes import _hsv_to_rgb

__all__ = ["make_streets", "render_streets"]

# ---- streets -----------------------------------------------------------------------------------------
_ROAD, _SIDEWALK, _BUILDING, _SKY, _VEGETATION, _CAR, _POLE, _PERSON, _SIGN = range(9)
_TABLE = 64  # size of the random tables that 1-D noise and per-window jitter index (modulo)


def _noise1d(table, t):
    """Smooth 1-D value noise in [0, 1] at positions ``t`` (grid step 1), the node values cycling
    through ``table``."""
    i = np.floor(t)
    fr = _smoothstep(t - i)
    i = i.astype(np.int64) % len(table)
    return table[i] * (1.0 - fr) + table[(i + 1) % len(table)] * fr


def _paint(img, lab, rows, cols, sel, colour, cls, shade=None):
    """Paint ``colour`` (times ``shade``, an array of the window's shape) and the label ``cls`` into
    the pixels ``sel`` of the window (rows, cols)."""
    for c in range(3):
        plane = img[c, rows, cols]
        if shade is None:
            plane[sel] = colour[c]
        else:
            plane[sel] = (shade * colour[c])[sel]
    lab[rows, cols][sel] = cls


def _convex_hull(points):
    """The convex hull of 2-D points (monotone chain), in order."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _in_polygon(poly, xs, ys):
    """Whether the points (xs, ys) (broadcasting) are inside the convex polygon ``poly``."""
    inside = np.ones(np.broadcast(xs, ys).shape, dtype=bool)
    for k in range(len(poly)):
        (x0, y0), (x1, y1) = poly[k], poly[(k + 1) % len(poly)]
        inside &= (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0) >= 0.0
    return inside


def _window(y0, y1, x0, x1, H, W):
    """Pixel window (rows, cols, r0, c0) covering [x0, x1] x [y0, y1], clipped; None if empty."""
    r0, r1 = max(0, int(np.floor(y0))), min(H, int(np.floor(y1)) + 1)
    c0, c1 = max(0, int(np.floor(x0))), min(W, int(np.floor(x1)) + 1)
    if r0 >= r1 or c0 >= c1:
        return None
    return slice(r0, r1), slice(c0, c1), r0, c0


def _boxes_touch(a, b, margin=2):
    """Whether pixel boxes (r0, r1, c0, c1) overlap or come within ``margin`` pixels."""
    return not (a[1] + margin <= b[0] or b[1] + margin <= a[0] or a[3] + margin <= b[2] or b[3] + margin <= a[2])


def _hsv(rng, h, s, v):
    """A colour with hue, saturation and value each drawn uniformly from a (lo, hi) pair (a
    number: fixed)."""
    def draw(x):
        return rng.uniform(*x) if isinstance(x, tuple) else x
    return _hsv_to_rgb(draw(h), draw(s), draw(v))


class _Scene:
    """One streets image being drawn: the camera, the street's layout and the canvas.

    Coordinates: X to the right, Y up, Z ahead (metres), the camera at (0, hc, 0) looking along
    Z; the pixel of (X, Y, Z) is (cx + f X / Z, cy + f (hc - Y) / Z) (pixel centres at +0.5)."""

    def __init__(self, rng, H, W):
        self.rng, self.H, self.W = rng, H, W
        self.f = W * rng.uniform(0.55, 0.8)                      # focal length, pixels
        self.hc = rng.uniform(1.3, 1.8)                          # camera height
        self.cy = int(np.floor(H * rng.uniform(0.36, 0.48)))     # horizon: rows < cy are above it
        self.cx = int(np.floor(W * rng.uniform(0.38, 0.62)))     # the vanishing point's column
        self.road = rng.uniform(3.0, 7.5, 2)                     # road edges, left / right of the camera
        self.walk = self.road + rng.uniform(1.6, 4.5, 2)         # sidewalks' outer edges = facades
        self.ys = np.arange(H, dtype=np.float64) + 0.5 - self.cy
        self.xs = np.arange(W, dtype=np.float64) + 0.5 - self.cx
        self.zmin = self.f * self.hc / self.ys[-1]               # depth of the ground at the bottom row
        self.img = np.empty((3, H, W))
        self.lab = np.full((H, W), _SKY, dtype=np.uint8)
        self.depth = np.full((H, W), np.inf)

    def px(self, X, Y, Z):
        return self.cx + self.f * X / Z, self.cy + self.f * (self.hc - Y) / Z


def _streets_sky(sc):
    rng = sc.rng
    h, s, v = rng.uniform(0.55, 0.64), rng.uniform(0.3, 0.75), rng.uniform(0.7, 0.95)
    top = _hsv_to_rgb(h, s, v)
    low = _hsv_to_rgb(h, s * rng.uniform(0.1, 0.4), min(1.0, v * rng.uniform(1.0, 1.15)))
    t = np.minimum((np.arange(sc.H) + 0.5) / max(sc.cy, 1), 1.0)
    clouds = _value_noise2d(rng, (sc.H, sc.W), (3, 6))
    alpha = np.clip((clouds - rng.uniform(0.45, 0.85)) * 4.0, 0.0, 0.85)
    cloud = _hsv_to_rgb(h, 0.04, rng.uniform(0.85, 1.0))
    for c in range(3):
        sc.img[c] = (top[c] + (low[c] - top[c]) * t)[:, None]
        sc.img[c] += (cloud[c] - sc.img[c]) * alpha


def _building_colour(rng):
    kind = int(rng.integers(4))
    if kind == 0:   # grey / concrete
        return _hsv(rng, (0.0, 1.0), (0.0, 0.07), (0.45, 0.85))
    if kind == 1:   # sand / beige
        return _hsv(rng, (0.07, 0.14), (0.15, 0.4), (0.55, 0.9))
    if kind == 2:   # brick
        return _hsv(rng, (0.0, 0.05), (0.35, 0.6), (0.35, 0.6))
    hue = rng.uniform(-0.5, 0.15) % 1.0  # pastel, never green
    return _hsv_to_rgb(hue, rng.uniform(0.1, 0.3), rng.uniform(0.65, 0.9))


def _segments(rng, hc):
    """The buildings along one side: start depths and, per segment, its kind and look."""
    starts = [0.0]
    while starts[-1] < 300.0:
        starts.append(starts[-1] + rng.uniform(8.0, 30.0))
    n = len(starts)
    seg = {"start": np.array(starts), "park": rng.random(n) < 0.15, "height": rng.uniform(hc + 2.5, 26.0, n),
           "veg_height": rng.uniform(hc + 1.0, 9.0, n),
           "hedge": np.where(rng.random(n) < 0.3, rng.uniform(0.6, 1.4, n), 0.0),
           "floor": rng.uniform(2.8, 3.6, n), "spacing": rng.uniform(2.2, 3.8, n), "win_w": rng.uniform(0.35, 0.6, n),
           "win_h": rng.uniform(0.4, 0.6, n), "shop": rng.random(n) < 0.4, "depth": rng.uniform(8.0, 20.0, n)}
    seg["colour"] = np.array([_building_colour(rng) for _ in range(n)])
    seg["glass"] = np.array([_hsv(rng, (0.5, 0.66), (0.05, 0.35), (0.1, 0.38)) for _ in range(n)])
    seg["shopc"] = np.array([_hsv(rng, (0.0, 1.0), (0.1, 0.6), (0.15, 0.5)) for _ in range(n)])
    seg["table"] = rng.random(_TABLE)
    return seg


def _streets_facades(sc, side):
    rng = sc.rng
    sgn = -1.0 if side == 0 else 1.0
    a = sc.walk[side]
    seg = _segments(rng, sc.hc)
    light = rng.uniform(0.7, 1.05)
    leaf = _hsv(rng, (0.2, 0.33), (0.4, 0.75), (0.25, 0.5))
    cols = np.nonzero(sc.xs * sgn > 0)[0]
    if len(cols) == 0:
        return
    cs = slice(int(cols[0]), int(cols[-1]) + 1)
    d = sc.xs[cs] * sgn
    Z = sc.f * a / d                                   # the facade's depth at each column
    Y = sc.hc - sc.ys[:, None] * (a / d)[None, :]      # its height at each pixel
    k = np.searchsorted(seg["start"], Z, side="right") - 1
    facade = Y > 0.0                                   # below: the ground in front of it
    park = seg["park"][k][None, :]
    # a park's uneven top stays above the camera, so nothing below the horizon is left as sky
    top = np.where(seg["park"][k], np.maximum(seg["veg_height"][k] * (0.7 + 0.6 * _noise1d(seg["table"], Z / 3.0)),
                                              sc.hc + 0.2), seg["height"][k])
    building = facade & (Y <= top[None, :]) & ~park
    veg = facade & (Y <= top[None, :]) & park
    hedge = facade & ~park & (Y <= (seg["hedge"][k] * (0.8 + 0.4 * _noise1d(seg["table"], Z / 1.5)))[None, :])
    # facade colour with a little smooth shading, windows where they are at least ~2 pixels big
    shade = light * (0.92 + 0.16 * _value_noise2d(rng, Y.shape, (4, 8)))
    colour = seg["colour"][k]                          # (columns, 3)
    fh, ws, ww, wh = seg["floor"][k], seg["spacing"][k], seg["win_w"][k], seg["win_h"][k]
    fz = ((Z - seg["start"][k]) / ws) % 1.0
    iz = np.floor((Z - seg["start"][k]) / ws).astype(np.int64) % _TABLE
    big = (sc.f * a * ws * ww / (Z * Z) >= 1.5) & (sc.f * fh * wh / Z >= 2.0)
    fy = (Y / fh[None, :]) % 1.0
    iy = np.floor(Y / fh[None, :]).astype(np.int64) % _TABLE
    window = (building & big[None, :] & (np.abs(fz - 0.5) < ww / 2.0)[None, :] & (fy > 0.3) & (fy < 0.3 + wh[None, :])
              & (Y > fh[None, :]) & (Y < seg["height"][k][None, :] - 0.6))
    shop = building & seg["shop"][k][None, :] & (Y < 0.85 * fh[None, :])
    jitter = 0.7 + 0.6 * seg["table"][(iz[None, :] * 7 + iy * 13) % _TABLE]
    img, lab = sc.img[:, :, cs], sc.lab[:, cs]
    for c in range(3):
        base = colour[:, c][None, :] * shade
        base = np.where(shop, seg["shopc"][k][:, c][None, :] * shade, base)
        base = np.where(window, seg["glass"][k][:, c][None, :] * jitter, base)
        base = np.where(veg | hedge, leaf[c] * (0.75 + 0.5 * shade / light - 0.5), base)
        img[c][building | veg] = base[building | veg]
    lab[building & ~hedge] = _BUILDING
    lab[veg | hedge] = _VEGETATION
    sc.depth[:, cs][building | veg] = np.broadcast_to(Z[None, :], Y.shape)[building | veg]
    # the end walls of buildings taller than what is in front of them (plane Z = start, facing us)
    for j in range(1, len(seg["start"])):
        if seg["park"][j]:
            continue
        Zj = seg["start"][j]
        wc = (d > sc.f * a / Zj) & (d <= sc.f * (a + seg["depth"][j]) / Zj)
        Yw = sc.hc - sc.ys * Zj / sc.f
        wr = (Yw >= 0.0) & (Yw <= seg["height"][j])
        if not wc.any() or not wr.any():
            continue
        sel = wr[:, None] & wc[None, :] & (lab == _SKY)
        if not sel.any():
            continue
        u = d * Zj / sc.f - a                           # metres from the facade
        win = ((np.abs((u / seg["spacing"][j]) % 1.0 - 0.5) < seg["win_w"][j] / 2.0)[None, :]
               & (((Yw / seg["floor"][j]) % 1.0 > 0.3) & ((Yw / seg["floor"][j]) % 1.0 < 0.3 + seg["win_h"][j])
                  & (Yw > seg["floor"][j]) & (Yw < seg["height"][j] - 0.6))[:, None])
        if sc.f * seg["spacing"][j] * seg["win_w"][j] / Zj < 1.5 or sc.f * seg["floor"][j] * seg["win_h"][j] / Zj < 2:
            win[:] = False
        wl = rng.uniform(0.75, 1.1)
        for c in range(3):
            v = np.where(win, seg["glass"][j][c], seg["colour"][j][c] * wl * shade / light)
            img[c][sel] = v[sel]
        lab[sel] = _BUILDING
        sc.depth[:, cs][sel] = Zj


def _streets_ground(sc):
    rng = sc.rng
    r0 = sc.cy
    ys = sc.ys[r0:]
    X = sc.hc * sc.xs[None, :] / ys[:, None]
    Z = sc.f * sc.hc / ys                               # per row
    ground = (X >= -sc.walk[0]) & (X <= sc.walk[1])
    road = ground & (X >= -sc.road[0]) & (X <= sc.road[1])
    walk = ground & ~road
    shape = X.shape
    # road: asphalt with fine and coarse noise, lane markings
    asphalt = _hsv(rng, (0.0, 1.0), (0.0, 0.06), (0.2, 0.42))
    fine = _value_noise2d(rng, shape, (max(1, shape[0] // 3), max(1, shape[1] // 3)))
    coarse = _value_noise2d(rng, shape, (3, 6))
    shade = 0.85 + 0.15 * fine + 0.15 * coarse
    paint = np.empty((3,) + shape)
    for c in range(3):
        paint[c] = asphalt[c] * shade
    lw = rng.uniform(2.8, 3.6)
    period, phase = rng.uniform(6.0, 12.0), rng.random()
    marks = np.zeros(shape, dtype=bool)
    dash = ((Z / period + phase) % 1.0 < 0.5)[:, None]
    xb = -sc.road[0] + lw
    while xb < sc.road[1] - 1.0:
        marks |= (np.abs(X - xb) < 0.075) & dash
        xb += lw
    if rng.random() < 0.5:
        marks |= (np.abs(X + sc.road[0] - 0.3) < 0.075) | (np.abs(X - sc.road[1] + 0.3) < 0.075)
    marks &= road
    paint_mark = _hsv_to_rgb(0.13, 0.6, 0.85) if rng.random() < 0.2 else _hsv(rng, 0.0, 0.0, (0.75, 0.92))
    for c in range(3):
        paint[c][marks] = paint_mark[c] * shade[marks]
    # sidewalks: paving with tile joints where they are big enough, a lighter curb
    kind = int(rng.integers(3))
    pave = [_hsv(rng, (0.0, 1.0), (0.0, 0.05), (0.5, 0.72)), _hsv(rng, (0.0, 0.06), (0.25, 0.45), (0.45, 0.65)),
            _hsv(rng, (0.08, 0.13), (0.15, 0.3), (0.55, 0.78))][kind]
    tile = rng.uniform(0.3, 0.6)
    joints = (((X / tile) % 1.0 < 0.1) | ((Z / tile) % 1.0 < 0.1)[:, None]) & (sc.f * tile / Z >= 5.0)[:, None]
    curb = (np.abs(X + sc.road[0]) < 0.2) | (np.abs(X - sc.road[1]) < 0.2)
    wshade = (0.9 + 0.1 * fine) * np.where(joints, 0.85, 1.0) * np.where(curb, 1.18, 1.0)
    for c in range(3):
        paint[c][walk] = np.minimum(pave[c] * wshade[walk], 255.0)
    img = sc.img[:, r0:]
    for c in range(3):
        img[c][ground] = paint[c][ground]
    sc.lab[r0:][road] = _ROAD
    sc.lab[r0:][walk] = _SIDEWALK
    sc.depth[r0:][ground] = np.broadcast_to(Z[:, None], shape)[ground]


def _streets_end(sc):
    """A row of buildings across the far end of the street (plane Z = Zend, facing us)."""
    rng = sc.rng
    if rng.random() >= 0.75:
        return
    Zend = rng.uniform(70.0, 250.0)
    width = rng.uniform(6.0, 18.0)
    heights = rng.uniform(4.0, 30.0, _TABLE)
    colours = np.array([_building_colour(rng) for _ in range(_TABLE)]) * rng.uniform(0.75, 1.0)
    Xe = sc.xs * Zend / sc.f
    sec = np.floor((Xe + 1000.0) / width).astype(np.int64) % _TABLE
    Ye = sc.hc - sc.ys * Zend / sc.f
    sel = (sc.depth > Zend) & (Ye >= 0.0)[:, None] & (Ye[:, None] <= heights[sec][None, :])
    for c in range(3):
        sc.img[c][sel] = np.broadcast_to(colours[sec][:, c][None, :], sel.shape)[sel]
    sc.lab[sel] = _BUILDING
    sc.depth[sel] = Zend


# objects: each a dict with "kind", "z" (painter's order: far first), "box" (r0, r1, c0, c1) and its look
def _pole_object(sc):
    rng = sc.rng
    side = int(rng.integers(2))
    sgn = -1.0 if side == 0 else 1.0
    if rng.random() < 0.7:
        X = sgn * (sc.road[side] + rng.uniform(0.3, 0.6))   # at the curb
    else:
        X = sgn * (sc.walk[side] - rng.uniform(0.3, 0.8))   # by the facades
    u = rng.random()
    Z = sc.zmin * 1.15 + (32.0 - sc.zmin * 1.15) * u * np.sqrt(u)   # u^1.5: more near than far
    height = rng.uniform(4.0, 8.0)
    wpx = int(np.clip(np.rint(sc.f * rng.uniform(0.15, 0.28) / Z), 2, 5))
    colour = _hsv(rng, (0.0, 1.0), (0.0, 0.12), (0.2, 0.5))
    sign_kind = int(rng.integers(5)) if rng.random() < 0.85 else -1  # circle, triangle up/down, rectangle, diamond
    sign_m = rng.uniform(0.6, 1.0)
    sign_top = rng.random() < 0.5
    sign_y = rng.uniform(2.2, 3.0)
    sign_aspect = rng.uniform(0.8, 1.5), rng.uniform(0.8, 1.2)
    sign_colours = rng.integers(3), rng.uniform(0.8, 1.0)
    arm = rng.uniform(1.0, 2.2) if (sign_kind < 0 or not sign_top) and rng.random() < 0.5 else 0.0
    xc, yb = sc.px(X, 0.0, Z)
    c0 = int(np.floor(xc - wpx / 2.0 + 0.5))
    if c0 < 1 or c0 + wpx > sc.W - 1:
        return None
    xm = c0 + wpx / 2.0                                 # the pole's middle, on a pixel boundary or centre
    sign = None
    if sign_kind >= 0:
        spx = max(9.0, sc.f * sign_m / Z)
        ys_m = sc.px(X, height - sign_m / 2.0, Z)[1] if sign_top else sc.px(X, sign_y + sign_m / 2.0, Z)[1]
        hx = spx / 2.0 * (sign_aspect[0] if sign_kind == 3 else 1.0)
        hy = spx / 2.0 * (sign_aspect[1] if sign_kind == 3 else 1.0)
        sign = {"kind": sign_kind, "x": xm, "y": ys_m, "hx": hx, "hy": hy, "colours": sign_colours}
    top_y = sc.px(X, height, Z)[1] if sign is None or not sign_top else sign["y"]
    r0, r1 = max(0, int(np.floor(top_y))), min(sc.H, int(np.floor(yb)) + 1)
    if r1 - r0 < 4:
        return None
    box = [r0, r1, c0, c0 + wpx]
    arm_box = None
    if arm:
        apx = max(int(np.rint(sc.f * arm / Z)), 2 * wpx)
        ends = (c0, c0 + wpx + apx) if sgn < 0 else (c0 - apx, c0 + wpx)  # over the road
        if ends[0] >= 1 and ends[1] <= sc.W - 1 and r0 > 0:
            arm_box = (r0, min(sc.H, r0 + wpx), ends[0], ends[1], 1 if sgn < 0 else -1)
            box[2], box[3] = min(box[2], ends[0]), max(box[3], ends[1])
            box[1] = max(box[1], min(sc.H, r0 + 2 * wpx + 1))
    if sign is not None:
        box = [min(box[0], max(0, int(np.floor(sign["y"] - sign["hy"])))),
               max(box[1], min(sc.H, int(np.floor(sign["y"] + sign["hy"])) + 1)),
               min(box[2], max(0, int(np.floor(xm - sign["hx"])))),
               max(box[3], min(sc.W, int(np.floor(xm + sign["hx"])) + 1))]
    return {"kind": _POLE, "z": Z, "box": tuple(box), "rows": (r0, r1), "cols": (c0, c0 + wpx), "colour": colour,
            "sign": sign, "arm": arm_box}


_SIGN_COLOURS = np.array([[200.0, 30.0, 30.0], [245.0, 245.0, 240.0], [30.0, 80.0, 190.0], [240.0, 200.0, 20.0],
                          [30.0, 130.0, 60.0], [20.0, 20.0, 20.0]])


def _draw_pole(sc, o):
    (r0, r1), (c0, c1) = o["rows"], o["cols"]
    w = c1 - c0
    t = (np.arange(w) + 0.5) / w
    shade = np.broadcast_to((0.8 + 1.2 * t * (1.0 - t))[None, :], (r1 - r0, w))   # a round pole's highlight
    rows, cols = slice(r0, r1), slice(c0, c1)
    _paint(sc.img, sc.lab, rows, cols, np.ones((r1 - r0, w), dtype=bool), o["colour"], _POLE, shade)
    if o["arm"] is not None:
        a0, a1, e0, e1, direction = o["arm"]
        _paint(sc.img, sc.lab, slice(a0, a1), slice(e0, e1), np.ones((a1 - a0, e1 - e0), dtype=bool), o["colour"],
               _POLE)
        # the lamp: a block under the arm's far end
        lw = 2 * w
        l0, l1 = (e1 - lw, e1) if direction > 0 else (e0, e0 + lw)
        lr1 = min(sc.H, a1 + w)
        if lr1 > a1:
            _paint(sc.img, sc.lab, slice(a1, lr1), slice(l0, l1), np.ones((lr1 - a1, lw), dtype=bool),
                   o["colour"] * 0.7, _POLE)
    s = o["sign"]
    if s is None:
        return
    win = _window(s["y"] - s["hy"], s["y"] + s["hy"], s["x"] - s["hx"], s["x"] + s["hx"], sc.H, sc.W)
    if win is None:
        return
    rows, cols, wr0, wc0 = win
    ny, nx = rows.stop - rows.start, cols.stop - cols.start
    u = (np.arange(nx) + wc0 + 0.5 - s["x"])[None, :] / s["hx"]
    v = (np.arange(ny) + wr0 + 0.5 - s["y"])[:, None] / s["hy"]
    rim = max(0.22, 1.5 / s["hx"])
    kind = s["kind"]
    if kind == 0:
        r2 = u * u + v * v
        outer, inner = r2 <= 1.0, r2 <= (1.0 - rim) * (1.0 - rim)
    elif kind in (1, 2):
        vv = v if kind == 1 else -v
        outer = (vv <= 0.75) & (np.abs(u) <= (vv + 1.0) / 1.75)
        vi = (vv - 0.25) / (1.0 - rim) + 0.25
        inner = (vi <= 0.75) & (np.abs(u) / (1.0 - rim) <= (vi + 1.0) / 1.75)
    elif kind == 3:
        outer = (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
        inner = (np.abs(u) <= 1.0 - rim) & (np.abs(v) <= 1.0 - rim * s["hx"] / s["hy"])
    else:
        outer = np.abs(u) + np.abs(v) <= 1.0
        inner = np.abs(u) + np.abs(v) <= 1.0 - rim
    choice, bright = s["colours"]
    rim_c, in_c = [(0, 1), (1, 2), (5, 3)][int(choice)] if kind in (0, 1, 2) else [(1, 2), (1, 4), (5, 3)][int(choice)]
    if kind == 4:
        rim_c, in_c = 1, 3
    rim_colour, in_colour = _SIGN_COLOURS[rim_c] * bright, _SIGN_COLOURS[in_c] * bright
    _paint(sc.img, sc.lab, rows, cols, outer, rim_colour, _SIGN)
    _paint(sc.img, sc.lab, rows, cols, inner & outer, in_colour, _SIGN)
    # where the sign crosses its pole it covers the pole's whole width (no 1-pixel slivers of pole)
    pc0, pc1 = max(o["cols"][0], wc0), min(o["cols"][1], cols.stop)
    if pc0 < pc1:
        crossing = outer[:, pc0 - wc0:pc1 - wc0].any(axis=1)
        if crossing.any():
            rr = np.nonzero(crossing)[0] + wr0
            for c in range(3):
                sc.img[c, rr, pc0:pc1] = rim_colour[c]
            sc.lab[rr, pc0:pc1] = _SIGN


def _person_object(sc):
    rng = sc.rng
    side = int(rng.integers(2))
    sgn = -1.0 if side == 0 else 1.0
    X = sgn * rng.uniform(sc.road[side] + 0.4, sc.walk[side] - 0.3)
    tall = rng.uniform(1.55, 1.95)
    zmax = sc.f * tall / 22.0                            # at least 22 pixels tall
    if zmax <= sc.zmin * 1.05:
        return None
    Z = rng.uniform(sc.zmin * 1.05, zmax)
    look = {"skin": _hsv(rng, (0.03, 0.1), (0.25, 0.6), (0.35, 0.95)),
            "hair": _hsv(rng, (0.02, 0.12), (0.2, 0.7), (0.05, 0.5)),
            "shirt": _hsv(rng, (0.0, 1.0), (0.1, 0.9), (0.2, 0.95)),
            "legs": [_hsv(rng, (0.58, 0.64), (0.3, 0.6), (0.2, 0.5)), _hsv(rng, 0.0, 0.0, (0.08, 0.3)),
                     _hsv(rng, (0.08, 0.12), (0.2, 0.4), (0.4, 0.7)),
                     _hsv(rng, (0.0, 1.0), (0.0, 0.6), (0.2, 0.7))][int(rng.integers(4))],
            "stride": rng.uniform(0.0, 0.07), "hair_p": rng.random() < 0.8}
    hp = sc.f * tall / Z
    xc, yb = sc.px(X, 0.0, Z)
    if not 0.0 <= xc < sc.W:
        return None
    box = (max(0, int(np.floor(yb - hp))), min(sc.H, int(np.floor(yb)) + 1),
           max(0, int(np.floor(xc - 0.2 * hp))), min(sc.W, int(np.floor(xc + 0.2 * hp)) + 1))
    return {"kind": _PERSON, "z": Z, "box": box, "x": xc, "y": yb, "hp": hp, **look}


def _draw_person(sc, o):
    hp, xc, yb = o["hp"], o["x"], o["y"]
    win = _window(yb - hp, yb, xc - 0.2 * hp, xc + 0.2 * hp, sc.H, sc.W)
    if win is None:
        return
    rows, cols, r0, c0 = win
    x = (np.arange(cols.stop - c0) + c0 + 0.5 - xc)[None, :] / hp    # in units of the height, from the axis
    y = (yb - (np.arange(rows.stop - r0) + r0 + 0.5))[:, None] / hp  # height above the feet, 0..1
    head = ((x / 0.07) ** 2 + ((y - 0.915) / 0.08) ** 2) <= 1.0
    hair = head & (y > 0.94) & o["hair_p"]
    half = 0.11 + 0.03 * (y - 0.5) / 0.34                               # shoulders wider than hips
    torso = (y >= 0.47) & (y <= 0.84) & (np.abs(x) <= half)
    spread = 0.055 + o["stride"] * (0.5 - y) / 0.5
    lw = max(0.045, 1.0 / hp)
    if hp >= 28:
        legs = (y < 0.5) & ((np.abs(x - spread) <= lw) | (np.abs(x + spread) <= lw))
    else:
        legs = (y < 0.5) & (np.abs(x) <= spread + lw)
    shoes = legs & (y < 0.035)
    _paint(sc.img, sc.lab, rows, cols, legs, o["legs"], _PERSON)
    _paint(sc.img, sc.lab, rows, cols, shoes, o["legs"] * 0.4, _PERSON)
    _paint(sc.img, sc.lab, rows, cols, torso, o["shirt"], _PERSON)
    _paint(sc.img, sc.lab, rows, cols, head, o["skin"], _PERSON)
    _paint(sc.img, sc.lab, rows, cols, hair, o["hair"], _PERSON)


def _car_object(sc, cars):
    rng = sc.rng
    w, length = rng.uniform(1.65, 2.0), rng.uniform(3.8, 5.0)
    h = rng.uniform(1.9, 2.3) if rng.random() < 0.15 else rng.uniform(1.35, 1.75)
    lo, hi = -sc.road[0] + 0.25, sc.road[1] - 0.25 - w
    if hi <= lo:
        return None
    r = rng.random()
    X0 = lo if r < 0.2 else hi if r < 0.4 else rng.uniform(lo, hi)   # parked at a curb, or in a lane
    u = rng.random()
    Z0 = sc.zmin * 0.85 + (45.0 - sc.zmin * 0.85) * u * u   # more near than far
    hue = rng.uniform(0.4, 1.18) % 1.0                                   # any colour but green
    saturation = rng.uniform(0.0, 0.85) if rng.random() < 0.6 else rng.uniform(0.0, 0.1)
    body = _hsv_to_rgb(hue, saturation, rng.uniform(0.12, 0.95))
    glass = _hsv(rng, (0.52, 0.66), (0.1, 0.3), (0.08, 0.28))
    if sc.f * h / Z0 < 6.0:
        return None
    if any(X0 < c["X1"] + 0.3 and c["X0"] < X0 + w + 0.3 and Z0 < c["Z1"] + 1.0 and c["z"] < Z0 + length + 1.0
           for c in cars):   # no two cars in the same place
        return None
    corners = [sc.px(X, Y, Z) for X in (X0, X0 + w) for Y in (0.0, h) for Z in (Z0, Z0 + length)]
    hull = _convex_hull(corners)
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    box = (max(0, int(np.floor(min(ys)))), min(sc.H, int(np.floor(max(ys))) + 1),
           max(0, int(np.floor(min(xs)))), min(sc.W, int(np.floor(max(xs))) + 1))
    if box[0] >= box[1] or box[2] >= box[3]:
        return None
    return {"kind": _CAR, "z": Z0, "Z1": Z0 + length, "X0": X0, "X1": X0 + w, "h": h, "box": box, "hull": hull,
            "body": body, "glass": glass}


def _draw_car(sc, o):
    r0, r1, c0, c1 = o["box"]
    rows, cols = slice(r0, r1), slice(c0, c1)
    px = (np.arange(c1 - c0) + c0 + 0.5)[None, :]
    py = (np.arange(r1 - r0) + r0 + 0.5)[:, None]
    inside = _in_polygon(o["hull"], px, py)
    X0, X1, Z0, Z1, h = o["X0"], o["X1"], o["z"], o["Z1"], o["h"]
    f, hc = sc.f, sc.hc
    # the rear face (Z = Z0): its (X, Y) at each pixel
    Xr = (px - sc.cx) * Z0 / f
    Yr = hc - (py - sc.cy) * Z0 / f
    rear = inside & (Xr >= X0) & (Xr <= X1) & (Yr >= 0.0) & (Yr <= h)
    u = (Xr - X0) / (X1 - X0)
    yr = Yr / h
    shade = np.full(inside.shape, 1.12)                 # the roof, lit from above
    parts = np.zeros(inside.shape, dtype=np.int8)      # 0 body, 1 glass, 2 tyre, 3 light, 4 plate, 5 bumper
    shade[rear] = 0.95
    parts[rear & (yr >= 0.62) & (yr <= 0.92) & (u >= 0.12) & (u <= 0.88)] = 1
    parts[rear & (yr >= 0.5) & (yr <= 0.6) & ((u <= 0.18) | (u >= 0.82)) & (u >= 0.04) & (u <= 0.96)] = 3
    parts[rear & (yr >= 0.3) & (yr <= 0.4) & (u >= 0.4) & (u <= 0.6)] = 4
    parts[rear & (yr < 0.25)] = 5
    parts[rear & (yr < 0.2) & ((u < 0.2) | (u > 0.8))] = 2
    # the side face towards the camera's axis (X = X1 left of it, X = X0 right of it)
    Xs = X1 if X1 < 0.0 else X0 if X0 > 0.0 else None
    if Xs is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            Zs = f * Xs / (px - sc.cx)
        Ys = hc - (py - sc.cy) * Zs / f
        side = inside & ~rear & (Zs >= Z0) & (Zs <= Z1) & (Ys >= 0.0) & (Ys <= h)
        shade[side] = 0.78
        zs = (Zs - Z0) / (Z1 - Z0)
        ys_ = Ys / h
        parts[side & (ys_ >= 0.6) & (ys_ <= 0.9) & (zs >= 0.25) & (zs <= 0.85) & (np.abs(zs - 0.55) > 0.04)] = 1
        parts[side & (ys_ < 0.25)] = 5
        for zw in (0.18, 0.82):
            dz, dy = Zs - (Z0 + zw * (Z1 - Z0)), Ys - 0.33
            parts[side & (dz * dz + dy * dy <= 0.33 * 0.33)] = 2
    colours = [o["body"], o["glass"], np.array([18.0, 18.0, 20.0]), np.array([190.0, 25.0, 25.0]),
               np.array([225.0, 225.0, 215.0]), o["body"] * 0.55]
    for p, colour in enumerate(colours):
        sel = inside & (parts == p)
        if sel.any():
            _paint(sc.img, sc.lab, rows, cols, sel, colour, _CAR, shade if p in (0, 5) else None)


def _tree_object(sc):
    rng = sc.rng
    side = int(rng.integers(2))
    sgn = -1.0 if side == 0 else 1.0
    X = sgn * (sc.walk[side] - rng.uniform(0.4, 1.2))
    Z = rng.uniform(sc.zmin * 1.2, 55.0)
    trunk_h, radius, trunk_w = rng.uniform(1.6, 3.0), rng.uniform(1.2, 3.0), rng.uniform(0.25, 0.45)
    k = int(rng.integers(4, 8))
    blobs = [(rng.uniform(-0.6, 0.6) * radius, rng.uniform(-0.5, 0.5) * radius, rng.uniform(0.45, 0.75) * radius)
             for _ in range(k)]
    leaf = _hsv(rng, (0.18, 0.33), (0.35, 0.75), (0.25, 0.55))
    bark = _hsv(rng, (0.05, 0.1), (0.2, 0.5), (0.15, 0.35))
    cells = int(rng.integers(3, 7))
    cy_m = trunk_h + 0.85 * radius
    s = sc.f / Z
    xc, yb = sc.px(X, 0.0, Z)
    _, ycc = sc.px(X, cy_m, Z)
    discs = [(xc + dx * s, ycc - dy * s, r * s) for dx, dy, r in blobs]
    x0 = min(d[0] - d[2] for d in discs)
    x1 = max(d[0] + d[2] for d in discs)
    y0 = min(d[1] - d[2] for d in discs)
    tw = max(2.0, trunk_w * s)
    box = (max(0, int(np.floor(y0))), min(sc.H, int(np.floor(yb)) + 1), max(0, int(np.floor(x0))),
           min(sc.W, int(np.floor(x1)) + 1))
    if box[0] >= box[1] or box[2] >= box[3]:
        return None
    return {"kind": _VEGETATION, "z": Z, "box": box, "discs": discs, "trunk": (xc - tw / 2.0, xc + tw / 2.0, ycc, yb),
            "leaf": leaf, "bark": bark, "cells": cells}


def _draw_tree(sc, o):
    r0, r1, c0, c1 = o["box"]
    rows, cols = slice(r0, r1), slice(c0, c1)
    px = (np.arange(c1 - c0) + c0 + 0.5)[None, :]
    py = (np.arange(r1 - r0) + r0 + 0.5)[:, None]
    tx0, tx1, ty0, ty1 = o["trunk"]
    trunk = (px >= tx0) & (px <= tx1) & (py >= ty0) & (py <= ty1)
    crown = np.zeros(trunk.shape, dtype=bool)
    for x, y, r in o["discs"]:
        crown |= (px - x) ** 2 + (py - y) ** 2 <= r * r
    _paint(sc.img, sc.lab, rows, cols, trunk, o["bark"], _VEGETATION)
    n = o["cells"]
    shade = 0.65 + 0.7 * _value_noise2d(sc.rng, crown.shape, (max(1, (r1 - r0) // n), max(1, (c1 - c0) // n)))
    _paint(sc.img, sc.lab, rows, cols, crown, o["leaf"], _VEGETATION, shade)


def render_streets(seed, index, size=(128, 256)):
    """Image ``index`` of streets with ``seed`` (Note [streets]): (uint8 (3, H, W) RGB, uint8 (H, W)
    mask, info) with info {"horizon": the first row below the horizon, "vanishing_point": (x, y),
    "poles": [(r0, r1, c0, c1) of each pole's shaft], "objects": the number of each kind drawn}."""
    rng = np.random.default_rng([int(seed), int(index)])
    H, W = int(size[0]), int(size[1])
    sc = _Scene(rng, H, W)
    _streets_sky(sc)
    _streets_facades(sc, 0)
    _streets_facades(sc, 1)
    _streets_ground(sc)
    _streets_end(sc)
    # poles first (the other objects keep clear of them unless behind them), then the rest
    objects = []
    poles = []
    n_poles = int(rng.integers(2, 7))
    for _ in range(6 * n_poles):
        if len(poles) == n_poles:
            break
        o = _pole_object(sc)
        if o is not None and not any(_boxes_touch(o["box"], p["box"]) for p in poles):
            poles.append(o)
    objects += poles
    cars = []
    makers = {_VEGETATION: _tree_object, _PERSON: _person_object, _CAR: lambda sc: _car_object(sc, cars)}
    for kind, lo, hi in ((_VEGETATION, 0, 6), (_PERSON, 2, 9), (_CAR, 1, 8)):
        n = int(rng.integers(lo, hi))
        placed = 0
        for _ in range(4 * n):
            if placed == n:
                break
            o = makers[kind](sc)
            # nothing nearer than a pole may overlap it (a pole's runs of pixels stay >= 2 wide)
            if o is None or any(o["z"] < p["z"] and _boxes_touch(o["box"], p["box"]) for p in poles):
                continue
            objects.append(o)
            placed += 1
            if kind == _CAR:
                cars.append(o)
    objects.sort(key=lambda o: -o["z"])   # painter's order: far to near
    draw = {_POLE: _draw_pole, _PERSON: _draw_person, _CAR: _draw_car, _VEGETATION: _draw_tree}
    for o in objects:
        draw[o["kind"]](sc, o)
    # exposure and white balance, then pixel noise
    gain = rng.uniform(0.8, 1.15) * rng.uniform(0.93, 1.07, 3)
    for c in range(3):
        sc.img[c] *= gain[c]
    noise = _pixel_noise(rng, (3, H, W), int(rng.integers(2, 6)))
    kinds = [o["kind"] for o in objects]
    info = {"horizon": sc.cy, "vanishing_point": (sc.cx, sc.cy), "poles": [p["rows"] + p["cols"] for p in poles],
            "objects": {STREETS_CLASSES[k]: kinds.count(k) for k in (_VEGETATION, _POLE, _PERSON, _CAR)}}
    return _to_uint8(sc.img, noise), sc.lab, info


def make_streets(num_images=1500, size=(128, 256), seed=0, root=None):
    """The streets dataset (Note [streets]): ``num_images`` RGB street scenes of ``size`` = (H, W)
    pixels (each an integer >= 32), generated once with ``seed`` and cached (Note [segsynth cache];
    ``root`` overrides the folder). Returns a :class:`SegSynth` with classes STREETS_CLASSES."""
    fn = "make_streets"
    num_images = _check_count(fn, "num_images", num_images)
    if (not isinstance(size, (tuple, list)) or len(size) != 2 or not all(_is_int(s) and s >= 32 for s in size)):
        raise ValueError(f"make_streets: size must be (H, W), two integers >= 32, got {size!r}")
    H, W = int(size[0]), int(size[1])
    seed = _check_seed(fn, seed)
    _check_root(fn, root)
    params = {"dataset": "streets", "format": _FORMAT["streets"], "num": num_images, "size": [H, W], "seed": seed}
    return _generate(fn, params, STREETS_CLASSES, lambda i: render_streets(seed, i, (H, W))[:2], (3, H, W), (H, W),
                     root)
