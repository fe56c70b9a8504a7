"""Autograd from Python: backward, grad, grad-mode context managers, gradcheck, custom
Functions (function.py), anomaly mode (anomaly_mode.py) and autograd.functional.

The graph walk itself runs in C++ (cpp/src/autograd/engine.cpp); these are thin wrappers.
"""
import functools
import threading

import numpy as np

from .. import _C

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
           "is_inference_mode_enabled",
           "is_grad_enabled", "set_multithreading_enabled", "gradcheck", "gradgradcheck", "Function",
           "once_differentiable", "Variable",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled",
           "set_anomaly_enabled", "functional", "function", "graph", "variable", "anomaly_mode"]

is_grad_enabled = _C.is_grad_enabled


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, _C.Tensor):
        return [x]
    return list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates d(tensors)/d(leaf) into each leaf's ``.grad``."""
    roots = _as_list(tensors)
    grads = _as_list(grad_tensors) or [None] * len(roots)
    if len(grads) != len(roots):
        raise ValueError(f"backward: got {len(roots)} tensors but {len(grads)} gradients")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        _C._run_backward(roots, grads, retain_graph, create_graph, [], False)
        return
    # Only the given inputs accumulate: compute their gradients, then add them in.
    ins = _as_list(inputs)
    results = _C._run_backward(roots, grads, retain_graph, create_graph, ins, True)
    with no_grad():
        for t, g in zip(ins, results):
            if g is None:
                continue
            t.grad = g if t.grad is None else t.grad + g


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Returns the gradients of ``outputs`` with respect to ``inputs`` (leaves' ``.grad`` untouched)."""
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    gos = _as_list(grad_outputs) or [None] * len(outs)
    if retain_graph is None:
        retain_graph = create_graph
    return tuple(_C._run_backward(outs, gos, retain_graph, create_graph, ins, allow_unused))


class _GradMode:
    """Base of the grad-mode context managers; also usable as a decorator."""

    _mode = True

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Operations inside record no graph (saves memory in evaluation)."""

    _mode = False


class enable_grad(_GradMode):
    """Re-enables recording inside a ``no_grad`` region."""

    _mode = True


_inference_depth = threading.local()


class inference_mode(_GradMode):
    """``no_grad`` that also reports itself through ``dlcore.is_inference_mode_enabled()``;
    ``inference_mode(False)`` turns both off (grad mode on), as torch's does. (dlcore has no
    separate inference tensors: tensors made inside are ordinary tensors needing no grad.)"""

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        self._prev_inference = getattr(_inference_depth, "on", False)
        _C._set_grad_enabled(not self.mode)
        _inference_depth.on = self.mode
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        _inference_depth.on = self._prev_inference
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(self.mode):
                return fn(*args, **kwargs)

        return wrapper


def is_inference_mode_enabled():
    """Whether an ``inference_mode()`` region is active on this thread."""
    return getattr(_inference_depth, "on", False)


class set_grad_enabled(_GradMode):
    """Sets grad mode on or off; works as a function call, a context manager or a decorator."""

    def __init__(self, mode):
        self._mode = bool(mode)
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self._mode)

    def __enter__(self):
        return self

    def __call__(self, fn):
        mode = self._mode
        _C._set_grad_enabled(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class set_multithreading_enabled:
    """Accepted for PyTorch compatibility: dlcore runs each backward on the calling thread, so
    there are no engine worker threads to switch on or off. Works as a call or a context manager."""

    def __init__(self, mode):
        self.mode = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _flat_outputs(out):
    if isinstance(out, _C.Tensor):
        return [out]
    return [o for o in out if isinstance(o, _C.Tensor)]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compares autograd's gradients with central finite differences, in float64.

    Every floating input that requires grad is perturbed element by element; every floating
    output element's gradient row is checked. Returns True or raises (or returns False).
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, _C.Tensor) and x.requires_grad]
    for i in diff:
        if inputs[i].dtype != _C.dtype.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs")

    def evaluate(args):
        with no_grad():
            return [o.detach().numpy().astype(np.float64).copy() for o in _flat_outputs(fn(*args))
                    if o.dtype.is_floating_point]

    for i in diff:
        x = inputs[i]
        if x.numel() > 1 and any(st == 0 and n > 1 for n, st in zip(x.shape, x.stride())):
            raise ValueError(f"gradcheck: input {i} has a dimension with stride 0 (an expanded view); "
                             "its elements share memory, so they can't be perturbed one at a time. "
                             "Pass a contiguous copy instead")

    # Every floating output is checked; one that does not require grad (a derivative computed
    # without history, say) has an analytical gradient of zero, which the numbers must confirm.
    outs = [o for o in _flat_outputs(fn(*inputs)) if o.dtype.is_floating_point]
    base = evaluate(inputs)
    for i in diff:
        x = inputs[i]
        # A strided view of the input's own storage (numpy() shares memory, whatever the strides),
        # so writes through a multi-index reach the tensor even when it is non-contiguous.
        x_np = x.detach().numpy()
        if x_np.flags.owndata or not x_np.flags.writeable:
            raise RuntimeError(f"gradcheck: can't write into input {i}'s memory to perturb it "
                               "(pass a CPU tensor)")
        # numerical: d out / d x[j] for every j, j running over the logical elements in row-major order
        numeric = []
        for idx in np.ndindex(*x_np.shape):
            orig = x_np[idx]
            x_np[idx] = orig + eps
            plus = evaluate(inputs)
            x_np[idx] = orig - eps
            minus = evaluate(inputs)
            x_np[idx] = orig
            numeric.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
        n_in = len(numeric)
        # analytical: one vector-Jacobian product per output element
        for k, out in enumerate(outs):
            n_out = base[k].size
            for e in range(n_out):
                seed = np.zeros(n_out)
                seed[e] = 1.0
                from .._tensor import tensor as _tensor
                g = _tensor(seed.reshape(base[k].shape), dtype=out.dtype)
                ga = grad([out], [x], [g], retain_graph=True, allow_unused=True)[0] if out.requires_grad else None
                ga = np.zeros(x_np.shape) if ga is None else ga.numpy().astype(np.float64)
                for j in range(n_in):
                    num = numeric[j][k].reshape(-1)[e]
                    ana = ga.reshape(-1)[j]
                    if not abs(num - ana) <= atol + rtol * abs(num):
                        msg = (f"gradcheck: mismatch for input {i} element {j}, output {k} element {e}: "
                               f"numerical {num!r} vs analytical {ana!r}")
                        if raise_exception:
                            raise AssertionError(msg)
                        return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Checks second derivatives: gradcheck of ``(inputs, grad_outputs) -> grad(fn(inputs), inputs,
    grad_outputs, create_graph=True)``. ``grad_outputs`` default to random float64 tensors."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    outs = [o for o in _flat_outputs(fn(*inputs)) if o.dtype.is_floating_point and o.requires_grad]
    if grad_outputs is None:
        from .._tensor import randn
        grad_outputs = tuple(randn(*o.shape, dtype=_C.dtype.float64, requires_grad=True) for o in outs)
    else:
        grad_outputs = tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
    if len(grad_outputs) != len(outs):
        raise ValueError(f"gradgradcheck: fn has {len(outs)} differentiable outputs but {len(grad_outputs)} "
                         "grad_outputs were given")
    n_in = len(inputs)

    def first_derivatives(*args):
        ins, gos = args[:n_in], args[n_in:]
        with enable_grad():  # gradcheck evaluates under no_grad; the first derivatives need a graph
            ys = [o for o in _flat_outputs(fn(*ins)) if o.dtype.is_floating_point and o.requires_grad]
            diff = [x for x in ins if isinstance(x, _C.Tensor) and x.requires_grad]
            grads = grad(ys, diff, list(gos), create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


from . import anomaly_mode, function, functional, graph, variable  # noqa: E402
from .anomaly_mode import (detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled,  # noqa: E402
                           set_anomaly_enabled, set_detect_anomaly)
from .function import Function, once_differentiable  # noqa: E402
from .variable import Variable  # noqa: E402
