"""Lazy modules: Linear, convolutions and norm layers whose input size (in_features, in_channels,
num_features) is read from the first input, and the uninitialised parameters and buffers they hold
until then."""
import dlcore
from dlcore import _C

from ..parameter import Parameter
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .linear import Linear
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d


class _UninitializedMixin:
    """Shared by UninitializedParameter and UninitializedBuffer: an empty placeholder that
    ``materialize`` fills in place, turning the object into ``cls_to_become``."""
    cls_to_become = None

    def materialize(self, shape, device=None, dtype=None):
        """Gives the tensor ``shape`` (uninitialised values) and its final class."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.data = dlcore.empty(*shape, device=device if device is not None else self.device,
                                 dtype=dtype if dtype is not None else self.dtype)
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(f"Can't access the shape of an uninitialized parameter or buffer ({type(self).__name__}); "
                           "run a forward pass (or call materialize) first")

    def __repr__(self):
        return f"<{type(self).__name__}>"

    def __str__(self):
        return self.__repr__()


class UninitializedParameter(_UninitializedMixin, Parameter):
    """A Parameter whose shape is not known yet (the lazy modules' weights)."""
    cls_to_become = Parameter

    def __init__(self, requires_grad=True, device=None, dtype=None):
        super().__init__(dlcore.empty(0, device=device, dtype=dtype), requires_grad)

    def __reduce_ex__(self, proto):
        return (UninitializedParameter, (self.requires_grad, None, self.dtype))

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = UninitializedParameter(self.requires_grad, self.device, self.dtype)
        return memo[id(self)]


class _MaterializedBuffer(_C.Tensor):
    """The class a materialised UninitializedBuffer takes: a Tensor subclass (an object cannot
    change its class to the extension type Tensor itself) that, unlike UninitializedBuffer, has a
    shape. The lazy norm layers replace their buffers with plain tensors instead."""


class UninitializedBuffer(_UninitializedMixin, _C.Tensor):
    """A buffer whose shape is not known yet (the lazy norm layers' running statistics)."""
    cls_to_become = _MaterializedBuffer

    def __init__(self, requires_grad=False, device=None, dtype=None):
        super().__init__(dlcore.empty(0, device=device, dtype=dtype))


def _is_uninitialized(t):
    return isinstance(t, _UninitializedMixin)


class LazyModuleMixin:
    """Defers a module's parameter shapes to its first call: until then its parameters (and
    buffers) are UninitializedParameter (UninitializedBuffer); the first forward calls
    ``initialize_parameters(*inputs)``, which materialises and initialises them, and the module
    then becomes ``cls_to_become`` (LazyLinear becomes a Linear)."""
    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters)

    def has_uninitialized_params(self):
        """Whether a parameter or buffer still awaits its shape."""
        return any(_is_uninitialized(t) for t in list(self._parameters.values()) + list(self._buffers.values()))

    def initialize_parameters(self, *args, **kwargs):
        raise NotImplementedError(f"initialize_parameters is not implemented for {type(self).__name__}")


