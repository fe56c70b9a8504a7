"""Unary-family extras beyond the op table: the one-pass relu / leaky_relu backward on CPU
(Note [Fused relu backward] in cpp/src/ops/unary.cpp) against torch, on strided inputs and
gradients, with non-finite upstream gradients, and the formula path under create_graph.

relu's and leaky_relu's gradients are a selection (g or 0, g or slope * g): no rounding
except slope * g, so float64 results must match torch exactly and float32 ones to one
rounding of that product.
"""
import numpy as np
import pytest
import torch

import dlcore


def pair(a, grad=True):
    d = dlcore.tensor(a)
    t = torch.tensor(a)
    if grad:
        d.requires_grad_(True)
        t.requires_grad_(True)
    return d, t


OPS = [
    ("relu", lambda x: dlcore.relu(x), lambda x: torch.relu(x)),
    ("leaky_relu", lambda x: dlcore.leaky_relu(x, 0.2), lambda x: torch.nn.functional.leaky_relu(x, 0.2)),
]


@pytest.mark.parametrize("name,dfn,tfn", OPS, ids=[o[0] for o in OPS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7,), (33, 5), (2, 3, 40, 41)])
def test_backward_matches_torch(rng, name, dfn, tfn, dtype, shape):
    a = rng.standard_normal(shape).astype(dtype)
    a.flat[::3] = 0.0  # the kink: both give 0 (relu) / slope * g (leaky_relu) there
    g = rng.standard_normal(shape).astype(dtype)
    dx, tx = pair(a)
    dfn(dx).backward(dlcore.tensor(g))
    tfn(tx).backward(torch.tensor(g))
    tol = 0 if dtype == np.float64 else 1e-7
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=0)


@pytest.mark.parametrize("name,dfn,tfn", OPS, ids=[o[0] for o in OPS])
def test_backward_strided_input_and_grad(rng, name, dfn, tfn):
    """A transposed input and a transposed upstream gradient go through the same kernel."""
    a = rng.standard_normal((37, 19))
    g = rng.standard_normal((19, 37))
    dx, tx = pair(a)
    dgt = dlcore.tensor(g.T.copy()).t()  # (19, 37) view with strides (1, 19)
    assert not dgt.is_contiguous()
    dfn(dx.t()).backward(dgt)
    tfn(tx.t()).backward(torch.tensor(g.T.copy()).t())
    np.testing.assert_array_equal(dx.grad.numpy(), tx.grad.numpy())


def test_relu_backward_nonfinite_grad_is_cut():
    """Where the input was cut off the gradient is 0 even if the upstream one is inf or nan."""
    dx, tx = pair(np.array([-1.0, 2.0, -3.0, 0.0, 4.0]))
    g = np.array([np.inf, np.inf, np.nan, np.nan, -np.inf])
    dlcore.relu(dx).backward(dlcore.tensor(g))
    torch.relu(tx).backward(torch.tensor(g))
    np.testing.assert_array_equal(dx.grad.numpy(), [0.0, np.inf, 0.0, 0.0, -np.inf])
    np.testing.assert_array_equal(dx.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("name,dfn,tfn", OPS, ids=[o[0] for o in OPS])
def test_second_derivative_through_formula(rng, name, dfn, tfn):
    """Under create_graph the backward is the where() formula, whose result has history."""
    a = rng.standard_normal(11)
    dx, tx = pair(a)
    (gd,) = dlcore.autograd.grad([(dfn(dx) * dfn(dx)).sum()], [dx], create_graph=True)
    (gt,) = torch.autograd.grad((tfn(tx) * tfn(tx)).sum(), [tx], create_graph=True)
    assert gd.requires_grad
    np.testing.assert_allclose(gd.detach().numpy(), gt.detach().numpy(), rtol=1e-15)
    (gd * dlcore.tensor(a)).sum().backward()
    (gt * torch.tensor(a)).sum().backward()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-15)
