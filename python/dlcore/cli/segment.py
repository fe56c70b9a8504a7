"""Semantic-segmentation training behind ``dlcore train unet|vnet|letnet``, evaluation of its
checkpoints and ``dlcore segment``, usable from Python:

    from dlcore.cli.segment import SegConfig, train_segmenter
    result = train_segmenter(SegConfig(model="unet", epochs=3, out="runs/unet-try"))
    result["test"]["miou"]

Data: the generated ``shapes2d``, ``spheres3d`` and ``streets`` sets
(dlcore.data.datasets.segsynth) or ``segfolder:DIR`` (images/ + masks/, PNG or NIfTI;
dlcore.data.segmentation), held in memory as whole arrays. Every epoch the model is evaluated on
the validation split (mIoU, mean Dice and pixel accuracy from one confusion matrix, see
dlcore.metrics), a row joins the history, ``last`` and (when the val mIoU improved) ``best``
checkpoints are written with ``metrics.json`` and ``curves.png``; at the end the best checkpoint
is evaluated on the test split, per class.

Note [Segmentation recipes]: one row per model (SEG_RECIPES), sized for 2 CPU cores. U-Net and
V-Net are the padded, BatchNorm forms at a reduced width (``base_channels``, ``depth``) trained on
Dice + cross-entropy (MONAI's habit): U-Net with AdamW (lr 1e-3, weight decay 1e-4) and a cosine
decay per step, V-Net with Adam and poly decay. LETNet is the full network trained as its paper:
Adam, weight decay 1e-4, a linear warm-up then poly decay (power 0.9) per step, OHEM
cross-entropy (without it the rare thin classes, signs and poles, are not learned in a short
run). Training batches are augmented by a random scale, crop and flip applied to image and mask
together (dlcore.data.segmentation.JointAugment); pixels the crop pads carry the ignore label
255, which no loss or metric counts.

Note [Segmentation input]: 2D images are scaled to [0, 1] and normalised per channel by the
training split's mean and standard deviation (stored in the checkpoint); volumes are normalised
per volume to zero mean and unit variance (MONAI's NormalizeIntensity), so NIfTI intensities of
any scale work. Sides must be multiples of the model's down-sampling factor (2**depth for U-Net
and V-Net, 16 for LETNet); ``dlcore segment`` pads an image or volume up to one and crops the
prediction back.

Exact resume follows Note [Exact resume] of cli/train.py: the order of epoch e is drawn from
(seed, e) and the augmentation of step s from (seed, e, s), so a resumed run repeats the
uninterrupted one.
"""
import dataclasses
import math
import os
import time
from typing import Optional

import numpy as np

import dlcore

from .epochs import EpochRun
from .errors import CLIError, one_line
from .train import (BEST, LAST, _check_seed, _default_out, _write_json, checkpoint_format, options_with_defaults,
                    read_checkpoint, read_run_checkpoint, stderr_log)

__all__ = ["SegConfig", "train_segmenter", "evaluate_segmenter_checkpoint", "segment_files", "is_segmenter",
           "is_segmenter_checkpoint", "SEG_RECIPES", "SEG_CHECKPOINT_FORMAT", "load_segmentation_data",
           "segmentation_scores", "SEG_LOSSES", "SEG_SCHEDULERS"]

SEG_CHECKPOINT_FORMAT = "dlcore.segment/1"
IGNORE = 255
SEG_LOSSES = ("dice_ce", "ce", "dice", "ohem")
SEG_SCHEDULERS = ("poly", "cosine", "none")
_MODELS = ("unet", "vnet", "letnet")
_SYNTHETIC = ("shapes2d", "spheres3d", "streets")

# Note [Segmentation recipes]
SEG_RECIPES = {
    "default": dict(optimizer="adam", lr=1e-3, momentum=0.9, weight_decay=0.0, scheduler="poly", warmup_epochs=0.0,
                    loss="dice_ce", scale=0.25, hflip=0.5, input_size=None, base_channels=None, depth=None,
                    num_images=None, epochs=10, batch_size=8),
    "unet": dict(dataset="shapes2d", epochs=24, batch_size=16, lr=1e-3, optimizer="adamw", weight_decay=1e-4,
                 scheduler="cosine", scale=0.1, base_channels=16, depth=3, num_images=2000),
    "vnet": dict(dataset="spheres3d", epochs=12, batch_size=2, lr=1e-3, base_channels=8, depth=3, num_images=200,
                 scale=0.0),
    "letnet": dict(dataset="streets", epochs=5, batch_size=8, lr=2e-3, weight_decay=1e-4, warmup_epochs=0.5,
                   loss="ohem", num_images=1500, scale=0.25),
}


