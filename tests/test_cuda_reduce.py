"""CUDA reductions and scans (cuda/reduce.cu, cuda/scan.cu) against the CPU kernels: argmax/argmin
and max/min along a dim, var/std (with their backward), logsumexp, vector norms, cumsum (forward
and its reverse scan in the backward), nonzero.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

The shapes reach every kernel version: rows of <= 4096 (one warp per row), longer rows (a block
per row) and rows long enough to be split into chunks, columns (inner > 1) with and without
chunks, several dims at once, non-contiguous inputs (copied or reduced in place), and empty
inputs.

Tolerances: indices, integer results and nonzero coordinates must match exactly (ties go to the
first index on both devices). float32: the GPU accumulates in float (var by Welford/Chan, one
pass; logsumexp online), the CPU in double (var in two passes): rtol 2e-5 with an atol of
1e-6 times the data's scale; cumsum accumulates in double on both, rtol 1e-6. float64: 1e-10.
float16/bfloat16 (CUDA only) are compared with the CPU's float32 result on the same rounded
inputs, rounded to the 16-bit type: rtol 2e-3 / 1.6e-2 (a unit in the last place).
"""
import numpy as np
import pytest

import dlcore
from cuda_util import host, make

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"
gpu_only = pytest.mark.skipif(DEVICE == "cpu", reason="16-bit floats compute on CUDA only")

F32, F64 = dlcore.float32, dlcore.float64
TOL = {F32: dict(rtol=2e-5, atol=1e-5), F64: dict(rtol=1e-10, atol=1e-10)}
HALF_RTOL = {dlcore.float16: 2e-3, dlcore.bfloat16: 1.6e-2}

# (shape, dims): reductions over a dim tuple; None reduces everything.
SHAPES = [
    ((37, 10), (1,)),          # short rows
    ((300, 4100), (1,)),       # a block per row
    ((3, 50000), (1,)),        # rows split into chunks
    ((4, 7, 9), (1,)),         # columns
    ((5000, 3), (0,)),         # columns split into chunks
    ((6, 33, 5), (0, 2)),      # two dims (copied to rows)
    ((2, 3, 4, 5), None),      # everything
    ((1, 1), (1,)),
]
EMPTY = [((2, 0, 3), (1,)), ((0, 4), (1,)), ((0,), None)]


def data(rng, shape, scale=3.0, offset=1.0):
    return rng.standard_normal(shape) * scale + offset


def dim_arg(dims):
    return None if dims is None else (dims[0] if len(dims) == 1 else list(dims))


# ---- argmax / argmin / max / min ---------------------------------------------------------------
ARG_SHAPES = [(s, d) for s, d in SHAPES if d is None or len(d) == 1]


def arg_input(rng, shape, dtype, ties):
    if dtype == dlcore.bool:
        return rng.random(shape) < 0.5
    if ties or dtype in (dlcore.int32, dlcore.int64):
        return rng.integers(-3, 4, size=shape)  # many equal values: the first one must win
    x = data(rng, shape)
    return x.astype(np.float32) if dtype == F32 else x  # numpy's argmax sees the tensor's values


