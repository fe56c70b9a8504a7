"""Element-wise functions beyond the registered ops: PyTorch's aliases, compositions and the
in-place variants of element-wise ops."""
import collections
import math

import numpy as np

from . import _C
from . import autograd as _autograd
from ._tensor import tensor as _tensor

Tensor = _C.Tensor
_dt = _C.dtype
_FLOATING = (_dt.float16, _dt.bfloat16, _dt.float32, _dt.float64)


def _is_tensor(x):
    return isinstance(x, Tensor)


def _shape(t):
    return list(t.shape)


# ---- compositions -------------------------------------------------------------------------------
def positive(input):
    """Returns `input` itself; bool tensors raise as in PyTorch."""
    if input.dtype == _dt.bool:
        raise TypeError(f"positive: not supported for bool tensors (bool {_shape(input)})")
    return input


def square(input):
    """input ** 2; integer and bool inputs give int64 as in PyTorch."""
    return _C.pow(input, 2)


def frac(input):
    """input - trunc(input), with input's sign; floating inputs only."""
    if not input.is_floating_point():
        raise TypeError(f"frac: only floating tensors are supported, got {input.dtype.name} {_shape(input)}")
    return _C.sub(input, _C.trunc(input))


def deg2rad(input):
    """Degrees to radians; integer inputs give float32."""
    return _C.mul(input, math.pi / 180.0)


def rad2deg(input):
    """Radians to degrees; integer inputs give float32."""
    return _C.mul(input, 180.0 / math.pi)


def float_power(input, exponent):
    """input ** exponent in float64, whatever the operands' dtypes (one must be a tensor)."""
    if not _is_tensor(input) and not _is_tensor(exponent):
        raise TypeError("float_power: expected input or exponent to be a tensor, got two numbers")
    base = input.double() if _is_tensor(input) else float(input)
    exp = exponent.double() if _is_tensor(exponent) else float(exponent)
    if not _is_tensor(base):
        base = _tensor(base, dtype=_dt.float64, device=exp.device)
    return _C.pow(base, exp)


def ldexp(input, other):
    """input * 2 ** other; integer inputs give float32."""
    return _C.mul(input, _C.pow(2.0, other) if _is_tensor(other) else 2.0 ** other)


_frexp = collections.namedtuple("frexp", ["mantissa", "exponent"])


def frexp(input):
    """(mantissa, exponent), input = mantissa * 2 ** exponent with |mantissa| in [0.5, 1) (0 for
    0; inf and NaN mantissas are the input); the exponent is int32. Not differentiable."""
    if not input.is_floating_point():
        raise TypeError(f"frexp: only floating tensors are supported, got {input.dtype.name} {_shape(input)}")
    if input.device.type != "cpu":
        raise NotImplementedError(f"frexp: not implemented for {input.device.type} tensors")
    m, e = np.frexp(input.detach().numpy())
    return _frexp(_tensor(m, dtype=input.dtype), _tensor(e.astype(np.int32), dtype=_dt.int32))


def mvlgamma(input, p):
    """The log of the multivariate gamma function of dimension p:
    p (p - 1) / 4 log(pi) + sum_{j<p} lgamma(input - j / 2)."""
    if p < 1:
        raise RuntimeError(f"mvlgamma: p has to be greater than or equal to 1, got {p}")
    out = _C.lgamma(input)
    for j in range(1, p):
        out = _C.add(out, _C.lgamma(_C.sub(input, j / 2)))
    return _C.add(out, p * (p - 1) / 4 * math.log(math.pi))


def rsub(input, other, alpha=1):
    """other - alpha * input."""
    return _C.sub(other, input, alpha=alpha)


def clamp_min(input, min):
    """clamp(input, min=min)."""
    return _C.clamp(input, min=min)


def clamp_max(input, max):
    """clamp(input, max=max)."""
    return _C.clamp(input, max=max)


