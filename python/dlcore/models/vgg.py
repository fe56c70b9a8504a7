"""VGG (Simonyan and Zisserman, 2014), configurations A, B, D and E (VGG-11/13/16/19), with and
without batch normalisation, laid out as torchvision does."""
from .. import nn
from ._registry import register_model

# Output channels of the 3x3 convolutions, "M" for a 2x2 max pool.
_CFGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(cfg, batch_norm=False, in_channels=3):
    """The convolutional trunk: 3x3 convolutions (padding 1) with ReLU, and BatchNorm before the
    ReLU when ``batch_norm``; "M" entries are 2x2 max pools."""
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A convolutional trunk (``features``), an adaptive average pool to 7x7 (inputs from 32x32
    up work: smaller final maps are replicated to 7x7) and the 25088-4096-4096-num_classes
    classifier with ReLU and dropout.

    Initialisation as torchvision: convolutions kaiming_normal_(fan_out, relu) with zero bias,
    BatchNorm weight 1 and bias 0, Linear N(0, 0.01^2) with zero bias."""

    def __init__(self, features, num_classes=1000, dropout=0.5, init_weights=True):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, 0.01)
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _vgg(depth, batch_norm, num_classes, in_channels, kwargs):
    return VGG(make_layers(_CFGS[depth], batch_norm, in_channels), num_classes=num_classes, **kwargs)


@register_model("vgg11")
def vgg11(num_classes=1000, in_channels=3, **kwargs):
    """VGG-11 (configuration A): 132,863,336 parameters for 1000 classes."""
    return _vgg(11, False, num_classes, in_channels, kwargs)


@register_model("vgg11_bn")
def vgg11_bn(num_classes=1000, in_channels=3, **kwargs):
    """VGG-11 with BatchNorm: 132,868,840 parameters for 1000 classes."""
    return _vgg(11, True, num_classes, in_channels, kwargs)


@register_model("vgg13")
def vgg13(num_classes=1000, in_channels=3, **kwargs):
    """VGG-13 (configuration B): 133,047,848 parameters for 1000 classes."""
    return _vgg(13, False, num_classes, in_channels, kwargs)


@register_model("vgg13_bn")
def vgg13_bn(num_classes=1000, in_channels=3, **kwargs):
    """VGG-13 with BatchNorm: 133,053,736 parameters for 1000 classes."""
    return _vgg(13, True, num_classes, in_channels, kwargs)


@register_model("vgg16")
def vgg16(num_classes=1000, in_channels=3, **kwargs):
    """VGG-16 (configuration D): 138,357,544 parameters for 1000 classes."""
    return _vgg(16, False, num_classes, in_channels, kwargs)


@register_model("vgg16_bn")
def vgg16_bn(num_classes=1000, in_channels=3, **kwargs):
    """VGG-16 with BatchNorm: 138,365,992 parameters for 1000 classes."""
    return _vgg(16, True, num_classes, in_channels, kwargs)


@register_model("vgg19")
def vgg19(num_classes=1000, in_channels=3, **kwargs):
    """VGG-19 (configuration E): 143,667,240 parameters for 1000 classes."""
    return _vgg(19, False, num_classes, in_channels, kwargs)


@register_model("vgg19_bn")
def vgg19_bn(num_classes=1000, in_channels=3, **kwargs):
    """VGG-19 with BatchNorm: 143,678,248 parameters for 1000 classes."""
    return _vgg(19, True, num_classes, in_channels, kwargs)
