"""Pooling and interpolate, dlcore vs PyTorch on the CPU, side by side (float32, NCHW).

Forward alone and forward + backward (output.backward(grad) with a fixed upstream gradient,
timing the input-gradient kernel and the autograd bookkeeping together) for:
  max_pool2d 3x3 s2 p1 and avg_pool2d 2x2 on N32 C64 112x112,
  adaptive_avg_pool2d to 1 (global average pooling) on N32 C512 7x7,
  interpolate nearest x2 and bilinear x2 on N16 C64 56x56.
Medians of several repetitions, 2 threads; ratio = dlcore time / torch time (< 1: faster).

    python bench/bench_pool.py
"""
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import dlcore
from benchutil import cpu_name

THREADS = 2
REPS = 7


def median_seconds(fn, iters):
    fn()
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        times.append((time.perf_counter() - t0) / iters)
    return statistics.median(times)


CASES = [
    ("max_pool2d 3x3 s2 p1", (32, 64, 112, 112), "max_pool2d", dict(kernel_size=3, stride=2, padding=1), 3),
    ("avg_pool2d 2x2", (32, 64, 112, 112), "avg_pool2d", dict(kernel_size=2), 3),
    ("adaptive_avg_pool2d 1", (32, 512, 7, 7), "adaptive_avg_pool2d", dict(output_size=1), 20),
    ("nearest x2", (16, 64, 56, 56), "interpolate", dict(scale_factor=2, mode="nearest"), 5),
    ("bilinear x2", (16, 64, 56, 56), "interpolate", dict(scale_factor=2, mode="bilinear"), 5),
]


def main():
    dlcore.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    print(f"pooling / interpolate, float32, {THREADS} threads, {cpu_name()}; times in ms (median of {REPS})")
    print(f"{'case':24s} {'shape':>20s} | {'fwd dl':>8s} {'fwd torch':>9s} {'ratio':>6s} | "
          f"{'fwd+bwd dl':>10s} {'torch':>8s} {'ratio':>6s}")
    for label, shape, name, kw, iters in CASES:
        x_np = rng.standard_normal(shape, dtype=np.float32)
        xd = dlcore.from_numpy(x_np).clone()
        xt = torch.from_numpy(x_np).clone()
        fd, ft = getattr(dlcore, name), getattr(F, name)
        g_np = rng.standard_normal(tuple(ft(xt, **kw).shape), dtype=np.float32)
        gd, gt = dlcore.from_numpy(g_np).clone(), torch.from_numpy(g_np).clone()
        fwd_d = median_seconds(lambda: fd(xd, **kw), iters)
        fwd_t = median_seconds(lambda: ft(xt, **kw), iters)
        xd.requires_grad_(True)
        xt.requires_grad_(True)

        def step_d():
            xd.grad = None
            fd(xd, **kw).backward(gd)

        def step_t():
            xt.grad = None
            ft(xt, **kw).backward(gt)

        both_d = median_seconds(step_d, iters)
        both_t = median_seconds(step_t, iters)
        print(f"{label:24s} {'x'.join(map(str, shape)):>20s} | {fwd_d * 1e3:8.2f} {fwd_t * 1e3:9.2f} "
              f"{fwd_d / fwd_t:6.2f} | {both_d * 1e3:10.2f} {both_t * 1e3:8.2f} {both_d / both_t:6.2f}")


if __name__ == "__main__":
    main()
