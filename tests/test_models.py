"""dlcore.models: every registered builder has its reference parameter count and output shape; the
architectures match torch.nn networks built here by hand (torchvision's layouts: the same
state_dict keys and shapes, the same eval-mode outputs with copied weights, the same gradients);
the initialisations are torchvision's / the papers'; small models overfit a small batch."""
import math

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import dlcore
from dlcore import models, nn, optim
from torch_ref import to_np

# Parameter counts: torchvision's for the ImageNet models (torchvision.models docs), hand
# computations (in the docstrings of AlexNetPaper and CifarResNet) for the others.
EXPECTED_PARAMS = {
    "lenet": 61_706,
    "lenet5": 61_706,
    "mlp": 235_146,  # 784*256+256 + 256*128+128 + 128*10+10
    "alexnet": 61_100_840,
    "alexnet_paper": 62_378_344,
    "vgg11": 132_863_336,
    "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248,
    "googlenet": 6_624_904,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    # ResNet-18/34 - the 7x7 stem (64*3*49) + a 3x3 one (64*3*9) - the 1000-class fc + a 10-class one
    "resnet18_cifar": 11_689_512 - 9408 + 1728 - 513_000 + 5130,
    "resnet34_cifar": 21_797_672 - 9408 + 1728 - 513_000 + 5130,
    # 6n+2 layers: 464 (stem) + 2n*2336 + (4608 + (2n-1)*9216 + 2n*64) + (18432 + (2n-1)*36864 + 2n*128) + 650
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
}

_INIT_FNS = ["uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "kaiming_uniform_",
             "kaiming_normal_", "xavier_uniform_", "xavier_normal_"]


@pytest.fixture
def fast_init(monkeypatch):
    """Initialisers that leave the tensor as allocated: for tests that check structure or overwrite
    every value (drawing the ~10^8 weights of VGG/AlexNet takes seconds)."""
    for name in _INIT_FNS:
        monkeypatch.setattr(nn.init, name, lambda t, *args, **kwargs: t)


@pytest.fixture
def record_init(monkeypatch):
    """Initialisers that record (function, shape, arguments) instead of drawing values."""
    calls = []

    def make(name):
        def fn(t, *args, **kwargs):
            calls.append((name, tuple(t.shape), args, kwargs))
            return t
        return fn
    for name in _INIT_FNS:
        monkeypatch.setattr(nn.init, name, make(name))
    return calls


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ---- registry, parameter counts, output shapes ---------------------------------------------------
_CNN_MODULES = {f"dlcore.models.{m}" for m in ("lenet", "mlp", "alexnet", "vgg", "googlenet", "resnet")}


def test_every_registered_model_has_a_documented_count():
    from dlcore.models._registry import _MODELS
    ours = sorted(name for name, fn in _MODELS.items() if fn.__module__ in _CNN_MODULES)
    assert ours == sorted(EXPECTED_PARAMS) == sorted(INPUT_SHAPES)


