"""dlcore.nn's activation, padding, norm, pooling, distance, embedding, loss, container, lazy and
wrapper modules against the torch.nn modules of the same name: state_dict keys and shapes, outputs
and gradients (torch's randomised state loaded into dlcore's), train/eval behaviour, bad input."""
import numpy as np
import pytest

import dlcore
import dlcore.nn as nn

torch = pytest.importorskip("torch")

# torch's deprecation notices (implicit softmin dim, size_average/reduce) and its warning for an
# InstanceNorm whose unused num_features differs from the input's channels
pytestmark = [pytest.mark.filterwarnings("ignore:Implicit dimension choice:UserWarning"),
              pytest.mark.filterwarnings("ignore:size_average and reduce args:UserWarning"),
              pytest.mark.filterwarnings("ignore:input's size at dim=1 does not match:UserWarning")]

# float64: short chains of ops on both sides, ~1e-15 relative; float32: ~6e-8 per op, and norm
# layers divide by a std estimated from few values.
TOL = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=2e-4, atol=3e-5)}
DT = {"float64": (dlcore.float64, torch.float64, np.float64), "float32": (dlcore.float32, torch.float32, np.float32)}


def load_torch_state(tm, dm):
    """Copies torch module tm's (randomised) state into dm, which must have the same keys and shapes."""
    tstate = tm.state_dict()
    assert list(dm.state_dict()) == list(tstate)
    for k, v in dm.state_dict().items():
        assert tuple(v.shape) == tuple(tstate[k].shape), k
    res = dm.load_state_dict({k: dlcore.tensor(v.detach().numpy().copy()) for k, v in tstate.items()})
    assert res.missing_keys == [] and res.unexpected_keys == []


def randomise(tm, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 2 - 1)
        for name, b in tm.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g, dtype=b.dtype))
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g, dtype=b.dtype) + 0.5)


def run_pair(tm, dm, inputs, dtype="float64", training=True, steps=1, grads=None):
    """Loads tm's randomised state into dm and compares outputs, input and parameter gradients and
    the state after ``steps`` calls on ``inputs`` (numpy arrays; integer ones get no gradient)."""
    ddt, tdt, ndt = DT[dtype]
    tol = TOL[dtype]
    tm.to(tdt)
    dm.to(ddt)
    randomise(tm)
    load_torch_state(tm, dm)
    tm.train(training)
    dm.train(training)
    arrays = [a.astype(ndt) if np.issubdtype(a.dtype, np.floating) else a for a in inputs]
    if grads is None:
        grads = [i for i, a in enumerate(arrays) if np.issubdtype(a.dtype, np.floating)]
    r = np.random.default_rng(3)
    for _ in range(steps):
        dx = [dlcore.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
        tx = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
        dout, tout = dm(*dx), tm(*tx)
        assert tuple(dout.shape) == tuple(tout.shape)
        assert dout.dtype == ddt
        np.testing.assert_allclose(dout.detach().numpy(), tout.detach().numpy(), **tol)
        if tout.requires_grad:
            g = r.standard_normal(tuple(tout.shape)).astype(ndt)
            dout.backward(dlcore.tensor(g))
            tout.backward(torch.tensor(g))
            for i in grads:
                np.testing.assert_allclose(dx[i].grad.numpy(), tx[i].grad.numpy(), err_msg=f"input {i}", **tol)
    tparams = dict(tm.named_parameters())
    for k, p in dm.named_parameters():
        if tparams[k].grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), tparams[k].grad.numpy(), err_msg=k, **tol)
    tstate = tm.state_dict()
    for k, v in dm.state_dict().items():
        np.testing.assert_allclose(v.numpy(), tstate[k].numpy(), err_msg=k, **tol)
    return tm, dm


