"""Data for the ``dlcore`` command: dataset specs (mnist, digits, idx:DIR, folder:DIR) loaded
as whole-split tensors, fitting images to a model's input size, batch preparation (random
affine augmentation, normalisation) and the per-epoch shuffle order.

Whole splits are held as tensors (N, C, H, W) float32 in [0, 1]: the packaged datasets are
small, batching is then one ``index_select`` per batch, and padding/resizing happens once.
"""
import os

import numpy as np

import dlcore

from .errors import CLIError

__all__ = ["Split", "load_splits", "fit_size", "channel_stats", "Preprocess", "random_affine", "EpochSampler",
           "DATASET_HELP"]

DATASET_HELP = "mnist, digits, idx:DIR or folder:DIR"


class Split:
    """One split: ``x`` (N, C, H, W) float32 in [0, 1] (not normalised) and ``y`` (N,) int64."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return self.y.shape[0]

    def head(self, n):
        """The first ``n`` samples (all when ``n`` is None)."""
        return self if n is None or n >= len(self) else Split(self.x[:n], self.y[:n])

    def fitted(self, side):
        return Split(fit_size(self.x, side), self.y)


def _as_split(ds):
    """A dataset as a Split: its tensors when it holds them, otherwise its samples stacked."""
    if callable(getattr(ds, "tensors", None)):
        return Split(*ds.tensors())
    xs, ys = [], []
    for i in range(len(ds)):
        img, label = ds[i]
        xs.append(img)
        ys.append(int(label))
    return Split(dlcore.stack(xs), dlcore.tensor(ys, dtype=dlcore.int64))


def _random_split(split, fractions, seed):
    """[rest, part_1, ...]: ``split`` shuffled with ``seed`` and cut into the given fractions,
    the remainder first."""
    n = len(split)
    perm = np.random.default_rng([seed, 0x5B17]).permutation(n)
    counts = [max(1, int(round(f * n))) for f in fractions]
    first = n - sum(counts)
    if first < 1:
        raise CLIError(f"the dataset has only {n} samples, too few to split off fractions {fractions}")
    parts, start = [], 0
    for c in [first] + counts:
        idx = dlcore.tensor(perm[start:start + c].tolist(), dtype=dlcore.int64)
        parts.append(Split(split.x.index_select(0, idx), split.y.index_select(0, idx)))
        start += c
    return parts


def _folder_transform(size):
    """ImageFolder images -> float (3, H, W), resized (bilinear) to the first image's size."""
    from dlcore.data.transforms import ToTensor
    to_tensor = ToTensor()

    def transform(img):
        t = to_tensor(img)
        if size[0] is None:
            size[0] = tuple(t.shape[-2:])
        if tuple(t.shape[-2:]) != size[0]:
            t = dlcore.interpolate(t.unsqueeze(0), size=list(size[0]), mode="bilinear",
                                   align_corners=False).squeeze(0)
        return t
    return transform


def _image_folder(root, size):
    from dlcore.data.datasets import ImageFolder
    try:
        return ImageFolder(root, transform=_folder_transform(size))
    except (FileNotFoundError, ImportError) as e:
        raise CLIError(str(e)) from None


def load_splits(spec, val_split=None, seed=0):
    """``spec`` -> {"train": Split, "val": Split, "test": Split or None, "classes": [names]}.

    mnist | digits: the packaged 6:2:2 splits. idx:DIR: the train-* files split into train/val
    (``val_split``, 0.1 by default), the t10k-* files as test when present. folder:DIR: the class
    folders of DIR/train, DIR/val and DIR/test when DIR/train exists (a missing val is split off
    train), else of DIR itself, split into train/val/test (``val_split`` each, 0.2 by default).
    """
    from dlcore.data import datasets as D
    kind, _, arg = spec.partition(":")
    kind = kind.lower()
    if kind in ("mnist", "digits"):
        if arg:
            raise CLIError(f"--dataset {spec!r}: {kind} takes no folder", 2)
        if val_split is not None:
            raise CLIError(f"--val-split applies to idx: and folder: datasets; {kind} has a fixed 6:2:2 split", 2)
        cls = D.MNIST if kind == "mnist" else D.Digits
        try:
            splits = {s: _as_split(cls(split=s)) for s in ("train", "val", "test")}
        except ImportError as e:
            raise CLIError(str(e)) from None
        splits["classes"] = [str(i) for i in range(10)]
        return splits
    if kind not in ("idx", "folder") or not arg:
        raise CLIError(f"--dataset must be {DATASET_HELP}, got {spec!r}", 2)
    if not os.path.isdir(arg):
        raise CLIError(f"dataset folder {arg!r} does not exist" if not os.path.exists(arg)
                       else f"dataset path {arg!r} is not a folder")
    if kind == "idx":
        try:
            train = _as_split(D.IDX(arg, train=True))
        except (FileNotFoundError, ValueError) as e:
            raise CLIError(str(e)) from None
        try:
            test = _as_split(D.IDX(arg, train=False))
        except FileNotFoundError:
            test = None
        tr, va = _random_split(train, [0.1 if val_split is None else val_split], seed)
        n_classes = 1 + max(int(s.y.max().item()) for s in (train, test) if s is not None)
        return {"train": tr, "val": va, "test": test, "classes": [str(i) for i in range(n_classes)]}
    size = [None]  # every image of the run is resized to the first one's size
    if os.path.isdir(os.path.join(arg, "train")):
        train = _image_folder(os.path.join(arg, "train"), size)
        out = {"test": None, "classes": train.classes}
        for name in ("val", "test"):
            sub = os.path.join(arg, name)
            if os.path.isdir(sub):
                ds = _image_folder(sub, size)
                if ds.classes != train.classes:
                    raise CLIError(f"{sub} has classes {ds.classes} but {os.path.join(arg, 'train')} has "
                                   f"{train.classes}")
                out[name] = _as_split(ds)
        if "val" in out:
            out["train"] = _as_split(train)
        else:
            out["train"], out["val"] = _random_split(_as_split(train), [0.1 if val_split is None else val_split],
                                                     seed)
        return out
    ds = _image_folder(arg, size)
    v = 0.2 if val_split is None else val_split
    tr, va, te = _random_split(_as_split(ds), [v, v], seed)
    return {"train": tr, "val": va, "test": te, "classes": ds.classes}


