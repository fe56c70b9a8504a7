"""Mixed precision on any machine: GradScaler's logic on the CPU (checked step by step against
torch.amp.GradScaler on the same sequence of gradients), the autocast state (nesting,
decorator, threads, errors), CPU tensors untouched under autocast("cuda"), and the behaviour
of pinned memory without a GPU. The GPU side is in test_cuda_amp.py.

Scales are powers of two, so unscaled gradients are exact and compared with ==.
"""
import math
import pickle
import threading
import warnings

import numpy as np
import pytest
import torch

import dlcore
import dlcore.nn.functional as F

HAVE_CUDA = dlcore.cuda.is_available()
no_cuda_only = pytest.mark.skipif(HAVE_CUDA, reason="checks the behaviour without a CUDA device")


# ---- GradScaler ---------------------------------------------------------------------------------
def _pair(values, **kw):
    """A dlcore and a torch parameter with the same values, an SGD optimizer and a CPU scaler each."""
    p = dlcore.tensor(values, dtype=dlcore.float32, requires_grad=True)
    tp = torch.tensor(values, dtype=torch.float32, requires_grad=True)
    opt, topt = dlcore.optim.SGD([p], lr=0.5), torch.optim.SGD([tp], lr=0.5)
    return (p, opt, dlcore.amp.GradScaler("cpu", **kw)), (tp, topt, torch.amp.GradScaler("cpu", **kw))


def _iteration(p, opt, scaler, grad, lib):
    """One training iteration whose (unscaled) gradient is `grad`: loss = sum(p * grad)."""
    opt.zero_grad()
    g = lib.tensor(grad, dtype=lib.float32)
    scaler.scale((p * g).sum()).backward()
    scaler.step(opt)
    scaler.update()


GRADS = [[1.0, -2.0], [math.inf, 1.0], [0.5, 0.25], [1.0, 1.0], [math.nan, 0.0], [2.0, 3.0], [1.0, 0.5],
         [-1.0, 4.0], [1e30, 1e30], [0.25, 0.5], [1.0, -1.0], [3.0, 2.0]]


@pytest.mark.parametrize("kw", [dict(init_scale=8.0, growth_interval=2), dict(init_scale=2.0**16),
                                dict(init_scale=4.0, growth_factor=4.0, backoff_factor=0.25, growth_interval=3)],
                         ids=["interval2", "defaults", "factors"])
def test_grad_scaler_schedule_matches_torch(kw):
    (p, opt, scaler), (tp, topt, tscaler) = _pair([0.5, -1.5], **kw)
    for grad in GRADS:
        _iteration(p, opt, scaler, grad, dlcore)
        _iteration(tp, topt, tscaler, grad, torch)
        assert scaler.get_scale() == tscaler.get_scale()
        assert scaler._get_growth_tracker() == tscaler._get_growth_tracker()
        np.testing.assert_array_equal(p.detach().numpy(), tp.detach().numpy())
    assert scaler.state_dict() == tscaler.state_dict()


def test_grad_scaler_skips_step_on_inf_and_nan():
    for bad in (math.inf, -math.inf, math.nan):
        p = dlcore.tensor([1.0, 2.0, 3.0], requires_grad=True)
        opt = dlcore.optim.SGD([p], lr=1.0)
        scaler = dlcore.amp.GradScaler("cpu", init_scale=16.0)
        scaler.scale((p * dlcore.tensor([1.0, bad, 1.0])).sum()).backward()
        assert scaler.step(opt) is None
        scaler.update()
        np.testing.assert_array_equal(p.detach().numpy(), [1.0, 2.0, 3.0])
        assert scaler.get_scale() == 8.0
        assert scaler._get_growth_tracker() == 0


