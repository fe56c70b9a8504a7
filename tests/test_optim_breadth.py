"""Adagrad, Adadelta, Adamax, NAdam, RAdam, Rprop, ASGD, LBFGS and optim.swa_utils against torch."""
import numpy as np
import pytest

import dlcore
from dlcore import optim

torch = pytest.importorskip("torch")

# float32: the update runs in float32 in torch's operation order; a few ulps per step compound
# over the steps. float64: the same at double precision (torch's scalar state, such as NAdam's
# mu_product or ASGD's eta, is float64 too when the default dtype is float64; see `torch_dtype`).
TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-11, atol=1e-13)}
SHAPES = [(7,), (3, 5), (1,), (33, 4), (2, 1, 3), (0, 4)]


@pytest.fixture
def torch_dtype():
    """Sets torch's default dtype for one test (restored afterwards)."""
    saved = torch.get_default_dtype()
    yield lambda dtype: torch.set_default_dtype(getattr(torch, dtype))
    torch.set_default_dtype(saved)


def make_params(rng, dtype, shapes=SHAPES):
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    return ([dlcore.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def set_grads(rng, ours, theirs, skip=()):
    for i, (p, q) in enumerate(zip(ours, theirs)):
        if i in skip:
            p.grad, q.grad = None, None
            continue
        g = rng.standard_normal(tuple(p.shape)).astype(p.detach().numpy().dtype)
        p.grad, q.grad = dlcore.tensor(g), torch.tensor(g)


def assert_close(ours, theirs, dtype):
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), **TOL[dtype])


def as_number_or_array(v):
    if isinstance(v, (dlcore.Tensor, torch.Tensor)):
        a = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v.numpy()
        return float(a) if a.ndim == 0 else a
    return v


def assert_state_close(opt, ref, dtype):
    """Same state keys and values (0-d torch tensors against dlcore's Python floats), same groups."""
    ours, theirs = opt.state_dict(), ref.state_dict()
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for k, st in theirs["state"].items():
        assert set(ours["state"][k]) == set(st), k
        for name, v in st.items():
            a, b = as_number_or_array(ours["state"][k][name]), as_number_or_array(v)
            np.testing.assert_allclose(a, b, **TOL[dtype], err_msg=f"state[{k}][{name!r}]")
    for g, h in zip(ours["param_groups"], theirs["param_groups"]):
        assert set(g) == set(h)
        assert {k: g[k] for k in g if k != "params"} == {k: h[k] for k in h if k != "params"}
        assert g["params"] == h["params"]


