"""nn.Module's API against torch.nn.Module: hooks (forward, backward, state dict), state_dict /
load_state_dict details, submodule access, registration errors, conversion and repr.

Values are float64 and either copied or computed by the same few ops, so gradients agree with
torch to rounding (rtol 1e-12)."""
import copy
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import dlcore
import dlcore.nn as nn

torch = pytest.importorskip("torch")


def arr(t):
    return np.asarray(t.detach().numpy(), np.float64)


def close(got, want, what=""):
    np.testing.assert_allclose(arr(got), arr(want), rtol=1e-12, atol=1e-12, err_msg=what)


def both(build):
    """The same model built with torch.nn and dlcore.nn, float64, with torch's weights copied."""
    torch.manual_seed(0)
    t_mod = build(torch.nn).double()
    d_mod = build(nn).double()
    d_mod.load_state_dict({k: dlcore.tensor(v.detach().numpy()) for k, v in t_mod.state_dict().items()})
    return t_mod, d_mod


def mlp(lib):
    return lib.Sequential(lib.Linear(3, 4), lib.ReLU(), lib.Linear(4, 2))


def raises_like(t_call, d_call):
    """Both calls raise, with the same exception type; returns dlcore's message."""
    with pytest.raises(Exception) as t_err:
        t_call()
    with pytest.raises(Exception) as d_err:
        d_call()
    assert d_err.type is t_err.type, (d_err.value, t_err.value)
    return str(d_err.value)


def test_public_api_matches_torch():
    # ipu/xpu/mtia are devices dlcore does not have
    missing = [n for n in dir(torch.nn.Module)
               if not n.startswith("_") and n not in ("ipu", "xpu", "mtia", "T_destination")
               and not hasattr(nn.Module, n)]
    assert missing == []


# ---- forward hooks ------------------------------------------------------------------------------

def scale_module(lib):
    """The same module in both libraries: forward(x, scale=1.0) = x * scale."""
    class M(lib.Module):
        def forward(self, x, scale=1.0):
            return x * scale
    return M()


@pytest.mark.parametrize("lib_name", ["torch", "dlcore"])
def test_forward_hooks_kwargs_prepend_and_order(lib_name):
    lib, mk = (torch, torch.tensor) if lib_name == "torch" else (dlcore, dlcore.tensor)
    m = scale_module(lib.nn)
    calls = []

    def pre_plain(mod, args):
        calls.append("pre_plain")
        return args[0] + 1  # a non-tuple result becomes the only argument

    def pre_kwargs(mod, args, kwargs):
        calls.append(("pre_kwargs", sorted(kwargs)))
        return args, {"scale": 10.0}

    def post_kwargs(mod, args, kwargs, out):
        calls.append(("post_kwargs", kwargs["scale"]))
        return out + 0.5

    def post_first(mod, args, out):
        calls.append("post_first")

    h1 = m.register_forward_pre_hook(pre_plain)
    h2 = m.register_forward_pre_hook(pre_kwargs, with_kwargs=True, prepend=True)
    h3 = m.register_forward_hook(post_kwargs, with_kwargs=True)
    h4 = m.register_forward_hook(post_first, prepend=True)
    assert h1.id < h2.id < h3.id < h4.id
    out = m(mk([1.0, 2.0]), scale=3.0)
    assert out.tolist() == [20.5, 30.5]
    assert calls == [("pre_kwargs", ["scale"]), "pre_plain", "post_first", ("post_kwargs", 10.0)]
    for h in (h1, h2, h3, h4):
        h.remove()
    calls.clear()
    assert m(mk([1.0]), scale=2.0).tolist() == [2.0] and calls == []
    with m.register_forward_hook(lambda mod, args, out: out * 0):
        assert m(mk([1.0])).tolist() == [0.0]
    assert m(mk([1.0])).tolist() == [1.0]


