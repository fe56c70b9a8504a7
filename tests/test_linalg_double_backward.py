"""Second derivatives through dlcore.linalg against torch.

Each check forms g = d(sum(w * out)) / dx with create_graph=True, then differentiates
sum(v * g) again (w, v fixed random weights), on dlcore and torch alike, and compares the
first and second derivatives. Inputs are float64 and well conditioned (singular values in
[1, 3], or SPD with eigenvalues >= 1, or spectra with gaps >= 1), so both libraries agree to
~1e-12 relative; 1e-8 leaves room for the condition numbers, which enter squared in a second
derivative. Outputs defined up to sign are compared through sign-invariant functions of them.
"""
import numpy as np
import pytest

import dlcore
import dlcore._linalg_torch  # noqa: F401  (installs the Tensor methods)
import dlcore.linalg as LA
from dlcore.autograd.functional import hessian

torch = pytest.importorskip("torch")

TOL = 1e-8


def _tuple(x):
    return tuple(x) if isinstance(x, tuple) else (x,)


def _weighted(outs, weights, lib):
    total = 0
    for o, w in zip(outs, weights):
        if w is not None:
            total = total + (o * lib.tensor(w)).sum()
    return total


def check2(fn_d, fn_t, *arrays, seed=0):
    """The first and second derivatives of sum(w * fn(x)) agree between dlcore and torch."""
    rng = np.random.default_rng(seed)
    ds = [dlcore.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    outs_d, outs_t = _tuple(fn_d(*ds)), _tuple(fn_t(*ts))
    assert len(outs_d) == len(outs_t)
    ws = [rng.standard_normal(tuple(ot.shape)) if ot.dtype.is_floating_point and ot.requires_grad else None
          for ot in outs_t]
    assert any(w is not None for w in ws)
    g_d = dlcore.autograd.grad(_weighted(outs_d, ws, dlcore), ds, create_graph=True)
    g_t = torch.autograd.grad(_weighted(outs_t, ws, torch), ts, create_graph=True)
    vs = [rng.standard_normal(a.shape) for a in arrays]
    for gd, gt in zip(g_d, g_t):
        np.testing.assert_allclose(gd.detach().numpy(), gt.detach().numpy(), atol=TOL, rtol=TOL)
    gg_d = dlcore.autograd.grad(_weighted(g_d, vs, dlcore), ds, allow_unused=True)
    gg_t = torch.autograd.grad(_weighted(g_t, vs, torch), ts, allow_unused=True)
    for gd, gt in zip(gg_d, gg_t):
        assert (gd is None) == (gt is None)
        if gt is not None:
            assert np.abs(gt.numpy()).max() > 1e-6  # a second derivative that is there to compare
            np.testing.assert_allclose(gd.numpy(), gt.numpy(), atol=TOL, rtol=TOL)


def well(rng, *shape):
    """Random matrices with singular values in [1, 3]."""
    u, _, vh = np.linalg.svd(rng.standard_normal(shape), full_matrices=False)
    return (u * rng.uniform(1, 3, size=shape[:-2] + (min(shape[-2:]),))[..., None, :]) @ vh


def spd(rng, *shape):
    a = rng.standard_normal(shape)
    return a @ np.swapaxes(a, -1, -2) / shape[-1] + np.eye(shape[-1])


def separated(rng, *shape):
    """Symmetric matrices with eigenvalues 1, 2, ..., n (gaps of 1)."""
    q, _ = np.linalg.qr(rng.standard_normal(shape))
    return (q * np.arange(1.0, shape[-1] + 1)) @ np.swapaxes(q, -1, -2)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# ---- inverses, solves, determinants ---------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4)])
def test_inv_det_slogdet(rng, shape):
    a = well(rng, *shape)
    check2(LA.inv, torch.linalg.inv, a)
    check2(lambda x: LA.inv_ex(x).inverse, lambda x: torch.linalg.inv_ex(x).inverse, a)
    check2(LA.det, torch.linalg.det, a)
    check2(lambda x: LA.slogdet(x).logabsdet, lambda x: torch.linalg.slogdet(x).logabsdet, a)
    check2(lambda x: LA.matrix_power(x, -2), lambda x: torch.linalg.matrix_power(x, -2), a)


def test_torch_level_determinants_and_inverses(rng):
    s = spd(rng, 2, 3, 3)
    check2(lambda x: x.logdet(), lambda x: x.logdet(), s)
    check2(lambda x: dlcore.cholesky_inverse(LA.cholesky(x)),
           lambda x: torch.cholesky_inverse(torch.linalg.cholesky(x)), s)


@pytest.mark.parametrize("left", [True, False])
def test_solve(rng, left):
    a, b = well(rng, 2, 4, 4), rng.standard_normal((2, 4, 3) if left else (2, 3, 4))
    check2(lambda x, y: LA.solve(x, y, left=left), lambda x, y: torch.linalg.solve(x, y, left=left), a, b)


def test_solve_broadcast_batch_and_vector(rng):
    a, b = well(rng, 4, 4), rng.standard_normal((3, 4, 2))
    check2(LA.solve, torch.linalg.solve, a, b)
    a, b = well(rng, 2, 4, 4), rng.standard_normal((2, 4))
    check2(LA.solve, torch.linalg.solve, a, b)


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular(rng, upper, left, unit):
    a = well(rng, 2, 4, 4) + 3 * np.eye(4)
    b = rng.standard_normal((2, 4, 3) if left else (2, 3, 4))
    check2(lambda x, y: LA.solve_triangular(x, y, upper=upper, left=left, unitriangular=unit),
           lambda x, y: torch.linalg.solve_triangular(x, y, upper=upper, left=left, unitriangular=unit), a, b)


def test_det_second_derivative_at_a_singular_matrix_raises():
    x = dlcore.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=dlcore.float64, requires_grad=True)
    (g,) = dlcore.autograd.grad(LA.det(x), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)
    with pytest.raises(RuntimeError, match="linalg.det: the second derivative at a singular"):
        dlcore.autograd.grad(g.sum(), x)


