"""Sampling ops: the distributions they draw from, reproducibility under manual_seed."""
import numpy as np
import pytest

import dlcore


def _chi2_ok(counts, probs):
    """Pearson's chi-square statistic below the 0.999 quantile for len(probs) - 1 degrees of
    freedom (bounded by the Wilson-Hilferty approximation): fails a wrong distribution with
    overwhelming probability, a right one once in a thousand runs at most (seeded: never)."""
    n = counts.sum()
    expected = n * probs
    stat = ((counts - expected) ** 2 / expected).sum()
    k = len(probs) - 1
    z = 3.09  # the 0.999 normal quantile
    bound = k * (1 - 2 / (9 * k) + z * np.sqrt(2 / (9 * k))) ** 3
    return stat < bound, stat, bound


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64])
def test_multinomial_with_replacement_matches_probabilities(dtype):
    dlcore.manual_seed(0)
    w = np.array([1.0, 0.0, 3.0, 2.0, 4.0])  # unnormalised, one zero weight
    s = dlcore.multinomial(dlcore.tensor(w, dtype=dtype), 20000, replacement=True).numpy()
    assert s.shape == (20000,) and s.dtype == np.int64
    counts = np.bincount(s, minlength=5)
    assert counts[1] == 0
    ok, stat, bound = _chi2_ok(counts[[0, 2, 3, 4]], w[[0, 2, 3, 4]] / w.sum())
    assert ok, (counts, stat, bound)


def test_multinomial_without_replacement_first_draw_and_distinctness():
    dlcore.manual_seed(1)
    w = np.array([[0.1, 0.2, 0.3, 0.4]] * 4000)
    s = dlcore.multinomial(dlcore.tensor(w), 3).numpy()
    assert s.shape == (4000, 3)
    assert all(len(set(r)) == 3 for r in s.tolist())  # no category twice in a row's sample
    ok, stat, bound = _chi2_ok(np.bincount(s[:, 0], minlength=4), w[0])
    assert ok, (stat, bound)
    # second draw given the first is category 3 (weight 0.4): the rest renormalised
    second = s[s[:, 0] == 3, 1]
    ok, stat, bound = _chi2_ok(np.bincount(second, minlength=3)[:3], np.array([0.1, 0.2, 0.3]) / 0.6)
    assert ok, (stat, bound)


def test_multinomial_full_draw_is_a_permutation_and_skips_zeros():
    dlcore.manual_seed(2)
    s = dlcore.multinomial(dlcore.tensor([0.2, 0.0, 0.5, 0.3]), 3).tolist()
    assert sorted(s) == [0, 2, 3]
    with pytest.raises(ValueError, match="which has 3 non-zero weights"):
        dlcore.multinomial(dlcore.tensor([0.2, 0.0, 0.5, 0.3]), 4)


def test_multinomial_reproducible_with_manual_seed_and_method_form():
    p = dlcore.softmax(dlcore.randn(3, 50), dim=-1)
    dlcore.manual_seed(7)
    a = p.multinomial(5, replacement=True).numpy()
    dlcore.manual_seed(7)
    b = dlcore.multinomial(p, 5, replacement=True).numpy()
    assert np.array_equal(a, b) and a.shape == (3, 5)


@pytest.mark.parametrize("seed", [-5, -1, -2**63, 0, 2**64 - 1])
def test_manual_seed_takes_torchs_range_and_maps_negative_seeds_modulo_2_64(seed):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    dlcore.manual_seed(seed)
    assert dlcore.initial_seed() == torch.initial_seed() == seed % 2**64
    a = dlcore.rand(4).numpy()
    dlcore.manual_seed(seed % 2**64)
    assert np.array_equal(dlcore.rand(4).numpy(), a)


@pytest.mark.parametrize("seed, error, message", [
    (2**64, ValueError, r"manual_seed: seed must be in \[-2\*\*63, 2\*\*64\), got 18446744073709551616"),
    (-2**63 - 1, ValueError, r"manual_seed: seed must be in \[-2\*\*63, 2\*\*64\)"),
    (None, TypeError, "manual_seed: seed must be an integer, got NoneType"),
])
def test_manual_seed_out_of_range_is_a_clear_error(seed, error, message):
    with pytest.raises(error, match=message):
        dlcore.manual_seed(seed)


