"""Tensor basics: creation, dtypes and promotion, views share storage, printing."""
import numpy as np
import pytest

import dlcore


def test_creation_dtypes_follow_pytorch():
    assert dlcore.tensor([1.0, 2.0]).dtype == dlcore.float32
    assert dlcore.tensor([1, 2]).dtype == dlcore.int64
    assert dlcore.tensor([True]).dtype == dlcore.bool
    assert dlcore.tensor(np.zeros(2)).dtype == dlcore.float64
    assert dlcore.arange(5).dtype == dlcore.int64
    assert dlcore.arange(0, 1, 0.5).dtype == dlcore.float32
    assert dlcore.full((2,), 1.5).dtype == dlcore.float32
    assert dlcore.zeros(2, 3).shape == (2, 3) and dlcore.zeros((2, 3)).shape == (2, 3)
    assert dlcore.eye(3).tolist() == np.eye(3).tolist()
    assert dlcore.ones_like(dlcore.zeros(2, dtype=dlcore.int32)).dtype == dlcore.int32


@pytest.mark.parametrize("a,b,want", [
    (dlcore.int64, dlcore.float32, dlcore.float32),
    (dlcore.int32, dlcore.int64, dlcore.int64),
    (dlcore.bool, dlcore.int32, dlcore.int32),
    (dlcore.float16, dlcore.bfloat16, dlcore.float32),
    (dlcore.float32, dlcore.float64, dlcore.float64),
])
def test_promote_types(a, b, want):
    assert dlcore.promote_types(a, b) == want


def test_type_promotion_with_numbers_and_zero_dim():
    i = dlcore.tensor([1, 2])
    f = dlcore.tensor([1.0, 2.0])
    assert (i + 2.5).dtype == dlcore.float32           # Python float -> default dtype
    assert (i + 2).dtype == dlcore.int64
    assert (f + 2).dtype == dlcore.float32
    assert (f + dlcore.tensor(2.0, dtype=dlcore.float64)).dtype == dlcore.float32   # 0-d does not upcast
    assert (i + dlcore.tensor(2.0, dtype=dlcore.float64)).dtype == dlcore.float64   # higher category wins
    assert (dlcore.tensor([True]) + 1).dtype == dlcore.int64
    assert (i / 2).dtype == dlcore.float32                # true division
    assert (i.to(dlcore.int32) + 5).dtype == dlcore.int32
    assert dlcore.result_type(i, 1.0) == dlcore.float32


def test_views_share_storage():
    x = dlcore.arange(12, dtype=dlcore.float32)
    v = x.view(3, 4).t()
    assert not v.is_contiguous() and v._base is x
    v2 = v.transpose(0, 1).reshape(12)
    assert v2.data_ptr() == x.data_ptr()
    x.add_(1)
    assert v.tolist()[0][0] == 1.0
    e = dlcore.ones(3, 1).expand(3, 4)
    assert e.stride() == (1, 0)


def test_reshape_copies_only_when_needed():
    x = dlcore.arange(6).view(2, 3)
    assert x.reshape(3, 2).data_ptr() == x.data_ptr()
    t = x.t().reshape(6)
    assert t.tolist() == [0, 3, 1, 4, 2, 5]


def test_item_tolist_and_numbers():
    assert dlcore.tensor(3.5).item() == 3.5
    assert dlcore.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert float(dlcore.tensor(2.0)) == 2.0 and int(dlcore.tensor(7)) == 7
    with pytest.raises(ValueError, match="a tensor with 2 elements cannot be converted"):
        dlcore.ones(2).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(dlcore.ones(2))


def test_half_and_bfloat16_storage():
    x = dlcore.tensor([1.0, 2.5, 65504.0, 1e-8])
    h = x.half()
    assert h.dtype == dlcore.float16 and h.element_size() == 2
    assert h.float().tolist() == np.array([1.0, 2.5, 65504.0, 1e-8], np.float32).astype(np.float16).astype(np.float32).tolist()
    b = x.bfloat16()
    assert b.dtype == dlcore.bfloat16 and b.float().tolist()[:2] == [1.0, 2.5]


def test_to_and_device():
    x = dlcore.ones(2)
    assert x.to(dlcore.float64).dtype == dlcore.float64
    assert x.to("cpu") is x
    assert x.to("cpu", copy=True) is not x
    assert x.device == dlcore.device("cpu") and str(x.device) == "cpu"
    assert x.to(dlcore.zeros(1, dtype=dlcore.int32)).dtype == dlcore.int32


