"""Training-step benchmark: dlcore beside torch (same process, 2 threads, same weights and data).

A step is forward, cross-entropy loss, zero_grad, backward and the optimizer step. For each model
the two libraries take turns in blocks of steps, so that load from other processes hits both
alike; the table gives the median ms per step and the ratio dlcore / torch (< 1: dlcore faster).

With --profile, each layer call of one forward is then re-run alone on its recorded input, in
both libraries: forward, and forward+backward (backward = the difference), summed per op family.
What the step takes beyond the sum of its parts is framework overhead: Python dispatch, the
autograd engine, allocation. Convolution and batch-norm calls are also listed per shape.
--cprofile prints where dlcore's Python time goes (cProfile, by own time).

Usage: python bench/bench_train.py [--models mlp,lenet,resnet18] [--steps N] [--profile] [--cprofile]
"""
import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from collections import OrderedDict

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as tnn  # noqa: E402

import dlcore  # noqa: E402
from dlcore import nn as dnn  # noqa: E402
from benchutil import cpu_name  # noqa: E402

THREADS = 2
# time.perf_counter (wall) by default; --clock cpu switches to time.process_time, the CPU time of
# the whole process, which other processes' load barely changes (with several threads it also
# counts time spent waiting at barriers).
clock = time.perf_counter


# ---- models -----------------------------------------------------------------------------------
# dlcore's own models where the model zoo has them; the same architectures here otherwise.

def dl_mlp():
    return dnn.Sequential(dnn.Flatten(), dnn.Linear(784, 256), dnn.ReLU(), dnn.Linear(256, 128), dnn.ReLU(),
                          dnn.Linear(128, 10))


def dl_lenet():
    try:
        from dlcore.models import lenet5
        return lenet5()
    except ImportError:
        return dnn.Sequential(
            dnn.Conv2d(1, 6, 5, padding=2), dnn.ReLU(), dnn.MaxPool2d(2), dnn.Conv2d(6, 16, 5), dnn.ReLU(),
            dnn.MaxPool2d(2), dnn.Flatten(), dnn.Linear(400, 120), dnn.ReLU(), dnn.Linear(120, 84), dnn.ReLU(),
            dnn.Linear(84, 10))


class DlBasicBlock(dnn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = dnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = dnn.BatchNorm2d(cout)
        self.relu = dnn.ReLU()
        self.conv2 = dnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = dnn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = dnn.Sequential(dnn.Conv2d(cin, cout, 1, stride, bias=False), dnn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class DlResNet18Cifar(dnn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = dnn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = dnn.BatchNorm2d(64)
        self.relu = dnn.ReLU()
        self.maxpool = dnn.Identity()
        cin = 64
        for i, cout in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", dnn.Sequential(DlBasicBlock(cin, cout, stride), DlBasicBlock(cout, cout, 1)))
            cin = cout
        self.avgpool = dnn.AdaptiveAvgPool2d((1, 1))
        self.fc = dnn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def dl_resnet18():
    try:
        from dlcore.models import resnet18_cifar
        return resnet18_cifar(num_classes=10)
    except ImportError:
        return DlResNet18Cifar()


def t_mlp():
    return tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 256), tnn.ReLU(), tnn.Linear(256, 128), tnn.ReLU(),
                          tnn.Linear(128, 10))


def t_lenet():
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
        tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
        tnn.Linear(84, 10))


