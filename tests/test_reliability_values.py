"""Values, dtypes and NaN/inf propagation that once differed from PyTorch (found by fuzzing), and
crashes on degenerate inputs: each test compares with torch on the case and its neighbours
(other dtypes, the Tensor method, in-place forms)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import dlcore
import dlcore.nn.functional as F

NAN, INF = float("nan"), float("inf")

DT = {dlcore.float32: torch.float32, dlcore.float64: torch.float64, dlcore.int32: torch.int32,
      dlcore.int64: torch.int64, dlcore.bool: torch.bool}
TORCH_DT = {v: k for k, v in DT.items()}


def tdt(d):
    return DT[d] if d is not None else None


def check(got, want, rtol=1e-6, atol=1e-7):
    """dlcore tensor `got` equals torch tensor `want`: dtype, shape, values (NaN == NaN)."""
    assert TORCH_DT[want.dtype] == got.dtype, f"dtype {got.dtype}, torch has {want.dtype}"
    g, w = got.detach().numpy(), want.detach().numpy()
    assert g.shape == w.shape, f"shape {g.shape}, torch has {w.shape}"
    if w.dtype.kind == "f":
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(g, w)


def pair(values, dtype=None, grad=False):
    d = dlcore.tensor(values, dtype=dtype)
    t = torch.tensor(values, dtype=tdt(dtype))
    if grad:
        d.requires_grad_(True)
        t.requires_grad_(True)
    return d, t


# ---- M1, M2: clamp -------------------------------------------------------------------------------

NAN_BOUNDS = [dict(min=NAN), dict(max=NAN), dict(min=0.0, max=NAN), dict(min=NAN, max=1.0), dict(min=NAN, max=NAN)]


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64])
@pytest.mark.parametrize("bounds", NAN_BOUNDS, ids=lambda b: str(b))
def test_clamp_nan_bound_gives_nan(dtype, bounds):
    d, t = pair([1.0, -2.0, NAN, INF, 0.5], dtype)
    check(dlcore.clamp(d, **bounds), torch.clamp(t, **bounds))
    check(d.clamp(**bounds), t.clamp(**bounds))
    check(dlcore.clip(d, **bounds), torch.clip(t, **bounds))


def test_clamp_nan_bound_gradient_is_zero():
    d, t = pair([1.0, -2.0, 0.5], dlcore.float64, grad=True)
    dlcore.clamp(d, min=NAN).sum().backward()
    torch.clamp(t, min=NAN).sum().backward()
    check(d.grad, t.grad)


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64])
def test_clamp_keeps_nan_input(dtype):
    d, t = pair([NAN, 3.0, -3.0, -INF], dtype)
    for b in [dict(min=0.0), dict(max=1.0), dict(min=-1.0, max=1.0), dict(min=2.0, max=1.0)]:
        check(dlcore.clamp(d, **b), torch.clamp(t, **b))


@pytest.mark.parametrize("dtype", [dlcore.int32, dlcore.int64])
@pytest.mark.parametrize("bounds", [dict(max=2.0), dict(min=0.5), dict(min=1, max=2.0), dict(max=INF), dict(min=NAN),
                                    dict(min=-INF, max=2), dict(max=2), dict(min=1, max=2), dict(min=3, max=1)],
                         ids=lambda b: str(b))
def test_clamp_int_tensor_python_bound_type_promotes(dtype, bounds):
    d, t = pair([1, 2, 3, -4], dtype)
    check(dlcore.clamp(d, **bounds), torch.clamp(t, **bounds))
    check(d.clamp(**bounds), t.clamp(**bounds))
    check(d.clip(**bounds), t.clip(**bounds))


def test_clamp_bool_tensor_int_bound_is_int64():
    d, t = pair([True, False])
    check(dlcore.clamp(d, max=0), torch.clamp(t, max=0))
    check(dlcore.clamp(d, max=0.5), torch.clamp(t, max=0.5))


@pytest.mark.parametrize("dtype", [dlcore.int32, dlcore.int64])
def test_relu6_hardtanh_keep_int_dtype(dtype):
    d, t = pair([1, 7, -2, 0], dtype)
    check(F.relu6(d), TF.relu6(t))
    check(F.hardtanh(d), TF.hardtanh(t))
    check(F.hardtanh(d, -1.5, 2.5), TF.hardtanh(t, -1.5, 2.5))


# ---- M3: sum / prod / cumsum dtype= -------------------------------------------------------------

REDUCE_CASES = [
    ([1, 2], dlcore.int32, dlcore.int32), ([1, 2], dlcore.int64, dlcore.int32), ([1.5, 2.0], dlcore.float32, dlcore.int32),
    ([True, True], dlcore.bool, dlcore.bool), ([1, 0, 2], dlcore.int64, dlcore.bool), ([0, 0], dlcore.int64, dlcore.bool),
    ([2**31 - 1, 5], dlcore.int64, dlcore.int32), ([1, 2], dlcore.int32, dlcore.float64),
    ([1.5, 2.5, -3.5], dlcore.float64, dlcore.int64),
]


@pytest.mark.parametrize("values,dtype,out", REDUCE_CASES)
def test_sum_prod_honour_integral_dtype(values, dtype, out):
    d, t = pair(values, dtype)
    check(dlcore.sum(d, dtype=out), torch.sum(t, dtype=tdt(out)))
    check(d.sum(dtype=out), t.sum(dtype=tdt(out)))
    check(dlcore.prod(d, dtype=out), torch.prod(t, dtype=tdt(out)))
    check(d.prod(dtype=out), t.prod(dtype=tdt(out)))
    check(dlcore.prod(d, 0, dtype=out), torch.prod(t, 0, dtype=tdt(out)))


def test_sum_dtype_along_dims():
    d, t = pair([[1, 2, 3], [40000, 50000, 60000]], dlcore.int32)
    for dims, keep in [(0, False), (1, True), ((0, 1), False)]:
        check(dlcore.sum(d, dims, keep, dtype=dlcore.int32), torch.sum(t, dims, keep, dtype=torch.int32))
    check(dlcore.prod(d, 1, True, dtype=dlcore.int32), torch.prod(t, 1, True, dtype=torch.int32))


@pytest.mark.parametrize("values,dtype,out", [c for c in REDUCE_CASES if c[2] != dlcore.bool])
def test_cumsum_honours_integral_dtype(values, dtype, out):
    d, t = pair(values, dtype)
    check(dlcore.cumsum(d, 0, dtype=out), torch.cumsum(t, 0, dtype=tdt(out)))
    check(d.cumsum(0, dtype=out), t.cumsum(0, dtype=tdt(out)))


def test_cumsum_without_dtype_promotes_integers():
    for values, dtype in [([1, 2], dlcore.int32), ([True, True], dlcore.bool), ([1, 2], dlcore.int64)]:
        d, t = pair(values, dtype)
        check(dlcore.cumsum(d, 0), torch.cumsum(t, 0))


def test_cumsum_bool_dtype_raises():
    with pytest.raises(NotImplementedError):
        torch.cumsum(torch.tensor([1, 0]), 0, dtype=torch.bool)
    with pytest.raises(TypeError, match="cumsum: dtype=bool is not supported"):
        dlcore.cumsum(dlcore.tensor([1, 0]), 0, dtype=dlcore.bool)


# ---- M4: non-finite values in norm groups ---------------------------------------------------------

@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64])
@pytest.mark.parametrize("bad", [INF, -INF, NAN])
def test_layer_norm_nonfinite_row_is_nan(dtype, bad):
    rows = [[1.0, bad, 2.0, 3.0], [bad, 1.0, 2.0, 0.0], [1.0, 2.0, 3.0, 4.0]]
    d, t = pair(rows, dtype)
    check(F.layer_norm(d, (4,)), TF.layer_norm(t, (4,)), rtol=1e-5, atol=1e-6)
    d1, t1 = pair([[bad]], dtype)
    check(F.layer_norm(d1, (1,)), TF.layer_norm(t1, (1,)))


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64])
@pytest.mark.parametrize("bad", [INF, NAN])
def test_group_norm_nonfinite_group_is_nan(dtype, bad):
    d, t = pair([[1.0, bad, 2.0, 3.0], [4.0, 5.0, 6.0, bad]], dtype)
    check(F.group_norm(d, 2), TF.group_norm(t, 2), rtol=1e-5, atol=1e-6)
    d3, t3 = pair([[[1.0, 2.0], [bad, 3.0], [1.0, 1.5], [0.0, 2.0]]], dtype)
    check(F.group_norm(d3, 2), TF.group_norm(t3, 2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64])
@pytest.mark.parametrize("bad", [INF, NAN])
@pytest.mark.parametrize("shape", ["NC", "NCS"])
def test_batch_norm_nonfinite_channel_is_nan_and_reaches_running_stats(dtype, bad, shape):
    vals = [[1.0, 0.5], [bad, 1.5], [2.0, -1.0]]
    if shape == "NCS":
        vals = [[[1.0, bad, 2.0], [0.5, 1.5, -1.0]]]
    d, t = pair(vals, dtype)
    drm, drv = dlcore.zeros(2, dtype=dtype), dlcore.ones(2, dtype=dtype)
    trm, trv = torch.zeros(2, dtype=tdt(dtype)), torch.ones(2, dtype=tdt(dtype))
    check(F.batch_norm(d, drm, drv, training=True), TF.batch_norm(t, trm, trv, training=True), rtol=1e-5, atol=1e-6)
    check(drm, trm, rtol=1e-5)
    check(drv, trv, rtol=1e-5)


# ---- M5: linspace ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [(0.0, -2.5, 1), (3, -2.5, 1), (7.5, 7.5, 1), (0.0, 1.0, 0), (0.0, 10.0, 2),
                                  (0.0, -2.5, 5)])
@pytest.mark.parametrize("dtype", [None, dlcore.float64, dlcore.int64, dlcore.int32])
def test_linspace_one_step_is_start(args, dtype):
    check(dlcore.linspace(*args, dtype=dtype), torch.linspace(*args, dtype=tdt(dtype)))


@pytest.mark.parametrize("args", [(0.5, 9.5, 3), (-0.5, 9.7, 4), (-2.7, 9.7, 5), (2.7, 9.7, 1), (9.9, -3.9, 6)])
@pytest.mark.parametrize("dtype", [dlcore.int64, dlcore.int32])
def test_linspace_integer_dtype_truncates_ends(args, dtype):
    check(dlcore.linspace(*args, dtype=dtype), torch.linspace(*args, dtype=tdt(dtype)))


# ---- M6: bitwise operators ------------------------------------------------------------------------

INT_DTYPES = [dlcore.int32, dlcore.int64]


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_bitwise_operators_on_integers(dtype):
    a, ta = pair([1, 2, 3, -8, 12], dtype)
    b, tb = pair([4, 4, 1, 3, -10], dtype)
    check(a | b, ta | tb)
    check(a & b, ta & tb)
    check(a ^ b, ta ^ tb)
    check(~a, ~ta)
    for name in ["bitwise_and", "bitwise_or", "bitwise_xor"]:
        check(getattr(dlcore, name)(a, b), getattr(torch, name)(ta, tb))
        check(getattr(a, name)(b), getattr(ta, name)(tb))
    check(dlcore.bitwise_not(a), torch.bitwise_not(ta))
    check(a.bitwise_not(), ta.bitwise_not())


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_bitwise_with_numbers_and_promotion(dtype):
    a, ta = pair([1, 2, 3, -8], dtype)
    check(a & 6, ta & 6)
    check(3 | a, 3 | ta)
    check(5 ^ a, 5 ^ ta)
    check(a ^ True, ta ^ True)
    check(dlcore.bitwise_or(3, a), torch.bitwise_or(3, ta))
    o, to = pair([7, 9, -1, 2], dlcore.int64)
    check(a | o, ta | to)  # int32 | int64 is int64
    c, tc = pair([True, False, True, False])
    check(c ^ 3, tc ^ 3)
    check(a & c, ta & tc)


def test_bitwise_on_bool_stays_logical():
    a, ta = pair([True, False, True, False])
    b, tb = pair([True, True, False, False])
    check(a | b, ta | tb)
    check(a & b, ta & tb)
    check(a ^ b, ta ^ tb)
    check(~a, ~ta)
    check(dlcore.bitwise_not(a), torch.bitwise_not(ta))


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_bitwise_in_place(dtype):
    for op in ["__iand__", "__ior__", "__ixor__"]:
        a, ta = pair([1, 2, 3, -8], dtype)
        before = a
        a = getattr(a, op)(dlcore.tensor([6, 6, 1, 5]))
        getattr(ta, op)(torch.tensor([6, 6, 1, 5]))
        assert a is before
        check(a, ta)
    for name in ["bitwise_and_", "bitwise_or_", "bitwise_xor_"]:
        a, ta = pair([1, 2, 3, -8], dtype)
        out = getattr(a, name)(3)
        getattr(ta, name)(3)
        assert out is a
        check(a, ta)
    a = dlcore.tensor([1, 2], dtype=dtype)
    a |= 4
    check(a, torch.tensor([5, 6], dtype=tdt(dtype)))
    m = dlcore.tensor([True, False])
    with pytest.raises(TypeError, match="can't be cast to the output dtype bool"):
        m |= dlcore.tensor([2, 2])


def test_bitwise_on_floats_raises():
    x = dlcore.tensor([1.0, 2.0])
    for f in [lambda: x | 1, lambda: x & x, lambda: x ^ x, lambda: ~x, lambda: dlcore.bitwise_and(x, 1),
              lambda: dlcore.tensor([1, 2]) | 1.0, lambda: dlcore.bitwise_not(x)]:
        with pytest.raises(TypeError, match="only integer and bool tensors are supported"):
            f()
    y = dlcore.tensor([1.0, 2.0])
    with pytest.raises(TypeError):
        y |= 1


# ---- M7: add / sub alpha on integers --------------------------------------------------------------

@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("op", ["add", "sub"])
@pytest.mark.parametrize("alpha", [2, -3, 0, 1])
def test_add_sub_integer_alpha_stays_integral(dtype, op, alpha):
    a, ta = pair([1, 2, 3], dtype)
    b, tb = pair([4, 4, 1], dtype)
    check(getattr(dlcore, op)(a, b, alpha=alpha), getattr(torch, op)(ta, tb, alpha=alpha))
    check(getattr(a, op)(b, alpha=alpha), getattr(ta, op)(tb, alpha=alpha))
    check(getattr(a, op)(5, alpha=alpha), getattr(ta, op)(5, alpha=alpha))
    check(getattr(a.clone(), op + "_")(b, alpha=alpha), getattr(ta.clone(), op + "_")(tb, alpha=alpha))


def test_add_alpha_mixed_and_bool():
    a, ta = pair([1.0, 2.0, 3.0])
    b, tb = pair([4, 4, 1])
    check(dlcore.add(a, b, alpha=2), torch.add(ta, tb, alpha=2))
    check(dlcore.sub(a, b, alpha=2.5), torch.sub(ta, tb, alpha=2.5))
    check(dlcore.add(b, 2.5, alpha=2), torch.add(tb, 2.5, alpha=2))
    check(a.clone().sub_(b, alpha=2), ta.clone().sub_(tb, alpha=2))
    c, tc = pair([True, False])
    check(dlcore.add(c, c, alpha=2), torch.add(tc, tc, alpha=2))
    check(dlcore.add(c, c, alpha=True), torch.add(tc, tc, alpha=True))


def test_add_alpha_gradient():
    d, t = pair([1.0, -2.0], dlcore.float64, grad=True)
    e, te = pair([0.5, 3.0], dlcore.float64, grad=True)
    dlcore.sub(d, e, alpha=3).sum().backward()
    torch.sub(t, te, alpha=3).sum().backward()
    check(d.grad, t.grad)
    check(e.grad, te.grad)


@pytest.mark.parametrize("call", [
    lambda m, a, b: m.sub(a, b, alpha=2.0), lambda m, a, b: m.add(a, b, alpha=2.5), lambda m, a, b: m.add(a, 2, alpha=2.0),
    lambda m, a, b: a.add_(b, alpha=0.5), lambda m, a, b: a.sub_(b, alpha=2.0),
])
def test_float_alpha_on_integers_raises(call):
    with pytest.raises(RuntimeError, match="argument alpha must not be a floating point number"):
        call(torch, torch.tensor([1, 2, 3]), torch.tensor([4, 4, 1]))
    with pytest.raises(TypeError, match="argument alpha must not be a floating point number"):
        call(dlcore, dlcore.tensor([1, 2, 3]), dlcore.tensor([4, 4, 1]))


def test_bool_alpha_needs_bool_result():
    with pytest.raises(TypeError, match="boolean alpha"):
        dlcore.add(dlcore.tensor([1]), dlcore.tensor([1]), alpha=True)
    with pytest.raises(TypeError, match="boolean alpha"):
        dlcore.add(dlcore.tensor([1.0]), dlcore.tensor([1.0]), alpha=True)


# ---- M9: huber / smooth_l1 gradients at +-inf -----------------------------------------------------

LOSS_X = [0.5, INF, -INF, 2.0, -3.0, 0.0, 1.0, -0.25]


@pytest.mark.parametrize("dtype", [dlcore.float32, dlcore.float64])
@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
@pytest.mark.parametrize("loss,param", [("huber_loss", dict(delta=1.0)), ("huber_loss", dict(delta=0.3)),
                                        ("smooth_l1_loss", dict(beta=1.0)), ("smooth_l1_loss", dict(beta=2.0)),
                                        ("smooth_l1_loss", dict(beta=0.0))])
def test_huber_smooth_l1_gradient_at_inf(dtype, reduction, loss, param):
    d, t = pair(LOSS_X, dtype, grad=True)
    tgt_d, tgt_t = pair([0.0] * len(LOSS_X), dtype)
    out_d = getattr(F, loss)(d, tgt_d, reduction=reduction, **param)
    out_t = getattr(TF, loss)(t, tgt_t, reduction=reduction, **param)
    check(out_d, out_t)
    g = [1.0] * len(LOSS_X) if reduction == "none" else 1.0
    out_d.backward(dlcore.tensor(g, dtype=dtype))
    out_t.backward(torch.tensor(g, dtype=tdt(dtype)))
    check(d.grad, t.grad)


def test_huber_gradient_with_inf_target():
    d, t = pair([0.5, 1.0, -INF, 2.0], dlcore.float64, grad=True)
    e, te = pair([0.0, INF, 0.0, 0.0], dlcore.float64, grad=True)
    F.huber_loss(d, e, reduction="sum").backward()
    TF.huber_loss(t, te, reduction="sum").backward()
    check(d.grad, t.grad)
    check(e.grad, te.grad)


# ---- M10: arange with integer dtypes ---------------------------------------------------------------

ARANGE_ARGS = ["-3, 7.25, 1", "-3.5, 7.25, 1", "0.5, 3, 1", "0, 3.5, 1.5", "5, -2.5, -1", "5.9, -2.5, -2",
               "-2.5, 5, 2.5", "1, 10, 3", "3.7, 3.9, 1", "-0.5, 2, 1", "0, 5, 1.5", "1.9, 7.9, 2.9",
               "-1.9, -7.9, -2.9", "0, 10, 3.99", "10.5, 0, -3.99", "0, 3", "0, 0, 1", "0, 2**40, 2**38",
               "0, 5, 0.5", "0, 1, 0.3", "0, 0.5, 0.4"]


@pytest.mark.parametrize("args", ARANGE_ARGS)
@pytest.mark.parametrize("dtype", [dlcore.int64, dlcore.int32, dlcore.float32, dlcore.float64])
def test_arange_matches_torch(args, dtype):
    a = eval(f"({args},)")
    try:
        want = torch.arange(*a, dtype=tdt(dtype))
    except (ValueError, RuntimeError):
        with pytest.raises((ValueError, RuntimeError)):
            dlcore.arange(*a, dtype=dtype)
        return
    check(dlcore.arange(*a, dtype=dtype), want)


def test_arange_inferred_dtype():
    for a in [(-3, 7), (-3, 7.25), (0.5, 3), (10, 0, -3)]:
        check(dlcore.arange(*a), torch.arange(*a))


@pytest.mark.parametrize("args", [(0.5, 0.2, 1), (0.2, 0.5, -1), (0, 5, -0.5)])
@pytest.mark.parametrize("dtype", [dlcore.int64, dlcore.int32])
def test_arange_sign_checked_on_given_values(args, dtype):
    with pytest.raises(ValueError, match="inconsistent with step sign"):
        dlcore.arange(*args, dtype=dtype)


# ---- C2: norms of zero-size inputs ---------------------------------------------------------------

def _check_affine_norm_against_torch(shape, param_shape, ours, theirs):
    """ours(x, w, b) and theirs(x, w, b) on ones of `shape`: outputs and all three grads."""
    d, t = pair(np.ones(shape, dtype=np.float32), grad=True)
    dw, tw = pair(np.ones(param_shape, dtype=np.float32), grad=True)
    db, tb = pair(np.zeros(param_shape, dtype=np.float32), grad=True)
    yd, yt = ours(d, dw, db), theirs(t, tw, tb)
    check(yd, yt)
    yd.sum().backward()
    yt.sum().backward()
    check(d.grad, t.grad)
    check(dw.grad, tw.grad)
    check(db.grad, tb.grad)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("shape", [(0, 1, 1, 1), (0, 3), (0, 2, 4), (0, 3, 0)])
def test_batch_norm_empty_batch(training, shape):
    C = shape[1]
    drm, drv = dlcore.zeros(C), dlcore.ones(C)
    trm, trv = torch.zeros(C), torch.ones(C)
    _check_affine_norm_against_torch(shape, (C,), lambda x, w, b: F.batch_norm(x, drm, drv, w, b, training=training),
                                     lambda x, w, b: TF.batch_norm(x, trm, trv, w, b, training=training))
    check(drm, trm)  # left as they were
    check(drv, trv)


def test_batch_norm_empty_batch_without_weight():
    x = dlcore.ones(0, 1, 1, 1, requires_grad=True)
    F.batch_norm(x, dlcore.ones(1), dlcore.ones(1), training=False).sum().backward()
    assert tuple(x.grad.shape) == (0, 1, 1, 1)


def test_batch_norm_single_value_per_channel_raises():
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        F.batch_norm(dlcore.ones(1, 2, 1), dlcore.zeros(2), dlcore.ones(2), training=True)


@pytest.mark.parametrize("shape,ns", [((0, 3), (3,)), ((2, 0), (0,)), ((0,), (0,)), ((2, 3, 0), (3, 0))])
def test_layer_norm_empty(shape, ns):
    _check_affine_norm_against_torch(shape, ns, lambda x, w, b: F.layer_norm(x, ns, w, b),
                                     lambda x, w, b: TF.layer_norm(x, ns, w, b))


@pytest.mark.parametrize("shape,groups", [((0, 4), 2), ((2, 0), 1), ((0, 4, 3), 2)])
def test_group_norm_empty(shape, groups):
    _check_affine_norm_against_torch(shape, (shape[1],), lambda x, w, b: F.group_norm(x, groups, w, b),
                                     lambda x, w, b: TF.group_norm(x, groups, w, b))


# ---- C7: local_response_norm window sizes ---------------------------------------------------------

def _lrn_ref(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha / size * sum of x^2 over the window [c - size//2, c + (size-1)//2])^beta."""
    C = x.shape[1]
    out = np.empty_like(x)
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
        s = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, c] = x[:, c] * (k + alpha / size * s) ** -beta
    return out


@pytest.mark.parametrize("size", [2**62, 2**63 - 1, 2**40, 1000])
def test_local_response_norm_huge_size(size):
    x = np.random.default_rng(0).standard_normal((5, 2, 2)).astype(np.float64)
    d = dlcore.tensor(x, requires_grad=True)
    y = F.local_response_norm(d, size, alpha=1e3, k=2.0)
    np.testing.assert_allclose(y.detach().numpy(), _lrn_ref(x, size, alpha=1e3, k=2.0), rtol=1e-12)
    y.sum().backward()
    assert np.all(np.isfinite(d.grad.numpy()))
    if size == 1000:  # torch allocates a window-sized buffer: only small sizes run there
        t = torch.tensor(x, requires_grad=True)
        yt = TF.local_response_norm(t, size, alpha=1e3, k=2.0)
        check(y, yt, rtol=1e-12)
        yt.sum().backward()
        check(d.grad, t.grad, rtol=1e-10)


@pytest.mark.parametrize("size", [0, -1, -2**62])
def test_local_response_norm_nonpositive_size_raises(size):
    with pytest.raises(ValueError, match="size must be positive"):
        F.local_response_norm(dlcore.ones(5, 2, 2), size)
