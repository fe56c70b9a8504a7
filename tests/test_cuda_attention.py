"""CUDA fused attention (cuda/attention.cu): scaled_dot_product_attention forward and backward on
the GPU against the CPU kernels, over head dims that fill a thread's columns partly and wholly,
lengths that are not multiples of the tiles, broadcast batch dims, causal and sliding windows,
bool and additive masks (with the additive mask's gradient), fully masked rows, and dropout
(both devices draw the same Philox mask for the same seed).

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerances: float32 sums of up to max(S, L) * E products in another order than the CPU's:
rtol 1e-4 / atol 1e-5 on outputs and gradients of O(1) (a few ulp per term); float64 1e-10.
16-bit inputs are compared with the CPU in float32 on the same rounded inputs; the GPU computes
in float32 and rounds the outputs and gradients once: bfloat16 rtol/atol 2e-2 (8-bit mantissa,
2^-8 relative per rounding, a couple of roundings), float16 4e-3.
"""
import numpy as np
import pytest

import dlcore
import dlcore.nn.functional as F

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"
TOL = {dlcore.float32: dict(rtol=1e-4, atol=1e-5), dlcore.float64: dict(rtol=1e-10, atol=1e-11),
       dlcore.bfloat16: dict(rtol=2e-2, atol=2e-2), dlcore.float16: dict(rtol=4e-3, atol=4e-3)}


def run(device, dtype, arrays, mask=None, mask_grad=False, seed=None, **kw):
    """out and the input grads (q, k, v[, mask]) as float64 numpy arrays."""
    ts = [dlcore.tensor(a, device=device).to(dtype).requires_grad_(True) for a in arrays]
    m = None
    if mask is not None:
        m = dlcore.tensor(mask, device=device)
        if mask.dtype != np.bool_:
            m = m.to(dtype).requires_grad_(mask_grad)
    if seed is not None:
        dlcore.manual_seed(seed)
    out = F.scaled_dot_product_attention(*ts, attn_mask=m, **kw)
    g = np.random.default_rng(7).standard_normal(tuple(out.shape))
    out.backward(dlcore.tensor(g, device=device).to(dtype))
    res = [out] + [t.grad for t in ts] + ([m.grad] if mask_grad else [])
    return [r.detach().float().cpu().numpy().astype(np.float64) if dtype in (dlcore.bfloat16, dlcore.float16)
            else r.detach().cpu().numpy() for r in res]


def compare(dtype, arrays, **kw):
    if dtype in (dlcore.bfloat16, dlcore.float16):
        # the CPU reference sees the same rounded inputs, in float32
        arrays = [dlcore.tensor(a).to(dtype).float().numpy() for a in arrays]
        want = run("cpu", dlcore.float32, arrays, **kw)
    else:
        want = run("cpu", dtype, arrays, **kw)
    got = run(DEVICE, dtype, arrays, **kw)
    names = ["out", "grad_q", "grad_k", "grad_v", "grad_mask"]
    for name, g, w in zip(names, got, want):
        assert g.shape == w.shape, name
        assert np.isfinite(g).all(), name
        np.testing.assert_allclose(g, w, **TOL[dtype], err_msg=name)


def qkv(rng, B, L, S, E, Ev=None, dtype=np.float64):
    Ev = Ev or E
    return [rng.standard_normal(s).astype(dtype) for s in ((*B, L, E), (*B, S, E), (*B, S, Ev))]


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64], ids=str)
@pytest.mark.parametrize("L,S,E,Ev", [(1, 1, 8, 8), (37, 53, 16, 16), (64, 64, 64, 64), (100, 70, 80, 48),
                                      (130, 129, 128, 128), (33, 65, 256, 200)], ids=str)
def test_matches_cpu(dtype, L, S, E, Ev, rng):
    compare(dtype, qkv(rng, (2, 3), L, S, E, Ev))


@pytest.mark.parametrize("dtype", [dlcore.bfloat16, dlcore.float16], ids=str)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_half_types_match_cpu_float32(dtype, causal, rng):
    compare(dtype, qkv(rng, (2, 4), 150, 150, 64), is_causal=causal)


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64], ids=str)
@pytest.mark.parametrize("kw", [dict(is_causal=True), dict(window_size=(5, 3)), dict(window_size=(-1, 20)),
                                dict(window_size=(40, -1), is_causal=True), dict(scale=0.3)], ids=str)
def test_windows(dtype, kw, rng):
    compare(dtype, qkv(rng, (2,), 140, 140, 32), **kw)


def test_broadcast_batch_and_strided_inputs(rng):
    q = rng.standard_normal((2, 4, 50, 32))
    k = rng.standard_normal((1, 4, 60, 32))  # broadcast over the first batch dim
    v = rng.standard_normal((4, 60, 24))     # a missing batch dim
    compare(dlcore.float32, [q, k, v])
    # a transposed view: (B, L, H, E) -> (B, H, L, E), as multi-head attention makes it
    x = rng.standard_normal((2, 45, 3, 16))
    for device in (DEVICE, "cpu"):
        t = dlcore.tensor(x, device=device).float().transpose(1, 2)
        assert not t.is_contiguous()
    got = F.scaled_dot_product_attention(*[dlcore.tensor(x, device=DEVICE).float().transpose(1, 2)] * 3)
    want = F.scaled_dot_product_attention(*[dlcore.tensor(x).float().transpose(1, 2)] * 3)
    np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), **TOL[dlcore.float32])


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64], ids=str)
def test_bool_mask_with_fully_masked_rows(dtype, rng):
    L, S = 70, 90
    mask = rng.random((2, 1, L, S)) < 0.4  # broadcast over heads
    mask[0, 0, 5] = False                 # a row with no key: out 0, zero gradients
    arrays = qkv(rng, (2, 3), L, S, 32)
    compare(dtype, arrays, mask=mask)
    out = run(DEVICE, dtype, arrays, mask=mask)
    assert np.all(out[0][0, :, 5] == 0) and np.all(out[1][0, :, 5] == 0)


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64], ids=str)
def test_additive_mask_and_its_gradient(dtype, rng):
    L, S = 40, 75
    mask = rng.standard_normal((3, L, S))
    mask[:, :, 10:20] = -np.inf
    compare(dtype, qkv(rng, (2, 3), L, S, 16), mask=mask, mask_grad=True)
    # with a window, the skipped tiles' mask gradient is zero
    compare(dtype, qkv(rng, (2, 3), L, S, 16), mask=mask, mask_grad=True, window_size=(4, 4))


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64], ids=str)
def test_dropout_draws_the_cpu_mask(dtype, rng):
    arrays = qkv(rng, (2, 2), 66, 71, 32)
    compare(dtype, arrays, dropout_p=0.3, seed=123)
    # and a different seed gives a different output
    a = run(DEVICE, dtype, arrays, dropout_p=0.3, seed=123)[0]
    b = run(DEVICE, dtype, arrays, dropout_p=0.3, seed=124)[0]
    assert not np.allclose(a, b)


def test_empty_keys_and_queries(rng):
    compare(dlcore.float32, qkv(rng, (2,), 5, 0, 8))  # no keys: out 0, lse -inf
    compare(dlcore.float32, qkv(rng, (2,), 0, 5, 8))


def test_head_dim_above_the_limit_raises(rng):
    q = dlcore.randn(1, 4, 300, device=DEVICE)
    with pytest.raises(NotImplementedError, match="scaled_dot_product_attention: head dims up to 256"):
        F.scaled_dot_product_attention(q, q, q)
