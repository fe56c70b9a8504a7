"""The op table: one row per registered op, and the generic checks every row gets.

A row says how to call the op (``op``), what it should compute (``ref``, numpy, evaluated in
float64), on which inputs (``samples``), whether it is differentiable, and which bad inputs
must raise. tests/test_optable.py runs, for every row:
  forward vs the reference in float32 and float64, the same on non-contiguous inputs,
  a float64 finite-difference gradcheck, a float64 double-backward check (second derivatives
  right, or refused with check_no_double_backward's error), and each error case (type and message).
A registered op without a row fails the suite (test_every_registered_op_has_a_row).

Samples are tuples of arguments. numpy float arrays become dlcore tensors of the dtype under
test; integer and bool arrays become int64/bool tensors unchanged; anything else (numbers,
tuples, strings) is passed through. Wrap an array in ``Const`` to pass it as a tensor that is
never differentiated nor made non-contiguous.
"""
import re
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

import dlcore

# Tolerances by dtype. float32: ~10 ulps of accumulated rounding relative to a float64
# reference; float64: tight.
DEFAULT_TOL = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}
NP_DTYPE = {"float32": np.float32, "float64": np.float64}


@dataclass
class Const:
    """An array argument that is never differentiated nor made non-contiguous."""
    value: np.ndarray


@dataclass
class ErrorCase:
    """call(dlcore) must raise `exc` whose message matches `match` (a regex)."""
    call: Callable
    exc: type
    match: str


@dataclass
class OpRow:
    name: str                                   # registered op name (dlcore._C._registered_ops)
    op: Callable                                # op(*args) on dlcore values
    ref: Optional[Callable]                     # ref(*args) on numpy float64 values; None: no forward check
    samples: Callable[[np.random.Generator], Sequence[tuple]]
    grad: bool = True                           # float64 gradcheck
    dtypes: tuple = ("float32", "float64")
    tol: dict = field(default_factory=dict)     # overrides DEFAULT_TOL per dtype
    errors: Sequence[ErrorCase] = ()
    noncontig: bool = True
    id: str = ""                                # distinguishes several rows of one op

    @property
    def key(self):
        return self.name + (f"-{self.id}" if self.id else "")

    def tolerance(self, dtype):
        return self.tol.get(dtype, DEFAULT_TOL.get(dtype, (0, 0)))


def to_dlcore(arg, dtype, noncontig=False, requires_grad=False):
    """Converts one sample argument for a run in `dtype`."""
    if isinstance(arg, Const):
        return dlcore.tensor(arg.value) if arg.value.dtype.kind == "f" and dtype is None else \
            dlcore.tensor(arg.value.astype(NP_DTYPE[dtype]) if arg.value.dtype.kind == "f" else arg.value)
    if not isinstance(arg, np.ndarray):
        return arg
    if arg.dtype.kind == "f":
        arr = arg.astype(NP_DTYPE[dtype])
    else:
        arr = arg
    t = make_noncontiguous(arr) if noncontig and arr.size > 1 else dlcore.tensor(arr)
    if requires_grad and arr.dtype.kind == "f":
        t.requires_grad_(True)
    return t


def make_noncontiguous(arr):
    """A tensor equal to `arr` whose every stride is doubled (a strided view of a buffer)."""
    buf = np.zeros(arr.size * 2, dtype=arr.dtype)
    buf[::2] = arr.reshape(-1)
    base = dlcore.tensor(buf)
    strides = [2 * s for s in dlcore.empty(list(arr.shape)).stride()]
    t = base.as_strided(list(arr.shape), strides, 0)
    assert not t.is_contiguous() or arr.ndim == 0
    return t


def to_numpy_ref(arg, dtype="float64"):
    """The reference sees the inputs rounded to the dtype under test, then computes in float64."""
    if isinstance(arg, Const):
        arg = arg.value
    if isinstance(arg, np.ndarray) and arg.dtype.kind == "f":
        return arg.astype(NP_DTYPE[dtype]).astype(np.float64)
    return arg


def outputs_of(result):
    """Flattens an op result into a list of tensors/values (tuples, named tuples, lists)."""
    if isinstance(result, (tuple, list)):
        out = []
        for r in result:
            out.extend(outputs_of(r))
        return out
    return [result]


def as_numpy(x):
    if isinstance(x, dlcore.Tensor):
        x = x.detach()
        if x.dtype in (dlcore.float16, dlcore.bfloat16):
            x = x.float()
        return x.numpy()
    return np.asarray(x)


