"""dlcore.linalg: linear algebra with torch.linalg's names, signatures and semantics.

Inputs are float32/float64 tensors with any leading batch dimensions ``(*, m, n)``. The
factorisations run in float64 numpy and return the input's dtype; each is an autograd Function
whose backward is built from differentiable dlcore ops, so gradients of any order flow through
them (Note [Differentiable decompositions] in _common.py), except through the LDL factorisation
(not differentiable in torch either). The products and matrix functions are compositions of
dlcore ops. dlcore has no complex dtype, so eig and eigvals support
real spectra only.
"""
from ._common import LinAlgError
from ._factor import (
    cholesky, cholesky_ex, det, inv, inv_ex, lu, lu_factor, lu_factor_ex, lu_solve, slogdet, solve, solve_ex,
    solve_triangular,
)
from ._ldl import ldl_factor, ldl_factor_ex, ldl_solve
from ._norms import cond, lstsq, matrix_norm, matrix_rank, norm, pinv, vector_norm
from ._products import (
    cross, diagonal, matmul, matrix_exp, matrix_power, multi_dot, tensorinv, tensorsolve, vander, vecdot,
)
from ._spectral import eig, eigh, eigvals, eigvalsh, householder_product, qr, svd, svdvals

__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eig", "eigh", "eigvals",
    "eigvalsh", "householder_product", "inv", "inv_ex", "ldl_factor", "ldl_factor_ex", "ldl_solve", "lstsq", "lu",
    "lu_factor", "lu_factor_ex", "lu_solve", "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank",
    "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals",
    "tensorinv", "tensorsolve", "vander", "vecdot", "vector_norm",
]
