"""Generic checks over every row of the op table (see tests/optable.py)."""
import importlib
import pkgutil
import re
import warnings
import zlib

import numpy as np
import pytest

import dlcore
import rows as rows_pkg
from optable import DEFAULT_TOL, as_numpy, double_backward_check, outputs_of, to_dlcore, to_numpy_ref


def _collect():
    rows = []
    for mod in pkgutil.iter_modules(rows_pkg.__path__):
        rows.extend(importlib.import_module(f"rows.{mod.name}").ROWS)
    return rows


ROWS = _collect()
FORWARD = [(r, d) for r in ROWS if r.ref is not None for d in r.dtypes]
GRAD = [r for r in ROWS if r.grad]
ERRORS = [(r, i) for r in ROWS for i in range(len(r.errors))]


@pytest.fixture(autouse=True)
def poisoned_outputs():
    """Every tensor the ops allocate starts as NaN / a large value (Note [Poisoned new tensors]):
    an output element a kernel leaves unwritten fails the comparison."""
    prev = dlcore._C._set_poison_new_tensors(True)
    yield
    dlcore._C._set_poison_new_tensors(prev)


def _samples(row):
    return row.samples(np.random.default_rng(zlib.crc32(row.key.encode())))  # the same data in every run


def _compare(row, got, want, dtype, ctx):
    got, want = outputs_of(got), outputs_of(want)
    assert len(got) == len(want), f"{row.key}: {len(got)} outputs, reference has {len(want)} ({ctx})"
    rtol, atol = row.tolerance(dtype)
    for g, w in zip(got, want):
        g_np, w_np = as_numpy(g), np.asarray(w)
        assert g_np.shape == w_np.shape, f"{row.key}: shape {g_np.shape} vs reference {w_np.shape} ({ctx})"
        if w_np.dtype.kind == "f" or g_np.dtype.kind == "f":
            np.testing.assert_allclose(g_np.astype(np.float64), w_np.astype(np.float64), rtol=rtol, atol=atol,
                                       equal_nan=True, err_msg=f"{row.key} ({ctx})")
        else:
            np.testing.assert_array_equal(g_np, w_np, err_msg=f"{row.key} ({ctx})")


@pytest.mark.parametrize("row,dtype", FORWARD, ids=[f"{r.key}-{d}" for r, d in FORWARD])
def test_forward(row, dtype):
    for i, sample in enumerate(_samples(row)):
        got = row.op(*[to_dlcore(a, dtype) for a in sample])
        want = row.ref(*[to_numpy_ref(a, dtype) for a in sample])
        _compare(row, got, want, dtype, f"sample {i}, {dtype}")


NONCONTIG = [r for r in ROWS if r.noncontig and r.ref is not None]


@pytest.mark.parametrize("row", NONCONTIG, ids=[r.key for r in NONCONTIG])
def test_noncontiguous(row):
    dtype = "float64" if "float64" in row.dtypes else row.dtypes[0]
    for i, sample in enumerate(_samples(row)):
        got = row.op(*[to_dlcore(a, dtype, noncontig=True) for a in sample])
        want = row.ref(*[to_numpy_ref(a, dtype) for a in sample])
        _compare(row, got, want, dtype, f"sample {i}, non-contiguous")


@pytest.mark.parametrize("row", GRAD, ids=[r.key for r in GRAD])
def test_gradcheck(row):
    checked = 0
    for sample in _samples(row):
        args = [to_dlcore(a, "float64", requires_grad=True) for a in sample]
        if not any(isinstance(a, dlcore.Tensor) and a.requires_grad for a in args):
            continue
        assert dlcore.autograd.gradcheck(row.op, args, eps=1e-6, atol=1e-5, rtol=1e-4)
        checked += 1
    assert checked, f"{row.key}: no sample had a differentiable input"


# ---- double backward: right or an error --------------------------------------------------------
# Every gradchecked row's second derivatives are checked (Note [Double-backward check] in
# tests/optable.py), or its backward must refuse create_graph with check_no_double_backward's
# message. DOUBLE_BACKWARD_XFAIL lists the rows with a known wrong second derivative, each with
# the backward formula to fix (strict: a fixed row fails until it is taken off the list).
DOUBLE_BACKWARD_XFAIL = {
    "sinc": "sinc's backward (cpp/src/ops/unary.cpp) gives a wrong second derivative",
}


