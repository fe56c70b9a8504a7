"""``multi_head_attention_forward``: the computation of :class:`dlcore.nn.MultiheadAttention` with the
weights passed in, as torch.nn.functional's."""
from dlcore import _C

__all__ = ["multi_head_attention_forward"]


class _OutProj:
    """The output projection as MultiheadAttention's ``out_proj`` is called."""

    def __init__(self, weight, bias):
        self.weight, self.bias = weight, bias

    def __call__(self, x):
        return _C.linear(x, self.weight, self.bias)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention of query (L, N, E) (or (L, E)) over key and value (S, N, *) (or (S, *)):
    ``in_proj_weight`` (3E, E) (or the separate q/k/v projection weights with
    ``use_separate_proj_weight``), ``out_proj_weight`` (E, E); returns ``(output, weights)`` as
    MultiheadAttention.forward does."""
    from .module import Module
    from .modules.transformer import MultiheadAttention

    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k and static_v are not supported")
    if query.shape[-1] != embed_dim_to_check:
        raise ValueError(f"multi_head_attention_forward: expected query with embed_dim_to_check="
                         f"{embed_dim_to_check} features, got query of shape {list(query.shape)}")
    if num_heads <= 0 or embed_dim_to_check % num_heads:
        raise ValueError(f"multi_head_attention_forward: embed_dim {embed_dim_to_check} must be divisible by "
                         f"num_heads {num_heads}")
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError("multi_head_attention_forward: use_separate_proj_weight needs q_proj_weight, "
                             "k_proj_weight and v_proj_weight")
    elif in_proj_weight is None:
        raise ValueError("multi_head_attention_forward: in_proj_weight is None and use_separate_proj_weight is False")
    # A parameterless MultiheadAttention carrying the given tensors as plain attributes, so the
    # functional form and the module share one implementation.
    mha = MultiheadAttention.__new__(MultiheadAttention)
    Module.__init__(mha)
    e = embed_dim_to_check
    state = dict(embed_dim=e, num_heads=num_heads, head_dim=e // num_heads, dropout=dropout_p, batch_first=False,
                 add_zero_attn=add_zero_attn, training=training, in_proj_bias=in_proj_bias, bias_k=bias_k,
                 bias_v=bias_v, out_proj=_OutProj(out_proj_weight, out_proj_bias),
                 _qkv_same_embed_dim=not use_separate_proj_weight,
                 kdim=k_proj_weight.shape[-1] if use_separate_proj_weight else e,
                 vdim=v_proj_weight.shape[-1] if use_separate_proj_weight else e,
                 in_proj_weight=None if use_separate_proj_weight else in_proj_weight,
                 q_proj_weight=q_proj_weight, k_proj_weight=k_proj_weight, v_proj_weight=v_proj_weight)
    for name, v in state.items():
        object.__setattr__(mha, name, v)
    return mha.forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights, is_causal)
