"""U-Net (Ronneberger, Fischer and Brox, 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation") and its common padded form.

The paper's network (``unet()``): per level two unpadded 3x3 convolutions with ReLU, 2x2 max
pooling, 64 -> 1024 channels over five levels, 2x2 up-convolutions halving the channels, the
encoder's maps centre-cropped to the decoder's size and concatenated, two 3x3 convolutions, and a
1x1 convolution to the classes: 31,030,658 parameters for one input channel and two classes; a
572x572 input gives a 388x388 map of class logits (``UNet.output_size(572) == 388``).

``padding=True`` keeps every size (3x3 convolutions padded by 1; the input sides must then be
multiples of 2**depth), ``batch_norm=True`` puts BatchNorm between each convolution and its ReLU
(the convolution then has no bias), ``base_channels`` and ``depth`` shrink the network for small
inputs.
"""
import dlcore

from .. import nn
from ._registry import register_model

__all__ = ["UNet", "unet"]


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions, each followed by (BatchNorm and) ReLU."""

    def __init__(self, c_in, c_out, padding, batch_norm):
        layers = []
        for c in (c_in, c_out):
            layers.append(nn.Conv2d(c, c_out, 3, padding=1 if padding else 0, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def _centre_crop(x, h, w):
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    return x[:, :, top:top + h, left:left + w]


class UNet(nn.Module):
    def __init__(self, in_channels=1, num_classes=2, base_channels=64, depth=4, padding=False, batch_norm=False):
        super().__init__()
        if depth < 1 or base_channels < 1 or in_channels < 1 or num_classes < 1:
            raise ValueError(f"UNet: in_channels, num_classes, base_channels and depth must be >= 1, got "
                             f"{in_channels}, {num_classes}, {base_channels}, {depth}")
        self.depth, self.padding = depth, padding
        widths = [base_channels * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c = in_channels
        for w in widths:
            self.down.append(DoubleConv(c, w, padding, batch_norm))
            c = w
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(2 * w, w, 2, stride=2))
            self.dec.append(DoubleConv(2 * w, w, padding, batch_norm))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def output_size(self, size):
        """The output side for an input side (the same with padding), or <= 0 when too small."""
        if self.padding:
            return size
        for _ in range(self.depth):
            size = (size - 4) // 2
        size -= 4
        for _ in range(self.depth):
            size = size * 2 - 4
        return size

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"UNet: expected input [N, C, H, W], got {tuple(x.shape)}")
        h, w = x.shape[2], x.shape[3]
        if self.padding:
            step = 2 ** self.depth
            if h % step or w % step:
                raise ValueError(f"UNet: with padding the input sides must be multiples of {step} (2**depth), "
                                 f"got {h}x{w}")
        elif min(self.output_size(h), self.output_size(w)) <= 0:
            raise ValueError(f"UNet: an input of {h}x{w} is too small for {self.depth} unpadded levels "
                             f"(572x572 gives 388x388)")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < self.depth:
                skips.append(x)
                x = self.pool(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = up(x)
            x = dec(dlcore.cat((_centre_crop(skip, x.shape[2], x.shape[3]), x), 1))
        return self.head(x)


@register_model("unet")
def unet(in_channels=1, num_classes=2, **kwargs):
    """The U-Net of the paper (31,030,658 parameters at 1 input channel and 2 classes); options in
    :class:`UNet` (``base_channels``, ``depth``, ``padding``, ``batch_norm``)."""
    return UNet(in_channels=in_channels, num_classes=num_classes, **kwargs)
