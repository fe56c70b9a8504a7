"""Spatial ops of ``dlcore.nn.functional``: pixel (un)shuffle, the ``*_with_indices`` pooling names,
max unpooling, power-average and fractional max pooling, and grid sampling (``affine_grid``,
``grid_sample``)."""
import math

import dlcore

__all__ = [
    "GRID_SAMPLE_INTERPOLATION_MODES", "GRID_SAMPLE_PADDING_MODES", "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices", "affine_grid", "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices", "fractional_max_pool3d", "fractional_max_pool3d_with_indices", "grid_sample",
    "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices", "max_unpool1d", "max_unpool2d", "max_unpool3d", "pixel_shuffle", "pixel_unshuffle",
]

GRID_SAMPLE_INTERPOLATION_MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
GRID_SAMPLE_PADDING_MODES = {"zeros": 0, "border": 1, "reflection": 2}


def _ntuple(v, n, name, op):
    vals = tuple(v) if isinstance(v, (list, tuple)) else (v,) * n
    if len(vals) != n or any(isinstance(a, bool) or not isinstance(a, int) for a in vals):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return vals


# ---- pixel shuffle -----------------------------------------------------------------------------
def _check_factor(factor, name, op):
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"{op}: {name} must be a positive integer, got {factor!r}")


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): each group of r^2 channels becomes an r x r block."""
    _check_factor(upscale_factor, "upscale_factor", "pixel_shuffle")
    if input.dim() < 3:
        raise ValueError(f"pixel_shuffle: expected an input (*, C, H, W) with at least 3 dims, got {list(input.shape)}")
    r = upscale_factor
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: the {c} channels of input {list(input.shape)} are not divisible by "
                         f"upscale_factor^2 = {r * r}")
    k = len(lead)
    x = input.reshape(lead + [c // (r * r), r, r, h, w])
    x = x.permute(list(range(k)) + [k, k + 3, k + 1, k + 4, k + 2])
    return x.reshape(lead + [c // (r * r), h * r, w * r])


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of :func:`pixel_shuffle`."""
    _check_factor(downscale_factor, "downscale_factor", "pixel_unshuffle")
    if input.dim() < 3:
        raise ValueError(f"pixel_unshuffle: expected an input (*, C, H, W) with at least 3 dims, got "
                         f"{list(input.shape)}")
    r = downscale_factor
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ValueError(f"pixel_unshuffle: height {h} and width {w} of input {list(input.shape)} must be divisible "
                         f"by downscale_factor {r}")
    k = len(lead)
    x = input.reshape(lead + [c, h // r, r, w // r, r])
    x = x.permute(list(range(k)) + [k, k + 2, k + 4, k + 1, k + 3])
    return x.reshape(lead + [c * r * r, h // r, w // r])


# ---- pooling -----------------------------------------------------------------------------------
def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    """``max_pool1d`` returning ``(output, indices)``."""
    return dlcore.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    """``max_pool2d`` returning ``(output, indices)``."""
    return dlcore.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    """``max_pool3d`` returning ``(output, indices)``."""
    return dlcore.max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    """``adaptive_max_pool1d`` returning ``(output, indices)``."""
    return dlcore.adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    """``adaptive_max_pool2d`` returning ``(output, indices)``."""
    return dlcore.adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    """``adaptive_max_pool3d`` returning ``(output, indices)``."""
    return dlcore.adaptive_max_pool3d(input, output_size, True)


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, n, op):
    if input.dim() not in (n + 1, n + 2):
        raise ValueError(f"{op}: expected a {n + 1}-D or {n + 2}-D input, got shape {list(input.shape)}")
    if tuple(indices.shape) != tuple(input.shape):
        raise ValueError(f"{op}: indices of shape {list(indices.shape)} must have input's shape {list(input.shape)}")
    if indices.is_floating_point():
        raise TypeError(f"{op}: indices must be an integer tensor (as max_pool returns), got {indices.dtype}")
    k = _ntuple(kernel_size, n, "kernel_size", op)
    s = k if stride is None else _ntuple(stride, n, "stride", op)
    p = _ntuple(padding, n, "padding", op)
    spatial = list(input.shape[-n:])
    if output_size is None:
        out = [(spatial[d] - 1) * s[d] - 2 * p[d] + k[d] for d in range(n)]
    else:
        out = [int(v) for v in output_size][-n:]
        if len(list(output_size)) not in (n, input.dim()):
            raise ValueError(f"{op}: output_size must have {n} or {input.dim()} elements, got {list(output_size)}")
        for d in range(n):
            lo = (spatial[d] - 1) * s[d] - 2 * p[d] + k[d]
            if not lo - s[d] < out[d] < lo + s[d]:
                raise ValueError(f"{op}: invalid output_size {list(output_size)} for input {list(input.shape)} "
                                 f"(dim {d} must lie strictly between {lo - s[d]} and {lo + s[d]})")
    lead = list(input.shape[:-n])
    plane = math.prod(out)
    flat_idx = indices.reshape(lead + [math.prod(spatial)]).to(dlcore.int64)
    if flat_idx.numel() and (int(flat_idx.min()) < 0 or int(flat_idx.max()) >= plane):
        raise IndexError(f"{op}: an index of indices lies outside the output plane of size {out}")
    zeros = dlcore.zeros(lead + [plane], dtype=input.dtype, device=input.device)
    result = zeros.scatter(input.dim() - n, flat_idx, input.reshape(lead + [math.prod(spatial)]))
    return result.reshape(lead + out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Places each value of ``input`` at its ``indices`` (from max_pool1d) in a zero output."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Places each value of ``input`` at its ``indices`` (from max_pool2d) in a zero output."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Places each value of ``input`` at its ``indices`` (from max_pool3d) in a zero output."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d")


def _pow(x, exponent):
    """x ** exponent with the exponent as a 0-d tensor of x's dtype, whose backward keeps the
    exponent's full precision (the scalar-exponent pow's backward rounds it to float32)."""
    return dlcore.pow(x, dlcore.full([], float(exponent), dtype=x.dtype, device=x.device))


def _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, n, op):
    if norm_type <= 0:
        raise ValueError(f"{op}: norm_type must be positive, got {norm_type}")
    k = _ntuple(kernel_size, n, "kernel_size", op)
    pool = getattr(dlcore, f"avg_pool{n}d")
    s = k if stride is None else stride
    avg = pool(_pow(input, norm_type), k, s, 0, ceil_mode)
    # sign * relu(|.|) zeroes negative averages (odd powers of negative inputs) as torch does
    avg = dlcore.sign(avg) * dlcore.relu(dlcore.abs(avg))
    return _pow(avg * math.prod(k), 1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1, "lp_pool1d")


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2, "lp_pool2d")


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x^p)^(1/p)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3, "lp_pool3d")


