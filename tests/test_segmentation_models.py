"""U-Net and V-Net: parameter counts, output sizes, the options for small inputs, training steps
that reduce the loss, bad input; nn.ChannelShuffle against torch."""
import numpy as np
import pytest

import dlcore
from dlcore import nn
from dlcore.models import unet, vnet


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_unet_matches_the_paper():
    model = unet()
    assert _count(model) == 31_030_658
    assert model.output_size(572) == 388
    small = unet(base_channels=2)  # the same geometry, few channels
    with dlcore.no_grad():
        assert tuple(small(dlcore.zeros(1, 1, 572, 572)).shape) == (1, 2, 388, 388)


def test_unet_padded_form_keeps_sizes_and_trains():
    dlcore.manual_seed(0)
    model = unet(in_channels=3, num_classes=3, base_channels=8, depth=3, padding=True, batch_norm=True)
    x = dlcore.randn(2, 3, 32, 48)
    target = dlcore.tensor((np.indices((32, 48)).sum(0) // 16 % 3)[None].repeat(2, 0).astype(np.int64))
    opt = dlcore.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        out = model(x)
        assert tuple(out.shape) == (2, 3, 32, 48)
        loss = nn.functional.cross_entropy(out, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_unet_bad_input():
    with pytest.raises(ValueError, match=r"multiples of 8 \(2\*\*depth\), got 30x32"):
        unet(base_channels=2, depth=3, padding=True)(dlcore.zeros(1, 1, 30, 32))
    with pytest.raises(ValueError, match="an input of 64x64 is too small for 4 unpadded levels"):
        unet(base_channels=2)(dlcore.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"expected input \[N, C, H, W\]"):
        unet(base_channels=2)(dlcore.zeros(1, 572, 572))
    with pytest.raises(ValueError, match="must be >= 1"):
        unet(depth=0)


def _vnet_count(base, depth, cin=1, classes=2):
    """The parameter count of the documented V-Net, summed layer by layer."""
    conv = lambda a, b, k: k * a * b + b  # noqa: E731 - weight and bias
    w = [base * 2 ** i for i in range(depth + 1)]
    left, right = [1, 2, 3, 3, 3][:depth] + [3], [3, 3, 2, 1][-depth:]
    total = conv(cin, w[0], 125) + w[0] + (left[0] - 1) * (conv(w[0], w[0], 125) + w[0])
    for i in range(depth):
        total += conv(w[i], w[i + 1], 8) + w[i + 1] + left[i + 1] * (conv(w[i + 1], w[i + 1], 125) + w[i + 1])
    c = w[depth]
    for i in range(depth):
        stage = 2 * w[depth - 1 - i]
        total += conv(c, stage // 2, 8) + stage // 2 + right[i] * (conv(stage, stage, 125) + stage)
        c = stage
    return total + conv(c, classes, 1)


def test_vnet_count_and_shapes():
    assert _count(vnet()) == _vnet_count(16, 4) == 65_175_314
    model = vnet(base_channels=4, depth=3, num_classes=3, in_channels=2)
    assert _count(model) == _vnet_count(4, 3, cin=2, classes=3)
    with dlcore.no_grad():
        assert tuple(model(dlcore.zeros(1, 2, 16, 24, 8)).shape) == (1, 3, 16, 24, 8)


def test_vnet_first_stage_adds_its_input():
    model = vnet(base_channels=2, depth=1)
    with dlcore.no_grad():
        for p in model.parameters():
            p.zero_()
        x = dlcore.randn(1, 1, 4, 4, 4)
        y = model.first_rest(model.first(x))
    np.testing.assert_array_equal(y.numpy(), 0)  # zero weights: the stage's output without the residual
    # the forward adds the input repeated over the stage's channels; with zero weights it reaches the
    # last stage as the skip half of the concatenation (channels 2-3 of [up(2), skip(2)])
    with dlcore.no_grad():
        model.head.weight.zero_()
        model.head.weight[0, 2] = 1.0
        out = model(x)
    np.testing.assert_allclose(out.numpy()[0, 0], x.numpy()[0, 0], rtol=1e-6)


def test_vnet_trains_and_bad_input():
    dlcore.manual_seed(0)
    model = vnet(base_channels=2, depth=2, batch_norm=True)
    x = dlcore.randn(2, 1, 8, 8, 8)
    target = dlcore.tensor((np.indices((8, 8, 8)).sum(0) % 2)[None].repeat(2, 0).astype(np.int64))
    opt = dlcore.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(10):
        loss = nn.functional.cross_entropy(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < first
    with pytest.raises(ValueError, match=r"multiples of 4 \(2\*\*depth\), got 8x6x8"):
        model(dlcore.zeros(1, 1, 8, 6, 8))
    with pytest.raises(ValueError, match="depth must be 1-4"):
        vnet(depth=5)


def test_channel_shuffle_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 12, 3, 5)).astype(np.float32)
    for g in (1, 2, 3, 4, 12):
        np.testing.assert_array_equal(nn.ChannelShuffle(g)(dlcore.tensor(x)).numpy(),
                                      torch.nn.ChannelShuffle(g)(torch.from_numpy(x)).numpy())
    y = dlcore.tensor(x, requires_grad=True)
    (nn.functional.channel_shuffle(y, 3) * dlcore.arange(12.0).view(1, 12, 1, 1)).sum().backward()
    order = np.arange(12).reshape(3, 4).T.reshape(-1)  # channel g*4+k moves to k*3+g
    np.testing.assert_array_equal(y.grad.numpy()[0, :, 0, 0], np.argsort(order).astype(np.float32))
    with pytest.raises(ValueError, match=r"the 12 channels of input \[2, 12, 3, 5\] are not divisible by groups=5"):
        nn.functional.channel_shuffle(dlcore.tensor(x), 5)
    with pytest.raises(ValueError, match="at least 3 dims"):
        nn.functional.channel_shuffle(dlcore.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        nn.ChannelShuffle(0)


@pytest.mark.parametrize("kernel, dilation, padding, stride, size", [
    (3, 1, 1, 1, (6, 7)), ((2, 3), 1, 0, (2, 1), (5, 8)), (3, 2, 2, 2, (9, 6)), (1, 1, 0, 1, (3, 4)),
    (3, 1, 0, 3, (9, 9))])
def test_unfold_fold_match_torch(kernel, dilation, padding, stride, size):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) + size)
    dx, tx = dlcore.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_(True)
    du = nn.Unfold(kernel, dilation, padding, stride)(dx)
    tu = torch.nn.Unfold(kernel, dilation, padding, stride)(tx)
    np.testing.assert_allclose(du.detach().numpy(), tu.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(tuple(tu.shape))
    (du * dlcore.tensor(g)).sum().backward()
    (tu * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    cols = rng.standard_normal(tuple(tu.shape))
    dc, tc = dlcore.tensor(cols, requires_grad=True), torch.from_numpy(cols).requires_grad_(True)
    df = nn.Fold(size, kernel, dilation, padding, stride)(dc)
    tf = torch.nn.Fold(size, kernel, dilation, padding, stride)(tc)
    np.testing.assert_allclose(df.detach().numpy(), tf.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(tuple(tf.shape))
    (df * dlcore.tensor(g)).sum().backward()
    (tf * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(dc.grad.numpy(), tc.grad.numpy(), rtol=1e-12)
    # unbatched forms
    np.testing.assert_allclose(nn.functional.unfold(dlcore.tensor(x[0]), kernel, dilation, padding, stride).numpy(),
                               tu.detach().numpy()[0], rtol=1e-12)


def test_unfold_fold_bad_input():
    with pytest.raises(ValueError, match=r"unfold: expected input \[N, C, H, W\] or \[C, H, W\], got \[4, 4\]"):
        nn.functional.unfold(dlcore.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="does not fit the padded input 4x4"):
        nn.functional.unfold(dlcore.zeros(1, 1, 4, 4), 5)
    with pytest.raises(ValueError, match="stride must be an int or a pair of ints >= 1"):
        nn.functional.unfold(dlcore.zeros(1, 1, 4, 4), 2, stride=0)
    with pytest.raises(ValueError, match=r"fold: input \[1, 5, 9\] does not hold C\*4 rows of 9 blocks"):
        nn.functional.fold(dlcore.zeros(1, 5, 9), (4, 4), 2)
    with pytest.raises(ValueError, match=r"does not hold C\*4 rows of 9 blocks"):
        nn.functional.fold(dlcore.zeros(1, 8, 10), (4, 4), 2)
