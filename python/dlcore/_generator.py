"""Random-number generators: ``dlcore.Generator``, ``dlcore.default_generator`` and the random
sampling functions (normal, bernoulli, multinomial, poisson, binomial, randint_like and the
in-place fills ``Tensor.normal_``, ``uniform_``, ``exponential_``, ...).

Note [Two kinds of generator]: the global generator lives in C++ (cpp/src/ops/factory.cpp): a
Philox stream keyed by (seed, offset), whose offset advances by one per random op. It backs
``dlcore.default_generator`` and every op called without ``generator=``: rand, randn, randint,
randperm, multinomial and dropout run their C++ kernels on it. A ``dlcore.Generator`` object
holds its own (seed, offset) in Python; each draw from it takes the next offset and samples
with numpy from a PCG64 stream keyed by (seed, offset) (numpy's SeedSequence mixes the two), so
the same seed gives the same numbers whatever else draws random numbers, as in PyTorch, though
not the numbers the global generator gives for that seed. Distributions the C++ core has no
kernel for (bernoulli, poisson, exponential, ...) draw the key of such a numpy stream from the
global generator when no Generator is given, so ``dlcore.manual_seed`` makes them reproducible.
"""
import builtins
import os
import threading
import warnings

import numpy as np

from . import _C
from ._C import Tensor

__all__ = ["Generator", "default_generator", "manual_seed", "get_rng_state", "set_rng_state", "seed", "initial_seed",
           "normal", "bernoulli", "multinomial", "poisson", "binomial", "randint_like"]

_dt = _C.dtype
_DEFAULT_SEED = 67280421310721  # the C++ generator's seed before any manual_seed
_NP_FLOAT = {_dt.float32: np.float32, _dt.float64: np.float64}
_FLOAT_DIGITS = {_dt.float32: 24, _dt.float64: 53, _dt.float16: 11, _dt.bfloat16: 8}  # significand bits


def _check_seed(seed, fn, allow_float=False):
    if isinstance(seed, (str, bytes)) or (isinstance(seed, builtins.float) and not allow_float) \
            or not hasattr(seed, "__int__"):
        raise TypeError(f"{fn}: seed must be an integer, got {type(seed).__name__}")
    value = builtins.int(seed)
    if not -2**63 <= value < 2**64:
        raise ValueError(f"{fn}: seed must be in [-2**63, 2**64), got {value}")
    return value % 2**64


def _fresh_seed():
    return builtins.int.from_bytes(os.urandom(8), "little") >> 1


class Generator:
    """A random-number generator with its own state, for the ``generator=`` argument of the
    sampling functions, samplers, ``random_split`` and ``DataLoader``.

    The state is (seed, offset): ``manual_seed`` sets the seed and rewinds the offset, and every
    draw advances the offset by one (Note [Two kinds of generator]). ``get_state()`` returns it
    as an int64 tensor ``[seed, offset]`` (the seed as two's complement), where PyTorch returns a
    uint8 tensor; ``set_state`` takes what ``get_state`` returned. Numbers are drawn on the CPU
    and copied to ``device`` when it is a CUDA device.
    """

    def __init__(self, device="cpu"):
        dev = device if isinstance(device, _C.device) else _C.device(str(device))
        self._device = dev
        self._seed = _DEFAULT_SEED
        self._offset = 0
        self._lock = threading.Lock()

    @property
    def device(self):
        return self._device

    def manual_seed(self, seed):
        """Seed the generator (any integer in [-2**63, 2**64); negative ones modulo 2**64) and
        return it."""
        value = _check_seed(seed, "Generator.manual_seed")
        with self._lock:
            self._seed, self._offset = value, 0
        return self

    def seed(self):
        """Seed the generator from the operating system's entropy and return the seed."""
        value = _fresh_seed()
        self.manual_seed(value)
        return value

    def initial_seed(self):
        return self._seed

    def get_state(self):
        from ._tensor import tensor
        seed, offset = self._state()
        return tensor([seed - 2**64 if seed >= 2**63 else seed, offset], dtype=_dt.int64)

    def set_state(self, new_state):
        seed, offset = _parse_state(new_state, "Generator.set_state")
        self._set(seed, offset)
        return self

    def _state(self):
        return self._seed, self._offset

    def _set(self, seed, offset):
        with self._lock:
            self._seed, self._offset = seed, offset

    def _numpy(self):
        """A numpy Generator for one draw: the stream of (seed, next offset)."""
        with self._lock:
            offset = self._offset
            self._offset += 1
        return np.random.default_rng([self._seed & 0xFFFFFFFF, self._seed >> 32, offset & 0xFFFFFFFF, offset >> 32])

    def __repr__(self):
        return f"<dlcore.Generator object, device='{self._device}', seed={self._seed}, offset={self._offset}>"

    def __reduce__(self):
        return (_rebuild_generator, (str(self._device), self._seed, self._offset))