# ---- affine_grid, grid_sample ------------------------------------------------------------------
def _base_coords(steps, align_corners, like):
    """The normalised centres of ``steps`` pixels in [-1, 1] (the corner pixels' centres at +-1 with
    ``align_corners``, else the corners of the corner pixels)."""
    if steps <= 1:
        return dlcore.zeros(steps, dtype=like.dtype, device=like.device)
    c = dlcore.linspace(-1.0, 1.0, steps, dtype=like.dtype, device=like.device)
    return c if align_corners else c * ((steps - 1) / steps)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of the affine maps ``theta`` (N, 2, 3)
    (or (N, 3, 4)) for an output of ``size`` (N, C, H, W) (or (N, C, D, H, W)), for grid_sample."""
    align_corners = bool(align_corners)
    size = [int(v) for v in size]
    if not theta.is_floating_point():
        raise TypeError(f"affine_grid: theta must be floating point, got {theta.dtype}")
    if len(size) not in (4, 5):
        raise ValueError(f"affine_grid: size must be (N, C, H, W) or (N, C, D, H, W), got {size}")
    d = len(size) - 2
    if tuple(theta.shape) != (size[0], d, d + 1):
        raise ValueError(f"affine_grid: expected theta of shape ({size[0]}, {d}, {d + 1}) for size {size}, got "
                         f"{list(theta.shape)}")
    if min(size) <= 0:
        raise ValueError(f"affine_grid: expected a non-zero, positive output size, got {size}")
    spatial = size[2:]
    axes = [_base_coords(s, align_corners, theta) for s in reversed(spatial)]  # x (W), y (H)[, z (D)]
    cols = []
    for i, ax in enumerate(axes):
        shape = [1] * d
        shape[d - 1 - i] = spatial[d - 1 - i]
        cols.append(ax.reshape(shape).expand(spatial))
    cols.append(dlcore.ones(spatial, dtype=theta.dtype, device=theta.device))
    base = dlcore.stack(cols, -1).reshape(1, -1, d + 1)
    grid = dlcore.matmul(base, theta.transpose(1, 2))
    return grid.reshape([size[0]] + spatial + [d])


def _floor(x):
    """floor of a (detached) float tensor, through truncation toward zero."""
    t = x.long().to(x.dtype)
    return t - (t > x).to(x.dtype)


def _reflect(coord, twice_low, twice_high):
    """Reflects coordinates at the borders twice_low / 2 and twice_high / 2 until they lie in
    between; differentiable (the gradient flips sign on odd reflections)."""
    if twice_low == twice_high:
        return coord * 0.0
    low = twice_low / 2.0
    span = (twice_high - twice_low) / 2.0
    c = dlcore.abs(coord - low)
    flips = _floor(c.detach() / span)
    extra = c - flips * span
    odd = (flips - 2.0 * _floor(flips / 2.0)) > 0
    return dlcore.where(odd, span - extra + low, extra + low)


def _source_coord(g, size, padding_mode, align_corners):
    """Normalised grid coordinates -> pixel coordinates of an axis of ``size`` pixels, with the
    border or reflection padding applied."""
    c = (g + 1.0) * ((size - 1) / 2.0) if align_corners else ((g + 1.0) * size - 1.0) / 2.0
    if padding_mode == "border":
        c = dlcore.clamp(c, min=0.0, max=float(size - 1))
    elif padding_mode == "reflection":
        c = _reflect(c, 0.0, 2.0 * (size - 1)) if align_corners else _reflect(c, -1.0, 2.0 * size - 1.0)
        c = dlcore.clamp(c, min=0.0, max=float(size - 1))
    return c


def _round_half_even(x):
    r = _floor(x + 0.5)
    tie = (r - x) == 0.5
    odd = (r - 2.0 * _floor(r / 2.0)) > 0
    return dlcore.where(tie & odd, r - 1.0, r)


def _cubic_weights(t):
    """The four cubic-convolution weights (A = -0.75) of taps at offsets -1, 0, 1, 2 for fractions t."""
    a = -0.75

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Samples ``input`` (N, C, H, W) (or (N, C, D, H, W)) at the normalised locations of ``grid``
    (N, Ho, Wo, 2) (or (N, Do, Ho, Wo, 3)), last dim ordered (x, y[, z]) with -1 and 1 the input's
    extreme edges (``align_corners=False``) or extreme pixel centres (``True``); 'bilinear'
    (trilinear for 5-D), 'nearest' or 'bicubic' (4-D only) interpolation, out-of-range locations
    read as zeros, the border value or the reflected input. Differentiable in input and grid."""
    if mode not in GRID_SAMPLE_INTERPOLATION_MODES:
        raise ValueError(f"grid_sample: mode must be 'bilinear', 'nearest' or 'bicubic', got '{mode}'")
    if padding_mode not in GRID_SAMPLE_PADDING_MODES:
        raise ValueError(f"grid_sample: padding_mode must be 'zeros', 'border' or 'reflection', got '{padding_mode}'")
    align_corners = bool(align_corners)
    if input.dim() not in (4, 5) or grid.dim() != input.dim():
        raise ValueError(f"grid_sample: expected a 4-D or 5-D input and a grid with as many dims, got input "
                         f"{list(input.shape)} and grid {list(grid.shape)}")
    d = input.dim() - 2
    if grid.shape[0] != input.shape[0] or grid.shape[-1] != d:
        raise ValueError(f"grid_sample: grid {list(grid.shape)} must be (N={input.shape[0]}, *out, {d}) for input "
                         f"{list(input.shape)}")
    if mode == "bicubic" and d != 2:
        raise ValueError(f"grid_sample: mode 'bicubic' supports only 4-D input, got {list(input.shape)}")
    if input.dtype != grid.dtype:
        raise TypeError(f"grid_sample: input ({input.dtype}) and grid ({grid.dtype}) must have the same dtype")
    n, c = input.shape[0], input.shape[1]
    spatial = list(input.shape[2:])
    out_spatial = list(grid.shape[1:-1])
    q = math.prod(out_spatial)
    flat = input.reshape(n, c, math.prod(spatial))
    g = grid.reshape(n, q, d)
    # per input axis (D,) H, W: the grid component for it is the reversed one (x drives W)
    axes = [g.select(2, d - 1 - k) for k in range(d)]

    def fetch(idx, weight, inside):
        """sum term: the input at integer coordinates ``idx`` (one (N, Q) tensor per axis),
        times ``weight``, where ``inside``."""
        lin = None
        for k in range(d):
            ik = dlcore.clamp(idx[k], min=0, max=spatial[k] - 1).long()
            lin = ik if lin is None else lin * spatial[k] + ik
        vals = flat.gather(2, lin.unsqueeze(1).expand(n, c, q))
        if inside is None:
            return vals * weight.unsqueeze(1)
        vals = dlcore.where(inside.unsqueeze(1), vals, 0.0)
        return vals * (weight * inside.to(weight.dtype)).unsqueeze(1)

    def in_bounds(idx):
        ok = None
        for k in range(d):
            okk = (idx[k] >= 0) & (idx[k] <= spatial[k] - 1)
            ok = okk if ok is None else ok & okk
        return ok

    if mode == "bicubic":
        # taps read the padded input at their own integer coordinates (torch's bicubic scheme)
        coords = [((a + 1.0) * ((s - 1) / 2.0) if align_corners else ((a + 1.0) * s - 1.0) / 2.0)
                  for a, s in zip(axes, spatial)]
        base = [_floor(cc.detach()) for cc in coords]
        ws = [_cubic_weights(cc - b) for cc, b in zip(coords, base)]
        out = None
        for i in range(4):
            for j in range(4):
                idx = [base[0] + (i - 1.0), base[1] + (j - 1.0)]
                inside = None
                if padding_mode == "zeros":
                    inside = in_bounds(idx)
                else:
                    idx = [_source_coord_int(idx[k], spatial[k], padding_mode, align_corners) for k in range(2)]
                term = fetch(idx, ws[0][i] * ws[1][j], inside)
                out = term if out is None else out + term
        return out.reshape([n, c] + out_spatial)

    coords = [_source_coord(a, s, padding_mode, align_corners) for a, s in zip(axes, spatial)]
    if mode == "nearest":
        idx = [_round_half_even(cc.detach()) for cc in coords]
        inside = in_bounds(idx) if padding_mode == "zeros" else None
        ones = dlcore.ones([n, q], dtype=input.dtype, device=input.device)
        return fetch(idx, ones, inside).reshape([n, c] + out_spatial)
    lo = [_floor(cc.detach()) for cc in coords]
    frac = [cc - b for cc, b in zip(coords, lo)]
    out = None
    for corner in range(2 ** d):
        bits = [(corner >> (d - 1 - k)) & 1 for k in range(d)]
        idx = [lo[k] + bits[k] for k in range(d)]
        w = None
        for k in range(d):
            wk = frac[k] if bits[k] else 1.0 - frac[k]
            w = wk if w is None else w * wk
        term = fetch(idx, w, in_bounds(idx))
        out = term if out is None else out + term
    return out.reshape([n, c] + out_spatial)


