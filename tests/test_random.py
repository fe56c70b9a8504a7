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