def _rebuild_generator(device, seed, offset):
    g = Generator(device)
    g._set(seed, offset)
    return g


def _parse_state(state, fn):
    if not isinstance(state, Tensor):
        raise TypeError(f"{fn}: expected the int64 tensor of get_state(), got {type(state).__name__}")
    if state.dtype != _dt.int64 or tuple(state.shape) != (2,):
        raise ValueError(f"{fn}: expected an int64 tensor of shape (2,) as get_state() returns, got "
                         f"{state.dtype!r} of shape {tuple(state.shape)}")
    seed, offset = (builtins.int(v) for v in state.tolist())
    if offset < 0:
        raise ValueError(f"{fn}: invalid state, negative offset {offset}")
    return seed % 2**64, offset


# ---- the global generator ------------------------------------------------------------------
class _DefaultGenerator(Generator):
    """``dlcore.default_generator``: a view of the global C++ generator, whose (seed, offset)
    ``get_state`` reads and ``set_state`` writes without drawing anything."""

    def __init__(self):
        super().__init__("cpu")

    def manual_seed(self, seed):
        _C.manual_seed(_check_seed(seed, "manual_seed", allow_float=True))
        return self

    def initial_seed(self):
        return _C.initial_seed()

    def _state(self):
        return _C._get_rng_state()

    def _set(self, seed, offset):
        _C._set_rng_state(seed, offset)

    def _numpy(self):
        key = (_C._rand([2], _dt.float64, None).numpy() * 2.0**53).astype(np.uint64).tolist()
        return np.random.default_rng(key)

    def __repr__(self):
        return f"<dlcore.Generator object, device='cpu', default, seed={_C.initial_seed()}>"

    def __reduce__(self):
        return (_default_generator, ())


def _default_generator():
    return default_generator


default_generator = _DefaultGenerator()


def manual_seed(seed):
    """Seed the global generator and return it (``dlcore.default_generator``). As in PyTorch,
    any integer in [-2**63, 2**64) is accepted (a float is truncated); a negative seed is taken
    modulo 2**64 (manual_seed(-1) == manual_seed(2**64 - 1))."""
    return default_generator.manual_seed(seed)


def get_rng_state():
    """The global generator's state as an int64 tensor ``[seed, offset]`` (the seed as two's
    complement), where PyTorch returns a uint8 tensor; reading it draws nothing."""
    return default_generator.get_state()


def set_rng_state(new_state):
    """Restore the global generator to a state from ``get_rng_state``."""
    default_generator._set(*_parse_state(new_state, "set_rng_state"))


def seed():
    """Seed the global generator from the operating system's entropy; returns the seed."""
    return default_generator.seed()


def initial_seed():
    """The seed of the global generator."""
    return _C.initial_seed()


# ---- drawing -------------------------------------------------------------------------------
def _check_generator(generator, fn):
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"{fn}: generator must be a dlcore.Generator or None, got {type(generator).__name__}")
    return generator


def _is_global(generator):
    return generator is None or generator is default_generator


def _rng(generator, fn):
    """The numpy Generator for one draw from ``generator`` (None: the global one)."""
    return (_check_generator(generator, fn) or default_generator)._numpy()


def _from_numpy(arr, dtype, device):
    """A dlcore tensor of ``dtype`` on ``device`` holding ``arr``."""
    from ._interop import from_numpy
    direct = {_dt.float32: np.float32, _dt.float64: np.float64, _dt.int64: np.int64, _dt.int32: np.int32,
              _dt.bool: np.bool_, _dt.float16: np.float16}.get(dtype)
    arr = np.asarray(arr, dtype=direct if direct is not None else np.float32, order="C")
    t = from_numpy(arr)
    if direct is None or (device is not None and str(device) != "cpu"):
        t = _C._to(t, dtype, device, False)
    return t


