"""scaled_dot_product_attention beyond the op table: against torch's SDPA on larger shapes
(forward and gradients), torch's layout of heads (non-contiguous views), fully masked rows,
dropout (statistics, reproducibility, the mask shared by forward and backward) and the
memory of the fused kernels (no T x T buffer)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlcore

# float32: fast_expf (2 ulp) and sums of up to 300 keys, ~ 1e-6 on values of order 1.
TOL = {"float32": dict(rtol=1e-4, atol=2e-5), "float64": dict(rtol=1e-9, atol=1e-11)}


def _pair(arr, dtype):
    t = torch.from_numpy(arr.astype(dtype)).requires_grad_(True)
    d = dlcore.tensor(arr.astype(dtype)).requires_grad_(True)
    return t, d


def _compare_with_torch(shapes, dtype, mask=None, **kw):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    pairs = [_pair(a, dtype) for a in arrays]
    tm = dm = None
    if mask is not None:
        tm, dm = (torch.from_numpy(mask), dlcore.tensor(mask)) if mask.dtype == bool else _pair(mask, dtype)
    want = F.scaled_dot_product_attention(*[p[0] for p in pairs], attn_mask=tm, **kw)
    got = dlcore.scaled_dot_product_attention(*[p[1] for p in pairs], attn_mask=dm, **kw)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(want.shape).astype(dtype)
    want.backward(torch.from_numpy(g))
    got.backward(dlcore.tensor(g))
    leaves = pairs + ([(tm, dm)] if mask is not None and mask.dtype != bool else [])
    for t, d in leaves:
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_torch(dtype, causal):
    _compare_with_torch([(2, 4, 200, 64)] * 3, dtype, is_causal=causal)
    _compare_with_torch([(1, 3, 129, 32), (1, 3, 300, 32), (1, 3, 300, 48)], dtype, is_causal=causal)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_masks_match_torch(dtype):
    rng = np.random.default_rng(1)
    shapes = [(2, 3, 100, 16), (2, 3, 150, 16), (2, 3, 150, 24)]
    _compare_with_torch(shapes, dtype, mask=rng.random((100, 150)) > 0.5)
    _compare_with_torch(shapes, dtype, mask=rng.standard_normal((2, 1, 100, 150)))
    _compare_with_torch(shapes, dtype, mask=rng.standard_normal((150,)), scale=0.7)


def test_torch_head_layout_views():
    """(B, T, H, D) tensors transposed to (B, H, T, D), as multi-head attention does."""
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((2, 90, 4, 32)).astype(np.float32) for _ in range(3)]
    want = F.scaled_dot_product_attention(*[torch.from_numpy(a).transpose(1, 2) for a in arrays], is_causal=True)
    views = [dlcore.tensor(a).transpose(1, 2) for a in arrays]
    assert not views[0].is_contiguous()
    got = dlcore.scaled_dot_product_attention(*views, is_causal=True)
    np.testing.assert_allclose(got.numpy(), want.numpy(), **TOL["float32"])


def test_fully_masked_rows_give_zero_like_torch():
    rng = np.random.default_rng(3)
    q, k, v = [rng.standard_normal((1, 2, 5, 8)) for _ in range(3)]
    mask = np.ones((5, 5), dtype=bool)
    mask[2] = False
    want = F.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), attn_mask=torch.from_numpy(mask))
    dq, dk, dv = [dlcore.tensor(a).requires_grad_(True) for a in (q, k, v)]
    got = dlcore.scaled_dot_product_attention(dq, dk, dv, attn_mask=dlcore.tensor(mask))
    np.testing.assert_allclose(got.detach().numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    assert np.all(got.detach().numpy()[:, :, 2] == 0)
    got.sum().backward()
    assert np.all(dq.grad.numpy()[:, :, 2] == 0)
    assert np.all(np.isfinite(dk.grad.numpy())) and np.all(np.isfinite(dv.grad.numpy()))


def test_dropout_statistics_and_reproducibility():
    L, S, p = 2048, 256, 0.25
    q = dlcore.zeros(1, L, 8)  # uniform attention: out = mean of keep / (1 - p) over keys
    k = dlcore.zeros(1, S, 8)
    v = dlcore.ones(1, S, 1)
    dlcore.manual_seed(7)
    a = dlcore.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
    b = dlcore.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
    dlcore.manual_seed(7)
    c = dlcore.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
    assert abs(a.mean() - 1.0) < 0.01  # std of the mean ~ sqrt(p / (1 - p) / (L * S)) = 8e-4
    assert a.std() > 0.01
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)
    assert np.all(dlcore.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0)
    np.testing.assert_allclose(dlcore.scaled_dot_product_attention(q, k, v, dropout_p=0.0).numpy(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
def test_dropout_backward_uses_the_forward_mask(causal):
    """With v = identity the output is the dropped-out probability matrix itself, which gives
    the mask; the gradients must then match the plain formula with that mask."""
    rng = np.random.default_rng(4)
    B, L, S, E, p = 2, 70, 90, 16, 0.4
    q, k = rng.standard_normal((B, L, E)), rng.standard_normal((B, S, E))
    v = rng.standard_normal((B, S, 24))
    dlcore.manual_seed(11)
    pd = dlcore.scaled_dot_product_attention(dlcore.tensor(q), dlcore.tensor(k), dlcore.tensor(np.eye(S)[None]),
                                             dropout_p=p, is_causal=causal).numpy()
    keep = pd > 0
    allowed = B * (np.tril(np.ones((L, S))).sum() if causal else L * S)
    assert 0.55 < keep.sum() / allowed < 0.65  # keep probability 1 - p
    tq, tk, tv = [torch.from_numpy(a).requires_grad_(True) for a in (q, k, v)]
    s = tq @ tk.transpose(1, 2) / np.sqrt(E)
    if causal:
        s = s.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), float("-inf"))
    want = (torch.softmax(s, -1) * torch.from_numpy(keep) / (1 - p)) @ tv
    g = rng.standard_normal(want.shape)
    want.backward(torch.from_numpy(g))
    dq, dk, dv = [dlcore.tensor(a).requires_grad_(True) for a in (q, k, v)]
    dlcore.manual_seed(11)  # the same generator state: the same mask
    got = dlcore.scaled_dot_product_attention(dq, dk, dv, dropout_p=p, is_causal=causal)
    got.backward(dlcore.tensor(g))
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **TOL["float64"])
    for d, t in ((dq, tq), (dk, tk), (dv, tv)):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), **TOL["float64"])


def test_no_quadratic_memory():
    """T = 4096: a T x T float32 matrix is 64 MiB; forward and backward must stay far below."""
    code = textwrap.dedent("""
        import resource, numpy as np, dlcore
        T, D = 4096, 64
        rng = np.random.default_rng(0)
        q, k, v = [dlcore.tensor(rng.standard_normal((1, 1, T, D)).astype(np.float32)).requires_grad_(True)
                   for _ in range(3)]
        g = dlcore.ones(1, 1, T, D)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out = dlcore.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(g)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert np.isfinite(q.grad.numpy()).all()
        print((after - before) // 1024)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         timeout=300)
    assert res.returncode == 0, res.stderr
    grown_mib = int(res.stdout.strip().splitlines()[-1])
    assert grown_mib < 24, f"attention grew the peak memory by {grown_mib} MiB"


# ---- windows and block skipping (Note [Attention windows and block skipping]) ---------------
def _naive(q, k, v, allowed, scale=None):
    """softmax(q k^T * scale) v over the allowed keys in float64 torch; rows with no allowed key
    give 0 (the fused kernel's definition)."""
    s = q @ k.transpose(-2, -1) * (scale if scale is not None else q.shape[-1] ** -0.5)
    s = s.masked_fill(~allowed, float("-inf"))
    p = torch.softmax(s, -1).nan_to_num(0.0)  # fully masked rows: NaN -> 0
    return p @ v


def _window_allowed(L, S, left, right, causal):
    i = torch.arange(L)[:, None]
    j = torch.arange(S)[None, :]
    ok = torch.ones(L, S, dtype=torch.bool)
    if left >= 0:
        ok &= j >= i - left
    if right >= 0:
        ok &= j <= i + right
    if causal:
        ok &= j <= i
    return ok


def _check_against_naive(shapes, allowed, dtype="float64", **kw):
    """dlcore (with kw: attn_mask / window_size / is_causal) against _naive with the allowed
    pattern: outputs and the gradients of q, k, v."""
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ts = [torch.from_numpy(a).requires_grad_(True) for a in arrays]
    ds = [dlcore.tensor(a).requires_grad_(True) for a in arrays]
    want = _naive(*ts, allowed)
    got = dlcore.scaled_dot_product_attention(*ds, **kw)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(want.shape).astype(dtype)
    want.backward(torch.from_numpy(g))
    got.backward(dlcore.tensor(g))
    for t, d in zip(ts, ds):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), **TOL[dtype])
    return got


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("left,right,causal", [(63, 0, False), (40, 40, False), (5, -1, False), (-1, 7, False),
                                               (100, 300, True), (0, 0, False), (200, 3, False)])
