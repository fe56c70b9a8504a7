"""Where a YOLOv8 training step goes: the network's forward and backward, the v8 loss with its
assigner (forward and backward), the optimizer step with the weight EMA, and the data pipeline
(mosaic/affine/HSV/flip samples and collation), on real shapes batches.

Each part is timed alone (medians of several repetitions) and the whole step end to end; the
table gives ms and the share of the step. 2 threads by default.

Usage: python bench/bench_yolo.py [--model yolov8n] [--batch 16] [--size 160] [--reps 10]
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import dlcore  # noqa: E402
from benchutil import cpu_name, median_seconds  # noqa: E402


def median_ms(fn, reps):
    return median_seconds(fn, reps, pause=0.05) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="yolov8n")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    dlcore.set_num_threads(args.threads)

    from dlcore.cli.detect import ModelEMA, _param_groups
    from dlcore.data.datasets.shapes import Shapes
    from dlcore.data.detection import detection_collate
    from dlcore.models import get_model
    from dlcore.models.yolo_loss import DetectionLoss

    ds = Shapes("train", img_size=args.size, augment=True, num_images=500)
    dlcore.manual_seed(0)
    model = get_model(args.model, num_classes=ds.nc)
    ema = ModelEMA(model, get_model(args.model, num_classes=ds.nc))
    opt = dlcore.optim.SGD(_param_groups(model, 5e-4), lr=0.01, momentum=0.937, nesterov=True)
    crit = DetectionLoss(model)
    batch = detection_collate([ds[i] for i in range(args.batch)])
    x = batch["img"]
    model.train()

    def network():
        outs = model(x)
        sum((o * o).mean() for o in outs).backward()

    feats = [f.detach() for f in model(x)]
    leaves = [f.clone().requires_grad_(True) for f in feats]

    def loss_part():
        total, _ = crit(leaves, batch["labels"], batch["counts"])
        total.backward()

    def assign_only():
        crit.assign(crit.decode(feats), batch["labels"], batch["counts"])

    network()  # gradients exist for the optimizer

    def optimizer():
        dlcore.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update(model)

    rng = np.random.default_rng(0)

    def data():
        detection_collate([ds.sample(int(i), rng) for i in rng.integers(0, len(ds), args.batch)])

    def step():
        total, _ = crit(model(x), batch["labels"], batch["counts"])
        opt.zero_grad()
        total.backward()
        optimizer()

    rows = [("network forward + backward", median_ms(network, args.reps)),
            ("loss + assigner, forward + backward", median_ms(loss_part, args.reps)),
            ("  of which the assigner (numpy)", median_ms(assign_only, args.reps)),
            ("optimizer (clip, SGD, EMA)", median_ms(optimizer, args.reps))]
    whole = median_ms(step, args.reps)
    data_ms = median_ms(data, args.reps)
    print(f"{args.model} training step, batch {args.batch}, {args.size}x{args.size}, {cpu_name()}, "
          f"{args.threads} threads, load average {os.getloadavg()[0]:.2f}")
    print(f"  {'part':<40}{'ms':>9}{'share of step':>15}")
    for name, ms in rows:
        print(f"  {name:<40}{ms:>9.2f}{100 * ms / whole:>14.1f}%")
    print(f"  {'whole step (end to end)':<40}{whole:>9.2f}{100.0:>14.1f}%")
    print(f"  {'data: one batch of augmented samples':<40}{data_ms:>9.2f}   (a background thread prepares it)")


if __name__ == "__main__":
    main()
