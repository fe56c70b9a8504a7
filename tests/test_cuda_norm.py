"""CUDA layer norm and batch norm (cuda/norm.cu), forward and backward (input, weight and bias
grads, running statistics), on the GPU against the CPU.

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


def run_bn(device, x_np, g_np, training, affine):
    dims = x_np.ndim
    cls = {2: dlcore.nn.BatchNorm1d, 3: dlcore.nn.BatchNorm1d, 4: dlcore.nn.BatchNorm2d, 5: dlcore.nn.BatchNorm3d}[dims]
    bn = cls(x_np.shape[1], affine=affine)
    rng = np.random.default_rng(8)
    if affine:
        bn.weight.data = dlcore.tensor(rng.uniform(0.5, 1.5, size=x_np.shape[1]).astype(np.float32))
        bn.bias.data = dlcore.tensor(rng.uniform(-0.5, 0.5, size=x_np.shape[1]).astype(np.float32))
    bn.running_mean.copy_(dlcore.tensor(rng.standard_normal(x_np.shape[1]).astype(np.float32)))
    bn.running_var.copy_(dlcore.tensor(rng.uniform(0.5, 2.0, size=x_np.shape[1]).astype(np.float32)))
    bn.to(device)
    bn.train(training)
    x = dlcore.tensor(x_np, device=device, requires_grad=True)
    y = bn(x)
    y.backward(dlcore.tensor(g_np, device=device))
    out = [y, x.grad, bn.running_mean, bn.running_var]
    if affine:
        out += [bn.weight.grad, bn.bias.grad]
    return [t.detach().cpu().numpy() for t in out]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", [(32, 64, 8, 8), (64, 20), (4, 6, 33), (2, 3, 4, 5, 6)], ids=str)
def test_batch_norm_matches_cpu(training, affine, shape, rng):
    x = (rng.standard_normal(shape) * 2 + 3).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    got, want = run_bn(DEVICE, x, g, training, affine), run_bn("cpu", x, g, training, affine)
    for k, (a, b) in enumerate(zip(got, want)):
        # weight/bias grads and the statistics behind the running stats are sums over N * S
        np.testing.assert_allclose(a, b, rtol=1e-4 if k >= 2 else 2e-5, atol=1e-5)
