"""MultiheadAttention and the Transformer layers, with torch.nn's names, signatures, parameter
layouts and submodule names (state_dicts copy over from torch)."""
import copy
import math

import dlcore

from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .normalization import LayerNorm

# Note [Attention masks in MultiheadAttention]
# torch.nn.MultiheadAttention reads a bool attn_mask / key_padding_mask as "True = may NOT attend"
# and a float one as a bias added to the scores, whereas scaled_dot_product_attention reads a
# bool mask as "True = takes part". Every mask is first brought to a shape that broadcasts over
# the (N, H, L, S) scores -- attn_mask (L, S) or (N*H, L, S) -> (N, H, L, S), key_padding_mask
# (N, S) -> (N, 1, 1, S) -- and then merged: two bool masks by logical or (one "blocked" mask,
# inverted for the fused kernel), anything else as one additive mask (bool -> 0 / -inf).
# need_weights=False runs the fused kernel on (N, H, L, D) views of the projections (no copies);
# need_weights=True computes softmax(q k^T * scale + mask) explicitly, since the weights are
# returned. A query row whose keys are all blocked gives zeros from the fused kernel and NaN from
# the explicit softmax (as torch's explicit path).


def _blocked_to_additive(mask, dtype):
    zeros = dlcore.zeros(list(mask.shape), dtype=dtype, device=mask.device)
    return zeros.masked_fill(mask, float("-inf"))


def _merge_masks(a, b, dtype):
    """One mask from two (either may be None): a bool "blocked" mask when both are bool, else an
    additive mask of ``dtype``."""
    if a is None or b is None:
        m = a if b is None else b
        if m is None or m.dtype == dlcore.bool:
            return m
        return m.to(dtype)
    if a.dtype == dlcore.bool and b.dtype == dlcore.bool:
        return dlcore.logical_or(a, b)
    a = _blocked_to_additive(a, dtype) if a.dtype == dlcore.bool else a.to(dtype)
    b = _blocked_to_additive(b, dtype) if b.dtype == dlcore.bool else b.to(dtype)
    return a + b


def _check_mask_dtype(mask, name):
    if mask is not None and mask.dtype != dlcore.bool and not mask.is_floating_point():
        raise TypeError(f"MultiheadAttention: {name} must be bool or floating point, got {mask.dtype}")