def test_window_size_matches_naive(dtype, left, right, causal):
    L, S = 300, 260
    shapes = [(2, 2, L, 32), (2, 2, S, 32), (2, 2, S, 24)]
    _check_against_naive(shapes, _window_allowed(L, S, left, right, causal), dtype, window_size=(left, right),
                         is_causal=causal)


@pytest.mark.parametrize("causal", [True, False])
def test_local_mask_and_window_size_agree(causal):
    """local_mask(T, w) as a bool mask and the equivalent window_size give the same results."""
    from dlcore.nn.attention_masks import local_mask
    T, w = 333, 64
    window = (w - 1, 0) if causal else (w // 2, w // 2)
    allowed = torch.from_numpy(local_mask(T, w, causal=causal).numpy())
    shapes = [(1, 3, T, 16)] * 3
    a = _check_against_naive(shapes, allowed, attn_mask=local_mask(T, w, causal=causal))
    b = _check_against_naive(shapes, allowed, window_size=window)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_block_sparse_and_builder_masks_match_naive(dtype):
    from dlcore.nn import attention_masks as am
    T = 280
    rng = np.random.default_rng(6)
    layout = rng.random((-(-T // 32), -(-T // 32))) < 0.3
    np.fill_diagonal(layout, True)
    layout[3] = False  # a block row with no key: those query rows are fully masked
    masks = [am.block_sparse_mask(T, 32, layout.tolist()), am.strided_sparse_mask(T, 17),
             am.fixed_sparse_mask(T, 40, summary=3, causal=False),
             am.global_tokens_mask(T, [0, 150], am.local_mask(T, 31, causal=False))]
    shapes = [(2, 2, T, 32), (2, 2, T, 32), (2, 2, T, 16)]
    for m in masks:
        got = _check_against_naive(shapes, torch.from_numpy(m.numpy()), dtype, attn_mask=m)
    # per-head masks (H, T, T) broadcast over the batch; the split halves of strided_sparse_mask
    m = am.strided_sparse_mask(T, 20, split=True)
    _check_against_naive(shapes, torch.from_numpy(m.numpy()), dtype, attn_mask=m)
    got = _check_against_naive(shapes, torch.from_numpy(masks[0].numpy()), dtype, attn_mask=masks[0])
    assert np.all(got.detach().numpy()[:, :, 96:128] == 0)


def test_window_with_mask_and_dropout_reproducible():
    """window_size combined with a bool mask; with dropout the backward regenerates the mask of
    the forward on trimmed tiles (checked by identity values, as in the plain dropout test)."""
    rng = np.random.default_rng(7)
    L, S, E = 150, 150, 8
    m = rng.random((L, S)) > 0.3
    allowed = torch.from_numpy(m) & _window_allowed(L, S, 20, 5, False)
    _check_against_naive([(1, L, E), (1, S, E), (1, S, 4)], allowed, attn_mask=dlcore.tensor(m),
                         window_size=(20, 5))
    q, k = dlcore.tensor(rng.standard_normal((1, L, E))), dlcore.tensor(rng.standard_normal((1, S, E)))
    dlcore.manual_seed(3)
    a = dlcore.scaled_dot_product_attention(q, k, dlcore.tensor(np.eye(S)[None]), dropout_p=0.3,
                                            window_size=(20, 5)).numpy()
    dlcore.manual_seed(3)
    full = dlcore.scaled_dot_product_attention(q, k, dlcore.tensor(np.eye(S)[None]), dropout_p=0.3,
                                               attn_mask=dlcore.tensor(_window_allowed(L, S, 20, 5, False).numpy()))
    # the same (seed, stream) gives the same keep decisions whether tiles are trimmed or not
    np.testing.assert_allclose(a, full.numpy(), rtol=1e-12, atol=1e-14)
    assert np.all(a[:, ~_window_allowed(L, S, 20, 5, False).numpy()] == 0)


def test_window_size_errors():
    q = dlcore.ones(1, 4, 8)
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: window_size entries must be >= 0, or -1"):
        dlcore.scaled_dot_product_attention(q, q, q, window_size=(-2, 0))


def test_masks_with_unaligned_runs_of_keys():
    """Runs of allowed keys longer than a tile that start and end off the tile grid (tiles are
    trimmed to the run, then widened to whole register tiles)."""
    L, S = 70, 301
    m = np.zeros((L, S), dtype=bool)
    m[:, 13:290] = True
    m[:, 150:155] = False
    m[5, :] = False
    m[40:, 297] = True
    shapes = [(2, L, 16), (2, S, 16), (2, S, 8)]
    for dtype in ("float32", "float64"):
        _check_against_naive(shapes, torch.from_numpy(m), dtype, attn_mask=dlcore.tensor(m))
        _check_against_naive(shapes, torch.from_numpy(m) & _window_allowed(L, S, 137, 11, False), dtype,
                             attn_mask=dlcore.tensor(m), window_size=(137, 11))
