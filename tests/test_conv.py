"""Convolutions on larger shapes against torch: float32 forward and all three grads.

Tolerance: each float32 result is a sum of L products, whose rounding error is at most about
L * u * sum|terms| (u = 2**-24, Higham's bound for recursive summation; blocked sums do better).
sum|terms| is computed exactly by the same float64 convolution of |x|, |w| and |grad|, so
every element is checked against its own bound, with L the longest reduction of that result:
C/groups * kernel volume (+1 for the bias) forward, K/groups * kernel volume for the input
grad, N * output size for the weight and bias grads.
"""
import numpy as np
import pytest

import dlcore

torch = pytest.importorskip("torch")
F = torch.nn.functional
U32 = 2.0 ** -24

# Stride-1 3-d convolutions of the direct kernels (Note [Direct 3-d convolution]): output lines
# of 16, 8 and 4 (vectors of every width; V-Net's 5x5x5 at 8^3 and 4^3, where most taps meet
# padding; lines of 4 turn the tile to vectors of output channels), output channels that fill 1,
# 2 and 4 vectors or none exactly, an odd number of lines, one input channel,
# groups with D dilation, a kernel deeper than the input, uneven kernels, and a width (11) the
# forward leaves to the GEMM path while the weight grad takes it.
DIRECT_3D = [
    ((2, 16, 8, 8, 8), (32, 16, 5, 5, 5), dict(padding=2)),
    ((1, 8, 4, 4, 4), (64, 8, 5, 5, 5), dict(padding=2)),
    ((2, 16, 3, 6, 16), (16, 16, 5, 5, 5), dict(padding=2)),
    ((2, 1, 6, 6, 16), (8, 1, 5, 5, 5), dict(padding=2)),
    ((2, 12, 5, 6, 8), (20, 6, 3, 3, 3), dict(padding=(2, 1, 1), dilation=(2, 1, 1), groups=2)),
    ((1, 10, 6, 7, 16), (13, 10, 3, 3, 3), dict(padding=1)),
    ((2, 16, 3, 4, 8), (24, 16, 5, 5, 5), dict(padding=2)),
    ((1, 8, 5, 6, 4), (16, 8, 3, 5, 5), dict(padding=(0, 2, 2))),
    ((2, 8, 9, 10, 11), (16, 8, 3, 3, 3), dict(padding=1)),
    ((2, 16, 3, 5, 4), (24, 16, 3, 5, 5), dict(padding=(1, 2, 2))),
]