def test_grad_scaler_overflow_of_the_scaled_gradient_is_detected():
    # Finite gradients that overflow float32 once multiplied by the scale.
    p = dlcore.tensor([1.0], requires_grad=True)
    opt = dlcore.optim.SGD([p], lr=1.0)
    scaler = dlcore.amp.GradScaler("cpu", init_scale=2.0**100)
    scaler.scale((p * 1e30).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert p.item() == 1.0 and scaler.get_scale() == 2.0**99


def test_unscale_divides_every_gradient_by_the_scale(rng):
    a = dlcore.tensor(rng.standard_normal((3, 4)), dtype=dlcore.float32, requires_grad=True)
    b = dlcore.tensor(rng.standard_normal(5), dtype=dlcore.float64, requires_grad=True)
    c = dlcore.tensor(rng.standard_normal(2), dtype=dlcore.float32, requires_grad=True)  # gets no grad
    opt = dlcore.optim.SGD([{"params": [a]}, {"params": [b, c]}], lr=0.1)
    scaler = dlcore.amp.GradScaler("cpu", init_scale=1024.0)
    ga, gb = rng.standard_normal((3, 4)), rng.standard_normal(5)
    loss = (a * dlcore.tensor(ga, dtype=dlcore.float32)).sum() + (b * dlcore.tensor(gb)).sum()
    scaler.scale(loss).backward()
    np.testing.assert_array_equal(a.grad.numpy(), (ga.astype(np.float32) * np.float32(1024)))
    scaler.unscale_(opt)
    np.testing.assert_array_equal(a.grad.numpy(), ga.astype(np.float32))
    np.testing.assert_allclose(b.grad.numpy(), gb, rtol=1e-15)
    assert c.grad is None
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    before = a.detach().numpy().copy()
    scaler.step(opt)  # does not unscale again
    np.testing.assert_allclose(a.detach().numpy(), before - 0.1 * ga.astype(np.float32), rtol=1e-6)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    scaler.update()
    assert scaler.get_scale() == 1024.0 and scaler._get_growth_tracker() == 1


def test_unscale_kernel_non_contiguous_and_flags(rng):
    g = dlcore.tensor(rng.standard_normal((4, 6)), dtype=dlcore.float32).t()  # a transposed view
    h = dlcore.tensor(rng.standard_normal(7))
    want_g, want_h = g.numpy() * 0.25, h.numpy() * 0.25
    found = dlcore.zeros(())
    dlcore._C._amp_foreach_non_finite_check_and_unscale_([g, h], found, dlcore.full((), 0.25))
    np.testing.assert_array_equal(g.numpy(), want_g)
    np.testing.assert_allclose(h.numpy(), want_h, rtol=1e-15)
    assert found.item() == 0.0
    bad = dlcore.tensor([1.0, math.nan, 2.0])
    dlcore._C._amp_foreach_non_finite_check_and_unscale_([bad], found, dlcore.full((), 0.5))
    assert found.item() == 1.0
    np.testing.assert_array_equal(bad.numpy()[[0, 2]], [0.5, 1.0])
    with pytest.raises(TypeError, match="found_inf must be float32"):
        dlcore._C._amp_foreach_non_finite_check_and_unscale_([h], dlcore.zeros((), dtype=dlcore.float64),
                                                            dlcore.full((), 0.5))
    with pytest.raises(ValueError, match="inv_scale must have exactly one element"):
        dlcore._C._amp_foreach_non_finite_check_and_unscale_([h], found, dlcore.ones(2))


def test_update_scale_kernel_matches_the_rule():
    scale, tracker = dlcore.full((), 4.0), dlcore.zeros((), dtype=dlcore.int32)
    clean, inf = dlcore.zeros(()), dlcore.ones(())
    seq = []
    for fi in (clean, clean, clean, inf, clean):
        dlcore._C._amp_update_scale_(scale, tracker, fi, 2.0, 0.5, 3)
        seq.append((scale.item(), int(tracker.item())))
    assert seq == [(4.0, 1), (4.0, 2), (8.0, 0), (4.0, 0), (4.0, 1)]
    big = dlcore.full((), 3e38)  # growing would overflow float32: the scale is kept
    dlcore._C._amp_update_scale_(big, tracker, clean, 2.0, 0.5, 2)
    assert big.item() == pytest.approx(3e38) and int(tracker.item()) == 0


def test_grad_scaler_state_dict_round_trip():
    (p, opt, scaler), _ = _pair([1.0, 1.0], init_scale=32.0, growth_interval=3, growth_factor=4.0)
    for grad in GRADS[:4]:
        _iteration(p, opt, scaler, grad, dlcore)
    sd = scaler.state_dict()
    assert sd == {"scale": scaler.get_scale(), "growth_factor": 4.0, "backoff_factor": 0.5, "growth_interval": 3,
                  "_growth_tracker": scaler._get_growth_tracker()}
    fresh = dlcore.amp.GradScaler("cpu")
    fresh.load_state_dict(sd)
    assert fresh.state_dict() == sd
    clone = pickle.loads(pickle.dumps(scaler))
    assert clone.state_dict() == sd
    # The reloaded scalers continue the schedule exactly like the original.
    q, r = dlcore.tensor([1.0, 1.0], requires_grad=True), dlcore.tensor([1.0, 1.0], requires_grad=True)
    for grad in GRADS[4:]:
        _iteration(p, opt, scaler, grad, dlcore)
        _iteration(q, dlcore.optim.SGD([q], lr=0.5), fresh, grad, dlcore)
        _iteration(r, dlcore.optim.SGD([r], lr=0.5), clone, grad, dlcore)
        assert fresh.get_scale() == clone.get_scale() == scaler.get_scale()
    # torch reads our state dict and vice versa
    t = torch.amp.GradScaler("cpu")
    t.load_state_dict(scaler.state_dict())
    assert t.state_dict() == scaler.state_dict()
    with pytest.raises(RuntimeError, match="state dict is empty"):
        fresh.load_state_dict({})


def test_grad_scaler_scale_nested_outputs_and_new_scale():
    scaler = dlcore.amp.GradScaler("cpu", init_scale=4.0)
    a, b = dlcore.tensor([1.0, 2.0]), dlcore.tensor(3.0)
    out = scaler.scale([a, (b, [a])])
    assert isinstance(out, list) and isinstance(out[1], tuple)
    np.testing.assert_array_equal(out[0].numpy(), [4.0, 8.0])
    assert out[1][0].item() == 12.0 and out[1][1][0].numpy().tolist() == [4.0, 8.0]
    with pytest.raises(ValueError, match="iterable of Tensors"):
        scaler.scale(3.0)
    scaler.update(new_scale=128.0)
    assert scaler.get_scale() == 128.0
    scaler.update(new_scale=dlcore.tensor([0.5]))
    assert scaler.get_scale() == 0.5
    with pytest.raises(RuntimeError, match="No inf checks were recorded prior to update"):
        scaler.update()


def test_grad_scaler_misuse_errors():
    p = dlcore.tensor([1.0], requires_grad=True)
    opt = dlcore.optim.SGD([p], lr=1.0)
    scaler = dlcore.amp.GradScaler("cpu")
    with pytest.raises(RuntimeError, match="did not use scaler.scale"):
        scaler.step(opt)
    scaler.scale(p.sum())  # creates the scale, but no backward: no grads
    with pytest.raises(RuntimeError, match="No inf checks were recorded for this optimizer"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: None)
    with pytest.raises(ValueError, match="growth factor"):
        dlcore.amp.GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(ValueError, match="backoff factor"):
        dlcore.amp.GradScaler("cpu", backoff_factor=1.0)
    h = dlcore.zeros(2, dtype=dlcore.float16)
    p16 = dlcore.zeros(2, dtype=dlcore.float16, requires_grad=True)
    p16.grad = h
    scaler2 = dlcore.amp.GradScaler("cpu")
    scaler2.scale(dlcore.tensor(1.0))
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        scaler2.unscale_(dlcore.optim.SGD([p16], lr=1.0))


def test_grad_scaler_disabled_is_a_pass_through():
    p = dlcore.tensor([1.0, 2.0], requires_grad=True)
    opt = dlcore.optim.SGD([p], lr=1.0)
    scaler = dlcore.amp.GradScaler("cpu", enabled=False)
    loss = (p * 3.0).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.step(opt)
    scaler.update()
    np.testing.assert_array_equal(p.detach().numpy(), [-2.0, -1.0])
    assert not scaler.is_enabled() and scaler.get_scale() == 1.0 and scaler.state_dict() == {}


@no_cuda_only
def test_cuda_grad_scaler_without_cuda_warns_and_disables():
    with pytest.warns(UserWarning, match="CUDA is not available"):
        scaler = dlcore.amp.GradScaler()
    assert not scaler.is_enabled()
    with pytest.warns(UserWarning, match="CUDA is not available"):
        assert not dlcore.cuda.amp.GradScaler().is_enabled()


# ---- autocast state -----------------------------------------------------------------------------
@pytest.fixture
def fake_cuda(monkeypatch):
    """autocast("cuda") enables only where CUDA is available; on this machine pretend it is, to
    check the state handling (no CUDA tensor is created)."""
    monkeypatch.setattr(dlcore.cuda, "is_available", lambda: True)


def test_autocast_defaults():
    assert not dlcore.is_autocast_enabled() and not dlcore.is_autocast_enabled("cuda")
    assert not dlcore.is_autocast_enabled("cpu")
    assert dlcore.get_autocast_dtype("cuda") == dlcore.float16
    assert dlcore.get_autocast_dtype("cpu") == dlcore.bfloat16
    assert dlcore.is_autocast_cache_enabled()
    assert dlcore.amp.autocast is dlcore.autocast
    assert dlcore.is_autocast_available("cuda") and not dlcore.is_autocast_available("xpu")


def test_autocast_nesting_restores_state(fake_cuda):
    with dlcore.autocast("cuda", dtype=dlcore.bfloat16) as ac:
        assert isinstance(ac, dlcore.autocast)
        assert dlcore.is_autocast_enabled() and dlcore.get_autocast_dtype("cuda") == dlcore.bfloat16
        with dlcore.autocast("cuda", enabled=False):
            assert not dlcore.is_autocast_enabled()
            with dlcore.autocast("cuda", dtype=dlcore.float16, cache_enabled=False):
                assert dlcore.is_autocast_enabled() and dlcore.get_autocast_dtype("cuda") == dlcore.float16
                assert not dlcore.is_autocast_cache_enabled()
            assert not dlcore.is_autocast_enabled() and dlcore.is_autocast_cache_enabled()
        assert dlcore.is_autocast_enabled() and dlcore.get_autocast_dtype("cuda") == dlcore.bfloat16
    assert not dlcore.is_autocast_enabled() and dlcore.get_autocast_dtype("cuda") == dlcore.float16


def test_autocast_restores_state_after_an_exception(fake_cuda):
    with pytest.raises(KeyError):
        with dlcore.autocast("cuda", dtype=dlcore.bfloat16):
            raise KeyError("x")
    assert not dlcore.is_autocast_enabled() and dlcore.get_autocast_dtype("cuda") == dlcore.float16
    assert dlcore.autocast_increment_nesting() == 1 and dlcore.autocast_decrement_nesting() == 0


def test_autocast_decorator(fake_cuda):
    @dlcore.autocast("cuda", dtype=dlcore.bfloat16)
    def inside(depth):
        state = (dlcore.is_autocast_enabled(), dlcore.get_autocast_dtype("cuda"))
        if depth:
            with dlcore.autocast("cuda", enabled=False):
                inner = inside(depth - 1)  # re-enters the same decorated function
            assert (dlcore.is_autocast_enabled(), dlcore.get_autocast_dtype("cuda")) == state
            return inner
        return state

    assert inside.__name__ == "inside"
    assert inside(2) == (True, dlcore.bfloat16)
    assert not dlcore.is_autocast_enabled()
    with pytest.raises(TypeError, match="requires a callable"):
        dlcore.autocast("cuda")(3)


def test_autocast_is_thread_local(fake_cuda):
    seen = []
    with dlcore.autocast("cuda", dtype=dlcore.bfloat16):
        t = threading.Thread(target=lambda: seen.append((dlcore.is_autocast_enabled(),
                                                         dlcore.get_autocast_dtype("cuda"))))
        t.start()
        t.join()
        assert dlcore.is_autocast_enabled()
    assert seen == [(False, dlcore.float16)]


def test_cuda_amp_aliases(fake_cuda):
    import dlcore.cuda.amp as cuda_amp
    assert cuda_amp is dlcore.cuda.amp
    with cuda_amp.autocast():
        assert dlcore.is_autocast_enabled() and dlcore.get_autocast_dtype("cuda") == dlcore.float16
    with cuda_amp.autocast(dtype=dlcore.bfloat16):
        assert dlcore.get_autocast_dtype("cuda") == dlcore.bfloat16
    assert isinstance(cuda_amp.GradScaler(), dlcore.amp.GradScaler)


def test_cpu_autocast_raises_instead_of_computing_in_float32():
    for dtype in (None, dlcore.bfloat16, dlcore.float16):
        with pytest.raises(RuntimeError, match="device_type='cpu' is not supported"):
            dlcore.autocast("cpu", dtype=dtype)
    with pytest.raises(RuntimeError, match="CPU kernels compute in float32 and float64 only"):
        dlcore.set_autocast_enabled("cpu", True)
    assert not dlcore.is_autocast_enabled("cpu")
    with dlcore.autocast("cpu", enabled=False):  # an explicitly disabled region is fine
        assert not dlcore.is_autocast_enabled("cpu")


def test_autocast_bad_arguments():
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'xpu'"):
        dlcore.autocast("xpu")
    with pytest.raises(ValueError, match="device_type"):
        dlcore.autocast(0)
    with pytest.raises(TypeError, match="dtype must be a dlcore.dtype"):
        dlcore.autocast("cuda", dtype="bfloat16")
    with pytest.warns(UserWarning, match="target dtype is not supported"):
        ac = dlcore.autocast("cuda", dtype=dlcore.float32)
    with ac:
        assert not dlcore.is_autocast_enabled()
    with pytest.raises(TypeError, match="bfloat16 or float16"):
        dlcore.set_autocast_dtype("cuda", dlcore.float32)


@no_cuda_only
def test_cuda_autocast_without_cuda_warns_and_disables():
    with pytest.warns(UserWarning, match="CUDA is not available"):
        ac = dlcore.autocast("cuda", dtype=dlcore.bfloat16)
    with ac:
        assert not dlcore.is_autocast_enabled()


def _cpu_forward(rng):
    """A small network and losses on CPU tensors; returns outputs and gradients as numpy."""
    dlcore.manual_seed(0)
    lin = dlcore.nn.Linear(6, 5)
    conv = dlcore.nn.Conv2d(2, 3, 3, padding=1)
    ln = dlcore.nn.LayerNorm(5)
    x = dlcore.tensor(rng.standard_normal((4, 6)), dtype=dlcore.float32, requires_grad=True)
    img = dlcore.tensor(rng.standard_normal((2, 2, 5, 5)), dtype=dlcore.float32)
    d = dlcore.tensor(rng.standard_normal((3, 3)))  # float64
    y = ln(lin(x))
    outs = [y, x @ lin.weight.t(), dlcore.matmul(x, x.t()), conv(img), F.softmax(y, -1), y.sum(), y.exp(),
            F.cross_entropy(y, dlcore.tensor([0, 1, 2, 3])), F.mse_loss(y, y.detach() * 0.5), d @ d,
            dlcore.addmm(lin.bias, x, lin.weight.t())]
    loss = sum(o.float().sum() for o in outs)
    loss.backward()
    return [(o.dtype, o.detach().numpy()) for o in outs] + [(x.grad.dtype, x.grad.numpy()),
                                                             (lin.weight.grad.dtype, lin.weight.grad.numpy())]


def test_cpu_tensors_are_not_cast_under_cuda_autocast(fake_cuda, rng):
    seed = rng.integers(1 << 30)
    want = _cpu_forward(np.random.default_rng(seed))
    with dlcore.autocast("cuda", dtype=dlcore.bfloat16):
        assert dlcore.is_autocast_enabled()
        got = _cpu_forward(np.random.default_rng(seed))
    for (gd, gv), (wd, wv) in zip(got, want):
        assert gd == wd
        np.testing.assert_array_equal(gv, wv)


# ---- pinned memory without a GPU ---------------------------------------------------------------
@no_cuda_only
def test_pin_memory_without_cuda_raises():
    t = dlcore.ones(3)
    with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available"):
        t.pin_memory()
    assert not t.is_pinned()
    assert t.to("cpu", non_blocking=True) is t


@no_cuda_only
def test_dataloader_pin_memory_without_cuda_warns_and_does_not_pin():
    ds = dlcore.data.TensorDataset(dlcore.arange(10.0), dlcore.arange(10))
    with pytest.warns(UserWarning, match="no accelerator is found"):
        loader = dlcore.data.DataLoader(ds, batch_size=4, pin_memory=True)
    batches = list(loader)
    assert len(batches) == 3 and not any(t.is_pinned() for b in batches for t in b)
    np.testing.assert_array_equal(batches[0][0].numpy(), [0.0, 1.0, 2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dlcore.data.DataLoader(ds, batch_size=4)  # no warning without pin_memory
