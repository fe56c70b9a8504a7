"""shapes: a generated object-detection dataset in the YOLO layout.

``make_shapes()`` draws rectangles, ellipses, triangles and crosses on noisy gradient
backgrounds and writes them once, to a cache folder, as

    <root>/data.yaml                     folders and class names (paths relative to this file)
    <root>/images/{train,val,test}/NNNNN.png
    <root>/labels/{train,val,test}/NNNNN.txt    one "class cx cy w h" line per object, normalised
    <root>/shapes.json                   the parameters and a hash of the content

``Shapes(split)`` is the YOLODataset over it.

Note [Shapes content]: every image has 1 to ``max_objects`` objects of the 4 classes, each with
its own size (8 to 75 % of the side, more small than large), aspect ratio (up to 2:1), colour and
position. Objects are painted one after another, so later ones occlude earlier ones; the label
box is always the whole object's box. A candidate object is rejected (and another drawn) when it
would hide more than ``max_occlusion`` of an object already painted, when its box overlaps one
already there with IoU > 0.6 (two such boxes would be one detection after NMS), or when no colour
contrasting with what lies under it is found. Colours do not depend on the class: only the shape
tells the classes apart. Edges are anti-aliased (4x4 samples per pixel) and a little pixel noise
is added at the end.

Note [Shapes determinism]: image i is drawn from ``numpy.random.default_rng([seed, i])`` with only
exactly-rounded arithmetic (+, -, *, /, sqrt, comparisons; no exp/log/sin, whose last bits
depend on the C library), so the pixels and labels are the same on every machine and for every
``num_images`` (the first n images of a larger dataset are the same images). The PNG files are
written by a small encoder here (Python's zlib, Sub filter, level 1) rather than Pillow, so their bytes
do not depend on the Pillow build either; ``shapes.json`` holds a SHA-256 of the decoded pixels
and label text, which identifies the content even where the zlib library differs.

Note [Atomic cache]: the dataset is written into a temporary folder beside ``root`` and renamed
to ``root`` when complete, so an interrupted run leaves no half dataset: an exception removes the
temporary folder, and one left by a killed process is hidden (``.<name>.tmp-...``) and ignored.
Two processes racing both generate; the second rename fails and that process uses the first's.
"""
import hashlib
import json
import os
import shutil
import struct
import uuid
import zlib

import numpy as np

from ..detection import YOLODataset

__all__ = ["make_shapes", "Shapes", "SHAPES_CLASSES", "shapes_cache_dir"]

SHAPES_CLASSES = ("rectangle", "ellipse", "triangle", "cross")
_FORMAT = 2          # bump when the drawing changes: a new cache folder name
_SS = 4              # anti-aliasing samples per pixel side
_SPLITS = ("train", "val", "test")
_MAX_IOU = 0.6
_MIN_CONTRAST = 60.0  # Euclidean RGB distance (0..255) from what lies under a new object


def shapes_cache_dir():
    """The folder holding generated datasets: ``$DLCORE_DATA``, else ``$XDG_CACHE_HOME/dlcore``,
    else ``~/.cache/dlcore``."""
    d = os.environ.get("DLCORE_DATA")
    if d:
        return os.path.abspath(os.path.expanduser(d))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.abspath(os.path.join(base, "dlcore"))


def _split_counts(n, splits):
    counts = [int(n * f) for f in splits]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def _check_params(num_images, img_size, seed, splits, max_objects, max_occlusion):
    def is_int(x):
        return isinstance(x, (int, np.integer)) and not isinstance(x, bool)
    if not is_int(num_images) or num_images < 1:
        raise ValueError(f"make_shapes: num_images must be a positive integer, got {num_images!r}")
    if not is_int(img_size) or img_size < 16:
        raise ValueError(f"make_shapes: img_size must be an integer >= 16, got {img_size!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"make_shapes: seed must be a non-negative integer, got {seed!r}")
    if not is_int(max_objects) or max_objects < 1:
        raise ValueError(f"make_shapes: max_objects must be a positive integer, got {max_objects!r}")
    if not 0.0 <= max_occlusion < 1.0:
        raise ValueError(f"make_shapes: max_occlusion must be in [0, 1), got {max_occlusion!r}")
    splits = tuple(float(f) for f in splits)
    if len(splits) != 3 or any(f < 0 for f in splits) or abs(sum(splits) - 1.0) > 1e-6:
        raise ValueError(f"make_shapes: splits must be three fractions (train, val, test) summing to 1, got {splits}")
    return splits


# ---- drawing ------------------------------------------------------------------------------------
def _hsv_to_rgb(h, s, v):
    """h, s, v in [0, 1] -> RGB floats in [0, 255] (exact arithmetic only)."""
    h6 = (h % 1.0) * 6.0
    i = int(h6)
    f = h6 - i
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i % 6]
    return np.array(rgb, dtype=np.float64) * 255.0


