"""Object-detection training behind ``dlcore train yolov8n --dataset shapes|yolo:DIR``, evaluation of
its checkpoints and ``dlcore detect``, usable from Python:

    from dlcore.cli.detect import DetectConfig, train_detector
    result = train_detector(DetectConfig(model="yolov8n", epochs=5, out="runs/yolo-try"))
    result["test"]["map_50"]

The recipe is Ultralytics' default scaled to small images (Note [Detection recipe]). Every epoch
the EMA of the weights is evaluated on the validation split (COCO mAP@0.5:0.95 and mAP@0.5 with
dlcore.metrics.MeanAveragePrecision), a row joins the history, ``last`` and (when mAP@0.5:0.95
improved) ``best`` checkpoints are written with ``metrics.json`` and ``curves.png``; at the end
the best checkpoint is evaluated on the test split.

Note [Detection recipe]: SGD (Nesterov, momentum 0.937) with three parameter groups as
Ultralytics: conv/linear weights with weight decay 5e-4, BatchNorm weights and biases without;
the first ``warmup_epochs`` (at least 100 steps) raise the learning rate of the weights linearly
from 0 and lower that of the biases from 0.1, while momentum rises from 0.8; then the rate decays
per epoch, linearly (or by a cosine) to ``lrf`` times the initial one. An exponential moving
average of the weights (decay 0.9999 * (1 - exp(-updates / 2000)), Ultralytics' ModelEMA) is what
is validated and saved as ``model``. Mosaic augmentation is switched off for the last
``close_mosaic`` epochs. The loss is the v8 loss (dlcore.models.yolo_loss), which is summed over
the images of the batch as Ultralytics does.

Exact resume follows Note [Exact resume] of cli/train.py: the order of epoch e is drawn from
(seed, e) and every augmented sample from (seed, e, index), so a resumed run repeats the
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

__all__ = ["DetectConfig", "train_detector", "evaluate_detector_checkpoint", "detect_images", "is_detector",
           "is_detector_checkpoint", "DETECT_RECIPES", "DETECT_CHECKPOINT_FORMAT", "load_detection_splits"]

DETECT_CHECKPOINT_FORMAT = "dlcore.detect/1"

# Note [Detection recipe]; sized for 2 CPU cores (about 10 minutes on the default shapes data).
DETECT_RECIPES = {
    "default": dict(epochs=18, batch_size=16, lr=0.01, lrf=0.01, momentum=0.937, weight_decay=5e-4,
                    warmup_epochs=3.0, scheduler="linear", input_size=128, close_mosaic=5, mosaic=1.0,
                    optimizer="sgd", num_images=3000),
}


def is_detector(name):
    return name.lower().startswith("yolo")


@dataclasses.dataclass
class DetectConfig:
    """Options of one detection run; None means "from the recipe" (DETECT_RECIPES)."""
    model: str = "yolov8n"
    dataset: str = "shapes"            # shapes | yolo:DIR_OR_YAML
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    lrf: Optional[float] = None        # final learning rate as a fraction of lr
    optimizer: Optional[str] = None    # sgd | adamw
    momentum: Optional[float] = None
    weight_decay: Optional[float] = None
    warmup_epochs: Optional[float] = None
    scheduler: Optional[str] = None    # linear | cosine
    input_size: Optional[int] = None   # image side (a multiple of 32)
    close_mosaic: Optional[int] = None
    mosaic: Optional[float] = None
    num_images: Optional[int] = None   # shapes: images generated (split 6:2:2)
    val_split: Optional[float] = None  # yolo: datasets without a val split take this fraction of train
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
        recipe = {**DETECT_RECIPES["default"], **DETECT_RECIPES.get(self.model.lower(), {})}
        return DetectConfig(**options_with_defaults(self, recipe))


_RUN_KEYS = ("model", "dataset", "epochs", "batch_size", "lr", "lrf", "optimizer", "momentum", "weight_decay",
             "warmup_epochs", "scheduler", "input_size", "close_mosaic", "mosaic", "num_images", "val_split",
             "limit_train", "limit_val", "limit_test", "seed", "early_stopping")
_RESUME_OVERRIDES = ("epochs", "early_stopping", "out", "prefetch", "device", "progress")


def _check(c):
    for name in ("epochs", "batch_size", "num_images"):
        v = getattr(c, name)
        if not isinstance(v, int) or v < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}", 2)
    if c.input_size % 32 or c.input_size < 32:
        raise CLIError(f"--input-size must be a positive multiple of 32 for {c.model}, got {c.input_size}", 2)
    if not c.lr > 0 or not 0 < c.lrf <= 1:
        raise CLIError(f"--lr must be > 0 and --lrf in (0, 1], got {c.lr} and {c.lrf}", 2)
    if c.optimizer not in ("sgd", "adamw"):
        raise CLIError(f"--optimizer for a detector must be sgd or adamw, got {c.optimizer!r}", 2)
    if c.scheduler not in ("linear", "cosine"):
        raise CLIError(f"--scheduler for a detector must be linear or cosine, got {c.scheduler!r}", 2)
    if c.val_split is not None and not 0 < c.val_split < 1:
        raise CLIError(f"--val-split must be in (0, 1), got {c.val_split}", 2)
    _check_seed(c.seed)


# ---- data ---------------------------------------------------------------------------------------

def load_detection_splits(spec, img_size, num_images=3000, val_split=None, seed=0, augment_train=True,
                          mosaic=1.0):
    """(train, val, test) YOLODatasets for a dataset spec: ``shapes`` (generated once, 6:2:2, or
    (0.8 - val_split) : val_split : 0.2) or
    ``yolo:DIR_OR_YAML`` (the YAML's train/val/test; without val, ``val_split`` of train (default
    0.2) is held out by a seeded split; without test, the val split is also the test split)."""
    from dlcore.data.detection import YOLODataError, YOLODataset

    try:
        if spec == "shapes":
            from dlcore.data.datasets.shapes import make_shapes
            splits = (0.6, 0.2, 0.2) if val_split is None else (0.8 - val_split, val_split, 0.2)
            if min(splits) <= 0:
                raise CLIError(f"--val-split for shapes must be in (0, 0.8) (the test split is 0.2), "
                               f"got {val_split}", 2)
            root = make_shapes(num_images=num_images, img_size=img_size, splits=splits)
        elif spec.startswith("yolo:"):
            root = spec[5:]
            if not root:
                raise CLIError("--dataset yolo: needs a folder or YAML, e.g. yolo:data/coco8.yaml", 2)
        else:
            raise CLIError(f"unknown detection dataset {spec!r}; expected shapes or yolo:DIR_OR_YAML", 2)
        kw = dict(img_size=img_size, seed=seed, cache=True)
        train = YOLODataset(root, "train", augment=augment_train, mosaic=mosaic, **kw)
        try:
            val = YOLODataset(root, "val", **kw)
        except YOLODataError:
            val = None
        try:
            test = YOLODataset(root, "test", **kw)
        except YOLODataError:
            test = None
    except (YOLODataError, FileNotFoundError) as e:
        raise CLIError(one_line(e)) from None
    if val is None:
        frac = 0.2 if val_split is None else val_split
        n = len(train)
        perm = np.random.default_rng([seed, 0x5A1]).permutation(n)
        n_val = max(1, int(round(n * frac)))
        val = YOLODataset(root, "train", **kw)
        _restrict(val, np.sort(perm[:n_val]))
        _restrict(train, np.sort(perm[n_val:]))
    if test is None:
        test = val
    return train, val, test


def _restrict(ds, keep):
    """Keep only the images ``keep`` of a YOLODataset (its per-image lists)."""
    keep = [int(k) for k in keep]
    for name in ("im_files", "label_files", "labels", "shapes"):
        setattr(ds, name, [getattr(ds, name)[k] for k in keep])
    if getattr(ds, "_cache", None) is not None:
        ds._cache = [ds._cache[k] for k in keep]


class _Subset:
    """The first ``n`` samples of a detection dataset, for quick trials (``--limit-*``)."""

    def __init__(self, ds, n):
        self.ds, self.n = ds, min(n, len(ds))

    def __len__(self):
        return self.n

    def __getattr__(self, name):
        return getattr(self.ds, name)

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.ds[i]


class _EpochSamples:
    """Dataset view for the loader: item k of epoch e is the augmented sample order[k]."""

    def __init__(self, ds, order):
        self.ds, self.order = ds, order

    def __len__(self):
        return len(self.order)

    def __getitem__(self, k):
        return self.ds[int(self.order[k])]


# ---- optimisation -------------------------------------------------------------------------------

def _param_groups(model, weight_decay):
    """Ultralytics' three groups: [weights with decay, BatchNorm weights, biases]."""
    decay, bn, bias = [], [], []
    for mod in model.modules():
        for name, p in mod.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if name == "bias":
                bias.append(p)
            elif isinstance(mod, dlcore.nn.modules.normalization._BatchNorm):
                bn.append(p)
            else:
                decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": bn, "weight_decay": 0.0},
            {"params": bias, "weight_decay": 0.0}]