# (op, x shape, w shape, kwargs)
CASES = [
    ("conv2d", (4, 16, 20, 20), (32, 16, 3, 3), dict(padding=1)),
    ("conv2d", (3, 32, 17, 15), (64, 32, 3, 3), dict(stride=2, padding=1)),
    ("conv2d", (2, 48, 14, 14), (24, 48, 1, 1), {}),
    ("conv2d", (4, 32, 19, 19), (32, 1, 3, 3), dict(padding=1, groups=32)),
    ("conv2d", (2, 16, 21, 21), (32, 1, 5, 5), dict(padding=2, stride=2, groups=16)),
    ("conv2d", (2, 32, 13, 13), (64, 8, 3, 3), dict(padding=2, dilation=2, groups=4)),
    ("conv2d", (1, 8, 33, 33), (16, 8, 4, 4), dict(padding="same")),
    ("conv1d", (4, 32, 129), (64, 32, 7), dict(padding=3, stride=2)),
    ("conv3d", (2, 8, 9, 10, 11), (16, 8, 3, 3, 3), dict(padding=1)),
    ("conv_transpose2d", (3, 32, 12, 11), (32, 16, 4, 4), dict(stride=2, padding=1)),
    ("conv_transpose2d", (2, 32, 9, 9), (32, 2, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=16)),
    ("conv_transpose3d", (2, 16, 5, 6, 7), (16, 8, 3, 3, 3), dict(stride=2, padding=1)),
    # small outputs: several whole images per column chunk, the tap table, channels-last
    # weight grad (>= 16 channels per group)
    ("conv2d", (9, 32, 4, 4), (48, 32, 3, 3), dict(padding=1)),
    ("conv2d", (5, 16, 9, 11), (24, 16, 3, 3), dict(stride=2, padding=2, dilation=2)),
    ("conv2d", (3, 64, 7, 7), (32, 32, 3, 3), dict(padding=1, groups=2)),
    ("conv2d", (7, 33, 8, 8), (72, 33, 3, 3), dict(stride=2, padding=1)),
    ("conv2d", (6, 32, 5, 5), (16, 32, 1, 1), {}),
    ("conv2d", (5, 24, 9, 9), (40, 24, 1, 1), dict(stride=2)),
    ("conv3d", (4, 16, 3, 4, 5), (8, 16, 2, 3, 3), dict(padding=1)),
    ("conv1d", (7, 20, 13), (9, 20, 3), dict(padding=1, stride=2)),
    # more than 256 rows of col (sliced) with < 16 channels per group, table and line copies
    ("conv2d", (3, 12, 11, 11), (16, 12, 5, 5), dict(padding=2)),
    ("conv2d", (2, 12, 30, 33), (8, 12, 5, 5), dict(padding=2, stride=(1, 2))),
    ("conv2d", (4, 1, 28, 28), (6, 1, 5, 5), dict(padding=2)),
    ("conv2d", (5, 6, 14, 14), (16, 6, 5, 5), {}),
    # implicit GEMM: the input grad as the forward of the flipped weight (>= 16 channels per
    # group) with uneven 'same' padding and dilation, one image split by lines, strides 2 and
    # 3 with dilation (padded lines split by stride phase), 1-d and 3-d
    ("conv2d", (2, 20, 11, 12), (24, 20, 4, 4), dict(padding="same")),
    ("conv2d", (1, 24, 35, 37), (16, 24, 3, 3), dict(padding=2, dilation=2)),
    ("conv2d", (3, 16, 23, 29), (20, 16, 3, 5), dict(stride=3, padding=(1, 2), dilation=(1, 2))),
    ("conv1d", (5, 40, 50), (48, 40, 5), dict(padding=4, dilation=2)),
    ("conv3d", (1, 16, 6, 7, 8), (16, 16, 3, 3, 3), dict(padding=1, stride=(1, 2, 2))),
    # many channels per group and small outputs (several images per chunk, runs of a few
    # elements): with and without a tap that meets the input everywhere, groups, the input
    # grad of 256 output channels per group, 3-d
    ("conv2d", (3, 256, 4, 5), (24, 256, 3, 3), dict(padding=1)),
    ("conv2d", (2, 256, 3, 3), (16, 256, 2, 2), dict(padding=1)),
    ("conv2d", (2, 512, 4, 4), (64, 256, 3, 3), dict(padding=2, dilation=2, groups=2)),
    ("conv2d", (2, 256, 5, 4), (256, 256, 3, 3), dict(padding=1, stride=(2, 1))),
    ("conv3d", (2, 256, 3, 3, 3), (8, 256, 3, 3, 3), dict(padding=1)),
    # col read in place (panels of one output line, or two lines of one vector each, for the
    # register widths of float and double with AVX-512, AVX2 and SSE2)
    ("conv2d", (2, 16, 16, 32), (24, 16, 3, 3), dict(padding=1)),
    ("conv2d", (2, 16, 20, 32), (16, 16, 3, 3), dict(padding=2, dilation=2)),
    ("conv2d", (3, 16, 8, 16), (20, 16, 3, 3), dict(padding=1)),
    ("conv2d", (2, 16, 6, 8), (16, 16, 3, 3), dict(padding=1)),
    ("conv2d", (2, 16, 5, 4), (16, 16, 3, 3), dict(padding=1)),
    ("conv3d", (1, 16, 3, 4, 16), (16, 16, 3, 3, 3), dict(padding=1)),
    # strided, read in place from the stride phases (one line, two lines per panel)
    ("conv2d", (2, 16, 32, 64), (16, 16, 3, 3), dict(stride=2, padding=1)),
    ("conv2d", (2, 16, 32, 32), (16, 16, 3, 3), dict(stride=2, padding=1)),
    ("conv2d", (2, 16, 20, 32), (16, 16, 3, 3), dict(stride=(2, 1), padding=1, dilation=(1, 2))),
    # several small images interleaved, read in place; a 3-d one
    ("conv2d", (16, 16, 4, 4), (24, 16, 3, 3), dict(padding=1)),
    ("conv2d", (24, 32, 8, 8), (16, 32, 3, 3), dict(padding=1)),
    ("conv3d", (8, 16, 2, 4, 4), (16, 16, 3, 3, 3), dict(padding=1)),
    ("conv2d", (16, 16, 8, 8), (16, 16, 3, 3), dict(stride=2, padding=1)),
    ("conv2d", (16, 16, 8, 7), (16, 16, 3, 3), dict(stride=(1, 2), padding=1, dilation=(2, 1))),
    # 3-d strided, an image's lines split into chunks that each pad only the planes they reach
    ("conv3d", (2, 8, 16, 16, 16), (16, 8, 2, 2, 2), dict(stride=2)),
    ("conv3d", (1, 8, 9, 10, 12), (16, 8, 3, 3, 3), dict(stride=2, padding=1)),
] + [("conv3d",) + c for c in DIRECT_3D]


