"""MultiheadAttention, the Transformer layers and the full Transformer against torch.nn's modules with
torch's state_dict copied in (eval mode, dropout 0), gradients of inputs and weights, the attention
mask builders against naive loops, positional embeddings against their closed form, Embedding's
padding_idx and weight tying, and a tiny encoder that learns."""
import math

import numpy as np
import pytest
import torch

import dlcore
import dlcore.nn as nn
from dlcore.nn import attention_masks as am
from torch_ref import load_torch_state, to_np

# torch warns when a bool padding mask meets a float attention mask (both are still applied) and that
# its encoder's nested-tensor fast path is off; neither changes the results compared here.
pytestmark = [pytest.mark.filterwarnings("ignore:Support for mismatched"),
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")]

# float64: every output is a chain of a few hundred-term dot products, softmax and LayerNorm; the two
# libraries sum in different orders, ~1e-16 relative per term, amplified at most ~100x by the layers.
F64 = dict(rtol=1e-8, atol=1e-10)
# float32: the same sums at ~6e-8 per term (dlcore's GEMM and exp vs MKL's), through up to four
# residual blocks with LayerNorm dividing by standard deviations of order 1.
F32 = dict(rtol=3e-4, atol=5e-5)
DT = {"float64": (dlcore.float64, torch.float64, np.float64, F64),
      "float32": (dlcore.float32, torch.float32, np.float32, F32)}


def randomise(tm, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_((torch.rand(p.shape, generator=g, dtype=p.dtype) * 2 - 1) * scale)


def pair(arr, ndt, grad=True):
    a = np.ascontiguousarray(arr.astype(ndt))
    return torch.tensor(a, requires_grad=grad), dlcore.tensor(a, requires_grad=grad)


def mask_pair(m, ndt=None):
    if m is None:
        return None, None
    m = m if m.dtype == bool else m.astype(ndt)
    return torch.tensor(m), dlcore.tensor(m)


def compare_grads(tm, dm, tol):
    tp, dp = dict(tm.named_parameters()), dict(dm.named_parameters())
    assert sorted(tp) == sorted(dp)
    for name in tp:
        if tp[name].grad is None:
            assert dp[name].grad is None, name
            continue
        np.testing.assert_allclose(to_np(dp[name].grad), tp[name].grad.numpy(), err_msg=name, **tol)


# ---- MultiheadAttention -------------------------------------------------------------------------
E, H, L, S, N = 12, 3, 5, 7, 2


def _mha_masks(kind, rng, ndt, L, S, N, H):
    """(attn_mask, key_padding_mask) as numpy arrays; no row is fully blocked (column 0 stays open)."""
    attn = kpm = None
    if kind in ("bool", "bool+kpm", "bool3d"):
        shape = (L, S) if kind != "bool3d" else (N * H, L, S)
        attn = rng.random(shape) < 0.4
        attn[..., 0] = False
    if kind in ("float", "float+kpm", "float+boolkpm"):
        attn = rng.standard_normal((L, S))
    if kind in ("kpm", "bool+kpm", "float+boolkpm"):
        kpm = rng.random((N, S)) < 0.4
        kpm[:, 0] = False
    if kind in ("floatkpm", "float+kpm"):
        kpm = rng.standard_normal((N, S))
    return attn, kpm


def _mha_inputs(rng, mode, batch_first, ndt, kdim=None, vdim=None):
    kdim, vdim = kdim or E, vdim or E
    q = rng.standard_normal((L, N, E))
    if mode == "self":
        k = v = q
    else:
        k, v = rng.standard_normal((S, N, kdim)), rng.standard_normal((S, N, vdim))
    if batch_first:
        q, k, v = (x.transpose(1, 0, 2) for x in (q, k, v))
    tq, dq = pair(q, ndt)
    if mode == "self":
        return (tq, tq, tq), (dq, dq, dq)
    tk, dk = pair(k, ndt)
    tv, dv = pair(v, ndt)
    return (tq, tk, tv), (dq, dk, dv)


def run_mha(mode, batch_first, masks, need_weights, average, dtype, kdim=None, vdim=None, seed=0, bias=True,
            is_causal=False, **kw):
    ddt, tdt, ndt, tol = DT[dtype]
    tm = torch.nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=batch_first, bias=bias, **kw).to(tdt)
    dm = nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=batch_first, bias=bias, **kw).to(ddt)
    randomise(tm, seed)
    load_torch_state(tm, dm)
    tm.eval()
    dm.eval()
    rng = np.random.default_rng(seed)
    (tq, tk, tv), (dq, dk, dv) = _mha_inputs(rng, mode, batch_first, ndt, kdim, vdim)
    Sx = tq.shape[1 if batch_first else 0] if mode == "self" else S
    attn, kpm = _mha_masks(masks, rng, ndt, L, Sx, N, H)
    ta, da = mask_pair(attn, ndt)
    tk_, dk_ = mask_pair(kpm, ndt)
    if is_causal and ta is None:
        ta = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=tdt)
    tout, tw = tm(tq, tk, tv, key_padding_mask=tk_, attn_mask=ta, need_weights=need_weights,
                  average_attn_weights=average, is_causal=is_causal)
    dout, dw = dm(dq, dk, dv, key_padding_mask=dk_, attn_mask=da, need_weights=need_weights,
                  average_attn_weights=average, is_causal=is_causal)
    assert tuple(dout.shape) == tuple(tout.shape)
    np.testing.assert_allclose(to_np(dout), to_np(tout), **tol)
    if need_weights:
        assert tuple(dw.shape) == tuple(tw.shape)
        np.testing.assert_allclose(to_np(dw), to_np(tw), **tol)
    else:
        assert dw is None and tw is None
    g = rng.standard_normal(tuple(tout.shape)).astype(ndt)
    tout.backward(torch.tensor(g))
    dout.backward(dlcore.tensor(g))
    for t, d in ((tq, dq), (tk, dk), (tv, dv)):
        np.testing.assert_allclose(to_np(d.grad), t.grad.numpy(), **tol)
    compare_grads(tm, dm, tol)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mode", ["self", "cross"])
