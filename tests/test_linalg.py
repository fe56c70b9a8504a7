"""Matrix products beyond the op table: large random products against numpy with a
magnitude-scaled tolerance, every operand layout the GEMM kernel takes, threads, integer
matmul, and gradients against torch.

Tolerance: for C = A @ B computed with any summation order, |C - C_exact| <= K * u * (|A| @ |B|)
to first order (u: unit roundoff, 2^-24 for float32, 2^-53 for float64). The reference is
computed in float64 from the same (rounded) inputs, so `check_product` asserts that bound,
elementwise, with a factor 2 of slack.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import dlcore

U = {np.float32: 2.0 ** -24, np.float64: 2.0 ** -53}


def T(a):
    return dlcore.tensor(np.array(a, order="C"))  # keeps 0-d arrays 0-d


def check_product(got, a, b, bias=None, beta=1.0, alpha=1.0):
    """got (a dlcore tensor) == alpha * a @ b + beta * bias within the rounding bound."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = alpha * np.matmul(a64, b64)
    scale = abs(alpha) * np.matmul(np.abs(a64), np.abs(b64))
    if bias is not None:
        want = want + beta * bias.astype(np.float64)
        scale = scale + abs(beta) * np.abs(bias.astype(np.float64))
    got = got.numpy().astype(np.float64)
    assert got.shape == want.shape
    bound = 2 * (a.shape[-1] + 2) * U[a.dtype.type] * scale
    err = np.abs(got - want)
    if err.size:
        worst = np.unravel_index(np.argmax(err - bound), err.shape)
        assert np.all(err <= bound), f"error {err[worst]} > bound {bound[worst]} at {worst}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(1024, 1024, 1024), (513, 1031, 257), (1, 2000, 1), (3, 5, 4097),
                                   (199, 7, 301), (97, 1, 193)])
def test_large_product(rng, dtype, m, k, n):
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    check_product(dlcore.mm(T(a), T(b)), a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_operand_layouts(rng, dtype):
    """Row-major, column-major (transposed views, passed without a copy) and general strided
    operands (copied first) all give the same product."""
    m, k, n = 70, 300, 45
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    a_t = T(a.T.copy()).t()                    # column-major view
    b_t = T(b.T.copy()).t()
    a_s = T(np.repeat(a, 3, axis=1)).as_strided([m, k], [3 * k, 3], 0)  # column stride 3: copied
    b_s = T(np.repeat(b, 2, axis=0)).as_strided([k, n], [2 * n, 1], 0)  # padded rows: used as is
    ref = dlcore.mm(T(a), T(b)).numpy()
    for x in (T(a), a_t, a_s):
        for y in (T(b), b_t, b_s):
            out = dlcore.mm(x, y)
            check_product(out, a, b)
            assert out.is_contiguous()
            np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=4 * k * U[dtype] * np.abs(ref).max())


@pytest.mark.parametrize("m,k,n", [(29, 37, 70), (14, 16, 32), (3, 600, 97), (130, 271, 33)])
def test_column_major_packing_is_exact(rng, m, k, n):
    """Column-major float operands are packed by vector loads (transposed in registers for B):
    packing only moves data, so every layout gives bit-identical products. Sizes cover partial
    row panels, k not a multiple of 16 and more than one k block, partial column panels, and
    padded leading dimensions."""
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    ref = dlcore.mm(T(a), T(b)).numpy()
    check_product(dlcore.mm(T(a), T(b)), a, b)
    a_cm = T(a.T.copy()).t()
    b_cm = T(b.T.copy()).t()
    a_pad = T(np.concatenate([a.T, np.zeros((k, 5), np.float32)], axis=1)).t()[:m]  # leading dim m + 5
    b_pad = T(np.concatenate([b.T, np.zeros((n, 3), np.float32)], axis=1)).t()[:k]
    assert tuple(a_pad.stride()) == (1, m + 5) and tuple(b_pad.stride()) == (1, k + 3)
    for x in (T(a), a_cm, a_pad):
        for y in (T(b), b_cm, b_pad):
            np.testing.assert_array_equal(dlcore.mm(x, y).numpy(), ref)