def _double_backward_param(row):
    reason = DOUBLE_BACKWARD_XFAIL.get(row.key)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(row, id=row.key, marks=marks)


@pytest.mark.parametrize("row", [_double_backward_param(r) for r in GRAD])
def test_double_backward(row):
    rng = np.random.default_rng(zlib.crc32(row.key.encode()) + 1)
    checked = 0
    for sample in _samples(row):
        args = [to_dlcore(a, "float64", requires_grad=True) for a in sample]
        if not any(isinstance(a, dlcore.Tensor) and a.requires_grad for a in args):
            continue
        double_backward_check(row.op, args, rng)  # True (checked) or False (refused) on each sample
        checked += 1
    assert checked, f"{row.key}: no sample had a differentiable input"


# Basic indexing goes through select/slice (their backward, Note [Differentiable slice backward]).
GETITEM = {
    "ratio_of_rows": lambda x: x[0] / x[2],
    "column_block": lambda x: x[:, 1:3] * x[:, 2:4],
    "strided": lambda x: x[1, ::2] ** 3,
    "negative": lambda x: x[-1, -2] * x[..., 0],
}


@pytest.mark.parametrize("name", list(GETITEM))
def test_double_backward_basic_indexing(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = dlcore.tensor(rng.uniform(0.5, 1.5, (3, 5))).requires_grad_(True)
    assert double_backward_check(GETITEM[name], [x], rng)


class _Square(dlcore.autograd.Function):
    """x * x whose backward's history is whole ("all"), lacks x ("grad only") or is gone ("none")."""
    history = "all"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if _Square.history == "all":
            return g * 2.0 * x
        if _Square.history == "grad only":
            return g * 2.0 * x.detach()
        return (g * 2.0 * x).detach()


@pytest.mark.parametrize("history", ["all", "grad only", "none"])
def test_double_backward_check_catches_a_lost_history(history, monkeypatch):
    monkeypatch.setattr(_Square, "history", history)
    x = dlcore.tensor(np.linspace(-1.0, 2.0, 5)).requires_grad_(True)
    rng = np.random.default_rng(0)
    if history == "all":
        assert double_backward_check(_Square.apply, [x], rng)
    else:  # the second derivative misses d(2x)/dx, or every term
        with pytest.raises(AssertionError, match="second derivative along a random direction"):
            double_backward_check(_Square.apply, [x], rng)


def test_double_backward_check_accepts_a_refusal():
    x = dlcore.tensor(np.random.default_rng(0).standard_normal((2, 4, 3))).requires_grad_(True)
    assert not double_backward_check(lambda t: dlcore.nn.functional.local_response_norm(t, 2), [x],
                                     np.random.default_rng(1))


# ---- the same rows on other devices: outputs and gradients equal to the CPU kernels' -----------
# Tolerances are the rows' own (by dtype), as the GPU kernels accumulate in the same precision.
# An op with no kernel for the device is skipped with the dispatcher's message.
OTHER_DEVICES = ["cuda"]
DEVICE_CASES = [(r, d, dev) for dev in OTHER_DEVICES for r in ROWS for d in r.dtypes]


def _on(device, arg):
    if not isinstance(arg, dlcore.Tensor):
        return arg
    return arg.detach().to(device).requires_grad_(arg.requires_grad)


def _run_with_grads(row, args, rng_seed):
    """The op's outputs and, for a differentiable row, the grads of its float inputs under a
    random upstream gradient (the same on every device)."""
    dlcore.manual_seed(0)  # rows that draw random numbers draw the same on every device
    got = row.op(*args)
    outs = outputs_of(got)
    grads = []
    if row.grad:
        diff = [o for o in outs if isinstance(o, dlcore.Tensor) and o.requires_grad]
        if diff:
            rng = np.random.default_rng(rng_seed)
            loss = None
            for o in diff:
                g = dlcore.tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype, device=o.device)
                term = (o * g).sum()
                loss = term if loss is None else loss + term
            loss.backward()
            grads = [a.grad for a in args if isinstance(a, dlcore.Tensor) and a.requires_grad]
    return outs, grads


def _device_available(device):
    return device == "cpu" or (device == "cuda" and dlcore.cuda.is_available())


