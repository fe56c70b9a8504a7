"""Loss functions as modules (``reduction`` in 'none' | 'mean' | 'sum', as in PyTorch)."""
import dlcore

from .. import functional as F
from ..module import Module


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'none', 'mean' or 'sum', got '{reduction}'")
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy over class dim 1 with class-index or class-probability targets."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return dlcore.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                                    self.label_smoothing)


class NLLLoss(_WeightedLoss):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return dlcore.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class BCELoss(_WeightedLoss):
    def forward(self, input, target):
        return dlcore.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return dlcore.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class MSELoss(_Loss):
    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, self.reduction, self.delta)


class KLDivLoss(_Loss):
    def __init__(self, reduction="mean", log_target=False):
        if reduction == "batchmean":
            super().__init__("mean")
            self.reduction = "batchmean"
        else:
            super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, self.reduction, self.log_target)


class DiceLoss(_Loss):
    r"""Soft Dice loss for binary (or multi-label) and multi-class segmentation. Not in PyTorch.

    With probabilities ``p`` and targets ``g`` summed over the spatial dims of each sample (and
    each class, in the multi-class case)::

        dice = (2 * sum(p * g) + smooth) / (sum(p) + sum(g) + smooth)
        loss = 1 - dice

    and with ``squared_denominator=True`` (the V-Net form) the denominator is
    ``sum(p^2) + sum(g^2) + smooth``.

    Shapes:
      * binary / multi-label: ``input`` (N, *) and ``target`` of the same shape with values in [0, 1];
        ``p = sigmoid(input)`` if ``from_logits`` else ``input``; one Dice per sample (sums over all
        dims but 0).
      * multi-class: ``input`` (N, C, *) and ``target`` (N, *) of class indices (auto-detected), or
        ``target`` (N, C, *) one-hot / probabilities with ``multiclass=True``;
        ``p = softmax(input, dim=1)`` if ``from_logits`` else ``input``; one Dice per (sample, class).

    ``reduction``: 'mean' averages the per-sample (per-sample-and-class) losses, 'sum' adds them,
    'none' returns them with shape (N,) or (N, C).
    """

    def __init__(self, from_logits=True, squared_denominator=False, smooth=1.0, reduction="mean",
                 multiclass=None):
        super().__init__(reduction)
        self.from_logits = from_logits
        self.squared_denominator = squared_denominator
        self.smooth = smooth
        self.multiclass = multiclass

    def forward(self, input, target):
        return F.soft_dice_loss(input, target, self.from_logits, self.squared_denominator, self.smooth,
                                self.reduction, self.multiclass)

    def extra_repr(self):
        return (f"from_logits={self.from_logits}, squared_denominator={self.squared_denominator}, "
                f"smooth={self.smooth}, reduction={self.reduction!r}")
