"""Op-table rows for the reduction and softmax families.

Samples are (x, dim, keepdim, ...) tuples: odd sizes (1, 7, 33), leading/middle/last dims
(the column and row kernels), several and negative dims, 0-d and zero-size inputs. The
"large" rows (forward only) are long enough to exercise the blocked row folds and the
split-reduction path (Note [CPU reduction loops]).
"""
import numpy as np

import dlcore
from optable import ErrorCase, OpRow

# (shape, dim, keepdim); dim None reduces everything
RED = [((7,), None, False), ((1,), 0, True), ((3, 5), 1, False), ((3, 5), 0, True), ((2, 3, 4), (0, 2), False),
       ((2, 3, 4), -1, True), ((2, 3, 4), (-1, -2), False), ((2, 3, 4), 1, False), ((33,), 0, False),
       ((), None, False), ((4, 1, 3), (0, 1), True)]
# one dim each (max/min/argmax/cumsum/softmax)
ONE = [((7,), 0, False), ((1,), 0, True), ((3, 5), 1, False), ((3, 5), 0, True), ((2, 3, 4), 1, False),
       ((2, 3, 4), -1, True), ((33,), -1, False)]
LARGE = [((3, 4099), 1, False), ((4099, 3), 0, False), ((70001,), 0, False), ((40000, 3), 0, True),
         ((5, 9000), (0, 1), False), ((6, 300, 5), 1, False)]
EMPTY = [((0, 3), 0, False), ((0,), None, False), ((3, 0), 1, True), ((0, 3), 1, False)]


def with_x(cases, gen=lambda r, s: r.standard_normal(s)):
    return lambda r: [(gen(r, s), d, k) for s, d, k in cases]


def away_from_zero(r, s):
    """Values in +-[0.5, 2]: no kinks of |x| and tame powers for the norm gradcheck."""
    return np.asarray(r.uniform(0.5, 2.0, s) * r.choice([-1.0, 1.0], s))


def _axis(d):
    return tuple(d) if isinstance(d, (list, tuple)) else d


def np_red(fn):
    return lambda x, d, k: np.asarray(fn(x, axis=_axis(d), keepdims=k))


def _lse(x, d, k):
    ax = _axis(d)
    m = np.max(x, axis=ax, keepdims=True)
    r = m + np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True))
    return r if k else np.squeeze(r, axis=ax)


def _norm(x, p, d, k):
    ax, a = _axis(d), np.abs(x)
    if p == np.inf:
        return np.max(a, axis=ax, keepdims=k)
    if p == -np.inf:
        return np.min(a, axis=ax, keepdims=k)
    if p == 0:
        return np.sum(x != 0, axis=ax, keepdims=k).astype(np.float64)
    p = 2.0 if p == "fro" else p
    return np.sum(a ** p, axis=ax, keepdims=k) ** (1.0 / p)


def _softmax(x, d):
    if x.ndim == 0:
        return np.ones_like(x)
    e = np.exp(x - np.max(x, axis=d, keepdims=True))
    return e / np.sum(e, axis=d, keepdims=True)


def _log_softmax(x, d):
    if x.ndim == 0:
        return np.zeros_like(x)
    s = x - np.max(x, axis=d, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=d, keepdims=True))


def _maxmin(np_val, np_arg):
    return lambda x, d, k: (np_val(x, axis=d, keepdims=k), np_arg(x, axis=d, keepdims=k))


def _with_zeros(r):
    """prod samples: no zero, one zero, two zeros in a reduced row."""
    a = r.uniform(0.5, 1.5, (3, 4))
    b = a.copy()
    b[1, 2] = 0.0
    c = b.copy()
    c[1, 0] = 0.0
    return [(a, 1, False), (b, 1, True), (c, 1, False), (b, None, False), (r.uniform(0.5, 1.5, (2, 3, 5)), 0, False)]


def _apart(r):
    """Two operands that never tie (37 i == 41 (j + 1/2) has no integer solution)."""
    return [(r.permutation(12).reshape(3, 4) * 0.37, (r.permutation(4) + 0.5) * 0.41)]


def _ones_int(dl):
    return dl.ones(2, 3, dtype=dl.int64)


OUT_OF_RANGE = ErrorCase(lambda dl: dl.sum(dl.ones(2, 3), 2), IndexError,
                         r"sum: dim 2 is out of range for input of shape \[2, 3\] \(expected in \[-2, 1\]\)")
