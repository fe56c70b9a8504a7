"""Depthwise convolution (groups == in_channels) against torch: forward and all three grads.

The depthwise kernels (cpu/conv_depthwise.cpp) have separate code for 3x3, 5x5, other kernel
sizes, stride 1 / dilation 1 along h (rows shared between output rows) and the rest, vector
tails along ow and planes split into row chunks when there are few of them, so the cases below
cover each of these with odd sizes (1, 7, 33), stride, dilation, padding larger than half the
kernel, a channel multiplier (out_channels = m * in_channels), 1d and 3d.

Tolerance (float32): each result is a sum of L products, whose rounding error is at most about
L * u * sum|terms| (u = 2**-24); sum|terms| is computed exactly by the same float64 convolution
of |x|, |w| and |grad|. L: kernel volume (+1 for the bias) forward, multiplier * kernel volume
for the input grad, N * output size for the weight and bias grads. float64 results are held to
1e-12 relative to sum|terms| (the bound for L <= 1e3 terms at u = 2**-53 is below 1.2e-13).
"""
import numpy as np
import pytest

import dlcore

torch = pytest.importorskip("torch")
F = torch.nn.functional
U32 = 2.0 ** -24

# (op, x shape, multiplier, kernel, kwargs)
CASES = [
    ("conv2d", (2, 8, 28, 28), 1, (3, 3), dict(padding=1)),
    ("conv2d", (3, 5, 7, 7), 1, (3, 3), dict(padding=1)),
    ("conv2d", (1, 1, 1, 1), 1, (3, 3), dict(padding=1)),
    ("conv2d", (2, 3, 33, 33), 1, (3, 3), dict(padding=1, stride=2)),
    ("conv2d", (2, 4, 33, 7), 1, (3, 3), dict(padding=0)),
    ("conv2d", (2, 4, 17, 37), 1, (5, 5), dict(padding=2)),
    ("conv2d", (2, 4, 19, 21), 1, (5, 5), dict(padding=2, stride=2)),
    ("conv2d", (2, 4, 15, 16), 1, (3, 3), dict(padding=2, dilation=2)),
    ("conv2d", (2, 3, 13, 40), 1, (3, 3), dict(padding=(3, 4))),  # padding > kernel / 2
    ("conv2d", (2, 3, 12, 11), 1, (3, 3), dict(padding=(1, 2), stride=(1, 3))),
    ("conv2d", (2, 3, 12, 11), 1, (3, 3), dict(padding=1, stride=(2, 1))),
    ("conv2d", (2, 3, 12, 35), 1, (7, 7), dict(padding=3)),
    ("conv2d", (2, 3, 12, 13), 1, (2, 4), dict(padding=(1, 3), dilation=(2, 3), stride=(3, 2))),
    ("conv2d", (2, 4, 9, 10), 3, (3, 3), dict(padding=1)),  # channel multiplier
    ("conv2d", (2, 4, 9, 10), 2, (5, 5), dict(padding=2, stride=2)),
    ("conv2d", (1, 2, 70, 45), 1, (3, 3), dict(padding=1)),  # few planes: rows split across threads
    ("conv2d", (1, 1, 66, 9), 2, (3, 3), dict(padding=1, stride=2)),
    ("conv1d", (3, 6, 33), 1, (3,), dict(padding=1)),
    ("conv1d", (2, 4, 50), 2, (5,), dict(padding=4, stride=2, dilation=2)),
    ("conv1d", (2, 3, 1), 1, (1,), {}),
    ("conv3d", (2, 3, 7, 9, 10), 1, (3, 3, 3), dict(padding=1)),
    ("conv3d", (1, 4, 6, 7, 8), 2, (3, 2, 3), dict(padding=(2, 1, 1), stride=(2, 1, 2), dilation=(1, 2, 1))),
]


def _run_torch(op, x, w, b, g, kw, groups):
    tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    y = getattr(F, op)(tx, tw, tb, groups=groups, **kw)
    y.backward(torch.tensor(g, dtype=torch.float64))
    return [t.detach().numpy() for t in (y, tx.grad, tw.grad, tb.grad)]


def _case_data(op, xs, mult, kernel, kw, dtype, seed=0):
    rng = np.random.default_rng(seed)
    c = xs[1]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((c * mult, 1) + kernel).astype(dtype)
    b = rng.standard_normal(c * mult).astype(dtype)
    y_shape = tuple(getattr(F, op)(torch.from_numpy(x), torch.from_numpy(w), None, groups=c, **kw).shape)
    g = rng.standard_normal(y_shape).astype(dtype)
    return x, w, b, g


def _check(got, want, mag, lengths, u, label):
    for name, gt, wt, m, length in zip(("output", "grad input", "grad weight", "grad bias"), got, want, mag, lengths):
        assert gt.shape == wt.shape, f"{label} {name}: shape {gt.shape} vs {wt.shape}"
        bound = length * u * m + 1e-300
        excess = np.abs(gt.astype(np.float64) - wt) / bound
        assert excess.max() <= 1.0, f"{label} {name}: error {excess.max():.2f}x the bound (L={length})"


def _lengths(xs, ys, mult, kernel):
    kvol = int(np.prod(kernel))
    n_out = ys[0] * int(np.prod(ys[2:]))
    return kvol + 1, mult * kvol, n_out, n_out


