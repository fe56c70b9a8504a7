"""Training on the GPU: an MLP and a small Linear/LayerNorm-free classifier take the same steps
on CUDA as on the CPU (forward, cross entropy, backward, optimizer), with the same Python code
and `model.to("cuda")`.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerance: float32 products and row sums accumulate in a different order on the two devices
(a few ulp per op); over five steps of a small network the losses and weights stay within
rtol 1e-4 (atol 1e-6).
"""
import numpy as np
import pytest

import dlcore
from dlcore import nn

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"


def train(device, make_opt, steps=5):
    dlcore.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 5))
    model.to(device)
    opt = make_opt(model.parameters())
    rng = np.random.default_rng(1)
    losses = []
    for _ in range(steps):
        x = dlcore.tensor(rng.standard_normal((64, 20)).astype(np.float32), device=device)
        y = dlcore.tensor(rng.integers(0, 5, size=64), device=device)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.item()))
    return losses, [p.detach().cpu().numpy() for p in model.parameters()]


@pytest.mark.parametrize("name,make_opt", [
    ("sgd_momentum", lambda ps: dlcore.optim.SGD(ps, lr=0.1, momentum=0.9)),
    ("adamw", lambda ps: dlcore.optim.AdamW(ps, lr=1e-2)),
], ids=["sgd_momentum", "adamw"])
def test_mlp_steps_match_cpu(name, make_opt):
    got_losses, got_params = train(DEVICE, make_opt)
    want_losses, want_params = train("cpu", make_opt)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-4)
    assert got_losses[-1] < got_losses[0]  # it learns
    for got, want in zip(got_params, want_params):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
