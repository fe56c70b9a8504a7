"""PyTorch builds of dlcore.models.unet and dlcore.models.vnet with the same layers in the same
order and the same parameter names, for the training-step benchmark and the model tests."""
import torch
from torch import nn


class DoubleConv(nn.Sequential):
    def __init__(self, c_in, c_out, padding, batch_norm):
        layers = []
        for c in (c_in, c_out):
            layers.append(nn.Conv2d(c, c_out, 3, padding=1 if padding else 0, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UNet(nn.Module):
    def __init__(self, in_channels=1, num_classes=2, base_channels=64, depth=4, padding=False, batch_norm=False):
        super().__init__()
        self.depth = depth
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

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < self.depth:
                skips.append(x)
                x = self.pool(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = up(x)
            top, left = (skip.shape[2] - x.shape[2]) // 2, (skip.shape[3] - x.shape[3]) // 2
            skip = skip[:, :, top:top + x.shape[2], left:left + x.shape[3]]
            x = dec(torch.cat((skip, x), 1))
        return self.head(x)


_LEFT_CONVS = (1, 2, 3, 3, 3)
_RIGHT_CONVS = (3, 3, 2, 1)


def _conv_act(conv, channels, batch_norm):
    layers = [conv]
    if batch_norm:
        layers.append(nn.BatchNorm3d(channels))
    layers.append(nn.PReLU(channels))
    return nn.Sequential(*layers)


class _Stage(nn.Module):
    def __init__(self, channels, n, batch_norm):
        super().__init__()
        self.convs = nn.Sequential(*(_conv_act(nn.Conv3d(channels, channels, 5, padding=2, bias=not batch_norm),
                                               channels, batch_norm) for _ in range(n)))

    def forward(self, x):
        return self.convs(x) + x


class VNet(nn.Module):
    def __init__(self, in_channels=1, num_classes=2, base_channels=16, depth=4, batch_norm=False):
        super().__init__()
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
        y = self.first_rest(self.first(x))
        reps = -(-y.shape[1] // x.shape[1])
        y = y + x.repeat(1, reps, 1, 1, 1)[:, :y.shape[1]]
        skips = [y]
        for down, stage in zip(self.downs, self.left):
            y = stage(down(y))
            skips.append(y)
        skips.pop()
        for up, stage, skip in zip(self.ups, self.right, reversed(skips)):
            y = stage(torch.cat((up(y), skip), 1))
        return self.head(y)
