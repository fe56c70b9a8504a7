"""dlcore.linalg and the torch-level linear algebra against torch: values, gradients (through a
random linear functional of every output), batching, errors and edge cases.

Tolerances: float64 inputs of moderate condition (well-conditioned random matrices, or SPD
matrices with eigenvalues >= 1), so results agree to ~1e-12 relative; 1e-9 leaves room for the
condition numbers. float32 forward checks use 1e-4 (float32 rounding times the condition number).
Outputs defined up to sign (singular and eigen vectors) are compared through sign-invariant
functions of them (elementwise squares, projectors).
"""
import math

import numpy as np
import pytest

import dlcore
import dlcore._linalg_torch  # noqa: F401  (installs the Tensor methods)
import dlcore.linalg as LA

torch = pytest.importorskip("torch")

ATOL = 1e-9


def _tuple(x):
    return tuple(x) if isinstance(x, tuple) else (x,)


def check(fn_d, fn_t, *arrays, grad=True, atol=ATOL, rtol=1e-9):
    """fn_d(dlcore tensors) == fn_t(torch tensors), and so are the gradients of sum(w * out)."""
    ds = [dlcore.tensor(a, requires_grad=grad) for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad) for a in arrays]
    outs_d, outs_t = _tuple(fn_d(*ds)), _tuple(fn_t(*ts))
    assert len(outs_d) == len(outs_t)
    for od, ot in zip(outs_d, outs_t):
        assert tuple(od.shape) == tuple(ot.shape)
        np.testing.assert_allclose(od.detach().numpy(), ot.detach().numpy(), atol=atol, rtol=rtol)
    if not grad:
        return
    rng = np.random.default_rng(1)
    loss_d = loss_t = 0
    for od, ot in zip(outs_d, outs_t):
        if ot.dtype.is_floating_point and ot.requires_grad:
            w = rng.standard_normal(tuple(ot.shape))
            loss_d = loss_d + (od * dlcore.tensor(w)).sum()
            loss_t = loss_t + (ot * torch.tensor(w)).sum()
    loss_d.backward()
    loss_t.backward()
    for d, t in zip(ds, ts):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), atol=atol * 10, rtol=1e-7)


def well(rng, *shape):
    """Random matrices with singular values in [1, 3] (condition number <= 3)."""
    a = rng.standard_normal(shape)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    s = rng.uniform(1, 3, size=shape[:-2] + (min(shape[-2:]),))
    return (u * s[..., None, :]) @ vh


def spd(rng, *shape):
    a = rng.standard_normal(shape)
    return a @ np.swapaxes(a, -1, -2) / shape[-1] + np.eye(shape[-1])


# ---- inverses, solves, determinants ---------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 5, 5), (1, 1)])
def test_inv_det_slogdet(rng, shape):
    a = well(rng, *shape)
    check(LA.inv, torch.linalg.inv, a)
    check(LA.det, torch.linalg.det, a)
    check(lambda x: LA.slogdet(x), lambda x: tuple(torch.linalg.slogdet(x)), a)
    check(lambda x: LA.inv_ex(x).inverse, lambda x: torch.linalg.inv_ex(x).inverse, a)


def test_det_gradient_of_singular_matrix_is_the_cofactor_matrix():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 10.0 - 1.0]])  # rank 2
    cof = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) for j in range(3)]
                    for i in range(3)])
    x = dlcore.tensor(a, requires_grad=True)
    d = LA.det(x)
    d.backward()
    assert abs(d.item()) < 1e-12
    assert np.abs(cof).max() > 1
    np.testing.assert_allclose(x.grad.numpy(), cof, atol=1e-12)


def test_inverse_of_view(rng):
    a = well(rng, 2, 4, 4)
    check(lambda x: LA.inv(x.transpose(-2, -1)[..., ::1, :]), lambda x: torch.linalg.inv(x.mT), a)


