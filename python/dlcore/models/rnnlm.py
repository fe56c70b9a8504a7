"""Recurrent language models: an embedding, a multi-layer LSTM (or GRU) and a linear read-out,
trained on next-token prediction (the char-RNN of Karpathy, 2015)."""
import dlcore

from .. import nn
from ..nn import functional as F
from ._registry import register_model
from .gpt import sample_next

__all__ = ["RNNLanguageModel", "char_lstm", "char_gru"]


class RNNLanguageModel(nn.Module):
    """``forward(idx, targets=None, state=None) -> (logits, loss)``: idx (B, T) token ids, logits
    (B, T, vocab_size), loss the mean next-token cross-entropy (targets == -1 ignored).
    ``generate`` carries the recurrent state, so each new token costs one step."""

    def __init__(self, vocab_size=256, embed_dim=128, hidden_size=256, num_layers=2, dropout=0.0, cell="lstm"):
        super().__init__()
        cells = {"lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in cells:
            raise ValueError(f"RNNLanguageModel: cell must be 'lstm' or 'gru', got {cell!r}")
        self.config = dict(vocab_size=vocab_size, embed_dim=embed_dim, hidden_size=hidden_size,
                           num_layers=num_layers, dropout=dropout, cell=cell)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = cells[cell](embed_dim, hidden_size, num_layers=num_layers, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def _run(self, idx, state=None):
        out, state = self.rnn(self.embedding(idx), state)
        return self.head(self.drop(out)), state

    def forward(self, idx, targets=None, state=None):
        if idx.dim() != 2:
            raise ValueError(f"RNNLanguageModel: expected idx of shape (batch, time), got {list(idx.shape)}")
        logits, _ = self._run(idx, state)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    @dlcore.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None):
        """Appends ``max_new_tokens`` sampled tokens to idx (B, T) (temperature 0: greedy)."""
        was_training = self.training
        self.eval()
        logits, state = self._run(idx)
        out = idx
        for i in range(max_new_tokens):
            token = sample_next(logits[:, -1, :], temperature, top_k, top_p)
            out = dlcore.cat([out, token], dim=1)
            if i + 1 < max_new_tokens:
                logits, state = self._run(token, state)
        self.train(was_training)
        return out


@register_model("char_lstm", "lstm")
def char_lstm(vocab_size=256, **kwargs):
    """A 2-layer LSTM language model, 128-dim embeddings, 256 hidden units."""
    return RNNLanguageModel(vocab_size=vocab_size, **{"cell": "lstm", **kwargs})


@register_model("char_gru", "gru")
def char_gru(vocab_size=256, **kwargs):
    """A 2-layer GRU language model, 128-dim embeddings, 256 hidden units."""
    return RNNLanguageModel(vocab_size=vocab_size, **{"cell": "gru", **kwargs})
