"""The autograd engine: accumulation, graph freeing, version checks, grad mode, long chains."""
import numpy as np
import pytest

import dlcore


def leaf(*shape, seed=0):
    dlcore.manual_seed(seed)
    return dlcore.randn(*shape, dtype=dlcore.float64, requires_grad=True)


def test_grad_accumulates_across_backward_calls():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 5.0))


def test_shared_input_gets_summed_gradient():
    x = leaf(4)
    y = x * x + x.exp() * x          # x used by several nodes
    y.sum().backward()
    xv = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * xv + np.exp(xv) * (1 + xv), rtol=1e-12)


def test_broadcast_gradient_is_reduced_to_input_shape():
    a = leaf(3, 1, 5)
    b = leaf(4, 5, seed=1)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1, 5) and b.grad.shape == (4, 5)
    np.testing.assert_allclose(a.grad.numpy(), np.broadcast_to(b.detach().numpy().sum(0), (3, 1, 5)), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), np.broadcast_to(a.detach().numpy().sum((0, 1)), (4, 5)), rtol=1e-12)


def test_second_backward_without_retain_graph_raises():
    x = leaf(3)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = leaf(3)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.detach().numpy())


def test_inplace_change_of_saved_tensor_is_caught():
    x = leaf(3)
    a = x * 1.0
    y = a * a                         # saves a
    with dlcore.no_grad():
        a.add_(1.0)
    with pytest.raises(RuntimeError, match=r"modified by an in-place operation.*version 1; expected version 0.*MulBackward"):
        y.sum().backward()


def test_inplace_on_output_saved_by_exp_is_caught():
    x = leaf(3)
    y = x.exp()
    z = y * 1.0
    y.mul_(2.0)                       # y requires grad and is no leaf: allowed, but exp saved it
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()
        y.sum().backward()


def test_inplace_history_is_rebased():
    x = leaf(4)
    y = x * 2.0
    y.add_(x)                         # y = 3x
    y.mul_(x)                         # y = 3x^2
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy(), rtol=1e-12)


def test_inplace_on_leaf_requiring_grad_raises():
    x = leaf(2)
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad .* in-place operation"):
        x.add_(1.0)


def test_version_counter_counts_writes():
    x = dlcore.zeros(3)
    v = x._version
    x.add_(1)
    x[0] = 5.0 if hasattr(dlcore.Tensor, "__setitem__") else x.fill_(5.0)
    assert x._version >= v + 2


def test_no_grad_and_enable_grad():
    x = leaf(2)
    with dlcore.no_grad():
        y = x * 2
        with dlcore.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @dlcore.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    dlcore.set_grad_enabled(False)
    try:
        assert not (x * 1).requires_grad
    finally:
        dlcore.set_grad_enabled(True)
    assert (x * 1).requires_grad


def test_long_chain_runs_iteratively():
    x = leaf(1)
    y = x
    for _ in range(1000):
        y = y * 1.001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.001 ** 1000], rtol=1e-10)


def test_very_long_chain_does_not_overflow_the_stack():
    x = leaf(1)
    y = x
    for _ in range(20000):
        y = y + 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_autograd_grad_leaves_dot_grad_alone():
    x = leaf(3)
    y = (x ** 3).sum()
    (g,) = dlcore.autograd.grad(y, x)
    np.testing.assert_allclose(g.numpy(), 3 * x.detach().numpy() ** 2, rtol=1e-12)
    assert x.grad is None


def test_autograd_grad_of_intermediate_and_unused():
    x = leaf(3)
    h = x * 2
    y = (h * h).sum()
    w = leaf(2, seed=3)
    gh, gw = dlcore.autograd.grad(y, [h, w], allow_unused=True)
    np.testing.assert_allclose(gh.numpy(), 2 * h.detach().numpy())
    assert gw is None
    with pytest.raises(RuntimeError, match="was not used in the graph"):
        dlcore.autograd.grad((x * 1).sum(), [w])


def test_create_graph_gives_second_derivatives():
    x = leaf(4)
    y = (x ** 3).sum()
    (g,) = dlcore.autograd.grad(y, x, create_graph=True)   # 3x^2
    (gg,) = dlcore.autograd.grad(g.sum(), x)                 # 6x
    np.testing.assert_allclose(gg.numpy(), 6 * x.detach().numpy(), rtol=1e-12)


def test_retain_grad_on_intermediate():
    x = leaf(3)
    h = x * 2
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.detach().numpy())
    assert x.grad is not None


def test_backward_needs_gradient_for_non_scalar():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(dlcore.ones(3, dtype=dlcore.float64))
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dlcore.ones(1).backward()


def test_requires_grad_rules():
    x = leaf(2)
    y = x * 2
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf tensors"):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        dlcore.ones(2, dtype=dlcore.int64).requires_grad_(True)
    assert y.detach().requires_grad is False and y.detach().grad_fn is None
    assert x.is_leaf and not y.is_leaf


def test_detach_shares_storage_and_version():
    x = leaf(3)
    d = x.detach()
    d.add_(1.0)
    assert d.data_ptr() == x.data_ptr()
    assert x._version == d._version


def test_grad_fn_names_and_graph():
    x = leaf(2)
    y = (x * 2).exp()
    assert y.grad_fn.name() == "ExpBackward"
    nxt = y.grad_fn.next_functions
    assert nxt[0][0].name() == "MulBackward"
    assert nxt[0][0].next_functions[0][0].name() == "AccumulateGrad"


