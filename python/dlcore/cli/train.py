"""The training loop behind ``dlcore train`` and ``dlcore eval``, usable from Python:

    from dlcore.cli.train import TrainConfig, train
    result = train(TrainConfig(model="lenet", epochs=3, out="runs/try"))
    result["test_acc"]

``train(config)`` loads the data (cli/data.py), builds the model from the registry, trains
with a progress bar, validates every epoch, writes ``best`` and ``last`` checkpoints,
``metrics.json`` and ``curves.png`` to the output folder and finally evaluates the best
checkpoint on the test split.

Note [Exact resume]: every random choice of a run is a function of (seed, epoch, step): the
shuffle order of epoch e is a permutation drawn from (seed, e), the random shifts of a batch
from (seed, e, step), and dlcore's global generator (dropout, random layers) is re-seeded from
(seed, e, step) before each step. A checkpoint stores the epoch and the steps done in it (with
the running sums of the epoch's training metrics), so a resumed run skips exactly those batches
and then draws the same numbers as the uninterrupted run: its weights are bit-identical. The
DataLoader's prefetch thread only gathers rows (no random numbers), so it cannot disturb this.

Note [Ctrl-C]: while training, SIGINT only sets a flag that the loop reads between steps, so a
checkpoint is never taken in the middle of an optimizer update; the loop then saves ``last``
(with the position inside the epoch) and returns ``status="interrupted"``. A second Ctrl-C, or a
KeyboardInterrupt raised by other code, stops at once; the state is saved too unless it arrived
inside an update (the previous ``last`` is then kept).
"""
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from typing import Optional

import numpy as np

import dlcore
from dlcore import nn
from dlcore.data import DataLoader, TensorDataset

from .data import EpochSampler, Preprocess, channel_stats, load_splits
from .errors import CLIError, one_line

__all__ = ["TrainConfig", "train", "evaluate", "evaluate_checkpoint", "read_checkpoint", "RECIPES", "recipe_for",
           "CLIError", "CHECKPOINT_FORMAT", "BEST", "LAST"]

CHECKPOINT_FORMAT = "dlcore.train/1"
BEST, LAST = "best.safetensors", "last.safetensors"

# Note [Recipes]: the only per-model knowledge of the command. Options the user leaves out come
# from the model's row, then from "default". ``input_size`` is the image side the model expects
# (images are padded or resized to it), None for the dataset's own size; ``translate`` (pixels),
# ``rotate`` (degrees) and ``scale`` (a fraction) the ranges of the random affine augmentation,
# random shift augmentation in pixels.
RECIPES = {
    "default": dict(optimizer="adam", lr=1e-3, momentum=0.9, weight_decay=0.0, epochs=10, batch_size=64,
                    scheduler="none", label_smoothing=0.0, translate=0.0, rotate=0.0, scale=0.0,
                    input_size=None),
    "lenet": dict(optimizer="adam", lr=2e-3, epochs=20, batch_size=64, scheduler="cosine", label_smoothing=0.1,
                  translate=2.0, rotate=10.0, scale=0.1, input_size=28),
    "mlp": dict(optimizer="adam", lr=1e-3, epochs=10, batch_size=128, scheduler="cosine", input_size=28),
    "resnet20": dict(optimizer="sgd", lr=0.1, weight_decay=5e-4, epochs=15, batch_size=128,
                     scheduler="onecycle", translate=2.0, input_size=32),
    "resnet18_cifar": dict(optimizer="sgd", lr=0.05, weight_decay=5e-4, epochs=10, batch_size=128,
                           scheduler="onecycle", translate=2.0, input_size=32),
    "vit": dict(optimizer="adamw", lr=1e-3, weight_decay=0.05, epochs=10, batch_size=64, scheduler="cosine",
                translate=2.0, input_size=28),
}
RECIPES["lenet5"] = RECIPES["lenet"]
RECIPES["vit_tiny_patch4"] = RECIPES["vit"]

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "step", "cosine", "onecycle", "plateau")


