"""PyTorch twins of dlcore's GPT and ViT (python/dlcore/models/gpt.py, vit.py) for timing training
steps side by side: the same layers, sizes and parameter counts, written with plain torch.nn."""
import math

import torch
from torch import nn
from torch.nn import functional as F


class _Block(nn.Module):
    """GPT's pre-LN causal block: x + attn(ln(x)), x + mlp(ln(x)), attention through SDPA."""

    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln_2 = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, mlp_dim)
        self.gelu = nn.GELU(approximate="tanh")
        self.out = nn.Linear(mlp_dim, dim)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.out(self.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    """dlcore.models.gpt_mini's architecture: token + position embeddings, causal blocks with a
    4x MLP (GELU tanh), final LayerNorm, a head tied to the token embedding."""

    def __init__(self, vocab_size=256, block_size=128, n_layer=4, n_head=4, n_embd=256):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([_Block(n_embd, n_head, 4 * n_embd) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.head.weight = self.wte.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx, targets):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class ViT(nn.Module):
    """dlcore.models.vit_tiny_patch16_224's architecture: patches by a strided convolution, a
    class token, learned positions, pre-LN nn.TransformerEncoderLayer blocks (as dlcore's), a
    final LayerNorm and head."""

    def __init__(self, image_size=224, patch_size=16, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768,
                 num_classes=1000):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, hidden_dim, kernel_size=patch_size, stride=patch_size)
        n = (image_size // patch_size) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, hidden_dim) * 0.02)
        self.blocks = nn.ModuleList([
            nn.TransformerEncoderLayer(hidden_dim, num_heads, mlp_dim, 0.0, activation="gelu", layer_norm_eps=1e-6,
                                       batch_first=True, norm_first=True) for _ in range(num_layers)])
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.head = nn.Linear(hidden_dim, num_classes)
        nn.init.normal_(self.conv_proj.weight, std=math.sqrt(1 / (3 * patch_size * patch_size)))

    def forward(self, x, targets):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for block in self.blocks:
            x = block(x)
        return F.cross_entropy(self.head(self.ln(x)[:, 0]), targets)