def _infer_parameters(module, args):
    with dlcore.no_grad():
        module.initialize_parameters(*args)
    if module.has_uninitialized_params():
        raise RuntimeError(f"{type(module).__name__}: parameters remain uninitialized after initialize_parameters")
    module._initialize_hook.remove()
    del module._initialize_hook
    if module.cls_to_become is not None:
        module.__class__ = module.cls_to_become


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear whose ``in_features`` is the last dim of its first input."""
    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(0, 0, False, device, dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()


class _LazyConvMixin(LazyModuleMixin):
    def _lazy_setup(self, out_channels, bias, device, dtype):
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs):
        if not self.has_uninitialized_params():
            return
        n = self._n
        if input.dim() not in (n + 1, n + 2):
            raise RuntimeError(f"{type(self).__name__}: expected a {n + 1}-D (unbatched) or {n + 2}-D (batched) input "
                               f"to infer in_channels, got shape {list(input.shape)}")
        self.in_channels = input.shape[1] if input.dim() == n + 2 else input.shape[0]
        if self.in_channels % self.groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({self.in_channels}) of input "
                             f"{list(input.shape)} must be divisible by groups ({self.groups})")
        if self._transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight.materialize(shape)
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()


class LazyConv1d(_LazyConvMixin, Conv1d):
    """A Conv1d whose ``in_channels`` is read from its first input."""
    cls_to_become = Conv1d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self._lazy_setup(out_channels, bias, device, dtype)


class LazyConv2d(_LazyConvMixin, Conv2d):
    """A Conv2d whose ``in_channels`` is read from its first input."""
    cls_to_become = Conv2d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self._lazy_setup(out_channels, bias, device, dtype)


class LazyConv3d(_LazyConvMixin, Conv3d):
    """A Conv3d whose ``in_channels`` is read from its first input."""
    cls_to_become = Conv3d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self._lazy_setup(out_channels, bias, device, dtype)


class LazyConvTranspose1d(_LazyConvMixin, ConvTranspose1d):
    """A ConvTranspose1d whose ``in_channels`` is read from its first input."""
    cls_to_become = ConvTranspose1d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation, padding_mode,
                         device, dtype)
        self._lazy_setup(out_channels, bias, device, dtype)


class LazyConvTranspose2d(_LazyConvMixin, ConvTranspose2d):
    """A ConvTranspose2d whose ``in_channels`` is read from its first input."""
    cls_to_become = ConvTranspose2d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation, padding_mode,
                         device, dtype)
        self._lazy_setup(out_channels, bias, device, dtype)


class LazyConvTranspose3d(_LazyConvMixin, ConvTranspose3d):
    """A ConvTranspose3d whose ``in_channels`` is read from its first input."""
    cls_to_become = ConvTranspose3d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation, padding_mode,
                         device, dtype)
        self._lazy_setup(out_channels, bias, device, dtype)


class _LazyNormMixin(LazyModuleMixin):
    _batched_dims = ()

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None, *,
                 bias=True):
        super().__init__(0, eps, momentum, False, False, device, dtype)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = dlcore.zeros([], dtype=dlcore.int64, device=device)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def _num_features(self, input):
        return input.shape[1]

    def initialize_parameters(self, input):
        if not self.has_uninitialized_params():
            return
        self._check_input_dim(input)
        self.num_features = self._num_features(input)
        for t in (self.weight, self.bias):
            if t is not None:
                t.materialize((self.num_features,))
        for name in ("running_mean", "running_var"):
            old = getattr(self, name)
            if old is not None:
                setattr(self, name, dlcore.empty(self.num_features, dtype=old.dtype, device=old.device))
        self.reset_parameters()


class LazyBatchNorm1d(_LazyNormMixin, BatchNorm1d):
    """A BatchNorm1d whose ``num_features`` is read from its first input."""
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormMixin, BatchNorm2d):
    """A BatchNorm2d whose ``num_features`` is read from its first input."""
    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormMixin, BatchNorm3d):
    """A BatchNorm3d whose ``num_features`` is read from its first input."""
    cls_to_become = BatchNorm3d


class _LazyInstanceNormMixin(_LazyNormMixin):
    """As torch's, the lazy instance norms default to ``affine=True, track_running_stats=True``
    (unlike InstanceNorm*d)."""

    def _num_features(self, input):
        return input.shape[0] if input.dim() == self._no_batch_dim else input.shape[1]


class LazyInstanceNorm1d(_LazyInstanceNormMixin, InstanceNorm1d):
    """An InstanceNorm1d whose ``num_features`` is read from its first input."""
    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNormMixin, InstanceNorm2d):
    """An InstanceNorm2d whose ``num_features`` is read from its first input."""
    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNormMixin, InstanceNorm3d):
    """An InstanceNorm3d whose ``num_features`` is read from its first input."""
    cls_to_become = InstanceNorm3d
