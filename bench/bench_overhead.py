"""Per-op eager overhead, dlcore vs PyTorch on the CPU, side by side in one run.

Tiny tensors, so the time is the cost of crossing into C++, checking, allocating and (with
requires_grad) recording the autograd node, not arithmetic:
  add          a + b on 1-element float32 tensors                        (us/op)
  add (grad)   the same with a.requires_grad = True                      (us/op)
  linear step  Linear(16, 16) forward on a batch of 4, sum, backward     (us/step)
Each figure is the median of several repetitions of many iterations, 2 threads.

    python bench/bench_overhead.py
"""
import statistics
import time

import dlcore
from benchutil import cpu_name  # noqa: E402
import torch

THREADS = 2
REPS = 7


def median_us(fn, iters, reps=REPS):
    """Median over `reps` of the mean time per call (us) of `iters` back-to-back calls."""
    for _ in range(max(iters // 10, 10)):  # warm-up: caches, allocator pools, lazy init
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        times.append((time.perf_counter() - t0) / iters * 1e6)
    return statistics.median(times)


def add_case(lib, requires_grad):
    a = lib.ones(1, requires_grad=requires_grad)
    b = lib.ones(1)
    return lambda: a + b


def linear_case(lib, fused):
    lib.manual_seed(0)
    x = lib.randn(4, 16)
    w = lib.randn(16, 16, requires_grad=True)
    b = lib.zeros(16, requires_grad=True)
    if fused:
        lin = dlcore._C.linear if lib is dlcore else torch.nn.functional.linear

        def step():
            lin(x, w, b).sum().backward()
    else:
        def step():
            (x @ w.t() + b).sum().backward()
    return step


def main():
    dlcore.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)
    try:  # the fused op when dlcore has it, else the same three ops on both sides
        dlcore._C.linear(dlcore.ones(4, 16), dlcore.ones(16, 16), dlcore.ones(16))
        fused = True
    except Exception:
        fused = False
    linear_form = "linear(x, w, b)" if fused else "x @ w.t() + b"
    cases = [
        ("add, 1 element", "us/op", lambda lib: add_case(lib, False), 20000),
        ("add, 1 element, requires_grad", "us/op", lambda lib: add_case(lib, True), 20000),
        (f"Linear(16,16) b=4: {linear_form}, sum, backward", "us/step", lambda lib: linear_case(lib, fused), 2000),
    ]
    print(f"eager overhead on {cpu_name()}, {THREADS} threads; dlcore {dlcore.__version__}, torch {torch.__version__}")
    print(f"median of {REPS} repetitions; ratio = dlcore / torch (lower is better for dlcore)\n")
    header = f"{'case':<52} {'unit':>7} {'dlcore':>9} {'torch':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, unit, make, iters in cases:
        ref = median_us(make(torch), iters)
        try:
            ours = median_us(make(dlcore), iters)
        except Exception as e:  # report the case as failed and go on with the others
            print(f"{name:<52} {unit:>7} {'failed':>9} {ref:>9.2f} {'-':>7}   ({type(e).__name__}: {e})")
            continue
        print(f"{name:<52} {unit:>7} {ours:>9.2f} {ref:>9.2f} {ours / ref:>6.2f}x")


if __name__ == "__main__":
    main()
