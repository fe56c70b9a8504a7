"""Loss and accuracy curves of a training run as a PNG (matplotlib, drawn off-screen)."""
import os

__all__ = ["plot_curves", "plot_lm_curves", "plot_detection_curves", "plot_segmentation_curves"]


def plot_curves(history, path, title=None):
    """Writes two panels to ``path``: loss and accuracy per epoch, train vs validation, with the
    best validation epoch marked, so overfitting (train loss falling while validation loss
    rises) shows at a glance. ``history`` is the list of per-epoch dicts of ``metrics.json``."""
    # The object-oriented API with the Agg canvas: no pyplot, no GUI backend, no global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    best = max(history, key=lambda h: (h["val_acc"], -h["epoch"]))["epoch"] if history else None
    panels = ((ax_loss, "loss", "cross-entropy loss", 1.0), (ax_acc, "acc", "accuracy (%)", 100.0))
    for ax, key, label, scale in panels:
        ax.plot(epochs, [scale * h[f"train_{key}"] for h in history], "o-", label="train", markersize=3)
        ax.plot(epochs, [scale * h[f"val_{key}"] for h in history], "s-", label="validation", markersize=3)
        if best is not None:
            ax.axvline(best, color="gray", linestyle=":", linewidth=1, label=f"best val acc (epoch {best})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    _save_png(fig, path)


def _save_png(fig, path):
    """Writes the figure next to ``path`` and renames it into place: a reader never sees half a PNG."""
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)


def plot_lm_curves(history, path, title=None, per_char=True):
    """Writes the training and validation loss of a language-model run against the optimizer
    step to ``path``, in nats (left axis) and bits per character or byte (right axis), with the
    best validation step marked."""
    import math

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps = [h["step"] for h in history]
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(steps, [h["train_loss"] for h in history], "o-", label="train", markersize=3)
    ax.plot(steps, [h["val_loss"] for h in history], "s-", label="validation", markersize=3)
    best = min(history, key=lambda h: (h["val_loss"], h["step"]))["step"]
    ax.axvline(best, color="gray", linestyle=":", linewidth=1, label=f"best val loss (step {best})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    bits = ax.secondary_yaxis("right", functions=(lambda n: n / math.log(2), lambda b: b * math.log(2)))
    bits.set_ylabel("bits per character" if per_char else "bits per byte")
    if title:
        ax.set_title(title)
    _save_png(fig, path)


def _epoch_panels():
    """A 10x4 figure with two side-by-side axes over epochs (Agg canvas, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, 2)


def _finish_epoch_panels(fig, axes, title, path):
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    _save_png(fig, path)


def _mark_best(ax, history, key, label):
    if history:
        best = max(history, key=lambda h: (h[key], -h["epoch"]))["epoch"]
        ax.axvline(best, color="gray", linestyle=":", linewidth=1, label=f"{label} (epoch {best})")


def plot_detection_curves(history, path, title=None):
    """Writes two panels to ``path`` for a detector: the training loss terms (box, cls, dfl) per
    epoch, and validation mAP@0.5 and mAP@0.5:0.95 with the best epoch marked."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_map) = _epoch_panels()
    for key in ("box", "cls", "dfl"):
        ax_loss.plot(epochs, [h[f"{key}_loss"] for h in history], "o-", label=f"{key} loss", markersize=3)
    ax_loss.set_ylabel("training loss (gain-weighted)")
    ax_map.plot(epochs, [100 * h["val_map_50"] for h in history], "s-", label="val mAP@0.5", markersize=3)
    ax_map.plot(epochs, [100 * h["val_map"] for h in history], "o-", label="val mAP@0.5:0.95", markersize=3)
    ax_map.set_ylabel("mAP (%)")
    _mark_best(ax_map, history, "val_map", "best")
    _finish_epoch_panels(fig, (ax_loss, ax_map), title, path)


def plot_segmentation_curves(history, path, title=None):
    """Writes two panels to ``path`` for a segmentation run: training and validation loss per
    epoch, and validation mIoU, mean Dice and pixel accuracy with the best epoch (by mIoU) marked."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_score) = _epoch_panels()
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train", markersize=3)
    ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation", markersize=3)
    ax_loss.set_ylabel("loss")
    for key, label in (("val_miou", "val mIoU"), ("val_mdice", "val mean Dice"), ("val_pixel_acc", "val pixel acc")):
        ax_score.plot(epochs, [100 * h[key] for h in history], "o-", label=label, markersize=3)
    ax_score.set_ylabel("score (%)")
    _mark_best(ax_score, history, "val_miou", "best mIoU")
    _finish_epoch_panels(fig, (ax_loss, ax_score), title, path)
