"""Semantic-segmentation data: a folder of images and class-index masks (2D PNG/JPEG or 3D
NIfTI), seeded train/val/test splits, joint image+mask augmentation on numpy batches, and
output helpers (palettes, colourised masks, palette PNGs, overlays, NIfTI label maps).

Only numpy and Pillow are needed; nibabel is imported when a NIfTI file is read or written.

Note [Segmentation folder layout]: ``load_segfolder(root)`` reads

    root/images/x.png | x.jpg | x.jpeg | ...    the images (one folder, not searched recursively)
    root/masks/x.png                            the mask of x: one class index a pixel
    root/classes.txt                            optional: one class name a line

or the same ``images/`` and ``masks/`` pair in ``root/train``, ``root/val`` and ``root/test``
(``train`` required, the others optional), which become ``SegFolder.splits``. An image pairs
with the mask of the same stem. Masks are single-channel lossless images (PNG mode L, P (the
palette indices are the classes, as in Pascal VOC) or I/I;16; also BMP/TIFF/GIF); an RGB mask is
accepted only when it is grey (R = G = B) and is otherwise refused: a colour-coded mask must be
converted to class indices first. JPEG masks are refused (compression changes the indices).
For 3D data both folders hold NIfTI volumes (``x.nii`` or ``x.nii.gz``), the mask under the
same name. Hidden files and files with other extensions are skipped. Every problem found raises
SegDataError (a ValueError) naming the file(s) and the sizes.

Note [Segmentation images]: 2D images are uint8 (N, C, H, W): C = 1 when every image is grey
(Pillow modes 1, L, LA, I;16), else C = 3 (RGB; grey images repeated, alpha dropped, palette
images expanded). 16-bit grey images are scaled by 255 / 65535. EXIF orientation is NOT applied:
a mask is aligned with the stored pixels of its image. With ``size=(H, W)`` images are resized
bilinearly and masks by nearest neighbour (Pillow), after the checks of the original sizes.
3D images are float32 (N, C, D, H, W) with the NIfTI intensities (scaling applied, usually C = 1;
a 4D NIfTI (X, Y, Z, C) gives C channels) since CT/MR values do not fit uint8; normalise them in
the trainer.

Note [Volume axes]: a NIfTI array is indexed (i, j, k) = (x, y, z). Volumes are returned as
(D, H, W) = (k, j, i), so an axial slice is an (H, W) = (j, i) image, and ``save_nifti`` writes
(D, H, W) back as (i, j, k): ``save_nifti(p, pred, folder.affines[n])`` lands on the input
volume's grid. Sizes in messages are D x H x W.

Note [Segmentation splits]: ``split_fractions(val_split)`` gives (train, val, test) fractions
for a dataset without split folders: None -> 6:2:2; a float v -> (1 - v) : v : 0, the project's
``--val-split`` convention (train/val only, as the CLI's 8:2 for ``--val-split 0.2``); a test
fraction of 0 means there is no separate test set and the test evaluation runs on val.
``random_split_indices`` cuts a seeded permutation: every part with a positive fraction gets
round(fraction * n) indices (at least 1), the first part the rest; a zero fraction gives an empty
part.

Note [Joint augmentation]: ``JointAugment`` applies, per sample of a batch, one geometric
transform to the image and its mask: an isotropic zoom by s ~ U(scale) (scaled side
round(side * s)), a random crop of ``crop_size`` out of the zoomed sample (or, where the zoomed
sample is smaller, a random placement of it in a canvas of that size, padded with 0 in the image
and ``ignore_index`` in the mask), then flips (hflip along W, vflip along H). Each output axis is
a 1D map from output to input coordinates (pixel centres: x_in = (x_out + 0.5) / s - 0.5, as
torch's ``interpolate(..., align_corners=False)``), so the zoom, the crop and the flip are one
resampling: images separable-linear (bilinear in 2D, trilinear in 3D; edge pixels replicated,
no antialiasing, which is fine for zooms near 1), masks nearest (``nearest-exact``), both over
all spatial axes. Random numbers come from the Generator passed as ``rng``, else from the
augmenter's own (seeded with ``seed``); a sample draws the same numbers whatever its transform,
so a given Generator state gives the same batch.
"""
import math
import os
import uuid

import numpy as np

__all__ = ["SegFolder", "SegDataError", "load_segfolder", "random_split_indices", "split_fractions",
           "JointAugment", "palette", "colorize", "save_mask_png", "save_overlay_png", "save_nifti", "read_nifti",
           "IMG_EXTENSIONS", "MASK_EXTENSIONS", "NIFTI_EXTENSIONS", "DEFAULT_FRACTIONS"]

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff", ".gif")
NIFTI_EXTENSIONS = (".nii.gz", ".nii")
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
_LOSSY = (".jpg", ".jpeg", ".webp")
_SPLITS = ("train", "val", "test")
_LIST = 5   # file names listed in an error message


