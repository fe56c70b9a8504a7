"""dlcore's CUDA elementwise, reduction and GEMM kernels against PyTorch on the same GPU.

Each row runs one op on 64M float32 elements (256 MB per tensor, far beyond L2, so no flush is
needed) in dlcore and in PyTorch, times every call with CUDA events on the default stream
(both libraries launch there), and reports the medians, the effective bandwidth (bytes read +
written / time) and dlcore's time relative to PyTorch's. Results are checked against PyTorch
before timing. A second table times square matrix products (float32 with TF32 off in PyTorch,
and bfloat16) in TFLOP/s.

    python3 bench/gpu/bench_kernels.py [--n 67108864] [--reps 30] [--gemm 4096] [--out table.md]
"""
import argparse
import statistics
import sys

import numpy as np
import torch

import dlcore


def median_ms(fn, reps, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def to_numpy(t):
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return t.cpu().numpy()


def gemm_rows(side, reps, lines):
    """Appends the GEMM table to `lines`; returns True when a product disagrees with torch's."""
    torch.backends.cuda.matmul.allow_tf32 = False  # the SIMT kernel is compared with true fp32
    rng = np.random.default_rng(1)
    host_a = rng.standard_normal((side, side), dtype=np.float32)
    host_b = rng.standard_normal((side, side), dtype=np.float32)
    lines += ["", f"GEMM {side}x{side}x{side}, median of {reps} calls",
              "", "| dtype | dlcore ms | torch ms | dlcore / torch time | dlcore TFLOP/s | torch TFLOP/s |",
              "|---|---:|---:|---:|---:|---:|"]
    failed = False
    flops = 2.0 * side ** 3
    for name, dd, td in (("float32", dlcore.float32, torch.float32), ("bfloat16", dlcore.bfloat16, torch.bfloat16)):
        da = dlcore.tensor(host_a, device="cuda").to(dd)
        db = dlcore.tensor(host_b, device="cuda").to(dd)
        ta = torch.from_numpy(host_a).cuda().to(td)
        tb = torch.from_numpy(host_b).cuda().to(td)
        got = to_numpy((da @ db).float())
        want = to_numpy((ta.float() @ tb.float()))
        # sums of `side` products of unit normals: errors ~ sqrt(side) * u * |terms|
        if not np.allclose(got, want, rtol=0, atol=(1e-3 if name == "float32" else 0.5)):
            failed = True
            print(f"bench_kernels: gemm {name}: dlcore and torch disagree (max abs diff {np.abs(got - want).max()})")
        ms_d = median_ms(lambda: da @ db, reps)
        ms_t = median_ms(lambda: ta @ tb, reps)
        lines.append(f"| {name} | {ms_d:.3f} | {ms_t:.3f} | {ms_d / ms_t:.2f} | "
                     f"{flops / ms_d / 1e9:.1f} | {flops / ms_t / 1e9:.1f} |")
    return failed


def mlp_row(reps, lines):
    """Appends the time of one MLP 784-256-128-10 training step (batch 512, SGD with momentum:
    forward, cross entropy, backward, step) in both libraries."""
    import dlcore.nn as dnn
    rng = np.random.default_rng(2)
    x_np = rng.standard_normal((512, 784), dtype=np.float32)
    y_np = rng.integers(0, 10, size=512)
    dm = dnn.Sequential(dnn.Linear(784, 256), dnn.ReLU(), dnn.Linear(256, 128), dnn.ReLU(), dnn.Linear(128, 10))
    dm.to("cuda")
    dopt = dlcore.optim.SGD(dm.parameters(), lr=0.01, momentum=0.9)
    dx, dy = dlcore.tensor(x_np, device="cuda"), dlcore.tensor(y_np, device="cuda")
    tm = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                             torch.nn.Linear(128, 10)).cuda()
    topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.from_numpy(x_np).cuda(), torch.from_numpy(y_np).cuda()

    def dstep():
        loss = dnn.functional.cross_entropy(dm(dx), dy)
        dopt.zero_grad()
        loss.backward()
        dopt.step()

    def tstep():
        loss = torch.nn.functional.cross_entropy(tm(tx), ty)
        topt.zero_grad()
        loss.backward()
        topt.step()

    ms_d, ms_t = median_ms(dstep, reps), median_ms(tstep, reps)
    lines += ["", "| training step | dlcore ms | torch ms | dlcore / torch time |", "|---|---:|---:|---:|",
              f"| MLP 784-256-128-10, batch 512, SGD momentum | {ms_d:.3f} | {ms_t:.3f} | {ms_d / ms_t:.2f} |"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=64 * 2**20, help="elements per tensor (default 64M)")
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--gemm", type=int, default=4096, help="side of the square GEMMs (0: skip them)")
    p.add_argument("--out", help="also write the table (markdown) here")
    args = p.parse_args()
    if not dlcore.cuda.is_available() or not torch.cuda.is_available():
        sys.exit("bench_kernels: needs a GPU visible to both dlcore and PyTorch")

    n = args.n
    side = int(round(n ** 0.5))
    rng = np.random.default_rng(0)
    host_a = rng.standard_normal(n, dtype=np.float32)
    host_b = rng.standard_normal(n, dtype=np.float32)
    da, db = dlcore.tensor(host_a, device="cuda"), dlcore.tensor(host_b, device="cuda")
    ta, tb = torch.from_numpy(host_a).cuda(), torch.from_numpy(host_b).cuda()
    sq = side * side
    da2, db2 = da[:sq].view(side, side), db[:sq].view(side, side)
    ta2, tb2 = ta[:sq].view(side, side), tb[:sq].view(side, side)

    f32 = 4
    # name, dlcore fn, torch fn, bytes moved, tolerance
    rows = [
        ("add", lambda: dlcore.add(da, db), lambda: torch.add(ta, tb), 3 * n * f32, 0),
        ("exp", lambda: dlcore.exp(da), lambda: torch.exp(ta), 2 * n * f32, 2e-6),
        ("gelu", lambda: dlcore.gelu(da), lambda: torch.nn.functional.gelu(ta), 2 * n * f32, 2e-6),
        ("add, a transposed", lambda: dlcore.add(da2.t(), db2), lambda: torch.add(ta2.t(), tb2), 3 * sq * f32, 0),
        ("sum (all)", lambda: dlcore.sum(da), lambda: torch.sum(ta), n * f32, 1e-4),
        ("sum (rows of %d)" % side, lambda: dlcore.sum(da2, 1), lambda: torch.sum(ta2, 1), sq * f32, 1e-4),
    ]

    name_d, name_t = dlcore.cuda.get_device_name(), torch.cuda.get_device_name()
    lines = [
        f"dlcore CUDA kernels vs PyTorch {torch.__version__} on {name_d}"
        + ("" if name_d == name_t else f" (torch sees {name_t})"),
        f"float32, {n:,} elements per tensor, median of {args.reps} calls timed with CUDA events",
        "",
        "| op | dlcore ms | torch ms | dlcore / torch time | dlcore GB/s | torch GB/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    failed = False
    for name, fd, ft, nbytes, rtol in rows:
        got, want = to_numpy(fd()), to_numpy(ft())
        scale = max(1.0, float(np.abs(want).max()))
        if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=max(rtol, 1e-7) * scale):
            failed = True
            print(f"bench_kernels: {name}: dlcore and torch disagree (max abs diff "
                  f"{np.abs(got.astype(np.float64) - want).max() if got.shape == want.shape else 'shape'})")
        ms_d = median_ms(fd, args.reps)
        ms_t = median_ms(ft, args.reps)
        lines.append(f"| {name} | {ms_d:.3f} | {ms_t:.3f} | {ms_d / ms_t:.2f} | "
                     f"{nbytes / ms_d / 1e6:.0f} | {nbytes / ms_t / 1e6:.0f} |")
    if args.gemm:
        failed |= gemm_rows(args.gemm, args.reps, lines)
    mlp_row(args.reps, lines)
    lines.append("")
    lines.append(f"dlcore allocator: {dlcore.cuda.memory_stats()}")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
