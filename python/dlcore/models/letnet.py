"""LETNet (Xu, Li, Gao, Lu, Yang and Yue, 2023, "Lightweight Real-time Semantic Segmentation
Network with Efficient Transformer and CNN", arXiv 2302.10484; IEEE T-ITS 24(12)).

``letnet(num_classes=19)`` is the network of the authors' released code (IVIPLab/LETNet), with its
one fatal bug fixed: 951,216 parameters at 19 classes and 3 input channels, i.e.
``950,912 + 16 * num_classes + 288 * (in_channels - 3)``.

Layout (for an input of H x W; every BatchNorm has eps=1e-3, "BN-PReLU" is BatchNorm then a
per-channel PReLU):

* stem: three 3x3 convolutions without bias, each with BN-PReLU (in -> 32 -> 32 -> 32, the
  third of stride 2), then one more BN-PReLU; H/2.
* three encoder stages, each a down-sampling block (a 3x3 stride-2 convolution, concatenated
  with a 2x2 max-pool of the input when the width grows, then BN-PReLU), LDB blocks and a
  BN-PReLU: 64 channels at H/4 (3 LDBs, dilation 2), 128 at H/8 and 32 at H/16 (12 LDBs each,
  dilations 1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 32, 32).
* the LDB (lightweight dilated bottleneck) on C channels: BN-PReLU, a 1x1 convolution to C/2,
  a 3x1 and a 1x3 convolution (each with BN-PReLU), then two depthwise branches -- 3x1 and 1x3
  (local), and 3x1 and 1x3 dilated by d (context) -- each followed by ECA; the two branches and
  their input are summed, BN-PReLU, a 1x1 convolution back to C, the block's input added, and a
  channel shuffle with C/2 groups (pairs of channels interleaved).
* ECA (efficient channel attention): the channel means, a 1-D convolution of size 3 over the
  channel axis (3 weights, no bias), a sigmoid, and the map scaled by it.
* the Transformer capsule on the H/16 bottleneck (32 channels): the map is cut into the
  overlapping 3x3 patches around every pixel (``unfold`` with padding 1), each a token of
  32 * 9 = 288 features; one pre-norm Transformer layer runs on the tokens -- an efficient
  attention (a linear reduction to 144 features, 8 heads of 18 features, each token attending
  only to the tokens of its own quarter of the raster-ordered sequence, then a projection back
  to 288) and an MLP (288 -> 72 -> 288 with ReLU), each with its residual -- and the tokens are
  folded back to the map, overlapping patch values summed (``fold``, the adjoint of unfold;
  so an interior pixel receives the sum of its 9 copies). The attention scale is
  (288 / 8) ** -0.5 as released, not the head width's 18 ** -0.5.
* three long connections, each a feature-enhancement module (FM: a 3x1 convolution to half
  the channels then a 1x3 convolution, both with bias): from stage 1 (64 -> 16 channels), stage
  2 (128 -> 16) and stage 3 (32 -> 32).
* decoder, from H/16: three LDBs (dilation 2) at 32 channels, plus FM(stage 3), up-sampling
  block (3x3 stride-2 transposed convolution with bias, BatchNorm, ReLU6) to 16 channels,
  BN-PReLU; three LDBs at 16, plus FM(stage 2), up-sampling, BN-PReLU; three LDBs at 16, plus
  FM(stage 1), up-sampling to H/2, pixel attention (a 1x1 convolution with bias, a sigmoid, the
  map scaled by it), BN-PReLU.
* head: bilinear resize to H x W (align_corners=False) and a 1x1 convolution to the classes
  without bias.

Choices and the bug fix:

* The released code's third long connection maps the 32-channel bottleneck to 16 channels and
  adds that to the 32-channel output of the first decoder stage, which fails with a shape
  mismatch at the first forward. It is fixed here the only way that keeps every tensor shape of
  the released forward: that connection outputs 32 channels (its 3x1 convolution 32 -> 16, its
  1x3 convolution 16 -> 32). This is the form the published parameter count (0.95 M) counts.
* The released model also builds two more pixel-attention modules (for the first two
  up-sampling blocks) that its forward never uses; they are part of the counted 951,216
  parameters, so they are kept here as ``pa1`` and ``pa2`` (272 parameters each, never used, so
  they get no gradient), and the forward is the released one (only ``pa3``, after the last
  up-sampling block).
* Dropout rates of the released Transformer are all 0, so there are no Dropout layers.
* Initialisation is the layers' defaults (the released code does not change it).
* Input: [N, C, H, W] with H and W multiples of 16 (three stride-2 stages after the stride-2
  stem, and the up-sampled maps must meet the skips' sizes), and (H/16) * (W/16) >= 4, since the
  attention splits the bottleneck's tokens into chunks of (H/16 * W/16) // 4 tokens (e.g. 32x32,
  16x64 or 64x128 work; 16x16 does not). When that token count is not a multiple of 4 the last,
  fifth chunk is the shorter remainder, as in the released code. Other inputs raise a
  ValueError naming ``letnet`` and the shape.
"""
import dlcore

