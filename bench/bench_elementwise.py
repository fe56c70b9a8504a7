"""Elementwise throughput on big tensors, dlcore vs PyTorch on the CPU, side by side.

add, exp and gelu on 16M float32 elements, written out-of-place as users write them
(`c = a + b`, `a.exp()`, `gelu(a)`), so each call allocates its output: this measures the
kernels and the caching allocator together. GB/s = (bytes read + bytes written) / time:
add moves 3 x 64 MB, exp and gelu 2 x 64 MB. Medians of several repetitions, 2 threads.

    python bench/bench_elementwise.py
"""
import statistics
import time

import numpy as np

import dlcore
from benchutil import cpu_name  # noqa: E402
import torch

THREADS = 2
N = 16 * 1024 * 1024
REPS = 5
ITERS = 6


def median_seconds(fn):
    """Median over REPS of the mean time per call of ITERS back-to-back calls."""
    out = fn()  # warm-up: the output block enters the allocator's cache
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        for _ in range(ITERS):
            out = fn()
        times.append((time.perf_counter() - t0) / ITERS)
    del out
    return statistics.median(times)


def main():
    dlcore.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal(N, dtype=np.float32)
    b_np = rng.standard_normal(N, dtype=np.float32)
    # Same input values for both libraries; each owns its copy in its own allocator.
    a, b = dlcore.from_numpy(a_np).clone(), dlcore.from_numpy(b_np).clone()
    ta, tb = torch.from_numpy(a_np).clone(), torch.from_numpy(b_np).clone()
    del a_np, b_np

    mb = N * 4 / 2**20
    cases = [
        ("add   c = a + b", 3, lambda: a + b, lambda: ta + tb),
        ("exp   a.exp()", 2, lambda: a.exp(), lambda: ta.exp()),
        ("gelu  gelu(a)", 2, lambda: dlcore.gelu(a), lambda: torch.nn.functional.gelu(ta)),
    ]
    print(f"elementwise float32, {N} elements ({mb:.0f} MB per tensor), out-of-place, "
          f"on {cpu_name()}, {THREADS} threads")
    print(f"dlcore {dlcore.__version__}, torch {torch.__version__}; median of {REPS} x {ITERS} calls; "
          "ratio = dlcore / torch GB/s (higher is better for dlcore)\n")
    header = f"{'op':<18} {'dlcore ms':>10} {'torch ms':>10} {'dlcore GB/s':>12} {'torch GB/s':>11} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, tensors_moved, ours_fn, ref_fn in cases:
        nbytes = tensors_moved * N * 4
        ref = median_seconds(ref_fn)
        try:
            ours = median_seconds(ours_fn)
        except Exception as e:  # report the op as failed and go on with the others
            print(f"{name:<18} {'failed':>10} {ref * 1e3:>10.2f}   ({type(e).__name__}: {e})")
            continue
        ours_gbs, ref_gbs = nbytes / ours / 1e9, nbytes / ref / 1e9
        print(f"{name:<18} {ours * 1e3:>10.2f} {ref * 1e3:>10.2f} {ours_gbs:>12.1f} {ref_gbs:>11.1f} "
              f"{ours_gbs / ref_gbs:>6.2f}x")


if __name__ == "__main__":
    main()
