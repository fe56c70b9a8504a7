"""Scaled dot-product attention on the CPU, dlcore vs torch.nn.functional.scaled_dot_product_attention,
forward and forward + backward, side by side in one run.

q, k, v: (B, H, T, D) float32, causal and non-causal. Each figure is the median of several
repetitions after warm-up calls; both libraries use the same number of threads (torch's
intra-op threads and OMP_NUM_THREADS are set before either library is imported).

    python bench/bench_attention.py [--threads 2] [--shape 4 8 512 64] [--dtype float32]
"""
import argparse
import os
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--shape", type=int, nargs=4, default=[4, 8, 512, 64], metavar=("B", "H", "T", "D"))
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--reps", type=int, default=7)
    return p.parse_args()


ARGS = parse_args()
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import dlcore  # noqa: E402
from benchutil import cpu_name, median_seconds  # noqa: E402


def main():
    torch.set_num_threads(ARGS.threads)
    dlcore.set_num_threads(ARGS.threads)
    B, H, T, D = ARGS.shape
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((B, H, T, D)).astype(ARGS.dtype) for _ in range(3)]
    grad_np = rng.standard_normal((B, H, T, D)).astype(ARGS.dtype)
    print(f"scaled_dot_product_attention {ARGS.dtype}, B={B} H={H} T={T} D={D}, on {cpu_name()}, "
          f"{ARGS.threads} threads, dlcore kernel build: {dlcore._C._cpu_capability()}")
    print(f"torch {torch.__version__}; median of {ARGS.reps} repetitions; "
          "ratio = torch time / dlcore time (above 1: dlcore faster)\n")
    header = f"{'case':<22} {'dlcore ms':>10} {'torch ms':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for causal in (True, False):
        tq, tk, tv = [torch.from_numpy(a).requires_grad_(True) for a in arrays]
        dq, dk, dv = [dlcore.from_numpy(a).clone().requires_grad_(True) for a in arrays]
        tg, dg = torch.from_numpy(grad_np), dlcore.from_numpy(grad_np).clone()

        def torch_fwd():
            with torch.no_grad():
                F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)

        def dl_fwd():
            with dlcore.no_grad():
                dlcore.scaled_dot_product_attention(dq, dk, dv, is_causal=causal)

        def torch_fwd_bwd():
            tq.grad = tk.grad = tv.grad = None
            F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal).backward(tg)

        def dl_fwd_bwd():
            dq.grad = dk.grad = dv.grad = None
            dlcore.scaled_dot_product_attention(dq, dk, dv, is_causal=causal).backward(dg)

        name = "causal" if causal else "non-causal"
        for what, ours_fn, ref_fn in (("fwd", dl_fwd, torch_fwd), ("fwd+bwd", dl_fwd_bwd, torch_fwd_bwd)):
            ours = median_seconds(ours_fn, ARGS.reps)
            ref = median_seconds(ref_fn, ARGS.reps)
            print(f"{name + ' ' + what:<22} {ours * 1e3:>10.2f} {ref * 1e3:>10.2f} {ref / ours:>6.2f}x")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
