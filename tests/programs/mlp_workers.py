"""An MLP on a synthetic 10-class problem: Dataset subclass, DataLoader with worker processes,
samplers, SGD + momentum, StepLR, accuracy, a .pt checkpoint reloaded into a fresh model."""
import json
import os
import sys
import tempfile

import numpy as np

import dlcore as torch
import dlcore.nn as nn
import dlcore.nn.functional as F
from dlcore.utils.data import DataLoader, Dataset, WeightedRandomSampler, random_split


class Blobs(Dataset):
    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        centers = rng.normal(scale=1.0, size=(10, 16))
        self.y = rng.integers(0, 10, size=n)
        self.x = (centers[self.y] + rng.normal(size=(n, 16))).astype(np.float32)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return torch.from_numpy(self.x[i]), int(self.y[i])


def seed_worker(worker_id):
    info = torch.utils.data.get_worker_info()
    assert info is not None and info.id == worker_id
    np.random.seed(info.seed % 2**32)


def main():
    torch.manual_seed(0)
    data = Blobs(3000, seed=1)
    train, val = random_split(data, [0.8, 0.2], generator=torch.Generator().manual_seed(0))
    loader = DataLoader(train, batch_size=64, shuffle=True, num_workers=2, worker_init_fn=seed_worker,
                        persistent_workers=True, generator=torch.Generator().manual_seed(1))
    weights = torch.ones(len(train))
    balanced = DataLoader(train, batch_size=64, sampler=WeightedRandomSampler(weights, num_samples=640))
    val_loader = DataLoader(val, batch_size=256, num_workers=2)

    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for epoch in range(4):
        model.train()
        for source in (loader, balanced):
            for x, y in source:
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
        sched.step()

    def accuracy(m):
        m.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += (m(x).argmax(dim=1) == y).sum().item()
                total += y.numel()
        return correct / total

    acc = accuracy(model)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "mlp.pt")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 4}, path)
        ckpt = torch.load(path)
        fresh = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 10))
        fresh.load_state_dict(ckpt["model"])
        opt2 = torch.optim.SGD(fresh.parameters(), lr=0.05, momentum=0.9)
        opt2.load_state_dict(ckpt["optimizer"])
    assert ckpt["epoch"] == 4
    assert accuracy(fresh) == acc
    assert acc > 0.75, acc
    print("RESULT " + json.dumps({"accuracy_above_0.75": acc > 0.75}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