class ModelEMA:
    """Exponential moving average of a model's parameters and buffers (Note [Detection recipe])."""

    def __init__(self, model, copy, decay=0.9999, tau=2000, updates=0):
        self.ema = copy  # a model of the same architecture; takes model's weights now
        self.ema.load_state_dict(model.state_dict())
        self.ema.eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        with dlcore.no_grad():
            src = model.state_dict()
            for k, v in self.ema.state_dict().items():
                if v.dtype.is_floating_point:
                    v.mul_(d).add_(src[k].detach(), alpha=1 - d)
                else:
                    v.copy_(src[k])


# ---- evaluation ---------------------------------------------------------------------------------

def evaluate_map(model, dataset, batch_size=32, conf=0.001, iou=0.7, max_det=100, device="cpu", class_metrics=False,
                 score_threshold=0.25):
    """COCO metrics of ``model`` on a detection dataset (letterboxed coordinates)."""
    from dlcore.data.detection import detection_collate
    from dlcore.metrics import MeanAveragePrecision

    metric = MeanAveragePrecision(class_metrics=class_metrics, score_threshold=score_threshold)
    n = len(dataset)
    for start in range(0, n, batch_size):
        batch = detection_collate([dataset[i] for i in range(start, min(n, start + batch_size))])
        x = batch["img"] if device == "cpu" else batch["img"].to(device)
        dets = model.predict(x, conf=conf, iou=iou, max_det=max_det)
        preds, targets = [], []
        for k, d in enumerate(dets):
            d = d.numpy()
            lab = batch["labels"][k, :batch["counts"][k]]
            preds.append({"boxes": d[:, :4], "scores": d[:, 4], "labels": d[:, 5].astype(np.int64)})
            targets.append({"boxes": lab[:, 1:5], "labels": lab[:, 0].astype(np.int64)})
        metric.update(preds, targets)
    out = metric.compute()
    result = {k: float(out[k]) for k in ("map", "map_50", "map_75", "precision", "recall")}
    if class_metrics:
        result["map_per_class"] = out["map_per_class"]
    return result


