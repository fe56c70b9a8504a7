"""GPT: a decoder-only transformer with the GPT-2 architecture (Radford et al., 2019): learned
token and position embeddings, pre-LN blocks of causal self-attention and a GELU (tanh) MLP, a
final LayerNorm and an output layer tied to the token embedding. Parameter names follow the
GPT-2 checkpoints (``transformer.h.0.attn.c_attn.weight``...), with Linear layouts.

``GPT.generate`` samples with a key/value cache (Note [KV cache]).
"""
import math
from dataclasses import asdict, dataclass

import dlcore

from .. import nn
from ..nn import functional as F
from ._registry import register_model

__all__ = ["GPT", "GPTConfig", "KVCache", "gpt2_small", "gpt2_medium", "gpt_mini", "gpt_nano"]


@dataclass
class GPTConfig:
    vocab_size: int = 50257
    block_size: int = 1024  # the longest context (number of learned positions)
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in the Linear layers and LayerNorms, as GPT-2

    def to_dict(self):
        return asdict(self)


class KVCache:
    """Note [KV cache]: during generation the keys and values of past positions do not change,
    so each layer keeps them in a buffer of ``max_len`` positions, (B, n_head, max_len, head_dim),
    written in place as tokens arrive; a new token then costs attention over the cached prefix
    instead of a forward pass over the whole prefix."""

    def __init__(self, config, batch_size, max_len, dtype=dlcore.float32, device="cpu"):
        hd = config.n_embd // config.n_head
        shape = (batch_size, config.n_head, max_len, hd)
        self.keys = [dlcore.zeros(*shape, dtype=dtype, device=device) for _ in range(config.n_layer)]
        self.values = [dlcore.zeros(*shape, dtype=dtype, device=device) for _ in range(config.n_layer)]
        self.length = 0  # positions filled
        self.max_len = max_len

    def update(self, layer, k, v):
        """Stores k, v (B, H, T, D) after the filled positions of ``layer``; returns the keys and
        values of every filled position including them."""
        t0, t1 = self.length, self.length + k.shape[2]
        if t1 > self.max_len:
            raise ValueError(f"KVCache.update: {t1} positions exceed the cache's max_len {self.max_len}")
        self.keys[layer][:, :, t0:t1] = k
        self.values[layer][:, :, t0:t1] = v
        return self.keys[layer][:, :, :t1], self.values[layer][:, :, :t1]


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"GPT: n_embd ({config.n_embd}) must be divisible by n_head ({config.n_head})")
        self.n_head, self.n_embd = config.n_head, config.n_embd
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, cache=None, layer=0):
        B, T, C = x.shape
        # c_attn as three products with row blocks of its weight: the same q, k, v as
        # c_attn(x).split(C, dim=2), with contiguous outputs and a backward that adds three
        # (B, T, C) gradients instead of assembling one (B, T, 3C) from three zero-padded slices
        w, b = self.c_attn.weight, self.c_attn.bias
        q, k, v = (F.linear(x, w[i * C:(i + 1) * C], None if b is None else b[i * C:(i + 1) * C])
                   for i in range(3))
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        if cache is None or cache.length == 0:
            if cache is not None:
                cache.update(layer, k, v)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            past = cache.length
            k, v = cache.update(layer, k, v)
            # query i (absolute position past + i) sees keys 0 .. past + i
            mask = None
            if T > 1:
                mask = dlcore.ones(T, past + T, dtype=dlcore.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """``forward(idx, targets=None) -> (logits, loss)``: idx (B, T) int64 token ids with
    T <= block_size; logits (B, T, vocab_size); loss the mean next-token cross-entropy against
    targets (B, T) (entries equal to -1 ignored), or None without targets."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying
        self.apply(self._init_weights)
        # GPT-2: residual projections scaled by 1/sqrt(2 * n_layer) (two per block)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _logits(self, idx, cache=None):
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"GPT: positions {start}..{start + T - 1} exceed block_size {self.config.block_size} "
                             f"(idx of shape {list(idx.shape)})")
        pos = dlcore.arange(start, start + T, dtype=dlcore.int64, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for i, block in enumerate(self.transformer.h):
            x = block(x, cache, i)
        if cache is not None:
            cache.length += T
        return self.lm_head(self.transformer.ln_f(x))

    def forward(self, idx, targets=None):
        if idx.dim() != 2:
            raise ValueError(f"GPT: expected idx of shape (batch, time), got {list(idx.shape)}")
        logits = self._logits(idx)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    @dlcore.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, use_cache=True):
        """Appends ``max_new_tokens`` tokens to idx (B, T) and returns the (B, T + new) result.
        ``temperature`` 0 picks the most likely token (greedy); otherwise tokens are sampled
        from softmax(logits / temperature), restricted to the ``top_k`` most likely and/or the
        smallest set whose probability reaches ``top_p`` (nucleus sampling). With ``use_cache``
        each new token costs one position (Note [KV cache]); without it, a forward pass over the
        last block_size tokens. Both give the same tokens."""
        if temperature < 0:
            raise ValueError(f"GPT.generate: temperature must be >= 0, got {temperature}")
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(f"GPT.generate: top_p must be in (0, 1], got {top_p}")
        was_training = self.training
        self.eval()
        block = self.config.block_size
        cache = None
        out = idx
        for _ in range(max_new_tokens):
            if not use_cache:
                logits = self._logits(out[:, -block:])
            elif cache is None or cache.length + 1 > block:
                # (re)fill the cache from the context that fits, leaving room to grow
                context = out[:, -block:]
                cache = KVCache(self.config, out.shape[0], block, dtype=self.lm_head.weight.dtype,
                                device=out.device)
                logits = self._logits(context, cache)
            else:
                logits = self._logits(out[:, -1:], cache)
            next_token = sample_next(logits[:, -1, :], temperature, top_k, top_p)
            out = dlcore.cat([out, next_token], dim=1)
        self.train(was_training)
        return out


def sample_next(logits, temperature=1.0, top_k=None, top_p=None):
    """Draws one token id per row of logits (B, V) -> (B, 1) int64 (see GPT.generate)."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        k = min(int(top_k), logits.shape[-1])
        kth = logits.topk(k, dim=-1)[0][:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # probability of the tokens ahead
        keep_sorted = before < top_p  # always keeps the most likely token
        keep = dlcore.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        probs = probs.masked_fill(keep.logical_not(), 0.0)
    return dlcore.multinomial(probs, 1)


def _gpt(config_kwargs, kwargs):
    cfg = {**config_kwargs, **kwargs}
    return GPT(GPTConfig(**cfg))


@register_model("gpt2_small", "gpt2")
def gpt2_small(**kwargs):
    """GPT-2 small: 12 layers, 12 heads, 768 dims, 1024 positions, 50,257 tokens — 124,439,808
    parameters (the output layer shares the token embedding)."""
    return _gpt(dict(n_layer=12, n_head=12, n_embd=768), kwargs)


@register_model("gpt2_medium")
def gpt2_medium(**kwargs):
    """GPT-2 medium: 24 layers, 16 heads, 1024 dims (354,823,168 parameters)."""
    return _gpt(dict(n_layer=24, n_head=16, n_embd=1024), kwargs)


@register_model("gpt_mini", "gpt")
def gpt_mini(vocab_size=256, block_size=128, **kwargs):
    """A small GPT for training on 2 CPU cores: 4 layers, 4 heads, 256 dims, 128 positions,
    bytes (256 tokens) by default."""
    return _gpt(dict(vocab_size=vocab_size, block_size=block_size, n_layer=4, n_head=4, n_embd=256), kwargs)


@register_model("gpt_nano")
def gpt_nano(vocab_size=256, block_size=64, **kwargs):
    """A 2-layer, 2-head, 64-dim GPT for tests."""
    return _gpt(dict(vocab_size=vocab_size, block_size=block_size, n_layer=2, n_head=2, n_embd=64), kwargs)
