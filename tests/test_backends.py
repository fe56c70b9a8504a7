"""dlcore.backends (PyTorch's TF32 switches) and the GEMM epilogue on the CPU: the bias and
activation of dlcore._C._linear_activation (Note [GEMM epilogue]) and Linear with a bias.

Tolerances: float64 results are compared at 1e-12 relative to the sum of |terms|; float32 at
2 (k + 1) 2^-24 times that sum (Higham's recursive-summation bound with 2x slack) plus a few
float ulps of the activation.
"""
import math

import numpy as np
import pytest

import dlcore

F32, F64 = dlcore.float32, dlcore.float64


def test_allow_tf32_flags_round_trip():
    matmul, cudnn = dlcore.backends.cuda.matmul, dlcore.backends.cudnn
    before = (matmul.allow_tf32, cudnn.allow_tf32)
    assert before == (False, True)  # PyTorch's defaults
    try:
        matmul.allow_tf32 = True
        assert matmul.allow_tf32 is True and dlcore.backends.allow_tf32 is True
        dlcore.backends.allow_tf32 = False
        assert matmul.allow_tf32 is False
        cudnn.allow_tf32 = False
        assert cudnn.allow_tf32 is False and matmul.allow_tf32 is False
        cudnn.allow_tf32 = 1  # truthy values become bools
        assert cudnn.allow_tf32 is True
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = before
    with pytest.raises(AttributeError, match="allow_tf32"):
        matmul.allow_tf16 = True
    with pytest.raises(AttributeError):
        dlcore.backends.cudnn.alow_tf32


def test_tf32_switch_leaves_cpu_float32_alone(rng):
    a = rng.standard_normal((40, 70)).astype(np.float32)
    b = rng.standard_normal((70, 30)).astype(np.float32)
    exact = (dlcore.tensor(a) @ dlcore.tensor(b)).numpy()
    dlcore.backends.cuda.matmul.allow_tf32 = True
    try:
        np.testing.assert_array_equal((dlcore.tensor(a) @ dlcore.tensor(b)).numpy(), exact)
    finally:
        dlcore.backends.cuda.matmul.allow_tf32 = False


ERF = np.vectorize(math.erf)
ACTS = {
    "none": lambda y: y,
    "relu": lambda y: np.maximum(y, 0.0),
    "gelu": lambda y: 0.5 * y * (1.0 + ERF(y / np.sqrt(2.0))),
    "gelu_tanh": lambda y: 0.5 * y * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (y + 0.044715 * y**3))),
    "silu": lambda y: y / (1.0 + np.exp(-y)),
}


def bound(dtype, x, w, b, want):
    terms = np.abs(x) @ np.abs(w).T + (np.abs(b) if b is not None else 0.0)
    if dtype == F64:
        return 1e-12 * (terms + np.abs(want)) + 1e-300
    k = x.shape[-1]
    return 1.13 * 2 * (k + 1) * 2.0**-24 * terms + 2.0**-21 * (np.abs(want) + 1.0)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (2, 33, 40, 17)], ids=str)
def test_linear_activation_cpu(dtype, act, shape, rng):
    *lead, fin, fout = shape
    x_np = rng.uniform(-2, 2, size=(*lead, fin))
    w_np = rng.uniform(-1, 1, size=(fout, fin))
    b_np = rng.uniform(-1, 1, size=(fout,))
    x, w, b = (dlcore.tensor(v).to(dtype) for v in (x_np, w_np, b_np))
    for bias, b_ref in ((b, b_np), (None, None)):
        want = ACTS[act](x_np @ w_np.T + (b_ref if b_ref is not None else 0.0))
        with dlcore.no_grad():  # the fused epilogue (a pass over C on the CPU)
            got = dlcore._C._linear_activation(x, w, bias, act).numpy()
        assert got.dtype == (np.float32 if dtype == F32 else np.float64) and got.shape == want.shape
        err = np.abs(got - want)
        tol = bound(dtype, x_np.reshape(-1, fin), w_np, b_ref, want.reshape(-1, fout)).reshape(want.shape)
        assert (err <= tol).all(), f"{act}: error {np.max(err / tol):.2f}x the bound"


@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_tanh", "silu"])
def test_linear_activation_grad_matches_composition(act, rng):
    x = dlcore.tensor(rng.uniform(-2, 2, size=(6, 5)), requires_grad=True)
    w = dlcore.tensor(rng.uniform(-1, 1, size=(4, 5)), requires_grad=True)
    b = dlcore.tensor(rng.uniform(-1, 1, size=(4,)), requires_grad=True)
    g = dlcore.tensor(rng.uniform(-1, 1, size=(6, 4)))
    y = dlcore._C._linear_activation(x, w, b, act)
    y.backward(g)
    got = [t.grad.numpy().copy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    F = dlcore.nn.functional
    z = F.linear(x, w, b)
    ref = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"), "silu": F.silu}[act]
    ref(z).backward(g)
    np.testing.assert_allclose(y.detach().numpy(), ref(z).detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, t in zip(got, (x, w, b)):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_linear_activation_bad_arguments():
    x, w = dlcore.ones(3, 4), dlcore.ones(2, 4)
    with pytest.raises(ValueError, match="linear_activation: unknown activation 'tanh'"):
        dlcore._C._linear_activation(x, w, None, "tanh")
    with pytest.raises(ValueError, match=r"linear_activation: input has 4 features .* weight expects 5"):
        dlcore._C._linear_activation(x, dlcore.ones(2, 5), None, "relu")
    with pytest.raises(ValueError, match=r"linear_activation: bias must have shape \[2\]"):
        dlcore._C._linear_activation(x, w, dlcore.ones(3), "relu")
    with pytest.raises(TypeError, match="linear_activation: activations need a floating dtype"):
        dlcore._C._linear_activation(x.long(), w.long(), None, "gelu")


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_linear_with_bias_on_cpu(dtype, rng):
    # The CPU keeps the bias-then-accumulate path (beta = 1): forward and gradients against
    # float64 numpy.
    x_np = rng.uniform(-2, 2, size=(3, 29, 70))
    w_np = rng.uniform(-1, 1, size=(33, 70))
    b_np = rng.uniform(-1, 1, size=(33,))
    g_np = rng.uniform(-1, 1, size=(3, 29, 33))
    x, w, b = (dlcore.tensor(v).to(dtype).requires_grad_(True) for v in (x_np, w_np, b_np))
    y = dlcore.nn.functional.linear(x, w, b)
    y.backward(dlcore.tensor(g_np).to(dtype))
    want = x_np @ w_np.T + b_np
    tol = bound(dtype, x_np.reshape(-1, 70), w_np, b_np, want.reshape(-1, 33)).reshape(want.shape)
    assert (np.abs(y.detach().numpy() - want) <= tol).all()
    g2, x2 = g_np.reshape(-1, 33), x_np.reshape(-1, 70)
    rtol = 1e-12 if dtype == F64 else 2 * 88 * 2.0**-24
    for got, want, terms in ((x.grad, g_np @ w_np, np.abs(g_np) @ np.abs(w_np)),
                             (w.grad, g2.T @ x2, np.abs(g2).T @ np.abs(x2)),
                             (b.grad, g2.sum(0), np.abs(g2).sum(0))):
        assert (np.abs(got.numpy() - want) <= rtol * terms + 1e-300).all()