def is_segmenter(name):
    return name.lower() in _MODELS


@dataclasses.dataclass
class SegConfig:
    """Options of one segmentation run; None means "from the recipe" (SEG_RECIPES)."""
    model: str = "unet"
    dataset: Optional[str] = None      # shapes2d | spheres3d | streets | segfolder:DIR
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    optimizer: Optional[str] = None    # adam | adamw | sgd | rmsprop
    momentum: Optional[float] = None
    weight_decay: Optional[float] = None
    scheduler: Optional[str] = None    # poly | cosine | none (per step, after the warm-up)
    warmup_epochs: Optional[float] = None
    loss: Optional[str] = None         # dice_ce | ce | dice | ohem
    input_size: Optional[int] = None   # square training crop side (default: the data's own size)
    scale: Optional[float] = None      # augmentation: random scale in [1 - scale, 1 + scale]
    hflip: Optional[float] = None      # augmentation: probability of a horizontal flip
    base_channels: Optional[int] = None  # U-Net / V-Net width
    depth: Optional[int] = None          # U-Net / V-Net levels
    num_images: Optional[int] = None   # generated datasets: images (volumes) generated
    val_split: Optional[float] = None  # 8:2-style split: this fraction for val, no separate test split
    limit_train: Optional[int] = None
    limit_val: Optional[int] = None
    limit_test: Optional[int] = None
    out: Optional[str] = None
    resume: Optional[str] = None
    seed: int = 0
    early_stopping: Optional[int] = None
    prefetch: int = 2
    device: str = "cpu"
    progress: Optional[bool] = None

    def resolved(self):
        values = options_with_defaults(self, {**SEG_RECIPES["default"], **SEG_RECIPES.get(self.model.lower(), {})})
        values["model"] = values["model"].lower()
        return SegConfig(**values)


_RUN_KEYS = ("model", "dataset", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "scheduler",
             "warmup_epochs", "loss", "input_size", "scale", "hflip", "base_channels", "depth", "num_images",
             "val_split", "limit_train", "limit_val", "limit_test", "seed", "early_stopping")
_RESUME_OVERRIDES = ("epochs", "early_stopping", "out", "prefetch", "device", "progress")


def _check(c):
    for name in ("epochs", "batch_size"):
        v = getattr(c, name)
        if not isinstance(v, int) or v < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}", 2)
    if not c.lr > 0:
        raise CLIError(f"--lr must be > 0, got {c.lr}", 2)
    if c.optimizer not in ("adam", "adamw", "sgd", "rmsprop"):
        raise CLIError(f"--optimizer must be adam, adamw, sgd or rmsprop, got {c.optimizer!r}", 2)
    if c.scheduler not in SEG_SCHEDULERS:
        raise CLIError(f"--scheduler for a segmentation model must be one of {', '.join(SEG_SCHEDULERS)}, "
                       f"got {c.scheduler!r}", 2)
    if c.loss not in SEG_LOSSES:
        raise CLIError(f"--loss must be one of {', '.join(SEG_LOSSES)}, got {c.loss!r}", 2)
    if not 0 <= c.scale < 1 or not 0 <= c.hflip <= 1 or c.warmup_epochs < 0:
        raise CLIError(f"--scale must be in [0, 1), --hflip in [0, 1] and --warmup-epochs >= 0, got {c.scale}, "
                       f"{c.hflip} and {c.warmup_epochs}", 2)
    if c.val_split is not None and not 0 < c.val_split < 1:
        raise CLIError(f"--val-split must be in (0, 1), got {c.val_split}", 2)
    if c.model != "letnet" and (c.base_channels is None or c.depth is None):
        raise CLIError(f"{c.model} needs --base-channels and --depth", 2)
    if c.model == "letnet" and (c.base_channels is not None or c.depth is not None):
        raise CLIError("--base-channels and --depth apply to unet and vnet; letnet has the paper's widths", 2)
    _check_seed(c.seed)


# ---- data ---------------------------------------------------------------------------------------

