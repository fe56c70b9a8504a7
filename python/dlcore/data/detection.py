"""Object-detection data in the YOLO format: data.yaml, image and label folders, letterbox,
training augmentation (mosaic, random scale/translate, HSV, horizontal flip) and collation.

Note [YOLO layout]: a data.yaml names the dataset root (``path``, relative to the yaml's folder;
absent: that folder), the ``train``/``val``/``test`` images (a folder searched recursively, a
.txt file listing images, or a list of those) and the classes (``names`` as a list or an
{id: name} mapping, and/or ``nc``). Each image ``.../images/.../x.png`` has its labels in
``.../labels/.../x.txt`` (the last ``images`` folder in the path replaced), one object a line,
``class cx cy w h`` normalised to [0, 1]. A missing or empty label file is an image without
objects. Malformed labels raise YOLODataError naming the file and line when the dataset is made.

Note [Box coordinates]: boxes are (x1, y1, x2, y2) in continuous pixel coordinates: pixel
(row r, column c) covers [c, c + 1) x [r, r + 1). Every resize and warp here maps pixel centres
with the same transform as the boxes (Pillow's resize does too), so a box stays on its object.

Note [Detection randomness]: every random choice of the augmentation comes from a numpy
Generator passed in. ``YOLODataset.sample(index, rng)`` takes it explicitly; ``dataset[i]``
(what a DataLoader calls, possibly from its prefetch thread) uses
``default_rng([seed, epoch, i, 0xDE7])`` with the epoch of ``set_epoch``. An augmented sample is
therefore a function of (seed, epoch, index) only, whatever the batch, the order or the thread:
it fits Note [Exact resume] in cli/train.py (a resumed epoch draws the same samples).
"""
import math
import os

import numpy as np

from .dataset import Dataset

__all__ = ["YOLODataset", "YOLODataError", "DetectionSample", "detection_collate", "letterbox", "scale_boxes_back",
           "parse_data_yaml", "read_yolo_labels", "load_rgb", "box_candidates", "random_flip", "random_hsv",
           "random_affine", "warp_scale_translate", "mosaic4", "label_path_for", "IMG_FORMATS", "PAD_VALUE",
           "LABEL_TOLERANCE"]

IMG_FORMATS = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp", ".mpo")
PAD_VALUE = 114          # letterbox and augmentation fill, as in Ultralytics
LABEL_TOLERANCE = 0.01   # how far (normalised) a box edge may stick out of the image; it is clipped


class YOLODataError(ValueError):
    """A malformed data.yaml, label file or image; the message names the file (and the line)."""


def _pil():
    try:
        from PIL import Image, ImageOps
    except ImportError as e:
        raise ImportError("YOLODataset needs Pillow to decode images (pip install pillow)") from e
    return Image, ImageOps


# ---- data.yaml ----------------------------------------------------------------------------------
def _strip_comment(line):
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and (i == 0 or line[i - 1] in " \t[{,:"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _unquote(text):
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        inner = t[1:-1]
        if t[0] == "'":
            return inner.replace("''", "'")
        return (inner.replace("\\\\", "\0").replace('\\"', '"').replace("\\n", "\n").replace("\\t", "\t")
                .replace("\0", "\\"))
    if t in ("", "~", "null", "Null", "NULL"):
        return None
    return t


def _split_flow(body, where):
    """The comma-separated items of a flow collection's inside, quotes respected."""
    items, cur, quote = [], [], None
    for ch in body:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"" and not "".join(cur).strip():
            quote = ch
            cur.append(ch)
        elif ch in "[]{}":
            raise YOLODataError(f"{where}: nested collections are not supported in this YAML subset")
        elif ch == ",":
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if quote:
        raise YOLODataError(f"{where}: unterminated quoted string")
    items.append("".join(cur))
    if items and not items[-1].strip():
        items.pop()  # trailing comma
    return items


def _key_value(text, where):
    k, sep, v = text.partition(":")
    if not sep or (v and not v[0].isspace()):
        raise YOLODataError(f"{where}: expected 'key: value', got {text.strip()!r}")
    return _unquote(k), v


def _yaml_value(inline, block, where):
    """The value of a top-level key: a string, None, a list or a dict (strings inside)."""
    if inline[:1] in ("|", ">"):
        return "\n".join(t for _, t in block)
    if inline[:1] in ("[", "{"):
        text = " ".join([inline] + [t.strip() for _, t in block])
        close = "]" if inline[0] == "[" else "}"
        if not text.endswith(close):
            raise YOLODataError(f"{where}: unterminated flow collection {text!r}")
        items = _split_flow(text[1:-1], where)
        if close == "]":
            return [_unquote(s) for s in items]
        return dict((k, _unquote(v)) for k, v in (_key_value(s, where) for s in items))
    if inline:
        if block:
            raise YOLODataError(f"{where}: a multi-line plain value is not supported in this YAML subset")
        return _unquote(inline)
    if not block:
        return None
    indents = {len(t) - len(t.lstrip()) for _, t in block}
    items, mapping = [], {}
    for lineno, t in block:
        s = t.strip()
        w = f"{where.rsplit(':', 1)[0]}:{lineno}"
        if len(indents) > 1:
            raise YOLODataError(f"{w}: nested blocks are not supported in this YAML subset")
        if s == "-" or s.startswith("- "):
            items.append(_unquote(s[1:]))
        else:
            k, v = _key_value(s, w)
            mapping[k] = _unquote(v)
    if items and mapping:
        raise YOLODataError(f"{where}: a block mixes list items and key: value lines")
    return items if items else mapping


def _parse_yaml_entries(text, filename):
    """Top-level ``key -> (inline text, [(lineno, block line)], lineno)`` of a small YAML file."""
    entries, cur = {}, None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).rstrip()
        if not line.strip() or line.startswith(("---", "...", "%")):
            continue
        top = not line[0].isspace() and not (line == "-" or line.startswith("- "))
        if top:
            key, rest = _key_value(line, f"{filename}:{lineno}")
            cur = [rest.strip(), [], lineno]
            entries[key] = cur
        elif cur is None:
            raise YOLODataError(f"{filename}:{lineno}: an indented line before the first key")
        else:
            cur[1].append((lineno, line))
    return entries


