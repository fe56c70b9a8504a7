"""dlcore.nn mechanics: Parameter, Module registration, traversal, state_dict/load_state_dict, modes,
conversion, repr, containers, nn.init, nn.functional compositions and the loss modules (vs torch),
and DiceLoss against a numpy formula."""
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F
from dlcore.nn import init
from torch_ref import to_np

F64 = dict(rtol=1e-10, atol=1e-12)
# float32 losses: means of up to ~200 terms, each within a few ulp.
F32 = dict(rtol=2e-5, atol=2e-6)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
        self.head = nn.Linear(2, 3)
        self.scale = nn.Parameter(dlcore.ones(1))
        self.register_buffer("step", dlcore.zeros([], dtype=dlcore.int64))
        self.register_buffer("cache", dlcore.zeros(2), persistent=False)
        self.plain = 5

    def forward(self, x):
        y = self.features(x).mean([2, 3])
        return self.head(y) * self.scale


# ---- Parameter ----------------------------------------------------------------------------------
def test_parameter_basics():
    t = dlcore.randn(3, 2)
    p = nn.Parameter(t)
    assert isinstance(p, dlcore.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf
    assert p.data_ptr() == t.data_ptr()  # aliases the data
    assert not t.requires_grad
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    r = repr(nn.Parameter(dlcore.tensor([1.0, 2.0])))
    assert r == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    (p * p).sum().backward()
    np.testing.assert_allclose(to_np(p.grad), 2 * to_np(t))
    assert not isinstance(p.data, nn.Parameter) and p.data.data_ptr() == p.data_ptr()
    q = dlcore.randn(2, requires_grad=True) * 2  # non-leaf: Parameter detaches
    assert nn.Parameter(q).is_leaf
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(dlcore.tensor([1, 2]))
    with pytest.raises(TypeError, match="must be a Tensor"):
        nn.Parameter([1.0])


def test_parameter_deepcopy():
    import copy
    m = nn.Linear(3, 2)
    m2 = copy.deepcopy(m)
    assert isinstance(m2.weight, nn.Parameter)
    assert m2.weight.data_ptr() != m.weight.data_ptr()
    np.testing.assert_array_equal(to_np(m2.weight), to_np(m.weight))


# ---- registration and traversal -----------------------------------------------------------------
def test_registration_and_names():
    net = Net()
    names = [k for k, _ in net.named_parameters()]
    assert names == ["scale", "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                     "head.weight", "head.bias"]
    assert len(list(net.parameters())) == 7
    assert len(list(net.parameters(recurse=False))) == 1
    assert [k for k, _ in net.named_buffers()] == ["step", "cache", "features.1.running_mean",
                                                   "features.1.running_var", "features.1.num_batches_tracked"]
    assert [k for k, _ in net.named_children()] == ["features", "head"]
    assert [k for k, _ in net.named_modules()] == ["", "features", "features.0", "features.1", "features.2", "head"]
    assert net.plain == 5 and "plain" not in net._parameters
    assert net.get_submodule("features.1") is net.features[1]
    assert net.get_parameter("head.bias") is net.head.bias
    assert "head" in dir(net) and "scale" in dir(net) and "step" in dir(net)


def test_shared_parameters_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert [k for k, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.modules())) == 3
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_setattr_reassign_and_delete():
    m = nn.Module()
    m.w = nn.Parameter(dlcore.ones(2))
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = dlcore.ones(2)
    m.w = None
    assert m.w is None and "w" in m._parameters
    assert list(m.parameters()) == []
    m.sub = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="child module 'sub'"):
        m.sub = 3
    m.sub = nn.ReLU()
    assert isinstance(m.sub, nn.ReLU)
    m.register_buffer("b", dlcore.zeros(1))
    m.b = dlcore.ones(1)
    assert m._buffers["b"].item() == 1.0
    with pytest.raises(TypeError, match="buffer 'b'"):
        m.b = 3
    del m.sub
    del m.b
    assert "sub" not in m._modules and "b" not in m._buffers
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'sub'"):
        m.sub
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", dlcore.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("training", None)
    with pytest.raises(TypeError, match="dlcore.nn.Parameter or None required"):
        m.register_parameter("x", dlcore.ones(1))

    class Early(nn.Module):
        def __init__(self):
            self.p = nn.Parameter(dlcore.ones(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


# ---- state dict ----------------------------------------------------------------------------------
def test_state_dict_keys_and_detach():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["scale", "step", "features.0.weight", "features.0.bias", "features.1.weight",
                        "features.1.bias", "features.1.running_mean", "features.1.running_var",
                        "features.1.num_batches_tracked", "head.weight", "head.bias"]
    assert "cache" not in sd
    assert all(not v.requires_grad for v in sd.values())
    assert sd["head.weight"].data_ptr() == net.head.weight.data_ptr()
    assert net.state_dict(keep_vars=True)["head.weight"] is net.head.weight


def test_state_dict_matches_torch_keys():
    tnet = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Linear(2, 3))
    dnet = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Linear(2, 3))
    assert list(dnet.state_dict()) == list(tnet.state_dict())