def pair(name, *args, **kwargs):
    return getattr(torch.nn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


CASES = [
    ("SELU", (), {}, (3, 5)),
    ("CELU", (0.5,), {}, (3, 5)),
    ("Threshold", (0.1, 20.0), {}, (3, 5)),
    ("Softmin", (1,), {}, (3, 5, 2)),
    ("Softmin", (), {}, (3, 5)),
    ("Softmax2d", (), {}, (2, 3, 4, 5)),
    ("Softmax2d", (), {}, (3, 4, 5)),
    ("Softshrink", (0.3,), {}, (3, 5)),
    ("Hardshrink", (), {}, (3, 5)),
    ("Tanhshrink", (), {}, (3, 5)),
    ("PixelShuffle", (2,), {}, (2, 8, 3, 4)),
    ("PixelUnshuffle", (2,), {}, (2, 3, 4, 6)),
    ("RMSNorm", ([4, 5],), {}, (3, 4, 5)),
    ("RMSNorm", (5,), {"eps": 1e-3, "elementwise_affine": False}, (3, 4, 5)),
    ("InstanceNorm1d", (3,), {}, (2, 3, 7)),
    ("InstanceNorm1d", (3,), {"affine": True, "track_running_stats": True}, (3, 7)),
    ("InstanceNorm2d", (3,), {"affine": True}, (2, 3, 4, 5)),
    ("InstanceNorm2d", (3,), {"track_running_stats": True, "momentum": None}, (2, 3, 4, 5)),
    ("InstanceNorm3d", (2,), {"affine": True, "track_running_stats": True}, (2, 2, 3, 4, 3)),
    ("LPPool1d", (2, 3), {"stride": 2}, (2, 3, 9)),
    ("LPPool2d", (1.5, 2), {}, (2, 3, 6, 4)),
    ("LPPool3d", (2, 2), {"ceil_mode": True}, (1, 2, 5, 4, 5)),
]
for _n in (1, 2, 3):
    _shape = (2, 3) + (5,) * _n
    CASES += [(f"ZeroPad{_n}d", (1,), {}, _shape),
              (f"ConstantPad{_n}d", (tuple(range(1, 2 * _n + 1)), 2.5), {}, _shape),
              (f"ReflectionPad{_n}d", (tuple(4 - i % 4 for i in range(2 * _n)),), {}, _shape),
              (f"ReplicationPad{_n}d", (2,), {}, _shape[1:]),
              (f"CircularPad{_n}d", (tuple([1, 2] * _n),), {}, _shape)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_module_matches_torch(name, args, kwargs, shape, dtype):
    tm, dm = pair(name, *args, **kwargs)
    run_pair(tm, dm, [randn(*shape)], dtype, steps=2)
    assert repr(dm) == repr(tm)


@pytest.mark.parametrize("name", ["InstanceNorm1d", "InstanceNorm2d"])
def test_instance_norm_eval_uses_running_stats(name):
    shape = (2, 3, 6) if name == "InstanceNorm1d" else (2, 3, 4, 5)
    tm, dm = pair(name, 3, affine=True, track_running_stats=True)
    run_pair(tm, dm, [randn(*shape)], training=True, steps=2)
    run_pair(tm, dm, [randn(*shape, seed=1)], training=False)


def test_instance_norm_errors():
    with pytest.raises(ValueError, match=r"InstanceNorm2d: expected 3D or 4D input \(got 2D"):
        nn.InstanceNorm2d(3)(dlcore.randn(3, 4))
    with pytest.raises(ValueError, match=r"match num_features \(4\)"):
        nn.InstanceNorm1d(4, affine=True)(dlcore.randn(2, 3, 5))


def test_rrelu_module_train_eval():
    tm, dm = pair("RReLU", 0.1, 0.3)
    run_pair(tm, dm, [randn(4, 6)], training=False)
    dm.train()
    x = dlcore.tensor(-np.abs(randn(500)) - 0.1)
    slopes = (dm(x) / x).numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03


@pytest.mark.parametrize("name", ["AlphaDropout", "FeatureAlphaDropout"])
def test_alpha_dropout_modules(name):
    m = getattr(nn, name)(0.2)
    x = dlcore.randn(64, 32, 8, dtype=dlcore.float64)
    m.eval()
    assert m(x) is x
    m.train()
    y = m(x).numpy()
    assert not np.allclose(y, x.numpy()) and abs(y.mean()) < 0.1 and abs(y.std() - 1) < 0.1
    assert repr(m) == repr(getattr(torch.nn, name)(0.2))
    with pytest.raises(ValueError, match="between 0 and 1"):
        getattr(nn, name)(-0.1)


def test_padding_errors():
    with pytest.raises(ValueError, match=r"ZeroPad2d: padding must be an int or a tuple of 4 ints"):
        nn.ZeroPad2d((1, 2))
    with pytest.raises(ValueError, match=r"ReflectionPad2d: expected a 3-D or 4-D input"):
        nn.ReflectionPad2d(1)(dlcore.randn(2, 3, 4, 5, 6))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_unpool_modules(n):
    x = randn(2, 3, *(6,) * n)
    tpool = getattr(torch.nn, f"MaxPool{n}d")(2, return_indices=True)
    dpool = getattr(nn, f"MaxPool{n}d")(2, return_indices=True)
    tout, ti = tpool(torch.tensor(x))
    dout, di = dpool(dlcore.tensor(x))
    tm, dm = pair(f"MaxUnpool{n}d", 2)
    tx, dx = tout.detach().clone().requires_grad_(), dlcore.tensor(dout.numpy(), requires_grad=True)
    ty, dy = tm(tx, ti, output_size=[6] * n), dm(dx, di, output_size=[6] * n)
    np.testing.assert_array_equal(dy.detach().numpy(), ty.detach().numpy())
    g = randn(*ty.shape, seed=2)
    ty.backward(torch.tensor(g))
    dy.backward(dlcore.tensor(g))
    np.testing.assert_array_equal(dx.grad.numpy(), tx.grad.numpy())
    assert repr(dm) == repr(tm)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_two_input_modules(dtype):
    a, b = randn(4, 5), randn(4, 5, seed=1)
    for name, kwargs in (("CosineSimilarity", dict(dim=0)), ("PairwiseDistance", dict(p=3.0, keepdim=True))):
        tm, dm = run_pair(*pair(name, **kwargs), [a, b], dtype)
        assert repr(dm) == repr(tm)
    tm, dm = pair("Bilinear", 5, 3, 6)
    run_pair(tm, dm, [a, randn(4, 3, seed=2)], dtype)
    assert repr(dm) == repr(tm)
    run_pair(*pair("Bilinear", 5, 3, 2, bias=False), [a, randn(4, 3, seed=2)], dtype)


def test_bilinear_init_bounds():
    m = nn.Bilinear(16, 3, 40)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert np.abs(w).max() <= 0.25 and np.abs(b).max() <= 0.25 and w.std() > 0.1


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_module(mode):
    idx, off = np.array([1, 2, 4, 5, 4, 3, 2, 9]), np.array([0, 3, 3])
    tm, dm = pair("EmbeddingBag", 10, 3, mode=mode, padding_idx=2)
    run_pair(tm, dm, [idx, off])
    assert repr(dm) == repr(tm)
    fresh = nn.EmbeddingBag(10, 3, padding_idx=2)
    assert not fresh.weight.detach().numpy()[2].any()
    frozen = nn.EmbeddingBag.from_pretrained(dlcore.randn(4, 2), mode="sum")
    assert not frozen.weight.requires_grad and frozen.mode == "sum"


LOSSES = [
    ("CosineEmbeddingLoss", {"margin": 0.2}, lambda r: [r.standard_normal((4, 5)), r.standard_normal((4, 5)),
                                                         np.array([1.0, -1, -1, 1])], [0, 1]),
    ("MarginRankingLoss", {"margin": 0.1, "reduction": "sum"},
     lambda r: [r.standard_normal(6), r.standard_normal(6), np.sign(r.standard_normal(6))], [0, 1]),
    ("HingeEmbeddingLoss", {"size_average": False}, lambda r: [r.standard_normal((3, 4)),
                                                              np.sign(r.standard_normal((3, 4)))], [0]),
    ("SoftMarginLoss", {"reduce": False}, lambda r: [r.standard_normal((3, 4)), np.sign(r.standard_normal((3, 4)))],
     [0]),
    ("PoissonNLLLoss", {"full": True}, lambda r: [r.standard_normal((3, 4)), r.poisson(2, (3, 4)).astype(float)], [0]),
    ("GaussianNLLLoss", {"full": True}, lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4)),
                                                   r.random((3, 1)) + 0.1], [0, 2]),
    ("MultiLabelSoftMarginLoss", {}, lambda r: [r.standard_normal((3, 4)), (r.random((3, 4)) > 0.5).astype(float)],
     [0]),
    ("MultiLabelMarginLoss", {}, lambda r: [r.standard_normal((2, 4)), np.array([[3, 0, -1, 1], [1, 2, 3, 0]])], [0]),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5}, lambda r: [r.standard_normal((3, 4)), np.array([0, 3, 1])], [0]),
    ("TripletMarginLoss", {"margin": 0.5, "swap": True}, lambda r: [r.standard_normal((3, 4)) for _ in range(3)],
     [0, 1, 2]),
    ("TripletMarginWithDistanceLoss", {"margin": 2.0}, lambda r: [r.standard_normal((3, 4)) for _ in range(3)],
     [0, 1, 2]),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kwargs,make,grads", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss_modules(name, kwargs, make, grads, dtype):
    tm, dm = pair(name, **kwargs)
    assert dm.reduction == tm.reduction
    run_pair(tm, dm, make(np.random.default_rng(1)), dtype, grads=grads)