def test_singular_inputs_raise_linalg_error():
    assert issubclass(LA.LinAlgError, RuntimeError)
    sing = dlcore.zeros(2, 3, 3, dtype=dlcore.float64)
    with pytest.raises(LA.LinAlgError, match="linalg.inv.*singular"):
        LA.inv(sing)
    with pytest.raises(LA.LinAlgError, match="singular"):
        LA.solve(sing, dlcore.ones(2, 3, dtype=dlcore.float64))
    with pytest.raises(LA.LinAlgError, match="positive-definite"):
        LA.cholesky(-dlcore.eye(3, dtype=dlcore.float64))
    info = LA.inv_ex(sing).info
    assert info.dtype == dlcore.int32 and info.tolist() == [1, 1]
    chol = LA.cholesky_ex(dlcore.tensor(np.diag([1.0, 2.0, -1.0])))
    assert chol.info.item() == 3
    assert LA.solve_ex(sing, dlcore.ones(3, 1, dtype=dlcore.float64)).info.tolist() == [1, 1]
    with pytest.raises(RuntimeError, match="U\\[1,1\\] is zero"):
        LA.lu_factor(dlcore.zeros(3, 3, dtype=dlcore.float64))


def test_argument_errors():
    a = dlcore.ones(2, 3, dtype=dlcore.float64)
    with pytest.raises(RuntimeError, match="linalg.inv.*square.*\\[2, 3\\]"):
        LA.inv(a)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        LA.det(dlcore.ones(3, dtype=dlcore.float64))
    with pytest.raises(RuntimeError, match="float32 or float64"):
        LA.inv(dlcore.ones(3, 3, dtype=dlcore.int64))
    with pytest.raises(RuntimeError, match="incompatible shapes"):
        LA.solve(dlcore.eye(3, dtype=dlcore.float64), dlcore.ones(4, dtype=dlcore.float64))
    with pytest.raises(RuntimeError, match="same dtype"):
        LA.solve(dlcore.eye(3, dtype=dlcore.float64), dlcore.ones(3))
    with pytest.raises(RuntimeError, match="unrecognized mode"):
        LA.qr(a, mode="x")
    with pytest.raises(RuntimeError, match="UPLO"):
        LA.eigh(dlcore.eye(3), UPLO="x")
    with pytest.raises(TypeError, match="Tensor"):
        LA.inv(np.eye(3))
    with pytest.raises(RuntimeError, match="matrix_power.*square"):
        LA.matrix_power(dlcore.ones(2, 3), 2)
    with pytest.raises(TypeError, match="int"):
        LA.matrix_power(dlcore.eye(2), 1.5)
    with pytest.raises(RuntimeError, match="do not broadcast"):
        LA.solve(dlcore.eye(3).expand(2, 3, 3), dlcore.ones(3, 3, 1))
    with pytest.raises(RuntimeError, match="pivots"):
        LA.lu_solve(dlcore.eye(3), dlcore.tensor([1, 2, 7], dtype=dlcore.int32), dlcore.ones(3, 1))


@pytest.mark.parametrize("left", [True, False])
def test_solve(rng, left):
    a = well(rng, 2, 4, 4)
    b = rng.standard_normal((2, 4, 3) if left else (2, 3, 4))
    check(lambda x, y: LA.solve(x, y, left=left), lambda x, y: torch.linalg.solve(x, y, left=left), a, b)
    v = rng.standard_normal((2, 4))
    if left:
        check(LA.solve, torch.linalg.solve, a, v)
    else:  # B is a batch of vectors only for A X = B, as in torch
        with pytest.raises(RuntimeError, match="incompatible shapes"):
            LA.solve(dlcore.tensor(a), dlcore.tensor(v), left=False)


