"""Op-table rows for scaled_dot_product_attention (torch.nn.functional semantics).

The reference is the plain formula in float64: softmax(q @ k^T * scale + mask) @ v, with a
row whose keys are all masked giving 0 (PyTorch's SDPA gives 0 there too, see
tests/test_attention.py).

Tolerances: float32 scores are dot products of length E <= 16 (error ~ E * u), the
probabilities carry fast_expf's 2 ulp and the output is a convex combination of values, so
the error stays near 10 ulp of the magnitude (~1): rtol = atol = 2e-5 (4e-5 for S = 130,
whose online softmax rescales the accumulator three times). float64: the default.
"""
import numpy as np

import dlcore
from optable import ErrorCase, OpRow

OP = "scaled_dot_product_attention"
F32 = {"float32": (2e-5, 2e-5)}
F32_LARGE = {"float32": (4e-5, 4e-5)}


def sdpa_ref(q, k, v, mask=None, causal=False, scale=None):
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = (q @ np.swapaxes(k, -1, -2)) * scale
    L, S = s.shape[-2:]
    if causal:
        s = np.where(np.tril(np.ones((L, S), dtype=bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    m = s.max(-1, keepdims=True)
    empty = np.isneginf(m)  # no key takes part: output 0
    e = np.exp(s - np.where(empty, 0.0, m))
    p = e / np.where(empty, 1.0, e.sum(-1, keepdims=True))
    return p @ v


def window_ref(left, right):
    """The reference of window_size=(left, right): the plain formula with the window as a mask."""
    def ref(q, k, v):
        L, S = q.shape[-2], k.shape[-2]
        d = np.arange(L)[:, None] - np.arange(S)[None, :]  # i - j
        ok = np.ones((L, S), dtype=bool)
        if left >= 0:
            ok &= d <= left
        if right >= 0:
            ok &= -d <= right
        return sdpa_ref(q, k, v, mask=ok)
    return ref


def sdpa(*args, **kw):
    return dlcore.scaled_dot_product_attention(*args, **kw)


def qkv(*shapes):
    """Samples: one (q, k, v) of standard-normal arrays per (q shape, k shape, v shape)."""
    def make(r):
        return [tuple(r.standard_normal(s) for s in group) for group in shapes]
    return make


def qkv_mask(kind, *shapes):
    """Samples (q, k, v, mask): `shapes` are (q, k, v, mask) shape groups; kind 'bool' draws a
    keep-mask with about 30% dropped (and one fully masked row where the shape allows),
    'float' a standard-normal additive mask."""
    def make(r):
        out = []
        for q, k, v, m in shapes:
            if kind == "bool":
                mask = r.random(m) > 0.3
                if len(m) >= 2 and m[-2] > 1:
                    mask[..., 1, :] = False
            else:
                mask = r.standard_normal(m)
            out.append((r.standard_normal(q), r.standard_normal(k), r.standard_normal(v), mask))
        return out
    return make


# Small shapes for the gradcheck: 2-d, 3-d and 4-d, L != S, Ev != E, T = 1, broadcast batch dims.
SMALL = [
    ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)),
    ((3, 7, 8), (3, 7, 8), (3, 7, 8)),
    ((1, 8), (7, 8), (7, 16)),
    ((2, 1, 3, 8), (3, 4, 8), (1, 4, 8)),
    ((1, 1, 8), (1, 1, 8), (1, 1, 8)),
]
# Forward only: sizes that cross the 64-row / 64-key tiles and odd D.
LARGE = [
    ((2, 2, 33, 16), (2, 2, 33, 16), (2, 2, 33, 16)),
    ((1, 70, 16), (1, 130, 16), (1, 130, 8)),
    ((2, 130, 8), (2, 65, 8), (2, 65, 16)),
    ((1, 7, 16), (1, 1, 16), (1, 1, 16)),
]
CAUSAL_SMALL = [
    ((2, 2, 7, 8), (2, 2, 7, 8), (2, 2, 7, 8)),
    ((5, 8), (7, 8), (7, 4)),       # L < S
    ((1, 7, 8), (1, 4, 8), (1, 4, 8)),  # L > S: rows past S see every key
    ((1, 1, 8), (1, 1, 8), (1, 1, 8)),
]
CAUSAL_LARGE = [
    ((2, 2, 33, 16), (2, 2, 33, 16), (2, 2, 33, 16)),
    ((1, 130, 16), (1, 130, 16), (1, 130, 8)),
    ((1, 70, 8), (1, 150, 8), (1, 150, 8)),
    ((1, 150, 8), (1, 70, 8), (1, 70, 8)),
]
# Masks broadcast from (L, S), (S,), (1, L, S), (B, 1, L, S), a row vector (1, S).
MASKED_SMALL = [
    ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), (4, 5)),
    ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), (2, 1, 4, 5)),
    ((3, 4, 8), (3, 5, 8), (3, 5, 8), (1, 5)),
    ((7, 8), (5, 8), (5, 8), (5,)),
]
MASKED_LARGE = [
    ((2, 2, 70, 16), (2, 2, 130, 16), (2, 2, 130, 16), (2, 1, 70, 130)),
    ((1, 33, 8), (1, 33, 8), (1, 33, 8), (33, 33)),
]