def _float_dtype(dtype, fn):
    dtype = _C._empty([0], None, None).dtype if dtype is None else dtype  # None: the default dtype
    if dtype not in (_dt.float32, _dt.float64, _dt.float16, _dt.bfloat16):
        raise TypeError(f"{fn}: expected a floating dtype, got {dtype!r}")
    return dtype


def _uniform(shape, dtype, device, generator, fn):
    """A tensor of uniform [0, 1) numbers."""
    if _is_global(generator):
        return _C._rand(list(shape), dtype, device)
    dtype = _float_dtype(dtype, fn)
    _check_generator(generator, fn)
    u = _rng(generator, fn).random(tuple(shape), dtype=_NP_FLOAT.get(dtype, np.float64))
    bits = _FLOAT_DIGITS[dtype]
    if bits < 24:  # 16-bit floats: as many random bits as the significand, so rounding cannot give 1
        u = np.floor(u * 2.0**bits) / 2.0**bits
    return _from_numpy(u, dtype, device)


def _standard_normal(shape, dtype, device, generator, fn):
    if _is_global(generator):
        return _C._randn(list(shape), dtype, device)
    dtype = _float_dtype(dtype, fn)
    _check_generator(generator, fn)
    return _from_numpy(_rng(generator, fn).standard_normal(tuple(shape), dtype=_NP_FLOAT.get(dtype, np.float64)),
                       dtype, device)


_INT_BOUNDS = {_dt.int32: (-2**31, 2**31 - 1), _dt.bool: (0, 1)}


def _check_randint(low, high, dtype, fn):
    """PyTorch's checks of randint's bounds: int64 values with high > low that an integer dtype
    holds (low and high - 1); a floating dtype warns where it cannot hold every integer."""
    for name, v in (("low", low), ("high", high)):
        if not -2**63 <= v < 2**63:
            raise ValueError(f"{fn}: {name} must fit in int64, got {v}")
    if high <= low:
        raise ValueError(f"{fn}: expected high > low, got low={low} high={high}")
    if dtype in _INT_BOUNDS:
        lo, hi = _INT_BOUNDS[dtype]
        if not (low >= lo and high - 1 <= hi):
            raise RuntimeError(f"{fn}: low={low} and high - 1={high - 1} must be in [{lo}, {hi}] "
                               f"for dtype {dtype.name}")
    digits = _FLOAT_DIGITS.get(dtype)
    if digits is not None and not (low >= -2**digits and high - 1 <= 2**digits):
        warnings.warn(f"{fn}: [low, high) = [{low}, {high}) is not within [-2**{digits}, 2**{digits}], where "
                      f"{dtype.name} holds every integer: values past it are rounded", stacklevel=4)


def _randint(low, high, shape, dtype, device, generator, fn):
    dtype = _dt.int64 if dtype is None else dtype
    _check_randint(low, high, dtype, fn)
    if _is_global(_check_generator(generator, fn)):
        return _C._randint(low, high, list(shape), dtype, device)
    return _from_numpy(_rng(generator, fn).integers(low, high, tuple(shape), dtype=np.int64), dtype, device)


def _randperm(n, dtype, device, generator, fn):
    dtype = _dt.int64 if dtype is None else dtype
    if _is_global(_check_generator(generator, fn)):
        return _C._randperm(builtins.int(n), dtype, device)
    if n < 0:
        raise ValueError(f"{fn}: n must be non-negative, got {n}")
    return _from_numpy(_rng(generator, fn).permutation(builtins.int(n)), dtype, device)


def _shape_of(x):
    return tuple(x.shape) if isinstance(x, Tensor) else ()


def _host(x, fn, name):
    """``x`` (a tensor or a number) as a float64 numpy array."""
    if isinstance(x, Tensor):
        x = x.detach()
        if x.is_cuda:
            x = x.cpu()
        return (x.float() if x.dtype == _dt.bfloat16 else x).numpy().astype(np.float64)
    if isinstance(x, (builtins.bool, str, bytes)) or not isinstance(x, (builtins.int, builtins.float, np.number)):
        raise TypeError(f"{fn}: {name} must be a tensor or a number, got {type(x).__name__}")
    return np.float64(x)