def test_solve_broadcasts_batches(rng):
    a, b = well(rng, 3, 1, 4, 4), rng.standard_normal((2, 4, 2))
    check(LA.solve, torch.linalg.solve, a, b)
    check(lambda x, y: LA.solve_ex(x, y).result, lambda x, y: torch.linalg.solve_ex(x, y).result, a, b)


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unit", [True, False])
def test_solve_triangular(rng, upper, left, unit):
    a = np.triu(well(rng, 2, 4, 4)) + 3 * np.eye(4)
    a = a if upper else np.swapaxes(a, -1, -2)
    a = a + rng.standard_normal(a.shape) * 0.1  # the other triangle must be ignored
    b = rng.standard_normal((2, 4, 3) if left else (2, 3, 4))
    kw = dict(upper=upper, left=left, unitriangular=unit)
    check(lambda x, y: LA.solve_triangular(x, y, **kw), lambda x, y: torch.linalg.solve_triangular(x, y, **kw), a, b)


def test_float32(rng):
    a = well(rng, 3, 4, 4).astype(np.float32)
    d = dlcore.tensor(a)
    for fn, tfn in [(LA.inv, torch.linalg.inv), (LA.det, torch.linalg.det), (LA.svdvals, torch.linalg.svdvals),
                    (LA.matrix_exp, torch.linalg.matrix_exp)]:
        out = fn(d)
        assert out.dtype == dlcore.float32
        np.testing.assert_allclose(out.numpy(), tfn(torch.tensor(a)).numpy(), rtol=1e-4, atol=1e-4)
    for fn, tfn in [(LA.inv, torch.linalg.inv), (LA.det, torch.linalg.det), (LA.svdvals, torch.linalg.svdvals),
                    (LA.cholesky, torch.linalg.cholesky), (lambda x: LA.eigh(x)[0], lambda x: torch.linalg.eigh(x)[0])]:
        spd32 = spd(np.random.default_rng(3), 3, 4, 4).astype(np.float32)
        xd, xt = dlcore.tensor(spd32, requires_grad=True), torch.tensor(spd32, requires_grad=True)
        fn(xd).sum().backward()
        tfn(xt).sum().backward()
        assert xd.grad.dtype == dlcore.float32
        np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_zero_size():
    e = dlcore.zeros(0, 3, 3, dtype=dlcore.float64)
    assert LA.inv(e).shape == (0, 3, 3) and LA.det(e).shape == (0,)
    assert LA.det(dlcore.zeros(2, 0, 0, dtype=dlcore.float64)).tolist() == [1.0, 1.0]
    assert LA.svdvals(dlcore.zeros(2, 0, 3, dtype=dlcore.float64)).shape == (2, 0)
    assert LA.cholesky(e).shape == (0, 3, 3)
    assert LA.pinv(dlcore.zeros(0, 2, dtype=dlcore.float64)).shape == (2, 0)
    P, L, U = LA.lu(dlcore.zeros(0, 3, dtype=dlcore.float64))
    assert (P.shape, L.shape, U.shape) == ((0, 0), (0, 0), (0, 3))
    assert LA.qr(dlcore.zeros(2, 0, 3, dtype=dlcore.float64)).R.shape == (2, 0, 3)
    assert LA.eigh(dlcore.zeros(2, 0, 0, dtype=dlcore.float64)).eigenvalues.shape == (2, 0)
    assert dlcore._linalg_torch.geqrf(dlcore.zeros(2, 0, 3, dtype=dlcore.float64)).tau.shape == (2, 0)
    lst = LA.lstsq(dlcore.zeros(0, 3, 2, dtype=dlcore.float64), dlcore.zeros(0, 3, 1, dtype=dlcore.float64))
    assert lst.solution.shape == (0, 2, 1)


# ---- Cholesky, LU ---------------------------------------------------------------------------------
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(rng, upper):
    a = spd(rng, 2, 4, 4)
    check(lambda x: LA.cholesky(x, upper=upper), lambda x: torch.linalg.cholesky(x, upper=upper), a)
    check(lambda x: LA.cholesky_ex(x).L, lambda x: torch.linalg.cholesky_ex(x).L, a)