_IMAGENET = {"alexnet", "alexnet_paper", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
             "resnext50_32x4d"} | {f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")}

# The smallest convenient input of each model.
INPUT_SHAPES = {
    "lenet": (2, 1, 28, 28), "lenet5": (2, 1, 28, 28), "mlp": (2, 1, 28, 28),
    "alexnet": (2, 3, 64, 64), "alexnet_paper": (1, 3, 227, 227), "googlenet": (2, 3, 64, 64),
    "resnet18": (2, 3, 64, 64), "resnet34": (1, 3, 64, 64), "resnet50": (1, 3, 64, 64), "resnet101": (1, 3, 32, 32),
    "resnet152": (1, 3, 32, 32), "resnext50_32x4d": (1, 3, 32, 32),
    "resnet18_cifar": (2, 3, 32, 32), "resnet34_cifar": (1, 3, 28, 28),
    "resnet20": (2, 3, 32, 32), "resnet32": (1, 3, 32, 32), "resnet44": (1, 3, 28, 28), "resnet56": (1, 3, 32, 32),
    "resnet110": (1, 3, 32, 32),
}
INPUT_SHAPES.update({name: (1, 3, 32, 32) for name in _IMAGENET if name.startswith("vgg")})


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_build_count_and_output_shape(name, fast_init):
    """Builds with the default arguments, has the reference parameter count, and maps a small
    input to (batch, num_classes)."""
    num_classes = 1000 if name in _IMAGENET else 10
    model = models.get_model(name)
    assert n_params(model) == EXPECTED_PARAMS[name]
    assert all(p.requires_grad for p in model.parameters())
    in_shape = INPUT_SHAPES[name]
    with dlcore.no_grad():
        out = model.eval()(dlcore.randn(*in_shape))
    assert tuple(out.shape) == (in_shape[0], num_classes)


# (name, builder kwargs, input shape, output shape): other num_classes / in_channels
SHAPES = [
    ("lenet5", {"num_classes": 3, "in_channels": 3}, (2, 3, 28, 28), (2, 3)),
    ("mlp", {"in_channels": 3, "image_size": 32}, (2, 3, 32, 32), (2, 10)),
    ("alexnet", {"num_classes": 10, "in_channels": 1}, (1, 1, 63, 63), (1, 10)),
    ("alexnet_paper", {"num_classes": 10, "grouped": True}, (1, 3, 227, 227), (1, 10)),
    ("googlenet", {"num_classes": 10, "in_channels": 1}, (1, 1, 32, 32), (1, 10)),
    ("resnet18", {"num_classes": 7, "in_channels": 1}, (2, 1, 64, 64), (2, 7)),
    ("resnet50", {"num_classes": 7, "in_channels": 1}, (1, 1, 32, 32), (1, 7)),
    ("resnet18_cifar", {"num_classes": 100}, (2, 3, 32, 32), (2, 100)),
    ("resnet34_cifar", {"in_channels": 1}, (1, 1, 28, 28), (1, 10)),
    ("resnet20", {"in_channels": 1, "num_classes": 4, "shortcut": "B"}, (2, 1, 28, 28), (2, 4)),
    ("vgg11_bn", {"num_classes": 10, "in_channels": 1}, (1, 1, 32, 32), (1, 10)),
]


@pytest.mark.parametrize("name,kwargs,in_shape,out_shape", SHAPES, ids=[s[0] for s in SHAPES])
def test_num_classes_and_in_channels(name, kwargs, in_shape, out_shape, fast_init):
    model = models.get_model(name, **kwargs).eval()
    with dlcore.no_grad():
        out = model(dlcore.randn(*in_shape))
    assert tuple(out.shape) == out_shape


def test_variant_parameter_counts(fast_init):
    assert n_params(models.googlenet(aux_logits=True)) == 13_004_888  # torchvision's with aux classifiers
    assert n_params(models.alexnet_paper(grouped=True)) == 60_965_224  # two-GPU connectivity
    # option-B (projection) shortcuts add a 1x1 conv + BN at the two stage transitions
    assert n_params(models.resnet20(shortcut="B")) == 269_722 + (16 * 32 + 64) + (32 * 64 + 128)
    # num_classes changes only the classifier; in_channels only the first convolution
    assert n_params(models.resnet18(num_classes=10)) == 11_689_512 - 512 * 990 - 990
    assert n_params(models.resnet18(in_channels=1)) == 11_689_512 - 64 * 2 * 49
    assert n_params(models.vgg16(num_classes=10)) == 138_357_544 - 4096 * 990 - 990


def test_alexnet_paper_count_by_hand():
    convs = [(96, 3, 11, 1), (256, 96, 5, 1), (384, 256, 3, 1), (384, 384, 3, 1), (256, 384, 3, 1)]
    fcs = [(9216, 4096), (4096, 4096), (4096, 1000)]
    count = lambda groups: (sum(k * c // g * r * r + k for (k, c, r, _), g in zip(convs, groups))  # noqa: E731
                            + sum(i * o + o for i, o in fcs))
    assert count([1, 1, 1, 1, 1]) == EXPECTED_PARAMS["alexnet_paper"]
    assert count([1, 2, 1, 2, 2]) == 60_965_224


def test_cifar_resnet_counts_by_hand():
    for depth in (20, 32, 44, 56, 110):
        n = (depth - 2) // 6
        stem = 3 * 16 * 9 + 2 * 16
        stage1 = 2 * n * (16 * 16 * 9 + 2 * 16)
        stage2 = 16 * 32 * 9 + (2 * n - 1) * 32 * 32 * 9 + 2 * n * 2 * 32
        stage3 = 32 * 64 * 9 + (2 * n - 1) * 64 * 64 * 9 + 2 * n * 2 * 64
        assert stem + stage1 + stage2 + stage3 + 64 * 10 + 10 == EXPECTED_PARAMS[f"resnet{depth}"]


def test_get_model_names_and_errors():
    assert all(name == name.lower() for name in models.list_models())
    assert isinstance(models.get_model("ResNet20"), models.CifarResNet)
    with pytest.raises(ValueError, match="unknown model 'resnet19'"):
        models.get_model("resnet19")
    with pytest.raises(ValueError, match="6n\\+2"):
        models.CifarResNet(depth=21)
    with pytest.raises(ValueError, match="only groups=1"):
        models.BasicBlock(64, 64, groups=32)


def test_alexnet_paper_rejects_other_input_sizes(fast_init):
    model = models.alexnet_paper(num_classes=10).eval()
    with pytest.raises(ValueError, match="AlexNetPaper: expected 3x227x227 inputs"):
        with dlcore.no_grad():
            model(dlcore.randn(1, 3, 224, 224))


def test_googlenet_aux_outputs(fast_init):
    model = models.googlenet(num_classes=5, aux_logits=True)
    out = model(dlcore.randn(2, 3, 64, 64))
    assert isinstance(out, models.GoogLeNetOutputs)
    assert [tuple(t.shape) for t in out] == [(2, 5)] * 3
    model.eval()
    with dlcore.no_grad():
        assert tuple(model(dlcore.randn(2, 3, 64, 64)).shape) == (2, 5)
    assert models.googlenet().aux1 is None


def test_option_a_shortcut():
    x = dlcore.randn(2, 16, 7, 7)
    y = models.resnet.ShortcutA(16, 32, 2)(x)
    assert tuple(y.shape) == (2, 32, 4, 4)
    np.testing.assert_array_equal(to_np(y)[:, :16], to_np(x)[:, :, ::2, ::2])
    assert not to_np(y)[:, 16:].any()
    assert list(models.resnet.ShortcutA(16, 32, 2).parameters()) == []


# ---- initialisation -----------------------------------------------------------------------------
def test_resnet_init():
    dlcore.manual_seed(0)
    model = models.resnet20()
    w = to_np(model.layer3[1].conv1.weight)  # 64 x 64 x 3 x 3: kaiming_normal_ with fan_out = 64 * 9
    assert abs(w.std() / math.sqrt(2 / (64 * 9)) - 1) < 0.03 and abs(w.mean()) < 2e-3
    bn = model.layer3[1].bn2
    assert (to_np(bn.weight) == 1).all() and (to_np(bn.bias) == 0).all()
    fc = to_np(model.fc.weight)  # Linear keeps its default init: U(-1/sqrt(64), 1/sqrt(64))
    assert np.abs(fc).max() <= 1 / 8 and fc.std() > 0.05
    zero = models.ResNet(models.Bottleneck, [2, 1, 1, 1], num_classes=10, zero_init_residual=True)
    assert all(not to_np(b.bn3.weight).any() for b in zero.layer1)
    assert (to_np(zero.layer1[0].bn2.weight) == 1).all() and (to_np(zero.layer1[0].downsample[1].weight) == 1).all()
    zero = models.resnet20(zero_init_residual=True)
    assert not to_np(zero.layer2[1].bn2.weight).any() and (to_np(zero.layer2[1].bn1.weight) == 1).all()
    zero = models.resnet18_cifar(zero_init_residual=True)
    assert not to_np(zero.layer1[0].bn2.weight).any()


def test_googlenet_init(record_init):
    model = models.googlenet(aux_logits=True)
    convs_and_linears = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    truncs = [c for c in record_init if c[0] == "trunc_normal_"]
    assert [c[1] for c in truncs] == [tuple(m.weight.shape) for m in convs_and_linears]
    assert all(c[3] == {"mean": 0.0, "std": 0.01, "a": -2, "b": 2} for c in truncs)
    assert model.conv1.conv.bias is None and model.conv1.bn.eps == 0.001
def test_vgg_and_alexnet_paper_init_calls(record_init):
    models.vgg11_bn(num_classes=10)
    own = [c for c in record_init if c[0] in ("kaiming_normal_", "normal_")]
    convs = [c for c in own if len(c[1]) == 4]
    linears = [c for c in own if len(c[1]) == 2]
    assert len(convs) == 8 and all(c[0] == "kaiming_normal_" and c[3] == {"mode": "fan_out", "nonlinearity": "relu"}
                                   for c in convs)
    assert [c[1] for c in linears] == [(4096, 25088), (4096, 4096), (10, 4096)]
    assert all(c[0] == "normal_" and c[2] == (0.0, 0.01) for c in linears)
    record_init.clear()
    models.alexnet_paper()
    normals = [c for c in record_init if c[0] == "normal_"]
    assert len(normals) == 8 and all(c[2] == (0.0, 0.01) for c in normals)
    biases = [c[2][0] for c in record_init if c[0] == "constant_"]
    assert biases == [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]  # conv1..5, fc6..8


def test_alexnet_paper_lrn_is_the_papers_formula(fast_init):
    model = models.alexnet_paper()
    lrns = [m for m in model.features if isinstance(m, nn.LocalResponseNorm)]
    assert len(lrns) == 2
    a = np.random.default_rng(0).standard_normal((2, 9, 3, 4)) * 20
    b = to_np(lrns[0](dlcore.tensor(a)))
    # b_i = a_i / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} a_j^2)^beta, n=5
    sq = np.square(a)
    sums = np.stack([sq[:, max(0, i - 2):i + 3].sum(1) for i in range(9)], 1)
    np.testing.assert_allclose(b, a / (2 + 1e-4 * sums) ** 0.75, rtol=1e-12)
    pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(3, 2)] * 3  # overlapping pooling
    assert [m.p for m in model.classifier if isinstance(m, nn.Dropout)] == [0.5, 0.5]


# ---- torch.nn equivalents built by hand ---------------------------------------------------------
class TorchBlock(tnn.Module):
    def __init__(self, inplanes, planes, stride=1, bottleneck=False, groups=1, width_per_group=64, shortcut="B"):
        super().__init__()
        self.bottleneck = bottleneck
        out = planes * (4 if bottleneck else 1)
        if bottleneck:
            width = int(planes * width_per_group / 64) * groups
            self.conv1 = tnn.Conv2d(inplanes, width, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(width)
            self.conv2 = tnn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
            self.bn2 = tnn.BatchNorm2d(width)
            self.conv3 = tnn.Conv2d(width, out, 1, bias=False)
            self.bn3 = tnn.BatchNorm2d(out)
        else:
            self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = None
        self.pad = None
        if stride != 1 or inplanes != out:
            if shortcut == "A":
                self.pad = (stride, out - inplanes)
            else:
                self.downsample = tnn.Sequential(tnn.Conv2d(inplanes, out, 1, stride, bias=False), tnn.BatchNorm2d(out))

    def forward(self, x):
        if self.pad is not None:
            s, extra = self.pad
            identity = TF.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, 0, extra))
        else:
            identity = x if self.downsample is None else self.downsample(x)
        out = TF.relu(self.bn1(self.conv1(x)))
        if self.bottleneck:
            out = self.bn3(self.conv3(TF.relu(self.bn2(self.conv2(out)))))
        else:
            out = self.bn2(self.conv2(out))
        return TF.relu(out + identity)