@pytest.mark.parametrize("masks", [None, "bool", "float", "bool3d", "kpm", "floatkpm", "bool+kpm", "float+kpm",
                                   "float+boolkpm"])
@pytest.mark.parametrize("weights", ["none", "avg", "per_head"])
def test_mha_matches_torch(batch_first, mode, masks, weights):
    run_mha(mode, batch_first, masks, weights != "none", weights == "avg", "float64")


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("masks", [None, "bool+kpm"])
def test_mha_float32(need_weights, masks):
    run_mha("cross", True, masks, need_weights, True, "float32")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_kdim_vdim(batch_first, need_weights):
    run_mha("cross", batch_first, "bool+kpm", need_weights, False, "float64", kdim=5, vdim=9)


@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_no_bias_and_bias_kv_zero_attn(need_weights):
    run_mha("cross", False, "float+kpm", need_weights, True, "float64", bias=False)
    run_mha("cross", True, "bool+kpm", need_weights, True, "float64", add_bias_kv=True, add_zero_attn=True)
    run_mha("self", False, None, need_weights, False, "float64", add_zero_attn=True)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("masks", [None, "kpm"])
def test_mha_is_causal(need_weights, masks):
    """is_causal with the causal mask given (torch's hint: the fused causal kernel when possible)."""
    run_mha("self", True, masks, need_weights, True, "float64", is_causal=True)


