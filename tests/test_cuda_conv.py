"""CUDA convolutions (cuda/conv.cu): conv1d/2d/3d and conv_transpose1d/2d/3d, forward and the
input, weight and bias grads through autograd, on the GPU against the CPU kernels.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerance: every result is a sum of at most L products (forward: C/groups * kernel volume + 1
with the bias; input grad: K/groups * kernel volume; weight and bias grads: N * the spatial
size reduced over). The GPU (GEMM in float, float64 for float64) and the CPU each differ from
the exact sum by at most L * u * sum|terms| (Higham's bound for recursive summation, u = 2^-24
or 2^-53), so each element is checked against 2 * L * u * sum|terms| (plus 1e-30), with
sum|terms| computed exactly by the same float64 convolution of |x|, |w|, |bias| and |grad|.
A wrong tap, channel or image moves a result by about one |term|, far outside the bound.
Before each run the allocator's cache is seeded with NaN-filled blocks of the outputs' sizes,
so an element a kernel fails to write shows up as NaN.
"""
import math

import numpy as np
import pytest

import dlcore

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"
F32, F64 = dlcore.float32, dlcore.float64
UNIT = {F32: 2.0**-24, F64: 2.0**-53}
F = dlcore.nn.functional

# (op, x shape, w shape, kwargs)
CASES = [
    ("conv1d", (3, 5, 17), (7, 5, 3), dict(padding=1)),
    ("conv1d", (2, 6, 29), (4, 3, 4), dict(stride=3, padding=2, dilation=2, groups=2)),
    ("conv2d", (2, 3, 11, 13), (8, 3, 3, 3), dict(padding=1)),
    ("conv2d", (3, 8, 15, 12), (6, 4, 3, 5), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2)),
    ("conv2d", (2, 4, 8, 9), (5, 4, 4, 4), dict(padding="same")),
    ("conv2d", (1, 3, 5, 5), (2, 3, 5, 5), {}),  # one output position
    ("conv2d", (5, 7, 1, 9), (3, 7, 1, 2), dict(stride=2)),
    # depthwise, and depthwise with a channel multiplier
    ("conv2d", (2, 12, 10, 9), (12, 1, 3, 3), dict(padding=1, groups=12)),
    ("conv2d", (2, 6, 9, 9), (12, 1, 5, 5), dict(stride=2, padding=2, groups=6)),
    # 1x1: read in place (stride 1, no padding, with and without groups) and through im2col
    ("conv2d", (4, 16, 7, 9), (24, 16, 1, 1), {}),
    ("conv2d", (2, 8, 5, 6), (12, 4, 1, 1), dict(groups=2)),
    ("conv2d", (3, 8, 9, 9), (5, 8, 1, 1), dict(stride=2)),
    ("conv2d", (3, 8, 9, 9), (5, 8, 1, 1), dict(padding=1)),
    # the weight grad's reduction split into segments, evenly and with a tail
    ("conv2d", (64, 3, 16, 16), (8, 3, 3, 3), dict(padding=1)),
    ("conv2d", (37, 3, 15, 13), (8, 3, 3, 3), dict(padding=1)),
    ("conv3d", (2, 4, 5, 6, 7), (6, 4, 3, 3, 3), dict(padding=1)),
    ("conv3d", (1, 6, 7, 6, 5), (4, 3, 2, 3, 2), dict(stride=(2, 1, 2), padding=(0, 1, 1), dilation=(1, 2, 1),
                                                       groups=2)),
    ("conv_transpose1d", (2, 6, 9), (6, 4, 3), dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose2d", (2, 8, 5, 6), (8, 3, 4, 4), dict(stride=2, padding=1, groups=2)),
    ("conv_transpose2d", (3, 4, 6, 5), (4, 5, 3, 3), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2))),
    ("conv_transpose2d", (2, 3, 5, 5), (3, 4, 3, 3), dict(stride=2, dilation=2)),
    ("conv_transpose3d", (1, 4, 3, 4, 3), (4, 2, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    # ViT-style patchify (kernel == stride), with sizes the patches do not divide
    ("conv2d", (4, 3, 32, 32), (48, 3, 8, 8), dict(stride=8)),
    ("conv2d", (2, 3, 30, 34), (16, 3, 16, 16), dict(stride=16)),
]

# Larger than one workspace chunk (256 MiB of columns): several chunks of whole images, and
# one image's output positions split over chunks (2-d and 3-d).
BIG_CASES = [
    ("conv2d", (40, 32, 48, 48), (8, 32, 5, 5), dict(padding=2)),
    ("conv2d", (1, 64, 208, 208), (8, 64, 5, 5), dict(padding=2)),
    ("conv3d", (1, 4, 64, 64, 64), (2, 4, 5, 5, 5), dict(padding=2)),
]


def spatial(op):
    return int(op[-2])


def transposed(op):
    return op.startswith("conv_transpose")


def run(device, dtype, op, x_np, w_np, b_np, g_np, kwargs, poison=True):
    """y, grad x, grad w, grad bias (float64 numpy) of op on `device`; g_np is the incoming grad."""
    x = dlcore.tensor(x_np, dtype=dtype, device=device, requires_grad=True)
    w = dlcore.tensor(w_np, dtype=dtype, device=device, requires_grad=True)
    b = None if b_np is None else dlcore.tensor(b_np, dtype=dtype, device=device, requires_grad=True)
    if poison:
        seed_nan([g_np.shape, x_np.shape, w_np.shape] + ([] if b_np is None else [b_np.shape]), dtype, device)
    y = getattr(F, op)(x, w, b, **kwargs)
    if poison:
        seed_nan([x_np.shape, w_np.shape] + ([] if b_np is None else [b_np.shape]), dtype, device)
    y.backward(dlcore.tensor(g_np, dtype=dtype, device=device))
    out = [y.detach(), x.grad, w.grad] + ([] if b is None else [b.grad])
    return [t.cpu().numpy().astype(np.float64) for t in out]


def seed_nan(shapes, dtype, device):
    """Leaves freed NaN-filled blocks of these sizes in the allocator's cache."""
    blocks = [dlcore.full(s, float("nan"), dtype=dtype, device=device) for s in shapes]
    del blocks


def reduction_lengths(op, x_shape, w_shape, y_shape, groups):
    """L for y, grad x, grad w and grad bias (see the module docstring)."""
    taps = math.prod(w_shape[2:])
    n = x_shape[0]
    ly = x_shape[1] // groups * taps + 1
    lx = y_shape[1] // groups * taps
    lw = n * math.prod(x_shape[2:] if transposed(op) else y_shape[2:])
    lb = n * math.prod(y_shape[2:])
    return [ly, lx, lw, lb]


def held(a, dtype):
    """The float64 values a tensor of `dtype` holds for numpy array `a`."""
    return dlcore.tensor(a, dtype=dtype).numpy().astype(np.float64)


def check_case(op, x_shape, w_shape, kwargs, dtype, rng, bias=True, integers=False):
    """Checks op on DEVICE against the CPU. With integers, the inputs are small integers whose
    products and sums are exact in float32 (|sums| < 2^24): results must then be equal, so a
    single dropped or repeated term fails, however long the sum."""
    def draw(shape):
        return held(rng.integers(-3, 4, size=shape).astype(np.float64) if integers else
                    rng.uniform(-1, 1, size=shape), dtype)

    x, w = draw(x_shape), draw(w_shape)
    cout = w_shape[1] * kwargs.get("groups", 1) if transposed(op) else w_shape[0]
    b = draw((cout,)) if bias else None
    y_shape = tuple(getattr(F, op)(dlcore.zeros(x_shape), dlcore.zeros(w_shape), None, **kwargs).shape)
    g = draw(y_shape)
    got = run(DEVICE, dtype, op, x, w, b, g, kwargs)
    want = run("cpu", dtype, op, x, w, b, g, kwargs, poison=False)
    names = ["y", "grad x", "grad w", "grad bias"]
    if integers:
        for name, gv, wv in zip(names, got, want):
            np.testing.assert_array_equal(gv, wv, err_msg=name)
        return
    terms = run("cpu", F64, op, np.abs(x), np.abs(w), None if b is None else np.abs(b), np.abs(g), kwargs,
                poison=False)
    lengths = reduction_lengths(op, x_shape, w_shape, y_shape, kwargs.get("groups", 1))
    for name, gv, wv, tv, length in zip(names, got, want, terms, lengths):
        assert gv.shape == wv.shape, name
        assert np.isfinite(gv).all(), f"{name}: unwritten or non-finite elements"
        bound = 2 * length * UNIT[dtype] * tv + 1e-30
        err = np.abs(gv - wv)
        assert (err <= bound).all(), f"{name}: error {np.max(err / bound):.2f}x the bound"


def case_id(case):
    op, xs, ws, kw = case
    return f"{op}-x{list(xs)}-w{list(ws)}-" + ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("dtype,integers", [(F32, False), (F64, False), (F32, True)],
                         ids=["float32", "float64", "float32-integers"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conv_matches_cpu(case, dtype, integers, rng):
    op, x_shape, w_shape, kwargs = case
    check_case(op, x_shape, w_shape, kwargs, dtype, rng, integers=integers)


@pytest.mark.parametrize("case", CASES[:6:2] + CASES[16:18], ids=case_id)
def test_conv_without_bias(case, rng):
    op, x_shape, w_shape, kwargs = case
    check_case(op, x_shape, w_shape, kwargs, F32, rng, bias=False)


@pytest.mark.parametrize("case", BIG_CASES, ids=case_id)
def test_conv_larger_than_one_chunk(case, rng):
    op, x_shape, w_shape, kwargs = case
    check_case(op, x_shape, w_shape, kwargs, F32, rng, integers=True)


@pytest.mark.parametrize("integers", [False, True], ids=["uniform", "integers"])
def test_vit_patch_embedding(integers, rng):
    # ViT-tiny's patch embedding: 16x16 patches of a 224x224 image into 192 channels.
    check_case("conv2d", (2, 3, 224, 224), (192, 3, 16, 16), dict(stride=16), F32, rng, integers=integers)


def test_only_some_grads(rng):
    # Only the weight's grad (no input grad kernel), then only the input's (no weight grad).
    x_np = rng.uniform(-1, 1, size=(3, 4, 9, 8))
    w_np = rng.uniform(-1, 1, size=(6, 4, 3, 3))
    g_np = rng.uniform(-1, 1, size=(3, 6, 9, 8))
    for x_grad in (False, True):
        grads = {}
        for dev in (DEVICE, "cpu"):
            x = dlcore.tensor(x_np, dtype=F32, device=dev, requires_grad=x_grad)
            w = dlcore.tensor(w_np, dtype=F32, device=dev, requires_grad=not x_grad)
            F.conv2d(x, w, padding=1).backward(dlcore.tensor(g_np, dtype=F32, device=dev))
            assert (x.grad is None) != x_grad and (w.grad is None) == x_grad
            grads[dev] = (x if x_grad else w).grad.cpu().numpy()
        # sums of at most L = 216 terms (weight grad: 3 images x 72 positions) of size < 1
        np.testing.assert_allclose(grads[DEVICE], grads["cpu"], rtol=0, atol=2 * 216 * 2.0**-24 * 216)


def test_deterministic(rng):
    # Several chunks of images and a split weight-grad reduction: two runs agree bit for bit.
    case = ("conv2d", (37, 3, 15, 13), (8, 3, 3, 3), dict(padding=1, stride=(1, 2)))
    x = rng.uniform(-1, 1, size=case[1])
    w = rng.uniform(-1, 1, size=case[2])
    b = rng.uniform(-1, 1, size=(8,))
    g = rng.uniform(-1, 1, size=(37, 8, 15, 7))
    first = run(DEVICE, F32, case[0], x, w, b, g, case[3])
    second = run(DEVICE, F32, case[0], x, w, b, g, case[3])
    for a, c in zip(first, second):
        np.testing.assert_array_equal(a, c)


def test_empty_batch_and_unbatched(rng):
    x = dlcore.zeros((0, 3, 8, 8), device=DEVICE, requires_grad=True)
    w = dlcore.tensor(rng.uniform(-1, 1, size=(4, 3, 3, 3)), dtype=F32, device=DEVICE, requires_grad=True)
    b = dlcore.tensor(rng.uniform(-1, 1, size=(4,)), dtype=F32, device=DEVICE, requires_grad=True)
    y = F.conv2d(x, w, b, padding=1)
    assert tuple(y.shape) == (0, 4, 8, 8)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 8, 8)
    np.testing.assert_array_equal(w.grad.cpu().numpy(), 0)
    np.testing.assert_array_equal(b.grad.cpu().numpy(), 0)
    # unbatched (C, L) input
    x_np = rng.uniform(-1, 1, size=(3, 20))
    w_np = rng.uniform(-1, 1, size=(5, 3, 4))
    got = F.conv1d(dlcore.tensor(x_np, dtype=F64, device=DEVICE), dlcore.tensor(w_np, dtype=F64, device=DEVICE),
                   stride=2)
    want = F.conv1d(dlcore.tensor(x_np, dtype=F64), dlcore.tensor(w_np, dtype=F64), stride=2)
    np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), rtol=1e-12, atol=1e-14)