def test_forward_pre_hook_with_kwargs_bad_result():
    for lib, mk in ((torch, torch.tensor), (dlcore, dlcore.tensor)):
        m = scale_module(lib.nn)
        m.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
        with pytest.raises(RuntimeError, match=r"forward pre-hook must return None or a tuple of \(new_args, "
                                               r"new_kwargs\)"):
            m(mk([1.0]))


def test_always_call_forward_hooks_run_when_forward_raises():
    results = {}
    for name, lib, mk in (("torch", torch, torch.tensor), ("dlcore", dlcore, dlcore.tensor)):
        class Failing(lib.nn.Module):
            def forward(self, x):
                raise ValueError("boom")
        m = Failing()
        seen = []
        m.register_forward_hook(lambda mod, args, out: seen.append(("always", out)), always_call=True)
        m.register_forward_hook(lambda mod, args, out: seen.append("normal"))

        def bad(mod, args, out):
            raise KeyError("also broken")
        m.register_forward_hook(bad, always_call=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match="boom"):
                m(mk([1.0]))
        results[name] = (seen, [str(x.message) for x in w if "always_call=True" in str(x.message)])
    assert results["dlcore"][0] == results["torch"][0] == [("always", None)]
    assert len(results["dlcore"][1]) == len(results["torch"][1]) == 1


# ---- backward hooks -----------------------------------------------------------------------------

def two_in_two_out(lib):
    class M(lib.nn.Module):
        def forward(self, x, y, k):
            return x * y * k, (x + 1).sum()
    return M()


def _record(store):
    def hook(mod, grad_input, grad_output):
        store.append((grad_input, grad_output))
    return hook


def _as_lists(grads):
    return [None if g is None else arr(g).tolist() for g in grads]


@pytest.mark.parametrize("y_requires_grad", [False, True])
@pytest.mark.parametrize("use_second_output", [False, True])
def test_full_backward_hook_sees_module_grads(y_requires_grad, use_second_output):
    got = {}
    for name, lib in (("torch", torch), ("dlcore", dlcore)):
        m = two_in_two_out(lib)
        seen, pre = [], []
        m.register_full_backward_hook(_record(seen))
        m.register_full_backward_pre_hook(lambda mod, go: pre.append(go))
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        y = lib.tensor([3.0, -1.0], dtype=lib.float64, requires_grad=y_requires_grad)
        a, b = m(x, y, 2.0)
        loss = (a * lib.tensor([1.0, 5.0], dtype=lib.float64)).sum() + (3 * b if use_second_output else 0)
        loss.backward()
        assert len(seen) == 1 and len(pre) == 1
        (gi, go), = seen
        got[name] = (_as_lists(gi), _as_lists(go), _as_lists(pre[0]), x.grad.tolist(),
                     None if y.grad is None else y.grad.tolist())
    assert got["dlcore"] == got["torch"]


def test_full_backward_hooks_replace_grads():
    got = {}
    for name, lib in (("torch", torch), ("dlcore", dlcore)):
        m = two_in_two_out(lib)
        m.register_full_backward_pre_hook(lambda mod, go: (go[0] * 10, go[1]))
        m.register_full_backward_hook(lambda mod, gi, go: (gi[0] + 1, gi[1], None))
        seen = []
        m.register_full_backward_hook(_record(seen))
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        y = lib.tensor([3.0, -1.0], dtype=lib.float64, requires_grad=True)
        a, _ = m(x, y, 1.0)
        a.sum().backward()
        got[name] = (x.grad.tolist(), y.grad.tolist(), _as_lists(seen[0][0]), _as_lists(seen[0][1]))
    assert got["dlcore"] == got["torch"]


