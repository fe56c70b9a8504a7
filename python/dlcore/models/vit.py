"""Vision Transformer (Dosovitskiy et al., 2021): the image cut into patches by a convolution with
stride = patch size, a learned [CLS] token and position embeddings, a pre-LN transformer encoder
(GELU MLP) and a linear head on the final [CLS] state. ``vit_b_16`` has torchvision's
86,567,656 parameters and ``vit_tiny_patch16_224`` timm's 5,717,416."""
import math

import dlcore

from .. import nn
from ._registry import register_model

__all__ = ["VisionTransformer", "vit_b_16", "vit_b_32", "vit_l_16", "vit_tiny_patch16_224", "vit_small_patch16_224",
           "vit_tiny_patch4"]


class VisionTransformer(nn.Module):
    """``forward(x)`` maps images (N, in_channels, image_size, image_size) to logits (N, num_classes)."""

    def __init__(self, image_size=224, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072,
                 num_classes=1000, in_channels=3, dropout=0.0, attention_dropout=0.0, layer_norm_eps=1e-6):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"VisionTransformer: image_size {image_size} is not a multiple of patch_size {patch_size}")
        if attention_dropout != dropout:
            raise NotImplementedError("VisionTransformer: attention_dropout must equal dropout "
                                      "(nn.TransformerEncoderLayer has one dropout rate)")
        self.image_size, self.patch_size, self.hidden_dim = image_size, patch_size, hidden_dim
        self.conv_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=patch_size, stride=patch_size)
        self.seq_length = (image_size // patch_size) ** 2 + 1
        self.class_token = nn.Parameter(dlcore.zeros(1, 1, hidden_dim))
        self.pos_embedding = nn.Parameter(dlcore.empty(1, self.seq_length, hidden_dim))
        nn.init.normal_(self.pos_embedding, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(hidden_dim, num_heads, mlp_dim, dropout, activation="gelu",
                                       layer_norm_eps=layer_norm_eps, batch_first=True, norm_first=True)
            for _ in range(num_layers)])
        self.ln = nn.LayerNorm(hidden_dim, eps=layer_norm_eps)
        self.head = nn.Linear(hidden_dim, num_classes)
        # torchvision's initialisation: LeCun-normal patch projection, zero head
        fan_in = in_channels * patch_size * patch_size
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1.0 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        n, _, h, w = x.shape
        if h != self.image_size or w != self.image_size:
            raise ValueError(f"VisionTransformer: expected {self.image_size}x{self.image_size} images, got input "
                             f"of shape {list(x.shape)}")
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # (N, patches, D)
        x = dlcore.cat([self.class_token.expand(n, -1, -1), x], dim=1) + self.pos_embedding
        x = self.dropout(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(self.ln(x[:, 0]))


def _vit(defaults, kwargs):
    return VisionTransformer(**{**defaults, **kwargs})


@register_model("vit_b_16")
def vit_b_16(num_classes=1000, in_channels=3, **kwargs):
    """ViT-B/16 on 224x224 images: 86,567,656 parameters for 1000 classes."""
    return _vit(dict(patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072,
                     num_classes=num_classes, in_channels=in_channels), kwargs)


@register_model("vit_b_32")
def vit_b_32(num_classes=1000, in_channels=3, **kwargs):
    """ViT-B/32 on 224x224 images."""
    return _vit(dict(patch_size=32, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072,
                     num_classes=num_classes, in_channels=in_channels), kwargs)


@register_model("vit_l_16")
def vit_l_16(num_classes=1000, in_channels=3, **kwargs):
    """ViT-L/16 on 224x224 images."""
    return _vit(dict(patch_size=16, num_layers=24, num_heads=16, hidden_dim=1024, mlp_dim=4096,
                     num_classes=num_classes, in_channels=in_channels), kwargs)


@register_model("vit_tiny_patch16_224")
def vit_tiny_patch16_224(num_classes=1000, in_channels=3, **kwargs):
    """ViT-Ti/16 (DeiT-tiny): 192 dims, 12 layers, 3 heads, 5,717,416 parameters for 1000 classes."""
    return _vit(dict(patch_size=16, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768,
                     num_classes=num_classes, in_channels=in_channels), kwargs)


@register_model("vit_small_patch16_224")
def vit_small_patch16_224(num_classes=1000, in_channels=3, **kwargs):
    """ViT-S/16: 384 dims, 12 layers, 6 heads."""
    return _vit(dict(patch_size=16, num_layers=12, num_heads=6, hidden_dim=384, mlp_dim=1536,
                     num_classes=num_classes, in_channels=in_channels), kwargs)


@register_model("vit_tiny_patch4", "vit")
def vit_tiny_patch4(num_classes=10, in_channels=1, image_size=28, **kwargs):
    """A ViT-tiny for small images (28x28 digits by default, or 32x32): patches of 4, 192 dims,
    6 layers, 3 heads, MLP 768."""
    return _vit(dict(image_size=image_size, patch_size=4, num_layers=6, num_heads=3, hidden_dim=192, mlp_dim=768,
                     num_classes=num_classes, in_channels=in_channels), kwargs)
