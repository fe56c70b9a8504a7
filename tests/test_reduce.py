"""Reductions and softmax beyond the op table: PyTorch's rules (ties, NaN, empty inputs,
correction, overloads), numerical stability, memory layouts and thread-count independence."""
import itertools

import numpy as np
import pytest

import dlcore

torch = pytest.importorskip("torch")

NINF, INF, NAN = float("-inf"), float("inf"), float("nan")


def dl(a, **kw):
    return dlcore.tensor(np.asarray(a), **kw)


def th(a, **kw):
    return torch.tensor(np.asarray(a), **kw)


def close(got, want, rtol=1e-6, atol=1e-7):
    got = got.detach().numpy() if isinstance(got, dlcore.Tensor) else np.asarray(got)
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


def grads(fn_dl, fn_th, x):
    """Gradient of fn(x).sum() (weighted, so every output matters) in dlcore and torch."""
    a = dl(x).requires_grad_(True)
    b = th(x).requires_grad_(True)
    ya, yb = fn_dl(a), fn_th(b)
    w = np.random.default_rng(1).uniform(0.5, 1.5, tuple(yb.shape))
    (ya * dl(w)).sum().backward()
    (yb * th(w)).sum().backward()
    return a.grad, b.grad


# ---- max / min: ties, NaN, overloads --------------------------------------------------------

def test_max_ties_gradient_matches_torch():
    x = np.array([[1.0, 5.0, 5.0], [2.0, 2.0, 0.0], [7.0, 7.0, 7.0]])
    for fd, ft in [(lambda t: t.amax(1), lambda t: t.amax(1)),
                   (lambda t: t.amin(0), lambda t: t.amin(0)),
                   (lambda t: t.max(), lambda t: t.max()),
                   (lambda t: t.min(), lambda t: t.min()),
                   (lambda t: t.max(1).values, lambda t: t.max(1).values),
                   (lambda t: t.min(0, keepdim=True).values, lambda t: t.min(0, keepdim=True).values),
                   (lambda t: t.norm(float("inf"), 1), lambda t: t.norm(float("inf"), 1))]:
        ga, gb = grads(fd, ft, x)
        close(ga, gb)


def test_max_dim_returns_named_tuple_of_first_indices():
    x = np.array([[1.0, 5.0, 5.0], [2.0, 2.0, 0.0]])
    r = dlcore.max(dl(x), 1)
    values, indices = r
    assert isinstance(r, tuple) and len(r) == 2
    assert r.values is values and r.indices is indices
    assert indices.dtype == dlcore.int64
    close(values, [5.0, 2.0])
    assert indices.tolist() == [1, 0]
    v, i = dl(x).min(dim=0, keepdim=True)
    assert v.shape == (1, 3) and i.tolist() == [[0, 1, 1]]


def test_max_overloads():
    a, b = np.array([1.0, 4.0, 2.0]), np.array([3.0, 0.0, 2.5])
    close(dlcore.max(dl(a), dl(b)), np.maximum(a, b))
    close(dl(a).min(dl(b)), np.minimum(a, b))
    close(dlcore.max(dl(a), other=dl(b)), np.maximum(a, b))
    m = dlcore.max(dl(a))
    assert m.shape == () and m.item() == 4.0
    assert dl(a).max(np.int64(0)).indices.item() == 1  # numpy integers work as dims
    assert dl(a).argmin(dim=np.int32(0)).item() == 0


@pytest.mark.parametrize("op", ["amax", "amin", "max", "min", "argmax", "argmin"])
def test_nan_propagates_like_torch(op):
    x = np.array([[1.0, NAN, 3.0, NAN], [4.0, 2.0, 9.0, 1.0], [NAN, 0.0, 0.0, 0.0]])
    for dim in [0, 1]:
        got = getattr(dl(x), op)(dim)
        want = getattr(th(x), op)(dim)
        if op in ("max", "min"):
            close(got.values, want.values)
            assert got.indices.tolist() == want.indices.tolist()
        elif op.startswith("arg"):
            assert got.tolist() == want.tolist()
        else:
            close(got, want)


