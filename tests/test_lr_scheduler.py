"""dlcore.optim.lr_scheduler: learning-rate (and momentum) sequences against torch's."""
import warnings

import pytest
import torch

import dlcore
from dlcore import optim
from dlcore.optim import lr_scheduler as sched

STEPS = 30


def pair(opt_name="SGD", lrs=(0.1,), **kwargs):
    """A dlcore optimizer and a torch one with the same parameter groups (one tensor each)."""
    ours = optim.__dict__[opt_name]([{"params": [dlcore.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs],
                                    **kwargs)
    theirs = torch.optim.__dict__[opt_name]([{"params": [torch.zeros(2, requires_grad=True)], "lr": lr}
                                             for lr in lrs], **kwargs)
    return ours, theirs


def assert_same_lrs(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x == pytest.approx(y, rel=1e-12, abs=1e-15)


def run_both(make, opt_name="SGD", lrs=(0.1, 0.03), steps=STEPS, check_momentum=False, **opt_kwargs):
    ours, theirs = pair(opt_name, lrs, **opt_kwargs)
    s_ours, s_theirs = make(sched, ours), make(torch.optim.lr_scheduler, theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            assert_same_lrs(s_ours.get_last_lr(), s_theirs.get_last_lr())
            assert_same_lrs([g["lr"] for g in ours.param_groups], [g["lr"] for g in theirs.param_groups])
            if check_momentum:
                key = "betas" if opt_name in ("Adam", "AdamW") else "momentum"
                for g, h in zip(ours.param_groups, theirs.param_groups):
                    m, n = (g[key][0], h[key][0]) if key == "betas" else (g[key], h[key])
                    assert m == pytest.approx(n, rel=1e-12)
            ours.step()
            theirs.step()
            s_ours.step()
            s_theirs.step()
    return s_ours, s_theirs


MAKERS = {
    "step": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda m, o: m.MultiStepLR(o, milestones=[3, 10, 10, 20], gamma=0.3),
    "exponential": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "cosine-default": lambda m, o: m.CosineAnnealingLR(o, T_max=30),
    "linear": lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=8),
    "linear-down": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=12),
    "linear-default": lambda m, o: m.LinearLR(o),
    "sequential": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=20)], milestones=[5]),
    "sequential3": lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, gamma=0.8), m.StepLR(o, step_size=3), m.LinearLR(o, start_factor=0.5)],
        milestones=[4, 15]),
    "lambda": lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e),
    "lambda-list": lambda m, o: m.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: 0.5 if e > 10 else 1.0]),
    "multiplicative": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9 if e % 2 else 1.01),
    "constant": lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=6),
    "constant-default": lambda m, o: m.ConstantLR(o),
    "polynomial": lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0),
    "polynomial-default": lambda m, o: m.PolynomialLR(o),
    "warm-restarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=7, eta_min=0.001),
    "warm-restarts-mult": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
    "cyclic": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4, cycle_momentum=False),
    "cyclic-tri2": lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.2, step_size_up=3, step_size_down=5,
                                           mode="triangular2", cycle_momentum=False),
    "cyclic-exp": lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=5, mode="exp_range",
                                          gamma=0.97, cycle_momentum=False),
    "cyclic-fn": lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=5,
                                         scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations", cycle_momentum=False),
    "chained": lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.1, total_iters=4),
                                                m.ExponentialLR(o, gamma=0.9)]),
    "chained-opt": lambda m, o: m.ChainedScheduler([m.LinearLR(o, start_factor=0.2, total_iters=5),
                                                    m.StepLR(o, step_size=6, gamma=0.5)], optimizer=o),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_schedule_matches_torch(name):
    run_both(MAKERS[name])


ONECYCLE = {
    "cos": dict(max_lr=0.5, total_steps=STEPS + 1),
    "linear-list": dict(max_lr=[0.5, 0.2], total_steps=STEPS + 1, anneal_strategy="linear", pct_start=0.4),
    "epochs": dict(max_lr=1.0, epochs=4, steps_per_epoch=8, div_factor=10.0, final_div_factor=100.0),
    "three-phase": dict(max_lr=0.3, total_steps=STEPS + 1, three_phase=True),
    "no-momentum": dict(max_lr=0.3, total_steps=STEPS + 1, cycle_momentum=False),
}


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize("name", list(ONECYCLE))
def test_one_cycle_matches_torch(name, opt_name):
    kw = ONECYCLE[name]
    extra = dict(momentum=0.9) if opt_name == "SGD" else {}
    run_both(lambda m, o: m.OneCycleLR(o, **kw), opt_name=opt_name, check_momentum=kw.get("cycle_momentum", True),
             **extra)


def test_one_cycle_errors():
    o, _ = pair()
    with pytest.raises(ValueError, match="total_steps OR"):
        sched.OneCycleLR(o, max_lr=0.1)
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched.OneCycleLR(optim.Optimizer([dlcore.zeros(1, requires_grad=True)], {"lr": 0.1}), max_lr=0.1,
                         total_steps=5)
    s = sched.OneCycleLR(o, max_lr=0.1, total_steps=3)
    s.step()
    s.step()
    s.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        s.step()


