"""Searching, sets and counting against torch: unique/unique_consecutive (inverse, counts, dim),
searchsorted/bucketize (sides, sorter, batched), isin, argwhere, bincount, histc, histogram."""
import functools

import numpy as np
import pytest

import dlcore
import test_torch_ops_products

torch = pytest.importorskip("torch")

# None of these ops is differentiable (torch marks some results as requiring grad anyway).
compare = functools.partial(test_torch_ops_products.compare, grad=False)

NAN = float("nan")


@pytest.fixture
def r():
    return np.random.default_rng(4)


@pytest.mark.parametrize("return_inverse,return_counts", [(False, False), (True, False), (False, True),
                                                          (True, True)])
def test_unique(r, return_inverse, return_counts):
    kw = dict(return_inverse=return_inverse, return_counts=return_counts)
    x = np.array([[3, 1, 2], [1, 3, 0]])
    compare(lambda m, a: m.unique(a, **kw), x)
    compare(lambda m, a: a.unique(sorted=False, **kw), x)
    compare(lambda m, a: m.unique(a, dim=0, **kw), np.array([[1, 2], [0, 5], [1, 2]]))
    compare(lambda m, a: m.unique(a, dim=1, **kw), np.array([[1, 2, 1], [0, 5, 0]]))
    compare(lambda m, a: m.unique(a, **kw), np.array([2.5, NAN, 1.0, NAN, 2.5]))
    compare(lambda m, a: m.unique(a, **kw), np.zeros((0, 3)))
    compare(lambda m, a: m.unique(a, **kw), np.array([True, False, True]))


@pytest.mark.parametrize("return_inverse,return_counts", [(False, False), (True, True)])
def test_unique_consecutive(return_inverse, return_counts):
    kw = dict(return_inverse=return_inverse, return_counts=return_counts)
    compare(lambda m, a: m.unique_consecutive(a, **kw), np.array([1, 1, 2, 2, 3, 1, 1, 2]))
    compare(lambda m, a: a.unique_consecutive(**kw), np.array([[1, 1], [2, 1]]))
    compare(lambda m, a: m.unique_consecutive(a, dim=0, **kw), np.array([[1, 2], [1, 2], [0, 2], [1, 2]]))
    compare(lambda m, a: m.unique_consecutive(a, dim=1, **kw), np.array([[1, 1, 2], [3, 3, 4]]))
    compare(lambda m, a: m.unique_consecutive(a, **kw), np.zeros(0))


def test_searchsorted_and_bucketize(r):
    seq = np.array([1.0, 2.0, 2.0, 4.0, 7.0])
    vals = np.array([[0.5, 2.0, 3.0], [7.0, 8.0, 4.0]])
    for right in (False, True):
        compare(lambda m, s, v: m.searchsorted(s, v, right=right), seq, vals)
        compare(lambda m, v, b: m.bucketize(v, b, right=right), vals, seq)
        compare(lambda m, v, b: m.bucketize(v, b, right=right, out_int32=True), vals, seq)
    compare(lambda m, s, v: m.searchsorted(s, v, side="right"), seq, vals)
    compare(lambda m, s: m.searchsorted(s, 2.0), seq)
    compare(lambda m, s: m.bucketize(3, s), seq)
    batched = np.sort(r.standard_normal((2, 3, 6)), axis=-1)
    compare(lambda m, s, v: m.searchsorted(s, v), batched, r.standard_normal((2, 3, 4)))
    perm = np.argsort(np.array([4.0, 1.0, 3.0, 2.0]))
    compare(lambda m, s, v, p: m.searchsorted(s, v, sorter=p), np.array([4.0, 1.0, 3.0, 2.0]),
            np.array([2.5, 0.0, 5.0]), perm)
    compare(lambda m, s, v: m.searchsorted(s, v), np.array([1, 3, 5]), np.array([0, 3, 6]))
    compare(lambda m, s, v: m.searchsorted(s, v), seq, np.zeros((0,)))


def test_searchsorted_errors():
    s = dlcore.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="side"):
        dlcore.searchsorted(s, s, side="middle")
    with pytest.raises(RuntimeError, match="opposites"):
        dlcore.searchsorted(s, s, right=True, side="left")
    with pytest.raises(RuntimeError, match="boundaries"):
        dlcore.searchsorted(dlcore.zeros(2, 3), dlcore.zeros(3, 3))
    with pytest.raises(RuntimeError, match="sorter"):
        dlcore.searchsorted(s, s, sorter=dlcore.tensor([0]))
    with pytest.raises(RuntimeError, match="bucketize"):
        dlcore.bucketize(s, dlcore.zeros(2, 2))
    with pytest.raises(TypeError, match="searchsorted"):
        dlcore.searchsorted(s, "a")


