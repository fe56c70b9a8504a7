"""Shape ops against torch: diagonals, broadcasting, stacking/splitting, dim moves, rotations,
unfold, the *_scatter ops and the index helpers (values, views, gradients, errors)."""
import numpy as np
import pytest

import dlcore
from test_torch_ops_products import compare

torch = pytest.importorskip("torch")


@pytest.fixture
def r():
    return np.random.default_rng(1)


# ---- diagonals --------------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [0, 1, -2, 5])
def test_diag_family(r, offset):
    compare(lambda m, x: m.diag(x, offset), r.standard_normal(4))
    compare(lambda m, x: m.diag(x, offset), r.standard_normal((3, 5)))
    compare(lambda m, x: x.t().diag(offset), r.standard_normal((3, 5)))
    compare(lambda m, x: m.diagflat(x, offset), r.standard_normal((2, 2)))
    compare(lambda m, x: m.diag_embed(x, offset), r.standard_normal((2, 3)))
    compare(lambda m, x: m.diag_embed(x, offset, 0, 2), r.standard_normal((2, 3)))
    compare(lambda m, x: x.diag_embed(offset, -1, 1), r.standard_normal((2, 3)))
    compare(lambda m, x: m.diagonal(x, offset), r.standard_normal((4, 5)))
    compare(lambda m, x: m.diagonal(x, offset, 2, 0), r.standard_normal((4, 2, 5)))
    compare(lambda m, x: x.diagonal(offset, -1, -2) * 1, r.standard_normal((2, 4, 5)))


def test_diagonal_is_a_view_without_grad():
    x = dlcore.zeros(3, 4)
    x.diagonal().fill_(1)
    x.diagonal(1)[0] = 5
    want = torch.zeros(3, 4)
    want.diagonal().fill_(1)
    want.diagonal(1)[0] = 5
    np.testing.assert_array_equal(x.numpy(), want.numpy())
    y = dlcore.arange(24.).reshape(2, 3, 4).transpose(0, 2)
    np.testing.assert_array_equal(y.diagonal(0, 0, 2).numpy(),
                                  torch.arange(24.).reshape(2, 3, 4).transpose(0, 2).diagonal(0, 0, 2).numpy())


def test_diagonal_scatter(r):
    compare(lambda m, x, s: m.diagonal_scatter(x, s), r.standard_normal((3, 4)), r.standard_normal(3))
    compare(lambda m, x, s: m.diagonal_scatter(x, s, 1, 1, 0), r.standard_normal((4, 3, 2)),
            r.standard_normal((2, 3)))
    compare(lambda m, x, s: x.diagonal_scatter(s, -1), r.standard_normal((3, 4)), r.standard_normal(2))
    with pytest.raises(RuntimeError, match="diagonal_scatter"):
        dlcore.diagonal_scatter(dlcore.zeros(3, 4), dlcore.zeros(4))


def test_diag_errors():
    with pytest.raises(RuntimeError, match="diag"):
        dlcore.diag(dlcore.zeros(2, 2, 2))
    with pytest.raises(RuntimeError, match="identical"):
        dlcore.diagonal(dlcore.zeros(2, 2), 0, 1, -1)
    with pytest.raises(IndexError, match="diagonal"):
        dlcore.diagonal(dlcore.zeros(2, 2), 0, 0, 2)
    with pytest.raises(RuntimeError, match="at least 2"):
        dlcore.diagonal(dlcore.zeros(2))


@pytest.mark.parametrize("row,col,offset", [(3, 3, 0), (4, 3, 1), (3, 5, -1), (0, 3, 0), (3, 4, 10), (3, 4, -10)])
def test_tri_indices(row, col, offset):
    for fn in ("tril_indices", "triu_indices"):
        got = getattr(dlcore, fn)(row, col, offset)
        want = getattr(torch, fn)(row, col, offset)
        assert got.dtype == dlcore.int64
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert dlcore.triu_indices(3, 3, dtype=dlcore.int32).dtype == dlcore.int32