@pytest.mark.parametrize("shape", [(4, 4), (2, 5, 3), (2, 3, 5)])
def test_lu(rng, shape):
    a = rng.standard_normal(shape)
    check(lambda x: LA.lu(x), lambda x: tuple(torch.linalg.lu(x)), a)
    check(lambda x: LA.lu_factor_ex(x)[:2], lambda x: tuple(torch.linalg.lu_factor_ex(x))[:2], a)
    lu_d, piv_d = LA.lu_factor(dlcore.tensor(a))
    lu_t, piv_t = torch.linalg.lu_factor(torch.tensor(a))
    assert piv_d.dtype == dlcore.int32 and piv_d.tolist() == piv_t.tolist()


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [True, False])
def test_lu_solve(rng, left, adjoint):
    a = well(rng, 2, 4, 4)
    b = rng.standard_normal((2, 4, 3) if left else (2, 3, 4))
    lu_t, piv_t = torch.linalg.lu_factor(torch.tensor(a))
    piv_d = dlcore.tensor(piv_t.numpy())

    def fn_d(lu_, y):
        return LA.lu_solve(lu_, piv_d, y, left=left, adjoint=adjoint)

    def fn_t(lu_, y):
        return torch.linalg.lu_solve(lu_, piv_t, y, left=left, adjoint=adjoint)

    check(fn_d, fn_t, lu_t.numpy(), b)


@pytest.mark.parametrize("kind", ["random", "indefinite", "spd", "zero_diagonal"])
def test_ldl(rng, kind):
    n = 6
    if kind == "random":
        a = rng.standard_normal((3, n, n))
    elif kind == "indefinite":  # small diagonal, large off-diagonal: 2 x 2 pivots
        a = rng.standard_normal((3, n, n)) * 3 + np.eye(n) * 0.01
    elif kind == "spd":
        a = spd(rng, 3, n, n)
    else:
        a = rng.standard_normal((3, n, n)) * (1 - np.eye(n))
    a = a + np.swapaxes(a, -1, -2)
    a[0] = a[0] + np.triu(rng.standard_normal((n, n)), 1)  # only the lower triangle is read
    LD_t, piv_t = torch.linalg.ldl_factor(torch.tensor(a))
    LD_d, piv_d = LA.ldl_factor(dlcore.tensor(a))
    assert piv_d.dtype == dlcore.int32 and piv_d.tolist() == piv_t.tolist()
    if kind == "zero_diagonal":
        assert (piv_t < 0).any()  # 2 x 2 blocks were exercised
    np.testing.assert_allclose(LD_d.numpy(), LD_t.numpy(), atol=1e-10, rtol=1e-9)
    b = rng.standard_normal((3, n, 2))
    want = torch.linalg.ldl_solve(LD_t, piv_t, torch.tensor(b))
    np.testing.assert_allclose(LA.ldl_solve(LD_d, piv_d, dlcore.tensor(b)).numpy(), want.numpy(), atol=1e-9)
    assert LA.ldl_factor_ex(dlcore.tensor(a)).info.tolist() == [0, 0, 0]


def test_ldl_singular():
    info = LA.ldl_factor_ex(dlcore.zeros(2, 3, 3, dtype=dlcore.float64)).info
    assert info.tolist() == [1, 1]
    with pytest.raises(LA.LinAlgError, match="singular"):
        LA.ldl_factor(dlcore.zeros(3, 3, dtype=dlcore.float64))


# ---- QR, eigen, SVD -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 4), (3, 5)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr(rng, shape, mode):
    a = well(rng, *shape)
    grad = not (mode == "complete" and shape[-2] > shape[-1])
    if mode == "r":
        check(lambda x: LA.qr(x, mode="r").R, lambda x: torch.linalg.qr(x, mode="r").R, a, grad=False)
        assert LA.qr(dlcore.tensor(a), mode="r").Q.shape == (0,)
    else:
        check(lambda x: tuple(LA.qr(x, mode=mode)), lambda x: tuple(torch.linalg.qr(x, mode=mode)), a, grad=grad)


def test_qr_complete_tall_is_not_differentiable(rng):
    with pytest.raises(RuntimeError, match="not differentiable"):
        LA.qr(dlcore.tensor(rng.standard_normal((4, 2)), requires_grad=True), mode="complete")


