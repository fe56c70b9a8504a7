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


class DiceCELoss(_Loss):
    r"""Soft Dice plus cross-entropy for multi-class segmentation (MONAI's DiceCELoss convention)::

        loss = lambda_dice * dice_loss + lambda_ce * cross_entropy

    ``input``: logits (N, C, *) (2D or 3D maps); ``target``: class indices (N, *). The Dice term is
    :class:`DiceLoss` on ``softmax(input, 1)`` against the one-hot target, one Dice per (sample,
    class) averaged (``smooth`` and ``squared_denominator`` as there; ``include_background=False``
    leaves class 0 out of it); the cross-entropy term is ``F.cross_entropy`` with the class
    ``weight`` and ``ignore_index``. Pixels whose target is ``ignore_index`` count in neither term.
    """

    def __init__(self, lambda_dice=1.0, lambda_ce=1.0, weight=None, ignore_index=-100, smooth=1.0,
                 squared_denominator=False, include_background=True):
        super().__init__("mean")
        if lambda_dice < 0 or lambda_ce < 0:
            raise ValueError(f"DiceCELoss: lambda_dice and lambda_ce must be >= 0, got {lambda_dice} and {lambda_ce}")
        self.lambda_dice, self.lambda_ce = lambda_dice, lambda_ce
        self.weight, self.ignore_index = weight, ignore_index
        self.smooth, self.squared_denominator, self.include_background = smooth, squared_denominator, include_background

    def forward(self, input, target):
        if input.dim() < 3 or target.is_floating_point() or \
                tuple(target.shape) != (input.shape[0],) + tuple(input.shape[2:]):
            raise ValueError(f"DiceCELoss: expected logits (N, C, *) and class indices (N, *), got input "
                             f"{list(input.shape)} and target {list(target.shape)} ({target.dtype})")
        ce = F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index)
        valid = target.ne(self.ignore_index)
        clean = dlcore.where(valid, target, dlcore.zeros_like(target))
        g = dlcore.one_hot(clean, input.shape[1])
        g = g.permute([0, g.dim() - 1] + list(range(1, g.dim() - 1))).to(input.dtype)
        mask = valid.unsqueeze(1).to(input.dtype)
        p = dlcore.softmax(input, 1) * mask
        g = g * mask
        if not self.include_background:
            p, g = p[:, 1:], g[:, 1:]
        dice = F.soft_dice_loss(p, g, from_logits=False, squared_denominator=self.squared_denominator,
                                smooth=self.smooth, multiclass=True)
        return self.lambda_dice * dice + self.lambda_ce * ce

    def extra_repr(self):
        return (f"lambda_dice={self.lambda_dice}, lambda_ce={self.lambda_ce}, ignore_index={self.ignore_index}, "
                f"include_background={self.include_background}")