def _pad_last(mask, n):
    """Appends n columns that take part (False / 0) to the last dim of a mask."""
    if mask is None:
        return None
    if mask.dtype == dlcore.bool:
        extra = dlcore.zeros(list(mask.shape[:-1]) + [n], dtype=dlcore.bool, device=mask.device)
        return dlcore.cat([mask, extra], -1)
    return F.pad(mask, [0, n])


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al., 2017) as torch.nn.MultiheadAttention:
    out = concat_h(softmax(q_h k_h^T / sqrt(D) + mask) v_h) W_o^T + b_o, with D = embed_dim / num_heads
    and q, k, v the projections of query, key and value.

    Parameters: ``in_proj_weight`` (3E, E) when kdim == vdim == embed_dim, else ``q_proj_weight``
    (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim); ``in_proj_bias`` (3E);
    ``out_proj`` a Linear(E, E); ``bias_k``/``bias_v`` (1, 1, E) with add_bias_kv. Inputs are
    (L, N, E) or with batch_first (N, L, E), or unbatched (L, E). Masks as torch's (see
    Note [Attention masks in MultiheadAttention]). ``is_causal=True`` without ``attn_mask`` gives
    causal attention (torch requires the mask as well; here it is optional)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be positive, got embed_dim="
                             f"{embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        self.add_zero_attn = add_zero_attn
        kw = dict(dtype=dtype, device=device)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(dlcore.empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(dlcore.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(dlcore.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(dlcore.empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(dlcore.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(dlcore.empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(dlcore.empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"

    # ---- the projections -------------------------------------------------------------------
    def _weights(self):
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[0:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[0:E], b[E:2 * E], b[2 * E:])
        return (wq, wk, wv), (bq, bk, bv)

    def _project(self, query, key, value):
        """q, k, v projections in the inputs' layout ((L|S, N, E) or (N, L|S, E))."""
        E = self.embed_dim
        (wq, wk, wv), (bq, bk, bv) = self._weights()
        if self._qkv_same_embed_dim and query is key and key is value:
            # three products with row blocks of in_proj_weight rather than one and three narrows:
            # the same values, contiguous outputs, and a backward that adds three (.., E)
            # gradients instead of assembling one (.., 3E) from three zero-padded slices
            return dlcore.linear(query, wq, bq), dlcore.linear(query, wk, bk), dlcore.linear(query, wv, bv)
        q = dlcore.linear(query, wq, bq)
        if self._qkv_same_embed_dim and key is value:
            kv = dlcore.linear(key, self.in_proj_weight[E:], None if self.in_proj_bias is None
                               else self.in_proj_bias[E:])
            return q, kv.narrow(-1, 0, E), kv.narrow(-1, E, E)
        return q, dlcore.linear(key, wk, bk), dlcore.linear(value, wv, bv)

    def _heads(self, x):
        """(T, N, E) or batch_first (N, T, E) -> a (N, H, T, D) view."""
        H, D = self.num_heads, self.head_dim
        if self.batch_first:
            n, t = x.shape[0], x.shape[1]
            return x.reshape([n, t, H, D]).permute([0, 2, 1, 3])
        t, n = x.shape[0], x.shape[1]
        return x.reshape([t, n, H, D]).permute([1, 2, 0, 3])

    # ---- forward ---------------------------------------------------------------------------
    def _check_inputs(self, query, key, value, key_padding_mask, attn_mask):
        shapes = f"(query {list(query.shape)}, key {list(key.shape)}, value {list(value.shape)})"
        if query.dim() not in (2, 3) or key.dim() != query.dim() or value.dim() != query.dim():
            raise ValueError(f"MultiheadAttention: query, key and value must all be 2-D (unbatched) or all 3-D "
                             f"(batched) {shapes}")
        for t, name, size in ((query, "query", self.embed_dim), (key, "key", self.kdim),
                              (value, "value", self.vdim)):
            if t.shape[-1] != size:
                raise ValueError(f"MultiheadAttention: {name} has {t.shape[-1]} features, expected {size} {shapes}")
        seq = 0 if (query.dim() == 2 or not self.batch_first) else 1
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiheadAttention: key and value must have the same sequence and batch sizes {shapes}")
        if query.dim() == 3 and query.shape[1 - seq] != key.shape[1 - seq]:
            raise ValueError(f"MultiheadAttention: query and key have different batch sizes {shapes}")
        _check_mask_dtype(attn_mask, "attn_mask")
        _check_mask_dtype(key_padding_mask, "key_padding_mask")

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        """Returns ``(output, weights)``: output like query (with embed_dim features), weights
        (N, L, S) averaged over heads or (N, H, L, S) per head, or None when need_weights=False."""
        self._check_inputs(query, key, value, key_padding_mask, attn_mask)
        batched = query.dim() == 3
        if not batched:
            bdim = 0 if self.batch_first else 1
            same_kv = key is value
            same_qk = query is key
            query = query.unsqueeze(bdim)
            key = query if same_qk else key.unsqueeze(bdim)
            value = key if same_kv else value.unsqueeze(bdim)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
            if attn_mask is not None and attn_mask.dim() == 3:
                attn_mask = attn_mask.unsqueeze(0)  # (H, L, S) -> (1, H, L, S)
        out, weights = self._attend(query, key, value, key_padding_mask, need_weights, attn_mask,
                                    average_attn_weights, is_causal)
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            if weights is not None:
                weights = weights.squeeze(0)
        return out, weights

    def _attend(self, query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights,
                is_causal):
        H, D = self.num_heads, self.head_dim
        N = query.shape[0] if self.batch_first else query.shape[1]
        L = query.shape[1] if self.batch_first else query.shape[0]
        S = key.shape[1] if self.batch_first else key.shape[0]
        q, k, v = self._project(query, key, value)
        if self.bias_k is not None:
            bk = self.bias_k.expand([N, 1, self.embed_dim] if self.batch_first else [1, N, self.embed_dim])
            bv = self.bias_v.expand(list(bk.shape))
            seq = 1 if self.batch_first else 0
            k, v = dlcore.cat([k, bk], seq), dlcore.cat([v, bv], seq)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        S_full = S + (self.bias_k is not None) + self.add_zero_attn

        # masks broadcasting over (N, H, L, S_full)
        if attn_mask is not None:
            want2, want3 = [L, S], [N * H, L, S]
            if attn_mask.dim() == 2 and list(attn_mask.shape) == want2:
                pass
            elif attn_mask.dim() == 3 and list(attn_mask.shape) == want3:
                attn_mask = attn_mask.reshape([N, H, L, S])
            elif attn_mask.dim() == 4 and list(attn_mask.shape) == [1, H, L, S] and N == 1:
                pass  # unbatched (H, L, S)
            else:
                raise ValueError(f"MultiheadAttention: attn_mask of shape {list(attn_mask.shape)} must be "
                                 f"{want2} or {want3} (query {list(query.shape)}, key {list(key.shape)}, "
                                 f"num_heads {H})")
        if key_padding_mask is not None:
            if list(key_padding_mask.shape) != [N, S]:
                raise ValueError(f"MultiheadAttention: key_padding_mask of shape {list(key_padding_mask.shape)} "
                                 f"must be {[N, S]} (batch, source length) (key {list(key.shape)})")
            key_padding_mask = key_padding_mask.reshape([N, 1, 1, S])
        if S_full > S:
            attn_mask = _pad_last(attn_mask, S_full - S)
            key_padding_mask = _pad_last(key_padding_mask, S_full - S)
        if self.add_zero_attn:
            z = dlcore.zeros([N, H, 1, D], dtype=k.dtype, device=k.device)
            k, v = dlcore.cat([k, z], 2), dlcore.cat([v, z], 2)

        dropout_p = self.dropout if self.training else 0.0
        use_causal_kernel = is_causal and key_padding_mask is None and not need_weights
        if use_causal_kernel:
            mask = None  # the mask, if any, is trusted to be the causal one (torch's hint)
        else:
            if is_causal and attn_mask is None:
                attn_mask = dlcore.triu(dlcore.ones(L, S_full, device=q.device), 1).to(dlcore.bool)
            mask = _merge_masks(attn_mask, key_padding_mask, q.dtype)

        if not need_weights:
            sdpa_mask = dlcore.logical_not(mask) if mask is not None and mask.dtype == dlcore.bool else mask
            o = dlcore.scaled_dot_product_attention(q, k, v, sdpa_mask, dropout_p, use_causal_kernel)
            weights = None
        else:
            scores = dlcore.matmul(q * (1.0 / math.sqrt(D)), k.transpose(-2, -1))  # (N, H, L, S_full)
            if mask is not None:
                scores = scores.masked_fill(mask, float("-inf")) if mask.dtype == dlcore.bool else scores + mask
            weights = dlcore.softmax(scores, -1)
            if dropout_p > 0.0:
                weights = dlcore.dropout(weights, dropout_p, True)
            o = dlcore.matmul(weights, v)
            if average_attn_weights:
                weights = weights.mean(1)
        if self.batch_first:
            o = o.permute([0, 2, 1, 3]).reshape([N, L, self.embed_dim])
        else:
            o = o.permute([2, 0, 1, 3]).reshape([L, N, self.embed_dim])
        return self.out_proj(o), weights


# ---- the Transformer layers -----------------------------------------------------------------
def _activation_fn(activation):
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise ValueError(f"Transformer layers: activation should be 'relu', 'gelu' or a callable, not '{activation}'")
    if not callable(activation):
        raise TypeError(f"Transformer layers: activation must be 'relu', 'gelu' or a callable, got {activation!r}")
    return activation


def _causal_float_mask(sz, device=None, dtype=None):
    m = dlcore.full([sz, sz], float("-inf"), dtype=dtype or dlcore.float32, device=device)
    return dlcore.triu(m, 1)


def _detect_is_causal_mask(mask, is_causal, size):
    """torch's rule: an explicit is_causal wins; with is_causal=None a square mask equal to the
    causal one (float 0/-inf, or bool blocking j > i) is recognised as causal."""
    if is_causal is not None:
        return bool(is_causal)
    if mask is None or mask.dim() != 2 or list(mask.shape) != [size, size]:
        return False
    if mask.dtype == dlcore.bool:
        ref = dlcore.triu(dlcore.ones(size, size, device=mask.device), 1).to(dlcore.bool)
    else:
        ref = _causal_float_mask(size, mask.device, mask.dtype)
    return bool(mask.eq(ref).all().item())


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block (linear1 -> activation -> dropout -> linear2), each
    with a residual connection and LayerNorm: after the residual (post-LN, the default) or before
    the block (``norm_first=True``, pre-LN). Submodules as torch's."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation_fn(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention over the target, cross-attention to the encoder's output (``memory``), then
    the feed-forward block; residuals and LayerNorms post-LN or pre-LN (``norm_first``) as in
    TransformerEncoderLayer. Submodules as torch's."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation_fn(activation)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _seq_len(x, batch_first):
    if x.dim() == 2:
        return x.shape[0]
    return x.shape[1] if batch_first else x.shape[0]


class TransformerEncoder(Module):
    """``num_layers`` independent copies of ``encoder_layer`` (``layers``), then ``norm`` if given.
    ``enable_nested_tensor`` and ``mask_check`` are accepted for torch's signature and have no
    effect."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        first = self.layers[0] if len(self.layers) else None
        batch_first = first.self_attn.batch_first if first is not None else False
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        if self.norm is not None:
            out = self.norm(out)
        return out


class TransformerDecoder(Module):
    """``num_layers`` independent copies of ``decoder_layer`` (``layers``), then ``norm`` if given."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        first = self.layers[0] if len(self.layers) else None
        batch_first = first.self_attn.batch_first if first is not None else False
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _seq_len(tgt, batch_first))
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        if self.norm is not None:
            out = self.norm(out)
        return out


class Transformer(Module):
    """The encoder-decoder Transformer (Vaswani et al., 2017) as torch.nn.Transformer: ``encoder``
    (TransformerEncoder with a final LayerNorm) and ``decoder`` (TransformerDecoder with a final
    LayerNorm); every parameter with more than one dim is initialised xavier_uniform_."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        self._reset_parameters()

    def _reset_parameters(self):
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        if src.dim() != tgt.dim():
            raise ValueError(f"Transformer: src and tgt must both be batched or both unbatched, got shapes "
                             f"{list(src.shape)} and {list(tgt.shape)}")
        if src.dim() == 3:
            b = 0 if self.batch_first else 1
            if src.shape[b] != tgt.shape[b]:
                raise ValueError(f"Transformer: the batch sizes of src {list(src.shape)} and tgt {list(tgt.shape)} "
                                 f"must be equal (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(f"Transformer: the feature size of src {list(src.shape)} and tgt {list(tgt.shape)} "
                             f"must be d_model = {self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """(sz, sz) float mask: 0 on and below the diagonal, -inf above (position i sees j <= i)."""
        return _causal_float_mask(sz, device, dtype)