def test_hessian_of_logdet_matches_torch(rng):
    s = spd(rng, 3, 3)
    h_d = hessian(lambda x: LA.slogdet(x).logabsdet, dlcore.tensor(s))
    h_t = torch.autograd.functional.hessian(lambda x: torch.linalg.slogdet(x).logabsdet, torch.tensor(s))
    np.testing.assert_allclose(h_d.numpy(), h_t.numpy(), atol=TOL, rtol=TOL)


# ---- factorisations -------------------------------------------------------------------------------
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(rng, upper):
    s = spd(rng, 2, 4, 4)
    check2(lambda x: LA.cholesky(x, upper=upper), lambda x: torch.linalg.cholesky(x, upper=upper), s)
    check2(lambda x: LA.cholesky_ex(x).L, lambda x: torch.linalg.cholesky_ex(x).L, s)


def test_cholesky_solve(rng):
    s, b = spd(rng, 2, 3, 3), rng.standard_normal((2, 3, 2))
    check2(lambda x, y: dlcore.cholesky_solve(y, LA.cholesky(x)),
           lambda x, y: torch.cholesky_solve(y, torch.linalg.cholesky(x)), s, b)


@pytest.mark.parametrize("shape", [(4, 4), (2, 5, 3), (3, 5)])
def test_lu(rng, shape):
    a = well(rng, *shape)
    check2(lambda x: LA.lu(x)[1:], lambda x: torch.linalg.lu(x)[1:], a)
    check2(lambda x: LA.lu_factor(x).LU if shape[-1] == shape[-2] else LA.lu_factor_ex(x).LU,
           lambda x: torch.linalg.lu_factor_ex(x).LU, a)


@pytest.mark.parametrize("adjoint", [False, True])
@pytest.mark.parametrize("left", [True, False])
def test_lu_solve(rng, adjoint, left):
    a = well(rng, 2, 4, 4)
    b = rng.standard_normal((2, 4, 3) if left else (2, 3, 4))

    def fn(lib):
        def f(x, y):
            LU_, piv = lib.linalg.lu_factor(x)
            return lib.linalg.lu_solve(LU_, piv, y, left=left, adjoint=adjoint)
        return f

    check2(fn(dlcore), fn(torch), a, b)


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 4), (3, 5)])
def test_qr(rng, shape):
    a = well(rng, *shape)
    check2(LA.qr, torch.linalg.qr, a)
    if shape[-2] <= shape[-1]:
        check2(lambda x: LA.qr(x, mode="complete"), lambda x: torch.linalg.qr(x, mode="complete"), a)


