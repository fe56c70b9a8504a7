"""Transformer training steps and generation: dlcore beside torch (same process, 2 threads,
median times, same weights).

  GPT-mini: vocab 256, T 128, 4 layers, 4 heads, 256 dims, batch 16, AdamW
  ViT-tiny: patch 4 on 3x32x32, 192 dims, depth 6, 3 heads, batch 32, AdamW
  generate: GPT-mini, a 16-token prompt + 112 new tokens, greedy, with and without the KV cache

A step = forward, loss, zero_grad, backward, optimizer step.
Usage: python bench/bench_transformers.py [--reps N]
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import dlcore  # noqa: E402
from benchutil import cpu_name, median_seconds  # noqa: E402
from dlcore.models import get_model  # noqa: E402


class TorchGPT(tnn.Module):
    """GPT-2 in torch with dlcore.models.GPT's parameter names (for load_state_dict)."""

    class Block(tnn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.h = h
            self.ln_1, self.ln_2 = tnn.LayerNorm(d), tnn.LayerNorm(d)
            self.attn = tnn.Module()
            self.attn.c_attn, self.attn.c_proj = tnn.Linear(d, 3 * d), tnn.Linear(d, d)
            self.mlp = tnn.Module()
            self.mlp.c_fc, self.mlp.c_proj = tnn.Linear(d, 4 * d), tnn.Linear(4 * d, d)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.attn.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
            y = TF.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
            x = x + self.attn.c_proj(y)
            return x + self.mlp.c_proj(TF.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))

    def __init__(self, cfg):
        super().__init__()
        d = cfg.n_embd
        self.transformer = tnn.ModuleDict(dict(
            wte=tnn.Embedding(cfg.vocab_size, d), wpe=tnn.Embedding(cfg.block_size, d),
            h=tnn.ModuleList([TorchGPT.Block(d, cfg.n_head) for _ in range(cfg.n_layer)]), ln_f=tnn.LayerNorm(d)))
        self.lm_head = tnn.Linear(d, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T))
        for b in self.transformer.h:
            x = b(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return TF.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class TorchViT(tnn.Module):
    """The same ViT as dlcore.models.VisionTransformer, with its parameter names."""

    def __init__(self, image_size, patch, layers, heads, d, mlp, classes, channels):
        super().__init__()
        self.conv_proj = tnn.Conv2d(channels, d, patch, stride=patch)
        self.class_token = tnn.Parameter(torch.zeros(1, 1, d))
        self.pos_embedding = tnn.Parameter(torch.zeros(1, (image_size // patch) ** 2 + 1, d))
        self.layers = tnn.ModuleList([tnn.TransformerEncoderLayer(d, heads, mlp, 0.0, activation="gelu",
                                                                  layer_norm_eps=1e-6, batch_first=True,
                                                                  norm_first=True) for _ in range(layers)])
        self.ln = tnn.LayerNorm(d, eps=1e-6)
        self.head = tnn.Linear(d, classes)

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        for layer in self.layers:
            x = layer(x)
        return self.head(self.ln(x[:, 0]))


def copy_weights(dl_model, torch_model):
    sd = {k: torch.from_numpy(v.numpy().copy()) for k, v in dl_model.state_dict().items()}
    torch_model.load_state_dict(sd)


def step_fns(dl_model, dl_loss, t_model, t_loss):
    dl_opt = dlcore.optim.AdamW(dl_model.parameters(), lr=1e-4)
    t_opt = torch.optim.AdamW(t_model.parameters(), lr=1e-4)

    def dl_step():
        loss = dl_loss()
        dl_opt.zero_grad()
        loss.backward()
        dl_opt.step()

    def t_step():
        loss = t_loss()
        t_opt.zero_grad()
        loss.backward()
        t_opt.step()

    return dl_step, t_step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    dlcore.set_num_threads(2)
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    rows = []

    dlcore.manual_seed(0)
    gpt = get_model("gpt_mini")  # vocab 256, T 128, 4 layers, 4 heads, 256 dims
    tgpt = TorchGPT(gpt.config)
    copy_weights(gpt, tgpt)
    idx = rng.integers(0, 256, size=(16, 128))
    tgt = rng.integers(0, 256, size=(16, 128))
    di, dt = dlcore.from_numpy(idx), dlcore.from_numpy(tgt)
    ti, tt = torch.from_numpy(idx), torch.from_numpy(tgt)
    dl_step, t_step = step_fns(gpt, lambda: gpt(di, dt)[1], tgpt, lambda: tgpt(ti, tt))
    rows.append(("GPT-mini step b16 T128", median_seconds(dl_step, args.reps), median_seconds(t_step, args.reps)))

    vit = get_model("vit_tiny_patch4", num_classes=10, in_channels=3, image_size=32)
    tvit = TorchViT(32, 4, 6, 3, 192, 768, 10, 3)
    copy_weights(vit, tvit)
    x = rng.standard_normal((32, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, size=32)
    dx, dy, tx, ty = dlcore.from_numpy(x), dlcore.from_numpy(y), torch.from_numpy(x), torch.from_numpy(y)
    dl_step, t_step = step_fns(vit, lambda: dlcore.nn.functional.cross_entropy(vit(dx), dy), tvit,
                               lambda: TF.cross_entropy(tvit(tx), ty))
    rows.append(("ViT-tiny step b32 32x32", median_seconds(dl_step, args.reps), median_seconds(t_step, args.reps)))

    print(f"# transformer training steps, {cpu_name()}, 2 threads, median of {args.reps}")
    print(f"{'case':28s} {'dlcore ms':>10s} {'torch ms':>10s} {'speedup':>8s}")
    for name, d, t in rows:
        print(f"{name:28s} {d * 1e3:10.1f} {t * 1e3:10.1f} {t / d:7.2f}x")

    prompt = dlcore.from_numpy(rng.integers(0, 256, size=(1, 16)))
    gen_reps = max(3, args.reps // 2)
    cached = median_seconds(lambda: gpt.generate(prompt, 112, temperature=0), gen_reps)
    full = median_seconds(lambda: gpt.generate(prompt, 112, temperature=0, use_cache=False), gen_reps)
    same = np.array_equal(gpt.generate(prompt, 112, temperature=0).numpy(),
                          gpt.generate(prompt, 112, temperature=0, use_cache=False).numpy())
    print(f"\n# GPT-mini generation, 16-token prompt + 112 tokens, greedy, median of {gen_reps}")
    print(f"with KV cache    {cached * 1e3:8.1f} ms  ({112 / cached:6.0f} tokens/s)")
    print(f"without cache    {full * 1e3:8.1f} ms  ({112 / full:6.0f} tokens/s)")
    print(f"speedup {full / cached:.2f}x, same tokens: {same}")


if __name__ == "__main__":
    main()
