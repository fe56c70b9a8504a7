"""Helpers shared by the distributions: argument broadcasting, probability/logit conversions,
special functions (Note [Special functions]), and the random draws dlcore's core lacks."""
import math

import numpy as np

import dlcore
from dlcore.autograd import Function

__all__ = ["broadcast_all", "lazy_property", "logits_to_probs", "probs_to_logits", "clamp_probs",
           "tril_matrix_to_vec", "vec_to_tril_matrix", "lgamma", "digamma", "erf", "ndtri", "atan", "expm1",
           "log1pexp", "xlogy", "log_bessel_i0", "bessel_ratio_i1_i0", "gammainc", "standard_gamma",
           "standard_gamma_rsample", "poisson", "binomial", "numpy_generator"]

Tensor = dlcore.Tensor
_FLOATS = (dlcore.float32, dlcore.float64, dlcore.float16, dlcore.bfloat16)


def broadcast_all(*values):
    """The values (tensors or numbers) as tensors expanded to their common shape; numbers take the
    dtype of the first floating tensor, else float32."""
    if not all(isinstance(v, (Tensor, int, float)) for v in values):
        raise ValueError("broadcast_all: input arguments must be Tensors or numbers, got "
                         f"{[type(v).__name__ for v in values]}")
    dtype = next((v.dtype for v in values if isinstance(v, Tensor) and v.dtype in _FLOATS), dlcore.float32)
    tensors = [v if isinstance(v, Tensor) else dlcore.tensor(float(v), dtype=dtype) for v in values]
    try:
        shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    except ValueError:
        raise ValueError("broadcast_all: shapes " + ", ".join(str(list(t.shape)) for t in tensors)
                         + " do not broadcast") from None
    return tuple(t if tuple(t.shape) == shape else t.expand(*shape) for t in tensors)