# ---- randint -------------------------------------------------------------------------------
def _low_byte_uniform(v):
    """The low 8 bits of int64 samples are uniform: a float-based mapping of a huge range
    leaves them zero (or nearly constant)."""
    counts = np.bincount((v & 0xFF).astype(np.int64), minlength=256)
    return _chi2_ok(counts, np.full(256, 1 / 256))


@pytest.mark.parametrize("use_gen", [False, True])
def test_randint_negative_range_is_uniform_with_exact_support(use_gen):
    g = dlcore.Generator().manual_seed(3) if use_gen else None
    dlcore.manual_seed(3)
    v = dlcore.randint(-5, 5, (100_000,), generator=g).numpy()
    assert v.dtype == np.int64 and set(np.unique(v).tolist()) == set(range(-5, 5))
    ok, stat, bound = _chi2_ok(np.bincount(v + 5, minlength=10), np.full(10, 0.1))
    assert ok, (stat, bound)
    odd = dlcore.randint(-7, -4, (30_000,), generator=g).numpy()  # a range of 3: no power of two
    assert set(np.unique(odd).tolist()) == {-7, -6, -5}
    ok, stat, bound = _chi2_ok(np.bincount(odd + 7, minlength=3), np.full(3, 1 / 3))
    assert ok, (stat, bound)


@pytest.mark.parametrize("low, high", [(-2**63, 2**63 - 1), (0, 3 * 2**61), (-2**62, 2**32 + 1 - 2**62)])
def test_randint_huge_ranges_keep_every_bit(low, high):
    """Ranges past 2**53 (where a float mapping loses values) and past 2**32 (64-bit words);
    3 * 2**61 rejects a quarter of the words, so the retry sequence is exercised."""
    dlcore.manual_seed(5)
    v = dlcore.randint(low, high, (40_000,)).numpy()
    assert v.min() >= low and v.max() <= high - 1
    ok, stat, bound = _low_byte_uniform(v - low)
    assert ok, (stat, bound)
    thirds = ((v.astype(object) - low) * 3 // (high - low)).astype(np.int64)  # top of the range too
    ok, stat, bound = _chi2_ok(np.bincount(thirds, minlength=3), np.full(3, 1 / 3))
    assert ok, (stat, bound)


def _philox(counter, stream, seed):
    """Philox4x32-10 as in cpp/include/dlcore/philox.h, on Python ints."""
    m = 0xFFFFFFFF
    c = [counter & m, counter >> 32, stream & m, stream >> 32]
    k0, k1 = seed & m, seed >> 32
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & m, (p0 >> 32) ^ c[3] ^ k1, p0 & m]
        k0, k1 = (k0 + 0x9E3779B9) & m, (k1 + 0xBB67AE85) & m
    return c


