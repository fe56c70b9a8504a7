"""CUDA softmax and log-softmax (cuda/softmax.cu), forward and backward, along the last dim
(one block per row) and along other dims (one thread per column), on the GPU against the CPU.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerance: the GPU sums a row's exponentials in float for float32, the CPU in double; values
agree to float32 rounding of sums of up to `red` terms: rtol 1e-5, atol 1e-7 (probabilities
near zero); float64 1e-12.
"""
import numpy as np
import pytest

import dlcore

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"
TOL = {dlcore.float32: dict(rtol=1e-5, atol=1e-7), dlcore.float64: dict(rtol=1e-12, atol=1e-14)}


def run(device, dtype, x_np, g_np, dim, log):
    x = dlcore.tensor(x_np, dtype=dtype, device=device, requires_grad=True)
    f = dlcore.nn.functional.log_softmax if log else dlcore.nn.functional.softmax
    y = f(x, dim=dim)
    y.backward(dlcore.tensor(g_np, dtype=dtype, device=device))
    return y.detach().cpu().numpy(), x.grad.cpu().numpy()


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64], ids=str)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((37, 10), -1), ((3, 5000), 1), ((2, 3, 1), -1), ((4, 7, 9), 1),
                                       ((6, 33, 5), 0), ((2, 3, 4, 5), 2)], ids=str)
def test_softmax_matches_cpu(dtype, log, shape, dim, rng):
    x = rng.standard_normal(shape) * 4
    g = rng.standard_normal(shape)
    for got, want in zip(run(DEVICE, dtype, x, g, dim, log), run("cpu", dtype, x, g, dim, log)):
        np.testing.assert_allclose(got, want, **TOL[dtype])


def test_softmax_large_logits_and_nan(rng):
    x = np.array([[1e4, 1e4 - 1.0, -1e4], [0.0, np.nan, 1.0]])
    y, _ = run(DEVICE, dlcore.float32, x, np.ones_like(x), -1, False)
    np.testing.assert_allclose(y[0], [1 / (1 + np.exp(-1.0)), np.exp(-1.0) / (1 + np.exp(-1.0)), 0.0], rtol=1e-6)
    assert np.isnan(y[1]).all()
