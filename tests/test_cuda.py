"""CUDA device: kernels against the CPU reference, host<->device copies, the caching allocator.

The tests marked ``cuda`` need a GPU and run through bench/gpu/check.sh; elsewhere they are
skipped. The CPU reference is dlcore's own CPU kernels (themselves checked against numpy in the
op table), so these tests compare two devices of the same framework.

Tolerances: float32 results agree to a few ulp (different exp/log/pow implementations, and
float32 sums accumulate in float on the GPU but in double on the CPU): rtol 2e-6 for
arithmetic, 1e-5 for transcendental functions and sums. float64: 1e-12. float16/bfloat16 are
computed in float and rounded once on both sides, so they agree exactly except where the
float results already differ by an ulp (one 16-bit ulp of slack).
"""
import numpy as np
import pytest

import dlcore

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")

F32, F64, I32, I64, BOOL = dlcore.float32, dlcore.float64, dlcore.int32, dlcore.int64, dlcore.bool
F16, BF16 = dlcore.float16, dlcore.bfloat16
NP_OF = {F32: np.float32, F64: np.float64, I32: np.int32, I64: np.int64, BOOL: np.bool_}


def host(t):
    """A numpy copy of any tensor (16-bit floats widened to float32)."""
    t = t.detach()
    if t.is_cuda:
        t = t.cpu()
    if t.dtype in (F16, BF16):
        t = t.float()
    return np.array(t.numpy(), copy=True)


def sample(shape, dtype, rng, low=-3.0, high=3.0):
    """A CPU tensor of `dtype` with values in [low, high) (integers: rounded; bool: random)."""
    if dtype == BOOL:
        return dlcore.tensor(rng.random(shape) < 0.5)
    a = rng.uniform(low, high, size=shape)
    if dtype in (I32, I64):
        return dlcore.tensor(np.round(a).astype(NP_OF[dtype]))
    t = dlcore.tensor(a.astype(np.float32 if dtype in (F32, F16, BF16) else np.float64))
    return t.to(dtype)


def check_same(got, want, rtol, atol=0.0):
    """got (any device) matches want (CPU) in dtype, shape and values."""
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert tuple(got.shape) == tuple(want.shape)
    g, w = host(got), host(want)
    if (rtol == 0 and atol == 0) or w.dtype.kind in "biu":  # bool and integer results are exact
        np.testing.assert_array_equal(g, w)
    else:
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)


def tol(dtype, transcendental=False):
    if dtype == F64:
        return dict(rtol=1e-12, atol=1e-14)
    if dtype == F32:
        return dict(rtol=1e-5, atol=1e-6) if transcendental else dict(rtol=2e-6, atol=1e-7)
    if dtype == F16:
        return dict(rtol=1e-3, atol=1e-4)
    if dtype == BF16:
        return dict(rtol=8e-3, atol=1e-3)
    return dict(rtol=0, atol=0)


# ---- without a GPU ----------------------------------------------------------------------------
def test_no_device_reports_cleanly():
    """Runs everywhere; on a machine without a GPU checks the 'no device' behaviour."""
    if dlcore.cuda.is_available():
        assert dlcore.cuda.device_count() >= 1
        return
    assert dlcore.cuda.is_available() is False
    assert dlcore.cuda.device_count() == 0
    assert dlcore.cuda.memory_allocated() == 0 and dlcore.cuda.memory_reserved() == 0
    dlcore.cuda.empty_cache()  # no-op, not an error
    x = dlcore.ones(2, 3)
    for move in (lambda: x.cuda(), lambda: x.to("cuda"), lambda: dlcore.zeros(3, device="cuda")):
        with pytest.raises(RuntimeError, match="CUDA"):
            move()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        dlcore.cuda.synchronize()
    assert x.sum().item() == 6.0  # the CPU is unaffected


# ---- copies between and on devices ------------------------------------------------------------
ALL_DTYPES = [F32, F64, I32, I64, BOOL, F16, BF16]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (1,), (7,), (33, 5), (3, 4, 7)], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_round_trip(dtype, shape, rng):
    x = sample(shape, dtype, rng)
    d = x.cuda()
    assert d.is_cuda and str(d.device) == "cuda:0" and d.dtype == dtype
    check_same(d.cpu(), x, 0)
    check_same(x.to("cuda:0").to("cpu"), x, 0)