CONFIGS = [
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("Adagrad", dict(lr=0.05, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, betas=(0.3, 0.9), maximize=True)),  # lerp weight >= 0.5
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.5), weight_decay=0.1)),  # rho_t > 5 from the second step
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.7), weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.1))),
    ("Rprop", dict(maximize=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=3, weight_decay=0.1)),  # averaging starts at step 4
    ("ASGD", dict(lr=0.05, t0=0, maximize=True)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_matches_torch(name, kwargs, dtype, rng, torch_dtype):
    torch_dtype(dtype)
    ours, theirs = make_params(rng, dtype)
    opt = getattr(optim, name)(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(12):
        # parameter 2 has no gradient on some steps: it is skipped (its state does not advance)
        set_grads(rng, ours, theirs, skip=(2,) if step % 3 == 1 else ())
        opt.step()
        ref.step()
        assert_close(ours, theirs, dtype)
    assert_state_close(opt, ref, dtype)


@pytest.mark.parametrize("name,kwargs", [("Adagrad", dict(lr=0.1)), ("Adadelta", dict(lr=0.5)),
                                         ("Adamax", dict(lr=0.01)), ("NAdam", dict(lr=0.01)),
                                         ("RAdam", dict(lr=0.01)), ("Rprop", dict()), ("ASGD", dict(t0=2))])
def test_param_groups_add_param_group_and_zero_grad(name, kwargs, rng, torch_dtype):
    torch_dtype("float64")
    ours, theirs = make_params(rng, "float64")
    groups = lambda ps: [{"params": ps[:2], "lr": 0.003}, {"params": ps[2:4]}]  # noqa: E731
    opt = getattr(optim, name)(groups(ours), **kwargs)
    ref = getattr(torch.optim, name)(groups(theirs), **kwargs)
    assert opt.param_groups[0]["lr"] == 0.003 and opt.param_groups[1]["lr"] == ref.param_groups[1]["lr"]
    for step in range(6):
        if step == 2:
            opt.add_param_group({"params": ours[4:], "lr": 0.02})
            ref.add_param_group({"params": theirs[4:], "lr": 0.02})
        set_grads(rng, ours, theirs)
        opt.step()
        ref.step()
        assert_close(ours, theirs, "float64")
        opt.zero_grad()
        ref.zero_grad()
        assert all(p.grad is None for g in opt.param_groups for p in g["params"])
    assert_state_close(opt, ref, "float64")


def _from_torch(obj):
    """A torch optimizer state_dict with its tensors as dlcore tensors (what loading a .pt gives)."""
    if isinstance(obj, torch.Tensor):
        return dlcore.tensor(obj.detach().numpy())
    if isinstance(obj, dict):
        return {k: _from_torch(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_torch(v) for v in obj]
    return obj


@pytest.mark.parametrize("name,kwargs", [("Adagrad", dict(lr=0.1, lr_decay=0.01)), ("Adadelta", dict()),
                                         ("Adamax", dict(lr=0.01)), ("NAdam", dict(lr=0.01)),
                                         ("RAdam", dict(lr=0.01, betas=(0.9, 0.5))), ("Rprop", dict()),
                                         ("ASGD", dict(t0=2, lambd=0.01))])
def test_state_dict_round_trip_and_torch_state_dict(name, kwargs, rng, torch_dtype):
    torch_dtype("float64")
    ours, theirs = make_params(rng, "float64")
    opt = getattr(optim, name)(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(4):
        set_grads(rng, ours, theirs)
        opt.step()
        ref.step()

    def restart(state_dict):
        params = [dlcore.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ours]
        other = getattr(optim, name)(params, lr=123.0)
        other.load_state_dict(state_dict)
        assert other.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
        return other, params

    resumed, resumed_params = restart(opt.state_dict())
    from_torch, from_torch_params = restart(_from_torch(ref.state_dict()))
    for _ in range(4):
        set_grads(rng, ours, theirs)
        for ps in (resumed_params, from_torch_params):
            for p, q in zip(ps, ours):
                p.grad = q.grad
        for o in (opt, ref, resumed, from_torch):
            o.step()
    for p, q, r in zip(ours, resumed_params, from_torch_params):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    assert_close(from_torch_params, theirs, "float64")
    assert_state_close(from_torch, ref, "float64")


# ---- LBFGS --------------------------------------------------------------------------------------

def _logistic_regression(lib, dtype):
    """L2-regularised logistic regression (a smooth, strongly convex loss, so the iterates and the
    rounding differences between the two libraries stay bounded): parameters and a closure factory."""
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((40, 5)).astype(dtype))
    y = lib.tensor(np.sign(rng.standard_normal((40, 1))).astype(dtype))
    params = [lib.tensor(rng.standard_normal((5, 1)).astype(dtype), requires_grad=True),
              lib.tensor(np.zeros(1, dtype), requires_grad=True)]

    def make_closure(opt):
        def closure():
            opt.zero_grad()
            margin = -y * (x.matmul(params[0]) + params[1])
            loss = lib.nn.functional.softplus(margin).mean() + 0.05 * (params[0] ** 2).sum()
            loss.backward()
            return loss
        return closure
    return params, make_closure


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", [dict(), dict(line_search_fn="strong_wolfe"),
                                    dict(lr=0.5, max_iter=5, history_size=3),
                                    dict(history_size=2, line_search_fn="strong_wolfe", max_iter=7)])
def test_lbfgs_matches_torch(kwargs, dtype, torch_dtype):
    torch_dtype(dtype)
    ours, our_closure = _logistic_regression(dlcore, dtype)
    theirs, their_closure = _logistic_regression(torch, dtype)
    opt = optim.LBFGS(ours, **kwargs)
    ref = torch.optim.LBFGS(theirs, **kwargs)
    assert opt.defaults == ref.defaults
    # float32: tolerance_grad=1e-7 is below the gradient's float32 resolution, so near the optimum
    # both libraries iterate in rounding noise (torch also keeps its scalars in float32): the
    # losses agree to ~1e-6, the parameters only to ~1e-4 in this flat region.
    tol = TOL["float64"] if dtype == "float64" else dict(rtol=0, atol=1e-3)
    loss_tol = TOL["float64"] if dtype == "float64" else dict(rtol=1e-5)
    for _ in range(4):
        l1 = opt.step(our_closure(opt))
        l2 = ref.step(their_closure(ref))
        np.testing.assert_allclose(float(l1), l2.item(), **loss_tol)
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), **tol)
    s, t = opt.state[ours[0]], ref.state[theirs[0]]
    if dtype == "float64":
        assert s["func_evals"] == t["func_evals"] and s["n_iter"] == t["n_iter"]
        assert len(s["old_dirs"]) == len(t["old_dirs"])
    assert set(s) == set(t)