def test_saved_tensors_are_freed_after_backward():
    import sys
    arr = np.ones(10)
    base = sys.getrefcount(arr)
    x = leaf(10)
    y = (x * dlcore.from_numpy(arr)).sum()   # MulBackward saves the numpy-backed tensor
    assert sys.getrefcount(arr) == base + 1
    y.backward()
    assert sys.getrefcount(arr) == base      # released as the walk passed the node


def test_mixed_dtype_gradients_come_back_in_input_dtype():
    a = dlcore.ones(3, requires_grad=True)                       # float32
    b = dlcore.ones(3, dtype=dlcore.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == dlcore.float32 and b.grad.dtype == dlcore.float64


@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh", "sqrt", "rsqrt", "softmax", "log_softmax"])
def test_second_derivative_through_saved_outputs_matches_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x_np = rng.uniform(0.5, 2.0, (3, 4))
    w_np = rng.standard_normal((3, 4))

    def run(lib, x, w):
        f = {"softmax": lambda t: lib.softmax(t, 1), "log_softmax": lambda t: lib.log_softmax(t, 1)}.get(
            name, getattr(lib, name))
        y = (f(x) * w).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), x)
        return gg

    x = dlcore.tensor(x_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    got = run(dlcore, x, dlcore.tensor(w_np)).numpy()
    want = run(torch, xt, torch.tensor(w_np)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_double_backward_through_fused_kernels_raises():
    x = dlcore.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 5)), requires_grad=True)
    w = dlcore.tensor(np.random.default_rng(1).standard_normal((3, 2, 3, 3)), requires_grad=True)
    (g,) = dlcore.autograd.grad(dlcore.nn.functional.conv2d(x, w).sum(), x, create_graph=False)
    assert g.shape == (1, 2, 5, 5)
    with pytest.raises(NotImplementedError, match="Backward: double backward .* is not supported"):
        (g,) = dlcore.autograd.grad(dlcore.nn.functional.conv2d(x, w).sum(), x, create_graph=True)
        dlcore.autograd.grad(g.sum(), w)


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu", "softplus", "elu"])
def test_activation_second_derivatives_match_torch(name):
    # Note [Activation double backward]: under create_graph the fused kernels' derivative is
    # written in differentiable ops.
    torch = pytest.importorskip("torch")
    calls = {"gelu": lambda F, t: F.gelu(t), "gelu_tanh": lambda F, t: F.gelu(t, approximate="tanh"),
             "silu": lambda F, t: F.silu(t), "softplus": lambda F, t: F.softplus(t, 2.0, 3.0),
             "elu": lambda F, t: F.elu(t, 0.7)}
    x = np.random.default_rng(2).standard_normal(9) * 3
    a, b = dlcore.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (ga,) = dlcore.autograd.grad(calls[name](dlcore.nn.functional, a).sum(), a, create_graph=True)
    (gb,) = torch.autograd.grad(calls[name](torch.nn.functional, b).sum(), b, create_graph=True)
    np.testing.assert_allclose(ga.detach().numpy(), gb.detach().numpy(), rtol=1e-12, atol=1e-14)
    (ha,) = dlcore.autograd.grad((ga * ga).sum(), a)
    (hb,) = torch.autograd.grad((gb * gb).sum(), b)
    np.testing.assert_allclose(ha.numpy(), hb.numpy(), rtol=1e-10, atol=1e-12)


def _strided_leaf(kind, seed=0):
    """A float64 leaf requiring grad that is a non-contiguous view of a larger buffer."""
    base = dlcore.tensor(np.random.default_rng(seed).uniform(-1.0, 1.0, (4, 6, 3)))
    view = {"transposed": lambda b: b[0].t(),              # (3, 6), strides (1, 3)
            "stepped": lambda b: b[1:, ::2, :2],           # (3, 3, 2), strides (18, 6, 1), offset 18
            "permuted": lambda b: b.permute(2, 0, 1)[:, 1:3]}[kind](base)
    assert not view.is_contiguous()
    return view.requires_grad_()


@pytest.mark.parametrize("kind", ["transposed", "stepped", "permuted"])
@pytest.mark.parametrize("op", ["sin", "mul_sum", "matmul"])
def test_gradcheck_accepts_correct_gradients_of_non_contiguous_inputs(kind, op):
    x = _strided_leaf(kind)
    w = dlcore.tensor(np.random.default_rng(1).standard_normal(tuple(x.shape)), requires_grad=True)
    fn = {"sin": lambda a, b: dlcore.sin(a) * b,
          "mul_sum": lambda a, b: (a * a * b).sum(-1),
          "matmul": lambda a, b: dlcore.matmul(a, b.transpose(-1, -2))}[op]
    before = x.detach().numpy().copy()
    assert dlcore.autograd.gradcheck(fn, (x, w))
    np.testing.assert_array_equal(x.detach().numpy(), before)   # perturbations undone


@pytest.mark.parametrize("kind", ["transposed", "stepped"])
def test_gradcheck_still_catches_a_wrong_gradient_of_non_contiguous_input(kind):
    x = _strided_leaf(kind)
    wrong = lambda a: a + (2 * a).detach()   # value 3a, but autograd sees gradient 1
    assert dlcore.autograd.gradcheck(wrong, (x,), raise_exception=False) is False
    with pytest.raises(AssertionError, match="gradcheck: mismatch for input 0"):
        dlcore.autograd.gradcheck(wrong, (x,))


def test_gradcheck_rejects_expanded_inputs():
    x = dlcore.tensor(np.arange(3.0)).expand(4, 3).requires_grad_()
    with pytest.raises(ValueError, match="gradcheck: input 0 has a dimension with stride 0"):
        dlcore.autograd.gradcheck(dlcore.sin, (x,))