from .. import nn
from ..nn import functional as F
from ._registry import register_model

__all__ = ["ECA", "LDB", "LETNet", "letnet"]

BN_EPS = 1e-3
STAGE1_DILATIONS = (2, 2, 2)
STAGE23_DILATIONS = (1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 32, 32)
DECODER_DILATIONS = (2, 2, 2)


class BNPReLU(nn.Module):
    """BatchNorm (eps 1e-3) then a PReLU with one slope per channel."""

    def __init__(self, channels):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.act = nn.PReLU(channels)

    def forward(self, x):
        return self.act(self.bn(x))


class ConvBNPReLU(nn.Module):
    """A convolution without bias followed by BN-PReLU."""

    def __init__(self, c_in, c_out, kernel_size, stride=1, padding=0, dilation=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride, padding, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.act = nn.PReLU(c_out)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class ECA(nn.Module):
    """Efficient channel attention (Wang et al., 2020): the per-channel means of [N, C, H, W] go
    through a size-``k_size`` 1-D convolution along the channel axis (no bias) and a sigmoid, and
    scale the channels of the input."""

    def __init__(self, k_size=3):
        super().__init__()
        if k_size < 1 or k_size % 2 == 0:
            raise ValueError(f"ECA: k_size must be odd and >= 1, got {k_size}")
        self.conv = nn.Conv1d(1, 1, k_size, padding=(k_size - 1) // 2, bias=False)

    def forward(self, x):
        n, c = x.shape[0], x.shape[1]
        weights = self.conv(x.mean((2, 3)).reshape(n, 1, c)).sigmoid()
        return x * weights.reshape(n, c, 1, 1)


class LDB(nn.Module):
    """Lightweight dilated bottleneck on ``channels`` (even) channels with the context branch
    dilated by ``dilation``; see the module docstring."""

    def __init__(self, channels, dilation):
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f"LDB: channels must be even and >= 2, got {channels}")
        h, d = channels // 2, dilation
        self.pre = BNPReLU(channels)
        self.reduce = nn.Conv2d(channels, h, 1, bias=False)
        self.conv3x1 = ConvBNPReLU(h, h, (3, 1), padding=(1, 0))
        self.conv1x3 = ConvBNPReLU(h, h, (1, 3), padding=(0, 1))
        self.local3x1 = ConvBNPReLU(h, h, (3, 1), padding=(1, 0), groups=h)
        self.local1x3 = ConvBNPReLU(h, h, (1, 3), padding=(0, 1), groups=h)
        self.local_eca = ECA()
        self.context3x1 = ConvBNPReLU(h, h, (3, 1), padding=(d, 0), dilation=(d, 1), groups=h)
        self.context1x3 = ConvBNPReLU(h, h, (1, 3), padding=(0, d), dilation=(1, d), groups=h)
        self.context_eca = ECA()
        self.post = BNPReLU(h)
        self.expand = nn.Conv2d(h, channels, 1, bias=False)
        self.groups = h

    def forward(self, x):
        y = self.conv1x3(self.conv3x1(self.reduce(self.pre(x))))
        local = self.local_eca(self.local1x3(self.local3x1(y)))
        context = self.context_eca(self.context1x3(self.context3x1(y)))
        y = self.expand(self.post(y + local + context))
        return F.channel_shuffle(y + x, self.groups)


class Downsample(nn.Module):
    """Halves the sides: a 3x3 stride-2 convolution (to ``c_out - c_in`` channels, concatenated
    with a 2x2 max-pool of the input, when the width grows; to ``c_out`` otherwise), BN-PReLU."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.concat = c_in < c_out
        self.conv = nn.Conv2d(c_in, c_out - c_in if self.concat else c_out, 3, 2, 1, bias=False)
        self.norm = BNPReLU(c_out)

    def forward(self, x):
        y = self.conv(x)
        if self.concat:
            y = dlcore.cat((y, F.max_pool2d(x, 2, 2)), 1)
        return self.norm(y)


class UpBlock(nn.Module):
    """Doubles the sides: a 3x3 stride-2 transposed convolution (with bias), BatchNorm, ReLU6."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x):
        return F.relu6(self.bn(self.deconv(x)))


class FeatureModule(nn.Module):
    """The long connections' feature enhancement: a 3x1 convolution to half the input channels,
    then a 1x3 convolution to ``c_out`` (both with bias, no activation)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv3x1 = nn.Conv2d(c_in, c_in // 2, (3, 1), padding=(1, 0))
        self.conv1x3 = nn.Conv2d(c_in // 2, c_out, (1, 3), padding=(0, 1))

    def forward(self, x):
        return self.conv1x3(self.conv3x1(x))


class PixelAttention(nn.Module):
    """Scales every value by the sigmoid of a 1x1 convolution (with bias) of the map."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return x * self.conv(x).sigmoid()


class EfficientAttention(nn.Module):
    """Multi-head self-attention of [B, N, dim] tokens on a reduced width: a linear map (no bias) to
    dim/2, q, k, v (no bias) with ``num_heads`` heads, attention within consecutive chunks of
    N // ``num_chunks`` tokens (the remainder, if any, forms one more chunk), a projection (with
    bias) back to dim. The scale is (dim // num_heads) ** -0.5, as released."""

    def __init__(self, dim, num_heads=8, num_chunks=4):
        super().__init__()
        if dim % 2 or (dim // 2) % num_heads:
            raise ValueError(f"EfficientAttention: dim/2 must be a multiple of num_heads, got dim={dim}, "
                             f"num_heads={num_heads}")
        self.heads, self.chunks = num_heads, num_chunks
        self.scale = (dim // num_heads) ** -0.5
        self.reduce = nn.Linear(dim, dim // 2, bias=False)
        self.qkv = nn.Linear(dim // 2, 3 * (dim // 2), bias=False)
        self.proj = nn.Linear(dim // 2, dim)

    def _attend(self, q, k, v):
        return (q.matmul(k.transpose(-2, -1)) * self.scale).softmax(-1).matmul(v)

    def forward(self, x):
        x = self.reduce(x)
        b, n, c = x.shape
        size = n // self.chunks
        if size < 1:
            raise ValueError(f"EfficientAttention: needs at least {self.chunks} tokens, got {n}")
        d = c // self.heads
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4)  # [3, B, heads, N, d]
        full = (n // size) * size
        # the whole chunks at once: [B, heads, chunks, size, d]
        q, k, v = (qkv[i, :, :, :full].reshape(b, self.heads, full // size, size, d) for i in range(3))
        y = self._attend(q, k, v).reshape(b, self.heads, full, d)
        if full < n:  # the shorter last chunk
            tail = self._attend(qkv[0, :, :, full:], qkv[1, :, :, full:], qkv[2, :, :, full:])
            y = dlcore.cat((y, tail), 2)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


class MLP(nn.Module):
    """Linear, ReLU, Linear."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class TransformerCapsule(nn.Module):
    """One pre-norm Transformer layer on the ``patch`` x ``patch`` neighbourhoods of every pixel
    of a [N, ``channels``, h, w] map, folded back by summing the overlapping patches."""

    def __init__(self, channels, patch=3, num_heads=8, num_chunks=4):
        super().__init__()
        if patch < 1 or patch % 2 == 0:
            raise ValueError(f"TransformerCapsule: patch must be odd, got {patch}")
        dim = channels * patch * patch
        self.patch = patch
        self.norm1 = nn.LayerNorm(dim)
        self.attn = EfficientAttention(dim, num_heads, num_chunks)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, dim // 4)

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        p = self.patch
        t = F.unfold(x, p, padding=p // 2).transpose(1, 2)  # [N, h*w, C*p*p]
        t = t + self.attn(self.norm1(t))
        t = t + self.mlp(self.norm2(t))
        return F.fold(t.transpose(1, 2), (h, w), p, padding=p // 2)


class LETNet(nn.Module):
    """LETNet for ``num_classes`` classes on ``in_channels``-channel images; the forward maps
    [N, in_channels, H, W] (H, W multiples of 16, H*W/256 >= 4) to class logits [N, num_classes,
    H, W]. See the module docstring."""

    def __init__(self, in_channels=3, num_classes=19):
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"LETNet: in_channels and num_classes must be >= 1, got {in_channels}, {num_classes}")
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
        self.skip3 = FeatureModule(32, 32)  # 16 output channels in the released code, which fails
        self.decoder1 = nn.Sequential(*(LDB(32, d) for d in DECODER_DILATIONS))
        self.up1 = UpBlock(32, 16)
        self.up1_norm = BNPReLU(16)
        self.decoder2 = nn.Sequential(*(LDB(16, d) for d in DECODER_DILATIONS))
        self.up2 = UpBlock(16, 16)
        self.up2_norm = BNPReLU(16)
        self.decoder3 = nn.Sequential(*(LDB(16, d) for d in DECODER_DILATIONS))
        self.up3 = UpBlock(16, 16)
        self.pa1 = PixelAttention(16)  # built but unused, as released (counted in the 951,216)
        self.pa2 = PixelAttention(16)  # likewise
        self.pa3 = PixelAttention(16)
        self.up3_norm = BNPReLU(16)
        self.classifier = nn.Conv2d(16, num_classes, 1, bias=False)

    @staticmethod
    def check_input(x):
        """Raises a ValueError unless ``x`` is [N, C, H, W] with H, W multiples of 16 and
        (H/16) * (W/16) >= 4."""
        if x.dim() != 4:
            raise ValueError(f"letnet: expected input [N, C, H, W], got shape {tuple(x.shape)}")
        h, w = x.shape[2], x.shape[3]
        if h % 16 or w % 16:
            raise ValueError(f"letnet: input H and W must be multiples of 16, got shape {tuple(x.shape)}")
        if (h // 16) * (w // 16) < 4:
            raise ValueError(f"letnet: input (H/16) * (W/16) must be >= 4 (the attention's 4 token chunks), "
                             f"got shape {tuple(x.shape)}")

    def forward(self, x):
        self.check_input(x)
        if x.shape[1] != self.stem[0].conv.in_channels:
            raise ValueError(f"letnet: expected {self.stem[0].conv.in_channels} input channels, got shape "
                             f"{tuple(x.shape)}")
        size = (x.shape[2], x.shape[3])
        y = self.stem_norm(self.stem(x))
        s1 = self.stage1_norm(self.stage1(self.down1(y)))
        s2 = self.stage2_norm(self.stage2(self.down2(s1)))
        s3 = self.stage3_norm(self.stage3(self.down3(s2)))
        y = self.capsule(s3)
        y = self.up1_norm(self.up1(self.decoder1(y) + self.skip3(s3)))
        y = self.up2_norm(self.up2(self.decoder2(y) + self.skip2(s2)))
        y = self.up3_norm(self.pa3(self.up3(self.decoder3(y) + self.skip1(s1))))
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        return self.classifier(y)


@register_model("letnet")
def letnet(num_classes=19, in_channels=3):
    """LETNet as released (with its third long connection fixed): 951,216 parameters at 19
    classes and 3 input channels; see the module docstring."""
    return LETNet(in_channels=in_channels, num_classes=num_classes)
