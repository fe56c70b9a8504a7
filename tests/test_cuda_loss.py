"""CUDA loss kernels (cuda/loss.cu): cross entropy (class indices with ignore_index, class
weights and label smoothing, or probabilities) and nll_loss, forward and backward, on the GPU
against the same ops on the CPU.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerance: the GPU sums a row's exponentials in float for float32 and the CPU in double, so
per-row values agree to float32 rounding of sums over C terms: rtol 1e-5 (atol 1e-6 for
gradients near zero); float64 1e-12.
"""
import numpy as np
import pytest

import dlcore

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"
TOL = {dlcore.float32: dict(rtol=1e-5, atol=1e-6), dlcore.float64: dict(rtol=1e-12, atol=1e-14)}

CASES = [
    dict(),
    dict(ignore_index=2),
    dict(weight=True),
    dict(label_smoothing=0.1),
    dict(weight=True, label_smoothing=0.2, ignore_index=0),
    dict(reduction="sum"),
    dict(reduction="none", weight=True),
]


def run(device, dtype, x_np, target_np, weight_np, kw, op="cross_entropy"):
    x = dlcore.tensor(x_np, dtype=dtype, device=device, requires_grad=True)
    t = dlcore.tensor(target_np, device=device)
    if t.is_floating_point():
        t = t.to(dtype)
    w = dlcore.tensor(weight_np, dtype=dtype, device=device) if kw.get("weight") else None
    args = {k: v for k, v in kw.items() if k != "weight"}
    loss = getattr(dlcore.nn.functional, op)(x, t, weight=w, **args)
    g = dlcore.ones_like(loss) if loss.dim() == 0 else dlcore.tensor(np.linspace(0.5, 1.5, loss.numel()).reshape(
        tuple(loss.shape)), dtype=dtype, device=device)
    loss.backward(g)
    return loss.detach().cpu().numpy(), x.grad.cpu().numpy()


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64], ids=str)
@pytest.mark.parametrize("kw", CASES, ids=[str(c) for c in CASES])
@pytest.mark.parametrize("m,c", [(37, 10), (5, 1000), (3, 50257)], ids=str)
def test_cross_entropy_index_targets(dtype, kw, m, c, rng):
    x = rng.standard_normal((m, c)) * 3
    target = rng.integers(0, c, size=m)
    if "ignore_index" in kw:
        target[::4] = kw["ignore_index"]
    weight = rng.uniform(0.5, 2.0, size=c)
    for got, want in zip(run(DEVICE, dtype, x, target, weight, kw), run("cpu", dtype, x, target, weight, kw)):
        np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("kw", [dict(), dict(weight=True, label_smoothing=0.1)], ids=str)
def test_cross_entropy_probability_targets(kw, rng):
    x = rng.standard_normal((4, 3, 9)) * 2  # class dim 1, an extra spatial dim
    p = rng.uniform(0, 1, size=(4, 3, 9))
    p /= p.sum(1, keepdims=True)
    weight = rng.uniform(0.5, 2.0, size=3)
    for got, want in zip(run(DEVICE, dlcore.float32, x, p, weight, kw), run("cpu", dlcore.float32, x, p, weight, kw)):
        np.testing.assert_allclose(got, want, **TOL[dlcore.float32])


@pytest.mark.parametrize("kw", [dict(), dict(weight=True, ignore_index=1)], ids=str)
def test_nll_loss(kw, rng):
    x = rng.standard_normal((33, 7))
    target = rng.integers(0, 7, size=33)
    weight = rng.uniform(0.5, 2.0, size=7)
    for got, want in zip(run(DEVICE, dlcore.float32, x, target, weight, kw, "nll_loss"),
                         run("cpu", dlcore.float32, x, target, weight, kw, "nll_loss")):
        np.testing.assert_allclose(got, want, **TOL[dlcore.float32])


@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
def test_bad_target_raises(op):
    x = dlcore.zeros(4, 5, device=DEVICE)
    t = dlcore.tensor(np.array([0, 1, 7, -3]), device=DEVICE)
    with pytest.raises(IndexError, match=f"{op}: target (7|-3) is out of bounds for 5 classes"):
        getattr(dlcore.nn.functional, op)(x, t).item()  # raised where the host reads the loss
    loss = getattr(dlcore.nn.functional, op)(x, dlcore.tensor(np.array([0, 1, 4, 2]), device=DEVICE))
    assert np.isfinite(loss.item())  # the error was cleared
