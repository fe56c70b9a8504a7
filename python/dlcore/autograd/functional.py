"""Derivatives of whole functions: vjp, jvp, jacobian, hessian, vhp, hvp.

Everything is built on reverse mode (``autograd.grad``). ``jvp`` uses the double-vjp trick:
``u -> vjp(u)`` is linear in ``u``, so differentiating ``grad(out, x, u)`` with respect to
``u`` in direction ``v`` gives ``J v``.
"""
from .. import _C
from . import enable_grad, grad, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]


def _as_tuple(x, what, fn_name):
    is_tuple = isinstance(x, tuple)
    items = x if is_tuple else (x,)
    for i, el in enumerate(items):
        if not isinstance(el, _C.Tensor):
            where = f" (index {i})" if is_tuple else ""
            raise TypeError(f"{fn_name}: the {what} must be a Tensor or a tuple of Tensors, got "
                            f"{type(el).__name__}{where}")
    return is_tuple, items


def _unpack(res, is_tuple):
    return res if is_tuple else res[0]


def _unpack2(res, is_outer_tuple, is_inner_tuple):
    if not is_inner_tuple:
        res = tuple(r[0] for r in res)
    return res if is_outer_tuple else res[0]


def _prepare_inputs(inputs, create_graph, need_graph):
    # With create_graph, an input that requires grad stays connected to its history (through a
    # view), so the result can be differentiated with respect to the caller's tensors.
    return tuple(x.view_as(x) if create_graph and x.requires_grad else x.detach().requires_grad_(need_graph)
                 for x in inputs)


def _finish(xs, create_graph):
    if create_graph:
        return xs
    return tuple(_finish(x, create_graph) if isinstance(x, tuple) else (None if x is None else x.detach())
                 for x in xs)


_SINGLE_OUTPUT = "the user-provided function returns a single tensor with one element"
_SINGLE_INPUT = "the input of the user-provided function is a single tensor with one element"


def _prepare_v(v, refs, refs_is_tuple, create_graph, fn_name, single_refs):
    """The vector ``v`` of vjp/jvp/vhp, matched against ``refs`` (the outputs or the inputs);
    None only where ``refs`` is one element (``single_refs`` says which in the error)."""
    if v is not None:
        _, v = _as_tuple(v, "v", fn_name)
        v = _prepare_inputs(v, create_graph, need_graph=False)
        _check_v(v, refs, refs_is_tuple, fn_name)
    elif len(refs) != 1 or refs[0].numel() != 1:
        raise RuntimeError(f"{fn_name}: v can only be None when {single_refs}")
    return v


def _check_v(v, refs, refs_is_tuple, fn_name):
    if len(v) != len(refs):
        raise RuntimeError(f"{fn_name}: v has {len(v)} entries but {len(refs)} were expected")
    for i, (a, b) in enumerate(zip(v, refs)):
        if a.shape != b.shape:
            where = f"entry {i} of " if refs_is_tuple else ""
            raise RuntimeError(f"{fn_name}: {where}v has shape {list(a.shape)} but {list(b.shape)} was expected")


def _check_outputs_require_grad(outputs, strict, fn_name):
    if not strict:
        return
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"{fn_name}: output {i} of the user-provided function does not require grad; "
                               "in strict mode the outputs must be computed differentiably from the inputs")