def _eigh_inv(w, v):
    return w, v * v  # squares: invariant to the eigenvectors' signs


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(rng, uplo):
    a = rng.standard_normal((2, 4, 4))
    check(lambda x: _eigh_inv(*LA.eigh(x, UPLO=uplo)), lambda x: _eigh_inv(*torch.linalg.eigh(x, UPLO=uplo)), a)
    check(lambda x: LA.eigvalsh(x, UPLO=uplo), lambda x: torch.linalg.eigvalsh(x, UPLO=uplo), a)


def test_eig_real_spectrum(rng):
    p = well(rng, 4, 4)
    a = p @ np.diag([4.0, -1.0, 2.0, 0.5]) @ np.linalg.inv(p)

    def key(w, v):  # order by eigenvalue; signs removed by squaring
        order = torch.argsort(torch.tensor(w.detach().numpy()))
        idx = order.tolist()
        return w[idx], (v * v)[:, idx]

    def fn_d(x):
        w, v = LA.eig(x)
        return key(w, v)

    def fn_t(x):
        w, v = torch.linalg.eig(x)
        return key(w.real, v.real)

    check(fn_d, fn_t, a, atol=1e-8)
    np.testing.assert_allclose(np.sort(LA.eigvals(dlcore.tensor(a)).numpy()), [-1.0, 0.5, 2.0, 4.0], atol=1e-12)


def test_eig_complex_spectrum_raises():
    with pytest.raises(RuntimeError, match="complex eigenvalues"):
        LA.eig(dlcore.tensor([[0.0, -1.0], [1.0, 0.0]]))


def _svd_inv(u, s, vh):
    k = s.shape[-1]  # the singular vectors beyond k (full_matrices) are not unique
    return u[..., :k] * u[..., :k], s, vh[..., :k, :] * vh[..., :k, :]


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 4), (3, 5)])
@pytest.mark.parametrize("full", [False, True])
def test_svd(rng, shape, full):
    a = rng.standard_normal(shape)
    check(lambda x: _svd_inv(*LA.svd(x, full_matrices=full)),
          lambda x: _svd_inv(*torch.linalg.svd(x, full_matrices=full)), a, grad=not full or shape[-1] == shape[-2])
    check(LA.svdvals, torch.linalg.svdvals, a)


def test_svd_full_matrices_gradient_of_thin_part(rng):
    """With full_matrices=True the extra singular vectors are arbitrary; gradients reaching the
    first k columns equal those of the thin SVD (as torch narrows the gradients)."""
    for shape in [(5, 3), (3, 5)]:
        a = rng.standard_normal(shape)
        check(lambda x: _svd_inv(*LA.svd(x, full_matrices=True)),
              lambda x: _svd_inv(*torch.linalg.svd(x, full_matrices=False)), a)


# ---- norms, ranks, pseudo-inverse, least squares ---------------------------------------------------
@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, math.inf, -math.inf, 0, -1])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (-1, True), ((0, 2), False)])
def test_vector_norm(rng, ord, dim, keepdim):
    x = rng.standard_normal((3, 4, 5))
    grad = ord != 0
    check(lambda t: LA.vector_norm(t, ord, dim, keepdim), lambda t: torch.linalg.vector_norm(t, ord, dim, keepdim),
          x, grad=grad)