# ---- the run ------------------------------------------------------------------------------------

class _DetRun(EpochRun):
    BEST_KEY, BEST_LABEL = "val_map", "val mAP"
    CHECKPOINT_FORMAT, KIND, CONFIG = DETECT_CHECKPOINT_FORMAT, "detection", DetectConfig
    RUN_KEYS, RESUME_OVERRIDES = _RUN_KEYS, _RESUME_OVERRIDES

    def __init__(self, config, say):
        from dlcore.models import get_model

        self.say = say
        ckpt = None
        if config.resume:
            c, ckpt = self._resume_config(config)
        else:
            c = config.resolved()
        _check(c)
        self.c = c
        self.train_set, self.val_set, self.test_set = load_detection_splits(
            c.dataset, c.input_size, c.num_images, c.val_split, c.seed, True, c.mosaic)
        if c.limit_train:
            self.train_set = _Subset(self.train_set, c.limit_train)
        if c.limit_val:
            self.val_set = _Subset(self.val_set, c.limit_val)
        if c.limit_test:
            self.test_set = _Subset(self.test_set, c.limit_test)
        self.names = list(self.train_set.names)
        dlcore.manual_seed(c.seed)
        self.model = get_model(c.model, num_classes=len(self.names), names=self.names)
        self.model.head.bias_init(c.input_size)
        if c.device != "cpu":
            self.model.to(c.device)
        groups = _param_groups(self.model, c.weight_decay)
        if c.optimizer == "sgd":
            self.optimizer = dlcore.optim.SGD(groups, lr=c.lr, momentum=c.momentum, nesterov=True)
        else:
            self.optimizer = dlcore.optim.AdamW(groups, lr=c.lr, betas=(c.momentum, 0.999))
        for g in self.optimizer.param_groups:
            g["initial_lr"] = c.lr
        from dlcore.models.yolo_loss import DetectionLoss
        self.criterion = DetectionLoss(self.model)
        ema_model = get_model(c.model, num_classes=len(self.names), names=self.names)
        if c.device != "cpu":
            ema_model.to(c.device)
        self.ema = ModelEMA(self.model, ema_model)
        self.record = {k: getattr(c, k) for k in _RUN_KEYS}
        self.record["names"] = self.names
        self.history, self.epoch = [], 0
        self.partial = self._new_partial()
        self.steps_per_epoch = max(1, len(self.train_set) // c.batch_size)
        if ckpt is not None:
            try:
                self.model.load_state_dict(ckpt["train_model"])
                self.ema.ema.load_state_dict(ckpt["model"])
            except (RuntimeError, TypeError, KeyError) as e:
                raise CLIError(f"checkpoint {c.resume!r} does not fit model {c.model!r}: {one_line(e)}") from None
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.ema.updates = int(ckpt["ema_updates"])
            self.history = [dict(h) for h in ckpt.get("metrics", [])]
            self.epoch = int(ckpt["epoch"])
            self.partial = dict(ckpt.get("partial") or self.partial)
        self.out = c.out or _default_out(c.model)
        os.makedirs(self.out, exist_ok=True)
        self.in_update = False
        params = sum(p.numel() for p in self.model.parameters())
        if ckpt is None:
            say(f"training {c.model} ({params:,} parameters, {len(self.names)} classes) on {c.dataset}: "
                f"{len(self.train_set)} train / {len(self.val_set)} val / {len(self.test_set)} test images at "
                f"{c.input_size}x{c.input_size}; {c.optimizer} lr {c.lr:g}, batch {c.batch_size}, {c.epochs} epochs; "
                f"output in {self.out}")
        else:
            say(f"resuming {c.model} from {c.resume} at epoch {self.epoch + 1}/{c.epochs}; output in {self.out}")

    @staticmethod
    def _new_partial():
        return {"step": 0, "box": 0.0, "cls": 0.0, "dfl": 0.0, "time": 0.0}

    # ---- schedule ----
    def _lf(self, epoch):
        c = self.c
        x = min(epoch / c.epochs, 1.0)
        if c.scheduler == "cosine":
            return ((1 - math.cos(x * math.pi)) / 2) * (c.lrf - 1) + 1
        return (1 - x) * (1.0 - c.lrf) + c.lrf

    def _set_lr(self, epoch, step):
        c = self.c
        it = epoch * self.steps_per_epoch + step
        nw = max(round(c.warmup_epochs * self.steps_per_epoch), 100) if c.warmup_epochs > 0 else 0
        target = c.lr * self._lf(epoch)
        for j, g in enumerate(self.optimizer.param_groups):
            if it < nw:
                start = 0.1 if j == 2 else 0.0
                g["lr"] = start + (target - start) * it / nw
                if c.optimizer == "sgd":
                    g["momentum"] = 0.8 + (c.momentum - 0.8) * it / nw
            else:
                g["lr"] = target
                if c.optimizer == "sgd":
                    g["momentum"] = c.momentum
        return self.optimizer.param_groups[0]["lr"]

    # ---- artefacts ----
    def save(self, name):
        dlcore.serialization.save_safetensors(
            {"format": DETECT_CHECKPOINT_FORMAT, "model": self.ema.ema.state_dict(),
             "train_model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
             "ema_updates": self.ema.updates, "epoch": self.epoch, "partial": self.partial,
             "config": self.record, "metrics": self.history}, os.path.join(self.out, name))

    def write_artefacts(self, status, test=None):
        best_epoch, best_map = self._best()
        _write_json(os.path.join(self.out, "metrics.json"), {
            "model": self.c.model, "dataset": self.c.dataset, "status": status, "config": self.record,
            "history": self.history, "best_epoch": best_epoch, "best_val_map": best_map, "test": test,
            "checkpoints": {"best": BEST, "last": LAST}})
        if self.history:
            from .plot import plot_detection_curves
            plot_detection_curves(self.history, os.path.join(self.out, "curves.png"),
                                  title=f"{self.c.model} on {self.c.dataset}")

    # ---- the loop (EpochRun.fit) ----
    def _epoch_batches(self, e, start):
        from dlcore.data import DataLoader
        from dlcore.data.detection import detection_collate

        c = self.c
        if e >= c.epochs - c.close_mosaic and getattr(self.train_set, "mosaic", 0):
            self.train_set.close_mosaic()
        self.train_set.set_epoch(e)
        order = np.random.default_rng([c.seed, e, 0x5EED]).permutation(len(self.train_set))
        order = order[:self.steps_per_epoch * c.batch_size]
        return DataLoader(_EpochSamples(self.train_set, order[start * c.batch_size:]), batch_size=c.batch_size,
                          collate_fn=detection_collate, prefetch=c.prefetch)

    def _forward_backward(self, batch, e):
        c = self.c
        x = batch["img"] if c.device == "cpu" else batch["img"].to(c.device)
        loss, parts = self.criterion(self.model(x), batch["labels"], batch["counts"])
        self.optimizer.zero_grad()
        loss.backward()
        parts = parts.tolist()
        if not all(math.isfinite(v) for v in parts):
            raise CLIError(f"the training loss became {parts} in epoch {e + 1}; try a lower --lr")
        return dict(zip(("box", "cls", "dfl"), parts))

    def _update(self):
        dlcore.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
        self.optimizer.step()
        self.ema.update(self.model)

    def _postfix(self, p, steps):
        return {"box": f"{p['box'] / p['step']:.3f}", "cls": f"{p['cls'] / p['step']:.3f}",
                "dfl": f"{p['dfl'] / p['step']:.3f}", "img/s": f"{self.c.batch_size * steps / max(p['time'], 1e-9):.0f}"}

    def end_epoch(self, lr):
        c, p = self.c, self.partial
        steps = max(p["step"], 1)
        t_val = time.perf_counter()
        val = evaluate_map(self.ema.ema, self.val_set, device=c.device)
        t_val = time.perf_counter() - t_val
        _, best = self._best()
        improved = best is None or val["map"] > best
        self.epoch += 1
        row = {"epoch": self.epoch, "box_loss": p["box"] / steps, "cls_loss": p["cls"] / steps,
               "dfl_loss": p["dfl"] / steps, "val_map": val["map"], "val_map_50": val["map_50"],
               "val_map_75": val["map_75"], "val_precision": val.get("precision"), "val_recall": val.get("recall"),
               "lr": lr, "time": p["time"], "val_time": t_val}
        self.history.append(row)
        self.partial = self._new_partial()
        self.save(LAST)
        if improved:
            self.save(BEST)
        self.write_artefacts("running")
        self.say(f"epoch {self.epoch}/{c.epochs}  box {row['box_loss']:.3f}  cls {row['cls_loss']:.3f}  "
                 f"dfl {row['dfl_loss']:.3f}  val mAP@0.5 {val['map_50']:.3f}  mAP@0.5:0.95 {val['map']:.3f}  "
                 f"lr {lr:.3g}  {row['time']:.0f}s{'  *best' if improved else ''}")

    def finish(self, status):
        test = None
        path = os.path.join(self.out, BEST)
        if os.path.exists(path):
            self.ema.ema.load_state_dict(read_checkpoint(path, self.c.device)["model"])
            test = evaluate_map(self.ema.ema, self.test_set, device=self.c.device)
            self.say(f"test (best checkpoint, epoch {self._best()[0]}): mAP@0.5 {test['map_50']:.4f}  "
                     f"mAP@0.5:0.95 {test['map']:.4f}  precision {test.get('precision', float('nan')):.3f}  "
                     f"recall {test.get('recall', float('nan')):.3f}")
        self.write_artefacts(status, test)
        self.say(f"wrote {path}, {LAST}, metrics.json and curves.png")
        return self.result(status, test)


def train_detector(config, on_step=None, log=None):
    """Runs one detection training (see the module docstring) and returns its result dict."""
    run = _DetRun(config, log or stderr_log)
    return run.fit(on_step)


# ---- checkpoints: eval and detect -----------------------------------------------------------------

def is_detector_checkpoint(path):
    return checkpoint_format(path) == DETECT_CHECKPOINT_FORMAT


def load_detector(path, device="cpu"):
    """(model in eval mode, saved config) of a detection checkpoint."""
    from dlcore.models import get_model

    ckpt = read_run_checkpoint(path, DETECT_CHECKPOINT_FORMAT, "detection", map_location=device)
    cfg = ckpt["config"]
    model = get_model(cfg["model"], num_classes=len(cfg["names"]), names=cfg["names"])
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError) as e:
        raise CLIError(f"checkpoint {path!r} does not fit model {cfg['model']!r}: {one_line(e)}") from None
    model.to(device)
    model.eval()
    return model, cfg


