"""LETNet (arXiv 2302.10484) in plain PyTorch: the twin of dlcore.models.letnet, layer for layer,
with the same state-dict keys, so tests can copy weights across and compare outputs and gradients,
and benchmarks can time the same network in both libraries. See python/dlcore/models/letnet.py
for the architecture and the choices made (the fixed third long connection among them)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

STAGE1_DILATIONS = (2, 2, 2)
STAGE23_DILATIONS = (1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 32, 32)
DECODER_DILATIONS = (2, 2, 2)
BN_EPS = 1e-3


class BNPReLU(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm2d(c, eps=BN_EPS)
        self.act = nn.PReLU(c)

    def forward(self, x):
        return self.act(self.bn(x))


class ConvBNPReLU(nn.Module):
    def __init__(self, c_in, c_out, kernel, stride=1, padding=0, dilation=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.act = nn.PReLU(c_out)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class ECA(nn.Module):
    def __init__(self, k=3):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        n, c = x.shape[:2]
        y = x.mean((2, 3)).view(n, 1, c)
        return x * torch.sigmoid(self.conv(y)).view(n, c, 1, 1)


class LDB(nn.Module):
    def __init__(self, c, dilation):
        super().__init__()
        h, d = c // 2, dilation
        self.pre = BNPReLU(c)
        self.reduce = nn.Conv2d(c, h, 1, bias=False)
        self.conv3x1 = ConvBNPReLU(h, h, (3, 1), padding=(1, 0))
        self.conv1x3 = ConvBNPReLU(h, h, (1, 3), padding=(0, 1))
        self.local3x1 = ConvBNPReLU(h, h, (3, 1), padding=(1, 0), groups=h)
        self.local1x3 = ConvBNPReLU(h, h, (1, 3), padding=(0, 1), groups=h)
        self.local_eca = ECA()
        self.context3x1 = ConvBNPReLU(h, h, (3, 1), padding=(d, 0), dilation=(d, 1), groups=h)
        self.context1x3 = ConvBNPReLU(h, h, (1, 3), padding=(0, d), dilation=(1, d), groups=h)
        self.context_eca = ECA()
        self.post = BNPReLU(h)
        self.expand = nn.Conv2d(h, c, 1, bias=False)
        self.groups = h

    def forward(self, x):
        y = self.conv1x3(self.conv3x1(self.reduce(self.pre(x))))
        local = self.local_eca(self.local1x3(self.local3x1(y)))
        context = self.context_eca(self.context1x3(self.context3x1(y)))
        y = self.expand(self.post(y + local + context))
        return F.channel_shuffle(y + x, self.groups)


class Downsample(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.concat = c_in < c_out
        self.conv = nn.Conv2d(c_in, c_out - c_in if self.concat else c_out, 3, 2, 1, bias=False)
        self.norm = BNPReLU(c_out)

    def forward(self, x):
        y = self.conv(x)
        if self.concat:
            y = torch.cat((y, F.max_pool2d(x, 2, 2)), 1)
        return self.norm(y)


class UpBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x):
        return F.relu6(self.bn(self.deconv(x)))


class FeatureModule(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv3x1 = nn.Conv2d(c_in, c_in // 2, (3, 1), padding=(1, 0))
        self.conv1x3 = nn.Conv2d(c_in // 2, c_out, (1, 3), padding=(0, 1))

    def forward(self, x):
        return self.conv1x3(self.conv3x1(x))


class PixelAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.conv(x))


class EfficientAttention(nn.Module):
    def __init__(self, dim, num_heads=8, num_chunks=4):
        super().__init__()
        self.heads, self.chunks = num_heads, num_chunks
        self.scale = (dim // num_heads) ** -0.5
        self.reduce = nn.Linear(dim, dim // 2, bias=False)
        self.qkv = nn.Linear(dim // 2, 3 * (dim // 2), bias=False)
        self.proj = nn.Linear(dim // 2, dim)

    def forward(self, x):
        x = self.reduce(x)
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        size = n // self.chunks
        outs = []
        for s in range(0, n, size):
            qs, ks, vs = q[:, :, s:s + size], k[:, :, s:s + size], v[:, :, s:s + size]
            attn = (qs @ ks.transpose(-2, -1) * self.scale).softmax(-1)
            outs.append(attn @ vs)
        y = torch.cat(outs, 2).transpose(1, 2).reshape(b, n, c)
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class TransformerCapsule(nn.Module):
    def __init__(self, channels, patch=3, num_heads=8, num_chunks=4):
        super().__init__()
        dim = channels * patch * patch
        self.patch = patch
        self.norm1 = nn.LayerNorm(dim)
        self.attn = EfficientAttention(dim, num_heads, num_chunks)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, dim // 4)

    def forward(self, x):
        h, w = x.shape[2:]
        p = self.patch
        t = F.unfold(x, p, padding=p // 2).transpose(1, 2)
        t = t + self.attn(self.norm1(t))
        t = t + self.mlp(self.norm2(t))
        return F.fold(t.transpose(1, 2), (h, w), p, padding=p // 2)


class LETNet(nn.Module):
    def __init__(self, in_channels=3, num_classes=19):
        super().__init__()
        self.stem = nn.Sequential(ConvBNPReLU(in_channels, 32, 3, 1, 1), ConvBNPReLU(32, 32, 3, 1, 1),
                                  ConvBNPReLU(32, 32, 3, 2, 1))
        self.stem_norm = BNPReLU(32)
        self.down1 = Downsample(32, 64)
        self.stage1 = nn.Sequential(*(LDB(64, d) for d in STAGE1_DILATIONS))
        self.stage1_norm = BNPReLU(64)
        self.down2 = Downsample(64, 128)
        self.stage2 = nn.Sequential(*(LDB(128, d) for d in STAGE23_DILATIONS))
        self.stage2_norm = BNPReLU(128)
        self.down3 = Downsample(128, 32)
        self.stage3 = nn.Sequential(*(LDB(32, d) for d in STAGE23_DILATIONS))
        self.stage3_norm = BNPReLU(32)
        self.capsule = TransformerCapsule(32)
        self.skip1 = FeatureModule(64, 16)
        self.skip2 = FeatureModule(128, 16)
        self.skip3 = FeatureModule(32, 32)
        self.decoder1 = nn.Sequential(*(LDB(32, d) for d in DECODER_DILATIONS))
        self.up1 = UpBlock(32, 16)
        self.up1_norm = BNPReLU(16)
        self.decoder2 = nn.Sequential(*(LDB(16, d) for d in DECODER_DILATIONS))
        self.up2 = UpBlock(16, 16)
        self.up2_norm = BNPReLU(16)
        self.decoder3 = nn.Sequential(*(LDB(16, d) for d in DECODER_DILATIONS))
        self.up3 = UpBlock(16, 16)
        self.pa1 = PixelAttention(16)  # built but unused, as released
        self.pa2 = PixelAttention(16)
        self.pa3 = PixelAttention(16)
        self.up3_norm = BNPReLU(16)
        self.classifier = nn.Conv2d(16, num_classes, 1, bias=False)

    def forward(self, x):
        size = x.shape[2:]
        y = self.stem_norm(self.stem(x))
        s1 = self.stage1_norm(self.stage1(self.down1(y)))
        s2 = self.stage2_norm(self.stage2(self.down2(s1)))
        s3 = self.stage3_norm(self.stage3(self.down3(s2)))
        y = self.capsule(s3)
        y = self.up1_norm(self.up1(self.decoder1(y) + self.skip3(s3)))
        y = self.up2_norm(self.up2(self.decoder2(y) + self.skip2(s2)))
        y = self.up3_norm(self.pa3(self.up3(self.decoder3(y) + self.skip1(s1))))
        y = F.interpolate(y, size, mode="bilinear", align_corners=False)
        return self.classifier(y)