class SegDataError(ValueError):
    """A malformed segmentation folder; the message names the file(s) and the sizes."""


def _pil():
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("segmentation data needs Pillow to read and write images (pip install pillow)") from e
    return Image


def _nibabel(action):
    try:
        import nibabel
    except ImportError as e:
        raise ImportError(f"{action} NIfTI needs nibabel: pip install nibabel") from e
    return nibabel


def _some(names):
    names = list(names)
    more = f" (and {len(names) - _LIST} more)" if len(names) > _LIST else ""
    return ", ".join(names[:_LIST]) + more


def _hw(shape):
    return "x".join(str(int(s)) for s in shape)


# ---- reading --------------------------------------------------------------------------------------
class SegFolder:
    """A segmentation dataset in memory (Note [Segmentation folder layout]).

    ``images``: uint8 (N, C, H, W) for 2D, float32 (N, C, D, H, W) for 3D (Note [Segmentation
    images]); ``masks``: int64 (N, H, W) / (N, D, H, W) class indices; ``classes``: tuple of
    names; ``names``: the file stems, in order; ``ndim``: 2 or 3; ``splits``: None, or
    {"train", "val", "test"} -> int64 index arrays when the folder has split subfolders (an absent
    ``val``/``test`` folder gives an empty array); ``affines``: the (4, 4) NIfTI affine of each
    volume (3D) or None; ``root``; ``split(name)`` -> (images, masks) of a split."""

    def __init__(self, images, masks, classes, names, ndim, splits=None, affines=None, root=None):
        self.images = images
        self.masks = masks
        self.classes = tuple(classes)
        self.names = list(names)
        self.ndim = int(ndim)
        self.splits = splits
        self.affines = affines
        self.root = root

    @property
    def num_classes(self):
        return len(self.classes)

    def __len__(self):
        return len(self.names)

    def split(self, name):
        """(images, masks) of split ``name`` ("train", "val" or "test"; copies)."""
        if self.splits is None:
            raise ValueError(f"SegFolder.split: {self.root} has no train/val/test subfolders; cut the samples "
                             f"with random_split_indices(len(folder), split_fractions(val_split))")
        if name not in self.splits:
            raise ValueError(f"SegFolder.split: name must be one of {sorted(self.splits)}, got {name!r}")
        idx = self.splits[name]
        return self.images[idx], self.masks[idx]

    def __repr__(self):
        sp = "" if self.splits is None else ", splits=" + "/".join(f"{len(v)}" for v in self.splits.values())
        return (f"SegFolder(root={self.root!r}, n={len(self)}, ndim={self.ndim}, images={self.images.shape}, "
                f"classes={len(self.classes)}{sp})")


def _stem(name, exts):
    low = name.lower()
    for e in exts:
        if low.endswith(e):
            return name[:-len(e)]
    return None


def _list_files(folder, exts):
    """{stem: file name} of the files in ``folder`` with one of ``exts``; SegDataError for two
    files with the same stem."""
    out = {}
    for name in sorted(os.listdir(folder)):
        if name.startswith(".") or not os.path.isfile(os.path.join(folder, name)):
            continue
        stem = _stem(name, exts)
        if stem is None:
            continue
        if stem in out:
            raise SegDataError(f"load_segfolder: {folder} has two files for {stem!r}: {out[stem]} and {name}")
        out[stem] = name
    return out


def _read_image(path):
    """uint8 (H, W) grey or (H, W, 3) RGB (Note [Segmentation images])."""
    Image = _pil()
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ("1", "L", "LA"):
                return np.asarray(im.convert("L"))
            if mode.startswith("I;16"):
                a = np.asarray(im).astype(np.float32)
                return np.clip(np.rint(a * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
            if mode in ("I", "F"):
                a = np.asarray(im)
                lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
                if lo < 0 or hi > 255 or (mode == "F" and not np.all(a == np.rint(a))):
                    raise SegDataError(f"load_segfolder: {path} is a {mode} (32-bit) image with values in "
                                       f"[{lo:g}, {hi:g}]; convert it to an 8-bit image (L or RGB)")
                return a.astype(np.uint8)
            return np.asarray(im.convert("RGB"))
    except SegDataError:
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise SegDataError(f"load_segfolder: cannot decode the image {path}: {e}") from e


def _read_mask(path):
    """int64 (H, W) class indices of a mask file."""
    Image = _pil()
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ("L", "P", "I", "1") or mode.startswith("I;16"):
                a = np.asarray(im)
            elif mode in ("LA", "PA"):
                a = np.asarray(im.getchannel(0))
            elif mode == "F":
                a = np.asarray(im)
                if not np.all(a == np.rint(a)):
                    raise SegDataError(f"load_segfolder: the mask {path} (mode F) holds non-integer values; "
                                       f"masks hold class indices")
            elif mode in ("RGB", "RGBA"):
                a = np.asarray(im)
                if not (np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2])):
                    raise SegDataError(
                        f"load_segfolder: the mask {path} is a colour ({mode}) image; masks must hold one class "
                        f"index a pixel: save them as single-channel index PNGs (mode L, or P with a palette), "
                        f"e.g. by mapping each colour to its class index")
                a = a[..., 0]
            else:
                raise SegDataError(f"load_segfolder: the mask {path} is a {mode} image; masks must be single-channel "
                                   f"class-index images (PNG mode L, P or I)")
    except SegDataError:
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise SegDataError(f"load_segfolder: cannot decode the mask {path}: {e}") from e
    return a.astype(np.int64)


