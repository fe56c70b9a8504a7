"""Tensor.__getitem__ / __setitem__ against PyTorch (and numpy where the two agree), gradients
through indexing, and the indexing/shape/sort behaviours the op table does not reach."""

import numpy as np
import pytest
import torch

import dlcore

# ---- index forms ---------------------------------------------------------------------------------
# Each case is an index written with numpy arrays for tensor items; `np_ok` says whether numpy
# gives the same result (it differs from PyTorch when an int sits among advanced indices).
A = np.array
CASES = [
    (0, True), (-1, True), (4, True), ((1, 2), True), ((-1, -2, -3), True),
    (slice(None), True), (slice(1, 4), True), (slice(None, None, 2), True), (slice(-3, None), True),
    (slice(1, 100), True), (slice(5, 2), True), (slice(-100, 2), True),
    ((slice(None), 1), True), ((slice(None), slice(None), -1), True), ((slice(1, 5, 3), slice(None, None, 4), 0), True),
    ((Ellipsis, 2), True), ((0, Ellipsis), True), (Ellipsis, True), ((Ellipsis, None), True), (None, True),
    ((None, 0, None), True), ((slice(1, 3), None, Ellipsis, None), True), ((None, Ellipsis, 0), True),
    (A([0, 2]), True), (A([[0, 1], [2, 3]]), True), (A([-1, 0, -5]), True), (A([3, 3, 1]), True),
    ((slice(None), A([0, 2])), True), ((Ellipsis, A([6, 0])), True),
    ((A([0, 2]), slice(None), A([1, 3])), True),            # non-adjacent: result dims in front
    ((A([0, 2]), A([1, 3])), True),                         # adjacent at the front
    ((slice(None), A([0, 2]), A([1, 3])), True),            # adjacent in the middle
    ((A([[0], [2]]), A([1, 3, 5])), True),                  # broadcast index tensors
    ((slice(1, 4), A([[0], [2]]), A([1, 3, 5])), True),
    ((A([1, 0]), None, A([2, 2])), True),
    ((None, A([1, 0]), slice(None), A([2, 2])), True),
    ((A([True, False, True, False, True]),), True),
    ((slice(None), A([False, True, True, False, False, True])), True),
    ((A([True, False, True, True, False]), slice(2, 5), A([0, 6, 3])), True),
    ((0, slice(None), A([1, 2])), False),                   # torch: int is basic (select first)
    ((A([1, 2]), 0, A([0, 1])), False),
    ((slice(None), 2, A([[1], [0]])), True),
    (A(2), True), ((A(1), slice(None), A(3)), False),
    (True, True), (False, True), ((True, 0), True), ((Ellipsis, False), True),
    (A([], dtype=np.int64), True),
    ((A([], dtype=np.int64), slice(None)), True),
]
SHAPE = (5, 6, 7)


def ids(cases):
    return [repr(c)[:60] for c, _ in cases]


def to_torch_index(idx):
    if isinstance(idx, tuple):
        return tuple(to_torch_index(i) for i in idx)
    if isinstance(idx, np.ndarray):
        return torch.from_numpy(idx.copy())
    return idx


def to_dl_index(idx, form="tensor"):
    """Index items as dlcore tensors, Python lists or numpy arrays."""
    if isinstance(idx, tuple):
        return tuple(to_dl_index(i, form) for i in idx)
    if isinstance(idx, np.ndarray):
        if form == "tensor" or idx.ndim == 0:
            return dlcore.tensor(idx)
        return idx.tolist() if form == "list" and idx.size else idx
    return idx


def dl(a):
    return dlcore.tensor(np.array(a))


def np_of(t):
    return t.detach().numpy()


@pytest.fixture
def data():
    return np.random.default_rng(1).standard_normal(SHAPE)


