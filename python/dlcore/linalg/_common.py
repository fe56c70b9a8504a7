"""Shared pieces of dlcore.linalg: argument checks, numpy round trips and small differentiable
matrix helpers."""
import collections

import numpy as np

import dlcore
from dlcore.autograd import Function

Tensor = dlcore.Tensor


class LinAlgError(RuntimeError):
    """Raised when a matrix is singular or not positive-definite, as torch.linalg.LinAlgError."""


def svd_np_checked(name, a, **kw):
    """np.linalg.svd of a float64 array, after checking that every entry is finite (LAPACK's SVD
    may fail or never return on NaN and infinite entries)."""
    if not np.isfinite(a).all():
        bad = int(np.argmax(~np.isfinite(a).reshape(-1, a.shape[-2] * a.shape[-1]).all(-1)))
        raise LinAlgError(f"{name}: (Batch element {bad}): The algorithm failed to converge because the input "
                          f"matrix contained non-finite values (A of shape {list(a.shape)}).")
    return np.linalg.svd(a, **kw)


def result_type(name, *fields):
    """A named tuple class like those torch.linalg functions return."""
    return collections.namedtuple(name, fields)


def check_tensor(name, arg, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: argument '{arg}' must be a Tensor, not {type(x).__name__}")


def check_float(name, x, arg="A"):
    """x must be a float32/float64 tensor (torch.linalg also takes complex, which dlcore lacks)."""
    check_tensor(name, arg, x)
    if x.dtype not in (dlcore.float32, dlcore.float64):
        raise RuntimeError(f"{name}: expected a float32 or float64 tensor as '{arg}', got {x.dtype}")


def check_matrix(name, A, square=False, arg="A"):
    check_float(name, A, arg)
    if A.dim() < 2:
        raise RuntimeError(f"{name}: '{arg}' must have at least 2 dimensions, got shape {list(A.shape)}")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{name}: '{arg}' must be batches of square matrices, got shape {list(A.shape)}")


def check_same_dtype(name, A, B):
    if A.dtype != B.dtype:
        raise RuntimeError(f"{name}: expected A and B to have the same dtype, got {A.dtype} and {B.dtype}")


def np64(x):
    """A float64 numpy copy of x (detached)."""
    return np.array(x.detach().numpy(), dtype=np.float64)


def from_np(a, like):
    """A tensor holding numpy array a with the dtype of tensor ``like``."""
    return dlcore.tensor(np.asarray(a), dtype=like.dtype)


def from_np_int(a, dtype):
    return dlcore.tensor(np.asarray(a), dtype=dtype)


def eps_of(x):
    return float(np.finfo(np.float32 if x.dtype == dlcore.float32 else np.float64).eps)


# Note [Differentiable decompositions]: the decompositions run in float64 numpy, so each is a
# dlcore.autograd.Function whose forward wraps the numpy result and whose backward is written in
# differentiable dlcore ops only: products, triangular masks, the outputs saved by forward (which
# stay attached to the graph) and the solve/inverse Functions themselves. The backward is
# therefore recorded under create_graph=True, and second derivatives (hessians) are exact
# wherever the first derivative is smooth. The forwards take the numpy results as arguments, so
# the argument checks and the errors stay in the public functions and nothing is computed twice.
# Where a backward needs a constant that has no differentiable formula (the adjugate of a
# singular matrix), it goes through a Function whose own backward raises.
class _NotDifferentiable(Function):
    """Outputs computed by ``compute`` from the inputs, whose backward raises (for the operations
    torch does not differentiate either)."""

    @staticmethod
    def forward(ctx, name, compute, *inputs):
        outputs = compute()
        ctx.name = name
        ctx.mark_non_differentiable(*[o for o in outputs if not o.dtype.is_floating_point])
        return outputs

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(f"{ctx.name}: the derivative is not implemented (as in torch)")


def not_differentiable(name, compute, *inputs):
    """The tuple compute() returns, recorded so that differentiating it raises where an input
    requires grad."""
    return _NotDifferentiable.apply(name, compute, *inputs)


def sum_to(g, shape):
    """g summed over the dimensions that were broadcast from ``shape``."""
    shape = tuple(shape)
    return g if tuple(g.shape) == shape else g.sum_to_size(*shape)


def mT(x):
    return x.transpose(-2, -1)


def sym(x):
    return (x + mT(x)) * 0.5


def diag_embed(v):
    """(*, n) -> (*, n, n) with v on the diagonal (differentiable)."""
    n = v.shape[-1]
    return v.unsqueeze(-1) * dlcore.eye(n, dtype=v.dtype)
