"""V-Net (Milletari, Navab and Ahmadi, 2016, "V-Net: Fully Convolutional Neural Networks for
Volumetric Medical Image Segmentation").

The paper's network (``vnet()``), with the choices it leaves open made as follows:

* every convolution is 5x5x5 with padding 2, followed by a PReLU with one slope per channel;
* left stages have 1, 2, 3, 3 convolutions at 16, 32, 64, 128 channels and the bottom stage 3 at
  256; each stage adds its input to its last convolution's output (the first stage's single input
  channel is repeated to 16 channels for that sum); between stages a 2x2x2 stride-2 convolution
  (with PReLU) doubles the channels and halves every side;
* right stages: a 2x2x2 stride-2 transposed convolution (with PReLU) to half the channels of the
  stage, concatenated with the left stage of the same size (the other half), then 3, 3, 2, 1
  convolutions at 256, 128, 64, 32 channels, with that concatenation added to the output;
* a 1x1x1 convolution to the classes; no normalisation layers (the paper has none); the forward
  returns logits (``softmax(1)`` gives the paper's voxel-wise probabilities).

That is 65,175,314 parameters for one input channel and two classes. ``base_channels`` (16) and
``depth`` (4 down-sampling steps) shrink it for small volumes, whose sides must be multiples of
2**depth; ``batch_norm=True`` adds BatchNorm3d after each convolution (without bias), as many
re-implementations do.
"""
import dlcore

from .. import nn
from ._registry import register_model

__all__ = ["VNet", "vnet"]

_LEFT_CONVS = (1, 2, 3, 3, 3)   # stages 1-4 and the bottom
_RIGHT_CONVS = (3, 3, 2, 1)     # from the bottom up


def _conv_act(conv, channels, batch_norm):
    layers = [conv]
    if batch_norm:
        layers.append(nn.BatchNorm3d(channels))
    layers.append(nn.PReLU(channels))
    return nn.Sequential(*layers)


class _Stage(nn.Module):
    """``n`` 5x5x5 convolutions with PReLU; the input is added to the last one's output."""

    def __init__(self, channels, n, batch_norm):
        super().__init__()
        self.convs = nn.Sequential(*(_conv_act(nn.Conv3d(channels, channels, 5, padding=2, bias=not batch_norm),
                                               channels, batch_norm) for _ in range(n)))

    def forward(self, x):
        return self.convs(x) + x


class VNet(nn.Module):
    def __init__(self, in_channels=1, num_classes=2, base_channels=16, depth=4, batch_norm=False):
        super().__init__()
        if not 1 <= depth <= 4 or base_channels < 1 or in_channels < 1 or num_classes < 1:
            raise ValueError(f"VNet: depth must be 1-4 and in_channels, num_classes, base_channels >= 1, got "
                             f"depth={depth}, {in_channels}, {num_classes}, {base_channels}")
        self.depth, self.base = depth, base_channels
        widths = [base_channels * 2 ** i for i in range(depth + 1)]
        left = list(_LEFT_CONVS[:depth]) + [_LEFT_CONVS[-1]]
        right = list(_RIGHT_CONVS[-depth:])
        self.first = _conv_act(nn.Conv3d(in_channels, widths[0], 5, padding=2, bias=not batch_norm), widths[0],
                               batch_norm)
        self.first_rest = nn.Sequential(*(_conv_act(nn.Conv3d(widths[0], widths[0], 5, padding=2,
                                                              bias=not batch_norm), widths[0], batch_norm)
                                          for _ in range(left[0] - 1)))
        self.downs = nn.ModuleList(_conv_act(nn.Conv3d(widths[i], widths[i + 1], 2, stride=2, bias=not batch_norm),
                                             widths[i + 1], batch_norm) for i in range(depth))
        self.left = nn.ModuleList(_Stage(widths[i + 1], left[i + 1], batch_norm) for i in range(depth))
        # right stage i (from the bottom) works at widths[depth - i] channels, = 2 * the skip's
        self.ups = nn.ModuleList()
        self.right = nn.ModuleList()
        c = widths[depth]
        for i in range(depth):
            stage = 2 * widths[depth - 1 - i]
            self.ups.append(_conv_act(nn.ConvTranspose3d(c, stage // 2, 2, stride=2, bias=not batch_norm), stage // 2,
                                      batch_norm))
            self.right.append(_Stage(stage, right[i], batch_norm))
            c = stage
        self.head = nn.Conv3d(c, num_classes, 1)

    def forward(self, x):
        if x.dim() != 5:
            raise ValueError(f"VNet: expected input [N, C, D, H, W], got {tuple(x.shape)}")
        step = 2 ** self.depth
        if any(s % step for s in x.shape[2:]):
            raise ValueError(f"VNet: the volume's sides must be multiples of {step} (2**depth), got "
                             f"{'x'.join(map(str, x.shape[2:]))}")
        y = self.first_rest(self.first(x))
        # the first stage's residual: its input repeated to the stage's channels
        reps = -(-y.shape[1] // x.shape[1])
        y = y + x.repeat(1, reps, 1, 1, 1)[:, :y.shape[1]]
        skips = [y]
        for down, stage in zip(self.downs, self.left):
            y = stage(down(y))
            skips.append(y)
        skips.pop()
        for up, stage, skip in zip(self.ups, self.right, reversed(skips)):
            y = stage(dlcore.cat((up(y), skip), 1))
        return self.head(y)


@register_model("vnet")
def vnet(in_channels=1, num_classes=2, **kwargs):
    """The V-Net of the paper (see the module docstring for the choices it leaves open); options in
    :class:`VNet` (``base_channels``, ``depth``, ``batch_norm``)."""
    return VNet(in_channels=in_channels, num_classes=num_classes, **kwargs)
