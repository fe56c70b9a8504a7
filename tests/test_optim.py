"""dlcore.optim optimizers and dlcore.nn.utils clipping against torch, step by step."""
import importlib
import importlib.util
import math
import os

import numpy as np
import pytest
import torch

import dlcore
from dlcore import optim

# float32: the update runs in float32 with torch's operation order; differences are a few ulps
# per step, compounding over 10 steps. float64: the same, at double precision.
TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-11, atol=1e-13)}

SHAPES = [(7,), (3, 5), (1,), (33, 4), (2, 1, 3)]


def _clip_module():
    try:
        return importlib.import_module("dlcore.nn.utils.clip_grad")
    except ImportError:  # nn package not importable yet: load the file on its own
        path = os.path.join(os.path.dirname(dlcore.__file__), "nn", "utils", "clip_grad.py")
        spec = importlib.util.spec_from_file_location("dlcore.nn.utils.clip_grad", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod


def make_params(rng, dtype, shapes=SHAPES):
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [dlcore.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def set_grads(rng, ours, theirs, skip=()):
    for i, (p, q) in enumerate(zip(ours, theirs)):
        if i in skip:
            p.grad, q.grad = None, None
            continue
        g = rng.standard_normal(tuple(p.shape)).astype(p.detach().numpy().dtype)
        p.grad = dlcore.tensor(g)
        q.grad = torch.tensor(g)


def assert_close(ours, theirs, dtype):
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), **TOL[dtype])


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05, decoupled_weight_decay=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.005, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1, maximize=True)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_matches_torch(name, kwargs, dtype, rng):
    ours, theirs = make_params(rng, dtype)
    opt = getattr(optim, name)(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(10):
        # parameter 2 has no gradient on some steps: it is skipped (its state does not advance)
        set_grads(rng, ours, theirs, skip=(2,) if step % 3 == 1 else ())
        opt.step()
        ref.step()
        assert_close(ours, theirs, dtype)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                         ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5))])
def test_large_and_many_params_parallel(name, kwargs, rng):
    # more elements than one thread's grain, spread over params of very different sizes
    shapes = [(200, 101), (3,), (64, 65), (1,), (129,)]
    ours, theirs = make_params(rng, "float32", shapes)
    opt = getattr(optim, name)(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(3):
        set_grads(rng, ours, theirs)
        opt.step()
        ref.step()
    assert_close(ours, theirs, "float32")


def test_non_contiguous_grad(rng):
    a = rng.standard_normal((3, 5)).astype("float32")
    g = rng.standard_normal((5, 3)).astype("float32")
    p, q = dlcore.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    p.grad = dlcore.tensor(g).t()
    q.grad = torch.tensor(g).t()
    opt, ref = optim.Adam([p], lr=0.1), torch.optim.Adam([q], lr=0.1)
    opt.step()
    ref.step()
    assert_close([p], [q], "float32")


def test_param_groups_with_different_lr(rng):
    ours, theirs = make_params(rng, "float64")
    groups = lambda ps: [{"params": ps[:2], "lr": 0.1}, {"params": ps[2:], "momentum": 0.5}]  # noqa: E731
    opt = optim.SGD(groups(ours), lr=0.01, momentum=0.9)
    ref = torch.optim.SGD(groups(theirs), lr=0.01, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.01
    assert opt.param_groups[0]["momentum"] == 0.9 and opt.param_groups[1]["momentum"] == 0.5
    for _ in range(5):
        set_grads(rng, ours, theirs)
        opt.step()
        ref.step()
    assert_close(ours, theirs, "float64")


def test_add_param_group(rng):
    ours, theirs = make_params(rng, "float32")
    opt = optim.Adam(ours[:3], lr=0.01)
    ref = torch.optim.Adam(theirs[:3], lr=0.01)
    set_grads(rng, ours, theirs)
    opt.step()
    ref.step()
    opt.add_param_group({"params": ours[3:], "lr": 0.05, "amsgrad": True})
    ref.add_param_group({"params": theirs[3:], "lr": 0.05, "amsgrad": True})
    for _ in range(4):
        set_grads(rng, ours, theirs)
        opt.step()
        ref.step()
    assert_close(ours, theirs, "float32")
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [ours[0]]})


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)), ("AdamW", dict(lr=0.01)),
                                         ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9))])
def test_state_dict_round_trip(name, kwargs, rng):
    ours, _ = make_params(rng, "float32")
    copies = [dlcore.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ours]
    opt = getattr(optim, name)(ours, **kwargs)
    grads = [[rng.standard_normal(tuple(p.shape)).astype("float32") for p in ours] for _ in range(10)]

    def run(optimizer, params, steps):
        for gs in steps:
            for p, g in zip(params, gs):
                p.grad = dlcore.tensor(g)
            optimizer.step()

    run(opt, ours, grads[:5])
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sd["param_groups"][0]["params"] == list(range(len(ours)))
    assert sorted(sd["state"]) == list(range(len(ours)))
    # same state keys as torch's optimizer
    tp = [torch.zeros(s, requires_grad=True) for s in SHAPES]
    tref = getattr(torch.optim, name)(tp, **kwargs)
    for q in tp:
        q.grad = torch.ones_like(q)
    tref.step()
    assert set(sd["state"][0]) == set(tref.state_dict()["state"][0])

    for p, c in zip(ours, copies):  # the copies restart from the same parameter values
        with dlcore.no_grad():
            c.copy_(p.detach())
    resumed = getattr(optim, name)(copies, **kwargs)
    resumed.load_state_dict(sd)
    run(opt, ours, grads[5:])
    run(resumed, copies, grads[5:])
    for p, c in zip(ours, copies):
        np.testing.assert_array_equal(p.detach().numpy(), c.detach().numpy())


