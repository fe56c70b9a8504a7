"""Parameter initialisation with PyTorch's names and formulas. Every function fills its tensor in
place under ``no_grad`` from dlcore's generator (seeded by ``dlcore.manual_seed``, or the
``generator`` given) and returns it. The names without the trailing underscore are torch's
deprecated aliases: they warn and call the in-place function."""
import math
import warnings

import numpy as np

import dlcore


def _fill_from(tensor, values):
    with dlcore.no_grad():
        tensor.copy_(values)
    return tensor


def _random_kwargs(tensor, generator):
    kwargs = dict(dtype=tensor.dtype, device=tensor.device)
    if generator is not None:
        kwargs["generator"] = generator
    return kwargs


def _rand(tensor, generator=None):
    return dlcore.rand(*tensor.shape, **_random_kwargs(tensor, generator))


def _randn(tensor, generator=None):
    return dlcore.randn(*tensor.shape, **_random_kwargs(tensor, generator))


def calculate_gain(nonlinearity, param=None):
    """The recommended scale of the weights' standard deviation for ``nonlinearity``."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel): in*prod(kernel), out*prod(kernel)."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
                         f"(got shape {list(tensor.shape)})")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fills with U(a, b)."""
    return _fill_from(tensor, _rand(tensor, generator) * (b - a) + a)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fills with N(mean, std^2)."""
    return _fill_from(tensor, _randn(tensor, generator) * std + mean)


def _norm_cdf(x):
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fills with N(mean, std^2) conditioned on [a, b], by rejection sampling (vectorised: only
    the rejected elements are redrawn each round).

    Note [Truncated normal sampling]
    When [a, b] holds a large part of the mass (> 0.3) the proposals are normal draws; otherwise
    they are uniform on [a, b], accepted with probability pdf(x) / pdf(mode), so that narrow or
    far-out intervals need few rounds. Both are exact."""
    if a > b:
        raise ValueError(f"trunc_normal_: expected a <= b, got a={a}, b={b}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    if tensor.numel() == 0:
        return tensor
    with dlcore.no_grad():
        mass = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std)
        if mass > 0.3:
            values = _randn(tensor, generator) * std + mean
            pending = dlcore.logical_or(values < a, values > b)
            while bool(pending.any()):
                values = dlcore.where(pending, _randn(tensor, generator) * std + mean, values)
                pending = dlcore.logical_or(values < a, values > b)
        else:
            mode = max(a, min(mean, b))
            log_peak = -0.5 * ((mode - mean) / std) ** 2

            def propose():
                x = _rand(tensor, generator) * (b - a) + a
                log_ratio = ((x - mean) / std) ** 2 * -0.5 - log_peak
                return x, _rand(tensor, generator).log() > log_ratio
            values, pending = propose()
            while bool(pending.any()):
                x, rejected = propose()
                values = dlcore.where(pending, x, values)
                pending = dlcore.logical_and(pending, rejected)
        values = dlcore.clamp(values, min=a, max=b)  # rounding of the affine map stays inside [a, b]
    return _fill_from(tensor, values)


def constant_(tensor, val):
    with dlcore.no_grad():
        tensor.fill_(val)
    return tensor


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    with dlcore.no_grad():
        tensor.zero_()
    return tensor


def eye_(tensor):
    """Fills a 2-D tensor with the identity matrix (ones on the main diagonal)."""
    if tensor.dim() != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got shape {list(tensor.shape)}")
    return _fill_from(tensor, dlcore.eye(tensor.shape[0], tensor.shape[1], dtype=tensor.dtype, device=tensor.device))


def dirac_(tensor, groups=1):
    """Fills a 3-, 4- or 5-D convolution weight (out, in, *kernel) with the Dirac delta: within
    each of ``groups`` groups, output channel d passes input channel d through the kernel's
    centre, for as many channels as both sides have."""
    if tensor.dim() not in (3, 4, 5):
        raise ValueError(f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, got shape "
                         f"{list(tensor.shape)}")
    if not isinstance(groups, int) or groups <= 0 or tensor.shape[0] % groups != 0:
        raise ValueError(f"dirac_: dim 0 must be divisible by groups (got shape {list(tensor.shape)} and "
                         f"groups={groups})")
    out_per_group = tensor.shape[0] // groups
    values = np.zeros(tuple(tensor.shape))
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(out_per_group, tensor.shape[1])):
            values[(g * out_per_group + d, d) + centre] = 1
    return _fill_from(tensor, dlcore.tensor(values, dtype=tensor.dtype, device=tensor.device))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound) with bound = gain(nonlinearity, a) * sqrt(3 / fan)."""
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2) with std = gain(nonlinearity, a) / sqrt(fan)."""
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)


def orthogonal_(tensor, gain=1, generator=None):
    """Fills with a (semi-)orthogonal matrix times ``gain``; dimensions after the first are
    flattened. It is the Q of a QR decomposition of a standard normal draw, with the signs of
    R's diagonal folded in so that Q is uniformly (Haar) distributed."""
    if tensor.dim() < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, got shape "
                         f"{list(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    draw = dlcore.randn(rows, cols, **_random_kwargs(tensor, generator)).cpu().numpy().astype(np.float64)
    if rows < cols:
        draw = draw.T
    q, r = np.linalg.qr(draw)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    values = dlcore.tensor(q * gain, dtype=tensor.dtype, device=tensor.device)
    return _fill_from(tensor, values.reshape(list(tensor.shape)))


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """Fills a 2-D tensor with N(0, std^2) values, then zeroes ceil(sparsity * rows) randomly
    chosen entries in every column."""
    if tensor.dim() != 2:
        raise ValueError(f"sparse_: only tensors with 2 dimensions are supported, got shape {list(tensor.shape)}")
    rows, cols = tensor.shape
    num_zeros = math.ceil(sparsity * rows)
    values = _randn(tensor, generator) * std
    if num_zeros > 0 and tensor.numel() > 0:
        # the rows of each column's num_zeros smallest uniform keys: a random subset per column
        order = np.argsort(_rand(tensor, generator).cpu().numpy(), axis=0, kind="stable")
        keep = np.ones((rows, cols), dtype=bool)
        np.put_along_axis(keep, order[:num_zeros], False, axis=0)
        values = dlcore.where(dlcore.tensor(keep, device=tensor.device), values, 0.0).to(tensor.dtype)
    return _fill_from(tensor, values)


def _deprecated_alias(fn):
    old_name = fn.__name__[:-1]

    def alias(*args, **kwargs):
        warnings.warn(f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{fn.__name__}`.", FutureWarning,
                      stacklevel=2)
        return fn(*args, **kwargs)
    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated alias of :func:`{fn.__name__}`."
    return alias


uniform = _deprecated_alias(uniform_)
normal = _deprecated_alias(normal_)
constant = _deprecated_alias(constant_)
eye = _deprecated_alias(eye_)
dirac = _deprecated_alias(dirac_)
xavier_uniform = _deprecated_alias(xavier_uniform_)
xavier_normal = _deprecated_alias(xavier_normal_)
kaiming_uniform = _deprecated_alias(kaiming_uniform_)
kaiming_normal = _deprecated_alias(kaiming_normal_)
orthogonal = _deprecated_alias(orthogonal_)
sparse = _deprecated_alias(sparse_)


def _reset_weight_and_bias_(weight, bias):
    """PyTorch's default initialisation of Linear and Conv layers: kaiming_uniform_(a=sqrt(5)) for
    the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias (zeros when fan_in is 0)."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