def evaluate_detector_checkpoint(path, dataset=None, split="test", device="cpu", limit=None):
    """COCO metrics of a detection checkpoint on a split of its dataset (or ``dataset``)."""
    model, cfg = load_detector(path, device)
    spec = dataset or cfg["dataset"]
    train, val, test = load_detection_splits(spec, cfg["input_size"], cfg["num_images"], cfg.get("val_split"),
                                             cfg["seed"], augment_train=False)
    ds = {"train": train, "val": val, "test": test}[split]
    if limit:
        ds = _Subset(ds, limit)
    return evaluate_map(model, ds, device=device, class_metrics=True), f"{spec} {split} ({len(ds)} images)", cfg


def detect_images(path, images, out=None, conf=0.25, iou=0.7, max_det=300, device="cpu"):
    """Runs a detection checkpoint on image files: per image its [N, 6] rows (x1, y1, x2, y2,
    score, class) in the original image's pixels; with ``out`` also writes the image with the
    boxes, class names and scores drawn (PNG, same base name)."""
    from dlcore.data.detection import letterbox, load_rgb, scale_boxes_back

    model, cfg = load_detector(path, device)
    size = cfg["input_size"]
    names = cfg["names"]
    results = []
    if out:
        os.makedirs(out, exist_ok=True)
    for f in images:
        try:
            img = load_rgb(f)
        except Exception as e:  # noqa: BLE001 - name the file, whatever the decoder says
            raise CLIError(f"can't open image {f!r}: {one_line(e)}") from None
        boxed, ratio, pad = letterbox(img, size)
        x = dlcore.from_numpy(np.ascontiguousarray(boxed.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0)
        det = model.predict(x if device == "cpu" else x.to(device), conf=conf, iou=iou, max_det=max_det)[0].numpy()
        if len(det):
            det[:, :4] = scale_boxes_back(det[:, :4], ratio, pad, img.shape[:2])
        results.append((f, det))
        if out:
            _draw(img, det, names, os.path.join(out, os.path.splitext(os.path.basename(f))[0] + ".png"))
    return results


_COLOURS = [(255, 56, 56), (72, 249, 10), (0, 148, 255), (255, 178, 29), (207, 210, 49), (146, 204, 23),
            (61, 219, 134), (26, 147, 52), (0, 212, 187), (44, 153, 168), (132, 56, 255), (255, 55, 199)]


def _draw(img, det, names, path):
    from PIL import Image, ImageDraw

    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    for x1, y1, x2, y2, score, cls in det:
        k = int(cls)
        colour = _COLOURS[k % len(_COLOURS)]
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=max(1, round(min(img.shape[:2]) / 200)))
        label = f"{names[k] if k < len(names) else k} {score:.2f}"
        tw = draw.textlength(label)
        draw.rectangle([x1, max(0, y1 - 11), x1 + tw + 2, max(0, y1 - 11) + 11], fill=colour)
        draw.text((x1 + 1, max(0, y1 - 11)), label, fill=(255, 255, 255))
    tmp = path + ".tmp"
    im.save(tmp, format="PNG")
    os.replace(tmp, path)
