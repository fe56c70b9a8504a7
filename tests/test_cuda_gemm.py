"""CUDA GEMM (cuda/gemm.cu): matmul, batched and broadcast products, transposed operands and
Linear on the GPU against a float64 numpy reference.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Tolerance: each output is a sum of k products accumulated in float (float64 for float64), so
it may differ from the exact sum by k * u * sum_p |a_ip * b_pj| with u the accumulator's unit
roundoff (Higham's bound for recursive summation; 2x slack for the product roundings), plus
half an ulp of the output dtype for the final rounding (float16: 2^-11, bfloat16: 2^-8).
float16/bfloat16 run on tensor cores (cuda/gemm_mma.cu): their products of 16-bit inputs are
exact in float, but the tensor cores' float additions may truncate instead of rounding, so
u = 2^-23 there. TF32 (float32 with dlcore.backends.cuda.matmul.allow_tf32) first rounds
each operand to a 10-bit mantissa (relative error 2^-11 each, so 2^-10 + 2^-22 per product)
and then accumulates as above: bound (2^-10 + 2^-22 + 2 k 2^-23) sum_p |a_ip b_pj|, about
1e-3 relative for short sums (not the 1e-5 of true float32); the test also checks that the
switch is honoured in both directions (true float32 within its bound, TF32 visibly not).
Epilogue tests (bias, activations) add the bias's and the activation's rounding: the
activation is evaluated in float on the float sum, so its error is |f'(y)| times the sum's
bound plus a few float ulps of f(y); gelu/silu/relu have |f'| <= 1.13.
Integer products are exact. Before each product the allocator's cache is seeded with a
NaN-filled block of the output's size, so that an output element the kernel fails to write
shows up as NaN.
"""
import math

import numpy as np
import pytest

import dlcore

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]

F32, F64, F16, BF16, I32, I64 = (dlcore.float32, dlcore.float64, dlcore.float16, dlcore.bfloat16, dlcore.int32,
                                 dlcore.int64)
ACC_U = {F32: 2.0**-24, F16: 2.0**-23, BF16: 2.0**-23, F64: 2.0**-53}
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


# ---- tensor cores (cuda/gemm_mma.cu) -------------------------------------------------------

@pytest.fixture
def tf32():
    """Sets dlcore.backends.cuda.matmul.allow_tf32 for one test and restores it after."""
    before = dlcore.backends.cuda.matmul.allow_tf32

    def set_(on):
        dlcore.backends.cuda.matmul.allow_tf32 = on

    yield set_
    dlcore.backends.cuda.matmul.allow_tf32 = before


def tf32_bound(a, b):
    k = a.shape[-1]
    return (2.0**-10 + 2.0**-22 + 2 * k * 2.0**-23) * np.matmul(np.abs(a), np.abs(b)) + 1e-30


def operands(rng, shape_a, shape_b, dtype, layout="nn", scale=2.0):
    """Device operands of the given logical shapes (a transposed view where layout says "t")
    and the float64 values they hold."""
    def one(shape, t):
        stored = shape[:-2] + (shape[-1], shape[-2]) if t else shape
        x, held = device_tensor(rng.uniform(-scale, scale, size=stored), dtype)
        return (x.transpose(-2, -1), np.swapaxes(held, -1, -2)) if t else (x, held)
    a, a_held = one(shape_a, layout[0] == "t")
    b, b_held = one(shape_b, layout[1] == "t")
    return a, a_held, b, b_held


# Small and big tile configurations (>= 128 tiles of 128 x 128 take the big one), edges in
# m, n and k, k shorter than one 64-byte step, many k steps (the 4-deep copy ring wraps).
TC_SHAPES = [(1, 1, 1), (5, 3, 7), (17, 9, 33), (64, 64, 64), (100, 257, 36), (1537, 40, 1411), (129, 1000, 200)]


@pytest.mark.parametrize("dtype", [F16, BF16], ids=str)
@pytest.mark.parametrize("m,k,n", TC_SHAPES, ids=str)
@pytest.mark.parametrize("layout", ["nn", "tn", "nt", "tt"])
def test_tensor_core_matmul(dtype, m, k, n, layout, rng):
    a, a_held, b, b_held = operands(rng, (m, k), (k, n), dtype, layout)
    poison((m, n), dtype)
    check_product(a @ b, a_held, b_held, dtype)