@pytest.mark.parametrize("idx,np_ok", CASES, ids=ids(CASES))
@pytest.mark.parametrize("form", ["tensor", "list", "numpy"])
def test_getitem_matches_torch_and_numpy(data, idx, np_ok, form):
    want = torch.from_numpy(data)[to_torch_index(idx)].numpy()
    got = dl(data)[to_dl_index(idx, form)]
    assert isinstance(got, dlcore.Tensor)
    assert tuple(got.shape) == want.shape
    np.testing.assert_array_equal(np_of(got), want)
    if np_ok:
        np.testing.assert_array_equal(np_of(got), data[idx])


@pytest.mark.parametrize("idx,np_ok", CASES, ids=ids(CASES))
def test_getitem_gradient_matches_torch(data, idx, np_ok):
    x_t = torch.from_numpy(data).requires_grad_(True)
    y_t = x_t[to_torch_index(idx)]
    w = np.random.default_rng(2).standard_normal(tuple(y_t.shape))
    (y_t * torch.from_numpy(w)).sum().backward()
    x = dl(data).requires_grad_(True)
    y = x[to_dl_index(idx)]
    (y * dl(w)).sum().backward()
    np.testing.assert_allclose(np_of(x.grad), x_t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_getitem_on_noncontiguous_input(data):
    base = dl(data).permute(2, 0, 1)
    ref = torch.from_numpy(data).permute(2, 0, 1)
    for idx in [(1, slice(None), A([0, 3])), (A([6, 0]), slice(1, 4)), (slice(None), A([[4], [1]]), 2)]:
        np.testing.assert_array_equal(np_of(base[to_dl_index(idx)]), ref[to_torch_index(idx)].numpy())


def test_basic_indexing_returns_views(data):
    x = dl(data)
    row = x[1]
    col = x[:, 2]
    sl = x[1:4:2, None, ..., 3]
    assert row._is_view() and col._is_view() and sl._is_view()
    assert row.untyped_storage_ptr() == x.untyped_storage_ptr()
    row[0, 0] = 100.0
    col[0, 1] = -7.0
    assert x[1, 0, 0].item() == 100.0 and x[0, 2, 1].item() == -7.0
    assert tuple(sl.shape) == (2, 1, 6)
    sl.fill_(3.0)
    assert np.all(np_of(x)[1:4:2, :, 3] == 3.0)
    # advanced indexing copies
    adv = x[[0, 1]]
    adv.fill_(0.0)
    assert x[0, 0, 2].item() != 0.0 or data[0, 0, 2] == 0.0


def test_ellipsis_and_full_slice_alias(data):
    x = dl(data)
    for y in (x[...], x[:], x[:, :, :]):
        assert y is not x
        assert y.untyped_storage_ptr() == x.untyped_storage_ptr()
        np.testing.assert_array_equal(np_of(y), data)


def test_indexing_scalars_and_numpy_ints():
    x = dlcore.tensor(np.arange(12.0).reshape(3, 4))
    assert x[np.int64(2), np.int32(1)].item() == 9.0
    assert x[dlcore.tensor(1)].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert x[1][2].item() == 6.0
    assert [r.tolist() for r in x] == np.arange(12.0).reshape(3, 4).tolist()


# ---- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("idx,exc,match", [
    (slice(None, None, -1), ValueError, "step must be greater than zero"),
    ((slice(None), slice(None, None, 0)), ValueError, "slice step cannot be zero|step must be greater than zero"),
    ((0, 0, 0, 0), IndexError, r"too many indices for tensor of dimension 3"),
    (5, IndexError, "index 5 is out of bounds for dimension 0 with size 5"),
    ((0, -7), IndexError, "index -7 is out of bounds for dimension 0 with size 6"),
    ((Ellipsis, Ellipsis), IndexError, r"an index can only have a single ellipsis"),
    (1.5, IndexError, "only integers, slices"),
    ("a", IndexError, "only integers, slices"),
    ([0.5, 1.0], IndexError, "tensors used as indices must be int64, int32 or bool tensors"),
    (A([0, 5]), IndexError, "index 5 is out of bounds for dimension 0 with size 5"),
    ((A([0, 1]), A([0, 1, 2])), IndexError, r"shape mismatch: indexing tensors could not be broadcast together"),
    (A([True, False]), IndexError, r"the shape of the mask \[2\] at index 0 does not match"),
])
def test_getitem_errors(data, idx, exc, match):
    x = dl(data)
    with pytest.raises(exc, match=match):
        x[to_dl_index(idx) if not isinstance(idx, list) else idx]


