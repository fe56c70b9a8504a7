"""Convolution benchmark: dlcore beside torch (same process, 2 threads, median times).

For each shape: forward, backward-data, backward-weight and the three together, in ms, and the
fwd+bwd GFLOP/s = 3 * 2*N*K*(C/groups)*taps*outputs / time. Both libraries get float32 NCHW
(NCDHW) tensors.
Rows marked [model] are the convolutions of training models (LeNet-5 on MNIST at batch 128, a
CIFAR ResNet-18 at batch 32, including its 1x1 stride-2 downsample convolutions; the 5x5x5 ones
of the small V-Net of bench_train.py, batch 2 at 32^3); they are timed the same way (input and
weight grads both computed; the V-Net's first layer takes no input grad in training, but is
timed like the others).
Usage: python bench/bench_conv.py [--reps N] [--quick] [--only SUBSTRING]
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import dlcore  # noqa: E402
from benchutil import cpu_name  # noqa: E402

# name, N, C, H, W, K, kernel, stride, pad, groups
SHAPES = [
    ("conv3x3 N32 C64 56x56 K64", 32, 64, 56, 56, 64, 3, 1, 1, 1),
    ("conv3x3/s2 N16 C64 56x56 K128", 16, 64, 56, 56, 128, 3, 2, 1, 1),
    ("depthwise3x3 N32 C128 28x28", 32, 128, 28, 28, 128, 3, 1, 1, 128),
    ("depthwise3x3 N32 C32 112x112", 32, 32, 112, 112, 32, 3, 1, 1, 32),
    ("depthwise3x3/s2 N32 C32 112x112", 32, 32, 112, 112, 32, 3, 2, 1, 32),
    ("conv1x1 N32 C256 14x14 K64", 32, 256, 14, 14, 64, 1, 1, 0, 1),
    # [model] LeNet-5, MNIST, batch 128
    ("[model] lenet c1 5x5 C1 28x28 K6", 128, 1, 28, 28, 6, 5, 1, 2, 1),
    ("[model] lenet c2 5x5 C6 14x14 K16", 128, 6, 14, 14, 16, 5, 1, 0, 1),
    # [model] ResNet-18 for CIFAR (32x32 input), batch 32
    ("[model] r18 3x3 C3 32x32 K64", 32, 3, 32, 32, 64, 3, 1, 1, 1),
    ("[model] r18 3x3 C64 32x32 K64", 32, 64, 32, 32, 64, 3, 1, 1, 1),
    ("[model] r18 3x3/s2 C64 32x32 K128", 32, 64, 32, 32, 128, 3, 2, 1, 1),
    ("[model] r18 1x1/s2 C64 32x32 K128", 32, 64, 32, 32, 128, 1, 2, 0, 1),
    ("[model] r18 3x3 C128 16x16 K128", 32, 128, 16, 16, 128, 3, 1, 1, 1),
    ("[model] r18 3x3/s2 C128 16x16 K256", 32, 128, 16, 16, 256, 3, 2, 1, 1),
    ("[model] r18 1x1/s2 C128 16x16 K256", 32, 128, 16, 16, 256, 1, 2, 0, 1),
    ("[model] r18 3x3 C256 8x8 K256", 32, 256, 8, 8, 256, 3, 1, 1, 1),
    ("[model] r18 3x3/s2 C256 8x8 K512", 32, 256, 8, 8, 512, 3, 2, 1, 1),
    ("[model] r18 1x1/s2 C256 8x8 K512", 32, 256, 8, 8, 512, 1, 2, 0, 1),
    ("[model] r18 3x3 C512 4x4 K512", 32, 512, 4, 4, 512, 3, 1, 1, 1),
    # [model] small V-Net (base 8, depth 3), batch 2, 32^3 volumes: 3-d, (D, H, W) for (H, W)
    ("[model] vnet 5x5x5 C1 32^3 K8", 2, 1, (32, 32, 32), None, 8, 5, 1, 2, 1),
    ("[model] vnet 5x5x5 C16 32^3 K16", 2, 16, (32, 32, 32), None, 16, 5, 1, 2, 1),
    ("[model] vnet 5x5x5 C16 16^3 K16", 2, 16, (16, 16, 16), None, 16, 5, 1, 2, 1),
    ("[model] vnet 5x5x5 C32 16^3 K32", 2, 32, (16, 16, 16), None, 32, 5, 1, 2, 1),
    ("[model] vnet 5x5x5 C32 8^3 K32", 2, 32, (8, 8, 8), None, 32, 5, 1, 2, 1),
    ("[model] vnet 5x5x5 C64 8^3 K64", 2, 64, (8, 8, 8), None, 64, 5, 1, 2, 1),
    ("[model] vnet 5x5x5 C64 4^3 K64", 2, 64, (4, 4, 4), None, 64, 5, 1, 2, 1),
]


def spatial(shape):
    """The input's spatial sizes: (H, W), or (D, H, W) for the 3-d rows."""
    _, _, _, h, w = shape[:5]
    return tuple(h) if isinstance(h, tuple) else (h, w)