def _reduction_lengths(op, xs, ws, ys, groups):
    kvol = int(np.prod(ws[2:]))
    n_out = ys[0] * int(np.prod(ys[2:]))
    n_in = xs[0] * int(np.prod(xs[2:]))
    if op.startswith("conv_transpose"):  # the adjoint: forward reduces over C_in / groups
        return ws[0] // groups * kvol + 1, ws[1] * kvol, n_in, n_out
    return ws[1] * kvol + 1, ws[0] // groups * kvol, n_out, n_out


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("op,xs,ws,kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_against_torch_float32(op, xs, ws, kw):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(xs, dtype=np.float32)
    w = rng.standard_normal(ws, dtype=np.float32)
    cout = ws[1] * kw.get("groups", 1) if op.startswith("conv_transpose") else ws[0]
    b = rng.standard_normal(cout, dtype=np.float32)

    def torch_run(xa, wa, ba, ga):
        tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (xa, wa, ba))
        y = getattr(F, op)(tx, tw, tb, **kw)
        y.backward(torch.tensor(ga, dtype=torch.float64))
        return [t.detach().numpy() for t in (y, tx.grad, tw.grad, tb.grad)]

    y_shape = getattr(F, op)(torch.from_numpy(x), torch.from_numpy(w), None, **kw).shape
    g = rng.standard_normal(tuple(y_shape), dtype=np.float32)
    want = torch_run(x, w, b, g)
    mag = torch_run(np.abs(x), np.abs(w), np.abs(b), np.abs(g))  # sum of |terms| per element

    dx, dw, db = (dlcore.tensor(a, requires_grad=True) for a in (x, w, b))
    y = getattr(dlcore, op)(dx, dw, db, **kw)
    y.backward(dlcore.tensor(g))
    got = [y.detach().numpy(), dx.grad.numpy(), dw.grad.numpy(), db.grad.numpy()]

    lengths = _reduction_lengths(op, xs, ws, y_shape, kw.get("groups", 1))
    for name, gt, wt, m, length in zip(("output", "grad input", "grad weight", "grad bias"), got, want, mag, lengths):
        assert gt.shape == wt.shape, f"{op} {name}: shape {gt.shape} vs {wt.shape}"
        bound = length * U32 * m + 1e-30
        excess = np.abs(gt.astype(np.float64) - wt) / bound
        assert excess.max() <= 1.0, f"{op} {name}: error {excess.max():.2f}x the bound L*u*sum|terms| (L={length})"


def test_only_needed_grads():
    x = dlcore.randn(2, 4, 9, 9)
    w = dlcore.randn(6, 4, 3, 3, requires_grad=True)
    y = dlcore.conv2d(x, w, padding=1)
    y.sum().backward()
    assert x.grad is None and w.grad is not None
    want = F.conv2d(torch.from_numpy(x.numpy()), torch.from_numpy(w.detach().numpy()).requires_grad_(), padding=1)
    assert want.shape == tuple(y.shape)


