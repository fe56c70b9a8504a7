"""``dlcore.nn.functional``: the functional forms of the layers, with torch.nn.functional's names and
signatures. Most are the C++ ops re-exported; the rest are short compositions of them."""
import dlcore

# ---- ops implemented in the core ----------------------------------------------------------------
from dlcore import (  # noqa: F401
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool1d, adaptive_max_pool2d,
    adaptive_max_pool3d, avg_pool1d, avg_pool2d, avg_pool3d, batch_norm, binary_cross_entropy,
    binary_cross_entropy_with_logits, conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,
    conv_transpose3d, cross_entropy, elu, embedding as _embedding, gelu, group_norm, interpolate, layer_norm,
    leaky_relu, linear, local_response_norm, log_softmax, max_pool1d, max_pool2d, max_pool3d, nll_loss,
    one_hot, pad, relu, scaled_dot_product_attention, sigmoid, silu, softmax, softplus, tanh,
)

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got '{reduction}'")


def _check_same_shape(input, target, op):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: input shape {list(input.shape)} and target shape {list(target.shape)} "
                         "must match")


# ---- activations -------------------------------------------------------------------------------
def relu6(input, inplace=False):
    return dlcore.clamp(input, min=0, max=6)  # int bounds: an int input stays int, as in torch


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if not input.is_floating_point():  # torch keeps the input's dtype, truncating the bounds
        min_val, max_val = int(min_val), int(max_val)
    return dlcore.clamp(input, min=min_val, max=max_val)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x), ``weight`` of 1 or C (= input.shape[1]) elements."""
    return dlcore.prelu(input, weight)


def logsigmoid(input):
    return -dlcore.softplus(-input)


def hardsigmoid(input, inplace=False):
    return dlcore.clamp(input / 6.0 + 0.5, min=0.0, max=1.0)


def hardswish(input, inplace=False):
    return input * hardsigmoid(input)


def mish(input, inplace=False):
    return input * dlcore.tanh(dlcore.softplus(input))


def softsign(input):
    return input / (dlcore.abs(input) + 1.0)


def tanhshrink(input):
    return input - dlcore.tanh(input)


def glu(input, dim=-1):
    if input.shape[dim] % 2:
        raise ValueError(f"glu: halving dimension {dim} of shape {list(input.shape)} must be even")
    a, b = dlcore.chunk(input, 2, dim)
    return a * dlcore.sigmoid(b)


# ---- dropout -----------------------------------------------------------------------------------
def _check_p(p, op):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    _check_p(p, "dropout")
    return dlcore.dropout(input, p, training)


def _feature_dropout(input, p, training, op, batched_dim):
    _check_p(p, op)
    if not training or p == 0.0:
        return input
    if input.dim() not in (batched_dim, batched_dim + 1):
        raise ValueError(f"{op}: expected a {batched_dim}-D or {batched_dim + 1}-D input, got shape "
                         f"{list(input.shape)}")
    if p == 1.0:
        return input * 0.0
    # One keep/drop draw per (sample, channel), broadcast over the feature dims.
    lead = input.dim() - (batched_dim - 1)
    mask_shape = list(input.shape[:lead]) + [1] * (input.dim() - lead)
    keep = dlcore.rand(*mask_shape, dtype=input.dtype, device=input.device) >= p
    return input * (keep.to(input.dtype) * (1.0 / (1.0 - p)))


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs with probability p."""
    return _feature_dropout(input, p, training, "dropout1d", 2)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) inputs with probability p."""
    return _feature_dropout(input, p, training, "dropout2d", 3)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p."""
    return _feature_dropout(input, p, training, "dropout3d", 4)


