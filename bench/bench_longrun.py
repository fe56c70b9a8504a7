"""Long-run memory check: thousands of LeNet-5 training steps, watching the process's memory.

A leak of a few kilobytes per step (a tensor kept alive by the autograd graph, a cache that
never evicts, a Python reference cycle the collector can't see) is invisible in a short test
but adds up over a real run. This trains LeNet-5 (Adam, cross-entropy, the CLI's recipe) on the
bundled MNIST (or random data), reshuffled every epoch, and every --interval steps records

    rss     the resident set size (VmRSS of /proc/self/status), MiB
    hwm     the peak resident set size so far (VmHWM), MiB
    objs    the number of objects Python's garbage collector tracks
    cuda    with --device cuda: dlcore.cuda.memory_allocated / memory_reserved, MiB
            (dlcore's CPU allocator exposes no statistics, so on the CPU RSS is the measure)

It prints the curve as a table and a verdict: the growth of RSS from step --baseline (the
allocator and the caches have warmed up by then) to the last step FAILs beyond noise, i.e.
more than --max-growth-pct percent or --max-growth-mib MiB (and likewise for CUDA memory).
The slope of a least-squares line through the samples after the baseline is printed as well.
Exit status: 0 PASS, 1 FAIL.

Not part of the test suite (it takes minutes). Usage:
    python bench/bench_longrun.py [--steps 5000] [--batch-size 64] [--data mnist|random]
                                  [--device cpu|cuda] [--plot longrun.png]
"""
import argparse
import gc
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402

import dlcore  # noqa: E402
from dlcore import nn  # noqa: E402

MIB = 1024 * 1024