def test_expanded_operands(rng):
    """Stride-0 operands (expanded rows, broadcast batches) are handled without wrong reuse."""
    row = rng.standard_normal((1, 20)).astype(np.float32)
    b = rng.standard_normal((20, 9)).astype(np.float32)
    a = T(row).expand(6, 20)
    check_product(dlcore.mm(a, T(b)), np.repeat(row, 6, axis=0), b)
    batch_b = T(b).expand(4, 20, 9)
    x = rng.standard_normal((4, 3, 20)).astype(np.float32)
    check_product(dlcore.bmm(T(x), batch_b), x, np.broadcast_to(b, (4, 20, 9)))


@pytest.mark.parametrize("sa,sb", [((3, 1, 40, 50), (4, 50, 30)), ((5, 64, 33), (33, 70)), ((33,), (2, 3, 33, 8)),
                                   ((2, 3, 8, 33), (33,)), ((7, 1, 1, 6), (1, 6, 2))])
def test_matmul_broadcast_vs_numpy(rng, sa, sb):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    out = dlcore.matmul(T(a), T(b))
    assert tuple(out.shape) == np.matmul(a, b).shape
    # compare as matrices: vectors promoted the numpy way, batch dims broadcast
    a2 = a[None] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a2 = np.broadcast_to(a2, batch + a2.shape[-2:])
    b2 = np.broadcast_to(b2, batch + b2.shape[-2:])
    check_product(out.reshape(batch + (a2.shape[-2], b2.shape[-1])), a2, b2)


def test_matmul_on_transposed_batch_without_fold(rng):
    """A batched transposed view (not foldable into rows) against a plain matrix."""
    x = rng.standard_normal((3, 40, 30)).astype(np.float32)
    w = rng.standard_normal((40, 20)).astype(np.float32)
    out = dlcore.matmul(T(x).mT, T(w))
    check_product(out, np.swapaxes(x, -1, -2), np.broadcast_to(w, (3, 40, 20)))


@pytest.mark.parametrize("shape", [((4, 5, 70, 33), (4, 5, 33, 90)), ((3, 100, 64), (3, 64, 50)),
                                   ((1, 8, 300), (1, 300, 2000)), ((2000, 300), (300, 8))])
def test_threads_give_identical_results(rng, shape):
    """Work is split by matrix or by row/column slabs; every element is summed in the same
    order whatever the split, so 1 and 2 threads agree bit for bit."""
    a = T(rng.standard_normal(shape[0]).astype(np.float32))
    b = T(rng.standard_normal(shape[1]).astype(np.float32))
    n = dlcore.get_num_threads()
    try:
        dlcore.set_num_threads(1)
        one = dlcore.matmul(a, b).numpy()
        dlcore.set_num_threads(2)
        two = dlcore.matmul(a, b).numpy()
    finally:
        dlcore.set_num_threads(n)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_matmul(rng, dtype):
    a = rng.integers(-50, 50, (3, 7, 33)).astype(dtype)
    b = rng.integers(-50, 50, (33, 5)).astype(dtype)
    out = dlcore.matmul(T(a), T(b))
    assert out.dtype == getattr(dlcore, np.dtype(dtype).name)
    np.testing.assert_array_equal(out.numpy(), a @ b)
    np.testing.assert_array_equal(dlcore.mm(T(a[0]).t(), T(a[1])).numpy(), a[0].T @ a[1])
    c = rng.integers(-50, 50, (5,)).astype(dtype)
    np.testing.assert_array_equal(dlcore.addmm(T(c), T(a[0]), T(b), beta=2, alpha=-3).numpy(), 2 * c - 3 * (a[0] @ b))
    with pytest.raises(TypeError, match="addmm: beta and alpha must be integers for"):
        dlcore.addmm(T(c), T(a[0]), T(b), alpha=0.5)


