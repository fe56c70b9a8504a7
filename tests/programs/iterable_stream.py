"""A streaming IterableDataset sharded across DataLoader workers with get_worker_info,
chained with ChainDataset, feeding a small CNN with augmentation and a OneCycle schedule."""
import json
import math
import sys

import numpy as np

import dlcore as torch
import dlcore.nn as nn
import dlcore.nn.functional as F
from dlcore.utils.data import ChainDataset, DataLoader, IterableDataset, get_worker_info


class Stripes(IterableDataset):
    """8x8 images with horizontal (label 0) or vertical (label 1) stripes, plus noise."""

    def __init__(self, start, end, seed):
        self.start, self.end, self.seed = start, end, seed

    def __iter__(self):
        info = get_worker_info()
        lo, hi = self.start, self.end
        if info is not None:  # each worker takes its own slice of the range
            per = int(math.ceil((hi - lo) / info.num_workers))
            lo = lo + info.id * per
            hi = min(lo + per, self.end)
        for i in range(lo, hi):
            rng = np.random.default_rng(self.seed * 100003 + i)
            label = i % 2
            img = np.zeros((8, 8), np.float32)
            phase = rng.integers(0, 2)
            if label == 0:
                img[phase::2, :] = 1.0
            else:
                img[:, phase::2] = 1.0
            img += rng.normal(scale=0.3, size=img.shape).astype(np.float32)
            if rng.random() < 0.5:  # augmentation: flips keep the label
                img = img[::-1].copy() if label == 0 else img[:, ::-1].copy()
            yield torch.from_numpy(img).unsqueeze(0), label


def main():
    torch.manual_seed(0)
    data = ChainDataset([Stripes(0, 300, 1), Stripes(300, 600, 1)])
    loader = DataLoader(data, batch_size=50, num_workers=2)
    seen = [y.tolist() for _, y in loader]
    flat = sorted(v for batch in seen for v in batch)
    assert len(flat) == 600 and sum(flat) == 300  # each sample exactly once across the workers

    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=3 * len(seen))
    for epoch in range(3):
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
    test = DataLoader(Stripes(10_000, 10_400, 2), batch_size=100)
    model.eval()
    with torch.inference_mode():
        correct = sum((model(x).argmax(1) == y).sum().item() for x, y in test)
    acc = correct / 400
    assert acc > 0.95, acc
    print("RESULT " + json.dumps({"accuracy_above_0.95": acc > 0.95}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