def _read_volume(path, nib, is_mask):
    """A NIfTI file as (C, D, H, W) float32 (image) or (D, H, W) int64 (mask), and its affine."""
    try:
        img = nib.load(path)
        if is_mask:
            a = np.asanyarray(img.dataobj)
        else:
            a = img.get_fdata(dtype=np.float32)
    except Exception as e:  # nibabel raises several kinds (ImageFileError, OSError, EOFError...)
        raise SegDataError(f"load_segfolder: cannot read the NIfTI file {path}: {e}") from e
    if a.ndim == 4 and a.shape[3] == 1:
        a = a[..., 0]
    if is_mask:
        if a.ndim != 3:
            raise SegDataError(f"load_segfolder: the mask {path} has shape {a.shape}; a 3D label volume is expected")
        if a.dtype.kind == "f":
            if not np.all(a == np.rint(a)):
                raise SegDataError(f"load_segfolder: the mask {path} holds non-integer values; masks hold class "
                                   f"indices")
        elif a.dtype.kind not in "iub":
            raise SegDataError(f"load_segfolder: the mask {path} has data type {a.dtype}; integers expected")
        return np.ascontiguousarray(a.transpose(2, 1, 0)).astype(np.int64), np.asarray(img.affine)
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4:
        raise SegDataError(f"load_segfolder: the image {path} has shape {a.shape}; a 3D volume (X, Y, Z) or "
                           f"(X, Y, Z, C) is expected")
    return np.ascontiguousarray(a.transpose(3, 2, 1, 0), dtype=np.float32), np.asarray(img.affine)


def read_nifti(path):
    """One NIfTI image volume as float32 (C, D, H, W) (the file's (X, Y, Z[, C]) axes reversed, as
    ``load_segfolder`` reads them) and its affine."""
    return _read_volume(os.fspath(path), _nibabel("reading"), False)


def _pairs(base):
    """[(stem, image path, mask path)] of ``base/images`` and ``base/masks``, and the ndim."""
    idir, mdir = os.path.join(base, "images"), os.path.join(base, "masks")
    for d in (idir, mdir):
        if not os.path.isdir(d):
            raise SegDataError(f"load_segfolder: {base} has no {os.path.basename(d)}/ folder; expected "
                               f"images/ and masks/ (Note [Segmentation folder layout])")
    nii_img = _list_files(idir, NIFTI_EXTENSIONS)
    nii_msk = _list_files(mdir, NIFTI_EXTENSIONS)
    flat_img = _list_files(idir, IMG_EXTENSIONS)
    if nii_img and flat_img:
        raise SegDataError(f"load_segfolder: {idir} mixes NIfTI volumes ({_some(nii_img.values())}) and 2D images "
                           f"({_some(flat_img.values())})")
    if nii_img:
        ndim, images, masks = 3, nii_img, nii_msk
    else:
        ndim, images = 2, flat_img
        lossy = [n for n in os.listdir(mdir) if n.lower().endswith(_LOSSY) and not n.startswith(".")]
        if lossy:
            raise SegDataError(f"load_segfolder: {mdir} holds JPEG/WebP masks ({_some(sorted(lossy))}); lossy "
                               f"compression changes the class indices: save masks as PNG")
        masks = _list_files(mdir, MASK_EXTENSIONS)
    if not images:
        exts = ", ".join(IMG_EXTENSIONS + NIFTI_EXTENSIONS)
        raise SegDataError(f"load_segfolder: no images ({exts}) in {idir}")
    no_mask = [images[s] for s in images if s not in masks]
    no_image = [masks[s] for s in masks if s not in images]
    if no_mask or no_image:
        parts = []
        if no_mask:
            parts.append(f"{len(no_mask)} image(s) in {idir} have no mask in {mdir}: {_some(no_mask)}")
        if no_image:
            parts.append(f"{len(no_image)} mask(s) in {mdir} have no image in {idir}: {_some(no_image)}")
        raise SegDataError("load_segfolder: " + "; ".join(parts) + " (an image x.jpg or x.png pairs with the mask "
                           "x.png" + (", a volume with the mask of the same name)" if ndim == 3 else ")"))
    return [(s, os.path.join(idir, images[s]), os.path.join(mdir, masks[s])) for s in sorted(images)], ndim