@pytest.mark.cuda
@requires_cuda
def test_round_trip_non_contiguous(rng):
    x = sample((6, 5, 4), F32, rng)
    xt = x.permute(2, 0, 1)[:, 1:5:2]  # a strided CPU view
    check_same(xt.cuda().cpu(), xt.contiguous(), 0)
    d = x.cuda()
    dv = d.permute(2, 0, 1)[:, 1:5:2]   # a strided device view
    check_same(dv.cpu(), xt.contiguous(), 0)
    check_same(dv.contiguous().cpu(), xt.contiguous(), 0)
    # host -> strided device destination (staged copy), and a broadcast source on the device
    dst = dlcore.zeros(4, 6, device="cuda").t()
    src = sample((6, 4), F32, rng)
    dst.copy_(src)
    check_same(dst.cpu(), src, 0)
    row = sample((4,), F32, rng).cuda()
    dst.copy_(row)
    check_same(dst.cpu(), row.cpu().expand(6, 4).contiguous(), 0)


@pytest.mark.parametrize("src", ALL_DTYPES, ids=str)
@pytest.mark.cuda
@requires_cuda
def test_dtype_conversions_match_cpu(src, rng):
    x = sample((5, 33), src, rng)
    xd = x.cuda()
    for dst in ALL_DTYPES:
        check_same(xd.to(dst), x.to(dst), 0)
        check_same(xd.t().to(dst), x.t().to(dst), 0)  # strided cast


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.cuda
@requires_cuda
def test_fill(dtype):
    for value in (0, 1, -2.5, 3):
        if dtype == BOOL and value not in (0, 1):
            continue
        if dtype in (I32, I64) and value != int(value):
            continue
        check_same(dlcore.full((7, 33), value, dtype=dtype, device="cuda"), dlcore.full((7, 33), value, dtype=dtype), 0)
    d = dlcore.zeros(6, 8, dtype=dtype, device="cuda")
    d[:, ::3].fill_(1)  # strided fill
    c = dlcore.zeros(6, 8, dtype=dtype)
    c[:, ::3].fill_(1)
    check_same(d, c, 0)


# ---- elementwise ------------------------------------------------------------------------------
ARITH = ["add", "sub", "mul", "div", "pow", "minimum", "maximum"]
COMPARE = ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"]


def binary_inputs(dtype, rng, op):
    shape_a, shape_b = (7, 1, 33), (5, 33)  # broadcast
    a = sample(shape_a, dtype, rng)
    b = sample(shape_b, dtype, rng)
    if op == "pow":
        a = sample(shape_a, dtype, rng, 0.5, 3.0) if dtype not in (I32, I64) else sample(shape_a, dtype, rng, -3, 4)
        b = sample(shape_b, dtype, rng, -2.0, 3.0) if dtype not in (I32, I64) else sample(shape_b, dtype, rng, 0, 5)
    if op == "div":
        b = dlcore.where(b.abs() < 0.25, dlcore.ones_like(b), b)
    return a, b


@pytest.mark.parametrize("op", ARITH + COMPARE)
@pytest.mark.parametrize("dtype", [F32, F64, I32, I64, BOOL], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_binary_matches_cpu(op, dtype, rng):
    if dtype == BOOL and op in ("sub", "div", "pow"):
        pytest.skip("not a bool op")
    fn = getattr(dlcore, op)
    a, b = binary_inputs(dtype, rng, op)
    t = tol(dtype, transcendental=op == "pow")
    check_same(fn(a.cuda(), b.cuda()), fn(a, b), **t)
    # strided: (33, 1, 7) with (33, 5, 1), both non-contiguous
    check_same(fn(a.cuda().transpose(0, 2), b.cuda().t().unsqueeze(2)), fn(a.transpose(0, 2), b.t().unsqueeze(2)), **t)
    if dtype != BOOL and op not in ("pow",):
        check_same(fn(a.cuda(), 2), fn(a, 2), **t)  # scalar operand (broadcast stride 0)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "lt", "eq"])
@pytest.mark.parametrize("dtype", [F16, BF16], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_binary_16bit_computes_in_float(op, dtype, rng):
    a, b = binary_inputs(dtype, rng, op)
    got = getattr(dlcore, op)(a.cuda(), b.cuda())
    want = getattr(dlcore, op)(a.float(), b.float())  # the CPU computes 16-bit values in float32
    if want.dtype == F32:
        want = want.to(dtype)
    check_same(got, want, **tol(dtype))


UNARY = [
    ("neg", {}), ("abs", {}), ("sign", {}), ("exp", {}), ("log", {}), ("log1p", {}), ("sqrt", {}),
    ("rsqrt", {}), ("sin", {}), ("cos", {}), ("sigmoid", {}), ("tanh", {}), ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.1}), ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}), ("elu", {"alpha": 0.7}), ("clamp", {"min": -1.0, "max": 0.5}),
]
POSITIVE = {"log", "sqrt", "rsqrt"}