@pytest.mark.parametrize("ord", ["fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2])
@pytest.mark.parametrize("dim,keepdim", [((-2, -1), False), ((0, 2), True), ((2, 0), False)])
def test_matrix_norm(rng, ord, dim, keepdim):
    x = rng.standard_normal((3, 4, 5))
    check(lambda t: LA.matrix_norm(t, ord, dim, keepdim), lambda t: torch.linalg.matrix_norm(t, ord, dim, keepdim), x)


@pytest.mark.parametrize("args", [dict(), dict(ord=1), dict(ord="fro"), dict(ord=2, dim=(0, 1)), dict(dim=1),
                                  dict(ord=math.inf, dim=0, keepdim=True)])
def test_norm(rng, args):
    x = rng.standard_normal((4, 5))
    check(lambda t: LA.norm(t, **args), lambda t: torch.linalg.norm(t, **args), x)


def test_norm_errors():
    with pytest.raises(RuntimeError, match="1D or 2D"):
        LA.norm(dlcore.ones(2, 2, 2), ord=1)
    with pytest.raises(RuntimeError, match="Order 3 not supported"):
        LA.matrix_norm(dlcore.ones(2, 2), 3)


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", 1, -1, math.inf, -math.inf])
def test_cond(rng, p):
    # torch's own backward fails for the norms computed through inv_ex (an in-place error), so
    # those compare values only
    grad = p in (None, 2, -2, "nuc")
    check(lambda t: LA.cond(t, p), lambda t: torch.linalg.cond(t, p), well(rng, 2, 4, 4), grad=grad)
    if p not in (None, 2, -2, "nuc"):
        mixed = np.stack([np.eye(2), np.zeros((2, 2))])
        check(lambda t: LA.cond(t, p), lambda t: torch.linalg.cond(t, p), mixed, grad=False)


@pytest.mark.parametrize("kw", [dict(), dict(atol=1.5), dict(rtol=0.5), dict(hermitian=True)])
def test_matrix_rank_and_pinv(rng, kw):
    a = rng.standard_normal((2, 5, 3)) @ rng.standard_normal((2, 3, 5))  # rank 3
    if kw.get("hermitian"):
        a = a @ np.swapaxes(a, -1, -2)
    check(lambda t: LA.matrix_rank(t, **kw), lambda t: torch.linalg.matrix_rank(t, **kw), a, grad=False)
    full_rank = well(rng, 2, 5, 3) if not kw.get("hermitian") else spd(rng, 2, 4, 4)
    if not kw.get("atol") and not kw.get("rtol"):
        check(lambda t: LA.pinv(t, **kw), lambda t: torch.linalg.pinv(t, **kw), full_rank)
    check(lambda t: LA.pinv(t, **kw), lambda t: torch.linalg.pinv(t, **kw), a, grad=False, atol=1e-8)


@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
def test_lstsq(rng, driver):
    a, b = well(rng, 2, 6, 3), rng.standard_normal((2, 6, 2))

    def fn_d(x, y):
        r = LA.lstsq(x, y, driver=driver)
        return r.solution, r.residuals, r.rank, r.singular_values

    def fn_t(x, y):
        r = torch.linalg.lstsq(x, y, driver=driver)
        return r.solution, r.residuals, r.rank, r.singular_values

    check(fn_d, fn_t, a, b)


def test_lstsq_rank_deficient_and_vector(rng):
    a = rng.standard_normal((5, 2)) @ rng.standard_normal((2, 4))
    b = rng.standard_normal(5)
    got = LA.lstsq(dlcore.tensor(a), dlcore.tensor(b))
    want = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b))
    assert got.rank.item() == want.rank.item() == 2
    np.testing.assert_allclose(got.solution.numpy(), want.solution.numpy(), atol=1e-9)


# ---- products and matrix functions --------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -2])
def test_matrix_power(rng, n):
    check(lambda t: LA.matrix_power(t, n), lambda t: torch.linalg.matrix_power(t, n), well(rng, 2, 3, 3))


@pytest.mark.parametrize("scale", [0.1, 1.0, 20.0])
def test_matrix_exp(rng, scale):
    a = rng.standard_normal((2, 4, 4)) * scale
    check(LA.matrix_exp, torch.linalg.matrix_exp, a, rtol=1e-10, atol=1e-10 * max(1.0, math.exp(4 * scale)))


