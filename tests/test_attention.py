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
