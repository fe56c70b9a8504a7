"""Residual networks: ResNet-18/34/50/101/152 and ResNeXt-50 32x4d as torchvision builds them (He et
al., 2015, "Deep Residual Learning for Image Recognition"; Xie et al., 2016, "Aggregated Residual
Transformations"), the same networks with a small-image stem, and the CIFAR-10 ResNets of the
ResNet paper's section 4.2 (ResNet-20/32/44/56/110)."""
import dlcore

from .. import nn
from ._registry import register_model


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution without bias, padded to keep the size at stride 1."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups,
                     bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm; the input (through ``downsample`` when the shape
    changes) is added before the last ReLU."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock: only groups=1 and base_width=64 are supported, got groups={groups}, "
                             f"base_width={base_width}")
        if dilation > 1:
            raise ValueError(f"BasicBlock: dilation > 1 is not supported, got {dilation}")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (grouped for ResNeXt, strided when downsampling, as torchvision's "ResNet
    v1.5"), 1x1 expand to ``planes * 4``, each with BatchNorm; the input is added before the last
    ReLU."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _init_resnet(model, zero_init_residual):
    """torchvision's initialisation: convolutions kaiming_normal_(fan_out, relu), norm layers weight
    1 and bias 0 (Linear layers keep their default). With ``zero_init_residual`` the last norm of
    every residual branch starts at 0, so each block starts as the identity."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)


class ResNet(nn.Module):
    """Stem, four stages of residual blocks (64/128/256/512 planes, the last three halving the
    size), global average pooling and a Linear classifier.

    ``small_input=False``: the ImageNet stem, a 7x7 stride-2 convolution and a 3x3 stride-2 max
    pool (input divided by 32 in all). ``small_input=True``: a 3x3 stride-1 convolution and no
    pooling, for 28-32 px images (divided by 8 in all). ``groups`` and ``width_per_group`` make
    ResNeXt bottlenecks."""

    def __init__(self, block, layers, num_classes=1000, in_channels=3, zero_init_residual=False, groups=1,
                 width_per_group=64, small_input=False):
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet: layers should have 4 entries (blocks per stage), got {layers}")
        self.inplanes = 64
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group
        if small_input:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_resnet(self, zero_init_residual)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, self.dilation)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                dilation=self.dilation))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def _resnet(block, layers, num_classes, in_channels, kwargs):
    return ResNet(block, layers, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model("resnet18")
def resnet18(num_classes=1000, in_channels=3, **kwargs):
    """ResNet-18: 11,689,512 parameters for 1000 classes."""
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, kwargs)


@register_model("resnet34")
def resnet34(num_classes=1000, in_channels=3, **kwargs):
    """ResNet-34: 21,797,672 parameters for 1000 classes."""
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, kwargs)


@register_model("resnet50")
def resnet50(num_classes=1000, in_channels=3, **kwargs):
    """ResNet-50: 25,557,032 parameters for 1000 classes."""
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, kwargs)


@register_model("resnet101")
def resnet101(num_classes=1000, in_channels=3, **kwargs):
    """ResNet-101: 44,549,160 parameters for 1000 classes."""
    return _resnet(Bottleneck, [3, 4, 23, 3], num_classes, in_channels, kwargs)


@register_model("resnet152")
def resnet152(num_classes=1000, in_channels=3, **kwargs):
    """ResNet-152: 60,192,808 parameters for 1000 classes."""
    return _resnet(Bottleneck, [3, 8, 36, 3], num_classes, in_channels, kwargs)


@register_model("resnext50_32x4d")
def resnext50_32x4d(num_classes=1000, in_channels=3, **kwargs):
    """ResNeXt-50 32x4d (32 groups of width 4 in the first stage): 25,028,904 parameters for 1000
    classes."""
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, dict(kwargs, groups=32, width_per_group=4))


@register_model("resnet18_cifar")
def resnet18_cifar(num_classes=10, in_channels=3, **kwargs):
    """ResNet-18 with a 3x3 stride-1 stem and no max pool, for 28-32 px images: 11,173,962
    parameters for 10 classes."""
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, dict(kwargs, small_input=True))


@register_model("resnet34_cifar")
def resnet34_cifar(num_classes=10, in_channels=3, **kwargs):
    """ResNet-34 with a 3x3 stride-1 stem and no max pool, for 28-32 px images: 21,282,122
    parameters for 10 classes."""
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, dict(kwargs, small_input=True))


# ---- the CIFAR-10 ResNets of He et al. (2015), section 4.2 -----------------------------------------

class ShortcutA(nn.Module):
    """The parameter-free "option A" shortcut: keeps every ``stride``-th row and column and appends
    ``out_planes - in_planes`` all-zero channels."""

    def __init__(self, in_planes, out_planes, stride):
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"ShortcutA: out_planes ({out_planes}) must be at least in_planes ({in_planes})")
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

    def forward(self, x):
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        extra = self.out_planes - self.in_planes
        return dlcore.pad(x, [0, 0, 0, 0, 0, extra]) if extra else x

    def extra_repr(self):
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


class CifarBasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a shortcut: the identity, or when the shape changes
    an option-A shortcut (``shortcut="A"``, parameter-free) or a 1x1 projection with BatchNorm
    (``shortcut="B"``)."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, shortcut="A"):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            if shortcut == "A":
                self.downsample = ShortcutA(inplanes, planes, stride)
            else:
                self.downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """The 6n+2-layer CIFAR-10 network of He et al. (2015), section 4.2: a 3x3 convolution to 16
    maps, three stages of n basic blocks with 16, 32 and 64 maps on 32x32, 16x16 and 8x8 (the
    first block of the last two stages has stride 2), global average pooling and a Linear
    classifier. The shortcuts are identities, with option A (zero-padded channels, strided
    subsampling; no parameters) where the shape changes, or option B (1x1 projections) with
    ``shortcut="B"``. Initialisation as :class:`ResNet`.

    Parameters of ResNet-20 (n=3, option A, 10 classes), weights + BatchNorm affine:
    stem 3*16*9 + 2*16 = 464; stage 1: 6 * (16*16*9 + 2*16) = 14,016; stage 2: 32*16*9 +
    5 * 32*32*9 + 6 * 2*32 = 51,072; stage 3: 64*32*9 + 5 * 64*64*9 + 6 * 2*64 = 203,520;
    fc 64*10 + 10 = 650; total 269,722.
    """

    def __init__(self, depth=20, num_classes=10, in_channels=3, shortcut="A", zero_init_residual=False):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CifarResNet: depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110...), got {depth}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"CifarResNet: shortcut must be 'A' or 'B', got {shortcut!r}")
        n = (depth - 2) // 6
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.inplanes = 16
        self.layer1 = self._make_layer(16, n, 1, shortcut)
        self.layer2 = self._make_layer(32, n, 2, shortcut)
        self.layer3 = self._make_layer(64, n, 2, shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        _init_resnet(self, False)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, CifarBasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, planes, blocks, stride, shortcut):
        layers = [CifarBasicBlock(self.inplanes, planes, stride, shortcut)]
        self.inplanes = planes
        layers += [CifarBasicBlock(planes, planes, 1, shortcut) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


@register_model("resnet20")
def resnet20(num_classes=10, in_channels=3, **kwargs):
    """ResNet-20 for CIFAR-10 (n=3, see :class:`CifarResNet`): 269,722 parameters for 10 classes."""
    return CifarResNet(20, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model("resnet32")
def resnet32(num_classes=10, in_channels=3, **kwargs):
    """ResNet-32 for CIFAR-10 (n=5): 464,154 parameters for 10 classes."""
    return CifarResNet(32, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model("resnet44")
def resnet44(num_classes=10, in_channels=3, **kwargs):
    """ResNet-44 for CIFAR-10 (n=7): 658,586 parameters for 10 classes."""
    return CifarResNet(44, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model("resnet56")
def resnet56(num_classes=10, in_channels=3, **kwargs):
    """ResNet-56 for CIFAR-10 (n=9): 853,018 parameters for 10 classes."""
    return CifarResNet(56, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model("resnet110")
def resnet110(num_classes=10, in_channels=3, **kwargs):
    """ResNet-110 for CIFAR-10 (n=18): 1,727,962 parameters for 10 classes."""
    return CifarResNet(110, num_classes=num_classes, in_channels=in_channels, **kwargs)
