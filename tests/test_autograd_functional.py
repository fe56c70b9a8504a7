"""autograd.functional (vjp, jvp, jacobian, hessian, vhp, hvp) against torch.autograd.functional."""
import numpy as np
import pytest

import dlcore

torch = pytest.importorskip("torch")

DF, TF = dlcore.autograd.functional, torch.autograd.functional
A = np.array([[0.3, -1.2, 0.8], [1.5, 0.4, -0.7]])
B = np.array([0.9, -0.2, 0.5])


def both(*arrays):
    """The arrays as float64 tensors for dlcore and for torch."""
    return (tuple(dlcore.tensor(a, dtype=dlcore.float64) for a in arrays),
            tuple(torch.tensor(a, dtype=torch.float64) for a in arrays))


def close(d, t, tol=1e-10):
    if isinstance(t, tuple):
        assert isinstance(d, tuple) and len(d) == len(t)
        for a, b in zip(d, t):
            close(a, b, tol)
        return
    assert tuple(d.shape) == tuple(t.shape)
    np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol)


def f_single(x):
    return (x.exp() * x).sin()


def f_pair(x, y):
    return (x * y).tanh(), (x @ y).sum(0, keepdim=True) if x.dim() == 1 else x.sum()


def f_matvec(m, v):
    return (m @ v).exp(), (m * m).sum()


def scalar(x, y):
    return (x.sin() * y).sum() + (x ** 3).sum() * y.sum()


def test_jacobian_single_input_output():
    (x,), (xt,) = both(A)
    close(DF.jacobian(f_single, x), TF.jacobian(f_single, xt))


def test_jacobian_tuple_inputs_and_outputs():
    (m, v), (mt, vt) = both(A, B)
    close(DF.jacobian(f_matvec, (m, v)), TF.jacobian(f_matvec, (mt, vt)))
    close(DF.jacobian(f_matvec, (m, v), vectorize=True), TF.jacobian(f_matvec, (mt, vt), vectorize=True))


def test_jacobian_independent_input_strict_and_not():
    (m, v), (mt, vt) = both(A, B)

    def g(m, v):
        return m * 2

    close(DF.jacobian(g, (m, v)), TF.jacobian(g, (mt, vt)))
    with pytest.raises(RuntimeError, match="independent of input 1"):
        DF.jacobian(g, (m, v), strict=True)


def test_jacobian_create_graph_is_differentiable():
    x = dlcore.tensor(B, dtype=dlcore.float64, requires_grad=True)
    xt = torch.tensor(B, dtype=torch.float64, requires_grad=True)
    j = DF.jacobian(f_single, x, create_graph=True)
    jt = TF.jacobian(f_single, xt, create_graph=True)
    assert j.requires_grad
    close(j, jt)
    j.sum().backward()
    jt.sum().backward()
    close(x.grad, xt.grad)
    assert not DF.jacobian(f_single, x).requires_grad


def test_jacobian_strategy_errors_and_bad_inputs():
    (x,), _ = both(B)
    with pytest.raises(ValueError, match="requires vectorize=True"):
        DF.jacobian(f_single, x, strategy="forward-mode")
    with pytest.raises(NotImplementedError, match="forward-mode"):
        DF.jacobian(f_single, x, strategy="forward-mode", vectorize=True)
    with pytest.raises(ValueError, match="strategy"):
        DF.jacobian(f_single, x, strategy="sideways")
    with pytest.raises(TypeError, match="jacobian: the inputs must be a Tensor or a tuple of Tensors, got list"):
        DF.jacobian(f_single, [x])
    with pytest.raises(TypeError, match="outputs of the user-provided function .* got float"):
        DF.jacobian(lambda t: 1.0, x)


def test_jacobian_zero_size_output():
    # torch's jacobian fails here (stack of no rows); the Jacobian of a zero-size output is empty
    (x,), _ = both(B)
    j = DF.jacobian(lambda t: t[:0] * 2, x)
    assert tuple(j.shape) == (0, 3) and j.dtype == dlcore.float64