def _dlcore_run(op, x, w, b, g, kw, groups, x_transform=None):
    dx, dw, db = (dlcore.tensor(a, requires_grad=True) for a in (x, w, b))
    xin = dx if x_transform is None else x_transform(dx)
    y = getattr(dlcore, op)(xin, dw, db, groups=groups, **kw)
    y.backward(dlcore.tensor(g))
    return [y.detach().numpy(), dx.grad.numpy(), dw.grad.numpy(), db.grad.numpy()]


@pytest.mark.parametrize("op,xs,mult,kernel,kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_float32_against_torch(op, xs, mult, kernel, kw):
    x, w, b, g = _case_data(op, xs, mult, kernel, kw, np.float32)
    want = _run_torch(op, x, w, b, g, kw, xs[1])
    mag = _run_torch(op, np.abs(x), np.abs(w), np.abs(b), np.abs(g), kw, xs[1])
    got = _dlcore_run(op, x, w, b, g, kw, xs[1])
    _check(got, want, mag, _lengths(xs, g.shape, mult, kernel), U32, op)


@pytest.mark.parametrize("op,xs,mult,kernel,kw", CASES[::3], ids=[f"{c[0]}-{i * 3}" for i, c in enumerate(CASES[::3])])
def test_float64_against_torch(op, xs, mult, kernel, kw):
    x, w, b, g = _case_data(op, xs, mult, kernel, kw, np.float64, seed=1)
    want = _run_torch(op, x, w, b, g, kw, xs[1])
    mag = _run_torch(op, np.abs(x), np.abs(w), np.abs(b), np.abs(g), kw, xs[1])
    got = _dlcore_run(op, x, w, b, g, kw, xs[1])
    for name, gt, wt, m in zip(("output", "grad input", "grad weight", "grad bias"), got, want, mag):
        assert gt.dtype == np.float64
        err = np.abs(gt - wt) / (m + 1e-300)
        assert err.max() <= 1e-12, f"{op} float64 {name}: relative error {err.max():.3g}"


def test_non_contiguous_input():
    # a transposed (N, C, W, H) view and a channel slice: the op makes its own contiguous copy
    rng = np.random.default_rng(4)
    base = rng.standard_normal((2, 12, 17, 9)).astype(np.float32)
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    kw = dict(padding=1, stride=(1, 2))
    xt = np.ascontiguousarray(base.transpose(0, 1, 3, 2)[:, 3:9])
    g = rng.standard_normal(F.conv2d(torch.from_numpy(xt), torch.from_numpy(w), groups=6, **kw).shape).astype(np.float32)
    want = _run_torch("conv2d", xt, w, b, g, kw, 6)
    mag = _run_torch("conv2d", np.abs(xt), np.abs(w), np.abs(b), np.abs(g), kw, 6)

    dbase = dlcore.tensor(base, requires_grad=True)
    dw, db = dlcore.tensor(w, requires_grad=True), dlcore.tensor(b, requires_grad=True)
    xin = dbase.transpose(2, 3)[:, 3:9]
    assert not xin.is_contiguous()
    y = dlcore.conv2d(xin, dw, db, groups=6, **kw)
    y.backward(dlcore.tensor(g))
    gx = dbase.grad.numpy().transpose(0, 1, 3, 2)[:, 3:9]
    assert np.all(dbase.grad.numpy()[:, :3] == 0) and np.all(dbase.grad.numpy()[:, 9:] == 0)
    got = [y.detach().numpy(), gx, dw.grad.numpy(), db.grad.numpy()]
    _check(got, want, mag, _lengths(xt.shape, g.shape, 1, (3, 3)), U32, "non-contiguous")


@pytest.mark.parametrize("kw", [dict(padding=1), dict(padding=2, stride=2, dilation=2)])
def test_float64_gradcheck(kw):
    rng = np.random.default_rng(5)
    x = dlcore.tensor(rng.standard_normal((2, 3, 7, 6)), requires_grad=True)
    w = dlcore.tensor(rng.standard_normal((6, 1, 3, 3)), requires_grad=True)
    b = dlcore.tensor(rng.standard_normal(6), requires_grad=True)
    assert dlcore.autograd.gradcheck(lambda a, c, d: dlcore.conv2d(a, c, d, groups=3, **kw), (x, w, b))


def test_threads_agree():
    # the row-chunked split (few planes) and the per-plane split give the same float64 result
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((1, 2, 61, 50)), rng.standard_normal((2, 1, 3, 3))
    old = dlcore.get_num_threads()
    try:
        outs = []
        for nt in (1, 2):
            dlcore.set_num_threads(nt)
            dx, dw = dlcore.tensor(x, requires_grad=True), dlcore.tensor(w, requires_grad=True)
            y = dlcore.conv2d(dx, dw, padding=1, groups=2)
            y.sum().backward()
            outs.append([y.detach().numpy(), dx.grad.numpy(), dw.grad.numpy()])
    finally:
        dlcore.set_num_threads(old)
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_transposed_depthwise():
    # conv_transpose with groups == channels runs the depthwise kernels as its adjoint
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((4, 2, 3, 3))
    kw = dict(stride=2, padding=1, output_padding=1, groups=4)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = F.conv_transpose2d(tx, tw, **kw)
    ty.backward(torch.ones_like(ty))
    dx, dw = dlcore.tensor(x, requires_grad=True), dlcore.tensor(w, requires_grad=True)
    dy = dlcore.conv_transpose2d(dx, dw, **kw)
    dy.backward(dlcore.ones(list(dy.shape), dtype=dlcore.float64))
    np.testing.assert_allclose(dy.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)
