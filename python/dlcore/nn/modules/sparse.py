"""Embedding (a lookup table of ``num_embeddings`` vectors), the positional embeddings built on it
(fixed sinusoidal and learned) and EmbeddingBag (reduced bags of rows)."""
import math

import dlcore

from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter


class Embedding(Module):
    """Rows of ``weight`` (num_embeddings, embedding_dim) selected by integer indices; initialised
    N(0, 1) with the ``padding_idx`` row zeroed (its gradient is always zero)."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse are not supported")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                                 f"({num_embeddings})")
            if padding_idx < 0:
                padding_idx += num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(dlcore.empty(num_embeddings, embedding_dim, dtype=dtype, device=device),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if list(_weight.shape) != [num_embeddings, embedding_dim]:
                raise ValueError(f"Embedding: _weight of shape {list(_weight.shape)} does not match "
                                 f"[{num_embeddings}, {embedding_dim}]")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with dlcore.no_grad():
                self.weight[self.padding_idx].fill_(0.0)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        """An Embedding whose weight is ``embeddings`` (2-D); frozen unless ``freeze=False``."""
        if embeddings.dim() != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                             f"{list(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)


# ---- positional embeddings ---------------------------------------------------------------------
def sinusoidal_position_encoding(num_positions, embedding_dim, base=10000.0, dtype=None, device=None):
    """The fixed encoding of Vaswani et al. (2017), a (num_positions, embedding_dim) tensor:
    pe[t, 2i] = sin(t / base^(2i / d)) and pe[t, 2i + 1] = cos(t / base^(2i / d)), d = embedding_dim
    (an odd d ends with a sin column)."""
    if num_positions < 0 or embedding_dim < 1:
        raise ValueError(f"sinusoidal_position_encoding: need num_positions >= 0 and embedding_dim >= 1, got "
                         f"{num_positions} and {embedding_dim}")
    half = (embedding_dim + 1) // 2
    pos = dlcore.arange(num_positions, dtype=dlcore.float64).reshape([num_positions, 1])
    inv_freq = dlcore.exp(dlcore.arange(half, dtype=dlcore.float64) * (-2.0 * math.log(base) / embedding_dim))
    angle = pos * inv_freq.reshape([1, half])  # (T, half)
    pe = dlcore.stack([dlcore.sin(angle), dlcore.cos(angle)], -1).reshape([num_positions, 2 * half])
    pe = pe.narrow(1, 0, embedding_dim).to(dtype or dlcore.float32).contiguous()
    return pe if device is None else pe.to(device)


class SinusoidalPositionalEmbedding(Module):
    """Fixed sinusoidal position vectors (``sinusoidal_position_encoding``) looked up by position:
    ``forward(positions)`` maps an integer tensor of positions (any shape, each < num_positions)
    to (..., embedding_dim), like an Embedding without parameters. The table is a non-persistent
    buffer ``pe`` (not in the state_dict, it is rebuilt from the arguments)."""

    def __init__(self, num_positions, embedding_dim, base=10000.0, device=None, dtype=None):
        super().__init__()
        self.num_positions = num_positions
        self.embedding_dim = embedding_dim
        self.base = base
        self.register_buffer("pe", sinusoidal_position_encoding(num_positions, embedding_dim, base, dtype, device),
                             persistent=False)

    def forward(self, positions):
        return F.embedding(positions, self.pe)

    def extra_repr(self):
        return f"{self.num_positions}, {self.embedding_dim}, base={self.base}"


class LearnedPositionalEmbedding(Embedding):
    """Learned absolute positions (BERT, GPT-2, ViT): an Embedding of ``num_positions`` rows looked
    up by position, ``forward(positions)``; initialised N(0, std^2) (std 0.02 as in GPT-2 and BERT;
    ``std=1.0`` gives Embedding's own initialisation)."""

    def __init__(self, num_positions, embedding_dim, std=0.02, device=None, dtype=None):
        super().__init__(num_positions, embedding_dim,
                         _weight=dlcore.empty(num_positions, embedding_dim, dtype=dtype, device=device))
        self.std = std
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight, 0.0, self.std)


# ---- bags ----------------------------------------------------------------------------------
class EmbeddingBag(Module):
    """Sums, averages or maxes bags of ``weight`` rows (see ``F.embedding_bag``); ``weight``
    (num_embeddings, embedding_dim) is initialised N(0, 1) with the ``padding_idx`` row zeroed."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None, device=None,
                 dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("EmbeddingBag: max_norm, scale_grad_by_freq and sparse are not supported")
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max', got '{mode}'")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"EmbeddingBag: padding_idx {padding_idx} must be within num_embeddings "
                                 f"({num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self.mode, self.sparse = mode, sparse
        self.include_last_offset, self.padding_idx = include_last_offset, padding_idx
        if _weight is None:
            self.weight = Parameter(dlcore.empty(num_embeddings, embedding_dim, dtype=dtype, device=device))
            self.reset_parameters()
        else:
            if list(_weight.shape) != [num_embeddings, embedding_dim]:
                raise ValueError(f"EmbeddingBag: _weight of shape {list(_weight.shape)} does not match "
                                 f"[{num_embeddings}, {embedding_dim}]")
            self.weight = Parameter(_weight)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with dlcore.no_grad():
                self.weight[self.padding_idx].fill_(0.0)

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, mode=self.mode, per_sample_weights=per_sample_weights,
                               include_last_offset=self.include_last_offset, padding_idx=self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        """An EmbeddingBag whose weight is ``embeddings`` (2-D); frozen unless ``freeze=False``."""
        if embeddings.dim() != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D, got shape "
                             f"{list(embeddings.shape)}")
        rows, cols = embeddings.shape
        bag = cls(rows, cols, max_norm, norm_type, scale_grad_by_freq, mode, sparse, embeddings, include_last_offset,
                  padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag
