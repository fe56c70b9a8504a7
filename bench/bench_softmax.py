"""Softmax family and fused losses, dlcore vs PyTorch on the CPU, side by side in one run.

Rows: softmax 8192x1024 forward; log_softmax 8192x1024 forward+backward; cross_entropy
(N=8192, C=1000, class-index targets) forward+backward. Each figure is the median of several
repetitions after warm-up calls, both libraries limited to the same number of threads;
ratio = dlcore time / torch time (below 1: dlcore is faster).

    python bench/bench_softmax.py [--threads 2] [--reps 15]
"""
import argparse
import os


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=15)
    return p.parse_args()


ARGS = parse_args()
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import dlcore  # noqa: E402
from benchutil import cpu_name, median_seconds  # noqa: E402


def cases():
    r = np.random.default_rng(0)
    x = r.standard_normal((8192, 1024)).astype(np.float32)
    g = r.standard_normal((8192, 1024)).astype(np.float32)
    logits = r.standard_normal((8192, 1000)).astype(np.float32)
    target = r.integers(0, 1000, 8192)

    dx, tx = dlcore.tensor(x), torch.from_numpy(x)
    yield "softmax 8192x1024 fwd", lambda: dlcore.softmax(dx, -1), lambda: torch.softmax(tx, -1)

    dxg = dlcore.tensor(x).requires_grad_(True)
    txg = torch.from_numpy(x.copy()).requires_grad_(True)
    dg, tg = dlcore.tensor(g), torch.from_numpy(g)

    def dl_lsm():
        dlcore.log_softmax(dxg, -1).backward(dg)
        dxg.grad = None

    def th_lsm():
        torch.log_softmax(txg, -1).backward(tg)
        txg.grad = None
    yield "log_softmax 8192x1024 fwd+bwd", dl_lsm, th_lsm

    dl_l = dlcore.tensor(logits).requires_grad_(True)
    th_l = torch.from_numpy(logits.copy()).requires_grad_(True)
    dl_t, th_t = dlcore.tensor(target), torch.from_numpy(target)

    def dl_ce():
        dlcore.cross_entropy(dl_l, dl_t).backward()
        dl_l.grad = None

    def th_ce():
        torch.nn.functional.cross_entropy(th_l, th_t).backward()
        th_l.grad = None
    yield "cross_entropy 8192x1000 fwd+bwd", dl_ce, th_ce


def main():
    torch.set_num_threads(ARGS.threads)
    dlcore.set_num_threads(ARGS.threads)
    print(f"CPU: {cpu_name()}, {ARGS.threads} threads, float32, median of {ARGS.reps}")
    print(f"{'case':34s} {'dlcore ms':>10s} {'torch ms':>10s} {'ratio':>7s}")
    for name, dl_fn, th_fn in cases():
        if name.startswith("cross_entropy") and not hasattr(dlcore, "cross_entropy"):
            continue
        t_dl = median_seconds(dl_fn, ARGS.reps)
        t_th = median_seconds(th_fn, ARGS.reps)
        print(f"{name:34s} {t_dl * 1e3:10.2f} {t_th * 1e3:10.2f} {t_dl / t_th:7.2f}")


if __name__ == "__main__":
    main()