def test_weighted_loss_modules_keep_weight_buffer():
    w = np.random.default_rng(0).random(4)
    tm = torch.nn.MultiMarginLoss(weight=torch.tensor(w))
    dm = nn.MultiMarginLoss(weight=dlcore.tensor(w))
    assert list(dm.state_dict()) == list(tm.state_dict()) == ["weight"]
    run_pair(tm, dm, [randn(3, 4), np.array([0, 3, 1])], grads=[0])


def test_ctc_loss_module():
    r = np.random.default_rng(0)
    logits, targets = r.standard_normal((10, 3, 5)), r.integers(1, 5, (3, 4))
    il, tl = np.array([10, 8, 9]), np.array([4, 2, 3])
    tm, dm = pair("CTCLoss", blank=0, reduction="sum", zero_infinity=True)
    tx, dx = torch.tensor(logits, requires_grad=True), dlcore.tensor(logits, requires_grad=True)
    tl_ = tm(tx.log_softmax(2), torch.tensor(targets), torch.tensor(il), torch.tensor(tl))
    dl_ = dm(dx.log_softmax(2), dlcore.tensor(targets), dlcore.tensor(il), dlcore.tensor(tl))
    np.testing.assert_allclose(dl_.item(), tl_.item(), rtol=1e-10)
    tl_.backward()
    dl_.backward()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-11)