def test_load_state_dict_copies_state(rng):
    ours, theirs = make_params(rng, "float32")
    opt = optim.SGD(ours, lr=0.1, momentum=0.9)
    set_grads(rng, ours, theirs)
    opt.step()
    other = optim.SGD(ours, lr=0.5, momentum=0.9)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["lr"] == 0.1
    buf0 = opt.state[ours[0]]["momentum_buffer"]
    buf1 = other.state[ours[0]]["momentum_buffer"]
    np.testing.assert_array_equal(buf0.numpy(), buf1.numpy())
    assert buf0 is not buf1


def test_zero_grad(rng):
    ours, theirs = make_params(rng, "float32")
    set_grads(rng, ours, theirs)
    opt = optim.SGD(ours, lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert all(float(np.abs(p.grad.numpy()).max()) == 0.0 for p in ours)
    opt.zero_grad()
    assert all(p.grad is None for p in ours)


def test_step_with_closure(rng):
    p = dlcore.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.item()) == pytest.approx(14.0)
    np.testing.assert_allclose(p.detach().numpy(), [0.8, -1.6, 2.4], rtol=1e-6)


def test_step_bumps_version(rng):
    ours, theirs = make_params(rng, "float32")
    set_grads(rng, ours, theirs)
    y = (ours[0] * ours[0]).sum()  # saves the parameter for backward
    optim.SGD(ours, lr=0.1).step()
    with pytest.raises(RuntimeError):
        y.backward()


def test_constructor_errors(rng):
    ours, _ = make_params(rng, "float32")
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD(ours[0], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam(ours, lr=-1.0)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam(ours, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(ours, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="duplicate"):
        optim.SGD([ours[0], ours[0]], lr=0.1)


def test_kernel_errors_name_shapes():
    p = dlcore.zeros(2, 3)
    g = dlcore.zeros(3, 2)
    s = dlcore.zeros(2, 3)
    with pytest.raises(ValueError, match=r"adam_step: grads\[0\] has shape \[3, 2\] but params\[0\] has shape \[2, 3\]"):
        dlcore._C._adam_step([p], [g], [s], [dlcore.zeros(2, 3)], [], 1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
                             weight_decay=0.0)
    with pytest.raises(ValueError, match=r"sgd_step: got 1 params but 2 grads"):
        dlcore._C._sgd_step([p], [s, s], [], [], lr=0.1)
    with pytest.raises(TypeError, match=r"rmsprop_step: params\[0\] has dtype int64"):
        dlcore._C._rmsprop_step([dlcore.zeros(2, dtype=dlcore.int64)], [dlcore.zeros(2)], [dlcore.zeros(2)], [], [],
                                lr=0.1, alpha=0.9, eps=1e-8, weight_decay=0.0, momentum=0.0)
    with pytest.raises(TypeError, match=r"exp_avgs\[0\] has dtype float64 but params\[0\] has dtype float32"):
        dlcore._C._adam_step([p], [s], [dlcore.zeros(2, 3, dtype=dlcore.float64)], [s], [], 1, lr=0.1, beta1=0.9,
                             beta2=0.999, eps=1e-8, weight_decay=0.0)
    with pytest.raises(ValueError, match=r"max_exp_avg_sqs is empty but amsgrad is set"):
        dlcore._C._adam_step([p], [s], [s], [s], [], 1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                             amsgrad=True)
    with pytest.raises(ValueError, match=r"momentum_buffers\[0\] is not contiguous"):
        dlcore._C._sgd_step([p], [s], [dlcore.zeros(3, 2).t()], [False], lr=0.1, momentum=0.9)


# ---- gradient clipping ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm(norm_type, max_norm, dtype, rng):
    clip = _clip_module()
    ours, theirs = make_params(rng, dtype)
    set_grads(rng, ours, theirs, skip=(1,))
    total = clip.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ref = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total.dtype == getattr(dlcore, dtype) and tuple(total.shape) == ()
    np.testing.assert_allclose(total.numpy(), ref.numpy(), **TOL[dtype])
    for p, q in zip(ours, theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **TOL[dtype])


def test_clip_grad_norm_nonfinite_and_empty(rng):
    clip = _clip_module()
    p = dlcore.tensor([1.0, 2.0], requires_grad=True)
    p.grad = dlcore.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert math.isnan(float(clip.clip_grad_norm_(p, 1.0).item()))
    q = dlcore.tensor([1.0], requires_grad=True)
    assert float(clip.clip_grad_norm_([q], 1.0).item()) == 0.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_grad_value(dtype, rng):
    clip = _clip_module()
    ours, theirs = make_params(rng, dtype)
    set_grads(rng, ours, theirs, skip=(0,))
    # a non-contiguous gradient takes the op-based path
    g = rng.standard_normal((5, 3)).astype(dtype)
    ours[1].grad = dlcore.tensor(g).t()
    theirs[1].grad = torch.tensor(g).t()
    clip.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours[1:], theirs[1:]):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    assert float(np.abs(ours[1].grad.numpy()).max()) <= 0.7