def recipe_for(model):
    """The default options for ``model``: the "default" row updated with the model's own."""
    recipe = dict(RECIPES["default"])
    recipe.update(RECIPES.get(model.lower(), {}))
    return recipe


def options_with_defaults(config, recipe):
    """A run config's options as a dict, each one left out (None) taken from ``recipe``."""
    values = dataclasses.asdict(config)
    for key, default in recipe.items():
        if values.get(key) is None:
            values[key] = default
    return values


@dataclasses.dataclass
class TrainConfig:
    """Options of one training run; None means "from the model's recipe" (see RECIPES)."""
    model: str = "lenet"
    dataset: str = "mnist"
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    optimizer: Optional[str] = None
    momentum: Optional[float] = None
    weight_decay: Optional[float] = None
    scheduler: Optional[str] = None
    label_smoothing: Optional[float] = None  # of the training loss (validation/test losses are plain)
    translate: Optional[float] = None      # augmentation (training only): shifts of up to this many
    rotate: Optional[float] = None         # pixels, rotations of up to this many degrees, zoom by a
    scale: Optional[float] = None          # factor in [1 - scale, 1 + scale]
    input_size: Optional[int] = None       # pad/resize images to this side
    out: Optional[str] = None
    resume: Optional[str] = None
    seed: int = 0
    early_stopping: Optional[int] = None
    val_split: Optional[float] = None      # for idx:/folder: datasets without a validation split
    prefetch: int = 2
    device: str = "cpu"
    limit_train: Optional[int] = None      # quick trials: the first N samples of a split
    limit_val: Optional[int] = None
    limit_test: Optional[int] = None
    eval_batch_size: int = 500
    progress: Optional[bool] = None        # None: a progress bar when stderr is a terminal
    schedule_epochs: Optional[int] = None  # the epochs the LR schedule spans (default: epochs)

    def resolved(self):
        """A copy with every None option filled from the model's recipe."""
        values = options_with_defaults(self, recipe_for(self.model))
        if values["schedule_epochs"] is None:
            values["schedule_epochs"] = values["epochs"]
        return TrainConfig(**values)


# The options that define a run (stored in its checkpoints); a resumed run may change only
# _RESUME_OVERRIDES of them, the others come from the checkpoint.
_RUN_KEYS = ("model", "dataset", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay",
             "scheduler", "label_smoothing", "translate", "rotate", "scale", "input_size", "seed",
             "early_stopping", "val_split", "limit_train", "limit_val", "limit_test", "schedule_epochs")
_RESUME_OVERRIDES = ("epochs", "early_stopping", "out", "prefetch", "device", "progress", "eval_batch_size")


def _check_config(c):
    for name in ("epochs", "batch_size", "eval_batch_size", "early_stopping", "limit_train", "limit_val",
                 "limit_test", "input_size"):
        v = getattr(c, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise CLIError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}", 2)
    if not (isinstance(c.lr, (int, float)) and math.isfinite(c.lr) and c.lr > 0):
        raise CLIError(f"--lr must be a positive number, got {c.lr!r}", 2)
    if c.optimizer not in OPTIMIZERS:
        raise CLIError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {c.optimizer!r}", 2)
    if c.scheduler not in SCHEDULERS:
        raise CLIError(f"--scheduler must be one of {', '.join(SCHEDULERS)}, got {c.scheduler!r}", 2)
    if c.weight_decay < 0 or not 0 <= c.momentum < 1:
        raise CLIError(f"--weight-decay must be >= 0 and --momentum in [0, 1), got {c.weight_decay} and "
                       f"{c.momentum}", 2)
    if c.translate < 0 or c.rotate < 0 or not 0 <= c.scale < 1 or c.prefetch < 0:
        raise CLIError(f"--translate, --rotate and --prefetch must be >= 0 and --scale in [0, 1), got "
                       f"{c.translate}, {c.rotate}, {c.prefetch} and {c.scale}", 2)
    if not 0 <= c.label_smoothing < 1:
        raise CLIError(f"--label-smoothing must be in [0, 1), got {c.label_smoothing}", 2)
    if c.val_split is not None and not 0 < c.val_split < 0.5:
        raise CLIError(f"--val-split must be a fraction in (0, 0.5), got {c.val_split}", 2)
    _check_seed(c.seed)
    _check_model_name(c.model)
    _check_device(c.device)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise CLIError(f"--seed must be an integer from 0 to 2**64 - 1, got {seed!r}", 2)