def test_loss_module_errors():
    with pytest.raises(ValueError, match="reduction"):
        nn.SoftMarginLoss(reduction="avg")
    with pytest.raises(ValueError, match="MultiMarginLoss: only p == 1 and p == 2"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="TripletMarginLoss: margin must be greater than 0"):
        nn.TripletMarginLoss(margin=0.0)


# ---- containers --------------------------------------------------------------------------------
def test_parameter_list_matches_torch():
    vals = [randn(2, 3), randn(4), randn(1)]
    tl = torch.nn.ParameterList([torch.tensor(v) for v in vals[:2]])
    dl = nn.ParameterList([dlcore.tensor(v) for v in vals[:2]])
    tl.append(torch.nn.Parameter(torch.tensor(vals[2])))
    dl.append(nn.Parameter(dlcore.tensor(vals[2])))
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in dl)
    assert list(dl.state_dict()) == list(tl.state_dict()) == ["0", "1", "2"]
    assert len(dl) == 3 and tuple(dl[-1].shape) == (1,) and len(dl[1:]) == 2
    assert len(list(dl.parameters())) == 3
    assert repr(dl).replace("dlcore", "torch") == repr(tl)
    dl[0] = dlcore.zeros(2, 3)
    assert isinstance(dl[0], nn.Parameter) and not dl[0].detach().numpy().any()
    with pytest.raises(IndexError, match="out of range for ParameterList of length 3"):
        dl[3]


def test_parameter_dict_matches_torch():
    vals = {"b": randn(2), "a": randn(3)}
    td = torch.nn.ParameterDict({k: torch.tensor(v) for k, v in vals.items()})
    dd = nn.ParameterDict({k: dlcore.tensor(v) for k, v in vals.items()})
    assert list(dd.state_dict()) == list(td.state_dict())
    assert list(dd.keys()) == list(td.keys())
    dd.update([("c", dlcore.ones(1))])
    assert "c" in dd and isinstance(dd["c"], nn.Parameter) and len(dd) == 3
    assert tuple(dd.pop("a").shape) == (3,) and "a" not in dd and list(dict(dd.named_parameters())) == ["b", "c"]
    assert dd.get("zzz") is None
    model = nn.Module()
    model.table = dd
    assert sorted(model.state_dict()) == ["table.b", "table.c"]
    with pytest.raises(KeyError):
        dd["a"]