def test_getitem_on_0d_tensor():
    x = dlcore.tensor(3.5)
    assert x[...].item() == 3.5
    assert tuple(x[None].shape) == (1,)
    assert tuple(x[True].shape) == (1,) and tuple(x[False].shape) == (0,)
    with pytest.raises(IndexError):
        x[0]


# ---- __setitem__ ----------------------------------------------------------------------------------
# Assignment cases avoid repeated positions (PyTorch leaves their result unspecified).
SET_CASES = [c for c in CASES if not (isinstance(c[0], np.ndarray) and c[0].size == 3 and c[0][0] == 3)]


@pytest.mark.parametrize("idx,np_ok", SET_CASES, ids=ids(SET_CASES))
@pytest.mark.parametrize("value_kind", ["scalar", "tensor", "row"])
def test_setitem_matches_torch(data, idx, np_ok, value_kind):
    ref = torch.from_numpy(data.copy())
    region = tuple(ref[to_torch_index(idx)].shape)
    rng = np.random.default_rng(3)
    if value_kind == "scalar":
        v_np = 2.5
    elif value_kind == "tensor":
        v_np = rng.standard_normal(region)
    else:  # broadcast along the leading dims
        v_np = rng.standard_normal(region[-1:] if region else ())
    ref[to_torch_index(idx)] = torch.tensor(v_np) if not isinstance(v_np, float) else v_np
    x = dl(data.copy())
    x[to_dl_index(idx)] = dl(v_np) if not isinstance(v_np, float) else v_np
    np.testing.assert_array_equal(np_of(x), ref.numpy())


def test_setitem_value_forms():
    x = dlcore.zeros(3, 4)
    x[0] = [1.0, 2.0, 3.0, 4.0]
    x[1] = np.arange(4.0)
    x[2, 1:3] = 7
    x[:, 0] = dlcore.tensor([9.0, 8.0, 7.0])
    x[x > 7.5] = -1.0
    assert x.tolist() == [[-1.0, 2.0, 3.0, 4.0], [-1.0, 1.0, 2.0, 3.0], [7.0, 7.0, 7.0, 0.0]]
    y = dlcore.zeros(4, dtype=dlcore.int64)
    y[[1, 3]] = 2.9  # cast to the tensor's dtype
    assert y.tolist() == [0, 2, 0, 2]


def test_setitem_overlapping_source():
    x = dlcore.tensor(np.arange(6.0))
    x[1:] = x[:-1]
    assert x.tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]


def test_setitem_shape_mismatch():
    x = dlcore.zeros(3, 4)
    with pytest.raises(ValueError, match=r"copy_: .*\[(3|4)\].*\[(3|4)\]"):
        x[0] = dlcore.ones(3)
    with pytest.raises(ValueError, match=r"index_put_: shape mismatch: value tensor of shape \[3\] cannot be broadcast"):
        x[[0, 1]] = dlcore.ones(3)


SET_GRAD_CASES = [(0, True), ((slice(None), 1), True), ((slice(1, 4), None, Ellipsis, 2), True),
                  (A([0, 3]), True), ((A([0, 2]), slice(None), A([1, 3])), True),
                  ((slice(1, 4), A([[0], [2]]), A([1, 3, 5])), True), (A([True, False, True, True, False]), True)]