def test_load_state_dict_roundtrip():
    a, b = Net(), Net()
    with dlcore.no_grad():
        a.head.bias.fill_(3.0)
        a.features[1].running_var.fill_(2.0)
    w_ptr = b.head.weight.data_ptr()
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert b.head.weight.data_ptr() == w_ptr  # copied in place
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(to_np(b.state_dict()[k]), to_np(v))
    assert b.head.weight.requires_grad


def test_load_state_dict_errors():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    sd = m.state_dict()
    bad = OrderedDict(sd)
    del bad["0.bias"]
    bad["extra.weight"] = dlcore.zeros(1)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(bad)
    msg = str(e.value)
    assert "Error(s) in loading state_dict for Sequential" in msg
    assert 'Missing key(s) in state_dict: "0.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    res = m.load_state_dict(bad, strict=False)
    assert res.missing_keys == ["0.bias"] and res.unexpected_keys == ["extra.weight"]
    assert tuple(res) == (["0.bias"], ["extra.weight"])
    wrong = OrderedDict(sd)
    wrong["0.weight"] = dlcore.zeros(3, 2)
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight: copying a param with shape "
                                               r"dlcore.Size\(\[3, 2\]\) from checkpoint, the shape in current "
                                               r"model is dlcore.Size\(\[2, 3\]\)"):
            m.load_state_dict(wrong, strict=strict)


def test_load_state_dict_from_torch():
    tm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    tm(torch.randn(5, 4))
    dm = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    dm.load_state_dict({k: dlcore.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    assert int(dm[1].num_batches_tracked.item()) == 1
    np.testing.assert_allclose(to_np(dm[1].running_mean), tm[1].running_mean.numpy())


# ---- modes, conversion, misc ----------------------------------------------------------------------
def test_train_eval_recursive():
    net = Net()
    assert net.training and net.features[1].training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError):
        net.train("yes")


def test_to_and_casts():
    net = Net()
    p_before = net.head.weight
    assert net.double() is net
    assert net.head.weight.dtype == dlcore.float64 and isinstance(net.head.weight, nn.Parameter)
    assert net.head.weight.requires_grad
    assert net.features[1].running_mean.dtype == dlcore.float64
    assert net.step.dtype == dlcore.int64  # integer buffers keep their dtype
    assert net.features[1].num_batches_tracked.dtype == dlcore.int64
    np.testing.assert_allclose(to_np(net.head.weight), to_np(p_before))
    net.to(dlcore.float32)
    assert net.head.weight.dtype == dlcore.float32
    net.to("cpu", dtype=dlcore.float64)
    assert net.head.weight.dtype == dlcore.float64
    net.float().cpu()
    assert net.head.weight.dtype == dlcore.float32 and not net.head.weight.is_cuda
    assert len(list(net.parameters())) == 7
    with pytest.raises(TypeError, match="floating point"):
        net.to(dlcore.int64)
    y = net(dlcore.randn(2, 1, 5, 5))
    assert tuple(y.shape) == (2, 3)


def test_zero_grad_requires_grad_apply():
    net = Net()
    net(dlcore.randn(2, 1, 5, 5)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(to_np(p.grad) == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Conv2d", "BatchNorm2d", "ReLU", "Sequential", "Linear", "Net"]

    def init_linear(m):
        if isinstance(m, nn.Linear):
            init.constant_(m.weight, 0.5)
    net.apply(init_linear)
    assert np.all(to_np(net.head.weight) == 0.5)


def test_forward_hooks_and_missing_forward():
    lin = nn.Linear(2, 2)
    calls = []
    h = lin.register_forward_hook(lambda m, args, out: calls.append(tuple(out.shape)))
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    out = lin(dlcore.ones(3, 2))
    assert calls == [(3, 2)]
    np.testing.assert_allclose(to_np(out), np.broadcast_to(to_np(lin.bias), (3, 2)))
    h.remove()
    pre.remove()
    lin(dlcore.ones(1, 2))
    assert calls == [(3, 2)]
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(1)


def test_nested_repr_matches_torch():
    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.ReLU())
            self.head = torch.nn.Linear(2, 3)

    class DNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
            self.head = nn.Linear(2, 3)
    TNet.__name__ = DNet.__name__ = "Net"
    assert repr(DNet()) == repr(TNet())
    expected = ("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): Dropout(p=0.5, "
                "inplace=False)\n  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
                "\n  (3): Flatten(start_dim=1, end_dim=-1)\n)")
    assert repr(nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.MaxPool2d(2), nn.Flatten())) == expected
    assert repr(nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.MaxPool2d(2), nn.Flatten())) == repr(
        torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Dropout(), torch.nn.MaxPool2d(2), torch.nn.Flatten()))


