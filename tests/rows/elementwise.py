"""Op-table rows for the element-wise math functions (trigonometric, hyperbolic, special,
rounding, predicates and the math functions of two arguments)."""
import math

import numpy as np
import pytest

import dlcore
from optable import ErrorCase, OpRow
from rows.core import BINARY_SHAPES, UNARY_SHAPES, bad_broadcast, normal, positive

_erf = np.vectorize(math.erf, otypes=[float])
_erfc = np.vectorize(math.erfc, otypes=[float])
_lgamma = np.vectorize(math.lgamma, otypes=[float])


def _special(name):
    def ref(a):
        special = pytest.importorskip("scipy.special")
        return getattr(special, name)(a)
    return ref


def _polygamma(n, a):
    special = pytest.importorskip("scipy.special")
    return special.polygamma(n, a)


def uniform(lo, hi, *shapes):
    def make(r):
        return [tuple(r.uniform(lo, hi, s) for s in group) for group in shapes]
    return make


def away_from_integers(scale, *shapes):
    """Values at least 0.1 from every integer (finite differences never cross a step)."""
    def make(r):
        out = []
        for group in shapes:
            out.append(tuple(np.asarray(np.round(r.standard_normal(s) * scale) + r.choice([-1, 1], s) *
                                        r.uniform(0.1, 0.4, s)) for s in group))
        return out
    return make


def _half(name):
    return ErrorCase(lambda dl: getattr(dl, name)(dl.ones(2, dtype=dl.float16)), TypeError,
                     f"{name}: float16 arithmetic is not supported on CPU")


def _unary(name, ref, samples, errors=None, **kw):
    return OpRow(name, getattr(dlcore, name), ref, samples, errors=[_half(name)] if errors is None else errors, **kw)


def _ints(r, shapes, lo=-100, hi=100, nonzero_second=False):
    out = []
    for k, group in enumerate(shapes):
        arrs = []
        for j, s in enumerate(group):
            a = r.integers(lo, hi, s).astype(np.int32 if k == 1 else np.int64)
            if nonzero_second and j == 1:
                a = np.where(a == 0, 3, a).astype(a.dtype)
            arrs.append(a)
        out.append(tuple(arrs))
    return out


def _floor_div_ref(a, b):
    return np.floor_divide(a, b)


def _shift_ref(left):
    def ref(a, b):
        bits = np.dtype(np.result_type(a, b)).itemsize * 8
        a = a.astype(np.result_type(a, b))
        b = np.broadcast_to(b, np.broadcast_shapes(a.shape, np.shape(b))).astype(a.dtype)
        inside = (b >= 0) & (b < bits)
        s = np.where(inside, b, 0)
        if left:
            return np.where(inside, np.left_shift(a, s), 0)
        return np.where(inside, np.right_shift(a, s), np.right_shift(a, bits - 1))
    return ref


def _logit_ref(eps):
    def ref(a):
        z = np.clip(a, eps, 1 - eps) if eps is not None else a
        return np.log(z / (1 - z))
    return ref


def _fmax_samples(r):
    # distinct values (no ties under finite differences), NaNs in the non-differentiated rows only
    return [(r.permutation(12).reshape(3, 4) * 0.31, r.permutation(4) * 0.43 + 0.05),
            (r.permutation(5) * 0.7, np.array(1.1))]


