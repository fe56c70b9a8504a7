"""Recurrent layers, dlcore vs PyTorch on the CPU, side by side in one run.

Each case times one training step's forward + backward (grads of the input and every weight)
of a 2-layer LSTM / GRU / tanh RNN, hidden 256, on input (T=64, B=32, 128) in float32, with the
same weights in both libraries. Medians over several repetitions after warm-up, the
repetitions alternating between the libraries (the cores are shared); both run with the same
number of threads. Also times the forward alone (inference, no grad).

    python bench/bench_rnn.py [--threads 2] [--reps 10]
"""
import argparse
import os


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=10)
    return p.parse_args()


ARGS = parse_args()
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import dlcore  # noqa: E402
import dlcore.nn as dnn  # noqa: E402
from benchutil import cpu_name, median_times  # noqa: E402


def case(kind, T=64, B=32, I=128, H=256, layers=2):
    torch.manual_seed(0)
    kw = dict(num_layers=layers, nonlinearity="tanh") if kind == "RNN" else dict(num_layers=layers)
    t_mod = getattr(torch.nn, kind)(I, H, **kw)
    d_mod = getattr(dnn, kind)(I, H, **kw)
    d_mod.load_state_dict({k: dlcore.tensor(v.detach().numpy()) for k, v in t_mod.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    dx = dlcore.tensor(x, requires_grad=True)

    def t_step():
        out, _ = t_mod(tx)
        out.sum().backward()

    def d_step():
        out, _ = d_mod(dx)
        out.sum().backward()

    def t_fwd():
        with torch.no_grad():
            t_mod(tx)

    def d_fwd():
        with dlcore.no_grad():
            d_mod(dx)

    # same numbers first
    with torch.no_grad():
        ref = t_mod(tx)[0].numpy()
    got = d_mod(dx)[0].detach().numpy()
    err = float(np.abs(got - ref).max())
    d_train, t_train = median_times([d_step, t_step], ARGS.reps)
    d_inf, t_inf = median_times([d_fwd, t_fwd], ARGS.reps)
    return err, d_train, t_train, d_inf, t_inf


def main():
    torch.set_num_threads(ARGS.threads)
    dlcore.set_num_threads(ARGS.threads)
    print(f"# {cpu_name()}, {ARGS.threads} threads, torch {torch.__version__}, load avg "
          f"{os.getloadavg()[0]:.1f}; float32, T=64 B=32 input 128 hidden 256, 2 layers")
    print(f"{'layer':<6} {'step dlcore ms':>15} {'step torch ms':>14} {'ratio':>6} "
          f"{'fwd dlcore ms':>14} {'fwd torch ms':>13} {'ratio':>6} {'max |diff|':>11}")
    for kind in ("LSTM", "GRU", "RNN"):
        err, d_tr, t_tr, d_inf, t_inf = case(kind)
        print(f"{kind:<6} {d_tr * 1e3:15.1f} {t_tr * 1e3:14.1f} {t_tr / d_tr:6.2f} "
              f"{d_inf * 1e3:14.1f} {t_inf * 1e3:13.1f} {t_inf / d_inf:6.2f} {err:11.1e}")
    print("# ratio = torch time / dlcore time (> 1: dlcore faster)")


if __name__ == "__main__":
    main()
