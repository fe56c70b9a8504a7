"""dlcore.distributions against torch.distributions: log_prob, entropy, moments, cdf/icdf and
their gradients on the same float64 parameters and values; shapes, expand, validation errors;
sampling statistics with fixed seeds; reparameterised gradients; transforms; KL divergences.

Tolerances: the closed forms are evaluated in float64 by both libraries, so they agree to
rounding (1e-10); lgamma/digamma/erf are native ops and trigamma a series with error < 1e-15;
the Bessel functions and the incomplete gamma function agree to ~1e-10. Sample statistics use n
draws and allow 5 standard errors, so a correct sampler fails with probability < 1e-6 per check.
"""
import math

import numpy as np
import pytest

import dlcore
import dlcore.distributions as D
import dlcore.distributions.utils as U

torch = pytest.importorskip("torch")
TD = torch.distributions
pytestmark = pytest.mark.filterwarnings("ignore:Singular sample detected")  # torch's Wishart sampler

RTOL, ATOL = 1e-9, 1e-10


def close(a, b, rtol=RTOL, atol=ATOL):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


rng = np.random.default_rng(0)
POS = rng.uniform(0.5, 3.0, (2, 3))
POS2 = rng.uniform(0.5, 3.0, (2, 3))
REAL = rng.standard_normal((2, 3))
PROB = rng.uniform(0.1, 0.9, (2, 3))
SIMPLEX = rng.dirichlet(np.ones(4), size=2)
LOGITS = rng.standard_normal((2, 4))

# name, continuous params, other (fixed) kwargs, whether torch's rsample/entropy/cdf exist
CASES = [
    ("Normal", dict(loc=REAL, scale=POS), {}),
    ("Uniform", dict(low=REAL, high=REAL + POS), {}),
    ("Bernoulli", dict(probs=PROB), {}),
    ("Bernoulli", dict(logits=REAL), {}),
    ("Categorical", dict(probs=SIMPLEX), {}),
    ("Categorical", dict(logits=LOGITS), {}),
    ("OneHotCategorical", dict(probs=SIMPLEX), {}),
    ("Binomial", dict(probs=PROB), dict(total_count=7)),
    ("Binomial", dict(logits=REAL), dict(total_count=5)),
    ("Multinomial", dict(probs=SIMPLEX), dict(total_count=6)),
    ("Poisson", dict(rate=POS), {}),
    ("Exponential", dict(rate=POS), {}),
    ("Gamma", dict(concentration=POS, rate=POS2), {}),
    ("Beta", dict(concentration1=POS, concentration0=POS2), {}),
    ("Dirichlet", dict(concentration=POS), {}),
    ("Laplace", dict(loc=REAL, scale=POS), {}),
    ("Cauchy", dict(loc=REAL, scale=POS), {}),
    ("LogNormal", dict(loc=REAL, scale=POS), {}),
    ("HalfNormal", dict(scale=POS), {}),
    ("HalfCauchy", dict(scale=POS), {}),
    ("StudentT", dict(df=POS + 2, loc=REAL, scale=POS2), {}),
    ("Chi2", dict(df=POS), {}),
    ("Geometric", dict(probs=PROB), {}),
    ("Gumbel", dict(loc=REAL, scale=POS), {}),
    ("Weibull", dict(scale=POS, concentration=POS2), {}),
    ("Pareto", dict(scale=POS, alpha=POS2 + 2), {}),
    ("VonMises", dict(loc=REAL, concentration=POS), {}),
    ("ContinuousBernoulli", dict(probs=np.array([0.2, 0.4995, 0.5, 0.7, 0.9])), {}),
    ("RelaxedBernoulli", dict(probs=PROB), dict(temperature=0.7)),
    ("RelaxedOneHotCategorical", dict(probs=SIMPLEX), dict(temperature=0.7)),
    ("MultivariateNormal", dict(loc=REAL, scale_tril=np.tril(rng.standard_normal((2, 3, 3)), -1)
                                + np.diag([1.0, 2.0, 1.5])), {}),
    ("MultivariateNormal", dict(loc=REAL, covariance_matrix=np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2],
                                                                       [0.1, 0.2, 1.5]])), {}),
    ("MultivariateNormal", dict(loc=REAL[0], precision_matrix=np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2],
                                                                         [0.1, 0.2, 1.5]])), {}),
    ("LowRankMultivariateNormal", dict(loc=REAL, cov_factor=rng.standard_normal((2, 3, 2)), cov_diag=POS), {}),
    ("NegativeBinomial", dict(total_count=POS, probs=PROB), {}),
    ("NegativeBinomial", dict(total_count=POS, logits=REAL), {}),
    ("InverseGamma", dict(concentration=POS + 2, rate=POS2), {}),
    ("Kumaraswamy", dict(concentration1=POS + 1, concentration0=POS2 + 1), {}),
    ("LogisticNormal", dict(loc=REAL, scale=POS), {}),
    ("FisherSnedecor", dict(df1=POS + 2, df2=POS2 + 4), {}),
    ("Wishart", dict(df=np.array([4.5, 6.0]), covariance_matrix=np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2],
                                                                         [0.1, 0.2, 1.5]])), {}),
    ("Wishart", dict(df=np.array(5.0), scale_tril=np.tril(rng.standard_normal((2, 3, 3)), -1)
                     + np.diag([1.0, 2.0, 1.5])), {}),
]
IDS = [f"{name}-{'-'.join(p)}" for name, p, _ in CASES]


def build(name, params, kwargs, grad=False):
    dl = {k: dlcore.tensor(v, requires_grad=grad) for k, v in params.items()}
    th = {k: torch.tensor(v, requires_grad=grad) for k, v in params.items()}
    kw_d, kw_t = dict(kwargs), dict(kwargs)
    if "temperature" in kwargs:  # torch needs a tensor temperature
        dtype = next(iter(params.values())).dtype
        kw_d["temperature"] = dlcore.tensor(np.asarray(kwargs["temperature"], dtype))
        kw_t["temperature"] = torch.tensor(np.asarray(kwargs["temperature"], dtype))
    return getattr(D, name)(**dl, **kw_d), getattr(TD, name)(**th, **kw_t), dl, th


# torch's own approximations: lgamma of an integer tensor in float32 (Multinomial.entropy) and
# polynomial Bessel-function fits good to ~1e-7 (VonMises)
LOOSE = {"Multinomial": 1e-6, "VonMises": 1e-6}


def values(td, n=3):
    torch.manual_seed(0)
    return td.sample((n,)).detach()


def _try(fn):
    try:
        return fn()
    except NotImplementedError:
        return NotImplemented


