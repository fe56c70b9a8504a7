"""Every dlcore.nn layer against the torch.nn layer of the same name and constructor arguments:
torch's (randomised) state_dict is loaded into the dlcore module, both run on the same input, and
outputs, input gradients, parameter gradients and updated buffers are compared in float64 and float32."""
import numpy as np
import pytest
import torch

import dlcore
import dlcore.nn as nn
from torch_ref import load_torch_state, to_np

# float64: both sides accumulate at most a few hundred products per output, ~1e-16 each.
F64 = dict(rtol=1e-9, atol=1e-11)
# float32: the same sums at ~6e-8 per term; batch/group norm divide by a std estimated from as few as
# 7 values, which can amplify the relative error ~10x.
F32 = dict(rtol=2e-4, atol=3e-5)

DT = {"float64": (dlcore.float64, torch.float64, np.float64, F64),
      "float32": (dlcore.float32, torch.float32, np.float32, F32)}


def randomise(tm, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 2 - 1)
        for name, b in tm.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g, dtype=b.dtype))
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g, dtype=b.dtype) + 0.5)


def run_pair(name, args, kwargs, shape, dtype, training=True, seed=0, steps=1):
    ddt, tdt, ndt, tol = DT[dtype]
    tm = getattr(torch.nn, name)(*args, **kwargs).to(tdt)
    dm = getattr(nn, name)(*args, **kwargs).to(ddt)
    randomise(tm, seed)
    load_torch_state(tm, dm)
    tm.train(training)
    dm.train(training)
    r = np.random.default_rng(seed)
    for _ in range(steps):
        x = r.standard_normal(shape).astype(ndt)
        tx = torch.tensor(x, requires_grad=True)
        dx = dlcore.tensor(x, requires_grad=True)
        tout, dout = tm(tx), dm(dx)
        assert tuple(dout.shape) == tuple(tout.shape)
        assert dout.dtype == ddt
        np.testing.assert_allclose(to_np(dout), to_np(tout), **tol)
        g = r.standard_normal(tuple(tout.shape)).astype(ndt)
        tout.backward(torch.tensor(g))
        dout.backward(dlcore.tensor(g))
        np.testing.assert_allclose(to_np(dx.grad), to_np(tx.grad), **tol)
    tparams = dict(tm.named_parameters())
    for k, p in dm.named_parameters():
        assert p.grad is not None, k
        np.testing.assert_allclose(to_np(p.grad), to_np(tparams[k].grad), err_msg=k, **tol)
    tstate = tm.state_dict()
    dstate = dm.state_dict()
    assert list(dstate) == list(tstate)
    for k, v in dstate.items():
        np.testing.assert_allclose(to_np(v), to_np(tstate[k]), err_msg=k, **tol)
    return tm, dm