# ---- spectral decompositions ----------------------------------------------------------------------
def _eigh_inv(w, v):
    return w, v * v


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(rng, uplo):
    a = separated(rng, 2, 4, 4)
    check2(lambda x: _eigh_inv(*LA.eigh(x, UPLO=uplo)), lambda x: _eigh_inv(*torch.linalg.eigh(x, UPLO=uplo)), a)
    check2(lambda x: LA.eigvalsh(x, UPLO=uplo), lambda x: torch.linalg.eigvalsh(x, UPLO=uplo), a)


def test_eig_real_spectrum(rng):
    p = well(rng, 4, 4)
    a = p @ np.diag([4.0, -1.0, 2.0, 0.5]) @ np.linalg.inv(p)
    order = np.argsort(np.linalg.eigvals(a).real).tolist()

    def fn(lib):
        def f(x):
            w, v = lib.linalg.eig(x)
            w, v = (w.real, v.real) if lib is torch else (w, v)
            return w[order], (v * v)[:, order]
        return f

    check2(fn(dlcore), fn(torch), a)


def _svd_inv(u, s, vh):
    return u * u, s, vh * vh


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 4), (3, 5)])
def test_svd(rng, shape):
    a = well(rng, *shape)
    check2(lambda x: _svd_inv(*LA.svd(x, full_matrices=False)),
           lambda x: _svd_inv(*torch.linalg.svd(x, full_matrices=False)), a)
    check2(LA.svdvals, torch.linalg.svdvals, a)
    check2(lambda x: LA.matrix_norm(x, "nuc"), lambda x: torch.linalg.matrix_norm(x, "nuc"), a)
    check2(LA.cond, torch.linalg.cond, a)


def test_svd_vectors_only(rng):
    a = well(rng, 4, 3)
    check2(lambda x: LA.svd(x, full_matrices=False).U ** 2, lambda x: torch.linalg.svd(x, full_matrices=False).U ** 2,
           a)


# ---- pseudo-inverse and least squares -------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)])
def test_pinv(rng, shape):
    a = well(rng, *shape)
    check2(LA.pinv, torch.linalg.pinv, a)


def test_pinv_hermitian(rng):
    a = separated(rng, 4, 4)
    check2(lambda x: LA.pinv(x, hermitian=True), lambda x: torch.linalg.pinv(x, hermitian=True), a)


def test_lstsq(rng):
    a, b = well(rng, 6, 3), rng.standard_normal((6, 2))
    check2(lambda x, y: LA.lstsq(x, y).solution, lambda x, y: torch.linalg.lstsq(x, y).solution, a, b)
    check2(lambda x, y: LA.lstsq(x, y, driver="gelsd").residuals,
           lambda x, y: torch.linalg.lstsq(x, y, driver="gelsd").residuals, a, b)


# ---- operations torch does not differentiate ------------------------------------------------------
def test_not_differentiable_operations_raise_on_backward(rng):
    s = spd(rng, 3, 3)
    x = dlcore.tensor(s, requires_grad=True)
    LD, piv = LA.ldl_factor(x.detach())
    b = dlcore.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    for name, out in [("geqrf", dlcore.geqrf(x)[0]), ("linalg.ldl_factor", LA.ldl_factor(x).LD),
                      ("linalg.ldl_solve", LA.ldl_solve(LD, piv, b))]:
        assert out.requires_grad
        with pytest.raises(RuntimeError, match=f"{name}: the derivative is not implemented"):
            out.sum().backward()
    assert not LA.ldl_factor(x).pivots.requires_grad
    np.testing.assert_allclose(LA.ldl_solve(LD, piv, b).detach().numpy(), np.linalg.solve(s, b.detach().numpy()),
                               atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 0, 0), (0, 3, 3)])
def test_empty_batches_differentiate(shape):
    for fn in (LA.inv, LA.det, lambda t: LA.slogdet(t).logabsdet, LA.cholesky, LA.pinv, LA.svdvals, LA.eigvalsh,
               lambda t: LA.lu(t).U, lambda t: LA.qr(t).R, lambda t: LA.solve(t, t)):
        x = dlcore.zeros(*shape, dtype=dlcore.float64, requires_grad=True)
        (g,) = dlcore.autograd.grad(fn(x).sum(), x, allow_unused=True)
        assert g is not None and tuple(g.shape) == shape