def test_modules_on_device(rng):
    # nn.Conv2d moved to the device gives the CPU layer's outputs and grads.
    conv = dlcore.nn.Conv2d(3, 8, 3, stride=2, padding=1)
    x_np = rng.uniform(-1, 1, size=(4, 3, 17, 16)).astype(np.float32)
    outs = {}
    for dev in ("cpu", DEVICE):
        layer = dlcore.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        layer.load_state_dict(conv.state_dict())
        layer.to(dev)
        x = dlcore.tensor(x_np, device=dev, requires_grad=True)
        y = layer(x)
        (y * y).sum().backward()
        outs[dev] = [t.detach().cpu().numpy() for t in (y, x.grad, layer.weight.grad, layer.bias.grad)]
    # float32 sums of at most 4 * 81 terms (weight grad), each below 1 in size (|y| < 28)
    for got, want in zip(outs[DEVICE], outs["cpu"]):
        np.testing.assert_allclose(got, want, rtol=0, atol=2 * 324 * 2.0**-24 * 324 * 28)


def test_mixed_devices_raise(rng):
    if DEVICE == "cpu":
        pytest.skip("needs a second device")
    x = dlcore.tensor(rng.uniform(-1, 1, size=(1, 3, 8, 8)), dtype=F32, device=DEVICE)
    w = dlcore.tensor(rng.uniform(-1, 1, size=(4, 3, 3, 3)), dtype=F32)
    with pytest.raises(ValueError, match="conv2d: expected all tensors on one device"):
        F.conv2d(x, w)
