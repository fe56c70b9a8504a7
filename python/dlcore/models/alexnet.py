"""AlexNet: torchvision's single-tower variant and the network of Krizhevsky, Sutskever and Hinton
(2012), "ImageNet Classification with Deep Convolutional Neural Networks"."""
from .. import nn
from ._registry import register_model


class AlexNet(nn.Module):
    """torchvision's AlexNet: five convolutions with 64/192/384/256/256 maps (no normalisation),
    3x3 stride-2 max pooling, an adaptive average pool to 6x6 (so any input of at least 63x63
    works) and a 9216-4096-4096-num_classes classifier with dropout before the first two Linear
    layers. 61,100,840 parameters for 3 input channels and 1000 classes."""

    def __init__(self, num_classes=1000, in_channels=3, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


class AlexNetPaper(nn.Module):
    """The 2012 paper's AlexNet for 3x227x227 inputs (the size its 55x55 first-layer maps imply):

    conv1 96@11x11/4 -> ReLU -> LRN -> max pool 3/2 -> conv2 256@5x5 pad 2 -> ReLU -> LRN ->
    max pool 3/2 -> conv3 384@3x3 -> conv4 384@3x3 -> conv5 256@3x3 (pad 1, each + ReLU) ->
    max pool 3/2 -> fc6 9216-4096 -> ReLU -> dropout -> fc7 4096-4096 -> ReLU -> dropout -> fc8.

    Pooling overlaps (3x3 windows, stride 2); dropout (p=0.5) follows the first two fully
    connected layers. The response normalisation is the paper's
    ``b = a / (k + alpha * sum of a^2 over 5 neighbouring maps)^beta`` with k=2, alpha=1e-4,
    beta=0.75. ``nn.LocalResponseNorm`` divides its ``alpha`` by ``size`` (as PyTorch's does),
    so it is given ``alpha = 5 * 1e-4``.

    ``grouped=False`` (default) connects every map to every map of the previous layer, the
    single-device form: 62,378,344 parameters for 1000 classes. ``grouped=True`` keeps the
    paper's two-GPU connectivity, where conv2, conv4 and conv5 see only the half of the previous
    layer's maps on their own GPU (``groups=2``): 60,965,224 parameters. The counts by layer
    (weights + biases; ungrouped, with grouped in brackets):

    ====== =================================== ======================
    conv1  96*3*11*11 + 96                      34,944
    conv2  256*96*5*5 + 256  [256*48*5*5+256]   614,656  [307,456]
    conv3  384*256*3*3 + 384                    885,120
    conv4  384*384*3*3 + 384 [384*192*3*3+384]  1,327,488 [663,936]
    conv5  256*384*3*3 + 256 [256*192*3*3+256]  884,992  [442,624]
    fc6    9216*4096 + 4096                     37,752,832
    fc7    4096*4096 + 4096                     16,781,312
    fc8    4096*1000 + 1000                     4,097,000
    ====== =================================== ======================

    Weights start as in the paper: N(0, 0.01^2); biases 1 in conv2, conv4, conv5 and the fully
    connected layers, 0 in conv1 and conv3.
    """

    def __init__(self, num_classes=1000, in_channels=3, dropout=0.5, grouped=False):
        super().__init__()
        g = 2 if grouped else 1
        lrn = dict(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, kernel_size=11, stride=4), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn), nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=g), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn), nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=g), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=g), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        linears = [m for m in self.classifier if isinstance(m, nn.Linear)]
        for i, m in enumerate(convs + linears):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.constant_(m.bias, 0.0 if i in (0, 2) else 1.0)

    def forward(self, x):
        x = self.features(x)
        if tuple(x.shape[1:]) != (256, 6, 6):
            raise ValueError(f"AlexNetPaper: expected 3x227x227 inputs (6x6 maps before fc6), got input giving "
                             f"features of shape {list(x.shape)}")
        return self.classifier(x.flatten(1))


@register_model("alexnet")
def alexnet(num_classes=1000, in_channels=3, **kwargs):
    """torchvision's AlexNet (see :class:`AlexNet`): 61,100,840 parameters for 1000 classes."""
    return AlexNet(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model("alexnet_paper")
def alexnet_paper(num_classes=1000, in_channels=3, **kwargs):
    """The 2012 paper's AlexNet with LRN, overlapping pooling and dropout, for 227x227 inputs (see
    :class:`AlexNetPaper`): 62,378,344 parameters for 1000 classes (60,965,224 with
    ``grouped=True``)."""
    return AlexNetPaper(num_classes=num_classes, in_channels=in_channels, **kwargs)