PLATEAU = {
    "min-rel": (dict(mode="min", factor=0.5, patience=2), [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.8, 0.8, 0.8, 0.7]),
    "min-cooldown": (dict(mode="min", factor=0.5, patience=1, cooldown=2, min_lr=0.01), [1.0] * 20),
    "max-abs": (dict(mode="max", factor=0.2, patience=0, threshold=0.05, threshold_mode="abs"),
                [0.1, 0.2, 0.22, 0.3, 0.31, 0.32, 0.5, 0.5]),
    "min-lr-list": (dict(patience=0, min_lr=[0.05, 0.001], eps=1e-3), [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
}


@pytest.mark.parametrize("name", list(PLATEAU))
def test_reduce_on_plateau_matches_torch(name):
    kwargs, metrics = PLATEAU[name]
    ours, theirs = pair(lrs=(0.1, 0.03))
    s_ours = sched.ReduceLROnPlateau(ours, **kwargs)
    s_theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kwargs)
    for m in metrics * 2:
        s_ours.step(m)
        s_theirs.step(m)
        assert_same_lrs([g["lr"] for g in ours.param_groups], [g["lr"] for g in theirs.param_groups])
        assert_same_lrs(s_ours.get_last_lr(), s_theirs.get_last_lr())
        assert s_ours.num_bad_epochs == s_theirs.num_bad_epochs
    s_ours.step(dlcore.tensor(0.5))  # a 0-d tensor metric


def test_state_dict_resumes():
    ours, _ = pair(lrs=(0.1,))
    s = sched.StepLR(ours, step_size=3, gamma=0.5)
    for _ in range(5):
        s.step()
    sd = s.state_dict()
    assert sd["last_epoch"] == 5 and "optimizer" not in sd
    other, _ = pair(lrs=(0.1,))
    other.param_groups[0]["lr"] = ours.param_groups[0]["lr"]
    other.param_groups[0]["initial_lr"] = 0.1
    s2 = sched.StepLR(other, step_size=3, gamma=0.5, last_epoch=4)
    s2.load_state_dict(sd)
    for _ in range(7):
        s.step()
        s2.step()
        assert s.get_last_lr() == s2.get_last_lr()


def test_resume_requires_initial_lr():
    ours, _ = pair()
    with pytest.raises(KeyError, match="initial_lr"):
        sched.StepLR(ours, step_size=2, last_epoch=3)


def test_sequential_errors():
    o, _ = pair()
    with pytest.raises(ValueError, match="number of milestones"):
        sched.SequentialLR(o, [sched.StepLR(o, 2), sched.StepLR(o, 3)], milestones=[])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        sched.SequentialLR(o, [sched.StepLR(o, 2), sched.ReduceLROnPlateau(o)], milestones=[3])


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_cyclic_momentum_matches_torch(opt_name):
    kwargs = {"momentum": 0.9} if opt_name == "SGD" else {}
    run_both(lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4, base_momentum=0.8,
                                     max_momentum=0.95), opt_name=opt_name, check_momentum=True, **kwargs)


def test_warm_restarts_fractional_epochs_match_torch():
    # one step per batch: epoch + i / iters, and a jump back to an earlier epoch
    ours, theirs = pair("SGD", (0.1, 0.05))
    a = sched.CosineAnnealingWarmRestarts(ours, T_0=2, T_mult=3, eta_min=0.01)
    b = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(theirs, T_0=2, T_mult=3, eta_min=0.01)
    for epoch in [0.25, 0.5, 1.75, 2.0, 3.5, 7.9, 8.0, 9.2, 26.0, 30.5, 1.0]:
        a.step(epoch)
        b.step(epoch)
        assert_same_lrs(a.get_last_lr(), b.get_last_lr())
        assert a.last_epoch == b.last_epoch


def test_new_scheduler_errors():
    o, _ = pair()
    with pytest.raises(ValueError, match="between 0 and 1"):
        sched.ConstantLR(o, factor=1.5)
    with pytest.raises(ValueError, match="T_0"):
        sched.CosineAnnealingWarmRestarts(o, T_0=0)
    with pytest.raises(ValueError, match="T_mult"):
        sched.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="non-negative epoch"):
        sched.CosineAnnealingWarmRestarts(o, T_0=2).step(-1)
    with pytest.raises(ValueError, match="mode is invalid"):
        sched.CyclicLR(o, base_lr=0.1, max_lr=1.0, mode="sawtooth")
    with pytest.raises(ValueError, match="lr_lambdas"):
        sched.LambdaLR(o, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(ValueError, match="at least one"):
        sched.ChainedScheduler([])
    o2, _ = pair()
    with pytest.raises(ValueError, match="same optimizer"):
        sched.ChainedScheduler([sched.StepLR(o, 2), sched.StepLR(o2, 2)])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        sched.ChainedScheduler([sched.StepLR(o, 2), sched.ReduceLROnPlateau(o)])


def test_lambda_and_chained_state_dict_resume():
    ours, _ = pair()
    a = sched.ChainedScheduler([sched.LambdaLR(ours, lambda e: 0.9 ** e), sched.ConstantLR(ours, factor=0.5)])
    for _ in range(7):
        ours.step()
        a.step()
    state = a.state_dict()
    assert all("lr_lambdas" not in s for s in state["_schedulers"])  # functions are not saved
    ours2, _ = pair()
    for g, h in zip(ours2.param_groups, ours.param_groups):
        g["initial_lr"] = h["initial_lr"]
    b = sched.ChainedScheduler([sched.LambdaLR(ours2, lambda e: 0.9 ** e, last_epoch=0),
                                sched.ConstantLR(ours2, factor=0.5, last_epoch=0)])
    b.load_state_dict(state)
    for g, h in zip(ours2.param_groups, ours.param_groups):
        g["lr"] = h["lr"]
    for _ in range(5):
        ours.step()
        a.step()
        b.step()
        assert_same_lrs(a.get_last_lr(), b.get_last_lr())