def fit_size(x, side):
    """Images (N, C, H, W) as side x side: zero-padded when at most 8 pixels larger and square
    (keeps thin strokes sharp: MNIST 28 -> 32), resized bilinearly otherwise."""
    H, W = x.shape[-2], x.shape[-1]
    if side is None or (H, W) == (side, side):
        return x
    if H == W and 0 < side - H <= 8:
        lo = (side - H) // 2
        return dlcore.pad(x, (lo, side - H - lo, lo, side - H - lo), value=0.0)
    return dlcore.interpolate(x, size=[side, side], mode="bilinear", align_corners=False)


def channel_stats(x):
    """Per-channel mean and std of images (N, C, H, W), as lists (std at least 1e-6)."""
    mean = x.mean(dim=[0, 2, 3]).tolist()
    std = [max(s, 1e-6) for s in x.std(dim=[0, 2, 3]).tolist()]
    return mean, std


class Preprocess:
    """Batch preparation: random augmentation (training only), normalisation, move to the device."""

    def __init__(self, mean, std, device="cpu"):
        c = len(mean)
        self.mean = dlcore.tensor(mean, dtype=dlcore.float32).reshape(1, c, 1, 1)
        self.std = dlcore.tensor(std, dtype=dlcore.float32).reshape(1, c, 1, 1)
        self.device = device

    def __call__(self, x, y, augment=None, rng=None):
        """``augment``: None or a dict of random_affine's keyword arguments (translate,
        degrees, scale), drawn from the numpy Generator ``rng``."""
        if augment:
            x = random_affine(x, rng, **augment)
        x = (x - self.mean) / self.std
        if self.device != "cpu":
            x, y = x.to(self.device), y.to(self.device)
        return x, y


def random_affine(x, rng, translate=0.0, degrees=0.0, scale=0.0):
    """Each image of the batch (N, C, H, W) rotated by an angle uniform in [-degrees, degrees]
    about its centre, scaled by a factor uniform in [1 - scale, 1 + scale] and shifted by
    (dy, dx) uniform in [-translate, translate] pixels, sampled bilinearly; outside is 0.

    The random draws and the source coordinates of every output pixel come from numpy (``rng``);
    the images are read with four ``gather``s and blended with the bilinear weights.
    """
    N, C, H, W = x.shape
    if not (translate or degrees or scale):
        return x
    angle = np.deg2rad(rng.uniform(-degrees, degrees, N))[:, None, None]
    factor = rng.uniform(1.0 - scale, 1.0 + scale, N)[:, None, None]
    shift = rng.uniform(-translate, translate, (N, 2))
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    ys, xs = np.meshgrid(np.arange(H) - cy, np.arange(W) - cx, indexing="ij")  # output pixel, from the centre
    u = xs[None] - shift[:, 1, None, None]
    v = ys[None] - shift[:, 0, None, None]
    cos, sin = np.cos(angle), np.sin(angle)
    src_x = (cos * u + sin * v) / factor + cx                                  # (N, H, W): where to read
    src_y = (-sin * u + cos * v) / factor + cy
    x0, y0 = np.floor(src_x), np.floor(src_y)
    fx, fy = src_x - x0, src_y - y0
    # (N, C, H*W + 1): the extra last element is the 0 read outside the image
    flat = dlcore.cat([x.reshape(N, C, H * W), dlcore.zeros(N, C, 1, dtype=x.dtype)], dim=2)
    out = None
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)),
                           (1, 1, fy * fx)):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
        index = np.where(inside, yy * W + xx, H * W).astype(np.int64).reshape(N, 1, H * W)
        index = dlcore.from_numpy(np.repeat(index, C, axis=1))
        w = dlcore.from_numpy(np.ascontiguousarray(weight.reshape(N, 1, H * W), dtype=np.float32))
        term = w * dlcore.gather(flat, 2, index)
        out = term if out is None else out + term
    return out.reshape(N, C, H, W)


class EpochSampler:
    """The shuffled order of one epoch, a function of (seed, epoch) only, from position
    ``start`` on (a resumed epoch skips the samples it has already seen)."""

    def __init__(self, n, seed):
        self.n, self.seed = n, seed
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch, start=0):
        self.epoch, self.start = epoch, start

    def __iter__(self):
        perm = np.random.default_rng([self.seed, self.epoch, 0x5EED]).permutation(self.n)
        return iter(perm[self.start:].tolist())

    def __len__(self):
        return max(self.n - self.start, 0)