class SegData:
    """A dataset in memory: ``images`` (N, C, *S) (uint8 or float32), ``masks`` (N, *S) integer
    class maps, ``classes`` and per split the indices (``parts``)."""

    def __init__(self, images, masks, classes, parts, names=None):
        self.images, self.masks, self.classes, self.parts = images, masks, tuple(classes), parts
        self.names = names

    @property
    def ndim(self):
        return self.masks.ndim - 1

    def split(self, name, limit=None):
        idx = np.asarray(self.parts[name])
        if limit:
            idx = idx[:limit]
        return self.images[idx], self.masks[idx]


def _ordered_parts(n, val_split):
    """Generated sets: the first 60 % train, then 20 % val and 20 % test (or (0.8 - v) : v : 0.2)."""
    fr = (0.6, 0.2) if val_split is None else (0.8 - val_split, val_split)
    if fr[0] <= 0:
        raise CLIError(f"--val-split for a generated dataset must be in (0, 0.8) (the test split is 0.2), "
                       f"got {val_split}", 2)
    n_train, n_val = int(n * fr[0]), int(n * fr[1])
    if min(n_train, n_val, n - n_train - n_val) < 1:
        raise CLIError(f"{n} images are too few for train/val/test splits; generate more with --num-images", 2)
    return {"train": np.arange(n_train), "val": np.arange(n_train, n_train + n_val),
            "test": np.arange(n_train + n_val, n)}


def load_segmentation_data(spec, num_images=None, val_split=None, seed=0):
    """A SegData for a dataset spec: a generated set (made once and cached, split 6:2:2 in order) or
    ``segfolder:DIR`` (its train/val/test folders when it has them, else a seeded 6:2:2 split, or
    8:2 train/val with ``val_split=0.2``, the val split then also serving as test)."""
    if spec in _SYNTHETIC:
        from dlcore.data.datasets.segsynth import SEGMENTATION_DATASETS
        try:  # each generator takes its count (images or volumes) first
            ds = SEGMENTATION_DATASETS[spec](*(() if num_images is None else (num_images,)))
        except ValueError as e:
            raise CLIError(one_line(e), 2) from None
        return SegData(ds.images, ds.masks, ds.classes, _ordered_parts(len(ds.masks), val_split))
    if spec.startswith("segfolder:"):
        from dlcore.data.segmentation import load_segfolder, random_split_indices, split_fractions
        root = spec[len("segfolder:"):]
        if not root:
            raise CLIError("--dataset segfolder: needs a folder, e.g. segfolder:data/lungs", 2)
        if not os.path.isdir(root):
            raise CLIError(f"--dataset {spec}: {root!r} is not a folder")
        try:
            f = load_segfolder(root)
        except (ValueError, ImportError, OSError) as e:
            raise CLIError(one_line(e)) from None
        if f.splits is not None:
            parts = {k: np.asarray(v) for k, v in f.splits.items() if v is not None and len(v)}
            if "val" not in parts:  # train/ only: hold out val_split (default 0.2) of it
                train = parts["train"]
                try:
                    cut = random_split_indices(len(train), (1 - (val_split or 0.2), val_split or 0.2), seed)
                except ValueError as e:
                    raise CLIError(one_line(e)) from None
                parts["train"], parts["val"] = np.sort(train[cut[0]]), np.sort(train[cut[1]])
            parts.setdefault("test", parts["val"])
        else:
            fr = split_fractions(val_split)
            try:
                cut = random_split_indices(len(f.masks), fr if fr[2] > 0 else fr[:2], seed)
            except ValueError as e:
                raise CLIError(one_line(e)) from None
            parts = {"train": np.sort(cut[0]), "val": np.sort(cut[1]),
                     "test": np.sort(cut[2]) if len(cut) > 2 else np.sort(cut[1])}
        return SegData(f.images, f.masks, f.classes, parts, f.names)
    raise CLIError(f"unknown segmentation dataset {spec!r}; expected {', '.join(_SYNTHETIC)} or segfolder:DIR", 2)


def _check_ndim(model, dataset, ndim):
    if (model == "vnet") != (ndim == 3):
        raise CLIError(f"{model} is a {'3D' if model == 'vnet' else '2D'} model but {dataset} holds "
                       f"{ndim}D {'volumes' if ndim == 3 else 'images'}", 2)


def _channel_stats(images):
    x = images.astype(np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)
    axes = (0,) + tuple(range(2, x.ndim))
    mean, std = x.mean(axis=axes, dtype=np.float64), x.std(axis=axes, dtype=np.float64)
    return [float(v) for v in mean], [float(max(v, 1e-6)) for v in std]