# ---- containers ------------------------------------------------------------------------------------
def test_sequential():
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert len(seq) == 3
    assert isinstance(seq[-1], nn.Linear) and seq[1] is list(seq)[1]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[0] is seq[1]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    seq.append(nn.Sigmoid())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    x = dlcore.randn(5, 4)
    ref = seq[3](seq[2](seq[1](seq[0](x))))
    np.testing.assert_allclose(to_np(seq(x)), to_np(ref))
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and isinstance(seq[1], nn.Linear)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    assert named.fc is named[0]
    seq[0] = nn.Linear(4, 3, bias=False)
    assert seq[0].bias is None


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "Linear", "Linear", "ReLU", "Tanh"]
    assert isinstance(ml[-1], nn.Tanh) and len(ml[1:3]) == 2
    assert list(ml.state_dict())[:2] == ["1.weight", "1.bias"]
    md = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.ReLU()})
    md["c"] = nn.Linear(3, 1)
    assert list(md.keys()) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert list(md.state_dict()) == ["a.weight", "a.bias", "c.weight", "c.bias"]
    assert isinstance(md.pop("b"), nn.ReLU) and "b" not in md
    with pytest.raises(TypeError, match="is not a Module subclass"):
        md["d"] = 3


def test_identity_flatten_unflatten():
    x = dlcore.randn(2, 3, 4)
    assert nn.Identity(54, unused="x")(x) is x
    assert tuple(nn.Flatten()(x).shape) == (2, 12)
    assert tuple(nn.Unflatten(-1, (2, 2))(x).shape) == (2, 3, 2, 2)


# ---- init -------------------------------------------------------------------------------------------
def test_calculate_gain_and_fans():
    for nl, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                      ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)]:
        assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    w = dlcore.empty(8, 3, 5, 2)
    assert init._calculate_fan_in_and_fan_out(w) == (30, 80)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(dlcore.empty(4))


def _stats(t):
    a = to_np(t).ravel().astype(np.float64)
    return a.min(), a.max(), a.mean(), a.std()