def test_full_backward_hook_errors_and_no_input_grad():
    for lib in (torch, dlcore):
        m = two_in_two_out(lib)
        m.register_full_backward_hook(lambda mod, gi, go: (gi[0],))  # one grad for three inputs
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        with pytest.raises(RuntimeError, match="invalid number of grad_input, got 1, but expected 3"):
            m(x, x, 1.0)[0].sum().backward()

        lin = lib.nn.Linear(2, 1).double()
        seen = []
        lin.register_full_backward_hook(_record(seen))
        with pytest.warns(UserWarning, match="Full backward hook is firing when gradients are computed with "
                                              "respect to module outputs since no inputs require gradients"):
            lin(lib.ones(4, 2, dtype=lib.float64)).sum().backward()  # only the weights need grad
        assert len(seen) == 1 and seen[0][0] == (None,) and tuple(seen[0][1][0].shape) == (4, 1)

        with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
            lin.register_backward_hook(lambda *a: None)
        other = lib.nn.Linear(2, 1)
        other.register_backward_hook(lambda *a: None)
        with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
            other.register_full_backward_hook(lambda *a: None)


def test_full_backward_hook_on_layers_matches_torch():
    t_mod, d_mod = both(mlp)
    got = {}
    for name, mod, lib in (("torch", t_mod, torch), ("dlcore", d_mod, dlcore)):
        seen = []
        handles = [m.register_full_backward_hook(lambda m, gi, go, seen=seen: seen.append((gi, go)))
                   for m in mod]
        x = lib.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
        mod(x).pow(2).sum().backward()
        got[name] = [(_as_lists(gi), _as_lists(go)) for gi, go in seen]
        for h in handles:
            h.remove()
        x.grad = None
        mod(x).sum().backward()
        assert len(seen) == 3  # removed hooks are not called again
    for (d_gi, d_go), (t_gi, t_go) in zip(got["dlcore"], got["torch"]):
        np.testing.assert_allclose(d_gi[0], t_gi[0], rtol=1e-12)
        np.testing.assert_allclose(d_go[0], t_go[0], rtol=1e-12)
    assert [len(gi) for gi, _ in got["dlcore"]] == [len(gi) for gi, _ in got["torch"]]


def test_non_full_backward_hook_sees_the_last_node():
    # the deprecated form sees the gradients of the node that made the output; which node that
    # is (and so grad_input) is an implementation detail, grad_output is the module's
    got = {}
    for name, lib in (("torch", torch), ("dlcore", dlcore)):
        m = two_in_two_out(lib)
        seen = []
        m.register_backward_hook(_record(seen))
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            a, _ = m(x, x, 2.0)
        (a * 3).sum().backward()
        got[name] = (_as_lists(seen[0][1]), [str(x.message)[:40] for x in w])
    assert got["dlcore"] == got["torch"]


# ---- state_dict and its hooks -------------------------------------------------------------------

def test_state_dict_metadata_prefix_keep_vars_and_destination():
    t_mod, d_mod = both(lambda lib: lib.Sequential(lib.Linear(2, 3), lib.BatchNorm1d(3)))
    t_sd, d_sd = t_mod.state_dict(), d_mod.state_dict()
    assert list(d_sd) == list(t_sd)
    assert list(d_sd._metadata) == list(t_sd._metadata) == ["", "0", "1"]
    assert d_sd._metadata["0"] == t_sd._metadata["0"] == {"version": 1}
    assert not d_sd["0.weight"].requires_grad
    assert d_mod.state_dict(keep_vars=True)["0.weight"] is d_mod[0].weight
    dest = OrderedDict()
    out = d_mod.state_dict(destination=dest, prefix="net.")
    assert out is dest and list(dest) == ["net." + k for k in t_sd]
    with pytest.warns(FutureWarning, match="Positional args"):
        positional = d_mod.state_dict(OrderedDict(), "p.")
    assert list(positional) == ["p." + k for k in t_sd]


def test_state_dict_hooks():
    logs = {}
    for name, lib in (("torch", torch), ("dlcore", dlcore)):
        m = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Linear(2, 1))
        log = []
        m[1].register_state_dict_pre_hook(lambda mod, prefix, keep_vars: log.append(("pre", prefix, keep_vars)))

        def post(mod, sd, prefix, local_metadata):
            log.append(("post", prefix, sorted(sd), local_metadata))
            sd[prefix + "extra"] = lib.zeros(1)
        m[1].register_state_dict_post_hook(post)
        m._register_state_dict_hook(lambda mod, sd, prefix, md: OrderedDict((k, v) for k, v in sd.items()
                                                                             if "bias" not in k))
        sd = m.state_dict(keep_vars=True)
        logs[name] = (log, list(sd))
        m2 = lib.nn.Linear(1, 1)
        m2.register_state_dict_post_hook(lambda *a: {})
        with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
            m2.state_dict()
    assert logs["dlcore"] == logs["torch"]