@pytest.mark.parametrize("kwargs", [dict(line_search_fn="strong_wolfe", max_iter=5), dict(lr=0.1, max_iter=5)])
def test_lbfgs_rosenbrock_matches_torch(kwargs, torch_dtype):
    # a curved valley: the strong-Wolfe search extrapolates and zooms; differences of a few ulps
    # grow along the path, to ~1e-12 after four steps
    torch_dtype("float64")

    def run(lib, mod):
        x = lib.tensor(np.array([-1.5, 2.0]), requires_grad=True)
        opt = mod.LBFGS([x], **kwargs)

        def closure():
            opt.zero_grad()
            loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
            loss.backward()
            return loss
        path = []
        for _ in range(4):
            opt.step(closure)
            path.append(x.detach().numpy().copy())
        return np.array(path), opt.state[x]["func_evals"]
    ours, our_evals = run(dlcore, optim)
    theirs, their_evals = run(torch, torch.optim)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-11)
    assert our_evals == their_evals


def test_lbfgs_converges_and_stops_at_optimum():
    target = dlcore.tensor([1.0, -2.0, 3.0], dtype=dlcore.float64)
    x = dlcore.zeros(3, dtype=dlcore.float64, requires_grad=True)
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((x - target) ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), target.numpy(), atol=1e-8)
    evals = opt.state[x]["func_evals"]
    opt.step(closure)  # the gradient is ~0: one evaluation and no move
    assert opt.state[x]["func_evals"] == evals + 1


def test_lbfgs_errors():
    x = dlcore.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [x]}, {"params": [dlcore.zeros(2, requires_grad=True)]}])
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS([x], line_search_fn="armijo")
    opt = optim.LBFGS([x])
    with pytest.raises(RuntimeError, match="closure"):
        opt.step(None)
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [dlcore.zeros(2, requires_grad=True)]})


