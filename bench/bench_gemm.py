"""Square matrix products (sgemm), dlcore vs numpy on the CPU, side by side in one run.

C = A @ B for n x n float32 matrices, n = 256, 1024, 2048. GFLOP/s = 2 n^3 / time. Each
figure is the median of several repetitions after warm-up calls; both libraries use the
same number of threads (numpy's BLAS is limited through its environment variables, which
are set before numpy is imported).

    python bench/bench_gemm.py [--threads 2] [--dtype float32] [--sizes 256 1024 2048] [--best]

--best reports the fastest repetition instead of the median (and runs more of them, the two
libraries alternating): on cores shared with other busy processes the median mostly
measures the load, the fastest run what the code does when it has the cores.
"""
import argparse
import os
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048])
    p.add_argument("--best", action="store_true", help="fastest repetition instead of the median")
    return p.parse_args()


ARGS = parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)

import dlcore  # noqa: E402
from benchutil import cpu_name, median_seconds  # noqa: E402


def blas_name():
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: no dict mode
        return "numpy's BLAS"


def reps_for(n):
    return 15 if n <= 512 else 7 if n <= 1024 else 5


def best_seconds(fns, reps):
    """Fastest time of each function in `fns`, called in turn `reps` times after warm-up."""
    for fn in fns:
        fn()
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            time.sleep(0.02)
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main():
    dlcore.set_num_threads(ARGS.threads)
    rng = np.random.default_rng(0)
    print(f"gemm {ARGS.dtype}, C = A @ B square, on {cpu_name()}, {ARGS.threads} threads, "
          f"dlcore kernel build: {dlcore._C._cpu_capability()}")
    stat = "fastest" if ARGS.best else "median"
    print(f"numpy {np.__version__} ({blas_name()}); {stat} of several repetitions; "
          "ratio = dlcore / numpy GFLOP/s (higher is better for dlcore)\n")
    header = f"{'n':>6} {'dlcore ms':>10} {'numpy ms':>10} {'dlcore GFLOP/s':>15} {'numpy GFLOP/s':>14} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for n in ARGS.sizes:
        a_np = rng.standard_normal((n, n)).astype(ARGS.dtype)
        b_np = rng.standard_normal((n, n)).astype(ARGS.dtype)
        a, b = dlcore.from_numpy(a_np).clone(), dlcore.from_numpy(b_np).clone()
        if ARGS.best:
            ours, ref = best_seconds([lambda: dlcore.mm(a, b), lambda: a_np @ b_np], 4 * reps_for(n))
        else:
            ours = median_seconds(lambda: dlcore.mm(a, b), reps_for(n))
            ref = median_seconds(lambda: a_np @ b_np, reps_for(n))
        flops = 2.0 * n ** 3
        print(f"{n:>6} {ours * 1e3:>10.2f} {ref * 1e3:>10.2f} {flops / ours / 1e9:>15.1f} "
              f"{flops / ref / 1e9:>14.1f} {ref / ours:>6.2f}x")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