def normalise(images, norm):
    """Note [Segmentation input]: uint8/float images (B, C, *S) -> float32 network input."""
    x = np.asarray(images, dtype=np.float32)
    if norm["mode"] == "volume":
        axes = tuple(range(1, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        std = x.std(axis=axes, keepdims=True)
        return (x - mean) / np.maximum(std, 1e-6)
    if np.asarray(images).dtype == np.uint8:
        x = x / 255.0
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - np.asarray(norm["mean"], np.float32).reshape(shape)) / np.asarray(norm["std"], np.float32).reshape(shape)


def size_multiple(model_name, depth=None):
    """The factor every input side must be a multiple of (Note [Segmentation input])."""
    return 16 if model_name == "letnet" else 2 ** int(depth)


def _check_sizes(spatial, multiple, what):
    bad = [s for s in spatial if s % multiple]
    if bad:
        raise CLIError(f"{what}: size {'x'.join(map(str, spatial))} can't be halved by the network; every side "
                       f"must be a multiple of {multiple} (pad or resize the data, or choose --input-size)")


def segmentation_scores(confusion, classes):
    """Per-class IoU and Dice, their means over classes with a score (Note [Segmentation scores
    from the confusion matrix] in dlcore.metrics) and pixel accuracy from a confusion matrix
    (rows: target, columns: prediction)."""
    m = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(m)
    fp, fn = m.sum(0) - tp, m.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (tp + fp + fn)
        dice = 2 * tp / (2 * tp + fp + fn)
    total = m.sum()

    def mean(v):
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else float("nan")
    return {"miou": mean(iou), "mdice": mean(dice), "pixel_acc": float(tp.sum() / total) if total else float("nan"),
            "iou": {c: float(v) for c, v in zip(classes, iou)}, "dice": {c: float(v) for c, v in zip(classes, dice)}}


def _crop_to(t, spatial):
    """Centre-crop a mask batch (B, *S) to ``spatial`` (the paper U-Net's smaller output)."""
    if tuple(t.shape[1:]) == tuple(spatial):
        return t
    sl = [slice(None)] + [slice((a - b) // 2, (a - b) // 2 + b) for a, b in zip(t.shape[1:], spatial)]
    return t[tuple(sl)]


def evaluate_segmenter(model, images, masks, norm, classes, batch_size=8, device="cpu", loss_fn=None):
    """Scores of ``model`` on whole arrays (segmentation_scores' dict, plus "loss" with ``loss_fn``)."""
    from dlcore.metrics import ConfusionMatrix

    cm = ConfusionMatrix(len(classes), ignore_index=IGNORE)
    was_training = model.training
    model.eval()
    loss_sum, n = 0.0, len(masks)
    with dlcore.no_grad():
        for start in range(0, n, batch_size):
            x = dlcore.from_numpy(np.ascontiguousarray(normalise(images[start:start + batch_size], norm)))
            y = np.ascontiguousarray(masks[start:start + batch_size].astype(np.int64))
            if device != "cpu":
                x = x.to(device)
            out = model(x)
            y = _crop_to(y, out.shape[2:])
            yt = dlcore.from_numpy(np.ascontiguousarray(y))
            if loss_fn is not None:
                loss_sum += float(loss_fn(out, yt.to(out.device)).item()) * len(y)
            cm.update(out.argmax(dim=1).cpu(), yt)
    model.train(was_training)
    scores = segmentation_scores(cm.compute(), classes)
    if loss_fn is not None:
        scores["loss"] = loss_sum / max(n, 1)
    return scores


# ---- the run ------------------------------------------------------------------------------------

def build_segmenter(name, in_channels, num_classes, base_channels=None, depth=None):
    from dlcore.models import get_model

    kw = {}
    if name == "unet":
        kw = dict(base_channels=base_channels, depth=depth, padding=True, batch_norm=True)
    elif name == "vnet":
        kw = dict(base_channels=base_channels, depth=depth, batch_norm=True)
    return get_model(name, in_channels=in_channels, num_classes=num_classes, **kw)


def make_loss(kind, batch_pixels):
    nn = dlcore.nn
    if kind == "dice_ce":
        return nn.DiceCELoss(ignore_index=IGNORE)
    if kind == "dice":
        return nn.DiceCELoss(lambda_ce=0.0, ignore_index=IGNORE)
    if kind == "ohem":  # keep the hardest 1/16 of the pixels at least (BiSeNet/LETNet: 100k of 16x512x1024/...)
        return nn.OhemCrossEntropyLoss(thresh=0.7, min_kept=max(1, batch_pixels // 16), ignore_index=IGNORE)
    return nn.CrossEntropyLoss(ignore_index=IGNORE)


class _EpochBatches:
    """Loader view: item k is the augmented, normalised batch k of an epoch (built in the prefetch
    thread)."""

    def __init__(self, run, epoch, order, first_step):
        self.run, self.epoch, self.order, self.first = run, epoch, order, first_step

    def __len__(self):
        return len(self.order) // self.run.c.batch_size - self.first

    def __getitem__(self, k):
        r = self.run
        bs, step = r.c.batch_size, self.first + k
        idx = np.sort(self.order[step * bs:(step + 1) * bs])
        x, y = r.train_images[idx], r.train_masks[idx]
        rng = np.random.default_rng([r.c.seed, self.epoch, step, 0xA06])
        x, y = r.augment(x, y, rng=rng)
        x = dlcore.from_numpy(np.ascontiguousarray(normalise(x, r.norm)))
        y = dlcore.from_numpy(np.ascontiguousarray(y.astype(np.int64)))
        return x, y


class _SegRun(EpochRun):
    BEST_KEY, BEST_LABEL = "val_miou", "val mIoU"
    CHECKPOINT_FORMAT, KIND, CONFIG = SEG_CHECKPOINT_FORMAT, "segmentation", SegConfig
    RUN_KEYS, RESUME_OVERRIDES = _RUN_KEYS, _RESUME_OVERRIDES

    def __init__(self, config, say):
        from dlcore.data.segmentation import JointAugment

        self.say = say
        ckpt = None
        if config.resume:
            c, ckpt = self._resume_config(config)
        else:
            if not is_segmenter(config.model):
                raise CLIError(f"{config.model!r} is not a segmentation model ({', '.join(_MODELS)})", 2)
            c = config.resolved()
        _check(c)
        self.c = c
        if c.dataset in _SYNTHETIC:  # a 2D/3D mismatch is known before generating anything
            _check_ndim(c.model, c.dataset, 3 if c.dataset == "spheres3d" else 2)
        self.data = load_segmentation_data(c.dataset, c.num_images, c.val_split, c.seed)
        d = self.data
        self.classes = list(d.classes)
        self.ndim = d.ndim
        _check_ndim(c.model, c.dataset, self.ndim)
        self.train_images, self.train_masks = d.split("train", c.limit_train)
        self.val_images, self.val_masks = d.split("val", c.limit_val)
        self.test_images, self.test_masks = d.split("test", c.limit_test)
        spatial = tuple(self.train_masks.shape[1:])
        crop = spatial if c.input_size is None else (c.input_size,) * self.ndim
        self.multiple = size_multiple(c.model, c.depth)
        _check_sizes(crop, self.multiple, f"{c.model} training crop")
        for name, m in (("val", self.val_masks), ("test", self.test_masks)):
            _check_sizes(m.shape[1:], self.multiple, f"{c.model} on the {name} split of {c.dataset}")
        self.crop = tuple(int(s) for s in crop)
        self.augment = JointAugment(crop_size=self.crop, scale=(1 - c.scale, 1 + c.scale), hflip=c.hflip,
                                    ignore_index=IGNORE)
        if ckpt is not None:
            self.norm = dict(ckpt["config"]["norm"])
        elif self.ndim == 3:
            self.norm = {"mode": "volume"}
        else:
            mean, std = _channel_stats(self.train_images)
            self.norm = {"mode": "channel", "mean": mean, "std": std}
        in_channels = int(self.train_images.shape[1])
        dlcore.manual_seed(c.seed)
        self.model = build_segmenter(c.model, in_channels, len(self.classes), c.base_channels, c.depth)
        if c.device != "cpu":
            self.model.to(c.device)
        params = list(self.model.parameters())
        if c.optimizer == "sgd":
            self.optimizer = dlcore.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        elif c.optimizer == "adamw":
            self.optimizer = dlcore.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        elif c.optimizer == "rmsprop":
            self.optimizer = dlcore.optim.RMSprop(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        else:
            self.optimizer = dlcore.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        self.criterion = make_loss(c.loss, c.batch_size * int(np.prod(self.crop)))
        self.record = {k: getattr(c, k) for k in _RUN_KEYS}
        self.record.update(classes=self.classes, in_channels=in_channels, norm=self.norm, ndim=self.ndim)
        self.history, self.epoch = [], 0
        self.partial = self._new_partial()
        self.steps_per_epoch = len(self.train_masks) // c.batch_size
        if self.steps_per_epoch < 1:
            raise CLIError(f"the training split has {len(self.train_masks)} samples, fewer than one batch of "
                           f"{c.batch_size}", 2)
        if ckpt is not None:
            try:
                self.model.load_state_dict(ckpt["model"])
            except (RuntimeError, TypeError, KeyError) as e:
                raise CLIError(f"checkpoint {c.resume!r} does not fit model {c.model!r}: {one_line(e)}") from None
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.history = [dict(h) for h in ckpt.get("metrics", [])]
            self.epoch = int(ckpt["epoch"])
            self.partial = dict(ckpt.get("partial") or self.partial)
        self.out = c.out or _default_out(c.model)
        os.makedirs(self.out, exist_ok=True)
        self.in_update = False
        n_params = sum(p.numel() for p in params)
        size = "x".join(map(str, spatial))
        if ckpt is None:
            say(f"training {c.model} ({n_params:,} parameters, {len(self.classes)} classes) on {c.dataset}: "
                f"{len(self.train_masks)} train / {len(self.val_masks)} val / {len(self.test_masks)} test "
                f"{'volumes' if self.ndim == 3 else 'images'} of {size}; {c.optimizer} lr {c.lr:g}, "
                f"{c.loss} loss, batch {c.batch_size}, {c.epochs} epochs; output in {self.out}")
        else:
            say(f"resuming {c.model} from {c.resume} at epoch {self.epoch + 1}/{c.epochs}; output in {self.out}")

    @staticmethod
    def _new_partial():
        return {"step": 0, "loss": 0.0, "time": 0.0}

    # ---- schedule: a linear warm-up from 1 % then poly (power 0.9) or cosine decay, per step ----
    def _set_lr(self, epoch, step):
        c = self.c
        total = c.epochs * self.steps_per_epoch
        it = epoch * self.steps_per_epoch + step
        warm = int(round(c.warmup_epochs * self.steps_per_epoch))
        if it < warm:
            f = 0.01 + 0.99 * it / warm
        elif c.scheduler == "poly":
            f = (1 - (it - warm) / max(total - warm, 1)) ** 0.9
        elif c.scheduler == "cosine":
            f = 0.5 * (1 + math.cos(math.pi * (it - warm) / max(total - warm, 1)))
        else:
            f = 1.0
        lr = c.lr * f
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        return lr

    # ---- artefacts ----
    def save(self, name):
        dlcore.serialization.save_safetensors(
            {"format": SEG_CHECKPOINT_FORMAT, "model": self.model.state_dict(),
             "optimizer": self.optimizer.state_dict(), "epoch": self.epoch, "partial": self.partial,
             "config": self.record, "metrics": self.history}, os.path.join(self.out, name))

    def write_artefacts(self, status, test=None):
        best_epoch, best = self._best()
        _write_json(os.path.join(self.out, "metrics.json"), {
            "model": self.c.model, "dataset": self.c.dataset, "status": status, "config": self.record,
            "history": self.history, "best_epoch": best_epoch, "best_val_miou": best, "test": test,
            "checkpoints": {"best": BEST, "last": LAST}})
        if self.history:
            from .plot import plot_segmentation_curves
            plot_segmentation_curves(self.history, os.path.join(self.out, "curves.png"),
                                     title=f"{self.c.model} on {self.c.dataset}")

    # ---- the loop (EpochRun.fit) ----
    def _epoch_batches(self, e, start):
        from dlcore.data import DataLoader

        order = np.random.default_rng([self.c.seed, e, 0x5E6]).permutation(len(self.train_masks))
        return DataLoader(_EpochBatches(self, e, order, start), batch_size=1, collate_fn=lambda b: b[0],
                          prefetch=self.c.prefetch)

    def _forward_backward(self, batch, e):
        x, y = batch
        if self.c.device != "cpu":
            x, y = x.to(self.c.device), y.to(self.c.device)
        out = self.model(x)
        loss = self.criterion(out, _crop_to(y, out.shape[2:]))
        self.optimizer.zero_grad()
        loss.backward()
        value = float(loss.item())
        if not math.isfinite(value):
            raise CLIError(f"the training loss became {value} in epoch {e + 1}; try a lower --lr")
        return {"loss": value}

    def _update(self):
        self.optimizer.step()

    def _postfix(self, p, steps):
        return {"loss": f"{p['loss'] / p['step']:.4f}",
                "img/s": f"{self.c.batch_size * steps / max(p['time'], 1e-9):.1f}"}

    def _evaluate(self, images, masks):
        return evaluate_segmenter(self.model, images, masks, self.norm, self.classes, batch_size=self.c.batch_size,
                                  device=self.c.device, loss_fn=self.criterion)

    def end_epoch(self, lr):
        c, p = self.c, self.partial
        t_val = time.perf_counter()
        val = self._evaluate(self.val_images, self.val_masks)
        t_val = time.perf_counter() - t_val
        _, best = self._best()
        improved = best is None or val["miou"] > best
        self.epoch += 1
        row = {"epoch": self.epoch, "train_loss": p["loss"] / max(p["step"], 1), "val_loss": val["loss"],
               "val_miou": val["miou"], "val_mdice": val["mdice"], "val_pixel_acc": val["pixel_acc"],
               "lr": lr, "time": p["time"], "val_time": t_val}
        self.history.append(row)
        self.partial = self._new_partial()
        self.save(LAST)
        if improved:
            self.save(BEST)
        self.write_artefacts("running")
        self.say(f"epoch {self.epoch}/{c.epochs}  loss {row['train_loss']:.4f}  val loss {val['loss']:.4f}  "
                 f"mIoU {val['miou']:.4f}  Dice {val['mdice']:.4f}  pixel acc {val['pixel_acc']:.4f}  "
                 f"lr {lr:.3g}  {row['time']:.0f}s{'  *best' if improved else ''}")

    def finish(self, status):
        test = None
        path = os.path.join(self.out, BEST)
        if os.path.exists(path):
            self.model.load_state_dict(read_checkpoint(path, self.c.device)["model"])
            test = self._evaluate(self.test_images, self.test_masks)
            self.say(f"test (best checkpoint, epoch {self._best()[0]}): " + format_scores(test))
        self.write_artefacts(status, test)
        self.say(f"wrote {path}, {LAST}, metrics.json and curves.png")
        return self.result(status, test)


def format_scores(s, per_class=True):
    """Scores as text: the means on one line, then a row per class."""
    text = f"mIoU {s['miou']:.4f}  mean Dice {s['mdice']:.4f}  pixel accuracy {s['pixel_acc']:.4f}"
    if per_class:
        width = max(len(k) for k in s["iou"])
        for k in s["iou"]:
            text += f"\n  {k:<{width}}  IoU {s['iou'][k]:.4f}  Dice {s['dice'][k]:.4f}"
    return text


def train_segmenter(config, on_step=None, log=None):
    """Runs one segmentation training (see the module docstring) and returns its result dict."""
    run = _SegRun(config, log or stderr_log)
    return run.fit(on_step)


# ---- checkpoints: eval and segment ---------------------------------------------------------------

def is_segmenter_checkpoint(path):
    return checkpoint_format(path) == SEG_CHECKPOINT_FORMAT


def load_segmenter(path, device="cpu"):
    """(model in eval mode, saved config) of a segmentation checkpoint."""
    ckpt = read_run_checkpoint(path, SEG_CHECKPOINT_FORMAT, "segmentation", map_location=device)
    cfg = ckpt["config"]
    model = build_segmenter(cfg["model"], cfg["in_channels"], len(cfg["classes"]), cfg.get("base_channels"),
                            cfg.get("depth"))
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError) as e:
        raise CLIError(f"checkpoint {path!r} does not fit model {cfg['model']!r}: {one_line(e)}") from None
    model.to(device)
    model.eval()
    return model, cfg


def evaluate_segmenter_checkpoint(path, dataset=None, split="test", device="cpu", limit=None, batch_size=8):
    """Scores (segmentation_scores' dict) of a segmentation checkpoint on a split of its dataset (or
    of ``dataset``), a description of what was evaluated, and the saved config."""
    model, cfg = load_segmenter(path, device)
    spec = dataset or cfg["dataset"]
    data = load_segmentation_data(spec, cfg.get("num_images"), cfg.get("val_split"), cfg["seed"])
    if list(data.classes) != list(cfg["classes"]):
        raise CLIError(f"{spec} has classes {list(data.classes)}, the checkpoint {list(cfg['classes'])}")
    images, masks = data.split(split, limit)
    _check_sizes(masks.shape[1:], size_multiple(cfg["model"], cfg.get("depth")), f"{cfg['model']} on {spec}")
    scores = evaluate_segmenter(model, images, masks, cfg["norm"], cfg["classes"], batch_size, device)
    kind = "volumes" if data.ndim == 3 else "images"
    return scores, f"{spec} {split} ({len(masks)} {kind})", cfg


def _read_input(path, cfg):
    """An image file as uint8 (C, H, W) with the checkpoint's channel count, or a NIfTI volume as
    float32 (1, D, H, W) (with its affine)."""
    low = path.lower()
    if low.endswith((".nii", ".nii.gz")):
        from dlcore.data.segmentation import read_nifti
        try:
            vol, affine = read_nifti(path)
        except (ValueError, OSError) as e:
            raise CLIError(f"can't read volume {path!r}: {one_line(e)}") from None
        if cfg["ndim"] != 3:
            raise CLIError(f"{path!r} is a volume but the checkpoint's {cfg['model']} segments 2D images")
        if vol.shape[0] != cfg["in_channels"]:
            raise CLIError(f"{path!r} has {vol.shape[0]} channels, the checkpoint's {cfg['model']} "
                           f"{cfg['in_channels']}")
        return vol, affine
    if cfg["ndim"] != 2:
        raise CLIError(f"{path!r} is not a NIfTI volume (.nii/.nii.gz), which {cfg['model']} segments")
    from PIL import Image
    try:
        with Image.open(path) as im:
            im = im.convert("L" if cfg["in_channels"] == 1 else "RGB")
            arr = np.asarray(im)
    except Exception as e:  # noqa: BLE001 - name the file, whatever the decoder says
        raise CLIError(f"can't open image {path!r}: {one_line(e)}") from None
    return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)), None


def _predict_padded(model, x, multiple, norm, device):
    """Class map (*S) of one sample (C, *S): padded (edge values) up to multiples of ``multiple``,
    the prediction cropped back."""
    spatial = x.shape[1:]
    pads = [(0, 0)] + [(0, (-s) % multiple) for s in spatial]
    xp = np.pad(normalise(x[None], norm)[0], pads, mode="edge")
    t = dlcore.from_numpy(np.ascontiguousarray(xp[None]))
    with dlcore.no_grad():
        pred = model(t if device == "cpu" else t.to(device)).argmax(dim=1)[0].cpu().numpy()
    if pred.shape != xp.shape[1:]:
        raise CLIError(f"the model's output {pred.shape} differs from its padded input {xp.shape[1:]}; "
                       "only same-size (padded) models can segment files")
    return pred[tuple(slice(0, s) for s in spatial)]


def segment_files(path, files, out=None, device="cpu"):
    """Runs a segmentation checkpoint on image files (or NIfTI volumes): per file (name, class map,
    counts per class); with ``out`` also writes ``<stem>_mask.png`` (palette PNG whose values are the
    class indices) and ``<stem>_overlay.png`` (for volumes ``<stem>_mask.nii.gz`` and the overlay of
    the middle slice)."""
    from dlcore.data import segmentation as seg

    model, cfg = load_segmenter(path, device)
    multiple = size_multiple(cfg["model"], cfg.get("depth"))
    # a label set without a background class (streets: class 0 is road) gets a colour for every class
    has_background = cfg["classes"][0].lower() in ("background", "bg", "_background_")
    k = len(cfg["classes"])
    colours = seg.palette(k) if has_background else seg.palette(k + 1)[1:]
    background = 0 if has_background else None
    if out:
        os.makedirs(out, exist_ok=True)
    results = []
    for f in files:
        x, affine = _read_input(f, cfg)
        pred = _predict_padded(model, x, multiple, cfg["norm"], device)
        counts = np.bincount(pred.reshape(-1), minlength=len(cfg["classes"]))
        results.append((f, pred, counts))
        if out:
            stem = os.path.basename(f)
            for ext in (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"):
                if stem.lower().endswith(ext):
                    stem = stem[:-len(ext)]
                    break
            base = os.path.join(out, stem)
            if cfg["ndim"] == 3:
                seg.save_nifti(base + "_mask.nii.gz", pred.astype(np.uint8), affine)
                mid = pred.shape[0] // 2
                vol = x[0, mid]
                lo, hi = float(vol.min()), float(vol.max())
                grey = ((vol - lo) / (hi - lo if hi > lo else 1.0))[None].astype(np.float32)
                seg.save_overlay_png(base + "_overlay.png", grey, pred[mid], colours, background=background)
            else:
                seg.save_mask_png(base + "_mask.png", pred.astype(np.uint8), colours)
                seg.save_overlay_png(base + "_overlay.png", x, pred, colours, background=background)
    return results, cfg