class lazy_property:
    """A property computed on first access and then stored on the instance (so that a
    distribution given probs computes logits only when asked, and vice versa)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with dlcore.enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def _eps(x):
    return float(np.finfo(np.float32 if x.dtype == dlcore.float32 else np.float64).eps)


def _f64(t):
    return t.detach().numpy().astype(np.float64)


def _tiny(x):
    return float(np.finfo(np.float32 if x.dtype == dlcore.float32 else np.float64).tiny)


def clamp_probs(probs):
    """probs clamped to [eps, 1 - eps] of their dtype."""
    eps = _eps(probs)
    return probs.clamp(min=eps, max=1 - eps)


def logits_to_probs(logits, is_binary=False):
    """sigmoid(logits) when is_binary, else softmax over the last dimension."""
    return dlcore.sigmoid(logits) if is_binary else dlcore.softmax(logits, -1)


def probs_to_logits(probs, is_binary=False):
    """The logits of probabilities (log-odds when is_binary, else log-probabilities)."""
    ps = clamp_probs(probs)
    return dlcore.log(ps) - dlcore.log1p(-ps) if is_binary else dlcore.log(ps)


def tril_matrix_to_vec(mat, diag=0):
    """The lower triangle (with ``diag`` extra diagonals) of mat (*, n, n) as (*, k) row by row."""
    n = mat.shape[-1]
    rows, cols = np.tril_indices(n, diag)
    flat = mat.reshape(*mat.shape[:-2], n * n)
    return flat.index_select(flat.dim() - 1, dlcore.tensor((rows * n + cols).astype(np.int64)))


def vec_to_tril_matrix(vec, diag=0):
    """The inverse of tril_matrix_to_vec for diag <= 0: (*, k) to a lower-triangular (*, n, n)
    (differentiable: a product with a constant 0/1 placement matrix)."""
    if diag > 0:
        raise ValueError(f"vec_to_tril_matrix: diag must be <= 0, got {diag}")
    k = vec.shape[-1]
    m = int(round((math.sqrt(1 + 8 * k) - 1) / 2))  # k = m (m + 1) / 2 with m = n + diag
    if m * (m + 1) // 2 != k:
        raise ValueError(f"vec_to_tril_matrix: {k} entries do not fill a triangular matrix")
    n = m - diag
    rows, cols = np.tril_indices(n, diag)
    place = np.zeros((k, n * n))
    place[np.arange(k), rows * n + cols] = 1.0
    return (vec @ dlcore.tensor(place, dtype=vec.dtype)).reshape(*vec.shape[:-1], n, n)


# ---- special functions ---------------------------------------------------------------------------
# Note [Special functions]: lgamma, erf, erfinv, atan and expm1 are dlcore's native element-wise
# ops, differentiable twice or more. digamma takes its value from the native op but its
# derivative, the trigamma function, from a composition of dlcore ops (a recurrence that moves the
# argument to >= 10, then the asymptotic series to the term in z^-15, which leaves a relative
# error below 1e-15), so that digamma is differentiable to any order. The Bessel functions of the von Mises
# distribution and the incomplete gamma function run in float64 numpy inside autograd Functions:
# the backward of log I_0 is the ratio I_1 / I_0, itself a Function whose derivative
# 1 - r / kappa - r^2 is a formula in dlcore ops, so both are differentiable to any order. The
# derivatives of P(a, x) and of gamma samples in a come from finite differences in numpy: they
# are first order only and differentiating them again raises.
_SHIFT = 10
_TRIGAMMA = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)  # B_2k, the z^-(2k+1) terms


def lgamma(x):
    """log |Gamma(x)|."""
    return dlcore.lgamma(x)


def _trigamma(x):
    """The trigamma function (d/dx digamma) for x > 0, composed of dlcore ops."""
    z = x + float(_SHIFT)
    shift = sum((1.0 / ((x + float(k)) * (x + float(k))) for k in range(1, _SHIFT)), 1.0 / (x * x))
    r = 1.0 / z
    r2 = r * r
    series = 0.0
    for c in reversed(_TRIGAMMA):
        series = series * r2 + c
    return r + 0.5 * r2 + series * r2 * r + shift


class _Digamma(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return dlcore.digamma(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _trigamma(x)


def digamma(x):
    """The digamma function (d/dx log Gamma), differentiable to any order for x > 0."""
    return _Digamma.apply(x)


def erf(x):
    """The error function."""
    return dlcore.erf(x)


def ndtri(p):
    """The standard normal quantile function (inverse of the standard normal cdf), as
    sqrt(2) erfinv(2 p - 1)."""
    return dlcore.erfinv(2 * p - 1) * math.sqrt(2)


def atan(x):
    """The arctangent."""
    return dlcore.atan(x)


def expm1(x):
    """exp(x) - 1, accurate for small |x|."""
    return dlcore.expm1(x)


def log1pexp(x):
    """log(1 + exp(x)) without overflow (softplus with no threshold), with the exact gradient
    sigmoid(x) everywhere (each branch only sees the inputs it is selected for)."""
    pos = x > 0
    zero = dlcore.zeros_like(x)
    xp = dlcore.where(pos, x, zero)
    xn = dlcore.where(pos, zero, x)
    return dlcore.where(pos, xp + dlcore.log1p(dlcore.exp(-xp)), dlcore.log1p(dlcore.exp(xn)))


def xlogy(x, y):
    """x * log(y), taken as 0 where x == 0 (also where y == 0)."""
    zero = x == 0
    return dlcore.where(zero, dlcore.zeros_like(y), x * dlcore.log(dlcore.where(zero, dlcore.ones_like(y), y)))


def _scaled_bessel(kappa, order):
    """exp(-kappa) I_order(kappa) for kappa >= 0 (float64 numpy), by the trapezoid rule on
    (1/pi) int_0^pi exp(kappa (cos t - 1)) cos(order t) dt, which converges geometrically for
    this periodic integrand; the number of nodes grows with sqrt(kappa), the peak's width."""
    k = np.asarray(kappa, np.float64)
    nodes = 64 + int(32 * math.sqrt(float(k.max()))) if k.size else 1
    t = np.linspace(0.0, math.pi, nodes + 1)
    w = np.full(nodes + 1, 1.0 / nodes)
    w[[0, -1]] *= 0.5
    return (np.exp(k[..., None] * (np.cos(t) - 1.0)) * np.cos(order * t)) @ w