def test_empty_and_zero_k():
    assert tuple(dlcore.matmul(dlcore.ones(0, 3), dlcore.ones(3, 4)).shape) == (0, 4)
    assert tuple(dlcore.bmm(dlcore.ones(0, 3, 2), dlcore.ones(0, 2, 4)).shape) == (0, 3, 4)
    np.testing.assert_array_equal(dlcore.matmul(dlcore.ones(3, 0), dlcore.ones(0, 4)).numpy(), np.zeros((3, 4)))
    bias = dlcore.tensor(np.arange(4.0, dtype=np.float32))
    out = dlcore.addmm(bias, dlcore.ones(3, 0), dlcore.ones(0, 4), beta=2.0)
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to(2 * np.arange(4.0), (3, 4)))


def test_addmm_large_beta_alpha(rng):
    a = rng.standard_normal((300, 257)).astype(np.float32)
    b = rng.standard_normal((257, 130)).astype(np.float32)
    c = rng.standard_normal((130,)).astype(np.float32)
    check_product(dlcore.addmm(T(c), T(a), T(b), beta=0.25, alpha=3.0), a, b, bias=c, beta=0.25, alpha=3.0)


def test_rmatmul_and_method_forms(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    ta, tb = T(a), T(b)
    for out in (ta @ tb, tb.__rmatmul__(ta), ta.matmul(tb), ta.mm(tb), ta.unsqueeze(0).bmm(tb.unsqueeze(0)).squeeze(0)):
        check_product(out, a, b)


def test_default_capability_build_matches(tmp_path):
    """The baseline (SSE2) build of the kernel gives the same products (Note [CPU capability
    variants]); run in a fresh process because the variant is picked at import."""
    script = (
        "import numpy as np, dlcore\n"
        "assert dlcore._C._cpu_capability() == 'default'\n"
        "r = np.random.default_rng(1)\n"
        "for dt in (np.float32, np.float64):\n"
        "    a = r.standard_normal((67, 301)).astype(dt); b = r.standard_normal((301, 35)).astype(dt)\n"
        "    got = dlcore.mm(dlcore.tensor(a), dlcore.tensor(b).t().contiguous().t()).numpy()\n"
        "    want = a.astype(np.float64) @ b.astype(np.float64)\n"
        "    bound = 2 * 303 * float(np.finfo(dt).eps) * (np.abs(a).astype(np.float64) @ np.abs(b))\n"
        "    assert np.all(np.abs(got - want) <= bound)\n"
        "print('ok')\n")
    env = dict(os.environ, DLCORE_CPU_CAPABILITY="default")
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr


# ---- gradients against torch ------------------------------------------------------------------

def run_both(fn_dl, fn_torch, arrays, dtype=np.float64, seed=0):
    """Forward and backward (with a random upstream gradient) in dlcore and torch."""
    dl_in = [T(a.astype(dtype)).requires_grad_(True) for a in arrays]
    th_in = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out_dl, out_th = fn_dl(*dl_in), fn_torch(*th_in)
    g = np.random.default_rng(seed).standard_normal(tuple(out_th.shape)).astype(dtype)
    out_dl.backward(T(g))
    out_th.backward(torch.tensor(g))
    return out_dl, out_th, dl_in, th_in


def assert_grads_match(fn_dl, fn_torch, arrays, dtype=np.float64, rtol=1e-10, atol=1e-10):
    out_dl, out_th, dl_in, th_in = run_both(fn_dl, fn_torch, arrays, dtype)
    np.testing.assert_allclose(out_dl.detach().numpy(), out_th.detach().numpy(), rtol=rtol, atol=atol)
    for i, (x, y) in enumerate(zip(dl_in, th_in)):
        assert x.grad is not None, f"input {i} got no gradient"
        assert tuple(x.grad.shape) == tuple(y.grad.shape), f"input {i}"
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"input {i}")


@pytest.mark.parametrize("sa,sb", [((7,), (7,)), ((3, 7), (7,)), ((7,), (7, 5)), ((2, 1, 3, 4), (5, 4, 6)),
                                   ((4, 3, 5), (5, 2)), ((3, 5), (2, 5, 4)), ((5,), (2, 5, 3)), ((2, 3, 5), (5,)),
                                   ((6, 1, 40, 33), (1, 33, 70))])