@pytest.mark.parametrize("dtype", [F16, BF16], ids=str)
def test_tensor_core_unaligned_operands(dtype, rng):
    # Leading dimensions that are not a multiple of 8 elements and pointers off a 16-byte
    # boundary: copied by plain loads instead of cp.async.
    a, a_held = device_tensor(rng.uniform(-2, 2, size=(70, 39)), dtype)
    b, b_held = device_tensor(rng.uniform(-2, 2, size=(41, 67)), dtype)
    a, a_held = a[1:, 1:], a_held[1:, 1:]          # (69, 38), row stride 39, offset 40 elements
    b, b_held = b[3:, 2:-1], b_held[3:, 2:-1]      # (38, 64), row stride 67
    for x, xh, y, yh in ((a, a_held, b, b_held), (b.t(), b_held.T, a.t(), a_held.T)):
        poison((x.shape[0], y.shape[1]), dtype)
        check_product(x @ y, xh, yh, dtype)
    # leading dimension 64 with the pointer one element off (plain loads), and eight elements
    # off (cp.async from an offset view)
    c, c_held = device_tensor(rng.uniform(-2, 2, size=(90, 64)), dtype)
    for off in (1, 8):
        x, xh = c[:, off:], c_held[:, off:]
        poison((90, 90), dtype)
        check_product(x @ x.t(), xh, xh.T, dtype)
    # cp.async chunks that straddle the k edge (x @ x.t(), k = 61) and the m and n edges
    # (x.t() @ x, m = n = 61): only their valid elements are copied, the rest zero-filled
    x, xh = c[:, :61], c_held[:, :61]
    for p, ph, q, qh in ((x, xh, x.t(), xh.T), (x.t(), xh.T, x, xh)):
        poison((p.shape[0], q.shape[1]), dtype)
        check_product(p @ q, ph, qh, dtype)
    # aligned pointer and leading dimension, but a batch stride 4 elements off: plain loads
    flat, flat_held = device_tensor(rng.uniform(-2, 2, size=(3 * 1324,)), dtype)
    a = flat.as_strided((3, 33, 40), (1324, 40, 1))
    a_held = np.stack([flat_held[i * 1324:i * 1324 + 33 * 40].reshape(33, 40) for i in range(3)])
    b, b_held = device_tensor(rng.uniform(-2, 2, size=(40, 24)), dtype)
    poison((3, 33, 24), dtype)
    check_product(a @ b, a_held, b_held, dtype)


@pytest.mark.parametrize("dtype", [F16, BF16], ids=str)
def test_tensor_core_batched(dtype, rng):
    # big tiles over a batch (8 x 4 x 4 tiles), broadcast B, transposed batch entries
    a, a_held, b, b_held = operands(rng, (8, 500, 72), (72, 510), dtype, "nt")
    poison((8, 500, 510), dtype)
    check_product(a @ b, a_held, b_held, dtype)
    a, a_held, b, b_held = operands(rng, (3, 2, 33, 19), (2, 19, 45), dtype, "tn")
    poison((3, 2, 33, 45), dtype)
    check_product(a @ b, a_held, b_held, dtype)
    # more batch entries than a grid's y dimension holds (65535): the batch loop
    a, a_held, b, b_held = operands(rng, (70001, 3, 5), (70001, 5, 2), dtype)
    poison((70001, 3, 2), dtype)
    check_product(dlcore.bmm(a, b), a_held, b_held, dtype)