def median_ms(fn, reps):
    fn()  # warm-up (allocations, packing buffers)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def bench(lib, shape, reps):
    _, n, c, _, _, k, r, s, p, g = shape
    sizes = spatial(shape)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c) + sizes, dtype=np.float32)
    wt = rng.standard_normal((k, c // g) + (r,) * len(sizes), dtype=np.float32) * 0.1
    if lib == "torch":
        conv = F.conv2d if len(sizes) == 2 else F.conv3d
        tx, tw = torch.from_numpy(x), torch.from_numpy(wt)
        y = conv(tx, tw, stride=s, padding=p, groups=g)
        gy = torch.ones_like(y)
        fwd = lambda: conv(tx, tw, stride=s, padding=p, groups=g)  # noqa: E731
        xr, wr = tx.clone().requires_grad_(True), tw.clone().requires_grad_(True)
        xw = tx.clone().requires_grad_(True)

        def bwd_data():
            out = conv(xw, tw, stride=s, padding=p, groups=g)
            torch.autograd.grad(out, xw, gy)

        def bwd_weight():
            out = conv(tx, wr, stride=s, padding=p, groups=g)
            torch.autograd.grad(out, wr, gy)

        def all3():
            out = conv(xr, wr, stride=s, padding=p, groups=g)
            torch.autograd.grad(out, [xr, wr], gy)
    else:
        conv = dlcore.conv2d if len(sizes) == 2 else dlcore.conv3d
        dx, dw = dlcore.tensor(x), dlcore.tensor(wt)
        y = conv(dx, dw, stride=s, padding=p, groups=g)
        gy = dlcore.ones(list(y.shape))
        fwd = lambda: conv(dx, dw, stride=s, padding=p, groups=g)  # noqa: E731
        xr, wr = dlcore.tensor(x, requires_grad=True), dlcore.tensor(wt, requires_grad=True)
        xw = dlcore.tensor(x, requires_grad=True)

        def bwd_data():
            out = conv(xw, dw, stride=s, padding=p, groups=g)
            dlcore.autograd.grad(out, xw, gy)

        def bwd_weight():
            out = conv(dx, wr, stride=s, padding=p, groups=g)
            dlcore.autograd.grad(out, wr, gy)

        def all3():
            out = conv(xr, wr, stride=s, padding=p, groups=g)
            dlcore.autograd.grad(out, [xr, wr], gy)
    t_f = median_ms(fwd, reps)
    # bwd-data / bwd-weight alone: the timed call includes a forward, which is subtracted.
    t_d = max(median_ms(bwd_data, reps) - t_f, 1e-3)
    t_w = max(median_ms(bwd_weight, reps) - t_f, 1e-3)
    t_all = median_ms(all3, reps)
    return t_f, t_d, t_w, t_all


def flops(shape):
    _, n, c, _, _, k, r, s, p, g = shape
    sizes = spatial(shape)
    outputs = int(np.prod([(e + 2 * p - r) // s + 1 for e in sizes]))
    return 2 * n * k * (c // g) * r ** len(sizes) * outputs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one rep per timing")
    ap.add_argument("--only", default="", help="run only the shapes whose name contains this")
    args = ap.parse_args()
    reps = 1 if args.quick else args.reps
    torch.set_num_threads(2)
    dlcore.set_num_threads(2)
    print(f"conv2d/conv3d float32, {cpu_name()}, 2 threads, median of {reps}; times in ms, GFLOP/s for fwd+bwd")
    print(f"{'shape':36s} {'lib':6s} {'fwd':>8s} {'bwd-data':>9s} {'bwd-wt':>8s} {'fwd+bwd':>9s} {'GFLOP/s':>8s}"
          f" {'vs torch':>9s}")
    for shape in SHAPES:
        if args.only not in shape[0]:
            continue
        res = {lib: bench(lib, shape, reps) for lib in ("torch", "dlcore")}
        for lib in ("torch", "dlcore"):
            t_f, t_d, t_w, t_all = res[lib]
            gf = 3 * flops(shape) / (t_all * 1e-3) / 1e9
            ratio = res["torch"][3] / t_all
            print(f"{shape[0]:36s} {lib:6s} {t_f:8.2f} {t_d:9.2f} {t_w:8.2f} {t_all:9.2f} {gf:8.1f} {ratio:8.2f}x")


if __name__ == "__main__":
    main()
