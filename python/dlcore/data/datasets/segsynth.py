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

Note [streets] is in data/datasets/streets.py.
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




from .streets import make_streets, render_streets  # noqa: E402 - it draws with the helpers above

SEGMENTATION_DATASETS = {"shapes2d": make_shapes2d, "spheres3d": make_spheres3d, "streets": make_streets}
