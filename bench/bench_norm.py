"""Normalisation layers, dlcore vs PyTorch on the CPU, side by side in one run.

Each case times forward + backward (all input/weight/bias grads) in float32, the median of
several repetitions after warm-up, alternating dlcore and torch repetitions (the cores are
shared); both libraries run with the same number of threads. Besides the issue's figures
(LayerNorm 8192x768 and the larger BatchNorm/GroupNorm/LRN cases), it times the shapes of
small models: LayerNorm over B*T rows of a small GPT/ViT width, and BatchNorm2d at each
stage of ResNet-18 on CIFAR-10.

    python bench/bench_norm.py [--threads 2] [--reps 15]
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
import torch.nn.functional as F  # noqa: E402

import dlcore  # noqa: E402
from benchutil import cpu_name, median_times  # noqa: E402


def make_pair(shape, param_shape, rng):
    """The same float32 data as (dlcore, torch) leaves that require grad."""
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(param_shape).astype(np.float32) if param_shape else None
    b = rng.standard_normal(param_shape).astype(np.float32) if param_shape else None

    def leaves(lib):
        mk = (lambda a: dlcore.tensor(a).requires_grad_()) if lib == "dl" else \
            (lambda a: torch.from_numpy(a.copy()).requires_grad_())
        return mk(x), (None if w is None else mk(w)), (None if b is None else mk(b)), \
            (dlcore.tensor(g) if lib == "dl" else torch.from_numpy(g))
    return leaves


def case_step(lib, call, leaves):
    x, w, b, g = leaves(lib)
    params = [t for t in (x, w, b) if t is not None]

    def step():
        for t in params:
            t.grad = None
        y = call(x, w, b)
        y.backward(g)
    return step


def main():
    torch.set_num_threads(ARGS.threads)
    dlcore.set_num_threads(ARGS.threads)
    rng = np.random.default_rng(0)

    def layer_norm_case(M, D):
        return (f"LayerNorm {M}x{D}", (M, D), (D,),
                lambda x, w, b: dlcore.layer_norm(x, (D,), w, b),
                lambda x, w, b: F.layer_norm(x, (D,), w, b))

    def batch_norm_case(N, C, H):
        rm_dl, rv_dl = dlcore.zeros(C), dlcore.ones(C)
        rm_t, rv_t = torch.zeros(C), torch.ones(C)
        return (f"BatchNorm2d train N{N} C{C} {H}x{H}", (N, C, H, H), (C,),
                lambda x, w, b: dlcore.batch_norm(x, rm_dl, rv_dl, w, b, training=True),
                lambda x, w, b: F.batch_norm(x, rm_t, rv_t, w, b, training=True))

    def group_norm_case(G, N, C, H):
        return (f"GroupNorm({G}) N{N} C{C} {H}x{H}", (N, C, H, H), (C,),
                lambda x, w, b: dlcore.group_norm(x, G, w, b),
                lambda x, w, b: F.group_norm(x, G, w, b))

    cases = [
        layer_norm_case(8192, 768),
        # small GPT / ViT widths (B*T rows)
        layer_norm_case(2048, 256),
        layer_norm_case(4096, 192),
        batch_norm_case(32, 64, 56),
        # ResNet-18 on CIFAR-10, one per stage
        batch_norm_case(32, 64, 32),
        batch_norm_case(32, 128, 16),
        batch_norm_case(32, 256, 8),
        batch_norm_case(32, 512, 4),
        group_norm_case(32, 8, 128, 56),
        group_norm_case(8, 16, 64, 32),
        ("LRN size 5 N32 C96 27x27", (32, 96, 27, 27), None,
         lambda x, w, b: dlcore.local_response_norm(x, 5),
         lambda x, w, b: F.local_response_norm(x, 5)),
    ]
    print(f"CPU: {cpu_name()}; threads: {ARGS.threads}; float32 forward + backward, median of {ARGS.reps}")
    print(f"{'case':36s} {'dlcore ms':>10s} {'torch ms':>10s} {'torch/dlcore':>13s}")
    for name, shape, pshape, dl_call, t_call in cases:
        leaves = make_pair(shape, pshape, rng)
        steps = [case_step("dl", dl_call, leaves), case_step("torch", t_call, leaves)]
        t_dl, t_t = median_times(steps, ARGS.reps, warmup=3)
        print(f"{name:36s} {t_dl * 1e3:10.2f} {t_t * 1e3:10.2f} {t_t / t_dl:12.2f}x")


if __name__ == "__main__":
    main()