def _reference_randint(low, high, n, seed, offset):
    """Note [Uniform integers], written out: Lemire's multiply-shift with rejection, and each
    element's retry sequence."""
    rng = high - low
    bits = 64 if rng > 2**32 else 32
    lanes = 2 if bits == 64 else 4

    def words(r):
        return [r[2 * j] << 32 | r[2 * j + 1] for j in range(2)] if bits == 64 else r

    out = []
    for i in range(n):
        cands = [words(_philox(i // lanes, offset, seed))[i % lanes]]
        k = 1
        while True:
            w = cands.pop(0)
            if (w * rng) % 2**bits >= 2**bits % rng:
                out.append(low + (w * rng >> bits))
                break
            if not cands:
                cands = list(words(_philox(k << 56 | i, offset, seed)))
                k += 1
    return out


@pytest.mark.parametrize("low, high", [(-5, 5), (0, 2**31 + 1), (-2**63, 2**63 - 1), (7, 3 * 2**61 + 7)])
def test_randint_follows_the_documented_mapping(low, high):
    """The element mapping CUDA reproduces: bit-exact against a Python rendering of it (the two
    large ranges reject about half and a quarter of the words)."""
    dlcore.manual_seed(2**64 - 3)
    dlcore.rand(1)  # offset 1
    got = dlcore.randint(low, high, (41,)).tolist()
    assert got == _reference_randint(low, high, 41, 2**64 - 3, 1)


def test_randint_extremes_of_int64():
    top, bottom = 2**63 - 1, -2**63
    assert dlcore.randint(top - 1, top, (50,)).tolist() == [top - 1] * 50
    assert dlcore.randint(bottom, bottom + 1, (50,)).tolist() == [bottom] * 50
    assert set(dlcore.randint(top - 3, top, (200,)).tolist()) == {top - 3, top - 2, top - 1}
    assert set(dlcore.randint(bottom, bottom + 2, (200,)).tolist()) == {bottom, bottom + 1}
    assert set(dlcore.randint(2**32, (4000,)).numpy() >> 31) == {0, 1}  # a range of exactly 2**32
    with pytest.raises(ValueError, match=r"randint: high must fit in int64, got 9223372036854775808"):
        dlcore.randint(0, 2**63, (2,))
    with pytest.raises(ValueError, match=r"randint: low must fit in int64"):
        dlcore.randint(-2**63 - 1, 0, (2,))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int32"])
def test_randint_other_dtypes_hold_the_integers_like_torch(dtype):
    torch = pytest.importorskip("torch")
    dlcore.manual_seed(8)
    t = dlcore.randint(-3, 10, (5000,), dtype=getattr(dlcore, dtype))
    ref = torch.randint(-3, 10, (5000,), dtype=getattr(torch, dtype))
    assert t.dtype == getattr(dlcore, dtype) and t.shape == tuple(ref.shape)
    v = t.to(dlcore.float64).numpy()
    assert set(np.unique(v).tolist()) == set(range(-3, 10)) == set(np.unique(ref.double().numpy()).tolist())
    dlcore.manual_seed(8)  # the same integers as the int64 draw
    np.testing.assert_array_equal(v, dlcore.randint(-3, 10, (5000,)).numpy())


def test_randint_bool_and_dtype_bounds_like_torch():
    torch = pytest.importorskip("torch")
    b = dlcore.randint(0, 2, (1000,), dtype=dlcore.bool)
    assert b.dtype == dlcore.bool and 300 < b.numpy().sum() < 700
    cases = [(0, 2**31 + 1, "int32", r"randint: low=0 and high - 1=2147483648 must be in \[-2147483648, 2147483647\] "
                                    r"for dtype int32"),
             (-2**31 - 1, 0, "int32", r"randint: low=-2147483649 .* must be in"),
             (0, 3, "bool", r"randint: low=0 and high - 1=2 must be in \[0, 1\] for dtype bool"),
             (-1, 1, "bool", r"randint: low=-1 .* for dtype bool")]
    for low, high, dtype, match in cases:
        with pytest.raises(RuntimeError, match="out of bounds"):
            torch.randint(low, high, (2,), dtype=getattr(torch, dtype))
        with pytest.raises(RuntimeError, match=match):
            dlcore.randint(low, high, (2,), dtype=getattr(dlcore, dtype))
        with pytest.raises(RuntimeError, match=match):
            dlcore.randint(low, high, (2,), dtype=getattr(dlcore, dtype), generator=dlcore.Generator())
        with pytest.raises(RuntimeError, match=match):  # the C++ op checks as well
            dlcore._C._randint(low, high, [2], getattr(dlcore, dtype), None)
    assert dlcore.randint(-2**31, 2**31, (4,), dtype=dlcore.int32).dtype == dlcore.int32
    with pytest.raises(ValueError, match="randint: expected high > low, got low=4 high=4"):
        dlcore._C._randint(4, 4, [2], None, None)
    with pytest.warns(UserWarning, match=r"randint: \[low, high\) = \[0, 16777218\) is not within \[-2\*\*24, "):
        dlcore.randint(0, 2**24 + 2, (2,), dtype=dlcore.float32)


# ---- 16-bit floats ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, bits", [("float16", 11), ("bfloat16", 8)])
@pytest.mark.parametrize("use_gen", [False, True])
def test_rand_half_is_below_one_and_uniform_over_its_grid(dtype, bits, use_gen):
    """A float32 uniform rounded to a 16-bit float gives 1.0 once in 2**12 (float16) or 2**9
    (bfloat16) draws; these draw as many bits as the significand, as PyTorch does."""
    g = dlcore.Generator().manual_seed(4) if use_gen else None
    dlcore.manual_seed(4)
    t = dlcore.rand(200_000, dtype=getattr(dlcore, dtype), generator=g)
    assert t.dtype == getattr(dlcore, dtype)
    u = t.to(dlcore.float64).numpy()
    assert u.min() >= 0 and u.max() < 1
    k = u * 2**bits
    np.testing.assert_array_equal(k, np.floor(k))
    ok, stat, bound = _chi2_ok(np.bincount(k.astype(np.int64), minlength=2**bits), np.full(2**bits, 2.0**-bits))
    assert ok, (stat, bound)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_randn_half(dtype):
    dlcore.manual_seed(6)
    z = dlcore.randn(100_000, dtype=getattr(dlcore, dtype))
    assert z.dtype == getattr(dlcore, dtype)
    x = z.to(dlcore.float64).numpy()
    assert abs(x.mean()) < 0.02 and abs(x.var() - 1) < 0.03


# ---- the global generator's state ------------------------------------------------------------
def _draws():
    return [dlcore.rand(5).numpy(), dlcore.randn(3, dtype=dlcore.float64).numpy(),
            dlcore.randint(-2**40, 7, (6,)).numpy(), dlcore.randperm(9).numpy(),
            dlcore.nn.functional.dropout(dlcore.ones(16), 0.5).numpy(), dlcore.rand(3, dtype=dlcore.float16).numpy()]


def test_rng_state_round_trip_mid_stream():
    dlcore.manual_seed(21)
    _draws()
    state = dlcore.get_rng_state()
    a = _draws()
    dlcore.manual_seed(0)
    _draws()
    dlcore.set_rng_state(state)
    for x, y in zip(a, _draws()):
        np.testing.assert_array_equal(x, y)
    g = dlcore.default_generator
    assert g.set_state(state) is g
    for x, y in zip(a, _draws()):
        np.testing.assert_array_equal(x, y)


def test_get_rng_state_does_not_draw():
    dlcore.manual_seed(22)
    a = [dlcore.get_rng_state() is not None and d for d in _draws()]
    dlcore.manual_seed(22)
    b = _draws()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    dlcore.manual_seed(22)
    before = dlcore.get_rng_state().tolist()
    assert dlcore.get_rng_state().tolist() == dlcore.default_generator.get_state().tolist() == before == [22, 0]
    dlcore.rand(2)
    assert dlcore.get_rng_state().tolist() == [22, 1]


def test_set_rng_state_is_constant_time_and_matches_stepping():
    dlcore.manual_seed(23)
    for _ in range(40):
        dlcore.rand(0)
    stepped = _draws()
    dlcore.set_rng_state(dlcore.tensor([23, 40], dtype=dlcore.int64))
    for x, y in zip(stepped, _draws()):
        np.testing.assert_array_equal(x, y)
    far = dlcore.tensor([-1, 10**15], dtype=dlcore.int64)  # a probe or replay would take days
    dlcore.set_rng_state(far)
    assert dlcore.initial_seed() == 2**64 - 1 and dlcore.get_rng_state().tolist() == [-1, 10**15]
    a = dlcore.rand(4).numpy()
    dlcore.set_rng_state(far)
    np.testing.assert_array_equal(dlcore.rand(4).numpy(), a)
    with pytest.raises(ValueError, match=r"set_rng_state: invalid state, negative offset -3"):
        dlcore.set_rng_state(dlcore.tensor([1, -3], dtype=dlcore.int64))
    with pytest.raises(ValueError, match=r"set_rng_state: expected an int64 tensor of shape \(2,\)"):
        dlcore.set_rng_state(dlcore.tensor([1.0, 2.0]))