def test_hessian_matches_torch():
    (x, y), (xt, yt) = both(B, B[::-1].copy())
    close(DF.hessian(scalar, (x, y)), TF.hessian(scalar, (xt, yt)))
    close(DF.hessian(lambda t: (t ** 3).sum() + t.prod(), x), TF.hessian(lambda t: (t ** 3).sum() + t.prod(), xt))


def test_hessian_requires_scalar_function():
    (x,), _ = both(B)
    with pytest.raises(RuntimeError, match="one element"):
        DF.hessian(lambda t: t * 2, x)
    with pytest.raises(RuntimeError, match="single tensor"):
        DF.hessian(lambda t: (t.sum(), t.sum()), x)


def test_vjp_and_jvp_match_torch():
    (m, v), (mt, vt) = both(A, B)
    (u1, u2), (u1t, u2t) = both(np.array([1.0, -2.0]), np.array(3.0))
    close(DF.vjp(f_matvec, (m, v), (u1, u2)), TF.vjp(f_matvec, (mt, vt), (u1t, u2t)))
    (dm, dv), (dmt, dvt) = both(A[::-1].copy(), B * 2)
    close(DF.jvp(f_matvec, (m, v), (dm, dv)), TF.jvp(f_matvec, (mt, vt), (dmt, dvt)))
    (x,), (xt,) = both(B)
    close(DF.vjp(lambda t: (t * t).sum(), x), TF.vjp(lambda t: (t * t).sum(), xt))


def test_vjp_jvp_v_checks():
    (m, v), _ = both(A, B)
    with pytest.raises(RuntimeError, match="v can only be None"):
        DF.vjp(f_matvec, (m, v))
    with pytest.raises(RuntimeError, match="v can only be None"):
        DF.jvp(f_matvec, (m, v))
    with pytest.raises(RuntimeError, match=r"entry 1 of v has shape \[2\] but \[3\] was expected"):
        DF.jvp(f_matvec, (m, v), (m, v[:2]))
    with pytest.raises(RuntimeError, match="v has 1 entries but 2 were expected"):
        DF.vjp(f_matvec, (m, v), (v,))


def test_vhp_hvp_match_torch():
    (x, y), (xt, yt) = both(B, B[::-1].copy())
    (v1, v2), (v1t, v2t) = both(np.array([1.0, 0.5, -1.0]), np.array([0.2, 0.0, 2.0]))
    close(DF.vhp(scalar, (x, y), (v1, v2)), TF.vhp(scalar, (xt, yt), (v1t, v2t)))
    close(DF.hvp(scalar, (x, y), (v1, v2)), TF.hvp(scalar, (xt, yt), (v1t, v2t)))


def test_vjp_create_graph_keeps_history_to_caller_inputs():
    x = dlcore.tensor(B, dtype=dlcore.float64, requires_grad=True)
    xt = torch.tensor(B, dtype=torch.float64, requires_grad=True)
    _, g = DF.vjp(lambda t: (t ** 3).sum(), x, create_graph=True)
    _, gt = TF.vjp(lambda t: (t ** 3).sum(), xt, create_graph=True)
    g.sum().backward()
    gt.sum().backward()
    close(x.grad, xt.grad)


def test_strict_mode_independent_output():
    (x,), _ = both(B)
    with pytest.raises(RuntimeError, match="does not require grad"):
        DF.vjp(lambda t: dlcore.ones(3, dtype=dlcore.float64), x, dlcore.ones(3, dtype=dlcore.float64),
               strict=True)
    _, g = DF.vjp(lambda t: dlcore.ones(3, dtype=dlcore.float64), x, dlcore.ones(3, dtype=dlcore.float64))
    np.testing.assert_array_equal(g.numpy(), np.zeros(3))
