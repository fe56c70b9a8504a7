"""GPT: the architecture against a torch transcription with copied weights, parameter counts,
generation with and without the KV cache, sampling filters, and training on Shakespeare."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import dlcore
from dlcore.models import get_model
from dlcore.models.gpt import GPT, GPTConfig, KVCache, sample_next


def _torch_gpt_forward(sd, cfg, idx):
    """GPT-2's forward written directly in torch from a dlcore state_dict (float64)."""
    w = {k: torch.from_numpy(v.numpy()).double() for k, v in sd.items()}
    B, T = idx.shape
    C, H = cfg.n_embd, cfg.n_head
    x = w["transformer.wte.weight"][idx] + w["transformer.wpe.weight"][torch.arange(T)]
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        h = TF.layer_norm(x, (C,), w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        q, k, v = TF.linear(h, w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"]).split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        a = TF.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + TF.linear(a, w[p + "attn.c_proj.weight"], w[p + "attn.c_proj.bias"])
        h = TF.layer_norm(x, (C,), w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        h = TF.gelu(TF.linear(h, w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"]), approximate="tanh")
        x = x + TF.linear(h, w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"])
    x = TF.layer_norm(x, (C,), w["transformer.ln_f.weight"], w["transformer.ln_f.bias"])
    return x @ w["transformer.wte.weight"].T


def test_parameter_counts():
    def count(m):
        return sum(p.numel() for p in m.parameters())
    assert count(get_model("gpt2_small")) == 124_439_808
    m = get_model("gpt_mini")
    assert m.lm_head.weight is m.transformer.wte.weight  # tied, counted once
    assert count(m) == 256 * 256 + 128 * 256 + 4 * (12 * 256 * 256 + 13 * 256) + 2 * 256


def test_forward_matches_torch_transcription():
    dlcore.manual_seed(0)
    cfg = GPTConfig(vocab_size=37, block_size=16, n_layer=2, n_head=4, n_embd=32)
    model = GPT(cfg).double().eval()
    idx = np.random.default_rng(0).integers(0, 37, size=(3, 11))
    logits, loss = model(dlcore.from_numpy(idx))
    assert loss is None and logits.shape == (3, 11, 37)
    ref = _torch_gpt_forward(model.state_dict(), cfg, torch.from_numpy(idx))
    np.testing.assert_allclose(logits.detach().numpy(), ref.numpy(), rtol=1e-10, atol=1e-10)
    targets = np.random.default_rng(1).integers(0, 37, size=(3, 11))
    targets[0, :4] = -1  # ignored positions
    _, loss = model(dlcore.from_numpy(idx), dlcore.from_numpy(targets))
    ref_loss = TF.cross_entropy(ref.reshape(-1, 37), torch.from_numpy(targets).reshape(-1), ignore_index=-1)
    assert abs(loss.item() - ref_loss.item()) < 1e-10


def test_kv_cache_prefill_and_steps_match_full_forward():
    dlcore.manual_seed(1)
    cfg = GPTConfig(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=16)
    model = GPT(cfg).double().eval()
    idx = dlcore.from_numpy(np.random.default_rng(2).integers(0, 50, size=(2, 12)))
    full, _ = model(idx)
    cache = KVCache(cfg, 2, 32, dtype=dlcore.float64)
    with dlcore.no_grad():
        parts = [model._logits(idx[:, :5], cache), model._logits(idx[:, 5:9], cache)]
        parts += [model._logits(idx[:, t:t + 1], cache) for t in range(9, 12)]
    assert cache.length == 12
    np.testing.assert_allclose(dlcore.cat(parts, dim=1).numpy(), full.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_generate_greedy_same_tokens_with_and_without_cache():
    dlcore.manual_seed(2)
    model = get_model("gpt_nano", vocab_size=40, block_size=24)
    prompt = dlcore.from_numpy(np.random.default_rng(3).integers(0, 40, size=(2, 5)))
    # 30 new tokens: past block_size, so the cache is rebuilt from the cropped context
    a = model.generate(prompt, 30, temperature=0, use_cache=True)
    b = model.generate(prompt, 30, temperature=0, use_cache=False)
    assert a.shape == (2, 35)
    assert np.array_equal(a.numpy(), b.numpy())
    assert np.array_equal(a.numpy()[:, :5], prompt.numpy())


def test_generate_sampled_is_seeded_and_respects_top_k():
    dlcore.manual_seed(3)
    model = get_model("gpt_nano", vocab_size=30, block_size=16)
    prompt = dlcore.zeros(1, 3, dtype=dlcore.int64)
    dlcore.manual_seed(11)
    a = model.generate(prompt, 10, temperature=0.8, top_k=5)
    dlcore.manual_seed(11)
    b = model.generate(prompt, 10, temperature=0.8, top_k=5, use_cache=False)
    assert np.array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        model.generate(prompt, 1, temperature=-1)


def test_sample_next_filters():
    logits = dlcore.tensor([[4.0, 3.0, 2.0, 1.0, 0.0], [0.0, 0.0, 9.0, 0.0, 8.9]])
    dlcore.manual_seed(0)
    draws = np.stack([sample_next(logits, 1.0, top_k=2).numpy()[:, 0] for _ in range(200)])
    assert set(draws[:, 0]) <= {0, 1} and set(draws[:, 1]) <= {2, 4}
    # nucleus: softmax of row 0 is (0.64, 0.24, 0.09, ...): top_p=0.7 keeps tokens 0 and 1
    draws = np.stack([sample_next(logits, 1.0, top_p=0.7).numpy()[:, 0] for _ in range(200)])
    assert set(draws[:, 0]) == {0, 1}
    draws = np.stack([sample_next(logits, 1.0, top_p=0.5).numpy()[:, 0] for _ in range(50)])
    assert set(draws[:, 0]) == {0}  # the most likely token alone reaches 0.5
    assert sample_next(logits, 0).numpy().ravel().tolist() == [0, 2]


def test_errors_name_the_shapes():
    model = get_model("gpt_nano", vocab_size=10, block_size=8)
    with pytest.raises(ValueError, match=r"exceed block_size 8 \(idx of shape \[1, 9\]\)"):
        model(dlcore.zeros(1, 9, dtype=dlcore.int64))
    with pytest.raises(ValueError, match=r"expected idx of shape \(batch, time\), got \[9\]"):
        model(dlcore.zeros(9, dtype=dlcore.int64))
    with pytest.raises(ValueError, match="must be divisible"):
        GPT(GPTConfig(n_embd=30, n_head=4, n_layer=1, vocab_size=5, block_size=4))


def test_loss_falls_on_shakespeare_batch():
    from dlcore.data.datasets import Shakespeare
    dlcore.manual_seed(4)
    ds = Shakespeare("train", block_size=32, num_samples=8)
    x = dlcore.stack([ds[i][0] for i in range(8)])
    y = dlcore.stack([ds[i][1] for i in range(8)])
    model = get_model("gpt_nano", vocab_size=ds.vocab_size, block_size=32)
    opt = dlcore.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    first = None
    for _ in range(150):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert abs(first - math.log(ds.vocab_size)) < 0.2  # starts near uniform
    assert loss.item() < first / 10
