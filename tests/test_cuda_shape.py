"""CUDA shape copies (cuda/shape.cu) against the CPU kernels: the index-map copy behind pad
(constant, reflect, replicate, circular, cropping), flip and roll, and tril/triu. Inputs of every
dtype, contiguous and not, forward and backward (pad/flip/roll backward go through other ops;
tril/triu backward is tril/triu again).

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerance: none; these kernels only move values, so results must equal the CPU's exactly.
"""
import numpy as np
import pytest

import dlcore
import dlcore.nn.functional as F
from cuda_util import host, make

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"
gpu_only = pytest.mark.skipif(DEVICE == "cpu", reason="16-bit floats compute on CUDA only")

DTYPES = [dlcore.float32, dlcore.float64, dlcore.int32, dlcore.int64, dlcore.bool]


def values_for(rng, shape, dtype):
    """Random values exactly representable in dtype (so numpy references see the same values)."""
    if dtype == dlcore.bool:
        return rng.random(shape) < 0.5
    if dtype in (dlcore.int32, dlcore.int64):
        return rng.integers(-100, 100, size=shape)
    x = rng.standard_normal(shape)
    return x.astype(np.float32) if dtype == dlcore.float32 else x


def both(fn, x, dtype, layout="contig"):
    """fn on the GPU and on the CPU; asserts equal results and returns the GPU's."""
    got, want = host(fn(make(x, dtype, DEVICE, layout))), host(fn(make(x, dtype, "cpu", layout)))
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    return got


# ---- tril / triu -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(5, 7), (7, 5), (3, 4, 6), (2, 3, 33, 65), (1, 1), (0, 3), (2, 0, 4)], ids=str)
@pytest.mark.parametrize("diagonal", [0, 1, -2, 10, -10, 2**40, -(2**40)])
def test_tril_triu_match_cpu_and_numpy(dtype, shape, diagonal, rng):
    x = values_for(rng, shape, dtype)
    np.testing.assert_array_equal(both(lambda t: dlcore.tril(t, diagonal), x, dtype), np.tril(x, diagonal))
    np.testing.assert_array_equal(both(lambda t: dlcore.triu(t, diagonal), x, dtype), np.triu(x, diagonal))


@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_tril_triu_noncontiguous_and_backward(layout, rng):
    x = rng.standard_normal((4, 9, 13))
    both(lambda t: dlcore.tril(t, 1), x, dlcore.float32, layout)
    both(lambda t: dlcore.triu(t, -1), x, dlcore.float32, layout)
    grads = []
    for device in (DEVICE, "cpu"):
        t = dlcore.tensor(x, dtype=dlcore.float64, device=device, requires_grad=True)
        (dlcore.triu(t, 2) * 3.0).sum().backward()
        grads.append(host(t.grad))
    np.testing.assert_array_equal(*grads)
    np.testing.assert_array_equal(grads[0], np.triu(np.full(x.shape, 3.0), 2))


# ---- pad / flip / roll -------------------------------------------------------------------------------
PADS = [("constant", (1, 2)), ("constant", (0, 0, 3, 1)), ("constant", (-1, 2, 1, -2)), ("reflect", (2, 3)),
        ("reflect", (1, 1, 2, 0)), ("replicate", (3, 1)), ("replicate", (2, 2, 1, 3)), ("circular", (2, 1)),
        ("circular", (1, 3, 2, 2))]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("mode,pad", PADS, ids=str)
@pytest.mark.parametrize("layout", ["contig", "transposed", "strided"])
def test_pad_matches_cpu(dtype, mode, pad, layout, rng):
    x = values_for(rng, (3, 5, 6, 7), dtype)
    value = 1 if dtype == dlcore.bool else 2.5 if dtype in (dlcore.float32, dlcore.float64) else -7
    kw = dict(value=value) if mode == "constant" else {}
    both(lambda t: F.pad(t, pad, mode=mode, **kw), x, dtype, layout)


def test_pad_numpy_reference_and_backward(rng):
    x = rng.standard_normal((2, 3, 4))
    got = both(lambda t: F.pad(t, (1, 2, 2, 1), value=-3.0), x, dlcore.float64)
    np.testing.assert_array_equal(got, np.pad(x, ((0, 0), (2, 1), (1, 2)), constant_values=-3.0))
    got = both(lambda t: F.pad(t, (2, 2), mode="reflect"), x, dlcore.float64)
    np.testing.assert_array_equal(got, np.pad(x, ((0, 0), (0, 0), (2, 2)), mode="reflect"))
    grads = []
    for device in (DEVICE, "cpu"):
        t = dlcore.tensor(x, dtype=dlcore.float64, device=device, requires_grad=True)
        y = F.pad(t, (2, 1, 1, 1), mode="reflect")
        y.backward(dlcore.tensor(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)), device=device))
        grads.append(host(t.grad))
    np.testing.assert_array_equal(*grads)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", ["contig", "transposed", "strided"])
def test_flip_roll_match_cpu_and_numpy(dtype, layout, rng):
    x = values_for(rng, (4, 5, 70), dtype)
    for dims in ([0], [2], [0, 2], [1, 2, 0]):
        np.testing.assert_array_equal(both(lambda t: dlcore.flip(t, dims), x, dtype, layout), np.flip(x, dims))
    for shifts, dims in ((3, 0), (-2, 2), ((1, 75), (1, 2)), (200, 2)):
        np.testing.assert_array_equal(both(lambda t: dlcore.roll(t, shifts, dims), x, dtype, layout),
                                      np.roll(x, shifts, dims))
    np.testing.assert_array_equal(both(lambda t: dlcore.roll(t, 7), x, dtype, layout), np.roll(x, 7))


def test_flip_zero_dim_and_empty():
    both(lambda t: dlcore.flip(t, []), np.array(3.5), dlcore.float32)
    both(lambda t: dlcore.roll(t, 1, 0), np.zeros((0, 3)), dlcore.float32)
    both(lambda t: F.pad(t, (1, 1)), np.zeros((2, 0)), dlcore.float32)


@gpu_only
@pytest.mark.parametrize("dtype", [dlcore.float16, dlcore.bfloat16], ids=str)
def test_half_shape_ops(dtype, rng):
    x = rng.standard_normal((3, 8, 9))
    t = make(x, dtype, DEVICE)
    r = t.float().cpu().numpy()  # the rounded values
    np.testing.assert_array_equal(host(dlcore.tril(t, 1)), np.tril(r, 1))
    np.testing.assert_array_equal(host(dlcore.flip(t, [2])), np.flip(r, 2))
    np.testing.assert_array_equal(host(dlcore.roll(t, 2, 1)), np.roll(r, 2, 1))
    got = host(F.pad(t, (1, 1), value=0.5))
    np.testing.assert_array_equal(got, np.pad(r, ((0, 0), (0, 0), (1, 1)), constant_values=0.5))
