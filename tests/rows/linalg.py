"""Op-table rows for the matrix products: matmul, mm, bmm, addmm, linear.

Tolerances: a float32 dot product of length K over standard-normal values accumulates a
rounding error of about 0.7 * K * u (u = 6e-8; the partial sums grow like sqrt(k)), so
float32 rows use atol = 2 * K_max * u rounded up: 1e-5 for K <= 74 and 1e-4 for K <= 300.
float64 stays at the default (K * u64 is below 1e-13 here).
"""
import numpy as np

import dlcore
from optable import Const, ErrorCase, OpRow


def normal(*groups):
    """Samples: one tuple of standard-normal arrays per group of shapes."""
    def make(r):
        return [tuple(r.standard_normal(s) for s in group) for group in groups]
    return make


def with_tol(k_max):
    return {"float32": (1e-5, 1e-5 if k_max <= 74 else 1e-4)}


def mT(a):
    return np.swapaxes(a, -1, -2)


# Small shapes for the gradcheck: vectors on either side, size-1 and K=1 (outer product),
# broadcast batch dims on either side, a batch folded into rows (3-d @ 2-d).
MATMUL_SHAPES = [
    ((7,), (7,)),
    ((3, 7), (7,)),
    ((7,), (7, 5)),
    ((1, 1), (1, 1)),
    ((6, 1), (1, 7)),
    ((2, 1, 3, 4), (5, 4, 6)),
    ((4, 3, 5), (5, 2)),
    ((3, 5), (2, 5, 4)),
    ((5,), (2, 5, 3)),
    ((2, 3, 5), (5,)),
    ((2, 3, 0), (0, 4)),
]
# Forward only: sizes that are not multiples of the micro-tile (6x16 / 6x8) and that cross
# the cache blocks (K > KC = 256, M > MC = 192 (float) / 96 (double), N > NC = 4096 / 2048).
MATMUL_LARGE = [
    ((33, 33), (33, 33)),
    ((72, 73), (73, 74)),
    ((200, 300), (300, 20)),
    ((2, 65, 17), (2, 17, 40)),
    ((2, 10), (10, 4100)),
    ((1, 300), (300, 1)),
    ((300,), (300, 7)),
]


def _bad(dl_call, exc, match):
    return ErrorCase(dl_call, exc, match)


MATMUL_ERRORS = [
    _bad(lambda dl: dl.matmul(dl.ones(2, 3), dl.ones(4, 5)), ValueError,
         r"matmul: shapes \[2, 3\] and \[4, 5\] cannot be multiplied \(3 != 4\)"),
    _bad(lambda dl: dl.matmul(dl.ones(3), dl.ones(4)), ValueError,
         r"matmul: shapes \[3\] and \[4\] cannot be multiplied \(3 != 4\)"),
    _bad(lambda dl: dl.ones(2, 3, 4) @ dl.ones(3, 4, 5), ValueError,
         r"matmul: batch dims \[2\] and \[3\] of shapes \[2, 3, 4\] and \[3, 4, 5\] cannot be broadcast"),
    _bad(lambda dl: dl.matmul(dl.ones(()), dl.ones(3)), ValueError,
         r"matmul: both arguments need at least 1 dimension, got shapes \[\] and \[3\]"),
    _bad(lambda dl: dl.matmul(dl.ones(2, 3), dl.ones(3, 4, dtype=dl.float64)), TypeError,
         r"matmul: expected both operands to have the same dtype, got float32 \[2, 3\] and float64 \[3, 4\]"),
    _bad(lambda dl: dl.matmul(dl.ones(2, 3, dtype=dl.bool), dl.ones(3, 4, dtype=dl.bool)), TypeError,
         r"matmul: bool tensors are not supported"),
]

ADDMM_BIAS = [(5,), (3, 5), (1, 5), (3, 1), ()]