@pytest.mark.parametrize("op,kw", UNARY, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_unary_matches_cpu(op, kw, dtype, rng):
    low = 0.05 if op in POSITIVE else (-0.9 if op == "log1p" else -4.0)
    x = sample((9, 33), dtype, rng, low, 4.0)
    fn = getattr(dlcore, op)
    t = tol(dtype, transcendental=True)
    check_same(fn(x.cuda(), **kw), fn(x, **kw), **t)
    check_same(fn(x.cuda().t(), **kw), fn(x.t(), **kw), **t)  # strided


@pytest.mark.parametrize("op,kw", [("neg", {}), ("abs", {}), ("sign", {}), ("relu", {}),
                                   ("clamp", {"min": -1, "max": 2}), ("logical_not", {})])
@pytest.mark.parametrize("dtype", [I32, I64], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_unary_integers_match_cpu(op, kw, dtype, rng):
    x = sample((7, 9), dtype, rng)
    check_same(getattr(dlcore, op)(x.cuda(), **kw), getattr(dlcore, op)(x, **kw), 0)


@pytest.mark.parametrize("op", ["exp", "sigmoid", "gelu", "silu", "relu", "tanh"])
@pytest.mark.parametrize("dtype", [F16, BF16], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_unary_16bit_computes_in_float(op, dtype, rng):
    x = sample((5, 33), dtype, rng)
    check_same(getattr(dlcore, op)(x.cuda()), getattr(dlcore, op)(x.float()).to(dtype), **tol(dtype))


@pytest.mark.parametrize("op,kw", [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}),
                                   ("softplus", {"beta": 1.5, "threshold": 3.0}), ("elu", {"alpha": 0.5})],
                         ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_fused_activation_backward_matches_cpu(op, kw, dtype, rng):
    x = sample((6, 7), dtype, rng)
    g = sample((6, 7), dtype, rng)
    grads = []
    for dev in ("cpu", "cuda"):
        xi = x.to(dev).detach().requires_grad_(True)
        getattr(dlcore, op)(xi, **kw).backward(g.to(dev))
        grads.append(xi.grad)
    check_same(grads[1], grads[0], **tol(dtype, transcendental=True))


@pytest.mark.parametrize("dtype", [F32, F64, I64, BOOL, F16], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_where_matches_cpu(dtype, rng):
    c = sample((7, 1, 9), BOOL, rng)
    a, b = sample((5, 9), dtype, rng), sample((7, 5, 1), dtype, rng)
    want = dlcore.where(c, a.float(), b.float()).to(dtype) if dtype == F16 else dlcore.where(c, a, b)  # no CPU half
    check_same(dlcore.where(c.cuda(), a.cuda(), b.cuda()), want, 0)


@pytest.mark.cuda
@requires_cuda
def test_autograd_on_device(rng):
    x = sample((4, 5), F32, rng).cuda().requires_grad_(True)
    y = (x * x + x.exp()).sum()
    y.backward()
    assert x.grad.is_cuda
    xv = host(x)
    np.testing.assert_allclose(host(x.grad), 2 * xv + np.exp(xv), rtol=1e-5)


# ---- reductions -------------------------------------------------------------------------------
# (shape, dim): rows (inner == 1), columns, long rows split into chunks, long columns, all.
REDUCE_CASES = [((7, 33), 1), ((7, 33), 0), ((1,), 0), ((3, 4, 5), (0, 2)), ((2, 300001), 1),
                ((200003, 3), 0), ((5, 7000, 3), 1), ((1000, 1000), None)]


@pytest.mark.parametrize("shape,dim", REDUCE_CASES, ids=str)
@pytest.mark.parametrize("dtype", [F32, F64, I32, BOOL], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_sum_matches_cpu(shape, dim, dtype, rng):
    x = sample(shape, dtype, rng)
    t = tol(dtype, transcendental=True)
    if dtype == F32:
        # float accumulation on the GPU vs double on the CPU: the error scales with sum(|x|),
        # not with the (possibly cancelling) sum itself.
        t["atol"] = 1e-7 * float(np.max(np.sum(np.abs(host(x)).astype(np.float64), axis=dim)))
    check_same(dlcore.sum(x.cuda(), dim), dlcore.sum(x, dim), **t)


@pytest.mark.parametrize("op", ["mean", "amax", "amin", "prod", "all", "any"])
@pytest.mark.parametrize("shape,dim", REDUCE_CASES[:6], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_other_reductions_match_cpu(op, shape, dim, rng):
    dtype = BOOL if op in ("all", "any") else F64
    low, high = (0.9, 1.1) if op == "prod" else (-3.0, 3.0)
    x = sample(shape, dtype, rng, low, high)
    fn = getattr(dlcore, op)
    args = () if dim is None else (dim,)
    if op in ("prod", "all", "any") and isinstance(dim, tuple):
        pytest.skip(f"{op} takes one dim")
    check_same(fn(x.cuda(), *args), fn(x, *args), rtol=1e-10, atol=1e-12)


@pytest.mark.cuda
@requires_cuda
def test_sum_16bit_and_empty(rng):
    x = sample((9, 500), F16, rng)
    np.testing.assert_allclose(host(dlcore.sum(x.cuda(), 1)), host(x).sum(1), rtol=2e-3, atol=0.05)
    z = dlcore.zeros(4, 0, device="cuda")
    check_same(dlcore.sum(z, 1), dlcore.zeros(4), 0)


# ---- random -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 7, 33, 100003])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.cuda
@requires_cuda
def test_rand_same_numbers_as_cpu(n, dtype):
    dlcore.manual_seed(1234)
    u_cpu, z_cpu = dlcore.rand(n, dtype=dtype), dlcore.randn(n, dtype=dtype)
    dlcore.manual_seed(1234)
    u_gpu, z_gpu = dlcore.rand(n, dtype=dtype, device="cuda"), dlcore.randn(n, dtype=dtype, device="cuda")
    check_same(u_gpu, u_cpu, 0)  # same Philox words, same exactly-rounded arithmetic
    # Box-Muller's log/sin/cos come from different math libraries: equal to within an ulp.
    check_same(z_gpu, z_cpu, rtol=1e-6 if dtype == F32 else 1e-13, atol=1e-7 if dtype == F32 else 1e-15)


# ---- allocator and errors ---------------------------------------------------------------------
@pytest.mark.cuda
@requires_cuda
def test_allocator_reuses_blocks():
    dlcore.cuda.synchronize()
    dlcore.cuda.empty_cache()
    base = dlcore.cuda.memory_allocated()
    s0 = dlcore.cuda.memory_stats()
    x = dlcore.empty(1 << 20, device="cuda")  # 4 MiB
    assert dlcore.cuda.memory_allocated() >= base + 4 * 2**20
    peak = dlcore.cuda.max_memory_allocated()
    assert peak >= dlcore.cuda.memory_allocated()
    del x
    assert dlcore.cuda.memory_allocated() == base
    assert dlcore.cuda.memory_reserved() >= base + 4 * 2**20  # kept in the cache
    y = dlcore.empty(1 << 20, device="cuda")
    s1 = dlcore.cuda.memory_stats()
    assert s1["num_cache_hits"] == s0["num_cache_hits"] + 1
    assert s1["num_device_mallocs"] == s0["num_device_mallocs"] + 1  # only x's block was new
    del y
    dlcore.cuda.reset_peak_memory_stats()
    assert dlcore.cuda.max_memory_allocated() == dlcore.cuda.memory_allocated()
    dlcore.cuda.empty_cache()
    assert dlcore.cuda.memory_reserved() == dlcore.cuda.memory_allocated()


@pytest.mark.cuda
@requires_cuda
def test_device_queries():
    assert dlcore.cuda.device_count() >= 1
    assert isinstance(dlcore.cuda.get_device_name(), str) and dlcore.cuda.get_device_name(0)
    with pytest.raises(ValueError, match="invalid device cuda:"):
        dlcore.zeros(2, device=f"cuda:{dlcore.cuda.device_count()}")


@pytest.mark.cuda
@requires_cuda
def test_missing_cuda_kernel_names_the_slot():
    """An op whose kernel slot has no CUDA kernel yet raises NotImplementedError naming it."""
    x4 = dlcore.ones(1, 1, 4, 4, device="cuda")
    candidates = [("max_pool_kernel", lambda: dlcore.nn.functional.max_pool2d(x4, 2)),
                  ("upsample_nearest_kernel", lambda: dlcore.nn.functional.interpolate(x4, scale_factor=2)),
                  ("lrn_kernel", lambda: dlcore.nn.functional.local_response_norm(x4, 2))]
    coverage = dict(dlcore._C._kernel_coverage())
    missing = [(slot, fn) for slot, fn in candidates if slot in coverage and "cuda" not in coverage[slot]]
    if not missing:
        pytest.skip("every candidate slot has a CUDA kernel now")
    slot, fn = missing[0]
    with pytest.raises(NotImplementedError, match=f"{slot} has no CUDA kernel \\(available: CPU\\)"):
        fn()


@pytest.mark.cuda
@requires_cuda
def test_mixed_devices_raise():
    a = dlcore.ones(3, device="cuda")
    with pytest.raises(ValueError, match="one device"):
        a + dlcore.ones(3)
    assert (a + dlcore.tensor(2.0)).is_cuda  # a 0-d CPU tensor acts like a number