def div(input, other, *, rounding_mode=None):
    """input / other. rounding_mode: None (true division), 'trunc' (towards zero) or 'floor'
    (towards -inf, Python's //); the rounded quotients keep integer dtypes and have zero
    gradients."""
    if rounding_mode is None:
        return _C.div(input, other)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: expected rounding_mode to be one of None, 'trunc' or 'floor', got {rounding_mode!r}")
    a = input if _is_tensor(input) else _tensor(input)
    b = other
    floating = a.is_floating_point() or (b.is_floating_point() if _is_tensor(b) else isinstance(b, float))
    if rounding_mode == "trunc":
        if floating:
            return _C.trunc(_C.div(a, b))
        return _C.floor_divide(_C.sub(a, _C.fmod(a, b)), b)  # exact: a - fmod(a, b) is a multiple of b
    q = _C.floor_divide(a.detach(), b.detach() if _is_tensor(b) else b)
    needs_grad = _C.is_grad_enabled() and (a.requires_grad or (_is_tensor(b) and b.requires_grad))
    if not needs_grad:
        return q
    # Note [Rounded division gradients]: floor_divide has no derivative (as in PyTorch), but
    # div(rounding_mode='floor') has a zero one. floor(a / b) carries that zero gradient; its
    # values are then replaced by floor_divide's, which are exact where a / b rounds up.
    out = _C.floor(_C.div(a, b))
    with _autograd.no_grad():
        out.copy_(q)
    return out


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2."""
    return _C.add(input, _C.mul(tensor1, tensor2), alpha=value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2 (true division; integer tensor1 and tensor2 raise)."""
    if not _float_like(tensor1) and not _float_like(tensor2):
        raise RuntimeError("addcdiv: integer division of tensors is not supported; use true division "
                           f"(tensor1 {_describe(tensor1)}, tensor2 {_describe(tensor2)})")
    return _C.add(input, _C.div(tensor1, tensor2), alpha=value)


def _float_like(x):
    return x.is_floating_point() if _is_tensor(x) else isinstance(x, float)


def _describe(x):
    return f"{x.dtype.name} {_shape(x)}" if _is_tensor(x) else repr(x)


_ALIASES = {
    "absolute": _C.abs, "arccos": _C.acos, "arcsin": _C.asin, "arctan": _C.atan, "arctan2": _C.atan2,
    "arccosh": _C.acosh, "arcsinh": _C.asinh, "arctanh": _C.atanh, "fix": _C.trunc, "multiply": _C.mul,
    "subtract": _C.sub, "greater": _C.gt, "greater_equal": _C.ge, "less": _C.lt, "less_equal": _C.le,
    "not_equal": _C.ne,
}
divide = div
globals().update(_ALIASES)


# ---- in place -----------------------------------------------------------------------------------
def _category(dtype):
    return 0 if dtype == _dt.bool else 2 if dtype in _FLOATING else 1


# Note [Generic in-place ops]
# Tensor.<op>_ computes op out of place and copies the result into self with copy_, which
# bumps self's version and, under autograd, makes the copy self's history. A leaf that
# requires grad raises. When a graph is recorded the op reads a clone of self (and of any
# operand sharing self's storage), so that what its backward saves is not the tensor being
# overwritten. As in PyTorch the result must have self's shape and a dtype that casts to
# self's: no float result into an integer tensor, no number into a bool one.
def _make_inplace(name, fn):
    """Tensor.<name> writing fn(self, ...) into self (Note [Generic in-place ops])."""
    def method(self, *args, **kwargs):
        if not _is_tensor(self):
            raise TypeError(f"{name}: expected a tensor, got {type(self).__name__}")
        src = self
        if _C.is_grad_enabled() and (self.requires_grad or any(_is_tensor(a) and a.requires_grad for a in args)):
            if self.requires_grad and self.is_leaf:
                raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place "
                                   f"operation ({self.dtype.name} {_shape(self)})")
            src = self.clone()
            ptr = self.untyped_storage_ptr()
            args = tuple(src if a is self else a.clone() if _is_tensor(a) and a.untyped_storage_ptr() == ptr
                         else a for a in args)
        out = fn(src, *args, **kwargs)
        if _shape(out) != _shape(self):
            raise RuntimeError(f"{name}: output with shape {_shape(self)} doesn't match the broadcast shape "
                               f"{_shape(out)}")
        if _category(out.dtype) > _category(self.dtype):
            raise RuntimeError(f"{name}: result type {out.dtype.name} can't be cast to the desired output type "
                               f"{self.dtype.name}")
        self.copy_(out)
        return self

    method.__name__ = name
    method.__qualname__ = f"Tensor.{name}"
    method.__doc__ = f"In-place version of {name[:-1]}: writes the result into self and returns self."
    return method