def _read_classes(root):
    path = os.path.join(root, "classes.txt")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8-sig") as f:
        names = [line.strip() for line in f]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise SegDataError(f"load_segfolder: {path} lists no classes")
    if any(not n for n in names):
        raise SegDataError(f"load_segfolder: {path} has an empty line {names.index('') + 1}; one name a line")
    return tuple(names)


def _check_size(size):
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = (int(s) for s in size)
        ok = all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)
    except (TypeError, ValueError):
        ok = False
    if not ok or h < 1 or w < 1:
        raise ValueError(f"load_segfolder: size must be (H, W) positive integers, got {size!r}")
    return h, w


def _resize2d(img, mask, size):
    Image = _pil()
    h, w = size
    if img.shape[:2] == (h, w):
        return img, mask
    img = np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))
    mask = np.asarray(Image.fromarray(mask.astype(np.int32)).resize((w, h), Image.NEAREST)).astype(np.int64)
    return img, mask


def load_segfolder(root, num_classes=None, size=None, ignore_index=None):
    """Read a segmentation folder (Note [Segmentation folder layout]) into a SegFolder.

    ``num_classes``: the number of classes K (labels must be < K); default: the lines of
    ``root/classes.txt``, else max label + 1 (names "class0".."classK-1"). ``size=(H, W)`` (or
    an int, square; 2D only) resizes every sample (Note [Segmentation images]); without it all
    images must have one size. ``ignore_index``: a mask value allowed beside the classes (kept as
    is, e.g. Pascal VOC's 255 boundaries). Images: uint8 (N, C, H, W) (2D) or float32
    (N, C, D, H, W) (3D, Note [Volume axes]); masks int64. Errors: SegDataError (ValueError)
    naming the files and sizes; FileNotFoundError when ``root`` is not a folder."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"load_segfolder: {root!r} is not a folder")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                    or num_classes < 1):
        raise ValueError(f"load_segfolder: num_classes must be a positive integer, got {num_classes!r}")
    size = _check_size(size)
    has_flat = os.path.isdir(os.path.join(root, "images"))
    split_dirs = [s for s in _SPLITS if os.path.isdir(os.path.join(root, s))]
    if has_flat and split_dirs:
        raise SegDataError(f"load_segfolder: {root} has both images/ and split folders ({', '.join(split_dirs)}/); "
                           f"use one layout")
    if not has_flat and not split_dirs:
        raise SegDataError(f"load_segfolder: {root} is empty or not a segmentation folder: expected images/ and "
                           f"masks/, or train/ (val/, test/) folders holding them")
    if split_dirs and "train" not in split_dirs:
        raise SegDataError(f"load_segfolder: {root} has {', '.join(s + '/' for s in split_dirs)} but no train/")

    groups = [(s, _pairs(os.path.join(root, s))) for s in split_dirs] if split_dirs else [(None, _pairs(root))]
    ndims = {g[1][1] for g in groups}
    if len(ndims) > 1:
        raise SegDataError(f"load_segfolder: {root} mixes 2D images and NIfTI volumes across its split folders")
    ndim = ndims.pop()
    if ndim == 3 and size is not None:
        raise ValueError("load_segfolder: size= resizes 2D images only; resample volumes to one shape beforehand")

    nib = _nibabel("reading") if ndim == 3 else None
    images, masks, names, affines, paths = [], [], [], [], []
    counts = []
    for _, (pairs, _) in groups:
        counts.append(len(pairs))
        for stem, ipath, mpath in pairs:
            if ndim == 2:
                img, msk = _read_image(ipath), _read_mask(mpath)
                ishape, mshape = img.shape[:2], msk.shape
            else:
                (img, aff), (msk, _) = _read_volume(ipath, nib, False), _read_volume(mpath, nib, True)
                ishape, mshape = img.shape[1:], msk.shape
                affines.append(aff)
            if ishape != mshape:
                raise SegDataError(f"load_segfolder: the mask {mpath} is {_hw(mshape)} but its image {ipath} is "
                                   f"{_hw(ishape)} ({'D x H x W' if ndim == 3 else 'H x W'})")
            images.append(img)
            masks.append(msk)
            names.append(stem)
            paths.append((ipath, mpath))

    # one size
    if size is None:
        ref = images[0].shape[1:] if ndim == 3 else images[0].shape[:2]
        for (ipath, _), img in zip(paths, images):
            shape = img.shape[1:] if ndim == 3 else img.shape[:2]
            if shape != ref:
                hint = ("pass size=(H, W) to resize them all" if ndim == 2
                        else "resample the volumes to one shape beforehand")
                raise SegDataError(f"load_segfolder: images differ in size: {paths[0][0]} is {_hw(ref)} but {ipath} "
                                   f"is {_hw(shape)} ({'D x H x W' if ndim == 3 else 'H x W'}); {hint}")

    # labels
    classes = _read_classes(root)
    if classes is not None and num_classes is not None and len(classes) != num_classes:
        raise SegDataError(f"load_segfolder: {os.path.join(root, 'classes.txt')} lists {len(classes)} classes but "
                           f"num_classes={num_classes}")
    K = num_classes if num_classes is not None else (len(classes) if classes is not None else None)
    what = (f"num_classes={K}" if num_classes is not None
            else f"{os.path.join(root, 'classes.txt')} lists {K} classes" if K is not None else None)
    top = -1
    for (_, mpath), m in zip(paths, masks):
        valid = m if ignore_index is None else m[m != ignore_index]
        if valid.size == 0:
            continue
        lo, hi = int(valid.min()), int(valid.max())
        if lo < 0:
            raise SegDataError(f"load_segfolder: the mask {mpath} holds the negative label {lo}")
        if K is not None and hi >= K:
            hint = f" (or pass ignore_index={hi} if it marks pixels to ignore)" if hi == 255 else ""
            raise SegDataError(f"load_segfolder: the mask {mpath} holds label {hi} but {what}: labels must be "
                               f"0..{K - 1}{hint}")
        top = max(top, hi)
    if K is None:
        K = top + 1 if top >= 0 else 1
        if K == 256 and ignore_index is None and all(np.all((m == 0) | (m == 255)) for m in masks):
            raise SegDataError(f"load_segfolder: the masks of {root} hold only 0 and 255, which would make 256 "
                               f"classes: save binary masks as 0/1, pass num_classes, or pass ignore_index=255 if "
                               f"255 marks pixels to ignore")
    if classes is None:
        classes = tuple(f"class{i}" for i in range(K))

    if size is not None:
        for i in range(len(images)):
            images[i], masks[i] = _resize2d(images[i], masks[i], size)

    if ndim == 2:
        channels = 3 if any(img.ndim == 3 for img in images) else 1
        H, W = images[0].shape[:2]
        out = np.empty((len(images), channels, H, W), dtype=np.uint8)
        for i, img in enumerate(images):
            out[i] = img.transpose(2, 0, 1) if img.ndim == 3 else img[None]
    else:
        chans = {img.shape[0] for img in images}
        if len(chans) > 1:
            raise SegDataError(f"load_segfolder: the volumes of {root} have different channel counts {sorted(chans)}")
        out = np.stack(images)
    mask_arr = np.stack(masks).astype(np.int64, copy=False)

    splits = None
    if split_dirs:
        splits, start = {}, 0
        by_name = dict(zip(split_dirs, counts))
        for s in _SPLITS:
            c = by_name.get(s, 0)
            splits[s] = np.arange(start, start + c, dtype=np.int64)
            start += c
    return SegFolder(out, mask_arr, classes, names, ndim, splits, affines if ndim == 3 else None, root)


# ---- splits ---------------------------------------------------------------------------------------
def split_fractions(val_split=None):
    """(train, val, test) fractions (Note [Segmentation splits]): None -> (0.6, 0.2, 0.2); a
    float v in (0, 1) -> (1 - v, v, 0.0), no separate test split (evaluate the test on val)."""
    if val_split is None:
        return DEFAULT_FRACTIONS
    if isinstance(val_split, bool) or not isinstance(val_split, (int, float, np.integer, np.floating)) \
            or not 0.0 < float(val_split) < 1.0:
        raise ValueError(f"split_fractions: val_split must be a fraction in (0, 1), got {val_split!r}")
    v = float(val_split)
    return (1.0 - v, v, 0.0)


def random_split_indices(n, fractions=DEFAULT_FRACTIONS, seed=0):
    """Indices 0..n-1 shuffled with ``seed`` and cut into ``len(fractions)`` parts (sorted int64
    arrays): a part with a positive fraction f gets max(1, round(f * n)) indices, the first part
    the rest, a zero fraction none (Note [Segmentation splits]). ValueError when n is too small
    for every positive part to get a sample."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"random_split_indices: n must be a non-negative integer, got {n!r}")
    fr = [float(f) for f in fractions]
    if not fr or any(not math.isfinite(f) or f < 0 for f in fr) or not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
        raise ValueError(f"random_split_indices: fractions must be non-negative and sum to 1, got {tuple(fractions)}")
    if fr[0] <= 0:
        raise ValueError(f"random_split_indices: the first (train) fraction must be positive, got {tuple(fractions)}")
    counts = [0 if f == 0 else max(1, int(round(f * n))) for f in fr[1:]]
    first = n - sum(counts)
    if first < 1:
        need = sum(1 for f in fr if f > 0)
        raise ValueError(f"random_split_indices: {n} sample(s) are too few to split by fractions {tuple(fractions)}: "
                         f"each of the {need} non-empty parts needs at least one (parts of {[first] + counts})")
    perm = np.random.default_rng(seed).permutation(n)
    out, start = [], 0
    for c in [first] + counts:
        out.append(np.sort(perm[start:start + c]).astype(np.int64))
        start += c
    return out


