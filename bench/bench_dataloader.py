"""DataLoader worker processes on an augmentation-heavy image pipeline, dlcore vs PyTorch.

The dataset holds 3x80x80 uint8 images; each sample is a random 64x64 crop, a random flip,
colour jitter (brightness, contrast, saturation), a 9x9 box blur, a random gamma and per-channel
normalisation, all in numpy float32 (about 0.7 ms per sample on the reference machine, holding
the GIL, so a prefetch thread cannot overlap it). The same dataset object feeds both libraries' DataLoaders (numpy arrays,
collated into each library's tensors), batch size 32:
  epoch, workers=0 / workers=2   seconds per epoch of 512 samples (median of REPS epochs, the
                                 loaders taking turns); workers=2 starts its workers each epoch
                                 (the default), "persistent" keeps them (persistent_workers=True)
  speedup                        workers=0 time / workers=2 time, fresh and persistent workers
  first batch                    iter(loader) + next(): start 2 fresh workers, get batch 1
and, for scale, how much faster two plain processes run the same samples than one.
Numbers are medians; the machine's cores are shared, so expect noise of 10% or so.

    python bench/bench_dataloader.py
"""
import multiprocessing
import os
import statistics
import time

import numpy as np

import dlcore
import dlcore.utils.data as dl_data
from benchutil import cpu_name, median_times  # noqa: E402

import torch
import torch.utils.data as torch_data

N = 512
BATCH = 32
REPS = 5
MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]


class Augmented:
    """Map-style dataset (both libraries accept any object with __getitem__ and __len__)."""

    def __init__(self, n):
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (n, 3, 80, 80), dtype=np.uint8)
        self.labels = rng.integers(0, 10, n)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        rng = np.random  # seeded per worker by both loaders
        img = self.images[i]
        y, x = rng.randint(0, 17, 2)
        a = img[:, y:y + 64, x:x + 64].astype(np.float32) / 255.0
        if rng.rand() < 0.5:
            a = a[:, :, ::-1]
        b, c, s = rng.uniform(0.6, 1.4, 3)
        a = a * b
        gray = (0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2])[None]
        a = c * a + (1 - c) * gray.mean()
        gray = (0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2])[None]
        a = np.clip(s * a + (1 - s) * gray, 0.0, 1.0)
        padded = np.pad(a, ((0, 0), (4, 4), (4, 4)), mode="reflect")
        blur = np.zeros_like(a)
        for dy in range(9):
            for dx in range(9):
                blur += padded[:, dy:dy + 64, dx:dx + 64]
        a = np.power(blur / 81.0, rng.uniform(0.7, 1.5))
        return np.ascontiguousarray((a - MEAN) / STD, dtype=np.float32), int(self.labels[i])


def consume(loader):
    for x, y in loader:
        x.sum()  # touch the batch


def first_batch_seconds(make_loader):
    """Seconds from iter() on a new loader to its first batch (fresh workers)."""
    loader = make_loader()
    t0 = time.perf_counter()
    it = iter(loader)
    next(it)
    elapsed = time.perf_counter() - t0
    del it
    return elapsed


def _samples(ds, indices):
    for i in indices:
        ds[i]


def parallel_ceiling(ds):
    """Serial time / time in two plain forked processes for one epoch of samples: the speedup
    the machine offers at the moment (other work on the shared cores lowers it below 2)."""
    ctx = multiprocessing.get_context("fork")
    half = [range(0, N, 2), range(1, N, 2)]
    t0 = time.perf_counter()
    _samples(ds, range(N))
    serial = time.perf_counter() - t0
    procs = [ctx.Process(target=_samples, args=(ds, h)) for h in half]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return serial / (time.perf_counter() - t0)


def main():
    dlcore.set_num_threads(2)
    torch.set_num_threads(2)
    ds = Augmented(N)
    t0 = time.perf_counter()
    for i in range(64):
        ds[i]
    per_sample = (time.perf_counter() - t0) / 64

    def ours(workers, persistent=False):
        return lambda: dl_data.DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=workers,
                                          persistent_workers=persistent,
                                          **({"prefetch": 0} if workers == 0 else {}))

    def theirs(workers, persistent=False):
        return lambda: torch_data.DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=workers,
                                             persistent_workers=persistent)

    # Each library's loaders run in turn, epoch by epoch, so both see the same load on shared cores.
    loaders = [make(w, p)() for make in (ours, theirs) for w, p in ((0, False), (2, False), (2, True))]
    (e_ours0, e_ours2, e_ours2p, e_theirs0, e_theirs2, e_theirs2p) = median_times(
        [lambda ld=ld: consume(ld) for ld in loaders], REPS, warmup=1)
    starts = [[], []]
    for _ in range(REPS):
        for k, make in enumerate((ours, theirs)):
            starts[k].append(first_batch_seconds(make(2)))
    rows = [("dlcore", e_ours0, e_ours2, e_ours2p, statistics.median(starts[0])),
            ("torch", e_theirs0, e_theirs2, e_theirs2p, statistics.median(starts[1]))]
    print(f"DataLoader, {N} samples of 3x64x64 per epoch, batch {BATCH}, {per_sample * 1e3:.1f} ms/sample "
          f"augmentation; {cpu_name()}, {os.cpu_count()} cores")
    print(f"the same samples in 2 plain processes: {parallel_ceiling(ds):.2f}x faster than in 1 (the ceiling now)")
    print(f"{'library':8} {'epoch w=0 (s)':>14} {'epoch w=2 (s)':>14} {'speedup':>8} {'persistent (s)':>15} "
          f"{'speedup':>8} {'first batch w=2 (s)':>20}")
    for name, e0, e2, e2p, first in rows:
        print(f"{name:8} {e0:14.3f} {e2:14.3f} {e0 / e2:7.2f}x {e2p:15.3f} {e0 / e2p:7.2f}x {first:20.3f}")


if __name__ == "__main__":
    main()