def test_argmax_flattened_and_keepdim():
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    assert dlcore.argmax(dl(x)).item() == int(np.argmax(x))
    k = dl(x).argmin(keepdim=True)
    assert k.shape == (1, 1, 1) and k.item() == int(np.argmin(x))
    assert dlcore.argmax(dl(2.5)).item() == 0


# ---- var / std ------------------------------------------------------------------------------

@pytest.mark.parametrize("correction", [0, 1, 2, 0.5])
def test_var_std_correction_matches_torch(correction):
    x = np.random.default_rng(2).standard_normal((4, 6, 5))
    for dims in [None, 1, (0, 2), -1]:
        close(dl(x).var(dims, correction=correction), th(x).var(dims, correction=correction), rtol=1e-10)
        close(dl(x).std(dims, correction=correction, keepdim=True),
              th(x).std(dims, correction=correction, keepdim=True), rtol=1e-10)
    ga, gb = grads(lambda t: t.std(1, correction=correction), lambda t: t.std(1, correction=correction), x)
    close(ga, gb, rtol=1e-9)


def test_var_unbiased_spellings():
    x = np.random.default_rng(3).standard_normal((5, 3))
    close(dl(x).var(0, unbiased=False), np.var(x, axis=0), rtol=1e-12)
    close(dl(x).var(0, True), np.var(x, axis=0, ddof=1), rtol=1e-12)
    close(dlcore.std(dl(x), False), np.std(x), rtol=1e-12)
    close(dl(x).var(), np.var(x, ddof=1), rtol=1e-12)  # PyTorch 2.x default: correction 1


def test_var_is_stable_for_a_large_offset():
    # two-pass: the mean is removed before squaring, so 1e4 + noise keeps its variance
    x = (1e4 + np.random.default_rng(4).standard_normal(1000)).astype(np.float32)
    want = np.var(x.astype(np.float64), ddof=1)
    assert abs(dl(x).var().item() - want) / want < 1e-5


def test_std_gradient_at_zero_spread_is_zero():
    ga, gb = grads(lambda t: t.std(1), lambda t: t.std(1), np.ones((2, 4)))
    close(ga, gb)
    assert np.all(ga.numpy() == 0)


# ---- softmax family, logsumexp ------------------------------------------------------------

EDGE_ROWS = [[NINF, NINF, NINF], [0.0, NINF, 1.0], [INF, 1.0, 2.0], [NAN, 1.0, 2.0], [1000.0, 1001.0, 1002.0],
             [-1e4, 0.0, 1e4]]


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_edge_values_match_torch(op, dtype):
    x = np.array(EDGE_ROWS, dtype=dtype)
    close(getattr(dl(x), op)(1), getattr(th(x), op)(1), rtol=1e-6 if dtype == "float32" else 1e-12)
    # the same along dim 0 (the column kernels)
    close(getattr(dl(x.T.copy()), op)(0), getattr(th(x.T.copy()), op)(0),
          rtol=1e-6 if dtype == "float32" else 1e-12)


def test_softmax_of_large_values_is_finite():
    x = np.array([[1e4, 1e4 + 1, 1e4 + 2]], dtype=np.float32)
    y = dl(x).softmax(-1).numpy()
    assert np.all(np.isfinite(y))
    close(y, torch.softmax(th(x), -1), rtol=1e-6)
    close(dl(x).logsumexp(1), th(x).logsumexp(1), rtol=1e-7)
    close(dl(x * 10).log_softmax(1), th(x * 10).log_softmax(1), rtol=1e-6, atol=1e-6)


def test_log_softmax_with_minus_inf_gradient_matches_torch():
    x = np.array([[0.0, NINF, 1.0, 2.0], [0.5, 0.25, NINF, NINF]])
    for op in ["softmax", "log_softmax"]:
        ga, gb = grads(lambda t: getattr(t, op)(1), lambda t: getattr(t, op)(1), x)
        close(ga, gb, rtol=1e-12)


