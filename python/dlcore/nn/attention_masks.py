"""Attention patterns as masks: full causal, local (sliding window), the strided and fixed patterns of
Sparse Transformers (Child et al., 2019), block-sparse layouts and global tokens (Longformer,
Beltagy et al., 2020).

Note [Attention mask convention]
Every builder returns a bool tensor of shape (T, T) (or (T, S)) with ``mask[i, j] = True`` when query
i may attend to key j -- the convention of ``scaled_dot_product_attention``, which takes these masks
as they are. ``torch.nn.MultiheadAttention`` (and dlcore's) reads a bool mask the other way round
(True = blocked): pass ``mask.logical_not()`` there, or ``to_additive_mask(mask)`` (0 / -inf), which
both read the same way. Patterns combine with ``&`` / ``|`` (``logical_and`` / ``logical_or``).
A query row with no allowed key gives a zero output (and zero gradients) in the fused kernel; the
builders below keep the diagonal allowed wherever their pattern includes it, so no row is empty.

Note [Block skipping with masks]
``scaled_dot_product_attention`` computes no tile of (64 queries x up to 128 keys) in which the bool
mask allows nothing, and trims the others to the keys that some of their rows may attend, forward
and backward: local and block-sparse masks cost in proportion to the pairs they allow, with no
further argument. For sliding windows ``window_size=(left, right)`` (query i attends keys
i - left .. i + right, -1 = unbounded, as flash-attention's argument) gives the same result without
a (T, S) mask tensor: ``local_mask(T, w)`` is ``window_size=(w - 1, 0)`` (or ``is_causal=True,
window_size=(w - 1, -1)``), ``local_mask(T, w, causal=False)`` is ``window_size=(w // 2, w // 2)``.
Additive (float) masks are applied as they are, without skipping.
"""
import dlcore

__all__ = ["block_sparse_mask", "causal_mask", "fixed_sparse_mask", "global_tokens_mask", "local_mask",
           "strided_sparse_mask", "to_additive_mask"]


def _check_len(T, op, name="T"):
    if not isinstance(T, int) or T < 0:
        raise ValueError(f"{op}: {name} must be a non-negative int, got {T!r}")


def _offsets(T, S=None, device=None):
    """(i, j, d) as (T, 1), (1, S) and (T, S) int64 tensors, d = i - j."""
    S = T if S is None else S
    i = dlcore.arange(T, device=device).reshape([T, 1])
    j = dlcore.arange(S, device=device).reshape([1, S])
    return i, j, i - j


def _index_map(n, fn, device):
    """The int64 tensor [fn(0), ..., fn(n - 1)] (block numbers and remainders of positions)."""
    return dlcore.tensor([fn(k) for k in range(n)], dtype=dlcore.int64, device=device)


def causal_mask(T, S=None, device=None):
    """(T, S) (S defaults to T): query i attends key j iff j <= i (top-left aligned, as
    ``is_causal=True``)."""
    _check_len(T, "causal_mask")
    _, _, d = _offsets(T, S, device)
    return d >= 0


def local_mask(T, window, causal=True, device=None):
    """Sliding-window attention of ``window`` positions. causal=True: query i attends the ``window``
    most recent positions including itself, i - window < j <= i. causal=False: the positions
    within ``window // 2`` on either side, |i - j| <= window // 2 (Longformer's window)."""
    _check_len(T, "local_mask")
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"local_mask: window must be a positive int, got {window!r}")
    _, _, d = _offsets(T, None, device)
    if causal:
        return (d >= 0) & (d < window)
    return dlcore.abs(d) <= window // 2


def strided_sparse_mask(T, stride, causal=True, split=False, device=None):
    """The strided pattern of Sparse Transformers with stride l: one half of the heads attends the
    previous l positions (i - j < l), the other every l-th position back (i - j divisible by l);
    causal=False mirrors both to the future (|i - j| < l, |i - j| divisible by l). Returns their
    union (T, T), or with ``split=True`` both halves stacked as (2, T, T) [local, strided] to give
    two groups of heads."""
    _check_len(T, "strided_sparse_mask")
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"strided_sparse_mask: stride must be a positive int, got {stride!r}")
    _, _, d = _offsets(T, None, device)
    ok = d >= 0 if causal else dlcore.ones(T, T, dtype=dlcore.bool, device=device)
    local = ok & (dlcore.abs(d) < stride)
    # (i - j) divisible by l  <=>  i and j leave the same remainder mod l
    rem = _index_map(T, lambda k: k % stride, device)
    strided = ok & (rem.reshape([T, 1]) == rem.reshape([1, T]))
    if split:
        return dlcore.stack([local, strided], 0)
    return local | strided