def test_mha_is_causal_without_mask_is_causal_attention():
    dm = nn.MultiheadAttention(E, H, batch_first=True).double().eval()
    x = dlcore.tensor(np.random.default_rng(1).standard_normal((N, L, E)))
    causal = nn.Transformer.generate_square_subsequent_mask(L, dtype=dlcore.float64)
    want = dm(x, x, x, attn_mask=causal, need_weights=False)[0]
    for nw in (False, True):
        got = dm(x, x, x, need_weights=nw, is_causal=True)[0]
        np.testing.assert_allclose(to_np(got), to_np(want), **F64)
    # the future does not leak: changing the last position leaves the others unchanged
    x2 = dlcore.tensor(x.numpy().copy())
    x2.numpy()[:, -1] += 1.0
    got2 = dm(x2, x2, x2, need_weights=False, is_causal=True)[0]
    np.testing.assert_allclose(to_np(got2)[:, :-1], to_np(want)[:, :-1], **F64)
    assert not np.allclose(to_np(got2)[:, -1], to_np(want)[:, -1])


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_unbatched(batch_first, need_weights):
    tm = torch.nn.MultiheadAttention(E, H, batch_first=batch_first).double().eval()
    dm = nn.MultiheadAttention(E, H, batch_first=batch_first).double().eval()
    randomise(tm, 3)
    load_torch_state(tm, dm)
    rng = np.random.default_rng(3)
    tq, dq = pair(rng.standard_normal((L, E)), np.float64)
    tk, dk = pair(rng.standard_normal((S, E)), np.float64)
    attn = rng.random((H, L, S)) < 0.4
    attn[..., 0] = False
    kpm = rng.random(S) < 0.4
    kpm[0] = False
    for a, k in ((None, kpm), (attn, None), (attn[0], kpm)):
        ta, da = mask_pair(a)
        tkp, dkp = mask_pair(k)
        tout, tw = tm(tq, tk, tk, key_padding_mask=tkp, attn_mask=ta, need_weights=need_weights)
        dout, dw = dm(dq, dk, dk, key_padding_mask=dkp, attn_mask=da, need_weights=need_weights)
        assert tuple(dout.shape) == (L, E)
        np.testing.assert_allclose(to_np(dout), to_np(tout), **F64)
        if need_weights:
            assert tuple(dw.shape) == (L, S)
            np.testing.assert_allclose(to_np(dw), to_np(tw), **F64)


def test_mha_parameters_and_init():
    torch.manual_seed(0)
    for kdim, keys in ((None, ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]),
                       (5, ["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "out_proj.weight",
                            "out_proj.bias"])):
        dm = nn.MultiheadAttention(E, H, kdim=kdim, vdim=kdim)
        tm = torch.nn.MultiheadAttention(E, H, kdim=kdim, vdim=kdim)
        assert sorted(dm.state_dict()) == sorted(keys) == sorted(tm.state_dict())
        for name, p in dm.state_dict().items():
            assert tuple(p.shape) == tuple(tm.state_dict()[name].shape), name
        # xavier_uniform_: U(-b, b), b = sqrt(6 / (fan_in + fan_out)); biases zero
        w = dm.in_proj_weight if kdim is None else dm.k_proj_weight
        bound = math.sqrt(6.0 / (w.shape[0] + w.shape[1]))
        wn = to_np(w)
        assert np.abs(wn).max() <= bound and np.abs(wn).max() > 0.8 * bound
        assert np.all(to_np(dm.in_proj_bias) == 0) and np.all(to_np(dm.out_proj.bias) == 0)
    assert sorted(nn.MultiheadAttention(E, H, bias=False).state_dict()) == ["in_proj_weight", "out_proj.weight"]


def test_mha_errors():
    dm = nn.MultiheadAttention(E, H)
    x = dlcore.randn(L, N, E)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match=r"MultiheadAttention: query has 5 features.*\[5, 2, 5\]"):
        dm(dlcore.randn(L, N, 5), x, x)
    with pytest.raises(ValueError, match=r"MultiheadAttention: attn_mask of shape \[3, 3\]"):
        dm(x, x, x, attn_mask=dlcore.zeros(3, 3))
    with pytest.raises(ValueError, match=r"MultiheadAttention: key_padding_mask of shape \[5, 2\]"):
        dm(x, x, x, key_padding_mask=dlcore.zeros(L, N, dtype=dlcore.bool))
    with pytest.raises(ValueError, match="batch sizes"):
        dm(x, dlcore.randn(S, 3, E), dlcore.randn(S, 3, E))
    with pytest.raises(TypeError, match="attn_mask must be bool or floating point"):
        dm(x, x, x, attn_mask=dlcore.zeros(L, L, dtype=dlcore.int64))