ERRORS = [
    ErrorCase(lambda dl: dl.scaled_dot_product_attention(dl.ones(2, 3, 4, 8), dl.ones(2, 3, 5, 7),
                                                         dl.ones(2, 3, 5, 7)), ValueError,
              r"scaled_dot_product_attention: query has embedding size E = 8 but key has 7 "
              r"\(query \[2, 3, 4, 8\], key \[2, 3, 5, 7\], value \[2, 3, 5, 7\]\)"),
    ErrorCase(lambda dl: dl.scaled_dot_product_attention(dl.ones(2, 4, 8), dl.ones(2, 5, 8), dl.ones(2, 6, 8)),
              ValueError, r"scaled_dot_product_attention: key has 5 positions \(S\) but value has 6 "
                          r"\(query \[2, 4, 8\], key \[2, 5, 8\], value \[2, 6, 8\]\)"),
    ErrorCase(lambda dl: dl.scaled_dot_product_attention(dl.ones(2, 4, 8), dl.ones(2, 5, 8), dl.ones(2, 5, 8),
                                                         attn_mask=dl.ones(3, 5)), ValueError,
              r"scaled_dot_product_attention: attn_mask of shape \[3, 5\] cannot be broadcast to the attention "
              r"shape \[2, 4, 5\]"),
    ErrorCase(lambda dl: dl.scaled_dot_product_attention(dl.ones(2, 4, 8), dl.ones(2, 5, 8), dl.ones(2, 5, 8),
                                                         attn_mask=dl.ones(4, 5, dtype=dl.bool), is_causal=True),
              ValueError, r"scaled_dot_product_attention: attn_mask and is_causal=True cannot be combined"),
    ErrorCase(lambda dl: dl.scaled_dot_product_attention(dl.ones(2, 4, 8), dl.ones(3, 5, 8), dl.ones(3, 5, 8)),
              ValueError, r"scaled_dot_product_attention: batch dims of query, key and value cannot be broadcast "
                          r"together \(query \[2, 4, 8\], key \[3, 5, 8\], value \[3, 5, 8\]\)"),
    ErrorCase(lambda dl: dl.scaled_dot_product_attention(dl.ones(4, 8), dl.ones(5, 8, dtype=dl.float64),
                                                         dl.ones(5, 8)), TypeError,
              r"scaled_dot_product_attention: expected query, key and value to have the same dtype, "
              r"got float32, float64 and float32"),
    ErrorCase(lambda dl: dl.scaled_dot_product_attention(dl.ones(4, 8), dl.ones(5, 8), dl.ones(5, 8),
                                                         window_size=(3, -4)), ValueError,
              r"scaled_dot_product_attention: window_size entries must be >= 0, or -1 for no bound, got \(3, -4\)"),
    ErrorCase(lambda dl: dl.scaled_dot_product_attention(dl.ones(8), dl.ones(5, 8), dl.ones(5, 8)), ValueError,
              r"scaled_dot_product_attention: query needs at least 2 dims \(\.\.\., L, E\), got shape \[8\]"),
]