@pytest.mark.parametrize("shape,dim", [((4, 7), 1), ((4, 7), 0), ((3, 5, 6), 1), ((2, 3, 4, 5), -2), ((300,), 0)])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_backward_kernel_matches_torch(op, shape, dim):
    x = np.random.default_rng(5).standard_normal(shape) * 3
    ga, gb = grads(lambda t: getattr(t, op)(dim), lambda t: getattr(t, op)(dim), x)
    close(ga, gb, rtol=1e-10, atol=1e-12)


def test_softmax_create_graph_differentiates_through_grad_output():
    x = dl(np.random.default_rng(6).standard_normal((3, 4))).requires_grad_(True)
    g = dl(np.random.default_rng(7).standard_normal((3, 4))).requires_grad_(True)
    (gx,) = dlcore.autograd.grad([x.softmax(1)], [x], [g], create_graph=True)
    (gg,) = dlcore.autograd.grad([gx.sum()], [g])
    xt = th(x.detach().numpy()).requires_grad_(True)
    gt = th(g.detach().numpy()).requires_grad_(True)
    (gxt,) = torch.autograd.grad([xt.softmax(1)], [xt], [gt], create_graph=True)
    (ggt,) = torch.autograd.grad([gxt.sum()], [gt])
    close(gx, gxt, rtol=1e-12)
    close(gg, ggt, rtol=1e-12)


@pytest.mark.parametrize("name", ["logsumexp", "var", "std", "norm", "prod", "amax", "mean", "cumsum"])
def test_second_derivative_matches_torch(name):
    rng = np.random.default_rng(8)
    x = rng.uniform(0.5, 2.0, (3, 4))
    fns = {"logsumexp": lambda t: t.logsumexp(1), "var": lambda t: t.var(0), "std": lambda t: t.std(1),
           "norm": lambda t: t.norm(dim=1), "prod": lambda t: t.prod(1), "amax": lambda t: t.amax(1) * t.amax(1),
           "mean": lambda t: t.mean(0) ** 2, "cumsum": lambda t: t.cumsum(1) ** 2}
    a = dl(x).requires_grad_(True)
    b = th(x).requires_grad_(True)
    (ga,) = dlcore.autograd.grad([fns[name](a).sum()], [a], create_graph=True)
    (gb,) = torch.autograd.grad([fns[name](b).sum()], [b], create_graph=True)
    w = rng.standard_normal((3, 4))
    (hb,) = torch.autograd.grad([(gb * th(w)).sum()], [b], allow_unused=True)
    (ha,) = dlcore.autograd.grad([(ga * dl(w)).sum()], [a], allow_unused=True)
    close(ga, gb, rtol=1e-10)
    close(np.zeros((3, 4)) if ha is None else ha, np.zeros((3, 4)) if hb is None else hb, rtol=1e-9, atol=1e-12)


# ---- prod, norm, cumsum gradients -------------------------------------------------------------

