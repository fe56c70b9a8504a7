"""Custom differentiable operations: ``Function``, its ``ctx`` and ``once_differentiable``.

A subclass defines a static ``forward`` and ``backward``; ``MyFn.apply(*args)`` runs forward
without recording and, when an input requires grad, records one C++ node whose backward
calls ``MyFn.backward`` (Note [Python Function nodes] in cpp/bindings/autograd.cpp).
"""
import functools
import inspect

from .. import _C

__all__ = ["Function", "FunctionCtx", "BackwardCFunction", "once_differentiable"]


class FunctionCtx:
    """The ``ctx`` of a Function: what forward stores for backward, plus any attribute set on it."""

    def save_for_backward(self, *tensors):
        """Saves tensors (or None) for backward; read them back with ``ctx.saved_tensors``."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, _C.Tensor):
                raise TypeError(f"save_for_backward: argument {i} is a {type(t).__name__}; only tensors and None "
                                "can be saved (store other values as attributes of ctx)")
        self._to_save = tensors

    def mark_dirty(self, *tensors):
        """Declares inputs that forward modified in place (and returns as outputs)."""
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        """Declares outputs that have no gradient: they don't require grad, and backward gets zeros for them."""
        self._non_differentiable = tensors

    def set_materialize_grads(self, value):
        """Whether backward gets zero tensors (True, the default) or None for outputs that got no gradient."""
        self._materialize_grads = bool(value)

    @property
    def saved_tensors(self):
        saved = self.__dict__.get("_saved")
        if saved is None:
            raise RuntimeError(f"{type(self).__name__}: saved_tensors can only be read inside backward (and not "
                               "after the graph was freed)")
        return saved

    saved_variables = saved_tensors


class BackwardCFunction(FunctionCtx):
    """Base of the ctx classes: ``MyFn``'s ctx is a ``MyFnBackward``."""

    _forward_cls = None

    def apply(self, *grads):
        return self._forward_cls.backward(self, *grads)


def _call_backward(ctx, grads, saved):
    """Called by the C++ node: runs the user's backward with the saved tensors available."""
    ctx._saved = saved
    try:
        result = ctx._forward_cls.backward(ctx, *grads)
    finally:
        ctx._saved = None
    return result if isinstance(result, tuple) else (result,)


def _contains(seq, t):
    return any(x is t for x in seq)


class Function:
    """Base class of custom differentiable operations; call them through ``apply``."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._backward_cls = type(f"{cls.__name__}Backward", (BackwardCFunction,), {"_forward_cls": cls})

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__}: legacy autograd functions with a non-static forward are not "
                           f"supported; define forward/backward as @staticmethod and call {type(self).__name__}"
                           ".apply(...)")

    @staticmethod
    def forward(*args, **kwargs):
        """Computes the outputs: ``forward(ctx, *args)``, or ``forward(*args)`` with ``setup_context``."""
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Optional: fills ctx from the inputs and output when forward does not take ctx."""
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        """Returns one gradient (or None) per forward input, given one gradient per output."""
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def _uses_setup_context(cls):
        return getattr(cls.setup_context, "__func__", cls.setup_context) is not Function.setup_context

    @classmethod
    def apply(cls, *args, **kwargs):
        """Runs forward and records backward when an input requires grad."""
        if cls is Function or not hasattr(cls, "_backward_cls"):
            raise RuntimeError("Function.apply: call apply on a subclass of autograd.Function")
        setup_style = cls._uses_setup_context()
        if setup_style and kwargs:
            # The inputs setup_context and backward see are positional: bind keywords to their places.
            bound = inspect.signature(cls.forward).bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = bound.args, bound.kwargs
        ctx = cls._backward_cls()
        grad_mode = _C.is_grad_enabled()
        ctx.needs_input_grad = tuple(grad_mode and isinstance(a, _C.Tensor) and a.requires_grad for a in args)
        prev = _C.is_grad_enabled()
        _C._set_grad_enabled(False)
        try:
            if setup_style:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        finally:
            _C._set_grad_enabled(prev)
        is_tuple = isinstance(output, tuple)
        outputs = list(output) if is_tuple else [output]
        dirty = ctx.__dict__.pop("_dirty", ())
        non_diff = ctx.__dict__.pop("_non_differentiable", ())
        to_save = ctx.__dict__.pop("_to_save", ())
        for t in dirty:
            if not _contains(args, t):
                raise ValueError(f"{cls.__name__}: mark_dirty only accepts input tensors")
            if not _contains(outputs, t):
                raise RuntimeError(f"{cls.__name__}: some elements marked as dirty during the forward method were "
                                   "not returned as output")
        for t in non_diff:
            if not _contains(outputs, t):
                raise ValueError(f"{cls.__name__}: mark_non_differentiable only accepts output tensors")
        if any(ctx.needs_input_grad):
            outputs = _C._function_record(
                f"{cls.__name__}Backward", ctx, _call_backward, args, outputs,
                [isinstance(o, _C.Tensor) and _contains(non_diff, o) for o in outputs],
                [isinstance(o, _C.Tensor) and _contains(dirty, o) for o in outputs],
                to_save, ctx.__dict__.get("_materialize_grads", True))
        return tuple(outputs) if is_tuple else outputs[0]


class _DelayedError(Function):
    """Passes tensors through; differentiating them raises (for once_differentiable)."""

    @staticmethod
    def forward(ctx, message, n, *tensors):
        ctx.message = message
        return tensors[:n]

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(ctx.message)


def once_differentiable(fn):
    """Decorates a ``backward`` that is not differentiable itself: it runs without recording, and
    differentiating its result (``create_graph=True``) raises instead of being silently wrong."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        prev = _C.is_grad_enabled()
        _C._set_grad_enabled(False)
        try:
            outputs = fn(ctx, *args)
        finally:
            _C._set_grad_enabled(prev)
        # The result depends on the incoming gradients and on what forward saved (its inputs,
        # usually): under create_graph, whichever of them requires grad gets an edge that raises,
        # so a second derivative through this backward is an error, never silently partial.
        sources = [a for a in args if isinstance(a, _C.Tensor) and a.requires_grad]
        if prev:
            try:
                saved = ctx.saved_tensors
            except RuntimeError:  # nothing saved, or already freed
                saved = ()
            sources += [t for t in saved if isinstance(t, _C.Tensor) and t.requires_grad]
        if not prev or not sources:
            return outputs
        is_tuple = isinstance(outputs, tuple)
        outs = outputs if is_tuple else (outputs,)
        positions = [i for i, o in enumerate(outs) if isinstance(o, _C.Tensor) and o.dtype.is_floating_point]
        message = (f"trying to differentiate twice a function that was marked with @once_differentiable "
                   f"({type(ctx).__name__})")
        wrapped = _DelayedError.apply(message, len(positions), *[outs[i] for i in positions], *sources)
        outs = list(outs)
        for i, w in zip(positions, wrapped):
            outs[i] = w
        return tuple(outs) if is_tuple else outs[0]

    return wrapper
