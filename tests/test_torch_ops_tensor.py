"""Tensor utility methods and small torch-level helpers against torch: size/type queries,
can_cast, scalar_tensor/asarray/logspace/range/empty_strided, sum_to_size, fill_diagonal_,
tril_/triu_, and the method forms installed for the torch-namespace ops."""
import numpy as np
import pytest

import dlcore
from test_torch_ops_products import compare

torch = pytest.importorskip("torch")

_PAIRS = [(dlcore.float32, torch.float32), (dlcore.float64, torch.float64), (dlcore.float16, torch.float16),
          (dlcore.bfloat16, torch.bfloat16), (dlcore.int64, torch.int64), (dlcore.int32, torch.int32),
          (dlcore.bool, torch.bool)]


@pytest.mark.parametrize("dl_dtype,th_dtype", _PAIRS)
def test_queries_match_torch(dl_dtype, th_dtype):
    a = dlcore.zeros(2, 3, dtype=dl_dtype)
    b = torch.zeros(2, 3, dtype=th_dtype)
    for name in ("nelement", "ndimension", "is_signed", "is_complex", "get_device", "is_floating_point"):
        assert getattr(a, name)() == getattr(b, name)(), name
    for name in ("itemsize", "nbytes", "is_cpu"):
        assert getattr(a, name) == getattr(b, name), name
    assert dlcore.is_floating_point(a) == torch.is_floating_point(b)
    assert dlcore.is_signed(a) == torch.is_signed(b)
    assert dlcore.get_device(a) == -1
    assert dlcore.typename(a) == torch.typename(b).replace("torch.", "dlcore.")
    for d2, t2 in _PAIRS:
        assert dlcore.can_cast(dl_dtype, d2) == torch.can_cast(th_dtype, t2), (dl_dtype, d2)