# ---- double backward ------------------------------------------------------------------------------
# Note [Double-backward check]
# The first derivatives g(x, v) = grad(op(x), x, v) of a row are differentiated again
# (create_graph=True) and compared with central differences of g along random directions:
# for random u over (x, v) and w over g, w . (g(p + eps u) - g(p - eps u)) / 2 eps must equal
# u . grad(w . g, (x, v)). A first derivative without history counts as constant, so a backward
# formula that drops the history under create_graph fails the comparison instead of being
# skipped. Random directions make the check cost O(1) backwards per sample where a full
# Jacobian costs one per element; a missing term shows with probability one. The first
# derivatives must also be the same with create_graph as without (the formulas may differ).
# A backward that refuses create_graph (check_no_double_backward) is a valid answer: the check
# returns False then.
DOUBLE_BACKWARD_UNSUPPORTED = r"double backward \(create_graph=True\) is not supported"


def _float_outputs(result):
    return [o for o in outputs_of(result)
            if isinstance(o, dlcore.Tensor) and o.dtype.is_floating_point and o.requires_grad]


def _first_derivatives(op, args, diff, grad_outputs, create_graph):
    """grad(op(args), args[diff], grad_outputs); an unused input gets None."""
    with dlcore.enable_grad():
        outs = _float_outputs(op(*args))
        assert len(outs) == len(grad_outputs), f"{len(outs)} differentiable outputs, {len(grad_outputs)} grads"
        return list(dlcore.autograd.grad(outs, [args[i] for i in diff], list(grad_outputs),
                                         create_graph=create_graph, allow_unused=True))


def _dot(tensors, arrays):
    return sum(float((t.detach().numpy().astype(np.float64) * a).sum())
               for t, a in zip(tensors, arrays) if t is not None)


def double_backward_check(op, args, rng, eps=1e-6, rtol=1e-5, probes=2):
    """Checks op's second derivatives at float64 `args` (Note [Double-backward check]).
    Returns True when they match, False when the op's backward raises for create_graph;
    raises AssertionError on a wrong second derivative."""
    args = list(args)
    diff = [i for i, a in enumerate(args) if isinstance(a, dlcore.Tensor) and a.requires_grad]
    assert diff, "no differentiable input"
    outs = _float_outputs(op(*args))
    assert outs, "no differentiable output"
    gos = [dlcore.tensor(rng.standard_normal(tuple(o.shape)), dtype=dlcore.float64).requires_grad_(True)
           for o in outs]
    try:
        firsts = _first_derivatives(op, args, diff, gos, create_graph=True)
    except RuntimeError as e:
        if re.search(DOUBLE_BACKWARD_UNSUPPORTED, str(e)):
            return False
        raise
    plain = _first_derivatives(op, args, diff, gos, create_graph=False)
    for k, (g, p) in enumerate(zip(firsts, plain)):
        assert (g is None) == (p is None), f"grad {k}: None with create_graph one way only"
        if g is not None:
            np.testing.assert_allclose(g.detach().numpy(), p.detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"grad {k} differs with create_graph=True")
    variables = [args[i] for i in diff] + gos
    # Views of the variables' own memory, perturbed in place (their values are read at each call).
    memory = [v.detach().numpy() for v in variables]
    saved = [m.copy() for m in memory]
    live = [g for g in firsts if g is not None]
    with_history = [g for g in live if g.requires_grad]
    for _ in range(probes):
        u = [rng.standard_normal(m.shape) for m in memory]
        w = [rng.standard_normal(tuple(g.shape)) for g in live]
        numeric = []
        for sign in (1.0, -1.0):
            for m, m0, d in zip(memory, saved, u):
                m[...] = m0 + sign * eps * d
            shifted = _first_derivatives(op, args, diff, gos, create_graph=False)
            numeric.append(_dot([g for g in shifted if g is not None], w))  # before the reset: may alias
            for m, m0 in zip(memory, saved):
                m[...] = m0
        numeric = (numeric[0] - numeric[1]) / (2 * eps)
        analytic, scale = 0.0, 0.0
        if with_history:
            seeds = [dlcore.tensor(d, dtype=g.dtype) for g, d in zip(live, w) if g.requires_grad]
            second = dlcore.autograd.grad(with_history, variables, seeds, retain_graph=True, allow_unused=True)
            terms = [None if s is None else s.detach().numpy() * d for s, d in zip(second, u)]
            analytic = sum(float(t.sum()) for t in terms if t is not None)
            scale = sum(float(np.abs(t).sum()) for t in terms if t is not None)
        assert abs(numeric - analytic) <= rtol * (1.0 + scale + abs(numeric)), \
            f"second derivative along a random direction: numerical {numeric!r} vs analytical {analytic!r}"
    return True