@pytest.mark.cuda
@pytest.mark.parametrize("row,dtype,device", DEVICE_CASES, ids=[f"{r.key}-{d}-{v}" for r, d, v in DEVICE_CASES])
def test_device_matches_cpu(row, dtype, device):
    if not _device_available(device):
        pytest.skip(f"no {device} device")
    for i, sample in enumerate(_samples(row)):
        cpu_args = [to_dlcore(a, dtype, requires_grad=row.grad) for a in sample]
        dev_args = [_on(device, a) for a in cpu_args]
        try:
            got, got_grads = _run_with_grads(row, dev_args, i)
        except NotImplementedError as e:
            if f"has no {device.upper()} kernel" in str(e):
                pytest.skip(str(e))
            raise
        want, want_grads = _run_with_grads(row, cpu_args, i)
        ctx = f"sample {i}, {dtype}, {device}"
        for g in got:
            if isinstance(g, dlcore.Tensor):
                assert g.device.type == device, f"{row.key}: an output on {g.device} ({ctx})"
        _compare(row, [g.cpu() if isinstance(g, dlcore.Tensor) else g for g in got],
                 [as_numpy(w) if isinstance(w, dlcore.Tensor) else w for w in want], dtype, ctx)
        assert len(got_grads) == len(want_grads), f"{row.key}: {ctx}"
        for k, (g, w) in enumerate(zip(got_grads, want_grads)):
            assert (g is None) == (w is None), f"{row.key}: grad {k} ({ctx})"
            if g is not None:
                _compare(row, g.cpu(), w.numpy(), dtype, f"grad of input {k}, {ctx}")


@pytest.mark.parametrize("row,i", ERRORS, ids=[f"{r.key}-{i}" for r, i in ERRORS])
def test_bad_input(row, i):
    case = row.errors[i]
    with pytest.raises(case.exc, match=case.match):
        case.call(dlcore)


def test_every_registered_op_has_a_row():
    covered = {r.name for r in ROWS}
    missing = sorted(name for name, _family, _diff in dlcore._C._registered_ops() if name not in covered)
    assert not missing, f"ops without an op-table row: {missing}"


def test_every_differentiable_op_is_gradchecked():
    checked = {r.name for r in ROWS if r.grad}
    missing = sorted(name for name, _f, diff in dlcore._C._registered_ops() if diff and name not in checked)
    assert not missing, f"differentiable ops without a gradcheck row: {missing}"


def test_every_family_has_a_bad_input_row():
    fams = {}
    for name, family, _ in dlcore._C._registered_ops():
        fams.setdefault(family, set()).add(name)
    with_errors = {r.name for r in ROWS if r.errors}
    missing = sorted(f for f, names in fams.items() if not names & with_errors)
    assert not missing, f"op families without a bad-input row: {missing}"


# ---- zero-size samples ----------------------------------------------------------------------------
# Every row again with its first floating array emptied along dim 0 (an empty batch, or an
# empty operand): the op must return the reference's (empty or reduced) result or raise a
# Python exception, never crash; its backward must run.
def _zero_size_variant(sample):
    out = list(sample)
    for i, a in enumerate(out):
        arr = a.value if hasattr(a, "value") else a
        if isinstance(arr, np.ndarray) and arr.dtype.kind == "f" and arr.ndim >= 1:
            out[i] = type(a)(arr[:0]) if hasattr(a, "value") else arr[:0]
            return tuple(out)
    return None


REFUSALS = (ValueError, RuntimeError, IndexError, TypeError, NotImplementedError)


@pytest.mark.parametrize("row", ROWS, ids=[r.key for r in ROWS])
def test_zero_size(row):
    dtype = "float64" if "float64" in row.dtypes else row.dtypes[0]
    for i, sample in enumerate(_samples(row)):
        z = _zero_size_variant(sample)
        if z is None:
            continue
        args = [to_dlcore(a, dtype, requires_grad=row.grad and dtype == "float64") for a in z]
        try:
            got = row.op(*args)
        except REFUSALS:
            continue
        if row.ref is not None:
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "mean of empty slice"
                    want = row.ref(*[to_numpy_ref(a, dtype) for a in z])
            except Exception:  # numpy refuses some empty reductions that PyTorch defines
                want = None
            if want is not None:
                _compare(row, got, want, dtype, f"sample {i} with an empty dim 0")
        outs = [o for o in outputs_of(got) if isinstance(o, dlcore.Tensor) and o.requires_grad]
        if outs:
            sum(o.sum() for o in outs).backward()