def test_block_diag_cartesian_combinations_meshgrid(r):
    compare(lambda m, a, b, c: m.block_diag(a, b, c), r.standard_normal((2, 3)), r.standard_normal(2),
            np.array(4.0))
    compare(lambda m, a, b: m.block_diag(a, b), np.arange(4).reshape(2, 2), np.zeros((0, 2)))
    compare(lambda m, a, b: m.cartesian_prod(a, b), r.standard_normal(3), r.standard_normal(2))
    compare(lambda m, a: m.cartesian_prod(a), r.standard_normal(3))
    compare(lambda m, a: m.combinations(a), r.standard_normal(4))
    compare(lambda m, a: m.combinations(a, 3, with_replacement=True), r.standard_normal(3))
    compare(lambda m, a: m.combinations(a, 5), r.standard_normal(3))
    for indexing in ("ij", "xy"):
        compare(lambda m, a, b, c: m.meshgrid(a, b, c, indexing=indexing), r.standard_normal(3),
                r.standard_normal(2), r.standard_normal(4))
        compare(lambda m, a, b: m.meshgrid([a, b], indexing=indexing), r.standard_normal(3), np.array(1.5))
    with pytest.raises(ValueError, match="indexing"):
        dlcore.meshgrid(dlcore.zeros(2), indexing="yx")


# ---- broadcasting and stacking ---------------------------------------------------------------
def test_broadcasting(r):
    compare(lambda m, a, b: m.broadcast_tensors(a, b), r.standard_normal((3, 1)), r.standard_normal(4))
    compare(lambda m, a: m.broadcast_to(a, (2, 3, 4)), r.standard_normal((3, 1)))
    compare(lambda m, a: a.broadcast_to((2, -1, 4)), r.standard_normal((3, 1)))
    assert dlcore.broadcast_shapes((3, 1), (4,), (2, 1, 1)) == tuple(torch.broadcast_shapes((3, 1), (4,), (2, 1, 1)))
    assert dlcore.broadcast_shapes((0, 1), (3,)) == (0, 3)
    with pytest.raises(RuntimeError, match="broadcast"):
        dlcore.broadcast_to(dlcore.zeros(3, 2), (3, 4))
    with pytest.raises(RuntimeError, match="broadcast"):
        dlcore.broadcast_tensors(dlcore.zeros(3), dlcore.zeros(4))


def test_atleast_and_stacks(r):
    arrays = [np.array(1.5), r.standard_normal(3), r.standard_normal((2, 3)), r.standard_normal((1, 2, 3))]
    for fn in ("atleast_1d", "atleast_2d", "atleast_3d"):
        compare(lambda m, *xs: getattr(m, fn)(*xs), *arrays)
        compare(lambda m, x: getattr(m, fn)(x), arrays[1])
    compare(lambda m, a, b: m.hstack([a, b]), r.standard_normal(3), r.standard_normal(2))
    compare(lambda m, a, b: m.hstack((a, b)), r.standard_normal((2, 3)), r.standard_normal((2, 1)))
    compare(lambda m, a, b: m.vstack([a, b]), r.standard_normal(3), r.standard_normal((2, 3)))
    compare(lambda m, a, b: m.row_stack([a, b]), r.standard_normal(3), r.standard_normal(3))
    compare(lambda m, a, b: m.dstack([a, b]), r.standard_normal((2, 3)), r.standard_normal((2, 3, 2)))
    compare(lambda m, a, b, c: m.column_stack([a, b, c]), r.standard_normal(3), r.standard_normal((3, 2)),
            r.standard_normal((3, 1)))
    with pytest.raises(RuntimeError, match="non-empty"):
        dlcore.hstack([])
    with pytest.raises(TypeError, match="vstack"):
        dlcore.vstack(dlcore.zeros(2))


# ---- splitting --------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [3, 4, 7, [1, 4], [-2], [3, 1, 9], (0, 0)])
def test_tensor_split(r, spec):
    compare(lambda m, x: m.tensor_split(x, spec, dim=1), r.standard_normal((2, 7)))
    compare(lambda m, x: x.tensor_split(spec, -1), r.standard_normal((3, 7)).T)


def test_tensor_split_with_tensor_and_hvd_split(r):
    compare(lambda m, x: m.tensor_split(x, m.tensor([1, 3])), r.standard_normal(5))
    compare(lambda m, x: m.tensor_split(x, m.tensor(2)), r.standard_normal(5))
    x = r.standard_normal((4, 6, 2))
    compare(lambda m, a: m.hsplit(a, 3), x)
    compare(lambda m, a: m.hsplit(a, [1, 4]), x)
    compare(lambda m, a: m.hsplit(a, 2), r.standard_normal(6))
    compare(lambda m, a: a.vsplit(2), x)
    compare(lambda m, a: m.dsplit(a, [1]), x)
    with pytest.raises(RuntimeError, match="hsplit"):
        dlcore.hsplit(dlcore.zeros(4, 5), 2)
    with pytest.raises(RuntimeError, match="dsplit"):
        dlcore.dsplit(dlcore.zeros(4, 4), 2)
    with pytest.raises(RuntimeError, match="sections"):
        dlcore.tensor_split(dlcore.zeros(4), 0)