REPEATED = ErrorCase(lambda dl: dl.sum(dl.ones(2, 3), (1, -1)), ValueError,
                     r"sum: dim 1 appears multiple times in dims \[1, -1\] \(input shape \[2, 3\]\)")

ROWS = [
    # ---- sum, mean, prod
    OpRow("sum", lambda x, d, k: dlcore.sum(x, d, keepdim=k), np_red(np.sum), with_x(RED),
          errors=[OUT_OF_RANGE, REPEATED]),
    OpRow("sum", lambda x, d, k: x.sum(d, keepdim=k), np_red(np.sum), with_x(LARGE), grad=False, id="large"),
    OpRow("sum", lambda x, d, k: x.sum(d, keepdim=k), np_red(np.sum), with_x(EMPTY), id="empty"),
    OpRow("sum", lambda x, d, k: dlcore.sum(x, d, keepdim=k), np_red(np.sum),
          with_x(RED[:6], lambda r, s: r.integers(-9, 9, s)), grad=False, id="int"),
    OpRow("sum", lambda x, d, k: dlcore.sum(x, d, keepdim=k), np_red(np.sum),
          with_x(RED[:6], lambda r, s: r.standard_normal(s) > 0), grad=False, id="bool"),
    OpRow("sum", lambda x, d, k: x.sum(d, keepdim=k, dtype=dlcore.float64), np_red(np.sum), with_x(RED[:4]),
          id="dtype"),
    OpRow("mean", lambda x, d, k: dlcore.mean(x, d, keepdim=k), np_red(np.mean), with_x(RED),
          errors=[ErrorCase(lambda dl: dl.mean(_ones_int(dl)), TypeError,
                            r"mean: expected a floating point input, got int64 \[2, 3\]")]),
    OpRow("mean", lambda x, d, k: x.mean(d, keepdim=k), np_red(np.mean), with_x(LARGE), grad=False, id="large"),
    OpRow("prod", lambda x, d, k: dlcore.prod(x, d, keepdim=k), np_red(np.prod), _with_zeros,
          errors=[ErrorCase(lambda dl: dl.prod(dl.ones(2, 3), (0, 1)), TypeError, "prod: dim must be an int or None")]),
    OpRow("prod", lambda x, d, k: x.prod(d, keepdim=k), np_red(np.prod),
          with_x([((0, 3), 0, False), ((), None, False), ((1,), 0, True)]), id="edge"),
    # ---- extremes
    OpRow("amax", lambda x, d, k: dlcore.amax(x, d, keepdim=k), np_red(np.max), with_x(RED),
          errors=[ErrorCase(lambda dl: dl.amax(dl.ones(0, 3), 0), IndexError,
                            r"amax: cannot reduce over a zero-size dimension \(input shape \[0, 3\], dims \[0\]\)")]),
    OpRow("amax", lambda x, d, k: x.amax(d, keepdim=k), np_red(np.max), with_x(LARGE), grad=False, id="large"),
    OpRow("amin", lambda x, d, k: dlcore.amin(x, d, keepdim=k), np_red(np.min), with_x(RED)),
    OpRow("amin", lambda x, d, k: x.amin(d, keepdim=k), np_red(np.min), with_x(LARGE), grad=False, id="large"),
    OpRow("max", lambda x, d, k: dlcore.max(x, d, keepdim=k), _maxmin(np.max, np.argmax), with_x(ONE),
          errors=[ErrorCase(lambda dl: dl.max(dl.ones(0, 3)), IndexError,
                            r"max: cannot reduce an empty tensor \(input shape \[0, 3\]\)"),
                  ErrorCase(lambda dl: dl.max(dl.ones(0, 3), 0), IndexError,
                            r"max: cannot reduce over a zero-size dimension \(input shape \[0, 3\], dims \[0\]\)")]),
    OpRow("max", lambda x, d, k: x.max(d, keepdim=k), _maxmin(np.max, np.argmax), with_x(LARGE[:4]), grad=False,
          id="large"),
    OpRow("max", lambda x: dlcore.max(x), np.max, lambda r: [(r.standard_normal(s),) for s, _, _ in RED[:4]], id="all"),
    OpRow("max", lambda a, b: dlcore.max(a, b), np.maximum,
          _apart, id="other"),
    OpRow("min", lambda x, d, k: x.min(d, keepdim=k), _maxmin(np.min, np.argmin), with_x(ONE)),
    OpRow("min", lambda x: x.min(), np.min, lambda r: [(r.standard_normal(s),) for s, _, _ in RED[:4]], id="all"),
    OpRow("min", lambda a, b: a.min(b), np.minimum,
          _apart, id="other"),
    OpRow("argmax", lambda x, d, k: dlcore.argmax(x, d, keepdim=k), np_red(np.argmax),
          with_x(ONE + [((2, 3, 4), None, False), ((2, 3, 4), None, True), ((), None, False)]), grad=False,
          errors=[ErrorCase(lambda dl: dl.argmax(dl.ones(2, 3), -3), IndexError,
                            r"argmax: dim -3 is out of range for input of shape \[2, 3\]"),
                  ErrorCase(lambda dl: dl.argmax(dl.ones(0)), IndexError, r"argmax: cannot reduce over a zero-size")]),
    OpRow("argmax", lambda x, d, k: x.argmax(d, keepdim=k), np_red(np.argmax), with_x(LARGE[:4]), grad=False,
          id="large"),
    OpRow("argmin", lambda x, d, k: x.argmin(d, keepdim=k), np_red(np.argmin),
          with_x(ONE + [((2, 3, 4), None, False), ((5, 9000), None, True)]), grad=False),
    # ---- statistics
    OpRow("var", lambda x, d, c, k: dlcore.var(x, d, keepdim=k, correction=c),
          lambda x, d, c, k: np.var(x, axis=_axis(d), ddof=c, keepdims=k),
          lambda r: [(r.standard_normal(s), d, c, k) for (s, d, k), c in zip(RED[:9], [1, 0, 1, 2, 1, 0, 1, 1, 1])],
          errors=[ErrorCase(lambda dl: dl.var(_ones_int(dl)), TypeError,
                            r"var: expected a floating point input, got int64 \[2, 3\]"),
                  ErrorCase(lambda dl: dl.var(dl.ones(2, 3), 0, unbiased=True, correction=0), ValueError,
                            "var: pass either unbiased or correction, not both")]),
    OpRow("var", lambda x, d, k: x.var(d, unbiased=False, keepdim=k),
          lambda x, d, k: np.var(x, axis=_axis(d), keepdims=k), with_x(RED[2:5]), id="unbiased"),
    OpRow("var", lambda x, d, k: x.var(d, keepdim=k), lambda x, d, k: np.var(x, axis=_axis(d), ddof=1, keepdims=k),
          with_x(LARGE), grad=False, id="large"),
    OpRow("std", lambda x, d, c, k: dlcore.std(x, d, keepdim=k, correction=c),
          lambda x, d, c, k: np.std(x, axis=_axis(d), ddof=c, keepdims=k),
          lambda r: [(r.standard_normal(s), d, c, k) for (s, d, k), c in zip(RED[:9], [1, 0, 1, 2, 1, 0, 1, 1, 1])]),
    OpRow("logsumexp", lambda x, d, k: dlcore.logsumexp(x, d, keepdim=k), _lse, with_x(RED[1:9]),
          errors=[ErrorCase(lambda dl: dl.logsumexp(dl.ones(2, 3), 5), IndexError,
                            r"logsumexp: dim 5 is out of range for input of shape \[2, 3\]")]),
    OpRow("logsumexp", lambda x, d, k: x.logsumexp(d, keepdim=k), _lse,
          with_x(LARGE, lambda r, s: 30 * r.standard_normal(s)), grad=False, id="large"),
    OpRow("norm", lambda x, p, d, k: dlcore.norm(x, p, d, keepdim=k), _norm,
          lambda r: [(away_from_zero(r, s), p, d, k) for (s, d, k), p in
                     zip(RED, ["fro", 2, 1, np.inf, -np.inf, 0, 3, 0.5, 2, 1, 2])],
          errors=[ErrorCase(lambda dl: dl.norm(_ones_int(dl)), TypeError,
                            r"norm: expected a floating point input, got int64 \[2, 3\]"),
                  ErrorCase(lambda dl: dl.norm(dl.ones(2, 3), "nuc"), NotImplementedError, "norm: p='nuc'"),
                  ErrorCase(lambda dl: dl.norm(dl.ones(0, 3), float("inf"), 0), IndexError,
                            r"norm: cannot reduce over a zero-size dimension")]),
    OpRow("norm", lambda x, p, d, k: x.norm(p, d, keepdim=k), _norm,
          lambda r: [(r.standard_normal(s), p, d, k) for (s, d, k), p in zip(LARGE, [2, 1, np.inf, 2, 3, 2])],
          grad=False, id="large"),
    # ---- logical
    OpRow("all", lambda x, d, k: dlcore.all(x, d, keepdim=k), np_red(np.all),
          with_x([c for c in ONE] + [((2, 3, 4), None, False), ((0, 3), 0, False)],
                 lambda r, s: np.round(r.standard_normal(s) * 2)), grad=False,
          errors=[ErrorCase(lambda dl: dl.all(dl.ones(2, 3), (0, 1)), TypeError, "all: dim must be an int or None")]),
    OpRow("all", lambda x, d, k: x.all(d, keepdim=k), np_red(np.all),
          with_x(ONE[:4], lambda r, s: r.standard_normal(s) > -1.5), grad=False, id="bool"),
    OpRow("any", lambda x, d, k: dlcore.any(x, d, keepdim=k), np_red(np.any),
          with_x([c for c in ONE] + [((2, 3, 4), None, False), ((0, 3), 0, False)],
                 lambda r, s: np.round(r.standard_normal(s) * 0.4)), grad=False),
    OpRow("any", lambda x, d, k: x.any(d, keepdim=k), np_red(np.any),
          with_x(ONE[:4], lambda r, s: r.standard_normal(s) > 1.5), grad=False, id="bool"),
    # ---- cumsum
    OpRow("cumsum", lambda x, d: dlcore.cumsum(x, d), lambda x, d: np.cumsum(x, axis=d),
          lambda r: [(r.standard_normal(s), d) for s, d, _ in ONE],
          errors=[ErrorCase(lambda dl: dl.cumsum(dl.ones(2, 3), 2), IndexError,
                            r"cumsum: dim 2 is out of range for input of shape \[2, 3\]")]),
    OpRow("cumsum", lambda x, d: x.cumsum(d), lambda x, d: np.cumsum(x, axis=d),
          lambda r: [(r.integers(-9, 9, s), d) for s, d, _ in ONE[:4]] + [(r.standard_normal(4) > 0, 0)],
          grad=False, id="int"),
    OpRow("cumsum", lambda x, d: x.cumsum(d), lambda x, d: np.cumsum(x, axis=d),
          lambda r: [(r.standard_normal(s), d if isinstance(d, int) else 0) for s, d, _ in LARGE[:4]],
          grad=False, id="large"),
    # ---- softmax family
    OpRow("softmax", lambda x, d: dlcore.softmax(x, d), _softmax,
          lambda r: [(r.standard_normal(s), d) for s, d, _ in ONE] + [(r.standard_normal(()), 0)],
          errors=[ErrorCase(lambda dl: dl.softmax(_ones_int(dl), 1), TypeError,
                            r"softmax: expected a floating point input, got int64 \[2, 3\]"),
                  ErrorCase(lambda dl: dl.softmax(dl.ones(2, 3), 2), IndexError,
                            r"softmax: dim 2 is out of range for input of shape \[2, 3\]")]),
    OpRow("softmax", lambda x, d: x.softmax(d), _softmax,
          lambda r: [(20 * r.standard_normal(s), d if isinstance(d, int) else 1) for s, d, _ in LARGE],
          grad=False, id="large"),
    OpRow("log_softmax", lambda x, d: dlcore.log_softmax(x, d), _log_softmax,
          lambda r: [(r.standard_normal(s), d) for s, d, _ in ONE] + [(r.standard_normal(()), -1)],
          errors=[ErrorCase(lambda dl: dl.log_softmax(dl.ones(2, 3), -3), IndexError,
                            r"log_softmax: dim -3 is out of range for input of shape \[2, 3\]")]),
    OpRow("log_softmax", lambda x, d: x.log_softmax(d), _log_softmax,
          lambda r: [(20 * r.standard_normal(s), d if isinstance(d, int) else 1) for s, d, _ in LARGE],
          grad=False, id="large"),
]
