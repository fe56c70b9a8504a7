"""Indexing ops against torch: take/put, the index_* family and their in-place forms,
masked_select/masked_scatter, scatter_reduce (every reduction, include_self, ties and zeros in
the gradients) and repeat_interleave."""
import numpy as np
import pytest

import dlcore
from test_torch_ops_products import compare

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.filterwarnings("ignore:index_reduce")


@pytest.fixture
def r():
    return np.random.default_rng(2)


def test_take_and_take_along_dim(r):
    x = r.standard_normal((3, 4))
    compare(lambda m, a, i: m.take(a, i), x, np.array([[0, 11], [-1, 5]]))
    compare(lambda m, a, i: a.t().take(i), x, np.array([1, 2, 7]))
    compare(lambda m, a, i: m.take(a, i), x, np.zeros((0,), dtype=np.int64))
    compare(lambda m, a, i: m.take_along_dim(a, i, dim=1), x, np.array([[0, 3], [1, 1], [2, 0]]))
    compare(lambda m, a, i: a.take_along_dim(i, 0), x, np.array([[0, 2, 1, 0]]))
    compare(lambda m, a, i: m.take_along_dim(a, i), x, np.array([0, 5, 11]))
    compare(lambda m, a, i: m.take_along_dim(a, i, dim=-1), x, np.argsort(x, axis=-1))
    with pytest.raises(IndexError, match="take"):
        dlcore.take(dlcore.zeros(3), dlcore.tensor([3]))
    with pytest.raises(RuntimeError, match="take"):
        dlcore.take(dlcore.zeros(3), dlcore.tensor([1.0]))


@pytest.mark.parametrize("accumulate", [False, True])
def test_put(r, accumulate):
    idx = np.array([1, 4, 1]) if accumulate else np.array([1, 4, -1])
    compare(lambda m, x, i, s: m.put(x, i, s, accumulate=accumulate) if m is dlcore else
            x.put(i, s, accumulate=accumulate), r.standard_normal((2, 3)), idx, r.standard_normal(3))
    compare(lambda m, x, i, s: (x * 1).put_(i, s, accumulate), r.standard_normal((2, 3)), idx, r.standard_normal(3))
    with pytest.raises(RuntimeError, match="put"):
        dlcore.zeros(3).put(dlcore.tensor([0, 1]), dlcore.zeros(3))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_add_copy_fill(r, dim):
    x = r.standard_normal((4, 5))
    n = x.shape[dim]
    idx = np.array([0, n - 1, 1])
    src_shape = list(x.shape)
    src_shape[dim] = 3
    src = r.standard_normal(src_shape)
    compare(lambda m, a, i, s: m.index_add(a, dim, i, s), x, idx, src)
    compare(lambda m, a, i, s: a.index_add(dim, i, s, alpha=-2.0), x, np.array([1, 1, 1]), src)
    compare(lambda m, a, i, s: (a * 1).index_add_(dim, i, s), x, idx, src)
    compare(lambda m, a, i, s: m.index_copy(a, dim, i, s), x, idx, src)
    compare(lambda m, a, i, s: (a * 1).index_copy_(dim, i, s), x, idx, src)
    compare(lambda m, a, i: m.index_fill(a, dim, i, -1.5), x, idx)
    compare(lambda m, a, i: (a * 1).index_fill_(dim, i, m.tensor(2.0, dtype=m.float64)), x, idx)
    compare(lambda m, a, i: a.t().index_fill(dim, i, 0), x.T.copy(), idx)


def test_index_ops_int_zero_size_and_0d(r):
    compare(lambda m, a, i, s: m.index_add(a, 0, i, s), np.arange(5), np.array([0, 0, 4]), np.array([1, 2, 3]))
    compare(lambda m, a, i, s: m.index_add(a, 1, i, s), np.zeros((2, 3)), np.zeros(0, dtype=np.int64),
            np.zeros((2, 0)))
    compare(lambda m, a, i, s: m.index_copy(a, 0, i, s), np.array(1.0), np.array([0]), np.array(5.0))