def test_repr_matches_pytorch_style():
    assert repr(dlcore.tensor([1.0, 2.0, 3.0])) == "tensor([1., 2., 3.])"
    assert repr(dlcore.tensor([1.5, 2.25])) == "tensor([1.5000, 2.2500])"
    assert repr(dlcore.tensor([1, 2, 3])) == "tensor([1, 2, 3])"
    assert repr(dlcore.tensor([True, False])) == "tensor([ True, False])"
    assert repr(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]])) == "tensor([[ 1., -2.],\n        [ 3.,  4.]])"
    assert repr(dlcore.tensor([1e-5, 1e3])) == "tensor([1.0000e-05, 1.0000e+03])"
    assert repr(dlcore.tensor([1.0], dtype=dlcore.float64)) == "tensor([1.], dtype=dlcore.float64)"
    assert repr(dlcore.ones(2, requires_grad=True)) == "tensor([1., 1.], requires_grad=True)"
    assert repr(dlcore.ones(2, requires_grad=True) * 2) == "tensor([2., 2.], grad_fn=<MulBackward>)"
    assert repr(dlcore.tensor(2.5)) == "tensor(2.5000)"
    assert repr(dlcore.zeros(0, 3)) == "tensor([], size=(0, 3))"
    assert repr(dlcore.tensor([float("nan"), float("inf"), 1.0])) == "tensor([nan, inf, 1.])"
    big = repr(dlcore.arange(2000))
    assert "..." in big and big.startswith("tensor([   0,    1,    2,  ..., 1997, 1998, 1999])")


def test_random_is_seeded_and_thread_independent():
    dlcore.manual_seed(7)
    a = dlcore.rand(100000)
    dlcore.manual_seed(7)
    n = dlcore.get_num_threads()
    dlcore.set_num_threads(1)
    try:
        b = dlcore.rand(100000)
    finally:
        dlcore.set_num_threads(n)
    assert np.array_equal(a.numpy(), b.numpy())
    c = dlcore.rand(100000)
    assert not np.array_equal(b.numpy(), c.numpy())


def test_random_distributions():
    dlcore.manual_seed(0)
    u = dlcore.rand(200000, dtype=dlcore.float64).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    z = dlcore.randn(200000).numpy()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    r = dlcore.randint(3, 7, (10000,)).numpy()
    assert r.dtype == np.int64 and set(np.unique(r)) == {3, 4, 5, 6}
    p = dlcore.randperm(50).numpy()
    assert sorted(p.tolist()) == list(range(50))


def test_dropout_scales_and_masks():
    dlcore.manual_seed(0)
    x = dlcore.ones(100000)
    y = dlcore.dropout(x, 0.25, True).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert dlcore.dropout(x, 0.25, False) is x


def test_threads_setting():
    n = dlcore.get_num_threads()
    dlcore.set_num_threads(1)
    assert dlcore.get_num_threads() == 1
    dlcore.set_num_threads(n)
    with pytest.raises(ValueError, match="set_num_threads: expected a positive number"):
        dlcore.set_num_threads(0)


def test_kernel_registry_reports_devices():
    cov = dict(dlcore._C._kernel_coverage())
    assert "cpu" in cov["binary_kernel"] and "cpu" in cov["unary_kernel"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_where_runs_against_numpy(dtype):
    # contiguous runs, a scalar or a broadcast row/column on either side (stride 0), and
    # transposed (strided) operands
    rng = np.random.default_rng(7)
    cond = rng.standard_normal((37, 41)) > 0
    a = (rng.standard_normal((37, 41)) * 10).astype(dtype)
    b = (rng.standard_normal((37, 41)) * 10).astype(dtype)
    s = np.array(3, dtype=dtype)
    dc, da, db, ds = (dlcore.tensor(v) for v in (cond, a, b, s))
    for got, want in ((dlcore.where(dc, da, db), np.where(cond, a, b)),
                      (dlcore.where(dc, ds, db), np.where(cond, s, b)),
                      (dlcore.where(dc, da, ds), np.where(cond, a, s)),
                      (dlcore.where(dc, da[:, :1], db[:1]), np.where(cond, a[:, :1], b[:1])),
                      (dlcore.where(dc.t(), da.t(), db.t()), np.where(cond.T, a.T, b.T))):
        np.testing.assert_array_equal(got.numpy(), want)
