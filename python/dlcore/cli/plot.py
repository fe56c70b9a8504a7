"""Loss and accuracy curves of a training run as a PNG (matplotlib, drawn off-screen)."""
import os

__all__ = ["plot_curves"]


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
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