def _check_model_name(name):
    if name.lower() not in dlcore.models.list_models():
        raise CLIError(f"unknown model {name!r}; known models: {', '.join(dlcore.models.list_models())}", 2)


def _check_device(device):
    if device == "cpu":
        return
    if not device.startswith("cuda"):
        raise CLIError(f"--device must be cpu or cuda, got {device!r}", 2)
    if not dlcore.cuda.is_available():
        raise CLIError("--device cuda: CUDA is not available (a CPU-only build, or no GPU on this machine)")


# ---- model, optimizer, scheduler -----------------------------------------------------------------

def _build_model(name, num_classes, in_channels, sample, device):
    """The model, checked on ``sample`` (a preprocessed batch) to give (N, num_classes)."""
    try:
        model = dlcore.models.get_model(name, num_classes=num_classes, in_channels=in_channels)
    except TypeError as e:
        raise CLIError(f"model {name!r} can't be built for {in_channels} input channels and {num_classes} "
                       f"classes: {e}") from None
    if device != "cpu":
        model.to(device)
    model.eval()
    try:
        with dlcore.no_grad():
            out = model(sample)
    except Exception as e:  # noqa: BLE001 - reported as a user error
        raise CLIError(f"model {name!r} does not accept inputs of shape {list(sample.shape)}: {one_line(e)} "
                       "(see --input-size)") from None
    if list(out.shape) != [sample.shape[0], num_classes]:
        raise CLIError(f"model {name!r} gives outputs of shape {list(out.shape)} for inputs {list(sample.shape)}; "
                       f"expected [{sample.shape[0]}, {num_classes}]")
    model.train()
    return model


def _build_optimizer(c, params):
    if c.optimizer == "sgd":
        return dlcore.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay,
                                nesterov=c.momentum > 0)
    if c.optimizer == "adam":
        return dlcore.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
    if c.optimizer == "adamw":
        return dlcore.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay or 1e-2)
    return dlcore.optim.RMSprop(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)


def _build_scheduler(c, optimizer, steps_per_epoch):
    """(scheduler or None, when it steps: "epoch" | "step" | "metric" | None)."""
    S = dlcore.optim.lr_scheduler
    epochs = c.schedule_epochs
    if c.scheduler == "step":
        return S.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1), "epoch"
    if c.scheduler == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=epochs), "epoch"
    if c.scheduler == "onecycle":
        return S.OneCycleLR(optimizer, max_lr=c.lr, total_steps=epochs * steps_per_epoch), "step"
    if c.scheduler == "plateau":
        return S.ReduceLROnPlateau(optimizer, mode="max", factor=0.1, patience=2), "metric"
    return None, None


def _step_seed(seed, epoch, step):
    return int(np.random.SeedSequence([seed, epoch, step]).generate_state(1)[0])


# ---- evaluation and checkpoints ------------------------------------------------------------------

def evaluate(model, split, prep, batch_size=500):
    """(mean cross-entropy, accuracy, number correct) of ``model`` on a Split, in eval mode."""
    was_training = model.training
    model.eval()
    loss_sum, correct, n = 0.0, 0, len(split)
    with dlcore.no_grad():
        for i in range(0, n, batch_size):
            x, y = prep(split.x[i:i + batch_size], split.y[i:i + batch_size])
            out = model(x)
            loss_sum += nn.functional.cross_entropy(out, y, reduction="sum").item()
            correct += int(dlcore.argmax(out, 1).eq(y).sum().item())
    model.train(was_training)
    return loss_sum / max(n, 1), correct / max(n, 1), correct