def _broadcast(fn, **named):
    shapes = {k: _shape_of(v) for k, v in named.items()}
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        desc = ", ".join(f"{k} {list(s)}" for k, s in shapes.items())
        raise ValueError(f"{fn}: shapes of {desc} cannot be broadcast together") from None


# ---- sampling functions -------------------------------------------------------------------
def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, device=None,
           requires_grad=False):
    """Normal samples with the given ``mean`` and ``std``: tensors (broadcast together; the
    result takes their dtype and device) or numbers (then ``size`` is required). As in PyTorch,
    a result from tensors that require grad has zero gradient with respect to them."""
    from ._tensor import _size
    fn = "normal"
    tensors = [x for x in (mean, std) if isinstance(x, Tensor)]
    if tensors:
        if size is not None:
            raise TypeError("normal: size is only accepted when mean and std are both numbers")
        shape = _broadcast(fn, mean=mean, std=std)
        ref = tensors[0]
        dtype = ref.dtype if dtype is None else dtype
        device = ref.device
    else:
        if size is None:
            raise TypeError("normal: with a number mean and std, size is required: normal(mean, std, size)")
        shape = tuple(_size([size]))
    s = _host(std, fn, "std")
    if np.any(s < 0) or np.any(np.isnan(s)):
        raise RuntimeError(f"normal: expects std >= 0.0, but found std {np.min(s)}")
    z = _standard_normal(shape, dtype, "cpu", generator, fn)
    values = _host(mean, fn, "mean") + s * z.numpy().astype(np.float64)
    result = _from_numpy(values, _float_dtype(dtype if dtype is not None else z.dtype, fn), device)
    for t in tensors:  # a zero gradient for tensors that require grad (where, not t * 0: inf * 0 is nan)
        if t.requires_grad:
            result = result + _C.where(_C._full(list(t.shape), 0.0, _dt.bool, t.device), t, 0.0)
    if requires_grad:
        result.requires_grad_(True)
    return _write_out(result, out, fn)


def _write_out(result, out, fn):
    if out is None:
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"{fn}: out must be a tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(result.shape):
        raise RuntimeError(f"{fn}: out has shape {list(out.shape)}, but the result has shape {list(result.shape)}")
    return out.copy_(result)


def _check_probs(p, fn):
    if np.any(~((p >= 0) & (p <= 1))):
        bad = p[~((p >= 0) & (p <= 1))].reshape(-1)[0]
        raise RuntimeError(f"{fn}: expected all probabilities p to be in [0, 1], got {bad}")


def bernoulli(input, p=None, *, generator=None, out=None):
    """0/1 samples: element i is 1 with probability ``input[i]`` (or ``p`` when given, for
    every element); the result has ``input``'s dtype, shape and device."""
    fn = "bernoulli"
    if not isinstance(input, Tensor):
        raise TypeError(f"bernoulli: input must be a tensor, got {type(input).__name__}")
    shape = tuple(input.shape)
    probs = _host(input if p is None else p, fn, "p")
    if p is not None and isinstance(p, Tensor):
        _broadcast(fn, input=input, p=p)
    _check_probs(probs, fn)
    u = _rng(generator, fn).random(shape)
    result = _from_numpy(u < probs, input.dtype, input.device)
    return _write_out(result, out, fn)


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """``num_samples`` category indices per row of the non-negative weights ``input`` (1-D or
    2-D), with or without replacement (Note [Multinomial sampling] in cpp/src/ops/factory.cpp,
    whose method the Generator path follows)."""
    fn = "multinomial"
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial: input must be a tensor, got {type(input).__name__}")
    if _is_global(_check_generator(generator, fn)):
        return _write_out(_C.multinomial(input, builtins.int(num_samples), builtins.bool(replacement)), out, fn)
    if input.dim() not in (1, 2):
        raise ValueError(f"multinomial: expected probs of 1 or 2 dimensions, got shape {list(input.shape)}")
    if not input.is_floating_point():
        raise TypeError(f"multinomial: expected a floating probs tensor, got {input.dtype!r}")
    num_samples = builtins.int(num_samples)
    if num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    w = np.atleast_2d(_host(input, fn, "input"))
    rows, v = w.shape
    if v == 0:
        raise ValueError(f"multinomial: probs has no categories, shape {list(input.shape)}")
    if not np.all(np.isfinite(w) & (w >= 0)):
        raise ValueError("multinomial: probs must be finite and non-negative")
    if np.any(w.sum(axis=1) <= 0):
        raise ValueError(f"multinomial: row {builtins.int(np.argmin(w.sum(axis=1)))} of probs sums to zero")
    positive = builtins.int((w > 0).sum(axis=1).min()) if rows else v
    if not replacement and num_samples > positive:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from a row with "
                         f"{positive} non-zero weights")
    rng = _rng(generator, fn)
    if replacement:
        cum = np.cumsum(w, axis=1)
        target = rng.random((rows, num_samples)) * cum[:, -1:]
        idx = np.stack([np.searchsorted(cum[r], target[r], side="right") for r in range(rows)]) if rows else \
            np.zeros((0, num_samples), np.int64)
        idx = np.minimum(idx, v - 1)
    else:
        with np.errstate(divide="ignore"):
            keys = rng.standard_exponential((rows, v)) / w
        idx = np.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    idx = idx.astype(np.int64)
    if input.dim() == 1:
        idx = idx[0]
    return _write_out(_from_numpy(idx, _dt.int64, input.device), out, fn)


