"""Losses against PyTorch on larger shapes (float32 forward and gradients), double backward,
and the fused softmax rows against torch (long rows, odd lengths, NaN/inf rows)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlcore

# float32: the loss is a mean/sum of per-row logsumexp terms (~1e-7 relative each, exp within
# 2 ulp); gradients are softmax - dist, absolute error ~1e-7 per element.
F32 = dict(rtol=2e-5, atol=2e-6)


def pair(a, requires_grad=False):
    d = dlcore.tensor(a)
    t = torch.from_numpy(np.ascontiguousarray(a).copy())
    if requires_grad:
        d.requires_grad_(True)
        t.requires_grad_(True)
    return d, t


def close(d, t, **tol):
    np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), **(tol or F32))


@pytest.mark.parametrize("shape", [(256, 1000), (64, 1001), (8, 21, 16, 16), (4, 7, 33), (300, 1), (33, 17)])
@pytest.mark.parametrize("weighted,eps,red", [(False, 0.0, "mean"), (True, 0.1, "mean"), (True, 0.0, "sum"),
                                              (False, 0.2, "none")])
def test_cross_entropy_index_vs_torch(shape, weighted, eps, red):
    r = np.random.default_rng(sum(shape))
    C = shape[1]
    x = (3 * r.standard_normal(shape)).astype(np.float32)
    t = r.integers(0, C, (shape[0],) + shape[2:])
    t.flat[::5] = -100
    w = r.uniform(0.5, 2.0, C).astype(np.float32) if weighted else None
    dx, tx = pair(x, True)
    kw = dict(reduction=red, label_smoothing=eps)
    dl = dlcore.cross_entropy(dx, dlcore.tensor(t), weight=None if w is None else dlcore.tensor(w), **kw)
    th = F.cross_entropy(tx, torch.from_numpy(t), weight=None if w is None else torch.from_numpy(w), **kw)
    close(dl, th)
    g = r.standard_normal(th.shape).astype(np.float32)
    dl.backward(dlcore.tensor(g))
    th.backward(torch.from_numpy(g))
    close(dx.grad, tx.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape", [(128, 1000), (4, 5, 6, 7)])
def test_cross_entropy_prob_vs_torch(shape):
    r = np.random.default_rng(1)
    x = r.standard_normal(shape).astype(np.float32)
    p = r.uniform(0, 1, shape).astype(np.float32)
    p /= p.sum(axis=1, keepdims=True)
    w = r.uniform(0.5, 2.0, shape[1]).astype(np.float32)
    dx, tx = pair(x, True)
    dp, tp = pair(p, True)
    dl = dlcore.cross_entropy(dx, dp, weight=dlcore.tensor(w), label_smoothing=0.1)
    th = F.cross_entropy(tx, tp, weight=torch.from_numpy(w), label_smoothing=0.1)
    close(dl, th)
    dl.backward()
    th.backward()
    close(dx.grad, tx.grad, rtol=1e-4, atol=1e-7)
    close(dp.grad, tp.grad, rtol=1e-4, atol=1e-7)


def test_nll_of_log_softmax_matches_cross_entropy():
    r = np.random.default_rng(2)
    x = r.standard_normal((200, 77)).astype(np.float32)
    t = r.integers(0, 77, 200)
    dx, tx = pair(x, True)
    dl = dlcore.nll_loss(dlcore.log_softmax(dx, 1), dlcore.tensor(t))
    th = F.nll_loss(torch.log_softmax(tx, 1), torch.from_numpy(t))
    close(dl, th)
    dl.backward()
    th.backward()
    close(dx.grad, tx.grad, rtol=1e-4, atol=1e-7)


def test_all_ignored_mean_is_nan_like_torch():
    x = np.zeros((3, 4), np.float32)
    t = np.full(3, -100)
    dl = dlcore.cross_entropy(dlcore.tensor(x), dlcore.tensor(t))
    th = F.cross_entropy(torch.from_numpy(x), torch.from_numpy(t))
    assert np.isnan(dl.item()) and np.isnan(th.item())


def test_extreme_logits_stay_finite():
    x = np.array([[1000.0, -1000.0, 0.0], [-1e4, -1e4, -1e4]], np.float32)
    t = np.array([1, 2])
    dx, tx = pair(x, True)
    dl = dlcore.cross_entropy(dx, dlcore.tensor(t), reduction="sum")
    th = F.cross_entropy(tx, torch.from_numpy(t), reduction="sum")
    close(dl, th, rtol=1e-6)
    dl.backward()
    th.backward()
    close(dx.grad, tx.grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fn", ["ce_index", "ce_prob", "nll"])
def test_double_backward(fn):
    """create_graph: the gradient is itself differentiable (gradient penalties)."""
    r = np.random.default_rng(3)
    x = r.standard_normal((4, 5))
    t = np.array([0, 4, -100, 2])
    p = r.uniform(0.1, 1, (4, 5))
    w = r.uniform(0.5, 2, 5)

    def run(lib, xx):
        T = (lambda a: dlcore.tensor(a)) if lib is dlcore else torch.from_numpy
        if fn == "ce_index":
            return lib_ce(lib)(xx, T(t), weight=T(w), label_smoothing=0.1)
        if fn == "ce_prob":
            return lib_ce(lib)(xx, T(p), weight=T(w), label_smoothing=0.1)
        return (dlcore.nll_loss if lib is dlcore else F.nll_loss)(xx * xx, T(t), weight=T(w))

    def lib_ce(lib):
        return dlcore.cross_entropy if lib is dlcore else F.cross_entropy

    dx, tx = pair(x, True)
    (gd,) = dlcore.autograd.grad(run(dlcore, dx), [dx], create_graph=True)
    (gt,) = torch.autograd.grad(run(torch, tx), [tx], create_graph=True)
    close(gd, gt, rtol=1e-10, atol=1e-12)
    (hd,) = dlcore.autograd.grad((gd * gd).sum(), [dx])
    (ht,) = torch.autograd.grad((gt * gt).sum(), [tx])
    close(hd, ht, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("shape,dim", [((64, 1000), 1), ((3, 100003), 1), ((5, 17), 1), ((7, 1), 1),
                                       ((6, 300, 5), 1), ((1000, 33), 0)])
def test_softmax_rows_vs_torch(shape, dim):
    r = np.random.default_rng(4)
    x = (5 * r.standard_normal(shape)).astype(np.float32)
    g = r.standard_normal(shape).astype(np.float32)
    for name in ["softmax", "log_softmax"]:  # float32 vs torch in float64
        dx = dlcore.tensor(x).requires_grad_(True)
        tx = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
        dl = getattr(dlcore, name)(dx, dim)
        th = getattr(torch, name)(tx, dim)
        # log_softmax: |y| up to ~50, float32 rounding of x - max - log_sum ~ 50 * 6e-8
        close(dl, th, rtol=2e-5, atol=5e-6 if name == "log_softmax" else 1e-9)
        dl.backward(dlcore.tensor(g))
        th.backward(torch.from_numpy(g.astype(np.float64)))
        close(dx.grad, tx.grad, rtol=1e-4, atol=5e-6)


def test_softmax_rows_with_nan_and_inf():
    x = np.array([[1.0, np.nan, 2.0], [-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, 1.0]], np.float32)
    for name in ["softmax", "log_softmax"]:
        dl = getattr(dlcore, name)(dlcore.tensor(x), 1).numpy()
        th = getattr(torch, name)(torch.from_numpy(x), 1).numpy()
        np.testing.assert_allclose(dl, th, rtol=1e-6, equal_nan=True)