def test_sync_batchnorm_is_batchnorm_on_one_process():
    tm = torch.nn.BatchNorm2d(3)
    dm = nn.SyncBatchNorm(3)
    assert list(dm.state_dict()) == list(torch.nn.SyncBatchNorm(3).state_dict())
    run_pair(tm, dm, [randn(4, 3, 5, 2)], training=True, steps=2)
    run_pair(tm, dm, [randn(4, 3, 5, 2)], training=False)
    with pytest.raises(ValueError, match="at least 2D input"):
        dm(dlcore.randn(3))


def test_convert_sync_batchnorm_shares_state():
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm1d(4)))
    bn = model[1]
    conv = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(conv[1], nn.SyncBatchNorm) and isinstance(conv[2][0], nn.SyncBatchNorm)
    assert conv[1].weight is bn.weight and conv[1].running_mean is bn.running_mean
    tmodel = torch.nn.SyncBatchNorm.convert_sync_batchnorm(
        torch.nn.Sequential(torch.nn.Conv2d(2, 3, 1), torch.nn.BatchNorm2d(3),
                            torch.nn.Sequential(torch.nn.BatchNorm1d(4))))
    assert list(conv.state_dict()) == list(tmodel.state_dict())


def test_data_parallel_wraps_module():
    tm = torch.nn.DataParallel(torch.nn.Linear(3, 2))
    dm = nn.DataParallel(nn.Linear(3, 2))
    run_pair(tm, dm, [randn(5, 3)])
    assert list(dm.state_dict()) == ["module.weight", "module.bias"]
    with pytest.raises(TypeError, match="DataParallel: module must be a Module"):
        nn.DataParallel(lambda x: x)


# ---- lazy modules ------------------------------------------------------------------------------
LAZY = [
    ("LazyLinear", (4,), {}, (2, 3), "Linear"),
    ("LazyLinear", (4,), {"bias": False}, (2, 5, 3), "Linear"),
    ("LazyConv1d", (4, 3), {"padding": 1}, (2, 3, 7), "Conv1d"),
    ("LazyConv2d", (4, 3), {"groups": 2}, (2, 6, 5, 5), "Conv2d"),
    ("LazyConv3d", (2, 2), {}, (3, 4, 4, 4), "Conv3d"),
    ("LazyConvTranspose1d", (4, 3), {"stride": 2}, (2, 3, 5), "ConvTranspose1d"),
    ("LazyConvTranspose2d", (2, 3), {}, (2, 3, 4, 4), "ConvTranspose2d"),
    ("LazyConvTranspose3d", (2, 2), {}, (1, 3, 3, 3, 3), "ConvTranspose3d"),
    ("LazyBatchNorm1d", (), {}, (4, 3), "BatchNorm1d"),
    ("LazyBatchNorm2d", (), {"affine": False}, (4, 3, 2, 2), "BatchNorm2d"),
    ("LazyBatchNorm3d", (), {"track_running_stats": False}, (2, 3, 2, 2, 2), "BatchNorm3d"),
    ("LazyInstanceNorm1d", (), {}, (2, 3, 5), "InstanceNorm1d"),
    ("LazyInstanceNorm2d", (), {"affine": False, "track_running_stats": False}, (2, 3, 4, 4), "InstanceNorm2d"),
    ("LazyInstanceNorm3d", (), {"track_running_stats": False}, (2, 3, 2, 3, 2), "InstanceNorm3d"),
]


@pytest.mark.parametrize("name,args,kwargs,shape,becomes", LAZY, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAZY)])
def test_lazy_modules_materialise_like_torch(name, args, kwargs, shape, becomes):
    tm, dm = pair(name, *args, **kwargs)
    assert dm.has_uninitialized_params() == tm.has_uninitialized_params()
    assert list(dm.state_dict()) == list(tm.state_dict())
    x = randn(*shape)
    tm(torch.tensor(x, dtype=torch.float32))
    dm(dlcore.tensor(x, dtype=dlcore.float32))
    assert type(dm) is getattr(nn, becomes) and type(tm) is getattr(torch.nn, becomes)
    assert not isinstance(dm, nn.modules.lazy.LazyModuleMixin)
    for p in dm.parameters():
        assert type(p) is nn.Parameter
    assert repr(dm) == repr(tm)
    run_pair(tm, dm, [x])