def poisson(input, generator=None):
    """Poisson samples with rates ``input`` (non-negative), in ``input``'s dtype."""
    fn = "poisson"
    if not isinstance(input, Tensor):
        raise TypeError(f"poisson: input must be a tensor, got {type(input).__name__}")
    rate = _host(input, fn, "input")
    if np.any(~(rate >= 0)):
        raise RuntimeError("poisson: invalid Poisson rate, expected rate to be non-negative")
    return _from_numpy(_rng(generator, fn).poisson(rate).astype(np.float64), input.dtype, input.device)


def binomial(count, prob, generator=None):
    """Binomial samples: successes in ``count`` trials of probability ``prob`` (tensors,
    broadcast together), in ``count``'s dtype."""
    fn = "binomial"
    if not isinstance(count, Tensor) or not isinstance(prob, Tensor):
        raise TypeError("binomial: count and prob must be tensors")
    shape = _broadcast(fn, count=count, prob=prob)
    n, p = np.broadcast_to(_host(count, fn, "count"), shape), np.broadcast_to(_host(prob, fn, "prob"), shape)
    if np.any(~(n >= 0)) or np.any(n != np.floor(n)):
        raise RuntimeError("binomial: count must be non-negative integers")
    _check_probs(p, fn)
    return _from_numpy(_rng(generator, fn).binomial(n.astype(np.int64), p).astype(np.float64), count.dtype,
                       count.device)