# ---- augmentation ---------------------------------------------------------------------------------
class _AxisMap:
    """One output axis of a JointAugment transform: output index j -> input coordinates."""
    __slots__ = ("i0", "i1", "w", "near", "invalid", "identity", "integral")

    def __init__(self, size, scaled, out, offset, flip):
        q = np.arange(out, dtype=np.float64) + offset
        if flip:
            q = q[::-1]
        self.identity = scaled == size and out == size and offset == 0 and not flip
        r = size / scaled
        src = np.clip((q + 0.5) * r - 0.5, 0.0, size - 1)
        i0 = np.floor(src).astype(np.intp)
        self.i0 = i0
        self.i1 = np.minimum(i0 + 1, size - 1)
        self.w = (src - i0).astype(np.float32)
        self.integral = not self.w.any()
        self.near = np.clip(np.floor((q + 0.5) * r), 0, size - 1).astype(np.intp)
        inv = (q < 0) | (q >= scaled)
        self.invalid = inv if inv.any() else None


def _along(ndim, axis, v):
    """``v`` (1D) shaped to broadcast along ``axis`` of an ndim array."""
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


def _resample_image(x, maps, work):
    """x (C, *S) -> (C, *out): separable linear resampling with zero padding (the input's dtype
    while every axis is a plain gather, else ``work``)."""
    y = x
    for a, m in enumerate(maps):
        ax = a + 1
        if m.identity:
            continue
        if m.integral:   # a crop/flip/integer zoom: a gather, in the input's dtype
            y = np.take(y, m.i0, axis=ax)
        else:
            y0 = np.take(y, m.i0, axis=ax)
            y1 = np.take(y, m.i1, axis=ax)
            if y0.dtype != work:
                y0 = y0.astype(work)
                y1 = y1.astype(work)
            y1 -= y0
            y1 *= _along(y0.ndim, ax, m.w.astype(work, copy=False))
            y0 += y1
            y = y0
        if m.invalid is not None:
            idx = [slice(None)] * y.ndim
            idx[ax] = m.invalid
            y[tuple(idx)] = 0
    return y


