"""ViT and BERT: parameter counts, forward against torch transcriptions with copied weights
(float64), masks, heads, tied weights, and the loss falling on a small batch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import dlcore
from dlcore.models import (BertConfig, BertForMaskedLM, BertForPreTraining, BertForSequenceClassification,
                           BertModel, VisionTransformer, get_model, mask_tokens)


def count(m):
    return sum(p.numel() for p in m.parameters())


def _torch_weights(model):
    return {k: torch.from_numpy(v.numpy()).double() for k, v in model.state_dict().items()}


def _torch_encoder_layer(w, prefix, d, heads, ffn, eps, norm_first):
    layer = torch.nn.TransformerEncoderLayer(d, heads, ffn, dropout=0.0, activation="gelu", layer_norm_eps=eps,
                                             batch_first=True, norm_first=norm_first).double().eval()
    layer.load_state_dict({k[len(prefix):]: v for k, v in w.items() if k.startswith(prefix)})
    return layer


def test_parameter_counts():
    assert count(get_model("vit_b_16")) == 86_567_656
    assert count(get_model("vit_tiny_patch16_224")) == 5_717_416
    assert count(get_model("bert_base")) == 109_482_240
    tiny = get_model("bert_tiny")
    assert tiny.config.hidden_size == 128 and tiny.config.num_hidden_layers == 2


def test_vit_forward_matches_torch():
    dlcore.manual_seed(0)
    m = VisionTransformer(image_size=12, patch_size=4, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=24,
                          num_classes=5, in_channels=3)
    dlcore.nn.init.normal_(m.head.weight)  # torchvision zero-initialises the head
    m = m.double().eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 12, 12))
    out = m(dlcore.from_numpy(x))
    w = _torch_weights(m)
    t = TF.conv2d(torch.from_numpy(x), w["conv_proj.weight"], w["conv_proj.bias"], stride=4).flatten(2).transpose(1, 2)
    t = torch.cat([w["class_token"].expand(2, -1, -1), t], dim=1) + w["pos_embedding"]
    for i in range(2):
        t = _torch_encoder_layer(w, f"layers.{i}.", 16, 2, 24, 1e-6, True)(t)
    ref = TF.linear(TF.layer_norm(t[:, 0], (16,), w["ln.weight"], w["ln.bias"], eps=1e-6), w["head.weight"],
                    w["head.bias"])
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match=r"expected 12x12 images, got input of shape \[1, 3, 8, 8\]"):
        m(dlcore.zeros(1, 3, 8, 8, dtype=dlcore.float64))


def _small_bert_config():
    return BertConfig(vocab_size=31, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=32, hidden_dropout_prob=0.0, max_position_embeddings=20)


def test_bert_forward_with_padding_matches_torch():
    dlcore.manual_seed(1)
    cfg = _small_bert_config()
    m = BertModel(cfg).double().eval()
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 31, size=(3, 9))
    types = rng.integers(0, 2, size=(3, 9))
    mask = np.ones((3, 9), dtype=np.int64)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    seq, pooled = m(dlcore.from_numpy(ids), dlcore.from_numpy(mask), dlcore.from_numpy(types))
    w = _torch_weights(m)
    e = "embeddings."
    x = w[e + "word_embeddings.weight"][torch.from_numpy(ids)] + w[e + "position_embeddings.weight"][:9] + \
        w[e + "token_type_embeddings.weight"][torch.from_numpy(types)]
    x = TF.layer_norm(x, (16,), w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps=1e-12)
    pad = torch.from_numpy(mask == 0)
    for i in range(2):
        x = _torch_encoder_layer(w, f"encoder.{i}.", 16, 2, 32, 1e-12, False)(x, src_key_padding_mask=pad)
    ref_pooled = torch.tanh(TF.linear(x[:, 0], w["pooler.0.weight"], w["pooler.0.bias"]))
    keep = mask.astype(bool)  # torch's fast path may zero padded positions: compare real tokens
    np.testing.assert_allclose(seq.detach().numpy()[keep], x.detach().numpy()[keep], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(pooled.detach().numpy(), ref_pooled.detach().numpy(), rtol=1e-9, atol=1e-10)
    # padded keys change nothing for the real tokens
    ids2 = ids.copy()
    ids2[1, 6:] = 7
    seq2, _ = m(dlcore.from_numpy(ids2), dlcore.from_numpy(mask), dlcore.from_numpy(types))
    np.testing.assert_allclose(seq2.detach().numpy()[1, :6], seq.detach().numpy()[1, :6], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"attention_mask of shape \[3, 8\] does not match input_ids of shape \[3, 9\]"):
        m(dlcore.from_numpy(ids), dlcore.ones(3, 8, dtype=dlcore.int64))
    with pytest.raises(ValueError, match="sequence length 21 exceeds max_position_embeddings 20"):
        m(dlcore.zeros(1, 21, dtype=dlcore.int64))


def test_heads_shapes_tied_weights_survive_dtype_change():
    cfg = _small_bert_config()
    mlm = BertForMaskedLM(cfg).double()
    assert mlm.cls.decoder.weight is mlm.bert.embeddings.word_embeddings.weight
    assert count(mlm) == count(BertModel(cfg, add_pooling_layer=False)) + 16 * 16 + 16 + 2 * 16 + 31
    ids = dlcore.from_numpy(np.random.default_rng(2).integers(1, 31, size=(2, 7)))
    logits, loss = mlm(ids)
    assert logits.shape == (2, 7, 31) and loss is None
    mlm_logits, nsp_logits, loss = BertForPreTraining(cfg)(ids, labels=ids, next_sentence_label=dlcore.tensor([0, 1]))
    assert mlm_logits.shape == (2, 7, 31) and nsp_logits.shape == (2, 2) and loss.dim() == 0
    logits, loss = BertForSequenceClassification(cfg, num_labels=3)(ids, labels=dlcore.tensor([0, 2]))
    assert logits.shape == (2, 3) and loss.dim() == 0


def test_mask_tokens_proportions():
    dlcore.manual_seed(3)
    ids = dlcore.from_numpy(np.random.default_rng(3).integers(5, 100, size=(200, 100)))
    ids[:, 0] = 1  # a special token ([CLS]) never chosen
    masked, labels = mask_tokens(ids, mask_token_id=4, vocab_size=100, special_ids=(1,))
    ids_np, m_np, l_np = ids.numpy(), masked.numpy(), labels.numpy()
    chosen = l_np != -100
    assert not chosen[:, 0].any()
    assert np.array_equal(l_np[chosen], ids_np[chosen])
    assert np.array_equal(m_np[~chosen], ids_np[~chosen])
    n = chosen.sum()
    assert abs(n / chosen[:, 1:].size - 0.15) < 0.01  # 20,000 draws: sd 0.0025
    frac_mask = (m_np[chosen] == 4).mean()
    frac_keep = (m_np[chosen] == ids_np[chosen]).mean()
    assert abs(frac_mask - 0.8) < 0.03 and 0.07 < frac_keep < 0.15  # kept: 10% + random hits of itself


def test_losses_fall_on_small_batches():
    dlcore.manual_seed(4)
    cfg = _small_bert_config()
    model = BertForMaskedLM(cfg)
    ids = dlcore.from_numpy(np.random.default_rng(4).integers(5, 31, size=(8, 12)))
    masked, labels = mask_tokens(ids, 4, 31, mlm_probability=0.3)
    opt = dlcore.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    first = None
    for _ in range(120):
        _, loss = model(masked, labels=labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first / 10

    vit = VisionTransformer(image_size=8, patch_size=4, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
                            num_classes=4, in_channels=1)
    x = dlcore.randn(16, 1, 8, 8)
    y = dlcore.from_numpy(np.arange(16) % 4)
    opt = dlcore.optim.AdamW(vit.parameters(), lr=1e-2, weight_decay=0.0)
    first = None
    for _ in range(100):
        loss = dlcore.nn.functional.cross_entropy(vit(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first / 10
