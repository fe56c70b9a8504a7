"""Conv1d/2d/3d and ConvTranspose1d/2d/3d with PyTorch's constructors and initialisation."""

import dlcore

from .. import init
from ..module import Module
from ..parameter import Parameter

_PAD_MODES = {"zeros", "reflect", "replicate", "circular"}


def _ntuple(x, n, name):
    if isinstance(x, (list, tuple)):
        if len(x) != n:
            raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {x}")
        return tuple(int(v) for v in x)
    return (int(x),) * n


class _ConvNd(Module):
    _n = 0
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, output_padding=0, device=None, dtype=None):
        super().__init__()
        n, name = self._n, type(self).__name__
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups != 0:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups != 0:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in _PAD_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {sorted(_PAD_MODES)}, got '{padding_mode}'")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: invalid padding string '{padding}', should be one of 'valid', 'same'")
            if padding == "same" and any(s != 1 for s in _ntuple(stride, n, "stride")):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
            if self._transposed:
                raise ValueError(f"{name}: padding must be an int or tuple, got '{padding}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size")
        self.stride = _ntuple(stride, n, "stride")
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n, "padding")
        self.dilation = _ntuple(dilation, n, "dilation")
        self.output_padding = _ntuple(output_padding, n, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        if self._transposed:
            if padding_mode != "zeros":
                raise ValueError(f'{name}: only "zeros" padding mode is supported')
            shape = [in_channels, out_channels // groups, *self.kernel_size]
        else:
            shape = [out_channels, in_channels // groups, *self.kernel_size]
        self.weight = Parameter(dlcore.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(dlcore.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init._reset_weight_and_bias_(self.weight, self.bias)

    def extra_repr(self):
        n = self._n
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, 0, device, dtype)

    def _conv(self, input, weight, bias, padding):
        raise NotImplementedError

    def _pad_amounts(self):
        """F.pad's (last dim first) amounts for a non-'zeros' padding_mode."""
        if self.padding == "valid":
            return [0] * (2 * self._n)
        if self.padding == "same":
            amounts = []
            for d, k in zip(reversed(self.dilation), reversed(self.kernel_size)):
                total = d * (k - 1)
                amounts += [total // 2, total - total // 2]
            return amounts
        return [p for p in reversed(self.padding) for _ in range(2)]

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            padded = dlcore.pad(input, self._pad_amounts(), mode=self.padding_mode)
            return self._conv(padded, weight, bias, 0)
        return self._conv(input, weight, bias, self.padding)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) inputs."""
    _n = 1

    def _conv(self, input, weight, bias, padding):
        return dlcore.conv1d(input, weight, bias, self.stride, padding, self.dilation, self.groups)


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) inputs."""
    _n = 2

    def _conv(self, input, weight, bias, padding):
        return dlcore.conv2d(input, weight, bias, self.stride, padding, self.dilation, self.groups)


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W) inputs."""
    _n = 3

    def _conv(self, input, weight, bias, padding):
        return dlcore.conv3d(input, weight, bias, self.stride, padding, self.dilation, self.groups)


class _ConvTranspose(_ConvNd):
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device, dtype)

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        n = self._n
        output_size = list(output_size)[-n:]
        if len(output_size) != n:
            raise ValueError(f"{type(self).__name__}: output_size must have {n} or {n + 2} elements, "
                             f"got {output_size}")
        out_pad = []
        for d in range(n):
            size = input.shape[input.dim() - n + d]
            base = ((size - 1) * self.stride[d] - 2 * self.padding[d] + self.dilation[d] * (self.kernel_size[d] - 1)
                    + 1)
            extra = output_size[d] - base
            if extra < 0 or extra >= max(self.stride[d], self.dilation[d]):
                raise ValueError(f"{type(self).__name__}: requested an output size of {output_size}, but valid "
                                 f"sizes for input shape {list(input.shape)} start at {base} in dim {d}")
            out_pad.append(extra)
        return tuple(out_pad)

    def forward(self, input, output_size=None):
        return self._convt(input, self._output_padding(input, output_size))


class ConvTranspose1d(_ConvTranspose):
    """Transposed 1-D convolution; weight shape (C_in, C_out / groups, k)."""
    _n = 1

    def _convt(self, input, output_padding):
        return dlcore.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                       self.groups, self.dilation)


class ConvTranspose2d(_ConvTranspose):
    """Transposed 2-D convolution; weight shape (C_in, C_out / groups, kh, kw)."""
    _n = 2

    def _convt(self, input, output_padding):
        return dlcore.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                       self.groups, self.dilation)


class ConvTranspose3d(_ConvTranspose):
    """Transposed 3-D convolution; weight shape (C_in, C_out / groups, kd, kh, kw)."""
    _n = 3

    def _convt(self, input, output_padding):
        return dlcore.conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                       self.groups, self.dilation)
