"""A small VAE: torch.distributions (Normal, Independent, kl_divergence, rsample), einsum,
linalg, a ReduceLROnPlateau schedule and TensorBoard-free metrics."""
import json
import sys

import dlcore as torch
import dlcore.nn as nn
from dlcore.distributions import Independent, Normal, kl_divergence


class VAE(nn.Module):
    def __init__(self, d=6, z=2):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, 32), nn.Tanh(), nn.Linear(32, 2 * z))
        self.dec = nn.Sequential(nn.Linear(z, 32), nn.Tanh(), nn.Linear(32, d))

    def forward(self, x):
        loc, log_scale = self.enc(x).chunk(2, dim=-1)
        q = Independent(Normal(loc, log_scale.exp()), 1)
        p = Independent(Normal(torch.zeros_like(loc), torch.ones_like(loc)), 1)
        z = q.rsample()
        recon = self.dec(z)
        log_lik = Independent(Normal(recon, torch.ones_like(recon) * 0.1), 1).log_prob(x)
        return -(log_lik - kl_divergence(q, p)).mean()


def main():
    torch.manual_seed(0)
    basis = torch.randn(2, 6)
    codes = torch.randn(512, 2)
    x = torch.einsum("nk,kd->nd", codes, basis) + 0.05 * torch.randn(512, 6)
    # the data is rank 2 up to noise: its third singular value is small
    s = torch.linalg.svdvals(x)
    assert s[2] < 0.1 * s[1], s

    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=20)
    first = None
    for step in range(400):
        opt.zero_grad()
        loss = model(x)
        loss.backward()
        opt.step()
        sched.step(loss.item())
        first = loss.item() if first is None else first
    final = model(x).item()
    assert final < 0.5 * first, (first, final)
    print("RESULT " + json.dumps({"loss_halved": final < 0.5 * first}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