@pytest.mark.parametrize("idx,np_ok", SET_GRAD_CASES, ids=ids(SET_GRAD_CASES))
def test_setitem_gradient_matches_torch(data, idx, np_ok):
    rng = np.random.default_rng(4)
    region = tuple(torch.from_numpy(data)[to_torch_index(idx)].shape)
    v_np = rng.standard_normal(region[-1:])  # broadcast: the value's gradient is a sum
    w = rng.standard_normal(SHAPE)

    leaf_t = torch.from_numpy(data).requires_grad_(True)
    v_t = torch.from_numpy(v_np).requires_grad_(True)
    x_t = leaf_t * 2.0
    x_t[to_torch_index(idx)] = v_t
    (x_t * torch.from_numpy(w)).sum().backward()

    leaf = dl(data).requires_grad_(True)
    v = dl(v_np).requires_grad_(True)
    x = leaf * 2.0
    x[to_dl_index(idx)] = v
    (x * dl(w)).sum().backward()
    np.testing.assert_allclose(np_of(leaf.grad), leaf_t.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np_of(v.grad), v_t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_setitem_into_plain_tensor_records_value_gradient():
    v = dlcore.tensor([1.0, 2.0], requires_grad=True)
    x = dlcore.zeros(3, 2)
    x[1] = v
    assert x.requires_grad and not x.is_leaf
    (x * dlcore.tensor([[1.0, 1.0], [3.0, 4.0], [1.0, 1.0]])).sum().backward()
    assert v.grad.tolist() == [3.0, 4.0]


def test_setitem_on_leaf_requiring_grad_raises():
    x = dlcore.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad"):
        x[0] = 1.0
    with dlcore.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0]