def read_checkpoint(path, map_location="cpu"):
    """A checkpoint as a dict with at least "model" (a bare state dict is wrapped), or a
    CLIError naming the file."""
    if not os.path.isfile(path):
        raise CLIError(f"checkpoint {path!r} does not exist" if not os.path.exists(path)
                       else f"checkpoint {path!r} is not a file")
    try:
        ckpt = dlcore.load(path, map_location=map_location)
    except Exception as e:  # noqa: BLE001 - every reading failure is reported the same way
        raise CLIError(f"can't read checkpoint {path!r}: {one_line(e)}") from None
    if isinstance(ckpt, dict) and "model" not in ckpt and ckpt and \
            all(isinstance(v, dlcore.Tensor) for v in ckpt.values()):
        ckpt = {"model": ckpt}  # a bare state dict: weights only
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise CLIError(f"{path!r} is not a checkpoint (neither a state dict nor a dict with 'model')")
    return ckpt


def checkpoint_format(path):
    """The "format" a checkpoint of dlcore train names (None for weights only, or a file that can't
    be read: the caller reports that when it reads the file for real)."""
    try:
        return read_checkpoint(path).get("format")
    except CLIError:
        return None


def read_run_checkpoint(path, fmt, kind, map_location="cpu"):
    """read_checkpoint for a checkpoint of format ``fmt``, else a CLIError saying it is not a
    ``kind`` checkpoint of dlcore train."""
    ckpt = read_checkpoint(path, map_location=map_location)
    if ckpt.get("format") != fmt:
        raise CLIError(f"{path!r} is not a {kind} checkpoint of dlcore train")
    return ckpt


def _load_weights(model, state, path, name):
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as e:
        raise CLIError(f"checkpoint {path!r} does not fit model {name!r}: {one_line(e)}") from None


