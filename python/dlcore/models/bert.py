"""BERT (Devlin et al., 2019): an encoder-only transformer over token, position and segment
embeddings, post-LN layers with exact GELU, a pooler (tanh of a Linear on the [CLS] state) and
heads for masked-LM, next-sentence prediction and sequence classification. ``bert_base`` has the
109,482,240 parameters of the reference BertModel (with pooler)."""
from dataclasses import asdict, dataclass

import dlcore

from .. import nn
from ..nn import functional as F
from ._registry import register_model

__all__ = ["BertConfig", "BertModel", "BertForMaskedLM", "BertForNextSentencePrediction", "BertForPreTraining",
           "BertForSequenceClassification", "bert_base", "bert_large", "bert_tiny", "bert_mini", "mask_tokens"]


@dataclass
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    initializer_range: float = 0.02

    def to_dict(self):
        return asdict(self)


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.max_positions = c.max_position_embeddings

    def forward(self, input_ids, token_type_ids=None):
        n, t = input_ids.shape
        if t > self.max_positions:
            raise ValueError(f"BertModel: sequence length {t} exceeds max_position_embeddings {self.max_positions} "
                             f"(input_ids of shape {list(input_ids.shape)})")
        if token_type_ids is None:
            token_type_ids = dlcore.zeros(n, t, dtype=dlcore.int64, device=input_ids.device)
        pos = dlcore.arange(t, dtype=dlcore.int64, device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertModel(nn.Module):
    """``forward(input_ids, attention_mask=None, token_type_ids=None) -> (sequence_output, pooled)``:
    input_ids (N, T) int64; attention_mask (N, T) with 1 for real tokens and 0 for padding;
    sequence_output (N, T, hidden); pooled (N, hidden) or None without a pooler."""

    def __init__(self, config, add_pooling_layer=True):
        super().__init__()
        self.config = config
        c = config
        self.embeddings = BertEmbeddings(c)
        self.encoder = nn.ModuleList([
            nn.TransformerEncoderLayer(c.hidden_size, c.num_attention_heads, c.intermediate_size,
                                       c.hidden_dropout_prob, activation="gelu", layer_norm_eps=c.layer_norm_eps,
                                       batch_first=True, norm_first=False)
            for _ in range(c.num_hidden_layers)])
        self.pooler = nn.Sequential(nn.Linear(c.hidden_size, c.hidden_size), nn.Tanh()) if add_pooling_layer else None
        self.apply(lambda m: _init_bert(m, c.initializer_range))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        if input_ids.dim() != 2:
            raise ValueError(f"BertModel: expected input_ids of shape (batch, seq), got {list(input_ids.shape)}")
        x = self.embeddings(input_ids, token_type_ids)
        padding = None
        if attention_mask is not None:
            if list(attention_mask.shape) != list(input_ids.shape):
                raise ValueError(f"BertModel: attention_mask of shape {list(attention_mask.shape)} does not match "
                                 f"input_ids of shape {list(input_ids.shape)}")
            padding = attention_mask == 0  # True = ignore this key
        for layer in self.encoder:
            x = layer(x, src_key_padding_mask=padding)
        pooled = self.pooler(x[:, 0]) if self.pooler is not None else None
        return x, pooled


def _init_bert(module, std):
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=std)
        if module.padding_idx is not None:
            with dlcore.no_grad():
                module.weight[module.padding_idx] = 0.0
    elif isinstance(module, nn.MultiheadAttention):
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            w = getattr(module, name, None)
            if w is not None:
                nn.init.normal_(w, std=std)
        if getattr(module, "in_proj_bias", None) is not None:
            nn.init.zeros_(module.in_proj_bias)


class BertLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> decoder tied to the word embeddings, plus a bias."""

    def __init__(self, c, word_embeddings):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size)
        self.decoder.weight = word_embeddings.weight
        nn.init.normal_(self.dense.weight, std=c.initializer_range)
        nn.init.zeros_(self.dense.bias)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x):
        return self.decoder(self.LayerNorm(F.gelu(self.dense(x))))


def _masked_lm_loss(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


class BertForMaskedLM(nn.Module):
    """``forward(input_ids, attention_mask=None, token_type_ids=None, labels=None) -> (logits, loss)``;
    labels (N, T) hold the original ids at masked positions and -100 elsewhere (see mask_tokens)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertLMHead(config, self.bert.embeddings.word_embeddings)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        x, _ = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.cls(x)
        return logits, (_masked_lm_loss(logits, labels) if labels is not None else None)