def test_index_errors():
    x = dlcore.zeros(3, 4)
    with pytest.raises(IndexError, match="index_add"):
        x.index_add(0, dlcore.tensor([3]), dlcore.zeros(1, 4))
    with pytest.raises(IndexError, match="index_copy"):
        x.index_copy(0, dlcore.tensor([-1]), dlcore.zeros(1, 4))
    compare(lambda m, a, i: a.index_fill(0, i, 5.0), np.zeros((3, 2)), np.array([-1, 0]))
    with pytest.raises(RuntimeError, match="index_add"):
        x.index_add(0, dlcore.tensor([1]), dlcore.zeros(2, 4))
    with pytest.raises(IndexError, match="vector"):
        x.index_copy(0, dlcore.tensor([[1]]), dlcore.zeros(1, 4))
    with pytest.raises(RuntimeError, match="int64"):
        x.index_fill(0, dlcore.tensor([1.0]), 1)
    with pytest.raises(IndexError, match="dim"):
        x.index_fill(2, dlcore.tensor([1]), 1)
    with pytest.raises(RuntimeError, match="reduce"):
        x.index_reduce(0, dlcore.tensor([1]), dlcore.zeros(1, 4), "sum")


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce(r, reduce, include_self):
    x = r.standard_normal((4, 3))
    src = r.standard_normal((5, 3))
    idx = np.array([0, 2, 0, 3, 2])
    compare(lambda m, a, i, s: m.index_reduce(a, 0, i, s, reduce, include_self=include_self), x, idx, src)
    compare(lambda m, a, i, s: (a * 1).index_reduce_(1, i, s, reduce, include_self=include_self), x,
            np.array([2, 2]), src[:4, :2])


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_float(r, reduce, include_self):
    x = r.standard_normal((3, 5))
    src = r.standard_normal((3, 4))
    idx = np.array([[0, 1, 0, 4], [2, 2, 2, 2], [3, 0, 1, 3]])
    compare(lambda m, a, i, s: m.scatter_reduce(a, 1, i, s, reduce, include_self=include_self), x, idx, src)
    compare(lambda m, a, i, s: a.scatter_reduce(0, i, s, reduce, include_self=include_self), x,
            np.array([[0, 2, 0, 1], [0, 0, 2, 1]]), src[:2])
    compare(lambda m, a, i, s: (a * 1).scatter_reduce_(1, i, s, reduce, include_self=include_self), x,
            idx[:, :2], src[:, :2])
    # src larger than index: only its leading part is used (torch's backward rejects this shape).
    compare(lambda m, a, i, s: m.scatter_reduce(a, 1, i, s, reduce, include_self=include_self), x,
            idx[:, :2], src, grad=False)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_ties_and_zeros_gradients(reduce):
    x = np.array([1.0, 0.0, 2.0, 3.0])
    src = np.array([1.0, 3.0, 0.0, 3.0, 2.0, -1.0, 0.0])
    idx = np.array([0, 3, 1, 3, 2, 2, 2])
    compare(lambda m, a, i, s: m.scatter_reduce(a, 0, i, s, reduce), x, idx, src)
    # Without include_self, input values that merely equal a result take no share of its
    # gradient here (torch's backward still counts them), so this input avoids such ties.
    compare(lambda m, a, i, s: m.scatter_reduce(a, 0, i, s, reduce, include_self=False),
            np.array([7.0, 8.0, 9.0, 6.0]), idx, src)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_integers_and_inf(reduce):
    x = np.array([5, -7, 3, 0])
    src = np.array([1, 2, -9, 4, 8])
    idx = np.array([0, 0, 1, 1, 3])
    for include_self in (True, False):
        compare(lambda m, a, i, s: m.scatter_reduce(a, 0, i, s, reduce, include_self=include_self), x, idx, src)
    xf = np.array([1.0, -np.inf, 2.0])
    compare(lambda m, a, i, s: m.scatter_reduce(a, 0, i, s, reduce), xf, np.array([0, 1]),
            np.array([np.inf, 1.0]), grad=reduce in ("amax", "amin"))


def test_scatter_reduce_errors():
    x = dlcore.zeros(3)
    with pytest.raises(RuntimeError, match="reduce"):
        x.scatter_reduce(0, dlcore.tensor([0]), dlcore.zeros(1), "max")
    with pytest.raises(RuntimeError, match="int64"):
        x.scatter_reduce(0, dlcore.tensor([0], dtype=dlcore.int32), dlcore.zeros(1), "sum")
    with pytest.raises(RuntimeError, match="dtype"):
        x.scatter_reduce(0, dlcore.tensor([0]), dlcore.zeros(1, dtype=dlcore.float64), "sum")
    with pytest.raises(IndexError, match="scatter_reduce"):
        x.scatter_reduce(0, dlcore.tensor([3]), dlcore.zeros(1), "amax")
    with pytest.raises(RuntimeError, match="no larger"):
        x.scatter_reduce(0, dlcore.tensor([0, 1]), dlcore.zeros(1), "sum")


def test_masked_select_and_scatter(r):
    x = r.standard_normal((3, 4))
    mask = r.uniform(size=(3, 4)) > 0.5
    compare(lambda m, a, k: m.masked_select(a, k), x, mask)
    compare(lambda m, a, k: a.masked_select(k), x, mask[:1])
    compare(lambda m, a, k: m.masked_select(a, k), x[0], mask)
    compare(lambda m, a, k, s: m.masked_scatter(a, k, s), x, mask, r.standard_normal(12))
    compare(lambda m, a, k, s: a.masked_scatter(k, s), x, mask[0], r.standard_normal((4, 4)))
    compare(lambda m, a, k, s: (a * 1).masked_scatter_(k, s), x, mask, r.standard_normal((3, 4)))
    with pytest.raises(RuntimeError, match="masked_scatter"):
        dlcore.zeros(3).masked_scatter(dlcore.tensor([True, True, False]), dlcore.zeros(1))
    with pytest.raises(RuntimeError, match="bool"):
        dlcore.zeros(3).masked_select(dlcore.tensor([1, 0, 1]))


def test_repeat_interleave(r):
    x = r.standard_normal((2, 3))
    compare(lambda m, a: m.repeat_interleave(a, 2), x)
    compare(lambda m, a: a.repeat_interleave(3, dim=1), x)
    compare(lambda m, a, k: a.repeat_interleave(k, dim=0), x, np.array([0, 3]))
    compare(lambda m, a, k: m.repeat_interleave(a, k, dim=-1, output_size=5), x, np.array([2, 0, 3]))
    compare(lambda m, a, k: m.repeat_interleave(a, k, dim=1), x, np.array(2))
    compare(lambda m, k: m.repeat_interleave(k), np.array([1, 0, 3]))
    compare(lambda m, a: m.repeat_interleave(a, 2), np.array(3.0))
    compare(lambda m, a: a.repeat_interleave(2), np.arange(3))
    with pytest.raises(RuntimeError, match="negative"):
        dlcore.zeros(2).repeat_interleave(-1)
    with pytest.raises(RuntimeError, match="repeat_interleave"):
        dlcore.zeros(2, 3).repeat_interleave(dlcore.tensor([1, 2]), dim=1)
    with pytest.raises(RuntimeError, match="output_size"):
        dlcore.zeros(2).repeat_interleave(2, output_size=3)