def _write_json(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def _default_out(model):
    base = os.path.join("runs", f"{model}-{time.strftime('%Y%m%d-%H%M%S')}")
    out, k = base, 2
    while os.path.exists(out):
        out, k = f"{base}-{k}", k + 1
    return out


class _SigintFlag:
    """Note [Ctrl-C]: the first SIGINT sets ``requested``, the second raises KeyboardInterrupt."""

    def __init__(self, say):
        self.requested = False
        self.say = say
        self._old = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.say("Ctrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to stop at once)")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


class _Interrupted(Exception):
    pass


def save_interrupted(run, where):
    """Note [Ctrl-C] for a run object (save/say/write_artefacts/result, ``out``, ``in_update``,
    ``c.model``): saves ``last`` unless the interrupt arrived inside an optimizer update, writes the
    artefacts and returns the "interrupted" result. ``where`` says where the run stopped."""
    last = os.path.join(run.out, LAST)
    if run.in_update:
        run.say(f"interrupted during an optimizer update; the last complete checkpoint is {last}")
    else:
        run.save(LAST)
        run.say(f"interrupted at {where}: checkpoint saved to {last}; continue with: dlcore train {run.c.model} "
                f"--resume {last}")
    run.write_artefacts("interrupted")
    return run.result("interrupted")


def stderr_log(line):
    """The default message sink of a run: stderr, through tqdm so that a progress bar stays intact."""
    from tqdm import tqdm
    tqdm.write(line, file=sys.stderr)


def _best(history):
    """(epoch, val_acc) of the best epoch so far (the earliest among equals), (None, None) if none."""
    if not history:
        return None, None
    b = max(history, key=lambda h: (h["val_acc"], -h["epoch"]))
    return b["epoch"], b["val_acc"]


# ---- the run -------------------------------------------------------------------------------------

def resumed_values(config, saved, run_keys, overrides, defaults):
    """The options of a resumed run: the checkpoint's ``saved`` run keys, except the
    ``overrides`` the command line gives; a run key given with another value than the
    checkpoint's (and than its default) is a CLIError: a resumed run keeps its recipe."""
    values = {}
    for key in run_keys:
        given = getattr(config, key)
        if key in overrides and given is not None:
            values[key] = given
            continue
        values[key] = saved.get(key)
        if key != "model" and given is not None and given != getattr(defaults, key) and given != saved.get(key):
            raise CLIError(f"--{key.replace('_', '-')} {given} differs from the checkpoint's {saved.get(key)!r}; "
                           "a resumed run keeps its recipe")
    for key in overrides:
        if key not in run_keys:
            values[key] = getattr(config, key)
    values["resume"] = config.resume
    values["out"] = config.out or os.path.dirname(os.path.abspath(config.resume))
    return values


def _resume_config(config):
    """The resolved config of a resumed run (the checkpoint's, with the allowed overrides) and
    the checkpoint."""
    _check_device(config.device)
    ckpt = read_checkpoint(config.resume, map_location=config.device)
    if ckpt.get("format") != CHECKPOINT_FORMAT or "config" not in ckpt:
        raise CLIError(f"{config.resume!r} holds weights but no training state; it can be evaluated, not resumed")
    saved = ckpt["config"]
    if saved["model"].lower() != config.model.lower():
        raise CLIError(f"checkpoint {config.resume!r} was trained with model {saved['model']!r}, not {config.model!r}")
    c = TrainConfig(**resumed_values(config, saved, _RUN_KEYS, _RESUME_OVERRIDES, TrainConfig())).resolved()
    if c.scheduler == "onecycle" and c.epochs > c.schedule_epochs:
        raise CLIError(f"the one-cycle schedule of this run ends after {c.schedule_epochs} epochs; it can't be "
                       f"extended to {c.epochs}")
    return c, ckpt


class _Run:
    """One training run: the state the loop changes, and the steps of the loop."""

    def __init__(self, config, say):
        self.say = say
        ckpt = None
        if config.resume:
            c, ckpt = _resume_config(config)
        else:
            c = config.resolved()
        _check_config(c)
        self.c = c

        splits = load_splits(c.dataset, c.val_split, c.seed)
        self.train_set = splits["train"].head(c.limit_train).fitted(c.input_size)
        self.val_set = splits["val"].head(c.limit_val).fitted(c.input_size)
        test = splits["test"]
        self.test_set = test.head(c.limit_test).fitted(c.input_size) if test is not None else None
        x = self.train_set.x
        num_classes, in_channels = len(splits["classes"]), x.shape[1]
        mean, std = (ckpt["config"]["data"]["mean"], ckpt["config"]["data"]["std"]) if ckpt else channel_stats(x)
        self.prep = Preprocess(mean, std, c.device)

        dlcore.manual_seed(c.seed)
        self.model = _build_model(c.model, num_classes, in_channels, self.prep(x[:2], self.train_set.y[:2])[0],
                                  c.device)
        self.optimizer = _build_optimizer(c, self.model.parameters())
        self.sampler = EpochSampler(len(self.train_set), c.seed)
        self.loader = DataLoader(TensorDataset(x, self.train_set.y), batch_size=c.batch_size, sampler=self.sampler,
                                 drop_last=len(self.train_set) % c.batch_size == 1,  # a lone sample breaks BN
                                 prefetch=c.prefetch)
        self.steps_per_epoch = len(self.loader)
        self.scheduler, self.sched_when = _build_scheduler(c, self.optimizer, self.steps_per_epoch)

        self.record = {k: getattr(c, k) for k in _RUN_KEYS}
        self.record["data"] = {"num_classes": num_classes, "in_channels": in_channels,
                               "input_size": list(x.shape[1:]), "mean": list(mean), "std": list(std),
                               "classes": list(splits["classes"])}
        self.history, self.epoch, self.step = [], 0, 0
        self.partial = self._fresh_partial()
        if ckpt is not None:
            _load_weights(self.model, ckpt["model"], c.resume, c.model)
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if self.scheduler is not None and ckpt.get("scheduler") is not None:
                self.scheduler.load_state_dict(ckpt["scheduler"])
            self.history = [dict(h) for h in ckpt.get("metrics", [])]
            self.epoch, self.step = int(ckpt["epoch"]), int(ckpt.get("step", 0))
            self.partial = dict(ckpt.get("partial") or self.partial)
            if self.step > self.steps_per_epoch:
                raise CLIError(f"checkpoint {c.resume!r} stopped at step {self.step} of an epoch, but an epoch "
                               f"now has {self.steps_per_epoch} steps (has the dataset changed?)")
        self.out = c.out or _default_out(c.model)
        os.makedirs(self.out, exist_ok=True)
        self.in_update = False
        self.augment = {"translate": c.translate, "degrees": c.rotate, "scale": c.scale} \
            if (c.translate or c.rotate or c.scale) else None

        if ckpt is None:
            sizes = f"{len(self.train_set)} train / {len(self.val_set)} val" + \
                ("" if self.test_set is None else f" / {len(self.test_set)} test")
            say(f"training {c.model} on {c.dataset}: {sizes} images {list(x.shape[1:])}; {c.optimizer} lr {c.lr:g}, "
                f"batch {c.batch_size}, {c.epochs} epochs, scheduler {c.scheduler}, augmentation "
                f"{self._augment_text()}, label smoothing {c.label_smoothing:g}; "
                f"output in {self.out}")
        else:
            where = f", step {self.step}/{self.steps_per_epoch}" if self.step else ""
            say(f"resuming {c.model} from {c.resume} at epoch {self.epoch + 1}{where}; output in {self.out}")

    def _augment_text(self):
        if not self.augment:
            return "none"
        a = self.augment
        return f"shift {a['translate']:g} px, rotate {a['degrees']:g} deg, zoom {a['scale']:g}"

    @staticmethod
    def _fresh_partial():
        # running sums of the current epoch's training metrics (saved with a mid-epoch checkpoint)
        return {"loss_sum": 0.0, "correct": 0, "count": 0, "time": 0.0}

    # ---- artefacts ----
    def save(self, name):
        dlcore.serialization.save_safetensors(
            {"format": CHECKPOINT_FORMAT, "model": self.model.state_dict(),
             "optimizer": self.optimizer.state_dict(),
             "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
             "epoch": self.epoch, "step": self.step, "partial": self.partial, "config": self.record,
             "metrics": self.history}, os.path.join(self.out, name))

    def write_artefacts(self, status, test=None):
        best_epoch, best_acc = _best(self.history)
        _write_json(os.path.join(self.out, "metrics.json"), {
            "model": self.c.model, "dataset": self.c.dataset, "status": status, "config": self.record,
            "history": self.history, "best_epoch": best_epoch, "best_val_acc": best_acc, "test": test,
            "checkpoints": {"best": BEST, "last": LAST}})
        if self.history:
            from .plot import plot_curves
            plot_curves(self.history, os.path.join(self.out, "curves.png"), title=f"{self.c.model} on {self.c.dataset}")

    # ---- the loop ----
    def stop_early(self):
        best_epoch, _ = _best(self.history)
        p = self.c.early_stopping
        return bool(p) and best_epoch is not None and self.history[-1]["epoch"] - best_epoch >= p

    def train_epoch(self, sigint, on_step, show_bar):
        """Trains from ``self.step`` to the end of the epoch; returns the lr of its last step."""
        from tqdm import tqdm

        c, model, optimizer = self.c, self.model, self.optimizer
        model.train()
        self.sampler.set_epoch(self.epoch, self.step * c.batch_size)
        t0 = time.perf_counter() - self.partial["time"]
        lr_used = self.partial.get("lr", optimizer.param_groups[0]["lr"])
        bar = tqdm(total=self.steps_per_epoch, initial=self.step, desc=f"epoch {self.epoch + 1}/{c.epochs}",
                   unit="batch", disable=not show_bar, leave=False, file=sys.stderr, dynamic_ncols=True)
        try:
            for x, y in self.loader:
                if sigint.requested:
                    raise _Interrupted
                dlcore.manual_seed(_step_seed(c.seed, self.epoch, self.step))  # Note [Exact resume]
                rng = np.random.default_rng([c.seed, self.epoch, self.step, 0xA06]) if self.augment else None
                x, y = self.prep(x, y, self.augment, rng)
                out = model(x)
                loss = nn.functional.cross_entropy(out, y, label_smoothing=c.label_smoothing)
                optimizer.zero_grad()
                loss.backward()
                # the reported training loss is the plain cross-entropy, comparable with validation's
                loss_value = (nn.functional.cross_entropy(out.detach(), y) if c.label_smoothing else loss).item()
                correct = int(dlcore.argmax(out.detach(), 1).eq(y).sum().item())
                lr_used = optimizer.param_groups[0]["lr"]
                self.in_update = True
                optimizer.step()
                if self.sched_when == "step":
                    self.scheduler.step()
                p = self.partial
                p["loss_sum"] += loss_value * y.shape[0]
                p["correct"] += correct
                p["count"] += y.shape[0]
                p["lr"] = lr_used
                self.step += 1
                p["time"] = time.perf_counter() - t0
                self.in_update = False
                bar.set_postfix({"loss": f"{p['loss_sum'] / p['count']:.4f}",
                                 "samples/s": f"{p['count'] / max(p['time'], 1e-9):.0f}"}, refresh=False)
                bar.update(1)
                if on_step is not None:
                    on_step({"epoch": self.epoch, "step": self.step, "steps_per_epoch": self.steps_per_epoch,
                             "loss": loss_value})
        finally:
            bar.close()
        if sigint.requested:
            raise _Interrupted
        return lr_used

    def end_epoch(self, lr_used):
        """Validation, schedulers, checkpoints and artefacts at the end of an epoch."""
        c, p = self.c, self.partial
        t0 = time.perf_counter()
        val_loss, val_acc, _ = evaluate(self.model, self.val_set, self.prep, c.eval_batch_size)
        row = {"epoch": self.epoch + 1, "train_loss": p["loss_sum"] / max(p["count"], 1),
               "train_acc": p["correct"] / max(p["count"], 1), "val_loss": val_loss, "val_acc": val_acc,
               "lr": lr_used, "time": p["time"] + time.perf_counter() - t0}
        _, best_acc = _best(self.history)
        improved = best_acc is None or val_acc > best_acc
        self.history.append(row)
        if self.sched_when == "epoch":
            self.scheduler.step()
        elif self.sched_when == "metric":
            self.scheduler.step(val_acc)
        self.epoch, self.step, self.partial = self.epoch + 1, 0, self._fresh_partial()
        self.save(LAST)
        if improved:
            self.save(BEST)
        self.write_artefacts("running")
        self.say(f"epoch {self.epoch}/{c.epochs}  train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.2f}%"
                 f"  val loss {val_loss:.4f} acc {100 * val_acc:.2f}%  lr {lr_used:.3g}  {row['time']:.1f}s"
                 f"{'  *best' if improved else ''}")

    def fit(self, on_step=None):
        c = self.c
        show_bar = c.progress if c.progress is not None else sys.stderr.isatty()
        status = "completed"
        with _SigintFlag(self.say) as sigint:
            try:
                while self.epoch < c.epochs:
                    if self.step == 0 and self.stop_early():
                        status = "early_stopping"
                        break
                    lr_used = self.train_epoch(sigint, on_step, show_bar)
                    self.end_epoch(lr_used)
                    if sigint.requested:
                        raise _Interrupted
            except (_Interrupted, KeyboardInterrupt):
                return self.interrupted()
        if status == "early_stopping":
            self.say(f"early stopping: validation accuracy has not improved for {c.early_stopping} epochs")
        return self.finish(status)

    def interrupted(self):
        return save_interrupted(self, f"epoch {self.epoch + 1}, step {self.step}/{self.steps_per_epoch}")

    def finish(self, status):
        """Evaluates the best checkpoint on the test split and writes the final artefacts."""
        best_epoch, best_acc = _best(self.history)
        test = None
        if self.test_set is not None and best_epoch is not None:
            path = os.path.join(self.out, BEST)
            _load_weights(self.model, read_checkpoint(path, self.c.device)["model"], path, self.c.model)
            loss, acc, correct = evaluate(self.model, self.test_set, self.prep, self.c.eval_batch_size)
            test = {"loss": loss, "acc": acc, "correct": correct, "count": len(self.test_set), "checkpoint": BEST,
                    "epoch": best_epoch}
            self.say(f"test accuracy {100 * acc:.2f}% ({correct}/{len(self.test_set)}), loss {loss:.4f} "
                     f"(best checkpoint: epoch {best_epoch}, val accuracy {100 * best_acc:.2f}%)")
        self.write_artefacts(status, test)
        self.say(f"wrote {os.path.join(self.out, BEST)}, {LAST}, metrics.json and curves.png")
        return self.result(status, test)

    def result(self, status, test=None):
        best_epoch, best_acc = _best(self.history)
        return {"status": status, "out": self.out, "history": self.history, "epochs_done": self.epoch,
                "best_epoch": best_epoch, "best_val_acc": best_acc, "test_acc": test["acc"] if test else None,
                "test_loss": test["loss"] if test else None}


def train(config, on_step=None, log=None):
    """Runs the training described by ``config`` (a TrainConfig) and returns a dict: "status"
    ("completed" | "early_stopping" | "interrupted"), "out", "history" (per-epoch dicts),
    "epochs_done", "best_epoch", "best_val_acc", "test_acc" and "test_loss" (None when
    interrupted or without a test split).

    ``on_step(info)`` is called after every optimizer step with a dict (epoch, step,
    steps_per_epoch, loss); ``log(line)`` receives the messages (default: stderr, through tqdm).
    """
    return _Run(config, log or stderr_log).fit(on_step)


def evaluate_checkpoint(path, dataset=None, split="test", model_name=None, batch_size=500, device="cpu",
                        limit=None):
    """Evaluates a checkpoint written by ``train`` (or a bare model state dict, with
    ``model_name``) on ``split`` of ``dataset`` (default: the checkpoint's). Returns (loss,
    accuracy, correct, count, description)."""
    _check_device(device)
    ckpt = read_checkpoint(path, map_location=device)
    config = ckpt.get("config") or {}
    name = model_name or config.get("model")
    if name is None:
        raise CLIError(f"{path!r} does not say which model it holds; pass --model")
    _check_model_name(name)
    dataset = dataset or config.get("dataset", "mnist")
    same_data = dataset == config.get("dataset")
    splits = load_splits(dataset, config.get("val_split") if same_data else None, config.get("seed", 0))
    part = splits[split]
    if part is None:
        raise CLIError(f"dataset {dataset!r} has no {split} split")
    data = config.get("data")
    part = part.head(limit).fitted(data["input_size"][-1] if data else recipe_for(name)["input_size"])
    num_classes = data["num_classes"] if data else len(splits["classes"])
    if len(splits["classes"]) > num_classes:
        raise CLIError(f"dataset {dataset!r} has {len(splits['classes'])} classes but the checkpoint's model "
                       f"predicts {num_classes}")
    mean, std = (data["mean"], data["std"]) if data else channel_stats(part.x)
    if len(mean) != part.x.shape[1]:
        raise CLIError(f"the checkpoint's model takes {len(mean)}-channel images but {dataset!r} has "
                       f"{part.x.shape[1]} channels")
    try:
        model = dlcore.models.get_model(name, num_classes=num_classes, in_channels=part.x.shape[1])
    except TypeError as e:
        raise CLIError(f"model {name!r} can't be built: {e}") from None
    _load_weights(model, ckpt["model"], path, name)
    if device != "cpu":
        model.to(device)
    loss, acc, correct = evaluate(model, part, Preprocess(mean, std, device), batch_size)
    return loss, acc, correct, len(part), f"{name} on {dataset} {split}"
