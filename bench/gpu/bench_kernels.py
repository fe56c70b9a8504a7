"""dlcore's CUDA kernels and training steps against PyTorch on the same GPU.

Each row runs one op on 64M float32 elements (256 MB per tensor, far beyond L2, so no flush is
needed) in dlcore and in PyTorch, times every call with CUDA events on the default stream
(both libraries launch there), and reports the medians, the effective bandwidth (bytes read +
written / time) and dlcore's time relative to PyTorch's. Results are checked against PyTorch
before timing; the "% of copy" column relates each op's bandwidth to the copy's (the issue's
goal for LayerNorm, softmax, GELU and Adam is >= 80%). Further tables: square matrix products
(float32 with TF32 off in PyTorch, TF32, bfloat16) in TFLOP/s; fused attention (B8 H16 T1024
D64, causal, bfloat16) forward + backward against PyTorch's SDPA; training steps of an MLP,
GPT-mini and ViT-tiny (the same architectures written in PyTorch, AdamW).

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
    cases = (("float32", dlcore.float32, torch.float32, False), ("tf32", dlcore.float32, torch.float32, True),
             ("bfloat16", dlcore.bfloat16, torch.bfloat16, False))
    for name, dd, td, tf32 in cases:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        if hasattr(dlcore, "backends"):
            dlcore.backends.cuda.matmul.allow_tf32 = tf32
        da = dlcore.tensor(host_a, device="cuda").to(dd)
        db = dlcore.tensor(host_b, device="cuda").to(dd)
        ta = torch.from_numpy(host_a).cuda().to(td)
        tb = torch.from_numpy(host_b).cuda().to(td)
        got = to_numpy((da @ db).float())
        want = to_numpy((ta.float() @ tb.float()))
        # sums of `side` products of unit normals: errors ~ sqrt(side) * u * |terms|
        if not np.allclose(got, want, rtol=0, atol={"float32": 1e-3, "tf32": 0.2, "bfloat16": 0.5}[name]):
            failed = True
            print(f"bench_kernels: gemm {name}: dlcore and torch disagree (max abs diff {np.abs(got - want).max()})")
        ms_d = median_ms(lambda: da @ db, reps)
        ms_t = median_ms(lambda: ta @ tb, reps)
        lines.append(f"| {name} | {ms_d:.3f} | {ms_t:.3f} | {ms_d / ms_t:.2f} | "
                     f"{flops / ms_d / 1e9:.1f} | {flops / ms_t / 1e9:.1f} |")
    torch.backends.cuda.matmul.allow_tf32 = False
    if hasattr(dlcore, "backends"):
        dlcore.backends.cuda.matmul.allow_tf32 = False
    return failed


def attention_rows(reps, lines):
    """Fused attention B8 H16 T1024 D64, causal, bfloat16: forward and forward + backward."""
    B, H, T, D = 8, 16, 1024, 64
    rng = np.random.default_rng(3)
    host = [rng.standard_normal((B, H, T, D), dtype=np.float32) for _ in range(3)]
    dq, dk, dv = (dlcore.tensor(h, device="cuda").to(dlcore.bfloat16).requires_grad_(True) for h in host)
    tq, tk, tv = (torch.from_numpy(h).cuda().to(torch.bfloat16).requires_grad_(True) for h in host)
    dg = dlcore.tensor(host[0], device="cuda").to(dlcore.bfloat16)
    tg = torch.from_numpy(host[0]).cuda().to(torch.bfloat16)
    dsdpa = dlcore.nn.functional.scaled_dot_product_attention
    tsdpa = torch.nn.functional.scaled_dot_product_attention
    got = to_numpy(dsdpa(dq, dk, dv, is_causal=True).float())
    want = to_numpy(tsdpa(tq, tk, tv, is_causal=True).float())
    failed = not np.allclose(got, want, rtol=2e-2, atol=2e-2)
    if failed:
        print(f"bench_kernels: attention: dlcore and torch disagree (max abs diff {np.abs(got - want).max()})")
    flops_fwd = 4.0 * B * H * T * T * D / 2  # causal: half the scores
    lines += ["", f"Fused attention B{B} H{H} T{T} D{D}, causal, bfloat16 (torch: SDPA), median of {reps} calls",
              "", "| pass | dlcore ms | torch ms | dlcore / torch time | dlcore TFLOP/s | torch TFLOP/s |",
              "|---|---:|---:|---:|---:|---:|"]

    def fwd_bwd(sdpa, q, k, v, g):
        def run():
            q.grad = k.grad = v.grad = None
            sdpa(q, k, v, is_causal=True).backward(g)
        return run

    for name, fd, ft, flops in (
            ("forward", lambda: dsdpa(dq, dk, dv, is_causal=True), lambda: tsdpa(tq, tk, tv, is_causal=True), flops_fwd),
            ("forward + backward", fwd_bwd(dsdpa, dq, dk, dv, dg), fwd_bwd(tsdpa, tq, tk, tv, tg), 3.5 * flops_fwd)):
        ms_d, ms_t = median_ms(fd, reps), median_ms(ft, reps)
        lines.append(f"| {name} | {ms_d:.3f} | {ms_t:.3f} | {ms_d / ms_t:.2f} | "
                     f"{flops / ms_d / 1e9:.1f} | {flops / ms_t / 1e9:.1f} |")
    return failed


def adam_row(da, ta, n, reps, copy_gbs, lines):
    """One fused Adam step over a single n-element parameter: reads p, g, m, v and writes p, m, v."""
    dp = dlcore.nn.Parameter(da.clone())
    dp.grad = da.clone()
    tp = torch.nn.Parameter(ta.clone())
    tp.grad = ta.clone()
    dopt = dlcore.optim.Adam([dp], lr=1e-3)
    topt = torch.optim.Adam([tp], lr=1e-3, fused=True)
    dopt.step()
    topt.step()
    failed = not np.allclose(to_numpy(dp.detach()), to_numpy(tp.detach()), rtol=1e-5, atol=1e-6)
    if failed:
        print("bench_kernels: adam: dlcore and torch disagree after one step")
    nbytes = 7 * n * 4
    ms_d, ms_t = median_ms(dopt.step, reps), median_ms(topt.step, reps)
    gbs = nbytes / ms_d / 1e6
    lines.append(f"| adam step (torch fused=True) | {ms_d:.3f} | {ms_t:.3f} | {ms_d / ms_t:.2f} | "
                 f"{gbs:.0f} | {nbytes / ms_t / 1e6:.0f} | {100 * gbs / copy_gbs:.0f}% |")
    return failed


def step_row(name, dstep, tstep, reps, lines):
    ms_d, ms_t = median_ms(dstep, reps), median_ms(tstep, reps)
    lines.append(f"| {name} | {ms_d:.3f} | {ms_t:.3f} | {ms_d / ms_t:.2f} | {ms_t / ms_d:.2f} |")


def training_rows(reps, lines):
    """One training step (forward, loss, backward, optimizer) of an MLP, GPT-mini and ViT-tiny in
    both libraries, the same architectures and batch."""
    import dlcore.nn as dnn
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    import torch_models

    lines += ["", "| training step | dlcore ms | torch ms | dlcore / torch time | throughput vs torch |",
              "|---|---:|---:|---:|---:|"]
    rng = np.random.default_rng(2)

    def steps(dmodel, dloss, tmodel, tloss, dopt, topt):
        def dstep():
            loss = dloss(dmodel)
            dopt.zero_grad()
            loss.backward()
            dopt.step()

        def tstep():
            loss = tloss(tmodel)
            topt.zero_grad()
            loss.backward()
            topt.step()
        return dstep, tstep

    # MLP 784-256-128-10, batch 512, SGD with momentum
    x_np = rng.standard_normal((512, 784), dtype=np.float32)
    y_np = rng.integers(0, 10, size=512)
    dm = dnn.Sequential(dnn.Linear(784, 256), dnn.ReLU(), dnn.Linear(256, 128), dnn.ReLU(), dnn.Linear(128, 10))
    dm.to("cuda")
    tm = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                             torch.nn.Linear(128, 10)).cuda()
    dx, dy = dlcore.tensor(x_np, device="cuda"), dlcore.tensor(y_np, device="cuda")
    tx, ty = torch.from_numpy(x_np).cuda(), torch.from_numpy(y_np).cuda()
    step_row("MLP 784-256-128-10, batch 512, SGD momentum", *steps(
        dm, lambda m: dnn.functional.cross_entropy(m(dx), dy), tm, lambda m: torch.nn.functional.cross_entropy(m(tx), ty),
        dlcore.optim.SGD(dm.parameters(), lr=0.01, momentum=0.9),
        torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)), reps, lines)

    # GPT-mini (4 layers, 4 heads, 256 dims, 128 positions, bytes), batch 64, AdamW
    idx = rng.integers(0, 256, size=(64, 129))
    dgpt = dlcore.models.gpt_mini().to("cuda")
    tgpt = torch_models.GPT().cuda()
    di, dt = (dlcore.tensor(idx[:, :-1], device="cuda"), dlcore.tensor(idx[:, 1:], device="cuda"))
    ti, tt = torch.from_numpy(idx[:, :-1]).cuda(), torch.from_numpy(idx[:, 1:]).cuda()
    step_row("GPT-mini, batch 64 x 128 tokens, AdamW", *steps(
        dgpt, lambda m: m(di, dt)[1], tgpt, lambda m: m(ti, tt),
        dlcore.optim.AdamW(dgpt.parameters(), lr=3e-4), torch.optim.AdamW(tgpt.parameters(), lr=3e-4)), reps, lines)

    # ViT-tiny/16 at 224 x 224, batch 32, AdamW
    img = rng.standard_normal((32, 3, 224, 224), dtype=np.float32)
    lab = rng.integers(0, 1000, size=32)
    dvit = dlcore.models.vit_tiny_patch16_224().to("cuda")
    tvit = torch_models.ViT().cuda()
    dimg, dlab = dlcore.tensor(img, device="cuda"), dlcore.tensor(lab, device="cuda")
    timg, tlab = torch.from_numpy(img).cuda(), torch.from_numpy(lab).cuda()
    step_row("ViT-tiny/16 224px, batch 32, AdamW", *steps(
        dvit, lambda m: dnn.functional.cross_entropy(m(dimg), dlab), tvit, lambda m: m(timg, tlab),
        dlcore.optim.AdamW(dvit.parameters(), lr=1e-3), torch.optim.AdamW(tvit.parameters(), lr=1e-3)),
        max(5, reps // 3), lines)


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
    rows_of = 1024
    dr, tr = da.view(n // rows_of, rows_of), ta.view(n // rows_of, rows_of)
    dw, dbias = dlcore.ones(rows_of, device="cuda"), dlcore.zeros(rows_of, device="cuda")
    tw, tbias = torch.ones(rows_of, device="cuda"), torch.zeros(rows_of, device="cuda")
    rows = [
        ("copy", lambda: da.clone(), lambda: ta.clone(), 2 * n * f32, 0),
        ("add", lambda: dlcore.add(da, db), lambda: torch.add(ta, tb), 3 * n * f32, 0),
        ("exp", lambda: dlcore.exp(da), lambda: torch.exp(ta), 2 * n * f32, 2e-6),
        ("gelu", lambda: dlcore.gelu(da), lambda: torch.nn.functional.gelu(ta), 2 * n * f32, 2e-6),
        ("add, a transposed", lambda: dlcore.add(da2.t(), db2), lambda: torch.add(ta2.t(), tb2), 3 * sq * f32, 0),
        ("softmax (rows of %d)" % rows_of, lambda: dlcore.softmax(dr, -1), lambda: torch.softmax(tr, -1),
         2 * n * f32, 1e-5),
        ("layer_norm (rows of %d)" % rows_of, lambda: dlcore.nn.functional.layer_norm(dr, [rows_of], dw, dbias),
         lambda: torch.nn.functional.layer_norm(tr, [rows_of], tw, tbias), 2 * n * f32, 1e-4),
        ("sum (all)", lambda: dlcore.sum(da), lambda: torch.sum(ta), n * f32, 1e-4),
        ("sum (rows of %d)" % side, lambda: dlcore.sum(da2, 1), lambda: torch.sum(ta2, 1), sq * f32, 1e-4),
    ]

    name_d, name_t = dlcore.cuda.get_device_name(), torch.cuda.get_device_name()
    lines = [
        f"dlcore CUDA kernels vs PyTorch {torch.__version__} on {name_d}"
        + ("" if name_d == name_t else f" (torch sees {name_t})"),
        f"float32, {n:,} elements per tensor, median of {args.reps} calls timed with CUDA events",
        "",
        "| op | dlcore ms | torch ms | dlcore / torch time | dlcore GB/s | torch GB/s | dlcore % of copy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    copy_gbs = None
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
        gbs = nbytes / ms_d / 1e6
        copy_gbs = copy_gbs or gbs
        lines.append(f"| {name} | {ms_d:.3f} | {ms_t:.3f} | {ms_d / ms_t:.2f} | "
                     f"{gbs:.0f} | {nbytes / ms_t / 1e6:.0f} | {100 * gbs / copy_gbs:.0f}% |")
    failed |= adam_row(da, ta, n, args.reps, copy_gbs, lines)
    if args.gemm:
        failed |= gemm_rows(args.gemm, args.reps, lines)
    failed |= attention_rows(args.reps, lines)
    training_rows(args.reps, lines)
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