def fixed_sparse_mask(T, block, summary=1, causal=True, split=False, device=None):
    """The fixed pattern of Sparse Transformers with block length l and c = ``summary`` summary
    positions: one half attends within its own block (j // l == i // l), the other the last c
    positions of every block (j % l >= l - c); causal=True keeps only j <= i. Union (T, T), or
    (2, T, T) [block, summary] with ``split=True``."""
    _check_len(T, "fixed_sparse_mask")
    if not isinstance(block, int) or block < 1 or not isinstance(summary, int) or not 1 <= summary <= block:
        raise ValueError(f"fixed_sparse_mask: need block >= 1 and 1 <= summary <= block, got block={block!r}, "
                         f"summary={summary!r}")
    _, _, d = _offsets(T, None, device)
    blk = _index_map(T, lambda k: k // block, device)
    same = blk.reshape([T, 1]) == blk.reshape([1, T])
    summ = (_index_map(T, lambda k: k % block, device) >= block - summary).reshape([1, T]).expand([T, T])
    if causal:
        ok = d >= 0
        same, summ = same & ok, summ & ok
    if split:
        return dlcore.stack([same, summ], 0)
    return same | summ


def block_sparse_mask(T, block, layout, S=None, device=None):
    """Block-sparse attention: the (T, S) positions are cut into blocks of ``block`` x ``block`` (the
    last ones may be shorter) and query i attends key j iff ``layout[i // block, j // block]``.
    ``layout``: a bool tensor or nested list of shape (ceil(T / block), ceil(S / block))."""
    _check_len(T, "block_sparse_mask")
    S = T if S is None else S
    _check_len(S, "block_sparse_mask", "S")
    if not isinstance(block, int) or block < 1:
        raise ValueError(f"block_sparse_mask: block must be a positive int, got {block!r}")
    if not dlcore.is_tensor(layout):
        layout = dlcore.tensor(layout, dtype=dlcore.bool)
    nb_q, nb_k = -(-T // block), -(-S // block)
    if list(layout.shape) != [nb_q, nb_k]:
        raise ValueError(f"block_sparse_mask: layout of shape {list(layout.shape)} must be {[nb_q, nb_k]} "
                         f"(T={T}, S={S}, block={block})")
    layout = layout.to(dlcore.bool)
    if device is not None:
        layout = layout.to(device)
    rows = _index_map(T, lambda k: k // block, layout.device)
    cols = _index_map(S, lambda k: k // block, layout.device)
    return layout.index_select(0, rows).index_select(1, cols)


def global_tokens_mask(T, global_idx, base_mask=None, device=None):
    """Global tokens: the positions in ``global_idx`` attend every position and every position
    attends them; other pairs follow ``base_mask`` (a (T, T) bool mask, e.g. ``local_mask(T, w,
    causal=False)``; None allows only the diagonal)."""
    _check_len(T, "global_tokens_mask")
    if base_mask is None:
        _, _, d = _offsets(T, None, device)
        base_mask = d == 0
    elif list(base_mask.shape) != [T, T] or base_mask.dtype != dlcore.bool:
        raise ValueError(f"global_tokens_mask: base_mask must be a bool ({T}, {T}) tensor, got "
                         f"{base_mask.dtype} of shape {list(base_mask.shape)}")
    idx = [int(g) for g in (global_idx.tolist() if dlcore.is_tensor(global_idx) else global_idx)]
    for g in idx:
        if not -T <= g < T:
            raise IndexError(f"global_tokens_mask: global index {g} is out of range for T={T}")
    flag = [False] * T
    for g in idx:
        flag[g % T] = True
    g = dlcore.tensor(flag, dtype=dlcore.bool, device=base_mask.device)
    return base_mask | g.reshape([T, 1]) | g.reshape([1, T])


def to_additive_mask(mask, dtype=None):
    """A bool "may attend" mask as a float mask: 0 where allowed, -inf where not (read alike by
    scaled_dot_product_attention and MultiheadAttention)."""
    if mask.dtype != dlcore.bool:
        raise TypeError(f"to_additive_mask: expected a bool mask, got {mask.dtype}")
    zeros = dlcore.zeros(list(mask.shape), dtype=dtype or dlcore.float32, device=mask.device)
    return zeros.masked_fill(mask.logical_not(), float("-inf"))