@pytest.mark.parametrize("dtype", [F32, F64, dlcore.int32, dlcore.int64, dlcore.bool], ids=str)
@pytest.mark.parametrize("is_max", [True, False], ids=["argmax", "argmin"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("shape,dims", ARG_SHAPES, ids=str)
def test_argmax_argmin_match_cpu(dtype, is_max, ties, shape, dims, rng):
    x = arg_input(rng, shape, dtype, ties)
    f = dlcore.argmax if is_max else dlcore.argmin
    d = dim_arg(dims)
    for keepdim in (False, True):
        got = host(f(make(x, dtype, DEVICE), dim=d, keepdim=keepdim))
        want = host(f(make(x, dtype, "cpu"), dim=d, keepdim=keepdim))
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    if d is not None:  # numpy's argmax also takes the first extreme
        ref = (np.argmax if is_max else np.argmin)(x, axis=d)
        np.testing.assert_array_equal(host(f(make(x, dtype, DEVICE), dim=d)), ref)


@pytest.mark.parametrize("layout", ["transposed", "strided"])
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_max_min_dim_noncontiguous(layout, dim, rng):
    x = np.round(data(rng, (9, 40, 33)))  # ties
    for f in (dlcore.max, dlcore.min):
        gv, gi = f(make(x, F32, DEVICE, layout), dim, keepdim=True)
        wv, wi = f(make(x, F32, "cpu", layout), dim, keepdim=True)
        np.testing.assert_array_equal(host(gi), host(wi))
        np.testing.assert_array_equal(host(gv), host(wv))


def test_max_dim_backward_matches_cpu(rng):
    x = data(rng, (6, 50))
    grads = []
    for device in (DEVICE, "cpu"):
        t = dlcore.tensor(x, dtype=F64, device=device, requires_grad=True)
        v, _ = dlcore.max(t, 1)
        v.sum().backward()
        grads.append(host(t.grad))
    np.testing.assert_array_equal(*grads)


@pytest.mark.parametrize("is_max", [True, False], ids=["argmax", "argmin"])
@pytest.mark.parametrize("shape,dim", [((20, 37), 1), ((3, 9000), 1), ((40, 6), 0), ((3000, 2), 0)], ids=str)
def test_argmax_nan_is_the_extreme(is_max, shape, dim, rng):
    x = data(rng, shape)
    x[rng.random(shape) < 0.02] = np.nan
    if dim == 1:
        x[0, :] = np.nan  # a row of NaNs: index 0
    f = dlcore.argmax if is_max else dlcore.argmin
    got = host(f(make(x, F32, DEVICE), dim=dim))
    np.testing.assert_array_equal(got, host(f(make(x, F32, "cpu"), dim=dim)))
    np.testing.assert_array_equal(got, (np.argmax if is_max else np.argmin)(x, axis=dim))  # first NaN
    v, i = (dlcore.max if is_max else dlcore.min)(make(x, F32, DEVICE), dim)
    np.testing.assert_array_equal(host(i), got)
    assert np.array_equal(host(v), np.take_along_axis(x.astype(np.float32), np.expand_dims(got, dim), dim).squeeze(dim),
                          equal_nan=True)


def test_argmax_infinities_and_extremes():
    x = np.array([[-np.inf, -np.inf, -np.inf], [np.inf, 1.0, np.inf], [-1.0, -np.inf, -1.0]])
    for f, want in ((dlcore.argmax, [0, 0, 0]), (dlcore.argmin, [0, 1, 1])):
        np.testing.assert_array_equal(host(f(make(x, F32, DEVICE), dim=1)), want)
    i = np.array([[np.iinfo(np.int64).min, np.iinfo(np.int64).min], [np.iinfo(np.int64).max, 0]])
    np.testing.assert_array_equal(host(dlcore.argmax(make(i, dlcore.int64, DEVICE), dim=1)), [0, 0])
    np.testing.assert_array_equal(host(dlcore.argmin(make(i, dlcore.int64, DEVICE), dim=1)), [0, 1])


def test_argmax_empty():
    x = np.zeros((0, 5))
    assert host(dlcore.argmax(make(x, F32, DEVICE), dim=1)).shape == (0,)
    with pytest.raises(IndexError, match="argmax"):
        dlcore.argmax(make(x, F32, DEVICE), dim=0)


@gpu_only
@pytest.mark.parametrize("dtype", [dlcore.float16, dlcore.bfloat16], ids=str)
def test_argmax_half_matches_float_cpu(dtype, rng):
    x = data(rng, (50, 300))
    t = make(x, dtype, DEVICE)
    ref = t.float().cpu()  # the same rounded values (rounding makes ties: first index wins)
    for f in (dlcore.argmax, dlcore.argmin):
        np.testing.assert_array_equal(host(f(t, dim=1)), host(f(ref, dim=1)))
        np.testing.assert_array_equal(host(f(t, dim=0)), host(f(ref, dim=0)))
    v, i = dlcore.max(t, 1)
    assert v.dtype == dtype
    np.testing.assert_array_equal(host(v), host(dlcore.max(ref, 1)[0]))


# ---- var / std -------------------------------------------------------------------------------------
def run_var(device, x, dtype, dims, correction, keepdim, take_sqrt, layout="contig"):
    t = make(x, dtype, device, layout)
    t.requires_grad = True
    f = dlcore.std if take_sqrt else dlcore.var
    y = f(t, dim_arg(dims), correction=correction, keepdim=keepdim)
    y.backward(dlcore.ones(y.shape, dtype=dtype, device=device))
    return host(y), host(t.grad)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("take_sqrt", [False, True], ids=["var", "std"])
@pytest.mark.parametrize("shape,dims", SHAPES, ids=str)
def test_var_std_match_cpu(dtype, take_sqrt, shape, dims, rng):
    x = data(rng, shape, scale=3.0, offset=10.0)  # mean far from zero: no cancellation allowed
    for correction, keepdim in ((1, False), (0, True), (2.5, False)):
        got = run_var(DEVICE, x, dtype, dims, correction, keepdim, take_sqrt)
        want = run_var("cpu", x, dtype, dims, correction, keepdim, take_sqrt)
        for a, b in zip(got, want):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, **TOL[dtype])


@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_var_noncontiguous(layout, rng):
    x = data(rng, (8, 30, 20))
    for dims in ((0,), (1,), (2,), (0, 2)):
        got = run_var(DEVICE, x, F32, dims, 1, False, False, layout)
        want = run_var("cpu", x, F32, dims, 1, False, False, layout)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, **TOL[F32])