class TorchResNet(tnn.Module):
    """torchvision's ResNet layout (ImageNet stem) or the CIFAR ResNet (``widths`` of 3 stages)."""

    def __init__(self, layers, num_classes, bottleneck=False, groups=1, width_per_group=64, cifar=False):
        super().__init__()
        widths = (16, 32, 64) if cifar else (64, 128, 256, 512)
        shortcut = "A" if cifar else "B"
        if cifar:
            self.conv1 = tnn.Conv2d(3, 16, 3, 1, 1, bias=False)
        else:
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(widths[0])
        self.maxpool = tnn.Identity() if cifar else tnn.MaxPool2d(3, 2, 1)
        inplanes = widths[0]
        self.stages = []
        for i, (w, n) in enumerate(zip(widths, layers)):
            blocks = []
            for j in range(n):
                blocks.append(TorchBlock(inplanes, w, 2 if (i > 0 and j == 0) else 1, bottleneck, groups,
                                         width_per_group, shortcut))
                inplanes = w * (4 if bottleneck else 1)
            setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
            self.stages.append(f"layer{i + 1}")
        self.fc = tnn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.maxpool(TF.relu(self.bn1(self.conv1(x))))
        for name in self.stages:
            x = getattr(self, name)(x)
        return self.fc(x.mean((2, 3)))