ROWS = [
    # ---- trigonometric and hyperbolic
    _unary("acos", np.arccos, uniform(-0.9, 0.9, *UNARY_SHAPES)),
    _unary("asin", np.arcsin, uniform(-0.9, 0.9, *UNARY_SHAPES)),
    _unary("atan", np.arctan, normal(*UNARY_SHAPES)),
    _unary("sinh", np.sinh, normal(*UNARY_SHAPES)),
    _unary("cosh", np.cosh, normal(*UNARY_SHAPES)),
    _unary("tan", np.tan, uniform(-1.4, 1.4, *UNARY_SHAPES)),
    _unary("asinh", np.arcsinh, normal(*UNARY_SHAPES)),
    _unary("acosh", np.arccosh, positive(*UNARY_SHAPES, lo=1.1, hi=5.0)),
    _unary("atanh", np.arctanh, uniform(-0.9, 0.9, *UNARY_SHAPES)),
    # ---- special functions
    _unary("erf", _erf, normal(*UNARY_SHAPES)),
    _unary("erfc", _erfc, normal(*UNARY_SHAPES)),
    _unary("erfinv", _special("erfinv"), uniform(-0.95, 0.95, *UNARY_SHAPES)),
    _unary("lgamma", _lgamma, lambda r: positive(*UNARY_SHAPES, lo=0.2, hi=6.0)(r) +
           [(np.array([-2.5, -1.3, -0.7, 0.3, 7.5, 30.0]),)]),
    _unary("digamma", _special("digamma"), lambda r: positive(*UNARY_SHAPES, lo=0.2, hi=12.0)(r) +
           [(np.array([-2.5, -1.3, -0.7, 0.3, 1.4616, 7.5, 30.0]),)],
           tol={"float32": (1e-5, 3e-6)}),
    OpRow("polygamma", lambda a: dlcore.polygamma(2, a), lambda a: _polygamma(2, a),
          lambda r: positive(*UNARY_SHAPES, lo=0.3, hi=8.0)(r) + [(np.array([-2.5, -0.3, 25.0]),)],
          errors=[ErrorCase(lambda dl: dl.polygamma(-1, dl.ones(2)), ValueError,
                            "polygamma: n must be non-negative, got -1")]),
    OpRow("polygamma", lambda a: a.polygamma(1), lambda a: _polygamma(1, a),
          lambda r: positive(*UNARY_SHAPES, lo=0.3, hi=8.0)(r), id="trigamma"),
    _unary("i0", np.i0, lambda r: normal(*UNARY_SHAPES)(r) + [(np.array([-20.0, -29.9, 30.1, 45.0, 0.0]),)]),
    _unary("sinc", np.sinc, lambda r: normal(*UNARY_SHAPES)(r) + [(np.array([0.0, 0.5, -2.25, 3.0]),)]),
    OpRow("logit", dlcore.logit, _logit_ref(None), uniform(0.05, 0.95, *UNARY_SHAPES), errors=[_half("logit")]),
    OpRow("logit", lambda a: dlcore.logit(a, eps=0.2), _logit_ref(0.2),
          lambda r: [(np.array([0.05, 0.1, 0.25, 0.5, 0.6, 0.9, 0.95]),)], id="eps"),
    # ---- exponentials and logarithms
    _unary("exp2", np.exp2, normal(*UNARY_SHAPES)),
    _unary("expm1", np.expm1, lambda r: normal(*UNARY_SHAPES)(r) + [(np.array([1e-10, -1e-7, 3e-5]),)]),
    _unary("log2", np.log2, positive(*UNARY_SHAPES)),
    _unary("log10", np.log10, positive(*UNARY_SHAPES)),
    _unary("reciprocal", np.reciprocal, positive(*UNARY_SHAPES)),
    # ---- rounding (zero gradients; the identity on integers)
    *[OpRow(n, getattr(dlcore, n), getattr(np, u), away_from_integers(3, *UNARY_SHAPES), grad=False,
            errors=[ErrorCase(lambda dl, n=n: getattr(dl, n)(dl.ones(2, dtype=dl.bool)), TypeError,
                              rf"{n}: not supported for bool tensors \(bool \[2\]\)")])
      for n, u in [("floor", "floor"), ("ceil", "ceil"), ("trunc", "trunc")]],
    OpRow("round", dlcore.round, np.round, lambda r: away_from_integers(3, *UNARY_SHAPES)(r) +
          [(np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5]),)], grad=False,
          errors=[ErrorCase(lambda dl: dl.round(dl.tensor([1, 2]), decimals=1), TypeError,
                            r"round: decimals=1 is only supported for floating tensors, got int64 \[2\]")]),
    OpRow("round", lambda a: dlcore.round(a, decimals=2), lambda a: np.round(a, 2),
          lambda r: [(r.uniform(-50, 50, (13,)),)], grad=False, id="decimals"),
    OpRow("round", lambda a: dlcore.round(a, decimals=-1), lambda a: np.round(a, -1),
          lambda r: [(r.uniform(-500, 500, (13,)),)], grad=False, id="negative-decimals"),
    OpRow("floor", dlcore.floor, np.floor,
          lambda r: [(np.array([0.0, -0.0, -0.5, 0.5, -1.5, 1e30, -1e30, np.inf, -np.inf, np.nan]),)], grad=False,
          id="special"),
    # ---- predicates (bool results)
    *[OpRow(n, getattr(dlcore, n), ref,
            lambda r: [(np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, 1e300]),),
                       (r.standard_normal((3, 4)),)], grad=False)
      for n, ref in [("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite),
                     ("isposinf", np.isposinf), ("isneginf", np.isneginf), ("signbit", np.signbit)]],
    OpRow("nan_to_num", lambda a: dlcore.nan_to_num(a, nan=1.5, posinf=100.0, neginf=-7.0),
          lambda a: np.nan_to_num(a, nan=1.5, posinf=100.0, neginf=-7.0),
          lambda r: [(np.array([0.5, np.nan, np.inf, -np.inf, -2.0]),), (r.standard_normal((3, 5)),)]),
    OpRow("nan_to_num", dlcore.nan_to_num, lambda a: a, normal(*UNARY_SHAPES), id="finite"),
    # ---- two arguments
    OpRow("atan2", dlcore.atan2, np.arctan2, normal(*BINARY_SHAPES), errors=[bad_broadcast("atan2")]),
    OpRow("copysign", dlcore.copysign, np.copysign, normal(*BINARY_SHAPES), errors=[bad_broadcast("copysign")]),
    OpRow("xlogy", dlcore.xlogy, lambda a, b: a * np.log(b),
          lambda r: [(a, np.abs(b) + 0.3) for a, b in normal(*BINARY_SHAPES)(r)]),
    OpRow("xlogy", dlcore.xlogy, lambda a, b: np.where(a == 0, 0.0, a * np.log(b)),
          lambda r: [(np.array([0.0, 0.0, 1.0, 2.0]), np.array([0.0, 3.0, 2.0, 0.5]))], grad=False, id="zero"),
    OpRow("hypot", dlcore.hypot, np.hypot, normal(*BINARY_SHAPES),
          errors=[ErrorCase(lambda dl: dl.hypot(dl.tensor([3]), dl.tensor([4])), TypeError,
                            r"hypot: only floating tensors are supported, got int64 \[1\] and int64 \[1\]")]),
    OpRow("nextafter", dlcore.nextafter, np.nextafter, normal(*BINARY_SHAPES), dtypes=("float64",)),
    OpRow("logaddexp", dlcore.logaddexp, np.logaddexp, lambda r: normal(*BINARY_SHAPES)(r) +
          [(np.array([800.0, -800.0, 0.0]), np.array([799.0, -801.0, 0.0]))]),
    OpRow("logaddexp2", dlcore.logaddexp2, np.logaddexp2, normal(*BINARY_SHAPES)),
    OpRow("fmod", dlcore.fmod, np.fmod, lambda r: [(a * 3, np.sign(b) * (np.abs(b) + 0.5)) for a, b in
                                                   normal(*BINARY_SHAPES)(r)],
          errors=[ErrorCase(lambda dl: dl.fmod(dl.tensor([1, 2]), dl.tensor([0, 1])), RuntimeError,
                            r"fmod: ZeroDivisionError \(integer division by zero, other is int64 \[2\]\)"),
                  ErrorCase(lambda dl: dl.fmod(dl.ones(2, dtype=dl.bool), dl.ones(2, dtype=dl.bool)), TypeError,
                            "fmod: not supported for bool tensors")]),
    OpRow("fmod", dlcore.fmod, np.fmod, lambda r: _ints(r, BINARY_SHAPES, nonzero_second=True), grad=False,
          dtypes=("float32",), id="int"),
    OpRow("remainder", dlcore.remainder, np.remainder,
          lambda r: [(a * 3, np.sign(b) * (np.abs(b) + 0.5)) for a, b in normal(*BINARY_SHAPES)(r)]),
    OpRow("remainder", lambda a, b: a % b, np.remainder, lambda r: _ints(r, BINARY_SHAPES, nonzero_second=True),
          grad=False, dtypes=("float32",), id="int"),
    OpRow("floor_divide", lambda a, b: a // b, _floor_div_ref,
          lambda r: [(a * 3, np.sign(b) * (np.abs(b) + 0.5)) for a, b in normal(*BINARY_SHAPES)(r)], grad=False,
          errors=[ErrorCase(lambda dl: dl.floor_divide(dl.tensor([1]), dl.tensor([0])), RuntimeError,
                            "floor_divide: ZeroDivisionError")]),
    OpRow("floor_divide", dlcore.floor_divide, _floor_div_ref,
          lambda r: _ints(r, BINARY_SHAPES, nonzero_second=True), grad=False, dtypes=("float32",), id="int"),
    OpRow("heaviside", dlcore.heaviside, np.heaviside,
          lambda r: [(np.array([-1.5, 0.0, 2.0, 0.0, -0.0]), np.array([0.5, 0.5, 0.5, 3.0, -2.0])),
                     (np.round(r.standard_normal((3, 4))), np.array(0.25))], grad=False,
          errors=[ErrorCase(lambda dl: dl.heaviside(dl.ones(2), dl.ones(2, dtype=dl.float64)), TypeError,
                            r"heaviside: input and values must have the same dtype, got float32 \[2\] and "
                            r"float64 \[2\]")]),
    OpRow("fmax", dlcore.fmax, np.fmax, _fmax_samples),
    OpRow("fmax", dlcore.fmax, np.fmax,
          lambda r: [(np.array([np.nan, 1.0, np.nan, -0.5]), np.array([2.0, np.nan, np.nan, 0.5]))],
          grad=False, id="nan"),
    OpRow("fmin", dlcore.fmin, np.fmin, _fmax_samples),
    OpRow("fmin", dlcore.fmin, np.fmin,
          lambda r: [(np.array([np.nan, 1.0, np.nan, -0.5]), np.array([2.0, np.nan, np.nan, 0.5]))],
          grad=False, id="nan"),
    *[OpRow(n, getattr(dlcore, n), getattr(np, n), lambda r: _ints(r, BINARY_SHAPES), grad=False,
            dtypes=("float32",),
            errors=[ErrorCase(lambda dl, n=n: getattr(dl, n)(dl.ones(2), dl.ones(2)), TypeError,
                              rf"{n}: only integer tensors are supported, got float32 \[2\] and float32 \[2\]")])
      for n in ("gcd", "lcm")],
    *[OpRow(n, getattr(dlcore, n), _shift_ref(n == "bitwise_left_shift"),
            lambda r: [(a, np.abs(b) % 70 - 3) for a, b in _ints(r, BINARY_SHAPES)], grad=False,
            dtypes=("float32",),
            errors=[ErrorCase(lambda dl, n=n: getattr(dl, n)(dl.ones(2, dtype=dl.bool), dl.ones(2, dtype=dl.bool)),
                              TypeError, rf"{n}: only integer tensors are supported, got bool")])
      for n in ("bitwise_left_shift", "bitwise_right_shift")],
    OpRow("lerp", dlcore.lerp, lambda a, b, w: a + w * (b - a),
          lambda r: [(r.standard_normal((3, 4)), r.standard_normal((4,)), r.uniform(-0.5, 1.5, (3, 1))),
                     (r.standard_normal((5,)), r.standard_normal((5,)), r.uniform(0, 1, (5,)))],
          errors=[ErrorCase(lambda dl: dl.lerp(dl.ones(2), dl.ones(2, dtype=dl.float64), 0.5), TypeError,
                            r"lerp: start and end must have the same floating dtype, got float32 \[2\] and "
                            r"float64 \[2\]"),
                  ErrorCase(lambda dl: dl.lerp(dl.ones(2), dl.ones(3), 0.5), ValueError,
                            r"lerp: shapes \[2\] and \[3\] cannot be broadcast")]),
    OpRow("lerp", lambda a, b: dlcore.lerp(a, b, 0.75), lambda a, b: a + 0.75 * (b - a), normal(*BINARY_SHAPES),
          id="scalar"),
]