CASES = [
    ("Linear", (7, 5), {}, (3, 7)),
    ("Linear", (7, 1), {"bias": False}, (2, 4, 7)),
    ("Conv1d", (3, 4, 3), {"stride": 2, "padding": 1}, (2, 3, 11)),
    ("Conv1d", (4, 6, 3), {"groups": 2, "dilation": 2, "padding": 2, "padding_mode": "reflect"}, (2, 4, 13)),
    ("Conv2d", (3, 5, 3), {"padding": 1}, (2, 3, 7, 9)),
    ("Conv2d", (3, 4, (3, 2)), {"stride": (2, 1), "bias": False}, (1, 3, 8, 7)),
    ("Conv2d", (4, 4, 3), {"padding": "same", "groups": 2, "padding_mode": "circular"}, (2, 4, 6, 5)),
    ("Conv2d", (3, 2, 3), {"padding": 1, "padding_mode": "replicate"}, (2, 3, 5, 5)),
    ("Conv2d", (2, 3, 4), {"padding": "same", "dilation": 2}, (1, 2, 9, 8)),
    ("Conv3d", (2, 3, 3), {"padding": 1}, (1, 2, 5, 6, 7)),
    ("ConvTranspose1d", (3, 4, 3), {"stride": 2, "padding": 1, "output_padding": 1}, (2, 3, 7)),
    ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "groups": 2}, (2, 4, 5, 5)),
    ("ConvTranspose2d", (3, 2, (2, 3)), {"dilation": 2, "bias": False}, (1, 3, 4, 6)),
    ("ConvTranspose3d", (2, 3, 2), {"stride": 2}, (1, 2, 3, 4, 3)),
    ("MaxPool1d", (3, 2), {}, (2, 3, 11)),
    ("MaxPool2d", (3, 2), {"padding": 1}, (2, 3, 9, 8)),
    ("MaxPool2d", (2,), {"ceil_mode": True}, (1, 2, 7, 7)),
    ("MaxPool3d", (2,), {}, (1, 2, 5, 6, 7)),
    ("AvgPool1d", (3, 2), {"padding": 1}, (2, 3, 11)),
    ("AvgPool2d", (3, 2), {"padding": 1, "count_include_pad": False}, (2, 3, 9, 8)),
    ("AvgPool2d", (2,), {"divisor_override": 3}, (1, 2, 6, 6)),
    ("AvgPool3d", (2,), {}, (1, 2, 5, 6, 7)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 11)),
    ("AdaptiveAvgPool2d", ((3, 5),), {}, (2, 3, 7, 11)),
    ("AdaptiveAvgPool3d", (2,), {}, (1, 2, 5, 6, 7)),
    ("AdaptiveMaxPool1d", (4,), {}, (2, 3, 11)),
    ("AdaptiveMaxPool2d", (3,), {}, (2, 3, 7, 8)),
    ("AdaptiveMaxPool3d", ((2, 3, 2),), {}, (1, 2, 5, 6, 7)),
    ("LayerNorm", (9,), {}, (3, 4, 9)),
    ("LayerNorm", ([4, 9],), {"elementwise_affine": False}, (3, 4, 9)),
    ("GroupNorm", (2, 6), {}, (3, 6, 5, 4)),
    ("GroupNorm", (3, 3), {"affine": False}, (2, 3, 7)),
    ("LocalResponseNorm", (3,), {}, (2, 7, 5, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "nearest"}, (2, 3, 5, 4)),
    ("Upsample", (), {"size": (7, 9), "mode": "bilinear", "align_corners": False}, (2, 3, 5, 4)),
    ("Upsample", (), {"scale_factor": 2, "mode": "bilinear", "align_corners": True}, (1, 2, 5, 4)),
    ("Upsample", (), {"scale_factor": 3, "mode": "linear"}, (2, 3, 5)),
    ("Upsample", (), {"size": (4, 5, 6), "mode": "trilinear"}, (1, 2, 3, 3, 4)),
    ("ReLU", (), {}, (4, 7)),
    ("LeakyReLU", (0.2,), {}, (4, 7)),
    ("Sigmoid", (), {}, (4, 7)),
    ("Tanh", (), {}, (4, 7)),
    ("GELU", (), {}, (4, 7)),
    ("GELU", (), {"approximate": "tanh"}, (4, 7)),
    ("SiLU", (), {}, (4, 7)),
    ("ELU", (), {"alpha": 0.5}, (4, 7)),
    ("Softplus", (), {"beta": 2.0, "threshold": 1.5}, (4, 7)),
    ("Softmax", (), {"dim": 1}, (3, 5, 2)),
    ("Softmax", (), {}, (3, 5)),
    ("LogSoftmax", (), {"dim": -1}, (3, 5, 2)),
    ("PReLU", (), {}, (4, 7)),
    ("PReLU", (3,), {}, (2, 3, 5)),
    ("Hardtanh", (), {"min_val": -0.5, "max_val": 0.7}, (4, 7)),
    ("ReLU6", (), {}, (4, 7)),
    ("Mish", (), {}, (4, 7)),
    ("Hardswish", (), {}, (4, 7)),
    ("LogSigmoid", (), {}, (4, 7)),
    ("Softsign", (), {}, (4, 7)),
    ("GLU", (), {"dim": 1}, (3, 6)),
    ("Flatten", (), {}, (2, 3, 4, 5)),
    ("Flatten", (0, 1), {}, (2, 3, 4)),
    ("Unflatten", (1, (2, 3)), {}, (4, 6, 5)),
    ("Identity", (), {}, (3, 2)),
]


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_vs_torch(name, args, kwargs, shape, dtype):
    run_pair(name, args, kwargs, shape, dtype)


