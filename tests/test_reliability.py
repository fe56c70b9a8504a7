"""Inputs that used to crash the process or give silently wrong answers: size arithmetic past
int64, zero-size operands, overlapping memory in in-place ops, autograd through views of
tensors modified in place, deep graphs, concurrent backward, fork and thread settings.

Every case either raises a clear Python exception naming the op, or matches PyTorch."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch

import dlcore
import dlcore.nn.functional as F
from dlcore.autograd import gradcheck

HUGE = 1 << 62


def run_isolated(code, timeout=120):
    """Runs `code` in a fresh interpreter (a crash there cannot take pytest down)."""
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                       timeout=timeout, env=env)
    return r.returncode, r.stdout + r.stderr


# ---- size arithmetic ------------------------------------------------------------------------------
SIZE_OVERFLOWS = {
    "zeros": lambda: dlcore.zeros(HUGE),
    "zeros_2d": lambda: dlcore.zeros(2**32, 2**32),
    "ones": lambda: dlcore.ones(HUGE, 4),
    "full": lambda: dlcore.full((HUGE,), 1.0),
    "empty": lambda: dlcore.empty(HUGE, 4),
    "rand": lambda: dlcore.rand(HUGE),
    "randn": lambda: dlcore.randn(2**31, 2**31),
    "randint": lambda: dlcore.randint(0, 5, (HUGE,)),
    "randperm": lambda: dlcore.randperm(HUGE),
    "linspace": lambda: dlcore.linspace(0, 1, HUGE),
    "arange": lambda: dlcore.arange(0, HUGE),
    "eye": lambda: dlcore.eye(2**63 - 1, 2),
    "expand": lambda: dlcore.ones(1, 1).expand(2**32, 2**32),
    "repeat": lambda: dlcore.ones(2, 2).repeat(2**40, 2**40),
    "tile": lambda: dlcore.ones(2, 2).tile((2**40, 2**40)),
    "one_hot": lambda: F.one_hot(dlcore.tensor([1, 2]), HUGE),
    "new_full": lambda: dlcore.ones(2).new_full((2**40, 2**40), 1.0),
    "adaptive_avg_pool2d": lambda: F.adaptive_avg_pool2d(dlcore.ones(1, 1, 4, 4), 1 << 31),
    "adaptive_max_pool2d": lambda: F.adaptive_max_pool2d(dlcore.ones(1, 1, 4, 4), (2, HUGE)),
    "interpolate": lambda: F.interpolate(dlcore.ones(1, 1, 4, 4), size=1 << 40),
    "interpolate_scale": lambda: F.interpolate(dlcore.ones(1, 1, 4, 4), scale_factor=1e300),
    "conv2d_padding": lambda: F.conv2d(dlcore.ones(1, 1, 5, 5), dlcore.ones(1, 1, 3, 3), None, 2**62, 2**40),
    "conv_transpose1d": lambda: F.conv_transpose1d(dlcore.ones(1, 1, 3), dlcore.ones(1, 1, 1), None, 2**63 - 1),
    "max_pool1d": lambda: F.max_pool1d(dlcore.ones(1, 2, 3), (2**63 - 1,), (2**31,), (0,), 2**40, False),
}


@pytest.mark.parametrize("name", sorted(SIZE_OVERFLOWS))
def test_size_overflow_raises(name):
    with pytest.raises((RuntimeError, MemoryError, ValueError)) as e:
        SIZE_OVERFLOWS[name]()
    msg = str(e.value)
    assert "overflow" in msg or "more than" in msg or "too small" in msg, msg


def test_size_overflow_message_names_op_and_shape():
    with pytest.raises(RuntimeError, match=r"full: .*\[4611686018427387904\]"):
        dlcore.full((HUGE,), 1.0)
    with pytest.raises(RuntimeError, match=r"repeat: .*\[2199023255552, 2199023255552\]"):
        dlcore.ones(2, 2).repeat(2**40, 2**40)


def test_views_stay_inside_storage():
    x = dlcore.arange(10.0)
    assert x[:: 2**62].tolist() == [0.0]  # a step past the end keeps one element
    with pytest.raises(ValueError, match="reach past the storage"):
        dlcore.ones(2, 3).as_strided([3], [2], 5)
    with pytest.raises(RuntimeError, match="overflow"):
        dlcore.ones(4).as_strided([2**62, 4], [2**62, 1], 0)


def test_huge_stride_with_one_output_position_computes():
    y = F.conv1d(dlcore.ones(1, 2, 10), dlcore.ones(1, 2, 1), None, 2**62)
    assert y.tolist() == [[[2.0]]]
    y = F.conv3d(dlcore.ones(1, 1, 5, 5, 5), dlcore.ones(1, 1, 1, 1, 1), None, (2**63 - 1, 1, 1), 0,
                 (2**63 - 1, 1, 1))
    assert tuple(y.shape) == (1, 1, 1, 5, 5)


def test_pooling_with_huge_kernels_in_the_padding_finishes():
    # The window taps that lie in the padding are skipped in bulk, not one by one.
    x = dlcore.ones(3, 4)
    np.testing.assert_allclose(F.avg_pool1d(x, 2**62, 2**62, 1, True, True).numpy(), np.full((3, 1), 4 / 6), rtol=1e-6)
    y = F.max_pool1d(dlcore.ones(1, 1, 3), 2**62, 1, 2**61)
    assert y.tolist() == [[[1.0, 1.0, 1.0, 1.0]]]
    y = F.max_pool2d(dlcore.arange(9.0).reshape(1, 1, 3, 3), (2**40, 3), 1, (2**39, 1))
    assert tuple(y.shape) == (1, 1, 4, 3) and float(y.max()) == 8.0


# ---- zero-size operands and 0-d tensors ----------------------------------------------------------
@pytest.mark.parametrize("spatial", [1, 2, 3])
def test_conv_with_zero_input_channels_is_bias_and_zero_grads(spatial):
    conv = getattr(F, f"conv{spatial}d")
    x = dlcore.ones(2, 0, *([4] * spatial), requires_grad=True)
    w = dlcore.ones(3, 0, *([3] * spatial), requires_grad=True)
    b = dlcore.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = conv(x, w, b)
    assert tuple(y.shape) == (2, 3) + (2,) * spatial
    want = np.broadcast_to(np.array([1.0, 2.0, 3.0]).reshape((1, 3) + (1,) * spatial), y.shape)
    np.testing.assert_array_equal(y.detach().numpy(), want)
    y.sum().backward()
    assert tuple(x.grad.shape) == tuple(x.shape) and tuple(w.grad.shape) == tuple(w.shape)
    np.testing.assert_array_equal(b.grad.numpy(), np.full(3, 2 * 2**spatial, np.float32))


def test_conv_with_empty_batch_gives_zero_weight_grad():
    x = dlcore.ones(0, 3, 4, 4, requires_grad=True)
    w = dlcore.ones(2, 3, 3, 3, requires_grad=True)
    y = F.conv2d(x, w)
    assert tuple(y.shape) == (0, 2, 2, 2)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((2, 3, 3, 3), np.float32))


def test_conv_rejects_zero_size_kernel():
    with pytest.raises(ValueError, match="conv1d: kernel size must be positive"):
        F.conv1d(dlcore.ones(1, 1, 5), dlcore.ones(1, 1, 0))


@pytest.mark.parametrize("shapes", [
    ((1, 2, 3, 0), (1, 2, 3, 0), (1, 2, 3, 4)),  # head size 0: every score is 0
    ((1, 2, 3, 4), (1, 2, 0, 4), (1, 2, 0, 4)),  # no keys
    ((0, 2, 3, 4), (0, 2, 3, 4), (0, 2, 3, 4)),  # empty batch
    ((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 0)),  # empty values
])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_with_zero_sizes_matches_torch(shapes, causal):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ds = [dlcore.tensor(a).requires_grad_(True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    causal = causal and shapes[1][2] > 0
    got = F.scaled_dot_product_attention(*ds, is_causal=causal)
    want = torch.nn.functional.scaled_dot_product_attention(*ts, is_causal=causal)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6, atol=1e-6)
    got.sum().backward()
    want.sum().backward()
    for d, t in zip(ds, ts):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_zero_d_dimension_queries_raise():
    t = dlcore.tensor(1.0)
    with pytest.raises(IndexError, match="narrow"):
        t.narrow(0, 0, 1)
    with pytest.raises(IndexError, match="size"):
        t.size(0)
    with pytest.raises(IndexError, match="stride"):
        t.stride(0)


def test_chunk_with_huge_count():
    assert len(dlcore.zeros(4).chunk(2**63 - 1)) == 4
    assert len(dlcore.zeros(0).chunk(3)) == 3
    with pytest.raises(RuntimeError, match="chunk"):
        dlcore.zeros(0).chunk(2**63 - 1)


# ---- overlapping memory in in-place ops -----------------------------------------------------------
PARTIAL_OVERLAP = {
    "add_transpose": "A = L.arange(9.).reshape(3, 3); A.add_(A.t())",
    "add_shift": "x = L.arange(5.); x[1:].add_(x[:-1])",
    "mul_row": "a = L.ones(3, 3); a.mul_(a[0])",
}


@pytest.mark.parametrize("name", sorted(PARTIAL_OVERLAP))
def test_partial_overlap_raises_like_torch(name):
    for lib in (torch, dlcore):
        with pytest.raises(RuntimeError, match="single memory location"):
            exec(PARTIAL_OVERLAP[name], {"L": lib})


@pytest.mark.parametrize("op", ["mul_", "add_", "copy_"])
def test_writing_an_expanded_tensor_raises(op):
    x = dlcore.ones(3).expand(4, 3)
    arg = dlcore.ones(4, 3) if op == "copy_" else 2.0
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        getattr(x, op)(arg)
    assert dlcore.ones(3).tolist() == [1.0, 1.0, 1.0]


def test_fill_of_an_expanded_tensor_is_allowed():
    base = dlcore.ones(3)
    base.expand(4, 3).fill_(2.0)
    assert base.tolist() == [2.0, 2.0, 2.0]


OVERLAP_RESULTS = [
    # (dlcore/torch code, expected): the source read before any write
    ("A = L.arange(9.).reshape(3, 3); A.copy_(A.t()); out = A", np.arange(9.0).reshape(3, 3).T),
    ("x = L.arange(5.); x[1:].copy_(x[:-1]); out = x", [0.0, 0.0, 1.0, 2.0, 3.0]),
    ("x = L.arange(5.); x[1:] = x[:-1]; out = x", [0.0, 0.0, 1.0, 2.0, 3.0]),
    ("x = L.arange(5.); x.add_(x); out = x", [0.0, 2.0, 4.0, 6.0, 8.0]),
    # strided views over one range (too irregular to prove disjoint): the input is read first
    ("x = L.arange(10.); x[::2][1:].add_(x[::2][:-1]); out = x",
     [0.0, 1.0, 2.0, 3.0, 6.0, 5.0, 10.0, 7.0, 14.0, 9.0]),
    ("x = L.arange(10.); x[::2].add_(x[1::2]); out = x",
     [1.0, 1.0, 5.0, 3.0, 9.0, 5.0, 13.0, 7.0, 17.0, 9.0]),
    ("x = L.arange(6.); x[L.tensor([0, 1])] = x[1:3]; out = x", [1.0, 2.0, 2.0, 3.0, 4.0, 5.0]),
]


@pytest.mark.parametrize("code,expected", OVERLAP_RESULTS)
def test_overlapping_source_is_read_before_the_write(code, expected):
    ns = {"L": dlcore}
    exec(code, ns)
    np.testing.assert_array_equal(ns["out"].numpy(), np.asarray(expected, np.float32))


# ---- autograd through views and in-place writes ---------------------------------------------------
VIEW_CASES = [
    "x = L.ones(4, requires_grad=True); a = x * 1; v = a[:2]; a.mul_(2); v.sum().backward(); out = x.grad",
    "x = L.arange(4., requires_grad=True); a = x * 1; v = a[:2]; v.mul_(3); a.sum().backward(); out = x.grad",
    "x = L.arange(4., requires_grad=True); w = L.tensor([5., 7.], requires_grad=True); a = x * 1; "
    "v = a[1:3]; v.mul_(w); (a * a).sum().backward(); out = L.cat([x.grad, w.grad])",
    "x = L.arange(6., requires_grad=True); a = (x * 1).reshape(2, 3); v = a.t()[1]; "
    "v.copy_(L.tensor([9., 9.])); (a ** 2).sum().backward(); out = x.grad",
    "x = L.arange(6., requires_grad=True); a = (x * 1).reshape(2, 3); v = a[0]; v2 = a[:, 1]; "
    "v.add_(1); (v2 * v2).sum().backward(); out = x.grad",
    "w = L.tensor([2., 3.], requires_grad=True); a = L.zeros(4); v = a[1:3]; v.add_(w); "
    "(a * a).sum().backward(); out = w.grad",
    "x = L.ones(3, requires_grad=True); a = x * 1; e = a.expand(2, 3); a.mul_(2); e.sum().backward(); out = x.grad",
    "x = L.ones(4, requires_grad=True); a = x * 2; v = a[1:]; v[0] = x[0] * 5; a.sum().backward(); out = x.grad",
    "x = L.arange(4., requires_grad=True); a = x * 1; v = a[1:]; v.fill_(1.); (a * a).sum().backward(); out = x.grad",
]


@pytest.mark.parametrize("code", VIEW_CASES)
def test_view_and_inplace_gradients_match_torch(code):
    outs = []
    for lib in (dlcore, torch):
        ns = {"L": lib}
        exec(code, ns)
        outs.append(np.asarray(ns["out"].detach().numpy() if lib is torch else ns["out"].numpy()))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)


def test_view_of_view_inplace_chain_gradcheck():
    def f(x, w):
        a = x * 1
        v = a.reshape(3, 4).t()[1:3]  # (2, 3), not contiguous
        v.mul_(w)
        u = a[2:10:3]
        u.add_(x[:3].sin())
        z = a.reshape(2, 6)[1]
        z.mul_(3)
        z.copy_(z.detach() * 0 + x[:6])
        return (a * a).sum() + (v * 2).sum()

    x = dlcore.randn(12, dtype=dlcore.float64, requires_grad=True)
    w = dlcore.randn(2, 3, dtype=dlcore.float64, requires_grad=True)
    assert gradcheck(f, (x, w))


def test_leaf_reached_only_through_an_empty_tensor_gets_zero_grad():
    x = dlcore.ones(3, requires_grad=True)
    dlcore.cat([x[:0], dlcore.ones(2)]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3, np.float32))


def test_pow_gradient_of_an_integer_base_in_float64():
    x = dlcore.tensor(0.4266, dtype=dlcore.float64, requires_grad=True)
    (7 ** x).backward()
    t = torch.tensor(0.4266, dtype=torch.float64, requires_grad=True)
    (7 ** t).backward()
    np.testing.assert_allclose(float(x.grad), float(t.grad), rtol=1e-14)


def test_inplace_through_views_refused_where_torch_refuses():
    x = dlcore.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="view .* of a leaf tensor that requires grad"):
        x[:2].mul_(2)
    a = x * 2
    with dlcore.no_grad():
        v = a[:2]
    with pytest.raises(RuntimeError, match="made in no_grad mode"):
        v.mul_(2)
    with dlcore.no_grad():
        v.mul_(2)  # allowed without recording
    assert a.tolist() == [4.0, 4.0, 2.0, 2.0]


# ---- graphs, threads, processes -------------------------------------------------------------------
def test_freeing_a_deep_graph_does_not_overflow_the_stack():
    code, out = run_isolated("""
        import dlcore
        x = dlcore.ones(2, requires_grad=True)
        y = x
        for _ in range(150_000):
            y = y * 1.0
        del y
        v = dlcore.arange(300_000.0) * 1
        for _ in range(150_000):
            v = v[1:]
        del v
        print("freed")
    """, timeout=300)
    assert code == 0 and "freed" in out, out


def test_concurrent_backward_on_a_retained_graph_loses_nothing():
    x = dlcore.randn(1000, requires_grad=True)
    y = (x * 2).tanh().sum()
    n_threads, reps = 4, 30
    barrier = threading.Barrier(n_threads)
    errors = []

    def work():
        try:
            barrier.wait()
            for _ in range(reps):
                y.backward(retain_graph=True)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = x.grad.clone()
    x.grad = None
    y.backward(retain_graph=True)
    np.testing.assert_allclose(total.numpy(), x.grad.numpy() * n_threads * reps, rtol=1e-5)


def test_set_num_threads_is_bounded():
    before = dlcore.get_num_threads()
    with pytest.raises(ValueError, match="set_num_threads: 100000 threads is more than the limit"):
        dlcore.set_num_threads(100000)
    assert dlcore.get_num_threads() == before
    a = dlcore.randn(300, 300)
    assert float((a @ a).abs().sum()) > 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_after_a_parallel_op_runs_single_threaded_in_the_child():
    code, out = run_isolated("""
        import os, multiprocessing as mp
        import dlcore
        a = dlcore.randn(600, 600)
        (a @ a).sum()                       # starts the OpenMP workers
        pid = os.fork()
        if pid == 0:
            b = dlcore.randn(600, 600)
            ok = dlcore.get_num_threads() == 1 and float((b @ b).abs().sum()) > 0
            dlcore.set_num_threads(1)       # what data-loader workers call
            try:
                dlcore.set_num_threads(2)
                ok = False
            except RuntimeError:
                pass
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0, status

        def work(i):
            b = dlcore.randn(300, 300)
            return float((b @ b).abs().sum()) > 0

        with mp.get_context("fork").Pool(2) as pool:
            assert all(pool.map(work, range(4)))
        print("forked fine")
    """, timeout=120)
    assert code == 0 and "forked fine" in out, out