def _resample_mask(m, maps, fill):
    """m (*S) -> (*out): nearest with ``fill`` padding."""
    if all(mp.identity for mp in maps):
        return m
    nd = len(maps)
    y = m[np.ix_(*[mp.near for mp in maps])]
    for a, mp in enumerate(maps):
        if mp.invalid is not None:
            idx = [slice(None)] * nd
            idx[a] = mp.invalid
            y[tuple(idx)] = fill
    return y


class JointAugment:
    """Random zoom, crop and flips applied alike to a batch of images and masks (Note [Joint
    augmentation]).

    ``crop_size``: the output spatial size (an int for every axis, or a tuple per axis; None:
    the input size); ``scale``: (lo, hi) of the zoom factor; ``hflip``/``vflip``: probabilities
    of flipping along W / H; ``seed``: of the augmenter's own Generator; ``ignore_index``: the
    mask value of padded pixels (images are padded with 0).

    ``aug(images, masks, rng=None)``: images (B, C, *S) (uint8 or float; 2D S = (H, W), 3D
    S = (D, H, W)) and masks (B, *S) integers -> new (images, masks) of the same dtypes with
    spatial size ``crop_size`` (uint8 results rounded). ``rng``: a numpy Generator (or a seed) to
    draw from instead of the augmenter's own."""

    def __init__(self, crop_size=None, scale=(0.75, 1.25), hflip=0.5, vflip=0.0, seed=0, ignore_index=255):
        if crop_size is not None:
            sizes = (crop_size,) if isinstance(crop_size, (int, np.integer)) else tuple(crop_size)
            if not sizes or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
                raise ValueError(f"JointAugment: crop_size must be a positive int or a tuple of them, "
                                 f"got {crop_size!r}")
            crop_size = crop_size if isinstance(crop_size, (int, np.integer)) else tuple(int(s) for s in sizes)
        try:
            lo, hi = (float(s) for s in scale)
        except (TypeError, ValueError):
            raise ValueError(f"JointAugment: scale must be (lo, hi), got {scale!r}") from None
        if not (0 < lo <= hi) or not math.isfinite(hi):
            raise ValueError(f"JointAugment: scale must be (lo, hi) with 0 < lo <= hi, got {scale!r}")
        for name, p in (("hflip", hflip), ("vflip", vflip)):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"JointAugment: {name} must be a probability in [0, 1], got {p!r}")
        self.crop_size = crop_size
        self.scale = (lo, hi)
        self.hflip = float(hflip)
        self.vflip = float(vflip)
        self.ignore_index = ignore_index
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __repr__(self):
        return (f"JointAugment(crop_size={self.crop_size!r}, scale={self.scale}, hflip={self.hflip}, "
                f"vflip={self.vflip}, ignore_index={self.ignore_index})")

    def _out_size(self, spatial):
        if self.crop_size is None:
            return tuple(spatial)
        if isinstance(self.crop_size, (int, np.integer)):
            return (int(self.crop_size),) * len(spatial)
        if len(self.crop_size) != len(spatial):
            raise ValueError(f"JointAugment: crop_size {self.crop_size} has {len(self.crop_size)} sides but the "
                             f"samples have {len(spatial)} spatial axes {tuple(spatial)}")
        return self.crop_size

    def _maps(self, rng, spatial, out):
        """The per-axis maps of one sample; always draws 3 + len(spatial) numbers."""
        s = rng.uniform(self.scale[0], self.scale[1])
        u = rng.random(len(spatial) + 2)
        nd = len(spatial)
        flips = [False] * nd
        flips[-1] = u[nd] < self.hflip
        flips[-2] = u[nd + 1] < self.vflip
        maps = []
        for a in range(nd):
            size, o = spatial[a], out[a]
            scaled = max(1, int(round(size * s)))
            span = abs(scaled - o)
            k = min(int(u[a] * (span + 1)), span)
            offset = k if scaled >= o else -k   # negative: the zoomed sample is placed k pixels in
            maps.append(_AxisMap(size, scaled, o, offset, flips[a]))
        return maps

    def __call__(self, images, masks, rng=None):
        images, masks = np.asarray(images), np.asarray(masks)
        if images.ndim not in (4, 5):
            raise ValueError(f"JointAugment: images must be a batch (B, C, H, W) or (B, C, D, H, W), got shape "
                             f"{images.shape}")
        if masks.shape != images.shape[:1] + images.shape[2:]:
            raise ValueError(f"JointAugment: masks must be (B, *spatial) = {images.shape[:1] + images.shape[2:]} for "
                             f"images {images.shape}, got {masks.shape}")
        if masks.dtype.kind not in "iu":
            raise ValueError(f"JointAugment: masks must hold integer class indices, got {masks.dtype}")
        if rng is None:
            rng = self._rng
        elif not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(rng)
        spatial = images.shape[2:]
        out = self._out_size(spatial)
        B, C = images.shape[:2]
        kind = images.dtype.kind
        work = np.float64 if images.dtype == np.float64 else np.float32
        out_img = np.empty((B, C) + tuple(out), dtype=images.dtype)
        out_msk = np.empty((B,) + tuple(out), dtype=masks.dtype)
        fill = self.ignore_index
        for b in range(B):
            maps = self._maps(rng, spatial, out)
            y = _resample_image(images[b], maps, work)
            if kind in "iu" and y.dtype != images.dtype:
                info = np.iinfo(images.dtype)
                np.rint(y, out=y)
                np.clip(y, info.min, info.max, out=y)
            out_img[b] = y
            out_msk[b] = _resample_mask(masks[b], maps, fill)
        return out_img, out_msk


