"""CUDA sort, argsort and topk (cuda/sort.cu) against the CPU kernels and numpy.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

The row lengths reach both kernel versions: rows of up to 2048 sorted in shared memory (several
short rows per block, padded to a power of two), and longer rows sorted in 2048-element tiles
and then merged (2049 is one full tile and a one-element tile; 50257 is a GPT-2 vocabulary).
Ties (integers, rounded floats, bools) check that the sort is stable and that topk takes the
lower index first; NaN, infinities and signed zeros check the order of Note [Sort order].

Tolerance: none. A sort only moves values, so values and indices must equal the CPU's exactly.
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
# (shape, dim)
SHAPES = [((7, 33), 1), ((1000, 5), 1), ((3, 1), 1), ((4, 2048), 1), ((3, 2049), 1), ((2, 5000), -1),
          ((50257,), 0), ((64, 6, 3), 1), ((4100, 3), 0), ((2, 3, 4, 5), 2)]


def values_for(rng, shape, dtype, ties):
    if dtype == dlcore.bool:
        return rng.random(shape) < 0.5
    if dtype in (dlcore.int32, dlcore.int64):
        return rng.integers(-5, 6, size=shape) if ties else rng.integers(-10**6, 10**6, size=shape)
    x = np.round(rng.standard_normal(shape) * 10) if ties else rng.standard_normal(shape) * 10
    return x.astype(np.float32) if dtype == F32 else x  # exactly the values the tensor holds


def assert_same(got, want):
    for a, b in zip(got, want):
        a, b = host(a), host(b)
        assert a.shape == b.shape and a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


@pytest.mark.parametrize("dtype", [F32, F64, dlcore.int32, dlcore.int64, dlcore.bool], ids=str)
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("shape,dim", SHAPES, ids=str)
def test_sort_matches_cpu(dtype, descending, ties, shape, dim, rng):
    x = values_for(rng, shape, dtype, ties)
    got = dlcore.sort(make(x, dtype, DEVICE), dim, descending=descending)
    assert_same(got, dlcore.sort(make(x, dtype, "cpu"), dim, descending=descending))
    if not descending:  # a stable ascending sort is numpy's too
        np.testing.assert_array_equal(host(got[1]), np.argsort(x, axis=dim, kind="stable"))


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("n", [9, 3000])
def test_sort_nan_inf_signed_zero(descending, n, rng):
    x = rng.standard_normal((5, n))
    pick = rng.random(x.shape)
    x[pick < 0.1] = np.nan
    x[(pick >= 0.1) & (pick < 0.2)] = np.inf
    x[(pick >= 0.2) & (pick < 0.3)] = -np.inf
    x[(pick >= 0.3) & (pick < 0.4)] = 0.0
    x[(pick >= 0.4) & (pick < 0.5)] = -0.0
    for dtype in (F32, F64):
        got = dlcore.sort(make(x, dtype, DEVICE), -1, descending=descending)
        assert_same(got, dlcore.sort(make(x, dtype, "cpu"), -1, descending=descending))
        if not descending:  # numpy: NaN last, -0.0 == 0.0, stable
            np.testing.assert_array_equal(host(got[1]), np.argsort(x, axis=-1, kind="stable"))
        v = host(got[0])
        np.testing.assert_array_equal(np.signbit(v), np.signbit(np.take_along_axis(x, host(got[1]), -1)))


@pytest.mark.parametrize("layout", ["transposed", "strided"])
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_sort_noncontiguous(layout, dim, rng):
    x = np.round(rng.standard_normal((9, 40, 33)) * 3)
    for descending in (False, True):
        got = dlcore.sort(make(x, F32, DEVICE, layout), dim, descending=descending)
        assert_same(got, dlcore.sort(make(x, F32, "cpu", layout), dim, descending=descending))


def test_argsort_and_empty(rng):
    x = rng.standard_normal((6, 70))
    np.testing.assert_array_equal(host(dlcore.argsort(make(x, F32, DEVICE), 1, descending=True)),
                                  host(dlcore.argsort(make(x, F32, "cpu"), 1, descending=True)))
    for shape, dim in (((0, 5), 1), ((5, 0), 1), ((0,), 0)):
        v, i = dlcore.sort(make(np.ones(shape), F32, DEVICE), dim)
        assert tuple(v.shape) == shape and tuple(i.shape) == shape
    v, i = dlcore.sort(make(np.array(2.5), F32, DEVICE), 0)
    assert host(v) == 2.5 and host(i) == 0


def test_sort_extreme_integers():
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    x = np.array([[hi, lo, 0, -1, 1, lo, hi]])
    for descending in (False, True):
        got = dlcore.sort(make(x, dlcore.int64, DEVICE), 1, descending=descending)
        assert_same(got, dlcore.sort(make(x, dlcore.int64, "cpu"), 1, descending=descending))
    x32 = np.array([[np.iinfo(np.int32).max, np.iinfo(np.int32).min, 0, -1]])
    got = dlcore.sort(make(x32, dlcore.int32, DEVICE), 1)
    np.testing.assert_array_equal(host(got[0]), np.sort(x32, axis=1))


def test_sort_backward_matches_cpu(rng):
    x = rng.standard_normal((4, 3000))
    g = rng.standard_normal((4, 3000))
    grads = []
    for device in (DEVICE, "cpu"):
        t = dlcore.tensor(x, dtype=F64, device=device, requires_grad=True)
        v, _ = dlcore.sort(t, 1, descending=True)
        v.backward(dlcore.tensor(g, dtype=F64, device=device))
        grads.append(host(t.grad))
    np.testing.assert_array_equal(*grads)


@gpu_only
@pytest.mark.parametrize("dtype", [dlcore.float16, dlcore.bfloat16], ids=str)
@pytest.mark.parametrize("n", [100, 5000])
def test_sort_half_matches_float_cpu(dtype, n, rng):
    x = rng.standard_normal((3, n))
    x[0, :7] = np.nan
    t = make(x, dtype, DEVICE)
    ref = t.float().cpu()  # the same rounded values: rounding makes ties, which must stay stable
    for descending in (False, True):
        v, i = dlcore.sort(t, 1, descending=descending)
        wv, wi = dlcore.sort(ref, 1, descending=descending)
        assert v.dtype == dtype
        np.testing.assert_array_equal(host(i), host(wi))
        assert np.array_equal(host(v), host(wv), equal_nan=True)


# ---- topk ------------------------------------------------------------------------------------------
TOPK_CASES = [((7, 33), 1, 5), ((7, 33), 1, 33), ((1000, 5), 1, 1), ((3, 2049), 1, 50), ((2, 5000), 1, 4999),
              ((50257,), 0, 50), ((4, 50257), 1, 1), ((64, 6, 3), 1, 2), ((4100, 3), 0, 10), ((5, 9), 1, 0)]


@pytest.mark.parametrize("dtype", [F32, F64, dlcore.int32, dlcore.int64, dlcore.bool], ids=str)
@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("shape,dim,k", TOPK_CASES, ids=str)
def test_topk_matches_cpu(dtype, largest, ties, shape, dim, k, rng):
    x = values_for(rng, shape, dtype, ties)
    got = dlcore.topk(make(x, dtype, DEVICE), k, dim, largest=largest)
    assert_same(got, dlcore.topk(make(x, dtype, "cpu"), k, dim, largest=largest))
    order = np.argsort(-x if largest and dtype != dlcore.bool else (~x if largest else x), axis=dim, kind="stable")
    np.testing.assert_array_equal(host(got[1]), np.take(order, np.arange(k), axis=dim))


@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
def test_topk_nan_and_noncontiguous(largest, rng):
    x = rng.standard_normal((6, 3000))
    x[rng.random(x.shape) < 0.01] = np.nan
    x[1, :] = np.nan
    for layout in ("contig", "transposed", "strided"):
        for k in (1, 17, 2500):
            got = dlcore.topk(make(x, F32, DEVICE, layout), k, 1, largest=largest)
            assert_same(got, dlcore.topk(make(x, F32, "cpu", layout), k, 1, largest=largest))


def test_topk_backward_and_sampling_shape(rng):
    logits = rng.standard_normal((8, 50257))
    grads = []
    for device in (DEVICE, "cpu"):
        t = dlcore.tensor(logits, dtype=F32, device=device, requires_grad=True)
        v, i = dlcore.topk(t, 50, -1)
        assert tuple(v.shape) == (8, 50) and i.dtype == dlcore.int64
        (v * v).sum().backward()
        grads.append(host(t.grad))
    np.testing.assert_array_equal(*grads)


@gpu_only
@pytest.mark.parametrize("dtype", [dlcore.float16, dlcore.bfloat16], ids=str)
def test_topk_half_matches_float_cpu(dtype, rng):
    t = make(rng.standard_normal((4, 5000)), dtype, DEVICE)
    ref = t.float().cpu()
    for largest in (True, False):
        v, i = dlcore.topk(t, 40, 1, largest=largest)
        wv, wi = dlcore.topk(ref, 40, 1, largest=largest)
        np.testing.assert_array_equal(host(i), host(wi))
        np.testing.assert_array_equal(host(v), host(wv))
