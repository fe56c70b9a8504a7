"""segsynth: generated, seeded, offline semantic-segmentation datasets (pure numpy).

Three generators, each returning a :class:`SegSynth` (images, masks, class names, splits):

* ``make_shapes2d()``: 64x64 RGB images of rectangles, ellipses and triangles (textured,
  overlapping) on textured backgrounds; 4 classes (Note [shapes2d]).
* ``make_spheres3d()``: 32^3 single-channel volumes of ellipsoid "organs" of two classes in a
  smooth noisy background, like MONAI's ``create_test_image_3d``; 3 classes (Note [spheres3d]).
* ``make_streets()``: 128x256 street scenes in perspective (road, sidewalks, facades, sky, trees,
  cars, poles, people, traffic signs); 9 classes (Note [streets]).

``SEGMENTATION_DATASETS`` maps "shapes2d", "spheres3d" and "streets" to these functions.

Each item is rendered by ``render_shapes2d``, ``render_spheres3d`` or ``render_streets`` (one
image or volume, its mask and a dict of what was drawn), and a dataset is generated once and
cached (Note [segsynth cache]).

Note [segsynth determinism]: item i is drawn from ``numpy.random.default_rng([seed, i])`` alone,
so the first n items are the same for every ``num_images``/``num_volumes``. The drawing uses
only exactly-rounded arithmetic (+, -, *, /, sqrt, floor, comparisons, and numpy's uniform and
integer draws, which are defined bit for bit): no sin/cos/exp/log/pow (rotations are random unit
vectors / quaternions normalised with sqrt, smooth noise is value noise interpolated with the
smoothstep polynomial, pixel noise is a sum of uniform integers); the only float reductions are
sums of three terms and, as in shapes.py, a mean colour compared with a threshold. So the bytes
are the same on every machine: the rule of Note [Shapes determinism] in shapes.py.

Note [segsynth cache]: a dataset is written once, as ``data.npz`` (compressed; arrays ``images``
and ``masks``) and ``segsynth.json`` (the parameters, class names, split counts, per-class pixel
counts and a SHA-256 of the images' and masks' bytes), to a folder
``<name>-n<count>-s<size>-seed<seed>-<hash of the parameters>`` under ``shapes_cache_dir()``
(``$DLCORE_DATA``, else ``$XDG_CACHE_HOME/dlcore``, else ``~/.cache/dlcore``), or to ``root``
when given. It is written into a hidden temporary folder beside it and renamed when complete
(Note [Atomic cache] in shapes.py). A later call with the same parameters loads the folder
(checking the SHA-256) instead of generating; a folder holding another dataset or other
parameters raises.

Splits, in order: the first floor(60 %) of the items are "train", the next floor(20 %) "val", the
rest "test" (for 2000 items: 1200, 400, 400).

Note [shapes2d]: a gradient background (shapes._background) with a texture (flat, stripes,
smooth blotches or a ramp; amplitude up to 22 in a random tint) and 1 to 3 objects, each a
rectangle, an ellipse or a triangle (shapes.py's shapes in axis-aligned boxes; triangles point
up, down, left or right with the apex in the middle 40 % of their edge) of a random size (20-60 %
of the side), aspect ratio (up to 1.5:1, each side kept within 10-60 %), position and colour.
The colour is any colour at RGB distance >= 75 from what lies under the
object (it does not depend on the class: only the shape tells the classes apart) and is textured
(scaled by up to +-25 % by stripes, blotches or a ramp). Objects are painted one after another,
anti-aliased (4x4 samples per pixel); a candidate that would hide more than 35 % of an object
already there is drawn again. Pixel noise is added last (the sum of two uniform integers in
[-a, a], a = 2..6). The mask gives each pixel the class of the last object covering at least half
of it (shapes.py's owner map), else background. Class frequencies (2000 images, seed 0):
background 78.2 %, rectangle 8.8 %, ellipse 7.5 %, triangle 5.4 % of the pixels; each object
class is in about half of the images.

Note [spheres3d]: a smooth background (value noise on a 2^3-4^3 grid, intensities about 15-90)
holding 1-3 "organ_a" and 1-3 "organ_b" ellipsoids (every volume has at least one of each) in a
random order, each randomly rotated (a uniform random rotation, from a unit quaternion).
organ_a is large and roundish: radii r * 0.8..1.25 with r 13-22 % of the side, mean intensity
105-160; organ_b is small and elongated: one radius 16-28 % of the side, two 7-11 % (2.2-3.5
voxels at size 32), mean intensity 150-215. Inside, the intensity varies by +-12 (value noise) and
falls by up to 6 towards the surface. Centres are at least 0.7 times the sum of the two largest
radii apart (small overlaps; a later object covers an earlier one). Voxel noise: the sum of three
uniform integers in [-a, a], a = 10..16 (standard deviation about a). The classes' intensities
overlap: the best two thresholds on the voxel value give test Dice of only about 0.86 (organ_a)
and 0.69 (organ_b); shape and context are needed. A voxel belongs to an ellipsoid when its centre
is inside. Class frequencies (200 volumes, seed 0): background 93.5 %, organ_a 5.0 %,
organ_b 1.5 % of the voxels.

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
import hashlib
import json
import os
import shutil
import uuid

import numpy as np

from .shapes import (_background, _contrasting_colour, _coverage, _hidden_pixels, _hsv_to_rgb, _shape_params,
                     shapes_cache_dir)

__all__ = ["SegSynth", "make_shapes2d", "make_spheres3d", "make_streets", "render_shapes2d", "render_spheres3d",
           "render_streets", "SEGMENTATION_DATASETS", "SHAPES2D_CLASSES", "SPHERES3D_CLASSES", "STREETS_CLASSES"]

SHAPES2D_CLASSES = ("background", "rectangle", "ellipse", "triangle")
SPHERES3D_CLASSES = ("background", "organ_a", "organ_b")
STREETS_CLASSES = ("road", "sidewalk", "building", "sky", "vegetation", "car", "pole", "person", "traffic_sign")
_FORMAT = {"shapes2d": 2, "spheres3d": 2, "streets": 2}  # bump when a drawing changes: a new cache folder
_SPLITS = ("train", "val", "test")
_MANIFEST = "segsynth.json"
_DATA = "data.npz"


class SegSynth:
    """A generated segmentation dataset held in memory.

    ``images``: uint8 (N, C, H, W) (2-D) or (N, 1, D, H, W) (3-D), raw intensities 0..255;
    ``masks``: uint8 (N, H, W) / (N, D, H, W) class indices; ``classes``: the class names (index 0
    first); ``splits``: {"train", "val", "test"} -> int64 index arrays (consecutive: 60/20/20 %
    in order); ``name``: "shapes2d", "spheres3d" or "streets"; ``root``: the cache folder;
    ``params``: the generation parameters. ``split(name)`` gives (images, masks) of a split
    (views, not copies)."""

    def __init__(self, name, images, masks, classes, root=None, params=None):
        self.name = name
        self.images = images
        self.masks = masks
        self.classes = tuple(classes)
        self.root = root
        self.params = dict(params or {})
        starts = np.cumsum([0] + _split_sizes(len(images)))
        self.splits = {s: np.arange(starts[k], starts[k + 1], dtype=np.int64) for k, s in enumerate(_SPLITS)}

    def split(self, name):
        """(images, masks) of split ``name`` ("train", "val" or "test")."""
        if name not in self.splits:
            raise ValueError(f"SegSynth.split: unknown split {name!r}; expected one of {_SPLITS}")
        idx = self.splits[name]
        lo = int(idx[0]) if len(idx) else 0
        hi = int(idx[-1]) + 1 if len(idx) else 0
        return self.images[lo:hi], self.masks[lo:hi]

    @property
    def num_classes(self):
        return len(self.classes)

    def class_frequencies(self):
        """{class name: fraction of all pixels/voxels}."""
        counts = np.bincount(self.masks.reshape(-1), minlength=len(self.classes))
        return {c: float(n) / self.masks.size for c, n in zip(self.classes, counts)}

    def __len__(self):
        return len(self.images)

    def __repr__(self):
        sizes = ", ".join(f"{s}={len(i)}" for s, i in self.splits.items())
        return (f"SegSynth({self.name!r}, images={tuple(self.images.shape)}, classes={len(self.classes)}, {sizes}, "
                f"root={self.root!r})")


# ---- shared helpers ----------------------------------------------------------------------------------
def _split_sizes(n):
    """[train, val, test] sizes of ``n`` items: floor(60 %), floor(20 %) and the rest."""
    train, val = n * 6 // 10, n * 2 // 10
    return [train, val, n - train - val]


def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _check_count(fn, arg, value, low=1):
    if not _is_int(value) or value < low:
        raise ValueError(f"{fn}: {arg} must be an integer >= {low}, got {value!r}")
    return int(value)


def _smoothstep(t):
    return t * t * (3.0 - 2.0 * t)


def _interp_axis(n, cells):
    """Index of the left grid node and the smoothstep weight of the right one, for ``n`` sample
    points (pixel centres) over ``cells`` grid cells."""
    t = (np.arange(n, dtype=np.float64) + 0.5) * (cells / n)
    i = np.minimum(np.floor(t).astype(np.int64), cells - 1)
    return i, _smoothstep(t - i)


def _value_noise2d(rng, shape, cells):
    """Smooth noise in [0, 1] of ``shape`` (H, W): uniform values on a (cells_h + 1, cells_w + 1)
    grid, interpolated with the smoothstep polynomial."""
    (h, w), (ch, cw) = shape, cells
    g = rng.random((ch + 1, cw + 1))
    iy, fy = _interp_axis(h, ch)
    ix, fx = _interp_axis(w, cw)
    top = g[iy][:, ix] * (1.0 - fx) + g[iy][:, ix + 1] * fx
    bot = g[iy + 1][:, ix] * (1.0 - fx) + g[iy + 1][:, ix + 1] * fx
    return top * (1.0 - fy)[:, None] + bot * fy[:, None]


def _value_noise3d(rng, n, cells):
    """Smooth noise in [0, 1] on an n^3 grid (see ``_value_noise2d``)."""
    g = rng.random((cells + 1,) * 3)
    i, f = _interp_axis(n, cells)
    a = g[i] * (1.0 - f)[:, None, None] + g[i + 1] * f[:, None, None]
    a = a[:, i] * (1.0 - f)[None, :, None] + a[:, i + 1] * f[None, :, None]
    return a[:, :, i] * (1.0 - f)[None, None, :] + a[:, :, i + 1] * f[None, None, :]


def _unit_vector2(rng):
    """A uniformly random direction (cos, sin) without trigonometry (rejection in the disc)."""
    while True:
        a, b = rng.uniform(-1.0, 1.0, 2)
        r2 = a * a + b * b
        if 0.01 < r2 <= 1.0:
            r = np.sqrt(r2)
            return a / r, b / r


def _random_rotation(rng):
    """A uniformly random 3x3 rotation matrix from a unit quaternion drawn by rejection in the
    4-ball (polynomial in the quaternion: no trigonometry)."""
    while True:
        q = rng.uniform(-1.0, 1.0, 4)
        n2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]
        if 0.01 < n2 <= 1.0:
            break
    w, x, y, z = q / np.sqrt(n2)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _pixel_noise(rng, shape, amp, terms=2):
    """Integer noise: the sum of ``terms`` uniform integers in [-amp, amp] (int16)."""
    noise = rng.integers(-amp, amp + 1, (terms,) + tuple(shape), dtype=np.int16)
    out = noise[0].copy()
    for k in range(1, terms):
        out += noise[k]
    return out


def _to_uint8(img, noise=None):
    out = np.rint(img)
    np.clip(out, -32000, 32000, out=out)
    out = out.astype(np.int16)
    if noise is not None:
        out += noise
    return np.clip(out, 0, 255).astype(np.uint8)


# ---- shapes2d ----------------------------------------------------------------------------------------
_S2_MAX_OBJECTS = 3
_S2_MAX_OCCLUSION = 0.35  # an object may hide at most this fraction of one already drawn
_S2_MIN_CONTRAST = 75.0   # RGB distance of an object's colour from what lies under it
_S2_BG_TEXTURES = (0, 1, 3, 4)    # flat, stripes, blotches, ramp (no checks: they look like rectangles)
_S2_OBJ_TEXTURES = (0, 1, 3, 4)


def _texture2d(rng, shape, kinds, origin=(0.0, 0.0)):
    """A texture pattern in [-1, 1] over a window of ``shape``, of a kind drawn from ``kinds``:
    0 flat, 1 stripes (a triangle wave in a random direction), 2 checks, 3 smooth blotches (value
    noise), 4 a linear ramp in a random direction."""
    h, w = shape
    kind = kinds[int(rng.integers(len(kinds)))]
    period = rng.uniform(4.0, 12.0)
    dx, dy = _unit_vector2(rng)
    phase = rng.random()
    noise_cells = (int(rng.integers(2, 6)), int(rng.integers(2, 6)))
    if kind == 0 or h == 0 or w == 0:
        return np.zeros(shape)
    ys = np.arange(h, dtype=np.float64)[:, None] + origin[0]
    xs = np.arange(w, dtype=np.float64)[None, :] + origin[1]
    if kind == 1:
        t = ((xs * dx + ys * dy) / period + phase) % 1.0
        return 4.0 * np.abs(t - 0.5) - 1.0
    if kind == 2:
        a = np.floor((xs * dx + ys * dy) / period + phase) + np.floor((ys * dx - xs * dy) / period)
        return (a % 2.0) * 2.0 - 1.0
    if kind == 3:
        return _value_noise2d(rng, shape, noise_cells) * 2.0 - 1.0
    t = (xs - origin[1]) * dx + (ys - origin[0]) * dy
    lo, hi = t.min(), t.max()
    return (t - lo) * (2.0 / (hi - lo)) - 1.0 if hi > lo else np.zeros(shape)


def render_shapes2d(seed, index, img_size=64):
    """Image ``index`` of shapes2d with ``seed`` (Note [shapes2d]): (uint8 (3, S, S) RGB, uint8
    (S, S) mask, info) with info {"owner": int32 (S, S) index of the object each pixel shows
    (-1: background), "objects": [(class, (x1, y1, x2, y2), params), ...]} in drawing order
    (class 1 rectangle, 2 ellipse, 3 triangle; box in pixels; params as shapes._shape_params)."""
    rng = np.random.default_rng([int(seed), int(index)])
    S = int(img_size)
    img = _background(rng, S)
    bg_amp = rng.uniform(0.0, 22.0)
    tex = _texture2d(rng, (S, S), _S2_BG_TEXTURES)
    tint = _hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.6), 1.0) / 255.0
    for c in range(3):
        img[c] += tex * (bg_amp * tint[c])
    bg = img.copy()
    owner = np.full((S, S), -1, dtype=np.int32)
    full, visible, colours, objects = [], [], [], []
    target = int(rng.integers(1, _S2_MAX_OBJECTS + 1))
    tries = 0
    while len(objects) < target and tries < 25 * target:
        tries += 1
        cls = int(rng.integers(3))  # shapes.py's 0 rectangle, 1 ellipse, 2 triangle
        side = S * rng.uniform(0.2, 0.6)
        k = np.sqrt(1.0 + 0.5 * rng.random())         # aspect up to 1.5:1, either way
        w, h = (side * k, side / k) if rng.random() < 0.5 else (side / k, side * k)
        w = min(max(w, 0.1 * S), 0.6 * S)
        h = min(max(h, 0.1 * S), 0.6 * S)
        x1, y1 = rng.uniform(0.0, S - w), rng.uniform(0.0, S - h)
        box = (x1, y1, x1 + w, y1 + h)
        params = _shape_params(cls, rng)
        if cls == 2:  # isosceles-ish triangles (apex in the middle 40 % of its edge): no half-rectangles
            params = (params[0], 0.3 + 0.4 * params[1])
        rows, cols, cov = _coverage(cls, params, box, S)
        mask = cov >= 0.5
        area = int(np.count_nonzero(mask))
        if area < 12:
            continue
        hidden = _hidden_pixels(owner, rows, cols, mask, visible, full, _S2_MAX_OCCLUSION)
        if hidden is None:
            continue
        colour = _contrasting_colour(rng, bg, rows, cols, mask, colours, hidden, (0.3, 1.0), (0.25, 1.0),
                                    _S2_MIN_CONTRAST)
        if colour is None:
            continue
        # the object's texture scales its colour by up to +-amp
        amp = rng.uniform(0.0, 0.25)
        pattern = _texture2d(rng, cov.shape, _S2_OBJ_TEXTURES, origin=(rows.start, cols.start))
        for c in range(3):
            win = img[c, rows, cols]
            paint = colour[c] * (1.0 + amp * pattern)
            win += (paint - win) * cov
        owner[rows, cols][mask] = len(objects)
        for j in range(len(objects)):
            visible[j] -= int(hidden[j])
        full.append(area)
        visible.append(area)
        colours.append(colour)
        objects.append((cls + 1, box, params))
    noise = _pixel_noise(rng, (3, S, S), int(rng.integers(2, 7)))
    out = _to_uint8(img, noise)
    classes = np.array([0] + [o[0] for o in objects], dtype=np.uint8)
    mask = classes[owner + 1]
    return out, mask, {"owner": owner, "objects": objects}


# ---- spheres3d ---------------------------------------------------------------------------------------
def render_spheres3d(seed, index, size=32):
    """Volume ``index`` of spheres3d with ``seed`` (Note [spheres3d]): (uint8 (1, N, N, N), uint8
    (N, N, N) mask, info) with info {"objects": [(class, centre (z, y, x), radii, rotation,
    mean intensity), ...]} in drawing order (later ones cover earlier ones)."""
    rng = np.random.default_rng([int(seed), int(index)])
    N = int(size)
    lo = rng.uniform(15.0, 45.0)
    span = rng.uniform(20.0, 45.0)
    vol = lo + span * _value_noise3d(rng, N, int(rng.integers(2, 5)))
    mask = np.zeros((N, N, N), dtype=np.uint8)
    classes = [1] * int(rng.integers(1, 4)) + [2] * int(rng.integers(1, 4))
    order = rng.permutation(len(classes))
    centres = (np.arange(N, dtype=np.float64) + 0.5)
    objects = []
    for k in order:
        cls = classes[k]
        for _ in range(30):
            if cls == 1:  # organ_a: large, roundish
                r0 = N * rng.uniform(0.13, 0.22)
                radii = r0 * rng.uniform(0.8, 1.25, 3)
                mean = rng.uniform(105.0, 160.0)
            else:         # organ_b: small, elongated
                radii = np.array([N * rng.uniform(0.16, 0.28), N * rng.uniform(0.07, 0.11),
                                  N * rng.uniform(0.07, 0.11)])
                mean = rng.uniform(150.0, 215.0)
            R = _random_rotation(rng)
            rmax = radii.max()
            c = rng.uniform(rmax * 0.7, N - rmax * 0.7, 3)
            # not too much overlap: centres apart by at least 70 % of the summed largest radii
            if all(np.sqrt(((c - o[1]) ** 2).sum()) >= 0.7 * (rmax + o[2].max()) for o in objects):
                break
        else:
            if any(o[0] == cls for o in objects):
                continue  # every volume keeps at least one object of each class, overlapping if need be
        lo_i = np.maximum(np.floor(c - rmax).astype(int), 0)
        hi_i = np.minimum(np.floor(c + rmax).astype(int) + 1, N)
        z = centres[lo_i[0]:hi_i[0]][:, None, None] - c[0]
        y = centres[lo_i[1]:hi_i[1]][None, :, None] - c[1]
        x = centres[lo_i[2]:hi_i[2]][None, None, :] - c[2]
        q = 0.0
        for a in range(3):  # the point in the ellipsoid's frame: R^T (p - c), scaled by the radii
            t = (z * R[0, a] + y * R[1, a] + x * R[2, a]) / radii[a]
            q = q + t * t
        inside = q <= 1.0
        sl = tuple(slice(lo_i[a], hi_i[a]) for a in range(3))
        ext = hi_i - lo_i
        tex = _value_noise3d(rng, int(ext.max()), 2)[:ext[0], :ext[1], :ext[2]]
        shade = mean + 24.0 * (tex - 0.5) - 6.0 * q  # a little darker towards the rim
        vol[sl][inside] = shade[inside]
        mask[sl][inside] = cls
        objects.append((cls, c, radii, R, mean))
    noise = _pixel_noise(rng, (N, N, N), int(rng.integers(10, 17)), terms=3)
    out = _to_uint8(vol, noise)
    return out[None], mask, {"objects": objects}


# ---- the cache ---------------------------------------------------------------------------------------
def _size_text(size):
    return "x".join(str(s) for s in size) if isinstance(size, (list, tuple)) else str(size)


def _default_name(params):
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"{params['dataset']}-n{params['num']}-s{_size_text(params['size'])}-seed{params['seed']}-{key}"


def _digest(images, masks):
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images).data)
    h.update(np.ascontiguousarray(masks).data)
    return h.hexdigest()


def _existing(fn, root, params):
    """The manifest when ``root`` holds the dataset with ``params``, None when there is none
    there; raises when it holds something else."""
    manifest = os.path.join(root, _MANIFEST)
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as f:
            info = json.load(f)
        if info.get("params") != params:
            raise ValueError(f"{fn}: {root} holds a segsynth dataset made with other parameters "
                             f"({info.get('params')}, wanted {params}); pass another root or delete that folder")
        return info
    if os.path.isdir(root) and not os.listdir(root):
        return None
    if os.path.exists(root):
        raise FileExistsError(f"{fn}: {root} exists and is not a segsynth dataset (no {_MANIFEST}); pass another root")
    return None


def _load(fn, root, info, params, classes):
    with np.load(os.path.join(root, _DATA), allow_pickle=False) as z:
        images, masks = z["images"], z["masks"]
    if _digest(images, masks) != info.get("content_sha256"):
        raise ValueError(f"{fn}: the data in {root} does not match its {_MANIFEST} (SHA-256 differs); "
                         f"delete that folder to generate it again")
    return SegSynth(params["dataset"], images, masks, classes, root=root, params=params)


def _generate(fn, params, classes, render, image_shape, mask_shape, root):
    """Load the dataset with ``params`` from ``root`` (default: under shapes_cache_dir()), or
    render it with ``render(i) -> (image, mask)`` and write it there (Note [segsynth cache])."""
    if root is None:
        root = os.path.join(shapes_cache_dir(), _default_name(params))
    root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    info = _existing(fn, root, params)
    if info is not None:
        return _load(fn, root, info, params, classes)
    n = params["num"]
    images = np.empty((n,) + tuple(image_shape), dtype=np.uint8)
    masks = np.empty((n,) + tuple(mask_shape), dtype=np.uint8)
    for i in range(n):
        images[i], masks[i] = render(i)
    counts = np.bincount(masks.reshape(-1), minlength=len(classes))
    info = {"params": params, "classes": list(classes),
            "counts": dict(zip(_SPLITS, _split_sizes(n))),
            "image_shape": list(images.shape), "mask_shape": list(masks.shape),
            "class_pixels": {c: int(k) for c, k in zip(classes, counts)},
            "content_sha256": _digest(images, masks)}
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(root)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.mkdir(tmp)
    try:
        with open(os.path.join(tmp, _DATA), "wb") as f:
            np.savez_compressed(f, images=images, masks=masks)
        with open(os.path.join(tmp, _MANIFEST), "w", encoding="utf-8", newline="\n") as f:
            json.dump(info, f, indent=1, sort_keys=True)
            f.write("\n")
        try:
            if os.path.isdir(root) and not os.listdir(root):
                os.rmdir(root)  # rename cannot replace an empty folder everywhere
            os.rename(tmp, root)
        except OSError:
            if _existing(fn, root, params) is None:  # not another process' finished copy
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return SegSynth(params["dataset"], images, masks, classes, root=root, params=params)


def _check_seed(fn, seed):
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"{fn}: seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_root(fn, root):
    if root is not None and not isinstance(root, (str, bytes, os.PathLike)):
        raise ValueError(f"{fn}: root must be a path or None, got {root!r}")


def make_shapes2d(num_images=2000, img_size=64, seed=0, root=None):
    """The shapes2d dataset (Note [shapes2d]): ``num_images`` RGB images of ``img_size`` squared
    pixels (an integer >= 32), generated once with ``seed`` and cached (Note [segsynth cache];
    ``root`` overrides the folder). Returns a :class:`SegSynth` with classes SHAPES2D_CLASSES."""
    fn = "make_shapes2d"
    num_images = _check_count(fn, "num_images", num_images)
    img_size = _check_count(fn, "img_size", img_size, 32)
    seed = _check_seed(fn, seed)
    _check_root(fn, root)
    params = {"dataset": "shapes2d", "format": _FORMAT["shapes2d"], "num": num_images, "size": img_size, "seed": seed}
    return _generate(fn, params, SHAPES2D_CLASSES, lambda i: render_shapes2d(seed, i, img_size)[:2],
                     (3, img_size, img_size), (img_size, img_size), root)


def make_spheres3d(num_volumes=200, size=32, seed=0, root=None):
    """The spheres3d dataset (Note [spheres3d]): ``num_volumes`` single-channel volumes of
    ``size`` cubed voxels (an integer >= 16), generated once with ``seed`` and cached (Note
    [segsynth cache]; ``root`` overrides the folder). Returns a :class:`SegSynth` with classes
    SPHERES3D_CLASSES, images (N, 1, D, H, W) and masks (N, D, H, W)."""
    fn = "make_spheres3d"
    num_volumes = _check_count(fn, "num_volumes", num_volumes)
    size = _check_count(fn, "size", size, 16)
    seed = _check_seed(fn, seed)
    _check_root(fn, root)
    params = {"dataset": "spheres3d", "format": _FORMAT["spheres3d"], "num": num_volumes, "size": size, "seed": seed}
    return _generate(fn, params, SPHERES3D_CLASSES, lambda i: render_spheres3d(seed, i, size)[:2],
                     (1, size, size, size), (size, size, size), root)




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


SEGMENTATION_DATASETS = {"shapes2d": make_shapes2d, "spheres3d": make_spheres3d, "streets": make_streets}