# ---- output ---------------------------------------------------------------------------------------
def palette(num_classes):
    """uint8 (K, 3) colours: class 0 black, then hues stepped by the golden ratio (well separated
    for the first classes) with saturation/value cycling every 6 classes; deterministic, all
    distinct for K <= 256."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"palette: num_classes must be a positive integer, got {num_classes!r}")
    K = int(num_classes)
    i = np.arange(1, K, dtype=np.float64) - 1
    h = (i * 0.6180339887498949) % 1.0
    level = (i // 6).astype(np.int64) % 4
    s = np.array([0.85, 0.55, 1.0, 0.7])[level]
    v = np.array([1.0, 0.9, 0.7, 0.55])[level]
    h6 = h * 6.0
    k = np.floor(h6).astype(np.int64) % 6
    f = h6 - np.floor(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.stack(c, axis=-1) for c in
                      ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])  # (6, K-1, 3)
    rgb = table[k, np.arange(K - 1)]
    out = np.zeros((K, 3), dtype=np.uint8)
    out[1:] = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    return out


def _check_labels(fn, mask, pal, what=None):
    mask = np.asarray(mask)
    if mask.dtype.kind == "b":
        mask = mask.astype(np.int64)
    if mask.dtype.kind == "f":
        if not np.all(mask == np.rint(mask)):
            raise ValueError(f"{fn}: mask must hold integer class indices, got non-integer {mask.dtype} values")
        mask = mask.astype(np.int64)
    if mask.dtype.kind not in "iu":
        raise ValueError(f"{fn}: mask must hold integer class indices, got {mask.dtype}")
    if mask.size:
        lo, hi = int(mask.min()), int(mask.max())
        if lo < 0 or hi >= len(pal):
            bad = lo if lo < 0 else hi
            what = what or f"the palette has {len(pal)} colours"
            raise ValueError(f"{fn}: mask holds value {bad} but {what} (0..{len(pal) - 1})")
    return mask


def _palette_arg(fn, pal, mask):
    if pal is None:
        return palette(int(np.max(mask)) + 1 if np.size(mask) and np.max(mask) > 0 else 1)
    pal = np.asarray(pal)
    if pal.ndim != 2 or pal.shape[1] != 3 or len(pal) < 1:
        raise ValueError(f"{fn}: palette must be (K, 3) colours, got shape {pal.shape}")
    if pal.dtype != np.uint8:
        if pal.size and (pal.min() < 0 or pal.max() > 255):
            raise ValueError(f"{fn}: palette colours must be in 0..255")
        pal = pal.astype(np.uint8)
    return pal


def colorize(mask, palette):
    """Class indices ``mask`` (H, W) (any shape) -> uint8 (H, W, 3) colours ``palette[mask]``;
    ValueError for a value outside the palette."""
    pal = _palette_arg("colorize", palette, mask)
    return pal[_check_labels("colorize", mask, pal)]


def _atomic_write(path, write, ext=None):
    """Call ``write(tmp_path)`` then rename tmp_path to ``path`` (same folder, so atomic)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:12]}.tmp{ext or ''}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return path