def _float_power_inplace(self, exponent):
    if self.dtype != _dt.float64:
        raise RuntimeError(f"float_power_: the base has dtype {self.dtype.name} but the result requires float64")
    return float_power(self, exponent)


def _div_inplace(self, other, *, rounding_mode=None):
    if rounding_mode is None:
        return _C_div_(self, other)
    return _div_generic(self, other, rounding_mode=rounding_mode)


_C_div_ = Tensor.div_
_div_generic = _make_inplace("div_", div)

# Tensor.<op>_ for every out-of-place element-wise op PyTorch has an in-place form of.
_INPLACE = {
    "abs_": _C.abs, "acos_": _C.acos, "asin_": _C.asin, "atan_": _C.atan, "sinh_": _C.sinh, "cosh_": _C.cosh,
    "tan_": _C.tan, "asinh_": _C.asinh, "acosh_": _C.acosh, "atanh_": _C.atanh, "sin_": _C.sin, "cos_": _C.cos,
    "tanh_": _C.tanh, "sigmoid_": _C.sigmoid, "relu_": _C.relu, "exp_": _C.exp, "exp2_": _C.exp2,
    "expm1_": _C.expm1, "log_": _C.log, "log2_": _C.log2, "log10_": _C.log10, "log1p_": _C.log1p,
    "sqrt_": _C.sqrt, "rsqrt_": _C.rsqrt, "neg_": _C.neg, "negative_": _C.neg, "sign_": _C.sign,
    "reciprocal_": _C.reciprocal, "round_": _C.round, "floor_": _C.floor, "ceil_": _C.ceil, "trunc_": _C.trunc,
    "fix_": _C.trunc, "frac_": frac, "erf_": _C.erf, "erfc_": _C.erfc, "erfinv_": _C.erfinv,
    "lgamma_": _C.lgamma, "digamma_": _C.digamma, "i0_": _C.i0, "sinc_": _C.sinc, "logit_": _C.logit,
    "nan_to_num_": _C.nan_to_num, "square_": square, "deg2rad_": deg2rad, "rad2deg_": rad2deg,
    "clamp_": _C.clamp, "clip_": _C.clamp, "clamp_min_": clamp_min, "clamp_max_": clamp_max,
    "logical_not_": _C.logical_not, "bitwise_not_": _C.bitwise_not,
    "fmod_": _C.fmod, "remainder_": _C.remainder, "pow_": _C.pow, "atan2_": _C.atan2, "hypot_": _C.hypot,
    "copysign_": _C.copysign, "nextafter_": _C.nextafter, "xlogy_": _C.xlogy, "floor_divide_": _C.floor_divide,
    "heaviside_": _C.heaviside, "gcd_": _C.gcd, "lcm_": _C.lcm, "bitwise_left_shift_": _C.bitwise_left_shift,
    "bitwise_right_shift_": _C.bitwise_right_shift, "lerp_": _C.lerp, "float_power_": _float_power_inplace,
    "ldexp_": ldexp, "true_divide_": _C.div, "multiply_": _C.mul, "subtract_": _C.sub,
    "eq_": _C.eq, "ne_": _C.ne, "lt_": _C.lt, "le_": _C.le, "gt_": _C.gt, "ge_": _C.ge, "greater_": _C.gt,
    "greater_equal_": _C.ge, "less_": _C.lt, "less_equal_": _C.le, "not_equal_": _C.ne,
    "logical_and_": _C.logical_and, "logical_or_": _C.logical_or, "logical_xor_": _C.logical_xor,
    "addcmul_": addcmul, "addcdiv_": addcdiv, "mvlgamma_": mvlgamma,
    "polygamma_": lambda self, n: _C.polygamma(n, self),
}
_INPLACE.update({k + "_": v for k, v in _ALIASES.items() if k + "_" not in _INPLACE
                 and k in ("absolute", "arccos", "arcsin", "arctan", "arctan2", "arccosh", "arcsinh", "arctanh")})