BN_CASES = [
    ("BatchNorm1d", (5,), {}, (7, 5)),
    ("BatchNorm1d", (5,), {"momentum": 0.3}, (4, 5, 9)),
    ("BatchNorm2d", (3,), {}, (4, 3, 5, 6)),
    ("BatchNorm2d", (3,), {"affine": False, "momentum": None}, (2, 3, 4, 5)),
    ("BatchNorm2d", (3,), {"track_running_stats": False}, (2, 3, 4, 5)),
    ("BatchNorm3d", (2,), {"eps": 1e-3}, (2, 2, 3, 4, 5)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name,args,kwargs,shape", BN_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(BN_CASES)])
def test_batchnorm_vs_torch(name, args, kwargs, shape, dtype, training):
    # Three steps so that running stats (and the cumulative average of momentum=None) are compared.
    tm, dm = run_pair(name, args, kwargs, shape, dtype, training=training, steps=3)
    if dm.track_running_stats:
        assert int(dm.num_batches_tracked.item()) == (3 if training else 0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_embedding_vs_torch(dtype):
    ddt, tdt, ndt, tol = DT[dtype]
    tm = torch.nn.Embedding(11, 4, padding_idx=2).to(tdt)
    dm = nn.Embedding(11, 4, padding_idx=2).to(ddt)
    load_torch_state(tm, dm)
    idx = np.array([[1, 2, 10], [2, 0, 1], [7, 7, 3]])
    tout, dout = tm(torch.tensor(idx)), dm(dlcore.tensor(idx))
    np.testing.assert_allclose(to_np(dout), to_np(tout), **tol)
    g = np.random.default_rng(0).standard_normal((3, 3, 4)).astype(ndt)
    tout.backward(torch.tensor(g))
    dout.backward(dlcore.tensor(g))
    np.testing.assert_allclose(to_np(dm.weight.grad), to_np(tm.weight.grad), **tol)
    assert np.all(to_np(dm.weight.grad)[2] == 0)


def test_embedding_init_and_from_pretrained():
    dlcore.manual_seed(0)
    e = nn.Embedding(1000, 16, padding_idx=-1)
    assert e.padding_idx == 999
    w = to_np(e.weight)
    assert np.all(w[999] == 0)
    assert abs(w[:999].mean()) < 0.02 and abs(w[:999].std() - 1) < 0.02
    pre = dlcore.tensor([[1.0, 2.0], [3.0, 4.0]])
    f = nn.Embedding.from_pretrained(pre)
    assert not f.weight.requires_grad
    np.testing.assert_array_equal(to_np(f(dlcore.tensor([1, 0]))), [[3.0, 4.0], [1.0, 2.0]])
    assert nn.Embedding.from_pretrained(pre, freeze=False).weight.requires_grad
    with pytest.raises(ValueError, match=r"2-D.*\[2\]"):
        nn.Embedding.from_pretrained(dlcore.tensor([1.0, 2.0]))
    assert repr(e) == "Embedding(1000, 16, padding_idx=999)"


def test_conv_transpose_output_size():
    tm = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    dm = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    load_torch_state(tm, dm)
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 5))
    tout = tm(torch.tensor(x), output_size=[8, 10])
    dout = dm(dlcore.tensor(x), output_size=[8, 10])
    assert tuple(dout.shape) == (1, 3, 8, 10)
    np.testing.assert_allclose(to_np(dout), to_np(tout), **F64)
    with pytest.raises(ValueError, match="output size"):
        dm(dlcore.tensor(x), output_size=[12, 10])


def test_pool_return_indices():
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8))
    tv, ti = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    dv, di = nn.MaxPool2d(2, return_indices=True)(dlcore.tensor(x))
    np.testing.assert_array_equal(to_np(dv), to_np(tv))
    np.testing.assert_array_equal(to_np(di), to_np(ti))


# Default initialisations: bounds as in torch (kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in)
# for weights, and the bias bound is 1/sqrt(fan_in)).
@pytest.mark.parametrize("ctor,fan_in", [
    (lambda: nn.Linear(50, 40), 50),
    (lambda: nn.Conv2d(6, 20, 3), 54),
    (lambda: nn.Conv1d(4, 30, 5, groups=2), 10),
    (lambda: nn.ConvTranspose2d(6, 20, 3), 180),
    (lambda: nn.Conv3d(2, 8, 3), 54),
])
def test_default_init_bounds(ctor, fan_in):
    dlcore.manual_seed(0)
    m = ctor()
    bound = 1 / np.sqrt(fan_in)
    w, b = to_np(m.weight), to_np(m.bias)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound
    assert np.abs(b).max() <= bound
    assert m.weight.requires_grad and m.bias.requires_grad


def test_default_init_norm_layers():
    for m in (nn.BatchNorm2d(4), nn.LayerNorm(4), nn.GroupNorm(2, 4)):
        np.testing.assert_array_equal(to_np(m.weight), np.ones(4, np.float32))
        np.testing.assert_array_equal(to_np(m.bias), np.zeros(4, np.float32))
    bn = nn.BatchNorm1d(3)
    np.testing.assert_array_equal(to_np(bn.running_var), np.ones(3, np.float32))
    assert bn.num_batches_tracked.dtype == dlcore.int64
    np.testing.assert_allclose(to_np(nn.PReLU(3).weight), [0.25] * 3)


def test_init_seeded_by_manual_seed():
    dlcore.manual_seed(7)
    a = to_np(nn.Linear(5, 3).weight)
    dlcore.manual_seed(7)
    b = to_np(nn.Linear(5, 3).weight)
    np.testing.assert_array_equal(a, b)