def test_init_distributions():
    dlcore.manual_seed(0)
    t = dlcore.empty(200, 300)
    lo, hi, mean, std = _stats(init.uniform_(t, -2.0, 3.0))
    assert lo >= -2 and hi <= 3 and abs(mean - 0.5) < 0.02 and abs(std - 5 / math.sqrt(12)) < 0.02
    lo, hi, mean, std = _stats(init.normal_(t, 1.0, 0.5))
    assert abs(mean - 1.0) < 0.01 and abs(std - 0.5) < 0.01
    lo, hi, mean, std = _stats(init.trunc_normal_(t, 0.0, 1.0, -1.0, 1.5))
    assert lo >= -1.0 and hi <= 1.5 and abs(mean - 0.1453) < 0.01  # mean of N(0,1) truncated to [-1, 1.5]
    assert init.constant_(t, 0.3) is t and np.all(to_np(t) == np.float32(0.3))
    assert np.all(to_np(init.zeros_(t)) == 0) and np.all(to_np(init.ones_(t)) == 1)
    lo, hi, mean, std = _stats(init.xavier_uniform_(t, gain=2.0))
    bound = 2.0 * math.sqrt(6 / 500)
    assert -bound <= lo and hi <= bound and hi > 0.95 * bound
    lo, hi, mean, std = _stats(init.xavier_normal_(t))
    assert abs(std - math.sqrt(2 / 500)) < 0.02 * math.sqrt(2 / 500)
    lo, hi, mean, std = _stats(init.kaiming_uniform_(t, a=0, mode="fan_out", nonlinearity="relu"))
    bound = math.sqrt(2) * math.sqrt(3 / 200)
    assert -bound <= lo and hi <= bound and hi > 0.95 * bound
    lo, hi, mean, std = _stats(init.kaiming_normal_(t, nonlinearity="relu"))
    assert abs(std - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(t, mode="fan_avg")
    e = init.eye_(dlcore.empty(3, 4))
    np.testing.assert_array_equal(to_np(e), np.eye(3, 4))


def test_init_on_parameter_keeps_grad_state():
    p = nn.Parameter(dlcore.empty(4, 5))
    init.normal_(p)
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    init.kaiming_uniform_(p, a=math.sqrt(5))
    assert np.abs(to_np(p)).max() <= 1 / math.sqrt(5)
    dlcore.manual_seed(3)
    a = to_np(init.uniform_(dlcore.empty(5)))
    dlcore.manual_seed(3)
    np.testing.assert_array_equal(to_np(init.uniform_(dlcore.empty(5))), a)


# ---- functional compositions -------------------------------------------------------------------------
def pair(a, requires_grad=True):
    d = dlcore.tensor(a)
    t = torch.tensor(a)
    if requires_grad:
        d.requires_grad_(True)
        t.requires_grad_(True)
    return d, t


def test_functional_exports():
    for name in ["conv1d", "conv2d", "conv3d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
                 "adaptive_avg_pool2d", "interpolate", "batch_norm", "layer_norm", "group_norm", "cross_entropy",
                 "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "relu", "gelu", "silu",
                 "softmax", "log_softmax", "dropout", "pad", "one_hot", "embedding", "linear",
                 "scaled_dot_product_attention", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                 "dropout2d", "normalize", "prelu", "elu", "leaky_relu", "softplus", "sigmoid", "tanh"]:
        assert callable(getattr(F, name)), name
    x = dlcore.randn(3, 4)
    assert np.array_equal(to_np(F.dropout(x, training=False)), to_np(x))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, p=-0.1)