def test_mha_dropout_training():
    dm = nn.MultiheadAttention(E, H, dropout=0.5, batch_first=True).double()
    x = dlcore.randn(N, L, E, dtype=dlcore.float64)
    dm.eval()
    ref = to_np(dm(x, x, x, need_weights=False)[0])
    np.testing.assert_allclose(to_np(dm(x, x, x)[0]), ref, **F64)
    dm.train()
    for nw in (False, True):
        a, w = dm(x, x, x, need_weights=nw, average_attn_weights=False)
        b = dm(x, x, x, need_weights=nw)[0]
        assert not np.allclose(to_np(a), ref) and not np.allclose(to_np(a), to_np(b))
        if nw:  # dropped weights are 0 or scaled by 1 / (1 - p) = 2
            wn = to_np(w)
            assert (wn == 0).mean() > 0.2


def test_mha_with_pattern_masks():
    """A pattern from attention_masks gives the same result as a bool "blocked" mask (its negation)
    and as its additive form, through both paths, and matches torch's SDPA on the (N, H, L, S) views."""
    T = 9
    dm = nn.MultiheadAttention(E, H, batch_first=True).double().eval()
    x = dlcore.tensor(np.random.default_rng(5).standard_normal((N, T, E)))
    allowed = am.global_tokens_mask(T, [0], am.local_mask(T, 3, causal=True))
    ref = to_np(dm(x, x, x, attn_mask=allowed.logical_not(), need_weights=True)[0])
    for nw in (False, True):
        got = dm(x, x, x, attn_mask=am.to_additive_mask(allowed, dlcore.float64), need_weights=nw)[0]
        np.testing.assert_allclose(to_np(got), ref, **F64)
        got = dm(x, x, x, attn_mask=allowed.logical_not(), need_weights=nw)[0]
        np.testing.assert_allclose(to_np(got), ref, **F64)
    q, k, v = (np.random.default_rng(6).standard_normal((N, H, T, 4)) for _ in range(3))
    want = torch.nn.functional.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)),
                                                             attn_mask=torch.tensor(allowed.numpy()))
    got = dlcore.scaled_dot_product_attention(*map(dlcore.tensor, (q, k, v)), attn_mask=allowed)
    np.testing.assert_allclose(to_np(got), want.numpy(), **F64)


# ---- Transformer layers -------------------------------------------------------------------------
D_MODEL, NHEAD, FF = 16, 4, 24


def _layer_pair(cls_name, dtype, seed, **kw):
    ddt, tdt, _, _ = DT[dtype]
    tm = getattr(torch.nn, cls_name)(D_MODEL, NHEAD, FF, dropout=0.0, **kw).to(tdt)
    dkw = dict(kw)
    if callable(kw.get("activation")):
        dkw["activation"] = dlcore.tanh
    dm = getattr(nn, cls_name)(D_MODEL, NHEAD, FF, dropout=0.0, **dkw).to(ddt)
    randomise(tm, seed, 0.5)
    load_torch_state(tm, dm)
    return tm.eval(), dm.eval()