def test_isin_argwhere(r):
    x = np.array([[1, 2, 3], [4, 5, 6]])
    compare(lambda m, a, b: m.isin(a, b), x, np.array([2, 6, 9]))
    compare(lambda m, a, b: m.isin(a, b, invert=True), x, np.array([[2], [6]]))
    compare(lambda m, a: m.isin(a, 5), x)
    compare(lambda m, b: m.isin(3, b), x)
    compare(lambda m, a: m.argwhere(a), np.array([[0.0, 1.5], [NAN, 0.0]]))
    compare(lambda m, a: a.argwhere(), np.array([True, False, True]))


def test_bincount(r):
    x = np.array([0, 3, 1, 3, 3, 7])
    compare(lambda m, a: m.bincount(a), x)
    compare(lambda m, a: a.bincount(minlength=10), x)
    compare(lambda m, a, w: m.bincount(a, w), x, r.standard_normal(6))
    compare(lambda m, a, w: m.bincount(a, weights=w), x, r.standard_normal(6).astype(np.float32), rtol=1e-6)
    compare(lambda m, a: m.bincount(a), np.zeros(0, dtype=np.int64))
    with pytest.raises(RuntimeError, match="bincount"):
        dlcore.bincount(dlcore.tensor([1, -1]))
    with pytest.raises(RuntimeError, match="bincount"):
        dlcore.bincount(dlcore.tensor([1.0]))
    with pytest.raises(RuntimeError, match="weights"):
        dlcore.bincount(dlcore.tensor([1, 2]), dlcore.zeros(3))


def test_histc(r):
    x = r.standard_normal(200).astype(np.float32)
    compare(lambda m, a: m.histc(a), x)
    compare(lambda m, a: a.histc(bins=7, min=-1, max=1), x)
    compare(lambda m, a: m.histc(a, 4), np.array([1.0, 1.0]))
    compare(lambda m, a: m.histc(a, 3, 0, 3), np.array([0.0, 1.0, 2.0, 3.0, 3.5, -0.1]))
    compare(lambda m, a: m.histc(a, 5, -1, 3), np.array([NAN, 1.0, 2.0]))
    with pytest.raises(RuntimeError, match="not finite"):
        dlcore.histc(dlcore.tensor([NAN, 1.0]))
    with pytest.raises(RuntimeError, match="histc"):
        dlcore.histc(dlcore.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="bins"):
        dlcore.histc(dlcore.zeros(2), 0)


def test_histogram(r):
    x = r.standard_normal(100)
    compare(lambda m, a: m.histogram(a, 5), x)
    compare(lambda m, a: a.histogram(4, range=(-1.0, 1.0), density=True), x)
    compare(lambda m, a, w: m.histogram(a, 3, weight=w), x, r.uniform(size=100))
    compare(lambda m, a, b: m.histogram(a, b), x, np.array([-3.0, -1.0, 0.0, 0.5, 3.0]))
    compare(lambda m, a, b, w: m.histogram(a, b, weight=w, density=True), x, np.array([-1.0, 0.0, 2.0]),
            r.uniform(size=100))
    compare(lambda m, a: m.histogram(a, 2), np.array([1.0, 1.0]))
    compare(lambda m, a: m.histogram(a, 3), x.astype(np.float32), rtol=1e-6)
    with pytest.raises(RuntimeError, match="histogram"):
        dlcore.histogram(dlcore.tensor([1, 2]), 3)
    with pytest.raises(RuntimeError, match="increasing"):
        dlcore.histogram(dlcore.zeros(2), dlcore.tensor([1.0, 0.0]))


def test_non_contiguous_inputs(r):
    x = np.array([[3, 1], [2, 3], [0, 5]])
    compare(lambda m, a: m.unique(a.t(), dim=1, return_inverse=True), x)
    compare(lambda m, a: m.unique_consecutive(a.t(), return_counts=True), x)
    compare(lambda m, a: m.bincount(a.t()[0]), x)
    compare(lambda m, a: m.histc(a.t(), 3), np.arange(6.0).reshape(2, 3))
    compare(lambda m, s, v: m.searchsorted(s.t().contiguous(), v.t()), np.array([[1.0, 2.0], [3.0, 4.0]]),
            np.array([[2.0, 3.5]]))
    compare(lambda m, a, b: m.isin(a.t(), b), x, np.array([3, 5]))


def _dd(m, *args, **kwargs):
    hist, edges = m.histogramdd(*args, **kwargs)
    assert isinstance(edges, tuple)
    return (hist, *edges)


def test_histogramdd(r):
    pts = r.standard_normal((50, 2))
    compare(lambda m, a: _dd(m, a, [3, 4]), pts)
    compare(lambda m, a: _dd(m, a, 3, range=[-1.0, 1.0, -2.0, 0.5], density=True), pts)
    compare(lambda m, a, w: _dd(m, a, [2, 3], weight=w), pts, r.uniform(size=50))
    compare(lambda m, a, e0, e1: _dd(m, a, [e0, e1]), pts, np.array([-2.0, 0.0, 2.0]), np.array([-1.0, 1.0]))
    compare(lambda m, a: _dd(m, a, [4]), r.standard_normal((3, 5, 1)))
    with pytest.raises(RuntimeError, match="histogramdd"):
        dlcore.histogramdd(dlcore.zeros(5, 2), [2])
