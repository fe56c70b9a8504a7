"""The margin, ranking, embedding, likelihood and CTC losses of ``dlcore.nn.functional``, composed of
differentiable ops (``reduction`` in 'none' | 'mean' | 'sum', as in torch.nn.functional)."""
import math

import dlcore

from .functional import _check_same_shape, _reduce, pairwise_distance

__all__ = [
    "cosine_embedding_loss", "ctc_loss", "gaussian_nll_loss", "hinge_embedding_loss", "margin_ranking_loss",
    "multi_margin_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss", "poisson_nll_loss",
    "soft_margin_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss",
]


def _check_reduction(reduction, op):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: reduction must be one of ('none', 'mean', 'sum'), got '{reduction}'")


def _log1pexp(z):
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), finite for every finite z."""
    return dlcore.clamp(z, min=0.0) + dlcore.log1p(dlcore.exp(-dlcore.abs(z)))


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """max(0, -target * (input1 - input2) + margin), target in {1, -1}."""
    _check_reduction(reduction, "margin_ranking_loss")
    if not (input1.dim() == input2.dim() == target.dim()):
        raise ValueError(f"margin_ranking_loss: input1 {list(input1.shape)}, input2 {list(input2.shape)} and target "
                         f"{list(target.shape)} must have the same number of dims")
    loss = dlcore.clamp(-target * (input1 - input2) + margin, min=0.0)
    return _reduce(loss, reduction, "margin_ranking_loss")


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """x where target == 1, max(0, margin - x) where target == -1."""
    _check_reduction(reduction, "hinge_embedding_loss")
    below = dlcore.where(target != 1, dlcore.clamp(margin - input, min=0.0), 0.0)
    above = dlcore.where(target != -1, input, 0.0)
    return _reduce(below + above, reduction, "hinge_embedding_loss")


def soft_margin_loss(input, target, reduction="mean"):
    """log(1 + exp(-target * input)), target in {1, -1}."""
    _check_reduction(reduction, "soft_margin_loss")
    _check_same_shape(input, target, "soft_margin_loss")
    loss = _log1pexp(-target * input)
    return _reduce(loss, reduction, "soft_margin_loss")


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where target == -1; the
    cosine is taken over the last dim of (N, D) or (D,) inputs."""
    _check_reduction(reduction, "cosine_embedding_loss")
    if input1.dim() not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise ValueError(f"cosine_embedding_loss: input1 {list(input1.shape)} and input2 {list(input2.shape)} must "
                         "both be (N, D) or (D,)")
    if target.dim() != input1.dim() - 1:
        raise ValueError(f"cosine_embedding_loss: target {list(target.shape)} must be (N,) for (N, D) inputs and "
                         f"0-D for (D,) inputs, got inputs {list(input1.shape)}")
    eps = 1e-12
    d = input1.dim() - 1
    prod = (input1 * input2).sum(d)
    mag = ((input1 * input1).sum(d) + eps) * ((input2 * input2).sum(d) + eps)
    cos = prod / dlcore.sqrt(mag)
    zero = cos * 0.0
    pos = dlcore.where(target == 1, 1.0 - cos, zero)
    neg = dlcore.where(target == -1, dlcore.clamp(cos - margin, min=0.0), zero)
    return _reduce(pos + neg, reduction, "cosine_embedding_loss")


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """Negative log-likelihood of ``target`` under Poisson(rate): exp(input) - target * input with
    ``log_input`` (input = log rate), else input - target * log(input + eps); ``full`` adds the
    Stirling term target log target - target + log(2 pi target) / 2 where target > 1."""
    _check_reduction(reduction, "poisson_nll_loss")
    if log_input:
        loss = dlcore.exp(input) - target * input
    else:
        loss = input - target * dlcore.log(input + eps)
    if full:
        safe = dlcore.where(target > 1, target, 1.0)
        stirling = safe * dlcore.log(safe) - safe + 0.5 * dlcore.log(2 * math.pi * safe)
        loss = loss + dlcore.where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction, "poisson_nll_loss")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """(log var + (input - target)^2 / var) / 2 (+ log(2 pi) / 2 with ``full``), with ``var`` shaped
    like input, like input without its last dim, or with a last dim of 1; var is clamped below at
    ``eps`` for the value only (its gradient passes unchanged)."""
    _check_reduction(reduction, "gaussian_nll_loss")
    if isinstance(var, (int, float)):
        var = dlcore.full_like(input, float(var))
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError(f"gaussian_nll_loss: var is of incorrect size {list(var.shape)} for input "
                             f"{list(input.shape)}")
    if bool((var < 0).any()):
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    var = var + (dlcore.clamp(var, min=eps) - var).detach()
    loss = 0.5 * (dlcore.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(y log sigmoid(x) + (1 - y) log sigmoid(-x)) averaged over the C classes of (N, C) inputs."""
    _check_reduction(reduction, "multilabel_soft_margin_loss")
    _check_same_shape(input, target, "multilabel_soft_margin_loss")
    if input.dim() == 0:
        raise ValueError("multilabel_soft_margin_loss: expected an input (N, C) or (C,), got a 0-D tensor")
    loss = target * _log1pexp(-input) + (1 - target) * _log1pexp(input)
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(input.dim() - 1) / input.shape[-1]
    return _reduce(loss, reduction, "multilabel_soft_margin_loss")


def _class_target(input, target, op):
    """Checks an (N, C) or (C,) input against a class-index target (N,) or 0-D."""
    if input.dim() not in (1, 2) or target.dim() != input.dim() - 1:
        raise ValueError(f"{op}: expected input (N, C) with target (N,) or input (C,) with a 0-D target, got input "
                         f"{list(input.shape)} and target {list(target.shape)}")
    if input.dim() == 2 and target.shape[0] != input.shape[0]:
        raise ValueError(f"{op}: target {list(target.shape)} and input {list(input.shape)} have different batch sizes")
    if target.is_floating_point():
        raise TypeError(f"{op}: target must hold class indices (an integer tensor), got {target.dtype}")
    c = input.shape[-1]
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= c):
        raise IndexError(f"{op}: target values must be in [0, {c}), got a value out of range")


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """sum over classes i != y of max(0, margin - x[y] + x[i])^p / C (times weight[y]), for class
    indices y."""
    _check_reduction(reduction, "multi_margin_loss")
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 are supported, got {p}")
    _class_target(input, target, "multi_margin_loss")
    c = input.shape[-1]
    if weight is not None and tuple(weight.shape) != (c,):
        raise ValueError(f"multi_margin_loss: weight of shape {list(weight.shape)} must be ({c},)")
    x = input if input.dim() == 2 else input.unsqueeze(0)
    y = target.reshape(-1, 1).to(dlcore.int64)
    xy = x.gather(1, y)
    z = margin - xy + x
    z = dlcore.where(z > 0, z, 0.0)  # a NaN margin counts as satisfied, as in torch's kernel
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight.index_select(0, y.reshape(-1)).unsqueeze(1)
    others = dlcore.ones_like(x).scatter(1, y, 0.0) != 0
    loss = dlcore.where(others, z, 0.0).sum(1) / c
    if input.dim() == 1:
        loss = loss.squeeze(0)
    return _reduce(loss, reduction, "multi_margin_loss")


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over target classes j and non-target classes k of max(0, 1 - (x[j] - x[k])) / C; the
    target (like input) lists class indices and ends at the first -1."""
    import numpy as np

    _check_reduction(reduction, "multilabel_margin_loss")
    if input.dim() not in (1, 2) or tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"multilabel_margin_loss: expected input and target both (N, C) or (C,), got input "
                         f"{list(input.shape)} and target {list(target.shape)}")
    if target.is_floating_point():
        raise TypeError(f"multilabel_margin_loss: target must hold class indices, got {target.dtype}")
    x = input if input.dim() == 2 else input.unsqueeze(0)
    t = target.cpu().numpy().reshape(x.shape[0], x.shape[1]).astype(np.int64)
    n, c = t.shape
    count = np.zeros((n, c))
    for i in range(n):
        for j in t[i]:
            if j < 0:
                break
            if j >= c:
                raise IndexError(f"multilabel_margin_loss: target value {j} out of range [0, {c})")
            count[i, j] += 1
    is_target = count > 0
    pair = count[:, :, None] * (~is_target)[:, None, :]  # (N, j, k)
    pair = dlcore.tensor(pair, dtype=x.dtype, device=x.device)
    hinge = 1.0 - x.unsqueeze(2) + x.unsqueeze(1)
    hinge = dlcore.where(hinge > 0, hinge, 0.0)
    loss = dlcore.where(pair != 0, hinge * pair, 0.0).sum([1, 2]) / c
    if input.dim() == 1:
        loss = loss.squeeze(0)
    return _reduce(loss, reduction, "multilabel_margin_loss")


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, d(a, p) - d(a, n) + margin) with the p-norm pairwise distance d; ``swap`` uses
    min(d(a, n), d(p, n)) for the negative distance."""
    _check_reduction(reduction, "triplet_margin_loss")
    dims = {anchor.dim(), positive.dim(), negative.dim()}
    if len(dims) != 1 or dims.pop() not in (1, 2):
        raise ValueError(f"triplet_margin_loss: anchor {list(anchor.shape)}, positive {list(positive.shape)} and "
                         f"negative {list(negative.shape)} must all be (N, D) or all (D,)")
    return triplet_margin_with_distance_loss(
        anchor, positive, negative, distance_function=lambda a, b: pairwise_distance(a, b, p, eps),
        margin=margin, swap=swap, reduction=reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean"):
    """max(0, d(a, p) - d(a, n) + margin) for any ``distance_function`` d (pairwise_distance by
    default)."""
    _check_reduction(reduction, "triplet_margin_with_distance_loss")
    if margin <= 0:
        raise ValueError(f"triplet_margin_with_distance_loss: margin must be greater than 0, got {margin}")
    dist = distance_function if distance_function is not None else pairwise_distance
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = dlcore.minimum(d_neg, dist(positive, negative))
    loss = dlcore.clamp(margin + d_pos - d_neg, min=0.0)
    return _reduce(loss, reduction, "triplet_margin_with_distance_loss")


# Note [CTC in log space]
# The CTC forward variable alpha_t(s) over the extended label sequence l' (the target with a
# blank before, between and after its labels, length 2S + 1) follows
#   alpha_t(s) = logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2) [if l'_s != blank
#                and l'_s != l'_{s-2}]) + log_probs[t, l'_s],
# one vectorised step per frame over (N, 2S + 1), so autograd differentiates the recursion (its
# backward is the beta recursion). Impossible states hold a large finite negative number rather
# than -inf, which keeps logsumexp's gradient finite; a loss at that level is an impossible
# alignment and reported as inf (or 0 with zero_infinity). The gradient with respect to
# log_probs is the exact one; torch's differs by a term that log_softmax's backward cancels, so the
# two agree on the gradient with respect to the logits.
_CTC_NEG = -1e30


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """Connectionist Temporal Classification loss of ``log_probs`` (T, N, C) (or (T, C)) against
    ``targets`` (N, S) padded or 1-D concatenated, with per-sample input and target lengths; 'mean'
    divides each loss by its target length before averaging over the batch."""
    import numpy as np

    _check_reduction(reduction, "ctc_loss")
    batched = log_probs.dim() == 3
    if log_probs.dim() not in (2, 3):
        raise ValueError(f"ctc_loss: log_probs must be (T, N, C) or (T, C), got shape {list(log_probs.shape)}")
    lp = log_probs if batched else log_probs.unsqueeze(1)
    T, N, C = lp.shape
    if not 0 <= blank < C:
        raise ValueError(f"ctc_loss: blank {blank} must be a class index in [0, {C})")

    def lengths(v, name):
        a = np.asarray(v.cpu().numpy() if isinstance(v, dlcore.Tensor) else v, dtype=np.int64).reshape(-1)
        if a.size != N:
            raise ValueError(f"ctc_loss: {name} must have one entry per batch element ({N}), got {a.size}")
        return a

    in_len = lengths(input_lengths, "input_lengths")
    tg_len = lengths(target_lengths, "target_lengths")
    if np.any(in_len < 0) or np.any(in_len > T):
        raise ValueError(f"ctc_loss: input_lengths {in_len.tolist()} must lie in [0, {T}] (log_probs "
                         f"{list(log_probs.shape)})")
    if np.any(tg_len < 0):
        raise ValueError(f"ctc_loss: target_lengths {tg_len.tolist()} must be non-negative")
    tg = targets.cpu().numpy().astype(np.int64)
    if not batched and tg.ndim == 1:
        tg = tg.reshape(1, -1)  # one padded target sequence (S,)
    if tg.ndim == 2:
        if tg.shape[0] != N or (N and tg_len.max(initial=0) > tg.shape[1]):
            raise ValueError(f"ctc_loss: padded targets {list(targets.shape)} must be (N={N}, S >= max target length)")
        seqs = [tg[i, :tg_len[i]] for i in range(N)]
    elif tg.ndim == 1:
        if tg.size != tg_len.sum():
            raise ValueError(f"ctc_loss: concatenated targets hold {tg.size} labels but target_lengths sum to "
                             f"{tg_len.sum()}")
        seqs = np.split(tg, np.cumsum(tg_len)[:-1])
    else:
        raise ValueError(f"ctc_loss: targets must be (N, S) or 1-D, got shape {list(targets.shape)}")
    for s in seqs:
        if s.size and (s.min() < 0 or s.max() >= C or np.any(s == blank)):
            raise ValueError(f"ctc_loss: target labels must be in [0, {C}) and differ from blank {blank}")

    L = 2 * int(tg_len.max(initial=0)) + 1
    ext = np.full((N, L), blank, dtype=np.int64)
    skip = np.zeros((N, L), dtype=bool)
    for i, s in enumerate(seqs):
        ext[i, 1:2 * len(s):2] = s
        if len(s) > 1:
            skip[i, 3:2 * len(s):2] = s[1:] != s[:-1]
    valid = np.arange(L)[None, :] < 2 * tg_len[:, None] + 1
    dev, dt = lp.device, lp.dtype
    emit = lp.gather(2, dlcore.tensor(ext, device=dev).unsqueeze(0).expand(T, N, L))  # (T, N, L)
    neg = dlcore.full([N, L], _CTC_NEG, dtype=dt, device=dev)
    skip_ok = dlcore.tensor(skip, device=dev)
    start = np.zeros((N, L), dtype=bool)
    start[:, 0] = True
    start[:, 1:2] = (tg_len > 0)[:, None]
    in_len_t = dlcore.tensor(in_len, device=dev).unsqueeze(1)
    empty = np.zeros((N, L))
    empty[:, 1:] = _CTC_NEG  # no frames: only the empty alignment, at s = 0, with probability 1
    alpha = dlcore.tensor(empty, dtype=dt, device=dev)
    if T:
        alpha = dlcore.where(in_len_t > 0, dlcore.where(dlcore.tensor(start & valid, device=dev), emit[0], neg), alpha)
    pad2 = dlcore.full([N, 2], _CTC_NEG, dtype=dt, device=dev)
    for t in range(1, T):
        shifted = dlcore.cat([pad2, alpha], 1)  # (N, L + 2): alpha(s - 2) at s, alpha(s - 1) at s + 1
        prev1 = shifted[:, 1:L + 1]
        prev2 = dlcore.where(skip_ok, shifted[:, :L], neg)
        step = dlcore.logsumexp(dlcore.stack([alpha, prev1, prev2]), 0) + emit[t]
        alpha = dlcore.where(in_len_t > t, step, alpha)  # frozen once the sequence has ended
    last = dlcore.tensor(2 * tg_len, device=dev).unsqueeze(1)
    end_blank = alpha.gather(1, last)
    end_label = alpha.gather(1, dlcore.tensor(np.maximum(2 * tg_len - 1, 0), device=dev).unsqueeze(1))
    end_label = dlcore.where(dlcore.tensor(tg_len > 0, device=dev).unsqueeze(1), end_label, _CTC_NEG)
    nll = -dlcore.logsumexp(dlcore.cat([end_blank, end_label], 1), 1)
    impossible = nll > -_CTC_NEG / 2
    if zero_infinity:
        nll = dlcore.where(impossible, 0.0, nll)
    else:
        nll = dlcore.where(impossible, float("inf"), nll)
    if reduction == "mean":
        denom = dlcore.tensor(np.maximum(tg_len, 1).astype(np.float64), dtype=dt, device=dev)
        return (nll / denom).mean()
    if reduction == "sum":
        return nll.sum()
    return nll if batched else nll.squeeze(0)
