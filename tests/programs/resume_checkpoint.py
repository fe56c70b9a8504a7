"""Checkpoint and resume: training 6 epochs straight equals training 3, saving model,
optimizer, scheduler and RNG state to a .pt file, and resuming in a fresh model for 3 more."""
import json
import os
import sys
import tempfile

import dlcore as torch
import dlcore.nn as nn
from dlcore.utils.data import DataLoader, TensorDataset


def make_model():
    return nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.BatchNorm1d(8), nn.GELU(), nn.Flatten(),
                         nn.Dropout(0.1), nn.Linear(8 * 12, 3))


def run_epochs(model, opt, sched, loader, epochs):
    losses = []
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
            losses.append(loss.item())
        sched.step()
    return losses


def main():
    torch.manual_seed(0)
    x = torch.randn(240, 2, 12)
    y = torch.randint(0, 3, (240,))
    ds = TensorDataset(x, y)

    def loader(seed):
        return DataLoader(ds, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed))

    torch.manual_seed(1)
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)
    straight = run_epochs(model, opt, sched, loader(5), 3)
    state = torch.get_rng_state()
    straight += run_epochs(model, opt, sched, loader(6), 3)

    torch.manual_seed(1)
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)
    first = run_epochs(model, opt, sched, loader(5), 3)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ckpt.pth")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "rng": torch.get_rng_state(), "losses": first}, path)
        del model, opt, sched
        ckpt = torch.load(path, weights_only=True)
    model = make_model()
    model.load_state_dict(ckpt["model"])
    opt = torch.optim.AdamW(model.parameters(), lr=1.0)
    opt.load_state_dict(ckpt["opt"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)
    sched.load_state_dict(ckpt["sched"])
    torch.set_rng_state(ckpt["rng"])
    assert torch.equal(ckpt["rng"], state)
    resumed = ckpt["losses"] + run_epochs(model, opt, sched, loader(6), 3)
    assert resumed == straight, (resumed[-3:], straight[-3:])
    print("RESULT " + json.dumps({"steps": len(resumed), "identical": resumed == straight}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