def proc_status_mib(field):
    """A memory field of /proc/self/status (VmRSS, VmHWM, ...) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # the kernel reports kB
    raise RuntimeError(f"/proc/self/status has no {field} field")


def batches(data, batch_size, seed, device):
    """Endless (x, y) training batches: MNIST's training split, reshuffled every epoch, or
    random images and labels drawn afresh for every batch."""
    if data == "random":
        rng = np.random.default_rng(seed)
        while True:
            x = dlcore.tensor(rng.standard_normal((batch_size, 1, 28, 28), dtype=np.float32))
            y = dlcore.tensor(rng.integers(0, 10, batch_size))
            yield (x, y) if device == "cpu" else (x.to(device), y.to(device))
    from dlcore.data import DataLoader
    from dlcore.data import transforms as T
    from dlcore.data.datasets import MNIST

    train = MNIST("train", transform=T.Normalize(0.1307, 0.3081))
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=True, generator=seed)
    while True:
        for x, y in loader:
            yield (x, y) if device == "cpu" else (x.to(device), y.to(device))


def sample(step, loss, device):
    row = {"step": step, "loss": loss, "rss": proc_status_mib("VmRSS"), "hwm": proc_status_mib("VmHWM"),
           "objs": len(gc.get_objects())}
    if device != "cpu":
        row["alloc"] = dlcore.cuda.memory_allocated() / MIB
        row["reserved"] = dlcore.cuda.memory_reserved() / MIB
    return row


def run(args):
    dlcore.manual_seed(args.seed)
    model = dlcore.models.get_model("lenet", num_classes=10, in_channels=1)
    if args.device != "cpu":
        model.to(args.device)
    model.train()
    opt = dlcore.optim.Adam(model.parameters(), lr=args.lr)
    data = batches(args.data, args.batch_size, args.seed, args.device)
    rows, loss_sum, n = [sample(0, float("nan"), args.device)], 0.0, 0
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = next(data)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item()
        n += 1
        if step % args.interval == 0 or step == args.steps:
            rows.append(sample(step, loss_sum / n, args.device))
            loss_sum, n = 0.0, 0
            if args.verbose:
                r = rows[-1]
                print(f"  step {step}: rss {r['rss']:.1f} MiB, loss {r['loss']:.4f}", file=sys.stderr, flush=True)
    return rows, time.perf_counter() - t0


def at_step(rows, step):
    """The first sample at or after ``step``."""
    return next(r for r in rows if r["step"] >= step)


def growth(rows, key, baseline):
    base, last = at_step(rows, baseline)[key], rows[-1][key]
    after = [r for r in rows if r["step"] >= baseline]
    steps = np.array([r["step"] for r in after], dtype=np.float64)
    values = np.array([r[key] for r in after], dtype=np.float64)
    slope = np.polyfit(steps, values, 1)[0] * 1000 if len(after) >= 2 else 0.0
    return base, last, last - base, 100 * (last - base) / base if base else float("inf"), slope


def print_table(rows):
    cuda = "alloc" in rows[0]
    head = f"{'step':>6}  {'loss':>9}  {'RSS MiB':>8}  {'peak MiB':>8}  {'gc objects':>10}"
    if cuda:
        head += f"  {'cuda alloc':>10}  {'reserved':>8}"
    print(head)
    for r in rows:
        line = f"{r['step']:>6}  {r['loss']:>9.3g}  {r['rss']:>8.1f}  {r['hwm']:>8.1f}  {r['objs']:>10}"
        if cuda:
            line += f"  {r['alloc']:>10.1f}  {r['reserved']:>8.1f}"
        print(line)


def verdict(rows, args):
    failed = False
    keys = [("rss", "RSS")] + ([("alloc", "CUDA allocated"), ("reserved", "CUDA reserved")] if "alloc" in rows[0]
                               else [])
    for key, name in keys:
        base, last, diff, pct, slope = growth(rows, key, args.baseline)
        bad = diff > args.max_growth_mib or pct > args.max_growth_pct
        failed |= bad
        print(f"{name}: {base:.1f} MiB at step {at_step(rows, args.baseline)['step']} -> {last:.1f} MiB at step "
              f"{rows[-1]['step']}: {diff:+.1f} MiB ({pct:+.1f}%), trend {slope:+.2f} MiB per 1000 steps  "
              f"[limit {args.max_growth_mib:g} MiB / {args.max_growth_pct:g}%]  {'FAIL' if bad else 'ok'}")
    objs = growth(rows, "objs", args.baseline)
    print(f"gc-tracked objects: {objs[0]:.0f} -> {objs[1]:.0f} ({objs[2]:+.0f})")
    return failed


def plot(rows, args, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(steps, [r["rss"] for r in rows], marker=".", label="RSS")
    ax.plot(steps, [r["hwm"] for r in rows], linestyle="--", label="peak RSS")
    if "alloc" in rows[0]:
        ax.plot(steps, [r["alloc"] for r in rows], label="CUDA allocated")
        ax.plot(steps, [r["reserved"] for r in rows], label="CUDA reserved")
    base = at_step(rows, args.baseline)["rss"]
    limit = min(base + args.max_growth_mib, base * (1 + args.max_growth_pct / 100))
    ax.axvline(args.baseline, color="grey", linewidth=0.8)
    ax.axhline(limit, color="red", linewidth=0.8, linestyle=":", label="FAIL above (RSS)")
    ax.set_xlabel("training step")
    ax.set_ylabel("MiB")
    ax.set_title(f"LeNet-5, batch {args.batch_size}, {args.data} data, {args.device}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--interval", type=int, default=100, help="steps between memory samples")
    p.add_argument("--baseline", type=int, default=500, help="the step growth is measured from")
    p.add_argument("--max-growth-mib", type=float, default=20.0)
    p.add_argument("--max-growth-pct", type=float, default=5.0)
    p.add_argument("--data", choices=("mnist", "random"), default="mnist")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--plot", metavar="PNG", help="also draw the curve into this file")
    p.add_argument("--verbose", action="store_true", help="report each sample on stderr as it is taken")
    args = p.parse_args(argv)
    if args.steps < 1 or args.interval < 1 or args.batch_size < 1:
        p.error("--steps, --interval and --batch-size must be positive")
    if not 0 <= args.baseline < args.steps:
        p.error(f"--baseline must be in [0, --steps), got {args.baseline}")

    print(f"LeNet-5: {args.steps} steps of batch {args.batch_size} on {args.data} data ({args.device}, "
          f"{os.environ['OMP_NUM_THREADS']} threads), memory every {args.interval} steps")
    rows, seconds = run(args)
    print(f"{seconds:.1f} s, {1000 * seconds / args.steps:.2f} ms per step\n")
    print_table(rows)
    print()
    failed = verdict(rows, args)
    if args.plot:
        plot(rows, args, args.plot)
        print(f"wrote {args.plot}")
    print("verdict:", "FAIL (memory grows)" if failed else "PASS (no growth beyond noise)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