class _BesselRatio(Function):
    """I_1(kappa) / I_0(kappa), whose derivative is 1 - r / kappa - r^2."""

    @staticmethod
    def forward(ctx, kappa):
        k = _f64(kappa)
        r = dlcore.tensor(_scaled_bessel(k, 1) / _scaled_bessel(k, 0), dtype=kappa.dtype)
        ctx.save_for_backward(kappa, r)
        return r

    @staticmethod
    def backward(ctx, g):
        kappa, r = ctx.saved_tensors
        return g * (1 - r / kappa - r * r)


class _LogBesselI0(Function):
    """log I_0(kappa), whose derivative is I_1(kappa) / I_0(kappa)."""

    @staticmethod
    def forward(ctx, kappa):
        k = _f64(kappa)
        ctx.save_for_backward(kappa)
        return dlcore.tensor(np.log(_scaled_bessel(k, 0)) + k, dtype=kappa.dtype)

    @staticmethod
    def backward(ctx, g):
        (kappa,) = ctx.saved_tensors
        return g * _BesselRatio.apply(kappa)


def bessel_ratio_i1_i0(kappa):
    """I_1(kappa) / I_0(kappa) for kappa > 0."""
    return _BesselRatio.apply(kappa)


def log_bessel_i0(kappa):
    """log I_0(kappa) for kappa >= 0."""
    return _LogBesselI0.apply(kappa)


# ---- random draws beyond dlcore.randn / rand --------------------------------------------------------
# Note [Random draws]: gamma, Poisson and binomial variates come from a numpy Generator seeded by
# a draw from dlcore's generator, so dlcore.manual_seed makes them reproducible. Where dlcore has
# a function of torch's name (dlcore.poisson, dlcore.binomial, dlcore._standard_gamma) it is used
# instead.
def numpy_generator():
    """A numpy Generator seeded from dlcore's global generator."""
    return np.random.default_rng(int(dlcore.randint(0, 2 ** 62, (1,)).item()))


def standard_gamma(concentration):
    """Gamma(concentration, 1) variates with concentration's shape and dtype."""
    native = getattr(dlcore, "_standard_gamma", None)
    if native is not None:
        return native(concentration)
    a = concentration.detach().numpy().astype(np.float64)
    x = numpy_generator().standard_gamma(a)
    return dlcore.tensor(np.maximum(x, _tiny(concentration)), dtype=concentration.dtype)


def poisson(rate):
    """Poisson(rate) variates with rate's shape and dtype."""
    native = getattr(dlcore, "poisson", None)
    if native is not None:
        return native(rate)
    return dlcore.tensor(numpy_generator().poisson(rate.detach().numpy().astype(np.float64)).astype(np.float64),
                         dtype=rate.dtype)


def binomial(count, prob):
    """Binomial(count, prob) variates with the broadcast shape, in prob's dtype."""
    native = getattr(dlcore, "binomial", None)
    if native is not None:
        return native(count, prob)
    n = np.rint(count.detach().numpy()).astype(np.int64)
    p = np.clip(prob.detach().numpy().astype(np.float64), 0.0, 1.0)
    return dlcore.tensor(numpy_generator().binomial(n, p).astype(np.float64), dtype=prob.dtype)


# ---- the regularised incomplete gamma function ---------------------------------------------------
_lgamma_np = np.frompyfunc(math.lgamma, 1, 1)


