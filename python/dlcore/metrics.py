"""Classification metrics: top-k accuracy, a confusion matrix with per-class and averaged
precision/recall/F1, and a running average of per-batch values (loss, accuracy).

Conventions: accuracies and scores are fractions in [0, 1]; the confusion matrix has true
classes in rows and predicted classes in columns (as scikit-learn and torchmetrics); a score
whose denominator is zero (a class never predicted, or never present) is 0.
"""
import numpy as np

from . import _C
from ._C import Tensor
from ._tensor import eye, ones_like, zeros, zeros_like
from .autograd import no_grad
from ._detection_metrics import MeanAveragePrecision

__all__ = ["accuracy", "ConfusionMatrix", "AverageMeter", "RunningAverage", "MeanAveragePrecision", "MeanIoU",
           "DiceScore", "PixelAccuracy"]


def _shape(t):
    return list(t.shape)


def _as_scores(output, target, op):
    """(N, C) scores and (N,) targets; (N, C, d1, ...) outputs with (N, d1, ...) targets are
    flattened to one row per element (e.g. per pixel)."""
    if not isinstance(output, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{op}: output and target must be Tensors, got {type(output).__name__} and "
                        f"{type(target).__name__}")
    if target.is_floating_point() or target.dtype == _C.dtype.bool:
        raise TypeError(f"{op}: target must hold integer class indices, got {target.dtype}")
    if output.dim() < 2:
        raise ValueError(f"{op}: output must be (N, C) scores, got shape {_shape(output)}")
    expected = [output.shape[0]] + list(output.shape[2:])
    if _shape(target) != expected:
        raise ValueError(f"{op}: target shape {_shape(target)} does not match output shape {_shape(output)} "
                         f"(expected target {expected})")
    if output.dim() > 2:
        c = output.shape[1]
        output = output.permute(0, *range(2, output.dim()), 1).reshape(-1, c)
        target = target.reshape(-1)
    return output.detach(), target.detach()


def accuracy(output, target, topk=(1,)):
    """The fraction of rows whose target class is among the k highest scores, for each k.

    output: (N, C) scores (logits or probabilities); target: (N,) class indices. Returns a list
    of floats, one per k in ``topk``, or one float when ``topk`` is an int. Ties among scores are
    broken by ``topk``'s order.
    """
    single = isinstance(topk, int)
    ks = (topk,) if single else tuple(topk)
    output, target = _as_scores(output, target, "accuracy")
    n, c = output.shape
    if not ks or any(not isinstance(k, int) or not 1 <= k <= c for k in ks):
        raise ValueError(f"accuracy: every k in topk={topk} must be an int in [1, {c}] for output shape "
                         f"{_shape(output)}")
    if n == 0:
        raise ValueError(f"accuracy: empty batch (output shape {_shape(output)})")
    with no_grad():
        _, pred = output.topk(max(ks), dim=1)                     # (N, maxk)
        hit = pred.eq(target.to(pred.device).reshape(-1, 1))      # (N, maxk): True where the class matches
        result = [hit[:, :k].any(dim=1).sum().item() / n for k in ks]
    return result[0] if single else result