class OhemCrossEntropyLoss(_WeightedLoss):
    r"""Cross-entropy over the hard pixels only (online hard example mining, the loss of the
    real-time segmentation recipes: BiSeNet, LETNet). Not in PyTorch.

    ``input``: logits (N, C, *); ``target``: class indices (N, *). A pixel is hard when the
    softmax probability of its target class is at most ``thresh``; when fewer than ``min_kept``
    pixels are that hard, the threshold rises to the ``min_kept``-th smallest probability, so
    at least ``min_kept`` pixels (all valid ones when there are fewer) are kept. The loss is
    the cross-entropy (class ``weight``, mean over the kept pixels, weighted as
    :class:`CrossEntropyLoss`) of the kept pixels; the others and ``ignore_index`` pixels count
    as ignored. The selection carries no gradient.
    """

    def __init__(self, thresh=0.7, min_kept=100000, weight=None, ignore_index=-100):
        super().__init__(weight, "mean")
        if not 0.0 <= thresh <= 1.0:
            raise ValueError(f"OhemCrossEntropyLoss: thresh must be in [0, 1], got {thresh}")
        if not isinstance(min_kept, int) or min_kept < 0:
            raise ValueError(f"OhemCrossEntropyLoss: min_kept must be an integer >= 0, got {min_kept!r}")
        self.thresh, self.min_kept, self.ignore_index = float(thresh), min_kept, ignore_index

    def forward(self, input, target):
        if input.dim() < 2 or target.is_floating_point() or \
                tuple(target.shape) != (input.shape[0],) + tuple(input.shape[2:]):
            raise ValueError(f"OhemCrossEntropyLoss: expected logits (N, C, *) and class indices (N, *), got input "
                             f"{list(input.shape)} and target {list(target.shape)} ({target.dtype})")
        with dlcore.no_grad():
            valid = target.ne(self.ignore_index)
            n_valid = int(valid.sum().item())
            if n_valid > self.min_kept:
                ce = F.cross_entropy(input.detach(), target, ignore_index=self.ignore_index, reduction="none")
                prob = dlcore.where(valid, dlcore.exp(-ce), dlcore.ones_like(ce)).reshape(-1)
                threshold = self.thresh
                if self.min_kept > 0:
                    kth = float(prob.topk(self.min_kept, 0, False, True)[0][-1].item())
                    threshold = max(threshold, kth)
                kept = valid & prob.reshape(target.shape).le(threshold)
                target = dlcore.where(kept, target, dlcore.full_like(target, self.ignore_index))
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index)

    def extra_repr(self):
        return f"thresh={self.thresh}, min_kept={self.min_kept}, ignore_index={self.ignore_index}"


def _legacy_reduction(size_average, reduce, reduction):
    """The reduction that torch's deprecated ``size_average`` / ``reduce`` flags select (either one
    given overrides ``reduction``)."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else ("mean" if size_average else "sum")


class CTCLoss(_Loss):
    """Connectionist Temporal Classification loss (see ``F.ctc_loss``)."""

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__(reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                          self.zero_infinity)


class _MarginLoss(_Loss):
    def __init__(self, margin, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_legacy_reduction(size_average, reduce, reduction))
        self.margin = margin


class MarginRankingLoss(_MarginLoss):
    """max(0, -y (x1 - x2) + margin) for y in {1, -1}."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, self.margin, self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """x where y == 1, max(0, margin - x) where y == -1."""

    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, self.margin, self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    """1 - cos(x1, x2) where y == 1, max(0, cos(x1, x2) - margin) where y == -1."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class SoftMarginLoss(_Loss):
    """log(1 + exp(-y x)) for y in {1, -1}."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_legacy_reduction(size_average, reduce, reduction))

    def forward(self, input, target):
        return F.soft_margin_loss(input, target, self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood (see ``F.poisson_nll_loss``)."""

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean"):
        super().__init__(_legacy_reduction(size_average, reduce, reduction))
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood with a predicted variance (see ``F.gaussian_nll_loss``)."""

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Per-class logistic loss averaged over the classes of (N, C) inputs."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(weight, _legacy_reduction(size_average, reduce, reduction))

    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(input, target, self.weight, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-class multi-label hinge loss with -1-terminated class-index targets."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_legacy_reduction(size_average, reduce, reduction))

    def forward(self, input, target):
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss: sum over i != y of max(0, margin - x[y] + x[i])^p / C."""

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(weight, _legacy_reduction(size_average, reduce, reduction))
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got {p}")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """max(0, d(a, p) - d(a, n) + margin) with the p-norm pairwise distance."""

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_legacy_reduction(size_average, reduce, reduction))
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps, self.swap,
                                     reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """max(0, d(a, p) - d(a, n) + margin) for a given distance function d."""

    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: margin must be greater than 0, got {margin}")
        self.distance_function = distance_function
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_with_distance_loss(anchor, positive, negative,
                                                   distance_function=self.distance_function, margin=self.margin,
                                                   swap=self.swap, reduction=self.reduction)