@pytest.mark.parametrize("dtype", [F16, BF16], ids=str)
def test_tensor_core_addmm_alpha_beta(dtype, rng):
    a, a_held, b, b_held = operands(rng, (77, 50), (50, 130), dtype, "tn")
    c, c_held = device_tensor(rng.uniform(-2, 2, size=(77, 130)), dtype)
    got = host(dlcore.addmm(c, a, b, beta=0.5, alpha=-2.0))
    want = 0.5 * c_held - 2.0 * (a_held @ b_held)
    terms = 2.0 * (np.abs(a_held) @ np.abs(b_held))
    bound = 2 * 50 * ACC_U[dtype] * terms + 2.0**-23 * 0.5 * np.abs(c_held) + OUT_U[dtype] * np.abs(want) + 1e-30
    assert (np.abs(got - want) <= bound).all()
    # k == 0: only beta * C is left
    e = dlcore.zeros((77, 0), dtype=dtype, device="cuda")
    f = dlcore.zeros((0, 130), dtype=dtype, device="cuda")
    got = host(dlcore.addmm(c, e, f, beta=0.5))
    np.testing.assert_allclose(got, 0.5 * c_held, rtol=OUT_U[dtype], atol=0)


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (33, 20, 7), (100, 257, 36), (1537, 40, 1411)], ids=str)
@pytest.mark.parametrize("layout", ["nn", "tn", "nt", "tt"])
def test_tf32_switch(m, k, n, layout, rng, tf32):
    a, a_held, b, b_held = operands(rng, (m, k), (k, n), F32, layout)
    want = a_held @ b_held
    fp32_bound = 2 * k * 2.0**-24 * np.matmul(np.abs(a_held), np.abs(b_held)) + 1e-30
    tf32(False)
    poison((m, n), F32)
    err = np.abs(host(a @ b) - want)
    assert (err <= fp32_bound).all(), "allow_tf32=False must give true float32"
    tf32(True)
    poison((m, n), F32)
    err = np.abs(host(a @ b) - want)
    assert (err <= tf32_bound(a_held, b_held)).all(), f"TF32 error {np.max(err / tf32_bound(a_held, b_held)):.2f}x"
    if m * n >= 100 and k >= 16:  # random 24-bit mantissas rounded to 11 bits: visible somewhere
        assert (err > fp32_bound).any(), "allow_tf32=True did not reach the kernel"


def test_tf32_batched_and_unaligned(rng, tf32):
    tf32(True)
    a, a_held, b, b_held = operands(rng, (4, 300, 61), (61, 130), F32, "tt")
    poison((4, 300, 130), F32)
    got = host(a @ b)
    assert (np.abs(got - a_held @ b_held) <= tf32_bound(a_held, b_held)).all()
    x, x_held = device_tensor(rng.uniform(-2, 2, size=(50, 31)), F32)
    x, x_held = x[1:], x_held[1:]  # 4 bytes off a 16-byte boundary, row stride 31
    got = host(x @ x.t())
    assert (np.abs(got - x_held @ x_held.T) <= tf32_bound(x_held, x_held.T)).all()
    # cp.async chunks straddling the k edge (row stride 64, k = 61)
    y, y_held = device_tensor(rng.uniform(-2, 2, size=(50, 64)), F32)
    y, y_held = y[:, :61], y_held[:, :61]
    got = host(y @ y.t())
    assert (np.abs(got - y_held @ y_held.T) <= tf32_bound(y_held, y_held.T)).all()


# ---- epilogue: bias and activation (Note [GEMM epilogue]) --------------------------------------

ERF = np.vectorize(math.erf)
ACTS = {
    "none": (lambda y: y, 0.0),
    "relu": (lambda y: np.maximum(y, 0.0), 1.0),
    "gelu": (lambda y: 0.5 * y * (1.0 + ERF(y / np.sqrt(2.0))), 1.13),
    "gelu_tanh": (lambda y: 0.5 * y * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (y + 0.044715 * y**3))), 1.13),
    "silu": (lambda y: y / (1.0 + np.exp(-y)), 1.1),
}


def linear_bound(x, w, bias, dtype, want, slope):
    k = x.shape[-1]
    u = 2.0**-23 if dtype in (F16, BF16) else 2.0**-24
    terms = np.abs(x) @ np.abs(w).T + (np.abs(bias) if bias is not None else 0.0)
    sum_err = 2 * (k + 1) * u * terms
    return max(slope, 1.0) * sum_err + (OUT_U[dtype] + 2.0**-21) * np.abs(want) + 2.0**-21 + 1e-30


