"""Pooling and interpolate against torch on larger shapes: outputs, argmax indices and input
gradients, in float32 and float64, plus double backward and torch's edge rules (NaN windows,
ceil_mode's last window, divisor_override, nearest's float32 index math).

float32 tolerances: dlcore sums windows in the same order as torch, so outputs agree to a
few ulps; gradients accumulate up to kernel-volume contributions (atol 1e-5)."""
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlcore

TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "float64": dict(rtol=1e-12, atol=1e-12)}


def run_both(name, x_np, kw, dtype, grad_seed=0):
    """Forward and backward of `name` in dlcore and torch; returns (dl outputs, torch outputs)."""
    np_dt = np.float32 if dtype == "float32" else np.float64
    x_np = x_np.astype(np_dt)
    xd = dlcore.tensor(x_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    yd = getattr(dlcore, name)(xd, **kw)
    yt = getattr(F, name)(xt, **kw)
    vd = yd[0] if isinstance(yd, tuple) else yd
    vt = yt[0] if isinstance(yt, tuple) else yt
    g = np.random.default_rng(grad_seed).standard_normal(tuple(vt.shape)).astype(np_dt)
    vd.backward(dlcore.tensor(g))
    vt.backward(torch.tensor(g))
    return yd, yt, xd.grad.numpy(), xt.grad.numpy()


def check(name, shape, kw, dtype, distinct=False):
    r = np.random.default_rng(zlib.crc32(repr((name, shape)).encode()))  # the same data in every run
    if distinct:
        n = int(np.prod(shape))
        x = (r.permutation(n) * 1e-3).reshape(shape)
    else:
        x = r.standard_normal(shape)
    yd, yt, gd, gt = run_both(name, x, kw, dtype)
    if isinstance(yt, tuple):
        np.testing.assert_allclose(yd[0].detach().numpy(), yt[0].detach().numpy(), **TOL[dtype])
        np.testing.assert_array_equal(yd[1].numpy(), yt[1].numpy())
    else:
        np.testing.assert_allclose(yd.detach().numpy(), yt.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(gd, gt, **TOL[dtype])


DTYPES = ["float32", "float64"]

MAX_CASES = [
    ("max_pool2d", (4, 8, 56, 57), dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
    ("max_pool2d", (2, 5, 33, 33), dict(kernel_size=2, return_indices=True)),
    ("max_pool2d", (2, 3, 31, 29), dict(kernel_size=3, stride=1, padding=1, return_indices=True)),
    ("max_pool2d", (2, 3, 30, 31), dict(kernel_size=(4, 3), stride=(3, 2), padding=(2, 1), dilation=(2, 3),
                                        ceil_mode=True, return_indices=True)),
    ("max_pool1d", (4, 6, 101), dict(kernel_size=5, stride=3, padding=2, ceil_mode=True, return_indices=True)),
    ("max_pool3d", (2, 3, 9, 10, 11), dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
    ("max_pool3d", (3, 8, 9, 10), dict(kernel_size=(2, 3, 2), dilation=(2, 1, 2), ceil_mode=True,
                                       return_indices=True)),
    ("adaptive_max_pool2d", (2, 4, 33, 29), dict(output_size=(7, 5), return_indices=True)),
    ("adaptive_max_pool2d", (2, 4, 7, 7), dict(output_size=1, return_indices=True)),
    ("adaptive_max_pool1d", (2, 4, 50), dict(output_size=17, return_indices=True)),
    ("adaptive_max_pool3d", (1, 3, 9, 8, 7), dict(output_size=(4, 3, 5), return_indices=True)),
]
AVG_CASES = [
    ("avg_pool2d", (4, 8, 56, 57), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool2d", (2, 5, 33, 33), dict(kernel_size=2)),
    ("avg_pool2d", (2, 3, 31, 29), dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    ("avg_pool2d", (2, 3, 30, 31), dict(kernel_size=(4, 3), stride=(3, 2), padding=(2, 1), ceil_mode=True,
                                        count_include_pad=False)),
    ("avg_pool2d", (2, 3, 30, 31), dict(kernel_size=5, stride=3, padding=2, ceil_mode=True, divisor_override=7)),
    ("avg_pool1d", (4, 6, 101), dict(kernel_size=5, stride=3, padding=2, ceil_mode=True)),
    ("avg_pool3d", (2, 3, 9, 10, 11), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("adaptive_avg_pool2d", (8, 64, 7, 7), dict(output_size=1)),
    ("adaptive_avg_pool2d", (2, 4, 33, 29), dict(output_size=(7, 5))),
    ("adaptive_avg_pool2d", (2, 4, 10, 9), dict(output_size=(None, 13))),
    ("adaptive_avg_pool1d", (2, 4, 50), dict(output_size=17)),
    ("adaptive_avg_pool3d", (1, 3, 9, 8, 7), dict(output_size=(4, 3, 5))),
    ("adaptive_avg_pool3d", (2, 3, 5, 6, 7), dict(output_size=1)),
]
INTERP_CASES = [
    ((4, 8, 28, 28), dict(scale_factor=2, mode="nearest")),
    ((2, 3, 17, 19), dict(size=(40, 23), mode="nearest")),
    ((2, 3, 17, 19), dict(scale_factor=(1.37, 2.71), mode="nearest")),
    ((2, 3, 33, 35), dict(scale_factor=0.3, mode="nearest")),
    ((2, 3, 33), dict(scale_factor=2.5, mode="nearest")),
    ((1, 2, 7, 8, 9), dict(scale_factor=(2, 1.5, 0.7), mode="nearest")),
    ((4, 8, 28, 28), dict(scale_factor=2, mode="bilinear")),
    ((4, 8, 28, 28), dict(scale_factor=2, mode="bilinear", align_corners=True)),
    ((2, 3, 17, 19), dict(size=(40, 23), mode="bilinear")),
    ((2, 3, 17, 19), dict(scale_factor=(1.37, 2.71), mode="bilinear")),
    ((2, 3, 33, 35), dict(scale_factor=0.3, mode="bilinear", align_corners=True)),
    ((2, 3, 33), dict(scale_factor=2.5, mode="linear")),
    ((2, 3, 33), dict(size=70, mode="linear", align_corners=True)),
    ((1, 2, 7, 8, 9), dict(scale_factor=(2, 1.5, 0.7), mode="trilinear")),
    ((1, 2, 7, 8, 9), dict(size=(11, 5, 12), mode="trilinear", align_corners=True)),
    ((2, 3, 17, 19), dict(size=(21, 30), mode="area")),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,shape,kw", MAX_CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(MAX_CASES)])
def test_max_pools(name, shape, kw, dtype):
    check(name, shape, kw, dtype, distinct=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,shape,kw", AVG_CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(AVG_CASES)])
def test_avg_pools(name, shape, kw, dtype):
    check(name, shape, kw, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kw", INTERP_CASES, ids=[str(i) for i in range(len(INTERP_CASES))])
def test_interpolate(shape, kw, dtype):
    check("interpolate", shape, kw, dtype)


def test_max_pool_ties_nan_and_inf_like_torch():
    x = np.array([[[[1.0, 1.0, 2.0, 2.0, -np.inf], [np.nan, 0.0, 2.0, np.nan, -np.inf],
                    [3.0, 3.0, 0.0, 1.0, -np.inf], [-np.inf] * 5]]])
    for kw in [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=2, ceil_mode=True)]:
        yd, id_ = dlcore.max_pool2d(dlcore.tensor(x), return_indices=True, **kw)
        yt, it = F.max_pool2d(torch.tensor(x), return_indices=True, **kw)
        np.testing.assert_array_equal(yd.numpy(), yt.numpy())
        np.testing.assert_array_equal(id_.numpy(), it.numpy())
    yd, id_ = dlcore.adaptive_max_pool2d(dlcore.tensor(x), (2, 3), return_indices=True)
    yt, it = F.adaptive_max_pool2d(torch.tensor(x), (2, 3), return_indices=True)
    np.testing.assert_array_equal(yd.numpy(), yt.numpy())
    np.testing.assert_array_equal(id_.numpy(), it.numpy())


@pytest.mark.parametrize("n", list(range(1, 40)))
def test_ceil_mode_output_sizes(n):
    for k, s, p, d in [(3, 2, 1, 1), (2, 2, 0, 1), (3, 3, 1, 2), (4, 3, 2, 1), (5, 4, 0, 1)]:
        try:
            want = F.max_pool1d(torch.zeros(1, 1, n), k, s, p, d, ceil_mode=True).shape
        except RuntimeError:
            with pytest.raises(ValueError, match="max_pool1d: output size"):
                dlcore.max_pool1d(dlcore.zeros(1, 1, n), k, s, p, d, ceil_mode=True)
            continue
        assert tuple(dlcore.max_pool1d(dlcore.zeros(1, 1, n), k, s, p, d, ceil_mode=True).shape) == tuple(want)
        assert tuple(dlcore.avg_pool1d(dlcore.zeros(1, 1, n), k, s, p, ceil_mode=True).shape) == tuple(
            F.avg_pool1d(torch.zeros(1, 1, n), k, s, p, ceil_mode=True).shape)


def test_nearest_index_rule_matches_torch_bitwise():
    # Scales whose float32 products land near integers: floor in float32 decides.
    x = np.arange(1 * 1 * 1 * 97, dtype=np.float32).reshape(1, 1, 1, 97)
    for s in [0.3, 0.7, 1.1, 1.3, 2.9, 3.3]:
        yd = dlcore.interpolate(dlcore.tensor(x), scale_factor=(1, s)).numpy()
        yt = F.interpolate(torch.tensor(x), scale_factor=(1, s)).numpy()
        np.testing.assert_array_equal(yd, yt)
        for rec in (True,):
            yd = dlcore.interpolate(dlcore.tensor(x), scale_factor=(1, s), recompute_scale_factor=rec).numpy()
            yt = F.interpolate(torch.tensor(x), scale_factor=(1, s), recompute_scale_factor=rec).numpy()
            np.testing.assert_array_equal(yd, yt)


def test_unbatched_inputs():
    r = np.random.default_rng(0)
    x = r.standard_normal((3, 9, 10))
    np.testing.assert_allclose(dlcore.max_pool2d(dlcore.tensor(x), 3, 2, 1).numpy(),
                               F.max_pool2d(torch.tensor(x), 3, 2, 1).numpy())
    np.testing.assert_allclose(dlcore.avg_pool2d(dlcore.tensor(x), 2).numpy(), F.avg_pool2d(torch.tensor(x), 2).numpy())
    np.testing.assert_allclose(dlcore.adaptive_avg_pool2d(dlcore.tensor(x), 4).numpy(),
                               F.adaptive_avg_pool2d(torch.tensor(x), 4).numpy())


@pytest.mark.parametrize("name,kw", [("avg_pool2d", dict(kernel_size=3, stride=2, padding=1)),
                                     ("adaptive_avg_pool2d", dict(output_size=(2, 3))),
                                     ("interpolate", dict(scale_factor=1.5, mode="bilinear")),
                                     ("max_pool2d", dict(kernel_size=2))])
def test_double_backward(name, kw):
    r = np.random.default_rng(1)
    x_np = (r.permutation(2 * 3 * 5 * 6) * 0.01).reshape(2, 3, 5, 6)
    g_np = r.standard_normal(tuple(getattr(F, name)(torch.tensor(x_np), **kw).shape))
    xd = dlcore.tensor(x_np, requires_grad=True)
    gd = dlcore.tensor(g_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    gt = torch.tensor(g_np, requires_grad=True)
    (dx,) = dlcore.autograd.grad(getattr(dlcore, name)(xd, **kw), xd, gd, create_graph=True)
    (dxt,) = torch.autograd.grad(getattr(F, name)(xt, **kw), xt, gt, create_graph=True)
    np.testing.assert_allclose(dx.detach().numpy(), dxt.detach().numpy(), rtol=1e-12, atol=1e-12)
    w = r.standard_normal(x_np.shape)
    (ggd,) = dlcore.autograd.grad((dx * dlcore.tensor(w)).sum(), gd)
    (ggt,) = torch.autograd.grad((dxt * torch.tensor(w)).sum(), gt)
    np.testing.assert_allclose(ggd.numpy(), ggt.numpy(), rtol=1e-12, atol=1e-12)


def test_noncontiguous_channels_last_input():
    r = np.random.default_rng(2)
    x = r.standard_normal((2, 9, 11, 4)).transpose(0, 3, 1, 2)  # NCHW view of NHWC data
    xd = dlcore.tensor(np.ascontiguousarray(x.transpose(0, 2, 3, 1))).permute(0, 3, 1, 2)
    assert not xd.is_contiguous()
    np.testing.assert_allclose(dlcore.max_pool2d(xd, 3, 2, 1).numpy(),
                               F.max_pool2d(torch.tensor(x), 3, 2, 1).numpy())
    np.testing.assert_allclose(dlcore.interpolate(xd, scale_factor=2, mode="bilinear").numpy(),
                               F.interpolate(torch.tensor(x), scale_factor=2, mode="bilinear").numpy(), rtol=1e-12)


def test_all_padding_windows_like_torch():
    # dilation 3 with padding 1 over 2 elements: the first window holds only padding.
    x = np.arange(1.0, 1 + 2 * 2 * 5).reshape(1, 2, 2, 5)
    kw = dict(kernel_size=2, stride=1, padding=1, dilation=3)
    yd, id_ = dlcore.max_pool2d(dlcore.tensor(x), return_indices=True, **kw)
    yt, it = F.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(yd.numpy(), yt.numpy())
    np.testing.assert_array_equal(id_.numpy(), it.numpy())
    xd = dlcore.tensor(x, requires_grad=True)
    dlcore.max_pool2d(xd, **kw).sum().backward()
    assert np.isfinite(xd.grad.numpy()).all()
    for ceil in (False, True):
        np.testing.assert_allclose(dlcore.avg_pool1d(dlcore.tensor(x[0]), 3, 2, 1, ceil_mode=ceil).numpy(),
                                   F.avg_pool1d(torch.tensor(x[0]), 3, 2, 1, ceil_mode=ceil).numpy())