@pytest.mark.parametrize("name,params,kwargs", CASES, ids=IDS)
def test_against_torch(name, params, kwargs):
    d, t, dl, th = build(name, params, kwargs, grad=True)
    assert tuple(d.batch_shape) == tuple(t.batch_shape)
    assert tuple(d.event_shape) == tuple(t.event_shape)
    assert d.has_rsample == t.has_rsample
    x_t = values(t)
    x_d = dlcore.tensor(x_t.numpy())
    outs_d, outs_t = [d.log_prob(x_d)], [t.log_prob(x_t)]
    for attr in ["mean", "mode", "variance", "stddev"]:
        if name == "Kumaraswamy" and attr == "mode":
            continue  # torch's formula gives nan for concentration0 > 1: test_kumaraswamy_mode
        want = _try(lambda: getattr(t, attr))
        if want is NotImplemented:
            continue
        got = getattr(d, attr)
        close(got, want, rtol=LOOSE.get(name, RTOL))
        if want.requires_grad and torch.isfinite(want).all():
            outs_d.append(got)
            outs_t.append(want)
    want = _try(t.entropy)
    if want is not NotImplemented:
        outs_d.append(d.entropy())
        outs_t.append(want)
    if name not in ("VonMises",):
        want = _try(lambda: t.cdf(x_t))
        if want is not NotImplemented:
            if name in ("Gamma", "Chi2", "InverseGamma"):  # torch has no gradient of igamma's first argument
                want = want.detach()
            outs_d.append(d.cdf(x_d))
            outs_t.append(want)
            q = torch.tensor(np.linspace(0.05, 0.95, 3)).reshape(3, *((1,) * len(t.batch_shape)))
            q = q.expand(3, *t.batch_shape)
            want_i = _try(lambda: t.icdf(q))
            if want_i is not NotImplemented:
                outs_d.append(d.icdf(dlcore.tensor(q.numpy())))
                outs_t.append(want_i)
    for got, want in zip(outs_d, outs_t):
        close(got, want, rtol=LOOSE.get(name, RTOL))
    # gradients of a random combination of every output with respect to every parameter
    w = np.random.default_rng(1)
    loss_d = loss_t = 0
    for got, want in zip(outs_d, outs_t):
        if want.requires_grad:
            c = w.standard_normal(tuple(want.shape))
            loss_d = loss_d + (got * dlcore.tensor(c)).sum()
            loss_t = loss_t + (want * torch.tensor(c)).sum()
    if isinstance(loss_t, int):
        return
    loss_d.backward()
    loss_t.backward()
    for k in params:
        if th[k].grad is None:
            assert dl[k].grad is None or not dl[k].grad.numpy().any()
        else:
            close(dl[k].grad, th[k].grad, rtol=max(1e-7, LOOSE.get(name, 0)), atol=1e-8)


@pytest.mark.parametrize("name,params,kwargs", CASES, ids=IDS)
def test_float32(name, params, kwargs):
    """float32 parameters give float32 results matching torch's to float32 accuracy."""
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    d, t, _, _ = build(name, params32, {k: v for k, v in kwargs.items()})
    x_t = values(t)
    got = d.log_prob(dlcore.tensor(x_t.numpy()))
    assert got.dtype == dlcore.float32
    close(got, t.log_prob(x_t), rtol=2e-4, atol=2e-4)
    want = _try(t.entropy)
    if want is not NotImplemented:
        close(d.entropy(), want, rtol=2e-4, atol=2e-4)
    dlcore.manual_seed(0)
    assert d.sample((2,)).dtype == (dlcore.int64 if name == "Categorical" else dlcore.float32)


def test_gamma_cdf_gradient_in_concentration():
    """torch has no such gradient: compare with a central difference of the cdf itself."""
    a = dlcore.tensor([0.4, 2.0, 7.0], dtype=dlcore.float64, requires_grad=True)
    x = dlcore.tensor([0.3, 2.5, 5.0], dtype=dlcore.float64)
    D.Gamma(a, 1.5).cdf(x).sum().backward()
    h = 1e-6
    up = D.Gamma(a.detach() + h, 1.5).cdf(x).numpy()
    down = D.Gamma(a.detach() - h, 1.5).cdf(x).numpy()
    np.testing.assert_allclose(a.grad.numpy(), (up - down) / (2 * h), rtol=1e-5)
    close(D.Gamma(a.detach(), 1.5).cdf(x), TD.Gamma(torch.tensor(a.detach().numpy()), 1.5).cdf(torch.tensor(x.numpy())))


def test_kumaraswamy_mode_maximises_the_density():
    d = D.Kumaraswamy(dlcore.tensor([2.0, 5.0], dtype=dlcore.float64), dlcore.tensor([3.0, 1.5], dtype=dlcore.float64))
    grid = np.linspace(1e-4, 1 - 1e-4, 20001)
    lp = d.log_prob(dlcore.tensor(np.stack([grid, grid], -1))).numpy()
    np.testing.assert_allclose(d.mode.numpy(), grid[lp.argmax(0)], atol=1e-4)
    assert np.isnan(D.Kumaraswamy(0.5, 2.0).mode.item())


@pytest.mark.parametrize("name,params,kwargs", CASES, ids=IDS)
def test_sample_shapes_and_expand(name, params, kwargs):
    d, t, _, _ = build(name, params, kwargs)
    dlcore.manual_seed(0)
    for shape in [(), (5,), (2, 3)]:
        s = d.sample(shape)
        assert tuple(s.shape) == tuple(t.sample(shape).shape)
        assert bool(d.support.check(s).all()) if name != "VonMises" else True
    e = d.expand((4,) + tuple(d.batch_shape))
    assert tuple(e.batch_shape) == (4,) + tuple(d.batch_shape)
    x = dlcore.tensor(values(t).numpy())
    close(e.log_prob(x.unsqueeze(1)), d.log_prob(x).unsqueeze(1).expand(3, 4, *d.batch_shape))
    if d.has_rsample:
        assert tuple(d.rsample((2,)).shape) == (2,) + tuple(d.batch_shape) + tuple(d.event_shape)



def test_expand_keeps_lazy_parameters_and_validation():
    """expand expands only the parameters a distribution holds (a lazy one stays lazy, as in
    torch), keeps its validation setting, and refuses a subclass with its own __init__."""
    loc, scale_tril = dlcore.tensor(REAL[0, :2]), dlcore.tensor(np.tril(POS[:, :2]) + np.eye(2))
    lazy = ("probs", "logits", "covariance_matrix", "scale_tril", "precision_matrix")
    for d in [D.Bernoulli(logits=dlcore.tensor(REAL)), D.Binomial(4, probs=dlcore.tensor(PROB)),
              D.Geometric(probs=dlcore.tensor(PROB), validate_args=False),
              D.NegativeBinomial(3.0, logits=dlcore.tensor(REAL)), D.ContinuousBernoulli(logits=dlcore.tensor(REAL)),
              D.Categorical(probs=dlcore.tensor(SIMPLEX)), D.MultivariateNormal(loc, scale_tril=scale_tril)]:
        e = d.expand((5,) + tuple(d.batch_shape))
        held = [k for k in lazy if k in d.__dict__]
        assert held == [k for k in lazy if k in e.__dict__] and len(held) == 1
        assert tuple(e.__dict__[held[0]].shape) == (5,) + tuple(d.__dict__[held[0]].shape)
        assert e._validate_args == d._validate_args and type(e) is type(d)

    class ShiftedNormal(D.Normal):
        def __init__(self, loc):
            super().__init__(loc + 1.0, 1.0)

    with pytest.raises(NotImplementedError, match="custom .expand"):
        ShiftedNormal(dlcore.tensor(REAL)).expand((4, 2, 3))
    assert tuple(D.HalfNormal(dlcore.tensor(POS)).expand((4, 2, 3)).scale.shape) == (4, 2, 3)