@pytest.mark.parametrize("shape,dims", EMPTY + [((5, 1), (1,))], ids=str)
def test_var_empty_and_single(shape, dims):
    x = np.ones(shape)
    for correction in (0, 1):
        got = host(dlcore.var(make(x, F32, DEVICE), dim_arg(dims), correction=correction))
        want = host(dlcore.var(make(x, F32, "cpu"), dim_arg(dims), correction=correction))
        np.testing.assert_array_equal(got, want)  # NaN where the divisor is 0, as on the CPU


def test_var_nonfinite_rows():
    x = np.array([[1.0, 2.0, np.inf, 4.0], [1.0, np.nan, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], [1.0, -np.inf, np.inf, 2.0]])
    for dim in (0, 1):
        for f in (dlcore.var, dlcore.std):
            got = host(f(make(x, F32, DEVICE), dim))
            want = host(f(make(x, F32, "cpu"), dim))
            np.testing.assert_array_equal(got, want)


@gpu_only
@pytest.mark.parametrize("dtype", [dlcore.float16, dlcore.bfloat16], ids=str)
def test_var_half_matches_float_cpu(dtype, rng):
    t = make(data(rng, (40, 500)), dtype, DEVICE)
    for dim in (0, 1):
        got = dlcore.var(t, dim)
        assert got.dtype == dtype
        want = dlcore.var(t.float().cpu(), dim).to(dtype=dtype).float()
        np.testing.assert_allclose(host(got), host(want), rtol=HALF_RTOL[dtype])


# ---- logsumexp -------------------------------------------------------------------------------------
def run_lse(device, x, dtype, dims, keepdim=False):
    t = make(x, dtype, device)
    t.requires_grad = True
    d = list(range(x.ndim)) if dims is None else list(dims)
    y = dlcore.logsumexp(t, d, keepdim=keepdim)
    y.backward(dlcore.ones(y.shape, dtype=dtype, device=device))
    return host(y), host(t.grad)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("shape,dims", SHAPES, ids=str)
def test_logsumexp_matches_cpu(dtype, shape, dims, rng):
    x = data(rng, shape, scale=5.0)
    for keepdim in (False, True):
        for a, b in zip(run_lse(DEVICE, x, dtype, dims, keepdim), run_lse("cpu", x, dtype, dims, keepdim)):
            np.testing.assert_allclose(a, b, **TOL[dtype])


def test_logsumexp_nonfinite_and_large():
    inf, nan = np.inf, np.nan
    x = np.array([[-inf, -inf, -inf], [1e4, 1e4, -1e4], [inf, 1.0, 2.0], [nan, inf, 1.0], [-inf, 0.0, -inf]])
    for dim in (0, 1):
        got = host(dlcore.logsumexp(make(x, F32, DEVICE), dim))
        want = host(dlcore.logsumexp(make(x, F32, "cpu"), dim))
        np.testing.assert_allclose(got, want, rtol=1e-6)
    got = host(dlcore.logsumexp(make(x, F32, DEVICE), 1))
    np.testing.assert_allclose(got, [-inf, 1e4 + np.log(2.0), inf, nan, 0.0], rtol=1e-6)


@pytest.mark.parametrize("shape,dims", EMPTY, ids=str)
def test_logsumexp_empty(shape, dims):
    d = list(range(len(shape))) if dims is None else list(dims)
    got = host(dlcore.logsumexp(make(np.ones(shape), F32, DEVICE), d))
    np.testing.assert_array_equal(got, host(dlcore.logsumexp(make(np.ones(shape), F32, "cpu"), d)))