def _grads(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """autograd.grad over the outputs that require grad; None for every input if none does."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=retain_graph,
                create_graph=create_graph, allow_unused=True)


def _zeros_for_missing(grads, refs, strict, message):
    from .._tensor import zeros_like
    out = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(message.format(i))
            g = zeros_like(ref)
        out.append(g)
    return tuple(out)


_INDEPENDENT = "{fn}: the output of the user-provided function is independent of input {{}}; not allowed in strict mode"


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """Returns ``(func(inputs), v^T J)``; ``v`` may be None for a one-element output."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare_inputs(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        _check_outputs_require_grad(outputs, strict, "vjp")
        v = _prepare_v(v, outputs, is_outputs_tuple, create_graph, "vjp", _SINGLE_OUTPUT)
        with set_grad_enabled(create_graph or _C.is_grad_enabled()):
            res = _grads(outputs, inputs, v, create_graph=create_graph)
            res = _zeros_for_missing(res, inputs, strict, _INDEPENDENT.format(fn="vjp"))
    return (_unpack(_finish(outputs, create_graph), is_outputs_tuple),
            _unpack(_finish(res, create_graph), is_inputs_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """Returns ``(func(inputs), J v)``; ``v`` may be None for a one-element input."""
    from .._tensor import zeros_like
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare_inputs(inputs, create_graph, need_graph=True)
        v = _prepare_v(v, inputs, is_inputs_tuple, create_graph, "jvp", _SINGLE_INPUT)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jvp")
        _check_outputs_require_grad(outputs, strict, "jvp")
        dummies = tuple(zeros_like(out, requires_grad=True) for out in outputs)
        vjps = _grads(outputs, inputs, dummies, create_graph=True)
        if strict:
            for i, g in enumerate(vjps):
                if g is None or not g.requires_grad:
                    raise RuntimeError(f"jvp: the gradient w.r.t. input {i} is independent of the outputs' "
                                       "gradients; not allowed in strict mode")
    with set_grad_enabled(create_graph or _C.is_grad_enabled()):
        res = _grads(vjps, dummies, v, create_graph=create_graph)
        res = _zeros_for_missing(res, outputs, strict, "jvp: output {} is independent of the inputs; not allowed "
                                                       "in strict mode")
    return (_unpack(_finish(outputs, create_graph), is_outputs_tuple),
            _unpack(_finish(res, create_graph), is_outputs_tuple))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for output i and input j a tensor of shape
    ``out_i.shape + in_j.shape``, nested as tuples like the outputs and inputs.

    Rows are computed one output element at a time; ``vectorize`` changes nothing but is accepted.
    """
    from .._tensor import zeros, zeros_like
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got {strategy!r}")
    if strategy == "forward-mode":
        if not vectorize:
            raise ValueError("jacobian: strategy='forward-mode' requires vectorize=True")
        raise NotImplementedError("jacobian: strategy='forward-mode' needs forward-mode AD, which dlcore does not "
                                  "implement; use strategy='reverse-mode'")
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare_inputs(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jacobian")
        _check_outputs_require_grad(outputs, strict, "jacobian")
        result = []
        for i, out in enumerate(outputs):
            rows = [[] for _ in inputs]
            flat = out.reshape(-1)
            for e in range(out.numel()):
                row = _grads((flat[e],), inputs, retain_graph=True, create_graph=create_graph)
                for j, (g, x) in enumerate(zip(row, inputs)):
                    if g is None:
                        if strict:
                            raise RuntimeError(f"jacobian: output {i} of the user-provided function is "
                                               f"independent of input {j}; not allowed in strict mode")
                        g = zeros_like(x)
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(f"jacobian: the jacobian of output {i} is independent of input {j}; "
                                           "not allowed in strict mode with create_graph=True")
                    rows[j].append(g)
            result.append(tuple(
                _C.stack(r, 0).reshape(tuple(out.shape) + tuple(x.shape)) if r
                else zeros(*(tuple(out.shape) + tuple(x.shape)), dtype=x.dtype, device=x.device)
                for r, x in zip(rows, inputs)))
        result = _finish(tuple(result), create_graph)
    return _unpack2(result, is_outputs_tuple, is_inputs_tuple)


def _scalar_output(func, fn_name, strict, squeeze=True):
    def wrapped(*inputs):
        out = func(*inputs)
        is_tuple, outs = _as_tuple(out, "outputs of the user-provided function", fn_name)
        _check_outputs_require_grad(outs, strict, fn_name)
        if is_tuple:
            raise RuntimeError(f"{fn_name}: the user-provided function must return a single tensor, got a tuple")
        if out.numel() != 1:
            raise RuntimeError(f"{fn_name}: the tensor returned by the user-provided function must have one "
                               f"element, got shape {list(out.shape)}")
        return out.reshape(()) if squeeze else out

    return wrapped


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar function: for inputs i, j a tensor of shape ``in_i.shape + in_j.shape``."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    scalar = _scalar_output(func, "hessian", strict)

    def gradient(*xs):
        jac = jacobian(scalar, xs, create_graph=True)
        if strict:
            for i, g in enumerate(jac):
                if not g.requires_grad:
                    raise RuntimeError(f"hessian: the gradient w.r.t. input {i} is independent of the inputs; not "
                                       "allowed in strict mode")
        return jac

    res = jacobian(gradient, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize,
                   strategy=outer_jacobian_strategy)
    return _unpack2(res, is_inputs_tuple, is_inputs_tuple)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """Returns ``(func(inputs), v^T H)`` for a scalar function."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
        inputs = _prepare_inputs(inputs, create_graph, need_graph=True)
        v = _prepare_v(v, inputs, is_inputs_tuple, create_graph, "vhp", _SINGLE_INPUT)
        out = _scalar_output(func, "vhp", strict, squeeze=False)(*inputs)
        jac = _grads((out,), inputs, create_graph=True)
        if strict:
            for i, g in enumerate(jac):
                if g is None or not g.requires_grad:
                    raise RuntimeError(f"vhp: the gradient w.r.t. input {i} is independent of the inputs; not "
                                       "allowed in strict mode")
    with set_grad_enabled(create_graph or _C.is_grad_enabled()):
        res = _grads(jac, inputs, v, create_graph=create_graph)
        res = _zeros_for_missing(res, inputs, strict, "vhp: the gradient is independent of input {}; not allowed "
                                                      "in strict mode")
    return out if create_graph else out.detach(), _unpack(_finish(res, create_graph), is_inputs_tuple)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """Returns ``(func(inputs), H v)`` for a scalar function.

    Note [hvp through vhp]
    The Hessian of a twice continuously differentiable function is symmetric, so ``H v`` equals
    ``(v^T H)^T`` and is computed as vhp: two reverse passes instead of the three the
    double-vjp trick would take.
    """
    return vhp(func, inputs, v, create_graph=create_graph, strict=strict)
