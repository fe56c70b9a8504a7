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


# ---- NaN propagates through the rectifiers, as in PyTorch -----------------------------------------

def _nan_input(dtype):
    """(3, 37) values with NaNs at the start, the middle and the tail of rows (vector lanes and the
    scalar remainder), among negatives, zeros of both signs, infinities and positives."""
    a = np.linspace(-3.0, 3.0, 3 * 37).reshape(3, 37)
    a[:, 5] = -0.0
    a[:, 6] = 0.0
    a[:, 7], a[:, 8] = -np.inf, np.inf
    for r, c in [(0, 0), (0, 17), (1, 31), (1, 36), (2, 9), (2, 35), (2, 36)]:
        a[r, c] = np.nan
    a[1, 20] = -np.nan  # the sign bit set
    return a.astype(dtype)


def _inplace(fn):
    def run(t):
        t = t.clone()
        out = fn(t)
        assert out is t or out.data_ptr() == t.data_ptr()
        return t
    return run


_F = dlcore.nn.functional
NAN_OPS = [
    ("relu", dlcore.relu, torch.relu),
    ("Tensor.relu", lambda x: x.relu(), lambda x: x.relu()),
    ("F.relu", _F.relu, torch.nn.functional.relu),
    ("nn.ReLU", dlcore.nn.ReLU(), torch.nn.ReLU()),
    ("nn.ReLU(inplace)", dlcore.nn.ReLU(inplace=True), torch.nn.ReLU(inplace=True)),
    ("leaky_relu", lambda x: dlcore.leaky_relu(x, 0.2), lambda x: torch.nn.functional.leaky_relu(x, 0.2)),
    ("F.leaky_relu", _F.leaky_relu, torch.nn.functional.leaky_relu),
    ("nn.LeakyReLU", dlcore.nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)),
    ("clamp(min=0)", lambda x: dlcore.clamp(x, min=0), lambda x: torch.clamp(x, min=0)),
    ("Tensor.clamp(min=0)", lambda x: x.clamp(min=0), lambda x: x.clamp(min=0)),
    ("F.hardtanh", _F.hardtanh, torch.nn.functional.hardtanh),
    ("nn.Hardtanh", dlcore.nn.Hardtanh(-2.0, 2.0), torch.nn.Hardtanh(-2.0, 2.0)),
    ("F.relu6", _F.relu6, torch.nn.functional.relu6),
    ("nn.ReLU6", dlcore.nn.ReLU6(), torch.nn.ReLU6()),
]
# the in-place forms, where this build has them
for _name, _get in [("relu_", lambda: dlcore.relu_), ("Tensor.relu_", lambda: dlcore.Tensor.relu_),
                    ("F.relu(inplace)", lambda: (lambda x: _F.relu(x, inplace=True))),
                    ("Tensor.clamp_(min=0)", lambda: (lambda x: dlcore.Tensor.clamp_(x, min=0)))]:
    try:
        _fn = _get()
        _fn(dlcore.zeros(1))
    except (AttributeError, TypeError):
        continue
    NAN_OPS.append((_name, _inplace(_fn), lambda x: torch.relu(x)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,dfn,tfn", NAN_OPS, ids=[o[0] for o in NAN_OPS])
def test_rectifiers_propagate_nan_like_torch(name, dfn, tfn, dtype):
    a = _nan_input(dtype)
    got = dfn(dlcore.tensor(a)).numpy()
    want = tfn(torch.tensor(a)).numpy()
    assert got.dtype == want.dtype
    assert np.array_equal(np.isnan(got), np.isnan(a)), f"{name}: NaN became {got[np.isnan(a)]}"
    np.testing.assert_array_equal(got, want)
    # a strided (transposed) input takes the same kernel path
    got_t = dfn(dlcore.tensor(a).t()).numpy()
    np.testing.assert_array_equal(got_t, tfn(torch.tensor(a).t()).numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_then_relu_propagates_nan_like_torch(dtype):
    """The GEMM with relu in its epilogue (dlcore._C._linear_activation, taken without a graph)
    and the composed path (with a graph) both keep the NaN rows that linear produces."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (6, 9)).astype(dtype)
    x[1, 3] = np.nan   # NaN in an input row: the whole output row is NaN
    w = rng.uniform(-1, 1, (21, 9)).astype(dtype)
    b = rng.uniform(-1, 1, 21).astype(dtype)
    b[4] = np.nan      # NaN in a bias: the whole output column is NaN
    want = torch.relu(torch.nn.functional.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b))).numpy()
    assert np.isnan(want[1]).all() and np.isnan(want[:, 4]).all()
    xd, wd, bd = dlcore.tensor(x), dlcore.tensor(w), dlcore.tensor(b)
    tol = 1e-5 if dtype == np.float32 else 1e-12   # the GEMMs sum in different orders

    def check(got, path):
        assert np.array_equal(np.isnan(got), np.isnan(want)), f"{path}: {np.isnan(want).sum()} NaNs expected, " \
            f"{np.isnan(got).sum()} kept"
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=path)

    with dlcore.no_grad():
        check(dlcore._C._linear_activation(xd, wd, bd, "relu").numpy(), "fused epilogue")
    check(dlcore._C._linear_activation(xd.requires_grad_(), wd, bd, "relu").detach().numpy(), "composed")
    layer = dlcore.nn.Sequential(dlcore.nn.Linear(9, 21), dlcore.nn.ReLU()).to(
        dlcore.float32 if dtype == np.float32 else dlcore.float64)
    with dlcore.no_grad():
        layer[0].weight.copy_(dlcore.tensor(w))
        layer[0].bias.copy_(dlcore.tensor(b))
    check(layer(dlcore.tensor(x)).detach().numpy(), "Linear + ReLU")
