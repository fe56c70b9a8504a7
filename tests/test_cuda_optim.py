"""CUDA optimizer kernels (cuda/optim.cu): SGD, Adam/AdamW and RMSprop steps and gradient
clipping on the GPU against the same steps on the CPU.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Both devices run the same per-element operations in the same order and dtype; they may differ
by the last bit of sqrt and division results and, after a few steps, by a few ulp: float32
rtol 1e-5 (atol 1e-7 for values near zero), float64 1e-12.
"""
import numpy as np
import pytest

import dlcore

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"

SHAPES = [(70, 33), (33,), (3, 5, 7), (1,), (300, 129)]  # one tensor spans several chunks
TOL = {dlcore.float32: dict(rtol=1e-5, atol=1e-7), dlcore.float64: dict(rtol=1e-12, atol=1e-14)}


def make_params(dtype, device, seed):
    rng = np.random.default_rng(seed)
    return [dlcore.tensor(rng.standard_normal(s), dtype=dtype, device=device, requires_grad=True) for s in SHAPES]


def set_grads(params, step):
    for i, p in enumerate(params):
        rng = np.random.default_rng(1000 * step + i)
        p.grad = dlcore.tensor(rng.standard_normal(tuple(p.shape)), dtype=p.dtype, device=p.device)


OPTIMIZERS = [
    ("sgd", lambda ps: dlcore.optim.SGD(ps, lr=0.1)),
    ("sgd_momentum", lambda ps: dlcore.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd_nesterov", lambda ps: dlcore.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("adam", lambda ps: dlcore.optim.Adam(ps, lr=1e-2, weight_decay=0.01)),
    ("adam_amsgrad", lambda ps: dlcore.optim.Adam(ps, lr=1e-2, amsgrad=True)),
    ("adamw", lambda ps: dlcore.optim.AdamW(ps, lr=1e-2, weight_decay=0.1)),
    ("rmsprop", lambda ps: dlcore.optim.RMSprop(ps, lr=1e-2)),
    ("rmsprop_centered_momentum",
     lambda ps: dlcore.optim.RMSprop(ps, lr=1e-2, centered=True, momentum=0.9, weight_decay=0.01)),
]


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64], ids=str)
@pytest.mark.parametrize("name,make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_steps_match_cpu(name, make, dtype):
    runs = {}
    for device in ("cpu", DEVICE):
        params = make_params(dtype, device, seed=3)
        opt = make(params)
        for step in range(3):
            set_grads(params, step)
            opt.step()
        runs[device] = [p.detach().cpu().numpy() for p in params]
    for got, want in zip(runs[DEVICE], runs["cpu"]):
        np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_matches_cpu(norm_type):
    results = {}
    for device in ("cpu", DEVICE):
        params = make_params(dlcore.float32, device, seed=5)
        set_grads(params, 0)
        norm = dlcore.nn.utils.clip_grad_norm_(params, max_norm=1.5, norm_type=norm_type)
        results[device] = (float(norm.item()), [p.grad.cpu().numpy() for p in params])
    assert results[DEVICE][0] == pytest.approx(results["cpu"][0], rel=1e-6)
    for got, want in zip(results[DEVICE][1], results["cpu"][1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_clip_grad_value_matches_cpu():
    results = {}
    for device in ("cpu", DEVICE):
        params = make_params(dlcore.float32, device, seed=6)
        set_grads(params, 1)
        dlcore.nn.utils.clip_grad_value_(params, 0.5)
        results[device] = [p.grad.cpu().numpy() for p in params]
    for got, want in zip(results[DEVICE], results["cpu"]):
        np.testing.assert_array_equal(got, want)
        assert np.abs(got).max() <= 0.5