@pytest.mark.parametrize("fn,kwargs", [
    ("normalize", {}), ("normalize", {"p": 1.0, "dim": 0}), ("logsigmoid", {}), ("hardtanh", {}),
    ("relu6", {}), ("mish", {}), ("softsign", {}), ("hardswish", {}), ("glu", {"dim": 1}),
])
def test_functional_vs_torch(fn, kwargs):
    x = np.random.default_rng(0).standard_normal((4, 6)) * 3
    dx, tx = pair(x)
    dy, ty = getattr(F, fn)(dx, **kwargs), getattr(torch.nn.functional, fn)(tx, **kwargs)
    np.testing.assert_allclose(to_np(dy), to_np(ty), **F64)
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    dy.backward(dlcore.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(to_np(dx.grad), to_np(tx.grad), **F64)


def test_prelu_functional_and_grad():
    x = np.random.default_rng(0).standard_normal((2, 3, 5))
    w = np.array([0.1, -0.3, 0.5])
    dx, tx = pair(x)
    dw, tw = pair(w)
    dy, ty = F.prelu(dx, dw), torch.nn.functional.prelu(tx, tw)
    np.testing.assert_allclose(to_np(dy), to_np(ty), **F64)
    dy.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(to_np(dw.grad), to_np(tw.grad), **F64)
    np.testing.assert_allclose(to_np(dx.grad), to_np(tx.grad), **F64)


@pytest.mark.parametrize("shape,channels,dtype", [((2, 16, 4, 5, 6), 16, np.float64), ((2, 16, 4, 5, 6), 1, np.float64),
                                                   ((3, 4, 37), 4, np.float32), ((7,), 1, np.float64),
                                                   ((0, 3, 2), 3, np.float64)])
def test_prelu_fused_against_torch(shape, channels, dtype):
    # the fused CPU passes (Note [Fused prelu]): per-channel and shared weights, 1-d to 5-d,
    # an empty batch; the weight grad sums N * inner terms per channel (float32: ~40 terms of
    # ~1, so a few ulp of the sum)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(channels).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    dx, tx = pair(x)
    dw, tw = pair(w)
    dy, ty = F.prelu(dx, dw), torch.nn.functional.prelu(tx, tw)
    tol = F64 if dtype == np.float64 else F32
    np.testing.assert_allclose(to_np(dy), to_np(ty), **tol)
    dy.backward(dlcore.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(to_np(dx.grad), to_np(tx.grad), **tol)
    np.testing.assert_allclose(to_np(dw.grad), to_np(tw.grad), **tol)


def test_prelu_views_double_backward_and_bad_dtype():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5))
    w = np.array([0.2, -0.1, 0.4, 0.3, -0.5])
    # a transposed (non-contiguous) input, channels in dim 1
    dx, tx = pair(x)
    dw, tw = pair(w)
    dy = F.prelu(dx.transpose(1, 2), dw)
    ty = torch.nn.functional.prelu(tx.transpose(1, 2), tw)
    np.testing.assert_allclose(to_np(dy), to_np(ty), **F64)
    # create_graph: the formula path, whose grads carry history
    (gx, gw), (tgx, tgw) = (dlcore.autograd.grad((dy * dy).sum(), [dx, dw], create_graph=True),
                            torch.autograd.grad((ty * ty).sum(), [tx, tw], create_graph=True))
    np.testing.assert_allclose(to_np(gx), to_np(tgx), **F64)
    np.testing.assert_allclose(to_np(gw), to_np(tgw), **F64)
    np.testing.assert_allclose(to_np(dlcore.autograd.grad(gx.sum() + gw.sum(), [dw])[0]),
                               to_np(torch.autograd.grad(tgx.sum() + tgw.sum(), [tw])[0]), **F64)
    with pytest.raises(TypeError, match="prelu: input"):
        F.prelu(dlcore.tensor(np.swapaxes(x, 1, 2).astype(np.float32)), dlcore.tensor(w))


# ---- losses vs torch ----------------------------------------------------------------------------------
def _loss_case(name, kwargs, x, t, extra_buffers=None):
    tl = getattr(torch.nn, name)(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                                    for k, v in kwargs.items()})
    dl = getattr(nn, name)(**{k: dlcore.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
    tol = F64 if x.dtype == np.float64 else F32
    dx, tx = pair(x)
    dt, tt = pair(t, requires_grad=False)
    dy, ty = dl(dx, dt), tl(tx, tt)
    assert tuple(dy.shape) == tuple(ty.shape)
    np.testing.assert_allclose(to_np(dy), to_np(ty), **tol)
    g = np.random.default_rng(5).standard_normal(tuple(ty.shape)).astype(x.dtype)
    dy.backward(dlcore.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(to_np(dx.grad), to_np(tx.grad), **tol)


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kwargs", [
    ("MSELoss", {}), ("L1Loss", {}), ("SmoothL1Loss", {}), ("SmoothL1Loss", {"beta": 0.5}),
    ("SmoothL1Loss", {"beta": 0.0}), ("HuberLoss", {}), ("HuberLoss", {"delta": 2.0}),
])
def test_regression_losses(name, kwargs, reduction, dtype):
    r = np.random.default_rng(0)
    x = (r.standard_normal((7, 5)) * 2).astype(dtype)
    t = (r.standard_normal((7, 5)) * 2).astype(dtype)
    _loss_case(name, dict(kwargs, reduction=reduction), x, t)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.1}, {"ignore_index": 2},
                                    {"weight": np.array([0.5, 1.0, 2.0, 1.5])}])