@pytest.mark.parametrize("name,kwargs,match", [
    ("Adagrad", dict(lr=-1), "learning rate"), ("Adagrad", dict(lr_decay=-1), "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    ("Adadelta", dict(rho=1.5), "rho"), ("Adadelta", dict(eps=-1), "epsilon"),
    ("Adamax", dict(betas=(1.0, 0.9)), "beta parameter at index 0"),
    ("NAdam", dict(momentum_decay=-1), "momentum_decay"), ("NAdam", dict(betas=(0.9, 1.0)), "index 1"),
    ("RAdam", dict(weight_decay=-1), "weight_decay"), ("Rprop", dict(etas=(1.5, 1.2)), "eta values"),
    ("ASGD", dict(lr=-0.1), "learning rate")])
def test_invalid_arguments(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(optim, name)([dlcore.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=match):  # the same check as torch's
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD"])
def test_unsupported_flags_raise(name):
    with pytest.raises(NotImplementedError, match=name):
        getattr(optim, name)([dlcore.zeros(2, requires_grad=True)], differentiable=True)


def test_non_contiguous_params_and_grads(rng, torch_dtype):
    torch_dtype("float64")
    a = rng.standard_normal((5, 3))
    p, q = dlcore.tensor(a).t().requires_grad_(), torch.tensor(a).t().requires_grad_()
    assert not p.is_contiguous() and p.is_leaf
    opt, ref = optim.NAdam([p], lr=0.1), torch.optim.NAdam([q], lr=0.1)
    for _ in range(3):
        g = rng.standard_normal((5, 3))
        p.grad, q.grad = dlcore.tensor(g).t(), torch.tensor(g).t()
        opt.step()
        ref.step()
    assert_close([p], [q], "float64")


# ---- swa_utils ----------------------------------------------------------------------------------

def _twin_models(rng):
    ours = dlcore.nn.Sequential(dlcore.nn.Linear(3, 4), dlcore.nn.BatchNorm1d(4), dlcore.nn.ReLU(),
                                dlcore.nn.Linear(4, 2)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                                 torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    return ours, theirs


def _perturb(rng, ours, theirs):
    for p, q in zip(ours.parameters(), theirs.parameters()):
        d = rng.standard_normal(tuple(p.shape))
        with dlcore.no_grad():
            p.add_(dlcore.tensor(d))
        with torch.no_grad():
            q.add_(torch.tensor(d))


def _train_batch(rng, ours, theirs):
    x = rng.standard_normal((8, 3))
    ours(dlcore.tensor(x))
    theirs(torch.tensor(x))


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("fn", ["swa", "ema", "ema_multi", "swa_multi"])
def test_averaged_model_matches_torch(fn, use_buffers, rng, torch_dtype):
    if fn == "swa_multi" and use_buffers:
        pytest.skip("torch's swa multi_avg_fn rejects integer buffers (num_batches_tracked) on the CPU")
    torch_dtype("float64")
    ours, theirs = _twin_models(rng)
    su, tsu = optim.swa_utils, torch.optim.swa_utils
    kw = {"swa": {}, "ema": {"avg_fn": "get_ema_avg_fn"}, "ema_multi": {"multi_avg_fn": "get_ema_multi_avg_fn"},
          "swa_multi": {"multi_avg_fn": "get_swa_multi_avg_fn"}}[fn]
    kw_ours = {k: (getattr(su, v)(0.8) if "ema" in v else getattr(su, v)()) for k, v in kw.items()}
    kw_theirs = {k: (getattr(tsu, v)(0.8) if "ema" in v else getattr(tsu, v)()) for k, v in kw.items()}
    avg = su.AveragedModel(ours, use_buffers=use_buffers, **kw_ours)
    ref = tsu.AveragedModel(theirs, use_buffers=use_buffers, **kw_theirs)
    assert avg.module is not ours and avg.module[0].weight is not ours[0].weight
    for _ in range(4):
        _perturb(rng, ours, theirs)
        _train_batch(rng, ours, theirs)
        avg.update_parameters(ours)
        ref.update_parameters(theirs)
    ours_sd, theirs_sd = avg.state_dict(), ref.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for k in theirs_sd:
        np.testing.assert_allclose(ours_sd[k].numpy(), theirs_sd[k].numpy(), rtol=1e-12, atol=1e-14, err_msg=k)
    x = rng.standard_normal((5, 3))
    avg.eval()
    ref.eval()
    np.testing.assert_allclose(avg(dlcore.tensor(x)).detach().numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)


def test_averaged_model_errors_and_decay_check():
    m = dlcore.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="avg_fn"):
        optim.swa_utils.AveragedModel(m, avg_fn=optim.swa_utils.get_swa_avg_fn(),
                                      multi_avg_fn=optim.swa_utils.get_swa_multi_avg_fn())
    with pytest.raises(TypeError, match="Module"):
        optim.swa_utils.AveragedModel(object())
    with pytest.raises(ValueError, match="decay"):
        optim.swa_utils.get_ema_avg_fn(1.5)
    avg = optim.swa_utils.AveragedModel(m)
    with pytest.raises(ValueError, match="tensors to average"):
        avg.update_parameters(dlcore.nn.Linear(2, 2, bias=False))


@pytest.mark.parametrize("kwargs", [dict(swa_lr=0.05), dict(swa_lr=0.5, anneal_epochs=3, anneal_strategy="linear"),
                                    dict(swa_lr=[0.01, 0.2], anneal_epochs=0), dict(swa_lr=0.02, anneal_epochs=1)])
def test_swalr_matches_torch(kwargs):
    p, q = dlcore.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    p2, q2 = dlcore.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt = optim.SGD([{"params": [p]}, {"params": [p2], "lr": 0.3}], lr=0.1)
    ref = torch.optim.SGD([{"params": [q]}, {"params": [q2], "lr": 0.3}], lr=0.1)
    sched = optim.swa_utils.SWALR(opt, **kwargs)
    tsched = torch.optim.swa_utils.SWALR(ref, **kwargs)
    for _ in range(14):
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-14)
        opt.step()
        ref.step()
        sched.step()
        tsched.step()
    assert [g["swa_lr"] for g in opt.param_groups] == [g["swa_lr"] for g in ref.param_groups]


def test_swalr_errors():
    opt = optim.SGD([dlcore.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        optim.swa_utils.SWALR(opt, 0.1, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs"):
        optim.swa_utils.SWALR(opt, 0.1, anneal_epochs=-1)
    with pytest.raises(ValueError, match="swa_lr"):
        optim.swa_utils.SWALR(opt, [0.1, 0.2])


def test_update_bn_matches_torch(rng, torch_dtype):
    torch_dtype("float64")
    ours, theirs = _twin_models(rng)
    ours[1].momentum = 0.3
    theirs[1].momentum = 0.3
    batches = [rng.standard_normal((6, 3)) for _ in range(4)]
    ours.eval()
    theirs.eval()
    optim.swa_utils.update_bn([(dlcore.tensor(b), 0) for b in batches], ours)
    torch.optim.swa_utils.update_bn([(torch.tensor(b), 0) for b in batches], theirs)
    assert not ours.training and ours[1].momentum == 0.3
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(ours[1], name).numpy(), getattr(theirs[1], name).numpy(), rtol=1e-12)
    optim.swa_utils.update_bn([], dlcore.nn.Linear(2, 2))  # no BatchNorm: nothing to do