def _gammainc_np(a, x):
    """P(a, x) = gamma(a, x) / Gamma(a) for a > 0, x >= 0 (float64 numpy, broadcast): the series
    for x < a + 1, else one minus the continued fraction for Q (modified Lentz)."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        log_pre = a * np.log(x) - x - _lgamma_np(a).astype(np.float64)
        series = x < a + 1
        out = np.empty(a.shape)
        sa, sx = a[series], x[series]
        term = 1.0 / sa
        total = term.copy()
        for n in range(1, 2000):
            term = term * sx / (sa + n)
            total = total + term
            if not np.any(np.abs(term) > np.abs(total) * 1e-17):
                break
        out[series] = total * np.exp(log_pre[series])
        ca, cx = a[~series], x[~series]
        tiny = 1e-300
        b = cx + 1.0 - ca
        c = np.full(ca.shape, 1.0 / tiny)
        d = 1.0 / b
        h = d.copy()
        for i in range(1, 2000):
            an = -i * (i - ca)
            b = b + 2.0
            d = an * d + b
            d = np.where(np.abs(d) < tiny, tiny, d)
            c = b + an / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            d = 1.0 / d
            delta = d * c
            h = h * delta
            if not np.any(np.abs(delta - 1.0) > 1e-16):
                break
        out[~series] = 1.0 - np.exp(log_pre[~series]) * h
        out[x == 0] = 0.0
        out[np.isinf(x) & (x > 0)] = 1.0
    return out


def _gammainc_da(a, x):
    """dP(a, x)/da by a central difference (relative step 1e-5; error about 1e-9 relative)."""
    h = 1e-5 * np.maximum(a, 1e-3)
    return (_gammainc_np(a + h, x) - _gammainc_np(a - h, x)) / (2 * h)


def _gamma_density_np(a, x):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return np.exp((a - 1) * np.log(x) - x - _lgamma_np(a).astype(np.float64))


class _GammaincDa(Function):
    """dP(a, x)/da (numeric), for the backward of gammainc; not differentiable itself."""

    @staticmethod
    def forward(ctx, a, x):
        return dlcore.tensor(_gammainc_da(_f64(a), _f64(x)), dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("gammainc: the derivative with respect to a is computed numerically and is not "
                           "differentiable again")


class _Gammainc(Function):
    @staticmethod
    def forward(ctx, a, x):
        ctx.save_for_backward(a, x)
        return dlcore.tensor(_gammainc_np(_f64(a), _f64(x)), dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        gx = ga = None
        if ctx.needs_input_grad[1]:  # the density of Gamma(a, 1) at x; at x = 0 it is 0, 1 or inf as a >, =, < 1
            a_np = _f64(a)
            at_zero = dlcore.tensor(np.where(a_np > 1, -np.inf, np.where(a_np < 1, np.inf, 0.0)), dtype=x.dtype)
            pos = x > 0
            log_term = dlcore.where(pos, (a - 1) * dlcore.log(dlcore.where(pos, x, dlcore.ones_like(x))), at_zero)
            gx = g * dlcore.exp(log_term - x - dlcore.lgamma(a))
        if ctx.needs_input_grad[0]:
            ga = g * _GammaincDa.apply(a, x)
        return ga, gx


def gammainc(a, x):
    """The regularised lower incomplete gamma function P(a, x), differentiable in both (in a to
    first order only)."""
    a, x = broadcast_all(a, x)
    return _Gammainc.apply(a, x)


class _GammaSampleDa(Function):
    """dx/da = -(dP(a, x)/da) / p(x; a) for Gamma(a, 1) variates x (numeric), for the backward of
    standard_gamma_rsample; not differentiable itself."""

    @staticmethod
    def forward(ctx, concentration, x):
        a_np, x_np = _f64(concentration), _f64(x)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            dx_da = -_gammainc_da(a_np, x_np) / _gamma_density_np(a_np, x_np)
        return dlcore.tensor(np.nan_to_num(dx_da, nan=0.0, posinf=0.0, neginf=0.0), dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("standard_gamma_rsample: the derivative of gamma samples with respect to the "
                           "concentration is computed numerically and is not differentiable again (as in torch)")


class _StandardGammaRsample(Function):
    """Gamma(concentration, 1) variates, given their values x, with the implicit
    reparameterisation gradient dx/da = -(dP(a, x)/da) / p(x; a), P the cdf and p the density."""

    @staticmethod
    def forward(ctx, concentration, x):
        ctx.save_for_backward(concentration, x)
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        concentration, x = ctx.saved_tensors
        return g * _GammaSampleDa.apply(concentration, x), None


def standard_gamma_rsample(concentration):
    """Gamma(concentration, 1) variates x differentiable in concentration (to first order, as
    in torch) by implicit reparameterisation."""
    x = standard_gamma(concentration.detach())
    if not (dlcore.is_grad_enabled() and concentration.requires_grad):
        return x
    return _StandardGammaRsample.apply(concentration, x)