def test_cross_entropy_and_nll(kwargs, reduction, dtype):
    r = np.random.default_rng(1)
    x = r.standard_normal((9, 4, 3)).astype(dtype)
    t = r.integers(0, 4, (9, 3))
    if "weight" in kwargs:
        kwargs = dict(kwargs, weight=kwargs["weight"].astype(dtype))
    _loss_case("CrossEntropyLoss", dict(kwargs, reduction=reduction), x, t)
    nll_kwargs = {k: v for k, v in kwargs.items() if k != "label_smoothing"}
    logp = np.log(np.exp(x) / np.exp(x).sum(1, keepdims=True)).astype(dtype)
    _loss_case("NLLLoss", dict(nll_kwargs, reduction=reduction), logp, t)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_losses(reduction, dtype):
    r = np.random.default_rng(2)
    logits = (r.standard_normal((6, 5)) * 2).astype(dtype)
    target = r.uniform(0, 1, (6, 5)).astype(dtype)
    w = r.uniform(0.5, 1.5, (5,)).astype(dtype)
    pw = r.uniform(0.5, 3.0, (5,)).astype(dtype)
    probs = (1 / (1 + np.exp(-logits))).astype(dtype)
    _loss_case("BCELoss", {"reduction": reduction}, probs, target)
    _loss_case("BCELoss", {"reduction": reduction, "weight": w}, probs, target)
    _loss_case("BCEWithLogitsLoss", {"reduction": reduction}, logits, target)
    _loss_case("BCEWithLogitsLoss", {"reduction": reduction, "weight": w, "pos_weight": pw}, logits, target)


@pytest.mark.filterwarnings("ignore:.*divides the total loss")
def test_kl_div():
    r = np.random.default_rng(3)
    x = np.log(r.dirichlet(np.ones(5), 4))
    t = r.dirichlet(np.ones(5), 4)
    t[0, 1] = 0.0
    for reduction in ["batchmean", "sum", "none", "mean"]:
        _loss_case("KLDivLoss", {"reduction": reduction}, x, t)


def test_loss_errors():
    with pytest.raises(ValueError, match=r"mse_loss: input shape \[3, 2\] and target shape \[3\] must match"):
        nn.MSELoss()(dlcore.zeros(3, 2), dlcore.zeros(3))
    with pytest.raises(ValueError, match="reduction"):
        nn.L1Loss(reduction="avg")
    weighted = nn.CrossEntropyLoss(weight=dlcore.ones(3))
    assert "weight" in dict(weighted.named_buffers())
    assert weighted.ignore_index == -100 and weighted.label_smoothing == 0.0