def _background(rng, S):
    """(3, S, S) float64 planes: a linear gradient between two muted colours in a random direction."""
    c0 = _hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.2, 0.9))
    c1 = _hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.2, 0.9))
    dx, dy = rng.uniform(-1.0, 1.0, 2)
    coords = np.arange(S, dtype=np.float64)
    proj = coords[None, :] * dx + coords[:, None] * dy
    lo, hi = proj.min(), proj.max()
    t = (proj - lo) / (hi - lo) if hi > lo else np.zeros_like(proj)
    out = np.empty((3, S, S))
    for c in range(3):  # plane by plane: broadcasting over a last axis of 3 is slow in numpy
        np.multiply(t, c1[c] - c0[c], out=out[c])
        out[c] += c0[c]
    return out


def _shape_params(cls, rng):
    if cls == 2:  # triangle: orientation (apex up/down/left/right) and apex position on its edge
        return int(rng.integers(4)), rng.random()
    if cls == 3:  # cross: arm thickness, as fractions of the box's width and height
        return rng.uniform(0.25, 0.45), rng.uniform(0.25, 0.45)
    return None


def _inside(cls, params, u, v):
    """Whether the points (u, v) (box coordinates: the box is [0, 1] x [0, 1]) are in the shape."""
    box = (u >= 0.0) & (u <= 1.0) & (v >= 0.0) & (v <= 1.0)
    if cls == 0:
        return box
    if cls == 1:
        a, b = 2.0 * u - 1.0, 2.0 * v - 1.0
        return a * a + b * b <= 1.0
    if cls == 2:
        orientation, apex = params
        p, q = [(u, v), (u, 1.0 - v), (v, u), (v, 1.0 - u)][orientation]  # apex at (apex, 0), base at q = 1
        return box & (p >= apex * (1.0 - q)) & (p <= apex + (1.0 - apex) * q)
    tu, tv = params
    return box & ((np.abs(u - 0.5) <= tu / 2.0) | (np.abs(v - 0.5) <= tv / 2.0))


def _coverage(cls, params, box, S):
    """(rows, cols, coverage): the pixel window around ``box`` and the fraction of each of its
    pixels inside the shape (pixel (r, c) covers [c, c + 1) x [r, r + 1))."""
    x1, y1, x2, y2 = box
    r0, r1 = int(y1), min(S, int(y2) + 1)
    c0, c1 = int(x1), min(S, int(x2) + 1)
    ys = r0 + (np.arange((r1 - r0) * _SS) + 0.5) / _SS
    xs = c0 + (np.arange((c1 - c0) * _SS) + 0.5) / _SS
    inside = _inside(cls, params, ((xs - x1) / (x2 - x1))[None, :], ((ys - y1) / (y2 - y1))[:, None])
    # samples per pixel, added with slices (numpy's multi-axis reductions are slow on small axes)
    counts = inside.view(np.uint8).reshape((r1 - r0) * _SS, c1 - c0, _SS)
    counts = sum(counts[:, :, k] for k in range(_SS)).reshape(r1 - r0, _SS, c1 - c0)
    counts = sum(counts[:, k] for k in range(_SS))
    return slice(r0, r1), slice(c0, c1), counts / float(_SS * _SS)


def _iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _hidden_pixels(owner, rows, cols, mask, visible, full, max_occlusion):
    """How many pixels of each object painted so far a new object (``mask`` in the window
    ``rows, cols``) would hide, or None when it would leave one with less than ``1 -
    max_occlusion`` of its full area visible. ``owner`` maps pixels to objects (-1: none)."""
    under = owner[rows, cols][mask]
    hidden = np.bincount(under[under >= 0], minlength=len(full))
    if any(visible[j] - hidden[j] < (1.0 - max_occlusion) * full[j] for j in range(len(full))):
        return None
    return hidden


def _contrasting_colour(rng, bg, rows, cols, mask, colours, hidden, saturation, value, min_contrast):
    """A random colour (hue uniform, saturation and value uniform in the given ranges, up to 20
    tries) at least ``min_contrast`` (Euclidean RGB) from the mean background under the new
    object and from every object it covers; None when none is found."""
    bg_mean = bg[:, rows, cols][:, mask].mean(axis=1)
    covered = [colours[j] for j in range(len(colours)) if hidden[j] > 0]
    for _ in range(20):
        c = _hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value))
        if all(np.sqrt(((c - o) ** 2).sum()) >= min_contrast for o in [bg_mean] + covered):
            return c
    return None


