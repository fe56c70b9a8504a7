"""The hook machinery of ``Module``: removable handles, the load_state_dict pre-hook wrapper and
the full backward hooks (Note [Module backward hooks])."""
import warnings

import dlcore
from dlcore import _C

from ..autograd.function import Function


class RemovableHandle:
    """What ``register_*_hook`` returns: ``remove()`` (or leaving a ``with`` block) unregisters the
    hook from its table and from the tables of flags kept beside it."""

    next_id = 0

    def __init__(self, table, *, extra_dict=None):
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        if extra_dict is None:
            extra_dict = []
        self._tables = [table] + (list(extra_dict) if isinstance(extra_dict, (list, tuple)) else [extra_dict])

    def remove(self):
        for table in self._tables:
            table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _LoadStateDictPreHook:
    """A load_state_dict pre-hook, given the module first when it was registered ``with_module``."""

    def __init__(self, module, hook, with_module):
        self.module, self.hook, self.with_module = module, hook, with_module

    def __call__(self, *args):
        return self.hook(self.module, *args) if self.with_module else self.hook(*args)


class _BackwardHookFunction(Function):
    """Identity on tensors, recorded as one node so module backward hooks can watch the gradients
    that cross it (Note [Module backward hooks])."""

    @staticmethod
    def forward(ctx, *tensors):
        outputs = tuple(t.view_as(t) for t in tensors)
        ctx.mark_non_differentiable(*[o for t, o in zip(tensors, outputs) if not t.requires_grad])
        return outputs

    @staticmethod
    def backward(ctx, *grads):
        return grads


# Note [Module backward hooks]
# A full backward hook sees the gradients w.r.t. the module's positional tensor inputs and
# outputs. Both are passed through _BackwardHookFunction: a pre-hook on the outputs' node
# catches grad_output first (and runs the backward pre-hooks, which may replace it), then a
# post-hook on the inputs' node, which runs once all of the module's backward is done, calls
# the hooks with (grad_input, grad_output); what they return replaces grad_input. Positions
# that hold no tensor read None, a tensor input that got no gradient reads zeros (both as in
# torch). When no input requires grad the hooks are called from the output side, with
# grad_input all None.
class _BackwardHook:
    def __init__(self, module, hooks, pre_hooks):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs = None
        self.n_inputs = self.n_outputs = 0
        self.input_index = self.output_index = self.input_meta = None

    @staticmethod
    def _wrap(values, on_node):
        """``values`` with its tensors passed through one _BackwardHookFunction node, given to
        ``on_node``; returns (new values, positions of the tensors or None if none needs grad)."""
        index = [i for i, v in enumerate(values) if isinstance(v, _C.Tensor)]
        if not (_C.is_grad_enabled() and any(values[i].requires_grad for i in index)):
            return values, None
        wrapped = _BackwardHookFunction.apply(*[values[i] for i in index])
        on_node(next(t.grad_fn for t in wrapped if t.grad_fn is not None))
        values = list(values)
        for i, t in zip(index, wrapped):
            values[i] = t
        return tuple(values), index

    @staticmethod
    def _spread(index, grads, n):
        out = [None] * n
        for i, g in zip(index, grads):
            out[i] = g
        return tuple(out)

    def _check(self, kind, got, want):
        if not isinstance(got, (tuple, list)) or len(got) != want:
            n = len(got) if isinstance(got, (tuple, list)) else type(got).__name__
            raise RuntimeError(f"{self.module._get_name()}: backward {kind} returned an invalid number of "
                               f"{'grad_output' if kind == 'pre hook' else 'grad_input'}, got {n}, but expected {want}")

    def setup_inputs(self, args):
        def on_node(node):
            def hook(grad_inputs, _):
                if self.grad_outputs is None:  # the gradient did not come through the outputs
                    return None
                # an input that gets no gradient reads zeros, as torch's materialized gradients do
                grad_inputs = [dlcore.zeros(*shape, dtype=dtype, device=device) if g is None else g
                               for g, (shape, dtype, device) in zip(grad_inputs, self.input_meta)]
                res = self._spread(self.input_index, grad_inputs, self.n_inputs)
                for h in self.hooks:
                    out = h(self.module, res, self.grad_outputs)
                    if out is not None:
                        self._check("hook", out, len(res))
                        res = tuple(out)
                self.grad_outputs = None
                return tuple(res[i] for i in self.input_index)
            node.register_hook(hook)
        self.n_inputs = len(args)
        self.input_meta = [(list(a.shape), a.dtype, a.device) for a in args if isinstance(a, _C.Tensor)]
        args, self.input_index = self._wrap(tuple(args), on_node)
        return args

    def setup_outputs(self, result):
        def on_node(node):
            def hook(grad_outputs):
                grads = self._spread(self.output_index, grad_outputs, self.n_outputs)
                for h in self.pre_hooks:
                    out = h(self.module, grads)
                    if out is not None:
                        self._check("pre hook", out, len(grads))
                        grads = tuple(out)
                self.grad_outputs = grads
                if self.input_index is None:
                    if self.hooks:
                        warnings.warn("Full backward hook is firing when gradients are computed with respect to "
                                      "module outputs since no inputs require gradients.", stacklevel=1)
                    for h in self.hooks:
                        out = h(self.module, (None,) * self.n_inputs, grads)
                        if out is not None and not all(g is None for g in out):
                            raise RuntimeError("Backward hook for Modules where no input requires gradient should "
                                               "always return None or None for all gradients.")
                    self.grad_outputs = None
                return tuple(grads[i] for i in self.output_index)
            node.register_prehook(hook)
        single = not isinstance(result, tuple)
        values = (result,) if single else result
        self.n_outputs = len(values)
        values, self.output_index = self._wrap(values, on_node)
        return values[0] if single else values
