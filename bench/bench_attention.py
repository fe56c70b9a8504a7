"""Scaled dot-product attention on the CPU, dlcore vs torch.nn.functional.scaled_dot_product_attention,
forward and forward + backward, side by side in one run.

q, k, v: (B, H, T, D) float32, causal and non-causal. Each figure is the median of several
repetitions after warm-up calls; both libraries use the same number of threads (torch's
intra-op threads and OMP_NUM_THREADS are set before either library is imported).

A second table shows block skipping (Note [Attention windows and block skipping]) on
(1, H, T, D) = --sparse-shape: local attention of w positions (as a bool mask from
dlcore.nn.attention_masks.local_mask and as window_size; also 4w) and block-sparse layouts of several
densities, each against dlcore's full attention ("vs full": its time over the full-attention
time; w / T and the density are what skipping aims at) and against torch's SDPA given the same
mask (which computes every block).

    python bench/bench_attention.py [--threads 2] [--shape 4 8 512 64] [--dtype float32]
                                    [--sparse-shape 8 2048 64] [--window 64] [--no-sparse]
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
    p.add_argument("--sparse-shape", type=int, nargs=3, default=[8, 2048, 64], metavar=("H", "T", "D"))
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--no-sparse", action="store_true", help="skip the block-skipping table")
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


def sparse_table():
    """Local and block-sparse attention against full attention, forward + backward."""
    from dlcore.nn import attention_masks as am

    H, T, D = ARGS.sparse_shape
    w, blk = ARGS.window, 64
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((1, H, T, D)).astype(ARGS.dtype) for _ in range(3)]
    grad_np = rng.standard_normal((1, H, T, D)).astype(ARGS.dtype)
    dq, dk, dv = [dlcore.from_numpy(a).clone().requires_grad_(True) for a in arrays]
    tq, tk, tv = [torch.from_numpy(a).requires_grad_(True) for a in arrays]
    dg, tg = dlcore.from_numpy(grad_np).clone(), torch.from_numpy(grad_np)

    def layout(density):
        nb = -(-T // blk)
        lay = rng.random((nb, nb)) < density
        np.fill_diagonal(lay, True)
        return lay

    cases = [("full", {}, None, 1.0), ("causal", dict(is_causal=True), None, 0.5)]
    local = am.local_mask(T, w, causal=True)
    cases.append((f"local w={w} causal mask", dict(attn_mask=local), local, w / T))
    cases.append((f"local w={w} causal window", dict(window_size=(w - 1, 0)), local, w / T))
    sym = am.local_mask(T, w, causal=False)
    cases.append((f"local w={w} window", dict(window_size=(w // 2, w // 2)), sym, (w + 1) / T))
    cases.append((f"local w={4 * w} causal window", dict(window_size=(4 * w - 1, 0)),
                  am.local_mask(T, 4 * w, causal=True), 4 * w / T))
    for density in (0.5, 0.25, 0.125):
        lay = layout(density)
        m = am.block_sparse_mask(T, blk, lay.tolist())
        cases.append((f"block-sparse {lay.mean():.2f}", dict(attn_mask=m), m, float(lay.mean())))

    print(f"\nblock skipping, fwd + bwd, (1, {H}, {T}, {D}), block-sparse blocks of {blk}; "
          "vs full = dlcore time / dlcore full-attention time")
    header = f"{'case':<28} {'dlcore ms':>10} {'vs full':>8} {'ideal':>7} {'torch ms':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    full = None
    for name, kw, mask, ideal in cases:
        tkw = {k: v for k, v in kw.items() if k != "window_size" and k != "attn_mask"}
        if mask is not None:
            tkw["attn_mask"] = torch.from_numpy(mask.numpy())

        def dl_fn():
            dq.grad = dk.grad = dv.grad = None
            dlcore.scaled_dot_product_attention(dq, dk, dv, **kw).backward(dg)

        def torch_fn():
            tq.grad = tk.grad = tv.grad = None
            F.scaled_dot_product_attention(tq, tk, tv, **tkw).backward(tg)

        ours = median_seconds(dl_fn, ARGS.reps)
        ref = median_seconds(torch_fn, ARGS.reps)
        full = ours if full is None else full
        print(f"{name:<28} {ours * 1e3:>10.2f} {ours / full:>8.3f} {ideal:>7.3f} {ref * 1e3:>10.2f} "
              f"{ref / ours:>6.2f}x")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
    if not ARGS.no_sparse:
        sparse_table()