class TBasicBlock(tnn.Module):
    """torchvision's BasicBlock (in-place ReLU, as torchvision has it)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class TResNet18Cifar(tnn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.Identity()
        cin = 64
        for i, cout in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", tnn.Sequential(TBasicBlock(cin, cout, stride), TBasicBlock(cout, cout, 1)))
            cin = cout
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def dl_yolov8n():
    from dlcore.models import yolov8n
    return yolov8n(num_classes=80)


def t_yolov8n():
    from torch_yolo import YOLOv8
    return YOLOv8(80, "n")


def dl_unet_small():
    from dlcore.models import unet
    return unet(in_channels=3, num_classes=4, base_channels=16, depth=3, padding=True, batch_norm=True)


def t_unet_small():
    from torch_segmentation import UNet
    return UNet(3, 4, base_channels=16, depth=3, padding=True, batch_norm=True)


def dl_vnet_small():
    from dlcore.models import vnet
    return vnet(in_channels=1, num_classes=3, base_channels=8, depth=3, batch_norm=True)


def t_vnet_small():
    from torch_segmentation import VNet
    return VNet(1, 3, base_channels=8, depth=3, batch_norm=True)


def dl_letnet():
    from dlcore.models import letnet
    return letnet(num_classes=9)


def t_letnet():
    from torch_letnet import LETNet
    return LETNet(num_classes=9)


# name -> (dlcore builder, torch builder, input shape (C, *S), batch, optimizer, default steps)
MODELS = OrderedDict([
    ("mlp", (dl_mlp, t_mlp, (1, 28, 28), 128, "sgd", 200)),
    ("lenet", (dl_lenet, t_lenet, (1, 28, 28), 128, "sgd_momentum", 40)),
    ("resnet18", (dl_resnet18, lambda: TResNet18Cifar(10), (3, 32, 32), 32, "sgd_momentum", 6)),
    ("yolov8n", (dl_yolov8n, t_yolov8n, (3, 160, 160), 16, "sgd_momentum", 6)),
    ("unet_small", (dl_unet_small, t_unet_small, (3, 64, 64), 8, "adam", 10)),
    ("vnet_small", (dl_vnet_small, t_vnet_small, (1, 32, 32, 32), 2, "adam", 6)),
    ("letnet", (dl_letnet, t_letnet, (3, 128, 256), 4, "adam", 6)),
])
# segmentation rows: classes of the per-pixel targets (cross-entropy over (N, C, *S) logits)
DENSE_CLASSES = {"unet_small": 4, "vnet_small": 3, "letnet": 9}


def _maps_loss(outputs, _target):
    """The detector's stand-in loss: the mean square of each raw head map, summed (the network's
    forward and backward are what is timed; the detection loss has its own benchmark)."""
    total = None
    for o in outputs:
        term = (o * o).mean()
        total = term if total is None else total + term
    return total


# name -> (dlcore loss, torch loss) for models whose output is not class logits.
LOSSES = {"yolov8n": (_maps_loss, _maps_loss)}


def make_optimizers(kind, dl_params, t_params):
    if kind == "sgd":
        return dlcore.optim.SGD(dl_params, lr=0.01), torch.optim.SGD(t_params, lr=0.01)
    if kind == "sgd_momentum":
        kw = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)
        return dlcore.optim.SGD(dl_params, **kw), torch.optim.SGD(t_params, **kw)
    if kind == "adam":
        return dlcore.optim.Adam(dl_params, lr=1e-3), torch.optim.Adam(t_params, lr=1e-3)
    raise ValueError(f"unknown optimizer {kind!r} (sgd, sgd_momentum, adam)")


def copy_weights(dl_model, t_model):
    """torch's parameters and buffers := dlcore's (both models list them in the same order)."""
    dl_state = [t for t in list(dl_model.parameters()) + list(dl_model.buffers()) if t.dim() > 0]
    t_state = [t for t in list(t_model.parameters()) + list(t_model.buffers()) if t.dim() > 0]
    if len(dl_state) != len(t_state):
        raise RuntimeError(f"models differ: {len(dl_state)} dlcore tensors, {len(t_state)} torch tensors")
    with torch.no_grad():
        for d, t in zip(dl_state, t_state):
            if tuple(d.shape) != tuple(t.shape):
                raise RuntimeError(f"models differ: shapes {list(d.shape)} and {list(t.shape)}")
            t.copy_(torch.from_numpy(np.array(d.detach().numpy())))


# ---- timing -----------------------------------------------------------------------------------

def timed(fn, reps):
    out = []
    for _ in range(reps):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


def median_ms(fn, min_reps=5, min_time=0.15):
    """Median ms of fn over at least min_reps calls and min_time seconds, after one warm-up."""
    fn()
    times = []
    t_end = clock() + min_time
    while len(times) < min_reps or clock() < t_end:
        t0 = clock()
        fn()
        times.append(clock() - t0)
        if len(times) >= 2000:
            break
    return statistics.median(times) * 1e3


class Setup:
    def __init__(self, name, seed=0):
        dl_build, t_build, chw, batch, opt, steps = MODELS[name]
        self.name, self.batch, self.default_steps = name, batch, steps
        dlcore.manual_seed(seed)
        self.dl = dl_build()
        self.t = t_build()
        copy_weights(self.dl, self.t)
        self.dl.train()
        self.t.train()
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((batch,) + chw, dtype=np.float32)
        if name in DENSE_CLASSES:
            y = rng.integers(0, DENSE_CLASSES[name], (batch,) + tuple(chw[1:])).astype(np.int64)
        else:
            y = rng.integers(0, 10, batch).astype(np.int64)
        self.dx, self.dy = dlcore.from_numpy(x.copy()), dlcore.from_numpy(y.copy())
        self.tx, self.ty = torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
        self.dl_crit, self.t_crit = LOSSES.get(name, (dnn.CrossEntropyLoss(), tnn.CrossEntropyLoss()))
        self.dl_opt, self.t_opt = make_optimizers(opt, list(self.dl.parameters()), list(self.t.parameters()))
        self.opt_name = opt

    def dl_step(self):
        loss = self.dl_crit(self.dl(self.dx), self.dy)
        self.dl_opt.zero_grad()
        loss.backward()
        self.dl_opt.step()
        return loss

    def t_step(self):
        loss = self.t_crit(self.t(self.tx), self.ty)
        self.t_opt.zero_grad()
        loss.backward()
        self.t_opt.step()
        return loss

    def check_first_loss(self):
        with dlcore.no_grad():
            a = float(self.dl_crit(self.dl(self.dx), self.dy).item())
        with torch.no_grad():
            b = float(self.t_crit(self.t(self.tx), self.ty))
        if abs(a - b) > 1e-3 * max(1.0, abs(b)):
            raise RuntimeError(f"{self.name}: initial losses differ: dlcore {a:.6f}, torch {b:.6f}")
        return a, b


def step_times(setup, steps, block):
    """Per-step seconds for both libraries, taking turns in blocks of `block` steps."""
    for _ in range(2):  # warm-up: packing buffers, thread pools, optimizer state
        setup.dl_step()
        setup.t_step()
    dl_t, t_t = [], []
    while len(dl_t) < steps:
        k = min(block, steps - len(dl_t))
        time.sleep(0.05)
        dl_t += timed(setup.dl_step, k)
        time.sleep(0.05)
        t_t += timed(setup.t_step, k)
    return dl_t, t_t


# ---- per-layer profile ------------------------------------------------------------------------

FAMILY = {
    "Linear": "linear (GEMM)", "Conv2d": "conv2d", "ReLU": "relu", "MaxPool2d": "max_pool2d",
    "AvgPool2d": "avg_pool2d", "AdaptiveAvgPool2d": "adaptive_avg_pool2d", "BatchNorm2d": "batch_norm",
    "Flatten": "flatten (view)", "Identity": "identity",
}


def _leaf(m):
    return len(m._modules) == 0 if hasattr(m, "_modules") else True


def record_calls(dl_model, t_model, dx, tx):
    """[(kind, dlcore module or None, torch module or None, dlcore input, torch input)] for every
    leaf-layer call of one forward, in call order, plus an ("add", ...) entry for each residual
    add (a block whose class name ends in BasicBlock)."""
    def hook_all(model, calls, leaf):
        handles = []
        for m in model.modules():
            kind = type(m).__name__
            if leaf(m):  # layers taking a list (Concat) are left out: their cost lands in "overhead"
                handles.append(m.register_forward_hook(
                    lambda mod, args, out, kind=kind: calls.append((kind, mod, args[0]))
                    if hasattr(args[0], "shape") else None))
            elif kind.endswith("BasicBlock"):
                handles.append(m.register_forward_hook(
                    lambda mod, args, out: calls.append(("add", None, out))))
        return handles

    dl_calls, t_calls = [], []
    hs = hook_all(dl_model, dl_calls, _leaf)
    dl_model(dx)
    for h in hs:
        h.remove()
    hs = hook_all(t_model, t_calls, lambda m: len(list(m.children())) == 0)
    t_model(tx)
    for h in hs:
        h.remove()
    if [c[0] for c in dl_calls] != [c[0] for c in t_calls]:
        raise RuntimeError(f"layer calls differ: {[c[0] for c in dl_calls]} vs {[c[0] for c in t_calls]}")
    return [(a[0], a[1], b[1], a[2], b[2]) for a, b in zip(dl_calls, t_calls)]


def _describe(kind, mod, x):
    shape = "x".join(str(s) for s in x.shape)
    if kind in ("Conv2d", "Conv3d"):
        return (f"conv{kind[-2:]} {mod.in_channels}->{mod.out_channels} k{mod.kernel_size[0]} s{mod.stride[0]} "
                f"p{mod.padding[0]} in {shape}")
    return f"{kind} {shape}"


def time_layer(kind, dmod, tmod, dx_in, tx_in, wants_input_grad):
    """(dlcore fwd, dlcore bwd, torch fwd, torch bwd) ms of one layer call, run alone."""
    dx = dx_in.detach().clone()
    tx = tx_in.detach().clone()
    if wants_input_grad:
        dx.requires_grad_(True)
        tx.requires_grad_(True)
    if kind == "add":
        dother, tother = dx.detach().clone().requires_grad_(True), tx.detach().clone().requires_grad_(True)
        dfwd = lambda: dx + dother  # noqa: E731
        tfwd = lambda: tx + tother  # noqa: E731
        dparams, tparams = [dother], [tother]
    else:
        if kind == "ReLU":
            tmod = tnn.ReLU()  # in-place on a leaf is not allowed in isolation
        dfwd = lambda: dmod(dx)  # noqa: E731
        tfwd = lambda: tmod(tx)  # noqa: E731
        dparams, tparams = list(dmod.parameters()), list(tmod.parameters())
    res = []
    for fwd, x, params, ones in ((dfwd, dx, dparams, dlcore.ones_like), (tfwd, tx, tparams, torch.ones_like)):
        y = fwd()
        if not y.requires_grad:  # views of a leaf without grad, or nothing to differentiate
            res += [median_ms(fwd), 0.0]
            continue
        gy = ones(y)

        def fwd_bwd(fwd=fwd, gy=gy, params=params):
            for p in params:
                p.grad = None
            fwd().backward(gy)
        f = median_ms(fwd)
        fb = median_ms(fwd_bwd)
        res += [f, max(fb - f, 0.0)]
    return res


def profile(setup, dl_step_ms, t_step_ms):
    calls = record_calls(setup.dl, setup.t, setup.dx, setup.tx)
    rows = OrderedDict()  # description -> [kind, count, dl_f, dl_b, t_f, t_b]
    keyed = {}
    for i, (kind, dmod, tmod, dx, tx) in enumerate(calls):
        wants = i > 0  # the first layer gets the data, which needs no gradient
        key = (kind, _describe(kind, dmod, dx), wants, repr(dmod) if dmod is not None else "")
        if key not in keyed:
            keyed[key] = time_layer(kind, dmod, tmod, dx, tx, wants)
        desc = key[1] + ("" if wants else " (no input grad)")
        if desc not in rows:
            rows[desc] = [kind, 0] + keyed[key]
        rows[desc][1] += 1
    fam = OrderedDict()

    def add(family, n, vals):
        e = fam.setdefault(family, [0, 0.0, 0.0, 0.0, 0.0])
        e[0] += n
        for j in range(4):
            e[1 + j] += vals[j] * n

    for desc, (kind, n, *vals) in rows.items():
        add(FAMILY.get(kind, kind), n, vals)

    # loss, zero_grad, optimizer step
    def leaf_outputs(out):
        if isinstance(out, (list, tuple)):
            return [o.detach().requires_grad_(True) for o in out]
        return out.detach().requires_grad_(True)
    dlog = leaf_outputs(setup.dl(setup.dx))
    tlog = leaf_outputs(setup.t(setup.tx))
    vals = []
    for crit, logits, y in ((setup.dl_crit, dlog, setup.dy), (setup.t_crit, tlog, setup.ty)):
        f = median_ms(lambda: crit(logits, y))

        def fb(crit=crit, logits=logits, y=y):
            for t in (logits if isinstance(logits, list) else [logits]):
                t.grad = None
            crit(logits, y).backward()
        vals += [f, max(median_ms(fb) - f, 0.0)]
    add("loss" if setup.name in LOSSES else "cross_entropy", 1, vals)
    setup.dl_step()
    setup.t_step()
    add(f"optimizer ({setup.opt_name})", 1,
        [median_ms(setup.dl_opt.step), 0.0, median_ms(setup.t_opt.step), 0.0])

    def zero_and_restore(opt, params):
        grads = [p.grad for p in params]
        opt.zero_grad()
        for p, g in zip(params, grads):
            p.grad = g
    dps, tps = list(setup.dl.parameters()), list(setup.t.parameters())
    add("zero_grad", 1, [median_ms(lambda: zero_and_restore(setup.dl_opt, dps)), 0.0,
                         median_ms(lambda: zero_and_restore(setup.t_opt, tps)), 0.0])

    print(f"\n  per-op-family profile of one {setup.name} step (each layer call re-run alone; ms)")
    print(f"  {'family':<26}{'calls':>6}{'dl fwd':>9}{'dl bwd':>9}{'torch fwd':>11}{'torch bwd':>11}"
          f"{'dl/torch':>10}")
    dl_sum = t_sum = 0.0
    for family, (n, df, db, tf, tb) in fam.items():
        dl_sum += df + db
        t_sum += tf + tb
        ratio = (df + db) / (tf + tb) if tf + tb > 0 else float("nan")
        print(f"  {family:<26}{n:>6}{df:>9.3f}{db:>9.3f}{tf:>11.3f}{tb:>11.3f}{ratio:>10.2f}")
    print(f"  {'sum of the parts':<32}{dl_sum:>18.3f}{t_sum:>22.3f}")
    print(f"  {'step (median) - sum: overhead':<32}{dl_step_ms - dl_sum:>18.3f}{t_step_ms - t_sum:>22.3f}")
    per_shape = [(d, r) for d, r in rows.items() if r[0] in ("Conv2d", "Conv3d", "BatchNorm2d", "BatchNorm3d")]
    if per_shape:
        print("\n  convolution and batch norm per shape (one call; ms)")
        print(f"  {'call':<52}{'n':>3}{'dl fwd':>9}{'dl bwd':>9}{'torch fwd':>11}{'torch bwd':>11}"
              f"{'dl/torch':>10}")
        for desc, (kind, n, df, db, tf, tb) in per_shape:
            ratio = (df + db) / (tf + tb) if tf + tb > 0 else float("nan")
            print(f"  {desc:<52}{n:>3}{df:>9.3f}{db:>9.3f}{tf:>11.3f}{tb:>11.3f}{ratio:>10.2f}")


def run_cprofile(setup, steps):
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        setup.dl_step()
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
    print(f"\n  cProfile of {steps} dlcore {setup.name} steps (by own time)")
    print("\n".join("  " + line for line in s.getvalue().splitlines()[4:40]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--steps", type=int, default=0, help="timed steps per library (default: per model)")
    ap.add_argument("--block", type=int, default=0, help="steps per turn (default: steps / 4)")
    ap.add_argument("--optimizer", default="", help="sgd, sgd_momentum or adam for every model")
    ap.add_argument("--profile", action="store_true", help="per-op-family breakdown")
    ap.add_argument("--cprofile", action="store_true", help="cProfile of dlcore's steps")
    ap.add_argument("--threads", type=int, default=THREADS)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or the process's CPU time (steadier on a loaded machine)")
    args = ap.parse_args()
    global clock
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    torch.set_num_threads(args.threads)
    dlcore.set_num_threads(args.threads)
    names = [n for n in args.models.split(",") if n]
    for n in names:
        if n not in MODELS:
            ap.error(f"unknown model {n!r}; choose from {', '.join(MODELS)}")
    print(f"training step, {cpu_name()}, {args.threads} threads, {args.clock} clock, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.2f}")
    results = []
    for name in names:
        if args.optimizer:
            d, t, chw, b, _, s = MODELS[name]
            MODELS[name] = (d, t, chw, b, args.optimizer, s)
        setup = Setup(name)
        setup.check_first_loss()
        steps = args.steps or setup.default_steps
        dl_t, t_t = step_times(setup, steps, args.block or max(1, steps // 4))
        dl_ms, t_ms = statistics.median(dl_t) * 1e3, statistics.median(t_t) * 1e3
        dl_min, t_min = min(dl_t) * 1e3, min(t_t) * 1e3
        results.append((name, setup, dl_ms, t_ms, dl_min, t_min))
        print(f"\n{name:<9} batch {setup.batch:<4} {setup.opt_name:<13} dlcore {dl_ms:9.2f} ms   torch {t_ms:9.2f} ms"
              f"   dlcore/torch {dl_ms / t_ms:5.2f}   ({steps} steps each; fastest {dl_min:.2f} / {t_min:.2f})",
              flush=True)
        if args.profile:
            profile(setup, dl_ms, t_ms)
        if args.cprofile:
            run_cprofile(setup, max(3, steps // 2))
        sys.stdout.flush()
    print("\nsummary (median ms per step; dlcore/torch < 1 means dlcore is faster)")
    print(f"  {'model':<10}{'batch':>6}  {'optimizer':<14}{'dlcore':>10}{'torch':>10}{'ratio':>8}"
          f"{'fastest dl':>12}{'fastest torch':>15}")
    for name, setup, dl_ms, t_ms, dl_min, t_min in results:
        print(f"  {name:<10}{setup.batch:>6}  {setup.opt_name:<14}{dl_ms:>10.2f}{t_ms:>10.2f}{dl_ms / t_ms:>8.2f}"
              f"{dl_min:>12.2f}{t_min:>15.2f}")
    print(f"  load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