def render_shapes_image(seed, index, img_size=128, max_objects=6, max_occlusion=0.4):
    """Image ``index`` of the shapes dataset with ``seed``: (uint8 (S, S, 3) RGB, labels) with
    labels a list of (class, x1, y1, x2, y2) in pixels (Note [Shapes content])."""
    rng = np.random.default_rng([int(seed), int(index)])
    S = int(img_size)
    img = _background(rng, S)
    bg = img.copy()
    owner = np.full((S, S), -1, dtype=np.int32)   # which object each pixel shows (-1: background)
    full, visible, colours, labels = [], [], [], []
    target = int(rng.integers(1, max_objects + 1))
    tries = 0
    while len(labels) < target and tries < 25 * target:
        tries += 1
        cls = int(rng.integers(len(SHAPES_CLASSES)))
        u = rng.random()
        side = S * (0.1 + 0.3 * u * (1.0 + u))         # 10-70 % of the side, more small than large
        aspect = 1.0 + rng.random()                    # up to 2:1, either way
        k = np.sqrt(aspect)
        w, h = (side * k, side / k) if rng.random() < 0.5 else (side / k, side * k)
        w = min(max(w, 0.08 * S), 0.75 * S)
        h = min(max(h, 0.08 * S), 0.75 * S)
        x1, y1 = rng.uniform(0.0, S - w), rng.uniform(0.0, S - h)
        box = (x1, y1, x1 + w, y1 + h)
        params = _shape_params(cls, rng)
        if any(_iou(box, lab[1:]) > _MAX_IOU for lab in labels):
            continue
        rows, cols, cov = _coverage(cls, params, box, S)
        mask = cov >= 0.5
        area = int(mask.sum())
        if area < 4:
            continue
        hidden = _hidden_pixels(owner, rows, cols, mask, visible, full, max_occlusion)
        if hidden is None:
            continue
        colour = _contrasting_colour(rng, bg, rows, cols, mask, colours, hidden, (0.4, 1.0), (0.3, 1.0),
                                    _MIN_CONTRAST)
        if colour is None:
            continue
        for c in range(3):
            win = img[c, rows, cols]
            win += (colour[c] - win) * cov
        owner[rows, cols][mask] = len(labels)
        for j in range(len(labels)):
            visible[j] -= int(hidden[j])
        full.append(area)
        visible.append(area)
        colours.append(colour)
        labels.append((cls,) + box)
    amp = int(rng.integers(1, 4))  # noise: the sum of two uniform integers in [-amp, amp]
    noise = rng.integers(-amp, amp + 1, (2, 3, S, S), dtype=np.int16).sum(axis=0, dtype=np.int16)
    out = np.clip(np.rint(img).astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(1, 2, 0)), labels


# ---- files --------------------------------------------------------------------------------------
def _png_bytes(img):
    """A PNG file (8-bit RGB, the Sub filter on every row, zlib level 1) of uint8 (H, W, 3)."""
    h, w, c = img.shape
    rows = np.ascontiguousarray(img).reshape(h, w * c)
    raw = np.empty((h, w * c + 1), dtype=np.uint8)
    raw[:, 0] = 1
    raw[:, 1:] = rows
    raw[:, 1 + c:] -= rows[:, :-c]  # uint8 arithmetic wraps modulo 256, as the filter wants

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 1)) + chunk(b"IEND", b""))


def _label_text(labels, S):
    lines = []
    for cls, x1, y1, x2, y2 in labels:
        lines.append(f"{cls} {(x1 + x2) / 2 / S:.6f} {(y1 + y2) / 2 / S:.6f} {(x2 - x1) / S:.6f} {(y2 - y1) / S:.6f}")
    return "".join(line + "\n" for line in lines)


def _yaml_text(params):
    names = "".join(f"  {i}: {n}\n" for i, n in enumerate(SHAPES_CLASSES))
    return ("# shapes: a generated object-detection dataset (dlcore.data.datasets.make_shapes)\n"
            f"# num_images={params['num_images']} img_size={params['img_size']} seed={params['seed']} "
            f"splits={params['splits']}\n"
            "# the folders are relative to this file's folder\n"
            "train: images/train\nval: images/val\ntest: images/test\n"
            f"nc: {len(SHAPES_CLASSES)}\nnames:\n{names}")


def _params(num_images, img_size, seed, splits, max_objects, max_occlusion):
    return {"format": _FORMAT, "num_images": int(num_images), "img_size": int(img_size), "seed": int(seed),
            "splits": list(splits), "max_objects": int(max_objects), "max_occlusion": float(max_occlusion)}


