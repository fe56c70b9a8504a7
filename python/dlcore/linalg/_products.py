"""Products and matrix functions composed of dlcore ops (differentiable as they stand): matmul,
multi_dot, cross, vecdot, vander, diagonal, matrix_power, matrix_exp, tensorinv, tensorsolve."""
import math

import numpy as np

import dlcore

from ._common import check_float, check_matrix, check_tensor, np64
from ._factor import inv, solve

__all__ = ["matmul", "multi_dot", "cross", "vecdot", "vander", "diagonal", "matrix_power", "matrix_exp",
           "tensorinv", "tensorsolve"]


def matmul(input, other):
    """The matrix product of two tensors, as dlcore.matmul."""
    return dlcore.matmul(input, other)


def multi_dot(tensors):
    """The product of a chain of matrices; the first may be a row vector and the last a column
    vector (1-D), which are dropped from the result's shape."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    for i, t in enumerate(tensors):
        check_tensor("linalg.multi_dot", f"tensors[{i}]", t)
        allowed = (1, 2) if i in (0, len(tensors) - 1) else (2,)
        if t.dim() not in allowed:
            raise RuntimeError(f"multi_dot(): tensor {i} must be {' or '.join(f'{d}D' for d in allowed)} but "
                               f"got {t.dim()}D")
    first_vec, last_vec = tensors[0].dim() == 1, tensors[-1].dim() == 1
    mats = list(tensors)
    if first_vec:
        mats[0] = mats[0].unsqueeze(0)
    if last_vec:
        mats[-1] = mats[-1].unsqueeze(-1)
    for i in range(len(mats) - 1):
        if mats[i].shape[1] != mats[i + 1].shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes {list(tensors[i].shape)} and "
                               f"{list(tensors[i + 1].shape)} cannot be multiplied")
    out = mats[0]
    for m in mats[1:]:
        out = out @ m
    if last_vec:
        out = out.squeeze(-1)
    if first_vec:
        out = out.squeeze(0)
    return out


def _broadcast(name, a, b):
    try:
        shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        raise RuntimeError(f"{name}: shapes {list(a.shape)} and {list(b.shape)} do not broadcast") from None
    return a.expand(*shape), b.expand(*shape)


def cross(input, other, *, dim=-1):
    """The cross product of 3-vectors along ``dim`` (batch dimensions broadcast)."""
    name = "linalg.cross"
    check_tensor(name, "input", input)
    check_tensor(name, "other", other)
    if input.dtype != other.dtype:
        raise RuntimeError(f"{name}: expected input and other to have the same dtype, got {input.dtype} and "
                           f"{other.dtype}")
    if input.dim() != other.dim():
        raise RuntimeError(f"{name}: inputs must have the same number of dimensions, got {list(input.shape)} and "
                           f"{list(other.shape)}")
    if not -input.dim() <= dim < input.dim():
        raise IndexError(f"{name}: dim {dim} is out of range for tensors of {input.dim()} dimensions")
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(f"{name}: inputs dimension {dim} must have length 3. Got {input.shape[dim]} and "
                           f"{other.shape[dim]}")
    a, b = _broadcast(name, input, other)
    a0, a1, a2 = (a.narrow(dim, i, 1) for i in range(3))
    b0, b1, b2 = (b.narrow(dim, i, 1) for i in range(3))
    return dlcore.cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim)


def vecdot(x, y, *, dim=-1):
    """The dot product of x and y along ``dim`` (batch dimensions broadcast)."""
    check_tensor("linalg.vecdot", "x", x)
    check_tensor("linalg.vecdot", "y", y)
    a, b = _broadcast("linalg.vecdot", x, y)
    if not -a.dim() <= dim < a.dim():
        raise IndexError(f"linalg.vecdot: dim {dim} is out of range for shapes {list(x.shape)} and {list(y.shape)}")
    return (a * b).sum(dim)


def vander(x, *, N=None):
    """The Vandermonde matrix (*, n, N) of x (*, n): column j holds x ** j (increasing powers)."""
    check_tensor("linalg.vander", "x", x)
    if x.dim() == 0:
        raise RuntimeError("linalg.vander: x must have at least one dimension")
    if N is not None and (isinstance(N, bool) or not isinstance(N, int)):
        raise TypeError(f"linalg.vander: N must be an int, got {type(N).__name__}")
    N = x.shape[-1] if N is None else N
    if N <= 1:
        raise RuntimeError("N must be greater than 1.")
    powers = x.unsqueeze(-1).expand(*x.shape, N - 1)
    return dlcore.cumprod(dlcore.cat([dlcore.ones_like(x).unsqueeze(-1), powers], -1), -1)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """The diagonal ``offset`` (above the main one when positive) of the matrices spanned by
    dim1 and dim2 of A, as the last dimension of a tensor (a copy, differentiable)."""
    check_tensor("linalg.diagonal", "A", A)
    nd = A.dim()
    if nd < 2:
        raise RuntimeError(f"linalg.diagonal: A must have at least 2 dimensions, got shape {list(A.shape)}")
    if not (-nd <= dim1 < nd and -nd <= dim2 < nd) or dim1 % nd == dim2 % nd:
        raise IndexError(f"linalg.diagonal: dim1={dim1} and dim2={dim2} must be distinct dimensions of a tensor of "
                         f"shape {list(A.shape)}")
    d1, d2 = dim1 % nd, dim2 % nd
    X = A.permute(*[d for d in range(nd) if d not in (d1, d2)], d1, d2)
    r, c = X.shape[-2:]
    length = max(0, min(r, c - offset) if offset >= 0 else min(r + offset, c))
    i = np.arange(length)
    flat_index = (i * c + i + offset) if offset >= 0 else ((i - offset) * c + i)
    flat = X.reshape(*X.shape[:-2], r * c)
    return flat.index_select(flat.dim() - 1, dlcore.tensor(flat_index.astype(np.int64)))


def matrix_power(A, n):
    """A raised to the integer power n by repeated squaring (n < 0 inverts first, n = 0 gives
    the identity)."""
    check_tensor("linalg.matrix_power", "A", A)
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, got shape {list(A.shape)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"linalg.matrix_power: n must be an int, got {type(n).__name__}")
    if n == 0:  # the identity, still connected to A's graph (with a zero gradient) as in torch
        eye = dlcore.eye(A.shape[-1], dtype=A.dtype).expand(*A.shape)
        return dlcore.where(dlcore.zeros(*A.shape, dtype=dlcore.bool), A, eye)
    if n < 0:
        A, n = inv(A), -n
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


def matrix_exp(A):
    """The matrix exponential of a square A (*, n, n), by scaling and squaring a Taylor
    polynomial (differentiable through its matrix products)."""
    name = "linalg.matrix_exp"
    check_matrix(name, A, square=True)
    # Note [matrix_exp]: A is scaled by 2^-s so that every matrix of the batch has 1-norm at most
    # 1/2; the degree-q Taylor polynomial then errs by at most 2 * 0.5^(q+1) / (q+1)!, below the
    # dtype's rounding for q = 18 (float64) and 10 (float32), and s squarings undo the scaling.
    # Matrices with NaN or infinite entries give NaN whatever s is: they do not choose it.
    a = np64(A)
    norms = np.abs(a).sum(-2).max(-1) if a.size else np.zeros(0)
    norms = norms[np.isfinite(norms)]
    norm1 = float(norms.max()) if norms.size else 0.0
    s = max(0, math.ceil(math.log2(norm1 / 0.5))) if norm1 > 0.5 else 0
    X = A / float(2 ** s)
    eye = dlcore.eye(A.shape[-1], dtype=A.dtype)
    E = eye
    for k in range(18 if A.dtype == dlcore.float64 else 10, 0, -1):
        E = eye + (X @ E) / float(k)
    for _ in range(s):
        E = E @ E
    return E


def tensorinv(A, ind=2):
    """The inverse of A with respect to tensordot over ``ind`` dimensions: the result has shape
    A.shape[ind:] + A.shape[:ind]."""
    name = "linalg.tensorinv"
    check_float(name, A)
    if ind <= 0:
        raise RuntimeError(f"{name}: Expected a strictly positive integer for 'ind', but got {ind}")
    left, right = tuple(A.shape[:ind]), tuple(A.shape[ind:])
    if math.prod(left) != math.prod(right):
        raise RuntimeError(f"{name}: Expected self to satisfy the requirement prod(self.shape[ind:]) == "
                           f"prod(self.shape[:ind]), but got {math.prod(right)} != {math.prod(left)}")
    return inv(A.reshape(math.prod(left), math.prod(right))).reshape(*right, *left)


def tensorsolve(A, B, dims=None):
    """The X with tensordot(A, X, X.dim()) == B; ``dims`` of A are first moved to the end."""
    name = "linalg.tensorsolve"
    check_float(name, A)
    check_float(name, B, "B")
    if dims is not None:
        dims = [d % A.dim() for d in dims]
        A = A.permute(*[d for d in range(A.dim()) if d not in dims], *dims)
    if tuple(A.shape[:B.dim()]) != tuple(B.shape):
        raise RuntimeError(f"{name}: the leading dimensions of A {list(A.shape)} must equal B's shape "
                           f"{list(B.shape)}")
    x_shape = tuple(A.shape[B.dim():])
    if math.prod(x_shape) != B.numel():
        raise RuntimeError(f"{name}: Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
                           f"prod(self.shape[:other.ndim]), but got {math.prod(x_shape)} != {B.numel()}")
    return solve(A.reshape(B.numel(), B.numel()), B.reshape(B.numel())).reshape(*x_shape)