class TorchBasicConv(tnn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return TF.relu(self.bn(self.conv(x)))


class TorchInception(tnn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        self.branch1 = TorchBasicConv(cin, c1, kernel_size=1)
        self.branch2 = tnn.Sequential(TorchBasicConv(cin, c3r, kernel_size=1),
                                      TorchBasicConv(c3r, c3, kernel_size=3, padding=1))
        self.branch3 = tnn.Sequential(TorchBasicConv(cin, c5r, kernel_size=1),
                                      TorchBasicConv(c5r, c5, kernel_size=3, padding=1))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True), TorchBasicConv(cin, pp, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TorchGoogLeNet(tnn.Module):
    CFG = {"3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
           "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
           "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
           "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
           "5b": (832, 384, 192, 384, 48, 128, 128)}

    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = TorchBasicConv(3, 64, kernel_size=7, stride=2, padding=3)
        self.conv2 = TorchBasicConv(64, 64, kernel_size=1)
        self.conv3 = TorchBasicConv(64, 192, kernel_size=3, padding=1)
        for k, cfg in self.CFG.items():
            setattr(self, f"inception{k}", TorchInception(*cfg))
        self.fc = tnn.Linear(1024, num_classes)

    def forward(self, x):
        pool = lambda x, k=3: TF.max_pool2d(x, k, 2, ceil_mode=True)  # noqa: E731
        x = pool(self.conv3(self.conv2(pool(self.conv1(x)))))
        for k in self.CFG:
            if k in ("4a", "5a"):
                x = pool(x, 3 if k == "4a" else 2)
            x = getattr(self, f"inception{k}")(x)
        return self.fc(x.mean((2, 3)))


def torch_vgg11_bn(num_classes):
    layers, cin = [], 3
    for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
        if v == "M":
            layers.append(tnn.MaxPool2d(2, 2))
        else:
            layers += [tnn.Conv2d(cin, v, 3, padding=1), tnn.BatchNorm2d(v), tnn.ReLU()]
            cin = v
    m = tnn.Module()
    m.features = tnn.Sequential(*layers)
    m.classifier = tnn.Sequential(tnn.Linear(25088, 4096), tnn.ReLU(), tnn.Dropout(), tnn.Linear(4096, 4096),
                                  tnn.ReLU(), tnn.Dropout(), tnn.Linear(4096, num_classes))
    m.forward = lambda x: m.classifier(TF.adaptive_avg_pool2d(m.features(x), (7, 7)).flatten(1))
    return m


def torch_alexnet(num_classes):
    m = tnn.Module()
    m.features = tnn.Sequential(
        tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(), tnn.MaxPool2d(3, 2), tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(),
        tnn.MaxPool2d(3, 2), tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(), tnn.Conv2d(384, 256, 3, padding=1),
        tnn.ReLU(), tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2))
    m.classifier = tnn.Sequential(tnn.Dropout(), tnn.Linear(9216, 4096), tnn.ReLU(), tnn.Dropout(),
                                  tnn.Linear(4096, 4096), tnn.ReLU(), tnn.Linear(4096, num_classes))
    m.forward = lambda x: m.classifier(TF.adaptive_avg_pool2d(m.features(x), (6, 6)).flatten(1))
    return m


def copy_weights(tmodel, dmodel, seed=0):
    """Randomises torch's BatchNorm statistics and affine parameters (so eval mode is not the
    identity), then loads torch's state_dict into the dlcore model; strict loading checks that
    every key and shape is the same."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in tmodel.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    state = {k: dlcore.from_numpy(v.detach().numpy().copy()) for k, v in tmodel.state_dict().items()}
    dmodel.load_state_dict(state)


def assert_close_scaled(got, want, rel):
    """float32 through up to ~50 layers of sums over up to ~4600 products: errors are relative to
    the output's scale, not to each (possibly cancelled) element."""
    scale = np.abs(want).max()
    assert scale > 0
    np.testing.assert_allclose(got, want, rtol=rel, atol=rel * scale)


# (name, dlcore builder kwargs, torch builder, input shape)
TORCH_EQUIVALENTS = [
    ("resnet18", {"num_classes": 10}, lambda: TorchResNet([2, 2, 2, 2], 10), (2, 3, 64, 64)),
    ("resnext50_32x4d", {"num_classes": 10},
     lambda: TorchResNet([3, 4, 6, 3], 10, bottleneck=True, groups=32, width_per_group=4), (1, 3, 64, 64)),
    ("resnet20", {}, lambda: TorchResNet([3, 3, 3], 10, cifar=True), (2, 3, 32, 32)),
    ("vgg11_bn", {"num_classes": 10}, lambda: torch_vgg11_bn(10), (2, 3, 32, 32)),
    ("googlenet", {"num_classes": 10}, lambda: TorchGoogLeNet(10), (2, 3, 64, 64)),
    ("alexnet", {"num_classes": 10}, lambda: torch_alexnet(10), (2, 3, 64, 64)),
]


@pytest.mark.parametrize("name,kwargs,make_torch,in_shape", TORCH_EQUIVALENTS, ids=[t[0] for t in TORCH_EQUIVALENTS])
def test_forward_matches_torch(name, kwargs, make_torch, in_shape, fast_init):
    torch.manual_seed(0)
    tmodel = make_torch().eval()
    dmodel = models.get_model(name, **kwargs).eval()
    copy_weights(tmodel, dmodel)
    x = np.random.default_rng(0).standard_normal(in_shape).astype(np.float32)
    with torch.no_grad():
        want = tmodel(torch.from_numpy(x)).numpy()
    with dlcore.no_grad():
        got = to_np(dmodel(dlcore.from_numpy(x)))
    assert_close_scaled(got, want, 1e-4)


def test_resnet20_training_step_matches_torch():
    """Train mode (batch statistics) forward and backward through option-A shortcuts."""
    torch.manual_seed(0)
    tmodel = TorchResNet([3, 3, 3], 10, cifar=True).train()
    dmodel = models.resnet20().train()
    copy_weights(tmodel, dmodel)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 4)
    tloss = TF.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    dloss = nn.functional.cross_entropy(dmodel(dlcore.from_numpy(x)), dlcore.from_numpy(y))
    dloss.backward()
    np.testing.assert_allclose(dloss.item(), tloss.item(), rtol=1e-5)
    tparams = dict(tmodel.named_parameters())
    for name, p in dmodel.named_parameters():
        assert_close_scaled(to_np(p.grad), tparams[name].grad.numpy(), 1e-3)
    dbuffers = dict(dmodel.named_buffers())
    for name, b in tmodel.named_buffers():  # running statistics updated the same way
        assert_close_scaled(to_np(dbuffers[name]), b.numpy(), 1e-5)


