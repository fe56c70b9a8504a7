"""Mixed precision and pinned memory on a GPU: output dtypes under autocast (bfloat16 and
float16) through functions, Tensor methods/operators and nn modules; gradients reaching float32
parameters as float32; an MLP trained under autocast (and GradScaler for float16) staying close
to float32 training; GradScaler's kernels against the CPU ones; pinned host memory and
non_blocking copies (including reuse of pinned blocks while copies are in flight).

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerances: a product of K terms with inputs rounded to bfloat16 (8-bit mantissa, unit
roundoff 2^-9 = 2e-3) or float16 (11 bits, 4.9e-4) and float32 accumulation differs from the
float32 result by about sqrt(K) * u relative to the magnitude of the terms: rtol/atol 3e-2
for bfloat16 and 5e-3 for float16 on unit-scale data. Training losses after 20 SGD steps
agree with float32 training to 5e-2 (bfloat16) / 1e-2 (float16) relative. Unscaling by a power
of two is exact.
"""
import math

import numpy as np
import pytest

import dlcore
import dlcore.nn.functional as F

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"
LOWER = [dlcore.bfloat16, dlcore.float16]
TOL = {dlcore.bfloat16: 3e-2, dlcore.float16: 5e-3}


def has_kernel(slot, device="CUDA"):
    return any(name == slot and device in devs for name, devs in dlcore._C._kernel_coverage())


def t(rng, *shape, dtype=dlcore.float32, device=DEVICE, requires_grad=False):
    return dlcore.tensor(rng.standard_normal(shape), dtype=dtype, device=device, requires_grad=requires_grad)


# ---- output dtypes --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", LOWER, ids=str)
def test_lower_precision_ops(dtype, rng):
    a, b, bias = t(rng, 8, 16), t(rng, 16, 4), t(rng, 4)
    a3, b3 = t(rng, 2, 8, 16), t(rng, 2, 16, 4)
    lin = dlcore.nn.Linear(16, 4).to(DEVICE)
    with dlcore.autocast(DEVICE, dtype=dtype):
        outs = {"matmul": dlcore.matmul(a, b), "@": a @ b, "Tensor.matmul": a.matmul(b), "mm": dlcore.mm(a, b),
                "bmm": dlcore.bmm(a3, b3), "matmul 3-d": a3 @ b, "addmm": dlcore.addmm(bias, a, b),
                "F.linear": F.linear(a, b.t(), bias), "nn.Linear": lin(a), "linear 3-d": lin(a3)}
    for name, out in outs.items():
        assert out.dtype == dtype, name
    ref = (a.cpu().numpy() @ b.cpu().numpy())
    np.testing.assert_allclose(outs["@"].float().cpu().numpy(), ref, rtol=TOL[dtype], atol=TOL[dtype] * 4)
    assert lin.weight.dtype == dlcore.float32  # parameters are not converted, only their uses


@pytest.mark.skipif(not has_kernel("conv_forward_kernel"), reason="no CUDA convolution kernel in this build")
@pytest.mark.parametrize("dtype", LOWER, ids=str)
def test_lower_precision_conv(dtype, rng):
    conv = dlcore.nn.Conv2d(3, 4, 3, padding=1).to(DEVICE)
    with dlcore.autocast(DEVICE, dtype=dtype):
        assert conv(t(rng, 2, 3, 8, 8)).dtype == dtype


@pytest.mark.skipif(not has_kernel("attention_forward_kernel"), reason="no CUDA attention kernel in this build")
@pytest.mark.parametrize("dtype", LOWER, ids=str)
def test_lower_precision_attention(dtype, rng):
    q, k, v = t(rng, 2, 3, 8, 16), t(rng, 2, 3, 8, 16), t(rng, 2, 3, 8, 16)
    with dlcore.autocast(DEVICE, dtype=dtype):
        assert F.scaled_dot_product_attention(q, k, v, is_causal=True).dtype == dtype