# ---- other ops against torch ----------------------------------------------------------------------
def test_embedding_padding_idx_gets_no_gradient():
    rng = np.random.default_rng(5)
    w_np = rng.standard_normal((6, 3))
    idx = np.array([[0, 2, 1, 2], [5, 1, 1, 0]])
    g = rng.standard_normal((2, 4, 3))
    for pad in (1, -1, None):
        w_t = torch.from_numpy(w_np).requires_grad_(True)
        torch.nn.functional.embedding(torch.from_numpy(idx), w_t, padding_idx=pad).backward(torch.from_numpy(g))
        w = dl(w_np).requires_grad_(True)
        out = dlcore._C.embedding(dl(idx), w, padding_idx=pad)
        np.testing.assert_array_equal(np_of(out), w_np[idx])
        out.backward(dl(g))
        np.testing.assert_allclose(np_of(w.grad), w_t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_embedding_int32_indices():
    w = dlcore.tensor(np.arange(6.0).reshape(3, 2))
    out = dlcore._C.embedding(dlcore.tensor(np.array([2, 0], np.int32)), w)
    assert out.tolist() == [[4.0, 5.0], [0.0, 1.0]]


def test_cat_promotes_and_skips_empty():
    a = dlcore.ones(2, 2, dtype=dlcore.int64)
    b = dlcore.ones(1, 2, dtype=dlcore.float64)
    out = dlcore.cat([a, dlcore.tensor([]), b])
    ref = torch.cat([torch.ones(2, 2, dtype=torch.int64), torch.tensor([]), torch.ones(1, 2, dtype=torch.float64)])
    assert out.dtype == dlcore.float64 and str(ref.dtype) == "torch.float64"
    assert tuple(out.shape) == tuple(ref.shape)
    assert dlcore.cat([dlcore.tensor([]), dlcore.tensor([])]).shape == (0,)
    assert dlcore.concat([a, a], dim=-1).shape == (2, 4)


def test_split_and_chunk_are_views_and_match_torch():
    x_np = np.arange(35.0).reshape(5, 7)
    x = dl(x_np)
    for args in [(2,), (3, 1), ([1, 4], 0), ([3, 0, 4], 1)]:
        got = x.split(*args)
        want = torch.from_numpy(x_np).split(*args)
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(np_of(g), w.numpy())
            assert g.untyped_storage_ptr() == x.untyped_storage_ptr()
    for n, dim in [(1, 0), (2, 0), (3, 1), (7, 1), (9, 1), (4, 0)]:
        got = x.chunk(n, dim)
        want = torch.from_numpy(x_np).chunk(n, dim)
        assert [tuple(g.shape) for g in got] == [tuple(w.shape) for w in want]
    empty = dlcore.zeros(0, 3)
    assert len(empty.chunk(3)) == len(torch.zeros(0, 3).chunk(3))


def test_sort_is_stable_and_orders_nan_like_torch():
    v = np.array([[3.0, np.nan, 1.0, 3.0, -np.inf, 1.0, np.nan, 0.0]])
    for desc in (False, True):
        got = dlcore.sort(dl(v), descending=desc, stable=True)
        want = torch.sort(torch.from_numpy(v), descending=desc, stable=True)
        np.testing.assert_array_equal(np_of(got.values), want.values.numpy())
        np.testing.assert_array_equal(np_of(got.indices), want.indices.numpy())
        np.testing.assert_array_equal(np_of(dl(v).argsort(descending=desc, stable=True)), want.indices.numpy())


def test_topk_ties_take_lower_index():
    v = np.array([1.0, 5.0, 3.0, 5.0, 3.0, 1.0])
    got = dlcore.topk(dl(v), 3)
    assert got.values.tolist() == [5.0, 5.0, 3.0] and got.indices.tolist() == [1, 3, 2]
    got = dl(v).topk(3, largest=False)
    assert got.values.tolist() == [1.0, 1.0, 3.0] and got.indices.tolist() == [0, 5, 2]
    vals, idx = dlcore.topk(dlcore.tensor([[2, 9, 4]]), 2)  # integers, tuple unpacking
    assert vals.tolist() == [[9, 4]] and idx.tolist() == [[1, 2]]


def test_sort_integer_and_bool():
    x = dlcore.tensor([3, -1, 2, -1])
    assert dlcore.sort(x).values.tolist() == [-1, -1, 2, 3]
    assert dlcore.sort(x).indices.tolist() == [1, 3, 2, 0]
    b = dlcore.tensor([True, False, True])
    assert dlcore.sort(b).values.tolist() == [False, True, True]


def test_gather_scatter_against_torch():
    rng = np.random.default_rng(6)
    x_np = rng.standard_normal((4, 6))
    idx = rng.integers(0, 6, (4, 3))
    np.testing.assert_array_equal(np_of(dl(x_np).gather(1, dl(idx))), torch.from_numpy(x_np).gather(1, torch.from_numpy(idx)).numpy())
    src = rng.standard_normal((4, 3))
    got = dlcore.scatter_add(dl(x_np), 1, dl(idx), dl(src))
    want = torch.from_numpy(x_np).scatter_add(1, torch.from_numpy(idx), torch.from_numpy(src))
    np.testing.assert_allclose(np_of(got), want.numpy(), rtol=1e-12)
    # scatter of a value, in place
    y = dl(x_np)
    y.scatter_(0, dlcore.tensor([[1, 2, 3, 0, 1, 2]]), value=0.5)
    want = torch.from_numpy(x_np).scatter(0, torch.tensor([[1, 2, 3, 0, 1, 2]]), 0.5)
    np.testing.assert_array_equal(np_of(y), want.numpy())


def test_masked_fill_inplace_and_dtype():
    x = dlcore.tensor([[1, 2], [3, 4]])
    x.masked_fill_(dlcore.tensor([True, False]), 2.7)
    assert x.tolist() == [[2, 2], [2, 4]] and x.dtype == dlcore.int64
    v = dlcore.tensor(2.0, requires_grad=True)
    a = dlcore.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = a.masked_fill(dlcore.tensor([True, False, True]), v)
    out.sum().backward()
    assert v.grad.item() == 2.0 and a.grad.tolist() == [0.0, 1.0, 0.0]


def test_nonzero_as_tuple():
    x = dlcore.tensor([[0.0, 1.5], [2.0, 0.0]])
    rows, cols = x.nonzero(as_tuple=True)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    assert dlcore.nonzero(x).tolist() == [[0, 1], [1, 0]]
    big = np.random.default_rng(7).standard_normal(300000) > 1.0
    np.testing.assert_array_equal(np_of(dlcore.nonzero(dl(big))), np.argwhere(big))


def test_index_put_accumulate_gradients_match_torch():
    rng = np.random.default_rng(8)
    x_np, v_np = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    idx = np.array([0, 4, 0, 2])
    w = rng.standard_normal((5, 3))
    for acc in (True, False):
        if not acc:
            idx = np.array([0, 4, 1, 2])
        x_t, v_t = torch.from_numpy(x_np).requires_grad_(True), torch.from_numpy(v_np).requires_grad_(True)
        (x_t.index_put((torch.from_numpy(idx),), v_t, accumulate=acc) * torch.from_numpy(w)).sum().backward()
        x, v = dl(x_np).requires_grad_(True), dl(v_np).requires_grad_(True)
        out = x.index_put((dl(idx),), v, accumulate=acc)
        (out * dl(w)).sum().backward()
        np.testing.assert_allclose(np_of(x.grad), x_t.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(np_of(v.grad), v_t.grad.numpy(), rtol=1e-12)


def test_pad_modes_match_torch_with_gradients():
    rng = np.random.default_rng(9)
    x_np = rng.standard_normal((2, 3, 5, 6))
    for mode, pads in [("reflect", (2, 3, 4, 1)), ("replicate", (3, 0, 2, 5)), ("circular", (2, 1, 3, 5)),
                       ("constant", (-1, 2, 3, -2))]:
        x_t = torch.from_numpy(x_np).requires_grad_(True)
        y_t = torch.nn.functional.pad(x_t, pads, mode=mode)
        g = rng.standard_normal(tuple(y_t.shape))
        y_t.backward(torch.from_numpy(g))
        x = dl(x_np).requires_grad_(True)
        y = dlcore._C.pad(x, pads, mode=mode)
        np.testing.assert_allclose(np_of(y), y_t.detach().numpy(), rtol=1e-12)
        y.backward(dl(g))
        np.testing.assert_allclose(np_of(x.grad), x_t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_one_hot_matches_torch():
    t = np.array([[0, 3], [2, 1]])
    got = dlcore._C.one_hot(dl(t))
    want = torch.nn.functional.one_hot(torch.from_numpy(t))
    assert got.dtype == dlcore.int64
    np.testing.assert_array_equal(np_of(got), want.numpy())


def test_large_inputs_use_the_parallel_paths():
    rng = np.random.default_rng(10)
    x_np = rng.standard_normal((300, 257))
    x = dl(x_np)
    np.testing.assert_array_equal(np_of(x.flip(1)), x_np[:, ::-1])
    np.testing.assert_array_equal(np_of(dlcore._C.pad(x, (3, 3, 1, 1), mode="reflect")),
                                  np.pad(x_np, ((1, 1), (3, 3)), mode="reflect"))
    np.testing.assert_array_equal(np_of(x.tril(3)), np.tril(x_np, 3))
    idx = rng.integers(0, 257, (300, 200))
    np.testing.assert_array_equal(np_of(x.gather(1, dl(idx))), np.take_along_axis(x_np, idx, 1))
    np.testing.assert_array_equal(np_of(dlcore.sort(x).values), np.sort(x_np, axis=-1))
    rows = rng.integers(0, 300, 5000)
    np.testing.assert_array_equal(np_of(x[dl(rows)]), x_np[rows])