def test_prod_gradient_with_zeros_matches_torch():
    x = np.array([[1.5, 0.0, 2.0, 3.0], [0.0, 0.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    for dim in [None, 1, 0]:
        fd = (lambda t: t.prod()) if dim is None else (lambda t: t.prod(dim))
        ga, gb = grads(fd, fd, x)
        close(ga, gb, rtol=1e-12)


@pytest.mark.parametrize("p", [2, 1, 0.5, 3, float("inf"), -float("inf"), 0])
def test_norm_gradient_at_zero_matches_torch(p):
    x = np.array([[0.0, 0.0, 0.0], [0.0, 1.5, -2.0]])
    ga, gb = grads(lambda t: t.norm(p, 1), lambda t: torch.linalg.vector_norm(t, p, 1), x)
    close(ga, np.zeros(x.shape) if gb is None else gb, rtol=1e-12)  # torch leaves no grad for p=0
    assert np.all(np.isfinite(ga.numpy()))


def test_cumsum_gradient_is_reversed_cumsum():
    x = np.random.default_rng(9).standard_normal((3, 5, 4))
    for dim in [0, 1, -1]:
        ga, gb = grads(lambda t: t.cumsum(dim), lambda t: t.cumsum(dim), x)
        close(ga, gb, rtol=1e-12)
    assert dl(3.0).cumsum(0).item() == 3.0


# ---- dtypes and empty inputs --------------------------------------------------------------

def test_result_dtypes_follow_torch():
    i32 = dl(np.array([[1, 2], [3, 4]], dtype=np.int32))
    assert i32.sum().dtype == dlcore.int64 and i32.sum().item() == 10
    assert i32.prod(1).dtype == dlcore.int64 and i32.prod(1).tolist() == [2, 12]
    assert i32.cumsum(1).dtype == dlcore.int64 and i32.cumsum(1).tolist() == [[1, 3], [3, 7]]
    assert i32.amax(1).dtype == dlcore.int32 and i32.max(0).values.dtype == dlcore.int32
    b = dl(np.array([True, False, True]))
    assert b.sum().dtype == dlcore.int64 and b.sum().item() == 2
    assert b.all().dtype == dlcore.bool and not b.all().item() and b.any().item()
    assert dl(np.array([1, 2])).logsumexp(0).dtype == dlcore.float32
    assert dl(np.array([1, 2])).sum(dtype=dlcore.float64).dtype == dlcore.float64
    assert dl(np.array([1, 2])).mean(dtype=dlcore.float32).item() == 1.5
    with pytest.raises(TypeError, match="mean: expected a floating point input"):
        dl(np.array([1, 2])).mean()


def test_empty_reductions_follow_torch():
    e = dlcore.zeros(0, 3)
    assert e.sum().item() == 0 and e.prod().item() == 1
    close(e.sum(0), np.zeros(3))
    close(e.prod(0), np.ones(3))
    assert np.isnan(e.mean().item()) and np.isnan(e.var().item())
    assert e.logsumexp((0, 1)).item() == NINF
    assert e.norm().item() == 0
    assert e.all().item() and not e.any().item()
    assert e.amax(1).shape == (0,) and e.sum(1).shape == (0,)
    with pytest.raises(IndexError, match=r"amax: cannot reduce over a zero-size dimension \(input shape \[0, 3\]"):
        e.amax()
    with pytest.raises(IndexError, match=r"max: cannot reduce an empty tensor \(input shape \[0, 3\]\)"):
        e.max()
    with pytest.raises(IndexError, match=r"norm: cannot reduce over a zero-size"):
        e.norm(-1)
    assert np.isnan(dl([1.0]).var().item())


def test_bad_dims_name_the_op_and_shape():
    x = dlcore.ones(2, 3)
    with pytest.raises(IndexError, match=r"var: dim 3 is out of range for input of shape \[2, 3\]"):
        x.var(3)
    with pytest.raises(ValueError, match=r"amax: dim 0 appears multiple times in dims \[0, -2\]"):
        x.amax((0, -2))
    with pytest.raises(IndexError, match=r"max: dim 2 is out of range"):
        x.max(2)
    assert dlcore.sum(dl(2.0), 0).item() == 2.0  # 0-d tensors accept dim 0 and -1
    assert dlcore.sum(x, []).item() == 6.0  # an empty dim list reduces everything


# ---- layouts: the copy-free plans must agree with the permute+copy plan ------------------

def _layouts(x):
    """The same values as contiguous, transposed, permuted, sliced and expanded tensors."""
    yield "contiguous", dl(x), x
    yield "transposed", dl(x.transpose(2, 0, 1).copy()).permute(1, 2, 0), x
    yield "permuted", dl(x.transpose(1, 2, 0).copy()).permute(2, 0, 1), x
    big = np.zeros((x.shape[0], x.shape[1] * 2, x.shape[2]))
    big[:, ::2] = x
    yield "sliced", dl(big)[:, ::2], x
    row = x[:1]
    yield "expanded", dl(row).expand(x.shape[0], -1, -1), np.broadcast_to(row, x.shape)


@pytest.mark.parametrize("dims", [None, 0, 1, 2, (0, 1), (1, 2), (0, 2)])
def test_reductions_over_layouts(dims):
    x = np.random.default_rng(10).standard_normal((5, 6, 7))
    for name, t, ref in _layouts(x):
        r = th(np.ascontiguousarray(ref))
        for op in ["sum", "mean", "amax", "amin", "var", "std", "norm"]:
            if op == "norm":
                got, want = t.norm(2, dims), torch.linalg.vector_norm(r, 2, dims)
            elif dims is None:
                got, want = getattr(t, op)(), getattr(r, op)()
            else:
                got, want = getattr(t, op)(dims), getattr(r, op)(dims)
            close(got, want, rtol=1e-10, atol=1e-12)
        if isinstance(dims, int):
            for op in ["argmax", "argmin", "cumsum", "softmax", "log_softmax", "logsumexp", "prod", "all", "any"]:
                got, want = getattr(t, op)(dims), getattr(r, op)(dims)
                close(got, want, rtol=1e-10, atol=1e-12)
            v, i = t.max(dims)
            close(v, r.max(dims).values)
            assert i.tolist() == r.max(dims).indices.tolist(), name


# ---- accuracy and threads ---------------------------------------------------------------

def test_float32_sum_accumulates_accurately():
    x = np.full(10**6, 0.1, dtype=np.float32)
    want = float(np.sum(x.astype(np.float64)))
    assert abs(dl(x).sum().item() - want) / want < 1e-7
    assert abs(dl(x).mean().item() - 0.1) < 1e-8
    col = 1000 * float(np.float32(0.1))
    assert abs(dl(x.reshape(1000, 1000)).sum(0).numpy().astype(np.float64) - col).max() / col < 1e-7
    c = dl(x).cumsum(0).numpy()
    assert abs(c[-1] - want) / want < 1e-7


def test_results_do_not_depend_on_the_thread_count():
    x = dl(np.random.default_rng(11).standard_normal((3, 200003)).astype(np.float32))
    before = dlcore.get_num_threads()
    try:
        out = {}
        for n in [1, 2]:
            dlcore.set_num_threads(n)
            out[n] = [t.numpy().copy() for t in (x.sum(), x.sum(1), x.amax(), x.var(1), x.norm(), x.softmax(1),
                                                 x.logsumexp(1), x.argmax(1))]
        for a, b in zip(out[1], out[2]):
            np.testing.assert_array_equal(a, b)
    finally:
        dlcore.set_num_threads(before)


def test_all_dims_combinations_of_a_4d_tensor():
    # scattered dims go through the staged plan (Note [Reducing in stages]) or the copy plan
    x = np.random.default_rng(12).uniform(0.5, 1.5, (2, 3, 1, 4))
    b = x > 1.0
    for k in range(1, 5):
        for dims in itertools.combinations(range(4), k):
            for keep in (False, True):
                for op in ["sum", "mean", "amax", "amin"]:
                    close(getattr(dl(x), op)(dims, keepdim=keep), getattr(th(x), op)(dims, keepdim=keep), rtol=1e-12)
                got = dlcore.sum(dl(b), dims, keepdim=keep)
                assert got.dtype == dlcore.int64
                assert got.tolist() == th(b).sum(dims, keepdim=keep).tolist()
        for d in range(4):
            close(dl(x).prod(d), th(x).prod(d), rtol=1e-12)
            assert dl(b).all(d).tolist() == th(b).all(d).tolist()
            assert dl(b).any(d, keepdim=True).tolist() == th(b).any(d, keepdim=True).tolist()


def test_conv_bias_gradient_shape_reduction():
    # NCHW summed over N, H, W: two runs in memory, reduced in two copy-free stages
    g = np.random.default_rng(13).standard_normal((4, 5, 6, 7)).astype(np.float32)
    close(dl(g).sum((0, 2, 3)), g.astype(np.float64).sum((0, 2, 3)), rtol=1e-5, atol=1e-5)
    close(dl(g).mean((0, 2, 3), keepdim=True), g.astype(np.float64).mean((0, 2, 3), keepdims=True), rtol=1e-5,
          atol=1e-6)
    w = dl(np.zeros((1, 5, 1, 1))).requires_grad_(True)
    (dl(g.astype(np.float64)) + w).sum().backward()  # the engine's sum_to
    close(w.grad, np.full((1, 5, 1, 1), 4 * 6 * 7.0))