ROWS = [
    # ---- matmul
    OpRow("matmul", dlcore.matmul, np.matmul, normal(*MATMUL_SHAPES), tol=with_tol(7), errors=MATMUL_ERRORS),
    OpRow("matmul", dlcore.matmul, np.matmul, normal(*MATMUL_LARGE), grad=False, tol=with_tol(300), id="large"),
    OpRow("matmul", lambda a, b: a @ b, np.matmul, normal(((4, 7), (7, 3)), ((2, 3, 4), (4,))), tol=with_tol(7),
          id="operator"),
    # transposed views go to the kernel as they are (column-major operands, no copy)
    OpRow("matmul", lambda a, b: dlcore.matmul(a.mT, b.mT), lambda a, b: mT(a) @ mT(b),
          normal(((5, 4), (3, 5)), ((2, 7, 6), (2, 9, 7)), ((73, 72), (74, 73))), tol=with_tol(73), id="transposed",
          grad=False),
    OpRow("matmul", lambda a, b: dlcore.matmul(a.mT, b), lambda a, b: mT(a) @ b,
          normal(((5, 4), (5, 3)), ((2, 6, 3), (6, 2))), tol=with_tol(6), id="transposed-grad"),
    # ---- mm
    OpRow("mm", dlcore.mm, np.matmul, normal(((7, 33), (33, 5)), ((1, 1), (1, 1)), ((3, 4), (4, 1)), ((0, 3), (3, 2))),
          tol=with_tol(33),
          errors=[_bad(lambda dl: dl.mm(dl.ones(2, 3, 4), dl.ones(4, 5)), ValueError,
                       r"mm: expected two matrices \(2-d\), got shapes \[2, 3, 4\] and \[4, 5\]"),
                  _bad(lambda dl: dl.ones(2, 3).mm(dl.ones(4, 5)), ValueError,
                       r"mm: shapes \[2, 3\] and \[4, 5\] cannot be multiplied \(3 != 4\)")]),
    OpRow("mm", lambda a, b: dlcore.mm(a.t(), b.t()), lambda a, b: a.T @ b.T,
          normal(((33, 7), (5, 33)), ((74, 72), (73, 74))), tol=with_tol(74), grad=False, id="transposed"),
    # ---- bmm
    OpRow("bmm", dlcore.bmm, np.matmul, normal(((2, 3, 4), (2, 4, 5)), ((1, 7, 1), (1, 1, 3)), ((3, 1, 6), (3, 6, 1))),
          tol=with_tol(6),
          errors=[_bad(lambda dl: dl.bmm(dl.ones(2, 3, 4), dl.ones(3, 4, 5)), ValueError,
                       r"bmm: batch sizes differ \(2 != 3\) for shapes \[2, 3, 4\] and \[3, 4, 5\]"),
                  _bad(lambda dl: dl.bmm(dl.ones(3, 4), dl.ones(4, 5)), ValueError,
                       r"bmm: expected two batches of matrices \(3-d\), got shapes \[3, 4\] and \[4, 5\]"),
                  _bad(lambda dl: dl.ones(2, 3, 4).bmm(dl.ones(2, 5, 6)), ValueError,
                       r"bmm: shapes \[2, 3, 4\] and \[2, 5, 6\] cannot be multiplied \(4 != 5\)")]),
    OpRow("bmm", dlcore.bmm, np.matmul, normal(((3, 33, 40), (3, 40, 17)), ((2, 7, 300), (2, 300, 9))),
          tol=with_tol(300), grad=False, id="large"),
    # ---- addmm
    OpRow("addmm", dlcore.addmm, lambda c, a, b: c + a @ b, normal(*[(s, (3, 4), (4, 5)) for s in ADDMM_BIAS]),
          tol=with_tol(4),
          errors=[_bad(lambda dl: dl.addmm(dl.ones(4), dl.ones(3, 4), dl.ones(4, 5)), ValueError,
                       r"addmm: input of shape \[4\] cannot be broadcast to the product's shape \[3, 5\]"),
                  _bad(lambda dl: dl.addmm(dl.ones(5), dl.ones(3, 4), dl.ones(3, 5)), ValueError,
                       r"addmm: shapes \[3, 4\] and \[3, 5\] cannot be multiplied \(4 != 3\)")]),
    OpRow("addmm", lambda c, a, b: dlcore.addmm(c, a, b, beta=0.5, alpha=-2.0), lambda c, a, b: 0.5 * c - 2.0 * (a @ b),
          normal(((7,), (1, 33), (33, 7)), ((2, 3), (2, 1), (1, 3))), tol=with_tol(33), id="beta-alpha"),
    OpRow("addmm", lambda c, a, b: c.addmm(a, b), lambda c, a, b: c + a @ b,
          normal(((72, 74), (72, 73), (73, 74))), tol=with_tol(73), grad=False, id="large"),
    # beta = 0: the input is not read, NaN included
    OpRow("addmm", lambda c, a, b: dlcore.addmm(c, a, b, beta=0.0), lambda c, a, b: a @ b,
          lambda r: [(Const(np.full((3, 5), np.nan)), r.standard_normal((3, 4)), r.standard_normal((4, 5)))],
          tol=with_tol(4), id="beta0"),
    # ---- linear: x @ weight.T + bias for any leading dims of x
    OpRow("linear", dlcore._C.linear, lambda x, w, b: x @ w.T + b,
          normal(((3, 4), (5, 4), (5,)), ((2, 3, 4), (5, 4), (5,)), ((4,), (5, 4), (5,)), ((1, 1), (1, 1), (1,))),
          tol=with_tol(4),
          errors=[_bad(lambda dl: dl._C.linear(dl.ones(2, 5), dl.ones(3, 4)), ValueError,
                       r"linear: input has 5 features in its last dim but weight expects 4 "
                       r"\(input \[2, 5\], weight \[3, 4\]\)"),
                  _bad(lambda dl: dl._C.linear(dl.ones(2, 4), dl.ones(3, 4), dl.ones(4)), ValueError,
                       r"linear: bias must have shape \[3\] to match weight \[3, 4\], got \[4\]"),
                  _bad(lambda dl: dl._C.linear(dl.ones(2, 4), dl.ones(4)), ValueError,
                       r"linear: weight must be 2-d \(out_features, in_features\), got shape \[4\]")]),
    OpRow("linear", lambda x, w: dlcore._C.linear(x, w), lambda x, w: x @ w.T,
          normal(((3, 4), (5, 4)), ((2, 1, 3, 7), (2, 7))), tol=with_tol(7), id="nobias"),
    OpRow("linear", dlcore._C.linear, lambda x, w, b: x @ w.T + b,
          normal(((5, 7, 33), (40, 33), (40,)), ((200, 300), (17, 300), (17,))), tol=with_tol(300), grad=False,
          id="large"),
]