def parse_data_yaml(path):
    """Read a YOLO data.yaml (Note [YOLO layout]) with a small YAML subset (scalars, flow and
    one-level block lists/mappings; other keys such as ``download`` are skipped). Returns a dict:
    ``yaml`` and ``path`` (absolute), ``train``/``val``/``test`` (lists of absolute paths, or
    None when absent), ``names`` (a list of class names) and ``nc``."""
    path = os.path.abspath(os.fspath(path))
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise YOLODataError(f"{path}: cannot read the dataset YAML: {e}") from e
    entries = _parse_yaml_entries(text, path)

    def value(key):
        if key not in entries:
            return None
        inline, block, lineno = entries[key]
        return _yaml_value(inline, block, f"{path}:{lineno}"), lineno

    base = os.path.dirname(path)
    v = value("path")
    if v is not None and v[0] is not None:
        if not isinstance(v[0], str):
            raise YOLODataError(f"{path}:{v[1]}: 'path' must be a folder name")
        p = os.path.expanduser(v[0])
        root = p if os.path.isabs(p) else os.path.join(base, p)
        if not os.path.isdir(root) and not os.path.isabs(p) and os.path.isdir(p):
            root = p  # relative to the working directory (as a dataset root often is)
        root = os.path.abspath(root)
    else:
        root = base

    out = {"yaml": path, "path": root}
    for split in ("train", "val", "test"):
        v = value(split)
        if v is None or v[0] is None or v[0] == []:
            out[split] = None
            continue
        items = v[0] if isinstance(v[0], list) else [v[0]]
        if not all(isinstance(s, str) and s for s in items):
            raise YOLODataError(f"{path}:{v[1]}: '{split}' must be a path or a list of paths, got {v[0]!r}")
        out[split] = [os.path.abspath(os.path.join(root, os.path.expanduser(s))) for s in items]

    nc = value("nc")
    if nc is not None and nc[0] is not None:
        try:
            nc_value = int(nc[0])
        except (TypeError, ValueError):
            raise YOLODataError(f"{path}:{nc[1]}: nc must be an integer, got {nc[0]!r}") from None
        if nc_value < 1:
            raise YOLODataError(f"{path}:{nc[1]}: nc must be positive, got {nc_value}")
    else:
        nc_value = None
    names = value("names")
    if names is None or names[0] is None:
        if nc_value is None:
            raise YOLODataError(f"{path}: the dataset YAML names no classes: add 'names:' (a list or an "
                                f"{{id: name}} mapping) or 'nc:'")
        name_list = [str(i) for i in range(nc_value)]
    elif isinstance(names[0], list):
        if any(n is None for n in names[0]):
            raise YOLODataError(f"{path}:{names[1]}: an empty class name in 'names'")
        name_list = list(names[0])
    elif isinstance(names[0], dict):
        try:
            ids = {int(k): n for k, n in names[0].items()}
        except (TypeError, ValueError):
            raise YOLODataError(f"{path}:{names[1]}: 'names' mapping keys must be class ids 0..n-1, got "
                                f"{list(names[0])}") from None
        if sorted(ids) != list(range(len(ids))):
            raise YOLODataError(f"{path}:{names[1]}: 'names' mapping keys must be the class ids 0..{len(ids) - 1}, "
                                f"got {sorted(ids)}")
        if any(ids[i] is None for i in ids):
            raise YOLODataError(f"{path}:{names[1]}: an empty class name in 'names'")
        name_list = [ids[i] for i in range(len(ids))]
    else:
        raise YOLODataError(f"{path}:{names[1]}: 'names' must be a list or an {{id: name}} mapping, got "
                            f"{names[0]!r}")
    if not name_list:
        raise YOLODataError(f"{path}:{names[1]}: 'names' is empty")
    if nc_value is not None and nc_value != len(name_list):
        raise YOLODataError(f"{path}: nc is {nc_value} but 'names' lists {len(name_list)} classes")
    out["names"] = [str(n) for n in name_list]
    out["nc"] = len(name_list)
    return out