# ---- embedding, normalize ----------------------------------------------------------------------
def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    return _embedding(input, weight, padding_idx)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p along dim, eps)."""
    denom = dlcore.clamp(dlcore.norm(input, p, dim, True), min=eps)
    return input / denom


# ---- losses ------------------------------------------------------------------------------------
def mse_loss(input, target, reduction="mean"):
    _check_same_shape(input, target, "mse_loss")
    input, target = dlcore._C._autocast_fp32(input, target)  # float32 under autocast
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    _check_same_shape(input, target, "l1_loss")
    input, target = dlcore._C._autocast_fp32(input, target)  # float32 under autocast
    return _reduce(dlcore.abs(input - target), reduction, "l1_loss")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (plain L1 when beta == 0)."""
    _check_same_shape(input, target, "smooth_l1_loss")
    input, target = dlcore._C._autocast_fp32(input, target)  # float32 under autocast
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    ad = dlcore.abs(input - target)
    if beta == 0.0:
        return _reduce(ad, reduction, "smooth_l1_loss")
    # The quadratic branch squares min(|d|, beta), not |d|: where |d| is +-inf its (untaken)
    # gradient is then 0 rather than 0 * inf = NaN, and the gradient is sign(d) as in PyTorch.
    small = dlcore.clamp(ad, max=beta)
    loss = dlcore.where(ad < beta, small * small * (0.5 / beta), ad - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    _check_same_shape(input, target, "huber_loss")
    input, target = dlcore._C._autocast_fp32(input, target)  # float32 under autocast
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    ad = dlcore.abs(input - target)
    small = dlcore.clamp(ad, max=delta)  # keeps the gradient at |d| = inf finite (see smooth_l1_loss)
    loss = dlcore.where(ad < delta, small * small * 0.5, (ad - 0.5 * delta) * delta)
    return _reduce(loss, reduction, "huber_loss")


def kl_div(input, target, reduction="mean", log_target=False):
    """target * (log target - input) pointwise (input holds log-probabilities)."""
    _check_same_shape(input, target, "kl_div")
    input, target = dlcore._C._autocast_fp32(input, target)  # float32 under autocast
    if log_target:
        loss = dlcore.exp(target) * (target - input)
    else:
        safe = dlcore.where(target > 0, target, 1.0)
        loss = dlcore.where(target > 0, target * (dlcore.log(safe) - input), 0.0 * input)
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.dim() else loss.sum()
    return _reduce(loss, reduction, "kl_div")


def soft_dice_loss(input, target, from_logits=True, squared_denominator=False, smooth=1.0,
                   reduction="mean", multiclass=None):
    """Functional form of :class:`dlcore.nn.DiceLoss` (see its docstring for the formula)."""
    if input.dim() < 2:
        raise ValueError(f"dice_loss: expected input of shape (N, ...) with at least 2 dims, got "
                         f"{list(input.shape)}")
    index_target = not target.is_floating_point() and target.dim() == input.dim() - 1
    if multiclass is None:
        multiclass = index_target
    if index_target and not multiclass:
        raise ValueError(f"dice_loss: a class-index target of shape {list(target.shape)} needs multiclass=True")
    if multiclass:
        if index_target:
            if tuple(target.shape) != (input.shape[0],) + tuple(input.shape[2:]):
                raise ValueError(f"dice_loss: target shape {list(target.shape)} does not match input shape "
                                 f"{list(input.shape)} without its class dim 1")
            g = dlcore.one_hot(target, input.shape[1])
            g = g.permute([0, g.dim() - 1] + list(range(1, g.dim() - 1))).to(input.dtype)
        else:
            _check_same_shape(input, target, "dice_loss")
            g = target.to(input.dtype)
        p = dlcore.softmax(input, 1) if from_logits else input
        dims = list(range(2, input.dim()))
    else:
        _check_same_shape(input, target, "dice_loss")
        g = target.to(input.dtype)
        p = dlcore.sigmoid(input) if from_logits else input
        dims = list(range(1, input.dim()))
    if dims:
        inter = (p * g).sum(dims)
        denom = (p * p).sum(dims) + (g * g).sum(dims) if squared_denominator else p.sum(dims) + g.sum(dims)
    else:
        inter = p * g
        denom = p * p + g * g if squared_denominator else p + g
    loss = 1.0 - (2.0 * inter + smooth) / (denom + smooth)
    return _reduce(loss, reduction, "dice_loss")


dice_loss = soft_dice_loss


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    n1 = dlcore.clamp(dlcore.norm(x1, 2, dim, True), min=eps)
    n2 = dlcore.clamp(dlcore.norm(x2, 2, dim, True), min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


# ---- upsampling aliases --------------------------------------------------------------------
def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return dlcore.interpolate(input, size, scale_factor, mode, align_corners)


def _softmax_dim(ndim):
    """The dim torch picks when ``Softmax(dim=None)``: 0 for 0-, 1- and 3-D inputs, else 1."""
    return 0 if ndim in (0, 1, 3) else 1


def channel_shuffle(input, groups):
    """Rearranges the channels of ``input`` [N, C, *] from ``groups`` groups of C/groups into C/groups
    groups of ``groups`` (ShuffleNet's shuffle): channel ``g * (C // groups) + k`` moves to
    ``k * groups + g``."""
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"channel_shuffle: groups must be a positive integer, got {groups!r}")
    if input.dim() < 3:
        raise ValueError(f"channel_shuffle: expected input [N, C, *] with at least 3 dims, got {list(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if c % groups:
        raise ValueError(f"channel_shuffle: the {c} channels of input {list(input.shape)} are not divisible by "
                         f"groups={groups}")
    rest = list(input.shape[2:])
    return input.reshape([n, groups, c // groups] + rest).transpose(1, 2).reshape([n, c] + rest)


def _pair(v, name, op, minimum):
    vals = (v, v) if isinstance(v, int) and not isinstance(v, bool) else tuple(v)
    if len(vals) != 2 or any(isinstance(a, bool) or not isinstance(a, int) or a < minimum for a in vals):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints >= {minimum}, got {v!r}")
    return vals


def _patch_index(op, spatial, kernel_size, dilation, padding, stride):
    """(padded size (Hp, Wp), blocks (oh, ow), int64 index [kh*kw*L] into the padded plane, row-major
    over (kernel row, kernel column, block))."""
    import numpy as np

    kh, kw = _pair(kernel_size, "kernel_size", op, 1)
    dh, dw = _pair(dilation, "dilation", op, 1)
    ph, pw = _pair(padding, "padding", op, 0)
    sh, sw = _pair(stride, "stride", op, 1)
    hp, wp = spatial[0] + 2 * ph, spatial[1] + 2 * pw
    oh, ow = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: a {kh}x{kw} kernel (dilation {dh}x{dw}) does not fit the padded input "
                         f"{hp}x{wp} of spatial size {spatial[0]}x{spatial[1]} (padding {ph}x{pw})")
    rows = (np.arange(kh)[:, None, None, None] * dh + np.arange(oh)[None, None, :, None] * sh)
    cols = (np.arange(kw)[None, :, None, None] * dw + np.arange(ow)[None, None, None, :] * sw)
    index = (rows * wp + cols).reshape(-1)
    return (hp, wp), (oh, ow), (ph, pw), dlcore.tensor(index.astype(np.int64))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of a batched image [N, C, H, W] (or [C, H, W]) as columns: [N, C*kh*kw, L],
    the rows ordered (channel, kernel row, kernel column), the L blocks row-major (torch's im2col)."""
    if input.dim() not in (3, 4):
        raise ValueError(f"unfold: expected input [N, C, H, W] or [C, H, W], got {list(input.shape)}")
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    n, c, h, w = x.shape
    (hp, wp), (oh, ow), (ph, pw), index = _patch_index("unfold", (h, w), kernel_size, dilation, padding, stride)
    if ph or pw:
        x = pad(x, (pw, pw, ph, ph))
    k = index.shape[0] // (oh * ow)
    cols = x.reshape(n, c, hp * wp).index_select(2, index.to(x.device)).reshape(n, c * k, oh * ow)
    return cols if batched else cols.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The adjoint of :func:`unfold`: columns [N, C*kh*kw, L] (or [C*kh*kw, L]) summed back into an
    image [N, C, H, W] of ``output_size`` (H, W); overlapping blocks add up."""
    if input.dim() not in (2, 3):
        raise ValueError(f"fold: expected input [N, C*kh*kw, L] or [C*kh*kw, L], got {list(input.shape)}")
    batched = input.dim() == 3
    x = input if batched else input.unsqueeze(0)
    h, w = _pair(output_size, "output_size", "fold", 1)
    (hp, wp), (oh, ow), (ph, pw), index = _patch_index("fold", (h, w), kernel_size, dilation, padding, stride)
    k = index.shape[0] // (oh * ow)
    n, ck, length = x.shape
    if ck % k or length != oh * ow:
        raise ValueError(f"fold: input {list(input.shape)} does not hold C*{k} rows of {oh * ow} blocks for "
                         f"output_size {h}x{w}, kernel_size {kernel_size!r}, dilation {dilation!r}, padding "
                         f"{padding!r}, stride {stride!r}")
    c = ck // k
    idx = index.to(x.device).view(1, 1, -1).expand(n, c, k * length)
    out = dlcore.zeros(n, c, hp * wp, dtype=x.dtype, device=x.device).scatter_add(2, idx, x.reshape(n, c, k * length))
    out = out.reshape(n, c, hp, wp)[:, :, ph:ph + h, pw:pw + w]
    return out if batched else out.squeeze(0)