def test_products(rng):
    a, b, c = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    check(lambda x, y, z: LA.multi_dot([x, y, z]), lambda x, y, z: torch.linalg.multi_dot([x, y, z]), a, b, c)
    v = rng.standard_normal(3)
    check(lambda x, y: LA.multi_dot([x, y]), lambda x, y: torch.linalg.multi_dot([x, y]), v, a)
    check(LA.matmul, torch.linalg.matmul, a, b)
    u, w = rng.standard_normal((2, 1, 3)), rng.standard_normal((1, 4, 3))
    check(LA.cross, torch.linalg.cross, u, w)
    check(lambda x, y: LA.cross(x, y, dim=0), lambda x, y: torch.linalg.cross(x, y, dim=0),
          w[0].T, w[0].T[:, ::-1].copy())
    check(lambda x, y: LA.vecdot(x, y, dim=-1), lambda x, y: torch.linalg.vecdot(x, y, dim=-1), u, w)
    with pytest.raises(RuntimeError, match="length 3"):
        LA.cross(dlcore.ones(4), dlcore.ones(4))
    with pytest.raises(RuntimeError, match="at least 2 tensors"):
        LA.multi_dot([dlcore.ones(3)])


def test_vander_diagonal(rng):
    x = rng.standard_normal((2, 4))
    check(LA.vander, torch.linalg.vander, x)
    check(lambda t: LA.vander(t, N=6), lambda t: torch.linalg.vander(t, N=6), x)
    assert LA.vander(dlcore.tensor([1, 2, 3])).tolist() == [[1, 1, 1], [1, 2, 4], [1, 3, 9]]
    a = rng.standard_normal((3, 4, 5))
    for kw in [dict(), dict(offset=1), dict(offset=-2), dict(offset=7), dict(dim1=0, dim2=2, offset=1),
               dict(dim1=2, dim2=1)]:
        check(lambda t: LA.diagonal(t, **kw), lambda t: torch.linalg.diagonal(t, **kw), a)


def test_tensorinv_tensorsolve(rng):
    a = well(rng, 6, 6).reshape(6, 2, 3)
    check(lambda t: LA.tensorinv(t, ind=1), lambda t: torch.linalg.tensorinv(t, ind=1), a)
    b = rng.standard_normal(6)
    check(LA.tensorsolve, torch.linalg.tensorsolve, a, b)
    a0 = well(rng, 6, 6).reshape(6, 2, 3)
    check(lambda x, y: LA.tensorsolve(x, y, dims=(0,)), lambda x, y: torch.linalg.tensorsolve(x, y, dims=(0,)),
          a0.transpose(2, 0, 1).copy(), b)


def test_householder_product_and_geqrf(rng):
    a = rng.standard_normal((2, 5, 3))
    h_t, tau_t = torch.geqrf(torch.tensor(a))
    h_d, tau_d = dlcore._linalg_torch.geqrf(dlcore.tensor(a))
    np.testing.assert_allclose(h_d.numpy(), h_t.numpy(), atol=1e-12)
    np.testing.assert_allclose(tau_d.numpy(), tau_t.numpy(), atol=1e-12)
    check(LA.householder_product, torch.linalg.householder_product, h_t.numpy(), tau_t.numpy())
    c = rng.standard_normal((2, 5, 2))
    for left, transpose in [(True, False), (True, True)]:
        check(lambda h, t, y: dlcore._linalg_torch.ormqr(h, t, y, left=left, transpose=transpose),
              lambda h, t, y: torch.ormqr(h, t, y, left=left, transpose=transpose), h_t.numpy(), tau_t.numpy(), c,
              grad=False)
    c2 = rng.standard_normal((2, 2, 5))
    check(lambda h, t, y: dlcore._linalg_torch.ormqr(h, t, y, left=False),
          lambda h, t, y: torch.ormqr(h, t, y, left=False), h_t.numpy(), tau_t.numpy(), c2, grad=False)


