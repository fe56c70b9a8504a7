"""CUDA GEMM (cuda/gemm.cu): matmul, batched and broadcast products, transposed operands and
Linear on the GPU against a float64 numpy reference.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerance: each output is a sum of k products accumulated in float (float64 for float64), so
it may differ from the exact sum by k * u * sum_p |a_ip * b_pj| with u the accumulator's unit
roundoff (Higham's bound for recursive summation; 2x slack for the product roundings), plus
half an ulp of the output dtype for the final rounding (float16: 2^-11, bfloat16: 2^-8).
Integer products are exact. Before each product the allocator's cache is seeded with a
NaN-filled block of the output's size, so that an output element the kernel fails to write
shows up as NaN.
"""
import numpy as np
import pytest

import dlcore

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]

F32, F64, F16, BF16, I32, I64 = (dlcore.float32, dlcore.float64, dlcore.float16, dlcore.bfloat16, dlcore.int32,
                                 dlcore.int64)
ACC_U = {F32: 2.0**-24, F16: 2.0**-24, BF16: 2.0**-24, F64: 2.0**-53}
OUT_U = {F32: 0.0, F64: 0.0, F16: 2.0**-11, BF16: 2.0**-8}


def device_tensor(a, dtype):
    """A CUDA tensor of `dtype` from numpy array `a`, and the float64 values it holds."""
    if dtype in (I32, I64):
        t = dlcore.tensor(np.round(a).astype(np.int32 if dtype == I32 else np.int64))
    else:
        t = dlcore.tensor(a.astype(np.float64)).to(dtype)
    held = t.float().numpy().astype(np.float64) if dtype in (F16, BF16) else t.numpy().astype(np.float64)
    return t.cuda(), held


def host(t):
    t = t.detach().cpu()
    return (t.float() if t.dtype in (F16, BF16) else t).numpy().astype(np.float64)


def poison(shape, dtype):
    """Leaves a freed NaN-filled block of this size in the allocator's cache."""
    if dtype in (I32, I64):
        block = dlcore.full(shape, -(2**30), dtype=dtype, device="cuda")
    else:
        block = dlcore.full(shape, float("nan"), dtype=dtype, device="cuda")
    del block


def check_product(got, a, b, dtype):
    want = np.matmul(a, b)
    if dtype in (I32, I64):
        np.testing.assert_array_equal(host(got), want)
        return
    k = a.shape[-1]
    bound = 2 * k * ACC_U[dtype] * np.matmul(np.abs(a), np.abs(b)) + OUT_U[dtype] * np.abs(want) + 1e-30
    err = np.abs(host(got) - want)
    assert np.isfinite(host(got)).all(), "unwritten or overflowing outputs"
    assert (err <= bound).all(), f"error {np.max(err / bound):.2f}x the bound"


SHAPES = [(1, 1, 1), (7, 33, 5), (129, 65, 130), (64, 128, 256), (3, 1000, 2), (300, 8, 129)]


@pytest.mark.parametrize("dtype", [F32, F64, F16, BF16], ids=str)
@pytest.mark.parametrize("m,k,n", SHAPES, ids=str)
@pytest.mark.parametrize("layout", ["nn", "tn", "nt", "tt"])
def test_matmul(dtype, m, k, n, layout, rng):
    # layout: A (and B) given as a transposed view ("t") or contiguous ("n")
    a_np = rng.uniform(-2, 2, size=(k, m) if layout[0] == "t" else (m, k))
    b_np = rng.uniform(-2, 2, size=(n, k) if layout[1] == "t" else (k, n))
    a, a_held = device_tensor(a_np, dtype)
    b, b_held = device_tensor(b_np, dtype)
    if layout[0] == "t":
        a, a_held = a.t(), a_held.T
    if layout[1] == "t":
        b, b_held = b.t(), b_held.T
    poison((m, n), dtype)
    got = a @ b
    assert got.is_cuda and got.dtype == dtype and tuple(got.shape) == (m, n)
    check_product(got, a_held, b_held, dtype)


@pytest.mark.parametrize("dtype", [I32, I64], ids=str)
def test_matmul_integers(dtype, rng):
    a, a_held = device_tensor(rng.uniform(-50, 50, size=(37, 70)), dtype)
    b, b_held = device_tensor(rng.uniform(-50, 50, size=(70, 131)), dtype)
    poison((37, 131), dtype)
    check_product(a @ b, a_held, b_held, dtype)


@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_batched_and_broadcast(dtype, rng):
    a, a_held = device_tensor(rng.uniform(-1, 1, size=(5, 3, 40, 17)), dtype)
    b, b_held = device_tensor(rng.uniform(-1, 1, size=(3, 17, 150)), dtype)  # broadcast over the 5
    poison((5, 3, 40, 150), dtype)
    check_product(a @ b, a_held, b_held, dtype)
    v, v_held = device_tensor(rng.uniform(-1, 1, size=(17,)), dtype)  # matrix @ vector
    check_product(a @ v, a_held, v_held, dtype)


def test_linear_forward_and_backward(rng):
    # Linear with bias runs the product with beta = 1 over the broadcast bias; its backward
    # takes transposed operands. Compared with the same layer on the CPU.
    lin = dlcore.nn.Linear(70, 33)
    x_np = rng.standard_normal((129, 70)).astype(np.float32)
    g_np = rng.standard_normal((129, 33)).astype(np.float32)
    outs = {}
    for dev in ("cpu", "cuda"):
        layer = dlcore.nn.Linear(70, 33)
        layer.load_state_dict(lin.state_dict())
        layer.to(dev)
        x = dlcore.tensor(x_np, device=dev, requires_grad=True)
        y = layer(x)
        y.backward(dlcore.tensor(g_np, device=dev))
        outs[dev] = [host(t) for t in (y, x.grad, layer.weight.grad, layer.bias.grad)]
    w = lin.weight.detach().numpy().astype(np.float64)
    for got, want, terms in zip(outs["cuda"], outs["cpu"],
                                (np.abs(x_np) @ np.abs(w).T + np.abs(lin.bias.detach().numpy()),
                                 np.abs(g_np) @ np.abs(w), np.abs(g_np).T @ np.abs(x_np),
                                 np.abs(g_np).sum(0))):
        length = 130  # the longest sum: 129 rows (weight and bias grads)
        np.testing.assert_array_less(np.abs(got - want), 4 * length * 2.0**-24 * terms + 1e-30)