def _default_name(params):
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"shapes-n{params['num_images']}-s{params['img_size']}-seed{params['seed']}-{key}"


def _existing(root, params):
    """True when ``root`` holds a complete dataset with ``params``; raises when it holds something else."""
    manifest = os.path.join(root, "shapes.json")
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as f:
            found = json.load(f).get("params")
        if found != params:
            raise ValueError(f"make_shapes: {root} holds a shapes dataset made with other parameters ({found}); "
                             f"pass another root or delete that folder")
        return True
    if os.path.isdir(root) and not os.listdir(root):
        return False
    if os.path.exists(root):
        raise FileExistsError(f"make_shapes: {root} exists and is not a shapes dataset (no shapes.json); "
                              f"pass another root")
    return False


def make_shapes(root=None, num_images=3000, img_size=128, seed=0, splits=(0.6, 0.2, 0.2), max_objects=6,
                max_occlusion=0.4, verbose=False):
    """Generate the shapes dataset once and return its folder (the one holding data.yaml).

    ``root``: the dataset folder; by default ``shapes-n<num>-s<size>-seed<seed>-<hash>`` under
    ``shapes_cache_dir()``. When it already holds the dataset with these parameters nothing is
    written. Images 0.. are split in order into train/val/test by ``splits`` (counts floored,
    the remainder to the first splits). See Note [Shapes content], Note [Shapes determinism] and
    Note [Atomic cache].
    """
    splits = _check_params(num_images, img_size, seed, splits, max_objects, max_occlusion)
    params = _params(num_images, img_size, seed, splits, max_objects, max_occlusion)
    if root is None:
        root = os.path.join(shapes_cache_dir(), _default_name(params))
    root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if _existing(root, params):
        return root
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(root)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.mkdir(tmp)  # not mkdtemp: the dataset gets the umask's permissions, not 0700
    try:
        digest = hashlib.sha256()
        counts = _split_counts(num_images, splits)
        index = 0
        n_objects = 0
        for split, count in zip(_SPLITS, counts):
            img_dir = os.path.join(tmp, "images", split)
            lbl_dir = os.path.join(tmp, "labels", split)
            os.makedirs(img_dir)
            os.makedirs(lbl_dir)
            for _ in range(count):
                img, labels = render_shapes_image(seed, index, img_size, max_objects, max_occlusion)
                text = _label_text(labels, img_size)
                digest.update(img.tobytes())
                digest.update(text.encode())
                name = f"{index:05d}"
                with open(os.path.join(img_dir, name + ".png"), "wb") as f:
                    f.write(_png_bytes(img))
                with open(os.path.join(lbl_dir, name + ".txt"), "w", encoding="ascii", newline="\n") as f:
                    f.write(text)
                n_objects += len(labels)
                index += 1
        with open(os.path.join(tmp, "data.yaml"), "w", encoding="utf-8", newline="\n") as f:
            f.write(_yaml_text(params))
        with open(os.path.join(tmp, "shapes.json"), "w", encoding="utf-8", newline="\n") as f:
            json.dump({"params": params, "classes": list(SHAPES_CLASSES), "counts": dict(zip(_SPLITS, counts)),
                       "objects": n_objects, "content_sha256": digest.hexdigest()}, f, indent=1, sort_keys=True)
            f.write("\n")
        try:
            if os.path.isdir(root) and not os.listdir(root):
                os.rmdir(root)  # rename cannot replace an empty folder everywhere
            os.rename(tmp, root)
        except OSError:
            if not _existing(root, params):  # not another process' finished copy
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    if verbose:
        print(f"shapes: wrote {num_images} images to {root}")
    return root


class Shapes(YOLODataset):
    """The generated shapes dataset (made on first use, see ``make_shapes``) as a YOLODataset:
    ``Shapes("train", augment=True)``. ``num_images``, ``data_seed``, ``root``, ``max_objects``
    and ``max_occlusion`` go to ``make_shapes`` (images are generated at ``img_size``); the
    other keyword arguments (``augment``, ``cache`` (True by default here), ``seed``, ``mosaic``,
    ...) to YOLODataset."""

    def __init__(self, split="train", img_size=128, augment=False, num_images=3000, data_seed=0, root=None,
                 max_objects=6, max_occlusion=0.4, **kwargs):
        folder = make_shapes(root, num_images=num_images, img_size=img_size, seed=data_seed, max_objects=max_objects,
                             max_occlusion=max_occlusion)
        kwargs.setdefault("cache", True)  # a few tens of MB: decoding once makes augmentation several times faster
        super().__init__(folder, split=split, img_size=img_size, augment=augment, **kwargs)