def test_is_nonzero_and_same_size():
    assert dlcore.tensor([2.0]).is_nonzero() and not dlcore.is_nonzero(dlcore.tensor(0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        dlcore.zeros(2).is_nonzero()
    with pytest.raises(RuntimeError, match="ambiguous"):
        dlcore.zeros(0).is_nonzero()
    assert dlcore.zeros(2, 3).is_same_size(dlcore.ones(2, 3))
    assert not dlcore.is_same_size(dlcore.zeros(2, 3), dlcore.zeros(3, 2))
    assert dlcore.typename(3) == torch.typename(3)
    with pytest.raises(TypeError, match="can_cast"):
        dlcore.can_cast("float", dlcore.float32)


@pytest.mark.filterwarnings("ignore:torch.range is deprecated")
def test_creation_helpers():
    for args, kw in [((0, 2, 5), {}), ((1, -1, 4), {"base": 2.0}), ((0, 1, 0), {}),
                     ((0, 3, 4), {"dtype": "float64"})]:
        dkw = {k: getattr(dlcore, v) if k == "dtype" else v for k, v in kw.items()}
        tkw = {k: getattr(torch, v) if k == "dtype" else v for k, v in kw.items()}
        got, want = dlcore.logspace(*args, **dkw), torch.logspace(*args, **tkw)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    for args in [(1, 4), (0, 1, 0.25), (3, 0, -1), (0, 0.95, 0.1)]:
        got, want = dlcore.range(*args), torch.range(*args)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.dtype == dlcore.float32
    assert dlcore.range(1, 3, dtype=dlcore.int64).dtype == dlcore.int64
    with pytest.raises(RuntimeError, match="range"):
        dlcore.range(0, 5, -1)
    s = dlcore.scalar_tensor(3)
    assert s.shape == () and s.dtype == dlcore.float32 and s.item() == 3.0
    assert dlcore.scalar_tensor(2, dtype=dlcore.int64).dtype == dlcore.int64


def test_asarray_sharing_and_copy():
    arr = np.arange(6.0)
    t = dlcore.asarray(arr)
    arr[0] = 100.0
    assert t[0].item() == 100.0
    c = dlcore.asarray(arr, copy=True)
    arr[1] = -1.0
    assert c[1].item() == 1.0
    x = dlcore.ones(3)
    assert dlcore.asarray(x).data_ptr() == x.data_ptr()
    assert dlcore.asarray(x, dtype=dlcore.float64).dtype == dlcore.float64
    with pytest.raises(ValueError, match="copy=False"):
        dlcore.asarray(x, dtype=dlcore.float64, copy=False)
    with pytest.raises(ValueError, match="copy=False"):
        dlcore.asarray([1, 2], copy=False)
    l = dlcore.asarray([[1, 2], [3, 4]], requires_grad=False)
    assert l.dtype == dlcore.int64 and l.shape == (2, 2)
    assert dlcore.asarray([1.0, 2.0], requires_grad=True).requires_grad


def test_empty_strided():
    t = dlcore.empty_strided((2, 3), (1, 2))
    assert t.shape == (2, 3) and t.stride() == (1, 2)
    n = dlcore.ones(2).new_empty_strided((3, 2), (2, 1), dtype=dlcore.float64)
    assert n.shape == (3, 2) and n.stride() == (2, 1) and n.dtype == dlcore.float64
    assert dlcore.empty_strided((0, 3), (3, 1)).numel() == 0
    with pytest.raises(RuntimeError, match="empty_strided"):
        dlcore.empty_strided((2, 3), (1,))


def test_sum_to_size():
    x = np.arange(24.0).reshape(2, 3, 4)
    for size in [(3, 4), (1, 3, 1), (4,), (2, 1, 4), (1,)]:
        compare(lambda m, a: a.sum_to_size(size), x)
    compare(lambda m, a: a.sum_to_size(1, 1, 4), x)
    with pytest.raises(RuntimeError, match="sum_to_size"):
        dlcore.zeros(2, 3).sum_to_size(2)


@pytest.mark.parametrize("shape,wrap", [((3, 3), False), ((5, 3), False), ((7, 3), True), ((3, 5), True),
                                        ((3, 3, 3), False)])
def test_fill_diagonal_(shape, wrap):
    got = dlcore.zeros(*shape)
    want = torch.zeros(*shape)
    assert got.fill_diagonal_(2.5, wrap=wrap) is got
    want.fill_diagonal_(2.5, wrap=wrap)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(RuntimeError, match="fill_diagonal_"):
        dlcore.zeros(2, 3, 4).fill_diagonal_(1)


def test_tril_triu_inplace():
    x = np.arange(12.0).reshape(3, 4)
    compare(lambda m, a: (a * 1).tril_(), x)
    compare(lambda m, a: (a * 1).triu_(1), x)
    compare(lambda m, a: (a * 1).tril_(-1), x)
    t = dlcore.ones(3, 3)
    assert t.triu_() is t and t.sum().item() == 6.0


def test_share_memory_is_a_marker():
    t = dlcore.ones(3)
    assert t.share_memory_() is t
    assert t.is_shared() is False


def test_methods_are_installed_for_the_torch_functions():
    x = dlcore.arange(6.0).reshape(2, 3)
    for name in ("diag", "cumprod", "median", "unique", "movedim", "index_add_", "scatter_reduce", "quantile",
                 "repeat_interleave", "take", "kron", "unfold", "histc", "nansum", "cummax"):
        assert callable(getattr(x, name)), name
    assert x.unique().shape == (6,)
    assert x.movedim(0, 1).shape == (3, 2)


def test_inplace_shape_methods():
    for name, args in [("squeeze_", ()), ("squeeze_", (1,)), ("unsqueeze_", (-1,)), ("t_", ()),
                       ("transpose_", (0, 2)), ("swapaxes_", (1, 0)), ("swapdims_", (2, 1))]:
        shape = (2, 3) if name == "t_" else (2, 1, 3)
        a, b = dlcore.arange(6.0).reshape(shape), torch.arange(6.0).reshape(shape)
        assert getattr(a, name)(*args) is a
        getattr(b, name)(*args)
        assert a.shape == tuple(b.shape) and a.stride() == b.stride(), name
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    base = dlcore.zeros(2, 3)
    row = base[1]
    row.unsqueeze_(0)
    row.fill_(1)
    assert row.shape == (1, 3) and base.sum().item() == 3.0
    with pytest.raises(RuntimeError, match="requires grad"):
        dlcore.zeros(2, 1, requires_grad=True).squeeze_()


def test_resize_set_and_transposes():
    a = dlcore.arange(6.0)
    assert a.resize_(2, 2) is a and a.shape == (2, 2)
    np.testing.assert_array_equal(a.numpy(), [[0, 1], [2, 3]])
    a.resize_(3, 3)
    assert a.shape == (3, 3) and a.numpy().reshape(-1)[:4].tolist() == [0, 1, 2, 3]
    b = dlcore.zeros(0)
    dlcore.resize_as_(b, dlcore.ones(2, 5))
    assert b.shape == (2, 5)
    s = dlcore.zeros(1)
    src = dlcore.arange(4.0)
    s.set_(src)
    src[0] = 7.0
    assert s.shape == (4,) and s[0].item() == 7.0
    m = np.arange(6.0).reshape(2, 3)
    compare(lambda lib, x: (x.H, x.mH), m)
    with pytest.raises(RuntimeError, match="H"):
        dlcore.zeros(3).H


def test_unravel_index_constants_and_torch_level_inplace():
    for idx, shape in [([5, -1, 0], (2, 3)), (4, (2, 3)), ([[1, 7], [3, 2]], (2, 2, 2)), ([], (4,))]:
        got = dlcore.unravel_index(dlcore.tensor(idx, dtype=dlcore.int64), shape)
        want = torch.unravel_index(torch.tensor(idx, dtype=torch.int64), shape)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w.numpy())
            assert g.shape == tuple(w.shape)
    with pytest.raises(IndexError, match="unravel_index"):
        dlcore.unravel_index(dlcore.tensor([6]), (2, 3))
    with pytest.raises(TypeError, match="unravel_index"):
        dlcore.unravel_index(dlcore.tensor([1.0]), (2, 3))
    assert (dlcore.pi, dlcore.e, dlcore.inf) == (torch.pi, torch.e, torch.inf)
    assert dlcore.nan != dlcore.nan and dlcore.newaxis is None
    assert dlcore.get_default_dtype() == dlcore.float32
    x = dlcore.ones(3)
    assert dlcore.zero_(x) is x and x.sum().item() == 0
    dlcore.index_put_(x, (dlcore.tensor([1]),), dlcore.tensor(2.0))
    assert x.tolist() == [0.0, 2.0, 0.0]
    y = (dlcore.ones(2, requires_grad=True) * 2)
    assert dlcore.detach_(y) is y and not y.requires_grad


def test_cumsum_addmm_inplace():
    x = np.arange(6.0).reshape(2, 3)
    compare(lambda m, a: (a * 1).cumsum_(1), x)
    compare(lambda m, a, b, c: (a * 1).addmm_(b, c, beta=0.5, alpha=2.0), x, np.ones((2, 4)),
            np.arange(12.0).reshape(4, 3))


def test_as_strided_family_and_frombuffer():
    base = np.arange(12.0)
    for shape, size, stride, offset in [((3, 4), (2,), (5,), 1), ((3, 4), (2, 2), (4, 1), None),
                                        ((4, 3), (3,), (3,), 0)]:
        compare(lambda m, x, s: m.as_strided_scatter(x.reshape(shape), s, size, stride, offset), base,
                np.arange(1.0, 1.0 + np.prod(size)).reshape(size) * -1, grad=False)
    # torch's backward for input returns the gradient of the overwritten elements instead of
    # the others', so the gradients are checked directly.
    x = dlcore.zeros(3, 4, requires_grad=True)
    src = dlcore.zeros(2, requires_grad=True)
    w = dlcore.arange(12.0).reshape(3, 4)
    (dlcore.as_strided_scatter(x, src, (2,), (5,), 1) * w).sum().backward()
    want = np.arange(12.0)
    want[[1, 6]] = 0
    np.testing.assert_array_equal(x.grad.numpy().reshape(-1), want)
    np.testing.assert_array_equal(src.grad.numpy(), [1.0, 6.0])
    compare(lambda m, x, s: m.as_strided_scatter(x.reshape(3, 4)[:, :2], s, (2,), (4,), 0), base,
            np.array([-1.0, -2.0]), grad=False)
    with pytest.raises(RuntimeError, match="outside"):
        dlcore.as_strided_scatter(dlcore.zeros(3, 4)[:, :2], dlcore.zeros(2), (2,), (1,), 2)
    x = dlcore.arange(6.0)
    assert x.as_strided_((2, 2), (1, 2)) is x and x.shape == (2, 2)
    np.testing.assert_array_equal(x.numpy(), [[0, 2], [1, 3]])
    buf = bytearray(np.arange(4, dtype=np.int32).tobytes())
    t = dlcore.frombuffer(buf, dtype=dlcore.int32, count=2, offset=4)
    assert t.tolist() == [1, 2]
    t[0] = 9
    assert np.frombuffer(buf, dtype=np.int32)[1] == 9
    assert not dlcore.zeros(1).is_meta
    y = np.ones(3)
    compare(lambda m, i, a, v: m.addmv_(i * 1, a, v), y, np.ones((3, 2)), np.arange(2.0))