# ---- files ----------------------------------------------------------------------------------------
def _list_images(sources, split, yaml_path):
    files = []
    for src in sources:
        if os.path.isdir(src):
            for dirpath, dirnames, names in os.walk(src, followlinks=True):
                dirnames.sort()
                files.extend(os.path.join(dirpath, n) for n in sorted(names) if n.lower().endswith(IMG_FORMATS))
        elif os.path.isfile(src) and src.lower().endswith(".txt"):
            base = os.path.dirname(src)
            with open(src, encoding="utf-8-sig") as f:
                for line in f:
                    line = line.strip()
                    if line:
                        files.append(os.path.abspath(line if os.path.isabs(line) else os.path.join(base, line)))
        elif os.path.isfile(src):
            files.append(src)
        else:
            raise YOLODataError(f"{yaml_path}: the '{split}' images {src} do not exist")
    if not files:
        raise YOLODataError(f"{yaml_path}: no images ({', '.join(IMG_FORMATS)}) found for '{split}' in "
                            f"{', '.join(sources)}")
    return files


def label_path_for(image_path):
    """The label file of an image: the last ``images`` folder of the path replaced by
    ``labels`` and the extension by ``.txt`` (Ultralytics' rule)."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return os.path.splitext(sb.join(image_path.rsplit(sa, 1)))[0] + ".txt"


def read_yolo_labels(path, nc=None, tolerance=LABEL_TOLERANCE):
    """The objects of a YOLO label file as float32 (n, 5) (class, cx, cy, w, h) normalised (box
    edges clipped to [0, 1]); (0, 5) when the file is missing or empty. Raises YOLODataError
    naming the file and line for a line without 5 numbers, a non-numeric or non-finite value, a
    class id that is not an integer in [0, nc), w or h <= 0, or a box outside [0, 1] by more than
    ``tolerance``."""
    if not os.path.exists(path):
        return np.zeros((0, 5), dtype=np.float32)
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise YOLODataError(f"{path}: cannot read the label file: {e}") from e
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{lineno}"
        if len(parts) != 5:
            hint = " (segmentation polygons are not supported)" if len(parts) > 5 and len(parts) % 2 == 1 else ""
            raise YOLODataError(f"{where}: expected 5 numbers 'class cx cy w h', got {len(parts)} values: "
                                f"{line.strip()!r}{hint}")
        vals = []
        for p in parts:
            try:
                x = float(p)
            except ValueError:
                x = math.nan
            if not math.isfinite(x):
                raise YOLODataError(f"{where}: non-numeric value {p!r} in {line.strip()!r}")
            vals.append(x)
        c, cx, cy, w, h = vals
        if c != int(c) or c < 0:
            raise YOLODataError(f"{where}: class id {parts[0]!r} is not a non-negative integer")
        if nc is not None and c >= nc:
            raise YOLODataError(f"{where}: class id {int(c)} is out of range: the dataset names {nc} classes "
                                f"(ids 0..{nc - 1})")
        if w <= 0 or h <= 0:
            raise YOLODataError(f"{where}: box width and height must be > 0, got w={parts[3]} h={parts[4]}")
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if min(x1, y1) < -tolerance or max(x2, y2) > 1 + tolerance or not (0 <= cx <= 1 and 0 <= cy <= 1):
            raise YOLODataError(f"{where}: box {' '.join(parts[1:])} lies outside the image: coordinates must be "
                                f"normalised to [0, 1] (edges x1={x1:.4g} y1={y1:.4g} x2={x2:.4g} y2={y2:.4g})")
        x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, 1.0), min(y2, 1.0)
        rows.append((c, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1))
    return np.array(rows, dtype=np.float32).reshape(-1, 5)


def _exif_transposed(orientation):
    return orientation in (5, 6, 7, 8)


def _image_size(path):
    """(height, width) of an image as displayed (EXIF orientation applied), from its header."""
    Image, _ = _pil()
    try:
        with Image.open(path) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112, 1)
            except Exception:  # noqa: BLE001 - a broken EXIF block: use the stored orientation
                orientation = 1
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise YOLODataError(f"{path}: cannot open the image: {e}") from e
    return (w, h) if _exif_transposed(orientation) else (h, w)


def load_rgb(path):
    """An image file as uint8 (H, W, 3) RGB (EXIF orientation applied); YOLODataError naming the
    file when it cannot be decoded."""
    Image, ImageOps = _pil()
    try:
        with Image.open(path) as im:
            arr = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise YOLODataError(f"{path}: cannot decode the image: {e}") from e
    return arr


# ---- letterbox ----------------------------------------------------------------------------------
def _fit_shape(h, w, new_h, new_w, scaleup=True):
    """The size (nh, nw) of an (h, w) image resized to fit in (new_h, new_w) keeping its aspect."""
    r = min(new_h / h, new_w / w)
    if not scaleup:
        r = min(r, 1.0)
    return max(1, min(new_h, int(round(h * r)))), max(1, min(new_w, int(round(w * r))))


def _resize(img, nh, nw):
    if img.shape[:2] == (nh, nw):
        return img
    Image, _ = _pil()
    return np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR))


def _pad_to(img, new_h, new_w, pad_value=PAD_VALUE):
    h, w = img.shape[:2]
    top, left = (new_h - h) // 2, (new_w - w) // 2
    if (h, w) == (new_h, new_w):
        return img, (0, 0)
    out = np.full((new_h, new_w, img.shape[2]), pad_value, dtype=img.dtype)
    out[top:top + h, left:left + w] = img
    return out, (left, top)


def letterbox(img, new_size, pad_value=PAD_VALUE, scaleup=True):
    """Resize uint8 (H, W, 3) ``img`` to fit ``new_size`` (an int: a square, or (h, w)) keeping
    its aspect ratio (bilinear, Pillow) and pad it, centred, with ``pad_value`` grey.

    Returns ``(out, ratio, (pad_w, pad_h))``: ``ratio`` = (rw, rh), the scale of each axis (they
    differ only by the rounding of the resized size), and the left/top padding in pixels, so a
    point maps as ``x' = x * rw + pad_w`` (Note [Box coordinates]; ``scale_boxes_back`` inverts it).
    ``scaleup=False`` only shrinks."""
    new_h, new_w = (new_size, new_size) if isinstance(new_size, (int, np.integer)) else map(int, new_size)
    h, w = img.shape[:2]
    nh, nw = _fit_shape(h, w, new_h, new_w, scaleup)
    out, pad = _pad_to(_resize(img, nh, nw), new_h, new_w, pad_value)
    return out, (nw / w, nh / h), pad


def scale_boxes_back(boxes, ratio, pad, orig_shape):
    """Boxes (..., 4+) (x1, y1, x2, y2, ...) in a letterboxed image -> the original image's
    pixels (clipped to it); ``ratio`` (a number or (rw, rh)) and ``pad`` (pad_w, pad_h) as
    returned by ``letterbox``, ``orig_shape`` (h, w). Columns after the fourth are kept."""
    out = np.array(boxes, dtype=np.float64 if np.asarray(boxes).dtype == np.float64 else np.float32)
    rw, rh = (ratio, ratio) if np.isscalar(ratio) else ratio
    h, w = orig_shape[:2]
    out[..., [0, 2]] = np.clip((out[..., [0, 2]] - pad[0]) / rw, 0, w)
    out[..., [1, 3]] = np.clip((out[..., [1, 3]] - pad[1]) / rh, 0, h)
    return out


# ---- augmentation ---------------------------------------------------------------------------------
def box_candidates(box1, box2, wh_thr=2.0, ar_thr=100.0, area_thr=0.1, eps=1e-16):
    """Which boxes to keep after an augmentation (Ultralytics' rule): ``box1`` (n, 4) before
    (scaled by the augmentation's zoom), ``box2`` (n, 4) after clipping, both xyxy pixels. Kept:
    width and height > ``wh_thr`` pixels, more than ``area_thr`` of the area left, aspect ratio
    below ``ar_thr``."""
    w1, h1 = box1[:, 2] - box1[:, 0], box1[:, 3] - box1[:, 1]
    w2, h2 = box2[:, 2] - box2[:, 0], box2[:, 3] - box2[:, 1]
    ar = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)


def random_flip(img, labels, rng, p=0.5):
    """Mirror image (H, W, C) and labels (n, 5) (class, x1, y1, x2, y2) left-right with probability p."""
    if rng.random() >= p:
        return img, labels
    w = img.shape[1]
    labels = labels.copy()
    labels[:, 1], labels[:, 3] = w - labels[:, 3], w - labels[:, 1]
    return img[:, ::-1], labels


def _hue_matrix(angle):
    """Rotation of RGB about the grey axis (1, 1, 1) by ``angle`` radians (Rodrigues' formula)."""
    c, s = math.cos(angle), math.sin(angle)
    d, k = (1.0 - c) / 3.0, s / math.sqrt(3.0)
    return np.array([[c + d, d - k, d + k], [d + k, c + d, d - k], [d - k, d + k, c + d]], dtype=np.float32)


def _hsv_planes(x, gains, out_scale=1.0):
    """random_hsv on planes (3, H, W) float32 with the gains (gh, gs, gv) drawn; returns float32
    planes (``x`` itself when it can be modified in place)."""
    gh, gs, gv = gains
    if gh != 1.0:
        x = (_hue_matrix(math.pi * (gh - 1.0)) @ x.reshape(3, -1)).reshape(x.shape)
    v = np.maximum(np.maximum(x[0], x[1]), x[2])
    tiny = np.float32(1e-6)
    es = np.float32(gs)
    if gs > 1.0:  # saturation stops at 1: the gain is at most V / (V - min)
        es = np.minimum(es, v / np.maximum(v - np.minimum(np.minimum(x[0], x[1]), x[2]), tiny))
    ev = np.float32(gv)
    if gv > 1.0:  # value stops at 255
        ev = np.minimum(ev, np.float32(255.0) / np.maximum(v, tiny))
    ev = ev * np.float32(out_scale)
    bx = ev * es  # x' = ev * (v + es * (x - v)) = bx * x + (ev - bx) * v
    v *= ev - bx
    x *= bx
    x += v
    return x


def random_hsv(img, rng, hgain=0.015, sgain=0.7, vgain=0.4, out_scale=1.0):
    """Ultralytics' HSV augmentation, done in RGB: gains ``1 + uniform(-1, 1) * gain`` for hue,
    saturation and value. Saturation and value are exact (S' = min(S * gs, 1), V' = min(V * gv,
    255), the hue kept); Ultralytics multiplies the hue by gh (on average a shift of
    180 deg * (gh - 1)), here the colours are rotated about the grey axis by 180 deg * (gh - 1).
    ``img`` (H, W, 3) in [0, 255]; returns float32 (H, W, 3) times ``out_scale`` (a hue rotation
    can overshoot [0, 255] by a little: callers clip)."""
    gains = 1.0 + rng.uniform(-1.0, 1.0, 3) * np.array([hgain, sgain, vgain])
    planes = np.ascontiguousarray(np.asarray(img).transpose(2, 0, 1), dtype=np.float32)
    return _hsv_planes(planes, gains, out_scale).transpose(1, 2, 0)


def _taps(n_out, n_in, scale, shift):
    """Bilinear taps along one axis for out = in * scale + shift: indices i0, i1 into the input
    (clamped) and weights w0, w1, plus the weight of the fill value (outside the input)."""
    src = (np.arange(n_out) + 0.5 - shift) / scale - 0.5
    i0 = np.floor(src)
    f = (src - i0).astype(np.float32)
    i0 = i0.astype(np.int64)
    i1 = i0 + 1
    w0 = np.where((i0 >= 0) & (i0 < n_in), 1.0 - f, 0.0).astype(np.float32)
    w1 = np.where((i1 >= 0) & (i1 < n_in), f, 0.0).astype(np.float32)
    return np.clip(i0, 0, n_in - 1), np.clip(i1, 0, n_in - 1), w0, w1, np.float32(1.0) - w0 - w1


def warp_scale_translate(img, scale, tx, ty, out_shape, fill=PAD_VALUE):
    """uint8 (H, W, C) image warped by x' = x * scale + tx, y' = y * scale + ty (Note [Box
    coordinates]) into ``out_shape`` (h, w), bilinear, ``fill`` outside; float32 result.
    Separable: whole rows are gathered first, then the columns of the flattened rows."""
    oh, ow = out_shape
    h, w, C = img.shape
    y0, y1, wy0, wy1, wyf = _taps(oh, h, scale, ty)
    x0, x1, wx0, wx1, wxf = _taps(ow, w, scale, tx)
    lo, hi = int(x0.min()), int(x1.max()) + 1
    src = img[:, lo:hi]                                     # only the columns that are read
    fill = np.float32(fill)
    rows = np.multiply(src.take(y0, axis=0), wy0[:, None, None], dtype=np.float32)
    rows += np.multiply(src.take(y1, axis=0), wy1[:, None, None], dtype=np.float32)
    rows += (fill * wyf)[:, None, None]
    rows = rows.reshape(oh, (hi - lo) * C)
    chan = np.arange(C)
    out = rows.take(((x0 - lo)[:, None] * C + chan).ravel(), axis=1)
    out *= np.repeat(wx0, C)
    other = rows.take(((x1 - lo)[:, None] * C + chan).ravel(), axis=1)
    other *= np.repeat(wx1, C)
    out += other
    out += fill * np.repeat(wxf, C)
    return out.reshape(oh, ow, C)


def random_affine(img, labels, rng, translate=0.1, scale=0.5, border=0, fill=PAD_VALUE, **candidate_kw):
    """Ultralytics' random_perspective with only zoom and translation (its defaults for
    degrees, shear and perspective are 0): zoom ``s`` uniform in [1 - scale, 1 + scale] about
    the image centre, then the centre moved to uniform([0.5 - translate, 0.5 + translate]) of the
    output, whose side is the input's + 2 * ``border`` (border -S/2 crops a 2S mosaic to S).
    Boxes are transformed, clipped to the output and filtered by ``box_candidates``.
    Returns (float32 image (H', W', C) in [0, 255], labels (m, 5))."""
    h, w = img.shape[:2]
    oh, ow = h + 2 * border, w + 2 * border
    s = rng.uniform(1.0 - scale, 1.0 + scale)
    cx = rng.uniform(0.5 - translate, 0.5 + translate) * ow
    cy = rng.uniform(0.5 - translate, 0.5 + translate) * oh
    tx, ty = cx - s * w / 2.0, cy - s * h / 2.0
    out = warp_scale_translate(img, s, tx, ty, (oh, ow), fill)
    if len(labels):
        boxes = labels[:, 1:5] * np.float32(s)
        boxes[:, [0, 2]] += np.float32(tx)
        boxes[:, [1, 3]] += np.float32(ty)
        clipped = boxes.copy()
        clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, ow)
        clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, oh)
        keep = box_candidates(labels[:, 1:5] * np.float32(s), clipped, **candidate_kw)
        labels = np.concatenate([labels[keep, :1], clipped[keep]], axis=1)
    return out, labels


def mosaic4(images, labels, rng, size, fill=PAD_VALUE):
    """Ultralytics' 4-image mosaic: a (2S, 2S) canvas filled with ``fill`` grey, a centre drawn
    uniform in [S/2, 3S/2) on each axis, and the four images (uint8 (h, w, 3), long side S
    usually) put against it top-left, top-right, bottom-left and bottom-right (cropped at the
    canvas edges). ``labels``: four (n, 5) (class, x1, y1, x2, y2) arrays in their image's
    pixels. Returns (canvas uint8 (2S, 2S, 3), labels (m, 5) in canvas pixels, clipped to it,
    boxes with no area left dropped)."""
    s = int(size)
    xc = int(rng.uniform(s / 2, 3 * s / 2))
    yc = int(rng.uniform(s / 2, 3 * s / 2))
    canvas = np.full((2 * s, 2 * s, images[0].shape[2]), fill, dtype=np.uint8)
    out = []
    for k, (img, lab) in enumerate(zip(images, labels)):
        h, w = img.shape[:2]
        if k == 0:    # top left
            x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
            x1b, y1b, x2b, y2b = w - (x2a - x1a), h - (y2a - y1a), w, h
        elif k == 1:  # top right
            x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, 2 * s), yc
            x1b, y1b, x2b, y2b = 0, h - (y2a - y1a), min(w, x2a - x1a), h
        elif k == 2:  # bottom left
            x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(2 * s, yc + h)
            x1b, y1b, x2b, y2b = w - (x2a - x1a), 0, w, min(y2a - y1a, h)
        else:         # bottom right
            x1a, y1a, x2a, y2a = xc, yc, min(xc + w, 2 * s), min(2 * s, yc + h)
            x1b, y1b, x2b, y2b = 0, 0, min(w, x2a - x1a), min(y2a - y1a, h)
        canvas[y1a:y2a, x1a:x2a] = img[y1b:y2b, x1b:x2b]
        if len(lab):
            moved = lab.copy()
            moved[:, [1, 3]] += np.float32(x1a - x1b)
            moved[:, [2, 4]] += np.float32(y1a - y1b)
            out.append(moved)
    if not out:
        return canvas, np.zeros((0, 5), dtype=np.float32)
    lab = np.concatenate(out)
    lab[:, 1:5] = lab[:, 1:5].clip(0, 2 * s)
    keep = (lab[:, 3] > lab[:, 1]) & (lab[:, 4] > lab[:, 2])
    return canvas, lab[keep]