# ---- a small batch overfits ---------------------------------------------------------------------
# (name, input shape, optimizer, lr, step bound): the loss must fall to a tenth of its first value.
OVERFIT = [
    ("lenet5", (1, 28, 28), "adam", 3e-3, 60),  # ~20 steps
    ("mlp", (1, 28, 28), "adam", 1e-3, 40),  # ~10 steps
    ("resnet20", (3, 16, 16), "adam", 3e-3, 30),  # ~5 steps
    ("resnet18_cifar", (3, 16, 16), "adam", 1e-3, 15),  # ~2 steps
]


@pytest.mark.parametrize("name,shape,opt,lr,max_steps", OVERFIT, ids=[o[0] for o in OVERFIT])
def test_small_batch_overfits(name, shape, opt, lr, max_steps):
    dlcore.manual_seed(0)
    model = models.get_model(name, num_classes=10).train()
    x = dlcore.randn(16, *shape)
    y = dlcore.randint(0, 10, (16,))
    if opt == "adam":
        optimizer = optim.Adam(model.parameters(), lr=lr)
    else:
        optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(max_steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        value = loss.item()
        assert math.isfinite(value)
        first = value if first is None else first
        if value < first / 10:
            break
    assert value < first / 10, f"{name}: loss went from {first:.3f} to {value:.3f} in {max_steps} steps"