def test_load_state_dict_hooks():
    logs = {}
    for name, lib in (("torch", torch), ("dlcore", dlcore)):
        m = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Linear(2, 1))
        sd = m.state_dict()
        log = []

        def pre_public(mod, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
            log.append(("public", type(mod).__name__, prefix, sorted(state_dict), strict))
            state_dict[prefix + "bias"] = lib.zeros(1)  # hooks may rewrite the checkpoint

        def pre_private(state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
            log.append(("private", prefix, local_metadata.get("version")))

        def post(mod, keys):
            log.append(("post", type(mod).__name__, list(keys.missing_keys), list(keys.unexpected_keys)))
            keys.missing_keys.clear()

        m[1].register_load_state_dict_pre_hook(pre_public)
        m[1]._register_load_state_dict_pre_hook(pre_private)
        m.register_load_state_dict_post_hook(post)
        del sd["0.bias"]
        result = m.load_state_dict(sd)  # strict, but post clears the missing key
        assert m[1].bias.tolist() == [0.0]
        logs[name] = (log, list(result.missing_keys), list(result.unexpected_keys))
        m.register_load_state_dict_post_hook(lambda mod, keys: keys)
        with pytest.raises(AssertionError):
            m.load_state_dict(m.state_dict())
    assert logs["dlcore"] == logs["torch"]


def test_load_state_dict_strict_assign_and_errors():
    t_mod, d_mod = both(lambda lib: lib.Sequential(lib.Linear(2, 3), lib.BatchNorm1d(3)))
    t_sd = t_mod.state_dict()
    t_sd["extra.weight"] = torch.zeros(1)
    t_sd["0.sub"] = torch.zeros(1)
    del t_sd["1.running_mean"]
    d_sd = {k: dlcore.tensor(v.numpy()) for k, v in t_sd.items()}
    t_res, d_res = t_mod.load_state_dict(t_sd, strict=False), d_mod.load_state_dict(d_sd, strict=False)
    assert type(d_res).__name__ == type(t_res).__name__ and d_res._fields == t_res._fields
    assert repr(t_mod.load_state_dict(t_mod.state_dict())) == repr(d_mod.load_state_dict(d_mod.state_dict())) \
        == "<All keys matched successfully>"
    assert repr(d_res) == repr(t_res)
    assert d_res.missing_keys == t_res.missing_keys and d_res.unexpected_keys == t_res.unexpected_keys
    msg = raises_like(lambda: t_mod.load_state_dict(t_sd), lambda: d_mod.load_state_dict(d_sd))
    assert 'Missing key(s) in state_dict: "1.running_mean"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight", "0.sub"' in msg
    t_bad = {"0.weight": torch.zeros(3, 3)}
    msg = raises_like(lambda: t_mod.load_state_dict(t_bad, strict=False),
                      lambda: d_mod.load_state_dict({"0.weight": dlcore.zeros(3, 3)}, strict=False))
    assert "size mismatch for 0.weight: copying a param with shape" in msg
    raises_like(lambda: t_mod.load_state_dict([1]), lambda: d_mod.load_state_dict([1]))
    raises_like(lambda: t_mod.load_state_dict({"0.weight": 1.0}, strict=False),
                lambda: d_mod.load_state_dict({"0.weight": 1.0}, strict=False))

    # assign: the module takes the checkpoint's tensors, parameters keep requires_grad
    lin = nn.Linear(2, 2)
    lin.bias.requires_grad_(False)
    w, b = dlcore.ones(2, 2), dlcore.zeros(2)
    old_weight = lin.weight
    lin.load_state_dict({"weight": w, "bias": b}, assign=True)
    assert lin.weight is not old_weight and isinstance(lin.weight, nn.Parameter)
    assert lin.weight.requires_grad and not lin.bias.requires_grad
    w.add_(1)
    assert lin.weight.tolist() == [[2.0, 2.0], [2.0, 2.0]]  # shares the checkpoint's storage
    bn = nn.BatchNorm1d(2)
    mean = dlcore.full((2,), 3.0)
    bn.load_state_dict(dict(bn.state_dict(), running_mean=mean), assign=True)
    assert bn.running_mean is mean


def test_extra_state():
    for lib in (torch, dlcore):
        class WithExtra(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = lib.nn.Linear(1, 1)
                self.counter = 0

            def get_extra_state(self):
                return {"counter": self.counter}

            def set_extra_state(self, state):
                self.counter = state["counter"]

        outer = lib.nn.Sequential(WithExtra())
        outer[0].counter = 7
        sd = outer.state_dict()
        assert list(sd) == ["0._extra_state", "0.lin.weight", "0.lin.bias"]
        assert sd["0._extra_state"] == {"counter": 7}
        fresh = lib.nn.Sequential(WithExtra())
        fresh.load_state_dict(sd)
        assert fresh[0].counter == 7
        del sd["0._extra_state"]
        assert fresh.load_state_dict(sd, strict=False).missing_keys == ["0._extra_state"]
        plain = lib.nn.Linear(1, 1)
        keys = plain.load_state_dict(dict(plain.state_dict(), _extra_state=1), strict=False)
        assert keys.unexpected_keys == ["_extra_state"]
        with pytest.raises(RuntimeError):
            plain.get_extra_state()
        with pytest.raises(RuntimeError):
            plain.set_extra_state(1)


# ---- submodules, registration, attributes -------------------------------------------------------

def nested(lib):
    root = lib.nn.Module()
    root.net_b = lib.nn.Module()
    root.net_b.net_c = lib.nn.Module()
    root.net_b.net_c.conv = lib.nn.Conv2d(1, 1, 1)
    root.net_b.linear = lib.nn.Linear(1, 1)
    root.net_b.register_buffer("steps", lib.zeros(1))
    root.net_b.plain = 3
    return root


def test_get_and_set_submodule_parameter_buffer():
    t, d = nested(torch), nested(dlcore)
    assert d.get_submodule("net_b.net_c.conv") is d.net_b.net_c.conv and d.get_submodule("") is d
    assert d.get_parameter("net_b.linear.bias") is d.net_b.linear.bias
    assert d.get_buffer("net_b.steps") is d.net_b.steps
    for target in ("net_b.nope", "net_b.plain", "net_b.linear.weight"):
        assert raises_like(lambda: t.get_submodule(target), lambda: d.get_submodule(target)) == \
            str(pytest.raises(AttributeError, t.get_submodule, target).value)
    for name in ("get_parameter", "get_buffer"):
        for target in ("net_b.steps", "net_b.linear.weight", "net_b.nope", "net_b.plain", "x.y"):
            t_call, d_call = getattr(t, name), getattr(d, name)
            try:
                t_call(target)
            except AttributeError as e:
                assert raises_like(lambda: t_call(target), lambda: d_call(target)) == str(e)
    d.set_submodule("net_b.net_c.conv", nn.Linear(1, 2))
    assert isinstance(d.net_b.net_c.conv, nn.Linear)
    d.set_submodule("net_b.new", nn.ReLU())
    assert isinstance(d.net_b.new, nn.ReLU)
    cases = [("", torch.nn.ReLU(), nn.ReLU(), False), ("net_b.x", 3, 3, False),
             ("net_b.absent", torch.nn.ReLU(), nn.ReLU(), True), ("net_b.plain", torch.nn.ReLU(), nn.ReLU(), False),
             ("nope.x", torch.nn.ReLU(), nn.ReLU(), False)]
    for target, t_new, d_new, strict in cases:
        raises_like(lambda: t.set_submodule(target, t_new, strict=strict),
                    lambda: d.set_submodule(target, d_new, strict=strict))


def test_registration_errors_match_torch():
    t, d = torch.nn.Module(), nn.Module()
    t.attr, d.attr = 1, 1
    t.register_buffer("buf", torch.zeros(1))
    d.register_buffer("buf", dlcore.zeros(1))
    cases = [
        ("register_parameter", ("a.b", None)), ("register_parameter", ("", None)),
        ("register_parameter", (1, None)), ("register_parameter", ("attr", None)),
        ("register_parameter", ("p", "tensor")),
        ("register_buffer", ("a.b", None)), ("register_buffer", ("", None)), ("register_buffer", ("attr", None)),
        ("register_buffer", ("b", [1])), ("register_buffer", (2, None)),
        ("add_module", ("a.b", None)), ("add_module", ("", None)), ("add_module", ("attr", None)),
        ("add_module", ("m", 3)), ("add_module", (1, None)), ("register_module", ("buf", None)),
    ]
    for method, args in cases:
        raises_like(lambda: getattr(t, method)(*args), lambda: getattr(d, method)(*args))
    x = torch.ones(1, requires_grad=True)
    dx = dlcore.ones(1, requires_grad=True)
    raises_like(lambda: t.register_parameter("p", x * 2), lambda: d.register_parameter("p", dx * 2))

    class Early(torch.nn.Module):
        def __init__(self):
            self.w = torch.nn.Parameter(torch.zeros(1))

    class DEarly(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(dlcore.zeros(1))
    raises_like(Early, DEarly)


def test_setattr_delattr_move_between_tables():
    for lib in (torch, dlcore):
        m = lib.nn.Module()
        m.x = lib.nn.Parameter(lib.zeros(1))
        with pytest.raises(TypeError):
            m.x = lib.zeros(1)  # a plain tensor cannot replace a parameter
        m.x = None
        assert "x" in m._parameters and m._parameters["x"] is None
        with pytest.raises(TypeError):
            m.x = lib.nn.Linear(1, 1)  # a registered parameter name only takes a Parameter or None
        m.x = lib.nn.Parameter(lib.zeros(1))
        del m.x
        m.x = lib.nn.Linear(1, 1)
        assert "x" not in m._parameters and "x" in m._modules
        with pytest.raises(TypeError):
            m.x = 3
        m.register_buffer("b", lib.zeros(1), persistent=False)
        m.b = lib.ones(1)
        assert "b" not in m.state_dict()
        with pytest.raises(TypeError):
            m.b = 3
        m.b = lib.nn.Parameter(lib.zeros(1))
        assert "b" in m._parameters and "b" not in m._buffers
        del m.b, m.x
        assert not hasattr(m, "b") and not hasattr(m, "x")
        m.plain = 1
        del m.plain
        with pytest.raises(AttributeError, match="'Module' object has no attribute 'nothing'"):
            del m.nothing
        with pytest.raises(AttributeError, match="'Module' object has no attribute 'nothing'"):
            m.nothing


def test_named_modules_and_members_with_duplicates():
    def shared(lib):
        lin = lib.nn.Linear(2, 2)
        return lib.nn.Sequential(lin, lib.nn.ReLU(), lin)
    t, d = shared(torch), shared(dlcore)
    for kw in ({}, {"remove_duplicate": False}, {"prefix": "top", "remove_duplicate": False}):
        assert [n for n, _ in d.named_modules(**kw)] == [n for n, _ in t.named_modules(**kw)]
        assert [n for n, _ in d.named_parameters(**kw)] == [n for n, _ in t.named_parameters(**kw)]
    assert [n for n, _ in d.named_children()] == [n for n, _ in t.named_children()]
    assert len(list(d.parameters())) == 2 and len(list(d.modules())) == 3


def test_train_propagates_through_overrides_and_apply_order():
    seen = {}
    for lib in (torch, dlcore):
        calls = []

        class Child(lib.nn.Module):
            def train(self, mode=True):
                calls.append(mode)
                return super().train(mode)
        m = lib.nn.Sequential(lib.nn.Sequential(Child()), lib.nn.Dropout())
        m.eval()
        assert [x.training for x in m.modules()] == [False] * 4
        m.train()
        assert all(x.training for x in m.modules())
        with pytest.raises(ValueError, match="training mode is expected to be boolean"):
            m.train(1)
        order = []
        m.apply(lambda x: order.append(type(x).__name__))
        seen[lib.__name__] = (calls, order)
    assert seen["dlcore"] == seen["torch"]


def test_zero_grad_requires_grad_and_conversions():
    t_mod, d_mod = both(lambda lib: lib.Sequential(lib.Linear(2, 2), lib.BatchNorm1d(2)))
    for mod, lib in ((t_mod, torch), (d_mod, dlcore)):
        mod(lib.ones(3, 2, dtype=lib.float64)).sum().backward()
        grad = mod[0].weight.grad
        mod.zero_grad(set_to_none=False)
        assert mod[0].weight.grad is grad and not grad.requires_grad and float(grad.abs().sum()) == 0.0
        mod.zero_grad()
        assert mod[0].weight.grad is None
        assert mod.requires_grad_(False) is mod and not any(p.requires_grad for p in mod.parameters())
        mod.requires_grad_()
    # type() casts integer tensors too; half/float/double only floating ones
    assert d_mod.type(dlcore.float32) is d_mod
    t_mod.type(torch.float32)
    assert [str(b.dtype).split(".")[-1] for b in d_mod.buffers()] == \
        [str(b.dtype).split(".")[-1] for b in t_mod.buffers()]
    fresh = nn.BatchNorm1d(2)
    fresh.half()
    assert fresh.weight.dtype == dlcore.float16 and fresh.num_batches_tracked.dtype == dlcore.int64
    fresh.bfloat16()
    assert fresh.running_var.dtype == dlcore.bfloat16
    fresh.double().float()
    assert fresh.weight.dtype == dlcore.float32 and fresh.num_batches_tracked.dtype == dlcore.int64


def test_to_empty_share_memory_and_compile():
    lin = nn.Linear(3, 2)
    weight = lin.weight
    assert lin.to_empty(device="cpu") is lin
    assert lin.weight is weight and tuple(lin.weight.shape) == (2, 3) and lin.weight.requires_grad
    seq = nn.Sequential(nn.Linear(1, 1))
    before = seq[0].weight.data_ptr()
    seq.to_empty(device="cpu", recurse=False)  # the root has no own tensors
    assert seq[0].weight.data_ptr() == before
    with pytest.raises(TypeError):
        lin.to_empty("cpu")  # device is keyword-only, as in torch
    assert lin.share_memory() is lin
    assert lin.compile() is None and isinstance(lin(dlcore.ones(1, 3)), dlcore.Tensor)


def test_setstate_restores_missing_tables():
    lin = nn.Linear(2, 2)
    state = dict(lin.__dict__)
    for key in ("_forward_hooks_with_kwargs", "_backward_pre_hooks", "_state_dict_pre_hooks",
                "_non_persistent_buffers_set", "_is_full_backward_hook"):
        del state[key]
    restored = nn.Linear.__new__(nn.Linear)
    restored.__setstate__(state)
    restored.register_forward_hook(lambda m, a, o: o * 2, with_kwargs=False)
    assert restored(dlcore.ones(1, 2)).shape == (1, 2)
    clone = copy.deepcopy(lin)
    assert clone.state_dict().keys() == lin.state_dict().keys()


def test_repr_matches_torch():
    def build(lib):
        return lib.Sequential(lib.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), lib.BatchNorm2d(8),
                              lib.ReLU(inplace=True), lib.Flatten(), lib.Linear(8, 4), lib.Dropout(0.1),
                              lib.LSTM(4, 5, num_layers=2, batch_first=True))
    assert repr(build(nn)) == repr(build(torch.nn))