def randint_like(input, low=0, high=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Random integers in [low, high) with ``input``'s shape (and dtype and device unless given);
    ``randint_like(input, high)`` takes low = 0."""
    if high is None:
        low, high = 0, low
    t = _randint(builtins.int(low), builtins.int(high), tuple(input.shape), dtype or input.dtype,
                 device or input.device, generator, "randint_like")
    return t.requires_grad_(True) if requires_grad else t


# ---- in-place fills -------------------------------------------------------------------------
def _fill(self, values, fn):
    """Write numpy ``values`` into ``self`` in place."""
    if not self.is_floating_point() and fn not in ("random_", "bernoulli_"):
        raise RuntimeError(f"{fn}: expects a floating point tensor, got {self.dtype!r}")
    return self.copy_(_from_numpy(values, self.dtype, self.device))


def _normal_(self, mean=0.0, std=1.0, *, generator=None):
    if std < 0:
        raise RuntimeError(f"normal_: expects std >= 0.0, but found std {std}")
    if not self.is_floating_point():
        raise RuntimeError(f"normal_: expects a floating point tensor, got {self.dtype!r}")
    z = _standard_normal(tuple(self.shape), self.dtype, self.device, generator, "normal_")
    return self.copy_(z * std + mean if (mean, std) != (0.0, 1.0) else z)


def _uniform_(self, from_=0.0, to=1.0, *, generator=None, **kwargs):
    if "from" in kwargs:
        from_ = kwargs.pop("from")
    if kwargs:
        raise TypeError(f"uniform_: unexpected arguments {sorted(kwargs)}")
    if from_ > to:
        raise RuntimeError(f"uniform_: expects to return a [from, to) range, but found from={from_} > to={to}")
    if not self.is_floating_point():
        raise RuntimeError(f"uniform_: expects a floating point tensor, got {self.dtype!r}")
    u = _uniform(tuple(self.shape), self.dtype, self.device, generator, "uniform_")
    return self.copy_(u * (to - from_) + from_ if (from_, to) != (0.0, 1.0) else u)


def _exponential_(self, lambd=1.0, *, generator=None):
    if not lambd > 0:
        raise RuntimeError(f"exponential_: expects lambda > 0.0, but found lambda={lambd}")
    return _fill(self, _rng(generator, "exponential_").standard_exponential(tuple(self.shape)) / lambd,
                 "exponential_")


def _geometric_(self, p, *, generator=None):
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_: expects p to be in (0, 1), but got p={p}")
    values = _rng(generator, "geometric_").geometric(p, tuple(self.shape)).astype(np.float64)
    if self.is_floating_point():
        return _fill(self, values, "geometric_")
    return self.copy_(_from_numpy(values.astype(np.int64), self.dtype, self.device))


def _cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    if not sigma > 0:
        raise RuntimeError(f"cauchy_: expects sigma > 0.0, but found sigma={sigma}")
    return _fill(self, median + sigma * _rng(generator, "cauchy_").standard_cauchy(tuple(self.shape)), "cauchy_")


def _log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    if not std > 0:
        raise RuntimeError(f"log_normal_: expects std > 0.0, but found std={std}")
    return _fill(self, _rng(generator, "log_normal_").lognormal(mean, std, tuple(self.shape)), "log_normal_")


_RANDOM_TO = {_dt.float32: 2**24 + 1, _dt.float64: 2**53 + 1, _dt.float16: 2**11 + 1, _dt.bfloat16: 2**8 + 1,
              _dt.int64: 2**63, _dt.int32: 2**31, _dt.bool: 2}


def _random_(self, from_=0, to=None, *, generator=None, **kwargs):
    """Integers uniform in [from, to - 1]; ``random_(to)`` is [0, to - 1]; with no bounds,
    [0, 2**mantissa] for floating dtypes and [0, max] for integer ones, as in PyTorch."""
    if "from" in kwargs:
        from_ = kwargs.pop("from")
    if kwargs:
        raise TypeError(f"random_: unexpected arguments {sorted(kwargs)}")
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        to = _RANDOM_TO[self.dtype]
    if not from_ < to:
        raise RuntimeError(f"random_: expects 'from' to be less than 'to', but got from={from_} >= to={to}")
    values = _rng(generator, "random_").integers(builtins.int(from_), builtins.int(to), tuple(self.shape),
                                                 dtype=np.int64)
    if self.dtype == _dt.int64:
        return self.copy_(_from_numpy(values, _dt.int64, self.device))
    return self.copy_(_from_numpy(values.astype(np.float64), self.dtype, self.device))


def _bernoulli_(self, p=0.5, *, generator=None):
    probs = _host(p, "bernoulli_", "p")
    _check_probs(probs, "bernoulli_")
    u = _rng(generator, "bernoulli_").random(tuple(self.shape))
    return self.copy_(_from_numpy(u < probs, self.dtype, self.device))


def _bernoulli_method(self, p=None, *, generator=None):
    return bernoulli(self, p, generator=generator)


def _multinomial_method(self, num_samples, replacement=False, *, generator=None):
    return multinomial(self, num_samples, replacement, generator=generator)


def _install_methods():
    T = Tensor
    T.normal_ = _normal_
    T.uniform_ = _uniform_
    T.exponential_ = _exponential_
    T.geometric_ = _geometric_
    T.cauchy_ = _cauchy_
    T.log_normal_ = _log_normal_
    T.random_ = _random_
    T.bernoulli = _bernoulli_method
    T.bernoulli_ = _bernoulli_
    T.multinomial = _multinomial_method


_install_methods()