MOMENT_CASES = [
    ("Normal", dict(loc=np.array([0.5, -1.0]), scale=np.array([1.0, 2.0])), {}),
    ("Uniform", dict(low=np.array([0.0, -1.0]), high=np.array([1.0, 3.0])), {}),
    ("Bernoulli", dict(probs=np.array([0.2, 0.7])), {}),
    ("Categorical", dict(probs=np.array([0.1, 0.2, 0.3, 0.4])), {}),
    ("Binomial", dict(probs=np.array([0.2, 0.7])), dict(total_count=9)),
    ("Poisson", dict(rate=np.array([0.5, 4.0, 30.0])), {}),
    ("Exponential", dict(rate=np.array([0.5, 2.0])), {}),
    ("Gamma", dict(concentration=np.array([0.3, 1.0, 5.0]), rate=np.array([1.0, 2.0, 0.5])), {}),
    ("Beta", dict(concentration1=np.array([0.5, 2.0]), concentration0=np.array([1.5, 3.0])), {}),
    ("Dirichlet", dict(concentration=np.array([0.5, 1.0, 3.0])), {}),
    ("Laplace", dict(loc=np.array([0.0, 1.0]), scale=np.array([1.0, 0.5])), {}),
    ("LogNormal", dict(loc=np.array([0.0, 0.5]), scale=np.array([0.3, 0.5])), {}),
    ("HalfNormal", dict(scale=np.array([1.0, 2.0])), {}),
    ("StudentT", dict(df=np.array([5.0, 9.0])), {}),
    ("Geometric", dict(probs=np.array([0.3, 0.8])), {}),
    ("Gumbel", dict(loc=np.array([0.0, 1.0]), scale=np.array([1.0, 2.0])), {}),
    ("Weibull", dict(scale=np.array([1.0, 2.0]), concentration=np.array([1.5, 3.0])), {}),
    ("Pareto", dict(scale=np.array([1.0, 2.0]), alpha=np.array([5.0, 6.0])), {}),
    ("ContinuousBernoulli", dict(probs=np.array([0.2, 0.8])), {}),
    ("Multinomial", dict(probs=np.array([0.2, 0.3, 0.5])), dict(total_count=5)),
    ("MultivariateNormal", dict(loc=np.array([1.0, -1.0]), covariance_matrix=np.array([[2.0, 0.6], [0.6, 1.0]])),
     {}),
    ("LowRankMultivariateNormal", dict(loc=np.zeros(2), cov_factor=np.array([[1.0], [0.5]]),
                                       cov_diag=np.array([0.5, 1.0])), {}),
    ("NegativeBinomial", dict(total_count=np.array([2.0, 5.5]), probs=np.array([0.3, 0.6])), {}),
    ("InverseGamma", dict(concentration=np.array([5.0, 7.0]), rate=np.array([1.0, 2.0])), {}),
    ("Kumaraswamy", dict(concentration1=np.array([2.0, 0.7]), concentration0=np.array([3.0, 1.5])), {}),
    ("FisherSnedecor", dict(df1=np.array([5.0, 8.0]), df2=np.array([12.0, 20.0])), {}),
    ("Wishart", dict(df=np.array(6.0), covariance_matrix=np.array([[1.0, 0.3], [0.3, 2.0]])), {}),
]


@pytest.mark.parametrize("name,params,kwargs", MOMENT_CASES, ids=[c[0] for c in MOMENT_CASES])
def test_sample_moments(name, params, kwargs):
    """The sample mean is within 5 standard errors of the mean (the variance from torch)."""
    d, t, _, _ = build(name, params, kwargs)
    n = 20000
    dlcore.manual_seed(1)
    s = d.sample((n,)).to(dlcore.float64).numpy()
    if name == "Categorical":
        probs = params["probs"]
        mean, var = (np.arange(4) * probs).sum(), (np.arange(4) ** 2 * probs).sum() - (np.arange(4) * probs).sum() ** 2
    else:
        mean, var = t.mean.numpy(), t.variance.numpy()
    assert np.all(np.abs(s.mean(0) - mean) <= 5 * np.sqrt(var / n) + 1e-12), (s.mean(0), mean)
    if name not in ("Categorical",):
        np.testing.assert_allclose(s.var(0), var, rtol=0.15)
    dlcore.manual_seed(1)
    s2 = d.sample((n,)).to(dlcore.float64).numpy()
    np.testing.assert_array_equal(s, s2)  # reproducible under manual_seed


def test_von_mises_sampling():
    d = D.VonMises(dlcore.tensor([0.5, -2.0], dtype=dlcore.float64), dlcore.tensor([2.0, 8.0], dtype=dlcore.float64))
    dlcore.manual_seed(0)
    s = d.sample((20000,)).numpy()
    assert s.min() >= -math.pi and s.max() < math.pi
    circular_mean = np.arctan2(np.sin(s).mean(0), np.cos(s).mean(0))
    np.testing.assert_allclose(circular_mean, [0.5, -2.0], atol=0.03)
    t = TD.VonMises(torch.tensor([0.5, -2.0], dtype=torch.float64), torch.tensor([2.0, 8.0], dtype=torch.float64))
    np.testing.assert_allclose(1 - np.sqrt(np.sin(s).mean(0) ** 2 + np.cos(s).mean(0) ** 2), t.variance.numpy(),
                               atol=0.02)