@pytest.mark.parametrize("dtype", LOWER, ids=str)
def test_float32_ops(dtype, rng):
    x = t(rng, 6, 8).to(dtype)  # a lower-precision activation, as a linear layer would give
    w = t(rng, 8)
    target = dlcore.tensor([0, 1, 2, 3, 4, 5], device=DEVICE)
    with dlcore.autocast(DEVICE, dtype=dtype):
        outs = {"softmax": F.softmax(x, -1), "log_softmax": x.log_softmax(-1),
                "layer_norm": F.layer_norm(x, (8,), w, w), "cross_entropy": F.cross_entropy(x, target),
                "nll_loss": F.nll_loss(x, target), "mse_loss": F.mse_loss(x, x * 0.5),
                "l1_loss": F.l1_loss(x, x * 0.5), "bce_with_logits": F.binary_cross_entropy_with_logits(x, x.sigmoid()),
                "sum": x.sum(), "sum dim": dlcore.sum(x, 1), "exp": x.exp(), "log": dlcore.log(x.abs() + 1),
                "pow": x ** 2, "norm": dlcore.norm(x), "logsumexp": dlcore.logsumexp(x, [1]),
                "nn.LayerNorm": dlcore.nn.LayerNorm(8).to(DEVICE)(x)}
        if has_kernel("group_norm_kernel"):
            outs["group_norm"] = F.group_norm(x.reshape(6, 4, 2), 2)
        promoted = x + w           # other ops: the widest input type
        kept = dlcore.relu(x)      # ... or the input's own
        mean = x.mean()
    for name, out in outs.items():
        assert out.dtype == dlcore.float32, name
    assert promoted.dtype == dlcore.float32 and kept.dtype == dtype and mean.dtype == dtype
    np.testing.assert_allclose(outs["softmax"].cpu().numpy(), F.softmax(x.float(), -1).cpu().numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", LOWER, ids=str)
def test_batch_norm_keeps_the_input_dtype(dtype, rng):
    bn = dlcore.nn.BatchNorm1d(8).to(DEVICE)
    x = t(rng, 16, 8).to(dtype)
    with dlcore.autocast(DEVICE, dtype=dtype):
        y = bn(x)
    assert y.dtype == dtype and bn.running_mean.dtype == dlcore.float32
    ref = F.batch_norm(x.float(), None, None, training=True)
    np.testing.assert_allclose(y.detach().float().cpu().numpy(), ref.cpu().numpy(), rtol=TOL[dtype],
                               atol=TOL[dtype])


def test_uneligible_tensors_are_not_cast(rng):
    d64 = t(rng, 4, 4, dtype=dlcore.float64)
    c = t(rng, 4, 4, device="cpu")
    with dlcore.autocast(DEVICE, dtype=dlcore.bfloat16):
        assert (d64 @ d64).dtype == dlcore.float64
        assert (c @ c).dtype == dlcore.float32 and F.softmax(c, -1).dtype == dlcore.float32
    with dlcore.autocast(DEVICE, dtype=dlcore.bfloat16, enabled=False):
        assert (t(rng, 4, 4) @ t(rng, 4, 4)).dtype == dlcore.float32


# ---- gradients ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", LOWER, ids=str)
@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_gradients_reach_float32_parameters(dtype, cache, rng):
    lin = dlcore.nn.Linear(16, 8).to(DEVICE)
    x = t(rng, 5, 16, requires_grad=True)
    with dlcore.autocast(DEVICE, dtype=dtype, cache_enabled=cache):
        h = lin(x)
        y = lin(dlcore.relu(h) @ lin.weight)   # the weight used three times in one region
        loss = F.mse_loss(y, dlcore.zeros_like(y))
    assert h.dtype == dtype and loss.dtype == dlcore.float32
    loss.backward()
    assert lin.weight.grad.dtype == dlcore.float32 and lin.bias.grad.dtype == dlcore.float32
    assert x.grad.dtype == dlcore.float32
    got = [lin.weight.grad.cpu().numpy(), lin.bias.grad.cpu().numpy(), x.grad.cpu().numpy()]
    for p in (lin.weight, lin.bias, x):
        p.grad = None
    y = lin(dlcore.relu(lin(x)) @ lin.weight)
    F.mse_loss(y, dlcore.zeros_like(y)).backward()
    for g, p in zip(got, (lin.weight, lin.bias, x)):
        want = p.grad.cpu().numpy()
        np.testing.assert_allclose(g, want, rtol=4 * TOL[dtype], atol=4 * TOL[dtype] * np.abs(want).max())


def test_training_loop_inside_one_region(rng):
    # The cached weight copies are dropped at each backward, so a second iteration in the same
    # region records a fresh graph.
    lin = dlcore.nn.Linear(8, 4).to(DEVICE)
    opt = dlcore.optim.SGD(lin.parameters(), lr=0.1)
    x = t(rng, 16, 8)
    losses = []
    with dlcore.autocast(DEVICE, dtype=dlcore.bfloat16):
        for _ in range(3):
            opt.zero_grad()
            loss = lin(x).float().pow(2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert losses[2] < losses[0]


# ---- an MLP trained under autocast --------------------------------------------------------------
def train_mlp(mode, steps=20):
    rng = np.random.default_rng(5)
    dlcore.manual_seed(0)
    model = dlcore.nn.Sequential(dlcore.nn.Linear(32, 64), dlcore.nn.ReLU(), dlcore.nn.Linear(64, 10)).to(DEVICE)
    opt = dlcore.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    x = dlcore.tensor(rng.standard_normal((64, 32)), dtype=dlcore.float32, device=DEVICE)
    y = dlcore.tensor(rng.integers(0, 10, 64), device=DEVICE)
    scaler = dlcore.amp.GradScaler(DEVICE, init_scale=1024.0, enabled=mode == "float16")
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        with dlcore.autocast(DEVICE, dtype=dlcore.bfloat16 if mode == "bfloat16" else dlcore.float16,
                             enabled=mode != "float32"):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        assert loss.dtype == dlcore.float32
        scaler.scale(loss).backward()
        assert all(p.grad.dtype == dlcore.float32 for p in model.parameters())
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    return np.array(losses), scaler, [p.detach().cpu().numpy() for p in model.parameters()]


@pytest.mark.parametrize("mode,rtol", [("bfloat16", 5e-2), ("float16", 1e-2)])
def test_mlp_training_close_to_float32(mode, rtol):
    ref, _, ref_params = train_mlp("float32")
    got, scaler, params = train_mlp(mode)
    assert ref[-1] < 0.7 * ref[0] and got[-1] < 0.7 * got[0]
    np.testing.assert_allclose(got, ref, rtol=rtol)
    for p, r in zip(params, ref_params):
        np.testing.assert_allclose(p, r, atol=rtol * np.abs(r).max())
    if mode == "float16":
        assert scaler.get_scale() == 1024.0  # no step was skipped


# ---- GradScaler kernels -------------------------------------------------------------------------
def test_grad_scaler_on_cuda_follows_the_cpu_schedule():
    grads = [[1.0, 2.0], [math.inf, 0.0], [1.0, 1.0], [1.0, 1.0], [math.nan, 1.0], [2.0, 2.0], [3.0, 1.0]]
    scales = {}
    for dev in ("cpu", DEVICE):
        p = dlcore.tensor([1.0, -1.0], device=dev, requires_grad=True)
        opt = dlcore.optim.SGD([p], lr=0.5)
        scaler = dlcore.amp.GradScaler(dev, init_scale=8.0, growth_interval=2)
        seq = []
        for g in grads:
            opt.zero_grad()
            scaler.scale((p * dlcore.tensor(g, device=dev)).sum()).backward()
            scaler.step(opt)
            scaler.update()
            seq.append((scaler.get_scale(), scaler._get_growth_tracker(), p.detach().cpu().numpy().tolist()))
        scales[dev] = seq
    assert scales["cpu"] == scales[DEVICE]


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64, dlcore.float16, dlcore.bfloat16], ids=str)
def test_unscale_kernel_many_and_large_tensors(dtype, rng):
    # 70 tensors (two launches of at most 64) and one larger than 1024 blocks x 1024 elements.
    sizes = [int(s) for s in rng.integers(1, 3000, 69)] + [1024 * 1024 * 2 + 77]
    host = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    for bad_at in (None, (69, sizes[69] - 1), (66, 0), (3, sizes[3] // 2)):
        vals = [h.copy() for h in host]
        if bad_at:
            vals[bad_at[0]][bad_at[1]] = np.inf if bad_at[0] % 2 else np.nan
        grads = [dlcore.tensor(v, device=DEVICE).to(dtype) for v in vals]
        # exact except where float16 results are subnormal: round the float product to dtype
        want = [(g.cpu().float() * 0.125).to(dtype).float().numpy() for g in grads]
        found = dlcore.zeros((), device=DEVICE)
        dlcore._C._amp_foreach_non_finite_check_and_unscale_(grads, found, dlcore.full((), 0.125, device=DEVICE))
        assert found.item() == (0.0 if bad_at is None else 1.0), bad_at
        for g, w in zip(grads, want):
            np.testing.assert_array_equal(g.cpu().float().numpy(), w)


def test_update_scale_kernel_matches_cpu():
    for dev_found in ([0, 0, 0, 1, 0, 0, 0, 0],):
        res = {}
        for dev in ("cpu", DEVICE):
            scale, tracker = dlcore.full((), 2.0**15, device=dev), dlcore.zeros((), dtype=dlcore.int32, device=dev)
            seq = []
            for f in dev_found:
                dlcore._C._amp_update_scale_(scale, tracker, dlcore.full((), float(f), device=dev), 2.0, 0.5, 3)
                seq.append((scale.item(), int(tracker.item())))
            res[dev] = seq
        assert res["cpu"] == res[DEVICE]


# ---- pinned memory -----------------------------------------------------------------------------
def test_pin_memory_and_non_blocking_copy(rng):
    x = dlcore.tensor(rng.standard_normal((33, 65)), dtype=dlcore.float32)
    p = x.pin_memory()
    assert p.is_pinned() and not x.is_pinned() and p.pin_memory() is p
    np.testing.assert_array_equal(p.numpy(), x.numpy())
    for d in (p.to(DEVICE, non_blocking=True), p.cuda(non_blocking=True), p.to(DEVICE, dlcore.float64,
                                                                               non_blocking=True),
              x.to(DEVICE, non_blocking=True), p.t().to(DEVICE, non_blocking=True).t()):
        assert d.is_cuda
        np.testing.assert_array_equal(d.cpu().numpy(), x.numpy())
    nc = x.t().pin_memory()  # a non-contiguous source gives a contiguous pinned copy
    assert nc.is_pinned() and nc.is_contiguous()
    np.testing.assert_array_equal(nc.numpy(), x.numpy().T)
    e = dlcore.zeros(0).pin_memory()
    assert e.is_pinned() and e.to(DEVICE, non_blocking=True).shape == (0,)
    with pytest.raises(RuntimeError, match="only CPU tensors can be pinned"):
        x.to(DEVICE).pin_memory()


def test_non_blocking_copy_is_differentiable(rng):
    x = dlcore.tensor(rng.standard_normal(10), dtype=dlcore.float32, requires_grad=True)
    d = x.pin_memory().to(DEVICE, non_blocking=True)
    (d * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(10, 3.0, np.float32))


def test_pinned_blocks_are_not_reused_while_a_copy_reads_them():
    # Queue enough GPU work that the copies wait, free every pinned source at once and pin new
    # values: a block handed out again before its copy ran would show up as a wrong value.
    a = dlcore.randn(4096, 4096, device=DEVICE) * 0.02
    for _ in range(10):
        a = dlcore.tanh(a @ a)
    outs = []
    for i in range(24):
        src = dlcore.full((1 << 20,), float(i)).pin_memory()
        outs.append(src.to(DEVICE, non_blocking=True))
        del src
    for i, o in enumerate(outs):
        v = o.cpu().numpy()
        assert v.min() == v.max() == float(i), i


def test_dataloader_pins_batches(rng):
    xs = dlcore.tensor(rng.standard_normal((10, 3)), dtype=dlcore.float32)
    ds = dlcore.data.TensorDataset(xs, dlcore.arange(10))
    for prefetch in (0, 2):
        batches = list(dlcore.data.DataLoader(ds, batch_size=4, pin_memory=True, prefetch=prefetch))
        assert all(b.is_pinned() for batch in batches for b in batch)
        got = np.concatenate([batch[0].to(DEVICE, non_blocking=True).cpu().numpy() for batch in batches])
        np.testing.assert_array_equal(got, xs.numpy())
    pairs = [(xs[i].numpy(), {"i": i}) for i in range(4)]
    (xb, meta), = list(dlcore.data.DataLoader(pairs, batch_size=4, pin_memory=True))
    assert xb.is_pinned() and meta["i"].is_pinned()
