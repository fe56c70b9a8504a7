"""autograd.Function, tensor and node hooks, and anomaly mode, against PyTorch."""
import gc
import warnings
import weakref

import numpy as np
import pytest

import dlcore

torch = pytest.importorskip("torch")


def make_functions(lib):
    """The same custom Functions written for dlcore or for torch (``lib``)."""
    F = lib.autograd.Function

    class ClampSTE(F):
        """Clamps in forward; passes the gradient straight through inside [lo, hi]."""

        @staticmethod
        def forward(ctx, x, lo, hi):
            ctx.save_for_backward(x)
            ctx.lo, ctx.hi = lo, hi
            return x.clamp(lo, hi)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            mask = ((x >= ctx.lo) & (x <= ctx.hi)).to(g.dtype)
            return g * mask, None, None

    class SortedWithIndex(F):
        """Two outputs, the second non-differentiable."""

        @staticmethod
        def forward(ctx, x):
            values, idx = x.sort()
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return values, idx

        @staticmethod
        def backward(ctx, g_values, g_idx):
            (idx,) = ctx.saved_tensors
            out = lib.zeros_like(g_values)
            out[idx] = g_values
            return out

    class MulAdd_(F):
        """In place: x.mul_(a).add_(b), with mark_dirty."""

        @staticmethod
        def forward(ctx, x, a, b):
            ctx.a = a
            x.mul_(a).add_(b)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * ctx.a, None, None

    class Cube(F):
        """Backward written with differentiable ops, so it can be differentiated again."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    class ExpSavesOutput(F):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class Scale(F):
        """New-style: forward without ctx plus setup_context; non-tensor argument."""

        @staticmethod
        def forward(x, factor, shift=0.0):
            return x * factor + shift

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.factor = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.factor, None, None

    return dict(ClampSTE=ClampSTE, SortedWithIndex=SortedWithIndex, MulAdd_=MulAdd_, Cube=Cube,
                ExpSavesOutput=ExpSavesOutput, Scale=Scale)


D = make_functions(dlcore)
T = make_functions(torch)
X = np.array([[-1.5, 0.2, 0.7], [2.5, -0.3, 1.1]])


def pair(a=X, dtype="float64"):
    return (dlcore.tensor(a, dtype=getattr(dlcore, dtype), requires_grad=True),
            torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True))


def close(d, t, tol=1e-12):
    np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol)


# ---- Function ----------------------------------------------------------------------------------
def test_clamp_straight_through_matches_torch():
    x, xt = pair()
    y, yt = D["ClampSTE"].apply(x, -1.0, 1.0), T["ClampSTE"].apply(xt, -1.0, 1.0)
    close(y, yt)
    assert y.grad_fn.name() == "ClampSTEBackward" == yt.grad_fn.name()
    w = np.arange(6.0).reshape(2, 3)
    (y * dlcore.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    close(x.grad, xt.grad)


def test_two_outputs_one_non_differentiable():
    x, xt = pair(X[0])
    (v, i), (vt, it) = D["SortedWithIndex"].apply(x), T["SortedWithIndex"].apply(xt)
    assert v.requires_grad and not i.requires_grad and not it.requires_grad
    np.testing.assert_array_equal(i.numpy(), it.numpy())
    w = np.array([1.0, 10.0, 100.0])
    (v * dlcore.tensor(w)).sum().backward()
    (vt * torch.tensor(w)).sum().backward()
    close(x.grad, xt.grad)


def test_mark_dirty_inplace_function():
    x, xt = pair()
    y, yt = x * 2, xt * 2
    z, zt = D["MulAdd_"].apply(y, 3.0, 1.0), T["MulAdd_"].apply(yt, 3.0, 1.0)
    assert z is y and z.grad_fn.name() == "MulAdd_Backward"
    close(z, zt)
    z.sum().backward()
    zt.sum().backward()
    close(x.grad, xt.grad)


def test_mark_dirty_on_leaf_that_requires_grad_raises():
    x, _ = pair()
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        D["MulAdd_"].apply(x, 2.0, 0.0)


def test_mark_dirty_invalidates_earlier_saved_tensor():
    x, _ = pair()
    y = x * 2
    s = y * y  # saves y
    D["MulAdd_"].apply(y, 3.0, 0.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        s.sum().backward()


def test_setup_context_style_with_non_tensor_and_kwargs():
    x, xt = pair()
    y, yt = D["Scale"].apply(x, 2.5, shift=1.0), T["Scale"].apply(xt, 2.5, shift=1.0)
    close(y, yt)
    y.sum().backward()
    yt.sum().backward()
    close(x.grad, xt.grad)


def test_double_backward_through_custom_function():
    for name in ("Cube", "ExpSavesOutput"):
        x, xt = pair(X[0])
        (g,) = dlcore.autograd.grad(D[name].apply(x).sum(), x, create_graph=True)
        (gt,) = torch.autograd.grad(T[name].apply(xt).sum(), xt, create_graph=True)
        close(g, gt)
        g.sum().backward()
        gt.sum().backward()
        close(x.grad, xt.grad)


def test_gradcheck_and_gradgradcheck_custom_function():
    x, _ = pair(X[0])
    assert dlcore.autograd.gradcheck(lambda t: D["ClampSTE"].apply(t, -1.0, 1.0), (x,))
    assert dlcore.autograd.gradcheck(D["Cube"].apply, (x,))
    assert dlcore.autograd.gradgradcheck(D["Cube"].apply, (x,))


def test_gradcheck_catches_a_wrong_backward():
    class WrongSquare(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2 * x

    x, _ = pair(X[0])
    assert not dlcore.autograd.gradcheck(WrongSquare.apply, (x,), raise_exception=False)


def test_needs_input_grad_and_ctx_attributes():
    seen = {}

    class Probe(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            ctx.tag = ("anything", k)
            seen["fwd"] = ctx.needs_input_grad
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            seen["bwd"] = (ctx.needs_input_grad, ctx.tag)
            return None, g * 7, None

    a = dlcore.ones(2)
    b = dlcore.ones(2, requires_grad=True)
    y = Probe.apply(a, b, 3)
    y.sum().backward()
    assert seen["fwd"] == (False, True, False)
    assert seen["bwd"] == ((False, True, False), ("anything", 3))
    np.testing.assert_allclose(b.grad.numpy(), [7.0, 7.0])
    assert y.grad_fn.tag == ("anything", 3)


def test_no_record_without_requires_grad_or_under_no_grad():
    x = dlcore.ones(3)
    assert D["Cube"].apply(x).grad_fn is None
    x.requires_grad_(True)
    with dlcore.no_grad():
        y = D["Cube"].apply(x)
    assert y.grad_fn is None and not y.requires_grad


def test_materialize_grads():
    got = {}

    def make(materialize):
        class Two(dlcore.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(materialize)
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                got[materialize] = g2
                return g1 * 2 if g2 is None else g1 * 2 + g2 * 3

        return Two

    for m in (True, False):
        x = dlcore.ones(2, requires_grad=True)
        a, _ = make(m).apply(x)
        a.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    assert got[False] is None
    np.testing.assert_array_equal(got[True].numpy(), [0.0, 0.0])


def test_invalid_gradient_shape_message_matches_torch():
    def bad(lib):
        class Bad(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g.sum(0)

        return Bad

    x, xt = dlcore.ones(2, 3, requires_grad=True), torch.ones(2, 3, requires_grad=True)
    msg = r"Function BadBackward returned an invalid gradient at index 0 - got \[3\] but expected shape " \
          r"compatible with \[2, 3\]"
    with pytest.raises(RuntimeError, match=msg):
        bad(dlcore).apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=msg):
        bad(torch).apply(xt).sum().backward()


def test_broadcastable_gradient_is_summed_and_dtype_cast():
    class Wide(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return dlcore.ones(4, 3, dtype=dlcore.float64)  # broadcasts to [3], float64 -> float32

    x = dlcore.ones(3, requires_grad=True)
    Wide.apply(x).sum().backward()
    assert x.grad.dtype == dlcore.float32
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0, 4.0])


def test_wrong_number_of_gradients_and_bad_types():
    def fn(result):
        class Fn(dlcore.autograd.Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * k

            @staticmethod
            def backward(ctx, g):
                return result(g)

        return Fn

    x = dlcore.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 2, got 1\)"):
        fn(lambda g: g).apply(x, 2.0).sum().backward()
    with pytest.raises(RuntimeError, match="not a Tensor"):
        fn(lambda g: (g, g)).apply(x, 2.0).sum().backward()
    with pytest.raises(TypeError, match="returned a str as the gradient at index 0"):
        fn(lambda g: ("no", None)).apply(x, 2.0).sum().backward()
    fn(lambda g: (g, None, None)).apply(x, 2.0).sum().backward()  # extra Nones are fine
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_exception_in_backward_propagates_with_its_type():
    class Boom(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x + 1

        @staticmethod
        def backward(ctx, g):
            raise KeyError("from backward")

    x = dlcore.ones(2, requires_grad=True)
    with pytest.raises(KeyError, match="from backward"):
        Boom.apply(x).sum().backward()


def test_saved_tensor_modified_in_place_raises():
    x = dlcore.ones(3, dtype=dlcore.float64, requires_grad=True)
    h = x * 1
    y = D["Cube"].apply(h)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation.*CubeBackward"):
        y.sum().backward()


def test_second_backward_after_free_raises_and_retain_graph_works():
    x = dlcore.ones(3, dtype=dlcore.float64, requires_grad=True)
    y = D["Cube"].apply(x)
    g = dlcore.ones(3, dtype=dlcore.float64)
    y.backward(g, retain_graph=True)
    y.backward(g)
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0, 6.0])
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*CubeBackward"):
        y.backward(g)


def test_input_returned_as_is_gets_the_node():
    class Identity(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    x = dlcore.ones(2, requires_grad=True)
    y = Identity.apply(x)
    assert y is not x and y.grad_fn.name() == "IdentityBackward" and x.is_leaf
    assert y.data_ptr() == x.data_ptr()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0])


def test_once_differentiable():
    class Sq(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @dlcore.autograd.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = dlcore.tensor([1.0, 2.0], requires_grad=True)
    Sq.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    v = dlcore.ones(2, requires_grad=True)
    (g,) = dlcore.autograd.grad(Sq.apply(x), x, v, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), [2.0, 4.0])
    assert g.requires_grad
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked with "
                                           "@once_differentiable"):
        g.sum().backward()


def test_mark_dirty_must_name_a_returned_input():
    class Sneaky(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="marked as dirty .* not returned"):
        Sneaky.apply(dlcore.ones(2, requires_grad=True) * 1)


def test_save_for_backward_rejects_non_tensors():
    class Saver(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="save_for_backward: argument 1 is a int"):
        Saver.apply(dlcore.ones(2, requires_grad=True))


def test_legacy_call_and_base_apply_raise():
    with pytest.raises(RuntimeError, match="non-static forward"):
        D["Cube"]()(dlcore.ones(2))
    with pytest.raises(RuntimeError, match="subclass"):
        dlcore.autograd.Function.apply(dlcore.ones(2))


def test_ctx_and_outputs_do_not_leak():
    ctx_refs = []

    class Keep(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            ctx_refs.append(weakref.ref(ctx))
            ctx.save_for_backward(x, y)  # an input and an output
            return y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * 2

    x = dlcore.ones(3, requires_grad=True)
    y = Keep.apply(x)
    out_ref = weakref.ref(y)
    del y
    gc.collect()
    assert ctx_refs[0]() is None and out_ref() is None
    y = Keep.apply(x)
    y.sum().backward(retain_graph=True)
    del y
    gc.collect()
    assert ctx_refs[1]() is None


# ---- hooks ---------------------------------------------------------------------------------------
def test_tensor_hooks_on_leaf_and_non_leaf_match_torch():
    def run(lib):
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        log = []
        x.register_hook(lambda g: log.append(("x1", g.tolist())) or g * 10)
        x.register_hook(lambda g: log.append(("x2", g.tolist())))
        y = x * x
        y.register_hook(lambda g: g + 1)
        y.retain_grad()
        (y * 3).sum().backward()
        return x.grad.tolist(), y.grad.tolist(), log

    assert run(dlcore) == run(torch)


def test_hook_remove_and_hooks_in_autograd_grad():
    def run(lib):
        x = lib.ones(3, requires_grad=True)
        h = x.register_hook(lambda g: g * 10)
        (g1,) = lib.autograd.grad((x * 2).sum(), x)
        h.remove()
        h.remove()
        (g2,) = lib.autograd.grad((x * 2).sum(), x)
        y = x * 2
        y.register_hook(lambda g: g * 100)
        (g3,) = lib.autograd.grad(y.sum(), y)
        return g1.tolist(), g2.tolist(), g3.tolist()

    assert run(dlcore) == run(torch)


def test_hook_errors():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        dlcore.ones(2).register_hook(lambda g: g)
    x = dlcore.ones(2, requires_grad=True)
    x.register_hook(lambda g: dlcore.ones(3))
    with pytest.raises(RuntimeError, match=r"changed the gradient's shape from \[2\] to \[3\]"):
        (x * 2).sum().backward()
    y = dlcore.ones(2, requires_grad=True)
    y.register_hook(lambda g: "nope")
    with pytest.raises(TypeError, match="must return a tensor or None, got str"):
        (y * 2).sum().backward()
    with pytest.raises(RuntimeError, match="cannot be registered on non-leaf"):
        (y * 2).register_post_accumulate_grad_hook(lambda t: None)


def test_post_accumulate_grad_hook_sees_accumulated_grad():
    def run(lib):
        x = lib.ones(2, requires_grad=True)
        seen = []
        h = x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
        (x * 3).sum().backward()
        (x * 4).sum().backward()
        lib.autograd.grad((x * 5).sum(), x)  # no accumulation, no call
        h.remove()
        (x * 5).sum().backward()
        return seen, x.grad.tolist()

    assert run(dlcore) == run(torch)


def test_node_hooks_match_torch():
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * x
        log = []
        y.grad_fn.register_prehook(lambda go: (go[0] * 10,))
        y.grad_fn.register_hook(lambda gi, go: log.append((gi[0].tolist(), go[0].tolist())))
        y.sum().backward()
        return log, x.grad.tolist()

    assert run(dlcore) == run(torch)


def test_hook_on_dead_tensor_is_dropped():
    x = dlcore.ones(2, requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append(1))
    ref = weakref.ref(x)
    del x
    gc.collect()
    assert ref() is None
    z = dlcore.ones(2, requires_grad=True)
    (z * 2).sum().backward()
    assert calls == []


# ---- anomaly mode --------------------------------------------------------------------------------
def test_anomaly_flags():
    assert not dlcore.autograd.is_anomaly_enabled()
    with dlcore.autograd.set_detect_anomaly(True, check_nan=False):
        assert dlcore.autograd.is_anomaly_enabled() and not dlcore.autograd.is_anomaly_check_nan_enabled()
    assert not dlcore.autograd.is_anomaly_enabled() and dlcore.autograd.is_anomaly_check_nan_enabled()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        @dlcore.autograd.detect_anomaly()
        def inside():
            return dlcore.autograd.is_anomaly_enabled()

        assert inside()
    assert not dlcore.autograd.is_anomaly_enabled()


def test_anomaly_nan_names_the_op_and_its_forward_line():
    x = dlcore.zeros(2, requires_grad=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with dlcore.autograd.detect_anomaly():
            y = x.sqrt() * 0  # forward line: d sqrt at 0 is inf, times 0 is nan
            with pytest.raises(RuntimeError, match="Function 'SqrtBackward' returned nan values in its 0th output."):
                y.sum().backward()
    reports = [str(m.message) for m in w if "Error detected in SqrtBackward" in str(m.message)]
    assert len(reports) == 1 and "y = x.sqrt() * 0" in reports[0]


def test_anomaly_reports_forward_stack_of_failing_custom_function():
    class Fails(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            raise ValueError("bad backward")

    x = dlcore.ones(2, requires_grad=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with dlcore.autograd.detect_anomaly():
            y = Fails.apply(x)  # the recorded line
        with pytest.raises(ValueError, match="bad backward"):
            with dlcore.autograd.detect_anomaly():
                y.sum().backward()
    reports = [str(m.message) for m in w if "Error detected in FailsBackward" in str(m.message)]
    assert len(reports) == 1 and "y = Fails.apply(x)" in reports[0]


def test_no_nan_check_without_anomaly_mode():
    x = dlcore.zeros(2, requires_grad=True)
    (x.sqrt() * 0).sum().backward()
    assert np.isnan(x.grad.numpy()).all()


# ---- Variable ------------------------------------------------------------------------------------
def test_variable_is_a_tensor_alias():
    t = dlcore.ones(2)
    v = dlcore.autograd.Variable(t, requires_grad=True)
    vt = torch.autograd.Variable(torch.ones(2), requires_grad=True)
    assert v.requires_grad == vt.requires_grad and v is not t and v.data_ptr() == t.data_ptr()
    assert isinstance(t, dlcore.autograd.Variable) and not isinstance(3, dlcore.autograd.Variable)
    assert dlcore.autograd.variable.Variable is dlcore.autograd.Variable
    assert not dlcore.autograd.Variable(t).requires_grad
    with pytest.raises(TypeError, match="Variable: data must be a Tensor"):
        dlcore.autograd.Variable([1.0])


def test_non_tensor_output_gets_none_gradient():
    def run(lib):
        got = []

        class WithCount(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, 7

            @staticmethod
            def backward(ctx, g, g_count):
                got.append(g_count)
                return g * 2

        x = lib.ones(3, requires_grad=True)
        y, n = WithCount.apply(x)
        y.sum().backward()
        return n, got, x.grad.tolist()

    assert run(dlcore) == run(torch) == (7, [None], [2.0, 2.0, 2.0])


def test_integer_gradient_for_float_input_raises():
    class IntGrad(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return dlcore.ones(3, dtype=dlcore.int64)

    x = dlcore.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="IntGradBackward returned an invalid gradient at index 0 - expected dtype "
                                           "float32 but got int64"):
        IntGrad.apply(x).sum().backward()


def test_hooks_on_views_and_node_hook_removal():
    def run(lib):
        x = lib.arange(6.0, requires_grad=True)
        y = (x * 1).reshape(2, 3)
        col = y[:, 1]  # a non-contiguous view
        col.register_hook(lambda g: g * 7)
        z = col * col
        h = z.grad_fn.register_prehook(lambda go: (go[0] * 0,))
        h.remove()
        z.sum().backward()
        return x.grad.tolist()

    assert run(dlcore) == run(torch)


def test_once_differentiable_second_derivative_through_saved_inputs_raises():
    # The seed gradient does not require grad, but the backward's result depends on the saved
    # input: a second derivative would silently miss that term, so it must raise.
    class Cube(dlcore.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @dlcore.autograd.function.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    x = dlcore.tensor([1.0, 2.0], dtype=dlcore.float64, requires_grad=True)
    (g,) = dlcore.autograd.grad((Cube.apply(x) + x * x).sum(), x, create_graph=True)
    assert g.tolist() == [5.0, 16.0]
    with pytest.raises(RuntimeError, match="once_differentiable"):
        dlcore.autograd.grad(g.sum(), x)