def _source_coord_int(idx, size, padding_mode, align_corners):
    """Integer tap coordinates mapped into the input by border or reflection padding."""
    if padding_mode == "reflection":
        idx = _reflect(idx, 0.0, 2.0 * (size - 1)) if align_corners else _reflect(idx, -1.0, 2.0 * size - 1.0)
    return dlcore.clamp(idx, min=0.0, max=float(size - 1))


# ---- fractional max pooling --------------------------------------------------------------------
# Note [Fractional max pooling windows]
# Fractional max pooling (Graham, 2014) pools (N, C) plane by plane over windows whose starts
# follow a pseudo-random sequence: with one sample u in [0, 1) per plane and spatial dim, and
# alpha = (in - k) / (out - 1), window i < out - 1 starts at int((i + u) alpha) - int(u alpha) and
# the last at in - k. The starts are computed in input's dtype, as torch does, so the same
# ``_random_samples`` give the same windows; the maxima are gathered with differentiable ops.
def _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, n, op):
    import numpy as np

    if input.dim() not in (n + 1, n + 2):
        raise ValueError(f"{op}: expected a {n + 1}-D or {n + 2}-D input, got shape {list(input.shape)}")
    batched = input.dim() == n + 2
    x = input if batched else input.unsqueeze(0)
    k = _ntuple(kernel_size, n, "kernel_size", op)
    spatial = list(x.shape[2:])
    if output_size is None:
        if output_ratio is None:
            raise ValueError(f"{op}: requires specifying either an output_size or an output_ratio")
        ratio = tuple(output_ratio) if isinstance(output_ratio, (list, tuple)) else (output_ratio,) * n
        if len(ratio) != n or not all(0 < r < 1 for r in ratio):
            raise ValueError(f"{op}: output_ratio must be {n} numbers in (0, 1), got {output_ratio!r}")
        out = [int(s * r) for s, r in zip(spatial, ratio)]
    else:
        out = list(_ntuple(output_size, n, "output_size", op))
    for d in range(n):
        if k[d] < 1 or out[d] < 1 or out[d] + k[d] - 1 > spatial[d]:
            raise ValueError(f"{op}: kernel_size {k[d]} with output size {out[d]} is too large for input size "
                             f"{spatial[d]} in spatial dim {d} (input {list(input.shape)})")
    nb, c = x.shape[0], x.shape[1]
    if _random_samples is None:
        _random_samples = dlcore.rand(nb, c, n, dtype=x.dtype, device=x.device)
    elif tuple(_random_samples.shape) != (nb, c, n):
        raise ValueError(f"{op}: _random_samples must have shape {[nb, c, n]}, got {list(_random_samples.shape)}")
    npdt = np.float64 if x.dtype == dlcore.float64 else np.float32
    u = _random_samples.detach().cpu().numpy().astype(npdt)
    lin = np.zeros((nb, c) + (1,) * (2 * n), dtype=np.int64)
    for d in range(n):
        # the samples are ordered (w, h) in 2-D but (t, h, w) in 3-D, as torch's
        ud = u[:, :, (n - 1 - d) if n == 2 else d][:, :, None]
        starts = np.empty((nb, c, out[d]), dtype=np.int64)
        if out[d] > 1:
            alpha = npdt(spatial[d] - k[d]) / npdt(out[d] - 1)
            i = np.arange(out[d] - 1, dtype=npdt)[None, None, :]
            starts[:, :, :-1] = ((i + ud) * alpha).astype(np.int64) - (ud * alpha).astype(np.int64)
        starts[:, :, -1] = spatial[d] - k[d]
        pos = starts[:, :, :, None] + np.arange(k[d])[None, None, None, :]  # (N, C, out_d, k_d)
        shape = [nb, c] + [1] * (2 * n)
        shape[2 + d], shape[2 + n + d] = out[d], k[d]
        lin = lin * spatial[d] + pos.reshape(shape)
    q, kk = math.prod(out), math.prod(k)
    index = dlcore.tensor(lin.reshape(nb, c, q * kk), device=x.device)
    vals = x.reshape(nb, c, math.prod(spatial)).gather(2, index).reshape(nb, c, q, kk)
    best = vals.max(3)
    result = best.values.reshape([nb, c] + out)
    if not batched:
        result = result.squeeze(0)
    if not return_indices:
        return result
    idx = index.reshape(nb, c, q, kk).gather(3, best.indices.unsqueeze(3)).reshape([nb, c] + out)
    return result, (idx if batched else idx.squeeze(0))


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """Max pooling of (N, C, H, W) inputs over pseudo-random overlapping windows of ``kernel_size``
    that tile the input into ``output_size`` (or input size * ``output_ratio``) outputs (see
    Note [Fractional max pooling windows])."""
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, 2,
                                "fractional_max_pool2d")


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """The 3-D form of :func:`fractional_max_pool2d`, over (N, C, T, H, W) inputs."""
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, 3,
                                "fractional_max_pool3d")


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    """``fractional_max_pool2d`` returning ``(output, indices)``."""
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, True, _random_samples, 2,
                                "fractional_max_pool2d")


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    """``fractional_max_pool3d`` returning ``(output, indices)``."""
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, True, _random_samples, 3,
                                "fractional_max_pool3d")