# ---- DiceLoss ------------------------------------------------------------------------------------------
def _np_dice(p, g, dims, squared, smooth):
    inter = (p * g).sum(dims)
    den = (p ** 2).sum(dims) + (g ** 2).sum(dims) if squared else p.sum(dims) + g.sum(dims)
    return 1 - (2 * inter + smooth) / (den + smooth)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("smooth", [1.0, 1e-5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_dice_binary(squared, smooth, reduction):
    r = np.random.default_rng(0)
    x = r.standard_normal((3, 1, 7, 5))
    g = (r.uniform(size=(3, 1, 7, 5)) > 0.6).astype(np.float64)
    per = _np_dice(_np_sigmoid(x), g, (1, 2, 3), squared, smooth)
    ref = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    dx = dlcore.tensor(x, requires_grad=True)
    loss = nn.DiceLoss(squared_denominator=squared, smooth=smooth, reduction=reduction)(dx, dlcore.tensor(g))
    np.testing.assert_allclose(to_np(loss), ref, **F64)
    # gradient vs torch running the same formula
    tx = torch.tensor(x, requires_grad=True)
    p = torch.sigmoid(tx)
    tg = torch.tensor(g)
    den = (p * p).sum((1, 2, 3)) + (tg * tg).sum((1, 2, 3)) if squared else p.sum((1, 2, 3)) + tg.sum((1, 2, 3))
    tper = 1 - (2 * (p * tg).sum((1, 2, 3)) + smooth) / (den + smooth)
    tloss = {"mean": tper.mean(), "sum": tper.sum(), "none": tper}[reduction]
    tloss.sum().backward()
    loss.sum().backward()
    np.testing.assert_allclose(to_np(dx.grad), tx.grad.numpy(), **F64)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_dice_multiclass(squared, reduction):
    r = np.random.default_rng(1)
    x = r.standard_normal((2, 4, 5, 3))
    idx = r.integers(0, 4, (2, 5, 3))
    g = np.moveaxis(np.eye(4)[idx], -1, 1)
    per = _np_dice(_np_softmax(x, 1), g, (2, 3), squared, 1.0)
    ref = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    loss = nn.DiceLoss(squared_denominator=squared, reduction=reduction)
    np.testing.assert_allclose(to_np(loss(dlcore.tensor(x), dlcore.tensor(idx))), ref, **F64)
    one_hot = nn.DiceLoss(squared_denominator=squared, reduction=reduction, multiclass=True)
    np.testing.assert_allclose(to_np(one_hot(dlcore.tensor(x), dlcore.tensor(g))), ref, **F64)
    probs = nn.DiceLoss(from_logits=False, squared_denominator=squared, reduction=reduction)
    p = _np_softmax(x, 1)
    np.testing.assert_allclose(to_np(probs(dlcore.tensor(p), dlcore.tensor(idx))), ref, **F64)


def test_dice_perfect_prediction_and_errors():
    g = dlcore.tensor(np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]))
    loss = nn.DiceLoss(from_logits=False, smooth=0.0)(g, g)
    assert abs(loss.item()) < 1e-12
    with pytest.raises(ValueError, match=r"dice_loss: input shape \[2, 3\] and target shape \[3\] must match"):
        nn.DiceLoss()(dlcore.zeros(2, 3), dlcore.zeros(3))
    with pytest.raises(ValueError, match=r"target shape \[2, 4\] does not match input shape \[2, 3, 5\]"):
        nn.DiceLoss()(dlcore.zeros(2, 3, 5), dlcore.zeros(2, 4, dtype=dlcore.int64))
    assert "V-Net" in nn.DiceLoss.__doc__ and "2 * sum(p * g)" in nn.DiceLoss.__doc__


def test_tensor_data_property_like_torch():
    import torch
    a = dlcore.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = a.data
    assert not d.requires_grad and d.data_ptr() == a.data_ptr()  # an alias without history
    d[0] = 5.0
    assert a.tolist() == [5.0, 2.0, 3.0]
    b = dlcore.arange(4, dtype=dlcore.float64).reshape(2, 2)
    ident = id(a)
    a.data = b  # the same object takes b's storage, shape and dtype
    assert id(a) == ident and a.requires_grad and a.is_leaf
    assert a.shape == (2, 2) and a.dtype == dlcore.float64 and a.data_ptr() == b.data_ptr()
    t = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    t.data = torch.arange(4, dtype=torch.float64).reshape(2, 2)
    assert a.tolist() == t.tolist() and t.requires_grad
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 2 * b.numpy())
    with pytest.raises(TypeError, match="data: expected a tensor"):
        a.data = None


def test_module_to_converts_parameters_in_place():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    params = list(model.parameters())
    opt = dlcore.optim.SGD(model.parameters(), lr=0.1)  # built before the conversion
    model(dlcore.randn(5, 3)).sum().backward()
    model.double()
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(p.dtype == dlcore.float64 and p.grad.dtype == dlcore.float64 for p in params)
    before = [p.detach().clone() for p in params]
    grads = [p.grad.clone() for p in params]
    opt.step()
    for p, w, g in zip(params, before, grads):
        np.testing.assert_allclose(p.detach().numpy(), (w - 0.1 * g).numpy(), rtol=1e-12)
    # tied weights stay one parameter
    emb = nn.Embedding(6, 4)
    head = nn.Linear(4, 6, bias=False)
    head.weight = emb.weight
    tied = nn.ModuleList([emb, head]).double()
    assert tied[1].weight is tied[0].weight and tied[0].weight.dtype == dlcore.float64