def test_matmul_grad_vs_torch(rng, sa, sb):
    arrays = [rng.standard_normal(sa), rng.standard_normal(sb)]
    assert_grads_match(lambda a, b: a @ b, lambda a, b: a @ b, arrays)


def test_matmul_grad_float32_large(rng):
    arrays = [rng.standard_normal((2, 130, 257)), rng.standard_normal((257, 90))]
    # float32 gradients sum over K = 90 (grad_a) and over 2 * 130 rows (grad_b)
    assert_grads_match(lambda a, b: a @ b, lambda a, b: a @ b, arrays, dtype=np.float32, rtol=1e-4, atol=1e-4)


def test_mm_bmm_addmm_grad_vs_torch(rng):
    assert_grads_match(dlcore.mm, torch.mm, [rng.standard_normal((7, 33)), rng.standard_normal((33, 5))])
    assert_grads_match(dlcore.bmm, torch.bmm, [rng.standard_normal((3, 7, 4)), rng.standard_normal((3, 4, 6))])
    for bias_shape in [(6,), (5, 6), (1, 6), (5, 1)]:
        assert_grads_match(lambda c, a, b: dlcore.addmm(c, a, b, beta=0.5, alpha=-1.5),
                           lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=-1.5),
                           [rng.standard_normal(bias_shape), rng.standard_normal((5, 9)), rng.standard_normal((9, 6))])


@pytest.mark.parametrize("sx", [(4, 9), (2, 3, 9), (9,), (2, 1, 3, 9)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_grad_vs_torch(rng, sx, bias):
    arrays = [rng.standard_normal(sx), rng.standard_normal((5, 9))] + ([rng.standard_normal(5)] if bias else [])
    assert_grads_match(dlcore._C.linear, torch.nn.functional.linear, arrays)


def test_linear_noncontiguous_input_grad(rng):
    """x is a transposed (non-foldable) 3-d view: the batched path instead of the row fold."""
    xs, w, b = rng.standard_normal((2, 9, 3)), rng.standard_normal((5, 9)), rng.standard_normal(5)
    assert_grads_match(lambda x, w, b: dlcore._C.linear(x.mT, w, b),
                       lambda x, w, b: torch.nn.functional.linear(x.mT, w, b), [xs, w, b])


def test_only_needed_grads(rng):
    a = T(rng.standard_normal((3, 4))).requires_grad_(True)
    b = T(rng.standard_normal((4, 2)))
    (a @ b).sum().backward()
    assert a.grad is not None and b.grad is None


def test_double_backward(rng):
    """Backward formulas are themselves differentiable (written with matmul)."""
    a_np, b_np = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    a, b = T(a_np).requires_grad_(True), T(b_np).requires_grad_(True)
    (ga,) = dlcore.autograd.grad([((a @ b) * (a @ b)).sum()], [a], create_graph=True)
    ga.sum().backward()
    at, bt = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    (gat,) = torch.autograd.grad(((at @ bt) ** 2).sum(), [at], create_graph=True)
    gat.sum().backward()
    np.testing.assert_allclose(ga.detach().numpy(), gat.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), bt.grad.numpy(), rtol=1e-12)


def test_modified_saved_input_raises(rng):
    a = T(rng.standard_normal((3, 4))).requires_grad_(True)
    b = T(rng.standard_normal((4, 2))).requires_grad_(True)
    c = b * 1.0
    out = a @ c
    c.add_(1.0)
    with pytest.raises(RuntimeError):
        out.sum().backward()


# ---- linear's own backward (Note [Linear]) ----------------------------------------------------

@pytest.mark.parametrize("sx", [(6, 9), (2, 3, 9)])
def test_linear_weight_grad_layout(rng, sx):
    """grad_weight arrives in weight's (out, in) row-major layout, and the leaf keeps it."""
    x = T(rng.standard_normal(sx)).requires_grad_(True)
    w = T(rng.standard_normal((5, 9))).requires_grad_(True)
    b = T(rng.standard_normal(5)).requires_grad_(True)
    dlcore._C.linear(x, w, b).sum().backward()
    assert w.grad.is_contiguous() and tuple(w.grad.stride()) == (9, 1)
    assert tuple(b.grad.shape) == (5,)
    assert x.grad.is_contiguous()


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, False), (False, False, True),
                                   (False, True, True), (True, True, True)])