def test_unbind_unflatten_ravel(r):
    compare(lambda m, x: m.unbind(x, 1), r.standard_normal((2, 3)))
    compare(lambda m, x: x.unbind(-1), r.standard_normal((2, 0)))
    compare(lambda m, x: m.unflatten(x, 1, (2, -1)), r.standard_normal((3, 6)))
    compare(lambda m, x: x.unflatten(-1, (3, 2, 1)), r.standard_normal((3, 6)))
    compare(lambda m, x: m.ravel(x.t()), r.standard_normal((3, 4)))
    with pytest.raises(RuntimeError, match="unflatten"):
        dlcore.unflatten(dlcore.zeros(3, 6), 1, (4, -1))
    with pytest.raises(RuntimeError, match="unflatten"):
        dlcore.unflatten(dlcore.zeros(3, 6), 1, (-1, -1))


# ---- moving dims, rotations ---------------------------------------------------------------------
def test_movedim_swap_t(r):
    x = r.standard_normal((2, 3, 4, 5))
    compare(lambda m, a: m.movedim(a, 1, -1), x)
    compare(lambda m, a: m.movedim(a, (0, 3), (2, 0)), x)
    compare(lambda m, a: a.moveaxis([-1, 0], [0, -1]), x)
    compare(lambda m, a: m.swapaxes(a, 0, 2), x)
    compare(lambda m, a: a.swapdims(-1, 1), x)
    compare(lambda m, a: m.t(a), r.standard_normal((2, 3)))
    compare(lambda m, a: m.t(a), r.standard_normal(3))
    with pytest.raises(RuntimeError, match="repeated"):
        dlcore.movedim(dlcore.zeros(2, 3), (0, 0), (0, 1))
    with pytest.raises(RuntimeError, match="movedim"):
        dlcore.movedim(dlcore.zeros(2, 3), (0, 1), (0,))
    with pytest.raises(RuntimeError, match="t()"):
        dlcore.t(dlcore.zeros(2, 3, 4))


@pytest.mark.parametrize("k", [-1, 0, 1, 2, 3, 6])
def test_rot90_flips(r, k):
    x = r.standard_normal((2, 3, 4))
    compare(lambda m, a: m.rot90(a, k), x)
    compare(lambda m, a: a.rot90(k, [2, 0]), x)
    compare(lambda m, a: m.fliplr(a), x)
    compare(lambda m, a: m.flipud(a), x)
    compare(lambda m, a: m.narrow_copy(a, 1, 1, 2), x)


# ---- scatter into slices ----------------------------------------------------------------------
def test_select_and_slice_scatter(r):
    compare(lambda m, x, s: m.select_scatter(x, s, 1, -1), r.standard_normal((2, 3, 4)), r.standard_normal((2, 4)))
    compare(lambda m, x, s: x.select_scatter(s, 0, 0), r.standard_normal((2, 3)), r.standard_normal(3))
    compare(lambda m, x, s: m.slice_scatter(x, s, 1, 1, None, 2), r.standard_normal((2, 6)),
            r.standard_normal((2, 3)))
    compare(lambda m, x, s: x.slice_scatter(s), r.standard_normal((4, 2)), r.standard_normal((4, 2)))
    compare(lambda m, x, s: m.slice_scatter(x, s, -1, -3, -1), r.standard_normal((2, 6)), r.standard_normal((2, 2)))
    with pytest.raises(RuntimeError, match="slice_scatter"):
        dlcore.slice_scatter(dlcore.zeros(2, 6), dlcore.zeros(2, 2), 1, 0, 6, 2)
    with pytest.raises(IndexError, match="select_scatter"):
        dlcore.select_scatter(dlcore.zeros(2, 6), dlcore.zeros(6), 0, 2)


# ---- unfold -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dim,size,step", [(0, 2, 1), (1, 3, 2), (-1, 4, 4), (1, 1, 3), (1, 5, 1), (0, 0, 1)])
def test_unfold(r, dim, size, step):
    x = r.standard_normal((4, 5))
    compare(lambda m, a: a.unfold(dim, size, step), x)
    compare(lambda m, a: a.detach().t().unfold(dim, size, step) if size <= 4 else a.detach().unfold(dim, size, step),
            x)


def test_unfold_view_and_errors():
    x = dlcore.zeros(6)
    x.unfold(0, 2, 2)[1].fill_(1)
    np.testing.assert_array_equal(x.numpy(), [0, 0, 1, 1, 0, 0])
    with pytest.raises(RuntimeError, match="unfold"):
        dlcore.zeros(3).unfold(0, 4, 1)
    with pytest.raises(RuntimeError, match="step"):
        dlcore.zeros(3).unfold(0, 2, 0)