# ---- dataset --------------------------------------------------------------------------------------
class DetectionSample(tuple):
    """``(image, labels)`` as returned by YOLODataset, with ``dataset_index`` and
    ``info`` (``letterbox_info`` for an un-augmented sample, None for an augmented one) for
    ``detection_collate``."""

    def __new__(cls, image, labels, index=-1, info=None):
        self = super().__new__(cls, (image, labels))
        self.dataset_index, self.info = index, info
        return self

    def __getnewargs__(self):  # pickle and copy
        return (self[0], self[1], self.dataset_index, self.info)


class YOLODataset(Dataset):
    """A YOLO-format detection dataset (Note [YOLO layout]): ``dataset[i]`` is ``(image, labels)``,
    image float32 (3, S, S) in [0, 1] and labels float32 (n, 5) (class, x1, y1, x2, y2) in pixels
    of that image, S = ``img_size`` (a multiple of 32).

    ``root_or_yaml``: a data.yaml, or a folder holding ``data.yaml`` (or a single .yaml), or
    ``images/<split>`` and ``labels/<split>`` folders (then ``names`` is required). ``names``
    overrides the yaml's class names.

    Without ``augment`` the image is letterboxed (Note [Box coordinates]); ``letterbox_info(i)``
    maps predictions back to the original image. With ``augment`` (training), Ultralytics'
    pipeline scaled to the image size: mosaic with probability ``mosaic`` (``close_mosaic()``
    turns it off for the last epochs), else the letterboxed image; random zoom (``scale``) and
    shift (``translate``); HSV gains (``hsv_h``, ``hsv_s``, ``hsv_v``); left-right flip
    (``fliplr``). Random numbers: Note [Detection randomness] (``seed``, ``set_epoch``,
    ``sample(index, rng)``).

    ``cache=True`` decodes every image when the dataset is made and keeps it in memory (resized
    so its long side is S: 128 x 128 x 3 bytes an image for the default size).
    Labels and image headers are checked when the dataset is made (YOLODataError naming the file
    and line); an image that fails to decode later raises YOLODataError naming it.
    """

    def __init__(self, root_or_yaml, split="train", img_size=128, augment=False, cache=False, names=None,
                 mosaic=1.0, fliplr=0.5, hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, translate=0.1, scale=0.5, seed=0,
                 label_tolerance=LABEL_TOLERANCE):
        if isinstance(img_size, bool) or not isinstance(img_size, (int, np.integer)) or img_size < 32 \
                or img_size % 32:
            raise ValueError(f"YOLODataset: img_size must be a positive multiple of 32, got {img_size!r}")
        if split not in ("train", "val", "test"):
            raise ValueError(f"YOLODataset: split must be 'train', 'val' or 'test', got {split!r}")
        self.data = self._resolve(os.fspath(root_or_yaml), split, names)
        self.yaml = self.data["yaml"]
        self.names = list(self.data["names"])
        self.nc = len(self.names)
        self.split = split
        self.img_size = int(img_size)
        self.augment = bool(augment)
        self.mosaic = float(mosaic)
        self.fliplr, self.hsv = float(fliplr), (float(hsv_h), float(hsv_s), float(hsv_v))
        self.translate, self.scale = float(translate), float(scale)
        self.seed, self.epoch = int(seed), 0
        self.im_files = _list_images(self.data[split], split, self.yaml)
        self.label_files = [label_path_for(f) for f in self.im_files]
        self.labels = [read_yolo_labels(f, self.nc, label_tolerance) for f in self.label_files]
        self.shapes = [_image_size(f) for f in self.im_files]   # (h, w) of every original image
        self._cache = None
        if cache:
            self._cache = [self._decode(i) for i in range(len(self.im_files))]

    @staticmethod
    def _resolve(src, split, names):
        if os.path.isdir(src):
            yamls = [n for n in sorted(os.listdir(src)) if n.lower().endswith((".yaml", ".yml"))]
            if "data.yaml" in yamls or len(yamls) == 1:
                src = os.path.join(src, "data.yaml" if "data.yaml" in yamls else yamls[0])
            else:
                if names is None:
                    raise YOLODataError(f"{src}: no data.yaml (nor a single .yaml) here; pass names=[...] to read "
                                        f"images/{split} and labels/{split} directly")
                img_dir = os.path.join(src, "images", split)
                return {"yaml": src, "path": os.path.abspath(src), split: [os.path.abspath(img_dir)],
                        "names": list(names), "nc": len(names)}
        if not os.path.isfile(src):
            raise FileNotFoundError(f"YOLODataset: {src} does not exist")
        data = parse_data_yaml(src)
        if data[split] is None:
            raise YOLODataError(f"{data['yaml']}: no '{split}' split in the dataset YAML")
        if names is not None:
            data["names"], data["nc"] = list(names), len(names)
        return data

    def __len__(self):
        return len(self.im_files)

    def __repr__(self):
        return (f"YOLODataset({self.yaml!r}, split={self.split!r}, size={len(self)}, classes={self.nc}, "
                f"img_size={self.img_size}, augment={self.augment})")

    # -- images
    def _decode(self, i):
        """Image i as uint8 RGB resized so its long side is S (the form kept in the cache)."""
        img = load_rgb(self.im_files[i])
        if img.shape[:2] != tuple(self.shapes[i]):
            raise YOLODataError(f"{self.im_files[i]}: the image is {img.shape[1]}x{img.shape[0]} but its header "
                                f"said {self.shapes[i][1]}x{self.shapes[i][0]}")
        S = self.img_size
        return _resize(img, *_fit_shape(*self.shapes[i], S, S))

    def load_image(self, i):
        """Image i as uint8 (h, w, 3) RGB, resized so its long side is S, and its labels (n, 5)
        (class, x1, y1, x2, y2) in that image's pixels."""
        img = self._cache[i] if self._cache is not None else self._decode(i)
        lab = self.labels[i]
        out = np.empty_like(lab)
        h, w = img.shape[:2]
        out[:, 0] = lab[:, 0]
        out[:, 1] = (lab[:, 1] - lab[:, 3] / 2) * w
        out[:, 2] = (lab[:, 2] - lab[:, 4] / 2) * h
        out[:, 3] = (lab[:, 1] + lab[:, 3] / 2) * w
        out[:, 4] = (lab[:, 2] + lab[:, 4] / 2) * h
        return img, out

    def _letterboxed(self, i):
        img, lab = self.load_image(i)
        S = self.img_size
        img, (pw, ph) = _pad_to(img, S, S)
        if pw or ph:
            lab[:, [1, 3]] += pw
            lab[:, [2, 4]] += ph
        return img, lab

    def letterbox_info(self, i):
        """How the un-augmented image i maps to the original: ``path``, ``orig_shape`` (h, w),
        ``shape`` (S, S), ``ratio`` (rw, rh) and ``pad`` (pad_w, pad_h), for scale_boxes_back."""
        h, w = self.shapes[i]
        S = self.img_size
        nh, nw = _fit_shape(h, w, S, S)
        return {"path": self.im_files[i], "orig_shape": (h, w), "shape": (S, S), "ratio": (nw / w, nh / h),
                "pad": ((S - nw) // 2, (S - nh) // 2)}

    # -- samples
    def set_epoch(self, epoch):
        """The epoch whose random numbers ``dataset[i]`` uses (Note [Detection randomness])."""
        self.epoch = int(epoch)

    def close_mosaic(self):
        """No more mosaic (Ultralytics' close_mosaic, for the last epochs)."""
        self.mosaic = 0.0

    def rng_for(self, index, epoch=None):
        """The Generator that ``dataset[index]`` augments with in ``epoch`` (default: the one set)."""
        return np.random.default_rng([self.seed, self.epoch if epoch is None else int(epoch), int(index), 0xDE7])

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"YOLODataset: index {index} is out of range for a dataset of length {n}")
        return self.sample(index % n)

    def sample(self, index, rng=None):
        """Sample ``index`` as a DetectionSample; augmented (when the dataset augments) with the
        numpy Generator ``rng`` (default: ``rng_for(index)``)."""
        if not self.augment:
            img, lab = self._letterboxed(index)
            return DetectionSample(_to_chw(img, 1.0 / 255.0), lab, index,
                                   self.letterbox_info(index))
        if rng is None:
            rng = self.rng_for(index)
        S = self.img_size
        if rng.random() < self.mosaic:
            picks = [index] + [int(j) for j in rng.integers(0, len(self), 3)]
            imgs, labs = zip(*(self.load_image(j) for j in picks))
            img, lab = mosaic4(imgs, labs, rng, S)
            border = -(S // 2)
        else:
            img, lab = self._letterboxed(index)
            border = 0
        img, lab = random_affine(img, lab, rng, self.translate, self.scale, border)
        img, lab = random_flip(img, lab, rng, self.fliplr)
        gains = 1.0 + rng.uniform(-1.0, 1.0, 3) * np.array(self.hsv)   # random_hsv, on planes
        planes = _hsv_planes(_to_chw(img, 1.0, clip=False), gains, 1.0 / 255.0)
        return DetectionSample(np.clip(planes, 0.0, 1.0, out=planes), np.ascontiguousarray(lab, dtype=np.float32),
                               index, None)


def _to_chw(img, scale, clip=True):
    """(H, W, 3) -> contiguous float32 (3, H, W), times ``scale``, clipped to [0, 1]."""
    out = np.empty((img.shape[2],) + img.shape[:2], dtype=np.float32)
    np.multiply(img.transpose(2, 0, 1), np.float32(scale), out=out)
    return np.clip(out, 0.0, 1.0, out=out) if clip else out


# ---- batches --------------------------------------------------------------------------------------
def detection_collate(batch):
    """Samples ``(image, labels)`` -> a dict:

    ``img``     dlcore float32 tensor (B, 3, S, S)
    ``labels``  numpy float32 (B, nmax, 5) (class, x1, y1, x2, y2), zero rows after ``counts[b]``
    ``counts``  numpy int64 (B,): objects per image
    ``targets`` numpy float32 (N, 6) (image in batch, class, x1, y1, x2, y2): all objects, flat
    ``index``   numpy int64 (B,): dataset indices (-1 when the sample does not say)
    ``info``    list of ``letterbox_info`` dicts (None for augmented samples)
    """
    import dlcore
    if not batch:
        raise ValueError("detection_collate: empty batch")
    images = [b[0].numpy() if isinstance(b[0], dlcore.Tensor) else np.asarray(b[0]) for b in batch]
    shapes = {tuple(np.shape(im)) for im in images}
    if len(shapes) > 1:
        raise ValueError(f"detection_collate: images in a batch must have equal shapes, got {sorted(shapes)}")
    img = np.stack(images).astype(np.float32, copy=False)
    labels = [np.asarray(b[1], dtype=np.float32).reshape(-1, 5) for b in batch]
    counts = np.array([len(lab) for lab in labels], dtype=np.int64)
    padded = np.zeros((len(batch), int(counts.max()), 5), dtype=np.float32)
    for k, lab in enumerate(labels):
        padded[k, :len(lab)] = lab
    targets = np.concatenate([np.concatenate([np.full((len(lab), 1), k, np.float32), lab], axis=1)
                              for k, lab in enumerate(labels)])
    return {"img": dlcore.from_numpy(np.ascontiguousarray(img)), "labels": padded, "counts": counts,
            "targets": targets, "index": np.array([getattr(b, "dataset_index", -1) for b in batch], dtype=np.int64),
            "info": [getattr(b, "info", None) for b in batch]}