def _seq(rng, T, batch_first, ndt):
    x = rng.standard_normal((N, T, D_MODEL) if batch_first else (T, N, D_MODEL))
    return pair(x, ndt)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer(dtype, norm_first, activation, batch_first):
    _, _, ndt, tol = DT[dtype]
    act = torch.tanh if activation == "callable" else activation
    tm, dm = _layer_pair("TransformerEncoderLayer", dtype, 1, activation=act, norm_first=norm_first,
                         batch_first=batch_first)
    rng = np.random.default_rng(1)
    tx, dx = _seq(rng, L, batch_first, ndt)
    kpm = rng.random((N, L)) < 0.3
    kpm[:, 0] = False
    tkp, dkp = mask_pair(kpm)
    for src_mask, causal in ((None, False), ("causal", True), ("causal", False)):
        tmask = dmask = None
        if src_mask:
            tmask = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=DT[dtype][1])
            dmask = nn.Transformer.generate_square_subsequent_mask(L, dtype=DT[dtype][0])
        tout = tm(tx, src_mask=tmask, src_key_padding_mask=tkp, is_causal=causal)
        dout = dm(dx, src_mask=dmask, src_key_padding_mask=dkp, is_causal=causal)
        np.testing.assert_allclose(to_np(dout), to_np(tout), **tol)
    g = rng.standard_normal(tuple(tout.shape)).astype(ndt)
    tout.backward(torch.tensor(g))
    dout.backward(dlcore.tensor(g))
    np.testing.assert_allclose(to_np(dx.grad), tx.grad.numpy(), **tol)
    compare_grads(tm, dm, tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer(dtype, norm_first, activation, batch_first):
    _, tdt, ndt, tol = DT[dtype]
    tm, dm = _layer_pair("TransformerDecoderLayer", dtype, 2, activation=activation, norm_first=norm_first,
                         batch_first=batch_first)
    rng = np.random.default_rng(2)
    tt, dt = _seq(rng, L, batch_first, ndt)
    tmem, dmem = _seq(rng, S, batch_first, ndt)
    tgt_kpm = rng.random((N, L)) < 0.3
    tgt_kpm[:, 0] = False
    mem_kpm = rng.random((N, S)) < 0.3
    mem_kpm[:, 0] = False
    mem_mask = rng.standard_normal((L, S)).astype(ndt)
    tcm = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=tdt)
    dcm = nn.Transformer.generate_square_subsequent_mask(L, dtype=DT[dtype][0])
    tout = tm(tt, tmem, tgt_mask=tcm, memory_mask=torch.tensor(mem_mask), tgt_key_padding_mask=torch.tensor(tgt_kpm),
              memory_key_padding_mask=torch.tensor(mem_kpm), tgt_is_causal=True)
    dout = dm(dt, dmem, tgt_mask=dcm, memory_mask=dlcore.tensor(mem_mask), tgt_key_padding_mask=dlcore.tensor(tgt_kpm),
              memory_key_padding_mask=dlcore.tensor(mem_kpm), tgt_is_causal=True)
    np.testing.assert_allclose(to_np(dout), to_np(tout), **tol)
    # the fused causal kernel (no padding mask): tgt_mask is then only a hint
    tout2 = tm(tt, tmem, tgt_mask=tcm, tgt_is_causal=True)
    dout2 = dm(dt, dmem, tgt_mask=dcm, tgt_is_causal=True)
    np.testing.assert_allclose(to_np(dout2), to_np(tout2), **tol)
    g = rng.standard_normal(tuple(tout.shape)).astype(ndt)
    (tout + tout2).backward(torch.tensor(g))
    (dout + dout2).backward(dlcore.tensor(g))
    np.testing.assert_allclose(to_np(dt.grad), tt.grad.numpy(), **tol)
    np.testing.assert_allclose(to_np(dmem.grad), tmem.grad.numpy(), **tol)
    compare_grads(tm, dm, tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_torch(dtype, norm_first):
    ddt, tdt, ndt, tol = DT[dtype]
    kw = dict(d_model=D_MODEL, nhead=NHEAD, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF,
              dropout=0.0, norm_first=norm_first, batch_first=True, activation="gelu")
    tm = torch.nn.Transformer(**kw).to(tdt).eval()
    dm = nn.Transformer(**kw).to(ddt).eval()
    assert sum(p.numel() for p in dm.parameters()) == sum(p.numel() for p in tm.parameters())
    randomise(tm, 4, 0.5)
    load_torch_state(tm, dm)
    rng = np.random.default_rng(4)
    tsrc, dsrc = pair(rng.standard_normal((N, S, D_MODEL)), ndt)
    ttgt, dtgt = pair(rng.standard_normal((N, L, D_MODEL)), ndt)
    src_kpm = rng.random((N, S)) < 0.3
    src_kpm[:, 0] = False
    tcm = tm.generate_square_subsequent_mask(L, dtype=tdt)
    dcm = dm.generate_square_subsequent_mask(L, dtype=ddt)
    np.testing.assert_array_equal(dcm.numpy(), tcm.numpy())
    tout = tm(tsrc, ttgt, tgt_mask=tcm, src_key_padding_mask=torch.tensor(src_kpm),
              memory_key_padding_mask=torch.tensor(src_kpm))
    dout = dm(dsrc, dtgt, tgt_mask=dcm, src_key_padding_mask=dlcore.tensor(src_kpm),
              memory_key_padding_mask=dlcore.tensor(src_kpm))
    np.testing.assert_allclose(to_np(dout), to_np(tout), **tol)
    g = rng.standard_normal(tuple(tout.shape)).astype(ndt)
    tout.backward(torch.tensor(g))
    dout.backward(dlcore.tensor(g))
    np.testing.assert_allclose(to_np(dsrc.grad), tsrc.grad.numpy(), **tol)
    np.testing.assert_allclose(to_np(dtgt.grad), ttgt.grad.numpy(), **tol)
    compare_grads(tm, dm, tol)


def test_transformer_structure_and_init():
    dm = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=8)
    tm = torch.nn.Transformer(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=8)
    assert sorted(dm.state_dict()) == sorted(tm.state_dict())
    for k, v in tm.state_dict().items():
        assert tuple(dm.state_dict()[k].shape) == tuple(v.shape), k
    # the layers are independent copies
    l0, l1 = dm.encoder.layers[0], dm.encoder.layers[1]
    assert l0.linear1.weight is not l1.linear1.weight
    assert not np.array_equal(to_np(l0.linear1.weight), to_np(l1.linear1.weight))
    # xavier_uniform_ on every matrix (linear1: bound sqrt(6 / (16 + 8)) = 0.5)
    w = to_np(dm.encoder.layers[0].linear1.weight)
    assert np.abs(w).max() <= 0.5 and np.abs(w).max() > 0.4
    m = nn.Transformer.generate_square_subsequent_mask(4)
    assert m.dtype == dlcore.float32
    np.testing.assert_array_equal(m.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    with pytest.raises(ValueError, match="batch sizes"):
        dm(dlcore.randn(3, 2, 16), dlcore.randn(3, 4, 16))
    with pytest.raises(ValueError, match="d_model"):
        dm(dlcore.randn(3, 2, 8), dlcore.randn(3, 2, 8))
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(16, 2, activation="swish")


def test_encoder_detects_causal_mask():
    layer = nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout=0.0, batch_first=True)
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D_MODEL)).double().eval()
    x = dlcore.tensor(np.random.default_rng(7).standard_normal((N, L, D_MODEL)))
    fm = nn.Transformer.generate_square_subsequent_mask(L, dtype=dlcore.float64)
    bm = am.causal_mask(L).logical_not()
    ref = to_np(enc(x, mask=fm, is_causal=False))
    for mask in (fm, bm):
        np.testing.assert_allclose(to_np(enc(x, mask=mask)), ref, **F64)
    assert not np.allclose(to_np(enc(x)), ref)
    from dlcore.nn.modules.transformer import _detect_is_causal_mask
    assert _detect_is_causal_mask(fm, None, L) and _detect_is_causal_mask(bm, None, L)
    assert not _detect_is_causal_mask(dlcore.zeros(L, L), None, L)