class ConfusionMatrix:
    """Counts (true class, predicted class) pairs over batches.

    ``update(preds, target)`` takes predicted class indices (N,) or scores (N, C) (their argmax
    is the prediction) and target class indices (N,); targets equal to ``ignore_index`` are
    skipped. ``compute()`` returns the (C, C) int64 numpy array, rows = true class, columns =
    predicted class. The counts stay a tensor on the device of the inputs until then.
    """

    def __init__(self, num_classes, ignore_index=None):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"ConfusionMatrix: num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.reset()

    def reset(self):
        self._counts = None  # (C * C,) int64, allocated on the first update's device

    def __repr__(self):
        return f"ConfusionMatrix(num_classes={self.num_classes}, total={self.total})"

    def update(self, preds, target):
        c = self.num_classes
        if isinstance(preds, Tensor) and preds.is_floating_point():
            if preds.dim() < 2 or preds.shape[1] != c:
                raise ValueError(f"ConfusionMatrix.update: scores must be (N, {c}, ...), got shape {_shape(preds)}")
            preds, target = _as_scores(preds, target, "ConfusionMatrix.update")
            preds = preds.argmax(dim=1)
        if not isinstance(preds, Tensor) or not isinstance(target, Tensor):
            raise TypeError("ConfusionMatrix.update: preds and target must be Tensors, got "
                            f"{type(preds).__name__} and {type(target).__name__}")
        if preds.is_floating_point() or target.is_floating_point():
            raise TypeError(f"ConfusionMatrix.update: expected class indices, got {preds.dtype} preds and "
                            f"{target.dtype} target")
        if _shape(preds) != _shape(target):
            raise ValueError(f"ConfusionMatrix.update: preds shape {_shape(preds)} does not match target shape "
                             f"{_shape(target)}")
        with no_grad():
            preds = preds.detach().reshape(-1).long()
            target = target.detach().reshape(-1).long().to(preds.device)
            if self.ignore_index is not None:
                keep = target.ne(self.ignore_index)
                preds, target = preds[keep], target[keep]
            if preds.numel() == 0:
                return
            for name, t in (("preds", preds), ("target", target)):
                lo, hi = t.min().item(), t.max().item()
                if lo < 0 or hi >= c:
                    raise ValueError(f"ConfusionMatrix.update: {name} holds class {lo if lo < 0 else hi}, outside "
                                     f"[0, {c}) for num_classes={c}")
            if self._counts is None:
                self._counts = zeros(c * c, dtype=_C.dtype.int64, device=preds.device)
            index = target * c + preds                    # (N,): the flat (true, predicted) cell
            self._counts.scatter_add_(0, index, ones_like(index))

    def _matrix(self):
        """The (C, C) counts as a float64 tensor."""
        c = self.num_classes
        if self._counts is None:
            return zeros(c, c, dtype=_C.dtype.float64)
        return self._counts.reshape(c, c).double()

    @property
    def total(self):
        return 0 if self._counts is None else int(self._counts.sum().item())

    def compute(self):
        """The (C, C) int64 numpy array: entry [i, j] counts samples of class i predicted as j."""
        c = self.num_classes
        if self._counts is None:
            return np.zeros((c, c), dtype=np.int64)
        return self._counts.reshape(c, c).cpu().numpy().copy()

    def accuracy(self):
        """The fraction of samples predicted correctly (the trace over the total)."""
        m = self._matrix()
        total = m.sum().item()
        if total == 0:
            return 0.0
        return (m * eye(self.num_classes, dtype=m.dtype, device=m.device)).sum().item() / total

    def _stats(self):
        """(true positives, predicted counts, true counts), each a (C,) float64 tensor."""
        m = self._matrix()
        tp = (m * eye(self.num_classes, dtype=m.dtype, device=m.device)).sum(dim=1)
        return tp, m.sum(dim=0), m.sum(dim=1)

    def _reduce(self, scores, average, name):
        """Per-class scores (C,) as numpy, or averaged: "macro" over the classes that occur among
        the targets or the predictions, "weighted" by each class's number of targets, "micro" from
        the pooled counts (equal to accuracy for single-label predictions)."""
        tp, predicted, actual = self._stats()
        if average is None:
            return scores.cpu().numpy()
        if average == "macro":
            present = (predicted + actual).gt(0)
            count = present.sum().item()
            return 0.0 if count == 0 else _C.where(present, scores, zeros_like(scores)).sum().item() / count
        if average == "weighted":
            total = actual.sum().item()
            return 0.0 if total == 0 else (scores * actual).sum().item() / total
        if average == "micro":
            return self.accuracy()
        raise ValueError(f"ConfusionMatrix.{name}: average must be None, 'macro', 'weighted' or 'micro', "
                         f"got {average!r}")

    @staticmethod
    def _ratio(num, den):
        """num / den elementwise, 0 where den is 0."""
        safe = _C.where(den.gt(0), den, ones_like(den))
        return _C.where(den.gt(0), num / safe, zeros_like(num))

    def precision(self, average=None):
        """Of the samples predicted as each class, the fraction that belong to it."""
        tp, predicted, _ = self._stats()
        return self._reduce(self._ratio(tp, predicted), average, "precision")

    def recall(self, average=None):
        """Of the samples of each class, the fraction predicted as it."""
        tp, _, actual = self._stats()
        return self._reduce(self._ratio(tp, actual), average, "recall")

    def f1(self, average=None):
        """The harmonic mean of precision and recall per class: 2 tp / (predicted + actual).
        "macro" averages the per-class F1 scores."""
        tp, predicted, actual = self._stats()
        return self._reduce(self._ratio(2 * tp, predicted + actual), average, "f1")


class AverageMeter:
    """The running mean of per-batch values, each weighted by its batch size.

    ``update(val, n=1)``: ``val`` is the mean over a batch of ``n`` samples (a number or a
    one-element Tensor). ``avg`` is then sum(val * n) / sum(n) — the mean over all samples so
    far, not the mean of the batch means; ``val`` is the last value, ``sum`` and ``count`` the
    totals.
    """

    def __init__(self, name="", fmt=":.4f"):
        self.name = name
        self.fmt = fmt
        self.reset()

    def reset(self):
        self.val = 0.0
        self.sum = 0.0
        self.count = 0

    def update(self, val, n=1):
        if isinstance(val, Tensor):
            if val.numel() != 1:
                raise ValueError(f"AverageMeter.update: val must be a number or a one-element tensor, got shape "
                                 f"{_shape(val)}")
            val = val.item()
        if n < 0:
            raise ValueError(f"AverageMeter.update: n must be >= 0, got {n}")
        self.val = float(val)
        self.sum += self.val * n
        self.count += n

    @property
    def avg(self):
        return self.sum / self.count if self.count else 0.0

    def compute(self):
        return self.avg

    def __str__(self):
        return ("{name} {val" + self.fmt + "} ({avg" + self.fmt + "})").format(
            name=self.name, val=self.val, avg=self.avg).strip()

    def __repr__(self):
        return f"AverageMeter(name={self.name!r}, avg={self.avg}, count={self.count})"


