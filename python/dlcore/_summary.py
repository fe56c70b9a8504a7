"""``dlcore.summary``: a table of a model's layers with output shapes, parameter counts and
multiply-accumulates, measured by one forward pass with hooks on every submodule."""
import dlcore

from . import nn
from .nn.modules import activation as _activation
from .nn.modules import normalization as _normalization
from .nn.modules import pooling as _pooling
from .nn.modules import upsampling as _upsampling
from .nn.modules.conv import _ConvNd

# Layers whose cost is counted as one operation per output element.
_ELEMENTWISE_MODULES = tuple(
    cls for mod in (_activation, _normalization, _pooling, _upsampling) for cls in vars(mod).values()
    if isinstance(cls, type) and issubclass(cls, nn.Module) and cls.__module__ == mod.__name__
)


def _first_tensor(x):
    if isinstance(x, dlcore.Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for item in x:
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


def _tensors(x):
    if isinstance(x, dlcore.Tensor):
        yield x
    elif isinstance(x, (tuple, list)):
        for item in x:
            yield from _tensors(item)
    elif isinstance(x, dict):
        for item in x.values():
            yield from _tensors(item)


def _prod(values):
    out = 1
    for v in values:
        out *= v
    return out


def layer_macs(module, inputs, output):
    """Multiply-accumulates of one call of a layer (0 for containers and unknown layers):
    convolution ``K * C/groups * R * S`` per output position (the transposed convolution scatters
    each input element to ``K/groups * R * S`` outputs), Linear ``in * out`` per row, norms,
    activations, pooling and upsampling one per output element. Biases are not counted."""
    out = _first_tensor(output)
    if out is None:
        return 0
    if isinstance(module, _ConvNd):
        kernel = _prod(module.kernel_size)
        if module._transposed:
            x = _first_tensor(inputs)
            return 0 if x is None else x.numel() * (module.out_channels // module.groups) * kernel
        return out.numel() * (module.in_channels // module.groups) * kernel
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    if isinstance(module, _ELEMENTWISE_MODULES):
        return out.numel()
    return 0


def _shape_of(x):
    if isinstance(x, dlcore.Tensor):
        return list(x.shape)
    if isinstance(x, (tuple, list)):
        shapes = [_shape_of(item) for item in x]
        return [s for s in shapes if s is not None] or None
    return None


class _Row:
    __slots__ = ("depth", "name", "type_name", "output_shape", "params", "macs", "leaf", "first_call")

    def __init__(self, depth, name, type_name, params, leaf, first_call):
        self.depth, self.name, self.type_name = depth, name, type_name
        self.params, self.leaf, self.first_call = params, leaf, first_call
        self.output_shape = None
        self.macs = 0


def _fmt_count(n):
    return f"{n:,}"


def _fmt_scaled(n, unit=""):
    for scale, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if n >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n}{' ' + unit if unit else ''}"


def _fmt_bytes(n):
    return f"{n / 2 ** 20:.2f} MiB"


class ModelSummary:
    """The result of :func:`summary`; ``str()`` gives the table.

    Attributes: ``rows`` (one per module call, in call order: depth, name, type_name,
    output_shape, params (the module's; the table shows them at its first call only), macs,
    first_call), ``total_params``, ``trainable_params``, ``total_macs`` (``total_flops`` = 2 *
    MACs), ``input_bytes``, ``activation_bytes`` (the outputs of the leaf layers of one forward
    pass) and ``param_bytes`` (parameters and buffers)."""

    def __init__(self, model_name, rows, depth, total_params, trainable_params, total_macs, input_bytes,
                 activation_bytes, param_bytes):
        self.model_name = model_name
        self.rows = rows
        self.depth = depth
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.total_macs = total_macs
        self.input_bytes = input_bytes
        self.activation_bytes = activation_bytes
        self.param_bytes = param_bytes

    @property
    def total_flops(self):
        return 2 * self.total_macs

    def __str__(self):
        shown = [r for r in self.rows if r.depth <= self.depth]
        cells = []
        for r in shown:
            label = r.type_name if r.depth == 0 else f"{r.name.rsplit('.', 1)[-1]} ({r.type_name})"
            params = "--" if r.params == 0 else _fmt_count(r.params) if r.first_call else "(shared)"
            cells.append(("  " * r.depth + label, "--" if r.output_shape is None else str(r.output_shape), params,
                          _fmt_count(r.macs) if r.macs else "--"))
        header = ("Layer (type)", "Output shape", "Param #", "MACs")
        widths = [max(len(header[i]), *(len(c[i]) for c in cells)) if cells else len(header[i]) for i in range(4)]
        line = lambda c: (f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:>{widths[2]}}  "  # noqa: E731
                          f"{c[3]:>{widths[3]}}").rstrip()
        rule_len = sum(widths) + 6
        out = ["=" * rule_len, line(header), "=" * rule_len]
        out += [line(c) for c in cells]
        out += [
            "=" * rule_len,
            f"Total params: {_fmt_count(self.total_params)}",
            f"Trainable params: {_fmt_count(self.trainable_params)}",
            f"Non-trainable params: {_fmt_count(self.total_params - self.trainable_params)}",
            f"Total MACs: {_fmt_count(self.total_macs)} ({_fmt_scaled(self.total_macs)}MACs, "
            f"{_fmt_scaled(self.total_flops)}FLOPs)",
            "-" * rule_len,
            f"Input size: {_fmt_bytes(self.input_bytes)}",
            f"Activation memory (leaf layer outputs, one forward): {_fmt_bytes(self.activation_bytes)}",
            f"Params size: {_fmt_bytes(self.param_bytes)}",
            f"Estimated total: {_fmt_bytes(self.input_bytes + self.activation_bytes + self.param_bytes)}",
            "=" * rule_len,
        ]
        return "\n".join(out)

    __repr__ = __str__


def _make_inputs(input_size, batch_size, dtype, device):
    if isinstance(input_size, dlcore.Tensor):
        return [input_size]
    if not isinstance(input_size, (tuple, list)) or len(input_size) == 0:
        raise TypeError(f"summary: input_size must be a shape like (3, 32, 32) or a list of shapes, got {input_size!r}")
    sizes = list(input_size) if isinstance(input_size[0], (tuple, list, dlcore.Tensor)) else [input_size]
    dtypes = list(dtype) if isinstance(dtype, (tuple, list)) else [dtype] * len(sizes)
    if len(dtypes) != len(sizes):
        raise ValueError(f"summary: got {len(dtypes)} dtypes for {len(sizes)} inputs")
    inputs = []
    for size, dt in zip(sizes, dtypes):
        if isinstance(size, dlcore.Tensor):
            inputs.append(size)
            continue
        if not all(isinstance(s, int) and s >= 0 for s in size):
            raise ValueError(f"summary: an input size must be a sequence of non-negative ints, got {size!r}")
        shape = [batch_size, *size]
        if dt in (dlcore.float16, dlcore.bfloat16, dlcore.float32, dlcore.float64):
            inputs.append(dlcore.randn(*shape, dtype=dt, device=device))
        else:
            inputs.append(dlcore.zeros(*shape, dtype=dt, device=device))
    return inputs


def summary(model, input_size, batch_size=1, dtype=dlcore.float32, device="cpu", depth=3, verbose=True):
    """Runs one forward pass of ``model`` (in eval mode, without autograd; the modes are restored
    afterwards) on random inputs of shape ``(batch_size, *input_size)`` and returns a
    :class:`ModelSummary`, printing it when ``verbose``.

    ``input_size`` is one shape without the batch dimension, e.g. ``(3, 32, 32)``, or a list of
    shapes for a model with several inputs (``dtype`` may then be a list too); a Tensor is used as
    given. The table lists every module call up to ``depth`` levels below the model (the model's
    direct children are level 1), indented by level, with its output shape, its parameters
    (counted at its first call) and its multiply-accumulates (a container's are its layers' sum;
    see :func:`layer_macs`). Operations written as plain functions inside ``forward`` (a residual
    addition, a ``dlcore.relu`` call) are not counted; modules the forward pass does not call
    (GoogLeNet's auxiliary classifiers in eval mode) have no row but count in the parameter totals.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary: model must be a dlcore.nn.Module, got {type(model).__name__}")
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"summary: depth must be a non-negative int, got {depth!r}")
    inputs = _make_inputs(input_size, batch_size, dtype, device)

    rows, stack, seen = [], [], set()
    totals = {"macs": 0, "activation_bytes": 0}
    handles = []

    def make_hooks(name, module, level):
        leaf = next(iter(module.children()), None) is None

        def pre_hook(mod, args):
            first = id(mod) not in seen
            seen.add(id(mod))
            params = sum(p.numel() for p in mod.parameters())
            row = _Row(level, name, type(mod).__name__, params, leaf, first)
            rows.append(row)
            stack.append(row)

        def post_hook(mod, args, output):
            row = stack.pop()
            row.output_shape = _shape_of(output)
            own = layer_macs(mod, args, output)
            row.macs += own
            totals["macs"] += own
            if leaf:
                totals["activation_bytes"] += sum(t.numel() * t.element_size() for t in _tensors(output))
            if stack:
                stack[-1].macs += row.macs

        return pre_hook, post_hook

    modes = [(m, m.training) for m in model.modules()]
    try:
        for name, module in model.named_modules():
            level = 0 if name == "" else name.count(".") + 1
            pre, post = make_hooks(name, module, level)
            handles.append(module.register_forward_pre_hook(pre))
            handles.append(module.register_forward_hook(post))
        model.eval()
        with dlcore.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

    params = list(model.parameters())
    result = ModelSummary(
        model_name=type(model).__name__,
        rows=rows,
        depth=depth,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_macs=totals["macs"],
        input_bytes=sum(t.numel() * t.element_size() for t in inputs),
        activation_bytes=totals["activation_bytes"],
        param_bytes=sum(t.numel() * t.element_size() for t in params + list(model.buffers())),
    )
    if verbose:
        print(result)
    return result