def test_tiny_encoder_loss_falls():
    """Embedding + learned positions + a 2-layer pre-LN encoder + a linear head learn to copy the
    token of the previous position on a fixed batch (causal self-attention)."""
    dlcore.manual_seed(0)
    V, T, d = 11, 10, 32

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(V, d)
            self.pos = nn.LearnedPositionalEmbedding(T, d, std=0.1)
            layer = nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, batch_first=True, norm_first=True,
                                               activation="gelu")
            self.enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(d))
            self.head = nn.Linear(d, V)

        def forward(self, idx):
            h = self.tok(idx) + self.pos(dlcore.arange(idx.shape[1]))
            return self.head(self.enc(h, is_causal=True))

    model = Tiny()
    rng = np.random.default_rng(0)
    idx = rng.integers(0, V, size=(8, T))
    x = dlcore.tensor(idx)
    y = dlcore.tensor(np.concatenate([idx[:, :1], idx[:, :-1]], 1))
    opt = dlcore.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = dlcore.cross_entropy(model(x).reshape([-1, V]), y.reshape([-1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 2.0  # ~ log(11) = 2.4 at the start
    assert losses[-1] < 0.3 * losses[0], losses[::10]


# ---- attention masks vs naive loops --------------------------------------------------------------
def naive(T, fn, S=None):
    S = T if S is None else S
    return np.array([[bool(fn(i, j)) for j in range(S)] for i in range(T)], dtype=bool)


@pytest.mark.parametrize("T", [1, 7, 33])
def test_masks_against_loops(T):
    np.testing.assert_array_equal(am.causal_mask(T).numpy(), naive(T, lambda i, j: j <= i))
    np.testing.assert_array_equal(am.causal_mask(T, 5).numpy(), naive(T, lambda i, j: j <= i, 5))
    for w in (1, 3, 4):
        np.testing.assert_array_equal(am.local_mask(T, w).numpy(), naive(T, lambda i, j: i - w < j <= i))
        np.testing.assert_array_equal(am.local_mask(T, w, causal=False).numpy(),
                                      naive(T, lambda i, j: abs(i - j) <= w // 2))
    for l in (1, 3, 4):
        loc = naive(T, lambda i, j: 0 <= i - j < l)
        strd = naive(T, lambda i, j: i >= j and (i - j) % l == 0)
        np.testing.assert_array_equal(am.strided_sparse_mask(T, l).numpy(), loc | strd)
        np.testing.assert_array_equal(am.strided_sparse_mask(T, l, split=True).numpy(), np.stack([loc, strd]))
        nc = naive(T, lambda i, j: abs(i - j) < l or (i - j) % l == 0)
        np.testing.assert_array_equal(am.strided_sparse_mask(T, l, causal=False).numpy(), nc)
        for c in range(1, l + 1):
            blk = naive(T, lambda i, j: j <= i and j // l == i // l)
            summ = naive(T, lambda i, j: j <= i and j % l >= l - c)
            np.testing.assert_array_equal(am.fixed_sparse_mask(T, l, c).numpy(), blk | summ)
        blk = naive(T, lambda i, j: j // l == i // l)
        summ = naive(T, lambda i, j: j % l >= l - 1)
        np.testing.assert_array_equal(am.fixed_sparse_mask(T, l, causal=False, split=True).numpy(),
                                      np.stack([blk, summ]))
    rng = np.random.default_rng(T)
    for b in (1, 4, 5):
        nb = -(-T // b)
        layout = rng.random((nb, nb)) < 0.5
        want = naive(T, lambda i, j: layout[i // b, j // b])
        np.testing.assert_array_equal(am.block_sparse_mask(T, b, dlcore.tensor(layout)).numpy(), want)
        np.testing.assert_array_equal(am.block_sparse_mask(T, b, layout.tolist()).numpy(), want)
        nbs = -(-3 // b)
        lay2 = rng.random((nb, nbs)) < 0.5
        np.testing.assert_array_equal(am.block_sparse_mask(T, b, lay2.tolist(), S=3).numpy(),
                                      naive(T, lambda i, j: lay2[i // b, j // b], 3))
    g = sorted({0, T // 2, T - 1})
    base = am.local_mask(T, 3, causal=False)
    np.testing.assert_array_equal(am.global_tokens_mask(T, g, base).numpy(),
                                  naive(T, lambda i, j: abs(i - j) <= 1 or i in g or j in g))
    np.testing.assert_array_equal(am.global_tokens_mask(T, [-1]).numpy(),
                                  naive(T, lambda i, j: i == j or i == T - 1 or j == T - 1))
    add = am.to_additive_mask(am.causal_mask(T)).numpy()
    np.testing.assert_array_equal(add, np.where(naive(T, lambda i, j: j <= i), 0.0, -np.inf).astype(np.float32))


def test_mask_errors():
    with pytest.raises(ValueError, match=r"block_sparse_mask: layout of shape \[2, 2\] must be \[3, 3\]"):
        am.block_sparse_mask(9, 3, [[True, False], [True, True]])
    with pytest.raises(ValueError, match="local_mask: window"):
        am.local_mask(5, 0)
    with pytest.raises(IndexError, match="global_tokens_mask"):
        am.global_tokens_mask(4, [4])
    with pytest.raises(ValueError, match="base_mask"):
        am.global_tokens_mask(4, [0], am.causal_mask(3))


# ---- positional embeddings, Embedding ------------------------------------------------------------
@pytest.mark.parametrize("T,d", [(1, 4), (33, 16), (7, 7)])
def test_sinusoidal_encoding_closed_form(T, d):
    pe = nn.sinusoidal_position_encoding(T, d, dtype=dlcore.float64)
    want = np.zeros((T, d))
    for t in range(T):
        for c in range(d):
            i = c // 2
            angle = t / 10000.0 ** (2 * i / d)
            want[t, c] = math.sin(angle) if c % 2 == 0 else math.cos(angle)
    np.testing.assert_allclose(pe.numpy(), want, rtol=1e-12, atol=1e-12)
    mod = nn.SinusoidalPositionalEmbedding(T + 3, d)
    assert mod.pe.dtype == dlcore.float32 and list(mod.state_dict()) == [] and list(mod.parameters()) == []
    pos = dlcore.tensor([[0, T - 1], [T + 2, 1]])
    np.testing.assert_allclose(mod(pos).numpy(), mod.pe.numpy()[pos.numpy()], rtol=0, atol=0)
    np.testing.assert_allclose(mod.pe.numpy()[:T], want.astype(np.float32), rtol=1e-6, atol=1e-6)


def test_learned_positions_and_embedding_padding_idx():
    lp = nn.LearnedPositionalEmbedding(64, 32)
    assert list(lp.state_dict()) == ["weight"] and 0.015 < float(lp.weight.std()) < 0.025
    out = lp(dlcore.arange(5))
    out.sum().backward()
    assert np.all(to_np(lp.weight.grad)[:5] == 1) and np.all(to_np(lp.weight.grad)[5:] == 0)

    for pad in (2, -1):
        te = torch.nn.Embedding(6, 4, padding_idx=pad).double()
        de = nn.Embedding(6, 4, padding_idx=pad).double()
        assert de.padding_idx == te.padding_idx
        assert np.all(to_np(de.weight)[de.padding_idx] == 0)
        load_torch_state(te, de)
        idx = np.array([[0, 2, 5, 2], [5, 1, 2, 3]])
        to, do = te(torch.tensor(idx)), de(dlcore.tensor(idx))
        np.testing.assert_allclose(to_np(do), to_np(to), **F64)
        g = np.random.default_rng(0).standard_normal(tuple(to.shape))
        to.backward(torch.tensor(g))
        do.backward(dlcore.tensor(g))
        np.testing.assert_allclose(to_np(de.weight.grad), te.weight.grad.numpy(), **F64)
        assert np.all(to_np(de.weight.grad)[de.padding_idx] == 0)


def test_weight_tying():
    """An output projection sharing the embedding's weight (GPT-2): one parameter, gradients from
    both uses summed, as in torch."""
    V, d = 9, 6
    te, th = torch.nn.Embedding(V, d).double(), torch.nn.Linear(d, V, bias=False).double()
    th.weight = te.weight
    de, dh = nn.Embedding(V, d).double(), nn.Linear(d, V, bias=False).double()
    dh.weight = de.weight
    model = nn.ModuleList([de, dh])
    assert len(list(model.parameters())) == 1
    with dlcore.no_grad():
        de.weight.copy_(dlcore.tensor(te.weight.detach().numpy().copy()))
    idx = np.array([[1, 4, 8], [0, 0, 3]])
    tl = th(te(torch.tensor(idx))).logsumexp(-1).sum()
    dl = dh(de(dlcore.tensor(idx))).logsumexp(-1).sum()
    np.testing.assert_allclose(dl.item(), tl.item(), **F64)
    tl.backward()
    dl.backward()
    np.testing.assert_allclose(to_np(dh.weight.grad), te.weight.grad.numpy(), **F64)
