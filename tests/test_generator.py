"""dlcore.Generator, the global generator's state, and the random sampling ops: their
distributions (moments and frequencies at sample sizes where a seeded test is reliable),
their errors, and determinism under a Generator."""
import math

import numpy as np
import pytest

import dlcore

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


# ---- Generator -----------------------------------------------------------------------------
def test_generator_api_like_torch():
    g = dlcore.Generator()
    ref = torch.Generator()
    assert g.manual_seed(5) is g and ref.manual_seed(5) is ref
    assert g.initial_seed() == ref.initial_seed() == 5
    assert str(g.device) == str(ref.device) == "cpu"
    assert g.manual_seed(-1).initial_seed() == ref.manual_seed(-1).initial_seed() == 2**64 - 1
    s = g.seed()
    assert isinstance(s, int) and g.initial_seed() == s
    with pytest.raises(TypeError, match="Generator.manual_seed: seed must be an integer"):
        g.manual_seed("1")
    with pytest.raises(TypeError, match="Generator.manual_seed: seed must be an integer, got float"):
        g.manual_seed(1.5)  # torch: "manual_seed expected a long, but got float"
    with pytest.raises(ValueError, match=r"\[-2\*\*63, 2\*\*64\)"):
        g.manual_seed(2**64)


@pytest.mark.parametrize("draw", [
    lambda g: dlcore.rand(3, 4, generator=g),
    lambda g: dlcore.randn(5, generator=g, dtype=dlcore.float64),
    lambda g: dlcore.randint(-3, 9, (7,), generator=g),
    lambda g: dlcore.randperm(10, generator=g),
    lambda g: dlcore.normal(2.0, 3.0, (4,), generator=g),
    lambda g: dlcore.bernoulli(dlcore.full((9,), 0.5), generator=g),
    lambda g: dlcore.multinomial(dlcore.tensor([1.0, 2.0, 3.0, 4.0]), 3, generator=g),
    lambda g: dlcore.multinomial(dlcore.tensor([1.0, 2.0, 3.0]), 6, True, generator=g),
    lambda g: dlcore.poisson(dlcore.full((6,), 4.0), g),
    lambda g: dlcore.binomial(dlcore.full((6,), 10.0), dlcore.full((6,), 0.3), g),
    lambda g: dlcore.randint_like(dlcore.zeros(5), 3, 7, generator=g),
    lambda g: dlcore.rand_like(dlcore.zeros(2, 2), generator=g),
    lambda g: dlcore.zeros(6).uniform_(-1, 1, generator=g),
    lambda g: dlcore.zeros(6).normal_(1, 2, generator=g),
    lambda g: dlcore.zeros(6).exponential_(2.0, generator=g),
    lambda g: dlcore.zeros(6).geometric_(0.3, generator=g),
    lambda g: dlcore.zeros(6).cauchy_(generator=g),
    lambda g: dlcore.zeros(6).log_normal_(generator=g),
    lambda g: dlcore.zeros(6, dtype=dlcore.int64).random_(generator=g),
    lambda g: dlcore.zeros(6).bernoulli_(0.4, generator=g),
])
def test_same_seed_same_numbers_independent_of_global(draw):
    g = dlcore.Generator().manual_seed(123)
    dlcore.manual_seed(0)
    a = [_np(draw(g)) for _ in range(2)]
    assert g.get_state().tolist() == [123, 2]  # one step of the state per draw
    g.manual_seed(123)
    dlcore.rand(10)  # the global generator does not affect g
    dlcore.manual_seed(99)
    b = [_np(draw(g)) for _ in range(2)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    dlcore.manual_seed(7)  # None: the global generator, reproducible through manual_seed
    c = _np(draw(None))
    dlcore.manual_seed(7)
    np.testing.assert_array_equal(_np(draw(None)), c)


def test_generator_state_round_trip_and_pickle():
    import pickle
    g = dlcore.Generator().manual_seed(3)
    dlcore.rand(4, generator=g)
    state = g.get_state()
    assert state.dtype == dlcore.int64 and state.shape == (2,)
    a = _np(dlcore.randn(5, generator=g))
    g.manual_seed(8)
    assert g.set_state(state) is g
    np.testing.assert_array_equal(_np(dlcore.randn(5, generator=g)), a)
    h = pickle.loads(pickle.dumps(g))
    np.testing.assert_array_equal(_np(dlcore.rand(3, generator=h)), _np(dlcore.rand(3, generator=g)))
    with pytest.raises(ValueError, match=r"Generator.set_state.*shape \(2,\).*\(3,\)"):
        g.set_state(dlcore.zeros(3, dtype=dlcore.int64))
    with pytest.raises(TypeError, match="Generator.set_state"):
        g.set_state([1, 2])


def test_global_rng_state_round_trip():
    dlcore.manual_seed(11)
    for _ in range(300):
        dlcore.rand(2)
    state = dlcore.get_rng_state()
    assert state.dtype == dlcore.int64 and state.tolist() == [11, 300]  # one offset per random op
    a = [_np(dlcore.randn(4)), _np(dlcore.randperm(6)), _np(dlcore.nn.functional.dropout(dlcore.ones(8), 0.5))]
    dlcore.manual_seed(0)
    dlcore.set_rng_state(state)
    b = [_np(dlcore.randn(4)), _np(dlcore.randperm(6)), _np(dlcore.nn.functional.dropout(dlcore.ones(8), 0.5))]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert dlcore.initial_seed() == 11
    dg = dlcore.default_generator
    assert dg.manual_seed(4) is dg and dlcore.initial_seed() == 4 and dg.initial_seed() == 4
    assert dlcore.manual_seed(6) is dg and dg.initial_seed() == torch.manual_seed(6).initial_seed() == 6
    assert dlcore.manual_seed(2.7).initial_seed() == torch.manual_seed(2.7).initial_seed() == 2
    s = dlcore.seed()
    assert dlcore.initial_seed() == s


def test_generator_rejects_wrong_type():
    with pytest.raises(TypeError, match="rand: generator must be a dlcore.Generator"):
        dlcore.rand(3, generator=torch.Generator())
    with pytest.raises(TypeError, match="bernoulli: generator"):
        dlcore.bernoulli(dlcore.ones(2), generator=5)


# ---- distributions ---------------------------------------------------------------------------
N = 200_000  # standard errors of the mean: sigma / 450; the bounds below are 6 standard errors


def _moments_ok(x, mean, var):
    x = np.asarray(x, np.float64).ravel()
    se_mean = math.sqrt(var / x.size)
    assert abs(x.mean() - mean) < 6 * se_mean, (x.mean(), mean)
    assert abs(x.var() - var) < 0.03 * var, (x.var(), var)


@pytest.mark.parametrize("use_gen", [False, True])
def test_moments(use_gen):
    g = dlcore.Generator().manual_seed(1) if use_gen else None
    dlcore.manual_seed(1)
    _moments_ok(_np(dlcore.normal(3.0, 2.0, (N,), generator=g)), 3.0, 4.0)
    _moments_ok(_np(dlcore.rand(N, generator=g, dtype=dlcore.float64)), 0.5, 1 / 12)
    _moments_ok(_np(dlcore.empty(N).uniform_(-2, 4, generator=g)), 1.0, 3.0)
    _moments_ok(_np(dlcore.empty(N).normal_(-1, 0.5, generator=g)), -1.0, 0.25)
    _moments_ok(_np(dlcore.empty(N).exponential_(4.0, generator=g)), 0.25, 1 / 16)
    _moments_ok(_np(dlcore.empty(N).geometric_(0.25, generator=g)), 4.0, 0.75 / 0.0625)
    _moments_ok(_np(dlcore.empty(N, dtype=dlcore.float64).log_normal_(0.5, 0.25, generator=g)),
                math.exp(0.5 + 0.25**2 / 2), (math.exp(0.25**2) - 1) * math.exp(1 + 0.25**2))
    _moments_ok(_np(dlcore.poisson(dlcore.full((N,), 3.5), g)), 3.5, 3.5)
    _moments_ok(_np(dlcore.binomial(dlcore.full((N,), 12.0), dlcore.full((N,), 0.3), g)), 3.6, 12 * 0.3 * 0.7)
    _moments_ok(_np(dlcore.bernoulli(dlcore.full((N,), 0.2), generator=g)), 0.2, 0.16)
    _moments_ok(_np(dlcore.empty(N).bernoulli_(0.7, generator=g)), 0.7, 0.21)
    _moments_ok(_np(dlcore.randint(-5, 5, (N,), generator=g)), -0.5, (10**2 - 1) / 12)
    # the Cauchy has no moments: its quartiles are median -+ sigma
    c = _np(dlcore.empty(N, dtype=dlcore.float64).cauchy_(1.0, 2.0, generator=g))
    q1, q3 = np.quantile(c, [0.25, 0.75])
    assert abs(q1 + 1.0) < 0.05 and abs(q3 - 3.0) < 0.05


def test_random_ranges():
    dlcore.manual_seed(2)
    ints = _np(dlcore.empty(10_000, dtype=dlcore.int64).random_(3, 9))
    assert set(np.unique(ints)) == set(range(3, 9))
    assert set(np.unique(_np(dlcore.empty(1000).random_(4)))) == {0.0, 1.0, 2.0, 3.0}
    f = _np(dlcore.empty(10_000).random_())
    assert f.min() >= 0 and f.max() <= 2**24 and np.all(f == np.round(f))
    assert _np(dlcore.randint_like(dlcore.zeros(1000), 2, 4)).tolist().count(3.0) > 400
    r = dlcore.randint(0, 5, (100,), dtype=dlcore.float32)  # integer values in a float dtype
    assert np.all(_np(r) == np.round(_np(r)))


def test_normal_overloads_match_torch_shapes_and_grads():
    m = dlcore.zeros(2, 3, requires_grad=True, dtype=dlcore.float64)
    s = dlcore.ones(3, requires_grad=True, dtype=dlcore.float64)
    out = dlcore.normal(m, s)
    ref = torch.normal(torch.zeros(2, 3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    assert out.shape == tuple(ref.shape) and out.dtype == dlcore.float64
    out.sum().backward()
    np.testing.assert_array_equal(_np(m.grad), np.zeros((2, 3)))  # as torch: sampling has zero gradient
    np.testing.assert_array_equal(_np(s.grad), np.zeros(3))
    assert dlcore.normal(dlcore.zeros(4), 2.0).shape == (4,)
    assert dlcore.normal(1.0, dlcore.ones(2, 2)).shape == (2, 2)
    assert dlcore.normal(0.0, 1.0, size=(3, 1)).shape == (3, 1)
    assert dlcore.normal(0.0, 1.0, (5,), dtype=dlcore.float64).dtype == dlcore.float64
    zero_std = _np(dlcore.normal(dlcore.arange(4, dtype=dlcore.float32), 0.0))
    np.testing.assert_array_equal(zero_std, [0, 1, 2, 3])
    with pytest.raises(RuntimeError, match="normal: expects std >= 0.0"):
        dlcore.normal(dlcore.zeros(2), -1.0)
    with pytest.raises(ValueError, match=r"normal: shapes of mean \[2\], std \[3\] cannot be broadcast"):
        dlcore.normal(dlcore.zeros(2), dlcore.ones(3))
    with pytest.raises(TypeError, match="size is required"):
        dlcore.normal(0.0, 1.0)
    out = dlcore.empty(3)
    assert dlcore.normal(0.0, 1.0, (3,), out=out) is out


def test_bernoulli_forms_and_values():
    p = dlcore.tensor([0.0, 1.0, 0.0, 1.0], dtype=dlcore.float64)
    assert dlcore.bernoulli(p).tolist() == [0.0, 1.0, 0.0, 1.0]
    assert p.bernoulli().dtype == dlcore.float64
    assert dlcore.bernoulli(dlcore.zeros(3), 1.0).tolist() == [1.0, 1.0, 1.0]
    t = dlcore.zeros(4)
    assert t.bernoulli_(dlcore.tensor([1.0, 0.0, 1.0, 0.0])) is t and t.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert dlcore.bernoulli(dlcore.zeros(0, 3)).shape == (0, 3)
    with pytest.raises(RuntimeError, match=r"bernoulli: expected all probabilities p to be in \[0, 1\], got 1.5"):
        dlcore.bernoulli(dlcore.tensor([0.5, 1.5]))


def test_multinomial_generator_path_distribution_and_errors():
    g = dlcore.Generator().manual_seed(0)
    w = np.array([1.0, 0.0, 3.0, 6.0])
    s = _np(dlcore.multinomial(dlcore.tensor(w), 60_000, True, generator=g))
    freq = np.bincount(s, minlength=4) / s.size
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.01)
    rows = _np(dlcore.multinomial(dlcore.tensor([[1.0, 2.0, 3.0, 4.0]] * 20_000), 2, generator=g))
    assert rows.shape == (20_000, 2) and np.all(rows[:, 0] != rows[:, 1])
    np.testing.assert_allclose(np.bincount(rows[:, 0], minlength=4) / 20_000, [0.1, 0.2, 0.3, 0.4], atol=0.015)
    with pytest.raises(ValueError, match="cannot draw 3 samples without replacement"):
        dlcore.multinomial(dlcore.tensor([1.0, 0.0, 1.0]), 3, generator=g)
    with pytest.raises(ValueError, match="sums to zero"):
        dlcore.multinomial(dlcore.zeros(3), 1, generator=g)
    with pytest.raises(ValueError, match="1 or 2 dimensions"):
        dlcore.multinomial(dlcore.ones(2, 2, 2), 1, generator=g)
    assert dlcore.ones(5).multinomial(5, generator=g).sort()[0].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("call, error, message", [
    (lambda: dlcore.zeros(2).exponential_(0.0), RuntimeError, "exponential_: expects lambda > 0.0"),
    (lambda: dlcore.zeros(2).geometric_(1.5), RuntimeError, r"geometric_: expects p to be in \(0, 1\)"),
    (lambda: dlcore.zeros(2).cauchy_(0.0, -1.0), RuntimeError, "cauchy_: expects sigma > 0.0"),
    (lambda: dlcore.zeros(2).log_normal_(1.0, 0.0), RuntimeError, "log_normal_: expects std > 0.0"),
    (lambda: dlcore.zeros(2).uniform_(1.0, 0.0), RuntimeError, r"uniform_: expects to return a \[from, to\) range"),
    (lambda: dlcore.zeros(2).normal_(0.0, -2.0), RuntimeError, "normal_: expects std >= 0.0"),
    (lambda: dlcore.zeros(2, dtype=dlcore.int64).normal_(), RuntimeError, "normal_: expects a floating point"),
    (lambda: dlcore.zeros(2, dtype=dlcore.int64).exponential_(), RuntimeError, "exponential_: expects a floating"),
    (lambda: dlcore.zeros(2).random_(5, 5), RuntimeError, "random_: expects 'from' to be less than 'to'"),
    (lambda: dlcore.poisson(dlcore.tensor([-1.0])), RuntimeError, "poisson: invalid Poisson rate"),
    (lambda: dlcore.binomial(dlcore.tensor([2.5]), dlcore.tensor([0.5])), RuntimeError, "binomial: count"),
    (lambda: dlcore.binomial(dlcore.ones(2), dlcore.ones(3)), ValueError, "binomial: shapes"),
    (lambda: dlcore.zeros(2, requires_grad=True).uniform_(), RuntimeError, "leaf tensor that requires grad"),
])
def test_sampling_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_in_place_fills_keep_dtype_shape_and_work_on_views():
    x = dlcore.zeros(4, 6, dtype=dlcore.float64)
    view = x[:, ::2]
    view.uniform_(5, 6)
    a = _np(x)
    assert np.all((a[:, ::2] >= 5) & (a[:, ::2] < 6)) and np.all(a[:, 1::2] == 0)
    h = dlcore.zeros(3, dtype=dlcore.float16).normal_()
    assert h.dtype == dlcore.float16
    assert dlcore.zeros(0).exponential_().shape == (0,)
    g = dlcore.Generator().manual_seed(5)
    w = dlcore.zeros(3, requires_grad=True)
    with dlcore.no_grad():
        w.normal_(generator=g)
    assert w.requires_grad and np.all(_np(w) != 0)