def _save_pil(path, im):
    def write(tmp):
        with open(tmp, "xb") as f:
            im.save(f, format="PNG")
    return _atomic_write(path, write)


def save_mask_png(path, mask, palette=None):
    """Write class indices ``mask`` (H, W) as a palette-mode ("P") PNG: the pixel values are the
    indices (reading it back with Pillow gives them) and the palette shows them in ``palette``'s
    colours (default: ``palette(max + 1)``); at most 256 classes. Atomic; returns ``path``."""
    Image = _pil()
    pal = _palette_arg("save_mask_png", palette, mask)
    m = _check_labels("save_mask_png", mask, pal)
    if m.ndim != 2:
        raise ValueError(f"save_mask_png: mask must be (H, W), got shape {m.shape}")
    if len(pal) > 256:
        raise ValueError(f"save_mask_png: a palette PNG holds at most 256 colours, the palette has {len(pal)}")
    im = Image.fromarray(np.ascontiguousarray(m, dtype=np.uint8))
    im.putpalette(pal.reshape(-1).tolist())
    return _save_pil(path, im)


def save_overlay_png(path, image, mask, palette=None, alpha=0.5, background=0):
    """Write an RGB PNG of ``image`` (C, H, W) or (H, W), grey or RGB, float in [0, 1] (clipped)
    or uint8, with the classes of ``mask`` (H, W) blended in: ``(1 - alpha) * image + alpha *
    colour``, the image unchanged where the class is ``background`` (None: every class is
    coloured, for label sets without a background class). Atomic."""
    Image = _pil()
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[None]
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"save_overlay_png: image must be (C, H, W) with C = 1 or 3, or (H, W), got shape "
                         f"{np.shape(image)}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"save_overlay_png: alpha must be in [0, 1], got {alpha!r}")
    pal = _palette_arg("save_overlay_png", palette, mask)
    m = _check_labels("save_overlay_png", mask, pal)
    if m.shape != img.shape[1:]:
        raise ValueError(f"save_overlay_png: mask is {_hw(m.shape)} but image is {_hw(img.shape[1:])} (H x W)")
    if img.dtype == np.uint8:
        rgb = img.astype(np.float32)
    else:
        rgb = np.clip(img.astype(np.float32), 0.0, 1.0) * 255.0
    if rgb.shape[0] == 1:
        rgb = np.repeat(rgb, 3, axis=0)
    rgb = rgb.transpose(1, 2, 0)
    colours = pal[m].astype(np.float32)
    fg = (np.ones(m.shape, bool) if background is None else m != background)[..., None]
    out = np.where(fg, (1.0 - alpha) * rgb + alpha * colours, rgb)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return _save_pil(path, Image.fromarray(out))


def save_nifti(path, mask, affine=None):
    """Write a label volume ``mask`` (D, H, W) (Note [Volume axes]) as a uint8 NIfTI file
    (``.nii`` or ``.nii.gz``) with ``affine`` (4, 4) (default identity), e.g. the input's
    ``SegFolder.affines[i]``. Needs nibabel. Atomic; returns ``path``."""
    path = os.fspath(path)
    ext = next((e for e in NIFTI_EXTENSIONS if path.lower().endswith(e)), None)
    if ext is None:
        raise ValueError(f"save_nifti: path must end with .nii or .nii.gz, got {path!r}")
    m = np.asarray(mask)
    if m.ndim != 3:
        raise ValueError(f"save_nifti: mask must be a (D, H, W) volume, got shape {m.shape}")
    m = _check_labels("save_nifti", m, np.zeros((256, 3), np.uint8), "uint8 labels are")
    aff = np.eye(4) if affine is None else np.asarray(affine, dtype=np.float64)
    if aff.shape != (4, 4):
        raise ValueError(f"save_nifti: affine must be (4, 4), got shape {aff.shape}")
    nib = _nibabel("writing")
    img = nib.Nifti1Image(np.ascontiguousarray(m.transpose(2, 1, 0), dtype=np.uint8), aff)
    img.header.set_data_dtype(np.uint8)
    return _atomic_write(path, lambda tmp: nib.save(img, tmp), ext)