class BertForNextSentencePrediction(nn.Module):
    """``forward(..., next_sentence_label=None) -> (logits (N, 2), loss)``; label 0 = B follows A."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.cls = nn.Linear(config.hidden_size, 2)
        _init_bert(self.cls, config.initializer_range)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, next_sentence_label=None):
        _, pooled = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.cls(pooled)
        loss = F.cross_entropy(logits, next_sentence_label) if next_sentence_label is not None else None
        return logits, loss


class BertForPreTraining(nn.Module):
    """Both pre-training heads: ``forward(..., labels=None, next_sentence_label=None) ->
    (mlm_logits, nsp_logits, loss)`` with loss the sum of the given ones."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.lm_head = BertLMHead(config, self.bert.embeddings.word_embeddings)
        self.nsp_head = nn.Linear(config.hidden_size, 2)
        _init_bert(self.nsp_head, config.initializer_range)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, next_sentence_label=None):
        x, pooled = self.bert(input_ids, attention_mask, token_type_ids)
        mlm, nsp = self.lm_head(x), self.nsp_head(pooled)
        losses = []
        if labels is not None:
            losses.append(_masked_lm_loss(mlm, labels))
        if next_sentence_label is not None:
            losses.append(F.cross_entropy(nsp, next_sentence_label))
        loss = None
        for part in losses:
            loss = part if loss is None else loss + part
        return mlm, nsp, loss


class BertForSequenceClassification(nn.Module):
    """``forward(..., labels=None) -> (logits (N, num_labels), loss)``: dropout and a Linear on the
    pooled [CLS] state."""

    def __init__(self, config, num_labels=2):
        super().__init__()
        self.config = config
        self.num_labels = num_labels
        self.bert = BertModel(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        _init_bert(self.classifier, config.initializer_range)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        _, pooled = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.classifier(self.dropout(pooled))
        return logits, (F.cross_entropy(logits, labels) if labels is not None else None)


def mask_tokens(input_ids, mask_token_id, vocab_size, mlm_probability=0.15, special_ids=(), generator_seed=None):
    """BERT's masking for masked-LM training: each token (other than ``special_ids``) is chosen with
    probability ``mlm_probability``; a chosen token becomes ``mask_token_id`` 80% of the time, a
    random token 10% and stays 10%. Returns ``(masked_ids, labels)`` with labels = the original id
    at chosen positions and -100 elsewhere. Draws from dlcore's generator (``manual_seed``)."""
    ids = input_ids
    u = dlcore.rand(*ids.shape, dtype=dlcore.float64)
    chosen = u < mlm_probability
    for s in special_ids:
        chosen = chosen.logical_and(ids != s)
    labels = ids.masked_fill(chosen.logical_not(), -100)
    action = dlcore.rand(*ids.shape, dtype=dlcore.float64)
    to_mask = chosen.logical_and(action < 0.8)
    to_random = chosen.logical_and(action >= 0.9)
    masked = ids.masked_fill(to_mask, mask_token_id)
    random_ids = dlcore.randint(0, vocab_size, tuple(ids.shape), dtype=dlcore.int64)
    masked = dlcore.where(to_random, random_ids, masked)
    return masked, labels


def _config(defaults, kwargs):
    return BertConfig(**{**defaults, **kwargs})


@register_model("bert_base")
def bert_base(**kwargs):
    """BERT-base (uncased vocabulary size): 12 layers, 768 dims, 12 heads — BertModel with pooler,
    109,482,240 parameters."""
    return BertModel(_config({}, kwargs))


@register_model("bert_large")
def bert_large(**kwargs):
    """BERT-large: 24 layers, 1024 dims, 16 heads."""
    return BertModel(_config(dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                  intermediate_size=4096), kwargs))


@register_model("bert_tiny")
def bert_tiny(**kwargs):
    """BERT-tiny (Turc et al., 2019): 2 layers, 128 dims, 2 heads."""
    return BertModel(_config(dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=512), kwargs))


@register_model("bert_mini", "bert")
def bert_mini(**kwargs):
    """BERT-mini: 4 layers, 256 dims, 4 heads."""
    return BertModel(_config(dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                  intermediate_size=1024), kwargs))