# ---- the torch-level names and Tensor methods -------------------------------------------------------
@pytest.mark.filterwarnings("ignore:torch.*is deprecated")
def test_torch_level_functions(rng):
    T = dlcore._linalg_torch
    a, s = well(rng, 2, 4, 4), spd(rng, 2, 4, 4)
    b = rng.standard_normal((2, 4, 3))
    check(T.det, torch.det, a)
    check(lambda x: tuple(T.slogdet(x)), lambda x: tuple(torch.slogdet(x)), a)
    check(T.logdet, torch.logdet, s)
    assert math.isnan(T.logdet(dlcore.tensor(np.diag([1.0, -1.0]))).item())
    check(T.inverse, torch.inverse, a)
    check(lambda x: T.cholesky(x, upper=True), lambda x: torch.cholesky(x, upper=True), s)
    for upper in (False, True):
        L = np.linalg.cholesky(s)
        L = np.swapaxes(L, -1, -2) if upper else L
        check(lambda y, f: T.cholesky_solve(y, f, upper), lambda y, f: torch.cholesky_solve(y, f, upper), b, L)
        check(lambda f: T.cholesky_inverse(f[0], upper), lambda f: torch.cholesky_inverse(f[0], upper), L)
    for some in (True, False):
        check(lambda x: tuple(T.qr(x, some)), lambda x: tuple(torch.qr(x, some)), rng.standard_normal((4, 4)))
    check(lambda x: _svd_inv(*T.svd(x)), lambda x: _svd_inv(*torch.svd(x)), rng.standard_normal((5, 3)))
    u, s_, v = T.svd(dlcore.tensor(a), compute_uv=False)
    assert u.shape == (2, 4, 4) and not u.numpy().any() and v.shape == (2, 4, 4)
    check(T.pinverse, torch.pinverse, well(rng, 5, 3))
    check(lambda x: T.matrix_power(x, 3), lambda x: torch.matrix_power(x, 3), a)
    check(T.matrix_exp, torch.matrix_exp, a)
    lu_t, piv_t = torch.linalg.lu_factor(torch.tensor(a))
    check(lambda y, f: T.lu_solve(y, f, dlcore.tensor(piv_t.numpy())), lambda y, f: torch.lu_solve(y, f, piv_t),
          b, lu_t.numpy())
    check(lambda f: tuple(T.lu_unpack(f, dlcore.tensor(piv_t.numpy()))), lambda f: tuple(torch.lu_unpack(f, piv_t)),
          lu_t.numpy())
    tri = np.triu(a) + 3 * np.eye(4)
    for upper, transpose, unit in [(True, False, False), (True, True, False), (False, True, True)]:
        coef = tri if upper else np.swapaxes(tri, -1, -2)
        check(lambda y, f: tuple(T.triangular_solve(y, f, upper, transpose, unit)),
              lambda y, f: tuple(torch.triangular_solve(y, f, upper, transpose, unit)), b, coef)


@pytest.mark.filterwarnings("ignore:torch.*is deprecated")
def test_tensor_methods(rng):
    a = well(rng, 3, 3)
    d, t = dlcore.tensor(a), torch.tensor(a)
    for name in ["det", "logdet", "inverse", "matrix_exp", "pinverse"]:
        np.testing.assert_allclose(getattr(d, name)().numpy(), getattr(t, name)().numpy(), atol=1e-10, rtol=1e-9)
    np.testing.assert_allclose(d.matrix_power(2).numpy(), t.matrix_power(2).numpy(), atol=1e-12)
    lu_d, piv_d, info_d = d.lu(get_infos=True)
    lu_t, piv_t, info_t = t.lu(get_infos=True)
    np.testing.assert_allclose(lu_d.numpy(), lu_t.numpy(), atol=1e-12)
    assert piv_d.tolist() == piv_t.tolist() and info_d.tolist() == info_t.tolist()
    assert len(dlcore._linalg_torch.lu(d)) == 2
    np.testing.assert_allclose(d.slogdet()[1].numpy(), t.slogdet()[1].numpy(), atol=1e-12)
    np.testing.assert_allclose(d.qr()[1].numpy(), t.qr()[1].numpy(), atol=1e-12)
    np.testing.assert_allclose(d.svd()[1].numpy(), t.svd()[1].numpy(), atol=1e-12)
    s = spd(rng, 3, 3)
    np.testing.assert_allclose(dlcore.tensor(s).cholesky().numpy(), torch.tensor(s).cholesky().numpy(), atol=1e-12)