def dropout_op(q, k, v):
    """Dropout with a fixed mask: the generator is reset on every call (the gradcheck calls
    the op many times and needs the same mask each time)."""
    dlcore.manual_seed(1234)
    return sdpa(q, k, v, dropout_p=0.3)


ROWS = [
    OpRow(OP, sdpa, sdpa_ref, qkv(*SMALL), tol=F32, errors=ERRORS),
    OpRow(OP, sdpa, sdpa_ref, qkv(*LARGE), tol=F32_LARGE, grad=False, id="large"),
    OpRow(OP, lambda q, k, v: sdpa(q, k, v, is_causal=True), lambda q, k, v: sdpa_ref(q, k, v, causal=True),
          qkv(*CAUSAL_SMALL), tol=F32, id="causal"),
    OpRow(OP, lambda q, k, v: sdpa(q, k, v, is_causal=True), lambda q, k, v: sdpa_ref(q, k, v, causal=True),
          qkv(*CAUSAL_LARGE), tol=F32_LARGE, grad=False, id="causal-large"),
    OpRow(OP, lambda q, k, v, m: sdpa(q, k, v, attn_mask=m), sdpa_ref, qkv_mask("bool", *MASKED_SMALL), tol=F32,
          id="bool-mask"),
    OpRow(OP, lambda q, k, v, m: sdpa(q, k, v, attn_mask=m), sdpa_ref, qkv_mask("bool", *MASKED_LARGE),
          tol=F32_LARGE, grad=False, id="bool-mask-large"),
    # the additive mask is differentiated too (its gradient summed to its broadcast shape)
    OpRow(OP, lambda q, k, v, m: sdpa(q, k, v, attn_mask=m), sdpa_ref, qkv_mask("float", *MASKED_SMALL), tol=F32,
          id="float-mask"),
    OpRow(OP, lambda q, k, v, m: sdpa(q, k, v, attn_mask=m), sdpa_ref, qkv_mask("float", *MASKED_LARGE),
          tol=F32_LARGE, grad=False, id="float-mask-large"),
    OpRow(OP, lambda q, k, v: sdpa(q, k, v, scale=0.3), lambda q, k, v: sdpa_ref(q, k, v, scale=0.3),
          qkv(SMALL[0], SMALL[2], CAUSAL_LARGE[1]), tol=F32_LARGE, id="scale"),
    OpRow(OP, lambda q, k, v: sdpa(q, k, v, None, 0.0, True, scale=2.0), lambda q, k, v: sdpa_ref(q, k, v, causal=True, scale=2.0),
          qkv(CAUSAL_SMALL[0], CAUSAL_SMALL[1]), tol=F32_LARGE, id="causal-scale-positional"),
    # window_size (left, right): two-sided, one-sided (causal) and wide windows, L != S
    OpRow(OP, lambda q, k, v: sdpa(q, k, v, window_size=(2, 1)), window_ref(2, 1), qkv(*SMALL), tol=F32,
          id="window"),
    OpRow(OP, lambda q, k, v: sdpa(q, k, v, window_size=(-1, 0)), window_ref(-1, 0), qkv(*CAUSAL_SMALL), tol=F32,
          id="window-causal"),
    OpRow(OP, lambda q, k, v: sdpa(q, k, v, window_size=(40, 3)), window_ref(40, 3), qkv(*CAUSAL_LARGE),
          tol=F32_LARGE, grad=False, id="window-large"),
    # dropout: no forward reference (tests/test_attention.py checks its statistics); the
    # gradient with the mask fixed by manual_seed
    OpRow(OP, dropout_op, None, qkv(SMALL[0], ((1, 7, 8), (1, 9, 8), (1, 9, 8))), id="dropout"),
]
