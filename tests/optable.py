"""The op table: one row per registered op, and the generic checks every row gets.

A row says how to call the op (``op``), what it should compute (``ref``, numpy, evaluated in
float64), on which inputs (``samples``), whether it is differentiable, and which bad inputs
must raise. tests/test_optable.py runs, for every row:
  forward vs the reference in float32 and float64, the same on non-contiguous inputs,
  a float64 finite-difference gradcheck, and each error case (type and message).
A registered op without a row fails the suite (test_every_registered_op_has_a_row).

Samples are tuples of arguments. numpy float arrays become dlcore tensors of the dtype under
test; integer and bool arrays become int64/bool tensors unchanged; anything else (numbers,
tuples, strings) is passed through. Wrap an array in ``Const`` to pass it as a tensor that is
never differentiated nor made non-contiguous.
"""
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
