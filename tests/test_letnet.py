"""LETNet: the released parameter count (951,216 at 19 classes) and its hand-computed formula, output
shapes, forward and backward against the same network in PyTorch (bench/torch_letnet.py, the same
state-dict keys) in eval and train mode, ECA and the Transformer capsule on their own, bad input,
and a few training steps that reduce the loss."""
import os
import sys

import numpy as np
import pytest

import dlcore
from dlcore import models, nn
from dlcore.models.letnet import ECA, LDB, LETNet, letnet

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))


def _count(model):
    return sum(p.numel() for p in model.parameters())


# ---- parameter counts ------------------------------------------------------------------------------

def _bnprelu(c):
    return 3 * c  # BatchNorm weight and bias, one PReLU slope per channel


def _ldb(c):
    h = c // 2
    return (_bnprelu(c) + c * h                    # BN-PReLU, 1x1 reduction
            + 2 * (3 * h * h + _bnprelu(h))        # 3x1 and 1x3 convolutions
            + 4 * (3 * h + _bnprelu(h)) + 2 * 3    # four depthwise convolutions, two ECAs
            + _bnprelu(h) + h * c)                 # BN-PReLU, 1x1 expansion


def _letnet_parts(num_classes=19, in_channels=3):
    """The parameters of each part of the documented network, counted layer by layer."""
    fm = lambda a, b: 3 * a * (a // 2) + a // 2 + 3 * (a // 2) * b + b  # noqa: E731 - 3x1 then 1x3, with bias
    up = lambda a, b: 9 * a * b + b + 2 * b  # noqa: E731 - transposed conv with bias, BatchNorm
    pa = 16 * 16 + 16
    down = lambda a, b, n: 9 * a * n + _bnprelu(b)  # noqa: E731 - stride-2 conv to n channels, BN-PReLU
    dim = 288
    capsule = 2 * 2 * dim + dim * dim // 2 + dim // 2 * 3 * dim // 2 + (dim // 2 * dim + dim) \
        + (dim * dim // 4 + dim // 4) + (dim // 4 * dim + dim)
    return {
        "stem": 9 * in_channels * 32 + 2 * 9 * 32 * 32 + 3 * _bnprelu(32) + _bnprelu(32),
        "stage1": down(32, 64, 32) + 3 * _ldb(64) + _bnprelu(64),
        "stage2": down(64, 128, 64) + 12 * _ldb(128) + _bnprelu(128),
        "stage3": down(128, 32, 32) + 12 * _ldb(32) + _bnprelu(32),
        "capsule": capsule,
        "long connections": fm(64, 16) + fm(128, 16) + fm(32, 32),
        "decoder": 3 * _ldb(32) + 6 * _ldb(16) + up(32, 16) + 2 * up(16, 16) + 3 * _bnprelu(16) + 3 * pa,
        "head": 16 * num_classes,
    }


def test_parameter_count_is_the_released_one():
    assert _count(letnet()) == sum(_letnet_parts().values()) == 951_216
    assert _count(models.get_model("letnet")) == 951_216
    model = letnet(num_classes=5, in_channels=1)
    assert _count(model) == sum(_letnet_parts(5, 1).values()) == 950_912 + 16 * 5 - 288 * 2
    parts = _letnet_parts()
    m = letnet()
    by_module = {
        "stem": ["stem", "stem_norm"], "stage1": ["down1", "stage1", "stage1_norm"],
        "stage2": ["down2", "stage2", "stage2_norm"], "stage3": ["down3", "stage3", "stage3_norm"],
        "capsule": ["capsule"], "long connections": ["skip1", "skip2", "skip3"],
        "decoder": ["decoder1", "up1", "up1_norm", "decoder2", "up2", "up2_norm", "decoder3", "up3", "pa1", "pa2",
                    "pa3", "up3_norm"],
        "head": ["classifier"],
    }
    assert sorted(n for names in by_module.values() for n in names) == sorted(n for n, _ in m.named_children())
    for part, names in by_module.items():
        assert sum(_count(getattr(m, n)) for n in names) == parts[part], part


def test_output_shape_and_classes():
    model = letnet(num_classes=4, in_channels=2).eval()
    with dlcore.no_grad():
        assert tuple(model(dlcore.randn(2, 2, 32, 48)).shape) == (2, 4, 32, 48)
        assert tuple(model(dlcore.randn(1, 2, 16, 64)).shape) == (1, 4, 16, 64)  # 4 tokens at the bottleneck
        assert tuple(model(dlcore.randn(1, 2, 48, 32)).shape) == (1, 4, 48, 32)  # 6 tokens: a fifth, short chunk


def test_bad_input_raises():
    model = letnet(num_classes=3)
    with pytest.raises(ValueError, match=r"letnet: input H and W must be multiples of 16, got shape "
                                         r"\(1, 3, 40, 64\)"):
        model(dlcore.zeros(1, 3, 40, 64))
    with pytest.raises(ValueError, match=r"letnet: .*>= 4.*got shape \(1, 3, 16, 48\)"):
        model(dlcore.zeros(1, 3, 16, 48))
    with pytest.raises(ValueError, match=r"letnet: expected input \[N, C, H, W\], got shape \(3, 32, 32\)"):
        model(dlcore.zeros(3, 32, 32))
    with pytest.raises(ValueError, match=r"letnet: expected 3 input channels, got shape \(1, 1, 32, 32\)"):
        model(dlcore.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="must be >= 1"):
        letnet(num_classes=0)


# ---- against PyTorch --------------------------------------------------------------------------------

def _torch_pair(num_classes=19, seed=0):
    torch = pytest.importorskip("torch")
    from torch_letnet import LETNet as TorchLETNet
    from torch_ref import load_torch_state

    torch.manual_seed(seed)
    t = TorchLETNet(num_classes=num_classes)
    d = letnet(num_classes=num_classes)
    # BatchNorm statistics and affine parameters away from the identity, so eval mode tests them
    with torch.no_grad():
        for m in t.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    load_torch_state(t, d)
    return torch, t, d


def _run(torch, t, d, x, w):
    """Forward both on x, backward of sum(out * w); returns the two outputs and input gradients."""
    tx = torch.from_numpy(x).requires_grad_(True)
    dx = dlcore.tensor(x, requires_grad=True)
    t_out, d_out = t(tx), d(dx)
    (t_out * torch.from_numpy(w)).sum().backward()
    (d_out * dlcore.tensor(w)).sum().backward()
    return d_out.detach().numpy(), t_out.detach().numpy(), dx.grad.numpy(), tx.grad.numpy()


_GRAD_PARAMS = ["stem.0.conv.weight", "stage2.7.context3x1.conv.weight", "stage3.11.local_eca.conv.weight",
                "capsule.attn.qkv.weight", "capsule.norm1.weight", "skip3.conv1x3.bias", "up1.deconv.weight",
                "pa3.conv.bias", "up3_norm.act.weight", "classifier.weight"]


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_float64_matches_torch_exactly(mode):
    """In float64 both libraries compute the same function to rounding (the structure check)."""
    torch, t, d = _torch_pair(num_classes=5)
    t.double()
    d.double()
    getattr(t, mode)()
    getattr(d, mode)()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 64, 128))
    w = rng.standard_normal((1, 5, 64, 128))
    a, b, ga, gb = _run(torch, t, d, x, w)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(b).max())
    np.testing.assert_allclose(ga, gb, rtol=1e-8, atol=1e-8 * np.abs(gb).max())
    tp = dict(t.named_parameters())
    for name in _GRAD_PARAMS:
        ref = tp[name].grad.numpy()
        np.testing.assert_allclose(dict(d.named_parameters())[name].grad.numpy(), ref, rtol=1e-8,
                                   atol=1e-8 * np.abs(ref).max(), err_msg=name)
    # the two pixel-attention modules the released forward never uses get no gradient in either
    assert d.pa1.conv.weight.grad is None and tp["pa1.conv.weight"].grad is None


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_float32_forward_and_backward_match_torch(mode):
    """float32 against the torch twin. Outputs: the network is 36 LDB blocks deep, and in train mode
    BatchNorm on the 4x8 bottleneck (32 values a channel) divides by small batch deviations, so
    rounding grows to ~3e-5 of the output's scale (torch's own float32 output differs from its
    float64 one by as much): compared at 1e-4 relative plus 2e-4 of the scale.

    Eval-mode gradients: float32 rounding gives ~1e-6 of their scale in both libraries, but a value
    rounding across a PReLU kink or a max-pool tie reroutes a whole receptive field's gradient in
    one library and not the other (torch does so on this input, ~5% of the input gradient's scale
    on a 7x7 patch). So both are compared with the twin's float64 gradients: dlcore's float32
    error must be at most 4x torch's plus 1e-5 of the scale. Train-mode gradients are checked in
    float64 (test_float64_matches_torch_exactly): in float32 the BatchNorm backward through the
    bottleneck leaves either library ~1e-2 of the scale from the float64 values, which tests
    nothing."""
    import copy

    torch, t, d = _torch_pair()
    t64 = copy.deepcopy(t).double()
    for m in (t, t64, d):
        getattr(m, mode)()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 3, 64, 128)).astype(np.float32)
    w = rng.standard_normal((1, 19, 64, 128)).astype(np.float32)
    a, b, ga, gb = _run(torch, t, d, x, w)
    assert a.shape == (1, 19, 64, 128)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-4 * np.abs(b).max())
    if mode == "train":  # running statistics updated alike
        np.testing.assert_allclose(d.stage3_norm.bn.running_var.numpy(), t.stage3_norm.bn.running_var.numpy(),
                                   rtol=1e-4)
        return
    x64 = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    (t64(x64) * torch.from_numpy(w.astype(np.float64))).sum().backward()
    tp, tp64, dp = dict(t.named_parameters()), dict(t64.named_parameters()), dict(d.named_parameters())
    pairs = [("input", ga, gb, x64.grad.numpy())]
    pairs += [(n, dp[n].grad.numpy(), tp[n].grad.numpy(), tp64[n].grad.numpy()) for n in _GRAD_PARAMS]
    for name, g_d, g_t, g_64 in pairs:
        err_d, err_t = np.abs(g_d - g_64).max(), np.abs(g_t - g_64).max()
        assert err_d <= 4 * err_t + 1e-5 * np.abs(g_64).max(), (name, err_d, err_t, np.abs(g_64).max())