@pytest.mark.parametrize("dtype", [F32, F16, BF16], ids=str)
@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("rows,fin,fout", [(1, 1, 1), (37, 20, 9), (300, 70, 129), (2000, 64, 256)], ids=str)
def test_linear_activation_epilogue(dtype, act, rows, fin, fout, rng):
    fn, slope = ACTS[act]
    x, x_held = device_tensor(rng.uniform(-2, 2, size=(rows, fin)), dtype)
    w, w_held = device_tensor(rng.uniform(-1, 1, size=(fout, fin)), dtype)
    bias, b_held = device_tensor(rng.uniform(-1, 1, size=(fout,)), dtype)
    want = fn(x_held @ w_held.T + b_held)
    poison((rows, fout), dtype)
    with dlcore.no_grad():
        got = dlcore._C._linear_activation(x, w, bias, act)
    assert got.is_cuda and got.dtype == dtype and tuple(got.shape) == (rows, fout)
    err = np.abs(host(got) - want)
    bound = linear_bound(x_held, w_held, b_held, dtype, want, slope)
    assert (err <= bound).all(), f"{act}: error {np.max(err / bound):.2f}x the bound"
    # without bias, and with a (2, rows/2...) batch folded into the rows
    if rows % 2 == 0:
        want = fn((x_held @ w_held.T).reshape(2, rows // 2, fout))
        with dlcore.no_grad():
            got = dlcore._C._linear_activation(x.reshape(2, rows // 2, fin), w, None, act)
        bound = linear_bound(x_held, w_held, None, dtype, want.reshape(rows, fout), slope).reshape(want.shape)
        assert (np.abs(host(got) - want) <= bound).all()


@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
def test_linear_bias_epilogue_matches_cpu(dtype, rng):
    # Linear's forward on CUDA adds the bias in the GEMM's epilogue (one launch); forward and
    # gradients against the same layer on the CPU (float32 there, from the same held values).
    x, x_held = device_tensor(rng.uniform(-2, 2, size=(3, 43, 70)), dtype)
    w, w_held = device_tensor(rng.uniform(-1, 1, size=(33, 70)), dtype)
    bias, b_held = device_tensor(rng.uniform(-1, 1, size=(33,)), dtype)
    g_np = rng.uniform(-1, 1, size=(3, 43, 33))
    g, g_held = device_tensor(g_np, dtype)
    for t in (x, w, bias):
        t.requires_grad_(True)
    y = dlcore.nn.functional.linear(x, w, bias)
    y.backward(g)
    want = x_held @ w_held.T + b_held
    bound = linear_bound(x_held.reshape(-1, 70), w_held, b_held, dtype, want.reshape(-1, 33), 1.0)
    assert (np.abs(host(y) - want) <= bound.reshape(want.shape)).all()
    g2 = g_held.reshape(-1, 33)
    u = ACC_U[dtype]
    for got, want, terms, k in ((x.grad, g_held @ w_held, np.abs(g_held) @ np.abs(w_held), 33),
                                (w.grad, g2.T @ x_held.reshape(-1, 70), np.abs(g2).T @ np.abs(x_held.reshape(-1, 70)),
                                 129),
                                (bias.grad, g2.sum(0), np.abs(g2).sum(0), 129)):
        bound = 2 * k * u * terms + OUT_U[dtype] * np.abs(want) + 1e-30
        assert (np.abs(host(got) - want) <= bound).all()


def test_linear_activation_with_grad_is_composed(rng):
    # With a graph to record, linear_activation is linear + the activation op: same gradients.
    x, _ = device_tensor(rng.uniform(-2, 2, size=(20, 16)), F32)
    w, _ = device_tensor(rng.uniform(-1, 1, size=(8, 16)), F32)
    b, _ = device_tensor(rng.uniform(-1, 1, size=(8,)), F32)
    for t in (x, w, b):
        t.requires_grad_(True)
    y = dlcore._C._linear_activation(x, w, b, "gelu_tanh")
    assert y.grad_fn is not None
    y.sum().backward()
    grads = [host(t.grad) for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    dlcore.nn.functional.gelu(dlcore.nn.functional.linear(x, w, b), approximate="tanh").sum().backward()
    for got, t in zip(grads, (x, w, b)):
        np.testing.assert_allclose(got, host(t.grad), rtol=1e-6, atol=1e-6)
