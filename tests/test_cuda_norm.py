"""CUDA layer norm (cuda/norm.cu), forward and backward (input, weight and bias grads), on the
GPU against the CPU.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerance: row statistics and column sums accumulate in float on the GPU (float32) and partly
in double on the CPU: float32 rtol 1e-4 with atol 1e-5 for the weight and bias grads (sums over
up to 300 rows), 1e-5 / 1e-6 elsewhere; float64 1e-10.
"""
import numpy as np
import pytest

import dlcore

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"


def run(device, dtype, x_np, g_np, shape, affine, eps):
    x = dlcore.tensor(x_np, dtype=dtype, device=device, requires_grad=True)
    ln = dlcore.nn.LayerNorm(shape, eps=eps, elementwise_affine=affine)
    if affine:
        rng = np.random.default_rng(7)
        ln.weight.data = dlcore.tensor(rng.uniform(0.5, 1.5, size=shape), dtype=dtype)
        ln.bias.data = dlcore.tensor(rng.uniform(-0.5, 0.5, size=shape), dtype=dtype)
    ln.to(device)
    if dtype == dlcore.float64:
        ln.double()
    y = ln(x)
    y.backward(dlcore.tensor(g_np, dtype=dtype, device=device))
    out = [y.detach().cpu().numpy(), x.grad.cpu().numpy()]
    if affine:
        out += [ln.weight.grad.cpu().numpy(), ln.bias.grad.cpu().numpy()]
    return out


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64], ids=str)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("xshape,nshape", [((300, 768), (768,)), ((4, 7, 33), (33,)), ((5, 6, 10), (6, 10)),
                                           ((3, 1), (1,)), ((2, 5000), (5000,))], ids=str)
def test_layer_norm_matches_cpu(dtype, affine, xshape, nshape, rng):
    x = rng.standard_normal(xshape) * 3 + 10  # rows far from zero: the variance pass must not cancel
    g = rng.standard_normal(xshape)
    got = run(DEVICE, dtype, x, g, nshape, affine, 1e-5)
    want = run("cpu", dtype, x, g, nshape, affine, 1e-5)
    for k, (a, b) in enumerate(zip(got, want)):
        if dtype == dlcore.float64:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        elif k >= 2:  # weight and bias grads: column sums over the rows
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