@pytest.mark.parametrize("name,params", [
    ("Normal", dict(loc=REAL, scale=POS)), ("Laplace", dict(loc=REAL, scale=POS)),
    ("Cauchy", dict(loc=REAL, scale=POS)), ("Exponential", dict(rate=POS)), ("LogNormal", dict(loc=REAL, scale=POS)),
    ("Uniform", dict(low=REAL, high=REAL + POS)), ("Gumbel", dict(loc=REAL, scale=POS)),
    ("MultivariateNormal", dict(loc=REAL, scale_tril=np.diag([1.0, 2.0, 0.5]))),
])
def test_rsample_matches_torch_given_the_same_noise(name, params):
    """rsample is loc/scale-reparameterised: with the noise torch used (recovered through its
    own transform of the standard sample), dlcore's sample and its gradients match torch's."""
    d, t, dl, th = build(name, params, {}, grad=True)
    torch.manual_seed(3)
    st = t.rsample((4,))
    w = np.random.default_rng(2).standard_normal(tuple(st.shape))
    (st * torch.tensor(w)).sum().backward()
    # dlcore with the same standard noise: express torch's sample through the parameters
    if name in ("Normal", "Laplace", "Cauchy", "Gumbel"):
        eps = (st.detach() - th["loc"].detach()) / th["scale"].detach()
        sd = dl["loc"] + dlcore.tensor(eps.numpy()) * dl["scale"]
    elif name == "Exponential":
        sd = dlcore.tensor((st.detach() * th["rate"].detach()).numpy()) / dl["rate"]
    elif name == "LogNormal":
        eps = (st.detach().log() - th["loc"].detach()) / th["scale"].detach()
        sd = dlcore.exp(dl["loc"] + dlcore.tensor(eps.numpy()) * dl["scale"])
    elif name == "Uniform":
        u = (st.detach() - th["low"].detach()) / (th["high"] - th["low"]).detach()
        sd = dl["low"] + dlcore.tensor(u.numpy()) * (dl["high"] - dl["low"])
    else:
        eps = torch.linalg.solve_triangular(th["scale_tril"].detach(), (st.detach() - th["loc"].detach()).unsqueeze(-1),
                                            upper=False).squeeze(-1)
        sd = dl["loc"] + (dl["scale_tril"] @ dlcore.tensor(eps.numpy()).unsqueeze(-1)).squeeze(-1)
    close(sd, st)
    (sd * dlcore.tensor(w)).sum().backward()
    for k in params:
        close(dl[k].grad, th[k].grad, rtol=1e-8, atol=1e-9)
    # and dlcore's own rsample carries the same structural gradient: d(mean of samples)/d(loc) = 1
    if "loc" in params and name != "LogNormal":
        dl["loc"].grad = None
        d.rsample((1000,)).mean(0).sum().backward()
        close(dl["loc"].grad, np.ones_like(params["loc"]), rtol=1e-9)


def test_gamma_rsample_gradient_is_the_implicit_reparameterisation():
    """dx/dalpha of dlcore's Gamma rsample equals torch's _standard_gamma_grad at the same
    (alpha, x), and dx/drate = -x / rate."""
    alpha = np.array([0.3, 1.0, 2.5, 10.0, 80.0])
    rate = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    a = dlcore.tensor(alpha, requires_grad=True)
    b = dlcore.tensor(rate, requires_grad=True)
    dlcore.manual_seed(0)
    x = D.Gamma(a, b).rsample()
    x.sum().backward()
    xs = x.detach().numpy() * rate  # the standard gamma variates
    want = torch._standard_gamma_grad(torch.tensor(alpha), torch.tensor(xs)).numpy() / rate
    # torch's gradient is an approximation (relative error up to ~1e-4 for large alpha); ours is a
    # central difference of the exact cdf
    np.testing.assert_allclose(a.grad.numpy(), want, rtol=2e-4)
    np.testing.assert_allclose(b.grad.numpy(), -x.detach().numpy() / rate, rtol=1e-12)


def test_reparameterised_gradients_are_unbiased():
    """d/dtheta E[x] estimated through rsample matches the derivative of the closed-form mean."""
    dlcore.manual_seed(0)
    n = 20000
    for name, params, d_mean in [
        ("Gamma", dict(concentration=np.array([0.7, 3.0]), rate=np.array([2.0, 0.5])),
         dict(concentration=1 / np.array([2.0, 0.5]), rate=-np.array([0.7, 3.0]) / np.array([2.0, 0.5]) ** 2)),
        ("Beta", dict(concentration1=np.array([2.0]), concentration0=np.array([3.0])),
         dict(concentration1=np.array([3.0 / 25]), concentration0=np.array([-2.0 / 25]))),
        ("StudentT", dict(df=np.array([6.0]), loc=np.array([1.0]), scale=np.array([2.0])),
         dict(df=np.array([0.0]), loc=np.array([1.0]), scale=np.array([0.0]))),
    ]:
        dl = {k: dlcore.tensor(v, requires_grad=True) for k, v in params.items()}
        getattr(D, name)(**dl).rsample((n,)).mean(0).sum().backward()
        for k, want in d_mean.items():
            np.testing.assert_allclose(dl[k].grad.numpy(), want, rtol=0.04, atol=0.02, err_msg=f"{name}.{k}")


def test_dirichlet_rsample_gradient_of_mean():
    dlcore.manual_seed(0)
    conc = dlcore.tensor([1.0, 2.0, 3.0], dtype=dlcore.float64, requires_grad=True)
    s = D.Dirichlet(conc).rsample((20000,))
    (s.mean(0) * dlcore.tensor([1.0, 0.0, 0.0], dtype=dlcore.float64)).sum().backward()
    np.testing.assert_allclose(conc.grad.numpy(), [5 / 36, -1 / 36, -1 / 36], atol=0.01)


# ---- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make,match", [
    (lambda: D.Normal(0.0, -1.0), "scale"),
    (lambda: D.Normal(dlcore.tensor([0.0, 1.0]), dlcore.tensor([1.0, 0.0])), "scale"),
    (lambda: D.Bernoulli(probs=1.5), "probs"),
    (lambda: D.Bernoulli(), "either `probs` or `logits`"),
    (lambda: D.Bernoulli(probs=0.5, logits=0.0), "either `probs` or `logits`"),
    (lambda: D.Categorical(probs=dlcore.tensor([0.5, -0.1, 0.6])), "probs"),
    (lambda: D.Categorical(probs=dlcore.tensor(1.0)), "one-dimensional"),
    (lambda: D.Uniform(1.0, 0.0), "low"),
    (lambda: D.Gamma(dlcore.tensor([1.0]), dlcore.tensor([-1.0])), "rate"),
    (lambda: D.Beta(-1.0, 1.0), "concentration1"),
    (lambda: D.Dirichlet(dlcore.tensor([1.0, 0.0])), "concentration"),
    (lambda: D.MultivariateNormal(dlcore.zeros(2), dlcore.tensor([[1.0, 2.0], [2.0, 1.0]])), "covariance_matrix"),
    (lambda: D.MultivariateNormal(dlcore.zeros(2), dlcore.eye(3)), "does not match"),
    (lambda: D.MultivariateNormal(dlcore.zeros(2)), "exactly one"),
    (lambda: D.Poisson(-1.0), "rate"),
    (lambda: D.Binomial(2.5, probs=0.5), "total_count"),
    (lambda: D.Independent(D.Normal(dlcore.zeros(2), 1.0), 2), "reinterpreted_batch_ndims"),
])
def test_invalid_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_validation_of_values_and_switches():
    d = D.Exponential(dlcore.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="support"):
        d.log_prob(dlcore.tensor([-1.0, 1.0]))
    with pytest.raises(ValueError, match="Tensor"):
        d.log_prob([1.0, 1.0])
    with pytest.raises(ValueError, match="broadcastable"):
        d.log_prob(dlcore.ones(3))
    assert math.isfinite(D.Normal(0.0, -1.0, validate_args=False).loc.item())
    unchecked = D.Exponential(dlcore.tensor([1.0]), validate_args=False)
    assert unchecked.log_prob(dlcore.tensor([-1.0])).item() == 1.0  # log(rate) - rate * value
    D.Distribution.set_default_validate_args(False)
    try:
        D.Normal(0.0, -1.0)
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Normal(0.0, -1.0)