def test_linear_partial_grads(rng, needs):
    """Only the inputs that require grad get one, and they equal torch's."""
    arrays = [rng.standard_normal((4, 7)), rng.standard_normal((3, 7)), rng.standard_normal(3)]
    dl_in = [T(a).requires_grad_(r) for a, r in zip(arrays, needs)]
    th_in = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, needs)]
    g = rng.standard_normal((4, 3))
    dlcore._C.linear(*dl_in).backward(T(g))
    torch.nn.functional.linear(*th_in).backward(torch.tensor(g))
    for d, t, r in zip(dl_in, th_in, needs):
        assert (d.grad is not None) == r
        if r:
            np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_linear_strided_weight_and_input(rng):
    """A transposed weight view and a column-major input: operands the GEMM reads as they are."""
    w_t, xs, b = rng.standard_normal((9, 5)), rng.standard_normal((9, 4)), rng.standard_normal(5)
    assert_grads_match(lambda wt, xt, b: dlcore._C.linear(xt.t(), wt.t(), b),
                       lambda wt, xt, b: torch.nn.functional.linear(xt.t(), wt.t(), b), [w_t, xs, b])


def test_linear_float32_training_shapes(rng):
    """The MLP's first layer in float32: grads summed over 128 rows (weight) and 256 outputs (x)."""
    arrays = [rng.standard_normal((128, 784)), rng.standard_normal((256, 784)) * 0.05, rng.standard_normal(256)]
    assert_grads_match(dlcore._C.linear, torch.nn.functional.linear, arrays, dtype=np.float32, rtol=1e-4,
                       atol=1e-4)


def test_linear_double_backward(rng):
    """LinearBackward's formulas carry history under create_graph."""
    xn, wn, bn = rng.standard_normal((4, 6)), rng.standard_normal((3, 6)), rng.standard_normal(3)
    x, w, b = (T(a).requires_grad_(True) for a in (xn, wn, bn))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (xn, wn, bn))
    y = dlcore._C.linear(x, w, b)
    (gx, gw) = dlcore.autograd.grad([(y * y).sum()], [x, w], create_graph=True)
    yt = torch.nn.functional.linear(xt, wt, bt)
    (gxt, gwt) = torch.autograd.grad((yt * yt).sum(), [xt, wt], create_graph=True)
    ((gx * gx).sum() + (gw * gw).sum()).backward()
    ((gxt * gxt).sum() + (gwt * gwt).sum()).backward()
    for d, t in ((x, xt), (w, wt), (b, bt)):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(1, 16, 1), (1, 256, 768), (2, 33, 70), (2, 1000, 3), (1, 4099, 130)])
def test_row_vector_products(rng, dtype, m, k, n):
    """One or two rows times a B with contiguous columns (x @ W^T, Note [Row-vector products]):
    dot products in vector lanes, within the rounding bound, the same for 1 and 2 threads, in
    mm, addmm (beta), linear and a batched matmul."""
    a = rng.standard_normal((m, k)).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    bias = rng.standard_normal((m, n)).astype(dtype)
    wt = T(w).t()  # (k, n) with unit row stride
    check_product(dlcore.mm(T(a), wt), a, w.T)
    check_product(dlcore.addmm(T(bias), T(a), wt, beta=0.5, alpha=2.0), a, w.T, bias, beta=0.5, alpha=2.0)
    check_product(dlcore.nn.functional.linear(T(a), T(w), T(bias[0])), a, w.T, np.broadcast_to(bias[0], (m, n)))
    batched = np.stack([a, a[::-1]])
    check_product(dlcore.matmul(T(batched), wt), batched, w.T)
    threads = dlcore.get_num_threads()
    try:
        dlcore.set_num_threads(1)
        one = dlcore.mm(T(a), wt).numpy()
        dlcore.set_num_threads(2)
        two = dlcore.mm(T(a), wt).numpy()
    finally:
        dlcore.set_num_threads(threads)
    np.testing.assert_array_equal(one, two)