_INPLACE_METHODS = {name: _make_inplace(name, fn) for name, fn in _INPLACE.items()}
_INPLACE_METHODS["divide_"] = _INPLACE_METHODS["div_"] = _div_inplace

# The in-place functions PyTorch also has at the top level (torch.abs_(x) is x.abs_()).
_TOP_LEVEL_INPLACE = [
    "abs_", "acos_", "arccos_", "asin_", "arcsin_", "atan_", "arctan_", "sinh_", "arcsinh_", "cosh_", "arccosh_",
    "tan_", "asinh_", "acosh_", "atanh_", "arctanh_", "sin_", "cos_", "tanh_", "sigmoid_", "relu_", "exp_",
    "exp2_", "expm1_", "log_", "log2_", "log10_", "log1p_", "sqrt_", "rsqrt_", "neg_", "negative_",
    "reciprocal_", "round_", "floor_", "ceil_", "trunc_", "fix_", "frac_", "erf_", "erfc_", "i0_", "sinc_",
    "logit_", "nan_to_num_", "square_", "deg2rad_", "rad2deg_", "clamp_", "clip_", "clamp_min_", "clamp_max_",
    "xlogy_", "gcd_", "lcm_", "ldexp_",
]
globals().update({name: _INPLACE_METHODS[name] for name in _TOP_LEVEL_INPLACE})

# Tensor methods of the aliases: the Tensor's own bound methods (module functions do not bind self).
_METHODS = {name: getattr(Tensor, fn.__name__) for name, fn in _ALIASES.items()}
_METHODS.update(positive=positive, square=square, frac=frac, deg2rad=deg2rad, rad2deg=rad2deg, float_power=float_power,
                ldexp=ldexp, frexp=frexp, clamp_min=clamp_min, clamp_max=clamp_max, div=div, divide=div,
                addcmul=addcmul, addcdiv=addcdiv, mvlgamma=mvlgamma)


def _install_methods():
    for name, fn in {**_METHODS, **_INPLACE_METHODS}.items():
        setattr(Tensor, name, fn)
    # Augmented assignment writes in place, as in PyTorch.
    Tensor.__ipow__ = _INPLACE_METHODS["pow_"]
    Tensor.__imod__ = _INPLACE_METHODS["remainder_"]
    Tensor.__ifloordiv__ = _INPLACE_METHODS["floor_divide_"]
    Tensor.__ilshift__ = _INPLACE_METHODS["bitwise_left_shift_"]
    Tensor.__irshift__ = _INPLACE_METHODS["bitwise_right_shift_"]


_install_methods()

__all__ = sorted(["positive", "square", "frac", "deg2rad", "rad2deg", "float_power", "ldexp", "frexp", "mvlgamma",
                  "rsub", "clamp_min", "clamp_max", "div", "divide", "addcmul", "addcdiv", *_ALIASES,
                  *_TOP_LEVEL_INPLACE])