@gpu_only
@pytest.mark.parametrize("dtype", [dlcore.float16, dlcore.bfloat16], ids=str)
def test_logsumexp_half_matches_float_cpu(dtype, rng):
    t = make(data(rng, (30, 700)), dtype, DEVICE)
    got = dlcore.logsumexp(t, 1)
    want = dlcore.logsumexp(t.float().cpu(), 1).to(dtype=dtype).float()
    np.testing.assert_allclose(host(got), host(want), rtol=HALF_RTOL[dtype])


# ---- norm ------------------------------------------------------------------------------------------
PS = [2, 1, float("inf"), float("-inf"), 0, 3, 0.5, -1.5]


def run_norm(device, x, dtype, p, dims, keepdim=False, layout="contig"):
    t = make(x, dtype, device, layout)
    t.requires_grad = True
    y = dlcore.norm(t, p, dim=dim_arg(dims), keepdim=keepdim)
    y.backward(dlcore.ones(y.shape, dtype=dtype, device=device))
    return host(y), host(t.grad)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("p", PS, ids=str)
@pytest.mark.parametrize("shape,dims", SHAPES, ids=str)
def test_norm_matches_cpu(dtype, p, shape, dims, rng):
    x = data(rng, shape, scale=1.0, offset=0.0)
    x[np.abs(x) < 0.05] = 0.0  # exact zeros for p = 0 and the negative p
    for a, b in zip(run_norm(DEVICE, x, dtype, p, dims), run_norm("cpu", x, dtype, p, dims)):
        np.testing.assert_allclose(a, b, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"])


@pytest.mark.parametrize("p", [2, 1, float("inf"), 3], ids=str)
def test_norm_noncontiguous_and_nan(p, rng):
    x = data(rng, (7, 20, 9))
    x[2, 3, 4] = np.nan
    for layout in ("transposed", "strided"):
        for dims in ((1,), (0, 2)):
            got = host(dlcore.norm(make(x, F32, DEVICE, layout), p, dim=dim_arg(dims)))
            want = host(dlcore.norm(make(x, F32, "cpu", layout), p, dim=dim_arg(dims)))
            np.testing.assert_allclose(got, want, rtol=2e-5)  # NaN in the same places


@pytest.mark.parametrize("p", [2, 1, 0, 3], ids=str)
@pytest.mark.parametrize("shape,dims", EMPTY, ids=str)
def test_norm_empty(p, shape, dims):
    got = host(dlcore.norm(make(np.ones(shape), F32, DEVICE), p, dim=dim_arg(dims)))
    np.testing.assert_array_equal(got, host(dlcore.norm(make(np.ones(shape), F32, "cpu"), p, dim=dim_arg(dims))))


@gpu_only
@pytest.mark.parametrize("dtype", [dlcore.float16, dlcore.bfloat16], ids=str)
def test_norm_half_matches_float_cpu(dtype, rng):
    t = make(data(rng, (30, 700), scale=0.5), dtype, DEVICE)
    for p in (2, 1, float("inf")):
        got = dlcore.norm(t, p, dim=1)
        want = dlcore.norm(t.float().cpu(), p, dim=1).to(dtype=dtype).float()
        np.testing.assert_allclose(host(got), host(want), rtol=HALF_RTOL[dtype])


# ---- cumsum ----------------------------------------------------------------------------------------
CUMSUM_SHAPES = [((37, 10), 1), ((3, 50000), 1), ((2000, 300), 1), ((4, 7, 9), 1), ((5000, 3), 0),
                 ((6, 33, 5), 0), ((70000,), 0), ((1, 1), 0), ((0, 4), 1), ((3, 0), 1), ((2, 3, 4, 5), 2)]


def run_cumsum(device, x, dtype, dim, layout="contig"):
    t = make(x, dtype, device, layout)
    floating = dtype in (F32, F64)
    if floating:
        t.requires_grad = True
    y = dlcore.cumsum(t, dim)
    if not floating:
        return [host(y)]
    g = np.random.default_rng(5).standard_normal(x.shape)
    y.backward(dlcore.tensor(g, dtype=dtype, device=device))  # the reverse scan
    return [host(y), host(t.grad)]


@pytest.mark.parametrize("dtype", [F32, F64, dlcore.int32, dlcore.int64, dlcore.bool], ids=str)
@pytest.mark.parametrize("shape,dim", CUMSUM_SHAPES, ids=str)
def test_cumsum_matches_cpu(dtype, shape, dim, rng):
    if dtype in (F32, F64):
        x = data(rng, shape)
    elif dtype == dlcore.bool:
        x = rng.random(shape) < 0.5
    else:
        x = rng.integers(-1000, 1000, size=shape)
    got, want = run_cumsum(DEVICE, x, dtype, dim), run_cumsum("cpu", x, dtype, dim)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        if dtype in (F32, F64):
            scale = np.sqrt(max(1, shape[dim])) * 3  # size of the partial sums
            rtol = 1e-6 if dtype == F32 else 1e-12
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", ["transposed", "strided"])
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_cumsum_noncontiguous(layout, dim, rng):
    x = data(rng, (9, 40, 33))
    for a, b in zip(run_cumsum(DEVICE, x, F64, dim, layout), run_cumsum("cpu", x, F64, dim, layout)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_cumsum_exact_integer_totals():
    x = np.ones(200000, dtype=np.int64) * 3
    np.testing.assert_array_equal(host(dlcore.cumsum(make(x, dlcore.int64, DEVICE), 0)), np.cumsum(x))
    f = np.ones((2, 100000))  # float32 accumulates in double: integers stay exact
    np.testing.assert_array_equal(host(dlcore.cumsum(make(f, F32, DEVICE), 1)), np.cumsum(f, axis=1))


@gpu_only
@pytest.mark.parametrize("dtype", [dlcore.float16, dlcore.bfloat16], ids=str)
def test_cumsum_half_matches_float_cpu(dtype, rng):
    t = make(data(rng, (20, 3000), scale=1.0, offset=0.5), dtype, DEVICE)
    for dim in (0, 1):
        got = dlcore.cumsum(t, dim)
        assert got.dtype == dtype
        want = dlcore.cumsum(t.float().cpu(), dim).to(dtype=dtype).float()
        scale = np.abs(host(want)).max()
        np.testing.assert_allclose(host(got), host(want), rtol=HALF_RTOL[dtype], atol=HALF_RTOL[dtype] * scale * 0.01)


# ---- nonzero ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [F32, F64, dlcore.int32, dlcore.int64, dlcore.bool], ids=str)
@pytest.mark.parametrize("shape", [(0,), (5,), (3, 4), (2, 3, 4), (300001,), (70, 1000, 3), (2, 0, 3), (1, 1)],
                         ids=str)
def test_nonzero_matches_cpu_and_numpy(dtype, shape, rng):
    x = rng.integers(-2, 3, size=shape) * (rng.random(shape) < 0.2)
    if dtype == dlcore.bool:
        x = x != 0
    got = host(dlcore.nonzero(make(x, dtype, DEVICE)))
    assert got.shape == (int(np.count_nonzero(x)), len(shape))
    np.testing.assert_array_equal(got, host(dlcore.nonzero(make(x, dtype, "cpu"))))
    np.testing.assert_array_equal(got, np.argwhere(x))


def test_nonzero_special_values():
    x = np.array([[0.0, -0.0, np.nan], [np.inf, 0.0, 1e-30]], dtype=np.float32)
    got = host(dlcore.nonzero(make(x, F32, DEVICE)))
    np.testing.assert_array_equal(got, [[0, 2], [1, 0], [1, 2]])  # NaN counts, -0.0 does not
    for v in (0.0, 7.0):
        got = host(dlcore.nonzero(make(np.array(v), F32, DEVICE)))
        assert got.shape == ((1, 0) if v else (0, 0))
    none = host(dlcore.nonzero(make(np.zeros((40, 50)), F32, DEVICE)))
    assert none.shape == (0, 2)


@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_nonzero_noncontiguous(layout, rng):
    x = rng.integers(0, 2, size=(30, 17, 5)) * rng.standard_normal((30, 17, 5))
    got = host(dlcore.nonzero(make(x, F32, DEVICE, layout)))
    np.testing.assert_array_equal(got, np.argwhere(x))


@gpu_only
@pytest.mark.parametrize("dtype", [dlcore.float16, dlcore.bfloat16], ids=str)
def test_nonzero_half(dtype, rng):
    x = rng.integers(-2, 3, size=(64, 33)) * (rng.random((64, 33)) < 0.3)
    np.testing.assert_array_equal(host(dlcore.nonzero(make(x, dtype, DEVICE))), np.argwhere(x))