def test_float32_parameters_and_numbers():
    d = D.Normal(0.0, 1.0)
    assert d.loc.dtype == dlcore.float32 and d.sample().dtype == dlcore.float32 and d.batch_shape == ()
    d = D.Normal(dlcore.zeros(3, dtype=dlcore.float64), 2.0)
    assert d.scale.dtype == dlcore.float64 and tuple(d.batch_shape) == (3,)
    close(D.Normal(0.5, 2.0).log_prob(dlcore.tensor([0.0, 1.0])),
          TD.Normal(0.5, 2.0).log_prob(torch.tensor([0.0, 1.0])), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,args,value", [
    ("real", None, [0.0, math.inf, math.nan]), ("positive", None, [0.0, 1.0, -1.0]),
    ("nonnegative", None, [0.0, 1.0, -1.0]), ("unit_interval", None, [0.0, 1.0, 1.5]),
    ("boolean", None, [0.0, 1.0, 0.5]), ("nonnegative_integer", None, [0.0, 2.0, 1.5, -1.0]),
    ("positive_integer", None, [0.0, 2.0]), ("greater_than", (1.0,), [1.0, 2.0]),
    ("greater_than_eq", (1.0,), [1.0, 0.5]), ("less_than", (1.0,), [1.0, 0.5]),
    ("interval", (0.0, 2.0), [0.0, 2.0, 2.5]), ("half_open_interval", (0.0, 2.0), [0.0, 2.0]),
    ("integer_interval", (0, 3), [0.0, 3.0, 1.5, 4.0]), ("simplex", None, [[0.2, 0.8], [0.5, 0.6]]),
    ("one_hot", None, [[0.0, 1.0], [1.0, 1.0]]), ("real_vector", None, [[0.0, 1.0], [math.nan, 1.0]]),
    ("lower_cholesky", None, [[[1.0, 0.0], [2.0, 1.0]], [[1.0, 0.0], [2.0, -1.0]], [[1.0, 1.0], [0.0, 1.0]]]),
    ("lower_triangular", None, [[[1.0, 0.0], [2.0, -1.0]], [[1.0, 1.0], [0.0, 1.0]]]),
    ("corr_cholesky", None, [[[1.0, 0.0], [0.6, 0.8]], [[1.0, 0.0], [0.6, 0.7]]]),
    ("positive_definite", None, [[[2.0, 1.0], [1.0, 2.0]], [[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]]),
    ("positive_semidefinite", None, [[[1.0, 1.0], [1.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]]),
    ("symmetric", None, [[[1.0, 2.0], [2.0, 1.0]], [[1.0, 2.0], [2.1, 1.0]]]),
    ("multinomial", (3,), [[1.0, 2.0], [2.0, 2.0], [-1.0, 1.0]]),
])
def test_constraints_match_torch(name, args, value):
    dc, tc = getattr(D.constraints, name), getattr(TD.constraints, name)
    if args is not None:
        dc, tc = dc(*args), tc(*args)
    v = np.array(value)
    got = dc.check(dlcore.tensor(v)).tolist()
    assert got == tc.check(torch.tensor(v)).tolist()
    assert dc.event_dim == tc.event_dim and dc.is_discrete == tc.is_discrete


# ---- composite distributions --------------------------------------------------------------------
def test_independent():
    loc, scale = rng.standard_normal((2, 3, 4)), rng.uniform(0.5, 2, (2, 3, 4))
    d = D.Independent(D.Normal(dlcore.tensor(loc), dlcore.tensor(scale)), 2)
    t = TD.Independent(TD.Normal(torch.tensor(loc), torch.tensor(scale)), 2)
    assert tuple(d.batch_shape) == (2,) and tuple(d.event_shape) == (3, 4)
    x = t.sample((5,))
    close(d.log_prob(dlcore.tensor(x.numpy())), t.log_prob(x))
    close(d.entropy(), t.entropy())
    close(d.mean, t.mean)
    assert d.has_rsample and tuple(d.rsample((2,)).shape) == (2, 2, 3, 4)
    assert tuple(d.expand((5, 2)).batch_shape) == (5, 2)


def test_mixture_same_family():
    logits = rng.standard_normal((2, 3))
    loc, scale = rng.standard_normal((2, 3)), rng.uniform(0.5, 2, (2, 3))
    d = D.MixtureSameFamily(D.Categorical(logits=dlcore.tensor(logits)),
                            D.Normal(dlcore.tensor(loc), dlcore.tensor(scale)))
    t = TD.MixtureSameFamily(TD.Categorical(logits=torch.tensor(logits)),
                             TD.Normal(torch.tensor(loc), torch.tensor(scale)))
    x = t.sample((4,))
    close(d.log_prob(dlcore.tensor(x.numpy())), t.log_prob(x))
    close(d.cdf(dlcore.tensor(x.numpy())), t.cdf(x))
    close(d.mean, t.mean)
    close(d.variance, t.variance)
    assert tuple(d.sample((5,)).shape) == (5, 2)
    # multivariate components
    loc2 = rng.standard_normal((3, 2))
    d2 = D.MixtureSameFamily(D.Categorical(probs=dlcore.tensor([0.2, 0.3, 0.5])),
                             D.Independent(D.Normal(dlcore.tensor(loc2), dlcore.ones(3, 2, dtype=dlcore.float64)), 1))
    t2 = TD.MixtureSameFamily(TD.Categorical(probs=torch.tensor([0.2, 0.3, 0.5])),
                              TD.Independent(TD.Normal(torch.tensor(loc2), torch.ones(3, 2, dtype=torch.float64)), 1))
    x2 = t2.sample((6,))
    close(d2.log_prob(dlcore.tensor(x2.numpy())), t2.log_prob(x2))
    close(d2.variance, t2.variance)
    dlcore.manual_seed(0)
    s = d2.sample((20000,)).numpy()
    np.testing.assert_allclose(s.mean(0), t2.mean.numpy(), atol=0.05)


# ---- transforms ---------------------------------------------------------------------------------
TRANSFORMS = [
    ("ExpTransform", (), REAL), ("SigmoidTransform", (), REAL), ("TanhTransform", (), REAL),
    ("SoftplusTransform", (), REAL), ("PowerTransform", (2.5,), POS), ("AbsTransform", (), REAL),
    ("AffineTransform", (1.5, -2.0), REAL), ("StickBreakingTransform", (), REAL),
    ("SoftmaxTransform", (), REAL), ("LowerCholeskyTransform", (), rng.standard_normal((2, 3, 3))),
    ("CorrCholeskyTransform", (), rng.standard_normal((2, 6))),
]


@pytest.mark.parametrize("name,args,x", TRANSFORMS, ids=[t[0] for t in TRANSFORMS])
def test_transforms(name, args, x):
    td = getattr(TD.transforms, name)(*[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    dd = getattr(D.transforms, name)(*args)
    xt = torch.tensor(x, requires_grad=True)
    xd = dlcore.tensor(x, requires_grad=True)
    yt, yd = td(xt), dd(xd)
    close(yd, yt)
    if name not in ("AbsTransform", "SoftmaxTransform", "LowerCholeskyTransform"):
        close(dd.inv(yd), xt)
        lt, ld = td.log_abs_det_jacobian(xt, yt), dd.log_abs_det_jacobian(xd, yd)
        close(ld, lt)
        (lt.sum() + yt.sum()).backward()
        (ld.sum() + yd.sum()).backward()
        close(xd.grad, xt.grad, rtol=1e-8, atol=1e-9)
        assert dd.inv.inv is dd
    elif name == "LowerCholeskyTransform":
        close(dd.inv(yd), td.inv(yt))
    assert tuple(dd.forward_shape(x.shape)) == tuple(td.forward_shape(x.shape))


def test_compose_and_cache():
    t = D.ComposeTransform([D.AffineTransform(1.0, 2.0), D.ExpTransform()])
    x = dlcore.tensor([0.1, -0.3], dtype=dlcore.float64)
    y = t(x)
    close(y, np.exp(1 + 2 * x.numpy()))
    close(t.log_abs_det_jacobian(x, y), np.log(2) + (1 + 2 * x.numpy()))
    close(t.inv(y), x)
    assert isinstance(D.identity_transform, D.ComposeTransform) and D.identity_transform(x) is x
    cached = D.ExpTransform(cache_size=1)
    y2 = cached(x)
    assert cached.inv(y2) is x
    with pytest.raises(ValueError, match="cache_size"):
        D.ExpTransform(cache_size=2)


@pytest.mark.parametrize("constraint", [
    D.constraints.real, D.constraints.positive, D.constraints.unit_interval, D.constraints.simplex,
    D.constraints.greater_than(2.0), D.constraints.less_than(-1.0), D.constraints.interval(-2.0, 3.0),
    D.constraints.nonnegative, D.constraints.independent(D.constraints.positive, 1), D.constraints.lower_cholesky,
    D.constraints.positive_definite, D.constraints.corr_cholesky,
])
def test_biject_to_and_transform_to(constraint):
    shape = (2, 3) if constraint is D.constraints.corr_cholesky else (2, 3, 3)
    x = dlcore.tensor(rng.standard_normal(shape))
    for registry in (D.transform_to, D.biject_to):
        try:
            t = registry(constraint)
        except NotImplementedError:
            assert registry is D.biject_to and constraint in (D.constraints.lower_cholesky,
                                                             D.constraints.positive_definite)
            continue
        y = t(x)
        assert bool(constraint.check(y).all())
        if registry is D.biject_to and constraint is not D.constraints.real:
            close(t(t.inv(y)), y, rtol=1e-8, atol=1e-10)


def test_transformed_distribution():
    base = D.Normal(dlcore.tensor(REAL), dlcore.tensor(POS))
    d = D.TransformedDistribution(base, [D.AffineTransform(1.0, 2.0), D.SigmoidTransform()])
    t = TD.TransformedDistribution(TD.Normal(torch.tensor(REAL), torch.tensor(POS)),
                                   [TD.AffineTransform(1.0, 2.0), TD.SigmoidTransform()])
    x = t.sample((3,))
    close(d.log_prob(dlcore.tensor(x.numpy())), t.log_prob(x))
    close(d.cdf(dlcore.tensor(x.numpy())), t.cdf(x))
    q = dlcore.tensor(np.full((2, 3), 0.3))
    close(d.icdf(q), t.icdf(torch.tensor(q.numpy())))
    # a decreasing transform flips the cdf
    d2 = D.TransformedDistribution(D.Normal(0.0, 1.0), D.AffineTransform(0.0, -1.0))
    t2 = TD.TransformedDistribution(TD.Normal(0.0, 1.0), TD.AffineTransform(0.0, -1.0))
    close(d2.cdf(dlcore.tensor([0.3])), t2.cdf(torch.tensor([0.3])), rtol=1e-6)
    # event dimensions: a stick-breaking transform makes 2-vectors into 3-simplex points
    d3 = D.TransformedDistribution(D.Normal(dlcore.zeros(4, 2, dtype=dlcore.float64), 1.0),
                                   D.StickBreakingTransform())
    t3 = TD.TransformedDistribution(TD.Normal(torch.zeros(4, 2, dtype=torch.float64), 1.0),
                                    TD.StickBreakingTransform())
    assert tuple(d3.batch_shape) == tuple(t3.batch_shape) and tuple(d3.event_shape) == tuple(t3.event_shape)
    x3 = t3.sample((2,))
    close(d3.log_prob(dlcore.tensor(x3.numpy())), t3.log_prob(x3))
    assert tuple(d3.rsample((5,)).shape) == (5, 4, 3)


# ---- KL divergence ------------------------------------------------------------------------------
KL_PAIRS = [
    ("Normal", dict(loc=REAL, scale=POS), dict(loc=REAL[::-1].copy(), scale=POS2)),
    ("Bernoulli", dict(probs=PROB), dict(probs=PROB[::-1].copy())),
    ("Categorical", dict(probs=SIMPLEX), dict(logits=LOGITS)),
    ("OneHotCategorical", dict(probs=SIMPLEX), dict(logits=LOGITS)),
    ("Uniform", dict(low=REAL, high=REAL + POS), dict(low=REAL - 1, high=REAL + POS + 1)),
    ("Exponential", dict(rate=POS), dict(rate=POS2)),
    ("Gamma", dict(concentration=POS, rate=POS2), dict(concentration=POS2, rate=POS)),
    ("Beta", dict(concentration1=POS, concentration0=POS2), dict(concentration1=POS2, concentration0=POS)),
    ("Dirichlet", dict(concentration=POS), dict(concentration=POS2)),
    ("Laplace", dict(loc=REAL, scale=POS), dict(loc=-REAL, scale=POS2)),
    ("Poisson", dict(rate=POS), dict(rate=POS2)),
    ("Geometric", dict(probs=PROB), dict(probs=PROB[::-1].copy())),
    ("Gumbel", dict(loc=REAL, scale=POS), dict(loc=-REAL, scale=POS2)),
    ("HalfNormal", dict(scale=POS), dict(scale=POS2)),
    ("LogNormal", dict(loc=REAL, scale=POS), dict(loc=-REAL, scale=POS2)),
    ("MultivariateNormal", dict(loc=REAL, scale_tril=np.tril(rng.standard_normal((2, 3, 3)), -1) + 2 * np.eye(3)),
     dict(loc=-REAL, covariance_matrix=np.diag([1.0, 2.0, 3.0]) + 0.3)),
    ("LowRankMultivariateNormal", dict(loc=REAL, cov_factor=rng.standard_normal((2, 3, 1)), cov_diag=POS),
     dict(loc=-REAL, cov_factor=rng.standard_normal((2, 3, 1)), cov_diag=POS2)),
]


@pytest.mark.parametrize("name,p,q", KL_PAIRS, ids=[k[0] for k in KL_PAIRS])
def test_kl_divergence(name, p, q):
    dp, tp, dlp, thp = build(name, p, {}, grad=True)
    dq, tq, _, _ = build(name, q, {})
    got, want = D.kl_divergence(dp, dq), TD.kl_divergence(tp, tq)
    close(got, want)
    got.sum().backward()
    want.sum().backward()
    for k in p:
        close(dlp[k].grad, thp[k].grad, rtol=1e-7, atol=1e-9)


EXP_FAMILY_PAIRS = [k for k in KL_PAIRS if k[0] in (
    "Normal", "Bernoulli", "Exponential", "Gamma", "Beta", "Dirichlet", "Poisson")]


@pytest.mark.parametrize("name,p,q", EXP_FAMILY_PAIRS, ids=[k[0] for k in EXP_FAMILY_PAIRS])
def test_exponential_family_bregman_kl_and_entropy(name, p, q):
    """The generic exponential-family KL (Bregman divergence of the log-normaliser, through
    autograd) and entropy agree with the closed forms."""
    from dlcore.distributions.kl import _kl_expfamily_expfamily

    dp, tp, _, _ = build(name, p, {})
    dq, _, _, _ = build(name, q, {})
    close(_kl_expfamily_expfamily(dp, dq), D.kl_divergence(dp, dq), rtol=1e-8, atol=1e-9)
    if name not in ("Poisson", "Beta", "Dirichlet"):  # (their carrier measures are not closed-form, as in torch)
        close(D.ExponentialFamily.entropy(dp), dp.entropy(), rtol=1e-8, atol=1e-9)


def test_kl_special_cases():
    d = D.Independent(D.Normal(dlcore.tensor(REAL), dlcore.tensor(POS)), 1)
    e = D.Independent(D.Normal(dlcore.tensor(-REAL), dlcore.tensor(POS2)), 1)
    t = TD.Independent(TD.Normal(torch.tensor(REAL), torch.tensor(POS)), 1)
    u = TD.Independent(TD.Normal(torch.tensor(-REAL), torch.tensor(POS2)), 1)
    close(D.kl_divergence(d, e), TD.kl_divergence(t, u))
    inf = D.kl_divergence(D.Uniform(0.0, 2.0), D.Uniform(0.5, 1.0))
    assert inf.item() == math.inf
    with pytest.raises(NotImplementedError, match="No KL"):
        D.kl_divergence(D.Laplace(0.0, 1.0), D.Cauchy(0.0, 1.0))
    with pytest.raises(NotImplementedError, match="different exponential families"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Exponential(1.0))  # as torch, through the Bregman fallback

    class MyNormal(D.Normal):
        pass

    @D.register_kl(MyNormal, MyNormal)
    def _kl(p, q):
        return dlcore.tensor(42.0)

    assert D.kl_divergence(MyNormal(0.0, 1.0), MyNormal(0.0, 1.0)).item() == 42.0
    close(D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 1.0)), np.float32(0.5), rtol=1e-6)


@pytest.mark.parametrize("dim,conc", [(2, 0.5), (3, 1.0), (4, np.array([0.7, 2.5]))])
def test_lkj_cholesky(dim, conc):
    c_d = dlcore.tensor(conc, dtype=dlcore.float64, requires_grad=True)
    c_t = torch.tensor(conc, dtype=torch.float64, requires_grad=True)
    d, t = D.LKJCholesky(dim, c_d), TD.LKJCholesky(dim, c_t)
    assert tuple(d.batch_shape) == tuple(t.batch_shape) and tuple(d.event_shape) == tuple(t.event_shape)
    torch.manual_seed(0)
    x = t.sample((5,))
    got, want = d.log_prob(dlcore.tensor(x.numpy())), t.log_prob(x)
    close(got, want)
    got.sum().backward()
    want.sum().backward()
    close(c_d.grad, c_t.grad, rtol=1e-8)
    dlcore.manual_seed(0)
    s = d.sample((4000,))
    assert tuple(s.shape) == (4000,) + tuple(t.batch_shape) + (dim, dim)
    assert bool(D.constraints.corr_cholesky.check(s).all())
    # E[C_ij] = 0 off the diagonal, and Var[C_12] = 1 / (2 eta + dim - 1) for C = L L^T
    C = (s @ s.transpose(-2, -1)).numpy()
    eta = np.asarray(conc, np.float64)
    np.testing.assert_allclose(C[..., 1, 0].mean(0), 0.0, atol=5 * np.sqrt(1 / (2 * eta + dim - 1) / 4000).max())
    np.testing.assert_allclose(C[..., 1, 0].var(0), 1 / (2 * eta + dim - 1), rtol=0.15)
    with pytest.raises(ValueError, match="dim"):
        D.LKJCholesky(1)


def test_generalized_pareto():
    """Against torch in float32 (torch's log_prob fails for float64 parameters)."""
    loc, scale, conc = np.array([0.0, 1.0, 0.5]), np.array([1.0, 2.0, 1.0]), np.array([-0.4, 0.0, 0.3])
    d = D.GeneralizedPareto(*(dlcore.tensor(v) for v in (loc, scale, conc)))
    t = TD.GeneralizedPareto(*(torch.tensor(v, dtype=torch.float32) for v in (loc, scale, conc)))
    x = np.array([[0.5, 2.0, 3.0], [1.2, 1.5, 0.7]])
    for got, want in [(d.log_prob(dlcore.tensor(x)), t.log_prob(torch.tensor(x, dtype=torch.float32))),
                      (d.cdf(dlcore.tensor(x)), t.cdf(torch.tensor(x, dtype=torch.float32))),
                      (d.icdf(dlcore.tensor([0.2, 0.5, 0.9])), t.icdf(torch.tensor([0.2, 0.5, 0.9]))),
                      (d.mean, t.mean), (d.variance, t.variance), (d.entropy(), t.entropy())]:
        close(got, want, rtol=1e-5, atol=1e-6)
    assert d.support.check(dlcore.tensor([[2.6, 5.0, 9.0]])).tolist() == [[False, True, True]]
    dlcore.manual_seed(0)
    s = d.sample((20000,)).numpy()
    np.testing.assert_allclose(s.mean(0), t.mean.numpy(), rtol=0.05)


def test_tril_vector_helpers():
    from torch.distributions.utils import tril_matrix_to_vec, vec_to_tril_matrix

    from dlcore.distributions.utils import tril_matrix_to_vec as tm2v, vec_to_tril_matrix as v2tm

    for diag, k in [(0, 6), (-1, 6), (-2, 3)]:
        v = rng.standard_normal((2, k))
        close(v2tm(dlcore.tensor(v), diag), vec_to_tril_matrix(torch.tensor(v), diag))
        m = rng.standard_normal((2, 4, 4))
        close(tm2v(dlcore.tensor(m), diag), tril_matrix_to_vec(torch.tensor(m), diag))
    with pytest.raises(ValueError, match="triangular"):
        v2tm(dlcore.ones(5))


def test_enumerate_support_and_misc():
    b = D.Bernoulli(dlcore.tensor([0.3, 0.6]))
    assert b.enumerate_support().tolist() == [[0.0, 0.0], [1.0, 1.0]]
    c = D.Categorical(dlcore.tensor([[0.2, 0.8, 0.0]]))
    assert c.enumerate_support().tolist() == [[0], [1], [2]]
    assert c.enumerate_support(expand=False).shape == (3, 1)
    close(D.Normal(0.0, 1.0).perplexity(), np.float32(math.exp(0.5 + 0.5 * math.log(2 * math.pi))), rtol=1e-6)
    oh = D.OneHotCategorical(dlcore.tensor([0.2, 0.8]))
    assert oh.enumerate_support().tolist() == [[1.0, 0.0], [0.0, 1.0]]
    st = D.OneHotCategoricalStraightThrough(dlcore.tensor([0.2, 0.8], requires_grad=True))
    assert st.rsample().requires_grad
    assert "Normal(loc: 0.0, scale: 1.0)" == repr(D.Normal(0.0, 1.0))


# ---- second derivatives of the special functions --------------------------------------------------
def _grads(fn, x, lib, v):
    """First and second derivatives of sum(fn(x)), the second along the weights v."""
    t = lib.tensor(x, requires_grad=True)
    (g,) = lib.autograd.grad(fn(t).sum(), t, create_graph=True)
    (gg,) = lib.autograd.grad((g * lib.tensor(v)).sum(), t)
    return g.detach().numpy(), gg.numpy()


@pytest.mark.parametrize("name,fn_d,fn_t,x", [
    ("lgamma", U.lgamma, torch.lgamma, POS),
    ("digamma", U.digamma, torch.digamma, np.concatenate([POS, [[0.05, 12.0, 40.0]]])),
    ("erf", U.erf, torch.erf, REAL),
    ("ndtri", U.ndtri, torch.special.ndtri, PROB),
    ("atan", U.atan, torch.atan, REAL),
    ("expm1", U.expm1, torch.expm1, REAL),
    ("log_bessel_i0", U.log_bessel_i0, lambda k: torch.log(torch.special.i0e(k)) + k, POS * 3),
    ("bessel_ratio_i1_i0", U.bessel_ratio_i1_i0, lambda k: torch.special.i1e(k) / torch.special.i0e(k), POS * 3),
    ("gammainc_x", lambda t: U.gammainc(dlcore.tensor(POS2), t),
     lambda t: torch.special.gammainc(torch.tensor(POS2), t), POS),
])
def test_special_function_second_derivatives(name, fn_d, fn_t, x):
    v = rng.standard_normal(x.shape)
    (g_d, gg_d), (g_t, gg_t) = _grads(fn_d, x, dlcore, v), _grads(fn_t, x, torch, v)
    assert np.abs(gg_t).max() > 1e-3
    close(g_d, g_t)
    close(gg_d, gg_t)


def test_first_order_only_derivatives_raise_when_differentiated_again():
    a = dlcore.tensor(POS, requires_grad=True)
    (g,) = dlcore.autograd.grad(U.gammainc(a, dlcore.tensor(POS2)).sum(), a, create_graph=True)
    with pytest.raises(RuntimeError, match="gammainc: the derivative with respect to a"):
        dlcore.autograd.grad(g.sum(), a)
    dlcore.manual_seed(0)
    (g,) = dlcore.autograd.grad(D.Gamma(a, 1.0).rsample().sum(), a, create_graph=True)
    assert np.all(np.isfinite(g.detach().numpy())) and np.abs(g.detach().numpy()).max() > 0
    with pytest.raises(RuntimeError, match="standard_gamma_rsample: the derivative of gamma samples"):
        dlcore.autograd.grad(g.sum(), a)


def test_distribution_hessians():
    """Second derivatives through digamma (Gamma entropy), the Bessel functions (VonMises: torch
    uses polynomial fits good to ~1e-7, whose second derivatives err by a few 1e-6) and ndtri
    (Normal icdf)."""
    def gamma(lib, dist, x):
        return dist.Gamma(x, lib.tensor(POS2)).entropy()

    def von_mises(lib, dist, x):
        return dist.VonMises(lib.tensor(REAL), x * 3).log_prob(lib.tensor(REAL) + 0.5)

    def normal_icdf(lib, dist, x):
        return dist.Normal(lib.tensor(REAL), lib.tensor(POS2)).icdf(x / 4)

    v = rng.standard_normal(POS.shape)
    for fn, rtol in ((gamma, RTOL), (von_mises, LOOSE["VonMises"] * 10), (normal_icdf, RTOL)):
        (g_d, gg_d) = _grads(lambda x: fn(dlcore, D, x), POS, dlcore, v)
        (g_t, gg_t) = _grads(lambda x: fn(torch, TD, x), POS, torch, v)
        assert np.abs(gg_t).max() > 1e-3
        close(g_d, g_t, rtol=rtol)
        close(gg_d, gg_t, rtol=rtol)


def test_gammainc_gradient_in_x_at_zero():
    """The density of Gamma(a, 1) at 0: infinite for a < 1, 1 for a = 1, 0 for a > 1."""
    x = dlcore.zeros(3, dtype=dlcore.float64, requires_grad=True)
    U.gammainc(dlcore.tensor([0.5, 1.0, 2.0], dtype=dlcore.float64), x).sum().backward()
    assert x.grad.tolist() == [math.inf, 1.0, 0.0]