def test_eca_and_ldb_match_torch():
    torch = pytest.importorskip("torch")
    import torch_letnet as T

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 6, 10)).astype(np.float32)
    te, de = T.ECA(), ECA()
    de.load_state_dict({"conv.weight": dlcore.tensor(te.conv.weight.detach().numpy().copy())})
    np.testing.assert_allclose(de(dlcore.tensor(x)).detach().numpy(), te(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)
    # the shuffle interleaves the two halves of the channels: zero weights make the block x -> shuffle(x)
    block = LDB(8, dilation=2)
    with dlcore.no_grad():
        block.expand.weight.zero_()
        out = block(dlcore.tensor(x)).numpy()
    np.testing.assert_array_equal(out, x.reshape(2, 4, 2, 6, 10).transpose(0, 2, 1, 3, 4).reshape(2, 8, 6, 10))


# ---- training -----------------------------------------------------------------------------------------

def test_training_steps_reduce_the_loss():
    dlcore.manual_seed(0)
    model = letnet(num_classes=3)
    x = dlcore.randn(2, 3, 32, 32)
    target = dlcore.tensor((np.indices((32, 32)).sum(0) // 16 % 3)[None].repeat(2, 0).astype(np.int64))
    opt = dlcore.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss = nn.functional.cross_entropy(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    assert isinstance(model, LETNet)
