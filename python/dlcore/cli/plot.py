"""Loss and accuracy curves of a training run as a PNG (matplotlib, drawn off-screen)."""
import os

__all__ = ["plot_curves", "plot_lm_curves"]


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