def test_lazy_module_state_before_forward():
    m = nn.LazyLinear(3)
    assert isinstance(m.weight, nn.UninitializedParameter) and repr(m.weight) == "<UninitializedParameter>"
    with pytest.raises(RuntimeError, match="uninitialized"):
        m.weight.shape
    m(dlcore.randn(2, 5))
    assert tuple(m.weight.shape) == (3, 5) and m.weight.requires_grad
    assert np.abs(m.weight.detach().numpy()).max() <= 1 / np.sqrt(5) and m.weight.detach().numpy().std() > 0
    lazy = nn.LazyLinear(3)
    with pytest.raises(RuntimeError, match="uninitialized"):  # torch would materialise; dlcore asks for a forward
        lazy.load_state_dict(nn.Linear(5, 3).state_dict())
    buf = nn.UninitializedBuffer()
    buf.materialize((2, 3))
    assert tuple(buf.shape) == (2, 3)
    with pytest.raises(RuntimeError, match=r"expected a 3-D \(unbatched\) or 4-D \(batched\) input"):
        nn.LazyConv2d(3, 1)(dlcore.randn(2, 3))


@pytest.mark.parametrize("n", [2, 3])
def test_fractional_max_pool_modules(n):
    r = np.random.default_rng(0)
    u = r.random((2, 3, n))
    kwargs = dict(output_size=(3,) * n, _random_samples=torch.tensor(u))
    tm = getattr(torch.nn, f"FractionalMaxPool{n}d")(2, **kwargs)
    dm = getattr(nn, f"FractionalMaxPool{n}d")(2, output_size=(3,) * n, _random_samples=dlcore.tensor(u))
    assert list(dm.state_dict()) == list(tm.state_dict()) == ["_random_samples"]
    run_pair(tm, dm, [randn(2, 3, *(7,) * n)])
    free = getattr(nn, f"FractionalMaxPool{n}d")(2, output_ratio=0.5, return_indices=True)
    out, idx = free(dlcore.randn(2, 3, *(8,) * n))
    assert tuple(out.shape) == (2, 3) + (4,) * n and tuple(idx.shape) == tuple(out.shape)
    with pytest.raises(ValueError, match="requires specifying either an output size, or a pooling ratio"):
        getattr(nn, f"FractionalMaxPool{n}d")(2)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
        getattr(nn, f"FractionalMaxPool{n}d")(2, output_ratio=1.5)


@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax_matches_torch(head_bias):
    tm, dm = pair("AdaptiveLogSoftmaxWithLoss", 8, 20, [4, 10], div_value=2.0, head_bias=head_bias)
    tm.double()
    dm.double()
    randomise(tm)
    load_torch_state(tm, dm)
    x, t = randn(6, 8), np.array([0, 5, 12, 19, 3, 9])
    tx, dx = torch.tensor(x, requires_grad=True), dlcore.tensor(x, requires_grad=True)
    tout, dout = tm(tx, torch.tensor(t)), dm(dx, dlcore.tensor(t))
    np.testing.assert_allclose(dout.output.detach().numpy(), tout.output.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(dout.loss.item(), tout.loss.item(), rtol=1e-10)
    tout.loss.backward()
    dout.loss.backward()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    tparams = dict(tm.named_parameters())
    for k, p in dm.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[k].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(dm.log_prob(dx).detach().numpy(), tm.log_prob(tx).detach().numpy(), rtol=1e-10)
    np.testing.assert_array_equal(dm.predict(dx).numpy(), tm.predict(tx).numpy())
    one = dm(dx[2], dlcore.tensor(np.array(12)))
    np.testing.assert_allclose(one.output.item(), tout.output[2].item(), rtol=1e-10)
    assert repr(dm) == repr(tm)
    with pytest.raises(IndexError, match=r"target values should be in \[0, 19\]"):
        dm(dx, dlcore.tensor(np.array([0, 1, 2, 3, 4, 20])))
    with pytest.raises(ValueError, match="cutoffs should be a sequence of unique, positive integers"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 20, [10, 4])
