"""Training on the GPU: an MLP, a GPT and a ViT take the same steps on CUDA as on the CPU
(forward, loss, backward, optimizer), with the same Python code and `model.to("cuda")`; GPT
generates the same greedy tokens on both.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerance: float32 products and row sums accumulate in a different order on the two devices
(a few ulp per op); over five steps of a small network the losses and weights stay within
rtol 1e-4 (atol 1e-6). The transformers' parameters after four AdamW steps: Adam divides by
sqrt(v) + eps, which magnifies differences in tiny gradients, so rtol 1e-3 / atol 1e-5 (lr 1e-3
bounds each step's change).
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


def train_model(device, make_model, make_batch, loss_of, steps=4):
    """Losses and final parameters of `steps` AdamW steps of a model built under manual_seed(0)."""
    dlcore.manual_seed(0)
    model = make_model().to(device)
    opt = dlcore.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(3)
    losses = []
    for _ in range(steps):
        batch = [dlcore.tensor(a, device=device) for a in make_batch(rng)]
        loss = loss_of(model, *batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses, [p.detach().cpu().numpy() for p in model.parameters()]


def test_gpt_steps_match_cpu():
    """GPT (embeddings, causal fused attention, LayerNorm, GELU-tanh MLP, tied head, cross entropy)
    with the same Python code on both devices."""
    def batch(rng):
        idx = rng.integers(0, 256, size=(4, 33))
        return idx[:, :-1], idx[:, 1:]
    args = (lambda: dlcore.models.gpt_nano(block_size=32), batch, lambda m, x, y: m(x, y)[1])
    got_losses, got_params = train_model(DEVICE, *args)
    want_losses, want_params = train_model("cpu", *args)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-4)
    assert got_losses[-1] < got_losses[0]
    for got, want in zip(got_params, want_params):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


def test_gpt_generates_on_the_device():
    dlcore.manual_seed(0)
    model = dlcore.models.gpt_nano(block_size=32).to(DEVICE).eval()
    prompt = dlcore.tensor([[1, 2, 3]], device=DEVICE)
    with_cache = model.generate(prompt, 10, temperature=0)
    without = model.generate(prompt, 10, temperature=0, use_cache=False)
    assert with_cache.device.type == DEVICE.split(":")[0] and list(with_cache.shape) == [1, 13]
    np.testing.assert_array_equal(with_cache.cpu().numpy(), without.cpu().numpy())
    cpu = dlcore.models.gpt_nano(block_size=32)
    cpu.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    np.testing.assert_array_equal(cpu.eval().generate(prompt.cpu(), 10, temperature=0).numpy(),
                                  with_cache.cpu().numpy())


def test_vit_steps_match_cpu():
    """ViT (patch convolution, class token, encoder layers with multi-head attention) on 16x16
    images with patches of 4."""
    def batch(rng):
        return rng.standard_normal((4, 1, 16, 16)).astype(np.float32), rng.integers(0, 10, size=4)
    args = (lambda: dlcore.models.vit_tiny_patch4(image_size=16, num_layers=2), batch,
            lambda m, x, y: nn.functional.cross_entropy(m(x), y))
    got_losses, got_params = train_model(DEVICE, *args)
    want_losses, want_params = train_model("cpu", *args)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-4)
    for got, want in zip(got_params, want_params):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