def test_float64_and_unbatched():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((3, 11, 10)), rng.standard_normal((5, 3, 3, 3))
    got = dlcore.conv2d(dlcore.tensor(x), dlcore.tensor(w), stride=2).numpy()
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=2).numpy()
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_batch_one_uses_both_threads_and_matches():
    # one image: the forward splits the output lines across threads; the input grad lets the
    # GEMM split itself
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 32, 40, 40)), rng.standard_normal((32, 32, 3, 3))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    F.conv2d(tx, tw, padding=1).sum().backward()
    dx, dw = dlcore.tensor(x, requires_grad=True), dlcore.tensor(w, requires_grad=True)
    dlcore.conv2d(dx, dw, padding=1).sum().backward()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-10)


# Small float64 shapes through each GEMM path: whole-image chunks with the channels-last weight
# grad, the tap table with stride and dilation, sliced rows, a batched 1x1, and groups.
GRADCHECK = [
    ((3, 16, 3, 3), (2, 16, 2, 2), dict(padding=1)),
    ((2, 4, 7, 6), (4, 2, 3, 3), dict(stride=2, padding=1, dilation=2, groups=2)),
    ((2, 11, 4, 4), (2, 11, 5, 5), dict(padding=2)),
    ((3, 5, 2, 3), (4, 5, 1, 1), {}),
]


@pytest.mark.parametrize("xs,ws,kw", GRADCHECK, ids=[str(i) for i in range(len(GRADCHECK))])
def test_gradcheck_float64(xs, ws, kw):
    rng = np.random.default_rng(4)
    x = dlcore.tensor(rng.standard_normal(xs), requires_grad=True)
    w = dlcore.tensor(rng.standard_normal(ws), requires_grad=True)
    b = dlcore.tensor(rng.standard_normal(ws[0]), requires_grad=True)
    assert dlcore.autograd.gradcheck(lambda a, c, d: dlcore.conv2d(a, c, d, **kw), (x, w, b), atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("xs,ws,kw", [((9, 32, 4, 4), (48, 32, 3, 3), dict(padding=1)),
                                      ((4, 24, 6, 6), (64, 12, 3, 3), dict(stride=2, padding=1, groups=2)),
                                      ((3, 12, 11, 11), (16, 12, 5, 5), dict(padding=2)),
                                      ((2, 16, 6, 16), (16, 16, 3, 3), dict(padding=1)),
                                      ((2, 16, 4, 8), (20, 16, 3, 3), dict(padding=1)),
                                      ((16, 16, 4, 4), (16, 16, 3, 3), dict(padding=1)),
                                      ((2, 16, 16, 32), (16, 16, 3, 3), dict(stride=2, padding=1))])
def test_float64_against_torch(xs, ws, kw):
    # float64 results of the chunked paths agree with torch's to rounding (sums of <= 300 terms)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = F.conv2d(tx, tw, **kw)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    dx, dw = dlcore.tensor(x, requires_grad=True), dlcore.tensor(w, requires_grad=True)
    y = dlcore.conv2d(dx, dw, **kw)
    y.backward(dlcore.tensor(g))
    for got, want in ((y.detach().numpy(), ty.detach().numpy()), (dx.grad.numpy(), tx.grad.numpy()),
                      (dw.grad.numpy(), tw.grad.numpy())):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xs,ws,kw", DIRECT_3D, ids=[str(i) for i in range(len(DIRECT_3D))])
def test_conv3d_direct_float64_against_torch(xs, ws, kw):
    # float64 sums of at most 2000 terms (forward, input grad) or N * outputs (weight grad):
    # the direct kernels' order of summation agrees with torch's to rounding
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = F.conv3d(tx, tw, tb, **kw)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    dx, dw, db = (dlcore.tensor(a, requires_grad=True) for a in (x, w, b))
    y = dlcore.conv3d(dx, dw, db, **kw)
    y.backward(dlcore.tensor(g))
    for got, want in ((y.detach().numpy(), ty.detach().numpy()), (dx.grad.numpy(), tx.grad.numpy()),
                      (dw.grad.numpy(), tw.grad.numpy()), (db.grad.numpy(), tb.grad.numpy())):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