def test_dropout_train_eval():
    dlcore.manual_seed(0)
    x = dlcore.ones(200, 300)
    d = nn.Dropout(0.3)
    y = to_np(d(x))
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    d.eval()
    assert np.array_equal(to_np(d(x)), to_np(x))
    assert repr(d) == "Dropout(p=0.3, inplace=False)"
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("cls,shape", [(nn.Dropout2d, (40, 50, 3, 4)), (nn.Dropout1d, (40, 50, 7)),
                                       (nn.Dropout3d, (20, 50, 2, 3, 2)), (nn.Dropout2d, (50, 3, 4))])
def test_channel_dropout(cls, shape):
    dlcore.manual_seed(1)
    x = dlcore.ones(*shape, requires_grad=True)
    d = cls(0.25)
    y = d(x)
    a = to_np(y)
    feature_dims = {nn.Dropout1d: 1, nn.Dropout2d: 2, nn.Dropout3d: 3}[cls]
    per_channel = a.reshape(a.shape[:a.ndim - feature_dims] + (-1,))
    # whole channels are either all zero or all 1/(1-p)
    assert np.all((per_channel == 0).all(-1) | np.isclose(per_channel, 1 / 0.75).all(-1))
    assert abs((per_channel[..., 0] != 0).mean() - 0.75) < 0.05
    y.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), a)
    d.eval()
    assert np.array_equal(to_np(d(x)), to_np(x))


def test_batchnorm_eval_uses_running_stats():
    bn = nn.BatchNorm1d(3)
    x = dlcore.tensor((np.random.default_rng(0).standard_normal((16, 3)) * 3 + 2).astype(np.float32))
    bn.eval()
    np.testing.assert_allclose(to_np(bn(x)), to_np(x) / np.sqrt(1 + 1e-5), rtol=1e-6, atol=1e-6)
    assert int(bn.num_batches_tracked.item()) == 0
    bn.train()
    y = to_np(bn(x))
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1


def test_layer_errors_name_shapes():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 3D input of shape \[2, 3, 4\]\)"):
        nn.BatchNorm2d(3)(dlcore.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="in_channels .5. must be divisible by groups .2."):
        nn.Conv2d(5, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(2, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="num_channels .5. must be divisible by num_groups .2."):
        nn.GroupNorm(2, 5)
    with pytest.raises(Exception, match=r"\[3, 7\]|\(3, 7\)|3, 7"):
        nn.Linear(5, 2)(dlcore.zeros(3, 7))
    with pytest.raises(ValueError, match=r"prelu: weight of shape \[4\]"):
        nn.PReLU(4)(dlcore.zeros(2, 3, 5))


def test_layer_reprs_match_torch():
    cases = [("Linear", (3, 4), {}), ("Linear", (3, 4), {"bias": False}),
             ("Conv2d", (3, 8, 3), {"stride": 2, "padding": 1, "bias": False}),
             ("Conv1d", (2, 4, 3), {"dilation": 2, "groups": 2, "padding_mode": "reflect"}),
             ("ConvTranspose2d", (3, 4, 2), {"stride": 2, "output_padding": 1}),
             ("BatchNorm2d", (8,), {}), ("BatchNorm1d", (3,), {"affine": False, "momentum": None}),
             ("BatchNorm3d", (3,), {"bias": False}), ("LayerNorm", (5,), {}),
             ("LayerNorm", ((2, 5),), {"elementwise_affine": False}), ("GroupNorm", (2, 4), {}),
             ("GroupNorm", (2, 4), {"bias": False}), ("LocalResponseNorm", (3,), {}),
             ("ReLU", (), {}), ("ReLU", (), {"inplace": True}), ("LeakyReLU", (0.2,), {}), ("Softmax", (), {"dim": 1}),
             ("GELU", (), {"approximate": "tanh"}), ("ELU", (), {}), ("Softplus", (), {}), ("PReLU", (3,), {}),
             ("SiLU", (), {}), ("Sigmoid", (), {}), ("MaxPool2d", (2,), {}), ("AvgPool2d", (3, 2), {}),
             ("AdaptiveAvgPool2d", ((1, 1),), {}), ("Embedding", (10, 3), {}), ("Flatten", (), {}),
             ("Unflatten", (1, (2, 3)), {}), ("Dropout", (0.1,), {}), ("Dropout2d", (), {}),
             ("Upsample", (), {"scale_factor": 2, "mode": "nearest"}), ("Upsample", (), {"size": (3, 4)}),
             ("Identity", (), {}), ("CrossEntropyLoss", (), {}), ("DiceLoss", (), {})]
    for name, args, kwargs in cases:
        d = repr(getattr(nn, name)(*args, **kwargs))
        if name == "DiceLoss":
            assert d == "DiceLoss(from_logits=True, squared_denominator=False, smooth=1.0, reduction='mean')"
            continue
        assert d == repr(getattr(torch.nn, name)(*args, **kwargs)), name