RunningAverage = AverageMeter


# ---- segmentation -------------------------------------------------------------------------------
# Note [Segmentation scores from the confusion matrix]: MeanIoU, DiceScore and PixelAccuracy
# (torchmetrics.segmentation's names and arguments) accumulate one ConfusionMatrix over every
# update, 2D and 3D masks alike. For class c with TP, FP, FN counted over all pixels (voxels)
# seen, IoU_c = TP / (TP + FP + FN) and Dice_c = 2 TP / (2 TP + FP + FN): the dataset-level scores
# of the segmentation benchmarks (Cityscapes, mmsegmentation), not a mean of per-image scores. A
# class that appears neither in the targets nor in the predictions has no score (NaN in
# ``per_class`` results) and is left out of the mean, as mmsegmentation's nanmean does;
# ``include_background=False`` leaves class 0 out. Pixels whose target is ``ignore_index`` are not
# counted. Pixel accuracy is the trace over the total.

class _SegmentationMetric:
    def __init__(self, num_classes, input_format="one-hot", ignore_index=None):
        name = type(self).__name__
        if input_format not in ("one-hot", "index"):
            raise ValueError(f"{name}: input_format must be 'one-hot' or 'index', got {input_format!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{name}: num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes, self.input_format = num_classes, input_format
        self.confusion = ConfusionMatrix(num_classes, ignore_index)

    def reset(self):
        self.confusion.reset()

    def update(self, preds, target):
        """``input_format="index"``: integer class maps [N, ...] of one shape; ``"one-hot"``: [N, C,
        ...] one-hot (or score) maps of one shape, reduced by argmax over dim 1."""
        op = f"{type(self).__name__}.update"
        preds = preds if isinstance(preds, Tensor) else _C.from_numpy(np.ascontiguousarray(preds))
        target = target if isinstance(target, Tensor) else _C.from_numpy(np.ascontiguousarray(target))
        if _shape(preds) != _shape(target):
            raise ValueError(f"{op}: preds and target must have the same shape, got {_shape(preds)} and "
                             f"{_shape(target)}")
        if self.input_format == "one-hot":
            if preds.dim() < 3 or preds.shape[1] != self.num_classes:
                raise ValueError(f"{op}: one-hot inputs must be [N, {self.num_classes}, ...], got {_shape(preds)}")
            preds, target = preds.argmax(dim=1), target.argmax(dim=1)
        elif preds.dim() < 2:
            raise ValueError(f"{op}: index inputs must be [N, ...] class maps, got {_shape(preds)}")
        self.confusion.update(preds, target)


class _ClassScore(_SegmentationMetric):
    def __init__(self, num_classes, include_background=True, per_class=False, input_format="one-hot",
                 ignore_index=None):
        super().__init__(num_classes, input_format, ignore_index)
        self.include_background, self.per_class = include_background, per_class

    def compute(self):
        m = self.confusion.compute().astype(np.float64)
        tp = np.diag(m)
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = self._score(tp, m.sum(0) - tp, m.sum(1) - tp)
        if not self.include_background:
            scores = scores[1:]
        if self.per_class:
            return _C.from_numpy(scores.astype(np.float32))
        defined = scores[~np.isnan(scores)]
        return _C.from_numpy(np.array(defined.mean() if defined.size else np.nan, dtype=np.float32))


class MeanIoU(_ClassScore):
    """Mean intersection over union per class (Note [Segmentation scores from the confusion matrix])."""

    @staticmethod
    def _score(tp, fp, fn):
        return tp / (tp + fp + fn)


class DiceScore(_ClassScore):
    """Mean Dice coefficient (F1) per class (Note [Segmentation scores from the confusion matrix])."""

    @staticmethod
    def _score(tp, fp, fn):
        return 2 * tp / (2 * tp + fp + fn)


class PixelAccuracy(_SegmentationMetric):
    """The fraction of counted pixels whose predicted class is the target's (NaN before any pixel)."""

    def compute(self):
        return _C.from_numpy(np.array(self.confusion.accuracy() if self.confusion.total else np.nan,
                                      dtype=np.float32))
